// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A tracer's snapshots (docs/SNAPSHOTS.md): the heap, goroutine and C heap profiles and
 * the report, written to a directory of their own when the target is OOM-killed or an
 * early trigger fires (src/snapshot.c). Everything comes from what leakhound holds:
 * the BPF maps (read once more now), the model, the binary it keeps open; only the
 * goroutines need the target's memory, and a victim past reading gets the last
 * snapshot of them taken for a report.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "goroutines.h"
#include "log.h"
#include "oom.h"
#include "snapshot.h"
#include "target.h"
#include "trace_int.h"

static int write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4400];
	size_t off = 0;
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, (const char *)buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		off += n;
	}
	if (close(fd) && !err)
		err = -errno;
	return err;
}

/* Adds name to files when written; a failure is logged and noted in the JSON. */
static void put(const char *dir, const char *name, int err, const void *buf, size_t len,
		cJSON *files, cJSON *missing)
{
	if (!err)
		err = write_file(dir, name, buf, len);
	if (!err) {
		cJSON_AddItemToArray(files, cJSON_CreateString(name));
		return;
	}
	if (err != -ENOENT)
		log_warn("snapshot %s/%s: %s", dir, name, strerror(-err));
	cJSON_AddStringToObject(missing, name, err == -ENOENT ? "not traced" : strerror(-err));
}

/*
 * The goroutines as the collect just before (at since) read them, or, when it could not
 * (a victim past reading), as the last report did: *when says which. Read here only
 * with goroutine tracing off, which keeps no snapshot.
 */
static int goroutines_pprof(struct tracer *tr, uint64_t since, char **buf, size_t *len,
			    const char **when)
{
	const struct goroutine_snapshot *s;
	uint64_t at;

	s = trace_gor_last_snapshot(tr, &at);
	*when = !s || at >= since ? "now" : "last report";
	if (!s)
		return goroutines_render(tr->t, GOROUTINES_PPROF, buf, len);
	return goroutines_render_from(tr->t, s, GOROUTINES_PPROF, buf, len);
}

static cJSON *snapshot_json(struct tracer *tr, enum snap_reason r, const char *detail,
			    const struct oom_victim *v)
{
	cJSON *o = cJSON_CreateObject();
	char when[64];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(o, "reason", snap_reason_name(r));
	cJSON_AddStringToObject(o, "detail", detail);
	cJSON_AddStringToObject(o, "time", when);
	cJSON_AddNumberToObject(o, "pid", tr->t->pid);
	cJSON_AddStringToObject(o, "exe", tr->t->exe);
	cJSON_AddStringToObject(o, "go_version", tr->t->bin->bi.version_str);
	if (v) {
		cJSON *k = cJSON_AddObjectToObject(o, "oom_kill");

		cJSON_AddNumberToObject(k, "victim_pid", v->pid);
		if (v->has_rss) {
			cJSON_AddNumberToObject(k, "total_vm_bytes", v->total_vm);
			cJSON_AddNumberToObject(k, "anon_rss_bytes", v->anon_rss);
			cJSON_AddNumberToObject(k, "file_rss_bytes", v->file_rss);
			cJSON_AddNumberToObject(k, "shmem_rss_bytes", v->shmem_rss);
			cJSON_AddNumberToObject(k, "oom_score_adj", v->oom_score_adj);
		}
	}
	if (tr->snapw.rss_now) {
		cJSON *w = cJSON_AddObjectToObject(o, "trigger_view");

		cJSON_AddNumberToObject(w, "rss_bytes", tr->snapw.rss_now);
		cJSON_AddNumberToObject(w, "rss_growth_bytes_per_s", tr->snapw.rss_rate);
		if (tr->snapw.have_cg) {
			cJSON_AddStringToObject(w, "cgroup", tr->snapw.cg.dir);
			cJSON_AddNumberToObject(w, "cgroup_usage_bytes", tr->snapw.cg_usage);
			if (tr->snapw.cg_limit != CGMEM_UNLIMITED)
				cJSON_AddNumberToObject(w, "cgroup_limit_bytes",
							tr->snapw.cg_limit);
		}
	}
	return o;
}

