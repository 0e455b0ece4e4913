// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `leakhound info`: everything leakhound derives from a Go binary or process. */
#include <cjson/cJSON.h>
#include <elf.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "callocs.h"
#include "commands.h"
#include "elfbin.h"
#include "gosym.h"
#include "jsonout.h"
#include "log.h"
#include "target.h"
#include "x86dec.h"

/* Values read live from a process, when its globals and offsets are known. */
struct live_values {
	bool have_rate, have_disable, have_numgc, have_allglen;
	int64_t mem_profile_rate;
	uint8_t disable_mem_profiling;
	uint32_t numgc;
	uint64_t allglen;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: leakhound info [--json] BINARY\n"
		"       leakhound info [--json] -p PID\n"
		"\n"
		"Prints what leakhound reads from a Go binary, or from the executable of a\n"
		"running Go process: Go release and build settings, ELF facts (PIE, static,\n"
		"stripped, cgo, DWARF), the pclntab, the runtime functions it probes with the\n"
		"probe site chosen in each (decoded instruction), the runtime globals it reads\n"
		"and the runtime struct offsets. With -p it also gives the load bias and reads\n"
		"a few runtime values from the live process, and names the C allocator the\n"
		"process uses (glibc, musl, jemalloc, tcmalloc or its own) with the probe\n"
		"site of each of its entry points.\n"
		"\n"
		"  -p, --pid PID   inspect a running process (through /proc/PID/exe)\n"
		"  -j, --json      one JSON object instead of text\n"
		"  -h, --help      this help\n");
}

static const char *yesno(bool b)
{
	return b ? "yes" : "no";
}

static void read_live(struct target *t, struct live_values *lv)
{
	const struct go_global *g = t->bin->globals.global;
	const struct go_offsets *off = &t->bin->offsets;

	memset(lv, 0, sizeof(*lv));
	if (g[GLOBAL_MEMPROFILERATE].found)
		lv->have_rate = !target__read(t, g[GLOBAL_MEMPROFILERATE].addr + t->bias,
					      &lv->mem_profile_rate, 8);
	if (g[GLOBAL_DISABLE_MEMPROF].found)
		lv->have_disable = !target__read(t, g[GLOBAL_DISABLE_MEMPROF].addr + t->bias,
						 &lv->disable_mem_profiling, 1);
	if (g[GLOBAL_MEMSTATS].found && off->val[OFF_MSTATS_NUMGC] >= 0)
		lv->have_numgc = !target__read(t, g[GLOBAL_MEMSTATS].addr + t->bias +
						   off->val[OFF_MSTATS_NUMGC], &lv->numgc, 4);
	if (g[GLOBAL_ALLGLEN].found)
		lv->have_allglen = !target__read(t, g[GLOBAL_ALLGLEN].addr + t->bias,
						 &lv->allglen, 8);
}

static void print_build(const struct gobin *gb, FILE *out)
{
	const struct go_buildinfo *bi = &gb->bi;

	fprintf(out, "go:             %s (%s)\n", bi->version_str,
		gb->supported ? "supported"
			      : "NOT supported: leakhound supports " GO_SUPPORTED_RANGE);
	fprintf(out, "main package:   %s\n", *bi->path ? bi->path : "-");
	if (bi->mod_path)
		fprintf(out, "main module:    %s %s %s\n", bi->mod_path, bi->mod_version, bi->mod_sum);
	fprintf(out, "dependencies:   %d\n", bi->ndeps);
	fprintf(out, "build settings:");
	for (int i = 0; i < bi->nsettings; i++)
		fprintf(out, "%s%s=%s\n", i ? "                " : " ", bi->settings[i].key,
			bi->settings[i].value);
	if (!bi->nsettings)
		fprintf(out, " -\n");
}

