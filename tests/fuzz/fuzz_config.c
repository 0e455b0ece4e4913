// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the daemon's configuration file (src/daemon.c: cJSON, then
 * every setting checked against its type and range) and the option values it shares
 * with the command line (src/snapshot.c snap_opt, src/cli.c cli_parse_num and
 * cli_parse_size). Whatever the text, a setting taken holds a value within its
 * documented range. Seeds: scripts/deploy/config.json, tests/fuzz/regressions/fuzz_config.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../../src/daemon_int.h"
#include "snapshot.h"

static const char *const snap_names[] = {
	"snapshot-dir",	 "snap-rss-rate", "snap-cgroup", "snap-goroutines",
	"snap-interval", "snap-keep",	  "snap-max-mb", "no-snapshots",
};

static void check_opts(const struct daemon_opts *o)
{
	const struct snap_opts *s = &o->snap;

	if (!(o->interval >= 0.5 && o->interval <= 86400) || o->max_targets < 1 ||
	    !(o->max_cpu >= 0 && o->max_cpu <= 100) || o->rate < 0 || o->budget < 0 ||
	    o->cgo_rate < 0 || o->filter.n_include_exe > DAEMON_MAX_GLOBS ||
	    o->filter.n_exclude_container > DAEMON_MAX_GLOBS)
		abort();
	if (!(s->rss_rate >= 0 && s->rss_rate <= 1e15) ||
	    !(s->cgroup_frac >= 0 && s->cgroup_frac <= 1) || !(s->keep >= 1 && s->keep <= 1e6) ||
	    !(s->min_interval >= 0.1 && s->min_interval <= 1e7) ||
	    !(s->max_mb >= 0.001 && s->max_mb <= 1e7) || (s->dir && !*s->dir))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct daemon_opts o;
	double v;
	char *text;

	/* every bad input is one error line: log.c's go nowhere, the sanitizers' to fd 2 */
	if (!devnull) {
		devnull = fopen("/dev/null", "w");
		if (!devnull)
			abort();
		stderr = devnull;
	}
	if (size > 1 << 20)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	memset(&o, 0, sizeof(o));
	o.interval = 10;
	o.max_targets = 1;
	snap_opts_default(&o.snap, "/var/lib/leakhound/snapshots");
	daemon_config_parse(&o, text, "fuzz");
	check_opts(&o);
	/* the whole text as the value of every snapshot flag, as on the command line */
	for (size_t i = 0; i < sizeof(snap_names) / sizeof(snap_names[0]); i++) {
		snap_opt(&o.snap, snap_names[i], text);
		check_opts(&o);
	}
	if (!cli_parse_num(text, -1e9, 1e9, &v) && !(v >= -1e9 && v <= 1e9))
		abort();
	if (!cli_parse_size(text, 0, 1e15, &v) && !(v >= 0 && v <= 1e15 && !isnan(v)))
		abort();
	daemon_config_parse(&o, NULL, NULL);
	free(text);
	return 0;
}
