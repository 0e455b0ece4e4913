// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `leakhound trace`, C heap part (--cgo): the target's C allocator probed (src/cheap.c,
 * bpf/cheap.bpf.c), its outstanding sampled allocations by mixed C + Go stack, the
 * model's verdicts on them (kind cgo_heap) and cgo-PID-N.pb.gz profiles.
 *
 * C memory has no GC: what is live in the table is live in the process, so every report
 * is a window of the model (as for goroutines), and the age of the oldest live object
 * tells survivors from churn.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "bpfmaps.h"
#include "callocs.h"
#include "cheap.h"
#include "log.h"
#include "model.h"
#include "mprof.h"
#include "pprof.h"
#include "procsym.h"
#include "target.h"
#include "trace_int.h"



struct trace_cgo {
	struct cheap *ch;
	struct calloc_info ci;
	struct procsym *ps;
	struct cheap_opts opt;
	struct model *model;
	uint64_t budget_skips;
	int backoffs;
	char backoff_msg[256];
	/* the report being made */
	struct goheap_snap snap;
	struct cheap_counts cnt;
	double inuse_bytes, inuse_objects, alloc_bytes, alloc_objects;
	uint64_t drops;
	uint32_t window, windows, skipped;
	int nsuspects;
	struct suspect suspects[MAX_SUSPECTS];
	struct trace_loss loss;
};

/* One frame of a C heap stack: Go (function, file, line) or C (symbol, module). */
struct cframe {
	struct procsym_frame f;
	uint32_t pc_index;
};


bool trace_cgo_wanted(const struct tracer *tr)
{
	if (tr->o.cgo == CGO_OFF)
		return false;
	return tr->o.cgo == CGO_ON || tr->t->bin->facts.cgo;
}

/*
 * The model's rules for the C heap (docs/MODEL.md): the heap's, with one window per
 * report and the sampling rate in bytes per sample.
 */
static struct model *new_model(uint32_t rate)
{
	struct model_opts o = { .sample_rate = rate > 1 ? rate : 1 };

	return model__new(&o);
}

static int find_allocator(struct tracer *tr, struct calloc_info *ci)
{
	int err = callocs__find(tr->t->pid, ci);

	if (err == -ENOENT)
		log_err("process %d: no C allocator mapped (no object defines malloc): not a cgo "
			"program", tr->t->pid);
	else if (err)
		log_err("process %d: reading its mappings: %s", tr->t->pid, strerror(-err));
	return err;
}

void trace_cgo_print_probes(struct tracer *tr)
{
	struct calloc_info ci;

	if (!trace_cgo_wanted(tr))
		return;
	if (callocs__find(tr->t->pid, &ci)) {
		printf("C heap: no C allocator mapped: nothing to probe\n");
		return;
	}
	printf("C heap: allocator %s (%s), sampling every ~%" PRId64 " bytes%s\n", ci.path,
	       ci.kind, tr->o.cgo_rate, tr->o.cgo_rate <= 1 ? " (every allocation)" : "");
	for (int i = 0; i < CFN__COUNT; i++) {
		const struct calloc_fn *f = &ci.fn[i];
		uint64_t off, entry_off;
		bool emulated;

		if (!f->found)
			continue;
		if (f->same_as >= 0) {
			printf("  probe %-15s same address as %s: probed once\n", f->name,
			       ci.fn[f->same_as].name);
			continue;
		}
		off = cheap_probe_off(f, i != CFN_FREE, &emulated);
		entry_off = f->site.file_off - (f->site.addr - f->addr);
		printf("  probe %-15s %s+0x%" PRIx64 " (file offset 0x%" PRIx64 ", %s)%s\n",
		       f->name, f->name, off - entry_off, off,
		       emulated ? "emulated" : "single-stepped",
		       i == CFN_FREE ? "" : ", and its return");
	}
}

