/*
 * dns.c: MX, A/AAAA and TLSA lookups (RFC 5321 §5.1, RFC 7505, RFC 6698)
 * on glibc's reentrant resolver, one struct __res_state per worker.
 *
 * Every answer is parsed with ns_initparse/ns_parserr/dn_expand, which
 * check bounds; anything they refuse, or rdata of the wrong length, makes
 * the whole answer malformed: a temporary failure of that lookup, never
 * "no such domain" (SPEC §10). Only HOST_NOT_FOUND (NXDOMAIN) and NO_DATA
 * (NOERROR without answers) from the resolver are taken as facts about
 * the domain; SERVFAIL, REFUSED, time-outs and unreachable servers all
 * are temporary.
 *
 * Queries are built by res_nmkquery but sent here, over UDP and TCP with
 * poll() deadlines, not by res_nsend: libresolv's retries take about 10 s
 * per unanswered query whatever the caller's budget, and its TCP fallback
 * has no time-out at all (a TC answer and a TCP server that accepts and
 * stays silent held a run for minutes). Every lookup here ends by d->end,
 * which timeout_dns and the deadline set (SPEC §4, §6 step 1).
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "util.h"

#define ANSWER_MAX	65536	/* the largest DNS message over TCP */
#define MX_MAX		100	/* MX records considered per domain */
#define T_TLSA_		52	/* RFC 6698 */
#define EDNS_PAYLOAD	1232	/* the DNS flag day 2020 value */
#define OPT_LEN		11	/* an OPT record without options */
#define HOST_MIN_MS	250	/* an MX host's share of a spent budget */
#define TIMEOUT_DFL	30	/* SPEC §4 timeout_dns */

struct answer {
	unsigned char	*buf;
	int		 len;
	ns_msg		 msg;
	int		 ad;
};

static uint32_t
rnd_below(uint32_t n)
{
	uint32_t r, lim;

	if (n < 2)
		return 0;
	/* Rejection sampling: no modulo bias in the shuffle. */
	lim = (uint32_t)-1 - ((uint32_t)-1 % n);
	do {
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (uint32_t)random();
	} while (r >= lim);
	return r % n;
}

const char *
dns_status_str(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "ok";
	case DNS_NULLMX:
		return "null MX";
	case DNS_NXDOMAIN:
		return "no such domain";
	case DNS_NODATA:
		return "no records";
	case DNS_TEMPFAIL:
		break;
	}
	return "temporary DNS failure";
}

int
dns_trusted_server(const struct sockaddr *sa, int trust_ad)
{
	const struct in6_addr *a6;

	if (trust_ad)
		return 1;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr)
		    >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return 0;
	a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	/* ::ffff:127.x.y.z is IPv4's loopback too. */
	return IN6_IS_ADDR_LOOPBACK(a6) ||
	    (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

static int ns_addr(const struct dns *, int, struct sockaddr_storage *,
    socklen_t *);

/* Which of d's servers may set AD for us (dns.h). */
static void
trust_servers(struct dns *d, int trust_ad)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int i;

	d->trusted = 0;
	for (i = 0; i < d->res.nscount && i < MAXNS; i++)
		if (ns_addr(d, i, &ss, &len) == 0 &&
		    dns_trusted_server((struct sockaddr *)&ss, trust_ad))
			d->trusted |= 1u << i;
}

void
dns_want_dnssec(struct dns *d, int on)
{
	d->dnssec = on;
}

int
dns_open(struct dns *d, const struct nameserver *ns, size_t nns,
    enum addr_family family, char *err, size_t errlen)
{
	size_t i;
	int trust_ad;

	memset(d, 0, sizeof(*d));
	/* res_ninit fails only without memory; it still fills defaults. */
	if (res_ninit(&d->res) != 0 && d->res.nscount == 0) {
		snprintf(err, errlen, "cannot initialise the resolver");
		return -1;
	}
	d->open = 1;
	d->family = family;
	d->timeout = TIMEOUT_DFL;
	/* resolv.conf's "options trust-ad", before the servers change. */
	trust_ad = (d->res.options & RES_TRUSTAD) != 0;
	d->res.options |= RES_USE_EDNS0;
	d->res.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
	if (nns == 0) {
		trust_servers(d, trust_ad);
		return 0;
	}
	if (nns > MAXNS)
		nns = MAXNS;
	for (i = 0; i < MAXNS; i++) {
		free(d->res._u._ext.nsaddrs[i]);
		d->res._u._ext.nsaddrs[i] = NULL;
	}
	for (i = 0; i < nns; i++) {
		if (ns[i].family == AF_INET6) {
			struct sockaddr_in6 *sin6 = xcalloc(1, sizeof(*sin6));

			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(ns[i].port);
			if (inet_pton(AF_INET6, ns[i].addr,
			    &sin6->sin6_addr) != 1) {
				free(sin6);
				goto bad;
			}
			/* glibc keeps IPv6 servers in _u._ext.nsaddrs. */
			memset(&d->res.nsaddr_list[i], 0,
			    sizeof(d->res.nsaddr_list[i]));
			d->res._u._ext.nsaddrs[i] = sin6;
		} else {
			struct sockaddr_in *sin = &d->res.nsaddr_list[i];

			memset(sin, 0, sizeof(*sin));
			sin->sin_family = AF_INET;
			sin->sin_port = htons(ns[i].port);
			if (inet_pton(AF_INET, ns[i].addr, &sin->sin_addr) != 1)
				goto bad;
		}
	}
	d->res.nscount = (int)nns;
	/* trust-ad speaks of resolv.conf's servers, not of these. */
	trust_servers(d, 0);
	return 0;
bad:
	snprintf(err, errlen, "bad nameserver address '%s'", ns[i].addr);
	dns_close(d);
	return -1;
}

void
dns_set_limits(struct dns *d, unsigned timeout_dns,
    const struct timespec *deadline)
{
	d->timeout = timeout_dns;
	d->deadline = 0;
	if (deadline != NULL && (deadline->tv_sec != 0 ||
	    deadline->tv_nsec != 0))
		d->deadline = (int64_t)deadline->tv_sec * 1000 +
		    deadline->tv_nsec / 1000000;
}

