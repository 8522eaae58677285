/*
 * fakesmtp: a scriptable SMTP server for mxsend's tests.  It plays MX hosts
 * and relays on loopback addresses, answers as a small script says, injects
 * faults, and records everything the client sent, so that a test can assert
 * on it afterwards.  It follows RFC 5321 (the session), 2920 (PIPELINING),
 * 3030 (CHUNKING), 1870 (SIZE), 3207 (STARTTLS), 8314 (implicit TLS), 4954
 * (AUTH), 4616 (PLAIN), 2195 (CRAM-MD5), 5802 and 7677 (SCRAM-SHA-256),
 * 7628 (OAUTHBEARER), and XOAUTH2 as Google and Microsoft document it.
 *
 * COMMAND LINE
 *
 *	fakesmtp --listen ADDR:PORT [--listen ...] [--listen-tls ADDR:PORT]
 *	    [--script FILE] [--record DIR] [--tls-cert CERT --tls-key KEY]
 *	    [--max-sessions N] [--lifetime SECONDS]
 *
 *	--listen ADDR:PORT	serve SMTP there: "127.0.0.2:2525", "[::1]:0";
 *				port 0 picks a free port.  Only loopback
 *				addresses (127.0.0.0/8, ::1) are accepted.
 *				Repeatable (16 listeners at most, all with the
 *				same script).
 *	--listen-tls ADDR:PORT	the same with implicit TLS (RFC 8314): the
 *				handshake comes before the greeting.
 *	--script FILE		the script (below); without one the server
 *				advertises no extension and accepts all.
 *	--record DIR		record the sessions there (created if
 *				missing); without it nothing is recorded.
 *	--tls-cert, --tls-key	PEM certificate (chain) and key for STARTTLS
 *				and --listen-tls.
 *	--max-sessions N	accept N connections (default 100), then close
 *				the listeners, let the sessions end, and exit.
 *	--lifetime SECONDS	exit after that long in any case (default 60).
 *
 * Once listening it prints, and flushes, one line per listener, then
 * "ready" alone:
 *
 *	ready 127.0.0.1 41234 pid 4711
 *	ready ::1 41235 pid 4711 tls
 *	ready
 *
 * Each connection is served by a process of its own, so a stalled session
 * blocks no other.  SIGTERM or SIGINT stops the server: each session first
 * handles the input that already arrived, writes its records and exits; a
 * session still alive 1.5 s later is killed.  Exit status 0, or 1 for a bad
 * command line or script (with a message on stderr).
 *
 * SCRIPT
 *
 * One directive per line.  Blank lines and lines whose first non-blank is
 * "#" are ignored; words are separated by blanks.
 *
 *	hostname NAME		the name in the default replies (default
 *				fakesmtp.test)
 *	ext TEXT		advertise TEXT as one EHLO extension line, in
 *				script order: "ext PIPELINING", "ext SIZE
 *				10240000", "ext AUTH PLAIN LOGIN CRAM-MD5".
 *	tls-ext [TEXT]		an extension line advertised once TLS is up.
 *				Without any tls-ext line, the ext lines but
 *				STARTTLS are used; a bare "tls-ext" line
 *				allows an empty list.
 *	user NAME PASSWORD	an account for AUTH (repeatable); for XOAUTH2
 *				and OAUTHBEARER the PASSWORD is the access
 *				token (script lines may be 128 KiB long)
 *	auth-fail TEXT		the reply to a failed AUTH exchange, any
 *				mechanism (escapes as for reply), instead of
 *				535 5.7.8: "auth-fail 535 5.7.139
 *				Authentication unsuccessful, basic
 *				authentication is disabled"
 *	scram-salt BASE64	SCRAM-SHA-256 salt (default: the octets
 *				"fakesmtp-salt")
 *	scram-iterations N	SCRAM-SHA-256 iteration count (default 4096)
 *	scram-nonce TEXT	the server's part of the SCRAM nonce (default
 *				random); fixed, it lets a test replay RFC
 *				7677's example exchange
 *	latency MS		sleep MS milliseconds before the greeting and
 *				whenever a new batch of input arrives (see
 *				session-N.log), to play a distant server
 *	tls-priority STRING	GnuTLS priority string for the server's TLS
 *				sessions, instead of the defaults: "NORMAL:
 *				-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0" plays a
 *				server that speaks only TLS 1.0 and 1.1 (checked
 *				at start-up: a bad one is a script error)
 *	starttls-plain		a 220 to STARTTLS is not followed by TLS: the
 *				session goes on in plain text and the client's
 *				handshake is read as a command line, as a man
 *				in the middle stripping STARTTLS would do
 *	lenient			do not refuse MAIL/RCPT parameters, BDAT or
 *				AUTH of extensions that were not advertised
 *	STAGE [COND...] ACTION	a rule (below)
 *	+ TEXT			one more line for the reply of the rule just
 *				above (multi-line replies)
 *
 * Stages, and what happens when no rule matches:
 *
 *	greeting	on connection: 220 HOST ESMTP fakesmtp
 *	ehlo		250-HOST, then the extension lines
 *	helo		250 HOST
 *	starttls	220 2.0.0 Ready to start TLS, or 454 4.7.0 without
 *			--tls-cert; a 220 from a rule also starts TLS
 *	auth		the SASL exchange, checked against the user lines:
 *			235 2.7.0 or 535 5.7.8; a rule that matches answers
 *			the AUTH command itself instead (e.g. 454 4.7.0).
 *			XOAUTH2 and OAUTHBEARER: a token that is not the
 *			user's gets the 334 error challenge (base64 of
 *			{"status":"401","schemes":"bearer","scope":...},
 *			RFC 7628 section 3.2.2), then, whatever the client
 *			answers (it should send %x01, or "" for XOAUTH2;
 *			"*" cancels), the failure reply
 *	mail		250 2.1.0 Ok
 *	rcpt		250 2.1.5 Ok
 *	data		354 End data with <CR><LF>.<CR><LF>
 *	eod		end of the message (final "." or BDAT ... LAST):
 *			250 2.0.0 Ok: queued as SnTm
 *	bdat		after a BDAT chunk but the last: 250 2.0.0 Ok: n
 *			octets
 *	body		while the message content arrives (after DATA's
 *			354, or in BDAT chunks), once octets=N octets of it
 *			have been read (default 1; with DATA counted as
 *			sent, dot-stuffed): a server that breaks in the
 *			middle of the message.  No default action; a rule
 *			acts there and the session then ends, whatever the
 *			action ("reply" sends its text, then closes; "stall"
 *			stops reading, so a client still sending blocks).
 *			match= sees the DATA or first BDAT command line;
 *			nth= counts the messages
 *	rset, noop	250 2.0.0 Ok
 *	quit		221 2.0.0 Bye, then close
 *	unknown		other commands: 502 5.5.2 Error: command not
 *			recognized
 *
 * Conditions (all must hold; the first matching rule of a stage wins):
 *
 *	nth=N		the Nth command of this stage in the session (eod:
 *			the Nth message; bdat counts every BDAT)
 *	session=N	the Nth connection the server accepted
 *	txn=N		the Nth transaction of the session (counting accepted
 *			MAILs; at mail, the one this MAIL would open)
 *	after=N		at least N recipients already accepted in this
 *			transaction: "rcpt after=2 reply 452 4.5.3 Too many
 *			recipients"
 *	octets=N	(body only) act once N octets of content arrived
 *	match=TEXT	the command line contains TEXT, ignoring case:
 *			"rcpt match=<bad@example.com> reply 550 5.1.1 No"
 *	local=ADDR	the connection came to the listener on ADDR
 *	tls, plain	the session is, or is not, under TLS
 *	delay=MS	not a condition: wait MS milliseconds, then act
 *
 * Actions:
 *
 *	reply TEXT	send TEXT and CRLF (and the "+" lines after the rule,
 *			each with CRLF).  TEXT goes out as written, so "reply
 *			25 ok" or "reply abc" are malformed replies.  Escapes:
 *			\r \n \t \\ \xHH.  Its first three digits are the code
 *			that drives the session: 2xx to MAIL opens the
 *			transaction, 2xx to RCPT accepts the recipient, 354
 *			to DATA reads the message, 220 to STARTTLS starts
 *			TLS, 2xx to EHLO/HELO is the greeting done, 235 to
 *			AUTH authenticates.
 *	raw TEXT	send TEXT (escapes decoded) and no CRLF
 *	close		close the connection without a reply
 *	stall S		reply nothing for S seconds (fractions allowed),
 *			then close
 *	long N		send a reply line of N octets (default 102400),
 *			"250 xxx...", without CRLF, then hold
 *	endless N	send "250-" lines, N of them (default 200000) but
 *			never a last line, then hold; stops early when the
 *			client disconnects
 *	garbage N	send N octets (default 1024) of binary garbage, then
 *			hold
 *	reset		abort the connection: SO_LINGER 0, then close, so
 *			the client gets a TCP RST (ECONNRESET), not an end
 *			of file
 *	tls-alert	(starttls only) answer 220 2.0.0 Ready to start TLS,
 *			wait (at most 10 s) for the client's first TLS
 *			record (its ClientHello), answer it with a fatal
 *			TLS alert record (handshake_failure), then close:
 *			a handshake that fails after a 220.  session-N.tls
 *			says "failed alert sent"
 *
 * "hold": read and discard input until the client closes, at most 30 s,
 * then close.  The greeting and eod have no command line for match=.
 *
 * Before any rule, client errors get what a real server would say:
 * commands out of sequence 503 5.5.1 (MAIL before EHLO/HELO, nested MAIL,
 * RCPT without MAIL, AUTH twice or not offered, BDAT without CHUNKING is
 * 502 5.5.1), DATA or BDAT without an accepted recipient 554 5.5.1, syntax
 * 501 5.5.4, a parameter whose extension was not advertised 555 5.5.4 (DSN
 * NOTIFY/ORCPT/RET/ENVID, SIZE, BODY, SMTPUTF8, AUTH=), SIZE= above the
 * advertised SIZE 552 5.3.4 (also at eod for a larger message), command
 * lines over 64 KiB 500 5.5.2 (an AUTH response may have 128 KiB).
 * Commands that arrive with STARTTLS, after it, are logged but discarded
 * (RFC 3207 section 5).  After TLS the session starts over: EHLO/HELO
 * again, no transaction, not authenticated.
 *
 * Example:
 *
 *	ext PIPELINING
 *	ext SIZE 1000000
 *	ext STARTTLS
 *	tls-ext PIPELINING
 *	tls-ext AUTH PLAIN SCRAM-SHA-256
 *	user alice secret
 *	rcpt match=<nobody@ reply 550 5.1.1 No such user
 *	rcpt after=10 reply 452 4.5.3 Too many recipients
 *	eod session=1 close
 *	ehlo nth=1 reply 250-fakesmtp.test
 *	+ 250 8BITMIME
 *
 * RECORDS (in --record DIR; N the session, M the transaction, from 1)
 *
 *	session-N.log	every line the client sent outside message content,
 *			as "B<k> <line>".  k numbers the batches: lines that
 *			arrived in one flight, before the server replied to
 *			any of them, share k; a pipelined MAIL, RCPT, RCPT,
 *			DATA shows four lines with one k.  The end of a DATA
 *			message is logged as "."; BDAT chunks are not logged.
 *			AUTH responses are logged as sent.  The numbering
 *			goes on after STARTTLS.
 *	session-N.info	"local ADDR PORT", "peer ADDR PORT", then a line per
 *			AUTH exchange: "auth MECH USER ok" or "... failed"
 *			(for XOAUTH2 and OAUTHBEARER: ok when the token was
 *			the user's), after "oauthbearer host=H port=P" with
 *			what an OAUTHBEARER response named
 *	session-N.tls	"tls", "mode starttls" or "mode implicit", "sni NAME"
 *			if the client sent one, "version TLS1.3"; or "failed
 *			MESSAGE" if the handshake failed
 *	session-N.msg-M	the message of transaction M exactly as received:
 *			dot-unstuffed for DATA (the CRLF before the final "."
 *			is part of it), the chunks concatenated for BDAT
 *	session-N.env-M	the MAIL and RCPT command lines as received, then
 *			"accepted <ADDR>" or "rejected <ADDR> CODE" per RCPT,
 *			"auth USER" if authenticated, "bare-lf N" if the DATA
 *			had N LFs without a CR before them, and last "result
 *			CODE" (end-of-data or failed BDAT reply), "result
 *			rset", "result fault" (an eod fault) or "result
 *			aborted" (the session ended, EHLO, STARTTLS)
 *	session-N.done	written last, when the session ends: "quit", "eof",
 *			"fault", "tls-failed" or "terminated"
 *
 * Log lines (one write each) and message octets are written as they
 * arrive, a command line before its reply.  The .env, .tls and .done files
 * appear whole (written aside, then renamed); the .env file before the
 * end-of-data reply goes out, so a client that saw the reply finds it.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#define MAX_LISTEN	16
#define INBUF		131072	/* an AUTH response: a 64 KiB token */
#define CMD_MAX		65536	/* a command line */
#define OUTBUF		65536
#define HOLD_MS		30000
#define TERM_GRACE_MS	1500

