#!/usr/bin/env bash
# Snapshots (src/snapshot.c, src/trace_snap.c, src/oom.c, bpf/oom.bpf.c), judged from
# outside: the oomer fixture grows by writing 256 KiB chunks in main.buildIndex.
#  - OOM: in a memory cgroup of its own with a 160 MB limit, `leakhound trace` (early
#    triggers off) writes one "oom" snapshot when the kernel kills it: the cgroup's own
#    oom_kill counter says the kernel did, go tool pprof reads heap.pb.gz with
#    main.buildIndex on top of inuse_space and goroutine.pb.gz, report.json names the
#    reason and the victim; trace exits 0 and its programs are gone. Newest release and
#    go1.19; the same through `leakhound daemon` (and its /metrics counters).
#  - fast growth (200 MB/s up to 300 MB, then holding; 50 MB/s the trigger) fires one
#    rss-growth snapshot;
#    the steady fixture under the default triggers fires none;
#  - the cgroup trigger: growth to 130 MB under a 160 MB limit fires one cgroup-limit
#    snapshot at 75%, and no OOM;
#  - the goroutine trigger: 500 parked goroutines fire one at 300 (pprof counts 500 in
#    main.parkForever);
#  - retention: rss-growth snapshots every 0.5 s (until 5 are taken) keep the newest 3
#    (--snap-keep 3), and the newest alone past --snap-max-mb (until 3 are taken).
# Memory cgroups: v1 here (memory.limit_in_bytes); a v2 machine gets memory.max.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp
need_root snapshots

GO=/usr/local/go/bin/go
[ -x "$GO" ] || GO=/usr/lib/go-1.19/bin/go
cgroups=()
cleanup_cgroups() {
	local cg
	for cg in "${cgroups[@]}"; do
		for p in $(cat "$cg/cgroup.procs" 2> /dev/null); do kill -9 "$p" 2> /dev/null; done
		for _ in $(seq 50); do rmdir "$cg" 2> /dev/null && break; sleep 0.1; done
	done
}
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; cleanup_cgroups; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT

# A memory cgroup with a limit: its directory, or nothing when there is no way.
make_cgroup() { # name bytes
	local dir
	if [ -d /sys/fs/cgroup/memory ] && [ -w /sys/fs/cgroup/memory ]; then
		dir=/sys/fs/cgroup/memory/$1
		mkdir -p "$dir" && echo "$2" > "$dir/memory.limit_in_bytes" || return 1
		# no swap to spill into: the limit is the limit
		echo "$2" > "$dir/memory.memsw.limit_in_bytes" 2> /dev/null || true
	elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2> /dev/null; then
		dir=/sys/fs/cgroup/$1
		mkdir -p "$dir" && echo "$2" > "$dir/memory.max" || return 1
		echo 0 > "$dir/memory.swap.max" 2> /dev/null || true
	else
		return 1
	fi
	cgroups+=("$dir")
	echo "$dir"
}
oom_kills() { # cgroup dir
	if [ -f "$1/memory.oom_control" ]; then
		awk '$1 == "oom_kill" { print $2 }' "$1/memory.oom_control"
	else
		awk '$1 == "oom_kill" { print $2 }' "$1/memory.events"
	fi
}

# The snapshot directories of a --snapshot-dir, one per line.
snaps() { find "$1" -mindepth 1 -maxdepth 1 -type d -name '2*' 2> /dev/null | sort; }
top_inuse() { # heap.pb.gz: the function with the most flat inuse_space
	"$GO" tool pprof -top -sample_index=inuse_space "$1" 2> /dev/null |
		awk '/flat%/ { getline; print $NF; exit }'
}
json_get() { # file python-expression-on-d
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2> /dev/null
}

# Waits until trace's first report line (JSON) is out: its probes are in place.
wait_report() { # file
	for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
	return 1
}

oomer_of() { # release prefix
	fixtures | awk -v r="$1" '$3 == "oomer" && index($2, r) == 1 { print $1; exit }'
}

