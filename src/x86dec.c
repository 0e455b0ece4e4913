// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * x86-64 instruction length decoder (Intel SDM vol. 2, ch. 2 and appendix A;
 * AMD APM vol. 3 for the 64-bit-mode invalid opcodes). Exact on the encodings
 * the Go toolchain, gcc and glibc emit; anything else is -EINVAL, never a guess:
 * a uprobe placed one byte into an instruction corrupts the target.
 *
 * What the kernel emulates is read from arch/x86/kernel/uprobes.c (Linux 6.18)
 * and checked on this kernel (tests/integration/x86dec.sh): see x86_insn_emulated().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "x86dec.h"

#define X86_MAX_LEN 15

/* Operand shape flags of an opcode. */
enum {
	F_M = 1 << 0,	   /* ModRM (and maybe SIB/displacement) follows */
	F_I8 = 1 << 1,	   /* imm8 */
	F_I16 = 1 << 2,	   /* imm16 */
	F_IZ = 1 << 3,	   /* imm16 with 66 (no REX.W), else imm32 */
	F_IV = 1 << 4,	   /* imm16/32/64: B8+r (REX.W -> 64, 66 -> 16) */
	F_MOFFS = 1 << 5,  /* A0-A3: 8-byte address, 4 with 67 */
	F_REL8 = 1 << 6,   /* rel8 branch */
	F_REL32 = 1 << 7,  /* rel32 branch (rel16 with 66: refused) */
	F_BAD = 1 << 8,	   /* invalid in 64-bit mode, or not handled here */
	F_PFX = 1 << 9,	   /* legacy prefix */
	F_GRP3 = 1 << 10,  /* F6/F7: immediate only for ModRM.reg 0 and 1 */
	F_ENTER = 1 << 11, /* C8: imm16 + imm8 */
};

#define _ 0
#define M F_M
#define B F_I8
#define W F_I16
#define Z F_IZ
#define MB (F_M | F_I8)
#define MZ (F_M | F_IZ)
#define X F_BAD
#define P F_PFX
#define R8 F_REL8
#define R32 F_REL32
#define V F_IV
#define O F_MOFFS
#define G3B (F_M | F_GRP3 | F_I8)
#define G3Z (F_M | F_GRP3 | F_IZ)

/*
 * One-byte map in 64-bit mode (SDM table A-2). 0F, REX (40-4F), VEX (C4, C5)
 * and EVEX (62) are dispatched before this table is read.
 */
static const uint16_t map0[256] = {
	/*       0    1    2    3    4    5    6    7    8    9    a    b    c    d    e    f */
	/* 0 */ M,   M,   M,   M,   B,   Z,   X,   X,   M,   M,   M,   M,   B,   Z,   X,   X,
	/* 1 */ M,   M,   M,   M,   B,   Z,   X,   X,   M,   M,   M,   M,   B,   Z,   X,   X,
	/* 2 */ M,   M,   M,   M,   B,   Z,   P,   X,   M,   M,   M,   M,   B,   Z,   P,   X,
	/* 3 */ M,   M,   M,   M,   B,   Z,   P,   X,   M,   M,   M,   M,   B,   Z,   P,   X,
	/* 4 */ _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,
	/* 5 */ _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   _,
	/* 6 */ X,   X,   X,   M,   P,   P,   P,   P,   Z,   MZ,  B,   MB,  _,   _,   _,   _,
	/* 7 */ R8,  R8,  R8,  R8,  R8,  R8,  R8,  R8,  R8,  R8,  R8,  R8,  R8,  R8,  R8,  R8,
	/* 8 */ MB,  MZ,  X,   MB,  M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,
	/* 9 */ _,   _,   _,   _,   _,   _,   _,   _,   _,   _,   X,   _,   _,   _,   _,   _,
	/* a */ O,   O,   O,   O,   _,   _,   _,   _,   B,   Z,   _,   _,   _,   _,   _,   _,
	/* b */ B,   B,   B,   B,   B,   B,   B,   B,   V,   V,   V,   V,   V,   V,   V,   V,
	/* c */ MB,  MB,  W,   _,   X,   X,   MB,  MZ,  F_ENTER, _, W, _,   _,   B,   X,   _,
	/* d */ M,   M,   M,   M,   X,   X,   X,   _,   M,   M,   M,   M,   M,   M,   M,   M,
	/* e */ R8,  R8,  R8,  R8,  B,   B,   B,   B,   R32, R32, X,   R8,  _,   _,   _,   _,
	/* f */ P,   _,   P,   P,   _,   _,   G3B, G3Z, _,   _,   _,   _,   _,   _,   M,   M,
};

/*
 * Two-byte map 0F xx (SDM table A-3). 0F 38 and 0F 3A are escapes to the
 * three-byte maps (all ModRM; 0F3A also imm8). 0F 0F is 3DNow! (refused).
 */
