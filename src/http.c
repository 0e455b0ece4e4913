// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The daemon's HTTP server (http.h): one epoll set holds the listening socket and every
 * connection; each connection is a small state machine,
 *   READ   (request line + headers into a fixed buffer, deadline read_timeout_ms)
 *   WRITE  (status line, headers and body with sendmsg, deadline write_timeout_ms)
 *   LINGER (our side shut down; what the client still sends is read and dropped until it
 *           closes or LINGER_MS pass, so that closing does not reset the connection
 *           before the client has read the response, RFC 9112 §9.6)
 * and a connection closed in the middle of a batch of events is only marked dead, freed
 * when the batch is over.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "strbuf.h"

#define DEFAULT_MAX_CONNS     64
#define DEFAULT_MAX_HEADER    8192
#define DEFAULT_READ_TIMEOUT  5000
#define DEFAULT_WRITE_TIMEOUT 30000
#define LINGER_MS	      2000
#define MAX_HEADERS	      100  /* header lines; more: 431 */
#define MAX_PARAMS	      32   /* query parameters; more: 400 */
#define MAX_EVENTS	      64   /* events handled per http_server__serve() */
#define MAX_ACCEPTS	      32   /* connections accepted per listener wake-up */
#define ACCEPT_PAUSE_MS	      1000 /* listener off after EMFILE, not to spin on it */
#define EVICT_AGE_MS	      1000 /* a request unfinished for that long may be evicted */

enum conn_state {
	CONN_READ,
	CONN_WRITE,
	CONN_LINGER,
	CONN_DEAD,
};

struct conn {
	int fd;
	enum conn_state state;
	int64_t deadline; /* ms, CLOCK_MONOTONIC */
	int64_t born;
	char *in; /* max_header bytes + NUL */
	size_t in_len;
	struct strbuf head; /* status line and headers */
	char *body;	    /* owned */
	size_t body_len;    /* bytes to send (0 for HEAD) */
	size_t off;	    /* sent of head + body */
	char peer[INET6_ADDRSTRLEN + 8];
	struct conn *prev, *next; /* accept order, oldest first */
};

struct route {
	char *path;
	size_t len;
	bool prefix;
	http_handler_fn fn;
	void *ctx;
};

struct http_server {
	int lfd;
	int epfd;
	char addr[INET6_ADDRSTRLEN + 8];
	int port;
	char *token;
	char *server_name;
	int max_conns;
	size_t max_header;
	int read_timeout_ms;
	int write_timeout_ms;
	int64_t accept_paused_until; /* 0: listening */
	struct route *routes;
	int nroutes;
	struct conn *head, *tail;
	int nconns;	/* not dead */
	bool have_dead; /* some conns wait to be freed */
	struct http_stats st;
};

struct http_response {
	int status;
	char *ctype;
	struct strbuf headers;
	struct strbuf body;
	char *taken; /* a body given by http_response__take() */
	size_t taken_len;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- responses ---- */

static const struct {
	int status;
	const char *text;
} status_texts[] = {
	{200, "OK"},
	{201, "Created"},
	{202, "Accepted"},
	{204, "No Content"},
	{301, "Moved Permanently"},
	{302, "Found"},
	{304, "Not Modified"},
	{307, "Temporary Redirect"},
	{400, "Bad Request"},
	{401, "Unauthorized"},
	{403, "Forbidden"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{408, "Request Timeout"},
	{409, "Conflict"},
	{410, "Gone"},
	{413, "Content Too Large"},
	{422, "Unprocessable Content"},
	{429, "Too Many Requests"},
	{431, "Request Header Fields Too Large"},
	{500, "Internal Server Error"},
	{501, "Not Implemented"},
	{502, "Bad Gateway"},
	{503, "Service Unavailable"},
	{504, "Gateway Timeout"},
	{505, "HTTP Version Not Supported"},
};

static const char *status_text(int status)
{
	size_t i;

	for (i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]); i++)
		if (status_texts[i].status == status)
			return status_texts[i].text;
	return "Status";
}

static void response_init(struct http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
}

static void response_fini(struct http_response *resp)
{
	free(resp->ctype);
	free(resp->taken);
	strbuf_free(&resp->headers);
	strbuf_free(&resp->body);
}

int http_response__status(struct http_response *resp, int status)
{
	if (status < 200 || status > 599)
		return -EINVAL;
	resp->status = status;
	return 0;
}

static bool header_text_ok(const char *s, bool name)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!*p)
		return !name;
	for (; *p; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
		if (name && (*p <= ' ' || *p == ':' || *p >= 0x7f))
			return false;
	}
	return true;
}

