// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The daemon's discovery: /proc/PID/cgroup parsing and target filters (src/discover_ident.c). */
#include <string.h>

#include "discover.h"
#include "test.h"

#define ID1  "3f4b8c0a9d2e1f6a7b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
#define ID2  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID  "8e1d5c2a-4b7f-4c3d-9a1e-2f6b8d0c4e5a"
#define UID_ "8e1d5c2a_4b7f_4c3d_9a1e_2f6b8d0c4e5a"

struct cg_case {
	const char *name;
	const char *text; /* /proc/PID/cgroup as the kernel writes it */
	const char *cgroup;
	const char *id;
	const char *runtime;
	const char *pod;
	const char *qos;
};

static const struct cg_case cases[] = {
	{"v2 unified, systemd session", "0::/user.slice/user-1000.slice/session-3.scope\n",
	 "/user.slice/user-1000.slice/session-3.scope", "", "", "", ""},
	{"v2 root", "0::/\n", "/", "", "", "", ""},
	{"v1 hybrid, this machine's layout",
	 "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n"
	 "4:memory:/process_api/d08f8cbf048627137185b8571941427a\n3:cpuset:/\n2:cpuacct:/\n"
	 "1:cpu:/\n0::/\n",
	 "/process_api/d08f8cbf048627137185b8571941427a", "", "", "", ""},
	{"v1 systemd service",
	 "12:name=systemd:/system.slice/ssh.service\n11:memory:/system.slice/ssh.service\n0::/"
	 "system.slice/ssh.service\n",
	 "/system.slice/ssh.service", "", "", "", ""},
	{"docker v2, systemd driver", "0::/system.slice/docker-" ID1 ".scope\n",
	 "/system.slice/docker-" ID1 ".scope", ID1, "docker", "", ""},
	{"docker v1, cgroupfs driver",
	 "12:pids:/docker/" ID1 "\n11:memory:/docker/" ID1 "\n1:name=systemd:/docker/" ID1
	 "\n0::/system.slice/containerd.service\n",
	 "/docker/" ID1, ID1, "docker", "", ""},
	{"containerd, kubepods burstable, v2 systemd",
	 "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	 ".slice/cri-containerd-" ID1 ".scope\n",
	 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	 ".slice/cri-containerd-" ID1 ".scope",
	 ID1, "containerd", UID, "burstable"},
	{"containerd, kubepods besteffort, v1 cgroupfs",
	 "11:memory:/kubepods/besteffort/pod" UID "/" ID2 "\n"
	 "1:name=systemd:/kubepods/besteffort/pod" UID "/" ID2 "\n",
	 "/kubepods/besteffort/pod" UID "/" ID2, ID2, "", UID, "besteffort"},
	{"kubepods guaranteed, v1 cgroupfs", "4:memory:/kubepods/pod" UID "/" ID2 "\n0::/\n",
	 "/kubepods/pod" UID "/" ID2, ID2, "", UID, "guaranteed"},
	{"containerd under v1 systemd (slice:prefix:id)",
	 "1:name=systemd:/system.slice/containerd.service/kubepods-besteffort-pod" UID_
	 ".slice:cri-containerd:" ID1 "\n",
	 "/system.slice/containerd.service/kubepods-besteffort-pod" UID_
	 ".slice:cri-containerd:" ID1,
	 ID1, "containerd", UID, "besteffort"},
	{"cri-o, kubepods guaranteed, v2",
	 "0::/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID2 ".scope\n",
	 "/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID2 ".scope", ID2, "cri-o", UID,
	 "guaranteed"},
	{"cri-o conmon is not the container",
	 "0::/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" ID2 ".scope\n",
	 "/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" ID2 ".scope", "", "", UID,
	 "guaranteed"},
	{"podman rootful, v2", "0::/machine.slice/libpod-" ID1 ".scope/container\n",
	 "/machine.slice/libpod-" ID1 ".scope/container", ID1, "podman", "", ""},
	{"podman conmon", "0::/machine.slice/libpod-conmon-" ID1 ".scope\n",
	 "/machine.slice/libpod-conmon-" ID1 ".scope", "", "", "", ""},
	{"podman cgroupfs", "0::/libpod_parent/libpod-" ID2 "\n", "/libpod_parent/libpod-" ID2, ID2,
	 "podman", "", ""},
	{"a 63-digit id is none", "0::/system.slice/docker-" ID1 "x.scope\n",
	 "/system.slice/docker-" ID1 "x.scope", "", "", "", ""},
	{"garbage", "no colons here\n::\n", "", "", "", "", ""},
	{"empty", "", "", "", "", "", ""},
};

