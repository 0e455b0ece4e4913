// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * leakhound check: can leakhound run here? It reads the privileges it holds and the
 * kernel features it needs, then proves them with a live test: the BPF object of
 * bpf/check.bpf.c on a uprobe in a function of this very binary, called a known number
 * of times. One checklist, as text or as JSON; exit 0 only when everything is there.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/capability.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cjson/cJSON.h>

#include "bpfmaps.h"
#include "caps.h"
#include "check.skel.h"
#include "commands.h"
#include "elfbin.h"
#include "leakhound.h"
#include "jsonout.h"
#include "log.h"

/*
 * The live test calls the probed function --calls times (default 16, at most 64: one bit
 * each in live.args_seen), with arguments ARG_BASE + i.
 */
#define CHECK_CALLS 16
#define CHECK_CALLS_MAX 64
#define CHECK_ARG_BASE 0x6c68636b00000000ULL /* "lhck" */
/* The initial PID namespace's inode number (PROC_PID_INIT_INO, include/linux/proc_ns.h). */
#define PROC_PID_INIT_INO 0xEFFFFFFCU
#define SELF_EXE "/proc/self/exe"

/*
 * The function the live test probes. Not static, not inlined, and called through a
 * volatile pointer so that the compiler can neither fold the calls nor clone it into a
 * differently named copy: every call enters the symbol, at its first instruction.
 */
uint64_t lh_check_target(uint64_t arg);

__attribute__((noinline, used)) uint64_t lh_check_target(uint64_t arg)
{
	__asm__ volatile("" : "+r"(arg) : : "memory");
	return arg + 1;
}

static uint64_t (*volatile check_target_fn)(uint64_t) = lh_check_target;

/* ---- facts ---- */

struct privs {
	uid_t euid;
	uint64_t cap_eff;
	bool cap_eff_known;
	long cap_last;	  /* kernel.cap_last_cap: highest capability known; -1 unknown */
	int init_userns;  /* 1 initial user namespace, 0 another, -1 unknown */
	long unpriv_bpf;  /* kernel.unprivileged_bpf_disabled, -1 unknown */
	long paranoid;	  /* kernel.perf_event_paranoid, LONG_MIN unknown */
	long ptrace_scope; /* kernel.yama.ptrace_scope, -1 without Yama */
	struct rlimit memlock;
};

struct kern {
	struct utsname uts;
	int major, minor;
	bool btf;
	long uprobe_pmu; /* perf PMU type of uprobes, -1 absent */
	int tracefs;	 /* uprobe_events: 1 readable, -errno otherwise */
	int ringbuf;	 /* 1 supported, 0 not, -EPERM not probed (no privileges) */
	int get_stack;	 /* same for bpf_get_stack() in uprobe programs */
	int memcg;	 /* BPF memory charged to memory cgroups (5.11+): 1, 0 */
	bool init_pidns;
	dev_t pidns_dev;
	ino_t pidns_ino;
};

struct live {
	unsigned calls;		/* how many times the test calls lh_check_target */
	const char *failed;	/* stage that failed, NULL when all passed */
	int err;		/* its -errno */
	char why[256];		/* and what it means */
	char exe[PATH_MAX];	/* the probed binary, as /proc/self/exe names it */
	uintptr_t addr;		/* runtime address of lh_check_target */
	uintptr_t text_lo, text_hi; /* the executable mapping that holds it */
	uint64_t sym_vaddr;	/* its link-time address from .symtab, when present */
	uint64_t off;		/* file offset the uprobe went to */
	uint64_t maps_off;	/* the same computed from /proc/self/maps */
	bool from_symtab;
	uint64_t hits;
	unsigned records, good;
	uint64_t args_seen;	/* bit i: a record carried argument ARG_BASE + i */
	int frames;		/* deepest user stack seen, in frames */
	uint64_t stats[LH_STAT__COUNT];
	bool attached;		/* the uprobe was created */
	uint8_t text[3];	/* first byte of the target: before, while attached, after */
	uint32_t prog_id;
	int prog_gone;		/* 1 unloaded, 0 still loaded, -errno not verifiable */
	int events_same;	/* uprobe_events unchanged: 1, 0, -errno not readable */
};

struct facts {
	struct privs p;
	struct kern k;
	struct live l;
};

/* ---- the checklist ---- */

enum status { ST_OK, ST_NOTE, ST_MISSING, ST_UNKNOWN };

static const char *const status_names[] = { "ok", "note", "MISSING", "UNKNOWN" };

struct item {
	const char *section;
	const char *name;
	enum status st;
	char detail[320];
};

struct checklist {
	struct item it[40];
	size_t n;
	unsigned bad; /* MISSING + UNKNOWN */
};

__attribute__((format(printf, 5, 6))) static void add(struct checklist *cl, const char *section,
						      const char *name, enum status st,
						      const char *fmt, ...)
{
	struct item *it;
	va_list ap;

	if (cl->n == sizeof(cl->it) / sizeof(cl->it[0]))
		return;
	it = &cl->it[cl->n++];
	it->section = section;
	it->name = name;
	it->st = st;
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
	if (st == ST_MISSING || st == ST_UNKNOWN)
		cl->bad++;
}

