#!/usr/bin/env bash
# Runtime globals (src/globals*.c) against ground truth leakhound did not produce:
#  (a) every fixture with symbols: the recipe alone (--nosym) == `go tool nm` of the
#      release that built it;
#  (b) GNU strip copies of the default, pie and cgo fixtures: the recipe == go tool nm
#      of the unstripped original (strip keeps the layout);
#  (c) -s -w fixtures (their own layout): every global found and cross-checked;
#  (d) live fixtures read through /proc/PID/mem (SIGSTOPped): the goroutines the
#      fixture parks (-g), the GC count GODEBUG=gctrace=1 prints, MemProfileRate 0
#      (no pprof import: disableMemoryProfiling), GOGC/GOMEMLIMIT defaults;
#  (e) Debian's stripped prometheus (go1.19, external link), statically and live
#      against its own /metrics and /debug/pprof/goroutine;
#  (f) rules that must fail rather than guess (-N -l builds), lld PIE (addends only
#      in relocations), the Go toolchain's own binaries, a non-Go ELF.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"

LHG=${LH_GLOBALS:-$OUTPUT/tests/drivers/lh-globals}
GLOBALS="runtime.MemProfileRate runtime.disableMemoryProfiling runtime.mbuckets runtime.buckhash
runtime.mProfCycle runtime.allgs runtime.allglen runtime.allgptr runtime.memstats
runtime.gcController runtime.firstmoduledata runtime.waitReasonStrings runtime.text"
FIXDIR=$(cd "$(dirname "$0")/../fixtures" && pwd)
LOCAL_GO=/usr/local/go/bin/go
[ -x $LOCAL_GO ] || LOCAL_GO=/usr/lib/go-1.19/bin/go

if [ ! -x "$LHG" ]; then
	fail "globals: test driver $LHG is not built (make test builds it)"
	finish
fi
if [ ! -s "$FIXTURES/manifest.tsv" ]; then
	fail "globals: no fixtures in $FIXTURES (tests/fixtures/build.sh)"
	finish
