// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Where to put a uprobe on each Go runtime function the tracers hook.
 *
 * A uprobe on an instruction the kernel single-steps costs a debug trap
 * (~11-15 us under virtualization); on one it emulates, ~0.4-0.8 us (measured
 * on Linux 6.18, DESIGN.md §3). So every site is chosen by decoding: the first
 * emulated instruction on the straight-line path from the entry, taken only
 * while the hook's argument registers are still untouched. On every Go
 * function 1.19-1.26 that is the JBE of the stack check
 * (cmd/internal/obj/x86/obj6.go stacksplit(): CMPQ SP, 16(R14); JBE, or
 * LEAQ -n(SP), R12; CMPQ R12, 16(R14); JBE for big frames), which runs again
 * when morestack re-enters the function at +0: may_repeat.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "elfbin.h"
#include "gosym.h"
#include "hooks.h"

#define PICK_MAX_INSNS 24	/* prologue instructions examined for a site */
#define NEWG_MAX_INSNS 64	/* newproc.func1 is ~25 instructions in 1.19-1.26 */
#define FUNC_MAX_BYTES (1 << 20) /* no runtime function comes near this */

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };
#define BIT(r) (1u << (r))

struct hook_def {
	const char *name;
	const char *symbol;
	int min_minor; /* first release where the hook applies */
	int max_minor; /* last one; 0: still there in the newest */
};

/*
 * The functions and the releases they serve (GO-RUNTIME.md §1.1, §1.5, §3, §7).
 * mallocgc was split by allocation kind in 1.24 (malloc.go@1.24:1050-1063); the
 * goroutine teardown moved from goexit0 to gdestroy in 1.22 (proc.go@1.22:4179),
 * goexit0 then only calls gdestroy and schedule.
 */
static const struct hook_def hook_defs[HOOK__COUNT] = {
	[HOOK_MALLOCGC] = { "mallocgc", "runtime.mallocgc", 0, 0 },
	[HOOK_MALLOCGC_TINY] = { "mallocgc_tiny", "runtime.mallocgcTiny", 24, 0 },
	[HOOK_MALLOCGC_SMALL_NOSCAN] = { "mallocgc_small_noscan", "runtime.mallocgcSmallNoscan",
					 24, 0 },
	[HOOK_MALLOCGC_SMALL_SCAN_NOHEADER] = { "mallocgc_small_scan_noheader",
						"runtime.mallocgcSmallScanNoHeader", 24, 0 },
	[HOOK_MALLOCGC_SMALL_SCAN_HEADER] = { "mallocgc_small_scan_header",
					      "runtime.mallocgcSmallScanHeader", 24, 0 },
	[HOOK_MALLOCGC_LARGE] = { "mallocgc_large", "runtime.mallocgcLarge", 24, 0 },
	[HOOK_PROFILEALLOC] = { "profilealloc", "runtime.profilealloc", 0, 0 },
	[HOOK_MPROF_MALLOC] = { "mprof_malloc", "runtime.mProf_Malloc", 0, 0 },
	[HOOK_SETPROFILEBUCKET] = { "setprofilebucket", "runtime.setprofilebucket", 0, 0 },
	[HOOK_FREESPECIAL] = { "freespecial", "runtime.freeSpecial", 0, 0 },
	[HOOK_NEWPROC] = { "newproc", "runtime.newproc", 0, 0 },
	[HOOK_NEWPROC1] = { "newproc1", "runtime.newproc1", 0, 0 },
	[HOOK_NEWG_VISIBLE] = { "newg_visible", "runtime.newproc.func1", 0, 0 },
	[HOOK_MALG] = { "malg", "runtime.malg", 0, 0 },
	[HOOK_GOEXIT0] = { "goexit0", "runtime.goexit0", 0, 21 },
	[HOOK_GDESTROY] = { "gdestroy", "runtime.gdestroy", 22, 0 },
	[HOOK_GC_MARK_TERMINATION] = { "gc_mark_termination", "runtime.gcMarkTermination", 0, 0 },
	[HOOK_MPROF_FLUSH] = { "mprof_flush", "runtime.mProf_Flush", 0, 0 },
};

struct regs_row {
	enum go_hook_id id;
	int min_minor, max_minor; /* 0: open */
	const char *regs;
};

/*
 * Argument registers at the site (ABIInternal: RAX, RBX, RCX, RDI, RSI, R8-R11
 * in order, a bool or byte in the low byte; GO-RUNTIME.md §4). Every site is
 * before the function writes any of them, so these are the entry values.
 */
