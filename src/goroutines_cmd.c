// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * leakhound goroutines -p PID: one snapshot of every goroutine of a running Go process
 * (src/goroutines.c), printed grouped by stack like /debug/pprof/goroutine?debug=1,
 * one by one like debug=2 (--all), as JSON, or written as a pprof goroutine profile.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "commands.h"
#include "goroutines.h"
#include "gosym.h"
#include "jsonout.h"
#include "log.h"
#include "pprof.h"
#include "target.h"

#define MAX_FRAMES     256 /* symbolized frames of one stack, inlined ones included */
#define MAX_INLINE     16
#define GROUP_CREATORS 3

struct gor_opts {
	pid_t pid;
	bool all;
	bool json;
	bool system;
	const char *out;
};

struct frame {
	struct gosym_frame f;
	uint64_t pc;	/* lookup pc: the call instruction, or the stopped instruction */
	uint64_t entry; /* entry of the physical function */
	uint32_t raw;	/* index of its pc in the goroutine's stack */
};

/* Goroutines with the same stack. */
struct group {
	size_t first; /* index into the sorted order */
	size_t count;
};

struct gor {
	struct gor_opts o;
	struct target *t;
	struct goroutine_snapshot s;
	struct gosym_cache *cache;
	size_t *order; /* shown goroutines, sorted by stack */
	size_t norder;
	struct group *groups; /* by count, descending */
	size_t ngroups;
	int wrapper_id;	   /* funcID of compiler-generated wrappers, -1: unknown */
	FILE *out;	   /* text output */
	bool runtime_wait; /* wait times as the runtime prints them: whole minutes, >= 1 */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: leakhound goroutines -p PID [options]\n"
		"\n"
		"One snapshot of every goroutine of a running Go process, read from its memory\n"
		"(runtime.allgs) without probes and without stopping it: id, state and wait\n"
		"reason, how long it has waited, start function, creation site and creating\n"
		"goroutine, and its stack unwound from the registers the scheduler saved.\n"
		"User goroutines are counted as runtime.NumGoroutine() counts them; system\n"
		"goroutines (runtime-internal) are counted apart and shown with --system.\n"
		"\n"
		"By default goroutines with the same stack are grouped, largest group first,\n"
		"like /debug/pprof/goroutine?debug=1.\n"
		"\n"
		"  -p, --pid PID       the Go process (required)\n"
		"  -a, --all           every goroutine with its own stack, like debug=2\n"
		"  -s, --system        include system goroutines in the listing\n"
		"  -j, --json          one JSON object (docs/GOROUTINES.md)\n"
		"  -o, --output FILE   also write a pprof goroutine profile (goroutine/count)\n"
		"                      that 'go tool pprof' opens\n"
		"  -h, --help          this help\n");
}

