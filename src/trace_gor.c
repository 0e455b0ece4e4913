// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Goroutine tracing in `leakhound trace` (bpf/goroutines.bpf.c, src/gortrace.c): every
 * report groups the live goroutines recorded since attach by their full creation stack
 * (their own, then their creator's and its creator's when those were recorded), feeds
 * the live count of each creation site to the leak model with one window per report,
 * and reports suspects of kind "goroutine": sites whose live count keeps growing with
 * old members still live. Creations and exits are counted in BPF, nothing per event.
 *
 * A snapshot of every goroutine (src/goroutines.c) read from the target at each report
 * adds what the probes do not see: each member's state and wait reason now and its
 * current stack, the runtime's own count, and the goroutines from before attach, grouped
 * by the `go` statement the runtime recorded (g.gopc). A suspect's oldest members must
 * be parked, most of them in one wait reason: growth of running goroutines is load.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "bpfmaps.h"
#include "goroutines.h"
#include "log.h"
#include "model.h"
#include "target.h"
#include "trace_int.h"

#define MAX_REASONS 3
/* A suspect's oldest half: at least this share parked in one wait reason. */
#define MIN_PARKED 0.5
/*
 * Every creation and exit takes a uprobe trap (~1 µs each here) even when the budget
 * leaves it unrecorded: past DETACH_FACTOR times the budget, DETACH_SECS seconds running,
 * the probes come off and goroutines are followed by snapshots alone.
 */
#define DETACH_FACTOR 10
#define DETACH_SECS 3

struct reason_count {
	const char *state;	/* the runtime's word: a wait reason or a status */
	uint32_t count;
};

/*
 * A creation site: goroutines with the same trimmed creation stack and ancestors, or,
 * for goroutines from before attach, the same `go` statement (pre_attach).
 */
struct gor_site {
	uint64_t key;
	const struct gor_live *rep;	/* one of them: its stacks are the site's */
	double count;			/* weighted */
	uint64_t created;		/* creations from its own stack, weighted */
	uint64_t oldest_ns;		/* 0: before attach, unknown */
	double median_age_s;
	bool pre_attach;
	bool by_gopc;			/* grouped by g.gopc: before attach, or probes detached */
	uint64_t gopc;			/* by_gopc: the runtime's g.gopc (link-time) */
	int64_t parked_ns;		/* by_gopc: the longest wait of its members; -1 unknown */
	/* from the snapshot: the states of its members now, most common first */
	struct reason_count reasons[MAX_REASONS];
	uint32_t seen;			/* members found in the snapshot */
	double parked_frac;		/* oldest half: share in the top wait reason */
	const struct goroutine *oldest;	/* the oldest member found, for its current stack */
};

struct trace_gor {
	struct gortrace *gt;
	struct gortrace_opts opt;
	struct model *model;
	uint64_t budget_skips; /* as of the last check */
	int backoffs;
	char backoff_msg[160];
	uint32_t window; /* the model's window number: one per report */
	/* the current report */
	struct gor_snap snap;
	uint64_t *stack_keys; /* trimmed-frames key of each snap.stacks[] */
	uint64_t *keyed_ids;  /* the stack id of each of them (kept to the next report) */
	size_t nkeyed;
	struct gor_site *sites;
	size_t nsites;
	double live;
	int nsuspects;
	struct suspect suspects[MAX_SUSPECTS];
	uint32_t windows, skipped;
	/* the snapshot of this report; have_snap false when it could not be taken */
	struct goroutine_snapshot gs;
	uint64_t gs_at;		/* when gs was taken (trace_mono_ns); 0: never */
	bool have_snap;
	bool warned;
	const struct goroutine **by_goid;	/* gs.g sorted by goid */
	uint32_t pre_attach;			/* user goroutines not recorded by the probes */
	/* a goroutine storm: the probes' traps alone cost too much; snapshots only then */
	uint64_t last_creates;
	int storm_secs;
	bool detached;
	char detach_msg[160];
	struct lh_gor_tstate final_ts;	/* the probes' counters when they came off */
	int not_parked;				/* suspects dropped: members not parked */
	uint64_t *attach_goids;			/* sorted: the goroutines at attach */
	size_t nattach;
	uint32_t unrecorded;	/* created since attach, not recorded (budget, read gap) */
	struct trace_loss loss;
};

/*
 * The model's rules for goroutine counts (docs/MODEL.md): every goroutine is a sample
 * (rate 1), so the noise rule asks for growth beyond what creations and exits over the
 * fit can explain, and at least 6 more goroutines; the floor is one a minute.
 */
static struct model *new_model(void)
{
	struct model_opts o = {
		.floor_bytes_per_s = 1.0 / 60,
		.sample_rate = 1,
	};

