// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * .go.buildinfo reader: the Go release, main module and build settings that
 * cmd/link writes into every Go binary, stripped or not (debug/buildinfo format,
 * debug/buildinfo/buildinfo.go@1.26). Since 1.18 the strings follow the 32-byte
 * header inline as uvarint-prefixed strings (flags bit 1); before that the
 * header held two pointers to Go strings, which we still decode to name the
 * release we refuse.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buildinfo.h"
#include "elfbin.h"

static const char buildinfo_magic[14] = "\xff Go buildinf:";

#define BI_HDR_SIZE 32
#define BI_FLAG_BIGENDIAN 0x1
#define BI_FLAG_INLINE 0x2
#define BI_MAX_STR (4 << 20)

/* Locates the header: the section when present, else a 16-byte aligned scan of
 * the first writable, non-executable PT_LOAD (what debug/buildinfo does). */
static const uint8_t *find_header(struct elfbin *eb, size_t *avail, uint64_t *addr)
{
	const struct elf_sect *s = elfbin__section(eb, ".go.buildinfo");
	const uint8_t *p;
	size_t len;

	if (s && (p = elfbin__section_data(eb, s, &len)) && len >= BI_HDR_SIZE &&
	    !memcmp(p, buildinfo_magic, sizeof(buildinfo_magic))) {
		*avail = len;
		*addr = s->addr;
		return p;
	}
	for (size_t i = 0; i < elfbin__segment_count(eb); i++) {
		const struct elf_seg *g = elfbin__segment_at(eb, i);
		const uint8_t *base;

		if (g->type != PT_LOAD || !(g->flags & PF_W) || (g->flags & PF_X))
			continue;
		base = elfbin__vaddr_ptr(eb, g->vaddr, g->filesz);
		if (!base)
			continue;
		/* debug/buildinfo searches the first 64 KiB of the segment */
		for (uint64_t o = 0; o + BI_HDR_SIZE <= g->filesz && o < (64 << 10); o += 16) {
			if (memcmp(base + o, buildinfo_magic, sizeof(buildinfo_magic)) == 0) {
				*avail = g->filesz - o;
				*addr = g->vaddr + o;
				return base + o;
			}
		}
		break;
	}
	return NULL;
}

/* Reads a uvarint-prefixed string; advances *off. */
static int read_vstring(const uint8_t *p, size_t avail, size_t *off, const uint8_t **s,
			size_t *len)
{
	uint64_t v = 0;
	int shift = 0;

	for (;;) {
		if (*off >= avail || shift > 63)
			return -EINVAL;
		v |= (uint64_t)(p[*off] & 0x7f) << shift;
		shift += 7;
		if (!(p[(*off)++] & 0x80))
			break;
	}
	if (v > BI_MAX_STR || v > avail - *off)
		return -EINVAL;
	*s = p + *off;
	*len = v;
	*off += v;
	return 0;
}

/* Pre-1.18 layout: two pointers to Go string headers {ptr, len}. */
static int read_ptr_string(struct elfbin *eb, uint64_t hdr_ptr, const uint8_t **s, size_t *len)
{
	uint64_t sptr, slen;

	if (elfbin__read_ptr(eb, hdr_ptr, &sptr) || elfbin__read_ptr(eb, hdr_ptr + 8, &slen))
		return -EINVAL;
	if (slen > BI_MAX_STR)
		return -EINVAL;
	*s = elfbin__vaddr_ptr(eb, sptr, slen);
	*len = slen;
	return *s ? 0 : -EINVAL;
}

/* Go quotes a build setting value with strconv.Quote when it has spaces or quotes. */
static char *unquote(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return NULL;
	if (len < 2 || s[0] != '"' || s[len - 1] != '"') {
		memcpy(out, s, len);
		out[len] = 0;
		return out;
	}
	for (size_t i = 1; i + 1 < len; i++) {
		char c = s[i];

		if (c == '\\' && i + 2 < len) {
			c = s[++i];
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
		}
		*o++ = c;
	}
	*o = 0;
	return out;
}

static char *dup_field(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = 0;
	}
	return d;
}

/* Splits "a\tb\tc" into at most n fields (pointers into line, lengths in lens). */
static int split_tabs(const char *line, size_t len, const char **f, size_t *lens, int n)
{
	int k = 0;
	size_t start = 0;

	for (size_t i = 0; i <= len && k < n; i++) {
		if (i == len || line[i] == '\t') {
			f[k] = line + start;
			lens[k++] = i - start;
			start = i + 1;
		}
	}
	return k;
}

