/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_TRACE_INT_H
#define LEAKHOUND_TRACE_INT_H

/* Internals of `leakhound trace` shared by src/trace.c (heap) and src/trace_gor.c. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "goheap.h"
#include "gortrace.h"
#include "gosym.h"
#include "memstats.h"
#include "model.h"
#include "snapshot.h"

/* runtime/mprof.go: MemProfileRate's default, 512 KiB, also what we turn sampling on with */
#define DEFAULT_RATE (512 * 1024)
#define MAX_FRAMES 64
#define MAX_SUSPECTS 16
/*
 * Recorded probe events per second and target. One costs a few µs here (the uprobe trap,
 * a frame-pointer walk, two map updates: docs/PERFORMANCE.md): 10000/s is a few % of a CPU.
 */
#define DEFAULT_BUDGET 10000
/* Back-off steps: the rate, or the 1-in-2^k share of events kept, moves by this factor. */
#define BACKOFF_SHIFT  2
#define MAX_KEEP_SHIFT 20

/* C heap tracing: --cgo=auto (when the target is linked with cgo), on, off. */
enum cgo_mode { CGO_AUTO, CGO_ON, CGO_OFF };
/*
 * --cgo-rate's default: C allocations are smaller and fewer than Go's; 64 KiB gives a
 * leak of a few KiB/s enough samples per minute, and the budget guards the rest.
 */
#define DEFAULT_CGO_RATE (64 * 1024)
/* Where `leakhound trace` puts snapshots unless told (relative: the working directory). */
#define TRACE_SNAP_DIR "leakhound-snapshots"

struct trace_opts {
	pid_t pid;
	double interval;
	double duration;	/* 0: until Ctrl-C or target exit */
	int64_t rate;		/* 0: the target's own, or DEFAULT_RATE when off */
	int top;
	bool json;
	bool no_write;
	bool dry_run;
	bool mallocgc;	/* a probe on every mallocgc, BPF-side sampling */
	bool no_goroutines;
	int64_t budget; /* recorded events per second; 0: no limit */
	enum cgo_mode cgo;
	int64_t cgo_rate; /* bytes between C heap samples; 0: every allocation */
	const char *outdir;
	struct snap_opts snap;
};

struct trace_gor;
struct trace_cgo;
struct gortrace;
struct cheap;

/*
 * The BPF objects of several tracers in one process (the daemon): each loaded once, on
 * first use, shared by every target (DESIGN.md §2). A tracer without one loads its own.
 */
struct trace_shared {
	struct goheap *gh;
	struct gortrace *gt;
	struct cheap *ch;
};

/*
 * What a part (Go heap, goroutines, C heap) lost since its target was attached: the
 * failure counters that mean lost data (lh_stat_loses_data), from a base taken at attach.
 * The counters are the BPF object's: in the daemon, shared by every target.
 */
struct trace_loss {
	uint64_t base[LH_STAT__COUNT];
	uint64_t lost;
	char why[256];	/* "live_map_full 12, ... since attach"; "" when nothing was lost */
};
void trace_loss_start(struct trace_loss *l, const uint64_t stats[LH_STAT__COUNT]);
void trace_loss_update(struct trace_loss *l, const uint64_t stats[LH_STAT__COUNT], bool shared);
/* The why, or NULL when nothing was lost: for JSON. */
const char *trace_loss_why(const struct trace_loss *l);
/* "data incomplete: WHY: ..." under a part's counters in the text report, if any. */
void trace_loss_print(const struct trace_loss *l, const char *what);

/* The Go heap part of the last report. */
struct trace_totals {
	double inuse_bytes, inuse_objects, recent_bytes;
	double alloc_bytes, alloc_objects;
	uint32_t numgc;
	bool have_numgc;
	uint64_t events, drops;
	int nsuspects;
	struct suspect suspects[MAX_SUSPECTS];
	uint32_t windows, skipped;
};

