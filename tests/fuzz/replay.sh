#!/bin/sh
# Replays the committed fuzz corpora through the targets built by make
# check (no libFuzzer needed): a crash or sanitizer report fails the test.
# The targets are the tests/fuzz/fuzz_*.c files, so a target added without
# its replay program in Makefile.am fails here.
set -e
b=${top_builddir:-.}
s=${top_srcdir:-.}
status=0
for f in "$s"/tests/fuzz/fuzz_*.c; do
	t=${f##*/fuzz_}
	t=${t%.c}
	if ! "$b/tests/fuzz/replay_$t" "$s/tests/fuzz/corpus/$t"; then
		echo "replay_$t failed" >&2
		status=1
	fi
done
exit $status
