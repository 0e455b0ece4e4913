// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gosym on the Go toolchains installed here (Debian's go1.19 and /usr/local/go),
 * checked against the ELF symbol table (written by the Go linker, read by
 * elfbin), and on corrupted in-memory copies: bad headers must give clean
 * errors, and a cycle in the inline tree must end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfbin.h"
#include "gosym.h"
#include "test.h"

static const char *const binaries[] = {
	"/usr/lib/go-1.19/bin/go", /* magic 0xfffffff0, 20-byte inlinedCall */
	"/usr/local/go/bin/go",	   /* the newest release here */
};

static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* Every function's entry maps back to it; ends chain; names agree with .symtab. */
static void check_functions(struct elfbin *eb, struct gosym *gs, const char *path)
{
	uint32_t n = gosym__func_count(gs), bad_pc = 0, bad_end = 0, sym_ok = 0, sym_n = 0;
	uint32_t bad_name = 0;
	struct gosym_func fn, back, prev = { 0 };

	for (uint32_t i = 0; i < n; i++) {
		gosym__func_at(gs, i, &fn);
		if (gosym__func_by_pc(gs, fn.entry, &back) || back.entry != fn.entry)
			bad_pc++;
		if (i && prev.end != fn.entry)
			bad_end++;
		prev = fn;
		if (i % 97 == 0 && elfbin__has_symtab(eb)) {
			uint64_t addr;

			sym_n++;
			sym_ok += !elfbin__symbol(eb, fn.name, &addr, NULL) && addr == fn.entry;
			if (gosym__func_by_name(gs, fn.name, &back) || back.entry > fn.entry)
				bad_name++;
		}
	}
	CHECK(n > 1000, "%s: %u functions", path, n);
	CHECK(!bad_pc, "%s: every entry maps back to its function (%u do not)", path, bad_pc);
	CHECK(!bad_end, "%s: each function ends where the next begins (%u do not)", path, bad_end);
	/* a few names differ in .symtab (ABI0 suffixes, '.' for the middle dot) */
	if (sym_n)
		CHECK(sym_ok >= sym_n * 9 / 10, "%s: %u of %u sampled functions at their .symtab "
		      "address", path, sym_ok, sym_n);
	else
		printf("note: %s has no .symtab, names not cross-checked\n", path);
	CHECK(!bad_name, "%s: func_by_name finds sampled functions (%u missing)", path, bad_name);
	CHECK(gosym__func_by_name(gs, "runtime.mallocgc", &fn) == 0 && fn.entry < fn.end,
	      "%s: runtime.mallocgc by name", path);
	CHECK(gosym__func_by_name(gs, "no.such.function", &fn) == -ENOENT,
	      "%s: an absent name is -ENOENT", path);
}

static bool same_frames(const struct gosym_frame *a, int na, const struct gosym_frame *b, int nb)
{
	if (na != nb)
		return false;
	for (int k = 0; k < na; k++)
		if (a[k].func != b[k].func || a[k].file != b[k].file || a[k].line != b[k].line ||
		    a[k].inlined != b[k].inlined)
			return false;
	return true;
}

/* Frames: physical last, inlined before; the cache answers the same. */
static void check_frames(struct gosym *gs, const char *path)
{
	const struct gosym_info *in = gosym__info(gs);
	struct gosym_cache *c = gosym_cache__new(gs, 1024);
	struct gosym_frame a[64], b[64];
	uint32_t shape = 0, differ = 0, inl = 0, outside = 0;
	struct gosym_func fn;

	for (int i = 0; i < 200000; i++) {
		uint64_t pc = in->text + rnd() % (in->etext - in->text + 64);
		int na = gosym__frames(gs, pc, a, 64);
		/* twice: a miss that fills the slot, then (mostly) a hit */
		int nb = gosym_cache__frames(c, pc, b, 64);

		differ += !same_frames(a, na, b, nb);
		nb = gosym_cache__frames(c, pc, b, 64);
		if (na < 0) {
			outside += na == -ENOENT && gosym__func_by_pc(gs, pc, &fn) == -ENOENT;
			continue;
		}
		gosym__func_by_pc(gs, pc, &fn);
		if (a[na - 1].inlined || strcmp(a[na - 1].func, fn.name))
			shape++;
		for (int k = 0; k < na - 1; k++)
			shape += !a[k].inlined;
		inl += na > 1;
		differ += !same_frames(a, na, b, nb);
	}
	CHECK(!shape, "%s: last frame is the physical function, the others inlined (%u not)",
	      path, shape);
	CHECK(inl > 1000, "%s: %u of 200000 random pcs have inlined frames", path, inl);
	CHECK(!differ, "%s: cached frames equal uncached ones (%u differ)", path, differ);
	CHECK(outside > 0, "%s: pcs past etext are -ENOENT for frames and func_by_pc", path);
	CHECK(gosym__frames(gs, in->text - 1, a, 64) == -ENOENT, "%s: text - 1 is outside", path);
	gosym_cache__free(c);
}

/* A copy of the file, mutated by the caller, opened from memory. */
struct copy {
	uint8_t *buf;
	size_t len;
};

