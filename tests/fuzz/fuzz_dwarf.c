// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for src/dwarf.c. Input: u16 abbrev_len, u16 str_len, then the
 * .debug_abbrev bytes, the .debug_str bytes and .debug_info (the rest), little-endian.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *          tests/fuzz/fuzz_dwarf.c src/dwarf.c src/elfbin.c -lelf -lz -o fuzz_dwarf
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf.h"

static const char *const names[] = { "outer", "inner", "K", "K64", "U", "viastrx",
				     "runtime.g", "runtime._Gdead" };

static int count(const char *name, int64_t off, void *ctx)
{
	(*(size_t *)ctx) += strlen(name) + (off < 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct dwarf_sections s = { 0 };
	size_t alen, slen, n = 0;
	struct dwarf *dw;
	uint64_t u;
	int64_t v;

	if (len < 4)
		return 0;
	alen = data[0] | data[1] << 8;
	slen = data[2] | data[3] << 8;
	data += 4;
	len -= 4;
	if (alen + slen > len)
		return 0;
	s.abbrev = data;
	s.abbrev_len = alen;
	s.str = data + alen;
	s.str_len = slen;
	s.line_str = s.str;
	s.line_str_len = slen;
	s.str_offsets = s.str;
	s.str_offsets_len = slen;
	s.info = data + alen + slen;
	s.info_len = len - alen - slen;
	dw = dwarf__open_sections(&s);
	if (!dw)
		return 0;
	if (!dwarf__index(dw, names, sizeof(names) / sizeof(names[0]))) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			dwarf__member_offset(dw, names[i], "x.b", &u);
			dwarf__member_offset(dw, names[i], "a", &u);
			dwarf__byte_size(dw, names[i], &u);
			dwarf__constant(dw, names[i], &v);
			dwarf__for_each_member(dw, names[i], count, &n);
		}
	}
	dwarf__free(dw);
	return 0;
}
