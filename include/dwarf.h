/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_DWARF_H
#define LEAKHOUND_DWARF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elfbin;

/*
 * A small DWARF 2-5 reader for what leakhound needs from a Go binary: the layout of
 * a few named structure types (member offsets, nested member paths, byte sizes) and
 * the value of a few named constants. It walks .debug_info once per dwarf__index()
 * call and remembers only the names asked for, so a large binary costs one linear
 * pass and no memory per DIE. Every read is bounds-checked and every loop bounded:
 * a malformed unit is skipped, never read past.
 */
struct dwarf;

/* The raw sections, for callers (tests, fuzzers) that have no ELF file. */
struct dwarf_sections {
	const uint8_t *info;
	size_t info_len;
	const uint8_t *abbrev;
	size_t abbrev_len;
	const uint8_t *str;		/* optional */
	size_t str_len;
	const uint8_t *line_str;	/* optional */
	size_t line_str_len;
	const uint8_t *str_offsets;	/* optional */
	size_t str_offsets_len;
};

/*
 * NULL with errno: ENOENT when the binary has no .debug_info/.debug_abbrev (stripped
 * or -w), EINVAL when a section cannot be read or inflated. The sections stay owned
 * by eb, which must outlive the returned object.
 */
struct dwarf *dwarf__open(struct elfbin *eb);
/* Same over caller-owned buffers that must outlive the object. */
struct dwarf *dwarf__open_sections(const struct dwarf_sections *secs);
void dwarf__free(struct dwarf *dw);

/*
 * One pass over .debug_info looking for structure/union types and constants with
 * these names (first complete definition wins; declarations are ignored). Names
 * already indexed are not looked for again. Returns 0 when the walk finished (units
 * that are malformed inside are skipped), -EINVAL when the unit headers themselves
 * are corrupt and nothing asked for was found, -ENOMEM.
 */
int dwarf__index(struct dwarf *dw, const char *const *names, size_t n);

/*
 * Offset of a member inside an indexed structure type. path is a member name or a
 * dotted path through nested structure members ("sched.bp" in "runtime.g"), each
 * step following the member's type through typedefs and qualifiers.
 * -ENOENT when the type was not indexed/found or has no such member, -EINVAL on
 * malformed DWARF, -ENOTSUP when a location is not a constant.
 */
int dwarf__member_offset(struct dwarf *dw, const char *type, const char *path, uint64_t *off);
/* DW_AT_byte_size of an indexed structure type. */
int dwarf__byte_size(struct dwarf *dw, const char *type, uint64_t *size);
/* DW_AT_const_value of an indexed DW_TAG_constant. */
int dwarf__constant(struct dwarf *dw, const char *name, int64_t *val);

/* How the walks went, for tests and `leakhound info`. */
struct dwarf_stats {
	size_t units;		/* unit headers found */
	size_t walked;		/* units walked to their end by dwarf__index() */
	size_t bad;		/* units skipped as malformed */
	size_t by_version[6];	/* units per DWARF version 2..5 (index = version) */
	bool headers_bad;	/* framing lost: units after the corruption are unseen */
};
void dwarf__stats(const struct dwarf *dw, struct dwarf_stats *st);

/*
 * Calls cb for every direct member of an indexed structure type, in order, with its
 * name and offset (-1 when its location is not a constant); stops when cb returns
 * non-zero and returns that value. For tests that compare with other DWARF readers.
 */
int dwarf__for_each_member(struct dwarf *dw, const char *type,
			   int (*cb)(const char *name, int64_t off, void *ctx), void *ctx);

#endif