static const struct regs_row regs_rows[] = {
	/* func mallocgc(size uintptr, typ *_type, needzero bool)
	 * (malloc.go@1.19:842, @1.26:1067) */
	{ HOOK_MALLOCGC, 0, 0, "rax=size rbx=typ cl=needzero" },
	/* split functions (malloc.go@1.24:1098-1524): needzero dropped from tiny and the
	 * scan kinds in 1.25 (malloc.go@1.25:1110,1352,1443) */
	{ HOOK_MALLOCGC_TINY, 24, 24, "rax=size rbx=typ cl=needzero" },
	{ HOOK_MALLOCGC_TINY, 25, 0, "rax=size rbx=typ" },
	{ HOOK_MALLOCGC_SMALL_NOSCAN, 24, 0, "rax=size rbx=typ cl=needzero" },
	{ HOOK_MALLOCGC_SMALL_SCAN_NOHEADER, 24, 24, "rax=size rbx=typ cl=needzero" },
	{ HOOK_MALLOCGC_SMALL_SCAN_NOHEADER, 25, 0, "rax=size rbx=typ" },
	{ HOOK_MALLOCGC_SMALL_SCAN_HEADER, 24, 24, "rax=size rbx=typ cl=needzero" },
	{ HOOK_MALLOCGC_SMALL_SCAN_HEADER, 25, 0, "rax=size rbx=typ" },
	{ HOOK_MALLOCGC_LARGE, 24, 0, "rax=size rbx=typ cl=needzero" },
	/* func profilealloc(mp *m, x unsafe.Pointer, size uintptr)
	 * (malloc.go@1.19:1222, @1.26:2238) */
	{ HOOK_PROFILEALLOC, 0, 0, "rax=mp rbx=x rcx=size" },
	/* mProf_Malloc(p, size) (mprof.go@1.22:425) -> (mp, p, size) (mprof.go@1.23:437) */
	{ HOOK_MPROF_MALLOC, 0, 22, "rax=p rbx=size" },
	{ HOOK_MPROF_MALLOC, 23, 0, "rax=mp rbx=p rcx=size" },
	/* func setprofilebucket(p unsafe.Pointer, b *bucket) (mheap.go@1.26:2717) */
	{ HOOK_SETPROFILEBUCKET, 0, 0, "rax=p rbx=b" },
	/* func freeSpecial(s *special, p unsafe.Pointer, size uintptr) (mheap.go@1.26:2786) */
	{ HOOK_FREESPECIAL, 0, 0, "rax=s rbx=p rcx=size" },
	/* func newproc(fn *funcval) (proc.go@1.26:5295) */
	{ HOOK_NEWPROC, 0, 0, "rax=fn" },
	/* newproc1 gained parked, waitreason in 1.23 (proc.go@1.22:4892, @1.23:5050) */
	{ HOOK_NEWPROC1, 0, 22, "rax=fn rbx=callergp rcx=callerpc" },
	{ HOOK_NEWPROC1, 23, 0, "rax=fn rbx=callergp rcx=callerpc dil=parked sil=waitreason" },
	/* the CALL runqput(pp *p, gp *g, next bool) in newproc.func1 (proc.go@1.26:5300,7478) */
	{ HOOK_NEWG_VISIBLE, 0, 0, "rax=pp rbx=newg cl=next" },
	/* func malg(stacksize int32) *g (proc.go@1.26:5273) */
	{ HOOK_MALG, 0, 0, "eax=stacksize" },
	/* func goexit0(gp *g), func gdestroy(gp *g) (proc.go@1.19:3480, @1.26:4491,4503) */
	{ HOOK_GOEXIT0, 0, 0, "rax=gp" },
	{ HOOK_GDESTROY, 0, 0, "rax=gp" },
	/* gcMarkTermination() (mgc.go@1.21:943); (stw worldStop) from 1.22, worldStop
	 * {reason, start} (proc.go@1.22:1312) then 4 fields (proc.go@1.23:1420) */
	{ HOOK_GC_MARK_TERMINATION, 0, 21, "" },
	{ HOOK_GC_MARK_TERMINATION, 22, 22, "al=stw.reason rbx=stw.start" },
	{ HOOK_GC_MARK_TERMINATION, 23, 0,
	  "al=stw.reason rbx=stw.startedStopping rcx=stw.finishedStopping "
	  "rdi=stw.stoppingCPUTime" },
	/* func mProf_Flush() (mprof.go@1.26:383) */
	{ HOOK_MPROF_FLUSH, 0, 0, "" },
};

