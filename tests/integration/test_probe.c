/*
 * test_probe.c: mxsend -bv -v end to end (SPEC §2 -bv, §3, §7): the real
 * binary against the scripted DNS server and a scripted SMTP server
 * playing the MX hosts on 127.0.0.2..., and a relay on 127.0.0.1.
 *
 * A probe is MAIL FROM and RCPT TO for each address of a domain on one
 * connection to its first reachable MX, then RSET and QUIT, never DATA;
 * each address gets SPEC §2's line with the server's reply and the exit
 * status is §3's for the worst of them. At most 200 probes per domain
 * per hour are counted in the caller's queue directory (queue/UID/probes,
 * format in man/mxsend.8): the tests write that file to reach the limit,
 * and read it to check that it counts exactly the probes made, also when
 * two runs probe at once. What the servers recorded is read after they
 * were stopped, so that it is complete.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

#define MAXARGS		16
#define ALICE		4711	/* a user of the test's password file */

static struct run_env re;
static struct run_result res;
static struct server dns, mx, relay;
static char dnslog[400], mxrec[400], relayrec[400], logpath[400];
static char udir[400], counter[420];
static unsigned mxport, relayport;
static int nmx, have_mx, have_relay;

static const char zone[] =
    "probe.test. MX 10 mx1.probe.test.\n"
    "mx1.probe.test. A 127.0.0.2\n"
    "other.test. MX 10 mx1.other.test.\n"
    "mx1.other.test. A 127.0.0.4\n"
    "two.test. MX 10 mx1.two.test.\n"
    "two.test. MX 20 mx2.two.test.\n"
    "mx1.two.test. A 127.0.0.9\n"
    "mx2.two.test. A 127.0.0.3\n"
    "down.test. MX 10 mx1.down.test.\n"
    "mx1.down.test. A 127.0.0.9\n";

/* Every MX host answers so: the address decides. */
static const char script[] =
    "ext PIPELINING\n"
    "ext SIZE 1000000\n"
    "rcpt match=<bad@ reply 550 5.1.1 No such user\n"
    "rcpt match=<busy@ reply 450 4.2.1 Mailbox busy\n";

/* Everything a failed assertion should show. */
static const char *
ev(void)
{
	static char buf[16000];
	char *text;

	buf[0] = '\0';
	append(buf, sizeof(buf), "\nexit %d%s\n--- stdout:\n%.3000s\n"
	    "--- stderr:\n%.4000s\n", res.status, res.timed_out ?
	    " (TIMED OUT)" : "", res.out ? res.out : "", res.err ? res.err :
	    "");
	if ((text = slurp(counter, NULL)) != NULL) {
		append(buf, sizeof(buf), "--- %s:\n%.2000s\n", counter, text);
		free(text);
	}
	if (have_mx)
		ev_server(buf, sizeof(buf), "mx", mxrec);
	if (have_relay)
		ev_server(buf, sizeof(buf), "relay", relayrec);
	return buf;
}

static void
setup(void)
{
	char zpath[400];

	/* Each test is a process of its own: the statics start at zero. */
	run_alarm(120);
	run_env_setup(&re);
	snprintf(zpath, sizeof(zpath), "%s", run_env_file(&re, "zone", zone,
	    0644));
	snprintf(dnslog, sizeof(dnslog), "%s/dns.log", re.dir);
	snprintf(logpath, sizeof(logpath), "%s/mxsend.log", re.dir);
	snprintf(udir, sizeof(udir), "%s/%lu", re.queue,
	    (unsigned long)getuid());
	snprintf(counter, sizeof(counter), "%s/probes", udir);
	fakedns_start(&dns, zpath, dnslog, NULL);
	mxport = env_mx_suite(logpath, re.queue);
}

static void
teardown(void)
{
	suite_end(&re, &res, &mx, &relay, &dns, (struct server *)NULL);
}

TestSuite(probe, .init = setup, .fini = teardown);

