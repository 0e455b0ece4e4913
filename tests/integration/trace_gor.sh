#!/usr/bin/env bash
# Goroutine tracing in leakhound trace, on the gorgrow fixture (goroutine leaks paced on
# the clock at a known rate, 5 a second; negative controls churn and pool), built by
# every release, default and stripped: the leaking `go` statement's function heads the
# creation stack of the top goroutine suspect, whose growth is within 25% of the rate
# the fixture itself counts, and whose goroutines are parked in the wait reason the
# leak implies (read from the target's memory at each report); the per-request HTTP
# client of DESIGN.md story 1 is traced through net/http's dialConnFor goroutine back to
# main.newClientGet (ancestors), the server being another process as in the story; churn and a fixed pool give no suspect; heap and
# goroutine tracing run together; --no-goroutines leaves it out; nothing stays attached.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp

need_root trace_gor

DUR=16	# the fixture's run; leakhound traces 12 s of it, a report every 2 s

# run NAME BIN MODE [leakhound options...]: target and tracer in the background
jobs_=()
run() {
	local name=$1 bin=$2 mode=$3
	shift 3
	"$bin" -mode "$mode" -duration ${DUR}s > "$tmp/$name.target" 2>&1 &
	local tpid=$!
	pids+=("$tpid")
	echo "$tpid" > "$tmp/$name.pid"
	(
		sleep 1
		"$LEAKHOUND" trace -p "$tpid" -i 2 -d 12 --json "$@" > "$tmp/$name.jsonl" \
			2> "$tmp/$name.err"
		echo $? > "$tmp/$name.rc"
	) &
	jobs_+=($!)
}

n=0
while read -r bin rel fixture variant; do
	[ "$fixture" = gorgrow ] || continue
	n=$((n + 1))
	if [ "$variant" = stripped ]; then
		if release_in "$rel" 'go1.26*' 'go1.19*'; then
			run "ticker-$rel-stripped" "$bin" ticker --no-write
		fi
		continue
	fi
	run "ticker-$rel" "$bin" ticker --no-write
	if release_in "$rel" 'go1.26*' 'go1.19*'; then
		run "http-$rel" "$bin" http --no-write
		run "churn-$rel" "$bin" churn --no-write
		run "pool-$rel" "$bin" pool --no-write
	fi
	if release_in "$rel" 'go1.22*'; then
		run "timeout-$rel" "$bin" timeout --no-write
		run "nogor-$rel" "$bin" ticker --no-goroutines
	fi
	if release_in "$rel" 'go1.24*'; then
		run "wg-$rel" "$bin" wg --no-write
		# the heap too: leakhound turns sampling on
		run "both-$rel" "$bin" ticker
	fi
done < <(fixtures)
[ "$n" -gt 0 ] || { skip "trace_gor: no gorgrow fixtures built"; finish; }
wait "${jobs_[@]}"

# the top goroutine suspect of the last report of $1
top_suspect() {
	tail -n 1 "$1" | jq -c '[.suspects[] | select(.kind == "goroutine")][0] // empty'
}
known_rate() { # the fixture's own count of leaking operations over its run
	awk -v d=$DUR '$1 == "ok" { printf "%.3f", $2 / d }' "$1"
}
within25() { awk -v g="$1" -v k="$2" 'BEGIN { d = (g - k) / (k ? k : 1); exit !(d < 0.25 && d > -0.25) }'; }

