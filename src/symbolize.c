// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * leakhound symbolize: link-time addresses of a Go binary to function, file and
 * line, inlined frames expanded, from the pclntab alone (works on stripped files);
 * with -p, runtime addresses of a live process, Go and C frames (procsym.h).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "commands.h"
#include "elfbin.h"
#include "gosym.h"
#include "jsonout.h"
#include "log.h"
#include "pprof.h"
#include "procsym.h"
#include "target.h"

/* Deeper inline chains are cut in the middle (see gosym__frames). */
#define MAX_FRAMES 64

struct sym_opts {
	bool json;
	bool list_funcs;
	bool stack;	   /* ADDRs are one stack: the first an instruction, the rest returns */
	pid_t pid;	   /* -p: runtime addresses of this process */
	const char *pprof; /* -p --pprof FILE: the stack as a one-sample profile */
};

struct sym_out {
	const struct sym_opts *opts;
	struct gosym_cache *cache;
	struct procsym *ps; /* -p */
	int nth;	    /* addresses done: the first of a stack is no return address */
	uint64_t *stack;    /* --pprof: the addresses */
	int depth;
	cJSON *addrs; /* --json: the array being filled */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: leakhound symbolize [--json] BINARY [ADDR...]\n"
		"       leakhound symbolize -p PID [--json] [--stack] [--pprof FILE] [ADDR...]\n"
		"\n"
		"Prints the frames of each link-time address of a Go binary, innermost first,\n"
		"one per line: 'ADDR FUNCTION FILE:LINE', inlined frames marked '(inlined)'.\n"
		"An address outside every function prints 'ADDR ?? ??:0'. ADDR is hex, with or\n"
		"without 0x; with no ADDR, addresses are read from stdin, one per line.\n"
		"Uses the pclntab only: stripped, PIE and cgo binaries of Go 1.19-1.26 work\n"
		"(and 1.18, which shares 1.19's format).\n"
		"\n"
		"With -p PID, ADDRs are runtime addresses of a live process (a Go program), in\n"
		"any module: Go code as above, C code (libc, other shared objects, the C part of\n"
		"a cgo executable, a static binary) from ELF symbols (.symtab, .dynsym, separate\n"
		"debug files under /usr/lib/debug or by .gnu_debuglink, in the process's root):\n"
		"'ADDR FUNCTION+0xOFF MODULE+0xADDR' (ADDR in MODULE is the link-time address\n"
		"readelf and addr2line -e MODULE take), 'ADDR ?? MODULE+0xADDR' without a symbol,\n"
		"'ADDR ?? (no mapping)' for an address in no executable mapping.\n"
		"\n"
		"Options:\n"
		"  -j, --json   one JSON document: {\"binary\", \"addresses\": [{\"address\",\n"
		"               \"frames\": [{\"function\", \"file\", \"line\", \"inlined\"}]}]}\n"
		"               (frames is empty outside every function); with -p {\"pid\",\n"
		"               \"addresses\": [{\"address\", \"mapped\", \"frames\": "
		"[{\"function\"\n"
		"               (null when unknown), \"file\", \"line\", \"inlined\", \"go\", "
		"\"module\",\n"
		"               \"module_address\", \"offset\"}]}]}\n"
		"  -p, --pid PID  runtime addresses of process PID\n"
		"  -s, --stack  (-p) the ADDRs are one stack, innermost first: all but the first\n"
		"               are return addresses, looked up at ADDR-1\n"
		"      --pprof FILE  (-p) also write the stack as a one-sample pprof profile\n"
		"               (sample type samples/count, one mapping per executable mapping)\n"
		"  -h, --help   this help\n");
}

/* Hex with or without 0x, nothing else on the line but blanks. */
static int parse_addr(const char *s, uint64_t *addr)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
		return -EINVAL;
	errno = 0;
	*addr = strtoull(s, &end, 16);
	if (errno)
		return -EINVAL;
	while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
		end++;
	return *end ? -EINVAL : 0;
}

static int emit_json(struct sym_out *o, uint64_t addr, const struct gosym_frame *fr, int n)
{
	cJSON *a = cJSON_CreateObject(), *frames;
	char buf[32];

	/* once in the array, a belongs to it */
	if (!a || !cJSON_AddItemToArray(o->addrs, a)) {
		cJSON_Delete(a);
		return -ENOMEM;
	}
	snprintf(buf, sizeof(buf), "0x%" PRIx64, addr);
	if (!cJSON_AddStringToObject(a, "address", buf) ||
	    !(frames = cJSON_AddArrayToObject(a, "frames")))
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		cJSON *f = cJSON_CreateObject();

		if (!f || !cJSON_AddItemToArray(frames, f)) {
			cJSON_Delete(f);
			return -ENOMEM;
		}
		if (!cJSON_AddStringToObject(f, "function", fr[i].func) ||
		    !cJSON_AddStringToObject(f, "file", fr[i].file) ||
		    !cJSON_AddNumberToObject(f, "line", fr[i].line) ||
		    !cJSON_AddBoolToObject(f, "inlined", fr[i].inlined))
			return -ENOMEM;
	}
	return 0;
}