/* ---- small readers ---- */

/* Whole small file as a NUL-terminated string; 0 or -errno. */
static int read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;
	int err = 0;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	if (ferror(f))
		err = -EIO;
	buf[n] = '\0';
	fclose(f);
	return err;
}

static int read_long(const char *path, long *val)
{
	char buf[64], *end;
	int err = read_text(path, buf, sizeof(buf));

	if (err)
		return err;
	errno = 0;
	*val = strtol(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

/* A whole file of unknown size (tracefs files report size 0), at most 4 MiB. */
static int read_all(const char *path, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL, *nbuf;
	FILE *f = fopen(path, "re");
	int err = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (!(nbuf = realloc(buf, cap))) {
			err = -ENOMEM;
			break;
		}
		buf = nbuf;
		len += fread(buf + len, 1, cap - len, f);
		if (len < cap || cap >= (4u << 20))
			break;
		cap *= 2;
	}
	if (!err && ferror(f))
		err = -EIO;
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* ---- privileges ---- */

static bool has_cap(const struct privs *p, int cap)
{
	return p->cap_eff_known && cap < 64 && (p->cap_eff >> cap) & 1;
}

static void gather_privs(struct privs *p)
{
	p->euid = geteuid();
	p->cap_eff_known = caps_read_eff(&p->cap_eff) == 0;
	if (read_long("/proc/sys/kernel/cap_last_cap", &p->cap_last))
		p->cap_last = -1;
	p->init_userns = caps_init_userns();
	if (read_long("/proc/sys/kernel/unprivileged_bpf_disabled", &p->unpriv_bpf))
		p->unpriv_bpf = -1;
	if (read_long("/proc/sys/kernel/perf_event_paranoid", &p->paranoid))
		p->paranoid = LONG_MIN;
	if (read_long("/proc/sys/kernel/yama/ptrace_scope", &p->ptrace_scope))
		p->ptrace_scope = -1;
	if (getrlimit(RLIMIT_MEMLOCK, &p->memlock))
		p->memlock.rlim_cur = p->memlock.rlim_max = 0;
}

static bool bpf_capable(const struct privs *p)
{
	return p->init_userns == 1 && (has_cap(p, CAP_BPF) || has_cap(p, CAP_SYS_ADMIN));
}

static bool perfmon_capable(const struct privs *p)
{
	return p->init_userns == 1 && (has_cap(p, CAP_PERFMON) || has_cap(p, CAP_SYS_ADMIN));
}

/* ---- kernel ---- */

static int probe_or_eperm(int ret)
{
	return ret < 0 ? ret : ret > 0;
}

static void gather_kernel(struct kern *k, const struct privs *p)
{
	const char *ev = "/sys/kernel/tracing/uprobe_events";
	struct stat st;

	if (uname(&k->uts))
		memset(&k->uts, 0, sizeof(k->uts));
	if (sscanf(k->uts.release, "%d.%d", &k->major, &k->minor) != 2)
		k->major = k->minor = 0;
	k->btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	if (read_long("/sys/bus/event_source/devices/uprobe/type", &k->uprobe_pmu))
		k->uprobe_pmu = -1;
	k->tracefs = access(ev, R_OK) ? -errno : 1;
	/*
	 * libbpf's probes load a map or a program: without the privileges they fail like
	 * an unsupported feature would (and the helper probe then claims support), so
	 * only ask when the answer means something.
	 */
	k->ringbuf = k->get_stack = -EPERM;
	if (bpf_capable(p))
		k->ringbuf = probe_or_eperm(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL));
	if (bpf_capable(p) && perfmon_capable(p))
		k->get_stack = probe_or_eperm(
			libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_stack, NULL));
	/*
	 * Memory-cgroup accounting of BPF memory came in 5.11 with the helper
	 * bpf_ktime_get_coarse_ns, which is what libbpf probes before deciding to raise
	 * RLIMIT_MEMLOCK itself; without privileges fall back to the release.
	 */
	k->memcg = k->major > 5 || (k->major == 5 && k->minor >= 11);
	if (bpf_capable(p))
		k->memcg = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCKET_FILTER,
						   BPF_FUNC_ktime_get_coarse_ns, NULL) == 1;
	k->init_pidns = true;
	if (stat("/proc/self/ns/pid", &st) == 0) {
		k->init_pidns = st.st_ino == PROC_PID_INIT_INO;
		k->pidns_dev = st.st_dev;
		k->pidns_ino = st.st_ino;
	}
}

/* ---- the live test ---- */

