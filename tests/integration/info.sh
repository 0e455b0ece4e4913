#!/usr/bin/env bash
# `leakhound info` on every fixture, checked against tools nobody here wrote:
# `go version -m` for the build information, readelf for the ELF facts. Then
# bad input (not ELF, not Go, corrupt, missing) and a live process.
. "$(dirname "$0")/../lib.sh"

tmp=$(mktemp -d)
trap 'kill $live_pid 2>/dev/null; rm -rf "$tmp"' EXIT
gocmd=$(go_for "$(head -n1 "$FIXTURES/toolchains.tsv" | cut -f1)")

# Hooks every binary of a release must have a probe site for (GO-RUNTIME.md §1.5, §3).
expected_hooks() { # minor
	local h="runtime.mallocgc runtime.profilealloc runtime.mProf_Malloc runtime.setprofilebucket
		runtime.freeSpecial runtime.newproc runtime.newproc1 runtime.malg
		runtime.gcMarkTermination runtime.mProf_Flush"
	if [ "$1" -ge 22 ]; then h+=" runtime.gdestroy"; else h+=" runtime.goexit0"; fi
	if [ "$1" -ge 24 ]; then
		h+=" runtime.mallocgcTiny runtime.mallocgcSmallNoscan runtime.mallocgcSmallScanNoHeader
		    runtime.mallocgcSmallScanHeader runtime.mallocgcLarge"
	fi
	echo $h
}

check_fixture() { # path release fixture variant
	local bin=$1 rel=$2 fixture=$3 variant=$4 j=$tmp/info.json
	local what="$rel $fixture-$variant"
	if ! "$LEAKHOUND" info --json "$bin" > "$j" 2> "$tmp/err"; then
		fail "$what: info failed: $(cat "$tmp/err")"
		return
	fi
	# the Go release and build settings, as the go command reads them
	local want_ver got_ver
	want_ver=$($gocmd version "$bin" | awk '{print $2}')
	got_ver=$(jq -r .go_version "$j")
	check "$what: go version $got_ver == go version's $want_ver" [ "$got_ver" = "$want_ver" ]
		# go version -m prints values with spaces Go-quoted: -ldflags="-s -w"
	$gocmd version -m "$bin" | awk -F'\t' '$2 == "build" { print $3 }' |
		sed -E 's/^([^=]*)="(.*)"$/\1=\2/' | sort > "$tmp/want"
	jq -r '.build_settings | to_entries[] | "\(.key)=\(.value)"' "$j" | sort > "$tmp/got"
	check "$what: build settings match go version -m" cmp -s "$tmp/want" "$tmp/got"
	local want_mod got_mod
	want_mod=$($gocmd version -m "$bin" | awk -F'\t' '$2 == "mod" { print $3 " " $4 }')
	got_mod=$(jq -r 'if .main_module.path == "" then "" else
		"\(.main_module.path) \(.main_module.version)" end' "$j")
	check "$what: main module '$got_mod'" [ "$got_mod" = "$want_mod" ]

	# ELF facts, as readelf sees them
	local pie=false stripped=true dynamic=false dwarf=false compressed=false cgo=false
	readelf -h "$bin" | grep -q 'Type:.*DYN' && pie=true
	readelf -S -W "$bin" | grep -q ' \.symtab ' && stripped=false
	readelf -l -W "$bin" | grep -q 'INTERP' && dynamic=true
	if readelf -S -W "$bin" | grep -q ' \.debug_info '; then
		dwarf=true
		readelf -S -W "$bin" | grep ' \.debug_info ' | grep -q ' [A-Z]*C[A-Z]* ' && compressed=true
	fi
	# the cgo fixture, the cgo variants of every fixture, every cgoleak build
	[ "$fixture" = cgo ] && cgo=true
	[ "$fixture" = cgoleak ] && cgo=true
	case $variant in cgo | cgo-stripped | ext | ext-stripped | pprof-ext | pprof-ext-stripped) cgo=true ;; esac
	local got want="$pie $stripped $dynamic $dwarf $compressed $cgo"
	got=$(jq -r '.elf | "\(.pie) \(.stripped) \(.dynamic) \(.dwarf) \(.dwarf_compressed) \(.cgo)"' "$j")
	check "$what: pie/stripped/dynamic/dwarf/compressed/cgo = $got (readelf: $want)" \
		[ "$got" = "$want" ]

	# a probe site for every hook this release has, at an instruction boundary
	local minor missing=""
	minor=$(jq -r .go_version_parts.minor "$j")
	for h in $(expected_hooks "$minor"); do
		jq -e --arg s "$h" '.hooks[] | select(.symbol == $s and .present and (.offset != null))' \
			"$j" > /dev/null || missing+=" $h"
	done
	check "$what: a probe site for every hook of go1.$minor${missing:+ (missing:$missing)}" \
		[ -z "$missing" ]
}

while read -r bin rel fixture variant; do
	check_fixture "$bin" "$rel" "$fixture" "$variant"
done < <(fixtures)

