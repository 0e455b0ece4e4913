// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The capabilities leakhound needs, by operation: one table for `leakhound check` and
 * for the one-line message every command gives when the kernel says EPERM or EACCES.
 * What each operation takes was measured on Linux 6.18 (docs/SECURITY.md, tests/
 * integration/privileges.sh); the kernel code behind each line is cited.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>

#include "bpfmaps.h"
#include "caps.h"

#define CAPS_MAX 2

struct caps_req {
	enum caps_need need;
	int cap[CAPS_MAX];  /* all needed; -1 ends */
	bool admin_covers;  /* CAP_SYS_ADMIN stands for them (bpf_capable(), perfmon_capable()) */
	bool owner_covers;  /* euid 0 owns the files: no capability needed for them */
	int multi;	    /* CAPS_UPROBE: 1 for uprobe_multi links, 0 perf uprobes; else -1 */
	const char *why;
};

static const struct caps_req reqs[] = {
	{ .need = CAPS_BPF, .cap = { CAP_BPF, CAP_PERFMON }, .admin_covers = true, .multi = -1,
	  .why = "to load BPF programs and maps (tracing programs need both)" },
	/* bpf_uprobe_multi_link_attach(), kernel/trace/bpf_trace.c: the program's load only */
	{ .need = CAPS_UPROBE, .cap = { CAP_BPF, CAP_PERFMON }, .admin_covers = true, .multi = 1,
	  .why = "to create uprobes (uprobe_multi links)" },
	/*
	 * perf_uprobe_event_init(), kernel/events/core.c: capable(CAP_SYS_ADMIN) since 6.16
	 * and the stable updates of July 2025 (commit ba677dbe77af, "perf: Revert to
	 * requiring CAP_SYS_ADMIN for uprobes"); perfmon_capable() from 5.8 until then.
	 */
	{ .need = CAPS_UPROBE, .cap = { CAP_SYS_ADMIN, -1 }, .multi = 0,
	  .why = "to create uprobes: kernels since 6.16 (and stable updates since July 2025) "
		 "create perf uprobes only for CAP_SYS_ADMIN, CAP_PERFMON is not enough (perf "
		 "uprobes here: no uprobe_multi links before 6.6, or LEAKHOUND_UPROBE_CLASSIC)" },
	/*
	 * perf_event_open() of a tracepoint wants perfmon_capable() at perf_event_paranoid
	 * above -1; libbpf reads the event id from tracefs, mode 0700 root.
	 */
	{ .need = CAPS_TRACEPOINT, .cap = { CAP_PERFMON, CAP_DAC_READ_SEARCH },
	  .admin_covers = true, .owner_covers = true, .multi = -1,
	  .why = "to attach to a kernel tracepoint (its id is in tracefs, readable by root "
		 "only)" },
	/* ptrace_may_access(): /proc/PID/exe, root, maps, mem, process_vm_readv/writev */
	{ .need = CAPS_PROC, .cap = { CAP_SYS_PTRACE, -1 }, .multi = -1,
	  .why = "to read another process's /proc/PID/exe, root, maps and memory (and write "
		 "its sampling rate)" },
	/* 0400 files of the target's user: /proc/PID/auxv (PIE executables), closed dirs */
	{ .need = CAPS_PROC_PRIVATE, .cap = { CAP_DAC_READ_SEARCH, -1 }, .multi = -1,
	  .why = "to read another user's /proc/PID/auxv (position-independent executables) "
		 "and files under directories closed to others" },
	/*
	 * proc_map_files_get_link(): checkpoint_restore_ns_capable(), CAP_SYS_ADMIN too;
	 * the links are 0400 of the target's user
	 */
	{ .need = CAPS_MAP_FILES, .cap = { CAP_CHECKPOINT_RESTORE, CAP_DAC_READ_SEARCH },
	  .admin_covers = true, .multi = -1,
	  .why = "to open /proc/PID/map_files (a deleted or replaced library)" },
};

