// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * leakhound daemon: every Go process on the machine, continuously (DESIGN.md §7).
 *
 * One process, one thread, one loop: the discovery ring buffer (src/discover.c: a scan
 * of /proc at start, then the kernel's exec and exit events) and the HTTP server
 * (src/http.c) are polled together, every 100 ms each target gets its tick (budget
 * checks, and every interval a report collected into memory: src/trace.c), and the HTTP
 * handlers (src/daemon_http.c) answer from what the last reports hold. The BPF objects
 * of the three tracers are loaded once, on first use, and shared by every target.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caps.h"
#include "bpfmaps.h"
#include "cheap.h"
#include "cli.h"
#include "commands.h"
#include "daemon_int.h"
#include "goheap.h"
#include "gortrace.h"
#include "http.h"
#include "log.h"
#include "oom.h"
#include "target.h"

#define TICK_MS 100
#define DEFAULT_MAX_TARGETS 50
#define DEFAULT_LOG "/var/log/leakhound.log"
#define DEFAULT_SNAP_DIR "/var/lib/leakhound/snapshots"
/* What the three objects' maps take at their built-in sizes (leakhound_bpf_map_bytes). */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	stop_flag = sig;
}

enum { G_INC_EXE, G_EXC_EXE, G_INC_CGROUP, G_EXC_CGROUP, G_INC_CONT, G_EXC_CONT };
static const char *const glob_keys[6] = {
	"include_exe", "exclude_exe", "include_cgroup",
	"exclude_cgroup", "include_container", "exclude_container",
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: leakhound daemon [options]\n"
		"\n"
		"Traces every Go process of the machine (the Go heap, goroutines, and the C heap\n"
		"of cgo programs), found at start and as they exec, detached as they exit; serves\n"
		"Prometheus metrics, per-PID pprof profiles, JSON and an HTML overview over HTTP.\n"
		"\n"
		"  --foreground          stay in the foreground, log on stderr (systemd, docker)\n"
		"  --config FILE         JSON settings (docs/DAEMON.md); flags override them\n"
		"  --listen ADDR:PORT    HTTP address (default %s;\n"
		"                        loopback unless said)\n"
		"  --token-file FILE     require 'Authorization: Bearer TOKEN' (its first line)\n"
		"  --log FILE            the log in the background\n"
		"                        (default %s)\n"
		"  -i, --interval SECS   seconds between reports of a target (default 10)\n"
		"  --max-targets N       processes traced at once (default %d, at most %d)\n"
		"  --max-cpu PERCENT     CPU of one core the daemon may use; past it reports come\n"
		"                        less often (default 1; 0: no limit)\n"
		"  --max-map-mb MIB      kernel memory for the BPF maps of all targets: the\n"
		"                        maps of live objects and stacks are sized to fit\n"
		"                        (default: built-in sizes, %d MiB; a full map drops\n"
		"                        events, counted)\n"
		"  --include-exe GLOB    trace only executables matching (base name or path);\n"
		"  --exclude-exe GLOB    never these; also --include-cgroup, --exclude-cgroup\n"
		"                        (cgroup path globs), --include-container,\n"
		"                        --exclude-container (container id prefixes); repeatable,\n"
		"                        exclusions win\n"
		"  --no-write            never turn heap sampling on in a target (by default\n"
		"                        the daemon sets runtime.MemProfileRate where it is 0,\n"
		"                        and puts it back when it detaches)\n"
		"  --rate BYTES          the sampling rate it sets (default 524288)\n"
		"  --cgo WHEN            C heap tracing: auto (cgo programs, default), on, off\n"
		"  --cgo-rate BYTES      C heap sampling (default %d)\n"
		"  --no-goroutines       no goroutine tracing\n"
		"  --budget N            recorded probe events per second per target\n"
		"                        (default %d)\n"
		"  -h, --help            this help\n"
		"\n"
		"Snapshots: when the kernel OOM-kills a traced process, and earlier when its\n"
		"memory grows fast, its cgroup nears its limit or its goroutines pile up, its\n"
		"profiles and report go to a directory of their own under --snapshot-dir\n"
		"(default %s; docs/SNAPSHOTS.md).\n"
		"%s",
		HTTP_DEFAULT_LISTEN, DEFAULT_LOG, DEFAULT_MAX_TARGETS, LH_GOHEAP_MAX_TARGETS,
		BPFMAPS_BUILTIN_MB, DEFAULT_CGO_RATE, DEFAULT_BUDGET, DEFAULT_SNAP_DIR, snap_help);
}

