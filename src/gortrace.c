// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The goroutine tracer's kernel side from user space: loads bpf/goroutines.bpf.c once,
 * then per target writes the offsets of its release and attaches the creation, exit and
 * malg uprobes at the sites hooks.c decoded. As for the heap tracer, the links die with
 * their file descriptors: a SIGKILLed leakhound leaves nothing attached.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bpfmaps.h"
#include "gortrace.h"
#include "target.h"

#include "goroutines.skel.h"

enum { P_CREATE, P_EXIT, P_MALG, NPROBES };

struct gortrace_target {
	pid_t pid;
	struct bpfmaps_probe *link[NPROBES];
};

struct gortrace {
	struct goroutines_bpf *skel;
	struct gortrace_target tgt[LH_GOHEAP_MAX_TARGETS];
};

struct gortrace *gortrace__open(void)
{
	struct gortrace *gt = calloc(1, sizeof(*gt));
	int err;

	if (!gt)
		return NULL;
	gt->skel = goroutines_bpf__open();
	if (!gt->skel) {
		err = -errno;
		goto fail;
	}
	bpfmaps__scale(gt->skel->obj);
	bpfmaps__prepare_uprobes(gt->skel->obj);
	err = goroutines_bpf__load(gt->skel);
	if (err)
		goto fail;
	return gt;
fail:
	gortrace__free(gt);
	errno = err ? -err : EINVAL;
	return NULL;
}

static void target_detach(struct gortrace_target *x)
{
	for (int i = 0; i < NPROBES; i++) {
		bpfmaps__probe_destroy(x->link[i]);
		x->link[i] = NULL;
	}
	x->pid = 0;
}

void gortrace__free(struct gortrace *gt)
{
	if (!gt)
		return;
	for (int i = 0; i < LH_GOHEAP_MAX_TARGETS; i++)
		if (gt->tgt[i].pid)
			target_detach(&gt->tgt[i]);
	goroutines_bpf__destroy(gt->skel);
	free(gt);
}

static int make_cfg(const struct target *t, const struct gortrace_opts *o, struct lh_gor_cfg *c,
		    const char **what)
{
	const int64_t *off = t->bin->offsets.val;

	if (off[OFF_G_GOID] < 0) {
		*what = "runtime.g.goid";
		return -ENOENT;
	}
	/* without parentGoid (before 1.21) the creator is read through g0.m.curg */
	if (off[OFF_G_PARENTGOID] < 0 && (off[OFF_G_M] < 0 || off[OFF_M_CURG] < 0)) {
		*what = "runtime.g.m / runtime.m.curg";
		return -ENOENT;
	}
	*c = (struct lh_gor_cfg){
		.goid_off = off[OFF_G_GOID],
		.parent_goid_off = off[OFF_G_PARENTGOID],
		.g_m_off = off[OFF_G_M],
		.m_curg_off = off[OFF_M_CURG],
		.keep_shift = o->keep_shift,
		.budget = o->budget,
	};
	return 0;
}

/* The hook of each probe: the exit probe is gdestroy when it has a site, else goexit0. */
const struct go_hook *gortrace__hook(const struct target *t, int i)
{
	const struct go_hook *hk = t->bin->hooks.hook;

	switch (i) {
	case P_CREATE:
		return &hk[HOOK_NEWG_VISIBLE];
	case P_EXIT:
		return hk[HOOK_GDESTROY].has_site ? &hk[HOOK_GDESTROY] : &hk[HOOK_GOEXIT0];
	case P_MALG:
		return &hk[HOOK_MALG];
	default:
		return NULL;
	}
}

static struct bpf_program *prog_of(struct gortrace *gt, int i)
{
	switch (i) {
	case P_CREATE:
		return gt->skel->progs.lh_gor_create;
	case P_EXIT:
		return gt->skel->progs.lh_gor_exit;
	default:
		return gt->skel->progs.lh_gor_malg;
	}
}

int gortrace__attach(struct gortrace *gt, struct target *t, const struct gortrace_opts *o,
		     const char **what)
{
	struct lh_gor_tstate ts = {};
	struct gortrace_target *x = NULL;
	struct lh_gor_cfg c;
	__u32 key = t->pid;
	int err;

	*what = NULL;
	for (int i = 0; i < LH_GOHEAP_MAX_TARGETS && !x; i++)
		if (!gt->tgt[i].pid)
			x = &gt->tgt[i];
	if (!x)
		return -ENOSPC;
	err = make_cfg(t, o, &c, what);
	if (err)
		return err;
	err = bpf_map__update_elem(gt->skel->maps.gtstate, &key, sizeof(key), &ts, sizeof(ts),
				   BPF_ANY);
	if (!err)
		err = bpf_map__update_elem(gt->skel->maps.gcfg, &key, sizeof(key), &c, sizeof(c),
					   BPF_ANY);
	if (err) {
		*what = "configuration map";
		return err;
	}
	x->pid = t->pid;
	for (int i = 0; i < NPROBES && !err; i++) {
		const struct go_hook *h = gortrace__hook(t, i);

		if (!h->has_site) {
			if (i == P_MALG)
				continue; /* only counted */
			*what = h->symbol;
			err = -ENOENT;
			break;
		}
		x->link[i] = bpfmaps__attach_uprobe(prog_of(gt, i), t, h->site.file_off);
		if (!x->link[i]) {
			*what = h->symbol;
			err = -errno;
		}
	}
	if (err)
		gortrace__detach(gt, t->pid);
	return err;
}

