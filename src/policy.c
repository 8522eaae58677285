/*
 * policy.c: SPEC §6 as code. Each branch below names the rule it
 * implements; the direct route follows RFC 5321 §5.1 and §4.2.5 (what a
 * client does with each reply), the relay route is the failover.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "policy.h"

static struct policy
mk(enum policy_action a, enum policy_else e, enum policy_class c,
    int refusal, const char *dsn)
{
	struct policy p;

	p.action = a;
	p.otherwise = e;
	p.cls = c;
	p.refusal = refusal;
	p.dsn = dsn;
	return p;
}

#define DELIVERED()	mk(POL_DELIVERED, POL_ELSE_DEFER, POL_CLASS_NONE, 0, \
			    NULL)
#define NEXT_ADDRESS(r, dsn) \
			mk(POL_NEXT_ADDRESS, POL_ELSE_DEFER, POL_CLASS_NONE, \
			    (r), (dsn))
#define NEXT_OR_DEFER(dsn) \
			mk(POL_NEXT_ROUTE, POL_ELSE_DEFER, POL_CLASS_NONE, 0, \
			    (dsn))
#define NEXT_OR_FAIL(cls, dsn) \
			mk(POL_NEXT_ROUTE, POL_ELSE_FAIL, (cls), 0, (dsn))
#define FINAL(cls, dsn)	mk(POL_FINAL, POL_ELSE_FAIL, (cls), 0, (dsn))

/* RFC 1870 §6.1: 552, or 5.3.4, at MAIL is "message too big". */
static int
size_refusal(const struct smtp_status *st)
{
	return st->code == 552 || strcmp(st->enh, "5.3.4") == 0;
}

static struct policy
mx_reply(const struct smtp_status *st)
{
	int perm = st->code >= 500;

	switch (st->stage) {
	case SMTP_STAGE_CONNECT:
	case SMTP_STAGE_GREETING:
	case SMTP_STAGE_EHLO:
	case SMTP_STAGE_STARTTLS:
	case SMTP_STAGE_AUTH:
		/* Step 3; a 5xx counts toward step 6. */
		return NEXT_ADDRESS(perm, NULL);
	case SMTP_STAGE_MAIL:
		/* Step 7: SIZE refusal is final for the message. */
		if (perm && size_refusal(st))
			return FINAL(POL_CLASS_UNAVAILABLE, "5.3.4");
		return NEXT_ADDRESS(perm, NULL);
	case SMTP_STAGE_RCPT:
		/* Step 5. */
		if (!perm)
			return NEXT_OR_DEFER(NULL);
		/* Step 4: 5.7.x is "this client may not deliver here". */
		if (strncmp(st->enh, "5.7.", 4) == 0)
			return NEXT_OR_FAIL(POL_CLASS_NOUSER, NULL);
		return FINAL(POL_CLASS_NOUSER, NULL);
	case SMTP_STAGE_DATA:
	case SMTP_STAGE_EOD:
		/* Steps 4, 5 and 7. */
		if (!perm)
			return NEXT_OR_DEFER(NULL);
		return FINAL(POL_CLASS_UNAVAILABLE, NULL);
	}
	return NEXT_OR_DEFER(NULL);
}

static struct policy
relay_reply(const struct smtp_status *st)
{
	int perm = st->code >= 500;

	switch (st->stage) {
	case SMTP_STAGE_CONNECT:
	case SMTP_STAGE_GREETING:
	case SMTP_STAGE_EHLO:
	case SMTP_STAGE_STARTTLS:
	case SMTP_STAGE_AUTH:
	case SMTP_STAGE_MAIL:
		if (st->stage == SMTP_STAGE_MAIL && perm && size_refusal(st))
			return FINAL(POL_CLASS_UNAVAILABLE, "5.3.4");
		/*
		 * "A relay that ... answers 4xx passes the recipients to
		 * the next route, else to the queue." A 5xx before any
		 * recipient concerns this client, as rule 6 says for MX.
		 */
		if (perm)
			return NEXT_OR_FAIL(POL_CLASS_UNAVAILABLE, NULL);
		return NEXT_OR_DEFER(NULL);
	case SMTP_STAGE_RCPT:
		/* "a relay 5xx for a recipient is final". */
		if (perm)
			return FINAL(POL_CLASS_NOUSER, NULL);
		return NEXT_OR_DEFER(NULL);
	case SMTP_STAGE_DATA:
	case SMTP_STAGE_EOD:
		if (perm)
			return FINAL(POL_CLASS_UNAVAILABLE, NULL);
		return NEXT_OR_DEFER(NULL);
	}
	return NEXT_OR_DEFER(NULL);
}

