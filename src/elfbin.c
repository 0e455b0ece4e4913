// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ELF files mapped read-only, with bounds-checked access. libelf parses the
 * headers; contents are served as pointers into the mapping, never copied,
 * except SHF_COMPRESSED sections which are inflated once on demand.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "elfbin.h"

#ifndef R_AARCH64_RELATIVE
#define R_AARCH64_RELATIVE 1027
#endif

/* An inflated section may not exceed this: a hostile ch_size must not exhaust memory. */
#define MAX_INFLATED (1ULL << 30)
#define MAX_NEEDED 64

struct reloc {
	uint64_t where;
	uint64_t addend;
};

struct elfbin {
	char *path;
	int fd;
	void *map;		/* our own mmap, NULL for open_mem */
	size_t map_len;
	const uint8_t *img;
	size_t len;
	Elf *elf;
	GElf_Ehdr ehdr;
	struct elf_sect *sects;
	size_t nsects;
	void **inflated;	/* per section, inflated contents */
	size_t *inflated_len;
	struct elf_seg *segs;
	size_t nsegs;
	const char *interp;
	const char *needed[MAX_NEEDED];
	size_t nneeded;
	char build_id[2 * 64 + 1];
	struct reloc *relocs;	/* sorted by where; loaded on first use */
	size_t nrelocs;
	bool relocs_loaded;
	bool truncated;		/* a segment or section reaches past the end of the file */
};

static bool range_ok(size_t total, uint64_t off, uint64_t len)
{
	return off <= total && len <= total - off;
}

/* A NUL-terminated string at off within the file, or NULL. */
static const char *file_str(const struct elfbin *eb, uint64_t off)
{
	if (off >= eb->len)
		return NULL;
	if (!memchr(eb->img + off, 0, eb->len - off))
		return NULL;
	return (const char *)eb->img + off;
}

static int load_sections(struct elfbin *eb)
{
	size_t shnum, shstrndx;
	Elf_Scn *scn = NULL;
	size_t i = 0;

	if (elf_getshdrnum(eb->elf, &shnum) || elf_getshdrstrndx(eb->elf, &shstrndx)) {
		/* no section headers at all (sstrip): segments still work */
		return 0;
	}
	if (shnum > eb->len / sizeof(Elf64_Shdr) + 1)
		return -ENOEXEC;
	eb->sects = calloc(shnum ? shnum : 1, sizeof(*eb->sects));
	eb->inflated = calloc(shnum ? shnum : 1, sizeof(*eb->inflated));
	eb->inflated_len = calloc(shnum ? shnum : 1, sizeof(*eb->inflated_len));
	if (!eb->sects || !eb->inflated || !eb->inflated_len)
		return -ENOMEM;
	while ((scn = elf_nextscn(eb->elf, scn)) && i < shnum) {
		GElf_Shdr sh;
		struct elf_sect *s = &eb->sects[i];
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			return -ENOEXEC;
		name = elf_strptr(eb->elf, shstrndx, sh.sh_name);
		s->name = name ? name : "";
		s->addr = sh.sh_addr;
		s->off = sh.sh_offset;
		s->size = sh.sh_size;
		s->flags = sh.sh_flags;
		s->type = sh.sh_type;
		s->link = sh.sh_link;
		if (s->type != SHT_NOBITS && !range_ok(eb->len, s->off, s->size))
			eb->truncated = true;
		i++;
	}
	eb->nsects = i;
	return 0;
}

static int load_segments(struct elfbin *eb)
{
	size_t phnum;

	if (elf_getphdrnum(eb->elf, &phnum))
		return -ENOEXEC;
	if (phnum > eb->len / sizeof(Elf64_Phdr))
		return -ENOEXEC;
	eb->segs = calloc(phnum ? phnum : 1, sizeof(*eb->segs));
	if (!eb->segs)
		return -ENOMEM;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		struct elf_seg *s = &eb->segs[eb->nsegs];

		if (!gelf_getphdr(eb->elf, i, &ph))
			return -ENOEXEC;
		s->type = ph.p_type;
		s->flags = ph.p_flags;
		s->vaddr = ph.p_vaddr;
		s->memsz = ph.p_memsz;
		s->filesz = range_ok(eb->len, ph.p_offset, ph.p_filesz) ? ph.p_filesz : 0;
		/* a segment outside the file keeps no offset: img + off must stay in bounds */
		s->off = s->filesz ? ph.p_offset : 0;
		if (ph.p_filesz && !s->filesz)
			eb->truncated = true;
		s->align = ph.p_align;
		eb->nsegs++;
		if (ph.p_type == PT_INTERP && s->filesz)
			eb->interp = file_str(eb, ph.p_offset);
	}
	return 0;
}

