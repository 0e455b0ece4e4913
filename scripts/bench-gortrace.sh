#!/usr/bin/env bash
# The goroutine tracer's cost (docs/PERFORMANCE.md, "Goroutine tracing"): tools/spawnbench
# (one worker per GOMAXPROCS starting and ending goroutines in batches of 64) untraced and
# traced by `leakhound trace --no-write` (the Go heap tracer is off then: the workload's
# linker disabled heap sampling and --no-write keeps it so, so only the goroutine probes
# run), REPS times each, interleaved, in one invocation. Cases:
#   untraced
#   traced      the default probe budget (10000 recorded creations/s: past it one in 4,
#               16, ... is recorded, but every creation and exit still takes the trap)
#   traced-all  --budget 0: every creation recorded with its stack
# For each: the median spawn rate, ns per spawn, the ratio to untraced, and for traced
# cases the tracer's CPU time over the measured phase and its peak RSS.
# The workload warms up, prints "ready" and waits for SIGUSR1, sent once the tracer's
# bpf links are all in place; the tracer must exit 0 and have seen creations.
#
# usage: scripts/bench-gortrace.sh [-r REPS] [-s SECONDS]   (root; `make bench-gortrace`)
set -uo pipefail
cd "$(dirname "$0")/.."

OUTPUT=${OUTPUT:-build}
LEAKHOUND=${LEAKHOUND:-$OUTPUT/leakhound}
reps=5
secs=5
while getopts "r:s:h" opt; do
	case $opt in
	r) reps=$OPTARG ;;
	s) secs=$OPTARG ;;
	*) sed -n '/^# usage:/p' "$0" | sed 's/^# //' >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "bench-gortrace: needs root" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
bin=$OUTPUT/tools/spawnbench
. scripts/go-releases.sh
(cd tools/spawnbench && $(local_go) build -o "$(readlink -f "../../$OUTPUT")/tools/spawnbench" .) ||
	{ echo "bench-gortrace: cannot build tools/spawnbench" >&2; exit 1; }

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
links() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'bpf_link' || true; }

# one_run CASE REP: prints "CASE ns_per_spawn per_s tracer_cpu_s tracer_rss_kb"
one_run() {
	local c=$1 r=$2 out=$tmp/$1.$2 lh= t0=0 t1=0 rss=0 i
	"$bin" -seconds "$secs" -warmup 1 > "$out.w" 2>&1 &
	local w=$!
	for i in $(seq 100); do grep -q ready "$out.w" && break; sleep 0.05; done
	if [ "$c" != untraced ]; then
		local extra=()
		[ "$c" = traced-all ] && extra=(--budget 0)
		"$LEAKHOUND" trace -p "$w" --no-write -i 1 --json "${extra[@]}" > "$out.j" 2> "$out.e" &
		lh=$!
		for i in $(seq 200); do [ "$(links "$lh")" -ge 3 ] && break; sleep 0.05; done
		sleep 0.5
		t0=$(cpu_ticks "$lh")
	fi
	kill -USR1 "$w"
	wait "$w"
	if [ -n "$lh" ]; then
		t1=$(cpu_ticks "$lh")
		rss=$(awk '/VmHWM/ { print $2 }' "/proc/$lh/status")
		kill -INT "$lh"
		wait "$lh" || { echo "bench-gortrace: the tracer failed in $c: $(cat "$out.e")" >&2; return 1; }
		local created
		created=$(tail -n 1 "$out.j" | jq '.goroutines.created // 0')
		[ "$created" -gt 0 ] || { echo "bench-gortrace: no creation seen in $c" >&2; return 1; }
	fi
	awk -v c="$c" -v t=$((t1 - t0)) -v hz="$clk" -v rss="$rss" \
		'$1 == "spawns" { printf "%s %s %s %.2f %d\n", c, $6, $4, t / hz, rss }' "$out.w"
}

echo "bench-gortrace: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $($(local_go) version | cut -d' ' -f3), $reps x ${secs}s"
cases=(untraced traced traced-all)
for r in $(seq "$reps"); do
	# forward, then backward: drift cancels in the medians
	if [ $((r % 2)) = 1 ]; then order=("${cases[@]}"); else order=(traced-all traced untraced); fi
	for c in "${order[@]}"; do
		one_run "$c" "$r" >> "$tmp/results" || exit 1
	done
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
base=$(awk '$1 == "untraced" { print $2 }' "$tmp/results" | median)
printf "%-11s %12s %14s %8s %12s %10s\n" case ns/spawn spawns/s ratio tracer-cpu-s rss-kb
for c in "${cases[@]}"; do
	ns=$(awk -v c="$c" '$1 == c { print $2 }' "$tmp/results" | median)
	ps=$(awk -v c="$c" '$1 == c { print $3 }' "$tmp/results" | median)
	cpu=$(awk -v c="$c" '$1 == c { print $4 }' "$tmp/results" | median)
	rss=$(awk -v c="$c" '$1 == c { print $5 }' "$tmp/results" | median)
	printf "%-11s %12.1f %14.0f %8.2f %12s %10s\n" "$c" "$ns" "$ps" "$(awk -v a="$ns" -v b="$base" 'BEGIN { print a / b }')" "$cpu" "$rss"
done
