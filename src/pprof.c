// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pprof profiles: a small protobuf encoder (varints, length-delimited fields, packed
 * repeated ints) for github.com/google/pprof/proto/profile.proto, symbolization with
 * the pclntab, and gzip with zlib.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <elf.h>
#include <zlib.h>

#include "elfbin.h"
#include "gosym.h"
#include "pprof.h"
#include "target.h"

/* runtime/pprof/protomem.go writeHeapProto (Go 1.19-1.26): the order go tool pprof shows. */
const struct pprof_value_type pprof_heap_types[PPROF_HEAP_NTYPES] = {
	[PPROF_ALLOC_OBJECTS] = {"alloc_objects", "count"},
	[PPROF_ALLOC_SPACE] = {"alloc_space", "bytes"},
	[PPROF_INUSE_OBJECTS] = {"inuse_objects", "count"},
	[PPROF_INUSE_SPACE] = {"inuse_space", "bytes"},
};
const struct pprof_value_type pprof_heap_period_type = {"space", "bytes"};
const struct pprof_value_type pprof_goroutine_type = {"goroutine", "count"};

/* profile.proto field numbers. */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
	VALUETYPE_TYPE = 1,
	VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1,
	SAMPLE_VALUE = 2,
	SAMPLE_LABEL = 3,
	LABEL_KEY = 1,
	LABEL_STR = 2,
	LABEL_NUM = 3,
	LABEL_NUM_UNIT = 4,
	MAPPING_ID = 1,
	MAPPING_MEMORY_START = 2,
	MAPPING_MEMORY_LIMIT = 3,
	MAPPING_FILE_OFFSET = 4,
	MAPPING_FILENAME = 5,
	MAPPING_BUILD_ID = 6,
	MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,
	MAPPING_HAS_INLINE_FRAMES = 10,
	LOCATION_ID = 1,
	LOCATION_MAPPING_ID = 2,
	LOCATION_ADDRESS = 3,
	LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1,
	LINE_LINE = 2,
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
	FUNCTION_FILENAME = 4,
};

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* Inline chains deeper than this keep their innermost frames and the physical one. */
#define PPROF_MAX_FRAMES 64
/* Strings longer than this are cut: names and paths, never megabytes. */
#define PPROF_MAX_STRLEN 4096
/* Mappings one profile takes (a process's executable mappings fit many times). */
#define PPROF_MAX_MAPPINGS 4096

/* ---- growable byte buffer; the first failure sticks in err ---- */

struct pbuf {
	uint8_t *d;
	size_t len, cap;
	int err;
};

