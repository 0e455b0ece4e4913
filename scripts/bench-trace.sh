#!/usr/bin/env bash
# The performance benchmark of `leakhound trace` (docs/PERFORMANCE.md, "Go heap tracing").
#
# Runs tools/allocbench (an allocation-heavy Go workload, one worker per GOMAXPROCS)
# untraced and traced by `leakhound trace -p PID`, in one invocation, REPS times each,
# interleaved (the case order runs forward, then backward, then forward... so that
# drift cancels), and prints medians and ratios to the untraced runs of this same
# invocation:
#   (a) the cost of leakhound's probes on a binary that already samples (it links
#       runtime/pprof: MemProfileRate 512 KiB from the start);
#   (b) the cost of turning sampling on in a binary whose linker disabled it (no
#       runtime/pprof: MemProfileRate 0): untraced at rate 0, untraced with the program
#       setting 512 KiB itself (the runtime's own price), traced (leakhound sets it);
#   (c) the exact mode (--rate 1; and the program setting rate 1 itself) and, when
#       `leakhound trace --help` lists it, --mallocgc;
#   (d) --rate 4096 against the program setting 4 KiB itself: 128 times the probe hits
#       of 512 KiB with the live map far from full, so that the cost of one probe hit
#       stands out of the noise; times the hits per operation of (a) and (b), it gives
#       their probe cost in a way that load on the machine disturbs much less.
# plus, per traced case, the tracer's own CPU time (utime+stime from /proc/PID/stat)
# during the measured phase and over its whole run, and its peak RSS (VmHWM).
#
# Each run: the workload warms up, prints "ready" and waits for SIGUSR1; for a traced
# case leakhound is started then, and the signal is sent only once every BPF link of
# the tracer is in place (its bpf_link file descriptors, stable for 0.5 s); the
# workload then starts measuring once it sees the case's MemProfileRate (leakhound
# writes it after attaching, maybe later than its last link). After the
# measured phase the tracer must exit 0 on SIGINT having printed at least one report
# with probe hits, and the workload must have seen the sampling rate the case expects
# (runtime.MemProfileRate read by the workload as its measured phase starts and ends); a case
# that fails any of these is reported as FAILED, left out of the figures, and the
# script exits 1.
#
# usage: scripts/bench-trace.sh [-r REPS] [-s SECONDS] [-w WARMUP] [-i INTERVAL]
#                               [-g RELEASES] [-c CASES] [-k]
#   -r  repetitions of every case (default 5)
#   -s  length of the measured phase in seconds (default 10)
#   -w  warm-up seconds before it (default 2)
#   -i  the tracer's report interval, `trace -i` (default 5)
#   -g  Go releases to build the workload with, space-separated: local (/usr/local/go),
#       debian (Debian's go1.19) or goX.Y.Z (through GOTOOLCHAIN); default "local"
#   -c  a comma-separated subset of the cases (names below); default all
#   -k  keep the per-run files (printed at the end)
# env: OUTPUT (build), LEAKHOUND ($OUTPUT/leakhound), BENCH_MALLOCGC_ARGS (the tracer
# arguments of the --mallocgc case; default "--mallocgc --no-write"), BENCH_TRACER_ARGS
# (added to every traced case, e.g. "--no-goroutines" or "-i 10").
# Needs root (BPF, uprobes); not part of `make test` (`make bench-trace` runs it).
set -uo pipefail
cd "$(dirname "$0")/.."

OUTPUT=${OUTPUT:-build}
LEAKHOUND=${LEAKHOUND:-$OUTPUT/leakhound}
MALLOCGC_ARGS=${BENCH_MALLOCGC_ARGS:---mallocgc --no-write}
TRACER_ARGS=${BENCH_TRACER_ARGS:-}
reps=5
secs=10
warmup=2
interval=5
releases=(local)
only=
keep=
cmdline="scripts/bench-trace.sh $*"

usage() {
	sed -n '/^# usage:/,/^# Needs root/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while getopts "r:s:w:i:g:c:kh" opt; do
	case $opt in
	r) reps=$OPTARG ;;
	s) secs=$OPTARG ;;
	w) warmup=$OPTARG ;;
	i) interval=$OPTARG ;;
	g) read -ra releases <<< "$OPTARG" ;;
	c) only=",$OPTARG," ;;
	k) keep=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