static bool in_range(int minor, int lo, int hi)
{
	return (!lo || minor >= lo) && (!hi || minor <= hi);
}

static const char *regs_for(enum go_hook_id id, int minor)
{
	for (size_t i = 0; i < sizeof(regs_rows) / sizeof(regs_rows[0]); i++)
		if (regs_rows[i].id == id &&
		    in_range(minor, regs_rows[i].min_minor, regs_rows[i].max_minor))
			return regs_rows[i].regs;
	return "";
}

const char *hook_name(enum go_hook_id id)
{
	return (unsigned int)id < HOOK__COUNT ? hook_defs[id].name : "?";
}

/* "rax", "eax", "ax", "al", "r8", "r8d", "r8w", "r8b", "sil", ... -> GPR number */
static int reg_number(const char *s, size_t n)
{
	static const char *const names[16][4] = {
		{ "rax", "eax", "ax", "al" },	  { "rcx", "ecx", "cx", "cl" },
		{ "rdx", "edx", "dx", "dl" },	  { "rbx", "ebx", "bx", "bl" },
		{ "rsp", "esp", "sp", "spl" },	  { "rbp", "ebp", "bp", "bpl" },
		{ "rsi", "esi", "si", "sil" },	  { "rdi", "edi", "di", "dil" },
		{ "r8", "r8d", "r8w", "r8b" },	  { "r9", "r9d", "r9w", "r9b" },
		{ "r10", "r10d", "r10w", "r10b" }, { "r11", "r11d", "r11w", "r11b" },
		{ "r12", "r12d", "r12w", "r12b" }, { "r13", "r13d", "r13w", "r13b" },
		{ "r14", "r14d", "r14w", "r14b" }, { "r15", "r15d", "r15w", "r15b" },
	};

	for (int r = 0; r < 16; r++)
		for (int k = 0; k < 4; k++)
			if (strlen(names[r][k]) == n && !strncmp(s, names[r][k], n))
				return r;
	return -1;
}

uint32_t regs_mask(const char *regs)
{
	uint32_t mask = 0;
	const char *p = regs;

	while (p && *p) {
		size_t n = strcspn(p, "= ");
		int r = reg_number(p, n);

		if (r >= 0 && p[n] == '=')
			mask |= BIT(r);
		p += n;
		p += strcspn(p, " ");
		p += strspn(p, " ");
	}
	return mask;
}

/* What one instruction does to the general-purpose registers. */
struct effect {
	uint32_t writes;  /* GPRs written (flags and memory are not tracked) */
	int32_t sp_delta; /* push -8, pop +8, sub rsp, imm: -imm */
	bool sp_other;	  /* rsp changed in a way not followed */
	bool frame;	  /* rbp := an rsp-based address: the frame pointer is set */
	int copy_dst;	  /* mov r64, r64: copy_dst receives copy_src, else -1 */
	int copy_src;
};

static int modrm_reg(const struct x86_insn *in)
{
	return ((in->modrm >> 3) & 7) | ((in->rex & 4) << 1);
}

static int modrm_rm(const struct x86_insn *in)
{
	return (in->modrm & 7) | ((in->rex & 1) << 3);
}

static bool mod3(const struct x86_insn *in)
{
	return (in->modrm >> 6) == 3;
}

/* Destination is the r/m operand: a register only when mod = 3 (else memory). */
static uint32_t rm_dst(const struct x86_insn *in)
{
	return mod3(in) ? BIT(modrm_rm(in)) : 0;
}

/* lea rbp, [rsp + disp]: ModRM rm = 100 with a SIB whose base is rsp. */
static bool lea_rbp_from_rsp(const struct x86_insn *in)
{
	size_t sib = in->npfx + (in->rex ? 1 : 0) + 2;

	return modrm_reg(in) == RBP && !mod3(in) && (in->modrm & 7) == 4 && sib < in->len &&
	       (in->bytes[sib] & 7) == RSP && !(in->rex & 1) && ((in->bytes[sib] >> 3) & 7) == 4;
}

