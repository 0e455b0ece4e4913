#!/usr/bin/env bash
# The daemon's own memory over a long run (issue 8, part 5): `leakhound daemon` traces
# three long-lived fixtures (a plateau cache, a goroutine pool, steady churn) while short ones
# (1-4 s) come and go, one every half second, and its HTTP endpoints are read every
# 2 s (metrics, targets, suspects, a heap and a goroutine profile). Its RSS (VmRSS) is
# sampled every second; after a warm-up (the first third), RSS must stay flat: the mean
# of the last third at most 5% + 1 MiB above the mean of the middle third. Prints
# PASS/FAIL lines and writes the samples to $OUTPUT/test-output/soak-rss.tsv.
# usage: scripts/soak.sh [SECONDS]   (default 1800; tests/integration/soak.sh runs 90)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

secs=${1:-1800}
setup_tmp
need_root soak
mkdir -p "$OUTPUT/test-output"
series="$OUTPUT/test-output/soak-rss.tsv"

newest=$(newest_release)
for f in gorgrow steady; do cp "$(fixture_of "$newest" "$f" default)" "$tmp/soak-$f"; done

"$LEAKHOUND" daemon --foreground --listen 127.0.0.1:0 -i 2 --snapshot-dir "$tmp/snaps" \
	--include-exe "$tmp/soak-*" > "$tmp/d.out" 2> "$tmp/d.err" &
dp=$!
pids+=("$dp")
port=$(daemon_port "$tmp/d.out")
[ -n "$port" ] || { fail "soak: the daemon did not start ($(tail -1 "$tmp/d.err"))"; finish; }

# the long-lived ones, bounded (a target that leaks makes the daemon's own data about
# it grow, rightly): a plateau cache, a fixed goroutine pool, steady churn
"$tmp/soak-steady" -mode plateau -duration $((secs + 60))s > /dev/null 2>&1 &
pids+=($!)
lpid=$!
"$tmp/soak-gorgrow" -mode pool -duration $((secs + 60))s > /dev/null 2>&1 &
pids+=($!)
"$tmp/soak-steady" -mode churn -duration $((secs + 60))s > /dev/null 2>&1 &
pids+=($!)

rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$dp/status" 2> /dev/null; }
: > "$series"
start=$(date +%s)
n=0
while :; do
	now=$(date +%s)
	t=$((now - start))
	[ "$t" -ge "$secs" ] && break
	# a short target every half second (1-4 s)
	"$tmp/soak-steady" -mode churn -duration "$((n % 4 + 1))s" > /dev/null 2>&1 &
	n=$((n + 1))
	if [ $((n % 4)) = 0 ]; then
		for path in metrics api/v1/targets api/v1/suspects "debug/pprof/heap?pid=$lpid" \
			"debug/pprof/goroutine?pid=$lpid&debug=1"; do
			curl -s -o /dev/null "http://127.0.0.1:$port/$path"
		done
	fi
	[ $((n % 2)) = 0 ] && printf '%s\t%s\n' "$t" "$(rss)" >> "$series"
	sleep 0.5
done
wait_children=$(jobs -p | wc -l)

check "soak: the daemon ran ${secs} s with $n short targets" kill -0 "$dp"
# flat after warm-up: thirds of the samples by time
read -r mid last max <<< "$(awk -v s="$secs" '
	$1 >= s / 3 && $1 < 2 * s / 3 { m += $2; mn++ }
	$1 >= 2 * s / 3 { l += $2; ln++ }
	$2 > x { x = $2 }
	END { printf "%d %d %d\n", mn ? m / mn : 0, ln ? l / ln : 0, x }' "$series")"
echo "soak: daemon RSS (KiB) mean of the middle third $mid, of the last third $last, max $max;" \
	"$n short targets; samples in $series"
check "soak: daemon RSS flat after warm-up (last third $last KiB <= 1.05 x $mid + 1024)" \
	[ "$mid" -gt 0 ] && [ "$last" -le $((mid * 105 / 100 + 1024)) ]
curl -s "http://127.0.0.1:$port/metrics" > "$tmp/metrics"
echo "soak: $(grep -E '^leakhound_targets_(attached|detached)_total|^leakhound_attach_failures_total' "$tmp/metrics" | tr '\n' ' ')"
prog_ids_of "$dp" > "$tmp/progs"
kill -TERM "$dp"
wait "$dp"
check "soak: daemon exits 0 on SIGTERM" [ $? = 0 ]
check "soak: its programs are gone" wait_progs_gone "$tmp/progs"
check "soak: no crash or sanitizer report in its log" \
	bash -c "! grep -qE 'Segmentation|AddressSanitizer|LeakSanitizer|Aborted' '$tmp/d.err'"
: "$wait_children"
finish
