// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Prints the uprobe sites hooks__resolve() chooses for a Go binary, as the
 * table of hooks__print() or, with --json, the object of hooks__to_json()
 * plus the Go version. Driven by tests/integration/hooks.sh.
 * usage: hooks_dump [--json] BINARY
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buildinfo.h"
#include "elfbin.h"
#include "gosym.h"
#include "hooks.h"

static int dump(const char *path, bool json)
{
	struct go_buildinfo bi = { 0 };
	struct go_hooks hooks;
	struct elfbin *eb;
	struct gosym *gs = NULL;
	cJSON *obj = NULL;
	char *text;
	int err;

	eb = elfbin__open(path);
	if (!eb) {
		err = -errno;
		fprintf(stderr, "hooks_dump: cannot open '%s': %s\n", path, strerror(errno));
		return err;
	}
	err = buildinfo__read(eb, &bi);
	if (err) {
		fprintf(stderr, "hooks_dump: no Go build info in '%s': %s\n", path, strerror(-err));
		goto cleanup;
	}
	gs = gosym__open(eb);
	if (!gs) {
		err = -errno;
		fprintf(stderr, "hooks_dump: no pclntab in '%s': %s\n", path, strerror(errno));
		goto cleanup;
	}
	err = hooks__resolve(eb, gs, &bi.version, &hooks);
	if (err) {
		fprintf(stderr, "hooks_dump: resolving hooks failed: %s\n", strerror(-err));
		goto cleanup;
	}
	if (!json) {
		printf("%s: %s\n", path, bi.version_str);
		hooks__print(&hooks, stdout);
		goto cleanup;
	}
	obj = cJSON_CreateObject();
	if (!obj || !cJSON_AddStringToObject(obj, "go_version", bi.version_str) ||
	    hooks__to_json(&hooks, obj) || !(text = cJSON_Print(obj))) {
		err = -ENOMEM;
		goto cleanup;
	}
	printf("%s\n", text);
	free(text);
cleanup:
	cJSON_Delete(obj);
	gosym__free(gs);
	buildinfo__clear(&bi);
	elfbin__free(eb);
	return err;
}

int main(int argc, char **argv)
{
	bool json = argc == 3 && !strcmp(argv[1], "--json");

	if (argc != 2 && !json) {
		fprintf(stderr, "usage: %s [--json] BINARY\n", argv[0]);
		return 2;
	}
	return dump(argv[argc - 1], json) ? 1 : 0;
}