/* One-byte map: ALU blocks 00-3F, moves, pushes, groups. false when unknown. */
static bool effect_map0(const struct x86_insn *in, struct effect *e)
{
	uint8_t op = in->opcode;
	int reg = (in->modrm >> 3) & 7;

	if (op < 0x40 && (op & 7) < 6) {
		bool cmp = (op >> 3) == 7;

		if (cmp)
			return true;
		if ((op & 7) < 2)
			e->writes = rm_dst(in);
		else
			e->writes = (op & 7) < 4 ? BIT(modrm_reg(in)) : BIT(RAX);
		return true;
	}
	switch (op) {
	case 0x50 ... 0x57:
		e->sp_delta = -8;
		return true;
	case 0x58 ... 0x5f:
		e->sp_delta = 8;
		e->writes = BIT((op & 7) | ((in->rex & 1) << 3));
		return true;
	case 0x63: /* movsxd */
	case 0x69: /* imul */
	case 0x6b:
	case 0x8a: /* mov r8, r/m8 */
		e->writes = BIT(modrm_reg(in));
		return true;
	case 0x80 ... 0x83: /* group 1, /7 is cmp */
		if (reg != 7)
			e->writes = rm_dst(in);
		if (op != 0x80 && op != 0x82 && mod3(in) && modrm_rm(in) == RSP && (in->rex & 8) &&
		    (reg == 0 || reg == 5)) { /* add/sub rsp, imm */
			e->writes = 0;
			e->sp_delta = reg == 0 ? (int32_t)in->imm : -(int32_t)in->imm;
		}
		return true;
	case 0x84:
	case 0x85:
		return true;
	case 0x86:
	case 0x87:
		e->writes = BIT(modrm_reg(in)) | rm_dst(in);
		return true;
	case 0x88:
	case 0x89:
		e->writes = rm_dst(in);
		if (op == 0x89 && mod3(in) && (in->rex & 8)) {
			e->copy_dst = modrm_rm(in);
			e->copy_src = modrm_reg(in);
			e->frame = e->copy_dst == RBP && e->copy_src == RSP; /* mov rbp, rsp */
		}
		return true;
	case 0x8b:
		e->writes = BIT(modrm_reg(in));
		if (mod3(in) && (in->rex & 8)) {
			e->copy_dst = modrm_reg(in);
			e->copy_src = modrm_rm(in);
			e->frame = e->copy_dst == RBP && e->copy_src == RSP;
		}
		return true;
	case 0x8d: /* lea */
		e->writes = BIT(modrm_reg(in));
		e->frame = lea_rbp_from_rsp(in);
		return true;
	case 0x90:
		return in->kind == X86_NOP;
	case 0x98: /* cdqe */
		e->writes = BIT(RAX);
		return true;
	case 0x99: /* cqo */
		e->writes = BIT(RDX);
		return true;
	case 0xb0 ... 0xbf:
		e->writes = BIT((op & 7) | ((in->rex & 1) << 3));
		return true;
	case 0xc0:
	case 0xc1:
	case 0xc6:
	case 0xc7:
	case 0xd0 ... 0xd3:
		e->writes = rm_dst(in);
		return true;
	case 0xf6:
	case 0xf7: /* test / not, neg / mul, div */
		e->writes = reg < 2 ? 0 : reg < 4 ? rm_dst(in) : BIT(RAX) | BIT(RDX);
		return true;
	case 0xfe:
	case 0xff: /* inc, dec; the rest are control transfers or push */
		if (reg > 1)
			return false;
		e->writes = rm_dst(in);
		return true;
	}
	return false;
}

/* Two-byte map: hint nops, cmov/setcc, movzx/movsx, bit tests, SSE moves. */
static bool effect_map1(const struct x86_insn *in, struct effect *e)
{
	uint8_t op = in->opcode;
	int reg = (in->modrm >> 3) & 7;

	switch (op) {
	case 0x0d:
	case 0x18 ... 0x1f: /* prefetch, hint nops, endbr64 */
	case 0xa3:	    /* bt */
	case 0x10 ... 0x17: /* SSE moves to xmm or memory */
	case 0x28 ... 0x29:
	case 0x2e ... 0x2f:
	case 0x54 ... 0x5f:
	case 0x6e ... 0x6f:
	case 0x7f:
	case 0xd6:
	case 0xef:
		return true;
	case 0x40 ... 0x4f: /* cmovcc */
	case 0xaf:	    /* imul */
	case 0xb6 ... 0xb8: /* movzx, popcnt */
	case 0xbc ... 0xbf: /* bsf/tzcnt, bsr/lzcnt, movsx */
		e->writes = BIT(modrm_reg(in));
		return true;
	case 0x90 ... 0x9f: /* setcc */
		e->writes = rm_dst(in);
		return true;
	case 0xba: /* bt/bts/btr/btc r/m, imm8 */
		e->writes = reg == 4 ? 0 : rm_dst(in);
		return reg >= 4;
	}
	return false;
}

