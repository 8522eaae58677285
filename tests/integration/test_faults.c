/*
 * test_faults.c: the SMTP fault matrix (issue 14, item 4). Three tables,
 * stages x faults x routes (and, where they change the dialogue, the
 * server's extensions: lock-step, PIPELINING, PIPELINING with CHUNKING),
 * are crossed by loops into every combination that can exist; each one
 * runs the real mxsend binary against fakesmtp servers playing two MX
 * hosts and a relay, and fakedns, on loopback addresses of its own
 * (127.B.C.1 the relay, .2 and .3 the MX hosts), so combinations run in
 * parallel without meeting.
 *
 * The message goes to two recipients of one domain. The first server on
 * the route has the fault (both MX hosts have it, so that "the next MX"
 * and "the next route" can be told apart); the second route's server, if
 * any, is healthy. What mxsend must do is written below as a model taken
 * from SPEC §3 and §6 (verdict(), walk(), exit_code()), not from mxsend's
 * code; for each combination the test asserts, for each recipient, the
 * outcome the model gives (delivered, and by which server; queued; failed)
 * and the exit code, that mxsend returned within the time-outs that can
 * apply, and that the message ended somewhere: whole in the record of the
 * server that took it, in an entry of the queue, or reported as failed
 * (and in dead.letter when nobody got it), never nowhere.
 *
 * Where the SPEC is silent, the model says what it decided and why
 * ("decision:"). The matrix prints its size and result at the end.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/parameterized.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

/* The configured time-outs (config.c accepts 1 s at the least). */
#define T_CONNECT	1
#define T_COMMAND	1
#define T_DATA		2
/* What a run may take beyond the time-outs that can apply. */
#define SLACK_S		4.0
#define RUN_LIMIT_S	60	/* run.c kills mxsend after this */
#define JOBS		6	/* combinations at once (--jobs overrides):
				   most of their time is spent waiting */

#define BODY_AFTER	"4096"		/* the body fault, after N octets */
#define PASSWORD	"s3cret-pw"

/* ------------------------------------------------------------ tables */

enum stage {
	S_CONNECT, S_GREETING, S_EHLO, S_STARTTLS, S_AUTH, S_MAIL, S_RCPT1,
	S_RCPT2, S_DATA, S_BODY, S_EOD, S_QUIT, NSTAGES
};

enum fault {
	F_REFUSED, F_RESET, F_CLOSE, F_STALL, F_421, F_451, F_554, F_571,
	F_GARBAGE, F_ALERT, F_ENDLESS, NFAULTS
};

enum route { R_MX, R_RELAY, R_MX_RELAY, R_RELAY_MX, NROUTES };

enum ext { X_LOCKSTEP, X_PIPELINING, X_CHUNKING, NEXTS };

/* What a fault is, for the model. */
enum kind {
	K_GONE,		/* no answer: refused, reset, closed, silent, or
			   something that is not a reply */
	K_421,		/* 421: the server is closing (RFC 5321 §3.8) */
	K_4XX,		/* another 4xx */
	K_5XX,		/* a 5xx that is not 5.7.x */
	K_5_7,		/* 5.7.x: about this client (RFC 3463) */
	K_ALERT		/* a 220 to STARTTLS, then a failed handshake */
};

enum hop { H_MX, H_RELAY };

#define BIT(x)		(1u << (x))
#define COMMON		(BIT(F_RESET) | BIT(F_CLOSE) | BIT(F_STALL) | \
			    BIT(F_421) | BIT(F_451) | BIT(F_554) | \
			    BIT(F_571) | BIT(F_GARBAGE) | BIT(F_ENDLESS))
#define ALL_EXTS	(BIT(X_LOCKSTEP) | BIT(X_PIPELINING) | BIT(X_CHUNKING))