static void print_elf(const struct gobin *gb, FILE *out)
{
	const struct gobin_facts *f = &gb->facts;
	uint16_t m = elfbin__machine(gb->elf);

	fprintf(out, "machine:        %s\n", m == EM_X86_64 ? "x86-64" :
					    m == EM_AARCH64 ? "arm64" : "unknown");
	fprintf(out, "pie:            %s\n", yesno(f->pie));
	fprintf(out, "linking:        %s, %s linker%s%s\n", f->dynamic ? "dynamic" : "static",
		f->external_link ? "external (host)" : "internal (Go)",
		elfbin__interp(gb->elf) ? ", interpreter " : "",
		elfbin__interp(gb->elf) ? elfbin__interp(gb->elf) : "");
	fprintf(out, "stripped:       %s\n", f->stripped ? "yes (no .symtab)" : "no");
	fprintf(out, "cgo:            %s\n", yesno(f->cgo));
	if (f->dwarf)
		fprintf(out, "dwarf:          yes, version %d, %s\n", f->dwarf_version,
			f->dwarf_compressed ? "zlib-compressed" : "not compressed");
	else
		fprintf(out, "dwarf:          no\n");
	fprintf(out, "gnu build id:   %s\n", *elfbin__build_id(gb->elf) ? elfbin__build_id(gb->elf) : "-");
	fprintf(out, "go build id:    %s\n", *f->go_buildid ? f->go_buildid : "-");
}

static void print_pclntab(const struct gobin *gb, FILE *out)
{
	const struct gosym_info *si = gosym__info(gb->sym);

	fprintf(out, "pclntab:        0x%lx, magic 0x%08x, found by %s\n", si->pclntab, si->magic,
		si->pclntab_how);
	fprintf(out, "functions:      %u in %u files\n", si->nfunc, si->nfiles);
	fprintf(out, "runtime.text:   0x%lx - 0x%lx\n", si->text, si->etext);
	if (si->moduledata)
		fprintf(out, "moduledata:     0x%lx, found by %s\n", si->moduledata,
			si->moduledata_how);
	else
		fprintf(out, "moduledata:     not found\n");
}

static void print_live(const struct target *t, const struct live_values *lv, FILE *out)
{
	fprintf(out, "pid:            %d\n", t->pid);
	fprintf(out, "executable:     %s (root %s)\n", t->exe, t->root);
	fprintf(out, "load bias:      0x%lx\n", t->bias);
	if (lv->have_rate)
		fprintf(out, "MemProfileRate: %ld%s\n", (long)lv->mem_profile_rate,
			lv->mem_profile_rate ? "" : " (heap profiling off)");
	if (lv->have_disable)
		fprintf(out, "disableMemoryProfiling: %u\n", lv->disable_mem_profiling);
	if (lv->have_numgc)
		fprintf(out, "GC cycles:      %u\n", lv->numgc);
	if (lv->have_allglen)
		fprintf(out, "allglen:        %lu\n", lv->allglen);
}

static void add_hex(cJSON *obj, const char *key, uint64_t v);

/* The C allocator of a live process (src/callocs.c), for cgo heap tracing. */
static void print_callocs(const struct target *t, FILE *out)
{
	struct calloc_info ci;
	char insn[64];
	int err = callocs__find(t->pid, &ci);

	fprintf(out, "\nC allocator:\n");
	if (err) {
		fprintf(out, "  %s\n", err == -ENOENT ? "none: no mapped object defines malloc "
							 "(not linked with C)"
						       : strerror(-err));
		return;
	}
	fprintf(out, "  %s %s%s%s\n", ci.kind, ci.path, *ci.build_id ? " build-id " : "",
		ci.build_id);
	for (int i = 0; i < CFN__COUNT; i++) {
		const struct calloc_fn *f = &ci.fn[i];

		if (!f->found) {
			fprintf(out, "  %-15s not defined\n", f->name);
			continue;
		}
		if (f->same_as >= 0) {
			fprintf(out, "  %-15s %#-10lx same function as %s: probed once\n", f->name,
				(unsigned long)f->addr, ci.fn[f->same_as].name);
			continue;
		}
		x86_insn_format(&f->site.insn, insn, sizeof(insn));
		fprintf(out, "  %-15s %#-10lx +%#-5lx file offset %#-8lx %-24s %s\n", f->name,
			(unsigned long)f->addr, (unsigned long)(f->site.addr - f->addr),
			(unsigned long)f->site.file_off, insn,
			f->site.emulated ? "emulated" : "single-stepped");
	}
}

