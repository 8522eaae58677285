/*
 * policy.h: the failure policy of SPEC §6, in one place. The SMTP engine
 * and the resolver report what happened (struct smtp_status, enum
 * dns_status); these functions alone say what it means for the
 * recipients: delivered, try the next address of the route, pass to the
 * next route, or fail for good; and, route after route, where each
 * recipient ends. deliver.c and verify.c (-bv) both walk the routes with
 * them, so that the two cannot disagree. Pure functions;
 * tests/unit/test_policy.c checks every row.
 */
#ifndef MXSEND_POLICY_H
#define MXSEND_POLICY_H

#include "config.h"
#include "dns.h"
#include "envelope.h"
#include "smtp.h"

enum policy_action {
	POL_DELIVERED,
	POL_NEXT_ADDRESS,	/* this server, not the recipient: the next
				   address of the route; when there is none,
				   policy_exhausted() decides */
	POL_NEXT_ROUTE,		/* the next route; without one, `otherwise` */
	POL_FINAL		/* fails now; no later address or route */
};

/* What a recipient passed on becomes when no route is left. */
enum policy_else {
	POL_ELSE_DEFER,		/* queued for retry */
	POL_ELSE_FAIL		/* permanent failure of class `fail` */
};

struct policy {
	enum policy_action action;
	enum policy_else   otherwise;	/* with POL_NEXT_ROUTE */
	enum rcpt_fail	   fail;	/* with POL_FINAL or POL_ELSE_FAIL:
					   FAIL_NOUSER, FAIL_NOHOST or
					   FAIL_UNAVAILABLE (SPEC §3) */
	int		   refusal;	/* a 5xx at greeting, EHLO or MAIL
					   (rule 6) */
	const char	  *dsn;		/* enhanced code when the server gave
					   none ("4.4.1"), else NULL */
};

/* What st, reported by a session on route, means for its recipients. */
struct policy policy_smtp(enum route_method route,
	    const struct smtp_status *st);

/*
 * The same for a probe's session (-bv -v, smtp_probe()): a 2xx to RCPT
 * is the answer the probe asked for, so the address is deliverable;
 * every other status means what it means for a delivery.
 */
struct policy policy_probe(enum route_method route,
	    const struct smtp_status *st);

/* What the MX lookup result means for the domain's recipients. */
struct policy policy_dns(enum dns_status);

/*
 * Every address of the route ended in POL_NEXT_ADDRESS; all_refused
 * when each of them was a refusal (rule 6: the replies concern this
 * client, and only another route can help). last is the last of those
 * failures (its code is reported), or NULL.
 */
struct policy policy_exhausted(enum route_method route, int all_refused,
	    const struct smtp_status *last);

/*
 * One step of a recipient's walk through the routes: where decision p
 * (anything but POL_NEXT_ADDRESS, which policy_exhausted() turns into a
 * route's decision) leaves it, given whether an earlier route deferred it
 * and whether a route follows this one.
 */
struct policy_step {
	enum rcpt_state	 state;		/* RCPT_PENDING: on to the next route */
	enum rcpt_fail	 fail;		/* with RCPT_FAILED */
	int		 first_deferral;	/* p is the recipient's first
					   "else the queue": if it ends
					   deferred, p's reason is the one
					   to report */
};

/*
 * A deferral anywhere beats a later refusal that is not final: the route
 * that deferred may take the recipient on retry. RCPT_DEFERRED therefore
 * always reports the first deferral's reason, code and server.
 */
struct policy_step policy_route_step(const struct policy *p,
	    int deferred_before, int more_routes);

/*
 * Whether a transaction tried on a relay connection kept open from an
 * earlier batch failed only because that connection had gone stale while
 * idle, so that one new connection (with its TLS and AUTH) is worth
 * making. sent is smtp_send()'s return, st the transaction's status.
 */
int	 policy_stale(int sent, const struct smtp_status *st);

/*
 * What becomes of a recipient that an attempt left undecided (never
 * reached by any route): never dropped, but deferred with this code and
 * reason.
 */
struct policy_outcome {
	enum rcpt_state	 state;
	enum rcpt_fail	 fail;
	const char	*dsn;
	const char	*reason;
};

struct policy_outcome policy_undecided(void);

/*
 * An address that -bv -v may not probe now (SPEC §2: 200 probes per
 * domain per hour): deferred, 4.7.0, no connection made; the caller
 * puts the counts or the counter's trouble in the reason.
 */
struct policy_outcome policy_probe_limited(void);

/*
 * A recipient still deferred queue_lifetime after the message arrived
 * (SPEC §7): failed, 5.4.7; the caller adds the lifetime and the last
 * error to the reason.
 */
struct policy_outcome policy_expired(void);

/*
 * The enhanced status code to report for st under decision p: the
 * server's own when it gave one, else p.dsn, else from the reply class;
 * always 4.x.x for a deferral (a refusal that only defers, rule 6 with
 * some address unreachable, is still temporary).
 */
const char *policy_dsn(const struct smtp_status *st, const struct policy *p,
	    char out[16]);

#endif