int http_response__content_type(struct http_response *resp, const char *type)
{
	char *t;

	if (!header_text_ok(type, false) || !*type)
		return -EINVAL;
	t = strdup(type);
	if (!t)
		return -ENOMEM;
	free(resp->ctype);
	resp->ctype = t;
	return 0;
}

int http_response__header(struct http_response *resp, const char *name, const char *value)
{
	static const char *const reserved[] = {"content-length",    "connection",  "date", "server",
					       "transfer-encoding", "content-type"};
	size_t i;

	if (!header_text_ok(name, true) || !header_text_ok(value, false))
		return -EINVAL;
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcasecmp(name, reserved[i]))
			return -EINVAL;
	return strbuf_printf(&resp->headers, "%s: %s\r\n", name, value);
}

/* A body given by http_response__take() becomes the strbuf's before anything is added. */
static int fold_taken(struct http_response *resp)
{
	int err;

	if (!resp->taken)
		return 0;
	strbuf_reset(&resp->body);
	err = strbuf_append(&resp->body, resp->taken, resp->taken_len);
	free(resp->taken);
	resp->taken = NULL;
	resp->taken_len = 0;
	return err;
}

struct strbuf *http_response__body(struct http_response *resp)
{
	fold_taken(resp);
	return &resp->body;
}

int http_response__write(struct http_response *resp, const void *data, size_t len)
{
	fold_taken(resp);
	return strbuf_append(&resp->body, data, len);
}

int http_response__printf(struct http_response *resp, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n, err;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	err = http_response__write(resp, s, n);
	free(s);
	return err;
}

int http_response__take(struct http_response *resp, void *buf, size_t len)
{
	free(resp->taken);
	strbuf_reset(&resp->body);
	resp->taken = buf;
	resp->taken_len = len;
	return 0;
}

__attribute__((format(printf, 3, 0))) static int
response_verror(struct http_response *resp, int status, const char *fmt, va_list ap)
{
	char *s;

	resp->status = status;
	free(resp->taken);
	resp->taken = NULL;
	resp->taken_len = 0;
	free(resp->ctype);
	resp->ctype = NULL;
	strbuf_reset(&resp->body);
	if (vasprintf(&s, fmt, ap) < 0)
		return -ENOMEM;
	strbuf_puts(&resp->body, s);
	free(s);
	return strbuf_putc(&resp->body, '\n');
}

int http_response__error(struct http_response *resp, int status, const char *fmt, ...)
{
	va_list ap;
	int err;

	if (status < 200 || status > 599)
		return -EINVAL;
	va_start(ap, fmt);
	err = response_verror(resp, status, fmt, ap);
	va_end(ap);
	return err;
}

/* ---- requests ---- */

struct parsed {
	struct http_request req;
	struct http_param params[MAX_PARAMS];
	char *scratch;	  /* decoded path and query parameters */
	const char *auth; /* the Authorization value, NULL if none */
	bool body;	  /* Content-Length > 0 or Transfer-Encoding */
	bool head;
};

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s in place ('+' is a space when plus); -EINVAL for a bad escape or a
 * NUL. */