static void json_callocs(const struct target *t, cJSON *root)
{
	struct calloc_info ci;
	cJSON *c, *a;
	char insn[64];

	if (callocs__find(t->pid, &ci)) {
		cJSON_AddNullToObject(root, "c_allocator");
		return;
	}
	c = cJSON_AddObjectToObject(root, "c_allocator");
	if (!c)
		return;
	cJSON_AddStringToObject(c, "kind", ci.kind);
	cJSON_AddStringToObject(c, "path", ci.path);
	cJSON_AddStringToObject(c, "build_id", ci.build_id);
	a = cJSON_AddArrayToObject(c, "functions");
	for (int i = 0; a && i < CFN__COUNT; i++) {
		const struct calloc_fn *f = &ci.fn[i];
		cJSON *o;

		if (!f->found)
			continue;
		o = cJSON_CreateObject();
		if (!o)
			return;
		cJSON_AddStringToObject(o, "name", f->name);
		add_hex(o, "address", f->addr);
		if (f->same_as >= 0) {
			cJSON_AddStringToObject(o, "same_as", ci.fn[f->same_as].name);
		} else {
			x86_insn_format(&f->site.insn, insn, sizeof(insn));
			add_hex(o, "site", f->site.addr);
			add_hex(o, "file_offset", f->site.file_off);
			cJSON_AddStringToObject(o, "instruction", insn);
			cJSON_AddBoolToObject(o, "emulated", f->site.emulated);
		}
		cJSON_AddItemToArray(a, o);
	}
}

static void print_text(const struct gobin *gb, const struct target *t,
		       const struct live_values *lv, const char *path, FILE *out)
{
	if (t)
		print_live(t, lv, out);
	else
		fprintf(out, "binary:         %s\n", path);
	print_build(gb, out);
	print_elf(gb, out);
	print_pclntab(gb, out);
	fprintf(out, "\nprobe sites:\n");
	hooks__print(&gb->hooks, out);
	fprintf(out, "\nruntime globals:\n");
	globals__print(&gb->globals, out);
	fprintf(out, "\nstruct offsets:\n");
	if (gb->offsets_err)
		fprintf(out, "  unavailable: %s\n", strerror(-gb->offsets_err));
	else
		goffsets__print(&gb->offsets, out);
	if (t)
		print_callocs(t, out);
}

static void add_hex(cJSON *obj, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "0x%lx", v);
	cJSON_AddStringToObject(obj, key, buf);
}

static void json_build(const struct gobin *gb, cJSON *root)
{
	const struct go_buildinfo *bi = &gb->bi;
	cJSON *ver = cJSON_AddObjectToObject(root, "go_version_parts");
	cJSON *mod, *set;

	cJSON_AddStringToObject(root, "go_version", bi->version_str);
	cJSON_AddNumberToObject(ver, "major", bi->version.major);
	cJSON_AddNumberToObject(ver, "minor", bi->version.minor);
	cJSON_AddNumberToObject(ver, "patch", bi->version.patch);
	cJSON_AddBoolToObject(root, "supported", gb->supported);
	cJSON_AddStringToObject(root, "main_package", bi->path);
	mod = cJSON_AddObjectToObject(root, "main_module");
	cJSON_AddStringToObject(mod, "path", bi->mod_path ? bi->mod_path : "");
	cJSON_AddStringToObject(mod, "version", bi->mod_version ? bi->mod_version : "");
	cJSON_AddStringToObject(mod, "sum", bi->mod_sum ? bi->mod_sum : "");
	cJSON_AddNumberToObject(root, "dependencies", bi->ndeps);
	set = cJSON_AddObjectToObject(root, "build_settings");
	for (int i = 0; i < bi->nsettings; i++)
		cJSON_AddStringToObject(set, bi->settings[i].key, bi->settings[i].value);
}

static void json_elf(const struct gobin *gb, cJSON *root)
{
	const struct gobin_facts *f = &gb->facts;
	cJSON *e = cJSON_AddObjectToObject(root, "elf");
	uint16_t m = elfbin__machine(gb->elf);

	cJSON_AddStringToObject(e, "machine", m == EM_X86_64 ? "x86_64" :
					       m == EM_AARCH64 ? "arm64" : "unknown");
	cJSON_AddBoolToObject(e, "pie", f->pie);
	cJSON_AddBoolToObject(e, "dynamic", f->dynamic);
	cJSON_AddStringToObject(e, "interpreter", elfbin__interp(gb->elf) ? elfbin__interp(gb->elf) : "");
	cJSON_AddBoolToObject(e, "stripped", f->stripped);
	cJSON_AddBoolToObject(e, "cgo", f->cgo);
	cJSON_AddBoolToObject(e, "external_link", f->external_link);
	cJSON_AddBoolToObject(e, "dwarf", f->dwarf);
	cJSON_AddBoolToObject(e, "dwarf_compressed", f->dwarf_compressed);
	cJSON_AddNumberToObject(e, "dwarf_version", f->dwarf_version);
	cJSON_AddStringToObject(e, "gnu_build_id", elfbin__build_id(gb->elf));
	cJSON_AddStringToObject(e, "go_build_id", f->go_buildid);
}

