#!/usr/bin/env bash
# leakhound with capabilities instead of full root (docs/SECURITY.md), against fixtures
# of the newest Go release, one running as root and the others as nobody:
#  - what uprobes need here, from leakhound check's live test without CAP_SYS_ADMIN:
#    uprobe_multi links (6.6+) only CAP_BPF and CAP_PERFMON, perf uprobes (kernels
#    without those, or LEAKHOUND_UPROBE_CLASSIC) CAP_SYS_ADMIN since 6.16 and the 2025
#    backports; the minimal set follows, and check passes with it;
#  - the minimal set works: trace as uid 0 with only those in its bounding set, on
#    another user's process, prints reports, writes the target's MemProfileRate (the
#    target, ending while traced, prints the rate leakhound set) and restores it (one
#    that outlives the trace prints 0); --no-write writes nothing (it prints 0 though
#    traced to its end); trace as a non-root user with those capabilities ambient;
#    goroutines with CAP_SYS_PTRACE alone; the daemon with the set scripts/deploy gives
#    it (the systemd unit's bounding set, the same as the DaemonSet's): HTTP, snapshot
#    directory, the OOM tracepoint (no warning), tracing, exit 0 on SIGTERM and its
#    programs gone; with --no-write a target traced to its end saw no write;
#  - each capability missing: one error line naming it, a non-zero exit, nothing left
#    loaded (lh_* programs loaded as nobody, who runs these) and no uprobe_events line:
#    CAP_SYS_PTRACE, CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH (another user's PIE),
#    CAP_SYS_ADMIN for perf uprobes where they need it; the daemon, perf uprobes,
#    without CAP_SYS_ADMIN stops at the first target, naming it, its programs gone; as
#    a non-root user without CAP_DAC_READ_SEARCH the daemon warns that the OOM
#    tracepoint needs it;
#  - exposure: the daemon listens on 127.0.0.1:6065 without --listen, on loopback with
#    a port alone, and warns when it listens beyond loopback without a token (the
#    token itself, oversized and slow requests: tests/integration/http.sh, daemon.sh).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp
need_root privileges
for c in setpriv bpftool curl python3; do
	if ! command -v $c > /dev/null; then
		fail "privileges: needs $c (scripts/deps.sh)"
		finish
	fi
done
T0=$(date +%s%N)
NOBODY=65534

# Fixtures of the newest release, copied where nobody can run them
declare -A bin
newest=
while IFS=$'\t' read -r path r fixture variant; do
	case $r in go1.19*) continue ;; esac
	[ -z "$newest" ] && newest=$r
	[ "$r" = "$newest" ] && bin[$fixture-$variant]=$path
done < <(fixtures)
chmod 755 "$tmp"
mkdir -p "$tmp/bin" "$tmp/out"
chmod 777 "$tmp/out"
for k in leaky-default basic-pie basic-default; do
	if [ -z "${bin[$k]:-}" ]; then
		fail "privileges: fixture $k not in $FIXTURES/manifest.tsv (tests/fixtures/build.sh)"
		finish
	fi
	cp "${bin[$k]}" "$tmp/bin/$k"
done
cp "$LEAKHOUND" "$tmp/bin/leakhound"
chmod -R a+rX "$tmp/bin"
B=$tmp/bin
L=$B/leakhound

# other leakhound daemons on the machine may trace our fixtures and write their rate
foreign_daemons() { pgrep -f '^[^ ]*leakhound daemon' | grep -v -x -E "${dpid:-x}|${dpid2:-x}|${dpid3:-x}|${dpid4:-x}"; }
foreign=$(foreign_daemons)

# caps "bpf,perfmon": a setpriv prefix keeping only those (uid 0: the bounding set)
as_root() { echo "setpriv --bounding-set=-all$(caps_list "$1") --"; }
as_nobody() {
	local c
	c=$(caps_list "$1")
	echo "setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps=-all$c --ambient-caps=-all$c --"
}
caps_list() { [ -n "$1" ] && echo "$1" | sed 's/\([a-z_]*\)/+\1/g; s/^/,/'; }

