// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Hand cases for the x86-64 decoder: lengths from the Intel SDM encoding
 * tables (and as GNU objdump 2.40 decodes them), the kernel's emulation rules,
 * and robustness on truncated and random input. The whole-binary comparison
 * with objdump is tests/integration/x86dec.sh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "x86dec.h"

struct lcase {
	const char *what;
	uint8_t bytes[16];
	size_t n;
	int len; /* expected length, or -EINVAL */
};

#define LC(what, len, ...)                                                                   \
	{ what, { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }), len }

static const struct lcase len_cases[] = {
	/* Go prologues */
	LC("cmp rsp,[r14+0x10]", 4, 0x49, 0x3b, 0x66, 0x10),
	LC("jbe rel32", 6, 0x0f, 0x86, 0xf6, 0x00, 0x00, 0x00),
	LC("jbe rel8", 2, 0x76, 0x18),
	LC("lea r12,[rsp-0xf0]", 8, 0x4c, 0x8d, 0xa4, 0x24, 0x10, 0xff, 0xff, 0xff),
	LC("push rbp", 1, 0x55),
	LC("mov rbp,rsp", 3, 0x48, 0x89, 0xe5),
	LC("sub rsp,0x238", 7, 0x48, 0x81, 0xec, 0x38, 0x02, 0x00, 0x00),
	LC("sub rsp,0x20", 4, 0x48, 0x83, 0xec, 0x20),
	LC("call rel32", 5, 0xe8, 0x00, 0x00, 0x00, 0x00),
	LC("int3", 1, 0xcc),
	LC("ret", 1, 0xc3),
	LC("ret 8", 3, 0xc2, 0x08, 0x00),
	/* immediates: 66 and REX.W */
	LC("mov eax,imm32", 5, 0xb8, 1, 2, 3, 4),
	LC("mov ax,imm16", 4, 0x66, 0xb8, 1, 2),
	LC("movabs rax,imm64", 10, 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8),
	LC("66 REX.W mov: REX.W wins, imm64", 11, 0x66, 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8),
	LC("mov qword [rax],imm32 (REX.W C7)", 7, 0x48, 0xc7, 0x00, 1, 2, 3, 4),
	LC("mov word [rax],imm16 (66 C7)", 5, 0x66, 0xc7, 0x00, 1, 2),
	LC("add ax,imm16 (66 05)", 4, 0x66, 0x05, 1, 2),
	LC("add rax,imm32 (48 05)", 6, 0x48, 0x05, 1, 2, 3, 4),
	LC("push imm32", 5, 0x68, 1, 2, 3, 4),
	LC("push imm16 (66 68)", 4, 0x66, 0x68, 1, 2),
	LC("imul eax,[rax],imm32", 6, 0x69, 0x00, 1, 2, 3, 4),
	LC("enter 8,0", 4, 0xc8, 0x08, 0x00, 0x00),
	LC("test byte [rax],imm8 (F6 /0)", 3, 0xf6, 0x00, 0x01),
	LC("test dword [rax],imm32 (F7 /0)", 6, 0xf7, 0x00, 1, 2, 3, 4),
	LC("not dword [rax] (F7 /2, no imm)", 2, 0xf7, 0x10),
	LC("neg rax (48 F7 D8)", 3, 0x48, 0xf7, 0xd8),
	/* moffs */
	LC("movabs al,[moffs64]", 9, 0xa0, 1, 2, 3, 4, 5, 6, 7, 8),
	LC("movabs rax,[moffs64]", 10, 0x48, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8),
	LC("mov eax,[moffs32] (67 A1)", 6, 0x67, 0xa1, 1, 2, 3, 4),
	LC("mov fs:[moffs64],eax (64 A3)", 10, 0x64, 0xa3, 1, 2, 3, 4, 5, 6, 7, 8),
	/* ModRM / SIB / displacement */
	LC("mov rax,[rip+disp32]", 7, 0x48, 0x8b, 0x05, 1, 2, 3, 4),
	LC("mov rax,[disp32] (SIB no base)", 8, 0x48, 0x8b, 0x04, 0x25, 1, 2, 3, 4),
	LC("mov rax,[rbp+0] (mod 01)", 4, 0x48, 0x8b, 0x45, 0x00),
	LC("mov rax,[r13+0] (mod 01)", 4, 0x49, 0x8b, 0x45, 0x00),
	LC("mov rax,[rsp+rbx*8+disp32]", 8, 0x48, 0x8b, 0x84, 0xdc, 1, 2, 3, 4),
	LC("cmp dword [rip+d],imm8", 7, 0x83, 0x3d, 1, 2, 3, 4, 0x02),
	LC("cmp byte [rip+d],imm8", 7, 0x80, 0x3d, 1, 2, 3, 4, 0x00),
	LC("mov dword [rip+d],imm32", 10, 0xc7, 0x05, 1, 2, 3, 4, 5, 6, 7, 8),
	LC("addr32 lea eax,[eax+eax]", 4, 0x67, 0x8d, 0x04, 0x00),
	/* NOPs */
	LC("nop", 1, 0x90),
	LC("xchg ax,ax", 2, 0x66, 0x90),
	LC("nopl [rax]", 3, 0x0f, 0x1f, 0x00),
	LC("nopw cs:[rax+rax+0]", 10, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0),
	LC("data16 x6 cs nopw (15 bytes)", 15, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x2e, 0x0f,
	   0x1f, 0x84, 0, 0, 0, 0, 0),
	LC("16 bytes is over the limit", -EINVAL, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x2e,
	   0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0),
	LC("endbr64", 4, 0xf3, 0x0f, 0x1e, 0xfa),
	LC("pause", 2, 0xf3, 0x90),
	/* two- and three-byte maps */
	LC("movzx eax,byte [rax]", 3, 0x0f, 0xb6, 0x00),
	LC("pshufd xmm0,xmm1,imm8", 5, 0x66, 0x0f, 0x70, 0xc1, 0x1b),
	LC("bt eax,imm8 (0F BA)", 4, 0x0f, 0xba, 0xe0, 0x05),
	LC("shld eax,ebx,imm8", 4, 0x0f, 0xa4, 0xd8, 0x04),
	LC("pshufb xmm0,xmm1 (0F 38)", 5, 0x66, 0x0f, 0x38, 0x00, 0xc1),
	LC("palignr xmm0,xmm1,imm8 (0F 3A)", 6, 0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x08),
	LC("crc32 eax,byte [rax]", 5, 0xf2, 0x0f, 0x38, 0xf0, 0x00),
	LC("syscall", 2, 0x0f, 0x05),
	LC("rdtsc", 2, 0x0f, 0x31),
	LC("cpuid", 2, 0x0f, 0xa2),
	LC("bswap rax", 3, 0x48, 0x0f, 0xc8),
	LC("lock cmpxchg [rcx],rdx", 5, 0xf0, 0x48, 0x0f, 0xb1, 0x11),
	LC("xgetbv (0F 01 D0)", 3, 0x0f, 0x01, 0xd0),
	LC("jne rel32", 6, 0x0f, 0x85, 1, 2, 3, 4),
	/* VEX and EVEX */
	LC("vzeroupper (VEX2 77, no ModRM)", 3, 0xc5, 0xf8, 0x77),
	LC("vmovdqu ymm0,[rsi] (VEX2)", 4, 0xc5, 0xfe, 0x6f, 0x06),
	LC("vmovdqu ymm8,[r14+disp8] (VEX3)", 6, 0xc4, 0x41, 0x7e, 0x6f, 0x46, 0x20),
	LC("vpalignr (VEX3 map 3 + imm8)", 6, 0xc4, 0xe3, 0x7d, 0x0f, 0xc1, 0x08),
	LC("vpshufd (VEX map 1 70 + imm8)", 5, 0xc5, 0xfd, 0x70, 0xc1, 0x1b),
	LC("vpbroadcastb ymm0,xmm0 (VEX3 map 2)", 5, 0xc4, 0xe2, 0x7d, 0x78, 0xc0),
	LC("vmovdqu64 zmm16,[rsi] (EVEX)", 6, 0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06),
	LC("vmovdqu64 zmm16,[rsi+disp8*64] (EVEX)", 7, 0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x46, 0x01),
	LC("vpternlogd (EVEX map 3 + imm8)", 7, 0x62, 0xf3, 0x75, 0x48, 0x25, 0xc2, 0x96),
	LC("vpcmpub k1,zmm0,[rip+d],imm8 (EVEX)", 11, 0x62, 0xf3, 0x7d, 0x48, 0x3e, 0x0d, 1, 2,
	   3, 4, 0x04),
	/* refused: invalid in 64-bit mode or ambiguous */
	LC("push es (06)", -EINVAL, 0x06),
	LC("aam (D4)", -EINVAL, 0xd4, 0x0a),
	LC("3DNow! (0F 0F)", -EINVAL, 0x0f, 0x0f, 0xc1, 0x9e),
	LC("callw rel16 (66 E8)", -EINVAL, 0x66, 0xe8, 0x00, 0x00),
	LC("jmpw rel16 (66 E9)", -EINVAL, 0x66, 0xe9, 0x00, 0x00),
	LC("66 jne rel32", -EINVAL, 0x66, 0x0f, 0x85, 1, 2, 3, 4),
	LC("REX before a legacy prefix", -EINVAL, 0x48, 0x66, 0x90),
	LC("two REX", -EINVAL, 0x48, 0x48, 0x90),
	LC("XOP (8F, reg != 0)", -EINVAL, 0x8f, 0xe8, 0x78, 0xc2, 0xc1, 0x04),
	LC("FF /7", -EINVAL, 0xff, 0xf8),
	LC("C7 /1", -EINVAL, 0xc7, 0xc8, 1, 2, 3, 4),
	LC("VEX after 66", -EINVAL, 0x66, 0xc5, 0xf8, 0x77),
	LC("EVEX with P1 bit 2 clear", -EINVAL, 0x62, 0xe1, 0xfa, 0x48, 0x6f, 0x06),
	LC("VEX map 7", -EINVAL, 0xc4, 0xe7, 0x78, 0xf8, 0xc0),
	LC("66 0F 78 (SSE4a extrq)", -EINVAL, 0x66, 0x0f, 0x78, 0xc0, 1, 2),
	/* truncated */
	LC("truncated call", -EINVAL, 0xe8, 0x00, 0x00, 0x00),
	LC("truncated modrm", -EINVAL, 0x48, 0x8b),
	LC("truncated SIB", -EINVAL, 0x48, 0x8b, 0x04),
	LC("truncated disp", -EINVAL, 0x48, 0x8b, 0x05, 1, 2, 3),
	LC("prefixes only", -EINVAL, 0x66, 0x66),
};

