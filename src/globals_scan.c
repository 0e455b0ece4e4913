// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Byte-pattern matching of RIP-relative operands in Go runtime functions, without an
 * instruction decoder (STRIPPED-GLOBALS.md §1.4). A pattern may also match inside
 * another instruction's bytes; such false hits are filtered by requiring the operand
 * to point into the module's data (moduledata's noptrdata..enoptrbss classes), and
 * every rule validates its result and cross-checks a second site.
 */
#include <errno.h>
#include <string.h>

#include "elfbin.h"
#include "globals_int.h"
#include "gosym.h"

static int32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return (int32_t)v;
}

int glb_func(struct glb_ctx *c, const char *name, struct glb_func *f)
{
	struct gosym_func fn;
	int err;

	err = gosym__func_by_name(c->gs, name, &fn);
	if (err)
		return err;
	if (fn.end <= fn.entry || fn.end - fn.entry > GLB_MAX_FUNC)
		return -EINVAL;
	f->name = name;
	f->entry = fn.entry;
	f->n = fn.end - fn.entry;
	f->p = elfbin__vaddr_ptr(c->eb, fn.entry, f->n);
	return f->p ? 0 : -EINVAL;
}

uint64_t glb_entry(struct glb_ctx *c, const char *name)
{
	struct gosym_func fn;

	return gosym__func_by_name(c->gs, name, &fn) ? 0 : fn.entry;
}

bool glb_in(const struct glb_ctx *c, enum glb_class cls, uint64_t addr, uint64_t len)
{
	const struct glb_range *r = &c->cls[cls];

	return c->have_ranges && addr >= r->lo && addr < r->hi && len <= r->hi - addr;
}

bool glb_is_data(const struct glb_ctx *c, uint64_t addr)
{
	for (int i = 0; i < CLS__COUNT; i++)
		if (glb_in(c, i, addr, 1))
			return true;
	return false;
}

static bool is_rex(uint8_t b)
{
	return (b & 0xf0) == 0x40;
}

/* ModRM mod=00 rm=101: [rip+disp32] in 64-bit mode. */
static bool rip_modrm(uint8_t m)
{
	return (m & 0xc7) == 0x05;
}

static void set_ref(const struct glb_func *f, size_t off, size_t disp, size_t len,
		    enum glb_form form, uint8_t reg, struct glb_ref *r)
{
	r->off = off;
	r->next = off + len;
	r->target = f->entry + off + len + (int64_t)rd32(f->p + off + disp);
	r->form = form;
	r->reg = reg;
	r->imm = 0;
}

/* REX-prefixed forms: p[0] is the REX byte. */
static bool match_rex(const struct glb_func *f, size_t off, struct glb_ref *r)
{
	const uint8_t *p = f->p + off;
	size_t avail = f->n - off;
	bool w = p[0] & 8;
	uint8_t rreg = (p[0] & 4) << 1;

	if (avail < 7)
		return false;
	if (w && rip_modrm(p[2])) {
		uint8_t reg = rreg | ((p[2] >> 3) & 7);

		switch (p[1]) {
		case 0x8b:
			set_ref(f, off, 3, 7, REF_LOAD64, reg, r);
			return true;
		case 0x8d:
			set_ref(f, off, 3, 7, REF_LEA, reg, r);
			return true;
		case 0x89:
			set_ref(f, off, 3, 7, REF_STORE64, reg, r);
			return true;
		case 0xc7:
			if (p[2] != 0x05 || avail < 11)
				return false;
			set_ref(f, off, 3, 11, REF_MOVQ_IMM, 0, r);
			r->imm = (uint32_t)rd32(p + 7);
			return true;
		}
		return false;
	}
	if (!w && p[1] == 0x8b && rip_modrm(p[2])) {
		set_ref(f, off, 3, 7, REF_LOAD32, rreg | ((p[2] >> 3) & 7), r);
		return true;
	}
	if (!w && p[1] == 0x0f && p[2] == 0xb6 && avail >= 8 && rip_modrm(p[3])) {
		set_ref(f, off, 4, 8, REF_MOVZX8, rreg | ((p[3] >> 3) & 7), r);
		return true;
	}
	return false;
}

