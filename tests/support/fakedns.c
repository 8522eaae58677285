/*
 * fakedns.c: a scriptable authoritative DNS server for mxsend's tests.
 *
 * It answers UDP and TCP queries on loopback addresses from a small zone
 * file, and can be told, per name and query type, to fail in the ways real
 * DNS servers fail: SERVFAIL, REFUSED, forced NXDOMAIN, no answer at all
 * (a time-out), truncation that forces a retry over TCP, slow answers, and
 * malformed answers that a careful parser must reject.
 *
 * Command line
 *
 *	fakedns --listen ADDR:PORT [--listen ADDR:PORT ...] --zone FILE
 *	    [--log FILE] [--lifetime SECONDS] [--check]
 *
 *	--listen	an IPv4 address and port (127.0.0.1:5353) or an IPv6
 *			one in brackets ([::1]:5353). Only loopback addresses
 *			(127.0.0.0/8, ::1) are accepted. Port 0 picks a free
 *			port; UDP and TCP then share that same port. May be
 *			repeated (at most 8); default 127.0.0.1:0.
 *	--zone		the zone file (format below). Required.
 *	--log		append one line per message received (see "Log").
 *	--lifetime	exit by itself after this many seconds (default 60).
 *	--check		parse the zone file, report errors, and exit.
 *
 * Once every socket is bound it prints, flushed, one line per listener
 * and then a line "ready" alone:
 *
 *	ready 127.0.0.1 40531 pid 12345
 *	ready ::1 40533 pid 12345
 *	ready
 *
 * It exits 0 on SIGTERM, SIGINT or at the end of its lifetime; 64 for a bad
 * command line, 65 for a bad zone file (the message names FILE:LINE), 71
 * when a socket cannot be set up.
 *
 * Zone file
 *
 * One item per line. Fields are separated by blanks; a field may be
 * double-quoted (with \" and \\ inside). A '#' or ';' at the start of a
 * field begins a comment. Blank lines are ignored. Names are absolute,
 * with or without the final dot; "." is the root. Names are compared
 * case-insensitively; \. and \DDD escapes are understood. There is no
 * $ORIGIN, no "@" and no wildcard records.
 *
 *	$TTL 300		default TTL of the records that follow
 *				(300 if never given)
 *	NAME [TTL] [IN] TYPE RDATA...
 *				a record, where TYPE and RDATA are one of
 *	    A		192.0.2.1
 *	    AAAA	2001:db8::1
 *	    MX		PREFERENCE TARGET	(the null MX is "MX 0 .")
 *	    CNAME	TARGET
 *	    NS		TARGET
 *	    PTR		TARGET
 *	    TXT		STRING [STRING...]	(each at most 255 octets)
 *	    TLSA	USAGE SELECTOR MTYPE HEX [HEX...]  (3 1 1 ab12...)
 *	    SOA		MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM
 *	    TYPEnnn or any of the above, in the generic form \# LENGTH HEX
 *
 * Record types and keywords are case-insensitive. A name literally "on"
 * must be written "on." so as not to be read as a rule.
 *
 * Answers follow the usual authoritative semantics:
 *   - records of the asked type: NOERROR with those records (qtype ANY
 *     returns every record of the name);
 *   - a name with a CNAME (asked for another type): the CNAME, then the
 *     target's answer, following chains up to 16 links; a loop ends the
 *     chain after each CNAME was given once (NOERROR). The response code
 *     is that of the last name in the chain (RFC 6604);
 *   - a name with records, none of the asked type: NODATA (NOERROR, empty
 *     answer);
 *   - a name with no records but with records below it (an empty
 *     non-terminal): NODATA;
 *   - any other name: NXDOMAIN. Every name not in the file is taken not
 *     to exist.
 * For NODATA and NXDOMAIN the SOA record whose owner is the closest
 * enclosing name of the (last) name, if the file has one, is put in the
 * authority section with TTL min(TTL, MINIMUM).
 *
 * The question is echoed exactly as received (the client's letter case;
 * answer owner names are compressed against it and so carry that case too).
 * Names in answers are compressed. AA is set on NOERROR and NXDOMAIN, RA
 * always (the server poses as the recursive resolver a stub talks to), RD
 * and CD are copied from the query. When the query carries an EDNS0 OPT
 * record, an OPT record (payload 1232, version 0, DO copied) is returned;
 * an EDNS version other than 0 gets BADVERS. Over UDP an answer larger than
 * 512 octets (or than the payload size the client advertised in its OPT)
 * holds the records that fit whole and has TC set; over TCP the whole
 * answer is sent (up to 65535 octets). TCP messages carry the two-octet
 * length prefix and a connection may carry several queries.
 *
 * Rules
 *
 *	on NAME QTYPE ITEM [ITEM...]
 *
 * NAME is a name, "*" (every name) or "*.SUFFIX" (every name below
 * SUFFIX, not SUFFIX itself); it is matched against the query name only,
 * not against the names a CNAME chain leads to. QTYPE is a type name
 * (A, MX, TYPE65, ANY...) or "*" for every type. Every rule that matches a
 * query applies, in file order; when two set the same thing the later one
 * wins. An ITEM is a condition:
 *	udp | tcp	the rule applies to that transport only
 *	first N		the rule applies to its first N matching queries only
 * or an action:
 *	servfail | refused | nxdomain | formerr | notimp
 *			answer with that response code and no records
 *			(nxdomain: with the SOA as above)
 *	rcode N		answer with response code N (0-4095; above 15 needs
 *			EDNS in the query)
 *	nodata		answer NOERROR with an empty answer section
 *	drop		never answer (the client times out)
 *	close		TCP: close the connection without answering;
 *			UDP: as drop
 *	tc		UDP: answer with TC set and empty answer and authority
 *			sections, so that the client retries over TCP, where
 *			the full answer is given
 *	delay MS	send the answer MS milliseconds later (other queries
 *			are served meanwhile)
 *	ad		set AD in the answer if the query asked for DNSSEC (DO
 *			in its OPT record, or AD in its header), as a
 *			validating resolver does (RFC 6840 5.7)
 *	adforce		set AD in the answer whatever the query
 *	noaa		do not set AA
 *	glue		put the A and AAAA records of the MX targets of the
 *			answer in the additional section, as recursive
 *			servers do (those that fit; never sets TC)
 *	nora		do not set RA
 *	malformed KIND	damage the answer:
 *	    badptr	the owner name of the first answer record is a
 *			compression pointer to the end of the message (past
 *			the last octet; 0x3fff if the message is longer)
 *	    ptrloop	the owner name of the first answer record is a
 *			compression pointer to itself
 *	    rdlength	the RDLENGTH of the last answer record runs 64 octets
 *			past the end of the message (nothing follows it)
 *	    ancount	ANCOUNT is 2 more than the records present
 *	    id		the ID is not the query's
 *	    qr		QR is 0, as in a query
 *	    question	the question is another name: "wrong." + QNAME
 *	    short	only the first 7 octets of the message are sent
 *			(shorter than a header)
 *	For badptr, ptrloop and rdlength an empty answer gets one made-up
 *	record (qtype, class IN, TTL 0, RDATA four zero octets).
 *
 * Examples:
 *
 *	example.com.		MX	10 mx1.example.com.
 *	mx1.example.com.  60	A	127.0.0.2
 *	nomail.example.		MX	0 .
 *	_25._tcp.mx1.example.com. TLSA 3 1 1 0123456789abcdef...
 *	on example.com MX delay 500
 *	on broken.example * servfail
 *	on flaky.example A first 1 drop		# answers from the 2nd try on
 *	on big.example MX tc
 *	on bad.example MX malformed badptr
 *
 * Log
 *
 * With --log, one line per message received, written when it is handled:
 *
 *	TRANSPORT QNAME QTYPE RESULT [FLAG...]
 *
 * TRANSPORT is udp or tcp; QNAME is the name as received, without the final
 * dot ("." for the root, \. and \DDD for odd octets); QTYPE a type name or
 * TYPEnnn; RESULT the response code sent (NOERROR, NXDOMAIN, SERVFAIL,
 * REFUSED, FORMERR, NOTIMP, BADVERS or RCODEn), or "drop", "close", or
 * "ignored" (a message that is not a query: too short, or QR set). QNAME
 * and QTYPE are "-" when the question could not be read. The FLAGs are
 * among: tc (TC set), ad (AD set), edns (the query had OPT), do (with DO),
 * delay=MS, malformed=KIND. For example:
 *
 *	udp big.example MX NOERROR tc
 *	tcp big.example MX NOERROR
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EX_OK_		0
#define EX_USAGE_	64
#define EX_DATAERR_	65
#define EX_OSERR_	71

#define MAXWIRE		255		/* octets in a wire-format name */
#define MAXMSG		65535		/* octets in a DNS message */
#define UDP_MAX		65507		/* largest UDP payload over IPv4 */
#define OUR_PAYLOAD	1232		/* the EDNS payload size we announce */
#define MAXLISTEN	8
#define MAXCONN		64
#define MAXCHAIN	16		/* CNAME links followed */
#define MAXTOK		256		/* fields in a zone line */
#define CTAB_MAX	256		/* names remembered for compression */

