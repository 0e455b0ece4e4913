// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"

ssize_t procfs_read(const char *path, char *buf, size_t size)
{
	size_t off = 0;
	int fd;

	if (!size)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off < size - 1) {
		ssize_t n = read(fd, buf + off, size - 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (n == 0)
			break;
		off += n;
	}
	close(fd);
	buf[off] = '\0';
	return off;
}

/*
 * Field 3 (state), 9 (flags) and 22 (starttime) of /proc/PID/stat: they follow the
 * parenthesised comm, which may hold anything a process names itself, ")" and " Z "
 * included, so they are counted from the last ')'.
 */
int procfs_parse_stat(const char *buf, struct procfs_stat *st)
{
	const char *p = strrchr(buf, ')');
	char state;
	unsigned long flags;
	unsigned long long start;

	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return -EINVAL;
	/* ")" then a space before each field from 3 on: the 20th space precedes starttime */
	for (int field = 3; p && field <= 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &start) != 1)
		return -EINVAL;
	st->state = state;
	st->flags = flags;
	st->start_time = start;
	return 0;
}

int procfs_parse_maps_line(const char *line, struct procfs_map *m)
{
	unsigned long long start, end, off, ino;
	unsigned int major, minor;
	char perms[8];
	int pos = 0;

	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off, &major,
		   &minor, &ino, &pos) != 7 ||
	    !pos || strlen(perms) != 4 || end <= start)
		return -EINVAL;
	m->start = start;
	m->end = end;
	m->offset = off;
	m->inode = ino;
	m->major = major;
	m->minor = minor;
	m->readable = perms[0] == 'r';
	m->exec = perms[2] == 'x';
	m->path = line + pos;
	m->path_len = strcspn(m->path, "\n");
	return 0;
}
