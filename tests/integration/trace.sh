#!/usr/bin/env bash
# leakhound trace -p PID on the leaky fixture (64 KiB/s-scale leak from main.leakCache,
# garbage from main.churn, GOGC=20), every release built, default and stripped: the
# leaking function tops the live sites and its live bytes grow; the target runs on and
# exits normally with its own data intact; the sampling rate leakhound turned on is
# back to the runtime's 0 (as the target itself prints at exit); nothing of ours stays
# attached, also after a SIGKILLed tracer and a target that exits under the tracer;
# errors give one line and exit 1. Then heapprof (samples on its own: history) and the
# steady negative controls. Leak kinds, binary variants, the runtime's own profile as
# ground truth, the default rate and a GC-heavy target: trace_leaks.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp

need_root trace

before=$(our_progs)
check "no lh_goheap program loaded before the test ($before)" [ "$before" = 0 ]

# One run per fixture binary, all in parallel; the tracer reports every 2 s.
n=0
tracers=()
while read -r bin rel fixture variant; do
	[ "$fixture-$variant" = leaky-default ] || [ "$fixture-$variant" = leaky-stripped ] || continue
	name="$rel-$variant"
	# default builds: --rate 64 KiB (enough samples for the model in 12 s) and pprof
	# files; stripped ones: the default 512 KiB for 8 s
	if [ "$variant" = default ]; then
		dur=12 args=(--rate 65536 -o "$tmp/$name.pprof")
		mkdir -p "$tmp/$name.pprof"
	else
		dur=8 args=()
	fi
	"$bin" -duration $((dur + 6))s > "$tmp/$name.target" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	echo "$tpid" > "$tmp/$name.pid"
	(
		sleep 0.5
		"$LEAKHOUND" trace -p "$tpid" -i 2 -d "$dur" --json "${args[@]}" \
			> "$tmp/$name.jsonl" 2> "$tmp/$name.err"
		echo $? > "$tmp/$name.rc"
		# right away, while the target still runs
		kill -0 "$tpid" 2>/dev/null && echo yes > "$tmp/$name.alive"
		"$LEAKHOUND" info --json -p "$tpid" 2>/dev/null |
			jq -r '.live.MemProfileRate // -1' > "$tmp/$name.rate"
	) &
	tracers+=($!)
	n=$((n + 1))
done < <(fixtures)
[ "$n" -gt 0 ] || { skip "trace: no leaky fixtures built"; finish; }
wait "${tracers[@]}"

