#!/bin/sh
# servers.sh: mxsend delivers to real servers on loopback, as their MX
# (found through fakedns) or as a relay:
#
#  - aiosmtpd as an MX with STARTTLS and SMTPUTF8;
#  - Postfix smtpd as an MX: STARTTLS, PIPELINING, CHUNKING, a 550 for
#    one recipient and a 450 (greylisting) for another, delivered by a
#    later -qR once the greylist lets it through;
#  - Exim as an MX: CHUNKING and DSN (NOTIFY=SUCCESS: Exim's success
#    report comes back to the sender, a local domain of that Exim);
#  - Postfix on a submission port with Dovecot SASL as a relay: STARTTLS
#    with a test CA, AUTH SCRAM-SHA-256, PLAIN and LOGIN.
#
# Postfix and Exim run from packages unpacked by fetch.sh, with
# configuration, queue and spool directories in $WORK, as nobody; every
# daemon is stopped by its PID. Nothing they do leaves the machine:
# every domain is theirs or refused, and they look up no name in DNS.
. "$(dirname "$0")/lib.sh"

mxsend_env
export MXSEND_TRANSCRIPT="$WORK/transcript"
SENDER=sender@client.test

# A test CA and a certificate for the servers (names and 127.0.0.1).
make_pki() {
	cd "$WORK" || return 1
	certtool --generate-privkey --key-type=ecdsa --outfile ca.key \
	    2>/dev/null &&
	printf 'cn = "mxsend interop CA"\nca\ncert_signing_key\nexpiration_days = 2\n' \
	    >ca.tmpl &&
	certtool --generate-self-signed --load-privkey ca.key \
	    --template ca.tmpl --outfile ca.pem 2>/dev/null &&
	certtool --generate-privkey --key-type=ecdsa --outfile server.key \
	    2>/dev/null &&
	printf '%s\n' 'cn = "mx.dest.test"' 'dns_name = "mx.dest.test"' \
	    'dns_name = "localhost"' 'ip_address = "127.0.0.1"' \
	    'tls_www_server' 'expiration_days = 2' >server.tmpl &&
	certtool --generate-certificate --load-privkey server.key \
	    --load-ca-certificate ca.pem --load-ca-privkey ca.key \
	    --template server.tmpl --outfile server.pem 2>/dev/null &&
	chmod 644 server.key
	cd - >/dev/null
}

# The message of every check: 8-bit text, lines that begin with dots
# and "From ", a line of 998 octets, and enough of it (about 300 KB) to
# go as one BDAT chunk of size.
make_message() {
	{
		printf 'From: Interop Sender <%s>\n' "$SENDER"
		printf 'To: several recipients <list@dest.test>\n'
		printf 'Subject: interop test message =?UTF-8?Q?=C3=BC?=\n'
		printf 'Message-ID: <interop.1@client.test>\n'
		printf 'Date: Mon, 07 Dec 2026 10:00:00 +0000\n'
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: text/plain; charset=UTF-8\n'
		printf 'Content-Transfer-Encoding: 8bit\n\n'
		printf 'Grüße, ümlaut ß €\n.\n..two\nFrom the start\n'
		head -c 998 /dev/zero | tr '\0' x
		printf '\n'
		i=0
		while [ $i -lt 4000 ]; do
			printf 'body line %05d of the interop message, for size.\n' $i
			i=$((i + 1))
		done
		printf 'the last line\n'
	} >"$WORK/msg.eml"
}

# send RCPT...: the message to RCPTs from $SENDER; sets RC.
send() {
	"$MXSEND" -oi -f "$SENDER" "$@" <"$WORK/msg.eml" \
	    >"$WORK/send.out" 2>&1
	RC=$?
}

# log_has TEXT: mxsend's log has a line with TEXT.
log_has() {
	grep -qF -- "$1" "$WORK/mxsend.log"
}

# ------------------------------------------------------------ aiosmtpd

