#!/usr/bin/env bash
# `leakhound check`: as root its live uprobe fires exactly the number of times the test
# asks for; its facts match /proc and sysfs; without privileges (nobody, or root without
# CAP_SYS_ADMIN) it fails naming the missing capability; in a PID namespace, stripped,
# concurrently and built with STATIC=1 it passes; and it leaves no BPF program loaded
# (bpftool) and uprobe_events unchanged.
. "$(dirname "$0")/../lib.sh"

cd "$(dirname "$0")/../.." || exit 1
if [ "$(id -u)" -ne 0 ]; then
	skip "check: needs root"
	finish
fi
if [ ! -x "$LEAKHOUND" ]; then
	fail "no $LEAKHOUND: run make first"
	finish
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # nobody runs a copy of the binary from here
events=/sys/kernel/tracing/uprobe_events
[ -r $events ] || events=/sys/kernel/debug/tracing/uprobe_events

# BPF programs of leakhound's check object, by the names bpftool (not leakhound) reports.
lh_progs() {
	bpftool -j prog show | python3 -c '
import json, sys
print(sum(1 for p in json.load(sys.stdin) if p.get("name") == "lh_check_target"))'
}

# JSON field of a check report, or "MISSING". python3 is the independent parser; it
# flattens each report once ("path<TAB>json value" lines) and awk looks fields up.
jget() { # file path.to.field
	[ -f "$1.flat" ] || python3 - "$1" > "$1.flat" <<'EOF'
import json, sys
def walk(v, path):
    if isinstance(v, dict):
        for k, x in v.items():
            walk(x, path + [k])
    else:
        print(".".join(path) + "\t" + json.dumps(v))
try:
    walk(json.load(open(sys.argv[1])), [])
except ValueError:
    pass
EOF
	awk -F '\t' -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print "MISSING" }' "$1.flat"
}

progs_before=$(lh_progs)
cat $events > "$tmp/events.before" 2>/dev/null

# --- root: the live test counts exactly the calls asked for ---
calls=$((RANDOM % 40 + 9))
"$LEAKHOUND" check --json --calls $calls > "$tmp/root.json" 2> "$tmp/root.err"
rc=$?
check "root: check exits 0 (rc=$rc$(head -c 300 "$tmp/root.err"))" [ $rc -eq 0 ]
check "root: JSON says ok" [ "$(jget "$tmp/root.json" ok)" = true ]
hits=$(jget "$tmp/root.json" live.hits)
check "root: uprobe fired $calls times (JSON: $hits)" [ "$hits" = "$calls" ]
recs=$(jget "$tmp/root.json" live.records_ok)
check "root: $calls well-formed ring-buffer records (JSON: $recs)" [ "$recs" = "$calls" ]
frames=$(jget "$tmp/root.json" live.max_stack_frames)
check "root: user stacks cross frames (JSON: $frames frames)" [ "$frames" -ge 2 ] 2> /dev/null
jget "$tmp/root.json" ok > /dev/null # makes root.json.flat
check "root: BPF failure counters present and all zero" awk -F '\t' \
	'$1 ~ /^live\.stats\./ { n++; if ($2 != "0") bad++ } END { exit !(n > 0 && !bad) }' \
	"$tmp/root.json.flat"

