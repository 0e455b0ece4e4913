/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_CLI_H
#define LEAKHOUND_CLI_H

/*
 * A number given on the command line: decimal or floating point (strtod), nothing
 * after it, within [min, max]. 0, or -EINVAL (out untouched).
 */
int cli_parse_num(const char *s, double min, double max, double *out);

/* A size: a number with an optional K, M, G or T suffix (powers of 1024), as above. */
int cli_parse_size(const char *s, double min, double max, double *out);

/* SIGINT, SIGTERM and SIGHUP to handler (a clean stop: probes off, rates back); no SIGPIPE. */
void cli_stop_signals(void (*handler)(int));
#endif
