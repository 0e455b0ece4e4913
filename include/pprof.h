/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_PPROF_H
#define LEAKHOUND_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gosym;
struct gobin;

/*
 * Profiles in pprof's format (github.com/google/pprof/proto/profile.proto), gzip'd,
 * as `go tool pprof` opens them. A hand-written protobuf encoder: no protobuf library.
 * One profile is a set of sample types, samples (stacks of link-time pcs with one
 * value per type, optional labels), and one mapping for the main binary. Samples are
 * symbolized with the pclntab when written, so the output carries function names,
 * files and lines (inlined frames as several lines of one location, innermost first,
 * as the Go runtime's own profiles do) and needs no binary to read.
 *
 * Profiles that mix modules (C heap stacks: libc, other shared objects, the Go
 * executable's C and Go code) take runtime addresses instead: several mappings
 * (pprof__add_mapping, each location gets the one holding its address) and a
 * symbolizer callback (pprof__encode_sym, pprof__write_sym; procsym.h has one for a
 * live process) in place of the gosym.
 */
struct pprof;

struct pprof_value_type {
	const char *type;
	const char *unit;
};

/* A sample label: a string (str != NULL) or a number with an optional unit. */
struct pprof_label {
	const char *key;
	const char *str;
	int64_t num;
	const char *num_unit;
};

/*
 * A mapping: for pprof__set_mapping the main binary's link-time range of its
 * executable PT_LOAD; for pprof__add_mapping a runtime range of a process.
 */
struct pprof_mapping {
	uint64_t start;
	uint64_t limit;
	uint64_t offset;
	const char *file;
	const char *build_id;
};

/*
 * The Go runtime's heap profile (runtime/pprof/protomem.go, Go 1.19-1.26): these four
 * sample types in this order, period type space/bytes, period = MemProfileRate.
 */
enum {
	PPROF_ALLOC_OBJECTS,
	PPROF_ALLOC_SPACE,
	PPROF_INUSE_OBJECTS,
	PPROF_INUSE_SPACE,
	PPROF_HEAP_NTYPES,
};
extern const struct pprof_value_type pprof_heap_types[PPROF_HEAP_NTYPES];
extern const struct pprof_value_type pprof_heap_period_type;
/* runtime/pprof/pprof.go writeGoroutine: goroutine/count, period type goroutine/count, 1. */
extern const struct pprof_value_type pprof_goroutine_type;

/* Limits on what one profile accepts (-EINVAL beyond them). */
#define PPROF_MAX_TYPES	 16
#define PPROF_MAX_DEPTH	 512
#define PPROF_MAX_LABELS 16

/*
 * A profile with ntypes sample types (copied). period_type may be NULL (no period).
 * time_nanos is set to now. NULL with errno (EINVAL, ENOMEM).
 */
struct pprof *pprof__new(const struct pprof_value_type *types, int ntypes,
			 const struct pprof_value_type *period_type, int64_t period);
void pprof__free(struct pprof *p);

/* Profile start time and duration (defaults: creation time, 0). */
void pprof__set_time(struct pprof *p, int64_t time_nanos, int64_t duration_nanos);
/* The sample type `go tool pprof` shows first; defaults to the last one, as pprof does. */
int pprof__set_default_type(struct pprof *p, int index);
/* The main binary's mapping (strings copied); without one, locations have no mapping. */
int pprof__set_mapping(struct pprof *p, const struct pprof_mapping *m);
/*
 * One more mapping (strings copied), for profiles of runtime addresses written with a
 * symbolizer: locations get the first mapping whose [start, limit) holds their address.
 * Returns the mapping's id (>= 1) or -errno. pprof__set_mapping sets id 1.
 */
int pprof__add_mapping(struct pprof *p, const struct pprof_mapping *m);
/*
 * Mapping of a Go binary: its executable PT_LOAD, file = path (the caller's name for
 * the binary, e.g. the path inside the target's container), build_id = the Go build id.
 */
int pprof_mapping_of(const struct gobin *gb, const char *path, struct pprof_mapping *m);

/*
 * One sample: npcs link-time pcs, innermost first. pcs[0] is an instruction address
 * (a probed IP or the leaf), the others are return addresses (runtime.mbuckets stacks,
 * frame-pointer unwinds): they are symbolized at pc - 1 and recorded as pc. values has
 * ntypes entries. Labels and their strings are copied. -EINVAL on out-of-range counts.
 */
int pprof__add_sample(struct pprof *p, const uint64_t *pcs, int npcs, const int64_t *values,
		      const struct pprof_label *labels, int nlabels);
int pprof__sample_count(const struct pprof *p);

/*
 * Symbolizes with gs (NULL: addresses only) and encodes the gzip'd profile into a
 * malloc'd buffer the caller frees.
 */
int pprof__encode(struct pprof *p, const struct gosym *gs, uint8_t **buf, size_t *len);
int pprof__write_fd(struct pprof *p, const struct gosym *gs, int fd);
/* Writes path atomically (a temporary file renamed over it). */
int pprof__write(struct pprof *p, const struct gosym *gs, const char *path);

/* A frame a symbolizer returns: func NULL leaves the location an address. */
struct pprof_frame {
	const char *func;
	const char *file; /* NULL: none (C frames) */
	uint32_t line;
};

/*
 * Frames of one address, innermost first, at most max; 0 when unknown, or -errno to
 * fail the write. is_return: pc is a return address (symbolize pc - 1; the location
 * keeps pc). The strings must stay valid until the next call.
 */
typedef int (*pprof_symbolize_fn)(void *ctx, uint64_t pc, bool is_return, struct pprof_frame *out,
				  int max);

struct pprof_symbolizer {
	pprof_symbolize_fn frames;
	void *ctx;
};

/*
 * As pprof__encode/__write_fd/__write, symbolizing with sym. A mapping gets
 * has_functions when every location in it got a function, and has_filenames,
 * has_line_numbers, has_inline_frames when each also got a file (Go frames).
 */
int pprof__encode_sym(struct pprof *p, const struct pprof_symbolizer *sym, uint8_t **buf,
		      size_t *len);
int pprof__write_fd_sym(struct pprof *p, const struct pprof_symbolizer *sym, int fd);
int pprof__write_sym(struct pprof *p, const struct pprof_symbolizer *sym, const char *path);

#endif
