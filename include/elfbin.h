/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_ELFBIN_H
#define LEAKHOUND_ELFBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * An ELF file mapped read-only. Every accessor bounds-checks against the file:
 * binaries come from untrusted containers, so a corrupt header yields an error,
 * never a read past the mapping. Nothing is copied except decompressed sections.
 */
struct elfbin;

struct elf_sect {
	const char *name;
	uint64_t addr;
	uint64_t off;
	uint64_t size;
	uint64_t flags; /* SHF_* */
	uint32_t type;	/* SHT_* */
	uint32_t link;	/* sh_link: index of the linked section, libelf numbering */
};

struct elf_seg {
	uint64_t vaddr;
	uint64_t memsz;
	uint64_t off;
	uint64_t filesz;
	uint64_t align;
	uint32_t flags; /* PF_* */
	uint32_t type;	/* PT_* */
};

/* NULL with errno: ENOEXEC for "not an ELF file or corrupt", else the open/mmap error. */
struct elfbin *elfbin__open(const char *path);
/* Same on a caller-owned buffer that must outlive the object (fuzzing, tests). */
struct elfbin *elfbin__open_mem(const void *buf, size_t len);
void elfbin__free(struct elfbin *eb);

const char *elfbin__path(const struct elfbin *eb);
const uint8_t *elfbin__image(const struct elfbin *eb, size_t *len);
uint16_t elfbin__type(const struct elfbin *eb);    /* ET_EXEC, ET_DYN */
uint16_t elfbin__machine(const struct elfbin *eb); /* EM_X86_64, EM_AARCH64 */
uint64_t elfbin__entry(const struct elfbin *eb);

size_t elfbin__section_count(const struct elfbin *eb);
const struct elf_sect *elfbin__section_at(const struct elfbin *eb, size_t i);
const struct elf_sect *elfbin__section(const struct elfbin *eb, const char *name);
/*
 * Contents of a section, inflated when SHF_COMPRESSED (zlib; the inflated copy is
 * owned by eb and freed with it). NULL with errno for SHT_NOBITS, out-of-file
 * ranges and bad compression.
 */
const uint8_t *elfbin__section_data(struct elfbin *eb, const struct elf_sect *s, size_t *len);

size_t elfbin__segment_count(const struct elfbin *eb);
const struct elf_seg *elfbin__segment_at(const struct elfbin *eb, size_t i);
/* Link-time address of the first PT_LOAD, rounded down to its alignment. */
uint64_t elfbin__base_vaddr(const struct elfbin *eb);

/* File bytes backing [vaddr, vaddr + len) of one PT_LOAD, or NULL (errno ERANGE). */
const uint8_t *elfbin__vaddr_ptr(const struct elfbin *eb, uint64_t vaddr, uint64_t len);
/* File offset of an address in an executable PT_LOAD, as uprobes want it. */
int elfbin__vaddr_to_off(const struct elfbin *eb, uint64_t vaddr, uint64_t *off);
/*
 * A pointer-sized word at a link-time address as the loader would see it before
 * adding the load bias: the R_X86_64_RELATIVE addend when one targets it (lld
 * leaves zeros in the file), else the file bytes.
 */
int elfbin__read_ptr(struct elfbin *eb, uint64_t vaddr, uint64_t *val);
/* Calls cb for every R_X86_64_RELATIVE / R_AARCH64_RELATIVE; stops when cb returns non-zero. */
int elfbin__for_each_relative(struct elfbin *eb,
			      int (*cb)(uint64_t where, uint64_t addend, void *ctx), void *ctx);

bool elfbin__has_symtab(const struct elfbin *eb);
/* Looks in .symtab, then .dynsym. -ENOENT when absent. */
int elfbin__symbol(const struct elfbin *eb, const char *name, uint64_t *addr, uint64_t *size);

/* One defined, named symbol of a symbol table; name points into the mapped file. */
struct elf_symbol {
	const char *name;
	uint64_t value;
	uint64_t size;
	uint16_t shndx;
	uint8_t type; /* STT_* */
	uint8_t bind; /* STB_* */
};

/*
 * Calls cb for every defined, named symbol of tab (an SHT_SYMTAB or SHT_DYNSYM section
 * of eb); stops when cb returns non-zero and returns that value. -EINVAL when tab is
 * not a symbol table, -ERANGE when it or its string table lies outside the file.
 */
int elfbin__for_each_symbol(const struct elfbin *eb, const struct elf_sect *tab,
			    int (*cb)(const struct elf_symbol *sym, void *ctx), void *ctx);
/*
 * .gnu_debuglink: the separate debug file's name (no directory) and the CRC32 of its
 * contents. -ENOENT when absent, -EINVAL when malformed.
 */
int elfbin__debuglink(struct elfbin *eb, const char **name, uint32_t *crc);

/* First DT_NEEDED/PT_INTERP facts. */
bool elfbin__is_dynamic(const struct elfbin *eb); /* has PT_INTERP or PT_DYNAMIC with DT_NEEDED */
const char *elfbin__interp(const struct elfbin *eb);
/* i-th DT_NEEDED entry or NULL. */
const char *elfbin__needed(const struct elfbin *eb, size_t i);
/* Some segment or section lies past the end of the file: a truncated or corrupt file. */
bool elfbin__truncated(const struct elfbin *eb);
/* GNU build-id as lowercase hex, "" when absent. */
const char *elfbin__build_id(const struct elfbin *eb);

#endif