static void live_fail(struct live *l, const char *stage, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void live_fail(struct live *l, const char *stage, int err, const char *fmt, ...)
{
	va_list ap;

	if (l->failed)
		return;
	l->failed = stage;
	l->err = err;
	va_start(ap, fmt);
	vsnprintf(l->why, sizeof(l->why), fmt, ap);
	va_end(ap);
}

static int live_load(struct live *l, const struct kern *k, struct check_bpf **skelp)
{
	struct check_bpf *skel;
	int err;

	*skelp = skel = check_bpf__open();
	if (!skel) {
		err = -errno;
		live_fail(l, "load", err, "cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	skel->rodata->cfg_tgid = getpid();
	if (!k->init_pidns) {
		/* the helper wants the kernel's dev_t encoding (MKDEV: major << 20 | minor) */
		skel->rodata->cfg_pidns_dev =
			((uint64_t)major(k->pidns_dev) << 20) | minor(k->pidns_dev);
		skel->rodata->cfg_pidns_ino = k->pidns_ino;
	}
	/* the kind of uprobe trace and the daemon use, so that this one proves theirs */
	bpfmaps__prepare_uprobes(skel->obj);
	err = check_bpf__load(skel);
	if (err)
		live_fail(l, "load", err, "cannot load the BPF program: %s%s", strerror(-err),
			  caps_perm_err(err) ? "; needs CAP_BPF and CAP_PERFMON (or root)" :
				  "; run 'leakhound -v check' for libbpf's and the verifier's log");
	return err;
}

/* The executable mapping of /proc/self/maps that holds l->addr, and its file offset. */
static int maps_offset(struct live *l)
{
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long start, end, pgoff;
	char *line = NULL, perms[8];
	size_t cap = 0;
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%lx-%lx %7s %lx", &start, &end, perms, &pgoff) != 4)
			continue;
		if (l->addr >= start && l->addr < end && perms[2] == 'x') {
			l->maps_off = pgoff + (l->addr - start);
			l->text_lo = start;
			l->text_hi = end;
			err = 0;
			break;
		}
	}
	free(line);
	fclose(f);
	return err;
}

/*
 * Where the uprobe goes: the symbol's file offset through elfbin, the way probes on Go
 * binaries are placed, cross-checked against the kernel's own mapping of this process.
 * A stripped leakhound has no .symtab: the mapping alone then decides.
 */
static int live_resolve(struct live *l)
{
	struct elfbin *eb;
	uint64_t size;
	ssize_t n;
	int err;

	n = readlink(SELF_EXE, l->exe, sizeof(l->exe) - 1);
	l->exe[n > 0 ? n : 0] = '\0';
	l->addr = (uintptr_t)lh_check_target;
	err = maps_offset(l);
	if (err) {
		live_fail(l, "resolve", err, "no executable mapping of this binary holds %#lx",
			  (unsigned long)l->addr);
		return err;
	}
	l->off = l->maps_off;
	eb = elfbin__open(SELF_EXE);
	if (!eb) {
		err = -errno;
		live_fail(l, "resolve", err, "cannot read %s as ELF: %s", l->exe, strerror(-err));
		return err;
	}
	err = elfbin__symbol(eb, "lh_check_target", &l->sym_vaddr, &size);
	if (err == 0)
		err = elfbin__vaddr_to_off(eb, l->sym_vaddr, &l->off);
	elfbin__free(eb);
	l->from_symtab = err == 0;
	if (err == -ENOENT)
		return 0;
	if (err)
		live_fail(l, "resolve", err, "symbol lh_check_target at %#" PRIx64 " is in no "
			  "executable segment of %s", l->sym_vaddr, l->exe);
	else if (l->off != l->maps_off)
		live_fail(l, "resolve", err = -EPROTO, "symbol lh_check_target is at file offset %#"
			  PRIx64 " but /proc/self/maps says %#" PRIx64, l->off, l->maps_off);
	return err;
}

static uint8_t text_byte(void)
{
	return *(const volatile uint8_t *)(uintptr_t)lh_check_target;
}

static int live_attach(struct live *l, struct check_bpf *skel, struct bpfmaps_probe **link)
{
	int err;

	/* pid = ourselves: the probe exists in this process only */
	*link = bpfmaps__uprobe(skel->progs.lh_check_target, getpid(), SELF_EXE, l->off);
	if (!*link) {
		err = -errno;
		live_fail(l, "attach", err, "cannot attach a uprobe (%s) to %s+%#" PRIx64 ": %s%s",
			  bpfmaps__uprobe_multi() ? "uprobe_multi link" : "perf event", l->exe,
			  l->off, strerror(-err), caps_err_hint(err, CAPS_BPF | CAPS_UPROBE));
		return err;
	}
	l->attached = true;
	l->text[1] = text_byte();
	return 0;
}

static int sum_percpu(const struct bpf_map *map, uint32_t key, uint64_t *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;
	int err;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	err = bpf_map__lookup_elem(map, &key, sizeof(key), vals, ncpu * sizeof(*vals), 0);
	*sum = 0;
	for (int i = 0; !err && i < ncpu; i++)
		*sum += vals[i];
	free(vals);
	return err;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct live *l = ctx;
	struct lh_check_event e;
	uint64_t i;
	bool ok;

	l->records++;
	if (size < sizeof(e))
		return 0;
	memcpy(&e, data, sizeof(e));
	i = e.arg0 - CHECK_ARG_BASE;
	/*
	 * Innermost frame = the probed instruction = the function's first byte; the next
	 * one returns into this binary, whether the kernel took it from [RSP] (6.x does at
	 * a probed 'push %rbp') or from the caller's frame pointer (check.o keeps them).
	 */
	ok = e.tgid == (uint32_t)getpid() && i < l->calls && e.stack_bytes >= 16 &&
	     e.stack[0] == l->addr && e.stack[1] >= l->text_lo && e.stack[1] < l->text_hi;
	if (ok) {
		l->good++;
		l->args_seen |= 1ULL << i;
		if (e.stack_bytes / 8 > l->frames)
			l->frames = e.stack_bytes / 8;
	}
	log_debug("record: tid %u arg0 %#" PRIx64 " stack %d bytes, top %#" PRIx64 " %#" PRIx64,
		  e.tid, (uint64_t)e.arg0, e.stack_bytes, (uint64_t)e.stack[0],
		  (uint64_t)e.stack[1]);
	return 0;
}

static int live_collect(struct live *l, struct check_bpf *skel)
{
	struct ring_buffer *rb;
	int err;

	err = sum_percpu(skel->maps.hits, 0, &l->hits);
	for (uint32_t s = 0; !err && s < LH_STAT__COUNT; s++)
		err = sum_percpu(skel->maps.stats, s, &l->stats[s]);
	if (err) {
		live_fail(l, "hits", err, "cannot read the counters: %s", strerror(-err));
		return err;
	}
	/* no wakeups were sent: consume, never poll */
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, l, NULL);
	if (!rb) {
		err = -errno;
		live_fail(l, "records", err, "cannot map the ring buffer: %s", strerror(-err));
		return err;
	}
	err = ring_buffer__consume(rb);
	ring_buffer__free(rb);
	if (err < 0) {
		live_fail(l, "records", err, "cannot read the ring buffer: %s", strerror(-err));
		return err;
	}
	return 0;
}

static void live_judge(struct live *l)
{
	const uint64_t all = l->calls == 64 ? ~0ULL : (1ULL << l->calls) - 1;
	uint64_t lost = 0;

	for (int s = 0; s < LH_STAT__COUNT; s++)
		lost += l->stats[s];
	if (l->hits != l->calls)
		live_fail(l, "hits", -EPROTO, "the uprobe fired %" PRIu64 " times for %u calls",
			  l->hits, l->calls);
	else if (l->good != l->calls || l->records != l->calls || l->args_seen != all)
		live_fail(l, "records", -EPROTO,
			  "%u records (%u well-formed) for %u calls; a good one carries this "
			  "process, its call's argument and a user stack from the probed function",
			  l->records, l->good, l->calls);
	else if (lost)
		live_fail(l, "stats", -EPROTO, "BPF side counted %" PRIu64 " failures", lost);
}

static uint32_t prog_id_of(const struct bpf_program *prog)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
		return 0;
	return info.id;
}