static void pb_reserve(struct pbuf *b, size_t n)
{
	size_t cap;
	uint8_t *d;

	if (b->err || b->len + n <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	d = realloc(b->d, cap);
	if (!d) {
		b->err = -ENOMEM;
		return;
	}
	b->d = d;
	b->cap = cap;
}

static void pb_raw(struct pbuf *b, const void *p, size_t n)
{
	pb_reserve(b, n);
	if (b->err || !n)
		return;
	memcpy(b->d + b->len, p, n);
	b->len += n;
}

static int varint_len(uint64_t v)
{
	int n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void pb_varint(struct pbuf *b, uint64_t v)
{
	uint8_t tmp[10];
	int n = 0;

	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	pb_raw(b, tmp, n);
}

static void pb_key(struct pbuf *b, int field, int wire)
{
	pb_varint(b, ((uint64_t)field << 3) | wire);
}

/* int64 and uint64 fields share the varint encoding (negatives take 10 bytes). */
static void pb_int(struct pbuf *b, int field, uint64_t v)
{
	pb_key(b, field, WIRE_VARINT);
	pb_varint(b, v);
}

/* proto3 scalars: zero is the default and is left out. */
static void pb_int_opt(struct pbuf *b, int field, uint64_t v)
{
	if (v)
		pb_int(b, field, v);
}

static void pb_bytes(struct pbuf *b, int field, const void *p, size_t n)
{
	pb_key(b, field, WIRE_LEN);
	pb_varint(b, n);
	pb_raw(b, p, n);
}

static void pb_packed(struct pbuf *b, int field, const uint64_t *v, int n)
{
	size_t len = 0;

	if (n <= 0)
		return;
	for (int i = 0; i < n; i++)
		len += varint_len(v[i]);
	pb_key(b, field, WIRE_LEN);
	pb_varint(b, len);
	for (int i = 0; i < n; i++)
		pb_varint(b, v[i]);
}

/* Appends the message built in m as field of b, and empties m for the next one. */
static void pb_message(struct pbuf *b, int field, struct pbuf *m)
{
	if (m->err && !b->err)
		b->err = m->err;
	pb_bytes(b, field, m->d, m->err ? 0 : m->len);
	m->len = 0;
}

/* ---- hash maps: (a, b) -> id, and the string table ---- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

/* Open addressing, values > 0 (0 marks an empty slot), grown at half full. */
struct idmap {
	uint64_t *ka, *kb;
	uint32_t *val;
	uint32_t cap, n;
};

static void idmap_free(struct idmap *m)
{
	free(m->ka);
	free(m->kb);
	free(m->val);
	memset(m, 0, sizeof(*m));
}

static uint32_t idmap_get(const struct idmap *m, uint64_t a, uint64_t b)
{
	if (!m->cap)
		return 0;
	for (uint32_t i = mix64(a ^ mix64(b)) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->val[i] || (m->ka[i] == a && m->kb[i] == b))
			return m->val[i];
	}
}

static void idmap_put_slot(struct idmap *m, uint64_t a, uint64_t b, uint32_t v)
{
	uint32_t i = mix64(a ^ mix64(b)) & (m->cap - 1);

	while (m->val[i])
		i = (i + 1) & (m->cap - 1);
	m->ka[i] = a;
	m->kb[i] = b;
	m->val[i] = v;
	m->n++;
}

static int idmap_grow(struct idmap *m)
{
	struct idmap old = *m;
	uint32_t cap = old.cap ? old.cap * 2 : 256;

	if (cap > (1u << 30))
		return -E2BIG;
	m->ka = calloc(cap, sizeof(*m->ka));
	m->kb = calloc(cap, sizeof(*m->kb));
	m->val = calloc(cap, sizeof(*m->val));
	if (!m->ka || !m->kb || !m->val) {
		idmap_free(m);
		*m = old;
		return -ENOMEM;
	}
	m->cap = cap;
	m->n = 0;
	for (uint32_t i = 0; i < old.cap; i++)
		if (old.val[i])
			idmap_put_slot(m, old.ka[i], old.kb[i], old.val[i]);
	idmap_free(&old);
	return 0;
}

/* Key must be absent. */
static int idmap_put(struct idmap *m, uint64_t a, uint64_t b, uint32_t v)
{
	int err;

	if (2 * (m->n + 1) > m->cap) {
		err = idmap_grow(m);
		if (err)
			return err;
	}
	idmap_put_slot(m, a, b, v);
	return 0;
}

/* Strings by index; the map goes from (hash, length) to index + 1, strcmp settles. */
struct strtab {
	char **s;
	uint32_t n, cap;
	uint32_t *slot;
	uint32_t nslot;
};

static uint64_t str_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
	return h;
}