static const uint16_t map1[256] = {
	/*       0    1    2    3    4    5    6    7    8    9    a    b    c    d    e    f */
	/* 0 */ M,   M,   M,   M,   X,   _,   _,   _,   _,   _,   X,   _,   X,   M,   _,   X,
	/* 1 */ M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,
	/* 2 */ M,   M,   M,   M,   X,   X,   X,   X,   M,   M,   M,   M,   M,   M,   M,   M,
	/* 3 */ _,   _,   _,   _,   _,   _,   X,   _,   X,   X,   X,   X,   X,   X,   X,   X,
	/* 4 */ M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,
	/* 5 */ M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,
	/* 6 */ M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,
	/* 7 */ MB,  MB,  MB,  MB,  M,   M,   M,   _,   M,   M,   X,   X,   M,   M,   M,   M,
	/* 8 */ R32, R32, R32, R32, R32, R32, R32, R32, R32, R32, R32, R32, R32, R32, R32, R32,
	/* 9 */ M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,
	/* a */ _,   _,   _,   M,   MB,  M,   X,   X,   _,   _,   _,   M,   MB,  M,   M,   M,
	/* b */ M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   MB,  M,   M,   M,   M,   M,
	/* c */ M,   M,   MB,  M,   MB,  MB,  MB,  M,   _,   _,   _,   _,   _,   _,   _,   _,
	/* d */ M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,
	/* e */ M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,
	/* f */ M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,   M,
};

#undef _
#undef M
#undef B
#undef W
#undef Z
#undef MB
#undef MZ
#undef X
#undef P
#undef R8
#undef R32
#undef V
#undef O
#undef G3B
#undef G3Z

/*
 * Opcodes defined in the three-byte legacy maps and the VEX/EVEX maps, under
 * any mandatory prefix, W or L (SDM tables and the AVX/AVX-512
 * chapters, as binutils 2.40 decodes them). Bit n of word w: opcode 32 * w + n.
 */
enum { T_LEG2, T_LEG3, T_VEX1, T_VEX2, T_VEX3, T_EVEX1, T_EVEX2, T_EVEX3, T_EVEX5, T_EVEX6 };

static const uint32_t defined_ops[][8] = {
	[T_LEG2] = { 0x70b10fff, 0xffbf0f3f, 0x00000003, 0x00000000, 0x00000007, 0x00000000,
		     0xf900bf00, 0x1f630000 },
	[T_LEG3] = { 0x00f0ff00, 0x00000007, 0x00000017, 0x0000000f, 0x00000000, 0x00000000,
		     0x8000d000, 0x00010000 },
	[T_VEX1] = { 0x00ff0000, 0x0000ff00, 0xffff0cf6, 0xf0ffffff, 0x030f0000, 0x00004000,
		     0xffff0074, 0x7fffffff },
	[T_VEX2] = { 0x77c8ffff, 0xffffff3f, 0x070f02e3, 0x03040000, 0xffc05000, 0xfff3ffc0,
		     0xf8008000, 0x00ecffff },
	[T_VEX3] = { 0x23f0ff77, 0x030f0007, 0xf0001f57, 0xff00ff0f, 0x00000000, 0x00000000,
		     0x8000c000, 0x00010000 },
	[T_EVEX1] = { 0x00ff0000, 0x0000ff00, 0xfff20000, 0xcf7fffff, 0x00000000, 0x00000000,
		      0xff7e0074, 0x7f7effff },
	[T_EVEX2] = { 0xff7f3811, 0xffff3fff, 0x0f3ff0fd, 0xffef017c, 0xffc0af08, 0xfff0ffc0,
		      0xf000bd10, 0x00000000 },
	[T_EVEX3] = { 0xeff08f3b, 0xcf0000ef, 0x00f3001c, 0x000f00c0, 0x00000000, 0x00000000,
		      0x0000c004, 0x00000000 },
	[T_EVEX5] = { 0x20030000, 0x0000f400, 0xff020000, 0x7f004000, 0x00000000, 0x00000000,
		      0x00000000, 0x00000000 },
	[T_EVEX6] = { 0x00080000, 0x00003000, 0x00c0f00c, 0x00000000, 0xffc00000, 0xffc0ffc0,
		      0x00c00000, 0x00000000 },
};

/*
 * x87 escapes D8-DF (SDM tables ): per opcode, the ModRM.reg values
 * valid with a memory operand, and the ModRM bytes C0-FF that are defined.
 */
static const struct {
	uint8_t mem;
	uint64_t reg;
} x87_valid[8] = {
	{ 0xff, 0xffffffffffffffffull }, { 0xfd, 0xffff7f330001ffffull },
	{ 0xff, 0x00000200ffffffffull }, { 0xaf, 0x00ffff3fffffffffull },
	{ 0xff, 0xffffffff0000ffffull }, { 0xdf, 0x0000ffffffff00ffull },
	{ 0xff, 0xffffffff0200ffffull }, { 0xff, 0x00ffff01000000ffull },
};

