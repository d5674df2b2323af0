#!/usr/bin/env bash
# fuzz.sh FUZZTIME [REGEXP]: run every Go fuzz target of the module in turn,
# each for FUZZTIME (a go test -fuzztime value: 10m, 30s, 100000x).
#
# Targets are found by looking for `func FuzzXxx(` in *_test.go files, so a
# new target is picked up without editing this script. REGEXP, when given,
# keeps only the targets whose name matches it (grep -E).
#
# A crash makes go test write the failing input to the package's
# testdata/fuzz/FuzzXxx/ directory: commit it with the fix, and `go test`
# (which runs every seed corpus as ordinary tests) keeps it fixed.
#
# FUZZ_PARALLEL sets go test -parallel (default 1, so that two fuzzers can
# share a 2-core machine); FUZZ_LOGDIR keeps each target's output there.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
fuzztime=${1:-1m}
only=${2:-.}
parallel=${FUZZ_PARALLEL:-1}
logdir=${FUZZ_LOGDIR:-}
GO=${GO:-go}

# "pkgdir name" per target, sorted for a stable order.
targets=$(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]+\(' . |
	grep -v '/testdata/' |
	sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#\1 \2#; s#^\./[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#. \1#' |
	sort -u | awk -v re="$only" '$2 ~ re')
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz target matches ${only}" >&2
	exit 2
fi

failed=()
while read -r dir name; do
	[ -n "$name" ] || continue
	echo "=== ${name} (./${dir}) for ${fuzztime}"
	cmd=("$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "$parallel" "./${dir}")
	if [ -n "$logdir" ]; then
		mkdir -p "$logdir"
		"${cmd[@]}" >"${logdir}/${name}.log" 2>&1
		status=$?
		grep -Ev '^fuzz: elapsed' "${logdir}/${name}.log"
		grep -E '^fuzz: elapsed' "${logdir}/${name}.log" | tail -n 1 | sed 's/^fuzz: /last progress: /'
	else
		"${cmd[@]}"
		status=$?
	fi
	if [ "$status" -ne 0 ]; then
		failed+=("${dir}:${name}")
	fi
done <<<"$targets"

if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz.sh: failed: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz.sh: every target ran ${fuzztime} without a failure"