static int percent_decode(char *s, bool plus)
{
	char *o = s;
	int hi, lo;

	for (; *s; s++) {
		if (*s == '%') {
			hi = hexval(s[1]);
			lo = hi < 0 ? -1 : hexval(s[2]);
			if (lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			*o++ = (char)(hi << 4 | lo);
			s += 2;
		} else {
			*o++ = plus && *s == '+' ? ' ' : *s;
		}
	}
	*o = '\0';
	return 0;
}

/*
 * Decodes and normalises the path raw (a '/' and visible ASCII) into out (strlen(raw)
 * + 2 bytes): empty and "." segments go, a trailing '/' stays. NULL if it holds an
 * escaped '/', a control byte or a ".." segment.
 */
static const char *normalize_path(const char *raw, char *out)
{
	char *seg, *save = NULL, *o = out, *tmp;
	const unsigned char *p;
	bool trailing = false;

	tmp = strdup(raw);
	if (!tmp)
		return NULL;
	if (strcasestr(tmp, "%2f") || percent_decode(tmp, false))
		goto bad;
	for (p = (const unsigned char *)tmp; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			goto bad;
	for (seg = strtok_r(tmp, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		trailing = !strcmp(seg, ".");
		if (trailing)
			continue;
		if (!strcmp(seg, ".."))
			goto bad;
		o += sprintf(o, "/%s", seg);
	}
	trailing = trailing || raw[strlen(raw) - 1] == '/';
	if (o == out || trailing)
		*o++ = '/';
	*o = '\0';
	free(tmp);
	return out;
bad:
	free(tmp);
	return NULL;
}

/* Splits and decodes query (a copy of the raw query) into p->params. */
static int parse_query(char *query, struct parsed *p)
{
	char *item, *save = NULL, *eq;

	for (item = strtok_r(query, "&", &save); item; item = strtok_r(NULL, "&", &save)) {
		if (p->req.nparams == MAX_PARAMS)
			return -E2BIG;
		eq = strchr(item, '=');
		if (eq)
			*eq++ = '\0';
		if (percent_decode(item, true) || (eq && percent_decode(eq, true)))
			return -EINVAL;
		p->params[p->req.nparams].name = item;
		p->params[p->req.nparams].value = eq ? eq : "";
		p->req.nparams++;
	}
	p->req.params = p->params;
	return 0;
}

static int parse_target(char *target, struct parsed *p, struct http_response *resp)
{
	size_t n = strlen(target);
	char *q;
	int err;

	if (target[0] != '/')
		return http_response__error(resp, 400, "request target must be a path");
	if (strchr(target, '#'))
		return http_response__error(resp, 400, "fragment in request target");
	p->scratch = malloc(2 * n + 4);
	if (!p->scratch)
		return http_response__error(resp, 500, "out of memory");
	q = strchr(target, '?');
	if (q)
		*q++ = '\0';
	p->req.query = q ? q : "";
	p->req.path = normalize_path(target, p->scratch);
	if (!p->req.path)
		return http_response__error(resp, 400, "malformed path");
	q = p->scratch + strlen(p->req.path) + 1;
	strcpy(q, p->req.query);
	err = parse_query(q, p);
	if (err == -E2BIG)
		return http_response__error(resp, 400, "too many query parameters");
	if (err)
		return http_response__error(resp, 400, "malformed query string");
	return 0;
}

/* "METHOD SP target SP HTTP/1.x", line without its line end. */
static int parse_request_line(char *line, struct parsed *p, struct http_response *resp,
			      bool *http11)
{
	char *sp1, *sp2, *s;

	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || sp1 - line > 32)
		return http_response__error(resp, 400, "malformed request line");
	*sp1 = *sp2 = '\0';
	for (s = line; *s; s++)
		if (!is_tchar(*s))
			return http_response__error(resp, 400, "malformed method");
	for (s = sp1 + 1; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return http_response__error(resp, 400, "malformed request target");
	s = sp2 + 1;
	if (strcmp(s, "HTTP/1.1") && strcmp(s, "HTTP/1.0")) {
		if (!strncmp(s, "HTTP/", 5) && s[5] >= '0' && s[5] <= '9' && s[6] == '.' &&
		    s[7] >= '0' && s[7] <= '9' && !s[8])
			return http_response__error(resp, 505, "only HTTP/1.0 and HTTP/1.1");
		return http_response__error(resp, 400, "malformed HTTP version");
	}
	*http11 = !strcmp(s, "HTTP/1.1");
	p->req.method = line;
	p->head = !strcmp(line, "HEAD");
	return parse_target(sp1 + 1, p, resp);
}

/* One "Name: value" line: checks it and notes the headers the server acts on. */
static int parse_header(char *line, struct parsed *p, struct http_response *resp, int *hosts)
{
	char *colon = strchr(line, ':'), *v, *end, *s;

	if (line[0] == ' ' || line[0] == '\t')
		return http_response__error(resp, 400, "folded header line");
	if (!colon || colon == line)
		return http_response__error(resp, 400, "malformed header line");
	*colon = '\0';
	for (s = line; *s; s++)
		if (!is_tchar(*s))
			return http_response__error(resp, 400, "malformed header name");
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	for (s = v; *s; s++)
		if ((*(unsigned char *)s < 0x20 && *s != '\t') || *s == 0x7f)
			return http_response__error(resp, 400, "control byte in header '%s'", line);
	if (!strcasecmp(line, "host")) {
		(*hosts)++;
	} else if (!strcasecmp(line, "content-length")) {
		if (!*v || strspn(v, "0123456789") != strlen(v))
			return http_response__error(resp, 400, "malformed Content-Length");
		if (strspn(v, "0") != strlen(v))
			p->body = true;
	} else if (!strcasecmp(line, "transfer-encoding")) {
		p->body = true;
	} else if (!strcasecmp(line, "authorization")) {
		if (p->auth)
			return http_response__error(resp, 400, "several Authorization headers");
		p->auth = v;
	}
	return 0;
}

/* Parses the request in c->in[0, end): 0, or the error status (resp holds it). */
static int parse_request(struct conn *c, size_t end, struct parsed *p, struct http_response *resp)
{
	char *s = c->in, *stop = c->in + end, *nl;
	int hosts = 0, nheaders = 0, err = 0;
	bool first = true, http11 = false;

	while (*s == '\r' || *s == '\n')
		s++;
	p->req.peer = c->peer;
	for (; s < stop && !err; s = nl + 1) {
		nl = memchr(s, '\n', stop - s);
		if (!nl)
			break;
		if (memchr(s, '\0', nl - s)) {
			http_response__error(resp, 400, "NUL byte in request");
			return 400;
		}
		*nl = '\0';
		if (nl > s && nl[-1] == '\r')
			nl[-1] = '\0';
		if (!*s)
			break;
		if (first)
			err = parse_request_line(s, p, resp, &http11);
		else if (++nheaders > MAX_HEADERS)
			err = http_response__error(resp, 431, "too many header lines");
		else
			err = parse_header(s, p, resp, &hosts);
		first = false;
		if (resp->status != 200)
			return resp->status;
	}
	if (err) {
		http_response__error(resp, 500, "out of memory");
		return 500;
	}
	if ((http11 && hosts != 1) || hosts > 1) {
		http_response__error(resp, 400, "%s Host header", hosts ? "more than one" : "no");
		return 400;
	}
	return 0;
}

const char *http_request__param(const struct http_request *req, const char *name)
{
	int i;

	for (i = 0; i < req->nparams; i++)
		if (!strcmp(req->params[i].name, name))
			return req->params[i].value;
	return NULL;
}

int http_request__param_long(const struct http_request *req, const char *name, long min, long max,
			     long *out)
{
	const char *v = http_request__param(req, name);
	const char *digits;
	char *end;
	long n;

	if (!v)
		return -ENOENT;
	digits = v[0] == '-' ? v + 1 : v;
	if (!*digits || strspn(digits, "0123456789") != strlen(digits))
		return -EINVAL;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

/* Compares in a time that depends on the expected token's length only. */
static bool token_equal(const char *expected, const char *given)
{
	size_t n = strlen(expected), m = strlen(given), i;
	unsigned char diff = n != m;

	for (i = 0; i < n; i++)
		diff |= (unsigned char)expected[i] ^ (unsigned char)(i < m ? given[i] : 0);
	return !diff;
}

/* Decodes base64 (RFC 4648, padding optional) into out (strlen(in) bytes at least,
 * NUL-terminated); -EINVAL if it is not base64 or decodes to a NUL. */
static int base64_decode(const char *in, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0;
	const char *c;

	for (; *in && *in != '='; in++) {
		c = strchr(alphabet, *in);
		if (!c)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)(c - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*out = (char)(acc >> bits);
			if (!*out++)
				return -EINVAL;
		}
	}
	while (*in == '=')
		in++;
	*out = '\0';
	return *in ? -EINVAL : 0;
}

/* The token a request carries: "Bearer TOKEN", or "Basic base64(USER:TOKEN)" (any user)
 * for clients that only know user:password@ URLs (go tool pprof, browsers) or basic
 * auth (Prometheus basic_auth). Compared in constant time. */
static bool auth_ok(const char *token, const char *v)
{
	char *dec, *colon;
	bool ok = false;

	if (!strncasecmp(v, "bearer ", 7)) {
		for (v += 7; *v == ' '; v++)
			;
		return token_equal(token, v);
	}
	if (strncasecmp(v, "basic ", 6))
		return false;
	for (v += 6; *v == ' '; v++)
		;
	dec = malloc(strlen(v) + 1);
	if (dec && !base64_decode(v, dec) && (colon = strchr(dec, ':')))
		ok = token_equal(token, colon + 1);
	free(dec);
	return ok;
}

/* 0 if the request may go on, else 401 in resp. */
static int check_auth(struct http_server *srv, const struct parsed *p, struct http_response *resp)
{
	if (!srv->token || (p->auth && auth_ok(srv->token, p->auth)))
		return 0;
	srv->st.auth_failures++;
	http_response__error(resp, 401, "%s", p->auth ? "invalid token" : "token required");
	http_response__header(resp, "WWW-Authenticate",
			      p->auth ? "Bearer realm=\"leakhound\", error=\"invalid_token\""
				      : "Bearer realm=\"leakhound\"");
	http_response__header(resp, "WWW-Authenticate", "Basic realm=\"leakhound\"");
	return 401;
}

static const struct route *find_route(const struct http_server *srv, const char *path)
{
	const struct route *best = NULL;
	int i;

	for (i = 0; i < srv->nroutes; i++) {
		const struct route *r = &srv->routes[i];

		if (!r->prefix && !strcmp(r->path, path))
			return r;
		if (r->prefix && !strncmp(r->path, path, r->len) && (!best || r->len > best->len))
			best = r;
	}
	return best;
}

/* The checks in order (405, 413, 401, 404), then the handler. */
static void dispatch(struct http_server *srv, const struct parsed *p, struct http_response *resp)
{
	const struct route *r;
	int err;

	if (strcmp(p->req.method, "GET") && strcmp(p->req.method, "HEAD")) {
		http_response__error(resp, 405, "only GET and HEAD");
		http_response__header(resp, "Allow", "GET, HEAD");
		return;
	}
	if (p->body) {
		http_response__error(resp, 413, "request bodies are not accepted");
		return;
	}
	if (check_auth(srv, p, resp))
		return;
	r = find_route(srv, p->req.path);
	if (!r) {
		http_response__error(resp, 404, "no such path");
		return;
	}
	err = r->fn(r->ctx, &p->req, resp);
	if (!err)
		err = resp->headers.err ? resp->headers.err : resp->body.err;
	if (err) {
		log_warn("http: handler of '%s' failed: %s", r->path, strerror(-err));
		strbuf_reset(&resp->headers);
		http_response__error(resp, 500, "internal error: %s", strerror(-err));
	}
}

/* ---- connections ---- */

static int conn_watch(struct http_server *srv, struct conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};

	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev))
		return -errno;
	return 0;
}

