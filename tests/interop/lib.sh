# lib.sh: what the interop scripts share (sourced, POSIX sh).
#
# The real programs of others (mail clients, MTAs) are run against the
# built mxsend, with the project's own test servers (fakesmtp, fakedns)
# on loopback. Every server a script starts is recorded in $PIDS and
# stopped by its PID when the script ends (trap); every wait is bounded.
#
# Each check ends in one line of $RESULTS (tab-separated):
#	PEER	VERSION	pass|fail|skip	DETAIL
# which run.sh turns into the compatibility table.

set -u

: "${top_builddir:?top_builddir must be set (the build directory)}"
: "${top_srcdir:?top_srcdir must be set (the source directory)}"
MXSEND=$top_builddir/src/mxsend
FAKESMTP=$top_builddir/tests/support/fakesmtp
FAKEDNS=$top_builddir/tests/support/fakedns
INTEROP=$top_srcdir/tests/interop
# Packages that would replace the system's MTA are unpacked here (fetch.sh).
PEERS_ROOT=${INTEROP_ROOT:-/var/tmp/mxsend-interop/root}
RESULTS=${RESULTS:-/dev/stdout}
PY=/usr/bin/python3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mxsend-interop.XXXXXX")
chmod 755 "$WORK"
PIDS=""

cleanup() {
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait_gone "$p" 30 || kill -KILL "$p" 2>/dev/null
	done
	PIDS=""
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_gone PID TENTHS: 0 once PID is gone, 1 if it still runs after that.
wait_gone() {
	n=0
	while kill -0 "$1" 2>/dev/null; do
		n=$((n + 1))
		[ "$n" -le "$2" ] || return 1
		sleep 0.1
	done
	return 0
}

# stop PID: TERM, at most 3 s, then KILL; forgotten by cleanup.
stop() {
	kill -TERM "$1" 2>/dev/null
	wait_gone "$1" 30 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	PIDS=$(echo " $PIDS " | sed "s/ $1 / /")
}

# result PEER VERSION STATUS DETAIL
result() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"
	printf '%-6s %s %s: %s\n' "$3" "$1" "$2" "$4" >&2
}

# pkg_version PACKAGE: the installed or unpacked version, else "-".
pkg_version() {
	v=$(dpkg-query -W -f '${Version}' "$1" 2>/dev/null)
	[ -n "$v" ] || v=$(cat "$PEERS_ROOT/../$1.version" 2>/dev/null)
	echo "${v:--}"
}

# wait_ready FILE TENTHS [PID]: the "ready" line of a test server in
# FILE; no longer than the server PID lives.
wait_ready() {
	n=0
	until grep -qx ready "$1" 2>/dev/null; do
		n=$((n + 1))
		[ "$n" -le "$2" ] || return 1
		[ -z "${3:-}" ] || kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
}

# start_fakesmtp NAME SCRIPT-TEXT [ARGS...]: fakesmtp on 127.0.0.1, its
# records in $WORK/NAME-rec; sets PORT and SPID.
start_fakesmtp() {
	name=$1
	printf '%s\n' "$2" >"$WORK/$name-script"
	shift 2
	"$FAKESMTP" --listen 127.0.0.1:0 --script "$WORK/$name-script" \
	    --record "$WORK/$name-rec" --lifetime 170 "$@" \
	    >"$WORK/$name-ready" 2>"$WORK/$name-err" &
	SPID=$!
	PIDS="$PIDS $SPID"
	wait_ready "$WORK/$name-ready" 100 || {
		echo "fakesmtp $name did not start:" >&2
		cat "$WORK/$name-err" >&2
		return 1
	}
	PORT=$(awk '$1 == "ready" && NF > 2 { print $3; exit }' \
	    "$WORK/$name-ready")
}

# start_fakedns ZONE-TEXT [ADDR:PORT]: fakedns there (default
# 127.0.0.1, a free port); sets DNSADDR and DNSPORT.
start_fakedns() {
	printf '%s\n' "$1" >"$WORK/zone"
	"$FAKEDNS" --listen "${2:-127.0.0.1:0}" --zone "$WORK/zone" \
	    --log "$WORK/dns.log" --lifetime 170 >"$WORK/dns-ready" \
	    2>"$WORK/dns-err" &
	PIDS="$PIDS $!"
	wait_ready "$WORK/dns-ready" 100 $! || {
		cat "$WORK/dns-err" >&2
		return 1
	}
	DNSADDR=$(awk '$1 == "ready" && NF > 2 { print $2; exit }' \
	    "$WORK/dns-ready")
	DNSPORT=$(awk '$1 == "ready" && NF > 2 { print $3; exit }' \
	    "$WORK/dns-ready")
}

# free_port: a TCP port free on 127.0.0.1 a moment ago.
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port HOST PORT TENTHS: something listens there.
wait_port() {
	n=0
	until "$PY" -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()' "$1" "$2" 2>/dev/null; do
		n=$((n + 1))
		[ "$n" -le "$3" ] || return 1
		sleep 0.1
	done
}

# mxsend's environment for a check: no file, the log and the queue in
# $WORK, unqualified names in client.test; the route is the caller's.
mxsend_env() {
	: >"$WORK/aliases"
	mkdir -p "$WORK/queue"
	chmod 1733 "$WORK/queue"
	export MXSEND_CONFIG=/dev/null
	export MXSEND_ALIASES="$WORK/aliases"
	export MXSEND_LOG="$WORK/mxsend.log"
	export MXSEND_QUEUE_DIR="$WORK/queue"
	export MXSEND_DEFAULT_DOMAIN=client.test
	export MXSEND_HELO=client.test
	export MXSEND_TIMEOUT_CONNECT=5 MXSEND_TIMEOUT_COMMAND=20
	export MXSEND_TIMEOUT_DATA=20
}

