// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The per-global rules of STRIPPED-GLOBALS.md §0/§2 (amd64, Go 1.19-1.26): each global
 * is the operand of a RIP-relative reference at a known place in a runtime function
 * found through pclntab, checked against the moduledata class it must live in, against
 * its value in the file where it has one, and against a second site when there is one.
 * A rule that does not match exactly reports why and finds nothing: never a guess.
 * A cross-check site that is linked into the binary must agree; only when it is absent
 * (e.g. mProf_PostSweep without runtime.GC) is a global reported unconfirmed.
 */
#include <string.h>

#include "elfbin.h"
#include "globals_int.h"
#include "gosym.h"

/* runtime.moduledata field offsets, amd64, unchanged 1.16-1.26 (runtime/symtab.go). */
#define MD_PCHEADER 0
#define MD_MINPC 160
#define MD_TEXT 176
#define MD_ETEXT 184
#define MD_NOPTRDATA 192 /* noptrdata, enoptrdata, data, edata, bss, ebss, noptrbss, enoptrbss */
/* pcHeader.textStart (runtime/symtab.go 1.18-1.25; 1.26 leaves it 0). */
#define PCH_TEXTSTART 24
/* MemProfileRate's initial value, runtime/mprof.go (512 KiB, all versions). */
#define DEFAULT_MEMPROFILERATE 524288

#define NO_FUNC(fn) fn " is not in pclntab"

static struct go_global *gl(struct go_globals *g, enum go_global_id id)
{
	return &g->global[id];
}

static void found(struct go_global *g, uint64_t addr, const char *how, bool cross)
{
	g->found = true;
	g->addr = addr;
	g->how = how;
	g->cross_checked = cross;
	g->error = NULL;
}

static const char *fail(struct go_global *g, const char *error)
{
	g->found = false;
	g->addr = 0;
	g->error = error;
	return error;
}

/* Whether a data reference of f (any form) at or after from points at addr. */
static bool refs_addr_from(const struct glb_ctx *c, const struct glb_func *f, size_t from,
			   uint64_t addr)
{
	struct glb_ref r;
	size_t pos = from;

	while (glb_next_ref(c, f, &pos, REF_ANY, &r))
		if (r.target == addr)
			return true;
	return false;
}

static bool refs_addr(const struct glb_ctx *c, const struct glb_func *f, uint64_t addr)
{
	return refs_addr_from(c, f, 0, addr);
}

/* ---- moduledata and runtime.text ---- */

const char *glb_load_ranges(struct glb_ctx *c, uint64_t md)
{
	uint64_t v[8], hdr, minpc, text;

	if (elfbin__read_ptr(c->eb, md + MD_PCHEADER, &hdr) ||
	    elfbin__read_ptr(c->eb, md + MD_MINPC, &minpc) ||
	    elfbin__read_ptr(c->eb, md + MD_TEXT, &text))
		return "moduledata is outside the file";
	if (hdr != c->pclntab)
		return "moduledata.pcHeader is not the pclntab";
	if (minpc != text || text != c->text)
		return "moduledata.minpc/text disagree with pclntab's runtime.text";
	for (int i = 0; i < 8; i++)
		if (elfbin__read_ptr(c->eb, md + MD_NOPTRDATA + 8 * i, &v[i]))
			return "moduledata is outside the file";
	for (int i = 0; i < CLS__COUNT; i++) {
		if (v[2 * i] > v[2 * i + 1] || v[2 * i + 1] - v[2 * i] > (1ull << 40))
			return "moduledata data ranges are malformed";
		c->cls[i].lo = v[2 * i];
		c->cls[i].hi = v[2 * i + 1];
	}
	c->md = md;
	c->have_ranges = true;
	return NULL;
}

/* REX.W <op> modrm(mod=10, rm=reg) disp32 == disp: an access to [reg+disp]. */
static bool mem_disp_at(const uint8_t *p, size_t avail, uint8_t reg, uint32_t disp)
{
	uint32_t d;

	if (avail < 7 || (p[0] & 0xf8) != 0x48 || ((p[0] & 1) << 3 | (p[2] & 7)) != reg ||
	    (p[2] >> 6) != 2 || (p[2] & 7) == 4)
		return false;
	memcpy(&d, p + 3, 4);
	return d == disp;
}

