/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_PROCFS_H
#define LEAKHOUND_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A small file (/proc, /sys) read whole into buf, NUL-terminated: reads until end of
 * file, since seq files hand out a page or so per read. Bytes read (a file longer than
 * size - 1 is cut there), or -errno.
 */
ssize_t procfs_read(const char *path, char *buf, size_t size);

/*
 * The parsers below take text that holds names any process chooses (its comm, the
 * paths of the files it maps): tests/fuzz/fuzz_proc.c feeds them any bytes.
 */

/* The fields of /proc/PID/stat leakhound uses. */
struct procfs_stat {
	char state;	     /* R, S, D, Z, X, ... */
	unsigned long flags; /* PF_* */
	uint64_t start_time; /* clock ticks after boot */
};

/* From the text of /proc/PID/stat (NUL-terminated). 0, or -EINVAL. */
int procfs_parse_stat(const char *buf, struct procfs_stat *st);

/* One line of /proc/PID/maps: "start-end perms offset major:minor inode   path". */
struct procfs_map {
	uint64_t start, end, offset, inode;
	unsigned int major, minor;
	bool readable, exec;
	const char *path; /* into the line: up to its newline or NUL, "" for none */
	size_t path_len;  /* without the newline */
};

/* A NUL-terminated line (its newline, if any, is not part of the path). 0, or -EINVAL. */
int procfs_parse_maps_line(const char *line, struct procfs_map *m);

#endif
