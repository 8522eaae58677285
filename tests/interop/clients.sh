#!/bin/sh
# clients.sh: real mail clients call mxsend as their sendmail, and each
# message must reach the server (fakesmtp, as mxsend's relay) intact:
# body octets, header fields in order, envelope (intact.py).
#
# Between the client and mxsend sits a shim that keeps what the client
# wrote ($WORK/cap/NAME.in) and its arguments (NAME.argv), then runs
# mxsend with them. Programs that run /usr/sbin/sendmail whatever one
# says (bsd-mailx) get the shim there in a mount namespace of their own.
. "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/bin" "$WORK/cap" "$WORK/home"
export HOME="$WORK/home"
cat >"$WORK/bin/sendmail" <<EOF
#!/bin/sh
# The interop shim: keep what the client handed us, then be mxsend.
printf '%s\n' "\$@" >"$WORK/cap/\${CAPNAME:-unnamed}.argv"
tee "$WORK/cap/\${CAPNAME:-unnamed}.in" | "$MXSEND" "\$@"
EOF
chmod 755 "$WORK/bin/sendmail"
SHIM=$WORK/bin/sendmail

mxsend_env
start_fakesmtp sink "ext PIPELINING
ext 8BITMIME
ext SMTPUTF8" || exit 1
relay_to "$PORT"

BODY8='Grüße aus dem Cron: ümlaut ß €'

# check PEER VERSION CAPNAME SENDER RCPT...: the message the client
# handed the shim as CAPNAME arrived intact for each RCPT.
check() {
	peer=$1 version=$2 cap=$3 sender=$4
	shift 4
	if [ ! -s "$WORK/cap/$cap.in" ]; then
		result "$peer" "$version" fail "the client ran no sendmail"
		return
	fi
	msg=$(fakesmtp_msg sink "$1") || {
		result "$peer" "$version" fail "not delivered to <$1>; \
mxsend log: $(tail -n 2 "$WORK/mxsend.log" | tr '\n' ' ')"
		return
	}
	env=$(echo "$msg" | sed 's/\.msg-/.env-/')
	how="mxsend $(tr '\n' ' ' <"$WORK/cap/$cap.argv")"
	if why=$(intact "$WORK/cap/$cap.in" "$msg" "$env" "$sender" "$@"); then
		result "$peer" "$version" pass "\`${how% }\`: intact \
(body, header order, envelope)"
	else
		result "$peer" "$version" fail "$(echo "$why" | tr '\n' ';')"
	fi
}

# missing PEER PACKAGE COMMAND: skip (and say so) when COMMAND is absent.
missing() {
	command -v "$3" >/dev/null 2>&1 && return 1
	[ -x "$3" ] && return 1
	result "$1" - skip "$2 is not installed (tests/interop/fetch.sh)"
	return 0
}

# PHP mail() with sendmail_path and a fifth argument (-f).
php_mail() {
	missing "PHP mail()" php-cli php && return
	CAPNAME=php php -n -d "sendmail_path=$SHIM -t -i" -r '
	    exit(mail("php-rcpt@dest.test", "PHP subject ü",
	    "Line one\nA line with only a dot follows\n.\n..two dots\n'"$BODY8"'\nlast",
	    "From: PHP App <app@client.test>\r\nX-Mailer: interop", "-fbounce@client.test") ? 0 : 1);' ||
	    { result "PHP mail()" "$(php -r 'echo PHP_VERSION;')" fail \
	    "mail() returned false"; return; }
	check "PHP mail()" "$(php -r 'echo PHP_VERSION;')" php \
	    bounce@client.test php-rcpt@dest.test
}

# s-nail with mta= the shim.
snail() {
	missing s-nail s-nail s-nail && return
	printf 'Hello from s-nail.\n%s\n.\nend\n' "$BODY8" |
	    CAPNAME=snail MAILRC=/dev/null s-nail -n -Snosave \
	    -Smta="$SHIM" -r "S Nail <snail@client.test>" \
	    -Ssendcharsets=utf-8 -s "s-nail subject" snail-rcpt@dest.test
	check s-nail "$(pkg_version s-nail)" snail snail@client.test \
	    snail-rcpt@dest.test
}

# bsd-mailx runs /usr/sbin/sendmail: the shim there, in a namespace.
bsdmailx() {
	bin=$PEERS_ROOT/usr/bin/bsd-mailx
	command -v bsd-mailx >/dev/null 2>&1 && bin=$(command -v bsd-mailx)
	# Its liblockfile1 is unpacked beside it (fetch.sh).
	export LD_LIBRARY_PATH="$PEERS_ROOT/usr/lib/x86_64-linux-gnu"
	missing bsd-mailx bsd-mailx "$bin" && return
	if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
		result bsd-mailx "$(pkg_version bsd-mailx)" skip \
		    "no mount namespace (not root) for /usr/sbin/sendmail"
		return
	fi
	printf 'Hello from bsd-mailx.\n%s\n.\nend\n' "$BODY8" >"$WORK/mailx.in"
	CAPNAME=mailx unshare -m sh -c '
	    mount --make-rprivate / && mount -t tmpfs tmpfs /usr/sbin &&
	    cp "$1" /usr/sbin/sendmail &&
	    exec "$2" -s "bsd-mailx subject" mailx-rcpt@dest.test <"$3"' \
	    - "$SHIM" "$bin" "$WORK/mailx.in"
	unset LD_LIBRARY_PATH
	check bsd-mailx "$(pkg_version bsd-mailx)" mailx root@client.test \
	    mailx-rcpt@dest.test
}

