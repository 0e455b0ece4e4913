// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Function symbols of an ELF file, sorted for address lookups, with the symbols of a
 * separate debug file (build-id or .gnu_debuglink) when the file itself has no .symtab.
 */
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "elfbin.h"
#include "elfsym.h"

/* A lookup past a sized symbol looks back this far for one that encloses it. */
#define MAX_NESTED 8

struct esym {
	uint64_t addr;
	uint64_t size;
	const char *name;
	uint8_t bind_rank; /* GLOBAL 0, WEAK 1, other 2: the public alias wins */
};

struct elfsym {
	struct elfbin *eb;
	bool own_eb;
	struct elfbin *debug; /* separate debug file, owned */
	struct esym *syms;
	size_t n, cap;
};

static int add_sym(const struct elf_symbol *s, void *ctx)
{
	struct elfsym *es = ctx;
	struct esym *v;

	if ((s->type != STT_FUNC && s->type != STT_GNU_IFUNC) || !s->value || !s->name[0])
		return 0;
	if (es->n == es->cap) {
		size_t cap = es->cap ? 2 * es->cap : 1024;

		v = realloc(es->syms, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		es->syms = v;
		es->cap = cap;
	}
	es->syms[es->n++] = (struct esym){
		.addr = s->value,
		.size = s->size,
		.name = s->name,
		.bind_rank = s->bind == STB_GLOBAL ? 0
			     : s->bind == STB_WEAK ? 1
						   : 2,
	};
	return 0;
}

static int add_table(struct elfsym *es, struct elfbin *eb, const char *name, uint32_t type)
{
	const struct elf_sect *tab = elfbin__section(eb, name);

	if (!tab || tab->type != type)
		return 0;
	/* a table outside the file (truncated) adds nothing; the other one may still serve */
	if (elfbin__for_each_symbol(eb, tab, add_sym, es) == -ENOMEM)
		return -ENOMEM;
	return 0;
}

static size_t underscores(const char *s)
{
	return strspn(s, "_");
}

/*
 * By address; among aliases the sized, public (global or weak), least-underscored,
 * global, shortest name first: glibc's weak pvalloc before its global __libc_pvalloc.
 */
static int sym_cmp(const void *a, const void *b)
{
	const struct esym *x = a, *y = b;
	size_t ux, uy, lx, ly;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (!x->size != !y->size)
		return x->size ? -1 : 1;
	if ((x->bind_rank == 2) != (y->bind_rank == 2))
		return x->bind_rank == 2 ? 1 : -1;
	ux = underscores(x->name);
	uy = underscores(y->name);
	if (ux != uy)
		return ux < uy ? -1 : 1;
	if (x->bind_rank != y->bind_rank)
		return x->bind_rank - y->bind_rank;
	lx = strlen(x->name);
	ly = strlen(y->name);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Sorts and keeps one symbol per address, the largest size among its aliases. */
static void sort_dedup(struct elfsym *es)
{
	size_t out = 0;

	if (!es->n)
		return;
	qsort(es->syms, es->n, sizeof(*es->syms), sym_cmp);
	for (size_t i = 1; i < es->n; i++) {
		struct esym *keep = &es->syms[out];

		if (es->syms[i].addr == keep->addr) {
			if (es->syms[i].size > keep->size)
				keep->size = es->syms[i].size;
			continue;
		}
		es->syms[++out] = es->syms[i];
	}
	es->n = out + 1;
}

static uint32_t file_crc(const struct elfbin *eb)
{
	size_t len, done = 0;
	const uint8_t *img = elfbin__image(eb, &len);
	uLong crc = crc32(0, Z_NULL, 0);

	/* zlib's crc32 takes a uInt length: feed it in chunks */
	while (done < len) {
		size_t k = len - done < (1u << 30) ? len - done : (1u << 30);

		crc = crc32(crc, img + done, k);
		done += k;
	}
	return (uint32_t)crc;
}

static struct elfbin *open_debug_buildid(const struct elfbin *eb, const char *root)
{
	const char *id = elfbin__build_id(eb);
	struct elfbin *d;
	char path[PATH_MAX];

	if (strlen(id) < 4)
		return NULL;
	if (snprintf(path, sizeof(path), "%s/usr/lib/debug/.build-id/%.2s/%s.debug", root, id,
		     id + 2) >= (int)sizeof(path))
		return NULL;
	d = elfbin__open(path);
	if (d && strcmp(elfbin__build_id(d), id)) {
		elfbin__free(d);
		return NULL;
	}
	return d;
}

/* Candidate i of the .gnu_debuglink search (gdb's order); false past the last one. */
static bool link_candidate(int i, const char *root, const char *dir, int dirlen, const char *name,
			   char *out, size_t cap)
{
	int n;

	switch (i) {
	case 0:
		n = snprintf(out, cap, "%s%.*s/%s", root, dirlen, dir, name);
		break;
	case 1:
		n = snprintf(out, cap, "%s%.*s/.debug/%s", root, dirlen, dir, name);
		break;
	case 2:
		n = snprintf(out, cap, "%s/usr/lib/debug%.*s/%s", root, dirlen, dir, name);
		break;
	default:
		return false;
	}
	if (n >= (int)cap)
		out[0] = '\0';
	return true;
}

static struct elfbin *open_debug_link(struct elfbin *eb, const char *root, const char *path)
{
	const char *name, *slash = path ? strrchr(path, '/') : NULL;
	struct elfbin *d;
	char cand[PATH_MAX];
	uint32_t crc;

	if (!slash || elfbin__debuglink(eb, &name, &crc) || strchr(name, '/'))
		return NULL;
	for (int i = 0; link_candidate(i, root, path, slash - path, name, cand, sizeof(cand));
	     i++) {
		d = cand[0] ? elfbin__open(cand) : NULL;
		if (!d)
			continue;
		if (file_crc(d) == crc && elfbin__has_symtab(d))
			return d;
		elfbin__free(d);
	}
	return NULL;
}

static int load(struct elfsym *es, const char *root, const char *path)
{
	int err;

	root = root ? root : "";
	if (!elfbin__has_symtab(es->eb)) {
		es->debug = open_debug_buildid(es->eb, root);
		if (es->debug && !elfbin__has_symtab(es->debug)) {
			elfbin__free(es->debug);
			es->debug = NULL;
		}
		if (!es->debug)
			es->debug = open_debug_link(es->eb, root, path);
	}
	err = add_table(es, es->eb, ".symtab", SHT_SYMTAB);
	if (!err)
		err = add_table(es, es->eb, ".dynsym", SHT_DYNSYM);
	if (!err && es->debug)
		err = add_table(es, es->debug, ".symtab", SHT_SYMTAB);
	if (!err)
		sort_dedup(es);
	return err;
}

struct elfsym *elfsym__open_elf(struct elfbin *eb, const char *root, const char *path)
{
	struct elfsym *es = calloc(1, sizeof(*es));
	int err;

	if (!es)
		return NULL;
	es->eb = eb;
	err = load(es, root, path);
	if (err) {
		elfsym__free(es);
		errno = -err;
		return NULL;
	}
	return es;
}

struct elfsym *elfsym__open(const char *root, const char *path)
{
	struct elfbin *eb;
	struct elfsym *es;
	char host[PATH_MAX];

	if (snprintf(host, sizeof(host), "%s%s", root ? root : "", path) >= (int)sizeof(host)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	eb = elfbin__open(host);
	if (!eb)
		return NULL;
	es = elfsym__open_elf(eb, root, path);
	if (!es) {
		elfbin__free(eb);
		return NULL;
	}
	es->own_eb = true;
	return es;
}

void elfsym__free(struct elfsym *es)
{
	if (!es)
		return;
	free(es->syms);
	elfbin__free(es->debug);
	if (es->own_eb)
		elfbin__free(es->eb);
	free(es);
}

static void fill_hit(const struct esym *s, uint64_t addr, struct elfsym_hit *hit)
{
	hit->name = s->name;
	hit->addr = s->addr;
	hit->size = s->size;
	hit->offset = addr - s->addr;
}

int elfsym__lookup(const struct elfsym *es, uint64_t addr, struct elfsym_hit *hit)
{
	size_t lo = 0, hi = es->n;

	/* the last symbol at or below addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (es->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -ENOENT;
	for (size_t i = lo, k = 0; i-- > 0 && k < MAX_NESTED; k++) {
		const struct esym *s = &es->syms[i];

		/* zero size: up to the next symbol, only for the nearest one */
		if ((!s->size && k == 0) || addr - s->addr < s->size) {
			fill_hit(s, addr, hit);
			return 0;
		}
	}
	return -ENOENT;
}

int elfsym__addr_of(const struct elfsym *es, const char *name, uint64_t *addr)
{
	for (size_t i = 0; i < es->n; i++) {
		if (!strcmp(es->syms[i].name, name)) {
			*addr = es->syms[i].addr;
			return 0;
		}
	}
	return -ENOENT;
}

size_t elfsym__count(const struct elfsym *es)
{
	return es->n;
}

int elfsym__at(const struct elfsym *es, size_t i, struct elfsym_hit *sym)
{
	if (i >= es->n)
		return -ERANGE;
	fill_hit(&es->syms[i], es->syms[i].addr, sym);
	return 0;
}

const char *elfsym__build_id(const struct elfsym *es)
{
	return elfbin__build_id(es->eb);
}

const char *elfsym__debug_file(const struct elfsym *es)
{
	return es->debug ? elfbin__path(es->debug) : NULL;
}

struct elfbin *elfsym__elf(const struct elfsym *es)
{
	return es->eb;
}