static bool bit_set(const uint32_t *map, uint8_t op)
{
	return map[op >> 5] & (1u << (op & 31));
}

/* Whether a map's opcode is defined at all; maps 0 and 1 are in map0/map1. */
static bool opcode_defined(const struct x86_insn *insn)
{
	static const int8_t legacy[4] = { -1, -1, T_LEG2, T_LEG3 };
	static const int8_t vex[4] = { -1, T_VEX1, T_VEX2, T_VEX3 };
	static const int8_t evex[7] = { -1, T_EVEX1, T_EVEX2, T_EVEX3, -1, T_EVEX5, T_EVEX6 };
	int t = -1;

	if (insn->enc == X86_ENC_LEGACY)
		t = insn->opmap < 4 ? legacy[insn->opmap] : -1;
	else if (insn->enc == X86_ENC_EVEX)
		t = insn->opmap < 7 ? evex[insn->opmap] : -1;
	else
		t = insn->opmap < 4 ? vex[insn->opmap] : -1;
	if (insn->enc == X86_ENC_LEGACY && insn->opmap < 2)
		return true;
	return t >= 0 && bit_set(defined_ops[t], insn->opcode);
}

/* Register-only (mod = 3) forms that do not exist: memory-only instructions. */
static bool modrm_form_valid(const struct x86_insn *insn)
{
	uint8_t op = insn->opcode, modrm = insn->modrm;
	unsigned int reg = (modrm >> 3) & 7;
	bool mod3 = (modrm >> 6) == 3;

	if (insn->enc != X86_ENC_LEGACY || !insn->has_modrm)
		return true;
	if (insn->opmap == 0) {
		if (op >= 0xd8 && op <= 0xdf)
			return mod3 ? (x87_valid[op - 0xd8].reg >> (modrm - 0xc0)) & 1
				    : (x87_valid[op - 0xd8].mem >> reg) & 1;
		if (op == 0x8d || (op == 0xff && (reg == 3 || reg == 5)))
			return !mod3; /* lea, far call/jmp through memory */
		return true;
	}
	if (insn->opmap == 1 && mod3) {
		switch (op) {
		case 0x0d: /* prefetch */
		case 0x13: /* movlps/movlpd store */
		case 0x17: /* movhps/movhpd store */
		case 0x2b: /* movntps/movntpd */
		case 0xb2: /* lss */
		case 0xb4: /* lfs */
		case 0xb5: /* lgs */
		case 0xc3: /* movnti */
			return false;
		case 0xc7: /* cmpxchg8b/16b */
			return reg != 1;
		}
	}
	return true;
}

/* Decoder state while walking one instruction. */
struct dec {
	const uint8_t *p;
	size_t n;  /* bytes available, at most X86_MAX_LEN */
	size_t i;  /* next byte */
	bool rexw; /* REX.W, VEX.W or EVEX.W */
};

static int next_byte(struct dec *d, uint8_t *b)
{
	if (d->i >= d->n)
		return -EINVAL;
	*b = d->p[d->i++];
	return 0;
}

static int legacy_prefix_bit(uint8_t b)
{
	switch (b) {
	case 0x66:
		return X86_PFX_OPSIZE;
	case 0x67:
		return X86_PFX_ADSIZE;
	case 0xf0:
		return X86_PFX_LOCK;
	case 0xf2:
		return X86_PFX_REPNE;
	case 0xf3:
		return X86_PFX_REP;
	case 0x26:
	case 0x2e:
	case 0x36:
	case 0x3e:
		return X86_PFX_SEG_OLD;
	case 0x64:
	case 0x65:
		return X86_PFX_SEG_FSGS;
	}
	return 0;
}

/* Legacy prefixes, then at most one REX right before the opcode. */
static int decode_prefixes(struct dec *d, struct x86_insn *insn)
{
	int bit;

	while (d->i < d->n && (bit = legacy_prefix_bit(d->p[d->i]))) {
		insn->prefixes |= bit;
		insn->npfx++;
		d->i++;
	}
	if (d->i < d->n && (d->p[d->i] & 0xf0) == 0x40) {
		insn->rex = d->p[d->i++];
		d->rexw = insn->rex & 0x08;
		/* A REX not directly before the opcode is ignored by the CPU; no
		 * toolchain emits one, and objdump prints it apart: refuse. */
		if (d->i < d->n && (legacy_prefix_bit(d->p[d->i]) || (d->p[d->i] & 0xf0) == 0x40))
			return -EINVAL;
		/* REX 9B: objdump prints the REX apart from fwait (9B prefixes x87 ops) */
		if (d->i < d->n && d->p[d->i] == 0x9b)
			return -EINVAL;
	}
	return 0;
}