static void conn_close(struct http_server *srv, struct conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = CONN_DEAD;
	srv->nconns--;
	srv->have_dead = true;
}

/* Closes with a reset: the unsent rest of a response is dropped at once, not left to
 * the kernel to push to a client that does not read. */
static void conn_abort(struct http_server *srv, struct conn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (c->state != CONN_DEAD)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_close(srv, c);
}

static void conn_free(struct conn *c)
{
	free(c->in);
	free(c->body);
	strbuf_free(&c->head);
	free(c);
}

/* Frees the connections closed during this round. */
static void reap(struct http_server *srv)
{
	struct conn *c, *next;

	if (!srv->have_dead)
		return;
	for (c = srv->head; c; c = next) {
		next = c->next;
		if (c->state != CONN_DEAD)
			continue;
		if (c->prev)
			c->prev->next = c->next;
		else
			srv->head = c->next;
		if (c->next)
			c->next->prev = c->prev;
		else
			srv->tail = c->prev;
		conn_free(c);
	}
	srv->have_dead = false;
}

static void count_status(struct http_server *srv, int status)
{
	if (status < 300)
		srv->st.responses_2xx++;
	else if (status >= 400 && status < 500)
		srv->st.responses_4xx++;
	else if (status >= 500)
		srv->st.responses_5xx++;
}