aiosmtpd_mx() {
	v=$(pkg_version python3-aiosmtpd)
	if ! "$PY" -c 'import aiosmtpd' 2>/dev/null; then
		result aiosmtpd - skip "python3-aiosmtpd is not installed"
		return
	fi
	port=$(free_port)
	mkdir -p "$WORK/aio"
	"$PY" "$INTEROP/aiosmtpd-sink.py" "$port" "$WORK/aio" \
	    "$WORK/server.pem" "$WORK/server.key" >"$WORK/aio-ready" \
	    2>"$WORK/aio-err" &
	apid=$!
	PIDS="$PIDS $apid"
	if ! wait_ready "$WORK/aio-ready" 100; then
		result aiosmtpd "$v" fail "did not start: $(head -c 300 \
"$WORK/aio-err")"
		return
	fi
	mx_via_dns "$port"
	send a1@aio.test a2@aio.test
	stop "$apid"
	why=""
	[ "$RC" -eq 0 ] || why="exit $RC: $(head -c 300 "$WORK/send.out")"
	[ -n "$why" ] || why=$(intact "$WORK/msg.eml" "$WORK/aio/1.msg" \
	    "$WORK/aio/1.env" "$SENDER" a1@aio.test a2@aio.test)
	[ -n "$why" ] || grep -q '^tls yes' "$WORK/aio/1.env" ||
	    why="no STARTTLS"
	[ -n "$why" ] || log_has "to=<a2@aio.test>, relay=mx.aio.test[127.0.0.1]:$port" ||
	    why="no log line"
	if [ -z "$why" ]; then
		result aiosmtpd "$v" pass "MX, STARTTLS, SMTPUTF8, 2 \
recipients in one transaction, intact"
	else
		result aiosmtpd "$v" fail "$(echo "$why" | tr '\n' ';')"
	fi
}

# ------------------------------------------------------------- Postfix

PF=$PEERS_ROOT/usr/lib/postfix/sbin