struct policy
policy_smtp(enum route_method route, const struct smtp_status *st)
{
	int mx = route == ROUTE_MX;

	switch (st->ev) {
	case SMTP_EV_OK:
		if (st->stage == SMTP_STAGE_EOD)
			return DELIVERED();
		/* Anything else OK is not an outcome; never final. */
		return NEXT_OR_DEFER("4.3.0");
	case SMTP_EV_REPLY:
		return mx ? mx_reply(st) : relay_reply(st);
	case SMTP_EV_CONNECT:
		/* Step 3: next address (relay: its next address). */
		return NEXT_ADDRESS(0, "4.4.1");
	case SMTP_EV_TIMEOUT:
	case SMTP_EV_BROKEN:
		/* Step 3: a session that breaks before it completes. */
		return NEXT_ADDRESS(0, "4.4.2");
	case SMTP_EV_DEADLINE:
		/* SPEC §4 deadline: next route, then the queue. */
		return NEXT_OR_DEFER("4.4.7");
	case SMTP_EV_TLS:
	case SMTP_EV_NOTLS:
		/*
		 * MX under mx_tls required: another MX may do TLS; the
		 * relay is unusable and never gets plain text.
		 */
		if (mx)
			return NEXT_ADDRESS(0, st->ev == SMTP_EV_TLS ?
			    "4.7.5" : "4.7.4");
		return NEXT_OR_DEFER(st->ev == SMTP_EV_TLS ? "4.7.5" :
		    "4.7.4");
	case SMTP_EV_AUTH:
		/* The relay failed AUTH: next route, else the queue. */
		if (mx)
			return NEXT_ADDRESS(0, "4.7.0");
		return NEXT_OR_DEFER("4.7.0");
	case SMTP_EV_SIZE:
		/* Step 7 (SPEC §6 SIZE): final, no later route. */
		return FINAL(POL_CLASS_UNAVAILABLE, "5.3.4");
	case SMTP_EV_NOUTF8:
		/* RFC 6531 §3.4; another route may offer SMTPUTF8. */
		return NEXT_OR_FAIL(POL_CLASS_UNAVAILABLE, "5.6.7");
	case SMTP_EV_LOCAL:
		return NEXT_OR_DEFER("4.3.0");
	}
	return NEXT_OR_DEFER("4.3.0");
}

struct policy
policy_dns(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return DELIVERED();	/* not an outcome: go on */
	case DNS_NULLMX:
		/* Step 1, RFC 7505: no mail, and no failover. */
		return FINAL(POL_CLASS_NOHOST, "5.1.10");
	case DNS_NXDOMAIN:
		/* The relay may see another DNS (split horizon). */
		return NEXT_OR_FAIL(POL_CLASS_NOHOST, "5.1.2");
	case DNS_NODATA:
		return NEXT_OR_FAIL(POL_CLASS_NOHOST, "5.4.4");
	case DNS_TEMPFAIL:
		/* Step 1: never "no MX". */
		return NEXT_OR_DEFER("4.4.3");
	}
	return NEXT_OR_DEFER("4.4.3");
}

struct policy
policy_exhausted(enum route_method route, int all_refused,
    const struct smtp_status *last)
{
	const char	*dsn = last != NULL ? policy_smtp(route, last).dsn : NULL;

	/* Step 6: every address refused this client. */
	if (route == ROUTE_MX && all_refused)
		return NEXT_OR_FAIL(POL_CLASS_UNAVAILABLE, dsn);
	return NEXT_OR_DEFER(dsn);
}

enum policy_else
policy_at_end(int deferred_before, const struct policy *p)
{
	return deferred_before ? POL_ELSE_DEFER : p->otherwise;
}

const char *
policy_dsn(const struct smtp_status *st, const struct policy *p,
    char out[16])
{
	int	 temp, defer = p->action == POL_NEXT_ROUTE &&
	    p->otherwise == POL_ELSE_DEFER;

	if (st != NULL && st->enh[0] != '\0')
		strlcpy(out, st->enh, 16);
	else if (p->dsn != NULL)
		strlcpy(out, p->dsn, 16);
	else if (p->action == POL_DELIVERED)
		strlcpy(out, "2.0.0", 16);
	else {
		temp = p->action != POL_FINAL &&
		    (p->action != POL_NEXT_ROUTE || defer);
		if (st != NULL && st->code >= 400)
			temp = st->code < 500;
		strlcpy(out, temp ? "4.0.0" : "5.0.0", 16);
	}
	if (defer && out[0] == '5')
		out[0] = '4';
	return out;
}
