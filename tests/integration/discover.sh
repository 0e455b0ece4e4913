#!/usr/bin/env bash
# The daemon's discovery (src/discover.c) through tests/drivers/discover-watch, on real
# processes: Go fixtures of the newest release and of go1.19 (default and stripped builds)
# started before the driver are found by the scan, with the release that built them
# (the manifest's) and their /proc/PID/stat start time; started after it, by exec records;
# sleep and python3 are not Go; a fixture in its own PID and mount namespaces (unshare) is
# found by its host PID with its own namespace inodes and NSpid 1; exits (SIGTERM,
# SIGKILL, its own) end the image reported; a Go program that execs another Go program
# ends one image and starts another, PID and start time unchanged; 200 processes of one
# binary cost one parse; a filter excludes; nothing stays loaded after the driver.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

setup_tmp
need_root discover
# verdict WHAT: PASS or FAIL by the status of the command list just before
verdict() { if [ $? = 0 ]; then pass "$1"; else fail "$1"; fi; }
DRIVER=$OUTPUT/tests/drivers/discover-watch
if [ ! -x "$DRIVER" ] || ! command -v bpftool > /dev/null || ! command -v unshare > /dev/null; then
	fail "discover: needs $DRIVER (make $DRIVER), bpftool and unshare"
	finish
fi

# Fixtures: name -> path and release (the release from the manifest is the ground truth)
declare -A bin rel
newest=
while IFS=$'\t' read -r path r fixture variant; do
	case $r in go1.19*) key=old ;; *) [ -z "$newest" ] && newest=$r; [ "$r" = "$newest" ] || continue; key=new ;; esac
	case $fixture:$variant in
	basic:default | basic:stripped | leaky:default | leaky:stripped | execer:default)
		bin[$key-$fixture-$variant]=$path
		rel[$key-$fixture-$variant]=$r
		;;
	esac
done < <(fixtures)
for k in new-basic-default new-basic-stripped new-leaky-default new-execer-default \
	old-basic-default old-leaky-stripped; do
	if [ -z "${bin[$k]:-}" ]; then
		fail "discover: fixture $k not in $FIXTURES/manifest.tsv (tests/fixtures/build.sh)"
		finish
	fi
done