# postfix_conf DIR PORT EXTRA-MAIN-CF [EXTRA-MASTER-CF]: a Postfix of its
# own in DIR: smtpd on 127.0.0.1:PORT, virtual mailboxes for dest.test
# (DIR/boxes: "ADDRESS LOCAL/box/", in DIR/mail/LOCAL/box/), an access
# map DIR/access, the log in DIR/maillog.
postfix_conf() {
	d=$1
	mkdir -p "$d/etc" "$d/queue" "$d/data" "$d/mail"
	for q in active bounce corrupt defer deferred flush hold incoming \
	    private saved trace maildrop public pid; do
		mkdir -p "$d/queue/$q"
	done
	chown -R nobody "$d/queue" "$d/data" "$d/mail"
	chmod 700 "$d/queue"/*
	chmod 755 "$d/queue/pid" "$d/queue/public" "$d/queue/private"
	chgrp mail "$d/queue/maildrop" "$d/queue/public"
	chmod 730 "$d/queue/maildrop"
	chmod 710 "$d/queue/public"
	: >"$d/access"
	cat >"$d/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
command_directory = $PEERS_ROOT/usr/sbin
daemon_directory = $PF
shlib_directory = $PEERS_ROOT/usr/lib/postfix
meta_directory = $PEERS_ROOT/etc/postfix
mail_owner = nobody
default_privs = daemon
setgid_group = mail
maillog_file = $d/maillog
maillog_file_prefixes = $d
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C
    LD_LIBRARY_PATH=$PEERS_ROOT/usr/lib/postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.dest.test
mydomain = dest.test
mydestination =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = dest.test
virtual_mailbox_base = $d/mail
virtual_mailbox_maps = texthash:$d/boxes
alias_maps =
alias_database =
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
default_transport = error:nothing leaves this test
relay_transport = error:nothing leaves this test
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
biff = no
smtpd_tls_cert_file = $WORK/server.pem
smtpd_tls_key_file = $WORK/server.key
smtpd_tls_loglevel = 1
$3
EOF
	cat >"$d/etc/master.cf" <<EOF
127.0.0.1:$2 inet n - n - - smtpd
${4:-}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# postfix_start DIR PORT: master in the foreground; sets MPID.
postfix_start() {
	# setsid: master leads a process group, which it ends when stopped.
	LD_LIBRARY_PATH=$PEERS_ROOT/usr/lib/postfix setsid \
	    "$PF/master" -c "$1/etc" -d >"$1/master.out" 2>&1 &
	MPID=$!
	PIDS="$PIDS $MPID"
	wait_port 127.0.0.1 "$2" 100
}

# box DIR LOCAL: the first message file of Maildir DIR/mail/LOCAL/box,
# waiting for the server's delivery agent (10 s at most); else nothing.
pf_box() {
	n=0
	while [ $n -lt 100 ]; do
		f=$(ls "$1/mail/$2/box/new/"* 2>/dev/null | head -n 1)
		[ -z "$f" ] || { echo "$f"; return; }
		n=$((n + 1))
		sleep 0.1
	done
}

postfix_mx() {
	v=$(cat "$PEERS_ROOT/../postfix.version" 2>/dev/null)
	if [ ! -x "$PF/master" ]; then
		result "Postfix (MX)" - skip "postfix is not unpacked \
(tests/interop/fetch.sh)"
		return
	fi
	d=$WORK/pf
	port=$(free_port)
	postfix_conf "$d" "$port" "smtpd_tls_security_level = may
smtpd_recipient_restrictions = check_recipient_access texthash:$d/access,
    permit_mynetworks, reject"
	for r in ok1 ok2 grey; do
		echo "$r@dest.test $r/box/"
	done >"$d/boxes"
	printf '%s\n' "bad@dest.test 550 5.1.1 no such user" \
	    "grey@dest.test 450 4.7.1 greylisted, try again later" \
	    >"$d/access"
	if ! postfix_start "$d" "$port"; then
		result "Postfix (MX)" "$v" fail "did not start: $(tail -n 3 \
"$d/maillog" "$d/master.out" 2>/dev/null | tr '\n' ' ')"
		return
	fi
	mx_via_dns "$port"
	send ok1@dest.test ok2@dest.test bad@dest.test grey@dest.test
	why=$(postfix_first_pass "$d")
	# The greylist lets it through (a texthash table is read when a
	# Postfix daemon starts); a forced queue run delivers it.
	stop "$MPID"
	printf '%s\n' "bad@dest.test 550 5.1.1 no such user" >"$d/access"
	postfix_start "$d" "$port" || echo "Postfix did not start again"
	"$MXSEND" -qRgrey@dest.test >"$WORK/q.out" 2>&1
	[ -n "$why" ] || why=$(postfix_second_pass "$d")
	stop "$MPID"
	if [ -z "$why" ]; then
		result "Postfix (MX)" "$v" pass "STARTTLS, PIPELINING, \
CHUNKING (BDAT), 550 for one recipient (bounced), 450 greylisting \
(deferred, then delivered by -qR), intact"
	else
		result "Postfix (MX)" "$v" fail "$(echo "$why" | tr '\n' ';')"
	fi
}

# After the first run: ok1, ok2 delivered intact over TLS with BDAT;
# bad bounced (exit 67), grey deferred and queued. Prints what is wrong.
postfix_first_pass() {
	[ "$RC" -eq 67 ] || echo "exit $RC, want 67: $(head -c 400 \
"$WORK/send.out")"
	for r in ok1 ok2; do
		f=$(pf_box "$1" $r)
		[ -n "$f" ] || { echo "<$r@dest.test> not delivered"; continue; }
		printf 'MAIL FROM:<%s>\naccepted <%s@dest.test>\n' \
		    "$(sed -n 's/^Return-Path: <\(.*\)>$/\1/p' "$f")" $r \
		    >"$WORK/pf-$r.env"
		intact "$WORK/msg.eml" "$f" "$WORK/pf-$r.env" "$SENDER" \
		    $r@dest.test
	done
	log_has "to=<bad@dest.test>, relay=mx.dest.test[127.0.0.1]" &&
	    log_has "status=bounced (host mx.dest.test[127.0.0.1]:" ||
	    echo "no bounced log line for <bad@dest.test>"
	grep -F "to=<grey@dest.test>" "$WORK/mxsend.log" |
	    grep -q "status=deferred" || echo "<grey@dest.test> not deferred"
	log_has "to=<ok1@dest.test>, relay=mx.dest.test[127.0.0.1]" ||
	    echo "no log line for <ok1@dest.test>"
	grep -q "tls=TLSv1" "$WORK/mxsend.log" || echo "no TLS in the log"
	# Postfix's own account of the session: TLS, one BDAT.
	grep -q "disconnect from .* starttls=1 .*bdat=1" "$1/maillog" ||
	    echo "Postfix saw no STARTTLS+BDAT session: $(grep disconnect \
"$1/maillog" | tail -n 1)"
	grep -q "improper command pipelining" "$1/maillog" &&
	    echo "Postfix: improper command pipelining"
	grep -q "^<-- 250-PIPELINING" "$WORK/transcript" 2>/dev/null ||
	    grep -q "250-PIPELINING" "$WORK/transcript" ||
	    echo "Postfix offered no PIPELINING"
}

postfix_second_pass() {
	f=$(pf_box "$1" grey)
	[ -n "$f" ] || { echo "<grey@dest.test> not delivered by -qR: \
$(head -c 300 "$WORK/q.out")"; return; }
	printf 'MAIL FROM:<%s>\naccepted <grey@dest.test>\n' \
	    "$(sed -n 's/^Return-Path: <\(.*\)>$/\1/p' "$f")" \
	    >"$WORK/pf-grey.env"
	intact "$WORK/msg.eml" "$f" "$WORK/pf-grey.env" "$SENDER" \
	    grey@dest.test
	grep -F "to=<grey@dest.test>" "$WORK/mxsend.log" |
	    grep -q "status=sent" || echo "no sent log line for grey"
	[ -z "$(ls "$WORK/queue"/*/*.env 2>/dev/null)" ] ||
	    echo "the queue is not empty"
}

