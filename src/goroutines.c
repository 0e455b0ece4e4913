// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A snapshot of every goroutine of a running Go process, read out of its memory:
 * runtime.allgptr/allglen (runtime/proc.go allgadd, 1.19-1.26), then every g in one
 * read and the used part of its stack in one read, unwound with frame pointers from
 * the registers the scheduler saved in g.sched (GO-RUNTIME.md §3.3-3.4, §5). Nothing
 * is stopped: the program runs on while we read, so every pointer is checked against
 * /proc/PID/maps, every loop is bounded and a g that does not hold together is read
 * again, then skipped and counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "goroutines.h"
#include "gosym.h"
#include "target.h"

/* A stack read stops here: deeper frames are not unwound (GSTACK_TRUNCATED). */
#define STACK_READ_MAX (256 << 10)
/* g.stack.hi - g.stack.lo: the runtime's maxstacksize is 1 GB on 64-bit. */
#define STACK_SIZE_MAX (1ull << 30)
/* A goroutine id beyond this is a torn read (ids count up from 1). */
#define GOID_MAX	    (1ull << 48)
#define WAIT_REASON_LEN_MAX 128
#define WAIT_REASONS_MAX    256 /* waitreason is a uint8 */
#define G_SIZE_MAX	    4096
/*
 * gs read per batch, and the stack bytes a batch reads per goroutine (a parked
 * goroutine uses a few hundred): a deeper stack is read alone.
 */
#define BATCH	   256
#define SPD_BITS   8
#define STACK_SLOT 4096

struct maps {
	struct target_range *r;
	size_t n;
};

struct reader {
	struct target *t;
	const struct gosym *sym;
	const int64_t *off;
	struct maps maps;
	size_t gsize;
	uint64_t text_lo, text_hi; /* link-time */
	uint8_t *stack;		   /* STACK_READ_MAX bytes, for a stack read alone */
	const uint8_t *cur;	   /* the stack being unwound, from its saved sp */
	uint8_t *gbuf;		   /* BATCH gs */
	uint8_t *sbuf;		   /* BATCH stack slots */
	struct target_iov iov[BATCH];
	struct goroutine_snapshot *s;
	size_t pcs_cap, g_cap;
	/* pcsp values of the saved pcs seen */
	uint64_t spd_pc[1 << SPD_BITS];
	int32_t spd[1 << SPD_BITS];
	/* start functions of the last few gs: most gs share a handful */
	uint64_t sys_pc[8];
	int8_t sys_val[8];
};

static const char *const status_names[] = {
	[GSTATUS_IDLE] = "idle",	   [GSTATUS_RUNNABLE] = "runnable",
	[GSTATUS_RUNNING] = "running",	   [GSTATUS_SYSCALL] = "syscall",
	[GSTATUS_WAITING] = "waiting",	   [5] = "moribund",
	[GSTATUS_DEAD] = "dead",	   [7] = "enqueue",
	[GSTATUS_COPYSTACK] = "copystack", [GSTATUS_PREEMPTED] = "preempted",
	[GSTATUS_LEAKED] = "leaked",	   [GSTATUS_DEADEXTRA] = "dead",
};

const char *goroutine_status_name(uint32_t status)
{
	status &= ~(uint32_t)GSTATUS_SCAN;
	if (status >= sizeof(status_names) / sizeof(status_names[0]) || !status_names[status])
		return "?";
	return status_names[status];
}

const char *goroutine_state(const struct goroutine_snapshot *s, const struct goroutine *g)
{
	/* runtime/traceback.go goroutineheader: waitReasonZero (0) shows the status */
	if (g->status == GSTATUS_WAITING && g->wait_reason > 0) {
		if ((uint32_t)g->wait_reason < s->nreasons && s->reasons[g->wait_reason] &&
		    *s->reasons[g->wait_reason])
			return s->reasons[g->wait_reason];
		return "waiting (unknown reason)";
	}
	return goroutine_status_name(g->status);
}