# relay_to PORT: mxsend delivers everything to a plain-text relay there.
relay_to() {
	export MXSEND_RELAY="smtp://127.0.0.1:$1"
	export MXSEND_RELAY_TLS=off
	export MXSEND_ROUTE=relay
}

# mx_via_dns PORT: mxsend looks up MX hosts at fakedns, port PORT.
mx_via_dns() {
	export MXSEND_NAMESERVER="$DNSADDR:$DNSPORT"
	export MXSEND_MX_PORT="$1"
	export MXSEND_ROUTE=mx
	unset MXSEND_RELAY MXSEND_RELAY_TLS 2>/dev/null || true
}

# intact CAPTURE DELIVERED SENDER RCPTS...: what the client handed its
# sendmail (CAPTURE) arrived whole (see intact.py; unqualified
# addresses in client.test); prints why not.
intact() {
	"$PY" "$INTEROP/intact.py" --domain client.test "$@"
}

# fakesmtp_msg NAME RCPT: the message (and beside it .env) that the
# fakesmtp NAME took for RCPT; prints its path.
fakesmtp_msg() {
	for env in "$WORK/$1-rec"/session-*.env-*; do
		[ -f "$env" ] || continue
		if grep -qix "accepted <$2>" "$env" &&
		    grep -q '^result 250' "$env"; then
			echo "$env" | sed 's/\.env-/.msg-/'
			return 0
		fi
	done
	return 1
}

# ---------------------------------------------------------------- Exim
# Exim (exim4-daemon-light, unpacked by fetch.sh) as an MX on loopback,
# for servers.sh and exim-dkim.sh.

EXIM=$PEERS_ROOT/usr/sbin/exim4

# exim_runnable PEER: sets EXIM_V to the unpacked package's version (or
# "-"); 1, with a skip row for PEER, when this machine cannot run it.
exim_runnable() {
	EXIM_V=$(cat "$PEERS_ROOT/../exim4-daemon-light.version" 2>/dev/null)
	EXIM_V=${EXIM_V:--}
	if [ ! -x "$EXIM" ]; then
		result "$1" "$EXIM_V" skip "exim4-daemon-light is not \
unpacked (tests/interop/fetch.sh)"
	elif [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
		result "$1" "$EXIM_V" skip "no mount namespace (not root)"
	else
		return 0
	fi
	return 1
}

# exim_conf DIR PORT [MAIN-EXTRA]: an Exim of its own in DIR, for
# exim.test and the sender's client.test (where its DSNs go), Maildirs
# DIR/mail/LOCAL/box for e1 and sender; MAIN-EXTRA: more main options.
exim_conf() {
	mkdir -p "$1/spool" "$1/log" "$1/mail"
	chown -R nobody:nogroup "$1/spool" "$1/log" "$1/mail"
	cat >"$1/exim.conf" <<EOC
primary_hostname = mx.exim.test
exim_path = $EXIM
keep_environment =
exim_user = nobody
exim_group = nogroup
never_users =
trusted_users = root
spool_directory = $1/spool
log_file_path = $1/log/%slog
pid_file_path = $1/exim.pid
local_interfaces = <; 127.0.0.1
daemon_smtp_ports = $2
host_lookup =
rfc1413_hosts =
chunking_advertise_hosts = *
dsn_advertise_hosts = *
pipelining_advertise_hosts = *
domainlist local_domains = exim.test : client.test
acl_smtp_rcpt = acl_rcpt
${3:-}

begin acl
acl_rcpt:
  accept domains = +local_domains
  deny message = relay not permitted

begin routers
maildir:
  driver = accept
  domains = +local_domains
  local_parts = e1 : sender
  transport = maildir

begin transports
maildir:
  driver = appendfile
  directory = $1/mail/\$local_part_data/box
  maildir_format
  create_directory
  return_path_add
  envelope_to_add
  user = nobody
  group = nogroup
  mode = 0644

begin retry
* * F,1h,10m
EOC
}

# exim_start DIR PORT: the Exim of DIR as a daemon on 127.0.0.1:PORT,
# in the foreground; sets EPID. Debian's Exim runs as Debian-exim, a
# user this machine need not have: Exim alone gets one (nobody's ids),
# in a mount namespace whose /etc/passwd and /etc/group have it; there
# DIR/resolv.conf, when there is one, is /etc/resolv.conf.
exim_start() {
	cp /etc/passwd "$1/passwd"
	cp /etc/group "$1/group"
	echo "Debian-exim:x:65534:65534::/nonexistent:/usr/sbin/nologin" \
	    >>"$1/passwd"
	echo "Debian-exim:x:65534:" >>"$1/group"
	unshare -m sh -c 'mount --make-rprivate / &&
	    mount --bind "$1/passwd" /etc/passwd &&
	    mount --bind "$1/group" /etc/group &&
	    { [ ! -f "$1/resolv.conf" ] ||
	    mount --bind "$1/resolv.conf" /etc/resolv.conf; } &&
	    exec "$2" -C "$1/exim.conf" -bdf -oX "$3"' - "$1" "$EXIM" \
	    "$2" >"$1/daemon.out" 2>&1 &
	EPID=$!
	PIDS="$PIDS $EPID"
	wait_port 127.0.0.1 "$2" 100
}
