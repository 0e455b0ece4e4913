/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_PROCSYM_H
#define LEAKHOUND_PROCSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct target;
struct pprof;
struct pprof_frame;

/*
 * Symbolization of a live process's runtime addresses, Go and C frames mixed, as a
 * C-heap stack brings them (innermost first: pcs[0] an instruction address, the rest
 * return addresses).
 *
 * Modules are the file-backed executable mappings of /proc/PID/maps, opened through
 * the target's root (/proc/PID/root: containers work; a deleted file through
 * /proc/PID/map_files). Per module: its path as the process sees it, its load bias
 * from the mapping's start and offset and the file's PT_LOAD headers, its build id,
 * and its symbols (elfsym.h: .symtab, .dynsym, debug files), opened on first use.
 * The Go executable is the target's own binary: its addresses go to the pclntab
 * (gosym, with t->bias; inlined frames expanded), and those the pclntab does not
 * cover -- the cgo-compiled C functions linked into the executable, or a static
 * binary's libc -- to its ELF symbols.
 *
 * For the tracer: procsym__open(t) once per target, procsym__frames() per pc when
 * reporting (answers are cached per pc: a report of thousands of stacks costs a hash
 * lookup per frame), and procsym__add_pprof_mappings() with procsym__pprof_symbolizer
 * when writing cgo-PID-N.pb.gz (pprof.h, several mappings). An address in no known
 * executable mapping returns 0 frames: a stale or garbage frame-pointer value where
 * the stack should be cut and reported as "stack cut short". /proc/PID/maps is read
 * again (at most once a second) when an address falls in no known mapping, for
 * libraries dlopen'ed after attach.
 *
 * Not thread-safe: one procsym per thread, or a lock around it. Strings in frames
 * live as long as the procsym.
 */
struct procsym;

struct procsym_frame {
	uint64_t pc;	      /* the runtime address asked about */
	const char *func;     /* symbol or Go function name; NULL when unknown */
	const char *file;     /* Go frames: source file; NULL for C frames */
	uint32_t line;	      /* Go frames, 0 otherwise */
	bool inlined;	      /* Go frames: all but the outermost of one pc */
	bool is_go;	      /* from the pclntab */
	const char *module;   /* the mapped file as the process sees it ("[vdso]") */
	const char *build_id; /* the module's GNU build id, "" when none */
	uint64_t module_addr; /* pc as a link-time address of module (readelf, addr2line -e) */
	uint64_t sym_off;     /* pc - the function's start (physical frame; C frames) */
};

/* Deeper Go inline chains than this bypass the cache. */
#define PROCSYM_CACHE_DEPTH 6

/* NULL with errno (ENOMEM, or the error reading /proc/PID/maps: ESRCH when gone). */
struct procsym *procsym__open(struct target *t);
void procsym__free(struct procsym *ps);

/*
 * Frames of runtime address pc, innermost first, at most max: several for a Go pc with
 * inlined calls, else one (func NULL when no symbol covers it). is_return: pc is a
 * return address, looked up at pc - 1. Returns the number of frames, 0 when pc is in
 * no executable mapping of the process, or -errno.
 */
int procsym__frames(struct procsym *ps, uint64_t pc, bool is_return, struct procsym_frame *out,
		    int max);

/* Reads /proc/PID/maps again now (the lookup does it by itself, rate-limited). */
int procsym__refresh(struct procsym *ps);

/* One executable mapping of the process, as pprof and reports describe it. */
struct procsym_mapping {
	uint64_t start, limit; /* runtime addresses */
	uint64_t offset;       /* file offset of start */
	const char *path;      /* as the process sees it */
	const char *build_id;  /* GNU build id (the Go build id for a Go executable without one) */
	bool is_exe;
};
size_t procsym__mapping_count(const struct procsym *ps);
int procsym__mapping_at(const struct procsym *ps, size_t i, struct procsym_mapping *m);

/* Cache lookups answered from the cache, and all lookups. */
void procsym__stats(const struct procsym *ps, uint64_t *hits, uint64_t *lookups);

/* pprof: every executable mapping as a profile mapping (runtime addresses). */
int procsym__add_pprof_mappings(struct procsym *ps, struct pprof *p);
/*
 * A pprof_symbolizer callback (pprof.h) with ctx = the procsym: Go frames with file and
 * line, C frames named by their symbol, else "module+0xADDR" (basename, link-time
 * address).
 */
int procsym__pprof_symbolizer(void *ctx, uint64_t pc, bool is_return, struct pprof_frame *out,
			      int max);

#endif
