/*
 * verify.c: -bv, the route each recipient would take (SPEC §2, §6).
 *
 * The routes of the configuration are walked in order with the same
 * policy.c step as a delivery (policy_route_step), stopping at the first
 * that could take the recipient: a null MX is final (RFC 7505, no
 * failover); NXDOMAIN, no mail hosts and temporary DNS failures pass the
 * domain to the next route (the relay may see another DNS), and a
 * deferral on the way beats a later refusal. The relay is resolved with
 * getaddrinfo so that /etc/hosts and container name services work as for
 * any client.
 *
 * With -v and an MX route, the addresses are probed (SPEC §2): deliver.c
 * runs the routes as for a delivery, with its MX ordering, connection
 * logic, TLS and time-outs, but smtp_probe() in place of the message and
 * a relay that is resolved, never asked; probes.c counts what may be
 * probed. What each address ended in is then printed the same way.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver.h"
#include "dns.h"
#include "policy.h"
#include "probes.h"
#include "verify.h"
#include "util.h"

/* What one route would do with a domain, and what to say about it. */
struct route_report {
	struct policy	 p;		/* POL_DELIVERED: deliverable */
	char		 dsn[16];
	char		 text[512];
};

/* Where a domain's recipients end, and why. */
struct verdict {
	enum rcpt_state	 state;		/* DELIVERED: deliverable */
	enum rcpt_fail	 fail;
	char		 dsn[16];
	char		 text[512];
};

struct verifier {
	const struct config *cfg;
	struct dns	 dns;
	int		 dns_ready;
};

static void
via_mx(struct verifier *v, const char *domain, struct route_report *out)
{
	const struct config *cfg = v->cfg;
	struct mx_route r;
	char ip[64];
	size_t i;

	dns_mx(&v->dns, domain, cfg->mx_max_addresses, &r);
	/* What the lookup means is policy.c's, as for a delivery. */
	out->p = policy_dns(r.status);
	policy_dsn(NULL, &out->p, out->dsn);
	if (r.status == DNS_OK) {
		for (i = 0; i < r.nhosts && r.hosts[i].naddrs == 0; i++)
			;
		dns_addr_str(&r.hosts[i].addrs[0], ip, sizeof(ip));
		snprintf(out->text, sizeof(out->text), "via %.200s[%s]:%u (mx)",
		    r.hosts[i].name, ip, (unsigned)cfg->mx_port);
	} else if (r.status == DNS_NXDOMAIN)
		snprintf(out->text, sizeof(out->text), "%.200s: no such domain",
		    domain);
	else
		strlcpy(out->text, r.reason, sizeof(out->text));
	mx_route_free(&r);
}

/*
 * The relay route: the first relay of the list whose name gives an
 * address is where the recipient would go (a delivery tries them in that
 * order); when none does, the last one's DNS failure.
 */
static void
via_relay(const struct config *cfg, struct route_report *out)
{
	struct dns_addr addr;
	char ip[64];
	size_t i;

	for (i = 0; i < cfg->nrelays; i++)
		if (dns_relay_addrs(cfg->relays[i].host, cfg->address_family,
		    cfg->timeout_dns, NULL, &addr, 1,
		    out->text, sizeof(out->text)) > 0)
			break;
	if (i == cfg->nrelays) {
		/* The relay's name is a DNS lookup like any other. */
		out->p = policy_dns(DNS_TEMPFAIL);
		policy_dsn(NULL, &out->p, out->dsn);
		return;
	}
	out->p = policy_dns(DNS_OK);
	policy_dsn(NULL, &out->p, out->dsn);
	dns_addr_str(&addr, ip, sizeof(ip));
	snprintf(out->text, sizeof(out->text), "via %.200s[%s]:%u (relay)",
	    cfg->relays[i].host, ip, (unsigned)cfg->relays[i].port);
}

static void
set_verdict(struct verdict *v, enum rcpt_state state, enum rcpt_fail fail,
    const struct route_report *r)
{
	v->state = state;
	v->fail = fail;
	strlcpy(v->dsn, r->dsn, sizeof(v->dsn));
	strlcpy(v->text, r->text, sizeof(v->text));
}

