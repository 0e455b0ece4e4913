// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * lh-snapbench: what the early snapshot triggers cost between incidents.
 *   usage: lh-snapbench [-n CHECKS] [PID]
 * Runs snap_check() (src/snapshot.c) on PID (default: itself) CHECKS times with every
 * trigger on and none firing, and prints the time per check, best of 3 runs, and what
 * that comes to at SNAP_CHECK_S per target for 1 and 50 targets. The cgroup part costs
 * only where the process's memory cgroup has a limit: run it on a process in one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "snapshot.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct snap_opts o;
	struct snap_watch w;
	double best = 1e9;
	long n = 20000;
	pid_t pid = getpid();
	char detail[512];
	int c;

	while ((c = getopt(argc, argv, "n:h")) != -1) {
		if (c == 'n') {
			n = strtol(optarg, NULL, 10);
		} else {
			fprintf(stderr, "usage: lh-snapbench [-n CHECKS] [PID]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind < argc)
		pid = strtol(argv[optind], NULL, 10);
	if (n < 1 || pid < 1) {
		fprintf(stderr, "lh-snapbench: bad -n or PID\n");
		return 2;
	}
	snap_opts_default(&o, "/nonexistent");
	/* every trigger on, none that fires: the cost of the quiet case */
	o.rss_rate = 1e15;
	o.cgroup_frac = 1;
	o.goroutines = 1e9;
	snap_watch_init(&w, pid);
	for (int run = 0; run < 3; run++) {
		double t0 = now(), dt;

		for (long i = 0; i < n; i++) {
			w.next_check = 0; /* the limit is re-read every 10 s of this clock */
			if (snap_check(&w, &o, i * SNAP_CHECK_S, 0, detail, sizeof(detail)) >= 0) {
				fprintf(stderr, "lh-snapbench: a trigger fired: %s\n", detail);
				return 1;
			}
		}
		dt = (now() - t0) / n;
		if (dt < best)
			best = dt;
	}
	printf("pid %d, memory cgroup %s (limit %s)\n", pid,
	       w.have_cg ? w.cg.dir : "none",
	       w.cg_limit == CGMEM_UNLIMITED ? "none, usage not read" : "read");
	printf("one check: %.2f us (best of 3 x %ld)\n", best * 1e6, n);
	printf("every %.2f s: %.4f%% of a CPU per target, %.3f%% for 50 targets\n", SNAP_CHECK_S,
	       100 * best / SNAP_CHECK_S, 50 * 100 * best / SNAP_CHECK_S);
	return 0;
}
