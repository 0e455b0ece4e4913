#!/usr/bin/env bash
# leakhound mem -p PID against the memstat fixture (every release built, default and
# stripped), in its two states: hold (a live heap of 48 MiB and 300 parked goroutines
# with deep stacks) and spike (a 320 MiB spike, dropped, runtime.GC(), idle).
#  - heap in use, heap idle, heap released and stack in use agree within 10% with the
#    fixture's own runtime.ReadMemStats. The runtime moves (the scavenger, the dump's
#    own allocations): the fixture writes ReadMemStats right before and right after
#    leakhound reads, and leakhound's value must lie within 10% of the range of the
#    two, or within 64 KiB per CPU of it (the spans the Ps' stack caches hold, which
#    ReadMemStats gives back first). GC count: within the two; next GC within 10%
#    (hold), none with GC off (spike).
#  - the parts add up to the RSS exactly, and that RSS is the one smaps_rollup shows
#    before and after (within 2%);
#  - the spike is idle heap, not a leak; the hold fixture is live heap;
#  - the text form says the same; the target runs on;
#  - the periodic reports of leakhound trace carry the breakdown, with the traced C heap
#    as a part under --cgo; the daemon's /metrics and /api/v1/targets carry it;
#  - bad input (no such process, not a Go program, no privileges, a bad pid, no pid):
#    one line on stderr, nothing on stdout, non-zero exit.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

need_root mem
setup_tmp

cat > "$tmp/cmp.py" << 'EOF'
# usage: cmp.py MODE LEAKHOUND_JSON BEFORE AFTER RSS_BEFORE RSS_AFTER WHAT
import json, os, sys

mode, js, before, after, rss0, rss1, what = sys.argv[1:8]
lh = json.load(open(js))
b, a = json.load(open(before)), json.load(open(after))
bad = 0

def res(ok, msg):
    global bad
    print(("PASS " if ok else "FAIL ") + what + ": " + msg)
    bad += 0 if ok else 1

def mib(v):
    return "%.2f" % (v / 1048576.0)

go = lh["go"]
figs = []
for ours, theirs in (("heap_inuse", "HeapInuse"), ("heap_idle", "HeapIdle"),
                     ("heap_released", "HeapReleased"), ("stack_inuse", "StackInuse")):
    lo, hi = sorted((b[theirs], a[theirs]))
    # 10%, and at least two 32 KiB stack spans per P: ReadMemStats first empties each
    # P's stack cache (flushmcache -> stackcache_clear, mstats.go), giving wholly free
    # stack spans back to the heap (StackInuse down, HeapIdle up by as much); read from
    # outside, those cached spans still count. The spike's stacks are 0.4 MiB in all.
    slack = (64 << 10) * os.cpu_count()
    ok = min(lo * 0.9, lo - slack) <= go[ours] <= max(hi * 1.1, hi + slack)
    off = 0 if lo <= go[ours] <= hi else min(abs(go[ours] - lo), abs(go[ours] - hi))
    figs.append("%s %s MiB vs %s..%s (off %.1f%%)" %
                (ours, mib(go[ours]), mib(lo), mib(hi), 100.0 * off / max(lo, 1)))
    res(ok, "%s %s MiB, ReadMemStats %s %s..%s MiB" % (ours, mib(go[ours]), theirs,
                                                        mib(lo), mib(hi)))
print("agreement " + what + ": " + "; ".join(figs))
res(b["NumGC"] <= go["num_gc"] <= a["NumGC"],
    "GC cycles %d, ReadMemStats %d..%d" % (go["num_gc"], b["NumGC"], a["NumGC"]))
if mode == "spike":
    res(go["next_gc"] is None and lh["heap_goal"] is None, "GC off: no heap goal")
else:
    lo, hi = sorted((b["NextGC"], a["NextGC"]))
    res(go["next_gc"] is not None and lo * 0.9 <= go["next_gc"] <= hi * 1.1,
        "next GC %s MiB, ReadMemStats NextGC %s..%s MiB" % (mib(go["next_gc"] or 0),
                                                            mib(lo), mib(hi)))
