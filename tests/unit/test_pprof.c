// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The pprof encoder against bytes worked out by hand from the protobuf encoding spec
 * (protobuf.dev/programming-guides/encoding: varints, 300 = ac 02, -1 = ten bytes,
 * keys (field << 3) | wire type, packed repeated fields) and profile.proto's field
 * numbers; argument checks; the gzip wrapper. tests/integration/pprof.sh has
 * `go tool pprof` read real profiles.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "pprof.h"
#include "test.h"

static size_t gunzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream zs = {0};
	size_t n = 0;

	if (inflateInit2(&zs, 31) != Z_OK) /* gzip only: a zlib stream would fail */
		return 0;
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = out;
	zs.avail_out = cap;
	if (inflate(&zs, Z_FINISH) == Z_STREAM_END)
		n = zs.total_out;
	inflateEnd(&zs);
	return n;
}

static uint64_t varint(const uint8_t *d, size_t len, size_t *i)
{
	uint64_t v = 0;

	for (int sh = 0; *i < len && sh < 64; sh += 7) {
		uint8_t b = d[(*i)++];

		v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			break;
	}
	return v;
}

/* Number of top-level fields with this number (varint and length-delimited only). */
static int count_field(const uint8_t *d, size_t len, int field)
{
	size_t i = 0;
	int n = 0;

	while (i < len) {
		uint64_t key = varint(d, len, &i), v = varint(d, len, &i);

		if ((key & 7) == 2)
			i += v;
		n += (int)(key >> 3) == field;
	}
	return n;
}

static void test_exact_bytes(void)
{
	static const uint8_t want[] = {
		0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, /* sample_type {type 1, unit 2} */
		0x12, 0x0f, 0x0a, 0x01, 0x01,	    /* sample {location_id [1] */
		0x12, 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, /* [-1]} */
		0x22, 0x05, 0x08, 0x01, 0x18, 0xac, 0x02,      /* location {id 1, address 300} */
		0x32, 0x00, 0x32, 0x01, 'x',  0x32, 0x01, 'y', /* string_table "", "x", "y" */
		0x70, 0x01,				       /* default_sample_type "x" */
	};
	struct pprof_value_type t = {"x", "y"};
	uint64_t pc = 300;
	int64_t v = -1;
	uint8_t *gz = NULL, raw[256];
	struct pprof *p;
	size_t len = 0, n;
	int err;

	p = pprof__new(&t, 1, NULL, 0);
	CHECK(p != NULL, "pprof__new: one sample type");
	if (!p)
		return;
	pprof__set_time(p, 0, 0);
	err = pprof__add_sample(p, &pc, 1, &v, NULL, 0);
	CHECK(err == 0, "add_sample: %d", err);
	err = pprof__encode(p, NULL, &gz, &len);
	CHECK(err == 0 && len > 10, "encode: %d, %zu bytes", err, len);
	CHECK(gz && gz[0] == 0x1f && gz[1] == 0x8b && gz[2] == 8, "gzip magic and deflate");
	n = gz ? gunzip(gz, len, raw, sizeof(raw)) : 0;
	CHECK(n == sizeof(want) && !memcmp(raw, want, n),
	      "profile bytes as the spec gives them (%zu)", n);
	free(gz);
	pprof__free(p);
}

static void test_dedup_and_labels(void)
{
	uint64_t a[] = {0x401000, 0x402000, 0x403000}, b[] = {0x401000, 0x402000};
	uint64_t c[] = {0x402000, 0x401000}; /* 0x401000 as a return address */
	int64_t v[PPROF_HEAP_NTYPES] = {1, 2, 3, 4};
	struct pprof_label l[] = {{.key = "bytes", .num = 64}, {.key = "k", .str = "v"}};
	uint8_t *gz = NULL, *raw = malloc(1 << 16);
	struct pprof *p;
	size_t len = 0, n = 0;

	p = pprof__new(pprof_heap_types, PPROF_HEAP_NTYPES, &pprof_heap_period_type, 524288);
	CHECK(p && raw, "pprof__new: heap types");
	if (!p || !raw)
		goto out;
	CHECK(!pprof__add_sample(p, a, 3, v, l, 2) && !pprof__add_sample(p, b, 2, v, NULL, 0) &&
		      !pprof__add_sample(p, c, 2, v, l, 1) && pprof__sample_count(p) == 3,
	      "three samples");
	if (!pprof__encode(p, NULL, &gz, &len))
		n = gunzip(gz, len, raw, 1 << 16);
	CHECK(n > 0, "encode and gunzip: %zu bytes", n);
	CHECK(count_field(raw, n, 1) == 4, "four sample types: %d", count_field(raw, n, 1));
	CHECK(count_field(raw, n, 2) == 3, "three samples: %d", count_field(raw, n, 2));
	/* 0x401000 leaf, 0x402000 ret, 0x403000 ret, 0x402000 leaf, 0x401000 ret */
	CHECK(count_field(raw, n, 4) == 5, "locations per (pc, leaf or return): %d",
	      count_field(raw, n, 4));
	CHECK(count_field(raw, n, 3) == 0 && count_field(raw, n, 5) == 0,
	      "no mapping, no functions without a symbol table");
	/* "", 4 types, 2 units, space, k, v: "bytes" (a unit and a label key) once */
	CHECK(count_field(raw, n, 6) == 10, "strings interned once: %d", count_field(raw, n, 6));
out:
	free(gz);
	free(raw);
	pprof__free(p);
}