static int symbolize_bin(struct sym_out *o, uint64_t addr);

static void emit_text(uint64_t addr, const struct gosym_frame *fr, int n)
{
	if (n <= 0) {
		printf("0x%" PRIx64 " ?? ??:0\n", addr);
		return;
	}
	for (int i = 0; i < n; i++)
		printf("0x%" PRIx64 " %s %s:%u%s\n", addr, fr[i].func, fr[i].file, fr[i].line,
		       fr[i].inlined ? " (inlined)" : "");
}

static int json_frame_p(cJSON *f, const struct procsym_frame *fr)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, fr->module_addr);
	if (!(fr->func ? cJSON_AddStringToObject(f, "function", fr->func)
		       : cJSON_AddNullToObject(f, "function")) ||
	    !cJSON_AddStringToObject(f, "file", fr->file ? fr->file : "") ||
	    !cJSON_AddNumberToObject(f, "line", fr->line) ||
	    !cJSON_AddBoolToObject(f, "inlined", fr->inlined) ||
	    !cJSON_AddBoolToObject(f, "go", fr->is_go) ||
	    !cJSON_AddStringToObject(f, "module", fr->module) ||
	    !cJSON_AddStringToObject(f, "module_address", buf) ||
	    !cJSON_AddNumberToObject(f, "offset", (double)fr->sym_off))
		return -ENOMEM;
	return 0;
}

static int emit_json_p(struct sym_out *o, uint64_t addr, const struct procsym_frame *fr, int n)
{
	cJSON *a = cJSON_CreateObject(), *frames;
	char buf[32];

	if (!a || !cJSON_AddItemToArray(o->addrs, a)) {
		cJSON_Delete(a);
		return -ENOMEM;
	}
	snprintf(buf, sizeof(buf), "0x%" PRIx64, addr);
	if (!cJSON_AddStringToObject(a, "address", buf) ||
	    !cJSON_AddBoolToObject(a, "mapped", n > 0) ||
	    !(frames = cJSON_AddArrayToObject(a, "frames")))
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		cJSON *f = cJSON_CreateObject();

		if (!f || !cJSON_AddItemToArray(frames, f)) {
			cJSON_Delete(f);
			return -ENOMEM;
		}
		if (json_frame_p(f, &fr[i]))
			return -ENOMEM;
	}
	return 0;
}

static void emit_text_p(uint64_t addr, const struct procsym_frame *fr, int n)
{
	if (n <= 0) {
		printf("0x%" PRIx64 " ?? (no mapping)\n", addr);
		return;
	}
	for (int i = 0; i < n; i++) {
		if (fr[i].is_go)
			printf("0x%" PRIx64 " %s %s:%u%s\n", addr, fr[i].func, fr[i].file,
			       fr[i].line, fr[i].inlined ? " (inlined)" : "");
		else if (fr[i].func)
			printf("0x%" PRIx64 " %s+0x%" PRIx64 " %s+0x%" PRIx64 "\n", addr,
			       fr[i].func, fr[i].sym_off, fr[i].module, fr[i].module_addr);
		else
			printf("0x%" PRIx64 " ?? %s+0x%" PRIx64 "\n", addr, fr[i].module,
			       fr[i].module_addr);
	}
}

static int symbolize_pid(struct sym_out *o, uint64_t addr)
{
	struct procsym_frame frames[MAX_FRAMES];
	bool ret = o->opts->stack && o->nth > 0;
	int n = procsym__frames(o->ps, addr, ret, frames, MAX_FRAMES);

	if (n < 0)
		return n;
	if (o->opts->pprof) {
		if (o->depth >= PPROF_MAX_DEPTH)
			return -E2BIG;
		o->stack[o->depth++] = addr;
	}
	o->nth++;
	if (o->opts->json)
		return emit_json_p(o, addr, frames, n);
	emit_text_p(addr, frames, n);
	return 0;
}

static int symbolize_one(struct sym_out *o, uint64_t addr)
{
	if (o->ps)
		return symbolize_pid(o, addr);
	return symbolize_bin(o, addr);
}

