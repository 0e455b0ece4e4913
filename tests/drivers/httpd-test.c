// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test driver for tests/integration/http.sh: the HTTP server (src/http.c) in a loop
 * shaped like the daemon's (poll on the server's fd with a short tick, then serve),
 * with demo handlers. Prints "listening ADDRESS PORT" on stdout once bound; runs until
 * SIGTERM/SIGINT, then frees everything (so that ASan's leak check sees a clean exit).
 * usage: httpd-test [--listen A] [--token T] [--max-conns N] [--max-header N]
 *                   [--read-timeout MS] [--write-timeout MS] [--profile FILE] [-v]
 *   /hello             "hello", then one "NAME=VALUE" line per decoded query parameter
 *   /metrics           promtext.h output: tricky labels and values, the server's stats
 *   /debug/pprof/heap  FILE, as net/http/pprof serves a profile
 *   /big               16 MiB of 'x' (for a client that never reads)
 *   /api/              prefix route: JSON {"path", "params"} (cJSON)
 *   /num?n=N           N back if it is an integer in [0, 4194304], else 400
 *   /fail              a handler failing with -EIO (500)
 *   /                  a small HTML page
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "promtext.h"
#include "strbuf.h"

static volatile sig_atomic_t stop;
static const char *profile_path;
static unsigned long long ticks;

static void on_signal(int sig)
{
	stop = 1;
}

static int hello(void *ctx, const struct http_request *req, struct http_response *resp)
{
	int i;

	http_response__printf(resp, "hello\n");
	for (i = 0; i < req->nparams; i++)
		http_response__printf(resp, "%s=%s\n", req->params[i].name, req->params[i].value);
	return 0;
}

static int metrics(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct strbuf *sb = http_response__body(resp);
	struct http_server *srv = ctx;
	struct http_stats st;
	struct prom_label tricky[] = {
		{"exe", "a \"quoted\" back\\slash\nnewline"},
		{"bad_utf8", "caf\xc3\xa9 \xff\xfe end"},
	};
	struct prom_label pid[] = {{"pid", "42"}, {"container", ""}};

	http_server__stats(srv, &st);
	http_response__content_type(resp, PROM_CONTENT_TYPE);
	prom_family(sb, "lh_demo_heap_inuse_bytes", PROM_GAUGE,
		    "Go heap in use (sampled estimate).\nSecond line with a \\ backslash.");
	prom_sample(sb, "lh_demo_heap_inuse_bytes", pid, 2, 123456789.0);
	prom_sample(sb, "lh_demo_heap_inuse_bytes", tricky, 2, 0.1);
	prom_family(sb, "lh_demo_values", PROM_GAUGE, "Special values.");
	prom_sample(sb, "lh_demo_values", (struct prom_label[]){{"v", "inf"}}, 1, INFINITY);
	prom_sample(sb, "lh_demo_values", (struct prom_label[]){{"v", "-inf"}}, 1, -INFINITY);
	prom_sample(sb, "lh_demo_values", (struct prom_label[]){{"v", "nan"}}, 1, NAN);
	prom_sample(sb, "lh_demo_values", (struct prom_label[]){{"v", "big"}}, 1, 1e300);
	prom_sample(sb, "lh_demo_values", (struct prom_label[]){{"v", "tiny"}}, 1, -5e-324);
	prom_family(sb, "lh_demo_loop_ticks_total", PROM_COUNTER, "Ticks of the driver's loop.");
	prom_sample(sb, "lh_demo_loop_ticks_total", NULL, 0, ticks);
	prom_family(sb, "lh_http_requests_total", PROM_COUNTER, "Requests read.");
	prom_sample(sb, "lh_http_requests_total", NULL, 0, st.requests);
	prom_family(sb, "lh_http_responses_total", PROM_COUNTER, "Responses by status class.");
	prom_sample(sb, "lh_http_responses_total", (struct prom_label[]){{"class", "2xx"}}, 1,
		    st.responses_2xx);
	prom_sample(sb, "lh_http_responses_total", (struct prom_label[]){{"class", "4xx"}}, 1,
		    st.responses_4xx);
	prom_sample(sb, "lh_http_responses_total", (struct prom_label[]){{"class", "5xx"}}, 1,
		    st.responses_5xx);
	prom_family(sb, "lh_http_timeouts_total", PROM_COUNTER, "Read (408) and write timeouts.");
	prom_sample(sb, "lh_http_timeouts_total", (struct prom_label[]){{"kind", "read"}}, 1,
		    st.read_timeouts);
	prom_sample(sb, "lh_http_timeouts_total", (struct prom_label[]){{"kind", "write"}}, 1,
		    st.write_timeouts);
	prom_family(sb, "lh_http_connections_dropped_total", PROM_COUNTER,
		    "Connections evicted or refused at the limit.");
	prom_sample(sb, "lh_http_connections_dropped_total",
		    (struct prom_label[]){{"why", "evicted"}}, 1, st.evicted);
	prom_sample(sb, "lh_http_connections_dropped_total",
		    (struct prom_label[]){{"why", "refused"}}, 1, st.refused);
	prom_family(sb, "lh_http_auth_failures_total", PROM_COUNTER, "401 answers.");
	prom_sample(sb, "lh_http_auth_failures_total", NULL, 0, st.auth_failures);
	prom_family(sb, "lh_http_open_connections", PROM_GAUGE, "Open connections.");
	return prom_sample(sb, "lh_http_open_connections", NULL, 0, st.open_conns);
}

static int heap_profile(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct strbuf sb = {};
	char buf[65536];
	size_t n;
	FILE *f;

	if (!profile_path)
		return http_response__error(resp, 404, "no profile");
	f = fopen(profile_path, "rb");
	if (!f)
		return http_response__error(resp, 500, "cannot open profile: %s", strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_append(&sb, buf, n);
	fclose(f);
	if (sb.err) {
		strbuf_free(&sb);
		return -ENOMEM;
	}
	/* as net/http/pprof's handler does */
	http_response__content_type(resp, "application/octet-stream");
	http_response__header(resp, "Content-Disposition", "attachment; filename=\"profile\"");
	n = sb.len;
	return http_response__take(resp, strbuf_detach(&sb, NULL), n);
}

static int big(void *ctx, const struct http_request *req, struct http_response *resp)
{
	size_t n = 16 << 20;
	char *p = malloc(n);

	if (!p)
		return -ENOMEM;
	memset(p, 'x', n);
	return http_response__take(resp, p, n);
}

static int api(void *ctx, const struct http_request *req, struct http_response *resp)
{
	cJSON *doc = cJSON_CreateObject(), *params = cJSON_CreateObject();
	char *s;
	int i;

	cJSON_AddItemToObject(doc, "params", params);
	cJSON_AddStringToObject(doc, "path", req->path);
	for (i = 0; i < req->nparams; i++)
		cJSON_AddStringToObject(params, req->params[i].name, req->params[i].value);
	s = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (!s)
		return -ENOMEM;
	http_response__content_type(resp, "application/json");
	http_response__printf(resp, "%s\n", s);
	cJSON_free(s);
	return 0;
}

static int num(void *ctx, const struct http_request *req, struct http_response *resp)
{
	long n;
	int err = http_request__param_long(req, "n", 0, 4194304, &n);

	if (err == -ENOENT)
		return http_response__error(resp, 400, "n= is required");
	if (err)
		return http_response__error(resp, 400, "n= must be an integer in [0, 4194304]");
	return http_response__printf(resp, "%ld\n", n);
}

static int fail(void *ctx, const struct http_request *req, struct http_response *resp)
{
	http_response__printf(resp, "partial output that must not be sent");
	return -EIO;
}

static int index_page(void *ctx, const struct http_request *req, struct http_response *resp)
{
	http_response__content_type(resp, "text/html; charset=utf-8");
	http_response__header(resp, "Cache-Control", "no-store");
	return http_response__printf(resp, "<!doctype html><title>leakhound</title>"
					   "<h1>leakhound</h1><p>demo page</p>\n");
}

static int add_routes(struct http_server *srv)
{
	if (http_server__handle(srv, "/hello", hello, NULL) ||
	    http_server__handle(srv, "/metrics", metrics, srv) ||
	    http_server__handle(srv, "/debug/pprof/heap", heap_profile, NULL) ||
	    http_server__handle(srv, "/big", big, NULL) ||
	    http_server__handle(srv, "/api/", api, NULL) ||
	    http_server__handle(srv, "/fail", fail, NULL) ||
	    http_server__handle(srv, "/num", num, NULL) ||
	    http_server__handle(srv, "/", index_page, NULL))
		return -1;
	/* the same path twice is refused */
	return http_server__handle(srv, "/hello", hello, NULL) == -EEXIST ? 0 : -1;
}

/* The daemon's loop, reduced: a 100 ms tick, the server's fd, its deadlines. */
static void run(struct http_server *srv)
{
	struct pollfd pfd = {.fd = http_server__fd(srv), .events = POLLIN};
	int t;

	while (!stop) {
		t = http_server__timeout(srv);
		if (t < 0 || t > 100)
			t = 100;
		if (poll(&pfd, 1, t) == 0)
			ticks++;
		if (http_server__serve(srv, 0) < 0)
			break;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"token", required_argument, NULL, 't'},
		{"max-conns", required_argument, NULL, 'c'},
		{"max-header", required_argument, NULL, 'H'},
		{"read-timeout", required_argument, NULL, 'r'},
		{"write-timeout", required_argument, NULL, 'w'},
		{"profile", required_argument, NULL, 'p'},
		{},
	};
	struct http_opts opts = {.listen = "127.0.0.1:0"};
	struct http_server *srv;
	int opt;

	while ((opt = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			opts.listen = optarg;
			break;
		case 't':
			opts.token = optarg;
			break;
		case 'c':
			opts.max_conns = atoi(optarg);
			break;
		case 'H':
			opts.max_header = atoi(optarg);
			break;
		case 'r':
			opts.read_timeout_ms = atoi(optarg);
			break;
		case 'w':
			opts.write_timeout_ms = atoi(optarg);
			break;
		case 'p':
			profile_path = optarg;
			break;
		case 'v':
			log_verbosity = LOG_DEBUG;
			break;
		default:
			return 2;
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	srv = http_server__new(&opts);
	if (!srv)
		return 1;
	if (add_routes(srv)) {
		fprintf(stderr, "httpd-test: cannot add routes\n");
		http_server__free(srv);
		return 1;
	}
	printf("listening %s %d\n", http_server__address(srv), http_server__port(srv));
	fflush(stdout);
	run(srv);
	http_server__free(srv);
	return 0;
}
