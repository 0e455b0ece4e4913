#!/usr/bin/env bash
# The daemon's own cost (docs/PERFORMANCE.md, "The daemon"): leakhound daemon at its
# default settings (reports every 10 s per target, goroutine and C heap tracing on, the
# sampling rate written) with N traced Go processes under steady load, for each N in
# -n (default "1 10 50"):
#   - N copies of tests/fixtures/steady (-mode churn: a 1 MiB window of 64 KiB buffers
#     turned over every second, GOGC=20: steady allocation and GC, no leak) start first;
#   - the daemon starts, and once /api/v1/targets lists all N, its CPU time (utime +
#     stime of /proc/PID/stat) and RSS are read at the start and end of a measured
#     phase of -s seconds (default 120), with its peak RSS (VmHWM);
#   - then, -a times (default 5), one of the N exits and a new process starts, and the
#     time until /api/v1/targets lists it is measured (polled every 10 ms), with the
#     daemon's own discovery-to-attach figure (attach_ms).
# The daemon is told to trace the benchmark's processes only (--include-exe); all its
# other settings are the defaults. Run it on a quiet machine.
# Prints one row per N: CPU % of one core over the phase, RSS, peak RSS, attach latency
# (median and max, polled and the daemon's own).
#
# usage: scripts/bench-daemon.sh [-n "1 10 50"] [-s SECONDS] [-a ATTACHES] [-k]
# env: OUTPUT (build), LEAKHOUND ($OUTPUT/leakhound). Needs root; `make bench-daemon`.
set -uo pipefail
cd "$(dirname "$0")/.."

OUTPUT=${OUTPUT:-build}
LEAKHOUND=${LEAKHOUND:-$OUTPUT/leakhound}
counts="1 10 50"
secs=120
attaches=5
keep=

while getopts "n:s:a:kh" c; do
	case $c in
	n) counts=$OPTARG ;;
	s) secs=$OPTARG ;;
	a) attaches=$OPTARG ;;
	k) keep=1 ;;
	*)
		sed -n '/^# usage:/,/^# env:/p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
done

[ "$(id -u)" = 0 ] || { echo "bench-daemon: needs root" >&2; exit 1; }
bin=$(awk '$3 == "steady" && $4 == "default" && $2 ~ /^go1\.26/ { print $1; exit }' \
	"$OUTPUT/fixtures/manifest.tsv" 2> /dev/null)
[ -n "$bin" ] || bin=$(awk '$3 == "steady" && $4 == "default" { print $1; exit }' \
	"$OUTPUT/fixtures/manifest.tsv" 2> /dev/null)
[ -x "$bin" ] || { echo "bench-daemon: no steady fixture (tests/fixtures/build.sh $OUTPUT/fixtures)" >&2; exit 1; }
[ -x "$LEAKHOUND" ] || { echo "bench-daemon: no $LEAKHOUND (make)" >&2; exit 1; }

tmp=$(mktemp -d)
targets=()
daemon=
cleanup() {
	[ -n "$daemon" ] && kill "$daemon" 2> /dev/null && wait "$daemon" 2> /dev/null
	for p in "${targets[@]}"; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	if [ -n "$keep" ]; then echo "bench-daemon: files in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

ticks=$(getconf CLK_TCK)
cpu_s() { awk -v t="$ticks" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
rss_kb() { awk -v k="$2" '$1 == k ":" { print $2 }' "/proc/$1/status"; }
now_ms() { date +%s%3N; }

start_target() {
	"$bin" -mode churn -cap $((1 << 20)) -duration 1h > /dev/null 2>&1 &
	targets+=($!)
}

ntargets() { curl -s "http://127.0.0.1:$port/api/v1/targets" | jq '.targets | length' 2> /dev/null || echo 0; }
listed() { curl -s "http://127.0.0.1:$port/api/v1/targets" | jq -e --argjson p "$1" 'any(.targets[]; .pid == $p)' > /dev/null 2>&1; }

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "-" }'; }

printf 'bench-daemon: %s CPUs, load %s, %s, %s s measured, default settings\n' "$(nproc)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" "$("$LEAKHOUND" --version | head -1)" "$secs"
printf '%8s %9s %9s %11s %13s %13s %13s\n' targets cpu-% rss-MB peak-rss-MB attach-ms-med attach-ms-max daemon-ms-med
for n in $counts; do
	targets=()
	for _ in $(seq "$n"); do start_target; done
	sleep 1
	# only the benchmark's processes (whatever else runs here is not its business)
	"$LEAKHOUND" daemon --foreground --listen 127.0.0.1:0 --include-exe "$(basename "$bin")" \
		> "$tmp/d$n.out" 2> "$tmp/d$n.err" &
	daemon=$!
	for _ in $(seq 100); do grep -qs listening "$tmp/d$n.out" && break; sleep 0.1; done
	port=$(grep -o '127.0.0.1:[0-9]*' "$tmp/d$n.out" | head -1 | cut -d: -f2)
	for _ in $(seq 600); do [ "$(ntargets)" -ge "$n" ] && break; sleep 0.1; done
	if [ "$(ntargets)" -lt "$n" ]; then
		echo "bench-daemon: only $(ntargets) of $n targets attached; see $tmp/d$n.err" >&2
		keep=1
		exit 1
	fi
	c0=$(cpu_s "$daemon")
	t0=$(now_ms)
	sleep "$secs"
	c1=$(cpu_s "$daemon")
	t1=$(now_ms)
	rss=$(rss_kb "$daemon" VmRSS)
	hwm=$(rss_kb "$daemon" VmHWM)
	: > "$tmp/lat$n"
	: > "$tmp/own$n"
	# one of the N makes room first: with each new one the count is N again
	# (--max-targets is 50), and each new one exits before the next
	kill "${targets[0]}"
	sleep 1.5
	for _ in $(seq "$attaches"); do
		a0=$(now_ms)
		start_target
		p=${targets[-1]}
		for _ in $(seq 1000); do listed "$p" && break; sleep 0.01; done
		echo $(($(now_ms) - a0)) >> "$tmp/lat$n"
		curl -s "http://127.0.0.1:$port/api/v1/targets" |
			jq --argjson p "$p" '.targets[] | select(.pid == $p) | .attach_ms' >> "$tmp/own$n"
		kill "$p"
		sleep 1
	done
	printf '%8d %9.3f %9.1f %11.1f %13s %13s %13s\n' "$n" \
		"$(awk -v a="$c0" -v b="$c1" -v t=$((t1 - t0)) 'BEGIN { print 100 * (b - a) / (t / 1000) }')" \
		"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" \
		"$(median < "$tmp/lat$n")" "$(sort -n "$tmp/lat$n" | tail -1)" \
		"$(awk '{ printf "%.0f\n", $1 }' "$tmp/own$n" | median)"
	kill "$daemon"
	wait "$daemon"
	rc=$?
	daemon=
	[ "$rc" = 0 ] || echo "bench-daemon: the daemon exited $rc" >&2
	grep -q 'stretch\|reports every' "$tmp/d$n.err" &&
		echo "bench-daemon: $n targets: $(grep -c 'reports every' "$tmp/d$n.err") CPU-budget changes: $(grep 'reports every' "$tmp/d$n.err" | tail -1 | sed 's/.*warning: //')"
	for p in "${targets[@]}"; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
done
