// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promtext.h"
#include "strbuf.h"

static bool is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool prom_valid_metric_name(const char *name)
{
	if (!name || !(is_alpha_(name[0]) || name[0] == ':'))
		return false;
	for (name++; *name; name++)
		if (!is_alpha_(*name) && !is_digit(*name) && *name != ':')
			return false;
	return true;
}

bool prom_valid_label_name(const char *name)
{
	if (!name || !is_alpha_(name[0]) || (name[0] == '_' && name[1] == '_'))
		return false;
	for (name++; *name; name++)
		if (!is_alpha_(*name) && !is_digit(*name))
			return false;
	return true;
}

void prom_format_value(double value, char *buf, int size)
{
	int prec;

	if (isnan(value)) {
		snprintf(buf, size, "NaN");
		return;
	}
	if (isinf(value)) {
		snprintf(buf, size, value > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* whole numbers as integers: 40, not 4e+01 (exact up to 2^53) */
	if (value == floor(value) && fabs(value) < 9007199254740992.0) {
		snprintf(buf, size, "%.0f", value);
		return;
	}
	/* the shortest %g that reads back to the same double (17 digits always do) */
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, size, "%.*g", prec, value);
		if (strtod(buf, NULL) == value)
			return;
	}
	snprintf(buf, size, "%.17g", value);
}

static const char *type_name(enum prom_type type)
{
	switch (type) {
	case PROM_COUNTER:
		return "counter";
	case PROM_GAUGE:
		return "gauge";
	default:
		return "untyped";
	}
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF), 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
	int n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Escapes backslash and newline, and double quote too when quote is set; invalid
 * UTF-8 bytes become U+FFFD. */
static void put_escaped(struct strbuf *sb, const char *s, bool quote)
{
	const unsigned char *p = (const unsigned char *)s;
	int n;

	while (*p) {
		if (*p == '\\')
			strbuf_puts(sb, "\\\\");
		else if (*p == '\n')
			strbuf_puts(sb, "\\n");
		else if (*p == '"' && quote)
			strbuf_puts(sb, "\\\"");
		else if ((n = utf8_len(p)) > 0) {
			strbuf_append(sb, p, n);
			p += n;
			continue;
		} else
			strbuf_puts(sb, "\xef\xbf\xbd");
		p++;
	}
}

int prom_family(struct strbuf *sb, const char *name, enum prom_type type, const char *help)
{
	if (!prom_valid_metric_name(name))
		return -EINVAL;
	if (help) {
		strbuf_printf(sb, "# HELP %s ", name);
		put_escaped(sb, help, false);
		strbuf_putc(sb, '\n');
	}
	return strbuf_printf(sb, "# TYPE %s %s\n", name, type_name(type));
}

static bool labels_valid(const struct prom_label *labels, int nlabels)
{
	int i, j;

	for (i = 0; i < nlabels; i++) {
		if (!prom_valid_label_name(labels[i].name) || !labels[i].value)
			return false;
		for (j = 0; j < i; j++)
			if (!strcmp(labels[i].name, labels[j].name))
				return false;
	}
	return true;
}

int prom_sample(struct strbuf *sb, const char *name, const struct prom_label *labels, int nlabels,
		double value)
{
	char num[40];
	int i;

	if (!prom_valid_metric_name(name) || nlabels < 0 || (nlabels && !labels) ||
	    !labels_valid(labels, nlabels))
		return -EINVAL;
	strbuf_puts(sb, name);
	for (i = 0; i < nlabels; i++) {
		strbuf_printf(sb, "%c%s=\"", i ? ',' : '{', labels[i].name);
		put_escaped(sb, labels[i].value, true);
		strbuf_putc(sb, '"');
	}
	if (nlabels)
		strbuf_putc(sb, '}');
	prom_format_value(value, num, sizeof(num));
	return strbuf_printf(sb, " %s\n", num);
}