# ---- OOM in trace ----
oom_trace() { # release
	local rel=$1 bin cg tpid lpid snap
	bin=$(oomer_of "$rel")
	[ -n "$bin" ] || { skip "snapshots: no oomer fixture for $rel"; return; }
	if ! cg=$(make_cgroup "leakhound-test-$$-$rel" $((160 << 20))); then
		skip "snapshots: no memory cgroup to limit ($rel)"
		return
	fi
	(echo $BASHPID > "$cg/cgroup.procs" && exec "$bin" -wait -rate 80) > "$tmp/oom-$rel.target" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	sleep 0.3
	"$LEAKHOUND" trace -p "$tpid" -i 1 --json --snapshot-dir "$tmp/oom-$rel" \
		--snap-rss-rate 0 --snap-cgroup 0 --snap-goroutines 0 \
		> "$tmp/oom-$rel.jsonl" 2> "$tmp/oom-$rel.err" &
	lpid=$!
	wait_report "$tmp/oom-$rel.jsonl"
	prog_ids_of "$lpid" > "$tmp/oom-$rel.progs"
	kill -USR1 "$tpid"
	wait "$tpid"
	check "snapshots: $rel: the fixture died of SIGKILL (status $?)" [ $? = 137 ]
	check "snapshots: $rel: the cgroup counts one OOM kill" [ "$(oom_kills "$cg")" = 1 ]
	wait "$lpid"
	check "snapshots: $rel: trace exits 0 after the OOM kill" [ $? = 0 ]
	check "snapshots: $rel: trace's programs are gone" wait_progs_gone "$tmp/oom-$rel.progs"
	snap=$(snaps "$tmp/oom-$rel")
	check "snapshots: $rel: one snapshot, for the OOM kill ($(basename "$snap"))" \
		[ "$(echo "$snap" | grep -c .)" = 1 ] && [ "${snap%-oom}" != "$snap" ]
	[ -n "$snap" ] || return
	check "snapshots: $rel: pprof's top inuse_space function is main.buildIndex" \
		[ "$(top_inuse "$snap/heap.pb.gz")" = main.buildIndex ]
	"$GO" tool pprof -top "$snap/goroutine.pb.gz" > "$tmp/oom-$rel.gtop" 2>&1
	# main.main is running at the kill when the goroutines are read then: no stack of it
	check "snapshots: $rel: pprof reads goroutine.pb.gz (a goroutine profile)" \
		grep -q '^Type: goroutine$' "$tmp/oom-$rel.gtop"
	check "snapshots: $rel: report.json: reason oom, the victim's pid" \
		[ "$(json_get "$snap/report.json" "d['snapshot']['reason'], d['snapshot']['oom_kill']['victim_pid']")" = "oom $tpid" ]
	check "snapshots: $rel: the trace log names the snapshot" grep -q "oom snapshot: $snap" "$tmp/oom-$rel.err"
}

newest=$(fixtures | awk '$3 == "oomer" { print $2 }' | sort -V | tail -1)
oom_trace "$newest"
oom_trace go1.19

# ---- early triggers ----
bin=$(oomer_of "$newest")
steady=$(fixtures | awk -v r="$newest" '$3 == "steady" && $4 == "default" && $2 == r { print $1; exit }')

# fast growth (from the first report on); the steady fixture beside it, default triggers
"$bin" -wait -rate 200 -max 300 > "$tmp/fast.target" 2>&1 &
fpid=$!
pids+=("$fpid")
"$steady" -mode plateau -duration 20s > "$tmp/steady.target" 2>&1 &
spid=$!
pids+=("$spid")
"$bin" -wait -rate 0 -goroutines 500 > "$tmp/gor.target" 2>&1 &
gpid=$!
pids+=("$gpid")
sleep 0.2
"$LEAKHOUND" trace -p "$fpid" -i 1 -d 6 --json --snapshot-dir "$tmp/fast" \
	--snap-rss-rate 50M --snap-cgroup 0 --snap-goroutines 0 > "$tmp/fast.jsonl" 2> "$tmp/fast.err" &
fl=$!
"$LEAKHOUND" trace -p "$spid" -i 1 -d 8 --json --snapshot-dir "$tmp/steady" \
	> /dev/null 2> "$tmp/steady.err" &
