// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Runtime struct offsets and constants: from the binary's own DWARF when it has
 * any, else from the per-version table below (GO-RUNTIME.md §9), which
 * tests/integration/offsets.sh checks against the DWARF of real binaries.
 */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dwarf.h"
#include "elfbin.h"
#include "goffsets.h"

#define NVER (GO_MAX_MINOR - GO_MIN_MINOR + 1)
#define NA (-1)
#define MAX_SANE_OFFSET (16 << 20)

enum spec_kind { K_MEMBER, K_SIZE, K_CONST };

struct spec {
	const char *name;
	enum spec_kind kind;
	const char *type;	/* K_MEMBER, K_SIZE */
	const char *path;	/* K_MEMBER: member path; K_CONST: constant name */
	int32_t table[NVER];	/* go1.19 ... go1.26, amd64 (arm64 is the same for these) */
};

#define MEMBER(t, p) .name = t "." p, .kind = K_MEMBER, .type = t, .path = p
#define SIZEOF(t) .name = "sizeof(" t ")", .kind = K_SIZE, .type = t
#define CONSTANT(c) .name = c, .kind = K_CONST, .path = c

/*
 * The data. Columns are go1.19 .. go1.26, checked against the DWARF of binaries built
 * by 1.19.8, 1.20 and 1.20.14, 1.21.0 and 1.21.13, 1.22.0 and 1.22.12, 1.23.0 and
 * 1.23.12, 1.24.0 and 1.24.13, 1.25.0 and 1.25.5, 1.26.0 and 1.26.8, amd64 and arm64
 * (tests/integration/offsets.sh, OFFSETS_ALL_RELEASES=1). The layout changes behind
 * the columns, as the DWARF shows them:
 *   g, gobuf, m: runtime/runtime2.go. 1.21 took the trace fields out of the middle of
 *     g and added parentGoid before gopc; 1.23 added g.syscallbp after syscallpc; 1.25
 *     dropped gobuf.ret (g.sched and m.morebuf shrink by 8) and added
 *     g.runningCleanups; 1.26 added g.secret.
 *   mcache: runtime/mcache.go. 1.24 made nextSample an int64 and added memProfRate.
 *   special, specialprofile: runtime/mheap.go. 1.24 widened special.offset from
 *     uint16 to uintptr.
 *   bucket: runtime/mprof.go; the stack follows the header (bucket.stk()).
 *   mstats, consistentHeapStats, heapStatsDelta: runtime/mstats.go. 1.25 dropped
 *     heapStatsDelta.inPtrScalarBits (-8 per slot of the 3-slot ring).
 *   gcControllerState: runtime/mgcpacer.go. 1.20 replaced consMarkController by
 *     lastConsMark; 1.21 made lastConsMark a [4]float64.
 *   moduledata: runtime/symtab.go. 1.20 added covctrs/ecovctrs before end.
 *   _KindSpecialProfile: runtime/mheap.go, renumbered in 1.23 and 1.25;
 *   _Gdead: runtime/runtime2.go.
 */
