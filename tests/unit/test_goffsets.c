// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for src/dwarf.c on hand-assembled DWARF (v5 with the forms gcc and Go
 * use, v4 in the 64-bit format), on every truncation and on byte flips of it, and
 * for the goffsets table and resolver. The offsets of real binaries are checked by
 * tests/integration/offsets.sh against llvm-dwarfdump.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dwarf.h"
#include "goffsets.h"
#include "test.h"

struct buf {
	uint8_t b[1024];
	size_t n;
};

static void u8(struct buf *b, uint64_t v)
{
	b->b[b->n++] = (uint8_t)v;
}

static void uN(struct buf *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		u8(b, v >> (8 * i));
}

static void str(struct buf *b, const char *s)
{
	memcpy(b->b + b->n, s, strlen(s) + 1);
	b->n += strlen(s) + 1;
}

static void uleb(struct buf *b, uint64_t v)
{
	do {
		u8(b, (v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void sleb(struct buf *b, int64_t v)
{
	for (;;) {
		uint8_t byte = v & 0x7f;

		v >>= 7;
		if ((v == 0 && !(byte & 0x40)) || (v == -1 && (byte & 0x40))) {
			u8(b, byte);
			return;
		}
		u8(b, byte | 0x80);
	}
}

/* abbrev: code tag children, then (attr, form[, implicit]) pairs, 0 0 */
static void abbrev(struct buf *b, int code, int tag, int children, const int *spec, int n)
{
	uleb(b, code);
	uleb(b, tag);
	u8(b, children);
	for (int i = 0; i < n; i += 2) {
		uleb(b, spec[i]);
		uleb(b, spec[i + 1]);
		if (spec[i + 1] == 0x21)	/* implicit_const: value 8 */
			sleb(b, 8);
	}
	u8(b, 0);
	u8(b, 0);
}

static struct buf info, abbr, strs, lstrs, stroffs;
static struct dwarf_sections secs;

/*
 * v5 unit:  cu (strx1 name, str_offsets_base)
 *             struct "outer" declaration
 *             struct "inner" size 16 { a: strp, loc 0; b: line_strp, loc implicit 8 }
 *             typedef "inner_t" -> inner
 *             struct "outer" size 32 { x: loc exprloc plus_uconst 16, type indirect->ref4 }
 *             constant "K" sdata -5 (+ data16 and exprloc attributes to skip)
 *             union "U" size 8 { u1 (no location), u2 (no location) }
 * v4 64-bit unit: constant "K64" data2 0x1234 (strp, 8-byte offset)
 */
static void assemble(void)
{
	static const int cu[] = { 0x03, 0x25, 0x72, 0x17 };
	static const int st[] = { 0x03, 0x08, 0x0b, 0x0b };
	static const int m3[] = { 0x03, 0x0e, 0x38, 0x0b, 0x49, 0x13 };
	static const int m4[] = { 0x03, 0x1f, 0x38, 0x21, 0x49, 0x15 };
	static const int td[] = { 0x03, 0x08, 0x49, 0x13 };
	static const int k[] = { 0x03, 0x08, 0x1c, 0x0d, 0x3e, 0x1e, 0x02, 0x18 };
	static const int m7[] = { 0x03, 0x08, 0x38, 0x18, 0x49, 0x16 };
	static const int decl[] = { 0x03, 0x08, 0x3c, 0x19 };
	static const int um[] = { 0x03, 0x08 };
	static const int cu4[] = { 0 };
	static const int k4[] = { 0x03, 0x0e, 0x1c, 0x05 };
	static const int sx[] = { 0x03, 0x25, 0x0b, 0x0b };
	size_t len_at, inner, tdef, a_str, cu_str, k64_str, b_lstr, sx_str;

	memset(&info, 0, sizeof(info));
	memset(&abbr, 0, sizeof(abbr));
	memset(&strs, 0, sizeof(strs));
	memset(&lstrs, 0, sizeof(lstrs));
	memset(&stroffs, 0, sizeof(stroffs));
	u8(&strs, 0);
	a_str = strs.n; str(&strs, "a");
	cu_str = strs.n; str(&strs, "cu");
	k64_str = strs.n; str(&strs, "K64");
	sx_str = strs.n; str(&strs, "viastrx");
	u8(&lstrs, 0);
	b_lstr = lstrs.n; str(&lstrs, "b");
	/* v5 header, one junk slot, then the unit's offsets: str_offsets_base is 12. */
	uN(&stroffs, 12, 4); uN(&stroffs, 5, 2); uN(&stroffs, 0, 2); uN(&stroffs, k64_str, 4);
	uN(&stroffs, cu_str, 4); uN(&stroffs, sx_str, 4);

	abbrev(&abbr, 1, 0x11, 1, cu, 4);
	abbrev(&abbr, 2, 0x13, 1, st, 4);
	abbrev(&abbr, 3, 0x0d, 0, m3, 6);
	abbrev(&abbr, 4, 0x0d, 0, m4, 6);
	abbrev(&abbr, 5, 0x16, 0, td, 4);
	abbrev(&abbr, 6, 0x27, 0, k, 8);
	abbrev(&abbr, 7, 0x0d, 0, m7, 6);
	abbrev(&abbr, 8, 0x13, 0, decl, 4);
	abbrev(&abbr, 9, 0x17, 1, st, 4);
	abbrev(&abbr, 10, 0x0d, 0, um, 2);
	abbrev(&abbr, 11, 0x13, 0, sx, 4);
	u8(&abbr, 0);
	size_t abbr4 = abbr.n;
	abbrev(&abbr, 1, 0x11, 1, cu4, 0);
	abbrev(&abbr, 2, 0x27, 0, k4, 4);
	u8(&abbr, 0);

	/* v5 header: length, version, unit_type, addr_size, abbrev_offset */
	len_at = info.n;
	uN(&info, 0, 4); uN(&info, 5, 2); u8(&info, 1); u8(&info, 8); uN(&info, 0, 4);
	uleb(&info, 1); u8(&info, 0); uN(&info, 12, 4);
	uleb(&info, 8); str(&info, "outer");
	inner = info.n;
	uleb(&info, 2); str(&info, "inner"); u8(&info, 16);
	uleb(&info, 3); uN(&info, a_str, 4); u8(&info, 0); uN(&info, 0, 4);
	uleb(&info, 4); uN(&info, b_lstr, 4); uleb(&info, 0);
	u8(&info, 0);
	tdef = info.n;
	uleb(&info, 5); str(&info, "inner_t"); uN(&info, inner, 4);
	uleb(&info, 2); str(&info, "outer"); u8(&info, 32);
	uleb(&info, 7); str(&info, "x"); uleb(&info, 2); u8(&info, 0x23); u8(&info, 16);
	uleb(&info, 0x13); uN(&info, tdef, 4);	/* indirect -> ref4 */
	u8(&info, 0);
	uleb(&info, 6); str(&info, "K"); sleb(&info, -5);
	for (int i = 0; i < 16; i++)
		u8(&info, i);
	uleb(&info, 3); u8(&info, 0x9c); u8(&info, 0x9c); u8(&info, 0x9c);
	uleb(&info, 9); str(&info, "U"); u8(&info, 8);
	uleb(&info, 10); str(&info, "u1");
	uleb(&info, 10); str(&info, "u2");
	u8(&info, 0);
	uleb(&info, 11); u8(&info, 1); u8(&info, 4);
	u8(&info, 0);
	size_t l = info.n - len_at - 4;
	info.b[len_at] = l;
	info.b[len_at + 1] = l >> 8;

	/* v4 64-bit header: 0xffffffff, length u64, version, abbrev_offset u64, addr_size */
	uN(&info, 0xffffffff, 4);
	len_at = info.n; uN(&info, 0, 8); uN(&info, 4, 2); uN(&info, abbr4, 8); u8(&info, 8);
	uleb(&info, 1);
	uleb(&info, 2); uN(&info, k64_str, 8); uN(&info, 0x1234, 2);
	u8(&info, 0);
	l = info.n - len_at - 8;
	info.b[len_at] = l;

	secs = (struct dwarf_sections){ info.b, info.n, abbr.b, abbr.n, strs.b, strs.n,
					 lstrs.b, lstrs.n, stroffs.b, stroffs.n };
}

static const char *const names[] = { "outer", "inner", "K", "K64", "U", "cu", "missing",
				     "viastrx" };
#define NNAMES (sizeof(names) / sizeof(names[0]))

static void test_reader(void)
{
	struct dwarf *dw = dwarf__open_sections(&secs);
	struct dwarf_stats st;
	uint64_t off = 0, size = 0;
	int64_t val = 0;

	CHECK(dw, "synthetic DWARF opens");
	if (!dw)
		return;
	CHECK(dwarf__index(dw, names, NNAMES) == 0, "index walks both units");
	dwarf__stats(dw, &st);
	CHECK(st.units == 2 && st.walked == 2 && st.bad == 0 && st.by_version[4] == 1 &&
	      st.by_version[5] == 1, "stats: 2 units (v4, v5), walked, none bad");
	CHECK(!dwarf__byte_size(dw, "outer", &size) && size == 32,
	      "declaration skipped, definition's size 32 (got %llu)", (unsigned long long)size);
	CHECK(!dwarf__member_offset(dw, "outer", "x", &off) && off == 16,
	      "exprloc DW_OP_plus_uconst location 16 (got %llu)", (unsigned long long)off);
	CHECK(!dwarf__member_offset(dw, "outer", "x.b", &off) && off == 24,
	      "nested through typedef, implicit_const, line_strp: 24 (got %llu)",
	      (unsigned long long)off);
	CHECK(!dwarf__member_offset(dw, "outer", "x.a", &off) && off == 16,
	      "nested strp member at 16");
	CHECK(dwarf__member_offset(dw, "outer", "x.zz", &off) == -ENOENT, "missing nested member");
	CHECK(dwarf__member_offset(dw, "outer", "y", &off) == -ENOENT, "missing member");
	CHECK(dwarf__member_offset(dw, "outer", "x.b.c", &off) < 0, "path through a non-struct");
	CHECK(dwarf__member_offset(dw, "missing", "x", &off) == -ENOENT, "type not in binary");
	CHECK(dwarf__member_offset(dw, "nope", "x", &off) == -ENOENT, "type not indexed");
	CHECK(!dwarf__member_offset(dw, "U", "u2", &off) && off == 0, "union member at 0");
	CHECK(!dwarf__constant(dw, "K", &val) && val == -5, "sdata constant -5, data16 skipped");
	CHECK(!dwarf__constant(dw, "K64", &val) && val == 0x1234, "64-bit DWARF 4 unit constant");
	CHECK(dwarf__constant(dw, "outer", &val) == -ENOENT, "a struct is not a constant");
	CHECK(dwarf__byte_size(dw, "cu", &size) == -ENOENT, "strx1 CU name not a type");
	CHECK(!dwarf__byte_size(dw, "viastrx", &size) && size == 4,
	      "strx1 name through DW_AT_str_offsets_base 12");
	dwarf__free(dw);
}

/* Runs every entry point on whatever the sections hold now: no crash, no hang. */
static int exercise(void)
{
	struct dwarf *dw = dwarf__open_sections(&secs);
	uint64_t u;
	int64_t v;
	int ok = 0;

	if (!dw)
		return 0;
	if (!dwarf__index(dw, names, NNAMES)) {
		ok += !dwarf__member_offset(dw, "outer", "x.b", &u);
		ok += !dwarf__byte_size(dw, "inner", &u);
		ok += !dwarf__constant(dw, "K64", &v);
		ok += !dwarf__member_offset(dw, "U", "u1", &u);
	}
	dwarf__free(dw);
	return ok;
}

static void test_malformed(void)
{
	struct buf save_info = info, save_abbr = abbr;
	unsigned seed = 12345, runs = 0;

	for (size_t n = 0; n < save_info.n; n++) {
		secs.info_len = n;
		exercise();
		runs++;
	}
	secs.info_len = save_info.n;
	for (size_t n = 0; n < save_abbr.n; n++) {
		secs.abbrev_len = n;
		exercise();
		runs++;
	}
	secs.abbrev_len = save_abbr.n;
	/* Single-byte corruption at every position, with a few values each. */
	for (size_t i = 0; i < save_info.n + save_abbr.n; i++) {
		for (int k = 0; k < 6; k++) {
			uint8_t *p = i < save_info.n ? &info.b[i] : &abbr.b[i - save_info.n];
			uint8_t old = *p;

			seed = seed * 1103515245 + 12345;
			*p = k == 0 ? 0xff : k == 1 ? 0 : k == 2 ? 0x80 : (uint8_t)(seed >> 16);
			exercise();
			*p = old;
			runs++;
		}
	}
	CHECK(exercise() == 4, "%u truncated and corrupted inputs: no crash, original still reads",
	      runs);
}

static void test_table(void)
{
	struct go_offsets off;
	struct go_version v;
	bool names_ok = true;

	for (int i = 0; i < OFF__COUNT; i++) {
		const char *type, *path;

		names_ok &= goff_name(i) && !goff_dwarf_where(i, &type, &path) && (type || path);
		for (int j = 0; j < i; j++)
			names_ok &= strcmp(goff_name(i), goff_name(j)) != 0;
	}
	CHECK(names_ok && !goff_name(OFF__COUNT),
	      "every entry has a unique name and a DWARF place");
	for (int minor = 17; minor <= 28; minor++) {
		int err;

		v = (struct go_version){ 1, minor, 0 };
		err = goffsets__from_table(&v, &off);
		if (minor < GO_MIN_MINOR || minor > GO_MAX_MINOR) {
			CHECK(err == -ENOTSUP, "go1.%d: no table", minor);
			continue;
		}
		bool known = true;

		for (int i = 0; i < OFF__COUNT; i++)
			known &= off.val[i] >= 0 || i == OFF_G_PARENTGOID ||
				 i == OFF_MCACHE_MEMPROFRATE;
		CHECK(!err && known && strstr(off.source, "table go1."),
		      "go1.%d: table row complete (%s)", minor, off.source);
		/* Layout sanity that holds in every release (runtime2.go, mheap.go). */
		CHECK(off.val[OFF_G_SCHED_BP] < off.val[OFF_G_SIZE] &&
		      off.val[OFF_G_LABELS] < off.val[OFF_G_SIZE] &&
		      off.val[OFF_SPECIAL_KIND] < off.val[OFF_SPECIAL_SIZE] &&
		      off.val[OFF_SPECIALPROFILE_B] == off.val[OFF_SPECIAL_SIZE] &&
		      off.val[OFF_G_GOID] > off.val[OFF_G_ATOMICSTATUS],
		      "go1.%d: offsets lie inside their structs", minor);
		CHECK((off.val[OFF_G_PARENTGOID] >= 0) == (minor >= 21) &&
		      (off.val[OFF_MCACHE_MEMPROFRATE] >= 0) == (minor >= 24),
		      "go1.%d: parentGoid from 1.21, mcache.memProfRate from 1.24", minor);
	}
	v = (struct go_version){ 2, 0, 0 };
	CHECK(goffsets__from_table(&v, &off) == -ENOTSUP, "go2.0: no table");
	CHECK(goffsets__from_table(NULL, &off) == -ENOTSUP, "unknown version: no table");
	/* _KindSpecialProfile per GO-RUNTIME.md §1.4: 2 (1.19-1.22), 3 (1.23-1.24), 4 (1.25+). */
	v = (struct go_version){ 1, 22, 12 };
	goffsets__from_table(&v, &off);
	CHECK(off.val[CONST_KIND_SPECIAL_PROFILE] == 2, "go1.22 _KindSpecialProfile 2");
	v.minor = 23;
	goffsets__from_table(&v, &off);
	CHECK(off.val[CONST_KIND_SPECIAL_PROFILE] == 3, "go1.23 _KindSpecialProfile 3");
	v.minor = 25;
	goffsets__from_table(&v, &off);
	CHECK(off.val[CONST_KIND_SPECIAL_PROFILE] == 4, "go1.25 _KindSpecialProfile 4");
}

static void test_resolve_output(void)
{
	struct go_version v = { 1, 24, 13 };
	struct go_offsets off;
	cJSON *obj = cJSON_CreateObject(), *o;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	CHECK(goffsets__resolve(NULL, &v, &off) == 0 && !strcmp(off.source, "table go1.24"),
	      "no binary: resolved from the table (%s)", off.source);
	CHECK(goffsets__resolve(NULL, NULL, &off) == -ENOTSUP, "no binary, no version: -ENOTSUP");
	v.minor = 27;
	CHECK(goffsets__resolve(NULL, &v, &off) == -ENOTSUP, "go1.27 without DWARF: -ENOTSUP");
	v.minor = 20;
	goffsets__resolve(NULL, &v, &off);
	CHECK(obj && !goffsets__to_json(&off, obj), "to_json");
	o = cJSON_GetObjectItem(obj, "offsets");
	CHECK(o && cJSON_GetArraySize(o) == OFF__COUNT &&
	      cJSON_IsNull(cJSON_GetObjectItem(o, "runtime.g.parentGoid")) &&
	      cJSON_GetObjectItem(o, "runtime.g.goid")->valuedouble == 152 &&
	      !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(obj, "offsets_source")),
		      "table go1.20"),
	      "JSON: every entry, null for absent, the source");
	cJSON_Delete(obj);
	f = open_memstream(&text, &len);
	if (f) {
		goffsets__print(&off, f);
		fclose(f);
	}
	CHECK(text && strstr(text, "table go1.20") && strstr(text, "runtime.g.goid") &&
	      strstr(text, "sizeof(runtime.g)"), "print lists entries and the source");
	free(text);
}

int main(void)
{
	assemble();
	test_reader();
	test_malformed();
	test_table();
	test_resolve_output();
	TEST_EXIT();
}
