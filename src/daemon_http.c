// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The daemon's HTTP endpoints (docs/DAEMON.md). Every handler answers from what the
 * targets' last reports hold (no BPF map is read here), except the goroutine profile,
 * which is a fresh snapshot of the target's memory like the runtime's own endpoint.
 *
 *   /metrics                      Prometheus text format
 *   /debug/pprof/heap?pid=N       the Go heap profile (gzip'd profile.proto)
 *   /debug/pprof/goroutine?pid=N  goroutine profile; &debug=1 or 2: the runtime's text
 *   /debug/pprof/cgo?pid=N        the C heap profile
 *   /api/v1/targets               JSON: traced and skipped processes
 *   /api/v1/suspects              JSON: every current leak suspect, with its stack
 *   /                             HTML overview (no external assets)
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_int.h"
#include "goroutines.h"
#include "http.h"
#include "log.h"
#include "oom.h"
#include "promtext.h"
#include "strbuf.h"
#include "target.h"

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* ?pid=N of a traced process: the target, or NULL with the error answered. */
static struct dtarget *target_of(struct daemon *d, const struct http_request *req,
				 struct http_response *resp)
{
	const char *s = http_request__param(req, "pid");
	struct dtarget *x;
	char *end;
	long pid;

	if (!s) {
		http_response__error(resp, 400, "pid=N is required: /api/v1/targets lists them");
		return NULL;
	}
	errno = 0;
	pid = strtol(s, &end, 10);
	if (errno || end == s || *end || pid <= 0 || pid > INT_MAX) {
		http_response__error(resp, 400, "pid: not a process id");
		return NULL;
	}
	x = daemon_target(d, pid);
	if (!x)
		http_response__error(resp, 404, "process %ld is not traced", pid);
	return x;
}

static int send_profile(struct http_response *resp, int err, uint8_t *buf, size_t len,
			const char *what)
{
	if (err == -ENOENT)
		return http_response__error(resp, 404, "no %s profile for this process (%s)", what,
					    "tracing of it is off, or no report yet");
	if (err)
		return http_response__error(resp, 500, "%s profile: %s", what, strerror(-err));
	/* as net/http/pprof serves it */
	http_response__content_type(resp, "application/octet-stream");
	http_response__header(resp, "Content-Disposition", "attachment; filename=\"profile\"");
	return http_response__take(resp, buf, len);
}

static int h_heap(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct dtarget *x = target_of(ctx, req, resp);
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	if (!x)
		return 0;
	if (http_request__param(req, "debug") && strcmp(http_request__param(req, "debug"), "0"))
		return http_response__error(resp, 400, "heap: debug=1 text is not served; "
						       "fetch the profile with go tool pprof");
	/* not in send_profile's arguments: buf and len are read after the call */
	err = trace_heap_pprof(&x->tr, &buf, &len);
	return send_profile(resp, err, buf, len, "Go heap");
}

static int h_cgo(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct dtarget *x = target_of(ctx, req, resp);
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	if (!x)
		return 0;
	err = trace_cgo_pprof_buf(&x->tr, &buf, &len);
	return send_profile(resp, err, buf, len, "C heap");
}

static int h_goroutine(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct dtarget *x = target_of(ctx, req, resp);
	const char *dbg = http_request__param(req, "debug");
	enum goroutines_format fmt = GOROUTINES_PPROF;
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (!x)
		return 0;
	if (dbg && !strcmp(dbg, "1"))
		fmt = GOROUTINES_DEBUG1;
	else if (dbg && !strcmp(dbg, "2"))
		fmt = GOROUTINES_DEBUG2;
	else if (dbg && strcmp(dbg, "0"))
		return http_response__error(resp, 400, "debug: 0, 1 or 2");
	err = goroutines_render(x->tr.t, fmt, &buf, &len);
	if (err)
		return http_response__error(resp, 500, "goroutines of process %d: %s", x->pid,
					    strerror(-err));
	if (fmt == GOROUTINES_PPROF)
		return send_profile(resp, 0, (uint8_t *)buf, len, "goroutine");
	http_response__content_type(resp, "text/plain; charset=utf-8");
	return http_response__take(resp, buf, len);
}

/* ---- /metrics ---- */

struct labels {
	char pid[16];
	struct prom_label l[4];
	int n;
};

static void target_labels(const struct dtarget *x, struct labels *lb)
{
	snprintf(lb->pid, sizeof(lb->pid), "%d", x->pid);
	lb->l[0] = (struct prom_label){ "pid", lb->pid };
	lb->l[1] = (struct prom_label){ "exe", base_name(x->exe) };
	lb->l[2] = (struct prom_label){ "container", x->ident.container_id };
	lb->l[3] = (struct prom_label){ "pod_uid", x->ident.pod_uid };
	lb->n = 4;
}

enum part { P_HEAP, P_GOR, P_CGO, P__COUNT };
static const char *const part_kind[P__COUNT] = { "go_heap", "goroutine", "cgo_heap" };

static void summaries(struct dtarget *x, struct trace_summary s[P__COUNT])
{
	trace_heap_summary(&x->tr, &s[P_HEAP]);
	trace_gor_summary(&x->tr, &s[P_GOR]);
	trace_cgo_summary(&x->tr, &s[P_CGO]);
}

/* Every target's parts at their last reports: read once per /metrics request. */
struct tsum {
	struct dtarget *x;
	struct labels lb;
	struct trace_summary s[P__COUNT];
};

/* A field of struct trace_summary, as a metric's value. */
enum sfield { F_LIVE, F_OBJECTS, F_SUSPECTS, F_GROWTH, F_EVENTS, F_INCOMPLETE };

static double field_of(const struct trace_summary *s, enum sfield f)
{
	switch (f) {
	case F_LIVE:
		return s->live;
	case F_OBJECTS:
		return s->objects;
	case F_SUSPECTS:
		return s->nsuspects;
	case F_GROWTH:
		return s->top_growth;
	case F_EVENTS:
		return s->events;
	case F_INCOMPLETE:
		return s->incomplete;
	}
	return 0;
}

/* One family of per-target samples: of one part, or (part < 0) of each part by kind. */
static void family(struct strbuf *sb, const struct tsum *t, int n, const char *name,
		   enum prom_type type, const char *help, int part, enum sfield f)
{
	prom_family(sb, name, type, help);
	for (int i = 0; i < n; i++) {
		struct prom_label kl[5];

		memcpy(kl, t[i].lb.l, sizeof(t[i].lb.l));
		for (int p = part < 0 ? 0 : part; p < (part < 0 ? P__COUNT : part + 1); p++) {
			if (!t[i].s[p].on)
				continue;
			kl[4] = (struct prom_label){ "kind", part_kind[p] };
			prom_sample(sb, name, kl, part < 0 ? 5 : t[i].lb.n, field_of(&t[i].s[p], f));
		}
	}
}

/* Snapshots written, all targets' (ended ones too), by reason; OOM kills on the node. */
static void snapshot_metrics(struct strbuf *sb, struct daemon *d)
{
	unsigned int n[SNAP__COUNT];
	struct prom_label l;

	memcpy(n, d->snaps_ended, sizeof(n));
	for (const struct dtarget *x = d->targets; x; x = x->next)
		for (int r = 0; r < SNAP__COUNT; r++)
			n[r] += x->tr.snaps[r];
	for (const struct dtarget *x = d->ending; x; x = x->next)
		for (int r = 0; r < SNAP__COUNT; r++)
			n[r] += x->tr.snaps[r];
	prom_family(sb, "leakhound_snapshots_total", PROM_COUNTER,
		    "snapshots written, by what fired them");
	for (int r = 0; r < SNAP__COUNT; r++) {
		l = (struct prom_label){ "reason", snap_reason_name(r) };
		prom_sample(sb, "leakhound_snapshots_total", &l, 1, n[r]);
	}
	prom_family(sb, "leakhound_oom_kills_total", PROM_COUNTER,
		    "processes the kernel OOM-killed (any, traced or not) since start");
	prom_sample(sb, "leakhound_oom_kills_total", NULL, 0, oomwatch__seen(d->oom));
	prom_family(sb, "leakhound_oom_records_lost_total", PROM_COUNTER,
		    "OOM kills the ring buffer could not take");
	prom_sample(sb, "leakhound_oom_records_lost_total", NULL, 0, oomwatch__drops(d->oom));
}

/*
 * Map fill and drops: the maps and failure counters are the shared objects', one set
 * for all targets (each summary has them as of its report: the largest is the latest).
 * A full map drops events, counted.
 */
static void shared_maps(struct strbuf *sb, const struct tsum *t, int n)
{
	uint64_t entries[P__COUNT] = { 0 }, capacity[P__COUNT] = { 0 }, drops[P__COUNT] = { 0 };
	struct prom_label l;

	for (int i = 0; i < n; i++)
		for (int p = 0; p < P__COUNT; p++) {
			entries[p] += t[i].s[p].entries;
			if (t[i].s[p].capacity)
				capacity[p] = t[i].s[p].capacity;
			if (t[i].s[p].drops > drops[p])
				drops[p] = t[i].s[p].drops;
		}
	prom_family(sb, "leakhound_probe_drops_total", PROM_COUNTER,
		    "events the BPF side could not record (every failure counter), by object");
	for (int p = 0; p < P__COUNT; p++) {
		if (!capacity[p])
			continue;
		l = (struct prom_label){ "kind", part_kind[p] };
		prom_sample(sb, "leakhound_probe_drops_total", &l, 1, drops[p]);
	}
	prom_family(sb, "leakhound_live_map_entries", PROM_GAUGE,
		    "entries of the shared live-object maps, all targets, at their last reports");
	for (int p = 0; p < P__COUNT; p++) {
		if (!capacity[p])
			continue;
		l = (struct prom_label){ "kind", part_kind[p] };
		prom_sample(sb, "leakhound_live_map_entries", &l, 1, entries[p]);
	}
	prom_family(sb, "leakhound_live_map_capacity", PROM_GAUGE, "their sizes");
	for (int p = 0; p < P__COUNT; p++) {
		if (!capacity[p])
			continue;
		l = (struct prom_label){ "kind", part_kind[p] };
		prom_sample(sb, "leakhound_live_map_capacity", &l, 1, capacity[p]);
	}
	prom_family(sb, "leakhound_bpf_map_bytes", PROM_GAUGE,
		    "kernel memory of the daemon's BPF maps (fdinfo memlock), fixed when loaded");
	prom_sample(sb, "leakhound_bpf_map_bytes", NULL, 0, daemon_bpf_map_bytes());
}

/* A per-target sample with one more label. */
static void target_sample(struct strbuf *sb, const char *name, const struct labels *lb,
			  const char *key, const char *value, double v)
{
	struct prom_label kl[5];

	memcpy(kl, lb->l, sizeof(lb->l));
	kl[4] = (struct prom_label){ key, value };
	prom_sample(sb, name, kl, 5, v);
}

/*
 * The RSS breakdown of each target's last report (src/membreak.c, docs/MEMORY.md): the
 * parts add up to the RSS; the C heap part only when it is traced.
 */
static void memory_families(struct strbuf *sb, const struct tsum *t, int n)
{
	static const char *const mem = "leakhound_target_memory_bytes";

	prom_family(sb, mem, PROM_GAUGE,
		    "RSS by part at the last report: heap_inuse, stacks, heap_idle (freed, not "
		    "returned to the OS), cgo_heap (traced), runtime, file, anon_other; the parts "
		    "add up to the RSS");
	for (int i = 0; i < n; i++) {
		const struct mem_breakdown *b = &t[i].x->tr.mem;

		for (int p = 0; t[i].x->tr.have_mem && p < MEM__COUNT; p++)
			if (p != MEM_CGO || b->cgo_bytes >= 0)
				target_sample(sb, mem, &t[i].lb, "part", mem_part_name(p),
					      b->resident[p]);
	}
	prom_family(sb, "leakhound_target_memory_verdict", PROM_GAUGE,
		    "1 for what the RSS mostly is: idle_heap (not a leak), live_heap, ...");
	for (int i = 0; i < n; i++)
		if (t[i].x->tr.have_mem)
			target_sample(sb, "leakhound_target_memory_verdict", &t[i].lb, "verdict",
				      mem_verdict_name(t[i].x->tr.mem.verdict), 1);
	prom_family(sb, "leakhound_target_go_heap_released_bytes", PROM_GAUGE,
		    "Go heap returned to the OS (not in RSS)");
	for (int i = 0; i < n; i++)
		if (t[i].x->tr.have_mem && t[i].x->tr.mem.have_go)
			prom_sample(sb, "leakhound_target_go_heap_released_bytes", t[i].lb.l,
				    t[i].lb.n, t[i].x->tr.mem.go.heap_released);
	prom_family(sb, "leakhound_target_go_heap_goal_bytes", PROM_GAUGE,
		    "heap size at which the next GC is due (GOGC); none with GC off");
	for (int i = 0; i < n; i++)
		if (t[i].x->tr.have_mem && t[i].x->tr.mem.have_go && t[i].x->tr.mem.go.heap_goal)
			prom_sample(sb, "leakhound_target_go_heap_goal_bytes", t[i].lb.l, t[i].lb.n,
				    t[i].x->tr.mem.go.heap_goal);
	prom_family(sb, "leakhound_target_go_gc_cycles_total", PROM_COUNTER,
		    "completed GC cycles (runtime.MemStats.NumGC)");
	for (int i = 0; i < n; i++)
		if (t[i].x->tr.have_mem && t[i].x->tr.mem.have_go)
			prom_sample(sb, "leakhound_target_go_gc_cycles_total", t[i].lb.l, t[i].lb.n,
				    t[i].x->tr.mem.go.numgc);
}

static long rss_bytes(void)
{
	long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%*s %ld", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * sysconf(_SC_PAGESIZE);
}

static int h_metrics(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct daemon *d = ctx;
	struct strbuf *sb = http_response__body(resp);
	struct http_stats hs;
	struct disc_stats ds;
	struct tsum *t;
	int n = 0;

	(void)req;
	t = calloc(d->ntargets + 1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (struct dtarget *x = d->targets; x && n < d->ntargets; x = x->next, n++) {
		t[n].x = x;
		target_labels(x, &t[n].lb);
		summaries(x, t[n].s);
	}
	http_response__content_type(resp, PROM_CONTENT_TYPE);
	family(sb, t, n, "leakhound_go_heap_inuse_bytes", PROM_GAUGE,
	       "Go heap in use as of the last GC, sampled and scaled like pprof", P_HEAP, F_LIVE);
	family(sb, t, n, "leakhound_go_heap_inuse_objects", PROM_GAUGE,
	       "Go heap objects in use, estimated", P_HEAP, F_OBJECTS);
	family(sb, t, n, "leakhound_goroutines", PROM_GAUGE,
	       "user goroutines (runtime.NumGoroutine)", P_GOR, F_LIVE);
	family(sb, t, n, "leakhound_cgo_heap_inuse_bytes", PROM_GAUGE,
	       "C heap outstanding since attach, sampled and scaled", P_CGO, F_LIVE);
	family(sb, t, n, "leakhound_cgo_heap_inuse_objects", PROM_GAUGE,
	       "C heap objects outstanding, estimated", P_CGO, F_OBJECTS);
	family(sb, t, n, "leakhound_suspects", PROM_GAUGE, "current leak suspects, by kind", -1,
	       F_SUSPECTS);
	family(sb, t, n, "leakhound_top_growth_per_second", PROM_GAUGE,
	       "growth of the strongest suspect: bytes/s (heaps), goroutines/s; 0: none", -1,
	       F_GROWTH);
	family(sb, t, n, "leakhound_probe_events_total", PROM_COUNTER,
	       "probe hits in the target: sampled allocations and frees (Go heap), creations "
	       "and exits (goroutines), allocator calls and frees (C heap)",
	       -1, F_EVENTS);
	family(sb, t, n, "leakhound_data_incomplete", PROM_GAUGE,
	       "1 when events were lost since attach (full maps, failed reads): the part's "
	       "figures and verdicts rest on what was recorded", -1, F_INCOMPLETE);
	memory_families(sb, t, n);
	shared_maps(sb, t, n);
	prom_family(sb, "leakhound_reports_total", PROM_COUNTER, "reports made per target");
	for (int i = 0; i < n; i++)
		prom_sample(sb, "leakhound_reports_total", t[i].lb.l, t[i].lb.n,
			    t[i].x->tr.nreport);
	snapshot_metrics(sb, d);
	free(t);
	/* the tracer itself */
	prom_family(sb, "leakhound_targets", PROM_GAUGE, "processes traced now");
	prom_sample(sb, "leakhound_targets", NULL, 0, d->ntargets);
	prom_family(sb, "leakhound_targets_skipped", PROM_GAUGE,
		    "Go processes left alone now (unsupported release, budget, failed attach)");
	prom_sample(sb, "leakhound_targets_skipped", NULL, 0, d->nskipped);
	prom_family(sb, "leakhound_targets_attached_total", PROM_COUNTER, "attaches");
	prom_sample(sb, "leakhound_targets_attached_total", NULL, 0, d->attached_total);
	prom_family(sb, "leakhound_targets_detached_total", PROM_COUNTER, "detaches");
	prom_sample(sb, "leakhound_targets_detached_total", NULL, 0, d->detached_total);
	discover__stats(d->disc, &ds);
	prom_family(sb, "leakhound_discovery_records_lost_total", PROM_COUNTER,
		    "exec and exit records the discovery ring could not take");
	prom_sample(sb, "leakhound_discovery_records_lost_total", NULL, 0, ds.drops);
	prom_family(sb, "leakhound_discovery_rescans_total", PROM_COUNTER,
		    "rescans of /proc after lost records");
	prom_sample(sb, "leakhound_discovery_rescans_total", NULL, 0, d->rescans_total);
	prom_family(sb, "leakhound_attach_failures_total", PROM_COUNTER, "failed attaches");
	prom_sample(sb, "leakhound_attach_failures_total", NULL, 0, d->failed_total);
	prom_family(sb, "leakhound_attach_seconds_max", PROM_GAUGE,
		    "longest discovery-to-attached time");
	prom_sample(sb, "leakhound_attach_seconds_max", NULL, 0, d->attach_ms_max / 1e3);
	prom_family(sb, "leakhound_process_cpu_seconds_total", PROM_COUNTER,
		    "CPU time of the daemon (probe handlers run in the targets, not here)");
	prom_sample(sb, "leakhound_process_cpu_seconds_total", NULL, 0, daemon_cpu_seconds());
	prom_family(sb, "leakhound_process_resident_memory_bytes", PROM_GAUGE, "RSS of the daemon");
	prom_sample(sb, "leakhound_process_resident_memory_bytes", NULL, 0, rss_bytes());
	prom_family(sb, "leakhound_report_interval_seconds", PROM_GAUGE,
		    "seconds between reports now (stretched past the CPU budget)");
	prom_sample(sb, "leakhound_report_interval_seconds", NULL, 0, d->o.interval * d->stretch);
	http_server__stats(d->http, &hs);
	prom_family(sb, "leakhound_http_requests_total", PROM_COUNTER, "HTTP requests read");
	prom_sample(sb, "leakhound_http_requests_total", NULL, 0, hs.requests);
	return sb->err;
}

/* ---- JSON ---- */

static cJSON *summary_json(const struct trace_summary *s)
{
	cJSON *o;

	if (!s->on)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "live", s->live);
	cJSON_AddNumberToObject(o, "objects", s->objects);
	cJSON_AddNumberToObject(o, "suspects", s->nsuspects);
	cJSON_AddNumberToObject(o, "top_growth_per_s", s->top_growth);
	cJSON_AddBoolToObject(o, "incomplete", s->incomplete);
	return o;
}

static cJSON *target_json(struct dtarget *x)
{
	struct trace_summary s[P__COUNT];
	cJSON *o = cJSON_CreateObject(), *c;

	if (!o)
		return NULL;
	summaries(x, s);
	cJSON_AddNumberToObject(o, "pid", x->pid);
	cJSON_AddNumberToObject(o, "start_time", x->start_time);
	cJSON_AddStringToObject(o, "exe", x->exe);
	cJSON_AddStringToObject(o, "go_version", x->go_version);
	c = cJSON_AddObjectToObject(o, "container");
	if (c) {
		cJSON_AddStringToObject(c, "id", x->ident.container_id);
		cJSON_AddStringToObject(c, "runtime", x->ident.runtime);
		cJSON_AddStringToObject(c, "pod_uid", x->ident.pod_uid);
		cJSON_AddStringToObject(c, "qos", x->ident.qos);
		cJSON_AddStringToObject(c, "cgroup", x->ident.cgroup);
		cJSON_AddNumberToObject(c, "pidns", x->ident.pidns);
		cJSON_AddNumberToObject(c, "pid_in_namespace", x->ident.nspid);
	}
	cJSON_AddNumberToObject(o, "attached_at", x->attached_at);
	cJSON_AddNumberToObject(o, "attach_ms", x->attach_ms);
	cJSON_AddNumberToObject(o, "reports", x->tr.nreport);
	cJSON_AddItemToObject(o, "go_heap", summary_json(&s[P_HEAP]));
	cJSON_AddItemToObject(o, "goroutines", summary_json(&s[P_GOR]));
	cJSON_AddItemToObject(o, "cgo_heap", summary_json(&s[P_CGO]));
	cJSON_AddItemToObject(o, "memory", x->tr.have_mem ? mem_breakdown__json(&x->tr.mem)
							   : cJSON_CreateNull());
	if (x->tr.heap_off)
		cJSON_AddStringToObject(o, "go_heap_off", x->tr.heap_off);
	if (x->tr.cgo_off)
		cJSON_AddStringToObject(o, "cgo_heap_off", x->tr.cgo_off);
	return o;
}

static int send_json(struct http_response *resp, cJSON *doc)
{
	char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;

	cJSON_Delete(doc);
	if (!text)
		return -ENOMEM;
	http_response__content_type(resp, "application/json");
	return http_response__take(resp, text, strlen(text));
}

static int h_targets(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct daemon *d = ctx;
	cJSON *doc = cJSON_CreateObject(), *a, *k;

	(void)req;
	if (!doc)
		return -ENOMEM;
	a = cJSON_AddArrayToObject(doc, "targets");
	for (struct dtarget *x = d->targets; a && x; x = x->next)
		cJSON_AddItemToArray(a, target_json(x));
	k = cJSON_AddArrayToObject(doc, "skipped");
	for (struct dskipped *s = d->skipped; k && s; s = s->next) {
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		cJSON_AddNumberToObject(o, "pid", s->pid);
		cJSON_AddStringToObject(o, "exe", s->exe);
		cJSON_AddStringToObject(o, "why", s->why);
		cJSON_AddItemToArray(k, o);
	}
	return send_json(resp, doc);
}

/* Every suspect of every target, as the targets' reports have them, with pid and exe. */
static cJSON *all_suspects(struct daemon *d)
{
	cJSON *a = cJSON_CreateArray();

	for (struct dtarget *x = d->targets; a && x; x = x->next) {
		cJSON *rep = trace_report_json(&x->tr), *s, *e;

		s = rep ? cJSON_DetachItemFromObject(rep, "suspects") : NULL;
		cJSON_Delete(rep);
		if (!s)
			continue;
		while ((e = cJSON_DetachItemFromArray(s, 0))) {
			cJSON_AddNumberToObject(e, "pid", x->pid);
			cJSON_AddStringToObject(e, "exe", x->exe);
			cJSON_AddItemToArray(a, e);
		}
		cJSON_Delete(s);
	}
	return a;
}

static int h_suspects(void *ctx, const struct http_request *req, struct http_response *resp)
{
	cJSON *doc = cJSON_CreateObject();

	(void)req;
	if (!doc)
		return -ENOMEM;
	cJSON_AddItemToObject(doc, "suspects", all_suspects(ctx));
	return send_json(resp, doc);
}

/* ---- / ---- */

static void html_text(struct strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			strbuf_puts(sb, "&lt;");
			break;
		case '>':
			strbuf_puts(sb, "&gt;");
			break;
		case '&':
			strbuf_puts(sb, "&amp;");
			break;
		case '"':
			strbuf_puts(sb, "&quot;");
			break;
		default:
			strbuf_putc(sb, *s);
		}
	}
}

