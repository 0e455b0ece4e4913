#!/usr/bin/env bash
# Snapshot time and memory of `leakhound goroutines` on the goroutines fixture with N
# parked goroutines (-mode ticker), for each N: RUNS snapshots, min/median/max of the
# snapshot itself (JSON snapshot_ms), the whole command's wall time and peak RSS, and
# the target's RSS. Numbers are printed, never asserted (docs/GOROUTINES.md).
# usage: scripts/bench-goroutines.sh [N...]   (default 10000 100000; RUNS=7; needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
OUTPUT=${OUTPUT:-build}
LEAKHOUND=${LEAKHOUND:-$OUTPUT/leakhound}
RUNS=${RUNS:-7}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000)
go=/usr/local/go/bin/go
[ -x "$go" ] || go=/usr/lib/go-1.19/bin/go
fx=$(mkdir -p "$OUTPUT/bench" && cd "$OUTPUT/bench" && pwd)/goroutines
(cd tests/fixtures/goroutines && CGO_ENABLED=0 GOFLAGS=-mod=mod "$go" build -o "$fx" .)
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2> /dev/null; rm -rf "$tmp"' EXIT

stats() { # decimals values... -> "min median max"
	local d=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v d="$d" '{ v[NR] = $1 } END {
		f = "%." d "f"; printf f " " f " " f, v[1], v[int((NR + 1) / 2)], v[NR] }'
}

echo "$($go version), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%10s  %-22s  %-22s  %12s  %10s\n' goroutines "snapshot ms (min/med/max)" \
	"command s (min/med/max)" "leakhound KB" "target KB"
for n in "${sizes[@]}"; do
	"$fx" -mode ticker -n "$n" > "$tmp/out" 2>&1 &
	pid=$!
	for _ in $(seq 600); do grep -q '^ready' "$tmp/out" && break; sleep 0.1; done
	snap=() wall=() rss=()
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %M' -o "$tmp/time" "$LEAKHOUND" goroutines -p "$pid" --json \
			> "$tmp/json"
		snap+=("$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["snapshot_ms"])' "$tmp/json")")
		read -r w m < "$tmp/time"
		wall+=("$w") rss+=("$m")
	done
	printf '%10s  %-22s  %-22s  %12s  %10s\n' "$n" "$(stats 1 "${snap[@]}")" \
		"$(stats 2 "${wall[@]}")" "$(stats 0 "${rss[@]}" | cut -d' ' -f3)" \
		"$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status")"
	kill "$pid"
	wait "$pid" 2> /dev/null || true
	pid=
done