# ---------------------------------------------------------------- Exim

exim_mx() {
	exim_runnable "Exim (MX)" || return
	v=$EXIM_V
	d=$WORK/exim
	port=$(free_port)
	exim_conf "$d" "$port" "tls_advertise_hosts = *
tls_certificate = $WORK/server.pem
tls_privatekey = $WORK/server.key"
	if ! exim_start "$d" "$port"; then
		result "Exim (MX)" "$v" fail "did not start: $(head -c 300 \
"$d/daemon.out") $(tail -n 3 "$d/log/paniclog" 2>/dev/null)"
		return
	fi
	mx_via_dns "$port"
	: >"$WORK/transcript"
	"$MXSEND" -oi -f "$SENDER" -N success,failure -R hdrs -V envid-7 \
	    e1@exim.test <"$WORK/msg.eml" >"$WORK/send.out" 2>&1
	RC=$?
	why=$(exim_check "$d")
	stop "$EPID"
	if [ -z "$why" ]; then
		result "Exim (MX)" "$v" pass "STARTTLS, CHUNKING (BDAT), DSN \
(NOTIFY, ORCPT, RET, ENVID: Exim's success DSN reached the sender), \
intact"
	else
		result "Exim (MX)" "$v" fail "$(echo "$why" | tr '\n' ';')"
	fi
}

# What is wrong after the delivery to Exim, if anything.
exim_check() {
	[ "$RC" -eq 0 ] || echo "exit $RC: $(head -c 300 "$WORK/send.out")"
	f=$(pf_box "$1" e1)
	if [ -z "$f" ]; then
		echo "not delivered: $(tail -n 3 "$1/log/mainlog" | tr '\n' ' ')"
		return
	fi
	printf 'MAIL FROM:<%s>\naccepted <e1@exim.test>\n' \
	    "$(sed -n 's/^Return-path: <\(.*\)>$/\1/p' "$f")" >"$WORK/ex.env"
	intact "$WORK/msg.eml" "$f" "$WORK/ex.env" "$SENDER" e1@exim.test
	grep -q "> BDAT [0-9]* LAST" "$WORK/transcript" ||
	    echo "no BDAT in the transcript"
	grep -q "> RCPT TO:<e1@exim.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;e1@exim.test" \
	    "$WORK/transcript" || echo "no DSN parameters to RCPT"
	grep -q "> MAIL FROM:<$SENDER> .*RET=HDRS ENVID=envid-7" \
	    "$WORK/transcript" || echo "no RET/ENVID to MAIL"
	grep -q "TLS established" "$WORK/transcript" || echo "no STARTTLS"
	# Exim's success report (RFC 3464) back at the sender.
	dsn=$(pf_box "$1" sender)
	[ -n "$dsn" ] && grep -q "^Action: delivered" "$dsn" &&
	    grep -q "envid-7" "$dsn" ||
	    echo "no success DSN from Exim: $(tail -n 3 "$1/log/mainlog" |
	    tr '\n' ' ')"
}

# ------------------------------------------ Postfix submission + Dovecot

# dovecot_auth DIR: Dovecot's auth service alone, for Postfix's SASL, a
# user "user" whose password is $PASSWORD; its socket DIR/run/auth-pf.
PASSWORD='s3cret pass'
dovecot_auth() {
	mkdir -p "$1/run" "$1/state"
	printf 'user:{PLAIN}%s\n' "$PASSWORD" >"$1/users"
	chmod 644 "$1/users"
	cat >"$1/dovecot.conf" <<EOF
base_dir = $1/run
state_dir = $1/state
log_path = $1/dovecot.log
protocols =
ssl = no
auth_mechanisms = plain login scram-sha-256
disable_plaintext_auth = no
auth_verbose = yes
passdb {
  driver = passwd-file
  args = $1/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener auth-pf {
    mode = 0666
  }
}
EOF
	dovecot -F -c "$1/dovecot.conf" >"$1/dovecot.out" 2>&1 &
	DPID=$!
	PIDS="$PIDS $DPID"
	n=0
	until [ -S "$1/run/auth-pf" ]; do
		n=$((n + 1))
		[ $n -le 100 ] || return 1
		sleep 0.1
	done
}

