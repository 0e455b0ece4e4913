// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Go release strings as cmd/go and the runtime spell them. */
#include <errno.h>
#include <string.h>

#include "buildinfo.h"
#include "elfbin.h"
#include "test.h"

static void version(const char *s, int minor, int patch)
{
	struct go_version v = {};
	int err = go_version_parse(s, &v);

	CHECK(!err && v.major == 1 && v.minor == minor && v.patch == patch,
	      "go_version_parse(\"%s\") = 1.%d.%d", s, v.minor, v.patch);
}

int main(void)
{
	struct go_version v;
	static const char junk[4096] = "\x7f" "ELF";
	struct elfbin *eb;

	version("go1.22.12", 22, 12);
	version("go1.21.0", 21, 0);
	version("go1.26rc1", 26, 0);
	version("go1.23.4 X:boringcrypto", 23, 4);
	version("devel go1.24-8ef3c1b Tue Nov 12 2024", 24, 0);
	CHECK(go_version_parse("gccgo", &v) == -EINVAL, "go_version_parse rejects \"gccgo\"");
	CHECK(go_version_parse("go2", &v) == -EINVAL, "go_version_parse rejects \"go2\"");

	/* an ELF magic followed by zeros is not an ELF file we can read */
	eb = elfbin__open_mem(junk, sizeof(junk));
	CHECK(!eb && errno == ENOEXEC, "elfbin__open_mem rejects a bare ELF magic");
	eb = elfbin__open_mem(junk, 10);
	CHECK(!eb && errno == ENOEXEC, "elfbin__open_mem rejects a 10-byte file");
	TEST_EXIT();
}
