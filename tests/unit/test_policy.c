/*
 * test_policy.c: every row of the SPEC §6 decision table (policy.c's
 * rules[], mirrored below in its order, each rule with its rows), as
 * data: the status a session reports, and what it must mean. Then the
 * route walk, the stale kept connection and the undecided recipient.
 */
#include "autoconf.h"

#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "policy.h"

#define A_OK	POL_DELIVERED
#define A_ADDR	POL_NEXT_ADDRESS
#define A_ROUTE	POL_NEXT_ROUTE
#define A_FINAL	POL_FINAL
#define DEFER	POL_ELSE_DEFER
#define FAIL	POL_ELSE_FAIL
#define CL_NONE	FAIL_NONE
#define CL_USER	FAIL_NOUSER
#define CL_HOST	FAIL_NOHOST
#define CL_UNAV	FAIL_UNAVAILABLE

#define MX	ROUTE_MX
#define RELAY	ROUTE_RELAY
#define OK	SMTP_EV_OK
#define REPLY	SMTP_EV_REPLY

/*
 * Values only, no pointers: Criterion may run each parameter in a new
 * image of the program, where pointers into the parent mean nothing.
 */
struct row {
	char			 name[40];
	enum route_method	 route;
	enum smtp_event		 ev;
	enum smtp_stage		 stage;
	int			 code;
	char			 enh[8];
	enum policy_action	 action;
	enum policy_else	 otherwise;	/* checked with A_ROUTE */
	enum rcpt_fail		 fail;		/* checked with FINAL/FAIL */
	int			 refusal;	/* checked with A_ADDR */
	char			 dsn[8];	/* policy_dsn() */
};

