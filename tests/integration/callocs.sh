#!/usr/bin/env bash
# The C allocator of a live process (leakhound info -p PID, "c_allocator"), the start of
# cgo heap tracing: on the cgo fixture of every release, the C library found is the one
# /proc/PID/maps shows, every allocator function's address is readelf's, functions that
# share an address (glibc's aligned_alloc and memalign) are listed to be probed once,
# and the instruction at each probe site is objdump's instruction at that address; a
# Go program without cgo has none.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp
n=0
while read -r bin rel fixture variant; do
	case "$fixture-$variant" in cgo-cgo | basic-default) ;; *) continue ;; esac
	"$bin" -d 30s > /dev/null 2>&1 &
	pid=$!
	pids+=("$pid")
	sleep 0.3
	name="$rel-$fixture"
	"$LEAKHOUND" info --json -p "$pid" > "$tmp/$name.json" 2> "$tmp/$name.err"
	rc=$?
	check "$name: info -p exits 0 ($rc $(head -c 200 "$tmp/$name.err"))" [ "$rc" = 0 ]
	if [ "$fixture" = basic ]; then
		c=$(jq -c '.c_allocator' "$tmp/$name.json")
		check "$name: no C allocator in a Go program without cgo ($c)" [ "$c" = null ]
		kill "$pid"
		continue
	fi
	n=$((n + 1))
	libc=$(awk '$2 ~ /x/ && $6 ~ /\/libc\.so/ { print $6; exit }' "/proc/$pid/maps")
	got=$(jq -r '.c_allocator | "\(.kind) \(.path)"' "$tmp/$name.json")
	check "$name: the C library of /proc/PID/maps ($got)" [ "$got" = "glibc $libc" ]
	readelf -W --dyn-syms "$libc" | awk '$4 == "FUNC" && $7 != "UND" { sub(/@.*/, "", $8); print $8, $2 }' |
		sort -u > "$tmp/$name.syms"
	jq -r '.c_allocator.functions[] | "\(.name)|\(.address)|\(.site // "-")|\(.instruction // "-")|\(.same_as // "-")"' \
		"$tmp/$name.json" > "$tmp/$name.fns"
	check "$name: ten allocator functions found ($(wc -l < "$tmp/$name.fns"))" \
		[ "$(wc -l < "$tmp/$name.fns")" = 10 ]
	fns="malloc calloc realloc reallocarray free posix_memalign aligned_alloc memalign valloc pvalloc"
	while IFS='|' read -r fn addr site insn same; do
		want=$(awk -v f="$fn" '$1 == f { print $2; exit }' "$tmp/$name.syms")
		check "$name: $fn at readelf's address ($addr, readelf $want)" \
			[ "$((addr))" = "$((16#$want))" ]
		twin=$(awk -v f="$fn" -v a="$want" -v l="$fns" 'BEGIN { split(l, w, " "); for (i in w) ours[w[i]] = 1 }
			$2 == a && $1 != f && ($1 in ours) { print $1 }' "$tmp/$name.syms" | head -1)
		if [ "$same" != - ]; then
			check "$name: $fn shares its address with $same, probed once" \
				[ "$(awk -v f="$same" '$1 == f { print $2; exit }' "$tmp/$name.syms")" = "$want" ]
			continue
		fi
		[ -n "$twin" ] && [ "$(jq -r --arg t "$twin" '.c_allocator.functions[] | select(.name == $t) | .same_as // "-"' "$tmp/$name.json")" = "$fn" ] ||
			[ -z "$twin" ] || fail "$name: $fn and $twin share an address but both are probed"
		# objdump's instruction at the site: the same mnemonic
		od=$(objdump -d --no-show-raw-insn --start-address=$((site)) --stop-address=$((site + 16)) "$libc" |
			awk -F'\t' '/^ *[0-9a-f]+:/ { print $2; exit }' | awk '{ print $1 }')
		check "$name: $fn probed at +$((site - addr)): objdump has '$od' there, leakhound '${insn%% *}'" \
			[ "$od" = "${insn%% *}" ]
	done < "$tmp/$name.fns"
	free_off=$(jq -r '.c_allocator.functions[] | select(.name == "free") | "\(.emulated) \((.site | tonumber? // 0))"' "$tmp/$name.json")
	check "$name: free is probed at an emulated instruction ($free_off)" grep -q '^true' <<< "$free_off"
	kill "$pid"
done < <(fixtures)
[ "$n" -gt 0 ] || skip "callocs: no cgo fixture built"
finish