static void json_pclntab(const struct gobin *gb, cJSON *root)
{
	const struct gosym_info *si = gosym__info(gb->sym);
	cJSON *p = cJSON_AddObjectToObject(root, "pclntab");

	add_hex(p, "address", si->pclntab);
	add_hex(p, "magic", si->magic);
	cJSON_AddStringToObject(p, "found_by", si->pclntab_how);
	cJSON_AddNumberToObject(p, "functions", si->nfunc);
	cJSON_AddNumberToObject(p, "files", si->nfiles);
	add_hex(p, "text", si->text);
	add_hex(p, "etext", si->etext);
	add_hex(p, "moduledata", si->moduledata);
	cJSON_AddStringToObject(p, "moduledata_found_by", si->moduledata ? si->moduledata_how : "");
	add_hex(p, "gofunc", si->gofunc);
}

static void json_live(const struct target *t, const struct live_values *lv, cJSON *root)
{
	cJSON *l;

	cJSON_AddNumberToObject(root, "pid", t->pid);
	cJSON_AddStringToObject(root, "executable", t->exe);
	add_hex(root, "load_bias", t->bias);
	l = cJSON_AddObjectToObject(root, "live");
	if (lv->have_rate)
		cJSON_AddNumberToObject(l, "MemProfileRate", lv->mem_profile_rate);
	if (lv->have_disable)
		cJSON_AddNumberToObject(l, "disableMemoryProfiling", lv->disable_mem_profiling);
	if (lv->have_numgc)
		cJSON_AddNumberToObject(l, "numgc", lv->numgc);
	if (lv->have_allglen)
		cJSON_AddNumberToObject(l, "allglen", lv->allglen);
}

static int print_json(const struct gobin *gb, const struct target *t,
		      const struct live_values *lv, const char *path)
{
	cJSON *root = cJSON_CreateObject();

	if (!root)
		return -ENOMEM;
	cJSON_AddStringToObject(root, "path", path);
	if (t) {
		json_live(t, lv, root);
		json_callocs(t, root);
	}
	json_build(gb, root);
	json_elf(gb, root);
	json_pclntab(gb, root);
	hooks__to_json(&gb->hooks, root);
	globals__to_json(&gb->globals, root);
	if (!gb->offsets_err)
		goffsets__to_json(&gb->offsets, root);
	return json_emit(root);
}

static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v <= 0 || v > 0x7fffffff)
		return -EINVAL;
	*pid = v;
	return 0;
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct target *t = NULL;
	struct gobin *gb = NULL;
	struct live_values lv = {};
	const char *path = NULL;
	bool json = false;
	pid_t pid = 0;
	int c, err;

	while ((c = getopt_long(argc, argv, "p:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_pid(optarg, &pid)) {
				log_err("invalid PID '%s'", optarg);
				return 2;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if ((pid && optind != argc) || (!pid && optind != argc - 1)) {
		usage(stderr);
		return 2;
	}
	if (pid) {
		t = target__open(pid);
		if (!t) {
			log_err("process %d: %s%s", pid, gobin_strerror(errno),
				caps_err_hint(errno, CAPS_PROC | CAPS_PROC_PRIVATE));
			return 1;
		}
		gb = t->bin;
		path = t->exe;
		read_live(t, &lv);
	} else {
		path = argv[optind];
		gb = gobin__open(path);
		if (!gb) {
			log_err("'%s': %s", path, gobin_strerror(errno));
			return 1;
		}
	}
	if (json)
		err = print_json(gb, t, &lv, path);
	else
		print_text(gb, t, &lv, path, stdout), err = 0;
	if (t)
		target__free(t);
	else
		gobin__free(gb);
	return err ? 1 : 0;
}