static const struct stage_def {
	const char	*name;
	const char	*rule;		/* fakesmtp's stage and conditions */
	unsigned	 faults;	/* the faults that can happen there */
	unsigned	 exts;		/* the extension sets that differ */
	int		 relay_only;	/* AUTH: only the relay has it */
	int		 tls;		/* the server offers STARTTLS */
	unsigned	 timeout;	/* the time-out that bounds a wait */
} stages[NSTAGES] = {
	{ "connect", NULL, BIT(F_REFUSED), BIT(X_PIPELINING), 0, 0,
	    T_CONNECT },
	{ "greeting", "greeting", COMMON, BIT(X_PIPELINING), 0, 0,
	    T_COMMAND },
	{ "EHLO", "ehlo", COMMON, BIT(X_PIPELINING), 0, 0, T_COMMAND },
	{ "STARTTLS", "starttls", COMMON | BIT(F_ALERT), BIT(X_PIPELINING),
	    0, 1, T_COMMAND },
	{ "AUTH", "auth", COMMON, BIT(X_PIPELINING), 1, 1, T_COMMAND },
	{ "MAIL", "mail", COMMON, ALL_EXTS, 0, 0, T_COMMAND },
	{ "RCPT1", "rcpt match=<u1@", COMMON, ALL_EXTS, 0, 0, T_COMMAND },
	{ "RCPT2", "rcpt match=<u2@", COMMON, ALL_EXTS, 0, 0, T_COMMAND },
	/* With CHUNKING there is no DATA command: BDAT carries the body. */
	{ "DATA", "data", COMMON, BIT(X_LOCKSTEP) | BIT(X_PIPELINING), 0, 0,
	    T_COMMAND },
	{ "mid-body", "body octets=" BODY_AFTER, COMMON, ALL_EXTS, 0, 0,
	    T_DATA },
	{ "end-of-data", "eod", COMMON, ALL_EXTS, 0, 0, T_DATA },
	{ "QUIT", "quit", COMMON, ALL_EXTS, 0, 0, T_COMMAND },
};

static const struct fault_def {
	const char	*name;
	const char	*action;	/* fakesmtp's; NULL: nothing listens */
	const char	*reply;		/* what a failure report must quote */
	enum kind	 kind;
} faults[NFAULTS] = {
	{ "refused", NULL, NULL, K_GONE },
	{ "reset", "reset", NULL, K_GONE },
	{ "close", "close", NULL, K_GONE },
	{ "stall", "stall 8", NULL, K_GONE },
	{ "421", "reply 421 4.3.2 Service shutting down", "421 4.3.2",
	    K_421 },
	{ "451", "reply 451 4.3.0 Try again later", "451 4.3.0", K_4XX },
	{ "554", "reply 554 5.6.0 Refused here", "554 5.6.0", K_5XX },
	{ "5.7.1", "reply 550 5.7.1 Not from your address", "550 5.7.1",
	    K_5_7 },
	{ "garbage", "garbage 1024", NULL, K_GONE },
	{ "tls-alert", "tls-alert", NULL, K_ALERT },
	{ "endless", "endless", NULL, K_GONE },
};

static const struct route_def {
	const char	*name;
	const char	*conf;		/* the route setting */
	int		 nhops;
	enum hop	 hop[2];	/* hop[0] has the fault */
} routes[NROUTES] = {
	{ "mx", "mx", 1, { H_MX, H_MX } },
	{ "relay", "relay", 1, { H_RELAY, H_RELAY } },
	{ "mx+relay", "mx relay", 2, { H_MX, H_RELAY } },
	{ "relay+mx", "relay mx", 2, { H_RELAY, H_MX } },
};

static const struct ext_def {
	const char	*name;
	const char	*script;	/* fakesmtp's ext lines */
} exts[NEXTS] = {
	{ "lock-step", "" },
	{ "pipelining", "ext PIPELINING\n" },
	{ "chunking", "ext PIPELINING\next CHUNKING\n" },
};

/* One combination; plain numbers, so that any image of the program can
 * take it as its parameter. */
struct combo {
	unsigned	 idx;
	unsigned char	 stage, fault, route, ext;
};

#define NCOMBOS_MAX	(NSTAGES * NFAULTS * NROUTES * NEXTS)

static int
exists(enum stage s, enum fault f, enum route r, enum ext x)
{
	return (stages[s].faults & BIT(f)) && (stages[s].exts & BIT(x)) &&
	    (!stages[s].relay_only || routes[r].hop[0] == H_RELAY);
}

/* Every combination that can exist, in a fixed order: how many. */
static size_t
generate(struct combo *out)
{
	size_t	 n = 0;
	int	 s, f, r, x;

	for (s = 0; s < NSTAGES; s++)
		for (f = 0; f < NFAULTS; f++)
			for (r = 0; r < NROUTES; r++)
				for (x = 0; x < NEXTS; x++) {
					if (!exists(s, f, r, x))
						continue;
					out[n].idx = (unsigned)n;
					out[n].stage = (unsigned char)s;
					out[n].fault = (unsigned char)f;
					out[n].route = (unsigned char)r;
					out[n].ext = (unsigned char)x;
					n++;
				}
	return n;
}

/* ------------------------------------------------------------- model */

/* What the faulty server's behaviour means for one recipient. */
enum vkind {
	V_DELIVERED,	/* it took the message */
	V_NEXT_ADDRESS,	/* rule 3: the next MX address; a relay failed */
	V_REFUSED,	/* rule 6: the same, and a refusal of this client */
	V_ROUTE_DEFER,	/* the next route, else the queue */
	V_ROUTE_FAIL,	/* the next route, else failed (code) */
	V_FINAL		/* failed (code); no later address or route */
};

