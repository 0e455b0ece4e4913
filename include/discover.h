/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_DISCOVER_H
#define LEAKHOUND_DISCOVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buildinfo.h"

/*
 * How the daemon finds its targets: every process in /proc at start (discover__scan()),
 * then every exec and every process exit as the kernel reports them (the
 * sched_process_exec / sched_process_exit tracepoints through a ring buffer:
 * discover__fd() in the daemon's poll loop, discover__consume() when it is readable).
 *
 * Each executable *image* found (a process found by the scan, or one exec) is handed to
 * the callback once, with kind DISC_SCAN or DISC_EXEC, and later once more with kind
 * DISC_EXIT when it ends: the process exits (last thread gone, SIGKILL included) or
 * execs another image. An exec is therefore an EXIT of the old image followed by an
 * EXEC of the new one, in that order, with the PID unchanged.
 *
 * Keying targets: by (pid, start_time, image). pid alone is reused by the kernel;
 * (pid, start_time) tells reuse apart but stays the same across execve(); image is this
 * object's serial number for one image (1, 2, ...; never reused), so it changes on every
 * exec. An EXIT names the same triple as the SCAN/EXEC it ends. exec_id (the kernel's
 * task->self_exec_id, 0 for images found by the scan) is given for logs only.
 *
 * Whether an image is a Go program is decided from its ELF file (Go build info, else a
 * .gopclntab section), read through /proc/PID/exe (containers and deleted files too),
 * once per distinct binary: results are cached by (st_dev, st_ino, st_size, st_mtime) of
 * the file, so 200 processes of one binary cost one parse.
 *
 * Not thread-safe: one thread calls everything, the callback included. A process that
 * forks without exec (a copy of a Go image, rare) makes no exec record: only a rescan
 * finds it.
 */

struct discover;

enum disc_kind {
	DISC_SCAN, /* found by discover__scan() */
	DISC_EXEC, /* a process executed a new image */
	DISC_EXIT, /* an image reported before ended: process exit, or exec of another */
};

enum disc_verdict {
	DISC_GO,	     /* a Go program of a supported release (1.19-1.26), filters passed */
	DISC_GO_UNSUPPORTED, /* a Go program of another release (or of an unknown one) */
	DISC_EXCLUDED,	     /* a Go program the filters leave out */
	DISC_NOT_GO,	     /* an ELF file with no Go build info or pclntab (report_all) */
	DISC_UNREADABLE,     /* not an ELF file, a corrupt one, or unreadable (report_all) */
};

/* What the cheap check found in one binary; shared by every process that runs it. */
struct disc_go {
	bool is_go;
	bool supported;		   /* a release leakhound can trace */
	struct go_version version; /* {0, 0, 0} when unknown */
	char version_str[64];	   /* "go1.22.12", "" when unknown */
	int err;		   /* 0, or -errno why the file could not be read */
};

/* Who a process is, beyond its PID. Empty strings when unknown. */
struct disc_ident {
	/*
	 * The cgroup path: on a cgroup v2 system the "0::PATH" one; with v1 hierarchies
	 * (v1 or hybrid), the name=systemd path unless it is "/", else the first other v1
	 * path not "/", else the v2 path. The container fields come from that path, or
	 * when it names no container, from the first line that does.
	 */
	char cgroup[512];
	char container_id[72]; /* 64 hex digits for docker, containerd, cri-o, podman */
	char runtime[16];      /* "docker", "containerd", "cri-o", "podman"; "" when unknown */
	char pod_uid[40];      /* kubepods paths: the pod UID, dashes */
	char qos[12];	       /* kubepods: "guaranteed", "burstable" or "besteffort" */
	uint64_t pidns;	       /* inode number of /proc/PID/ns/pid */
	uint64_t mntns;	       /* inode number of /proc/PID/ns/mnt */
	pid_t nspid;	       /* its PID in its own PID namespace (last NSpid) */
};

struct disc_event {
	enum disc_kind kind;
	enum disc_verdict verdict; /* for DISC_EXIT: the verdict of the ended image */
	pid_t pid;		   /* in the initial PID namespace */
	uint64_t start_time;	   /* /proc/PID/stat field 22 (clock ticks since boot) */
	uint64_t image;		   /* serial of the image */
	uint64_t exec_id;	   /* task->self_exec_id; 0 when found by the scan */
	/* DISC_SCAN and DISC_EXEC only (NULL for DISC_EXIT): */
	const struct disc_go *go;
	const struct disc_ident *ident;
	const char *exe; /* the executable as the process sees it (readlink) */
	bool parsed;	 /* this event's binary was parsed now (not cached) */
};