# A fixture started as a user; waits until it runs the fixture (not the fork)
start_fixture() { # name user out args...
	local name=$1 user=$2 out=$3
	shift 3
	if [ "$user" = root ]; then
		"$B/$name" "$@" > "$out" 2>&1 &
	else
		setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$B/$name" "$@" > "$out" 2>&1 &
	fi
	fpid=$!
	pids+=("$fpid")
	for _ in $(seq 100); do
		[ "$(readlink "/proc/$fpid/exe" 2> /dev/null)" = "$B/$name" ] && break
		sleep 0.05
	done
	sleep 0.2 # the runtime's own start
}

# lh_* programs loaded by uid nobody: what the runs below as nobody leave, if anything
# (the processes of the rest of the machine load theirs as root)
nobody_progs() {
	bpftool -j prog show 2> /dev/null | python3 -c '
import json, sys
print(" ".join(str(p["id"]) for p in json.load(sys.stdin)
               if p.get("name", "").startswith("lh_") and p.get("uid") == int(sys.argv[1])))' $NOBODY
}
left_behind() { # sets $left; 0 when some are still loaded after 5 s
	for _ in $(seq 50); do
		left=$(nobody_progs)
		[ -z "$left" ] && return 1
		sleep 0.1
	done
	return 0
}

# ---- the minimal set: trace ----
# What this kernel asks of a uprobe: leakhound check's live test without CAP_SYS_ADMIN,
# with uprobe_multi links (used where the kernel has them, 6.6+) and with perf uprobes
$(as_nobody bpf,perfmon) "$L" check > "$tmp/multi.check" 2>&1
LEAKHOUND_UPROBE_CLASSIC=1 $(as_nobody bpf,perfmon) "$L" check > "$tmp/classic.check" 2>&1
if grep -q '^  ok       attach' "$tmp/multi.check"; then
	MIN=bpf,perfmon,sys_ptrace
else
	MIN=bpf,perfmon,sys_admin,sys_ptrace
fi
echo "uprobes without CAP_SYS_ADMIN: $(grep -m1 -E '^  [A-Za-z]+ +attach' "$tmp/multi.check"); perf uprobes: $(grep -m1 -E '^  [A-Za-z]+ +attach' "$tmp/classic.check" | cut -c1-100); the minimal set: $MIN"
$(as_nobody $MIN) "$L" check > "$tmp/min.check" 2>&1
check "check as uid $NOBODY with $MIN alone: leakhound can run here (rc=$?)" \
	grep -q '^leakhound can run here' "$tmp/min.check"
