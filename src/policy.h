/*
 * policy.h: the failure policy of SPEC §6, in one place. The SMTP engine
 * and the resolver report what happened (struct smtp_status, enum
 * dns_status); these functions alone say what it means for the
 * recipients: delivered, try the next address of the route, pass to the
 * next route, or fail for good. Pure functions; tests/unit/test_policy.c
 * checks every row.
 */
#ifndef MXSEND_POLICY_H
#define MXSEND_POLICY_H

#include "config.h"
#include "dns.h"
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
	POL_ELSE_DEFER,		/* queued for retry (75) */
	POL_ELSE_FAIL		/* permanent failure (class) */
};

/* The permanent failure classes of SPEC §3 (exit codes). */
enum policy_class {
	POL_CLASS_NONE,
	POL_CLASS_NOUSER,	/* 67: refused at RCPT */
	POL_CLASS_NOHOST,	/* 68: no such domain, null MX, no mail host */
	POL_CLASS_UNAVAILABLE	/* 69: message refused, SIZE, rule 6 */
};

struct policy {
	enum policy_action action;
	enum policy_else   otherwise;	/* with POL_NEXT_ROUTE */
	enum policy_class  cls;		/* with POL_FINAL or POL_ELSE_FAIL */
	int		   refusal;	/* a 5xx at greeting/EHLO/MAIL (rule 6) */
	const char	  *dsn;		/* enhanced code when the server gave
					   none ("4.4.1"), else NULL */
};

/* What st, reported by a session on route, means for its recipients. */
struct policy policy_smtp(enum route_method route,
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
 * What a recipient passed on by p becomes when no route is left:
 * deferred_before says an earlier route it went through said "else the
 * queue", and a deferral anywhere beats a later refusal (that route may
 * take it on retry).
 */
enum policy_else policy_at_end(int deferred_before, const struct policy *p);

/*
 * The enhanced status code to report for st under decision p: the
 * server's own when it gave one, else p.dsn, else from the reply class;
 * always 4.x.x for a deferral (a refusal that only defers, rule 6 with
 * some address unreachable, is still temporary).
 */
const char *policy_dsn(const struct smtp_status *st, const struct policy *p,
	    char out[16]);

#endif