/* ---- the target's memory map ---- */

/* [addr, addr + len) lies inside one readable range. */
static bool maps_has(const struct maps *m, uint64_t addr, uint64_t len)
{
	size_t lo = 0, hi = m->n;

	if (addr + len < addr)
		return false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->r[mid].end <= addr)
			lo = mid + 1;
		else if (m->r[mid].start > addr)
			hi = mid;
		else
			return addr + len <= m->r[mid].end;
	}
	return false;
}

/*
 * runtime.nanotime() is CLOCK_MONOTONIC (runtime/sys_linux_amd64.s nanotime1) in the
 * target's time namespace: ours plus that namespace's monotonic offset.
 */
static int64_t target_nanotime(pid_t pid)
{
	struct timespec ts;
	int64_t now, sec = 0, nsec = 0;
	char path[64], line[128];
	struct stat a, b;
	FILE *f;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	snprintf(path, sizeof(path), "/proc/%d/ns/time", pid);
	if (stat(path, &a) || stat("/proc/self/ns/time", &b) || a.st_ino == b.st_ino)
		return now;
	snprintf(path, sizeof(path), "/proc/%d/timens_offsets", pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "monotonic %" SCNd64 " %" SCNd64, &sec, &nsec) == 2)
			break;
	if (f)
		fclose(f);
	return now + sec * 1000000000 + nsec;
}

/* ---- runtime globals ---- */

/* runtime.waitReasonStrings: [N]string in .data, strings in .rodata. */
static void read_reasons(struct reader *r)
{
	const struct go_global *gl = &r->t->bin->globals.global[GLOBAL_WAITREASONSTRINGS];
	struct goroutine_snapshot *s = r->s;
	uint64_t hdr[2 * WAIT_REASONS_MAX];
	uint32_t n = gl->aux;

	if (!gl->found || !n || n > WAIT_REASONS_MAX ||
	    target__read(r->t, gl->addr + r->t->bias, hdr, n * 16))
		return;
	s->reasons = calloc(n, sizeof(*s->reasons));
	if (!s->reasons)
		return;
	s->nreasons = n;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t p = hdr[2 * i], len = hdr[2 * i + 1];
		char *str;

		if (len > WAIT_REASON_LEN_MAX || (len && !maps_has(&r->maps, p, len)))
			continue;
		str = calloc(1, len + 1);
		if (str && len && target__read(r->t, p, str, len)) {
			free(str);
			str = NULL;
		}
		s->reasons[i] = str;
	}
}

/*
 * The g pointers. allgadd publishes allgptr before allglen (runtime/proc.go), so
 * reading allglen first never sees a length beyond the array behind the pointer; the
 * allgs slice is only consistent under allglock and serves when the two are unknown.
 */
static int read_allgs(struct reader *r, uint64_t **out, uint64_t *count)
{
	const struct go_global *gl = r->t->bin->globals.global;
	uint64_t bias = r->t->bias, len = 0, ptr = 0, hdr[2];
	uint64_t *a;
	int err;

	if (gl[GLOBAL_ALLGLEN].found && gl[GLOBAL_ALLGPTR].found) {
		err = target__read(r->t, gl[GLOBAL_ALLGLEN].addr + bias, &len, 8);
		if (!err)
			err = target__read(r->t, gl[GLOBAL_ALLGPTR].addr + bias, &ptr, 8);
		r->s->allgs_how = "runtime.allgptr/allglen";
	} else if (gl[GLOBAL_ALLGS].found) {
		err = target__read(r->t, gl[GLOBAL_ALLGS].addr + bias, hdr, sizeof(hdr));
		ptr = hdr[0];
		len = hdr[1];
		r->s->allgs_how = "runtime.allgs";
	} else {
		return -ENOENT;
	}
	if (err)
		return err;
	if (len > GOROUTINES_MAX)
		return -E2BIG;
	*count = len;
	if (!len)
		return 0;
	if (ptr & 7 || !maps_has(&r->maps, ptr, len * 8))
		return -EFAULT;
	a = malloc(len * 8);
	if (!a)
		return -ENOMEM;
	err = target__read(r->t, ptr, a, len * 8);
	if (err) {
		free(a);
		return err;
	}
	*out = a;
	return 0;
}

