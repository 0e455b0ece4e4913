#!/usr/bin/env bash
# Go releases leakhound does not support (before go1.19, after go1.26), built for real
# by their own toolchains (no patched build information): the leaky fixture (pure Go
# and cgo) and the goroutines fixture, checked against `go version`, then
#  - leakhound info BINARY and info -p PID: the release and "NOT supported" with the
#    range, exit 0 (info describes what it can); --json: supported false;
#  - trace -p, trace --cgo -p, goroutines -p: one error line naming the release and the
#    supported range, exit 1, the target left running and its MemProfileRate 0 (as it
#    prints itself at exit: nothing written);
#  - the daemon: a target started before it (scan) and one after (exec) are listed as
#    skipped by /api/v1/targets with that reason, none traced,
#    leakhound_targets_skipped counts them, its log names them; once they exit the
#    skipped list is empty.
# Releases: LEAKHOUND_UNSUPPORTED (default go1.27.3 go1.18.10). A toolchain is
# downloaded through the module proxy only with LEAKHOUND_FETCH=1 (`make test-matrix`);
# otherwise a release whose toolchain is not in the module cache is skipped.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
. scripts/go-releases.sh

setup_tmp
need_root unsupported
releases=(${LEAKHOUND_UNSUPPORTED:-go1.27.3 go1.18.10})
RANGE="leakhound supports go1.19 to go1.26"
dir=$OUTPUT/fixtures-unsupported
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# one_line FILE: the file is exactly one line
one_line() { [ "$(wc -l < "$1")" = 1 ]; }

# Ends a target (SIGTERM) and waits for it: from this shell, not a $(...) subshell.
stop_target() { # pid
	kill "$1" 2> /dev/null
	wait "$1" 2> /dev/null
}

# The target's MemProfileRate as it printed it at exit ("ok N MemProfileRate R").
exit_rate() { # output-file
	awk '$1 == "ok" && $3 == "MemProfileRate" { print $4 }' "$1"
}

build() { # rel fixture cgo dest
	local rel=$1 fixture=$2 cgo=$3 dest=$4
	[ -x "$dest" ] && [ -z "$(find "tests/fixtures/$fixture" -newer "$dest" -type f)" ] && return 0
	(cd "tests/fixtures/$fixture" && env CGO_ENABLED="$cgo" GOFLAGS=-mod=mod $gocmd build \
		-o "$dest" .)
}

# the daemon's /api/v1/targets as lines: "target PID" and "skipped PID WHY"
targets() { # url
	curl -sf "$1/api/v1/targets" | jq -r '(.targets[] | "target \(.pid)"),
		(.skipped[] | "skipped \(.pid) \(.why)")'
}

# refused REL WHAT PID ARGS...: leakhound ARGS refuses the target in one line, exit 1
refused() {
	local rel=$1 what=$2 pid=$3 rc want
	shift 3
	timeout 30 "$LEAKHOUND" "$@" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	want="leakhound: error: process $pid: $rel is not supported ($RANGE)"
	check "unsupported $rel: $what: exit 1 ($rc)" [ "$rc" = 1 ]
	check "unsupported $rel: $what: one line, '$want' ($(head -c 200 "$tmp/err"))" \
		eval 'one_line "$tmp/err" && [ "$(cat "$tmp/err")" = "$want" ]'
	check "unsupported $rel: $what: nothing on stdout" [ ! -s "$tmp/out" ]
	check "unsupported $rel: $what: the target still runs" kill -0 "$pid"
}

