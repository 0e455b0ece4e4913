// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_parse_num(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max)) /* NaN too */
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse_size(const char *s, double min, double max, double *out)
{
	static const char units[] = "KMGT";
	double v, mul = 1;
	char *end;
	const char *u;

	if (!s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return -EINVAL;
	if ((*end & ~0x20) && (u = strchr(units, *end & ~0x20)) != NULL) {
		for (const char *k = units; k <= u; k++)
			mul *= 1024;
		end++;
	}
	if (*end || !(v * mul >= min && v * mul <= max))
		return -EINVAL;
	*out = v * mul;
	return 0;
}

void cli_stop_signals(void (*handler)(int))
{
	struct sigaction sa = { .sa_handler = handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