static bool accesses(const struct glb_func *f, size_t from, size_t span, uint8_t reg, uint32_t disp)
{
	for (size_t o = from; o < f->n && o < from + span; o++)
		if (mem_disp_at(f->p + o, f->n - o, reg, disp))
			return true;
	return false;
}

/*
 * The first LEA r,[rip] followed by accesses to [r+0xa0] and [r+0xa8] (datap.minpc and
 * maxpc in symtab.go findmoduledatap, inlined into findfunc) points at firstmoduledata.
 */
static uint64_t moduledata_lea(struct glb_ctx *c, const char *fn)
{
	struct glb_func f;
	struct glb_ref r;

	if (glb_func(c, fn, &f))
		return 0;
	for (size_t off = 0; off < f.n; off++) {
		if (!glb_match_at(&f, off, &r) || r.form != REF_LEA)
			continue;
		if (accesses(&f, r.next, 64, r.reg, MD_MINPC) &&
		    accesses(&f, r.next, 96, r.reg, MD_MINPC + 8))
			return r.target;
	}
	return 0;
}

/* findfunc, else findmoduledatap itself (not inlined in -N -l builds); both must agree. */
static uint64_t moduledata_code_site(struct glb_ctx *c, const char **how, bool *conflict)
{
	uint64_t a = moduledata_lea(c, "runtime.findfunc");
	uint64_t b = moduledata_lea(c, "runtime.findmoduledatap");

	*conflict = a && b && a != b;
	*how = a ? "runtime.findfunc" : "runtime.findmoduledatap";
	return a ? a : b;
}

static void rule_moduledata(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *g = gl(gg, GLOBAL_FIRSTMODULEDATA);
	const struct gosym_info *info = gosym__info(c->gs);
	const char *err, *how;
	bool conflict;
	uint64_t code = moduledata_code_site(c, &how, &conflict);

	if (conflict) {
		fail(g, "runtime.findfunc and runtime.findmoduledatap disagree");
		return;
	}
	if (code) {
		err = glb_load_ranges(c, code);
		if (err) {
			fail(g, err);
			return;
		}
		if (info->moduledata && info->moduledata != code) {
			c->have_ranges = false;
			fail(g, "runtime.findfunc and the pclntab data scan disagree");
			return;
		}
		found(g, code, how, info->moduledata == code);
		return;
	}
	/* the recipe ignores .symtab, so a moduledata gosym took from it is no answer here */
	if (!info->moduledata ||
	    (info->moduledata_how && !strncmp(info->moduledata_how, "symbol", 6))) {
		fail(g, "no LEA of moduledata in runtime.findfunc or findmoduledatap, and no "
			"data scan match");
		return;
	}
	err = glb_load_ranges(c, info->moduledata);
	if (err) {
		fail(g, err);
		return;
	}
	found(g, info->moduledata, info->moduledata_how ? info->moduledata_how : "pclntab", false);
}

/*
 * moduledata.text; pcHeader.textStart holds it too up to 1.25 (1.26 and lld-linked PIE
 * leave 0 there). moduledata.etext must close the functab, whose last entry is an offset
 * from runtime.text: the end of the last function (cmd/link/internal/ld/pcln.go, lastPC),
 * which runtime.etext follows after alignment padding (data.go; 1.24+ end with the 1-byte
 * go:textfipsend, then etext at the next 16 bytes).
 */
#define ETEXT_SLACK 64

static void rule_text(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *g = gl(gg, GLOBAL_RUNTIME_TEXT);
	uint64_t text, etext, start = 0;

	if (!c->md || elfbin__read_ptr(c->eb, c->md + MD_TEXT, &text) ||
	    elfbin__read_ptr(c->eb, c->md + MD_ETEXT, &etext)) {
		fail(g, "no moduledata");
		return;
	}
	elfbin__read_ptr(c->eb, c->pclntab + PCH_TEXTSTART, &start);
	if (start && start != text) {
		fail(g, "moduledata.text and pcHeader.textStart disagree");
		return;
	}
	if (etext < c->etext || etext - c->etext >= ETEXT_SLACK) {
		fail(g, "moduledata.etext - text does not span the pclntab's functions");
		return;
	}
	found(g, text, "moduledata.text", true);
}

