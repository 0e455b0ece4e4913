#!/usr/bin/env bash
# leakhound trace --cgo on the cgoleak fixture (tests/fixtures/cgoleak: C heap patterns
# that count, in C, what they hold):
#   pairing, every allocation recorded (--cgo-rate 0): the mixed pattern (every
#     allocating call of the allocator, realloc moving and in place, realloc(p, 0), frees
#     of earlier rounds) started held, resumed once leakhound is attached, held again:
#     the live objects and bytes leakhound reports at the pattern's sites equal what the
#     fixture counts, exactly (sites grouped by the Go caller, which stripped builds
#     name too); on glibc dynamic (go1.26, go1.19, external link stripped),
#     static glibc and static musl builds, with uprobe sessions and with plain uretprobes;
#   leaks, sampled: records, cstring and realloc patterns at known rates: the top
#     cgo_heap suspect's stack has the leaking C and Go functions, its growth is within
#     25% of the rate the fixture states; balanced (a plateau plus churn) gives no
#     suspect; its C built without frame pointers: the suspect still names the C function,
#     and its stack either reaches the Go caller (RBP left alone) or is marked cut short;
#     cgo-PID-N.pb.gz opens in go tool pprof with the heap sample types and the
#     leaking functions;
#   files deleted since they were mapped (a static binary, a libc) are traced through
#     /proc/PID/map_files;
#   exit: SIGTERM and SIGKILL leave no program loaded, the target running, and the
#     allocator's probed bytes as in the file.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp

need_root trace_cgo

GO=$(go_for "$(awk -F '\t' 'NR == 1 { print $1 }' "$FIXTURES/toolchains.tsv" 2>/dev/null)")
[ -n "$GO" ] || GO=/usr/local/go/bin/go

fix() { # release-prefix variant
	fixtures | awk -v r="$1" -v v="$2" '$3 == "cgoleak" && $4 == v && index($2, r) == 1 { print $1; exit }'
}

# Waits up to 10 s for a line matching pattern in file.
wait_for() { # file pattern
	for _ in $(seq 100); do
		grep -q -- "$2" "$1" 2> /dev/null && return 0
		sleep 0.1
	done
	return 1
}

# One pairing run: the fixture held until leakhound is attached, 4 s of rounds, held,
# two more reports, then leakhound stopped with SIGTERM.
pair_run() { # name bin [env...]
	local name=$1 bin=$2 tpid lpid
	shift 2
	"$bin" -mode mixed -held -rate 40 -size 1024 -keep 3 -out "$tmp/$name.state" \
		> /dev/null 2>&1 &
	tpid=$!
	pids+=("$tpid")
	echo "$tpid" > "$tmp/$name.pid"
	wait_for "$tmp/$name.state" "cgoleak: pid"
	env "$@" "$LEAKHOUND" -v trace -p "$tpid" --no-goroutines --cgo --cgo-rate 0 --budget 0 \
		-i 1 -n 40 --json > "$tmp/$name.jsonl" 2> "$tmp/$name.err" &
	lpid=$!
	if ! wait_for "$tmp/$name.err" "attached:"; then
		kill "$lpid" "$tpid"
		return
	fi
	kill -USR1 "$tpid"
	sleep 4
	kill -USR1 "$tpid"
	wait_for "$tmp/$name.state" "state=held"
	sleep 2.5
	cp "$tmp/$name.state" "$tmp/$name.final"
	kill -TERM "$lpid"
	wait "$lpid"
	echo $? > "$tmp/$name.rc"
	kill -0 "$tpid" 2> /dev/null && echo alive > "$tmp/$name.alive"
	kill "$tpid"
}

# Live objects and bytes at sites whose stack has function fn, in the last report.
live_at() { # jsonl fn
	tail -n 1 "$1" | jq -r --arg f "$2" '[.cgo_heap.sites[] | select(any(.stack[]; .function == $f))]
		| "\(map(.inuse_objects) | add // 0) \(map(.inuse_bytes) | add // 0)"'
}
field() { # state-file key
	tr ' ' '\n' < "$1" | awk -F= -v k="$2" '$1 == k { print $2 }'
}