void
dns_close(struct dns *d)
{
	if (d->open)
		res_nclose(&d->res);
	d->open = 0;
}

static void
answer_free(struct answer *a)
{
	free(a->buf);
	a->buf = NULL;
}

static const char *
type_name(int type)
{
	switch (type) {
	case ns_t_mx:
		return "MX";
	case ns_t_a:
		return "A";
	case ns_t_aaaa:
		return "AAAA";
	case ns_t_cname:
		return "CNAME";
	default:
		return "TLSA";
	}
}

/* Check and index a raw answer of n octets in a->buf. */
static enum dns_status
answer_parse(struct answer *a, int n, const char *name, int type,
    char *reason, size_t rlen)
{
	/* glibc does not check QR: a "reply" that is a query is malformed. */
	if (n <= 0 || n > ANSWER_MAX || ns_initparse(a->buf, n, &a->msg) < 0 ||
	    ns_msg_getflag(a->msg, ns_f_qr) != 1) {
		snprintf(reason, rlen, "DNS lookup of %.150s %.150s failed: "
		    "malformed answer", name, type_name(type));
		return DNS_TEMPFAIL;
	}
	a->len = n;
	return DNS_OK;
}


/* The end of a lookup that starts now: timeout_dns, or the deadline. */
static int64_t
budget_end(const struct dns *d)
{
	int64_t end = INT64_MAX;

	if (d->timeout > 0)
		end = mono_ms() + (int64_t)d->timeout * 1000;
	if (d->deadline != 0 && d->deadline < end)
		end = d->deadline;
	return end;
}

/* Why a query has no answer (yet). */
enum why {
	WHY_TIME,	/* nothing in time */
	WHY_UNREACH,	/* every server refused the datagram or connection */
	WHY_SERVFAIL,
	WHY_REFUSED,	/* REFUSED, FORMERR, NOTIMP or another rcode */
	WHY_NAME	/* the name cannot be put in a query */
};

/* One query in flight. */
struct pending {
	const char	*name;
	int		 type;
	struct answer	*a;
	unsigned char	 q[NS_PACKETSZ + OPT_LEN];
	int		 qlen;		/* OPT included */
	int		 optlen;	/* OPT_LEN, or 0 once dropped */
	int		 fd;
	int		 tcp;
	int		 connecting;
	unsigned char	 lenbuf[2];	/* TCP: the answer's length prefix */
	size_t		 got;		/* TCP: octets read, prefix included */
	int		 tries;
	int		 ns;		/* the server of the try under way */
	unsigned	 bad;		/* servers out for this query */
	int64_t		 try_end;
	int		 done;
	int		 n;		/* answer length when done with one */
	enum why	 why;
};

static int
ns_addr(const struct dns *d, int i, struct sockaddr_storage *ss,
    socklen_t *len)
{
	const struct sockaddr_in6 *s6 = d->res._u._ext.nsaddrs[i];

	memset(ss, 0, sizeof(*ss));
	/* glibc keeps IPv6 servers in _u._ext.nsaddrs, IPv4 ones in both. */
	if (s6 != NULL && s6->sin6_family == AF_INET6) {
		memcpy(ss, s6, sizeof(*s6));
		*len = sizeof(*s6);
		return 0;
	}
	if (d->res.nsaddr_list[i].sin_family != AF_INET)
		return -1;
	memcpy(ss, &d->res.nsaddr_list[i], sizeof(struct sockaddr_in));
	*len = sizeof(struct sockaddr_in);
	return 0;
}

/*
 * The query as res_nquery would send it, with an OPT record (RFC 6891);
 * under dns_want_dnssec() also AD (RFC 6840 §5.7) and DO (RFC 3225), so
 * that a validating resolver says whether the answer is secure. Without
 * them the answers carry no RRSIGs: smaller, and truncated less often.
 */
static int
make_query(struct dns *d, struct pending *p)
{
	unsigned char opt[OPT_LEN] = {
		0, 0, 41, EDNS_PAYLOAD >> 8, EDNS_PAYLOAD & 0xff, 0, 0,
		0, 0, 0, 0
	};
	int n;

	n = res_nmkquery(&d->res, ns_o_query, p->name, ns_c_in, p->type,
	    NULL, 0, NULL, p->q, NS_PACKETSZ);
	if (n < NS_HFIXEDSZ)
		return -1;
	if (d->dnssec) {
		opt[7] = 0x80;	/* DO */
		p->q[3] |= 0x20;
	} else
		p->q[3] &= (unsigned char)~0x20;
	memcpy(p->q + n, opt, sizeof(opt));
	p->q[10] = 0;
	p->q[11] = 1;
	p->qlen = n + OPT_LEN;
	p->optlen = OPT_LEN;
	return 0;
}

static unsigned char
lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/*
 * Is r the answer to p's query: its ID, QR, and the same question? Any
 * other datagram is not taken as the answer (RFC 5452 §9.1).
 */
static int
matches(const struct pending *p, const unsigned char *r, size_t n)
{
	size_t i, qend = (size_t)(p->qlen - p->optlen);

	if (n < qend || r[0] != p->q[0] || r[1] != p->q[1] ||
	    (r[2] & 0x80) == 0 || r[4] != 0 || r[5] != 1)
		return 0;
	for (i = NS_HFIXEDSZ; i < qend; i++)
		if (lc(r[i]) != lc(p->q[i]))
			return 0;
	return 1;
}

static void
end_try(struct pending *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->connecting = 0;
	p->got = 0;
}

/* This server cannot answer this query: the next one is asked. */
static void
server_out(struct dns *d, struct pending *p, enum why why)
{
	end_try(p);
	p->bad |= 1u << p->ns;
	p->why = why;
	if (p->bad == (1u << d->res.nscount) - 1)
		p->done = 1;
}

static int
open_try(struct dns *d, struct pending *p, int tcp)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (ns_addr(d, p->ns, &ss, &len) != 0)
		return -1;
	fd = socket(ss.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	p->fd = fd;
	p->tcp = tcp;
	p->got = 0;
	p->connecting = tcp;
	if (!tcp && send(fd, p->q, (size_t)p->qlen, 0) != p->qlen) {
		end_try(p);
		return -1;
	}
	return 0;
}

