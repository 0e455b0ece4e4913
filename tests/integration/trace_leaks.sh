#!/usr/bin/env bash
# leakhound trace -p PID: leak kinds, binary variants, the runtime's own profile as
# ground truth, the default sampling rate, and a GC-heavy target; all runs at once
# (60-75 s, about the length of the GC-heavy run), on go1.26 and Debian's go1.19 builds:
#
#  1. Leak kinds (the leaky fixture, -mode): a map cache without eviction
#     (main.leakCache, 64 KiB entries), sub-slices of 256 KiB buffers (main.leakSubslice:
#     each 64-byte header keeps its whole buffer, so the leak is 256 KiB per buffer)
#     and a per-request 32 KiB buffer kept in a global (main.handleRequest). The fixture
#     paces its leak by the clock, so the known rate is its -rate. For each: the leaking
#     function is the top suspect's first frame within 5 reports and still in the last,
#     its growth is within 25% of -rate, main.churn (garbage) is no suspect, the target
#     ends with its data intact and its own MemProfileRate as expected.
#  2. Variants: -tags pprof (links runtime/pprof: the runtime samples at 512 KiB from
#     the start, leakhound writes nothing and reads the history before attach: the
#     leaking site has pre-attach bytes in the first report), ext-stripped (cgo,
#     -linkmode=external, -s -w: no symbol for MemProfileRate or mbuckets) and
#     pprof-ext-stripped; the same leak check on each mode.
#     Runs with the rate leakhound writes use --rate 65536, -i 2 -d 12, 1.25 MiB/s; runs
#     at 512 KiB (the pprof variants) -i 5 -d 35 and 4 MiB/s: 25% on the growth needs
#     about 190 samples over the fit (five 5 s windows), see docs/TRACE.md.
#  3. Ground truth: the heapprof fixture writes its own runtime/pprof heap profile on
#     SIGUSR1 (then stops itself). Right after leakhound's 4th report it is signalled;
#     leakhound's 4th profile (-o DIR) and its 5th (made while the target is stopped,
#     after the target's own runtime.GC()) against the target's: the same two top
#     functions by inuse_space (go tool pprof -raw), in-use per function within 15%.
#     With sampling off at start (-rate -1: leakhound writes 65536, live tracking by the
#     probes) and with the target's own rate (-rate 65536 set by itself: history).
#  4. GC-heavy: the gcstress fixture (GOGC=5, ~50 GC/s alone, maps, linked lists, slices
#     of pointers mutated and checked with checksums, deep recursions that move stacks)
#     under --rate 4096: traced 60 s to a normal -d end, and in another run 20 s until
#     leakhound is SIGKILLed. Then the target, told to stop (SIGTERM), checks all of its
#     data once more, prints ok and exits 0. Before tracing each probe site in the
#     target's memory holds the executable's byte, while traced the uprobe breakpoint
#     (0xcc), after leakhound exits the executable's byte again. The probes fired and
#     nothing was dropped.
#  5. The default 512 KiB rate with the rate written by leakhound (no history): a
#     1 MiB/s cache leak, -i 5 -d 35: a suspect within 5 reports, growth within 50%
#     (three sigma of the sampling noise with ~47 samples over the fit).
#  Negative controls under the same settings as 2 and 5 (the steady fixture, default
#  and pprof builds: a cache at its 16 MiB cap, a 16 MiB spike after 12 s, a 16 MiB
#  window turning over every second): no suspect in any report.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}" $(cat "$tmp"/*.gcpid 2>/dev/null); do
		kill -CONT "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT && echo "tmp $tmp"

need_root trace_leaks
PPROF_GO=/usr/local/go/bin/go
[ -x $PPROF_GO ] || PPROF_GO=/usr/lib/go-1.19/bin/go

# The releases the variants run on.
wanted_release() {
	release_in "$1" 'go1.26*' 'go1.19*'
}
declare -A leak_fn=([cache]=main.leakCache [subslice]=main.leakSubslice [global]=main.handleRequest)

# ---- 4. GC-heavy, in the background while the rest runs ----

