// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test driver for tests/integration/procsym.sh: one procsym kept open while the target
 * changes its mappings (dlopen after attach), as the tracer keeps one.
 * usage: procsym-watch PID
 * Prints "opened" once procsym__open() has read the maps, then for each hex address
 * read from stdin (one per line) two answers: "first ADDR ..." right away (a fresh
 * maps read may be refused by the once-a-second limit) and "later ADDR ..." once more
 * than a second has passed since the last read, each as
 *   FUNC+0xOFF MODULE+0xADDR | ?? MODULE+0xADDR | nomap
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procsym.h"
#include "target.h"

static void answer(struct procsym *ps, const char *when, uint64_t addr)
{
	struct procsym_frame fr[8];
	int n = procsym__frames(ps, addr, false, fr, 8);

	if (n <= 0)
		printf("%s 0x%" PRIx64 " nomap\n", when, addr);
	else if (fr[n - 1].func)
		printf("%s 0x%" PRIx64 " %s+0x%" PRIx64 " %s+0x%" PRIx64 "\n", when, addr,
		       fr[n - 1].func, fr[n - 1].sym_off, fr[n - 1].module, fr[n - 1].module_addr);
	else
		printf("%s 0x%" PRIx64 " ?? %s+0x%" PRIx64 "\n", when, addr, fr[n - 1].module,
		       fr[n - 1].module_addr);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct target *t;
	struct procsym *ps;
	char line[128];

	if (argc != 2) {
		fprintf(stderr, "usage: procsym-watch PID\n");
		return 2;
	}
	t = target__open(atoi(argv[1]));
	ps = t ? procsym__open(t) : NULL;
	if (!ps) {
		fprintf(stderr, "procsym-watch: %s\n", strerror(errno));
		target__free(t);
		return 1;
	}
	printf("opened\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t addr = strtoull(line, NULL, 16);

		answer(ps, "first", addr);
		sleep(2);
		answer(ps, "later", addr);
	}
	procsym__free(ps);
	target__free(t);
	return 0;
}