ev_before=$(our_uprobes)
# A: another user's process, ends while traced: the rate leakhound set
start_fixture leaky-default nobody "$tmp/a.fix" -duration 3s -churn 0 -rate 1048576
apid=$fpid
$(as_root $MIN) "$L" trace -p "$apid" -i 1 > "$tmp/a.out" 2> "$tmp/a.err" &
atr=$!
# B: outlives the trace: its rate back to 0
start_fixture leaky-default nobody "$tmp/b.fix" -duration 6s -churn 0 -rate 1048576
bpid=$fpid
$(as_root $MIN) "$L" trace -p "$bpid" -i 1 -d 2 > "$tmp/b.out" 2> "$tmp/b.err" &
btr=$!
# C: --no-write, traced to its end
start_fixture leaky-default nobody "$tmp/c.fix" -duration 3s -churn 0 -rate 1048576
cpid=$fpid
$(as_root $MIN) "$L" trace -p "$cpid" -i 1 --no-write > "$tmp/c.out" 2> "$tmp/c.err" &
ctr=$!
sleep 1.5
prog_ids_of "$btr" > "$tmp/b.ids"
wait "$atr"
arc=$?
wait "$btr"
brc=$?
wait "$ctr"
crc=$?
wait "$apid" "$bpid" "$cpid" 2> /dev/null
rate_of() { awk '/^ok [0-9]* MemProfileRate/ { print $4 }' "$1"; }
check_rate() { # what file want
	local got
	got=$(rate_of "$2")
	if [ "$got" = "$3" ]; then
		pass "$1 (MemProfileRate $got)"
	elif [ -n "$(foreign_daemons)$foreign" ]; then
		skip "$1: MemProfileRate $got: other leakhound daemons ran meanwhile ($(echo $(foreign_daemons))) and may trace it"
	else
		fail "$1: MemProfileRate '$got', wanted $3 ($(tail -1 "$2"))"
	fi
}
check "trace, uid 0 with $MIN only, another user's process: exit 0 (rc=$arc; $(tail -1 "$tmp/a.err"))" [ $arc = 0 ]
check "... reports" grep -q '^=== leakhound trace: pid' "$tmp/a.out"
check "... says it set the rate" grep -q "^set runtime.MemProfileRate 0 -> 524288 in process $apid" "$tmp/a.out"
check_rate "... the target, ending while traced, saw the rate leakhound wrote" "$tmp/a.fix" 524288
check "trace -d 2 of one that outlives it: exit 0 (rc=$brc; $(tail -1 "$tmp/b.err"))" [ $brc = 0 ]
check "... it held programs while tracing ($(wc -l < "$tmp/b.ids"))" [ -s "$tmp/b.ids" ]
check "... gone after it" wait_progs_gone "$tmp/b.ids"
check_rate "... the target's rate restored when the trace ended" "$tmp/b.fix" 0
check "trace --no-write to the target's end: exit 0 (rc=$crc; $(tail -1 "$tmp/c.err"))" [ $crc = 0 ]
check "... reports (goroutines; heap sampling off and not turned on)" \
	grep -q '^=== leakhound trace: pid' "$tmp/c.out"
check "... no write announced" sh -c "! grep -q '^set runtime.MemProfileRate' '$tmp/c.out'"
check_rate "... the target saw no write" "$tmp/c.fix" 0

# D: trace as nobody, the same capabilities ambient, a root process (full capabilities)
start_fixture leaky-default root "$tmp/d.fix" -duration 4s -churn 0 -rate 1048576
dfpid=$fpid
$(as_nobody $MIN) "$L" trace -p "$dfpid" -i 1 -d 1 > "$tmp/d.out" 2> "$tmp/d.err"
drc=$?
check "trace as uid $NOBODY with $MIN ambient, a root process: exit 0, reports (rc=$drc; $(tail -1 "$tmp/d.err"))" \
	sh -c "[ $drc = 0 ] && grep -q '^=== leakhound trace: pid' '$tmp/d.out'"

# goroutines: memory reads only
start_fixture basic-default nobody "$tmp/g.fix" -d 20s
gpid=$fpid
$(as_root sys_ptrace) "$L" goroutines -p "$gpid" > "$tmp/g.out" 2> "$tmp/g.err"
grc=$?
check "goroutines, uid 0 with CAP_SYS_PTRACE only, another user's process: exit 0, a listing (rc=$grc; $(tail -1 "$tmp/g.err"))" \
	sh -c "[ $grc = 0 ] && grep -q '^leakhound goroutines: pid $gpid' '$tmp/g.out'"