static void test_lengths(void)
{
	for (size_t i = 0; i < sizeof(len_cases) / sizeof(len_cases[0]); i++) {
		const struct lcase *c = &len_cases[i];
		struct x86_insn in;
		int err = x86_decode(c->bytes, c->n, 0x1000, &in);
		int got = err ? err : in.len;

		CHECK(got == c->len, "length %s: %d (want %d)", c->what, got, c->len);
	}
}

static void test_targets(void)
{
	struct x86_insn in;
	/* 0x1000: jbe -0x10 (rel8) -> 0x1002 - 0x10 */
	static const uint8_t jbe8[] = { 0x76, 0xf0 };
	static const uint8_t call[] = { 0xe8, 0xfb, 0xff, 0xff, 0xff };
	static const uint8_t rip_imm[] = { 0x83, 0x3d, 0x10, 0x00, 0x00, 0x00, 0x02 };
	static const uint8_t lea[] = { 0x48, 0x8d, 0x0d, 0x59, 0x00, 0x00, 0x00 };
	static const uint8_t xbegin[] = { 0xc7, 0xf8, 0x10, 0x00, 0x00, 0x00 };

	CHECK(!x86_decode(jbe8, sizeof(jbe8), 0x1000, &in) && in.kind == X86_JCC &&
		      in.target == 0x1002 - 0x10,
	      "jbe rel8 target %#llx", (unsigned long long)in.target);
	CHECK(!x86_decode(call, sizeof(call), 0x1000, &in) && in.kind == X86_CALL &&
		      in.target == 0x1000,
	      "call to itself: target %#llx", (unsigned long long)in.target);
	/* RIP-relative is from the end of the instruction, after the immediate */
	CHECK(!x86_decode(rip_imm, sizeof(rip_imm), 0x1000, &in) && in.rip_rel &&
		      in.target == 0x1007 + 0x10,
	      "cmp [rip+0x10],imm8 target %#llx", (unsigned long long)in.target);
	CHECK(!x86_decode(lea, sizeof(lea), 0x43d320, &in) && in.rip_rel && in.target == 0x43d380,
	      "lea rcx,[rip+0x59] at 0x43d320 -> 0x43d380 (objdump)");
	CHECK(!x86_decode(xbegin, sizeof(xbegin), 0x1000, &in) && in.kind == X86_OTHER &&
		      in.target == 0x1016,
	      "xbegin target %#llx", (unsigned long long)in.target);
}