# A Go program nobody here built: Debian's prometheus, stripped and linked by the host
# linker against glibc (so with cgo). Release, probe sites and every runtime global.
prom=/usr/bin/prometheus
if [ -x "$prom" ] && readelf -p .go.buildinfo "$prom" > /dev/null 2>&1; then
	check_fixture "$prom" "$($gocmd version "$prom" | awk '{print $2}')" cgo debian-package
	"$LEAKHOUND" info --json "$prom" > "$tmp/prom.json"
	notfound=$(jq -r '[.globals | to_entries[] | select(.value.found | not) | .key] | join(" ")' \
		"$tmp/prom.json")
	check "prometheus: every runtime global found${notfound:+ (missing: $notfound)}" [ -z "$notfound" ]
else
	skip "prometheus is not installed (scripts/deps.sh installs it)"
fi

# Bad input: one line on stderr, exit status 1, never a crash.
bad_input() { # what expected-status args...
	local what=$1 want=$2
	shift 2
	"$LEAKHOUND" info "$@" > "$tmp/out" 2> "$tmp/err"
	local rc=$? lines
	lines=$(wc -l < "$tmp/err")
	check "bad input: $what exits $want with one error line (got $rc, $lines lines: $(head -c 120 "$tmp/err"))" \
		test "$rc" -eq "$want" -a "$lines" -eq 1
}
some_go=$(fixtures | awk '$4 == "default" { print $1; exit }')
printf 'hello\n' > "$tmp/text"
head -c 200000 "$some_go" > "$tmp/truncated"
bad_input "a text file" 1 "$tmp/text"
bad_input "a non-Go ELF (/bin/true)" 1 /bin/true
bad_input "a missing file" 1 "$tmp/nonexistent"
bad_input "a directory" 1 "$tmp"
bad_input "a truncated Go binary" 1 "$tmp/truncated"
bad_input "no such PID" 1 -p 999999999
bad_input "a non-numeric PID" 2 -p abc
sleep 60 &
sleeper=$!
bad_input "a non-Go process (sleep)" 1 -p "$sleeper"
kill "$sleeper"

# A live process: the runtime values read through its memory agree with what it does.
for variant in default pie stripped; do
	bin=$(fixtures | awk -v v="$variant" '$3 == "basic" && $4 == v { print $1; exit }')
	[ -n "$bin" ] || continue
	"$bin" -g 20 > "$tmp/live.out" &
	live_pid=$!
	for _ in $(seq 50); do grep -q ready "$tmp/live.out" && break; sleep 0.1; done
	sleep 1
	if "$LEAKHOUND" info --json -p "$live_pid" > "$tmp/live.json" 2> "$tmp/err"; then
		allglen=$(jq -r '.live.allglen // 0' "$tmp/live.json")
		numgc=$(jq -r '.live.numgc // 0' "$tmp/live.json")
		rate=$(jq -r '.live.MemProfileRate // -1' "$tmp/live.json")
		# 20 parked goroutines + main; the fixture imports no runtime/pprof, so the
		# linker disabled heap profiling and the runtime set the rate to 0
		check "live $variant: allglen $allglen >= 21" [ "$allglen" -ge 21 ]
		check "live $variant: numgc $numgc > 0 after a second of allocation" [ "$numgc" -gt 0 ]
		check "live $variant: MemProfileRate $rate == 0 (profiling disabled by the linker)" \
			[ "$rate" -eq 0 ]
		if [ "$variant" = pie ]; then
			bias=$(jq -r .load_bias "$tmp/live.json")
			start=$(awk -v p="$(readlink -f "$bin")" '$6 == p { split($1, a, "-"); print "0x" a[1]; exit }' \
				/proc/$live_pid/maps)
			check "live pie: load bias $bias == first mapping $start - 0x400000" \
				[ $((bias)) -eq $((start - 0x400000)) ]
		fi
	else
		fail "live $variant: info -p failed: $(cat "$tmp/err")"
	fi
	kill "$live_pid"
	wait "$live_pid" 2>/dev/null
done
# A process in its own mount namespace, running a binary that exists only there (as in
# a container): the executable is reached through /proc/PID/exe, not by its path.
bin=$(fixtures | awk '$3 == "basic" && $4 == "stripped" { print $1; exit }')
if [ -n "$bin" ] && command -v unshare > /dev/null; then
	unshare -m --propagation private sh -c 'mount -t tmpfs lh-test /mnt && cp "$1" /mnt/app &&
		exec /mnt/app -g 3' sh "$bin" > "$tmp/ns.out" 2>&1 &
	ns_pid=$!
	for _ in $(seq 50); do grep -q ready "$tmp/ns.out" && break; sleep 0.1; done
	app_pid=$(sed -n 's/^ready pid=\([0-9]*\).*/\1/p' "$tmp/ns.out")
	if [ -n "$app_pid" ] && "$LEAKHOUND" info --json -p "$app_pid" > "$tmp/ns.json" 2> "$tmp/err"; then
		exe=$(jq -r .executable "$tmp/ns.json")
		check "mount namespace: executable $exe, which does not exist here" test "$exe" = /mnt/app -a ! -e /mnt/app
		check "mount namespace: go version $(jq -r .go_version "$tmp/ns.json") read" \
			[ "$(jq -r .go_version "$tmp/ns.json")" = "$(awk '{print $2}' <<< "$($gocmd version "$bin")")" ]
	else
		fail "mount namespace: info -p ${app_pid:-?} failed: $(cat "$tmp/err" "$tmp/ns.out")"
	fi
	kill "$app_pid" "$ns_pid" 2>/dev/null
	wait "$ns_pid" 2>/dev/null
fi
finish
