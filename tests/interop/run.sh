#!/bin/sh
# run.sh: the interop tests (make check-interop). Runs clients.sh,
# servers.sh and exim-dkim.sh (Exim verifies mxsend's DKIM signatures),
# each at most INTEROP_TIMEOUT seconds (default 120), then prints the
# compatibility table (Markdown, for the README) and a last line
# "interop: N passed, N failed, N skipped". Exit 1 when a check
# failed or none ran. The peers come from fetch.sh (a check whose peer
# is missing is skipped, saying so).
set -u
: "${top_builddir:?top_builddir must be set}"
: "${top_srcdir:?top_srcdir must be set}"
here=$top_srcdir/tests/interop
limit=${INTEROP_TIMEOUT:-120}
RESULTS=$(mktemp "${TMPDIR:-/tmp}/mxsend-interop-results.XXXXXX")
export RESULTS top_builddir top_srcdir
trap 'rm -f "$RESULTS"' EXIT

for s in clients servers exim-dkim; do
	t0=$(date +%s)
	timeout -k 5 "$limit" sh "$here/$s.sh"
	st=$?
	echo "interop: $s.sh took $(( $(date +%s) - t0 )) s (status $st)" >&2
	if [ "$st" -ne 0 ]; then
		printf '%s\t-\tfail\t%s\n' "$s.sh" "ended with status $st \
(124: over $limit s)" >>"$RESULTS"
	fi
done

# XOAUTH2 and OAUTHBEARER against Dovecot's submission service.
t0=$(date +%s)
timeout -k 5 "$limit" sh "$here/dovecot-oauth2.sh" "$top_builddir" >&2
st=$?
echo "interop: dovecot-oauth2.sh took $(( $(date +%s) - t0 )) s" \
    "(status $st)" >&2
what="XOAUTH2 and OAUTHBEARER (4 KB JWT), expired token queued"
case $st in
0)	printf 'Dovecot submission (OAuth2)\t%s\tpass\t%s\n' \
	    "$(dovecot --version | cut -d' ' -f1)" "$what" >>"$RESULTS" ;;
77)	printf 'Dovecot submission (OAuth2)\t-\tskip\t%s\n' \
	    "dovecot-submissiond not installed" >>"$RESULTS" ;;
*)	printf 'Dovecot submission (OAuth2)\t-\tfail\t%s\n' \
	    "ended with status $st" >>"$RESULTS" ;;
esac

echo
echo "| peer | version | result | what was checked |"
echo "|---|---|---|---|"
awk -F '\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' \
    "$RESULTS"
pass=$(awk -F '\t' '$3 == "pass"' "$RESULTS" | wc -l)
fail=$(awk -F '\t' '$3 == "fail"' "$RESULTS" | wc -l)
skip=$(awk -F '\t' '$3 == "skip"' "$RESULTS" | wc -l)
echo
echo "interop: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
