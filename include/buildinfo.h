/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_BUILDINFO_H
#define LEAKHOUND_BUILDINFO_H

#include <stdint.h>

struct elfbin;

/* Go release that built a binary: go1.22.12 -> {1, 22, 12}. */
struct go_version {
	int major;
	int minor;
	int patch;
};

/* Oldest and newest releases leakhound supports. */
#define GO_MIN_MINOR 19
#define GO_MAX_MINOR 26
#define GO_STR_(x) #x
#define GO_STR(x) GO_STR_(x)
/* The range as messages name it: "go1.19 to go1.26". */
#define GO_SUPPORTED_RANGE "go1." GO_STR(GO_MIN_MINOR) " to go1." GO_STR(GO_MAX_MINOR)

static inline int go_version_at_least(const struct go_version *v, int minor)
{
	return v->major > 1 || (v->major == 1 && v->minor >= minor);
}

struct go_setting {
	char *key;
	char *value;
};

/* The .go.buildinfo blob (debug/buildinfo format, Go 1.18+). */
struct go_buildinfo {
	char version_str[64]; /* "go1.22.12", possibly with a suffix ("go1.23.0 X:..." ) */
	struct go_version version;
	uint64_t addr;	      /* link-time address of the header */
	char *path;	      /* main package path, "" when absent */
	char *mod_path;	      /* main module */
	char *mod_version;
	char *mod_sum;
	struct go_setting *settings; /* build KEY=VALUE lines, in order */
	int nsettings;
	int ndeps;
};

/* 0, -ENOENT when the binary has no Go build info, -EINVAL when it is malformed. */
int buildinfo__read(struct elfbin *eb, struct go_buildinfo *bi);
void buildinfo__clear(struct go_buildinfo *bi);
/* Value of a build setting (e.g. "CGO_ENABLED", "-buildmode") or NULL. */
const char *buildinfo__setting(const struct go_buildinfo *bi, const char *key);
/* Parses "go1.22.12" / "go1.21rc2" / "devel go1.23-abc". -EINVAL otherwise. */
int go_version_parse(const char *s, struct go_version *v);

#endif