enum stage {
	ST_GREETING, ST_EHLO, ST_HELO, ST_STARTTLS, ST_AUTH, ST_MAIL,
	ST_RCPT, ST_DATA, ST_EOD, ST_BDAT, ST_BODY, ST_RSET, ST_NOOP,
	ST_QUIT, ST_UNKNOWN, ST_COUNT
};

static const char *const stage_names[ST_COUNT] = {
	"greeting", "ehlo", "helo", "starttls", "auth", "mail", "rcpt",
	"data", "eod", "bdat", "body", "rset", "noop", "quit", "unknown"
};

/* Replies first: everything after ACT_RAW ends the session. */
enum action {
	ACT_REPLY, ACT_RAW, ACT_CLOSE, ACT_STALL, ACT_LONG, ACT_ENDLESS,
	ACT_GARBAGE, ACT_RESET, ACT_TLS_ALERT
};

struct strbuf {
	char		*s;
	size_t		 len;
	size_t		 cap;
};

struct rule {
	enum stage	 stage;
	long		 nth, session, txn, after;
	long		 octets;	/* body: act after this many */
	int		 tls;		/* -1 either, 0 plain, 1 TLS */
	char		*match;
	char		*local;
	long		 delay_ms;
	enum action	 action;
	long		 arg;		/* ms, octets or lines */
	struct strbuf	 text;		/* the octets of reply/raw */
	int		 code;
	int		 lineno;
};

struct user {
	char		*name;
	char		*pass;
};

struct script {
	char		 hostname[256];
	char		**ext;
	size_t		 next;
	char		**tlsext;
	size_t		 ntlsext;
	int		 tlsext_set;
	struct user	*users;
	size_t		 nusers;
	unsigned char	 salt[128];
	size_t		 saltlen;
	unsigned	 iter;
	char		*snonce;
	long		 latency_ms;
	int		 lenient;
	char		*tls_priority;	/* NULL: GnuTLS's defaults */
	int		 starttls_plain;	/* no TLS after a 220 */
	struct strbuf	 authfail;	/* the reply to a failed exchange */
	struct rule	*rules;
	size_t		 nrules;
};

struct listener {
	int		 fd;
	int		 tls;
	char		 addr[INET6_ADDRSTRLEN];
	unsigned	 port;
};

/* The DATA dot-unstuffing states (RFC 5321 section 4.5.2). */
enum dstate { D_BOL, D_DOT, D_DOTCR, D_MID, D_CR };

struct sess {
	int		 fd;
	gnutls_session_t tls;
	int		 tls_on;
	int		 implicit;
	unsigned	 n;
	char		 local[INET6_ADDRSTRLEN];
	const char	*end;		/* why the session ended, or NULL */
	int		 dead;		/* the connection failed */
	int		 termed;	/* SIGTERM seen: no more waiting */

	unsigned char	 in[INBUF + 1];
	size_t		 inoff, inlen;
	char		 out[OUTBUF];
	size_t		 outlen;
	unsigned	 batch;
	int		 replied;	/* a reply went out in this batch */
	int		 toolong;
	int		 reset;		/* end with a TCP RST */

	int		 logfd;
	long		 nth[ST_COUNT];
	int		 helo;
	int		 authed;
	char		 authuser[256];
	char		 err[512];

	int		 in_txn;
	unsigned	 ntxn;
	struct strbuf	 envcmds;
	struct strbuf	 envres;
	long		 naccepted;
	int		 msgfd;
	int		 bdat;
	unsigned long long msgsize;
	unsigned long	 bare_lf;
	enum dstate	 dstate;
	const struct rule *body_rule;	/* the body stage's, or NULL */
	unsigned long long body_octets;	/* content octets read so far */
};

static struct script sc;
static gnutls_certificate_credentials_t creds;
static const char *record_dir;
static volatile sig_atomic_t got_term;
static long deadline_ms;

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("fakesmtp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n == 0 ? 1 : n)) == NULL)
		die("out of memory");
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = xrealloc(NULL, strlen(s) + 1);

	memcpy(p, s, strlen(s) + 1);
	return p;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* Sleep, but wake up for SIGTERM. */
static void
nap(long ms)
{
	long until = now_ms() + ms, left;
	struct timespec ts;

	while (!got_term && (left = until - now_ms()) > 0) {
		if (left > 100)
			left = 100;
		ts.tv_sec = 0;
		ts.tv_nsec = left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

static void
sb_add(struct strbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct strbuf *b, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_add(b, buf, (size_t)n < sizeof(buf) ? (size_t)n :
		    sizeof(buf) - 1);
}

/* Does hay contain needle, ignoring ASCII case? */
static int
ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return n == 0;
}

/* ------------------------------------------------------------ base64 */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* out needs 4 * ((n + 2) / 3) + 1 octets. */
static void
b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;
	unsigned long v;

	for (i = 0; i < n; i += 3) {
		v = (unsigned long)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned long)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64chars[(v >> 18) & 63];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
	}
	out[o] = '\0';
}

static int
b64_decode(const char *in, unsigned char *out, size_t size, size_t *outlen)
{
	size_t i, o = 0, len = strlen(in);
	unsigned long v = 0;
	const char *p;
	int bits = 0, pad = 0;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (in[i] == '=') {
			if (i + 2 < len)
				return -1;
			pad = 1;
			continue;
		}
		if (pad || (p = strchr(b64chars, in[i])) == NULL)
			return -1;
		v = ((v << 6) | (unsigned long)(p - b64chars)) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (o >= size)
				return -1;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	*outlen = o;
	return 0;
}

/* ------------------------------------------------------------ script */

static char *
next_word(char **pp)
{
	char *p = *pp, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0') {
		*pp = p;
		return NULL;
	}
	w = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*pp = p;
	return w;
}

static long
parse_num(const char *s, long min, long max, const char *what, int lineno)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		die("script line %d: bad %s \"%s\"", lineno, what, s);
	return v;
}

static void
decode_text(const char *in, struct strbuf *out, int lineno)
{
	char c, hex[3];

	for (; *in != '\0'; in++) {
		if (*in != '\\') {
			sb_add(out, in, 1);
			continue;
		}
		switch (*++in) {
		case 'r':
			c = '\r';
			break;
		case 'n':
			c = '\n';
			break;
		case 't':
			c = '\t';
			break;
		case '\\':
			c = '\\';
			break;
		case 'x':
			if (!isxdigit((unsigned char)in[1]) ||
			    !isxdigit((unsigned char)in[2]))
				die("script line %d: bad \\x escape", lineno);
			hex[0] = in[1];
			hex[1] = in[2];
			hex[2] = '\0';
			c = (char)strtol(hex, NULL, 16);
			in += 2;
			break;
		default:
			die("script line %d: bad escape", lineno);
		}
		sb_add(out, &c, 1);
	}
}

static int
reply_code(const struct strbuf *t)
{
	if (t->len >= 3 && isdigit((unsigned char)t->s[0]) &&
	    isdigit((unsigned char)t->s[1]) &&
	    isdigit((unsigned char)t->s[2]))
		return (t->s[0] - '0') * 100 + (t->s[1] - '0') * 10 +
		    (t->s[2] - '0');
	return 0;
}

/* The action of rule r: word w, then the rest of its line, p. */
static void
parse_action(struct rule *r, char *w, char *p, int lineno)
{
	char *v;
	double secs;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strcmp(w, "reply") == 0 || strcmp(w, "raw") == 0) {
		r->action = w[1] == 'e' ? ACT_REPLY : ACT_RAW;
		decode_text(p, &r->text, lineno);
		if (r->action == ACT_REPLY)
			sb_add(&r->text, "\r\n", 2);
		r->code = reply_code(&r->text);
		return;
	}
	v = next_word(&p);
	if (next_word(&p) != NULL)
		die("script line %d: junk after %s", lineno, w);
	if (strcmp(w, "close") == 0) {
		if (v != NULL)
			die("script line %d: junk after close", lineno);
		r->action = ACT_CLOSE;
	} else if (strcmp(w, "stall") == 0) {
		r->action = ACT_STALL;
		if (v == NULL || (secs = strtod(v, &w)) < 0 || *w != '\0' ||
		    secs > 3600)
			die("script line %d: stall needs seconds", lineno);
		r->arg = (long)(secs * 1000);
	} else if (strcmp(w, "long") == 0) {
		r->action = ACT_LONG;
		r->arg = v ? parse_num(v, 5, 1L << 30, w, lineno) : 102400;
	} else if (strcmp(w, "endless") == 0) {
		r->action = ACT_ENDLESS;
		r->arg = v ? parse_num(v, 1, 1L << 30, w, lineno) : 200000;
	} else if (strcmp(w, "garbage") == 0) {
		r->action = ACT_GARBAGE;
		r->arg = v ? parse_num(v, 1, 1L << 30, w, lineno) : 1024;
	} else if (strcmp(w, "reset") == 0 && v == NULL) {
		r->action = ACT_RESET;
	} else if (strcmp(w, "tls-alert") == 0 && v == NULL &&
	    r->stage == ST_STARTTLS) {
		r->action = ACT_TLS_ALERT;
	} else
		die("script line %d: unknown action %s", lineno, w);
}

