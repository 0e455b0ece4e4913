/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_SNAPSHOT_H
#define LEAKHOUND_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgmem.h"

/*
 * Snapshots: a target's profiles and report written to a directory of their own, when
 * the kernel OOM-kills it, and earlier when its memory grows fast, its cgroup nears its
 * limit, or its goroutines pass a count (docs/SNAPSHOTS.md). src/snapshot.c has what
 * does not depend on the tracer: options, the triggers' checks, the directory and its
 * retention; src/trace_snap.c writes the files.
 */
enum snap_reason {
	SNAP_OOM,
	SNAP_RSS,
	SNAP_CGROUP,
	SNAP_GOROUTINES,
	SNAP__COUNT,
};

struct snap_opts {
	const char *dir;	/* NULL: no snapshots at all */
	bool oom;		/* when the target is OOM-killed */
	double rss_rate;	/* bytes/s of RSS growth over about a second; 0: off */
	double cgroup_frac;	/* of the cgroup's memory limit; 0: off */
	double goroutines;	/* live goroutines; 0: off */
	double min_interval;	/* seconds between two early snapshots of one target */
	double keep;		/* snapshots kept in dir, oldest removed first */
	double max_mb;		/* their total size */
};

#define SNAP_CHECK_S	   0.25	 /* how often the early triggers look */
#define SNAP_RSS_WINDOW_S  1.0	 /* growth is measured over about this long */
#define SNAP_DEF_RSS_RATE  (100.0 * 1024 * 1024)
#define SNAP_DEF_CGROUP	   0.9
#define SNAP_DEF_GOR	   100000
#define SNAP_DEF_INTERVAL  60
#define SNAP_DEF_KEEP	   20
#define SNAP_DEF_MAX_MB	   256

/* The defaults above, snapshots into dir (NULL: none). */
void snap_opts_default(struct snap_opts *o, const char *dir);
/*
 * One snapshot option by its long name without the dashes ("snapshot-dir",
 * "no-snapshots", "snap-rss-rate", ...): 1 when name is one (val checked), 0 when it is
 * not, -EINVAL for a bad value (logged). val is NULL for no-snapshots.
 */
int snap_opt(struct snap_opts *o, const char *name, const char *val);
/*
 * The snapshot options' entries of a getopt_long table (<getopt.h>), every one
 * returning val: the caller hands them to snap_opt() by name.
 */
#define SNAP_LONG_OPTIONS(val)                                 \
	{ "snapshot-dir", required_argument, NULL, val },      \
	{ "no-snapshots", no_argument, NULL, val },            \
	{ "snap-rss-rate", required_argument, NULL, val },     \
	{ "snap-cgroup", required_argument, NULL, val },       \
	{ "snap-goroutines", required_argument, NULL, val },   \
	{ "snap-interval", required_argument, NULL, val },     \
	{ "snap-keep", required_argument, NULL, val },         \
	{ "snap-max-mb", required_argument, NULL, val }
/* The options' lines for a command's --help. */
extern const char snap_help[];

/* A target's trigger state: zeroed, then snap_watch_init(). */
#define SNAP_RSS_SAMPLES 16
struct snap_watch {
	pid_t pid;
	struct cgmem cg;
	bool have_cg;
	uint64_t cg_limit;	/* CGMEM_UNLIMITED: none */
	double cg_limit_at;	/* when it was read (it is read every 10 s) */
	bool cg_armed, gor_armed;
	double rss_t[SNAP_RSS_SAMPLES];
	uint64_t rss[SNAP_RSS_SAMPLES];
	int nrss;
	double next_check;
	double last_snap;	/* the last early one; < 0: none yet */
	/* the last check's figures, for reports */
	uint64_t rss_now, cg_usage;
	double rss_rate;
};

void snap_watch_init(struct snap_watch *w, pid_t pid);
/*
 * The early triggers, at most every SNAP_CHECK_S (now: seconds on any monotonic
 * clock): SNAP_RSS, SNAP_CGROUP or SNAP_GOROUTINES when one fires, with what it saw in
 * detail; -1 when none does. goroutines: the live count, < 0 when unknown.
 */
int snap_check(struct snap_watch *w, const struct snap_opts *o, double now,
	       double goroutines, char *detail, size_t size);

const char *snap_reason_name(enum snap_reason r);

/*
 * A new snapshot's directory, dir/.tmp-NAME (NAME: UTC time, pid, executable, reason),
 * created; snap_publish() renames it to dir/NAME once its files are in, then applies the
 * retention. path gets the temporary directory; final the name it will have.
 */
int snap_begin(const struct snap_opts *o, pid_t pid, const char *exe, enum snap_reason r,
	       char *path, size_t size, char *final, size_t fsize);
int snap_publish(const struct snap_opts *o, const char *tmp, const char *final);
/* Removes the oldest snapshots of dir past keep and max_mb (the newest always stays). */
void snap_retain(const struct snap_opts *o);

#endif