static void opts_default(struct daemon_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = HTTP_DEFAULT_LISTEN;
	o->log_file = DEFAULT_LOG;
	o->interval = 10;
	o->max_targets = DEFAULT_MAX_TARGETS;
	o->max_cpu = 1;
	o->write_rate = true;
	o->cgo = CGO_AUTO;
	o->cgo_rate = DEFAULT_CGO_RATE;
	o->goroutines = true;
	o->budget = DEFAULT_BUDGET;
	o->top = 10;
	snap_opts_default(&o->snap, DEFAULT_SNAP_DIR);
}

/* snapshot_dir, snapshots (false: none), snap_*: the snapshot flags' values */
static int config_snap(struct daemon_opts *o, const cJSON *v)
{
	const char *k = v->string;
	char name[64], num[64];
	const char *val = NULL;
	size_t i;

	if (!strcmp(k, "snapshots")) {
		if (!cJSON_IsBool(v)) {
			log_err("config: snapshots: true or false");
			return -EINVAL;
		}
		if (cJSON_IsFalse(v))
			o->snap.dir = NULL;
		return 1;
	}
	if (strlen(k) >= sizeof(name) || (strncmp(k, "snap_", 5) && strcmp(k, "snapshot_dir")))
		return 0;
	for (i = 0; k[i]; i++)
		name[i] = k[i] == '_' ? '-' : k[i];
	name[i] = '\0';
	if (cJSON_IsString(v)) {
		val = v->valuestring;
	} else if (cJSON_IsNumber(v)) {
		snprintf(num, sizeof(num), "%.17g", v->valuedouble);
		val = num;
	} else {
		log_err("config: %s: a number or a string", k);
		return -EINVAL;
	}
	return snap_opt(&o->snap, name, val);
}

static int add_glob(struct daemon_opts *o, int list, const char *g)
{
	int *n[6] = { &o->filter.n_include_exe, &o->filter.n_exclude_exe,
		      &o->filter.n_include_cgroup, &o->filter.n_exclude_cgroup,
		      &o->filter.n_include_container, &o->filter.n_exclude_container };

	if (*n[list] >= DAEMON_MAX_GLOBS) {
		log_err("daemon: more than %d %s entries", DAEMON_MAX_GLOBS, glob_keys[list]);
		return -E2BIG;
	}
	o->globs[list][(*n[list])++] = g;
	return 0;
}

static void link_globs(struct daemon_opts *o)
{
	o->filter.include_exe = o->globs[G_INC_EXE];
	o->filter.exclude_exe = o->globs[G_EXC_EXE];
	o->filter.include_cgroup = o->globs[G_INC_CGROUP];
	o->filter.exclude_cgroup = o->globs[G_EXC_CGROUP];
	o->filter.include_container = o->globs[G_INC_CONT];
	o->filter.exclude_container = o->globs[G_EXC_CONT];
}

static int parse_cgo(const char *s, enum cgo_mode *m)
{
	if (!strcmp(s, "auto"))
		*m = CGO_AUTO;
	else if (!strcmp(s, "on"))
		*m = CGO_ON;
	else if (!strcmp(s, "off"))
		*m = CGO_OFF;
	else
		return -EINVAL;
	return 0;
}

/* ---- the configuration file: the long options' names, '-' as '_' ---- */

/* The parsed file is kept for the daemon's life: the options point into it. */
static cJSON *config_doc;

static int config_num(const cJSON *v, const char *key, double min, double max, double *out)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < min || v->valuedouble > max) {
		log_err("config: %s: a number from %g to %g", key, min, max);
		return -EINVAL;
	}
	*out = v->valuedouble;
	return 0;
}

static int config_str(const cJSON *v, const char *key, const char **out)
{
	if (!cJSON_IsString(v)) {
		log_err("config: %s: a string", key);
		return -EINVAL;
	}
	*out = v->valuestring;
	return 0;
}

static int config_bool(const cJSON *v, const char *key, bool *out)
{
	if (!cJSON_IsBool(v)) {
		log_err("config: %s: true or false", key);
		return -EINVAL;
	}
	*out = cJSON_IsTrue(v);
	return 0;
}

