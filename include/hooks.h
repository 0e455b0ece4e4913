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
};

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

#endif
