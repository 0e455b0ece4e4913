// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * leakhound trace -p PID: attaches the Go heap probes (bpf/goheap.bpf.c) to a running Go
 * process, turns heap sampling on when the linker disabled it (and puts the old rate
 * back on every exit path leakhound controls), and every interval reports the
 * allocation stacks with the most live sampled bytes, scaled like pprof.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "bpfmaps.h"
#include "attach.h"
#include "cli.h"
#include "commands.h"
#include "goheap.h"
#include "gosym.h"
#include "log.h"
#include "model.h"
#include "mprof.h"
#include "oom.h"
#include "pprof.h"
#include "target.h"
#include "trace_int.h"
#include "x86dec.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	stop_flag = sig;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: leakhound trace -p PID [options]\n"
		"\n"
		"Traces the Go heap and the goroutines of a running process: every interval,\n"
		"the allocation stacks with the most live (sampled, scaled like pprof) bytes,\n"
		"the goroutine creation sites with the most live goroutines, their growth, and\n"
		"leak suspects of both kinds. Stops on Ctrl-C, SIGTERM, -d or the target's exit,\n"
		"and leaves nothing attached.\n"
		"\n"
		"  -p, --pid PID        the Go process (required)\n"
		"  -i, --interval SECS  seconds between reports (default 10)\n"
		"  -d, --duration SECS  stop after this long (default: Ctrl-C or target exit)\n"
		"  -n, --top N          sites per report (default 10)\n"
		"      --rate BYTES     sampling rate to set when the target samples none\n"
		"                       (default 524288; 1 = every allocation, slow: add\n"
		"                       --budget 0 to keep it under load)\n"
		"      --no-write       never write target memory (heap tracing then needs\n"
		"                       sampling already on in the target, or --mallocgc)\n"
		"      --mallocgc       probe every allocation and sample in BPF at --rate,\n"
		"                       writing nothing: allocation profile only (no in-use,\n"
		"                       no suspects), and a trap per allocation: allocation-\n"
		"                       heavy code runs many times slower\n"
		"      --budget N       recorded probe events per second before backing off\n"
		"                       (a higher rate, or fewer events kept; default %d, 0 =\n"
		"                       no limit)\n"
		"      --no-goroutines  no goroutine tracing (creation/exit probes, snapshots)\n"
		"      --cgo[=WHEN]     trace the C heap too: outstanding malloc'd memory by\n"
		"                       mixed C + Go stack, probes on the C allocator the\n"
		"                       process uses (WHEN: auto, the default, when it is\n"
		"                       linked with cgo; on; off)\n"
		"      --no-cgo         same as --cgo=off\n"
		"      --cgo-rate BYTES sample C allocations every ~BYTES bytes (default %d;\n"
		"                       0 = every allocation)\n"
		"      --max-map-mb MIB kernel memory for the BPF maps: the maps of live objects\n"
		"                       and stacks sized to fit (default: built-in sizes,\n"
		"                       %d MiB; a full map drops events, counted and shown)\n"
		"      --dry-run        list every probe and write, touch nothing\n"
		"      --json           one JSON object per report per line (docs/TRACE.md)\n"
		"  -o, --output DIR     a pprof heap profile per report: DIR/heap-PID-N.pb.gz,\n"
		"                       and DIR/cgo-PID-N.pb.gz for the C heap\n"
		"  -h, --help           this help\n"
		"\n"
		"Snapshots: when the kernel OOM-kills the process, and earlier when its memory\n"
		"grows fast, its cgroup nears its limit or its goroutines pile up, the profiles\n"
		"and the report go to a directory of their own under --snapshot-dir (default\n"
		"%s, made when the first is written; docs/SNAPSHOTS.md).\n"
		"%s",
		DEFAULT_BUDGET, DEFAULT_CGO_RATE, BPFMAPS_BUILTIN_MB, TRACE_SNAP_DIR, snap_help);
}