/* After destroy: is the program gone from the kernel? Needs CAP_SYS_ADMIN to ask. */
/*
 * A uprobe_multi link lets go of its program after an RCU tasks-trace grace period
 * (bpf_uprobe_multi_link_dealloc(), kernel/trace/bpf_trace.c), not when its fd closes:
 * ask for up to 2 s.
 */
static int prog_gone(uint32_t id)
{
	int fd, err;

	if (!id)
		return -ENOENT;
	for (int i = 0; i < 200; i++) {
		fd = bpf_prog_get_fd_by_id(id);
		if (fd < 0)
			break;
		close(fd);
		usleep(10000);
	}
	if (fd >= 0)
		return 0;
	err = -errno;
	return err == -ENOENT ? 1 : err;
}

static int uprobe_events(char **buf, size_t *len)
{
	int err = read_all("/sys/kernel/tracing/uprobe_events", buf, len);

	if (err == -ENOENT)
		err = read_all("/sys/kernel/debug/tracing/uprobe_events", buf, len);
	return err;
}

static void live_run(struct live *l, const struct kern *k)
{
	struct check_bpf *skel = NULL;
	struct bpfmaps_probe *link = NULL;
	char *ev_before = NULL, *ev_after = NULL;
	size_t ev_blen = 0, ev_alen = 0;
	int ev_err;

	l->prog_gone = l->events_same = -ENOEXEC;
	l->text[0] = text_byte();
	ev_err = uprobe_events(&ev_before, &ev_blen);
	if (live_load(l, k, &skel) || live_resolve(l) || live_attach(l, skel, &link))
		goto cleanup;
	for (unsigned i = 0; i < l->calls; i++)
		check_target_fn(CHECK_ARG_BASE + i);
	if (live_collect(l, skel) == 0)
		live_judge(l);
cleanup:
	if (skel)
		l->prog_id = prog_id_of(skel->progs.lh_check_target);
	bpfmaps__probe_destroy(link);
	l->text[2] = text_byte();
	check_bpf__destroy(skel);
	if (l->prog_id)
		l->prog_gone = prog_gone(l->prog_id);
	if (!ev_err)
		ev_err = uprobe_events(&ev_after, &ev_alen);
	l->events_same = ev_err ? ev_err :
				  ev_blen == ev_alen && !memcmp(ev_before, ev_after, ev_blen);
	free(ev_before);
	free(ev_after);
}