one_release() { # rel
	local rel=$1 d=$dir/$1 bin cbin gbin got p c g why
	# the toolchain: from the module cache, or downloaded when allowed
	if [ -n "${LEAKHOUND_FETCH:-}" ]; then
		gocmd=$(go_cmd "$rel")
	else
		gocmd="env GOPROXY=off $(go_cmd "$rel")"
	fi
	if ! got=$($gocmd env GOVERSION 2> "$tmp/go.err"); then
		skip "unsupported $rel: toolchain not in the module cache (make test-matrix downloads it):" \
			"$(tail -n 1 "$tmp/go.err")"
		return
	fi
	check "unsupported $rel: the toolchain is $rel ($got)" [ "$got" = "$rel" ]
	mkdir -p "$d"
	bin=$d/leaky cbin=$d/leaky-cgo gbin=$d/goroutines
	if ! { build "$rel" leaky 0 "$bin" && build "$rel" leaky 1 "$cbin" &&
		build "$rel" goroutines 0 "$gbin"; } > "$tmp/build.log" 2>&1; then
		fail "unsupported $rel: building the fixtures: $(tail -n 3 "$tmp/build.log")"
		return
	fi
	for b in "$bin" "$cbin" "$gbin"; do
		got=$(/usr/local/go/bin/go version "$b" 2> /dev/null | awk '{ print $2 }')
		check "unsupported $rel: go version says ${b##*/} is $rel ($got)" [ "$got" = "$rel" ]
	done

	# info on the file: says what it can, exit 0
	"$LEAKHOUND" info "$bin" > "$tmp/info" 2> "$tmp/info.err"
	check "unsupported $rel: info exits 0 ($?)" [ $? = 0 ]
	check "unsupported $rel: info says 'go: $rel (NOT supported: $RANGE)'" \
		grep -qxE "go: +$rel \(NOT supported: $RANGE\)" "$tmp/info"
	check "unsupported $rel: info --json: supported false, go_version $rel" \
		test "$("$LEAKHOUND" info --json "$bin" | jq -r '"\(.supported) \(.go_version)"')" = \
		"false $rel"

	# live targets
	"$bin" -duration 60s > "$tmp/leaky.out" 2>&1 &
	p=$!
	"$cbin" -duration 60s > "$tmp/leaky-cgo.out" 2>&1 &
	c=$!
	"$gbin" -duration 60s > /dev/null 2>&1 &
	g=$!
	pids+=("$p" "$c" "$g")
	sleep 0.5
	"$LEAKHOUND" info -p "$p" > "$tmp/infop" 2> /dev/null
	check "unsupported $rel: info -p exits 0 ($?) and says NOT supported" \
		grep -qxE "go: +$rel \(NOT supported: $RANGE\)" "$tmp/infop"
	refused "$rel" "trace -p" "$p" trace -p "$p" -i 1 -d 2
	refused "$rel" "trace --cgo -p" "$c" trace --cgo -p "$c" -i 1 -d 2
	refused "$rel" "goroutines -p" "$g" goroutines -p "$g"
	stop_target "$p"
	stop_target "$c"
	check "unsupported $rel: leaky's MemProfileRate at exit is 0 (nothing written)" \
		[ "$(exit_rate "$tmp/leaky.out")" = 0 ]
	check "unsupported $rel: leaky-cgo's MemProfileRate at exit is 0 (nothing written)" \
		[ "$(exit_rate "$tmp/leaky-cgo.out")" = 0 ]
	kill "$g" 2> /dev/null

	# the daemon: one target before it (found by the scan), one after (exec)
	"$bin" -duration 60s > "$tmp/d-leaky.out" 2>&1 &
	p=$!
	pids+=("$p")
	"$LEAKHOUND" daemon --foreground --listen 127.0.0.1:0 -i 1 --max-cpu 0 \
		--include-exe "$d/*" > "$tmp/daemon.out" 2> "$tmp/daemon.err" &
	local dpid=$! port= u
	pids+=("$dpid")
	for _ in $(seq 100); do
		port=$(sed -n 's|^leakhound daemon: listening on http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' \
			"$tmp/daemon.out" 2> /dev/null)
		[ -n "$port" ] && break
		kill -0 "$dpid" 2> /dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		fail "unsupported $rel: the daemon did not start: $(head -n 3 "$tmp/daemon.err")"
		return
	fi
	u=http://127.0.0.1:$port
	"$gbin" -duration 60s > /dev/null 2>&1 &
	g=$!
	pids+=("$g")
	for _ in $(seq 100); do
		[ "$(targets "$u" | grep -c '^skipped ')" -ge 2 ] && break
		sleep 0.1
	done
	targets "$u" > "$tmp/targets"
	why="$rel is not supported ($RANGE)"
	check "unsupported $rel: daemon: the target started before it is skipped: $why" \
		grep -qxF "skipped $p $why" "$tmp/targets"
	check "unsupported $rel: daemon: the target started after it is skipped: $why" \
		grep -qxF "skipped $g $why" "$tmp/targets"
	check "unsupported $rel: daemon: no target traced ($(grep -c '^target ' "$tmp/targets"))" \
		[ "$(grep -c '^target ' "$tmp/targets")" = 0 ]
	got=$(curl -sf "$u/metrics" | awk '$1 == "leakhound_targets_skipped" { print $2 }')
	check "unsupported $rel: daemon: leakhound_targets_skipped 2 ($got)" [ "$got" = 2 ]
	for x in "$p" "$g"; do
		check "unsupported $rel: daemon: its log names process $x and $why" \
			grep -qF "process $x" <(grep -F "$why" "$tmp/daemon.err")
	done
	stop_target "$p"
	check "unsupported $rel: daemon: leaky's MemProfileRate at exit is 0 (nothing written)" \
		[ "$(exit_rate "$tmp/d-leaky.out")" = 0 ]
	kill "$g" 2> /dev/null
	wait "$g" 2> /dev/null
	for _ in $(seq 100); do
		[ "$(targets "$u" | grep -c '^skipped ')" = 0 ] && break
		sleep 0.1
	done
	check "unsupported $rel: daemon: the skipped list is empty once they exit" \
		[ "$(targets "$u" | grep -c '^skipped ')" = 0 ]
	kill "$dpid"
	wait "$dpid" 2> /dev/null
	check "unsupported $rel: daemon: still up at the end, exits 0 on SIGTERM ($?)" [ $? = 0 ]
}

for rel in "${releases[@]}"; do
	one_release "$rel"
done
finish