/* DT_NEEDED names from .dynamic and the string table it links to. */
static void load_dynamic(struct elfbin *eb)
{
	const struct elf_sect *dyn = elfbin__section(eb, ".dynamic");
	const struct elf_sect *str = elfbin__section(eb, ".dynstr");

	if (!dyn || !str || dyn->type != SHT_DYNAMIC || !range_ok(eb->len, dyn->off, dyn->size) ||
	    !range_ok(eb->len, str->off, str->size))
		return;
	for (uint64_t o = 0; o + sizeof(Elf64_Dyn) <= dyn->size; o += sizeof(Elf64_Dyn)) {
		Elf64_Dyn d;

		memcpy(&d, eb->img + dyn->off + o, sizeof(d));
		if (d.d_tag == DT_NULL)
			break;
		if (d.d_tag != DT_NEEDED || eb->nneeded >= MAX_NEEDED || d.d_un.d_val >= str->size)
			continue;
		eb->needed[eb->nneeded] = file_str(eb, str->off + d.d_un.d_val);
		if (eb->needed[eb->nneeded])
			eb->nneeded++;
	}
}

/* NT_GNU_BUILD_ID from any PT_NOTE segment. */
static void load_build_id(struct elfbin *eb)
{
	for (size_t i = 0; i < eb->nsegs; i++) {
		const struct elf_seg *s = &eb->segs[i];
		uint64_t o = 0;

		if (s->type != PT_NOTE)
			continue;
		while (o + 12 <= s->filesz) {
			const uint8_t *n = eb->img + s->off + o;
			uint32_t namesz, descsz, type;
			uint64_t desc_off;

			memcpy(&namesz, n, 4);
			memcpy(&descsz, n + 4, 4);
			memcpy(&type, n + 8, 4);
			desc_off = o + 12 + (((uint64_t)namesz + 3) & ~3ULL);
			if (desc_off + descsz > s->filesz)
				break;
			if (type == NT_GNU_BUILD_ID && namesz == 4 && !memcmp(n + 12, "GNU", 4) &&
			    descsz <= 64) {
				for (uint32_t k = 0; k < descsz; k++)
					sprintf(eb->build_id + 2 * k, "%02x", eb->img[s->off + desc_off + k]);
				return;
			}
			o = desc_off + (((uint64_t)descsz + 3) & ~3ULL);
		}
	}
}

static struct elfbin *elfbin_init(struct elfbin *eb)
{
	int err;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		err = -ENOSYS;
		goto fail;
	}
	eb->elf = elf_memory((char *)eb->img, eb->len);
	if (!eb->elf || elf_kind(eb->elf) != ELF_K_ELF || !gelf_getehdr(eb->elf, &eb->ehdr) ||
	    gelf_getclass(eb->elf) != ELFCLASS64 || eb->ehdr.e_ident[EI_DATA] != ELFDATA2LSB) {
		err = -ENOEXEC;
		goto fail;
	}
	err = load_sections(eb);
	if (!err)
		err = load_segments(eb);
	if (err)
		goto fail;
	load_dynamic(eb);
	load_build_id(eb);
	return eb;
fail:
	elfbin__free(eb);
	errno = -err;
	return NULL;
}

struct elfbin *elfbin__open(const char *path)
{
	struct elfbin *eb = calloc(1, sizeof(*eb));
	struct stat st;
	int err;

	if (!eb)
		return NULL;
	eb->fd = open(path, O_RDONLY | O_CLOEXEC);
	eb->path = strdup(path);
	if (eb->fd < 0 || !eb->path) {
		err = -errno;
		goto fail;
	}
	if (fstat(eb->fd, &st)) {
		err = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -ENOEXEC;
		goto fail;
	}
	eb->map_len = st.st_size;
	eb->map = mmap(NULL, eb->map_len, PROT_READ, MAP_PRIVATE, eb->fd, 0);
	if (eb->map == MAP_FAILED) {
		eb->map = NULL;
		err = -errno;
		goto fail;
	}
	eb->img = eb->map;
	eb->len = eb->map_len;
	return elfbin_init(eb);
fail:
	elfbin__free(eb);
	errno = -err;
	return NULL;
}

struct elfbin *elfbin__open_mem(const void *buf, size_t len)
{
	struct elfbin *eb = calloc(1, sizeof(*eb));

	if (!eb)
		return NULL;
	eb->fd = -1;
	eb->img = buf;
	eb->len = len;
	if (len < sizeof(Elf64_Ehdr)) {
		elfbin__free(eb);
		errno = ENOEXEC;
		return NULL;
	}
	return elfbin_init(eb);
}