static int parse_opts(int argc, char **argv, struct gor_opts *o)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "system", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char *end;
	long v;
	int c;

	*o = (struct gor_opts){};
	opterr = 0; /* one error line, ours */
	while ((c = getopt_long(argc, argv, "p:asjo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > INT_MAX) {
				log_err("goroutines: invalid pid '%s'", optarg);
				return -EINVAL;
			}
			o->pid = v;
			break;
		case 'a':
			o->all = true;
			break;
		case 's':
			o->system = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (optopt)
				log_err("goroutines: bad option '-%c' (see 'leakhound goroutines "
					"--help')", optopt);
			else
				log_err("goroutines: bad option '%s' (see 'leakhound goroutines "
					"--help')", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_err("goroutines: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->pid) {
		log_err("goroutines: -p PID is required (see 'leakhound goroutines --help')");
		return -EINVAL;
	}
	return 0;
}

/* ---- stacks ---- */

static const uint64_t *g_pcs(const struct gor *gr, const struct goroutine *g)
{
	return gr->s.pcs + g->pc_off;
}

/*
 * funcID of wrappers: the one after runtime.systemstack_switch's in every release
 * 1.19-1.26 (runtime/symtab.go@1.19, internal/abi/symtab.go@1.21+).
 */
static int wrapper_func_id(const struct gosym *gs)
{
	struct gosym_frame fr[MAX_INLINE];
	struct gosym_func fn;
	int k;

	if (gosym__func_by_name((struct gosym *)gs, "runtime.systemstack_switch", &fn))
		return -1;
	k = gosym__frames(gs, fn.entry, fr, MAX_INLINE);
	return k > 0 && fr[k - 1].func_id ? fr[k - 1].func_id + 1 : -1;
}

/*
 * runtime/traceback.go elideWrapperCalling: wrappers are hidden from tracebacks and
 * profiles unless they call a panic function.
 */
static bool elided(const struct gor *gr, const struct frame *fr, int i)
{
	const char *callee = i > 0 ? fr[i - 1].f.func : "";

	if (gr->wrapper_id < 0 || fr[i].f.func_id != gr->wrapper_id)
		return false;
	return strcmp(callee, "runtime.gopanic") && strcmp(callee, "runtime.sigpanic") &&
	       strcmp(callee, "runtime.panicwrap");
}

static int drop_wrappers(const struct gor *gr, struct frame *fr, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		if (!elided(gr, fr, i))
			fr[k++] = fr[i];
	return k;
}

/*
 * Symbolized frames of a goroutine's stack, innermost first, inlined ones expanded,
 * wrappers elided as the runtime does.
 */
static int stack_frames(struct gor *gr, const struct goroutine *g, struct frame *out, int max)
{
	const uint64_t *pcs = g_pcs(gr, g);
	int n = 0;

	for (uint32_t i = 0; i < g->npcs && n < max; i++) {
		struct gosym_frame fr[MAX_INLINE];
		struct gosym_func fn = {};
		uint64_t pc = pcs[i] - 1;
		int k = gosym_cache__frames(gr->cache, pc, fr, MAX_INLINE);

		gosym__func_by_pc(gr->t->bin->sym, pc, &fn);
		if (k <= 0) {
			out[n++] = (struct frame){ .f = { .func = "?", .file = "?" }, .pc = pc, .raw = i };
			continue;
		}
		for (int j = 0; j < k && n < max; j++)
			out[n++] = (struct frame){ .f = fr[j], .pc = pc, .entry = fn.entry, .raw = i };
	}
	return drop_wrappers(gr, out, n);
}

/*
 * The return pcs the runtime records for a stack (runtime tracebackPCs): a pc whose
 * frames are all elided wrappers (a go statement's gowrap) is left out.
 */
static int shown_pcs(struct gor *gr, const struct goroutine *g, uint64_t *out, int max)
{
	struct frame fr[MAX_FRAMES];
	const uint64_t *pcs = g_pcs(gr, g);
	int n = stack_frames(gr, g, fr, MAX_FRAMES), k = 0;

	for (int i = 0; i < n && k < max; i++)
		if (!i || fr[i].raw != fr[i - 1].raw)
			out[k++] = pcs[fr[i].raw];
	return k;
}

static bool runtime_frame(const char *fn)
{
	return strncmp(fn, "runtime.", 8) == 0 || strncmp(fn, "internal/runtime/", 17) == 0;
}

/*
 * runtime/pprof printStackRecord (debug=1): leading runtime frames and runtime.goexit
 * are hidden, unless nothing else would show.
 */
static int first_shown(const struct frame *fr, int n)
{
	for (int i = 0; i < n; i++)
		if (!runtime_frame(fr[i].f.func))
			return i;
	return 0;
}

/* The physical function at a link-time pc (the runtime's "created by" names it). */
static int func_at(const struct gor *gr, uint64_t pc, struct gosym_func *fn,
		   struct gosym_frame *line)
{
	struct gosym_frame fr[MAX_INLINE];
	int k;

	if (gosym__func_by_pc(gr->t->bin->sym, pc, fn))
		return -ENOENT;
	k = gosym__frames(gr->t->bin->sym, pc, fr, MAX_INLINE);
	*line = k > 0 ? fr[k - 1] : (struct gosym_frame){ .func = fn->name, .file = "?" };
	return 0;
}

/* ---- grouping ---- */

static int cmp_stack(const void *a, const void *b, void *arg)
{
	const struct gor *gr = arg;
	const struct goroutine *x = &gr->s.g[*(const size_t *)a], *y = &gr->s.g[*(const size_t *)b];
	uint32_t n = x->npcs < y->npcs ? x->npcs : y->npcs;
	int c = memcmp(g_pcs(gr, x), g_pcs(gr, y), n * sizeof(uint64_t));

	if (c)
		return c;
	if (x->npcs != y->npcs)
		return x->npcs < y->npcs ? -1 : 1;
	/* running goroutines have no stack: keep them apart from other empty ones */
	if ((x->stack == GSTACK_RUNNING) != (y->stack == GSTACK_RUNNING))
		return x->stack == GSTACK_RUNNING ? -1 : 1;
	return x->goid < y->goid ? -1 : x->goid > y->goid;
}

static bool same_stack(const struct gor *gr, size_t a, size_t b)
{
	const struct goroutine *x = &gr->s.g[a], *y = &gr->s.g[b];

	return x->npcs == y->npcs && (x->stack == GSTACK_RUNNING) == (y->stack == GSTACK_RUNNING) &&
	       !memcmp(g_pcs(gr, x), g_pcs(gr, y), x->npcs * sizeof(uint64_t));
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->first < y->first ? -1 : 1;
}

static int make_groups(struct gor *gr)
{
	gr->order = malloc((gr->s.n + 1) * sizeof(*gr->order));
	gr->groups = malloc((gr->s.n + 1) * sizeof(*gr->groups));
	if (!gr->order || !gr->groups)
		return -ENOMEM;
	for (size_t i = 0; i < gr->s.n; i++)
		if (gr->o.system || !gr->s.g[i].system)
			gr->order[gr->norder++] = i;
	qsort_r(gr->order, gr->norder, sizeof(*gr->order), cmp_stack, gr);
	for (size_t i = 0; i < gr->norder; i++) {
		if (i && same_stack(gr, gr->order[i - 1], gr->order[i])) {
			gr->groups[gr->ngroups - 1].count++;
			continue;
		}
		gr->groups[gr->ngroups++] = (struct group){ .first = i, .count = 1 };
	}
	qsort(gr->groups, gr->ngroups, sizeof(*gr->groups), cmp_group);
	return 0;
}

/* ---- text ---- */

static void print_wait(int64_t ns, FILE *out)
{
	double s = ns / 1e9;

	if (s < 60)
		fprintf(out, "%.1fs", s);
	else if (s < 3600)
		fprintf(out, "%dm%02ds", (int)(s / 60), (int)s % 60);
	else
		fprintf(out, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

static void print_header(const struct gor *gr)
{
	const struct goroutine_snapshot *s = &gr->s;

	fprintf(gr->out, "leakhound goroutines: pid %d %s (%s)\n", gr->t->pid, gr->t->exe,
	       gr->t->bin->bi.version_str);
	fprintf(gr->out, "goroutines: %u user (runtime.NumGoroutine), %u system; %" PRIu64
	       " gs in allgs, %u dead; not read: %u unreadable, %u changing (torn); "
	       "stacks cut short: %u; snapshot %.1f ms\n",
	       s->user, s->system, s->allglen, s->dead, s->unreadable, s->torn, s->stack_errors,
	       s->elapsed_ns / 1e6);
}

/* States of a group's goroutines with counts, "chan send 3, select 1". */
static void print_group_states(const struct gor *gr, const struct group *grp)
{
	const char *names[8];
	size_t counts[8], n = 0, more = 0;
	int64_t oldest = -1;

	for (size_t i = grp->first; i < grp->first + grp->count; i++) {
		const struct goroutine *g = &gr->s.g[gr->order[i]];
		const char *st = goroutine_state(&gr->s, g);
		size_t j;

		if (g->wait_ns > oldest)
			oldest = g->wait_ns;
		for (j = 0; j < n && strcmp(names[j], st); j++)
			;
		if (j < n)
			counts[j]++;
		else if (n < 8)
			names[n] = st, counts[n++] = 1;
		else
			more++;
	}
	fprintf(gr->out, "# state:");
	for (size_t j = 0; j < n; j++)
		fprintf(gr->out, "%s %s %zu", j ? "," : "", names[j], counts[j]);
	if (more)
		fprintf(gr->out, ", other %zu", more);
	if (oldest >= 0) {
		fprintf(gr->out, "; longest wait ");
		print_wait(oldest, gr->out);
	}
	fprintf(gr->out, "\n");
}

/* Creating functions of a group's goroutines, most frequent first (up to 3). */
static void print_group_creators(const struct gor *gr, const struct group *grp)
{
	const char *names[GROUP_CREATORS];
	size_t counts[GROUP_CREATORS] = {}, n = 0;

	for (size_t i = grp->first; i < grp->first + grp->count; i++) {
		const struct goroutine *g = &gr->s.g[gr->order[i]];
		struct gosym_frame line;
		struct gosym_func fn;
		size_t j;

		if (!g->gopc || g->goid == 1 || func_at(gr, g->gopc - 1, &fn, &line))
			continue;
		for (j = 0; j < n && strcmp(names[j], fn.name); j++)
			;
		if (j < n)
			counts[j]++;
		else if (n < GROUP_CREATORS)
			names[n] = fn.name, counts[n++] = 1;
	}
	for (size_t j = 0; j < n; j++)
		fprintf(gr->out, "# created by %s (%zu)\n", names[j], counts[j]);
}

static void print_groups(struct gor *gr)
{
	struct frame fr[MAX_FRAMES];

	fprintf(gr->out, "goroutine profile: total %zu\n", gr->norder);
	for (size_t k = 0; k < gr->ngroups; k++) {
		const struct group *grp = &gr->groups[k];
		const struct goroutine *g = &gr->s.g[gr->order[grp->first]];
		uint64_t pcs[MAX_FRAMES];
		int npcs = shown_pcs(gr, g, pcs, MAX_FRAMES);
		int n = stack_frames(gr, g, fr, MAX_FRAMES);
		uint64_t bias = gr->t->bias;

		fprintf(gr->out, "%zu @", grp->count);
		for (int i = 0; i < npcs; i++)
			fprintf(gr->out, " %#" PRIx64, pcs[i] + bias);
		fprintf(gr->out, "\n");
		print_group_states(gr, grp);
		print_group_creators(gr, grp);
		if (g->stack == GSTACK_RUNNING)
			fprintf(gr->out, "#\trunning on a thread: stack unavailable\n");
		for (int i = first_shown(fr, n); i < n; i++) {
			if (strcmp(fr[i].f.func, "runtime.goexit") == 0)
				continue;
			fprintf(gr->out, "#\t%#" PRIx64 "\t%s+%#" PRIx64 "\t%s:%u\n", fr[i].pc + bias,
			       fr[i].f.func, fr[i].pc - fr[i].entry, fr[i].f.file, fr[i].f.line);
		}
		fprintf(gr->out, "\n");
	}
}

static void print_created_by(const struct gor *gr, const struct goroutine *g)
{
	struct gosym_frame line;
	struct gosym_func fn;
	uint64_t pc = g->gopc;

	/* runtime/traceback.go printcreatedby: not for the main goroutine */
	if (!pc || g->goid == 1 || func_at(gr, pc - 1, &fn, &line))
		return;
	fprintf(gr->out, "created by %s", fn.name);
	if (g->parent_goid)
		fprintf(gr->out, " in goroutine %" PRIu64, g->parent_goid);
	fprintf(gr->out, "\n\t%s:%u +%#" PRIx64 "\n", line.file, line.line, pc - fn.entry);
}

static void print_one(struct gor *gr, const struct goroutine *g)
{
	struct frame fr[MAX_FRAMES];
	int n = stack_frames(gr, g, fr, MAX_FRAMES);

	fprintf(gr->out, "goroutine %" PRIu64 " [%s", g->goid, goroutine_state(&gr->s, g));
	if (gr->runtime_wait) {
		/* runtime/traceback.go goroutineheader */
		if (g->wait_ns >= 60000000000)
			fprintf(gr->out, ", %" PRId64 " minutes", (int64_t)(g->wait_ns / 60000000000));
	} else if (g->wait_ns >= 0) {
		fprintf(gr->out, ", ");
		print_wait(g->wait_ns, gr->out);
	}
	fprintf(gr->out, "]%s:\n", g->system ? " (system)" : "");
	if (g->stack == GSTACK_RUNNING)
		fprintf(gr->out, "\tgoroutine running on other thread; stack unavailable\n");
	for (int i = 0; i < n; i++) {
		if (strcmp(fr[i].f.func, "runtime.goexit") == 0)
			continue;
		fprintf(gr->out, "%s(...)\n\t%s:%u", fr[i].f.func, fr[i].f.file, fr[i].f.line);
		if (!fr[i].f.inlined)
			fprintf(gr->out, " +%#" PRIx64, fr[i].pc + 1 - fr[i].entry);
		fprintf(gr->out, "\n");
	}
	if (g->stack == GSTACK_TRUNCATED || g->stack == GSTACK_UNREADABLE)
		fprintf(gr->out, "...stack %s\n", g->stack == GSTACK_TRUNCATED ? "cut short" : "unreadable");
	print_created_by(gr, g);
	fprintf(gr->out, "\n");
}

static void print_all(struct gor *gr)
{
	for (size_t i = 0; i < gr->s.n; i++)
		if (gr->o.system || !gr->s.g[i].system)
			print_one(gr, &gr->s.g[i]);
}

/* ---- JSON ---- */

static cJSON *frame_json(const struct gosym_frame *f, uint64_t pc)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "function", f->func ? f->func : "?");
	cJSON_AddStringToObject(o, "file", f->file ? f->file : "?");
	cJSON_AddNumberToObject(o, "line", f->line);
	if (pc) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%#" PRIx64, pc);
		cJSON_AddStringToObject(o, "pc", buf);
	}
	cJSON_AddBoolToObject(o, "inlined", f->inlined);
	return o;
}

static cJSON *stack_json(struct gor *gr, const struct goroutine *g)
{
	struct frame fr[MAX_FRAMES];
	int n = stack_frames(gr, g, fr, MAX_FRAMES);
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, frame_json(&fr[i].f, fr[i].pc + gr->t->bias));
	return a;
}