static void
parse_rule(enum stage st, char *p, int lineno)
{
	struct rule *r;
	char *w, *v;

	sc.rules = xrealloc(sc.rules, (sc.nrules + 1) * sizeof(*sc.rules));
	r = &sc.rules[sc.nrules++];
	memset(r, 0, sizeof(*r));
	r->stage = st;
	r->tls = -1;
	r->octets = 1;
	r->lineno = lineno;
	for (;;) {
		if ((w = next_word(&p)) == NULL)
			die("script line %d: rule without an action", lineno);
		if (strcmp(w, "tls") == 0) {
			r->tls = 1;
			continue;
		}
		if (strcmp(w, "plain") == 0) {
			r->tls = 0;
			continue;
		}
		if ((v = strchr(w, '=')) == NULL)
			break;
		*v++ = '\0';
		if (strcmp(w, "nth") == 0)
			r->nth = parse_num(v, 1, LONG_MAX, w, lineno);
		else if (strcmp(w, "session") == 0)
			r->session = parse_num(v, 1, LONG_MAX, w, lineno);
		else if (strcmp(w, "txn") == 0)
			r->txn = parse_num(v, 1, LONG_MAX, w, lineno);
		else if (strcmp(w, "after") == 0)
			r->after = parse_num(v, 1, LONG_MAX, w, lineno);
		else if (strcmp(w, "octets") == 0 && st == ST_BODY)
			r->octets = parse_num(v, 1, LONG_MAX, w, lineno);
		else if (strcmp(w, "delay") == 0)
			r->delay_ms = parse_num(v, 0, 3600000, w, lineno);
		else if (strcmp(w, "match") == 0)
			r->match = xstrdup(v);
		else if (strcmp(w, "local") == 0)
			r->local = xstrdup(v);
		else
			die("script line %d: unknown condition %s", lineno, w);
	}
	parse_action(r, w, p, lineno);
}

static void
add_line(char ***list, size_t *n, const char *s)
{
	*list = xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = xstrdup(s);
}

/*
 * A script line that sets something (not a rule): returns 1 when w was
 * one, 0 when it is not a setting's name.
 */
static int
parse_setting(const char *w, char *p, int lineno)
{
	char *a;

	if (strcmp(w, "ext") == 0) {
		if (*p == '\0')
			die("script line %d: ext needs text", lineno);
		add_line(&sc.ext, &sc.next, p);
	} else if (strcmp(w, "tls-ext") == 0) {
		sc.tlsext_set = 1;
		if (*p != '\0')
			add_line(&sc.tlsext, &sc.ntlsext, p);
	} else if (strcmp(w, "hostname") == 0) {
		if ((a = next_word(&p)) == NULL ||
		    strlen(a) >= sizeof(sc.hostname))
			die("script line %d: bad hostname", lineno);
		memcpy(sc.hostname, a, strlen(a) + 1);
	} else if (strcmp(w, "user") == 0) {
		sc.users = xrealloc(sc.users,
		    (sc.nusers + 1) * sizeof(*sc.users));
		if ((a = next_word(&p)) == NULL ||
		    (w = next_word(&p)) == NULL)
			die("script line %d: user NAME PASSWORD",
			    lineno);
		sc.users[sc.nusers].name = xstrdup(a);
		sc.users[sc.nusers++].pass = xstrdup(w);
	} else if (strcmp(w, "scram-salt") == 0) {
		if ((a = next_word(&p)) == NULL ||
		    b64_decode(a, sc.salt, sizeof(sc.salt),
		    &sc.saltlen) != 0 || sc.saltlen == 0)
			die("script line %d: bad salt", lineno);
	} else if (strcmp(w, "scram-iterations") == 0) {
		if ((a = next_word(&p)) == NULL)
			die("script line %d: no count", lineno);
		sc.iter = (unsigned)parse_num(a, 1, 10000000,
		    "iteration count", lineno);
	} else if (strcmp(w, "scram-nonce") == 0) {
		if ((a = next_word(&p)) == NULL || strchr(a, ',') ||
		    strlen(a) > 200)
			die("script line %d: bad nonce", lineno);
		sc.snonce = xstrdup(a);
	} else if (strcmp(w, "latency") == 0) {
		if ((a = next_word(&p)) == NULL)
			die("script line %d: no latency", lineno);
		sc.latency_ms = parse_num(a, 0, 60000, "latency",
		    lineno);
	} else if (strcmp(w, "lenient") == 0) {
		sc.lenient = 1;
	} else if (strcmp(w, "tls-priority") == 0) {
		if (*p == '\0')
			die("script line %d: tls-priority needs a string",
			    lineno);
		sc.tls_priority = xstrdup(p);
	} else if (strcmp(w, "starttls-plain") == 0) {
		sc.starttls_plain = 1;
	} else if (strcmp(w, "auth-fail") == 0) {
		sc.authfail.len = 0;
		decode_text(p, &sc.authfail, lineno);
		sb_add(&sc.authfail, "\r\n", 2);
	} else
		return 0;
	return 1;
}

static void
parse_script(const char *path)
{
	static char line[INBUF];	/* a user line with a long token */
	char *p, *w;
	FILE *f;
	size_t i, len;
	int lineno = 0, st, last_reply = 0;

	if ((f = fopen(path, "r")) == NULL)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n')
			die("script line %d: too long", lineno);
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		p = line;
		if ((w = next_word(&p)) == NULL || *w == '#')
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strcmp(w, "+") == 0) {
			if (!last_reply)
				die("script line %d: \"+\" not after a reply",
				    lineno);
			decode_text(p, &sc.rules[sc.nrules - 1].text, lineno);
			sb_add(&sc.rules[sc.nrules - 1].text, "\r\n", 2);
			continue;
		}
		last_reply = 0;
		if (parse_setting(w, p, lineno)) {
			;
		} else {
			for (st = 0; st < ST_COUNT; st++)
				if (strcmp(w, stage_names[st]) == 0)
					break;
			if (st == ST_COUNT)
				die("script line %d: unknown directive %s",
				    lineno, w);
			parse_rule((enum stage)st, p, lineno);
			last_reply = sc.rules[sc.nrules - 1].action ==
			    ACT_REPLY;
		}
	}
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	if (!sc.tlsext_set)
		for (i = 0; i < sc.next; i++)
			if (strncasecmp(sc.ext[i], "STARTTLS", 8) != 0 ||
			    (sc.ext[i][8] != '\0' && sc.ext[i][8] != ' '))
				add_line(&sc.tlsext, &sc.ntlsext, sc.ext[i]);
}

/* ------------------------------------------------------------ records */

static int
rec_open(const struct sess *s, const char *suffix, int flags)
{
	char path[PATH_MAX];

	if (record_dir == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/session-%u.%s", record_dir, s->n,
	    suffix);
	return open(path, O_WRONLY | O_CREAT | flags, 0644);
}

static void
write_fd(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (fd >= 0 && n > 0) {
		if ((w = write(fd, c, n)) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		c += w;
		n -= (size_t)w;
	}
}

/* Replace a whole record file at once, so that no reader sees it half-done. */
static void
rec_replace(const struct sess *s, const char *suffix, const void *p,
    size_t n)
{
	char tmp[64], path[PATH_MAX], npath[PATH_MAX];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", suffix);
	if ((fd = rec_open(s, tmp, O_TRUNC)) < 0)
		return;
	write_fd(fd, p, n);
	close(fd);
	snprintf(path, sizeof(path), "%s/session-%u.%s", record_dir, s->n, tmp);
	snprintf(npath, sizeof(npath), "%s/session-%u.%s", record_dir, s->n,
	    suffix);
	rename(path, npath);
}

static void __attribute__((format(printf, 4, 5)))
rec_printf(const struct sess *s, const char *suffix, int flags,
    const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (flags & O_TRUNC) {
		rec_replace(s, suffix, buf, (size_t)n);
		return;
	}
	if ((fd = rec_open(s, suffix, flags)) < 0)
		return;
	write_fd(fd, buf, (size_t)n);
	close(fd);
}

static void
log_line(struct sess *s, const char *line, size_t len)
{
	struct strbuf b = { NULL, 0, 0 };

	if (s->logfd < 0)
		return;
	/* One write per line: a killed session leaves whole lines. */
	sb_printf(&b, "B%u ", s->batch);
	sb_add(&b, line, len);
	sb_add(&b, "\n", 1);
	write_fd(s->logfd, b.s, b.len);
	free(b.s);
}

/* ------------------------------------------------------------ I/O */

static void
end(struct sess *s, const char *why)
{
	if (s->end == NULL)
		s->end = why;
}

static int
write_all(struct sess *s, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (!s->dead && n > 0) {
		if (s->tls_on)
			w = gnutls_record_send(s->tls, c, n);
		else
			w = write(s->fd, c, n);
		if (w < 0) {
			if (!got_term && (s->tls_on ?
			    (w == GNUTLS_E_INTERRUPTED || w == GNUTLS_E_AGAIN) :
			    errno == EINTR))
				continue;
			s->dead = 1;
			break;
		}
		c += w;
		n -= (size_t)w;
	}
	return s->dead ? -1 : 0;
}

static void
flush(struct sess *s)
{
	if (s->outlen > 0)
		(void)write_all(s, s->out, s->outlen);
	s->outlen = 0;
}

static void
out_add(struct sess *s, const void *p, size_t n)
{
	s->replied = 1;
	if (s->outlen + n > sizeof(s->out))
		flush(s);
	if (n > sizeof(s->out)) {
		(void)write_all(s, p, n);
		return;
	}
	memcpy(s->out + s->outlen, p, n);
	s->outlen += n;
}

static void
reply(struct sess *s, const char *text)
{
	out_add(s, text, strlen(text));
}

static int
readable(struct sess *s, int timeout_ms)
{
	struct pollfd pfd;

	if (s->tls_on && gnutls_record_check_pending(s->tls) > 0)
		return 1;
	pfd.fd = s->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, timeout_ms) > 0;
}

/* One read: > 0 octets, 0 end of file or error. */
static size_t
read_once(struct sess *s, void *buf, size_t n)
{
	ssize_t r;

	for (;;) {
		if (s->tls_on) {
			r = gnutls_record_recv(s->tls, buf, n);
			if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN) {
				if (got_term)
					return 0;
				continue;
			}
		} else if ((r = read(s->fd, buf, n)) < 0 && errno == EINTR) {
			if (got_term)
				return 0;
			continue;
		}
		return r > 0 ? (size_t)r : 0;
	}
}

/*
 * Read more input: 1, or 0 at the end.  A read that finds nothing pending
 * after the server replied starts a new batch; whatever has arrived by then
 * joins it, since the client sent that without waiting for the replies.
 */