/* The time one try may wait: resolv.conf's timeout, as res_nsend. */
static int64_t
try_ms(const struct dns *d)
{
	return (int64_t)(d->res.retrans > 0 ? d->res.retrans : RES_TIMEOUT) *
	    1000;
}

/* Send the query to the next server still in, within end. */
static void
start_try(struct dns *d, struct pending *p, int64_t now, int64_t end)
{
	int nns = d->res.nscount, k;

	if (nns <= 0 || nns > MAXNS) {
		p->why = WHY_UNREACH;
		p->done = 1;
		return;
	}
	for (k = 0; k < nns; k++) {
		/* resolv.conf's attempts, as res_nsend counts them. */
		if (p->tries >= (d->res.retry > 0 ? d->res.retry : 1) * nns) {
			if (p->why == WHY_TIME)
				p->why = WHY_UNREACH;
			p->done = 1;
			return;
		}
		p->ns = p->tries++ % nns;
		if (p->bad & (1u << p->ns))
			continue;
		if (open_try(d, p, (d->res.options & RES_USEVC) != 0) != 0) {
			server_out(d, p, WHY_UNREACH);
			if (p->done)
				return;
			continue;
		}
		p->try_end = now + try_ms(d);
		if (p->try_end > end)
			p->try_end = end;
		return;
	}
	p->done = 1;
}

/* A whole answer of n octets in p->a->buf. */
static void
got_answer(struct dns *d, struct pending *p, int n, int64_t now)
{
	unsigned rcode = p->a->buf[3] & 0x0f;

	if (!p->tcp && (p->a->buf[2] & 0x02) != 0) {
		/* Truncated: the same server over TCP, in the same budget. */
		end_try(p);
		if (open_try(d, p, 1) != 0) {
			server_out(d, p, WHY_UNREACH);
			return;
		}
		if (p->try_end < now + try_ms(d))
			p->try_end = now + try_ms(d);
		return;
	}
	if (rcode == ns_r_noerror || rcode == ns_r_nxdomain) {
		end_try(p);
		p->n = n;
		p->done = 1;
		return;
	}
	if (rcode == ns_r_formerr && p->optlen > 0) {
		/*
		 * RFC 6891 §7: a server that does not know EDNS answers
		 * FORMERR. Ask it again without the OPT record, as glibc
		 * does, within the same try.
		 */
		end_try(p);
		p->qlen -= p->optlen;
		p->optlen = 0;
		p->q[10] = p->q[11] = 0;
		if (open_try(d, p, p->tcp) != 0)
			server_out(d, p, WHY_UNREACH);
		return;
	}
	/* As res_nsend: SERVFAIL, REFUSED and the like ask the next server. */
	server_out(d, p, rcode == ns_r_servfail ? WHY_SERVFAIL : WHY_REFUSED);
}

/* p->fd is ready. */
static void
step(struct dns *d, struct pending *p, int64_t now)
{
	ssize_t r;

	if (p->connecting) {
		unsigned char buf[2 + NS_PACKETSZ + OPT_LEN];
		socklen_t sl = sizeof(int);
		int err = 0;

		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 ||
		    err != 0) {
			server_out(d, p, WHY_UNREACH);
			return;
		}
		buf[0] = (unsigned char)(p->qlen >> 8);
		buf[1] = (unsigned char)p->qlen;
		memcpy(buf + 2, p->q, (size_t)p->qlen);
		/* A few hundred octets on a new connection: sent whole. */
		if (send(p->fd, buf, (size_t)p->qlen + 2, MSG_NOSIGNAL) !=
		    p->qlen + 2) {
			server_out(d, p, WHY_UNREACH);
			return;
		}
		p->connecting = 0;
		return;
	}
	if (!p->tcp) {
		r = recv(p->fd, p->a->buf, ANSWER_MAX, 0);
		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				server_out(d, p, WHY_UNREACH);
			return;
		}
		/* Not the answer (late, forged, or mangled): wait on. */
		if (matches(p, p->a->buf, (size_t)r))
			got_answer(d, p, (int)r, now);
		return;
	}
	if (p->got < 2)
		r = recv(p->fd, p->lenbuf + p->got, 2 - p->got, 0);
	else {
		size_t want = (size_t)p->lenbuf[0] << 8 | p->lenbuf[1];

		r = recv(p->fd, p->a->buf + (p->got - 2), want - (p->got - 2),
		    0);
	}
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		/* Closed or reset: this server cannot answer this query. */
		server_out(d, p, WHY_UNREACH);
		return;
	}
	p->got += (size_t)r;
	if (p->got == 2 && (p->lenbuf[0] << 8 | p->lenbuf[1]) < NS_HFIXEDSZ) {
		server_out(d, p, WHY_REFUSED);
		return;
	}
	if (p->got > 2 && p->got - 2 == ((size_t)p->lenbuf[0] << 8 |
	    p->lenbuf[1])) {
		if (!matches(p, p->a->buf, p->got - 2)) {
			server_out(d, p, WHY_REFUSED);
			return;
		}
		got_answer(d, p, (int)(p->got - 2), now);
	}
}

/*
 * Run up to two queries at once (A and AAAA: one wait for both) until
 * each has an answer or d->end has come.
 */
static void
run(struct dns *d, struct pending *ps, size_t n)
{
	size_t i;

	for (;;) {
		struct pollfd pfd[2];
		size_t idx[2];
		nfds_t np = 0;
		int64_t now = mono_ms(), wake = d->end;
		int rc;

		for (i = 0; i < n; i++) {
			struct pending *p = &ps[i];

			if (p->done)
				continue;
			if (p->fd >= 0 && now >= p->try_end)
				/* Retransmit, maybe elsewhere. */
				end_try(p);
			if (p->fd < 0 && now < d->end)
				start_try(d, p, now, d->end);
			if (p->done || p->fd < 0)
				continue;
			pfd[np].fd = p->fd;
			pfd[np].events = p->connecting ? POLLOUT : POLLIN;
			pfd[np].revents = 0;
			idx[np++] = i;
			if (p->try_end < wake)
				wake = p->try_end;
		}
		if (np == 0 || now >= d->end)
			break;
		rc = poll(pfd, np, wake - now > INT_MAX ? INT_MAX :
		    (int)(wake - now));
		if (rc < 0 && errno != EINTR)
			break;
		now = mono_ms();
		for (i = 0; rc > 0 && i < np; i++)
			if (pfd[i].revents != 0)
				step(d, &ps[idx[i]], now);
	}
	for (i = 0; i < n; i++) {
		end_try(&ps[i]);
		ps[i].done = 1;
	}
}

