/*
 * deliver.c: the routes of SPEC §6 for every pending recipient.
 *
 * Shape (doc/design.md "Delivery"): a pool of at most max_parallel
 * threads takes domains one at a time and runs the direct (MX) route for
 * each with its own resolver state; what a domain passes on to the relay
 * goes to one relay thread that delivers whatever has been handed over so
 * far in one transaction, keeping its connection open for the next batch,
 * so recipients of several domains share relay transactions and no
 * domain waits for another. With `route relay mx` the relay goes first,
 * with every recipient in one transaction, and the domains it passes on
 * then run in parallel.
 *
 * Every decision about what an SMTP or DNS result means, where a
 * recipient goes next and where it ends, is policy.c's; this file only
 * carries recipients to where policy.c sends them.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "deliver.h"
#include "dkim.h"
#include "dns.h"
#include "policy.h"
#include "smtp.h"
#include "util.h"

#define RELAY_ADDRS_MAX	8
#define RELAY_GATHER_MS	250	/* batch what arrives that close together */
#define LABEL_MAX	320	/* "host[address]:port" */
#define TLS_STATE_MAX	320	/* smtp_tls_state() */

/* The report of a recipient's first deferral, kept until it ends. */
struct deferral {
	char		*reason;
	char		*relay;
	char		 tls[TLS_STATE_MAX];
	char		 dsn[16];
};

/* What a recipient carries from route to route. */
struct rcpt_walk {
	size_t		 route;		/* index into cfg->route */
	size_t		 relay;		/* on the relay route: into
					   cfg->relays */
	int		 deferred;	/* a route said "else the queue" */
	struct deferral	 first;		/* that route's report */
	char		*trail;		/* every route's failure, in order */
	char		 tls[TLS_STATE_MAX];	/* of the last session */
	/* delays= (SPEC §6): before the first route; connecting; sending. */
	double		 t_wait, t_conn, t_xfer;
};

/* One delivery attempt: shared by the MX workers and the relay thread. */
struct delivery {
	const struct deliver_params *p;
	const struct config *cfg;
	struct envelope	*env;
	struct rcpt_walk *walks;	/* per recipient */
	struct timespec	 start;		/* CLOCK_MONOTONIC, delivery start */
	struct timespec	 deadline[2];	/* per route index; 0: none */
	struct dkim	*dkim;		/* NULL: nothing is signed */

	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	size_t		 next_domain;	/* the pool's work index */
	size_t		 mx_route;	/* index of ROUTE_MX in cfg->route */
	size_t		*rq;		/* handed to the relay, not taken */
	size_t		 nrq;
	int		 producers_done;
};

/*
 * One relay of the relay route's list: its addresses, the connection kept
 * open, and once it proved unusable for this attempt (SPEC §4), the
 * decision every later batch gets from it without a new connection.
 */
struct relay {
	struct delivery	*job;
	size_t		 index;		/* into cfg->relays */
	int		 resolved;
	char		 resolve_err[256];
	struct dns_addr	 addrs[RELAY_ADDRS_MAX];
	size_t		 naddrs;
	struct smtp_session session;
	int		 open;
	size_t		 cur;		/* address of the open session */
	struct transcript_session ts;
	double		 t_conn;
	int		 down;
	struct policy	 down_p;
	struct smtp_status down_st;
	char		 down_label[LABEL_MAX];
};

static double
since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
replace_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src != NULL ? xstrdup(src) : NULL;
}

/*
 * SPEC §6: the report of a recipient that was not delivered names every
 * route that failed for it, in order, each with its reason.
 */
static void
trail_add(char **trail, const char *reason)
{
	char	*t;

	if (reason == NULL || reason[0] == '\0')
		return;
	if (*trail == NULL) {
		*trail = xstrdup(reason);
		return;
	}
	t = xasprintf("%s; then %s", *trail, reason);
	free(*trail);
	*trail = t;
}

/* "mx1.example.com[192.0.2.1]:25" */
static void
server_label(const char *name, const struct dns_addr *a, uint16_t port,
    char *out, size_t outlen)
{
	char ip[64];

	dns_addr_str(a, ip, sizeof(ip));
	snprintf(out, outlen, "%.200s[%s]:%u", name, ip, (unsigned)port);
}

/* The reason text of SPEC §3 / Postfix for a session status. */
static char *
status_reason(const struct smtp_status *st, const char *label)
{
	const char	*what;

	if (st->ev == SMTP_EV_OK && st->stage == SMTP_STAGE_EOD)
		return xstrdup(st->text);	/* "250 2.0.0 Ok: queued" */
	if (st->ev == SMTP_EV_REPLY || (st->ev == SMTP_EV_OK && st->code)) {
		if (st->stage == SMTP_STAGE_GREETING)
			return xasprintf("host %s refused to talk to me: %s",
			    label, st->text);
		what = st->stage == SMTP_STAGE_EOD ? "end of DATA" :
		    smtp_stage_name(st->stage);
		return xasprintf("host %s said: %s (in reply to %s command)",
		    label, st->text, what);
	}
	if (label == NULL)
		return xstrdup(st->text);
	return xasprintf("host %s: %s", label, st->text);
}

/* Final outcomes. */
static void
set_outcome(struct delivery *job, size_t i, enum rcpt_state state,
    enum rcpt_fail fail, const char *dsn, const char *reason,
    const char *relay, const char *tls)
{
	struct rcpt	*r = &job->env->rcpts[i];
	struct rcpt_walk *walk = &job->walks[i];
	double		 before;

	r->state = state;
	r->fail = fail;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	replace_str(&r->reason, reason);
	replace_str(&r->relay, relay);
	replace_str(&r->tls, relay != NULL ? tls : NULL);
	before = (double)(job->start.tv_sec - job->p->arrival.tv_sec) +
	    (double)(job->start.tv_nsec - job->p->arrival.tv_nsec) / 1e9;
	if (before < 0)
		before = 0;
	r->delays[0] = before;
	r->delays[1] = walk->t_wait;
	r->delays[2] = walk->t_conn;
	r->delays[3] = walk->t_xfer;
	r->delay = since(&job->p->arrival);
}

