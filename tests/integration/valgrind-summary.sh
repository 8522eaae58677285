#!/bin/sh
# Adds up the memcheck logs of make check-valgrind (one per mxsend
# process, in the directory given) and prints one summary line. Fails
# when any run had an error or a definite or indirect leak, showing the
# first such logs. A run killed on purpose (test_queue's kill -9 loop, a
# time-out) leaves a log without a summary: only the errors it reported
# before count.
# shellcheck disable=SC2046 # lost() prints two words, split on purpose
set -eu
dir=$1
runs=0 killed=0 errors=0 bad=""
# The first line of each kind of memcheck error record.
records='^==[0-9]+== (Invalid |Conditional jump|Use of uninitialised|'
records="${records}Syscall param|Mismatched free|Source and destination|"
records="${records}Argument .* fishy)"
def=0 defb=0 ind=0 indb=0 pos=0 posb=0

# The bytes and blocks of "KIND lost: 1,234 bytes in 5 blocks".
lost() {
	sed -n "s/.*$1 lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\1 \2/p" \
	    "$2" | tr -d , | tail -n 1
}

for f in "$dir"/*.log; do
	[ -e "$f" ] || continue
	runs=$((runs + 1))
	e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$f" |
	    tr -d , | tail -n 1)
	if [ -z "$e" ]; then
		killed=$((killed + 1))
		# What it reported before it was killed still counts.
		if grep -qE "$records" "$f"; then
			errors=$((errors + 1))
			bad="$bad $f"
		fi
		continue
	fi
	errors=$((errors + e))
	set -- $(lost definitely "$f") 0 0
	def=$((def + $2)) defb=$((defb + $1))
	set -- $(lost indirectly "$f") 0 0
	ind=$((ind + $2)) indb=$((indb + $1))
	set -- $(lost possibly "$f") 0 0
	pos=$((pos + $2)) posb=$((posb + $1))
	[ "$e" -gt 0 ] && bad="$bad $f"
done
echo "valgrind: $runs runs of mxsend ($killed killed before their" \
    "summary); $errors errors; definitely lost $defb bytes in $def" \
    "blocks, indirectly lost $indb bytes in $ind blocks, possibly lost" \
    "$posb bytes in $pos blocks"
if [ "$runs" -eq 0 ]; then
	echo "valgrind: no run of mxsend was logged" >&2
	exit 1
fi
[ -z "$bad" ] && [ "$def" -eq 0 ] && [ "$ind" -eq 0 ] && exit 0
n=0
for f in $bad; do
	n=$((n + 1))
	[ $n -gt 5 ] && break
	echo "--- $f" >&2
	head -n 80 "$f" >&2
done
exit 1
