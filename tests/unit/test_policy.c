/*
 * test_policy.c: every row of the SPEC §6 decision table (policy.c), as
 * data: the status a session reports, and what it must mean.
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
#define CL_NONE	POL_CLASS_NONE
#define CL_USER	POL_CLASS_NOUSER
#define CL_HOST	POL_CLASS_NOHOST
#define CL_UNAV	POL_CLASS_UNAVAILABLE

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
	enum policy_class	 cls;		/* checked with FINAL/FAIL */
	int			 refusal;	/* checked with A_ADDR */
};

static const struct row rows[] = {
	/* Direct route, SPEC §6 steps 3-7. */
	{ "mx delivered", ROUTE_MX, SMTP_EV_OK, SMTP_STAGE_EOD, 250, "2.0.0",
	    A_OK, DEFER, CL_NONE, 0 },
	{ "mx connect refused", ROUTE_MX, SMTP_EV_CONNECT, SMTP_STAGE_CONNECT,
	    0, "", A_ADDR, DEFER, CL_NONE, 0 },
	{ "mx connect timeout", ROUTE_MX, SMTP_EV_TIMEOUT, SMTP_STAGE_CONNECT,
	    0, "", A_ADDR, DEFER, CL_NONE, 0 },
	{ "mx greeting 421", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_GREETING, 421,
	    "", A_ADDR, DEFER, CL_NONE, 0 },
	{ "mx greeting 554", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_GREETING, 554,
	    "5.7.1", A_ADDR, DEFER, CL_NONE, 1 },
	{ "mx ehlo 550", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_EHLO, 550, "",
	    A_ADDR, DEFER, CL_NONE, 1 },
	{ "mx mail 451", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_MAIL, 451, "4.3.0",
	    A_ADDR, DEFER, CL_NONE, 0 },
	{ "mx mail 553", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_MAIL, 553, "5.7.1",
	    A_ADDR, DEFER, CL_NONE, 1 },
	{ "mx mail 552 size", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_MAIL, 552,
	    "5.3.4", A_FINAL, FAIL, CL_UNAV, 0 },
	{ "mx mail 5.3.4", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_MAIL, 554,
	    "5.3.4", A_FINAL, FAIL, CL_UNAV, 0 },
	{ "mx broken at rcpt", ROUTE_MX, SMTP_EV_BROKEN, SMTP_STAGE_RCPT, 0, "",
	    A_ADDR, DEFER, CL_NONE, 0 },
	{ "mx timeout at eod", ROUTE_MX, SMTP_EV_TIMEOUT, SMTP_STAGE_EOD, 0, "",
	    A_ADDR, DEFER, CL_NONE, 0 },
	{ "mx rcpt 550 5.1.1 final", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_RCPT,
	    550, "5.1.1", A_FINAL, FAIL, CL_USER, 0 },
	{ "mx rcpt 550 no enh final", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_RCPT,
	    550, "", A_FINAL, FAIL, CL_USER, 0 },
	{ "mx rcpt 5.7.1 next route", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_RCPT,
	    550, "5.7.1", A_ROUTE, FAIL, CL_USER, 0 },
	{ "mx rcpt 450 defer", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 450,
	    "4.2.0", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "mx rcpt 452 defer", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 452,
	    "4.5.3", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "mx data 451 defer", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_DATA, 451,
	    "", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "mx data 554 final", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_DATA, 554,
	    "", A_FINAL, FAIL, CL_UNAV, 0 },
	{ "mx eod 451 defer", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_EOD, 451,
	    "4.3.0", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "mx eod 554 final", ROUTE_MX, SMTP_EV_REPLY, SMTP_STAGE_EOD, 554,
	    "5.7.1", A_FINAL, FAIL, CL_UNAV, 0 },
	{ "mx size final", ROUTE_MX, SMTP_EV_SIZE, SMTP_STAGE_MAIL, 0, "5.3.4",
	    A_FINAL, FAIL, CL_UNAV, 0 },
	{ "mx deadline next route", ROUTE_MX, SMTP_EV_DEADLINE,
	    SMTP_STAGE_RCPT, 0, "", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "mx tls required failed", ROUTE_MX, SMTP_EV_TLS, SMTP_STAGE_STARTTLS,
	    0, "", A_ADDR, DEFER, CL_NONE, 0 },
	{ "mx no starttls", ROUTE_MX, SMTP_EV_NOTLS, SMTP_STAGE_STARTTLS, 0, "",
	    A_ADDR, DEFER, CL_NONE, 0 },
	{ "mx no smtputf8", ROUTE_MX, SMTP_EV_NOUTF8, SMTP_STAGE_RCPT, 0,
	    "5.6.7", A_ROUTE, FAIL, CL_UNAV, 0 },
	{ "mx spool error", ROUTE_MX, SMTP_EV_LOCAL, SMTP_STAGE_EOD, 0, "4.3.0",
	    A_ROUTE, DEFER, CL_NONE, 0 },

	/* Relay route. */
	{ "relay delivered", ROUTE_RELAY, SMTP_EV_OK, SMTP_STAGE_EOD, 250, "",
	    A_OK, DEFER, CL_NONE, 0 },
	{ "relay unreachable", ROUTE_RELAY, SMTP_EV_CONNECT,
	    SMTP_STAGE_CONNECT, 0, "", A_ADDR, DEFER, CL_NONE, 0 },
	{ "relay tls failed", ROUTE_RELAY, SMTP_EV_TLS, SMTP_STAGE_STARTTLS, 0,
	    "", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "relay no starttls", ROUTE_RELAY, SMTP_EV_NOTLS, SMTP_STAGE_STARTTLS,
	    0, "", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "relay auth 535", ROUTE_RELAY, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 535,
	    "5.7.8", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "relay greeting 421", ROUTE_RELAY, SMTP_EV_REPLY,
	    SMTP_STAGE_GREETING, 421, "", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "relay mail 451", ROUTE_RELAY, SMTP_EV_REPLY, SMTP_STAGE_MAIL, 451,
	    "", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "relay mail 553", ROUTE_RELAY, SMTP_EV_REPLY, SMTP_STAGE_MAIL, 553,
	    "5.7.1", A_ROUTE, FAIL, CL_UNAV, 0 },
	{ "relay rcpt 450", ROUTE_RELAY, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 450,
	    "", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "relay rcpt 550 final", ROUTE_RELAY, SMTP_EV_REPLY, SMTP_STAGE_RCPT,
	    550, "5.1.1", A_FINAL, FAIL, CL_USER, 0 },
	{ "relay rcpt 5.7.1 final", ROUTE_RELAY, SMTP_EV_REPLY,
	    SMTP_STAGE_RCPT, 554, "5.7.1", A_FINAL, FAIL, CL_USER, 0 },
	{ "relay eod 554 final", ROUTE_RELAY, SMTP_EV_REPLY, SMTP_STAGE_EOD,
	    554, "", A_FINAL, FAIL, CL_UNAV, 0 },
	{ "relay eod 452 defer", ROUTE_RELAY, SMTP_EV_REPLY, SMTP_STAGE_EOD,
	    452, "", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "relay deadline", ROUTE_RELAY, SMTP_EV_DEADLINE, SMTP_STAGE_MAIL, 0,
	    "", A_ROUTE, DEFER, CL_NONE, 0 },
	{ "relay size final", ROUTE_RELAY, SMTP_EV_SIZE, SMTP_STAGE_MAIL, 0,
	    "5.3.4", A_FINAL, FAIL, CL_UNAV, 0 },
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
		cr_assert_eq(p.cls, r->cls, "%s: class %d, want %d", r->name,
		    p.cls, r->cls);
	if (r->action == A_ADDR)
		cr_assert_eq(p.refusal, r->refusal, "%s: refusal", r->name);
}

