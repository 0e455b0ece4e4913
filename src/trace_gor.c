// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Goroutine tracing in `leakhound trace` (bpf/goroutines.bpf.c, src/gortrace.c): every
 * report groups the live goroutines recorded since attach by their full creation stack
 * (their own, then their creator's and its creator's when those were recorded), feeds
 * the live count of each creation site to the leak model with one window per report,
 * and reports suspects of kind "goroutine": sites whose live count keeps growing with
 * old members still live. Creations and exits are counted in BPF, nothing per event.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "model.h"
#include "target.h"
#include "trace_int.h"

/* A creation site: goroutines with the same trimmed creation stack and ancestors. */
struct gor_site {
	uint64_t key;
	const struct gor_live *rep; /* one of them: its stacks are the site's */
	double count;		    /* weighted */
	uint64_t created;	    /* creations from its own stack, weighted */
	uint64_t oldest_ns;
	double median_age_s;
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
	struct gor_site *sites;
	size_t nsites;
	double live;
	int nsuspects;
	struct suspect suspects[MAX_SUSPECTS];
	uint32_t windows, skipped;
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

int trace_gor_attach(struct tracer *tr)
{
	struct trace_gor *g;
	const char *what = NULL;
	int err;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->model = new_model();
	g->gt = gortrace__open();
	if (!g->model || !g->gt) {
		err = -errno;
		log_err("goroutine tracing: %s", strerror(-err));
		goto fail;
	}
	g->opt.budget = tr->o.budget;
	err = gortrace__attach(g->gt, tr->t, &g->opt, &what);
	if (err) {
		log_err("process %d: goroutine tracing: cannot attach to %s: %s", tr->t->pid,
			what ? what : "?", strerror(-err));
		goto fail;
	}
	tr->gor = g;
	return 0;
fail:
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
	gortrace__free(g->gt);
	model__free(g->model);
	gor_snap__release(&g->snap);
	free(g->stack_keys);
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
void trace_gor_budget(struct tracer *tr)
{
	struct trace_gor *g = tr->gor;
	struct gortrace_opts o;
	struct lh_gor_tstate ts;
	uint64_t skips;

	if (!g || !g->opt.budget || gortrace__tstate(g->gt, tr->t->pid, &ts))
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
	struct frame_out fr[MAX_FRAMES];

	free(g->stack_keys);
	g->stack_keys = calloc(g->snap.nstacks + 1, sizeof(*g->stack_keys));
	if (!g->stack_keys)
		return -ENOMEM;
	for (size_t i = 0; i < g->snap.nstacks; i++) {
		int n = trace_frames(tr, &g->snap.stacks[i].st, fr, MAX_FRAMES);

		g->stack_keys[i] = trace_frames_key(fr, n, 0xcbf29ce484222325ull);
	}
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
	}
	free(m);
	qsort(g->sites, g->nsites, sizeof(*g->sites), cmp_count);
	return 0;
}

int trace_gor_collect(struct tracer *tr)
{
	struct trace_gor *g = tr->gor;
	uint64_t now = trace_mono_ns();
	int err;

	if (!g)
		return 0;
	gor_snap__release(&g->snap);
	err = gortrace__snapshot(g->gt, tr->t->pid, &g->snap);
	if (!err)
		err = key_stacks(tr, g);
	if (!err)
		err = group(g, now);
	if (err) {
		log_err("reading the goroutine maps: %s", strerror(-err));
		return err;
	}
	g->window++;
	for (size_t i = 0; i < g->nsites; i++) {
		const struct gor_site *s = &g->sites[i];
		uint64_t count = s->count + 0.5;

		model__observe(g->model, s->key, g->window, now, count, count, s->created,
			       now - s->oldest_ns, count);
	}
	model__close_window(g->model, g->window, now);
	g->nsuspects = model__suspects(g->model, g->suspects, MAX_SUSPECTS);
	if (g->nsuspects < 0)
		g->nsuspects = 0;
	model__windows(g->model, &g->windows, &g->skipped);
	return 0;
}

static const struct gor_site *site_by_key(const struct trace_gor *g, uint64_t key)
{
	for (size_t i = 0; i < g->nsites; i++)
		if (g->sites[i].key == key)
			return &g->sites[i];
	return NULL;
}

static double age_s(uint64_t ts_ns)
{
	uint64_t now = trace_mono_ns();

	return ts_ns && ts_ns < now ? (now - ts_ns) / 1e9 : 0;
}

/* A site's creation stack, then each recorded ancestor's, as "created by" blocks. */
static void print_site_stacks(struct tracer *tr, const struct gor_site *s)
{
	struct frame_out fr[MAX_FRAMES];
	int k;

	if (!s)
		return;
	k = stack_frames(tr, tr->gor, s->rep->v.stack_id, fr);
	trace_print_frames(fr, k, "    ");
	for (int a = 0; a < LH_GOR_ANCESTORS && s->rep->v.anc[a]; a++) {
		k = stack_frames(tr, tr->gor, s->rep->v.anc[a], fr);
		if (!k)
			break;
		printf("    in a goroutine created at:\n");
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
	printf("goroutines created since attach and still live: %.0f (created %" PRIu64
	       ", exited %" PRIu64 ", exits of older goroutines %" PRIu64 ", new g structs %" PRIu64
	       ")\n",
	       g->live, (uint64_t)ts->creates, (uint64_t)ts->exits, (uint64_t)ts->exits_untracked,
	       (uint64_t)ts->malgs);
	if (g->backoffs)
		printf("goroutine probe budget %" PRIu32 "/s: exceeded, backed off %d times; last: "
		       "%s\n",
		       g->opt.budget, g->backoffs, g->backoff_msg);
	printf("goroutine leak suspects (%u windows): %d\n", g->windows, g->nsuspects);
	for (int i = 0; i < g->nsuspects; i++) {
		const struct suspect *x = &g->suspects[i];
		const struct gor_site *s = site_by_key(g, x->site_id);

		printf("!%d goroutines growing %.2f/s (%.0f/min), live %" PRIu64 ", oldest %.1fs, "
		       "median age %.1fs, confidence %.2f, created at:\n",
		       i + 1, x->growth_per_s, x->growth_per_s * 60, x->live, x->oldest_age_s,
		       s ? s->median_age_s : 0, x->confidence);
		print_site_stacks(tr, s);
	}
	printf("top goroutine creation sites by live count:\n");
	for (size_t i = 0; i < n; i++) {
		const struct gor_site *s = &g->sites[i];

		printf("#%zu live %.0f, created %" PRIu64 ", oldest %.1fs, median age %.1fs, "
		       "created at:\n",
		       i + 1, s->count, s->created, age_s(s->oldest_ns), s->median_age_s);
		print_site_stacks(tr, s);
	}
	fflush(stdout);
}

static void site_stacks_json(struct tracer *tr, const struct gor_site *s, cJSON *o)
{
	struct frame_out fr[MAX_FRAMES] = {};
	cJSON *anc;
	int k;

	k = s ? stack_frames(tr, tr->gor, s->rep->v.stack_id, fr) : 0;
	cJSON_AddItemToObject(o, "stack", trace_frames_json(fr, k));
	anc = cJSON_AddArrayToObject(o, "ancestors");
	for (int a = 0; s && anc && a < LH_GOR_ANCESTORS && s->rep->v.anc[a]; a++) {
		k = stack_frames(tr, tr->gor, s->rep->v.anc[a], fr);
		if (!k)
			break;
		cJSON_AddItemToArray(anc, trace_frames_json(fr, k));
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
	cJSON_AddNumberToObject(o, "count", g->live);
	cJSON_AddNumberToObject(o, "created", g->snap.ts.creates);
	cJSON_AddNumberToObject(o, "exited", g->snap.ts.exits);
	cJSON_AddNumberToObject(o, "exited_untracked", g->snap.ts.exits_untracked);
	cJSON_AddNumberToObject(o, "new_g_structs", g->snap.ts.malgs);
	cJSON_AddNumberToObject(o, "windows", g->windows);
	b = cJSON_AddObjectToObject(o, "budget");
	if (b) {
		cJSON_AddNumberToObject(b, "backoffs", g->backoffs);
		cJSON_AddNumberToObject(b, "keep_1_in", 1U << g->opt.keep_shift);
		cJSON_AddNumberToObject(b, "budget_skip", g->snap.ts.budget_skips);
	}
	sites = cJSON_AddArrayToObject(o, "sites");
	for (size_t i = 0; sites && i < n; i++) {
		const struct gor_site *s = &g->sites[i];
		cJSON *x = cJSON_CreateObject();

		if (!x)
			break;
		cJSON_AddNumberToObject(x, "count", s->count);
		cJSON_AddNumberToObject(x, "created", s->created);
		cJSON_AddNumberToObject(x, "oldest_age_s", age_s(s->oldest_ns));
		cJSON_AddNumberToObject(x, "median_age_s", s->median_age_s);
		site_stacks_json(tr, s, x);
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
		site_stacks_json(tr, s, j);
		cJSON_AddItemToArray(suspects, j);
	}
}
