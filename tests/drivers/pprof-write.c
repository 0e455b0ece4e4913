// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test driver for tests/integration/pprof.sh: writes heap and goroutine profiles with
 * known values on known functions of a Go binary, for `go tool pprof` to read.
 * usage: pprof-write BINARY OUTDIR
 *
 * Writes OUTDIR/a.pb.gz, OUTDIR/b.pb.gz (heap; b = a with the leakRecords sample's
 * values doubled) and OUTDIR/g.pb.gz (goroutines), and prints:
 *   mapping	START	LIMIT	OFFSET	BUILDID
 *   inl	PC	END	(main.scratch inlined from PC to END, exclusive)
 *   loc	PC	leaf|ret	(every pc of every sample, for addr2line)
 * The samples (heap values alloc_objects alloc_space inuse_objects inuse_space):
 *   [runtime.mallocgc entry, ret in main.leakRecords, ret in main.main] 10 10240 7 7168
 *   [inl, ret in main.main]                                             3 300 2 200
 *   [runtime.mallocgc entry, END (a return address), ret in main.main]  5 500 1 100
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gosym.h"
#include "pprof.h"
#include "target.h"

struct pcs {
	uint64_t malloc, leak_ret, main_ret, inl, inl_end;
};

static int mid(struct gosym *gs, const char *name, uint64_t *pc)
{
	struct gosym_func fn;
	int err = gosym__func_by_name(gs, name, &fn);

	if (err)
		return err;
	*pc = fn.entry + (fn.end - fn.entry) / 2;
	return 0;
}

static bool is_inlined(struct gosym *gs, uint64_t pc, const char *want)
{
	struct gosym_frame fr[8];
	int n = gosym__frames(gs, pc, fr, 8);

	return n >= 2 && (!want || !strcmp(fr[0].func, want));
}

/*
 * The first pc of fn where want (any function when NULL) is inlined, and the first pc
 * after it where it is not: as a return address, that one is symbolized at end - 1,
 * inside the inlined code, and a writer that forgot the - 1 would show something else.
 */
static int find_inlined(struct gosym *gs, const char *fname, const char *want, struct pcs *p)
{
	struct gosym_func fn;
	int err = gosym__func_by_name(gs, fname, &fn);
	uint64_t a;

	if (err)
		return err;
	for (a = fn.entry; a < fn.end && !is_inlined(gs, a, want); a++)
		;
	if (a == fn.end)
		return -ENOENT;
	p->inl = a;
	for (a++; a < fn.end && is_inlined(gs, a, want); a++)
		;
	p->inl_end = a;
	return 0;
}

static int find_pcs(struct gosym *gs, struct pcs *p)
{
	struct gosym_func fn;
	int err = gosym__func_by_name(gs, "runtime.mallocgc", &fn);

	if (err)
		return err;
	p->malloc = fn.entry;
	err = mid(gs, "main.leakRecords", &p->leak_ret);
	if (!err)
		err = mid(gs, "main.main", &p->main_ret);
	if (err)
		return err;
	if (!find_inlined(gs, "main.churn", "main.scratch", p))
		return 0;
	/* churn itself may be inlined into main.main. */
	if (!find_inlined(gs, "main.main", "main.scratch", p))
		return 0;
	return find_inlined(gs, "main.main", NULL, p);
}

static int heap_profile(struct gobin *gb, const struct pcs *pc, int scale, const char *path)
{
	uint64_t s1[] = { pc->malloc, pc->leak_ret, pc->main_ret };
	uint64_t s2[] = { pc->inl, pc->main_ret };
	uint64_t s3[] = { pc->malloc, pc->inl_end, pc->main_ret };
	int64_t v1[] = { 10 * scale, 10240 * scale, 7 * scale, 7168 * scale };
	int64_t v2[] = { 3, 300, 2, 200 }, v3[] = { 5, 500, 1, 100 };
	struct pprof_label lb = { .key = "bytes", .num = 1024 };
	struct pprof_mapping m;
	struct pprof *p;
	int err;

	p = pprof__new(pprof_heap_types, PPROF_HEAP_NTYPES, &pprof_heap_period_type, 512 * 1024);
	if (!p)
		return -errno;
	err = pprof_mapping_of(gb, NULL, &m);
	if (!err)
		err = pprof__set_mapping(p, &m);
	if (!err)
		err = pprof__add_sample(p, s1, 3, v1, &lb, 1);
	if (!err)
		err = pprof__add_sample(p, s2, 2, v2, NULL, 0);
	if (!err)
		err = pprof__add_sample(p, s3, 3, v3, NULL, 0);
	if (!err)
		err = pprof__write(p, gb->sym, path);
	pprof__free(p);
	return err;
}

static int goroutine_profile(struct gobin *gb, const struct pcs *pc, const char *path)
{
	uint64_t s[] = { pc->inl, pc->main_ret };
	int64_t v = 8;
	struct pprof *p;
	int err;

	p = pprof__new(&pprof_goroutine_type, 1, &pprof_goroutine_type, 1);
	if (!p)
		return -errno;
	err = pprof__add_sample(p, s, 2, &v, NULL, 0);
	if (!err)
		err = pprof__write(p, gb->sym, path);
	pprof__free(p);
	return err;
}

static void print_facts(struct gobin *gb, const struct pcs *pc)
{
	struct pprof_mapping m;

	if (!pprof_mapping_of(gb, NULL, &m))
		printf("mapping\t%#llx\t%#llx\t%#llx\t%s\n", (unsigned long long)m.start,
		       (unsigned long long)m.limit, (unsigned long long)m.offset, m.build_id);
	printf("inl\t%#llx\t%#llx\n", (unsigned long long)pc->inl, (unsigned long long)pc->inl_end);
	printf("loc\t%#llx\tleaf\n", (unsigned long long)pc->malloc);
	printf("loc\t%#llx\tleaf\n", (unsigned long long)pc->inl);
	printf("loc\t%#llx\tret\n", (unsigned long long)pc->leak_ret);
	printf("loc\t%#llx\tret\n", (unsigned long long)pc->main_ret);
	printf("loc\t%#llx\tret\n", (unsigned long long)pc->inl_end);
}

int main(int argc, char **argv)
{
	char path[4096];
	struct gobin *gb;
	struct pcs pc;
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: pprof-write BINARY OUTDIR\n");
		return 2;
	}
	gb = gobin__open(argv[1]);
	if (!gb) {
		fprintf(stderr, "pprof-write: %s: %s\n", argv[1], gobin_strerror(errno));
		return 1;
	}
	err = find_pcs(gb->sym, &pc);
	if (err)
		goto cleanup;
	snprintf(path, sizeof(path), "%s/a.pb.gz", argv[2]);
	err = heap_profile(gb, &pc, 1, path);
	snprintf(path, sizeof(path), "%s/b.pb.gz", argv[2]);
	if (!err)
		err = heap_profile(gb, &pc, 2, path);
	snprintf(path, sizeof(path), "%s/g.pb.gz", argv[2]);
	if (!err)
		err = goroutine_profile(gb, &pc, path);
	if (!err)
		print_facts(gb, &pc);
cleanup:
	if (err)
		fprintf(stderr, "pprof-write: %s: %s\n", argv[1], strerror(-err));
	gobin__free(gb);
	return err ? 1 : 0;
}
