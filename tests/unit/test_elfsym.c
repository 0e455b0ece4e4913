// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * elfsym against readelf: every function symbol binutils lists in the system's libc
 * (its .dynsym; Debian strips .symtab) is found at its start and middle, under one of
 * the names readelf gives that address; past a sized symbol there is no symbol unless
 * readelf lists one covering it. Then a shared object built here with gcc, stripped,
 * with its symbols in a separate debug file found by .gnu_debuglink and by build-id
 * (a static function only the debug file names), and broken files.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfbin.h"
#include "elfsym.h"
#include "test.h"

struct rsym {
	uint64_t addr, size;
	char name[512];
};

struct rsyms {
	struct rsym *v;
	size_t n, cap;
};

/* Defined FUNC/IFUNC symbols of readelf -Ws (both tables), version suffix cut. */
static int readelf_funcs(const char *path, struct rsyms *out)
{
	char cmd[4200], line[1024];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "readelf -Ws --dyn-syms '%s' 2>/dev/null", path);
	f = popen(cmd, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char type[32], bind[32], vis[32], ndx[32], name[512];
		unsigned long long addr, size;
		struct rsym *v;

		if (sscanf(line, " %*[0-9]: %llx %llu %31s %31s %31s %31s %511s", &addr, &size,
			   type, bind, vis, ndx, name) != 7)
			continue;
		if ((strcmp(type, "FUNC") && strcmp(type, "IFUNC")) || !strcmp(ndx, "UND") || !addr)
			continue;
		name[strcspn(name, "@")] = 0;
		if (out->n == out->cap) {
			v = realloc(out->v, (out->cap ? 2 * out->cap : 1024) * sizeof(*v));
			if (!v)
				break;
			out->v = v;
			out->cap = out->cap ? 2 * out->cap : 1024;
		}
		out->v[out->n] = (struct rsym){addr, size, ""};
		snprintf(out->v[out->n].name, sizeof(out->v[0].name), "%s", name);
		out->n++;
	}
	return pclose(f) == 0 && out->n ? 0 : -ENOENT;
}

static bool readelf_has(const struct rsyms *r, uint64_t addr, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].addr == addr && !strcmp(r->v[i].name, name))
			return true;
	return false;
}

/* Some readelf symbol covers addr (sized), or starts at it. */
static bool readelf_covers(const struct rsyms *r, uint64_t addr)
{
	for (size_t i = 0; i < r->n; i++)
		if (addr == r->v[i].addr || addr - r->v[i].addr < r->v[i].size)
			return true;
	return false;
}