/* ModRM, SIB and displacement. Same layout for 64- and 32-bit addressing (67). */
static int decode_modrm(struct dec *d, struct x86_insn *insn)
{
	uint8_t modrm, sib, mod, rm;

	if (next_byte(d, &modrm))
		return -EINVAL;
	insn->has_modrm = true;
	insn->modrm = modrm;
	mod = modrm >> 6;
	rm = modrm & 7;
	/* mov to/from CR/DR (0F 20-23) ignores mod: always registers (SDM MOV-Control Registers) */
	if (insn->enc == X86_ENC_LEGACY && insn->opmap == 1 && insn->opcode >= 0x20 &&
	    insn->opcode <= 0x23)
		return 0;
	if (mod == 3)
		return 0;
	if (rm == 4) {
		if (next_byte(d, &sib))
			return -EINVAL;
		if (mod == 0 && (sib & 7) == 5)
			insn->disp_len = 4;
	} else if (mod == 0 && rm == 5) {
		insn->rip_rel = true;
		insn->disp_len = 4;
	}
	if (mod == 1)
		insn->disp_len = 1;
	else if (mod == 2)
		insn->disp_len = 4;
	return 0;
}

/* Operand-size-dependent immediate length of an F_IZ / F_IV operand. */
static unsigned int imm_z(const struct dec *d, const struct x86_insn *insn)
{
	if (d->rexw)
		return 4;
	return (insn->prefixes & X86_PFX_OPSIZE) ? 2 : 4;
}

static unsigned int imm_v(const struct dec *d, const struct x86_insn *insn)
{
	if (d->rexw)
		return 8;
	return (insn->prefixes & X86_PFX_OPSIZE) ? 2 : 4;
}

/* Immediate bytes an opcode with flags f carries, -EINVAL when refused. */
static int imm_len(const struct dec *d, const struct x86_insn *insn, unsigned int f)
{
	unsigned int reg = (insn->modrm >> 3) & 7;

	if (f & F_GRP3)
		return reg > 1 ? 0 : (f & F_I8) ? 1 : (int)imm_z(d, insn);
	if (f & (F_I8 | F_REL8))
		return 1;
	if (f & F_I16)
		return 2;
	if (f & F_ENTER)
		return 3;
	if (f & F_IZ)
		return imm_z(d, insn);
	if (f & F_IV)
		return imm_v(d, insn);
	if (f & F_MOFFS)
		return (insn->prefixes & X86_PFX_ADSIZE) ? 4 : 8;
	if (f & F_REL32) {
		/* 66 E8/E9/0F 8x: rel16 on AMD, rel32 on Intel. Nobody emits it. */
		if (insn->prefixes & X86_PFX_OPSIZE)
			return -EINVAL;
		return 4;
	}
	return 0;
}

/* ModRM.reg restrictions of the one-byte groups (SDM table A-6). */
static bool group_valid(const struct x86_insn *insn)
{
	unsigned int reg = (insn->modrm >> 3) & 7;

	if (insn->opmap != 0)
		return true;
	switch (insn->opcode) {
	case 0x8f: /* pop r/m; other regs are XOP, refused before */
		return reg == 0;
	case 0xc6: /* mov r/m8, imm8; C6 F8 xabort imm8 */
	case 0xc7: /* mov r/m, imm32; C7 F8 xbegin rel32 */
		return reg == 0 || insn->modrm == 0xf8;
	case 0xfe: /* inc/dec r/m8 */
		return reg <= 1;
	case 0xff:
		return reg != 7;
	}
	return true;
}

/* Flags of a legacy-encoded opcode once its map is known. */
static unsigned int legacy_flags(const struct x86_insn *insn)
{
	switch (insn->opmap) {
	case 0:
		return map0[insn->opcode];
	case 1:
		/* 66/F2 0F 78: AMD SSE4a EXTRQ/INSERTQ with two imm8 */
		if (insn->opcode == 0x78 && (insn->prefixes & (X86_PFX_OPSIZE | X86_PFX_REPNE)))
			return F_BAD;
		return map1[insn->opcode];
	case 2:
		return F_M;
	case 3:
		return F_M | F_I8;
	}
	return F_BAD;
}

static int decode_legacy_opcode(struct dec *d, struct x86_insn *insn, uint8_t b)
{
	insn->opcode = b;
	if (b != 0x0f)
		return 0;
	if (next_byte(d, &b))
		return -EINVAL;
	insn->opmap = 1;
	insn->opcode = b;
	if (b == 0x38 || b == 0x3a) {
		insn->opmap = b == 0x38 ? 2 : 3;
		if (next_byte(d, &insn->opcode))
			return -EINVAL;
	}
	return 0;
}

