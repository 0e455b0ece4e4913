// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Snapshots, the part that needs no tracer: options, the early triggers, the directory
 * a snapshot goes to and the retention of the snapshot directory (docs/SNAPSHOTS.md).
 *
 * The triggers run every SNAP_CHECK_S per target and cost a read of /proc/PID/statm and,
 * in a cgroup with a limit, of memory.current (memory.stat only once usage is near the
 * limit): a few microseconds (docs/PERFORMANCE.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "procfs.h"
#include "snapshot.h"

static const char *const reason_names[SNAP__COUNT] = {
	[SNAP_OOM] = "oom",
	[SNAP_RSS] = "rss-growth",
	[SNAP_CGROUP] = "cgroup-limit",
	[SNAP_GOROUTINES] = "goroutines",
};

const char *snap_reason_name(enum snap_reason r)
{
	return (unsigned)r < SNAP__COUNT ? reason_names[r] : "?";
}

const char snap_help[] =
	"      --snapshot-dir DIR  where snapshots go: a directory per snapshot with the\n"
	"                       heap, goroutine and C heap profiles and the report (JSON)\n"
	"      --no-snapshots   none at all, not even at an OOM kill\n"
	"      --snap-rss-rate BYTES  a snapshot when RSS grows faster than BYTES per\n"
	"                       second over a second (K/M/G suffixes; default 100M;\n"
	"                       0 = off)\n"
	"      --snap-cgroup FRACTION  ... when the cgroup's memory use (less inactive\n"
	"                       file pages) passes FRACTION of its limit (default 0.9;\n"
	"                       0 = off)\n"
	"      --snap-goroutines N  ... when live goroutines pass N (default 100000;\n"
	"                       0 = off)\n"
	"      --snap-interval SECS  at most one early snapshot per target this often\n"
	"                       (default 60; an OOM kill is always taken)\n"
	"      --snap-keep N    snapshots kept in the directory (default 20)\n"
	"      --snap-max-mb MB their total size (default 256); the oldest go first\n";

void snap_opts_default(struct snap_opts *o, const char *dir)
{
	*o = (struct snap_opts){
		.dir = dir,
		.oom = true,
		.rss_rate = SNAP_DEF_RSS_RATE,
		.cgroup_frac = SNAP_DEF_CGROUP,
		.goroutines = SNAP_DEF_GOR,
		.min_interval = SNAP_DEF_INTERVAL,
		.keep = SNAP_DEF_KEEP,
		.max_mb = SNAP_DEF_MAX_MB,
	};
}

int snap_opt(struct snap_opts *o, const char *name, const char *val)
{
	int err = 0;

	if (!strcmp(name, "no-snapshots")) {
		o->dir = NULL;
		return 1;
	}
	if (!strcmp(name, "snapshot-dir")) {
		if (!val || !*val)
			err = -EINVAL;
		else
			o->dir = val;
	} else if (!strcmp(name, "snap-rss-rate")) {
		err = cli_parse_size(val, 0, 1e15, &o->rss_rate);
	} else if (!strcmp(name, "snap-cgroup")) {
		err = cli_parse_num(val, 0, 1, &o->cgroup_frac);
	} else if (!strcmp(name, "snap-goroutines")) {
		err = cli_parse_num(val, 0, 1e9, &o->goroutines);
	} else if (!strcmp(name, "snap-interval")) {
		err = cli_parse_num(val, 0.1, 1e7, &o->min_interval);
	} else if (!strcmp(name, "snap-keep")) {
		err = cli_parse_num(val, 1, 1e6, &o->keep);
	} else if (!strcmp(name, "snap-max-mb")) {
		err = cli_parse_num(val, 0.001, 1e7, &o->max_mb);
	} else {
		return 0;
	}
	if (err) {
		log_err("invalid value '%s' for --%s", val ? val : "", name);
		return -EINVAL;
	}
	return 1;
}

/* ---- the early triggers ---- */

void snap_watch_init(struct snap_watch *w, pid_t pid)
{
	memset(w, 0, sizeof(*w));
	w->pid = pid;
	w->last_snap = -1;
	w->cg_armed = w->gor_armed = true;
	w->have_cg = !cgmem__find(pid, &w->cg);
	w->cg_limit = CGMEM_UNLIMITED;
	w->cg_limit_at = -1e9;
}

/* Resident bytes: /proc/PID/statm's second field, pages. */
static int read_rss(pid_t pid, uint64_t *bytes)
{
	static long page;
	char path[64], buf[256];
	unsigned long long size, res;
	ssize_t n;

	if (!page)
		page = sysconf(_SC_PAGESIZE);
	snprintf(path, sizeof(path), "/proc/%d/statm", pid);
	n = procfs_read(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (sscanf(buf, "%llu %llu", &size, &res) != 2)
		return -EINVAL;
	*bytes = (uint64_t)res * page;
	return 0;
}

static void fmt_mb(char *buf, size_t size, double bytes)
{
	snprintf(buf, size, "%.1f MB", bytes / 1e6);
}

/* Growth over the samples of about the last SNAP_RSS_WINDOW_S: bytes/s, or 0. */
static double rss_growth(struct snap_watch *w, double now, uint64_t rss)
{
	int i, n = w->nrss < SNAP_RSS_SAMPLES ? w->nrss : SNAP_RSS_SAMPLES;
	double rate = 0;

	/* the oldest sample at least a window back, the newest first */
	for (i = 0; i < n; i++) {
		int k = (w->nrss - 1 - i) % SNAP_RSS_SAMPLES;
		double dt = now - w->rss_t[k];

		if (dt >= SNAP_RSS_WINDOW_S * 0.9) {
			/* a gap (the loop stalled) measures a rate over too long: none */
			if (dt <= SNAP_RSS_WINDOW_S * 2)
				rate = ((double)rss - (double)w->rss[k]) / dt;
			break;
		}
	}
	w->rss_t[w->nrss % SNAP_RSS_SAMPLES] = now;
	w->rss[w->nrss % SNAP_RSS_SAMPLES] = rss;
	w->nrss++;
	if (w->nrss >= 2 * SNAP_RSS_SAMPLES)
		w->nrss -= SNAP_RSS_SAMPLES; /* the same slots, no overflow */
	return rate;
}

static int check_cgroup(struct snap_watch *w, const struct snap_opts *o, double now,
			char *detail, size_t size)
{
	uint64_t usage, ws;
	double frac;
	char a[32], b[32];

	if (now - w->cg_limit_at >= 10) {
		if (cgmem__limit(&w->cg, &w->cg_limit))
			w->cg_limit = CGMEM_UNLIMITED;
		w->cg_limit_at = now;
	}
	if (w->cg_limit == CGMEM_UNLIMITED || !w->cg_limit || cgmem__usage(&w->cg, &usage))
		return -1;
	w->cg_usage = usage;
	frac = (double)usage / w->cg_limit;
	/* re-armed a few percent below: a level hovering at the mark fires once */
	if (frac < o->cgroup_frac - 0.05)
		w->cg_armed = true;
	if (!w->cg_armed || frac < o->cgroup_frac)
		return -1;
	/* page cache counts in usage, and is reclaimed before an OOM kill */
	if (cgmem__working_set(&w->cg, usage, &ws))
		ws = usage;
	frac = (double)ws / w->cg_limit;
	if (frac < o->cgroup_frac)
		return -1;
	fmt_mb(a, sizeof(a), ws);
	fmt_mb(b, sizeof(b), w->cg_limit);
	snprintf(detail, size, "cgroup %s: %s in use of its %s limit (%.0f%%)", w->cg.dir, a,
		 b, 100 * frac);
	return SNAP_CGROUP;
}

int snap_check(struct snap_watch *w, const struct snap_opts *o, double now,
	       double goroutines, char *detail, size_t size)
{
	int fired = -1, r;
	uint64_t rss = 0;
	char a[32], b[32];

	if (!o->dir || now < w->next_check)
		return -1;
	w->next_check = now + SNAP_CHECK_S;
	/* read whether or not the trigger is on: snapshots show it */
	if (!read_rss(w->pid, &rss)) {
		w->rss_now = rss;
		w->rss_rate = rss_growth(w, now, rss);
		if (o->rss_rate && w->rss_rate >= o->rss_rate) {
			fmt_mb(a, sizeof(a), rss);
			fmt_mb(b, sizeof(b), w->rss_rate);
			snprintf(detail, size, "RSS %s, growing %s/s over the last second", a, b);
			fired = SNAP_RSS;
		}
	}
	if (fired < 0 && o->cgroup_frac && w->have_cg) {
		r = check_cgroup(w, o, now, detail, size);
		if (r >= 0)
			fired = r;
	}
	if (o->goroutines && goroutines >= 0) {
		if (goroutines < o->goroutines * 0.9)
			w->gor_armed = true;
		if (fired < 0 && w->gor_armed && goroutines >= o->goroutines) {
			snprintf(detail, size, "%.0f live goroutines (threshold %.0f)", goroutines,
				 o->goroutines);
			fired = SNAP_GOROUTINES;
		}
	}
	if (fired < 0)
		return -1;
	if (w->last_snap >= 0 && now - w->last_snap < o->min_interval)
		return -1; /* still armed: fires when the interval is over, if it holds */
	w->last_snap = now;
	if (fired == SNAP_CGROUP)
		w->cg_armed = false;
	if (fired == SNAP_GOROUTINES)
		w->gor_armed = false;
	return fired;
}

/* ---- the directory ---- */

/* mkdir -p, 0750 */
static int make_dirs(const char *dir)
{
	char p[4096];
	size_t n = strlen(dir);

	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0750) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0750) && errno != EEXIST)
		return -errno;
	return 0;
}