int trace_cgo_attach(struct tracer *tr)
{
	uint64_t stats[LH_STAT__COUNT] = {};
	struct trace_cgo *c;
	const char *what = NULL;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	err = find_allocator(tr, &c->ci);
	if (err)
		goto fail;
	c->opt.rate = tr->o.cgo_rate;
	c->opt.budget = tr->o.budget;
	c->model = new_model(c->opt.rate);
	c->ps = procsym__open(tr->t);
	if (tr->sh && !tr->sh->ch)
		tr->sh->ch = cheap__open();
	c->ch = tr->sh ? tr->sh->ch : cheap__open();
	if (!c->model || !c->ps || !c->ch) {
		err = -errno;
		log_err("C heap tracing: %s%s", strerror(-err), caps_err_hint(err, CAPS_BPF));
		goto fail;
	}
	cheap__stats(c->ch, stats); /* before the probes: their failures count */
	trace_loss_start(&c->loss, stats);
	err = cheap__attach(c->ch, tr->t, &c->ci, &c->opt, &what);
	if (err) {
		log_err("process %d: C heap tracing: cannot attach to %s in %s: %s%s", tr->t->pid,
			what ? what : "?", c->ci.path, strerror(-err),
			caps_err_hint(err, CAPS_UPROBE | CAPS_PROC | CAPS_PROC_PRIVATE));
		goto fail;
	}
	tr->cgo = c;
	return 0;
fail:
	if (tr->sh && c->ch)
		cheap__detach(c->ch, tr->t->pid);
	else if (!tr->sh)
		cheap__free(c->ch);
	procsym__free(c->ps);
	model__free(c->model);
	free(c);
	return err;
}

void trace_cgo_free(struct tracer *tr)
{
	struct trace_cgo *c = tr->cgo;

	if (!c)
		return;
	if (tr->sh)
		cheap__detach(c->ch, tr->t->pid);
	else
		cheap__free(c->ch);
	procsym__free(c->ps);
	model__free(c->model);
	goheap_snap__release(&c->snap);
	free(c);
	tr->cgo = NULL;
}

/*
 * The probe budget, checked every second: past it, samples are taken more rarely (the
 * rate is leakhound's own), or, when every allocation is asked for, one in 4, 16...
 */
void trace_cgo_budget(struct tracer *tr)
{
	struct trace_cgo *c = tr->cgo;
	struct cheap_counts cnt;
	struct cheap_opts o;
	uint64_t skips;

	if (!c || !c->opt.budget)
		return;
	if (cheap__counts(c->ch, tr->t->pid, &cnt))
		return;
	skips = cnt.ts.budget_skips - c->budget_skips;
	c->budget_skips = cnt.ts.budget_skips;
	if (!skips)
		return;
	o = c->opt;
	if (o.rate > 1 && o.rate <= UINT32_MAX >> BACKOFF_SHIFT)
		o.rate <<= BACKOFF_SHIFT;
	else if (o.keep_shift < MAX_KEEP_SHIFT)
		o.keep_shift += BACKOFF_SHIFT;
	else
		return;
	if (cheap__configure(c->ch, tr->t->pid, &o))
		return;
	if (o.rate != c->opt.rate)
		snprintf(c->backoff_msg, sizeof(c->backoff_msg),
			 "%" PRIu64 " samples over the budget not recorded; backed off: sampling "
			 "every ~%" PRIu32 " -> %" PRIu32 " bytes",
			 skips, c->opt.rate, o.rate);
	else
		snprintf(c->backoff_msg, sizeof(c->backoff_msg),
			 "%" PRIu64 " allocations over the budget not recorded; backed off: "
			 "recorded 1 in %u -> 1 in %u",
			 skips, 1U << c->opt.keep_shift, 1U << o.keep_shift);
	c->opt = o;
	c->backoffs++;
	log_warn("process %d: C heap probe budget %" PRIu32 "/s exceeded: %s", tr->t->pid,
		 o.budget, c->backoff_msg);
}

/*
 * Symbolized frames of a C heap stack, innermost first: the allocator function, its
 * caller, ... into Go. *cut is set when the frame-pointer walk left the mappings (a C
 * function that uses RBP for something else) or the stack was deeper than recorded.
 */