void elfbin__free(struct elfbin *eb)
{
	if (!eb)
		return;
	for (size_t i = 0; eb->inflated && i < eb->nsects; i++)
		free(eb->inflated[i]);
	free(eb->inflated);
	free(eb->inflated_len);
	free(eb->sects);
	free(eb->segs);
	free(eb->relocs);
	if (eb->elf)
		elf_end(eb->elf);
	if (eb->map)
		munmap(eb->map, eb->map_len);
	if (eb->fd >= 0)
		close(eb->fd);
	free(eb->path);
	free(eb);
}

const char *elfbin__path(const struct elfbin *eb)
{
	return eb->path ? eb->path : "<memory>";
}

const uint8_t *elfbin__image(const struct elfbin *eb, size_t *len)
{
	*len = eb->len;
	return eb->img;
}

uint16_t elfbin__type(const struct elfbin *eb)
{
	return eb->ehdr.e_type;
}

uint16_t elfbin__machine(const struct elfbin *eb)
{
	return eb->ehdr.e_machine;
}

uint64_t elfbin__entry(const struct elfbin *eb)
{
	return eb->ehdr.e_entry;
}

size_t elfbin__section_count(const struct elfbin *eb)
{
	return eb->nsects;
}

const struct elf_sect *elfbin__section_at(const struct elfbin *eb, size_t i)
{
	return i < eb->nsects ? &eb->sects[i] : NULL;
}

const struct elf_sect *elfbin__section(const struct elfbin *eb, const char *name)
{
	for (size_t i = 0; i < eb->nsects; i++)
		if (strcmp(eb->sects[i].name, name) == 0)
			return &eb->sects[i];
	return NULL;
}

static int inflate_all(const uint8_t *src, size_t srclen, uint8_t *dst, size_t dstlen)
{
	z_stream zs = { 0 };
	int ret;

	if (inflateInit(&zs) != Z_OK)
		return -ENOMEM;
	zs.next_in = (uint8_t *)src;
	zs.avail_in = srclen;
	zs.next_out = dst;
	zs.avail_out = dstlen;
	ret = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	return ret == Z_STREAM_END && zs.total_out == dstlen ? 0 : -EINVAL;
}

/* Inflates an SHF_COMPRESSED section (Elf64_Chdr + zlib stream) once. */
static const uint8_t *section_inflate(struct elfbin *eb, size_t idx, size_t *len)
{
	const struct elf_sect *s = &eb->sects[idx];
	Elf64_Chdr ch;
	uint8_t *buf;
	int err;

	if (eb->inflated[idx]) {
		*len = eb->inflated_len[idx];
		return eb->inflated[idx];
	}
	if (s->size < sizeof(ch)) {
		errno = EINVAL;
		return NULL;
	}
	memcpy(&ch, eb->img + s->off, sizeof(ch));
	if (ch.ch_type != ELFCOMPRESS_ZLIB || ch.ch_size > MAX_INFLATED) {
		errno = ENOTSUP;
		return NULL;
	}
	buf = malloc(ch.ch_size ? ch.ch_size : 1);
	if (!buf)
		return NULL;
	err = inflate_all(eb->img + s->off + sizeof(ch), s->size - sizeof(ch), buf, ch.ch_size);
	if (err) {
		free(buf);
		errno = -err;
		return NULL;
	}
	eb->inflated[idx] = buf;
	eb->inflated_len[idx] = ch.ch_size;
	*len = ch.ch_size;
	return buf;
}

const uint8_t *elfbin__section_data(struct elfbin *eb, const struct elf_sect *s, size_t *len)
{
	size_t idx = s - eb->sects;

	if (idx >= eb->nsects || s->type == SHT_NOBITS || !range_ok(eb->len, s->off, s->size)) {
		errno = s->type == SHT_NOBITS ? ENODATA : ERANGE;
		return NULL;
	}
	if (s->flags & SHF_COMPRESSED)
		return section_inflate(eb, idx, len);
	*len = s->size;
	return eb->img + s->off;
}

size_t elfbin__segment_count(const struct elfbin *eb)
{
	return eb->nsegs;
}

const struct elf_seg *elfbin__segment_at(const struct elfbin *eb, size_t i)
{
	return i < eb->nsegs ? &eb->segs[i] : NULL;
}