enum {
	TY_A = 1, TY_NS = 2, TY_CNAME = 5, TY_SOA = 6, TY_PTR = 12,
	TY_MX = 15, TY_TXT = 16, TY_AAAA = 28, TY_OPT = 41, TY_TLSA = 52,
	TY_IXFR = 251, TY_AXFR = 252, TY_ANY = 255
};

enum {
	RC_NOERROR = 0, RC_FORMERR = 1, RC_SERVFAIL = 2, RC_NXDOMAIN = 3,
	RC_NOTIMP = 4, RC_REFUSED = 5, RC_BADVERS = 16
};

enum {
	MAL_NONE, MAL_BADPTR, MAL_PTRLOOP, MAL_RDLENGTH, MAL_ANCOUNT, MAL_ID,
	MAL_QR, MAL_QUESTION, MAL_SHORT
};

static const char *const malnames[] = {
	"none", "badptr", "ptrloop", "rdlength", "ancount", "id", "qr",
	"question", "short"
};

static const struct {
	const char	*name;
	uint16_t	 type;
} types[] = {
	{ "A", TY_A }, { "NS", TY_NS }, { "CNAME", TY_CNAME },
	{ "SOA", TY_SOA }, { "PTR", TY_PTR }, { "MX", TY_MX },
	{ "TXT", TY_TXT }, { "AAAA", TY_AAAA }, { "OPT", TY_OPT },
	{ "TLSA", TY_TLSA }, { "IXFR", TY_IXFR }, { "AXFR", TY_AXFR },
	{ "ANY", TY_ANY }
};

/* A name in wire format, in lower case unless said otherwise. */
struct dname {
	size_t		 len;
	uint8_t		 b[MAXWIRE];
};

struct rr {
	struct dname	 owner;
	uint16_t	 type;
	uint32_t	 ttl;
	int		 generic;	/* RDATA given as \# LEN HEX */
	uint16_t	 pref;		/* MX */
	struct dname	 n1;		/* MX CNAME NS PTR target, SOA mname */
	struct dname	 n2;		/* SOA rname */
	uint8_t		*data;		/* other RDATA (after SOA's names) */
	size_t		 dlen;
};

/* What the rules make of one query. */
struct effect {
	int		 rcode;		/* -1: as the zone says */
	int		 nodata;
	int		 drop;
	int		 close;
	int		 tc;
	int		 ad;		/* 1: if asked, 2: always */
	int		 noaa;
	int		 nora;
	int		 glue;
	long		 delay;		/* ms; -1: not set */
	int		 mal;
};

struct rule {
	int		 namekind;	/* 0 exact, 1 every name, 2 below */
	struct dname	 name;
	int		 qtype;		/* -1: every type */
	int		 transport;	/* 0 both, 1 udp, 2 tcp */
	long		 first;		/* -1: always, else matches left */
	struct effect	 e;
};

struct query {
	uint16_t	 id;
	int		 opcode;
	int		 rd;
	int		 cd;
	int		 adq;
	int		 hasq;		/* the question was read */
	uint8_t		 qname[MAXWIRE];	/* as received */
	size_t		 qlen;
	struct dname	 lname;		/* lower case */
	uint16_t	 qtype;
	uint16_t	 qclass;
	int		 edns;
	uint16_t	 udpsize;
	int		 ednsver;
	int		 dobit;
};

struct ctab_ent {
	uint16_t	 off;
	uint16_t	 len;
	uint8_t		 b[MAXWIRE];
};

/* The response being built. */
struct msg {
	uint8_t		 b[MAXMSG];
	size_t		 len;
	int		 err;		/* ran out of room */
	size_t		 nct;
	struct ctab_ent	 ct[CTAB_MAX];
};

struct listener {
	int		 udp;
	int		 tcp;
	struct sockaddr_storage ss;
	socklen_t	 sslen;
	char		 addr[INET6_ADDRSTRLEN];
	unsigned	 port;
};

struct conn {
	int		 fd;		/* -1: free */
	unsigned long	 gen;
	uint8_t		*buf;
	size_t		 len;
};

struct pending {
	struct pending	*next;
	long		 due;		/* ms, monotonic */
	int		 udpfd;		/* -1 for TCP */
	size_t		 ci;
	unsigned long	 gen;
	struct sockaddr_storage peer;
	socklen_t	 plen;
	int		 close;
	size_t		 len;
	uint8_t		 data[];
};

struct tok {
	char		*s;
	int		 quoted;
};

static struct rr	*rrs;
static size_t		 nrrs;
static struct rule	*rules;
static size_t		 nrules;
static const struct rr	**ansbuf;

static struct listener	 listeners[MAXLISTEN];
static size_t		 nlisteners;
static struct conn	 conns[MAXCONN];
static unsigned long	 conngen;
static struct pending	*pendings;
static FILE		*logfp;
static struct msg	 gmsg;
static uint8_t		 rbuf[MAXMSG + 1];

static int		 sigpipe_fd[2] = { -1, -1 };
static volatile sig_atomic_t got_signal;

/* ------------------------------------------------------------ utilities */