static bool insn_effect(const struct x86_insn *in, struct effect *e)
{
	bool known;

	memset(e, 0, sizeof(*e));
	e->copy_dst = e->copy_src = -1;
	if (in->enc != X86_ENC_LEGACY)
		return false;
	if (in->opmap == 0)
		known = effect_map0(in, e);
	else if (in->opmap == 1)
		known = effect_map1(in, e);
	else
		known = false;
	if (known && (e->writes & BIT(RSP))) {
		e->sp_other = true;
		e->writes &= ~BIT(RSP);
	}
	return known;
}

static bool is_control_transfer(const struct x86_insn *in)
{
	return in->kind == X86_CALL || in->kind == X86_JMP || in->kind == X86_JCC ||
	       in->kind == X86_RET || in->kind == X86_CALL_IND || in->kind == X86_JMP_IND ||
	       in->kind == X86_INT3 || (in->target != 0 && !in->rip_rel);
}

/* cmp rsp|r12, [r14+0x10]: the compare with g.stackguard0 (obj6.go stacksplit()). */
static bool is_stackguard_cmp(const struct x86_insn *in)
{
	return in->enc == X86_ENC_LEGACY && in->opmap == 0 && in->opcode == 0x3b &&
	       (in->rex & 0x9) == 0x9 && in->modrm == 0x66 && in->disp_len == 1 &&
	       in->bytes[in->len - 1] == 0x10;
}

/* Address of the branch to morestack after the stack-guard compare, 0 if none. */
static uint64_t stack_check_branch(const uint8_t *code, size_t len, uint64_t entry)
{
	struct x86_insn in;
	bool cmp_seen = false;
	size_t off = 0;

	for (int i = 0; i < 6 && off < len; i++, off += in.len) {
		if (x86_decode(code + off, len - off, entry + off, &in))
			return 0;
		if (cmp_seen)
			return in.kind == X86_JCC ? in.addr : 0;
		cmp_seen = is_stackguard_cmp(&in);
	}
	return 0;
}

/* Walk state along the straight-line path from the entry. */
struct walk {
	uint32_t clobbered;
	int32_t sp;	/* rsp relative to the entry (the return address is at entry rsp) */
	bool sp_lost;
	bool frame;
};

static void walk_apply(struct walk *w, const struct effect *e)
{
	w->clobbered |= e->writes;
	w->sp += e->sp_delta;
	w->sp_lost |= e->sp_other;
	w->frame |= e->frame;
}

static void site_fill(struct probe_site *site, const struct x86_insn *in, const struct walk *w,
		      uint64_t stack_branch)
{
	memset(site, 0, sizeof(*site));
	site->addr = in->addr;
	site->insn = *in;
	site->emulated = x86_insn_emulated(in);
	site->may_repeat = stack_branch && in->addr <= stack_branch;
	site->frame_set = w->frame;
	site->ra_sp_off = w->sp_lost ? -1 : -w->sp;
}

int probe_site_pick(const uint8_t *code, size_t len, uint64_t entry, uint32_t argmask,
		    struct probe_site *site, const char **why)
{
	uint64_t stack_branch = stack_check_branch(code, len, entry);
	struct walk w = { 0 };
	struct x86_insn in, first;
	struct effect e;
	size_t off = 0;

	*why = "no emulated instruction within the first instructions";
	if (!code || x86_decode(code, len, entry, &first))
		return -EINVAL;
	for (int i = 0; i < PICK_MAX_INSNS && off < len; i++, off += in.len) {
		if (x86_decode(code + off, len - off, entry + off, &in)) {
			*why = "an instruction the decoder does not know comes first";
			break;
		}
		if (x86_insn_emulated(&in) && !(w.clobbered & argmask)) {
			site_fill(site, &in, &w, stack_branch);
			return 0;
		}
		if (is_control_transfer(&in)) {
			*why = "control leaves the straight-line path first";
			break;
		}
		if (!insn_effect(&in, &e)) {
			*why = "an instruction with effects not modelled comes first";
			break;
		}
		walk_apply(&w, &e);
		if (w.clobbered & argmask) {
			*why = "arguments are overwritten before any emulated instruction";
			break;
		}
	}
	memset(&w, 0, sizeof(w));
	site_fill(site, &first, &w, stack_branch);
	return -ENOENT;
}

