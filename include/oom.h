/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_OOM_H
#define LEAKHOUND_OOM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A process the kernel's OOM killer picked (oom:mark_victim, bpf/oom.bpf.c). */
struct oom_victim {
	pid_t pid;		/* the victim task; its process is oom_victim_tgid()'s */
	uint64_t ts_ns;		/* CLOCK_MONOTONIC */
	bool has_rss;		/* the fields below are known (kernels 6.8+) */
	uint64_t total_vm;	/* bytes */
	uint64_t anon_rss;
	uint64_t file_rss;
	uint64_t shmem_rss;
	int oom_score_adj;
};

typedef void (*oom_fn)(const struct oom_victim *v, void *ctx);

struct oomwatch;

/*
 * Loads and attaches the tracepoint program; cb runs from oomwatch__consume() for each
 * victim. NULL with errno (EPERM: no privileges).
 */
struct oomwatch *oomwatch__open(oom_fn cb, void *ctx);
void oomwatch__free(struct oomwatch *w);
/* Readable when victims wait: for poll(). */
int oomwatch__fd(const struct oomwatch *w);
/* Hands every waiting victim to the callback: their count, or -errno. */
int oomwatch__consume(struct oomwatch *w);
/* Victims seen since open, and records the ring could not take. */
uint64_t oomwatch__seen(const struct oomwatch *w);
uint64_t oomwatch__drops(struct oomwatch *w);

/*
 * The process of a victim task: pid itself when it is a process (the usual victim, a
 * thread-group leader), else the Tgid of /proc/PID/status while the thread is still
 * there; pid when that cannot be read.
 */
pid_t oom_victim_tgid(pid_t pid);

#endif
