/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_ATTACH_H
#define LEAKHOUND_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

struct target;

/*
 * Process-side control of a traced Go process, apart from its probes (src/goheap.c):
 * whether it is still the same process, and its heap sampling rate.
 */

/* Still running and still the process target__open() saw (not a reused PID, not a zombie). */
bool attach__alive(const struct target *t);
/* The process is there, but runs another executable now (execve). */
bool attach__execed(const struct target *t);

/* Runtime address of runtime.MemProfileRate; -ENOENT when the global was not found. */
int attach__rate_addr(const struct target *t, uint64_t *addr);
int attach__rate_read(struct target *t, int64_t *rate);
/*
 * Stores rate into runtime.MemProfileRate through /proc/PID/mem (needs the right to
 * ptrace the target). 0 or -errno.
 */
int attach__rate_write(const struct target *t, int64_t rate);

#endif