uint64_t elfbin__base_vaddr(const struct elfbin *eb)
{
	for (size_t i = 0; i < eb->nsegs; i++) {
		const struct elf_seg *s = &eb->segs[i];
		uint64_t align = s->align > 1 && !(s->align & (s->align - 1)) ? s->align : 1;

		if (s->type == PT_LOAD)
			return s->vaddr & ~(align - 1);
	}
	return 0;
}

static const struct elf_seg *load_seg_of(const struct elfbin *eb, uint64_t vaddr, uint64_t len)
{
	for (size_t i = 0; i < eb->nsegs; i++) {
		const struct elf_seg *s = &eb->segs[i];

		if (s->type == PT_LOAD && vaddr >= s->vaddr && vaddr - s->vaddr <= s->filesz &&
		    len <= s->filesz - (vaddr - s->vaddr))
			return s;
	}
	return NULL;
}

const uint8_t *elfbin__vaddr_ptr(const struct elfbin *eb, uint64_t vaddr, uint64_t len)
{
	const struct elf_seg *s = load_seg_of(eb, vaddr, len);

	if (!s) {
		errno = ERANGE;
		return NULL;
	}
	return eb->img + s->off + (vaddr - s->vaddr);
}

int elfbin__vaddr_to_off(const struct elfbin *eb, uint64_t vaddr, uint64_t *off)
{
	const struct elf_seg *s = load_seg_of(eb, vaddr, 1);

	if (!s || !(s->flags & PF_X))
		return -ERANGE;
	*off = s->off + (vaddr - s->vaddr);
	return 0;
}

static int reloc_cmp(const void *a, const void *b)
{
	const struct reloc *x = a, *y = b;

	return x->where < y->where ? -1 : x->where > y->where;
}

static bool is_relative(const struct elfbin *eb, uint64_t info)
{
	uint32_t type = GELF_R_TYPE(info);

	return eb->ehdr.e_machine == EM_AARCH64 ? type == R_AARCH64_RELATIVE :
						  type == R_X86_64_RELATIVE;
}

/* Collects the RELATIVE relocations of every SHT_RELA section, sorted by target. */
static int load_relocs(struct elfbin *eb)
{
	size_t cap = 0;

	eb->relocs_loaded = true;
	for (size_t i = 0; i < eb->nsects; i++) {
		const struct elf_sect *s = &eb->sects[i];

		if (s->type != SHT_RELA || !range_ok(eb->len, s->off, s->size))
			continue;
		cap += s->size / sizeof(Elf64_Rela);
	}
	if (!cap)
		return 0;
	eb->relocs = malloc(cap * sizeof(*eb->relocs));
	if (!eb->relocs)
		return -ENOMEM;
	for (size_t i = 0; i < eb->nsects; i++) {
		const struct elf_sect *s = &eb->sects[i];

		if (s->type != SHT_RELA || !range_ok(eb->len, s->off, s->size))
			continue;
		for (uint64_t o = 0; o + sizeof(Elf64_Rela) <= s->size; o += sizeof(Elf64_Rela)) {
			Elf64_Rela r;

			memcpy(&r, eb->img + s->off + o, sizeof(r));
			if (!is_relative(eb, r.r_info) || eb->nrelocs >= cap)
				continue;
			eb->relocs[eb->nrelocs].where = r.r_offset;
			eb->relocs[eb->nrelocs].addend = r.r_addend;
			eb->nrelocs++;
		}
	}
	qsort(eb->relocs, eb->nrelocs, sizeof(*eb->relocs), reloc_cmp);
	return 0;
}

