// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A Go binary and what leakhound derives from it (see target.h). */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elfbin.h"
#include "gosym.h"
#include "target.h"

#define ENOTGO ENOPKG

/* .note.go.buildid: name "Go", type 4, the build ID string as descriptor (cmd/link/internal/ld/elf.go). */
static const char *go_buildid(struct elfbin *eb)
{
	static const char none[] = "";
	const struct elf_sect *s = elfbin__section(eb, ".note.go.buildid");
	const uint8_t *p;
	uint32_t namesz, descsz, type;
	size_t len;

	if (!s || !(p = elfbin__section_data(eb, s, &len)) || len < 16)
		return none;
	memcpy(&namesz, p, 4);
	memcpy(&descsz, p + 4, 4);
	memcpy(&type, p + 8, 4);
	if (namesz != 4 || type != 4 || memcmp(p + 12, "Go\0\0", 4) || descsz > len - 16)
		return none;
	/* not NUL-terminated in the file: keep a copy in the facts' owner */
	return strndup((const char *)p + 16, descsz);
}

/* Version of the first DWARF unit: the u16 after the unit length. */
static int dwarf_version(struct elfbin *eb)
{
	const struct elf_sect *s = elfbin__section(eb, ".debug_info");
	const uint8_t *p;
	uint16_t v;
	size_t len;

	if (!s || !(p = elfbin__section_data(eb, s, &len)) || len < 6)
		return 0;
	memcpy(&v, p + 4, 2);
	return v;
}

/* crosscall2 is runtime/cgo's assembly entry for C->Go calls: linked into every cgo program. */
static bool links_cgo(struct gosym *gs)
{
	struct gosym_func fn;

	return gosym__func_by_name(gs, "crosscall2", &fn) == 0;
}

static void read_facts(struct gobin *gb)
{
	struct gobin_facts *f = &gb->facts;
	const struct elf_sect *dbg = elfbin__section(gb->elf, ".debug_info");
	const struct elf_sect *text;

	f->pie = elfbin__type(gb->elf) == ET_DYN;
	f->dynamic = elfbin__is_dynamic(gb->elf);
	f->stripped = !elfbin__has_symtab(gb->elf);
	f->dwarf = dbg || elfbin__section(gb->elf, ".zdebug_info");
	f->dwarf_compressed = (dbg && (dbg->flags & SHF_COMPRESSED)) ||
			      elfbin__section(gb->elf, ".zdebug_info");
	f->dwarf_version = dwarf_version(gb->elf);
	f->go_buildid = go_buildid(gb->elf);
	f->cgo = links_cgo(gb->sym);
	/* Go's internal linker starts .text with runtime.text; a host linker puts crt's
	 * _start and friends first (STRIPPED-GLOBALS.md §3) */
	text = elfbin__section(gb->elf, ".text");
	f->external_link = text && text->addr != gosym__info(gb->sym)->text;
}

struct gobin *gobin__open(const char *path)
{
	struct gobin *gb = calloc(1, sizeof(*gb));
	const struct go_version *v;
	int err;

	if (!gb)
		return NULL;
	gb->elf = elfbin__open(path);
	if (!gb->elf) {
		err = -errno;
		goto fail;
	}
	err = buildinfo__read(gb->elf, &gb->bi);
	if (err) {
		/* a cut-off Go binary loses its build info first: call it corrupt */
		err = err == -ENOENT && !elfbin__truncated(gb->elf) ? -ENOTGO : -ENOEXEC;
		goto fail;
	}
	gb->sym = gosym__open(gb->elf);
	if (!gb->sym) {
		err = errno == ENOENT && !elfbin__truncated(gb->elf) ? -ENOTGO : -ENOEXEC;
		goto fail;
	}
	read_facts(gb);
	v = &gb->bi.version;
	gb->supported = v->major == 1 && v->minor >= GO_MIN_MINOR && v->minor <= GO_MAX_MINOR;
	err = hooks__resolve(gb->elf, gb->sym, v, &gb->hooks);
	if (!err)
		err = globals__resolve(gb->elf, gb->sym, v, &gb->globals);
	if (err)
		goto fail;
	gb->offsets_err = goffsets__resolve(gb->elf, v, &gb->offsets);
	return gb;
fail:
	gobin__free(gb);
	errno = -err;
	return NULL;
}

void gobin__free(struct gobin *gb)
{
	if (!gb)
		return;
	if (gb->facts.go_buildid && *gb->facts.go_buildid)
		free((char *)gb->facts.go_buildid);
	gosym__free(gb->sym);
	buildinfo__clear(&gb->bi);
	elfbin__free(gb->elf);
	free(gb);
}

const char *gobin_strerror(int err)
{
	switch (err) {
	case ENOEXEC:
		return "not an ELF file, or a corrupt one";
	case ENOTGO:
		return "not a Go program (no Go build information or pclntab)";
	case ESRCH:
		return "no such process";
	default:
		return strerror(err);
	}
}