static const char *const cap_names[] = {
	[CAP_DAC_OVERRIDE] = "CAP_DAC_OVERRIDE",
	[CAP_DAC_READ_SEARCH] = "CAP_DAC_READ_SEARCH",
	[CAP_SYS_PTRACE] = "CAP_SYS_PTRACE",
	[CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
	[CAP_SYS_RESOURCE] = "CAP_SYS_RESOURCE",
	[CAP_PERFMON] = "CAP_PERFMON",
	[CAP_BPF] = "CAP_BPF",
	[CAP_CHECKPOINT_RESTORE] = "CAP_CHECKPOINT_RESTORE",
};

int caps_read_eff(uint64_t *caps)
{
	char buf[4096], *line;
	FILE *f = fopen("/proc/self/status", "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	line = strstr(buf, "\nCapEff:");
	if (!line || sscanf(line + 8, "%" SCNx64, caps) != 1)
		return -EINVAL;
	return 0;
}

/* The initial user namespace maps all 2^32 ids onto themselves. */
int caps_init_userns(void)
{
	unsigned long inside, outside, count;
	FILE *f = fopen("/proc/self/uid_map", "re");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "%lu %lu %lu", &inside, &outside, &count);
	fclose(f);
	if (n != 3)
		return -1;
	return inside == 0 && outside == 0 && count == 4294967295UL;
}

/* Whether r is the rule here: uprobes take what the kind leakhound uses needs. */
static bool req_applies(const struct caps_req *r)
{
	return r->multi < 0 || r->multi == bpfmaps__uprobe_multi();
}

static const struct caps_req *req_of(enum caps_need need)
{
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		if (reqs[i].need == need && req_applies(&reqs[i]))
			return &reqs[i];
	return NULL;
}

const char *caps_why(enum caps_need need)
{
	const struct caps_req *r = req_of(need);

	return r ? r->why : "";
}

/* The first capability of r that is missing, -1 when none is. */
static int req_missing(const struct caps_req *r, uint64_t eff)
{
	bool admin = (eff >> CAP_SYS_ADMIN) & 1;

	for (int i = 0; i < CAPS_MAX && r->cap[i] >= 0; i++) {
		int cap = r->cap[i];

		if ((eff >> cap) & 1)
			continue;
		if (r->admin_covers && admin && cap != CAP_DAC_READ_SEARCH)
			continue;
		/* CAP_DAC_OVERRIDE reads any file too; root owns tracefs */
		if (cap == CAP_DAC_READ_SEARCH &&
		    (((eff >> CAP_DAC_OVERRIDE) & 1) || (r->owner_covers && geteuid() == 0)))
			continue;
		return cap;
	}
	return -1;
}

const char *caps_missing(unsigned needs, enum caps_need *need_out)
{
	uint64_t eff;

	if (caps_read_eff(&eff))
		return NULL;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		int cap;

		if (!(needs & reqs[i].need) || !req_applies(&reqs[i]))
			continue;
		cap = req_missing(&reqs[i], eff);
		if (cap < 0)
			continue;
		if (need_out)
			*need_out = reqs[i].need;
		return cap < (int)(sizeof(cap_names) / sizeof(cap_names[0])) && cap_names[cap]
			       ? cap_names[cap]
			       : "a capability";
	}
	return NULL;
}

bool caps_perm_err(int err)
{
	return err == -EPERM || err == -EACCES || err == EPERM || err == EACCES;
}

const char *caps_hint(unsigned needs)
{
	static char buf[400];
	enum caps_need need = 0;
	const char *cap = caps_missing(needs, &need);

	if (cap)
		snprintf(buf, sizeof(buf), "missing %s, needed %s", cap, caps_why(need));
	else if (caps_init_userns() == 0)
		snprintf(buf, sizeof(buf),
			 "this user namespace is not the host's: capabilities "
			 "grant no BPF here (not rootless docker/podman)");
	else
		snprintf(buf, sizeof(buf),
			 "the capabilities it needs are held: an LSM "
			 "(SELinux, AppArmor), Yama's ptrace_scope or a seccomp filter denies it");
	return buf;
}

const char *caps_err_hint(int err, unsigned needs)
{
	static char buf[408];

	if (!caps_perm_err(err))
		return "";
	snprintf(buf, sizeof(buf), "; %s", caps_hint(needs));
	return buf;
}
