/*
 * policy.c: SPEC §6 as code. The rules[] table below is the whole SMTP
 * policy, one row per rule, in the order they are tried; the direct route
 * follows RFC 5321 §5.1 and §4.2.5 (what a client does with each reply),
 * the relay route is the failover. tests/unit/test_policy.c mirrors the
 * table row for row.
 */
#include "autoconf.h"

#include <string.h>

#include "compat.h"
#include "policy.h"

#define DECIDE(a, e, f, r, dsn)	{ (a), (e), (f), (r), (dsn) }
#define DELIVERED()	DECIDE(POL_DELIVERED, POL_ELSE_DEFER, FAIL_NONE, 0, \
			    NULL)
#define NEXT_ADDRESS(r, dsn) \
			DECIDE(POL_NEXT_ADDRESS, POL_ELSE_DEFER, FAIL_NONE, \
			    (r), (dsn))
#define NEXT_OR_DEFER(dsn) \
			DECIDE(POL_NEXT_ROUTE, POL_ELSE_DEFER, FAIL_NONE, 0, \
			    (dsn))
#define NEXT_OR_FAIL(fail, dsn) \
			DECIDE(POL_NEXT_ROUTE, POL_ELSE_FAIL, (fail), 0, (dsn))
#define FINAL(fail, dsn) \
			DECIDE(POL_FINAL, POL_ELSE_FAIL, (fail), 0, (dsn))

/*
 * What a session reported, as the classes the rules tell apart. A reply
 * can be in several classes at once (552 5.7.1 is a size refusal at MAIL
 * and a policy refusal at RCPT): the first row that matches any of them
 * decides, so the narrower rows come first.
 */
#define IS_OK		0x0001u	/* a stage succeeded */
#define IS_4XX		0x0002u	/* any reply below 500 */
#define IS_5XX		0x0004u	/* any 5xx */
#define IS_5_7		0x0008u	/* 5.7.x: about this client (RFC 3463) */
#define IS_5XX_SIZE	0x0010u	/* 552 or 5.3.4 (RFC 1870 §6.1) */
#define IS_CONNECT	0x0020u	/* no TCP connection */
#define IS_BROKEN	0x0040u	/* a time-out, or the session broke */
#define IS_DEADLINE	0x0080u	/* the run's deadline */
#define IS_TLS		0x0100u	/* the handshake or verification failed */
#define IS_NOTLS	0x0200u	/* TLS required, STARTTLS not offered */
#define IS_AUTH		0x0400u	/* AUTH impossible or refused */
#define IS_SIZE		0x0800u	/* above the SIZE the server advertised */
#define IS_NOUTF8	0x1000u	/* SMTPUTF8 needed, not offered */
#define IS_LOCAL	0x2000u	/* reading the spool failed */

#define MX		(1u << ROUTE_MX)
#define RELAY		(1u << ROUTE_RELAY)
#define ANY_ROUTE	(MX | RELAY)

#define S(stage)	(1u << SMTP_STAGE_ ## stage)
#define BEFORE_MAIL	(S(CONNECT) | S(GREETING) | S(EHLO) | S(STARTTLS) | \
			    S(AUTH))
#define ANY_STAGE	(BEFORE_MAIL | S(MAIL) | S(RCPT) | S(DATA) | S(EOD))

struct rule {
	unsigned	 routes;
	unsigned	 stages;
	unsigned	 results;
	struct policy	 then;
};