struct tracer {
	struct trace_opts o;
	struct target *t;
	struct goheap *gh;
	uint64_t rate_addr;	/* runtime address of runtime.MemProfileRate; 0: unknown */
	int64_t old_rate;
	int64_t want_rate; /* to write after attaching; 0: none */
	int64_t rate;	   /* in effect */
	bool wrote_rate;
	struct goheap_opts gopt; /* mode, BPF-side rate, back-off, budget */
	uint64_t budget_skips;	 /* as of the last check */
	int backoffs;
	char backoff_msg[256]; /* the last back-off, for reports */
	struct model *model;
	bool history;		/* the runtime's profile is read: pre-attach sites */
	struct goheap_snap base;	/* its sites at attach */
	struct timespec start;
	int nreport;
	struct trace_gor *gor;	/* goroutine tracing (src/trace_gor.c); NULL: off */
	const char *heap_off;	/* why Go heap tracing is off; NULL: on */
	struct trace_cgo *cgo;	/* C heap tracing (src/trace_cgo.c); NULL: off */
	struct trace_shared *sh; /* BPF objects shared with other tracers; NULL: its own */
	bool quiet;		/* nothing on stdout (the daemon) */
	/* the last report, kept until the next one (trace_collect) */
	struct goheap_snap hsnap;
	struct trace_totals *htot;
	double next_report, next_budget;
	const char *cgo_off;	/* why it is off, when asked for or automatic; NULL: on */
	struct snap_watch snapw; /* the early snapshot triggers */
	unsigned int snaps[SNAP__COUNT];	/* snapshots written, by reason */
	bool oom_taken;		/* the OOM snapshot is written (once) */
	struct trace_loss heap_loss;
	/* the RSS breakdown of the last report (src/trace_mem.c); have_mem: read */
	struct mem_breakdown mem;
	bool have_mem;
};

struct frame_out {
	struct gosym_frame f;
	uint32_t pc_index;	/* which entry of the site's pcs it comes from */
};

/*
 * Symbolized frames of a stack, innermost first, inlined expanded, runtime frames at the
 * top trimmed (all kept when nothing else remains). pcs[0] is a probe site (an
 * instruction address), the others return addresses: looked up at ret - 1.
 */
int trace_frames(struct tracer *tr, const struct lh_goheap_stack *st, struct frame_out *out,
		 int max);
/* FNV-1a of the frames' functions and lines, from h: a site's identity. */
uint64_t trace_frames_key(const struct frame_out *fr, int n, uint64_t h);
void trace_print_frames(const struct frame_out *fr, int k, const char *indent);
/* [{function, file, line, inlined}, ...] */
cJSON *trace_frames_json(const struct frame_out *fr, int k);
double trace_now_s(const struct timespec *since);
struct go_hook;
void trace_print_probe(const struct go_hook *h);
uint64_t trace_mono_ns(void);

/*
 * A tracer's life, shared by `leakhound trace` and the daemon: trace_start() opens the
 * target tr->o.pid, checks it, attaches and turns sampling on; trace_tick() every 100 ms
 * or so does the budget checks and, each interval, trace_collect(); trace_stop() puts the
 * rate back and detaches. Errors are logged; -errno.
 */
int trace_start(struct tracer *tr);
/* 1 when a report was collected, 0 when not yet due, -errno on failure. */
int trace_tick(struct tracer *tr);
void trace_stop(struct tracer *tr);
bool trace_alive(struct tracer *tr);
/* Reads the maps and runs the models: a report's data, kept in tr until the next. */
int trace_collect(struct tracer *tr);
/* The last collected report as `--json` prints it. */
cJSON *trace_report_json(struct tracer *tr);
/* The last report's Go heap profile (heap-PID-N.pb.gz), gzip'd, malloc'd. */
int trace_heap_pprof(struct tracer *tr, uint8_t **buf, size_t *len);