/* Turns resp into the connection's output: head, and the body unless HEAD. */
static int conn_respond(struct http_server *srv, struct conn *c, struct http_response *resp,
			bool head)
{
	bool no_body = resp->status == 204 || resp->status == 304;
	char date[64];
	struct tm tm;
	time_t t = time(NULL);

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	fold_taken(resp);
	strbuf_reset(&c->head);
	strbuf_printf(&c->head, "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\n", resp->status,
		      status_text(resp->status), srv->server_name, date);
	if (!no_body)
		strbuf_printf(&c->head, "Content-Type: %s\r\nContent-Length: %zu\r\n",
			      resp->ctype ? resp->ctype : "text/plain; charset=utf-8",
			      resp->body.len);
	strbuf_printf(&c->head, "Connection: close\r\nX-Content-Type-Options: nosniff\r\n%s\r\n",
		      resp->headers.buf ? resp->headers.buf : "");
	if (c->head.err)
		return c->head.err;
	count_status(srv, resp->status);
	free(c->body);
	c->body_len = head || no_body ? 0 : resp->body.len;
	c->body = strbuf_detach(&resp->body, NULL);
	if (!c->body)
		return -ENOMEM;
	c->off = 0;
	c->state = CONN_WRITE;
	c->deadline = now_ms() + srv->write_timeout_ms;
	return 0;
}

static void conn_write(struct http_server *srv, struct conn *c);

/* Answers a request that could not be read or parsed (no handler runs). */
static void conn_fail(struct http_server *srv, struct conn *c, int status, const char *msg)
{
	struct http_response resp;

	response_init(&resp);
	http_response__error(&resp, status, "%s", msg);
	log_debug("http: %s: %d %s", c->peer, status, msg);
	if (conn_respond(srv, c, &resp, false))
		conn_close(srv, c);
	else
		conn_write(srv, c);
	response_fini(&resp);
}

