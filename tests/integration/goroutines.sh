#!/usr/bin/env bash
# leakhound goroutines -p PID against the goroutines fixture (every release built,
# default and stripped), every mode running at once, each compared with the fixture's
# own ground truth written on SIGUSR1 (runtime.NumGoroutine, runtime/pprof goroutine
# debug=1 and debug=2):
#  - user goroutines == runtime.NumGoroutine (the churn control within a tolerance);
#  - leak modes: the largest group has the same functions as pprof's largest group,
#    and every parked goroutine has the state (wait reason), "created by" function,
#    creating goroutine (1.21+) and stack functions that debug=2 shows for it; the
#    runtime records how long they have waited, and so do we;
#  - -o writes a profile `go tool pprof -top` opens, with the leaking function;
#  - a 100,000-goroutine fixture (newest release): the count is right;
#  - the targets run on (they answer another SIGUSR1); bad input gives one line and
#    exit non-zero.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp

MODES=(ticker:100 http:20 timeout:100 wg:50 churn:2 pool:8)
# The function each leak mode leaks goroutines from (top of the largest group).
declare -A LEAKFN=([ticker]=main.tickerWorker [http]='net/http.(*persistConn).' \
	[timeout]=main.queryWithTimeout.func1 [wg]=main.waitForAll)

if [ "$(id -u)" != 0 ]; then
	skip "goroutines: needs root (reads /proc/PID/mem)"
	finish
fi

cat > "$tmp/cmp.py" << 'EOF'
# usage: cmp.py MODE DUMP LEAKHOUND_JSON LEAKHOUND_TEXT WHAT
# Compares leakhound's snapshot with the fixture's own runtime/pprof dump; prints
# PASS/FAIL lines and exits 1 on any FAIL.
import json, re, sys

mode, dump, js, txt, what = sys.argv[1:6]
snap = json.load(open(js))
num = int(open(dump + ".num").read())
d1 = open(dump + ".debug1").read()
d2 = open(dump + ".debug2").read()
bad = 0

def res(ok, msg, detail=()):
    global bad
    print(("PASS " if ok else "FAIL ") + what + ": " + msg)
    if not ok:
        bad += 1
        for l in detail:
            print("  " + l)

# 1. the count, as runtime.NumGoroutine counts
user = snap["counts"]["user"]
tol = 40 if mode == "churn" else 0
c = snap["counts"]
res(abs(user - num) <= tol and c["unreadable"] == 0,
    "%d user goroutines, NumGoroutine %d%s; %d system, %d torn, %d unreadable" %
    (user, num, " (±%d)" % tol if tol else "", c["system"], c["torn"], c["unreadable"]))
if mode in ("churn", "pool"):
    sys.exit(1 if bad else 0)

# 2. the largest group against pprof debug=1's largest group
def d1_groups(text):
    groups = []
    for block in text.split("\n\n"):
        m = re.search(r"^(\d+) @", block, re.M)
        if not m:
            continue
        fns = [l.split("\t")[2].rsplit("+", 1)[0] for l in block.splitlines()
               if l.startswith("#\t0x") and len(l.split("\t")) >= 4]
        groups.append((int(m.group(1)), fns))
    return groups

def largest(groups):
    # the groups of the largest count (several when they tie), in a fixed order
    top = groups[0][0] if groups else 0
    return sorted(g for g in groups if g[0] == top)

theirs = largest(d1_groups(d1))
ours = largest(d1_groups(open(txt).read().split("goroutine profile:", 1)[1]))
res(bool(theirs) and theirs == ours,
    "largest group%s %s x%d match%s pprof debug=1" %
    ("s" if len(ours) > 1 else "", "; ".join(g[1][0] for g in ours if g[1]),
     ours[0][0] if ours else 0, "" if len(ours) > 1 else "es"),
    ["pprof:     %s" % (theirs,), "leakhound: %s" % (ours,)])

# 3. parked goroutines against debug=2
def d2_goroutines(text):
    out = {}
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        m = lines and re.match(r"goroutine (\d+) \[([^\]]*)\]:", lines[0])
        if not m:
            continue
        state = re.sub(r", \d+ minutes?$", "", m.group(2))
        state = re.sub(r", locked to thread$", "", state)
        fns, creator, parent = [], None, None
        for l in lines[1:]:
            if l.startswith("\t") or l.startswith("..."):
                continue
            cm = re.match(r"created by (\S+)(?: in goroutine (\d+))?", l)
            if cm:
                creator, parent = cm.group(1), cm.group(2) and int(cm.group(2))
                continue
            fns.append(re.sub(r"\([^()]*\)$", "", l))
        out[int(m.group(1))] = (state, fns, creator, parent)
    return out

def visible(fns):
    # frames the runtime's default traceback shows (GOTRACEBACK=single): no
    # unexported runtime frames; wrappers both sides elide
    return [f for f in fns if not (f.startswith("runtime.") and not re.match(r"runtime\.[A-Z]", f))]

