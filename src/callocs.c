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

/* Every function of the allocator in eb: address, probe site, aliases. */
static void resolve(struct elfbin *eb, struct calloc_info *ci)
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

/* Whether the object at path (in pid's root) defines malloc; opened into *out if so. */
static bool defines_malloc(pid_t pid, const char *path, struct elfbin **out)
{
	char full[PATH_MAX + 32];
	struct elfbin *eb;
	uint64_t addr;

	snprintf(full, sizeof(full), "/proc/%d/root%s", pid, path);
	eb = elfbin__open(full);
	if (!eb)
		return false;
	if (elfbin__symbol(eb, "malloc", &addr, NULL) || !addr) {
		elfbin__free(eb);
		return false;
	}
	*out = eb;
	return true;
}

/* The executable-mapped files of pid, in address order, each once; the exe first. */
static int mapped_files(pid_t pid, char ***paths, size_t *n)
{
	char maps[64], line[PATH_MAX + 128], exe[PATH_MAX];
	size_t cap = 0;
	ssize_t elen;
	FILE *f;

	*paths = NULL;
	*n = 0;
	snprintf(maps, sizeof(maps), "/proc/%d/exe", pid);
	elen = readlink(maps, exe, sizeof(exe) - 1);
	exe[elen > 0 ? elen : 0] = '\0';
	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char perms[8], *p = NULL;
		bool seen = false;

		if (sscanf(line, "%*x-%*x %7s %*x %*x:%*x %*u %ms", perms, &p) != 2 || !p) {
			free(p);
			continue;
		}
		line[strcspn(line, "\n")] = '\0';
		if (perms[2] != 'x' || p[0] != '/') {
			free(p);
			continue;
		}
		for (size_t i = 0; i < *n && !seen; i++)
			seen = !strcmp((*paths)[i], p);
		if (seen) {
			free(p);
			continue;
		}
		if (*n == cap) {
			void *g = realloc(*paths, (cap = cap ? cap * 2 : 16) * sizeof(**paths));

			if (!g) {
				free(p);
				break;
			}
			*paths = g;
		}
		/* the executable first: it comes first in resolution order */
		if (!strcmp(p, exe) && *n) {
			memmove(*paths + 1, *paths, *n * sizeof(**paths));
			(*paths)[0] = p;
		} else {
			(*paths)[*n] = p;
		}
		(*n)++;
	}
	fclose(f);
	return 0;
}

int callocs__find(pid_t pid, struct calloc_info *ci)
{
	struct elfbin *eb = NULL;
	char **paths;
	size_t n;
	int err;

	memset(ci, 0, sizeof(*ci));
	err = mapped_files(pid, &paths, &n);
	if (err)
		return err;
	/* the executable, then anything but the C library, then the C library */
	for (int pass = 0; pass < 2 && !eb; pass++)
		for (size_t i = 0; i < n && !eb; i++) {
			const char *k = kind_of(paths[i], i == 0);
			bool is_libc = !strcmp(k, "glibc") || !strcmp(k, "musl");

			if (is_libc != (pass == 1))
				continue;
			if (defines_malloc(pid, paths[i], &eb)) {
				snprintf(ci->path, sizeof(ci->path), "%s", paths[i]);
				ci->kind = k;
			}
		}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	if (!eb)
		return -ENOENT;
	if (elfbin__build_id(eb))
		snprintf(ci->build_id, sizeof(ci->build_id), "%s", elfbin__build_id(eb));
	resolve(eb, ci);
	elfbin__free(eb);
	return 0;
}
