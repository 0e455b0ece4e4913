#!/usr/bin/env bash
# Runs the CI test suite and ends with the failures, repeated, and one line:
# "N passed, N failed".
# usage: tests/run.sh [unit|integration]...
# Unit tests are the programs built from tests/unit/*.c; integration tests are
# tests/integration/*.sh, run against fixtures built first by tests/fixtures/build.sh.
# Each test prints "PASS ..." / "FAIL ..." lines; a test that dies without
# printing a verdict counts as one failure.
set -uo pipefail

export OUTPUT=${OUTPUT:-build}
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(unit integration)
passed=0
failed=0
failures=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_one() { # name command...
	local name=$1
	shift
	echo "== $name"
	"$@" > "$log" 2>&1
	local rc=$?
	cat "$log"
	local p f line
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	while IFS= read -r line; do
		failures+=("$name: $line")
	done < <(grep '^FAIL ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name exited with status $rc"
		failures+=("$name: exited with status $rc")
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

for kind in "${kinds[@]}"; do
	case $kind in
	unit)
		for t in "$OUTPUT"/tests/*; do
			[ -x "$t" ] && [ -f "$t" ] || continue
			run_one "unit/$(basename "$t")" "$t"
		done
		;;
	integration)
		echo "== building fixtures"
		if ! tests/fixtures/build.sh "$OUTPUT/fixtures"; then
			echo "FAIL building fixtures"
			failures+=("fixtures: FAIL building fixtures")
			failed=$((failed + 1))
		fi
		for t in tests/integration/*.sh; do
			[ -f "$t" ] || continue
			run_one "integration/$(basename "$t" .sh)" bash "$t"
		done
		;;
	esac
done
# The failures again at the end, where a truncated log still shows them.
if [ ${#failures[@]} -gt 0 ]; then
	echo "== failures"
	printf '%s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