# Probe sites as "symbol file-offset", from --dry-run.
probe_sites() { # pid
	"$LEAKHOUND" trace -p "$1" --dry-run 2>/dev/null |
		awk '$1 == "probe" { for (i = 1; i < NF; i++) if ($i == "offset") print $2, $(i + 1) }'
}
# One byte of a file or of a process's memory, as two hex digits.
byte_at() { # file offset
	dd if="$1" bs=1 skip="$2" count=1 iflag=skip_bytes status=none | od -An -tx1 | tr -d ' \n'
}
# "symbol live-byte file-byte" for each probe site of a target.
site_bytes() { # pid bin sites-file
	local pid=$1 bin=$2 sym off start end moff addr r
	bin=$(readlink -f "$bin")
	while read -r sym off; do
		addr=
		while read -r r _ moff _ _ path; do
			[ "$path" = "$bin" ] || continue
			start=$((16#${r%-*}))
			end=$((16#${r#*-}))
			moff=$((16#$moff))
			if [ $((off)) -ge "$moff" ] && [ $((off)) -lt $((moff + end - start)) ]; then
				addr=$((start + off - moff))
				break
			fi
		done < "/proc/$pid/maps"
		[ -n "$addr" ] || continue
		echo "$sym $(byte_at "/proc/$pid/mem" "$addr") $(byte_at "$bin" $((off)))"
	done < "$3"
}
all_cc() { [ -s "$1" ] && awk '$2 != "cc" { bad = 1 } END { exit bad }' "$1"; }
all_orig() { [ -s "$1" ] && awk '$2 != $3 || $2 == "cc" { bad = 1 } END { exit bad }' "$1"; }

# The target runs until it is told to stop (SIGTERM), after the last look at its probe
# sites: leakhound's exit (detaching) takes a while under load.
gc_run() { # name bin trace-seconds how(end|kill)
	local name=$1 bin=$2 tdur=$3 how=$4 tpid lpid
	cp "$bin" "$tmp/$name.bin"
	"$tmp/$name.bin" -duration 300s -workers 2 > "$tmp/$name.target" 2>&1 &
	tpid=$!
	echo "$tpid" > "$tmp/$name.gcpid"
	sleep 0.5
	probe_sites "$tpid" > "$tmp/$name.sites"
	site_bytes "$tpid" "$tmp/$name.bin" "$tmp/$name.sites" > "$tmp/$name.before"
	if [ "$how" = end ]; then
		"$LEAKHOUND" trace -p "$tpid" --rate 4096 -i 5 -d "$tdur" --json \
			> "$tmp/$name.jsonl" 2> "$tmp/$name.err" &
	else
		"$LEAKHOUND" trace -p "$tpid" --rate 4096 -i 5 --json \
			> "$tmp/$name.jsonl" 2> "$tmp/$name.err" &
	fi
	lpid=$!
	# all probes are in once the first report is out (5 s; later on a loaded machine)
	for _ in $(seq 300); do [ -s "$tmp/$name.jsonl" ] && break; sleep 0.1; done
	site_bytes "$tpid" "$tmp/$name.bin" "$tmp/$name.sites" > "$tmp/$name.during"
	if [ "$how" = end ]; then
		wait "$lpid"
		echo $? > "$tmp/$name.lrc"
	else
		sleep $((tdur - 6))
		kill -9 "$lpid"
		wait "$lpid" 2>/dev/null
	fi
	site_bytes "$tpid" "$tmp/$name.bin" "$tmp/$name.sites" > "$tmp/$name.after"
	kill -TERM "$tpid"
	wait "$tpid"
	echo $? > "$tmp/$name.trc"
}

gc_bin=$(fixtures | awk '$3 == "gcstress" && $2 ~ /^go1\.26/ { print $1; exit }')
[ -n "$gc_bin" ] || gc_bin=$(fixtures | awk '$3 == "gcstress" { print $1; exit }')
gc_jobs=()
if [ -n "$gc_bin" ]; then
	gc_run gc-end "$gc_bin" 60 end &
	gc_jobs+=($!)
	gc_run gc-kill "$gc_bin" 20 kill &
	gc_jobs+=($!)
fi

# ---- 1, 2, 5: leak runs; negative controls ----

proc_state() { awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null; }
gone() { [ ! -e "/proc/$1" ] || [ "$(proc_state "$1")" = Z ]; }

jobs_=()
# Starts a target, then leakhound on it after `delay` seconds; files under $tmp/NAME.
# With stop=1 the target (leaky) is ended by SIGTERM once leakhound has exited: it
# then prints the sampling rate as the runtime sees it after leakhound's restore
# (leakhound detaches before it restores, and detaching takes a while under load).
trace_run() { # name delay tdur stop target-command... -- trace-args...
	local name=$1 delay=$2 tdur=$3 stop=$4 tpid
	shift 4
	local cmd=()
	while [ "$1" != -- ]; do
		cmd+=("$1")
		shift
	done
	shift
	"${cmd[@]}" > "$tmp/$name.target" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	echo "$tpid" > "$tmp/$name.pid"
	(
		sleep "$delay"
		"$LEAKHOUND" trace -p "$tpid" -d "$tdur" --json "$@" \
			> "$tmp/$name.jsonl" 2> "$tmp/$name.err"
		echo $? > "$tmp/$name.rc"
		if [ "$stop" = 1 ]; then
			kill -TERM "$tpid"
			for _ in $(seq 100); do gone "$tpid" && break; sleep 0.1; done
		fi
	) &
	jobs_+=($!)
}

# leak NAME BIN MODE RATE HOW: HOW is w65 (--rate 65536 written, -i 2 -d 12), w512
# (the default rate written, -i 5 -d 35) or h512 (the target's own 512 KiB, -i 5 -d 35)
leak() { # name bin mode rate how
	local name=$1 bin=$2 mode=$3 rate=$4 how=$5
	echo "$mode $rate $how" > "$tmp/$name.leak"
	case $how in
	w65) trace_run "$name" 0.5 12 1 "$bin" -mode "$mode" -rate "$rate" -duration 120s -- \
		-i 2 --rate 65536 ;;
	w512) trace_run "$name" 0.5 35 1 "$bin" -mode "$mode" -rate "$rate" -duration 120s -- -i 5 ;;
	# 2 s of history before attach; more garbage so that GCs keep coming as the heap grows
	# (GOGC=20): "as of the last GC" lags more and more as GCs space out, which biases
	# the slope low
	h512) trace_run "$name" 2 35 1 "$bin" -mode "$mode" -rate "$rate" -churn 256 -duration 120s -- \
		-i 5 ;;
	esac
}
while read -r bin rel fixture variant; do
	wanted_release "$rel" || continue
	case $fixture-$variant in
	leaky-default)
		for mode in subslice global; do
			leak "lk-$rel-$variant-$mode" "$bin" $mode 1310720 w65
		done
		leak "lk-$rel-$variant-cache-512" "$bin" cache 1048576 w512
		;;
	leaky-ext-stripped)
		for mode in cache subslice global; do
			leak "lk-$rel-$variant-$mode" "$bin" $mode 1310720 w65
		done
		;;
	leaky-pprof | leaky-pprof-ext-stripped)
		for mode in cache subslice global; do
			leak "lk-$rel-$variant-$mode" "$bin" $mode 4194304 h512
		done
		;;
	steady-default | steady-pprof)
		for mode in plateau spike churn; do
			trace_run "st-$rel-$variant-$mode" 0.5 35 0 "$bin" -mode $mode -cap 16777216 \
				-spike 12s -duration 39s -- -i 5
		done
		;;
	esac