struct verdict {
	enum vkind	 kind;
	int		 code;		/* SPEC §3 exit code of a failure */
	int		 plain;		/* delivered after STARTTLS failed */
};

static struct verdict
v(enum vkind kind, int code)
{
	struct verdict	 r = { kind, code, 0 };

	return r;
}

/* SPEC §4, mx_tls opportunistic, for an MX host that offers STARTTLS. */
static struct verdict
verdict_starttls(enum kind k)
{
	struct verdict	 r = v(V_DELIVERED, 0);

	switch (k) {
	case K_ALERT:
		/* "plain text if the handshake fails": a new connection. */
		r.plain = 1;
		return r;
	case K_GONE:
	case K_421:
		/* Rule 3: the session broke (421: the server is closing). */
		return v(V_NEXT_ADDRESS, 0);
	default:
		/* Decision: a STARTTLS refused with 4xx or 5xx is no
		 * handshake at all; opportunistic TLS goes on in plain text
		 * in the same session (RFC 3207 §4.1, Postfix's "may"). */
		return r;
	}
}

/*
 * A fault in the transaction (RCPT of this recipient, DATA, the end of
 * the message): rules 4, 5 and 7 for an MX host; for the relay, "answers
 * 4xx passes the recipients to the next relay, ... route, else to the
 * queue; a relay 5xx for a recipient is final".
 */
static struct verdict
verdict_txn(enum stage s, enum kind k, int mx)
{
	int	 rcpt = s == S_RCPT1 || s == S_RCPT2;
	int	 code = rcpt ? 67 : 69;

	switch (k) {
	case K_GONE:
		/* Rule 3: the session broke before the transaction ended. */
		return v(V_NEXT_ADDRESS, 0);
	case K_421:
	case K_4XX:
		/* Rule 5 (RCPT, DATA and its end); a relay's 4xx. */
		return v(V_ROUTE_DEFER, 0);
	case K_5_7:
		/*
		 * Rules 4 and 7: 5.7.x at RCPT or at the end of the message
		 * is about this client: the next route, not the next MX.
		 * Decision: at the DATA command too, which sits between
		 * the two and says the same thing. A relay's 5.7.x to the
		 * message as well (rule 7's exception); at RCPT it is "a
		 * relay 5xx for a recipient", final.
		 */
		if (mx || !rcpt)
			return v(V_ROUTE_FAIL, code);
		return v(V_FINAL, code);
	default:
		/*
		 * Rules 4 and 7, and the relay's "5xx is final". Decision:
		 * a 5xx to the DATA command refuses the message as one at
		 * its end does (SPEC §3: 69).
		 */
		return v(V_FINAL, code);
	}
}

/*
 * The verdict of the server at hop on recipient r (0: u1, 1: u2) for
 * fault kind k at stage s; other_here: the other recipient is in the same
 * session. SPEC §6's rules, for the stage the session reached.
 */
static struct verdict
verdict(enum stage s, enum kind k, enum hop hop, int r, int other_here)
{
	int	 target = s == S_RCPT1 ? 0 : s == S_RCPT2 ? 1 : -1;
	int	 mx = hop == H_MX;

	if (target >= 0 && target != r) {
		/* The other recipient's RCPT: does the session survive it? */
		if (!other_here || (k != K_GONE && k != K_421))
			return v(V_DELIVERED, 0);
		/* Rule 3: the session broke before the transaction ended. */
		return v(V_NEXT_ADDRESS, 0);
	}
	switch (s) {
	case S_QUIT:
		/* The message was accepted before QUIT was sent. */
		return v(V_DELIVERED, 0);
	case S_CONNECT:
	case S_BODY:
		/* Rule 3: no session, or it broke in the middle. */
		return v(V_NEXT_ADDRESS, 0);
	case S_GREETING:
	case S_EHLO:
	case S_MAIL:
		/*
		 * Rules 3 and 6. Decision: a relay's 5xx before any
		 * recipient is about this client as well (rule 6): the next
		 * route, else failed (69), as for the MX hosts.
		 */
		if (k == K_5XX || k == K_5_7)
			return mx ? v(V_REFUSED, 0) : v(V_ROUTE_FAIL, 69);
		return v(V_NEXT_ADDRESS, 0);
	case S_STARTTLS:
		/* A relay that fails TLS is never used in plain text. */
		return mx ? verdict_starttls(k) : v(V_NEXT_ADDRESS, 0);
	case S_AUTH:
		/* "A relay that ... fails TLS or AUTH" passes them on. */
		return v(V_NEXT_ADDRESS, 0);
	default:
		return verdict_txn(s, k, mx);
	}
}