/* ---- one g ---- */

static uint64_t rd64(const uint8_t *b, int64_t off)
{
	uint64_t v;

	memcpy(&v, b + off, 8);
	return v;
}

static uint32_t rd32(const uint8_t *b, int64_t off)
{
	uint32_t v;

	memcpy(&v, b + off, 4);
	return v;
}

/* The fields the snapshot reads, as one read of the g gave them. */
struct graw {
	uint64_t lo, hi, sp, pc, bp, goid, parent, gopc, startpc;
	int64_t waitsince;
	uint32_t status;
	bool scan;
	uint8_t reason;
};

static void g_decode(const struct reader *r, const uint8_t *b, struct graw *g)
{
	const int64_t *o = r->off;
	uint32_t st = rd32(b, o[OFF_G_ATOMICSTATUS]);

	g->lo = rd64(b, o[OFF_G_STACK_LO]);
	g->hi = rd64(b, o[OFF_G_STACK_HI]);
	g->sp = rd64(b, o[OFF_G_SCHED_SP]);
	g->pc = rd64(b, o[OFF_G_SCHED_PC]);
	g->bp = rd64(b, o[OFF_G_SCHED_BP]);
	g->goid = rd64(b, o[OFF_G_GOID]);
	g->parent = o[OFF_G_PARENTGOID] >= 0 ? rd64(b, o[OFF_G_PARENTGOID]) : 0;
	g->gopc = rd64(b, o[OFF_G_GOPC]);
	g->startpc = rd64(b, o[OFF_G_STARTPC]);
	g->waitsince = (int64_t)rd64(b, o[OFF_G_WAITSINCE]);
	g->reason = b[o[OFF_G_WAITREASON]];
	g->scan = st & GSTATUS_SCAN;
	g->status = st & ~(uint32_t)GSTATUS_SCAN;
}

static bool dead(uint32_t status)
{
	return status == GSTATUS_DEAD || status == GSTATUS_IDLE || status == GSTATUS_DEADEXTRA;
}

static bool in_text(const struct reader *r, uint64_t pc)
{
	pc -= r->t->bias;
	return pc >= r->text_lo && pc < r->text_hi;
}

/*
 * Whether the fields of a live g hold together: a known status, an id, a stack inside
 * the target's memory, and start and creation pcs in the program's text when set (only
 * newproc1 sets them: the g of a cgo callback's extra M has none). A g being reused
 * (gfget) or torn by a concurrent write fails one of them.
 */
static bool g_sane(const struct reader *r, const struct graw *g)
{
	if (g->status > GSTATUS_DEADEXTRA || g->status == 5 || g->status == 7)
		return false;
	if (dead(g->status))
		return true;
	if (!g->goid || g->goid > GOID_MAX || g->lo >= g->hi || g->hi - g->lo > STACK_SIZE_MAX)
		return false;
	if ((g->startpc && !in_text(r, g->startpc)) || (g->gopc && !in_text(r, g->gopc)))
		return false;
	return maps_has(&r->maps, g->lo, g->hi - g->lo);
}

/*
 * runtime/traceback.go isSystemGoroutine (1.19-1.26): the start function is in package
 * runtime, except runtime.main, runtime.corostart (1.23+) and handleAsyncEvent (wasm).
 * The finalizer and cleanup goroutines count as system unless they are running user
 * code at that moment, which NumGoroutine does not see either: sched.ngsys counts
 * them when they are created.
 */
