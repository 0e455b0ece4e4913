// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The OOM watch: one tracepoint program and its ring buffer (bpf/oom.bpf.c), shared by
 * every target of a leakhound process. What to do with a victim is the caller's.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfmaps.h"
#include "leakhound.h"
#include "log.h"
#include "oom.h"
#include "procfs.h"

#include "oom.skel.h"

struct oomwatch {
	struct oom_bpf *skel;
	struct ring_buffer *rb;
	oom_fn cb;
	void *ctx;
	uint64_t seen;
};

static int on_record(void *ctx, void *data, size_t len)
{
	struct oomwatch *w = ctx;
	const struct lh_oom_event *e = data;
	struct oom_victim v;

	if (len < sizeof(*e))
		return 0;
	w->seen++;
	v = (struct oom_victim){
		.pid = e->pid,
		.ts_ns = e->ts_ns,
		.has_rss = e->has_rss,
		/* the tracepoint gives kB (K(x) in include/trace/events/oom.h) */
		.total_vm = e->total_vm_kb * 1024,
		.anon_rss = e->anon_rss_kb * 1024,
		.file_rss = e->file_rss_kb * 1024,
		.shmem_rss = e->shmem_rss_kb * 1024,
		.oom_score_adj = e->oom_score_adj,
	};
	w->cb(&v, w->ctx);
	return 0;
}

struct oomwatch *oomwatch__open(oom_fn cb, void *ctx)
{
	struct oomwatch *w;
	int err;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->cb = cb;
	w->ctx = ctx;
	w->skel = oom_bpf__open_and_load();
	if (!w->skel) {
		err = -errno;
		goto fail;
	}
	err = oom_bpf__attach(w->skel);
	if (err)
		goto fail;
	w->rb = ring_buffer__new(bpf_map__fd(w->skel->maps.oom_events), on_record, w, NULL);
	if (!w->rb) {
		err = -errno;
		goto fail;
	}
	return w;
fail:
	oomwatch__free(w);
	errno = -err;
	return NULL;
}

void oomwatch__free(struct oomwatch *w)
{
	if (!w)
		return;
	ring_buffer__free(w->rb);
	oom_bpf__destroy(w->skel);
	free(w);
}

int oomwatch__fd(const struct oomwatch *w)
{
	return ring_buffer__epoll_fd(w->rb);
}

int oomwatch__consume(struct oomwatch *w)
{
	return ring_buffer__consume(w->rb);
}

uint64_t oomwatch__seen(const struct oomwatch *w)
{
	return w ? w->seen : 0;
}

uint64_t oomwatch__drops(struct oomwatch *w)
{
	uint64_t st[LH_STAT__COUNT];

	if (!w || bpfmaps__sum_stats(w->skel->maps.stats, st))
		return 0;
	return st[LH_STAT_RINGBUF_RESERVE];
}

pid_t oom_victim_tgid(pid_t pid)
{
	char path[64], buf[2048], *p;
	long tgid;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (procfs_read(path, buf, sizeof(buf)) < 0)
		return pid;
	p = strstr(buf, "\nTgid:");
	if (!p)
		return pid;
	tgid = strtol(p + 6, NULL, 10);
	return tgid > 0 ? (pid_t)tgid : pid;
}