struct ecase {
	const char *what;
	uint8_t bytes[12];
	size_t n;
	bool emulated;
	bool probeable;
};

#define EC(what, emu, probe, ...)                                                            \
	{ what, { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }), emu, probe }

/* Measured on Linux 6.18 (tests/integration/x86dec.sh checks them on the running kernel). */
static const struct ecase emu_cases[] = {
	EC("nop", true, true, 0x90),
	EC("xchg ax,ax", true, true, 0x66, 0x90),
	EC("nopl [rax]", true, true, 0x0f, 0x1f, 0x00),
	EC("nopl [rax+0]", true, true, 0x0f, 0x1f, 0x40, 0x00),
	EC("nopl [rax+rax+0]", true, true, 0x0f, 0x1f, 0x44, 0x00, 0x00),
	EC("nopw [rax+rax+0]", true, true, 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00),
	EC("nopl [rax+0] disp32", true, true, 0x0f, 0x1f, 0x80, 0, 0, 0, 0),
	EC("nopl [rax+rax+0] disp32", true, true, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0),
	EC("nopw [rax+rax+0] disp32: not an x86_nops pattern", false, true, 0x66, 0x0f, 0x1f,
	   0x84, 0, 0, 0, 0, 0),
	EC("nopl [rax+rax]: not an x86_nops pattern", false, true, 0x0f, 0x1f, 0x04, 0x00),
	EC("nopw cs:...: CS prefix refused", false, false, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0,
	   0, 0),
	EC("pause", true, true, 0xf3, 0x90),
	EC("xchg r8,rax (REX.B 90): never offered", false, true, 0x41, 0x90),
	EC("push rbp", true, true, 0x55),
	EC("push r12", true, true, 0x41, 0x54),
	EC("rex.W push rbp", false, true, 0x48, 0x55),
	EC("jbe rel8", true, true, 0x76, 0x00),
	EC("jbe rel32", true, true, 0x0f, 0x86, 0, 0, 0, 0),
	EC("jmp rel8", true, true, 0xeb, 0x00),
	EC("jmp rel32", true, true, 0xe9, 0, 0, 0, 0),
	EC("call rel32", true, true, 0xe8, 0, 0, 0, 0),
	EC("ds jbe (branch hint): DS prefix refused", false, false, 0x3e, 0x76, 0x00),
	EC("66 jbe rel8: refused", false, false, 0x66, 0x76, 0x00),
	EC("bnd jmp", true, true, 0xf2, 0xe9, 0, 0, 0, 0),
	EC("cmp rsp,[r14+0x10]", false, true, 0x49, 0x3b, 0x66, 0x10),
	EC("lea r12,[rsp-0xf0]", false, true, 0x4c, 0x8d, 0xa4, 0x24, 0x10, 0xff, 0xff, 0xff),
	EC("endbr64", false, true, 0xf3, 0x0f, 0x1e, 0xfa),
	EC("ret", false, true, 0xc3),
	EC("call [rax]", false, true, 0xff, 0x10),
	EC("int3", false, false, 0xcc),
	EC("syscall (0F: first byte good)", false, true, 0x0f, 0x05),
	EC("lock add", false, false, 0xf0, 0x48, 0x01, 0x08),
	EC("mov ss,ax", false, false, 0x8e, 0xd0),
};