declare -A leak_fn=([ticker]=main.tickerLeak [timeout]=main.queryWithTimeout [wg]=main.waitForever [both]=main.tickerLeak)
declare -A leak_state=([ticker]="chan receive" [timeout]="chan send" [both]="chan receive")
for f in "$tmp"/*.rc; do
	name=$(basename "$f" .rc)
	mode=${name%%-*}
	j=$tmp/$name.jsonl
	tpid=$(cat "$tmp/$name.pid")
	rc=$(cat "$f")
	check "$name: trace exits 0 ($rc; $(grep -v warning "$tmp/$name.err" | head -c 200))" [ "$rc" = 0 ]
	for _ in $(seq 100); do kill -0 "$tpid" 2>/dev/null || break; sleep 0.1; done
	check "$name: the target ran on to its end ($(tail -n 1 "$tmp/$name.target"))" \
		grep -q '^ok [0-9]*$' "$tmp/$name.target"
	case $mode in
	churn | pool)
		sus=$(jq -r '.suspects[] | select(.kind == "goroutine") | .stack[0].function' "$j" | sort -u | tr '\n' ' ')
		w=$(tail -n 1 "$j" | jq '.goroutines.windows')
		check "$name: the model had its windows ($w >= 4)" [ "$w" -ge 4 ]
		check "$name: no goroutine suspect in any report ($sus)" [ -z "$sus" ]
		created=$(tail -n 1 "$j" | jq '.goroutines.created')
		[ "$mode" = churn ] && check "$name: the probes saw the churn ($created created)" \
			[ "$created" -gt 1000 ]
		;;
	nogor)
		k=$(tail -n 1 "$j" | jq -c '[has("goroutines"), (.go_heap | type)]')
		check "$name: --no-goroutines: no goroutines section, heap traced ($k)" [ "$k" = '[false,"object"]' ]
		;;
	http)
		s=$(top_suspect "$j")
		top=$(jq -r '.stack[0].function // "none"' <<< "${s:-{\}}")
		check "$name: the top goroutine suspect is a persistConn loop started in dialConn ($top)" \
			[ "$top" = "net/http.(*Transport).dialConn" ]
		anc=$(jq -r '[.stack[].function, .ancestors[][].function] | join(" ")' <<< "${s:-{\}}")
		check "$name: its creation stack, ancestors chained, leads back to main.newClientGet (story 1)" \
			grep -qw 'main.newClientGet' <<< "$anc"
		n=$(tail -n 1 "$j" | jq '[.suspects[] | select(.kind == "goroutine")] | length')
		check "$name: readLoop and writeLoop, two suspects ($n)" [ "$n" = 2 ]
		g=$(jq '.growth_per_s // 0' <<< "${s:-{\}}")
		k=$(known_rate "$tmp/$name.target")
		check "$name: grows $g/s, within 25% of the $k requests/s the fixture made" within25 "$g" "$k"
		;;
	*)
		fn=${leak_fn[$mode]}
		s=$(top_suspect "$j")
		top=$(jq -r '.stack[0].function // "none"' <<< "${s:-{\}}")
		check "$name: $fn heads the top goroutine suspect's creation stack ($top)" [ "$top" = "$fn" ]
		g=$(jq '.growth_per_s // 0' <<< "${s:-{\}}")
		k=$(known_rate "$tmp/$name.target")
		check "$name: grows $g/s, within 25% of the fixture's own $k/s" within25 "$g" "$k"
		if [ -n "${leak_state[$mode]:-}" ]; then
			st=$(jq -r '.states[0].state // "none"' <<< "${s:-{\}}")
			check "$name: its goroutines are parked in '${leak_state[$mode]}' ($st)" \
				[ "$st" = "${leak_state[$mode]}" ]
		fi
		now=$(jq -r '[.oldest_now.stack[].function] | join(" ")' <<< "${s:-{\}}" 2>/dev/null)
		check "$name: the oldest one's current stack is read (${now:0:80})" [ -n "$now" ]
		pre=$(tail -n 1 "$j" | jq '.goroutines.pre_attach // -1')
		check "$name: goroutines from before attach are counted apart ($pre)" [ "$pre" -gt 0 ]
		if [ "$mode" = both ]; then
			h=$(tail -n 1 "$j" | jq -c '[.go_heap.sample_rate_set_by_leakhound, (.goroutines.sites | length > 0)]')
			check "$name: heap and goroutines traced together ($h)" [ "$h" = '[true,true]' ]
		fi
		;;
	esac
done

# A goroutine storm (tools/spawnbench: hundreds of thousands a second, far past ten times
# the budget): the probes come off after three seconds, said on stderr and in the report,
# and goroutines are followed by snapshots; the workload runs to its end.
sb=$OUTPUT/tools/spawnbench
gocmd=$(go_for "$(awk -F '\t' 'NR == 1 { print $1 }' "$FIXTURES/toolchains.tsv")")
if (cd tools/spawnbench && $gocmd build -o "$(readlink -f "../../$OUTPUT")/tools/spawnbench" .); then
	"$sb" -wait=false -warmup 0.5 -seconds 11 > "$tmp/storm.target" 2>&1 &
	spid=$!
	pids+=("$spid")
	sleep 1
	"$LEAKHOUND" trace -p "$spid" --no-write -i 2 -d 8 --json > "$tmp/storm.jsonl" 2> "$tmp/storm.err"
	rc=$?
	d=$(tail -n 1 "$tmp/storm.jsonl" | jq -c '[.goroutines.budget.detached, (.goroutines.count > 0)]')
	check "storm: trace exits 0, probes detached, snapshots go on ($rc $d)" \
		[ "$rc" = 0 -a "$d" = '[true,true]' ]
	check "storm: said so on stderr" grep -q 'creation and exit probes detached' "$tmp/storm.err"
	wait "$spid"
	check "storm: the workload ran to its end ($(cat "$tmp/storm.target" | tail -n 1))" \
		grep -q '^spawns [0-9]' "$tmp/storm.target"
else
	fail "storm: cannot build tools/spawnbench"
fi

wait_no_progs
check "no lh_goheap/lh_gor program after the tracers exit ($(our_progs))" [ "$(our_progs)" = 0 ]
finish