static int copy_file(const char *path, struct copy *cp)
{
	struct elfbin *eb = elfbin__open(path);
	const uint8_t *img;

	if (!eb)
		return -errno;
	img = elfbin__image(eb, &cp->len);
	cp->buf = malloc(cp->len);
	if (cp->buf)
		memcpy(cp->buf, img, cp->len);
	elfbin__free(eb);
	return cp->buf ? 0 : -ENOMEM;
}

/* errno of gosym__open on the copy with 8 bytes at pclntab + off replaced. */
static int open_patched(const struct copy *orig, uint64_t file_off, uint64_t off, uint64_t val,
			size_t width)
{
	uint8_t *buf = malloc(orig->len);
	struct elfbin *eb;
	struct gosym *gs = NULL;
	int err;

	memcpy(buf, orig->buf, orig->len);
	memcpy(buf + file_off + off, &val, width);
	eb = elfbin__open_mem(buf, orig->len);
	if (eb)
		gs = gosym__open(eb);
	err = gs ? 0 : errno;
	gosym__free(gs);
	elfbin__free(eb);
	free(buf);
	return err;
}

static int file_off_of(struct elfbin *eb, uint64_t vaddr, uint64_t *off)
{
	size_t len;
	const uint8_t *img = elfbin__image(eb, &len), *p = elfbin__vaddr_ptr(eb, vaddr, 8);

	if (!p)
		return -ERANGE;
	*off = p - img;
	return 0;
}

/* pcHeader fields (GO-RUNTIME.md 6.1) broken one at a time. */
static void check_bad_headers(const char *path, struct elfbin *eb, const struct gosym *gs)
{
	const struct gosym_info *in = gosym__info(gs);
	struct copy cp;
	uint64_t off;

	if (copy_file(path, &cp) || file_off_of(eb, in->pclntab, &off)) {
		CHECK(0, "%s: copy for corruption tests", path);
		return;
	}
	CHECK(open_patched(&cp, off, 0, 0xfffffffa, 4) == ENOTSUP,
	      "%s: Go 1.16 magic is ENOTSUP", path);
	CHECK(open_patched(&cp, off, 7, 4, 1) == EINVAL, "%s: ptrSize 4 is EINVAL", path);
	CHECK(open_patched(&cp, off, 8, 1ull << 40, 8) == EINVAL, "%s: huge nfunc is EINVAL",
	      path);
	CHECK(open_patched(&cp, off, 32, 1ull << 60, 8) == EINVAL,
	      "%s: funcnameOffset out of bounds is EINVAL", path);
	CHECK(open_patched(&cp, off, 64, 80, 8) == EINVAL,
	      "%s: pclnOffset before pctabOffset is EINVAL", path);
	CHECK(open_patched(&cp, off, 0, 0x12345678, 4) == EINVAL,
	      "%s: a pclntab section with an unknown magic is EINVAL", path);
	for (int i = 1; i < 8; i++) {
		struct elfbin *t = elfbin__open_mem(cp.buf, cp.len * i / 8);
		struct gosym *g = t ? gosym__open(t) : NULL;

		CHECK(!g || gosym__func_count(g), "%s: truncated to %d/8 opens or fails cleanly",
		      path, i);
		gosym__free(g);
		elfbin__free(t);
	}
	free(cp.buf);
}

/*
 * Points the parentPc of the inline-tree entry in force at pc back to pc itself,
 * so the walk out of the chain would never end. Reads the format as GO-RUNTIME.md
 * 6.4-6.6 gives it. Returns the file offset patched, or 0.
 */
static uint64_t make_cycle(struct elfbin *eb, const struct gosym *gs, const struct copy *cp,
			   uint64_t pc, uint32_t ix)
{
	const struct gosym_info *in = gosym__info(gs);
	bool go118 = in->magic == 0xfffffff0;
	uint32_t fsize = go118 ? 40 : 44, nfd_off = go118 ? 39 : 43;
	uint32_t isize = go118 ? 20 : 16, ipc = go118 ? 16 : 8;
	uint64_t hdr, pcln, fnoff, treeoff, ftab_off;
	struct gosym_func fn;
	uint32_t npcdata, fd3, rel;
	const uint8_t *f;

	if (gosym__func_by_pc(gs, pc, &fn) || file_off_of(eb, in->pclntab, &hdr))
		return 0;
	memcpy(&pcln, cp->buf + hdr + 64, 8);
	ftab_off = hdr + pcln + 8ull * fn.index;
	memcpy(&rel, cp->buf + ftab_off + 4, 4);
	fnoff = hdr + pcln + rel;
	f = cp->buf + fnoff;
	memcpy(&npcdata, f + 28, 4);
	if (f[nfd_off] <= 3)
		return 0;
	memcpy(&fd3, f + fsize + 4 * (npcdata + 3), 4);
	if (file_off_of(eb, in->gofunc + fd3 + (uint64_t)ix * isize, &treeoff))
		return 0;
	rel = pc - fn.entry;
	memcpy(cp->buf + treeoff + ipc, &rel, 4);
	return treeoff;
}

