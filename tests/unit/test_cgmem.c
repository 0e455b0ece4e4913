// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Memory cgroups for the snapshot triggers (src/cgmem.c): the parsers on text as the
 * kernel writes it (layouts from this machine's v1 hierarchy and from a cgroup v2
 * host's /proc), and the v2 limit walk on a directory tree laid out like a v2 mount:
 * this machine's memory controller is v1, so v2's files cannot come from the kernel
 * here (tests/integration/snapshots.sh runs the v1 path against the kernel).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgmem.h"
#include "test.h"

static void test_proc_cgroup(void)
{
	static const char v1[] = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n"
				 "3:cpuset:/\n0::/\n";
	static const char v1comb[] = "5:cpuacct,memory,cpu:/kubepods/pod1/c1\n0::/\n";
	static const char v2[] = "0::/system.slice/app.service\n";
	static const char colon[] = "0::/a:b/c\n";
	static const char none[] = "3:cpuset:/\n";
	static const char junk[] = "::\n:\nmemory\n4memory:/x\n";
	char p[64];

	CHECK(cgmem_parse_proc_cgroup(v1, strlen(v1), p, sizeof(p)) == 1 &&
		      !strcmp(p, "/process_api/abc"),
	      "v1: the memory controller's line wins over 0::/ (got %s)", p);
	CHECK(cgmem_parse_proc_cgroup(v1comb, strlen(v1comb), p, sizeof(p)) == 1 &&
		      !strcmp(p, "/kubepods/pod1/c1"),
	      "v1: memory among co-mounted controllers");
	CHECK(cgmem_parse_proc_cgroup(v2, strlen(v2), p, sizeof(p)) == 2 &&
		      !strcmp(p, "/system.slice/app.service"),
	      "v2: the 0:: line");
	CHECK(cgmem_parse_proc_cgroup(colon, strlen(colon), p, sizeof(p)) == 2 &&
		      !strcmp(p, "/a:b/c"),
	      "v2: a ':' in the path is kept");
	CHECK(cgmem_parse_proc_cgroup(none, strlen(none), p, sizeof(p)) == 0,
	      "no memory controller: 0");
	CHECK(cgmem_parse_proc_cgroup(junk, strlen(junk), p, sizeof(p)) == 0,
	      "lines without two colons or with 'memory' outside the list: 0");
	CHECK(cgmem_parse_proc_cgroup(v2, strlen(v2), p, 5) == 2 && !strcmp(p, "/sys"),
	      "a path cut to the buffer, terminated");
}

static void test_mountinfo(void)
{
	static const char mi[] =
		"24 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
		"30 24 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
		"33 30 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
		"36 30 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
		"40 24 0:35 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw,nsdelegate\n";
	char m[64];

	CHECK(!cgmem_parse_mountinfo(mi, strlen(mi), 1, m, sizeof(m)) &&
		      !strcmp(m, "/sys/fs/cgroup/memory"),
	      "v1: the cgroup mount with 'memory' in its super options (optional fields "
	      "before '-' skipped)");
	CHECK(!cgmem_parse_mountinfo(mi, strlen(mi), 2, m, sizeof(m)) &&
		      !strcmp(m, "/mnt/cg two"),
	      "v2: the cgroup2 mount, \\040 decoded (got '%s')", m);
	CHECK(cgmem_parse_mountinfo(mi, 60, 1, m, sizeof(m)) == -ENOENT,
	      "no such mount in the text: -ENOENT");
}

static void test_stat(void)
{
	static const char st[] = "cache 100\ninactive_file 4096\ntotal_inactive_file 8192\n"
				 "inactive_file_x 1\n";
	uint64_t v = 0;

	CHECK(!cgmem_parse_stat(st, strlen(st), "inactive_file", &v) && v == 4096,
	      "memory.stat: inactive_file");
	CHECK(!cgmem_parse_stat(st, strlen(st), "total_inactive_file", &v) && v == 8192,
	      "memory.stat: total_inactive_file (v1 hierarchical)");
	CHECK(cgmem_parse_stat(st, strlen(st), "active_file", &v) == -ENOENT,
	      "a key only as a suffix of another: -ENOENT");
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[4200];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A v2 tree: root (no memory.max, as the kernel has it) / a (200M) / b (max) / c (max). */
static void test_v2_walk(void)
{
	char root[] = "/tmp/lh-cgmem-XXXXXX", a[256], b[256], c[256];
	struct cgmem cg = { .version = 2 };
	uint64_t lim = 0, use = 0, ws = 0;

	if (!mkdtemp(root)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(a, sizeof(a), "%s/a", root);
	snprintf(b, sizeof(b), "%s/a/b", root);
	snprintf(c, sizeof(c), "%s/a/b/c", root);
	mkdir(a, 0700);
	mkdir(b, 0700);
	mkdir(c, 0700);
	put(a, "memory.max", "209715200\n");
	put(b, "memory.max", "max\n");
	put(c, "memory.max", "max\n");
	put(c, "memory.current", "150000000\n");
	put(c, "memory.stat", "anon 1\nfile 2\ninactive_file 50000000\n");
	snprintf(cg.root, sizeof(cg.root), "%s", root);
	snprintf(cg.dir, sizeof(cg.dir), "%s", c);
	CHECK(!cgmem__limit(&cg, &lim) && lim == 209715200,
	      "v2: the lowest memory.max up the tree (a's 200M under two 'max')");
	CHECK(!cgmem__usage(&cg, &use) && use == 150000000, "v2: memory.current");
	CHECK(!cgmem__working_set(&cg, use, &ws) && ws == 100000000,
	      "v2: working set = memory.current - inactive_file");
	put(a, "memory.max", "max\n");
	CHECK(!cgmem__limit(&cg, &lim) && lim == CGMEM_UNLIMITED, "v2: 'max' all the way up");
	cg.version = 1;
	put(c, "memory.limit_in_bytes", "9223372036854771712\n");
	put(b, "memory.limit_in_bytes", "104857600\n");
	CHECK(!cgmem__limit(&cg, &lim) && lim == 104857600,
	      "v1 layout: a parent's limit caps the child's 'unlimited' (PAGE_COUNTER_MAX)");
	{
		char cmd[4300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd))
			printf("note: could not remove %s\n", root);
	}
}

int main(void)
{
	test_proc_cgroup();
	test_mountinfo();
	test_stat();
	test_v2_walk();
	TEST_EXIT();
}
