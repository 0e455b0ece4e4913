// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Probe-site choice on the prologue shapes of Go 1.19-1.26 (obj6.go
 * stacksplit(): small, big and huge frames; nosplit functions with and without
 * frame pointer setup) and of Debian's glibc (malloc, free), written out as
 * bytes, with the site objdump shows for them in the binaries they come from.
 * The same choice on real binaries is tests/integration/hooks.sh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hooks.h"
#include "test.h"

#define ENTRY 0x401000ull
#define RAX (1u << 0)
#define RCX (1u << 1)
#define RBX (1u << 3)
#define RSI (1u << 6)
#define RDI (1u << 7)

struct pcase {
	const char *what;
	uint8_t code[40];
	size_t len;
	uint32_t argmask;
	int err;	  /* 0, -ENOENT (fallback to entry) or -EINVAL */
	unsigned int off; /* site offset */
	bool may_repeat;
	int ra_sp_off;
	bool frame_set;
};

static const struct pcase cases[] = {
	{ "Go stack check: cmp rsp,[r14+0x10]; jbe",
	  { 0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0xf6, 0, 0, 0, 0x55, 0x48, 0x89, 0xe5 }, 14,
	  RAX | RBX | RCX, 0, 4, true, 0, false },
	{ "Go big frame: lea r12,[rsp-0xf0]; cmp r12,[r14+0x10]; jbe",
	  { 0x4c, 0x8d, 0xa4, 0x24, 0x10, 0xff, 0xff, 0xff, 0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86,
	    0x10, 0, 0, 0 },
	  18, RAX | RBX, 0, 12, true, 0, false },
	{ "Go huge frame: mov r12,rsp; sub r12,N; jb; cmp r12,[r14+0x10]; jbe",
	  { 0x49, 0x89, 0xe4, 0x49, 0x81, 0xec, 0x00, 0x10, 0, 0, 0x0f, 0x82, 0x10, 0, 0, 0,
	    0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x10, 0, 0, 0 },
	  26, RAX | RBX, 0, 10, true, 0, false },
	{ "Go 1.21+ nosplit with frame: push rbp at +0", { 0x55, 0x48, 0x89, 0xe5, 0x48, 0x8b, 0x08 },
	  7, RAX, 0, 0, false, 0, false },
	{ "Go <=1.20 nosplit frame: sub rsp; mov [rsp],rbp; lea rbp; mov rcx,[rax]; test; je",
	  { 0x48, 0x83, 0xec, 0x18, 0x48, 0x89, 0x6c, 0x24, 0x10, 0x48, 0x8d, 0x6c, 0x24, 0x10,
	    0x48, 0x8b, 0x08, 0x48, 0x85, 0xc9, 0x74, 0x05 },
	  22, RAX | RBX, 0, 20, false, 0x18, true },
	{ "same, but rcx is an argument: overwritten first, entry fallback",
	  { 0x48, 0x83, 0xec, 0x18, 0x48, 0x89, 0x6c, 0x24, 0x10, 0x48, 0x8d, 0x6c, 0x24, 0x10,
	    0x48, 0x8b, 0x08, 0x48, 0x85, 0xc9, 0x74, 0x05 },
	  22, RAX | RCX, -ENOENT, 0, false, 0, false },
	{ "glibc free: test rdi,rdi; je (Debian libc6 2.36)",
	  { 0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0, 0, 0, 0x55 }, 10, RDI, 0, 3, false, 0, false },
	{ "glibc malloc: push r12 at +0", { 0x41, 0x54, 0x55, 0x53, 0x48, 0x89, 0xfb }, 7, RDI, 0, 0,
	  false, 0, false },
	{ "endbr64 then push rbp", { 0xf3, 0x0f, 0x1e, 0xfa, 0x55 }, 5, RDI, 0, 4, false, 0, false },
	{ "sub rsp,8; test rdi,rdi; je: return address at [rsp+8]",
	  { 0x48, 0x83, 0xec, 0x08, 0x48, 0x85, 0xff, 0x74, 0x00 }, 9, RDI, 0, 7, false, 8, false },
	{ "rex.W push (48 55) is single-stepped: next instruction",
	  { 0x48, 0x55, 0x48, 0x85, 0xff, 0x74, 0x00 }, 7, RDI, 0, 5, false, 8, false },
	{ "mov rbx,rdi clobbers rbx before the branch",
	  { 0x48, 0x89, 0xfb, 0x48, 0x85, 0xdb, 0x74, 0x00 }, 8, RBX, -ENOENT, 0, false, 0, false },
	{ "mov rbx,rdi is fine when rbx is not an argument",
	  { 0x48, 0x89, 0xfb, 0x48, 0x85, 0xdb, 0x74, 0x00 }, 8, RDI, 0, 6, false, 0, false },
	{ "VEX first (effects not modelled): entry fallback", { 0xc5, 0xf8, 0x77, 0x55 }, 4, RDI,
	  -ENOENT, 0, false, 0, false },
	{ "ret first: entry fallback", { 0xc3 }, 1, 0, -ENOENT, 0, false, 0, false },
	{ "indirect jump first: entry fallback", { 0xff, 0xe0, 0x55 }, 3, 0, -ENOENT, 0, false, 0,
	  false },
	{ "undecodable entry", { 0x06 }, 1, 0, -EINVAL, 0, false, 0, false },
	{ "truncated function", { 0x49, 0x3b, 0x66 }, 3, 0, -EINVAL, 0, false, 0, false },
	{ "9-byte nop (not an x86_nops pattern) then jbe",
	  { 0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0, 0x76, 0x00 }, 11, RAX, 0, 9, false, 0, false },
};

