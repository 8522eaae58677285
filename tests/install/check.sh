#!/bin/sh
# make check: make install and make uninstall into scratch DESTDIRs, as an
# administrator would run them (SPEC §1, §4, §7; issue 18 item 2):
#  - every path, mode and link target: the program, the man pages, the
#    example configuration (never over an existing one; removed by
#    uninstall only when unchanged), the queue directory (1733, root's
#    when installed by root), the systemd units and the cron example
#    naming the installed program;
#  - SENDMAIL_LINKS=yes: sendmail in sbindir and sendmail_libdir, mailq
#    and newaliases in bindir, all relative links to mxsend;
#  - a sendmail (file or link) that is not mxsend stops the install,
#    naming it, and nothing is changed; FORCE_SENDMAIL_LINKS=yes keeps it
#    as NAME.mxsend-saved and make uninstall puts it back;
#  - make uninstall removes only links to mxsend and leaves nothing of
#    ours behind.
# Needs top_builddir and top_srcdir (make check sets them).
set -u
: "${top_builddir:?}" "${top_srcdir:?}"
# The test runs make itself, serially, whatever make check was given.
unset MAKEFLAGS MFLAGS MAKELEVEL
make=${MAKE:-make}
mk() {
	"$make" -C "$top_builddir" --no-print-directory "$@"
}
paths=$(mk -s print-install-paths) || { echo "no install paths"; exit 1; }
eval "$paths"

t=$(mktemp -d "${TMPDIR:-/tmp}/mxsend-install.XXXXXX") || exit 1
trap 'rm -rf "$t"' EXIT
trap 'exit 1' INT TERM
fail=0
root=no
[ "$(id -u)" = 0 ] && root=yes

bad() {
	echo "FAIL: $*"
	fail=1
}

# inst NAME ARGS...: make ARGS with its output in $t/NAME.log; the status.
inst() {
	name=$1
	shift
	mk "$@" >"$t/$name.log" 2>&1
	rc=$?
	return $rc
}

must() {
	name=$1
	shift
	inst "$name" "$@" || { bad "make $* failed:"; cat "$t/$name.log"; }
}

# mode PATH: its permission bits in octal.
mode() {
	stat -c %a "$1" 2>/dev/null
}