static void test_cgroup(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cg_case *c = &cases[i];
		struct disc_ident id;

		memset(&id, 0x5a, sizeof(id));
		disc_parse_cgroup(c->text, &id);
		CHECK(!strcmp(id.cgroup, c->cgroup), "cgroup %s: path '%s'", c->name, id.cgroup);
		CHECK(!strcmp(id.container_id, c->id), "cgroup %s: container '%s'", c->name,
		      id.container_id);
		CHECK(!strcmp(id.runtime, c->runtime), "cgroup %s: runtime '%s'", c->name,
		      id.runtime);
		CHECK(!strcmp(id.pod_uid, c->pod), "cgroup %s: pod '%s'", c->name, id.pod_uid);
		CHECK(!strcmp(id.qos, c->qos), "cgroup %s: qos '%s'", c->name, id.qos);
	}
}

static void test_filters(void)
{
	const char *inc_exe[] = {"api-*", "/opt/bin/*"}, *exc_exe[] = {"*-debug"};
	const char *inc_cg[] = {"/kubepods*"}, *exc_cg[] = {"*besteffort*"};
	const char *inc_ct[] = {"3f4b"}, *exc_ct[] = {"3f4b8c0a9d2e"};
	struct disc_filter f = {};

	CHECK(disc_filter_keep(NULL, "/x", "/", ""), "filter: none keeps everything");
	CHECK(disc_filter_keep(&f, "/x", "/", ""), "filter: empty keeps everything");
	f.include_exe = inc_exe;
	f.n_include_exe = 2;
	CHECK(disc_filter_keep(&f, "/usr/local/bin/api-server", "/", ""),
	      "filter: include glob on the base name");
	CHECK(disc_filter_keep(&f, "/opt/bin/worker", "/", ""), "filter: include glob on the path");
	CHECK(!disc_filter_keep(&f, "/usr/bin/worker", "/", ""), "filter: not included");
	CHECK(disc_filter_keep(&f, "/srv/api-v2 (deleted)", "/", ""),
	      "filter: a deleted executable matches by its name");
	f.exclude_exe = exc_exe;
	f.n_exclude_exe = 1;
	CHECK(!disc_filter_keep(&f, "/usr/local/bin/api-debug", "/", ""),
	      "filter: exclude wins over include");
	f.include_cgroup = inc_cg;
	f.n_include_cgroup = 1;
	CHECK(!disc_filter_keep(&f, "/usr/local/bin/api-server", "/system.slice/x.service", ""),
	      "filter: includes of every kind must match");
	CHECK(disc_filter_keep(&f, "/usr/local/bin/api-server", "/kubepods/burstable/pod1/x", ""),
	      "filter: exe and cgroup includes both match");
	f.exclude_cgroup = exc_cg;
	f.n_exclude_cgroup = 1;
	CHECK(!disc_filter_keep(&f, "/usr/local/bin/api-server", "/kubepods/besteffort/pod1/x", ""),
	      "filter: cgroup exclude");
	memset(&f, 0, sizeof(f));
	f.include_container = inc_ct;
	f.n_include_container = 1;
	CHECK(disc_filter_keep(&f, "/app", "/", ID1), "filter: container id prefix");
	CHECK(!disc_filter_keep(&f, "/app", "/", ID2), "filter: other container");
	CHECK(!disc_filter_keep(&f, "/app", "/", ""), "filter: no container never matches");
	f.exclude_container = exc_ct;
	f.n_exclude_container = 1;
	CHECK(!disc_filter_keep(&f, "/app", "/", ID1), "filter: container exclude wins");
}

int main(void)
{
	test_cgroup();
	test_filters();
	TEST_EXIT();
}