/* VEX/EVEX: the payload that replaces REX, 66/F2/F3 and the map escapes. */
static int decode_vex(struct dec *d, struct x86_insn *insn, uint8_t b)
{
	uint8_t p0, p1, p2;

	/* 66, F2, F3, F0 or REX before VEX/EVEX is #UD (SDM 2.3.2) */
	if (insn->rex || (insn->prefixes & (X86_PFX_OPSIZE | X86_PFX_REP | X86_PFX_REPNE |
					      X86_PFX_LOCK)))
		return -EINVAL;
	if (next_byte(d, &p0))
		return -EINVAL;
	if (b == 0xc5) {
		insn->enc = X86_ENC_VEX2;
		insn->opmap = 1;
	} else if (b == 0xc4) {
		if (next_byte(d, &p1))
			return -EINVAL;
		insn->enc = X86_ENC_VEX3;
		insn->opmap = p0 & 0x1f;
		d->rexw = p1 & 0x80;
	} else {
		if (next_byte(d, &p1) || next_byte(d, &p2))
			return -EINVAL;
		/* P0 bit 3 and P1 bit 2 are fixed (0, 1) outside APX */
		if ((p0 & 0x08) || !(p1 & 0x04))
			return -EINVAL;
		insn->enc = X86_ENC_EVEX;
		insn->opmap = p0 & 0x07;
		d->rexw = p1 & 0x80;
	}
	return next_byte(d, &insn->opcode);
}

/* Flags of a VEX/EVEX opcode: always ModRM except VZEROUPPER/VZEROALL. */
static unsigned int vex_flags(const struct x86_insn *insn)
{
	uint8_t op = insn->opcode;

	switch (insn->opmap) {
	case 1:
		if (op == 0x77 && insn->enc != X86_ENC_EVEX)
			return 0;
		if ((op >= 0x70 && op <= 0x73) || op == 0xc2 || (op >= 0xc4 && op <= 0xc6))
			return F_M | F_I8;
		return F_M;
	case 2:
		return F_M;
	case 3:
		return F_M | F_I8;
	case 5: /* EVEX maps 5 and 6: AVX512-FP16, no immediates */
	case 6:
		return insn->enc == X86_ENC_EVEX ? F_M : F_BAD;
	}
	return F_BAD;
}

static int64_t read_le(const uint8_t *p, unsigned int len)
{
	switch (len) {
	case 1:
		return (int8_t)p[0];
	case 2:
		return (int16_t)(p[0] | p[1] << 8);
	case 4:
		return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				 (uint32_t)p[3] << 24);
	case 8:
		return (int64_t)((uint64_t)(uint32_t)read_le(p, 4) |
				 (uint64_t)(uint32_t)read_le(p + 4, 4) << 32);
	}
	return 0;
}

static void classify(struct x86_insn *insn)
{
	uint8_t op = insn->opcode;
	unsigned int reg = (insn->modrm >> 3) & 7;

	insn->kind = X86_OTHER;
	if (insn->enc != X86_ENC_LEGACY)
		return;
	if (insn->opmap == 1) {
		if (op >= 0x80 && op <= 0x8f)
			insn->kind = X86_JCC;
		else if (op == 0x1f && reg == 0)
			insn->kind = X86_NOP;
		return;
	}
	if (insn->opmap != 0)
		return;
	if (op == 0x90 && !(insn->rex & 1) && !(insn->prefixes & X86_PFX_REP))
		insn->kind = X86_NOP; /* REX.B 90 is xchg r8, rax; F3 90 is pause */
	else if (op >= 0x50 && op <= 0x57)
		insn->kind = X86_PUSH;
	else if (op == 0xe8)
		insn->kind = X86_CALL;
	else if (op == 0xe9 || op == 0xeb)
		insn->kind = X86_JMP;
	else if (op >= 0x70 && op <= 0x7f)
		insn->kind = X86_JCC;
	else if (op == 0xc3 || op == 0xc2)
		insn->kind = X86_RET;
	else if (op == 0xcc)
		insn->kind = X86_INT3;
	else if (op == 0xff && reg == 2)
		insn->kind = X86_CALL_IND;
	else if (op == 0xff && reg == 4)
		insn->kind = X86_JMP_IND;
}

/* Branch target (every relative form, loop/jrcxz and xbegin included) or RIP-relative address. */
static void set_target(struct x86_insn *insn, unsigned int flags)
{
	uint64_t next = insn->addr + insn->len;
	bool xbegin = insn->opmap == 0 && insn->opcode == 0xc7 && insn->modrm == 0xf8;

	if ((flags & (F_REL8 | F_REL32)) || xbegin)
		insn->target = (int64_t)(next + (uint64_t)insn->imm);
	else if (insn->rip_rel)
		insn->target = (int64_t)(next + (uint64_t)read_le(insn->bytes + insn->len -
								     insn->imm_len - insn->disp_len,
								     4));
}