static bool is_system(struct reader *r, uint64_t startpc)
{
	struct gosym_func fn;
	int slot = (startpc >> 4) & 7;
	bool sys;

	if (r->sys_pc[slot] == startpc)
		return r->sys_val[slot];
	if (gosym__func_by_pc(r->sym, startpc - r->t->bias, &fn))
		return false;
	sys = strncmp(fn.name, "runtime.", 8) == 0 && strcmp(fn.name, "runtime.main") &&
	      strcmp(fn.name, "runtime.corostart") && strcmp(fn.name, "runtime.handleAsyncEvent");
	r->sys_pc[slot] = startpc;
	r->sys_val[slot] = sys;
	return sys;
}

static const char *func_name(const struct reader *r, uint64_t pc, uint64_t *entry)
{
	struct gosym_func fn;

	if (gosym__func_by_pc(r->sym, pc - r->t->bias, &fn))
		return NULL;
	if (entry)
		*entry = fn.entry + r->t->bias;
	return fn.name;
}

/* pcsp of a pc, through a small cache: most goroutines stop at a handful of pcs. */
static int sp_delta(struct reader *r, uint64_t pc, int32_t *delta)
{
	uint32_t slot = (pc * 0x9e3779b97f4a7c15ull) >> (64 - SPD_BITS);
	int err;

	if (r->spd_pc[slot] == pc) {
		*delta = r->spd[slot];
		return 0;
	}
	err = gosym__sp_delta(r->sym, pc - r->t->bias, delta);
	if (err)
		return err;
	r->spd_pc[slot] = pc;
	r->spd[slot] = *delta;
	return 0;
}