	return model__new(&o); /* zero fields: the heap's defaults */
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void take_snapshot(struct tracer *tr, struct trace_gor *g);

/*
 * The goroutines alive once the probes are in: later, one that the probes did not
 * record is from before attach only if it is among these.
 */
static void remember_attach(struct tracer *tr, struct trace_gor *g)
{
	take_snapshot(tr, g);
	if (!g->have_snap)
		return;
	g->attach_goids = calloc(g->gs.n + 1, sizeof(*g->attach_goids));
	if (!g->attach_goids)
		return;
	for (size_t i = 0; i < g->gs.n; i++)
		g->attach_goids[i] = g->gs.g[i].goid;
	g->nattach = g->gs.n;
	qsort(g->attach_goids, g->nattach, sizeof(uint64_t), cmp_u64);
}

int trace_gor_attach(struct tracer *tr)
{
	uint64_t stats[LH_STAT__COUNT] = {};
	struct trace_gor *g;
	const char *what = NULL;
	int err;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->model = new_model();
	if (tr->sh && !tr->sh->gt)
		tr->sh->gt = gortrace__open();
	g->gt = tr->sh ? tr->sh->gt : gortrace__open();
	if (!g->model || !g->gt) {
		err = -errno;
		log_err("goroutine tracing: %s%s", strerror(-err), caps_err_hint(err, CAPS_BPF));
		goto fail;
	}
	g->opt.budget = tr->o.budget;
	gortrace__stats(g->gt, stats); /* before the probes: their failures count */
	trace_loss_start(&g->loss, stats);
	err = gortrace__attach(g->gt, tr->t, &g->opt, &what);
	if (err) {
		log_err("process %d: goroutine tracing: cannot attach to %s: %s%s", tr->t->pid,
			what ? what : "?", strerror(-err),
			caps_err_hint(err, CAPS_UPROBE | CAPS_PROC));
		goto fail;
	}
	tr->gor = g;
	remember_attach(tr, g);
	return 0;
fail:
	if (tr->sh)
		gortrace__detach(g->gt, tr->t->pid);
	else
		gortrace__free(g->gt);
	model__free(g->model);
	free(g);
	return err;
}

void trace_gor_free(struct tracer *tr)
{
	struct trace_gor *g = tr->gor;

	if (!g)
		return;
	if (tr->sh)
		gortrace__detach(g->gt, tr->t->pid);
	else
		gortrace__free(g->gt);
	model__free(g->model);
	gor_snap__release(&g->snap);
	goroutines__release(&g->gs);
	free(g->by_goid);
	free(g->attach_goids);
	free(g->stack_keys);
	free(g->keyed_ids);
	free(g->sites);
	free(g);
	tr->gor = NULL;
}

void trace_gor_print_probes(struct tracer *tr)
{
	const struct go_hook *h;

	for (int i = 0; (h = gortrace__hook(tr->t, i)); i++)
		trace_print_probe(h);
}

/* The creation probe's budget: past it, record one creation in 4, 16, ... */
/* Detaches the probes after DETACH_SECS checks over DETACH_FACTOR x budget creations/s. */
static bool storm(struct tracer *tr, struct trace_gor *g, const struct lh_gor_tstate *ts)
{
	uint64_t rate = ts->creates - g->last_creates;

	g->last_creates = ts->creates;
	if (rate <= (uint64_t)DETACH_FACTOR * g->opt.budget) {
		g->storm_secs = 0;
		return false;
	}
	if (++g->storm_secs < DETACH_SECS)
		return false;
	g->final_ts = *ts;
	gortrace__detach(g->gt, tr->t->pid);
	g->detached = true;
	snprintf(g->detach_msg, sizeof(g->detach_msg),
		 "%" PRIu64 " goroutines created a second, over %d x the budget: creation and "
		 "exit probes detached, goroutines followed by snapshots alone", rate,
		 DETACH_FACTOR);
	log_warn("process %d: %s", tr->t->pid, g->detach_msg);
	return true;
}

void trace_gor_budget(struct tracer *tr)
{
	struct trace_gor *g = tr->gor;
	struct gortrace_opts o;
	struct lh_gor_tstate ts;
	uint64_t skips;

	if (!g || g->detached || !g->opt.budget || gortrace__tstate(g->gt, tr->t->pid, &ts))
		return;
	if (storm(tr, g, &ts))
		return;
	skips = ts.budget_skips - g->budget_skips;
	g->budget_skips = ts.budget_skips;
	if (!skips || g->opt.keep_shift >= MAX_KEEP_SHIFT)
		return;
	o = g->opt;
	o.keep_shift += BACKOFF_SHIFT;
	if (gortrace__configure(g->gt, tr->t->pid, &o))
		return;
	snprintf(g->backoff_msg, sizeof(g->backoff_msg),
		 "%" PRIu64 " creations over the budget not recorded; backed off: creations "
		 "recorded 1 in %u -> 1 in %u",
		 skips, 1U << g->opt.keep_shift, 1U << o.keep_shift);
	g->opt = o;
	g->backoffs++;
	log_warn("process %d: goroutine probe budget %" PRIu32 "/s exceeded: %s", tr->t->pid,
		 o.budget, g->backoff_msg);
}

static int stack_frames(struct tracer *tr, const struct trace_gor *g, uint64_t id,
			struct frame_out *fr)
{
	const struct gor_stack *st = id ? gor_snap__stack(&g->snap, id) : NULL;