/* In the order of policy.c's rules[]: each rule has its rows. */
static const struct row rows[] = {
	/* Any route: outcomes that are not a server's refusal. */
	{ "mx delivered", MX, OK, SMTP_STAGE_EOD, 250, "2.0.0",
	    A_OK, DEFER, CL_NONE, 0, "2.0.0" },
	{ "relay delivered", RELAY, OK, SMTP_STAGE_EOD, 250, "",
	    A_OK, DEFER, CL_NONE, 0, "2.0.0" },
	/* Any other success is not an outcome. */
	{ "mx ok at rcpt is no outcome", MX, OK, SMTP_STAGE_RCPT, 250, "",
	    A_ROUTE, DEFER, CL_NONE, 0, "4.3.0" },
	/* Step 3: next address. */
	{ "mx connect refused", MX, SMTP_EV_CONNECT, SMTP_STAGE_CONNECT,
	    0, "", A_ADDR, DEFER, CL_NONE, 0, "4.4.1" },
	{ "relay unreachable", RELAY, SMTP_EV_CONNECT,
	    SMTP_STAGE_CONNECT, 0, "", A_ADDR, DEFER, CL_NONE, 0, "4.4.1" },
	/* Step 3: a session that breaks before it completes. */
	{ "mx connect timeout", MX, SMTP_EV_TIMEOUT, SMTP_STAGE_CONNECT,
	    0, "", A_ADDR, DEFER, CL_NONE, 0, "4.4.2" },
	{ "mx broken at rcpt", MX, SMTP_EV_BROKEN, SMTP_STAGE_RCPT, 0, "",
	    A_ADDR, DEFER, CL_NONE, 0, "4.4.2" },
	{ "mx timeout at eod", MX, SMTP_EV_TIMEOUT, SMTP_STAGE_EOD, 0, "",
	    A_ADDR, DEFER, CL_NONE, 0, "4.4.2" },
	{ "relay broken at eod", RELAY, SMTP_EV_BROKEN, SMTP_STAGE_EOD, 0,
	    "", A_ADDR, DEFER, CL_NONE, 0, "4.4.2" },
	/* SPEC §4 deadline. */
	{ "mx deadline next route", MX, SMTP_EV_DEADLINE,
	    SMTP_STAGE_RCPT, 0, "", A_ROUTE, DEFER, CL_NONE, 0, "4.4.7" },
	{ "relay deadline", RELAY, SMTP_EV_DEADLINE, SMTP_STAGE_MAIL, 0,
	    "", A_ROUTE, DEFER, CL_NONE, 0, "4.4.7" },
	/* TLS or AUTH failing on the MX route: another MX. */
	{ "mx tls required failed", MX, SMTP_EV_TLS, SMTP_STAGE_STARTTLS,
	    0, "", A_ADDR, DEFER, CL_NONE, 0, "4.7.5" },
	{ "mx no starttls", MX, SMTP_EV_NOTLS, SMTP_STAGE_STARTTLS, 0, "",
	    A_ADDR, DEFER, CL_NONE, 0, "4.7.4" },
	{ "mx auth", MX, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 0, "",
	    A_ADDR, DEFER, CL_NONE, 0, "4.7.0" },
	/* A relay failing TLS or AUTH is unusable: next route. */
	{ "relay tls failed", RELAY, SMTP_EV_TLS, SMTP_STAGE_STARTTLS, 0,
	    "", A_ROUTE, DEFER, CL_NONE, 0, "4.7.5" },
	{ "relay no starttls", RELAY, SMTP_EV_NOTLS, SMTP_STAGE_STARTTLS,
	    0, "", A_ROUTE, DEFER, CL_NONE, 0, "4.7.4" },
	{ "relay auth 535", RELAY, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 535,
	    "5.7.8", A_ROUTE, DEFER, CL_NONE, 0, "4.7.8" },
	/* Step 7: advertised SIZE too small. */
	{ "mx size final", MX, SMTP_EV_SIZE, SMTP_STAGE_MAIL, 0, "5.3.4",
	    A_FINAL, FAIL, CL_UNAV, 0, "5.3.4" },
	{ "relay size final", RELAY, SMTP_EV_SIZE, SMTP_STAGE_MAIL, 0,
	    "5.3.4", A_FINAL, FAIL, CL_UNAV, 0, "5.3.4" },
	/* RFC 6531 §3.4. */
	{ "mx no smtputf8", MX, SMTP_EV_NOUTF8, SMTP_STAGE_RCPT, 0,
	    "5.6.7", A_ROUTE, FAIL, CL_UNAV, 0, "5.6.7" },
	{ "relay no smtputf8", RELAY, SMTP_EV_NOUTF8, SMTP_STAGE_MAIL, 0,
	    "", A_ROUTE, FAIL, CL_UNAV, 0, "5.6.7" },
	/* The spool. */
	{ "mx spool error", MX, SMTP_EV_LOCAL, SMTP_STAGE_EOD, 0, "4.3.0",
	    A_ROUTE, DEFER, CL_NONE, 0, "4.3.0" },
	{ "relay spool error", RELAY, SMTP_EV_LOCAL, SMTP_STAGE_EOD, 0, "",
	    A_ROUTE, DEFER, CL_NONE, 0, "4.3.0" },

	/* Direct route, the server's replies. */
	/* Step 7: SIZE refusal at MAIL. */
	{ "mx mail 552 size", MX, REPLY, SMTP_STAGE_MAIL, 552,
	    "5.3.4", A_FINAL, FAIL, CL_UNAV, 0, "5.3.4" },
	{ "mx mail 5.3.4", MX, REPLY, SMTP_STAGE_MAIL, 554,
	    "5.3.4", A_FINAL, FAIL, CL_UNAV, 0, "5.3.4" },
	{ "mx mail 552 5.7.1 is size", MX, REPLY, SMTP_STAGE_MAIL, 552,
	    "5.7.1", A_FINAL, FAIL, CL_UNAV, 0, "5.7.1" },
	/* Step 3: 4xx before RCPT. */
	{ "mx greeting 421", MX, REPLY, SMTP_STAGE_GREETING, 421,
	    "", A_ADDR, DEFER, CL_NONE, 0, "4.0.0" },
	{ "mx mail 451", MX, REPLY, SMTP_STAGE_MAIL, 451, "4.3.0",
	    A_ADDR, DEFER, CL_NONE, 0, "4.3.0" },
	/* Steps 3 and 6: 5xx before RCPT. */
	{ "mx greeting 554", MX, REPLY, SMTP_STAGE_GREETING, 554,
	    "5.7.1", A_ADDR, DEFER, CL_NONE, 1, "5.7.1" },
	{ "mx greeting 552 is no size", MX, REPLY, SMTP_STAGE_GREETING,
	    552, "", A_ADDR, DEFER, CL_NONE, 1, "5.0.0" },
	{ "mx ehlo 550", MX, REPLY, SMTP_STAGE_EHLO, 550, "",
	    A_ADDR, DEFER, CL_NONE, 1, "5.0.0" },
	{ "mx mail 553", MX, REPLY, SMTP_STAGE_MAIL, 553, "5.7.1",
	    A_ADDR, DEFER, CL_NONE, 1, "5.7.1" },
	/* Step 5. */
	{ "mx rcpt 450 defer", MX, REPLY, SMTP_STAGE_RCPT, 450,
	    "4.2.0", A_ROUTE, DEFER, CL_NONE, 0, "4.2.0" },
	{ "mx rcpt 452 defer", MX, REPLY, SMTP_STAGE_RCPT, 452,
	    "4.5.3", A_ROUTE, DEFER, CL_NONE, 0, "4.5.3" },
	{ "mx data 451 defer", MX, REPLY, SMTP_STAGE_DATA, 451,
	    "", A_ROUTE, DEFER, CL_NONE, 0, "4.0.0" },
	{ "mx eod 451 defer", MX, REPLY, SMTP_STAGE_EOD, 451,
	    "4.3.0", A_ROUTE, DEFER, CL_NONE, 0, "4.3.0" },
	/* Step 4: 5.7.x at RCPT. */
	{ "mx rcpt 5.7.1 next route", MX, REPLY, SMTP_STAGE_RCPT,
	    550, "5.7.1", A_ROUTE, FAIL, CL_USER, 0, "5.7.1" },
	{ "mx rcpt 552 5.7.1 is policy", MX, REPLY, SMTP_STAGE_RCPT,
	    552, "5.7.1", A_ROUTE, FAIL, CL_USER, 0, "5.7.1" },
	/* Step 4: other 5xx at RCPT. */
	{ "mx rcpt 550 5.1.1 final", MX, REPLY, SMTP_STAGE_RCPT,
	    550, "5.1.1", A_FINAL, FAIL, CL_USER, 0, "5.1.1" },
	{ "mx rcpt 550 no enh final", MX, REPLY, SMTP_STAGE_RCPT,
	    550, "", A_FINAL, FAIL, CL_USER, 0, "5.0.0" },
	{ "mx rcpt 552 final", MX, REPLY, SMTP_STAGE_RCPT,
	    552, "5.2.2", A_FINAL, FAIL, CL_USER, 0, "5.2.2" },
	/* Steps 4 and 7: 5xx to the message. */
	{ "mx data 554 final", MX, REPLY, SMTP_STAGE_DATA, 554,
	    "", A_FINAL, FAIL, CL_UNAV, 0, "5.0.0" },
	{ "mx eod 554 final", MX, REPLY, SMTP_STAGE_EOD, 554,
	    "5.6.0", A_FINAL, FAIL, CL_UNAV, 0, "5.6.0" },
	/* Step 7's exception: 5.7.x at the end is about this client. */
	{ "mx eod 550 5.7.26 next route", MX, REPLY, SMTP_STAGE_EOD,
	    550, "5.7.26", A_ROUTE, FAIL, CL_UNAV, 0, "5.7.26" },
	{ "mx eod 552 5.7.1 is policy", MX, REPLY, SMTP_STAGE_EOD,
	    552, "5.7.1", A_ROUTE, FAIL, CL_UNAV, 0, "5.7.1" },
	/*
	 * The SPEC is silent on 5xx to the DATA command itself: 5.7.x
	 * there says what it says at RCPT and at the end (this client),
	 * so it goes to the next route as well (test_faults' model).
	 */
	{ "mx data 554 5.7.1 next route", MX, REPLY, SMTP_STAGE_DATA, 554,
	    "5.7.1", A_ROUTE, FAIL, CL_UNAV, 0, "5.7.1" },

	/* Relay route, the server's replies. */
	/* SIZE refusal at MAIL. */
	{ "relay mail 552 size", RELAY, REPLY, SMTP_STAGE_MAIL, 552, "",
	    A_FINAL, FAIL, CL_UNAV, 0, "5.3.4" },
	/* Any 4xx: next route, else the queue. */
	{ "relay greeting 421", RELAY, REPLY,
	    SMTP_STAGE_GREETING, 421, "", A_ROUTE, DEFER, CL_NONE, 0,
	    "4.0.0" },
	{ "relay mail 451", RELAY, REPLY, SMTP_STAGE_MAIL, 451,
	    "", A_ROUTE, DEFER, CL_NONE, 0, "4.0.0" },
	{ "relay rcpt 450", RELAY, REPLY, SMTP_STAGE_RCPT, 450,
	    "", A_ROUTE, DEFER, CL_NONE, 0, "4.0.0" },
	{ "relay eod 452 defer", RELAY, REPLY, SMTP_STAGE_EOD,
	    452, "", A_ROUTE, DEFER, CL_NONE, 0, "4.0.0" },
	/* 5xx before any recipient: next route, else failed. */
	{ "relay ehlo 550", RELAY, REPLY, SMTP_STAGE_EHLO, 550, "",
	    A_ROUTE, FAIL, CL_UNAV, 0, "5.0.0" },
	{ "relay mail 553", RELAY, REPLY, SMTP_STAGE_MAIL, 553,
	    "5.7.1", A_ROUTE, FAIL, CL_UNAV, 0, "5.7.1" },
	/* 5xx for a recipient: final. */
	{ "relay rcpt 550 final", RELAY, REPLY, SMTP_STAGE_RCPT,
	    550, "5.1.1", A_FINAL, FAIL, CL_USER, 0, "5.1.1" },
	{ "relay rcpt 5.7.1 final", RELAY, REPLY,
	    SMTP_STAGE_RCPT, 554, "5.7.1", A_FINAL, FAIL, CL_USER, 0,
	    "5.7.1" },
	/* Rule 7's exception: 5.7.x to the message, next relay or route. */
	{ "relay eod 550 5.7.60 next relay", RELAY, REPLY, SMTP_STAGE_EOD,
	    550, "5.7.60", A_ROUTE, FAIL, CL_UNAV, 0, "5.7.60" },
	{ "relay data 554 5.7.1 next relay", RELAY, REPLY, SMTP_STAGE_DATA,
	    554, "5.7.1", A_ROUTE, FAIL, CL_UNAV, 0, "5.7.1" },
	/* Any other 5xx to the message: final. */
	{ "relay data 554 final", RELAY, REPLY, SMTP_STAGE_DATA,
	    554, "", A_FINAL, FAIL, CL_UNAV, 0, "5.0.0" },
	{ "relay eod 554 final", RELAY, REPLY, SMTP_STAGE_EOD,
	    554, "", A_FINAL, FAIL, CL_UNAV, 0, "5.0.0" },
	{ "relay eod 554 5.6.0 final", RELAY, REPLY, SMTP_STAGE_EOD,
	    554, "5.6.0", A_FINAL, FAIL, CL_UNAV, 0, "5.6.0" },
};