# mutt in batch mode (its default sendmail arguments -oem -oi), the
# envelope sender from its from=.
mutt_batch() {
	missing mutt mutt mutt && return
	printf 'Hello from mutt.\n%s\n.\nend\n' "$BODY8" |
	    CAPNAME=mutt mutt -n -F /dev/null \
	    -e "set sendmail=\"$SHIM -oem -oi\"" \
	    -e 'set from="Mutt User <mutt@client.test>"' \
	    -e 'set use_envelope_from=yes' -e 'set copy=no' \
	    -e 'set send_charset=utf-8' \
	    -s "mutt subject" mutt-rcpt@dest.test
	check mutt "$(pkg_version mutt)" mutt mutt@client.test \
	    mutt-rcpt@dest.test
}

# git send-email --sendmail-cmd, a patch whose lines begin with dots,
# "From " and trailing blanks.
git_send_email() {
	if ! git send-email -h >/dev/null 2>&1 &&
	    ! git send-email -h 2>&1 | grep -q sendmail-cmd; then
		result "git send-email" - skip "git-email is not installed"
		return
	fi
	repo=$WORK/repo
	git init -q "$repo" && (
	    cd "$repo" &&
	    git config user.name "Git User" &&
	    git config user.email git@client.test &&
	    printf 'first\n' >file && git add file &&
	    git commit -q -m initial &&
	    printf '.dot line\nFrom the start\ntrailing  \n%s\n' "$BODY8" \
	    >>file && git commit -q -am "A change to file" &&
	    git format-patch -q -1 -o "$WORK/patches") || {
		result "git send-email" "$(pkg_version git-email)" fail \
		    "could not make a patch"
		return
	}
	CAPNAME=git git -C "$repo" send-email --sendmail-cmd="$SHIM" \
	    --to=git-rcpt@dest.test --from="Git User <git@client.test>" \
	    --envelope-sender=git@client.test --confirm=never \
	    --suppress-cc=all --quiet "$WORK"/patches/*.patch >/dev/null
	check "git send-email" "$(pkg_version git-email)" git \
	    git@client.test git-rcpt@dest.test
}

# Debian's cron: /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem USER
cron_debian() {
	cat >"$WORK/cron.in" <<EOF
From: root (Cron Daemon)
To: cronuser
Subject: Cron <root@client> /usr/local/bin/job
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit
X-Cron-Env: <SHELL=/bin/sh>
X-Cron-Env: <HOME=/root>
X-Cron-Env: <PATH=/usr/bin:/bin>
X-Cron-Env: <LOGNAME=root>

job output line 1
$BODY8
.
EOF
	CAPNAME=cron "$SHIM" -FCronDaemon -i -B8BITMIME -oem cronuser \
	    <"$WORK/cron.in"
	check "Debian cron (its sendmail command)" "cron 3.0pl1" cron \
	    root@client.test \
	    cronuser@client.test
}

# cronie: sendmail -FCronDaemon -i -odi -oem -oi -t -f USER
cron_cronie() {
	cat >"$WORK/cronie.in" <<EOF
From: "(Cron Daemon)" <root>
To: cronieuser
Subject: Cron <root@client> /usr/local/bin/job
Content-Type: text/plain; charset=UTF-8
Auto-Submitted: auto-generated
Precedence: bulk
X-Cron-Env: <XDG_SESSION_ID=1>
X-Cron-Env: <LANG=C.UTF-8>

cronie job output
$BODY8
EOF
	CAPNAME=cronie "$SHIM" -FCronDaemon -i -odi -oem -oi -t -f root \
	    <"$WORK/cronie.in"
	check "cronie (its sendmail command)" "-" cronie root@client.test \
	    cronieuser@client.test
}

# swaks speaks SMTP to mxsend -bs, as Symfony's and Laravel's mailers do.
swaks_bs() {
	missing "swaks --pipe" swaks swaks && return
	# No last line end: swaks adds CRLF before the final dot.
	printf 'From: Swaks <swaks@client.test>\nTo: swaks-rcpt@dest.test\nSubject: swaks over -bs\nMessage-ID: <swaks.1@client.test>\n\n.leading dot\n%s\nlast line' \
	    "$BODY8" >"$WORK/cap/swaks.in"
	echo "-bs" >"$WORK/cap/swaks.argv"
	swaks --pipe "$MXSEND -bs" --from swaks@client.test \
	    --to swaks-rcpt@dest.test --data "$WORK/cap/swaks.in" \
	    --helo client.test --hide-all ||
	    { result "swaks --pipe -bs" "$(pkg_version swaks)" fail \
	    "swaks exit $?"; return; }
	check "swaks --pipe -bs" "$(pkg_version swaks)" swaks \
	    swaks@client.test swaks-rcpt@dest.test
}

php_mail
snail
bsdmailx
mutt_batch
git_send_email
cron_debian
cron_cronie
swaks_bs
exit 0