static int parse_opts(int argc, char **argv, struct trace_opts *o)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "top", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "no-write", no_argument, NULL, 'W' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "mallocgc", no_argument, NULL, 'M' },
		{ "no-goroutines", no_argument, NULL, 'G' },
		{ "budget", required_argument, NULL, 'B' },
		{ "cgo", optional_argument, NULL, 'C' },
		{ "no-cgo", no_argument, NULL, 'N' },
		{ "cgo-rate", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "max-map-mb", required_argument, NULL, 'm' },
		SNAP_LONG_OPTIONS('S'),
		{},
	};
	int li = 0;
	double v;
	int c;

	*o = (struct trace_opts){
		.interval = 10, .top = 10, .budget = DEFAULT_BUDGET, .cgo_rate = DEFAULT_CGO_RATE
	};
	snap_opts_default(&o->snap, TRACE_SNAP_DIR);
	while ((c = getopt_long(argc, argv, "p:i:d:n:o:h", opts, &li)) != -1) {
		switch (c) {
		case 'S':
			if (snap_opt(&o->snap, opts[li].name, optarg) < 0)
				return -EINVAL;
			break;
		case 'p':
			if (cli_parse_num(optarg, 1, INT_MAX, &v) || v != (pid_t)v)
				goto bad;
			o->pid = v;
			break;
		case 'i':
			if (cli_parse_num(optarg, 0.1, 86400, &o->interval))
				goto bad;
			break;
		case 'd':
			if (cli_parse_num(optarg, 0.1, 1e9, &o->duration))
				goto bad;
			break;
		case 'n':
			if (cli_parse_num(optarg, 1, 10000, &v))
				goto bad;
			o->top = v;
			break;
		case 'r':
			if (cli_parse_num(optarg, 1, (double)(1 << 30), &v))
				goto bad;
			o->rate = v;
			break;
		case 'W':
			o->no_write = true;
			break;
		case 'm':
			if (cli_parse_num(optarg, 8, 16 * BPFMAPS_BUILTIN_MB, &v))
				goto bad;
			bpfmaps_scale = v / BPFMAPS_BUILTIN_MB;
			break;
		case 'D':
			o->dry_run = true;
			break;
		case 'M':
			o->mallocgc = true;
			break;
		case 'G':
			o->no_goroutines = true;
			break;
		case 'B':
			if (cli_parse_num(optarg, 0, UINT32_MAX, &v))
				goto bad;
			o->budget = v;
			break;
		case 'C':
			if (!optarg || !strcmp(optarg, "on"))
				o->cgo = CGO_ON;
			else if (!strcmp(optarg, "auto"))
				o->cgo = CGO_AUTO;
			else if (!strcmp(optarg, "off"))
				o->cgo = CGO_OFF;
			else
				goto bad;
			break;
		case 'N':
			o->cgo = CGO_OFF;
			break;
		case 'R':
			if (cli_parse_num(optarg, 0, UINT32_MAX, &v))
				goto bad;
			o->cgo_rate = v;
			break;
		case 'j':
			o->json = true;
			break;
		case 'o':
			o->outdir = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (!o->pid) {
		log_err("trace: -p PID is required (see 'leakhound trace --help')");
		return -EINVAL;
	}
	return 0;
bad:
	log_err("trace: invalid value '%s' for %s", optarg,
		c == 'r'   ? "--rate"
		: c == 'B' ? "--budget"
		: c == 'C' ? "--cgo"
		: c == 'R' ? "--cgo-rate"
		: c == 'm' ? "--max-map-mb"
		: c == 'p' ? "-p"
		: c == 'i' ? "-i"
		: c == 'd' ? "-d"
			   : "-n");
	return -EINVAL;
}

/* ---- sampling control: runtime.MemProfileRate (GO-RUNTIME.md §1.3) ---- */

static int rate_read(struct tracer *tr, int64_t *rate)
{
	return attach__rate_read(tr->t, rate);
}

static int rate_write(struct tracer *tr, int64_t rate)
{
	return attach__rate_write(tr->t, rate);
}

static bool target_alive(struct tracer *tr)
{
	return attach__alive(tr->t);
}

static void rate_restore(struct tracer *tr)
{
	int err;

	if (!tr->wrote_rate)
		return;
	tr->wrote_rate = false;
	if (!target_alive(tr))
		return;
	err = rate_write(tr, tr->old_rate);
	if (err)
		log_warn("cannot restore runtime.MemProfileRate of process %d to %" PRId64 ": %s",
			 tr->t->pid, tr->old_rate, strerror(-err));
	else if (!tr->o.json)
		printf("restored runtime.MemProfileRate = %" PRId64 "\n", tr->old_rate);
}

/* ---- setup ---- */

static unsigned int mode_of(const struct tracer *tr)
{
	return tr->o.mallocgc ? GOHEAP_MALLOCGC : GOHEAP_SAMPLED;
}

static int check_target(struct tracer *tr)
{
	struct gobin *b = tr->t->bin;
	const struct go_global *g = &b->globals.global[GLOBAL_MEMPROFILERATE];

	if (!b->supported) {
		log_err("process %d: %s is not supported (leakhound supports "
			GO_SUPPORTED_RANGE ")",
			tr->t->pid, b->bi.version_str);
		return -ENOTSUP;
	}
	for (int i = 0; i < goheap_nprobes; i++) {
		const struct go_hook *h = &b->hooks.hook[goheap_probes[i].hook];

		if (!(goheap_probes[i].mode & mode_of(tr)))
			continue;
		if (goheap_probes[i].required && !h->has_site) {
			log_err("process %d: no probe site for %s: %s", tr->t->pid, h->symbol,
				h->error ? h->error : "not found");
			return -ENOENT;
		}
	}
	if (!g->found) {
		if (tr->o.mallocgc)
			return 0; /* the rate is not read nor written in this mode */
		log_err("process %d: runtime.MemProfileRate not found (%s): cannot tell whether "
			"the runtime samples the heap", tr->t->pid, g->error ? g->error : "?");
		return -ENOENT;
	}
	tr->rate_addr = g->addr + tr->t->bias;
	return 0;
}

/* One --dry-run line: symbol, offset in the function and in the file, the instruction. */
void trace_print_probe(const struct go_hook *h)
{
	char insn[64];

	if (!h->has_site) {
		printf("probe  %-26s not attached: %s\n", h->symbol,
		       h->error ? h->error : "no site");
		return;
	}
	x86_insn_format(&h->site.insn, insn, sizeof(insn));
	printf("probe  %-26s +%#-6" PRIx64 " file offset %#-8" PRIx64 " %-20s %s\n", h->symbol,
	       h->site.addr - h->entry, h->site.file_off, insn,
	       h->site.emulated ? "emulated" : "single-stepped");
}

static void print_probes(struct tracer *tr)
{
	struct gobin *b = tr->t->bin;

	printf("process %d: %s (%s), load bias %#" PRIx64 "\n", tr->t->pid, tr->t->exe,
	       b->bi.version_str, tr->t->bias);
	for (int i = 0; i < goheap_nprobes; i++)
		if (goheap_probes[i].mode & mode_of(tr))
			trace_print_probe(&b->hooks.hook[goheap_probes[i].hook]);
}

/*
 * --mallocgc: nothing is read or written in the target; the probe samples every ~rate
 * bytes allocated, in BPF.
 */
static int setup_mallocgc(struct tracer *tr)
{
	tr->rate = tr->o.rate ? tr->o.rate : DEFAULT_RATE;
	if (tr->o.dry_run)
		printf("write  none: --mallocgc samples in BPF, 1 allocation per ~%" PRId64
		       " bytes\n",
		       tr->rate);
	else if (!tr->o.json)
		printf("--mallocgc: a probe on every allocation (allocation-heavy code runs many "
		       "times slower), sampled in BPF every ~%" PRId64 " bytes; allocation "
		       "profile only: no in-use bytes, no leak suspects\n",
		       tr->rate);
	return 0;
}

/*
 * Decides the sampling rate: the target's own when it samples, else DEFAULT_RATE or
 * --rate, to be written after the probes are attached (apply_rate), unless --dry-run or
 * --no-write.
 */
static int setup_rate(struct tracer *tr)
{
	int64_t want = tr->o.rate ? tr->o.rate : DEFAULT_RATE;
	int err;

	if (tr->o.mallocgc)
		return setup_mallocgc(tr);
	err = rate_read(tr, &tr->old_rate);
	if (err) {
		log_err("process %d: cannot read runtime.MemProfileRate: %s%s", tr->t->pid,
			strerror(-err), caps_err_hint(err, CAPS_PROC));
		return err;
	}
	tr->rate = tr->old_rate;
	if (tr->old_rate > 0 && !tr->o.rate) {
		if (tr->o.dry_run)
			printf("write  none: the target samples already (MemProfileRate = %" PRId64
			       ")\n", tr->old_rate);
		return 0;
	}
	if (tr->old_rate == want)
		return 0;
	if (tr->o.dry_run) {
		printf("write  runtime.MemProfileRate at %#" PRIx64 ": %" PRId64 " -> %" PRId64
		       " (restored on exit)%s\n", tr->rate_addr, tr->old_rate, want,
		       tr->o.no_write ? "; forbidden by --no-write" : "");
		return 0;
	}
	if (tr->o.no_write) {
		if (tr->old_rate > 0)
			return 0; /* --rate without permission to write: keep the target's */
		tr->heap_off = "heap sampling is off (runtime.MemProfileRate = 0, the linker "
			       "disabled it) and --no-write forbids turning it on; --mallocgc traces "
			       "without writing, at the price of a probe on every allocation";
		if (tr->o.no_goroutines) {
			log_err("process %d: Go heap tracing off: %s", tr->t->pid, tr->heap_off);
			return -EPERM;
		}
		log_warn("process %d: Go heap tracing off: %s", tr->t->pid, tr->heap_off);
		return 0;
	}
	tr->want_rate = want;
	tr->rate = want;
	return 0;
}

/* Writes the rate setup_rate() chose; the probes are attached, so no sample is missed. */
static int apply_rate(struct tracer *tr)
{
	int err;

	if (!tr->want_rate)
		return 0;
	err = rate_write(tr, tr->want_rate);
	if (err) {
		log_err("process %d: cannot write runtime.MemProfileRate: %s%s", tr->t->pid,
			strerror(-err), caps_err_hint(err, CAPS_PROC));
		return err;
	}
	tr->wrote_rate = true;
	if (!tr->o.json)
		printf("set runtime.MemProfileRate %" PRId64 " -> %" PRId64 " in process %d "
		       "(the old value is put back on exit; not if leakhound is SIGKILLed)\n",
		       tr->old_rate, tr->want_rate, tr->t->pid);
	fflush(stdout);
	return 0;
}

/*
 * The probe budget (DESIGN.md §3, Safety): BPF records at most o.budget events per
 * second and counts the rest as budget_skip. When it had to, back off by BACKOFF_SHIFT
 * powers of two: the sampling rate when it is ours (written by leakhound, or the BPF-side
 * rate of --mallocgc), else the share of events recorded (each recorded object then
 * weighs 2^keep_shift). Checked every second.
 */
static void check_budget(struct tracer *tr)
{
	struct lh_goheap_tstate ts;
	struct goheap_opts o = tr->gopt;
	uint64_t skips;
	char what[96];
	int err;

	if (!tr->gh || !tr->o.budget || goheap__tstate(tr->gh, tr->t->pid, &ts))
		return;
	skips = ts.budget_skips - tr->budget_skips;
	tr->budget_skips = ts.budget_skips;
	if (!skips)
		return;
	if ((tr->wrote_rate || tr->o.mallocgc) && tr->rate < (1 << 30)) {
		int64_t rate = tr->rate << BACKOFF_SHIFT;

		if (rate > (1 << 30))
			rate = 1 << 30;
		if (!tr->o.mallocgc) {
			err = rate_write(tr, rate);
			if (err) {
				log_warn("process %d: cannot raise runtime.MemProfileRate: %s",
					 tr->t->pid, strerror(-err));
				return;
			}
		}
		snprintf(what, sizeof(what), "sampling rate %" PRId64 " -> %" PRId64, tr->rate,
			 rate);
		tr->rate = rate;
		o.rate = rate;
	} else if (o.keep_shift < MAX_KEEP_SHIFT) {
		o.keep_shift += BACKOFF_SHIFT;
		snprintf(what, sizeof(what), "events recorded 1 in %u -> 1 in %u",
			 1U << tr->gopt.keep_shift, 1U << o.keep_shift);
	} else {
		return; /* nothing left to give: the budget keeps cutting, counted */
	}
	err = goheap__configure(tr->gh, tr->t->pid, &o);
	if (err) {
		log_warn("process %d: cannot reconfigure the probes: %s", tr->t->pid,
			 strerror(-err));
		return;
	}
	tr->gopt = o;
	tr->backoffs++;
	snprintf(tr->backoff_msg, sizeof(tr->backoff_msg),
		 "%" PRIu64 " events over the budget not recorded; backed off: %s", skips, what);
	log_warn("process %d: probe budget %" PRId64 "/s exceeded: %s", tr->t->pid, tr->o.budget,
		 tr->backoff_msg);
}

/* ---- reports ---- */

double trace_now_s(const struct timespec *since)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec - since->tv_sec) + (ts.tv_nsec - since->tv_nsec) / 1e9;
}

