// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The C heap tracer from user space: loads bpf/cheap.bpf.c once, attaches per target to
 * the entry points of its C allocator, reads its maps.
 *
 * On kernels with uprobe sessions (6.13+) every allocating entry point of a target is one
 * offset of a single uprobe_multi session link, and free one offset of another
 * uprobe_multi link: the entry program skips the return of every call it does not
 * sample, and a whole target detaches with two close()s. Debian's libbpf 1.1 predates
 * uprobe_multi, so those links are made with the bpf(2) command itself. Without sessions
 * (or with LEAKHOUND_UPROBE_CLASSIC set), each entry point gets a uprobe and a uretprobe
 * through libbpf, and every call pays for its return.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpfmaps.h"
#include "cheap.h"
#include "procfs.h"
#include "target.h"

#include "cheap.skel.h"

_Static_assert(CFN__COUNT == LH_CFN_COUNT, "callocs.h and leakhound.h disagree on entry points");
_Static_assert(CFN_MALLOC == LH_CFN_MALLOC && CFN_FREE == LH_CFN_FREE &&
		       CFN_PVALLOC == LH_CFN_PVALLOC && CFN_POSIX_MEMALIGN == LH_CFN_POSIX_MEMALIGN,
	       "callocs.h and leakhound.h number entry points differently");


struct cheap_target {
	pid_t pid;
	int session_fd;	/* uprobe_multi links; -1: none */
	int free_fd;
	struct bpf_link *link[2 * LH_CFN_COUNT]; /* classic: entry and return probes */
	int nlinks;
	char probes[160]; /* names of the probed entry points */
	int nprobes;
};

struct cheap {
	struct cheap_bpf *skel;
	enum cheap_attach_mode mode;
	struct cheap_target tgt[LH_CHEAP_MAX_TARGETS];
};

static bool have_sessions(void)
{
	struct btf *vmlinux;
	bool ok;

	if (getenv("LEAKHOUND_UPROBE_CLASSIC"))
		return false;
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return false;
	ok = btf__find_by_name_kind(vmlinux, "bpf_session_is_return", BTF_KIND_FUNC) >= 0;
	btf__free(vmlinux);
	return ok;
}

struct cheap *cheap__open(void)
{
	struct cheap *ch = calloc(1, sizeof(*ch));
	int err;

	if (!ch)
		return NULL;
	for (int i = 0; i < LH_CHEAP_MAX_TARGETS; i++)
		ch->tgt[i].session_fd = ch->tgt[i].free_fd = -1;
	ch->skel = cheap_bpf__open();
	if (!ch->skel) {
		err = -errno;
		goto fail;
	}
	ch->mode = have_sessions() ? CHEAP_SESSION : CHEAP_CLASSIC;
	if (ch->mode == CHEAP_SESSION) {
		bpf_program__set_expected_attach_type(ch->skel->progs.lh_cheap_session,
						      LH_BPF_TRACE_UPROBE_SESSION);
		bpf_program__set_expected_attach_type(ch->skel->progs.lh_cheap_free,
						      LH_BPF_TRACE_UPROBE_MULTI);
		bpf_program__set_autoload(ch->skel->progs.lh_cheap_entry, false);
		bpf_program__set_autoload(ch->skel->progs.lh_cheap_return, false);
	} else {
		bpf_program__set_autoload(ch->skel->progs.lh_cheap_session, false);
	}
	bpfmaps__scale(ch->skel->obj);
	err = cheap_bpf__load(ch->skel);
	if (err)
		goto fail;
	return ch;
fail:
	cheap__free(ch);
	errno = -err;
	return NULL;
}

enum cheap_attach_mode cheap__mode(const struct cheap *ch)
{
	return ch->mode;
}

static void target_detach(struct cheap_target *ct)
{
	if (ct->session_fd >= 0)
		close(ct->session_fd);
	if (ct->free_fd >= 0)
		close(ct->free_fd);
	for (int i = 0; i < ct->nlinks; i++)
		bpf_link__destroy(ct->link[i]);
	memset(ct, 0, sizeof(*ct));
	ct->session_fd = ct->free_fd = -1;
}

void cheap__free(struct cheap *ch)
{
	if (!ch)
		return;
	for (int i = 0; i < LH_CHEAP_MAX_TARGETS; i++)
		if (ch->tgt[i].pid)
			cheap__detach(ch, ch->tgt[i].pid);
	cheap_bpf__destroy(ch->skel);
	free(ch);
}

/*
 * Runtime address of file offset off of path in pid: from the executable mapping of that
 * file that covers it. 0 when none does.
 */
static uint64_t runtime_addr(pid_t pid, const char *path, uint64_t off)
{
	char maps[64], line[PATH_MAX + 128];
	uint64_t addr = 0;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "r");
	if (!f)
		return 0;
	while (!addr && fgets(line, sizeof(line), f)) {
		struct procfs_map m;

		if (procfs_parse_maps_line(line, &m))
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (!m.exec || strcmp(m.path, path))
			continue;
		if (off >= m.offset && off - m.offset < m.end - m.start)
			addr = m.start + (off - m.offset);
	}
	fclose(f);
	return addr;
}