/* ---- heap profile: mbuckets, buckhash, mProfCycle ---- */

static const char *rule_mbuckets(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *g = gl(gg, GLOBAL_MBUCKETS);
	struct glb_func f, sb;
	struct glb_ref r, extra;
	size_t pos = 0;
	bool have_sb;

	if (glb_func(c, "runtime.mProf_FlushLocked", &f))
		return fail(g, NO_FUNC("runtime.mProf_FlushLocked"));
	/* mprof.go mProf_FlushLocked: `for b := mbuckets; ...` is its only data access */
	if (!glb_next_ref(c, &f, &pos, REF_ANY, &r))
		return fail(g, "no data reference in runtime.mProf_FlushLocked");
	if (glb_next_ref(c, &f, &pos, REF_ANY, &extra))
		return fail(g, "more than one data reference in runtime.mProf_FlushLocked");
	if (r.form != REF_LOAD64 || !glb_in(c, CLS_BSS, r.target, 8))
		return fail(g, "runtime.mProf_FlushLocked's data reference is not a load from .bss");
	if (!glb_find_call(&f, r.next, glb_entry(c, "runtime.(*bucket).mp")))
		return fail(g, "no CALL runtime.(*bucket).mp after the load in runtime.mProf_FlushLocked");
	/* stkbucket links a new memProfile bucket into mbuckets */
	have_sb = glb_func(c, "runtime.stkbucket", &sb) == 0;
	if (have_sb && !refs_addr(c, &sb, r.target))
		return fail(g, "runtime.stkbucket does not reference runtime.mProf_FlushLocked's load");
	found(g, r.target, "runtime.mProf_FlushLocked", have_sb);
	return NULL;
}

static const char *rule_buckhash(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *g = gl(gg, GLOBAL_BUCKHASH);
	struct glb_func f;
	struct glb_ref r;
	size_t pos = 0;

	if (glb_func(c, "runtime.stkbucket", &f))
		return fail(g, NO_FUNC("runtime.stkbucket"));
	/* mprof.go stkbucket: `bh := (*buckhashArray)(buckhash.Load())` comes first */
	if (!glb_next_ref(c, &f, &pos, REF_LOAD64, &r))
		return fail(g, "no 64-bit data load in runtime.stkbucket");
	if (!glb_in(c, CLS_BSS, r.target, 8))
		return fail(g, "runtime.stkbucket's first load is not in .bss");
	if (gl(gg, GLOBAL_MBUCKETS)->found && gl(gg, GLOBAL_MBUCKETS)->addr == r.target)
		return fail(g, "runtime.stkbucket's first load is mbuckets, not buckhash");
	/* ... and, when still nil, allocates it and stores it back */
	if (!refs_addr_from(c, &f, pos, r.target))
		return fail(g, "runtime.stkbucket does not store back what it first loads");
	found(g, r.target, "runtime.stkbucket", true);
	return NULL;
}

/* The first data reference of fn when it is a 32-bit load; 0 otherwise. */
static uint64_t first_load32(struct glb_ctx *c, const struct glb_func *f, size_t from)
{
	struct glb_ref r;
	size_t pos = from;

	if (!glb_next_ref(c, f, &pos, REF_ANY, &r) || r.form != REF_LOAD32)
		return 0;
	return r.target;
}

