// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Go heap tracer's kernel side from user space: loads bpf/goheap.bpf.c once, then per
 * target writes its configuration (offsets of its Go release) and attaches uprobes with
 * a pid filter at the probe sites hooks.c decoded. Links are owned by the object: the
 * kernel drops them when their fds close, so even a SIGKILLed leakhound leaves nothing.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfmaps.h"
#include "goheap.h"
#include "target.h"

#include "goheap.skel.h"

#define GOHEAP_MAX_TARGETS LH_GOHEAP_MAX_TARGETS
#define NPROBES		   4

const struct goheap_probe goheap_probes[NPROBES] = {
	{HOOK_PROFILEALLOC, "lh_goheap_alloc", GOHEAP_SAMPLED, true},
	{HOOK_FREESPECIAL, "lh_goheap_free", GOHEAP_SAMPLED, true},
	/* ties objects to the runtime's buckets (history shares site identity); optional */
	{HOOK_SETPROFILEBUCKET, "lh_goheap_bucket", GOHEAP_SAMPLED, false},
	{HOOK_MALLOCGC, "lh_goheap_mallocgc", GOHEAP_MALLOCGC, true},
};
const int goheap_nprobes = NPROBES;

struct goheap_target {
	pid_t pid;
	struct bpfmaps_probe *link[NPROBES];
};

struct goheap {
	struct goheap_bpf *skel;
	struct goheap_target tgt[GOHEAP_MAX_TARGETS];
};

static struct bpf_program *prog_of(struct goheap *gh, int i)
{
	switch (i) {
	case 0:
		return gh->skel->progs.lh_goheap_alloc;
	case 1:
		return gh->skel->progs.lh_goheap_free;
	case 2:
		return gh->skel->progs.lh_goheap_bucket;
	default:
		return gh->skel->progs.lh_goheap_mallocgc;
	}
}

struct goheap *goheap__open(void)
{
	struct goheap *gh = calloc(1, sizeof(*gh));
	int err;

	if (!gh)
		return NULL;
	gh->skel = goheap_bpf__open();
	if (!gh->skel) {
		err = -errno;
		goto fail;
	}
	bpfmaps__scale(gh->skel->obj);
	bpfmaps__prepare_uprobes(gh->skel->obj);
	err = goheap_bpf__load(gh->skel);
	if (err)
		goto fail;
	return gh;
fail:
	goheap__free(gh);
	errno = err ? -err : EINVAL;
	return NULL;
}

static void target_detach(struct goheap_target *gt)
{
	for (int i = 0; i < NPROBES; i++) {
		bpfmaps__probe_destroy(gt->link[i]);
		gt->link[i] = NULL;
	}
	gt->pid = 0;
}

void goheap__free(struct goheap *gh)
{
	if (!gh)
		return;
	for (int i = 0; i < GOHEAP_MAX_TARGETS; i++)
		if (gh->tgt[i].pid)
			target_detach(&gh->tgt[i]);
	goheap_bpf__destroy(gh->skel);
	free(gh);
}

uint32_t goheap__prog_id(const struct goheap *gh, int i)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	struct bpf_program *p;

	if (!gh || i < 0 || i >= NPROBES)
		return 0;
	p = prog_of((struct goheap *)gh, i);
	if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
		return 0;
	return info.id;
}

static int make_cfg(struct target *t, const struct goheap_opts *o, struct lh_goheap_cfg *c,
		    const char **what)
{
	const struct go_offsets *off = &t->bin->offsets;
	const struct go_global *ms = &t->bin->globals.global[GLOBAL_MEMSTATS];
	const struct go_hook *alloc = &t->bin->hooks.hook[HOOK_PROFILEALLOC];
	const struct go_hook *malloc = &t->bin->hooks.hook[HOOK_MALLOCGC];

	memset(c, 0, sizeof(*c));
	if (off->val[OFF_SPECIAL_KIND] < 0 || off->val[CONST_KIND_SPECIAL_PROFILE] < 0) {
		*what = "runtime.special.kind / _KindSpecialProfile";
		return -ENOENT;
	}
	c->special_kind_off = off->val[OFF_SPECIAL_KIND];
	c->kind_profile = off->val[CONST_KIND_SPECIAL_PROFILE];
	if (ms->found && off->val[OFF_MSTATS_NUMGC] >= 0)
		c->numgc_addr = ms->addr + t->bias + off->val[OFF_MSTATS_NUMGC];
	c->alloc_ra_sp_off = alloc->site.ra_sp_off;
	c->alloc_frame_set = alloc->site.frame_set;
	c->malloc_ra_sp_off = malloc->site.ra_sp_off;
	c->malloc_frame_set = malloc->site.frame_set;
	c->rate = o->rate;
	c->keep_shift = o->keep_shift;
	c->budget = o->budget;
	return 0;
}