static void relay_enqueue(struct delivery *, size_t);

/*
 * Recipient i was delivered. A relay or route that failed for it first
 * is named in its log line as well (the first relay of a list may be
 * down for days while the second takes the mail): "250 ...; after host
 * X: ...; then host Y said: ...".
 */
static void
delivered(struct delivery *job, size_t i, const char *dsn,
    const char *reply, const char *relay, const char *tls)
{
	const char	*trail = job->walks[i].trail;
	char		*reason = NULL;

	if (trail != NULL)
		reason = xasprintf("%s; after %s", reply, trail);
	set_outcome(job, i, RCPT_DELIVERED, FAIL_NONE, dsn,
	    reason != NULL ? reason : reply, relay, tls);
	free(reason);
}

/*
 * Decision p, with the code, reason and server that led to it, for
 * recipient i: policy_route_step() says where that leaves it.
 */
static void
apply(struct delivery *job, size_t i, const struct policy *p,
    const char *dsn, const char *reason, const char *relay)
{
	struct rcpt_walk *walk = &job->walks[i];
	struct policy_step step;
	const char	*tls = relay != NULL ? walk->tls : "";
	int		 next_relay;

	/* Within the relay route, the next relay comes before the route. */
	next_relay = job->cfg->route[walk->route] == ROUTE_RELAY &&
	    walk->relay + 1 < job->cfg->nrelays;
	step = policy_route_step(p, walk->deferred,
	    next_relay || walk->route + 1 < job->cfg->nroute);
	if (step.state != RCPT_DELIVERED)
		trail_add(&walk->trail, reason);
	if (step.first_deferral) {
		walk->deferred = 1;
		replace_str(&walk->first.reason, reason);
		replace_str(&walk->first.relay, relay);
		strlcpy(walk->first.tls, tls, sizeof(walk->first.tls));
		strlcpy(walk->first.dsn, dsn, sizeof(walk->first.dsn));
	}
	switch (step.state) {
	case RCPT_PENDING:
		if (next_relay) {
			/* relay_route() hands it on in this same batch. */
			walk->relay++;
			break;
		}
		walk->route++;
		if (job->cfg->route[walk->route] == ROUTE_RELAY)
			relay_enqueue(job, i);
		/* ROUTE_MX after the relay: the MX phase picks it up. */
		break;
	case RCPT_DEFERRED:
		set_outcome(job, i, RCPT_DEFERRED, FAIL_NONE, walk->first.dsn,
		    walk->trail, walk->first.relay, walk->first.tls);
		break;
	case RCPT_DELIVERED:
		delivered(job, i, dsn, reason, relay, tls);
		break;
	default:
		set_outcome(job, i, step.state, step.fail, dsn, walk->trail,
		    relay, tls);
		break;
	}
}

static void
apply_status(struct delivery *job, size_t i, const struct policy *p,
    const struct smtp_status *st, const char *label)
{
	char	 dsn[16], *reason;

	policy_dsn(st, p, dsn);
	reason = status_reason(st, label);
	apply(job, i, p, dsn, reason, label);
	free(reason);
}

/* The TLS state of session s, for the log lines of ids[0..n). */
static void
walks_tls(struct delivery *job, const size_t *ids, size_t n,
    const struct smtp_session *s)
{
	char	 tls[TLS_STATE_MAX];
	size_t	 k;

	smtp_tls_state(s, tls, sizeof(tls));
	for (k = 0; k < n; k++)
		strlcpy(job->walks[ids[k]].tls, tls,
		    sizeof(job->walks[ids[k]].tls));
}

/* The transaction of t for the recipients ids[0..n). */
static void
txn_init(struct delivery *job, struct smtp_txn *t, struct smtp_rcpt *sr,
    const size_t *ids, size_t n)
{
	const struct options *o = job->p->opts;
	const struct rcpt *r;
	size_t		 k;

	memset(t, 0, sizeof(*t));
	t->sender = job->env->sender;
	t->smtputf8 = job->env->sender_smtputf8;
	t->eightbit = o->body == BODY_8BITMIME ||
	    (o->body == BODY_DETECT && job->p->msg != NULL &&
	    job->p->msg->eightbit);
	t->ret = o->ret;
	t->envid = o->envid;
	t->msg = job->p->msg;
	t->rcpts = sr;
	t->nrcpts = n;
	for (k = 0; k < n; k++) {
		r = &job->env->rcpts[ids[k]];
		memset(&sr[k], 0, sizeof(sr[k]));
		sr[k].addr = r->addr;
		sr[k].orcpt = strchr(r->orig, '@') != NULL ? r->orig : r->addr;
		sr[k].notify = r->notify;
		sr[k].smtputf8 = r->smtputf8;
	}
}

static void
params_common(struct delivery *job, struct smtp_params *sp, size_t route)
{
	const struct config *cfg = job->cfg;

	sp->helo = job->p->helo;
	sp->timeout_connect = cfg->timeout_connect;
	sp->timeout_command = cfg->timeout_command;
	sp->timeout_data = cfg->timeout_data;
	sp->deadline = job->deadline[route];
	if (job->p->transcript != NULL)
		sp->transcript = transcript_line;
}

/*
 * SPEC §5.4: a route in dkim_routes sends the message signed or not at
 * all. The signature of what route transmits (msg_flags) is made before
 * any connection; when it cannot be, the route is unusable for
 * ids[0..n) now (a local temporary failure: the next route, else the
 * queue), and -1 is returned. -v and the transcript hear what was signed.
 */
