#!/usr/bin/env bash
# The Go release matrix (`make test-matrix`): the integration suites that depend on the
# Go release, run once per release against fixtures built with that release alone, in
# $OUTPUT/matrix/fixtures/RELEASE (apart from CI's $OUTPUT/fixtures). In the matrix the
# checks CI limits to some releases run on every one (LEAKHOUND_MATRIX=1, tests/lib.sh),
# and every release gets a cgoleak fixture (LEAKHOUND_FIXTURE_SET=matrix). Then the
# releases leakhound does not support are refused (tests/integration/unsupported.sh).
# Ends with a table, release x suite, of passed/failed counts, also written as markdown
# to $OUTPUT/matrix/MATRIX.md; each suite's output is in
# $OUTPUT/matrix/logs/RELEASE/SUITE.log.
# usage: tests/matrix.sh
#   MATRIX_RELEASES     releases as tests/fixtures/build.sh names them
#   MATRIX_SUITES       tests/integration/NAME.sh to run for each
#   MATRIX_UNSUPPORTED  releases outside the supported range, for unsupported.sh
#   (each a list, space-separated; empty: none)
# Exits non-zero if any check failed or any release could not be built.
set -uo pipefail
cd "$(dirname "$0")/.."

export OUTPUT=${OUTPUT:-build}
export LEAKHOUND=${LEAKHOUND:-$OUTPUT/leakhound}
# Debian's go1.19.8 and /usr/local/go (go1.26.x) as installed; the newest point release
# of each release through GOTOOLCHAIN, and older point releases of 1.22 and 1.24.
releases=(${MATRIX_RELEASES-debian go1.19.13 go1.20.14 go1.21.13 go1.22.0 go1.22.12
	go1.23.12 go1.24.0 go1.24.13 go1.25.14 local go1.26.11})
suites=(${MATRIX_SUITES-info symbolize offsets globals hooks x86dec pprof procsym mprof
	goroutines trace trace_modes trace_leaks trace_gor callocs cgoleak})
unsupported=(${MATRIX_UNSUPPORTED-go1.18.10 go1.27.3})

dir=$OUTPUT/matrix
mkdir -p "$dir/logs"
dir=$(cd "$dir" && pwd)
table=$dir/results.tsv # release tag suite passed failed skipped seconds
: > "$table"
failed_any=0
t_start=$(date +%s)

# run_suite RELEASE TAG SUITE [VAR=VALUE...]: one suite, its counts into $table
run_suite() {
	local rel=$1 tag=$2 suite=$3 log t0 rc p f s
	shift 3
	log=$dir/logs/$rel/$suite.log
	mkdir -p "$(dirname "$log")"
	t0=$(date +%s)
	env "$@" bash "tests/integration/$suite.sh" > "$log" 2>&1
	rc=$?
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	s=$(grep -c '^SKIP ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $suite exited with status $rc" >> "$log"
		f=1
	fi
	[ "$f" -eq 0 ] || failed_any=1
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rel" "$tag" "$suite" "$p" "$f" "$s" \
		$(($(date +%s) - t0)) >> "$table"
	printf '  %-12s %4d passed %3d failed %3d skipped %4ds\n' "$suite" "$p" "$f" "$s" \
		$(($(date +%s) - t0))
	grep '^FAIL ' "$log" | sed 's/^/    /' | head -20
}

for rel in "${releases[@]}"; do
	fx=$dir/fixtures/$rel
	mkdir -p "$dir/logs/$rel"
	t0=$(date +%s)
	echo "== $rel: building fixtures ($fx)"
	if ! LEAKHOUND_FIXTURE_SET=matrix tests/fixtures/build.sh "$fx" "$rel" \
		> "$dir/logs/$rel/build.log" 2>&1 || [ ! -s "$fx/toolchains.tsv" ]; then
		echo "FAIL $rel: fixtures not built ($dir/logs/$rel/build.log):"
		tail -n 5 "$dir/logs/$rel/build.log" | sed 's/^/    /'
		printf '%s\t-\tbuild\t0\t1\t0\t%s\n' "$rel" $(($(date +%s) - t0)) >> "$table"
		failed_any=1
		continue
	fi
	tag=$(cut -f1 "$fx/toolchains.tsv")
	echo "   $tag, fixtures built in $(($(date +%s) - t0)) s"
	for suite in "${suites[@]}"; do
		run_suite "$rel" "$tag" "$suite" FIXTURES="$fx" LEAKHOUND_MATRIX=1
	done
	echo "   $rel done in $(($(date +%s) - t0)) s"
done
for rel in "${unsupported[@]}"; do
	echo "== $rel (not supported)"
	run_suite "$rel" "$rel" unsupported LEAKHOUND_UNSUPPORTED="$rel" LEAKHOUND_FETCH=1
done
wall=$(($(date +%s) - t_start))

# The table: a row per release, a column per suite, "passed/failed" in each cell.
python3 - "$table" "$dir/MATRIX.md" "$wall" "${suites[@]}" unsupported <<'EOF'
import sys
table, md, wall, suites = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
rows, tags, secs = {}, {}, {}
for line in open(table):
    rel, tag, suite, p, f, s, t = line.rstrip('\n').split('\t')
    rows.setdefault(rel, {})[suite] = (int(p), int(f), int(s))
    tags[rel] = tag
    secs[rel] = secs.get(rel, 0) + int(t)
cols = [s for s in suites if any(s in r for r in rows.values())]
if any('build' in r for r in rows.values()):
    cols.insert(0, 'build')
def cell(r, s):
    if s not in r:
        return ''
    p, f, _ = r[s]
    return f'{p}/{f}' if f == 0 else f'{p}/**{f}**'
head = ['release', 'go'] + cols + ['total', 'time']
lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
plain = [head]
for rel, r in rows.items():
    p = sum(v[0] for v in r.values())
    f = sum(v[1] for v in r.values())
    tot = f'{p}/{f}' if f == 0 else f'{p}/**{f}**'
    m, sec = divmod(secs[rel], 60)
    cells = [rel, tags[rel]] + [cell(r, s) for s in cols] + [tot, f'{m}m{sec:02d}s']
    lines.append('| ' + ' | '.join(cells) + ' |')
    plain.append([c.replace('**', '') for c in cells])
m, sec = divmod(wall, 60)
lines.append('')
lines.append(f'Each cell: checks passed/failed (a suite that dies without a verdict counts one '
             f'failure). Wall time {m}m{sec:02d}s.')
open(md, 'w').write('\n'.join(lines) + '\n')
w = [max(len(row[i]) for row in plain) for i in range(len(head))]
for row in plain:
    print('  '.join(c.rjust(w[i]) if i >= 2 else c.ljust(w[i]) for i, c in enumerate(row)))
print(f'wall time {m}m{sec:02d}s; table in {md}')
EOF
[ "$failed_any" = 0 ]