static int symbolize_bin(struct sym_out *o, uint64_t addr)
{
	struct gosym_frame frames[MAX_FRAMES];
	int n = gosym_cache__frames(o->cache, addr, frames, MAX_FRAMES);

	if (n < 0 && n != -ENOENT)
		return n;
	if (o->opts->json)
		return emit_json(o, addr, frames, n);
	emit_text(addr, frames, n);
	return 0;
}

static int symbolize_stdin(struct sym_out *o)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned long lineno = 0;
	uint64_t addr;
	int err = 0;

	while (!err && getline(&line, &cap, stdin) >= 0) {
		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		err = parse_addr(line, &addr);
		if (err)
			log_err("stdin line %lu: '%s' is not a hex address", lineno,
				strtok(line, "\r\n"));
		else
			err = symbolize_one(o, addr);
	}
	free(line);
	return err;
}

static int symbolize_args(struct sym_out *o, int argc, char **argv)
{
	uint64_t addr;
	int err;

	for (int i = 0; i < argc; i++) {
		err = parse_addr(argv[i], &addr);
		if (err) {
			log_err("'%s' is not a hex address", argv[i]);
			return err;
		}
		err = symbolize_one(o, addr);
		if (err)
			return err;
	}
	return 0;
}

/* Hidden --list-funcs: "ENTRY END NAME" per function, for tests to cross-check. */
static void list_funcs(const struct gosym *gs)
{
	struct gosym_func fn;

	for (uint32_t i = 0; i < gosym__func_count(gs); i++)
		if (!gosym__func_at(gs, i, &fn))
			printf("0x%" PRIx64 " 0x%" PRIx64 " %s\n", fn.entry, fn.end, fn.name);
}

static void log_info_of(const char *path, const struct gosym *gs)
{
	const struct gosym_info *in = gosym__info(gs);

	log_info("'%s': pclntab 0x%" PRIx64 " (%s, magic 0x%x, %u functions), runtime.text "
		 "0x%" PRIx64 " (%s), moduledata 0x%" PRIx64 " (%s), gofunc 0x%" PRIx64,
		 path, in->pclntab, in->pclntab_how, in->magic, in->nfunc, in->text, in->text_how,
		 in->moduledata, in->moduledata_how, in->gofunc);
}

static const char *open_error(int err)
{
	switch (err) {
	case ENOENT:
		return "not a Go binary (no pclntab found)";
	case ENOTSUP:
		return "pclntab of a Go release before 1.18, not supported";
	case EINVAL:
		return "corrupt Go symbol table";
	default:
		return strerror(err);
	}
}

static int open_binary(const char *path, struct elfbin **eb, struct gosym **gs)
{
	*eb = elfbin__open(path);
	if (!*eb) {
		log_err("failed to open '%s': %s", path,
			errno == ENOEXEC ? "not an ELF file or corrupt" : strerror(errno));
		return -1;
	}
	*gs = gosym__open(*eb);
	if (!*gs) {
		log_err("failed to read symbols of '%s': %s", path, open_error(errno));
		return -1;
	}
	log_info_of(path, *gs);
	return 0;
}

