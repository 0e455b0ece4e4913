#!/usr/bin/env bash
# The cost of tracing C allocations (docs/PERFORMANCE.md, "C heap tracing"): tools/cgobench
# (goroutines calling C, each cgo call a batch of malloc/free pairs) in one invocation,
# REPS times each case, interleaved (forward, then backward: drift cancels in the medians):
#   untraced
#   memleak      tools/lh-memleak -p PID: bcc memleak's way (uprobes at entry +0,
#                uretprobes, a stack on every allocation, outstanding map), the baseline
#   memleak-placed  the same with its entry probes where `leakhound info` places them
#                (lh-memleak -P: glibc's free at +3, a je the kernel emulates, not at
#                +0, a test it single-steps): what placement alone changes
#   lh-all       leakhound trace -p PID --cgo --cgo-rate 0 --budget 0 --interval I
#                --json (every allocation: without --budget 0 the probe budget, 10000
#                recorded allocations a second, would back off to one in 4^k)
#   lh-sampled   leakhound trace -p PID --cgo --interval I --json (its default rate)
#                (a warning when the last report has no cgo_heap)
# For each: the median pairs per second, ns per pair (wall time of one pair on one
# thread), its ratio to untraced and the extra ns per pair; the same of the workload's
# CPU time per pair (user + system: the probes run in its threads; less disturbed by
# other load on the machine than wall time); for traced cases the tracer's own CPU
# time over the measured phase and its peak RSS. Then memleak's extra per pair over
# each leakhound case's.
# A leakhound case that `leakhound trace` refuses (no --cgo yet, or it exits before its
# probes are in place) is printed as "not available"; the other rows are still measured.
#
# Each run: the workload warms up, prints "ready" and waits, idle, for SIGUSR1; the
# tracer is started then, and the signal sent once its probes are in place
# (lh-memleak says so; for leakhound, its bpf_link file descriptors, stable for 1 s).
# After the measured phase the workload prints its result and stays idle until the
# tracer has been read and stopped (SIGINT; it must exit 0). lh-memleak must have seen
# every pair: its count of allocations at least the workload's pairs, and at most 1%
# more.
#
# usage: scripts/bench-cgo.sh [-r REPS] [-s SECONDS] [-w WARMUP] [-t THREADS] [-b BATCH]
#                             [-i INTERVAL] [-c CASES] [-k]
#   -r  repetitions of every case (default 3)
#   -s  length of the measured phase in seconds (default 5)
#   -w  warm-up seconds before it (default 1)
#   -t  goroutines calling C at once (default: GOMAXPROCS, the CPUs)
#   -b  malloc/free pairs per cgo call (default 64)
#   -i  the tracers' report interval (default 5)
#   -c  a comma-separated subset of the cases (names above); default all
#   -k  keep the per-run files (printed at the end)
# env: OUTPUT (build), LEAKHOUND ($OUTPUT/leakhound), MEMLEAK ($OUTPUT/tools/lh-memleak),
# BENCH_TRACER_ARGS (added to every leakhound case, e.g. "--no-goroutines").
# Needs root (BPF, uprobes); not part of `make test` (`make bench-cgo` runs it).
set -uo pipefail
cd "$(dirname "$0")/.."

OUTPUT=${OUTPUT:-build}
LEAKHOUND=${LEAKHOUND:-$OUTPUT/leakhound}
TRACER_ARGS=${BENCH_TRACER_ARGS:-}
MEMLEAK=${MEMLEAK:-$OUTPUT/tools/lh-memleak}
reps=3
secs=5
warmup=1
threads=0
batch=64
interval=5
only=
keep=

usage() {
	sed -n '/^# usage:/,/^# Needs root/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while getopts "r:s:w:t:b:i:c:kh" opt; do
	case $opt in
	r) reps=$OPTARG ;;
	s) secs=$OPTARG ;;
	w) warmup=$OPTARG ;;
	t) threads=$OPTARG ;;
	b) batch=$OPTARG ;;
	i) interval=$OPTARG ;;
	c) only=",$OPTARG," ;;
	k) keep=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
[ "$(id -u)" = 0 ] || { echo "bench-cgo: needs root" >&2; exit 1; }
[ -x "$MEMLEAK" ] || { echo "bench-cgo: no $MEMLEAK (make first)" >&2; exit 1; }
tmp=$(mktemp -d)
if [ -n "$keep" ]; then
	trap 'kill $(jobs -p) 2>/dev/null; echo "bench-cgo: per-run files in $tmp"' EXIT
else
	trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