static int decode_operands(struct dec *d, struct x86_insn *insn, unsigned int flags)
{
	int ilen;

	if ((flags & F_BAD) || !opcode_defined(insn))
		return -EINVAL;
	if ((flags & F_M) && decode_modrm(d, insn))
		return -EINVAL;
	if (!group_valid(insn) || !modrm_form_valid(insn))
		return -EINVAL;
	ilen = imm_len(d, insn, flags);
	if (ilen < 0)
		return -EINVAL;
	if (insn->opmap == 0 && insn->opcode == 0xc7 && insn->modrm == 0xf8 &&
	    (insn->prefixes & X86_PFX_OPSIZE))
		return -EINVAL; /* xbegin rel16: same AMD/Intel ambiguity as 66 jmp */
	d->i += insn->disp_len;
	insn->imm_len = ilen;
	if (d->i + ilen > d->n)
		return -EINVAL;
	insn->imm = read_le(d->p + d->i, ilen == 3 ? 2 : (ilen > 8 ? 8 : ilen));
	d->i += ilen;
	return 0;
}

int x86_decode(const uint8_t *p, size_t n, uint64_t addr, struct x86_insn *insn)
{
	struct dec d = { .p = p, .n = n < X86_MAX_LEN ? n : X86_MAX_LEN };
	unsigned int flags;
	uint8_t b;

	memset(insn, 0, sizeof(*insn));
	insn->addr = addr;
	if (!p || decode_prefixes(&d, insn) || next_byte(&d, &b))
		return -EINVAL;
	if (b == 0xc4 || b == 0xc5 || b == 0x62) {
		if (decode_vex(&d, insn, b))
			return -EINVAL;
		flags = vex_flags(insn);
	} else {
		/* 9B before an x87 escape is the "wait" of fstenv/fstcw/fsave/...: objdump
		 * folds it into the next instruction, the CPU runs it on its own. */
		if (b == 0x9b && d.i < d.n && d.p[d.i] >= 0xd8 && d.p[d.i] <= 0xdf)
			return -EINVAL;
		/* 8F with ModRM.reg != 0 is AMD XOP */
		if (b == 0x8f && (d.i >= d.n || ((d.p[d.i] >> 3) & 7)))
			return -EINVAL;
		if (decode_legacy_opcode(&d, insn, b))
			return -EINVAL;
		flags = legacy_flags(insn);
	}
	if (decode_operands(&d, insn, flags))
		return -EINVAL;
	insn->len = d.i;
	memcpy(insn->bytes, p, d.i);
	classify(insn);
	set_target(insn, insn->enc == X86_ENC_LEGACY ? flags : 0);
	return 0;
}

/*
 * The multi-byte NOPs the kernel emulates: branch_setup_xol_ops() compares the
 * instruction with x86_nops[len] (arch/x86/include/asm/nops.h, BYTES_NOP1-8;
 * NOP9-11 carry a CS prefix, which is_prefix_bad() refuses first). Other NOP
 * forms (66 0F 1F 84 ..., 0F 1F 04 00) are single-stepped: measured on 6.18.
 */