enum state { O_DELIVERED, O_DEFERRED, O_FAILED };
enum at { AT_RELAY, AT_MX1, AT_MX2 };	/* index into ip[] */

struct outcome {
	enum state	 state;
	int		 code;		/* O_FAILED: its exit code */
	enum at		 at;		/* O_DELIVERED: by which server */
	int		 plain;		/* after a failed STARTTLS */
};

struct model {
	struct outcome	 o[2];
	int		 mx2;		/* the second MX address was tried */
	int		 next_route;	/* the healthy route was tried */
	int		 waits;		/* faulty sessions: time-outs allowed */
	int		 exit;
};

/*
 * The direct route with the fault at both MX addresses: where each
 * recipient's verdict came from, and whether the second was tried.
 */
static void
mx_route(const struct combo *c, struct verdict out[2], enum at at[2],
    int *mx2)
{
	enum kind	 k = faults[c->fault].kind;
	struct verdict	 first[2], second;
	int		 again[2], r;

	for (r = 0; r < 2; r++) {
		first[r] = verdict(c->stage, k, H_MX, r, 1);
		again[r] = first[r].kind == V_NEXT_ADDRESS ||
		    first[r].kind == V_REFUSED;
	}
	*mx2 = again[0] || again[1];
	for (r = 0; r < 2; r++) {
		out[r] = first[r];
		at[r] = AT_MX1;
		if (!again[r])
			continue;
		second = verdict(c->stage, k, H_MX, r, again[1 - r]);
		out[r] = second;
		at[r] = AT_MX2;
		if (second.kind != V_NEXT_ADDRESS && second.kind != V_REFUSED)
			continue;
		/* Every address tried: rule 6 if each refused, else rule 3. */
		out[r] = first[r].kind == V_REFUSED &&
		    second.kind == V_REFUSED ? v(V_ROUTE_FAIL, 69) :
		    v(V_ROUTE_DEFER, 0);
	}
}

/* The relay route with the fault; one relay, so "next address" is
 * "this relay failed": the next route, else the queue. */
static void
relay_route(const struct combo *c, struct verdict out[2], enum at at[2])
{
	int	 r;

	for (r = 0; r < 2; r++) {
		out[r] = verdict(c->stage, faults[c->fault].kind, H_RELAY, r,
		    1);
		if (out[r].kind == V_NEXT_ADDRESS)
			out[r] = v(V_ROUTE_DEFER, 0);
		at[r] = AT_RELAY;
	}
}

/* Where the faulty route's verdict leaves a recipient. */
static void
settle(struct model *m, int r, const struct verdict *vd, enum at at,
    const struct route_def *rt)
{
	struct outcome	*o = &m->o[r];

	memset(o, 0, sizeof(*o));
	if (vd->kind == V_DELIVERED) {
		o->state = O_DELIVERED;
		o->at = at;
		o->plain = vd->plain;
	} else if (vd->kind == V_FINAL) {
		o->state = O_FAILED;
		o->code = vd->code;
	} else if (rt->nhops == 2) {
		/* The second route is healthy and takes it. */
		m->next_route = 1;
		o->state = O_DELIVERED;
		o->at = rt->hop[1] == H_MX ? AT_MX1 : AT_RELAY;
	} else if (vd->kind == V_ROUTE_FAIL) {
		o->state = O_FAILED;
		o->code = vd->code;
	} else
		o->state = O_DEFERRED;
}

/* SPEC §3: a permanent failure wins over 75, 75 over 0; 68 > 67 > 69. */
static int
exit_code(const struct model *m)
{
	static const int rank[] = { 68, 67, 69 };
	size_t	 i;
	int	 r, deferred = 0;

	for (i = 0; i < sizeof(rank) / sizeof(rank[0]); i++)
		for (r = 0; r < 2; r++)
			if (m->o[r].state == O_FAILED &&
			    m->o[r].code == rank[i])
				return rank[i];
	for (r = 0; r < 2; r++)
		deferred |= m->o[r].state == O_DEFERRED;
	return deferred ? 75 : 0;
}

static void
walk(const struct combo *c, struct model *m)
{
	const struct route_def *rt = &routes[c->route];
	struct verdict	 vd[2];
	enum at		 at[2];
	int		 r;

	memset(m, 0, sizeof(*m));
	if (rt->hop[0] == H_MX) {
		mx_route(c, vd, at, &m->mx2);
		m->waits = 1 + m->mx2;
	} else {
		relay_route(c, vd, at);
		m->waits = 1;
	}
	for (r = 0; r < 2; r++)
		settle(m, r, &vd[r], at[r], rt);
	m->exit = exit_code(m);
}