/* The routes in order for domain, as delivery walks them. */
static int
verify_domain(struct verifier *v, const char *domain, struct verdict *out,
    char *err, size_t errlen)
{
	const struct config *cfg = v->cfg;
	struct route_report r, first;
	struct policy_step step;
	size_t	 k;
	int	 deferred = 0;

	memset(&first, 0, sizeof(first));
	for (k = 0; k < cfg->nroute; k++) {
		if (cfg->route[k] == ROUTE_RELAY)
			via_relay(cfg, &r);
		else {
			if (!v->dns_ready && dns_open(&v->dns, cfg->nameservers,
			    cfg->nnameservers, cfg->address_family, err,
			    errlen) != 0)
				return -1;
			dns_set_limits(&v->dns, cfg->timeout_dns, NULL);
			v->dns_ready = 1;
			via_mx(v, domain, &r);
		}
		step = policy_route_step(&r.p, deferred, k + 1 < cfg->nroute);
		if (step.first_deferral) {
			deferred = 1;
			first = r;
		}
		if (step.state == RCPT_PENDING)
			continue;
		if (step.state == RCPT_DEFERRED)
			set_verdict(out, RCPT_DEFERRED, FAIL_NONE, &first);
		else
			set_verdict(out, step.state, step.fail, &r);
		break;
	}
	return 0;
}

/* The outcome of a domain's routes, for one of its recipients. */
static void
set_rcpt(struct rcpt *rc, const struct verdict *v)
{
	rc->state = v->state;
	rc->fail = v->fail;
	strlcpy(rc->dsn, v->dsn, sizeof(rc->dsn));
	free(rc->reason);
	rc->reason = xstrdup(v->text);
}

/* Without probes: the route of each domain, from DNS alone. */
static int
verify_routes(const struct config *cfg, struct envelope *env, char *err,
    size_t errlen)
{
	struct verifier	 v;
	struct verdict	 verdict;
	size_t		 g, i;
	int		 rc = 0;

	memset(&v, 0, sizeof(v));
	v.cfg = cfg;
	for (g = 0; g < env->ndomains && rc == 0; g++) {
		const struct domain_group *grp = &env->domains[g];

		memset(&verdict, 0, sizeof(verdict));
		rc = verify_domain(&v, grp->domain, &verdict, err, errlen);
		for (i = 0; i < grp->n && rc == 0; i++)
			set_rcpt(&env->rcpts[grp->rcpt[i]], &verdict);
	}
	if (v.dns_ready)
		dns_close(&v.dns);
	return rc;
}

/* With probes: the routes as deliver.c walks them (SPEC §2 -bv -v). */
static void
verify_probe(const struct verify_params *vp, struct envelope *env)
{
	struct deliver_params d;

	memset(&d, 0, sizeof(d));
	d.cfg = vp->cfg;
	d.opts = vp->opts;
	d.env = env;
	/* Looked up now that a session needs it (SPEC §4 helo). */
	d.helo = vp->names != NULL ? names_helo(vp->names) : NULL;
	clock_gettime(CLOCK_MONOTONIC, &d.arrival);
	d.transcript = vp->transcript;
	d.probes = probe_counter_new(vp->cfg);
	deliver_routes(&d);
	probe_counter_free(d.probes);
}

/* SPEC §2's line for one address whose outcome is known. */
static void
print_rcpt(const struct rcpt *rc, const char *addr, FILE *out)
{
	if (rc->state == RCPT_DELIVERED)
		fprintf(out, "%s: deliverable: %s\n", addr, rc->reason);
	else
		fprintf(out, "%s: %s: %s (%s)\n", addr,
		    rc->state == RCPT_DEFERRED ? "deferred" : "undeliverable",
		    rc->reason != NULL ? rc->reason : "", rc->dsn);
}

/* Whether the routes include the MX hosts, which -v probes. */
static int
routes_mx(const struct config *cfg)
{
	size_t	 k;

	for (k = 0; k < cfg->nroute; k++)
		if (cfg->route[k] == ROUTE_MX)
			return 1;
	return 0;
}

int
verify_run(const struct verify_params *vp, struct envelope *env, FILE *out,
    char *err, size_t errlen)
{
	unsigned char	*grouped;
	size_t		 g, i;

	/* The others failed before any route (aliases, syntax). */
	grouped = xcalloc(env->nrcpts + 1, sizeof(*grouped));
	for (g = 0; g < env->ndomains; g++)
		for (i = 0; i < env->domains[g].n; i++)
			grouped[env->domains[g].rcpt[i]] = 1;
	if (vp->opts->verbose && routes_mx(vp->cfg))
		verify_probe(vp, env);
	else if (verify_routes(vp->cfg, env, err, errlen) != 0) {
		free(grouped);
		return -1;
	}
	for (g = 0; g < env->ndomains; g++)
		for (i = 0; i < env->domains[g].n; i++) {
			const struct rcpt *rc =
			    &env->rcpts[env->domains[g].rcpt[i]];

			print_rcpt(rc, rc->addr, out);
		}
	for (i = 0; i < env->nrcpts; i++)
		if (!grouped[i] && env->rcpts[i].state == RCPT_FAILED)
			print_rcpt(&env->rcpts[i], env->rcpts[i].orig, out);
	free(grouped);
	return 0;
}