/* One part of a tracer (Go heap, goroutines, C heap) at its last report. */
struct trace_summary {
	bool on;
	double live;	     /* bytes (heaps: settled, scaled), goroutines (count) */
	double objects;	     /* heaps: live objects */
	int nsuspects;
	double top_growth;   /* growth_per_s of the strongest suspect; 0: none */
	uint64_t drops;	     /* failure counters (the object's, all targets) */
	uint64_t events;     /* probe hits since attach */
	uint64_t entries;    /* entries of the object's live map held for this target */
	uint64_t capacity;   /* that map's size (all targets) */
	bool incomplete;     /* events lost since attach (trace_loss) */
};
void trace_heap_summary(struct tracer *tr, struct trace_summary *s);
void trace_gor_summary(struct tracer *tr, struct trace_summary *s);
void trace_cgo_summary(struct tracer *tr, struct trace_summary *s);
/* A heap suspect's fields (kind, growth_per_s, live, ..., series) added to o. */
void trace_suspect_json(cJSON *o, const char *kind, const struct suspect *x,
			const struct model *m, const struct trace_loss *loss);
/* [[t, live], ...]: the points a suspect rests on, oldest first, t in seconds. */
cJSON *trace_series_json(const struct model *m, uint64_t site_id);

/* ---- snapshots (src/trace_snap.c) ---- */

struct oom_victim;
/*
 * Writes a snapshot of tr now (tr->o.snap.dir: nothing when NULL): the maps are read
 * again first. detail says what fired it; v is the OOM record, NULL for the others.
 */
int trace_snapshot(struct tracer *tr, enum snap_reason r, const char *detail,
		   const struct oom_victim *v);
/* Every tick: the early triggers (at most every SNAP_CHECK_S). */
void trace_snap_tick(struct tracer *tr);
/* tr's target is the OOM killer's victim: its snapshot, once. */
void trace_snap_oom(struct tracer *tr, const struct oom_victim *v);

/* ---- goroutines (src/trace_gor.c) ---- */

/* Loads the object and attaches to tr's target; logs and returns -errno on failure. */
int trace_gor_attach(struct tracer *tr);
/* The probe budget of the creation probe, checked every second (see check_budget). */
void trace_gor_budget(struct tracer *tr);
/* Reads the maps, feeds the model; then the text or JSON part of the report. */
int trace_gor_collect(struct tracer *tr);
void trace_gor_text(struct tracer *tr);
void trace_gor_json(struct tracer *tr, cJSON *root, cJSON *suspects);
void trace_gor_print_probes(struct tracer *tr);
/*
 * Live goroutines now, without a snapshot: the last report's count moved by the creations
 * and exits the probes counted since; -1 when goroutine tracing is off.
 */
double trace_gor_count(struct tracer *tr);
struct goroutine_snapshot;
/* The last goroutine snapshot taken (a report's, even one that failed since), or NULL. */
const struct goroutine_snapshot *trace_gor_last_snapshot(struct tracer *tr, uint64_t *at_ns);
void trace_gor_free(struct tracer *tr);

/* ---- C heap (src/trace_cgo.c) ---- */

/* Whether --cgo asks for C heap tracing of this target (auto: linked with cgo). */
bool trace_cgo_wanted(const struct tracer *tr);
/* Finds the allocator, loads the object, attaches; logs and returns -errno on failure. */
int trace_cgo_attach(struct tracer *tr);
void trace_cgo_budget(struct tracer *tr);
int trace_cgo_collect(struct tracer *tr);
void trace_cgo_text(struct tracer *tr);
void trace_cgo_json(struct tracer *tr, cJSON *root, cJSON *suspects);
/* cgo-PID-N.pb.gz in the -o directory. */
int trace_cgo_pprof(struct tracer *tr);
/* The last report's C heap profile, gzip'd, malloc'd; -ENOENT when the C heap is off. */
int trace_cgo_pprof_buf(struct tracer *tr, uint8_t **buf, size_t *len);
void trace_cgo_print_probes(struct tracer *tr);
void trace_cgo_free(struct tracer *tr);

/* ---- the RSS breakdown (src/trace_mem.c) ---- */

/* Reads it for the report being collected, with the C heap's live bytes when traced. */
void trace_mem_collect(struct tracer *tr);
void trace_mem_text(struct tracer *tr);
/* "memory": the breakdown (docs/MEMORY.md), or null and "memory_error". */
void trace_mem_json(struct tracer *tr, cJSON *root);

#endif
