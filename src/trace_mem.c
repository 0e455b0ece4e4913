// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The RSS breakdown in the periodic reports of `leakhound trace` and of the daemon
 * (src/membreak.c, docs/MEMORY.md): read once per report, after the C heap's maps, so
 * that the C heap part is the traced live C heap of the same report.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "memstats.h"
#include "target.h"
#include "trace_int.h"

/*
 * The C heap is what the C heap tracer holds: sampled and scaled like pprof, and only
 * what was allocated since attach. Without it the C heap is unknown (-1), and what it
 * holds is in "other anonymous".
 */
static int64_t cgo_live(struct tracer *tr)
{
	struct trace_summary s;

	trace_cgo_summary(tr, &s);
	return s.on ? (int64_t)s.live : -1;
}

/*
 * RSS from /proc/PID/status, not smaps_rollup: the daemon reads every target each
 * interval, and smaps_rollup walks the page tables (~50 ms for a 2 GiB process,
 * docs/PERFORMANCE.md), where status costs tens of µs at any size and gave the same
 * bytes here (kernel 6.18).
 */
void trace_mem_collect(struct tracer *tr)
{
	int err;

	err = mem_breakdown__read(tr->t, false, cgo_live(tr), &tr->mem);
	tr->have_mem = !err;
	if (err)
		log_debug("process %d: no RSS breakdown: %s", tr->t->pid, strerror(-err));
}

void trace_mem_text(struct tracer *tr)
{
	if (tr->have_mem)
		mem_breakdown__print_short(&tr->mem, stdout);
}

void trace_mem_json(struct tracer *tr, cJSON *root)
{
	if (tr->have_mem) {
		cJSON_AddItemToObject(root, "memory", mem_breakdown__json(&tr->mem));
		return;
	}
	cJSON_AddNullToObject(root, "memory");
	cJSON_AddStringToObject(root, "memory_error",
				"the process's memory counters could not be read");
}