/* ----------------------------------------------------------- harness */

static const char *const rcpt[2] = { "u1@d.test", "u2@d.test" };
static const char *const at_name[] = { "the relay", "mx1", "mx2" };

static struct run_env re;
static struct run_result res;
static struct server dns, mx, relay;
static char mxrec[400], relayrec[400], logpath[400], marker[64];
static char ip[3][32];		/* the relay, mx1, mx2 */
static const struct combo *cur;
static struct model model;
static double elapsed, bound;

static void
setup(void)
{
	run_env_setup(&re);
	memset(&dns, 0, sizeof(dns));
	memset(&mx, 0, sizeof(mx));
	memset(&relay, 0, sizeof(relay));
	memset(&res, 0, sizeof(res));
	mxrec[0] = relayrec[0] = '\0';
	env_clear();
	snprintf(logpath, sizeof(logpath), "%s/mxsend.log", re.dir);
}

static void
teardown(void)
{
	server_stop(&mx);
	server_stop(&relay);
	server_stop(&dns);
	run_result_free(&res);
	run_env_cleanup(&re);
}

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 120);

static const char *
row_name(const struct combo *c)
{
	static char name[128];

	snprintf(name, sizeof(name), "#%u %s/%s/%s/%s", c->idx,
	    routes[c->route].name, exts[c->ext].name, stages[c->stage].name,
	    faults[c->fault].name);
	return name;
}

static void
describe(char *buf, size_t size)
{
	const struct outcome *o;
	int	 r;

	append(buf, size, "model:");
	for (r = 0; r < 2; r++) {
		o = &model.o[r];
		if (o->state == O_DELIVERED)
			append(buf, size, " %s delivered by %s%s;", rcpt[r],
			    at_name[o->at], o->plain ? " in plain text" : "");
		else if (o->state == O_DEFERRED)
			append(buf, size, " %s queued;", rcpt[r]);
		else
			append(buf, size, " %s failed (%d);", rcpt[r],
			    o->code);
	}
	append(buf, size, " exit %d; mx2 %s; next route %s\n", model.exit,
	    model.mx2 ? "tried" : "not tried",
	    model.next_route ? "tried" : "not tried");
}

/* What a failed assertion shows: the row, the model, what happened. */
static const char *
ev(void)
{
	static char buf[32000];
	char	*log;

	buf[0] = '\0';
	append(buf, sizeof(buf), "\n%s\n", row_name(cur));
	describe(buf, sizeof(buf));
	append(buf, sizeof(buf), "exit %d%s after %.2f s (bound %.1f s)\n"
	    "--- stderr:\n%.4000s\n", res.status,
	    res.timed_out ? " (KILLED)" : "", elapsed, bound,
	    res.err != NULL ? res.err : "");
	if ((log = slurp(logpath, NULL)) != NULL) {
		append(buf, sizeof(buf), "--- log:\n%.3000s\n", log);
		free(log);
	}
	ev_server(buf, sizeof(buf), "mx", mxrec);
	ev_server(buf, sizeof(buf), "relay", relayrec);
	return buf;
}

/* ----------------------------------------------------------- servers */

/* This combination's loopback addresses: 127.B.C.1, .2 and .3. */
static void
addresses(unsigned idx)
{
	unsigned b = 100 + idx / 250, c = 1 + idx % 250;
	int	 i;

	for (i = 0; i < 3; i++)
		snprintf(ip[i], sizeof(ip[i]), "127.%u.%u.%d", b, c, i + 1);
}

/* The faulty server's script: its extensions, then the fault's rule. */
static void
fault_script(const struct combo *c, char *out, size_t size)
{
	const struct stage_def *s = &stages[c->stage];

	out[0] = '\0';
	append(out, size, "%s", exts[c->ext].script);
	if (s->tls)
		append(out, size, "ext STARTTLS\n");
	if (c->stage == S_AUTH)
		append(out, size, "tls-ext PIPELINING\ntls-ext AUTH PLAIN\n"
		    "user fault " PASSWORD "\n");
	append(out, size, "%s %s\n", s->rule, faults[c->fault].action);
}

/* Both MX hosts on one fakesmtp (one port), with a self-signed
 * certificate when tls. */
static void
start_mx(const char *script, int tls, ...)
{
	char	 cert[400], key[400];
	const char *extra[] = { "--tls-cert", cert, "--tls-key", key, NULL };
	unsigned port = pick_port();
	va_list	 ap;

	if (tls)
		make_self_signed(re.dir, cert, key, sizeof(cert));
	va_start(ap, tls);
	fakesmtp_mx_vstart(&mx, &re, 1, script, mxrec, sizeof(mxrec), &port,
	    tls ? extra : NULL, ap);
	va_end(ap);
}

