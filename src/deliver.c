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
 * Every decision about what an SMTP or DNS result means is policy.c's;
 * this file only carries recipients to where policy.c sends them.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "deliver.h"
#include "dns.h"
#include "policy.h"
#include "smtp.h"
#include "util.h"

#define RELAY_ADDRS_MAX	8
#define RELAY_GATHER_MS	250	/* batch what arrives that close together */

/* What a recipient carries from route to route. */
struct rwork {
	size_t		 route;		/* index into cfg->route */
	int		 deferrable;	/* a route said "else the queue" */
	char		*dreason;	/* that route's reason */
	char		*drelay;
	char		 ddsn[16];
	double		 t_wait, t_conn, t_xfer;
};

struct dctx {
	const struct deliver_params *p;
	const struct config *cfg;
	struct envelope	*env;
	struct rwork	*w;
	struct timespec	 start;		/* CLOCK_MONOTONIC, delivery start */
	struct timespec	 deadline[2];	/* per route index; 0: none */

	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	size_t		 next_domain;	/* the pool's work index */
	size_t		 mx_route;	/* index of ROUTE_MX in cfg->route */
	size_t		*rq;		/* handed to the relay, not taken */
	size_t		 nrq;
	int		 producers_done;
};

struct relay {
	struct dctx	*c;
	int		 resolved;
	char		 resolve_err[256];
	struct dns_addr	 addrs[RELAY_ADDRS_MAX];
	size_t		 naddrs;
	struct smtp_session s;
	int		 open;
	size_t		 cur;		/* address of the open session */
	struct transcript_session ts;
	double		 t_conn;
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
set_outcome(struct dctx *c, size_t i, enum rcpt_state state,
    enum rcpt_fail fail, const char *dsn, const char *reason,
    const char *relay)
{
	struct rcpt	*r = &c->env->rcpts[i];
	struct rwork	*w = &c->w[i];
	double		 before;

	r->state = state;
	r->fail = fail;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	replace_str(&r->reason, reason);
	replace_str(&r->relay, relay);
	before = (double)(c->start.tv_sec - c->p->arrival.tv_sec) +
	    (double)(c->start.tv_nsec - c->p->arrival.tv_nsec) / 1e9;
	if (before < 0)
		before = 0;
	r->delays[0] = before;
	r->delays[1] = w->t_wait;
	r->delays[2] = w->t_conn;
	r->delays[3] = w->t_xfer;
	r->delay = since(&c->p->arrival);
}

static enum rcpt_fail
class_fail(enum policy_class cls)
{
	switch (cls) {
	case POL_CLASS_NOHOST:
		return FAIL_NOHOST;
	case POL_CLASS_NOUSER:
		return FAIL_NOUSER;
	default:
		return FAIL_UNAVAILABLE;
	}
}

static void relay_enqueue(struct dctx *, size_t);

/*
 * Apply decision p (not POL_NEXT_ADDRESS) to recipient i, with the reason
 * and server that led to it.
 */
static void
apply(struct dctx *c, size_t i, const struct policy *p, const char *dsn,
    const char *reason, const char *relay)
{
	struct rwork	*w = &c->w[i];

	if (p->action == POL_DELIVERED) {
		set_outcome(c, i, RCPT_DELIVERED, FAIL_NONE, dsn, reason,
		    relay);
		return;
	}
	if (p->action == POL_FINAL) {
		set_outcome(c, i, RCPT_FAILED, class_fail(p->cls), dsn, reason,
		    relay);
		return;
	}
	/* POL_NEXT_ROUTE (or an exhausted route). */
	if (p->otherwise == POL_ELSE_DEFER && !w->deferrable) {
		w->deferrable = 1;
		replace_str(&w->dreason, reason);
		replace_str(&w->drelay, relay);
		strlcpy(w->ddsn, dsn, sizeof(w->ddsn));
	}
	if (w->route + 1 < c->cfg->nroute) {
		w->route++;
		if (c->cfg->route[w->route] == ROUTE_RELAY)
			relay_enqueue(c, i);
		/* ROUTE_MX after the relay: the MX phase picks it up. */
		return;
	}
	if (policy_at_end(w->deferrable, p) == POL_ELSE_DEFER)
		set_outcome(c, i, RCPT_DEFERRED, FAIL_NONE, w->ddsn,
		    w->dreason, w->drelay);
	else
		set_outcome(c, i, RCPT_FAILED, class_fail(p->cls), dsn, reason,
		    relay);
}

static void
apply_status(struct dctx *c, size_t i, const struct policy *p,
    const struct smtp_status *st, const char *label)
{
	char	 dsn[16], *reason;

	policy_dsn(st, p, dsn);
	reason = status_reason(st, label);
	apply(c, i, p, dsn, reason, label);
	free(reason);
}

/* The transaction of t for the recipients ids[0..n). */
static void
txn_init(struct dctx *c, struct smtp_txn *t, struct smtp_rcpt *sr,
    const size_t *ids, size_t n)
{
	const struct options *o = c->p->opts;
	const struct rcpt *r;
	size_t		 k;

	memset(t, 0, sizeof(*t));
	t->sender = c->env->sender;
	t->smtputf8 = c->env->sender_smtputf8;
	t->eightbit = o->body == BODY_8BITMIME ||
	    (o->body == BODY_DETECT && c->p->msg->eightbit);
	t->ret = o->ret;
	t->envid = o->envid;
	t->msg = c->p->msg;
	t->rcpts = sr;
	t->nrcpts = n;
	for (k = 0; k < n; k++) {
		r = &c->env->rcpts[ids[k]];
		memset(&sr[k], 0, sizeof(sr[k]));
		sr[k].addr = r->addr;
		sr[k].orcpt = strchr(r->orig, '@') != NULL ? r->orig : r->addr;
		sr[k].notify = r->notify;
		sr[k].smtputf8 = r->smtputf8;
	}
}

static void
params_common(struct dctx *c, struct smtp_params *sp, size_t route)
{
	const struct config *cfg = c->cfg;

	sp->helo = c->p->helo;
	sp->timeout_connect = cfg->timeout_connect;
	sp->timeout_command = cfg->timeout_command;
	sp->timeout_data = cfg->timeout_data;
	sp->deadline = c->deadline[route];
	if (c->p->transcript != NULL)
		sp->transcript = transcript_line;
}

/* ------------------------------------------------------- direct (MX) */

static void
mx_params(struct dctx *c, struct smtp_params *sp, const char *host,
    const struct dns_addr *a, struct transcript_session *ts)
{
	memset(sp, 0, sizeof(*sp));
	params_common(c, sp, c->mx_route);
	sp->server = host;
	sp->addr = *a;
	sp->port = c->cfg->mx_port;
	switch (c->cfg->mx_tls) {
	case MX_TLS_OFF:
		sp->tls = SMTP_TLS_OFF;
		break;
	case MX_TLS_REQUIRED:
		sp->tls = SMTP_TLS_STARTTLS;
		break;
	default:
		/* DANE without TLSA support in tls.c acts as opportunistic. */
		sp->tls = SMTP_TLS_MAY;
		break;
	}
	sp->verify = TLS_VERIFY_NONE;
	ts->t = c->p->transcript;
	sp->transcript_ctx = ts;
}

/* The direct route for the recipients ids[0..n) of one domain. */
static void
mx_domain(struct dctx *c, struct dns *dns, int dns_ok, const char *dns_err,
    const char *domain, size_t *ids, size_t n)
{
	struct mx_route	 route;
	struct smtp_params sp;
	struct smtp_session s;
	struct smtp_status st, last;
	struct smtp_txn	 t;
	struct smtp_rcpt *sr;
	struct transcript_session ts;
	struct timespec	 t0, t1;
	struct policy	 p;
	char		 label[320], last_label[320], *reason;
	size_t		 h, a, k, m, tried = 0;
	int		 all_refused = 1;
	double		 wait;

	wait = since(&c->start);
	for (k = 0; k < n; k++)
		c->w[ids[k]].t_wait = wait;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&route, 0, sizeof(route));
	if (!dns_ok) {
		route.status = DNS_TEMPFAIL;
		strlcpy(route.reason, dns_err, sizeof(route.reason));
	} else
		dns_mx(dns, domain, c->cfg->mx_max_addresses, &route);
	if (route.status == DNS_OK && route.naddrs == 0) {
		/* Hosts, but no address for any: the DNS, not the domain. */
		route.status = DNS_TEMPFAIL;
		if (route.reason[0] == '\0')
			snprintf(route.reason, sizeof(route.reason),
			    "no address for any mail host of %.200s", domain);
	}
	if (route.status != DNS_OK) {
		p = policy_dns(route.status);
		if (route.status == DNS_NXDOMAIN)
			reason = xasprintf("domain %s does not exist", domain);
		else if (route.reason[0] != '\0')
			reason = xstrdup(route.reason);
		else
			reason = xasprintf("%s: %s", domain,
			    dns_status_str(route.status));
		for (k = 0; k < n; k++) {
			c->w[ids[k]].t_conn = since(&t0);
			apply(c, ids[k], &p, p.dsn, reason, NULL);
		}
		free(reason);
		mx_route_free(&route);
		return;
	}

