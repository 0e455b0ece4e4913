// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the readings of /proc/PID/cgroup (the daemon's, in
 * src/discover_ident.c, and the memory cgroup's, src/cgmem.c) and of mountinfo and
 * memory.stat text (src/cgmem.c): the text comes from processes of any container, so
 * no line may crash them or leave a field unterminated. The input is not
 * NUL-terminated for cgmem's parsers, which take a length.
 * Seeds: tests/fuzz/regressions/fuzz_cgroup.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgmem.h"
#include "discover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *globs[] = {"*kube*", "/system.slice/*"}, *ids[] = {"0123"};
	struct disc_filter f = {.include_cgroup = globs,
				.n_include_cgroup = 2,
				.exclude_container = ids,
				.n_exclude_container = 1};
	struct disc_ident id;
	char *text;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	memset(&id, 0x5a, sizeof(id));
	disc_parse_cgroup(text, &id);
	/* every field a terminated string within its array */
	if (strnlen(id.cgroup, sizeof(id.cgroup)) == sizeof(id.cgroup) ||
	    strnlen(id.container_id, sizeof(id.container_id)) == sizeof(id.container_id) ||
	    strnlen(id.runtime, sizeof(id.runtime)) == sizeof(id.runtime) ||
	    strnlen(id.pod_uid, sizeof(id.pod_uid)) == sizeof(id.pod_uid) ||
	    strnlen(id.qos, sizeof(id.qos)) == sizeof(id.qos))
		abort();
	disc_filter_keep(&f, text, id.cgroup, id.container_id);
	free(text);
	{
		char path[64], mnt[64];
		uint64_t v;
		/* an exact-size copy: ASan sees any read past the length */
		char *raw = malloc(size ? size : 1);

		if (!raw)
			return 0;
		memcpy(raw, data, size);
		memset(path, 0x5a, sizeof(path));
		if (cgmem_parse_proc_cgroup(raw, size, path, sizeof(path)) &&
		    strnlen(path, sizeof(path)) == sizeof(path))
			abort();
		for (int ver = 1; ver <= 2; ver++) {
			memset(mnt, 0x5a, sizeof(mnt));
			if (!cgmem_parse_mountinfo(raw, size, ver, mnt, sizeof(mnt)) &&
			    strnlen(mnt, sizeof(mnt)) == sizeof(mnt))
				abort();
		}
		cgmem_parse_stat(raw, size, "inactive_file", &v);
		free(raw);
	}
	return 0;
}
