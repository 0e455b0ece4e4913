// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Process-side control of a traced Go process: liveness (PID reuse told apart by the
 * start time) and runtime.MemProfileRate, which turns the runtime's heap sampling on
 * (GO-RUNTIME.md §1.3).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "attach.h"
#include "procfs.h"
#include "target.h"

bool attach__alive(const struct target *t)
{
	struct procfs_stat st;
	char path[64], buf[1024];

	if (kill(t->pid, 0) && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", t->pid);
	if (procfs_read(path, buf, sizeof(buf)) <= 0 || procfs_parse_stat(buf, &st))
		return false;
	/* a zombie keeps its stat: no threads left to run Go code either way */
	if (st.start_time != t->start_time || st.state == 'Z' || st.state == 'X')
		return false;
	return !attach__execed(t);
}

bool attach__execed(const struct target *t)
{
	char path[64];
	struct stat sb;

	/* an execve keeps the pid and the start time: the image is another file now */
	snprintf(path, sizeof(path), "/proc/%d/exe", t->pid);
	if (!t->exe_ino || stat(path, &sb))
		return false;
	return sb.st_dev != t->exe_dev || sb.st_ino != t->exe_ino;
}

int attach__rate_addr(const struct target *t, uint64_t *addr)
{
	const struct go_global *g = &t->bin->globals.global[GLOBAL_MEMPROFILERATE];

	if (!g->found)
		return -ENOENT;
	*addr = g->addr + t->bias;
	return 0;
}

int attach__rate_read(struct target *t, int64_t *rate)
{
	uint64_t addr;
	int err = attach__rate_addr(t, &addr);

	return err ? err : target__read(t, addr, rate, sizeof(*rate));
}

/*
 * An int64 store: the runtime reads MemProfileRate on every allocation that could be
 * sampled (≤1.23: the rate > 0 gate in mallocgc, malloc.go@1.19:1099, with
 * mcache.nextSample 0 while the rate was 0; 1.24+: compared with mcache.memProfRate,
 * malloc.go@1.24:1223), so the new rate takes effect on the next allocation of each P.
 * An aligned 8-byte copy into one page is one store: no torn value is seen.
 *
 * process_vm_writev, not /proc/PID/mem: it needs only ptrace access (CAP_SYS_PTRACE),
 * where /proc/PID/mem, a 0600 file of the target's user, also needs CAP_DAC_OVERRIDE for
 * another user's process; and it honours page protections (no FOLL_FORCE), so a wrong
 * address in text or read-only data fails instead of patching it (docs/SECURITY.md).
 * /proc/PID/mem only where the kernel lacks the call (CONFIG_CROSS_MEMORY_ATTACH=n).
 */
int attach__rate_write(const struct target *t, int64_t rate)
{
	struct iovec local = { &rate, sizeof(rate) }, remote;
	char path[64];
	uint64_t addr;
	ssize_t n;
	int fd, err;

	err = attach__rate_addr(t, &addr);
	if (err)
		return err;
	remote = (struct iovec){ (void *)(uintptr_t)addr, sizeof(rate) };
	n = process_vm_writev(t->pid, &local, 1, &remote, 1, 0);
	if (n == sizeof(rate))
		return 0;
	if (n >= 0 || errno != ENOSYS)
		return n < 0 ? -errno : -EFAULT;
	snprintf(path, sizeof(path), "/proc/%d/mem", t->pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pwrite(fd, &rate, sizeof(rate), addr);
	if (n < 0)
		err = -errno;
	else if (n != sizeof(rate))
		err = -EFAULT;
	close(fd);
	return err;
}