/* What the outcome of p means; a->buf is allocated on every path. */
static enum dns_status
outcome(struct dns *d, struct pending *p, char *reason, size_t rlen)
{
	const unsigned char *b = p->a->buf;
	const char *why;

	if (p->n > 0) {
		/* AD counts only from a server we trust to validate. */
		p->a->ad = (b[3] & 0x20) != 0 && p->ns >= 0 && p->ns < MAXNS &&
		    (d->trusted & (1u << p->ns)) != 0;
		if ((b[3] & 0x0f) == ns_r_nxdomain) {
			snprintf(reason, rlen, "%.200s: no such domain",
			    p->name);
			return DNS_NXDOMAIN;
		}
		if (b[6] == 0 && b[7] == 0) {
			snprintf(reason, rlen, "%.200s: no %.8s records",
			    p->name, type_name(p->type));
			return DNS_NODATA;
		}
		return answer_parse(p->a, p->n, p->name, p->type, reason,
		    rlen);
	}
	switch (p->why) {
	case WHY_SERVFAIL:
		why = "server failure";
		break;
	case WHY_REFUSED:
		why = "server refused the query or answered badly";
		break;
	case WHY_UNREACH:
		why = "no answer from the nameservers";
		break;
	case WHY_NAME:
		why = "not a valid name";
		break;
	default:
		why = d->deadline != 0 && d->end >= d->deadline ?
		    "no answer before the deadline" :
		    "no answer within timeout_dns";
		break;
	}
	snprintf(reason, rlen, "DNS lookup of %.150s %.8s failed: %.60s",
	    p->name, type_name(p->type), why);
	return DNS_TEMPFAIL;
}

/* A query to be run with others. */
struct req {
	const char	*name;
	int		 type;
	struct answer	 a;
	enum dns_status	 st;
	char		 reason[256];
};

/* Ask every request at once (at most 2), all within d->end. */
static void
query_all(struct dns *d, struct req *rq, size_t n)
{
	struct pending ps[2];
	size_t i;

	memset(ps, 0, sizeof(ps));
	for (i = 0; i < n; i++) {
		rq[i].a.buf = xmalloc(ANSWER_MAX);
		rq[i].a.len = 0;
		rq[i].a.ad = 0;
		ps[i].name = rq[i].name;
		ps[i].type = rq[i].type;
		ps[i].a = &rq[i].a;
		ps[i].fd = -1;
		ps[i].why = WHY_TIME;
		if (make_query(d, &ps[i]) != 0) {
			ps[i].why = WHY_NAME;
			ps[i].done = 1;
		}
	}
	run(d, ps, n);
	for (i = 0; i < n; i++)
		rq[i].st = outcome(d, &ps[i], rq[i].reason,
		    sizeof(rq[i].reason));
}

/* One query; a->buf is allocated on every path (answer_free it). */
static enum dns_status
query(struct dns *d, const char *name, int type, struct answer *a,
    char *reason, size_t rlen)
{
	struct req r;

	memset(&r, 0, sizeof(r));
	r.name = name;
	r.type = type;
	query_all(d, &r, 1);
	*a = r.a;
	strlcpy(reason, r.reason, rlen);
	return r.st;
}

static int
same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	/* Compare without a trailing root dot. */
	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && ascii_strncasecmp(a, b, la) == 0;
}

/*
 * Walk the answer section: follow the CNAME chain from qname (at most
 * DNS_CNAME_DEPTH links) and call fn for each record of type whose owner
 * is the end of the chain. Returns the number of records passed to fn, or
 * -1 when the answer is malformed (fn returning -1 also means that).
 * *final receives the end of the chain.
 */
typedef int (*rr_fn)(void *, const struct answer *, const ns_rr *);

static int
walk(const struct answer *a, const char *qname, int type, rr_fn fn,
    void *ctx, char *final, size_t finallen)
{
	char cur[DNS_NAME_MAX];
	int count = ns_msg_count(a->msg, ns_s_an), i, depth, found = 0;

	strlcpy(cur, qname, sizeof(cur));
	for (depth = 0; depth <= DNS_CNAME_DEPTH; depth++) {
		int moved = 0;

		for (i = 0; i < count; i++) {
			ns_rr rr;
			char target[DNS_NAME_MAX];

			if (ns_parserr((ns_msg *)&a->msg, ns_s_an, i, &rr) < 0)
				return -1;
			if (ns_rr_type(rr) != ns_t_cname ||
			    ns_rr_class(rr) != ns_c_in ||
			    !same_name(ns_rr_name(rr), cur))
				continue;
			if (dn_expand(ns_msg_base(a->msg), ns_msg_end(a->msg),
			    ns_rr_rdata(rr), target, sizeof(target)) < 0)
				return -1;
			strlcpy(cur, target, sizeof(cur));
			moved = 1;
			break;
		}
		if (!moved)
			break;
	}
	if (depth > DNS_CNAME_DEPTH)
		return -1;	/* a CNAME loop or an absurd chain */
	for (i = 0; i < count; i++) {
		ns_rr rr;

		if (ns_parserr((ns_msg *)&a->msg, ns_s_an, i, &rr) < 0)
			return -1;
		if ((int)ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in ||
		    !same_name(ns_rr_name(rr), cur))
			continue;
		if (fn(ctx, a, &rr) < 0)
			return -1;
		found++;
	}
	strlcpy(final, cur, finallen);
	return found;
}

/*
 * Query name/type, following a CNAME chain that the server left
 * unresolved with further queries, up to DNS_CNAME_DEPTH in all. *ad
 * (if ad is not NULL) is 1 when every answer on the way was secure, the
 * last one's NXDOMAIN or NODATA included (RFC 7672 §2.1.1).
 */