static const char *rule_mprofcycle(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *g = gl(gg, GLOBAL_MPROFCYCLE);
	struct glb_func f, x;
	uint64_t addr, other = 0;
	bool have_other = true;
	size_t after;

	if (glb_func(c, "runtime.mProf_Free", &f))
		return fail(g, NO_FUNC("runtime.mProf_Free"));
	/* mprof.go mProf_Free: `index := (mProfCycle.read() + 1) % ...` (atomic.Uint32) */
	addr = first_load32(c, &f, 0);
	if (!addr)
		return fail(g, "runtime.mProf_Free does not start with a 32-bit data load");
	if (!glb_in(c, CLS_NOPTRBSS, addr, 4))
		return fail(g, "runtime.mProf_Free's first load is not in .noptrbss");
	/* mProf_PostSweep is only linked when runtime.GC is reachable */
	if (glb_func(c, "runtime.mProf_PostSweep", &x) == 0) {
		other = first_load32(c, &x, 0);
	} else if (glb_func(c, "runtime.mProf_Malloc", &x) == 0) {
		/* 1.23+ loads debug.profstackdepth first: take the load after callers() */
		after = glb_find_call(&x, 0, glb_entry(c, "runtime.callers"));
		if (after) {
			struct glb_ref r;
			size_t pos = after;

			if (glb_next_ref(c, &x, &pos, REF_LOAD32, &r))
				other = r.target;
		}
	} else {
		have_other = false;
	}
	if (have_other && other != addr)
		return fail(g, "runtime.mProf_Free and mProf_PostSweep/mProf_Malloc disagree");
	found(g, addr, "runtime.mProf_Free", have_other);
	return NULL;
}

/* ---- MemProfileRate and disableMemoryProfiling ---- */

/* The bool at addr: 0 in .noptrbss (not in the file), else the file byte; -1 if not a bool. */
static int bool_in_file(const struct glb_ctx *c, uint64_t addr)
{
	const uint8_t *p;

	if (glb_in(c, CLS_NOPTRBSS, addr, 1))
		return 0;
	if (!glb_in(c, CLS_NOPTRDATA, addr, 1) && !glb_in(c, CLS_DATA, addr, 1))
		return -1;
	p = elfbin__vaddr_ptr(c->eb, addr, 1);
	return p && *p <= 1 ? *p : -1;
}

/*
 * The linker writes disableMemoryProfiling = 1 exactly when the memory profile reader is
 * unreachable, i.e. not linked: runtime.MemProfile up to 1.22, runtime.memProfileInternal
 * from 1.23 (cmd/link/internal/ld/lib.go, `memProfile := ctxt.loader.Lookup(...)`).
 */
static bool memprofile_linked(struct glb_ctx *c)
{
	if (!c->v)
		return glb_entry(c, "runtime.MemProfile") || glb_entry(c, "runtime.memProfileInternal");
	return glb_entry(c, go_version_at_least(c->v, 23) ? "runtime.memProfileInternal" :
							     "runtime.MemProfile");
}

/*
 * 1.20+ schedinit (proc.go): `if disableMemoryProfiling { MemProfileRate = 0 }` is
 * CMPB $0,dMP(SB); JE +11; MOVQ $0,MemProfileRate(SB), 18 contiguous bytes, once.
 */
static const char *dmp_schedinit(struct glb_ctx *c, uint64_t *dmp)
{
	struct glb_func f;
	struct glb_ref r, st;
	size_t pos = 0;
	int hits = 0;

	if (glb_func(c, "runtime.schedinit", &f))
		return NO_FUNC("runtime.schedinit");
	while (glb_next_ref(c, &f, &pos, REF_CMPB, &r)) {
		if (r.imm != 0 || r.next + 2 > f.n || f.p[r.next] != 0x74 || f.p[r.next + 1] != 11 ||
		    !glb_match_at(&f, r.next + 2, &st) || st.form != REF_MOVQ_IMM || st.imm != 0 ||
		    !glb_is_data(c, st.target))
			continue;
		*dmp = r.target;
		c->mpr_store = st.target;
		hits++;
	}
	if (hits != 1) {
		c->mpr_store = 0;
		return hits ? "the disableMemoryProfiling test occurs twice in runtime.schedinit" :
			      "no disableMemoryProfiling test in runtime.schedinit";
	}
	return NULL;
}

/*
 * 1.19 runtime.init (mprof.go: `var MemProfileRate int = defaultMemProfileRate(...)`):
 * MOVZX dMP(SB),r; ...; MOV $0x80000,r; ...; MOVQ r,MemProfileRate(SB) within 40 bytes.
 */
