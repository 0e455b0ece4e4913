/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_DAEMON_INT_H
#define LEAKHOUND_DAEMON_INT_H

/* Internals of `leakhound daemon` shared by src/daemon.c and src/daemon_http.c. */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "discover.h"
#include "trace_int.h"

#define DAEMON_MAX_GLOBS 32

struct daemon_opts {
	bool foreground;
	const char *config;
	const char *listen;
	const char *token_file;
	const char *log_file;
	double interval;
	int max_targets;
	double max_cpu;		/* percent of one CPU the daemon may use; 0: no limit */
	double max_map_mb;	/* kernel memory of the BPF maps; 0: the built-in sizes */
	bool write_rate;	/* the documented write: MemProfileRate, put back on detach */
	int64_t rate;
	enum cgo_mode cgo;
	int64_t cgo_rate;
	bool goroutines;
	int64_t budget;
	int top;
	struct snap_opts snap;
	struct disc_filter filter;
	const char *globs[6][DAEMON_MAX_GLOBS];	/* the filter's lists */
};

/*
 * The configuration file's text (NUL-terminated) into o, over what o holds; name is for
 * messages. The options point into the parsed document, kept until the next call (NULL
 * text: only frees it). 0, or -EINVAL (said in one line), -E2BIG.
 */
int daemon_config_parse(struct daemon_opts *o, const char *text, const char *name);

/* A traced process: one image of it (pid, start time, image serial: discover.h). */
struct dtarget {
	struct tracer tr;
	pid_t pid;
	uint64_t start_time;
	uint64_t image;
	char exe[4096];
	char go_version[64];
	struct disc_ident ident;
	time_t attached_at;	/* wall clock */
	double attach_ms;	/* discovery to probes in place */
	double next_alive_ms;	/* next liveness check (monotonic ms) */
	struct dtarget *next;
};

/* A Go process left alone, and why (kept until it exits, so it is not tried again). */
struct dskipped {
	pid_t pid;
	uint64_t start_time;
	uint64_t image;
	char exe[256];
	char why[160];
	struct dskipped *next;
};

struct daemon {
	struct daemon_opts o;
	struct trace_shared sh;
	struct discover *disc;
	struct oomwatch *oom;	/* NULL: no OOM snapshots */
	struct http_server *http;
	char *token;
	struct dtarget *targets;
	int ntargets;
	int fatal; /* -errno that stops the daemon: a capability it lacks */
	/*
	 * Detached targets whose probes are still to come off: one per turn of the loop,
	 * since taking a uprobe off waits for the kernel's grace periods (about 0.1 s
	 * each), and the HTTP server is served between them.
	 */
	struct dtarget *ending;
	int nending;
	struct dskipped *skipped;
	int nskipped;
	uint64_t attached_total, detached_total, failed_total, skipped_total;
	double attach_ms_last, attach_ms_max;
	struct timespec start;
	/* CPU budget: past it, reports come less often (interval x stretch) */
	double cpu_last_s, cpu_check_t, cpu_pct;
	double attach_cpu_s;	/* CPU spent attaching since the last check */
	int stretch;
	unsigned int snaps_ended[SNAP__COUNT];	/* snapshots of targets since ended */
	double next_disc_check_ms;
	uint64_t disc_drops_seen, rescans_total;
};

struct dtarget *daemon_target(struct daemon *d, pid_t pid);
/* Routes every endpoint (src/daemon_http.c). 0 or -errno. */
int daemon_http_routes(struct daemon *d);
double daemon_cpu_seconds(void);
/* Kernel memory of the daemon's BPF maps, from /proc/self/fdinfo. */
double daemon_bpf_map_bytes(void);

#endif
