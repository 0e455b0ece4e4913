#!/usr/bin/env bash
# Profiles written by src/pprof.c, read by tools nobody here wrote:
#  - go tool pprof (of /usr/local/go): -raw (sample types in the runtime's order, period,
#    values, mapping), -top (values on the right functions), -traces (inlined frames as
#    separate lines), -top -diff_base between two profiles;
#  - go tool addr2line of the release that built the binary: every Location address is
#    the binary's link-time pc (leaf at pc, return addresses at pc - 1);
#  - readelf: the mapping is the executable PT_LOAD; go tool buildid: its build id.
# On the default, stripped and PIE fixtures of every release, and on a PIE the host linker
# laid out (built here). The driver (tests/drivers/pprof-write.c) puts known values on
# known stacks: see there.
# The inlined site must be main.scratch inlined into main.churn: the fixture's source
# (tests/fixtures/basic/main.go) calls scratch from churn only.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

DRIVER=$OUTPUT/tests/drivers/pprof-write
PPROF_GO=${PPROF_GO:-/usr/local/go/bin/go}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -x "$DRIVER" ]; then
	fail "pprof: $DRIVER not built"
	finish
fi
if ! command -v python3 > /dev/null || ! command -v readelf > /dev/null; then
	skip "pprof: needs python3 and readelf (scripts/deps.sh)"
	finish
fi
[ -x "$PPROF_GO" ] || PPROF_GO=$(go_for "$(fixtures | awk 'NR == 1 { print $2 }')")

# Compares the tools' outputs with the driver's facts: PASS/FAIL lines, exits with the
# number of failures. usage: cmp.py NAME DIR
cat > "$work/cmp.py" << 'EOF'
import re, sys

name, d = sys.argv[1], sys.argv[2]
fails = 0

def check(what, ok, detail=''):
    global fails
    print(('PASS' if ok else 'FAIL') + ' pprof: %s: %s%s' % (name, what, '' if ok else ' (%s)' % detail))
    fails += not ok

def read(f):
    return open('%s/%s' % (d, f)).read()

facts = [l.split('\t') for l in read('facts').splitlines()]
mapping = next(f for f in facts if f[0] == 'mapping')
inl, inl_end = (int(x, 16) for x in next(f for f in facts if f[0] == 'inl')[1:3])
locs = [(int(f[1], 16), f[2]) for f in facts if f[0] == 'loc']

# -raw: sample types, period, samples, locations {addr: [(func, file:line)]}, mappings
raw = read('a.raw')
lines = raw.splitlines()
i = lines.index('Samples:')
types = lines[i + 1].replace('[dflt]', '').split()
check('sample types in the runtime order', types ==
      ['alloc_objects/count', 'alloc_space/bytes', 'inuse_objects/count', 'inuse_space/bytes'], types)
check('default sample type inuse_space', lines[i + 1].endswith('inuse_space/bytes[dflt]'), lines[i + 1])
check('period type and period', 'PeriodType: space bytes' in lines and 'Period: 524288' in lines)
vals = sorted(tuple(int(x) for x in l.split(':')[0].split()) for l in lines
              if re.match(r'^\s+[-0-9]+(\s+[-0-9]+){3}:', l))
check('sample values', vals == [(3, 300, 2, 200), (5, 500, 1, 100), (10, 10240, 7, 7168)], vals)
check('numeric label', 'bytes:[1024]' in raw)
rloc, cur = {}, None
for l in lines[lines.index('Locations') + 1:lines.index('Mappings')]:
    m = re.match(r'^\s+\d+: (0x[0-9a-f]+) M=1 (\S+) (\S+):(\d+):\d+ s=\d+$', l)
    if m:
        cur = int(m.group(1), 16)
        rloc[cur] = [(m.group(2), '%s:%s' % (m.group(3), m.group(4)))]
        continue
    m = re.match(r'^\s+(\S+) (\S+):(\d+):\d+ s=\d+$', l)
    if m and cur is not None:
        rloc[cur].append((m.group(1), '%s:%s' % (m.group(2), m.group(3))))
check('one location per distinct pc', sorted(rloc) == sorted(set(a for a, _ in locs)),
      '%s vs %s' % ([hex(a) for a in rloc], [hex(a) for a, _ in locs]))
mp = lines[lines.index('Mappings') + 1].split()
# readelf -lW: the executable PT_LOAD (Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align)
ph = next((l.split() for l in read('load').splitlines() if l.split()[:1] == ['LOAD'] and
           'E' in l.split()[6:-1]), ['LOAD', '0', '0', '0', '0', '0'])
load = '%#x/%#x/%#x' % (int(ph[2], 16), int(ph[2], 16) + int(ph[5], 16), int(ph[1], 16))
drv = '%#x/%#x/%#x' % tuple(int(x, 16) for x in mapping[1:4])
check('mapping is the executable PT_LOAD', mp[1] == load and drv == load,
      '%s (driver %s) vs readelf %s' % (mp[1], drv, load))
check('mapping build id is the Go build id', mp[3] == read('buildid').strip() and
      mp[-1] == '[FN][FL][LN][IN]', mp)

# go tool addr2line: outermost function and innermost file:line of pc (leaf) or pc - 1
a2l = read('addr2line').splitlines()
bad = []
for k, (pc, kind) in enumerate(locs):
    fn, pos = (a2l[2 * k], a2l[2 * k + 1]) if 2 * k + 1 < len(a2l) else ('?', '?')
    got = rloc.get(pc)
    if not got or got[-1][0] != fn or got[0][1] != pos:
        bad.append('%#x %s: addr2line %s %s, pprof %s' % (pc, kind, fn, pos, got))