/* The function's code as mapped from the file, bounded by its pclntab extent. */
static const uint8_t *func_code(struct elfbin *eb, const struct gosym_func *fn, size_t *len)
{
	uint64_t n = fn->end > fn->entry ? fn->end - fn->entry : 0;

	if (!n || n > FUNC_MAX_BYTES)
		return NULL;
	*len = n;
	return elfbin__vaddr_ptr(eb, fn->entry, n);
}

/* Sets *field to prefix + why, after what it already says. */
static void hook_msg(struct go_hook *h, const char **field, const char *prefix, const char *why)
{
	char buf[sizeof(h->text)];

	if (*field)
		snprintf(buf, sizeof(buf), "%s; %s%s", *field, prefix, why);
	else
		snprintf(buf, sizeof(buf), "%s%s", prefix, why);
	memcpy(h->text, buf, sizeof(buf));
	*field = h->text;
}

/*
 * newproc.func1 (proc.go@1.19:4094, @1.26:5300) is
 *	newg := newproc1(fn, gp, pc, false, waitReasonZero)
 *	pp := getg().m.p.ptr()
 *	runqput(pp, newg, true)
 * so at its CALL runqput the new g is live in RBX (runqput's second argument),
 * already initialised, and the CALL is emulated. Found by decoding, and the
 * register proved by following the moves from newproc1's RAX result.
 */
static int pick_newg_visible(const uint8_t *code, size_t len, uint64_t entry, uint64_t newproc1,
			     uint64_t runqput, struct probe_site *site, const char **why)
{
	uint64_t stack_branch = stack_check_branch(code, len, entry);
	struct walk w = { 0 };
	uint32_t holders = 0; /* registers holding newproc1's result */
	bool called = false;
	struct x86_insn in;
	struct effect e;
	size_t off = 0;

	for (int i = 0; i < NEWG_MAX_INSNS && off < len; i++, off += in.len) {
		if (x86_decode(code + off, len - off, entry + off, &in)) {
			*why = "newproc.func1 does not decode";
			return -EINVAL;
		}
		if (in.kind == X86_CALL && (uint64_t)in.target == newproc1) {
			called = true;
			holders = BIT(RAX);
			continue;
		}
		if (called && in.kind == X86_CALL && (uint64_t)in.target == runqput) {
			if (!(holders & BIT(RBX))) {
				*why = "rbx does not hold newproc1's result at the runqput call";
				return -ENOENT;
			}
			site_fill(site, &in, &w, stack_branch);
			return 0;
		}
		if (called && is_control_transfer(&in)) {
			*why = "a branch or call between newproc1 and runqput";
			return -ENOENT;
		}
		if (in.kind == X86_JCC || in.kind == X86_NOP)
			continue; /* before the call: the stack check */
		if (!insn_effect(&in, &e)) {
			if (called) {
				*why = "an instruction with effects not modelled before runqput";
				return -ENOENT;
			}
			w.sp_lost = true;
			continue;
		}
		if (e.copy_dst >= 0)
			holders = (holders & ~BIT(e.copy_dst)) |
				  ((holders & BIT(e.copy_src)) ? BIT(e.copy_dst) : 0);
		else
			holders &= ~e.writes;
		walk_apply(&w, &e);
	}
	*why = called ? "no call to runqput after newproc1" : "no call to newproc1";
	return -ENOENT;
}

/* Every RET of a function, by a linear sweep over its pclntab extent. */
static int collect_rets(struct elfbin *eb, struct go_hook *h, const uint8_t *code, size_t len)
{
	struct x86_insn in;
	size_t off = 0;

	h->nret = 0;
	while (off < len) {
		if (x86_decode(code + off, len - off, h->entry + off, &in))
			return -EINVAL;
		if (in.kind == X86_RET) {
			struct hook_ret *r = &h->ret[h->nret];

			if (h->nret == HOOK_MAX_RETS)
				return -E2BIG;
			r->addr = in.addr;
			if (elfbin__vaddr_to_off(eb, in.addr, &r->file_off))
				return -ERANGE;
			h->nret++;
		}
		off += in.len;
	}
	return 0;
}

static int lookup(struct gosym *gs, const char *name, uint64_t *entry)
{
	struct gosym_func fn;
	int err = gosym__func_by_name(gs, name, &fn);

	if (!err)
		*entry = fn.entry;
	return err;
}