static enum dns_status
lookup_from(struct dns *d, const char *name, int type, rr_fn fn, void *ctx,
    int *ad, char *reason, size_t rlen, struct req *first)
{
	char qname[DNS_NAME_MAX], final[DNS_NAME_MAX];
	int hops;

	strlcpy(qname, name, sizeof(qname));
	for (hops = 0; hops <= DNS_CNAME_DEPTH; hops++) {
		struct answer a;
		enum dns_status st;
		int n;

		if (hops == 0 && first != NULL) {
			/* Asked already, together with another query. */
			a = first->a;
			st = first->st;
			strlcpy(reason, first->reason, rlen);
		} else
			st = query(d, qname, type, &a, reason, rlen);

		if (ad != NULL)
			*ad = (hops == 0 || *ad) && a.ad;
		if (st != DNS_OK) {
			answer_free(&a);
			return st;
		}
		n = walk(&a, qname, type, fn, ctx, final, sizeof(final));
		answer_free(&a);
		if (n < 0) {
			snprintf(reason, rlen, "DNS lookup of %.150s failed: "
			    "malformed answer", qname);
			return DNS_TEMPFAIL;
		}
		if (n > 0)
			return DNS_OK;
		if (same_name(final, qname)) {
			snprintf(reason, rlen, "%.150s: no records of the type "
			    "asked", qname);
			return DNS_NODATA;
		}
		strlcpy(qname, final, sizeof(qname));
	}
	snprintf(reason, rlen, "DNS lookup of %.150s failed: CNAME chain too "
	    "long", name);
	return DNS_TEMPFAIL;
}

static enum dns_status
lookup(struct dns *d, const char *name, int type, rr_fn fn, void *ctx,
    int *ad, char *reason, size_t rlen)
{
	return lookup_from(d, name, type, fn, ctx, ad, reason, rlen, NULL);
}

struct addr_ctx {
	struct dns_addr	**addrs;
	size_t		 *naddrs;
	size_t		  max;
	char		 *skipped;	/* NULL, or the first address left out,
					   with why (DNS_SKIPPED_MAX) */
};

const char *
dns_addr_unusable(const struct dns_addr *a)
{
	const unsigned char *b;

	if (a->ss.ss_family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;

		if (IN6_IS_ADDR_UNSPECIFIED(in6))
			return "the unspecified address";
		if (IN6_IS_ADDR_MULTICAST(in6))
			return "a multicast address";
		if (!IN6_IS_ADDR_V4MAPPED(in6))
			return NULL;
		b = in6->s6_addr + 12;
	} else
		b = (const unsigned char *)
		    &((const struct sockaddr_in *)&a->ss)->sin_addr;
	/* RFC 1122 §3.2.1.3 "this network"; RFC 5771; RFC 1112 §4. */
	if (b[0] == 0)
		return "an address of \"this network\" (0.0.0.0/8)";
	if (b[0] >= 224 && b[0] <= 239)
		return "a multicast address";
	if (b[0] >= 240)
		return b[0] == 255 && b[1] == 255 && b[2] == 255 &&
		    b[3] == 255 ? "the broadcast address" :
		    "a reserved address (240.0.0.0/4)";
	return NULL;
}

static int
add_addr(void *vctx, const struct answer *a, const ns_rr *rr)
{
	struct addr_ctx *c = vctx;
	struct dns_addr da;

	(void)a;
	memset(&da, 0, sizeof(da));
	if (ns_rr_type(*rr) == ns_t_a) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&da.ss;

		if (ns_rr_rdlen(*rr) != 4)
			return -1;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ns_rr_rdata(*rr), 4);
		da.len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&da.ss;

		if (ns_rr_rdlen(*rr) != 16)
			return -1;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ns_rr_rdata(*rr), 16);
		da.len = sizeof(*sin6);
	}
	if (dns_addr_unusable(&da) != NULL) {
		char ip[INET6_ADDRSTRLEN];

		/* SPEC §6 step 2: it cannot be a mail host. */
		if (c->skipped != NULL && c->skipped[0] == '\0') {
			dns_addr_str(&da, ip, sizeof(ip));
			snprintf(c->skipped, DNS_SKIPPED_MAX, "%s is %s", ip,
			    dns_addr_unusable(&da));
		}
		return 0;
	}
	if (*c->naddrs >= c->max)
		return 0;
	*c->addrs = xreallocarray(*c->addrs, *c->naddrs + 1, sizeof(da));
	(*c->addrs)[(*c->naddrs)++] = da;
	return 0;
}

/* The worse of two outcomes of one host's A and AAAA lookups. */
static enum dns_status
combine(enum dns_status a, enum dns_status b)
{
	if (a == DNS_OK || b == DNS_OK)
		return DNS_OK;
	if (a == DNS_TEMPFAIL || b == DNS_TEMPFAIL)
		return DNS_TEMPFAIL;
	if (a == DNS_NODATA || b == DNS_NODATA)
		return DNS_NODATA;
	return DNS_NXDOMAIN;
}

/*
 * A and AAAA of name at once, within d->end; *ad says whether every
 * answer was secure; the first address that cannot be a mail host in
 * skipped (NULL, or DNS_SKIPPED_MAX octets).
 */
