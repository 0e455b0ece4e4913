/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_PROMTEXT_H
#define LEAKHOUND_PROMTEXT_H

#include <stdbool.h>

struct strbuf;

/*
 * Prometheus text exposition format 0.0.4 (Content-Type PROM_CONTENT_TYPE), as
 * github.com/prometheus/common/expfmt writes it:
 *   # HELP name help text (backslash and newline escaped)
 *   # TYPE name gauge
 *   name{label="value (backslash, double quote, newline escaped)",...} 1.5
 * Values as the shortest %g text that reads back to the same double (Go's ParseFloat,
 * which Prometheus reads them with, accepts it), and +Inf, -Inf, NaN. Label values are UTF-8:
 * invalid bytes (an executable's name is anyone's bytes) become U+FFFD. The caller writes each
 * family once, prom_family() then all its samples together; counters are named with a _total suffix
 * by the caller (Prometheus convention).
 */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum prom_type {
	PROM_COUNTER,
	PROM_GAUGE,
	PROM_UNTYPED,
};

struct prom_label {
	const char *name;
	const char *value;
};

/* Metric names [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]*, and not
 * beginning with "__" (reserved for Prometheus itself). */
bool prom_valid_metric_name(const char *name);
bool prom_valid_label_name(const char *name);

/* The HELP and TYPE lines of a family (help NULL: no HELP line). 0, -EINVAL for an
 * invalid name (nothing written) or sb->err. */
int prom_family(struct strbuf *sb, const char *name, enum prom_type type, const char *help);
/* One sample line. 0, -EINVAL for an invalid metric or label name or a label twice
 * (nothing written) or sb->err. */
int prom_sample(struct strbuf *sb, const char *name, const struct prom_label *labels, int nlabels,
		double value);
/* A value as the exposition format writes it, into buf (at least 32 bytes). */
void prom_format_value(double value, char *buf, int size);

#endif