/* A complete request is in c->in[0, end). */
static void conn_request(struct http_server *srv, struct conn *c, size_t end)
{
	struct http_response resp;
	struct parsed p;

	memset(&p, 0, sizeof(p));
	response_init(&resp);
	srv->st.requests++;
	if (!parse_request(c, end, &p, &resp))
		dispatch(srv, &p, &resp);
	log_debug("http: %s \"%s %s\" %d %zu", c->peer, p.req.method ? p.req.method : "-",
		  p.req.path ? p.req.path : "-", resp.status,
		  resp.taken ? resp.taken_len : resp.body.len);
	if (conn_respond(srv, c, &resp, p.head))
		conn_close(srv, c);
	else
		conn_write(srv, c);
	response_fini(&resp);
	free(p.scratch);
}

/* The end of the header block (just past its empty line), 0 while incomplete. */
static size_t header_end(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	for (; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static void conn_read(struct http_server *srv, struct conn *c)
{
	size_t end;
	ssize_t n;

	n = recv(c->fd, c->in + c->in_len, srv->max_header - c->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* the client shut its side: answer what it sent, if anything */
		if (n == 0 && c->in_len)
			conn_fail(srv, c, 400, "incomplete request");
		else
			conn_close(srv, c);
		return;
	}
	c->in_len += n;
	c->in[c->in_len] = '\0';
	end = header_end(c->in, c->in_len);
	if (end)
		conn_request(srv, c, end);
	else if (c->in_len == srv->max_header)
		conn_fail(srv, c, 431, "request header too large");
}

/* Response sent: shut our side, then drain the client's until it closes. */
static void conn_linger(struct http_server *srv, struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->state = CONN_LINGER;
	c->deadline = now_ms() + LINGER_MS;
	if (conn_watch(srv, c, EPOLLIN))
		conn_close(srv, c);
}

static void conn_write(struct http_server *srv, struct conn *c)
{
	struct iovec iov[2];
	struct msghdr msg = {.msg_iov = iov};
	size_t hlen = c->head.len;
	ssize_t n;

	while (c->off < hlen + c->body_len) {
		msg.msg_iovlen = 0;
		if (c->off < hlen)
			iov[msg.msg_iovlen++] = (struct iovec){c->head.buf + c->off, hlen - c->off};
		if (c->body_len) {
			size_t boff = c->off > hlen ? c->off - hlen : 0;

			iov[msg.msg_iovlen++] = (struct iovec){c->body + boff, c->body_len - boff};
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (conn_watch(srv, c, EPOLLOUT))
				conn_close(srv, c);
			return;
		}
		if (n < 0) {
			conn_close(srv, c);
			return;
		}
		c->off += n;
	}
	conn_linger(srv, c);
}

static void conn_drain(struct http_server *srv, struct conn *c)
{
	char buf[4096];
	ssize_t n;

	n = recv(c->fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		conn_close(srv, c);
}

static void conn_event(struct http_server *srv, struct conn *c, uint32_t events)
{
	switch (c->state) {
	case CONN_READ:
		conn_read(srv, c);
		break;
	case CONN_WRITE:
		if (events & (EPOLLERR | EPOLLHUP))
			conn_close(srv, c);
		else
			conn_write(srv, c);
		break;
	case CONN_LINGER:
		conn_drain(srv, c);
		break;
	case CONN_DEAD:
		break;
	}
}

/* Deadlines: a request not read in time gets 408; a response not sent in time, or a
 * linger over, closes the connection. */
static void expire(struct http_server *srv, int64_t now)
{
	struct conn *c;

	for (c = srv->head; c; c = c->next) {
		if (c->state == CONN_DEAD || c->deadline > now)
			continue;
		if (c->state == CONN_READ) {
			srv->st.read_timeouts++;
			conn_fail(srv, c, 408, "request not received in time");
		} else {
			if (c->state == CONN_WRITE) {
				srv->st.write_timeouts++;
				log_debug("http: %s: response not taken in time, dropped", c->peer);
				conn_abort(srv, c);
			}
			conn_close(srv, c);
		}
	}
}

/* ---- the listener ---- */

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
		snprintf(out, size, "%s:%d", ip, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
		snprintf(out, size, "[%s]:%d", ip, port);
	} else {
		snprintf(out, size, "?");
	}
}

/* At max_conns: the oldest connection done with its response (lingering), else the
 * oldest still sending its request after EVICT_AGE_MS (slow clients lose to a new one,
 * clients of a burst, just connected, do not); NULL if none. */
static struct conn *eviction_victim(struct http_server *srv)
{
	int64_t old = now_ms() - EVICT_AGE_MS;
	struct conn *c, *reading = NULL;

	for (c = srv->head; c; c = c->next) {
		if (c->state == CONN_LINGER)
			return c;
		if (c->state == CONN_READ && c->born <= old && !reading)
			reading = c;
	}
	return reading;
}

/* A best-effort one-shot answer on a connection that gets no state. */
static void refuse(int fd, const char *status_line, const char *msg)
{
	char buf[256];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s\n",
		     status_line, strlen(msg) + 1, msg);
	if (send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return;
	/* what the client sent, unread, would make close() reset the connection */
	shutdown(fd, SHUT_WR);
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static int conn_add(struct http_server *srv, int fd, const struct sockaddr_storage *ss)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct conn *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->in = malloc(srv->max_header + 1);
	if (!c->in) {
		free(c);
		return -ENOMEM;
	}
	c->fd = fd;
	c->state = CONN_READ;
	c->born = now_ms();
	c->deadline = c->born + srv->read_timeout_ms;
	format_peer(ss, c->peer, sizeof(c->peer));
	ev.data.ptr = c;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;

		conn_free(c);
		return err;
	}
	c->prev = srv->tail;
	if (srv->tail)
		srv->tail->next = c;
	else
		srv->head = c;
	srv->tail = c;
	srv->nconns++;
	srv->st.accepted++;
	return 0;
}

static void accept_one(struct http_server *srv, int fd, const struct sockaddr_storage *ss)
{
	struct conn *victim;

	if (srv->nconns >= srv->max_conns) {
		victim = eviction_victim(srv);
		if (!victim) {
			srv->st.refused++;
			refuse(fd, "503 Service Unavailable", "too many connections");
			close(fd);
			return;
		}
		if (victim->state == CONN_READ) {
			srv->st.evicted++;
			refuse(victim->fd, "408 Request Timeout", "request not received in time");
		}
		conn_close(srv, victim);
	}
	if (conn_add(srv, fd, ss))
		close(fd);
}

/* Listener off for a moment: out of descriptors, it would stay readable and spin. */
static void accept_pause(struct http_server *srv)
{
	struct epoll_event ev = {.events = 0, .data.ptr = NULL};

	log_warn("http: cannot accept connections: %s", strerror(errno));
	epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->lfd, &ev);
	srv->accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
}