int trace_snapshot(struct tracer *tr, enum snap_reason r, const char *detail,
		   const struct oom_victim *v)
{
	const struct snap_opts *so = &tr->o.snap;
	char tmp[4400], final[4400], *json;
	cJSON *root, *meta, *files, *missing;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *when;
	uint64_t since;
	int err;

	if (!so->dir)
		return 0;
	err = snap_begin(so, tr->t->pid, tr->t->exe, r, tmp, sizeof(tmp), final, sizeof(final));
	if (err) {
		log_err("process %d: snapshot in %s: %s", tr->t->pid, so->dir, strerror(-err));
		return err;
	}
	/* the maps as they are now: a victim's entries stay until we detach */
	since = trace_mono_ns();
	err = trace_collect(tr);
	if (err)
		log_warn("process %d: snapshot with the last report's data", tr->t->pid);
	meta = snapshot_json(tr, r, detail, v);
	files = cJSON_AddArrayToObject(meta, "files");
	missing = cJSON_AddObjectToObject(meta, "missing");

	err = tr->gh ? trace_heap_pprof(tr, &buf, &len) : -ENOENT;
	put(tmp, "heap.pb.gz", err, buf, len, files, missing);
	free(buf);
	buf = NULL;

	err = goroutines_pprof(tr, since, (char **)&buf, &len, &when);
	put(tmp, "goroutine.pb.gz", err, buf, len, files, missing);
	if (!err)
		cJSON_AddStringToObject(meta, "goroutines_taken", when);
	free(buf);
	buf = NULL;

	err = tr->cgo ? trace_cgo_pprof_buf(tr, &buf, &len) : -ENOENT;
	put(tmp, "cgo.pb.gz", err, buf, len, files, missing);
	free(buf);
	buf = NULL;

	root = trace_report_json(tr);
	if (!root)
		root = cJSON_CreateObject();
	cJSON_AddItemToArray(files, cJSON_CreateString("report.json"));
	cJSON_AddItemToObject(root, "snapshot", meta);
	json = cJSON_Print(root);
	cJSON_Delete(root);
	err = json ? write_file(tmp, "report.json", json, strlen(json)) : -ENOMEM;
	free(json);
	if (!err)
		err = snap_publish(so, tmp, final);
	if (err) {
		log_err("process %d: snapshot %s: %s", tr->t->pid, final, strerror(-err));
		return err;
	}
	tr->snaps[r]++;
	/* said whatever the verbosity: what the user runs trace for */
	if (tr->quiet)
		log_info("process %d: %s snapshot: %s (%s)", tr->t->pid, snap_reason_name(r),
			 final, detail);
	else
		fprintf(stderr, "leakhound: process %d: %s snapshot: %s (%s)\n", tr->t->pid,
			snap_reason_name(r), final, detail);
	return 0;
}

void trace_snap_tick(struct tracer *tr)
{
	char detail[512];
	int r;

	if (!tr->o.snap.dir)
		return;
	r = snap_check(&tr->snapw, &tr->o.snap, trace_mono_ns() / 1e9,
		       tr->o.snap.goroutines ? trace_gor_count(tr) : -1, detail, sizeof(detail));
	if (r >= 0)
		trace_snapshot(tr, r, detail, NULL);
}

void trace_snap_oom(struct tracer *tr, const struct oom_victim *v)
{
	char detail[256];

	if (!tr->o.snap.dir || !tr->o.snap.oom || tr->oom_taken)
		return;
	tr->oom_taken = true;
	if (v->has_rss)
		snprintf(detail, sizeof(detail),
			 "OOM-killed with %.1f MB anonymous, %.1f MB file RSS",
			 v->anon_rss / 1e6, v->file_rss / 1e6);
	else
		snprintf(detail, sizeof(detail), "OOM-killed");
	trace_snapshot(tr, SNAP_OOM, detail, v);
}