sl=$!
"$LEAKHOUND" trace -p "$gpid" -i 1 -d 5 --json --snapshot-dir "$tmp/gor" \
	--snap-goroutines 300 > "$tmp/gor.jsonl" 2> "$tmp/gor.err" &
gl=$!
wait_report "$tmp/gor.jsonl"
kill -USR1 "$gpid"
wait_report "$tmp/fast.jsonl"
kill -USR1 "$fpid"

# Runs trace until it has announced n snapshots (60 s at most), then stops it.
snap_run() { # n err-file trace-options...
	local n=$1 err=$2 lp
	shift 2
	"$LEAKHOUND" trace -p "$rpid" -i 1 --json --snap-cgroup 0 "$@" > /dev/null 2> "$err" &
	lp=$!
	for _ in $(seq 600); do
		[ "$(grep -c 'rss-growth snapshot:' "$err")" -ge "$n" ] && break
		sleep 0.1
	done
	kill -INT "$lp"
	wait "$lp"
}
# retention: snapshots every 0.5 s (20 MB/s of growth against 10 MB/s)
"$bin" -rate 20 > "$tmp/ret.target" 2>&1 &
rpid=$!
pids+=("$rpid")
snap_run 5 "$tmp/ret.err" --snapshot-dir "$tmp/ret" --snap-rss-rate 10M --snap-interval 0.5 \
	--snap-keep 3
wait $fl $sl $gl

snap=$(snaps "$tmp/fast")
check "snapshots: fast growth: one rss-growth snapshot ($(basename "$snap"))" \
	[ "$(echo "$snap" | grep -c .)" = 1 ] && [ "${snap%-rss-growth}" != "$snap" ]
if [ -n "$snap" ]; then
	rate=$(json_get "$snap/report.json" "int(d['snapshot']['trigger_view']['rss_growth_bytes_per_s'] / 1e6)")
	check "snapshots: fast growth: it saw ${rate:-?} MB/s of growth (over 50)" [ "${rate:-0}" -ge 50 ]
	check "snapshots: fast growth: pprof's top inuse_space function is main.buildIndex" \
		[ "$(top_inuse "$snap/heap.pb.gz")" = main.buildIndex ]
fi
check "snapshots: steady fixture, default triggers: no snapshot" [ -z "$(snaps "$tmp/steady")" ]
snap=$(snaps "$tmp/gor")
check "snapshots: 500 goroutines: one goroutines snapshot ($(basename "$snap"))" \
	[ "$(echo "$snap" | grep -c .)" = 1 ] && [ "${snap%-goroutines}" != "$snap" ]
if [ -n "$snap" ]; then
	n=$("$GO" tool pprof -top "$snap/goroutine.pb.gz" 2> /dev/null | awk '$NF == "main.parkForever" { print $4; exit }')
	check "snapshots: its goroutine profile has ${n:-no} goroutines in main.parkForever (500)" [ "${n:-0}" = 500 ]
fi

taken=$(grep -c 'rss-growth snapshot:' "$tmp/ret.err")
kept=$(snaps "$tmp/ret")
last3=$(grep -o 'rss-growth snapshot: [^ ]*' "$tmp/ret.err" | awk '{ print $3 }' | tail -3)
check "snapshots: retention: $taken taken (5 or more), the newest 3 kept" \
	[ "$taken" -ge 5 ] && [ "$kept" = "$last3" ]

# the same triggers by size: 1 KB allows only the newest
snap_run 3 "$tmp/ret2.err" --snapshot-dir "$tmp/ret2" --snap-rss-rate 10M --snap-interval 0.5 \
	--snap-max-mb 0.001
taken=$(grep -c 'rss-growth snapshot:' "$tmp/ret2.err")
kept=$(snaps "$tmp/ret2")
check "snapshots: retention by size: $taken taken (2 or more), the newest alone kept" \
	[ "$taken" -ge 2 ] && [ "$kept" = "$(grep -o 'rss-growth snapshot: [^ ]*' "$tmp/ret2.err" | awk '{ print $3 }' | tail -1)" ]
