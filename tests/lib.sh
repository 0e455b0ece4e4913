# Shared helpers for integration tests (sourced). Every check prints one line,
# "PASS <what>" or "FAIL <what>", which tests/run.sh counts.

OUTPUT=${OUTPUT:-build}
LEAKHOUND=${LEAKHOUND:-$OUTPUT/leakhound}
FIXTURES=${FIXTURES:-$OUTPUT/fixtures}
failures=0
# Set by tests/matrix.sh, which runs the suites once per Go release: the checks that CI
# runs on some releases only (to keep its time) then run on every release.
MATRIX=${LEAKHOUND_MATRIX:-}

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
skip() { echo "SKIP $*"; }
check() { # check "what" command...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() { exit $((failures > 0)); }

# The go command of one release tag as the fixture manifest names it (go1.22.12).
go_for() {
	local tag=$1
	awk -F "\t" -v t="$tag" '$1 == t { print $2; exit }' "$FIXTURES/toolchains.tsv"
}

# True for the releases a check limited to some releases in CI runs on (release globs,
# go1.26* go1.19*), and for every release in the matrix.
release_in() { # release glob...
	local rel=$1 g
	shift
	[ -n "$MATRIX" ] && return 0
	for g in "$@"; do
		[[ $rel == $g ]] && return 0
	done
	return 1
}

# Rows of the fixture manifest: path release fixture variant
fixtures() {
	[ -f "$FIXTURES/manifest.tsv" ] || return 0
	cat "$FIXTURES/manifest.tsv"
}

# The fixture built by a release for a variant: its path, or nothing.
fixture_of() { # release fixture variant
	fixtures | awk -v r="$1" -v f="$2" -v v="$3" '$2 == r && $3 == f && $4 == v { print $1; exit }'
}
# The newest release the fixtures were built with.
newest_release() {
	fixtures | awk '{ print $2 }' | sort -uV | tail -1
}

# The port of a `leakhound daemon --foreground --listen 127.0.0.1:0` whose stdout goes
# to file: waits up to 10 s for its "listening on" line; nothing when it never comes.
daemon_port() { # stdout-file
	local port
	for _ in $(seq 100); do
		port=$(sed -n 's|^leakhound daemon: listening on http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' \
			"$1" 2> /dev/null)
		[ -n "$port" ] && { echo "$port"; return 0; }
		sleep 0.1
	done
	return 1
}

# tracefs, where uprobe_events lives: some machines boot without it mounted.
if [ ! -e /sys/kernel/tracing/uprobe_events ] && [ "$(id -u)" = 0 ]; then
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi

# $tmp, a directory of the test's own, and pids, processes to kill: both cleaned up on
# exit (KEEP=1 keeps $tmp and says where it is). Call once, from the script's top level.
setup_tmp() {
	tmp=$(mktemp -d)
	export LEAKHOUND_TEST_TAG="$$-$RANDOM"
	pids=()
	if [ -n "${KEEP:-}" ]; then
		echo "tmp $tmp"
		trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT
	else
		trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
	fi
}

# Ends the test with one SKIP line unless it runs as root.
need_root() {
	[ "$(id -u)" = 0 ] && return 0
	skip "$1: needs root"
	finish
}

# The tracers' BPF programs (bpftool shows the first 15 characters of a name:
# lh_goheap_*, lh_gor_*, lh_cheap_*) that this test's processes hold: they carry
# LEAKHOUND_TEST_TAG in their environment (set by setup_tmp). A tracer that exits
# releases everything it held, so after the tracers are gone this is 0 unless one of
# them is still running; programs of other leakhound processes on the machine (another
# test run, a daemon), and programs a moment away from being freed with no holder left,
# are not counted. Also our uprobe_events lines (perf-event uprobes leave none; legacy
# ones would).
our_progs() {
	bpftool prog show 2>/dev/null | awk -F: '/name lh_(goheap|gor|cheap)_/ { print $1 }' |
		python3 -c '
import os, sys
tag = ("LEAKHOUND_TEST_TAG=" + sys.argv[1]).encode()
ids = {int(l) for l in sys.stdin if l.strip()}
held = set()
for pid in filter(str.isdigit, os.listdir("/proc") if ids else []):
    try:
        with open("/proc/%s/environ" % pid, "rb") as f:
            if tag not in f.read().split(b"\0"):
                continue
        for fd in os.listdir("/proc/%s/fdinfo" % pid):
            with open("/proc/%s/fdinfo/%s" % (pid, fd)) as f:
                held.update(int(l.split()[1]) for l in f if l.startswith("prog_id:"))
    except OSError:
        continue
print(len(ids & held))' "${LEAKHOUND_TEST_TAG:-none}"
}
our_uprobes() {
	grep -c 'libbpf_' /sys/kernel/tracing/uprobe_events 2>/dev/null || true
}
# The ids of the BPF programs process pid holds (its fds' prog_id, links' prog_id too):
# what it loaded, whatever other tracers run on the machine.
prog_ids_of() { # pid
	cat /proc/"$1"/fdinfo/* 2> /dev/null | awk '$1 == "prog_id:" { print $2 }' | sort -u
}
# Waits up to 10 s until none of the programs ids (one per line in a file) is loaded.
wait_progs_gone() { # file-of-ids
	local id left
	for _ in $(seq 100); do
		left=0
		while read -r id; do
			bpftool prog show id "$id" > /dev/null 2>&1 && left=1
		done < "$1"
		[ "$left" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
# Waits up to 10 s for our_progs to reach 0; 1 if it does not.
wait_no_progs() {
	for _ in $(seq 100); do [ "$(our_progs)" = 0 ] && return 0; sleep 0.1; done
	return 1
}