/* ---- judging the facts ---- */

static void judge_bpf_caps(struct checklist *cl, const struct privs *p, const struct live *l)
{
	bool admin = has_cap(p, CAP_SYS_ADMIN);
	/* before 5.8 there is no CAP_BPF/CAP_PERFMON: only CAP_SYS_ADMIN will do */
	bool split = p->cap_last < 0 || p->cap_last >= CAP_BPF;
	const char *need = split ? "needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN, or root)" :
				   "this kernel has no CAP_BPF/CAP_PERFMON (< 5.8): needs "
				   "CAP_SYS_ADMIN (or root)";
	static const struct {
		int cap;
		const char *name, *why;
	} caps[] = {
		{ CAP_BPF, "CAP_BPF", "to create maps and load programs" },
		{ CAP_PERFMON, "CAP_PERFMON", "to load tracing programs" },
	};

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (has_cap(p, caps[i].cap))
			add(cl, "privileges", caps[i].name, ST_OK, "held");
		else if (admin)
			add(cl, "privileges", caps[i].name, ST_NOTE,
			    "not held; CAP_SYS_ADMIN covers it");
		else
			add(cl, "privileges", caps[i].name, ST_MISSING, "%s %s", need, caps[i].why);
	}
	if (admin)
		add(cl, "privileges", "CAP_SYS_ADMIN", ST_OK, "held");
	else if (bpfmaps__uprobe_multi())
		add(cl, "privileges", "CAP_SYS_ADMIN", ST_NOTE,
		    "not held; not needed: uprobes are uprobe_multi links here (6.6+), which "
		    "CAP_BPF and CAP_PERFMON create (only /proc/PID/map_files, for deleted "
		    "libraries, wants it or CAP_CHECKPOINT_RESTORE)");
	else if (l->attached)
		add(cl, "privileges", "CAP_SYS_ADMIN", ST_NOTE,
		    "not held; not needed: this kernel lets CAP_PERFMON create uprobes");
	else
		add(cl, "privileges", "CAP_SYS_ADMIN", ST_MISSING,
		    "needs CAP_SYS_ADMIN (or root) %s", caps_why(CAPS_UPROBE));
}

static void judge_other_caps(struct checklist *cl, const struct privs *p, const struct kern *k)
{
	bool unlimited = p->memlock.rlim_cur == RLIM_INFINITY;

	if (has_cap(p, CAP_SYS_PTRACE))
		add(cl, "privileges", "CAP_SYS_PTRACE", ST_OK, "held");
	else
		add(cl, "privileges", "CAP_SYS_PTRACE", ST_MISSING,
		    "needs CAP_SYS_PTRACE (or root) %s", caps_why(CAPS_PROC));
	if (has_cap(p, CAP_DAC_READ_SEARCH) || has_cap(p, CAP_DAC_OVERRIDE))
		add(cl, "privileges", "CAP_DAC_READ_SEARCH", ST_OK, "held");
	else
		add(cl, "privileges", "CAP_DAC_READ_SEARCH", ST_NOTE, "not held; needed %s",
		    caps_why(CAPS_PROC_PRIVATE));
	if (has_cap(p, CAP_SYS_RESOURCE))
		add(cl, "privileges", "CAP_SYS_RESOURCE", ST_OK, "held");
	else if (k->memcg)
		add(cl, "privileges", "CAP_SYS_RESOURCE", ST_NOTE,
		    "not held; not needed: this kernel charges BPF memory to the memory cgroup, "
		    "not to RLIMIT_MEMLOCK");
	else if (unlimited)
		add(cl, "privileges", "CAP_SYS_RESOURCE", ST_NOTE,
		    "not held; not needed: RLIMIT_MEMLOCK is already unlimited");
	else
		add(cl, "privileges", "CAP_SYS_RESOURCE", ST_MISSING,
		    "this kernel (< 5.11) charges BPF memory to RLIMIT_MEMLOCK (now %llu KiB): "
		    "needs CAP_SYS_RESOURCE (or root, or 'ulimit -l unlimited')",
		    (unsigned long long)p->memlock.rlim_cur / 1024);
}

static const char *unpriv_bpf_meaning(long v)
{
	switch (v) {
	case 0:
		return "unprivileged BPF allowed; leakhound needs privileges anyway";
	case 1:
		return "unprivileged BPF disabled until reboot; irrelevant with the capabilities";
	case 2:
		return "unprivileged BPF disabled; irrelevant with the capabilities";
	default:
		return "unknown value";
	}
}

