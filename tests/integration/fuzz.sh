#!/usr/bin/env bash
# A bounded libFuzzer run (ASan + UBSan) of every fuzz target, seeded with the fixtures,
# the saved regression inputs and (fuzz_gomem) the memory of live fixtures. The long runs
# are `make fuzz`; this catches regressions. 40 s a target: with 8 targets the whole script
# takes about 6 minutes on 2 cores, the instrumented build included (docs/FUZZING.md).
. "$(dirname "$0")/../lib.sh"

seconds=${LEAKHOUND_FUZZ_SECONDS:-40}
if ! make -s fuzz-build OUTPUT="$OUTPUT" > "$OUTPUT/fuzz-build.log" 2>&1; then
	fail "building the fuzz targets: $(tail -n 5 "$OUTPUT/fuzz-build.log")"
	finish
fi
for f in "$OUTPUT"/fuzz/fuzz_*; do
	[ -x "$f" ] && [ -f "$f" ] || continue
	name=$(basename "$f")
	# a fixed seed: the same mutations of the same seeds from run to run of CI
	if OUTPUT=$OUTPUT LEAKHOUND_FUZZ_SEED=${LEAKHOUND_FUZZ_SEED:-1} tests/fuzz/run.sh "$f" \
		"$seconds" > "$OUTPUT/fuzz/$name.log" 2>&1; then
		runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$OUTPUT/fuzz/$name.log")
		pass "$name: ${runs:-?} inputs in ${seconds}s without a crash, leak or hang"
	else
		fail "$name: $(grep -m1 -E 'ERROR|SUMMARY' "$OUTPUT/fuzz/$name.log")"
		tail -n 30 "$OUTPUT/fuzz/$name.log"
	fi
done
finish
