/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_X86DEC_H
#define LEAKHOUND_X86DEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * x86-64 instruction length decoder, with just enough meaning to place uprobes
 * (what the kernel emulates), follow direct branches and find RIP-relative data
 * references. Never guesses: an encoding it does not know is an error.
 *
 * Covers what the Go compiler and assembler, gcc and glibc emit: legacy
 * prefixes, REX, the one-byte, 0F, 0F38 and 0F3A maps, VEX (C4/C5) and EVEX (62)
 * maps 1-3 (EVEX also 5 and 6), ModRM/SIB/displacement and every immediate form
 * (66 and REX.W variants of imm16/32/64, A0-A3 moffs). Not covered, -EINVAL:
 * XOP, 3DNow!, APX (REX2, EVEX map 4), AMD SSE4a EXTRQ/INSERTQ, branches with a
 * 66 prefix (Intel and AMD disagree on their length) and REX followed by a
 * legacy prefix.
 */
enum x86_kind {
	X86_OTHER,
	X86_NOP,
	X86_PUSH,	/* push r64 (50+r) */
	X86_CALL,	/* E8 rel32 */
	X86_JMP,	/* E9 rel32, EB rel8 */
	X86_JCC,	/* 7x rel8, 0F 8x rel32 */
	X86_RET,	/* C3, C2 iw */
	X86_CALL_IND,
	X86_JMP_IND,
	X86_INT3,
};

/* Legacy prefixes seen, x86_insn.prefixes. */
enum x86_prefix {
	X86_PFX_OPSIZE = 1 << 0,	/* 66 */
	X86_PFX_ADSIZE = 1 << 1,	/* 67 */
	X86_PFX_LOCK = 1 << 2,		/* F0 */
	X86_PFX_REPNE = 1 << 3,		/* F2 */
	X86_PFX_REP = 1 << 4,		/* F3 */
	X86_PFX_SEG_OLD = 1 << 5,	/* 26 2E 36 3E: ES CS SS DS (hints in 64-bit mode) */
	X86_PFX_SEG_FSGS = 1 << 6,	/* 64 65 */
};

/* How the opcode was encoded, x86_insn.enc. */
enum x86_enc {
	X86_ENC_LEGACY,
	X86_ENC_VEX2,	/* C5 */
	X86_ENC_VEX3,	/* C4 */
	X86_ENC_EVEX,	/* 62 */
};

struct x86_insn {
	uint64_t addr;
	uint8_t len;
	uint8_t bytes[15];
	enum x86_kind kind;
	uint8_t opcode;		/* last opcode byte (after 0F / 0F38 / 0F3A escapes) */
	uint8_t opmap;		/* 0: one-byte map, 1: 0F, 2: 0F38, 3: 0F3A (VEX/EVEX: their map) */
	uint8_t rex;		/* 0 when absent */
	bool has_modrm;
	uint8_t modrm;
	bool rip_rel;		/* ModRM mod=00 rm=101 */
	int64_t target;		/* branch target or RIP-relative address, when known */
	/* Details for callers that look deeper (uprobe placement, data flow). */
	uint8_t enc;		/* enum x86_enc */
	uint8_t prefixes;	/* enum x86_prefix bits */
	uint8_t npfx;		/* legacy prefix bytes before REX/opcode */
	uint8_t disp_len;	/* 0, 1 or 4 */
	uint8_t imm_len;	/* immediate bytes (rel8/rel32 included) */
	int64_t imm;		/* sign-extended immediate (first one for ENTER) */
};

/* Decodes one instruction at p (n bytes available) located at addr.
 * -EINVAL if unknown or truncated. */
int x86_decode(const uint8_t *p, size_t n, uint64_t addr, struct x86_insn *insn);
/* Whether the kernel's uprobe code emulates it (no single-step trap):
 * nop, push, call/jmp/jcc rel. */
bool x86_insn_emulated(const struct x86_insn *insn);
/*
 * Whether the kernel accepts a uprobe on it at all (arch_uprobe_analyze_insn():
 * no ES/CS/SS/DS/LOCK prefix, opcode in its good-instruction tables, no 66 on a
 * relative branch). A probe on an instruction it refuses fails to attach.
 */
bool x86_insn_probeable(const struct x86_insn *insn);
/* Short human form for reports: "jbe 0x4123a0", "push rbp", "cmp [0x5a1234]", "mov". */
void x86_insn_format(const struct x86_insn *insn, char *buf, size_t size);
/* Register name of a 64-bit GPR number (0 = rax ... 15 = r15), "?" otherwise. */
const char *x86_reg64_name(unsigned int reg);

#endif