static void test_emulation(void)
{
	for (size_t i = 0; i < sizeof(emu_cases) / sizeof(emu_cases[0]); i++) {
		const struct ecase *c = &emu_cases[i];
		struct x86_insn in;
		int err = x86_decode(c->bytes, c->n, 0x1000, &in);

		CHECK(!err && in.len == c->n && x86_insn_emulated(&in) == c->emulated &&
			      x86_insn_probeable(&in) == c->probeable,
		      "kernel rules %s: emulated %d probeable %d", c->what,
		      !err && x86_insn_emulated(&in), !err && x86_insn_probeable(&in));
	}
}

static void test_kinds_and_format(void)
{
	static const struct {
		uint8_t bytes[8];
		size_t n;
		enum x86_kind kind;
		const char *text;
	} cases[] = {
		{ { 0x0f, 0x86, 0xf6, 0x00, 0x00, 0x00 }, 6, X86_JCC, "jbe 0x10fc" },
		{ { 0x55 }, 1, X86_PUSH, "push rbp" },
		{ { 0x41, 0x54 }, 2, X86_PUSH, "push r12" },
		{ { 0x41, 0x5f }, 2, X86_OTHER, "pop r15" },
		{ { 0xe8, 0, 0, 0, 0 }, 5, X86_CALL, "call 0x1005" },
		{ { 0xc3 }, 1, X86_RET, "ret" },
		{ { 0xff, 0xd0 }, 2, X86_CALL_IND, "call" },
		{ { 0xff, 0xe0 }, 2, X86_JMP_IND, "jmp" },
		{ { 0x49, 0x3b, 0x66, 0x10 }, 4, X86_OTHER, "cmp" },
		{ { 0x8b, 0x05, 0x10, 0, 0, 0 }, 6, X86_OTHER, "mov [0x1016]" },
		{ { 0x0f, 0x1f, 0x44, 0, 0 }, 5, X86_NOP, "nop" },
		{ { 0x48, 0xb8, 1, 2, 3, 4, 5, 6 }, 8, X86_OTHER, NULL }, /* truncated */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct x86_insn in;
		char buf[64] = "";
		int err = x86_decode(cases[i].bytes, cases[i].n, 0x1000, &in);

		if (!cases[i].text) {
			CHECK(err == -EINVAL, "case %zu refused", i);
			continue;
		}
		if (!err)
			x86_insn_format(&in, buf, sizeof(buf));
		CHECK(!err && in.kind == cases[i].kind && !strcmp(buf, cases[i].text),
		      "kind/format case %zu: '%s' (want '%s')", i, buf, cases[i].text);
	}
}

/* Random input: never reads past n, never longer than 15, exact at its own length. */
static void test_random(void)
{
	unsigned long ok = 0, bad = 0, inconsistent = 0;
	uint8_t buf[32];

	srand(12345);
	for (int i = 0; i < 1000000; i++) {
		size_t n = 1 + rand() % 15;
		struct x86_insn in, again;

		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = rand();
		if (x86_decode(buf, n, 0x400000, &in)) {
			bad++;
			continue;
		}
		ok++;
		if (in.len > n || in.len == 0 || x86_decode(buf, in.len, 0x400000, &again) ||
		    again.len != in.len || (in.len > 1 && !x86_decode(buf, in.len - 1, 0, &again)))
			inconsistent++;
	}
	CHECK(inconsistent == 0 && ok > 0 && bad > 0,
	      "random: %lu decoded, %lu refused, %lu inconsistent", ok, bad, inconsistent);
	CHECK(x86_decode(NULL, 4, 0, &(struct x86_insn){ 0 }) == -EINVAL, "NULL input refused");
}

int main(void)
{
	test_lengths();
	test_targets();
	test_emulation();
	test_kinds_and_format();
	test_random();
	TEST_EXIT();
}