static void judge_sysctls(struct checklist *cl, const struct privs *p)
{
	if (p->unpriv_bpf < 0)
		add(cl, "privileges", "kernel.unprivileged_bpf_disabled", ST_NOTE, "not readable");
	else
		add(cl, "privileges", "kernel.unprivileged_bpf_disabled", ST_NOTE, "%ld (%s)",
		    p->unpriv_bpf, unpriv_bpf_meaning(p->unpriv_bpf));
	if (p->paranoid == LONG_MIN)
		add(cl, "privileges", "kernel.perf_event_paranoid", ST_NOTE, "not readable");
	else
		add(cl, "privileges", "kernel.perf_event_paranoid", ST_NOTE,
		    "%ld (irrelevant: uprobe events need capabilities whatever its value)",
		    p->paranoid);
	if (p->ptrace_scope < 0)
		add(cl, "privileges", "kernel.yama.ptrace_scope", ST_NOTE, "no Yama LSM");
	else if (p->ptrace_scope >= 3)
		add(cl, "privileges", "kernel.yama.ptrace_scope", ST_MISSING,
		    "%ld forbids /proc/PID/mem access even with CAP_SYS_PTRACE (only a reboot "
		    "lowers it)", p->ptrace_scope);
	else
		add(cl, "privileges", "kernel.yama.ptrace_scope", ST_OK,
		    "%ld (CAP_SYS_PTRACE may read target memory)", p->ptrace_scope);
}

static void judge_privs(struct checklist *cl, const struct facts *f)
{
	const struct privs *p = &f->p;

	add(cl, "privileges", "euid", ST_NOTE, "%u%s", (unsigned)p->euid,
	    p->euid == 0 ? " (root)" : "");
	if (!p->cap_eff_known)
		add(cl, "privileges", "capabilities", ST_UNKNOWN,
		    "cannot read CapEff from /proc/self/status");
	if (p->init_userns == 0)
		add(cl, "privileges", "user namespace", ST_MISSING,
		    "runs in a user namespace, where capabilities grant no BPF: run it in the "
		    "host's user namespace (not rootless docker/podman)");
	else if (p->init_userns < 0)
		add(cl, "privileges", "user namespace", ST_UNKNOWN,
		    "cannot read /proc/self/uid_map");
	else
		add(cl, "privileges", "user namespace", ST_OK, "initial");
	judge_bpf_caps(cl, p, &f->l);
	judge_other_caps(cl, p, &f->k);
	judge_sysctls(cl, p);
}

static void judge_probe(struct checklist *cl, const char *name, int v, const char *missing)
{
	if (v == 1)
		add(cl, "kernel", name, ST_OK, "supported");
	else if (v == 0)
		add(cl, "kernel", name, ST_MISSING, "%s", missing);
	else
		add(cl, "kernel", name, ST_UNKNOWN,
		    "not probed: probing loads BPF, which needs the capabilities above");
}

static void judge_kernel(struct checklist *cl, const struct kern *k)
{
	add(cl, "kernel", "release", ST_NOTE, "%s", k->uts.release);
	if (k->btf)
		add(cl, "kernel", "BTF", ST_OK, "/sys/kernel/btf/vmlinux");
	else
		add(cl, "kernel", "BTF", ST_MISSING,
		    "no /sys/kernel/btf/vmlinux: needs a kernel built with CONFIG_DEBUG_INFO_BTF=y "
		    "(CO-RE relocations)");
	if (k->uprobe_pmu >= 0)
		add(cl, "kernel", "uprobe PMU", ST_OK, "perf event type %ld", k->uprobe_pmu);
	else if (k->tracefs == 1)
		add(cl, "kernel", "uprobe PMU", ST_NOTE,
		    "absent: libbpf falls back to tracefs uprobe_events, which a killed "
		    "leakhound leaves behind");
	else
		add(cl, "kernel", "uprobe PMU", ST_MISSING,
		    "no /sys/bus/event_source/devices/uprobe and no tracefs uprobe_events: needs "
		    "a kernel with CONFIG_UPROBE_EVENTS=y");
	add(cl, "kernel", "tracefs", ST_NOTE, "%s",
	    k->tracefs == 1 ? "/sys/kernel/tracing/uprobe_events readable" :
			      "uprobe_events not readable as this user (not needed with the PMU)");
	judge_probe(cl, "ring buffer maps", k->ringbuf,
		    "BPF_MAP_TYPE_RINGBUF unsupported: needs kernel 5.8+");
	judge_probe(cl, "bpf_get_stack", k->get_stack,
		    "bpf_get_stack() unavailable to uprobe programs: needs kernel 4.18+");
	if (!k->init_pidns)
		add(cl, "kernel", "PID namespace", ST_NOTE,
		    "not the initial one: tgids are matched in this namespace");
}

