// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the Prometheus text-format writer (src/promtext.c) against the rules of
 * the exposition format 0.0.4 (prometheus/docs, exposition_formats.md): name syntax,
 * escaping in HELP (backslash, newline) and label values (backslash, double quote,
 * newline), +Inf/-Inf/NaN, floats that read back exactly; and of the string builder.
 * tests/integration/http.sh has promtool check the output of a whole page.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "promtext.h"
#include "strbuf.h"
#include "test.h"

static void test_names(void)
{
	static const char *const good[] = {"a", "go_heap_bytes", ":x", "_x", "a:b_c9", "Z"};
	static const char *const bad[] = {"", "1a", "a-b", "a b", "é", "a.b"};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(prom_valid_metric_name(good[i]), "metric name '%s' valid", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!prom_valid_metric_name(bad[i]), "metric name '%s' invalid", bad[i]);
	CHECK(prom_valid_label_name("pid") && prom_valid_label_name("_p1"), "label names valid");
	CHECK(!prom_valid_label_name("__name__"), "label name '__name__' reserved");
	CHECK(!prom_valid_label_name("a:b") && !prom_valid_label_name("9") &&
		      !prom_valid_label_name(""),
	      "label names with ':', a leading digit, empty: invalid");
}

static void check_value(double v, const char *want)
{
	char buf[40];

	prom_format_value(v, buf, sizeof(buf));
	CHECK(!strcmp(buf, want), "value %.17g written '%s' (want '%s')", v, buf, want);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next64(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static void test_values(void)
{
	int i, bad = 0, longest = 0;
	char buf[40];
	double v;

	check_value(INFINITY, "+Inf");
	check_value(-INFINITY, "-Inf");
	check_value(NAN, "NaN");
	check_value(0, "0");
	check_value(-0.0, "-0");
	check_value(0.1, "0.1");
	check_value(1.5, "1.5");
	check_value(123456789, "123456789");
	check_value(9007199254740993.0, "9007199254740992");
	check_value(1e300, "1e+300");
	check_value(5e-324, "5e-324");
	check_value(1.0 / 3, "0.3333333333333333");
	check_value(18446744073709551615.0, "1.8446744073709552e+19");
	/* any bit pattern that is a number reads back to itself */
	for (i = 0; i < 100000; i++) {
		uint64_t bits = next64();

		memcpy(&v, &bits, sizeof(v));
		if (isnan(v))
			continue;
		prom_format_value(v, buf, sizeof(buf));
		if (strtod(buf, NULL) != v && !(v == 0 && strtod(buf, NULL) == 0))
			bad++;
		if ((int)strlen(buf) > longest)
			longest = strlen(buf);
	}
	CHECK(bad == 0 && longest <= 24,
	      "100000 random doubles read back (%d wrong, %d chars at most)", bad, longest);
}

static void test_page(void)
{
	struct strbuf sb = {};
	struct prom_label l[] = {
		{"exe", "a\\b \"c\"\nd"},
		{"raw", "ok\xff\xc3\x28\xe2\x82\xac\xed\xa0\x80\xf4\x90\x80\x80!"},
	};
	struct prom_label dup[] = {{"a", "1"}, {"a", "2"}};
	struct prom_label reserved[] = {{"__x", "1"}};
	const char *want = "# HELP go_heap_bytes Heap \"in use\", a\\\\b\\nnext.\n"
			   "# TYPE go_heap_bytes gauge\n"
			   "go_heap_bytes{exe=\"a\\\\b \\\"c\\\"\\nd\","
			   "raw=\"ok\xef\xbf\xbd\xef\xbf\xbd(\xe2\x82\xac"
			   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
			   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!\"} 2.5\n"
			   "# TYPE up counter\n"
			   "up 1\n";

	CHECK(!prom_family(&sb, "go_heap_bytes", PROM_GAUGE, "Heap \"in use\", a\\b\nnext."),
	      "family written");
	CHECK(!prom_sample(&sb, "go_heap_bytes", l, 2, 2.5), "sample written");
	CHECK(!prom_family(&sb, "up", PROM_COUNTER, NULL), "family without HELP");
	CHECK(!prom_sample(&sb, "up", NULL, 0, 1), "sample without labels");
	CHECK(prom_sample(&sb, "up", dup, 2, 1) == -EINVAL, "a label twice: -EINVAL");
	CHECK(prom_sample(&sb, "up", reserved, 1, 1) == -EINVAL, "a reserved label: -EINVAL");
	CHECK(prom_sample(&sb, "bad-name", NULL, 0, 1) == -EINVAL, "a bad metric name: -EINVAL");
	CHECK(prom_family(&sb, "9x", PROM_GAUGE, "h") == -EINVAL, "a bad family name: -EINVAL");
	CHECK(sb.buf && !strcmp(sb.buf, want),
	      "page: HELP escapes \\ and newline, label values \\ \" newline, bad UTF-8 is "
	      "U+FFFD, rejected calls wrote nothing:\n%s",
	      sb.buf ? sb.buf : "(null)");
	strbuf_free(&sb);
}

static void test_strbuf(void)
{
	struct strbuf sb = {};
	char *p;
	size_t n;
	int i;

	for (i = 0; i < 10000; i++)
		strbuf_printf(&sb, "%d,", i);
	CHECK(!sb.err && sb.len == 48890 && sb.buf[sb.len] == '\0' && !strncmp(sb.buf, "0,1,2,", 6),
	      "strbuf grows (%zu bytes)", sb.len);
	strbuf_reset(&sb);
	strbuf_append(&sb, "a\0b", 3);
	p = strbuf_detach(&sb, &n);
	CHECK(p && n == 3 && !memcmp(p, "a\0b", 4) && !sb.buf && !sb.len,
	      "strbuf keeps NUL bytes; detach empties it");
	free(p);
	p = strbuf_detach(&sb, &n);
	CHECK(p && n == 0 && !*p, "detaching an empty strbuf gives \"\"");
	free(p);
	sb.err = -ENOMEM;
	CHECK(strbuf_puts(&sb, "x") == -ENOMEM && !sb.len, "a failed strbuf stays failed");
	CHECK(!strbuf_detach(&sb, &n) && n == 0, "a failed strbuf detaches as NULL");
}

int main(void)
{
	test_names();
	test_values();
	test_page();
	test_strbuf();
	TEST_EXIT();
}
