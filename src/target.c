// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A running Go process: its executable (opened through /proc/PID/exe, which
 * reaches into the target's mount namespace and survives the file being
 * replaced or deleted), its load bias, and reads of its memory.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfbin.h"
#include "procfs.h"
#include "target.h"

/* Field 22 of /proc/PID/stat: the process's start time, which tells PID reuse apart. */
static int read_start_time(pid_t pid, uint64_t *start)
{
	struct procfs_stat st;
	char path[64], buf[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	n = procfs_read(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	if (procfs_parse_stat(buf, &st))
		return -EINVAL;
	*start = st.start_time;
	return 0;
}

/* AT_ENTRY from /proc/PID/auxv: where the kernel mapped e_entry. */
static int read_at_entry(pid_t pid, uint64_t *entry)
{
	char path[64];
	uint64_t aux[2];
	int fd, err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (read(fd, aux, sizeof(aux)) == sizeof(aux) && aux[0] != AT_NULL) {
		if (aux[0] == AT_ENTRY) {
			*entry = aux[1];
			err = 0;
			break;
		}
	}
	close(fd);
	return err;
}

/* Load bias of a PIE: AT_ENTRY - e_entry, as delve computes it (STRIPPED-GLOBALS.md §3). */
static int compute_bias(struct target *t)
{
	uint64_t at_entry = 0;
	int err;

	if (elfbin__type(t->bin->elf) != ET_DYN) {
		t->bias = 0;
		return 0;
	}
	err = read_at_entry(t->pid, &at_entry);
	if (err)
		return err;
	t->bias = at_entry - elfbin__entry(t->bin->elf);
	return 0;
}

/*
 * Binaries opened, shared by every target that runs one (a node runs many copies of a
 * few binaries): keyed by the executable's device, inode, size and modification time,
 * counted, freed with their last target. One thread uses targets (the daemon's loop).
 */
struct bin_ref {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct gobin *bin;
	int refs;
	struct bin_ref *next;
};

static struct bin_ref *bins;

static struct gobin *bin_get(const char *path)
{
	struct bin_ref *r;
	struct stat st;

	if (stat(path, &st))
		return NULL;
	for (r = bins; r; r = r->next)
		if (r->dev == st.st_dev && r->ino == st.st_ino && r->size == st.st_size &&
		    r->mtime.tv_sec == st.st_mtim.tv_sec && r->mtime.tv_nsec == st.st_mtim.tv_nsec) {
			r->refs++;
			return r->bin;
		}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->bin = gobin__open(path);
	if (!r->bin) {
		int err = errno;

		free(r);
		errno = err;
		return NULL;
	}
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->size = st.st_size;
	r->mtime = st.st_mtim;
	r->refs = 1;
	r->next = bins;
	bins = r;
	return r->bin;
}

static void bin_put(struct gobin *bin)
{
	for (struct bin_ref **p = &bins; *p; p = &(*p)->next) {
		struct bin_ref *r = *p;

		if (r->bin != bin)
			continue;
		if (--r->refs == 0) {
			*p = r->next;
			gobin__free(r->bin);
			free(r);
		}
		return;
	}
	gobin__free(bin);
}

struct target *target__open(pid_t pid)
{
	struct target *t = calloc(1, sizeof(*t));
	struct stat st;
	char path[64];
	ssize_t n;
	int err;

	if (!t)
		return NULL;
	t->pid = pid;
	t->mem_fd = -1;
	snprintf(t->root, sizeof(t->root), "/proc/%d/root", pid);
	err = read_start_time(pid, &t->start_time);
	if (err)
		goto fail;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, t->exe, sizeof(t->exe) - 1);
	if (n < 0) {
		/* kernel threads have no exe; a vanished process has no /proc entry */
		err = errno == ENOENT ? -ENOEXEC : -errno;
		goto fail;
	}
	t->exe[n] = 0;
	if (stat(path, &st)) {
		err = -errno;
		goto fail;
	}
	t->exe_dev = st.st_dev;
	t->exe_ino = st.st_ino;
	t->bin = bin_get(path);
	if (!t->bin) {
		err = -errno;
		goto fail;
	}
	err = compute_bias(t);
	if (err)
		goto fail;
	return t;
fail:
	target__free(t);
	errno = -err;
	return NULL;
}

void target__free(struct target *t)
{
	if (!t)
		return;
	if (t->mem_fd >= 0)
		close(t->mem_fd);
	if (t->bin)
		bin_put(t->bin);
	free(t);
}

/*
 * process_vm_readv first: it needs only ptrace access to the target (CAP_SYS_PTRACE),
 * where opening /proc/PID/mem, a 0600 file of the target's user, also needs
 * CAP_DAC_READ_SEARCH for another user's process (docs/SECURITY.md). /proc/PID/mem
 * remains for what process_vm_readv refuses: pages mapped without read permission.
 */
int target__read(struct target *t, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
	ssize_t n;

	if (process_vm_readv(t->pid, &local, 1, &remote, 1, 0) == (ssize_t)len)
		return 0;
	if (t->mem_fd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/mem", t->pid);
		t->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (t->mem_fd < 0)
			return -errno;
	}
	n = pread(t->mem_fd, buf, len, addr);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int target__ranges(struct target *t, struct target_range **out, size_t *nout)
{
	struct target_range *r = NULL;
	char path[64], line[512];
	size_t n = 0, cap = 0;
	bool rest = false;
	int err = 0;
	FILE *f;

	*out = NULL;
	*nout = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", t->pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (fgets(line, sizeof(line), f)) {
		bool skip = rest;
		struct procfs_map m;

		/*
		 * A line longer than line (a long path) goes on in the next reads: the rest
		 * of a path, which a process may have made look like a line of maps.
		 */
		rest = !strchr(line, '\n');
		if (skip || procfs_parse_maps_line(line, &m) || !m.readable)
			continue;
		if (n && r[n - 1].end == m.start) {
			r[n - 1].end = m.end; /* adjacent readable mappings: one range */
			continue;
		}
		if (n == cap) {
			struct target_range *v =
				realloc(r, (cap = cap ? 2 * cap : 64) * sizeof(*r));

			if (!v) {
				err = -ENOMEM;
				break;
			}
			r = v;
		}
		r[n++] = (struct target_range){ m.start, m.end };
	}
	fclose(f);
	if (!err && !n)
		err = -ESRCH;
	if (err) {
		free(r);
		return err;
	}
	*out = r;
	*nout = n;
	return 0;
}

/* process_vm_readv takes at most IOV_MAX (1024) ranges a side. */
#define READV_BATCH 1024

/*
 * One process_vm_readv over iov[0..n): the kernel stops at the first range it cannot
 * read completely, so the ranges before it are done, that one is retried alone (the
 * short one may be only partly mapped) and the batch goes on after it.
 */
static size_t readv_batch(struct target *t, struct target_iov *iov, size_t n)
{
	struct iovec local[READV_BATCH], remote[READV_BATCH];
	size_t failed = 0, i = 0;

	while (i < n) {
		size_t k = n - i < READV_BATCH ? n - i : READV_BATCH;
		ssize_t got;

		for (size_t j = 0; j < k; j++) {
			local[j] = (struct iovec){ iov[i + j].buf, iov[i + j].len };
			remote[j] = (struct iovec){ (void *)(uintptr_t)iov[i + j].addr,
						    iov[i + j].len };
		}
		got = process_vm_readv(t->pid, local, k, remote, k, 0);
		if (got < 0 && (errno == ENOSYS || errno == EPERM || errno == ESRCH))
			break; /* no batching here: every range alone below */
		if (got < 0)
			got = 0;
		for (; k && (size_t)got >= iov[i].len; k--, i++) {
			got -= iov[i].len;
			iov[i].err = 0;
		}
		if (k) {
			iov[i].err = target__read(t, iov[i].addr, iov[i].buf, iov[i].len);
			failed += iov[i].err != 0;
			i++;
		}
	}
	for (; i < n; i++) {
		iov[i].err = target__read(t, iov[i].addr, iov[i].buf, iov[i].len);
		failed += iov[i].err != 0;
	}
	return failed;
}

size_t target__readv(struct target *t, struct target_iov *iov, size_t n)
{
	return n ? readv_batch(t, iov, n) : 0;
}
