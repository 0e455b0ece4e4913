#!/usr/bin/env bash
# leakhound trace in its other modes, on the leaky fixture (64 KiB entries leaked from
# main.leakCache at a known rate, 4 KiB garbage from main.churn) and on heapprof (links
# runtime/pprof: samples on its own):
#   --mallocgc, every release: writes nothing (the runtime's rate stays 0 while traced),
#     an allocation profile whose main.leakCache rate agrees within 25% with the entries
#     the fixture itself counts, churn allocating more; no suspects (no in-use data);
#   --no-write on a target that does not sample: one error line naming --mallocgc;
#   the probe budget: --rate 1 with a small budget backs off by raising the rate it
#     wrote (restored to 0 at exit, as the target itself prints), and on a target that
#     samples on its own, by recording fewer events, never writing its rate;
#   --dry-run --mallocgc lists the mallocgc probe and no write.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp

need_root trace_modes

# The target's own MemProfileRate, read by leakhound info while it runs.
live_rate() {
	"$LEAKHOUND" info --json -p "$1" 2>/dev/null | jq -r '.live.MemProfileRate // -1'
}

jobs_=()
n=0
while read -r bin rel fixture variant; do
	[ "$fixture" = leaky ] && [ "$variant" = default ] || continue
	name="mg-$rel"
	# 64 KiB entries at a 16 KiB BPF-side rate are always sampled: their count is exact
	"$bin" -duration 14s > "$tmp/$name.target" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	echo "$tpid" > "$tmp/$name.pid"
	(
		sleep 0.5
		"$LEAKHOUND" trace -p "$tpid" --mallocgc --no-write --rate 16384 -i 2 -d 9 --json \
			> "$tmp/$name.jsonl" 2> "$tmp/$name.err" &
		lh=$!
		sleep 4
		live_rate "$tpid" > "$tmp/$name.rate"
		wait $lh
		echo $? > "$tmp/$name.rc"
	) &
	jobs_+=($!)
	n=$((n + 1))
done < <(fixtures)
[ "$n" -gt 0 ] || { skip "trace_modes: no leaky fixtures built"; finish; }

bin=$(fixtures | awk '$3 == "leaky" && $4 == "default" { print $1; exit }')
hp=$(fixtures | awk '$3 == "heapprof" && $4 == "default" { print $1; exit }')

# --rate 1 with a budget the churn alone exceeds (~650 allocations/s)
"$bin" -duration 16s > "$tmp/budget.target" 2>&1 &
bpid=$!
pids+=("$bpid")
(
	sleep 0.5
	"$LEAKHOUND" trace -p "$bpid" --rate 1 --budget 200 -i 2 -d 6 --json \
		> "$tmp/budget.jsonl" 2> "$tmp/budget.err"
	echo $? > "$tmp/budget.rc"
) &
jobs_+=($!)

# a target that samples on its own: the back-off records fewer events, writes nothing
if [ -n "$hp" ]; then
	(cd "$tmp" && exec "$hp" -o "$tmp/hp") > /dev/null 2>&1 &
	hpid=$!
	pids+=("$hpid")
	(
		sleep 1
		"$LEAKHOUND" trace -p "$hpid" --budget 20 -i 2 -d 5 --json \
			> "$tmp/keep.jsonl" 2> "$tmp/keep.err"
		echo $? > "$tmp/keep.rc"
		live_rate "$hpid" > "$tmp/keep.rate"
		kill "$hpid"
	) &
	jobs_+=($!)
fi

# --no-write on a target whose linker disabled sampling, and --dry-run --mallocgc
"$bin" -duration 15s > /dev/null 2>&1 &
npid=$!
pids+=("$npid")
sleep 0.3
"$LEAKHOUND" trace -p "$npid" --no-write --no-goroutines -d 1 > "$tmp/nowrite.out" \
	2> "$tmp/nowrite.err"
rc=$?
check "--no-write --no-goroutines on a target that does not sample: exit 1 ($rc)" [ "$rc" = 1 ]
check "--no-write: one error line naming --mallocgc ($(cat "$tmp/nowrite.err"))" \
	[ "$(wc -l < "$tmp/nowrite.err")" = 1 -a "$(grep -c -- --mallocgc "$tmp/nowrite.err")" = 1 ]
# with goroutine tracing on (the default), it goes on with goroutines only
"$LEAKHOUND" trace -p "$npid" --no-write -i 1 -d 1 --json > "$tmp/nowrite.jsonl" \
	2> "$tmp/nowrite2.err"
rc=$?
gh=$(tail -n 1 "$tmp/nowrite.jsonl" | jq -c '[.go_heap, (.go_heap_off | type), (.goroutines | type)]')
check "--no-write, goroutines on: exit 0, heap off and said why, goroutines traced ($rc $gh)" \
	[ "$rc" = 0 -a "$gh" = '[null,"string","object"]' ]
r=$(live_rate "$npid")
check "--no-write: the target's rate is still 0 ($r)" [ "$r" = 0 ]
"$LEAKHOUND" trace -p "$npid" --mallocgc --dry-run > "$tmp/dry.out" 2>&1
rc=$?
check "--dry-run --mallocgc exits 0 ($rc)" [ "$rc" = 0 ]
check "--dry-run --mallocgc lists the runtime.mallocgc probe" \
	grep -q '^probe  runtime.mallocgc .* file offset' "$tmp/dry.out"
check "--dry-run --mallocgc lists no other heap probe and writes nothing" \
	[ "$(grep -c -E '^probe  runtime\.(profilealloc|freeSpecial|setprofilebucket) ' "$tmp/dry.out")" = 0 \
	-a "$(grep -c '^write  none' "$tmp/dry.out")" = 1 ]