# ---- each capability missing: one line naming it, non-zero, nothing left ----
# As nobody with the capabilities ambient, on root's processes (which hold every
# capability: another user's for ptrace), so that what it loads is told by its uid.
missing() { # what caps want-cap pid [command...]; $menv: environment for it
	local what=$1 caps=$2 want=$3 pid=$4 rc
	shift 4
	env ${menv:-} $(as_nobody "$caps") "$L" "$@" -p "$pid" > "$tmp/m.out" 2> "$tmp/m.err"
	rc=$?
	local line
	line=$(grep -m1 "error: .*missing $want, needed " "$tmp/m.err")
	check "$what: exit $rc (non-zero), one line names $want: ${line#*error: }" \
		[ $rc != 0 -a -n "$line" ]
	if left_behind; then
		fail "$what: programs left loaded: $left"
	else
		pass "$what: no program left loaded"
	fi
}
start_fixture basic-default root "$tmp/r.fix" -d 30s
rpid=$fpid
trace_args=(trace -i 1 -d 1)
missing "trace without CAP_SYS_PTRACE" bpf,perfmon,sys_admin CAP_SYS_PTRACE "$rpid" "${trace_args[@]}"
missing "goroutines without CAP_SYS_PTRACE" "" CAP_SYS_PTRACE "$rpid" goroutines
missing "trace without CAP_BPF" perfmon,sys_ptrace CAP_BPF "$rpid" "${trace_args[@]}"
missing "trace without CAP_PERFMON" bpf,sys_ptrace CAP_PERFMON "$rpid" "${trace_args[@]}"
# CAP_SYS_ADMIN, where uprobes need it: perf uprobes since 6.16 and the 2025 backports
# (kernels without uprobe_multi links; here by LEAKHOUND_UPROBE_CLASSIC)
if grep -q '^  MISSING  CAP_SYS_ADMIN' "$tmp/classic.check"; then
	menv=LEAKHOUND_UPROBE_CLASSIC=1 missing "trace, perf uprobes, without CAP_SYS_ADMIN" \
		bpf,perfmon,sys_ptrace CAP_SYS_ADMIN "$rpid" "${trace_args[@]}"
else
	skip "trace, perf uprobes, without CAP_SYS_ADMIN: this kernel lets CAP_PERFMON create them"
fi
start_fixture basic-pie root "$tmp/p.fix" -d 20s
ppid_=$fpid
missing "trace of another user's PIE without CAP_DAC_READ_SEARCH" "$MIN" CAP_DAC_READ_SEARCH \
	"$ppid_" "${trace_args[@]}"
$(as_nobody "$MIN,dac_read_search") "$L" trace -p "$ppid_" -i 1 -d 1 > "$tmp/p.out" 2> "$tmp/p.err"
check "... with it: exit 0, reports (rc=$?; $(tail -1 "$tmp/p.err"))" \
	grep -q '^=== leakhound trace: pid' "$tmp/p.out"
kill "$gpid" "$rpid" "$ppid_" 2> /dev/null
check "no uprobe_events line left ($(our_uprobes), before: $ev_before)" [ "$(our_uprobes)" = "$ev_before" ]

# ---- the daemon ----
daemon_up() { # out-file pid: the port once it listens
	local port
	for _ in $(seq 100); do
		port=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "$1" 2> /dev/null)
		[ -n "$port" ] && break
		kill -0 "$2" 2> /dev/null || break
		sleep 0.1
	done
	echo "$port"
}
# the set scripts/deploy gives it: the unit's bounding set, the DaemonSet's the same
caps_of_unit() { sed -n "s/^$1=//p" scripts/deploy/leakhound.service | tr ' ' '\n' | sed 's/^CAP_//' | sort | paste -sd, -; }
DEPLOY=$(caps_of_unit CapabilityBoundingSet | tr 'A-Z' 'a-z')
ds=$(sed -n 's/^ *add: \[\(.*\)\]$/\1/p' scripts/deploy/leakhound-daemonset.yaml | tr -d '" ' | tr , '\n' | sort | paste -sd, -)
check "deploy: the unit's ambient set is its bounding set ($(caps_of_unit AmbientCapabilities))" \
	[ "$(caps_of_unit AmbientCapabilities)" = "$(caps_of_unit CapabilityBoundingSet)" ]