int elfbin__read_ptr(struct elfbin *eb, uint64_t vaddr, uint64_t *val)
{
	const uint8_t *p;
	size_t lo = 0, hi;
	int err;

	if (!eb->relocs_loaded && (err = load_relocs(eb)))
		return err;
	hi = eb->nrelocs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (eb->relocs[mid].where == vaddr) {
			*val = eb->relocs[mid].addend;
			return 0;
		}
		if (eb->relocs[mid].where < vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	p = elfbin__vaddr_ptr(eb, vaddr, 8);
	if (!p)
		return -ERANGE;
	memcpy(val, p, 8);
	return 0;
}

int elfbin__for_each_relative(struct elfbin *eb,
			      int (*cb)(uint64_t where, uint64_t addend, void *ctx), void *ctx)
{
	int err;

	if (!eb->relocs_loaded && (err = load_relocs(eb)))
		return err;
	for (size_t i = 0; i < eb->nrelocs; i++) {
		err = cb(eb->relocs[i].where, eb->relocs[i].addend, ctx);
		if (err)
			return err;
	}
	return 0;
}

bool elfbin__has_symtab(const struct elfbin *eb)
{
	const struct elf_sect *s = elfbin__section(eb, ".symtab");

	return s && s->type == SHT_SYMTAB && s->size;
}

static int symtab_lookup(const struct elfbin *eb, const struct elf_sect *tab, const char *name,
			 uint64_t *addr, uint64_t *size)
{
	const struct elf_sect *str;

	/* libelf counts the null section; our table does not */
	if (tab->link == 0 || tab->link - 1 >= eb->nsects)
		return -ENOENT;
	str = &eb->sects[tab->link - 1];
	if (!range_ok(eb->len, tab->off, tab->size) || !range_ok(eb->len, str->off, str->size))
		return -ENOENT;
	for (uint64_t o = 0; o + sizeof(Elf64_Sym) <= tab->size; o += sizeof(Elf64_Sym)) {
		Elf64_Sym sym;
		const char *n;

		memcpy(&sym, eb->img + tab->off + o, sizeof(sym));
		if (!sym.st_name || sym.st_name >= str->size || sym.st_shndx == SHN_UNDEF)
			continue;
		n = file_str(eb, str->off + sym.st_name);
		if (n && strcmp(n, name) == 0) {
			*addr = sym.st_value;
			if (size)
				*size = sym.st_size;
			return 0;
		}
	}
	return -ENOENT;
}

int elfbin__symbol(const struct elfbin *eb, const char *name, uint64_t *addr, uint64_t *size)
{
	static const char *const tabs[] = { ".symtab", ".dynsym" };

	for (size_t i = 0; i < 2; i++) {
		const struct elf_sect *tab = elfbin__section(eb, tabs[i]);

		if (tab && (tab->type == SHT_SYMTAB || tab->type == SHT_DYNSYM) &&
		    symtab_lookup(eb, tab, name, addr, size) == 0)
			return 0;
	}
	return -ENOENT;
}

int elfbin__for_each_symbol(const struct elfbin *eb, const struct elf_sect *tab,
			    int (*cb)(const struct elf_symbol *sym, void *ctx), void *ctx)
{
	const struct elf_sect *str;
	size_t idx = tab - eb->sects;
	int ret;

	if (idx >= eb->nsects || (tab->type != SHT_SYMTAB && tab->type != SHT_DYNSYM))
		return -EINVAL;
	/* libelf counts the null section; our table does not */
	if (tab->link == 0 || tab->link - 1 >= eb->nsects)
		return -EINVAL;
	str = &eb->sects[tab->link - 1];
	if (!range_ok(eb->len, tab->off, tab->size) || !range_ok(eb->len, str->off, str->size))
		return -ERANGE;
	for (uint64_t o = 0; o + sizeof(Elf64_Sym) <= tab->size; o += sizeof(Elf64_Sym)) {
		struct elf_symbol es;
		Elf64_Sym sym;

		memcpy(&sym, eb->img + tab->off + o, sizeof(sym));
		if (!sym.st_name || sym.st_name >= str->size || sym.st_shndx == SHN_UNDEF)
			continue;
		es.name = file_str(eb, str->off + sym.st_name);
		if (!es.name)
			continue;
		es.value = sym.st_value;
		es.size = sym.st_size;
		es.shndx = sym.st_shndx;
		es.type = ELF64_ST_TYPE(sym.st_info);
		es.bind = ELF64_ST_BIND(sym.st_info);
		ret = cb(&es, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

/* The section: a NUL-terminated file name, padding to 4 bytes, then the CRC32 (LE). */
int elfbin__debuglink(struct elfbin *eb, const char **name, uint32_t *crc)
{
	const struct elf_sect *s = elfbin__section(eb, ".gnu_debuglink");
	const uint8_t *d;
	size_t len, nlen;

	if (!s)
		return -ENOENT;
	d = elfbin__section_data(eb, s, &len);
	if (!d || !len)
		return -EINVAL;
	nlen = strnlen((const char *)d, len);
	if (!nlen || ((nlen + 4) & ~3ULL) + 4 > len)
		return -EINVAL;
	*name = (const char *)d;
	memcpy(crc, d + ((nlen + 4) & ~3ULL), 4);
	return 0;
}

bool elfbin__is_dynamic(const struct elfbin *eb)
{
	return eb->interp || eb->nneeded;
}

const char *elfbin__interp(const struct elfbin *eb)
{
	return eb->interp;
}

const char *elfbin__needed(const struct elfbin *eb, size_t i)
{
	return i < eb->nneeded ? eb->needed[i] : NULL;
}

bool elfbin__truncated(const struct elfbin *eb)
{
	return eb->truncated;
}

const char *elfbin__build_id(const struct elfbin *eb)
{
	return eb->build_id;
}