uint64_t trace_mono_ns(void)
{
	struct timespec ts;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static double age_s(uint64_t ts_ns)
{
	uint64_t now = trace_mono_ns();

	return ts_ns && ts_ns < now ? (now - ts_ns) / 1e9 : 0;
}

/*
 * Runtime allocation frames pprof hides at the top of heap stacks
 * (runtime/pprof/protomem.go: "runtime." prefixes; 1.24+ also "internal/runtime/").
 */
static bool alloc_frame(const char *fn)
{
	return fn && (strncmp(fn, "runtime.", 8) == 0 || strncmp(fn, "internal/runtime/", 17) == 0);
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/*
 * Symbolized frames of a site, innermost first, inlined expanded, runtime allocation
 * frames at the top trimmed (all kept when nothing else remains). pcs[0] is the probe
 * site (an instruction address), the others return addresses: looked up at ret - 1.
 */
int trace_frames(struct tracer *tr, const struct lh_goheap_stack *st, struct frame_out *out,
		 int max)
{
	int n = 0, first_user = -1;

	for (uint32_t i = 0; i < st->nr && n < max; i++) {
		struct gosym_frame fr[16];
		uint64_t pc = st->pcs[i] - tr->t->bias - (i ? 1 : 0);
		int k;

		if (i == 1 && st->pcs[1] == st->pcs[0])
			continue; /* no return address was read: the duplicate site */
		k = gosym__frames(tr->t->bin->sym, pc, fr, 16);
		if (k <= 0) {
			out[n].f = (struct gosym_frame){ .func = "?", .file = "?" };
			out[n++].pc_index = i;
			continue;
		}
		for (int j = 0; j < k && n < max; j++) {
			out[n].f = fr[j];
			out[n].pc_index = i;
			if (first_user < 0 && !alloc_frame(fr[j].func))
				first_user = n;
			n++;
		}
	}
	if (first_user > 0) {
		memmove(out, out + first_user, (n - first_user) * sizeof(*out));
		n -= first_user;
	}
	return n;
}

static int site_frames(struct tracer *tr, const struct goheap_site *s, struct frame_out *out,
		       int max)
{
	return trace_frames(tr, &s->stack, out, max);
}

uint64_t trace_frames_key(const struct frame_out *fr, int n, uint64_t h)
{
	for (int i = 0; i < n; i++) {
		h = fnv(h, fr[i].f.func, strlen(fr[i].f.func) + 1);
		h = fnv(h, &fr[i].f.line, sizeof(fr[i].f.line));
	}
	return h;
}

/*
 * A site's identity: its trimmed, symbolized stack. Stacks that differ only in the
 * runtime frames above the user's code (mallocgc's per-size variants, morestack) are one
 * site, as in pprof's view.
 */
static uint64_t site_key(struct tracer *tr, const struct goheap_site *s)
{
	struct frame_out fr[MAX_FRAMES];
	int n = site_frames(tr, s, fr, MAX_FRAMES);

	return trace_frames_key(fr, n, 0xcbf29ce484222325ull);
}

static int cmp_key(const void *a, const void *b)
{
	const struct goheap_site *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
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

static uint64_t min_ts(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* Replaces each site's stack-hash id by its site key and merges the sites that share one. */
static void merge_sites(struct tracer *tr, struct goheap_snap *s)
{
	size_t out = 0;

	for (size_t i = 0; i < s->nsites; i++)
		s->sites[i].id = site_key(tr, &s->sites[i]);
	if (s->nsites)
		qsort(s->sites, s->nsites, sizeof(*s->sites), cmp_key);
	for (size_t i = 0; i < s->nsites; i++) {
		struct goheap_site *d = &s->sites[out], *x = &s->sites[i];

		if (out && s->sites[out - 1].id == x->id) {
			d = &s->sites[out - 1];
			d->stack.allocs += x->stack.allocs;
			d->stack.alloc_bytes += x->stack.alloc_bytes;
			d->live_objects += x->live_objects;
			d->live_bytes += x->live_bytes;
			d->inuse_objects += x->inuse_objects;
			d->inuse_bytes += x->inuse_bytes;
			d->oldest_ns = min_ts(d->oldest_ns, x->oldest_ns);
			d->settled_samples += x->settled_samples;
			d->settled_objects += x->settled_objects;
			d->settled_bytes += x->settled_bytes;
			d->settled_oldest_ns = min_ts(d->settled_oldest_ns, x->settled_oldest_ns);
			d->hist_objects += x->hist_objects;
			d->hist_bytes += x->hist_bytes;
			d->hist_samples += x->hist_samples;
			d->hist_alloc_objects += x->hist_alloc_objects;
			d->hist_alloc_bytes += x->hist_alloc_bytes;
			d->base_bytes += x->base_bytes;
			if (!d->stack.nr && x->stack.nr)
				d->stack = x->stack;
			continue;
		}
		if (d != x)
			*d = *x;
		out++;
	}
	s->nsites = out;
}

/* ---- history: the runtime's own profile, when the target sampled before attach ---- */

/*
 * Appends one site per bucket of the runtime's profile (src/mprof.c). Bucket stacks are
 * link-time return PCs: made runtime addresses again, the first one minus 1 (an address
 * inside the call, as site_frames() takes pcs[0]). base: the profile read at attach.
 */
static int add_history(struct tracer *tr, struct goheap_snap *s, const struct mprof_profile *p,
		       bool base)
{
	void *grown;

	if (!p->nbuckets)
		return 0;
	grown = realloc(s->sites, (s->nsites + p->nbuckets) * sizeof(*s->sites));
	if (!grown)
		return -ENOMEM;
	s->sites = grown;
	for (uint32_t i = 0; i < p->nbuckets; i++) {
		const struct mprof_bucket *b = &p->buckets[i];
		struct goheap_site *x = &s->sites[s->nsites];
		uint32_t n = b->nstk < LH_GOHEAP_STACK_DEPTH ? b->nstk : LH_GOHEAP_STACK_DEPTH;
		int64_t o = 0, by = 0, ao = 0, ab = 0;

		if (!n)
			continue;
		memset(x, 0, sizeof(*x));
		for (uint32_t j = 0; j < n; j++)
			x->stack.pcs[j] = b->stk[j] + tr->t->bias;
		x->stack.pcs[0]--;
		x->stack.nr = n;
		mprof__scale(mprof_inuse_objects(&b->rec), mprof_inuse_bytes(&b->rec), p->rate, &o,
			     &by);
		if (base) {
			x->base_bytes = by;
		} else {
			mprof__scale(b->rec.allocs, b->rec.alloc_bytes, p->rate, &ao, &ab);
			x->hist_objects = o;
			x->hist_bytes = by;
			x->hist_samples = mprof_inuse_objects(&b->rec);
			x->hist_alloc_objects = ao;
			x->hist_alloc_bytes = ab;
		}
		s->nsites++;
	}
	return 0;
}

static int read_history(struct tracer *tr, struct goheap_snap *s, bool base)
{
	struct mprof_profile p;
	int err;

	err = mprof__read(tr->t, &p);
	if (err)
		return err;
	err = add_history(tr, s, &p, base);
	mprof__clear(&p);
	return err;
}

/*
 * At attach, when the target samples on its own: the runtime's profile is the history
 * of everything sampled since it started. Kept as the baseline of growth since attach,
 * and read again every report as the settled state the model takes (DESIGN.md §3).
 */
static void history_setup(struct tracer *tr)
{
	int err;

	if (tr->old_rate <= 0 || tr->wrote_rate)
		return;
	err = read_history(tr, &tr->base, true);
	if (err) {
		log_warn("process %d: the runtime's heap profile cannot be read (%s): no history "
			 "before attach", tr->t->pid, strerror(-err));
		goheap_snap__release(&tr->base);
		return;
	}
	tr->history = true;
}

/* The baseline's sites, copied into a report's snapshot so that merging pairs them up. */
static int add_base(struct tracer *tr, struct goheap_snap *s)
{
	void *grown;

	if (!tr->base.nsites)
		return 0;
	grown = realloc(s->sites, (s->nsites + tr->base.nsites) * sizeof(*s->sites));
	if (!grown)
		return -ENOMEM;
	s->sites = grown;
	memcpy(s->sites + s->nsites, tr->base.sites, tr->base.nsites * sizeof(*s->sites));
	s->nsites += tr->base.nsites;
	return 0;
}

/*
 * A site's in-use figures are its settled state, as of the last completed GC, as the
 * runtime's heap profile reports it: with history, the runtime's own (every sampled
 * object, from before attach too); without, the tracked objects that went through that
 * GC. Tracked objects allocated since are kept apart as recent.
 */
static void settle_sites(struct tracer *tr, struct goheap_snap *s)
{
	for (size_t i = 0; i < s->nsites; i++) {
		struct goheap_site *x = &s->sites[i];

		x->recent_bytes = x->inuse_bytes - x->settled_bytes;
		x->recent_objects = x->inuse_objects - x->settled_objects;
		if (tr->history) {
			x->settled_bytes = x->hist_bytes;
			x->settled_objects = x->hist_objects;
			x->settled_samples = x->hist_samples;
		}
		x->inuse_bytes = x->settled_bytes;
		x->inuse_objects = x->settled_objects;
	}
}

static void site_alloc(struct tracer *tr, const struct goheap_site *x, int64_t *objects,
		       int64_t *bytes)
{
	if (tr->history) {
		*objects = x->hist_alloc_objects;
		*bytes = x->hist_alloc_bytes;
		return;
	}
	if (tr->o.mallocgc) {
		/* estimated in BPF already (bpf/goheap.bpf.c) */
		*objects = x->stack.allocs;
		*bytes = x->stack.alloc_bytes;
		return;
	}
	mprof__scale(x->stack.allocs, x->stack.alloc_bytes, tr->rate, objects, bytes);
}

static int read_numgc(struct tracer *tr, uint32_t *numgc)
{
	const struct go_global *ms = &tr->t->bin->globals.global[GLOBAL_MEMSTATS];
	int64_t off = tr->t->bin->offsets.val[OFF_MSTATS_NUMGC];

	if (!ms->found || off < 0)
		return -ENOENT;
	return target__read(tr->t, ms->addr + tr->t->bias + off, numgc, sizeof(*numgc));
}

static void compute_totals(struct tracer *tr, const struct goheap_snap *s, struct trace_totals *tot)
{
	for (size_t i = 0; i < s->nsites; i++) {
		int64_t ao = 0, ab = 0;

		tot->inuse_bytes += s->sites[i].inuse_bytes;
		tot->recent_bytes += s->sites[i].recent_bytes;
		tot->inuse_objects += s->sites[i].inuse_objects;
		site_alloc(tr, &s->sites[i], &ao, &ab);
		tot->alloc_objects += ao;
		tot->alloc_bytes += ab;
	}
	/* probe hits: mallocgc's in --mallocgc mode, else the sampled hook's and its frees */
	tot->events = tr->o.mallocgc ? s->ts.mallocgc_calls
				     : s->ts.allocs + s->ts.frees + s->ts.frees_untracked;
	for (int i = 0; i < LH_STAT__COUNT; i++)
		tot->drops += s->stats[i];
	trace_loss_update(&tr->heap_loss, s->stats, tr->sh);
}

/*
 * Feeds the model one window: each site's settled state (objects that went through the
 * last completed GC's mark), then the suspects. Without a GC since the last window the
 * model adds no point (-EAGAIN) and the suspects stay as they were.
 */
static void run_model(struct tracer *tr, const struct goheap_snap *s, struct trace_totals *tot)
{
	uint64_t now = trace_mono_ns();

	if (!tr->model || !tot->have_numgc)
		return;
	for (size_t i = 0; i < s->nsites; i++) {
		const struct goheap_site *x = &s->sites[i];
		int64_t ao = 0, ab = 0;

		site_alloc(tr, x, &ao, &ab);
		model__observe(tr->model, x->id, tot->numgc, now, (uint64_t)x->settled_bytes,
			       (uint64_t)x->settled_objects, ab,
			       x->settled_oldest_ns ? now - x->settled_oldest_ns : 0,
			       x->settled_samples);
	}
	model__close_window(tr->model, tot->numgc, now);
	tot->nsuspects = model__suspects(tr->model, tot->suspects, MAX_SUSPECTS);
	if (tot->nsuspects < 0)
		tot->nsuspects = 0;
	model__windows(tr->model, &tot->windows, &tot->skipped);
}

static const struct goheap_site *site_by_key(const struct goheap_snap *s, uint64_t key)
{
	for (size_t i = 0; i < s->nsites; i++)
		if (s->sites[i].id == key)
			return &s->sites[i];
	return NULL;
}


void trace_print_frames(const struct frame_out *fr, int k, const char *indent)
{
	for (int j = 0; j < k; j++)
		printf("%s%s%s\n%s    %s:%u\n", indent, fr[j].f.func,
		       fr[j].f.inlined ? " (inlined)" : "", indent, fr[j].f.file, fr[j].f.line);
}

static void print_stack(struct tracer *tr, const struct goheap_site *site)
{
	struct frame_out fr[MAX_FRAMES];
	int k = site ? site_frames(tr, site, fr, MAX_FRAMES) : 0;

	trace_print_frames(fr, k, "    ");
}

static void heap_text(struct tracer *tr, const struct goheap_snap *s, const struct trace_totals *tot)
{
	size_t n = s->nsites < (size_t)tr->o.top ? s->nsites : (size_t)tr->o.top;

	if (tr->o.mallocgc)
		printf("--mallocgc: every allocation probed, sampled in BPF every ~%" PRId64
		       " bytes; allocation profile only (no in-use bytes, no suspects); "
		       "allocated since attach (estimated) %.0f bytes in %.0f objects; GC cycles ",
		       tr->rate, tot->alloc_bytes, tot->alloc_objects);
	else
		printf("sampling rate %" PRId64 "%s; live heap as of the last GC (sampled, "
		       "scaled) %.0f bytes in %.0f objects %s, %.0f bytes allocated since; GC "
		       "cycles ",
		       tr->rate, tr->wrote_rate ? " (set by leakhound)" : "", tot->inuse_bytes,
		       tot->inuse_objects,
		       tr->history ? "(with history before attach)" : "(allocated since attach)",
		       tot->recent_bytes);
	if (tot->have_numgc)
		printf("%u\n", tot->numgc);
	else
		printf("unknown\n");
	if (tr->o.mallocgc)
		printf("probe events %" PRIu64 " (mallocgc calls %" PRIu64 ", samples %" PRIu64
		       "); drops/failures %" PRIu64 "\n",
		       tot->events, (uint64_t)s->ts.mallocgc_calls, (uint64_t)s->ts.allocs,
		       tot->drops);
	else
		printf("probe events %" PRIu64 " (allocs %" PRIu64 ", frees %" PRIu64 ", frees "
		       "of pre-attach objects %" PRIu64 "); drops/failures %" PRIu64 "\n",
		       tot->events, (uint64_t)s->ts.allocs, (uint64_t)s->ts.frees,
		       (uint64_t)s->ts.frees_untracked, tot->drops);
	if (tr->o.budget && tr->backoffs)
		printf("probe budget %" PRId64 " events/s: exceeded, backed off %d times; last: "
		       "%s\n",
		       tr->o.budget, tr->backoffs, tr->backoff_msg);
	else if (tr->o.budget)
		printf("probe budget %" PRId64 " events/s: not exceeded\n", tr->o.budget);
	for (int i = 0; i < LH_STAT__COUNT; i++)
		if (s->stats[i])
			printf("  %s: %" PRIu64 "\n", lh_stat_name(i), s->stats[i]);
	trace_loss_print(&tr->heap_loss, "live bytes, growth and suspects");
	if (tr->model)
		printf("leak suspects (%u GC windows, %u without a GC): %d\n", tot->windows,
		       tot->skipped, tot->nsuspects);
	for (int i = 0; i < tot->nsuspects; i++) {
		const struct suspect *x = &tot->suspects[i];

		printf("!%d growing %.0f bytes/s, live %" PRIu64 " bytes, oldest %.1fs, "
		       "confidence %.2f\n", i + 1, x->growth_per_s, x->live, x->oldest_age_s,
		       x->confidence);
		print_stack(tr, site_by_key(s, x->site_id));
	}
	printf("top sites by %s:\n", tr->o.mallocgc ? "allocated bytes" : "live bytes");
	for (size_t i = 0; i < n; i++) {
		const struct goheap_site *site = &s->sites[i];

		int64_t ao = 0, ab = 0;

		site_alloc(tr, site, &ao, &ab);
		if (tr->o.mallocgc) {
			printf("#%zu allocated %" PRId64 " bytes in %" PRId64
			       " objects (estimated)\n",
			       i + 1, ab, ao);
			print_stack(tr, site);
			continue;
		}
		printf("#%zu live %.0f bytes in %.0f objects, %+.0f bytes since attach", i + 1,
		       site->inuse_bytes, site->inuse_objects,
		       site->inuse_bytes - site->base_bytes);
		if (site->base_bytes > 0)
			printf(" (pre-attach %.0f)", site->base_bytes);
		printf(", allocated %" PRId64 " bytes, oldest tracked %.1fs\n", ab,
		       age_s(site->oldest_ns));
		print_stack(tr, site);
	}
}

static void report_text(struct tracer *tr, const struct goheap_snap *s, const struct trace_totals *tot)
{
	printf("\n=== leakhound trace: pid %d %s (%s), report %d at +%.0fs\n", tr->t->pid,
	       tr->t->exe, tr->t->bin->bi.version_str, tr->nreport, trace_now_s(&tr->start));
	if (tr->heap_off)
		printf("Go heap tracing off: %s\n", tr->heap_off);
	else
		heap_text(tr, s, tot);
	trace_gor_text(tr);
	trace_cgo_text(tr);
	trace_mem_text(tr);
	fflush(stdout);
}

cJSON *trace_frames_json(const struct frame_out *fr, int k)
{
	cJSON *a = cJSON_CreateArray();

	for (int j = 0; a && j < k; j++) {
		cJSON *f = cJSON_CreateObject();

		if (!f)
			break;
		cJSON_AddStringToObject(f, "function", fr[j].f.func ? fr[j].f.func : "?");
		cJSON_AddStringToObject(f, "file", fr[j].f.file ? fr[j].f.file : "?");
		cJSON_AddNumberToObject(f, "line", fr[j].f.line);
		cJSON_AddBoolToObject(f, "inlined", fr[j].f.inlined);
		cJSON_AddItemToArray(a, f);
	}
	return a;
}

static cJSON *stack_json(struct tracer *tr, const struct goheap_site *site)
{
	struct frame_out fr[MAX_FRAMES];
	int k = site ? site_frames(tr, site, fr, MAX_FRAMES) : 0;

	return trace_frames_json(fr, k);
}

static void suspects_json(struct tracer *tr, const struct goheap_snap *s,
			  const struct trace_totals *tot, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "suspects");

	for (int i = 0; a && i < tot->nsuspects; i++) {
		const struct suspect *x = &tot->suspects[i];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			return;
		trace_suspect_json(o, "go_heap", x, tr->model, &tr->heap_loss);
		cJSON_AddItemToObject(o, "stack", stack_json(tr, site_by_key(s, x->site_id)));
		cJSON_AddItemToArray(a, o);
	}
}

static void sites_json(struct tracer *tr, const struct goheap_snap *s, cJSON *gh)
{
	size_t n = s->nsites < (size_t)tr->o.top ? s->nsites : (size_t)tr->o.top;
	cJSON *sites = cJSON_AddArrayToObject(gh, "sites");

	for (size_t i = 0; sites && i < n; i++) {
		const struct goheap_site *site = &s->sites[i];
		cJSON *o = cJSON_CreateObject();
		int64_t ao = 0, ab = 0;

		if (!o)
			return;
		site_alloc(tr, site, &ao, &ab);
		cJSON_AddNumberToObject(o, "inuse_bytes", (uint64_t)site->inuse_bytes);
		cJSON_AddNumberToObject(o, "inuse_objects", (uint64_t)site->inuse_objects);
		cJSON_AddNumberToObject(o, "alloc_bytes", ab);
		cJSON_AddNumberToObject(o, "alloc_objects", ao);
		cJSON_AddNumberToObject(o, "growth_bytes", site->inuse_bytes - site->base_bytes);
		cJSON_AddNumberToObject(o, "pre_attach_bytes", (uint64_t)site->base_bytes);
		cJSON_AddNumberToObject(o, "recent_bytes", (uint64_t)site->recent_bytes);
		cJSON_AddNumberToObject(o, "samples", site->settled_samples);
		cJSON_AddNumberToObject(o, "oldest_age_s", age_s(site->oldest_ns));
		cJSON_AddItemToObject(o, "stack", stack_json(tr, site));
		cJSON_AddItemToArray(sites, o);
	}
}

static void budget_json(struct tracer *tr, cJSON *root)
{
	cJSON *b = cJSON_AddObjectToObject(root, "budget");

	if (!b)
		return;
	cJSON_AddNumberToObject(b, "events_per_s", tr->o.budget);
	cJSON_AddNumberToObject(b, "backoffs", tr->backoffs);
	cJSON_AddNumberToObject(b, "keep_1_in", 1U << tr->gopt.keep_shift);
	if (tr->backoffs)
		cJSON_AddStringToObject(b, "last", tr->backoff_msg);
	else
		cJSON_AddNullToObject(b, "last");
}

static cJSON *build_json(struct tracer *tr, const struct goheap_snap *s,
			 const struct trace_totals *tot)
{
	cJSON *root = cJSON_CreateObject(), *gh, *st;
	char tbuf[32];
	time_t now = time(NULL);
	struct tm tm;

	if (!root)
		return NULL;
	gmtime_r(&now, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddNumberToObject(root, "schema", 1);
	cJSON_AddNumberToObject(root, "pid", tr->t->pid);
	cJSON_AddStringToObject(root, "time", tbuf);
	cJSON_AddNumberToObject(root, "interval_s", tr->o.interval);
	cJSON_AddNumberToObject(root, "report", tr->nreport);
	cJSON_AddNumberToObject(root, "elapsed_s", trace_now_s(&tr->start));
	cJSON_AddStringToObject(root, "exe", tr->t->exe);
	cJSON_AddStringToObject(root, "go_version", tr->t->bin->bi.version_str);
	gh = tr->heap_off ? NULL : cJSON_AddObjectToObject(root, "go_heap");
	if (tr->heap_off) {
		cJSON_AddNullToObject(root, "go_heap");
		cJSON_AddStringToObject(root, "go_heap_off", tr->heap_off);
	}
	if (gh) {
		cJSON_AddNumberToObject(gh, "inuse_bytes", (uint64_t)tot->inuse_bytes);
		cJSON_AddNumberToObject(gh, "inuse_objects", (uint64_t)tot->inuse_objects);
		cJSON_AddNumberToObject(gh, "recent_bytes", (uint64_t)tot->recent_bytes);
		cJSON_AddStringToObject(gh, "mode", tr->o.mallocgc ? "mallocgc" : "sampled");
		cJSON_AddNumberToObject(gh, "alloc_bytes", (uint64_t)tot->alloc_bytes);
		cJSON_AddNumberToObject(gh, "alloc_objects", (uint64_t)tot->alloc_objects);
		cJSON_AddNumberToObject(gh, "sample_rate", tr->rate);
		cJSON_AddBoolToObject(gh, "sample_rate_set_by_leakhound", tr->wrote_rate);
		cJSON_AddBoolToObject(gh, "history", tr->history);
		if (tot->have_numgc)
			cJSON_AddNumberToObject(gh, "gc_cycles", tot->numgc);
		else
			cJSON_AddNullToObject(gh, "gc_cycles");
		cJSON_AddNumberToObject(gh, "windows", tot->windows);
		cJSON_AddNumberToObject(gh, "windows_without_gc", tot->skipped);
		sites_json(tr, s, gh);
	}
	suspects_json(tr, s, tot, root);
	trace_gor_json(tr, root, cJSON_GetObjectItem(root, "suspects"));
	trace_cgo_json(tr, root, cJSON_GetObjectItem(root, "suspects"));
	st = cJSON_AddObjectToObject(root, "stats");
	if (st) {
		cJSON_AddNumberToObject(st, "probe_allocs", s->ts.allocs);
		cJSON_AddNumberToObject(st, "probe_frees", s->ts.frees);
		cJSON_AddNumberToObject(st, "probe_frees_untracked", s->ts.frees_untracked);
		cJSON_AddNumberToObject(st, "probe_buckets", s->ts.buckets);
		cJSON_AddNumberToObject(st, "probe_mallocgc", s->ts.mallocgc_calls);
		cJSON_AddNumberToObject(st, "kept_out", s->ts.kept_out);
		cJSON_AddNumberToObject(st, "live_entries", s->live_entries);
		cJSON_AddNumberToObject(st, "drops", tot->drops);
		if (trace_loss_why(&tr->heap_loss))
			cJSON_AddStringToObject(st, "incomplete", trace_loss_why(&tr->heap_loss));
		else
			cJSON_AddNullToObject(st, "incomplete");
		for (int i = 0; i < LH_STAT__COUNT; i++)
			cJSON_AddNumberToObject(st, lh_stat_name(i), s->stats[i]);
	}
	budget_json(tr, root);
	trace_mem_json(tr, root);
	return root;
}

cJSON *trace_series_json(const struct model *m, uint64_t site_id)
{
	double t[32], live[32];
	int n = m ? model__series(m, site_id, t, live, 32) : 0;
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; a && i < n; i++) {
		cJSON *p = cJSON_CreateArray();

		if (!p)
			break;
		cJSON_AddItemToArray(p, cJSON_CreateNumber(t[i]));
		cJSON_AddItemToArray(p, cJSON_CreateNumber(live[i]));
		cJSON_AddItemToArray(a, p);
	}
	return a;
}

void trace_suspect_json(cJSON *o, const char *kind, const struct suspect *x,
			const struct model *m, const struct trace_loss *loss)
{
	cJSON_AddStringToObject(o, "kind", kind);
	cJSON_AddNumberToObject(o, "growth_per_s", x->growth_per_s);
	cJSON_AddNumberToObject(o, "live", x->live);
	cJSON_AddNumberToObject(o, "live_objects", x->live_objects);
	cJSON_AddNumberToObject(o, "oldest_age_s", x->oldest_age_s);
	cJSON_AddNumberToObject(o, "confidence", x->confidence);
	cJSON_AddNumberToObject(o, "windows", x->windows);
	cJSON_AddItemToObject(o, "series", trace_series_json(m, x->site_id));
	if (trace_loss_why(loss))
		cJSON_AddStringToObject(o, "incomplete", trace_loss_why(loss));
	else
		cJSON_AddNullToObject(o, "incomplete");
}

/* ---- lost events ---- */

void trace_loss_start(struct trace_loss *l, const uint64_t stats[LH_STAT__COUNT])
{
	memset(l, 0, sizeof(*l));
	memcpy(l->base, stats, sizeof(l->base));
}

void trace_loss_update(struct trace_loss *l, const uint64_t stats[LH_STAT__COUNT], bool shared)
{
	size_t o = 0;

	l->lost = 0;
	l->why[0] = '\0';
	for (int i = 0; i < LH_STAT__COUNT; i++) {
		uint64_t d = stats[i] > l->base[i] ? stats[i] - l->base[i] : 0;

		if (!d || !lh_stat_loses_data(i))
			continue;
		l->lost += d;
		if (o < sizeof(l->why))
			o += snprintf(l->why + o, sizeof(l->why) - o, "%s%s %" PRIu64,
				      o ? ", " : "", lh_stat_name(i), d);
	}
	if (l->lost && o < sizeof(l->why))
		snprintf(l->why + o, sizeof(l->why) - o, " since attach%s",
			 shared ? " (counted in the BPF object all targets share)" : "");
}

const char *trace_loss_why(const struct trace_loss *l)
{
	return l && l->lost ? l->why : NULL;
}

void trace_loss_print(const struct trace_loss *l, const char *what)
{
	if (l->lost)
		printf("data incomplete: %s: %s rest on the events recorded\n", l->why, what);
}

void trace_heap_summary(struct tracer *tr, struct trace_summary *s)
{
	memset(s, 0, sizeof(*s));
	if (!tr->gh || !tr->htot)
		return;
	s->on = true;
	s->live = tr->htot->inuse_bytes;
	s->objects = tr->htot->inuse_objects;
	s->nsuspects = tr->htot->nsuspects;
	s->top_growth = tr->htot->nsuspects ? tr->htot->suspects[0].growth_per_s : 0;
	s->drops = tr->htot->drops;
	s->incomplete = tr->heap_loss.lost > 0;
	s->events = tr->htot->events;
	s->entries = tr->hsnap.live_entries;
	s->capacity = bpfmaps__scaled(LH_GOHEAP_MAX_LIVE);
}

cJSON *trace_report_json(struct tracer *tr)
{
	return tr->htot ? build_json(tr, &tr->hsnap, tr->htot) : NULL;
}

static int report_json(struct tracer *tr, const struct goheap_snap *s,
		       const struct trace_totals *tot)
{
	cJSON *root = build_json(tr, s, tot);
	char *out = root ? cJSON_PrintUnformatted(root) : NULL;

	cJSON_Delete(root);
	if (!out)
		return -ENOMEM;
	puts(out);
	fflush(stdout);
	cJSON_free(out);
	return 0;
}

/*
 * heap-<pid>-<n>.pb.gz: the runtime's heap profile sample types, in its order, from the
 * live sampled objects tracked since attach. Stacks start at the first pc with a
 * non-runtime frame (pprof's trim); that pc, a return address, is passed as ret - 1 since
 * the writer takes the first pc as an instruction address.
 */
static struct pprof *heap_profile(struct tracer *tr, const struct goheap_snap *s)
{
	struct pprof_mapping map;
	struct pprof *p;
	int err = 0;

	p = pprof__new(pprof_heap_types, PPROF_HEAP_NTYPES, &pprof_heap_period_type,
		       tr->rate > 0 ? tr->rate : 1);
	if (!p)
		return NULL;
	if (!pprof_mapping_of(tr->t->bin, tr->t->exe, &map))
		pprof__set_mapping(p, &map);
	for (size_t i = 0; i < s->nsites && !err; i++) {
		const struct goheap_site *x = &s->sites[i];
		struct frame_out fr[MAX_FRAMES];
		uint64_t pcs[LH_GOHEAP_STACK_DEPTH];
		int k = site_frames(tr, x, fr, MAX_FRAMES), n = 0;
		uint32_t first = k > 0 ? fr[0].pc_index : 0;
		int64_t v[PPROF_HEAP_NTYPES];

		for (uint32_t j = first; j < x->stack.nr && n < LH_GOHEAP_STACK_DEPTH; j++) {
			if (j == 1 && x->stack.pcs[1] == x->stack.pcs[0])
				continue;
			pcs[n] = x->stack.pcs[j] - tr->t->bias;
			if (n == 0 && j > 0)
				pcs[n]--;
			n++;
		}
		if (!n)
			continue;
		site_alloc(tr, x, &v[PPROF_ALLOC_OBJECTS], &v[PPROF_ALLOC_SPACE]);
		v[PPROF_INUSE_OBJECTS] = (int64_t)x->inuse_objects;
		v[PPROF_INUSE_SPACE] = (int64_t)x->inuse_bytes;
		err = pprof__add_sample(p, pcs, n, v, NULL, 0);
	}
	if (err) {
		pprof__free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

int trace_heap_pprof(struct tracer *tr, uint8_t **buf, size_t *len)
{
	struct pprof *p;
	int err;

	if (!tr->gh || !tr->htot)
		return -ENOENT;
	p = heap_profile(tr, &tr->hsnap);
	if (!p)
		return -errno;
	err = pprof__encode(p, tr->t->bin->sym, buf, len);
	pprof__free(p);
	return err;
}

static int write_pprof(struct tracer *tr, const struct goheap_snap *s)
{
	struct pprof *p = heap_profile(tr, s);
	char path[4096];
	int err;

	snprintf(path, sizeof(path), "%s/heap-%d-%d.pb.gz", tr->o.outdir, tr->t->pid,
		 tr->nreport);
	err = p ? pprof__write(p, tr->t->bin->sym, path) : -errno;
	pprof__free(p);
	if (err)
		log_warn("cannot write %s: %s", path, strerror(-err));
	return err;
}

int trace_collect(struct tracer *tr)
{
	struct goheap_snap s;
	struct trace_totals *tot;
	int err;

	tot = calloc(1, sizeof(*tot));
	if (!tot)
		return -ENOMEM;
	tot->have_numgc = !read_numgc(tr, &tot->numgc);
	memset(&s, 0, sizeof(s));
	err = tr->gh ? goheap__snapshot(tr->gh, tr->t->pid, tr->rate,
					tot->have_numgc ? tot->numgc : 0, &s)
		     : 0;
	if (!err)
		err = trace_gor_collect(tr);
	if (!err)
		err = trace_cgo_collect(tr);
	if (err) {
		log_err("process %d: reading the BPF maps: %s", tr->t->pid, strerror(-err));
		free(tot);
		return err;
	}
	if (tr->history) {
		err = read_history(tr, &s, false);
		if (!err)
			err = add_base(tr, &s);
		if (err) {
			log_warn("process %d: reading the runtime's heap profile: %s", tr->t->pid,
				 strerror(-err));
			err = 0;
		}
	}
	merge_sites(tr, &s);
	settle_sites(tr, &s);
	tr->nreport++;
	compute_totals(tr, &s, tot);
	run_model(tr, &s, tot);
	if (s.nsites) /* in --mallocgc: by allocations */
		qsort(s.sites, s.nsites, sizeof(*s.sites), cmp_inuse);
	goheap_snap__release(&tr->hsnap);
	free(tr->htot);
	tr->hsnap = s;
	tr->htot = tot;
	trace_mem_collect(tr);
	return 0;
}

static int report(struct tracer *tr)
{
	int err = trace_collect(tr);

	if (err || tr->quiet)
		return err;
	if (tr->o.json)
		err = report_json(tr, &tr->hsnap, tr->htot);
	else
		report_text(tr, &tr->hsnap, tr->htot);
	if (!err && tr->o.outdir && tr->gh)
		write_pprof(tr, &tr->hsnap); /* a failed file is a warning, not the end */
	if (!err && tr->o.outdir && tr->cgo)
		trace_cgo_pprof(tr);
	return err;
}

/* ---- the loop ---- */

bool trace_alive(struct tracer *tr)
{
	return target_alive(tr);
}

int trace_tick(struct tracer *tr)
{
	double t = trace_now_s(&tr->start);
	int err;

	trace_snap_tick(tr);
	if (t >= tr->next_budget) {
		check_budget(tr);
		trace_gor_budget(tr);
		trace_cgo_budget(tr);
		tr->next_budget = t + 1;
	}
	if (t < tr->next_report)
		return 0;
	err = report(tr);
	while (tr->next_report <= t)
		tr->next_report += tr->o.interval;
	return err ? err : 1;
}

static void on_oom(const struct oom_victim *v, void *ctx)
{
	struct tracer *tr = ctx;

	if (v->pid == tr->t->pid || oom_victim_tgid(v->pid) == tr->t->pid)
		trace_snap_oom(tr, v);
}

/* 100 ms, or less when an OOM record comes in: it is handled at once. */
static void nap(struct oomwatch *ow)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	struct pollfd p;

	if (!ow) {
		nanosleep(&ts, NULL);
		return;
	}
	p = (struct pollfd){ .fd = oomwatch__fd(ow), .events = POLLIN };
	if (poll(&p, 1, 100) > 0)
		oomwatch__consume(ow);
}

static int run(struct tracer *tr, struct oomwatch *ow)
{
	bool alive = true;
	int err = 0;

	while (!stop_flag) {
		nap(ow);
		alive = target_alive(tr);
		if (!alive)
			break;
		if (tr->o.duration && trace_now_s(&tr->start) >= tr->o.duration)
			break;
		err = trace_tick(tr);
		if (err < 0)
			return err;
	}
	if (!alive) {
		/* mark_victim comes before the victim can exit: its record is in by now */
		if (ow)
			oomwatch__consume(ow);
		if (attach__execed(tr->t))
			log_warn("process %d replaced itself (execve): its Go program is gone",
				 tr->t->pid);
		else
			log_info("process %d exited%s", tr->t->pid,
				 tr->oom_taken ? " (OOM-killed)" : "");
		return 0;
	}
	/* a last report for the stretch since the previous one */
	if (!tr->nreport ||
	    trace_now_s(&tr->start) - (tr->next_report - tr->o.interval) > 0.5)
		err = report(tr);
	return err;
}

/*
 * Whether leakhound runs in the initial PID namespace: the BPF side keys everything by
 * the kernel's tgid, which is the PID it is given only there. The initial namespace has
 * a fixed inode number (PROC_PID_INIT_INO, include/linux/proc_ns.h).
 */
static bool initial_pidns(void)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st))
		return true; /* cannot tell: let the kernel have the last word */
	return st.st_ino == 0xEFFFFFFCU;
}

static int open_target(struct tracer *tr)
{
	if (!initial_pidns()) {
		log_err("leakhound trace must run in the initial PID namespace (the host's): its "
			"BPF maps are keyed by kernel PIDs");
		return -EINVAL;
	}
	if (kill(tr->o.pid, 0) && errno == ESRCH) {
		log_err("process %d: no such process", tr->o.pid);
		return -ESRCH;
	}
	tr->t = target__open(tr->o.pid);
	if (!tr->t) {
		int err = errno;

		if (caps_perm_err(err))
			log_err("process %d: %s; %s", tr->o.pid, strerror(err),
				caps_hint(CAPS_PROC | CAPS_PROC_PRIVATE));
		else
			log_err("process %d: %s", tr->o.pid, gobin_strerror(err));
		return -err;
	}
	return 0;
}

/* Goroutine tracing alone, when the heap's is off. */
static int attach_goroutines(struct tracer *tr)
{
	int err = trace_gor_attach(tr);

	if (err && !target_alive(tr))
		log_err("process %d exited while attaching", tr->t->pid);
	return err;
}

/*
 * C heap tracing: an error when asked for with --cgo, else (automatic, for a target
 * linked with cgo) a warning and the rest goes on.
 */
static int attach_cgo(struct tracer *tr)
{
	int err;

	if (!trace_cgo_wanted(tr)) {
		if (tr->o.cgo == CGO_AUTO)
			tr->cgo_off = "not linked with cgo (--cgo=on to trace the C heap anyway)";
		else
			tr->cgo_off = "--cgo=off";
		return 0;
	}
	err = trace_cgo_attach(tr);
	if (!err || !target_alive(tr))
		return err;
	if (tr->o.cgo == CGO_ON)
		return err;
	log_warn("process %d: C heap tracing off, the rest goes on", tr->t->pid);
	tr->cgo_off = "could not attach to the C allocator (see the log)";
	return 0;
}

static int attach(struct tracer *tr)
{
	uint64_t stats[LH_STAT__COUNT] = {};
	const char *what = NULL;
	int err;

	err = attach_cgo(tr);
	if (err)
		return err;
	if (tr->heap_off)
		return attach_goroutines(tr);
	if (tr->sh && !tr->sh->gh)
		tr->sh->gh = goheap__open();
	tr->gh = tr->sh ? tr->sh->gh : goheap__open();
	if (!tr->gh) {
		err = -errno;
		log_err("cannot load the BPF object: %s%s", strerror(-err),
			caps_err_hint(err, CAPS_BPF));
		return err;
	}
	goheap__stats(tr->gh, stats); /* before the probes: their failures count */
	trace_loss_start(&tr->heap_loss, stats);
	tr->gopt = (struct goheap_opts){
		.mode = mode_of(tr),
		.rate = tr->rate > 0 && tr->rate <= UINT32_MAX ? tr->rate : 0,
		.budget = tr->o.budget,
	};
	err = goheap__attach(tr->gh, tr->t, &tr->gopt, &what);
	if (err) {
		if (!target_alive(tr))
			log_err("process %d exited while attaching", tr->t->pid);
		else
			log_err("process %d: cannot attach to %s: %s%s", tr->t->pid,
				what ? what : "?", strerror(-err),
				caps_err_hint(err, CAPS_UPROBE | CAPS_PROC));
		return err;
	}
	/* goroutines are a bonus here: their failure leaves heap tracing on */
	if (!tr->o.no_goroutines && trace_gor_attach(tr) && target_alive(tr))
		log_warn("process %d: goroutine tracing off, Go heap tracing goes on", tr->t->pid);
	return 0;
}

/* After the dry-run point: the model, the probes, then sampling on, the clock. */
static int start_tracing(struct tracer *tr)
{
	int err;

	if (!tr->o.mallocgc && !tr->heap_off) {
		tr->model = model__new(NULL);
		if (!tr->model) {
			err = -errno;
			log_err("leak model: %s", strerror(errno));
			return err;
		}
	}
	/* probes first, then sampling on: no sampled object is missed between the two */
	err = attach(tr);
	if (!err)
		err = apply_rate(tr);
	if (err)
		return err;
	if (!tr->quiet)
		log_info("process %d: attached:%s%s%s", tr->t->pid, tr->gh ? " Go heap" : "",
			 tr->gor ? " goroutines" : "", tr->cgo ? " C heap" : "");
	history_setup(tr);
	snap_watch_init(&tr->snapw, tr->t->pid);
	clock_gettime(CLOCK_MONOTONIC, &tr->start);
	tr->next_report = tr->o.interval;
	tr->next_budget = 1;
	return 0;
}

int trace_start(struct tracer *tr)
{
	int err = open_target(tr);

	if (!err)
		err = check_target(tr);
	if (!err)
		err = setup_rate(tr);
	if (!err)
		err = start_tracing(tr);
	return err;
}

/*
 * The rate first: taking the uprobes down waits for a grace period per probe (0.1 s and
 * more each); a target that exits meanwhile, or a leakhound killed then, would otherwise
 * keep the rate leakhound set. Samples taken in between are harmless.
 */
void trace_stop(struct tracer *tr)
{
	rate_restore(tr);
	if (tr->sh && tr->gh && tr->t)
		goheap__detach(tr->gh, tr->t->pid);
	else if (!tr->sh)
		goheap__free(tr->gh);
	tr->gh = NULL;
	trace_gor_free(tr);
	trace_cgo_free(tr);
	model__free(tr->model);
	tr->model = NULL;
	goheap_snap__release(&tr->base);
	goheap_snap__release(&tr->hsnap);
	free(tr->htot);
	tr->htot = NULL;
	target__free(tr->t);
	tr->t = NULL;
}

int cmd_trace(int argc, char **argv)
{
	struct oomwatch *ow = NULL;
	struct tracer tr = {};
	int err;

	if (parse_opts(argc, argv, &tr.o))
		return 2;
	cli_stop_signals(on_signal);
	err = open_target(&tr);
	if (!err)
		err = check_target(&tr);
	if (!err && tr.o.dry_run) {
		print_probes(&tr);
		if (!tr.o.no_goroutines)
			trace_gor_print_probes(&tr);
		trace_cgo_print_probes(&tr);
		if (tr.o.snap.dir && tr.o.snap.oom)
			printf("tracepoint oom:mark_victim: a snapshot into %s if the kernel "
			       "OOM-kills it\n", tr.o.snap.dir);
	}
	if (!err)
		err = setup_rate(&tr);
	if (err || tr.o.dry_run)
		goto out;
	if (tr.o.outdir && access(tr.o.outdir, W_OK)) {
		err = -errno;
		log_err("-o %s: %s", tr.o.outdir, strerror(errno));
		goto out;
	}
	err = start_tracing(&tr);
	if (!err && tr.o.snap.dir && tr.o.snap.oom) {
		ow = oomwatch__open(on_oom, &tr);
		if (!ow)
			log_warn("no snapshot at an OOM kill: oom:mark_victim: %s%s", strerror(errno),
				 caps_err_hint(errno, CAPS_BPF | CAPS_TRACEPOINT));
	}
	if (!err)
		err = run(&tr, ow);
out:
	oomwatch__free(ow);
	trace_stop(&tr);
	return err ? 1 : 0;
}