static const struct spec specs[OFF__COUNT] = {
	[OFF_G_STACK_LO] = { MEMBER("runtime.g", "stack.lo"),
		.table = { 0, 0, 0, 0, 0, 0, 0, 0 } },
	[OFF_G_STACK_HI] = { MEMBER("runtime.g", "stack.hi"),
		.table = { 8, 8, 8, 8, 8, 8, 8, 8 } },
	[OFF_G_M] = { MEMBER("runtime.g", "m"),
		.table = { 48, 48, 48, 48, 48, 48, 48, 48 } },
	[OFF_G_SCHED_SP] = { MEMBER("runtime.g", "sched.sp"),
		.table = { 56, 56, 56, 56, 56, 56, 56, 56 } },
	[OFF_G_SCHED_PC] = { MEMBER("runtime.g", "sched.pc"),
		.table = { 64, 64, 64, 64, 64, 64, 64, 64 } },
	[OFF_G_SCHED_BP] = { MEMBER("runtime.g", "sched.bp"),
		.table = { 104, 104, 104, 104, 104, 104, 96, 96 } },
	[OFF_G_ATOMICSTATUS] = { MEMBER("runtime.g", "atomicstatus"),
		.table = { 144, 144, 144, 144, 152, 152, 144, 144 } },
	[OFF_G_GOID] = { MEMBER("runtime.g", "goid"),
		.table = { 152, 152, 152, 152, 160, 160, 152, 152 } },
	[OFF_G_WAITSINCE] = { MEMBER("runtime.g", "waitsince"),
		.table = { 168, 168, 168, 168, 176, 176, 168, 168 } },
	[OFF_G_WAITREASON] = { MEMBER("runtime.g", "waitreason"),
		.table = { 176, 176, 176, 176, 184, 184, 176, 176 } },
	[OFF_G_PARENTGOID] = { MEMBER("runtime.g", "parentGoid"),
		.table = { NA, NA, 272, 272, 280, 280, 272, 280 } },
	[OFF_G_GOPC] = { MEMBER("runtime.g", "gopc"),
		.table = { 296, 296, 280, 280, 288, 288, 280, 288 } },
	[OFF_G_ANCESTORS] = { MEMBER("runtime.g", "ancestors"),
		.table = { 304, 304, 288, 288, 296, 296, 288, 296 } },
	[OFF_G_STARTPC] = { MEMBER("runtime.g", "startpc"),
		.table = { 312, 312, 296, 296, 304, 304, 296, 304 } },
	[OFF_G_LABELS] = { MEMBER("runtime.g", "labels"),
		.table = { 360, 360, 344, 344, 352, 352, 344, 352 } },
	[OFF_G_SIZE] = { SIZEOF("runtime.g"),
		.table = { 392, 392, 408, 424, 432, 440, 440, 456 } },
	[OFF_M_CURG] = { MEMBER("runtime.m", "curg"),
		.table = { 192, 192, 192, 192, 192, 192, 184, 184 } },
	[OFF_M_PROCID] = { MEMBER("runtime.m", "procid"),
		.table = { 72, 72, 72, 72, 72, 72, 64, 64 } },
	[OFF_MCACHE_NEXTSAMPLE] = { MEMBER("runtime.mcache", "nextSample"),
		.table = { 0, 0, 0, 0, 0, 0, 0, 0 } },
	[OFF_MCACHE_MEMPROFRATE] = { MEMBER("runtime.mcache", "memProfRate"),
		.table = { NA, NA, NA, NA, NA, 8, 8, 8 } },
	[OFF_SPECIAL_KIND] = { MEMBER("runtime.special", "kind"),
		.table = { 10, 10, 10, 10, 10, 16, 16, 16 } },
	[OFF_SPECIAL_SIZE] = { SIZEOF("runtime.special"),
		.table = { 16, 16, 16, 16, 16, 24, 24, 24 } },
	[OFF_SPECIALPROFILE_B] = { MEMBER("runtime.specialprofile", "b"),
		.table = { 16, 16, 16, 16, 16, 24, 24, 24 } },
	[OFF_BUCKET_NSTK] = { MEMBER("runtime.bucket", "nstk"),
		.table = { 40, 40, 40, 40, 40, 40, 40, 40 } },
	[OFF_BUCKET_SIZE] = { SIZEOF("runtime.bucket"),
		.table = { 48, 48, 48, 48, 48, 48, 48, 48 } },
	[OFF_MSTATS_NUMGC] = { MEMBER("runtime.mstats", "numgc"),
		.table = { 7704, 7704, 7704, 7704, 7704, 7704, 7680, 7680 } },
	[OFF_MSTATS_ENABLEGC] = { MEMBER("runtime.mstats", "enablegc"),
		.table = { 7736, 7736, 7736, 7736, 7736, 7736, 8256, 10432 } },
	[OFF_MSTATS_STACKS_SYS] = { MEMBER("runtime.mstats", "stacks_sys"),
		.table = { 3544, 3544, 3544, 3544, 3544, 3544, 3520, 3520 } },
	[OFF_MSTATS_MSPAN_SYS] = { MEMBER("runtime.mstats", "mspan_sys"),
		.table = { 3552, 3552, 3552, 3552, 3552, 3552, 3528, 3528 } },
	[OFF_MSTATS_MCACHE_SYS] = { MEMBER("runtime.mstats", "mcache_sys"),
		.table = { 3560, 3560, 3560, 3560, 3560, 3560, 3536, 3536 } },
	[OFF_MSTATS_BUCKHASH_SYS] = { MEMBER("runtime.mstats", "buckhash_sys"),
		.table = { 3568, 3568, 3568, 3568, 3568, 3568, 3544, 3544 } },
	[OFF_MSTATS_GCMISCSYS] = { MEMBER("runtime.mstats", "gcMiscSys"),
		.table = { 3576, 3576, 3576, 3576, 3576, 3576, 3552, 3552 } },
	[OFF_MSTATS_OTHER_SYS] = { MEMBER("runtime.mstats", "other_sys"),
		.table = { 3584, 3584, 3584, 3584, 3584, 3584, 3560, 3560 } },
	[OFF_MSTATS_HEAPSTATS_STATS] = { MEMBER("runtime.mstats", "heapStats.stats"),
		.table = { 0, 0, 0, 0, 0, 0, 0, 0 } },
	[OFF_MSTATS_HEAPSTATS_GEN] = { MEMBER("runtime.mstats", "heapStats.gen"),
		.table = { 3528, 3528, 3528, 3528, 3528, 3528, 3504, 3504 } },
	[OFF_HEAPSTATSDELTA_INSTACKS] = { MEMBER("runtime.heapStatsDelta", "inStacks"),
		.table = { 24, 24, 24, 24, 24, 24, 24, 24 } },
	[OFF_HEAPSTATSDELTA_INWORKBUFS] = { MEMBER("runtime.heapStatsDelta", "inWorkBufs"),
		.table = { 32, 32, 32, 32, 32, 32, 32, 32 } },
	[OFF_HEAPSTATSDELTA_SIZE] = { SIZEOF("runtime.heapStatsDelta"),
		.table = { 1176, 1176, 1176, 1176, 1176, 1176, 1168, 1168 } },
	[OFF_GCC_HEAPINUSE] = { MEMBER("runtime.gcControllerState", "heapInUse"),
		.table = { 304, 248, 272, 272, 272, 272, 272, 272 } },
	[OFF_GCC_HEAPFREE] = { MEMBER("runtime.gcControllerState", "heapFree"),
		.table = { 320, 264, 288, 288, 288, 288, 288, 288 } },
	[OFF_GCC_HEAPRELEASED] = { MEMBER("runtime.gcControllerState", "heapReleased"),
		.table = { 312, 256, 280, 280, 280, 280, 280, 280 } },
	[OFF_GCC_HEAPLIVE] = { MEMBER("runtime.gcControllerState", "heapLive"),
		.table = { 136, 80, 104, 104, 104, 104, 104, 104 } },
	[OFF_GCC_HEAPMARKED] = { MEMBER("runtime.gcControllerState", "heapMarked"),
		.table = { 184, 128, 152, 152, 152, 152, 152, 152 } },
	[OFF_GCC_LASTHEAPGOAL] = { MEMBER("runtime.gcControllerState", "lastHeapGoal"),
		.table = { 128, 72, 96, 96, 96, 96, 96, 96 } },
	[OFF_GCC_TOTALALLOC] = { MEMBER("runtime.gcControllerState", "totalAlloc"),
		.table = { 328, 272, 296, 296, 296, 296, 296, 296 } },
	[OFF_GCC_TOTALFREE] = { MEMBER("runtime.gcControllerState", "totalFree"),
		.table = { 336, 280, 304, 304, 304, 304, 304, 304 } },
	/* atomic.Uint64 (1.19+): the value is its only non-empty member, at +0 */
	[OFF_GCC_GCPERCENTHEAPGOAL] = { MEMBER("runtime.gcControllerState", "gcPercentHeapGoal"),
		.table = { 104, 48, 72, 72, 72, 72, 72, 72 } },
	[OFF_GCC_MEMORYLIMIT] = { MEMBER("runtime.gcControllerState", "memoryLimit"),
		.table = { 8, 8, 8, 8, 8, 8, 8, 8 } },
	[OFF_MODULEDATA_TEXT] = { MEMBER("runtime.moduledata", "text"),
		.table = { 176, 176, 176, 176, 176, 176, 176, 176 } },
	[OFF_MODULEDATA_GOFUNC] = { MEMBER("runtime.moduledata", "gofunc"),
		.table = { 304, 320, 320, 320, 320, 320, 320, 320 } },
	[CONST_KIND_SPECIAL_PROFILE] = { CONSTANT("runtime._KindSpecialProfile"),
		.table = { 2, 2, 2, 2, 3, 3, 4, 4 } },
	[CONST_GDEAD] = { CONSTANT("runtime._Gdead"),
		.table = { 6, 6, 6, 6, 6, 6, 6, 6 } },
};