for f in "$tmp"/*.rc; do
	name=$(basename "$f" .rc)
	tpid=$(cat "$tmp/$name.pid")
	rc=$(cat "$f")
	check "$name: trace exits 0 (rc $rc; $(head -c 200 "$tmp/$name.err"))" [ "$rc" = 0 ]
	lines=$(wc -l < "$tmp/$name.jsonl")
	check "$name: one JSON report per line, >= 3 reports ($lines)" [ "$lines" -ge 3 ]
	bad=$(jq -c 'select(.schema != 1 or .pid != '"$tpid"' or (.go_heap.sites | type) != "array")' \
		"$tmp/$name.jsonl" 2>&1 | wc -l)
	check "$name: every line is schema 1 JSON for pid $tpid ($bad bad)" [ "$bad" = 0 ]
	top=$(tail -n 1 "$tmp/$name.jsonl" | jq -r '[.go_heap.sites[0].stack[].function] | join(" ")')
	check "$name: main.leakCache in the top site's stack ($top)" \
		grep -qw 'main.leakCache' <<< "$top"
	trimmed=$(tail -n 1 "$tmp/$name.jsonl" | jq -r '.go_heap.sites[0].stack[0].function')
	check "$name: runtime allocation frames trimmed (first frame $trimmed)" \
		[ "$trimmed" = main.leakCache ]
	first=$(head -n 1 "$tmp/$name.jsonl" | jq '[.go_heap.sites[] | select(any(.stack[]; .function == "main.leakCache")) | .inuse_bytes] | add // 0')
	last=$(tail -n 1 "$tmp/$name.jsonl" | jq '[.go_heap.sites[] | select(any(.stack[]; .function == "main.leakCache")) | .inuse_bytes] | add // 0')
	check "$name: leakCache live bytes grow ($first -> $last)" [ "$last" -gt "$first" ]
	set_by=$(head -n 1 "$tmp/$name.jsonl" | jq -r '.go_heap.sample_rate_set_by_leakhound')
	check "$name: sampling turned on by leakhound (rate 0 in a binary without pprof)" \
		[ "$set_by" = true ]
	if [ -d "$tmp/$name.pprof" ]; then
		# the fixture leaks 64 KiB every 100 ms plus loop time: it prints how many
		# entries it kept; the known rate is measured from the target's own count
		sus=$(tail -n 1 "$tmp/$name.jsonl" | jq -r '[.suspects[] | select(any(.stack[]; .function == "main.leakCache"))][0].growth_per_s // 0')
		check "$name: main.leakCache is a leak suspect (growth $sus B/s)" \
			awk -v g="$sus" 'BEGIN { exit !(g > 0) }'
		nsus=$(tail -n 1 "$tmp/$name.jsonl" | jq '.suspects | length')
		check "$name: main.churn (garbage) is no suspect ($nsus suspects)" \
			[ "$(tail -n 1 "$tmp/$name.jsonl" | jq '[.suspects[] | select(.stack[0].function == "main.churn")] | length')" = 0 ]
		echo "$sus" > "$tmp/$name.growth"
		last="$tmp/$name.pprof/heap-$tpid-$lines.pb.gz"
		gocmd=$(go_for "${name%-*}")
		$gocmd tool pprof -top -sample_index=inuse_space "$last" > "$tmp/$name.top" 2>&1
		top=$(awk '$1 ~ /B$/ && NF >= 6 { print $6; exit }' "$tmp/$name.top")
		check "$name: go tool pprof -top opens $(basename "$last"): top inuse_space main.leakCache ($top)" \
			[ "$top" = main.leakCache ]
	fi
	check "$name: target still running after trace exits" [ -s "$tmp/$name.alive" ]
	rate=$(cat "$tmp/$name.rate")
	check "$name: MemProfileRate restored to 0 (info: $rate)" [ "$rate" = 0 ]
done
wait_no_progs
check "no lh_goheap program after the tracers exit ($(our_progs))" [ "$(our_progs)" = 0 ]
check "no uprobe_events entry of ours ($(our_uprobes))" [ "$(our_uprobes)" = 0 ]

# The targets finish on their own: data intact, rate back at 0 in the runtime's own view.
for f in "$tmp"/*.pid; do
	name=$(basename "$f" .pid)
	tpid=$(cat "$f")
	for _ in $(seq 100); do kill -0 "$tpid" 2>/dev/null || break; sleep 0.1; done
	out=$(tail -n 1 "$tmp/$name.target")
	check "$name: target exits normally, data intact, MemProfileRate 0 ($out)" \
		grep -q '^ok [0-9]* MemProfileRate 0$' <<< "$out"
	if [ -s "$tmp/$name.growth" ]; then
		# known rate: entries kept / run time, 64 KiB each (the target's own count)
		kept=$(awk '{ print $2 }' <<< "$out")
		known=$(awk -v k="$kept" 'BEGIN { printf "%d", k * 65536 / 18 }')
		g=$(cat "$tmp/$name.growth")
		check "$name: suspect growth $g B/s within 25% of the known $known B/s" \
			awk -v g="$g" -v k="$known" 'BEGIN { d = (g - k) / k; exit !(d < 0.25 && d > -0.25) }'
	fi
done

# A target that samples on its own (heapprof links runtime/pprof): no write, the first
# report already has the history before attach, the leaks are suspects, churn is not.
hp=()
while read -r bin rel fixture variant; do
	[ "$fixture" = heapprof ] || continue
	if [ -n "$MATRIX" ]; then
		[ "$variant" = default ] || continue
	else
		case "$rel-$variant" in go1.26*-default | go1.19*-stripped) ;; *) continue ;; esac
	fi
	name="hp-$rel-$variant"
	(cd "$tmp" && exec "$bin" -o "$tmp/$name") > /dev/null 2>&1 &
	tpid=$!
	pids+=("$tpid")
	(
		sleep 1
		"$LEAKHOUND" trace -p "$tpid" -i 2 -d 12 --json > "$tmp/$name.jsonl" 2> "$tmp/$name.err"
		echo $? > "$tmp/$name.hrc"
		"$LEAKHOUND" info --json -p "$tpid" 2>/dev/null |
			jq -r '.live.MemProfileRate // -1' > "$tmp/$name.rate"
		kill "$tpid"
	) &
	hp+=($!)
done < <(fixtures)
# Negative controls, at the same time: a cache at its cap, one spike, a bounded churn
# window (64 KiB entries, 8 MiB); same rate and length as the leaky runs. The spike comes
# 5 s in, after attach (which takes a while under load) and mid-run for the model.
while read -r bin rel fixture variant; do
	[ "$fixture-$variant" = steady-default ] || continue
	release_in "$rel" 'go1.26*' 'go1.19*' || continue
	for mode in plateau spike churn; do
		name="st-$rel-$mode"
		"$bin" -mode "$mode" -spike 5s -duration 16s > "$tmp/$name.target" 2>&1 &
		tpid=$!
		pids+=("$tpid")
		(
			sleep 0.5
			"$LEAKHOUND" trace -p "$tpid" -i 2 -d 12 --rate 65536 --json \
				> "$tmp/$name.jsonl" 2> "$tmp/$name.err"
			echo $? > "$tmp/$name.src"
		) &
		hp+=($!)
	done
done < <(fixtures)
[ ${#hp[@]} -gt 0 ] && wait "${hp[@]}"
declare -A want_top=([plateau]=main.fillCache [spike]=main.bigSpike [churn]=main.churnWindow)
for f in "$tmp"/st-*.src; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .src)
	mode=${name##*-}
	j=$tmp/$name.jsonl
	check "$name: trace exits 0 ($(cat "$f"); $(head -c 200 "$tmp/$name.err"))" [ "$(cat "$f")" = 0 ]
	top=$(tail -n 1 "$j" | jq -r '.go_heap.sites[0].stack[0].function')
	check "$name: the bounded structure is the top site ($top)" [ "$top" = "${want_top[$mode]}" ]
	w=$(tail -n 1 "$j" | jq '.go_heap.windows')
	check "$name: the model had its windows ($w >= 4)" [ "$w" -ge 4 ]
	sus=$(jq -r '.suspects[].stack[0].function' "$j" | sort -u | tr '\n' ' ')
	check "$name: no suspect in any report ($sus)" [ -z "$sus" ]
done
for f in "$tmp"/hp-*.hrc; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .hrc)
	j=$tmp/$name.jsonl
	check "$name: trace exits 0 ($(cat "$f"); $(head -c 200 "$tmp/$name.err"))" [ "$(cat "$f")" = 0 ]
	first=$(head -n 1 "$j" | jq -c '.go_heap | [.history, .sample_rate, .sample_rate_set_by_leakhound]')
	check "$name: history, the target's own rate, no write ($first)" [ "$first" = '[true,524288,false]' ]
	pre=$(head -n 1 "$j" | jq '[.go_heap.sites[] | select(.stack[0].function == "main.leakSmall") | .pre_attach_bytes] | add // 0')
	check "$name: first report has leakSmall's pre-attach bytes ($pre)" [ "$pre" -gt 0 ]
	sus=$(tail -n 1 "$j" | jq -r '[.suspects[].stack[0].function] | sort | join(" ")')
	check "$name: leakSmall and leakLarge are suspects ($sus)" \
		grep -q 'main.leakLarge main.leakSmall' <<< "$sus"
	check "$name: churn is not ($sus)" [ "$(grep -c main.churn <<< "$sus")" = 0 ]
	check "$name: MemProfileRate untouched ($(cat "$tmp/$name.rate"))" \
		[ "$(cat "$tmp/$name.rate")" = 524288 ]
done
wait_no_progs
check "no lh_goheap program after the history runs" [ "$(our_progs)" = 0 ]

bin=$(fixtures | awk '$3 == "leaky" && $4 == "default" { print $1; exit }')

# SIGKILLed tracer: the kernel drops the links with the fds; the rate stays set (documented).
"$bin" -duration 6s > "$tmp/kill.target" 2>&1 &
tpid=$!
pids+=("$tpid")
sleep 0.3
"$LEAKHOUND" trace -p "$tpid" -i 1 > /dev/null 2>&1 &
lpid=$!
for _ in $(seq 50); do [ "$(our_progs)" -gt 0 ] && break; sleep 0.1; done
check "SIGKILL: programs loaded while tracing ($(our_progs))" [ "$(our_progs)" -gt 0 ]
sleep 1
kill -9 "$lpid"
wait "$lpid" 2>/dev/null
wait_no_progs
check "SIGKILL: no lh_goheap program left ($(our_progs))" [ "$(our_progs)" = 0 ]
wait "$tpid"
check "SIGKILL: target runs on and exits 0 (rate left set: $(tail -n 1 "$tmp/kill.target"))" \
	grep -q '^ok [0-9]* MemProfileRate 524288$' "$tmp/kill.target"

# SIGTERM and SIGINT: a clean exit 0, the rate put back (the runtime's own view at exit).
for sig in TERM INT; do
	"$bin" -duration 5s > "$tmp/sig$sig.target" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	sleep 0.3
	"$LEAKHOUND" trace -p "$tpid" -i 1 > "$tmp/sig$sig.out" 2>&1 &
	lpid=$!
	sleep 2
	kill -"$sig" "$lpid"
	wait "$lpid"
	rc=$?
	check "SIG$sig: trace exits 0 (rc $rc)" [ "$rc" = 0 ]
	check "SIG$sig: says it restored the rate" grep -q 'restored runtime.MemProfileRate = 0' "$tmp/sig$sig.out"
	wait_no_progs
	check "SIG$sig: no lh_goheap program left" [ "$(our_progs)" = 0 ]
	wait "$tpid"
	check "SIG$sig: target exits 0 with its rate back at 0 ($(tail -n 1 "$tmp/sig$sig.target"))" \
		grep -q '^ok [0-9]* MemProfileRate 0$' "$tmp/sig$sig.target"
done

# The target exits under the tracer: trace stops by itself, exit 0, nothing left.
"$bin" -duration 2s > /dev/null 2>&1 &
tpid=$!
pids+=("$tpid")
sleep 0.3
timeout 20 "$LEAKHOUND" trace -p "$tpid" -i 1 > "$tmp/exit.out" 2>&1
rc=$?
why=$(grep -m1 'error' "$tmp/exit.out")
check "target exit: trace stops by itself with 0 (rc $rc${why:+; $why})" [ "$rc" = 0 ]
wait_no_progs
check "target exit: no lh_goheap program left" [ "$(our_progs)" = 0 ]

# --dry-run lists the probes and the write, and touches nothing.
"$bin" -duration 3s > "$tmp/dry.target" 2>&1 &
tpid=$!
pids+=("$tpid")
sleep 0.3
"$LEAKHOUND" trace -p "$tpid" --dry-run > "$tmp/dry.out" 2>&1
check "dry-run: exits 0" [ $? = 0 ]
check "dry-run: lists the freeSpecial probe" \
	grep -q "probe  runtime.freeSpecial" "$tmp/dry.out"
check "dry-run: lists the profilealloc probe" grep -q 'probe  runtime.profilealloc' "$tmp/dry.out"
check "dry-run: lists the MemProfileRate write" grep -q 'write  runtime.MemProfileRate' "$tmp/dry.out"
wait "$tpid"
check "dry-run: rate untouched ($(tail -n 1 "$tmp/dry.target"))" \
	grep -q '^ok [0-9]* MemProfileRate 0$' "$tmp/dry.target"

# --no-write on a binary that samples nothing, goroutines off too: nothing to trace,
# one line, exit 1.
"$bin" -duration 2s > /dev/null 2>&1 &
tpid=$!
pids+=("$tpid")
sleep 0.3
"$LEAKHOUND" trace -p "$tpid" --no-write --no-goroutines -d 1 > /dev/null 2> "$tmp/nw.err"
rc=$?
check "--no-write with sampling off: exit 1 (rc $rc)" [ "$rc" = 1 ]
check "--no-write: one line on stderr ($(head -c 120 "$tmp/nw.err"))" [ "$(wc -l < "$tmp/nw.err")" = 1 ]
wait "$tpid"

# Errors: one line, exit 1.
"$LEAKHOUND" trace -p 4194303 > /dev/null 2> "$tmp/nopid.err"
rc=$?
check "no such PID: exit 1 (rc $rc)" [ "$rc" = 1 ]
check "no such PID: one line ($(cat "$tmp/nopid.err"))" [ "$(wc -l < "$tmp/nopid.err")" = 1 ]
sleep 5 &
spid=$!
pids+=("$spid")
"$LEAKHOUND" trace -p "$spid" > /dev/null 2> "$tmp/nongo.err"
rc=$?
check "non-Go process: exit 1 (rc $rc)" [ "$rc" = 1 ]
check "non-Go process: one line ($(cat "$tmp/nongo.err"))" [ "$(wc -l < "$tmp/nongo.err")" = 1 ]
kill "$spid" 2>/dev/null
check "no lh_goheap program at the end" [ "$(our_progs)" = 0 ]
finish