static enum dns_status
host_lookup(struct dns *d, const char *name, size_t max,
    struct dns_addr **addrs, size_t *naddrs, int *ad, char *skipped,
    char *reason, size_t rlen)
{
	struct addr_ctx c = { addrs, naddrs, max, skipped };
	enum dns_status s4 = DNS_NODATA, s6 = DNS_NODATA;
	struct req rq[2];
	char r4[256] = "", r6[256] = "";
	size_t before = *naddrs, n = 0, i4 = 2, i6 = 2;
	int ad4 = 1, ad6 = 1;

	*ad = 0;
	if (*naddrs >= max)
		return DNS_NODATA;
	memset(rq, 0, sizeof(rq));
	if (d->family != AFAM_IPV6) {
		rq[n].name = name;
		rq[n].type = ns_t_a;
		i4 = n++;
	}
	if (d->family != AFAM_IPV4) {
		rq[n].name = name;
		rq[n].type = ns_t_aaaa;
		i6 = n++;
	}
	query_all(d, rq, n);
	/* A first: the addresses keep the order A, then AAAA. */
	if (i4 < n)
		s4 = lookup_from(d, name, ns_t_a, add_addr, &c, &ad4, r4,
		    sizeof(r4), &rq[i4]);
	if (i6 < n)
		s6 = lookup_from(d, name, ns_t_aaaa, add_addr, &c, &ad6, r6,
		    sizeof(r6), &rq[i6]);
	*ad = ad4 && ad6;
	/* NXDOMAIN for A is the answer for the name, whatever AAAA said. */
	if (s4 == DNS_NXDOMAIN && s6 != DNS_OK)
		s6 = DNS_NXDOMAIN;
	if (*naddrs > before)
		return DNS_OK;
	strlcpy(reason, s4 == DNS_TEMPFAIL || r6[0] == '\0' ? r4 : r6, rlen);
	if (reason[0] == '\0' && skipped != NULL && skipped[0] != '\0')
		snprintf(reason, rlen, "%.150s: no usable address (%s, which "
		    "cannot be a mail host)", name, skipped);
	else if (reason[0] == '\0')
		snprintf(reason, rlen, "%.150s: no address records", name);
	return combine(s4, s6);
}

enum dns_status
dns_host(struct dns *d, const char *name, size_t max,
    struct dns_addr **addrs, size_t *naddrs, char *reason, size_t rlen)
{
	int ad;

	d->end = budget_end(d);
	return host_lookup(d, name, max, addrs, naddrs, &ad, NULL, reason,
	    rlen);
}

struct mx_ctx {
	struct mx_host	*hosts;
	size_t		 n;
	int		 nullmx;
	int		 literal;
	int		 noglue;	/* dns_want_dnssec(): ask every host */
	enum addr_family family;
};

#define GLUE_MAX	16	/* addresses kept per host from glue */

/*
 * The A and AAAA records of host in the additional section of the MX
 * answer (what recursive servers add): they spare two queries per host.
 * A first, then AAAA, as the queries would give them. A record that
 * cannot be an address makes the answer malformed, as in the answer
 * section.
 */
static int
add_glue(const struct answer *a, struct mx_host *h, enum addr_family fam)
{
	struct addr_ctx c = { &h->addrs, &h->naddrs, GLUE_MAX, h->skipped };
	int count = ns_msg_count(a->msg, ns_s_ar), i, pass;

	for (pass = 0; pass < 2; pass++) {
		int type = pass == 0 ? ns_t_a : ns_t_aaaa;

		if ((type == ns_t_a && fam == AFAM_IPV6) ||
		    (type == ns_t_aaaa && fam == AFAM_IPV4))
			continue;
		for (i = 0; i < count; i++) {
			ns_rr rr;

			if (ns_parserr((ns_msg *)&a->msg, ns_s_ar, i, &rr) < 0)
				return -1;
			if ((int)ns_rr_type(rr) != type ||
			    ns_rr_class(rr) != ns_c_in ||
			    !same_name(ns_rr_name(rr), h->name))
				continue;
			if (add_addr(&c, a, &rr) < 0)
				return -1;
		}
	}
	return 0;
}

static int
add_mx(void *vctx, const struct answer *a, const ns_rr *rr)
{
	struct mx_ctx *c = vctx;
	const unsigned char *rd = ns_rr_rdata(*rr);
	char name[DNS_NAME_MAX];
	unsigned char tmp[16];
	int len;

	if (ns_rr_rdlen(*rr) < 3)
		return -1;
	len = dn_expand(ns_msg_base(a->msg), ns_msg_end(a->msg), rd + 2, name,
	    sizeof(name));
	if (len < 0 || len > ns_rr_rdlen(*rr) - 2)
		return -1;
	if (name[0] == '\0' || strcmp(name, ".") == 0) {
		c->nullmx++;
		return 0;
	}
	/* An MX target is a host name, never an address (RFC 5321 §5.1). */
	if (inet_pton(AF_INET, name, tmp) == 1 ||
	    inet_pton(AF_INET6, name, tmp) == 1) {
		c->literal++;
		return 0;
	}
	if (c->n >= MX_MAX)
		return 0;
	c->hosts = xreallocarray(c->hosts, c->n + 1, sizeof(*c->hosts));
	memset(&c->hosts[c->n], 0, sizeof(c->hosts[c->n]));
	strlcpy(c->hosts[c->n].name, name, sizeof(c->hosts[c->n].name));
	c->hosts[c->n].pref = ns_get16(rd);
	c->n++;
	return c->noglue ? 0 : add_glue(a, &c->hosts[c->n - 1], c->family);
}

static int
cmp_pref(const void *a, const void *b)
{
	const struct mx_host *x = a, *y = b;

	return (x->pref > y->pref) - (x->pref < y->pref);
}

/* Sort by preference, then shuffle each run of equal preference. */
static void
order_hosts(struct mx_host *h, size_t n)
{
	size_t i, j;

	if (n == 0)
		return;
	qsort(h, n, sizeof(*h), cmp_pref);
	for (i = 0; i < n; i = j) {
		size_t k;

		for (j = i + 1; j < n && h[j].pref == h[i].pref; j++)
			;
		for (k = j - i; k > 1; k--) {
			size_t r = rnd_below((uint32_t)k);
			struct mx_host t = h[i + k - 1];

			h[i + k - 1] = h[i + r];
			h[i + r] = t;
		}
	}
}

/*
 * An address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]") names the host
 * itself: no DNS (RFC 5321 §4.1.3, §5.1).
 */