static int push_pc(struct reader *r, uint64_t pc)
{
	struct goroutine_snapshot *s = r->s;

	if (s->npcs == r->pcs_cap) {
		size_t cap = r->pcs_cap ? 2 * r->pcs_cap : 4096;
		uint64_t *p = realloc(s->pcs, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->pcs = p;
		r->pcs_cap = cap;
	}
	s->pcs[s->npcs++] = pc;
	return 0;
}

static uint64_t stack_word(const struct reader *r, uint64_t sp, uint64_t addr)
{
	uint64_t v;

	memcpy(&v, r->cur + (addr - sp), 8);
	return v;
}

/* Where a goroutine's stack can be read: [sp, *top), or false when it cannot. */
static bool stack_range(const struct reader *r, const struct graw *g, uint64_t *top)
{
	if (g->sp < g->lo || g->sp >= g->hi || !in_text(r, g->pc))
		return false;
	*top = g->hi - g->sp > STACK_READ_MAX ? g->sp + STACK_READ_MAX : g->hi;
	return true;
}

/*
 * Frames from g.sched: pc, then the frame-pointer chain from bp (every Go function
 * with a frame pushes bp; mcall saves the bp of gopark's frame). The chain must stay
 * inside [sp, the end of what was read) and go up the stack; it ends at
 * runtime.goexit, the fake return address of every goroutine, or at a zero bp.
 */
static int unwind(struct reader *r, const struct graw *g, const uint8_t *stack)
{
	uint64_t top, entry = 0, bp = g->bp;
	const char *name;
	bool async = false;
	int32_t delta;
	int n = 0, err;

	if (!stack_range(r, g, &top))
		return GSTACK_UNREADABLE;
	if (!stack) {
		if (target__read(r->t, g->sp, r->stack, top - g->sp))
			return GSTACK_UNREADABLE;
		stack = r->stack;
	}
	r->cur = stack;
	if (!func_name(r, g->pc, &entry))
		return GSTACK_UNREADABLE;
	/* a goroutine that never ran sits at its function's entry: not a return address */
	name = g->pc == entry ? func_name(r, g->pc, NULL) : func_name(r, g->pc - 1, NULL);
	err = push_pc(r, g->pc - r->t->bias + (g->pc == entry));
	if (err)
		return err;
	n++;
	/*
	 * The first frame from its pcsp rather than from the saved bp: the bp that
	 * entersyscall leaves in g.sched is stale up to 1.22 (runtime/proc.go save() sets
	 * pc and sp only; 1.23 added bp), and a function stopped in its prologue
	 * (morestack) has no frame of its own yet. With a frame, its frame pointer is
	 * just below its return address; without one, its return address is on top of
	 * the saved sp and bp is still its caller's.
	 */
	if (sp_delta(r, g->pc, &delta))
		return GSTACK_TRUNCATED;
	if (delta > 0) {
		bp = g->sp + delta - 8;
	} else {
		uint64_t ret = stack_word(r, g->sp, g->sp);

		if (!in_text(r, ret))
			return GSTACK_TRUNCATED;
		if ((err = push_pc(r, ret - r->t->bias)))
			return err;
		n++;
		name = func_name(r, ret - 1, NULL);
	}
	for (;;) {
		uint64_t ret, next;

		if (name && strcmp(name, "runtime.goexit") == 0)
			return GSTACK_OK;
		if (!bp)
			return GSTACK_OK;
		if (n >= GOROUTINE_MAX_DEPTH || bp & 7 || bp < g->sp || bp + 16 > top)
			return GSTACK_TRUNCATED;
		ret = stack_word(r, g->sp, bp + 8);
		next = stack_word(r, g->sp, bp);
		if (!in_text(r, ret))
			return GSTACK_TRUNCATED;
		/* asyncPreempt's return address is the instruction it interrupted */
		async = name && strcmp(name, "runtime.asyncPreempt") == 0;
		if ((err = push_pc(r, ret - r->t->bias + async)))
			return err;
		n++;
		name = func_name(r, ret - !async, NULL);
		if (next && next <= bp)
			return GSTACK_TRUNCATED;
		bp = next;
	}
}

static struct goroutine *new_record(struct reader *r)
{
	struct goroutine_snapshot *s = r->s;

	if (s->n == r->g_cap) {
		size_t cap = r->g_cap ? 2 * r->g_cap : 1024;
		struct goroutine *g = realloc(s->g, cap * sizeof(*g));

		if (!g)
			return NULL;
		s->g = g;
		r->g_cap = cap;
	}
	return &s->g[s->n];
}

static void fill_record(struct reader *r, const struct graw *raw, uint64_t addr,
			struct goroutine *g)
{
	uint64_t bias = r->t->bias;

	*g = (struct goroutine){
		.goid = raw->goid,
		.parent_goid = raw->parent,
		.gaddr = addr,
		.status = raw->status,
		.wait_reason = raw->status == GSTATUS_WAITING ? raw->reason : -1,
		.wait_ns = -1,
		.startpc = raw->startpc ? raw->startpc - bias : 0,
		.gopc = raw->gopc ? raw->gopc - bias : 0,
		.pc_off = r->s->npcs,
	};
	g->system = is_system(r, raw->startpc);
	/* runtime/mgcmark.go markroot: set by the first GC that sees the g blocked */
	if ((raw->status == GSTATUS_WAITING || raw->status == GSTATUS_SYSCALL) &&
	    raw->waitsince > 0 && r->s->nanotime >= raw->waitsince)
		g->wait_ns = r->s->nanotime - raw->waitsince;
}

/* Records a live g and its stack (NULL: read it alone). */
static bool stale(const struct graw *g)
{
	return g->status == GSTATUS_RUNNING || g->status == GSTATUS_COPYSTACK;
}

/*
 * A chain that breaks was most likely read while the goroutine ran again: read its g
 * and its stack once more, alone, and unwind what they say now.
 */
static int unwind_again(struct reader *r, uint64_t addr, struct graw *raw, struct goroutine *g)
{
	struct graw now;

	if (target__read(r->t, addr, r->gbuf, r->gsize))
		return GSTACK_TRUNCATED;
	g_decode(r, r->gbuf, &now);
	if (!g_sane(r, &now) || dead(now.status) || now.goid != raw->goid)
		return GSTACK_TRUNCATED;
	*raw = now;
	r->s->npcs = g->pc_off;
	return stale(raw) ? GSTACK_RUNNING : unwind(r, raw, NULL);
}

static int record(struct reader *r, const struct graw *raw0, uint64_t addr, const uint8_t *stack)
{
	struct goroutine_snapshot *s = r->s;
	struct goroutine *g = new_record(r);
	struct graw raw = *raw0;
	int st;

	if (!g)
		return -ENOMEM;
	fill_record(r, &raw, addr, g);
	/* a running g's sched is what it saved last time it stopped: stale (traceback.go) */
	st = stale(&raw) ? GSTACK_RUNNING : unwind(r, &raw, stack);
	if (st == GSTACK_TRUNCATED) {
		uint32_t off = g->pc_off;

		st = unwind_again(r, addr, &raw, g);
		if (st >= 0) {
			fill_record(r, &raw, addr, g);
			g->pc_off = off;
		}
	}
	if (st < 0)
		return st;
	g->stack = st;
	g->npcs = s->npcs - g->pc_off;
	if (st == GSTACK_TRUNCATED || st == GSTACK_UNREADABLE)
		s->stack_errors++;
	if (g->system)
		s->system++;
	else
		s->user++;
	s->n++;
	return 0;
}

/*
 * A g of the batch as read: kept when it holds together, else read once more alone;
 * still inconsistent, it is changing under us (torn). false: nothing to record.
 */
static bool check_g(struct reader *r, size_t i, bool mapped, struct graw *raw)
{
	struct goroutine_snapshot *s = r->s;
	uint8_t *buf = r->gbuf + i * r->gsize;

	if (!mapped || r->iov[i].err) {
		s->unreadable++;
		return false;
	}
	g_decode(r, buf, raw);
	if (!g_sane(r, raw)) {
		if (target__read(r->t, r->iov[i].addr, buf, r->gsize)) {
			s->unreadable++;
			return false;
		}
		g_decode(r, buf, raw);
		if (!g_sane(r, raw)) {
			s->torn++;
			return false;
		}
	}
	if (dead(raw->status)) {
		s->dead++;
		return false;
	}
	return true;
}

/* The used part of a live g's stack into its slot, when it fits one. */
static bool stack_iov(struct reader *r, const struct graw *g, size_t i)
{
	uint64_t top;

	r->iov[i] = (struct target_iov){ .buf = r->sbuf + i * STACK_SLOT };
	if (g->status == GSTATUS_RUNNING || g->status == GSTATUS_COPYSTACK ||
	    !stack_range(r, g, &top) || top - g->sp > STACK_SLOT)
		return false;
	r->iov[i].addr = g->sp;
	r->iov[i].len = top - g->sp;
	return true;
}

/*
 * Up to BATCH gs: every g in one batched read, then the used part of every stack
 * that fits a slot in a second one, then the records, in allgs order. A pointer
 * outside the target's memory is read as nothing (length 0) and counted.
 */
static int read_batch(struct reader *r, const uint64_t *ptrs, size_t n)
{
	bool mapped[BATCH], live[BATCH], slot[BATCH];
	struct graw raw[BATCH];
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		mapped[i] = !(ptrs[i] & 7) && maps_has(&r->maps, ptrs[i], r->gsize);
		r->iov[i] = (struct target_iov){ ptrs[i], r->gbuf + i * r->gsize,
						 mapped[i] ? r->gsize : 0, 0 };
	}
	target__readv(r->t, r->iov, n);
	for (size_t i = 0; i < n; i++)
		live[i] = check_g(r, i, mapped[i], &raw[i]);
	for (size_t i = 0; i < n; i++)
		slot[i] = live[i] && stack_iov(r, &raw[i], i);
	target__readv(r->t, r->iov, n);
	for (size_t i = 0; i < n && !err; i++) {
		if (!live[i])
			continue;
		err = record(r, &raw[i], ptrs[i], slot[i] && !r->iov[i].err ? r->iov[i].buf : NULL);
	}
	return err;
}

