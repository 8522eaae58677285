#!/bin/sh
# check.sh TARBALL BUILDDIR: the Debian package, end to end (issue 18
# item 3; make check-deb). From the release tarball it builds the .deb
# with dpkg-buildpackage, runs lintian (an error fails), installs it with
# dpkg -i on this machine and checks what an administrator relies on:
# the names sendmail, mailq and newaliases and their man pages, the
# mailx alternative (mail and mailx, their pages), the conffiles, the queue
# (1733 root:root), the -q timer enabled; /usr/sbin/sendmail delivers to
# the project's fakesmtp on loopback (a relay in a configuration of the
# test's own), a user queues with -odq, mailq lists it, root's -q
# delivers it, newaliases reads aliases, and mailx -s reaches the relay
# when no other mail user agent holds the mailx alternative. dpkg --purge
# then leaves no file of the package, no alternative and no empty queue;
# installed again, a purge keeps a queue that still holds mail.
#
# Only on a machine it may change and restore: root, Debian, no mail
# transport agent installed, and none of the package's names or
# /etc/mxsend.conf present (otherwise it is skipped, exit 77, saying
# why). Whatever happens, the package is purged, the server stopped by
# its PID, and a /var/spool/mxsend that existed before put back.
# BUILDDIR holds tests/support/fakesmtp.
set -u
tarball=${1:?usage: $0 TARBALL BUILDDIR}
fakesmtp=${2:?usage: $0 TARBALL BUILDDIR}/tests/support/fakesmtp
queue=/var/spool/mxsend
names="/usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq
/usr/bin/newaliases /etc/mxsend.conf /etc/cron.d/mxsend"

skip() {
	echo "check-deb: skipped: $*"
	exit 77
}

[ "$(id -u)" = 0 ] || skip "dpkg -i needs root"
for c in dpkg-buildpackage dh lintian dpkg-query; do
	command -v $c >/dev/null 2>&1 ||
		skip "$c not found (apt-get install dpkg-dev debhelper lintian)"
done
[ -x "$fakesmtp" ] || skip "$fakesmtp not built"
# Never over another MTA: installing this one would remove it.
mta=$(dpkg-query -W -f '${Package}\t${Status}\t${Provides}\n' |
    awk -F '\t' '$2 !~ /(not-installed|config-files)$/ &&
	$3 ~ /(^|[ ,])mail-transport-agent([ ,(]|$)/ { print $1 }')
[ -z "$mta" ] ||
	skip "a mail transport agent is installed ($mta): not replaced"
case $(dpkg-query -W -f '${Status}' mxsend 2>/dev/null) in
"" | *not-installed | *config-files) ;;
*) skip "the package mxsend is installed already" ;;
esac
for n in $names; do
	[ -e "$n" ] || [ -h "$n" ] && skip "$n exists: not ours to replace"
done

t=$(mktemp -d "${TMPDIR:-/tmp}/mxsend-deb.XXXXXX") || exit 1
chmod 755 "$t"
pid=
installed=no
fail=0
# The queue as it was: its directories (mode owner group path), and the
# files in it, so that the test removes only what it queued.
before_dirs=$t/queue-dirs
before_files=$t/queue-files
find "$queue" -type d -printf '%m %u %g %p\n' >"$before_dirs" 2>/dev/null
find "$queue" -type f >"$before_files" 2>/dev/null
# The mailx alternative as it was: another mail user agent may hold it.
mailx_before=$(update-alternatives --query mailx 2>/dev/null |
    sed -n 's/^Value: //p')

# dpkg_run LOG ARGS...: dpkg ARGS, output in LOG, waiting while another
# dpkg or apt (another user of this machine) holds the lock: 5 min.
dpkg_run() {
	log=$1
	shift
	tries=0
	until timeout 300 dpkg "$@" >"$log" 2>&1; do
		grep -q 'lock.*by another process' "$log" || return 1
		tries=$((tries + 1))
		[ $tries -le 60 ] || return 1
		sleep 5
	done
}

stop_server() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	pid=
}

