// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Memory cgroups, v1 and v2, for the early snapshot trigger (src/snapshot.c). The
 * parsers take text, whatever its bytes (tests/fuzz/fuzz_cgroup.c): /proc/PID/cgroup,
 * /proc/self/mountinfo, memory.stat.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgmem.h"
#include "procfs.h"

/* The next line of text[0..len): its start and length; false at the end. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **line,
		      size_t *n)
{
	const char *nl;

	if (*pos >= len)
		return false;
	*line = text + *pos;
	nl = memchr(*line, '\n', len - *pos);
	*n = nl ? (size_t)(nl - *line) : len - *pos;
	*pos += *n + 1;
	return true;
}

static void copy(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Whether the comma-separated list s[0..n) has the item word. */
static bool has_item(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);

	while (n) {
		const char *c = memchr(s, ',', n);
		size_t k = c ? (size_t)(c - s) : n;

		if (k == wl && !memcmp(s, word, wl))
			return true;
		if (!c)
			break;
		n -= k + 1;
		s = c + 1;
	}
	return false;
}

int cgmem_parse_proc_cgroup(const char *text, size_t len, char *path, size_t size)
{
	const char *line, *v2 = NULL;
	size_t pos = 0, n, v2n = 0;

	/* "ID:CONTROLLERS:PATH" (the path may hold ':') */
	while (next_line(text, len, &pos, &line, &n)) {
		const char *c1 = memchr(line, ':', n), *c2;

		if (!c1)
			continue;
		c2 = memchr(c1 + 1, ':', n - (c1 + 1 - line));
		if (!c2)
			continue;
		if (has_item(c1 + 1, c2 - c1 - 1, "memory")) {
			copy(path, size, c2 + 1, n - (c2 + 1 - line));
			return 1;
		}
		if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
			v2 = c2 + 1;
			v2n = n - (c2 + 1 - line);
		}
	}
	if (!v2)
		return 0;
	copy(path, size, v2, v2n);
	return 2;
}

/* Copies field s[0..n) with mountinfo's octal escapes (\040 space, \011 tab, ...) decoded. */
static void unescape(char *dst, size_t size, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < size; i++) {
		if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			dst[o++] = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 +
					  (s[i + 3] - '0'));
			i += 3;
		} else {
			dst[o++] = s[i];
		}
	}
	dst[o] = '\0';
}

/* Field k (0-based, space-separated) of line[0..n). */
static bool field(const char *line, size_t n, int k, const char **f, size_t *fn)
{
	size_t i = 0;

	for (int j = 0;; j++) {
		size_t start;

		while (i < n && line[i] == ' ')
			i++;
		if (i >= n)
			return false;
		start = i;
		while (i < n && line[i] != ' ')
			i++;
		if (j == k) {
			*f = line + start;
			*fn = i - start;
			return true;
		}
	}
}

int cgmem_parse_mountinfo(const char *text, size_t len, int version, char *mnt, size_t size)
{
	const char *line;
	size_t pos = 0, n;

	/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
	while (next_line(text, len, &pos, &line, &n)) {
		const char *mp, *f, *dash = NULL;
		size_t mpn, fn, rest;

		if (!field(line, n, 4, &mp, &mpn))
			continue;
		for (size_t i = 0; i + 2 < n; i++) {
			if (line[i] == ' ' && line[i + 1] == '-' && line[i + 2] == ' ') {
				dash = line + i + 3;
				break;
			}
		}
		if (!dash)
			continue;
		rest = n - (dash - line);
		if (!field(dash, rest, 0, &f, &fn))
			continue;
		if (version == 2 && fn == 7 && !memcmp(f, "cgroup2", 7)) {
			unescape(mnt, size, mp, mpn);
			return 0;
		}
		if (version == 1 && fn == 6 && !memcmp(f, "cgroup", 6) &&
		    field(dash, rest, 2, &f, &fn) && has_item(f, fn, "memory")) {
			unescape(mnt, size, mp, mpn);
			return 0;
		}
	}
	return -ENOENT;
}