static int parse_opts(int argc, char **argv, struct sym_opts *opts)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"list-funcs", no_argument, NULL, 'L'},
		{"pid", required_argument, NULL, 'p'},
		{"stack", no_argument, NULL, 's'},
		{"pprof", required_argument, NULL, 'P'},
		{},
	};
	char *end;
	long pid;
	int c;

	while ((c = getopt_long(argc, argv, "+jhp:s", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			opts->json = true;
			break;
		case 'p':
			errno = 0;
			pid = strtol(optarg, &end, 10);
			if (errno || *end || pid <= 0 || pid > INT32_MAX) {
				log_err("symbolize: '%s' is not a process id", optarg);
				return 2;
			}
			opts->pid = pid;
			break;
		case 's':
			opts->stack = true;
			break;
		case 'P':
			opts->pprof = optarg;
			opts->stack = true;
			break;
		case 'L':
			opts->list_funcs = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if ((opts->stack || opts->pprof) && !opts->pid) {
		log_err("symbolize: --stack and --pprof need -p PID");
		return 2;
	}
	if (optind >= argc && !opts->pid) {
		log_err("symbolize: missing BINARY (see 'leakhound symbolize --help')");
		return 2;
	}
	return -1;
}

static int print_json(const struct sym_opts *opts, const char *path, cJSON *addrs)
{
	cJSON *doc = cJSON_CreateObject();

	if (!doc || !(opts->pid ? cJSON_AddNumberToObject(doc, "pid", opts->pid)
				: cJSON_AddStringToObject(doc, "binary", path))) {
		cJSON_Delete(doc);
		cJSON_Delete(addrs);
		return -ENOMEM;
	}
	cJSON_AddItemToObject(doc, "addresses", addrs);
	return json_emit(doc);
}

static int run(struct sym_out *o, const char *path, int argc, char **argv)
{
	int err;

	if (o->opts->json && !(o->addrs = cJSON_CreateArray()))
		return -ENOMEM;
	err = argc ? symbolize_args(o, argc, argv) : symbolize_stdin(o);
	if (!err && o->opts->json) {
		err = print_json(o->opts, path, o->addrs);
		o->addrs = NULL;
	}
	cJSON_Delete(o->addrs);
	return err;
}

/* The addresses as one stack, one sample, mappings and symbols from the process. */
static int write_pprof(struct sym_out *o)
{
	static const struct pprof_value_type type = {"samples", "count"};
	struct pprof_symbolizer sym = {procsym__pprof_symbolizer, o->ps};
	struct pprof *p = pprof__new(&type, 1, NULL, 0);
	int64_t one = 1;
	int err;

	if (!p)
		return -errno;
	err = procsym__add_pprof_mappings(o->ps, p);
	if (!err && o->depth)
		err = pprof__add_sample(p, o->stack, o->depth, &one, NULL, 0);
	if (!err)
		err = pprof__write_sym(p, &sym, o->opts->pprof);
	if (err)
		log_err("failed to write '%s': %s", o->opts->pprof, strerror(-err));
	pprof__free(p);
	return err ? -EIO : 0;
}

static int open_pid(struct sym_out *o, pid_t pid, struct target **t)
{
	*t = target__open(pid);
	if (!*t) {
		log_err("failed to open process %d: %s%s", pid, gobin_strerror(errno),
			caps_err_hint(errno, CAPS_PROC | CAPS_PROC_PRIVATE));
		return -1;
	}
	o->ps = procsym__open(*t);
	if (!o->ps) {
		log_err("failed to read the mappings of process %d: %s", pid, strerror(errno));
		return -1;
	}
	if (o->opts->pprof && !(o->stack = calloc(PPROF_MAX_DEPTH, sizeof(*o->stack)))) {
		log_err("symbolize: %s", strerror(ENOMEM));
		return -1;
	}
	return 0;
}

static int cmd_symbolize_pid(struct sym_out *o, int argc, char **argv)
{
	struct target *t = NULL;
	char name[32];
	int ret = 1, err;

	if (open_pid(o, o->opts->pid, &t))
		goto cleanup;
	snprintf(name, sizeof(name), "%d", o->opts->pid);
	err = run(o, name, argc, argv);
	if (!err && o->opts->pprof)
		err = write_pprof(o);
	if (err == -EINVAL)
		ret = 2;
	else if (err == -E2BIG)
		log_err("symbolize: a stack for --pprof has at most %d addresses", PPROF_MAX_DEPTH);
	else if (err && err != -EIO)
		log_err("symbolize: %s", strerror(-err));
	else if (!err)
		ret = 0;
cleanup:
	free(o->stack);
	procsym__free(o->ps);
	target__free(t);
	return fflush(stdout) && !ret ? 1 : ret;
}

int cmd_symbolize(int argc, char **argv)
{
	struct sym_opts opts = {0};
	struct sym_out out = {.opts = &opts};
	struct elfbin *eb = NULL;
	struct gosym *gs = NULL;
	const char *path;
	int ret = parse_opts(argc, argv, &opts), err;

	if (ret >= 0)
		return ret;
	if (opts.pid)
		return cmd_symbolize_pid(&out, argc - optind, argv + optind);
	path = argv[optind++];
	ret = 1;
	if (open_binary(path, &eb, &gs))
		goto cleanup;
	if (opts.list_funcs) {
		list_funcs(gs);
		ret = 0;
		goto cleanup;
	}
	out.cache = gosym_cache__new(gs, 4096);
	if (!out.cache) {
		log_err("symbolize: %s", strerror(errno));
		goto cleanup;
	}
	err = run(&out, path, argc - optind, argv + optind);
	if (err == -EINVAL)
		ret = 2;
	else if (err)
		log_err("symbolize: %s", strerror(-err));
	else
		ret = 0;
cleanup:
	gosym_cache__free(out.cache);
	gosym__free(gs);
	elfbin__free(eb);
	return fflush(stdout) && !ret ? 1 : ret;
}