try:
    who = read('a2l-who').strip()
except OSError:
    who = 'go tool addr2line'
check('%d locations match %s' % (len(locs), who), not bad, '; '.join(bad))
for pc in (inl, inl_end):
    chain = [f for f, _ in rloc.get(pc, [])]
    check('inlined site %#x: main.scratch then main.churn' % pc,
          chain[:2] == ['main.scratch', 'main.churn'], chain)

def top(f):
    """go tool pprof -top -unit=B: {func: (flat, cum)}"""
    out = {}
    for l in read(f).splitlines():
        m = re.match(r'^\s*(-?\d+)B?\s+\S+%\s+\S+%\s+(-?\d+)B?\s+\S+%\s+(\S+)', l)
        if m:
            out[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return out

t = top('a.top')
want = {'runtime.mallocgc': (7268, 7268), 'main.leakRecords': (0, 7168), 'main.scratch': (200, 300),
        'main.churn': (0, 300)}
got = {k: t.get(k) for k in want}
check('-top inuse_space values on the right functions', got == want, got)
t = top('diff.top')
want = {'runtime.mallocgc': (7168, 7168), 'main.leakRecords': (0, 7168), 'main.scratch': (0, 0)}
got = {k: t.get(k, (0, 0)) for k in want}
check('-top -diff_base', got == want and 'Showing nodes accounting for 7168B' in read('diff.top'), got)

# -traces: the 200B sample's frames, one line each, the inlined ones marked
tr = read('a.traces').split('-----------+')
s = next((x for x in tr if re.search(r'^\s+200B\s', x, re.M)), '')
fr = [l.split()[-1] if not l.endswith('(inline)') else l.split()[-2] + ' (inline)'
      for l in s.strip().splitlines() if not l.startswith('-')]
check('-traces shows inlined frames as separate lines', len(fr) >= 3 and
      fr[0] == 'main.scratch (inline)' and fr[1].startswith('main.churn'), fr)

g = read('g.raw')
check('goroutine profile', 'goroutine/count[dflt]' in g and 'PeriodType: goroutine count' in g and
      re.search(r'^\s+8: 1 2 $', g, re.M) is not None, g[:300])
sys.exit(fails)
EOF

check_one() { # path release variant go-command
	local path=$1 rel=$2 variant=$3 gocmd=$4
	local name="$rel/$variant" d="$work/$rel-$variant" f tag pc kind
	mkdir -p "$d"
	if ! "$DRIVER" "$path" "$d" > "$d/facts" 2> "$d/err"; then
		fail "pprof: $name: driver: $(cat "$d/err")"
		return
	fi
	for f in a b g; do
		if ! $PPROF_GO tool pprof -raw "$d/$f.pb.gz" > "$d/$f.raw" 2> "$d/$f.err"; then
			fail "pprof: $name: go tool pprof -raw cannot open $f.pb.gz: $(head -3 "$d/$f.err")"
			return
		fi
	done
	pass "pprof: $name: go tool pprof opens the heap and goroutine profiles"
	$PPROF_GO tool pprof -top -sample_index=inuse_space -unit=B "$d/a.pb.gz" > "$d/a.top" 2>&1
	$PPROF_GO tool pprof -traces -sample_index=inuse_space "$d/a.pb.gz" > "$d/a.traces" 2>&1
	$PPROF_GO tool pprof -top -sample_index=inuse_space -unit=B -diff_base "$d/a.pb.gz" \
		"$d/b.pb.gz" > "$d/diff.top" 2>&1
	while IFS=$'\t' read -r tag pc kind; do
		[ "$tag" = loc ] || continue
		if [ "$kind" = ret ]; then printf '%#x\n' $((pc - 1)); else echo "$pc"; fi
	done < "$d/facts" > "$d/pcs"
	$gocmd tool addr2line "$path" < "$d/pcs" > "$d/addr2line" 2>&1
	# 1.19's addr2line cannot read PIE (.data.rel.ro.gopclntab): a newer one can.
	if [ "$(head -1 "$d/addr2line")" = "?" ]; then
		$PPROF_GO tool addr2line "$path" < "$d/pcs" > "$d/addr2line" 2>&1
		echo "go tool addr2line of a newer release" > "$d/a2l-who"
	fi
	readelf -lW "$path" > "$d/load"
	$gocmd tool buildid "$path" > "$d/buildid" 2>&1
	python3 "$work/cmp.py" "$name" "$d" || failures=$((failures + $?))
}

# Default, stripped and PIE builds of every release (~0.5 s each).
rows=$(fixtures | awk '$3 == "basic" && ($4 == "default" || $4 == "stripped" || $4 == "pie")')
if [ -z "$rows" ]; then
	skip "pprof: no fixtures (tests/fixtures/build.sh)"
	finish
fi
while read -r path rel _ variant; do
	check_one "$path" "$rel" "$variant" "$(go_for "$rel")"
done <<< "$rows"

# A PIE laid out by the host linker: text in the second PT_LOAD, at a non-zero file
# offset and a link-time base of 0.
if command -v gcc > /dev/null && rel=$($PPROF_GO env GOVERSION 2> /dev/null) &&
	(cd tests/fixtures/basic && CGO_ENABLED=1 GOFLAGS=-mod=mod $PPROF_GO build -buildmode=pie \
		-ldflags=-linkmode=external -o "$work/basic-extpie" .) > "$work/extpie.log" 2>&1; then
	check_one "$work/basic-extpie" "$rel" external-pie "$PPROF_GO"
else
	skip "pprof: no externally linked PIE build ($(tail -1 "$work/extpie.log" 2> /dev/null))"
fi
finish