# facts against the kernel's own files
capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
for cap in CAP_BPF:39 CAP_PERFMON:38 CAP_SYS_PTRACE:19 CAP_SYS_ADMIN:21 CAP_SYS_RESOURCE:24; do
	want=$(( (0x$capeff >> ${cap#*:}) & 1 ))
	[ $want -eq 1 ] && want=true || want=false
	got=$(jget "$tmp/root.json" "privileges.capabilities.${cap%:*}")
	check "root: ${cap%:*} $got, CapEff $capeff says $want" [ "$got" = "$want" ]
done
pmu=$(cat /sys/bus/event_source/devices/uprobe/type 2>/dev/null || echo -1)
check "root: uprobe PMU type $pmu" [ "$(jget "$tmp/root.json" kernel.uprobe_pmu_type)" = "$pmu" ]
btf=false
[ -r /sys/kernel/btf/vmlinux ] && btf=true
check "root: BTF $btf" [ "$(jget "$tmp/root.json" kernel.btf)" = $btf ]
check "root: release $(uname -r)" [ "$(jget "$tmp/root.json" kernel.release)" = "\"$(uname -r)\"" ]
check "root: perf_event_paranoid" \
	[ "$(jget "$tmp/root.json" privileges.perf_event_paranoid)" = "$(cat /proc/sys/kernel/perf_event_paranoid)" ]

# --- text output, and variants that must pass too ---
"$LEAKHOUND" check > "$tmp/root.txt" 2>&1
check "root: text checklist ends 'leakhound can run here'" grep -q '^leakhound can run here$' "$tmp/root.txt"
check "root: text checklist has no MISSING line" bash -c "! grep -q MISSING '$tmp/root.txt'"

unshare --pid --fork --mount-proc "$LEAKHOUND" check --calls 5 > "$tmp/pidns.txt" 2>&1
check "PID namespace: check passes, 5 of 5 counted" grep -q 'hits: 5 of 5 calls' "$tmp/pidns.txt"

strip -o "$tmp/leakhound-stripped" "$LEAKHOUND"
"$tmp/leakhound-stripped" check > "$tmp/stripped.txt" 2>&1
check "stripped binary: check passes from /proc/self/maps alone" \
	grep -q 'no .symtab: from /proc/self/maps' "$tmp/stripped.txt"
check "stripped binary: exit 0" grep -q '^leakhound can run here$' "$tmp/stripped.txt"

pids=()
for n in 7 11 13 17; do
	"$LEAKHOUND" check --json --calls $n > "$tmp/par$n.json" 2>&1 &
	pids+=($!)
done
for i in "${!pids[@]}"; do wait "${pids[$i]}"; done
for n in 7 11 13 17; do
	check "4 concurrent checks: the one calling $n times counted $n" \
		[ "$(jget "$tmp/par$n.json" live.hits)" = $n ]
done

# --- unprivileged: non-zero, names what is missing, no crash ---
cp "$LEAKHOUND" "$tmp/leakhound"
chmod 755 "$tmp/leakhound"
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	"$tmp/leakhound" check > "$tmp/nobody.txt" 2>&1
rc=$?
check "nobody: check exits 1 (rc=$rc)" [ $rc -eq 1 ]
check "nobody: names CAP_BPF as MISSING" grep -q '^  MISSING  CAP_BPF: needs CAP_BPF and CAP_PERFMON' "$tmp/nobody.txt"
check "nobody: names CAP_SYS_ADMIN as MISSING, or not needed (uprobe_multi links)" \
	grep -q -E '^  (MISSING  CAP_SYS_ADMIN|note     CAP_SYS_ADMIN: not held; not needed: uprobes are uprobe_multi)' "$tmp/nobody.txt"
check "nobody: the live load fails with EPERM, said so" \
	grep -q '^  MISSING  load: .*Operation not permitted; needs CAP_BPF' "$tmp/nobody.txt"
check "nobody: ends 'leakhound cannot run here'" grep -q '^leakhound cannot run here' "$tmp/nobody.txt"
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	"$tmp/leakhound" check --json > "$tmp/nobody.json" 2>&1
check "nobody: JSON ok=false, CAP_BPF false" \
	[ "$(jget "$tmp/nobody.json" ok)/$(jget "$tmp/nobody.json" privileges.capabilities.CAP_BPF)" = false/false ]

# root without CAP_SYS_ADMIN: loads, but (6.16+ and backports) cannot create uprobes
if command -v capsh > /dev/null; then
	capsh --drop=cap_sys_admin -- -c "'$LEAKHOUND' check" > "$tmp/noadmin.txt" 2>&1
	rc=$?
	if grep -q '^  ok       attach' "$tmp/noadmin.txt"; then
		check "no CAP_SYS_ADMIN: this kernel lets CAP_PERFMON create uprobes (uprobe_multi links, or before the 2025 change), exit 0" [ $rc -eq 0 ]
	else
		check "no CAP_SYS_ADMIN: exits 1 (rc=$rc)" [ $rc -eq 1 ]
		check "no CAP_SYS_ADMIN: names it as MISSING" \
			grep -q '^  MISSING  CAP_SYS_ADMIN: needs CAP_SYS_ADMIN' "$tmp/noadmin.txt"
	fi
	# perf uprobes, as on kernels without uprobe_multi links (before 6.6)
	LEAKHOUND_UPROBE_CLASSIC=1 capsh --drop=cap_sys_admin -- -c "'$LEAKHOUND' check" \
		> "$tmp/noadmin2.txt" 2>&1
	rc=$?
	if grep -q '^  ok       attach' "$tmp/noadmin2.txt"; then
		check "perf uprobes, no CAP_SYS_ADMIN: this kernel lets CAP_PERFMON create them, exit 0" [ $rc -eq 0 ]
	else
		check "perf uprobes, no CAP_SYS_ADMIN: exits 1 (rc=$rc), names it as MISSING" \
			sh -c "[ $rc -eq 1 ] && grep -q '^  MISSING  CAP_SYS_ADMIN: needs CAP_SYS_ADMIN' '$tmp/noadmin2.txt'"
	fi
else
	skip "capsh not installed (libcap2-bin)"
fi

# --- STATIC=1: libbpf, libelf and zlib inside; the binary passes check ---
static=$OUTPUT/static
start=$SECONDS
if make -s STATIC=1 OUTPUT="$static" "$static/leakhound" > "$tmp/static.log" 2>&1; then
	pass "STATIC=1 build in $((SECONDS - start)) s"
	ldd "$static/leakhound" > "$tmp/static.ldd" 2>&1
	check "STATIC=1: ldd lists no libbpf, libelf or libz" \
		bash -c "! grep -Eq 'libbpf|libelf|libz\\.' '$tmp/static.ldd'"
	check "STATIC=1: ldd lists libcjson (dynamic by design)" grep -q libcjson "$tmp/static.ldd"
	"$static/leakhound" check --json --calls 23 > "$tmp/static.json" 2>&1
	rc=$?
	check "STATIC=1: check exits 0 (rc=$rc)" [ $rc -eq 0 ]
	check "STATIC=1: uprobe fired 23 times" [ "$(jget "$tmp/static.json" live.hits)" = 23 ]
else
	fail "STATIC=1 build: $(tail -n 5 "$tmp/static.log")"
fi

# --- nothing left behind ---
check "no lh_check_target program loaded afterwards (bpftool: $(lh_progs), before: $progs_before)" \
	[ "$(lh_progs)" = "$progs_before" ]
if [ -r $events ]; then
	cat $events > "$tmp/events.after"
	check "uprobe_events unchanged" cmp -s "$tmp/events.before" "$tmp/events.after"
else
	skip "no readable uprobe_events"
fi
finish