d2g = d2_goroutines(d2)
mine = {g["id"]: g for g in snap.get("goroutines", [])}
n = nsys = 0
errs = []
waited = 0
for goid, (state, fns, creator, parent) in sorted(d2g.items()):
    if state in ("running", "runnable") or goid not in mine:
        continue
    g = mine[goid]
    n += 1
    nsys += state == "syscall"
    ofns = [f["function"] for f in g["stack"]]
    ocreator = g["created_by"]["function"] if g["created_by"] else None
    why = []
    if g["state"] != state:
        why.append("state %r, runtime %r" % (g["state"], state))
    if ocreator != creator:
        why.append("created by %r, runtime %r" % (ocreator, creator))
    if parent is not None and g["parent_id"] != parent:
        why.append("parent %r, runtime %r" % (g["parent_id"], parent))
    vt, vo = visible(fns), visible(ofns)
    if not vt or vt != vo:
        why.append("stack %s, runtime %s" % (vo, vt))
    # (the signal loop, in a syscall, ran for the dump: no wait time again yet)
    if g["wait_seconds"] is not None or state == "syscall":
        waited += 1
    if why:
        errs.append("goroutine %d: %s" % (goid, "; ".join(why)))
res(n >= 10 and nsys >= 1 and not errs,
    "%d parked goroutines (%d in a syscall): state, created by, parent and stack match "
    "debug=2" % (n, nsys),
    errs[:8])
res(waited == n, "%d of %d parked goroutines have a wait time" % (waited, n))
sys.exit(1 if bad else 0)
EOF

# Waits for "ready PID" in a fixture's output; prints the pid.
wait_ready() { # outfile
	for _ in $(seq 300); do
		if grep -q '^ready ' "$1" 2> /dev/null; then
			awk '/^ready /{ print $2; exit }' "$1"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Sends SIGUSR1 and waits for the dump's .num file (written last).
dump_now() { # pid dump
	rm -f "$2.num"
	kill -USR1 "$1" || return 1
	for _ in $(seq 100); do [ -s "$2.num" ] && return 0; sleep 0.05; done
	return 1
}

# One fixture binary in one mode: ground truth, snapshot, comparison.
run_mode() { # binary what mode n
	local bin=$1 what="$2 $3" mode=$3 n=$4 d="$tmp/${2// /-}-$3" pid
	"$bin" -mode "$mode" -n "$n" -dump "$d" -duration 5m > "$d.out" 2>&1 &
	echo $! > "$d.pid"
	if ! pid=$(wait_ready "$d.out"); then
		echo "FAIL $what: fixture not ready: $(head -3 "$d.out")"
		return
	fi
	if ! dump_now "$pid" "$d"; then
		echo "FAIL $what: no dump from the fixture"
		return
	fi
	if ! "$LEAKHOUND" goroutines -p "$pid" --all --json > "$d.json" 2> "$d.err" ||
		! "$LEAKHOUND" goroutines -p "$pid" > "$d.txt" 2>> "$d.err"; then
		echo "FAIL $what: leakhound goroutines failed: $(head -3 "$d.err")"
		return
	fi
	python3 "$tmp/cmp.py" "$mode" "$d" "$d.json" "$d.txt" "$what" 2>&1
	if [ -n "${LEAKFN[$mode]:-}" ]; then
		check_pprof "$pid" "$d" "$what" "${LEAKFN[$mode]}"
	fi
	[ "$mode" = churn ] && check_churn "$pid" "$d" "$what" "$n"
	# still running, and still itself: it answers another dump
	if dump_now "$pid" "$d"; then
		echo "PASS $what: the target runs on and answers"
	else
		echo "FAIL $what: the target does not answer after the snapshot"
	fi
}

# Goroutines come and go while we read: 20 snapshots in a row all complete, lose no
# g to an unreadable pointer, and count what the churn allows (its loops, main, the
# signal loop, and up to 16 short-lived goroutines per loop).
check_churn() { # pid dump what loops
	local i bad=0 max=$(($4 * 17 + 2))
	for i in $(seq 20); do
		if ! "$LEAKHOUND" goroutines -p "$1" --all --json > "$2.c.json" 2> "$2.c.err" ||
			! python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))["counts"]
sys.exit(0 if c["unreadable"] == 0 and int(sys.argv[2]) <= c["user"] <= int(sys.argv[3]) else 1)' \
				"$2.c.json" "$(($4 + 2))" "$max"; then
			bad=$((bad + 1))
			head -3 "$2.c.err"
		fi
	done
	if [ "$bad" = 0 ]; then
		echo "PASS $3: 20 snapshots while goroutines churn, all complete and in bounds"
	else
		echo "FAIL $3: $bad of 20 snapshots while goroutines churn failed or out of bounds"
	fi
}

