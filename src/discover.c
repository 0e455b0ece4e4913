// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Discovery of Go processes for the daemon (include/discover.h): a /proc scan, then
 * exec and exit records from bpf/discover.bpf.c; a cache of binaries already checked;
 * a table of the images reported and not yet ended, so that every image gets one EXIT.
 *
 * Records that arrive about what the scan already saw are told apart by time: the
 * table keeps, per image, the CLOCK_MONOTONIC time just before its /proc entry was read,
 * and an exec record older than that is the image already reported.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bpfmaps.h"
#include "buildinfo.h"
#include "discover.h"
#include "elfbin.h"
#include "leakhound.h"
#include "log.h"
#include "procfs.h"

#include "discover.skel.h"

/* include/linux/sched.h */
#define PF_KTHREAD 0x00200000

#define BIN_BUCKETS 1024
/* Distinct binaries remembered; past this the cache starts over (a node runs fewer). */
#define BIN_MAX	    16384
#define IMG_BUCKETS 4096

struct bin_entry {
	struct bin_entry *next;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct disc_go go;
};

/* An image reported and not yet ended. */
struct img {
	struct img *next;
	pid_t pid;
	uint64_t start_time;
	uint64_t image;
	uint64_t exec_id;
	uint64_t seen_ns; /* CLOCK_MONOTONIC just before its /proc entry was read */
	uint64_t scan;	  /* the last scan that saw it */
	dev_t dev;	  /* its executable */
	ino_t ino;
	enum disc_verdict verdict;
};

struct discover {
	struct discover_opts opts;
	struct discover_bpf *skel;
	struct ring_buffer *rb;
	struct bin_entry *bins[BIN_BUCKETS];
	size_t nbins;
	struct img *imgs[IMG_BUCKETS];
	uint64_t next_image;
	uint64_t scans;
	struct disc_go unreadable; /* what discover__inspect() points to, when it must */
	uint64_t ns_per_tick;
	struct disc_stats st;
};