static enum dns_status
literal_route(struct dns *d, const char *domain, struct mx_route *out)
{
	char text[DNS_NAME_MAX];
	struct dns_addr a;
	size_t len = strlen(domain);
	const char *p = domain + 1;

	memset(&a, 0, sizeof(a));
	if (len < 3 || domain[len - 1] != ']' || len - 2 >= sizeof(text))
		goto bad;
	if (ascii_strncasecmp(p, "IPv6:", 5) == 0) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;

		memcpy(text, p + 5, len - 7);
		text[len - 7] = '\0';
		if (inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1)
			goto bad;
		sin6->sin6_family = AF_INET6;
		a.len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

		memcpy(text, p, len - 2);
		text[len - 2] = '\0';
		if (inet_pton(AF_INET, text, &sin->sin_addr) != 1)
			goto bad;
		sin->sin_family = AF_INET;
		a.len = sizeof(*sin);
	}
	if ((a.ss.ss_family == AF_INET && d->family == AFAM_IPV6) ||
	    (a.ss.ss_family == AF_INET6 && d->family == AFAM_IPV4)) {
		snprintf(out->reason, sizeof(out->reason), "%.150s: address "
		    "family excluded by address_family", domain);
		return out->status = DNS_NODATA;
	}
	if (dns_addr_unusable(&a) != NULL) {
		snprintf(out->reason, sizeof(out->reason), "%.150s: %s cannot "
		    "be a mail host", domain, dns_addr_unusable(&a));
		return out->status = DNS_NODATA;
	}
	out->hosts = xcalloc(1, sizeof(*out->hosts));
	strlcpy(out->hosts[0].name, domain, sizeof(out->hosts[0].name));
	out->hosts[0].addrs = xmalloc(sizeof(a));
	out->hosts[0].addrs[0] = a;
	out->hosts[0].naddrs = 1;
	out->nhosts = 1;
	out->naddrs = 1;
	out->implicit = 1;
	return out->status = DNS_OK;
bad:
	snprintf(out->reason, sizeof(out->reason), "%.150s: not a valid "
	    "address literal", domain);
	return out->status = DNS_NXDOMAIN;
}

static void
hosts_free(struct mx_host *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(h[i].addrs);
	free(h);
}

/*
 * The MX answer of domain into c (ordered), or the implicit MX. Returns
 * DNS_OK to go on to the hosts' addresses, else the domain's outcome.
 */
static enum dns_status
mx_hosts(struct dns *d, const char *domain, struct mx_ctx *c,
    struct mx_route *out)
{
	enum dns_status st;

	st = lookup(d, domain, ns_t_mx, add_mx, c, &out->ad, out->reason,
	    sizeof(out->reason));
	if (st != DNS_OK || c->n == 0)
		hosts_free(c->hosts, c->n);
	if (st == DNS_NXDOMAIN || st == DNS_TEMPFAIL)
		return st;
	if (st == DNS_OK && c->n == 0) {
		if (c->nullmx > 0 && c->literal == 0) {
			snprintf(out->reason, sizeof(out->reason),
			    "%.150s accepts no mail (null MX)", domain);
			return DNS_NULLMX;
		}
		snprintf(out->reason, sizeof(out->reason), "%.150s: MX records "
		    "name IP addresses instead of hosts", domain);
		return DNS_TEMPFAIL;
	}
	if (st == DNS_NODATA) {
		/* RFC 5321 §5.1: the domain itself is the implicit MX. */
		out->implicit = 1;
		c->hosts = xcalloc(1, sizeof(*c->hosts));
		strlcpy(c->hosts[0].name, domain, sizeof(c->hosts[0].name));
		c->n = 1;
	} else
		order_hosts(c->hosts, c->n);
	return DNS_OK;
}

/* The first address a host of r left out as unusable, or NULL. */
static const char *
skipped_of(const struct mx_route *r)
{
	size_t i;

	for (i = 0; i < r->nhosts; i++)
		if (r->hosts[i].skipped[0] != '\0')
			return r->hosts[i].skipped;
	return NULL;
}

/*
 * The addresses of out's hosts, at most max_addrs in all, within the
 * budget that ends at end. Returns 1 when a temporary failure (or the
 * budget) left some unknown.
 */
static int
mx_addresses(struct dns *d, const char *domain, size_t max_addrs,
    int64_t end, struct mx_route *out)
{
	size_t i;
	int temp = 0;

	for (i = 0; i < out->nhosts && out->naddrs < max_addrs; i++) {
		struct mx_host *h = &out->hosts[i];
		char reason[256];
		int64_t now = mono_ms(), share;

		if (h->naddrs > 0) {
			/* From the additional section: no query. */
			if (h->naddrs > max_addrs - out->naddrs)
				h->naddrs = max_addrs - out->naddrs;
			h->status = DNS_OK;
			out->naddrs += h->naddrs;
			continue;
		}
		if (now >= end) {
			/* The budget is gone: the other hosts wait. */
			snprintf(out->reason, sizeof(out->reason), "DNS lookup "
			    "of the MX hosts of %.150s failed: %s", domain,
			    d->deadline != 0 && end >= d->deadline ?
			    "no answer before the deadline" :
			    "no answer within timeout_dns");
			temp = 1;
			break;
		}
		/*
		 * A silent host must not take the whole budget from those
		 * after it: each gets half of what is left, the last all.
		 */
		share = (end - now) / 2;
		if (share < HOST_MIN_MS)
			share = HOST_MIN_MS;
		d->end = i + 1 == out->nhosts || now + share > end ? end :
		    now + share;
		h->status = host_lookup(d, h->name, max_addrs - out->naddrs,
		    &h->addrs, &h->naddrs, &h->ad, h->skipped, reason,
		    sizeof(reason));
		out->naddrs += h->naddrs;
		if (h->status == DNS_TEMPFAIL) {
			temp = 1;
			strlcpy(out->reason, reason, sizeof(out->reason));
		} else if (h->status != DNS_OK && !temp)
			strlcpy(out->reason, reason, sizeof(out->reason));
	}
	/* Glue of hosts the cap left out is not theirs to use. */
	for (; i < out->nhosts; i++) {
		free(out->hosts[i].addrs);
		out->hosts[i].addrs = NULL;
		out->hosts[i].naddrs = 0;
	}
	return temp;
}