static cJSON *func_json(const struct gor *gr, uint64_t pc)
{
	struct gosym_frame line;
	struct gosym_func fn;

	if (!pc || func_at(gr, pc, &fn, &line))
		return cJSON_CreateNull();
	line.func = fn.name;
	line.inlined = false;
	return frame_json(&line, 0);
}

static const char *const stack_states[] = { "ok", "running", "truncated", "unreadable" };

static cJSON *goroutine_json(struct gor *gr, const struct goroutine *g)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", g->goid);
	if (g->parent_goid)
		cJSON_AddNumberToObject(o, "parent_id", g->parent_goid);
	else
		cJSON_AddNullToObject(o, "parent_id");
	cJSON_AddStringToObject(o, "status", goroutine_status_name(g->status));
	cJSON_AddStringToObject(o, "state", goroutine_state(&gr->s, g));
	if (g->wait_reason > 0)
		cJSON_AddStringToObject(o, "wait_reason", goroutine_state(&gr->s, g));
	else
		cJSON_AddNullToObject(o, "wait_reason");
	if (g->wait_ns >= 0)
		cJSON_AddNumberToObject(o, "wait_seconds", g->wait_ns / 1e9);
	else
		cJSON_AddNullToObject(o, "wait_seconds");
	cJSON_AddBoolToObject(o, "system", g->system);
	cJSON_AddItemToObject(o, "start", func_json(gr, g->startpc));
	cJSON_AddItemToObject(o, "created_by",
			      g->gopc && g->goid != 1 ? func_json(gr, g->gopc - 1)
						      : cJSON_CreateNull());
	cJSON_AddStringToObject(o, "stack_state", stack_states[g->stack]);
	cJSON_AddItemToObject(o, "stack", stack_json(gr, g));
	return o;
}