/* The executable's base name, cut to 48 characters of [A-Za-z0-9._-]. */
static void exe_part(char *out, size_t size, const char *exe)
{
	const char *b = strrchr(exe, '/');
	size_t o = 0;

	b = b ? b + 1 : exe;
	for (; *b && o + 1 < size && o < 48; b++) {
		char c = *b;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		out[o++] = ok ? c : '_';
	}
	if (!o && size > 1)
		out[o++] = '_';
	out[o] = '\0';
}

int snap_begin(const struct snap_opts *o, pid_t pid, const char *exe, enum snap_reason r,
	       char *path, size_t size, char *final, size_t fsize)
{
	struct timespec ts;
	struct tm tm;
	char when[32], name[160], base[64];
	int err;

	err = make_dirs(o->dir);
	if (err)
		return err;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%S", &tm);
	exe_part(base, sizeof(base), exe);
	snprintf(name, sizeof(name), "%s.%03ldZ-%d-%s-%s", when, ts.tv_nsec / 1000000, pid,
		 base, snap_reason_name(r));
	if ((size_t)snprintf(path, size, "%s/.tmp-%s", o->dir, name) >= size ||
	    (size_t)snprintf(final, fsize, "%s/%s", o->dir, name) >= fsize)
		return -ENAMETOOLONG;
	if (mkdir(path, 0750))
		return -errno;
	return 0;
}