# is_link PATH [TEXT]: PATH is a relative symbolic link (whose text is
# TEXT) that reaches the installed mxsend ($prog when set), followed
# inside the DESTDIR.
is_link() {
	if [ ! -h "$1" ]; then
		bad "$1 is not a symbolic link"
		return
	fi
	got=$(readlink "$1")
	[ $# = 1 ] || [ "$got" = "$2" ] || bad "$1 -> $got, want $2"
	case $got in
	/*) bad "$1 -> $got is not relative" ;;
	esac
	[ "$(cd "$(dirname "$1")" && cd "$(dirname "$got")" 2>/dev/null &&
	    pwd -P)/$(basename "$got")" -ef "${prog:-$D$sbindir/mxsend}" ] ||
	    bad "$1 does not reach ${prog:-$D$sbindir/mxsend}"
}

# leftovers DIR: every file, link and queue directory left in DIR.
leftovers() {
	left=$(cd "$1" && find . \( -type f -o -type l \) -print; \
	    [ -d ".$QUEUE_DIR" ] && echo ".$QUEUE_DIR")
	[ -z "$left" ] || bad "make uninstall left in $1: $left"
}

# ---------------------------------------------------------------- plain
D=$t/plain
must plain install DESTDIR="$D" SENDMAIL_LINKS=no
[ -f "$D$sbindir/mxsend" ] || bad "no $D$sbindir/mxsend"
[ "$(mode "$D$sbindir/mxsend")" = 755 ] ||
	bad "$sbindir/mxsend mode $(mode "$D$sbindir/mxsend"), want 755"
[ -f "$D$mandir/man8/mxsend.8" ] || bad "no $mandir/man8/mxsend.8"
[ -f "$D$mandir/man5/mxsend.conf.5" ] || bad "no $mandir/man5/mxsend.conf.5"
for n in "$sbindir/sendmail" "$sendmail_libdir/sendmail" "$bindir/mailq" \
    "$bindir/newaliases" "$mandir/man8/sendmail.8" "$mandir/man1/mailq.1" \
    "$mandir/man8/newaliases.8"; do
	[ -e "$D$n" ] || [ -h "$D$n" ] && bad "$n installed without links"
done
conf=$D$sysconfdir/mxsend.conf
cmp -s "$conf" "$top_srcdir/contrib/mxsend.conf" ||
	bad "$sysconfdir/mxsend.conf is not the example"
[ "$(mode "$conf")" = 644 ] || bad "mxsend.conf mode $(mode "$conf")"
cmp -s "$D$exampledir/mxsend.conf" "$top_srcdir/contrib/mxsend.conf" ||
	bad "no example in $exampledir"
q=$D$QUEUE_DIR
[ "$(mode "$q")" = 1733 ] || bad "$QUEUE_DIR mode $(mode "$q"), want 1733"
if [ $root = yes ]; then
	[ "$(stat -c %u:%g "$q")" = 0:0 ] ||
		bad "$QUEUE_DIR owned by $(stat -c %u:%g "$q"), want 0:0"
fi
# The installed program reads the example (all comments) as no setting.
MXSEND_CONFIG=$conf "$D$sbindir/mxsend" --config-check >"$t/cc" 2>"$t/cc.err" ||
	bad "--config-check of the example: $(cat "$t/cc" "$t/cc.err")"
grep -q "^# configuration file: $conf\$" "$t/cc" ||
	bad "--config-check does not name $conf: $(head -n 2 "$t/cc")"
# Every key --config-check prints is in the example, and the example
# with every "#key value" line set is a valid configuration.
for key in $(grep -v '^#' "$t/cc" | cut -d' ' -f1); do
	grep -q "\\<$key\\>" "$conf" || bad "the example lacks $key"
done
sed -n 's/^#\([a-z_][a-z_]* \)/\1/p' "$conf" >"$t/all.conf"
[ -s "$t/all.conf" ] || bad "the example shows no key"
MXSEND_CONFIG=$t/all.conf "$D$sbindir/mxsend" --config-check \
    >"$t/cc" 2>&1 || bad "the example's settings: $(cat "$t/cc")"
cron=$D$exampledir/mxsend.cron
grep -q "$sbindir/mxsend -q" "$cron" || bad "$cron does not run mxsend -q"
if [ -n "$systemdsystemunitdir" ]; then
	u=$D$systemdsystemunitdir/mxsend-queue
	grep -q "^ExecStart=$sbindir/mxsend -q\$" "$u.service" ||
		bad "$u.service does not run $sbindir/mxsend -q"
	grep -q '^WantedBy=timers.target' "$u.timer" || bad "no $u.timer"
fi
# Installing again changes nothing and keeps a changed configuration.
echo "mx_port 2525" >>"$conf"
must again install DESTDIR="$D" SENDMAIL_LINKS=no
grep -q '^mx_port 2525$' "$conf" || bad "make install replaced mxsend.conf"
grep -q "mxsend.conf exists: kept" "$t/again.log" ||
	bad "make install did not say it kept mxsend.conf"
must unplain uninstall DESTDIR="$D"
[ -f "$conf" ] || bad "make uninstall removed a changed mxsend.conf"
grep -q "mxsend.conf.*kept" "$t/unplain.log" ||
	bad "make uninstall did not say it kept mxsend.conf"
rm -f "$conf"
leftovers "$D"

# ------------------------------------------- an unchanged example goes
D=$t/unchanged
must unchanged install DESTDIR="$D"
must ununchanged uninstall DESTDIR="$D"
[ -e "$D$sysconfdir/mxsend.conf" ] && bad "unchanged mxsend.conf kept"
leftovers "$D"

# ---------------------------------------------------------------- links
D=$t/links
# The pages of the names are links to mxsend(8); another's page is kept.
mkdir -p "$D$mandir/man8"
echo '.TH NEWALIASES 8' >"$D$mandir/man8/newaliases.8"
must links install DESTDIR="$D" SENDMAIL_LINKS=yes
is_link "$D$sbindir/sendmail" mxsend
is_link "$D$sendmail_libdir/sendmail"
is_link "$D$bindir/mailq"
is_link "$D$bindir/newaliases"
[ "$(readlink "$D$mandir/man8/sendmail.8")" = mxsend.8 ] ||
	bad "$mandir/man8/sendmail.8 is not a link to mxsend.8"
[ "$(readlink "$D$mandir/man1/mailq.1")" = ../man8/mxsend.8 ] ||
	bad "$mandir/man1/mailq.1 is not a link to ../man8/mxsend.8"
grep -qs NEWALIASES "$D$mandir/man8/newaliases.8" ||
	bad "make install replaced another newaliases.8"
grep -q "newaliases.8 exists and is not mxsend's: kept" "$t/links.log" ||
	bad "make install did not say it kept newaliases.8"
rm "$D$mandir/man8/newaliases.8"
"$D$sbindir/sendmail" --version 2>&1 | grep -q '^mxsend ' ||
	bad "$sbindir/sendmail --version is not mxsend's"
# Again: our own links are replaced, nothing is saved; a link that
# reaches mxsend through another is ours too.
rm "$D$sendmail_libdir/sendmail"
ln -s "$D$sbindir/sendmail" "$D$sendmail_libdir/sendmail"
must links2 install DESTDIR="$D" SENDMAIL_LINKS=yes
is_link "$D$sendmail_libdir/sendmail"
saved=$(cd "$D" && find . -name '*.mxsend-saved')
[ -z "$saved" ] || bad "reinstalling saved our own links: $saved"
must unlinks uninstall DESTDIR="$D"
leftovers "$D"

# -------------------------------------- a foreign sendmail stops it
D=$t/foreign
mkdir -p "$D$sbindir" "$D$sendmail_libdir"
printf '#!/bin/sh\necho postfix\n' >"$D$sbindir/sendmail"
ln -s ../sbin/sendmail.postfix "$D$sendmail_libdir/sendmail"
if inst foreign install DESTDIR="$D" SENDMAIL_LINKS=yes; then
	bad "make install replaced a foreign sendmail"
fi
for n in "$sbindir/sendmail" "$sendmail_libdir/sendmail"; do
	grep -q "$D$n exists and is not mxsend" "$t/foreign.log" ||
		bad "the refusal does not name $n: $(cat "$t/foreign.log")"
done
grep -q FORCE_SENDMAIL_LINKS=yes "$t/foreign.log" ||
	bad "the refusal does not say how to force it"
[ "$(cat "$D$sbindir/sendmail")" = "$(printf '#!/bin/sh\necho postfix')" ] ||
	bad "the foreign sendmail changed"
[ "$(readlink "$D$sendmail_libdir/sendmail")" = ../sbin/sendmail.postfix ] ||
	bad "the foreign /usr/lib/sendmail changed"
for n in "$bindir/mailq" "$bindir/newaliases"; do
	[ -h "$D$n" ] && bad "$n installed although the install stopped"
done

# ------------------------- forced: kept aside, put back by uninstall
must forced install DESTDIR="$D" SENDMAIL_LINKS=yes FORCE_SENDMAIL_LINKS=yes
is_link "$D$sbindir/sendmail" mxsend
is_link "$D$sendmail_libdir/sendmail"
grep -q postfix "$D$sbindir/sendmail.mxsend-saved" ||
	bad "the foreign sendmail was not kept as sendmail.mxsend-saved"
[ "$(readlink "$D$sendmail_libdir/sendmail.mxsend-saved")" = \
    ../sbin/sendmail.postfix ] || bad "the foreign link was not kept"
# A second forced install keeps the first saved copy.
must forced2 install DESTDIR="$D" SENDMAIL_LINKS=yes FORCE_SENDMAIL_LINKS=yes
grep -q postfix "$D$sbindir/sendmail.mxsend-saved" ||
	bad "a second install lost sendmail.mxsend-saved"
must unforced uninstall DESTDIR="$D"
if [ -h "$D$sbindir/sendmail" ] || ! grep -qs postfix "$D$sbindir/sendmail"
then
	bad "make uninstall did not restore the foreign sendmail"
fi
[ "$(readlink "$D$sendmail_libdir/sendmail")" = ../sbin/sendmail.postfix ] ||
	bad "make uninstall did not restore the foreign link"
rm -f "$D$sbindir/sendmail" "$D$sendmail_libdir/sendmail"
leftovers "$D"

# ------------------- uninstall leaves a sendmail installed after ours
D=$t/after
must after install DESTDIR="$D" SENDMAIL_LINKS=yes
rm -f "$D$sbindir/sendmail"
printf 'exim\n' >"$D$sbindir/sendmail"
must unafter uninstall DESTDIR="$D"
[ "$(cat "$D$sbindir/sendmail" 2>/dev/null)" = exim ] ||
	bad "make uninstall removed a sendmail that is not mxsend"
rm -f "$D$sbindir/sendmail"
leftovers "$D"

# ------------------------------------------------------ another prefix
# prefix and sysconfdir given to make install are honoured; the man
# page then names the configuration file and queue actually installed.
D=$t/prefix
must prefix install DESTDIR="$D" prefix=/opt/mx sysconfdir=/opt/mx/etc \
    QUEUE_DIR=/opt/mx/queue SENDMAIL_LINKS=yes
[ -x "$D/opt/mx/sbin/mxsend" ] || bad "prefix=/opt/mx: no /opt/mx/sbin/mxsend"
[ -f "$D/opt/mx/etc/mxsend.conf" ] ||
	bad "sysconfdir: no /opt/mx/etc/mxsend.conf"
[ "$(mode "$D/opt/mx/queue")" = 1733 ] || bad "QUEUE_DIR: no /opt/mx/queue"
prog=$D/opt/mx/sbin/mxsend
is_link "$D/opt/mx/bin/mailq" ../sbin/mxsend
is_link "$D/usr/lib/sendmail" ../../opt/mx/sbin/mxsend
man=$D/opt/mx/share/man/man8/mxsend.8
grep -q '/opt/mx/etc/mxsend\.conf' "$man" ||
	bad "the man page does not name /opt/mx/etc/mxsend.conf"
grep -q '/opt/mx/queue' "$man" || bad "the man page does not name the queue"
for man in "$man" "$D/opt/mx/share/man/man5/mxsend.conf.5"; do
	grep -q '/opt/mx/etc/mxsend\.conf' "$man" ||
		bad "$man does not name /opt/mx/etc/mxsend.conf"
	sed 's|/opt/mx/etc/mxsend\.conf||g' "$man" |
	    grep -q '/etc/mxsend\.conf\|/var/spool/mxsend' &&
		bad "$man still names /etc/mxsend.conf or /var/spool/mxsend"
done
must unprefix uninstall DESTDIR="$D" prefix=/opt/mx sysconfdir=/opt/mx/etc \
    QUEUE_DIR=/opt/mx/queue
[ -e "$D/opt/mx/queue" ] && bad "make uninstall left the empty queue"
leftovers "$D"

# The program built here reads the configured file, and says so.
MXSEND_CONFIG='' "$top_builddir/src/mxsend" --config-check >"$t/cc" 2>"$t/cc.err"
if [ -e "$sysconfdir/mxsend.conf" ]; then
	want="# configuration file: $sysconfdir/mxsend.conf"
else
	want="# configuration file: $sysconfdir/mxsend.conf not found:"
fi
head -n 1 "$t/cc" | grep -qF "$want" ||
	bad "--config-check: want '$want', got '$(head -n 1 "$t/cc")'"

[ $fail = 0 ] && echo "install: every check passed"
exit $fail