static int
route_sign(struct delivery *job, enum route_method route, int msg_flags,
    const size_t *ids, size_t n)
{
	struct transcript_session ts;
	struct smtp_status st;
	struct policy	 p;
	const char	*field;
	char		*note;
	size_t		 k, len;

	/* A probe (-bv -v) sends no message. */
	if (job->p->probes != NULL || !dkim_route_signed(job->cfg, route))
		return 0;
	memset(&st, 0, sizeof(st));
	field = dkim_field(job->dkim, msg_flags, &len, &note, st.text,
	    sizeof(st.text));
	if (note != NULL) {
		ts.t = job->p->transcript;
		strlcpy(ts.label, "dkim", sizeof(ts.label));
		transcript_line(&ts, '!', note, strlen(note));
		free(note);
	}
	if (field != NULL)
		return 0;
	st.ev = SMTP_EV_LOCAL;
	st.stage = SMTP_STAGE_CONNECT;
	p = policy_smtp(route, &st);
	for (k = 0; k < n; k++)
		apply_status(job, ids[k], &p, &st, NULL);
	return -1;
}

/* The signature route_sign() made goes first in t's message. */
static void
txn_sign(struct delivery *job, enum route_method route, struct smtp_txn *t)
{
	char	 err[8], *note;

	if (!dkim_route_signed(job->cfg, route))
		return;
	t->head = dkim_field(job->dkim, t->msg_flags, &t->headlen, &note,
	    err, sizeof(err));
	free(note);
}

/* ------------------------------------------------------- direct (MX) */

/*
 * How one MX host is spoken to: mx_tls, or under `dane` what its TLSA
 * records say (RFC 7672 §2.2).
 */
struct host_tls {
	enum smtp_tls	 tls;
	enum tls_verify	 verify;
	int		 dane;		/* TLS required by TLSA records */
	struct tlsa_set	 set;		/* the records looked up */
	struct tlsa_rr	*usable;	/* those of set that can be used */
	size_t		 nusable;
};

/* The addresses of a domain's direct route tried so far (steps 3, 6). */
struct mx_tries {
	size_t		 count;
	int		 all_refused;	/* each ended with a 5xx before RCPT */
	struct smtp_status last;	/* the last failure passed on */
	char		 last_label[LABEL_MAX];
};

static void
mx_params(struct delivery *job, struct smtp_params *sp, const char *host,
    const struct dns_addr *a, const struct host_tls *ht,
    struct transcript_session *ts)
{
	memset(sp, 0, sizeof(*sp));
	params_common(job, sp, job->mx_route);
	sp->server = host;
	sp->addr = *a;
	sp->port = job->cfg->mx_port;
	sp->tls = ht->tls;
	sp->verify = ht->verify;
	sp->tlsa = ht->usable;
	sp->ntlsa = ht->nusable;
	sp->dane = ht->dane;
	ts->t = job->p->transcript;
	sp->transcript_ctx = ts;
}

/* mx_tls as a host without TLSA records gets it. */
static void
host_tls_init(const struct config *cfg, struct host_tls *ht)
{
	memset(ht, 0, sizeof(*ht));
	ht->verify = TLS_VERIFY_NONE;
	if (cfg->mx_tls == MX_TLS_OFF)
		ht->tls = SMTP_TLS_OFF;
	else if (cfg->mx_tls == MX_TLS_REQUIRED)
		ht->tls = SMTP_TLS_STARTTLS;
	else
		ht->tls = SMTP_TLS_MAY;
}

static void
host_tls_free(struct host_tls *ht)
{
	free(ht->usable);
	tlsa_set_free(&ht->set);
}

/*
 * mx_tls dane, RFC 7672 §2.2: when the MX answer and the host's addresses
 * were secure, its TLSA records decide. Secure and usable: STARTTLS, and
 * the chain must match them. Secure but none usable: STARTTLS without
 * authentication. None, or insecure: opportunistic, as ht is. Returns 0,
 * or -1 when the lookup failed: the host is skipped (§2.1.1), st why.
 */
static int
dane_host(struct delivery *job, struct dns *dns, const struct mx_route *route,
    const struct mx_host *h, struct host_tls *ht, struct smtp_status *st)
{
	size_t	 i;

	if (!route->ad || !h->ad)
		return 0;
	if (dns_tlsa(dns, h->name, job->cfg->mx_port, &ht->set) ==
	    DNS_TEMPFAIL) {
		memset(st, 0, sizeof(*st));
		st->ev = SMTP_EV_TLS;
		st->stage = SMTP_STAGE_CONNECT;
		snprintf(st->text, sizeof(st->text), "%s; its addresses are "
		    "DNSSEC-signed, so it is skipped (RFC 7672 §2.1.1)",
		    ht->set.reason);
		return -1;
	}
	if (ht->set.status != DNS_OK || !ht->set.ad)
		return 0;
	ht->tls = SMTP_TLS_STARTTLS;
	ht->dane = 1;
	ht->usable = xcalloc(ht->set.n, sizeof(*ht->usable));
	for (i = 0; i < ht->set.n; i++)
		if (tlsa_usable(&ht->set.v[i]))
			ht->usable[ht->nusable++] = ht->set.v[i];
	if (ht->nusable > 0)
		ht->verify = TLS_VERIFY_DANE;
	return 0;
}

/*
 * The MX lookup of domain (dns NULL: the resolver could not be set up,
 * for dns_err). Returns 0 with the hosts in route, or -1 when the lookup
 * decided for ids[0..n) already.
 */
static int
mx_lookup(struct delivery *job, struct dns *dns, const char *dns_err,
    const char *domain, const size_t *ids, size_t n, struct mx_route *route)
{
	struct timespec	 t0;
	struct policy	 p;
	char		*reason;
	size_t		 k;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(route, 0, sizeof(*route));
	if (dns == NULL) {
		route->status = DNS_TEMPFAIL;
		strlcpy(route->reason, dns_err, sizeof(route->reason));
	} else
		dns_mx(dns, domain, job->cfg->mx_max_addresses, route);
	/* Hosts without any address come as DNS_NODATA, never as DNS_OK. */
	if (route->status == DNS_OK)
		return 0;
	p = policy_dns(route->status);
	if (route->status == DNS_NXDOMAIN)
		reason = xasprintf("domain %s does not exist", domain);
	else if (route->reason[0] != '\0')
		reason = xstrdup(route->reason);
	else
		reason = xasprintf("%s: %s", domain,
		    dns_status_str(route->status));
	for (k = 0; k < n; k++) {
		job->walks[ids[k]].t_conn += since(&t0);
		apply(job, ids[k], &p, p.dsn, reason, NULL);
	}
	free(reason);
	mx_route_free(route);
	return -1;
}