# run KEY: starts fixture KEY in the background, idle enough; sets pid
run() {
	local k=$1
	case $k in
	*leaky*) "${bin[$k]}" -rate 1024 -churn 0 -duration 120s > /dev/null 2>&1 & ;;
	*basic*) "${bin[$k]}" -leak 0 -g 1 -d 120s > /dev/null 2>&1 & ;;
	esac
	pid=$!
	pids+=("$pid")
}
start_of() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2> /dev/null; }
# wait_line FILE REGEX: up to 10 s for a line; prints it
wait_line() {
	local l
	for _ in $(seq 100); do
		l=$(grep -m1 -E "$2" "$1") && { echo "$l"; return 0; }
		sleep 0.1
	done
	return 1
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< "$1"; }
# disc_ids PID: ids of the lh_disc_* programs that process holds a file descriptor of
disc_ids() {
	local ids
	ids=$(bpftool prog show 2> /dev/null | awk -F: '/ name lh_disc_/ { print $1 }')
	for id in $(grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2> /dev/null | awk '{ print $2 }' | sort -u); do
		grep -qx "$id" <<< "$ids" && echo "$id"
	done
}
# gone IDS...: up to 10 s for those programs to be unloaded (freed after a grace period)
gone() {
	local left
	for _ in $(seq 100); do
		left=0
		for id in "$@"; do bpftool prog show id "$id" > /dev/null 2>&1 && left=1; done
		[ $left = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

host_pidns=$(stat -L -c %i /proc/self/ns/pid)
host_mntns=$(stat -L -c %i /proc/self/ns/mnt)

# ---- before the driver ----
declare -A before
for k in new-basic-default new-basic-stripped new-leaky-default old-basic-default old-leaky-stripped; do
	run "$k"
	before[$k]=$pid
done
# a release leakhound does not support: the newest build with its version strings (build
# info and runtime.buildVersion) patched, same length, to go1.99.x; it runs the same
future_rel=$(perl -e 'print substr("go1.99.9999999", 0, length($ARGV[0]))' "$newest")
perl -pe "s/\Q$newest\E/$future_rel/g" "${bin[new-basic-default]}" > "$tmp/future"
chmod +x "$tmp/future"
"$tmp/future" -leak 0 -d 120s > /dev/null 2>&1 &
future_pid=$!
pids+=("$future_pid")
sleep 300 &
sleep_pid=$!
pids+=("$sleep_pid")
python3 -c 'import time; time.sleep(300)' &
py_pid=$!
pids+=("$py_pid")
"${bin[new-execer-default]}" -usr1 "${bin[new-basic-default]}" -leak 0 -d 120s > /dev/null 2>&1 &
ex1=$!
pids+=("$ex1")
unshare --pid --mount --fork --kill-child "${bin[new-basic-stripped]}" -leak 0 -d 120s > /dev/null 2>&1 &
pids+=("$!")
ns_outer=$!
sleep 0.5

out=$tmp/watch.out
"$DRIVER" --all > "$out" 2> "$tmp/watch.err" &
drv=$!
pids+=("$drv")
if ! wait_line "$out" '^scan-done' > /dev/null; then
	fail "discover: the driver did not finish its scan: $(head -c 300 "$tmp/watch.err")"
	finish
fi
ids=$(disc_ids "$drv")
check "discover: the driver holds its two tracepoint programs ($(echo $ids))" [ "$(echo $ids | wc -w)" = 2 ]

for k in "${!before[@]}"; do
	p=${before[$k]}
	l=$(grep -m1 "^scan pid=$p " "$out")
	{ [ "$(field "$l" verdict)" = go ] && [ "$(field "$l" go)" = "${rel[$k]}" ]; }
	verdict "discover: scan finds $k (pid $p) as ${rel[$k]}"
	{ [ -n "$l" ] && [ "$(field "$l" start)" = "$(start_of "$p")" ]; }
	verdict "discover: scan gives $k the start time of /proc/$p/stat"
done
l=$(grep -m1 "^scan pid=$future_pid " "$out")
{ [ "$(field "$l" verdict)" = go-unsupported ] && [ "$(field "$l" go)" = "$future_rel" ] &&
	[ "$(field "$l" supported)" = 0 ]; }
verdict "discover: a Go program of release $future_rel is reported as unsupported"
for p in $sleep_pid $py_pid; do
	l=$(grep -m1 "^scan pid=$p " "$out")
	check "discover: $(field "$l" exe) (pid $p) is not Go" [ "$(field "$l" verdict)" = not-go ]
done
# the namespaced fixture: unshare forks it, its child execs the Go program
ns_pid=$(cat "/proc/$ns_outer/task/$ns_outer/children" 2> /dev/null | awk '{ print $1 }')
# unshare --fork ignores SIGTERM while it waits: its child is the one to kill
pids+=(${ns_pid:+"$ns_pid"})
l=$(grep -m1 "^scan pid=${ns_pid:-x} " "$out")
{ [ "$(field "$l" verdict)" = go ] && [ "$(field "$l" nspid)" = 1 ]; }
verdict "discover: scan finds the fixture in its own PID namespace by its host PID $ns_pid"
{ [ -n "$l" ] && [ "$(field "$l" pidns)" = "$(stat -L -c %i "/proc/$ns_pid/ns/pid")" ] &&
	[ "$(field "$l" pidns)" != "$host_pidns" ] && [ "$(field "$l" mntns)" != "$host_mntns" ]; }
verdict "discover: its PID and mount namespace inodes are its own"
check "discover: scan reports the host's PID namespace for a host process" \
	grep -q "^scan pid=${before[new-basic-default]} .* pidns=$host_pidns " "$out"
l=$("$DRIVER" --inspect "${before[old-basic-default]}" 2> /dev/null)
check "discover: one process inspected on its own" \
	[ "$(field "$l" go)" = "${rel[old-basic-default]}" ]
"$DRIVER" --inspect 999999999 > /dev/null 2> "$tmp/inspect.err"
{ [ $? = 1 ] && [ "$(wc -l < "$tmp/inspect.err")" = 1 ]; }
verdict "discover: inspecting no process: status 1, one error line"
l=$(grep -m1 "^scan pid=$ex1 " "$out")
ex1_image=$(field "$l" image)
check "discover: scan finds the execer before its exec" [ "$(field "$l" verdict)" = go ]

# ---- after the driver ----
declare -A after
for k in new-basic-default new-basic-stripped new-leaky-default old-basic-default old-leaky-stripped; do
	run "$k"
	after[$k]=$pid
done
unshare --pid --mount --fork --kill-child "${bin[new-leaky-default]}" -rate 1024 -churn 0 -duration 120s \
	> /dev/null 2>&1 &
pids+=("$!")
ns_outer2=$!
"${bin[new-execer-default]}" -after 1s "${bin[old-basic-default]}" -leak 0 -d 120s > /dev/null 2>&1 &
ex2=$!
pids+=("$ex2")
"${bin[new-basic-default]}" -leak 0 -d 1s > /dev/null 2>&1 &
short=$!
pids+=("$short")
t0=$(date +%s%N)
declare -A image
for k in "${!after[@]}"; do
	p=${after[$k]}
	l=$(wait_line "$out" "^exec pid=$p ")
	{ [ "$(field "$l" verdict)" = go ] && [ "$(field "$l" go)" = "${rel[$k]}" ]; }
	verdict "discover: exec record finds $k (pid $p) as ${rel[$k]}"
	{ [ -n "$l" ] && [ "$(field "$l" start)" = "$(start_of "$p")" ]; }
	verdict "discover: exec record of $k has the start time of /proc/$p/stat"
	image[$k]=$(field "$l" image)
done
echo "discover: exec records of 5 fixtures seen $((($(date +%s%N) - t0) / 1000000)) ms after they were started (not asserted)"
ns_pid2=$(cat "/proc/$ns_outer2/task/$ns_outer2/children" 2> /dev/null | awk '{ print $1 }')
pids+=(${ns_pid2:+"$ns_pid2"})
l=$(wait_line "$out" "^exec pid=${ns_pid2:-x} .*verdict=go")
{ [ "$(field "$l" nspid)" = 1 ] && [ "$(field "$l" pidns)" != "$host_pidns" ] &&
	[ "$(field "$l" mntns)" != "$host_mntns" ] && [ "$(field "$l" go)" = "${rel[new-leaky-default]}" ]; }
verdict "discover: exec record of a fixture under unshare: host PID $ns_pid2, NSpid 1, own namespaces"

# exec of another Go program: EXIT of the old image, then EXEC of the new, same PID and start
exec_chain() { # what pid first-image new-exe new-release
	local what=$1 p=$2 first=$3 exe=$4 r=$5 lx le nx ne
	lx=$(wait_line "$out" "^exit pid=$p start=[0-9]* image=$first ")
	le=$(wait_line "$out" "^exec pid=$p .*exe=$exe\$")
	nx=$(grep -n -m1 "^exit pid=$p start=[0-9]* image=$first " "$out" | cut -d: -f1)
	ne=$(grep -n -m1 "^exec pid=$p .*exe=$exe\$" "$out" | cut -d: -f1)
	{ [ -n "$nx" ] && [ -n "$ne" ] && [ "${nx:-0}" -lt "${ne:-0}" ]; }
	verdict "discover: $what: the old image ends, then the new one is found"
	{ [ -n "$le" ] && [ "$(field "$lx" start)" = "$(field "$le" start)" ] &&
		[ "$(field "$le" start)" = "$(start_of "$p")" ] &&
		[ "$(field "$le" image)" != "$first" ] && [ "$(field "$le" go)" = "$r" ]; }
	verdict "discover: $what: same PID and start time, a new image, release $r"
}
l=$(wait_line "$out" "^exec pid=$ex2 ")
exec_chain "exec after exec record" "$ex2" "$(field "$l" image)" "${bin[old-basic-default]}" \
	"${rel[old-basic-default]}"
kill -USR1 "$ex1"
exec_chain "exec after the scan" "$ex1" "$ex1_image" "${bin[new-basic-default]}" \
	"${rel[new-basic-default]}"

# exits: SIGTERM, SIGKILL, its own end
kill -TERM "${after[new-basic-default]}"
kill -KILL "${after[old-leaky-stripped]}"
kill -KILL "${before[new-leaky-default]}"
for w in "SIGTERM ${after[new-basic-default]} ${image[new-basic-default]}" \
	"SIGKILL ${after[old-leaky-stripped]} ${image[old-leaky-stripped]}" \
	"SIGKILL(scanned) ${before[new-leaky-default]} $(field "$(grep -m1 "^scan pid=${before[new-leaky-default]} " "$out")" image)"; do
	read -r how p img <<< "$w"
	l=$(wait_line "$out" "^exit pid=$p ")
	{ [ -n "$img" ] && [ "$(field "$l" image)" = "$img" ]; }
	verdict "discover: $how: exit record of pid $p ends image $img"
done
l=$(wait_line "$out" "^exec pid=$short ")
img=$(field "$l" image)
l=$(wait_line "$out" "^exit pid=$short ")
{ [ -n "$img" ] && [ "$(field "$l" image)" = "$img" ]; }
verdict "discover: a fixture that ends by itself: exit of image $img"
! grep -q -E "^exit pid=($sleep_pid|$py_pid) " "$out"
verdict "discover: the non-Go processes get no exit while they live"

kill -TERM "$drv"
wait "$drv" 2> /dev/null
n=$(grep -c -E '^exit ' "$out")
u=$(grep -E '^exit ' "$out" | awk '{ print $4 }' | sort -u | wc -l)
check "discover: every image ends once ($n exits)" [ "$n" = "$u" ]
check "discover: the driver prints its stats on SIGTERM" grep -q '^stats ' "$out"
grep '^stats ' "$out" | sed 's/^/discover: /'
check "discover: its programs are gone after it exits" gone $ids

# ---- a rescan, as if every record had been lost ----
run new-basic-default
r_kill=$pid
"${bin[new-execer-default]}" -usr1 "${bin[old-leaky-stripped]}" -rate 1024 -churn 0 \
	-duration 120s > /dev/null 2>&1 &
r_ex=$!
pids+=("$r_ex")
out3=$tmp/watch3.out
"$DRIVER" --no-records > "$out3" 2> "$tmp/watch3.err" &
drv3=$!
pids+=("$drv3")
wait_line "$out3" '^scan-done' > /dev/null
img_kill=$(field "$(grep -m1 "^scan pid=$r_kill " "$out3")" image)
img_ex=$(field "$(grep -m1 "^scan pid=$r_ex " "$out3")" image)
kill -KILL "$r_kill"
wait "$r_kill" 2> /dev/null
kill -USR1 "$r_ex"
for _ in $(seq 100); do
	[ "$(readlink "/proc/$r_ex/exe")" = "${bin[old-leaky-stripped]}" ] && break
	sleep 0.1
done
run old-basic-default
r_new=$pid
kill -USR1 "$drv3"
wait_line "$out3" '^rescan-done' > /dev/null
l=$(grep -m1 "^exit pid=$r_kill " "$out3")
{ [ -n "$img_kill" ] && [ "$(field "$l" image)" = "$img_kill" ] &&
	[ "$(grep -c "^scan pid=$r_kill " "$out3")" = 1 ]; }
verdict "discover: rescan: a SIGKILLed process whose records were lost ends"
nx=$(grep -n -m1 "^exit pid=$r_ex start=[0-9]* image=$img_ex " "$out3" | cut -d: -f1)
l=$(grep "^scan pid=$r_ex " "$out3" | tail -1)
ne=$(grep -n "^scan pid=$r_ex " "$out3" | tail -1 | cut -d: -f1)
{ [ -n "$img_ex" ] && [ -n "$nx" ] && [ "${ne:-0}" -gt "$nx" ] &&
	[ "$(field "$l" go)" = "${rel[old-leaky-stripped]}" ] && [ "$(field "$l" image)" != "$img_ex" ]; }
verdict "discover: rescan: a process that ran another Go binary ends its image and is found again"
check "discover: rescan: a process started since is found" \
	grep -q "^scan pid=$r_new .*verdict=go go=${rel[old-basic-default]} " "$out3"
check "discover: rescan: an unchanged process is not reported again" \
	[ "$(grep -c "^scan pid=${before[new-basic-default]} " "$out3")" = 1 ]
kill -TERM "$drv3"
wait "$drv3" 2> /dev/null

# ---- 200 processes of one binary: one parse; non-Go not reported; a filter ----
cp "${bin[new-execer-default]}" "$tmp/many"
many=()
for _ in $(seq 200); do
	"$tmp/many" -usr1 /bin/true > /dev/null 2>&1 &
	many+=("$!")
	pids+=("$!")
done
# each prints ready once its runtime is up: wait until all 200 exist as Go processes
for _ in $(seq 100); do
	n=0
	for p in "${many[@]}"; do [ "$(readlink "/proc/$p/exe")" = "$tmp/many" ] && n=$((n + 1)); done
	[ "$n" = 200 ] && break
	sleep 0.1
done
out2=$tmp/watch2.out
"$DRIVER" --exclude-exe '*leaky*' > "$out2" 2> "$tmp/watch2.err" &
drv2=$!
pids+=("$drv2")
wait_line "$out2" '^scan-done' > /dev/null
ids2=$(disc_ids "$drv2")
found=$(grep -c "^scan .* exe=$tmp/many\$" "$out2")
parsed=$(grep -c "^scan .* parsed=1 .*exe=$tmp/many\$" "$out2")
{ [ "$found" = 200 ] && [ "$parsed" = 1 ]; }
verdict "discover: 200 processes of one binary: $found found, $parsed parse"
! grep -q -E "^scan pid=($sleep_pid|$py_pid) " "$out2"
verdict "discover: without --all, non-Go processes are not reported"
check "discover: --exclude-exe '*leaky*' excludes a leaky fixture" \
	grep -q "^scan pid=${after[new-leaky-default]} .*verdict=excluded" "$out2"
check "discover: ... and keeps a basic one" \
	grep -q "^scan pid=${before[new-basic-default]} .*verdict=go" "$out2"
kill -KILL "${many[@]}"
wait "${many[@]}" 2> /dev/null
for _ in $(seq 100); do
	[ "$(grep -c "^exit " "$out2")" -ge 200 ] && break
	sleep 0.1
done
n=$(for p in "${many[@]}"; do grep -m1 "^exit pid=$p " "$out2"; done | wc -l)
check "discover: 200 SIGKILLs, 200 exit records" [ "$n" = 200 ]
kill -TERM "$drv2"
wait "$drv2" 2> /dev/null
grep '^stats ' "$out2" | sed 's/^/discover: 200 processes: /'
check "discover: the second driver's programs are gone after it exits" gone $ids2
finish
