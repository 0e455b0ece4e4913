// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What one RSS-breakdown read costs (docs/MEMORY.md "Cost"): N warm reads of the
 * runtime's statistics (memstats__read), of /proc/PID/status and of status plus
 * smaps_rollup (procmem__read), and of the whole breakdown; the median and the 90th
 * percentile of each, in µs.
 * usage: mem-read PID [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memstats.h"
#include "target.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp);
	printf("%-28s median %8.1f us  p90 %8.1f us\n", what, v[n / 2], v[n * 9 / 10]);
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 200, err = 0;
	struct mem_breakdown b;
	struct go_memstats ms;
	struct proc_mem pm;
	struct target *t;
	double *v[4];

	if (argc < 2 || n < 1 || n > 100000) {
		fprintf(stderr, "usage: mem-read PID [N]\n");
		return 2;
	}
	t = target__open(atoi(argv[1]));
	if (!t) {
		perror("target__open");
		return 1;
	}
	for (int k = 0; k < 4; k++)
		v[k] = calloc(n, sizeof(double));
	/* warm: the mem fd open, the page cache of /proc */
	err |= memstats__read(t, &ms) | procmem__read(t->pid, true, &pm);
	for (int i = 0; i < n && !err; i++) {
		double t0 = now_us(), t1, t2, t3, t4;

		err |= memstats__read(t, &ms);
		t1 = now_us();
		err |= procmem__read(t->pid, false, &pm);
		t2 = now_us();
		err |= procmem__read(t->pid, true, &pm);
		t3 = now_us();
		err |= mem_breakdown__read(t, true, -1, &b);
		t4 = now_us();
		v[0][i] = t1 - t0;
		v[1][i] = t2 - t1;
		v[2][i] = t3 - t2;
		v[3][i] = t4 - t3;
	}
	if (err) {
		fprintf(stderr, "a read failed\n");
		return 1;
	}
	printf("pid %d rss %.1f MiB, %d reads\n", t->pid, b.rss / 1048576.0, n);
	report("runtime statistics", v[0], n);
	report("/proc status", v[1], n);
	report("/proc status + smaps_rollup", v[2], n);
	report("whole breakdown", v[3], n);
	target__free(t);
	return 0;
}
