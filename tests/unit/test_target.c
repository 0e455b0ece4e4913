// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * target__readv on this very process: three pages with the middle one unmapped,
 * read as 2500 ranges (more than one process_vm_readv batch) of which some lie in
 * the hole and some straddle its edges. Every range must come back with its own
 * verdict and, when read, the right bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target.h"
#include "test.h"

#define NIOV 2500

static void test_readv(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct target t = { .pid = getpid(), .mem_fd = -1 };
	static struct target_iov iov[NIOV];
	static uint8_t out[NIOV][64];
	uint8_t *m = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t failed, want_failed = 0, wrong = 0, verdicts = 0;

	CHECK(m != MAP_FAILED, "readv: three pages mapped");
	if (m == MAP_FAILED)
		return;
	for (long i = 0; i < 3 * pg; i++)
		m[i] = (uint8_t)(i * 7 + 3);
	munmap(m + pg, pg);
	srand(1);
	for (int i = 0; i < NIOV; i++) {
		size_t len = i % 97 == 0 ? 0 : 1 + rand() % 64;
		long off = rand() % (3 * pg - (long)len);

		iov[i] = (struct target_iov){ (uintptr_t)(m + off), out[i], len, 1 };
		if (len && off + (long)len > pg && off < 2 * pg)
			want_failed++;
	}
	failed = target__readv(&t, iov, NIOV);
	for (int i = 0; i < NIOV; i++) {
		long off = (long)(iov[i].addr - (uintptr_t)m);
		bool hole = iov[i].len && off + (long)iov[i].len > pg && off < 2 * pg;

		if ((iov[i].err != 0) != hole || (hole && iov[i].err != -EFAULT && iov[i].err != -EIO))
			verdicts++;
		else if (!hole && memcmp(out[i], m + off, iov[i].len))
			wrong++;
	}
	CHECK(failed == want_failed, "readv: %zu of %d ranges fail, %zu touch the hole", failed,
	      NIOV, want_failed);
	CHECK(verdicts == 0, "readv: every range has its own verdict (%zu wrong)", verdicts);
	CHECK(wrong == 0, "readv: every range read has the right bytes (%zu wrong)", wrong);
	CHECK(target__readv(&t, iov, 0) == 0, "readv: nothing to read, nothing failed");
	munmap(m, pg);
	munmap(m + 2 * pg, pg);
	if (t.mem_fd >= 0)
		close(t.mem_fd);
}

int main(void)
{
	test_readv();
	TEST_EXIT();
}