fi
bin=$OUTPUT/tools/cgobench
. scripts/go-releases.sh
(cd tools/cgobench && CGO_ENABLED=1 $(local_go) build -o "$(readlink -f "../../$OUTPUT")/tools/cgobench" .) ||
	{ echo "bench-cgo: cannot build tools/cgobench" >&2; exit 1; }

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
links() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'bpf_link' || true; }

# leakhound's C heap tracing, when its trace command has it at all
lh_cgo=
if [ -x "$LEAKHOUND" ] && "$LEAKHOUND" trace --help 2>&1 | grep -q -- '--cgo'; then
	lh_cgo=1
fi
declare -A unavailable

# Waits for leakhound (pid $1) to have its probes in place: bpf_link fds, their number
# stable for 1 s. 1 if it exits first or takes more than 30 s.
wait_links() {
	local lh=$1 last=-1 same=0 n i
	for i in $(seq 300); do
		kill -0 "$lh" 2>/dev/null || return 1
		n=$(links "$lh")
		if [ "$n" -gt 0 ] && [ "$n" = "$last" ]; then
			same=$((same + 1))
			[ "$same" -ge 10 ] && return 0
		else
			same=0
		fi
		last=$n
		sleep 0.1
	done
	return 1
}

# one_run CASE REP: prints "CASE ns_per_pair pairs_per_s cpu_ns_per_pair tracer_cpu_s rss_kb",
# nothing when the case is not available, and returns 1 when it fails.
one_run() {
	local c=$1 r=$2 out=$tmp/$1.$2 tr= t0=0 t1=0 rss=0 i
	"$bin" -wait -linger -seconds "$secs" -warmup "$warmup" -threads "$threads" -batch "$batch" \
		> "$out.w" 2>&1 &
	local w=$!
	for i in $(seq 300); do grep -q ready "$out.w" && break; sleep 0.05; done
	grep -q ready "$out.w" || { echo "bench-cgo: the workload did not start: $(cat "$out.w")" >&2; return 1; }
	case $c in
	memleak | memleak-placed)
		local placed=()
		[ "$c" = memleak-placed ] && placed=(-P)
		: > "$out.t"
		"$MEMLEAK" -p "$w" -i "$interval" "${placed[@]}" > "$out.t" 2> "$out.e" &
		tr=$!
		for i in $(seq 300); do grep -q attached "$out.t" && break; sleep 0.1; done
		grep -q attached "$out.t" || { echo "bench-cgo: lh-memleak did not attach: $(cat "$out.e")" >&2; return 1; }
		;;
	lh-all | lh-sampled)
		local extra=()
		[ "$c" = lh-all ] && extra=(--cgo-rate 0 --budget 0)
		# shellcheck disable=SC2086
		"$LEAKHOUND" trace -p "$w" --cgo "${extra[@]}" --interval "$interval" --json \
			$TRACER_ARGS > "$out.t" 2> "$out.e" &
		tr=$!
		if ! wait_links "$tr"; then
			kill -INT "$tr" 2>/dev/null
			wait "$tr" 2>/dev/null
			unavailable[$c]="$(grep -m1 . "$out.e")"
			kill "$w" 2>/dev/null
			wait "$w" 2>/dev/null
			return 0
		fi
		;;
	esac
	[ -n "$tr" ] && t0=$(cpu_ticks "$tr")
	kill -USR1 "$w"
	for i in $(seq $((secs * 20 + 600))); do grep -q '^result' "$out.w" && break; sleep 0.05; done
	grep -q '^result' "$out.w" || { echo "bench-cgo: no result in $c" >&2; return 1; }
	if [ -n "$tr" ]; then
		t1=$(cpu_ticks "$tr")
		rss=$(awk '/VmHWM/ { print $2 }' "/proc/$tr/status")
		kill -INT "$tr"
		wait "$tr" || { echo "bench-cgo: the tracer failed in $c: $(cat "$out.e")" >&2; return 1; }
		if [ "$c" != memleak ] && [ "$c" != memleak-placed ] &&
			! tail -n 1 "$out.t" | jq -e 'has("cgo_heap")' > /dev/null 2>&1; then
			echo "bench-cgo: warning: leakhound's last report in $c has no cgo_heap" >&2
		fi
	fi
	kill "$w"
	wait "$w" 2>/dev/null
	local pairs
	pairs=$(sed -n 's/^result.* pairs=\([0-9]*\) .*/\1/p' "$out.w")
	if [ "${c#memleak}" != "$c" ]; then
		local seen
		seen=$(tail -n 1 "$out.t" | sed -n 's/.* allocs=\([0-9]*\) .*/\1/p')
		if [ -z "$seen" ] || [ "$seen" -lt "$pairs" ] || [ "$seen" -gt $((pairs + pairs / 100)) ]; then
			echo "bench-cgo: lh-memleak saw ${seen:-no} allocations for $pairs pairs" >&2
			return 1
		fi
	fi
	awk -v c="$c" -v t=$((t1 - t0)) -v hz="$clk" -v rss="$rss" '$1 == "result" {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%s %s %s %s %.2f %d\n", c, v["ns_per_pair"], v["pairs_per_s"],
			v["cpu_ns_per_pair"], t / hz, rss
	}' "$out.w"
}