/* What made a recipient move on to the next address: for steps 3, 6. */
static void
mx_passed(struct mx_tries *tries, const struct policy *p,
    const struct smtp_status *st, const char *label)
{
	tries->all_refused &= p->refusal;
	tries->last = *st;
	strlcpy(tries->last_label, label, sizeof(tries->last_label));
}

/* -bv -v: the probes one session may make, reserved before it connects. */
struct probe_ticket {
	int64_t		 stamp;
	size_t		 n;
};

/*
 * Reserve the probes of ids[0..*n); the recipients the counter does not
 * allow now are deferred (4.7.0) and leave ids. Returns how many stay.
 */
static size_t
probe_admit(struct delivery *job, size_t *ids, size_t *n,
    struct probe_ticket *pt)
{
	struct policy_outcome o = policy_probe_limited();
	char		 why[PATH_MAX + 1200];
	size_t		 k;

	why[0] = '\0';
	pt->n = probe_reserve(job->p->probes, job->env->rcpts[ids[0]].domain,
	    *n, &pt->stamp, why, sizeof(why));
	for (k = pt->n; k < *n; k++)
		set_outcome(job, ids[k], o.state, o.fail, o.dsn,
		    why[0] != '\0' ? why : o.reason, NULL, NULL);
	*n = pt->n;
	return pt->n;
}

/* The reserved probes of the session that were not made, given back. */
static void
probe_unused(struct delivery *job, const size_t *ids,
    const struct probe_ticket *pt, size_t made)
{
	if (made < pt->n)
		probe_release(job->p->probes, job->env->rcpts[ids[0]].domain,
		    pt->stamp, pt->n - made);
}

/* -bv -v: deliverable, and the line says by which route and server. */
static void
probe_deliverable(struct delivery *job, size_t i, const struct policy *p,
    const char *label, const char *route)
{
	char	*reason = xasprintf("via %s (%s)", label, route);

	apply(job, i, p, "2.0.0", reason, label);
	free(reason);
}

/* The message, or under -bv -v the probe, on an open session; closed. */
static void
mx_transaction(struct delivery *job, struct smtp_session *s,
    const size_t *ids, size_t n, struct smtp_rcpt *sr,
    const struct probe_ticket *pt)
{
	struct smtp_txn	 t;

	txn_init(job, &t, sr, ids, n);
	if (job->p->probes == NULL) {
		txn_sign(job, ROUTE_MX, &t);
		t.last = 1;	/* QUIT goes with the message (SPEC §6) */
		(void)smtp_send(s, &t);
	} else {
		(void)smtp_probe(s, &t);
		probe_unused(job, ids, pt, t.nrcpt_out);
	}
	walks_tls(job, ids, n, s);
	smtp_close(s);
}

/*
 * What the session on label said for each of ids[0..*n) (connected at
 * *t0, ready at *t1): those it settles leave ids, those passed to the
 * next address stay.
 */
static void
mx_settle(struct delivery *job, size_t *ids, size_t *n,
    const struct smtp_rcpt *sr, struct mx_tries *tries, const char *label,
    const struct timespec *t0, const struct timespec *t1)
{
	struct policy	 p;
	size_t		 k, m;

	for (k = 0, m = 0; k < *n; k++) {
		job->walks[ids[k]].t_conn += (double)(t1->tv_sec - t0->tv_sec) +
		    (double)(t1->tv_nsec - t0->tv_nsec) / 1e9;
		job->walks[ids[k]].t_xfer += since(t1);
		p = job->p->probes != NULL ? policy_probe(ROUTE_MX, &sr[k].st) :
		    policy_smtp(ROUTE_MX, &sr[k].st);
		if (p.action == POL_NEXT_ADDRESS) {
			mx_passed(tries, &p, &sr[k].st, label);
			ids[m++] = ids[k];
		} else if (p.action == POL_DELIVERED && job->p->probes != NULL)
			probe_deliverable(job, ids[k], &p, label, "mx");
		else
			apply_status(job, ids[k], &p, &sr[k].st, label);
	}
	*n = m;
}

/*
 * One address of the direct route for the recipients ids[0..*n) still
 * open: those it settles leave ids, those passed to the next address stay.
 */
static void
mx_address(struct delivery *job, const char *host, const struct dns_addr *a,
    const struct host_tls *ht, size_t *ids, size_t *n, struct smtp_rcpt *sr,
    struct mx_tries *tries)
{
	struct smtp_params sp;
	struct smtp_session s;
	struct smtp_status st;
	struct transcript_session ts;
	struct probe_ticket pt = { 0, 0 };
	struct timespec	 t0, t1;
	struct policy	 p;
	char		 label[LABEL_MAX];
	size_t		 k;

	/* -bv -v: counted before connecting, so a crash never undercounts. */
	if (job->p->probes != NULL && probe_admit(job, ids, n, &pt) == 0)
		return;
	server_label(host, a, job->cfg->mx_port, label, sizeof(label));
	strlcpy(ts.label, label, sizeof(ts.label));
	mx_params(job, &sp, host, a, ht, &ts);
	tries->count++;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (smtp_open(&s, &sp, &st) != 0) {
		walks_tls(job, ids, *n, &s);
		smtp_close(&s);
		if (job->p->probes != NULL)
			probe_unused(job, ids, &pt, 0);
		for (k = 0; k < *n; k++)
			job->walks[ids[k]].t_conn += since(&t0);
		p = policy_smtp(ROUTE_MX, &st);
		if (p.action == POL_NEXT_ADDRESS) {
			mx_passed(tries, &p, &st, label);
			return;
		}
		for (k = 0; k < *n; k++)
			apply_status(job, ids[k], &p, &st, label);
		*n = 0;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	mx_transaction(job, &s, ids, *n, sr, &pt);
	mx_settle(job, ids, n, sr, tries, label, &t0, &t1);
}

/* -v and the transcript: an address of h that cannot be a mail host. */
static void
skipped_note(struct delivery *job, const struct mx_host *h)
{
	struct transcript_session ts;
	char note[DNS_SKIPPED_MAX + 64];

	if (h->skipped[0] == '\0')
		return;
	ts.t = job->p->transcript;
	strlcpy(ts.label, h->name, sizeof(ts.label));
	(void)snprintf(note, sizeof(note), "skipped %s, which cannot be a "
	    "mail host", h->skipped);
	transcript_line(&ts, '!', note, strlen(note));
}

/* Every address of host h in turn, as its TLSA records allow. */
static void
mx_host(struct delivery *job, struct dns *dns, const struct mx_route *route,
    const struct mx_host *h, size_t *ids, size_t *n, struct smtp_rcpt *sr,
    struct mx_tries *tries)
{
	struct host_tls	 ht;
	struct smtp_status st;
	struct transcript_session ts;
	struct policy	 p;
	size_t		 a;

