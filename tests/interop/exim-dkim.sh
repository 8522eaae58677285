#!/bin/sh
# exim-dkim.sh: Exim as the receiving MX verifies mxsend's DKIM
# signatures (issue 19), for rsa-sha256 (RSA 2048) and ed25519-sha256.
#
# Four keys from `mxsend --dkim-genkey`: rsa and ed, whose TXT records
# (as genkey prints them) are published by fakedns, and rsa-other and
# ed-other, under whose selectors fakedns publishes the records of rsa
# and ed: a signature that cannot verify, so that the check can fail.
# mxsend delivers one message (100 KB, BDAT) per key to Exim as the MX
# of exim.test (found through the same fakedns). Exim looks the keys up
# in DNS with glibc's resolver, which knows no port: fakedns listens on
# port 53 of a loopback address of this run's own, named by the
# resolv.conf that Exim's mount namespace has (exim_start). Exim 4.96
# verifies every signature unasked; its main log must give each the
# verdict expected, in the line of log_selector +dkim_verbose:
#
#   DKIM: d=client.test s=rsa c=relaxed/relaxed a=rsa-sha256 b=2048
#       t=... [verification succeeded]
#   DKIM: d=client.test s=rsa-other ... [verification failed -
#       signature did not verify (headers probably modified in transit)]
#
# and in its default line of arrival: "<= ... DKIM=client.test" when the
# signature verified, no DKIM= when not.
. "$(dirname "$0")/lib.sh"

PEER="Exim (DKIM verifier)"
SENDER=dkim@client.test
DOMAIN=client.test

# genkey SELECTOR ALG: a key in $WORK/keys; its TXT record's strings
# (as --dkim-genkey prints them, in quotes) in $WORK/keys/SELECTOR.txt.
genkey() {
	(cd "$WORK/keys" && "$MXSEND" --dkim-genkey "$1" "$DOMAIN" "$2") \
	    >"$WORK/keys/$1.out" 2>&1 || {
		echo "--dkim-genkey $1 $DOMAIN $2: $(head -c 300 \
"$WORK/keys/$1.out")"
		return 1
	}
	sed -n "s/^$1\._domainkey\.$DOMAIN\. IN TXT ( \(.*\) )\$/\1/p" \
	    "$WORK/keys/$1.out" >"$WORK/keys/$1.txt"
	[ -s "$WORK/keys/$1.txt" ] || {
		echo "--dkim-genkey $1 printed no TXT record"
		return 1
	}
}

# zone: the MX of exim.test, and for every selector the record it is
# published with (that of rsa under rsa-other, of ed under ed-other).
zone() {
	echo "exim.test. MX 10 mx.exim.test."
	echo "mx.exim.test. A 127.0.0.1"
	for s in rsa:rsa rsa-other:rsa ed:ed ed-other:ed; do
		echo "${s%:*}._domainkey.$DOMAIN. TXT $(cat \
"$WORK/keys/${s#*:}.txt")"
	done
}

# dns_on_53: fakedns on port 53 of 127.53.N.1, N of this run (another
# at most 4 times when that address is taken).
# ("try", not "n": the shell's variables are global, wait_ready's n.)
dns_on_53() {
	try=0
	while [ $try -lt 5 ]; do
		a=127.53.$((($$ + try) % 250 + 1)).1
		start_fakedns "$(zone)" "$a:53" 2>>"$WORK/dns-tries" &&
		    return 0
		try=$((try + 1))
	done
	echo "fakedns did not start on port 53: $(tail -n 1 \
"$WORK/dns-tries")"
	return 1
}

# message SELECTOR: a message as a mail client writes it (a folded
# header, 8-bit text, a dot line, a line of 998 octets, trailing blanks
# and blank lines), of about 100 KB: Exim takes it in BDAT chunks.
message() {
	printf 'From: DKIM Sender <%s>\n' "$SENDER"
	printf 'To: e1@exim.test\n'
	printf 'Subject: signed with %s,\n\tfolded =?UTF-8?Q?=C3=BC?=\n' "$1"
	printf 'Message-ID: <dkim.%s@client.test>\n' "$1"
	printf 'Date: Mon, 07 Dec 2026 10:00:00 +0000\n'
	printf 'MIME-Version: 1.0\n'
	printf 'Content-Type: text/plain; charset=UTF-8\n'
	printf 'Content-Transfer-Encoding: 8bit\n\n'
	printf 'Grüße aus %s\n.\n..two dots\nFrom the start  \n' "$1"
	head -c 998 /dev/zero | tr '\0' y
	printf '\n'
	seq -f 'body line %05g, signed and verified as one of 2000' 2000
	printf 'the end \t \n\n\n'
}

# send SELECTOR: that message, signed with that selector's key, to
# e1@exim.test; prints what went wrong, if anything.
send() {
	message "$1" >"$WORK/$1.eml"
	MXSEND_DKIM_DOMAIN=$DOMAIN MXSEND_DKIM_SELECTOR=$1 \
	    MXSEND_DKIM_KEY="$WORK/keys/$1._domainkey.$DOMAIN.key" \
	    "$MXSEND" -oi -f "$SENDER" e1@exim.test <"$WORK/$1.eml" \
	    >"$WORK/$1.send" 2>&1 ||
	    echo "$1: mxsend exit $?: $(head -c 300 "$WORK/$1.send")"
}

# verdict LOG SELECTOR ALG VERDICT: Exim's line for the signature of
# SELECTOR (log_selector +dkim_verbose) says VERDICT; and its default
# line of arrival ("<=") has DKIM=DOMAIN exactly when that signature
# verified. Prints what Exim logged instead.
verdict() {
	line=$(grep -F " DKIM: d=$DOMAIN s=$2 " "$1")
	case $line in
	*" c=relaxed/relaxed a=$3 "*" [$4]")
		echo "$line" | sed 's/^/exim: /' >&2 ;;
	"")	echo "$2: no DKIM line in Exim's log" ;;
	*)	echo "$2: $line" ;;
	esac
	arrival=$(grep -F " id=dkim.$2@$DOMAIN" "$1" | grep -F " <= ")
	case $4:$arrival in
	"verification succeeded:"*" DKIM=$DOMAIN "*) ;;
	"verification succeeded:"*|*" DKIM="*)
		echo "$2: arrival: ${arrival:-none}" ;;
	esac
}