enum dns_status
dns_mx(struct dns *d, const char *domain, size_t max_addrs,
    struct mx_route *out)
{
	struct mx_ctx c;
	enum dns_status st;
	int64_t end;
	int temp;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	if (domain[0] == '[')
		return literal_route(d, domain, out);
	c.family = d->family;
	c.noglue = d->dnssec;
	/* One budget for the MX query and all the hosts' addresses. */
	end = d->end = budget_end(d);
	if ((st = mx_hosts(d, domain, &c, out)) != DNS_OK)
		return out->status = st;
	out->hosts = c.hosts;
	out->nhosts = c.n;
	temp = mx_addresses(d, domain, max_addrs, end, out);
	if (out->naddrs > 0) {
		out->reason[0] = '\0';
		return out->status = DNS_OK;
	}
	if (temp)
		return out->status = DNS_TEMPFAIL;
	if (out->implicit && out->hosts[0].status == DNS_NXDOMAIN)
		return out->status = DNS_NXDOMAIN;
	if (skipped_of(out) != NULL)
		snprintf(out->reason, sizeof(out->reason), "%.100s: no usable "
		    "address (%.95s, which cannot be a mail host)", domain,
		    skipped_of(out));
	else if (!out->implicit)
		snprintf(out->reason, sizeof(out->reason),
		    "%.150s: the MX hosts have no addresses", domain);
	else
		snprintf(out->reason, sizeof(out->reason),
		    "%.150s: no MX and no address records", domain);
	return out->status = DNS_NODATA;
}

void
mx_route_free(struct mx_route *r)
{
	size_t i;

	for (i = 0; i < r->nhosts; i++)
		free(r->hosts[i].addrs);
	free(r->hosts);
	r->hosts = NULL;
	r->nhosts = 0;
	r->naddrs = 0;
}

static int
add_tlsa(void *vctx, const struct answer *a, const ns_rr *rr)
{
	struct tlsa_set *s = vctx;
	const unsigned char *rd = ns_rr_rdata(*rr);
	struct tlsa_rr t;

	(void)a;
	if (ns_rr_rdlen(*rr) < 3 || s->n >= 64)
		return ns_rr_rdlen(*rr) < 3 ? -1 : 0;
	t.usage = rd[0];
	t.selector = rd[1];
	t.mtype = rd[2];
	t.len = (size_t)ns_rr_rdlen(*rr) - 3;
	t.data = xmalloc(t.len);
	memcpy(t.data, rd + 3, t.len);
	s->v = xreallocarray(s->v, s->n + 1, sizeof(t));
	s->v[s->n++] = t;
	return 0;
}

enum dns_status
dns_tlsa(struct dns *d, const char *host, unsigned port, struct tlsa_set *out)
{
	char name[DNS_NAME_MAX + 16];

	memset(out, 0, sizeof(*out));
	snprintf(name, sizeof(name), "_%u._tcp.%s", port, host);
	d->end = budget_end(d);
	out->status = lookup(d, name, T_TLSA_, add_tlsa, out, &out->ad,
	    out->reason, sizeof(out->reason));
	return out->status;
}

int
tlsa_usable(const struct tlsa_rr *r)
{
	if ((r->usage != 2 && r->usage != 3) || r->selector > 1)
		return 0;
	switch (r->mtype) {
	case 0:
		return r->len > 0;
	case 1:
		return r->len == 32;
	case 2:
		return r->len == 64;
	default:
		return 0;
	}
}

void
tlsa_set_free(struct tlsa_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].data);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void
dns_addr_str(const struct dns_addr *a, char *out, size_t outlen)
{
	const void *p;

	if (a->ss.ss_family == AF_INET6)
		p = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
	else
		p = &((const struct sockaddr_in *)&a->ss)->sin_addr;
	if (inet_ntop(a->ss.ss_family, p, out, (socklen_t)outlen) == NULL)
		strlcpy(out, "?", outlen);
}

int
dns_parse_mx_answer(const unsigned char *buf, size_t len, const char *qname,
    struct mx_route *out)
{
	struct answer a;
	struct mx_ctx c;
	char final[DNS_NAME_MAX];
	int n;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	a.buf = xmalloc(ANSWER_MAX);
	memcpy(a.buf, buf, len < ANSWER_MAX ? len : ANSWER_MAX);
	if (answer_parse(&a, (int)(len < ANSWER_MAX ? len : ANSWER_MAX + 1),
	    qname, ns_t_mx, out->reason, sizeof(out->reason)) != DNS_OK) {
		answer_free(&a);
		return -1;
	}
	n = walk(&a, qname, ns_t_mx, add_mx, &c, final, sizeof(final));
	if (n >= 0) {
		struct addr_ctx ac;
		struct dns_addr *addrs = NULL;
		size_t naddrs = 0;

		ac.addrs = &addrs;
		ac.naddrs = &naddrs;
		ac.max = 16;
		ac.skipped = NULL;
		(void)walk(&a, qname, ns_t_a, add_addr, &ac, final,
		    sizeof(final));
		(void)walk(&a, qname, ns_t_aaaa, add_addr, &ac, final,
		    sizeof(final));
		free(addrs);
		order_hosts(c.hosts, c.n);
	}
	answer_free(&a);
	out->hosts = c.hosts;
	out->nhosts = c.n;
	out->status = n < 0 ? DNS_TEMPFAIL : c.n > 0 ? DNS_OK :
	    c.nullmx ? DNS_NULLMX : DNS_NODATA;
	return n < 0 ? -1 : n;
}

size_t
dns_relay_addrs(const char *host, enum addr_family family,
    unsigned timeout_dns, const struct timespec *deadline,
    struct dns_addr *out, size_t max, char *err, size_t errlen)
{
	struct lookup	 l;
	int64_t		 end;

	memset(&l, 0, sizeof(l));
	l.family = family == AFAM_IPV4 ? AF_INET :
	    family == AFAM_IPV6 ? AF_INET6 : AF_UNSPEC;
	l.addrs = out;
	l.max = max;
	l.end_ms = mono_ms() + (int64_t)timeout_dns * 1000;
	if (deadline != NULL && (deadline->tv_sec != 0 ||
	    deadline->tv_nsec != 0)) {
		end = (int64_t)deadline->tv_sec * 1000 +
		    deadline->tv_nsec / 1000000;
		if (end < l.end_ms)
			l.end_ms = end;
	}
	if (lookup_host(host, &l) != 0)
		snprintf(err, errlen, "cannot resolve the relay %.200s: %s",
		    host, l.err);
	else if (l.n == 0)
		snprintf(err, errlen, "cannot resolve the relay %.200s: no "
		    "usable address", host);
	return l.n;
}
