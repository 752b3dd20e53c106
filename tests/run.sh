#!/bin/bash
# run.sh - Broadside's test runner.
#
#   tests/run.sh BUILD_DIR...     e.g. tests/run.sh build build-asan
#
# For each build directory it runs every unit test program ($BUILD/tests/test_*)
# and every script test (tests/cli/*.sh, tests/e2e/*.sh and *.py) against the
# binaries of that build. Each test prints "ok - name" or "not ok - name"
# lines; a test program that dies without saying "not ok" counts as one
# failure. It ends with the line "N passed, N failed" and exits 1 on any failure.
#
# TESTS=pattern runs only the tests whose file name matches the pattern.
# FUZZ_SECONDS=N also runs the bounce fuzzers (build-fuzz/: the parser, and the
# parser with bounce_apply) for N seconds each.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
passed=0; failed=0; failures=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp:print_suppressions=0}

run_one() {	# label command...
	local label=$1; shift
	local out rc p f
	out=$(mktemp)
	"$@" >"$out" 2>&1 </dev/null
	rc=$?
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $label exited $rc" >>"$out"
		f=1
	fi
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$f" -gt 0 ]; then
		echo "FAIL $label ($p passed, $f failed)"
		grep -E '^(not ok|#)' "$out" | head -40 | sed 's/^/    /'
		grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out" | head -5 | sed 's/^/    /'
		failures+=("$label")
	else
		echo "pass $label ($p)"
	fi
	rm -f "$out"
}

[ $# -gt 0 ] || set -- build
for b in "$@"; do
	export BROADSIDE_BUILD="$top/$b"
	echo "== $b"
	for t in "$b"/tests/test_*; do
		[ -x "$t" ] || continue
		case "$(basename "$t")" in *${TESTS:-}*) ;; *) continue ;; esac
		run_one "$b: $(basename "$t")" "$t"
	done
	for t in tests/cli/*.sh tests/e2e/*.sh tests/e2e/*.py tests/render/*.py; do
		[ -f "$t" ] || continue
		case "$(basename "$t")" in *${TESTS:-}*) ;; *) continue ;; esac
		case "$t" in
		*.py) run_one "$b: $t" /usr/bin/python3 "$t" ;;
		*) run_one "$b: $t" bash "$t" ;;
		esac
	done
done
# The bounce parser's fuzzer, briefly, when `make test` built it and asked.
if [ -n "${FUZZ_SECONDS:-}" ] && [ -x build-fuzz/fuzz_bounce ]; then
	echo "== fuzz"
	run_one "fuzz_bounce ${FUZZ_SECONDS}s" tests/fuzz/run.sh "$top/build-fuzz/fuzz_bounce" "$FUZZ_SECONDS"
fi
if [ -n "${FUZZ_SECONDS:-}" ] && [ -x build-fuzz/fuzz_apply ]; then
	run_one "fuzz_apply ${FUZZ_SECONDS}s" tests/fuzz/run.sh "$top/build-fuzz/fuzz_apply" "$FUZZ_SECONDS"
fi
echo
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
