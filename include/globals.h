/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_GLOBALS_H
#define LEAKHOUND_GLOBALS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buildinfo.h"

struct elfbin;
struct gosym;
struct cJSON;

/* Runtime globals the tracers read (STRIPPED-GLOBALS.md). */
enum go_global_id {
	GLOBAL_MEMPROFILERATE,
	GLOBAL_DISABLE_MEMPROF,
	GLOBAL_MBUCKETS,
	GLOBAL_BUCKHASH,
	GLOBAL_MPROFCYCLE,
	GLOBAL_ALLGS,
	GLOBAL_ALLGLEN,
	GLOBAL_ALLGPTR,
	GLOBAL_MEMSTATS,
	GLOBAL_GCCONTROLLER,
	GLOBAL_FIRSTMODULEDATA,
	GLOBAL_WAITREASONSTRINGS,
	GLOBAL_RUNTIME_TEXT,
	GLOBAL__COUNT,
};

struct go_global {
	const char *name;	/* "runtime.mbuckets" */
	bool found;
	uint64_t addr;		/* link-time address */
	uint64_t aux;		/* waitReasonStrings: element count; else 0 */
	const char *how;	/* "symbol", "runtime.mProf_FlushLocked", ... */
	bool cross_checked;	/* a second site or a file value agreed */
	const char *error;	/* why not found */
};

struct go_globals {
	struct go_global global[GLOBAL__COUNT];
};

/*
 * From .symtab when present, else by matching RIP-relative references in known runtime
 * functions (STRIPPED-GLOBALS.md); -errno on bad input. A global the recipe cannot pin
 * down exactly has found = false and an error; gs may be NULL (symbols only). With
 * symbols, cross_checked says whether the recipe found the same address. v may be NULL
 * (the recipe then tries every per-version form).
 */
int globals__resolve(struct elfbin *eb, struct gosym *gs, const struct go_version *v,
		     struct go_globals *globals);
/* The recipe alone, .symtab ignored: for tests and for checking the recipe on a binary. */
int globals__resolve_nosym(struct elfbin *eb, struct gosym *gs, const struct go_version *v,
			   struct go_globals *globals);
/* Name of a global ("runtime.mbuckets"), NULL for an id out of range. */
const char *globals__name(enum go_global_id id);
void globals__print(const struct go_globals *globals, FILE *out);
/*
 * Adds "globals": {name: {addr, found, how, cross_checked, aux, error}} to obj: addr a
 * "0x..." string (null when not found), how null when not found, error null when found.
 */
int globals__to_json(const struct go_globals *globals, struct cJSON *obj);

#endif