static cJSON *groups_json(struct gor *gr)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t k = 0; a && k < gr->ngroups; k++) {
		const struct group *grp = &gr->groups[k];
		const struct goroutine *g = &gr->s.g[gr->order[grp->first]];
		cJSON *o = cJSON_CreateObject(), *ids = cJSON_CreateArray(), *st;
		cJSON *states = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "count", grp->count);
		for (size_t i = grp->first; i < grp->first + grp->count; i++) {
			const struct goroutine *x = &gr->s.g[gr->order[i]];
			const char *name = goroutine_state(&gr->s, x);

			st = cJSON_GetObjectItemCaseSensitive(states, name);
			if (st)
				cJSON_SetNumberValue(st, st->valuedouble + 1);
			else
				cJSON_AddNumberToObject(states, name, 1);
			cJSON_AddItemToArray(ids, cJSON_CreateNumber(x->goid));
		}
		cJSON_AddItemToObject(o, "states", states);
		cJSON_AddStringToObject(o, "stack_state", stack_states[g->stack]);
		cJSON_AddItemToObject(o, "stack", stack_json(gr, g));
		cJSON_AddItemToObject(o, "ids", ids);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static int report_json(struct gor *gr)
{
	const struct goroutine_snapshot *s = &gr->s;
	cJSON *doc = cJSON_CreateObject(), *c;

	cJSON_AddNumberToObject(doc, "pid", gr->t->pid);
	cJSON_AddStringToObject(doc, "exe", gr->t->exe);
	cJSON_AddStringToObject(doc, "go_version", gr->t->bin->bi.version_str);
	cJSON_AddStringToObject(doc, "allgs", s->allgs_how ? s->allgs_how : "?");
	cJSON_AddNumberToObject(doc, "snapshot_ms", s->elapsed_ns / 1e6);
	c = cJSON_AddObjectToObject(doc, "counts");
	cJSON_AddNumberToObject(c, "user", s->user);
	cJSON_AddNumberToObject(c, "system", s->system);
	cJSON_AddNumberToObject(c, "allglen", s->allglen);
	cJSON_AddNumberToObject(c, "dead", s->dead);
	cJSON_AddNumberToObject(c, "unreadable", s->unreadable);
	cJSON_AddNumberToObject(c, "torn", s->torn);
	cJSON_AddNumberToObject(c, "stack_errors", s->stack_errors);
	cJSON_AddItemToObject(doc, "groups", groups_json(gr));
	if (gr->o.all) {
		cJSON *a = cJSON_AddArrayToObject(doc, "goroutines");

		for (size_t i = 0; a && i < s->n; i++)
			if (gr->o.system || !s->g[i].system)
				cJSON_AddItemToArray(a, goroutine_json(gr, &s->g[i]));
	}
	return json_emit(doc);
}

