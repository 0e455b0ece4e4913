/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_GOFFSETS_H
#define LEAKHOUND_GOFFSETS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buildinfo.h"

struct elfbin;
struct cJSON;

/*
 * Runtime struct field offsets and constants the tracers need. From the binary's
 * DWARF when it has any, else from per-version tables (GO-RUNTIME.md §9) that the
 * tests check against DWARF for every supported release.
 */
enum go_off_id {
	OFF_G_STACK_LO,
	OFF_G_STACK_HI,
	OFF_G_M,
	OFF_G_SCHED_SP,
	OFF_G_SCHED_PC,
	OFF_G_SCHED_BP,
	OFF_G_ATOMICSTATUS,
	OFF_G_GOID,
	OFF_G_WAITSINCE,
	OFF_G_WAITREASON,
	OFF_G_PARENTGOID,	/* 1.21+ */
	OFF_G_GOPC,
	OFF_G_ANCESTORS,
	OFF_G_STARTPC,
	OFF_G_LABELS,
	OFF_G_SIZE,
	OFF_M_CURG,
	OFF_M_PROCID,
	OFF_MCACHE_NEXTSAMPLE,
	OFF_MCACHE_MEMPROFRATE,	/* 1.24+ */
	OFF_SPECIAL_KIND,
	OFF_SPECIAL_SIZE,
	OFF_SPECIALPROFILE_B,
	OFF_BUCKET_NSTK,
	OFF_BUCKET_SIZE,	/* sizeof(bucket): the stack starts here */
	OFF_MSTATS_NUMGC,
	OFF_MSTATS_ENABLEGC,
	OFF_MSTATS_STACKS_SYS,
	OFF_MSTATS_MSPAN_SYS,
	OFF_MSTATS_MCACHE_SYS,
	OFF_MSTATS_BUCKHASH_SYS,
	OFF_MSTATS_GCMISCSYS,
	OFF_MSTATS_OTHER_SYS,
	OFF_MSTATS_HEAPSTATS_STATS,	/* memstats.heapStats.stats: [3]heapStatsDelta */
	OFF_MSTATS_HEAPSTATS_GEN,	/* memstats.heapStats.gen */
	OFF_HEAPSTATSDELTA_INSTACKS,
	OFF_HEAPSTATSDELTA_INWORKBUFS,
	OFF_HEAPSTATSDELTA_SIZE,
	OFF_GCC_HEAPINUSE,
	OFF_GCC_HEAPFREE,
	OFF_GCC_HEAPRELEASED,
	OFF_GCC_HEAPLIVE,
	OFF_GCC_HEAPMARKED,
	OFF_GCC_LASTHEAPGOAL,
	OFF_GCC_TOTALALLOC,
	OFF_GCC_TOTALFREE,
	OFF_GCC_GCPERCENTHEAPGOAL,
	OFF_GCC_MEMORYLIMIT,
	OFF_MODULEDATA_TEXT,
	OFF_MODULEDATA_GOFUNC,
	CONST_KIND_SPECIAL_PROFILE,	/* _KindSpecialProfile: 2, 3 or 4 by version */
	CONST_GDEAD,			/* _Gdead */
	OFF__COUNT,
};

struct go_offsets {
	int64_t val[OFF__COUNT];	/* -1: absent in this version or unknown */
	/* DWARF decided the entry: a value, or -1 because the binary's type lacks the field. */
	bool from_dwarf[OFF__COUNT];
	const char *source;		/* "dwarf", "table go1.22", "dwarf+table go1.22" */
};

/*
 * "runtime.g.goid" style name of an entry, for reports and tests: TYPE.PATH for a
 * member, "sizeof(TYPE)" for a size, the constant's name for a constant. NULL when
 * id is out of range.
 */
const char *goff_name(enum go_off_id id);
/*
 * Where DWARF keeps an entry: *type and the dotted member *path; *path NULL for the
 * type's byte size; *type NULL and *path the name for a constant. -EINVAL for a bad id.
 */
int goff_dwarf_where(enum go_off_id id, const char **type, const char **path);
/* DWARF first, table for the rest. -ENOTSUP when the version has no table and no DWARF. */
int goffsets__resolve(struct elfbin *eb, const struct go_version *v, struct go_offsets *off);
/* Only the table, for tests that compare it with DWARF. */
int goffsets__from_table(const struct go_version *v, struct go_offsets *off);
/* Only DWARF: -ENOENT when the binary has none. */
int goffsets__from_dwarf(struct elfbin *eb, struct go_offsets *off);
void goffsets__print(const struct go_offsets *off, FILE *out);
int goffsets__to_json(const struct go_offsets *off, struct cJSON *obj);

#endif