static void test_args(void)
{
	uint64_t pcs[PPROF_MAX_DEPTH + 1] = {0};
	struct pprof_label l = {.key = "k"};
	int64_t v[PPROF_HEAP_NTYPES] = {0};
	struct pprof *p;

	errno = 0;
	CHECK(!pprof__new(pprof_heap_types, 0, NULL, 0) && errno == EINVAL, "no sample type");
	CHECK(!pprof__new(pprof_heap_types, PPROF_MAX_TYPES + 1, NULL, 0) && errno == EINVAL,
	      "too many sample types");
	pprof__free(NULL);
	p = pprof__new(pprof_heap_types, PPROF_HEAP_NTYPES, NULL, 0);
	if (!p)
		return;
	CHECK(pprof__add_sample(p, pcs, PPROF_MAX_DEPTH + 1, v, NULL, 0) == -EINVAL, "too deep");
	CHECK(pprof__add_sample(p, pcs, -1, v, NULL, 0) == -EINVAL, "negative depth");
	CHECK(pprof__add_sample(p, pcs, 1, NULL, NULL, 0) == -EINVAL, "no values");
	CHECK(pprof__add_sample(p, pcs, 1, v, &l, PPROF_MAX_LABELS + 1) == -EINVAL,
	      "too many labels");
	CHECK(pprof__add_sample(p, NULL, 0, v, NULL, 0) == 0, "empty stack");
	CHECK(pprof__add_sample(p, pcs, PPROF_MAX_DEPTH, v, NULL, 0) == 0, "deepest stack");
	CHECK(pprof__set_default_type(p, PPROF_HEAP_NTYPES) == -EINVAL &&
		      pprof__set_default_type(p, PPROF_ALLOC_SPACE) == 0,
	      "default sample type range");
	pprof__free(p);
}

static void test_write(void)
{
	char dir[] = "/tmp/test_pprof.XXXXXX", path[64];
	struct pprof_value_type t = {"a", "b"};
	uint8_t *gz = NULL, buf[512];
	struct pprof *p;
	size_t len = 0;
	ssize_t n = -1;
	int fd;

	p = pprof__new(&t, 1, &t, 1);
	if (!p || !mkdtemp(dir))
		goto out;
	snprintf(path, sizeof(path), "%s/p.pb.gz", dir);
	CHECK(pprof__write(p, NULL, path) == 0, "write %s", path);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	CHECK(!pprof__encode(p, NULL, &gz, &len) && n == (ssize_t)len && !memcmp(buf, gz, len),
	      "the file holds the encoded profile (%zd bytes)", n);
	CHECK(pprof__write(p, NULL, "/nonexistent/dir/p.pb.gz") == -ENOENT, "missing directory");
	unlink(path);
	rmdir(dir);
out:
	free(gz);
	pprof__free(p);
}

/*
 * The value of varint field inner of every top-level message field outer, in order
 * (0 when absent), e.g. the mapping_id of each location.
 */
static int inner_values(const uint8_t *d, size_t len, int outer, int inner, uint64_t *out, int max)
{
	size_t i = 0;
	int n = 0;

	while (i < len && n < max) {
		uint64_t key = varint(d, len, &i), v;

		if ((key & 7) != 2) {
			varint(d, len, &i);
			continue;
		}
		v = varint(d, len, &i);
		if ((int)(key >> 3) == outer && i + v <= len) {
			size_t j = i;

			out[n] = 0;
			while (j < i + v) {
				uint64_t k = varint(d, i + v, &j), w = varint(d, i + v, &j);

				if ((k & 7) == 2)
					j += w;
				else if ((int)(k >> 3) == inner)
					out[n] = w;
			}
			n++;
		}
		i += v;
	}
	return n;
}