static int
fill(struct sess *s)
{
	int newbatch;
	size_t r;

	flush(s);
	if (s->dead || s->termed)
		return 0;
	if (s->inoff > 0) {
		memmove(s->in, s->in + s->inoff, s->inlen - s->inoff);
		s->inlen -= s->inoff;
		s->inoff = 0;
	}
	if (s->inlen >= INBUF)
		return 0;
	newbatch = s->inlen == 0 && s->replied;
	for (;;) {
		if (got_term) {
			/* Take what already arrived, then stop. */
			s->termed = 1;
			if (!readable(s, 0))
				return 0;
			break;
		}
		if (now_ms() > deadline_ms + 5000)
			return 0;
		if (readable(s, 100))
			break;
	}
	if ((r = read_once(s, s->in + s->inlen, INBUF - s->inlen)) == 0)
		return 0;
	s->inlen += r;
	while (s->inlen < INBUF && readable(s, 0) &&
	    (r = read_once(s, s->in + s->inlen, INBUF - s->inlen)) > 0)
		s->inlen += r;
	if (newbatch) {
		s->batch++;
		s->replied = 0;
		if (sc.latency_ms > 0)
			nap(sc.latency_ms);
	}
	return 1;
}

/* The next line without its CRLF (or LF), NUL-terminated; NULL at the end. */
static char *
next_line(struct sess *s, size_t *lenp)
{
	unsigned char *p, *line;
	size_t len;

	for (;;) {
		p = memchr(s->in + s->inoff, '\n', s->inlen - s->inoff);
		if (p != NULL) {
			line = s->in + s->inoff;
			len = (size_t)(p - line);
			s->inoff += len + 1;
			if (len > 0 && line[len - 1] == '\r')
				len--;
			line[len] = '\0';
			if (s->toolong) {
				s->toolong = 0;
				*lenp = 0;
				s->err[0] = '\0';
				return s->err;
			}
			*lenp = len;
			return (char *)line;
		}
		if (s->inoff == 0 && s->inlen >= INBUF) {
			s->toolong = 1;
			s->inlen = 0;
		}
		if (!fill(s))
			return NULL;
	}
}

/* Read and discard input until the client goes or HOLD_MS pass. */
static void
hold(struct sess *s)
{
	char buf[4096];
	long end_ms = now_ms() + HOLD_MS;

	flush(s);
	while (!got_term && !s->dead && now_ms() < end_ms) {
		if (!readable(s, 100))
			continue;
		if (read_once(s, buf, sizeof(buf)) == 0)
			break;
	}
}

static void
send_long(struct sess *s, long n)
{
	char buf[16384];
	size_t k;

	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "250 ", 4);
	while (n > 0 && !s->dead && !got_term) {
		k = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf);
		(void)write_all(s, buf, k);
		n -= (long)k;
		memset(buf, 'x', 4);
	}
}

static void
send_endless(struct sess *s, long n)
{
	char buf[16384];
	size_t len = 0;
	long i;
	int k;

	for (i = 1; i <= n && !s->dead && !got_term; i++) {
		k = snprintf(buf + len, sizeof(buf) - len,
		    "250-endless reply line %ld\r\n", i);
		len += (size_t)k;
		if (len > sizeof(buf) - 64 || i == n) {
			(void)write_all(s, buf, len);
			len = 0;
		}
	}
}

static void
send_garbage(struct sess *s, long n)
{
	unsigned char buf[4096];
	unsigned long x = 0x2545F491UL;
	size_t i, k;

	while (n > 0 && !s->dead && !got_term) {
		k = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf);
		for (i = 0; i < k; i++) {
			x = (x * 1103515245UL + 12345UL) & 0xffffffffUL;
			buf[i] = (unsigned char)(x >> 16);
		}
		(void)write_all(s, buf, k);
		n -= (long)k;
	}
}

/*
 * tls-alert: the 220, then the client's first TLS record (its
 * ClientHello) is answered with a fatal handshake_failure alert (RFC 8446
 * section 6.2), as a server whose TLS stack refuses the client does.
 */
static void
send_tls_alert(struct sess *s)
{
	static const unsigned char alert[] = {
		0x15, 0x03, 0x03, 0x00, 0x02,	/* alert, TLS 1.2, 2 octets */
		0x02, 0x28			/* fatal, handshake_failure */
	};
	char buf[4096];

	reply(s, "220 2.0.0 Ready to start TLS\r\n");
	flush(s);
	if (readable(s, 10000))
		(void)read_once(s, buf, sizeof(buf));
	(void)write_all(s, alert, sizeof(alert));
	rec_printf(s, "tls", O_TRUNC, "failed alert sent\n");
}

/* reset: close with SO_LINGER 0, which sends a TCP RST (session()). */
static void
abort_connection(struct sess *s)
{
	struct linger lg;

	lg.l_onoff = 1;
	lg.l_linger = 0;
	if (setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0)
		s->reset = 1;
}

/* ------------------------------------------------------------ rules */

static unsigned
cur_txn(const struct sess *s)
{
	return s->in_txn ? s->ntxn : s->ntxn + 1;
}

static const struct rule *
find_rule(const struct sess *s, enum stage st, const char *line)
{
	const struct rule *r;
	size_t i;

	for (i = 0; i < sc.nrules; i++) {
		r = &sc.rules[i];
		if (r->stage != st ||
		    (r->nth != 0 && r->nth != s->nth[st]) ||
		    (r->session != 0 && (unsigned long)r->session != s->n) ||
		    (r->txn != 0 && (unsigned long)r->txn != cur_txn(s)) ||
		    (r->after != 0 && s->naccepted < r->after) ||
		    (r->tls != -1 && r->tls != s->tls_on) ||
		    (r->match != NULL && !ci_contains(line, r->match)) ||
		    (r->local != NULL && strcmp(r->local, s->local) != 0))
			continue;
		return r;
	}
	return NULL;
}

static int
is_fault(const struct rule *r)
{
	return r != NULL && r->action > ACT_RAW;
}

/*
 * Answer with rule r, or with def if there is none.  Returns the reply
 * code (0 for a reply that has none); after a fault the session has ended.
 */
static int
respond(struct sess *s, const struct rule *r, const char *def)
{
	struct strbuf t;

	if (r == NULL) {
		reply(s, def);
		t.s = (char *)def;
		t.len = strlen(def);
		return reply_code(&t);
	}
	if (r->delay_ms > 0) {
		flush(s);
		nap(r->delay_ms);
	}
	switch (r->action) {
	case ACT_REPLY:
	case ACT_RAW:
		out_add(s, r->text.s, r->text.len);
		return r->code;
	case ACT_CLOSE:
		break;
	case ACT_STALL:
		flush(s);
		nap(r->arg);
		break;
	case ACT_LONG:
		flush(s);
		send_long(s, r->arg);
		hold(s);
		break;
	case ACT_ENDLESS:
		flush(s);
		send_endless(s, r->arg);
		hold(s);
		break;
	case ACT_GARBAGE:
		flush(s);
		send_garbage(s, r->arg);
		hold(s);
		break;
	case ACT_RESET:
		flush(s);
		abort_connection(s);
		break;
	case ACT_TLS_ALERT:
		send_tls_alert(s);
		break;
	}
	flush(s);
	end(s, "fault");
	return 0;
}

/* ------------------------------------------------------------ extensions */

/* Is keyword kw advertised now?  *argp gets the rest of its line. */
static int
has_ext(const struct sess *s, const char *kw, const char **argp)
{
	char **list = s->tls_on ? sc.tlsext : sc.ext;
	size_t n = s->tls_on ? sc.ntlsext : sc.next, i, k = strlen(kw);

	for (i = 0; i < n; i++)
		if (strncasecmp(list[i], kw, k) == 0 &&
		    (list[i][k] == '\0' || list[i][k] == ' ')) {
			if (argp != NULL)
				*argp = list[i] + k;
			return 1;
		}
	return sc.lenient && argp == NULL;
}

static unsigned long long
size_limit(const struct sess *s)
{
	const char *a;

	if (!has_ext(s, "SIZE", &a))
		return 0;
	return strtoull(a, NULL, 10);
}

/* ------------------------------------------------------------ transaction */

static void
txn_begin(struct sess *s, const char *line)
{
	s->in_txn = 1;
	s->ntxn++;
	s->envcmds.len = 0;
	s->envres.len = 0;
	sb_printf(&s->envcmds, "%s\n", line);
	s->naccepted = 0;
	s->msgfd = -1;
	s->bdat = 0;
	s->msgsize = 0;
	s->bare_lf = 0;
}

static void
txn_end(struct sess *s, const char *result)
{
	char suffix[64];
	struct strbuf b = { NULL, 0, 0 };

	if (!s->in_txn)
		return;
	s->in_txn = 0;
	if (s->msgfd >= 0)
		close(s->msgfd);
	s->msgfd = -1;
	if (record_dir == NULL)
		return;
	sb_add(&b, s->envcmds.s, s->envcmds.len);
	if (s->envres.len > 0)
		sb_add(&b, s->envres.s, s->envres.len);
	if (s->authed)
		sb_printf(&b, "auth %s\n", s->authuser);
	if (s->bare_lf > 0)
		sb_printf(&b, "bare-lf %lu\n", s->bare_lf);
	sb_printf(&b, "result %s\n", result);
	snprintf(suffix, sizeof(suffix), "env-%u", s->ntxn);
	rec_replace(s, suffix, b.s, b.len);
	free(b.s);
}

static void
msg_open(struct sess *s)
{
	char suffix[32];

	snprintf(suffix, sizeof(suffix), "msg-%u", s->ntxn);
	s->msgfd = rec_open(s, suffix, O_TRUNC);
}

/* Extract "<...>" after "FROM:" or "TO:"; *params gets the rest. */
static int
parse_path(const char *p, char *addr, size_t size, const char **params)
{
	const char *e;

	while (*p == ' ')
		p++;
	if (*p != '<' || (e = strchr(p, '>')) == NULL ||
	    (size_t)(e - p + 1) >= size)
		return -1;
	memcpy(addr, p, (size_t)(e - p + 1));
	addr[e - p + 1] = '\0';
	for (e++; *e == ' '; e++)
		continue;
	*params = e;
	return 0;
}

/* Check MAIL or RCPT parameters: NULL, or the reply to give. */
static const char *
check_params(struct sess *s, const char *p, int mail,
    unsigned long long *size)
{
	static const struct {
		const char	*key;
		const char	*ext;
		int		 mail;
	} known[] = {
		{ "SIZE", "SIZE", 1 }, { "BODY", "8BITMIME", 1 },
		{ "SMTPUTF8", "SMTPUTF8", 1 }, { "RET", "DSN", 1 },
		{ "ENVID", "DSN", 1 }, { "AUTH", "AUTH", 1 },
		{ "REQUIRETLS", "REQUIRETLS", 1 },
		{ "MT-PRIORITY", "MT-PRIORITY", 1 },
		{ "NOTIFY", "DSN", 0 }, { "ORCPT", "DSN", 0 },
	};
	char key[64], *ep;
	const char *v;
	size_t i, k;

	*size = 0;
	while (*p != '\0') {
		k = strcspn(p, " =");
		if (k == 0 || k >= sizeof(key))
			return "501 5.5.4 Bad parameter syntax\r\n";
		memcpy(key, p, k);
		key[k] = '\0';
		v = p[k] == '=' ? p + k + 1 : NULL;
		p += k + (v != NULL);
		p += strcspn(p, " ");
		while (*p == ' ')
			p++;
		if (mail && strcasecmp(key, "SIZE") == 0) {
			if (v == NULL || !isdigit((unsigned char)*v))
				return "501 5.5.4 Bad SIZE parameter\r\n";
			*size = strtoull(v, &ep, 10);
		}
		if (mail && strcasecmp(key, "BODY") == 0 && v != NULL &&
		    strncasecmp(v, "BINARYMIME", 10) == 0 &&
		    !has_ext(s, "BINARYMIME", NULL))
			goto bad;
		if (sc.lenient)
			continue;
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (known[i].mail == mail &&
			    strcasecmp(known[i].key, key) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0]) ||
		    !has_ext(s, known[i].ext, NULL))
			goto bad;
	}
	return NULL;