static void check_against_readelf(const char *path)
{
	struct rsyms r = {0};
	struct elfsym *es = elfsym__open(NULL, path);
	size_t bad_start = 0, bad_mid = 0, bad_past = 0, checked_past = 0;
	struct elfsym_hit hit;
	uint64_t a;

	if (readelf_funcs(path, &r)) {
		printf("SKIP elfsym: readelf cannot list '%s'\n", path);
		free(r.v);
		elfsym__free(es);
		return;
	}
	CHECK(es, "elfsym opens %s", path);
	if (!es)
		goto out;
	/* libc6-dbg installed: its symbols count too */
	if (elfsym__debug_file(es)) {
		printf("# %s: debug file %s\n", path, elfsym__debug_file(es));
		readelf_funcs(elfsym__debug_file(es), &r);
	}
	for (size_t i = 0; i < r.n; i++) {
		const struct rsym *s = &r.v[i];

		if (elfsym__lookup(es, s->addr, &hit) || hit.offset ||
		    !readelf_has(&r, s->addr, hit.name))
			bad_start++;
		if (s->size > 1 &&
		    (elfsym__lookup(es, s->addr + s->size / 2, &hit) || hit.offset != s->size / 2 ||
		     !readelf_has(&r, hit.addr, hit.name)))
			bad_mid++;
		if (s->size && !readelf_covers(&r, s->addr + s->size)) {
			checked_past++;
			if (elfsym__lookup(es, s->addr + s->size, &hit) != -ENOENT &&
			    ++bad_past < 4)
				printf("# past %s: %s+%" PRIu64 "\n", s->name, hit.name,
				       hit.offset);
		}
	}
	CHECK(r.n > 500, "readelf lists %zu function symbols in %s", r.n, path);
	CHECK(bad_start == 0, "every readelf symbol start found under a readelf name (%zu bad)",
	      bad_start);
	CHECK(bad_mid == 0, "every sized symbol's middle resolves to it (%zu bad)", bad_mid);
	CHECK(checked_past > 100 && bad_past == 0,
	      "past a sized symbol's end is no symbol (%zu checked, %zu bad)", checked_past,
	      bad_past);
	CHECK(!elfsym__addr_of(es, "malloc", &a) && !elfsym__lookup(es, a + 3, &hit) &&
		      !strcmp(hit.name, "malloc") && hit.offset == 3,
	      "malloc+3 is 'malloc' (not an alias), offset 3");
	CHECK(!elfsym__addr_of(es, "free", &a) && !elfsym__lookup(es, a, &hit) &&
		      !strcmp(hit.name, "free"),
	      "free is 'free'");
	CHECK(elfsym__lookup(es, 0x10, &hit) == -ENOENT, "an address below every symbol: none");
	CHECK(strlen(elfsym__build_id(es)) == 40, "build id '%s'", elfsym__build_id(es));
out:
	elfsym__free(es);
	free(r.v);
}

/* Address of a symbol by nm in a file, 0 when absent. */
static uint64_t nm_addr(const char *file, const char *name)
{
	char cmd[4200], line[512];
	unsigned long long v = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nm '%s' 2>/dev/null", file);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char t, n[256];
		unsigned long long x;

		if (sscanf(line, "%llx %c %255s", &x, &t, n) == 3 && !strcmp(n, name))
			v = x;
	}
	pclose(f);
	return v;
}

static const char so_src[] = "static int __attribute__((noinline)) hidden_helper(int x)\n"
			     "{ return x * 7 + 3; }\n"
			     "int exported_func(int x) { return hidden_helper(x) + 1; }\n";

static void check_hidden(const char *root, const char *path, uint64_t helper, const char *how)
{
	struct elfsym *es = elfsym__open(root, path);
	struct elfsym_hit hit;

	CHECK(es && elfsym__debug_file(es), "%s: debug file found (%s)", how,
	      es && elfsym__debug_file(es) ? elfsym__debug_file(es) : "none");
	CHECK(es && !elfsym__lookup(es, helper + 1, &hit) && !strcmp(hit.name, "hidden_helper") &&
		      hit.offset == 1,
	      "%s: static hidden_helper+1 named from the debug file", how);
	elfsym__free(es);
}