static int attach_probes(struct goheap *gh, struct goheap_target *gt, struct target *t,
			 unsigned int mode, const char **what)
{
	for (int i = 0; i < NPROBES; i++) {
		const struct go_hook *h = &t->bin->hooks.hook[goheap_probes[i].hook];

		if (!(goheap_probes[i].mode & mode))
			continue;
		if (!h->has_site) {
			if (!goheap_probes[i].required)
				continue;
			*what = h->symbol;
			return -ENOENT;
		}
		gt->link[i] = bpfmaps__attach_uprobe(prog_of(gh, i), t, h->site.file_off);
		if (!gt->link[i]) {
			*what = h->symbol;
			return -errno;
		}
	}
	return 0;
}

int goheap__attach(struct goheap *gh, struct target *t, const struct goheap_opts *o,
		   const char **what)
{
	struct lh_goheap_tstate ts = {};
	struct lh_goheap_cfg c;
	struct goheap_target *gt = NULL;
	__u32 key = t->pid;
	int err;

	*what = NULL;
	for (int i = 0; i < GOHEAP_MAX_TARGETS && !gt; i++)
		if (!gh->tgt[i].pid)
			gt = &gh->tgt[i];
	if (!gt)
		return -ENOSPC;
	err = make_cfg(t, o, &c, what);
	if (err)
		return err;
	err = bpf_map__update_elem(gh->skel->maps.tstate, &key, sizeof(key), &ts, sizeof(ts),
				   BPF_ANY);
	if (!err)
		err = bpf_map__update_elem(gh->skel->maps.cfg, &key, sizeof(key), &c, sizeof(c),
					   BPF_ANY);
	if (err) {
		*what = "configuration map";
		return err;
	}
	gt->pid = t->pid;
	err = attach_probes(gh, gt, t, o->mode, what);
	if (err)
		goheap__detach(gh, t->pid);
	return err;
}

int goheap__configure(struct goheap *gh, pid_t pid, const struct goheap_opts *o)
{
	struct lh_goheap_cfg c;
	__u32 key = pid;
	int err;

	err = bpf_map__lookup_elem(gh->skel->maps.cfg, &key, sizeof(key), &c, sizeof(c), 0);
	if (err)
		return err;
	c.rate = o->rate;
	c.keep_shift = o->keep_shift;
	c.budget = o->budget;
	return bpf_map__update_elem(gh->skel->maps.cfg, &key, sizeof(key), &c, sizeof(c),
				    BPF_EXIST);
}

int goheap__detach(struct goheap *gh, pid_t pid)
{
	__u32 key = pid;

	for (int i = 0; i < GOHEAP_MAX_TARGETS; i++)
		if (gh->tgt[i].pid == pid)
			target_detach(&gh->tgt[i]);
	bpf_map__delete_elem(gh->skel->maps.cfg, &key, sizeof(key), 0);
	bpf_map__delete_elem(gh->skel->maps.tstate, &key, sizeof(key), 0);
	bpf_map__delete_elem(gh->skel->maps.countdown, &key, sizeof(key), 0);
	bpfmaps__drop_tgid(gh->skel->maps.live, sizeof(struct lh_goheap_live_key), pid);
	bpfmaps__drop_tgid(gh->skel->maps.stacks, sizeof(struct lh_goheap_stack_key), pid);
	return 0;
}

void goheap_scale(uint64_t size, int64_t rate, double *objects, double *bytes)
{
	double scale = 1;

	/* runtime/pprof/protomem.go scaleHeapSample: unsampled mass behind each sample */
	if (rate > 1 && size > 0)
		scale = 1 / (1 - exp(-(double)size / (double)rate));
	*objects = scale;
	*bytes = scale * (double)size;
}

