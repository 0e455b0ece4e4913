// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What a cgroup path says of a process (include/discover.h), and the target filters:
 * pure functions of strings, for the daemon and its tests.
 *
 * Layouts recognised (the last component that names a container wins):
 *   docker, cgroupfs driver:     /docker/<id>
 *   docker, systemd driver:      /system.slice/docker-<id>.scope
 *   containerd (CRI), systemd:   /kubepods.slice/kubepods-burstable.slice/
 *                                kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope
 *   containerd, cgroupfs:        /kubepods/besteffort/pod<uid>/<id>
 *   containerd in v1 systemd:    .../kubepods-pod<uid_>.slice:cri-containerd:<id>
 *   cri-o:                       .../crio-<id>.scope (crio-conmon-<id>.scope is conmon)
 *   podman:                      /machine.slice/libpod-<id>.scope, /libpod_parent/libpod-<id>
 *                                (libpod-conmon-<id>.scope is conmon)
 * <id> is 64 lowercase hex digits. Pods directly under kubepods are QoS guaranteed.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "discover.h"

#define ID_LEN 64

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void copy(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* Runtime named by what precedes the id in a component ("cri-containerd-", ...). */
static const char *runtime_of(const char *prefix, size_t n, const char *parent, size_t pn)
{
	static const struct {
		const char *prefix;
		const char *runtime;
	} known[] = {
		{"docker", "docker"},
		{"cri-containerd", "containerd"},
		{"crio", "cri-o"},
		{"libpod", "podman"},
	};

	if (n == 0)
		return pn == 6 && !strncmp(parent, "docker", 6) ? "docker" : "";
	/* "docker-", "crio-", ... or containerd's ":cri-containerd:" */
	if (prefix[n - 1] != '-' && prefix[n - 1] != ':')
		return NULL;
	n--;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		size_t k = strlen(known[i].prefix);

		if (n >= k && !strncmp(prefix + n - k, known[i].prefix, k) &&
		    (n == k || prefix[n - k - 1] == ':'))
			return known[i].runtime;
	}
	/* conmon-<id> and anything else: not the container itself */
	return NULL;
}

/* A container id in one path component [c, c + n); parent is the component before. */
static void container_in(const char *c, size_t n, const char *parent, size_t pn,
			 struct disc_ident *id)
{
	const char *rt;
	size_t end = n;

	if (n > 6 && !strncmp(c + n - 6, ".scope", 6))
		end -= 6;
	if (end < ID_LEN || !is_hex(c + end - ID_LEN, ID_LEN))
		return;
	rt = runtime_of(c, end - ID_LEN, parent, pn);
	if (!rt)
		return;
	copy(id->container_id, sizeof(id->container_id), c + end - ID_LEN, ID_LEN);
	snprintf(id->runtime, sizeof(id->runtime), "%s", rt);
}

/* pod<uid> (cgroupfs) or kubepods[-qos]-pod<uid_>.slice (systemd), uid with dashes. */
static void pod_in(const char *c, size_t n, struct disc_ident *id)
{
	const char *p = NULL;
	size_t len;

	if (n > 3 && !strncmp(c, "pod", 3)) {
		p = c + 3;
		len = n - 3;
	} else if (n > 8 + 6 && !strncmp(c, "kubepods", 8) && !strncmp(c + n - 6, ".slice", 6)) {
		const char *q = c;

		/* the slice name with its own ':' (a v1 systemd path) ends at the ':' */
		for (q = c; q < c + n - 3; q++)
			if (!strncmp(q, "-pod", 4))
				p = q + 4;
		len = p ? (size_t)(c + n - 6 - p) : 0;
	}
	if (!p || len < 32 || len >= sizeof(id->pod_uid))
		return;
	copy(id->pod_uid, sizeof(id->pod_uid), p, len);
	for (char *u = id->pod_uid; *u; u++)
		if (*u == '_')
			*u = '-';
}

static void qos_in(const char *c, size_t n, struct disc_ident *id)
{
	static const char *const classes[] = {"burstable", "besteffort"};

	for (size_t i = 0; i < 2; i++) {
		size_t k = strlen(classes[i]);

		/* cgroupfs: the bare name; systemd: kubepods-<class>.slice or a pod slice */
		if ((n == k && !strncmp(c, classes[i], k)) ||
		    (n > 9 + k && !strncmp(c, "kubepods-", 9) && !strncmp(c + 9, classes[i], k)))
			snprintf(id->qos, sizeof(id->qos), "%s", classes[i]);
	}
}

bool disc_parse_container(const char *path, struct disc_ident *id)
{
	const char *c = path, *parent = "";
	size_t pn = 0;
	bool kube = false;

	id->container_id[0] = id->runtime[0] = id->pod_uid[0] = id->qos[0] = 0;
	while (*c) {
		size_t n = strcspn(c, "/");

		if (n) {
			/* containerd under v1 systemd: "kubepods-...slice:cri-containerd:<id>" */
			const char *colon = memchr(c, ':', n);

			if ((n == 8 && !strncmp(c, "kubepods", 8)) ||
			    !strncmp(c, "kubepods.slice", 14) || !strncmp(c, "kubepods-", 9))
				kube = true;
			if (kube) {
				pod_in(c, colon ? (size_t)(colon - c) : n, id);
				qos_in(c, n, id);
			}
			container_in(c, n, parent, pn, id);
			parent = c;
			pn = n;
		}
		c += n;
		if (*c == '/')
			c++;
	}
	if (kube && id->pod_uid[0] && !id->qos[0])
		snprintf(id->qos, sizeof(id->qos), "guaranteed");
	return id->container_id[0] != 0;
}