/* ev and what it points to are valid during the call only. */
typedef void (*discover_fn)(const struct disc_event *ev, void *ctx);

/*
 * Which Go programs become targets. Globs (fnmatch(3), '*' matches '/' too) on the
 * executable are tried on its base name and on its full path (either matching is a
 * match); cgroup globs on disc_ident.cgroup; container entries are prefixes of the
 * container id. Precedence: a process matching any exclude entry is excluded; else,
 * when some include lists are non-empty, it must match at least one entry of *each*
 * non-empty include list (OR within a list, AND across lists); else it is included.
 * A process with no container id never matches a container entry.
 */
struct disc_filter {
	const char **include_exe;
	const char **exclude_exe;
	const char **include_cgroup;
	const char **exclude_cgroup;
	const char **include_container;
	const char **exclude_container;
	int n_include_exe, n_exclude_exe, n_include_cgroup, n_exclude_cgroup, n_include_container,
		n_exclude_container;
};

struct discover_opts {
	discover_fn cb;
	void *ctx;
	const struct disc_filter *filter; /* NULL: every Go program; kept, not copied */
	/*
	 * Also report DISC_NOT_GO and DISC_UNREADABLE images (and their exits). By default
	 * only Go programs are reported: DISC_GO, DISC_GO_UNSUPPORTED and DISC_EXCLUDED,
	 * the last two so that the daemon can say why it skips them.
	 */
	bool report_all;
};

struct disc_stats {
	uint64_t parses; /* binaries opened and checked (cache misses) */
	uint64_t cache_hits;
	uint64_t scanned;  /* processes looked at by scans */
	uint64_t vanished; /* processes gone before they could be looked at */
	uint64_t execs;	   /* exec records received */
	uint64_t exits;	   /* process-exit records received */
	uint64_t stale;	   /* records about images already known or already gone */
	uint64_t drops;	   /* records the kernel could not queue (ring buffer full) */
	uint64_t tracked;  /* images reported and not yet ended */
};

/*
 * Loads and attaches the tracepoints (call it before discover__scan(), so that nothing
 * starting during the scan is missed). NULL with errno; the libbpf error is logged.
 * PIDs are those of the initial PID namespace, as /proc shows them there: the daemon
 * runs on the host, or in a container with the host's PID namespace (hostPID).
 */
struct discover *discover__open(const struct discover_opts *opts);
void discover__free(struct discover *d);
/*
 * Walks /proc: calls back with DISC_SCAN for every image found (kernel threads, zombies
 * and processes that vanish while being read are skipped). 0 or -errno.
 *
 * Called again it is a rescan, what the daemon does when disc_stats.drops grew (records
 * were lost) and may do now and then: an image already reported stays as it is when its
 * process has the same start time and executable file; a process whose start time or
 * file changed ends its old image (DISC_EXIT) and is reported as a new one (DISC_SCAN);
 * an image whose process is gone ends. (A re-exec of the same file with its records lost
 * is the one change a rescan cannot see.)
 */
int discover__scan(struct discover *d);
/* The ring buffer's epoll fd: readable when records wait. */
int discover__fd(const struct discover *d);
/* Handles every waiting record, calling back; the number of records handled or -errno. */
int discover__consume(struct discover *d);
void discover__stats(struct discover *d, struct disc_stats *st);

/*
 * One process, on its own, as the scan looks at it: verdict, Go facts, identity; not
 * reported nor remembered. 0, -ESRCH when it is gone, or -ENOENT for kernel threads and
 * zombies. ev->go points into the object's cache: valid until its next call.
 */
int discover__inspect(struct discover *d, pid_t pid, struct disc_event *ev,
		      struct disc_ident *ident, char *exe, size_t exe_len);

/* ---- pure helpers, exposed for tests ---- */

/* Fills cgroup, container_id, runtime, pod_uid and qos from /proc/PID/cgroup text. */
void disc_parse_cgroup(const char *text, struct disc_ident *id);
/* The container fields from one cgroup path; false when it carries none. */
bool disc_parse_container(const char *path, struct disc_ident *id);
/* true when f (NULL: no filter) keeps the process; see struct disc_filter. */
bool disc_filter_keep(const struct disc_filter *f, const char *exe, const char *cgroup,
		      const char *container_id);
const char *disc_verdict_name(enum disc_verdict v);
const char *disc_kind_name(enum disc_kind k);

#endif