/* Bytes of a g to read: sizeof(runtime.g), or up to the last field we use. */
static size_t g_read_size(const int64_t *off)
{
	static const int fields[] = {OFF_G_STACK_LO, OFF_G_STACK_HI,  OFF_G_SCHED_SP,
				     OFF_G_SCHED_PC, OFF_G_SCHED_BP,  OFF_G_ATOMICSTATUS,
				     OFF_G_GOID,     OFF_G_WAITSINCE, OFF_G_WAITREASON,
				     OFF_G_GOPC,     OFF_G_STARTPC};
	int64_t end = 0;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (off[fields[i]] < 0)
			return 0;
		if (off[fields[i]] + 8 > end)
			end = off[fields[i]] + 8;
	}
	if (off[OFF_G_PARENTGOID] + 8 > end)
		end = off[OFF_G_PARENTGOID] + 8;
	if (off[OFF_G_SIZE] >= end)
		end = off[OFF_G_SIZE];
	return end <= G_SIZE_MAX ? end : 0;
}

static int reader_init(struct reader *r, struct target *t, struct goroutine_snapshot *s)
{
	const struct gosym_info *si;

	memset(r, 0, sizeof(*r));
	r->t = t;
	r->s = s;
	r->sym = t->bin->sym;
	r->off = t->bin->offsets.val;
	if (!t->bin->supported)
		return -ENOTSUP;
	if (t->bin->offsets_err)
		return -ENOENT;
	r->gsize = g_read_size(r->off);
	if (!r->gsize)
		return -ENOENT;
	si = gosym__info(r->sym);
	r->text_lo = si->text;
	r->text_hi = si->etext;
	r->stack = malloc(STACK_READ_MAX);
	r->gbuf = malloc(BATCH * r->gsize);
	r->sbuf = malloc(BATCH * STACK_SLOT);
	if (!r->stack || !r->gbuf || !r->sbuf)
		return -ENOMEM;
	return target__ranges(t, &r->maps.r, &r->maps.n);
}

