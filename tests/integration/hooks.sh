#!/usr/bin/env bash
# Uprobe sites of the Go runtime hooks (src/hooks.c).
#  1. On every fixture (each release x default, stripped, PIE, trimpath, cgo):
#     every hook the release has is found and has a site; the site is an
#     instruction boundary in objdump with the same instruction, the entry is
#     nm's, the bytes are the file's, the site is emulated; stripped builds get
#     the sites of their unstripped twin (tests/drivers/hooks_check.py).
#  2. For the basic fixture of each release, real uprobes at those sites through
#     tracefs: every hook fires, the kernel never single-steps (no "[uprobes]"
#     XOL page appears in the target), the target exits normally, and the
#     registers hold what GO-RUNTIME.md says: new g runnable in rbx at
#     newg_visible, the exiting g running in rax at gdestroy/goexit0, and
#     objects sampled at profilealloc (rbx) are the ones freeSpecial (rbx) frees
#     with a profile special. Memory profiling is turned on the way leakhound
#     does it: by writing runtime.MemProfileRate through /proc/PID/mem.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh

DUMP=$OUTPUT/tests/drivers/hooks_dump
make -s OUTPUT="$OUTPUT" "$DUMP" >/dev/null || { fail "building $DUMP"; finish; }
DUMP=$(readlink -f "$DUMP")
T=/sys/kernel/tracing
group=leakhound_test_$$
tmp=$(mktemp -d)
fixture_pid=

