// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test driver for tests/integration/offsets.sh: prints what the DWARF reader, the
 * version table and the resolver say about one binary, in lines a script compares
 * with other tools. usage: offsets-dump BINARY [TYPE...]
 *
 *   version	go1.22.12
 *   dwarf	<rc>	units=N walked=N bad=N v4=N v5=N	(after a walk of every unit)
 *   entry	NAME	TYPE|-	PATH|-	DWARF	TABLE	RESOLVED
 *   member	TYPE	NAME	OFFSET		(for each TYPE argument)
 *   size	TYPE	BYTES
 *   source	SOURCE
 *   json	{...}
 * DWARF is "?" when DWARF did not decide the entry, "-" when it says absent; TABLE
 * is "n/a" when the table has no row for the version, "-" when the field is absent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buildinfo.h"
#include "dwarf.h"
#include "elfbin.h"
#include "goffsets.h"

static void print_val(int64_t v, bool known, const char *unknown)
{
	if (!known)
		printf("\t%s", unknown);
	else if (v < 0)
		printf("\t-");
	else
		printf("\t%lld", (long long)v);
}

static void print_entries(struct elfbin *eb, const struct go_version *v)
{
	struct go_offsets d, t, r;
	int derr = goffsets__from_dwarf(eb, &d);
	int terr = goffsets__from_table(v, &t);
	int rerr = goffsets__resolve(eb, v, &r);
	cJSON *obj = cJSON_CreateObject();
	char *json;

	printf("rc\tdwarf=%d\ttable=%d\tresolve=%d\n", derr, terr, rerr);
	for (int i = 0; i < OFF__COUNT; i++) {
		const char *type, *path;

		goff_dwarf_where(i, &type, &path);
		printf("entry\t%s\t%s\t%s", goff_name(i), type ? type : "-", path ? path : "-");
		print_val(d.val[i], !derr && d.from_dwarf[i], "?");
		print_val(t.val[i], !terr, "n/a");
		print_val(r.val[i], !rerr, "n/a");
		printf("\n");
	}
	printf("source\t%s\n", rerr ? "error" : r.source);
	if (obj && !rerr && !goffsets__to_json(&r, obj)) {
		json = cJSON_PrintUnformatted(obj);
		printf("json\t%s\n", json ? json : "null");
		free(json);
	}
	cJSON_Delete(obj);
}

static int print_member(const char *name, int64_t off, void *ctx)
{
	printf("member\t%s\t%s\t%lld\n", (const char *)ctx, name, (long long)off);
	return 0;
}

/* A walk of every unit (a name no binary has) so the stats cover the whole section. */
static void print_types(struct elfbin *eb, char **types, int n)
{
	static const char *const nothing[] = { "leakhound.no.such.type" };
	struct dwarf *dw = dwarf__open(eb);
	struct dwarf_stats st;
	uint64_t size;
	int err;

	if (!dw) {
		printf("dwarf\t%d\n", -errno);
		return;
	}
	err = dwarf__index(dw, nothing, 1);
	if (!err)
		err = dwarf__index(dw, (const char *const *)types, n);
	dwarf__stats(dw, &st);
	printf("dwarf\t%d\tunits=%zu walked=%zu bad=%zu v4=%zu v5=%zu headers_bad=%d\n", err,
	       st.units, st.walked, st.bad, st.by_version[4], st.by_version[5], st.headers_bad);
	for (int i = 0; i < n; i++) {
		dwarf__for_each_member(dw, types[i], print_member, types[i]);
		if (!dwarf__byte_size(dw, types[i], &size))
			printf("size\t%s\t%llu\n", types[i], (unsigned long long)size);
	}
	dwarf__free(dw);
}

int main(int argc, char **argv)
{
	struct go_buildinfo bi = { 0 };
	struct elfbin *eb;

	if (argc < 2) {
		fprintf(stderr, "usage: offsets-dump BINARY [TYPE...]\n");
		return 2;
	}
	eb = elfbin__open(argv[1]);
	if (!eb) {
		fprintf(stderr, "offsets-dump: cannot open '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (!buildinfo__read(eb, &bi))
		printf("version\t%s\n", bi.version_str);
	print_entries(eb, bi.version_str[0] ? &bi.version : NULL);
	print_types(eb, argv + 2, argc - 2);
	buildinfo__clear(&bi);
	elfbin__free(eb);
	return 0;
}