static int pick_site(struct gosym *gs, struct go_hook *h, const uint8_t *code, size_t len,
		     const char **why)
{
	uint64_t newproc1, runqput;

	if (h->id != HOOK_NEWG_VISIBLE)
		return probe_site_pick(code, len, h->entry, regs_mask(h->regs), &h->site, why);
	if (lookup(gs, "runtime.newproc1", &newproc1) || lookup(gs, "runtime.runqput", &runqput)) {
		*why = "runtime.newproc1 or runtime.runqput missing";
		return -ENOENT;
	}
	return pick_newg_visible(code, len, h->entry, newproc1, runqput, &h->site, why);
}

/* Finds the function and its site; fills error/note. Only bad input is an error. */
static int resolve_one(struct elfbin *eb, struct gosym *gs, struct go_hook *h)
{
	const char *why = NULL;
	struct gosym_func fn;
	const uint8_t *code;
	size_t len = 0;
	int err;

	if (gosym__func_by_name(gs, h->symbol, &fn)) {
		if (h->expected)
			h->error = "not in the binary's function table";
		return 0;
	}
	h->present = true;
	h->entry = fn.entry;
	h->end = fn.end;
	code = func_code(eb, &fn, &len);
	if (!code) {
		h->error = "function bytes are not in the file";
		return 0;
	}
	err = pick_site(gs, h, code, len, &why);
	if (err == -EINVAL && h->id != HOOK_NEWG_VISIBLE) {
		h->error = "the entry instruction does not decode";
		return 0;
	}
	if (err && h->id == HOOK_NEWG_VISIBLE) {
		hook_msg(h, &h->error, "", why);
		return 0;
	}
	if (err)
		hook_msg(h, &h->note, "probe at the entry, single-stepped: ", why);
	if (elfbin__vaddr_to_off(eb, h->site.addr, &h->site.file_off)) {
		h->error = "site is not in an executable segment";
		return 0;
	}
	h->has_site = true;
	if (h->id == HOOK_NEWPROC1 && collect_rets(eb, h, code, len))
		h->nret = 0;
	return 0;
}

/* Remarks that depend on the release, for `leakhound info`. */
static const char *version_note(enum go_hook_id id, int minor)
{
	switch (id) {
	case HOOK_MALLOCGC:
		return minor >= 24 ? "dispatcher since 1.24: the per-kind functions sample" : NULL;
	case HOOK_GOEXIT0:
		return minor >= 22 ? "only calls gdestroy and schedule since 1.22" : NULL;
	case HOOK_NEWPROC1:
		return "on g0; rax = newg at each RET (single-stepped): prefer newg_visible";
	case HOOK_NEWG_VISIBLE:
		return "runs on g0 (systemstack): r14 is g0, not the creating goroutine";
	default:
		return NULL;
	}
}

int hooks__resolve(struct elfbin *eb, struct gosym *gs, const struct go_version *v,
		   struct go_hooks *hooks)
{
	int minor;

	if (!eb || !gs || !v || !hooks)
		return -EINVAL;
	memset(hooks, 0, sizeof(*hooks));
	/* releases past the newest known use its layout; older ones the oldest */
	minor = v->major > 1 ? GO_MAX_MINOR : v->minor;
	for (int id = 0; id < HOOK__COUNT; id++) {
		struct go_hook *h = &hooks->hook[id];
		const struct hook_def *d = &hook_defs[id];

		h->id = id;
		h->symbol = d->symbol;
		h->expected = in_range(minor, d->min_minor, d->max_minor);
		h->regs = regs_for(id, minor);
		h->note = version_note(id, minor);
		resolve_one(eb, gs, h);
	}
	return 0;
}

static void site_text(const struct go_hook *h, char *buf, size_t size)
{
	if (h->has_site)
		snprintf(buf, size, "+%#llx", (unsigned long long)(h->site.addr - h->entry));
	else
		snprintf(buf, size, "-");
}

static void print_one(const struct go_hook *h, FILE *out)
{
	char site[24], insn[64] = "", foff[24] = "-";

	site_text(h, site, sizeof(site));
	if (h->has_site) {
		x86_insn_format(&h->site.insn, insn, sizeof(insn));
		snprintf(foff, sizeof(foff), "%#llx", (unsigned long long)h->site.file_off);
	}
	fprintf(out, "%-29s %-36s %-7s %-9s %-22s %-4s %-4s ", hook_name(h->id), h->symbol, site,
		foff, h->has_site ? insn : "-",
		h->has_site ? (h->site.emulated ? "yes" : "NO") : "-",
		h->has_site ? (h->site.may_repeat ? "yes" : "no") : "-");
	if (!h->present)
		fprintf(out, "%s", h->expected ? h->error : "(not in this release)");
	else if (h->error)
		fprintf(out, "error: %s", h->error);
	else
		fprintf(out, "%s%s%s", *h->regs ? h->regs : "no arguments", h->note ? "; " : "",
			h->note ? h->note : "");
	if (h->present && !h->expected)
		fprintf(out, " (present, not used in this release)");
	fputc('\n', out);
}