check "deploy: the DaemonSet adds the unit's capabilities ($ds)" \
	[ -n "$ds" -a "$ds" = "$(caps_of_unit CapabilityBoundingSet)" ]
dflags=(daemon --foreground --listen 127.0.0.1:0 --interval 1 --include-exe "$B/*")
$(as_root "$DEPLOY") "$L" "${dflags[@]}" --snapshot-dir "$tmp/out/snap" > "$tmp/d1.out" 2> "$tmp/d1.err" &
dpid=$!
pids+=("$dpid")
port=$(daemon_up "$tmp/d1.out" "$dpid")
check "daemon, uid 0 with the deploy files' set only ($DEPLOY): listening ($(grep -m1 -E 'error' "$tmp/d1.err"))" [ -n "$port" ]
prog_ids_of "$dpid" > "$tmp/d1.ids"
start_fixture leaky-default nobody "$tmp/e.fix" -duration 6s -churn 0 -rate 1048576
epid=$fpid
reports=0
for _ in $(seq 100); do
	reports=$(curl -s "http://127.0.0.1:$port/api/v1/targets" | python3 -c '
import json, sys
d = json.load(sys.stdin)
t = d if isinstance(d, list) else d.get("targets", [])
print(max([x["reports"] for x in t if x["pid"] == int(sys.argv[1]) and not x.get("go_heap_off")] or [0]))' "$epid" 2> /dev/null)
	[ "${reports:-0}" -ge 1 ] && break
	sleep 0.1
done
check "... traces another user's process, Go heap on (reports: $reports)" [ "${reports:-0}" -ge 1 ]
check "... loaded the OOM tracepoint (no warning about it)" sh -c "! grep -q 'no snapshots at OOM kills' '$tmp/d1.err'"
wait "$epid"
check_rate "... the target, ending while traced, saw the rate the daemon wrote" "$tmp/e.fix" 524288
prog_ids_of "$dpid" >> "$tmp/d1.ids"
kill -TERM "$dpid"
wait "$dpid"
rc=$?
check "... exit 0 on SIGTERM (rc=$rc)" [ $rc = 0 ]
check "... its programs gone ($(sort -u "$tmp/d1.ids" | wc -l))" wait_progs_gone "$tmp/d1.ids"

# --no-write: a target traced to its end saw no write
$(as_root "$DEPLOY") "$L" "${dflags[@]}" --no-write --no-snapshots > "$tmp/d4.out" 2> "$tmp/d4.err" &
dpid4=$!
pids+=("$dpid4")
port=$(daemon_up "$tmp/d4.out" "$dpid4")
start_fixture leaky-default nobody "$tmp/n.fix" -duration 3s -churn 0 -rate 1048576
npid=$fpid
wait "$npid"
check "daemon --no-write: it traced the target (attached: $(grep -c "process $npid .*attached in" "$tmp/d4.err"))" \
	grep -q "process $npid .*attached in" "$tmp/d4.err"
check_rate "... which, traced to its end, saw no write" "$tmp/n.fix" 0
kill -TERM "$dpid4"
wait "$dpid4"

# perf uprobes without CAP_SYS_ADMIN (when they need it): stops at the first target,
# naming it
if grep -q '^  MISSING  CAP_SYS_ADMIN' "$tmp/classic.check"; then
	LEAKHOUND_UPROBE_CLASSIC=1 $(as_root bpf,perfmon,sys_ptrace) "$L" "${dflags[@]}" --no-snapshots > "$tmp/d2.out" 2> "$tmp/d2.err" &
	dpid2=$!
	pids+=("$dpid2")
	port=$(daemon_up "$tmp/d2.out" "$dpid2")
	prog_ids_of "$dpid2" > "$tmp/d2.ids"
	start_fixture basic-default nobody "$tmp/f.fix" -d 20s
	wait "$dpid2"
	rc=$?
	line=$(grep -m1 'daemon: stopping: missing CAP_SYS_ADMIN' "$tmp/d2.err")
	check "daemon, perf uprobes, without CAP_SYS_ADMIN: stops, exit $rc (non-zero), naming it: ${line#*error: }" \
		[ $rc != 0 -a -n "$line" ]
	check "... it held programs before ($(wc -l < "$tmp/d2.ids"))" [ -s "$tmp/d2.ids" ]
	check "... all gone" wait_progs_gone "$tmp/d2.ids"
	kill "$fpid" 2> /dev/null
else
	skip "daemon, perf uprobes, without CAP_SYS_ADMIN: this kernel lets CAP_PERFMON create them"
fi

# as nobody: the OOM tracepoint's id is in tracefs (root only) without CAP_DAC_READ_SEARCH
$(as_nobody $MIN) "$L" "${dflags[@]}" --snapshot-dir "$tmp/out/snap3" > "$tmp/d3.out" 2> "$tmp/d3.err" &
dpid3=$!
pids+=("$dpid3")
port=$(daemon_up "$tmp/d3.out" "$dpid3")
kill -TERM "$dpid3"
wait "$dpid3"
rc=$?
line=$(grep -m1 'no snapshots at OOM kills' "$tmp/d3.err")
case $line in *"missing CAP_DAC_READ_SEARCH"*) named=1 ;; *) named=0 ;; esac
check "daemon as uid $NOBODY without CAP_DAC_READ_SEARCH: runs (rc=$rc), warns the OOM tracepoint needs it: ${line#*warning: }" \
	[ -n "$port" -a $rc = 0 -a $named = 1 ]

