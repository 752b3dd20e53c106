#!/bin/bash
# run.sh - run a bounce fuzzer (fuzz_bounce: the parser; fuzz_apply: the
# parser and bounce_apply): tests/fuzz/run.sh BINARY SECONDS
# Seeds: the project's own bounces (tests/fixtures/bounces), the external
# peer corpus when it is there ($BROADSIDE_BOUNCE_CORPUS/emails, default
# ../shared/bounce-corpus beside the repository), and the findings kept in
# build-fuzz/corpus. Prints "ok - ..." or "not ok - ..." and exits non-zero
# on a crash, a leak or a timeout (the reproducer is kept in build-fuzz/).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$1 secs=${2:-60}
own=$top/tests/fixtures/bounces
corpus=${BROADSIDE_BOUNCE_CORPUS:-${BOUNCE_CORPUS:-$top/../shared/bounce-corpus}}
name=$(basename "$bin")
work=$top/build-fuzz/corpus
[ "$name" = fuzz_bounce ] || work=$work-$name
mkdir -p "$work"
ls "$own"/*.eml >/dev/null 2>&1 || { echo "not ok - $name: no seeds in $own"; exit 1; }
seeds=("$own")
if [ -d "$corpus/emails" ]; then
	seeds+=("$corpus/emails")
	from="$(ls "$own" | wc -l) own seeds + $(ls "$corpus/emails" | wc -l) of the peer corpus"
else
	from="$(ls "$own" | wc -l) own seeds; peer corpus absent ($corpus)"
fi
log=$top/build-fuzz/fuzz.log
[ "$name" = fuzz_bounce ] || log=$top/build-fuzz/$name.log
cd "$top/build-fuzz" || exit 1
"$bin" -max_total_time="$secs" -max_len=131072 -timeout=20 -rss_limit_mb=2048 \
	-print_final_stats=1 "$work" "${seeds[@]}" >"$log" 2>&1
rc=$?
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
if [ $rc -eq 0 ]; then
	echo "ok - $name: ${runs:-?} inputs in ${secs}s, no crash ($from)"
else
	echo "not ok - $name: exit $rc (see $log)"
	grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/#   /'
fi
exit $rc