bad:
	snprintf(s->err, sizeof(s->err),
	    "555 5.5.4 Unsupported option: %s\r\n", key);
	return s->err;
}

/* ------------------------------------------------------------ TLS */

static int
tls_start(struct sess *s, const char *mode)
{
	char name[256];
	size_t nlen = sizeof(name);
	unsigned type;
	int ret;

	if (creds == NULL) {
		rec_printf(s, "tls", O_TRUNC, "failed no certificate\n");
		return -1;
	}
	if (gnutls_init(&s->tls, GNUTLS_SERVER) != 0)
		return -1;
	/* Checked at start-up (main): it is known to be good here. */
	if (sc.tls_priority != NULL)
		gnutls_priority_set_direct(s->tls, sc.tls_priority, NULL);
	else
		gnutls_set_default_priority(s->tls);
	gnutls_credentials_set(s->tls, GNUTLS_CRD_CERTIFICATE, creds);
	gnutls_certificate_server_set_request(s->tls, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(s->tls, s->fd);
	gnutls_handshake_set_timeout(s->tls, 10000);
	do
		ret = gnutls_handshake(s->tls);
	while (ret < 0 && !gnutls_error_is_fatal(ret) && !got_term);
	if (ret < 0) {
		rec_printf(s, "tls", O_TRUNC, "failed %s\n",
		    gnutls_strerror(ret));
		gnutls_deinit(s->tls);
		s->tls = NULL;
		return -1;
	}
	s->tls_on = 1;
	if (gnutls_server_name_get(s->tls, name, &nlen, &type, 0) != 0 ||
	    type != GNUTLS_NAME_DNS)
		name[0] = '\0';
	rec_printf(s, "tls", O_TRUNC, "tls\nmode %s\n%s%s%sversion %s\n",
	    mode, name[0] ? "sni " : "", name, name[0] ? "\n" : "",
	    gnutls_protocol_get_name(gnutls_protocol_get_version(s->tls)));
	return 0;
}

/* ------------------------------------------------------------ AUTH */

static const char *
password_of(const char *user)
{
	size_t i;

	for (i = 0; i < sc.nusers; i++)
		if (strcmp(sc.users[i].name, user) == 0)
			return sc.users[i].pass;
	return NULL;
}

/*
 * Send a 334 challenge (text already base64) and read the client's
 * response: 1 with the line in buf, 0 if the exchange ended (cancelled or
 * the session is over).
 */
static int
auth_step(struct sess *s, const char *challenge, char *buf, size_t size)
{
	char *l;
	size_t len;

	out_add(s, "334 ", 4);
	reply(s, challenge);
	reply(s, "\r\n");
	if ((l = next_line(s, &len)) == NULL) {
		end(s, s->termed ? "terminated" : "eof");
		return 0;
	}
	log_line(s, l, len);
	if (strcmp(l, "*") == 0) {
		reply(s, "501 5.7.0 Authentication cancelled\r\n");
		return 0;
	}
	if (len >= size) {
		reply(s, "500 5.5.6 Authentication exchange too long\r\n");
		return 0;
	}
	memcpy(buf, l, len + 1);
	return 1;
}

/* Decode base64 text to a NUL-terminated string; "=" is empty (RFC 4954). */
static int
auth_decode(struct sess *s, const char *in, char *out, size_t size,
    size_t *lenp)
{
	size_t len = 0;

	if (strcmp(in, "=") != 0 && b64_decode(in, (unsigned char *)out,
	    size - 1, &len) != 0) {
		reply(s, "501 5.5.2 Cannot decode response\r\n");
		return -1;
	}
	out[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return 0;
}

static void
auth_done(struct sess *s, const char *mech, const char *user, int ok)
{
	rec_printf(s, "info", O_APPEND, "auth %s %s %s\n", mech,
	    user[0] ? user : "-", ok ? "ok" : "failed");
	if (ok) {
		s->authed = 1;
		snprintf(s->authuser, sizeof(s->authuser), "%s", user);
		reply(s, "235 2.7.0 Authentication successful\r\n");
	} else if (sc.authfail.len > 0)
		out_add(s, sc.authfail.s, sc.authfail.len);
	else
		reply(s, "535 5.7.8 Error: authentication failed\r\n");
}

static void
auth_plain(struct sess *s, const char *ir)
{
	char line[2048], dec[2048], *user, *pass;
	const char *pw;
	size_t len;

	if (ir == NULL) {
		if (!auth_step(s, "", line, sizeof(line)))
			return;
		ir = line;
	}
	if (auth_decode(s, ir, dec, sizeof(dec), &len) != 0)
		return;
	if ((user = memchr(dec, '\0', len)) == NULL ||
	    (pass = memchr(user + 1, '\0', len - (size_t)(user + 1 - dec))) ==
	    NULL) {
		reply(s, "501 5.5.2 Malformed PLAIN response\r\n");
		return;
	}
	user++;
	pass++;
	pw = password_of(user);
	auth_done(s, "PLAIN", user, pw != NULL && strcmp(pw, pass) == 0);
}

static void
auth_login(struct sess *s, const char *ir)
{
	char line[2048], user[1024], pass[1024];
	const char *pw;

	if (ir == NULL) {
		if (!auth_step(s, "VXNlcm5hbWU6", line, sizeof(line)))
			return;
		ir = line;
	}
	if (auth_decode(s, ir, user, sizeof(user), NULL) != 0)
		return;
	if (!auth_step(s, "UGFzc3dvcmQ6", line, sizeof(line)) ||
	    auth_decode(s, line, pass, sizeof(pass), NULL) != 0)
		return;
	pw = password_of(user);
	auth_done(s, "LOGIN", user, pw != NULL && strcmp(pw, pass) == 0);
}

static void
auth_cram(struct sess *s, const char *ir)
{
	char chal[512], b64[1024], line[2048], dec[2048], hex[33], *sp;
	unsigned char mac[16];
	const char *pw;
	int i;

	if (ir != NULL) {
		reply(s, "501 5.5.2 CRAM-MD5 takes no initial response\r\n");
		return;
	}
	snprintf(chal, sizeof(chal), "<%ld.%ld@%s>", (long)getpid(),
	    (long)time(NULL), sc.hostname);
	b64_encode((unsigned char *)chal, strlen(chal), b64);
	if (!auth_step(s, b64, line, sizeof(line)) ||
	    auth_decode(s, line, dec, sizeof(dec), NULL) != 0)
		return;
	if ((sp = strrchr(dec, ' ')) == NULL) {
		reply(s, "501 5.5.2 Malformed CRAM-MD5 response\r\n");
		return;
	}
	*sp++ = '\0';
	if ((pw = password_of(dec)) == NULL ||
	    gnutls_hmac_fast(GNUTLS_MAC_MD5, pw, strlen(pw), chal,
	    strlen(chal), mac) != 0) {
		auth_done(s, "CRAM-MD5", dec, 0);
		return;
	}
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	auth_done(s, "CRAM-MD5", dec, strcasecmp(hex, sp) == 0);
}

/* SCRAM saslname: "=2C" is ",", "=3D" is "=" (RFC 5802 section 5.1). */
static int
scram_name(const char *in, size_t len, char *out, size_t size)
{
	size_t o = 0;

	while (len > 0) {
		if (o + 1 >= size)
			return -1;
		if (*in == '=') {
			if (len >= 3 && strncmp(in, "=2C", 3) == 0)
				out[o++] = ',';
			else if (len >= 3 && strncmp(in, "=3D", 3) == 0)
				out[o++] = '=';
			else
				return -1;
			in += 3;
			len -= 3;
		} else {
			out[o++] = *in++;
			len--;
		}
	}
	out[o] = '\0';
	return 0;
}

/* RFC 5802 section 3, with SHA-256 (RFC 7677); no channel binding. */
static void
auth_scram(struct sess *s, const char *ir)
{
	char line[2048], cfirst[1024], sfirst[1200], cfinal[1024];
	char user[256], nonce[800], gs2b64[400], b64[1024], expect[1300];
	char sn[256], saltb64[256];
	char am[4096];
	unsigned char salted[32], ckey[32], stored[32], csig[32], skey[32];
	unsigned char ssig[32], proof[64], rnd[18];
	const char *bare, *cn, *e, *pw, *p;
	size_t gs2len, plen, i;
	gnutls_datum_t key, salt;
	int ok;

	if (ir == NULL) {
		if (!auth_step(s, "", line, sizeof(line)))
			return;
		ir = line;
	}
	if (auth_decode(s, ir, cfirst, sizeof(cfirst), NULL) != 0)
		return;
	/* gs2-header: "n," or "y,", optional "a=authzid", ",". */
	if ((cfirst[0] != 'n' && cfirst[0] != 'y') || cfirst[1] != ',' ||
	    (e = strchr(cfirst + 2, ',')) == NULL)
		goto malformed;
	if ((gs2len = (size_t)(e + 1 - cfirst)) > 255)
		goto malformed;
	bare = cfirst + gs2len;
	if (strncmp(bare, "n=", 2) != 0 || (e = strchr(bare, ',')) == NULL ||
	    scram_name(bare + 2, (size_t)(e - bare - 2), user,
	    sizeof(user)) != 0 || strncmp(e, ",r=", 3) != 0)
		goto malformed;
	cn = e + 3;
	plen = strcspn(cn, ",");
	if (plen == 0 || plen >= 512)
		goto malformed;
	if (sc.snonce == NULL) {
		gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
		b64_encode(rnd, sizeof(rnd), sn);
	} else
		snprintf(sn, sizeof(sn), "%s", sc.snonce);
	memcpy(nonce, cn, plen);
	memcpy(nonce + plen, sn, strlen(sn) + 1);
	b64_encode(sc.salt, sc.saltlen, saltb64);
	snprintf(sfirst, sizeof(sfirst), "r=%s,s=%s,i=%u", nonce, saltb64,
	    sc.iter);
	b64_encode((unsigned char *)sfirst, strlen(sfirst), line);
	if (!auth_step(s, line, line, sizeof(line)) ||
	    auth_decode(s, line, cfinal, sizeof(cfinal), NULL) != 0)
		return;

	/* client-final: "c=base64(gs2-header),r=nonce[,...],p=proof" */
	b64_encode((unsigned char *)cfirst, gs2len, gs2b64);
	snprintf(expect, sizeof(expect), "c=%s,r=%s", gs2b64, nonce);
	for (p = NULL, e = cfinal; (e = strstr(e, ",p=")) != NULL; e++)
		p = e;
	if (p == NULL || strncmp(cfinal, expect, strlen(expect)) != 0 ||
	    (cfinal[strlen(expect)] != ',' ||
	    cfinal + strlen(expect) > p) ||
	    b64_decode(p + 3, proof, sizeof(proof), &plen) != 0 ||
	    plen != 32)
		goto malformed;
	snprintf(am, sizeof(am), "%s,%s,%.*s", bare, sfirst,
	    (int)(p - cfinal), cfinal);

	if ((pw = password_of(user)) == NULL) {
		auth_done(s, "SCRAM-SHA-256", user, 0);
		return;
	}
	key.data = (unsigned char *)pw;
	key.size = (unsigned)strlen(pw);
	salt.data = sc.salt;
	salt.size = (unsigned)sc.saltlen;
	if (gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &salt, sc.iter, salted,
	    32) != 0 ||
	    gnutls_hmac_fast(GNUTLS_MAC_SHA256, salted, 32, "Client Key", 10,
	    ckey) != 0 ||
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, ckey, 32, stored) != 0 ||
	    gnutls_hmac_fast(GNUTLS_MAC_SHA256, stored, 32, am, strlen(am),
	    csig) != 0 ||
	    gnutls_hmac_fast(GNUTLS_MAC_SHA256, salted, 32, "Server Key", 10,
	    skey) != 0 ||
	    gnutls_hmac_fast(GNUTLS_MAC_SHA256, skey, 32, am, strlen(am),
	    ssig) != 0) {
		reply(s, "454 4.7.0 Temporary authentication failure\r\n");
		return;
	}
	for (ok = 1, i = 0; i < 32; i++)
		if ((ckey[i] ^ csig[i]) != proof[i])
			ok = 0;
	if (!ok) {
		auth_done(s, "SCRAM-SHA-256", user, 0);
		return;
	}
	/* Server-final goes in a 334 (RFC 4954 has no success data). */
	memcpy(am, "v=", 2);
	b64_encode(ssig, 32, am + 2);
	b64_encode((unsigned char *)am, strlen(am), b64);
	if (!auth_step(s, b64, line, sizeof(line)))
		return;
	auth_done(s, "SCRAM-SHA-256", user, 1);
	return;
malformed:
	reply(s, "501 5.5.2 Malformed SCRAM message\r\n");
}

