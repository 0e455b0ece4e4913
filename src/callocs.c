// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Which C allocator a process uses, and where to probe it (include/callocs.h).
 *
 * Symbol resolution takes the executable first, then preloaded libraries and the
 * DT_NEEDED ones: a malloc defined in the executable (static link) wins, then one in a
 * mapped object other than the C library (jemalloc, tcmalloc, an LD_PRELOAD), then the C
 * library's. Objects are taken from the process's executable mappings in
 * /proc/PID/maps, opened through /proc/PID/root.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "callocs.h"
#include "elfbin.h"
#include "procfs.h"

static const struct {
	const char *name;
	const char *regs;	/* System V: rdi, rsi, rdx */
} fns[CFN__COUNT] = {
	[CFN_MALLOC] = { "malloc", "rdi=size" },
	[CFN_CALLOC] = { "calloc", "rdi=nmemb rsi=size" },
	[CFN_REALLOC] = { "realloc", "rdi=ptr rsi=size" },
	[CFN_REALLOCARRAY] = { "reallocarray", "rdi=ptr rsi=nmemb rdx=size" },
	[CFN_FREE] = { "free", "rdi=ptr" },
	[CFN_POSIX_MEMALIGN] = { "posix_memalign", "rdi=memptr rsi=alignment rdx=size" },
	[CFN_ALIGNED_ALLOC] = { "aligned_alloc", "rdi=alignment rsi=size" },
	[CFN_MEMALIGN] = { "memalign", "rdi=alignment rsi=size" },
	[CFN_VALLOC] = { "valloc", "rdi=size" },
	[CFN_PVALLOC] = { "pvalloc", "rdi=size" },
};

const char *calloc_fn_regs(enum calloc_fn_id id)
{
	return id < CFN__COUNT ? fns[id].regs : "";
}

static const char *kind_of(const char *path, bool exe)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (exe)
		return "executable";
	if (!strncmp(base, "libc.so", 7))
		return "glibc";
	if (!strncmp(base, "ld-musl", 7) || !strncmp(base, "libc.musl", 9))
		return "musl";
	if (strstr(base, "jemalloc"))
		return "jemalloc";
	if (strstr(base, "tcmalloc"))
		return "tcmalloc";
	return "other";
}

void callocs__resolve(struct elfbin *eb, struct calloc_info *ci)
{
	for (int i = 0; i < CFN__COUNT; i++) {
		struct calloc_fn *f = &ci->fn[i];
		const uint8_t *code;
		uint64_t len;

		*f = (struct calloc_fn){ .name = fns[i].name, .same_as = -1 };
		if (elfbin__symbol(eb, f->name, &f->addr, &f->size) || !f->addr)
			continue;
		for (int j = 0; j < i; j++)
			if (ci->fn[j].found && ci->fn[j].addr == f->addr && f->same_as < 0)
				f->same_as = j;
		len = f->size && f->size < 64 ? f->size : 64;
		code = elfbin__vaddr_ptr(eb, f->addr, len);
		if (!code)
			continue;
		f->picked = !probe_site_pick(code, len, f->addr, regs_mask(fns[i].regs), &f->site,
					     &f->why);
		if (elfbin__vaddr_to_off(eb, f->site.addr, &f->site.file_off))
			continue;
		f->found = true;
	}
}

/* Whether the object at open_path defines malloc; opened into *out if so. */
static bool defines_malloc(const char *open_path, struct elfbin **out)
{
	struct elfbin *eb;
	uint64_t addr;

	eb = elfbin__open(open_path);
	if (!eb)
		return false;
	if (elfbin__symbol(eb, "malloc", &addr, NULL) || !addr) {
		elfbin__free(eb);
		return false;
	}
	*out = eb;
	return true;
}

/* One executable-mapped file: its name in /proc/PID/maps, and a path that opens it. */
struct mapped {
	char *path;
	char *open_path;
};

static void mapped_free(struct mapped *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].path);
		free(m[i].open_path);
	}
	free(m);
}

#define DELETED " (deleted)"

/*
 * The executable-mapped files of pid, in address order, each once; the exe first. A
 * file is opened through /proc/PID/root (the process's own mount namespace), or, when it
 * was deleted or replaced since it was mapped (a library upgraded under a running
 * process), through /proc/PID/map_files, which still reaches the mapped inode.
 */
static int mapped_files(pid_t pid, struct mapped **out, size_t *n)
{
	char maps[64], line[PATH_MAX + 128], exe[PATH_MAX];
	struct mapped *m = NULL;
	size_t cap = 0;
	ssize_t elen;
	FILE *f;

	*n = 0;
	snprintf(maps, sizeof(maps), "/proc/%d/exe", pid);
	elen = readlink(maps, exe, sizeof(exe) - 1);
	exe[elen > 0 ? elen : 0] = '\0';
	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		struct procfs_map pm;
		char *p, *op = NULL;
		size_t len;
		bool seen = false;

		if (procfs_parse_maps_line(line, &pm))
			continue;
		line[strcspn(line, "\n")] = '\0';
		p = line + (pm.path - line); /* the line, not a const copy */
		lo = pm.start;
		hi = pm.end;
		if (!pm.exec || p[0] != '/')
			continue;
		for (size_t i = 0; i < *n && !seen; i++)
			seen = !strcmp(m[i].path, p);
		if (seen)
			continue;
		len = strlen(p);
		if (len > strlen(DELETED) && !strcmp(p + len - strlen(DELETED), DELETED)) {
			if (asprintf(&op, "/proc/%d/map_files/%llx-%llx", pid, lo, hi) < 0)
				op = NULL;
		} else if (asprintf(&op, "/proc/%d/root%s", pid, p) < 0) {
			op = NULL;
		}
		if (*n == cap) {
			void *g = realloc(m, (cap = cap ? cap * 2 : 16) * sizeof(*m));

			if (!g) {
				free(op);
				break;
			}
			m = g;
		}
		p = strdup(p);
		if (!p || !op) {
			free(p);
			free(op);
			break;
		}
		/* the executable first: it comes first in resolution order */
		if (!strcmp(p, exe) && *n) {
			memmove(m + 1, m, *n * sizeof(*m));
			m[0] = (struct mapped){ p, op };
		} else {
			m[*n] = (struct mapped){ p, op };
		}
		(*n)++;
	}
	fclose(f);
	*out = m;
	return 0;
}

int callocs__find(pid_t pid, struct calloc_info *ci)
{
	struct elfbin *eb = NULL;
	struct mapped *m = NULL;
	size_t n;
	int err;

	memset(ci, 0, sizeof(*ci));
	err = mapped_files(pid, &m, &n);
	if (err)
		return err;
	/* the executable, then anything but the C library, then the C library */
	for (int pass = 0; pass < 2 && !eb; pass++)
		for (size_t i = 0; i < n && !eb; i++) {
			const char *k = kind_of(m[i].path, i == 0);
			bool is_libc = !strcmp(k, "glibc") || !strcmp(k, "musl");

			if (is_libc != (pass == 1))
				continue;
			if (defines_malloc(m[i].open_path, &eb)) {
				snprintf(ci->path, sizeof(ci->path), "%s", m[i].path);
				snprintf(ci->open_path, sizeof(ci->open_path), "%s", m[i].open_path);
				ci->kind = k;
			}
		}
	mapped_free(m, n);
	if (!eb)
		return -ENOENT;
	if (elfbin__build_id(eb))
		snprintf(ci->build_id, sizeof(ci->build_id), "%s", elfbin__build_id(eb));
	callocs__resolve(eb, ci);
	elfbin__free(eb);
	return 0;
}