static void accept_resume(struct http_server *srv, int64_t now)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

	if (!srv->accept_paused_until || srv->accept_paused_until > now)
		return;
	epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->lfd, &ev);
	srv->accept_paused_until = 0;
}

static void accept_ready(struct http_server *srv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int i, fd;

	for (i = 0; i < MAX_ACCEPTS; i++) {
		len = sizeof(ss);
		fd = accept4(srv->lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			accept_one(srv, fd, &ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			accept_pause(srv);
		return;
	}
}

/* "ADDR:PORT", "[IPv6]:PORT" or "PORT" into ss; -EINVAL if it is none of them. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 1] = "127.0.0.1";
	const char *port = spec, *colon;
	bool bracket = spec[0] == '[';
	size_t hlen;
	long p;

	memset(ss, 0, sizeof(*ss));
	if (bracket) {
		colon = strstr(spec, "]:");
		if (!colon)
			return -EINVAL;
		hlen = colon - spec - 1;
		port = colon + 2;
		spec++;
	} else {
		colon = strrchr(spec, ':');
		hlen = colon ? (size_t)(colon - spec) : 0;
		port = colon ? colon + 1 : spec;
		if (colon && (memchr(spec, ':', hlen) || !hlen))
			return -EINVAL;
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	if (hlen) {
		memcpy(host, spec, hlen);
		host[hlen] = '\0';
	}
	if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
		return -EINVAL;
	p = strtol(port, NULL, 10);
	if (p > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1 && !bracket) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(p);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1 && bracket) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(p);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

static int listen_on(struct http_server *srv, const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, err;

	if (parse_listen(spec, &ss, &len)) {
		log_err("invalid listen address '%s': expected IPv4:PORT or [IPv6]:PORT", spec);
		return -EINVAL;
	}
	srv->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->lfd < 0)
		goto fail;
	setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "[::]:P" is IPv6 only: say 0.0.0.0 for IPv4 */
	if (ss.ss_family == AF_INET6)
		setsockopt(srv->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(srv->lfd, (struct sockaddr *)&ss, len) || listen(srv->lfd, SOMAXCONN))
		goto fail;
	len = sizeof(ss);
	if (getsockname(srv->lfd, (struct sockaddr *)&ss, &len))
		goto fail;
	format_peer(&ss, srv->addr, sizeof(srv->addr));
	srv->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
fail:
	err = -errno;
	log_err("failed to listen on '%s': %s", spec, strerror(-err));
	return err;
}

static int opt_or(int v, int dflt)
{
	return v > 0 ? v : dflt;
}

struct http_server *http_server__new(const struct http_opts *opts)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	struct http_server *srv;
	int err;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->lfd = srv->epfd = -1;
	srv->max_conns = opt_or(opts->max_conns, DEFAULT_MAX_CONNS);
	srv->max_header = opt_or(opts->max_header, DEFAULT_MAX_HEADER);
	srv->read_timeout_ms = opt_or(opts->read_timeout_ms, DEFAULT_READ_TIMEOUT);
	srv->write_timeout_ms = opt_or(opts->write_timeout_ms, DEFAULT_WRITE_TIMEOUT);
	srv->server_name = strdup(opts->server_name ? opts->server_name : "leakhound");
	srv->token = opts->token && *opts->token ? strdup(opts->token) : NULL;
	err = -ENOMEM;
	if (!srv->server_name || (opts->token && *opts->token && !srv->token))
		goto fail;
	if (!header_text_ok(srv->server_name, false) ||
	    (srv->token && !header_text_ok(srv->token, false))) {
		log_err("invalid HTTP server name or token: control characters");
		err = -EINVAL;
		goto fail;
	}
	err = listen_on(srv, opts->listen ? opts->listen : HTTP_DEFAULT_LISTEN);
	if (err)
		goto fail;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0 || epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &ev)) {
		err = -errno;
		log_err("failed to set up the HTTP server's epoll set: %s", strerror(-err));
		goto fail;
	}
	log_info("http: listening on %s%s", srv->addr, srv->token ? " (bearer token)" : "");
	return srv;
