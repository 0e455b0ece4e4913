#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on a corpus seeded with real Go
# binaries (the test fixtures, if built) and any saved regression inputs.
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
regress=tests/fuzz/regressions/$name
[ -d "$regress" ] && cp -n "$regress"/* "$corpus/" 2>/dev/null || true
"$fuzzer" -max_total_time="$seconds" -max_len=8388608 -timeout=20 -rss_limit_mb=4096 \
	-artifact_prefix="$OUTPUT/fuzz/$name-" -print_final_stats=1 "$corpus"