struct fake_sym {
	int calls;
	uint64_t pcs[8];
	bool rets[8];
	int fail;
};

/* 0x1100: C "cfunc"; 0x5100: Go "inl" (x.go:3) inlined into "outer" (x.go:9); else 0. */
static int fake_frames(void *ctx, uint64_t pc, bool is_return, struct pprof_frame *out, int max)
{
	struct fake_sym *fs = ctx;

	if (fs->calls < 8) {
		fs->pcs[fs->calls] = pc;
		fs->rets[fs->calls] = is_return;
	}
	fs->calls++;
	if (fs->fail)
		return fs->fail;
	if (pc == 0x1100 && max >= 1) {
		out[0] = (struct pprof_frame){.func = "cfunc"};
		return 1;
	}
	if (pc == 0x5100 && max >= 2) {
		out[0] = (struct pprof_frame){"inl", "x.go", 3};
		out[1] = (struct pprof_frame){"outer", "x.go", 9};
		return 2;
	}
	return 0;
}

static void test_symbolizer(void)
{
	struct pprof_mapping ma = {0x1000, 0x2000, 0x0, "/lib/a.so", "ab12"};
	struct pprof_mapping mb = {0x5000, 0x6000, 0x1000, "/app/exe", "cd34"};
	struct pprof_value_type t = {"samples", "count"};
	uint64_t pcs[] = {0x1100, 0x5100, 0x9000}, locmap[8], hasfn[8], hasfile[8];
	struct fake_sym fs = {0};
	struct pprof_symbolizer sym = {fake_frames, &fs};
	uint8_t *gz = NULL, raw[4096];
	int64_t one = 1;
	struct pprof *p;
	size_t len = 0, n = 0;
	int err;

	p = pprof__new(&t, 1, NULL, 0);
	if (!p)
		return;
	CHECK(pprof__add_mapping(p, &ma) == 1 && pprof__add_mapping(p, &mb) == 2,
	      "add_mapping: ids 1 and 2");
	CHECK(!pprof__add_sample(p, pcs, 3, &one, NULL, 0), "a mixed sample");
	err = pprof__encode_sym(p, &sym, &gz, &len);
	if (!err)
		n = gunzip(gz, len, raw, sizeof(raw));
	CHECK(!err && n > 0, "encode with a symbolizer: %d", err);
	CHECK(fs.calls == 3 && fs.pcs[0] == 0x1100 && !fs.rets[0] && fs.pcs[1] == 0x5100 &&
		      fs.rets[1] && fs.pcs[2] == 0x9000 && fs.rets[2],
	      "the callback gets each pc as recorded, return addresses flagged (%d calls)",
	      fs.calls);
	CHECK(count_field(raw, n, 3) == 2, "two mappings: %d", count_field(raw, n, 3));
	CHECK(inner_values(raw, n, 4, 2, locmap, 8) == 3 && locmap[0] == 1 && locmap[1] == 2 &&
		      locmap[2] == 0,
	      "locations in mapping 1, 2, none: %" PRIu64 " %" PRIu64 " %" PRIu64, locmap[0],
	      locmap[1], locmap[2]);
	CHECK(count_field(raw, n, 5) == 3, "functions cfunc, inl, outer: %d",
	      count_field(raw, n, 5));
	CHECK(inner_values(raw, n, 3, 7, hasfn, 8) == 2 &&
		      inner_values(raw, n, 3, 8, hasfile, 8) == 2 && hasfn[0] == 1 &&
		      hasfile[0] == 0 && hasfn[1] == 1 && hasfile[1] == 1,
	      "C mapping has_functions only, Go mapping has_filenames too");
	free(gz);
	gz = NULL;
	fs.fail = -EIO;
	CHECK(pprof__encode_sym(p, &sym, &gz, &len) == -EIO && !gz,
	      "a failing symbolizer fails the write");
	CHECK(pprof__encode_sym(p, NULL, &gz, &len) == -EINVAL, "no symbolizer: EINVAL");
	pprof__free(p);
}

int main(void)
{
	test_symbolizer();
	test_exact_bytes();
	test_dedup_and_labels();
	test_args();
	test_write();
	TEST_EXIT();
}