ParameterizedTestParameters(policy, smtp_rows)
{
	return cr_make_param_array(struct row, rows,
	    sizeof(rows) / sizeof(rows[0]));
}

ParameterizedTest(const struct row *r, policy, smtp_rows)
{
	struct smtp_status st;
	struct policy p;
	char dsn[16];

	memset(&st, 0, sizeof(st));
	st.ev = r->ev;
	st.stage = r->stage;
	st.code = r->code;
	strcpy(st.enh, r->enh);
	p = policy_smtp(r->route, &st);
	cr_assert_eq(p.action, r->action, "%s: action %d, want %d", r->name,
	    p.action, r->action);
	if (r->action == A_ROUTE)
		cr_assert_eq(p.otherwise, r->otherwise, "%s: otherwise",
		    r->name);
	if (r->action == A_FINAL ||
	    (r->action == A_ROUTE && r->otherwise == FAIL))
		cr_assert_eq(p.fail, r->fail, "%s: class %d, want %d", r->name,
		    p.fail, r->fail);
	if (r->action == A_ADDR)
		cr_assert_eq(p.refusal, r->refusal, "%s: refusal", r->name);
	cr_assert_str_eq(policy_dsn(&st, &p, dsn), r->dsn, "%s: dsn %s, want "
	    "%s", r->name, dsn, r->dsn);
}