cleanup() {
	stop_server
	[ $installed = yes ] && dpkg_run "$t/cleanup.log" --purge mxsend
	# What the test queued goes; what was there before is put back,
	# with its mode and owner.
	find "$queue" -type f 2>/dev/null | grep -vxF -f "$before_files" |
	    while read -r f; do rm -f "$f"; done
	cut -d ' ' -f 4- "$before_dirs" >"$t/before-paths"
	find "$queue" -depth -type d -empty 2>/dev/null |
	    grep -vxF -f "$t/before-paths" | while read -r d; do
		rmdir "$d"
	done
	while read -r m u g d; do
		install -d -m "$m" -o "$u" -g "$g" "$d"
	done <"$before_dirs"
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

bad() {
	echo "FAIL: $*"
	fail=1
}

# die MESSAGE [LOG]: a failure after which nothing else can be checked.
die() {
	echo "FAIL: $1"
	[ $# -gt 1 ] && tail -n 40 "$2"
	exit 1
}

# ------------------------------------------------------------- build
tar -xzf "$tarball" -C "$t" || die "cannot extract $tarball"
src=$(find "$t" -mindepth 1 -maxdepth 1 -type d -name 'mxsend-*')
[ -f "$src/debian/control" ] || die "no debian/ in $tarball"
# The test suite already ran on this tree: the package's own run of it
# is MXSEND_DEB_TESTS=yes.
opts="parallel=2 ${DEB_BUILD_OPTIONS-}"
[ "${MXSEND_DEB_TESTS-}" = yes ] || opts="nocheck $opts"
echo "check-deb: dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=$opts)"
(cd "$src" && DEB_BUILD_OPTIONS=$opts timeout 1200 \
    dpkg-buildpackage -us -uc -b) >"$t/build.log" 2>&1 ||
	die "dpkg-buildpackage failed:" "$t/build.log"
deb=$(find "$t" -maxdepth 1 -name 'mxsend_*.deb')
[ -f "$deb" ] || die "no mxsend_*.deb built" "$t/build.log"
echo "check-deb: built $(basename "$deb"), $(stat -c %s "$deb") bytes"

echo "check-deb: lintian $(basename "$deb")"
timeout 300 lintian "$deb" >"$t/lintian" 2>&1
grep -v 'running with root privileges' "$t/lintian"
grep -q '^E: ' "$t/lintian" && bad "lintian reports errors"
echo "check-deb: files in the package:"
dpkg-deb -c "$deb" | awk '{ $1 = $2 = $3 = $4 = $5 = ""; print }' |
    sed 's/^ *\./   /'

# ----------------------------------------------------------- install
echo "check-deb: dpkg -i"
installed=yes
dpkg_run "$t/install.log" -i "$deb" ||
	die "dpkg -i failed" "$t/install.log"
dpkg-query -W -f '${Status}\n' mxsend | grep -q ' installed$' ||
	die "mxsend is not installed after dpkg -i" "$t/install.log"
dpkg -L mxsend >"$t/files"

for f in Provides Conflicts Replaces; do
	dpkg-query -W -f "\${$f}\n" mxsend | grep -q mail-transport-agent ||
		bad "$f does not name mail-transport-agent"
done
for n in /usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq \
    /usr/bin/newaliases; do
	[ -h "$n" ] && [ "$(readlink -f "$n")" = /usr/sbin/mxsend ] ||
		bad "$n is not a link to /usr/sbin/mxsend"
done
[ -f /usr/share/man/man8/mxsend.8.gz ] || bad "no mxsend(8)"
[ -f /usr/share/man/man5/mxsend.conf.5.gz ] || bad "no mxsend.conf(5)"
# man sendmail, mailq, newaliases: mxsend(8), through links (lintian's
# no-manual-page); whatis knows them once man-db's trigger has run
# (unless the system turned that off: no /var/lib/man-db/auto-update).
for p in man8/sendmail.8 man1/mailq.1 man8/newaliases.8; do
	[ "$(readlink -f "/usr/share/man/$p.gz")" = \
	    /usr/share/man/man8/mxsend.8.gz ] || bad "$p is not mxsend(8)"
	n=$(basename "$p" | cut -d . -f 1)
	[ "$(man -w "$n" 2>/dev/null)" = /usr/share/man/man8/mxsend.8.gz ] ||
		bad "man -w $n: $(man -w "$n" 2>&1)"
	if [ -e /var/lib/man-db/auto-update ]; then
		whatis "$n" 2>&1 | grep -q "deliver mail directly" ||
			bad "whatis $n: $(whatis "$n" 2>&1)"
	fi
done
# mailx: mxsend's alternative, at a priority below any mail user agent's.
update-alternatives --query mailx >"$t/alt" 2>&1
grep -A 1 -x 'Alternative: /usr/sbin/mxsend' "$t/alt" |
    grep -qx 'Priority: 10' ||
	bad "mxsend is not a mailx alternative of priority 10: $(cat "$t/alt")"
if [ -z "$mailx_before" ]; then
	for n in /usr/bin/mailx /usr/bin/mail; do
		[ "$(readlink -f "$n")" = /usr/sbin/mxsend ] ||
			bad "$n is not mxsend"
	done
	for p in mailx.1 mail.1; do
		[ "$(readlink -f "/usr/share/man/man1/$p.gz")" = \
		    /usr/share/man/man8/mxsend.8.gz ] || bad "$p is not mxsend(8)"
	done
else
	grep -qx "Value: $mailx_before" "$t/alt" ||
		bad "mxsend took mailx from $mailx_before"
fi
conffiles=$(dpkg-query -W -f '${Conffiles}\n' mxsend)
for c in /etc/mxsend.conf /etc/cron.d/mxsend; do
	echo "$conffiles" | grep -q " $c " || bad "$c is not a conffile"
done
grep -v '^#' /etc/mxsend.conf | grep -q . &&
	bad "/etc/mxsend.conf sets something"
grep -q '! -d /run/systemd/system' /etc/cron.d/mxsend ||
	bad "/etc/cron.d/mxsend also runs where systemd runs the timer"
[ "$(stat -c '%a %U %G' "$queue")" = "1733 root root" ] ||
	bad "$queue is $(stat -c '%a %U %G' "$queue"), want 1733 root root"
[ -f /lib/systemd/system/mxsend-queue.timer ] || bad "no timer unit"
[ -h /etc/systemd/system/timers.target.wants/mxsend-queue.timer ] ||
	bad "mxsend-queue.timer is not enabled"

# ------------------------------------------------------------ deliver
# start_server: fakesmtp on 127.0.0.1, recording in $t/rec; its port in
# $port once it says "ready" (5 s at most).
start_server() {
	"$fakesmtp" --listen 127.0.0.1:0 --record "$t/rec" --lifetime 120 \
	    >"$t/server.out" 2>&1 &
	pid=$!
	i=0
	until grep -q '^ready$' "$t/server.out" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 50 ] && die "fakesmtp did not start" "$t/server.out"
		sleep 0.1
	done
	port=$(awk '/^ready [0-9]/ { print $3; exit }' "$t/server.out")
	# The relay route only, to that server, in plain text; no syslog.
	printf 'route relay\nrelay smtp://127.0.0.1:%s\nrelay_tls off\n%s\n' \
	    "$port" 'default_domain deb.test' >"$t/mxsend.conf"
	printf 'log none\naliases %s/aliases\n' "$t" >>"$t/mxsend.conf"
	chmod 644 "$t/mxsend.conf"
}

# as USER CMD...: CMD as USER, with the test's configuration only.
as() {
	u=$1
	shift
	runuser -u "$u" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    HOME=/ MXSEND_CONFIG="$t/mxsend.conf" "$@"
}

printf 'postmaster: root\nabuse: root\n' >"$t/aliases"
chmod 644 "$t/aliases"
start_server
printf 'From: root\nTo: ops@example.test\nSubject: deb\n\nfrom the package\n' |
    as root /usr/sbin/sendmail -t >"$t/send.out" 2>&1 ||
	bad "/usr/sbin/sendmail exited $?: $(cat "$t/send.out")"
grep -qs 'RCPT TO:<ops@example.test>' "$t"/rec/session-*.env-1 ||
	bad "the relay did not get RCPT TO:<ops@example.test>"
grep -qs 'from the package' "$t"/rec/session-*.msg-1 ||
	bad "the relay did not get the message"

# A user queues (no attempt: -odq); root's mailq lists it; -q delivers.
nobody_uid=$(id -u nobody)
printf 'To: ops@example.test\nSubject: queued\n\nqueued by nobody\n' |
    as nobody /usr/sbin/sendmail -odq -t >"$t/queue.out" 2>&1 ||
	bad "sendmail -odq as nobody exited $?: $(cat "$t/queue.out")"
[ "$(stat -c %U "$queue/$nobody_uid" 2>/dev/null)" = nobody ] ||
	bad "no $queue/$nobody_uid of nobody's"
as root mailq >"$t/mailq.out" 2>&1 || bad "mailq exited $?"
grep -q 'ops@example.test' "$t/mailq.out" ||
	bad "mailq does not list the queued message: $(cat "$t/mailq.out")"
as root /usr/sbin/mxsend -q >"$t/q.out" 2>&1 || bad "mxsend -q exited $?"
grep -qs 'queued by nobody' "$t"/rec/session-*.msg-1 ||
	bad "-q did not deliver nobody's message: $(cat "$t/q.out")"
grep -qs 'MAIL FROM:<nobody@deb.test>' "$t"/rec/session-*.env-1 ||
	bad "nobody's message lost its sender"
as root mailq >"$t/mailq.out" 2>&1
grep -q 'ops@example.test' "$t/mailq.out" &&
	bad "mailq still lists the delivered message"
as root newaliases >"$t/newaliases.out" 2>&1 || bad "newaliases exited $?"
grep -q "$t/aliases: 2 aliases" "$t/newaliases.out" ||
	bad "newaliases: $(cat "$t/newaliases.out")"
# mailx as smartd and apticron call it, where mxsend is the mailx.
if [ -z "$mailx_before" ]; then
	echo "check-deb: mailx -s through the alternative"
	printf 'sent by mailx\n' | as root mailx -s 'mailx test' \
	    ops@example.test >"$t/mailx.out" 2>&1 ||
		bad "mailx exited $?: $(cat "$t/mailx.out")"
	grep -qs 'sent by mailx' "$t"/rec/session-*.msg-1 &&
	    grep -qs '^Subject: mailx test' "$t"/rec/session-*.msg-1 ||
		bad "the relay did not get the message mailx sent"
else
	echo "check-deb: mailx is $mailx_before: mxsend's mailx not tried"
fi
stop_server

# ------------------------------------------------------------- purge
dpkg_run "$t/purge.log" --purge mxsend ||
	bad "dpkg --purge failed: $(cat "$t/purge.log")"
installed=no
while read -r f; do
	[ -d "$f" ] && continue
	[ -e "$f" ] || [ -h "$f" ] && bad "$f left after purge"
done <"$t/files"
for n in $names; do
	[ -e "$n" ] || [ -h "$n" ] && bad "$n left after purge"
done
[ -e /etc/systemd/system/timers.target.wants/mxsend-queue.timer ] &&
	bad "the timer is still enabled after purge"
update-alternatives --query mailx 2>/dev/null | grep -q /usr/sbin/mxsend &&
	bad "the mailx alternative still names mxsend after purge"
if [ -z "$mailx_before" ]; then
	for n in /usr/bin/mailx /usr/bin/mail /usr/share/man/man1/mailx.1.gz \
	    /usr/share/man/man1/mail.1.gz /etc/alternatives/mailx; do
		[ -e "$n" ] || [ -h "$n" ] && bad "$n left after purge"
	done
fi
[ -s "$before_files" ] || [ ! -d "$queue" ] ||
	bad "the empty queue $queue was left after purge"

# ------------------------------- purge keeps a queue that holds mail
installed=yes
dpkg_run "$t/install2.log" -i "$deb" ||
	die "dpkg -i (again) failed" "$t/install2.log"
printf 'To: ops@example.test\nSubject: kept\n\nkept\n' |
    as root /usr/sbin/sendmail -odq -t >/dev/null 2>&1 ||
	bad "sendmail -odq as root failed"
dpkg_run "$t/purge2.log" --purge mxsend ||
	bad "dpkg --purge (again) failed: $(cat "$t/purge2.log")"
installed=no
grep -q "$queue holds queued mail: kept" "$t/purge2.log" ||
	bad "purge did not say it kept the queue: $(cat "$t/purge2.log")"
find "$queue" -type f 2>/dev/null | grep -vxF -f "$before_files" |
    grep -q . || bad "purge removed queued mail"

[ $fail = 0 ] && echo "check-deb: the package built, installed, delivered" \
    "and purged cleanly"
exit $fail