for v in "$reps" "$secs" "$interval"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench-trace: -r, -s, -i take a positive integer" >&2; exit 2; }
done
[[ $warmup =~ ^[0-9]+$ ]] || { echo "bench-trace: -w takes an integer" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench-trace: needs root (BPF programs and uprobes)" >&2; exit 1; }
[ -x "$LEAKHOUND" ] || { echo "bench-trace: no $LEAKHOUND (run make first)" >&2; exit 1; }
command -v jq > /dev/null || { echo "bench-trace: needs jq" >&2; exit 1; }

tmp=$(mktemp -d /tmp/bench-trace.XXXXXX)
cleanup() {
	# only the background jobs of this script still running (waited ones are gone)
	for p in $(jobs -p); do kill -TERM "$p" 2> /dev/null; done
	[ -n "$keep" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the workload, built now ----

. scripts/go-releases.sh
# build RELEASE: prints the release's tag; builds $OUTPUT/allocbench/TAG/{pprof,nopprof}
build() {
	local gocmd tag dir v
	gocmd=$(go_cmd "$1") || { echo "bench-trace: unknown release '$1'" >&2; return 1; }
	tag=$($gocmd env GOVERSION) || { echo "bench-trace: Go release '$1' not available" >&2; return 1; }
	dir=$OUTPUT/allocbench/$tag
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	for v in pprof nopprof; do
		if [ ! -x "$dir/$v" ] || [ -n "$(find tools/allocbench -newer "$dir/$v" -name '*.go')" ]; then
			local tags=()
			[ $v = pprof ] && tags=(-tags pprof)
			(cd tools/allocbench && CGO_ENABLED=0 GOFLAGS=-mod=mod $gocmd build \
				"${tags[@]}" -o "$dir/$v" .) >&2 || return 1
		fi
	done
	echo "$tag"
}

have_mallocgc=
"$LEAKHOUND" trace --help 2>&1 | grep -q -- '--mallocgc' && have_mallocgc=1

# ---- cases ----
# name | build | workload arguments | tracer arguments ("-": untraced) | the
# MemProfileRate the workload must see when its measured phase starts and ends ("any":
# not checked). --rate 1 and 4096 run with --budget 0: the probe budget would otherwise
# back the rate off during the measured phase (it does at the default 10000 events/s).
cases=(
	"pprof|pprof||-|524288"
	"pprof+trace|pprof|||524288"
	"rate0|nopprof||-|0"
	"rate0+self512k|nopprof|-memprofilerate 524288|-|524288"
	"rate0+trace|nopprof|||524288"
	"rate0+self1|nopprof|-memprofilerate 1|-|1"
	"rate0+trace-rate1|nopprof||--rate 1 --budget 0|1"
	"rate0+trace-mallocgc|nopprof||$MALLOCGC_ARGS|0"
	"rate0+self4k|nopprof|-memprofilerate 4096|-|4096"
	"rate0+trace-rate4k|nopprof||--rate 4096 --budget 0|4096"
)
# Comparisons: group | case | baseline | what | "hit": same sampling rate on both
# sides, so the CPU difference is the probes' and is also given per probe hit;
# "sample": untraced, the runtime's own price, also given per sampled allocation
comparisons=(
	"a|pprof+trace|pprof|probes, binary already sampling at 512 KiB|hit"
	"b|rate0+self512k|rate0|runtime's own price: program sets 512 KiB itself|sample"
	"b|rate0+trace|rate0|leakhound sets 512 KiB and probes: total|"
	"b|rate0+trace|rate0+self512k|the probes alone, on top of the runtime's price|hit"
	"c|rate0+self1|rate0|runtime's own price of rate 1 (program sets it)|sample"
	"c|rate0+trace-rate1|rate0|trace --rate 1 --budget 0 (exact): total|"
	"c|rate0+trace-rate1|rate0+self1|the probes alone at rate 1|hit"
	"c|rate0+trace-mallocgc|rate0|trace --mallocgc: a probe on every allocation|hit"
	"d|rate0+self4k|rate0|runtime's own price of 4 KiB (program sets it)|sample"
	"d|rate0+trace-rate4k|rate0|trace --rate 4096 --budget 0: total|"
	"d|rate0+trace-rate4k|rate0+self4k|the probes alone at 4 KiB|hit"
)
sel=()
for c in "${cases[@]}"; do
	name=${c%%|*}
	[ -z "$only" ] || [[ $only == *",$name,"* ]] || continue
	if [ "$name" = rate0+trace-mallocgc ] && [ -z "$have_mallocgc" ]; then
		mallocgc_note="--mallocgc: not run, \`$LEAKHOUND trace --help\` does not list it (not built in yet)"
		continue
	fi
	sel+=("$c")
done
[ ${#sel[@]} -gt 0 ] || { echo "bench-trace: no case selected" >&2; exit 2; }

# ---- one run ----

clk_tck=$(getconf CLK_TCK)
# CPU seconds (utime+stime, all threads) of a process; empty when it is gone.
cpu_of() {
	local s
	s=$(cat "/proc/$1/stat" 2> /dev/null) || return 0
	s=${s##*) }
	awk -v t="$clk_tck" '{ printf "%.2f", ($12 + $13) / t }' <<< "$s"
}
hwm_of() {
	awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status" 2> /dev/null
}
links_of() {
	ls -l "/proc/$1/fd" 2> /dev/null | grep -c 'anon_inode:bpf_link' || true
}
# wait_line FILE REGEX SECONDS
wait_line() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -qE "$2" "$1" 2> /dev/null && return 0
		sleep 0.05
	done
	return 1
}
# wait_attached PID SECONDS: every BPF link of the tracer in place, stable for 0.5 s
wait_attached() {
	local i n last=-1 same=0
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$1" 2> /dev/null || return 1
		n=$(links_of "$1")
		if [ "$n" -gt 0 ] && [ "$n" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 10 ] && return 0
		else
			same=0
		fi
		last=$n
		sleep 0.05
	done
	return 1
}

failed=0
# results.tsv: release case rep ok ops_per_s ns_per_alloc cpu_ns_per_op rate gcs
#              tracer_cpu_meas_s tracer_cpu_total_s tracer_hwm_kib probe_events drops note
#              tracer_wall_s workload_cpu_share_pct alloc_bytes_per_op allocs_per_op
results=$tmp/results.tsv
: > "$results"

run_one() { # tag bindir rep case-spec
	local tag=$1 dir=$2 rep=$3 spec=$4
	local name build wargs targs expect
	IFS='|' read -r name build wargs targs expect <<< "$spec"
	local f=$tmp/$tag.$name.$rep
	local ok=1 note= tpid lpid= c0= c1= tot= hwm= ev=- drops=- rc t0= wall=-
	# traced: the workload measures only once it sees the rate the tracer writes (after
	# attaching its probes), not merely once the tracer's links are there
	[ "$targs" != - ] && [ "$expect" != any ] && wargs="$wargs -wait-rate $expect"
	# shellcheck disable=SC2086
	"$dir/$build" -seconds "$secs" -warmup "$warmup" -wait -linger $wargs > "$f.target" 2>&1 &
	tpid=$!
	if ! wait_line "$f.target" '^ready$' $((warmup + 60)); then
		ok=0 note="workload not ready: $(head -c 200 "$f.target")"
	fi
	if [ $ok = 1 ] && [ "$targs" != - ]; then
		# shellcheck disable=SC2086
		"$LEAKHOUND" trace -p "$tpid" -i "$interval" --json $targs $TRACER_ARGS > "$f.lh" 2> "$f.lherr" &
		lpid=$!
		t0=$(date +%s.%N)
		if ! wait_attached "$lpid" 30; then
			ok=0 note="tracer did not attach: $(tr '\n' ' ' < "$f.lherr" | head -c 300)"
		fi
		c0=$(cpu_of "$lpid")
	fi
	[ $ok = 1 ] && kill -USR1 "$tpid"
	if [ $ok = 1 ] && ! wait_line "$f.target" '^result ' $((secs * 3 + 60)); then
		ok=0 note="no result from the workload: $(tail -c 200 "$f.target")"
	fi
	if [ -n "$lpid" ]; then
		c1=$(cpu_of "$lpid")
		tot=$c1 hwm=$(hwm_of "$lpid")
		kill -INT "$lpid" 2> /dev/null
		# the last values seen before it exits: its final report counts too
		local t h
		while kill -0 "$lpid" 2> /dev/null; do
			t=$(cpu_of "$lpid") h=$(hwm_of "$lpid")
			[ -n "$t" ] && [ -n "$h" ] || break
			tot=$t hwm=$h
			sleep 0.02
		done
		wait "$lpid"
		rc=$?
		wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
		if [ $ok = 1 ]; then
			local nrep
			nrep=$(grep -c '^{' "$f.lh")
			if [ "$rc" != 0 ]; then
				ok=0 note="tracer exit status $rc: $(tr '\n' ' ' < "$f.lherr" | head -c 300)"
			elif [ "$nrep" -lt 1 ]; then
				ok=0 note="tracer printed no report"
			else
				ev=$(tail -n 1 "$f.lh" | jq '[.stats | to_entries[] | select(.key | startswith("probe_")) | .value] | add // 0')
				drops=$(tail -n 1 "$f.lh" | jq '.stats.drops // 0')
				[ "$ev" -gt 0 ] 2> /dev/null || { ok=0 note="tracer reports no probe hit ($ev)"; }
			fi
		fi
	fi
	kill -TERM "$tpid" 2> /dev/null
	wait "$tpid" 2> /dev/null
	local res
	res=$(grep '^result ' "$f.target")
	kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$res"; }
	local rate
	rate=$(kv rate_before)
	if [ $ok = 1 ] && [ "$expect" != any ] && [ "$rate" != "$expect" ]; then
		ok=0 note="the workload saw MemProfileRate $rate, not $expect"
	elif [ $ok = 1 ] && [ "$expect" != any ] && [ "$(kv rate_after)" != "$expect" ]; then
		ok=0 note="MemProfileRate changed during the measured phase: $rate -> $(kv rate_after)"
	fi
	if [ $ok = 0 ]; then
		failed=$((failed + 1))
		echo "FAILED $tag $name rep $rep: $note" >&2
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tag" "$name" "$rep" "$ok" \
		"$(kv ops_per_s)" "$(kv ns_per_alloc)" "$(kv cpu_ns_per_op)" "$rate" "$(kv gcs)" \
		"$(awk -v a="$c0" -v b="$c1" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.2f", b - a }')" \
		"${tot:--}" "${hwm:--}" "$ev" "$drops" "$note" "$wall" \
		"$(awk -v c="$(kv cpu_s)" -v s="$(kv seconds)" -v p="$(kv procs)" 'BEGIN { if (s * p > 0) printf "%.1f", c * 100 / (s * p); else print "-" }')" \
		"$(awk -v b="$(kv alloc_bytes)" -v o="$(kv ops)" 'BEGIN { if (o > 0) printf "%.0f", b / o; else print "-" }')" \
		"$(kv allocs_per_op)" >> "$results"
	printf '  %-8s %-22s rep %d: %s ops/s%s\n' "$tag" "$name" "$rep" "$(kv ops_per_s)" \
		"$([ $ok = 1 ] || echo " FAILED")" >&2
}

# ---- report ----

# median of the numbers on stdin (one a line); "-" when none
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
col() { # tag case column: the column of the good runs
	awk -F '\t' -v t="$1" -v c="$2" -v k="$3" '$1 == t && $2 == c && $4 == 1 && $k != "-" { print $k }' "$results"
}
# paired ratios case/baseline of column k, one per repetition where both ran
ratios() { # tag case base k
	awk -F '\t' -v t="$1" -v c="$2" -v b="$3" -v k="$4" '
		$1 == t && $4 == 1 && $2 == c { x[$3] = $k }
		$1 == t && $4 == 1 && $2 == b { y[$3] = $k }
		END { for (r in x) if (r in y && y[r] > 0) printf "%.4f\n", x[r] / y[r] }' "$results"
}
# probe hits per workload operation: hits/s over the tracer's run / ops/s of the measured phase
hits_per_op() { # tag case
	awk -F '\t' -v t="$1" -v c="$2" '$1 == t && $2 == c && $4 == 1 && $13 != "-" && $16 > 0 && $5 > 0 {
		print $13 / $16 / $5 }' "$results" | median
}
# extra CPU (ns) per probe hit: the CPU/op difference over the hits per op
hit_cost() { # tag case base
	local h
	h=$(hits_per_op "$1" "$2")
	awk -v a="$(col "$1" "$3" 7 | median)" -v b="$(col "$1" "$2" 7 | median)" -v h="$h" 'BEGIN {
		if (h != "-" && h > 0 && a != "-" && b != "-") printf "%.1f", (b - a) / h }'
}
# the runtime's own CPU (ns) per sampled allocation: CPU/op difference over samples per op
# (allocated bytes per op / rate; at rate 1 every allocation)
sample_cost() { # tag case base
	local rate
	rate=$(col "$1" "$2" 8 | median)
	awk -v a="$(col "$1" "$3" 7 | median)" -v b="$(col "$1" "$2" 7 | median)" \
		-v y="$(col "$1" "$2" 18 | median)" -v n="$(col "$1" "$2" 19 | median)" -v r="$rate" 'BEGIN {
		if (r == "-" || r <= 0 || y == "-" || a == "-" || b == "-") exit
		s = r == 1 ? n : y / r
		printf "%.1f", (b - a) / s }'
}
report() { # tag
	local tag=$1 c name n dcost dsample
	dcost=$(hit_cost "$tag" rate0+trace-rate4k rate0+self4k)
	dsample=$(sample_cost "$tag" rate0+self4k rate0)
	printf '\n== %s: %s x %s s measured after %s s warm-up, tracer `trace -p PID -i %s --json%s`\n' \
		"$tag" "$reps" "$secs" "$warmup" "$interval" "${TRACER_ARGS:+ $TRACER_ARGS}"
	printf '%-22s %4s %9s %9s %10s %5s %7s %4s %7s %8s %7s %9s %6s\n' case runs ops/s ns/alloc \
		cpu-ns/op cpu% rate GCs "tracer%" "tracer-s" "RSS-MiB" "probes/s" drops
	for c in "${sel[@]}"; do
		name=${c%%|*}
		n=$(col "$tag" "$name" 5 | wc -l)
		local ops nsa cpo rate gcs tm tt hwm ev dr sh
		sh=$(col "$tag" "$name" 17 | median)
		ops=$(col "$tag" "$name" 5 | median)
		nsa=$(col "$tag" "$name" 6 | median)
		cpo=$(col "$tag" "$name" 7 | median)
		rate=$(col "$tag" "$name" 8 | median)
		gcs=$(col "$tag" "$name" 9 | median)
		tm=$(col "$tag" "$name" 10 | median)
		tt=$(col "$tag" "$name" 11 | median)
		hwm=$(col "$tag" "$name" 12 | median)
		ev=$(awk -F '\t' -v t="$tag" -v c="$name" -v s="$secs" '$1 == t && $2 == c && $4 == 1 && $13 != "-" && $16 > 0 { print $13 / $16 }' "$results" | median)
		dr=$(col "$tag" "$name" 14 | median)
		awk -v n="$name" -v r="$n" -v ops="$ops" -v nsa="$nsa" -v cpo="$cpo" -v rate="$rate" \
			-v gcs="$gcs" -v tm="$tm" -v s="$secs" -v tt="$tt" -v hwm="$hwm" -v ev="$ev" -v dr="$dr" -v sh="$sh" '
			function f(fmt, v) { return v == "-" || v == "" ? "-" : sprintf(fmt, v) }
			BEGIN {
				printf "%-22s %4d %9s %9s %10s %5s %7s %4s %7s %8s %7s %9s %6s\n", n, r,
					f("%.0f", ops), f("%.1f", nsa), f("%.0f", cpo), f("%.0f", sh), f("%d", rate),
					f("%d", gcs), f("%.2f", tm == "-" ? "-" : tm * 100 / s), f("%.2f", tt),
					f("%.1f", hwm == "-" ? "-" : hwm / 1024), f("%.0f", ev), f("%d", dr)
			}'
	done
	local g last=
	for c in "${comparisons[@]}"; do
		local grp cs base what hit
		IFS='|' read -r grp cs base what hit <<< "$c"
		[ "$(col "$tag" "$cs" 5 | wc -l)" -gt 0 ] && [ "$(col "$tag" "$base" 5 | wc -l)" -gt 0 ] || continue
		if [ "$grp" != "$last" ]; then
			case $grp in
			a) g="(a) leakhound's probes on a binary that already samples (goal: < 2% throughput)" ;;
			b) g="(b) turning sampling on in a binary whose linker disabled it" ;;
			c) g="(c) exact mode and --mallocgc" ;;
			d) g="(d) 4 KiB: 128x the probe hits of 512 KiB, the cost of one hit above the noise" ;;
			esac
			printf '\n%s\n' "$g"
			last=$grp
		fi
		local thr cpu
		thr=$(ratios "$tag" "$cs" "$base" 5 | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.3f %.3f %.3f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }')
		cpu=$(ratios "$tag" "$cs" "$base" 7 | median)
		awk -v cs="$cs" -v b="$base" -v w="$what" -v thr="$thr" -v cpu="$cpu" 'BEGIN {
			split(thr, t, " ")
			printf "  %-20s / %-14s throughput x%.3f (%+.1f%%, paired %.3f..%.3f), CPU/op x%.3f (%+.1f%%)\n",
				cs, b, t[1], (t[1] - 1) * 100, t[2], t[3], cpu, (cpu - 1) * 100
			printf "      %s\n", w
		}'
		if [ "$hit" = sample ]; then
			local rate spo
			rate=$(col "$tag" "$cs" 8 | median)
			spo=$(awk -v b="$(col "$tag" "$cs" 18 | median)" -v n="$(col "$tag" "$cs" 19 | median)" -v r="$rate" 'BEGIN { if (r > 0 && b > 0) printf "%.6f", (r == 1 ? n : b / r) }')
			awk -v s="$spo" -v c="$(sample_cost "$tag" "$cs" "$base")" -v d="$dsample" -v isd="$([ "$grp" = d ] && echo 1)" \
				-v b="$(col "$tag" "$base" 7 | median)" 'BEGIN {
				if (s == "" || s <= 0) exit
				printf "      %.4f sampled allocations per operation; CPU/op difference per sample %.2f us", s, c / 1000
				if (!isd && b > 0 && s * 5000 / b < 0.02)
					printf " (noise here: at even 5 us a sample they would be < 2%% of CPU/op)"
				if (!isd && d != "" && b > 0)
					printf ";\n      with (d)'"'"'s %.2f us a sample, the runtime'"'"'s sampling costs %+.2f%% CPU/op", d / 1000, s * d * 100 / b
				printf "\n"
			}'
		fi
		if [ "$hit" = hit ]; then
			local hpo cost
			hpo=$(hits_per_op "$tag" "$cs")
			cost=$(hit_cost "$tag" "$cs" "$base")
			# (a --mallocgc hit is another probe: no extrapolation from (d))
			awk -v h="$hpo" -v c="$cost" -v d="$dcost" -v b="$(col "$tag" "$base" 7 | median)" \
				-v isd="$([ "$grp" = d ] && echo 1)" -v mg="$([[ $cs == *mallocgc* ]] && echo 1)" 'BEGIN {
				if (h == "-" || h <= 0) exit
				printf "      %.4f probe hits per operation; CPU/op difference per probe hit %.2f us", h, c / 1000
				if (!isd && b > 0 && h * 5000 / b < 0.02)
					printf " (noise here: at even 5 us a hit they would be < 2%% of CPU/op)"
				if (!isd && !mg && d != "" && b > 0)
					printf ";\n      with (d)'"'"'s %.2f us a hit, the probes cost %+.2f%% CPU/op", d / 1000, h * d * 100 / b
				printf "\n"
			}'
		fi
	done
}

