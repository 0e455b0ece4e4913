#!/usr/bin/env bash
# Dying and changing targets (issue 8, part 3), judged from outside:
#  - `leakhound trace` with reports every 0.2 s and a snapshot every 0.25 s (an RSS
#    trigger of 1 byte/s) on a target SIGKILLed 0 ms to 1.5 s after trace starts (while
#    it opens the binary, attaches, reports, writes a snapshot), on a target that exits
#    by itself, and on one that replaces itself with a non-Go program (execve): trace
#    exits 0 or 1 with a message, never a crash, and no program of it stays loaded;
#  - PID reuse by a non-Go process: a traced target is SIGKILLed and its PID handed to
#    `sleep` (through /proc/sys/kernel/ns_last_pid): trace exits and the sleep runs on;
#    the daemon lists the old target no more and never the sleep;
#  - 1000 short-lived Go processes (25 at a time, 50-500 ms each) under the daemon: it
#    stays up, attaches to those that live long enough, lists none once they are gone,
#    counts attaches and detaches alike, exits 0 on SIGTERM and leaves nothing loaded.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp
need_root dying

newest=$(newest_release)
oomer=$(fixture_of "$newest" oomer default)
steady=$(fixture_of "$newest" steady default)
execer=$(fixture_of "$newest" execer default)
crashed() { grep -qE 'Segmentation|Aborted|AddressSanitizer|core dumped|double free' "$1"; }

# ---- trace, killed at every stage ----
bad=
for d in 0 0.005 0.02 0.05 0.1 0.2 0.35 0.6 1.0 1.5; do
	"$oomer" -rate 20 -goroutines 20 > /dev/null 2>&1 &
	tp=$!
	"$LEAKHOUND" trace -p "$tp" -i 0.2 --json --snapshot-dir "$tmp/snaps" --snap-rss-rate 1 \
		--snap-interval 0.1 > /dev/null 2> "$tmp/k$d.err" &
	lp=$!
	sleep "$d"
	kill -9 "$tp"
	wait "$lp"
	rc=$?
	wait "$tp" 2> /dev/null
	if [ "$rc" -gt 1 ] || crashed "$tmp/k$d.err"; then bad="$bad $d:$rc"; fi
done
check "dying: trace with the target SIGKILLed 0-1.5 s in: exit 0 or 1, no crash${bad:+ (bad:$bad)}" [ -z "$bad" ]
# how many of them got as far as a snapshot depends on the machine's speed: not checked
echo "dying: $(ls "$tmp/snaps" 2> /dev/null | wc -l) snapshots written by those runs"
check "dying: no unfinished snapshot directory left" \
	[ -z "$(ls -a "$tmp/snaps" 2> /dev/null | grep '^\.tmp-')" ]

bad=
for d in 0.3 1.0; do
	"$steady" -mode churn -duration "${d}s" > /dev/null 2>&1 &
	tp=$!
	"$LEAKHOUND" trace -p "$tp" -i 0.2 --json --no-snapshots > /dev/null 2> "$tmp/e$d.err"
	rc=$?
	wait "$tp"
	if [ "$rc" -gt 1 ] || crashed "$tmp/e$d.err"; then bad="$bad $d:$rc"; fi
done
check "dying: targets that exit by themselves: exit 0 or 1, no crash${bad:+ (bad:$bad)}" [ -z "$bad" ]

bad=
for d in 0.05 0.3 1.0; do
	"$execer" -after "${d}s" /bin/sleep 3 > /dev/null 2>&1 &
	tp=$!
	"$LEAKHOUND" trace -p "$tp" -i 0.2 --json --no-snapshots > /dev/null 2> "$tmp/x$d.err"
	rc=$?
	if [ "$rc" -gt 1 ] || crashed "$tmp/x$d.err"; then bad="$bad $d:$rc"; fi
	# once attached, the execve is said
	if [ "$d" = 1.0 ] && ! grep -q 'replaced itself (execve)' "$tmp/x$d.err"; then bad="$bad $d:not-said"; fi
	kill "$tp" 2> /dev/null
	wait "$tp" 2> /dev/null
done
check "dying: targets that exec a non-Go program: trace stops, says so, no crash${bad:+ (bad:$bad)}" [ -z "$bad" ]
wait_no_progs
check "dying: no program of the tracers left ($(our_progs))" [ "$(our_progs)" = 0 ]