# ---- exposure: the HTTP listener (the rest: tests/integration/http.sh, daemon.sh) ----
quiet=(--foreground --include-exe "$tmp/none/*" --no-snapshots)
expose() { # name daemon-flags...: its stdout and stderr in $tmp/NAME.{out,err}, then stopped
	local name=$1 p port
	shift
	"$L" daemon "${quiet[@]}" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
	p=$!
	pids+=("$p")
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's|.*listening on http://\(.*\)/$|\1|p' "$tmp/$name.out" 2> /dev/null)
		[ -n "$port" ] && break
		kill -0 "$p" 2> /dev/null || break
		sleep 0.1
	done
	listened=$port
	[ -n "$port" ] && ss -ltnH 2> /dev/null | awk '{ print $4 }' > "$tmp/$name.ss"
	kill -TERM "$p" 2> /dev/null
	wait "$p"
}
if ss -ltnH 2> /dev/null | awk '{ print $4 }' | grep -q ':6065$'; then
	skip "exposure: port 6065 is taken here: the default address not tried"
else
	expose default
	check "exposure: no --listen: listens on 127.0.0.1:6065 ($listened)" [ "$listened" = 127.0.0.1:6065 ]
	check "... and the socket is bound to loopback (ss)" grep -qx '127.0.0.1:6065' "$tmp/default.ss"
fi
expose portonly --listen 0
check "exposure: --listen PORT alone: loopback ($listened)" sh -c "case '$listened' in 127.0.0.1:*) true ;; *) false ;; esac"
check "... no warning about exposure" sh -c "! grep -q 'reachable from other machines' '$tmp/portonly.err'"
expose any --listen 0.0.0.0:0
check "exposure: --listen 0.0.0.0 without a token: warns whoever reaches it reads the profiles" \
	grep -q 'reachable from other machines and there is no --token-file' "$tmp/any.err"
head -c 24 /dev/urandom | base64 > "$tmp/token"
expose anytok --listen 0.0.0.0:0 --token-file "$tmp/token"
check "... with --token-file: no warning ($listened)" \
	sh -c "[ -n '$listened' ] && ! grep -q 'reachable from other machines' '$tmp/anytok.err'"

echo "privileges: $((($(date +%s%N) - T0) / 1000000)) ms in all (not asserted)"
finish