static const struct rule rules[] = {
	/* route	stages		result		decision */

	/* Any route: outcomes that are not a server's refusal. */
	{ ANY_ROUTE, S(EOD), IS_OK, DELIVERED() },
	/* Any other success is not an outcome: never final. */
	{ ANY_ROUTE, ANY_STAGE, IS_OK, NEXT_OR_DEFER("4.3.0") },
	/* Step 3: next address (relay: its next address). */
	{ ANY_ROUTE, ANY_STAGE, IS_CONNECT, NEXT_ADDRESS(0, "4.4.1") },
	/* Step 3: a session that breaks before it completes. */
	{ ANY_ROUTE, ANY_STAGE, IS_BROKEN, NEXT_ADDRESS(0, "4.4.2") },
	/* SPEC §4 deadline: next route, then the queue. */
	{ ANY_ROUTE, ANY_STAGE, IS_DEADLINE, NEXT_OR_DEFER("4.4.7") },
	/* TLS (mx_tls required) or AUTH failing: another MX may do it. */
	{ MX, ANY_STAGE, IS_TLS, NEXT_ADDRESS(0, "4.7.5") },
	{ MX, ANY_STAGE, IS_NOTLS, NEXT_ADDRESS(0, "4.7.4") },
	{ MX, ANY_STAGE, IS_AUTH, NEXT_ADDRESS(0, "4.7.0") },
	/*
	 * A relay that fails TLS or AUTH is unusable (it never gets plain
	 * text): next route, else the queue.
	 */
	{ RELAY, ANY_STAGE, IS_TLS, NEXT_OR_DEFER("4.7.5") },
	{ RELAY, ANY_STAGE, IS_NOTLS, NEXT_OR_DEFER("4.7.4") },
	{ RELAY, ANY_STAGE, IS_AUTH, NEXT_OR_DEFER("4.7.0") },
	/* Step 7 (SPEC §6 SIZE): final, no later route. */
	{ ANY_ROUTE, ANY_STAGE, IS_SIZE, FINAL(FAIL_UNAVAILABLE, "5.3.4") },
	/* RFC 6531 §3.4; another route may offer SMTPUTF8. */
	{ ANY_ROUTE, ANY_STAGE, IS_NOUTF8,
	    NEXT_OR_FAIL(FAIL_UNAVAILABLE, "5.6.7") },
	{ ANY_ROUTE, ANY_STAGE, IS_LOCAL, NEXT_OR_DEFER("4.3.0") },

	/* Direct route, the server's replies. */
	/* Step 7: SIZE refusal is final for the message. */
	{ MX, S(MAIL), IS_5XX_SIZE, FINAL(FAIL_UNAVAILABLE, "5.3.4") },
	/* Step 3. */
	{ MX, BEFORE_MAIL | S(MAIL), IS_4XX, NEXT_ADDRESS(0, NULL) },
	/* Steps 3 and 6: a 5xx there counts toward "every MX refused". */
	{ MX, BEFORE_MAIL | S(MAIL), IS_5XX, NEXT_ADDRESS(1, NULL) },
	/* Step 5. */
	{ MX, S(RCPT) | S(DATA) | S(EOD), IS_4XX, NEXT_OR_DEFER(NULL) },
	/* Step 4: 5.7.x is "this client may not deliver here". */
	{ MX, S(RCPT), IS_5_7, NEXT_OR_FAIL(FAIL_NOUSER, NULL) },
	/* Step 4. */
	{ MX, S(RCPT), IS_5XX, FINAL(FAIL_NOUSER, NULL) },
	/*
	 * Step 7's exception: 5.7.x at the end of the message is the
	 * receiver's policy about this client (Gmail's 5.7.26, Outlook's
	 * 5.7.515), not about the message: next route, as at RCPT. The
	 * SPEC does not name the DATA command; 5.7.x there says the same.
	 */
	{ MX, S(DATA) | S(EOD), IS_5_7, NEXT_OR_FAIL(FAIL_UNAVAILABLE, NULL) },
	/* Steps 4 and 7: any other 5xx to the message is final. */
	{ MX, S(DATA) | S(EOD), IS_5XX, FINAL(FAIL_UNAVAILABLE, NULL) },

	/* Relay route, the server's replies. */
	{ RELAY, S(MAIL), IS_5XX_SIZE, FINAL(FAIL_UNAVAILABLE, "5.3.4") },
	/*
	 * "A relay that ... answers 4xx passes the recipients to the next
	 * relay in the relay list, then to the next route, else to the
	 * queue." Every NEXT_* of the relay route means the next relay
	 * first (deliver.c's apply()).
	 */
	{ RELAY, ANY_STAGE, IS_4XX, NEXT_OR_DEFER(NULL) },
	/* A 5xx before any recipient concerns this client, as rule 6. */
	{ RELAY, BEFORE_MAIL | S(MAIL), IS_5XX,
	    NEXT_OR_FAIL(FAIL_UNAVAILABLE, NULL) },
	/* "a relay 5xx for a recipient is final". */
	{ RELAY, S(RCPT), IS_5XX, FINAL(FAIL_NOUSER, NULL) },
	/*
	 * Step 7's exception on the relay route too: 5.7.x to the message
	 * is this relay's policy about this client (Microsoft 365's 5.7.60
	 * "not allowed to send as this sender"), which another relay of the
	 * list, or the next route, may not share. The SPEC's relay paragraph
	 * names only "a 5xx for a recipient" as final.
	 */
	{ RELAY, S(DATA) | S(EOD), IS_5_7,
	    NEXT_OR_FAIL(FAIL_UNAVAILABLE, NULL) },
	{ RELAY, S(DATA) | S(EOD), IS_5XX, FINAL(FAIL_UNAVAILABLE, NULL) },
};

/* The classes of rules[] that st belongs to. */
static unsigned
classify(const struct smtp_status *st)
{
	unsigned	 c;

	switch (st->ev) {
	case SMTP_EV_OK:
		return IS_OK;
	case SMTP_EV_REPLY:
		if (st->code < 500)
			return IS_4XX;
		c = IS_5XX;
		if (strncmp(st->enh, "5.7.", 4) == 0)
			c |= IS_5_7;
		if (st->code == 552 || strcmp(st->enh, "5.3.4") == 0)
			c |= IS_5XX_SIZE;
		return c;
	case SMTP_EV_CONNECT:
		return IS_CONNECT;
	case SMTP_EV_TIMEOUT:
	case SMTP_EV_BROKEN:
		return IS_BROKEN;
	case SMTP_EV_DEADLINE:
		return IS_DEADLINE;
	case SMTP_EV_TLS:
		return IS_TLS;
	case SMTP_EV_NOTLS:
		return IS_NOTLS;
	case SMTP_EV_AUTH:
		return IS_AUTH;
	case SMTP_EV_SIZE:
		return IS_SIZE;
	case SMTP_EV_NOUTF8:
		return IS_NOUTF8;
	case SMTP_EV_LOCAL:
		return IS_LOCAL;
	}
	return 0;
}