fi
tmp=$(mktemp -d)
started=()
cleanup() {
	for p in "${started[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# "name addr" of the globals in a binary's symbol table, per the go tool of a release.
nm_truth() { # gocmd binary
	local gocmd=$1 bin=$2
	$gocmd tool nm "$bin" 2>/dev/null | awk -v want="$GLOBALS" '
		BEGIN { n = split(want, w, /[ \n]+/); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
		NF >= 3 && ($3 in ok) && !seen[$3]++ { printf "%s 0x%s\n", $3, $1 }' | sort
}

# "name addr" of what the driver found.
found_addrs() { # lh-globals output
	awk '$3 == "found" { print $1, $2 }' "$1" | sort
}

# Globals not both found and cross-checked.
not_cross() { # lh-globals output
	awk '!($3 == "found" && $4 == "cross") { print $1 ": " $0 }' "$1"
}

same_as_nm() { # what gocmd nm_of_binary driver_output
	local what=$1 gocmd=$2 orig=$3 out=$4
	local want="$tmp/want"
	nm_truth "$gocmd" "$orig" > "$want"
	if [ "$(wc -l < "$want")" -ne 13 ]; then
		fail "$what: go tool nm lists $(wc -l < "$want") of the 13 globals"
		return
	fi
	if diff <(found_addrs "$out") "$want" > "$tmp/diff"; then
		pass "$what"
	else
		fail "$what: $(grep -E '^[<>]' "$tmp/diff" | tr '\n' ' ')"
	fi
}

all_cross() { # what driver_output
	local bad
	bad=$(not_cross "$2")
	if [ "$(wc -l < "$2")" -ne 13 ]; then
		fail "$1: the driver printed $(wc -l < "$2") globals: $(head -c 200 "$tmp/err")"
	elif [ -z "$bad" ]; then
		pass "$1"
	else
		fail "$1: $(echo "$bad" | head -3 | tr '\n' ' ')"
	fi
}

has_symtab() {
	readelf -S "$1" 2>/dev/null | grep -q ' \.symtab '
}

# ---- (a), (b), (c): static, every fixture ----
while read -r path rel fixture variant; do
	name="$rel/$fixture-$variant"
	gocmd=$(go_for "$rel")
	out="$tmp/out"
	if has_symtab "$path"; then
		"$LHG" --nosym "$path" > "$out" 2> "$tmp/err"
		same_as_nm "globals: recipe == go tool nm ($name)" "$gocmd" "$path" "$out"
		all_cross "globals: recipe cross-checks every global ($name)" "$out"
		"$LHG" "$path" > "$out" 2> "$tmp/err"
		check "globals: symbols used and agree with the recipe ($name)" \
			test "$(awk '$5 == "symbol" && $4 == "cross"' "$out" | wc -l)" -eq 13
		case $variant in default | pie | cgo)
			strip -o "$tmp/stripped" "$path"
			"$LHG" "$tmp/stripped" > "$out" 2> "$tmp/err"
			same_as_nm "globals: GNU strip copy == go tool nm of the original ($name)" \
				"$gocmd" "$path" "$out"
			check "globals: strip copy resolved without symbols ($name)" \
				test "$(grep -c ' symbol ' "$out")" -eq 0
			;;
		esac
	else
		"$LHG" "$path" > "$out" 2> "$tmp/err"
		all_cross "globals: every global found and cross-checked ($name)" "$out"
	fi
done < <(fixtures)

# The JSON form, read by python's json module.
first=$(fixtures | awk 'NR == 1 { print $1 }')
"$LHG" --json "$first" > "$tmp/json" 2> "$tmp/err"
check "globals: JSON has every global with addr/found/how/cross_checked/aux/error" python3 -c '
import json, sys
g = json.load(open(sys.argv[1]))["globals"]
names = sys.argv[2].split()
keys = {"addr", "found", "how", "cross_checked", "aux", "error"}
assert sorted(g) == sorted(names), sorted(g)
for n in names:
    assert set(g[n]) == keys, g[n]
    assert g[n]["found"] is True and g[n]["addr"].startswith("0x") and g[n]["error"] is None
assert g["runtime.waitReasonStrings"]["aux"] >= 27
' "$tmp/json" "$GLOBALS"

# ---- (d): live fixtures ----
# A value the driver printed; "(no KEY)" when it printed none, which no check expects.
live_value() {
	awk -v k="$1" '$1 == "live" && $2 == k { v = $3 } END { print (v == "" ? "(no " k ")" : v) }' \
		"$tmp/live"
}

# A count the driver printed, -1 when it printed none (keeps arithmetic valid).
live_count() {
	local v
	v=$(live_value "$1")
	[[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo -1
}

# Starts a fixture and waits (bounded) until it printed "ready" and gctrace reported a GC.
start_fixture() { # binary args...
	local bin=$1
	shift
	: > "$tmp/stdout"
	: > "$tmp/stderr"
	env -u GOGC -u GOMEMLIMIT GODEBUG=gctrace=1 "$bin" "$@" > "$tmp/stdout" 2> "$tmp/stderr" &
	fixture_pid=$!
	started+=("$fixture_pid")
	for _ in $(seq 100); do
		grep -q '^ready' "$tmp/stdout" && grep -q '^gc [0-9]' "$tmp/stderr" && return 0
		sleep 0.1
	done
	return 1
}

live_fixture() { # binary release variant
	local bin=$1 rel=$2 variant=$3 what="globals live ($2 $3)" ngc numgc cycle
	if ! start_fixture "$bin" -g 8; then
		fail "$what: the fixture did not start"
		return
	fi
	kill -STOP "$fixture_pid"
	sleep 0.1
	ngc=$(grep -o '^gc [0-9]*' "$tmp/stderr" | tail -1 | cut -d' ' -f2)
	[[ $ngc =~ ^[0-9]+$ ]] || ngc=-1
	"$LHG" --pid "$fixture_pid" --count-start main.main. "$bin" > "$tmp/live" 2> "$tmp/err"
	kill -CONT "$fixture_pid"
	kill "$fixture_pid"
	numgc=$(live_count numgc)
	cycle=$(live_count mProfCycle)
	check "$what: the 8 goroutines the fixture parks" test "$(live_value goroutines_matching)" = 8
	check "$what: ... all waiting in waitReasonStrings[g.waitreason] == 'chan receive'" \
		test "$(live_value goroutines_matching_chan_receive)" = 8
	check "$what: allglen $(live_value allglen) >= 9" test "$(live_value allglen)" -ge 9
	check "$what: allgs {ptr,len} == {allgptr,allglen}" test \
		"$(live_value allgs.ptr) $(live_value allgs.len)" = \
		"$(live_value allgptr) $(live_value allglen)"
	# gctrace prints "gc N" right after memstats.numgc becomes N (mgc.go gcMarkTermination)
	check "$what: memstats.numgc $numgc is gctrace's last 'gc $ngc' (or +1)" \
		test "$numgc" -ge 1 -a "$numgc" -ge "$ngc" -a "$numgc" -le $((ngc + 1))
	check "$what: mProfCycle $cycle follows numgc" \
		test "$cycle" -ge "$numgc" -a "$cycle" -le $((numgc + 1))
	check "$what: MemProfileRate 0 and disableMemoryProfiling 1 (no pprof import)" test \
		"$(live_value MemProfileRate) $(live_value disableMemoryProfiling)" = "0 1"
	check "$what: memstats.enablegc 1" test "$(live_value enablegc)" = 1
	check "$what: gcController {gcPercent,memoryLimit,heapMinimum} defaults" test \
		"$(live_value gcPercent) $(live_value memoryLimit) $(live_value heapMinimum)" = \
		"100 9223372036854775807 4194304"
	check "$what: moduledata.text in memory == runtime.text + bias" \
		test "$(live_value md.text)" = "$(live_value runtime.text)"
	# sampling is off, yet 1.24+ may hold one bucket (STRIPPED-GLOBALS.md §2)
	check "$what: mbuckets chain ($(live_value mbuckets.count) buckets) well formed, stacks in pclntab" \
		test "$(live_value mbuckets.bad) $(live_value mbuckets.unresolved)" = "0 0"
}

while read -r path rel fixture variant; do
	case $fixture-$variant in basic-pie | basic-stripped) live_fixture "$path" "$rel" "$variant" ;; esac
done < <(fixtures)

# ---- (f): builds made here ----
build_extra() { # name gocmd dir args... -> $tmp/NAME, or return 1
	local name=$1 gocmd=$2 dir=$3
	shift 3
	(cd "$dir" && env GOFLAGS=-mod=mod $gocmd build -o "$tmp/$name" "$@" .) > "$tmp/build.log" 2>&1
}

# -N -l: nothing inlined, so atomicAllG, nextSample ... are calls and some rules do not
# match (STRIPPED-GLOBALS.md §2 "Not covered"): whatever the recipe reports must be right.
for rel in $(awk '{ print $1 }' "$FIXTURES/toolchains.tsv" | sort -u | sed -n '1p;$p'); do
	gocmd=$(go_for "$rel")
	if ! CGO_ENABLED=0 build_extra noopt "$gocmd" "$FIXDIR/basic" -gcflags=all=-N\ -l; then
		fail "globals: building basic with -N -l ($rel): $(tail -1 "$tmp/build.log")"
		continue
	fi
	"$LHG" --nosym "$tmp/noopt" > "$tmp/out" 2> "$tmp/err"
	nm_truth "$gocmd" "$tmp/noopt" > "$tmp/want"
	wrong=$(join <(found_addrs "$tmp/out") "$tmp/want" | awk '$2 != $3')
	check "globals: -N -l build, no wrong answer ($rel; $(grep -c ' missing ' "$tmp/out") not found)" \
		test -z "$wrong"
done

# A program that imports runtime/pprof (sampling on: MemProfileRate 524288, and the linker
# leaves disableMemoryProfiling 0, in .noptrbss), writes its own heap profile after a GC and
# then idles: every stack in that profile must be a bucket found from mbuckets, and NumGC
# in it must be memstats.numgc.
mkdir -p "$tmp/pprofsrc"
cat > "$tmp/pprofsrc/go.mod" <<'EOF'
module leakhound.test/pprofprog

go 1.19
EOF
cat > "$tmp/pprofsrc/main.go" <<'EOF'
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

var kept [][]byte

//go:noinline
func leak() {
	for i := 0; i < 4096; i++ {
		kept = append(kept, make([]byte, 4096))
	}
}

func main() {
	leak()
	runtime.GC()
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	pprof.Lookup("heap").WriteTo(f, 1)
	f.Close()
	fmt.Println("ready")
	time.Sleep(time.Hour)
}
EOF
while IFS=$'\t' read -r rel gocmd; do
	what="globals live, pprof importer ($rel)"
	if ! CGO_ENABLED=0 build_extra pprofprog "$gocmd" "$tmp/pprofsrc" -ldflags=-s\ -w; then
		fail "$what: build: $(tail -1 "$tmp/build.log")"
		continue
	fi
	"$LHG" "$tmp/pprofprog" > "$tmp/out" 2> "$tmp/err"
	all_cross "$what: every global found and cross-checked" "$tmp/out"
	rm -f "$tmp/heap" "$tmp/pprof-stdout"
	env -u GOGC -u GOMEMLIMIT "$tmp/pprofprog" "$tmp/heap" > "$tmp/pprof-stdout" 2>&1 &
	pid=$!
	started+=("$pid")
	# "ready" comes after the profile is written and closed
	for _ in $(seq 100); do grep -q '^ready' "$tmp/pprof-stdout" && break; sleep 0.1; done
	"$LHG" --pid "$pid" --buckets "$tmp/pprofprog" > "$tmp/live" 2> "$tmp/err"
	kill "$pid"
	awk '/^[0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @/ { sub(/.*@ /, ""); print }' "$tmp/heap" | sort -u > "$tmp/pprof-stacks"
	awk '$2 == "bucket" { $1 = $2 = ""; sub(/^ +/, ""); print }' "$tmp/live" | sort -u > "$tmp/our-stacks"
	check "$what: MemProfileRate 524288, disableMemoryProfiling 0" test \
		"$(live_value MemProfileRate) $(live_value disableMemoryProfiling)" = "524288 0"
	check "$what: memstats.numgc == the profile's NumGC" \
		test "$(live_value numgc)" = "$(awk '$2 == "NumGC" { print $4 }' "$tmp/heap" 2> /dev/null)"
	check "$what: the profile's $(wc -l < "$tmp/pprof-stacks") stacks are all among $(wc -l < "$tmp/our-stacks") mbuckets stacks" \
		test -s "$tmp/pprof-stacks" -a -z "$(comm -23 "$tmp/pprof-stacks" "$tmp/our-stacks")"
	check "$what: mbuckets chain well formed, stacks in pclntab" \
		test "$(live_value mbuckets.bad) $(live_value mbuckets.unresolved)" = "0 0"
done < "$FIXTURES/toolchains.tsv"

# lld-linked PIE: lld leaves every relocated word 0 in the file (only the RELATIVE addend
# has it), so moduledata and string reads must go through the relocations.
if command -v ld.lld > /dev/null; then
	rel=$($LOCAL_GO env GOVERSION)
	if CGO_ENABLED=1 build_extra lldpie $LOCAL_GO "$FIXDIR/cgo" -buildmode=pie \
		-ldflags=-linkmode=external\ -extldflags=-fuse-ld=lld; then
		"$LHG" --nosym "$tmp/lldpie" > "$tmp/out" 2> "$tmp/err"
		same_as_nm "globals: lld PIE recipe == go tool nm ($rel)" $LOCAL_GO "$tmp/lldpie" "$tmp/out"
	else
		fail "globals: building an lld PIE ($rel): $(tail -1 "$tmp/build.log")"
	fi
else
	skip "globals: lld PIE (no ld.lld)"
fi

# The toolchains' own binaries: unstripped ones against go tool nm, stripped ones (Debian's
# go-1.19 runs dh_strip) must resolve every global. gofmt never calls runtime.GC, so it has
# no mProf_PostSweep (mProfCycle is cross-checked with mProf_Malloc); compile is built with
# PGO since 1.21, which inlines (*mcache).refill into nextFree.
while IFS=$'\t' read -r rel gocmd; do
	root=$($gocmd env GOROOT 2> /dev/null) || continue
	for bin in "$root/bin/go" "$root/bin/gofmt" "$($gocmd env GOTOOLDIR)/compile"; do
		[ -x "$bin" ] || continue
		"$LHG" --nosym "$bin" > "$tmp/out" 2> "$tmp/err"
		if has_symtab "$bin"; then
			same_as_nm "globals: recipe == go tool nm ($rel ${bin#"$root"/})" "$gocmd" "$bin" "$tmp/out"
		fi
		all_cross "globals: every global found and cross-checked ($rel ${bin#"$root"/})" "$tmp/out"
	done
done < "$FIXTURES/toolchains.tsv"

# Not Go: nothing found, every global says why, no crash.
"$LHG" /bin/true > "$tmp/out" 2> "$tmp/err"
check "globals: a non-Go ELF finds nothing and says why" \
	test "$(grep -c ' missing single - 0 no pclntab$' "$tmp/out")" -eq 13

# ---- (e): Debian's prometheus ----
prom=/usr/bin/prometheus
if [ ! -x $prom ]; then
	skip "globals: $prom not installed (scripts/deps.sh installs it)"
	finish
fi
"$LHG" $prom > "$tmp/prom" 2> "$tmp/err"
all_cross "globals: prometheus, every global found and cross-checked" "$tmp/prom"

port=$((20000 + RANDOM % 20000))
mkdir -p "$tmp/prom-data"
cat > "$tmp/prom.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
env -u GOGC -u GOMEMLIMIT $prom --config.file="$tmp/prom.yml" --storage.tsdb.path="$tmp/prom-data" \
	--web.listen-address=127.0.0.1:$port > "$tmp/prom.log" 2>&1 &
prom_pid=$!
started+=("$prom_pid")
metric() { # name
	curl -sf "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
for _ in $(seq 100); do
	gcs=$(metric go_gc_duration_seconds_count)
	[ -n "$gcs" ] && [ "$gcs" -ge 1 ] && break
	sleep 0.2
done
if [ -z "$gcs" ]; then
	fail "globals: prometheus did not serve /metrics: $(tail -2 "$tmp/prom.log" | tr '\n' ' ')"
	finish
fi
before=$(metric go_gc_duration_seconds_count)
curl -sf "http://127.0.0.1:$port/debug/pprof/heap?debug=1" | \
	awk '/^[0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @/ { sub(/.*@ /, ""); print }' | sort -u > "$tmp/pprof-stacks"
"$LHG" --pid $prom_pid --goids --buckets $prom > "$tmp/live" 2> "$tmp/err"
after=$(metric go_gc_duration_seconds_count)
curl -sf "http://127.0.0.1:$port/debug/pprof/goroutine?debug=2" | \
	awk '/^goroutine [0-9]+ /{ print $2 }' | sort > "$tmp/pprof-ids"
tr ' ' '\n' < <(awk '$2 == "goids" { $1 = $2 = ""; print }' "$tmp/live") | grep . | sort > "$tmp/our-ids"
numgc=$(live_count numgc)
check "globals: prometheus live memstats.numgc $numgc within go_gc_duration_seconds_count [$before, $after]" \
	test "$numgc" -ge "$before" -a "$numgc" -le "$after"
check "globals: prometheus live MemProfileRate 524288, disableMemoryProfiling 0 (imports pprof)" \
	test "$(live_value MemProfileRate) $(live_value disableMemoryProfiling)" = "524288 0"
check "globals: prometheus live mProfCycle follows numgc" \
	test "$(live_count mProfCycle)" -ge "$numgc" -a "$(live_count mProfCycle)" -le $((numgc + 1))
check "globals: prometheus live gcController defaults" test \
	"$(live_value gcPercent) $(live_value memoryLimit) $(live_value heapMinimum)" = \
	"100 9223372036854775807 4194304"
check "globals: prometheus live allgs {ptr,len} == {allgptr,allglen}" test \
	"$(live_value allgs.ptr) $(live_value allgs.len)" = "$(live_value allgptr) $(live_value allglen)"
awk '$2 == "bucket" { $1 = $2 = ""; sub(/^ +/, ""); print }' "$tmp/live" | sort -u > "$tmp/our-stacks"
check "globals: prometheus live mbuckets: $(wc -l < "$tmp/our-stacks") well-formed buckets, stacks in pclntab" \
	test "$(live_value mbuckets.count)" -ge 1 -a "$(live_value mbuckets.bad) $(live_value mbuckets.unresolved)" = "0 0"
# pprof's heap profile (runtime.MemProfile, read first) is made of those buckets' stacks
check "globals: prometheus pprof heap profile's $(wc -l < "$tmp/pprof-stacks") stacks are all mbuckets stacks" \
	test -s "$tmp/pprof-stacks" -a -z "$(comm -23 "$tmp/pprof-stacks" "$tmp/our-stacks")"
# pprof lists user goroutines only, read after ours: at most the few serving that request
# are new; every other one must be in allgs.
missing=$(comm -23 "$tmp/pprof-ids" "$tmp/our-ids" | wc -l)
check "globals: prometheus $(wc -l < "$tmp/pprof-ids") pprof goroutines in allgs ($(wc -l < "$tmp/our-ids") live gs; $missing new)" \
	test "$(wc -l < "$tmp/pprof-ids")" -ge 10 -a "$missing" -le 3
finish