static void judge_live_detach(struct checklist *cl, const struct live *l)
{
	bool restored = l->text[2] == l->text[0];

	if (!restored)
		add(cl, "live", "detach", ST_MISSING,
		    "the probed function's first byte is still %#x (was %#x): a uprobe is "
		    "still installed", l->text[2], l->text[0]);
	else if (l->prog_gone == 0)
		add(cl, "live", "detach", ST_MISSING, "BPF program id %u is still loaded",
		    l->prog_id);
	else if (l->events_same == 0)
		add(cl, "live", "detach", ST_MISSING, "uprobe_events changed during the test");
	else if (!l->prog_id)
		add(cl, "live", "detach", ST_OK, "nothing was loaded, text unchanged");
	else
		add(cl, "live", "detach", ST_OK, "text restored, program %s, uprobe_events %s",
		    l->prog_gone == 1 ? "unloaded" :
					"released (unload not verifiable without CAP_SYS_ADMIN)",
		    l->events_same == 1 ? "unchanged" : "not readable");
}

static bool stage_before(const struct live *l, const char *stage, const char *const *order)
{
	for (; *order; order++) {
		if (l->failed && strcmp(*order, l->failed) == 0)
			return false;
		if (strcmp(*order, stage) == 0)
			return true;
	}
	return false;
}

static void judge_live(struct checklist *cl, const struct live *l)
{
	static const char *const order[] = { "load", "resolve", "attach", "hits", "records",
					     "stats", NULL };

	if (stage_before(l, "load", order))
		add(cl, "live", "load", ST_OK, "BPF object verified and loaded");
	if (stage_before(l, "resolve", order))
		add(cl, "live", "resolve", ST_OK, "lh_check_target at %s+%#" PRIx64 " (%s)",
		    l->exe, l->off, l->from_symtab ? ".symtab, matches /proc/self/maps" :
						     "no .symtab: from /proc/self/maps");
	if (stage_before(l, "attach", order))
		add(cl, "live", "attach", ST_OK, "uprobe installed (first byte %#x -> %#x)",
		    l->text[0], l->text[1]);
	if (stage_before(l, "hits", order))
		add(cl, "live", "hits", ST_OK, "%" PRIu64 " of %u calls counted", l->hits,
		    l->calls);
	if (stage_before(l, "records", order))
		add(cl, "live", "records", ST_OK,
		    "%u ring-buffer records, every argument seen, user stacks up to %d frames "
		    "from the probed function", l->good, l->frames);
	if (stage_before(l, "stats", order))
		add(cl, "live", "stats", ST_OK, "no BPF-side failures");
	if (l->failed)
		add(cl, "live", l->failed, ST_MISSING, "%s", l->why);
	judge_live_detach(cl, l);
}

/* ---- output ---- */

static void print_text(const struct checklist *cl)
{
	const char *section = NULL;

	for (size_t i = 0; i < cl->n; i++) {
		const struct item *it = &cl->it[i];

		if (!section || strcmp(section, it->section) != 0) {
			section = it->section;
			printf("%s\n", section);
		}
		printf("  %-8s %s: %s\n", status_names[it->st], it->name, it->detail);
	}
	if (cl->bad)
		printf("\nleakhound cannot run here: %u item%s MISSING or UNKNOWN above\n", cl->bad,
		       cl->bad == 1 ? "" : "s");
	else
		printf("\nleakhound can run here\n");
}

static void json_tristate(cJSON *o, const char *name, int v)
{
	if (v < 0)
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddBoolToObject(o, name, v);
}