static void reader_free(struct reader *r)
{
	free(r->maps.r);
	free(r->stack);
	free(r->gbuf);
	free(r->sbuf);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int goroutines__snapshot(struct target *t, struct goroutine_snapshot *s)
{
	uint64_t start = mono_ns(), *ptrs = NULL, count = 0;
	struct reader r;
	int err;

	memset(s, 0, sizeof(*s));
	err = reader_init(&r, t, s);
	if (err)
		goto out;
	s->nanotime = target_nanotime(t->pid);
	read_reasons(&r);
	err = read_allgs(&r, &ptrs, &count);
	if (err)
		goto out;
	s->allglen = count;
	for (uint64_t i = 0; i < count && !err; i += BATCH)
		err = read_batch(&r, ptrs + i, count - i < BATCH ? count - i : BATCH);
	/* nothing readable at all: the process went away under us */
	if (!err && count && s->unreadable == count && kill(t->pid, 0))
		err = -ESRCH;
	/* pcs is never NULL in a snapshot: readers add pc_off to it whatever npcs */
	if (!err && !s->pcs && !(s->pcs = calloc(1, sizeof(*s->pcs))))
		err = -ENOMEM;
out:
	s->elapsed_ns = mono_ns() - start;
	free(ptrs);
	reader_free(&r);
	if (err)
		goroutines__release(s);
	return err;
}

void goroutines__release(struct goroutine_snapshot *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nreasons; i++)
		free(s->reasons[i]);
	free(s->reasons);
	free(s->g);
	free(s->pcs);
	memset(s, 0, sizeof(*s));
}
