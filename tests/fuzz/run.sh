#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on a corpus seeded with real Go
# binaries (the test fixtures, if built) and any saved regression inputs; fuzz_gomem's
# with the memory of live Go processes.
# usage: tests/fuzz/run.sh FUZZER SECONDS
set -euo pipefail
fuzzer=$1
seconds=${2:-60}
OUTPUT=${OUTPUT:-build}
name=$(basename "$fuzzer")
corpus=$OUTPUT/fuzz/corpus-$name
mkdir -p "$corpus"
# seeds: small real binaries; libFuzzer mutates them (kept to -max_len)
if [ -f "$OUTPUT/fixtures/manifest.tsv" ]; then
	while read -r bin _; do cp -n "$bin" "$corpus/" 2>/dev/null || true; done < "$OUTPUT/fixtures/manifest.tsv"
fi
if [ "$name" = fuzz_gobin ]; then
	# a C library: the allocator's functions and their probe sites (callocs)
	libc=$(ldd "$fuzzer" | awk '$1 ~ /^libc\.so/ { print $3 }')
	[ -f "$libc" ] && cp -n "$libc" "$corpus/" 2> /dev/null
fi
if [ "$name" = fuzz_gomem ]; then
	# a real Go binary for symbols and offsets, and its memory recorded from live
	# processes as seeds (tests/fuzz/fuzz_gomem.c)
	gobin=${LEAKHOUND_FUZZ_GOBIN:-}
	if [ -z "$gobin" ] && [ -f "$OUTPUT/fixtures/manifest.tsv" ]; then
		gobin=$(awk -F'\t' '$3 == "goroutines" && $4 == "default" { print $1; exit }' \
			"$OUTPUT/fixtures/manifest.tsv")
	fi
	if [ -z "$gobin" ]; then
		gobin=$(pwd)/$OUTPUT/fuzz/goroutines-fixture
		(cd tests/fixtures/goroutines && CGO_ENABLED=0 GOFLAGS=-mod=mod \
			"${GO:-go}" build -o "$gobin" .)
	fi
	export LEAKHOUND_FUZZ_GOBIN=$gobin
	for mode in http wg; do
		out=$OUTPUT/fuzz/gomem-$mode.out
		"$gobin" -mode "$mode" -n 20 -duration 60s > "$out" 2>&1 &
		fix=$!
		for _ in $(seq 100); do
			grep -q '^ready' "$out" && break
			sleep 0.1
		done
		LEAKHOUND_FUZZ_RECORD=$fix:$corpus/seed-live-$mode "$fuzzer" ||
			echo "fuzz_gomem: no seed recorded from the $mode fixture" >&2
		kill "$fix" 2> /dev/null
		wait "$fix" 2> /dev/null || true
	done
fi
regress=tests/fuzz/regressions/$name
[ -d "$regress" ] && cp -n "$regress"/* "$corpus/" 2>/dev/null || true
# LEAKHOUND_FUZZ_SEED: the same mutations run after run (CI); unset, a new seed each time
"$fuzzer" -max_total_time="$seconds" -max_len=8388608 -timeout=20 -rss_limit_mb=4096 \
	${LEAKHOUND_FUZZ_SEED:+-seed="$LEAKHOUND_FUZZ_SEED"} \
	-artifact_prefix="$OUTPUT/fuzz/$name-" -print_final_stats=1 "$corpus"
