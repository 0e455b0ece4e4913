/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_HTTP_H
#define LEAKHOUND_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A small HTTP/1.1 server for the daemon's API, run from the daemon's own
 * single-threaded loop: non-blocking sockets, a state machine per connection, every
 * wait bounded by a deadline, so no client can stall the tracer.
 *
 * Loop integration: the server has one file descriptor (an epoll set of its sockets)
 * that turns readable when any of them needs service. Either put http_server__fd() in
 * the loop's poll set, with a timeout no longer than http_server__timeout(), and call
 * http_server__serve(srv, 0) after every wake-up (readable or not: deadlines are
 * enforced there), or call http_server__serve(srv, timeout_ms) as the loop's wait.
 * One call does a bounded amount of work.
 *
 * Requests: GET and HEAD only (405 otherwise), no body (413 when Content-Length > 0 or
 * Transfer-Encoding), request line + headers at most opts.max_header bytes (431), read
 * within opts.read_timeout_ms of the connection (408), response written within
 * opts.write_timeout_ms (else the connection is dropped). Paths are percent-decoded and
 * normalised ("//" and "/./" collapse; "..", NUL, control bytes and "%2F" are 400);
 * query parameters are percent-decoded ('+' is a space). One request per connection
 * (every response says "Connection: close"). With a token, every request needs
 * "Authorization: Bearer TOKEN", or Basic credentials with the token as the password
 * (any user: `go tool pprof http://x:TOKEN@host/...`, browsers, Prometheus basic_auth),
 * compared in constant time; else 401.
 * Errors have a one-line text/plain body. Handlers run in the loop: they must be quick.
 */
struct http_server;
struct http_response;

#define HTTP_DEFAULT_LISTEN "127.0.0.1:6065"

struct http_opts {
	const char *listen;	 /* "ADDR:PORT", "[IPv6]:PORT" or "PORT" (on 127.0.0.1);
				    port 0 picks a free one; NULL: HTTP_DEFAULT_LISTEN */
	const char *token;	 /* bearer token; NULL or "": no authentication */
	int max_conns;		 /* open connections at most; 0: 64 */
	int max_header;		 /* request line + headers, bytes; 0: 8192 */
	int read_timeout_ms;	 /* to receive the whole request; 0: 5000 */
	int write_timeout_ms;	 /* to send the whole response; 0: 30000 */
	const char *server_name; /* the "Server:" header; NULL: "leakhound" */
};

struct http_param {
	const char *name;
	const char *value;
};

struct http_request {
	const char *method; /* "GET" or "HEAD" (handlers answer HEAD as GET; the body is
			       dropped) */
	const char *path;   /* decoded and normalised, begins with '/' */
	const char *query;  /* raw, undecoded query string ("" if none) */
	const struct http_param *params; /* decoded, in request order */
	int nparams;
	const char *peer; /* "127.0.0.1:34567", "[::1]:34567" */
};

/* The first value of a query parameter, NULL if absent. */
const char *http_request__param(const struct http_request *req, const char *name);
/* A decimal integer parameter in [min, max] ("pid=123"): 0, -ENOENT if absent, -EINVAL
 * if it is anything but digits (an optional '-' first) or out of range. */
int http_request__param_long(const struct http_request *req, const char *name, long min, long max,
			     long *out);

/*
 * A handler fills in the response: status (default 200), content type (default
 * "text/plain; charset=utf-8"), extra headers and a body. Returns 0, or a negative
 * errno: the server then answers 500 (whatever the response held). Builders return 0
 * or -errno (-EINVAL: CR, LF or NUL in a header, a reserved header name; -ENOMEM).
 */
typedef int (*http_handler_fn)(void *ctx, const struct http_request *req,
			       struct http_response *resp);

int http_response__status(struct http_response *resp, int status);
int http_response__content_type(struct http_response *resp, const char *type);
/* Content-Length, Connection, Date, Server and Transfer-Encoding are the server's. */
int http_response__header(struct http_response *resp, const char *name, const char *value);
int http_response__write(struct http_response *resp, const void *data, size_t len);
int http_response__printf(struct http_response *resp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The body becomes buf (malloc'd, owned by the response from now, also on error); any
 * body written so far is dropped. */
int http_response__take(struct http_response *resp, void *buf, size_t len);
/* The body, to append to with strbuf_*() (promtext.h writes there). */
struct strbuf *http_response__body(struct http_response *resp);
/* An error answer: status, text/plain, the formatted line as its body (a newline is
 * added). The previous body is dropped. */
int http_response__error(struct http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Counters since the server started, for the daemon's self-metrics. */
struct http_stats {
	uint64_t accepted; /* connections */
	uint64_t requests; /* complete requests read (any status) */
	uint64_t responses_2xx;
	uint64_t responses_4xx;
	uint64_t responses_5xx;
	uint64_t read_timeouts;	 /* 408 */
	uint64_t write_timeouts; /* dropped before the response was sent */
	uint64_t evicted;	 /* connections still reading closed for a new one */
	uint64_t refused;	 /* 503 at max_conns */
	uint64_t auth_failures;	 /* 401 */
	int open_conns;
};

/* Binds and listens. NULL with errno (logged: the address and why). */
struct http_server *http_server__new(const struct http_opts *opts);
void http_server__free(struct http_server *srv);
/* Routes an exact path ("/metrics"), or a prefix when path ends with '/' and
 * is not "/" ("/api/v1/" serves "/api/v1/targets"; the longest prefix wins). 0,
 * -EEXIST, -EINVAL, -ENOMEM. */
int http_server__handle(struct http_server *srv, const char *path, http_handler_fn fn, void *ctx);
/* The bound address, "127.0.0.1:41234" or "[::1]:41234", and the port (port 0 chose). */
const char *http_server__address(const struct http_server *srv);
int http_server__port(const struct http_server *srv);
/* The fd to poll for POLLIN. */
int http_server__fd(const struct http_server *srv);
/* Milliseconds until the next connection deadline (-1: none; 0: overdue). */
int http_server__timeout(const struct http_server *srv);
/* Waits up to timeout_ms (bounded by the next deadline; 0: no wait), serves what is
 * ready and enforces deadlines. The number of events handled, or -errno. */
int http_server__serve(struct http_server *srv, int timeout_ms);
void http_server__stats(const struct http_server *srv, struct http_stats *st);

#endif
