// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * leakhound mem -p PID: the RSS of a running Go process broken down into Go heap in use,
 * idle and released, goroutine stacks, other runtime structures and other mappings, from
 * the runtime's statistics in its memory and the kernel's counters (src/membreak.c), and
 * whether a high RSS is a leak at all.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "commands.h"
#include "jsonout.h"
#include "log.h"
#include "memstats.h"
#include "target.h"

struct mem_opts {
	pid_t pid;
	bool json;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: leakhound mem -p PID [options]\n"
		"\n"
		"The RSS of a running Go process broken down into Go heap in use, Go heap\n"
		"idle (freed, not yet returned to the OS), goroutine stacks, other runtime\n"
		"structures, file-backed mappings and other anonymous memory; the heap\n"
		"released to the OS, the GC count and the heap goal; and a verdict in words:\n"
		"whether a high RSS is live heap or idle heap the scavenger has not returned.\n"
		"Read from the runtime's statistics in the process's memory and from\n"
		"/proc/PID/smaps_rollup, without probes and without stopping it\n"
		"(docs/MEMORY.md). The C heap is known under 'leakhound trace' only.\n"
		"\n"
		"  -p, --pid PID   the Go process (required)\n"
		"  -j, --json      one JSON object (docs/MEMORY.md)\n"
		"  -h, --help      this help\n");
}

static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > INT_MAX) {
		log_err("mem: invalid pid '%s'", s);
		return -EINVAL;
	}
	*pid = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct mem_opts *o)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c;

	*o = (struct mem_opts){};
	opterr = 0; /* one error line, ours */
	while ((c = getopt_long(argc, argv, "p:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_pid(optarg, &o->pid))
				return -EINVAL;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (optopt)
				log_err("mem: bad option '-%c' (see 'leakhound mem --help')",
					optopt);
			else
				log_err("mem: bad option '%s' (see 'leakhound mem --help')",
					argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_err("mem: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->pid) {
		log_err("mem: -p PID is required (see 'leakhound mem --help')");
		return -EINVAL;
	}
	return 0;
}

static struct target *open_target(pid_t pid)
{
	struct target *t;
	int err;

	if (kill(pid, 0) && errno == ESRCH) {
		log_err("process %d: no such process", pid);
		return NULL;
	}
	t = target__open(pid);
	if (t && !t->bin->supported) {
		/* its runtime's layout is one no table describes */
		log_err("process %d: %s is not supported (leakhound supports go1.19 to go1.26)",
			pid, t->bin->bi.version_str);
		target__free(t);
		return NULL;
	}
	if (t)
		return t;
	err = errno;
	if (caps_perm_err(err))
		log_err("process %d: %s; %s", pid, strerror(err),
			caps_hint(CAPS_PROC | CAPS_PROC_PRIVATE));
	else
		log_err("process %d: %s", pid, gobin_strerror(err));
	return NULL;
}

static int emit_json(const struct target *t, const struct mem_breakdown *b)
{
	cJSON *doc = mem_breakdown__json(b);

	if (!doc)
		return -ENOMEM;
	cJSON_AddNumberToObject(doc, "pid", t->pid);
	cJSON_AddStringToObject(doc, "exe", t->exe);
	cJSON_AddStringToObject(doc, "go_version", t->bin->bi.version_str);
	return json_emit(doc);
}

int cmd_mem(int argc, char **argv)
{
	struct mem_breakdown b;
	struct mem_opts o;
	struct target *t;
	int err;

	if (parse_opts(argc, argv, &o))
		return 2;
	t = open_target(o.pid);
	if (!t)
		return 1;
	err = mem_breakdown__read(t, true, -1, &b);
	if (err) {
		log_err("process %d: cannot read its memory counters: %s", o.pid,
			err == -ESRCH ? "the process exited" : strerror(-err));
	} else if (!b.have_go) {
		/* a breakdown without the runtime's half answers nothing */
		log_err("process %d: cannot read the Go runtime's memory statistics: %s", o.pid,
			memstats_strerror(b.go_err));
		err = b.go_err;
	} else if (o.json) {
		err = emit_json(t, &b);
	} else {
		printf("pid %d %s (%s)\n", t->pid, t->exe, t->bin->bi.version_str);
		mem_breakdown__print(&b, stdout, "");
	}
	target__free(t);
	return err ? 1 : 0;
}
