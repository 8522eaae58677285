#!/bin/sh
# dovecot-oauth2.sh: mxsend's XOAUTH2 and OAUTHBEARER against a real server.
#
# Dovecot's submission service (Debian's dovecot-core and
# dovecot-submissiond) on 127.0.0.1 with STARTTLS, an oauth2 passdb that
# validates JWT access tokens locally (introspection_mode = local, an
# HS256 key in a dict), relaying what it accepts to the project's
# fakesmtp.  mxsend sends through it as through Microsoft 365 or Gmail:
# relay_auth xoauth2 (then oauthbearer), the token in relay_password_file.
#
# Checked: both mechanisms authenticate and the message arrives at the
# sink with its body; an expired token is refused (535) and the message
# is queued (75), not lost; the token appears in no output of mxsend.
#
# Usage: dovecot-oauth2.sh BUILDDIR   (BUILDDIR has src/mxsend and
# tests/support/fakesmtp).  Needs root (Dovecot drops to its own users).
# Exit 0 passed, 1 failed, 77 skipped (no Dovecot, not root).
set -u
top=${1:?usage: $0 BUILDDIR}
top=$(cd "$top" && pwd)
mxsend=$top/src/mxsend
fakesmtp=$top/tests/support/fakesmtp

skip() { echo "SKIP: dovecot-oauth2: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root"
command -v dovecot >/dev/null 2>&1 || skip "dovecot-core is not installed"
[ -x /usr/lib/dovecot/submission ] ||
    skip "dovecot-submissiond is not installed"
id dovenull >/dev/null 2>&1 || skip "no dovenull user (dovecot-core)"

d=$(mktemp -d /tmp/mxsend-dovecot.XXXXXX)
chmod 755 "$d"
sinkpid= fails=0
# Dovecot's master takes its children down on SIGTERM: wait for it (3 s).
cleanup() {
	master=$(cat "$d/run/master.pid" 2>/dev/null)
	[ -n "$master" ] && kill "$master" 2>/dev/null
	[ -n "$sinkpid" ] && kill "$sinkpid" 2>/dev/null
	i=0
	while [ -n "$master" ] && kill -0 "$master" 2>/dev/null &&
	    [ $i -lt 30 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	rm -rf "$d"
}
trap cleanup EXIT INT TERM

# A free port on 127.0.0.1 for Dovecot (fakesmtp picks its own).
free_port() {
	python3 -c 'import socket; s=socket.socket(); \
s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The HS256 key Dovecot validates with (dict path default/HS256/default:
# azp "default", the token's alg, its kid) and a token maker.
make_key() {
	mkdir -p "$d/keys/default/HS256"
	head -c 32 /dev/urandom >"$d/hmac.key"
	base64 -w0 "$d/hmac.key" >"$d/keys/default/HS256/default"
	chmod -R a+rX "$d/keys"
}

# token SECONDS-TO-EXPIRY PAD: a signed JWT for user@example.com.
token() {
	python3 - "$d/hmac.key" "$1" "$2" <<'EOF'
import base64, hashlib, hmac, json, sys, time
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = open(sys.argv[1], "rb").read()
now = int(time.time())
exp = now + int(sys.argv[2])
head = b64(json.dumps({"alg": "HS256", "typ": "JWT",
    "kid": "default"}).encode())
body = b64(json.dumps({"sub": "user@example.com", "iat": now - 60,
    "exp": exp, "pad": "x" * int(sys.argv[3])}).encode())
sig = b64(hmac.new(key, (head + "." + body).encode(),
    hashlib.sha256).digest())
print(head + "." + body + "." + sig)
EOF
}

make_cert() {
	certtool --generate-privkey --key-type=ecdsa \
	    --outfile "$d/key.pem" 2>/dev/null || return 1
	printf 'cn = dovecot.test\nip_address = 127.0.0.1\n%s\n%s\n' \
	    'expiration_days = 2' 'tls_www_server' >"$d/cert.tmpl"
	certtool --generate-self-signed --load-privkey "$d/key.pem" \
	    --template "$d/cert.tmpl" --outfile "$d/cert.pem" 2>/dev/null
}

start_sink() {
	"$fakesmtp" --listen 127.0.0.1:0 --record "$d/rec" --lifetime 120 \
	    >"$d/sink.out" 2>&1 &
	sinkpid=$!
	i=0
	while ! grep -q '^ready$' "$d/sink.out" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 50 ] && return 1
		sleep 0.1
	done
	sinkport=$(awk '/^ready 127/ { print $3; exit }' "$d/sink.out")
}

start_dovecot() {
	mkdir -p "$d/run" "$d/state" "$d/home"
	cat >"$d/oauth2.conf.ext" <<EOF
introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$d/keys/
username_attribute = sub
EOF
	cat >"$d/dovecot.conf" <<EOF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = submission
listen = 127.0.0.1
ssl = required
ssl_cert = <$d/cert.pem
ssl_key = <$d/key.pem
auth_mechanisms = xoauth2 oauthbearer
auth_verbose = yes
hostname = dovecot.test
first_valid_uid = 1
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $d/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=dovenull gid=dovenull home=$d/home/%u
}
service submission-login {
  inet_listener submission {
    port = $subport
  }
}
service anvil {
  chroot =
}
submission_relay_host = 127.0.0.1
submission_relay_port = $sinkport
submission_relay_trusted = yes
mail_location = maildir:$d/home/%u/Maildir
EOF
	dovecot -c "$d/dovecot.conf" || return 1
	i=0
	while ! python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5)' \
	    "$subport" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 50 ] && return 1
		sleep 0.1
	done
}