/* One process as inspect() found it, with the storage its event points into. */
struct proc_view {
	struct disc_event ev;
	struct disc_ident ident;
	char exe[4096];
	uint64_t seen_ns;
	dev_t dev; /* the executable's file, 0 when it could not be opened */
	ino_t ino;
	struct disc_go unreadable; /* ev.go when the file could not be opened or read */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* ---- /proc reading ---- */

/* State (field 3), flags (9) and starttime (22) of /proc/PID/stat; -ESRCH when gone. */
static int read_stat(pid_t pid, char *state, unsigned long *flags, uint64_t *start)
{
	struct procfs_stat st;
	char path[64], buf[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	n = procfs_read(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	if (procfs_parse_stat(buf, &st))
		return -EINVAL;
	*state = st.state;
	*flags = st.flags;
	*start = st.start_time;
	return 0;
}

static uint64_t ns_inode(pid_t pid, const char *ns)
{
	char path[64];
	struct stat sb;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns);
	return stat(path, &sb) ? 0 : sb.st_ino;
}

/* The last number of the NSpid line: the PID as its own namespace sees it. */
static pid_t read_nspid(pid_t pid)
{
	char path[64], buf[4096], *p, *end;
	long v = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (procfs_read(path, buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "\nNSpid:");
	if (!p)
		return 0;
	p += 7;
	/* tab-separated PIDs, outermost namespace first, up to the end of the line */
	for (;;) {
		long n = strtol(p, &end, 10);

		if (end == p)
			break;
		v = n;
		p = end;
		if (*p == '\n' || !*p)
			break;
	}
	return v;
}

static void read_ident(pid_t pid, struct disc_ident *id)
{
	char path[64], buf[8192];

	memset(id, 0, sizeof(*id));
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	if (procfs_read(path, buf, sizeof(buf)) >= 0)
		disc_parse_cgroup(buf, id);
	id->pidns = ns_inode(pid, "pid");
	id->mntns = ns_inode(pid, "mnt");
	id->nspid = read_nspid(pid);
}

/* ---- binaries ---- */

/* The cheap check: build info (the release), else a pclntab section (some Go release). */
static void check_binary(int fd, struct disc_go *g)
{
	struct go_buildinfo bi = {};
	struct elfbin *eb;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	eb = elfbin__open(path);
	if (!eb) {
		g->err = -errno;
		return;
	}
	if (buildinfo__read(eb, &bi) == 0) {
		g->is_go = true;
		g->version = bi.version;
		snprintf(g->version_str, sizeof(g->version_str), "%s", bi.version_str);
	} else if (elfbin__section(eb, ".gopclntab")) {
		g->is_go = true;
	}
	g->supported = g->is_go && g->version.major == 1 && g->version.minor >= GO_MIN_MINOR &&
		       g->version.minor <= GO_MAX_MINOR;
	buildinfo__clear(&bi);
	elfbin__free(eb);
}

static size_t bin_hash(const struct stat *sb)
{
	uint64_t h = (uint64_t)sb->st_dev * 0x9e3779b97f4a7c15ull ^ sb->st_ino;

	h ^= (uint64_t)sb->st_size * 31 + sb->st_mtim.tv_nsec;
	return (h ^ (h >> 29)) % BIN_BUCKETS;
}

static void bins_clear(struct discover *d)
{
	for (size_t i = 0; i < BIN_BUCKETS; i++) {
		while (d->bins[i]) {
			struct bin_entry *b = d->bins[i];

			d->bins[i] = b->next;
			free(b);
		}
	}
	d->nbins = 0;
}

/*
 * The facts of the binary open as fd, from the cache or checked now (v->ev.parsed);
 * NULL with errno when it cannot be looked at.
 */
static const struct disc_go *lookup_binary(struct discover *d, int fd, struct proc_view *v)
{
	struct bin_entry *b;
	struct stat sb;
	size_t h;

	if (fstat(fd, &sb))
		return NULL;
	v->dev = sb.st_dev;
	v->ino = sb.st_ino;
	h = bin_hash(&sb);
	for (b = d->bins[h]; b; b = b->next) {
		if (b->dev == sb.st_dev && b->ino == sb.st_ino && b->size == sb.st_size &&
		    b->mtime.tv_sec == sb.st_mtim.tv_sec &&
		    b->mtime.tv_nsec == sb.st_mtim.tv_nsec) {
			d->st.cache_hits++;
			return &b->go;
		}
	}
	if (d->nbins >= BIN_MAX)
		bins_clear(d);
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->dev = sb.st_dev;
	b->ino = sb.st_ino;
	b->size = sb.st_size;
	b->mtime = sb.st_mtim;
	check_binary(fd, &b->go);
	b->next = d->bins[h];
	d->bins[h] = b;
	d->nbins++;
	d->st.parses++;
	v->ev.parsed = true;
	return &b->go;
}

/* ---- one process ---- */

static enum disc_verdict verdict_of(const struct discover *d, const struct disc_go *g,
				    const char *exe, const struct disc_ident *id)
{
	if (g->err)
		return DISC_UNREADABLE;
	if (!g->is_go)
		return DISC_NOT_GO;
	if (!disc_filter_keep(d->opts.filter, exe, id->cgroup, id->container_id))
		return DISC_EXCLUDED;
	return g->supported ? DISC_GO : DISC_GO_UNSUPPORTED;
}

/* Reads the executable of pid: open for the check, readlink for its name. */
static int read_exe(struct discover *d, pid_t pid, struct proc_view *v)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, v->exe, sizeof(v->exe) - 1);
	if (n < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	v->exe[n] = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return -ESRCH;
	v->ev.go = fd < 0 ? NULL : lookup_binary(d, fd, v);
	if (!v->ev.go) {
		v->unreadable = (struct disc_go){.err = -errno};
		v->ev.go = &v->unreadable;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* all: identity of non-Go processes too */
static int inspect(struct discover *d, pid_t pid, struct proc_view *v, bool all)
{
	unsigned long flags;
	char state;
	int err;

	memset(&v->ev, 0, sizeof(v->ev));
	v->dev = 0;
	v->ino = 0;
	v->seen_ns = now_ns();
	err = read_stat(pid, &state, &flags, &v->ev.start_time);
	if (err)
		return err;
	if ((flags & PF_KTHREAD) || state == 'Z' || state == 'X')
		return -ENOENT;
	err = read_exe(d, pid, v);
	if (err)
		return err;
	memset(&v->ident, 0, sizeof(v->ident));
	if (v->ev.go->is_go || all)
		read_ident(pid, &v->ident);
	v->ev.pid = pid;
	v->ev.verdict = verdict_of(d, v->ev.go, v->exe, &v->ident);
	v->ev.ident = &v->ident;
	v->ev.exe = v->exe;
	return 0;
}

int discover__inspect(struct discover *d, pid_t pid, struct disc_event *ev,
		      struct disc_ident *ident, char *exe, size_t exe_len)
{
	struct proc_view *v = malloc(sizeof(*v));
	int err;

	if (!v)
		return -ENOMEM;
	err = inspect(d, pid, v, true);
	if (!err) {
		*ev = v->ev;
		*ident = v->ident;
		snprintf(exe, exe_len, "%s", v->exe);
		ev->ident = ident;
		ev->exe = exe;
		if (ev->go == &v->unreadable) {
			d->unreadable = v->unreadable;
			ev->go = &d->unreadable;
		}
	}
	free(v);
	return err;
}

/* ---- the table of reported images ---- */

static struct img **img_slot(struct discover *d, pid_t pid)
{
	struct img **pp = &d->imgs[(uint32_t)pid % IMG_BUCKETS];

	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->next;
	return pp;
}

static bool reportable(const struct discover *d, enum disc_verdict v)
{
	return d->opts.report_all || v == DISC_GO || v == DISC_GO_UNSUPPORTED || v == DISC_EXCLUDED;
}

/* Reports a new image and remembers it, so that its end is reported too. */
static void report_new(struct discover *d, struct proc_view *v, enum disc_kind kind,
		       uint64_t exec_id)
{
	struct img *im;

	if (!reportable(d, v->ev.verdict))
		return;
	im = calloc(1, sizeof(*im));
	if (!im) {
		log_warn("discover: out of memory: pid %d not reported", v->ev.pid);
		return;
	}
	im->pid = v->ev.pid;
	im->start_time = v->ev.start_time;
	im->image = ++d->next_image;
	im->exec_id = exec_id;
	im->seen_ns = v->seen_ns;
	im->scan = d->scans;
	im->dev = v->dev;
	im->ino = v->ino;
	im->verdict = v->ev.verdict;
	im->next = d->imgs[(uint32_t)im->pid % IMG_BUCKETS];
	d->imgs[(uint32_t)im->pid % IMG_BUCKETS] = im;
	d->st.tracked++;
	v->ev.kind = kind;
	v->ev.image = im->image;
	v->ev.exec_id = exec_id;
	d->opts.cb(&v->ev, d->opts.ctx);
}

/* Reports the end of the image at *pp and forgets it. */
static void report_end(struct discover *d, struct img **pp)
{
	struct img *im = *pp;
	struct disc_event ev = {
		.kind = DISC_EXIT,
		.verdict = im->verdict,
		.pid = im->pid,
		.start_time = im->start_time,
		.image = im->image,
		.exec_id = im->exec_id,
	};

	*pp = im->next;
	free(im);
	d->st.tracked--;
	d->opts.cb(&ev, d->opts.ctx);
}

/* ---- scan ---- */

/*
 * One process found by a scan. On a rescan, an image already reported is kept when its
 * start time and executable file are the same (an exec of the same file cannot be seen
 * from /proc: the exec record says so), else it ends and the process is a new image.
 */
static void scan_one(struct discover *d, pid_t pid, struct proc_view *v)
{
	struct img **pp;
	int err;

	d->st.scanned++;
	err = inspect(d, pid, v, d->opts.report_all);
	if (err == -ESRCH)
		d->st.vanished++;
	if (err)
		return;
	pp = img_slot(d, pid);
	if (*pp && (*pp)->start_time == v->ev.start_time && (*pp)->dev == v->dev &&
	    (*pp)->ino == v->ino) {
		(*pp)->scan = d->scans;
		return;
	}
	if (*pp)
		report_end(d, pp);
	report_new(d, v, DISC_SCAN, 0);
}

/* After a rescan: images not seen by it ended while their records were lost. */
static void scan_ended(struct discover *d)
{
	for (size_t i = 0; i < IMG_BUCKETS; i++) {
		struct img **pp = &d->imgs[i];

		while (*pp) {
			if ((*pp)->scan != d->scans)
				report_end(d, pp);
			else
				pp = &(*pp)->next;
		}
	}
}

int discover__scan(struct discover *d)
{
	struct proc_view *v;
	struct dirent *de;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	v = malloc(sizeof(*v));
	if (!v) {
		closedir(dir);
		return -ENOMEM;
	}
	d->scans++;
	while ((de = readdir(dir))) {
		pid_t pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = atoi(de->d_name);
		if (pid != getpid())
			scan_one(d, pid, v);
	}
	free(v);
	closedir(dir);
	scan_ended(d);
	return 0;
}

/* ---- records from the kernel ---- */

static void on_exec_record(struct discover *d, const struct lh_disc_event *e, uint64_t start)
{
	struct img **pp = img_slot(d, e->pid);
	struct proc_view *v;

	d->st.execs++;
	/* the scan (or an earlier record) read this process after this exec: known */
	if (*pp && (*pp)->start_time == start && e->ts_ns <= (*pp)->seen_ns) {
		d->st.stale++;
		return;
	}
	/* an exec ends the image before it; a different start time: its exit was lost */
	if (*pp)
		report_end(d, pp);
	v = malloc(sizeof(*v));
	if (!v)
		return;
	if (inspect(d, e->pid, v, d->opts.report_all) == 0 && v->ev.start_time == start)
		report_new(d, v, DISC_EXEC, e->exec_id);
	else
		d->st.vanished++;
	free(v);
}

static void on_exit_record(struct discover *d, const struct lh_disc_event *e, uint64_t start)
{
	struct img **pp = img_slot(d, e->pid);

	d->st.exits++;
	if (!*pp)
		return;
	if ((*pp)->start_time != start) {
		/* an exit of an older process of that PID (its records came late) */
		d->st.stale++;
		return;
	}
	report_end(d, pp);
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct discover *d = ctx;
	const struct lh_disc_event *e = data;
	uint64_t start;

	if (len < sizeof(*e))
		return 0;
	start = e->start_ns / d->ns_per_tick;
	if (e->kind == LH_DISC_EXEC)
		on_exec_record(d, e, start);
	else if (e->kind == LH_DISC_EXIT)
		on_exit_record(d, e, start);
	return 0;
}

int discover__fd(const struct discover *d)
{
	return ring_buffer__epoll_fd(d->rb);
}

int discover__consume(struct discover *d)
{
	return ring_buffer__consume(d->rb);
}

void discover__stats(struct discover *d, struct disc_stats *st)
{
	uint64_t stats[LH_STAT__COUNT];

	if (bpfmaps__sum_stats(d->skel->maps.stats, stats) == 0)
		d->st.drops = stats[LH_STAT_RINGBUF_RESERVE];
	*st = d->st;
}

/* ---- lifecycle ---- */

static int load(struct discover *d)
{
	int err;

	const char *ring_kb = getenv("LEAKHOUND_DISC_RING_KB");

	d->skel = discover_bpf__open();
	if (!d->skel) {
		err = -errno;
		log_err("discover: failed to open BPF object: %s", strerror(-err));
		return err;
	}
	/* a smaller ring for the tests of its overrun: a power of 2 pages */
	if (ring_kb && atoi(ring_kb) > 0)
		bpf_map__set_max_entries(d->skel->maps.events, atoi(ring_kb) * 1024);
	err = discover_bpf__load(d->skel);
	if (err) {
		log_err("discover: failed to load BPF object: %s", strerror(-err));
		return err;
	}
	err = discover_bpf__attach(d->skel);
	if (err) {
		log_err("discover: failed to attach to sched_process_exec/exit: %s",
			strerror(-err));
		return err;
	}
	d->rb = ring_buffer__new(bpf_map__fd(d->skel->maps.events), on_record, d, NULL);
	if (!d->rb) {
		err = -errno;
		log_err("discover: failed to set up the ring buffer: %s", strerror(-err));
		return err;
	}
	return 0;
}

struct discover *discover__open(const struct discover_opts *opts)
{
	struct discover *d;
	long tck = sysconf(_SC_CLK_TCK);
	int err;

	if (!opts || !opts->cb) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->opts = *opts;
	/* proc_pid_stat(): nsec_to_clock_t(start_boottime), USER_HZ ticks */
	d->ns_per_tick = 1000000000ull / (tck > 0 ? tck : 100);
	err = load(d);
	if (err) {
		discover__free(d);
		errno = -err;
		return NULL;
	}
	return d;
}

void discover__free(struct discover *d)
{
	if (!d)
		return;
	ring_buffer__free(d->rb);
	discover_bpf__destroy(d->skel);
	bins_clear(d);
	for (size_t i = 0; i < IMG_BUCKETS; i++) {
		while (d->imgs[i]) {
			struct img *im = d->imgs[i];

			d->imgs[i] = im->next;
			free(im);
		}
	}
	free(d);
}