/*
 * The MX hosts 127.0.0.2-4 on mx_port, all with the script above; the
 * records of the next run in a directory of their own.
 */
static void
start_mx(void)
{
	static const char *const addr[] = { "127.0.0.2", "127.0.0.3",
	    "127.0.0.4", NULL };

	/* Records of their own for each run: mx-rec-N. */
	fakesmtp_mx_start(&mx, &re, ++nmx, script, mxrec, sizeof(mxrec),
	    &mxport, NULL, addr);
	have_mx = 1;
}

/* A relay on 127.0.0.1 that takes anything; sets MXSEND_RELAY. */
static void
start_relay(const char *userinfo)
{
	fakesmtp_start(&relay, &re, "relay", "127.0.0.1:0", "ext PIPELINING\n",
	    relayrec, sizeof(relayrec), NULL);
	relayport = relay.l[0].port;
	have_relay = 1;
	env_set("MXSEND_RELAY=smtp://%s127.0.0.1:%u", userinfo, relayport);
	env_set("MXSEND_RELAY_TLS=off");
}

/* argv for "sendmail -bv [-v] ARGS..." from the NULL-terminated list. */
static void
make_argv(const char *argv[MAXARGS], int verbose, va_list ap)
{
	int argc = 0;

	argv[argc++] = "sendmail";
	argv[argc++] = "-bv";
	if (verbose)
		argv[argc++] = "-v";
	while ((argv[argc] = va_arg(ap, const char *)) != NULL)
		cr_assert(++argc < MAXARGS - 1);
}

/*
 * Run "sendmail -bv [-v] ARGS..." under env_list(), then stop the SMTP
 * servers so that their records are complete. Returns the exit status.
 */
static int
bv(int verbose, ...)
{
	const char *argv[MAXARGS];
	va_list ap;

	va_start(ap, verbose);
	make_argv(argv, verbose, ap);
	va_end(ap);
	run_result_free(&res);
	cr_assert_eq(run_mxsend(&re, argv, NULL, 0, env_list(), 30, &res), 0);
	server_stop(&mx);
	server_stop(&relay);
	cr_assert(!res.timed_out, "mxsend did not finish%s", ev());
	return res.status;
}

/* The line of stdout for addr (static buffer); the test fails without. */
static const char *
out_line(const char *addr)
{
	static char want[300];
	const char *l;

	snprintf(want, sizeof(want), "%s: ", addr);
	l = line_with(res.out, want);
	cr_assert_not_null(l, "no line for %s%s", addr, ev());
	return l;
}

/* "via mx1.probe.test[127.0.0.2]:PORT (mx)" for host, ip. */
static const char *
via(const char *host, const char *ip, unsigned port, const char *route)
{
	static char buf[300];

	snprintf(buf, sizeof(buf), "deliverable: via %s[%s]:%u (%s)", host,
	    ip, port, route);
	return buf;
}

static void
assert_line(const char *addr, const char *needle)
{
	const char *l = out_line(addr);

	cr_assert(strstr(l, needle) != NULL, "%s: want \"%s\" in \"%s\"%s",
	    addr, needle, l, ev());
}

/* The count of domain in the counter file (0 when there is none). */
static unsigned
count_of(const char *domain)
{
	char *text, *line, *save = NULL, dom[300];
	long long t;
	unsigned n, sum = 0;

	if ((text = slurp(counter, NULL)) == NULL)
		return 0;
	line = strtok_r(text, "\n", &save);
	cr_assert(line != NULL && strcmp(line, "mxsend-probes 1") == 0,
	    "bad header%s", ev());
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		cr_assert_eq(sscanf(line, "%299s %lld %u", dom, &t, &n), 3,
		    "bad line \"%s\"%s", line, ev());
		if (strcmp(dom, domain) == 0)
			sum += n;
	}
	free(text);
	return sum;
}

/* Write the counter file as another run would have left it. */
static void
seed_counter(const char *text)
{
	cr_assert(mkdir(udir, 0700) == 0 || errno == EEXIST);
	write_file(counter, text);
}