check "--dry-run lists the goroutine probes" \
	[ "$(grep -c -E '^probe  runtime\.(newproc\.func1|malg|goexit0|gdestroy) ' "$tmp/dry.out")" = 3 ]

# without privileges: one line saying what is needed
setpriv --reuid=65534 --regid=65534 --clear-groups "$LEAKHOUND" trace -p "$npid" -d 1 \
	> /dev/null 2> "$tmp/nopriv.err"
rc=$?
check "as nobody: exit 1, one line naming the privileges ($rc: $(cat "$tmp/nopriv.err"))" \
	[ "$rc" = 1 -a "$(wc -l < "$tmp/nopriv.err")" = 1 -a "$(grep -c 'missing CAP_SYS_PTRACE, needed' "$tmp/nopriv.err")" = 1 ]

# the BPF maps are keyed by kernel PIDs: refused in another PID namespace
unshare -p -f --mount-proc "$LEAKHOUND" trace -p 1 > /dev/null 2> "$tmp/pidns.err"
rc=$?
check "in a PID namespace of its own: exit 1, said why ($rc: $(cat "$tmp/pidns.err"))" \
	[ "$rc" = 1 -a "$(grep -c 'initial PID namespace' "$tmp/pidns.err")" = 1 ]

wait "${jobs_[@]}"

for f in "$tmp"/mg-*.rc; do
	name=$(basename "$f" .rc)
	j=$tmp/$name.jsonl
	tpid=$(cat "$tmp/$name.pid")
	check "$name: --mallocgc trace exits 0 ($(cat "$f"); $(head -c 200 "$tmp/$name.err"))" \
		[ "$(cat "$f")" = 0 ]
	check "$name: the target's MemProfileRate stays 0 while traced ($(cat "$tmp/$name.rate"))" \
		[ "$(cat "$tmp/$name.rate")" = 0 ]
	mode=$(tail -n 1 "$j" | jq -c '[.go_heap.mode, .go_heap.sample_rate_set_by_leakhound, (.suspects | length), .stats.probe_mallocgc > 0]')
	check "$name: mallocgc mode, nothing written, no suspects, probe hits ($mode)" \
		[ "$mode" = '["mallocgc",false,0,true]' ]
	# leakCache's allocation rate between the first and the last report
	lk() { jq '[.go_heap.sites[] | select(any(.stack[]; .function == "main.leakCache")) | .alloc_bytes] | add // 0'; }
	ch() { jq '[.go_heap.sites[] | select(.stack[0].function == "main.churn") | .alloc_bytes] | add // 0'; }
	a0=$(head -n 1 "$j" | lk)
	a1=$(tail -n 1 "$j" | lk)
	c1=$(tail -n 1 "$j" | ch)
	span=$(jq -s '.[-1].elapsed_s - .[0].elapsed_s' "$j")
	got=$(awk -v a="$a0" -v b="$a1" -v t="$span" 'BEGIN { printf "%d", (t > 0 ? (b - a) / t : 0) }')
	# known: the entries the fixture kept over its 14 s, 64 KiB each
	for _ in $(seq 100); do kill -0 "$tpid" 2>/dev/null || break; sleep 0.1; done
	out=$(tail -n 1 "$tmp/$name.target")
	check "$name: target exits normally, data intact, MemProfileRate 0 ($out)" \
		grep -q '^ok [0-9]* MemProfileRate 0$' <<< "$out"
	kept=$(awk '{ print $2 }' <<< "$out")
	known=$(awk -v k="${kept:-0}" 'BEGIN { printf "%d", k * 65536 / 14 }')
	check "$name: main.leakCache allocates $got B/s, within 25% of the known $known B/s" \
		awk -v g="$got" -v k="$known" 'BEGIN { d = (g - k) / (k ? k : 1); exit !(d < 0.25 && d > -0.25) }'
	check "$name: main.churn allocates more than main.leakCache ($c1 > $a1)" \
		awk -v c="$c1" -v a="$a1" 'BEGIN { exit !(c > a) }'
done

rc=$(cat "$tmp/budget.rc")
check "budget: trace --rate 1 exits 0 ($rc)" [ "$rc" = 0 ]
b=$(tail -n 1 "$tmp/budget.jsonl" | jq -c '[.budget.backoffs > 0, .go_heap.sample_rate > 1, .stats.budget_skip > 0]')
check "budget: exceeded, counted, backed off by raising the rate ($b)" [ "$b" = '[true,true,true]' ]
check "budget: said so on stderr" grep -q 'probe budget 200/s exceeded' "$tmp/budget.err"
for _ in $(seq 150); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
out=$(tail -n 1 "$tmp/budget.target")
check "budget: target exits normally, MemProfileRate back at 0 ($out)" \
	grep -q '^ok [0-9]* MemProfileRate 0$' <<< "$out"
if [ -n "$hp" ]; then
	rc=$(cat "$tmp/keep.rc")
	check "budget on a sampling target: trace exits 0 ($rc)" [ "$rc" = 0 ]
	k=$(tail -n 1 "$tmp/keep.jsonl" | jq -c '[.budget.keep_1_in > 1, .go_heap.sample_rate, .go_heap.sample_rate_set_by_leakhound]')
	check "budget on a sampling target: fewer events kept, its own rate ($k)" \
		[ "$k" = '[true,524288,false]' ]
	check "budget on a sampling target: MemProfileRate untouched ($(cat "$tmp/keep.rate"))" \
		[ "$(cat "$tmp/keep.rate")" = 524288 ]
fi
wait_no_progs
check "no lh_goheap/lh_gor program after the tracers exit ($(our_progs))" [ "$(our_progs)" = 0 ]
finish