names=()
for spec in go1.26:cgo go1.19:cgo go1.26:ext-stripped go1.26:static go1.26:musl; do
	bin=$(fix "${spec%%:*}" "${spec#*:}")
	if [ -z "$bin" ]; then
		skip "trace_cgo: no cgoleak ${spec#*:} build of ${spec%%:*}"
		continue
	fi
	name="pair-${spec/:/-}"
	pair_run "$name" "$bin" &
	names+=("$name")
done
bin=$(fix go1.26 cgo)
[ -n "$bin" ] || { skip "trace_cgo: no cgoleak fixture built"; wait; finish; }
pair_run pair-classic "$bin" LEAKHOUND_UPROBE_CLASSIC=1 &
names+=(pair-classic)

# Leaks, sampled at 4 KiB (4 KiB objects: 63% of them recorded), six 2-s windows and
# more; balanced with churn for the negative control.
leak_run() { # name bin mode args...
	local name=$1 lbin=$2 mode=$3 tpid
	shift 3
	"$lbin" -mode "$mode" "$@" > "$tmp/$name.target" 2>&1 &
	tpid=$!
	pids+=("$tpid")
	echo "$tpid" > "$tmp/$name.pid"
	mkdir -p "$tmp/$name.pp"
	"$LEAKHOUND" trace -p "$tpid" --no-goroutines --cgo-rate 4096 -i 2 -d 17 --json \
		-o "$tmp/$name.pp" > "$tmp/$name.jsonl" 2> "$tmp/$name.err"
	echo $? > "$tmp/$name.rc"
	kill "$tpid"
}
# Files deleted (or replaced) since they were mapped: a static binary, a libc.
del_run() { # name bin [lib-dir]
	local name=$1 bin=$2 lib=${3:-} tpid
	if [ -n "$lib" ]; then
		LD_LIBRARY_PATH=$lib "$bin" -mode records -rate 50 > /dev/null 2>&1 &
	else
		"$bin" -mode records -rate 50 > /dev/null 2>&1 &
	fi
	tpid=$!
	sleep 0.5
	rm -f "$bin" "$lib/libc.so.6"
	grep -c ' (deleted)$' "/proc/$tpid/maps" > "$tmp/$name.ndel"
	"$LEAKHOUND" trace -p "$tpid" --no-goroutines --cgo-rate 0 -d 3 -i 3 --json \
		> "$tmp/$name.jsonl" 2> "$tmp/$name.err"
	kill "$tpid"
}
static=$(fix go1.26 static)
if [ -n "$static" ]; then
	cp "$static" "$tmp/static-copy"
	del_run del-static "$tmp/static-copy" &
fi
libc=$(ldd "$bin" | awk '/libc\.so\.6/ { print $3 }')
if [ -f "$libc" ]; then
	mkdir -p "$tmp/lib"
	cp "$libc" "$tmp/lib/"
	cp "$bin" "$tmp/dyn-copy"
	del_run del-libc "$tmp/dyn-copy" "$tmp/lib" &
fi

leak_run records "$bin" records -rate 25 -size 4096 &
leak_run cstring "$bin" cstring -rate 25 -size 4096 &
leak_run realloc "$bin" realloc -rate 50 -size 4096 -keep 2 &
leak_run balanced "$bin" balanced -rate 50 -batch 200 -ring 64 -churn 200 &
nofp=$(fix go1.26 nofp)
[ -n "$nofp" ] && leak_run nofp "$nofp" records -rate 25 -size 4096 &
wait

