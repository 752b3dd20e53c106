#!/bin/bash
# run.sh - Broadside's test runner.
#
#   tests/run.sh BUILD_DIR...     e.g. tests/run.sh build build-asan
#
# For each build directory it runs every unit test program ($BUILD/tests/test_*)
# and every script test (tests/cli/*.sh, tests/e2e/*.sh and *.py) against the
# binaries of that build. Each test prints "ok - name" or "not ok - name"
# lines; a test program that dies without saying "not ok" counts as one
# failure. "ok - name # SKIP reason" is a check that could not run here (an
# optional external resource is missing): counted as skipped, its reason
# shown. It ends with the line "N passed, N failed, N skipped" and exits 1 on
# any failure.
#
# TESTS=pattern runs only the tests whose file name matches the pattern.
# BROADSIDE_BOUNCE_CORPUS=dir: the external bounce corpus (default
# ../shared/bounce-corpus beside the repository); skipped when absent.
# FUZZ_SECONDS=N also runs the bounce fuzzers (build-fuzz/: the parser, and the
# parser with bounce_apply) for N seconds each.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
passed=0; failed=0; skipped=0; failures=()
export BROADSIDE_BOUNCE_CORPUS=${BROADSIDE_BOUNCE_CORPUS:-${BOUNCE_CORPUS:-}}
if [ -z "$BROADSIDE_BOUNCE_CORPUS" ]; then
	# The default place: only passed on when it is there, so that a test
	# tells "absent, skipped" from "named and missing, failed".
	unset BROADSIDE_BOUNCE_CORPUS
	[ -d "$top/../shared/bounce-corpus" ] &&
		export BROADSIDE_BOUNCE_CORPUS="$(cd "$top/../shared/bounce-corpus" && pwd)"
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp:print_suppressions=0}

run_one() {	# label command...
	local label=$1; shift
	local out rc p f s last=
	out=$(mktemp)
	"$@" >"$out" 2>&1 </dev/null
	rc=$?
	s=$(grep -cE '^ok .*# *SKIP' "$out")
	p=$(($(grep -c '^ok ' "$out") - s))
	f=$(grep -c '^not ok ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# Died without a verdict (a traceback, a sanitizer, a setup
		# step): its last words are what a reader needs.
		last=$(tail -n 15 "$out")
		echo "not ok - $label exited $rc" >>"$out"
		f=1
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	if [ "$f" -gt 0 ]; then
		echo "FAIL $label ($p passed, $f failed)"
		grep -E '^(not ok|#)' "$out" | head -40 | sed 's/^/    /'
		[ -z "${last:-}" ] || printf '%s\n' "$last" | sed 's/^/    | /'
		grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out" | head -5 | sed 's/^/    /'
		failures+=("$label")
	elif [ "$s" -gt 0 ]; then
		echo "pass $label ($p, $s skipped)"
		grep -E '^ok .*# *SKIP' "$out" | head -5 | sed 's/^ok [0-9]* *- */    skip: /'
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
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
