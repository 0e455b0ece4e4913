/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_TEST_H
#define LEAKHOUND_TEST_H

/* Minimal unit-test harness: each CHECK prints PASS/FAIL lines for tests/run.sh. */
#include <stdio.h>

static int test_failures;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (cond) {                                                   \
			printf("PASS ");                                      \
		} else {                                                      \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);           \
			test_failures++;                                      \
		}                                                             \
		printf(__VA_ARGS__);                                          \
		printf("\n");                                                 \
	} while (0)

#define TEST_EXIT() return test_failures ? 1 : 0

#endif