int snap_publish(const struct snap_opts *o, const char *tmp, const char *final)
{
	if (rename(tmp, final))
		return -errno;
	snap_retain(o);
	return 0;
}

/* A snapshot's name: "YYYYMMDDTHHMMSS.mmmZ-..." (snap_begin). */
static bool is_snapshot(const char *name)
{
	for (int i = 0; i < 20; i++) {
		char c = name[i];
		bool ok = i == 8 ? c == 'T' : i == 15 ? c == '.' : i == 19 ? c == 'Z'
							    : c >= '0' && c <= '9';

		if (!ok)
			return false;
	}
	return name[20] == '-';
}

struct snap_ent {
	char name[256];
	uint64_t bytes;
};

static uint64_t dir_bytes(int dfd, const char *name)
{
	uint64_t sum = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && !fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW))
			sum += st.st_size;
	closedir(d);
	return sum;
}

static int remove_snapshot(int dfd, const char *name)
{
	struct dirent *e;
	DIR *d;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(fd, e->d_name, 0);
	closedir(d);
	return unlinkat(dfd, name, AT_REMOVEDIR) ? -errno : 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct snap_ent *)a)->name, ((const struct snap_ent *)b)->name);
}

void snap_retain(const struct snap_opts *o)
{
	struct snap_ent *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0, max = o->max_mb * 1e6;
	struct dirent *e;
	DIR *d;

	d = opendir(o->dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		struct snap_ent *x;

		if (!is_snapshot(e->d_name) || strlen(e->d_name) >= sizeof(v->name))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			x = realloc(v, cap * sizeof(*v));
			if (!x)
				break;
			v = x;
		}
		x = &v[n++];
		strcpy(x->name, e->d_name);
		x->bytes = dir_bytes(dirfd(d), e->d_name);
		total += x->bytes;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_name);
	/* oldest first; the newest stays whatever its size */
	for (size_t i = 0; i + 1 < n && (n - i > o->keep || total > max); i++) {
		int err = remove_snapshot(dirfd(d), v[i].name);

		if (err)
			log_warn("snapshots: cannot remove %s/%s: %s", o->dir, v[i].name,
				 strerror(-err));
		else
			log_info("snapshots: removed %s/%s (keeping %.0f, %.1f MB)", o->dir,
				 v[i].name, o->keep, o->max_mb);
		total -= v[i].bytes;
	}
	closedir(d);
	free(v);
}