Test(policy, dns_rows)
{
	struct policy p;
	char dsn[16];

	p = policy_dns(DNS_NULLMX);
	cr_assert_eq(p.action, A_FINAL);
	cr_assert_eq(p.fail, CL_HOST);
	cr_assert_str_eq(policy_dsn(NULL, &p, dsn), "5.1.10");

	p = policy_dns(DNS_NXDOMAIN);
	cr_assert_eq(p.action, A_ROUTE);
	cr_assert_eq(p.otherwise, FAIL);
	cr_assert_eq(p.fail, CL_HOST);
	cr_assert_str_eq(policy_dsn(NULL, &p, dsn), "5.1.2");

	p = policy_dns(DNS_NODATA);
	cr_assert_eq(p.action, A_ROUTE);
	cr_assert_eq(p.otherwise, FAIL);
	cr_assert_eq(p.fail, CL_HOST);

	p = policy_dns(DNS_TEMPFAIL);
	cr_assert_eq(p.action, A_ROUTE);
	cr_assert_eq(p.otherwise, DEFER);
	cr_assert_str_eq(policy_dsn(NULL, &p, dsn), "4.4.3");
}

Test(policy, exhausted_rows)
{
	struct policy p;

	/* Step 6: every address refused this client. */
	p = policy_exhausted(ROUTE_MX, 1, NULL);
	cr_assert_eq(p.action, A_ROUTE);
	cr_assert_eq(p.otherwise, FAIL);
	cr_assert_eq(p.fail, CL_UNAV);
	/* Step 3 with some address unreachable: a deferral. */
	p = policy_exhausted(ROUTE_MX, 0, NULL);
	cr_assert_eq(p.action, A_ROUTE);
	cr_assert_eq(p.otherwise, DEFER);
	p = policy_exhausted(ROUTE_RELAY, 1, NULL);
	cr_assert_eq(p.otherwise, DEFER);
}