	skipped_note(job, h);
	if (h->naddrs == 0)
		return;
	host_tls_init(job->cfg, &ht);
	if (job->cfg->mx_tls == MX_TLS_DANE &&
	    dane_host(job, dns, route, h, &ht, &st) != 0) {
		p = policy_smtp(ROUTE_MX, &st);
		tries->count++;
		mx_passed(tries, &p, &st, h->name);
		/* No session says why: -v and the transcript hear it here. */
		ts.t = job->p->transcript;
		strlcpy(ts.label, h->name, sizeof(ts.label));
		transcript_line(&ts, '!', st.text, strlen(st.text));
	} else
		for (a = 0; a < h->naddrs && *n > 0; a++)
			mx_address(job, h->name, &h->addrs[a], &ht, ids, n,
			    sr, tries);
	host_tls_free(&ht);
}

/* The direct route for the recipients ids[0..n) of one domain. */
static void
mx_domain(struct delivery *job, struct dns *dns, const char *dns_err,
    const char *domain, size_t *ids, size_t n)
{
	struct mx_route	 route;
	struct mx_tries	 tries;
	struct smtp_rcpt *sr;
	struct policy	 p;
	size_t		 h, k;
	double		 wait;

	wait = since(&job->start);
	for (k = 0; k < n; k++)
		if (job->walks[ids[k]].route == 0)
			job->walks[ids[k]].t_wait = wait;
	if (mx_lookup(job, dns, dns_err, domain, ids, n, &route) != 0)
		return;
	if (route_sign(job, ROUTE_MX, 0, ids, n) != 0) {
		mx_route_free(&route);
		return;
	}
	sr = xcalloc(n, sizeof(*sr));
	memset(&tries, 0, sizeof(tries));
	tries.all_refused = 1;
	for (h = 0; h < route.nhosts && n > 0; h++)
		mx_host(job, dns, &route, &route.hosts[h], ids, &n, sr,
		    &tries);
	if (n > 0) {
		/* Steps 3 and 6: every address tried. */
		p = policy_exhausted(ROUTE_MX, tries.all_refused &&
		    tries.count > 0, &tries.last);
		for (k = 0; k < n; k++)
			apply_status(job, ids[k], &p, &tries.last,
			    tries.last_label[0] ? tries.last_label : NULL);
	}
	free(sr);
	mx_route_free(&route);
}

/* The recipients of domain group g still waiting for the MX route. */
static size_t
mx_pending(struct delivery *job, const struct domain_group *g, size_t *ids)
{
	size_t	 k, n = 0, i;

	for (k = 0; k < g->n; k++) {
		i = g->rcpt[k];
		if (job->env->rcpts[i].state == RCPT_PENDING &&
		    job->walks[i].route == job->mx_route)
			ids[n++] = i;
	}
	return n;
}

static void *
mx_worker(void *arg)
{
	struct delivery	*job = arg;
	struct dns	 dns;
	char		 err[256];
	size_t		 g, n, *ids;
	int		 dns_ok;

	dns_ok = dns_open(&dns, job->cfg->nameservers, job->cfg->nnameservers,
	    job->cfg->address_family, err, sizeof(err)) == 0;
	/* Every lookup within timeout_dns and the route's deadline. */
	if (dns_ok) {
		dns_set_limits(&dns, job->cfg->timeout_dns,
		    &job->deadline[job->mx_route]);
		dns_want_dnssec(&dns, job->cfg->mx_tls == MX_TLS_DANE);
	}
	ids = xcalloc(job->env->nrcpts ? job->env->nrcpts : 1, sizeof(*ids));
	for (;;) {
		pthread_mutex_lock(&job->mu);
		g = job->next_domain++;
		pthread_mutex_unlock(&job->mu);
		if (g >= job->env->ndomains)
			break;
		/* Owned by this worker alone until handed to the relay. */
		n = mx_pending(job, &job->env->domains[g], ids);
		if (n > 0)
			mx_domain(job, dns_ok ? &dns : NULL, err,
			    job->env->domains[g].domain, ids, n);
	}
	free(ids);
	if (dns_ok)
		dns_close(&dns);
	return NULL;
}

/* Run the MX route over every domain with up to max_parallel threads. */
static void
mx_phase(struct delivery *job)
{
	pthread_t	*th;
	size_t		 nth, k, started = 0;

	nth = job->cfg->max_parallel > 0 ? job->cfg->max_parallel : 1;
	if (nth > job->env->ndomains)
		nth = job->env->ndomains;
	job->next_domain = 0;
	if (nth <= 1) {
		(void)mx_worker(job);
		return;
	}
	th = xcalloc(nth, sizeof(*th));
	for (k = 0; k < nth; k++)
		if (pthread_create(&th[k], NULL, mx_worker, job) == 0)
			started++;
		else
			break;
	if (started == 0)
		(void)mx_worker(job);	/* no thread to be had: serially */
	for (k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	free(th);
}

/* ------------------------------------------------------------- relay */

/* The SMTP parameters of relay i of the list from the configuration. */
static void
relay_params(const struct config *cfg, size_t i, struct smtp_params *sp)
{
	const struct relay_conf *r = &cfg->relays[i];
	struct relay_creds rc;

	config_relay_creds(cfg, i, &rc);
	sp->server = r->host;
	sp->port = r->port;
	if (r->smtps || cfg->relay_tls == RELAY_TLS_TLS)
		sp->tls = SMTP_TLS_IMPLICIT;
	else if (cfg->relay_tls == RELAY_TLS_STARTTLS)
		sp->tls = SMTP_TLS_STARTTLS;
	else if (cfg->relay_tls == RELAY_TLS_OFF)
		sp->tls = SMTP_TLS_OFF;
	else if (cfg->relay_tls == RELAY_TLS_MAY)
		sp->tls = SMTP_TLS_MAY;	/* -S: as an MX host */
	else if (rc.user != NULL || cfg->relay_fingerprint_set)
		/* auto: credentials, or a pin, only ever go inside TLS. */
		sp->tls = SMTP_TLS_STARTTLS;
	else
		sp->tls = SMTP_TLS_IFOFFERED;
	if (cfg->relay_fingerprint_set) {
		sp->verify = TLS_VERIFY_PIN;
		sp->pin = cfg->relay_fingerprint;
	} else
		sp->verify = cfg->relay_tls == RELAY_TLS_MAY ?
		    TLS_VERIFY_NONE : TLS_VERIFY_CHAIN;
	sp->ca_file = cfg->tls_ca_file;
	/* RFC 8996: TLS 1.0 and 1.1 are not a protection worth a secret. */
	sp->tls12 = 1;
	if (rc.user != NULL) {
		sp->auth_user = rc.user;
		sp->auth_secret.value = rc.password;
		sp->auth_secret.file = rc.password_file;
		sp->auth_secret.command = rc.password_command;
		sp->auth_allowed = cfg->relay_auth;
		sp->nauth_allowed = cfg->nrelay_auth;
	}
}

static const struct relay_conf *
relay_conf(const struct relay *relay)
{
	return &relay->job->cfg->relays[relay->index];
}

/* The relay's name, within timeout_dns and route's deadline. */
static void
relay_resolve(struct relay *relay, size_t route)
{
	relay->resolved = 1;
	relay->naddrs = dns_relay_addrs(relay_conf(relay)->host,
	    relay->job->cfg->address_family, relay->job->cfg->timeout_dns,
	    &relay->job->deadline[route], relay->addrs,
	    RELAY_ADDRS_MAX,
	    relay->resolve_err, sizeof(relay->resolve_err));
}

/* -v and the transcript: a note about relay, labelled with its URL. */
static void
relay_note(struct relay *relay, const char *note)
{
	struct transcript_session ts;

	ts.t = relay->job->p->transcript;
	config_relay_name(relay->job->cfg, relay->index, ts.label,
	    sizeof(ts.label));
	transcript_line(&ts, '!', note, strlen(note));
}

/* -v and the transcript: what relay_from changes on this route. */
static void
relay_from_note(struct delivery *job, struct transcript_session *ts)
{
	char	*note;

	if (job->cfg->relay_from == NULL ||
	    strcmp(job->cfg->relay_from, job->env->sender) == 0)
		return;
	note = xasprintf("relay_from: the sender <%s> and the From: address "
	    "become <%s> on this route", job->env->sender,
	    job->cfg->relay_from);
	transcript_line(ts, '!', note, strlen(note));
	free(note);
}

/*
 * Open a relay session, trying its addresses on connection failures.
 * Returns 0, or -1 with the decision for every recipient in *p and st.
 */
static int
relay_open(struct relay *relay, size_t route, struct policy *p,
    struct smtp_status *st, char *label, size_t labellen)
{
	struct delivery	*job = relay->job;
	struct smtp_params sp;
	struct timespec	 t0;
	size_t		 a;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (a = 0; a < relay->naddrs; a++) {
		memset(&sp, 0, sizeof(sp));
		params_common(job, &sp, route);
		relay_params(job->cfg, relay->index, &sp);
		sp.addr = relay->addrs[a];
		server_label(sp.server, &relay->addrs[a], sp.port, label,
		    labellen);
		strlcpy(relay->ts.label, label, sizeof(relay->ts.label));
		relay->ts.t = job->p->transcript;
		sp.transcript_ctx = &relay->ts;
		if (smtp_open(&relay->session, &sp, st) == 0) {
			relay->open = 1;
			relay->cur = a;
			relay->t_conn = since(&t0);
			relay_from_note(job, &relay->ts);
			return 0;
		}
		smtp_close(&relay->session);
		relay->t_conn = since(&t0);
		*p = policy_smtp(ROUTE_RELAY, st);
		if (p->action != POL_NEXT_ADDRESS)
			return -1;
	}
	*p = policy_exhausted(ROUTE_RELAY, 0, st);
	return -1;
}

static void
relay_close(struct relay *relay)
{
	if (relay->open)
		smtp_close(&relay->session);
	relay->open = 0;
}

/*
 * A relay that could not be opened is unusable for the rest of this
 * attempt (SPEC §4): remember why, so that a later batch does not wait
 * for the same time-out again, and tell ids[0..n).
 */
static void
relay_down(struct relay *relay, const struct policy *p,
    const struct smtp_status *st, const char *label, const size_t *ids,
    size_t n)
{
	size_t	 k;

	relay->down = 1;
	relay->down_p = *p;
	relay->down_st = *st;
	strlcpy(relay->down_label, label, sizeof(relay->down_label));
	for (k = 0; k < n; k++) {
		relay->job->walks[ids[k]].t_conn += relay->t_conn;
		apply_status(relay->job, ids[k], p, st, label);
	}
}

/*
 * One transaction for ids[0..n) on the connection kept from the last
 * batch, or on a new one when there is none or it had gone stale.
 * Returns 0 with each recipient's status in sr[], label naming the
 * server and *t1 when the transfer began; -1 when no session could be
 * opened (every recipient has its decision then).
 */
static int
relay_send(struct relay *relay, size_t route, const size_t *ids, size_t n,
    int last, struct smtp_rcpt *sr, char *label, struct timespec *t1)
{
	struct delivery	*job = relay->job;
	struct smtp_status st;
	struct smtp_txn	 t;
	struct policy	 p;
	int		 kept = relay->open && smtp_usable(&relay->session);
	int		 sent;

	if (route_sign(job, ROUTE_RELAY, job->cfg->relay_from != NULL ?
	    MSG_RELAY : 0, ids, n) != 0)
		return -1;
	for (;;) {
		if (!relay->open &&
		    relay_open(relay, route, &p, &st, label, LABEL_MAX) != 0) {
			walks_tls(relay->job, ids, n, &relay->session);
			relay_down(relay, &p, &st, label, ids, n);
			return -1;
		}
		server_label(relay_conf(relay)->host,
		    &relay->addrs[relay->cur], relay_conf(relay)->port, label,
		    LABEL_MAX);
		clock_gettime(CLOCK_MONOTONIC, t1);
		txn_init(job, &t, sr, ids, n);
		if (job->cfg->relay_from != NULL) {
			/* SPEC §4: the relay's verified sender, -f aside. */
			t.sender = job->cfg->relay_from;
			t.msg_flags |= MSG_RELAY;
		}
		txn_sign(job, ROUTE_RELAY, &t);
		t.last = last;
		sent = smtp_send(&relay->session, &t);
		if (!kept || !policy_stale(sent, &t.st))
			return 0;
		/* One new connection, never more. */
		relay_close(relay);
		kept = 0;
	}
}

/*
 * Before relay's turn with n recipients: book the wait of those that
 * start their walk here, tell -v which relay of the list this is, and
 * resolve its name once. Returns 0, or -1 when the relay is known to be
 * unusable (a failed lookup, or down earlier in this attempt): each
 * recipient then has its decision.
 */
static int
relay_ready(struct relay *relay, size_t route, const size_t *ids, size_t n)
{
	struct delivery	*job = relay->job;
	struct timespec	 t0;
	struct policy	 p;
	char		 dsn[16], note[120];
	double		 wait = since(&job->start);
	size_t		 k;

	for (k = 0; k < n; k++)
		if (job->walks[ids[k]].route == 0 &&
		    job->walks[ids[k]].relay == 0)
			job->walks[ids[k]].t_wait = wait;
	if (job->cfg->nrelays > 1) {
		snprintf(note, sizeof(note), "relay %zu of %zu, for %zu "
		    "recipient%s%s", relay->index + 1, job->cfg->nrelays, n,
		    n == 1 ? "" : "s", relay->down ? ": unusable since it "
		    "failed earlier in this attempt" : "");
		relay_note(relay, note);
	}
	if (relay->down) {
		for (k = 0; k < n; k++)
			apply_status(job, ids[k], &relay->down_p,
			    &relay->down_st, relay->down_label);
		return -1;
	}
	if (!relay->resolved) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		relay_resolve(relay, route);
		for (k = 0; k < n; k++)
			job->walks[ids[k]].t_conn += since(&t0);
	}
	if (relay->naddrs > 0)
		return 0;
	/* The relay's name is a DNS lookup like any other (-bv too). */
	p = policy_dns(DNS_TEMPFAIL);
	for (k = 0; k < n; k++)
		apply(job, ids[k], &p, policy_dsn(NULL, &p, dsn),
		    relay->resolve_err, NULL);
	return -1;
}

/*
 * One relay transaction for ids[0..n); last: no batch follows, so QUIT
 * goes in its flight.
 */
static void
relay_batch(struct relay *relay, size_t route, size_t *ids, size_t n,
    int last)
{
	struct delivery	*job = relay->job;
	struct smtp_rcpt *sr;
	struct timespec	 t1;
	struct policy	 p;
	char		 label[LABEL_MAX];
	size_t		 k;

	if (relay_ready(relay, route, ids, n) != 0)
		return;
	if (job->p->probes != NULL) {
		/* -bv -v: a relay accepts for anyone, so it is not asked. */
		server_label(relay_conf(relay)->host, &relay->addrs[0],
		    relay_conf(relay)->port, label, sizeof(label));
		p = policy_dns(DNS_OK);
		for (k = 0; k < n; k++)
			probe_deliverable(job, ids[k], &p, label, "relay");
		return;
	}
	sr = xcalloc(n, sizeof(*sr));
	if (relay_send(relay, route, ids, n, last, sr, label, &t1) == 0) {
		walks_tls(job, ids, n, &relay->session);
		for (k = 0; k < n; k++) {
			job->walks[ids[k]].t_conn += relay->t_conn;
			job->walks[ids[k]].t_xfer += since(&t1);
			p = policy_smtp(ROUTE_RELAY, &sr[k].st);
			/* Broken mid-way: the relay failed this time. */
			if (p.action == POL_NEXT_ADDRESS)
				p = policy_exhausted(ROUTE_RELAY, 0,
				    &sr[k].st);
			apply_status(job, ids[k], &p, &sr[k].st, label);
		}
		if (!smtp_usable(&relay->session))
			relay_close(relay);
	}
	free(sr);
}

/*
 * The relay route for ids[0..n) (SPEC §6): the relays of the list in
 * order, each taking, in this same batch, what the one before passed on
 * for a reason that is not final. What the last passes on has gone to
 * the next route or its end already (apply()).
 */
static void
relay_route(struct relay *relays, size_t route, size_t *ids, size_t n,
    int last)
{
	struct delivery	*job = relays[0].job;
	struct rcpt_walk *w;
	size_t		 r, k, m;

	for (r = 0; r < job->cfg->nrelays && n > 0; r++) {
		relay_batch(&relays[r], route, ids, n, last);
		for (k = 0, m = 0; k < n; k++) {
			w = &job->walks[ids[k]];
			if (job->env->rcpts[ids[k]].state == RCPT_PENDING &&
			    w->route == route && w->relay == r + 1)
				ids[m++] = ids[k];
		}
		n = m;
	}
}

static void
relays_close(struct relay *relays, size_t n)
{
	size_t	 r;

	for (r = 0; r < n; r++)
		relay_close(&relays[r]);
}

static void
relay_enqueue(struct delivery *job, size_t i)
{
	pthread_mutex_lock(&job->mu);
	job->rq[job->nrq++] = i;
	/* Only the first wakes the relay: the rest join its gathering. */
	if (job->nrq == 1)
		pthread_cond_signal(&job->cv);
	pthread_mutex_unlock(&job->mu);
}

/*
 * Domains that fail over together (one DNS outage, one blocklist)
 * usually do so within milliseconds: gather them into one transaction,
 * at the cost of a bounded wait. Called with job->mu held.
 */
static void
relay_gather(struct delivery *job)
{
	struct timespec until;

	if (job->producers_done)
		return;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += RELAY_GATHER_MS * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (!job->producers_done &&
	    pthread_cond_timedwait(&job->cv, &job->mu, &until) == 0)
		;
}

/* The relay thread of `route mx relay`: batches as they come. */
static void *
relay_worker(void *arg)
{
	struct relay	*relays = arg;
	struct delivery	*job = relays[0].job;
	size_t		*ids, n;
	int		 last;

	ids = xcalloc(job->env->nrcpts ? job->env->nrcpts : 1, sizeof(*ids));
	pthread_mutex_lock(&job->mu);
	for (;;) {
		while (job->nrq == 0 && !job->producers_done)
			pthread_cond_wait(&job->cv, &job->mu);
		if (job->nrq == 0)
			break;
		relay_gather(job);
		n = job->nrq;
		memcpy(ids, job->rq, n * sizeof(*ids));
		job->nrq = 0;
		/* Nothing more can arrive once every producer is done. */
		last = job->producers_done;
		pthread_mutex_unlock(&job->mu);
		relay_route(relays, job->mx_route + 1, ids, n, last);
		pthread_mutex_lock(&job->mu);
	}
	pthread_mutex_unlock(&job->mu);
	free(ids);
	return NULL;
}

/* --------------------------------------------------------------- run */

static void
delivery_init(struct delivery *job, const struct deliver_params *p)
{
	pthread_condattr_t ca;
	size_t		 k, n = p->env->nrcpts ? p->env->nrcpts : 1;

	memset(job, 0, sizeof(*job));
	job->p = p;
	job->cfg = p->cfg;
	job->env = p->env;
	job->walks = xcalloc(n, sizeof(*job->walks));
	job->rq = xcalloc(n, sizeof(*job->rq));
	job->mx_route = job->cfg->route[0] == ROUTE_MX ? 0 : 1;
	job->dkim = dkim_new(job->cfg, p->msg);
	clock_gettime(CLOCK_MONOTONIC, &job->start);
	/*
	 * The deadline bounds each route in turn: a route ends at most
	 * `deadline` seconds after the previous one's end, so what the
	 * deadline stopped on the direct route still gets its chance at the
	 * relay (SPEC §4 "goes to the next route, then to the queue").
	 */
	for (k = 0; k < 2; k++)
		net_deadline_set(&job->deadline[k],
		    job->cfg->deadline * (k + 1));
	pthread_mutex_init(&job->mu, NULL);
	/* Timed waits on the monotonic clock, like net.c. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&job->cv, &ca);
	pthread_condattr_destroy(&ca);
}

static void
delivery_free(struct delivery *job)
{
	size_t	 i;

	pthread_cond_destroy(&job->cv);
	pthread_mutex_destroy(&job->mu);
	for (i = 0; i < job->env->nrcpts; i++) {
		free(job->walks[i].first.reason);
		free(job->walks[i].first.relay);
		free(job->walks[i].trail);
	}
	free(job->walks);
	free(job->rq);
	dkim_free(job->dkim);
}

/* `route relay [mx]`: every pending recipient in one relay transaction. */
static void
relay_then_mx(struct delivery *job, struct relay *relays)
{
	size_t	 i, n, *ids;

	ids = xcalloc(job->env->nrcpts ? job->env->nrcpts : 1, sizeof(*ids));
	for (n = 0, i = 0; i < job->env->nrcpts; i++)
		if (job->env->rcpts[i].state == RCPT_PENDING)
			ids[n++] = i;
	if (n > 0)
		relay_route(relays, 0, ids, n, 1);
	relays_close(relays, job->cfg->nrelays);
	free(ids);
	if (job->cfg->nroute > 1)
		mx_phase(job);
}

/* `route mx [relay]`: the relay thread takes what the MX phase passes. */
static void
mx_then_relay(struct delivery *job, struct relay *relays)
{
	pthread_t	 rt;
	size_t		 n, *ids;
	int		 relay_thread = 0;

	if (job->cfg->nroute > 1 && job->cfg->route[1] == ROUTE_RELAY)
		relay_thread = pthread_create(&rt, NULL, relay_worker,
		    relays) == 0;
	mx_phase(job);
	pthread_mutex_lock(&job->mu);
	job->producers_done = 1;
	pthread_cond_signal(&job->cv);
	pthread_mutex_unlock(&job->mu);
	if (relay_thread)
		pthread_join(rt, NULL);
	else if (job->nrq > 0) {
		/* No thread: the relay now, with everything. */
		n = job->nrq;
		job->nrq = 0;
		ids = xcalloc(n, sizeof(*ids));
		memcpy(ids, job->rq, n * sizeof(*ids));
		relay_route(relays, 1, ids, n, 1);
		free(ids);
	}
	relays_close(relays, job->cfg->nrelays);
}

void
deliver_routes(const struct deliver_params *p)
{
	struct delivery	 job;
	struct relay	*relays;
	size_t		 r, n;

	delivery_init(&job, p);
	n = job.cfg->nrelays > 0 ? job.cfg->nrelays : 1;
	relays = xcalloc(n, sizeof(*relays));
	for (r = 0; r < n; r++) {
		relays[r].job = &job;
		relays[r].index = r;
	}
	if (job.cfg->route[0] == ROUTE_RELAY)
		relay_then_mx(&job, relays);
	else
		mx_then_relay(&job, relays);
	free(relays);
	delivery_free(&job);
}