/* ---- pprof ---- */

/*
 * runtime/pprof writeGoroutine: goroutine/count, one sample per stack. Our stacks are
 * return addresses; the writer takes the first pc as an instruction address.
 * Running goroutines have no stack: a sample without locations, labelled.
 */
static struct pprof *goroutine_profile(struct gor *gr)
{
	static const struct pprof_label running = { .key = "state", .str = "running" };
	struct pprof_mapping map;
	struct pprof *p;
	int err = 0;

	p = pprof__new(&pprof_goroutine_type, 1, &pprof_goroutine_type, 1);
	if (!p)
		return NULL;
	if (!pprof_mapping_of(gr->t->bin, gr->t->exe, &map))
		pprof__set_mapping(p, &map);
	for (size_t k = 0; k < gr->ngroups && !err; k++) {
		const struct group *grp = &gr->groups[k];
		const struct goroutine *g = &gr->s.g[gr->order[grp->first]];
		uint64_t pcs[MAX_FRAMES];
		int64_t v = grp->count;
		int n = shown_pcs(gr, g, pcs, MAX_FRAMES);

		if (n)
			pcs[0]--;
		err = pprof__add_sample(p, pcs, n, &v, g->stack == GSTACK_RUNNING ? &running : NULL,
					g->stack == GSTACK_RUNNING);
	}
	if (err) {
		pprof__free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

static int write_pprof(struct gor *gr)
{
	struct pprof *p = goroutine_profile(gr);
	int err = p ? pprof__write(p, gr->t->bin->sym, gr->o.out) : -errno;

	pprof__free(p);
	if (err)
		log_err("cannot write %s: %s", gr->o.out, strerror(-err));
	return err;
}

/* ---- main ---- */

static int open_target(struct gor *gr)
{
	if (kill(gr->o.pid, 0) && errno == ESRCH) {
		log_err("process %d: no such process", gr->o.pid);
		return -ESRCH;
	}
	gr->t = target__open(gr->o.pid);
	if (!gr->t) {
		int err = errno;

		log_err("process %d: %s%s", gr->o.pid, gobin_strerror(err),
			caps_err_hint(err, CAPS_PROC | CAPS_PROC_PRIVATE));
		return -err;
	}
	if (!gr->t->bin->supported) {
		log_err("process %d: %s is not supported (leakhound supports "
			GO_SUPPORTED_RANGE ")",
			gr->o.pid, gr->t->bin->bi.version_str);
		return -ENOTSUP;
	}
	return 0;
}

static const char *snapshot_strerror(int err)
{
	switch (err) {
	case -ENOTSUP:
		return "Go release not supported (leakhound supports " GO_SUPPORTED_RANGE ")";
	case -ENOENT:
		return "runtime.allgs or the runtime.g offsets are unknown for this binary";
	case -E2BIG:
		return "runtime.allglen is beyond any real program (torn read?)";
	case -ESRCH:
		return "the process exited";
	default:
		return strerror(-err);
	}
}

int goroutines_render_from(struct target *t, const struct goroutine_snapshot *s,
			   enum goroutines_format fmt, char **buf, size_t *len)
{
	struct gor gr = { .t = t, .s = *s, .runtime_wait = true };
	struct pprof *p;
	int err;

	*buf = NULL;
	*len = 0;
	gr.wrapper_id = wrapper_func_id(t->bin->sym);
	gr.cache = gosym_cache__new(t->bin->sym, 4096);
	err = gr.cache ? make_groups(&gr) : -ENOMEM;
	if (!err && fmt == GOROUTINES_PPROF) {
		p = goroutine_profile(&gr);
		err = p ? pprof__encode(p, t->bin->sym, (uint8_t **)buf, len) : -errno;
		pprof__free(p);
	} else if (!err) {
		gr.out = open_memstream(buf, len);
		if (!gr.out) {
			err = -errno;
		} else {
			if (fmt == GOROUTINES_DEBUG2)
				print_all(&gr);
			else
				print_groups(&gr);
			if (fclose(gr.out))
				err = -errno;
		}
	}
	if (err) {
		free(*buf);
		*buf = NULL;
	}
	free(gr.groups);
	free(gr.order);
	gosym_cache__free(gr.cache);
	return err;
}

int goroutines_render(struct target *t, enum goroutines_format fmt, char **buf, size_t *len)
{
	struct goroutine_snapshot s;
	int err;

	*buf = NULL;
	*len = 0;
	err = goroutines__snapshot(t, &s);
	if (err)
		return err;
	err = goroutines_render_from(t, &s, fmt, buf, len);
	goroutines__release(&s);
	return err;
}

int cmd_goroutines(int argc, char **argv)
{
	struct gor gr = { .out = stdout };
	int err;

	if (parse_opts(argc, argv, &gr.o))
		return 2;
	err = open_target(&gr);
	if (err)
		goto out;
	err = goroutines__snapshot(gr.t, &gr.s);
	if (err) {
		log_err("process %d: cannot read its goroutines: %s", gr.o.pid,
			snapshot_strerror(err));
		goto out;
	}
	gr.wrapper_id = wrapper_func_id(gr.t->bin->sym);
	gr.cache = gosym_cache__new(gr.t->bin->sym, 4096);
	err = gr.cache ? make_groups(&gr) : -ENOMEM;
	if (err) {
		log_err("goroutines: %s", strerror(-err));
		goto out;
	}
	if (gr.o.out) {
		err = write_pprof(&gr);
		if (err)
			goto out;
	}
	if (gr.o.json) {
		err = report_json(&gr);
	} else {
		print_header(&gr);
		if (gr.o.all)
			print_all(&gr);
		else
			print_groups(&gr);
	}
out:
	free(gr.groups);
	free(gr.order);
	gosym_cache__free(gr.cache);
	goroutines__release(&gr.s);
	target__free(gr.t);
	return err ? 1 : 0;
}
