#!/bin/sh
# demo.sh: mxsend's main job, offline, in one command (make demo).
#
# The project's scripted DNS server plays the Internet's DNS for the
# domain example.test (its MX is mx.example.test, at 127.0.0.2) and the
# project's scripted SMTP server plays that MX.  A message is piped
# through "mxsend -v -t" exactly as cron or PHP would, delivered straight
# to the MX, and the demo shows the dialogue, what the MX received and
# the log line.  Everything stays on loopback; both servers are stopped
# by PID when the demo ends, whatever happens.
#
# Usage: demo.sh BUILDDIR  (with src/mxsend and tests/support/fake*).
set -u
top=$(cd "${1:?usage: $0 BUILDDIR}" && pwd)
mxsend=$top/src/mxsend
for p in "$mxsend" "$top/tests/support/fakedns" \
    "$top/tests/support/fakesmtp"; do
	[ -x "$p" ] || { echo "demo: $p is missing: run make first" >&2
	    exit 1; }
done

d=$(mktemp -d "${TMPDIR:-/tmp}/mxsend-demo.XXXXXX") || exit 1
pids=
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start NAME CMD...: run a server that prints "ready ADDR PORT pid N"
# lines and then "ready"; wait for it (5 s at most); port in $port.
start() {
	name=$1
	shift
	"$@" >"$d/$name.out" 2>&1 &
	pids="$pids $!"
	i=0
	until grep -q '^ready$' "$d/$name.out" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			echo "demo: the $name server did not start:" >&2
			cat "$d/$name.out" >&2
			exit 1
		fi
		sleep 0.1
	done
	port=$(awk '/^ready [0-9]/ { print $3; exit }' "$d/$name.out")
}

cat >"$d/zone" <<'EOF'
example.test.     MX 10 mx.example.test.
mx.example.test.  A  127.0.0.2
EOF
start dns "$top/tests/support/fakedns" --listen 127.0.0.1:0 \
    --zone "$d/zone" --lifetime 60
dnsport=$port
printf 'hostname mx.example.test\next PIPELINING\next 8BITMIME\n' \
    >"$d/mx.script"
start mx "$top/tests/support/fakesmtp" --listen 127.0.0.2:0 \
    --script "$d/mx.script" --record "$d/mx" --lifetime 60
mxport=$port

mkdir -m 1733 "$d/queue"
cat >"$d/mxsend.conf" <<EOF
# The demo's world: its DNS server and the port its MX listens on.
nameserver 127.0.0.1:$dnsport
mx_port $mxport
default_domain demo.example
queue_dir $d/queue
log $d/mail.log
EOF

cat <<EOF
== The DNS server (127.0.0.1:$dnsport) says example.test's MX is
   mx.example.test at 127.0.0.2; the MX listens on 127.0.0.2:$mxport.
== printf '...' | mxsend -v -t   (configuration: $d/mxsend.conf)

EOF
printf '%s\n' 'From: Cron Daemon <root>' 'To: ops@example.test' \
    'Subject: nightly backup' '' 'The backup finished.' |
    "$mxsend" -C "$d/mxsend.conf" -v -t 2>&1
rc=$?
echo
echo "== mxsend exited $rc (0: every recipient's server took the message)"
echo "== What the MX received:"
echo
for f in "$d"/mx/session-*.env-1 "$d"/mx/session-*.msg-1; do
	[ -f "$f" ] && sed 's/\r$//; s/^/   /' "$f"
done
echo
echo "== The log line ($d/mail.log):"
echo
sed 's/^/   /' "$d/mail.log" 2>/dev/null
exit $rc