/*
 * The relay on 127.B.C.1; with tls a certificate for that address from
 * a CA of the test, as tls_ca_file; with auth the relay's credentials.
 */
static void
start_relay(const char *script, int tls, int auth)
{
	char	 ca[400], cert[400], key[400], listen[64];
	const char *extra[] = { "--tls-cert", cert, "--tls-key", key, NULL };

	if (tls) {
		make_ca_signed(re.dir, ip[AT_RELAY], ca, cert, key,
		    sizeof(ca));
		env_set("MXSEND_TLS_CA_FILE=%s", ca);
	}
	snprintf(listen, sizeof(listen), "%s:0", ip[AT_RELAY]);
	fakesmtp_start(&relay, &re, "relay", listen, script, relayrec,
	    sizeof(relayrec), tls ? extra : NULL);
	env_set("MXSEND_RELAY=smtp://%s:%u", ip[AT_RELAY], relay.l[0].port);
	env_set("MXSEND_RELAY_TLS=%s", tls ? "auto" : "off");
	if (auth) {
		env_set("MXSEND_RELAY_USER=fault");
		env_set("MXSEND_RELAY_PASSWORD=" PASSWORD);
	}
}

/* The domain d.test: mx1 (preference 10) and mx2 (20). */
static void
start_dns(void)
{
	char	 zone[512], zpath[400], dnslog[400];

	snprintf(zone, sizeof(zone), "d.test. MX 10 mx1.d.test.\n"
	    "d.test. MX 20 mx2.d.test.\nmx1.d.test. A %s\n"
	    "mx2.d.test. A %s\n", ip[AT_MX1], ip[AT_MX2]);
	snprintf(zpath, sizeof(zpath), "%s", run_env_file(&re, "zone", zone,
	    0644));
	snprintf(dnslog, sizeof(dnslog), "%s/dns.log", re.dir);
	fakedns_start(&dns, zpath, dnslog, NULL);
}

/*
 * The servers of combination c: the faulty one first on its route (none
 * when the fault is "refused": nothing listens there), the other route's
 * healthy.
 */
static void
start_servers(const struct combo *c)
{
	const struct route_def *rt = &routes[c->route];
	char	 script[1024];
	int	 h, faulty, tls;

	if (rt->hop[0] == H_MX || rt->nhops == 2)
		start_dns();
	/* Until a server starts there: ports where nothing listens. */
	env_set("MXSEND_MX_PORT=%u", pick_port());
	if (rt->hop[0] == H_RELAY || rt->hop[1] == H_RELAY) {
		env_set("MXSEND_RELAY=smtp://%s:%u", ip[AT_RELAY],
		    pick_port_on(ip[AT_RELAY]));
		env_set("MXSEND_RELAY_TLS=off");
	}
	for (h = 0; h < rt->nhops; h++) {
		faulty = h == 0;
		if (faulty && faults[c->fault].action == NULL)
			continue;
		if (faulty)
			fault_script(c, script, sizeof(script));
		else
			snprintf(script, sizeof(script), "ext PIPELINING\n");
		tls = faulty && stages[c->stage].tls;
		if (rt->hop[h] == H_MX)
			start_mx(script, tls, ip[AT_MX1], ip[AT_MX2], NULL);
		else
			start_relay(script, tls, faulty && c->stage == S_AUTH);
	}
}

/* ---------------------------------------------------------------- run */

/* The largest of the three values of a tcp_wmem/tcp_rmem file. */
static long
tcp_mem(const char *name, int which)
{
	char	 path[128];
	long	 v[3] = { 0, 0, 0 };
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/%s", name);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%ld %ld %ld", &v[0], &v[1], &v[2]) != 3)
			v[which] = 0;
		fclose(f);
	}
	return v[which] > 0 ? v[which] : 8L * 1024 * 1024;
}

/*
 * A mid-body fault must find the client still sending, or the server's
 * early reply would arrive as the answer to a message sent whole (a
 * legitimate end-of-data reply) as often as not. The client's send
 * buffer grows up to tcp_wmem's maximum (on loopback at once: 64 KiB
 * segments), and the server's window adds its receive buffer: the
 * message is larger than both together.
 */
static size_t
big_body(void)
{
	return (size_t)(tcp_mem("tcp_wmem", 2) + 2 * tcp_mem("tcp_rmem", 1)) +
	    1024 * 1024;
}

/* The message: small, or for the mid-body rows larger than the socket
 * buffers; its last line is the marker of a message that arrived whole. */