void hooks__print(const struct go_hooks *hooks, FILE *out)
{
	fprintf(out, "%-29s %-36s %-7s %-9s %-22s %-4s %-4s %s\n", "HOOK", "SYMBOL", "SITE",
		"FILE-OFF", "INSTRUCTION", "EMU", "REP", "REGISTERS / NOTES");
	for (int id = 0; id < HOOK__COUNT; id++)
		print_one(&hooks->hook[id], out);
}

static cJSON *hex_string(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)v);
	return cJSON_CreateString(buf);
}

static bool add_site(cJSON *o, const struct go_hook *h)
{
	char insn[64], bytes[3 * 15 + 1] = "";
	size_t n = 0;

	x86_insn_format(&h->site.insn, insn, sizeof(insn));
	for (int i = 0; i < h->site.insn.len && n + 3 < sizeof(bytes); i++)
		n += snprintf(bytes + n, sizeof(bytes) - n, i ? " %02x" : "%02x",
			      h->site.insn.bytes[i]);
	return cJSON_AddItemToObject(o, "address", hex_string(h->site.addr)) &&
	       cJSON_AddNumberToObject(o, "offset", (double)(h->site.addr - h->entry)) &&
	       cJSON_AddItemToObject(o, "file_offset", hex_string(h->site.file_off)) &&
	       cJSON_AddStringToObject(o, "instruction", insn) &&
	       cJSON_AddStringToObject(o, "bytes", bytes) &&
	       cJSON_AddBoolToObject(o, "emulated", h->site.emulated) &&
	       cJSON_AddBoolToObject(o, "may_repeat", h->site.may_repeat) &&
	       cJSON_AddBoolToObject(o, "frame_set", h->site.frame_set) &&
	       cJSON_AddNumberToObject(o, "ra_sp_offset", h->site.ra_sp_off);
}

static bool add_rets(cJSON *o, const struct go_hook *h)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "rets");

	for (int i = 0; arr && i < h->nret; i++) {
		cJSON *r = cJSON_CreateObject();

		if (!r || !cJSON_AddItemToArray(arr, r) ||
		    !cJSON_AddItemToObject(r, "address", hex_string(h->ret[i].addr)) ||
		    !cJSON_AddItemToObject(r, "file_offset", hex_string(h->ret[i].file_off)))
			return false;
	}
	return arr != NULL;
}

static bool add_hook(cJSON *arr, const struct go_hook *h)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddItemToArray(arr, o))
		return false;
	if (!cJSON_AddStringToObject(o, "name", hook_name(h->id)) ||
	    !cJSON_AddStringToObject(o, "symbol", h->symbol) ||
	    !cJSON_AddBoolToObject(o, "present", h->present) ||
	    !cJSON_AddBoolToObject(o, "expected", h->expected) ||
	    !cJSON_AddStringToObject(o, "regs", h->regs) ||
	    !(h->error ? cJSON_AddStringToObject(o, "error", h->error)
		       : cJSON_AddNullToObject(o, "error")) ||
	    !(h->note ? cJSON_AddStringToObject(o, "note", h->note)
		      : cJSON_AddNullToObject(o, "note")))
		return false;
	if (h->present && !cJSON_AddItemToObject(o, "entry", hex_string(h->entry)))
		return false;
	if (h->has_site && !add_site(o, h))
		return false;
	if (h->id == HOOK_NEWPROC1 && h->present && !add_rets(o, h))
		return false;
	return true;
}

int hooks__to_json(const struct go_hooks *hooks, struct cJSON *obj)
{
	cJSON *arr;

	if (!hooks || !obj)
		return -EINVAL;
	arr = cJSON_AddArrayToObject(obj, "hooks");
	if (!arr)
		return -ENOMEM;
	for (int id = 0; id < HOOK__COUNT; id++)
		if (!add_hook(arr, &hooks->hook[id]))
			return -ENOMEM;
	return 0;
}