/* "probe.test NOW n" as the counter's only line. */
static void
seed_count(const char *domain, unsigned n)
{
	char text[300];

	snprintf(text, sizeof(text), "mxsend-probes 1\n%s %lld %u\n", domain,
	    (long long)time(NULL) - 60, n);
	seed_counter(text);
}

/* The client lines of MX session n. */
static char *
session_log(int n)
{
	char *log = file_in(mxrec, n, "log");

	cr_assert_not_null(log, "no session %d%s", n, ev());
	return log;
}

/* How many lines of log hold needle. */
static int
count_lines(const char *log, const char *needle)
{
	const char *p;
	int n = 0;

	for (p = log; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/*
 * Session n probed exactly the addresses given (NULL-terminated): MAIL,
 * their RCPTs, RSET and QUIT, and never DATA or a message.
 */
static void
assert_probe_session(int n, ...)
{
	const char *a;
	char *log, *msg, want[300];
	va_list ap;
	int nrcpt = 0;

	log = session_log(n);
	va_start(ap, n);
	while ((a = va_arg(ap, const char *)) != NULL) {
		snprintf(want, sizeof(want), "RCPT TO:<%s>", a);
		cr_assert_eq(count_lines(log, want), 1, "%s%s", want, ev());
		nrcpt++;
	}
	va_end(ap);
	cr_assert_eq(count_lines(log, "RCPT TO:"), nrcpt, "%s", ev());
	cr_assert_eq(count_lines(log, "MAIL FROM:"), 1, "%s", ev());
	cr_assert_eq(count_lines(log, " RSET"), 1, "no RSET%s", ev());
	cr_assert_eq(count_lines(log, " QUIT"), 1, "no QUIT%s", ev());
	cr_assert_eq(count_lines(log, "DATA"), 0, "DATA sent%s", ev());
	cr_assert_eq(count_lines(log, "BDAT"), 0, "BDAT sent%s", ev());
	cr_assert(strstr(log, "SIZE=") == NULL, "SIZE= in a probe%s", ev());
	msg = file_in(mxrec, n, "msg-1");
	cr_assert_null(msg, "a message arrived%s", ev());
	free(log);
}

/*
 * addr's line is "addr: kind: ... dsn", no MX saw a session, and nothing
 * is counted for domain.
 */
static void
assert_unprobed(const char *addr, const char *kind, const char *dsn,
    const char *domain)
{
	char want[300];

	snprintf(want, sizeof(want), "%s: %s: ", addr, kind);
	assert_line(addr, want);
	assert_line(addr, dsn);
	cr_assert_eq(nsess(mxrec), 0, "%s", ev());
	cr_assert_eq(count_of(domain), 0, "%s", ev());
}

/* ------------------------------------------------------------- probes */

/* The whole line for an accepted address, and what the MX saw. */
Test(probe, accepted_address_is_deliverable_via_the_mx)
{
	char want[400];

	start_mx();
	cr_assert_eq(bv(1, "-f", "checker@test.example", "ok@probe.test",
	    NULL), 0, "%s", ev());
	snprintf(want, sizeof(want), "ok@probe.test: %s\n",
	    via("mx1.probe.test", "127.0.0.2", mxport, "mx"));
	cr_assert_str_eq(res.out, want, "%s", ev());
	cr_assert_eq(nsess(mxrec), 1, "%s", ev());
	cr_assert(sess_is_at(mxrec, 1, "127.0.0.2"), "%s", ev());
	assert_probe_session(1, "ok@probe.test", NULL);
	cr_assert(logs_have(mxrec, NULL, "MAIL FROM:<checker@test.example>"),
	    "%s", ev());
	cr_assert_eq(count_of("probe.test"), 1, "%s", ev());
}

/*
 * With DKIM signing on the MX route, a probe still probes: it sends no
 * message, so nothing is signed and a signature is no reason to defer.
 */
Test(probe, dkim_signing_does_not_stop_a_probe)
{
	char want[400];

	run_cmd("cd '%s' && '%s' --dkim-genkey sel probe.test ed25519 "
	    ">/dev/null", re.dir, mxsend_path());
	env_set("MXSEND_DKIM_DOMAIN=probe.test");
	env_set("MXSEND_DKIM_SELECTOR=sel");
	env_set("MXSEND_DKIM_KEY=%s/sel._domainkey.probe.test.key", re.dir);
	start_mx();
	cr_assert_eq(bv(1, "ok@probe.test", NULL), 0, "%s", ev());
	snprintf(want, sizeof(want), "ok@probe.test: %s\n",
	    via("mx1.probe.test", "127.0.0.2", mxport, "mx"));
	cr_assert_str_eq(res.out, want, "%s", ev());
	assert_probe_session(1, "ok@probe.test", NULL);
}

/* A 550 5.1.1 at RCPT: undeliverable with the server's reply, 67. */
Test(probe, rejected_address_is_undeliverable_67)
{
	char want[400];

	start_mx();
	cr_assert_eq(bv(1, "bad@probe.test", NULL), 67, "%s", ev());
	snprintf(want, sizeof(want), "bad@probe.test: undeliverable: host "
	    "mx1.probe.test[127.0.0.2]:%u said: 550 5.1.1 No such user (in "
	    "reply to RCPT TO command) (5.1.1)\n", mxport);
	cr_assert_str_eq(res.out, want, "%s", ev());
	assert_probe_session(1, "bad@probe.test", NULL);
}

/* A 450 at RCPT: deferred, 75. */
Test(probe, temporary_refusal_is_deferred_75)
{
	start_mx();
	cr_assert_eq(bv(1, "busy@probe.test", NULL), 75, "%s", ev());
	assert_line("busy@probe.test", "busy@probe.test: deferred: host "
	    "mx1.probe.test[127.0.0.2]");
	assert_line("busy@probe.test", "450 4.2.1 Mailbox busy");
	assert_line("busy@probe.test", "(4.2.1)");
	assert_probe_session(1, "busy@probe.test", NULL);
}

/* NXDOMAIN: undeliverable 5.1.2, 68; no connection, nothing counted. */
Test(probe, unknown_domain_is_undeliverable_68_without_a_probe)
{
	start_mx();
	cr_assert_eq(bv(1, "x@nosuch.test", NULL), 68, "%s", ev());
	assert_unprobed("x@nosuch.test", "undeliverable", "(5.1.2)",
	    "nosuch.test");
}

/*
 * One connection per domain, every address of it in one pipelined
 * flight with RSET; the exit status is the worst address's (SPEC §3:
 * 68 over 67 over 75 over 0).
 */
Test(probe, mixed_outcomes_one_session_per_domain)
{
	char *log;

	start_mx();
	cr_assert_eq(bv(1, "ok@probe.test", "busy@probe.test", NULL), 75,
	    "%s", ev());
	start_mx();
	cr_assert_eq(bv(1, "ok@probe.test", "busy@probe.test",
	    "bad@probe.test", "ok@other.test", NULL), 67, "%s", ev());
	assert_line("ok@probe.test", "deliverable: via mx1.probe.test");
	assert_line("busy@probe.test", "deferred:");
	assert_line("bad@probe.test", "undeliverable:");
	assert_line("ok@other.test", via("mx1.other.test", "127.0.0.4",
	    mxport, "mx"));
	cr_assert_eq(nsess(mxrec), 2, "%s", ev());
	cr_assert_eq(sessions_at(mxrec, "127.0.0.2"), 1, "%s", ev());
	cr_assert_eq(sessions_at(mxrec, "127.0.0.4"), 1, "%s", ev());
	assert_probe_session(sess_is_at(mxrec, 1, "127.0.0.2") ? 1 : 2,
	    "ok@probe.test", "busy@probe.test", "bad@probe.test", NULL);
	/* PIPELINING: MAIL, the RCPTs and RSET share one batch. */
	log = session_log(sess_is_at(mxrec, 1, "127.0.0.2") ? 1 : 2);
	cr_assert(strstr(log, "B2 MAIL FROM:") && strstr(log,
	    "B2 RCPT TO:<bad@probe.test>") && strstr(log, "B2 RSET"),
	    "not one flight%s", ev());
	free(log);
	start_mx();
	cr_assert_eq(bv(1, "bad@probe.test", "x@nosuch.test", "ok@probe.test",
	    NULL), 68, "%s", ev());
	cr_assert_eq(count_of("probe.test"), 2 + 3 + 2, "%s", ev());
	cr_assert_eq(count_of("other.test"), 1, "%s", ev());
}

/*
 * The first reachable MX (same order and failover as delivery): the
 * unreachable one costs no probe, and an unreachable domain is deferred
 * with nothing counted.
 */
Test(probe, first_reachable_mx_unreachable_ones_cost_nothing)
{
	start_mx();
	cr_assert_eq(bv(1, "ok@two.test", NULL), 0, "%s", ev());
	assert_line("ok@two.test", via("mx2.two.test", "127.0.0.3", mxport,
	    "mx"));
	cr_assert_eq(count_of("two.test"), 1, "%s", ev());
	start_mx();
	cr_assert_eq(bv(1, "ok@down.test", NULL), 75, "%s", ev());
	assert_unprobed("ok@down.test", "deferred", "(4.4.1)", "down.test");
}

/* Aliases are expanded first: the final addresses are probed. */
Test(probe, final_addresses_after_alias_expansion)
{
	write_file(re.aliases, "team: ok@probe.test, bad@probe.test\n");
	start_mx();
	cr_assert_eq(bv(1, "team@test.example", NULL), 67, "%s", ev());
	assert_line("ok@probe.test", "deliverable: via mx1.probe.test");
	assert_line("bad@probe.test", "(5.1.1)");
	assert_probe_session(1, "ok@probe.test", "bad@probe.test", NULL);
}

/* -v shows the dialogue, as delivery's -v does. */
Test(probe, verbose_shows_the_dialogue)
{
	start_mx();
	cr_assert_eq(bv(1, "ok@probe.test", NULL), 0, "%s", ev());
	cr_assert(strstr(res.err, "--> MAIL FROM:<") &&
	    strstr(res.err, "--> RCPT TO:<ok@probe.test>") &&
	    strstr(res.err, "<-- 250 2.1.5 Ok") &&
	    strstr(res.err, "--> RSET") && strstr(res.err, "--> QUIT"),
	    "%s", ev());
	cr_assert(strstr(res.err, "mx1.probe.test[127.0.0.2]") != NULL, "%s",
	    ev());
}

/* Without -v, -bv is as it was: the route from DNS, no connection. */
Test(probe, without_v_no_connection_and_no_counter)
{
	char want[400];

	start_mx();
	cr_assert_eq(bv(0, "bad@probe.test", NULL), 0, "%s", ev());
	snprintf(want, sizeof(want), "bad@probe.test: %s\n",
	    via("mx1.probe.test", "127.0.0.2", mxport, "mx"));
	cr_assert_str_eq(res.out, want, "%s", ev());
	cr_assert_eq(nsess(mxrec), 0, "a connection was made%s", ev());
	cr_assert_eq(access(counter, F_OK), -1, "%s", ev());
	cr_assert(strstr(res.err, "-->") == NULL, "%s", ev());
}

/* ------------------------------------------------------------- routes */

/* Under `route relay` nothing is probed: neither relay nor MX. */
Test(probe, route_relay_probes_nothing)
{
	start_mx();
	start_relay("");
	env_set("MXSEND_ROUTE=relay");
	cr_assert_eq(bv(1, "bad@probe.test", NULL), 0, "%s", ev());
	assert_line("bad@probe.test", via("127.0.0.1", "127.0.0.1", relayport,
	    "relay"));
	cr_assert_eq(nsess(relayrec), 0, "the relay was contacted%s", ev());
	cr_assert_eq(nsess(mxrec), 0, "an MX was contacted%s", ev());
	cr_assert_eq(access(counter, F_OK), -1, "%s", ev());
}

/*
 * `route mx relay`: the MX is probed, its refusal is final; what the MX
 * route passes on goes to the relay, which is not asked. The relay's
 * password appears nowhere.
 */
Test(probe, route_mx_relay_probes_the_mx_only)
{
	start_mx();
	start_relay("user:Pr0be-s3cret@");
	env_set("MXSEND_ROUTE=mx relay");
	cr_assert_eq(bv(1, "ok@probe.test", "bad@probe.test", "ok@down.test",
	    NULL), 67, "%s", ev());
	assert_line("ok@probe.test", "deliverable: via mx1.probe.test");
	assert_line("bad@probe.test", "(5.1.1)");
	assert_line("ok@down.test", via("127.0.0.1", "127.0.0.1", relayport,
	    "relay"));
	cr_assert_eq(nsess(relayrec), 0, "the relay was contacted%s", ev());
	assert_probe_session(1, "ok@probe.test", "bad@probe.test", NULL);
	cr_assert(strstr(res.err, "Pr0be-s3cret") == NULL &&
	    strstr(res.out, "Pr0be-s3cret") == NULL, "%s", ev());
}

/* -------------------------------------------------------------- limit */

/* At the limit: deferred 4.7.0 and no connection at all. */
Test(probe, rate_limited_address_makes_no_connection)
{
	start_mx();
	seed_count("probe.test", 200);
	cr_assert_eq(bv(1, "ok@probe.test", "ok@other.test", NULL), 75, "%s",
	    ev());
	assert_line("ok@probe.test", "ok@probe.test: deferred: probe limit "
	    "reached: 200 probes of probe.test in the last hour, at most 200");
	assert_line("ok@probe.test", "(4.7.0)");
	/* Another domain is counted apart. */
	assert_line("ok@other.test", "deliverable: via mx1.other.test");
	cr_assert_eq(sessions_at(mxrec, "127.0.0.2"), 0, "%s", ev());
	cr_assert_eq(count_of("probe.test"), 200, "%s", ev());
	cr_assert_eq(count_of("other.test"), 1, "%s", ev());
}

/* One probe left: the first address is probed, the second deferred. */
Test(probe, last_probe_of_the_hour_then_deferred)
{
	start_mx();
	seed_count("probe.test", 199);
	cr_assert_eq(bv(1, "ok@probe.test", "bad@probe.test", NULL), 75,
	    "%s", ev());
	assert_line("ok@probe.test", "deliverable: via mx1.probe.test");
	assert_line("bad@probe.test", "deferred: probe limit reached");
	assert_probe_session(1, "ok@probe.test", NULL);
	cr_assert_eq(count_of("probe.test"), 200, "%s", ev());
}

/* Probes older than an hour no longer count. */
Test(probe, an_hour_later_probes_are_allowed_again)
{
	char text[200];

	start_mx();
	snprintf(text, sizeof(text), "mxsend-probes 1\nprobe.test %lld 200\n",
	    (long long)time(NULL) - 3601);
	seed_counter(text);
	cr_assert_eq(bv(1, "ok@probe.test", NULL), 0, "%s", ev());
	cr_assert_eq(count_of("probe.test"), 1, "%s", ev());
}

/* A counter that is not one: no probes (until it is an hour old). */
Test(probe, corrupt_counter_allows_no_probe)
{
	start_mx();
	seed_counter("mxsend-probes 1\nprobe.test yesterday 3\n");
	cr_assert_eq(bv(1, "ok@probe.test", NULL), 75, "%s", ev());
	assert_line("ok@probe.test", "deferred: probe counter ");
	assert_line("ok@probe.test", "is unusable (line 2: bad time)");
	assert_line("ok@probe.test", "(4.7.0)");
	cr_assert_eq(nsess(mxrec), 0, "%s", ev());
}

/* Exactly the probes made, run after run; its place, owner and mode. */
Test(probe, counter_counts_exactly_and_lives_in_the_users_queue)
{
	struct stat st;

	start_mx();
	cr_assert_eq(bv(1, "a@probe.test", "b@probe.test", "c@probe.test",
	    NULL), 0, "%s", ev());
	cr_assert_eq(count_of("probe.test"), 3, "%s", ev());
	start_mx();
	cr_assert_eq(bv(1, "bad@probe.test", "busy@probe.test", NULL), 67,
	    "%s", ev());
	cr_assert_eq(count_of("probe.test"), 5, "%s", ev());
	cr_assert_eq(lstat(counter, &st), 0, "%s", ev());
	cr_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 &&
	    st.st_uid == getuid() && st.st_nlink == 1, "mode %o uid %u",
	    (unsigned)st.st_mode, (unsigned)st.st_uid);
	cr_assert_eq(lstat(udir, &st), 0);
	cr_assert(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700 &&
	    st.st_uid == getuid());
}

/* Another user's probes are counted in their own directory. */
Test(probe, each_user_counts_in_their_own_directory)
{
	char path[400];
	struct stat st;

	if (geteuid() != 0)
		cr_skip_test("needs root: runs as another user");
	start_mx();
	seed_count("probe.test", 200);		/* root's count */
	run_env_as_user(&re, ALICE, ALICE);
	cr_assert_eq(bv(1, "ok@probe.test", NULL), 0, "%s", ev());
	snprintf(path, sizeof(path), "%s/%u/probes", re.queue, ALICE);
	cr_assert_eq(lstat(path, &st), 0, "no %s%s", path, ev());
	cr_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 &&
	    st.st_uid == ALICE, "mode %o uid %u", (unsigned)st.st_mode,
	    (unsigned)st.st_uid);
	cr_assert_eq(count_of("probe.test"), 200, "%s", ev());
	snprintf(counter, sizeof(counter), "%s", path);
	cr_assert_eq(count_of("probe.test"), 1, "%s", ev());
}