for name in "${names[@]}"; do
	check "$name: leakhound exits 0 on SIGTERM" [ "$(cat "$tmp/$name.rc" 2> /dev/null)" = 0 ]
	check "$name: the target runs on after leakhound's exit" [ -f "$tmp/$name.alive" ]
	if [ ! -s "$tmp/$name.jsonl" ]; then
		fail "$name: no report ($(head -c 300 "$tmp/$name.err"))"
		continue
	fi
	read -r lo lb < <(live_at "$tmp/$name.jsonl" main.mixedRound)
	fo=$(field "$tmp/$name.final" outstanding_objects)
	fb=$(field "$tmp/$name.final" outstanding_bytes)
	moved=$(field "$tmp/$name.final" realloc_moved)
	check "$name: live objects under main.mixedRound $lo = the fixture's $fo" \
		test -n "$fo" -a "$lo" = "${fo:-x}" -a "${fo:-0}" -gt 0
	check "$name: live bytes under main.mixedRound $lb = the fixture's $fb" test "$lb" = "${fb:-x}"
	check "$name: reallocs moved ($moved) and nothing dropped" \
		test "${moved:-0}" -gt 0 -a "$(tail -n 1 "$tmp/$name.jsonl" | jq '.cgo_heap.drops')" = 0
done
check "pair-classic: attached with uretprobes" \
	test "$(tail -n 1 "$tmp/pair-classic.jsonl" | jq -r '.cgo_heap.probes')" = uretprobe
check "pair-go1.26-cgo: attached with uprobe sessions" \
	test "$(tail -n 1 "$tmp/pair-go1.26-cgo.jsonl" | jq -r '.cgo_heap.probes')" = session
if [ -s "$tmp/pair-go1.26-cgo.jsonl" ]; then
	check "pair-go1.26-cgo: C frames named (lh_mixed_round under main.mixedRound)" \
		test "$(live_at "$tmp/pair-go1.26-cgo.jsonl" lh_mixed_round)" = \
		"$(live_at "$tmp/pair-go1.26-cgo.jsonl" main.mixedRound)"
fi
for name in pair-go1.26-static pair-go1.26-musl; do
	[ -s "$tmp/$name.jsonl" ] || continue
	check "$name: the allocator is the executable's own" \
		test "$(tail -n 1 "$tmp/$name.jsonl" | jq -r '.cgo_heap.allocator.kind')" = executable
done

for name in del-static del-libc; do
	[ -f "$tmp/$name.ndel" ] || continue
	check "$name: the allocator's file is deleted ($(cat "$tmp/$name.ndel") mappings)" \
		test "$(cat "$tmp/$name.ndel")" -gt 0
	check "$name: traced through /proc/PID/map_files: lh_record_add's records seen" \
		test "$(live_at "$tmp/$name.jsonl" lh_record_add | cut -d' ' -f1)" -gt 50
	check "$name: the allocator named as the process maps it" \
		grep -q '(deleted)' <(tail -n 1 "$tmp/$name.jsonl" | jq -r .cgo_heap.allocator.path)
done

# The top cgo_heap suspect: its stack has every function of want, growth within 25%.
suspect_ok() { # name rate want...
	local name=$1 rate=$2 s
	shift 2
	s=$(tail -n 1 "$tmp/$name.jsonl" | jq -c '[.suspects[] | select(.kind == "cgo_heap")][0] // empty')
	if [ -z "$s" ]; then
		fail "$name: no cgo_heap suspect ($(tail -n 1 "$tmp/$name.jsonl" | jq -c '.cgo_heap.sites[0] | {inuse_bytes, samples, oldest_age_s}'))"
		return
	fi
	for f in "$@"; do
		check "$name: $f in the top cgo_heap suspect's stack" \
			test "$(jq --arg f "$f" 'any(.stack[]; .function == $f)' <<< "$s")" = true
	done
	check "$name: growth $(jq .growth_per_s <<< "$s") B/s within 25% of the fixture's $rate" \
		awk -v g="$(jq .growth_per_s <<< "$s")" -v r="$rate" 'BEGIN { exit !(g > 0.75 * r && g < 1.25 * r) }'
}
for name in records cstring realloc balanced; do
	check "$name: leakhound exits 0" [ "$(cat "$tmp/$name.rc" 2> /dev/null)" = 0 ]
