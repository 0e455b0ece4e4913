/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_STRBUF_H
#define LEAKHOUND_STRBUF_H

#include <stddef.h>

/*
 * A growable byte buffer, always NUL-terminated after its len bytes. The first failed
 * allocation is sticky (err = -ENOMEM, later appends do nothing): a writer appends
 * freely and checks err, or the return of the last call, once at the end.
 * Zero-initialised (`struct strbuf sb = {};`) is an empty buffer.
 */
struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	int err;
};

/* Each returns 0 or sb->err (-ENOMEM). */
int strbuf_append(struct strbuf *sb, const void *data, size_t n);
int strbuf_puts(struct strbuf *sb, const char *s);
int strbuf_putc(struct strbuf *sb, char c);
int strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empties the buffer (keeps its memory and clears err). */
void strbuf_reset(struct strbuf *sb);
/* The malloc'd contents (never NULL unless err: then NULL and the buffer is freed); the
 * buffer is left empty. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_free(struct strbuf *sb);

#endif