static void strtab_free(struct strtab *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

static void strtab_place(struct strtab *t, uint32_t idx)
{
	const char *s = t->s[idx];
	uint32_t i = str_hash(s, strlen(s)) & (t->nslot - 1);

	while (t->slot[i])
		i = (i + 1) & (t->nslot - 1);
	t->slot[i] = idx + 1;
}

static int strtab_grow(struct strtab *t)
{
	uint32_t nslot = t->nslot ? t->nslot * 2 : 1024;
	uint32_t *slot;
	char **s;

	if (nslot > (1u << 30))
		return -E2BIG;
	slot = calloc(nslot, sizeof(*slot));
	s = realloc(t->s, nslot / 2 * sizeof(*s));
	if (s)
		t->s = s;
	if (!slot || !s) {
		free(slot);
		return -ENOMEM;
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = nslot;
	t->cap = nslot / 2;
	for (uint32_t i = 0; i < t->n; i++)
		strtab_place(t, i);
	return 0;
}

/* Index of s (NULL counts as ""), added when new; -errno on failure. */
static int64_t strtab_intern(struct strtab *t, const char *s)
{
	size_t len;
	uint32_t i;
	int err;

	s = s ? s : "";
	len = strnlen(s, PPROF_MAX_STRLEN);
	for (i = t->nslot ? str_hash(s, len) & (t->nslot - 1) : 0; t->nslot && t->slot[i];
	     i = (i + 1) & (t->nslot - 1)) {
		const char *c = t->s[t->slot[i] - 1];

		if (!strncmp(c, s, len) && c[len] == '\0')
			return t->slot[i] - 1;
	}
	if (t->n + 1 > t->cap) {
		err = strtab_grow(t);
		if (err)
			return err;
	}
	t->s[t->n] = strndup(s, len);
	if (!t->s[t->n])
		return -ENOMEM;
	strtab_place(t, t->n);
	return t->n++;
}

/* ---- the profile ---- */

struct plabel {
	uint32_t key, str, unit;
	int64_t num;
};

struct pmapping {
	uint64_t start, limit, offset;
	uint32_t file, build_id;
};

struct sample {
	uint32_t npcs, nlabels;
	uint64_t *pcs;
	int64_t *values;
	struct plabel *labels;
	/* pcs, values and labels follow */
};

struct pprof {
	struct strtab st;
	int ntypes;
	uint32_t types[PPROF_MAX_TYPES][2];
	bool has_period;
	uint32_t period_type[2];
	int64_t period;
	int64_t time_nanos, duration_nanos;
	int default_type;
	struct pmapping *maps;
	uint32_t nmaps, maps_cap;
	struct sample **samples;
	int nsamples, cap;
};

/* One write's symbolization: functions and locations, numbered from 1. */
struct pline {
	uint32_t func;
	uint32_t line;
};

struct ploc {
	uint64_t pc;
	uint32_t first_line, nlines;
	uint32_t mapping; /* id, 0 for none */
	bool filed;	  /* every line has a file */
};

/* What one write knows of a mapping's locations: the has_* flags. */
struct pmapstat {
	uint32_t locs, named, filed;
};

/* How a write symbolizes: the pclntab (link-time pcs, one mapping) or a callback. */
struct psym {
	const struct gosym *gs;
	const struct pprof_symbolizer *cb;
};

struct pfunc {
	uint32_t name, file;
};

struct symtab {
	struct idmap func_ids, loc_ids;
	struct pmapstat *mstat; /* per mapping, symbolizer writes only */
	struct pfunc *funcs;
	uint32_t nfuncs, funcs_cap;
	struct ploc *locs;
	uint32_t nlocs, locs_cap;
	struct pline *lines;
	uint32_t nlines, lines_cap;
};

static int intern2(struct strtab *st, const struct pprof_value_type *vt, uint32_t out[2])
{
	int64_t a = strtab_intern(st, vt->type), b = strtab_intern(st, vt->unit);

	if (a < 0 || b < 0)
		return a < 0 ? (int)a : (int)b;
	out[0] = a;
	out[1] = b;
	return 0;
}

static int pprof_init(struct pprof *p, const struct pprof_value_type *types, int ntypes,
		      const struct pprof_value_type *period_type)
{
	int err;

	/* profile.proto: string_table[0] must be "". */
	if (strtab_intern(&p->st, "") != 0)
		return -ENOMEM;
	for (int i = 0; i < ntypes; i++) {
		if (!types[i].type || !types[i].unit)
			return -EINVAL;
		err = intern2(&p->st, &types[i], p->types[i]);
		if (err)
			return err;
	}
	if (period_type) {
		err = intern2(&p->st, period_type, p->period_type);
		if (err)
			return err;
	}
	return 0;
}

struct pprof *pprof__new(const struct pprof_value_type *types, int ntypes,
			 const struct pprof_value_type *period_type, int64_t period)
{
	struct timespec ts;
	struct pprof *p;
	int err;

	if (!types || ntypes < 1 || ntypes > PPROF_MAX_TYPES) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->ntypes = ntypes;
	p->default_type = ntypes - 1;
	p->has_period = period_type != NULL;
	p->period = period;
	clock_gettime(CLOCK_REALTIME, &ts);
	p->time_nanos = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	err = pprof_init(p, types, ntypes, period_type);
	if (err) {
		pprof__free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

void pprof__free(struct pprof *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nsamples; i++)
		free(p->samples[i]);
	free(p->samples);
	free(p->maps);
	strtab_free(&p->st);
	free(p);
}

void pprof__set_time(struct pprof *p, int64_t time_nanos, int64_t duration_nanos)
{
	p->time_nanos = time_nanos;
	p->duration_nanos = duration_nanos;
}

int pprof__set_default_type(struct pprof *p, int index)
{
	if (index < 0 || index >= p->ntypes)
		return -EINVAL;
	p->default_type = index;
	return 0;
}

static int mapping_of(struct pprof *p, const struct pprof_mapping *m, struct pmapping *out)
{
	int64_t file, id;

	if (m->limit < m->start)
		return -EINVAL;
	file = strtab_intern(&p->st, m->file);
	id = strtab_intern(&p->st, m->build_id);
	if (file < 0 || id < 0)
		return file < 0 ? (int)file : (int)id;
	*out = (struct pmapping){.start = m->start,
				 .limit = m->limit,
				 .offset = m->offset,
				 .file = file,
				 .build_id = id};
	return 0;
}

static int grow(void **v, uint32_t n, uint32_t *cap, size_t elem);

int pprof__add_mapping(struct pprof *p, const struct pprof_mapping *m)
{
	struct pmapping pm;
	int err;

	if (p->nmaps >= PPROF_MAX_MAPPINGS)
		return -E2BIG;
	err = mapping_of(p, m, &pm);
	if (!err)
		err = grow((void **)&p->maps, p->nmaps, &p->maps_cap, sizeof(*p->maps));
	if (err)
		return err;
	p->maps[p->nmaps++] = pm;
	return p->nmaps;
}

int pprof__set_mapping(struct pprof *p, const struct pprof_mapping *m)
{
	struct pmapping pm;
	int err;

	if (!p->nmaps) {
		err = pprof__add_mapping(p, m);
		return err < 0 ? err : 0;
	}
	err = mapping_of(p, m, &pm);
	if (!err)
		p->maps[0] = pm;
	return err;
}

int pprof_mapping_of(const struct gobin *gb, const char *path, struct pprof_mapping *m)
{
	size_t n = elfbin__segment_count(gb->elf);

	memset(m, 0, sizeof(*m));
	m->file = path ? path : elfbin__path(gb->elf);
	m->build_id = gb->facts.go_buildid;
	/* The text segment: Go's linkers emit one executable PT_LOAD (cmd/link/internal/ld). */
	for (size_t i = 0; i < n; i++) {
		const struct elf_seg *s = elfbin__segment_at(gb->elf, i);

		if (s && s->type == PT_LOAD && (s->flags & PF_X)) {
			m->start = s->vaddr;
			m->limit = s->vaddr + s->memsz;
			m->offset = s->off;
			return m->limit < m->start ? -EINVAL : 0;
		}
	}
	return -ENOENT;
}

static int intern_labels(struct pprof *p, const struct pprof_label *in, int n, struct plabel *out)
{
	for (int i = 0; i < n; i++) {
		int64_t k = strtab_intern(&p->st, in[i].key);
		int64_t s = in[i].str ? strtab_intern(&p->st, in[i].str) : 0;
		int64_t u = in[i].num_unit ? strtab_intern(&p->st, in[i].num_unit) : 0;

		if (k < 0 || s < 0 || u < 0)
			return -ENOMEM;
		out[i] = (struct plabel){.key = k, .str = s, .unit = u};
		out[i].num = in[i].str ? 0 : in[i].num;
	}
	return 0;
}

static int push_sample(struct pprof *p, struct sample *s)
{
	struct sample **v;
	int cap;

	if (p->nsamples == p->cap) {
		if (p->cap >= INT_MAX / 4)
			return -E2BIG;
		cap = p->cap ? p->cap * 2 : 64;
		v = realloc(p->samples, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->samples = v;
		p->cap = cap;
	}
	p->samples[p->nsamples++] = s;
	return 0;
}

int pprof__add_sample(struct pprof *p, const uint64_t *pcs, int npcs, const int64_t *values,
		      const struct pprof_label *labels, int nlabels)
{
	struct sample *s;
	int err;

	if (npcs < 0 || npcs > PPROF_MAX_DEPTH || nlabels < 0 || nlabels > PPROF_MAX_LABELS ||
	    (npcs && !pcs) || !values || (nlabels && !labels))
		return -EINVAL;
	s = malloc(sizeof(*s) + npcs * sizeof(uint64_t) + p->ntypes * sizeof(int64_t) +
		   nlabels * sizeof(struct plabel));
	if (!s)
		return -ENOMEM;
	s->npcs = npcs;
	s->nlabels = nlabels;
	s->pcs = (uint64_t *)(s + 1);
	s->values = (int64_t *)(s->pcs + npcs);
	s->labels = (struct plabel *)(s->values + p->ntypes);
	if (npcs)
		memcpy(s->pcs, pcs, npcs * sizeof(*pcs));
	memcpy(s->values, values, p->ntypes * sizeof(*values));
	err = intern_labels(p, labels, nlabels, s->labels);
	if (!err)
		err = push_sample(p, s);
	if (err)
		free(s);
	return err;
}

int pprof__sample_count(const struct pprof *p)
{
	return p->nsamples;
}

/* ---- symbolization ---- */

static void symtab_free(struct symtab *t)
{
	idmap_free(&t->func_ids);
	idmap_free(&t->loc_ids);
	free(t->mstat);
	free(t->funcs);
	free(t->locs);
	free(t->lines);
}

/* Makes room for one more element of a growable array. */
static int grow(void **v, uint32_t n, uint32_t *cap, size_t elem)
{
	uint32_t c;
	void *nv;

	if (n < *cap)
		return 0;
	if (*cap >= (1u << 28))
		return -E2BIG;
	c = *cap ? *cap * 2 : 256;
	nv = realloc(*v, (size_t)c * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

/* Function id of (name, file), deduplicated. */
static int64_t func_id(struct pprof *p, struct symtab *t, const struct pprof_frame *f)
{
	int64_t name = strtab_intern(&p->st, f->func);
	int64_t file = strtab_intern(&p->st, f->file);
	uint32_t id;
	int err;

	if (name < 0 || file < 0)
		return name < 0 ? name : file;
	id = idmap_get(&t->func_ids, name, file);
	if (id)
		return id;
	err = grow((void **)&t->funcs, t->nfuncs, &t->funcs_cap, sizeof(*t->funcs));
	if (!err)
		err = idmap_put(&t->func_ids, name, file, t->nfuncs + 1);
	if (err)
		return err;
	t->funcs[t->nfuncs++] = (struct pfunc){.name = name, .file = file};
	return t->nfuncs;
}

/* Frames of pc (pc - 1 already applied for the pclntab; not for the callback). */
static int sym_frames(const struct psym *sy, uint64_t pc, bool ret, struct pprof_frame *out)
{
	struct gosym_frame g[PPROF_MAX_FRAMES];
	int n;

	if (sy->cb)
		return sy->cb->frames(sy->cb->ctx, pc, ret, out, PPROF_MAX_FRAMES);
	n = sy->gs ? gosym__frames(sy->gs, ret && pc ? pc - 1 : pc, g, PPROF_MAX_FRAMES) : 0;
	for (int i = 0; i < n; i++)
		out[i] = (struct pprof_frame){
			.func = g[i].func, .file = g[i].file, .line = g[i].line};
	return n;
}

static int add_lines(struct pprof *p, struct symtab *t, const struct psym *sy, uint64_t pc,
		     bool ret, struct ploc *loc)
{
	struct pprof_frame frames[PPROF_MAX_FRAMES];
	int n = sym_frames(sy, pc, ret, frames);
	int err;

	if (n == -ENOENT)
		n = 0;
	if (n < 0)
		return n;
	n = n > PPROF_MAX_FRAMES ? PPROF_MAX_FRAMES : n;
	loc->filed = n > 0;
	/* A pc outside every function stays an address: pprof shows it as such. */
	for (int i = 0; i < n; i++) {
		int64_t fid;

		if (!frames[i].func)
			continue;
		fid = func_id(p, t, &frames[i]);
		loc->filed &= frames[i].file && frames[i].file[0];

		if (fid < 0)
			return fid;
		err = grow((void **)&t->lines, t->nlines, &t->lines_cap, sizeof(*t->lines));
		if (err)
			return err;
		t->lines[t->nlines++] = (struct pline){.func = fid, .line = frames[i].line};
		loc->nlines++;
	}
	return 0;
}

/*
 * Location id of one stack entry. A return address is symbolized at pc - 1 (the call
 * instruction) but recorded as pc, as runtime/pprof does; the key keeps the two apart
 * in the rare case one pc is seen both ways.
 */
static uint32_t mapping_id(const struct pprof *p, const struct psym *sy, uint64_t pc)
{
	if (!sy->cb)
		return p->nmaps ? 1 : 0;
	for (uint32_t i = 0; i < p->nmaps; i++)
		if (pc >= p->maps[i].start && pc < p->maps[i].limit)
			return i + 1;
	return 0;
}

static void count_loc(struct symtab *t, const struct ploc *loc)
{
	struct pmapstat *ms;

	if (!t->mstat || !loc->mapping)
		return;
	ms = &t->mstat[loc->mapping - 1];
	ms->locs++;
	ms->named += loc->nlines > 0;
	ms->filed += loc->nlines > 0 && loc->filed;
}

static int64_t loc_id(struct pprof *p, struct symtab *t, const struct psym *sy, uint64_t pc,
		      bool ret)
{
	uint32_t id = idmap_get(&t->loc_ids, pc, ret);
	struct ploc loc = {.pc = pc, .first_line = t->nlines};
	int err;

	if (id)
		return id;
	loc.mapping = mapping_id(p, sy, pc);
	err = add_lines(p, t, sy, pc, ret, &loc);
	if (!err)
		err = grow((void **)&t->locs, t->nlocs, &t->locs_cap, sizeof(*t->locs));
	if (!err)
		err = idmap_put(&t->loc_ids, pc, ret, t->nlocs + 1);
	if (err)
		return err;
	count_loc(t, &loc);
	t->locs[t->nlocs++] = loc;
	return t->nlocs;
}

/* ---- encoding ---- */

static void enc_value_type(struct pbuf *b, int field, const uint32_t vt[2], struct pbuf *m)
{
	pb_int_opt(m, VALUETYPE_TYPE, vt[0]);
	pb_int_opt(m, VALUETYPE_UNIT, vt[1]);
	pb_message(b, field, m);
}

static void enc_label(struct pbuf *m, const struct plabel *l, struct pbuf *m2)
{
	pb_int_opt(m2, LABEL_KEY, l->key);
	pb_int_opt(m2, LABEL_STR, l->str);
	pb_int_opt(m2, LABEL_NUM, (uint64_t)l->num);
	pb_int_opt(m2, LABEL_NUM_UNIT, l->unit);
	pb_message(m, SAMPLE_LABEL, m2);
}

static int enc_sample(struct pprof *p, struct symtab *t, const struct psym *sy,
		      const struct sample *s, struct pbuf *b, struct pbuf m[2])
{
	uint64_t ids[PPROF_MAX_DEPTH], vals[PPROF_MAX_TYPES];

	for (uint32_t i = 0; i < s->npcs; i++) {
		int64_t id = loc_id(p, t, sy, s->pcs[i], i > 0);

		if (id < 0)
			return id;
		ids[i] = id;
	}
	for (int i = 0; i < p->ntypes; i++)
		vals[i] = (uint64_t)s->values[i];
	pb_packed(&m[0], SAMPLE_LOCATION_ID, ids, s->npcs);
	pb_packed(&m[0], SAMPLE_VALUE, vals, p->ntypes);
	for (uint32_t i = 0; i < s->nlabels; i++)
		enc_label(&m[0], &s->labels[i], &m[1]);
	pb_message(b, PROFILE_SAMPLE, &m[0]);
	return 0;
}

/*
 * The pclntab mapping claims everything (the runtime's own profiles do). A symbolizer's
 * mapping claims functions only when all its locations got one (runtime/pprof's
 * symbolizedAll), files, lines and inlining only when all got files too.
 */
static void enc_mapping(const struct pprof *p, const struct symtab *t, uint32_t i, struct pbuf *b,
			struct pbuf *m)
{
	const struct pmapping *pm = &p->maps[i];
	const struct pmapstat *ms = t->mstat ? &t->mstat[i] : NULL;
	bool funcs = !ms || ms->named == ms->locs;
	bool files = !ms || ms->filed == ms->locs;

	pb_int(m, MAPPING_ID, i + 1);
	pb_int_opt(m, MAPPING_MEMORY_START, pm->start);
	pb_int_opt(m, MAPPING_MEMORY_LIMIT, pm->limit);
	pb_int_opt(m, MAPPING_FILE_OFFSET, pm->offset);
	pb_int_opt(m, MAPPING_FILENAME, pm->file);
	pb_int_opt(m, MAPPING_BUILD_ID, pm->build_id);
	pb_int_opt(m, MAPPING_HAS_FUNCTIONS, funcs);
	pb_int_opt(m, MAPPING_HAS_FILENAMES, funcs && files);
	pb_int_opt(m, MAPPING_HAS_LINE_NUMBERS, funcs && files);
	pb_int_opt(m, MAPPING_HAS_INLINE_FRAMES, funcs && files);
	pb_message(b, PROFILE_MAPPING, m);
}

static void enc_locations(const struct pprof *p, const struct symtab *t, struct pbuf *b,
			  struct pbuf m[2])
{
	for (uint32_t i = 0; i < t->nlocs; i++) {
		const struct ploc *l = &t->locs[i];

		pb_int(&m[0], LOCATION_ID, i + 1);
		pb_int_opt(&m[0], LOCATION_MAPPING_ID, l->mapping);
		pb_int_opt(&m[0], LOCATION_ADDRESS, l->pc);
		for (uint32_t j = 0; j < l->nlines; j++) {
			const struct pline *ln = &t->lines[l->first_line + j];

			pb_int(&m[1], LINE_FUNCTION_ID, ln->func);
			pb_int_opt(&m[1], LINE_LINE, ln->line);
			pb_message(&m[0], LOCATION_LINE, &m[1]);
		}
		pb_message(b, PROFILE_LOCATION, &m[0]);
	}
}

static void enc_functions(const struct symtab *t, struct pbuf *b, struct pbuf *m)
{
	for (uint32_t i = 0; i < t->nfuncs; i++) {
		pb_int(m, FUNCTION_ID, i + 1);
		pb_int_opt(m, FUNCTION_NAME, t->funcs[i].name);
		/* runtime/pprof writes the Go name as both name and system name. */
		pb_int_opt(m, FUNCTION_SYSTEM_NAME, t->funcs[i].name);
		pb_int_opt(m, FUNCTION_FILENAME, t->funcs[i].file);
		pb_message(b, PROFILE_FUNCTION, m);
	}
}

static void enc_header(const struct pprof *p, struct pbuf *b, struct pbuf *m)
{
	for (int i = 0; i < p->ntypes; i++)
		enc_value_type(b, PROFILE_SAMPLE_TYPE, p->types[i], m);
}

static void enc_trailer(const struct pprof *p, struct pbuf *b, struct pbuf *m)
{
	for (uint32_t i = 0; i < p->st.n; i++)
		pb_bytes(b, PROFILE_STRING_TABLE, p->st.s[i], strlen(p->st.s[i]));
	pb_int_opt(b, PROFILE_TIME_NANOS, (uint64_t)p->time_nanos);
	pb_int_opt(b, PROFILE_DURATION_NANOS, (uint64_t)p->duration_nanos);
	if (p->has_period) {
		enc_value_type(b, PROFILE_PERIOD_TYPE, p->period_type, m);
		pb_int_opt(b, PROFILE_PERIOD, (uint64_t)p->period);
	}
	/* An index into the string table (the type's name), not into sample_type. */
	pb_int_opt(b, PROFILE_DEFAULT_SAMPLE_TYPE, p->types[p->default_type][0]);
}

/*
 * The samples go first into their own buffer: encoding them interns the strings and
 * numbers the functions and locations the rest of the profile lists.
 */
static int encode_raw(struct pprof *p, const struct psym *sy, struct pbuf *out)
{
	struct pbuf samples = {0}, m[2] = {{0}, {0}};
	struct symtab t = {0};
	int err = 0;

	if (sy->cb && p->nmaps && !(t.mstat = calloc(p->nmaps, sizeof(*t.mstat))))
		return -ENOMEM;
	for (int i = 0; i < p->nsamples && !err; i++)
		err = enc_sample(p, &t, sy, p->samples[i], &samples, m);
	if (err)
		goto cleanup;
	enc_header(p, out, &m[0]);
	pb_raw(out, samples.d, samples.len);
	for (uint32_t i = 0; i < p->nmaps; i++)
		enc_mapping(p, &t, i, out, &m[0]);
	enc_locations(p, &t, out, m);
	enc_functions(&t, out, &m[0]);
	enc_trailer(p, out, &m[0]);
	err = out->err ? out->err : samples.err ? samples.err : m[0].err ? m[0].err : m[1].err;
cleanup:
	symtab_free(&t);
	free(samples.d);
	free(m[0].d);
	free(m[1].d);
	return err;
}

/* gzip, not a zlib stream: pprof checks for the gzip magic (windowBits 16 + 15). */
static int gzip_buf(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream zs = {0};
	uLong bound;
	int err = 0;

	if (len > UINT32_MAX)
		return -E2BIG;
	/* Z_BEST_SPEED, as runtime/pprof's gzip.NewWriterLevel(w, gzip.BestSpeed). */
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&zs, len);
	*out = malloc(bound);
	if (!*out) {
		err = -ENOMEM;
		goto cleanup;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = *out;
	zs.avail_out = bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		err = -EIO;
		goto cleanup;
	}
	*out_len = zs.total_out;
cleanup:
	deflateEnd(&zs);
	return err;
}

static int encode(struct pprof *p, const struct psym *sy, uint8_t **buf, size_t *len)
{
	struct pbuf raw = {0};
	int err;

	*buf = NULL;
	*len = 0;
	err = encode_raw(p, sy, &raw);
	if (!err)
		err = gzip_buf(raw.d, raw.len, buf, len);
	free(raw.d);
	return err;
}

static int write_all(int fd, const uint8_t *d, size_t len)
{
	while (len) {
		ssize_t n = write(fd, d, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		d += n;
		len -= n;
	}
	return 0;
}

int pprof__encode(struct pprof *p, const struct gosym *gs, uint8_t **buf, size_t *len)
{
	struct psym sy = {.gs = gs};

	return encode(p, &sy, buf, len);
}

int pprof__encode_sym(struct pprof *p, const struct pprof_symbolizer *sym, uint8_t **buf,
		      size_t *len)
{
	struct psym sy = {.cb = sym};

	if (!sym || !sym->frames)
		return -EINVAL;
	return encode(p, &sy, buf, len);
}

static int write_fd(struct pprof *p, const struct psym *sy, int fd)
{
	uint8_t *buf;
	size_t len;
	int err;

	err = encode(p, sy, &buf, &len);
	if (!err)
		err = write_all(fd, buf, len);
	free(buf);
	return err;
}

int pprof__write_fd(struct pprof *p, const struct gosym *gs, int fd)
{
	struct psym sy = {.gs = gs};

	return write_fd(p, &sy, fd);
}

int pprof__write_fd_sym(struct pprof *p, const struct pprof_symbolizer *sym, int fd)
{
	struct psym sy = {.cb = sym};

	if (!sym || !sym->frames)
		return -EINVAL;
	return write_fd(p, &sy, fd);
}

static int write_path(struct pprof *p, const struct psym *sy, const char *path)
{
	char tmp[PATH_MAX];
	int fd = -1, err;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	err = write_fd(p, sy, fd);
	if (!err && fchmod(fd, 0644))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int pprof__write(struct pprof *p, const struct gosym *gs, const char *path)
{
	struct psym sy = {.gs = gs};

	return write_path(p, &sy, path);
}

int pprof__write_sym(struct pprof *p, const struct pprof_symbolizer *sym, const char *path)
{
	struct psym sy = {.cb = sym};

	if (!sym || !sym->frames)
		return -EINVAL;
	return write_path(p, &sy, path);
}
