// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Runtime addresses of a process to Go and C frames: /proc/PID/maps for the modules,
 * gosym for the Go executable's pclntab, elfsym for everything else.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "elfbin.h"
#include "elfsym.h"
#include "gosym.h"
#include "pprof.h"
#include "procfs.h"
#include "procsym.h"
#include "target.h"

#define CACHE_SETS    2048
#define MAX_GO_FRAMES 64
/* Addresses in no known mapping read the maps again at most this often. */
#define REREAD_NS 1000000000LL

struct pmodule {
	char *path; /* as the process sees it, " (deleted)" cut */
	uint64_t dev, ino;
	bool is_exe;
	bool opened; /* open tried (eb/es may still be NULL) */
	struct elfbin *eb;
	struct elfsym *es;
	const char *build_id;
	struct pmodule *next;
};

struct pmap {
	uint64_t start, end, offset;
	struct pmodule *mod;
	bool bias_known;
	uint64_t bias; /* runtime = link-time + bias, for C symbols */
};

struct cache_slot {
	uint64_t key; /* pc << 1 | is_return */
	int8_t n;     /* 0: empty */
	struct procsym_frame frames[PROCSYM_CACHE_DEPTH];
};

struct cache_set {
	struct cache_slot way[2];
	uint8_t mru;
};

struct procsym {
	struct target *t;
	struct pmodule *mods; /* every module ever seen: frames point into them */
	struct pmap *maps;    /* sorted by start */
	size_t nmaps;
	uint64_t exe_dev, exe_ino;
	int64_t last_read_ns;
	struct cache_set *sets;
	uint64_t hits, lookups;
	char scratch[PATH_MAX + 32]; /* the pprof callback's "module+0xADDR" */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cache_flush(struct procsym *ps)
{
	memset(ps->sets, 0, CACHE_SETS * sizeof(*ps->sets));
}

static struct pmodule *module_get(struct procsym *ps, const char *path, uint64_t dev, uint64_t ino)
{
	struct pmodule *m;
	size_t len = strlen(path);
	static const char deleted[] = " (deleted)";

	if (len > sizeof(deleted) - 1 && !strcmp(path + len - (sizeof(deleted) - 1), deleted))
		len -= sizeof(deleted) - 1;
	for (m = ps->mods; m; m = m->next)
		if (m->dev == dev && m->ino == ino && strlen(m->path) == len &&
		    !strncmp(m->path, path, len))
			return m;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->path = strndup(path, len))) {
		free(m);
		return NULL;
	}
	m->dev = dev;
	m->ino = ino;
	m->build_id = "";
	m->is_exe =
		(ino && dev == ps->exe_dev && ino == ps->exe_ino) || !strcmp(m->path, ps->t->exe);
	m->next = ps->mods;
	ps->mods = m;
	return m;
}

/* One line of /proc/PID/maps, without its newline. */
static int parse_line(struct procsym *ps, const char *line, struct pmap *out)
{
	struct procfs_map m;

	if (procfs_parse_maps_line(line, &m))
		return -EINVAL;
	if (!m.exec || (m.path[0] != '/' && m.path[0] != '['))
		return -ENOENT;
	*out = (struct pmap){.start = m.start, .end = m.end, .offset = m.offset};
	out->mod = module_get(ps, m.path, makedev(m.major, m.minor), m.inode);
	return out->mod ? 0 : -ENOMEM;
}

static int map_cmp(const void *a, const void *b)
{
	const struct pmap *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int read_maps(struct procsym *ps)
{
	char path[64], *line = NULL;
	struct pmap *maps = NULL, *v;
	size_t n = 0, cap = 0, lcap = 0;
	ssize_t len;
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", ps->t->pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (!err && (len = getline(&line, &lcap, f)) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = realloc(maps, cap * sizeof(*v));
			if (!v) {
				err = -ENOMEM;
				break;
			}
			maps = v;
		}
		err = parse_line(ps, line, &maps[n]);
		if (!err)
			n++;
		else if (err != -ENOMEM)
			err = 0;
	}
	free(line);
	fclose(f);
	if (err) {
		free(maps);
		return err;
	}
	qsort(maps, n, sizeof(*maps), map_cmp);
	free(ps->maps);
	ps->maps = maps;
	ps->nmaps = n;
	ps->last_read_ns = now_ns();
	cache_flush(ps);
	return 0;
}

int procsym__refresh(struct procsym *ps)
{
	return read_maps(ps);
}

struct procsym *procsym__open(struct target *t)
{
	struct procsym *ps = calloc(1, sizeof(*ps));
	char exe[64];
	struct stat st;
	int err;

