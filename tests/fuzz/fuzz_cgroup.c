// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the daemon's reading of /proc/PID/cgroup (src/discover_ident.c):
 * the text comes from processes of any container, so no line may crash it or leave a
 * field unterminated. Seeds: tests/fuzz/regressions/fuzz_cgroup.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	return 0;
}