static int cgo_frames(struct trace_cgo *c, const struct lh_goheap_stack *st,
		      struct cframe *out, int max, bool *cut)
{
	int n = 0;

	*cut = st->truncated;
	for (uint32_t i = 0; i < st->nr && n < max; i++) {
		struct procsym_frame fr[16];
		int k = procsym__frames(c->ps, st->pcs[i], i > 0, fr, 16);

		if (k <= 0) {
			/* a frame-pointer value that was not a frame: what follows is noise */
			*cut = true;
			break;
		}
		for (int j = 0; j < k && n < max; j++) {
			out[n].f = fr[j];
			out[n++].pc_index = i;
		}
	}
	return n;
}

static void print_cframes(const struct cframe *fr, int n, bool cut, const char *indent)
{
	for (int j = 0; j < n; j++) {
		const struct procsym_frame *f = &fr[j].f;

		if (f->is_go)
			printf("%s%s%s\n%s    %s:%u\n", indent, f->func,
			       f->inlined ? " (inlined)" : "", indent, f->file, f->line);
		else
			printf("%s%s\n%s    %s+0x%" PRIx64 "\n", indent, f->func ? f->func : "??",
			       indent, f->module ? f->module : "?", f->module_addr);
	}
	if (cut)
		printf("%s(stack cut short)\n", indent);
}