/* Static so that go_offsets.source needs no storage of its own. */
static const char *const table_src[NVER] = {
	"table go1.19", "table go1.20", "table go1.21", "table go1.22",
	"table go1.23", "table go1.24", "table go1.25", "table go1.26",
};
static const char *const mixed_src[NVER] = {
	"dwarf+table go1.19", "dwarf+table go1.20", "dwarf+table go1.21", "dwarf+table go1.22",
	"dwarf+table go1.23", "dwarf+table go1.24", "dwarf+table go1.25", "dwarf+table go1.26",
};

const char *goff_name(enum go_off_id id)
{
	return (unsigned)id < OFF__COUNT ? specs[id].name : NULL;
}

int goff_dwarf_where(enum go_off_id id, const char **type, const char **path)
{
	if ((unsigned)id >= OFF__COUNT)
		return -EINVAL;
	*type = specs[id].type;
	*path = specs[id].path;
	return 0;
}

static void offsets_clear(struct go_offsets *off)
{
	for (int i = 0; i < OFF__COUNT; i++) {
		off->val[i] = -1;
		off->from_dwarf[i] = false;
	}
	off->source = "none";
}

/* Column of a version in the table, or -1 when the table has no such release. */
static int table_col(const struct go_version *v)
{
	if (!v || v->major != 1 || v->minor < GO_MIN_MINOR || v->minor > GO_MAX_MINOR)
		return -1;
	return v->minor - GO_MIN_MINOR;
}