int gortrace__detach(struct gortrace *gt, pid_t pid)
{
	__u32 key = pid;

	for (int i = 0; i < LH_GOHEAP_MAX_TARGETS; i++)
		if (gt->tgt[i].pid == pid)
			target_detach(&gt->tgt[i]);
	bpf_map__delete_elem(gt->skel->maps.gcfg, &key, sizeof(key), 0);
	bpf_map__delete_elem(gt->skel->maps.gtstate, &key, sizeof(key), 0);
	bpfmaps__drop_tgid(gt->skel->maps.glive, sizeof(struct lh_gor_key), pid);
	bpfmaps__drop_tgid(gt->skel->maps.gstacks, sizeof(struct lh_goheap_stack_key), pid);
	return 0;
}

int gortrace__configure(struct gortrace *gt, pid_t pid, const struct gortrace_opts *o)
{
	struct lh_gor_cfg c;
	__u32 key = pid;
	int err;

	err = bpf_map__lookup_elem(gt->skel->maps.gcfg, &key, sizeof(key), &c, sizeof(c), 0);
	if (err)
		return err;
	c.keep_shift = o->keep_shift;
	c.budget = o->budget;
	return bpf_map__update_elem(gt->skel->maps.gcfg, &key, sizeof(key), &c, sizeof(c),
				    BPF_EXIST);
}

int gortrace__tstate(struct gortrace *gt, pid_t pid, struct lh_gor_tstate *ts)
{
	__u32 key = pid;

	return bpf_map__lookup_elem(gt->skel->maps.gtstate, &key, sizeof(key), ts, sizeof(*ts), 0);
}

/* Appends one element of size sz to *arr (holding *n of *cap); NULL on ENOMEM. */
static void *grow(void **arr, size_t *n, size_t *cap, size_t sz)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		void *p = realloc(*arr, ncap * sz);

		if (!p)
			return NULL;
		*arr = p;
		*cap = ncap;
	}
	return (char *)*arr + (*n)++ * sz;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int read_stacks(struct gortrace *gt, pid_t pid, struct gor_snap *s)
{
	struct lh_goheap_stack_key key, next;
	size_t cap = 0;
	bool first = true;

	while (!bpf_map__get_next_key(gt->skel->maps.gstacks, first ? NULL : &key, &next,
				      sizeof(next))) {
		struct gor_stack *x;

		first = false;
		key = next;
		if (next.tgid != (__u32)pid)
			continue;
		x = grow((void **)&s->stacks, &s->nstacks, &cap, sizeof(*x));
		if (!x)
			return -ENOMEM;
		x->id = next.id;
		if (bpf_map__lookup_elem(gt->skel->maps.gstacks, &next, sizeof(next), &x->st,
					 sizeof(x->st), 0)) {
			s->nstacks--; /* deleted meanwhile */
			continue;
		}
		if (x->st.nr > LH_GOHEAP_STACK_DEPTH)
			x->st.nr = LH_GOHEAP_STACK_DEPTH;
	}
	if (s->nstacks)
		qsort(s->stacks, s->nstacks, sizeof(*s->stacks), cmp_u64);
	return 0;
}

static int read_live(struct gortrace *gt, pid_t pid, struct gor_snap *s)
{
	struct lh_gor_key key, next;
	size_t cap = 0;
	bool first = true;

	while (!bpf_map__get_next_key(gt->skel->maps.glive, first ? NULL : &key, &next,
				      sizeof(next))) {
		struct gor_live *x;

		first = false;
		key = next;
		if (next.tgid != (__u32)pid)
			continue;
		x = grow((void **)&s->live, &s->nlive, &cap, sizeof(*x));
		if (!x)
			return -ENOMEM;
		x->goid = next.goid;
		if (bpf_map__lookup_elem(gt->skel->maps.glive, &next, sizeof(next), &x->v,
					 sizeof(x->v), 0))
			s->nlive--;
	}
	if (s->nlive)
		qsort(s->live, s->nlive, sizeof(*s->live), cmp_u64);
	return 0;
}

int gortrace__stats(struct gortrace *gt, uint64_t stats[LH_STAT__COUNT])
{
	return bpfmaps__sum_stats(gt->skel->maps.stats, stats);
}

int gortrace__snapshot(struct gortrace *gt, pid_t pid, struct gor_snap *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	gortrace__tstate(gt, pid, &s->ts);
	err = bpfmaps__sum_stats(gt->skel->maps.stats, s->stats);
	if (!err)
		err = read_stacks(gt, pid, s);
	if (!err)
		err = read_live(gt, pid, s);
	if (err)
		gor_snap__release(s);
	return err;
}

void gor_snap__release(struct gor_snap *s)
{
	free(s->live);
	free(s->stacks);
	memset(s, 0, sizeof(*s));
}

const struct gor_stack *gor_snap__stack(const struct gor_snap *s, uint64_t id)
{
	return s->nstacks ? bsearch(&id, s->stacks, s->nstacks, sizeof(*s->stacks), cmp_u64)
			  : NULL;
}

const struct gor_live *gor_snap__find(const struct gor_snap *s, uint64_t goid)
{
	return s->nlive ? bsearch(&goid, s->live, s->nlive, sizeof(*s->live), cmp_u64) : NULL;
}
