// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the /proc/PID/smaps_rollup and /proc/PID/status parsers
 * (src/memstats.c): any bytes, no NUL after them; a parse that succeeds must keep the
 * invariants the breakdown relies on, and the breakdown must still add up to RSS.
 * Seeds: tests/fuzz/regressions/fuzz_procmem.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memstats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_breakdown b;
	uint64_t sum = 0;
	char *copy;

	if (size > 65536)
		return 0;
	/* exactly size bytes on the heap: ASan sees a read past them */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	memset(&b, 0, sizeof(b));
	b.cgo_bytes = size & 1 ? (int64_t)size << 20 : -1;
	if (!procmem_parse_smaps_rollup(copy, size, &b.proc) && b.proc.anon > b.proc.rss)
		abort();
	if (!procmem_parse_status(copy, size, &b.proc) && b.proc.rss_anon > b.proc.vm_rss)
		abort();
	b.have_go = size & 2;
	b.go.heap_inuse = size << 12;
	b.go.heap_free = (uint64_t)size << 20;
	mem_breakdown__compute(&b);
	for (int p = 0; p < MEM__COUNT; p++)
		sum += b.resident[p];
	if (sum != b.rss)
		abort();
	free(copy);
	return 0;
}