static char *
message(const struct combo *c, size_t *lenp)
{
	size_t	 body = c->stage == S_BODY ? big_body() : 200, len = 0, cap;
	char	*m;

	snprintf(marker, sizeof(marker), "end of message %u", c->idx);
	cap = body + 512;
	m = malloc(cap);
	cr_assert_not_null(m);
	len += (size_t)snprintf(m, cap, "From: s@test.example\n"
	    "To: u1@d.test, u2@d.test\nSubject: fault matrix %u\n\n", c->idx);
	while (len < body)
		len += (size_t)snprintf(m + len, cap - len, "%s\n",
		    "A line of the body of the message, one of many.");
	len += (size_t)snprintf(m + len, cap - len, "%s\n", marker);
	*lenp = len;
	return m;
}

static void
run(const struct combo *c)
{
	const char *argv[] = { "sendmail", "-f", "s@test.example", rcpt[0],
	    rcpt[1], NULL };
	size_t	 len;
	char	*msg = message(c, &len);
	double	 t0;

	env_set("MXSEND_ROUTE=%s", routes[c->route].conf);
	env_set("MXSEND_TIMEOUT_CONNECT=%d", T_CONNECT);
	env_set("MXSEND_TIMEOUT_COMMAND=%d", T_COMMAND);
	env_set("MXSEND_TIMEOUT_DATA=%d", T_DATA);
	env_set("MXSEND_HELO=client.test");
	env_set("MXSEND_LOG=%s", logpath);
	t0 = now_s();
	cr_assert_eq(run_mxsend(&re, argv, msg, len, env_list(), RUN_LIMIT_S,
	    &res), 0, "could not run %s", mxsend_path());
	elapsed = now_s() - t0;
	free(msg);
	/* Their records are complete once they are stopped. */
	server_stop(&mx);
	server_stop(&relay);
}

/* -------------------------------------------------------- assertions */

/* The queue entry (the only one) holds rcpt as deferred, and the message. */
static int
queued_for(const char *addr)
{
	char	 dir[400], path[500], ids[2][IDLEN + 1], want[300];
	char	*env, *msg, *p;
	int	 ok;

	snprintf(dir, sizeof(dir), "%s/0", re.queue);
	if (entries(dir, ids, 2) != 1)
		return 0;
	snprintf(path, sizeof(path), "%s/%s.env", dir, ids[0]);
	env = slurp(path, NULL);
	snprintf(path, sizeof(path), "%s/%s.msg", dir, ids[0]);
	msg = slurp(path, NULL);
	snprintf(want, sizeof(want), " %s ", addr);
	ok = msg != NULL && strstr(msg, marker) != NULL && env != NULL;
	for (p = env; ok && (p = strstr(p, "\nrcpt deferred ")) != NULL; p++) {
		if (strstr(p, want) != NULL && strstr(p, want) <
		    strchr(p + 1, '\n'))
			break;
	}
	ok = ok && p != NULL;
	free(env);
	free(msg);
	return ok;
}

/* The session that delivered to addr at mx1 had no TLS, and an earlier
 * one there saw the handshake fail. */
static void
assert_plain(const char *addr, int n)
{
	char	*tls = file_in(mxrec, n, "tls");
	int	 k, failed = 0;

	cr_assert_null(tls, "%s delivered under TLS%s", addr, ev());
	for (k = 1; k < n; k++) {
		tls = file_in(mxrec, k, "tls");
		failed |= tls != NULL && strncmp(tls, "failed", 6) == 0;
		free(tls);
	}
	cr_assert(failed, "no failed handshake before%s", ev());
}

static void
assert_recipient(const struct combo *c, int r)
{
	const struct outcome *o = &model.o[r];
	const char *line = report_line(res.err, rcpt[r]), *reply;
	int	 n;

	switch (o->state) {
	case O_DELIVERED:
		cr_assert_null(line, "stderr names %s%s", rcpt[r], ev());
		n = delivered_with(o->at == AT_RELAY ? relayrec : mxrec,
		    ip[o->at], rcpt[r], marker);
		cr_assert(n > 0, "%s not delivered whole by %s%s", rcpt[r],
		    at_name[o->at], ev());
		if (o->plain)
			assert_plain(rcpt[r], n);
		break;
	case O_DEFERRED:
		cr_assert(line != NULL && strstr(line, "deferred") != NULL,
		    "no \"deferred\" line for %s%s", rcpt[r], ev());
		cr_assert(queued_for(rcpt[r]), "%s not in the queue%s",
		    rcpt[r], ev());
		break;
	case O_FAILED:
		cr_assert(line != NULL && strstr(line, "deferred") == NULL,
		    "no failure line for %s%s", rcpt[r], ev());
		reply = faults[c->fault].reply;
		cr_assert(reply == NULL || strstr(line, reply) != NULL,
		    "the failure of %s does not quote \"%s\"%s", rcpt[r],
		    reply, ev());
		break;
	}
}