done < <(fixtures)

# ---- 3. ground truth: the target's own heap profile ----

# "FUNC inuse_space" per first function shown, summed, biggest first (go tool pprof -raw).
inuse_by_func() { # profile.pb.gz
	$PPROF_GO tool pprof -raw "$1" 2>/dev/null | awk '
		/^Samples:/ { s = 1; next }
		/^Locations/ { s = 0; l = 1; next }
		/^Mappings/ { l = 0 }
		s && /^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+: / {
			sub(":", "", $4); n++; v[n] = $4; first[n] = $5
		}
		l && /^ *[0-9]+: 0x/ { id = $1; sub(":", "", id); fn[id] = $4 }
		END { for (i = 1; i <= n; i++) sum[fn[first[i]]] += v[i]
		      for (f in sum) print f, sum[f] }' | sort -k2,2nr
}
gt_run() { # name bin rate(-1: off at start, else the target's own) trace-args...
	local name=$1 bin=$2 rate=$3 tpid lpid i
	shift 3
	mkdir -p "$tmp/$name.pprof"
	# GOGC=10: a GC every few tens of ms, so a report's "as of the last GC" is recent
	GOGC=10 "$bin" -o "$tmp/$name.rt" -rate "$rate" -small 8 -large 1 -churn 200 \
		> "$tmp/$name.target" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	echo "$tpid" > "$tmp/$name.pid"
	sleep 0.5
	"$LEAKHOUND" trace -p "$tpid" -i 2 -d 30 -o "$tmp/$name.pprof" "$@" \
		> "$tmp/$name.out" 2> "$tmp/$name.err" &
	lpid=$!
	for i in $(seq 300); do [ -e "$tmp/$name.pprof/heap-$tpid-4.pb.gz" ] && break; sleep 0.05; done
	kill -USR1 "$tpid"
	for i in $(seq 300); do
		[ "$(proc_state "$tpid")" = T ] && [ -s "$tmp/$name.rt.pb.gz" ] && break
		sleep 0.05
	done
	# the next report sees the target stopped right after its own snapshot
	for i in $(seq 300); do [ -e "$tmp/$name.pprof/heap-$tpid-5.pb.gz" ] && break; sleep 0.05; done
	sleep 0.2
	kill -TERM "$lpid"
	wait "$lpid"
	echo $? > "$tmp/$name.rc"
	kill -CONT "$tpid"
	kill "$tpid"
	wait "$tpid" 2>/dev/null
}
gt_jobs=()
while read -r bin rel fixture variant; do
	[ "$fixture-$variant" = heapprof-default ] && wanted_release "$rel" || continue
	gt_run "gt-$rel-probes" "$bin" -1 --rate 65536 &
	gt_jobs+=($!)
	if release_in "$rel" 'go1.26*'; then
		gt_run "gt-$rel-history" "$bin" 65536 &
		gt_jobs+=($!)
	fi