static bool mov_512k(const struct glb_func *f, size_t from, size_t to)
{
	static const uint8_t imm[4] = { 0x00, 0x00, 0x08, 0x00 };

	for (size_t o = from; o + 5 <= f->n && o < to; o++)
		if ((f->p[o] & 0xf8) == 0xb8 && !memcmp(f->p + o + 1, imm, 4))
			return true;
	return false;
}

static const char *dmp_init119(struct glb_ctx *c, uint64_t *dmp)
{
	struct glb_func f, win;
	struct glb_ref r, st;
	size_t pos = 0, p2;
	int hits = 0;

	if (glb_func(c, "runtime.init", &f))
		return NO_FUNC("runtime.init");
	while (glb_next_ref(c, &f, &pos, REF_MOVZX8, &r)) {
		/* only the 40 bytes after the MOVZX: keeps the search linear */
		win = f;
		win.n = f.n - r.next > 40 ? r.next + 40 : f.n;
		p2 = r.next;
		if (!glb_next_ref(c, &win, &p2, REF_STORE64, &st) || !mov_512k(&f, r.next, st.off))
			continue;
		*dmp = r.target;
		c->mpr_store = st.target;
		hits++;
	}
	if (hits != 1) {
		c->mpr_store = 0;
		return hits ? "the MemProfileRate initializer occurs twice in runtime.init" :
			      "no MemProfileRate initializer reading a byte in runtime.init";
	}
	return NULL;
}

static const char *rule_dmp(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *g = gl(gg, GLOBAL_DISABLE_MEMPROF);
	const char *err, *how;
	uint64_t addr = 0;
	int val;

	if (!c->v || go_version_at_least(c->v, 20)) {
		how = "runtime.schedinit";
		err = dmp_schedinit(c, &addr);
		if (err && !c->v && !dmp_init119(c, &addr))
			err = NULL, how = "runtime.init";
	} else {
		how = "runtime.init";
		err = dmp_init119(c, &addr);
	}
	if (err)
		return fail(g, err);
	val = bool_in_file(c, addr);
	if (val < 0)
		return fail(g, "disableMemoryProfiling candidate is not a 0/1 byte in the data");
	if (val != !memprofile_linked(c))
		return fail(g, "disableMemoryProfiling's value disagrees with whether the linker "
			       "kept runtime.MemProfile");
	/* the cross-check is MemProfileRate's own site, done in rule_mpr */
	found(g, addr, how, false);
	return NULL;
}

static const char *rule_mpr(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *g = gl(gg, GLOBAL_MEMPROFILERATE);
	struct go_global *dmp = gl(gg, GLOBAL_DISABLE_MEMPROF);
	bool v119 = c->v && !go_version_at_least(c->v, 20);
	struct glb_func f;
	struct glb_ref r;
	const uint8_t *p;
	uint64_t val;
	size_t pos = 0;

	if (glb_func(c, "runtime.allocmcache", &f))
		return fail(g, NO_FUNC("runtime.allocmcache"));
	/* mcache.go allocmcache: c.nextSample = nextSample(), which reads MemProfileRate */
	if (!glb_next_ref(c, &f, &pos, REF_LOAD64, &r))
		return fail(g, "no 64-bit data load in runtime.allocmcache");
	if (!glb_find_call(&f, r.next, glb_entry(c, "runtime.fastexprand")))
		return fail(g, "no CALL runtime.fastexprand after the load in runtime.allocmcache");
	if (v119) {
		/* 1.19 initializes it in runtime.init: zero in the file, .noptrbss */
		if (!glb_in(c, CLS_NOPTRBSS, r.target, 8))
			return fail(g, "runtime.allocmcache's load is not in .noptrbss (1.19)");
	} else {
		p = elfbin__vaddr_ptr(c->eb, r.target, 8);
		if (!glb_in(c, CLS_NOPTRDATA, r.target, 8) || !p)
			return fail(g, "runtime.allocmcache's load is not in .noptrdata");
		memcpy(&val, p, 8);
		if (val != DEFAULT_MEMPROFILERATE)
			return fail(g, "runtime.allocmcache's load does not hold 524288 in the file");
	}
	/* schedinit (1.20+) or runtime.init (1.19) is always linked: its store must agree */
	if (c->mpr_store != r.target) {
		fail(dmp, "disableMemoryProfiling's site stores to another address");
		return fail(g, c->mpr_store ?
			"runtime.allocmcache and the disableMemoryProfiling site disagree" :
			"no MemProfileRate store at the disableMemoryProfiling site to confirm it");
	}
	if (dmp->found)
		dmp->cross_checked = true;
	found(g, r.target, "runtime.allocmcache", true);
	return NULL;
}