parts = sum(p["resident"] for p in lh["parts"].values())
r0, r1 = sorted((int(rss0), int(rss1)))
res(parts == lh["rss"] and r0 * 0.98 <= lh["rss"] <= r1 * 1.02,
    "parts add up to RSS %s MiB (sum %s), smaps_rollup %s..%s MiB" %
    (mib(lh["rss"]), mib(parts), mib(r0), mib(r1)))
if mode == "spike":
    res(lh["verdict"] == "idle_heap" and "not a leak" in lh["why"],
        "verdict %s: %s" % (lh["verdict"], lh["why"][:60]))
else:
    res(lh["verdict"] == "live_heap", "verdict %s (not idle heap)" % lh["verdict"])
print("read_us %s: runtime %.0f, proc %.0f" % (what, lh["runtime_read_us"],
                                               lh["proc_read_us"]))
sys.exit(1 if bad else 0)
EOF

# Waits for "ready PID" in a fixture's output; prints the pid.
wait_ready() { # outfile
	for _ in $(seq 300); do
		if grep -q '^ready ' "$1" 2> /dev/null; then
			awk '/^ready /{ print $2; exit }' "$1"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Sends SIGUSR1 and waits for the stats file with that sequence number.
dump_now() { # pid statsfile seq copy-to
	kill -USR1 "$1" || return 1
	for _ in $(seq 100); do
		if [ -f "$2" ] && grep -q "\"seq\":$3," "$2"; then
			cp "$2" "$4"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

rss_kb() { awk '$1 == "Rss:" { print $2 * 1024 }' /proc/"$1"/smaps_rollup; }

check_one() { # binary release variant mode
	local bin=$1 what="$2 $3 $4" d="$tmp/$2-$3-$4" pid rss0 rss1
	mkdir -p "$d"
	"$bin" -mode "$4" -stats "$d/stats" > "$d/out" 2>&1 &
	pids+=($!)
	if ! pid=$(wait_ready "$d/out"); then
		fail "$what: fixture not ready: $(head -3 "$d/out")"
		return
	fi
	rss0=$(rss_kb "$pid")
	if ! dump_now "$pid" "$d/stats" 1 "$d/before"; then
		fail "$what: no ReadMemStats from the fixture"
		return
	fi
	"$LEAKHOUND" mem -p "$pid" --json > "$d/mem.json" 2> "$d/err"
	local rc=$?
	dump_now "$pid" "$d/stats" 2 "$d/after"
	rss1=$(rss_kb "$pid")
	if [ "$rc" != 0 ]; then
		fail "$what: leakhound mem exited $rc: $(head -3 "$d/err")"
		return
	fi
	python3 "$tmp/cmp.py" "$4" "$d/mem.json" "$d/before" "$d/after" "$rss0" "$rss1" "$what"
	[ $? -le 1 ] || fail "$what: the comparison failed to run"
	"$LEAKHOUND" mem -p "$pid" > "$d/mem.txt" 2> "$d/err"
	if [ "$4" = spike ]; then
		check "$what: text says idle heap, not a leak" grep -q '^verdict: idle heap, not a leak' \
			"$d/mem.txt"
	else
		check "$what: text says live heap" grep -q '^verdict: mostly Go heap in use' \
			"$d/mem.txt"
	fi
	check "$what: the fixture runs on" kill -0 "$pid"
	kill "$pid" 2> /dev/null
	wait "$pid" 2> /dev/null
}

n=0
while IFS=$'\t' read -r path rel fixture variant; do
	[ "$fixture" = memstat ] || continue
	[ -x "$path" ] || { fail "$rel $variant: fixture $path missing"; continue; }
	check_one "$path" "$rel" "$variant" hold
	check_one "$path" "$rel" "$variant" spike
	n=$((n + 1))
done < <(fixtures)
[ "$n" -gt 0 ] || fail "mem: no memstat fixtures in $FIXTURES/manifest.tsv"

# The breakdown in the periodic reports of leakhound trace (newest release): the same
# figures as the fixture's ReadMemStats (hold), and with --cgo the C heap part is the
# traced C heap of the same report (cgoleak, cstring: 200 x 64 KiB a second).
cat > "$tmp/trace.py" << 'EOF2'
import json, sys
kind, jsonl, what = sys.argv[1:4]
reps = [json.loads(l) for l in open(jsonl) if l.startswith("{")]
bad = 0
def res(ok, msg):
    global bad
    print(("PASS " if ok else "FAIL ") + what + ": " + msg)
    bad += 0 if ok else 1
if not reps or not reps[-1].get("memory"):
    res(False, "no report with a memory breakdown (%d reports)" % len(reps))
    sys.exit(1)
m = reps[-1]["memory"]
parts = sum(p["resident"] for p in m["parts"].values())
res(parts == m["rss"], "memory in the report; parts add up to RSS %d" % m["rss"])
if kind == "hold":
    st = json.load(open(sys.argv[4]))
    ours, theirs = m["go"]["heap_inuse"], st["HeapInuse"]
    res(abs(ours - theirs) <= 0.1 * theirs and m["verdict"] == "live_heap",
        "heap in use %d, ReadMemStats %d; verdict %s" % (ours, theirs, m["verdict"]))
else:
    c = reps[-1]["cgo_heap"]["inuse_bytes"]
    ours = m["parts"]["cgo_heap"]["bytes"]
    res(ours is not None and c > 0 and abs(ours - c) <= 1,
        "C heap part %s, the report's traced C heap %d" % (ours, c))
sys.exit(1 if bad else 0)
EOF2
trace_checks() {
	local bin cbin pid
	bin=$(fixtures | awk -F'\t' '$3 == "memstat" && $4 == "default" { print $1; exit }')
	cbin=$(fixtures | awk -F'\t' '$3 == "cgoleak" && $4 == "cgo" { print $1; exit }')
	if [ -n "$bin" ]; then
		"$bin" -mode hold -stats "$tmp/tr.stats" > "$tmp/tr.out" 2>&1 &
		pids+=($!)
		if pid=$(wait_ready "$tmp/tr.out") && dump_now "$pid" "$tmp/tr.stats" 1 "$tmp/tr.st"; then
			"$LEAKHOUND" trace -p "$pid" -i 1 -d 2.5 --no-goroutines --json \
				> "$tmp/tr.jsonl" 2> "$tmp/tr.err"
			python3 "$tmp/trace.py" hold "$tmp/tr.jsonl" "trace hold" "$tmp/tr.st" ||
				tail -3 "$tmp/tr.err"
		else
			fail "trace hold: fixture not ready"
		fi
		kill "$pid" 2> /dev/null
	fi
	[ -n "$cbin" ] || { skip "trace --cgo: no cgoleak fixture"; return; }
	"$cbin" -mode cstring -rate 200 -size 65536 -out "$tmp/cg.state" > /dev/null 2>&1 &
	pid=$!
	pids+=($pid)
	sleep 0.5
	"$LEAKHOUND" trace -p "$pid" -i 1 -d 3.5 --no-goroutines --cgo --cgo-rate 0 --budget 0 \
		--json > "$tmp/cg.jsonl" 2> "$tmp/cg.err"
	python3 "$tmp/trace.py" cgo "$tmp/cg.jsonl" "trace --cgo" || tail -3 "$tmp/cg.err"
	kill "$pid" 2> /dev/null
}
trace_checks

# The daemon: per-target families in /metrics (the parts add up to the RSS, the verdict
# of the spike is idle heap, promtool reads the page) and "memory" in /api/v1/targets.
cat > "$tmp/daemon.py" << 'EOF2'
import json, re, sys, urllib.request
url, pid = sys.argv[1], sys.argv[2]
bad = 0
def res(ok, msg):
    global bad
    print(("PASS " if ok else "FAIL ") + "daemon: " + msg)
    bad += 0 if ok else 1
page = urllib.request.urlopen(url + "/metrics").read().decode()
parts = {m.group(1): float(m.group(2)) for m in re.finditer(
    r'^leakhound_target_memory_bytes\{pid="%s",[^}]*part="(\w+)"\} (\S+)$' % pid, page, re.M)}
verdict = re.search(r'^leakhound_target_memory_verdict\{pid="%s",[^}]*verdict="(\w+)"\} 1$' % pid,
                    page, re.M)
t = [x for x in json.loads(urllib.request.urlopen(url + "/api/v1/targets").read())["targets"]
     if x["pid"] == int(pid)]
mem = t[0]["memory"] if t else None
res(mem is not None and len(parts) == 6 and sum(parts.values()) == mem["rss"],
    "/metrics leakhound_target_memory_bytes: %d parts, sum %d, /api/v1/targets rss %s" %
    (len(parts), sum(parts.values()), mem and mem["rss"]))
res(verdict is not None and verdict.group(1) == "idle_heap" and mem["verdict"] == "idle_heap",
    "the spike's verdict: idle_heap in /metrics and /api/v1/targets")
open(sys.argv[3], "w").write(page)
sys.exit(1 if bad else 0)
EOF2
daemon_checks() {
	local bin pid dpid port
	bin=$(fixtures | awk -F'\t' '$3 == "memstat" && $4 == "default" { print $1; exit }')
	[ -n "$bin" ] || return
	"$bin" -mode spike > "$tmp/dm.out" 2>&1 &
	pids+=($!)
	pid=$(wait_ready "$tmp/dm.out") || { fail "daemon: fixture not ready"; return; }
	"$LEAKHOUND" daemon --foreground --listen 127.0.0.1:0 -i 1 --max-cpu 0 \
		--no-goroutines --cgo off --include-exe memstat-default > "$tmp/dm.log" 2>&1 &
	dpid=$!
	pids+=($dpid)
	for _ in $(seq 100); do
		port=$(sed -n 's|^leakhound daemon: listening on http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' \
			"$tmp/dm.log")
		[ -n "$port" ] && grep -q "attached" "$tmp/dm.log" && break
		sleep 0.1
	done
	sleep 2.5 # two reports
	if [ -n "$port" ]; then
		python3 "$tmp/daemon.py" "http://127.0.0.1:$port" "$pid" "$tmp/metrics" ||
			tail -5 "$tmp/dm.log"
		if command -v promtool > /dev/null; then
			check "daemon: promtool reads /metrics" promtool check metrics < "$tmp/metrics"
		fi
	else
		fail "daemon: did not start: $(tail -3 "$tmp/dm.log")"
	fi
	kill "$dpid" "$pid" 2> /dev/null
	wait "$dpid" 2> /dev/null
}
daemon_checks

# Bad input: one line on stderr, nothing on stdout, non-zero exit.
one_error() { # what expected-rc command...
	local what=$1 want=$2
	shift 2
	"$@" > "$tmp/bad.out" 2> "$tmp/bad.err"
	local rc=$?
	if [ "$rc" = "$want" ] && [ ! -s "$tmp/bad.out" ] && [ "$(wc -l < "$tmp/bad.err")" = 1 ]; then
		pass "mem: $what: exit $rc, '$(cat "$tmp/bad.err")'"
	else
		fail "mem: $what: exit $rc (want $want), stderr $(wc -l < "$tmp/bad.err") lines"
		head -3 "$tmp/bad.err" "$tmp/bad.out"
	fi
}
sleep 60 &
sleeper=$!
pids+=($sleeper)
( exit 0 ) &
gone=$!
wait "$gone"
one_error "no such process" 1 "$LEAKHOUND" mem -p "$gone"
one_error "not a Go program" 1 "$LEAKHOUND" mem -p "$sleeper"
one_error "a bad pid" 2 "$LEAKHOUND" mem -p 12x
one_error "no pid" 2 "$LEAKHOUND" mem --json
read -r path _ < <(fixtures | awk -F'\t' '$3 == "memstat" { print $1; exit }')
if [ -n "${path:-}" ] && command -v setpriv > /dev/null; then
	"$path" -mode hold -mb 4 -goroutines 4 > "$tmp/priv.out" 2>&1 &
	pids+=($!)
	if pid=$(wait_ready "$tmp/priv.out"); then
		# as nobody, with the binary where nobody can reach it
		cp "$LEAKHOUND" "$tmp/lh" && chmod 755 "$tmp" "$tmp/lh"
		one_error "no privileges" 1 setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$tmp/lh" mem -p "$pid"
		grep -q 'CAP_SYS_PTRACE' "$tmp/bad.err" || fail "mem: no privileges: no hint at the need"
	else
		fail "mem: privilege check: fixture not ready"
	fi
else
	skip "mem: no privileges (no setpriv or no fixture)"
fi
finish
