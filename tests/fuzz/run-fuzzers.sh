#!/bin/sh
# Build the fuzz targets with clang's libFuzzer, ASan and UBSan, and run
# each for SECONDS (default 600) on its committed corpus, adding what it
# finds to the corpus directory. Usage: tests/fuzz/run-fuzzers.sh [SECONDS] [TARGET...]
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-"address header config"}
out=${FUZZ_OUT:-$top/tests/fuzz/build}
mkdir -p "$out"
cc=${CLANG:-clang}
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
inc="-I$top/src -I$top/compat -I${FUZZ_CONFIG_DIR:-$top}"
libs="$(pkg-config --cflags --libs gnutls libidn2 libbsd) -lresolv"
for t in $targets; do
	case $t in
	address) src="src/rfc5322.c src/util.c" ;;
	header) src="src/intake.c src/message.c src/rfc5322.c src/util.c" ;;
	config) src="src/config.c src/secret.c src/util.c" ;;
	*) src=$(sed -n 's/^\/\* fuzz-sources: \(.*\) \*\/$/\1/p' "$top/tests/fuzz/fuzz_$t.c") ;;
	esac
	srcs=""
	for f in $src; do srcs="$srcs $top/$f"; done
	$cc $flags -DHAVE_LIBBSD -D_GNU_SOURCE $inc \
	    -o "$out/fuzz_$t" "$top/tests/fuzz/fuzz_$t.c" $srcs $libs
	mkdir -p "$top/tests/fuzz/corpus/$t"
	"$out/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$out/" \
	    -max_len=65536 "$top/tests/fuzz/corpus/$t" 2>&1 | tail -n 5
done
