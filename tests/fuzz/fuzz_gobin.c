// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for every reader of untrusted binary bytes: ELF headers and
 * sections, .go.buildinfo, pclntab and the inline tree, moduledata, the x86
 * decoder behind probe sites and runtime globals, DWARF, and the ELF symbol
 * tables C frames are named from (elfsym), and the C allocator's functions and
 * probe sites in a shared library (callocs). A daemon running
 * as root reads binaries from untrusted containers: none of this may crash,
 * hang or read out of bounds, whatever the input.
 */
#include <stddef.h>
#include <stdint.h>

#include "buildinfo.h"
#include "callocs.h"
#include "elfbin.h"
#include "elfsym.h"
#include "globals.h"
#include "goffsets.h"
#include "gosym.h"
#include "hooks.h"

/* A root that does not exist: no debug file is read from the fuzzing machine. */
static void walk_elfsym(struct elfbin *eb)
{
	struct elfsym *es = elfsym__open_elf(eb, "/nonexistent-fuzz-root", "/lib/x.so");
	struct elfsym_hit hit;
	size_t n = es ? elfsym__count(es) : 0;

	for (size_t i = 0; i < n && i < 64; i++) {
		if (elfsym__at(es, i, &hit))
			continue;
		elfsym__lookup(es, hit.addr, &hit);
		elfsym__lookup(es, hit.addr + hit.size, &hit);
	}
	elfsym__free(es);
}

static void walk_symbols(struct gosym *gs)
{
	uint32_t n = gosym__func_count(gs);
	struct gosym_frame frames[16];
	struct gosym_func fn;
	int32_t delta;

	/* a bounded sample of functions, each looked up by pc and by name */
	for (uint32_t i = 0; i < n && i < 64; i++) {
		if (gosym__func_at(gs, i, &fn))
			continue;
		gosym__frames(gs, fn.entry, frames, 16);
		gosym__frames(gs, fn.entry + (fn.end - fn.entry) / 2, frames, 16);
		gosym__sp_delta(gs, fn.entry + (fn.end - fn.entry) / 2, &delta);
		gosym__func_by_pc(gs, fn.end - 1, &fn);
	}
	gosym__func_by_name(gs, "runtime.mallocgc", &fn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct go_buildinfo bi;
	struct go_version v = {1, 22, 0};
	struct go_hooks hooks;
	struct go_globals globals;
	struct go_offsets off;
	struct elfbin *eb;
	struct gosym *gs;

	eb = elfbin__open_mem(data, size);
	if (!eb)
		return 0;
	if (buildinfo__read(eb, &bi) == 0) {
		if (bi.version.major == 1 && bi.version.minor >= 19 && bi.version.minor <= 26)
			v = bi.version;
		buildinfo__clear(&bi);
	}
	goffsets__from_dwarf(eb, &off);
	gs = gosym__open(eb);
	if (gs) {
		walk_symbols(gs);
		hooks__resolve(eb, gs, &v, &hooks);
		globals__resolve(eb, gs, &v, &globals);
		gosym__free(gs);
	}
	walk_elfsym(eb);
	{
		static struct calloc_info ci;

		callocs__resolve(eb, &ci);
	}
	elfbin__free(eb);
	return 0;
}
