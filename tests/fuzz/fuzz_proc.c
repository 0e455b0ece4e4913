// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the /proc/PID/stat and /proc/PID/maps parsers (src/procfs.c),
 * which discovery, attach, the target's start time, the goroutine reader's memory
 * map, the C symbolizer and the C allocator probes all go through: a process chooses
 * its comm (")", spaces, " Z " included) and the paths of the files it maps (anything
 * but a newline, up to PATH_MAX). The input is read as one stat text, then line by
 * line as maps. Seeds: tests/fuzz/regressions/fuzz_proc.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct procfs_stat st;
	struct procfs_map m;
	char *text, *line, *next;

	if (size > 65536)
		return 0;
	/* exactly size + 1 bytes: ASan sees a read past the NUL */
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	if (!procfs_parse_stat(text, &st) && !st.state)
		abort();
	for (line = text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (procfs_parse_maps_line(line, &m))
			continue;
		/* the path lies within the line, the range is not empty */
		if (m.path < line || m.path + m.path_len > line + strlen(line) || m.end <= m.start)
			abort();
	}
	free(text);
	return 0;
}
