#!/bin/sh
# Replays the committed fuzz corpora through the targets built by make
# check (no libFuzzer needed): a crash or sanitizer report fails the test.
set -e
b=${top_builddir:-.}
s=${top_srcdir:-.}
status=0
for t in address header config reply dns sasl queue smtp smtpd; do
	if ! "$b/tests/fuzz/replay_$t" "$s/tests/fuzz/corpus/$t"; then
		echo "replay_$t failed" >&2
		status=1
	fi
done
exit $status