done
rate_of() { grep -o 'leak_bytes_per_s [0-9]*' "$tmp/$1.target" | awk '{ print $2 }'; }
suspect_ok records "$(rate_of records)" malloc lh_record_add main.addRecord
suspect_ok cstring "$(rate_of cstring)" malloc main.leakCString
suspect_ok realloc "$(rate_of realloc)" lh_realloc_round main.reallocRound
if [ -f "$tmp/nofp.rc" ]; then
	# C without frame pointers: the caller is still there (the return address), the
	# walk beyond it is not to be trusted and the stack says so
	suspect_ok nofp "$(rate_of nofp)" malloc lh_record_add
	check "nofp: the suspect's stack reaches main.addRecord or is marked cut short" \
		test "$(tail -n 1 "$tmp/nofp.jsonl" | jq '[.suspects[] | select(.kind == "cgo_heap")][0]
			| .stack_cut or any(.stack[]; .function == "main.addRecord")')" = true
fi
check "balanced: no cgo_heap suspect (a plateau and churn)" \
	test "$(tail -n 1 "$tmp/balanced.jsonl" | jq '[.suspects[] | select(.kind == "cgo_heap")] | length')" = 0
check "balanced: the churn was traced ($(tail -n 1 "$tmp/balanced.jsonl" | jq .cgo_heap.calls) calls)" \
	test "$(tail -n 1 "$tmp/balanced.jsonl" | jq .cgo_heap.calls)" -gt 10000

pp=$(ls "$tmp"/records.pp/cgo-*.pb.gz 2> /dev/null | sort -t- -k3 -n | tail -n 1)
if [ -n "$pp" ]; then
	"$GO" tool pprof -raw "$pp" > "$tmp/pp.raw" 2>&1
	"$GO" tool pprof -traces "$pp" > "$tmp/pp.traces" 2>&1
	check "cgo pprof: sample types in the Go heap profile's order" \
		grep -q 'alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes' "$tmp/pp.raw"
	check "cgo pprof: the leaking C and Go functions in a trace" \
		awk '/lh_record_add/ { c = 1 } /main.addRecord/ && c { ok = 1 } /^-+\+/ { c = 0 } END { exit !ok }' "$tmp/pp.traces"
else
	fail "cgo pprof: no cgo-PID-N.pb.gz written"
fi

# Exit: SIGKILL too leaves nothing loaded, the target running, the probed bytes as in
# the file.
byte_at() { # file offset
	dd if="$1" bs=1 skip="$2" count=1 iflag=skip_bytes status=none | od -An -tx1 | tr -d ' \n'
}
"$bin" -mode records -rate 50 > /dev/null 2>&1 &
kpid=$!
pids+=("$kpid")
sleep 0.5
"$LEAKHOUND" trace -p "$kpid" --no-goroutines --dry-run > "$tmp/dry.txt" 2>&1
libc=$(awk '$6 ~ /libc\.so/ && $2 ~ /x/ { print $6; exit }' "/proc/$kpid/maps")
"$LEAKHOUND" trace -p "$kpid" --no-goroutines -i 1 --json > /dev/null 2>&1 &
lpid=$!
sleep 3
prog_ids_of "$lpid" > "$tmp/kill.ids"
kill -9 "$lpid"
wait "$lpid" 2> /dev/null
check "after SIGKILL: none of its $(wc -l < "$tmp/kill.ids") BPF programs is loaded" \
	test -s "$tmp/kill.ids" -a "$(wait_progs_gone "$tmp/kill.ids"; echo $?)" = 0
check "after SIGKILL: the target runs on" kill -0 "$kpid"
same=0
total=0
while read -r fn off; do
	while read -r r _ moff _ _ path; do
		[ "$path" = "$libc" ] || continue
		start=$((16#${r%-*}))
		end=$((16#${r#*-}))
		moff=$((16#$moff))
		if [ $((off)) -ge "$moff" ] && [ $((off)) -lt $((moff + end - start)) ]; then
			total=$((total + 1))
			[ "$(byte_at "/proc/$kpid/mem" $((start + off - moff)))" = \
				"$(byte_at "/proc/$kpid/root$libc" $((off)))" ] && same=$((same + 1))
		fi
	done < "/proc/$kpid/maps"
done < <(sed -n 's/^  probe \([a-z_]*\) .*file offset \(0x[0-9a-f]*\).*/\1 \2/p' "$tmp/dry.txt")
check "after SIGKILL: the $total probed bytes of the allocator are the file's" \
	test "$total" -ge 8 -a "$same" = "$total"
finish