cases=()
for c in untraced memleak memleak-placed lh-all lh-sampled; do
	[ -z "$only" ] || [[ $only == *",$c,"* ]] || continue
	cases+=("$c")
	if [ "${c#lh-}" != "$c" ] && [ -z "$lh_cgo" ]; then
		unavailable[$c]="\`leakhound trace\` has no --cgo"
	fi
done
[ ${#cases[@]} -gt 0 ] || usage
nthreads=$threads
[ "$nthreads" -gt 0 ] || nthreads=$(nproc)
echo "bench-cgo: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $($(local_go) version | cut -d' ' -f3)," \
	"$reps x ${secs}s, $nthreads threads, $batch pairs per cgo call, $(ldd --version | head -n 1 | awk '{ print $NF }') glibc"
: > "$tmp/results"
for r in $(seq "$reps"); do
	order=("${cases[@]}")
	if [ $((r % 2)) = 0 ]; then
		order=()
		for ((i = ${#cases[@]} - 1; i >= 0; i--)); do order+=("${cases[i]}"); done
	fi
	for c in "${order[@]}"; do
		[ -n "${unavailable[$c]:-}" ] && continue
		one_run "$c" "$r" >> "$tmp/results" || exit 1
	done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$1" -v k="$2" '$1 == c { print $k }' "$tmp/results" | median; }
base=$(col untraced 2)
cbase=$(col untraced 4)
printf "%-14s %11s %10s %8s %10s %11s %8s %10s %8s %8s\n" case pairs/s ns/pair ratio extra-ns \
	cpu-ns/pair cpu-ratio extra-cpu tracer-s rss-kb
declare -A extra cextra
for c in "${cases[@]}"; do
	if [ -n "${unavailable[$c]:-}" ]; then
		printf "%-14s not available (%s)\n" "$c" "${unavailable[$c]}"
		continue
	fi
	ns=$(col "$c" 2)
	cns=$(col "$c" 4)
	if [ -z "$base" ]; then
		printf "%-14s %11.0f %10.1f %8s %10s %11.1f\n" "$c" "$(col "$c" 3)" "$ns" - - "$cns"
		continue
	fi
	extra[$c]=$(awk -v a="$ns" -v b="$base" 'BEGIN { print a - b }')
	cextra[$c]=$(awk -v a="$cns" -v b="$cbase" 'BEGIN { print a - b }')
	if [ "$c" = untraced ]; then
		printf "%-14s %11.0f %10.1f %8.2f %10s %11.1f %8.2f %10s\n" "$c" "$(col "$c" 3)" "$ns" 1 - \
			"$cns" 1 -
	else
		printf "%-14s %11.0f %10.1f %8.1f %10.1f %11.1f %8.1f %10.1f %8s %8s\n" "$c" "$(col "$c" 3)" \
			"$ns" "$(awk -v a="$ns" -v b="$base" 'BEGIN { print a / b }')" "${extra[$c]}" \
			"$cns" "$(awk -v a="$cns" -v b="$cbase" 'BEGIN { print a / b }')" "${cextra[$c]}" \
			"$(col "$c" 5)" "$(col "$c" 6)"
	fi
done
for c in lh-all lh-sampled; do
	[ -n "${extra[$c]:-}" ] && [ -n "${extra[memleak]:-}" ] || continue
	awk -v m="${extra[memleak]}" -v l="${extra[$c]}" -v cm="${cextra[memleak]}" \
		-v cl="${cextra[$c]}" -v c="$c" 'BEGIN {
		printf "memleak / %s, extra per pair: ", c
		if (l > 0) printf "%.1fx in ns", m / l; else printf "%s adds no ns", c
		if (cl > 0) printf ", %.1fx in CPU ns\n", cm / cl; else printf ", no CPU ns\n"
	}'
done
