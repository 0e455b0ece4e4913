// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Checks the x86 decoder against objdump over whole binaries.
 * usage: objdump -d -z -M intel --no-show-raw-insn BIN | x86walk BIN
 *
 * objdump is the ground truth: for every instruction it prints, the decoder,
 * started at the same address, must give the length that reaches objdump's next
 * address (within one symbol's block), the same kind of control transfer and the
 * same branch and RIP-relative targets. Blocks where objdump prints "(bad)" are
 * skipped from that point (data in text), and counted. Exit 0 when all agree.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfbin.h"
#include "x86dec.h"

struct line {
	uint64_t addr;
	uint32_t block;
	uint32_t text; /* offset of the instruction text in the text pool */
};

struct walk {
	struct line *lines;
	size_t nlines, cap;
	char *pool;
	size_t npool, pool_cap;
	uint32_t block;
};

struct stats {
	unsigned long checked, len_bad, unknown, bad_skipped, kind_bad, target_ok, target_bad;
	unsigned long rip_ok, rip_bad, name_ok, name_bad, name_other, last_unchecked, emulated;
	unsigned long accepted_bad;
	unsigned long kinds[X86_INT3 + 1];
	unsigned long encs[4];
};

static int reports;
/*
 * --first: differential fuzzing (tests/drivers/x86gen.py). Each symbol holds
 * one random case; only its first instruction is compared. The decoder may
 * refuse what objdump decodes (counted), but whatever it accepts must have
 * objdump's length, and it must not accept what objdump calls (bad).
 */
static bool first_only;

static void report(const char *what, const struct line *l, const char *text,
		   const struct x86_insn *in)
{
	char buf[96] = "";

	if (reports++ >= (getenv("X86WALK_ALL") ? 100000 : 25))
		return;
	if (in && in->len)
		x86_insn_format(in, buf, sizeof(buf));
	printf("  %s at %#llx: objdump '%s', decoder len %u '%s'\n", what,
	       (unsigned long long)l->addr, text, in ? in->len : 0, buf);
}

static int push_line(struct walk *w, uint64_t addr, const char *text)
{
	size_t tl = strlen(text) + 1;

	if (w->nlines == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 1 << 16;
		w->lines = realloc(w->lines, w->cap * sizeof(*w->lines));
		if (!w->lines)
			return -ENOMEM;
	}
	while (w->npool + tl > w->pool_cap) {
		w->pool_cap = w->pool_cap ? w->pool_cap * 2 : 1 << 20;
		w->pool = realloc(w->pool, w->pool_cap);
		if (!w->pool)
			return -ENOMEM;
	}
	memcpy(w->pool + w->npool, text, tl);
	w->lines[w->nlines++] = (struct line){ addr, w->block, (uint32_t)w->npool };
	w->npool += tl;
	return 0;
}

/* "  401000:\tmnemonic operands" or "0000000000401000 <sym>:" */
static int parse(struct walk *w, FILE *in)
{
	char buf[4096];

	while (fgets(buf, sizeof(buf), in)) {
		char *end, *p = buf;
		uint64_t addr;

		buf[strcspn(buf, "\n")] = 0;
		if (isxdigit((unsigned char)buf[0]) && strstr(buf, ">:")) {
			w->block++;
			continue;
		}
		if (!strncmp(buf, "Disassembly of section", 22)) {
			w->block++;
			continue;
		}
		while (*p == ' ')
			p++;
		addr = strtoull(p, &end, 16);
		if (end == p || *end != ':' || end[1] != '\t')
			continue;
		if (push_line(w, addr, end + 2))
			return -ENOMEM;
	}
	return 0;
}

/* Mnemonic without the prefixes objdump spells as words. */
static const char *mnemonic(const char *text, char *out, size_t size)
{
	static const char *const pfx[] = { "bnd",    "repz",  "rep",   "repnz", "repne", "notrack",
					   "data16", "addr32", "cs",   "ds",    "es",    "ss",
					   "fs",     "gs",    "lock",  NULL };
	const char *p = text;

	for (;;) {
		size_t n = strcspn(p, " ,");
		bool is_pfx = false;

		for (int i = 0; pfx[i]; i++)
			if (strlen(pfx[i]) == n && !strncmp(p, pfx[i], n))
				is_pfx = true;
		if (n >= 3 && !strncmp(p, "rex", 3))
			is_pfx = true;
		if (!is_pfx || !p[n]) {
			snprintf(out, size, "%.*s", (int)n, p);
			return p + n;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
}

/* First hex number of the operands (branch target), or the "# 0x..." comment. */
static bool hex_after(const char *s, const char *marker, uint64_t *v)
{
	const char *p = marker ? strstr(s, marker) : s;
	char *end;

	if (!p)
		return false;
	p += marker ? strlen(marker) : 0;
	while (*p == ' ')
		p++;
	*v = strtoull(p, &end, 16);
	return end != p;
}

static bool kind_agrees(const struct x86_insn *in, const char *mn, const char *ops)
{
	switch (in->kind) {
	case X86_CALL:
	case X86_CALL_IND:
		return !strcmp(mn, "call");
	case X86_JMP:
	case X86_JMP_IND:
		return !strcmp(mn, "jmp");
	case X86_JCC:
		return mn[0] == 'j' && strcmp(mn, "jmp") && strncmp(mn, "jrcxz", 5) &&
		       strncmp(mn, "jecxz", 5);
	case X86_RET: /* retw: 66 C3 */
		return !strcmp(mn, "ret") || !strcmp(mn, "retw");
	case X86_INT3:
		return !strcmp(mn, "int3");
	case X86_PUSH:
		return !strcmp(mn, "push");
	case X86_NOP: /* 66 90 is "xchg ax,ax", 48 90 "xchg rax,rax" */
		return !strncmp(mn, "nop", 3) || (!strcmp(mn, "xchg") && strstr(ops, "ax,ax")) ||
		       (!strcmp(mn, "xchg") && strstr(ops, "ax,rax"));
	case X86_OTHER:
		if (first_only) /* objdump names the 0F 18-1E hint space "nop" */
			return true;
		return strcmp(mn, "call") && strcmp(mn, "jmp") && strcmp(mn, "ret") &&
		       strcmp(mn, "int3") && strcmp(mn, "nop");
	}
	return false;
}

static void check_targets(const struct x86_insn *in, const struct line *l, const char *text,
			  const char *ops, struct stats *st)
{
	uint64_t v;

	if (in->kind == X86_CALL || in->kind == X86_JMP || in->kind == X86_JCC) {
		if (hex_after(ops, NULL, &v) && v == (uint64_t)in->target) {
			st->target_ok++;
		} else {
			st->target_bad++;
			report("branch target differs", l, text, in);
		}
	} else if (in->rip_rel && hex_after(text, "# ", &v)) {
		if (v == (uint64_t)in->target) {
			st->rip_ok++;
		} else {
			st->rip_bad++;
			report("rip-relative target differs", l, text, in);
		}
	}
}

/*
 * Our mnemonic (first word of x86_insn_format) against objdump's: equal, or a
 * prefix of it (prefetch/prefetcht0). Opcodes we have no name for print as
 * "(legacy map 1 op 10)" and are not compared.
 */
static void check_name(const struct x86_insn *in, const struct line *l, const char *text,
		       const char *mn, struct stats *st)
{
	char buf[96];

	x86_insn_format(in, buf, sizeof(buf));
	buf[strcspn(buf, " ")] = 0;
	if (buf[0] == '(' || in->kind == X86_NOP) {
		st->name_other++;
	} else if (!strncmp(buf, mn, strlen(buf))) {
		st->name_ok++;
	} else {
		st->name_bad++;
		report("mnemonic differs", l, text, in);
	}
}

static void check_one(struct elfbin *eb, const struct line *l, uint64_t next, const char *text,
		      struct stats *st)
{
	const uint8_t *p = NULL;
	struct x86_insn in;
	char mn[64];
	const char *ops;
	uint64_t avail;

	for (avail = 15; avail && !(p = elfbin__vaddr_ptr(eb, l->addr, avail)); avail--)
		;
	st->checked++;
	if (!p || x86_decode(p, avail, l->addr, &in)) {
		st->unknown++;
		if (!first_only)
			report("decoder refused", l, text, NULL);
		return;
	}
	if (first_only && strstr(text, "(bad)")) {
		st->accepted_bad++;
		report("objdump says (bad)", l, text, &in);
		return;
	}
	st->kinds[in.kind]++;
	st->encs[in.enc & 3]++;
	st->emulated += x86_insn_emulated(&in);
	if (next && in.len != next - l->addr) {
		st->len_bad++;
		report("length differs", l, text, &in);
		return;
	}
	if (!next)
		st->last_unchecked++;
	ops = mnemonic(text, mn, sizeof(mn));
	if (!kind_agrees(&in, mn, ops)) {
		st->kind_bad++;
		report("kind differs", l, text, &in);
	}
	check_targets(&in, l, text, ops, st);
	if (!first_only)
		check_name(&in, l, text, mn, st);
}

static void walk_first(struct elfbin *eb, const struct walk *w, struct stats *st)
{
	for (size_t i = 0; i < w->nlines; i++) {
		const struct line *l = &w->lines[i];
		uint64_t next = 0;

		if (i > 0 && w->lines[i - 1].block == l->block)
			continue;
		if (i + 1 < w->nlines)
			next = w->lines[i + 1].addr;
		check_one(eb, l, next, w->pool + l->text, st);
	}
}

static void walk(struct elfbin *eb, const struct walk *w, struct stats *st)
{
	uint32_t skip_block = UINT32_MAX;

	for (size_t i = 0; i < w->nlines; i++) {
		const struct line *l = &w->lines[i];
		const char *text = w->pool + l->text;
		uint64_t next = 0;

		if (l->block == skip_block)
			continue;
		if (strstr(text, "(bad)")) {
			skip_block = l->block;
			st->bad_skipped++;
			continue;
		}
		if (i + 1 < w->nlines && w->lines[i + 1].block == l->block &&
		    !strstr(w->pool + w->lines[i + 1].text, "(bad)"))
			next = w->lines[i + 1].addr;
		else if (i + 1 < w->nlines && w->lines[i + 1].addr > l->addr &&
			 w->lines[i + 1].block == l->block + 1)
			next = w->lines[i + 1].addr; /* next symbol starts right after */
		check_one(eb, l, next, text, st);
	}
}

int main(int argc, char **argv)
{
	struct walk w = { 0 };
	struct stats st = { 0 };
	struct elfbin *eb;
	int bad;

	if (argc == 3 && !strcmp(argv[1], "--first")) {
		first_only = true;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr,
			"usage: objdump -d -z -M intel --no-show-raw-insn BIN | %s [--first] BIN\n",
			argv[0]);
		return 2;
	}
	eb = elfbin__open(argv[1]);
	if (!eb) {
		fprintf(stderr, "x86walk: cannot open '%s': %s\n", argv[1], strerror(errno));
		return 2;
	}
	if (parse(&w, stdin)) {
		fprintf(stderr, "x86walk: out of memory\n");
		return 2;
	}
	if (first_only)
		walk_first(eb, &w, &st);
	else
		walk(eb, &w, &st);
	printf("%s: %lu instructions, %lu length mismatches, %lu refused, %lu kind mismatches, "
	       "branch targets %lu ok %lu bad, rip targets %lu ok %lu bad, ",
	       argv[1], st.checked, st.len_bad, st.unknown, st.kind_bad, st.target_ok,
	       st.target_bad, st.rip_ok, st.rip_bad);
	printf("(bad) blocks skipped %lu, mnemonics %lu same %lu different %lu unnamed, "
	       "emulated %lu, block ends unchecked %lu, accepted where objdump says (bad) %lu\n",
	       st.bad_skipped, st.name_ok, st.name_bad, st.name_other, st.emulated,
	       st.last_unchecked, st.accepted_bad);
	printf("kinds: other %lu nop %lu push %lu call %lu jmp %lu jcc %lu ret %lu call* %lu "
	       "jmp* %lu int3 %lu; legacy %lu vex2 %lu vex3 %lu evex %lu\n",
	       st.kinds[0], st.kinds[1], st.kinds[2], st.kinds[3], st.kinds[4], st.kinds[5],
	       st.kinds[6], st.kinds[7], st.kinds[8], st.kinds[9], st.encs[0], st.encs[1],
	       st.encs[2], st.encs[3]);
	/* --first: the decoder may refuse, and accept what objdump calls (bad) */
	bad = st.len_bad || (st.unknown && !first_only) || st.kind_bad || st.target_bad ||
	      st.rip_bad || st.name_bad || !st.checked;
	free(w.lines);
	free(w.pool);
	elfbin__free(eb);
	return bad ? 1 : 0;
}