/*
 * The tree index in force at pc is not public: patch candidates one at a time
 * until the chain at pc changes.
 */
static void check_inline_cycle(const char *path, struct elfbin *eb, const struct gosym *gs)
{
	const struct gosym_info *in = gosym__info(gs);
	struct gosym_frame fr[8];
	struct copy cp;
	uint64_t pc = 0;
	int patched = 0, bounded = 0, tries = 0;

	if (copy_file(path, &cp))
		return;
	/* pcs with exactly one inlined frame: their tree index is the chain's only one,
	 * and any index we patch that is wrong only breaks a different chain */
	for (int i = 0; i < 2000000 && tries < 20; i++) {
		pc = in->text + rnd() % (in->etext - in->text);
		if (gosym__frames(gs, pc, fr, 8) != 2)
			continue;
		tries++;
		for (uint32_t ix = 0; ix < 64; ix++) {
			struct copy one = { malloc(cp.len), cp.len };
			struct elfbin *e2;
			struct gosym *g2;
			struct gosym_frame big[300];
			int n;

			memcpy(one.buf, cp.buf, cp.len);
			if (!make_cycle(eb, gs, &one, pc, ix)) {
				free(one.buf);
				break;
			}
			e2 = elfbin__open_mem(one.buf, one.len);
			g2 = e2 ? gosym__open(e2) : NULL;
			n = g2 ? gosym__frames(g2, pc, big, 300) : -1;
			patched++;
			/* the cycle shows as a chain cut at the walk's bound */
			if (n > 2) {
				bounded++;
				CHECK(n < 300 && !big[n - 1].inlined,
				      "%s: a parentPc cycle ends after %d frames, physical last",
				      path, n);
			}
			gosym__free(g2);
			elfbin__free(e2);
			free(one.buf);
			if (n > 2)
				goto done;
		}
	}
done:
	CHECK(bounded == 1, "%s: built an inline-tree cycle (%d patches tried)", path, patched);
	free(cp.buf);
}

/*
 * Without symbols and with moduledata unrecognisable (its pcHeader pointer
 * broken), runtime.text must come from pcHeader.textStart and give the same
 * functions; where textStart is 0 (Go 1.26) nothing is left: EINVAL.
 */
static void check_text_fallback(const char *path, struct elfbin *eb, const struct gosym *gs)
{
	const struct gosym_info *in = gosym__info(gs);
	uint64_t off, hdr, zero = 0, text_start = 0;
	struct elfbin *e2 = NULL;
	struct gosym *g2 = NULL;
	struct gosym_func a, b;
	uint32_t differ = 0;
	struct copy cp;

	if (elfbin__has_symtab(eb) || !in->moduledata || copy_file(path, &cp))
		return;
	if (!file_off_of(eb, in->moduledata, &off))
		memcpy(cp.buf + off, &zero, 8);
	if (!file_off_of(eb, in->pclntab, &hdr))
		memcpy(&text_start, cp.buf + hdr + 24, 8);
	e2 = elfbin__open_mem(cp.buf, cp.len);
	g2 = e2 ? gosym__open(e2) : NULL;
	if (!text_start) {
		CHECK(!g2 && errno == EINVAL, "%s: no moduledata and textStart 0: EINVAL", path);
	} else {
		CHECK(g2 && !strcmp(gosym__info(g2)->text_how, "pcHeader.textStart") &&
		      !gosym__info(g2)->moduledata, "%s: without moduledata, runtime.text from "
		      "pcHeader.textStart", path);
		for (uint32_t i = 0; g2 && i < gosym__func_count(gs); i++) {
			gosym__func_at(gs, i, &a);
			differ += gosym__func_at(g2, i, &b) || a.entry != b.entry;
		}
		CHECK(g2 && !differ, "%s: the same function entries (%u differ)", path, differ);
	}
	gosym__free(g2);
	elfbin__free(e2);
	free(cp.buf);
}

static void check_binary(const char *path)
{
	struct elfbin *eb = elfbin__open(path);
	struct gosym *gs = eb ? gosym__open(eb) : NULL;

	if (!gs) {
		CHECK(0, "%s: open: %s", path, strerror(errno));
		elfbin__free(eb);
		return;
	}
	check_functions(eb, gs, path);
	check_frames(gs, path);
	check_bad_headers(path, eb, gs);
	check_inline_cycle(path, eb, gs);
	check_text_fallback(path, eb, gs);
	gosym__free(gs);
	elfbin__free(eb);
}

int main(void)
{
	struct elfbin *eb = elfbin__open("/bin/sh");
	int tested = 0;

	CHECK(eb && !gosym__open(eb) && errno == ENOENT, "/bin/sh: not a Go binary, ENOENT");
	elfbin__free(eb);
	for (size_t i = 0; i < sizeof(binaries) / sizeof(binaries[0]); i++) {
		if (access(binaries[i], R_OK))
			continue;
		tested++;
		check_binary(binaries[i]);
	}
	CHECK(tested, "a Go toolchain to test on (scripts/deps.sh installs golang-1.19-go)");
	TEST_EXIT();
}