static int add_setting(struct go_buildinfo *bi, const char *kv, size_t len)
{
	const char *eq = memchr(kv, '=', len);
	struct go_setting *ns;

	if (!eq)
		return 0;
	ns = realloc(bi->settings, (bi->nsettings + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	bi->settings = ns;
	ns[bi->nsettings].key = dup_field(kv, eq - kv);
	ns[bi->nsettings].value = unquote(eq + 1, len - (eq + 1 - kv));
	if (!ns[bi->nsettings].key || !ns[bi->nsettings].value) {
		free(ns[bi->nsettings].key);
		free(ns[bi->nsettings].value);
		return -ENOMEM;
	}
	bi->nsettings++;
	return 0;
}

static int parse_line(struct go_buildinfo *bi, const char *line, size_t len)
{
	const char *f[4];
	size_t fl[4];
	int n = split_tabs(line, len, f, fl, 4);

	if (n >= 2 && fl[0] == 4 && !memcmp(f[0], "path", 4)) {
		free(bi->path);
		bi->path = dup_field(f[1], fl[1]);
	} else if (n >= 3 && fl[0] == 3 && !memcmp(f[0], "mod", 3)) {
		free(bi->mod_path);
		free(bi->mod_version);
		free(bi->mod_sum);
		bi->mod_path = dup_field(f[1], fl[1]);
		bi->mod_version = dup_field(f[2], fl[2]);
		bi->mod_sum = dup_field(n > 3 ? f[3] : "", n > 3 ? fl[3] : 0);
	} else if (n >= 2 && fl[0] == 3 && !memcmp(f[0], "dep", 3)) {
		bi->ndeps++;
	} else if (n >= 2 && fl[0] == 5 && !memcmp(f[0], "build", 5)) {
		/* the value may itself contain tabs: take the rest of the line */
		return add_setting(bi, f[1], len - (f[1] - line));
	}
	return 0;
}

static int parse_modinfo(struct go_buildinfo *bi, const uint8_t *s, size_t len)
{
	size_t start = 0;
	int err;

	/* cmd/go frames modinfo with 16-byte sentinels (debug/buildinfo) */
	if (len >= 33 && s[len - 17] == '\n') {
		s += 16;
		len -= 32;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '\n')
			continue;
		err = parse_line(bi, (const char *)s + start, i - start);
		if (err)
			return err;
		start = i + 1;
	}
	return 0;
}

int go_version_parse(const char *s, struct go_version *v)
{
	const char *p = strstr(s, "go1.");
	char *end;
	long minor, patch = 0;

	if (!p)
		return -EINVAL;
	minor = strtol(p + 4, &end, 10);
	if (end == p + 4 || minor < 0 || minor > 1000)
		return -EINVAL;
	if (*end == '.') {
		patch = strtol(end + 1, &end, 10);
		if (patch < 0 || patch > 1000)
			return -EINVAL;
	}
	v->major = 1;
	v->minor = minor;
	v->patch = patch;
	return 0;
}

static int set_version(struct go_buildinfo *bi, const uint8_t *s, size_t len)
{
	if (len == 0 || len >= sizeof(bi->version_str))
		return -EINVAL;
	memcpy(bi->version_str, s, len);
	bi->version_str[len] = 0;
	return go_version_parse(bi->version_str, &bi->version);
}

static int read_strings(struct elfbin *eb, const uint8_t *hdr, size_t avail, uint64_t addr,
			const uint8_t **vs, size_t *vlen, const uint8_t **ms, size_t *mlen)
{
	size_t off = BI_HDR_SIZE;
	uint8_t ptrsize = hdr[14], flags = hdr[15];
	int err;

	if (flags & BI_FLAG_BIGENDIAN)
		return -EINVAL;
	if (flags & BI_FLAG_INLINE) {
		err = read_vstring(hdr, avail, &off, vs, vlen);
		return err ? err : read_vstring(hdr, avail, &off, ms, mlen);
	}
	if (ptrsize != 8 || elfbin__machine(eb) == EM_NONE)
		return -EINVAL;
	{
		uint64_t vp, mp;

		if (elfbin__read_ptr(eb, addr + 16, &vp) || elfbin__read_ptr(eb, addr + 24, &mp))
			return -EINVAL;
		err = read_ptr_string(eb, vp, vs, vlen);
		return err ? err : read_ptr_string(eb, mp, ms, mlen);
	}
}

int buildinfo__read(struct elfbin *eb, struct go_buildinfo *bi)
{
	const uint8_t *hdr, *vs, *ms;
	size_t avail, vlen, mlen;
	int err;

	memset(bi, 0, sizeof(*bi));
	hdr = find_header(eb, &avail, &bi->addr);
	if (!hdr)
		return -ENOENT;
	err = read_strings(eb, hdr, avail, bi->addr, &vs, &vlen, &ms, &mlen);
	if (!err)
		err = set_version(bi, vs, vlen);
	if (!err)
		err = parse_modinfo(bi, ms, mlen);
	if (!err && !bi->path)
		bi->path = strdup("");
	if (!err && (!bi->path || (bi->mod_path && (!bi->mod_version || !bi->mod_sum))))
		err = -ENOMEM;
	if (err)
		buildinfo__clear(bi);
	return err;
}

void buildinfo__clear(struct go_buildinfo *bi)
{
	for (int i = 0; i < bi->nsettings; i++) {
		free(bi->settings[i].key);
		free(bi->settings[i].value);
	}
	free(bi->settings);
	free(bi->path);
	free(bi->mod_path);
	free(bi->mod_version);
	free(bi->mod_sum);
	memset(bi, 0, sizeof(*bi));
}

const char *buildinfo__setting(const struct go_buildinfo *bi, const char *key)
{
	for (int i = 0; i < bi->nsettings; i++)
		if (strcmp(bi->settings[i].key, key) == 0)
			return bi->settings[i].value;
	return NULL;
}
