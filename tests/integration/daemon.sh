#!/usr/bin/env bash
# `leakhound daemon` (src/daemon.c, src/daemon_http.c) on real Go processes, judged from
# outside:
#  - discovery and attach: fixtures started before and after it (newest release: leaky,
#    stripped leaky in its own PID and mount namespace under unshare, gorgrow, cgoleak,
#    goroutines; go1.19 leaky) are listed by /api/v1/targets with the pid, exe and
#    release (the fixture manifest's), the namespaced one by its host PID with
#    pid_in_namespace 1; a target that ends is detached (gone from the list,
#    leakhound_targets_detached_total grows), also a Go program that panics, and 20
#    fixtures SIGKILLed a few ms after they start (mid-attach) leave the daemon up;
#  - a Prometheus server scraping /metrics: leakhound_go_heap_inuse_bytes of the leaking
#    fixture grows between two queries of its HTTP API; promtool check metrics;
#  - go tool pprof -top on /debug/pprof/heap (leaky: main.leakCache), goroutine
#    (gorgrow: main.tickerLeak.func1) and cgo (cgoleak: lh_record_add); debug=1 and
#    debug=2 goroutine text against the goroutines fixture's own runtime/pprof text;
#  - the HTML page in headless Chromium: the DOM holds the goroutine suspect's function,
#    a screenshot is written (PNG magic, size; its path is printed, kept with KEEP=1);
#  - bad requests: unknown, malformed, missing pid (404, 400, 400), huge headers (431),
#    a slow client (408) while others are answered and reports keep coming; a token
#    (401 without, 200 with); bad --config files (one line, exit 2);
#  - SIGTERM: exit 0, every BPF program the daemon held (by id, from its fdinfo) gone,
#    and the fixtures' MemProfileRate back to 0 (they print it as they exit; one that
#    ended while traced prints the rate the daemon set);
#  - scripts/deploy: systemd-analyze verify of the unit (ExecStart pointed at the build),
#    the DaemonSet manifest parsed with python3-yaml (Namespace, ConfigMap, DaemonSet:
#    hostPID, capabilities, limits, selector), its config JSON accepted by the daemon.
# Not run: kubectl (no API server here, and --dry-run=client needs a client not
# packaged in Debian 12), systemd itself (no systemd as PID 1).
# The daemons only trace executables under the test's own directory (--include-exe):
# other Go processes of the machine are left alone.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp
need_root daemon
GO=${GO:-/usr/local/go/bin/go}
[ -x "$GO" ] || GO=/usr/lib/go-1.19/bin/go
T0=$(date +%s%N)
# other leakhound daemons on the machine (other test runs) trace our fixtures too, and
# write and restore their MemProfileRate on their own schedule
foreign_daemons() { pgrep -f '^[^ ]*leakhound daemon' | grep -v -x -E "${dpid:-x}|${tpid:-x}|${dspid:-x}"; }
foreign=$(foreign_daemons)
elapsed() { echo $((($(date +%s%N) - T0) / 1000000)); }
for c in curl python3 bpftool unshare; do
	if ! command -v $c > /dev/null; then
		fail "daemon: needs $c (scripts/deps.sh)"
		finish
	fi
done

# Fixtures: copies under $tmp/bin (the daemon is told to trace only those)
declare -A bin rel
newest=
while IFS=$'\t' read -r path r fixture variant; do
	case $r in go1.19*) key=old ;; *) [ -z "$newest" ] && newest=$r; [ "$r" = "$newest" ] || continue; key=new ;; esac
	bin[$key-$fixture-$variant]=$path
	rel[$key-$fixture-$variant]=$r
done < <(fixtures)
mkdir -p "$tmp/bin"
for k in new-leaky-default new-leaky-stripped new-gorgrow-default new-cgoleak-cgo \
	new-goroutines-default new-basic-default old-leaky-default; do
	if [ -z "${bin[$k]:-}" ]; then
		fail "daemon: fixture $k not in $FIXTURES/manifest.tsv (tests/fixtures/build.sh)"
		finish
	fi
	cp "${bin[$k]}" "$tmp/bin/$k"
done
B=$tmp/bin

# A Go program that panics a few seconds after it starts
mkdir -p "$tmp/crasher"
cat > "$tmp/crasher/main.go" << 'GO'
package main

import (
	"os"
	"strconv"
	"time"
)

var keep [][]byte

