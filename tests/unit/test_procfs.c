// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The /proc/PID/stat and /proc/PID/maps parsers (src/procfs.c) on names a process
 * chooses: a comm that holds ") Z ", a mapped file with spaces in its name, and one
 * whose path, longer than a line buffer, goes on with what looks like a line of maps
 * (target__ranges must not take it for a readable range).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procfs.h"
#include "target.h"
#include "test.h"

static void test_stat(void)
{
	const char *hostile = "12345 (a) Z b) R 1 12345 12345 0 -1 4194560 100 0 0 0 1 2 0 0 20 "
			      "0 1 0 987654 1000000 100 18446744073709551615 1 1 0 0 0\n";
	struct procfs_stat st;

	CHECK(!procfs_parse_stat(hostile, &st) && st.state == 'R' && st.flags == 4194560 &&
		      st.start_time == 987654,
	      "stat: comm 'a) Z b': state %c, flags %lu, start %llu", st.state, st.flags,
	      (unsigned long long)st.start_time);
	CHECK(procfs_parse_stat("1 (x", &st) == -EINVAL, "stat: no ')': -EINVAL");
	CHECK(procfs_parse_stat("1 (x) S 0 1", &st) == -EINVAL, "stat: cut short: -EINVAL");
}

static void test_maps_line(void)
{
	struct procfs_map m;
	int err;

	err = procfs_parse_maps_line("00400000-00452000 r-xp 00001000 08:02 173521      "
				     "/tmp/a b (deleted)\n",
				     &m);
	CHECK(!err && m.start == 0x400000 && m.end == 0x452000 && m.offset == 0x1000 &&
		      m.major == 8 && m.minor == 2 && m.inode == 173521 && m.readable && m.exec &&
		      m.path_len == 18 && !strncmp(m.path, "/tmp/a b (deleted)", 18),
	      "maps: a path with spaces, to its newline");
	err = procfs_parse_maps_line("7ffd0000-7ffd1000 rw-p 00000000 00:00 0", &m);
	CHECK(!err && !m.exec && !*m.path, "maps: anonymous: no path");
	CHECK(procfs_parse_maps_line("2000-1000 rw-p 00000000 00:00 0", &m) == -EINVAL,
	      "maps: an empty range: -EINVAL");
	CHECK(procfs_parse_maps_line("1000-2000 rw-p", &m) == -EINVAL, "maps: cut short: -EINVAL");
}

/* Where the path starts in the line of /proc/self/maps that maps addr. */
static int path_column(void *addr)
{
	char line[8192];
	int col = -1;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		struct procfs_map m;

		if (!procfs_parse_maps_line(line, &m) && m.start == (uintptr_t)addr) {
			col = m.path - line;
			break;
		}
	}
	if (f)
		fclose(f);
	return col;
}

static void test_long_path(void)
{
	const char *fake = "10000-20000 r--p 00000000 00:00 0 x";
	struct target t = {.pid = getpid(), .mem_fd = -1};
	char dir[] = "/tmp/lh-procfs-XXXXXX", path[1024], to[1024];
	struct target_range *r = NULL;
	size_t n = 0, len;
	bool fake_seen = false, real_seen = false;
	void *p = MAP_FAILED;
	int fd, col;

	if (!mkdtemp(dir)) {
		CHECK(0, "long path: mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd >= 0 && !ftruncate(fd, 4096))
		p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	col = p != MAP_FAILED ? path_column(p) : -1;
	CHECK(col > 0, "long path: file mapped, its path at column %d", col);
	if (col <= 0)
		goto out;
	/* a path that puts the fake line at byte 511 of its line: the next 512-byte read */
	len = snprintf(to, sizeof(to), "%s/", dir);
	while ((int)len < 511 - col - 1) {
		size_t k = 511 - col - 1 - len > 200 ? 200 : 511 - col - 1 - len;

		memset(to + len, 'd', k);
		to[len + k] = 0;
		len += k;
		if ((int)len < 511 - col - 1) {
			mkdir(to, 0700);
			to[len++] = '/';
		}
	}
	to[len] = 0;
	mkdir(to, 0700);
	strcat(to, "/");
	strcat(to, fake);
	/* the directory's last name ends one byte short: the fake starts at 511 */
	CHECK(!rename(path, to) && path_column(p) == col, "long path: renamed (%zu bytes)",
	      strlen(to));
	CHECK(!target__ranges(&t, &r, &n), "long path: target__ranges");
	for (size_t i = 0; i < n; i++) {
		fake_seen |= r[i].start <= 0x10000 && r[i].end >= 0x20000;
		real_seen |= r[i].start <= (uintptr_t)p && r[i].end >= (uintptr_t)p + 4096;
	}
	CHECK(real_seen && !fake_seen,
	      "long path: the mapping is a range, the rest of its path not");
	free(r);
	unlink(to);
out:
	if (p != MAP_FAILED)
		munmap(p, 4096);
	if (fd >= 0)
		close(fd);
	unlink(path);
	/* the directories: rm -r is simpler than walking back up */
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path))
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	test_stat();
	test_maps_line();
	test_long_path();
	TEST_EXIT();
}