remove_probes() {
	local inst=$T/instances/$group
	[ -d "$inst" ] && echo 0 > "$inst/events/$group/enable" 2>/dev/null
	if [ -d "$T/events/$group" ]; then
		echo 0 > "$T/events/$group/enable" 2>/dev/null
		for e in "$T/events/$group"/*/; do
			[ -d "$e" ] && echo "-:$group/$(basename "$e")" >> "$T/uprobe_events"
		done
	fi
	[ -d "$inst" ] && rmdir "$inst" 2>/dev/null
	true
}

cleanup() {
	[ -n "$fixture_pid" ] && kill "$fixture_pid" 2>/dev/null
	remove_probes
	rm -rf "$tmp"
}
trap cleanup EXIT

# 1. static checks on every fixture
rows=0
while read -r path rel fixture variant; do
	rows=$((rows + 1))
	sibling=
	case $variant in
	stripped) sibling=$(dirname "$path")/$fixture-default ;;
	cgo-stripped) sibling=$(dirname "$path")/cgo-cgo ;;
	ext-stripped | pprof-ext-stripped) sibling=${path%-stripped} ;;
	esac
	python3 tests/drivers/hooks_check.py "$DUMP" "$path" $sibling > "$tmp/static" 2>&1
	rc=$?
	cat "$tmp/static"
	grep -q '^FAIL' "$tmp/static" || [ "$rc" -eq 0 ] || fail "hooks_check.py on $path exited $rc"
done < <(fixtures)
[ "$rows" -gt 0 ] || skip "no fixtures built (tests/fixtures/build.sh)"

# 2. live uprobes
if [ "$(id -u)" -ne 0 ]; then
	skip "not root: no live uprobes"
	finish
fi
[ -w "$T/uprobe_events" ] || mount -t tracefs nodev "$T" 2>/dev/null
[ -w "$T/uprobe_events" ] || { skip "no tracefs uprobe_events"; finish; }

# Fetch arguments per hook and release (GO-RUNTIME.md §0.5, §3.4: g.goid and
# g.atomicstatus offsets; §1.4: special.kind offset).
probe_args() { # hook minor
	local goid=152 status=144 kind=10
	[ "$2" -ge 23 ] && [ "$2" -le 24 ] && goid=160 status=152
	[ "$2" -ge 24 ] && kind=16
	case $1 in
	newg_visible) echo "g=%bx goid=+$goid(%bx):u64 status=+$status(%bx):u32" ;;
	gdestroy | goexit0) echo "g=%ax goid=+$goid(%ax):u64 status=+$status(%ax):u32" ;;
	profilealloc) echo "x=%bx size=%cx" ;;
	freespecial) echo "p=%bx size=%cx kind=+$kind(%ax):u8" ;;
	esac
}

# the profile special's kind (GO-RUNTIME.md §1.4)
profile_kind() { # minor
	if [ "$1" -le 22 ]; then echo 2; elif [ "$1" -le 24 ]; then echo 3; else echo 4; fi
}

# Adds a probe per hook with a site the release uses; prints "name" lines.
add_probes() { # binary minor
	"$DUMP" --json "$1" | python3 -c '
import json, sys
for h in json.load(sys.stdin)["hooks"]:
    if h["expected"] and "address" in h:
        print(h["name"], h["file_offset"])' > "$tmp/sites" || return 1
	while read -r name off; do
		echo "p:$group/$name $1:$off $(probe_args "$name" "$2")" >> "$T/uprobe_events" ||
			{ fail "adding uprobe $name at $1:$off"; return 1; }
	done < "$tmp/sites"
	# a private buffer; events without arguments are counted (uprobe_profile) but
	# filtered out of it, so the hot allocation probes do not crowd it
	mkdir "$T/instances/$group" && echo 4096 > "$T/instances/$group/buffer_size_kb" || return 1
	while read -r name _; do
		[ -n "$(probe_args "$name" "$2")" ] ||
			echo 'common_pid < 0' > "$T/instances/$group/events/$group/$name/filter" || return 1
	done < "$tmp/sites"
	echo 1 > "$T/instances/$group/events/$group/enable"
}

set_memprofilerate() { # pid binary
	local addr
	addr=$(nm "$2" | awk '$3 == "runtime.MemProfileRate" { print $1 }')
	[ -n "$addr" ] && python3 -c '
import struct, sys
with open("/proc/%s/mem" % sys.argv[1], "r+b", buffering=0) as f:
    f.seek(int(sys.argv[2], 16))
    f.write(struct.pack("<q", 16384))' "$1" "$addr"
}

run_fixture() { # binary -> $tmp/out, $tmp/maps; returns the fixture's exit status
	"$1" -d 2s -spawn 4 > "$tmp/out" 2>&1 &
	fixture_pid=$!
	for _ in $(seq 50); do
		grep -q '^ready' "$tmp/out" && break
		sleep 0.1
	done
	set_memprofilerate "$fixture_pid" "$1" || fail "writing runtime.MemProfileRate"
	sleep 1.2
	cat "/proc/$fixture_pid/maps" > "$tmp/maps" 2>/dev/null
	wait "$fixture_pid"
	local rc=$?
	fixture_pid=
	return $rc
}

live() { # binary release
	local bin=$1 rel=$2 minor rc
	minor=${rel#go1.}
	minor=${minor%%.*}
	add_probes "$bin" "$minor" || { fail "$rel: setting up uprobes"; remove_probes; return; }
	run_fixture "$bin"
	rc=$?
	echo 0 > "$T/instances/$group/events/$group/enable"
	live_checks "$bin" "$rel" "$minor" "$rc"
	remove_probes
}

live_checks() { # binary release minor status
	local bin=$1 rel=$2 minor=$3 rc=$4
	check "$rel: fixture ran under the probes and exited normally (status $rc)" \
		[ "$rc" -eq 0 -a -n "$(grep '^ready' "$tmp/out")" ]
	# Every site fires hundreds of times per run (checked below), so a site the
	# kernel single-steps maps the XOL page in every run. A page seen once and
	# not on a rerun is the kernel falling back for one hit (a call whose return
	# address push faulted, branch_emulate_op()), not a site it never emulates.
	if ! xol_ok; then
		echo "  $rel: [uprobes] XOL page seen; running the fixture again"
		echo 1 > "$T/instances/$group/events/$group/enable"
		run_fixture "$bin"
		echo 0 > "$T/instances/$group/events/$group/enable"
	fi
	check "$rel: the kernel single-stepped none of the sites (no [uprobes] page)" xol_ok
	live_args "$bin" "$rel" "$minor"
}

xol_ok() {
	[ -s "$tmp/maps" ] && ! grep -qF '[uprobes]' "$tmp/maps"
}

live_args() { # binary release minor
	local bin=$1 rel=$2 minor=$3
	awk -v p="$bin" '$1 == p { print $2, $3 }' "$T/uprobe_profile" > "$tmp/hits"
	echo "  $rel hits: $(tr '\n' ' ' < "$tmp/hits")"
	while read -r name _; do
		hits=$(awk -v n="$name" '$1 == n { print $2 }' "$tmp/hits")
		check "$rel: $name fired (${hits:-0} hits)" [ "${hits:-0}" -gt 0 ]
	done < "$tmp/sites"
	python3 - "$tmp/hits" "$(profile_kind "$minor")" "$rel" "$T/instances/$group/trace" <<'EOF'
import re, sys
hits = dict(l.split() for l in open(sys.argv[1]))
kind, rel = int(sys.argv[2]), sys.argv[3]
ev = {}
for line in open(sys.argv[4]):
    m = re.search(r" (\w+): \(0x[0-9a-f]+\) (.*)$", line)
    if m:
        ev.setdefault(m.group(1), []).append(dict(kv.split("=") for kv in m.group(2).split()))
def check(ok, what):
    print(("PASS " if ok else "FAIL ") + rel + ": " + what)
new = ev.get("newg_visible", [])
check(new and all(int(e["status"], 0) == 1 and int(e["goid"], 0) > 0 for e in new),
      "rbx at newg_visible is the new g: %d events, all _Grunnable with a goid" % len(new))
check(hits.get("newg_visible") == hits.get("newproc1"),
      "newg_visible hits (%s) = newproc1 hits (%s)" % (hits.get("newg_visible"), hits.get("newproc1")))
ex = ev.get("gdestroy", []) + ev.get("goexit0", [])
check(ex and all(int(e["status"], 0) == 2 and int(e["goid"], 0) > 0 for e in ex),
      "rax at goroutine exit is the running g: %d events, all _Grunning" % len(ex))
born = {int(e["goid"], 0) for e in new}
check(ex and sum(int(e["goid"], 0) in born for e in ex) > 0,
      "exiting goroutines were seen created: %d of %d" % (sum(int(e["goid"], 0) in born for e in ex), len(ex)))
alloc = {int(e["x"], 0) for e in ev.get("profilealloc", []) if int(e["size"], 0) > 0}
freed = [int(e["p"], 0) for e in ev.get("freespecial", []) if int(e["kind"], 0) == kind]
match = sum(p in alloc for p in freed)
check(alloc and match > 0,
      "freeSpecial frees sampled objects: %d profile specials freed, %d of them sampled at profilealloc (%d samples)"
      % (len(freed), match, len(alloc)))
EOF
}

while read -r path rel fixture variant; do
	[ "$fixture-$variant" = basic-default ] && live "$path" "$rel"
done < <(fixtures)
finish
