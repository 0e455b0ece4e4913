#!/usr/bin/env bash
# leakhound symbolize -p PID: runtime addresses of a running cgo program, Go and C frames
# mixed, against tools that read the files themselves (tests/drivers/procsym_cmp.py):
#  - libc's malloc and free (start, +1, middle, last byte) from readelf's .dynsym and the
#    load address in /proc/PID/maps; a static libc function named only by libc's
#    separate debug file (libc6-dbg, found by build id) when installed;
#  - the fixture's C function (cgo's _Cfunc_keep_last) and x_cgo_init from the
#    executable's ELF symbols (the pclntab does not cover them); in a stripped build,
#    the twin build's address where the bytes agree: no symbol, the right module offset;
#  - ~300 Go pcs (entries and random pcs of ~150 functions) against go tool addr2line
#    of the release that built the binary: physical function, innermost file:line;
#  - page zero and a writable mapping: "no mapping";
#  - a stack malloc <- C function <- main.main written with --pprof, read by
#    go tool pprof -traces/-top/-raw.
# On the cgo fixture of every release built (stripped too), leaky ext-stripped, and builds
# made here: PIE (and stripped PIE), a static binary (libc linked in). Then bad input.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp

if [ "$(id -u)" != 0 ]; then
	skip "procsym: needs root (reads /proc/PID/root and map_files)"
	finish
fi
if [ ! -x "$LEAKHOUND" ] || ! command -v python3 > /dev/null || ! command -v readelf > /dev/null; then
	fail "procsym: needs $LEAKHOUND, python3 and binutils"
	finish
fi
# the profiles' reader, whatever release built the fixtures (as tests/integration/pprof.sh)
export PPROF_GO=${PPROF_GO:-/usr/local/go/bin/go}
[ -x "$PPROF_GO" ] || PPROF_GO=

# start BINARY [ARGS...]: runs it, waits (bounded) for its first line (the cgo
# fixture's "ready", leaky's "leaky: pid"); sets pid
start() {
	local out="$tmp/out.$RANDOM"
	"$@" > "$out" 2>&1 &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 100); do grep -q -E '^(ready|leaky: pid)' "$out" && return 0; sleep 0.1; done
	return 1
}

# one BINARY LABEL GO [TWIN [ARGS...]]
one() {
	local bin=$1 label=$2 gocmd=$3 twin=${4:-}
	shift 4
	if ! start "$bin" "$@"; then
		fail "procsym: $label: target did not start"
		return
	fi
	python3 tests/drivers/procsym_cmp.py "$LEAKHOUND" "$gocmd" "$pid" "$bin" "procsym: $label" \
		"$tmp" ${twin:+"$twin"} || failures=$((failures + 1))
	kill "$pid" 2> /dev/null
	wait "$pid" 2> /dev/null
}

newest=
while IFS=$'\t' read -r path rel fixture variant; do
	gocmd=$(go_for "$rel")
	case $fixture:$variant in
	cgo:cgo)
		one "$path" "$rel/cgo" "$gocmd" ""
		newest=$path newest_go=$gocmd newest_rel=$rel
		;;
	cgo:cgo-stripped) one "$path" "$rel/cgo-stripped" "$gocmd" "${path%-stripped}" ;;
	leaky:ext-stripped)
		one "$path" "$rel/leaky-ext-stripped" "$gocmd" "${path%-stripped}" \
			-rate 1024 -duration 60s
		;;
	esac
done < <(fixtures)
if [ -z "$newest" ]; then
	fail "procsym: no cgo fixture in $FIXTURES/manifest.tsv (tests/fixtures/build.sh)"
	finish
fi

# PIE, stripped PIE and static builds of the cgo fixture with the last release of the
# manifest.
build() { # dest go-build-args...
	local dest=$1
	shift
	(cd tests/fixtures/cgo && CGO_ENABLED=1 GOFLAGS=-mod=mod $newest_go build -o "$dest" "$@" .) \
		> "$tmp/build.log" 2>&1
}
# go1.19's addr2line cannot read PIE binaries (see symbolize.sh): /usr/local/go's can
pie_go=$newest_go
case $newest_rel in go1.19*) [ -n "$PPROF_GO" ] && pie_go=$PPROF_GO ;; esac
if build "$tmp/cgo-pie" -buildmode=pie && build "$tmp/cgo-pie-stripped" -buildmode=pie -ldflags=-s\ -w; then
	one "$tmp/cgo-pie" "$newest_rel/cgo-pie" "$pie_go" ""
	one "$tmp/cgo-pie-stripped" "$newest_rel/cgo-pie-stripped" "$pie_go" "$tmp/cgo-pie"
else
	fail "procsym: building the PIE fixture: $(tail -n 3 "$tmp/build.log")"
fi
if build "$tmp/cgo-static" -ldflags='-linkmode=external -extldflags=-static'; then
	one "$tmp/cgo-static" "$newest_rel/cgo-static" "$newest_go" ""
else
	skip "procsym: no static build (static libc missing?): $(tail -n 1 "$tmp/build.log")"
fi