# What is wrong after the four messages, if anything.
exim_dkim_check() {
	log=$1/log/mainlog
	ok="verification succeeded"
	bad="verification failed - signature did not verify (headers \
probably modified in transit)"
	verdict "$log" rsa rsa-sha256 "$ok"
	verdict "$log" rsa-other rsa-sha256 "$bad"
	verdict "$log" ed ed25519-sha256 "$ok"
	verdict "$log" ed-other ed25519-sha256 "$bad"
	# Exim asked fakedns, not the machine's resolver.
	grep -qi "rsa._domainkey.$DOMAIN" "$WORK/dns.log" ||
	    echo "fakedns saw no query for rsa._domainkey.$DOMAIN"
	n=$(grep -c "<= $SENDER .* id=dkim\." "$log")
	[ "$n" -eq 4 ] || echo "Exim accepted $n of the 4 messages"
	n=$(grep -c "> BDAT [0-9]* LAST" "$WORK/transcript")
	[ "$n" -eq 4 ] || echo "$n of the 4 messages went with BDAT"
}

exim_dkim() {
	exim_runnable "$PEER" || return
	v=$EXIM_V
	mkdir -p "$WORK/keys"
	why=$(genkey rsa rsa && genkey rsa-other rsa && genkey ed ed25519 &&
	    genkey ed-other ed25519)
	# Not in $(...): fakedns's PID and address are for this shell.
	[ -n "$why" ] || dns_on_53 >"$WORK/dns-why" || why=$(cat \
"$WORK/dns-why")
	[ -z "$why" ] || { result "$PEER" "$v" fail "$why"; return; }
	d=$WORK/exim
	port=$(free_port)
	exim_conf "$d" "$port" "tls_advertise_hosts =
log_selector = +dkim_verbose"
	printf 'nameserver %s\noptions attempts:2 timeout:2\n' "$DNSADDR" \
	    >"$d/resolv.conf"
	if ! exim_start "$d" "$port"; then
		result "$PEER" "$v" fail "did not start: $(head -c 300 \
"$d/daemon.out") $(tail -n 3 "$d/log/paniclog" 2>/dev/null)"
		return
	fi
	mx_via_dns "$port"
	why=$(for s in rsa rsa-other ed ed-other; do send $s; done)
	[ -n "$why" ] || why=$(exim_dkim_check "$d")
	stop "$EPID"
	if [ -z "$why" ]; then
		result "$PEER" "$v" pass "MX route signed with keys of \
--dkim-genkey, records from its output: rsa-sha256 (RSA 2048) and \
ed25519-sha256 \"verification succeeded\"; a record of another key \
\"verification failed\" for each"
	else
		result "$PEER" "$v" fail "$(echo "$why" | tr '\n' ';')"
	fi
}

mxsend_env
export MXSEND_TRANSCRIPT="$WORK/transcript"
exim_dkim
exit 0