	if (!ps)
		return NULL;
	ps->t = t;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", t->pid);
	if (!stat(exe, &st)) {
		ps->exe_dev = st.st_dev;
		ps->exe_ino = st.st_ino;
	}
	ps->sets = calloc(CACHE_SETS, sizeof(*ps->sets));
	if (!ps->sets) {
		err = -ENOMEM;
		goto fail;
	}
	err = read_maps(ps);
	if (err)
		goto fail;
	return ps;
fail:
	procsym__free(ps);
	errno = -err;
	return NULL;
}

void procsym__free(struct procsym *ps)
{
	struct pmodule *m, *next;

	if (!ps)
		return;
	for (m = ps->mods; m; m = next) {
		next = m->next;
		elfsym__free(m->es);
		elfbin__free(m->eb);
		free(m->path);
		free(m);
	}
	free(ps->maps);
	free(ps->sets);
	free(ps);
}

/*
 * The module's file: the Go executable is already open; others through the root,
 * or /proc/PID/map_files when the file was deleted or replaced.
 */
static void module_open(struct procsym *ps, struct pmodule *m, const struct pmap *pm)
{
	char host[PATH_MAX];

	m->opened = true;
	if (m->path[0] != '/')
		return;
	if (m->is_exe && ps->t->bin) {
		m->es = elfsym__open_elf(ps->t->bin->elf, ps->t->root, ps->t->exe);
		m->build_id = elfbin__build_id(ps->t->bin->elf);
		if (!m->build_id[0])
			m->build_id = ps->t->bin->facts.go_buildid;
		return;
	}
	snprintf(host, sizeof(host), "%s%s", ps->t->root, m->path);
	m->eb = elfbin__open(host);
	if (!m->eb) {
		snprintf(host, sizeof(host), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, ps->t->pid,
			 pm->start, pm->end);
		m->eb = elfbin__open(host);
	}
	if (!m->eb)
		return;
	m->build_id = elfbin__build_id(m->eb);
	m->es = elfsym__open_elf(m->eb, ps->t->root, m->path);
}

/*
 * Load bias from the mapping: the PT_LOAD whose file range holds the mapping's offset
 * was placed with file offset `offset` at `start`, so link-time vaddr v is at
 * v + start - offset - (p_vaddr - p_offset).
 */
static void map_bias(struct procsym *ps, struct pmap *pm)
{
	struct elfbin *eb = pm->mod->is_exe && ps->t->bin ? ps->t->bin->elf : pm->mod->eb;
	size_t n = eb ? elfbin__segment_count(eb) : 0;

	pm->bias_known = true;
	pm->bias = pm->start - pm->offset;
	for (size_t i = 0; i < n; i++) {
		const struct elf_seg *s = elfbin__segment_at(eb, i);
		uint64_t page_off = s->off & ~0xfffULL;

		if (s->type != PT_LOAD || pm->offset < page_off || pm->offset >= s->off + s->filesz)
			continue;
		pm->bias = pm->start - pm->offset - (s->vaddr - s->off);
		if (s->flags & PF_X)
			return;
	}
}

static struct pmap *map_of(struct procsym *ps, uint64_t pc)
{
	size_t lo = 0, hi = ps->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ps->maps[mid].start <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && pc < ps->maps[lo - 1].end ? &ps->maps[lo - 1] : NULL;
}

static int go_frames(struct procsym *ps, struct pmap *pm, uint64_t pc, bool is_return,
		     struct procsym_frame *out, int max)
{
	const struct gosym *gs = ps->t->bin ? ps->t->bin->sym : NULL;
	struct gosym_frame fr[MAX_GO_FRAMES];
	uint64_t link = pc - ps->t->bias;
	struct gosym_func fn;
	int n;

	if (!gs || gosym__func_by_pc(gs, is_return ? link - 1 : link, &fn))
		return 0;
	n = gosym__frames(gs, is_return ? link - 1 : link, fr,
			  max < MAX_GO_FRAMES ? max : MAX_GO_FRAMES);
	for (int i = 0; i < n; i++) {
		out[i] = (struct procsym_frame){
			.pc = pc,
			.func = fr[i].func,
			.file = fr[i].file,
			.line = fr[i].line,
			.inlined = fr[i].inlined,
			.is_go = true,
			.module = pm->mod->path,
			.build_id = pm->mod->build_id,
			.module_addr = link,
			.sym_off = fr[i].inlined ? 0 : link - fn.entry,
		};
	}
	return n > 0 ? n : 0;
}

static int c_frame(struct procsym *ps, struct pmap *pm, uint64_t pc, bool is_return,
		   struct procsym_frame *out)
{
	struct pmodule *m = pm->mod;
	struct elfsym_hit hit;
	uint64_t link;

