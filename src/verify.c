/*
 * verify.c: -bv, the route each recipient would take (SPEC §2, §6).
 *
 * The routes of the configuration are walked in order exactly as a
 * delivery would walk them, stopping at the first that could take the
 * recipient: a null MX is final (RFC 7505, no failover); NXDOMAIN, no
 * mail hosts and temporary DNS failures pass the domain to the next route
 * (the relay may see another DNS). The relay is resolved with getaddrinfo
 * so that /etc/hosts and container name services work as for any client.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "policy.h"
#include "verify.h"
#include "util.h"

struct verdict {
	enum rcpt_state	 state;		/* PENDING = deliverable */
	enum rcpt_fail	 fail;
	char		 dsn[16];
	char		 text[512];
};

static void
set(struct verdict *v, enum rcpt_state st, enum rcpt_fail fail,
    const char *dsn, const char *text)
{
	v->state = st;
	v->fail = fail;
	strlcpy(v->dsn, dsn, sizeof(v->dsn));
	strlcpy(v->text, text, sizeof(v->text));
}

static int
via_mx(const struct config *cfg, struct dns *d, const char *domain,
    struct verdict *v)
{
	struct mx_route r;
	struct policy p;
	char ip[64], text[512], dsn[16];
	size_t i;

	dns_mx(d, domain, cfg->mx_max_addresses, &r);
	if (r.status == DNS_OK) {
		for (i = 0; i < r.nhosts && r.hosts[i].naddrs == 0; i++)
			;
		dns_addr_str(&r.hosts[i].addrs[0], ip, sizeof(ip));
		snprintf(text, sizeof(text), "via %.200s[%s]:%u (mx)",
		    r.hosts[i].name, ip, (unsigned)cfg->mx_port);
		set(v, RCPT_PENDING, FAIL_NONE, "2.0.0", text);
		mx_route_free(&r);
		return 1;
	}
	/* What the lookup means is policy.c's, as for a delivery. */
	p = policy_dns(r.status);
	if (r.status == DNS_NXDOMAIN)
		snprintf(text, sizeof(text), "%.200s: no such domain", domain);
	else
		strlcpy(text, r.reason, sizeof(text));
	policy_dsn(NULL, &p, dsn);
	if (p.action == POL_NEXT_ROUTE && p.otherwise == POL_ELSE_DEFER)
		set(v, RCPT_DEFERRED, FAIL_NONE, dsn, text);
	else
		set(v, RCPT_FAILED, FAIL_NOHOST, dsn, text);
	mx_route_free(&r);
	return p.action == POL_FINAL;
}

static int
via_relay(const struct config *cfg, struct verdict *v)
{
	struct dns_addr addr;
	char ip[64], text[512];

	if (dns_relay_addrs(cfg->relay_host, cfg->address_family, &addr, 1,
	    text, sizeof(text)) == 0) {
		set(v, RCPT_DEFERRED, FAIL_NONE, "4.4.3", text);
		return 0;
	}
	dns_addr_str(&addr, ip, sizeof(ip));
	snprintf(text, sizeof(text), "via %.200s[%s]:%u (relay)",
	    cfg->relay_host, ip, (unsigned)cfg->relay_port);
	set(v, RCPT_PENDING, FAIL_NONE, "2.0.0", text);
	return 1;
}

/* The verdict of a deferral beats "no such domain" from an earlier route. */
static void
keep_worst(struct verdict *worst, const struct verdict *v, int first)
{
	if (first || worst->state == RCPT_FAILED)
		*worst = *v;
}

int
verify_run(const struct config *cfg, struct envelope *env, FILE *out,
    char *err, size_t errlen)
{
	struct dns d;
	int dns_ready = 0;
	size_t g, i, k;

	for (g = 0; g < env->ndomains; g++) {
		const struct domain_group *grp = &env->domains[g];
		struct verdict v, worst;
		int done = 0;

		memset(&worst, 0, sizeof(worst));
		for (k = 0; k < cfg->nroute && !done; k++) {
			if (cfg->route[k] == ROUTE_RELAY)
				done = via_relay(cfg, &v);
			else {
				if (!dns_ready && dns_open(&d, cfg->nameservers,
				    cfg->nnameservers, cfg->address_family,
				    err, errlen) != 0)
					return -1;
				dns_ready = 1;
				done = via_mx(cfg, &d, grp->domain, &v);
			}
			if (done)
				worst = v;
			else
				keep_worst(&worst, &v, k == 0);
		}
		for (i = 0; i < grp->n; i++) {
			struct rcpt *rc = &env->rcpts[grp->rcpt[i]];

			if (worst.state == RCPT_PENDING) {
				fprintf(out, "%s: deliverable: %s\n", rc->addr,
				    worst.text);
				continue;
			}
			rc->state = worst.state;
			rc->fail = worst.fail;
			strlcpy(rc->dsn, worst.dsn, sizeof(rc->dsn));
			free(rc->reason);
			rc->reason = xstrdup(worst.text);
			fprintf(out, "%s: %s: %s (%s)\n", rc->addr,
			    worst.state == RCPT_DEFERRED ? "deferred" :
			    "undeliverable", worst.text, worst.dsn);
		}
	}
	for (i = 0; i < env->nrcpts; i++) {
		const struct rcpt *rc = &env->rcpts[i];

		if (rc->state == RCPT_FAILED && rc->fail != FAIL_NOHOST)
			fprintf(out, "%s: undeliverable: %s (%s)\n", rc->orig,
			    rc->reason, rc->dsn);
	}
	if (dns_ready)
		dns_close(&d);
	return 0;
}