#define ROUNDS	3
#define PER_RUN	6

/* One run of "-bv -v" with PER_RUN addresses; its exit status. */
static int
child_run(int k)
{
	const char *argv[PER_RUN + 4];
	char addr[PER_RUN][64];
	struct run_result r;
	int i;

	argv[0] = "sendmail";
	argv[1] = "-bv";
	argv[2] = "-v";
	for (i = 0; i < PER_RUN; i++) {
		snprintf(addr[i], sizeof(addr[i]), "c%d-%d@probe.test", k, i);
		argv[3 + i] = addr[i];
	}
	argv[3 + PER_RUN] = NULL;
	if (run_mxsend(&re, argv, NULL, 0, env_list(), 60, &r) != 0)
		return -1;
	i = r.timed_out ? -1 : r.status;
	run_result_free(&r);
	return i;
}

/* Two runs at once, several times: every probe of both is counted. */
Test(probe, concurrent_runs_are_all_counted)
{
	pid_t pid[2];
	int round, k, status;

	start_mx();
	for (round = 0; round < ROUNDS; round++) {
		for (k = 0; k < 2; k++) {
			pid[k] = fork();
			cr_assert(pid[k] >= 0);
			if (pid[k] == 0)
				_exit(child_run(k) == 0 ? 0 : 1);
		}
		for (k = 0; k < 2; k++) {
			cr_assert_eq(waitpid(pid[k], &status, 0), pid[k]);
			cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			    "run %d of round %d failed%s", k, round, ev());
		}
		cr_assert_eq(count_of("probe.test"), 2 * PER_RUN *
		    (unsigned)(round + 1), "round %d%s", round, ev());
	}
	server_stop(&mx);
	cr_assert_eq(nsess(mxrec), 2 * ROUNDS, "%s", ev());
}