/* A .so built here: its static function is named only through its debug file. */
static void check_debug_file(void)
{
	char dir[] = "/tmp/lh-elfsym-XXXXXX", path[512], dbg[512], cmd[2048], id[128];
	struct elfsym *es = NULL;
	struct elfsym_hit hit;
	uint64_t helper;
	FILE *f;

	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/lib/libt.so", dir);
	snprintf(dbg, sizeof(dbg), "%s/lib/libt.so.debug", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/lib && cat > %s/t.c", dir, dir);
	f = popen(cmd, "w");
	if (f) {
		fputs(so_src, f);
		pclose(f);
	}
	snprintf(cmd, sizeof(cmd),
		 "cd %s && gcc -O1 -g -shared -fPIC -Wl,--build-id -o lib/libt.so t.c && "
		 "objcopy --only-keep-debug lib/libt.so lib/libt.so.debug && "
		 "objcopy --strip-all lib/libt.so && "
		 "objcopy --add-gnu-debuglink=lib/libt.so.debug lib/libt.so",
		 dir);
	if (system(cmd)) {
		printf("SKIP elfsym debug file: gcc or objcopy failed\n");
		goto out;
	}
	helper = nm_addr(dbg, "hidden_helper");
	CHECK(helper && !nm_addr(path, "hidden_helper"),
	      "nm: hidden_helper at 0x%" PRIx64 " in the debug file only", helper);
	/* the .so as the process sees it: /lib/libt.so under root dir */
	check_hidden(dir, "/lib/libt.so", helper, "debuglink, same directory");
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/lib/.debug && mv %s %s/lib/.debug/", dir, dbg, dir);
	CHECK(system(cmd) == 0, "debug file moved to lib/.debug/");
	check_hidden(dir, "/lib/libt.so", helper, "debuglink, .debug/");
	/* a debug file with another CRC is refused */
	snprintf(cmd, sizeof(cmd), "printf x >> %s/lib/.debug/libt.so.debug", dir);
	if (system(cmd) == 0)
		es = elfsym__open(dir, "/lib/libt.so");
	CHECK(es && !elfsym__debug_file(es) && elfsym__lookup(es, helper + 1, &hit) == -ENOENT,
	      "debuglink with a wrong CRC is not used");
	elfsym__free(es);
	/* build-id path under root */
	es = elfsym__open(dir, "/lib/libt.so");
	snprintf(id, sizeof(id), "%s", es ? elfsym__build_id(es) : "");
	elfsym__free(es);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/usr/lib/debug/.build-id/%.2s && "
		 "mv %s/lib/.debug/libt.so.debug %s/usr/lib/debug/.build-id/%.2s/%s.debug",
		 dir, id, dir, dir, id, id + 2);
	CHECK(strlen(id) > 4 && system(cmd) == 0, "build id %s", id);
	check_hidden(dir, "/lib/libt.so", helper, "build-id");
out:
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		printf("FAIL cleanup %s\n", dir);
}

static void check_bad_files(void)
{
	char path[] = "/tmp/lh-elfsym-bad-XXXXXX", cmd[256];
	int fd = mkstemp(path);
	struct elfsym *es;
	struct stat st;

	es = elfsym__open(NULL, "/nonexistent/libfoo.so");
	CHECK(!es && errno == ENOENT, "missing file: ENOENT");
	if (fd < 0)
		return;
	if (write(fd, "not an elf file at all, just text\n", 34) != 34)
		printf("FAIL write\n");
	close(fd);
	es = elfsym__open(NULL, path);
	CHECK(!es && errno == ENOEXEC, "text file: ENOEXEC");
	/* libc cut at several lengths: an error or a (partial) table, never a crash */
	if (stat("/lib/x86_64-linux-gnu/libc.so.6", &st) == 0) {
		int ok = 0, total = 0;

		for (off_t len = 64; len < st.st_size; len = len * 3 + 17) {
			snprintf(cmd, sizeof(cmd),
				 "head -c %lld /lib/x86_64-linux-gnu/libc.so.6 > %s",
				 (long long)len, path);
			if (system(cmd))
				continue;
			es = elfsym__open(NULL, path);
			total++;
			if (es) {
				struct elfsym_hit hit;

				elfsym__lookup(es, 0x1000, &hit);
			}
			ok += es || errno == ENOEXEC;
			elfsym__free(es);
		}
		CHECK(total > 5 && ok == total, "truncated libc: %d/%d cut files handled", ok,
		      total);
	}
	unlink(path);
}

int main(int argc, char **argv)
{
	const char *libc = argc > 1 ? argv[1] : "/lib/x86_64-linux-gnu/libc.so.6";

	if (access(libc, R_OK) == 0)
		check_against_readelf(libc);
	else
		printf("SKIP elfsym: no %s\n", libc);
	check_debug_file();
	check_bad_files();
	TEST_EXIT();
}