static const uint8_t kernel_nops[][8] = {
	{ 0x90 },
	{ 0x66, 0x90 },
	{ 0x0f, 0x1f, 0x00 },
	{ 0x0f, 0x1f, 0x40, 0x00 },
	{ 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	{ 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	{ 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
	{ 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
};

static bool is_kernel_nop(const struct x86_insn *insn)
{
	if (insn->len < 1 || insn->len > 8)
		return false;
	return memcmp(insn->bytes, kernel_nops[insn->len - 1], insn->len) == 0;
}

/*
 * arch/x86/kernel/uprobes.c (6.18), arch_uprobe_analyze_insn():
 * uprobe_init_insn() refuses ES/CS/SS/DS/LOCK prefixes (is_prefix_bad()),
 * mov-to-SS (insn_masking_exception()) and first opcode bytes outside
 * good_insns_64 (for 0F xx the byte tested is 0F itself, which is good; for
 * VEX/EVEX it is the opcode after the prefix).
 */
static bool opcode_good(uint8_t op)
{
	/* the zero bits of good_insns_64 */
	static const uint8_t bad[] = { 0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f,
				       0x37, 0x3f, 0x60, 0x61, 0x62, 0x6c, 0x6d, 0x6e, 0x6f,
				       0x82, 0x9a, 0xcc, 0xcd, 0xce, 0xcf, 0xd4, 0xd5, 0xd6,
				       0xe4, 0xe5, 0xe6, 0xe7, 0xea, 0xec, 0xed, 0xee, 0xef,
				       0xf1, 0xf4, 0xfa, 0xfb };

	for (size_t i = 0; i < sizeof(bad); i++)
		if (bad[i] == op)
			return false;
	return true;
}

bool x86_insn_probeable(const struct x86_insn *insn)
{
	uint8_t op1;

	if (!insn->len)
		return false;
	if (insn->prefixes & (X86_PFX_SEG_OLD | X86_PFX_LOCK))
		return false;
	op1 = (insn->enc == X86_ENC_LEGACY && insn->opmap) ? 0x0f : insn->opcode;
	if (!opcode_good(op1))
		return false;
	/* insn_masking_exception(): mov r/m, %ss (8E /2) */
	if (insn->enc == X86_ENC_LEGACY && insn->opmap == 0 && insn->opcode == 0x8e &&
	    ((insn->modrm >> 3) & 7) == 2)
		return false;
	/* branch_setup_xol_ops(): -ENOTSUPP for a relative branch with 66 */
	if ((insn->kind == X86_CALL || insn->kind == X86_JMP || insn->kind == X86_JCC) &&
	    (insn->prefixes & X86_PFX_OPSIZE))
		return false;
	return true;
}

/*
 * arch/x86/kernel/uprobes.c (6.18): branch_setup_xol_ops() emulates the
 * x86_nops patterns, any-prefix 90 (nop, pause), E8 call rel32, E9/EB jmp and
 * 70-7F / 0F 80-8F jcc (refusing 66-prefixed branches); push_setup_xol_ops()
 * emulates 50-57 alone or with exactly REX 41. Everything else, RET included,
 * is single-stepped out of line (a debug trap). REX.B 90 (xchg r8, rax) would
 * be "emulated" as a nop by 6.18 (fixed by insn_is_nop() in 6.19): not offered.
 */
bool x86_insn_emulated(const struct x86_insn *insn)
{
	uint8_t op = insn->opcode;

	if (!x86_insn_probeable(insn) || insn->enc != X86_ENC_LEGACY)
		return false;
	if (is_kernel_nop(insn))
		return true;
	if (insn->opmap == 0 && op == 0x90)
		return !(insn->rex & 1);
	switch (insn->kind) {
	case X86_CALL:
	case X86_JMP:
	case X86_JCC:
		return true;
	case X86_PUSH:
		return insn->len == 1 || (insn->len == 2 && insn->rex == 0x41);
	default:
		return false;
	}
}

const char *x86_reg64_name(unsigned int reg)
{
	static const char *const names[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp",
					       "rsi", "rdi", "r8",  "r9",  "r10", "r11",
					       "r12", "r13", "r14", "r15" };

	return reg < 16 ? names[reg] : "?";
}

static const char *const cc_names[16] = { "o", "no", "b",  "ae", "e", "ne", "be", "a",
					  "s", "ns", "p", "np", "l", "ge", "le", "g" };

/* Mnemonics of the one-byte map (Intel syntax, as objdump -M intel prints them). */
static const char *const map0_names[256] = {
	[0x00 ... 0x05] = "add", [0x08 ... 0x0d] = "or",   [0x10 ... 0x15] = "adc",
	[0x18 ... 0x1d] = "sbb", [0x20 ... 0x25] = "and",  [0x28 ... 0x2d] = "sub",
	[0x30 ... 0x35] = "xor", [0x38 ... 0x3d] = "cmp",  [0x50 ... 0x57] = "push",
	[0x58 ... 0x5f] = "pop", [0x63] = "movsxd",	   [0x68] = "push",
	[0x69] = "imul",	 [0x6a] = "push",	   [0x6b] = "imul",
	[0x84 ... 0x85] = "test", [0x86 ... 0x87] = "xchg", [0x88 ... 0x8c] = "mov",
	[0x8d] = "lea",		 [0x8e] = "mov",	   [0x8f] = "pop",
	[0x90] = "nop",		 [0x91 ... 0x97] = "xchg", [0x9b] = "fwait",
	[0x9c] = "pushf",	 [0x9d] = "popf",	   [0x9e] = "sahf",
	[0x9f] = "lahf",	 [0xa0 ... 0xa3] = "movabs", [0xa4 ... 0xa5] = "movs",
	[0xa6 ... 0xa7] = "cmps", [0xa8 ... 0xa9] = "test", [0xaa ... 0xab] = "stos",
	[0xac ... 0xad] = "lods", [0xae ... 0xaf] = "scas", [0xb0 ... 0xbf] = "mov",
	[0xc2 ... 0xc3] = "ret", [0xc6 ... 0xc7] = "mov",  [0xc8] = "enter",
	[0xc9] = "leave",	 [0xca ... 0xcb] = "retf", [0xcc] = "int3",
	[0xcd] = "int",		 [0xcf] = "iret",	   [0xd7] = "xlat",
	[0xe0] = "loopne",	 [0xe1] = "loope",	   [0xe2] = "loop",
	[0xe3] = "jrcxz",	 [0xe4 ... 0xe5] = "in",   [0xe6 ... 0xe7] = "out",
	[0xe8] = "call",	 [0xe9] = "jmp",	   [0xeb] = "jmp",
	[0xec ... 0xed] = "in",	 [0xee ... 0xef] = "out",  [0xf1] = "int1",
	[0xf4] = "hlt",		 [0xf5] = "cmc",	   [0xf8] = "clc",
	[0xf9] = "stc",		 [0xfa] = "cli",	   [0xfb] = "sti",
	[0xfc] = "cld",		 [0xfd] = "std",
};

static const char *const map1_names[256] = {
	[0x05] = "syscall", [0x0b] = "ud2",	 [0x0d] = "prefetch", [0x18] = "prefetch",
	[0x1f] = "nop",	    [0x31] = "rdtsc",	 [0xa2] = "cpuid",    [0xa3] = "bt",
	[0xa4 ... 0xa5] = "shld", [0xab] = "bts", [0xac ... 0xad] = "shrd", [0xaf] = "imul",
	[0xb0 ... 0xb1] = "cmpxchg", [0xb3] = "btr", [0xb6 ... 0xb7] = "movzx", [0xbb] = "btc",
	[0xbc] = "bsf",	    [0xbd] = "bsr",	 [0xbe ... 0xbf] = "movsx",
	[0xc0 ... 0xc1] = "xadd",
	[0xc8 ... 0xcf] = "bswap",
};

static const char *const grp1[8] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };
static const char *const grp2[8] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "shl", "sar" };
static const char *const grp3[8] = { "test", "test", "not", "neg", "mul", "imul", "div", "idiv" };
static const char *const grp8[8] = { NULL, NULL, NULL, NULL, "bt", "bts", "btr", "btc" };
static const char *const grp5[8] = { "inc", "dec", "call", "call", "jmp", "jmp", "push", "?" };

static const char *group_name(const struct x86_insn *insn)
{
	unsigned int reg = (insn->modrm >> 3) & 7;

	switch (insn->opcode) {
	case 0x80 ... 0x83:
		return grp1[reg];
	case 0xc0 ... 0xc1:
	case 0xd0 ... 0xd3:
		return grp2[reg];
	case 0xf6 ... 0xf7:
		return grp3[reg];
	case 0xfe ... 0xff:
		return grp5[reg];
	case 0xc6 ... 0xc7:
		return insn->modrm == 0xf8 ? (insn->opcode == 0xc6 ? "xabort" : "xbegin") : "mov";
	}
	return NULL;
}

static const char *legacy_name(const struct x86_insn *insn)
{
	uint8_t op = insn->opcode;
	const char *g;

	if (insn->opmap == 0) {
		if (op == 0x90 && (insn->prefixes & X86_PFX_REP))
			return "pause";
		if (op == 0x90 && (insn->rex & 1))
			return "xchg";
		if (op >= 0xb8 && op <= 0xbf && insn->imm_len == 8)
			return "movabs";
		g = group_name(insn);
		return g ? g : map0_names[op];
	}
	if (insn->opmap == 1) {
		if (op == 0x1e && insn->modrm == 0xfa && (insn->prefixes & X86_PFX_REP))
			return "endbr64";
		if (op == 0xb8 && (insn->prefixes & X86_PFX_REP))
			return "popcnt";
		if (op == 0xbc && (insn->prefixes & X86_PFX_REP))
			return "tzcnt";
		if (op == 0xbd && (insn->prefixes & X86_PFX_REP))
			return "lzcnt";
		if (op == 0xba) /* group 8: bt/bts/btr/btc r/m, imm8 */
			return grp8[(insn->modrm >> 3) & 7];
		return map1_names[op];
	}
	return NULL;
}

static void format_cc(const struct x86_insn *insn, char *buf, size_t size)
{
	uint8_t op = insn->opcode;
	const char *cc = cc_names[op & 15];

	if (insn->kind == X86_JCC)
		snprintf(buf, size, "j%s %#llx", cc, (unsigned long long)insn->target);
	else if (op >= 0x90)
		snprintf(buf, size, "set%s", cc);
	else
		snprintf(buf, size, "cmov%s", cc);
}

void x86_insn_format(const struct x86_insn *insn, char *buf, size_t size)
{
	unsigned long long t = (unsigned long long)insn->target;
	const char *name = NULL;
	unsigned int reg;

	if (!size)
		return;
	if (insn->enc == X86_ENC_LEGACY)
		name = legacy_name(insn);
	reg = (insn->opcode & 7) | ((insn->rex & 1) << 3);
	if (insn->kind == X86_JCC ||
	    (insn->enc == X86_ENC_LEGACY && insn->opmap == 1 &&
	     ((insn->opcode >= 0x40 && insn->opcode <= 0x4f) ||
	      (insn->opcode >= 0x90 && insn->opcode <= 0x9f))))
		format_cc(insn, buf, size);
	else if (insn->kind == X86_CALL || insn->kind == X86_JMP)
		snprintf(buf, size, "%s %#llx", name, t);
	else if (insn->opmap == 0 && insn->opcode >= 0x50 && insn->opcode <= 0x5f)
		snprintf(buf, size, "%s %s", name, x86_reg64_name(reg));
	else if (insn->kind == X86_RET && insn->opcode == 0xc2)
		snprintf(buf, size, "ret %#llx", (unsigned long long)(uint16_t)insn->imm);
	else if (name && insn->rip_rel)
		snprintf(buf, size, "%s [%#llx]", name, t);
	else if (name)
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "(%s map %u op %02x)",
			 insn->enc == X86_ENC_EVEX ? "evex" : insn->enc ? "vex" : "legacy",
			 insn->opmap, insn->opcode);
}