postfix_submission() {
	v="Postfix $(cat "$PEERS_ROOT/../postfix.version" 2>/dev/null), \
Dovecot $(dovecot --version 2>/dev/null | cut -d' ' -f1)"
	if [ ! -x "$PF/master" ] || ! command -v dovecot >/dev/null; then
		result "Postfix submission + Dovecot SASL" - skip "postfix \
or dovecot-core is missing (tests/interop/fetch.sh)"
		return
	fi
	d=$WORK/sub
	mkdir -p "$d"
	if ! dovecot_auth "$d/dovecot"; then
		result "Postfix submission + Dovecot SASL" "$v" fail "Dovecot \
did not start: $(tail -n 3 "$d/dovecot/dovecot.log" "$d/dovecot/dovecot.out" \
2>/dev/null | tr '\n' ' ')"
		return
	fi
	port=$(free_port)
	postfix_conf "$d" "$port" "smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $d/dovecot/run/auth-pf
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject"
	for m in scram-sha-256 plain login; do
		echo "$m@dest.test $m/box/"
	done >"$d/boxes"
	if ! postfix_start "$d" "$port"; then
		result "Postfix submission + Dovecot SASL" "$v" fail "Postfix \
did not start: $(tail -n 3 "$d/maillog" | tr '\n' ' ')"
		return
	fi
	unset MXSEND_NAMESERVER MXSEND_MX_PORT
	export MXSEND_RELAY="smtp://user:s3cret%20pass@127.0.0.1:$port"
	export MXSEND_RELAY_TLS=auto MXSEND_ROUTE=relay
	export MXSEND_TLS_CA_FILE="$WORK/ca.pem"
	why=""
	for m in scram-sha-256 plain login; do
		why="$why$(submission_with "$d" $m)"
	done
	stop "$MPID"
	stop "$DPID"
	if [ -z "$why" ]; then
		result "Postfix submission + Dovecot SASL" "$v" pass "relay \
with STARTTLS (certificate verified against a test CA), AUTH \
SCRAM-SHA-256, PLAIN and LOGIN, intact"
	else
		result "Postfix submission + Dovecot SASL" "$v" fail \
		    "$(echo "$why" | tr '\n' ';')"
	fi
}

# submission_with DIR MECH: one message with relay_auth MECH; what is
# wrong, if anything.
submission_with() {
	MXSEND_RELAY_AUTH=$2 "$MXSEND" -oi -f "$SENDER" "$2@dest.test" \
	    <"$WORK/msg.eml" >"$WORK/send.out" 2>&1 ||
	    { echo "$2: exit $?: $(head -c 300 "$WORK/send.out")"; return; }
	f=$(pf_box "$1" "$2")
	[ -n "$f" ] || { echo "$2: not delivered"; return; }
	printf 'MAIL FROM:<%s>\naccepted <%s@dest.test>\n' \
	    "$(sed -n 's/^Return-Path: <\(.*\)>$/\1/p' "$f")" "$2" \
	    >"$WORK/sub-$2.env"
	intact "$WORK/msg.eml" "$f" "$WORK/sub-$2.env" "$SENDER" \
	    "$2@dest.test" | sed "s/^/$2: /"
	M=$(echo "$2" | tr a-z A-Z)
	grep -q "sasl_method=$M, sasl_username=user" "$1/maillog" ||
	    echo "$2: Postfix logged no AUTH $M"
}

make_pki || { echo "certtool failed" >&2; exit 1; }
make_message
start_fakedns "aio.test. MX 10 mx.aio.test.
mx.aio.test. A 127.0.0.1
dest.test. MX 10 mx.dest.test.
mx.dest.test. A 127.0.0.1
exim.test. MX 10 mx.exim.test.
mx.exim.test. A 127.0.0.1" || exit 1
aiosmtpd_mx
postfix_mx
exim_mx
postfix_submission
exit 0
