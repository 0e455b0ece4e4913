// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test driver for the globals module (tests/integration/globals.sh).
 *
 *   lh-globals [--nosym] [--json] BINARY
 *	one line per global: NAME ADDR|- found|missing cross|single HOW AUX ERROR
 *	(--nosym: the recipe alone, .symtab ignored; --json: globals__to_json output)
 *   lh-globals --pid PID [--nosym] [--count-start PREFIX] [--goids] [--buckets] BINARY
 *	also reads the globals of the running process through /proc/PID/mem and prints
 *	"live KEY VALUE" lines for the test to compare with what it knows independently:
 *	--count-start counts live goroutines whose start function's name begins with
 *	PREFIX; --goids lists the goid of every live goroutine; --buckets prints the
 *	stack (process addresses) of every heap-profile bucket.
 *
 * The live reader uses struct offsets from GO-RUNTIME.md §9 (read from DWARF with gdb
 * for every release), not from leakhound's own tables, so it checks those too.
 */
#include <cjson/cJSON.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildinfo.h"
#include "elfbin.h"
#include "globals.h"
#include "gosym.h"

struct live {
	int fd;
	uint64_t bias;
	const struct go_globals *gg;
	const struct go_version *v;
	const struct gosym *gs;
	const char *start_prefix;
	bool goids;
	bool buckets;
};

/* Per-release offsets, GO-RUNTIME.md §9 (amd64): mstats.numgc, g.atomicstatus, g.startpc. */
static uint64_t off_numgc(const struct go_version *v)
{
	return v->minor >= 25 ? 7680 : 7704;
}

static uint64_t off_enablegc(const struct go_version *v)
{
	return v->minor <= 24 ? 7736 : v->minor == 25 ? 8256 : 10432;
}

static uint64_t off_status(const struct go_version *v)
{
	return v->minor == 23 || v->minor == 24 ? 152 : 144;
}

static uint64_t off_goid(const struct go_version *v)
{
	return v->minor == 23 || v->minor == 24 ? 160 : 152;
}

static uint64_t off_waitreason(const struct go_version *v)
{
	return v->minor == 23 || v->minor == 24 ? 184 : 176;
}

static uint64_t off_startpc(const struct go_version *v)
{
	if (v->minor <= 20)
		return 312;
	return v->minor == 23 || v->minor == 24 || v->minor >= 26 ? 304 : 296;
}

static int rd(const struct live *l, uint64_t addr, void *buf, size_t n)
{
	ssize_t got = pread(l->fd, buf, n, (off_t)addr);

	return got == (ssize_t)n ? 0 : -EIO;
}

static uint64_t rd64(const struct live *l, uint64_t addr)
{
	uint64_t v = 0;

	rd(l, addr, &v, 8);
	return v;
}

static uint64_t gaddr(const struct live *l, enum go_global_id id)
{
	return l->gg->global[id].addr + l->bias;
}

