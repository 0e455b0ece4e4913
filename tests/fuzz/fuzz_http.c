// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the daemon's HTTP server (src/http.c) and the Prometheus text
 * writer (src/promtext.c): each input is sent as a request over a real loopback
 * connection to one server, the client's side is shut, and the server runs until it
 * closes the connection. Whatever the bytes, the server must answer with a well-formed
 * status line (or close without one when the input is empty), never crash, leak or hang.
 * The /p handler writes the decoded path and every decoded query parameter into a
 * Prometheus page as label values.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
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

static struct http_server *srv;
static struct sockaddr_in addr;

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

static void setup(void)
{
	struct http_opts opts = {.listen = "127.0.0.1:0", .token = NULL};

	log_verbosity = LOG_ERR;
	srv = http_server__new(&opts);
	if (!srv || http_server__handle(srv, "/p", page, NULL) ||
	    http_server__handle(srv, "/api/", page, NULL) ||
	    http_server__handle(srv, "/fail", fail, NULL))
		abort();
	addr.sin_family = AF_INET;
	addr.sin_port = htons(http_server__port(srv));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void check_answer(const char *buf, size_t len, size_t sent)
{
	if (!len && !sent)
		return;
	if (len < 13 || memcmp(buf, "HTTP/1.1 ", 9) || buf[9] < '2' || buf[9] > '5' ||
	    buf[12] != ' ' || !memmem(buf, len, "\r\n\r\n", 4)) {
		fprintf(stderr, "malformed answer (%zu bytes): %.*s\n", len,
			(int)(len < 200 ? len : 200), buf);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[1 << 16];
	size_t len = 0;
	ssize_t n;
	int fd, i;

	if (!srv)
		setup();
	if (size > MAX_INPUT)
		size = MAX_INPUT;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		abort();
	if (size && send(fd, data, size, MSG_NOSIGNAL) != (ssize_t)size)
		abort();
	shutdown(fd, SHUT_WR);
	/* the server shuts its side once it has answered: EOF here */
	for (i = 0; i < 100000; i++) {
		http_server__serve(srv, 1);
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			len += n;
		if (len == sizeof(buf) - 1)
			break;
	}
	if (i == 100000)
		abort();
	check_answer(buf, len, size);
	close(fd);
	/* let the server see the close and free the connection */
	for (i = 0; i < 10; i++)
		http_server__serve(srv, 0);
	return 0;
}