	return st ? trace_frames(tr, &st->st, fr, MAX_FRAMES) : 0;
}

/* Each stack's identity: its trimmed, symbolized frames (0 for a stack not read). */
static int key_stacks(struct tracer *tr, struct trace_gor *g)
{
	uint64_t *keys = calloc(g->snap.nstacks + 1, sizeof(*keys));
	uint64_t *ids = calloc(g->snap.nstacks + 1, sizeof(*ids));
	struct frame_out fr[MAX_FRAMES];
	size_t j = 0;

	if (!keys || !ids) {
		free(keys);
		free(ids);
		return -ENOMEM;
	}
	/* both lists sorted by id: a stack keyed at the last report keeps its key */
	for (size_t i = 0; i < g->snap.nstacks; i++) {
		ids[i] = g->snap.stacks[i].id;
		while (j < g->nkeyed && g->keyed_ids[j] < ids[i])
			j++;
		if (j < g->nkeyed && g->keyed_ids[j] == ids[i]) {
			keys[i] = g->stack_keys[j];
			continue;
		}
		keys[i] = trace_frames_key(fr, trace_frames(tr, &g->snap.stacks[i].st, fr, MAX_FRAMES),
					   0xcbf29ce484222325ull);
	}
	free(g->stack_keys);
	free(g->keyed_ids);
	g->stack_keys = keys;
	g->keyed_ids = ids;
	g->nkeyed = g->snap.nstacks;
	return 0;
}

static uint64_t stack_key(const struct trace_gor *g, uint64_t id)
{
	const struct gor_stack *st = id ? gor_snap__stack(&g->snap, id) : NULL;

	return st ? g->stack_keys[st - g->snap.stacks] : 0;
}

struct member {
	uint64_t key;
	uint64_t ts_ns;
	const struct gor_live *g;
};


static int cmp_goid(const void *a, const void *b)
{
	const struct goroutine *x = *(const struct goroutine **)a;
	const struct goroutine *y = *(const struct goroutine **)b;

	return x->goid < y->goid ? -1 : x->goid > y->goid;
}

/*
 * Takes this report's snapshot; a failure leaves the probes' view alone, said once, and
 * keeps the last snapshot taken (for a snapshot of a process being OOM-killed) while
 * have_snap says this report has none.
 */
static void take_snapshot(struct tracer *tr, struct trace_gor *g)
{
	struct goroutine_snapshot ns;
	int err;

	free(g->by_goid);
	g->by_goid = NULL;
	g->have_snap = false;
	err = goroutines__snapshot(tr->t, &ns);
	if (!err) {
		goroutines__release(&g->gs);
		g->gs = ns;
		g->gs_at = trace_mono_ns();
		g->by_goid = calloc(g->gs.n + 1, sizeof(*g->by_goid));
		if (!g->by_goid)
			err = -ENOMEM;
	}
	if (err) {
		if (!g->warned)
			log_warn("process %d: no goroutine snapshot (%s): wait reasons, current "
				 "stacks and goroutines from before attach left out", tr->t->pid,
				 strerror(-err));
		g->warned = true;
		return;
	}
	for (size_t i = 0; i < g->gs.n; i++)
		g->by_goid[i] = &g->gs.g[i];
	qsort(g->by_goid, g->gs.n, sizeof(*g->by_goid), cmp_goid);
	g->have_snap = true;
}

const struct goroutine_snapshot *trace_gor_last_snapshot(struct tracer *tr, uint64_t *at_ns)
{
	struct trace_gor *g = tr->gor;

	if (!g || !g->gs_at)
		return NULL;
	*at_ns = g->gs_at;
	return &g->gs;
}

double trace_gor_count(struct tracer *tr)
{
	struct trace_gor *g = tr->gor;
	struct lh_gor_tstate ts;
	double base, n;

	if (!g)
		return -1;
	base = g->have_snap ? g->gs.user : g->live;
	if (g->detached || gortrace__tstate(g->gt, tr->t->pid, &ts))
		return base;
	/* creations and exits the probes counted since the last report */
	n = base + (double)(ts.creates - g->snap.ts.creates) -
	    (double)(ts.exits - g->snap.ts.exits) -
	    (double)(ts.exits_untracked - g->snap.ts.exits_untracked);
	return n > 0 ? n : 0;
}

static const struct goroutine *snap_find(const struct trace_gor *g, uint64_t goid)
{
	struct goroutine key = { .goid = goid };
	const struct goroutine *kp = &key, **r;

	if (!g->have_snap)
		return NULL;
	r = bsearch(&kp, g->by_goid, g->gs.n, sizeof(*g->by_goid), cmp_goid);
	return r ? *r : NULL;
}

/* Counts state in rc[0..*n), which has room for one more. */
static void count_reason(struct reason_count *rc, int *n, const char *state)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp(rc[i].state, state)) {
			rc[i].count++;
			return;
		}
	rc[*n].state = state;
	rc[*n].count = 1;
	(*n)++;
}