static void json_long(cJSON *o, const char *name, long v, bool known)
{
	if (known)
		cJSON_AddNumberToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

static cJSON *json_privs(const struct privs *p)
{
	static const struct {
		int cap;
		const char *name;
	} caps[] = { { CAP_BPF, "CAP_BPF" },		 { CAP_PERFMON, "CAP_PERFMON" },
		     { CAP_SYS_PTRACE, "CAP_SYS_PTRACE" }, { CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },
		     { CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE" },
		     { CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH" } };
	cJSON *o = cJSON_CreateObject(), *c;
	char hex[24];

	cJSON_AddNumberToObject(o, "euid", p->euid);
	snprintf(hex, sizeof(hex), "%#" PRIx64, p->cap_eff);
	if (p->cap_eff_known)
		cJSON_AddStringToObject(o, "cap_eff", hex);
	else
		cJSON_AddNullToObject(o, "cap_eff");
	c = cJSON_AddObjectToObject(o, "capabilities");
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		cJSON_AddBoolToObject(c, caps[i].name, has_cap(p, caps[i].cap));
	json_long(o, "cap_last_cap", p->cap_last, p->cap_last >= 0);
	json_tristate(o, "init_user_ns", p->init_userns);
	json_long(o, "unprivileged_bpf_disabled", p->unpriv_bpf, p->unpriv_bpf >= 0);
	json_long(o, "perf_event_paranoid", p->paranoid, p->paranoid != LONG_MIN);
	json_long(o, "ptrace_scope", p->ptrace_scope, p->ptrace_scope >= 0);
	if (p->memlock.rlim_cur == RLIM_INFINITY)
		cJSON_AddStringToObject(o, "memlock_rlimit", "unlimited");
	else
		cJSON_AddNumberToObject(o, "memlock_rlimit", (double)p->memlock.rlim_cur);
	return o;
}

static cJSON *json_kernel(const struct kern *k)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "release", k->uts.release);
	cJSON_AddBoolToObject(o, "btf", k->btf);
	cJSON_AddNumberToObject(o, "uprobe_pmu_type", k->uprobe_pmu);
	cJSON_AddBoolToObject(o, "tracefs_uprobe_events", k->tracefs == 1);
	json_tristate(o, "ringbuf", k->ringbuf);
	json_tristate(o, "bpf_get_stack", k->get_stack);
	cJSON_AddBoolToObject(o, "memcg_accounting", k->memcg);
	cJSON_AddBoolToObject(o, "init_pid_ns", k->init_pidns);
	return o;
}

static cJSON *json_live(const struct live *l)
{
	cJSON *o = cJSON_CreateObject(), *s;

	cJSON_AddBoolToObject(o, "passed", !l->failed);
	if (l->failed) {
		cJSON_AddStringToObject(o, "failed_stage", l->failed);
		cJSON_AddStringToObject(o, "error", l->why);
	}
	cJSON_AddStringToObject(o, "binary", l->exe);
	cJSON_AddStringToObject(o, "symbol", "lh_check_target");
	cJSON_AddNumberToObject(o, "offset", (double)l->off);
	cJSON_AddBoolToObject(o, "offset_from_symtab", l->from_symtab);
	cJSON_AddNumberToObject(o, "calls", l->calls);
	cJSON_AddNumberToObject(o, "hits", (double)l->hits);
	cJSON_AddNumberToObject(o, "records", l->records);
	cJSON_AddNumberToObject(o, "records_ok", l->good);
	cJSON_AddNumberToObject(o, "max_stack_frames", l->frames);
	s = cJSON_AddObjectToObject(o, "stats");
	for (int i = 0; i < LH_STAT__COUNT; i++)
		cJSON_AddNumberToObject(s, lh_stat_name(i), (double)l->stats[i]);
	cJSON_AddBoolToObject(o, "text_restored", l->text[2] == l->text[0]);
	json_tristate(o, "prog_unloaded", l->prog_gone);
	json_tristate(o, "uprobe_events_unchanged", l->events_same);
	return o;
}

static int print_json(const struct facts *f, const struct checklist *cl)
{
	cJSON *root = cJSON_CreateObject(), *items;

	cJSON_AddStringToObject(root, "version", LEAKHOUND_VERSION);
	cJSON_AddBoolToObject(root, "ok", cl->bad == 0);
	cJSON_AddItemToObject(root, "privileges", json_privs(&f->p));
	cJSON_AddItemToObject(root, "kernel", json_kernel(&f->k));
	cJSON_AddItemToObject(root, "live", json_live(&f->l));
	items = cJSON_AddArrayToObject(root, "items");
	for (size_t i = 0; i < cl->n; i++) {
		cJSON *it = cJSON_CreateObject();

		cJSON_AddStringToObject(it, "section", cl->it[i].section);
		cJSON_AddStringToObject(it, "name", cl->it[i].name);
		cJSON_AddStringToObject(it, "status", status_names[cl->it[i].st]);
		cJSON_AddStringToObject(it, "detail", cl->it[i].detail);
		cJSON_AddItemToArray(items, it);
	}
	return json_emit(root);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: leakhound check [--json] [--calls N] [-v]\n"
		"\n"
		"Checks the privileges and kernel features leakhound needs, then attaches a\n"
		"uprobe to a function of leakhound itself and checks every hit arrives.\n"
		"Exits 0 only if leakhound can run here.\n"
		"\n"
		"  --json          the same facts as one JSON object on stdout\n"
		"  --calls N       call the probed function N times (1-%d, default %d)\n"
		"  -v, --verbose   libbpf's messages on stderr (repeat for debug)\n",
		CHECK_CALLS_MAX, CHECK_CALLS);
}

static int parse_calls(const char *arg, unsigned *calls)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || v < 1 || v > CHECK_CALLS_MAX) {
		log_err("--calls wants a number from 1 to %d, not '%s'", CHECK_CALLS_MAX, arg);
		return -EINVAL;
	}
	*calls = v;
	return 0;
}

static int parse_args(int argc, char **argv, bool *json, unsigned *calls)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "calls", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'n':
			if (parse_calls(optarg, calls))
				return 2;
			break;
		case 'v':
			log_verbosity++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

int cmd_check(int argc, char **argv)
{
	static struct facts f; /* static: ~20 KiB, and cmd_check runs once */
	static struct checklist cl;
	bool json = false;
	int ret;

	f.l.calls = CHECK_CALLS;
	ret = parse_args(argc, argv, &json, &f.l.calls);
	if (ret >= 0)
		return ret;
	gather_privs(&f.p);
	gather_kernel(&f.k, &f.p);
	live_run(&f.l, &f.k);
	judge_privs(&cl, &f);
	judge_kernel(&cl, &f.k);
	judge_live(&cl, &f.l);
	if (json ? print_json(&f, &cl) : (print_text(&cl), 0))
		return 1;
	return cl.bad ? 1 : 0;
}
