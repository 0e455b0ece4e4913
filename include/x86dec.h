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

struct x86_insn {
	uint64_t addr;
	uint8_t len;
	uint8_t bytes[15];
	enum x86_kind kind;
	uint8_t opcode;		/* last opcode byte (after 0F / 0F38 / 0F3A escapes) */
	uint8_t opmap;		/* 0: one-byte map, 1: 0F, 2: 0F38, 3: 0F3A */
	uint8_t rex;		/* 0 when absent */
	bool has_modrm;
	uint8_t modrm;
	bool rip_rel;		/* ModRM mod=00 rm=101 */
	int64_t target;		/* branch target or RIP-relative address, when known */
};

/* Decodes one instruction at p (n bytes available) located at addr. -EINVAL if unknown or truncated. */
int x86_decode(const uint8_t *p, size_t n, uint64_t addr, struct x86_insn *insn);
/* Whether the kernel's uprobe code emulates it (no single-step trap): nop, push, call/jmp/jcc rel. */
bool x86_insn_emulated(const struct x86_insn *insn);
/* Short human form for reports: "jbe 0x4123a0", "push rbp", "cmp (16 bytes...)". */
void x86_insn_format(const struct x86_insn *insn, char *buf, size_t size);

#endif
