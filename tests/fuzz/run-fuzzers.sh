#!/bin/sh
# The libFuzzer side of tests/fuzz/ (make fuzz, make fuzz-run, .ci/run).
# Every tests/fuzz/fuzz_NAME.c is a target NAME, linked with the sources
# its "fuzz-sources:" line names and built with clang's libFuzzer, ASan
# and UBSan: that line and the file's name are the only list.
#
#   run-fuzzers.sh list                     print the targets
#   run-fuzzers.sh build [TARGET...]        build them into $FUZZ_OUT
#   run-fuzzers.sh run SECONDS [TARGET...]  build, then run each SECONDS
#
# run starts from the committed corpus tests/fuzz/corpus/NAME and writes
# the inputs it finds to $FUZZ_OUT/corpus/NAME, so the tree stays clean
# (FUZZ_MERGE=1: into the committed corpus instead). It prints each
# target's executions and coverage; a crash, leak, sanitizer report,
# time-out or memory blow-up makes it print the input's path (kept in
# $FUZZ_OUT/artifacts/NAME/) and exit 1, after running the other targets.
#
# Environment: FUZZ_OUT (default tests/fuzz/build), CLANG (clang),
# FUZZ_CONFIG_DIR (where autoconf.h is: the top build directory; default
# the source tree), FUZZ_FLAGS (more libFuzzer options).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
fuzzdir=$top/tests/fuzz
out=${FUZZ_OUT:-$fuzzdir/build}

usage() {
	echo "usage: $0 list | build [TARGET...] | run SECONDS [TARGET...]" >&2
	exit 2
}

all_targets() {
	for f in "$fuzzdir"/fuzz_*.c; do
		f=${f##*/fuzz_}
		echo "${f%.c}"
	done
}

# The sources a target links with, from its fuzz-sources line.
sources() {
	s=$(sed -n 's|^/\* fuzz-sources: \(.*\) \*/$|\1|p' "$fuzzdir/fuzz_$1.c")
	if [ -z "$s" ]; then
		echo "$fuzzdir/fuzz_$1.c: no fuzz-sources line" >&2
		return 1
	fi
	for f in $s; do
		printf '%s ' "$top/$f"
	done
}

build() {
	cc=${CLANG:-clang}
	flags="-g -O1 -fno-omit-frame-pointer
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
	inc="-I$top/src -I$top/compat -I${FUZZ_CONFIG_DIR:-$top}"
	libs="$(pkg-config --cflags --libs gnutls libidn2 libbsd) -lresolv"
	mkdir -p "$out"
	for t in "$@"; do
		if [ ! -f "$fuzzdir/fuzz_$t.c" ]; then
			echo "no fuzz target $t" >&2
			exit 2
		fi
		echo "  CLANG    fuzz_$t"
		# shellcheck disable=SC2046,SC2086
		$cc $flags -DHAVE_LIBBSD -D_GNU_SOURCE $inc -o "$out/fuzz_$t" \
		    "$fuzzdir/fuzz_$t.c" $(sources "$t") $libs
	done
}

# One target for secs seconds; 1 when it stopped on a finding.
run_one() {
	t=$1 secs=$2
	scratch=$out/corpus/$t art=$out/artifacts/$t log=$out/$t.log
	mkdir -p "$scratch" "$art" "$fuzzdir/corpus/$t"
	set -- "$scratch" "$fuzzdir/corpus/$t"
	[ "${FUZZ_MERGE:-0}" = 1 ] && set -- "$fuzzdir/corpus/$t"
	# shellcheck disable=SC2086
	if "$out/fuzz_$t" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix="$art/" ${FUZZ_FLAGS:-} "$@" >"$log" 2>&1; then
		rc=0
	else
		rc=1
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	printf '%-8s %s executions; %s\n' "$t" "${execs:-?}" \
	    "$(echo "$last" | grep -oE '(cov|ft|corp): [^ ]+' | tr '\n' ' ')"
	[ "$rc" = 0 ] && return 0
	grep -E 'ERROR|SUMMARY|runtime error|Test unit written|^Base64' "$log" |
	    head -n 20 >&2 || true
	found=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
	echo "fuzz_$t FAILED: input ${found:-(none written)}, log $log" >&2
	return 1
}

[ $# -gt 0 ] || usage
cmd=$1
shift
case $cmd in
list)
	all_targets
	;;
build)
	# shellcheck disable=SC2046
	[ $# -gt 0 ] || set -- $(all_targets)
	build "$@"
	;;
run)
	[ $# -gt 0 ] || usage
	secs=$1
	shift
	# shellcheck disable=SC2046
	[ $# -gt 0 ] || set -- $(all_targets)
	build "$@"
	status=0
	for t in "$@"; do
		run_one "$t" "$secs" || status=1
	done
	exit $status
	;;
*)
	usage
	;;
esac