kill "$rpid" "$fpid" "$spid" "$gpid" 2> /dev/null

# ---- the cgroup trigger ----
if cg=$(make_cgroup "leakhound-test-$$-limit" $((160 << 20))); then
	(echo $BASHPID > "$cg/cgroup.procs" && exec "$bin" -wait -rate 50 -max 130) > "$tmp/cg.target" 2>&1 &
	cpid=$!
	pids+=("$cpid")
	sleep 0.2
	"$LEAKHOUND" trace -p "$cpid" -i 1 -d 6 --json --snapshot-dir "$tmp/cg" \
		--snap-rss-rate 0 --snap-goroutines 0 --snap-cgroup 0.75 > "$tmp/cg.jsonl" 2> "$tmp/cg.err" &
	cl=$!
	wait_report "$tmp/cg.jsonl"
	kill -USR1 "$cpid"
	wait $cl
	snap=$(snaps "$tmp/cg")
	check "snapshots: cgroup at 75% of its limit: one cgroup-limit snapshot ($(basename "$snap"))" \
		[ "$(echo "$snap" | grep -c .)" = 1 ] && [ "${snap%-cgroup-limit}" != "$snap" ]
	[ -n "$snap" ] && check "snapshots: it names the cgroup ($cg)" \
		[ "$(json_get "$snap/report.json" "d['snapshot']['trigger_view']['cgroup']")" = "$cg" ]
	check "snapshots: and no OOM kill there" [ "$(oom_kills "$cg")" = 0 ]
	kill "$cpid" 2> /dev/null
else
	skip "snapshots: no memory cgroup to limit (cgroup trigger)"
fi

# ---- OOM through the daemon ----
if cg=$(make_cgroup "leakhound-test-$$-daemon" $((160 << 20))); then
	cp "$bin" "$tmp/oomer-d"
	"$LEAKHOUND" daemon --foreground --listen 127.0.0.1:0 -i 1 --include-exe "$tmp/oomer-d" \
		--snapshot-dir "$tmp/dsnap" --snap-rss-rate 0 --snap-cgroup 0 > "$tmp/d.out" 2> "$tmp/d.err" &
	dpid=$!
	pids+=("$dpid")
	port=$(daemon_port "$tmp/d.out")
	(echo $BASHPID > "$cg/cgroup.procs" && exec "$tmp/oomer-d" -wait -rate 80) > "$tmp/d.target" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	for _ in $(seq 100); do
		curl -s "http://127.0.0.1:$port/api/v1/targets" | grep -q "\"pid\":$tpid" && break
		sleep 0.1
	done
	sleep 1
	kill -USR1 "$tpid"
	wait "$tpid"
	check "snapshots: daemon: the fixture was OOM-killed" [ "$(oom_kills "$cg")" = 1 ]
	for _ in $(seq 50); do [ -n "$(snaps "$tmp/dsnap")" ] && break; sleep 0.1; done
	snap=$(snaps "$tmp/dsnap")
	check "snapshots: daemon: one oom snapshot ($(basename "$snap"))" \
		[ "$(echo "$snap" | grep -c .)" = 1 ] && [ "${snap%-oom}" != "$snap" ]
	[ -n "$snap" ] && check "snapshots: daemon: pprof's top inuse_space function is main.buildIndex" \
		[ "$(top_inuse "$snap/heap.pb.gz")" = main.buildIndex ]
	curl -s "http://127.0.0.1:$port/metrics" > "$tmp/metrics"
	check "snapshots: daemon /metrics: leakhound_snapshots_total{reason=\"oom\"} 1" \
		grep -q '^leakhound_snapshots_total{reason="oom"} 1$' "$tmp/metrics"
	check "snapshots: daemon /metrics: leakhound_oom_kills_total counts it" \
		awk '$1 == "leakhound_oom_kills_total" && $2 >= 1 { ok = 1 } END { exit !ok }' "$tmp/metrics"
	kill -TERM "$dpid"
	wait "$dpid"
	check "snapshots: daemon exits 0 on SIGTERM" [ $? = 0 ]
else
	skip "snapshots: no memory cgroup to limit (daemon)"
fi

finish