//go:noinline
func crashLater(ms int) {
	for i := 0; i < 64; i++ {
		keep = append(keep, make([]byte, 64<<10))
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
	panic("crasher: on purpose")
}

func main() {
	ms, _ := strconv.Atoi(os.Args[1])
	crashLater(ms)
}
GO
(cd "$tmp/crasher" && GOFLAGS= GO111MODULE=off "$GO" build -o "$B/crasher" main.go) \
	> "$tmp/crasher.log" 2>&1 &
crasher_build=$!

# ---- before the daemon ----
"$B/new-leaky-default" -rate 1048576 -churn 0 -duration 120s > "$tmp/leaky.out" 2>&1 &
leaky=$!
"$B/new-gorgrow-default" -mode ticker -rate 20 -duration 120s > "$tmp/gorgrow.out" 2>&1 &
gorgrow=$!
"$B/new-goroutines-default" -mode ticker -n 50 -dump "$tmp/gdump" -duration 120s \
	> "$tmp/goroutines.out" 2>&1 &
gor=$!
pids+=("$leaky" "$gorgrow" "$gor")

# ---- the daemon ----
dout=$tmp/daemon.out
derr=$tmp/daemon.err
"$LEAKHOUND" daemon --foreground --listen 127.0.0.1:0 -i 1 --max-cpu 0 \
	--include-exe "$B/*" > "$dout" 2> "$derr" &
dpid=$!
pids+=("$dpid")
port=
for _ in $(seq 100); do
	port=$(sed -n 's|^leakhound daemon: listening on http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "$dout" 2> /dev/null)
	[ -n "$port" ] && break
	kill -0 "$dpid" 2> /dev/null || break
	sleep 0.1
done
if [ -z "$port" ]; then
	fail "daemon: did not start: $(head -5 "$derr")"
	finish
fi
pass "daemon: says where it listens on stdout (port $port)"
U=http://127.0.0.1:$port

# a Prometheus server scraping it every second, from now on
prom_pid=
if command -v prometheus > /dev/null; then
	prom_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat > "$tmp/prom.yml" << YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: leakhound
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
	prometheus --config.file="$tmp/prom.yml" --storage.tsdb.path="$tmp/tsdb" \
		--web.listen-address="127.0.0.1:$prom_port" > "$tmp/prom.log" 2>&1 &
	prom_pid=$!
	pids+=("$prom_pid")
else
	skip "daemon: prometheus not installed (scripts/deps.sh)"
fi

# ---- after it ----
"$B/new-cgoleak-cgo" -mode records -rate 50 > "$tmp/cgoleak.out" 2>&1 &
cgoleak=$!
"$B/old-leaky-default" -rate 1048576 -churn 0 -duration 10s > "$tmp/oldleaky.out" 2>&1 &
oldleaky=$!
unshare --pid --mount --fork --mount-proc "$B/new-leaky-stripped" -rate 262144 -churn 0 \
	-duration 120s > "$tmp/ns.out" 2>&1 &
ns_outer=$!
pids+=("$cgoleak" "$oldleaky" "$ns_outer")
crasher=
if wait "$crasher_build"; then
	"$B/crasher" 4000 > "$tmp/crasher.out" 2>&1 &
	crasher=$!
	pids+=("$crasher")
else
	fail "daemon: building the crashing program: $(head -3 "$tmp/crasher.log")"
fi
ns_pid=
for _ in $(seq 50); do
	ns_pid=$(cat "/proc/$ns_outer/task/$ns_outer/children" 2> /dev/null | awk '{ print $1 }')
	[ -n "$ns_pid" ] && break
	sleep 0.1
done
# unshare --fork ignores SIGTERM while it waits: its child is the one to kill
pids+=(${ns_pid:+"$ns_pid"})

# targets: a line per target: pid exe go_version pidns pid_in_namespace reports go_heap
# (1: Go heap tracing on)
targets() {
	curl -sf "$U/api/v1/targets" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["targets"]:
    c = t["container"]
    print(t["pid"], t["exe"], t["go_version"], c["pidns"], c["pid_in_namespace"], t["reports"],
          int(t["go_heap"] is not None))'
}
metric() { # NAME [LABELS-REGEX]: the value of the first matching sample
	curl -sf "$U/metrics" | awk -v n="$1" -v l="${2:-}" \
		'$1 == n || (index($1, n "{") == 1 && $1 ~ l) { print $2; exit }'
}

declare -A want_exe want_rel
want_exe=([$leaky]=$B/new-leaky-default [$gorgrow]=$B/new-gorgrow-default
	[$gor]=$B/new-goroutines-default [$cgoleak]=$B/new-cgoleak-cgo
	[$oldleaky]=$B/old-leaky-default [${ns_pid:-0}]=$B/new-leaky-stripped)
want_rel=([$leaky]=$newest [$gorgrow]=$newest [$gor]=$newest [$cgoleak]=$newest
	[$oldleaky]=${rel[old-leaky-default]} [${ns_pid:-0}]=$newest)
# up to 15 s for every one to be listed
for _ in $(seq 150); do
	targets > "$tmp/targets.txt" 2> /dev/null
	n=0
	for p in "${!want_exe[@]}"; do grep -q "^$p " "$tmp/targets.txt" && n=$((n + 1)); done
	[ "$n" = ${#want_exe[@]} ] && break
	sleep 0.1
done
echo "daemon: ${n:-0} of ${#want_exe[@]} fixtures listed $(elapsed) ms into the test (not asserted)"
for p in "${!want_exe[@]}"; do
	read -r _ exe ver _ _ _ _ <<< "$(grep "^$p " "$tmp/targets.txt")"
	check "daemon: /api/v1/targets: pid $p, ${want_exe[$p]##*/}, ${want_rel[$p]}" \
		[ "${exe:-}" = "${want_exe[$p]}" -a "${ver:-}" = "${want_rel[$p]}" ]
done
read -r _ _ _ nsns nsin _ _ <<< "$(grep "^${ns_pid:-x} " "$tmp/targets.txt")"
check "daemon: the fixture under unshare: host PID $ns_pid, pid_in_namespace 1, its own PID namespace" \
	[ -n "$ns_pid" -a "${nsin:-}" = 1 -a "${nsns:-}" = "$(stat -L -c %i "/proc/$ns_pid/ns/pid" 2> /dev/null)" \
	-a "${nsns:-}" != "$(stat -L -c %i /proc/self/ns/pid)" ]
# (it may be gone already on a slow machine: the log says it was attached)
for _ in $(seq 100); do grep -q "process ${crasher:-x} (.*): attached in" "$derr" && break; sleep 0.1; done
check "daemon: the crashing program is traced too" grep -q "process ${crasher:-x} (.*): attached in" "$derr"
check "daemon: nothing outside the test's directory is traced (--include-exe)" \
	bash -c "! grep -v ' $B/' '$tmp/targets.txt'"
detached0=$(metric leakhound_targets_detached_total)
attached0=$(metric leakhound_targets_attached_total)
grep "attached in" "$derr" | sed 's/^[0-9.]* leakhound: info: /daemon: log: /'

# the daemon's BPF programs, by id from its file descriptors
prog_ids=$(grep -h '^prog_id:' /proc/"$dpid"/fdinfo/* 2> /dev/null | awk '{ print $2 }' | sort -u)
names=$(for id in $prog_ids; do bpftool prog show id "$id" 2> /dev/null | sed -n 's/.* name \([^ ]*\) .*/\1/p'; done | sort -u)
check "daemon: holds its discovery and tracer programs ($(echo $prog_ids | wc -w): $(echo $names | cut -c1-200))" \
	bash -c "grep -q '^lh_disc_' <<< '$names' && grep -q '^lh_goheap_' <<< '$names' &&
		grep -q '^lh_gor_' <<< '$names' && grep -q '^lh_cheap_' <<< '$names'"

# ---- bad requests, a slow client, the loop not stalled (in the background: ~6 s) ----
python3 tests/drivers/daemon_http.py slow 127.0.0.1 "$port" "$leaky" > "$tmp/slow.out" 2>&1 &
slow_pid=$!
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "daemon: heap of an untraced pid: 404" [ "$(status "$U/debug/pprof/heap?pid=$$")" = 404 ]
check "daemon: goroutine of pid 999999999: 404" \
	[ "$(status "$U/debug/pprof/goroutine?pid=999999999")" = 404 ]
for q in 'pid=12x' 'pid=-1' 'pid=0' 'pid=' 'pid=99999999999' 'pid=%31%00'; do
	check "daemon: heap?$q: 400" [ "$(status "$U/debug/pprof/heap?$q")" = 400 ]
done
check "daemon: heap without pid: 400" [ "$(status "$U/debug/pprof/heap")" = 400 ]
check "daemon: cgo without pid: 400" [ "$(status "$U/debug/pprof/cgo")" = 400 ]
check "daemon: goroutine debug=3: 400" \
	[ "$(status "$U/debug/pprof/goroutine?pid=$leaky&debug=3")" = 400 ]
check "daemon: cgo of a program without cgo: 404" \
	[ "$(status "$U/debug/pprof/cgo?pid=$leaky")" = 404 ]
check "daemon: POST: 405" [ "$(status -X POST "$U/metrics")" = 405 ]
check "daemon: unknown path: 404" [ "$(status "$U/nope")" = 404 ]

# ---- SIGKILL right after start, 20 times (mid-attach: 0 to 57 ms after the fork) ----
killed=()
for i in $(seq 0 19); do
	"$B/new-basic-default" -leak 0 -d 60s > /dev/null 2>&1 &
	p=$!
	sleep "$(printf '0.%03d' $((i * 3)))"
	kill -KILL "$p"
	wait "$p" 2> /dev/null
	killed+=("$p")
done
check "daemon: still running after 20 targets SIGKILLed as they start" kill -0 "$dpid"
check "daemon: and answering (/api/v1/targets: 200)" [ "$(status "$U/api/v1/targets")" = 200 ]
echo "daemon: of the 20: $(grep -c -E 'exited while attaching|attaching failed' "$derr") failed attaches, $(grep -c 'new-basic-default.*attached in' "$derr") attached (not asserted)"

# the reports the profiles are made of: up to 15 s for two of each leaking fixture, and
# for the sampled leaks of the leaky ones to pass 2 MiB (2 s at their rate)
for _ in $(seq 150); do
	targets > "$tmp/targets1.txt" 2> /dev/null
	n=0
	for p in $leaky $gorgrow $cgoleak $oldleaky ${ns_pid:-x}; do
		[ "$(awk -v p="$p" '$1 == p { print $6 }' "$tmp/targets1.txt")" -ge 2 ] 2> /dev/null && n=$((n + 1))
	done
	for p in $leaky $oldleaky; do
		v=$(metric leakhound_go_heap_inuse_bytes "pid=\"$p\"")
		python3 -c "import sys; sys.exit(not float('${v:-0}') >= 2 << 20)" && n=$((n + 1))
	done
	[ "$n" = 7 ] && break
	sleep 0.2
done
echo "daemon: reports and heaps ready $(elapsed) ms into the test (not asserted)"
check "daemon: the one under unshare has Go heap tracing (its sampling rate written)" \
	[ "$(awk -v p="${ns_pid:-x}" '$1 == p { print $7 }' "$tmp/targets1.txt")" = 1 ]

# ---- pprof ----
if [ -x "$GO" ]; then
	top() { # WHAT URL FUNCTION [-sample_index=...]
		PPROF_TMPDIR=$tmp "$GO" tool pprof -top ${4:-} "$2" > "$tmp/top.$1" 2>&1
		if grep -q -- "$3" "$tmp/top.$1"; then
			pass "daemon: go tool pprof -top $1 shows $3"
		else
			fail "daemon: go tool pprof -top $1: no $3: $(head -12 "$tmp/top.$1")"
		fi
	}
	top "heap?pid=leaky" "$U/debug/pprof/heap?pid=$leaky" main.leakCache -sample_index=inuse_space
	top "heap?pid=leaky(go1.19)" "$U/debug/pprof/heap?pid=$oldleaky" main.leakCache -sample_index=inuse_space
	top "goroutine?pid=gorgrow" "$U/debug/pprof/goroutine?pid=$gorgrow" main.tickerLeak.func1
	top "cgo?pid=cgoleak" "$U/debug/pprof/cgo?pid=$cgoleak" lh_record_add -sample_index=inuse_space
	curl -s -D "$tmp/heap.hdr" -o "$tmp/heap.pb.gz" "$U/debug/pprof/heap?pid=$leaky"
	check "daemon: heap profile: gzip'd, octet-stream, each header once" \
		[ "$(head -c 2 "$tmp/heap.pb.gz" | od -An -tx1 | tr -d ' ')" = 1f8b -a \
		"$(grep -ci '^content-type: application/octet-stream' "$tmp/heap.hdr")" = 1 -a \
		"$(grep -ci '^x-content-type-options:' "$tmp/heap.hdr")" = 1 ]
	# the leak is the largest entry: the first line of -top
	check "daemon: heap: main.leakCache is leaky's top inuse_space entry" \
		bash -c "grep -A1 '^ *flat ' '$tmp/top.heap?pid=leaky' | tail -1 | grep -q main.leakCache"
else
	skip "daemon: go tool pprof: no Go toolchain"
fi
# debug=1, debug=2 against the goroutines fixture's own runtime/pprof text
curl -sf "$U/debug/pprof/goroutine?pid=$gor&debug=1" > "$tmp/ours.d1"
curl -sf "$U/debug/pprof/goroutine?pid=$gor&debug=2" > "$tmp/ours.d2"
kill -USR1 "$gor"
for _ in $(seq 100); do [ -f "$tmp/gdump.num" ] && break; sleep 0.1; done
if [ -f "$tmp/gdump.num" ]; then
	python3 tests/drivers/daemon_http.py gortext "$tmp/ours.d1" "$tmp/ours.d2" \
		"$tmp/gdump.debug1" "$tmp/gdump.debug2" || failures=$((failures + 1))
else
	fail "daemon: the goroutines fixture wrote no ground truth on SIGUSR1"
fi
curl -sf "$U/metrics" > "$tmp/metrics.txt"
if command -v promtool > /dev/null; then
	if promtool check metrics < "$tmp/metrics.txt" > "$tmp/promtool.out" 2>&1; then
		pass "daemon: promtool check metrics accepts /metrics"
	else
		fail "daemon: promtool check metrics: $(head -5 "$tmp/promtool.out")"
	fi
else
	skip "daemon: promtool not installed (scripts/deps.sh)"
fi

# ---- the HTML page in headless Chromium (in the background) ----
chrome=$(command -v chromium || command -v chromium-browser || true)
shot=$tmp/daemon-page.png
if [ -n "$chrome" ]; then
	# the suspects need a few reports: up to 15 s for gorgrow's
	for _ in $(seq 150); do
		curl -sf "$U/api/v1/suspects" | grep -q 'main.tickerLeak' && break
		sleep 0.1
	done
	(
		"$chrome" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/chrome1" \
			--dump-dom "$U/" > "$tmp/dom.html" 2> "$tmp/chrome-dom.log"
		"$chrome" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/chrome2" \
			--hide-scrollbars --window-size=1280,1600 --screenshot="$shot" "$U/" \
			> "$tmp/chrome-shot.log" 2>&1
	) &
	chrome_pid=$!
else
	skip "daemon: no chromium (apt-get install chromium)"
fi

# ---- the crash, and the ends ----
wait "$oldleaky"
crc=
[ -n "$crasher" ] && { wait "$crasher"; crc=$?; }
check "daemon: the crashing program panicked (exit $crc)" \
	[ "$crc" = 2 ] && grep -q 'panic: crasher: on purpose' "$tmp/crasher.out"
gone=
for _ in $(seq 50); do
	targets > "$tmp/targets2.txt"
	grep -q -E "^(${crasher:-x}|$oldleaky) " "$tmp/targets2.txt" || { gone=1; break; }
	sleep 0.1
done
check "daemon: the ended targets (go1.19 leaky, the crashed one) are gone from /api/v1/targets" [ -n "$gone" ]
check "daemon: none of the SIGKILLed ones is listed" \
	bash -c "! grep -q -E '^($(IFS='|'; echo "${killed[*]}")) ' '$tmp/targets2.txt'"
detached1=$(metric leakhound_targets_detached_total)
check "daemon: leakhound_targets_detached_total grows (${detached0:-?} -> ${detached1:-?})" \
	[ "${detached1:-0}" -ge $((${detached0:-99} + 2)) ]
grep -E "detached|not traced" "$derr" | sed 's/^[0-9.]* leakhound: [a-z]*: /daemon: log: /' | head -30
check "daemon: the go1.19 leaky fixture ended while traced, with the rate the daemon set" \
	grep -qx 'ok [0-9]* MemProfileRate 524288' "$tmp/oldleaky.out"
check "daemon: still running after a target crashed" kill -0 "$dpid"

# ---- Prometheus: the leaking fixture's heap grows ----
if [ -n "$prom_pid" ]; then
	pq() { # QUERY: the first result's value
		curl -sf "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
			python3 -c 'import json,sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2> /dev/null
	}
	q="leakhound_go_heap_inuse_bytes{pid=\"$leaky\",exe=\"new-leaky-default\"}"
	v1=
	for _ in $(seq 100); do
		v1=$(pq "$q")
		[ -n "$v1" ] && break
		sleep 0.2
	done
	# up to 20 s for a larger value (scrapes can come late on a loaded machine)
	for _ in $(seq 100); do
		v2=$(pq "$q")
		d=$(pq "delta($q[20s])")
		python3 -c "import sys; sys.exit(not (float('${v2:-0}') > float('${v1:-inf}') and float('${d:-0}') > 0))" && break
		sleep 0.2
	done
	echo "daemon: prometheus: $q: $v1, then $v2; delta over 20 s: $d"
	check "daemon: prometheus scraped the heap of leaky, growing between two queries" \
		python3 -c "import sys; sys.exit(not (float('${v2:-0}') > float('${v1:-inf}') > 0))"
	check "daemon: prometheus: delta() of it over 20 s is positive" \
		python3 -c "import sys; sys.exit(not float('${d:-0}') > 0)"
	r=$(pq "leakhound_targets")
	check "daemon: prometheus: leakhound_targets is there ($r)" [ -n "$r" ]
	kill "$prom_pid"
	wait "$prom_pid" 2> /dev/null
fi

wait "$slow_pid"
[ $? = 0 ] || failures=$((failures + 1))
cat "$tmp/slow.out"

if [ -n "$chrome" ]; then
	wait "$chrome_pid"
	check "daemon: chromium --dump-dom: the page lists the suspect main.tickerLeak" \
		grep -q 'main.tickerLeak' "$tmp/dom.html"
	check "daemon: chromium --dump-dom: and the traced leaky fixture" grep -q "new-leaky-default" "$tmp/dom.html"
	sz=$(stat -c %s "$shot" 2> /dev/null || echo 0)
	check "daemon: chromium --screenshot: a PNG of $sz bytes: $shot" \
		[ "$sz" -gt 10000 -a "$(head -c 8 "$shot" 2> /dev/null | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
	[ -n "${KEEP:-}" ] || { mkdir -p "$OUTPUT/test-output" && cp "$shot" "$OUTPUT/test-output/daemon-page.png" &&
		echo "daemon: screenshot kept as $OUTPUT/test-output/daemon-page.png"; }
fi

# ---- a token; bad configuration files ----
head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$tmp/token"
tok=$(cat "$tmp/token")
"$LEAKHOUND" daemon --foreground --listen 127.0.0.1:0 --token-file "$tmp/token" \
	--include-exe "$tmp/none/*" > "$tmp/tok.out" 2> "$tmp/tok.err" &
tpid=$!
pids+=("$tpid")
tport=
for _ in $(seq 100); do
	tport=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "$tmp/tok.out")
	[ -n "$tport" ] && break
	sleep 0.1
done
check "daemon --token-file: /metrics without the token: 401" [ "$(status "http://127.0.0.1:$tport/metrics")" = 401 ]
check "daemon --token-file: with a wrong one: 401" \
	[ "$(status -H "Authorization: Bearer x$tok" "http://127.0.0.1:$tport/metrics")" = 401 ]
check "daemon --token-file: with it: 200" \
	[ "$(status -H "Authorization: Bearer $tok" "http://127.0.0.1:$tport/metrics")" = 200 ]
kill -TERM "$tpid"
wait "$tpid"
check "daemon --token-file: exits 0 on SIGTERM" [ $? = 0 ]
echo short > "$tmp/short-token"
bad_config() { # WHAT JSON
	printf '%s\n' "$2" > "$tmp/bad.json"
	"$LEAKHOUND" daemon --foreground --config "$tmp/bad.json" --listen 127.0.0.1:0 \
		> /dev/null 2> "$tmp/bad.err"
	local rc=$?
	check "daemon --config: $1: exit 2, one error line ($(head -1 "$tmp/bad.err"))" \
		[ "$rc" = 2 -a "$(grep -c . "$tmp/bad.err")" = 1 ]
}
bad_config "unknown key" '{"interval": 2, "colour": "red"}'
bad_config "wrong type" '{"interval": "2"}'
bad_config "out of range" '{"max_targets": 1000}'
bad_config "not an array" '{"exclude_exe": "leakhound"}'
bad_config "not JSON" '{"interval": 2,'
"$LEAKHOUND" daemon --foreground --config "$tmp/nonexistent.json" > /dev/null 2> "$tmp/bad.err"
rc=$?
check "daemon --config: a missing file: exit 2, one error line" [ "$rc" = 2 -a "$(grep -c . "$tmp/bad.err")" = 1 ]
for a in "--config $tmp/nonexistent.json" --bogus -x --listen "-i 0.1" "--max-targets 65" \
	"--cgo sometimes" "--listen localhost:80" "--token-file $tmp/short-token" "--token-file $tmp/none"; do
	"$LEAKHOUND" daemon --foreground $a > /dev/null 2> "$tmp/bad.err"
	rc=$?
	check "daemon $a: exit non-zero ($rc), one error line ($(head -1 "$tmp/bad.err"))" \
		[ "$rc" != 0 -a "$(grep -c . "$tmp/bad.err")" = 1 ]
done

# ---- SIGTERM: exit 0, programs gone, sampling rates back ----
ntg=$(targets | wc -l)
t1=$(date +%s%N)
kill -TERM "$dpid"
wait "$dpid"
rc=$?
echo "daemon: SIGTERM to exit with $ntg targets: $((($(date +%s%N) - t1) / 1000000)) ms (not asserted)"
check "daemon: exits 0 on SIGTERM" [ "$rc" = 0 ]
if grep -q 'Sanitizer' "$derr"; then
	fail "daemon: sanitizer report: $(grep -m3 -A6 'ERROR' "$derr")"
fi
left=
for _ in $(seq 100); do
	left=
	for id in $prog_ids; do bpftool prog show id "$id" > /dev/null 2>&1 && left="$left $id"; done
	[ -z "$left" ] && break
	sleep 0.1
done
check "daemon: its $(echo $prog_ids | wc -w) BPF programs are gone after SIGTERM" [ -z "$left" -a -n "$prog_ids" ]
check "daemon: the log says it stopped" grep -q 'signal 15, stopping' "$derr"
kill -TERM "$leaky" ${ns_pid:+"$ns_pid"}
wait "$leaky"
for _ in $(seq 50); do grep -q '^ok' "$tmp/ns.out" && break; sleep 0.1; done
foreign=$(echo $foreign $(foreign_daemons) | tr ' ' '\n' | sort -u)
for w in "leaky:$tmp/leaky.out" "the stripped one under unshare:$tmp/ns.out"; do
	what=${w%%:*}
	if grep -qx 'ok [0-9]* MemProfileRate 0' "${w#*:}"; then
		pass "daemon: $what, traced until the daemon stopped: MemProfileRate 0 again"
	elif [ -n "$(echo $foreign)" ]; then
		skip "daemon: $what: MemProfileRate $(awk '/^ok/ { print $4 }' "${w#*:}") at its end: other leakhound daemons ran meanwhile (pids$(echo " "$foreign)) and trace it too"
	else
		fail "daemon: $what, traced until the daemon stopped: MemProfileRate 0 again: $(tail -1 "${w#*:}")"
	fi
done
kill "$gorgrow" "$gor" "$cgoleak" 2> /dev/null

# ---- deployment files ----
if command -v systemd-analyze > /dev/null; then
	mkdir -p "$tmp/unit"
	sed "s|^ExecStart=/usr/local/bin/leakhound |ExecStart=$(readlink -f "$LEAKHOUND") |" \
		scripts/deploy/leakhound.service > "$tmp/unit/leakhound.service"
	grep -q "^ExecStart=$(readlink -f "$LEAKHOUND") daemon --foreground" "$tmp/unit/leakhound.service"
	SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/unit/leakhound.service" \
		> "$tmp/verify.out" 2>&1
	rc=$?
	check "deploy: systemd-analyze verify leakhound.service: status $rc, no complaint ($(head -2 "$tmp/verify.out" | tr '\n' ' '))" \
		[ "$rc" = 0 -a ! -s "$tmp/verify.out" ]
	printf '[Service]\nExecStart=relative/leakhound daemon\nBogusKey=1\n' > "$tmp/unit/bad.service"
	SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/unit/bad.service" > "$tmp/verify2.out" 2>&1
	check "deploy: systemd-analyze verify complains about a bad unit (the check can fail)" [ -s "$tmp/verify2.out" ]
else
	skip "deploy: no systemd-analyze (Debian's systemd package)"
fi
if python3 -c 'import yaml' 2> /dev/null; then
	python3 - scripts/deploy/leakhound-daemonset.yaml "$tmp/ds-config.json" << 'PY' || failures=$((failures + 1))
import json, sys, yaml
fails = 0
def check(what, ok, detail=''):
    global fails
    print(('PASS' if ok else 'FAIL') + ' deploy: daemonset: ' + what + ('' if ok else ' (%s)' % (detail,)))
    fails += not ok
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d['kind']: d for d in docs}
check('a Namespace, a ConfigMap and a DaemonSet', sorted(kinds) == ['ConfigMap', 'DaemonSet', 'Namespace'], sorted(kinds))
ns = kinds.get('Namespace', {}).get('metadata', {}).get('name')
check('all in namespace %s' % ns, all(d['metadata'].get('namespace') == ns for d in docs if d['kind'] != 'Namespace'))
ds = kinds.get('DaemonSet', {})
spec = ds.get('spec', {})
tpl = spec.get('template', {})
pod = tpl.get('spec', {})
check('apps/v1', ds.get('apiVersion') == 'apps/v1')
sel = spec.get('selector', {}).get('matchLabels', {})
labels = tpl.get('metadata', {}).get('labels', {})
check('selector %s matches the template labels' % sel, bool(sel) and all(labels.get(k) == v for k, v in sel.items()), labels)
check('hostPID: true', pod.get('hostPID') is True)
c = (pod.get('containers') or [{}])[0]
sc = c.get('securityContext', {})
caps = sc.get('capabilities', {})
want = {'BPF', 'PERFMON', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'CHECKPOINT_RESTORE'}  # docs/SECURITY.md
check('capabilities: drop ALL, add %s' % sorted(caps.get('add', [])), caps.get('drop') == ['ALL'] and set(caps.get('add', [])) == want, caps)
check('not privileged, no privilege escalation', sc.get('privileged') is False and sc.get('allowPrivilegeEscalation') is False)
lim = c.get('resources', {}).get('limits', {})
check('resource limits: cpu %s, memory %s' % (lim.get('cpu'), lim.get('memory')), bool(lim.get('cpu')) and bool(lim.get('memory')))
check('the container runs the daemon in the foreground with the config', c.get('args', [])[:2] == ['daemon', '--foreground'] and '--config' in c.get('args', []))
mounts = {m['name']: m for m in c.get('volumeMounts', [])}
vols = {v['name']: v for v in pod.get('volumes', [])}
check('every mount has its volume', bool(mounts) and set(mounts) <= set(vols), (sorted(mounts), sorted(vols)))
cm = kinds.get('ConfigMap', {})
check('the config volume is the ConfigMap', vols.get('config', {}).get('configMap', {}).get('name') == cm.get('metadata', {}).get('name'))
ports = [p.get('containerPort') for p in c.get('ports', [])]
ann = tpl.get('metadata', {}).get('annotations', {})
try:
    conf = json.loads(cm['data']['config.json'])
    ok = True
except Exception as e:
    conf, ok = {}, False
check('the ConfigMap config.json is JSON', ok)
port = int(conf.get('listen', ':0').rsplit(':', 1)[1])
check('the config listens on the container port %s, the one Prometheus is told' % port, port in ports and ann.get('prometheus.io/port') == str(port), (ports, ann))
check('the token file is in the token volume', conf.get('token_file', '').startswith(mounts.get('token', {}).get('mountPath', '?') + '/'))
snapdir = conf.get('snapshot_dir', '/var/lib/leakhound/snapshots')
check('snapshots (%s) go to a hostPath volume, kept on the node' % snapdir, 'hostPath' in vols.get(next((n for n, m in mounts.items() if m.get('mountPath') == snapdir), '?'), {}) and not mounts.get('snapshots', {}).get('readOnly'))
json.dump(conf, open(sys.argv[2], 'w'))
sys.exit(fails > 0)
PY
	if [ -s "$tmp/ds-config.json" ]; then
		# the ConfigMap's config, with the test's address and token file, and tracing
		# nothing of the machine's (the include list is added to by the flag)
		"$LEAKHOUND" daemon --foreground --config "$tmp/ds-config.json" --listen 127.0.0.1:0 \
			--token-file "$tmp/token" --include-exe "$tmp/none/*" > "$tmp/ds.out" 2> "$tmp/ds.err" &
		dspid=$!
		pids+=("$dspid")
		dsport=
		for _ in $(seq 100); do
			dsport=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "$tmp/ds.out")
			[ -n "$dsport" ] && break
			kill -0 "$dspid" 2> /dev/null || break
			sleep 0.1
		done
		check "deploy: the daemon runs with the ConfigMap's config (and answers with the token)" \
			[ -n "$dsport" -a "$(status -H "Authorization: Bearer $tok" "http://127.0.0.1:$dsport/metrics")" = 200 ]
		kill -TERM "$dspid" 2> /dev/null
		wait "$dspid"
		check "deploy: ... and exits 0 on SIGTERM" [ $? = 0 ]
	fi
else
	skip "deploy: daemonset: no python3-yaml"
fi
echo "daemon: $(elapsed) ms in all (not asserted)"
finish