/* bias = AT_ENTRY - e_entry for ET_DYN (what delve does); 0 for ET_EXEC. */
static int load_bias(int pid, struct elfbin *eb, uint64_t *bias)
{
	char path[64];
	uint64_t av[2];
	FILE *f;
	int err = -ENOENT;

	*bias = 0;
	if (elfbin__type(eb) != ET_DYN)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fread(av, sizeof(av), 1, f) == 1 && av[0] != AT_NULL) {
		if (av[0] == AT_ENTRY) {
			*bias = av[1] - elfbin__entry(eb);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

/* Whether a goroutine's start function's name begins with the prefix asked for. */
static bool start_matches(const struct live *l, uint64_t g)
{
	struct gosym_func fn;
	uint64_t pc = rd64(l, g + off_startpc(l->v));

	if (!l->start_prefix || !l->gs || pc < l->bias ||
	    gosym__func_by_pc(l->gs, pc - l->bias, &fn))
		return false;
	return !strncmp(fn.name, l->start_prefix, strlen(l->start_prefix));
}

/* Whether waitReasonStrings[g.waitreason], read from the process, is s. */
static bool waits_for(const struct live *l, uint64_t g, const char *s)
{
	const struct go_global *wrs = &l->gg->global[GLOBAL_WAITREASONSTRINGS];
	uint8_t wr = 0;
	uint64_t str[2];
	char buf[64];

	if (rd(l, g + off_waitreason(l->v), &wr, 1) || wr >= wrs->aux ||
	    rd(l, wrs->addr + l->bias + 16 * wr, str, sizeof(str)) || str[1] != strlen(s) ||
	    str[1] >= sizeof(buf) || rd(l, str[0], buf, str[1]))
		return false;
	return !memcmp(buf, s, str[1]);
}

/*
 * Counts non-dead goroutines in allgptr[0..allglen), those matching --count-start, and
 * of these the ones parked (_Gwaiting 4) in "chan receive".
 */
static void count_gs(const struct live *l, uint64_t *live, uint64_t *matching, uint64_t *chanrecv)
{
	uint64_t n = rd64(l, gaddr(l, GLOBAL_ALLGLEN));
	uint64_t arr = rd64(l, gaddr(l, GLOBAL_ALLGPTR));

	*live = *matching = *chanrecv = 0;
	if (l->goids)
		printf("live goids");
	for (uint64_t i = 0; i < n && i < (1u << 20); i++) {
		uint64_t g = rd64(l, arr + 8 * i);
		uint32_t status = 0;

		rd(l, g + off_status(l->v), &status, 4);
		status &= ~0x1000u; /* _Gscan */
		/* _Gdead 6, 1.26 _Gdeadextra 11 (runtime2.go) */
		if (!g || status == 6 || status == 11)
			continue;
		(*live)++;
		if (start_matches(l, g)) {
			(*matching)++;
			if (status == 4 && waits_for(l, g, "chan receive"))
				(*chanrecv)++;
		}
		if (l->goids)
			printf(" %" PRIu64, rd64(l, g + off_goid(l->v)));
	}
	if (l->goids)
		printf("\n");
}

/*
 * Walks the runtime's memory-profile buckets from mbuckets through allnext (mprof.go
 * bucket: allnext +8, typ +16, nstk +40, stk +48; at most 1024 frames, maxProfStackDepth
 * 1.23+, 32 before): counts them, the malformed ones and the frames outside pclntab.
 */
static void walk_buckets(const struct live *l)
{
	uint64_t b = rd64(l, gaddr(l, GLOBAL_MBUCKETS)), n = 0, bad = 0, frames = 0, unres = 0;
	struct gosym_func fn;

	for (; b && n < 100000; n++) {
		uint64_t hdr[6], stk[64];

		if (rd(l, b, hdr, sizeof(hdr)) || hdr[2] != 1 || hdr[5] > 1024) {
			bad++;
			break;
		}
		uint64_t nstk = hdr[5] < 64 ? hdr[5] : 64;

		if (nstk && rd(l, b + 48, stk, 8 * nstk)) {
			bad++;
			break;
		}
		if (l->buckets) {
			printf("live bucket");
			for (uint64_t i = 0; i < nstk; i++)
				printf(" 0x%" PRIx64, stk[i]);
			printf("\n");
		}
		for (uint64_t i = 0; i < nstk; i++) {
			frames++;
			if (stk[i] <= l->bias || gosym__func_by_pc(l->gs, stk[i] - 1 - l->bias, &fn))
				unres++;
		}
		b = hdr[1];
	}
	printf("live mbuckets.count %" PRIu64 "\n", n);
	printf("live mbuckets.bad %" PRIu64 "\n", bad);
	printf("live mbuckets.frames %" PRIu64 "\n", frames);
	printf("live mbuckets.unresolved %" PRIu64 "\n", unres);
}

static void print_live(const struct live *l)
{
	uint64_t ms = gaddr(l, GLOBAL_MEMSTATS), gc = gaddr(l, GLOBAL_GCCONTROLLER);
	uint64_t glive, matching, chanrecv;
	uint32_t numgc = 0, cycle = 0;
	int32_t gcpercent = 0;
	uint8_t b = 0, enablegc = 0;

	printf("live bias 0x%" PRIx64 "\n", l->bias);
	printf("live MemProfileRate %" PRId64 "\n", (int64_t)rd64(l, gaddr(l, GLOBAL_MEMPROFILERATE)));
	rd(l, gaddr(l, GLOBAL_DISABLE_MEMPROF), &b, 1);
	printf("live disableMemoryProfiling %u\n", b);
	printf("live allglen %" PRIu64 "\n", rd64(l, gaddr(l, GLOBAL_ALLGLEN)));
	printf("live allgptr 0x%" PRIx64 "\n", rd64(l, gaddr(l, GLOBAL_ALLGPTR)));
	printf("live allgs.ptr 0x%" PRIx64 "\n", rd64(l, gaddr(l, GLOBAL_ALLGS)));
	printf("live allgs.len %" PRIu64 "\n", rd64(l, gaddr(l, GLOBAL_ALLGS) + 8));
	printf("live allgs.cap %" PRIu64 "\n", rd64(l, gaddr(l, GLOBAL_ALLGS) + 16));
	count_gs(l, &glive, &matching, &chanrecv);
	printf("live goroutines %" PRIu64 "\n", glive);
	printf("live goroutines_matching %" PRIu64 "\n", matching);
	printf("live goroutines_matching_chan_receive %" PRIu64 "\n", chanrecv);
	rd(l, ms + off_numgc(l->v), &numgc, 4);
	rd(l, ms + off_enablegc(l->v), &enablegc, 1);
	rd(l, gaddr(l, GLOBAL_MPROFCYCLE), &cycle, 4);
	printf("live numgc %u\n", numgc);
	printf("live enablegc %u\n", enablegc);
	printf("live mProfCycle %u\n", cycle >> 1);
	/* gcControllerState: gcPercent int32 +0, memoryLimit +8, heapMinimum +16 (all releases) */
	rd(l, gc, &gcpercent, 4);
	printf("live gcPercent %d\n", gcpercent);
	printf("live memoryLimit %" PRId64 "\n", (int64_t)rd64(l, gc + 8));
	printf("live heapMinimum %" PRIu64 "\n", rd64(l, gc + 16));
	printf("live mbuckets 0x%" PRIx64 "\n", rd64(l, gaddr(l, GLOBAL_MBUCKETS)));
	if (l->gs)
		walk_buckets(l);
	/* moduledata.text (+176) is relocated in memory: it must equal runtime.text + bias */
	printf("live md.text 0x%" PRIx64 "\n", rd64(l, gaddr(l, GLOBAL_FIRSTMODULEDATA) + 176));
	printf("live runtime.text 0x%" PRIx64 "\n", gaddr(l, GLOBAL_RUNTIME_TEXT));
}

static void print_tsv(const struct go_globals *gg)
{
	for (int i = 0; i < GLOBAL__COUNT; i++) {
		const struct go_global *g = &gg->global[i];

		if (g->found)
			printf("%s 0x%" PRIx64, g->name, g->addr);
		else
			printf("%s -", g->name);
		printf(" %s %s %s %" PRIu64 " %s\n", g->found ? "found" : "missing",
		       g->cross_checked ? "cross" : "single", g->found ? g->how : "-", g->aux,
		       g->found ? "-" : g->error);
	}
}

static int print_json(const struct go_globals *gg)
{
	cJSON *root = cJSON_CreateObject();
	char *s = NULL;
	int err = -ENOMEM;

	if (root && globals__to_json(gg, root) == 0 && (s = cJSON_Print(root))) {
		puts(s);
		err = 0;
	}
	free(s);
	cJSON_Delete(root);
	return err;
}

static int usage(void)
{
	fprintf(stderr, "usage: lh-globals [--nosym] [--json] [--pid PID [--count-start PREFIX] "
			"[--goids] [--buckets]] BINARY\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nosym", no_argument, NULL, 'n' },	 { "json", no_argument, NULL, 'j' },
		{ "pid", required_argument, NULL, 'p' }, { "count-start", required_argument, NULL, 'c' },
		{ "goids", no_argument, NULL, 'g' },
		{ "buckets", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	bool nosym = false, json = false;
	const char *prefix = NULL;
	bool goids = false, buckets = false;
	struct go_buildinfo bi = { 0 };
	struct go_globals gg;
	struct gosym *gs = NULL;
	struct elfbin *eb;
	int pid = 0, opt, err, rc = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': nosym = true; break;
		case 'j': json = true; break;
		case 'p': pid = atoi(optarg); break;
		case 'c': prefix = optarg; break;
		case 'g': goids = true; break;
		case 'b': buckets = true; break;
		default: return usage();
		}
	}
	if (optind != argc - 1)
		return usage();
	eb = elfbin__open(argv[optind]);
	if (!eb) {
		fprintf(stderr, "lh-globals: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (buildinfo__read(eb, &bi))
		fprintf(stderr, "lh-globals: no Go build info, version unknown\n");
	gs = gosym__open(eb);
	if (!gs)
		fprintf(stderr, "lh-globals: no pclntab: %s\n", strerror(errno));
	err = (nosym ? globals__resolve_nosym : globals__resolve)(eb, gs, bi.version.major ?
								  &bi.version : NULL, &gg);
	if (err) {
		fprintf(stderr, "lh-globals: resolve: %s\n", strerror(-err));
		goto out;
	}
	if (json)
		err = print_json(&gg);
	else
		print_tsv(&gg);
	if (pid) {
		struct live l = { .gg = &gg, .v = &bi.version, .gs = gs, .start_prefix = prefix,
				  .goids = goids, .buckets = buckets };
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		l.fd = open(path, O_RDONLY);
		if (l.fd < 0 || load_bias(pid, eb, &l.bias)) {
			fprintf(stderr, "lh-globals: %s: %s\n", path, strerror(errno));
			goto out;
		}
		print_live(&l);
		close(l.fd);
	}
	rc = err ? 1 : 0;
out:
	gosym__free(gs);
	buildinfo__clear(&bi);
	elfbin__free(eb);
	return rc;
}