static int read_sites(struct bpf_map *stacks, pid_t pid, struct goheap_snap *s)
{
	struct lh_goheap_stack_key key, next;
	size_t cap = 0;
	bool first = true;

	while (!bpf_map__get_next_key(stacks, first ? NULL : &key, &next, sizeof(next))) {
		struct goheap_site *site;

		first = false;
		key = next;
		if (next.tgid != (__u32)pid)
			continue;
		if (s->nsites == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *p = realloc(s->sites, ncap * sizeof(*s->sites));

			if (!p)
				return -ENOMEM;
			s->sites = p;
			cap = ncap;
		}
		site = &s->sites[s->nsites];
		memset(site, 0, sizeof(*site));
		site->id = next.id;
		if (bpf_map__lookup_elem(stacks, &next, sizeof(next), &site->stack,
					 sizeof(site->stack), 0))
			continue; /* deleted meanwhile */
		if (site->stack.nr > LH_GOHEAP_STACK_DEPTH)
			site->stack.nr = LH_GOHEAP_STACK_DEPTH;
		s->nsites++;
	}
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	const struct goheap_site *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int read_live(struct bpf_map *live, pid_t pid, int64_t rate, uint32_t numgc,
		     struct goheap_snap *s)
{
	struct lh_goheap_live_key key, next;
	struct lh_goheap_live lv;
	bool first = true;

	if (s->nsites)
		qsort(s->sites, s->nsites, sizeof(*s->sites), cmp_id);
	while (!bpf_map__get_next_key(live, first ? NULL : &key, &next, sizeof(next))) {
		struct goheap_site probe = { .id = 0 }, *site;
		double o, b;

		first = false;
		key = next;
		if (next.tgid != (__u32)pid)
			continue;
		if (bpf_map__lookup_elem(live, &next, sizeof(next), &lv, sizeof(lv), 0))
			continue;
		s->live_entries++;
		probe.id = lv.stack_id;
		site = s->nsites ? bsearch(&probe, s->sites, s->nsites, sizeof(*s->sites), cmp_id)
				 : NULL;
		if (!site)
			continue; /* stack inserted after read_sites: next interval */
		/* each object at the rate and back-off weight it was recorded with */
		goheap_scale(lv.size, lv.rate ? lv.rate : rate, &o, &b);
		if (lv.weight > 1) {
			o *= lv.weight;
			b *= lv.weight;
		}
		site->live_objects++;
		site->live_bytes += lv.size;
		site->inuse_objects += o;
		site->inuse_bytes += b;
		if (!site->oldest_ns || lv.ts_ns < site->oldest_ns)
			site->oldest_ns = lv.ts_ns;
		if (numgc && lv.gc >= numgc)
			continue;
		site->settled_samples++;
		site->settled_objects += o;
		site->settled_bytes += b;
		if (!site->settled_oldest_ns || lv.ts_ns < site->settled_oldest_ns)
			site->settled_oldest_ns = lv.ts_ns;
	}
	return 0;
}

/* --mallocgc calls of pid, summed over the per-CPU counters; 0 when none. */
static uint64_t mallocgc_calls(struct goheap *gh, pid_t pid)
{
	int ncpu = libbpf_num_possible_cpus();
	struct lh_goheap_pcpu *v;
	__u32 key = pid;
	uint64_t n = 0;

	if (ncpu <= 0)
		return 0;
	v = calloc(ncpu, sizeof(*v));
	if (v && !bpf_map__lookup_elem(gh->skel->maps.countdown, &key, sizeof(key), v,
				       ncpu * sizeof(*v), 0))
		for (int i = 0; i < ncpu; i++)
			n += v[i].calls;
	free(v);
	return n;
}

int goheap__snapshot(struct goheap *gh, pid_t pid, int64_t rate, uint32_t numgc,
		     struct goheap_snap *s)
{
	__u32 key = pid;
	int err;

	memset(s, 0, sizeof(*s));
	bpf_map__lookup_elem(gh->skel->maps.tstate, &key, sizeof(key), &s->ts, sizeof(s->ts),
			     0);
	s->ts.mallocgc_calls = mallocgc_calls(gh, pid);
	err = bpfmaps__sum_stats(gh->skel->maps.stats, s->stats);
	if (!err)
		err = goheap_snap__read(gh->skel->maps.stacks, gh->skel->maps.live, pid, rate,
					numgc, s);
	return err;
}

int goheap_snap__read(struct bpf_map *stacks, struct bpf_map *live, pid_t pid, int64_t rate,
		      uint32_t numgc, struct goheap_snap *s)
{
	int err = read_sites(stacks, pid, s);

	if (!err)
		err = read_live(live, pid, rate, numgc, s);
	if (err)
		goheap_snap__release(s);
	return err;
}

int goheap__tstate(struct goheap *gh, pid_t pid, struct lh_goheap_tstate *ts)
{
	__u32 key = pid;

	return bpf_map__lookup_elem(gh->skel->maps.tstate, &key, sizeof(key), ts, sizeof(*ts), 0);
}

int goheap__stats(struct goheap *gh, uint64_t stats[LH_STAT__COUNT])
{
	return bpfmaps__sum_stats(gh->skel->maps.stats, stats);
}

void goheap_snap__release(struct goheap_snap *s)
{
	free(s->sites);
	s->sites = NULL;
	s->nsites = 0;
}