static int cmp_reason(const void *a, const void *b)
{
	const struct reason_count *x = a, *y = b;

	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

static void keep_top(struct gor_site *s, struct reason_count *rc, int nrc)
{
	qsort(rc, nrc, sizeof(*rc), cmp_reason);
	for (int i = 0; i < nrc && i < MAX_REASONS; i++)
		s->reasons[i] = rc[i];
}

/*
 * The states of a site's members m[0..n) (oldest first) now: the most common ones, and
 * the share of the oldest half parked in the most common wait reason of that half.
 */
static int site_states(struct trace_gor *g, struct gor_site *s, const struct member *m, size_t n)
{
	struct reason_count *rc = calloc(n + 1, sizeof(*rc));
	int nrc = 0, nold = 0;
	uint32_t top = 0;

	if (!rc)
		return -ENOMEM;
	for (size_t i = 0; i < (n + 1) / 2; i++) {
		const struct goroutine *x = snap_find(g, m[i].g->goid);

		if (!x)
			continue;
		nold++;
		if (x->status == GSTATUS_WAITING)
			count_reason(rc, &nrc, goroutine_state(&g->gs, x));
	}
	for (int i = 0; i < nrc; i++)
		if (rc[i].count > top)
			top = rc[i].count;
	s->parked_frac = nold ? (double)top / nold : 0;
	nrc = 0;
	for (size_t i = 0; i < n; i++) {
		const struct goroutine *x = snap_find(g, m[i].g->goid);

		if (!x)
			continue;
		if (!s->oldest)
			s->oldest = x;
		s->seen++;
		count_reason(rc, &nrc, goroutine_state(&g->gs, x));
	}
	keep_top(s, rc, nrc);
	free(rc);
	return 0;
}

static int cmp_gopc(const void *a, const void *b)
{
	const struct goroutine *x = *(const struct goroutine **)a;
	const struct goroutine *y = *(const struct goroutine **)b;

	return x->gopc < y->gopc ? -1 : x->gopc > y->gopc;
}

/*
 * User goroutines of the snapshot that the probes did not record (created before
 * attach): one site per `go` statement, appended to the recorded ones.
 */
static int group_pre_attach(struct trace_gor *g)
{
	const struct goroutine **pre = calloc(g->gs.n + 1, sizeof(*pre));
	struct reason_count *rc = calloc(g->gs.n + 1, sizeof(*rc));
	size_t n = 0;
	void *grown;

	g->unrecorded = 0;
	grown = pre && rc ? realloc(g->sites, (g->nsites + g->gs.n + 1) * sizeof(*g->sites)) : NULL;
	if (!grown) {
		free(pre);
		free(rc);
		return -ENOMEM;
	}
	g->sites = grown;
	for (size_t i = 0; i < g->gs.n; i++) {
		const struct goroutine *x = &g->gs.g[i];

		if (x->system || gor_snap__find(&g->snap, x->goid))
			continue;
		if (g->detached || (g->nattach && bsearch(&x->goid, g->attach_goids, g->nattach,
							  sizeof(uint64_t), cmp_u64)))
			pre[n++] = x;
		else
			g->unrecorded++;
	}
	g->pre_attach = g->detached ? 0 : n;
	qsort(pre, n, sizeof(*pre), cmp_gopc);
	for (size_t i = 0, j; i < n; i = j) {
		struct gor_site *s = &g->sites[g->nsites++];
		int nrc = 0;

		memset(s, 0, sizeof(*s));
		s->pre_attach = !g->detached;
		s->by_gopc = true;
		s->gopc = pre[i]->gopc;
		s->key = pre[i]->gopc ^ 0x9e3779b97f4a7c15ull;
		s->oldest = pre[i];
		s->parked_ns = -1;
		for (j = i; j < n && pre[j]->gopc == pre[i]->gopc; j++) {
			s->count++;
			s->seen++;
			count_reason(rc, &nrc, goroutine_state(&g->gs, pre[j]));
			if (pre[j]->wait_ns > s->parked_ns) {
				s->parked_ns = pre[j]->wait_ns;
				s->oldest = pre[j];
			}
		}
		keep_top(s, rc, nrc);
		s->parked_frac = s->seen ? (double)s->reasons[0].count / s->seen : 0;
	}
	free(pre);
	free(rc);
	return 0;
}

static int cmp_member(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

static int cmp_count(const void *a, const void *b)
{
	const struct gor_site *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* Groups the live goroutines into sites; members of a site sorted by creation time. */
static int group(struct trace_gor *g, uint64_t now)
{
	size_t n = g->snap.nlive;
	struct member *m = calloc(n + 1, sizeof(*m));

	free(g->sites);
	g->sites = calloc(n + 1, sizeof(*g->sites));
	g->nsites = 0;
	g->live = 0;
	if (!m || !g->sites) {
		free(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct gor_live *x = &g->snap.live[i];
		uint64_t k = stack_key(g, x->v.stack_id);

		for (int a = 0; a < LH_GOR_ANCESTORS; a++)
			k = (k ^ stack_key(g, x->v.anc[a])) * 0x100000001b3ull;
		m[i] = (struct member){.key = k, .ts_ns = x->v.ts_ns, .g = x};
	}
	qsort(m, n, sizeof(*m), cmp_member);
	for (size_t i = 0, j; i < n; i = j) {
		struct gor_site *s = &g->sites[g->nsites++];
		const struct gor_stack *st = gor_snap__stack(&g->snap, m[i].g->v.stack_id);

		for (j = i; j < n && m[j].key == m[i].key; j++)
			s->count += m[j].g->v.weight ? m[j].g->v.weight : 1;
		s->key = m[i].key;
		s->rep = m[i].g;
		s->created = st ? st->st.allocs : 0;
		s->oldest_ns = m[i].ts_ns;
		s->median_age_s =
			now > m[i + (j - i) / 2].ts_ns ? (now - m[i + (j - i) / 2].ts_ns) / 1e9 : 0;
		g->live += s->count;
		if (g->have_snap && site_states(g, s, m + i, j - i)) {
			free(m);
			return -ENOMEM;
		}
	}
	free(m);
	if (g->have_snap && group_pre_attach(g))
		return -ENOMEM;
	qsort(g->sites, g->nsites, sizeof(*g->sites), cmp_count);
	return 0;
}

static const struct gor_site *site_by_key(const struct trace_gor *g, uint64_t key)
{
	for (size_t i = 0; i < g->nsites; i++)
		if (g->sites[i].key == key)
			return &g->sites[i];
	return NULL;
}

/*
 * Suspects whose oldest members are not mostly parked in one wait reason are load, not
 * leaks: dropped (and counted), when the snapshot could tell.
 */
static void keep_parked(struct trace_gor *g)
{
	int out = 0;

	g->not_parked = 0;
	for (int i = 0; i < g->nsuspects; i++) {
		const struct gor_site *s = site_by_key(g, g->suspects[i].site_id);

		if (s && s->seen && s->parked_frac < MIN_PARKED) {
			g->not_parked++;
			continue;
		}
		g->suspects[out++] = g->suspects[i];
	}
	g->nsuspects = out;
}

int trace_gor_collect(struct tracer *tr)
{
	struct trace_gor *g = tr->gor;
	uint64_t now = trace_mono_ns();
	int err = 0;

	if (!g)
		return 0;
	gor_snap__release(&g->snap);
	/* the maps first: a goroutine of the snapshot they lack is new, or from before */
	if (g->detached)
		g->snap.ts = g->final_ts;
	else
		err = gortrace__snapshot(g->gt, tr->t->pid, &g->snap);
	take_snapshot(tr, g);
	if (!err)
		err = key_stacks(tr, g);
	if (!err)
		err = group(g, now);
	if (err) {
		log_err("reading the goroutine maps: %s", strerror(-err));
		return err;
	}
	trace_loss_update(&g->loss, g->snap.stats, tr->sh);
	g->window++;
	for (size_t i = 0; i < g->nsites; i++) {
		const struct gor_site *s = &g->sites[i];
		uint64_t count = s->count + 0.5;

		if (s->pre_attach)
			continue; /* no creation time, no creations: nothing to fit */
		if (s->by_gopc) {
			/*
			 * Probes detached: creations unknown (taken as the count), age as the
			 * longest wait the runtime recorded (0 when it has none: young).
			 */
			model__observe(g->model, s->key, g->window, now, count, count, count,
				       s->parked_ns > 0 ? (uint64_t)s->parked_ns : 0, count);
			continue;
		}
		model__observe(g->model, s->key, g->window, now, count, count, s->created,
			       now - s->oldest_ns, count);
	}
	model__close_window(g->model, g->window, now);
	g->nsuspects = model__suspects(g->model, g->suspects, MAX_SUSPECTS);
	if (g->nsuspects < 0)
		g->nsuspects = 0;
	model__windows(g->model, &g->windows, &g->skipped);
	keep_parked(g);
	return 0;
}


static double age_s(uint64_t ts_ns)
{
	uint64_t now = trace_mono_ns();

	return ts_ns && ts_ns < now ? (now - ts_ns) / 1e9 : 0;
}

/* Frames of link-time pcs, each looked up at pc - 1 (return addresses), inlined expanded. */
static int pcs_frames(struct tracer *tr, const uint64_t *pcs, uint32_t n, struct frame_out *out,
		      int max)
{
	int k = 0;

	for (uint32_t i = 0; i < n && k < max; i++) {
		struct gosym_frame fr[16];
		int m = gosym__frames(tr->t->bin->sym, pcs[i] - 1, fr, 16);

		if (m <= 0) {
			out[k++] = (struct frame_out){ .f = { .func = "?", .file = "?" }, .pc_index = i };
			continue;
		}
		for (int j = 0; j < m && k < max; j++)
			out[k++] = (struct frame_out){ .f = fr[j], .pc_index = i };
	}
	return k;
}

/* The current stack of a goroutine of the snapshot. */
static int current_frames(struct tracer *tr, const struct goroutine *x, struct frame_out *fr)
{
	const struct goroutine_snapshot *gs = &tr->gor->gs;

	if (!x || (uint64_t)x->pc_off + x->npcs > gs->npcs)
		return 0;
	return pcs_frames(tr, gs->pcs + x->pc_off, x->npcs, fr, MAX_FRAMES);
}

/* A site's creation stack: recorded by the probe, or the runtime's g.gopc before attach. */
static int creation_frames(struct tracer *tr, const struct gor_site *s, struct frame_out *fr)
{
	if (s->by_gopc)
		return s->gopc ? pcs_frames(tr, &s->gopc, 1, fr, MAX_FRAMES) : 0;
	return stack_frames(tr, tr->gor, s->rep->v.stack_id, fr);
}

static const char *oldest_state(struct tracer *tr, const struct gor_site *s)
{
	return s->oldest ? goroutine_state(&tr->gor->gs, s->oldest) : "?";
}

static void print_states(const struct gor_site *s)
{
	if (!s->seen)
		return;
	printf("    now:");
	for (int i = 0; i < MAX_REASONS && s->reasons[i].count; i++)
		printf("%s %u %s", i ? "," : "", s->reasons[i].count, s->reasons[i].state);
	printf("\n");
}

/* A site's creation stack, each recorded ancestor's, and its oldest member's stack now. */
static void print_site(struct tracer *tr, const struct gor_site *s)
{
	struct frame_out fr[MAX_FRAMES];
	int k;

	if (!s)
		return;
	print_states(s);
	printf("    created at%s:\n", s->pre_attach ? " (before attach: the go statement)" :
				    s->by_gopc ? " (the go statement)" : "");
	k = creation_frames(tr, s, fr);
	trace_print_frames(fr, k, "      ");
	for (int a = 0; !s->by_gopc && a < LH_GOR_ANCESTORS && s->rep->v.anc[a]; a++) {
		k = stack_frames(tr, tr->gor, s->rep->v.anc[a], fr);
		if (!k)
			break;
		printf("    in a goroutine created at:\n");
		trace_print_frames(fr, k, "      ");
	}
	k = current_frames(tr, s->oldest, fr);
	if (k) {
		printf("    oldest now (goroutine %" PRIu64 ", %s):\n", s->oldest->goid,
		       oldest_state(tr, s));
		trace_print_frames(fr, k, "      ");
	}
}

void trace_gor_text(struct tracer *tr)
{
	struct trace_gor *g = tr->gor;
	const struct lh_gor_tstate *ts;
	size_t n;

	if (!g)
		return;
	ts = &g->snap.ts;
	n = g->nsites < (size_t)tr->o.top ? g->nsites : (size_t)tr->o.top;
	if (g->have_snap)
		printf("goroutines: %u (%u system apart), %.0f of them created since attach, %u from "
		       "before, %u not recorded; ", g->gs.user, g->gs.system, g->live, g->pre_attach,
		       g->unrecorded);
	else
		printf("goroutines created since attach and still live: %.0f; ", g->live);
	printf("created %" PRIu64 ", exited %" PRIu64 " (and %" PRIu64 " not recorded), "
	       "new g structs %" PRIu64 "\n", (uint64_t)ts->creates, (uint64_t)ts->exits,
	       (uint64_t)ts->exits_untracked, (uint64_t)ts->malgs);
	if (g->detached)
		printf("goroutine probes: %s\n", g->detach_msg);
	trace_loss_print(&g->loss, "counts, growth and suspects");
	if (g->backoffs)
		printf("goroutine probe budget %" PRIu32 "/s: exceeded, backed off %d times; last: "
		       "%s\n", g->opt.budget, g->backoffs, g->backoff_msg);
	printf("goroutine leak suspects (%u windows", g->windows);
	if (g->not_parked)
		printf("; %d growing sites left out: their oldest goroutines are not parked",
		       g->not_parked);
	printf("): %d\n", g->nsuspects);
	for (int i = 0; i < g->nsuspects; i++) {
		const struct suspect *x = &g->suspects[i];
		const struct gor_site *s = site_by_key(g, x->site_id);

		printf("!%d goroutines growing %.2f/s (%.0f/min), live %" PRIu64 ", oldest %.1fs, "
		       "median age %.1fs, confidence %.2f\n", i + 1, x->growth_per_s,
		       x->growth_per_s * 60, x->live, x->oldest_age_s, s ? s->median_age_s : 0,
		       x->confidence);
		print_site(tr, s);
	}
	printf("top goroutine creation sites by live count:\n");
	for (size_t i = 0; i < n; i++) {
		const struct gor_site *s = &g->sites[i];

		if (s->by_gopc)
			printf("#%zu live %.0f, %s\n", i + 1, s->count,
			       s->pre_attach ? "from before attach" : "by go statement");
		else
			printf("#%zu live %.0f, created %" PRIu64 ", oldest %.1fs, median age %.1fs\n",
			       i + 1, s->count, s->created, age_s(s->oldest_ns), s->median_age_s);
		print_site(tr, s);
	}
	fflush(stdout);
}

static void states_json(const struct gor_site *s, cJSON *o)
{
	cJSON *a = cJSON_AddArrayToObject(o, "states");

	for (int i = 0; a && i < MAX_REASONS && s->reasons[i].count; i++) {
		cJSON *r = cJSON_CreateObject();

		if (!r)
			return;
		cJSON_AddStringToObject(r, "state", s->reasons[i].state);
		cJSON_AddNumberToObject(r, "count", s->reasons[i].count);
		cJSON_AddItemToArray(a, r);
	}
}

static void site_json(struct tracer *tr, const struct gor_site *s, cJSON *o)
{
	struct frame_out fr[MAX_FRAMES] = {};
	cJSON *anc;
	int k;

	if (!s)
		return;
	cJSON_AddBoolToObject(o, "pre_attach", s->pre_attach);
	k = creation_frames(tr, s, fr);
	cJSON_AddItemToObject(o, "stack", trace_frames_json(fr, k));
	anc = cJSON_AddArrayToObject(o, "ancestors");
	for (int a = 0; !s->by_gopc && anc && a < LH_GOR_ANCESTORS && s->rep->v.anc[a]; a++) {
		k = stack_frames(tr, tr->gor, s->rep->v.anc[a], fr);
		if (!k)
			break;
		cJSON_AddItemToArray(anc, trace_frames_json(fr, k));
	}
	states_json(s, o);
	cJSON_AddNumberToObject(o, "parked_share", s->parked_frac);
	k = current_frames(tr, s->oldest, fr);
	if (k) {
		cJSON *c = cJSON_AddObjectToObject(o, "oldest_now");

		if (c) {
			cJSON_AddNumberToObject(c, "goid", s->oldest->goid);
			cJSON_AddStringToObject(c, "state", oldest_state(tr, s));
			if (s->oldest->wait_ns >= 0)
				cJSON_AddNumberToObject(c, "waiting_s", s->oldest->wait_ns / 1e9);
			cJSON_AddItemToObject(c, "stack", trace_frames_json(fr, k));
		}
	}
}

void trace_gor_json(struct tracer *tr, cJSON *root, cJSON *suspects)
{
	struct trace_gor *g = tr->gor;
	size_t n;
	cJSON *o, *sites, *b;

	if (!g)
		return;
	n = g->nsites < (size_t)tr->o.top ? g->nsites : (size_t)tr->o.top;
	o = cJSON_AddObjectToObject(root, "goroutines");
	if (!o)
		return;
	if (g->have_snap) {
		cJSON_AddNumberToObject(o, "count", g->gs.user);
		cJSON_AddNumberToObject(o, "system", g->gs.system);
		cJSON_AddNumberToObject(o, "pre_attach", g->pre_attach);
		cJSON_AddNumberToObject(o, "unrecorded", g->unrecorded);
	} else {
		cJSON_AddNullToObject(o, "count");
	}
	cJSON_AddNumberToObject(o, "traced", g->live);
	cJSON_AddNumberToObject(o, "created", g->snap.ts.creates);
	cJSON_AddNumberToObject(o, "exited", g->snap.ts.exits);
	cJSON_AddNumberToObject(o, "exited_untracked", g->snap.ts.exits_untracked);
	cJSON_AddNumberToObject(o, "new_g_structs", g->snap.ts.malgs);
	cJSON_AddNumberToObject(o, "windows", g->windows);
	cJSON_AddNumberToObject(o, "not_parked", g->not_parked);
	{
		cJSON *st = cJSON_AddObjectToObject(o, "stats");
		uint64_t drops = 0;

		for (int i = 0; st && i < LH_STAT__COUNT; i++) {
			drops += g->snap.stats[i];
			cJSON_AddNumberToObject(st, lh_stat_name(i), g->snap.stats[i]);
		}
		cJSON_AddNumberToObject(st, "drops", drops);
		if (trace_loss_why(&g->loss))
			cJSON_AddStringToObject(st, "incomplete", trace_loss_why(&g->loss));
		else
			cJSON_AddNullToObject(st, "incomplete");
	}
	b = cJSON_AddObjectToObject(o, "budget");
	if (b) {
		cJSON_AddNumberToObject(b, "backoffs", g->backoffs);
		cJSON_AddNumberToObject(b, "keep_1_in", 1U << g->opt.keep_shift);
		cJSON_AddNumberToObject(b, "budget_skip", g->snap.ts.budget_skips);
		cJSON_AddBoolToObject(b, "detached", g->detached);
		if (g->detached)
			cJSON_AddStringToObject(b, "detached_why", g->detach_msg);
	}
	sites = cJSON_AddArrayToObject(o, "sites");
	for (size_t i = 0; sites && i < n; i++) {
		const struct gor_site *s = &g->sites[i];
		cJSON *x = cJSON_CreateObject();

		if (!x)
			break;
		cJSON_AddNumberToObject(x, "count", s->count);
		cJSON_AddNumberToObject(x, "created", s->created);
		if (s->by_gopc) {
			cJSON_AddNullToObject(x, "oldest_age_s");
			cJSON_AddNullToObject(x, "median_age_s");
		} else {
			cJSON_AddNumberToObject(x, "oldest_age_s", age_s(s->oldest_ns));
			cJSON_AddNumberToObject(x, "median_age_s", s->median_age_s);
		}
		site_json(tr, s, x);
		cJSON_AddItemToArray(sites, x);
	}
	for (int i = 0; suspects && i < g->nsuspects; i++) {
		const struct suspect *x = &g->suspects[i];
		const struct gor_site *s = site_by_key(g, x->site_id);
		cJSON *j = cJSON_CreateObject();

		if (!j)
			break;
		cJSON_AddStringToObject(j, "kind", "goroutine");
		cJSON_AddNumberToObject(j, "growth_per_s", x->growth_per_s);
		cJSON_AddNumberToObject(j, "growth_per_min", x->growth_per_s * 60);
		cJSON_AddNumberToObject(j, "live", x->live);
		cJSON_AddNumberToObject(j, "oldest_age_s", x->oldest_age_s);
		cJSON_AddNumberToObject(j, "median_age_s", s ? s->median_age_s : 0);
		cJSON_AddNumberToObject(j, "confidence", x->confidence);
		cJSON_AddNumberToObject(j, "windows", x->windows);
		cJSON_AddItemToObject(j, "series", trace_series_json(g->model, x->site_id));
		if (trace_loss_why(&g->loss))
			cJSON_AddStringToObject(j, "incomplete", trace_loss_why(&g->loss));
		else
			cJSON_AddNullToObject(j, "incomplete");
		site_json(tr, s, j);
		cJSON_AddItemToArray(suspects, j);
	}
}

void trace_gor_summary(struct tracer *tr, struct trace_summary *s)
{
	struct trace_gor *g = tr->gor;

	memset(s, 0, sizeof(*s));
	if (!g)
		return;
	s->on = true;
	s->live = g->have_snap ? g->gs.user : g->live;
	s->nsuspects = g->nsuspects;
	s->top_growth = g->nsuspects ? g->suspects[0].growth_per_s : 0;
	for (int i = 0; i < LH_STAT__COUNT; i++)
		s->drops += g->snap.stats[i];
	s->events = g->snap.ts.creates + g->snap.ts.exits + g->snap.ts.exits_untracked;
	s->entries = g->snap.nlive;
	s->capacity = bpfmaps__scaled(LH_GOR_MAX_LIVE);
	s->incomplete = g->loss.lost > 0;
}