Test(policy, dsn_prefers_the_server)
{
	struct smtp_status st;
	struct policy p;
	char dsn[16];

	memset(&st, 0, sizeof(st));
	st.ev = SMTP_EV_REPLY;
	st.stage = SMTP_STAGE_RCPT;
	st.code = 550;
	strcpy(st.enh, "5.1.1");
	p = policy_smtp(ROUTE_MX, &st);
	cr_assert_str_eq(policy_dsn(&st, &p, dsn), "5.1.1");
	st.enh[0] = '\0';
	cr_assert_str_eq(policy_dsn(&st, &p, dsn), "5.0.0");
	st.code = 450;
	p = policy_smtp(ROUTE_MX, &st);
	cr_assert_str_eq(policy_dsn(&st, &p, dsn), "4.0.0");
	st.ev = SMTP_EV_CONNECT;
	st.code = 0;
	p = policy_smtp(ROUTE_MX, &st);
	cr_assert_str_eq(policy_dsn(&st, &p, dsn), "4.4.1");
}

Test(policy, exhausted_reports_the_last_failure)
{
	struct smtp_status st;
	struct policy p;
	char dsn[16];

	memset(&st, 0, sizeof(st));
	st.ev = SMTP_EV_CONNECT;
	p = policy_exhausted(ROUTE_MX, 0, &st);
	cr_assert_str_eq(policy_dsn(&st, &p, dsn), "4.4.1");
	st.ev = SMTP_EV_BROKEN;
	p = policy_exhausted(ROUTE_RELAY, 0, &st);
	cr_assert_str_eq(policy_dsn(&st, &p, dsn), "4.4.2");
}