struct policy
policy_smtp(enum route_method route, const struct smtp_status *st)
{
	unsigned	 results = classify(st);
	size_t		 i;

	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if ((rules[i].routes & (1u << route)) &&
		    (rules[i].stages & (1u << st->stage)) &&
		    (rules[i].results & results))
			return rules[i].then;
	/* Only a status outside the enums gets here: never final. */
	return (struct policy)NEXT_OR_DEFER("4.3.0");
}

struct policy
policy_probe(enum route_method route, const struct smtp_status *st)
{
	if (st->ev == SMTP_EV_OK && st->stage == SMTP_STAGE_RCPT)
		return (struct policy)DELIVERED();
	return policy_smtp(route, st);
}

struct policy
policy_dns(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		/* Not an outcome: go on. */
		return (struct policy)DELIVERED();
	case DNS_NULLMX:
		/* Step 1, RFC 7505: no mail, and no failover. */
		return (struct policy)FINAL(FAIL_NOHOST, "5.1.10");
	case DNS_NXDOMAIN:
		/* The relay may see another DNS (split horizon). */
		return (struct policy)NEXT_OR_FAIL(FAIL_NOHOST, "5.1.2");
	case DNS_NODATA:
		/* No MX and no address, or MX hosts without addresses. */
		return (struct policy)NEXT_OR_FAIL(FAIL_NOHOST, "5.4.4");
	case DNS_TEMPFAIL:
		break;
	}
	/* Step 1: a temporary failure is never "no MX". */
	return (struct policy)NEXT_OR_DEFER("4.4.3");
}

struct policy
policy_exhausted(enum route_method route, int all_refused,
    const struct smtp_status *last)
{
	const char	*dsn = NULL;

	if (last != NULL)
		dsn = policy_smtp(route, last).dsn;
	/* Step 6: every address refused this client. */
	if (route == ROUTE_MX && all_refused)
		return (struct policy)NEXT_OR_FAIL(FAIL_UNAVAILABLE, dsn);
	/* Step 3, some address unreachable or silent: another time. */
	return (struct policy)NEXT_OR_DEFER(dsn);
}

struct policy_step
policy_route_step(const struct policy *p, int deferred_before,
    int more_routes)
{
	struct policy_step s = { RCPT_PENDING, FAIL_NONE, 0 };

	switch (p->action) {
	case POL_DELIVERED:
		s.state = RCPT_DELIVERED;
		return s;
	case POL_FINAL:
		s.state = RCPT_FAILED;
		s.fail = p->fail;
		return s;
	default:
		break;
	}
	/* Passed on (a route's decision, or an exhausted route). */
	s.first_deferral = p->otherwise == POL_ELSE_DEFER && !deferred_before;
	if (more_routes)
		s.state = RCPT_PENDING;
	else if (deferred_before || p->otherwise == POL_ELSE_DEFER)
		s.state = RCPT_DEFERRED;
	else {
		s.state = RCPT_FAILED;
		s.fail = p->fail;
	}
	return s;
}

int
policy_stale(int sent, const struct smtp_status *st)
{
	/* smtp_send() found the session closed before writing anything. */
	if (sent < 0)
		return 1;
	if (sent > 0 || st->stage != SMTP_STAGE_MAIL)
		return 0;
	/*
	 * The first command on the kept connection found it closed or
	 * silent: the server (or a NAT on the way) dropped it while idle.
	 * A reply, or SIZE, SMTPUTF8, the spool or the deadline, is what a
	 * new connection would say again.
	 */
	return st->ev == SMTP_EV_BROKEN || st->ev == SMTP_EV_TIMEOUT;
}

struct policy_outcome
policy_undecided(void)
{
	/* RFC 3463 X.3.0: this system, not the recipient. */
	return (struct policy_outcome){ RCPT_DEFERRED, FAIL_NONE, "4.3.0",
	    "delivery was not attempted" };
}

struct policy_outcome
policy_probe_limited(void)
{
	/* RFC 3463 X.7.0: a policy of this system, not the recipient's. */
	return (struct policy_outcome){ RCPT_DEFERRED, FAIL_NONE, "4.7.0",
	    "probe limit reached" };
}

struct policy_outcome
policy_expired(void)
{
	/* RFC 3463 X.4.7: delivery time expired. */
	return (struct policy_outcome){ RCPT_FAILED, FAIL_UNAVAILABLE,
	    "5.4.7", "delivery time expired" };
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