# dlopen after attach: a cgo program built here loads a .so (built here, stripped, its
# symbols in a debug file found by .gnu_debuglink, the .so deleted once loaded: read
# through /proc/PID/map_files) once procsym-watch has read the maps;
# the address dlsym gives for exported_func must become exported_func+0x0 in that .so,
# and the static hidden_helper (named by the debug file only) be found at nm's address.
dlopen_build() { # dir
	local d=$1
	mkdir -p "$d/lib"
	cat > "$d/t.c" << 'EOF'
static int __attribute__((noinline)) hidden_helper(int x) { return x * 7 + 3; }
int exported_func(int x) { return hidden_helper(x) + 1; }
EOF
	cat > "$d/main.go" << 'EOF'
package main

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
static uintptr_t load(const char *path, const char *sym) {
	void *h = dlopen(path, RTLD_NOW);
	return h ? (uintptr_t)dlsym(h, sym) : 0;
}
*/
import "C"

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Println("ready")
	path, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	p := C.CString(strings.TrimSpace(path))
	fmt.Printf("loaded 0x%x\n", uintptr(C.load(p, C.CString("exported_func"))))
	select {}
}
EOF
	printf 'module leakhound.test/dl\n\ngo 1.19\n' > "$d/go.mod"
	(cd "$d" && gcc -O1 -g -shared -fPIC -Wl,--build-id -o lib/libt.so t.c &&
		objcopy --only-keep-debug lib/libt.so lib/libt.so.debug &&
		objcopy --strip-all --add-gnu-debuglink=lib/libt.so.debug lib/libt.so &&
		CGO_ENABLED=1 GOFLAGS=-mod=mod $newest_go build -o dl .) > "$d/build.log" 2>&1
}

wait_line() { # file regex
	for _ in $(seq 100); do grep -q -E "$2" "$1" 2> /dev/null && return 0; sleep 0.1; done
	return 1
}

dlopen_test() {
	local d=$tmp/dl watch=$OUTPUT/tests/drivers/procsym-watch
	local helper addr base dpid wpid
	if [ ! -x "$watch" ]; then
		fail "procsym: dlopen: $watch not built (make $watch)"
		return
	fi
	if ! dlopen_build "$d"; then
		fail "procsym: dlopen: build: $(tail -n 3 "$d/build.log")"
		return
	fi
	helper=$(nm "$d/lib/libt.so.debug" | awk '$3 == "hidden_helper" { print $1 }')
	mkfifo "$d/tin" "$d/win"
	"$d/dl" < "$d/tin" > "$d/tout" 2>&1 &
	dpid=$!
	pids+=("$dpid")
	exec 7> "$d/tin"
	wait_line "$d/tout" '^ready'
	"$watch" "$dpid" < "$d/win" > "$d/wout" 2>&1 &
	wpid=$!
	pids+=("$wpid")
	exec 8> "$d/win"
	wait_line "$d/wout" '^opened'
	echo "$d/lib/libt.so" >&7
	wait_line "$d/tout" '^loaded'
	addr=$(awk '/^loaded/ { print $2 }' "$d/tout")
	# deleted once loaded (an upgrade under a running process): opened through map_files
	rm "$d/lib/libt.so"
	base=$(awk -v f="$d/lib/libt.so" '$6 == f && $3 == "00000000" { split($1, a, "-"); print a[1]; exit }' \
		"/proc/$dpid/maps")
	echo "$addr" >&8
	[ -n "$base" ] && [ -n "$helper" ] && printf '0x%x\n' $((0x$base + 0x$helper + 1)) >&8
	exec 8>&-
	wait "$wpid"
	exec 7>&-
	sed 's/^/  /' "$d/wout"
	check "procsym: dlopen after open: dlsym's exported_func ($addr) named after a maps re-read" \
		grep -q -E "^later $addr exported_func\+0x0 $d/lib/libt.so\+0x[0-9a-f]+$" "$d/wout"
	check "procsym: dlopen after open: hidden_helper+0x1 at nm's 0x$helper + 1, from the debug file" \
		grep -q -E "^later 0x[0-9a-f]+ hidden_helper\+0x1 $d/lib/libt.so\+$(printf '0x%x' $((0x$helper + 1)))$" \
		"$d/wout"
}
dlopen_test

# Bad input: one error line, non-zero exit, no crash.
bad() { # what expected-status command...
	local what=$1 want=$2
	shift 2
	"$@" > "$tmp/bad.out" 2> "$tmp/bad.err"
	local rc=$?
	if [ "$rc" = "$want" ] && [ "$(wc -l < "$tmp/bad.err")" = 1 ]; then
		pass "procsym: $what: exit $rc, '$(cat "$tmp/bad.err")'"
	else
		fail "procsym: $what: exit $rc (want $want), stderr: $(cat "$tmp/bad.err")"
	fi
}
start "$newest" || fail "procsym: target did not start"
bad "no such process" 1 "$LEAKHOUND" symbolize -p 999999999 0x1000
bad "not a process id" 2 "$LEAKHOUND" symbolize -p abc 0x1000
bad "not a Go program" 1 "$LEAKHOUND" symbolize -p $$ 0x1000
bad "not an address" 2 "$LEAKHOUND" symbolize -p "$pid" 0x1000 zzz
bad "--stack without -p" 2 "$LEAKHOUND" symbolize --stack "$newest" 0x1000
bad "--pprof into a missing directory" 1 "$LEAKHOUND" symbolize -p "$pid" --pprof /nonexistent/x.pb.gz 0x10
kill -0 "$pid" 2> /dev/null
check "procsym: the target runs on" test $? = 0
finish