/* ------------------------------------------------------------ OAuth2 */

/* Google's error challenge for a token that does not do (base64 JSON). */
static const char oauth_error[] = "{\"status\":\"401\",\"schemes\":"
    "\"bearer\",\"scope\":\"https://mail.google.com/\"}";

/* The value of KEY= among the ^A-separated pairs of p[0..len), or NULL. */
static const char *
oauth_value(const char *p, size_t len, const char *key, size_t *vlen)
{
	size_t klen = strlen(key), i = 0, j;

	while (i < len) {
		for (j = i; j < len && p[j] != '\001'; j++)
			;
		if (j - i > klen && memcmp(p + i, key, klen) == 0 &&
		    p[i + klen] == '=') {
			*vlen = j - i - klen - 1;
			return p + i + klen + 1;
		}
		i = j + 1;
	}
	return NULL;
}

/*
 * The user and the token of a client response: XOAUTH2's
 * "user=U^Aauth=Bearer T^A^A", or OAUTHBEARER's "n,a=U,^A...auth=Bearer
 * T^A^A" (RFC 7628 section 3.1; host= and port= are recorded).  Returns
 * 0, or -1 when it is malformed.
 */
static int
oauth_parse(struct sess *s, int bearer, const char *d, size_t len,
    char *user, size_t usize, const char **tok, size_t *toklen)
{
	const char *v, *host, *port, *comma;
	size_t vlen, hlen = 0, plen = 0;

	if (len < 2 || memcmp(d + len - 2, "\001\001", 2) != 0)
		return -1;
	if (bearer) {
		if (strncmp(d, "n,a=", 4) != 0 || (comma = memchr(d + 4, ',',
		    len - 4)) == NULL || comma[1] != '\001' ||
		    scram_name(d + 4, (size_t)(comma - d - 4), user,
		    usize) != 0)
			return -1;
		host = oauth_value(comma + 2, len - (size_t)(comma + 2 - d),
		    "host", &hlen);
		port = oauth_value(comma + 2, len - (size_t)(comma + 2 - d),
		    "port", &plen);
		rec_printf(s, "info", O_APPEND, "oauthbearer host=%.*s "
		    "port=%.*s\n", (int)hlen, host ? host : "", (int)plen,
		    port ? port : "");
	} else {
		if ((v = oauth_value(d, len, "user", &vlen)) == NULL ||
		    v != d + 5 || vlen >= usize)
			return -1;
		memcpy(user, v, vlen);
		user[vlen] = '\0';
	}
	if ((v = oauth_value(d, len, "auth", &vlen)) == NULL || vlen < 7 ||
	    strncmp(v, "Bearer ", 7) != 0)
		return -1;
	*tok = v + 7;
	*toklen = vlen - 7;
	return 0;
}

/*
 * A token that is not the user's gets the error challenge; the client's
 * answer (RFC 7628 section 3.2.3: %x01; "" for XOAUTH2) is logged, and
 * the exchange fails as the script says.
 */
static void
auth_oauth(struct sess *s, const char *mech, const char *ir)
{
	char *line = xrealloc(NULL, INBUF + 1), *dec = xrealloc(NULL,
	    INBUF + 1), user[256], chal[sizeof(oauth_error) * 2];
	const char *pw, *tok;
	size_t len, toklen;
	int ok;

	if (ir == NULL && auth_step(s, "", line, INBUF + 1))
		ir = line;
	if (ir == NULL || auth_decode(s, ir, dec, INBUF + 1, &len) != 0)
		goto out;
	if (oauth_parse(s, mech[0] == 'O', dec, len, user, sizeof(user), &tok,
	    &toklen) != 0) {
		reply(s, "501 5.5.2 Malformed OAuth2 response\r\n");
		goto out;
	}
	pw = password_of(user);
	ok = pw != NULL && strlen(pw) == toklen && memcmp(pw, tok, toklen) ==
	    0;
	b64_encode((const unsigned char *)oauth_error,
	    sizeof(oauth_error) - 1, chal);
	if (ok || auth_step(s, chal, line, INBUF + 1))
		auth_done(s, mech, user, ok);
out:
	free(line);
	free(dec);
}

static void
do_auth(struct sess *s, const char *line, const char *arg)
{
	const struct rule *r;
	char mech[64];
	const char *ir;
	size_t k;
	int code;

	if (!s->helo) {
		reply(s, "503 5.5.1 Error: send HELO/EHLO first\r\n");
		return;
	}
	if (s->authed) {
		reply(s, "503 5.5.1 Error: already authenticated\r\n");
		return;
	}
	if (s->in_txn) {
		reply(s, "503 5.5.1 Error: MAIL transaction in progress\r\n");
		return;
	}
	if (!has_ext(s, "AUTH", NULL)) {
		reply(s, "503 5.5.1 Error: authentication not enabled\r\n");
		return;
	}
	k = strcspn(arg, " ");
	if (k == 0 || k >= sizeof(mech)) {
		reply(s, "501 5.5.4 Syntax: AUTH mechanism\r\n");
		return;
	}
	memcpy(mech, arg, k);
	mech[k] = '\0';
	ir = arg[k] == ' ' ? arg + k + 1 : NULL;
	if ((r = find_rule(s, ST_AUTH, line)) != NULL) {
		code = respond(s, r, "");
		if (code == 235) {
			s->authed = 1;
			snprintf(s->authuser, sizeof(s->authuser), "(script)");
		}
		return;
	}
	if (strcasecmp(mech, "PLAIN") == 0)
		auth_plain(s, ir);
	else if (strcasecmp(mech, "LOGIN") == 0)
		auth_login(s, ir);
	else if (strcasecmp(mech, "CRAM-MD5") == 0)
		auth_cram(s, ir);
	else if (strcasecmp(mech, "SCRAM-SHA-256") == 0)
		auth_scram(s, ir);
	else if (strcasecmp(mech, "XOAUTH2") == 0)
		auth_oauth(s, "XOAUTH2", ir);
	else if (strcasecmp(mech, "OAUTHBEARER") == 0)
		auth_oauth(s, "OAUTHBEARER", ir);
	else
		reply(s, "504 5.5.4 Unrecognized authentication type\r\n");
}

/* ------------------------------------------------------------ commands */

static void
do_ehlo(struct sess *s, const char *line, const char *arg, int ehlo)
{
	const struct rule *r;
	struct strbuf b = { NULL, 0, 0 };
	char **list = s->tls_on ? sc.tlsext : sc.ext;
	size_t n = s->tls_on ? sc.ntlsext : sc.next, i;
	int code;

	if (*arg == '\0') {
		reply(s, ehlo ? "501 5.5.4 Syntax: EHLO hostname\r\n" :
		    "501 5.5.4 Syntax: HELO hostname\r\n");
		return;
	}
	if (ehlo) {
		sb_printf(&b, "250%c%s\r\n", n > 0 ? '-' : ' ', sc.hostname);
		for (i = 0; i < n; i++)
			sb_printf(&b, "250%c%s\r\n", i + 1 < n ? '-' : ' ',
			    list[i]);
	} else
		sb_printf(&b, "250 %s\r\n", sc.hostname);
	r = find_rule(s, ehlo ? ST_EHLO : ST_HELO, line);
	code = respond(s, r, b.s);
	free(b.s);
	if (code / 100 == 2) {
		s->helo = 1;
		txn_end(s, "aborted");
	}
}

static void
do_mail(struct sess *s, const char *line, const char *arg)
{
	char addr[1024];
	const char *params, *err;
	unsigned long long size, limit;

	if (!s->helo) {
		reply(s, "503 5.5.1 Error: send HELO/EHLO first\r\n");
		return;
	}
	if (s->in_txn) {
		reply(s, "503 5.5.1 Error: nested MAIL command\r\n");
		return;
	}
	if (strncasecmp(arg, "FROM:", 5) != 0 ||
	    parse_path(arg + 5, addr, sizeof(addr), &params) != 0) {
		reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
		return;
	}
	if ((err = check_params(s, params, 1, &size)) != NULL) {
		reply(s, err);
		return;
	}
	if ((limit = size_limit(s)) > 0 && size > limit) {
		reply(s, "552 5.3.4 Message size exceeds fixed limit\r\n");
		return;
	}
	if (respond(s, find_rule(s, ST_MAIL, line), "250 2.1.0 Ok\r\n") /
	    100 == 2 && s->end == NULL)
		txn_begin(s, line);
}