# send MECH TOKEN TAG: one message through Dovecot; sets rc and out.
send() {
	mkdir -p "$d/queue" && chmod 1733 "$d/queue"
	printf '%s\n' "$2" >"$d/token"
	chmod 600 "$d/token"
	cat >"$d/mxsend.conf" <<EOF
route relay
relay smtp://127.0.0.1:$subport
relay_tls starttls
relay_fingerprint $pin
relay_user user@example.com
relay_password_file $d/token
relay_auth $1
queue_dir $d/queue
log $d/mxsend.log
EOF
	out=$(printf 'Subject: %s\n\nbody %s\n' "$3" "$3" |
	    timeout 60 "$mxsend" -C "$d/mxsend.conf" -v \
	    -f user@example.com rcpt@example.net 2>&1)
	rc=$?
}

check() {
	if eval "$2"; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (exit $rc)"
		printf '%s\n' "$out" | tail -n 8 | sed 's/^/    /'
		fails=$((fails + 1))
	fi
}

arrived() { grep -qs "body $1" "$d"/rec/session-*.msg-1; }
leaked() { printf '%s' "$out" | grep -qF "$1"; }

make_key && make_cert || { echo "FAIL: key or certificate"; exit 1; }
pin=$(certtool --fingerprint --hash=sha256 --infile "$d/cert.pem")
subport=$(free_port)
start_sink || { echo "FAIL: fakesmtp did not start"; exit 1; }
start_dovecot || { echo "FAIL: dovecot did not start"; tail "$d/dovecot.log"
    exit 1; }
echo "dovecot $(dovecot --version | cut -d' ' -f1) submission on" \
    "127.0.0.1:$subport, relaying to fakesmtp on $sinkport"

for mech in xoauth2 oauthbearer; do
	tok=$(token 3600 3000)
	send "$mech" "$tok" "$mech-good"
	check "$mech: a ${#tok}-octet token authenticates, message delivered" \
	    '[ $rc -eq 0 ] && arrived "$mech-good"'
	check "$mech: the token is in no output" '! leaked "$tok"'
	tok=$(token -600 0)
	send "$mech" "$tok" "$mech-expired"
	check "$mech: an expired token is refused and the message queued" \
	    '[ $rc -eq 75 ] && ! arrived "$mech-expired" &&
	    ls "$d"/queue/*/*.env >/dev/null 2>&1'
	rm -rf "$d/queue"
done
[ $fails -eq 0 ] && echo "dovecot-oauth2: passed" && exit 0
echo "dovecot-oauth2: $fails failed"
tail -n 20 "$d/dovecot.log" | sed 's/^/    dovecot: /'
exit 1
