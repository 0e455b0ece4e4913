// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test driver of the daemon's discovery (include/discover.h): attaches, scans, prints
 * "scan-done ..." and then one line per event until SIGINT/SIGTERM, then "stats ...".
 *
 * usage: discover-watch [--all] [--include-exe G] [--exclude-exe G] [--include-cgroup G]
 *                       [--exclude-cgroup G] [--include-container P]
 *                       [--exclude-container P] [--inspect PID] [--no-records]
 * Lines: KIND pid=N start=N image=N exec_id=N verdict=V [go=VER supported=0|1 parsed=0|1
 *        pidns=N mntns=N nspid=N cgroup=P container=ID runtime=R pod=UID qos=Q exe=PATH]
 * (exe last: it may hold spaces.) --inspect prints one process and exits. SIGUSR1
 * rescans ("rescan-done ..." after it); --no-records never reads the ring buffer, as if
 * every record were lost, so that only rescans find changes.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "log.h"

static volatile sig_atomic_t stop, rescan;
static bool no_records;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		rescan = 1;
	else
		stop = 1;
}

static void print_event(const struct disc_event *ev, void *ctx)
{
	const struct disc_ident *id = ev->ident;

	printf("%s pid=%d start=%lu image=%lu exec_id=%lu verdict=%s", disc_kind_name(ev->kind),
	       ev->pid, ev->start_time, ev->image, ev->exec_id, disc_verdict_name(ev->verdict));
	if (ev->kind != DISC_EXIT)
		printf(" go=%s supported=%d parsed=%d pidns=%lu mntns=%lu nspid=%d cgroup=%s"
		       " container=%s runtime=%s pod=%s qos=%s exe=%s",
		       ev->go->version_str[0] ? ev->go->version_str : "-", ev->go->supported,
		       ev->parsed, id->pidns, id->mntns, id->nspid, id->cgroup,
		       id->container_id[0] ? id->container_id : "-",
		       id->runtime[0] ? id->runtime : "-", id->pod_uid[0] ? id->pod_uid : "-",
		       id->qos[0] ? id->qos : "-", ev->exe);
	printf("\n");
}

static void print_stats(struct discover *d, const char *what)
{
	struct disc_stats st;

	discover__stats(d, &st);
	printf("%s parses=%lu cache_hits=%lu scanned=%lu vanished=%lu execs=%lu exits=%lu"
	       " stale=%lu drops=%lu tracked=%lu\n",
	       what, st.parses, st.cache_hits, st.scanned, st.vanished, st.execs, st.exits,
	       st.stale, st.drops, st.tracked);
}

/* Appends arg to one of the filter's lists (argv outlives the filter). */
static int add_filter(struct disc_filter *f, const char *opt, const char *arg)
{
	static const char *lists[6][64];
	static const char *const names[6] = {"--include-exe",	    "--exclude-exe",
					     "--include-cgroup",    "--exclude-cgroup",
					     "--include-container", "--exclude-container"};
	const char ***v[6] = {&f->include_exe,	  &f->exclude_exe,	 &f->include_cgroup,
			      &f->exclude_cgroup, &f->include_container, &f->exclude_container};
	int *n[6] = {&f->n_include_exe,	   &f->n_exclude_exe,	    &f->n_include_cgroup,
		     &f->n_exclude_cgroup, &f->n_include_container, &f->n_exclude_container};

	for (int i = 0; i < 6; i++) {
		if (strcmp(opt, names[i]))
			continue;
		if (*n[i] >= 64)
			return -E2BIG;
		lists[i][(*n[i])++] = arg;
		*v[i] = lists[i];
		return 0;
	}
	return -EINVAL;
}

static int watch(struct discover *d)
{
	struct pollfd pfd = {.fd = discover__fd(d), .events = POLLIN};
	int err;

	err = discover__scan(d);
	if (err) {
		fprintf(stderr, "discover-watch: scan failed: %s\n", strerror(-err));
		return 1;
	}
	print_stats(d, "scan-done");
	while (!stop) {
		if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
			break;
		if (rescan) {
			rescan = 0;
			err = discover__scan(d);
			print_stats(d, err ? "rescan-failed" : "rescan-done");
		}
		if (no_records)
			continue;
		err = discover__consume(d);
		if (err < 0) {
			fprintf(stderr, "discover-watch: consume failed: %s\n", strerror(-err));
			return 1;
		}
	}
	if (!no_records)
		discover__consume(d);
	print_stats(d, "stats");
	return 0;
}

static int inspect_one(struct discover *d, pid_t pid)
{
	struct disc_ident id;
	struct disc_event ev;
	char exe[4096];
	int err;

	err = discover__inspect(d, pid, &ev, &id, exe, sizeof(exe));
	if (err) {
		fprintf(stderr, "discover-watch: pid %d: %s\n", pid, strerror(-err));
		return 1;
	}
	print_event(&ev, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	struct discover_opts opts = {.cb = print_event};
	struct disc_filter filter = {};
	struct discover *d;
	bool filtered = false;
	pid_t inspect = 0;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_setup_libbpf();
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--all")) {
			opts.report_all = true;
		} else if (!strcmp(argv[i], "--no-records")) {
			no_records = true;
		} else if (!strcmp(argv[i], "--inspect") && i + 1 < argc) {
			inspect = atoi(argv[++i]);
		} else if (i + 1 < argc && add_filter(&filter, argv[i], argv[i + 1]) == 0) {
			filtered = true;
			i++;
		} else {
			fprintf(stderr, "discover-watch: bad argument '%s'\n", argv[i]);
			return 2;
		}
	}
	opts.filter = filtered ? &filter : NULL;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	d = discover__open(&opts);
	if (!d) {
		fprintf(stderr, "discover-watch: %s\n", strerror(errno));
		return 1;
	}
	rc = inspect ? inspect_one(d, inspect) : watch(d);
	discover__free(d);
	return rc;
}