static bool match_plain(const struct glb_func *f, size_t off, struct glb_ref *r)
{
	const uint8_t *p = f->p + off;
	size_t avail = f->n - off;

	if (avail < 6)
		return false;
	if (p[0] == 0x8b && rip_modrm(p[1])) {
		set_ref(f, off, 2, 6, REF_LOAD32, (p[1] >> 3) & 7, r);
		return true;
	}
	if (avail < 7)
		return false;
	if (p[0] == 0x0f && p[1] == 0xb6 && rip_modrm(p[2])) {
		set_ref(f, off, 3, 7, REF_MOVZX8, (p[2] >> 3) & 7, r);
		return true;
	}
	if ((p[0] == 0x80 && p[1] == 0x3d) || (p[0] == 0xc6 && p[1] == 0x05)) {
		set_ref(f, off, 2, 7, p[0] == 0x80 ? REF_CMPB : REF_MOVB_IMM, 0, r);
		r->imm = p[6];
		return true;
	}
	return false;
}

bool glb_match_at(const struct glb_func *f, size_t off, struct glb_ref *r)
{
	if (off >= f->n)
		return false;
	if (is_rex(f->p[off]))
		return match_rex(f, off, r);
	/*
	 * A REX or operand-size byte just before would make this a different instruction
	 * (MOV r64 instead of r32, or a 16-bit form): that reading is matched at off - 1.
	 */
	if (off > 0 && (is_rex(f->p[off - 1]) || f->p[off - 1] == 0x66))
		return false;
	return match_plain(f, off, r);
}

bool glb_next_ref(const struct glb_ctx *c, const struct glb_func *f, size_t *pos, unsigned mask,
		  struct glb_ref *r)
{
	size_t off = *pos;

	while (off < f->n) {
		if (!glb_match_at(f, off, r) || !glb_is_data(c, r->target)) {
			off++;
			continue;
		}
		off = r->next;
		if (r->form & mask) {
			*pos = off;
			return true;
		}
	}
	*pos = off;
	return false;
}

/* Length of the NOP at p (the forms Go's assembler pads with), 0 if not a NOP. */
static size_t nop_len(const uint8_t *p, size_t avail)
{
	size_t pre = 0;
	uint8_t mod, rm;

	while (pre < avail && pre < 4 && (p[pre] == 0x66 || p[pre] == 0x2e))
		pre++;
	if (pre < avail && p[pre] == 0x90)
		return pre <= 1 ? pre + 1 : 0;
	if (pre + 3 > avail || p[pre] != 0x0f || p[pre + 1] != 0x1f)
		return 0;
	mod = p[pre + 2] >> 6;
	rm = p[pre + 2] & 7;
	if (mod == 3)
		return 0;
	return pre + 3 + (rm == 4) + (mod == 1 ? 1 : mod == 2 ? 4 : 0) +
	       (mod == 0 && rm == 5 ? 4 : 0);
}

bool glb_call_at(const struct glb_func *f, size_t off, size_t max_nop, uint64_t callee)
{
	size_t skipped = 0, l;

	while (off < f->n && skipped <= max_nop && (l = nop_len(f->p + off, f->n - off))) {
		off += l;
		skipped += l;
	}
	if (skipped > max_nop || off + 5 > f->n || f->p[off] != 0xe8 || !callee)
		return false;
	return f->entry + off + 5 + (int64_t)rd32(f->p + off + 1) == callee;
}

size_t glb_find_call(const struct glb_func *f, size_t from, uint64_t callee)
{
	if (!callee)
		return 0;
	for (size_t off = from; off + 5 <= f->n; off++)
		if (f->p[off] == 0xe8 && f->entry + off + 5 + (int64_t)rd32(f->p + off + 1) == callee)
			return off + 5;
	return 0;
}