int goffsets__from_table(const struct go_version *v, struct go_offsets *off)
{
	int col = table_col(v);

	offsets_clear(off);
	if (col < 0)
		return -ENOTSUP;
	for (int i = 0; i < OFF__COUNT; i++)
		off->val[i] = specs[i].table[col];
	off->source = table_src[col];
	return 0;
}

/* Indexes every type and constant the specs name, in one pass. */
static int dwarf_index_specs(struct dwarf *dw)
{
	const char *names[OFF__COUNT];
	size_t n = 0;

	for (int i = 0; i < OFF__COUNT; i++)
		names[n++] = specs[i].kind == K_CONST ? specs[i].path : specs[i].type;
	/* dwarf__index drops duplicates. */
	return dwarf__index(dw, names, n);
}

/*
 * One entry from DWARF. A type that DWARF has but without the member decides the
 * entry as absent (-1): the field does not exist in this binary's runtime.
 */
static int dwarf_entry(struct dwarf *dw, const struct spec *sp, int64_t *val, bool *decided)
{
	uint64_t u = 0, size;
	int err;

	*decided = false;
	switch (sp->kind) {
	case K_CONST:
		err = dwarf__constant(dw, sp->path, val);
		break;
	case K_SIZE:
		err = dwarf__byte_size(dw, sp->type, &u);
		*val = (int64_t)u;
		break;
	default:
		err = dwarf__member_offset(dw, sp->type, sp->path, &u);
		*val = (int64_t)u;
		if (err == -ENOENT && !dwarf__byte_size(dw, sp->type, &size)) {
			*val = -1;
			err = 0;
		}
	}
	/*
	 * No runtime struct comes near 16 MiB (the largest, p, is 15920 bytes in 1.26):
	 * a bigger value is corrupt DWARF, and the table gets the entry instead.
	 */
	if (!err && sp->kind != K_CONST && (*val < -1 || *val > MAX_SANE_OFFSET))
		err = -ENOENT;
	*decided = !err;
	/* Corrupt DWARF around one entry leaves that entry to the table. */
	return err == -ENOMEM ? err : 0;
}