# -o: a profile go tool pprof opens, whose heaviest frame is the leaking function.
check_pprof() { # pid dump what leakfn
	local gocmd
	gocmd=$(go_for "$(fixtures | awk -F'\t' 'NR == 1 { print $2 }')")
	if ! "$LEAKHOUND" goroutines -p "$1" -o "$2.pb.gz" > /dev/null 2> "$2.perr"; then
		echo "FAIL $3: -o failed: $(head -3 "$2.perr")"
		return
	fi
	$gocmd tool pprof -top "$2.pb.gz" > "$2.top" 2>&1
	if grep -q 'Type: goroutine' "$2.top" && grep -qF "$4" "$2.top"; then
		echo "PASS $3: go tool pprof opens the -o profile and shows $4"
	else
		echo "FAIL $3: go tool pprof -top on the -o profile"
		head -15 "$2.top" | sed 's/^/  /'
	fi
}

run_binary() { # binary what
	local spec
	for spec in "${MODES[@]}"; do
		run_mode "$1" "$2" "${spec%%:*}" "${spec#*:}" > "$tmp/${2// /-}-${spec%%:*}.log" &
	done
	wait
	cat "$tmp/${2// /-}"-*.log
	for f in "$tmp/${2// /-}"-*.pid; do kill "$(cat "$f")" 2> /dev/null; done
}

n=0
while IFS=$'\t' read -r path rel fixture variant; do
	[ "$fixture" = goroutines ] || continue
	[ -x "$path" ] || { fail "$rel $variant: fixture $path missing"; continue; }
	run_binary "$path" "$rel $variant" > "$tmp/run.log" 2>&1
	cat "$tmp/run.log"
	failures=$((failures + $(grep -c '^FAIL ' "$tmp/run.log")))
	n=$((n + 1))
done < <(fixtures)
[ "$n" -gt 0 ] || fail "goroutines: no goroutines fixtures in $FIXTURES/manifest.tsv"

# 100,000 parked goroutines (newest release): the snapshot completes and is right.
big=$(fixtures | awk -F'\t' '$3 == "goroutines" && $4 == "default" { p = $1 } END { print p }')
if [ -n "$big" ]; then
	d=$tmp/big
	"$big" -mode ticker -n 100000 -dump "$d" -duration 5m > "$d.out" 2>&1 &
	pids+=($!)
	if pid=$(wait_ready "$d.out") && dump_now "$pid" "$d" &&
		"$LEAKHOUND" goroutines -p "$pid" --json > "$d.json" 2> "$d.err"; then
		got=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["counts"]
print(c["user"], c["torn"] + c["unreadable"], json.load(open(sys.argv[1]))["snapshot_ms"])' "$d.json")
		read -r user lost ms <<< "$got"
		if [ "$user" = "$(cat "$d.num")" ] && [ "$lost" = 0 ]; then
			pass "100k: $user user goroutines == NumGoroutine, none lost (${ms} ms)"
		else
			fail "100k: $user user goroutines (lost $lost), NumGoroutine $(cat "$d.num")"
		fi
	else
		fail "100k: no snapshot: $(head -3 "$d.err" "$d.out" 2> /dev/null)"
	fi
	kill "${pids[-1]}" 2> /dev/null
fi

# Bad input: one line on stderr, nothing on stdout, non-zero exit.
bad_input() { # what args...
	local what=$1 rc
	shift
	"$LEAKHOUND" goroutines "$@" > "$tmp/bad.out" 2> "$tmp/bad.err"
	rc=$?
	if [ "$rc" -ne 0 ] && [ ! -s "$tmp/bad.out" ] && [ "$(wc -l < "$tmp/bad.err")" = 1 ]; then
		pass "bad input: $what: exit $rc, '$(cat "$tmp/bad.err")'"
	else
		fail "bad input: $what: exit $rc, stdout $(wc -c < "$tmp/bad.out") bytes"
		head -3 "$tmp/bad.err" | sed 's/^/  /'
	fi
}
true &
gone=$!
wait $gone
bad_input "no such pid" -p "$gone"
sleep 30 &
pids+=($!)
bad_input "not a Go process" -p "$!"
bad_input "pid 1 (not Go)" -p 1
bad_input "no -p" --all
bad_input "bad pid" -p 12x
bad_input "unknown option" -p 1 --bogus
bad_input "extra argument" -p 1 extra
if "$LEAKHOUND" goroutines --help > "$tmp/help" 2>&1 && grep -q '^Usage: leakhound goroutines -p PID' "$tmp/help" &&
	grep -q -- '--all' "$tmp/help" && "$LEAKHOUND" --help | grep -q '^  goroutines '; then
	pass "goroutines --help explains, and leakhound --help lists the command"
else
	fail "goroutines --help"
fi
finish