static cJSON *cframes_json(const struct cframe *fr, int n)
{
	cJSON *a = cJSON_CreateArray();

	for (int j = 0; a && j < n; j++) {
		const struct procsym_frame *f = &fr[j].f;
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		cJSON_AddStringToObject(o, "function", f->func ? f->func : "?");
		if (f->is_go) {
			cJSON_AddStringToObject(o, "file", f->file ? f->file : "?");
			cJSON_AddNumberToObject(o, "line", f->line);
			cJSON_AddBoolToObject(o, "inlined", f->inlined);
		} else {
			cJSON_AddStringToObject(o, "module", f->module ? f->module : "?");
			cJSON_AddNumberToObject(o, "module_address", f->module_addr);
		}
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static void site_alloc(const struct trace_cgo *c, const struct goheap_site *x, int64_t *objects,
		       int64_t *bytes)
{
	mprof__scale(x->stack.allocs, x->stack.alloc_bytes, c->opt.rate, objects, bytes);
}

static int cmp_inuse(const void *a, const void *b)
{
	const struct goheap_site *x = a, *y = b;

	if (x->inuse_bytes != y->inuse_bytes)
		return x->inuse_bytes < y->inuse_bytes ? 1 : -1;
	if (x->stack.alloc_bytes != y->stack.alloc_bytes)
		return x->stack.alloc_bytes < y->stack.alloc_bytes ? 1 : -1;
	return 0;
}

static const struct goheap_site *site_by_id(const struct goheap_snap *s, uint64_t id)
{
	for (size_t i = 0; i < s->nsites; i++)
		if (s->sites[i].id == id)
			return &s->sites[i];
	return NULL;
}

int trace_cgo_collect(struct tracer *tr)
{
	struct trace_cgo *c = tr->cgo;
	uint64_t now = trace_mono_ns();
	int err;

	if (!c)
		return 0;
	goheap_snap__release(&c->snap);
	err = cheap__snapshot(c->ch, tr->t->pid, c->opt.rate, &c->snap, &c->cnt);
	if (err)
		return err;
	c->inuse_bytes = c->inuse_objects = c->alloc_bytes = c->alloc_objects = 0;
	c->drops = 0;
	for (size_t i = 0; i < c->snap.nsites; i++) {
		const struct goheap_site *x = &c->snap.sites[i];
		int64_t ao, ab;

		site_alloc(c, x, &ao, &ab);
		c->inuse_bytes += x->inuse_bytes;
		c->inuse_objects += x->inuse_objects;
		c->alloc_bytes += ab;
		c->alloc_objects += ao;
		model__observe(c->model, x->id, c->window, now, (uint64_t)x->inuse_bytes,
			       (uint64_t)x->inuse_objects, ab,
			       x->oldest_ns && x->oldest_ns < now ? now - x->oldest_ns : 0,
			       x->live_objects);
	}
	for (int i = 0; i < LH_STAT__COUNT; i++)
		c->drops += c->snap.stats[i];
	trace_loss_update(&c->loss, c->snap.stats, tr->sh);
	model__close_window(c->model, c->window++, now);
	c->nsuspects = model__suspects(c->model, c->suspects, MAX_SUSPECTS);
	if (c->nsuspects < 0)
		c->nsuspects = 0;
	model__windows(c->model, &c->windows, &c->skipped);
	if (c->snap.nsites)
		qsort(c->snap.sites, c->snap.nsites, sizeof(*c->snap.sites), cmp_inuse);
	return 0;
}

static void print_site_stack(struct trace_cgo *c, const struct goheap_site *x)
{
	struct cframe fr[MAX_FRAMES];
	bool cut = false;
	int n = x ? cgo_frames(c, &x->stack, fr, MAX_FRAMES, &cut) : 0;

	print_cframes(fr, n, cut, "    ");
}

static double age_s(uint64_t ts_ns)
{
	uint64_t now = trace_mono_ns();

	return ts_ns && ts_ns < now ? (now - ts_ns) / 1e9 : 0;
}

void trace_cgo_text(struct tracer *tr)
{
	struct trace_cgo *c = tr->cgo;
	size_t n;

	if (!c) {
		if (tr->cgo_off)
			printf("C heap tracing off: %s\n", tr->cgo_off);
		return;
	}
	n = c->snap.nsites < (size_t)tr->o.top ? c->snap.nsites : (size_t)tr->o.top;
	printf("C heap: %s allocator %s; sampling every ~%" PRIu32 " bytes%s; live (sampled, "
	       "scaled) %.0f bytes in %.0f objects, %.0f bytes allocated since attach\n",
	       c->ci.kind, c->ci.path, c->opt.rate, c->opt.rate <= 1 ? " (every allocation)" : "",
	       c->inuse_bytes, c->inuse_objects, c->alloc_bytes);
	printf("allocating calls %" PRIu64 " (recorded %" PRIu64 ", nested %" PRIu64
	       "), free calls %" PRIu64 " (of recorded objects %" PRIu64 "); drops/failures "
	       "%" PRIu64 "\n",
	       (uint64_t)c->cnt.sum.calls, (uint64_t)c->cnt.sum.allocs,
	       (uint64_t)c->cnt.sum.nested, (uint64_t)c->cnt.sum.frees,
	       (uint64_t)c->cnt.sum.rec_frees, c->drops);
	if (c->backoffs)
		printf("C heap probe budget %" PRIu32 "/s: exceeded, backed off %d times; "
		       "last: %s\n",
		       c->opt.budget, c->backoffs, c->backoff_msg);
	for (int i = 0; i < LH_STAT__COUNT; i++)
		if (c->snap.stats[i])
			printf("  %s: %" PRIu64 "\n", lh_stat_name(i), c->snap.stats[i]);
	trace_loss_print(&c->loss, "outstanding bytes, growth and suspects");
	printf("C heap leak suspects (%u windows): %d\n", c->windows, c->nsuspects);
	for (int i = 0; i < c->nsuspects; i++) {
		const struct suspect *x = &c->suspects[i];

		printf("!%d growing %.0f bytes/s, live %" PRIu64 " bytes, oldest %.1fs, "
		       "confidence %.2f\n",
		       i + 1, x->growth_per_s, x->live, x->oldest_age_s, x->confidence);
		print_site_stack(c, site_by_id(&c->snap, x->site_id));
	}
	printf("top C heap sites by live bytes:\n");
	for (size_t i = 0; i < n; i++) {
		const struct goheap_site *x = &c->snap.sites[i];
		int64_t ao, ab;

		site_alloc(c, x, &ao, &ab);
		printf("#%zu live %.0f bytes in %.0f objects, allocated %" PRId64
		       " bytes in %" PRId64 " objects, oldest %.1fs\n",
		       i + 1, x->inuse_bytes, x->inuse_objects, ab, ao, age_s(x->oldest_ns));
		print_site_stack(c, x);
	}
}

static cJSON *site_stack_json(struct trace_cgo *c, const struct goheap_site *x, cJSON *o)
{
	struct cframe fr[MAX_FRAMES];
	bool cut = false;
	int n = x ? cgo_frames(c, &x->stack, fr, MAX_FRAMES, &cut) : 0;

	cJSON_AddBoolToObject(o, "stack_cut", cut);
	return cframes_json(fr, n);
}

void trace_cgo_json(struct tracer *tr, cJSON *root, cJSON *suspects)
{
	struct trace_cgo *c = tr->cgo;
	cJSON *h, *sites, *a;
	size_t n;

	if (!c) {
		cJSON_AddNullToObject(root, "cgo_heap");
		if (tr->cgo_off)
			cJSON_AddStringToObject(root, "cgo_heap_off", tr->cgo_off);
		return;
	}
	h = cJSON_AddObjectToObject(root, "cgo_heap");
	if (!h)
		return;
	a = cJSON_AddObjectToObject(h, "allocator");
	if (a) {
		cJSON_AddStringToObject(a, "path", c->ci.path);
		cJSON_AddStringToObject(a, "kind", c->ci.kind);
	}
	cJSON_AddStringToObject(h, "probes",
				cheap__mode(c->ch) == CHEAP_SESSION ? "session" : "uretprobe");
	cJSON_AddNumberToObject(h, "sample_rate", c->opt.rate);
	cJSON_AddNumberToObject(h, "inuse_bytes", (uint64_t)c->inuse_bytes);
	cJSON_AddNumberToObject(h, "inuse_objects", (uint64_t)c->inuse_objects);
	cJSON_AddNumberToObject(h, "alloc_bytes", (uint64_t)c->alloc_bytes);
	cJSON_AddNumberToObject(h, "alloc_objects", (uint64_t)c->alloc_objects);
	cJSON_AddNumberToObject(h, "calls", c->cnt.sum.calls);
	cJSON_AddNumberToObject(h, "nested_calls", c->cnt.sum.nested);
	cJSON_AddNumberToObject(h, "free_calls", c->cnt.sum.frees);
	cJSON_AddNumberToObject(h, "recorded", c->cnt.sum.allocs);
	cJSON_AddNumberToObject(h, "recorded_frees", c->cnt.sum.rec_frees);
	cJSON_AddNumberToObject(h, "failed", c->cnt.sum.failed);
	cJSON_AddNumberToObject(h, "live_entries", c->snap.live_entries);
	cJSON_AddNumberToObject(h, "drops", c->drops);
	if (trace_loss_why(&c->loss))
		cJSON_AddStringToObject(h, "incomplete", trace_loss_why(&c->loss));
	else
		cJSON_AddNullToObject(h, "incomplete");
	cJSON_AddNumberToObject(h, "windows", c->windows);
	a = cJSON_AddObjectToObject(h, "budget");
	if (a) {
		cJSON_AddNumberToObject(a, "events_per_s", c->opt.budget);
		cJSON_AddNumberToObject(a, "backoffs", c->backoffs);
		cJSON_AddNumberToObject(a, "skipped", c->cnt.ts.budget_skips);
		cJSON_AddNumberToObject(a, "keep_1_in", 1U << c->opt.keep_shift);
	}
	sites = cJSON_AddArrayToObject(h, "sites");
	n = c->snap.nsites < (size_t)tr->o.top ? c->snap.nsites : (size_t)tr->o.top;
	for (size_t i = 0; sites && i < n; i++) {
		const struct goheap_site *x = &c->snap.sites[i];
		cJSON *o = cJSON_CreateObject();
		int64_t ao, ab;

		if (!o)
			break;
		site_alloc(c, x, &ao, &ab);
		cJSON_AddNumberToObject(o, "inuse_bytes", (uint64_t)x->inuse_bytes);
		cJSON_AddNumberToObject(o, "inuse_objects", (uint64_t)x->inuse_objects);
		cJSON_AddNumberToObject(o, "alloc_bytes", ab);
		cJSON_AddNumberToObject(o, "alloc_objects", ao);
		cJSON_AddNumberToObject(o, "samples", x->live_objects);
		cJSON_AddNumberToObject(o, "oldest_age_s", age_s(x->oldest_ns));
		cJSON_AddItemToObject(o, "stack", site_stack_json(c, x, o));
		cJSON_AddItemToArray(sites, o);
	}
	for (int i = 0; suspects && i < c->nsuspects; i++) {
		const struct suspect *x = &c->suspects[i];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		trace_suspect_json(o, "cgo_heap", x, c->model, &c->loss);
		cJSON_AddItemToObject(o, "stack",
				      site_stack_json(c, site_by_id(&c->snap, x->site_id), o));
		cJSON_AddItemToArray(suspects, o);
	}
}

/*
 * cgo-<pid>-<n>.pb.gz: the Go heap profile's sample types, in its order, over the live
 * sampled C objects; stacks as the frame-pointer walk gave them (runtime addresses).
 */
static struct pprof *cgo_profile(struct trace_cgo *c)
{
	struct pprof *p;
	int err = 0;

	p = pprof__new(pprof_heap_types, PPROF_HEAP_NTYPES, &pprof_heap_period_type,
		       c->opt.rate > 1 ? c->opt.rate : 1);
	if (!p)
		return NULL;
	err = procsym__add_pprof_mappings(c->ps, p);
	for (size_t i = 0; i < c->snap.nsites && !err; i++) {
		const struct goheap_site *x = &c->snap.sites[i];
		int64_t v[PPROF_HEAP_NTYPES];

		if (!x->stack.nr)
			continue;
		site_alloc(c, x, &v[PPROF_ALLOC_OBJECTS], &v[PPROF_ALLOC_SPACE]);
		v[PPROF_INUSE_OBJECTS] = (int64_t)x->inuse_objects;
		v[PPROF_INUSE_SPACE] = (int64_t)x->inuse_bytes;
		err = pprof__add_sample(p, (const uint64_t *)x->stack.pcs, x->stack.nr, v, NULL, 0);
	}
	if (err) {
		pprof__free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

int trace_cgo_pprof_buf(struct tracer *tr, uint8_t **buf, size_t *len)
{
	struct trace_cgo *c = tr->cgo;
	struct pprof_symbolizer sym;
	struct pprof *p;
	int err;

	if (!c)
		return -ENOENT;
	sym = (struct pprof_symbolizer){ procsym__pprof_symbolizer, c->ps };
	p = cgo_profile(c);
	if (!p)
		return -errno;
	err = pprof__encode_sym(p, &sym, buf, len);
	pprof__free(p);
	return err;
}

int trace_cgo_pprof(struct tracer *tr)
{
	struct trace_cgo *c = tr->cgo;
	struct pprof_symbolizer sym = { procsym__pprof_symbolizer, c->ps };
	struct pprof *p = cgo_profile(c);
	char path[4096];
	int err;

	snprintf(path, sizeof(path), "%s/cgo-%d-%d.pb.gz", tr->o.outdir, tr->t->pid, tr->nreport);
	err = p ? pprof__write_sym(p, &sym, path) : -errno;
	pprof__free(p);
	if (err)
		log_warn("cannot write %s: %s", path, strerror(-err));
	return err;
}

void trace_cgo_summary(struct tracer *tr, struct trace_summary *s)
{
	struct trace_cgo *c = tr->cgo;

	memset(s, 0, sizeof(*s));
	if (!c)
		return;
	s->on = true;
	s->live = c->inuse_bytes;
	s->objects = c->inuse_objects;
	s->nsuspects = c->nsuspects;
	s->top_growth = c->nsuspects ? c->suspects[0].growth_per_s : 0;
	s->drops = c->drops;
	s->events = c->cnt.sum.calls + c->cnt.sum.frees;
	s->entries = c->snap.live_entries;
	s->capacity = bpfmaps__scaled(LH_CHEAP_MAX_LIVE);
	s->incomplete = c->loss.lost > 0;
}