done < <(fixtures)

n_leak=$(ls "$tmp"/*.leak 2> /dev/null | wc -l)
[ "$n_leak" -gt 0 ] || { skip "trace_leaks: no leaky fixtures built"; finish; }
wait "${jobs_[@]}" "${gt_jobs[@]}"

# ---- checks ----

jqlast() { tail -n 1 "$1" | jq -r "$2"; }
top_suspect() { [ "$1" -le 5 ] && grep -qw "$2" <<< "$3"; }
same_top2() { [ "$1" = "$2" ] && [ "$(wc -w <<< "$1")" = 2 ]; }
gc_ok() { [ "$1" = 0 ] && grep -q '^ok gcstress' <<< "$2"; }

for f in "$tmp"/*.leak; do
	name=$(basename "$f" .leak)
	read -r mode rate how < "$f"
	fn=${leak_fn[$mode]}
	j=$tmp/$name.jsonl
	rc=$(cat "$tmp/$name.rc")
	check "$name: trace exits 0 (rc $rc; $(head -c 200 "$tmp/$name.err"))" [ "$rc" = 0 ]
	# the first report whose top suspect is the leaking function (first frame)
	firstrep=$(jq -r --arg f "$fn" 'select((.suspects[0].stack[0].function // "") == $f) | .report' "$j" |
		head -n 1)
	lastfn=$(jqlast "$j" '.suspects[0].stack | map(.function) | join(" ")')
	check "$name: $fn tops the suspects from report ${firstrep:-none} (<= 5) to the last ($lastfn)" \
		top_suspect "${firstrep:-99}" "$fn" "$lastfn"
	g=$(jqlast "$j" '.suspects[0].growth_per_s // 0')
	w=$(jqlast "$j" '.go_heap | "\(.windows) windows, \(.windows_without_gc) without a GC"')
	# 1 MiB/s at 512 KiB: ~45 new samples over the fit, Poisson noise alone is +-15%
	# (one sigma): 50% is three sigma; all the others have >= 190 samples (+-7%)
	tol=25
	[ "$how" = w512 ] && tol=50
	check "$name: growth $g B/s within $tol% of the known $rate B/s ($w)" \
		awk -v g="$g" -v k="$rate" -v t="$tol" 'BEGIN { d = (g - k) / k * 100; exit !(d < t && d > -t) }'
	churned=$(jq '[.suspects[] | select(.stack[0].function == "main.churn")] | length' "$j" |
		awk '{ s += $1 } END { print s + 0 }')
	check "$name: main.churn is no suspect in any report ($churned)" [ "$churned" = 0 ]
	first=$(head -n 1 "$j" | jq -c '.go_heap | [.history, .sample_rate, .sample_rate_set_by_leakhound]')
	out=$(tail -n 1 "$tmp/$name.target")
	case $how in
	h512)
		check "$name: history, the target's own 512 KiB, no write ($first)" \
			[ "$first" = '[true,524288,false]' ]
		pre=$(head -n 1 "$j" | jq --arg f "$fn" \
			'[.go_heap.sites[] | select(.stack[0].function == $f) | .pre_attach_bytes] | add // 0')
		check "$name: the first report has $fn's bytes from before attach ($pre)" \
			[ "${pre%.*}" -gt 0 ]
		want='MemProfileRate 524288'
		;;
	*)
		check "$name: sampling turned on by leakhound ($first)" \
			grep -q ',true]$' <<< "$first"
		want='MemProfileRate 0'
		;;
	esac
	check "$name: target exits with its data intact and $want ($out)" \
		grep -q "^ok [0-9]* $want\$" <<< "$out"
done

for f in "$tmp"/st-*.rc; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .rc)
	j=$tmp/$name.jsonl
	check "$name: trace exits 0 ($(cat "$f"); $(head -c 200 "$tmp/$name.err"))" [ "$(cat "$f")" = 0 ]
	w=$(jqlast "$j" '.go_heap.windows')
	h=$(head -n 1 "$j" | jq -c '.go_heap | [.history, .sample_rate]')
	check "$name: the model had its windows ($w >= 4; history, rate $h)" [ "$w" -ge 4 ]
	sus=$(jq -r '.suspects[].stack[0].function' "$j" | sort -u | tr '\n' ' ')
	check "$name: no suspect in any report ($sus)" [ -z "$sus" ]
	check "$name: target exits with its data intact ($(tail -n 1 "$tmp/$name.target"))" \
		grep -q '^ok ' "$tmp/$name.target"
done

for f in "$tmp"/gt-*.rc; do
	name=$(basename "$f" .rc)
	tpid=$(cat "$tmp/$name.pid")
	check "$name: trace exits 0 ($(cat "$f"); $(head -c 200 "$tmp/$name.err"))" [ "$(cat "$f")" = 0 ]
	if [ ! -s "$tmp/$name.rt.pb.gz" ]; then
		fail "$name: the target wrote no heap profile"
		continue
	fi
	inuse_by_func "$tmp/$name.rt.pb.gz" > "$tmp/$name.theirs"
	theirs=$(head -n 2 "$tmp/$name.theirs" | awk '{ print $1 }' | tr '\n' ' ')
	for rep in 4 5; do
		p=$tmp/$name.pprof/heap-$tpid-$rep.pb.gz
		if [ ! -s "$p" ]; then
			fail "$name: no report $rep profile"
			continue
		fi
		inuse_by_func "$p" > "$tmp/$name.ours$rep"
		ours=$(head -n 2 "$tmp/$name.ours$rep" | awk '{ print $1 }' | tr '\n' ' ')
		check "$name: report $rep: top in-use functions as the runtime's ($ours| $theirs)" \
			same_top2 "$ours" "$theirs"
		for fn in main.leakLarge main.leakSmall; do
			t=$(awk -v f="$fn" '$1 == f { print $2 }' "$tmp/$name.theirs")
			o=$(awk -v f="$fn" '$1 == f { print $2 }' "$tmp/$name.ours$rep")
			check "$name: report $rep: $fn in use $o bytes within 15% of the runtime's $t" \
				awk -v o="${o:-0}" -v t="${t:-0}" 'BEGIN { exit !(t > 0 && (o - t) / t < 0.15 && (t - o) / t < 0.15) }'
		done
	done
done

# 4: the GC-heavy runs end last.
[ ${#gc_jobs[@]} -gt 0 ] && wait "${gc_jobs[@]}"
for name in gc-end gc-kill; do
	[ -e "$tmp/$name.trc" ] || continue
	out=$(tail -n 1 "$tmp/$name.target")
	check "$name: target checked its own data and exits 0 (rc $(cat "$tmp/$name.trc"); $out)" \
		gc_ok "$(cat "$tmp/$name.trc")" "$out"
	gcs=$(awk '{ print $5 }' <<< "$out")
	check "$name: GC-heavy (${gcs:-?} GC cycles)" [ "${gcs:-0}" -ge 100 ]
	# drops but the probe budget's own (by design, counted apart)
	ev=$(jqlast "$tmp/$name.jsonl" '.stats | "allocs \(.probe_allocs) frees \(.probe_frees) drops \(.drops - (.budget_skip // 0)) budget_skip \(.budget_skip // 0)"')
	check "$name: the probes fired, nothing dropped ($ev)" grep -q "allocs [1-9][0-9]* frees [1-9][0-9]* drops 0 " <<< "$ev"
	check "$name: untouched probe sites before tracing ($(tr '\n' ' ' < "$tmp/$name.before"))" \
		all_orig "$tmp/$name.before"
	check "$name: the uprobe breakpoint at every probe site while tracing ($(tr '\n' ' ' < "$tmp/$name.during"))" \
		all_cc "$tmp/$name.during"
	check "$name: the executable's bytes back at every probe site after leakhound ($(tr '\n' ' ' < "$tmp/$name.after"))" \
		all_orig "$tmp/$name.after"
done
[ -e "$tmp/gc-end.lrc" ] &&
	check "gc-end: trace exits 0 at -d ($(cat "$tmp/gc-end.lrc"); $(head -c 200 "$tmp/gc-end.err"))" \
		[ "$(cat "$tmp/gc-end.lrc")" = 0 ]
wait_no_progs
check "no lh_goheap or lh_gor program at the end ($(our_progs))" [ "$(our_progs)" = 0 ]
finish
