/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_HOOKS_H
#define LEAKHOUND_HOOKS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buildinfo.h"
#include "x86dec.h"

struct elfbin;
struct gosym;
struct cJSON;

/* Runtime functions the tracers probe (DESIGN.md §3-§4, GO-RUNTIME.md §1, §3, §7). */
enum go_hook_id {
	HOOK_MALLOCGC,
	HOOK_MALLOCGC_TINY,		/* 1.24+ per-kind variants */
	HOOK_MALLOCGC_SMALL_NOSCAN,
	HOOK_MALLOCGC_SMALL_SCAN_NOHEADER,
	HOOK_MALLOCGC_SMALL_SCAN_HEADER,
	HOOK_MALLOCGC_LARGE,
	HOOK_PROFILEALLOC,
	HOOK_MPROF_MALLOC,
	HOOK_SETPROFILEBUCKET,
	HOOK_FREESPECIAL,
	HOOK_NEWPROC,
	HOOK_NEWPROC1,
	HOOK_NEWG_VISIBLE,	/* in newproc.func1: the call after newproc1 returns, new g live */
	HOOK_MALG,
	HOOK_GOEXIT0,		/* goroutine exit up to 1.21 */
	HOOK_GDESTROY,		/* goroutine exit from 1.22 */
	HOOK_GC_MARK_TERMINATION,
	HOOK_MPROF_FLUSH,	/* heap profile now reflects the finished mark */
	HOOK__COUNT,
};

/* A place to attach a uprobe, chosen by decoding: never inside an instruction. */
struct probe_site {
	uint64_t addr;		/* link-time address */
	uint64_t file_off;	/* what uprobes take */
	struct x86_insn insn;	/* the instruction there */
	bool emulated;		/* the kernel emulates it: no single-step trap */
	bool may_repeat;	/* can run twice per call (before morestack's re-entry) */
	bool frame_set;		/* rbp already points at this function's own frame */
	int32_t ra_sp_off;	/* the return address is at [rsp + ra_sp_off]; -1: unknown */
};

/* A RET of a function (its result registers are live there); single-stepped. */
struct hook_ret {
	uint64_t addr;
	uint64_t file_off;
};

#define HOOK_MAX_RETS 16

struct go_hook {
	enum go_hook_id id;
	const char *symbol;	/* "runtime.profilealloc" */
	bool expected;		/* this Go version has the function */
	bool present;		/* found in pclntab */
	uint64_t entry;
	uint64_t end;
	bool has_site;
	struct probe_site site;
	const char *regs;	/* argument registers at the site, e.g. "rax=mp rbx=x rcx=size" */
	const char *error;	/* why no site, when expected but has_site is false */
	const char *note;	/* how the site was chosen, or a per-version remark; NULL if none */
	int nret;		/* HOOK_NEWPROC1: its RETs (rax = new g), a fallback for NEWG_VISIBLE */
	struct hook_ret ret[HOOK_MAX_RETS];
	char text[128];		/* storage for a formatted error or note */
};

struct go_hooks {
	struct go_hook hook[HOOK__COUNT];
};

/* Fills every hook; a hook missing from the binary is recorded, not an error. -errno on bad input. */
int hooks__resolve(struct elfbin *eb, struct gosym *gs, const struct go_version *v,
		   struct go_hooks *hooks);
const char *hook_name(enum go_hook_id id);
void hooks__print(const struct go_hooks *hooks, FILE *out);
/* Adds an array of hook objects under key "hooks". */
int hooks__to_json(const struct go_hooks *hooks, struct cJSON *obj);

/*
 * Chooses where to probe a function whose code is code[0..len) at link-time
 * address entry: the first instruction on the straight-line path from entry
 * that the kernel emulates, while no register in argmask (bit n = GPR n,
 * rax = 0 ... r15 = 15) has been written. Works on Go and C prologues alike
 * (Go's stack check, glibc's "test rdi,rdi; je"). Returns 0 with such a site;
 * -ENOENT with site = entry (single-stepped) and *why saying what stopped the
 * search; -EINVAL when the entry does not decode. file_off is left 0.
 */
int probe_site_pick(const uint8_t *code, size_t len, uint64_t entry, uint32_t argmask,
		    struct probe_site *site, const char **why);
/* Registers named in a regs string ("rax=mp rbx=x cl=needzero") as a GPR bit mask. */
uint32_t regs_mask(const char *regs);

#endif