static int config_item(struct daemon_opts *o, const cJSON *v)
{
	const char *k = v->string, *s;
	double x;
	int err;

	for (int i = 0; i < 6; i++) {
		const cJSON *e;

		if (strcmp(k, glob_keys[i]))
			continue;
		if (!cJSON_IsArray(v)) {
			log_err("config: %s: an array of strings", k);
			return -EINVAL;
		}
		cJSON_ArrayForEach(e, v) {
			if (!cJSON_IsString(e)) {
				log_err("config: %s: an array of strings", k);
				return -EINVAL;
			}
			err = add_glob(o, i, e->valuestring);
			if (err)
				return err;
		}
		return 0;
	}
	err = config_snap(o, v);
	if (err)
		return err < 0 ? err : 0;
	if (!strcmp(k, "listen"))
		return config_str(v, k, &o->listen);
	if (!strcmp(k, "token_file"))
		return config_str(v, k, &o->token_file);
	if (!strcmp(k, "log"))
		return config_str(v, k, &o->log_file);
	if (!strcmp(k, "write_rate"))
		return config_bool(v, k, &o->write_rate);
	if (!strcmp(k, "goroutines"))
		return config_bool(v, k, &o->goroutines);
	if (!strcmp(k, "cgo")) {
		err = config_str(v, k, &s);
		if (!err && parse_cgo(s, &o->cgo)) {
			log_err("config: cgo: \"auto\", \"on\" or \"off\"");
			err = -EINVAL;
		}
		return err;
	}
	if (!strcmp(k, "interval")) {
		err = config_num(v, k, 0.5, 86400, &o->interval);
		return err;
	}
	if (!strcmp(k, "max_targets")) {
		err = config_num(v, k, 1, LH_GOHEAP_MAX_TARGETS, &x);
		if (!err)
			o->max_targets = x;
		return err;
	}
	if (!strcmp(k, "max_cpu")) {
		err = config_num(v, k, 0, 100, &o->max_cpu);
		return err;
	}
	if (!strcmp(k, "max_map_mb"))
		return config_num(v, k, 8, 16 * BPFMAPS_BUILTIN_MB, &o->max_map_mb);
	if (!strcmp(k, "rate")) {
		err = config_num(v, k, 1, 1 << 30, &x);
		if (!err)
			o->rate = x;
		return err;
	}
	if (!strcmp(k, "cgo_rate")) {
		err = config_num(v, k, 0, UINT32_MAX, &x);
		if (!err)
			o->cgo_rate = x;
		return err;
	}
	if (!strcmp(k, "budget")) {
		err = config_num(v, k, 0, UINT32_MAX, &x);
		if (!err)
			o->budget = x;
		return err;
	}
	log_err("config: unknown setting \"%s\" (docs/DAEMON.md lists them)", k);
	return -EINVAL;
}

int daemon_config_parse(struct daemon_opts *o, const char *text, const char *name)
{
	const cJSON *v;
	int err;

	cJSON_Delete(config_doc); /* the options of a document parsed before go with it */
	config_doc = text ? cJSON_Parse(text) : NULL;
	if (!text)
		return 0;
	if (!config_doc || !cJSON_IsObject(config_doc)) {
		log_err("config %s: not a JSON object (error near byte %td)", name,
			config_doc ? 0 : cJSON_GetErrorPtr() - text);
		return -EINVAL;
	}
	cJSON_ArrayForEach(v, config_doc) {
		err = config_item(o, v);
		if (err)
			return err;
	}
	return 0;
}

static int load_config(struct daemon_opts *o, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int err = 0;

	f = fopen(path, "r");
	if (!f) {
		err = -errno;
		log_err("config %s: %s", path, strerror(errno));
		return err;
	}
	text = malloc(1 << 20);
	if (text)
		len = fread(text, 1, (1 << 20) - 1, f);
	if (text && !ferror(f) && !feof(f)) {
		log_err("config %s: larger than 1 MiB", path);
		err = -EFBIG;
	}
	fclose(f);
	if (!text)
		return -ENOMEM;
	if (!err) {
		text[len] = '\0';
		err = daemon_config_parse(o, text, path);
	}
	free(text);
	return err;
}