static int offsets_from(struct dwarf *dw, struct go_offsets *off)
{
	int err, found = 0;

	err = dwarf_index_specs(dw);
	if (err)
		return err;
	for (int i = 0; i < OFF__COUNT; i++) {
		int64_t val = -1;
		bool decided;

		err = dwarf_entry(dw, &specs[i], &val, &decided);
		if (err)
			return err;
		if (decided) {
			off->val[i] = val;
			off->from_dwarf[i] = true;
			found++;
		}
	}
	off->source = "dwarf";
	return found ? 0 : -ENOENT;
}

int goffsets__from_dwarf(struct elfbin *eb, struct go_offsets *off)
{
	struct dwarf *dw;
	int err;

	offsets_clear(off);
	dw = dwarf__open(eb);
	if (!dw)
		return -errno;
	err = offsets_from(dw, off);
	dwarf__free(dw);
	if (err)
		offsets_clear(off);
	return err;
}

int goffsets__resolve(struct elfbin *eb, const struct go_version *v, struct go_offsets *off)
{
	struct go_offsets tab;
	int derr, terr, col = table_col(v);
	bool used_table = false;

	derr = eb ? goffsets__from_dwarf(eb, off) : -ENOENT;
	terr = goffsets__from_table(v, &tab);
	if (derr && terr)
		return terr;
	if (derr) {
		*off = tab;
		return 0;
	}
	for (int i = 0; i < OFF__COUNT && !terr; i++) {
		if (off->from_dwarf[i])
			continue;
		off->val[i] = tab.val[i];
		used_table = true;
	}
	off->source = used_table ? mixed_src[col] : "dwarf";
	return 0;
}

static const char *entry_source(const struct go_offsets *off, int i)
{
	if (off->from_dwarf[i])
		return "dwarf";
	return off->source && strstr(off->source, "table") ? "table" : "-";
}

void goffsets__print(const struct go_offsets *off, FILE *out)
{
	fprintf(out, "runtime offsets (%s):\n", off->source ? off->source : "none");
	for (int i = 0; i < OFF__COUNT; i++) {
		if (off->val[i] < 0)
			fprintf(out, "  %-40s %8s  %s\n", specs[i].name, "-", entry_source(off, i));
		else
			fprintf(out, "  %-40s %8lld  %s\n", specs[i].name, (long long)off->val[i],
				entry_source(off, i));
	}
}

int goffsets__to_json(const struct go_offsets *off, struct cJSON *obj)
{
	const char *source = off->source ? off->source : "none";
	cJSON *o = cJSON_AddObjectToObject(obj, "offsets");

	if (!o || !cJSON_AddStringToObject(obj, "offsets_source", source))
		return -ENOMEM;
	for (int i = 0; i < OFF__COUNT; i++) {
		cJSON *v = off->val[i] < 0 ? cJSON_CreateNull() : cJSON_CreateNumber(off->val[i]);

		if (!v || !cJSON_AddItemToObject(o, specs[i].name, v)) {
			cJSON_Delete(v);
			return -ENOMEM;
		}
	}
	return 0;
}