static void
fatal(int ex, const char *fmt, const char *arg)
{
	fprintf(stderr, "fakedns: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(ex);
}

static long
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
set16(uint8_t *p, unsigned v)
{
	p[0] = (v >> 8) & 0xff;
	p[1] = v & 0xff;
}

static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int
ieq(const char *a, const char *b)
{
	while (*a != '\0' && lower((unsigned char)*a) ==
	    lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return *a == '\0' && *b == '\0';
}

/* A decimal number in [0, max]; only digits. */
static int
parse_num(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Hex digits from several fields into buf. */
static int
parse_hex(struct tok *t, int nt, uint8_t *buf, size_t cap, size_t *outlen)
{
	size_t n = 0;
	int i, hi = -1;
	const char *p;

	for (i = 0; i < nt; i++) {
		for (p = t[i].s; *p != '\0'; p++) {
			int v = hexval((unsigned char)*p);

			if (v < 0)
				return -1;
			if (hi < 0) {
				hi = v;
				continue;
			}
			if (n >= cap)
				return -1;
			buf[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0)
		return -1;
	*outlen = n;
	return 0;
}

/* ---------------------------------------------------------------- names */

static int
name_from_text(const char *s, struct dname *d)
{
	size_t len = 0, lpos;
	int n, c;

	if (strcmp(s, ".") == 0) {
		d->b[0] = 0;
		d->len = 1;
		return 0;
	}
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (len >= MAXWIRE - 1)
			return -1;
		lpos = len++;
		n = 0;
		while (*s != '\0' && *s != '.') {
			c = (unsigned char)*s++;
			if (c == '\\') {
				if (s[0] >= '0' && s[0] <= '9' &&
				    s[1] >= '0' && s[1] <= '9' &&
				    s[2] >= '0' && s[2] <= '9') {
					c = (s[0] - '0') * 100 +
					    (s[1] - '0') * 10 + (s[2] - '0');
					if (c > 255)
						return -1;
					s += 3;
				} else if (*s != '\0')
					c = (unsigned char)*s++;
				else
					return -1;
			}
			if (n == 63 || len >= MAXWIRE - 1)
				return -1;
			d->b[len++] = (uint8_t)lower(c);
			n++;
		}
		if (n == 0)
			return -1;
		d->b[lpos] = (uint8_t)n;
		if (*s == '.')
			s++;
	}
	d->b[len++] = 0;
	d->len = len;
	return 0;
}

/* Presentation form for the log, without the final dot. */
static void
name_to_text(const uint8_t *w, size_t wlen, char *out, size_t cap)
{
	size_t i = 0, o = 0;
	unsigned l, j;

	if (wlen == 0 || w[0] == 0) {
		snprintf(out, cap, ".");
		return;
	}
	out[0] = '\0';
	while (i < wlen && w[i] != 0 && o + 8 < cap) {
		l = w[i++];
		if (o > 0)
			out[o++] = '.';
		for (j = 0; j < l && i < wlen && o + 6 < cap; j++, i++) {
			int c = w[i];

			if (c == '.' || c == '\\')
				o += (size_t)snprintf(out + o, cap - o,
				    "\\%c", c);
			else if (c <= 0x20 || c >= 0x7f)
				o += (size_t)snprintf(out + o, cap - o,
				    "\\%03d", c);
			else
				out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

static int
name_eq(const struct dname *a, const struct dname *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* d is parent, or below it (proper: strictly below). */
static int
name_under(const struct dname *d, const struct dname *parent, int proper)
{
	size_t i = 0;

	while (i < d->len) {
		if ((i > 0 || !proper) && d->len - i == parent->len &&
		    memcmp(d->b + i, parent->b, parent->len) == 0)
			return 1;
		if (d->b[i] == 0)
			break;
		i += (size_t)d->b[i] + 1;
	}
	return 0;
}

static const char *
type_name(unsigned t, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == t)
			return types[i].name;
	snprintf(buf, cap, "TYPE%u", t);
	return buf;
}

static int
type_from_text(const char *s)
{
	unsigned long v;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (ieq(s, types[i].name))
			return types[i].type;
	if (strlen(s) > 4 && lower((unsigned char)s[0]) == 't' &&
	    lower((unsigned char)s[1]) == 'y' &&
	    lower((unsigned char)s[2]) == 'p' &&
	    lower((unsigned char)s[3]) == 'e' &&
	    parse_num(s + 4, 65535, &v) == 0)
		return (int)v;
	return -1;
}

static const char *
rcode_name(int rc, char *buf, size_t cap)
{
	static const char *const names[] = { "NOERROR", "FORMERR",
	    "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED" };

	if (rc >= 0 && rc <= 5)
		return names[rc];
	if (rc == RC_BADVERS)
		return "BADVERS";
	snprintf(buf, cap, "RCODE%d", rc);
	return buf;
}

/* ------------------------------------------------------------ zone file */

/* Split a line into fields, in place. -1: unterminated string. */
static int
tokenize(char *p, struct tok *t, int max)
{
	int n = 0;
	char *o;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p == '\0' || *p == '#' || *p == ';')
			return n;
		if (n == max)
			return -1;
		if (*p == '"') {
			t[n].quoted = 1;
			t[n].s = o = ++p;
			while (*p != '"') {
				if (*p == '\0')
					return -1;
				if (*p == '\\' && p[1] != '\0')
					p++;
				*o++ = *p++;
			}
			p++;
			*o = '\0';
			if (*p != '\0' && *p != ' ' && *p != '\t' &&
			    *p != '\r' && *p != '\n')
				return -1;
			if (*p != '\0')
				p++;
		} else {
			t[n].quoted = 0;
			t[n].s = p;
			while (*p != '\0' && *p != ' ' && *p != '\t' &&
			    *p != '\r' && *p != '\n')
				p++;
			if (*p != '\0')
				*p++ = '\0';
		}
		n++;
	}
}

static const char *
parse_rr(struct tok *t, int nt, uint32_t defttl, struct rr *rr)
{
	uint8_t buf[MAXMSG];
	unsigned long v, w[5];
	size_t n = 0, len;
	int i = 0, j, type;

	memset(rr, 0, sizeof(*rr));
	if (name_from_text(t[i++].s, &rr->owner) != 0)
		return "bad owner name";
	rr->ttl = defttl;
	if (i < nt && !t[i].quoted && t[i].s[0] >= '0' && t[i].s[0] <= '9') {
		if (parse_num(t[i].s, 0x7fffffffUL, &v) != 0)
			return "bad TTL";
		rr->ttl = (uint32_t)v;
		i++;
	}
	if (i < nt && ieq(t[i].s, "IN"))
		i++;
	if (i >= nt)
		return "missing record type";
	if ((type = type_from_text(t[i].s)) < 0)
		return "unknown record type";
	if (type == TY_OPT || type == TY_ANY || type == TY_AXFR ||
	    type == TY_IXFR || type == 0)
		return "not a record type";
	rr->type = (uint16_t)type;
	i++;
	t += i;
	nt -= i;
	if (nt >= 1 && strcmp(t[0].s, "\\#") == 0) {
		if (nt < 2 || parse_num(t[1].s, 65535, &v) != 0)
			return "bad generic RDATA length";
		if (parse_hex(t + 2, nt - 2, buf, sizeof(buf), &n) != 0 ||
		    n != v)
			return "generic RDATA does not match its length";
		rr->generic = 1;
		goto copy;
	}
	switch (type) {
	case TY_A:
	case TY_AAAA:
		if (nt != 1 || inet_pton(type == TY_A ? AF_INET : AF_INET6,
		    t[0].s, buf) != 1)
			return type == TY_A ? "bad IPv4 address" :
			    "bad IPv6 address";
		n = type == TY_A ? 4 : 16;
		break;
	case TY_MX:
		if (nt != 2 || parse_num(t[0].s, 65535, &v) != 0)
			return "MX needs PREFERENCE TARGET";
		rr->pref = (uint16_t)v;
		if (name_from_text(t[1].s, &rr->n1) != 0)
			return "bad MX target";
		break;
	case TY_CNAME:
	case TY_NS:
	case TY_PTR:
		if (nt != 1 || name_from_text(t[0].s, &rr->n1) != 0)
			return "bad target name";
		break;
	case TY_SOA:
		if (nt != 7 || name_from_text(t[0].s, &rr->n1) != 0 ||
		    name_from_text(t[1].s, &rr->n2) != 0)
			return "SOA needs MNAME RNAME and five numbers";
		for (j = 0; j < 5; j++) {
			if (parse_num(t[2 + j].s, 0xffffffffUL, &w[j]) != 0)
				return "bad SOA number";
			buf[4 * j] = (uint8_t)(w[j] >> 24);
			buf[4 * j + 1] = (uint8_t)(w[j] >> 16);
			buf[4 * j + 2] = (uint8_t)(w[j] >> 8);
			buf[4 * j + 3] = (uint8_t)w[j];
		}
		n = 20;
		break;
	case TY_TXT:
		if (nt < 1)
			return "TXT needs at least one string";
		for (j = 0; j < nt; j++) {
			len = strlen(t[j].s);
			if (len > 255 || n + 1 + len > 65535)
				return "TXT string too long";
			buf[n++] = (uint8_t)len;
			memcpy(buf + n, t[j].s, len);
			n += len;
		}
		break;
	case TY_TLSA:
		if (nt < 4)
			return "TLSA needs USAGE SELECTOR MTYPE HEX";
		for (j = 0; j < 3; j++) {
			if (parse_num(t[j].s, 255, &v) != 0)
				return "bad TLSA field";
			buf[j] = (uint8_t)v;
		}
		if (parse_hex(t + 3, nt - 3, buf + 3, sizeof(buf) - 3,
		    &len) != 0 || len == 0)
			return "bad TLSA data";
		n = 3 + len;
		break;
	default:
		return "this type needs the generic form \\# LENGTH HEX";
	}
copy:
	if (n > 0) {
		if ((rr->data = malloc(n)) == NULL)
			return "out of memory";
		memcpy(rr->data, buf, n);
		rr->dlen = n;
	}
	return NULL;
}

static const char *
parse_rule(struct tok *t, int nt, struct rule *r)
{
	struct effect *e = &r->e;
	unsigned long v;
	int i, actions = 0;
	const char *s;

	memset(r, 0, sizeof(*r));
	e->rcode = -1;
	e->delay = -1;
	r->first = -1;
	if (nt < 4)
		return "a rule needs: on NAME QTYPE ACTION...";
	s = t[1].s;
	if (strcmp(s, "*") == 0)
		r->namekind = 1;
	else if (strncmp(s, "*.", 2) == 0) {
		r->namekind = 2;
		if (name_from_text(s + 2, &r->name) != 0)
			return "bad rule name";
	} else if (name_from_text(s, &r->name) != 0)
		return "bad rule name";
	if (strcmp(t[2].s, "*") == 0)
		r->qtype = -1;
	else if ((r->qtype = type_from_text(t[2].s)) < 0)
		return "bad rule type";
	for (i = 3; i < nt; i++) {
		s = t[i].s;
		if (ieq(s, "udp"))
			r->transport = 1;
		else if (ieq(s, "tcp"))
			r->transport = 2;
		else if (ieq(s, "first")) {
			if (++i >= nt || parse_num(t[i].s, LONG_MAX, &v) != 0)
				return "first needs a number";
			r->first = (long)v;
		} else {
			actions++;
			if (ieq(s, "servfail"))
				e->rcode = RC_SERVFAIL;
			else if (ieq(s, "refused"))
				e->rcode = RC_REFUSED;
			else if (ieq(s, "nxdomain"))
				e->rcode = RC_NXDOMAIN;
			else if (ieq(s, "formerr"))
				e->rcode = RC_FORMERR;
			else if (ieq(s, "notimp"))
				e->rcode = RC_NOTIMP;
			else if (ieq(s, "rcode")) {
				if (++i >= nt ||
				    parse_num(t[i].s, 4095, &v) != 0)
					return "rcode needs a number 0-4095";
				e->rcode = (int)v;
			} else if (ieq(s, "nodata"))
				e->nodata = 1;
			else if (ieq(s, "drop"))
				e->drop = 1;
			else if (ieq(s, "close"))
				e->close = 1;
			else if (ieq(s, "tc"))
				e->tc = 1;
			else if (ieq(s, "ad"))
				e->ad = 1;
			else if (ieq(s, "adforce"))
				e->ad = 2;
			else if (ieq(s, "noaa"))
				e->noaa = 1;
			else if (ieq(s, "nora"))
				e->nora = 1;
			else if (ieq(s, "glue"))
				e->glue = 1;
			else if (ieq(s, "delay")) {
				if (++i >= nt ||
				    parse_num(t[i].s, 3600000, &v) != 0)
					return "delay needs milliseconds";
				e->delay = (long)v;
			} else if (ieq(s, "malformed")) {
				size_t k;

				if (++i >= nt)
					return "malformed needs a kind";
				for (k = 1; k < sizeof(malnames) /
				    sizeof(malnames[0]); k++)
					if (ieq(t[i].s, malnames[k]))
						break;
				if (k == sizeof(malnames) / sizeof(malnames[0]))
					return "unknown malformed kind";
				e->mal = (int)k;
			} else
				return "unknown rule item";
		}
	}
	if (actions == 0)
		return "a rule needs an action";
	return NULL;
}

static void
load_zone(const char *path)
{
	struct tok t[MAXTOK];
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	uint32_t defttl = 300;
	unsigned long v;
	const char *err;
	FILE *fp;
	void *p;
	int nt;

	if ((fp = fopen(path, "r")) == NULL)
		fatal(EX_DATAERR_, "cannot open zone file %s", path);
	while (getline(&line, &cap, fp) != -1) {
		lineno++;
		err = NULL;
		if ((nt = tokenize(line, t, MAXTOK)) < 0)
			err = "unterminated string or too many fields";
		else if (nt == 0)
			continue;
		else if (!t[0].quoted && strcmp(t[0].s, "$TTL") == 0) {
			if (nt != 2 || parse_num(t[1].s, 0x7fffffffUL, &v) != 0)
				err = "$TTL needs a number";
			else
				defttl = (uint32_t)v;
		} else if (!t[0].quoted && strcmp(t[0].s, "on") == 0) {
			if ((p = reallocarray(rules, nrules + 1,
			    sizeof(*rules))) == NULL)
				fatal(EX_OSERR_, "%s", "out of memory");
			rules = p;
			if ((err = parse_rule(t, nt, &rules[nrules])) == NULL)
				nrules++;
		} else {
			if ((p = reallocarray(rrs, nrrs + 1,
			    sizeof(*rrs))) == NULL)
				fatal(EX_OSERR_, "%s", "out of memory");
			rrs = p;
			if ((err = parse_rr(t, nt, defttl, &rrs[nrrs])) == NULL)
				nrrs++;
		}
		if (err != NULL) {
			fprintf(stderr, "fakedns: %s:%zu: %s\n", path, lineno,
			    err);
			exit(EX_DATAERR_);
		}
	}
	if (ferror(fp))
		fatal(EX_DATAERR_, "cannot read zone file %s", path);
	free(line);
	fclose(fp);
	if ((ansbuf = calloc(nrrs + 1, sizeof(*ansbuf))) == NULL)
		fatal(EX_OSERR_, "%s", "out of memory");
}

static void
free_zone(void)
{
	size_t i;

	for (i = 0; i < nrrs; i++)
		free(rrs[i].data);
	free(rrs);
	free(rules);
	free(ansbuf);
	rrs = NULL;
	rules = NULL;
	ansbuf = NULL;
	nrrs = nrules = 0;
}

/* --------------------------------------------------------------- lookup */

/* Empty non-terminal: no records, but some below. */
static int
is_ent(const struct dname *d)
{
	size_t i;

	for (i = 0; i < nrrs; i++)
		if (name_under(&rrs[i].owner, d, 1))
			return 1;
	return 0;
}

/*
 * Fill ansbuf with the answer for qn/qtype, following CNAMEs; return the
 * response code, and in *last the last name of the chain.
 */
static int
lookup(const struct dname *qn, uint16_t qtype, size_t *nans,
    struct dname *last)
{
	struct dname seen[MAXCHAIN];
	const struct rr *cname;
	size_t i, k, nseen = 0;
	int any, found;

	*nans = 0;
	*last = *qn;
	while (nseen < MAXCHAIN) {
		seen[nseen++] = *last;
		any = found = 0;
		cname = NULL;
		for (i = 0; i < nrrs; i++) {
			if (!name_eq(&rrs[i].owner, last))
				continue;
			any = 1;
			if (qtype == TY_ANY || rrs[i].type == qtype) {
				if (*nans < nrrs)
					ansbuf[(*nans)++] = &rrs[i];
				found = 1;
			} else if (rrs[i].type == TY_CNAME && cname == NULL)
				cname = &rrs[i];
		}
		if (!any)
			return is_ent(last) ? RC_NOERROR : RC_NXDOMAIN;
		if (found || cname == NULL)
			return RC_NOERROR;
		if (*nans < nrrs)
			ansbuf[(*nans)++] = cname;
		*last = cname->n1;
		for (k = 0; k < nseen; k++)
			if (name_eq(&seen[k], last))
				return RC_NOERROR;
	}
	return RC_NOERROR;
}

/* The SOA of the closest enclosing name, or NULL. */
static const struct rr *
find_soa(const struct dname *d)
{
	const struct rr *best = NULL;
	size_t i;

	for (i = 0; i < nrrs; i++)
		if (rrs[i].type == TY_SOA && name_under(d, &rrs[i].owner, 0) &&
		    (best == NULL || rrs[i].owner.len > best->owner.len))
			best = &rrs[i];
	return best;
}

/* ------------------------------------------------------ message builder */

static void
put(struct msg *m, const void *p, size_t n)
{
	if (m->err || n > sizeof(m->b) - m->len) {
		m->err = 1;
		return;
	}
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void
put8(struct msg *m, unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(m, &b, 1);
}

static void
put16(struct msg *m, unsigned v)
{
	uint8_t b[2];

	set16(b, v);
	put(m, b, 2);
}

static void
put32(struct msg *m, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };

	put(m, b, 4);
}

/* A name, any case, compressed against the names already written. */
static void
put_name(struct msg *m, const uint8_t *w, size_t wlen)
{
	size_t i = 0, j, k, n;
	struct ctab_ent *c;

	while (i < wlen && w[i] != 0) {
		n = wlen - i;
		for (k = 0; k < m->nct; k++) {
			c = &m->ct[k];
			if (c->len != n)
				continue;
			for (j = 0; j < n; j++)
				if (c->b[j] != lower(w[i + j]))
					break;
			if (j == n) {
				put16(m, 0xc000u | c->off);
				return;
			}
		}
		if (m->len <= 0x3fff && m->nct < CTAB_MAX) {
			c = &m->ct[m->nct++];
			c->off = (uint16_t)m->len;
			c->len = (uint16_t)n;
			for (j = 0; j < n; j++)
				c->b[j] = (uint8_t)lower(w[i + j]);
		}
		if ((size_t)w[i] + 1 > wlen - i) {
			m->err = 1;
			return;
		}
		put(m, w + i, (size_t)w[i] + 1);
		i += (size_t)w[i] + 1;
	}
	put8(m, 0);
}

/*
 * One record. special: 0 normal; MAL_BADPTR or MAL_PTRLOOP for a broken
 * owner name (*ptroff gets its offset). *rdoff gets the RDLENGTH offset.
 */
static void
put_rr(struct msg *m, const struct rr *rr, uint32_t ttl, int special,
    size_t *ptroff, size_t *rdoff)
{
	size_t rdl;

	if (special == MAL_BADPTR || special == MAL_PTRLOOP) {
		*ptroff = m->len;
		put16(m, 0xc000u | (m->len & 0x3fff));
	} else
		put_name(m, rr->owner.b, rr->owner.len);
	put16(m, rr->type);
	put16(m, 1);
	put32(m, ttl);
	*rdoff = m->len;
	put16(m, 0);
	if (!rr->generic) {
		switch (rr->type) {
		case TY_MX:
			put16(m, rr->pref);
			put_name(m, rr->n1.b, rr->n1.len);
			break;
		case TY_CNAME:
		case TY_NS:
		case TY_PTR:
			put_name(m, rr->n1.b, rr->n1.len);
			break;
		case TY_SOA:
			put_name(m, rr->n1.b, rr->n1.len);
			put_name(m, rr->n2.b, rr->n2.len);
			break;
		}
	}
	if (rr->dlen > 0)
		put(m, rr->data, rr->dlen);
	if (!m->err) {
		rdl = m->len - *rdoff - 2;
		set16(m->b + *rdoff, (unsigned)rdl);
	}
}

/*
 * Build the response to q in gmsg. prc: an error found while parsing the
 * query (0 if none). Returns the response code sent; *tcout gets TC, *adout
 * AD.
 */
static int
build(const struct query *q, int prc, const struct effect *e, int tcp,
    int *tcout, int *adout)
{
	struct msg *m = &gmsg;
	struct dname last;
	struct rr synth;
	const struct rr *soa;
	uint8_t zero4[4] = { 0, 0, 0, 0 };
	size_t limit, rrlimit, nans = 0, i, save, savect;
	size_t ptroff = 0, rdoff = 0, lastrd = 0, badptr = 0;
	unsigned an = 0, ns = 0, ar = 0, b2, b3;
	int rcode, aa, tc = 0, ad = 0, records, mal = e->mal, special;
	uint32_t ttl;

	m->len = 0;
	m->err = 0;
	m->nct = 0;
	last = q->lname;
	if (tcp)
		limit = MAXMSG;
	else if (q->edns)
		limit = q->udpsize < 512 ? 512 :
		    q->udpsize > UDP_MAX ? UDP_MAX : q->udpsize;
	else
		limit = 512;
	rrlimit = limit - (q->edns ? 11 : 0);

	put(m, zero4, 4);	/* ID and flags, set below */
	put(m, zero4, 4);	/* counts, set below */
	put(m, zero4, 4);
	if (q->hasq) {
		if (mal == MAL_QUESTION)
			put(m, "\005wrong", 6);
		put_name(m, q->qname, q->qlen);
		put16(m, q->qtype);
		put16(m, q->qclass);
	}

	records = 0;
	if (prc != 0)
		rcode = prc;
	else if (e->rcode >= 0) {
		rcode = e->rcode;
		last = q->lname;
		records = rcode == RC_NXDOMAIN;
	} else {
		rcode = lookup(&q->lname, q->qtype, &nans, &last);
		if (e->nodata) {
			nans = 0;
			rcode = RC_NOERROR;
			last = q->lname;
		}
		records = 1;
	}
	if (!tcp && e->tc) {
		tc = 1;
		records = 0;
		nans = 0;
	}

	/* Answer section. */
	if ((mal == MAL_BADPTR || mal == MAL_PTRLOOP ||
	    mal == MAL_RDLENGTH) && (!records || nans == 0)) {
		memset(&synth, 0, sizeof(synth));
		synth.owner = q->lname;
		synth.type = q->qtype;
		synth.generic = 1;
		synth.data = zero4;
		synth.dlen = 4;
		ansbuf[0] = &synth;
		nans = 1;
		records = 1;
	}
	for (i = 0; records && i < nans && !tc; i++) {
		save = m->len;
		savect = m->nct;
		special = i == 0 ? mal : 0;
		put_rr(m, ansbuf[i], ansbuf[i]->ttl, special, &ptroff, &rdoff);
		if (m->err || m->len > rrlimit) {
			m->err = 0;
			m->len = save;
			m->nct = savect;
			tc = 1;
			break;
		}
		if (special == MAL_BADPTR)
			badptr = ptroff;
		lastrd = rdoff;
		an++;
	}

	/* Authority: the SOA for negative answers. */
	if (records && !tc && mal != MAL_RDLENGTH &&
	    (an == 0 || rcode == RC_NXDOMAIN) &&
	    (rcode == RC_NOERROR || rcode == RC_NXDOMAIN) &&
	    (soa = find_soa(&last)) != NULL) {
		ttl = soa->ttl;
		if (soa->dlen == 20 && get32(soa->data + 16) < ttl)
			ttl = get32(soa->data + 16);
		save = m->len;
		savect = m->nct;
		put_rr(m, soa, ttl, 0, &ptroff, &rdoff);
		if (m->err || m->len > rrlimit) {
			m->err = 0;
			m->len = save;
			m->nct = savect;
			tc = 1;
		} else
			ns++;
	}

	/* Additional: the addresses of the MX targets, when asked for. */
	for (i = 0; e->glue && !tc && mal != MAL_RDLENGTH && i < an; i++) {
		size_t j;

		if (ansbuf[i]->type != TY_MX)
			continue;
		for (j = 0; j < nrrs; j++) {
			if ((rrs[j].type != TY_A && rrs[j].type != TY_AAAA) ||
			    !name_eq(&rrs[j].owner, &ansbuf[i]->n1))
				continue;
			save = m->len;
			savect = m->nct;
			put_rr(m, &rrs[j], rrs[j].ttl, 0, &ptroff, &rdoff);
			if (m->err || m->len > rrlimit) {
				/* Glue that does not fit is left out. */
				m->err = 0;
				m->len = save;
				m->nct = savect;
				break;
			}
			ar++;
		}
	}

	/* OPT. */
	if (q->edns && mal != MAL_RDLENGTH) {
		put8(m, 0);
		put16(m, TY_OPT);
		put16(m, OUR_PAYLOAD);
		put8(m, (unsigned)(rcode >> 4) & 0xff);
		put8(m, 0);
		put16(m, q->dobit ? 0x8000 : 0);
		put16(m, 0);
		ar++;
	}
	rcode &= q->edns ? 0xfff : 0xf;

	aa = (rcode == RC_NOERROR || rcode == RC_NXDOMAIN) && !e->noaa;
	if (e->ad == 2 || (e->ad == 1 && (q->dobit || q->adq)))
		ad = 1;
	b2 = (mal == MAL_QR ? 0 : 0x80) | (unsigned)(q->opcode & 0xf) << 3 |
	    (unsigned)aa << 2 | (unsigned)tc << 1 | (unsigned)q->rd;
	b3 = (e->nora ? 0 : 0x80) | (unsigned)ad << 5 |
	    (unsigned)q->cd << 4 | ((unsigned)rcode & 0xf);
	set16(m->b, mal == MAL_ID ? (q->id + 1u) & 0xffff : q->id);
	m->b[2] = (uint8_t)b2;
	m->b[3] = (uint8_t)b3;
	set16(m->b + 4, q->hasq ? 1 : 0);
	set16(m->b + 6, an + (mal == MAL_ANCOUNT ? 2 : 0));
	set16(m->b + 8, ns);
	set16(m->b + 10, ar);

	if (mal == MAL_BADPTR && an > 0)
		set16(m->b + badptr, 0xc000u |
		    (m->len > 0x3fff ? 0x3fff : (unsigned)m->len));
	if (mal == MAL_RDLENGTH && an > 0) {
		unsigned v = get16(m->b + lastrd) + 64u;

		set16(m->b + lastrd, v > 0xffff ? 0xffff : v);
	}
	if (mal == MAL_SHORT && m->len > 7)
		m->len = 7;
	*tcout = tc;
	*adout = ad;
	return rcode;
}

/* ------------------------------------------------------------- queries */

static int
skip_name(const uint8_t *m, size_t len, size_t *off)
{
	size_t o = *off;
	unsigned l;

	for (;;) {
		if (o >= len)
			return -1;
		l = m[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -1;
			*off = o + 2;
			return 0;
		}
		if (l & 0xc0)
			return -1;
		o += l + 1;
		if (l == 0) {
			*off = o;
			return 0;
		}
	}
}

/* 0, an error response code, or -1: not a query, ignore it. */
static int
parse_query(const uint8_t *m, size_t len, struct query *q)
{
	unsigned qd, an, ns, ar, i, l, type, rdlen;
	size_t off, own, j;
	uint32_t ttl;

	memset(q, 0, sizeof(*q));
	if (len < 12)
		return -1;
	q->id = get16(m);
	if (m[2] & 0x80)
		return -1;
	q->opcode = (m[2] >> 3) & 0xf;
	q->rd = m[2] & 1;
	q->adq = (m[3] >> 5) & 1;
	q->cd = (m[3] >> 4) & 1;
	qd = get16(m + 4);
	an = get16(m + 6);
	ns = get16(m + 8);
	ar = get16(m + 10);
	if (q->opcode != 0)
		return RC_NOTIMP;
	if (qd != 1)
		return RC_FORMERR;
	off = 12;
	for (;;) {
		if (off >= len)
			return RC_FORMERR;
		l = m[off];
		if (l & 0xc0)
			return RC_FORMERR;
		if (q->qlen + l + 1 > MAXWIRE || off + l + 1 > len)
			return RC_FORMERR;
		memcpy(q->qname + q->qlen, m + off, l + 1);
		q->qlen += l + 1;
		off += l + 1;
		if (l == 0)
			break;
	}
	if (off + 4 > len)
		return RC_FORMERR;
	q->qtype = get16(m + off);
	q->qclass = get16(m + off + 2);
	off += 4;
	q->hasq = 1;
	q->lname.len = q->qlen;
	for (j = 0; j < q->qlen; j++)
		q->lname.b[j] = (uint8_t)lower(q->qname[j]);

	for (i = 0; i < an + ns + ar; i++) {
		own = off;
		if (skip_name(m, len, &off) != 0 || off + 10 > len)
			return RC_FORMERR;
		type = get16(m + off);
		ttl = get32(m + off + 4);
		rdlen = get16(m + off + 8);
		if (type == TY_OPT) {
			if (i < an + ns || q->edns || m[own] != 0)
				return RC_FORMERR;
			q->edns = 1;
			q->udpsize = get16(m + off + 2);
			q->ednsver = (int)((ttl >> 16) & 0xff);
			q->dobit = (int)((ttl >> 15) & 1);
		}
		off += 10;
		if (rdlen > len - off)
			return RC_FORMERR;
		off += rdlen;
	}
	if (q->edns && q->ednsver != 0)
		return RC_BADVERS;
	if (q->qtype == TY_OPT)
		return RC_FORMERR;
	if (q->qtype == TY_AXFR || q->qtype == TY_IXFR)
		return RC_NOTIMP;
	if (q->qclass != 1 && q->qclass != 255)
		return RC_REFUSED;
	return 0;
}

static int
rule_matches(struct rule *r, const struct query *q, int tcp)
{
	if (!q->hasq)
		return 0;
	if (r->namekind == 0 && !name_eq(&q->lname, &r->name))
		return 0;
	if (r->namekind == 2 && !name_under(&q->lname, &r->name, 1))
		return 0;
	if (r->qtype >= 0 && r->qtype != q->qtype)
		return 0;
	if ((r->transport == 1 && tcp) || (r->transport == 2 && !tcp))
		return 0;
	if (r->first == 0)
		return 0;
	if (r->first > 0)
		r->first--;
	return 1;
}

static void
merge(struct effect *to, const struct effect *e)
{
	if (e->rcode >= 0)
		to->rcode = e->rcode;
	if (e->delay >= 0)
		to->delay = e->delay;
	if (e->mal != MAL_NONE)
		to->mal = e->mal;
	if (e->ad > to->ad)
		to->ad = e->ad;
	to->nodata |= e->nodata;
	to->drop |= e->drop;
	to->close |= e->close;
	to->tc |= e->tc;
	to->noaa |= e->noaa;
	to->nora |= e->nora;
	to->glue |= e->glue;
}

enum action { ACT_NONE, ACT_SEND, ACT_CLOSE };

/* Decide what to do with one message; a response is left in gmsg. */
static enum action
handle(const uint8_t *in, size_t inlen, int tcp, long *delay)
{
	struct query q;
	struct effect e;
	char qn[4 * MAXWIRE + 8], tb[16], rb[16], extra[96];
	const char *result = NULL;
	enum action act = ACT_SEND;
	size_t i;
	int prc, rc, tc = 0, ad = 0;

	memset(&e, 0, sizeof(e));
	e.rcode = -1;
	e.delay = -1;
	*delay = 0;
	prc = parse_query(in, inlen, &q);
	if (prc == 0)
		for (i = 0; i < nrules; i++)
			if (rule_matches(&rules[i], &q, tcp))
				merge(&e, &rules[i].e);
	if (prc < 0) {
		act = ACT_NONE;
		result = "ignored";
	} else if (e.close && tcp) {
		act = ACT_CLOSE;
		result = "close";
	} else if (e.drop || e.close) {
		act = ACT_NONE;
		result = "drop";
	} else {
		rc = build(&q, prc, &e, tcp, &tc, &ad);
		result = rcode_name(rc, rb, sizeof(rb));
	}
	if (act != ACT_NONE && e.delay > 0)
		*delay = e.delay;
	if (logfp == NULL)
		return act;
	if (q.hasq)
		name_to_text(q.qname, q.qlen, qn, sizeof(qn));
	snprintf(extra, sizeof(extra), "%s%s%s%s", tc ? " tc" : "",
	    ad ? " ad" : "", q.edns ? " edns" : "", q.dobit ? " do" : "");
	if (*delay > 0)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
		    " delay=%ld", *delay);
	if (e.mal != MAL_NONE && act == ACT_SEND)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
		    " malformed=%s", malnames[e.mal]);
	fprintf(logfp, "%s %s %s %s%s\n", tcp ? "tcp" : "udp",
	    q.hasq ? qn : "-", q.hasq ? type_name(q.qtype, tb, sizeof(tb)) :
	    "-", result, extra);
	fflush(logfp);
	return act;
}

/* -------------------------------------------------------------- network */

static void
on_signal(int sig)
{
	int saved = errno;
	char c = 1;

	(void)sig;
	got_signal = 1;
	if (sigpipe_fd[1] >= 0 && write(sigpipe_fd[1], &c, 1) == -1)
		got_signal = 1;
	errno = saved;
}

static int
set_flags(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

static int
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s =
		    (const struct sockaddr_in6 *)ss;

		return IN6_IS_ADDR_LOOPBACK(&s->sin6_addr);
	}
	return 0;
}

static int
parse_listen(const char *arg, struct listener *l)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *end;
	unsigned long port;
	size_t hl;

	memset(l, 0, sizeof(*l));
	l->udp = l->tcp = -1;
	if (arg[0] == '[') {
		if ((end = strchr(arg, ']')) == NULL || end[1] != ':')
			return -1;
		hl = (size_t)(end - arg - 1);
		colon = end + 1;
		arg++;
	} else {
		if ((colon = strrchr(arg, ':')) == NULL)
			return -1;
		hl = (size_t)(colon - arg);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, arg, hl);
	host[hl] = '\0';
	if (parse_num(colon + 1, 65535, &port) != 0)
		return -1;
	if (strchr(host, ':') == NULL) {
		struct sockaddr_in *s = (struct sockaddr_in *)&l->ss;

		if (inet_pton(AF_INET, host, &s->sin_addr) != 1)
			return -1;
		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		l->sslen = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&l->ss;

		if (inet_pton(AF_INET6, host, &s->sin6_addr) != 1)
			return -1;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)port);
		l->sslen = sizeof(*s);
	}
	if (inet_ntop(l->ss.ss_family, l->ss.ss_family == AF_INET ?
	    (void *)&((struct sockaddr_in *)&l->ss)->sin_addr :
	    (void *)&((struct sockaddr_in6 *)&l->ss)->sin6_addr, l->addr,
	    sizeof(l->addr)) == NULL)
		return -1;
	l->port = (unsigned)port;
	return 0;
}