Test(policy, a_deferral_is_always_4xx)
{
	struct smtp_status st;
	struct policy p;
	char dsn[16];

	/* Some addresses refused 554 5.7.1, one was unreachable: defer. */
	memset(&st, 0, sizeof(st));
	st.ev = SMTP_EV_REPLY;
	st.stage = SMTP_STAGE_GREETING;
	st.code = 554;
	strcpy(st.enh, "5.7.1");
	p = policy_exhausted(ROUTE_MX, 0, &st);
	cr_assert_eq(p.otherwise, DEFER);
	cr_assert_str_eq(policy_dsn(&st, &p, dsn), "4.7.1");
	/* Every address refused: a failure keeps its 5.x.x. */
	p = policy_exhausted(ROUTE_MX, 1, &st);
	cr_assert_str_eq(policy_dsn(&st, &p, dsn), "5.7.1");
}

/* policy_route_step(): where a decision leaves a recipient's walk. */
struct step_row {
	char			 name[48];
	enum policy_action	 action;
	enum policy_else	 otherwise;
	enum rcpt_fail		 fail;
	int			 deferred_before, more_routes;
	enum rcpt_state		 state;		/* want */
	enum rcpt_fail		 want_fail;
	int			 first_deferral;
};

static const struct step_row step_rows[] = {
	{ "delivered", A_OK, DEFER, CL_NONE, 0, 1,
	    RCPT_DELIVERED, CL_NONE, 0 },
	{ "delivered after a deferral", A_OK, DEFER, CL_NONE, 1, 0,
	    RCPT_DELIVERED, CL_NONE, 0 },
	{ "final beats an earlier deferral", A_FINAL, FAIL, CL_USER, 1, 1,
	    RCPT_FAILED, CL_USER, 0 },
	{ "final on the last route", A_FINAL, FAIL, CL_UNAV, 0, 0,
	    RCPT_FAILED, CL_UNAV, 0 },
	{ "defer passes on, remembered", A_ROUTE, DEFER, CL_NONE, 0, 1,
	    RCPT_PENDING, CL_NONE, 1 },
	{ "second deferral not remembered", A_ROUTE, DEFER, CL_NONE, 1, 1,
	    RCPT_PENDING, CL_NONE, 0 },
	{ "refusal passes on", A_ROUTE, FAIL, CL_HOST, 0, 1,
	    RCPT_PENDING, CL_NONE, 0 },
	/* A deferral beats a later refusal (was policy_at_end). */
	{ "refusal at the end fails", A_ROUTE, FAIL, CL_HOST, 0, 0,
	    RCPT_FAILED, CL_HOST, 0 },
	{ "refusal after a deferral defers", A_ROUTE, FAIL, CL_HOST, 1, 0,
	    RCPT_DEFERRED, CL_NONE, 0 },
	{ "deferral at the end defers", A_ROUTE, DEFER, CL_NONE, 0, 0,
	    RCPT_DEFERRED, CL_NONE, 1 },
	{ "deferral after a deferral", A_ROUTE, DEFER, CL_NONE, 1, 0,
	    RCPT_DEFERRED, CL_NONE, 0 },
	{ "exhausted route, no route left", A_ADDR, DEFER, CL_NONE, 0, 0,
	    RCPT_DEFERRED, CL_NONE, 1 },
};

