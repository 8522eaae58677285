#!/bin/sh
# The rule make install and make uninstall follow for mail and mailx
# (scripts/link-mxsend.sh; SPEC §1, §2.1): the link is made, and made
# again quietly; another program of that name is never replaced unless
# REPLACE is yes, and the message says how; uninstall removes mxsend's
# own links only, dangling ones included.
set -eu
s=${top_srcdir:-.}
link="$s/scripts/link-mxsend.sh"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/sbin" "$t/bin"
printf '#!/bin/sh\n' >"$t/sbin/mxsend"
target=/usr/sbin/mxsend

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

run() {
	sh "$link" "$1" "$t/bin" "$2" "$target" "$t/sbin/mxsend" ${3:+"$3"}
}

run install mail || fail "install mail"
[ "$(readlink "$t/bin/mail")" = "$target" ] || fail "mail is no link"
run install mail || fail "installing over mxsend's own link"
[ "$(readlink "$t/bin/mail")" = "$target" ] || fail "mail lost"

printf 'bsd-mailx\n' >"$t/bin/mailx"
if run install mailx 2>"$t/err"; then
	fail "another mailx replaced"
fi
grep -q "$t/bin/mailx exists and is not mxsend" "$t/err" ||
    fail "no message naming $t/bin/mailx: $(cat "$t/err")"
grep -q "REPLACE_MAILX=yes" "$t/err" || fail "no word on REPLACE_MAILX"
[ "$(cat "$t/bin/mailx")" = bsd-mailx ] || fail "mailx changed"
run uninstall mailx || fail "uninstall mailx"
[ "$(cat "$t/bin/mailx")" = bsd-mailx ] || fail "uninstall removed mailx"

ln -s /usr/bin/s-nail "$t/bin/snail"
if run install snail 2>/dev/null; then
	fail "a link to another program replaced"
fi
[ "$(readlink "$t/bin/snail")" = /usr/bin/s-nail ] || fail "snail changed"

ln "$t/sbin/mxsend" "$t/bin/hard"
run install hard || fail "a hard link of mxsend is mxsend"
[ "$(readlink "$t/bin/hard")" = "$target" ] || fail "hard not linked"

run install mailx yes >/dev/null || fail "REPLACE yes"
[ "$(readlink "$t/bin/mailx")" = "$target" ] || fail "mailx not replaced"

rm "$t/sbin/mxsend"
run uninstall mail || fail "uninstall mail"
[ ! -e "$t/bin/mail" ] && [ ! -L "$t/bin/mail" ] || fail "mail left"
run uninstall snail || fail "uninstall snail"
[ -L "$t/bin/snail" ] || fail "uninstall removed another program's link"
echo "link-mxsend.sh: ok"
