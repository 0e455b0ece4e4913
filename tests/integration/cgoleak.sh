#!/usr/bin/env bash
# The cgoleak fixture's own count of what it holds (the ground truth of the C heap
# tests) against an independent tracer, tools/lh-memleak (bcc memleak's way: every
# allocation, per-address pairing, a stack per allocation): the fixture starts held,
# the tracer attaches, the fixture runs ~1 s and is held again, and the outstanding
# bytes and objects of the stacks with a frame in the pattern's C function
# (lh_mixed_round, ...; cstring: cgo's _Cfunc__Cmalloc) or its Go caller
# (main.mixedRound, ...) must equal the fixture's counts exactly. mixed (every
# allocator call) on every build that has symbols (go1.26: glibc dynamic, its C with
# and without frame pointers, external link, static glibc, static musl; go1.19: cgo),
# every mode on go1.26's cgo build; realloc must have had blocks that moved. Also:
# each build is what its variant says (file), and a bad mode is refused in one line.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp

need_root cgoleak
MEMLEAK=$OUTPUT/tools/lh-memleak
if [ ! -x "$MEMLEAK" ]; then
	fail "cgoleak: no $MEMLEAK (make all)"
	finish
fi

# check_one NAME BIN MODE FUNC_REGEX
check_one() {
	local name=$1 bin=$2 mode=$3 fre=$4 t=$tmp/$1 i
	"$bin" -mode "$mode" -held -rate 200 -report 1h > "$t.fx" 2>&1 &
	local w=$!
	pids+=("$w")
	# its first line once main runs: the C library is mapped by then
	for i in $(seq 100); do grep -qs '^cgoleak: pid' "$t.fx" && break; sleep 0.05; done
	"$MEMLEAK" -p "$w" -i 3600 -s > "$t.ml" 2> "$t.err" &
	local m=$!
	pids+=("$m")
	for i in $(seq 100); do grep -qs attached "$t.ml" && break; sleep 0.1; done
	if ! grep -q attached "$t.ml"; then
		fail "cgoleak $name: lh-memleak did not attach: $(head -n 3 "$t.err")"
		return
	fi
	kill -USR1 "$w"
	sleep 1
	kill -USR1 "$w"
	for i in $(seq 100); do grep -q 'state=held' "$t.fx" && break; sleep 0.05; done
	kill -INT "$m"
	wait "$m" 2>/dev/null
	kill "$w"
	wait "$w" 2>/dev/null
	local line
	line=$(grep -m 1 'state=held' "$t.fx")
	if [ -z "$line" ]; then
		fail "cgoleak $name: the fixture did not hold: $(tail -n 2 "$t.fx")"
		return
	fi
	local fb fo ops
	fb=$(echo "$line" | sed -n 's/.* outstanding_bytes=\([0-9]*\).*/\1/p')
	fo=$(echo "$line" | sed -n 's/.* outstanding_objects=\([0-9]*\).*/\1/p')
	ops=$(echo "$line" | sed -n 's/.* ops=\([0-9]*\).*/\1/p')
	# the pattern function's address ranges, from the symbol table
	local ranges=() addr size
	while read -r addr size; do
		ranges+=("$((16#$addr)) $((16#$addr + size))")
	done < <(readelf -sW "$bin" | awk -v re="^($fre)\$" '$4 == "FUNC" && $8 ~ re { print $2, $3 }' | sort -u)
	if [ ${#ranges[@]} = 0 ]; then
		fail "cgoleak $name: no symbol matches $fre"
		return
	fi
	# the stacks with a frame in one of them (the innermost can be in the allocator:
	# musl's calloc calls malloc, its posix_memalign aligned_alloc)
	# (a stack bpf_get_stackid() could not store, pcs= empty, is unattributed: it
	# happens when the stack map's bucket is taken, as with the nofp build's stacks
	# that run through garbage frame pointers)
	local mb=0 mo=0 ub=0 uo=0 word bytes objs pcs pc r lo hi hit matched=()
	while read -r word bytes objs pcs; do
		[ "$word" = stack ] || continue
		if [ "$pcs" = pcs= ]; then
			ub=$((ub + ${bytes#bytes=}))
			uo=$((uo + ${objs#objects=}))
			continue
		fi
		hit=
		for pc in ${pcs//,/ }; do
			pc=$((${pc#pcs=}))
			for r in "${ranges[@]}"; do
				read -r lo hi <<< "$r"
				[ "$pc" -ge "$lo" ] && [ "$pc" -lt "$hi" ] && hit=1
			done
		done
		if [ -n "$hit" ]; then
			mb=$((mb + ${bytes#bytes=}))
			mo=$((mo + ${objs#objects=}))
			matched+=("$bytes $objs $pcs")
		fi
	done < "$t.ml"
	if [ "$ops" -gt 0 ] && [ "$fb" = "$mb" ] && [ "$fo" = "$mo" ]; then
		pass "cgoleak $name: $ops operations, $fo objects and $fb bytes outstanding, as lh-memleak sees them"
	elif [ "$ops" -gt 0 ] && [ "$uo" -gt 0 ] && [ "$fb" -ge "$mb" ] && [ "$fo" -ge "$mo" ] &&
		[ "$((fb - mb))" -le "$ub" ] && [ "$((fo - mo))" -le "$uo" ]; then
		pass "cgoleak $name: $ops operations, $fo objects and $fb bytes outstanding; lh-memleak sees $mo, $mb and $uo, $ub without a stack"
	else
		fail "cgoleak $name: $ops operations; the fixture holds $fo objects, $fb bytes; lh-memleak sees $mo, $mb (and $uo, $ub without a stack)"
		# what lh-memleak attributed to the pattern, Go frames named (C frames ??)
		for r in "${matched[@]}"; do
			read -r bytes objs pcs <<< "$r"
			echo "  $bytes $objs: $(tr , '\n' <<< "${pcs#pcs=}" | "$LEAKHOUND" symbolize "$bin" |
				awk '{ print $2 }' | paste -sd ' ')"
		done
	fi
	if [ "$mode" = realloc ]; then
		local moved
		moved=$(echo "$line" | sed -n 's/.* realloc_moved=\([0-9]*\).*/\1/p')
		check "cgoleak $name: reallocs that moved the block ($moved)" [ "${moved:-0}" -gt 0 ]
	fi
}

n=0
while read -r bin rel fixture variant; do
	[ "$fixture" = cgoleak ] || continue
	n=$((n + 1))
	desc=$(file -b "$bin")
	case $variant in
	cgo | nofp | ext | ext-stripped) want='dynamically linked' ;;
	static | musl) want='statically linked' ;;
	*) want='ELF' ;;
	esac
	check "cgoleak $rel $variant: file says $want" grep -q "$want" <<< "$desc"
	[ "$variant" = ext-stripped ] && continue # no symbols to tell sites apart
	check_one "$rel-$variant-mixed" "$bin" mixed 'lh_mixed_round|main\.mixedRound'
	if [ "$variant" = cgo ] && release_in "$rel" 'go1.26*'; then
		check_one "$rel-$variant-records" "$bin" records 'lh_record_add|main\.addRecord'
		check_one "$rel-$variant-realloc" "$bin" realloc 'lh_realloc_round|main\.reallocRound'
		check_one "$rel-$variant-balanced" "$bin" balanced 'lh_balanced_batch|main\.balancedBatch'
		check_one "$rel-$variant-cstring" "$bin" cstring '_cgo_[0-9a-f]+_Cfunc__Cmalloc|main\.leakCString'
		out=$("$bin" -mode nope 2>&1)
		rc=$?
		check "cgoleak: an unknown mode is refused in one line, status 2" \
			test "$rc" = 2 -a "$(echo "$out" | wc -l)" = 1
	fi
done < <(fixtures)
[ "$n" -gt 0 ] || skip "cgoleak: no cgoleak fixture built"
finish
