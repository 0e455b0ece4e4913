// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Asks the running kernel which instructions its uprobes emulate, to check
 * x86_insn_emulated() against it (tests/integration/x86dec.sh).
 *
 * Each stub below starts with one instruction of interest. The kernel
 * single-steps a probed instruction it does not emulate out of line, in the
 * "[uprobes]" XOL page it maps into the process on first use
 * (kernel/events/uprobes.c xol_add_vma()); an emulated one never needs that
 * page. So after one call of a probed stub, "[uprobes]" in /proc/self/maps
 * says "single-stepped": no timing involved.
 *
 * usage: x86emu list      name, file offset, decoder's emulated and probeable
 *        x86emu run NAME  calls the stub once, prints "xol" or "no-xol"
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfbin.h"
#include "x86dec.h"

/* name, probed instruction bytes, then bytes that undo it and return */
#define STUB(name, insn, tail)                                                                 \
	__asm__(".text\n.p2align 4\n.globl x86emu_" #name "\n.type x86emu_" #name              \
		",@function\nx86emu_" #name ":\n.byte " insn "\n.byte " tail "\n");

STUB(nop1, "0x90", "0xc3")
STUB(nop2, "0x66,0x90", "0xc3")
STUB(nop3, "0x0f,0x1f,0x00", "0xc3")
STUB(nop4, "0x0f,0x1f,0x40,0x00", "0xc3")
STUB(nop5, "0x0f,0x1f,0x44,0x00,0x00", "0xc3")
STUB(nop6, "0x66,0x0f,0x1f,0x44,0x00,0x00", "0xc3")
STUB(nop7, "0x0f,0x1f,0x80,0x00,0x00,0x00,0x00", "0xc3")
STUB(nop8, "0x0f,0x1f,0x84,0x00,0x00,0x00,0x00,0x00", "0xc3")
STUB(nop9_66, "0x66,0x0f,0x1f,0x84,0x00,0x00,0x00,0x00,0x00", "0xc3")
STUB(nopl_sib, "0x0f,0x1f,0x04,0x00", "0xc3")
STUB(nopw_cs, "0x66,0x2e,0x0f,0x1f,0x84,0x00,0x00,0x00,0x00,0x00", "0xc3")
STUB(pause, "0xf3,0x90", "0xc3")
STUB(xchg_r8_rax, "0x41,0x90", "0x41,0x90,0xc3") /* xchg twice: no net effect */
STUB(push_rbp, "0x55", "0x5d,0xc3")
STUB(push_r12, "0x41,0x54", "0x41,0x5c,0xc3")
STUB(push_rexw, "0x48,0x55", "0x5d,0xc3")
STUB(jbe8, "0x76,0x00", "0xc3")
STUB(jbe32, "0x0f,0x86,0x00,0x00,0x00,0x00", "0xc3")
STUB(jmp8, "0xeb,0x00", "0xc3")
STUB(jmp32, "0xe9,0x00,0x00,0x00,0x00", "0xc3")
STUB(call32, "0xe8,0x00,0x00,0x00,0x00", "0x48,0x83,0xc4,0x08,0xc3") /* add rsp,8 */
STUB(jbe8_ds, "0x3e,0x76,0x00", "0xc3")
STUB(cmp_rsp, "0x48,0x39,0xe4", "0xc3")
STUB(cmp_stackguard, "0x49,0x3b,0x66,0x10", "0xc3") /* cmp rsp,[r14+0x10]: r14 = the stub's frame */
STUB(endbr64, "0xf3,0x0f,0x1e,0xfa", "0xc3")
STUB(test_rdi, "0x48,0x85,0xff", "0xc3")
STUB(ret, "0xc3", "")

#define STUBS(X)                                                                               \
	X(nop1) X(nop2) X(nop3) X(nop4) X(nop5) X(nop6) X(nop7) X(nop8) X(nop9_66) X(nopl_sib)  \
	X(nopw_cs) X(pause) X(xchg_r8_rax) X(push_rbp) X(push_r12) X(push_rexw) X(jbe8)         \
	X(jbe32) X(jmp8) X(jmp32) X(call32) X(jbe8_ds) X(cmp_rsp) X(cmp_stackguard) X(endbr64)  \
	X(test_rdi) X(ret)

#define DECL(n) void x86emu_##n(void);
STUBS(DECL)
#define ENTRY(n) { #n, x86emu_##n },
static const struct {
	const char *name;
	void (*fn)(void);
} stubs[] = { STUBS(ENTRY) };

/* The stub's address as linked: non-PIE or not, relative to the image base. */
static int list(void)
{
	struct elfbin *eb = elfbin__open("/proc/self/exe");
	uint64_t addr, size, off;
	struct x86_insn in;
	const uint8_t *p;
	char name[64];

	if (!eb)
		return 1;
	for (size_t i = 0; i < sizeof(stubs) / sizeof(stubs[0]); i++) {
		snprintf(name, sizeof(name), "x86emu_%s", stubs[i].name);
		if (elfbin__symbol(eb, name, &addr, &size) ||
		    elfbin__vaddr_to_off(eb, addr, &off) ||
		    !(p = elfbin__vaddr_ptr(eb, addr, 15)) || x86_decode(p, 15, addr, &in)) {
			fprintf(stderr, "x86emu: cannot find or decode %s\n", name);
			elfbin__free(eb);
			return 1;
		}
		printf("%s %#llx %d %d\n", stubs[i].name, (unsigned long long)off,
		       x86_insn_emulated(&in), x86_insn_probeable(&in));
	}
	elfbin__free(eb);
	return 0;
}

static bool has_xol_page(void)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[uprobes]\n"))
			found = true;
	if (f)
		fclose(f);
	return found;
}

static int run(const char *name)
{
	for (size_t i = 0; i < sizeof(stubs) / sizeof(stubs[0]); i++) {
		if (strcmp(stubs[i].name, name))
			continue;
		/* r14 must be readable for cmp_stackguard: point it at our stack; step
		 * over the red zone, which the call's push would overwrite */
		__asm__ volatile("sub $128, %%rsp\n\t"
				 "lea -64(%%rsp), %%r14\n\t"
				 "call *%0\n\t"
				 "add $128, %%rsp"
				 :
				 : "r"(stubs[i].fn)
				 : "r14", "rax", "memory", "cc");
		printf("%s\n", has_xol_page() ? "xol" : "no-xol");
		return 0;
	}
	fprintf(stderr, "x86emu: no stub '%s'\n", name);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list"))
		return list();
	if (argc == 3 && !strcmp(argv[1], "run"))
		return run(argv[2]);
	fprintf(stderr, "usage: %s list | run NAME\n", argv[0]);
	return 2;
}