	if (!m->opened)
		module_open(ps, m, pm);
	if (!pm->bias_known)
		map_bias(ps, pm);
	link = pc - pm->bias;
	*out = (struct procsym_frame){
		.pc = pc,
		.module = m->path,
		.build_id = m->build_id,
		.module_addr = link,
	};
	if (m->es && !elfsym__lookup(m->es, is_return ? link - 1 : link, &hit)) {
		out->func = hit.name;
		out->sym_off = link - hit.addr;
	}
	return 1;
}

static int lookup(struct procsym *ps, uint64_t pc, bool is_return, struct procsym_frame *out,
		  int max)
{
	struct pmap *pm = map_of(ps, pc);
	int n;

	if (!pm && now_ns() - ps->last_read_ns >= REREAD_NS && !read_maps(ps))
		pm = map_of(ps, pc);
	if (!pm)
		return 0;
	if (pm->mod->is_exe) {
		n = go_frames(ps, pm, pc, is_return, out, max);
		if (n)
			return n;
	}
	return c_frame(ps, pm, pc, is_return, out);
}

static inline uint32_t set_of(uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (CACHE_SETS - 1);
}

int procsym__frames(struct procsym *ps, uint64_t pc, bool is_return, struct procsym_frame *out,
		    int max)
{
	uint64_t key = pc << 1 | is_return;
	struct cache_set *set = &ps->sets[set_of(key)];
	struct procsym_frame tmp[PROCSYM_CACHE_DEPTH + 1];
	struct cache_slot *s;
	int n;

	if (max <= 0)
		return -EINVAL;
	ps->lookups++;
	for (int w = 0; w < 2; w++) {
		s = &set->way[w];
		if (s->n && s->key == key && s->n <= max) {
			ps->hits++;
			set->mru = w;
			memcpy(out, s->frames, s->n * sizeof(*out));
			return s->n;
		}
	}
	/* one more than fits: a chain that fills tmp is deeper than a slot */
	n = lookup(ps, pc, is_return, tmp, PROCSYM_CACHE_DEPTH + 1);
	if (n > PROCSYM_CACHE_DEPTH || n > max)
		return lookup(ps, pc, is_return, out, max);
	if (n <= 0)
		return n;
	set->mru = !set->mru;
	s = &set->way[set->mru];
	memcpy(s->frames, tmp, n * sizeof(*tmp));
	s->key = key;
	s->n = n;
	memcpy(out, tmp, n * sizeof(*tmp));
	return n;
}

size_t procsym__mapping_count(const struct procsym *ps)
{
	return ps->nmaps;
}

int procsym__mapping_at(const struct procsym *ps, size_t i, struct procsym_mapping *m)
{
	const struct pmap *pm;

	if (i >= ps->nmaps)
		return -ERANGE;
	pm = &ps->maps[i];
	*m = (struct procsym_mapping){
		.start = pm->start,
		.limit = pm->end,
		.offset = pm->offset,
		.path = pm->mod->path,
		.build_id = pm->mod->build_id,
		.is_exe = pm->mod->is_exe,
	};
	return 0;
}

void procsym__stats(const struct procsym *ps, uint64_t *hits, uint64_t *lookups)
{
	*hits = ps->hits;
	*lookups = ps->lookups;
}

int procsym__add_pprof_mappings(struct procsym *ps, struct pprof *p)
{
	for (size_t i = 0; i < ps->nmaps; i++) {
		struct pmap *pm = &ps->maps[i];
		struct pprof_mapping m = {
			.start = pm->start,
			.limit = pm->end,
			.offset = pm->offset,
			.file = pm->mod->path,
		};
		int err;

		/* the build id is known once the module is open */
		if (!pm->mod->opened)
			module_open(ps, pm->mod, pm);
		m.build_id = pm->mod->build_id;
		err = pprof__add_mapping(p, &m);
		if (err < 0)
			return err;
	}
	return 0;
}

int procsym__pprof_symbolizer(void *ctx, uint64_t pc, bool is_return, struct pprof_frame *out,
			      int max)
{
	struct procsym *ps = ctx;
	struct procsym_frame fr[MAX_GO_FRAMES];
	const char *base;
	int n = procsym__frames(ps, pc, is_return, fr, max < MAX_GO_FRAMES ? max : MAX_GO_FRAMES);

	for (int i = 0; i < n; i++) {
		out[i] = (struct pprof_frame){
			.func = fr[i].func, .file = fr[i].file, .line = fr[i].line};
		if (fr[i].func)
			continue;
		base = strrchr(fr[i].module, '/');
		snprintf(ps->scratch, sizeof(ps->scratch), "%s+0x%" PRIx64,
			 base ? base + 1 : fr[i].module, fr[i].module_addr);
		out[i].func = ps->scratch;
	}
	return n;
}