/*
 * The probe site of an allocating function: its decoded site when the return address is
 * still at [rsp] there (a return probe takes it from there), else the entry.
 */
uint64_t cheap_probe_off(const struct calloc_fn *f, bool allocating, bool *emulated)
{
	uint64_t entry_off = f->site.file_off - (f->site.addr - f->addr);
	bool site = f->picked && (!allocating || f->site.ra_sp_off == 0);

	if (emulated)
		*emulated = site && f->site.emulated;
	return site ? f->site.file_off : entry_off;
}

static int make_cfg(struct target *t, const struct calloc_info *ci, const struct cheap_opts *o,
		    struct lh_cheap_cfg *c, const char **what)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < CFN__COUNT; i++) {
		const struct calloc_fn *f = &ci->fn[i];
		uint64_t entry_off, lo;

		if (!f->found || f->same_as >= 0)
			continue;
		entry_off = f->site.file_off - (f->site.addr - f->addr);
		lo = runtime_addr(t->pid, ci->path, entry_off);
		if (!lo) {
			*what = f->name;
			return -ENOENT;
		}
		c->fn_lo[i] = lo;
		c->fn_hi[i] = lo + (f->size ? f->size : 1);
	}
	c->rate = o->rate;
	c->keep_shift = o->keep_shift;
	c->budget = o->budget;
	return 0;
}

static struct bpf_link *classic(struct bpf_program *prog, const char *path, pid_t pid,
				uint64_t off, uint64_t cookie, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie, .retprobe = ret);

	return bpf_program__attach_uprobe_opts(prog, pid, path, off, &opts);
}

static void note_probe(struct cheap_target *ct, const char *name)
{
	size_t len = strlen(ct->probes);

	snprintf(ct->probes + len, sizeof(ct->probes) - len, "%s%s", len ? "," : "", name);
	ct->nprobes++;
}

static int attach_probes(struct cheap *ch, struct cheap_target *ct, struct target *t,
			 const struct calloc_info *ci, const char **what)
{
	uint64_t offs[LH_CFN_COUNT], cookies[LH_CFN_COUNT];
	const struct calloc_fn *fr = &ci->fn[CFN_FREE];
	const char *path = ci->open_path;
	int n = 0, err;

	for (int i = 0; i < CFN__COUNT; i++) {
		const struct calloc_fn *f = &ci->fn[i];

		if (i == CFN_FREE || !f->found || f->same_as >= 0)
			continue;
		offs[n] = cheap_probe_off(f, true, NULL);
		cookies[n++] = i;
		note_probe(ct, f->name);
	}
	if (!ci->fn[CFN_MALLOC].found || !fr->found) {
		*what = ci->fn[CFN_MALLOC].found ? "free" : "malloc";
		return -ENOENT;
	}
	note_probe(ct, "free");
	if (ch->mode == CHEAP_SESSION) {
		uint64_t free_off = cheap_probe_off(fr, false, NULL), zero = CFN_FREE;

		err = bpfmaps__uprobe_multi_link(ch->skel->progs.lh_cheap_session,
						 LH_BPF_TRACE_UPROBE_SESSION, path, t->pid, offs,
						 cookies, n);
		if (err < 0) {
			*what = "uprobe session on the allocating functions";
			return err;
		}
		ct->session_fd = err;
		err = bpfmaps__uprobe_multi_link(ch->skel->progs.lh_cheap_free,
						 LH_BPF_TRACE_UPROBE_MULTI, path, t->pid, &free_off,
						 &zero, 1);
		if (err < 0) {
			*what = "uprobe on free";
			return err;
		}
		ct->free_fd = err;
		return 0;
	}
	for (int i = 0; i < n; i++) {
		for (int r = 0; r < 2; r++) {
			struct bpf_program *p = r ? ch->skel->progs.lh_cheap_return
						  : ch->skel->progs.lh_cheap_entry;

			ct->link[ct->nlinks] = classic(p, path, t->pid, offs[i], cookies[i], r);
			if (!ct->link[ct->nlinks]) {
				*what = ci->fn[cookies[i]].name;
				return -errno;
			}
			ct->nlinks++;
		}
	}
	ct->link[ct->nlinks] = classic(ch->skel->progs.lh_cheap_free, path, t->pid,
				       cheap_probe_off(fr, false, NULL), CFN_FREE, false);
	if (!ct->link[ct->nlinks]) {
		*what = "free";
		return -errno;
	}
	ct->nlinks++;
	return 0;
}

int cheap__attach(struct cheap *ch, struct target *t, const struct calloc_info *ci,
		  const struct cheap_opts *o, const char **what)
{
	struct lh_cheap_tstate ts = {};
	struct cheap_target *ct = NULL;
	struct lh_cheap_cfg c;
	__u32 key = t->pid;
	int err;

	*what = NULL;
	for (int i = 0; i < LH_CHEAP_MAX_TARGETS && !ct; i++)
		if (!ch->tgt[i].pid)
			ct = &ch->tgt[i];
	if (!ct)
		return -ENOSPC;
	err = make_cfg(t, ci, o, &c, what);
	if (err)
		return err;
	err = bpf_map__update_elem(ch->skel->maps.tstate, &key, sizeof(key), &ts, sizeof(ts),
				   BPF_ANY);
	if (!err)
		err = bpf_map__update_elem(ch->skel->maps.cfg, &key, sizeof(key), &c, sizeof(c),
					   BPF_ANY);
	if (err) {
		*what = "configuration map";
		return err;
	}
	ct->pid = t->pid;
	err = attach_probes(ch, ct, t, ci, what);
	if (err)
		cheap__detach(ch, t->pid);
	return err;
}