static void
do_rcpt(struct sess *s, const char *line, const char *arg)
{
	char addr[1024];
	const char *params, *err;
	unsigned long long size;
	int code;

	if (!s->in_txn) {
		reply(s, "503 5.5.1 Error: need MAIL command\r\n");
		return;
	}
	if (strncasecmp(arg, "TO:", 3) != 0 ||
	    parse_path(arg + 3, addr, sizeof(addr), &params) != 0) {
		reply(s, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
		return;
	}
	if ((err = check_params(s, params, 0, &size)) != NULL) {
		reply(s, err);
		return;
	}
	sb_printf(&s->envcmds, "%s\n", line);
	code = respond(s, find_rule(s, ST_RCPT, line), "250 2.1.5 Ok\r\n");
	if (s->end != NULL)
		return;
	if (code / 100 == 2) {
		s->naccepted++;
		sb_printf(&s->envres, "accepted %s\n", addr);
	} else
		sb_printf(&s->envres, "rejected %s %d\n", addr, code);
}

static void
eod(struct sess *s)
{
	const struct rule *r;
	char def[128], result[16];
	unsigned long long limit;

	s->nth[ST_EOD]++;
	if (s->msgfd >= 0)
		close(s->msgfd);
	s->msgfd = -1;
	r = find_rule(s, ST_EOD, "");
	if (r == NULL && (limit = size_limit(s)) > 0 && s->msgsize > limit)
		snprintf(def, sizeof(def),
		    "552 5.3.4 Message size exceeds fixed limit\r\n");
	else
		snprintf(def, sizeof(def),
		    "250 2.0.0 Ok: queued as S%uT%u\r\n", s->n, s->ntxn);
	if (is_fault(r))
		snprintf(result, sizeof(result), "fault");
	else
		snprintf(result, sizeof(result), "%d", r ? r->code :
		    (def[0] - '0') * 100 + (def[1] - '0') * 10 +
		    (def[2] - '0'));
	txn_end(s, result);
	(void)respond(s, r, def);
}

static void
msg_write(struct sess *s, const unsigned char *p, size_t n)
{
	s->msgsize += n;
	write_fd(s->msgfd, p, n);
}

/* The body stage's rule for the message that starts (line: DATA/BDAT). */
static void
body_begin(struct sess *s, const char *line)
{
	s->nth[ST_BODY]++;
	s->body_octets = 0;
	s->body_rule = find_rule(s, ST_BODY, line);
}

/* Whether the body rule acts now: its octets=N have been read. */
static int
body_due(const struct sess *s)
{
	return s->body_rule != NULL &&
	    s->body_octets >= (unsigned long long)s->body_rule->octets;
}

/* How many of the next n content octets may be read before it acts. */
static size_t
body_room(const struct sess *s, size_t n)
{
	unsigned long long left;

	if (s->body_rule == NULL)
		return n;
	left = (unsigned long long)s->body_rule->octets - s->body_octets;
	return left < n ? (size_t)left : n;
}

/* The body rule acts in the middle of the message; the session ends. */
static void
body_fault(struct sess *s)
{
	(void)respond(s, s->body_rule, "");
	flush(s);
	end(s, "fault");
}

/* Read a DATA message: 1 at the final ".", 0 if the session ended. */
static int
data_read(struct sess *s)
{
	unsigned char out[8192];
	size_t on = 0;
	int c;

	for (;;) {
		while (s->inoff < s->inlen && !body_due(s)) {
			c = s->in[s->inoff++];
			s->body_octets++;
			switch (s->dstate) {
			case D_BOL:
				if (c == '.') {
					s->dstate = D_DOT;
					continue;
				}
				break;
			case D_DOT:
				if (c == '\r') {
					s->dstate = D_DOTCR;
					continue;
				}
				break;
			case D_DOTCR:
				if (c == '\n') {
					msg_write(s, out, on);
					return 1;
				}
				out[on++] = '\r';
				s->dstate = D_CR;
				break;
			case D_MID:
			case D_CR:
				break;
			}
			out[on++] = (unsigned char)c;
			if (c == '\n' && s->dstate == D_CR)
				s->dstate = D_BOL;
			else {
				if (c == '\n')
					s->bare_lf++;
				s->dstate = c == '\r' ? D_CR : D_MID;
			}
			if (on >= sizeof(out) - 2) {
				msg_write(s, out, on);
				on = 0;
			}
		}
		msg_write(s, out, on);
		on = 0;
		if (body_due(s)) {
			body_fault(s);
			return 0;
		}
		if (!fill(s))
			return 0;
	}
}

static void
do_data(struct sess *s, const char *line, const char *arg)
{
	if (*arg != '\0') {
		reply(s, "501 5.5.4 Syntax: DATA\r\n");
		return;
	}
	if (!s->in_txn) {
		reply(s, "503 5.5.1 Error: need RCPT command\r\n");
		return;
	}
	if (s->naccepted == 0) {
		reply(s, "554 5.5.1 Error: no valid recipients\r\n");
		return;
	}
	if (s->bdat) {
		reply(s, "503 5.5.1 Error: DATA after BDAT\r\n");
		return;
	}
	if (respond(s, find_rule(s, ST_DATA, line),
	    "354 End data with <CR><LF>.<CR><LF>\r\n") != 354 ||
	    s->end != NULL)
		return;
	msg_open(s);
	body_begin(s, line);
	s->dstate = D_BOL;
	if (!data_read(s)) {
		end(s, s->termed ? "terminated" : "eof");
		return;
	}
	log_line(s, ".", 1);
	eod(s);
}

/* Consume a BDAT chunk of n octets, keeping it if keep. */
static int
bdat_read(struct sess *s, unsigned long long n, int keep)
{
	size_t k;

	while (n > 0) {
		if (s->inoff == s->inlen && !fill(s))
			return 0;
		k = s->inlen - s->inoff;
		if (k > n)
			k = (size_t)n;
		if (keep) {
			k = body_room(s, k);
			msg_write(s, s->in + s->inoff, k);
		}
		s->inoff += k;
		n -= k;
		if (keep && s->body_rule != NULL) {
			s->body_octets += k;
			if (body_due(s)) {
				body_fault(s);
				return 0;
			}
		}
	}
	return 1;
}

static void
do_bdat(struct sess *s, const char *line, const char *arg)
{
	const char *err = NULL;
	char *e, def[128], result[16];
	char copy[512];
	unsigned long long n;
	int last = 0, code;

	if (!isdigit((unsigned char)*arg)) {
		reply(s, "501 5.5.4 Syntax: BDAT count [LAST]\r\n");
		return;
	}
	errno = 0;
	n = strtoull(arg, &e, 10);
	if (*e == ' ' && strcasecmp(e + 1, "LAST") == 0)
		last = 1;
	else if (*e != '\0' || errno != 0) {
		reply(s, "501 5.5.4 Syntax: BDAT count [LAST]\r\n");
		return;
	}
	if (!has_ext(s, "CHUNKING", NULL))
		err = "502 5.5.1 Error: CHUNKING not offered\r\n";
	else if (!s->in_txn)
		err = "503 5.5.1 Error: need MAIL command\r\n";
	else if (s->naccepted == 0)
		err = "554 5.5.1 Error: no valid recipients\r\n";
	if (err == NULL && !s->bdat) {
		s->bdat = 1;
		msg_open(s);
		body_begin(s, line);
	}
	/* The chunk overwrites the input buffer that line points into. */
	snprintf(copy, sizeof(copy), "%s", line);
	if (!bdat_read(s, n, err == NULL)) {
		end(s, s->termed ? "terminated" : "eof");
		return;
	}
	if (err != NULL) {
		reply(s, err);
		return;
	}
	if (last) {
		eod(s);
		return;
	}
	snprintf(def, sizeof(def), "250 2.0.0 Ok: %llu octets\r\n", n);
	code = respond(s, find_rule(s, ST_BDAT, copy), def);
	if (s->end == NULL && code / 100 != 2) {
		snprintf(result, sizeof(result), "%d", code);
		txn_end(s, result);
	}
}

static void
do_starttls(struct sess *s, const char *line, const char *arg)
{
	char *l;
	size_t len;

	if (s->tls_on) {
		reply(s, "503 5.5.1 Error: TLS already active\r\n");
		return;
	}
	if (*arg != '\0') {
		reply(s, "501 5.5.4 Syntax: STARTTLS\r\n");
		return;
	}
	if (respond(s, find_rule(s, ST_STARTTLS, line), creds != NULL ?
	    "220 2.0.0 Ready to start TLS\r\n" :
	    "454 4.7.0 TLS not available\r\n") != 220 || s->end != NULL)
		return;
	flush(s);
	/* A man in the middle: the client's handshake is read as commands. */
	if (sc.starttls_plain)
		return;
	/* Anything sent with STARTTLS is logged, then dropped (RFC 3207). */
	while (s->inoff < s->inlen && (l = memchr(s->in + s->inoff, '\n',
	    s->inlen - s->inoff)) != NULL) {
		l = next_line(s, &len);
		log_line(s, l, len);
	}
	s->inoff = s->inlen = 0;
	if (tls_start(s, "starttls") != 0) {
		end(s, "tls-failed");
		return;
	}
	s->helo = 0;
	s->authed = 0;
	txn_end(s, "aborted");
}

static void
command(struct sess *s, char *line, size_t len)
{
	char verb[16];
	const char *arg;
	size_t k, i;

	if (s->toolong || (len == 0 && line == s->err) || len > CMD_MAX) {
		reply(s, "500 5.5.2 Error: line too long\r\n");
		return;
	}
	k = strcspn(line, " ");
	arg = line[k] == ' ' ? line + k + 1 : line + k;
	if (k >= sizeof(verb))
		k = 0;
	for (i = 0; i < k; i++)
		verb[i] = (char)toupper((unsigned char)line[i]);
	verb[k] = '\0';
	if (strcmp(verb, "EHLO") == 0) {
		s->nth[ST_EHLO]++;
		do_ehlo(s, line, arg, 1);
	} else if (strcmp(verb, "HELO") == 0) {
		s->nth[ST_HELO]++;
		do_ehlo(s, line, arg, 0);
	} else if (strcmp(verb, "MAIL") == 0) {
		s->nth[ST_MAIL]++;
		do_mail(s, line, arg);
	} else if (strcmp(verb, "RCPT") == 0) {
		s->nth[ST_RCPT]++;
		do_rcpt(s, line, arg);
	} else if (strcmp(verb, "DATA") == 0) {
		s->nth[ST_DATA]++;
		do_data(s, line, arg);
	} else if (strcmp(verb, "BDAT") == 0) {
		s->nth[ST_BDAT]++;
		do_bdat(s, line, arg);
	} else if (strcmp(verb, "STARTTLS") == 0) {
		s->nth[ST_STARTTLS]++;
		do_starttls(s, line, arg);
	} else if (strcmp(verb, "AUTH") == 0) {
		s->nth[ST_AUTH]++;
		do_auth(s, line, arg);
	} else if (strcmp(verb, "RSET") == 0) {
		s->nth[ST_RSET]++;
		if (*arg != '\0')
			reply(s, "501 5.5.4 Syntax: RSET\r\n");
		else if (respond(s, find_rule(s, ST_RSET, line),
		    "250 2.0.0 Ok\r\n") / 100 == 2)
			txn_end(s, "rset");
	} else if (strcmp(verb, "NOOP") == 0) {
		s->nth[ST_NOOP]++;
		(void)respond(s, find_rule(s, ST_NOOP, line),
		    "250 2.0.0 Ok\r\n");
	} else if (strcmp(verb, "QUIT") == 0) {
		s->nth[ST_QUIT]++;
		(void)respond(s, find_rule(s, ST_QUIT, line),
		    "221 2.0.0 Bye\r\n");
		end(s, "quit");
	} else {
		s->nth[ST_UNKNOWN]++;
		(void)respond(s, find_rule(s, ST_UNKNOWN, line),
		    "502 5.5.2 Error: command not recognized\r\n");
	}
}

/* ------------------------------------------------------------ session */

static void
addr_of(const struct sockaddr_storage *ss, char *buf, size_t size,
    unsigned *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)size);
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)size);
		*port = ntohs(s4->sin_port);
	}
}

