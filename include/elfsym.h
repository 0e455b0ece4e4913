/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_ELFSYM_H
#define LEAKHOUND_ELFSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elfbin;

/*
 * The function symbols of one ELF file (a shared library, or the C part of an
 * executable), for symbolizing C frames: STT_FUNC and STT_GNU_IFUNC from .symtab and
 * .dynsym (both when present, merged), sorted by address. A file without .symtab gets
 * the .symtab of its separate debug file when one is installed in the same root:
 *   ROOT/usr/lib/debug/.build-id/xx/yyyy.debug       (NT_GNU_BUILD_ID, checked)
 *   DIR/NAME, DIR/.debug/NAME, ROOT/usr/lib/debug/DIR/NAME  (.gnu_debuglink, CRC checked)
 * where DIR is the file's directory as the process sees it. Debug files have NOBITS
 * code: only their symbols are used. All addresses are link-time addresses; names
 * point into the mapped files and live as long as the elfsym.
 */
struct elfsym;

struct elfsym_hit {
	const char *name;
	uint64_t addr;	 /* the symbol's link-time address */
	uint64_t size;	 /* 0: unknown, the symbol runs up to the next one */
	uint64_t offset; /* of the looked-up address into the symbol */
};

/*
 * Opens ROOT/PATH: root is the process's file system as the host sees it
 * ("/proc/PID/root", or NULL/"" for the host), path the file as the process sees it;
 * debug files are looked up in the same root. NULL with errno: the open error,
 * ENOEXEC for a file that is not ELF or is corrupt.
 */
struct elfsym *elfsym__open(const char *root, const char *path);
/*
 * Same on an already open file (borrowed: it must outlive the elfsym), e.g. the Go
 * executable's elfbin; root and path locate its debug files as above (path may be NULL:
 * no debuglink search, build-id only).
 */
struct elfsym *elfsym__open_elf(struct elfbin *eb, const char *root, const char *path);
void elfsym__free(struct elfsym *es);

/* -ENOENT when addr is in no function symbol. */
int elfsym__lookup(const struct elfsym *es, uint64_t addr, struct elfsym_hit *hit);
/*
 * Link-time address of a function symbol by name; -ENOENT. Only the name kept for an
 * address is known (malloc, not its alias __libc_malloc).
 */
int elfsym__addr_of(const struct elfsym *es, const char *name, uint64_t *addr);

size_t elfsym__count(const struct elfsym *es);
/* The i-th symbol in address order; -ERANGE past the end. */
int elfsym__at(const struct elfsym *es, size_t i, struct elfsym_hit *sym);
/* GNU build-id as lowercase hex, "" when the file has none. */
const char *elfsym__build_id(const struct elfsym *es);
/* The debug file whose symbols were taken (host path), NULL when none. */
const char *elfsym__debug_file(const struct elfsym *es);
struct elfbin *elfsym__elf(const struct elfsym *es);

#endif