/* An inline SVG polyline of a suspect's series ([[t, live], ...]). */
static void sparkline(struct strbuf *sb, const cJSON *series)
{
	double t0 = 0, t1 = 0, lo = 0, hi = 0;
	int n = cJSON_GetArraySize(series), i = 0;
	const cJSON *p;

	if (n < 2) {
		strbuf_puts(sb, "<span class=dim>(one point)</span>");
		return;
	}
	cJSON_ArrayForEach(p, series) {
		double t = cJSON_GetArrayItem(p, 0)->valuedouble,
		       v = cJSON_GetArrayItem(p, 1)->valuedouble;

		if (!i++) {
			t0 = t1 = t;
			lo = hi = v;
		}
		t0 = t < t0 ? t : t0;
		t1 = t > t1 ? t : t1;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	strbuf_puts(sb, "<svg class=spark width=120 height=28 viewBox=\"0 0 120 28\">"
			"<polyline fill=none stroke=\"#c33\" stroke-width=2 points=\"");
	cJSON_ArrayForEach(p, series) {
		double t = cJSON_GetArrayItem(p, 0)->valuedouble,
		       v = cJSON_GetArrayItem(p, 1)->valuedouble;

		strbuf_printf(sb, "%.1f,%.1f ", t1 > t0 ? 2 + 116 * (t - t0) / (t1 - t0) : 2,
			      hi > lo ? 26 - 24 * (v - lo) / (hi - lo) : 14);
	}
	strbuf_puts(sb, "\"/></svg>");
}

static void html_stack(struct strbuf *sb, const cJSON *stack)
{
	const cJSON *f;

	strbuf_puts(sb, "<pre>");
	cJSON_ArrayForEach(f, stack) {
		const cJSON *fn = cJSON_GetObjectItem(f, "function"),
			    *file = cJSON_GetObjectItem(f, "file"),
			    *line = cJSON_GetObjectItem(f, "line"),
			    *mod = cJSON_GetObjectItem(f, "module");

		html_text(sb, cJSON_IsString(fn) ? fn->valuestring : "?");
		if (cJSON_IsString(file)) {
			strbuf_puts(sb, "\n    ");
			html_text(sb, file->valuestring);
			strbuf_printf(sb, ":%d", cJSON_IsNumber(line) ? line->valueint : 0);
		} else if (cJSON_IsString(mod)) {
			strbuf_puts(sb, "\n    ");
			html_text(sb, mod->valuestring);
		}
		strbuf_putc(sb, '\n');
	}
	strbuf_puts(sb, "</pre>");
}

static void fmt_bytes(char *buf, size_t n, double v)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void html_suspects(struct daemon *d, struct strbuf *sb)
{
	cJSON *a = all_suspects(d);
	const cJSON *s;

	strbuf_printf(sb, "<h2>Leak suspects (%d)</h2>\n", cJSON_GetArraySize(a));
	if (!cJSON_GetArraySize(a))
		strbuf_puts(sb, "<p class=dim>none: nothing keeps growing</p>\n");
	cJSON_ArrayForEach(s, a) {
		const cJSON *kind = cJSON_GetObjectItem(s, "kind");
		const cJSON *exe = cJSON_GetObjectItem(s, "exe");
		double g = cJSON_GetObjectItem(s, "growth_per_s")->valuedouble;
		bool gor = cJSON_IsString(kind) && !strcmp(kind->valuestring, "goroutine");
		bool cgo = cJSON_IsString(kind) && !strcmp(kind->valuestring, "cgo_heap");
		const cJSON *stack = cJSON_GetObjectItem(s, "stack");
		/* a C heap stack starts at the allocator: name its caller */
		int top = cgo && cJSON_GetArraySize(stack) > 1;
		const cJSON *first = cJSON_GetArrayItem(stack, top);
		const cJSON *fn = first ? cJSON_GetObjectItem(first, "function") : NULL;
		double live = cJSON_GetObjectItem(s, "live")->valuedouble;
		char gbuf[32], lbuf[32];

		if (gor) {
			snprintf(gbuf, sizeof(gbuf), "%.3g goroutines/s", g);
			snprintf(lbuf, sizeof(lbuf), "%.0f", live);
		} else {
			fmt_bytes(gbuf, sizeof(gbuf) - 2, g);
			strcat(gbuf, "/s");
			fmt_bytes(lbuf, sizeof(lbuf), live);
		}
		strbuf_printf(sb, "<details class=suspect><summary><b>%s</b> pid %d ",
			      cJSON_IsString(kind) ? kind->valuestring : "?",
			      cJSON_GetObjectItem(s, "pid")->valueint);
		html_text(sb, cJSON_IsString(exe) ? exe->valuestring : "?");
		strbuf_printf(sb, ": growing %s, live %s, ", gbuf, lbuf);
		html_text(sb, cJSON_IsString(fn) ? fn->valuestring : "?");
		strbuf_puts(sb, " ");
		sparkline(sb, cJSON_GetObjectItem(s, "series"));
		strbuf_puts(sb, "</summary>");
		html_stack(sb, cJSON_GetObjectItem(s, "stack"));
		strbuf_puts(sb, "</details>\n");
	}
	cJSON_Delete(a);
}


static int h_index(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct daemon *d = ctx;
	struct strbuf *sb = http_response__body(resp);

	(void)req;
	http_response__content_type(resp, "text/html; charset=utf-8");
	strbuf_puts(sb, "<!DOCTYPE html>\n<html><head><meta charset=utf-8>"
			"<title>leakhound</title><style>"
			"body{font:14px sans-serif;margin:1.5em}table{border-collapse:collapse}"
			"td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}"
			"pre{background:#f6f6f6;padding:6px;margin:4px 0 10px 1.5em}"
			".dim{color:#888}.spark{vertical-align:middle}"
			"summary{cursor:pointer;padding:3px 0}</style></head><body>\n");
	strbuf_printf(sb, "<h1>leakhound</h1><p>%d processes traced, %d left alone; "
			  "reports every %.0f s. <a href=\"/metrics\">metrics</a> · "
			  "<a href=\"/api/v1/targets\">targets</a> · "
			  "<a href=\"/api/v1/suspects\">suspects</a></p>\n",
		      d->ntargets, d->nskipped, d->o.interval * d->stretch);
	html_suspects(d, sb);
	strbuf_puts(sb, "<h2>Processes</h2>\n<table><tr><th>pid</th><th>executable</th>"
			"<th>Go</th><th>container</th><th>Go heap</th><th>goroutines</th>"
			"<th>C heap</th><th>suspects</th><th>profiles</th></tr>\n");
	for (struct dtarget *x = d->targets; x; x = x->next) {
		struct trace_summary s[P__COUNT];
		char b1[32] = "-", b2[32] = "-", g[32] = "-";
		int nsusp;

		summaries(x, s);
		if (s[P_HEAP].on)
			fmt_bytes(b1, sizeof(b1), s[P_HEAP].live);
		if (s[P_CGO].on)
			fmt_bytes(b2, sizeof(b2), s[P_CGO].live);
		if (s[P_GOR].on)
			snprintf(g, sizeof(g), "%.0f", s[P_GOR].live);
		strbuf_printf(sb, "<tr><td>%d</td><td>", x->pid);
		html_text(sb, x->exe);
		strbuf_puts(sb, "</td><td>");
		html_text(sb, x->go_version);
		strbuf_puts(sb, "</td><td>");
		html_text(sb, x->ident.container_id[0] ? x->ident.container_id : "-");
		nsusp = s[P_HEAP].nsuspects + s[P_GOR].nsuspects + s[P_CGO].nsuspects;
		strbuf_printf(sb, "</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>"
				  "<a href=\"/debug/pprof/heap?pid=%d\">heap</a> "
				  "<a href=\"/debug/pprof/goroutine?pid=%d&amp;debug=1\">"
				  "goroutines</a>%s",
			      b1, g, b2, nsusp, x->pid, x->pid, s[P_CGO].on ? " " : "");
		if (s[P_CGO].on)
			strbuf_printf(sb, "<a href=\"/debug/pprof/cgo?pid=%d\">cgo</a>", x->pid);
		strbuf_puts(sb, "</td></tr>\n");
	}
	strbuf_puts(sb, "</table>\n");
	if (d->skipped) {
		strbuf_puts(sb, "<h2>Left alone</h2><table><tr><th>pid</th><th>executable</th>"
				"<th>why</th></tr>\n");
		for (struct dskipped *s = d->skipped; s; s = s->next) {
			strbuf_printf(sb, "<tr><td>%d</td><td>", s->pid);
			html_text(sb, s->exe);
			strbuf_puts(sb, "</td><td>");
			html_text(sb, s->why);
			strbuf_puts(sb, "</td></tr>\n");
		}
		strbuf_puts(sb, "</table>\n");
	}
	strbuf_puts(sb, "</body></html>\n");
	return sb->err;
}

int daemon_http_routes(struct daemon *d)
{
	static const struct {
		const char *path;
		http_handler_fn fn;
	} routes[] = {
		{ "/", h_index },
		{ "/metrics", h_metrics },
		{ "/debug/pprof/heap", h_heap },
		{ "/debug/pprof/goroutine", h_goroutine },
		{ "/debug/pprof/cgo", h_cgo },
		{ "/api/v1/targets", h_targets },
		{ "/api/v1/suspects", h_suspects },
	};
	int err = 0;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]) && !err; i++)
		err = http_server__handle(d->http, routes[i].path, routes[i].fn, d);
	return err;
}