ParameterizedTestParameters(policy, route_step_rows)
{
	return cr_make_param_array(struct step_row, step_rows,
	    sizeof(step_rows) / sizeof(step_rows[0]));
}

ParameterizedTest(const struct step_row *r, policy, route_step_rows)
{
	struct policy p;
	struct policy_step s;

	memset(&p, 0, sizeof(p));
	p.action = r->action;
	p.otherwise = r->otherwise;
	p.fail = r->fail;
	s = policy_route_step(&p, r->deferred_before, r->more_routes);
	cr_assert_eq(s.state, r->state, "%s: state %d, want %d", r->name,
	    s.state, r->state);
	if (r->state == RCPT_FAILED)
		cr_assert_eq(s.fail, r->want_fail, "%s: class %d, want %d",
		    r->name, s.fail, r->want_fail);
	cr_assert_eq(s.first_deferral, r->first_deferral,
	    "%s: first_deferral %d", r->name, s.first_deferral);
}

Test(policy, at_end_a_deferral_beats_a_later_refusal)
{
	struct policy p = policy_dns(DNS_NXDOMAIN);	/* else fail */
	struct policy q = policy_dns(DNS_TEMPFAIL);	/* else defer */

	cr_assert_eq(policy_route_step(&p, 0, 0).state, RCPT_FAILED);
	cr_assert_eq(policy_route_step(&p, 1, 0).state, RCPT_DEFERRED);
	cr_assert_eq(policy_route_step(&q, 0, 0).state, RCPT_DEFERRED);
}

/*
 * policy_stale(): a kept relay connection is worth replacing only when
 * it was found closed or silent at its first command; anything else is
 * what a new connection would say again.
 */
struct stale_row {
	char			 name[48];
	int			 sent;
	enum smtp_event		 ev;
	enum smtp_stage		 stage;
	int			 code;
	char			 enh[8];
	int			 stale;
};

static const struct stale_row stale_rows[] = {
	{ "session found unusable", -1, SMTP_EV_BROKEN, SMTP_STAGE_MAIL, 0,
	    "", 1 },
	{ "closed at MAIL", 0, SMTP_EV_BROKEN, SMTP_STAGE_MAIL, 0, "", 1 },
	{ "silent at MAIL", 0, SMTP_EV_TIMEOUT, SMTP_STAGE_MAIL, 0, "", 1 },
	{ "advertised SIZE too small", 0, SMTP_EV_SIZE, SMTP_STAGE_MAIL, 0,
	    "5.3.4", 0 },
	{ "no SMTPUTF8 for the sender", 0, SMTP_EV_NOUTF8, SMTP_STAGE_MAIL,
	    0, "5.6.7", 0 },
	{ "local refusal at MAIL", 0, SMTP_EV_LOCAL, SMTP_STAGE_MAIL, 0,
	    "5.5.2", 0 },
	{ "deadline at MAIL", 0, SMTP_EV_DEADLINE, SMTP_STAGE_MAIL, 0, "",
	    0 },
	{ "MAIL 552 5.3.4", 0, REPLY, SMTP_STAGE_MAIL, 552, "5.3.4", 0 },
	{ "MAIL 451", 0, REPLY, SMTP_STAGE_MAIL, 451, "4.3.0", 0 },
	{ "closed after RCPT", 0, SMTP_EV_BROKEN, SMTP_STAGE_RCPT, 0, "",
	    0 },
	{ "closed at end of data", 0, SMTP_EV_BROKEN, SMTP_STAGE_EOD, 0, "",
	    0 },
	{ "delivered", 1, OK, SMTP_STAGE_EOD, 250, "2.0.0", 0 },
};

ParameterizedTestParameters(policy, stale_rows)
{
	return cr_make_param_array(struct stale_row, stale_rows,
	    sizeof(stale_rows) / sizeof(stale_rows[0]));
}