static void
set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port =
		    htons((uint16_t)port);
}

static int
open_sock(const struct listener *l, int type)
{
	int fd, one = 1;

	if ((fd = socket(l->ss.ss_family, type, 0)) == -1)
		return -1;
	if (set_flags(fd) == -1 ||
	    (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR,
	    &one, sizeof(one)) == -1) ||
	    (l->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Bind UDP and TCP to the same port; port 0: a free one. */
static int
bind_listener(struct listener *l)
{
	struct sockaddr_storage got;
	socklen_t gl;
	unsigned want = l->port, port;
	int attempt, e;

	for (attempt = 0; attempt < 50; attempt++) {
		set_port(&l->ss, want);
		if ((l->udp = open_sock(l, SOCK_DGRAM)) == -1)
			return -1;
		if (bind(l->udp, (struct sockaddr *)&l->ss, l->sslen) == -1)
			goto fail;
		gl = sizeof(got);
		if (getsockname(l->udp, (struct sockaddr *)&got, &gl) == -1)
			goto fail;
		port = ntohs(got.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&got)->sin_port :
		    ((struct sockaddr_in6 *)&got)->sin6_port);
		set_port(&l->ss, port);
		if ((l->tcp = open_sock(l, SOCK_STREAM)) == -1)
			goto fail;
		if (bind(l->tcp, (struct sockaddr *)&l->ss, l->sslen) == -1 ||
		    listen(l->tcp, 64) == -1)
			goto fail;
		l->port = port;
		return 0;
fail:
		e = errno;
		close(l->udp);
		if (l->tcp != -1)
			close(l->tcp);
		l->udp = l->tcp = -1;
		if (want != 0 || e != EADDRINUSE) {
			errno = e;
			return -1;
		}
	}
	return -1;
}

static void
conn_close(size_t ci)
{
	struct conn *c = &conns[ci];

	if (c->fd == -1)
		return;
	close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
	c->len = 0;
}

static int
tcp_send(int fd, const uint8_t *p, size_t len)
{
	uint8_t hdr[2];
	ssize_t n;
	size_t off = 0;
	int part;

	set16(hdr, (unsigned)len);
	for (part = 0; part < 2; part++) {
		const uint8_t *b = part == 0 ? hdr : p;
		size_t bl = part == 0 ? 2 : len;

		off = 0;
		while (off < bl) {
			n = send(fd, b + off, bl - off, MSG_NOSIGNAL);
			if (n == -1 && errno == EINTR && !got_signal)
				continue;
			if (n <= 0)
				return -1;
			off += (size_t)n;
		}
	}
	return 0;
}

static void
enqueue(long delay, int udpfd, size_t ci, const struct sockaddr_storage *peer,
    socklen_t plen, int doclose)
{
	struct pending *p, **pp;
	size_t len = doclose ? 0 : gmsg.len;

	if ((p = malloc(sizeof(*p) + len)) == NULL)
		return;
	memset(p, 0, sizeof(*p));
	p->due = ms_now() + delay;
	p->udpfd = udpfd;
	p->ci = ci;
	p->gen = udpfd == -1 ? conns[ci].gen : 0;
	if (peer != NULL) {
		memcpy(&p->peer, peer, sizeof(p->peer));
		p->plen = plen;
	}
	p->close = doclose;
	p->len = len;
	memcpy(p->data, gmsg.b, len);
	for (pp = &pendings; *pp != NULL && (*pp)->due <= p->due;
	    pp = &(*pp)->next)
		;
	p->next = *pp;
	*pp = p;
}

static void
fire_pending(long now)
{
	struct pending *p;
	struct conn *c;

	while ((p = pendings) != NULL && p->due <= now) {
		pendings = p->next;
		if (p->udpfd != -1)
			(void)sendto(p->udpfd, p->data, p->len, 0,
			    (struct sockaddr *)&p->peer, p->plen);
		else {
			c = &conns[p->ci];
			if (c->fd != -1 && c->gen == p->gen &&
			    (p->close || tcp_send(c->fd, p->data, p->len) != 0))
				conn_close(p->ci);
		}
		free(p);
	}
}

static void
udp_read(int fd)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	enum action act;
	ssize_t n;
	long delay;

	n = recvfrom(fd, rbuf, sizeof(rbuf), 0, (struct sockaddr *)&peer,
	    &plen);
	if (n < 0)
		return;
	act = handle(rbuf, (size_t)n, 0, &delay);
	if (act != ACT_SEND)
		return;
	if (delay > 0)
		enqueue(delay, fd, 0, &peer, plen, 0);
	else
		(void)sendto(fd, gmsg.b, gmsg.len, 0,
		    (struct sockaddr *)&peer, plen);
}