static void test_pick(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];
		struct probe_site site;
		const char *why = NULL;
		int err;

		memset(&site, 0xa5, sizeof(site));
		err = probe_site_pick(c->code, c->len, ENTRY, c->argmask, &site, &why);
		if (c->err == -EINVAL) {
			CHECK(err == -EINVAL, "%s: -EINVAL (got %d)", c->what, err);
			continue;
		}
		CHECK(err == c->err && site.addr == ENTRY + c->off && site.insn.addr == site.addr &&
			      site.emulated == (err == 0) && site.may_repeat == c->may_repeat &&
			      site.ra_sp_off == c->ra_sp_off && site.frame_set == c->frame_set,
		      "%s: err %d site +%#llx emulated %d repeat %d ra@rsp+%d frame %d%s%s", c->what,
		      err, (unsigned long long)(site.addr - ENTRY), site.emulated, site.may_repeat,
		      site.ra_sp_off, site.frame_set, err ? "; " : "", err ? why : "");
	}
}

static void test_regs_mask(void)
{
	CHECK(regs_mask("rax=mp rbx=x rcx=size") == (RAX | RBX | RCX), "regs rax rbx rcx");
	CHECK(regs_mask("rax=fn rbx=callergp rcx=callerpc dil=parked sil=waitreason") ==
		      (RAX | RBX | RCX | RDI | RSI),
	      "regs with byte registers dil, sil");
	CHECK(regs_mask("eax=stacksize") == RAX, "regs eax");
	CHECK(regs_mask("al=stw.reason rbx=stw.start") == (RAX | RBX), "regs al");
	CHECK(regs_mask("r8=a r11d=b") == ((1u << 8) | (1u << 11)), "regs r8, r11d");
	CHECK(regs_mask("") == 0 && regs_mask(NULL) == 0, "no regs");
	CHECK(regs_mask("rax") == 0 && regs_mask("foo=1") == 0, "malformed regs ignored");
}

/* Random code: never a site outside the function or inside an instruction. */
static void test_pick_random(void)
{
	unsigned long found = 0, fallback = 0, refused = 0, bad = 0;
	uint8_t code[64];

	srand(4242);
	for (int i = 0; i < 200000; i++) {
		size_t len = 1 + rand() % sizeof(code);
		struct probe_site site;
		const char *why;
		struct x86_insn in;
		int err;

		for (size_t k = 0; k < sizeof(code); k++)
			code[k] = rand();
		err = probe_site_pick(code, len, ENTRY, rand() & 0xffff, &site, &why);
		if (err == -EINVAL) {
			refused++;
			continue;
		}
		err ? fallback++ : found++;
		if (site.addr < ENTRY || site.addr + site.insn.len > ENTRY + len ||
		    x86_decode(code + (site.addr - ENTRY), len - (site.addr - ENTRY), site.addr,
			       &in) ||
		    in.len != site.insn.len || (!err && !x86_insn_emulated(&in)))
			bad++;
	}
	CHECK(bad == 0 && found > 0 && fallback > 0,
	      "random code: %lu sites, %lu entry fallbacks, %lu refused, %lu bad", found, fallback,
	      refused, bad);
}

int main(void)
{
	test_pick();
	test_pick_random();
	test_regs_mask();
	CHECK(!strcmp(hook_name(HOOK_NEWG_VISIBLE), "newg_visible") &&
		      !strcmp(hook_name(HOOK__COUNT), "?"),
	      "hook names");
	TEST_EXIT();
}