/* ---- goroutines: allglen, allgptr, allgs ---- */

static const char *rule_allg(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *len = gl(gg, GLOBAL_ALLGLEN), *ptr = gl(gg, GLOBAL_ALLGPTR);
	struct glb_func f, add;
	struct glb_ref a, b, extra;
	size_t pos = 0;
	bool have_add;

	if (glb_func(c, "runtime.forEachGRace", &f))
		return fail(ptr, fail(len, NO_FUNC("runtime.forEachGRace")));
	/* proc.go atomicAllG (inlined): allglen then allgptr, nothing else */
	if (!glb_next_ref(c, &f, &pos, REF_ANY, &a) || !glb_next_ref(c, &f, &pos, REF_ANY, &b) ||
	    glb_next_ref(c, &f, &pos, REF_ANY, &extra) || a.form != REF_LOAD64 ||
	    b.form != REF_LOAD64)
		return fail(ptr, fail(len, "runtime.forEachGRace does not have exactly two data loads"));
	if (!glb_in(c, CLS_NOPTRBSS, a.target, 8) || !glb_in(c, CLS_BSS, b.target, 8))
		return fail(ptr, fail(len, "runtime.forEachGRace's loads are not in .noptrbss/.bss"));
	/* allgadd publishes both */
	have_add = glb_func(c, "runtime.allgadd", &add) == 0;
	if (have_add && (!refs_addr(c, &add, a.target) || !refs_addr(c, &add, b.target)))
		return fail(ptr, fail(len, "runtime.allgadd does not reference allglen and allgptr"));
	found(len, a.target, "runtime.forEachGRace", have_add);
	found(ptr, b.target, "runtime.forEachGRace", have_add);
	return NULL;
}

static const char *rule_allgs(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *g = gl(gg, GLOBAL_ALLGS);
	struct glb_func f, add;
	struct glb_ref r;
	uint64_t prev = 0, addr = 0;
	size_t pos = 0;
	bool have_add;

	if (glb_func(c, "runtime.forEachG", &f))
		return fail(g, NO_FUNC("runtime.forEachG"));
	/* proc.go forEachG: `for _, gp := range allgs` loads allgs.array then allgs.len */
	while (glb_next_ref(c, &f, &pos, REF_LOAD64, &r)) {
		if (prev && r.target == prev + 8) {
			addr = prev;
			break;
		}
		prev = r.target;
	}
	if (!addr)
		return fail(g, "no loads of a slice header (A, A+8) in runtime.forEachG");
	if (!glb_in(c, CLS_BSS, addr, 24))
		return fail(g, "runtime.forEachG's slice header is not in .bss");
	/* allgadd appends to it */
	have_add = glb_func(c, "runtime.allgadd", &add) == 0;
	if (have_add && !refs_addr(c, &add, addr))
		return fail(g, "runtime.allgadd does not reference forEachG's slice");
	found(g, addr, "runtime.forEachG", have_add);
	return NULL;
}

/* ---- memstats, gcController ---- */

