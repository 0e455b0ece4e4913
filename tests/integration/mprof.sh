#!/usr/bin/env bash
# The runtime's heap profile read out of a live process (src/mprof.c) against the
# process's own runtime/pprof output. The heapprof fixture, on SIGUSR1, pauses its
# workers, turns the GC off, runs runtime.GC(), writes heap.pb.gz and heap.txt
# (debug=1) and stops itself; mprof-dump then reads the buckets from its memory:
#  (a) raw: every "inuse_objects: inuse_bytes [alloc_objects: alloc_bytes] @ pc..."
#      line of heap.txt (unscaled counts, every PC of the stack) is one of ours,
#      and ours has no other bucket but ones with no counts yet (made after the
#      runtime's snapshot, by the writer itself);
#  (b) pprof: the four scaled values and the first function `go tool pprof -raw`
#      shows for each sample of heap.pb.gz == ours after hiding the runtime's
#      allocation frames and scaling like pprof (values within 1 for exp rounding);
#  (c) the leaking functions have buckets with in-use objects; the rate is heap/2R.
# Every release and variant of the fixture: default, -s -w stripped, cgo; and a PIE
# build made here with /usr/local/go (a load bias to subtract).
set -uo pipefail
. "$(dirname "$0")/../lib.sh"

DUMP=${MPROF_DUMP:-$OUTPUT/tests/drivers/mprof-dump}
PPROF_GO=/usr/local/go/bin/go
[ -x $PPROF_GO ] || PPROF_GO=/usr/lib/go-1.19/bin/go

if [ ! -x "$DUMP" ]; then
	fail "mprof: test driver $DUMP is not built (make test builds it)"
	finish
fi
tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill -CONT "$pid" 2>/dev/null; kill "$pid" 2>/dev/null; fi
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

proc_state() { awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null; }

# Starts a fixture, lets it leak and collect for a while, asks for its snapshot and
# waits until it has stopped itself after writing. Sets pid.
snapshot() { # binary prefix
	local bin=$1 prefix=$2 i
	"$bin" -o "$prefix" > "$prefix.stdout" 2>&1 &
	pid=$!
	for i in $(seq 100); do grep -qs '^ready' "$prefix.stdout" && break; sleep 0.05; done
	sleep 1
	kill -USR1 "$pid"
	for i in $(seq 200); do
		[ "$(proc_state "$pid")" = T ] && [ -s "$prefix.txt" ] && return 0
		sleep 0.05
	done
	return 1
}

stop_fixture() {
	kill -CONT "$pid" 2>/dev/null
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}

# (a) heap.txt's bucket lines against ours.
check_raw() { # what prefix dump
	local what=$1 prefix=$2 dump=$3 theirs=$tmp/theirs ours=$tmp/ours missing extra
	grep -E '^[0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @' "$prefix.txt" | sort > "$theirs"
	sed -n 's/^raw\t//p' "$dump" | sort > "$ours"
	if [ ! -s "$theirs" ]; then
		fail "$what: raw: heap.txt has no bucket"
		return
	fi
	missing=$(comm -23 "$theirs" "$ours" | wc -l)
	extra=$(comm -13 "$theirs" "$ours" | grep -vc '^0: 0 \[0: 0\] @')
	check "$what: raw: $(wc -l < "$theirs") buckets of heap.txt, counts and stacks exact" \
		test "$missing" -eq 0 -a "$extra" -eq 0
	[ "$missing" -eq 0 ] || comm -23 "$theirs" "$ours" | head -3 | sed 's/^/  missing: /'
}

# "ao ab io ib FUNC" per sample of a proto heap profile, per go tool pprof -raw.
pprof_samples() { # profile.pb.gz
	$PPROF_GO tool pprof -raw "$1" 2>/dev/null | awk '
		/^Samples:/ { s = 1; next }
		/^Locations/ { s = 0; l = 1; next }
		/^Mappings/ { l = 0 }
		s && /^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+: / {
			sub(":", "", $4); n++; v[n] = $1 " " $2 " " $3 " " $4; first[n] = $5
		}
		l && /^ *[0-9]+: 0x/ { id = $1; sub(":", "", id); fn[id] = $4 }
		END { for (i = 1; i <= n; i++) print v[i], fn[first[i]] }' | sort
}