Test(policy, dns_rows)
{
	struct policy p;
	char dsn[16];

	p = policy_dns(DNS_NULLMX);
	cr_assert_eq(p.action, A_FINAL);
	cr_assert_eq(p.cls, CL_HOST);
	cr_assert_str_eq(policy_dsn(NULL, &p, dsn), "5.1.10");

	p = policy_dns(DNS_NXDOMAIN);
	cr_assert_eq(p.action, A_ROUTE);
	cr_assert_eq(p.otherwise, FAIL);
	cr_assert_eq(p.cls, CL_HOST);
	cr_assert_str_eq(policy_dsn(NULL, &p, dsn), "5.1.2");

	p = policy_dns(DNS_NODATA);
	cr_assert_eq(p.action, A_ROUTE);
	cr_assert_eq(p.otherwise, FAIL);
	cr_assert_eq(p.cls, CL_HOST);

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
	cr_assert_eq(p.cls, CL_UNAV);
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

Test(policy, at_end_a_deferral_beats_a_later_refusal)
{
	struct policy p = policy_dns(DNS_NXDOMAIN);	/* else fail */
	struct policy q = policy_dns(DNS_TEMPFAIL);	/* else defer */

	cr_assert_eq(policy_at_end(0, &p), FAIL);
	cr_assert_eq(policy_at_end(1, &p), DEFER);
	cr_assert_eq(policy_at_end(0, &q), DEFER);
}