# ---- PID reuse by a non-Go process ----
# Starts `sleep 30` as PID p (the next fork gets ns_last_pid + 1); echoes its pid.
sleep_at() { # p
	local np
	for _ in $(seq 50); do
		echo $(($1 - 1)) > /proc/sys/kernel/ns_last_pid
		# its output elsewhere: $(sleep_at ...) returns without waiting for it
		sleep 30 > /dev/null 2>&1 &
		np=$!
		[ "$np" = "$1" ] && { echo "$np"; return 0; }
		kill "$np"
		wait "$np" 2> /dev/null
	done
	return 1
}

"$steady" -mode churn -duration 20s > /dev/null 2>&1 &
tp=$!
"$LEAKHOUND" trace -p "$tp" -i 0.5 --json --no-snapshots > "$tmp/reuse.jsonl" 2> "$tmp/reuse.err" &
lp=$!
for _ in $(seq 50); do [ -s "$tmp/reuse.jsonl" ] && break; sleep 0.1; done
kill -9 "$tp"
wait "$tp" 2> /dev/null
if np=$(sleep_at "$tp"); then
	pids+=("$np")
	wait "$lp"
	rc=$?
	check "dying: PID $tp reused by sleep: trace exits 0 ($rc)" [ "$rc" = 0 ]
	check "dying: the sleep holding the PID runs on" kill -0 "$np"
	kill "$np"
else
	kill "$lp"
	skip "dying: PID reuse: could not get PID $tp again"
fi

# the daemon
cp "$steady" "$tmp/steady-d"
cp "$steady" "$tmp/short"
"$LEAKHOUND" daemon --foreground --listen 127.0.0.1:0 -i 1 --no-snapshots \
	--include-exe "$tmp/steady-d" --include-exe "$tmp/short" > "$tmp/d.out" 2> "$tmp/d.err" &
dp=$!
pids+=("$dp")
port=$(daemon_port "$tmp/d.out")
targets() { curl -s "http://127.0.0.1:$port/api/v1/targets"; }
"$tmp/steady-d" -mode churn -duration 20s > /dev/null 2>&1 &
tp=$!
for _ in $(seq 100); do targets | grep -q "\"pid\":$tp," && break; sleep 0.1; done
kill -9 "$tp"
wait "$tp" 2> /dev/null
if np=$(sleep_at "$tp"); then
	pids+=("$np")
	sleep 1.5
	check "dying: daemon: PID $tp now a sleep: not listed" bash -c "! curl -s http://127.0.0.1:$port/api/v1/targets | grep -q '\"pid\":$tp,'"
	check "dying: daemon: the sleep runs on" kill -0 "$np"
	kill "$np"
else
	skip "dying: daemon PID reuse: could not get PID $tp again"
fi

# ---- 1000 short-lived Go processes ----
t0=$(date +%s)
seq 1000 | xargs -P 25 -I{} sh -c 'exec "$0" -mode churn -duration "$(( ({} * 37) % 450 + 50 ))ms" > /dev/null 2>&1' "$tmp/short"
sleep 2
curl -s "http://127.0.0.1:$port/metrics" > "$tmp/d.metrics"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$tmp/d.metrics"; }
att=$(metric leakhound_targets_attached_total)
det=$(metric leakhound_targets_detached_total)
check "dying: 1000 short processes: the daemon stays up" kill -0 "$dp"
# how many live long enough to be attached depends on the load: some, at least
check "dying: 1000 short processes: it attached to some (${att:-?}), detached as many (${det:-?})" \
	[ "${att:-0}" -ge 10 ] && [ "$att" = "$det" ]
check "dying: 1000 short processes: none listed once gone" \
	[ "$(targets | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["targets"]))')" = 0 ]
echo "dying: 1000 processes in $(($(date +%s) - t0)) s: attached $att, detached $det," \
	"failed $(metric leakhound_attach_failures_total)," \
	"daemon RSS $(metric leakhound_process_resident_memory_bytes) bytes"
prog_ids_of "$dp" > "$tmp/d.progs"
kill -TERM "$dp"
wait "$dp"
check "dying: daemon exits 0 on SIGTERM ($?)" [ $? = 0 ]
check "dying: daemon: its programs are gone" wait_progs_gone "$tmp/d.progs"
check "dying: daemon: no crash in its log" bash -c "! grep -qE 'Segmentation|AddressSanitizer|Aborted' '$tmp/d.err'"

finish
