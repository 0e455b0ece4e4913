// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Runtime globals the tracers read (heap profile, goroutines, memory statistics): from
 * .symtab when the binary has one, else by the recipe of STRIPPED-GLOBALS.md
 * (globals_recipe.c). Addresses are link-time; readers add the load bias.
 */
#include <cjson/cJSON.h>
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "elfbin.h"
#include "globals.h"
#include "globals_int.h"
#include "gosym.h"

static const char *const global_names[GLOBAL__COUNT] = {
	[GLOBAL_MEMPROFILERATE] = "runtime.MemProfileRate",
	[GLOBAL_DISABLE_MEMPROF] = "runtime.disableMemoryProfiling",
	[GLOBAL_MBUCKETS] = "runtime.mbuckets",
	[GLOBAL_BUCKHASH] = "runtime.buckhash",
	[GLOBAL_MPROFCYCLE] = "runtime.mProfCycle",
	[GLOBAL_ALLGS] = "runtime.allgs",
	[GLOBAL_ALLGLEN] = "runtime.allglen",
	[GLOBAL_ALLGPTR] = "runtime.allgptr",
	[GLOBAL_MEMSTATS] = "runtime.memstats",
	[GLOBAL_GCCONTROLLER] = "runtime.gcController",
	[GLOBAL_FIRSTMODULEDATA] = "runtime.firstmoduledata",
	[GLOBAL_WAITREASONSTRINGS] = "runtime.waitReasonStrings",
	[GLOBAL_RUNTIME_TEXT] = "runtime.text",
};

/* sizeof(string) on 64-bit targets: waitReasonStrings' element. */
#define GO_STRING_SIZE 16

const char *globals__name(enum go_global_id id)
{
	return (unsigned)id < GLOBAL__COUNT ? global_names[id] : NULL;
}

static void globals_init(struct go_globals *gg)
{
	memset(gg, 0, sizeof(*gg));
	for (int i = 0; i < GLOBAL__COUNT; i++) {
		gg->global[i].name = global_names[i];
		gg->global[i].error = "not searched";
	}
}

int globals__resolve_nosym(struct elfbin *eb, struct gosym *gs, const struct go_version *v,
			   struct go_globals *gg)
{
	const struct gosym_info *info;
	struct glb_ctx c = {
		.eb = eb,
		.gs = gs,
		.v = v,
	};

	if (!eb || !gg)
		return -EINVAL;
	globals_init(gg);
	if (!gs) {
		for (int i = 0; i < GLOBAL__COUNT; i++)
			gg->global[i].error = "no pclntab";
		return 0;
	}
	if (elfbin__machine(eb) != EM_X86_64) {
		/* the arm64 forms (ADRP+ADD/LDR, STRIPPED-GLOBALS.md §7) are not implemented */
		for (int i = 0; i < GLOBAL__COUNT; i++)
			gg->global[i].error = "the recipe is implemented for amd64 only";
		return 0;
	}
	info = gosym__info(gs);
	c.pclntab = info->pclntab;
	c.text = info->text;
	c.etext = info->etext;
	glb_recipe(&c, gg);
	return 0;
}

/* Fills one global from .symtab; the recipe's answer in *g decides cross_checked. */
static void from_symbol(struct elfbin *eb, struct go_global *g, enum go_global_id id)
{
	uint64_t addr, size;
	bool agree;

	if (elfbin__symbol(eb, g->name, &addr, &size))
		return; /* keep what the recipe found, or its error */
	agree = g->found && g->addr == addr;
	if (id == GLOBAL_WAITREASONSTRINGS)
		g->aux = size ? size / GO_STRING_SIZE : agree ? g->aux : 0;
	g->found = true;
	g->addr = addr;
	g->how = "symbol";
	g->cross_checked = agree;
	g->error = NULL;
}

int globals__resolve(struct elfbin *eb, struct gosym *gs, const struct go_version *v,
		     struct go_globals *gg)
{
	int err;

	err = globals__resolve_nosym(eb, gs, v, gg);
	if (err || !elfbin__has_symtab(eb))
		return err;
	for (int i = 0; i < GLOBAL__COUNT; i++)
		from_symbol(eb, &gg->global[i], i);
	return 0;
}

void globals__print(const struct go_globals *gg, FILE *out)
{
	for (int i = 0; i < GLOBAL__COUNT; i++) {
		const struct go_global *g = &gg->global[i];

		if (!g->found) {
			fprintf(out, "  %-32s not found: %s\n", g->name, g->error ? g->error : "?");
			continue;
		}
		fprintf(out, "  %-32s 0x%-10" PRIx64 " %s%s", g->name, g->addr, g->how,
			g->cross_checked ? " (cross-checked)" : "");
		if (i == GLOBAL_WAITREASONSTRINGS)
			fprintf(out, " len=%" PRIu64, g->aux);
		fputc('\n', out);
	}
}

static cJSON *global_json(const struct go_global *g)
{
	cJSON *o = cJSON_CreateObject();
	char addr[24];

	if (!o)
		return NULL;
	snprintf(addr, sizeof(addr), "0x%" PRIx64, g->addr);
	if (!(g->found ? cJSON_AddStringToObject(o, "addr", addr) :
			 cJSON_AddNullToObject(o, "addr")) ||
	    !cJSON_AddBoolToObject(o, "found", g->found) ||
	    !(g->how && g->found ? cJSON_AddStringToObject(o, "how", g->how) :
				   cJSON_AddNullToObject(o, "how")) ||
	    !cJSON_AddBoolToObject(o, "cross_checked", g->cross_checked) ||
	    !cJSON_AddNumberToObject(o, "aux", (double)g->aux) ||
	    !(g->error && !g->found ? cJSON_AddStringToObject(o, "error", g->error) :
				      cJSON_AddNullToObject(o, "error"))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int globals__to_json(const struct go_globals *gg, struct cJSON *obj)
{
	cJSON *all, *one;

	if (!gg || !obj)
		return -EINVAL;
	all = cJSON_AddObjectToObject(obj, "globals");
	if (!all)
		return -ENOMEM;
	for (int i = 0; i < GLOBAL__COUNT; i++) {
		one = global_json(&gg->global[i]);
		if (!one)
			return -ENOMEM;
		cJSON_AddItemToObject(all, gg->global[i].name, one);
	}
	return 0;
}