# (b) scaled values and the first shown function, as multisets; values within 1.
check_pprof() { # what prefix dump
	local what=$1 prefix=$2 dump=$3 bad
	# samples with no counts: buckets made after the snapshot (or, in heap.pb.gz,
	# between the GC and the write); the raw check covers them
	pprof_samples "$prefix.pb.gz" | grep -v '^0 0 0 0 ' > "$tmp/ptheirs"
	sed -n 's/^pprof\t//p' "$dump" | grep -v '^0 0 0 0 ' | sort > "$tmp/pours"
	if [ ! -s "$tmp/ptheirs" ]; then
		fail "$what: pprof: go tool pprof -raw shows no sample"
		return
	fi
	bad=$(awk 'function d(a, b) { return a > b ? a - b : b - a }
		NR == FNR { t[NR] = $0; nt = NR; next }
		{ o[FNR] = $0; no = FNR }
		END {
			if (nt != no) { print "samples " nt " vs ours " no; exit }
			for (i = 1; i <= nt; i++) {
				split(t[i], a, " "); split(o[i], b, " ")
				if (a[5] != b[5] || d(a[1], b[1]) > 1 || d(a[2], b[2]) > 1 ||
				    d(a[3], b[3]) > 1 || d(a[4], b[4]) > 1) { print t[i] " | " o[i]; exit }
			}
		}' "$tmp/ptheirs" "$tmp/pours")
	check "$what: pprof: $(wc -l < "$tmp/ptheirs") samples, trimmed stacks and scaled values${bad:+: $bad}" \
		test -z "$bad"
}

check_leakers() { # what prefix dump
	local what=$1 prefix=$2 dump=$3 rate heap
	rate=$(sed -n 's/^info\trate=\([0-9]*\) .*/\1/p' "$dump")
	heap=$(sed -n '1s/.*@ heap\/\([0-9]*\)$/\1/p' "$prefix.txt")
	check "$what: MemProfileRate $rate, heap/$heap in heap.txt" test "$((2 * rate))" = "$heap"
	for fn in main.leakSmall main.leakLarge; do
		check "$what: $fn has in-use samples" \
			awk -v f="$fn" '$1 == "pprof" && $6 == f && $4 > 0 { ok = 1 } END { exit !ok }' "$dump"
	done
}

run_one() { # what binary
	local what=$1 path=$2 prefix="$tmp/${1//\//-}"
	if ! snapshot "$path" "$prefix"; then
		fail "$what: the fixture did not write its profile and stop"
		stop_fixture
		return
	fi
	if ! "$DUMP" "$pid" > "$prefix.dump" 2> "$prefix.err"; then
		fail "$what: mprof-dump: $(cat "$prefix.err")"
		stop_fixture
		return
	fi
	stop_fixture
	echo "# $what: $(sed -n 's/^info\t//p' "$prefix.dump")"
	check_raw "$what" "$prefix" "$prefix.dump"
	check_pprof "$what" "$prefix" "$prefix.dump"
	check_leakers "$what" "$prefix" "$prefix.dump"
}

n=0
while read -r path release fixture variant; do
	[ "$fixture" = heapprof ] || continue
	n=$((n + 1))
	run_one "$release/$variant" "$path"
done < <(fixtures)
if (cd "$(dirname "$0")/../fixtures/heapprof" &&
	CGO_ENABLED=0 GOFLAGS=-mod=mod $PPROF_GO build -buildmode=pie -o "$tmp/heapprof-pie" .); then
	run_one "$($PPROF_GO env GOVERSION)/pie" "$tmp/heapprof-pie"
else
	fail "mprof: building a PIE heapprof with $PPROF_GO"
fi
[ "$n" -gt 0 ] || fail "mprof: no heapprof fixture in $FIXTURES/manifest.tsv"
finish
