/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_PROCFS_H
#define LEAKHOUND_PROCFS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * A small file (/proc, /sys) read whole into buf, NUL-terminated: reads until end of
 * file, since seq files hand out a page or so per read. Bytes read (a file longer than
 * size - 1 is cut there), or -errno.
 */
ssize_t procfs_read(const char *path, char *buf, size_t size);

#endif