/* The single target of every `LEA x(SB),AX; CALL callee` in fn; 0 if none or several. */
static uint64_t lea_rax_before_call(struct glb_ctx *c, const char *fn, const char *callee,
				    bool *conflict)
{
	uint64_t entry = glb_entry(c, callee), addr = 0;
	struct glb_func f;
	struct glb_ref r;
	size_t pos = 0;

	*conflict = false;
	if (!entry || glb_func(c, fn, &f))
		return 0;
	while (glb_next_ref(c, &f, &pos, REF_LEA, &r)) {
		/* ABIInternal: the receiver goes in RAX (ModRM reg 0) */
		if (r.reg != 0 || !glb_call_at(&f, r.next, 8, entry))
			continue;
		if (addr && addr != r.target)
			*conflict = true;
		addr = r.target;
	}
	return *conflict ? 0 : addr;
}

/* mstats.enablegc offset (GO-RUNTIME.md §9 runtime.mstats, from DWARF); 0 when unknown. */
static uint64_t enablegc_off(const struct go_version *v)
{
	if (!v || v->major != 1 || v->minor < 19 || v->minor > 26)
		return 0;
	return v->minor <= 24 ? 7736 : v->minor == 25 ? 8256 : 10432;
}

/*
 * `LEA memstats,AX; CALL (*consistentHeapStats).acquire` sites: mcache.go refill
 * (stats := memstats.heapStats.acquire(); heapStats is field 0) and allocLarge. PGO
 * builds (the toolchain's own compile, 1.21+) inline refill into nextFree.
 */
static const char *const memstats_sites[] = {
	"runtime.(*mcache).refill",
	"runtime.(*mcache).nextFree",
	"runtime.(*mcache).allocLarge",
};

static const char *memstats_code_site(struct glb_ctx *c, uint64_t *addr, const char **how)
{
	uint64_t a;
	bool conflict;

	*addr = 0;
	for (size_t i = 0; i < sizeof(memstats_sites) / sizeof(memstats_sites[0]); i++) {
		a = lea_rax_before_call(c, memstats_sites[i], "runtime.(*consistentHeapStats).acquire",
					&conflict);
		if (conflict || (a && *addr && a != *addr))
			return "heapStats.acquire receivers differ in runtime.(*mcache) methods";
		if (a && !*addr) {
			*addr = a;
			*how = memstats_sites[i];
		}
	}
	return *addr ? NULL : "no LEA before CALL (*consistentHeapStats).acquire in "
			      "runtime.(*mcache).refill, nextFree or allocLarge";
}

static const char *rule_memstats(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *g = gl(gg, GLOBAL_MEMSTATS);
	struct glb_func f;
	struct glb_ref r;
	uint64_t addr, setb = 0, off = enablegc_off(c->v);
	const char *err, *how = NULL;
	size_t pos = 0;

	err = memstats_code_site(c, &addr, &how);
	if (err)
		return fail(g, err);
	if (!glb_in(c, CLS_NOPTRBSS, addr, 8))
		return fail(g, "the heapStats.acquire receiver is not in .noptrbss");
	/* mgc.go gcenable: memstats.enablegc = true, its only MOVB $1 to data */
	if (off && glb_func(c, "runtime.gcenable", &f) == 0) {
		while (glb_next_ref(c, &f, &pos, REF_MOVB_IMM, &r)) {
			if (r.imm != 1)
				continue;
			if (setb)
				return fail(g, "runtime.gcenable stores 1 to more than one byte");
			setb = r.target;
		}
		if (setb != addr + off)
			return fail(g, "runtime.gcenable's enablegc store disagrees with memstats");
	}
	found(g, addr, how, setb && setb == addr + off);
	return NULL;
}

static const char *rule_gccontroller(struct glb_ctx *c, struct go_globals *gg)
{
	struct go_global *g = gl(gg, GLOBAL_GCCONTROLLER);
	uint64_t addr, other;
	bool conflict;
	struct glb_func f;

	/* mgc.go gcinit: gcController.init(readGOGC(), readGOMEMLIMIT()) */
	addr = lea_rax_before_call(c, "runtime.gcinit", "runtime.(*gcControllerState).init",
				   &conflict);
	if (!addr)
		return fail(g, "no LEA before CALL (*gcControllerState).init in runtime.gcinit");
	if (!glb_in(c, CLS_NOPTRBSS, addr, 8))
		return fail(g, "runtime.gcinit's gcController receiver is not in .noptrbss");
	/* mgcpacer.go gcControllerCommit: gcController.commit(...) */
	other = lea_rax_before_call(c, "runtime.gcControllerCommit",
				    "runtime.(*gcControllerState).commit", &conflict);
	if (glb_func(c, "runtime.gcControllerCommit", &f) == 0 && other != addr)
		return fail(g, "runtime.gcinit and runtime.gcControllerCommit disagree");
	found(g, addr, "runtime.gcinit", other == addr);
	return NULL;
}