# The runtime's own switch, measured on the build without runtime/pprof: it starts at
# MemProfileRate 0 (the linker set runtime.disableMemoryProfiling and the runtime zeroed
# the rate at start), and once the program assigns 512 KiB itself the runtime samples
# again: `trace --no-write`, which writes nothing, sees profilealloc hits at the
# target's own rate. This is what makes rate0+self512k the runtime's own price.
verify_switch() { # tag dir
	local f=$tmp/$1.switch tpid rc allocs rate by res
	"$2/nopprof" -seconds 1 -warmup 0 -wait -linger -memprofilerate 524288 > "$f.target" 2>&1 &
	tpid=$!
	wait_line "$f.target" '^ready$' 60
	"$LEAKHOUND" trace -p "$tpid" --no-write -i 1 -d 3 --json > "$f.lh" 2> "$f.lherr"
	rc=$?
	kill -USR1 "$tpid" 2> /dev/null
	wait_line "$f.target" '^result ' 60
	kill -TERM "$tpid" 2> /dev/null
	wait "$tpid" 2> /dev/null
	allocs=$(tail -n 1 "$f.lh" | jq '.stats.probe_allocs // 0' 2> /dev/null)
	rate=$(tail -n 1 "$f.lh" | jq '.go_heap.sample_rate' 2> /dev/null)
	by=$(tail -n 1 "$f.lh" | jq '.go_heap.sample_rate_set_by_leakhound' 2> /dev/null)
	res=$(grep -o 'rate_at_start=[0-9]* rate_before=[0-9]*' "$f.target")
	if [ "$rc" = 0 ] && [ "${allocs:-0}" -gt 0 ] && [ "$rate" = 524288 ] && [ "$by" = false ] &&
		[ "$res" = "rate_at_start=0 rate_before=524288" ]; then
		switch_note="$1: verified: the build without runtime/pprof starts at MemProfileRate 0 and samples once it sets 524288 itself (trace --no-write: $allocs profilealloc hits in 3 s, rate $rate not set by leakhound)"
	else
		switch_note="$1: FAILED to verify that a program's own MemProfileRate assignment turns sampling on (trace --no-write rc $rc, profilealloc hits ${allocs:-?}, rate ${rate:-?}, set by leakhound ${by:-?}; workload: ${res:-no result}; $(head -c 200 "$f.lherr"))"
		failed=$((failed + 1))
	fi
	echo "bench-trace: $switch_note" >&2
	switch_notes+=("$switch_note")
}
switch_notes=()