int cgmem_parse_stat(const char *text, size_t len, const char *key, uint64_t *val)
{
	size_t kl = strlen(key), pos = 0, n;
	const char *line;

	while (next_line(text, len, &pos, &line, &n)) {
		char num[32];
		char *end;

		if (n <= kl || memcmp(line, key, kl) || line[kl] != ' ')
			continue;
		copy(num, sizeof(num), line + kl + 1, n - kl - 1);
		errno = 0;
		*val = strtoull(num, &end, 10);
		if (errno || end == num)
			return -EINVAL;
		return 0;
	}
	return -ENOENT;
}

/* mountinfo of a node with many containers runs to hundreds of KB */
#define MOUNTINFO_MAX (1 << 20)

int cgmem__find(pid_t pid, struct cgmem *cg)
{
	char path[64], rel[2048], *buf;
	ssize_t n;
	int v, err = -ENOENT;

	memset(cg, 0, sizeof(*cg));
	buf = malloc(MOUNTINFO_MAX);
	if (!buf)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	n = procfs_read(path, buf, MOUNTINFO_MAX);
	if (n < 0) {
		err = n;
		goto out;
	}
	v = cgmem_parse_proc_cgroup(buf, n, rel, sizeof(rel));
	/* a path from outside our cgroup namespace starts with "/.." */
	if (!v || rel[0] != '/' || strstr(rel, "/.."))
		goto out;
	n = procfs_read("/proc/self/mountinfo", buf, MOUNTINFO_MAX);
	if (n < 0) {
		err = n;
		goto out;
	}
	if (cgmem_parse_mountinfo(buf, n, v, cg->root, sizeof(cg->root)))
		goto out;
	err = -ENAMETOOLONG;
	if ((size_t)snprintf(cg->dir, sizeof(cg->dir), "%s%s", cg->root,
			     strcmp(rel, "/") ? rel : "") >= sizeof(cg->dir))
		goto out;
	cg->version = v;
	err = 0;
out:
	free(buf);
	return err;
}

/* A number file: a decimal, or "max" (v2) for no limit. */
static int read_num(const char *dir, const char *name, uint64_t *val)
{
	char path[4200], buf[64], *end;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	n = procfs_read(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (!strncmp(buf, "max", 3)) {
		*val = CGMEM_UNLIMITED;
		return 0;
	}
	errno = 0;
	*val = strtoull(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

int cgmem__usage(const struct cgmem *cg, uint64_t *bytes)
{
	if (!cg->version)
		return -ENOENT;
	return read_num(cg->dir, cg->version == 2 ? "memory.current" : "memory.usage_in_bytes",
			bytes);
}

/* v1 reports "no limit" as PAGE_COUNTER_MAX pages, rounded: anything past 2^62. */
#define V1_UNLIMITED (1ull << 62)

int cgmem__limit(const struct cgmem *cg, uint64_t *bytes)
{
	const char *name = cg->version == 2 ? "memory.max" : "memory.limit_in_bytes";
	size_t rootlen = strlen(cg->root);
	char dir[4096];
	uint64_t lim = CGMEM_UNLIMITED;

	if (!cg->version)
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s", cg->dir);
	for (;;) {
		uint64_t v;
		char *slash;

		/* v2's root has no memory.max; a file that cannot be read ends the walk */
		if (read_num(dir, name, &v))
			break;
		if (v >= V1_UNLIMITED)
			v = CGMEM_UNLIMITED;
		if (v < lim)
			lim = v;
		if (strlen(dir) <= rootlen)
			break;
		slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < rootlen)
			break;
		*slash = '\0';
	}
	*bytes = lim;
	return 0;
}

int cgmem__working_set(const struct cgmem *cg, uint64_t usage, uint64_t *bytes)
{
	char path[4200], buf[8192];
	uint64_t inactive;
	ssize_t n;

	if (!cg->version)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/memory.stat", cg->dir);
	n = procfs_read(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (cgmem_parse_stat(buf, n, cg->version == 2 ? "inactive_file" : "total_inactive_file",
			     &inactive))
		inactive = 0;
	*bytes = usage > inactive ? usage - inactive : 0;
	return 0;
}