static int parse_opts(int argc, char **argv, struct daemon_opts *o)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'F' },
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "token-file", required_argument, NULL, 't' },
		{ "log", required_argument, NULL, 'L' },
		{ "interval", required_argument, NULL, 'i' },
		{ "max-targets", required_argument, NULL, 'm' },
		{ "max-cpu", required_argument, NULL, 'u' },
		{ "max-map-mb", required_argument, NULL, 'M' },
		{ "include-exe", required_argument, NULL, 0x100 + G_INC_EXE },
		{ "exclude-exe", required_argument, NULL, 0x100 + G_EXC_EXE },
		{ "include-cgroup", required_argument, NULL, 0x100 + G_INC_CGROUP },
		{ "exclude-cgroup", required_argument, NULL, 0x100 + G_EXC_CGROUP },
		{ "include-container", required_argument, NULL, 0x100 + G_INC_CONT },
		{ "exclude-container", required_argument, NULL, 0x100 + G_EXC_CONT },
		{ "no-write", no_argument, NULL, 'W' },
		{ "rate", required_argument, NULL, 'r' },
		{ "cgo", required_argument, NULL, 'C' },
		{ "cgo-rate", required_argument, NULL, 'R' },
		{ "no-goroutines", no_argument, NULL, 'G' },
		{ "budget", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		SNAP_LONG_OPTIONS('S'),
		{},
	};
	const char *config = NULL;
	double v;
	int c, err, li = 0;

	opts_default(o);
	/* the file first, whatever its place: the flags override it */
	opterr = 0; /* errors are said below, in one line */
	while ((c = getopt_long(argc, argv, ":i:h", opts, NULL)) != -1)
		if (c == 'c')
			config = optarg;
	optind = 1;
	if (config) {
		o->config = config;
		err = load_config(o, config);
		if (err)
			return err;
	}
	while ((c = getopt_long(argc, argv, ":i:h", opts, &li)) != -1) {
		switch (c) {
		case 'S':
			if (snap_opt(&o->snap, opts[li].name, optarg) < 0)
				return -EINVAL;
			break;
		case 'F':
			o->foreground = true;
			break;
		case 'c':
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 't':
			o->token_file = optarg;
			break;
		case 'L':
			o->log_file = optarg;
			break;
		case 'i':
			if (cli_parse_num(optarg, 0.5, 86400, &o->interval))
				goto bad;
			break;
		case 'm':
			if (cli_parse_num(optarg, 1, LH_GOHEAP_MAX_TARGETS, &v))
				goto bad;
			o->max_targets = v;
			break;
		case 'u':
			if (cli_parse_num(optarg, 0, 100, &o->max_cpu))
				goto bad;
			break;
		case 'M':
			if (cli_parse_num(optarg, 8, 16 * BPFMAPS_BUILTIN_MB, &o->max_map_mb))
				goto bad;
			break;
		case 0x100 + G_INC_EXE:
		case 0x100 + G_EXC_EXE:
		case 0x100 + G_INC_CGROUP:
		case 0x100 + G_EXC_CGROUP:
		case 0x100 + G_INC_CONT:
		case 0x100 + G_EXC_CONT:
			if (add_glob(o, c - 0x100, optarg))
				return -E2BIG;
			break;
		case 'W':
			o->write_rate = false;
			break;
		case 'r':
			if (cli_parse_num(optarg, 1, 1 << 30, &v))
				goto bad;
			o->rate = v;
			break;
		case 'C':
			if (parse_cgo(optarg, &o->cgo))
				goto bad;
			break;
		case 'R':
			if (cli_parse_num(optarg, 0, UINT32_MAX, &v))
				goto bad;
			o->cgo_rate = v;
			break;
		case 'G':
			o->goroutines = false;
			break;
		case 'B':
			if (cli_parse_num(optarg, 0, UINT32_MAX, &v))
				goto bad;
			o->budget = v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			log_err("daemon: option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			/* one line, as everywhere: the whole usage is --help's */
			log_err("daemon: bad option '%s' (see 'leakhound daemon --help')",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_err("daemon: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	link_globs(o);
	return 0;
bad:
	log_err("daemon: invalid value '%s' for %s", optarg,
		optarg == argv[optind - 1] ? argv[optind - 2] : argv[optind - 1]);
	return -EINVAL;
}

/* ---- targets ---- */

struct dtarget *daemon_target(struct daemon *d, pid_t pid)
{
	for (struct dtarget *x = d->targets; x; x = x->next)
		if (x->pid == pid)
			return x;
	return NULL;
}

double daemon_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double daemon_bpf_map_bytes(void)
{
	DIR *dir = opendir("/proc/self/fdinfo");
	uint32_t seen[256];
	struct dirent *de;
	int nseen = 0;
	double total = 0;
	char path[300];

	/* every fd that is a BPF map says map_id and memlock; a map counted once */
	while (dir && (de = readdir(dir))) {
		char line[128];
		uint32_t id = 0;
		double memlock = -1;
		bool dup = false;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "map_id: %" SCNu32, &id);
			sscanf(line, "memlock: %lf", &memlock);
		}
		fclose(f);
		if (!id || memlock < 0)
			continue;
		for (int i = 0; i < nseen && !dup; i++)
			dup = seen[i] == id;
		if (dup)
			continue;
		if (nseen < 256)
			seen[nseen++] = id;
		total += memlock;
	}
	if (dir)
		closedir(dir);
	return total;
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void skip(struct daemon *d, const struct disc_event *ev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void skip(struct daemon *d, const struct disc_event *ev, const char *fmt, ...)
{
	struct dskipped *s = calloc(1, sizeof(*s));
	va_list ap;

	d->skipped_total++;
	if (!s)
		return;
	s->pid = ev->pid;
	s->start_time = ev->start_time;
	s->image = ev->image;
	snprintf(s->exe, sizeof(s->exe), "%s", ev->exe ? ev->exe : "?");
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	log_warn("process %d (%s): not traced: %s", s->pid, s->exe, s->why);
	s->next = d->skipped;
	d->skipped = s;
	d->nskipped++;
}

static void tracer_opts(const struct daemon *d, struct trace_opts *o, pid_t pid)
{
	*o = (struct trace_opts){
		.pid = pid,
		.interval = d->o.interval,
		.top = d->o.top,
		.json = true, /* nothing printed on stdout while attaching */
		.rate = d->o.rate,
		.no_write = !d->o.write_rate,
		.no_goroutines = !d->o.goroutines,
		.budget = d->o.budget,
		.cgo = d->o.cgo,
		.cgo_rate = d->o.cgo_rate,
		.snap = d->o.snap,
	};
}

/* Out of the targets now (the API forgets it); its probes come off in end_one(). */
static void detach(struct daemon *d, struct dtarget **link, const char *why)
{
	struct dtarget *x = *link;

	log_info("process %d (%s): detached: %s", x->pid, x->exe, why);
	*link = x->next;
	x->next = d->ending;
	d->ending = x;
	d->nending++;
	d->ntargets--;
	d->detached_total++;
}

static void end_target(struct daemon *d, struct dtarget **link)
{
	struct dtarget *x = *link;

	*link = x->next;
	for (int r = 0; r < SNAP__COUNT; r++)
		d->snaps_ended[r] += x->tr.snaps[r];
	trace_stop(&x->tr);
	free(x);
	d->nending--;
}

/* Takes the probes off one detached target; false if there was none. */
static bool end_one(struct daemon *d)
{
	if (!d->ending)
		return false;
	end_target(d, &d->ending);
	return true;
}

/*
 * Before attaching pid: the maps are keyed by it, so an ending target of the same pid
 * (reused) goes first; and so do all when the maps' slots could run out.
 */
static void end_for(struct daemon *d, pid_t pid)
{
	if (d->ntargets + d->nending >= LH_GOHEAP_MAX_TARGETS) {
		while (end_one(d))
			;
		return;
	}
	for (struct dtarget **p = &d->ending; *p;) {
		if ((*p)->pid == pid)
			end_target(d, p);
		else
			p = &(*p)->next;
	}
}

static void attach(struct daemon *d, const struct disc_event *ev)
{
	double t0 = mono_ms(), c0 = daemon_cpu_seconds();
	struct dtarget *x;
	int err;

	if (d->ntargets >= d->o.max_targets) {
		skip(d, ev, "%d processes traced already (--max-targets)", d->ntargets);
		return;
	}
	end_for(d, ev->pid);
	x = calloc(1, sizeof(*x));
	if (!x) {
		skip(d, ev, "out of memory");
		return;
	}
	x->pid = ev->pid;
	x->start_time = ev->start_time;
	x->image = ev->image;
	snprintf(x->exe, sizeof(x->exe), "%s", ev->exe ? ev->exe : "?");
	snprintf(x->go_version, sizeof(x->go_version), "%s", ev->go ? ev->go->version_str : "");
	if (ev->ident)
		x->ident = *ev->ident;
	tracer_opts(d, &x->tr.o, ev->pid);
	x->tr.quiet = true;
	x->tr.sh = &d->sh;
	err = trace_start(&x->tr);
	if (!err && x->tr.t->start_time != ev->start_time)
		err = -ESRCH; /* the PID was reused between the event and the attach */
	if (err) {
		trace_stop(&x->tr);
		free(x);
		d->failed_total++;
		skip(d, ev, "attaching failed: %s (see the log above)", strerror(-err));
		/* without these no Go process can be traced: stopped beats idle */
		if (caps_perm_err(err) && caps_missing(CAPS_BPF | CAPS_UPROBE, NULL)) {
			log_err("daemon: stopping: %s", caps_hint(CAPS_BPF | CAPS_UPROBE));
			d->fatal = err;
		}
		return;
	}
	x->attached_at = time(NULL);
	x->attach_ms = mono_ms() - t0;
	d->attach_cpu_s += daemon_cpu_seconds() - c0;
	d->attach_ms_last = x->attach_ms;
	if (x->attach_ms > d->attach_ms_max)
		d->attach_ms_max = x->attach_ms;
	x->next = d->targets;
	d->targets = x;
	d->ntargets++;
	d->attached_total++;
	log_info("process %d (%s, %s): attached in %.0f ms:%s%s%s%s%s", x->pid, x->exe,
		 x->go_version, x->attach_ms, x->tr.gh ? " Go heap" : "",
		 x->tr.gor ? " goroutines" : "", x->tr.cgo ? " C heap" : "",
		 x->ident.container_id[0] ? ", container " : "", x->ident.container_id);
}

static void forget_skipped(struct daemon *d, const struct disc_event *ev)
{
	for (struct dskipped **p = &d->skipped; *p; p = &(*p)->next) {
		struct dskipped *s = *p;

		if (s->pid == ev->pid && s->start_time == ev->start_time && s->image == ev->image) {
			*p = s->next;
			free(s);
			d->nskipped--;
			return;
		}
	}
}

static void on_event(const struct disc_event *ev, void *ctx)
{
	struct daemon *d = ctx;

	switch (ev->kind) {
	case DISC_SCAN:
	case DISC_EXEC:
		if (ev->verdict == DISC_GO)
			attach(d, ev);
		else if (ev->verdict == DISC_GO_UNSUPPORTED)
			skip(d, ev,
			     "%s is not supported (leakhound supports " GO_SUPPORTED_RANGE ")",
			     ev->go && ev->go->version_str[0] ? ev->go->version_str
							      : "an unknown Go release");
		else if (ev->verdict == DISC_EXCLUDED)
			log_debug("process %d (%s): excluded by the filters", ev->pid,
				  ev->exe ? ev->exe : "?");
		break;
	case DISC_EXIT:
		for (struct dtarget **p = &d->targets; *p; p = &(*p)->next)
			if ((*p)->pid == ev->pid && (*p)->start_time == ev->start_time &&
			    (*p)->image == ev->image) {
				detach(d, p, "exited or executed another program");
				return;
			}
		forget_skipped(d, ev);
		break;
	}
}

/*
 * The CPU budget, checked every 10 s: over --max-cpu percent of one core, reports (and
 * their snapshots) come twice as rarely, up to 8 times; under half of it, back.
 */
static void cpu_budget(struct daemon *d, double t)
{
	double cpu, span = t - d->cpu_check_t;
	int stretch = d->stretch;

	if (span < 10)
		return;
	cpu = daemon_cpu_seconds();
	/* attaching is a one-time cost (binaries parsed, objects loaded): not the budget's */
	d->cpu_pct = 100 * (cpu - d->cpu_last_s - d->attach_cpu_s) / span;
	d->cpu_last_s = cpu;
	d->attach_cpu_s = 0;
	d->cpu_check_t = t;
	if (!d->o.max_cpu)
		return;
	if (d->cpu_pct > d->o.max_cpu && stretch < 8)
		stretch *= 2;
	else if (d->cpu_pct < d->o.max_cpu / 2 && stretch > 1)
		stretch /= 2;
	if (stretch == d->stretch)
		return;
	log_warn("daemon: %.2f%% of a CPU over the last %.0f s (budget %.2f%%): reports every "
		 "%.0f s", d->cpu_pct, span, d->o.max_cpu, d->o.interval * stretch);
	d->stretch = stretch;
	for (struct dtarget *x = d->targets; x; x = x->next)
		x->tr.o.interval = d->o.interval * stretch;
}

/*
 * Records the discovery ring could not take (a burst of execs while the loop was busy):
 * the processes they announced are found by a rescan of /proc, once a second at most.
 */
static void check_discovery(struct daemon *d, double ms)
{
	struct disc_stats st;

	if (ms < d->next_disc_check_ms)
		return;
	d->next_disc_check_ms = ms + 1000;
	discover__stats(d->disc, &st);
	if (st.drops <= d->disc_drops_seen)
		return;
	log_warn("daemon: %" PRIu64 " process records lost (the discovery ring was full): "
		 "rescanning /proc", st.drops - d->disc_drops_seen);
	d->disc_drops_seen = st.drops;
	d->rescans_total++;
	discover__scan(d->disc);
}

static void tick(struct daemon *d)
{
	double ms = mono_ms();
	struct timespec now;

	check_discovery(d, ms);
	for (struct dtarget **p = &d->targets; *p;) {
		struct dtarget *x = *p;
		int err;

		/* the exit event says it first; this is for an event lost, once a second */
		if (ms >= x->next_alive_ms) {
			x->next_alive_ms = ms + 1000;
			if (!trace_alive(&x->tr)) {
				detach(d, p, "exited");
				continue;
			}
		}
		err = trace_tick(&x->tr);
		if (err < 0 && !trace_alive(&x->tr)) {
			detach(d, p, "exited");
			continue;
		}
		if (err < 0)
			log_warn("process %d: report failed: %s", x->pid, strerror(-err));
		p = &x->next;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	cpu_budget(d, (now.tv_sec - d->start.tv_sec) + (now.tv_nsec - d->start.tv_nsec) / 1e9);
}

/* ---- set-up ---- */

/* A loopback address ("127.0.0.1:6065", "[::1]:6065"): only this machine reaches it. */
static bool loopback(const char *addr)
{
	return !strncmp(addr, "127.", 4) || !strncmp(addr, "[::1]:", 6);
}

static char *read_token(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		log_err("--token-file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n < 16) {
		log_err("--token-file %s: the token (first line) must be at least 16 characters",
			path);
		return NULL;
	}
	return strdup(line);
}

/* The classic double fork; stderr goes to the log file. */
static int background(const char *log_file)
{
	int fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	pid_t pid;

	if (fd < 0) {
		log_err("--log %s: %s", log_file, strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (chdir("/"))
		return -errno;
	dup2(fd, STDERR_FILENO);
	close(fd);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

/*
 * A victim of the OOM killer: its snapshot when it is a target, attached still or
 * detached (its exit may have come first) with its maps not yet cleared.
 */
static void on_oom(const struct oom_victim *v, void *ctx)
{
	struct daemon *d = ctx;
	struct dtarget *lists[2] = { d->targets, d->ending };
	pid_t tgid = oom_victim_tgid(v->pid);

	log_info("daemon: the kernel OOM-killed process %d", v->pid);
	for (int i = 0; i < 2; i++) {
		for (struct dtarget *x = lists[i]; x; x = x->next) {
			if (x->pid == v->pid || x->pid == tgid) {
				trace_snap_oom(&x->tr, v);
				return;
			}
		}
	}
}

static int start(struct daemon *d)
{
	struct http_opts ho = { .listen = d->o.listen };
	struct discover_opts dopt = { .cb = on_event, .ctx = d, .filter = &d->o.filter };
	int err;

	if (d->o.token_file) {
		d->token = read_token(d->o.token_file);
		if (!d->token)
			return -EINVAL;
		ho.token = d->token;
	}
	d->http = http_server__new(&ho);
	if (!d->http)
		return -errno;
	err = daemon_http_routes(d);
	if (err) {
		log_err("daemon: HTTP routes: %s", strerror(-err));
		return err;
	}
	d->disc = discover__open(&dopt);
	if (!d->disc) {
		err = -errno;
		log_err("daemon: cannot watch processes: %s%s", strerror(-err),
			caps_err_hint(err, CAPS_BPF));
		return err;
	}
	if (d->o.snap.dir && d->o.snap.oom) {
		d->oom = oomwatch__open(on_oom, d);
		if (!d->oom)
			log_warn("daemon: no snapshots at OOM kills: oom:mark_victim: %s%s",
				 strerror(errno), caps_err_hint(errno, CAPS_BPF | CAPS_TRACEPOINT));
	}
	log_info("daemon: listening on http://%s/", http_server__address(d->http));
	if (!d->token && !loopback(http_server__address(d->http)))
		log_warn("daemon: %s is reachable from other machines and there is no "
			 "--token-file: whoever reaches it reads the profiles of every traced "
			 "process (docs/SECURITY.md)", http_server__address(d->http));
	/* stdout: for whoever started us in the foreground (tests read the port there) */
	if (d->o.foreground) {
		printf("leakhound daemon: listening on http://%s/\n",
		       http_server__address(d->http));
		fflush(stdout);
	}
	return discover__scan(d->disc);
}

static void stop(struct daemon *d)
{
	while (d->targets)
		detach(d, &d->targets, "leakhound daemon stopping");
	while (end_one(d))
		;
	while (d->skipped) {
		struct dskipped *s = d->skipped;

		d->skipped = s->next;
		free(s);
	}
	discover__free(d->disc);
	oomwatch__free(d->oom);
	http_server__free(d->http);
	goheap__free(d->sh.gh);
	gortrace__free(d->sh.gt);
	cheap__free(d->sh.ch);
	free(d->token);
}

static int run(struct daemon *d)
{
	double next_tick = mono_ms() + TICK_MS;

	while (!stop_flag && !d->fatal) {
		struct pollfd p[3] = {
			{ .fd = http_server__fd(d->http), .events = POLLIN },
			{ .fd = discover__fd(d->disc), .events = POLLIN },
			{ .fd = d->oom ? oomwatch__fd(d->oom) : -1, .events = POLLIN },
		};
		/* rounded up: a wait cut short by a fraction of a millisecond would spin */
		double left = next_tick - mono_ms();
		int timeout = left > 0 ? (int)left + 1 : 0, ht = http_server__timeout(d->http);
		int n;

		if (d->ending)
			timeout = 0;
		if (ht >= 0 && ht < timeout)
			timeout = ht;
		n = poll(p, 3, timeout);
		if (n < 0 && errno != EINTR) {
			log_err("daemon: poll: %s", strerror(errno));
			return -errno;
		}
		/* OOM records before exits: a victim's maps are read before it is let go */
		if (n > 0 && p[2].revents)
			oomwatch__consume(d->oom);
		http_server__serve(d->http, 0);
		if (n > 0 && p[1].revents)
			discover__consume(d->disc);
		if (mono_ms() >= next_tick) {
			tick(d);
			next_tick = mono_ms() + TICK_MS;
		}
		end_one(d);
	}
	if (d->fatal)
		return d->fatal;
	log_info("daemon: signal %d, stopping", (int)stop_flag);
	return 0;
}

int cmd_daemon(int argc, char **argv)
{
	struct daemon d = { .stretch = 1 };
	int err;

	err = parse_opts(argc, argv, &d.o);
	if (err)
		return 2;
	/* a daemon says what it attaches and detaches */
	if (log_verbosity < LOG_INFO)
		log_verbosity = LOG_INFO;
	if (!d.o.foreground) {
		err = background(d.o.log_file);
		if (err)
			return 1;
	}
	cli_stop_signals(on_signal);
	if (d.o.max_map_mb)
		bpfmaps_scale = d.o.max_map_mb / BPFMAPS_BUILTIN_MB;
	clock_gettime(CLOCK_MONOTONIC, &d.start);
	err = start(&d);
	if (!err)
		err = run(&d);
	stop(&d);
	cJSON_Delete(config_doc);
	return err ? 1 : 0;
}