/* ---- waitReasonStrings ---- */

/* Whether the Go string at addr (a {ptr, len} header) equals s. */
static bool go_string_is(struct glb_ctx *c, uint64_t addr, const char *s)
{
	uint64_t ptr, len;
	const uint8_t *p;
	size_t n = strlen(s);

	if (elfbin__read_ptr(c->eb, addr, &ptr))
		return false;
	p = elfbin__vaddr_ptr(c->eb, addr + 8, 8);
	if (!p)
		return false;
	memcpy(&len, p, 8);
	if (len != n)
		return false;
	if (!n)
		return true;
	p = elfbin__vaddr_ptr(c->eb, ptr, n);
	return p && !memcmp(p, s, n);
}

static const char *rule_waitreason(struct glb_ctx *c, struct go_globals *gg)
{
	static const char *const cross_fns[] = { "runtime.(*waitReason).String",
						 "runtime.goroutineheader" };
	struct go_global *g = gl(gg, GLOBAL_WAITREASONSTRINGS);
	struct glb_func f, x;
	struct glb_ref r;
	size_t pos = 0;
	uint8_t n;
	bool linked = false;

	if (glb_func(c, "runtime.waitReason.String", &f))
		return fail(g, NO_FUNC("runtime.waitReason.String"));
	/* runtime2.go: `if w < 0 || w >= waitReason(len(waitReasonStrings))`: CMP AL, $len */
	if (f.n < 2 || f.p[0] != 0x3c || !(n = f.p[1]))
		return fail(g, "runtime.waitReason.String does not start with CMP AL, $len");
	do {
		if (!glb_next_ref(c, &f, &pos, REF_LEA, &r))
			return fail(g, "no LEA of .data in runtime.waitReason.String");
	} while (!glb_in(c, CLS_DATA, r.target, 1));
	if (!glb_in(c, CLS_DATA, r.target, (uint64_t)n * 16))
		return fail(g, "waitReasonStrings does not fit in .data");
	/* waitReasonZero is "", waitReasonGCAssistMarking (1) in every version */
	if (!go_string_is(c, r.target, "") || !go_string_is(c, r.target + 16, "GC assist marking"))
		return fail(g, "waitReasonStrings[0..1] are not \"\", \"GC assist marking\"");
	/* each inlines String; one that calls it instead (-N -l builds) proves nothing */
	for (size_t i = 0; i < 2; i++) {
		if (glb_func(c, cross_fns[i], &x) || glb_find_call(&x, 0, f.entry))
			continue;
		if (!refs_addr(c, &x, r.target))
			return fail(g, "runtime.(*waitReason).String or goroutineheader disagree");
		linked = true;
	}
	found(g, r.target, "runtime.waitReason.String", linked);
	g->aux = n;
	return NULL;
}

void glb_recipe(struct glb_ctx *c, struct go_globals *gg)
{
	static const char *const no_md = "moduledata not found: data ranges unknown";

	rule_moduledata(c, gg);
	rule_text(c, gg);
	if (!c->have_ranges) {
		for (int i = 0; i < GLOBAL__COUNT; i++)
			if (i != GLOBAL_FIRSTMODULEDATA && !gg->global[i].found)
				fail(&gg->global[i], no_md);
		return;
	}
	rule_mbuckets(c, gg);
	rule_buckhash(c, gg);
	rule_mprofcycle(c, gg);
	rule_dmp(c, gg);
	rule_mpr(c, gg);
	rule_allg(c, gg);
	rule_allgs(c, gg);
	rule_memstats(c, gg);
	rule_gccontroller(c, gg);
	rule_waitreason(c, gg);
}