	/* ids[0..n) are the recipients still open: settled ones leave it. */
	sr = xcalloc(n, sizeof(*sr));
	memset(&last, 0, sizeof(last));
	last_label[0] = '\0';
	for (h = 0; h < route.nhosts && n > 0; h++) {
		for (a = 0; a < route.hosts[h].naddrs && n > 0; a++) {
			const char *host = route.hosts[h].name;

			server_label(host, &route.hosts[h].addrs[a],
			    c->cfg->mx_port, label, sizeof(label));
			strlcpy(ts.label, label, sizeof(ts.label));
			mx_params(c, &sp, host, &route.hosts[h].addrs[a], &ts);
			tried++;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			if (smtp_open(&s, &sp, &st) != 0) {
				smtp_close(&s);
				p = policy_smtp(ROUTE_MX, &st);
				if (p.action == POL_NEXT_ADDRESS) {
					all_refused &= p.refusal;
					last = st;
					strlcpy(last_label, label,
					    sizeof(last_label));
					continue;
				}
				for (k = 0; k < n; k++) {
					c->w[ids[k]].t_conn = since(&t0);
					apply_status(c, ids[k], &p, &st, label);
				}
				n = 0;
				break;
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			txn_init(c, &t, sr, ids, n);
			(void)smtp_send(&s, &t);
			smtp_close(&s);
			for (k = 0, m = 0; k < n; k++) {
				c->w[ids[k]].t_conn =
				    (double)(t1.tv_sec - t0.tv_sec) +
				    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
				c->w[ids[k]].t_xfer = since(&t1);
				p = policy_smtp(ROUTE_MX, &sr[k].st);
				if (p.action == POL_NEXT_ADDRESS) {
					all_refused &= p.refusal;
					last = sr[k].st;
					strlcpy(last_label, label,
					    sizeof(last_label));
					ids[m++] = ids[k];
					continue;
				}
				apply_status(c, ids[k], &p, &sr[k].st, label);
			}
			n = m;
		}
	}
	if (n > 0) {
		/* Steps 3 and 6: every address tried. */
		p = policy_exhausted(ROUTE_MX, all_refused && tried > 0,
		    &last);
		for (k = 0; k < n; k++)
			apply_status(c, ids[k], &p, &last,
			    last_label[0] ? last_label : NULL);
	}
	free(sr);
	mx_route_free(&route);
}

/* The recipients of domain group g still waiting for the MX route. */
static size_t
mx_pending(struct dctx *c, const struct domain_group *g, size_t *ids)
{
	size_t	 k, n = 0, i;

	for (k = 0; k < g->n; k++) {
		i = g->rcpt[k];
		if (c->env->rcpts[i].state == RCPT_PENDING &&
		    c->w[i].route == c->mx_route)
			ids[n++] = i;
	}
	return n;
}

static void *
mx_worker(void *arg)
{
	struct dctx	*c = arg;
	struct dns	 dns;
	char		 err[256];
	size_t		 g, n, *ids;
	int		 dns_ok;

	dns_ok = dns_open(&dns, c->cfg->nameservers, c->cfg->nnameservers,
	    c->cfg->address_family, err, sizeof(err)) == 0;
	ids = xcalloc(c->env->nrcpts ? c->env->nrcpts : 1, sizeof(*ids));
	for (;;) {
		pthread_mutex_lock(&c->mu);
		g = c->next_domain++;
		pthread_mutex_unlock(&c->mu);
		if (g >= c->env->ndomains)
			break;
		/* Owned by this worker alone until handed to the relay. */
		n = mx_pending(c, &c->env->domains[g], ids);
		if (n > 0)
			mx_domain(c, &dns, dns_ok, err,
			    c->env->domains[g].domain, ids, n);
	}
	free(ids);
	if (dns_ok)
		dns_close(&dns);
	return NULL;
}

/* Run the MX route over every domain with up to max_parallel threads. */
static void
mx_phase(struct dctx *c)
{
	pthread_t	*th;
	size_t		 nth, k, started = 0;

	nth = c->cfg->max_parallel > 0 ? c->cfg->max_parallel : 1;
	if (nth > c->env->ndomains)
		nth = c->env->ndomains;
	c->next_domain = 0;
	if (nth <= 1) {
		(void)mx_worker(c);
		return;
	}
	th = xcalloc(nth, sizeof(*th));
	for (k = 0; k < nth; k++)
		if (pthread_create(&th[k], NULL, mx_worker, c) == 0)
			started++;
		else
			break;
	if (started == 0)
		(void)mx_worker(c);	/* no thread to be had: serially */
	for (k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	free(th);
}

/* ------------------------------------------------------------- relay */

/* The SMTP parameters of the relay route from the configuration. */
static void
relay_params(const struct config *cfg, struct smtp_params *sp)
{
	int	 creds = cfg->relay_user != NULL;

	sp->server = cfg->relay_host;
	sp->port = cfg->relay_port;
	if (cfg->relay_smtps || cfg->relay_tls == RELAY_TLS_TLS)
		sp->tls = SMTP_TLS_IMPLICIT;
	else if (cfg->relay_tls == RELAY_TLS_STARTTLS)
		sp->tls = SMTP_TLS_STARTTLS;
	else if (cfg->relay_tls == RELAY_TLS_OFF)
		sp->tls = SMTP_TLS_OFF;
	else if (creds || cfg->relay_fingerprint_set)
		/* auto: credentials, or a pin, only ever go inside TLS. */
		sp->tls = SMTP_TLS_STARTTLS;
	else
		sp->tls = SMTP_TLS_IFOFFERED;
	if (cfg->relay_fingerprint_set) {
		sp->verify = TLS_VERIFY_PIN;
		sp->pin = cfg->relay_fingerprint;
	} else
		sp->verify = TLS_VERIFY_CHAIN;
	sp->ca_file = cfg->tls_ca_file;
	if (creds) {
		sp->auth_user = cfg->relay_user;
		sp->auth_pass = cfg->relay_password;
		sp->auth_allowed = cfg->relay_auth;
		sp->nauth_allowed = cfg->nrelay_auth;
	}
}

static void
relay_resolve(struct relay *rl)
{
	rl->resolved = 1;
	rl->naddrs = dns_relay_addrs(rl->c->cfg->relay_host,
	    rl->c->cfg->address_family, rl->addrs, RELAY_ADDRS_MAX,
	    rl->resolve_err, sizeof(rl->resolve_err));
}

/*
 * Open a relay session, trying its addresses on connection failures.
 * Returns 0, or -1 with the decision for every recipient in *p and st.
 */
static int
relay_open(struct relay *rl, size_t route, struct policy *p,
    struct smtp_status *st, char *label, size_t labellen)
{
	struct smtp_params sp;
	struct timespec	 t0;
	size_t		 a;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (a = 0; a < rl->naddrs; a++) {
		memset(&sp, 0, sizeof(sp));
		params_common(rl->c, &sp, route);
		relay_params(rl->c->cfg, &sp);
		sp.addr = rl->addrs[a];
		server_label(rl->c->cfg->relay_host, &rl->addrs[a], sp.port,
		    label, labellen);
		strlcpy(rl->ts.label, label, sizeof(rl->ts.label));
		rl->ts.t = rl->c->p->transcript;
		sp.transcript_ctx = &rl->ts;
		if (smtp_open(&rl->s, &sp, st) == 0) {
			rl->open = 1;
			rl->cur = a;
			rl->t_conn = since(&t0);
			return 0;
		}
		smtp_close(&rl->s);
		*p = policy_smtp(ROUTE_RELAY, st);
		if (p->action != POL_NEXT_ADDRESS)
			return -1;
	}
	*p = policy_exhausted(ROUTE_RELAY, 0, st);
	return -1;
}

/* One relay transaction for ids[0..n). */
static void
relay_batch(struct relay *rl, size_t route, size_t *ids, size_t n)
{
	struct dctx	*c = rl->c;
	struct smtp_status st;
	struct smtp_txn	 t;
	struct smtp_rcpt *sr;
	struct timespec	 t1;
	struct policy	 p;
	char		 label[320], dsn[16];
	size_t		 k;
	int		 reused, r;
	double		 wait = since(&c->start);

	for (k = 0; k < n; k++)
		c->w[ids[k]].t_wait = wait;
	if (!rl->resolved)
		relay_resolve(rl);
	if (rl->naddrs == 0) {
		p = policy_exhausted(ROUTE_RELAY, 0, NULL);
		for (k = 0; k < n; k++)
			apply(c, ids[k], &p, policy_dsn(NULL, &p, dsn),
			    rl->resolve_err, NULL);
		return;
	}
	sr = xcalloc(n, sizeof(*sr));
	reused = rl->open && smtp_usable(&rl->s);
	for (;;) {
		if (!reused && !rl->open &&
		    relay_open(rl, route, &p, &st, label, sizeof(label)) != 0) {
			for (k = 0; k < n; k++) {
				c->w[ids[k]].t_conn = rl->t_conn;
				apply_status(c, ids[k], &p, &st, label);
			}
			break;
		}
		server_label(c->cfg->relay_host, &rl->addrs[rl->cur],
		    c->cfg->relay_port, label, sizeof(label));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		txn_init(c, &t, sr, ids, n);
		r = smtp_send(&rl->s, &t);
		if (reused && (r < 0 || (r == 0 && t.st.stage ==
		    SMTP_STAGE_MAIL && t.st.ev != SMTP_EV_REPLY))) {
			/* The kept connection went stale: one new one. */
			smtp_close(&rl->s);
			rl->open = 0;
			reused = 0;
			continue;
		}
		for (k = 0; k < n; k++) {
			c->w[ids[k]].t_conn = rl->t_conn;
			c->w[ids[k]].t_xfer = since(&t1);
			p = policy_smtp(ROUTE_RELAY, &sr[k].st);
			if (p.action == POL_NEXT_ADDRESS)
				/* Broken mid-way: the relay failed this time. */
				p = policy_exhausted(ROUTE_RELAY, 0,
				    &sr[k].st);
			apply_status(c, ids[k], &p, &sr[k].st, label);
		}
		if (!smtp_usable(&rl->s)) {
			smtp_close(&rl->s);
			rl->open = 0;
		}
		break;
	}
	free(sr);
}

static void
relay_enqueue(struct dctx *c, size_t i)
{
	pthread_mutex_lock(&c->mu);
	c->rq[c->nrq++] = i;
	/* Only the first wakes the relay: the rest join its gathering. */
	if (c->nrq == 1)
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* The relay thread of `route mx relay`: batches as they come. */
static void *
relay_worker(void *arg)
{
	struct relay	*rl = arg;
	struct dctx	*c = rl->c;
	size_t		*ids, n;

	ids = xcalloc(c->env->nrcpts ? c->env->nrcpts : 1, sizeof(*ids));
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (c->nrq == 0 && !c->producers_done)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->nrq == 0)
			break;
		/*
		 * Domains that fail over together (one DNS outage, one
		 * blocklist) usually do so within milliseconds: gather them
		 * into one transaction, at the cost of a bounded wait.
		 */
		if (!c->producers_done) {
			struct timespec until;

			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += RELAY_GATHER_MS * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			while (!c->producers_done &&
			    pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
				;
		}
		n = c->nrq;
		memcpy(ids, c->rq, n * sizeof(*ids));
		c->nrq = 0;
		pthread_mutex_unlock(&c->mu);
		relay_batch(rl, c->mx_route + 1, ids, n);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	free(ids);
	return NULL;
}

static void
relay_end(struct relay *rl)
{
	if (rl->open)
		smtp_close(&rl->s);
	rl->open = 0;
}

/* --------------------------------------------------------------- run */

int
deliver_run(const struct deliver_params *p, char *err, size_t errlen)
{
	struct dctx	 c;
	struct relay	 rl;
	pthread_t	 rt;
	size_t		 i, k, n, *ids;
	int		 relay_thread = 0;

	memset(&c, 0, sizeof(c));
	memset(&rl, 0, sizeof(rl));
	c.p = p;
	c.cfg = p->cfg;
	c.env = p->env;
	c.w = xcalloc(c.env->nrcpts ? c.env->nrcpts : 1, sizeof(*c.w));
	c.rq = xcalloc(c.env->nrcpts ? c.env->nrcpts : 1, sizeof(*c.rq));
	rl.c = &c;
	clock_gettime(CLOCK_MONOTONIC, &c.start);
	/*
	 * The deadline bounds each route in turn: a route ends at most
	 * `deadline` seconds after the previous one's end, so what the
	 * deadline stopped on the direct route still gets its chance at the
	 * relay (SPEC §4 "goes to the next route, then to the queue").
	 */
	for (k = 0; k < 2; k++) {
		net_deadline_set(&c.deadline[k], c.cfg->deadline * (k + 1));
	}
	pthread_mutex_init(&c.mu, NULL);
	{
		pthread_condattr_t ca;

		/* Timed waits on the monotonic clock, like net.c. */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c.cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	(void)err;
	(void)errlen;

	c.mx_route = c.cfg->route[0] == ROUTE_MX ? 0 : 1;
	if (c.cfg->route[0] == ROUTE_RELAY) {
		/* Relay first: every pending recipient in one transaction. */
		ids = xcalloc(c.env->nrcpts ? c.env->nrcpts : 1, sizeof(*ids));
		for (n = 0, i = 0; i < c.env->nrcpts; i++)
			if (c.env->rcpts[i].state == RCPT_PENDING)
				ids[n++] = i;
		if (n > 0)
			relay_batch(&rl, 0, ids, n);
		relay_end(&rl);
		free(ids);
		if (c.cfg->nroute > 1)
			mx_phase(&c);
	} else {
		if (c.cfg->nroute > 1 && c.cfg->route[1] == ROUTE_RELAY) {
			relay_thread = pthread_create(&rt, NULL, relay_worker,
			    &rl) == 0;
		}
		mx_phase(&c);
		pthread_mutex_lock(&c.mu);
		c.producers_done = 1;
		pthread_cond_signal(&c.cv);
		pthread_mutex_unlock(&c.mu);
		if (relay_thread)
			pthread_join(rt, NULL);
		else if (c.nrq > 0) {
			/* No thread: the relay now, with everything. */
			n = c.nrq;
			c.nrq = 0;
			ids = xcalloc(n, sizeof(*ids));
			memcpy(ids, c.rq, n * sizeof(*ids));
			relay_batch(&rl, 1, ids, n);
			free(ids);
		}
		relay_end(&rl);
	}
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	for (i = 0; i < c.env->nrcpts; i++) {
		free(c.w[i].dreason);
		free(c.w[i].drelay);
	}
	free(c.w);
	free(c.rq);
	return 0;
}
