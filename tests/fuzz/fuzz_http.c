// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the daemon's HTTP server (src/http.c) and the Prometheus text
 * writer (src/promtext.c): each input is sent as a request over a real loopback
 * connection to one server, which runs until it has answered and shut its side, or
 * waits for the rest of an incomplete request; the client then resets the connection.
 * Whatever the bytes, an answer is a well-formed status line and header block, sent
 * whole; the server never crashes, leaks or hangs.
 * The /p handler writes the decoded path and every decoded query parameter into a
 * Prometheus page as label values. Inputs whose first byte is odd go to a second
 * server that wants the token "t0k" (Bearer, or Basic dTp0MGs= for "u:t0k").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "promtext.h"
#include "strbuf.h"

#define MAX_INPUT 16384 /* under the loopback socket buffer: send() cannot block */

static struct http_server *servers[2];
static struct sockaddr_in addrs[2];

static int page(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct strbuf *sb = http_response__body(resp);
	struct prom_label l[2] = {{"path", req->path}};
	int i;

	http_response__content_type(resp, PROM_CONTENT_TYPE);
	prom_family(sb, "fuzz_params", PROM_GAUGE, req->path);
	for (i = 0; i < req->nparams; i++) {
		l[1].name = req->params[i].name;
		l[1].value = req->params[i].value;
		/* a parameter name is rarely a valid label name: then -EINVAL, nothing written */
		prom_sample(sb, "fuzz_params", l, 2, strtod(req->params[i].value, NULL));
		http_request__param(req, req->params[i].name);
	}
	http_response__header(resp, req->nparams ? req->params[0].name : "X-A",
			      req->nparams ? req->params[0].value : "b");
	return 0;
}

static int fail(void *ctx, const struct http_request *req, struct http_response *resp)
{
	return -5;
}

static void setup(int i, const char *token)
{
	struct http_opts opts = {.listen = "127.0.0.1:0", .token = token};
	struct http_server *srv;

	log_verbosity = LOG_ERR;
	srv = http_server__new(&opts);
	if (!srv || http_server__handle(srv, "/p", page, NULL) ||
	    http_server__handle(srv, "/api/", page, NULL) ||
	    http_server__handle(srv, "/fail", fail, NULL))
		abort();
	servers[i] = srv;
	addrs[i].sin_family = AF_INET;
	addrs[i].sin_port = htons(http_server__port(srv));
	addrs[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void check_answer(const char *buf, size_t len)
{
	if (len < 13 || memcmp(buf, "HTTP/1.1 ", 9) || buf[9] < '2' || buf[9] > '5' ||
	    buf[12] != ' ' || !memmem(buf, len, "\r\n\r\n", 4)) {
		fprintf(stderr, "malformed answer (%zu bytes): %.*s\n", len,
			(int)(len < 200 ? len : 200), buf);
		abort();
	}
}

/* Closes with a reset: neither side keeps the connection in TIME_WAIT (at 10k inputs a
 * second, FIN-closed connections would use up the local ports of the whole machine). */
static void reset_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/*
 * Runs the server until it has answered and shut its side (EOF), or has nothing more
 * to do with what it has been sent (an incomplete request: it waits for more). The
 * number of answer bytes in buf; *eof tells which.
 */
static size_t exchange(struct http_server *srv, int fd, char *buf, size_t size, bool *eof)
{
	size_t len = 0;
	int i, idle = 0;
	ssize_t n;

	*eof = false;
	for (i = 0; i < 100000 && idle < 3; i++) {
		idle = http_server__serve(srv, 0) > 0 ? 0 : idle + 1;
		n = recv(fd, buf + len, size - 1 - len, MSG_DONTWAIT);
		if (n == 0) {
			*eof = true;
			break;
		}
		if (n > 0) {
			len += n;
			idle = 0;
		}
		if (len == size - 1)
			break;
	}
	if (i == 100000)
		abort();
	return len;
}

/* A blocking connect that libFuzzer's timer signal may interrupt: then the connection
 * goes on in the background, and is waited for. */
static int connect_to(const struct sockaddr_in *addr)
{
	struct pollfd pfd = {.events = POLLOUT};
	socklen_t elen = sizeof(int);
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr))) {
		pfd.fd = fd;
		if (errno != EINTR || poll(&pfd, 1, 5000) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) || err) {
			perror("fuzz_http: connect");
			abort();
		}
	}
	return fd;
}

static void send_all(int fd, const uint8_t *data, size_t size)
{
	ssize_t n;

	while (size) {
		n = send(fd, data, size, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort();
		data += n;
		size -= n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[1 << 16];
	struct http_server *srv;
	int fd, i, which = size && (data[0] & 1);
	size_t len;
	bool eof;

	if (!servers[0]) {
		setup(0, NULL);
		setup(1, "t0k");
	}
	srv = servers[which];
	if (size > MAX_INPUT)
		size = MAX_INPUT;
	fd = connect_to(&addrs[which]);
	send_all(fd, data, size);
	len = exchange(srv, fd, buf, sizeof(buf), &eof);
	/* an answer is whole and well-formed; no answer only while the request is not */
	if (len || eof)
		check_answer(buf, len);
	reset_close(fd);
	/* let the server see the reset and free the connection */
	for (i = 0; i < 10; i++)
		http_server__serve(srv, 0);
	return 0;
}