int cheap__configure(struct cheap *ch, pid_t pid, const struct cheap_opts *o)
{
	struct lh_cheap_cfg c;
	__u32 key = pid;
	int err;

	err = bpf_map__lookup_elem(ch->skel->maps.cfg, &key, sizeof(key), &c, sizeof(c), 0);
	if (err)
		return err;
	c.rate = o->rate;
	c.keep_shift = o->keep_shift;
	c.budget = o->budget;
	return bpf_map__update_elem(ch->skel->maps.cfg, &key, sizeof(key), &c, sizeof(c),
				    BPF_EXIST);
}

int cheap__detach(struct cheap *ch, pid_t pid)
{
	__u32 key = pid;

	for (int i = 0; i < LH_CHEAP_MAX_TARGETS; i++)
		if (ch->tgt[i].pid == pid)
			target_detach(&ch->tgt[i]);
	bpf_map__delete_elem(ch->skel->maps.cfg, &key, sizeof(key), 0);
	bpf_map__delete_elem(ch->skel->maps.tstate, &key, sizeof(key), 0);
	bpf_map__delete_elem(ch->skel->maps.countdown, &key, sizeof(key), 0);
	bpfmaps__drop_tgid(ch->skel->maps.live, sizeof(struct lh_goheap_live_key), pid);
	bpfmaps__drop_tgid(ch->skel->maps.stacks, sizeof(struct lh_goheap_stack_key), pid);
	bpfmaps__drop_tgid(ch->skel->maps.pending, sizeof(struct lh_cheap_pending_key), pid);
	return 0;
}

int cheap__probes(const struct cheap *ch, pid_t pid, char *names, size_t len)
{
	for (int i = 0; i < LH_CHEAP_MAX_TARGETS; i++)
		if (ch->tgt[i].pid == pid) {
			snprintf(names, len, "%s", ch->tgt[i].probes);
			return ch->tgt[i].nprobes;
		}
	snprintf(names, len, "%s", "");
	return 0;
}

static void pcpu_counts(struct cheap *ch, pid_t pid, struct cheap_counts *cnt)
{
	int ncpu = libbpf_num_possible_cpus();
	struct lh_cheap_pcpu *v;
	__u32 key = pid;

	if (ncpu <= 0)
		return;
	v = calloc(ncpu, sizeof(*v));
	if (v && !bpf_map__lookup_elem(ch->skel->maps.countdown, &key, sizeof(key), v,
				       ncpu * sizeof(*v), 0))
		for (int i = 0; i < ncpu; i++) {
			cnt->sum.calls += v[i].calls;
			cnt->sum.nested += v[i].nested;
			cnt->sum.frees += v[i].frees;
			cnt->sum.allocs += v[i].allocs;
			cnt->sum.alloc_bytes += v[i].alloc_bytes;
			cnt->sum.rec_frees += v[i].rec_frees;
			cnt->sum.rec_free_bytes += v[i].rec_free_bytes;
			cnt->sum.failed += v[i].failed;
		}
	free(v);
}

int cheap__counts(struct cheap *ch, pid_t pid, struct cheap_counts *cnt)
{
	__u32 key = pid;
	int err;

	memset(cnt, 0, sizeof(*cnt));
	err = bpf_map__lookup_elem(ch->skel->maps.tstate, &key, sizeof(key), &cnt->ts,
				   sizeof(cnt->ts), 0);
	if (!err)
		pcpu_counts(ch, pid, cnt);
	return err;
}

int cheap__stats(struct cheap *ch, uint64_t stats[LH_STAT__COUNT])
{
	return bpfmaps__sum_stats(ch->skel->maps.stats, stats);
}

int cheap__snapshot(struct cheap *ch, pid_t pid, int64_t rate, struct goheap_snap *s,
		    struct cheap_counts *cnt)
{
	int err;

	memset(s, 0, sizeof(*s));
	cheap__counts(ch, pid, cnt);
	err = bpfmaps__sum_stats(ch->skel->maps.stats, s->stats);
	if (!err)
		err = goheap_snap__read(ch->skel->maps.stacks, ch->skel->maps.live, pid, rate, 0,
					s);
	return err;
}

uint32_t cheap__prog_id(const struct cheap *ch, int i)
{
	struct bpf_program *p[] = {
		ch->skel->progs.lh_cheap_session,
		ch->skel->progs.lh_cheap_entry,
		ch->skel->progs.lh_cheap_return,
		ch->skel->progs.lh_cheap_free,
	};
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd;

	if (i < 0 || i >= 4)
		return 0;
	fd = bpf_program__fd(p[i]);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}