# ---- main ----

load_start=$(cut -d ' ' -f 1-3 /proc/loadavg)
echo "bench-trace: $cmdline" >&2
echo "bench-trace: $(nproc) CPUs, load average at start $load_start; $reps repetitions of ${#sel[@]} cases per release" >&2
tags=()
for rel in "${releases[@]}"; do
	tag=$(build "$rel") || exit 1
	tags+=("$tag")
	dir=$(cd "$OUTPUT/allocbench/$tag" && pwd)
	verify_switch "$tag" "$dir"
	for ((rep = 1; rep <= reps; rep++)); do
		order=("${sel[@]}")
		if ((rep % 2 == 0)); then # backward every other repetition
			order=()
			for ((j = ${#sel[@]} - 1; j >= 0; j--)); do order+=("${sel[j]}"); done
		fi
		for c in "${order[@]}"; do
			run_one "$tag" "$dir" "$rep" "$c"
		done
	done
done
load_end=$(cut -d ' ' -f 1-3 /proc/loadavg)

echo "leakhound trace benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "command: ${BENCH_TRACER_ARGS:+BENCH_TRACER_ARGS=\"$BENCH_TRACER_ARGS\" }$cmdline"
echo "leakhound: $("$LEAKHOUND" --version 2>/dev/null | head -n 1) ($LEAKHOUND)"
echo "machine: $(nproc) CPUs, $(uname -r); load average at start $load_start, at end $load_end"
echo "medians over the repetitions; ratios are medians of per-repetition ratios to the"
echo "untraced case of the same invocation (throughput: >1 faster; CPU/op: >1 costlier)"
echo "tracer%: the tracer's CPU time over the measured phase (% of one CPU); tracer-s: over its"
echo "whole run (attach, reports, detach); RSS-MiB: its peak RSS; probes/s: probe hits in its"
echo "last report per second of its run (see docs/PERFORMANCE.md)"
for tag in "${tags[@]}"; do report "$tag"; done
echo
for n in "${switch_notes[@]}"; do echo "$n"; done
[ -n "${mallocgc_note:-}" ] && printf '\n%s\n' "$mallocgc_note"
if [ -n "$keep" ]; then
	echo
	echo "per-run files and results.tsv: $tmp"
fi
if [ $failed -gt 0 ]; then
	echo
	echo "FAILED: $failed run(s), left out of the figures:"
	awk -F '\t' '$4 == 0 { printf "  %s %s rep %s: %s\n", $1, $2, $3, $15 }' "$results"
	exit 1
fi