ParameterizedTest(const struct stale_row *r, policy, stale_rows)
{
	struct smtp_status st;

	memset(&st, 0, sizeof(st));
	st.ev = r->ev;
	st.stage = r->stage;
	st.code = r->code;
	strcpy(st.enh, r->enh);
	cr_assert_eq(policy_stale(r->sent, &st), r->stale, "%s: stale %d",
	    r->name, !r->stale);
}

/* o is state, fail, dsn and reason. */
static void
assert_outcome(struct policy_outcome o, enum rcpt_state state,
    enum rcpt_fail fail, const char *dsn, const char *reason)
{
	cr_assert_eq(o.state, state);
	cr_assert_eq(o.fail, fail);
	cr_assert_str_eq(o.dsn, dsn);
	cr_assert_str_eq(o.reason, reason);
}

Test(policy, undecided_is_deferred)
{
	assert_outcome(policy_undecided(), RCPT_DEFERRED, FAIL_NONE, "4.3.0",
	    "delivery was not attempted");
}

/* SPEC §7: past queue_lifetime a deferral is a failure, 5.4.7. */
Test(policy, expired_fails_with_5_4_7)
{
	assert_outcome(policy_expired(), RCPT_FAILED, FAIL_UNAVAILABLE,
	    "5.4.7", "delivery time expired");
}

/*
 * -bv -v (SPEC §2): a probe's 2xx to RCPT is its answer, deliverable;
 * every other status means what it means for a delivery, including a
 * 2xx at another stage (never an outcome).
 */
Test(policy, probe_rcpt_2xx_is_deliverable_the_rest_as_delivery)
{
	struct smtp_status st;
	struct policy p, q;
	size_t i;

	memset(&st, 0, sizeof(st));
	st.ev = SMTP_EV_OK;
	st.stage = SMTP_STAGE_RCPT;
	st.code = 250;
	cr_assert_eq(policy_probe(ROUTE_MX, &st).action, POL_DELIVERED);
	cr_assert_eq(policy_smtp(ROUTE_MX, &st).action, POL_NEXT_ROUTE);
	st.code = 252;		/* RFC 5321 §3.5.3: will accept, unverified */
	cr_assert_eq(policy_probe(ROUTE_MX, &st).action, POL_DELIVERED);
	st.stage = SMTP_STAGE_MAIL;
	cr_assert_neq(policy_probe(ROUTE_MX, &st).action, POL_DELIVERED);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].ev == SMTP_EV_OK)
			continue;
		memset(&st, 0, sizeof(st));
		st.ev = rows[i].ev;
		st.stage = rows[i].stage;
		st.code = rows[i].code;
		strcpy(st.enh, rows[i].enh);
		p = policy_probe(rows[i].route, &st);
		q = policy_smtp(rows[i].route, &st);
		cr_assert(p.action == q.action && p.otherwise == q.otherwise &&
		    p.fail == q.fail && p.refusal == q.refusal,
		    "%s: a probe decides otherwise", rows[i].name);
	}
}

/* SPEC §2: past the probe limit an address is deferred, 4.7.0. */
Test(policy, probe_limited_is_deferred_4_7_0)
{
	assert_outcome(policy_probe_limited(), RCPT_DEFERRED, FAIL_NONE,
	    "4.7.0", "probe limit reached");
}

/* Queue files store the class by number (doc/queue.md, FAIL column). */
Test(policy, failure_classes_keep_their_numbers)
{
	cr_assert_eq(FAIL_NONE, 0);
	cr_assert_eq(FAIL_SYNTAX, 1);
	cr_assert_eq(FAIL_ALIAS_KIND, 2);
	cr_assert_eq(FAIL_IDNA, 3);
	cr_assert_eq(FAIL_ALIAS_LOOP, 4);
	cr_assert_eq(FAIL_NOHOST, 5);
	cr_assert_eq(FAIL_NOUSER, 6);
	cr_assert_eq(FAIL_UNAVAILABLE, 7);
}