/* Never nowhere: queued when deferred; dead.letter when nobody got it. */
static void
assert_kept(void)
{
	char	 dir[400], path[400], *dl;
	int	 r, deferred = 0, delivered = 0, in_dl;

	for (r = 0; r < 2; r++) {
		deferred |= model.o[r].state == O_DEFERRED;
		delivered |= model.o[r].state == O_DELIVERED;
	}
	snprintf(dir, sizeof(dir), "%s/0", re.queue);
	cr_assert_eq(entries(dir, NULL, 0), deferred, "%d queue entries%s",
	    entries(dir, NULL, 0), ev());
	snprintf(path, sizeof(path), "%s/dead.letter", re.dir);
	dl = slurp(path, NULL);
	in_dl = dl != NULL && strstr(dl, marker) != NULL;
	free(dl);
	cr_assert_eq(in_dl, !deferred && !delivered, "dead.letter %s%s",
	    in_dl ? "has the message" : "does not have the message", ev());
}

/* Which servers were tried: the second MX, the healthy route. */
static void
assert_tried(const struct combo *c)
{
	const struct route_def *rt = &routes[c->route];
	int	 got;

	if (rt->hop[0] == H_MX && faults[c->fault].action != NULL) {
		got = sessions_at(mxrec, ip[AT_MX2]) > 0;
		cr_assert_eq(got, model.mx2, "mx2 %s%s", got ? "was tried" :
		    "was not tried", ev());
	}
	if (rt->nhops == 2) {
		got = nsess(rt->hop[1] == H_MX ? mxrec : relayrec) > 0;
		cr_assert_eq(got, model.next_route, "the second route %s%s",
		    got ? "was tried" : "was not tried", ev());
	}
}

/*
 * A silent server is given its time-out (SPEC §4: timeout_command per
 * reply, timeout_data for the reply to the end of the message) at each
 * faulty session, not less. The SPEC names no time-out for writing the
 * message, so the mid-body rows are only bounded above.
 */
static void
assert_waited(const struct combo *c)
{
	double	 least = model.waits * stages[c->stage].timeout - 0.05;

	if (c->fault != F_STALL || c->stage == S_BODY || c->stage == S_QUIT)
		return;
	cr_assert(elapsed >= least, "gave up after %.2f s, before %d "
	    "time-out(s) of %u s%s", elapsed, model.waits,
	    stages[c->stage].timeout, ev());
}

ParameterizedTestParameters(faults, matrix)
{
	static struct combo all[NCOMBOS_MAX];
	size_t	 n = generate(all);

	return cr_make_param_array(struct combo, all, n);
}

ParameterizedTest(const struct combo *c, faults, matrix)
{
	cur = c;
	walk(c, &model);
	addresses(c->idx);
	start_servers(c);
	bound = model.waits * stages[c->stage].timeout + SLACK_S;
	run(c);
	cr_assert(!res.timed_out, "mxsend was killed after %d s%s",
	    RUN_LIMIT_S, ev());
	cr_assert_eq(res.status, model.exit, "exit %d, want %d%s",
	    res.status, model.exit, ev());
	cr_assert(elapsed <= bound, "took %.2f s, more than %.1f s%s",
	    elapsed, bound, ev());
	assert_waited(c);
	assert_recipient(c, 0);
	assert_recipient(c, 1);
	assert_kept();
	assert_tried(c);
	{
		char	 m[512] = "";

		describe(m, sizeof(m));
		cr_log_info("%s: %.2f s (bound %.1f s); %s", row_name(c),
		    elapsed, bound, m);
	}
}

/* The size and the result of the matrix, at the end of the run. */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	static struct combo all[NCOMBOS_MAX];
	struct criterion_suite_stats *ss;

	for (ss = stats->suites; ss != NULL; ss = ss->next) {
		if (strcmp(ss->suite->name, "faults") != 0)
			continue;
		fprintf(stderr, "fault matrix: %zu combinations (%d stages x "
		    "%d faults x %d routes x %d extension sets, those that "
		    "cannot exist left out); %zu run: %zu passed, %zu "
		    "failed, %zu crashed\n", generate(all), NSTAGES, NFAULTS,
		    NROUTES, NEXTS, ss->nb_tests, ss->tests_passed,
		    ss->tests_failed, ss->tests_crashed);
	}
}

/* Criterion's main, with more jobs by default: most of a combination's
 * time is spent waiting for a time-out. */
int
main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	int	 result = 0;

	criterion_options.jobs = JOBS;
	if (criterion_handle_args(argc, argv, true))
		result = !criterion_run_all_tests(tests);
	criterion_finalize(tests);
	return result;
}