/* One line "ID:CONTROLLERS:PATH" of /proc/PID/cgroup; the path runs to the line's end. */
struct cg_line {
	const char *hier, *ctrl, *path;
	size_t ctrl_len, path_len;
};

static bool split_line(const char *s, size_t n, struct cg_line *l)
{
	const char *c1 = memchr(s, ':', n), *c2;

	if (!c1)
		return false;
	c2 = memchr(c1 + 1, ':', n - (c1 + 1 - s));
	if (!c2)
		return false;
	l->hier = s;
	l->ctrl = c1 + 1;
	l->ctrl_len = c2 - c1 - 1;
	l->path = c2 + 1;
	l->path_len = n - (c2 + 1 - s);
	return true;
}

static bool is_root(const struct cg_line *l)
{
	return l->path_len == 1 && l->path[0] == '/';
}

void disc_parse_cgroup(const char *text, struct disc_ident *id)
{
	struct cg_line v2 = {}, sysd = {}, v1 = {}, l;
	bool has_v2 = false, has_v1 = false;
	const char *s = text;
	char path[512];

	while (*s) {
		size_t n = strcspn(s, "\n");

		if (split_line(s, n, &l)) {
			if (l.ctrl_len == 0 && l.hier[0] == '0' && l.hier[1] == ':') {
				v2 = l;
				has_v2 = true;
			} else {
				has_v1 = true;
				if (l.ctrl_len == 12 && !strncmp(l.ctrl, "name=systemd", 12))
					sysd = l;
				else if (!v1.path && !is_root(&l))
					v1 = l;
			}
		}
		s += n;
		if (*s)
			s++;
	}
	/* on a hybrid system the v1 hierarchies are where runtimes put containers */
	if (!has_v1)
		l = v2;
	else if (sysd.path && !is_root(&sysd))
		l = sysd;
	else if (v1.path)
		l = v1;
	else if (has_v2 && !is_root(&v2))
		l = v2;
	else
		l = sysd.path ? sysd : v2;
	copy(id->cgroup, sizeof(id->cgroup), l.path ? l.path : "", l.path ? l.path_len : 0);
	if (disc_parse_container(id->cgroup, id))
		return;
	/* the chosen path names no container: any other hierarchy that does */
	for (s = text; *s;) {
		size_t n = strcspn(s, "\n");

		if (split_line(s, n, &l)) {
			copy(path, sizeof(path), l.path, l.path_len);
			if (disc_parse_container(path, id))
				return;
		}
		s += n;
		if (*s)
			s++;
	}
	/* nothing anywhere: the chosen path's pod fields, if any */
	disc_parse_container(id->cgroup, id);
}

/* ---- filters ---- */

static bool exe_matches(const char **globs, int n, const char *path, const char *base)
{
	for (int i = 0; i < n; i++)
		if (!fnmatch(globs[i], base, 0) || !fnmatch(globs[i], path, 0))
			return true;
	return false;
}

static bool cgroup_matches(const char **globs, int n, const char *cgroup)
{
	for (int i = 0; i < n; i++)
		if (!fnmatch(globs[i], cgroup, 0))
			return true;
	return false;
}

static bool container_matches(const char **prefixes, int n, const char *id)
{
	for (int i = 0; i < n && *id; i++)
		if (*prefixes[i] && !strncmp(id, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

bool disc_filter_keep(const struct disc_filter *f, const char *exe, const char *cgroup,
		      const char *container_id)
{
	static const char deleted[] = " (deleted)";
	char path[4096];
	const char *base;
	size_t n;

	if (!f)
		return true;
	/* readlink of a replaced or removed executable ends in " (deleted)" */
	snprintf(path, sizeof(path), "%s", exe);
	n = strlen(path);
	if (n > sizeof(deleted) - 1 && !strcmp(path + n - (sizeof(deleted) - 1), deleted))
		path[n - (sizeof(deleted) - 1)] = 0;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (exe_matches(f->exclude_exe, f->n_exclude_exe, path, base) ||
	    cgroup_matches(f->exclude_cgroup, f->n_exclude_cgroup, cgroup) ||
	    container_matches(f->exclude_container, f->n_exclude_container, container_id))
		return false;
	if (f->n_include_exe && !exe_matches(f->include_exe, f->n_include_exe, path, base))
		return false;
	if (f->n_include_cgroup && !cgroup_matches(f->include_cgroup, f->n_include_cgroup, cgroup))
		return false;
	if (f->n_include_container &&
	    !container_matches(f->include_container, f->n_include_container, container_id))
		return false;
	return true;
}

const char *disc_verdict_name(enum disc_verdict v)
{
	switch (v) {
	case DISC_GO:
		return "go";
	case DISC_GO_UNSUPPORTED:
		return "go-unsupported";
	case DISC_EXCLUDED:
		return "excluded";
	case DISC_NOT_GO:
		return "not-go";
	case DISC_UNREADABLE:
		return "unreadable";
	}
	return "?";
}

const char *disc_kind_name(enum disc_kind k)
{
	switch (k) {
	case DISC_SCAN:
		return "scan";
	case DISC_EXEC:
		return "exec";
	case DISC_EXIT:
		return "exit";
	}
	return "?";
}