static void
tcp_accept(int lfd)
{
	struct timeval tv = { 5, 0 };
	size_t i;
	int fd, fl;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return;
	for (i = 0; i < MAXCONN; i++)
		if (conns[i].fd == -1)
			break;
	if (i == MAXCONN || (fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    (conns[i].buf = malloc(MAXMSG + 2)) == NULL) {
		close(fd);
		return;
	}
	conns[i].fd = fd;
	conns[i].gen = ++conngen;
	conns[i].len = 0;
}

static void
tcp_read(size_t ci)
{
	struct conn *c = &conns[ci];
	enum action act;
	size_t flen;
	ssize_t n;
	long delay;

	n = read(c->fd, c->buf + c->len, MAXMSG + 2 - c->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		conn_close(ci);
		return;
	}
	c->len += (size_t)n;
	while (c->len >= 2 && c->len >= 2 + (flen = get16(c->buf))) {
		act = handle(c->buf + 2, flen, 1, &delay);
		if (act != ACT_NONE && delay > 0)
			enqueue(delay, -1, ci, NULL, 0, act == ACT_CLOSE);
		else if (act == ACT_CLOSE || (act == ACT_SEND &&
		    tcp_send(c->fd, gmsg.b, gmsg.len) != 0)) {
			conn_close(ci);
			return;
		}
		memmove(c->buf, c->buf + 2 + flen, c->len - 2 - flen);
		c->len -= 2 + flen;
	}
}

static void
serve(long lifetime_ms)
{
	struct pollfd pfd[1 + 2 * MAXLISTEN + MAXCONN];
	size_t map[1 + 2 * MAXLISTEN + MAXCONN];
	long deadline = ms_now() + lifetime_ms, now, wait;
	size_t i, n;
	char drain[64];

	for (;;) {
		now = ms_now();
		if (got_signal || now >= deadline)
			return;
		fire_pending(now);
		wait = deadline - now;
		if (pendings != NULL && pendings->due - now < wait)
			wait = pendings->due - now;
		if (wait > 60000)
			wait = 60000;
		if (wait < 0)
			wait = 0;
		n = 0;
		pfd[n].fd = sigpipe_fd[0];
		pfd[n++].events = POLLIN;
		for (i = 0; i < nlisteners; i++) {
			pfd[n].fd = listeners[i].udp;
			pfd[n].events = POLLIN;
			map[n++] = i;
			pfd[n].fd = listeners[i].tcp;
			pfd[n].events = POLLIN;
			map[n++] = i;
		}
		for (i = 0; i < MAXCONN; i++) {
			if (conns[i].fd == -1)
				continue;
			pfd[n].fd = conns[i].fd;
			pfd[n].events = POLLIN;
			map[n++] = i;
		}
		if (poll(pfd, (nfds_t)n, (int)wait) == -1) {
			if (errno == EINTR)
				continue;
			fatal(EX_OSERR_, "poll: %s", strerror(errno));
		}
		if (pfd[0].revents != 0)
			while (read(sigpipe_fd[0], drain, sizeof(drain)) > 0)
				;
		for (i = 1; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (i < 1 + 2 * nlisteners) {
				if ((i - 1) % 2 == 0)
					udp_read(pfd[i].fd);
				else
					tcp_accept(pfd[i].fd);
			} else if (conns[map[i]].fd == pfd[i].fd)
				tcp_read(map[i]);
		}
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: fakedns --listen ADDR:PORT [--listen ...] "
	    "--zone FILE [--log FILE]\n"
	    "               [--lifetime SECONDS] [--check]\n");
	exit(EX_USAGE_);
}

int
main(int argc, char *argv[])
{
	struct sigaction sa;
	struct pending *p;
	const char *zone = NULL, *logpath = NULL, *a, *v;
	unsigned long lifetime = 60;
	size_t i, kl;
	int argi, check = 0;

	for (argi = 1; argi < argc; argi++) {
		a = argv[argi];
		if (strncmp(a, "--", 2) != 0)
			usage();
		a += 2;
		v = strchr(a, '=');
		kl = v != NULL ? (size_t)(v - a) : strlen(a);
		if (v != NULL)
			v++;
		if (kl == 5 && strncmp(a, "check", 5) == 0 && v == NULL) {
			check = 1;
			continue;
		}
		if (v == NULL) {
			if (argi + 1 >= argc)
				usage();
			v = argv[++argi];
		}
		if (kl == 6 && strncmp(a, "listen", 6) == 0) {
			if (nlisteners == MAXLISTEN)
				fatal(EX_USAGE_, "%s", "too many --listen");
			if (parse_listen(v, &listeners[nlisteners]) != 0)
				fatal(EX_USAGE_, "bad --listen %s", v);
			if (!is_loopback(&listeners[nlisteners].ss))
				fatal(EX_USAGE_, "not a loopback address: %s",
				    v);
			nlisteners++;
		} else if (kl == 4 && strncmp(a, "zone", 4) == 0)
			zone = v;
		else if (kl == 3 && strncmp(a, "log", 3) == 0)
			logpath = v;
		else if (kl == 8 && strncmp(a, "lifetime", 8) == 0) {
			if (parse_num(v, 86400 * 7, &lifetime) != 0)
				fatal(EX_USAGE_, "bad --lifetime %s", v);
		} else
			usage();
	}
	if (zone == NULL)
		usage();
	load_zone(zone);
	if (check) {
		free_zone();
		return EX_OK_;
	}
	if (nlisteners == 0) {
		(void)parse_listen("127.0.0.1:0", &listeners[0]);
		nlisteners = 1;
	}
	if (logpath != NULL && (logfp = fopen(logpath, "a")) == NULL)
		fatal(EX_OSERR_, "cannot open log %s", logpath);

	if (pipe(sigpipe_fd) == -1 || set_flags(sigpipe_fd[0]) == -1 ||
	    set_flags(sigpipe_fd[1]) == -1)
		fatal(EX_OSERR_, "pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	for (i = 0; i < MAXCONN; i++)
		conns[i].fd = -1;
	for (i = 0; i < nlisteners; i++)
		if (bind_listener(&listeners[i]) != 0)
			fatal(EX_OSERR_, "cannot listen on %s",
			    listeners[i].addr);
	for (i = 0; i < nlisteners; i++)
		printf("ready %s %u pid %ld\n", listeners[i].addr,
		    listeners[i].port, (long)getpid());
	printf("ready\n");
	fflush(stdout);

	serve((long)lifetime * 1000L);

	while ((p = pendings) != NULL) {
		pendings = p->next;
		free(p);
	}
	for (i = 0; i < MAXCONN; i++)
		conn_close(i);
	for (i = 0; i < nlisteners; i++) {
		close(listeners[i].udp);
		close(listeners[i].tcp);
	}
	if (logfp != NULL)
		fclose(logfp);
	free_zone();
	return EX_OK_;
}