fail:
	http_server__free(srv);
	errno = -err;
	return NULL;
}

void http_server__free(struct http_server *srv)
{
	struct conn *c;
	int i;

	if (!srv)
		return;
	for (c = srv->head; c; c = c->next)
		conn_close(srv, c);
	reap(srv);
	for (i = 0; i < srv->nroutes; i++)
		free(srv->routes[i].path);
	free(srv->routes);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->lfd >= 0)
		close(srv->lfd);
	free(srv->token);
	free(srv->server_name);
	free(srv);
}

int http_server__handle(struct http_server *srv, const char *path, http_handler_fn fn, void *ctx)
{
	size_t len = path ? strlen(path) : 0;
	bool prefix = len > 1 && path[len - 1] == '/';
	struct route *r;
	int i;

	if (!fn || !len || path[0] != '/')
		return -EINVAL;
	for (i = 0; i < srv->nroutes; i++)
		if (!strcmp(srv->routes[i].path, path))
			return -EEXIST;
	r = realloc(srv->routes, (srv->nroutes + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	srv->routes = r;
	r = &srv->routes[srv->nroutes];
	r->path = strdup(path);
	if (!r->path)
		return -ENOMEM;
	r->len = len;
	r->prefix = prefix;
	r->fn = fn;
	r->ctx = ctx;
	srv->nroutes++;
	return 0;
}

const char *http_server__address(const struct http_server *srv)
{
	return srv->addr;
}

int http_server__port(const struct http_server *srv)
{
	return srv->port;
}

int http_server__fd(const struct http_server *srv)
{
	return srv->epfd;
}

int http_server__timeout(const struct http_server *srv)
{
	int64_t next = srv->accept_paused_until, now;
	const struct conn *c;

	for (c = srv->head; c; c = c->next)
		if (c->state != CONN_DEAD && (!next || c->deadline < next))
			next = c->deadline;
	if (!next)
		return -1;
	now = now_ms();
	if (next <= now)
		return 0;
	return next - now > 1000000 ? 1000000 : (int)(next - now);
}

int http_server__serve(struct http_server *srv, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int t = http_server__timeout(srv), n, i;
	bool listener = false;

	if (t >= 0 && (timeout_ms < 0 || t < timeout_ms))
		timeout_ms = t;
	n = epoll_wait(srv->epfd, evs, MAX_EVENTS, timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	/* connections first: finished ones make room for new ones */
	for (i = 0; i < n; i++) {
		if (!evs[i].data.ptr)
			listener = true;
		else
			conn_event(srv, evs[i].data.ptr, evs[i].events);
	}
	if (listener)
		accept_ready(srv);
	expire(srv, now_ms());
	accept_resume(srv, now_ms());
	reap(srv);
	return n;
}

void http_server__stats(const struct http_server *srv, struct http_stats *st)
{
	*st = srv->st;
	st->open_conns = srv->nconns;
}