static void
session(int fd, unsigned n, int implicit)
{
	struct sess *s;
	struct sockaddr_storage ss;
	socklen_t sl;
	char peer[INET6_ADDRSTRLEN] = "?", def[512], *line;
	unsigned lport = 0, pport = 0;
	size_t len;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		die("out of memory");
	s->fd = fd;
	s->n = n;
	s->msgfd = -1;
	s->replied = 1;
	s->implicit = implicit;
	snprintf(s->local, sizeof(s->local), "?");
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_of(&ss, s->local, sizeof(s->local), &lport);
	sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_of(&ss, peer, sizeof(peer), &pport);
	s->logfd = rec_open(s, "log", O_TRUNC);
	rec_printf(s, "info", O_TRUNC, "local %s %u\npeer %s %u\n", s->local,
	    lport, peer, pport);

	if (implicit && tls_start(s, "implicit") != 0)
		end(s, "tls-failed");
	if (s->end == NULL) {
		if (sc.latency_ms > 0)
			nap(sc.latency_ms);
		s->nth[ST_GREETING]++;
		snprintf(def, sizeof(def), "220 %s ESMTP fakesmtp\r\n",
		    sc.hostname);
		(void)respond(s, find_rule(s, ST_GREETING, ""), def);
	}
	while (s->end == NULL) {
		if ((line = next_line(s, &len)) == NULL) {
			end(s, s->termed ? "terminated" : "eof");
			break;
		}
		if (s->toolong || line == s->err || len > CMD_MAX)
			log_line(s, "<line too long>", 15);
		else
			log_line(s, line, len);
		command(s, line, len);
	}
	flush(s);
	txn_end(s, "aborted");
	if (s->tls_on && strcmp(s->end, "quit") == 0 && !s->dead)
		gnutls_bye(s->tls, GNUTLS_SHUT_WR);
	if (!s->reset)
		shutdown(fd, SHUT_RDWR);
	close(fd);
	if (s->tls != NULL)
		gnutls_deinit(s->tls);
	if (s->logfd >= 0)
		close(s->logfd);
	rec_printf(s, "done", O_TRUNC, "%s\n", s->end);
	free(s->envcmds.s);
	free(s->envres.s);
	free(s);
}

/* ------------------------------------------------------------ server */

static struct listener listeners[MAX_LISTEN];
static int nlisteners;

static void
add_listener(const char *spec, int tls)
{
	struct listener *l;
	struct addrinfo hints, *res;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[128];
	const char *port, *e;
	int on = 1, ok, err;

	if (nlisteners == MAX_LISTEN)
		die("too many listeners");
	if (spec[0] == '[') {
		if ((e = strchr(spec, ']')) == NULL || e[1] != ':')
			die("bad listen address %s", spec);
		snprintf(host, sizeof(host), "%.*s", (int)(e - spec - 1),
		    spec + 1);
		port = e + 2;
	} else {
		if ((e = strrchr(spec, ':')) == NULL)
			die("bad listen address %s", spec);
		snprintf(host, sizeof(host), "%.*s", (int)(e - spec), spec);
		port = e + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((err = getaddrinfo(host, port, &hints, &res)) != 0)
		die("%s: %s", spec, gai_strerror(err));
	if (res->ai_family == AF_INET)
		ok = (ntohl(((struct sockaddr_in *)(void *)res->ai_addr)->
		    sin_addr.s_addr) >> 24) == 127;
	else
		ok = res->ai_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
		    &((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr);
	if (!ok)
		die("%s: only loopback addresses are allowed", spec);
	l = &listeners[nlisteners];
	l->tls = tls;
	if ((l->fd = socket(res->ai_family, SOCK_STREAM, 0)) < 0)
		die("socket: %s", strerror(errno));
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (res->ai_family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(l->fd, res->ai_addr, res->ai_addrlen) != 0)
		die("bind %s: %s", spec, strerror(errno));
	freeaddrinfo(res);
	if (listen(l->fd, 64) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&ss, &sl) != 0)
		die("listen %s: %s", spec, strerror(errno));
	addr_of(&ss, l->addr, sizeof(l->addr), &l->port);
	fcntl(l->fd, F_SETFD, FD_CLOEXEC);
	nlisteners++;
}

/* A bad tls-priority is the script's error, not a failed handshake. */
static void
check_priority(void)
{
	gnutls_priority_t prio;
	const char *pos = NULL;

	if (sc.tls_priority == NULL)
		return;
	if (gnutls_priority_init(&prio, sc.tls_priority, &pos) != 0)
		die("script: bad tls-priority at \"%s\"", pos ? pos : "");
	gnutls_priority_deinit(prio);
}

static void
usage(void)
{
	fprintf(stderr, "usage: fakesmtp --listen ADDR:PORT "
	    "[--listen-tls ADDR:PORT] [--script FILE]\n"
	    "\t[--record DIR] [--tls-cert CERT --tls-key KEY] "
	    "[--max-sessions N]\n\t[--lifetime SECONDS]\n");
	exit(1);
}

static void
stop_children(pid_t *kids, size_t nkids)
{
	long end_ms = now_ms() + TERM_GRACE_MS;
	size_t i, alive;
	pid_t pid;
	int st;

	for (i = 0; i < nkids; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	for (;;) {
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			for (i = 0; i < nkids; i++)
				if (kids[i] == pid)
					kids[i] = 0;
		for (alive = 0, i = 0; i < nkids; i++)
			alive += kids[i] > 0;
		if (alive == 0 || now_ms() > end_ms)
			break;
		nap(20);
	}
	for (i = 0; i < nkids; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			(void)waitpid(kids[i], &st, 0);
		}
}

int
main(int argc, char *argv[])
{
	const char *script = NULL, *cert = NULL, *key = NULL;
	long max_sessions = 100, lifetime = 60, left;
	struct pollfd pfd[MAX_LISTEN];
	struct sigaction sa;
	pid_t *kids = NULL, pid;
	size_t nkids = 0, alive, i;
	long accepted = 0;
	int a, fd, listening, devnull, ret, st;

	for (a = 1; a < argc; a++) {
		if (a + 1 >= argc)
			usage();
		if (strcmp(argv[a], "--listen") == 0)
			add_listener(argv[++a], 0);
		else if (strcmp(argv[a], "--listen-tls") == 0)
			add_listener(argv[++a], 1);
		else if (strcmp(argv[a], "--script") == 0)
			script = argv[++a];
		else if (strcmp(argv[a], "--record") == 0)
			record_dir = argv[++a];
		else if (strcmp(argv[a], "--tls-cert") == 0)
			cert = argv[++a];
		else if (strcmp(argv[a], "--tls-key") == 0)
			key = argv[++a];
		else if (strcmp(argv[a], "--max-sessions") == 0)
			max_sessions = parse_num(argv[++a], 1, 1000000,
			    "--max-sessions", 0);
		else if (strcmp(argv[a], "--lifetime") == 0)
			lifetime = parse_num(argv[++a], 1, 86400,
			    "--lifetime", 0);
		else
			usage();
	}
	if (nlisteners == 0)
		usage();
	snprintf(sc.hostname, sizeof(sc.hostname), "fakesmtp.test");
	memcpy(sc.salt, "fakesmtp-salt", 13);
	sc.saltlen = 13;
	sc.iter = 4096;
	if (script != NULL)
		parse_script(script);
	else
		sc.tlsext_set = 1;
	check_priority();
	if ((cert == NULL) != (key == NULL))
		die("--tls-cert and --tls-key go together");
	if (cert != NULL) {
		if (gnutls_certificate_allocate_credentials(&creds) != 0)
			die("gnutls_certificate_allocate_credentials");
		if ((ret = gnutls_certificate_set_x509_key_file(creds, cert,
		    key, GNUTLS_X509_FMT_PEM)) < 0)
			die("%s, %s: %s", cert, key, gnutls_strerror(ret));
	}
	for (i = 0; i < (size_t)nlisteners; i++)
		if (listeners[i].tls && creds == NULL)
			die("--listen-tls needs --tls-cert and --tls-key");
	if (record_dir != NULL && mkdir(record_dir, 0755) != 0 &&
	    errno != EEXIST)
		die("%s: %s", record_dir, strerror(errno));

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	deadline_ms = now_ms() + lifetime * 1000L;

	for (i = 0; i < (size_t)nlisteners; i++)
		printf("ready %s %u pid %ld%s\n", listeners[i].addr,
		    listeners[i].port, (long)getpid(),
		    listeners[i].tls ? " tls" : "");
	printf("ready\n");
	fflush(stdout);
	/* Sessions must not hold the test's pipe open. */
	if ((devnull = open("/dev/null", O_WRONLY)) >= 0) {
		dup2(devnull, 1);
		close(devnull);
	}

	listening = 1;
	while (!got_term && (left = deadline_ms - now_ms()) > 0) {
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			for (i = 0; i < nkids; i++)
				if (kids[i] == pid)
					kids[i] = 0;
		if (accepted >= max_sessions) {
			if (listening)
				for (a = 0; a < nlisteners; a++)
					close(listeners[a].fd);
			listening = 0;
			for (alive = 0, i = 0; i < nkids; i++)
				alive += kids[i] > 0;
			if (alive == 0)
				break;
			nap(left < 20 ? left : 20);
			continue;
		}
		for (a = 0; a < nlisteners; a++) {
			pfd[a].fd = listeners[a].fd;
			pfd[a].events = POLLIN;
			pfd[a].revents = 0;
		}
		if (poll(pfd, (nfds_t)nlisteners, left < 100 ? (int)left :
		    100) <= 0)
			continue;
		for (a = 0; a < nlisteners && accepted < max_sessions; a++) {
			if (!(pfd[a].revents & POLLIN) ||
			    (fd = accept(listeners[a].fd, NULL, NULL)) < 0)
				continue;
			accepted++;
			if ((pid = fork()) == 0) {
				for (i = 0; i < (size_t)nlisteners; i++)
					close(listeners[i].fd);
				alarm((unsigned)((deadline_ms - now_ms()) /
				    1000 + 10));
				session(fd, (unsigned)accepted,
				    listeners[a].tls);
				_exit(0);
			}
			close(fd);
			if (pid > 0) {
				kids = xrealloc(kids, (nkids + 1) *
				    sizeof(*kids));
				kids[nkids++] = pid;
			}
		}
	}
	stop_children(kids, nkids);
	free(kids);
	if (creds != NULL)
		gnutls_certificate_free_credentials(creds);
	return 0;
}
