/*
 * test_deliver.c: the delivery matrix of SPEC §6 run end to end: the real
 * mxsend binary against the scripted DNS server (fakedns) and scripted SMTP
 * servers (fakesmtp) playing MX hosts on loopback addresses 127.0.0.2... that
 * share one port, and a relay on 127.0.0.1. Each test asserts the exit code
 * of SPEC §3 (and its precedence 68 > 67 > 69 > 75 > 0), the per-recipient
 * lines on stderr, the Postfix-style log lines, and what every server
 * recorded (which host saw a session, a MAIL, an AUTH, which recipients were
 * accepted), so that failover, final replies, the relay's TLS and AUTH
 * rules, batching, parallel delivery and the deadline are each pinned down.
 *
 * Every server is started by the test and stopped by its PID; records are
 * read after the servers were stopped, so that they are complete.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

#define BODY	"The body line 7f3a, kept for the test."
#define PW	"s3cret-pw"
#define PW_PLAIN_B64	"AHVzZXIAczNjcmV0LXB3"	/* \0user\0s3cret-pw */
#define PW_B64	"czNjcmV0LXB3"			/* s3cret-pw (LOGIN) */

static struct run_env re;
static struct run_result res;
static struct server dns, mx, relay, relay2;
static char dnslog[400], mxrec[400], relayrec[400], relay2rec[400];
static char logpath[400], capem[400], certpem[400], keypem[400];
static unsigned mxport, relayport, relay2port;
static int nmx, have_mx, have_relay, have_relay2, have_certs;
static double elapsed;

static const char zone[] =
    "a.test. MX 10 mx1.a.test.\n"
    "mx1.a.test. A 127.0.0.2\n"
    "b.test. MX 10 mx1.b.test.\n"
    "mx1.b.test. A 127.0.0.3\n"
    "fo.test. MX 10 mx1.fo.test.\n"
    "fo.test. MX 20 mx2.fo.test.\n"
    "mx1.fo.test. A 127.0.0.2\n"
    "mx2.fo.test. A 127.0.0.3\n"
    "fo3.test. MX 10 mx1.fo3.test.\n"
    "fo3.test. MX 20 mx2.fo3.test.\n"
    "fo3.test. MX 30 mx3.fo3.test.\n"
    "mx1.fo3.test. A 127.0.0.2\n"
    "mx2.fo3.test. A 127.0.0.3\n"
    "mx3.fo3.test. A 127.0.0.4\n"
    "down.test. MX 10 mx1.down.test.\n"
    "down.test. MX 20 mx2.down.test.\n"
    "mx1.down.test. A 127.0.0.9\n"
    "mx2.down.test. A 127.0.0.3\n"
    "dead.test. MX 10 mx1.dead.test.\n"
    "dead.test. MX 20 mx2.dead.test.\n"
    "mx1.dead.test. A 127.0.0.9\n"
    "mx2.dead.test. A 127.0.0.8\n"
    "nullmx.test. MX 0 .\n"
    "nodata.test. TXT \"v=spf1 -all\"\n"
    "noaddr.test. MX 10 mx1.noaddr.test.\n"
    "mx1.noaddr.test. TXT \"no address\"\n"
    "servfail.test. A 127.0.0.2\n"
    "on servfail.test * servfail\n"
    "implicit.test. A 127.0.0.2\n"
    "d0.test. MX 10 mx.d0.test.\nmx.d0.test. A 127.0.0.10\n"
    "d1.test. MX 10 mx.d1.test.\nmx.d1.test. A 127.0.0.11\n"
    "d2.test. MX 10 mx.d2.test.\nmx.d2.test. A 127.0.0.12\n"
    "d3.test. MX 10 mx.d3.test.\nmx.d3.test. A 127.0.0.13\n"
    "d4.test. MX 10 mx.d4.test.\nmx.d4.test. A 127.0.0.14\n"
    "d5.test. MX 10 mx.d5.test.\nmx.d5.test. A 127.0.0.15\n"
    "d6.test. MX 10 mx.d6.test.\nmx.d6.test. A 127.0.0.16\n"
    "d7.test. MX 10 mx.d7.test.\nmx.d7.test. A 127.0.0.17\n"
    "d8.test. MX 10 mx.d8.test.\nmx.d8.test. A 127.0.0.18\n"
    "d9.test. MX 10 mx.d9.test.\nmx.d9.test. A 127.0.0.19\n"
    "zero.test. MX 10 mx0.zero.test.\n"
    "zero.test. MX 20 mx1.zero.test.\n"
    "mx0.zero.test. A 0.0.0.0\n"
    "mx1.zero.test. A 127.0.0.2\n"
    "allzero.test. MX 10 mx0.zero.test.\n"
    "slow.test. MX 10 s1.slow.test.\n"
    "slow.test. MX 20 s2.slow.test.\n"
    "on *.slow.test * drop\n";

/* ------------------------------------------------------------ helpers */

/* Everything a failed assertion should show: exit, stderr, records. */
static const char *
ev(void)
{
	static char buf[24000];
	struct stat st;
	char *log;

	buf[0] = '\0';
	append(buf, sizeof(buf), "\nexit %d%s after %.2f s\n--- stderr:\n"
	    "%.4000s\n", res.status, res.timed_out ? " (TIMED OUT)" : "",
	    elapsed, res.err ? res.err : "");
	/* Not a FIFO of a test: opening it would wait for a writer. */
	if (stat(logpath, &st) == 0 && S_ISREG(st.st_mode) &&
	    (log = slurp(logpath, NULL)) != NULL) {
		append(buf, sizeof(buf), "--- log:\n%.3000s\n", log);
		free(log);
	}
	if ((log = slurp(dnslog, NULL)) != NULL) {
		append(buf, sizeof(buf), "--- DNS queries:\n%.1500s\n", log);
		free(log);
	}
	{
		const char *const *e;

		append(buf, sizeof(buf), "--- environment:");
		for (e = env_list(); *e != NULL; e++)
			append(buf, sizeof(buf), " %s", *e);
		append(buf, sizeof(buf), "\n");
	}
	if (have_mx)
		ev_server(buf, sizeof(buf), "mx", mxrec);
	if (have_relay)
		ev_server(buf, sizeof(buf), "relay", relayrec);
	if (have_relay2)
		ev_server(buf, sizeof(buf), "relay2", relay2rec);
	return buf;
}

/* The line of stderr that reports addr (not a -v dialogue line). */
static const char *
err_line(const char *addr)
{
	return report_line(res.err, addr);
}

/* The log line for recipient addr (malloc'd), or NULL. */
static char *
log_line(const char *addr)
{
	char want[300], *log, *p, *e, *line = NULL;

	if ((log = slurp(logpath, NULL)) == NULL)
		return NULL;
	snprintf(want, sizeof(want), "to=<%s>,", addr);
	if ((p = strstr(log, want)) != NULL) {
		while (p > log && p[-1] != '\n')
			p--;
		e = strchr(p, '\n');
		line = strndup(p, e ? (size_t)(e - p) : strlen(p));
	}
	free(log);
	return line;
}

/*
 * The message was kept: in $HOME/dead.letter (until the queue lands), or in
 * a queue entry (queue_dir of the test, or $HOME/.mxsend/queue).
 */
static int
kept(void)
{
	return kept_under(re.dir, BODY);
}

/* ------------------------------------------------------------ servers */

static void
setup(void)
{
	char zpath[400], qdir[400];

	run_alarm(60);
	run_env_setup(&re);
	memset(&dns, 0, sizeof(dns));
	memset(&mx, 0, sizeof(mx));
	memset(&relay, 0, sizeof(relay));
	memset(&relay2, 0, sizeof(relay2));
	memset(&res, 0, sizeof(res));
	env_clear();
	nmx = have_mx = have_relay = have_relay2 = have_certs = 0;
	mxrec[0] = relayrec[0] = relay2rec[0] = '\0';
	elapsed = 0;
	snprintf(zpath, sizeof(zpath), "%s", run_env_file(&re, "zone", zone,
	    0644));
	snprintf(dnslog, sizeof(dnslog), "%s/dns.log", re.dir);
	snprintf(logpath, sizeof(logpath), "%s/mxsend.log", re.dir);
	snprintf(qdir, sizeof(qdir), "%s/queue", re.dir);
	/* run_env_setup() made it (mode 1733, as make install does). */
	cr_assert(mkdir(qdir, 0700) == 0 || errno == EEXIST, "mkdir %s: %s",
	    qdir, strerror(errno));
	fakedns_start(&dns, zpath, dnslog, NULL);
	mxport = env_mx_suite(logpath, qdir);
}

static void
teardown(void)
{
	server_stop(&mx);
	server_stop(&relay);
	server_stop(&relay2);
	server_stop(&dns);
	run_result_free(&res);
	run_env_cleanup(&re);
}

TestSuite(deliver, .init = setup, .fini = teardown);

/*
 * One fakesmtp serving the MX hosts: a listener on each address given
 * (NULL-terminated), all on the one port mx_port; the script applies to all
 * of them (rules with local= make hosts differ).
 */
static void
start_mx(const char *script, ...)
{
	va_list ap;

	server_stop(&mx);
	va_start(ap, script);
	fakesmtp_mx_vstart(&mx, &re, ++nmx, script, mxrec, sizeof(mxrec),
	    &mxport, NULL, ap);
	va_end(ap);
	have_mx = 1;
}

/* The same with extra fakesmtp arguments (NULL-terminated). */
static void
start_mx_extra(const char *script, const char *const extra[], ...)
{
	va_list ap;

	server_stop(&mx);
	va_start(ap, extra);
	fakesmtp_mx_vstart(&mx, &re, ++nmx, script, mxrec, sizeof(mxrec),
	    &mxport, extra, ap);
	va_end(ap);
	have_mx = 1;
}

/* A CA and a server certificate for 127.0.0.1 and localhost signed by it. */
static void
make_certs(void)
{
	if (have_certs)
		return;
	make_ca_signed(re.dir, "127.0.0.1", capem, certpem, keypem,
	    sizeof(capem));
	have_certs = 1;
}

/* SHA-256 of the server certificate's DER, as "AB:CD:..." (95 chars). */
static void
cert_fingerprint(char *out, size_t size)
{
	gnutls_datum_t d = { NULL, 0 };
	gnutls_x509_crt_t crt;
	unsigned char fp[64];
	size_t n = sizeof(fp), i;

	cr_assert(gnutls_load_file(certpem, &d) == 0);
	cr_assert(gnutls_x509_crt_init(&crt) == 0);
	cr_assert(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) == 0);
	cr_assert(gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp,
	    &n) == 0 && n == 32);
	gnutls_x509_crt_deinit(crt);
	gnutls_free(d.data);
	cr_assert(size >= 3 * n);
	out[0] = '\0';
	for (i = 0; i < n; i++)
		append(out, size, "%s%02X", i ? ":" : "", fp[i]);
}

#define RELAY_PLAIN	0
#define RELAY_TLS	1

/*
 * The relay: fakesmtp on 127.0.0.1, a free port; with RELAY_TLS it has the
 * server certificate (STARTTLS when the script offers it). Sets
 * MXSEND_RELAY (no credentials) and MXSEND_RELAY_TLS (off, or auto).
 */
static void
start_relay(const char *script, int tls)
{
	const char *extra[] = { "--tls-cert", certpem, "--tls-key", keypem,
	    NULL };

	if (tls)
		make_certs();
	fakesmtp_start(&relay, &re, "relay", "127.0.0.1:0", script, relayrec,
	    sizeof(relayrec), tls ? extra : NULL);
	relayport = relay.l[0].port;
	have_relay = 1;
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u", relayport);
	env_set("MXSEND_RELAY_TLS=%s", tls ? "auto" : "off");
}

static void
stop_servers(void)
{
	server_stop(&mx);
	server_stop(&relay);
	server_stop(&relay2);
}

/*
 * Run "sendmail [OPTIONS...] -t" with a message To: to (NULL-terminated
 * options), 30 s at most; then stop the SMTP servers so that their
 * records are complete. Returns the exit status.
 */
static int
deliver(const char *to, ...)
{
	double t0;
	va_list ap;

	t0 = now_s();
	va_start(ap, to);
	sendmail_t(&re, &res, BODY, to, ap);
	va_end(ap);
	elapsed = now_s() - t0;
	stop_servers();
	cr_assert(!res.timed_out, "mxsend did not finish in 30 s%s", ev());
	return res.status;
}

/* ------------------------------------------------------ assertion kits */

#define assert_exit(code) \
	cr_assert_eq(res.status, (code), "want exit %d%s", (code), ev())

/* addr failed permanently: its stderr line has each needle, no "deferred". */
static void
assert_failed(const char *addr, const char *needle1, const char *needle2)
{
	const char *l = err_line(addr);

	cr_assert(l != NULL, "no stderr line for %s%s", addr, ev());
	cr_assert(strstr(l, "deferred") == NULL, "%s reported deferred%s",
	    addr, ev());
	cr_assert(needle1 == NULL || strstr(l, needle1) != NULL,
	    "stderr line for %s lacks \"%s\"%s", addr, needle1, ev());
	cr_assert(needle2 == NULL || strstr(l, needle2) != NULL,
	    "stderr line for %s lacks \"%s\"%s", addr, needle2, ev());
}

/* Exit 75, addr named as deferred on stderr, the message kept. */
static void
assert_deferred(const char *addr, const char *needle)
{
	const char *l;

	assert_exit(75);
	l = err_line(addr);
	cr_assert(l != NULL && strstr(l, "deferred") != NULL,
	    "no \"deferred\" stderr line for %s%s", addr, ev());
	cr_assert(needle == NULL || strstr(l, needle) != NULL,
	    "stderr line for %s lacks \"%s\"%s", addr, needle, ev());
	cr_assert(kept(), "deferred message neither in $HOME/dead.letter nor "
	    "in the queue%s", ev());
}

static const char *
where(const char *ip)
{
	return ip != NULL ? ip : "the server";
}

static void
assert_no_err_line(const char *addr)
{
	cr_assert(err_line(addr) == NULL, "stderr names %s%s", addr, ev());
}

#define assert_delivered(dir, ip, rcpt) \
	cr_assert(delivered_at((dir), (ip), (rcpt)) != 0, \
	    "%s not delivered at %s%s", (rcpt), where(ip), ev())

#define assert_no_session(dir, ip, who) \
	cr_assert_eq(sessions_at((dir), (ip)), 0, "%s had a session%s", \
	    (who), ev())

#define assert_no_relay_session() \
	cr_assert_eq(nsess(relayrec), 0, "the relay had a session%s", ev())

#define MX12	"127.0.0.2", "127.0.0.3", NULL

/* ---------------------------------------------------------------- DNS */

Test(deliver, null_mx_is_final_even_with_a_relay)
{
	start_relay("", RELAY_PLAIN);
	deliver("u@nullmx.test", NULL);
	assert_exit(68);
	assert_failed("u@nullmx.test", "5.1.10", NULL);
	assert_no_relay_session();
}

Test(deliver, nxdomain_without_relay_is_68)
{
	deliver("u@nosuch.test", NULL);
	assert_exit(68);
	assert_failed("u@nosuch.test", "5.1.2", NULL);
}

Test(deliver, nxdomain_goes_to_the_relay)
{
	start_relay("", RELAY_PLAIN);
	deliver("u@nosuch.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@nosuch.test");
	assert_no_err_line("u@nosuch.test");
}

Test(deliver, nodata_goes_to_the_relay)
{
	start_relay("", RELAY_PLAIN);
	deliver("u@nodata.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@nodata.test");
}

Test(deliver, nodata_without_relay_is_68)
{
	deliver("u@nodata.test", NULL);
	assert_exit(68);
	assert_failed("u@nodata.test", NULL, NULL);
}

/*
 * MX hosts without any address: dns.c answers NODATA, never "hosts but
 * no address", and policy.c makes that "no mail host" (5.4.4): the relay
 * may see other DNS, and without one the recipient fails.
 */
Test(deliver, mx_hosts_without_addresses_go_to_the_relay)
{
	start_relay("", RELAY_PLAIN);
	deliver("u@noaddr.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@noaddr.test");
}

Test(deliver, mx_hosts_without_addresses_without_relay_is_68)
{
	deliver("u@noaddr.test", NULL);
	assert_exit(68);
	assert_failed("u@noaddr.test", "have no addresses", "(5.4.4)");
}

Test(deliver, servfail_goes_to_the_relay)
{
	start_mx("", "127.0.0.2", NULL);
	start_relay("", RELAY_PLAIN);
	deliver("u@servfail.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@servfail.test");
	assert_no_session(mxrec, NULL, "an MX (SERVFAIL is not \"no MX\")");
}

Test(deliver, servfail_without_relay_is_deferred)
{
	start_mx("", "127.0.0.2", NULL);
	deliver("u@servfail.test", NULL);
	assert_deferred("u@servfail.test", "4.4.3");
	assert_no_session(mxrec, NULL, "an MX (SERVFAIL is not \"no MX\")");
}

Test(deliver, implicit_mx_is_the_domain_address)
{
	start_mx("", MX12);
	deliver("u@implicit.test", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", "u@implicit.test");
	cr_assert(logs_have(mxrec, "127.0.0.2", "EHLO client.test"),
	    "EHLO name is not MXSEND_HELO%s", ev());
}

/* --------------------------------------------------------- MX failover */

Test(deliver, first_mx_refuses_connection_second_delivers)
{
	start_mx("", MX12);
	deliver("u@down.test", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.3", "u@down.test");
}

Test(deliver, greeting_554_on_first_mx_second_delivers)
{
	start_mx("greeting local=127.0.0.2 reply 554 5.7.1 No service here\n",
	    MX12);
	deliver("u@fo.test", NULL);
	assert_exit(0);
	cr_assert_eq(sessions_at(mxrec, "127.0.0.2"), 1,
	    "first MX not tried%s", ev());
	assert_delivered(mxrec, "127.0.0.3", "u@fo.test");
}

Test(deliver, ehlo_550_on_first_mx_second_delivers)
{
	start_mx("ehlo local=127.0.0.2 reply 550 5.7.1 Go away\n", MX12);
	deliver("u@fo.test", NULL);
	assert_exit(0);
	cr_assert(logs_have(mxrec, "127.0.0.2", "EHLO"),
	    "first MX not tried%s", ev());
	cr_assert(!logs_have(mxrec, "127.0.0.2", "MAIL FROM"),
	    "MAIL after EHLO 550%s", ev());
	assert_delivered(mxrec, "127.0.0.3", "u@fo.test");
}

Test(deliver, mail_451_on_first_mx_second_delivers)
{
	start_mx("mail local=127.0.0.2 reply 451 4.3.0 Try again later\n",
	    MX12);
	deliver("u@fo.test", NULL);
	assert_exit(0);
	cr_assert(logs_have(mxrec, "127.0.0.2", "MAIL FROM"),
	    "first MX not tried%s", ev());
	assert_delivered(mxrec, "127.0.0.3", "u@fo.test");
}

Test(deliver, close_at_rcpt_on_first_mx_second_delivers)
{
	start_mx("rcpt local=127.0.0.2 close\n", MX12);
	deliver("u@fo.test", NULL);
	assert_exit(0);
	cr_assert(logs_have(mxrec, "127.0.0.2", "RCPT TO"),
	    "first MX not tried%s", ev());
	assert_delivered(mxrec, "127.0.0.3", "u@fo.test");
}

Test(deliver, stall_at_greeting_on_first_mx_second_delivers)
{
	start_mx("greeting local=127.0.0.2 stall 20\n", MX12);
	deliver("u@fo.test", NULL);
	assert_exit(0);
	cr_assert_eq(sessions_at(mxrec, "127.0.0.2"), 1,
	    "first MX not tried%s", ev());
	assert_delivered(mxrec, "127.0.0.3", "u@fo.test");
	cr_assert(elapsed < 10.0 * run_slack(), "took %.2f s%s", elapsed, ev());
}

#define ALL_5XX \
	"greeting local=127.0.0.2 reply 554 5.7.1 No service here\n" \
	"ehlo local=127.0.0.3 reply 550 5.7.1 Your HELO is refused\n" \
	"helo local=127.0.0.3 reply 550 5.7.1 Your HELO is refused\n" \
	"mail local=127.0.0.4 reply 553 5.7.1 Sender refused\n"

Test(deliver, every_mx_5xx_before_rcpt_goes_to_the_relay)
{
	start_mx(ALL_5XX, "127.0.0.2", "127.0.0.3", "127.0.0.4", NULL);
	start_relay("", RELAY_PLAIN);
	deliver("u@fo3.test", NULL);
	assert_exit(0);
	cr_assert(sessions_at(mxrec, "127.0.0.2") == 1 &&
	    sessions_at(mxrec, "127.0.0.3") == 1 &&
	    logs_have(mxrec, "127.0.0.4", "MAIL FROM"),
	    "not every MX address was tried%s", ev());
	assert_delivered(relayrec, NULL, "u@fo3.test");
}

Test(deliver, every_mx_5xx_before_rcpt_without_relay_is_69)
{
	start_mx(ALL_5XX, "127.0.0.2", "127.0.0.3", "127.0.0.4", NULL);
	deliver("u@fo3.test", NULL);
	assert_exit(69);
	cr_assert(sessions_at(mxrec, "127.0.0.2") == 1 &&
	    sessions_at(mxrec, "127.0.0.3") == 1 &&
	    logs_have(mxrec, "127.0.0.4", "MAIL FROM"),
	    "not every MX address was tried%s", ev());
	assert_failed("u@fo3.test", NULL, NULL);
	{
		const char *l = err_line("u@fo3.test");

		cr_assert(strstr(l, "554 5.7.1 No service here") ||
		    strstr(l, "550 5.7.1 Your HELO is refused") ||
		    strstr(l, "553 5.7.1 Sender refused"),
		    "no server reply in the reason%s", ev());
	}
}

Test(deliver, every_mx_unreachable_goes_to_the_relay)
{
	start_relay("", RELAY_PLAIN);
	deliver("u@dead.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@dead.test");
}

Test(deliver, every_mx_unreachable_without_relay_is_deferred)
{
	deliver("u@dead.test", NULL);
	assert_deferred("u@dead.test", NULL);
}

/* --------------------------------------------------------------- RCPT */

Test(deliver, rcpt_550_511_is_final)
{
	start_mx("rcpt local=127.0.0.2 reply 550 5.1.1 No such user\n", MX12);
	start_relay("", RELAY_PLAIN);
	deliver("u@fo.test", NULL);
	assert_exit(67);
	assert_failed("u@fo.test", "550 5.1.1 No such user", "(5.1.1)");
	cr_assert(strstr(err_line("u@fo.test"), "127.0.0.2") != NULL,
	    "the reason does not name the host%s", ev());
	assert_no_session(mxrec, "127.0.0.3", "the second MX");
	assert_no_relay_session();
}

Test(deliver, rcpt_550_571_goes_to_the_relay_not_the_next_mx)
{
	start_mx("rcpt local=127.0.0.2 reply 550 5.7.1 Client not allowed\n",
	    MX12);
	start_relay("", RELAY_PLAIN);
	deliver("u@fo.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@fo.test");
	assert_no_session(mxrec, "127.0.0.3", "the second MX");
}

Test(deliver, rcpt_550_571_without_relay_is_67)
{
	start_mx("rcpt local=127.0.0.2 reply 550 5.7.1 Client not allowed\n",
	    MX12);
	deliver("u@fo.test", NULL);
	assert_exit(67);
	assert_failed("u@fo.test", "550 5.7.1 Client not allowed", "(5.7.1)");
	assert_no_session(mxrec, "127.0.0.3", "the second MX");
}

Test(deliver, rcpt_450_goes_to_the_relay)
{
	start_mx("rcpt reply 450 4.2.0 Mailbox busy\n", "127.0.0.2", NULL);
	start_relay("", RELAY_PLAIN);
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@a.test");
}

Test(deliver, rcpt_450_without_relay_is_deferred)
{
	start_mx("rcpt reply 450 4.2.0 Mailbox busy\n", "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", "450 4.2.0 Mailbox busy");
}

Test(deliver, rcpt_mixed_in_one_domain)
{
	char *env;
	int n;

	start_mx("rcpt match=<bad@ reply 550 5.1.1 No such user\n",
	    "127.0.0.2", NULL);
	deliver("good@a.test, bad@a.test", NULL);
	assert_exit(67);
	assert_failed("bad@a.test", "550 5.1.1 No such user", "(5.1.1)");
	assert_no_err_line("good@a.test");
	n = delivered_at(mxrec, "127.0.0.2", "good@a.test");
	cr_assert(n != 0, "good@a.test not delivered%s", ev());
	env = file_in(mxrec, n, "env-1");
	cr_assert(env != NULL && strstr(env, "rejected <bad@a.test> 550"),
	    "bad@a.test not in the same transaction%s", ev());
	free(env);
	cr_assert_eq(nsess(mxrec), 1, "more than one session%s", ev());
}

/* ------------------------------------------------------- end of data */

Test(deliver, eod_554_is_final_for_the_message)
{
	start_mx("eod local=127.0.0.2 reply 554 5.6.0 Message rejected as "
	    "spam\n", MX12);
	start_relay("", RELAY_PLAIN);
	deliver("u@fo.test", NULL);
	assert_exit(69);
	assert_failed("u@fo.test", "554 5.6.0 Message rejected as spam",
	    "(5.6.0)");
	assert_no_session(mxrec, "127.0.0.3", "the second MX");
	assert_no_relay_session();
}

/* SPEC §6 rule 7's exception: Gmail's 5.7.26 is about this client. */
Test(deliver, eod_550_5726_goes_to_the_relay_not_the_next_mx)
{
	start_mx("eod local=127.0.0.2 reply 550 5.7.26 Unauthenticated "
	    "email is not accepted\n", MX12);
	start_relay("", RELAY_PLAIN);
	deliver("u@fo.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@fo.test");
	assert_no_session(mxrec, "127.0.0.3", "the second MX");
}

Test(deliver, eod_550_5726_without_relay_is_69)
{
	start_mx("eod local=127.0.0.2 reply 550 5.7.26 Unauthenticated "
	    "email is not accepted\n", MX12);
	deliver("u@fo.test", NULL);
	assert_exit(69);
	assert_failed("u@fo.test", "550 5.7.26 Unauthenticated", "(5.7.26)");
	assert_no_session(mxrec, "127.0.0.3", "the second MX");
}

Test(deliver, eod_451_goes_to_the_relay)
{
	start_mx("eod reply 451 4.3.0 Queue full\n", "127.0.0.2", NULL);
	start_relay("", RELAY_PLAIN);
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@a.test");
}

Test(deliver, eod_451_without_relay_is_deferred)
{
	start_mx("eod reply 451 4.3.0 Queue full\n", "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", "451 4.3.0 Queue full");
}

Test(deliver, advertised_size_too_small_is_69_without_sending)
{
	start_mx("ext PIPELINING\next SIZE 50\n", "127.0.0.2", NULL);
	start_relay("", RELAY_PLAIN);
	deliver("u@a.test", NULL);
	assert_exit(69);
	assert_failed("u@a.test", "5.3.4", NULL);
	cr_assert(sessions_at(mxrec, "127.0.0.2") >= 1, "MX not tried%s",
	    ev());
	cr_assert(!logs_have(mxrec, NULL, "MAIL FROM"),
	    "MAIL sent despite SIZE 50%s", ev());
	assert_no_relay_session();
}

Test(deliver, mail_552_534_is_69_and_final)
{
	start_mx("mail local=127.0.0.2 reply 552 5.3.4 Message too big for "
	    "system\n", MX12);
	start_relay("", RELAY_PLAIN);
	deliver("u@fo.test", NULL);
	assert_exit(69);
	assert_failed("u@fo.test", "5.3.4", NULL);
	assert_no_session(mxrec, "127.0.0.3", "the second MX");
	assert_no_relay_session();
}

/* --------------------------------------------------------------- relay */

#define TLS_RELAY \
	"ext PIPELINING\next STARTTLS\n" \
	"tls-ext PIPELINING\ntls-ext AUTH PLAIN LOGIN\n"

static void
relay_with_credentials(void)
{
	env_set("MXSEND_RELAY=smtp://user:" PW "@127.0.0.1:%u", relayport);
	env_set("MXSEND_RELAY_TLS=auto");
	env_set("MXSEND_ROUTE=relay");
}

/* The batch of session 1 in dir in which a line starting cmd arrived. */
static int
batch_of(const char *dir, const char *cmd)
{
	char *log = file_in(dir, 1, "log"), *p;
	int b = -1;

	for (p = log; p != NULL && *p != '\0'; p = strchr(p, '\n') ?
	    strchr(p, '\n') + 1 : NULL) {
		int n, off = 0;

		if (sscanf(p, "B%d %n", &n, &off) == 1 && off > 0 &&
		    strncmp(p + off, cmd, strlen(cmd)) == 0) {
			b = n;
			break;
		}
	}
	free(log);
	return b;
}

/*
 * SPEC §6: with PIPELINING and CHUNKING, QUIT goes in the flight of
 * BDAT n LAST when the connection ends there, on either route.
 */
/*
 * A domain whose MX hosts' names go unanswered: timeout_dns bounds the
 * whole lookup (the resolver alone would try each name 5 s, twice), and
 * the recipient is deferred, not failed.
 */
Test(deliver, silent_dns_is_bounded_by_timeout_dns)
{
	double t0 = now_s();

	env_set("MXSEND_TIMEOUT_DNS=1");
	env_set("RES_OPTIONS=timeout:5 attempts:2");
	deliver("u@slow.test", NULL);
	assert_deferred("u@slow.test", "(4.4.3)");
	cr_assert(now_s() - t0 < 3.0 * run_slack(), "took %.1f s with "
	    "timeout_dns 1%s", now_s() - t0, ev());
}

Test(deliver, quit_travels_with_the_last_bdat)
{
	static const char ext[] = "ext PIPELINING\next CHUNKING\n";
	int bdat, quit;

	start_relay(ext, RELAY_PLAIN);
	env_set("MXSEND_ROUTE=relay");
	deliver("u@a.test", NULL);
	assert_exit(0);
	server_stop(&relay);
	bdat = batch_of(relayrec, "BDAT");
	quit = batch_of(relayrec, "QUIT");
	cr_assert(bdat > 0 && quit == bdat, "relay: BDAT in batch %d, QUIT "
	    "in batch %d%s", bdat, quit, ev());
	env_unset("MXSEND_ROUTE");
	start_mx(ext, "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	assert_exit(0);
	server_stop(&mx);
	bdat = batch_of(mxrec, "BDAT");
	quit = batch_of(mxrec, "QUIT");
	cr_assert(bdat > 0 && quit == bdat, "mx: BDAT in batch %d, QUIT in "
	    "batch %d%s", bdat, quit, ev());
}

Test(deliver, relay_starttls_and_auth_plain)
{
	char *info, *tls;

	start_relay(TLS_RELAY "user user " PW "\n", RELAY_TLS);
	relay_with_credentials();
	env_set("MXSEND_TLS_CA_FILE=%s", capem);
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@a.test");
	info = file_in(relayrec, 1, "info");
	tls = file_in(relayrec, 1, "tls");
	cr_assert(info != NULL && strstr(info, "auth PLAIN user ok"),
	    "no AUTH PLAIN%s", ev());
	cr_assert(tls != NULL && strstr(tls, "mode starttls"),
	    "no STARTTLS%s", ev());
	free(info);
	free(tls);
}

Test(deliver, relay_certificate_not_trusted_is_deferred)
{
	start_relay(TLS_RELAY "user user " PW "\n", RELAY_TLS);
	relay_with_credentials();
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", NULL);
	cr_assert(nsess(relayrec) >= 1, "relay not tried%s", ev());
	cr_assert(!logs_have(relayrec, NULL, "MAIL FROM"),
	    "MAIL to an untrusted relay%s", ev());
	cr_assert(!logs_have(relayrec, NULL, "AUTH"),
	    "AUTH to an untrusted relay%s", ev());
}

Test(deliver, relay_credentials_without_starttls_is_deferred)
{
	start_relay("ext PIPELINING\next AUTH PLAIN LOGIN\nuser user " PW "\n",
	    RELAY_PLAIN);
	relay_with_credentials();
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", NULL);
	cr_assert(nsess(relayrec) >= 1, "relay not tried%s", ev());
	cr_assert(!logs_have(relayrec, NULL, "AUTH"),
	    "AUTH in plain text%s", ev());
	cr_assert(!logs_have(relayrec, NULL, "MAIL FROM"),
	    "MAIL in plain text%s", ev());
}

Test(deliver, relay_auth_535_is_deferred)
{
	char *info;

	start_relay(TLS_RELAY "user user another-pw\n", RELAY_TLS);
	relay_with_credentials();
	env_set("MXSEND_TLS_CA_FILE=%s", capem);
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", NULL);
	info = file_in(relayrec, 1, "info");
	cr_assert(info != NULL && strstr(info, "failed"),
	    "no failed AUTH at the relay%s", ev());
	free(info);
	cr_assert(!logs_have(relayrec, NULL, "MAIL FROM"),
	    "MAIL after AUTH 535%s", ev());
}

Test(deliver, relay_rcpt_450_is_deferred)
{
	start_relay("rcpt reply 450 4.2.0 Mailbox busy\n", RELAY_PLAIN);
	env_set("MXSEND_ROUTE=relay");
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", "450 4.2.0 Mailbox busy");
}

/*
 * A relay whose name gives no address is a DNS failure like any other,
 * 4.4.3, as -bv says it is (test_verify). The relay is [::1] under
 * address_family ipv4: getaddrinfo() refuses it without a query.
 */
Test(deliver, unresolvable_relay_is_a_dns_deferral_as_bv_says)
{
	const char *argv[] = { "sendmail", "-bv", "u@a.test", NULL };

	env_set("MXSEND_RELAY=smtp://[::1]:25");
	env_set("MXSEND_RELAY_TLS=off");
	env_set("MXSEND_ADDRESS_FAMILY=ipv4");
	env_set("MXSEND_ROUTE=relay");
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", "(4.4.3)");
	run_result_free(&res);
	cr_assert_eq(run_mxsend(&re, argv, NULL, 0, env_list(), 30, &res), 0);
	cr_assert(strstr(res.out, "deferred") != NULL && strstr(res.out,
	    "(4.4.3)") != NULL, "-bv disagrees: %s%s", res.out, ev());
}

Test(deliver, relay_rcpt_550_is_67)
{
	start_relay("rcpt reply 550 5.1.1 No such user\n", RELAY_PLAIN);
	env_set("MXSEND_ROUTE=relay");
	deliver("u@a.test", NULL);
	assert_exit(67);
	assert_failed("u@a.test", "550 5.1.1 No such user", "(5.1.1)");
}

Test(deliver, relay_fingerprint_right_delivers)
{
	char fp[200];

	start_relay(TLS_RELAY, RELAY_TLS);
	cert_fingerprint(fp, sizeof(fp));
	env_set("MXSEND_RELAY_TLS=starttls");
	env_set("MXSEND_RELAY_FINGERPRINT=%s", fp);
	env_set("MXSEND_ROUTE=relay");
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@a.test");
}

Test(deliver, relay_fingerprint_wrong_is_deferred)
{
	char fp[200];

	start_relay(TLS_RELAY, RELAY_TLS);
	cert_fingerprint(fp, sizeof(fp));
	fp[0] = fp[0] == '0' ? '1' : '0';
	env_set("MXSEND_RELAY_TLS=starttls");
	env_set("MXSEND_RELAY_FINGERPRINT=%s", fp);
	env_set("MXSEND_TLS_CA_FILE=%s", capem);	/* CA-valid, wrong pin */
	env_set("MXSEND_ROUTE=relay");
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", NULL);
	cr_assert(nsess(relayrec) >= 1, "relay not tried%s", ev());
	cr_assert(!logs_have(relayrec, NULL, "MAIL FROM"),
	    "MAIL to a relay with the wrong fingerprint%s", ev());
}

Test(deliver, route_relay_mx_falls_back_to_the_mx)
{
	start_mx("", "127.0.0.2", NULL);
	start_relay("mail reply 451 4.3.0 Try later\n", RELAY_PLAIN);
	env_set("MXSEND_ROUTE=relay mx");
	deliver("u@a.test", NULL);
	assert_exit(0);
	cr_assert(logs_have(relayrec, NULL, "MAIL FROM"),
	    "the relay was not tried first%s", ev());
	assert_delivered(mxrec, "127.0.0.2", "u@a.test");
}

Test(deliver, route_relay_makes_no_dns_query)
{
	char *log;

	start_mx("", "127.0.0.2", NULL);
	start_relay("", RELAY_PLAIN);
	env_set("MXSEND_ROUTE=relay");
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@a.test");
	assert_no_session(mxrec, NULL, "the MX");
	log = slurp(dnslog, NULL);
	cr_assert(log == NULL || log[0] == '\0', "DNS was asked:\n%s%s",
	    log ? log : "", ev());
	free(log);
}

Test(deliver, relay_batches_recipients_of_several_domains)
{
	char *env;
	const char *p;
	int nrcpt = 0;

	start_relay("ext PIPELINING\n", RELAY_PLAIN);
	deliver("u1@nx1.test, u2@nx2.test, u3@nx3.test", NULL);
	assert_exit(0);
	cr_assert_eq(nsess(relayrec), 1, "not one relay session%s", ev());
	env = file_in(relayrec, 1, "env-1");
	cr_assert(env != NULL, "no transaction at the relay%s", ev());
	for (p = env; (p = strcasestr(p, "RCPT TO:")) != NULL; p++)
		nrcpt++;
	cr_assert_eq(nrcpt, 3, "env-1 has %d RCPT lines%s", nrcpt, ev());
	cr_assert(strstr(env, "accepted <u1@nx1.test>") &&
	    strstr(env, "accepted <u2@nx2.test>") &&
	    strstr(env, "accepted <u3@nx3.test>") &&
	    strstr(env, "result 250"), "%s%s", env, ev());
	free(env);
	env = file_in(relayrec, 1, "env-2");
	cr_assert(env == NULL, "a second transaction%s", ev());
}

/*
 * Two relay batches: nosuch.test fails over at once, a.test only after
 * its MX greets with 421 a second later. The relay's SIZE is too small
 * for the message, which the first batch learns on a connection that
 * stays open; the second batch gets the same answer on that connection,
 * not on a new one (a reconnection, TLS and AUTH for nothing).
 */
Test(deliver, relay_size_refusal_on_a_kept_connection_does_not_reconnect)
{
	start_mx("greeting delay=1000 reply 421 4.3.2 Busy\n", "127.0.0.2",
	    NULL);
	start_relay("ext PIPELINING\next SIZE 50\n", RELAY_PLAIN);
	deliver("u@nosuch.test, v@a.test", NULL);
	assert_exit(69);
	assert_failed("u@nosuch.test", "5.3.4", NULL);
	assert_failed("v@a.test", "5.3.4", NULL);
	cr_assert_eq(sessions_at(mxrec, "127.0.0.2"), 1, "MX not tried%s",
	    ev());
	cr_assert_eq(nsess(relayrec), 1, "%d relay sessions, want 1%s",
	    nsess(relayrec), ev());
	cr_assert(!logs_have(relayrec, NULL, "MAIL FROM"),
	    "MAIL sent despite SIZE 50%s", ev());
}

/* ------------------------------------------------------- relay list */

/*
 * The second relay of a `relay` list: fakesmtp on 127.0.0.1 at port (0:
 * a free one), with RELAY_TLS the server certificate; script NULL starts
 * nothing and only picks a port where nobody listens, which refuses
 * connections. The test sets MXSEND_RELAY itself.
 */
static void
start_relay2(const char *script, int tls, unsigned port)
{
	const char *extra[] = { "--tls-cert", certpem, "--tls-key", keypem,
	    NULL };
	char listen[64];

	if (script == NULL) {
		do
			relay2port = pick_port();
		while (relay2port == relayport);
		return;
	}
	if (tls)
		make_certs();
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	fakesmtp_start(&relay2, &re, "relay2", listen, script, relay2rec,
	    sizeof(relay2rec), tls ? extra : NULL);
	relay2port = relay2.l[0].port;
	have_relay2 = 1;
}

/* haystack (NULL: absent) holds "host 127.0.0.1[127.0.0.1]:port". */
static int
names_relay(const char *haystack, unsigned port)
{
	char want[80];

	snprintf(want, sizeof(want), "host 127.0.0.1[127.0.0.1]:%u", port);
	return haystack != NULL && strstr(haystack, want) != NULL;
}

/* Session 1 at the relay recorded in dir authenticated as "user how". */
static int
authenticated(const char *dir, const char *user, const char *how)
{
	char want[120], *info = file_in(dir, 1, "info");
	int found;

	snprintf(want, sizeof(want), "auth PLAIN %s %s", user, how);
	found = info != NULL && strstr(info, want) != NULL;
	free(info);
	return found;
}

/*
 * SPEC §4, §6: the first relay of the list refuses connections, the
 * second takes the mail; the log line of the delivered recipient (and
 * -v's, on stderr) names the first with its reason, and -v says which
 * relay of the list it is trying.
 */
Test(deliver, relay_list_first_refuses_connection_second_delivers)
{
	char *lg;
	int named;

	relayport = pick_port();
	start_relay2("", RELAY_PLAIN, 0);
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u, smtp://127.0.0.1:%u",
	    relayport, relay2port);
	env_set("MXSEND_RELAY_TLS=off");
	env_set("MXSEND_ROUTE=relay");
	deliver("u@a.test", "-v", NULL);
	assert_exit(0);
	assert_delivered(relay2rec, NULL, "u@a.test");
	lg = log_line("u@a.test");
	named = lg != NULL && strstr(lg, "status=sent") != NULL &&
	    names_relay(lg, relayport) && strstr(lg, "refused") != NULL;
	free(lg);
	cr_assert(named, "the log line does not name the first relay%s",
	    ev());
	cr_assert(names_relay(line_with(res.err, "status=sent"), relayport),
	    "-v's line does not name the first relay%s", ev());
	cr_assert(strstr(res.err, "relay 1 of 2") != NULL &&
	    strstr(res.err, "relay 2 of 2") != NULL,
	    "-v does not say which relay it tries%s", ev());
}

/*
 * In one transaction the first relay defers one recipient (454), refuses
 * another for good (550 5.1.1) and takes the third: only the deferred
 * one goes to the second relay.
 */
Test(deliver, relay_list_rcpt_4xx_goes_to_the_next_relay_5xx_does_not)
{
	start_relay("rcpt match=<u1@ reply 454 4.7.1 Try another relay\n"
	    "rcpt match=<u2@ reply 550 5.1.1 No such user\n", RELAY_PLAIN);
	start_relay2("", RELAY_PLAIN, 0);
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u,smtp://127.0.0.1:%u",
	    relayport, relay2port);
	env_set("MXSEND_ROUTE=relay");
	deliver("u1@a.test, u2@a.test, u3@a.test", NULL);
	assert_exit(67);
	assert_delivered(relay2rec, NULL, "u1@a.test");
	assert_delivered(relayrec, NULL, "u3@a.test");
	assert_failed("u2@a.test", "550 5.1.1 No such user", "(5.1.1)");
	cr_assert(strstr(err_line("u2@a.test"), "then") == NULL,
	    "a final refusal went on%s", ev());
	cr_assert(!logs_have(relay2rec, NULL, "<u2@a.test>") &&
	    !logs_have(relay2rec, NULL, "<u3@a.test>"),
	    "the second relay saw a recipient the first settled%s", ev());
	assert_no_err_line("u1@a.test");
	assert_no_err_line("u3@a.test");
}

/*
 * AUTH 535 makes the first relay unusable; the second gets the mail.
 * Each relay authenticates as its own URL says, else as relay_user:
 * the first as alice (its URL wins over relay_user), the second as bob.
 */
Test(deliver, relay_list_auth_535_next_relay_each_with_its_user)
{
	start_relay(TLS_RELAY "user alice right-pw\n", RELAY_TLS);
	start_relay2(TLS_RELAY "user bob " PW "\n", RELAY_TLS, 0);
	env_set("MXSEND_RELAY=smtp://alice:wrong-pw@127.0.0.1:%u "
	    "smtp://127.0.0.1:%u", relayport, relay2port);
	env_set("MXSEND_RELAY_USER=bob");
	env_set("MXSEND_RELAY_PASSWORD=" PW);
	env_set("MXSEND_RELAY_TLS=auto");
	env_set("MXSEND_TLS_CA_FILE=%s", capem);
	env_set("MXSEND_ROUTE=relay");
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_delivered(relay2rec, NULL, "u@a.test");
	cr_assert(authenticated(relayrec, "alice", "failed"),
	    "the first relay did not see alice (its URL's user)%s", ev());
	cr_assert(!logs_have(relayrec, NULL, "MAIL FROM"),
	    "MAIL after AUTH 535%s", ev());
	cr_assert(authenticated(relay2rec, "bob", "ok"),
	    "the second relay did not see bob (relay_user)%s", ev());
}

/*
 * SPEC §6 rule 7's exception on the relay route: a 5.7.x refusal at the
 * end of the message is about this client (Microsoft 365's 5.7.60), so
 * the next relay of the list gets the recipient.
 */
Test(deliver, relay_list_eod_5_7_goes_to_the_next_relay)
{
	char *lg;
	int named;

	start_relay("eod reply 550 5.7.60 Client does not have permissions "
	    "to send as this sender\n", RELAY_PLAIN);
	start_relay2("", RELAY_PLAIN, 0);
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u smtp://127.0.0.1:%u",
	    relayport, relay2port);
	env_set("MXSEND_ROUTE=relay");
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_delivered(relay2rec, NULL, "u@a.test");
	lg = log_line("u@a.test");
	named = names_relay(lg, relayport) && strstr(lg, "5.7.60") != NULL;
	free(lg);
	cr_assert(named, "the log line does not name the first relay%s",
	    ev());
}

/* One relay: its 5.7.x at the end of the message goes to the next route. */
Test(deliver, route_relay_mx_relay_eod_5_7_goes_to_the_mx)
{
	start_mx("", "127.0.0.2", NULL);
	start_relay("eod reply 554 5.7.1 Sender not verified\n",
	    RELAY_PLAIN);
	env_set("MXSEND_ROUTE=relay mx");
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", "u@a.test");
}

/*
 * SPEC §4: a relay that failed is unusable for the rest of the attempt.
 * Two batches (nosuch.test at once, a.test after its MX's slow 421): the
 * first relay refuses the first batch at its greeting and is not asked
 * again; the second relay takes both batches on one connection.
 */
Test(deliver, relay_list_failed_relay_is_not_asked_again_in_the_attempt)
{
	start_mx("greeting delay=1000 reply 421 4.3.2 Busy\n", "127.0.0.2",
	    NULL);
	start_relay("greeting reply 421 4.3.2 Too busy\n", RELAY_PLAIN);
	start_relay2("ext PIPELINING\n", RELAY_PLAIN, 0);
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u smtp://127.0.0.1:%u",
	    relayport, relay2port);
	deliver("u@nosuch.test, v@a.test", "-v", NULL);
	assert_exit(0);
	assert_delivered(relay2rec, NULL, "u@nosuch.test");
	assert_delivered(relay2rec, NULL, "v@a.test");
	cr_assert_eq(nsess(relayrec), 1, "the first relay had %d sessions, "
	    "want 1%s", nsess(relayrec), ev());
	cr_assert_eq(nsess(relay2rec), 1, "the second relay had %d sessions, "
	    "want 1%s", nsess(relay2rec), ev());
	cr_assert(strstr(res.err, "unusable since it failed earlier") != NULL,
	    "-v does not say the first relay is skipped%s", ev());
}

/*
 * Every relay down: deferred (75) and queued, the MX and both relays
 * named in order on stderr and in the log; then -q, with the second
 * relay up, delivers it from the queue.
 */
Test(deliver, relay_list_all_down_is_queued_then_q_delivers)
{
	const char *argv[] = { "sendmail", "-qRu@dead.test", NULL };
	const char *l;
	char *lg;
	int named;

	relayport = pick_port();
	start_relay2(NULL, RELAY_PLAIN, 0);
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u smtp://127.0.0.1:%u",
	    relayport, relay2port);
	env_set("MXSEND_RELAY_TLS=off");
	deliver("u@dead.test", NULL);
	assert_deferred("u@dead.test", NULL);
	l = err_line("u@dead.test");
	cr_assert(strstr(l, "[127.0.0.8]") != NULL && names_relay(l,
	    relayport) && names_relay(l, relay2port) && strstr(l,
	    "[127.0.0.8]") < strstr(l, "; then host 127.0.0.1") &&
	    names_relay(strstr(l, "; then host 127.0.0.1") + 7, relay2port),
	    "stderr does not name the MX and each relay in order%s", ev());
	lg = log_line("u@dead.test");
	named = names_relay(lg, relayport) && names_relay(lg, relay2port);
	free(lg);
	cr_assert(named, "the log does not name each relay%s", ev());
	start_relay2("", RELAY_PLAIN, relay2port);
	run_result_free(&res);
	cr_assert_eq(run_mxsend(&re, argv, NULL, 0, env_list(), 30, &res), 0);
	stop_servers();
	assert_exit(0);
	assert_delivered(relay2rec, NULL, "u@dead.test");
	cr_assert(!kept(), "the entry is still queued%s", ev());
}

/* --------------------------------------------------- mixed across domains */

Test(deliver, mixed_delivered_and_rcpt_550_is_67)
{
	start_mx("rcpt local=127.0.0.3 reply 550 5.1.1 No such user\n", MX12);
	deliver("u@a.test, u@b.test", NULL);
	assert_exit(67);
	assert_delivered(mxrec, "127.0.0.2", "u@a.test");
	assert_no_err_line("u@a.test");
	assert_failed("u@b.test", "550 5.1.1 No such user", "(5.1.1)");
}

Test(deliver, mixed_delivered_and_servfail_is_75)
{
	start_mx("", MX12);
	deliver("u@a.test, u@servfail.test", NULL);
	assert_delivered(mxrec, "127.0.0.2", "u@a.test");
	assert_deferred("u@servfail.test", NULL);
	assert_no_err_line("u@a.test");
}

Test(deliver, mixed_rcpt_550_and_null_mx_is_68)
{
	start_mx("rcpt local=127.0.0.3 reply 550 5.1.1 No such user\n", MX12);
	deliver("u@b.test, u@nullmx.test", NULL);
	assert_exit(68);
	assert_failed("u@b.test", "550 5.1.1", NULL);
	assert_failed("u@nullmx.test", "5.1.10", NULL);
}

/*
 * SPEC §6: a recipient's stderr and log lines name every route that
 * failed for it, each with its reason (only the MX error was named).
 */
Test(deliver, every_failed_route_is_named)
{
	const char *l;
	char *lg;
	int named;

	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u", pick_port());
	env_set("MXSEND_RELAY_TLS=off");
	deliver("u@dead.test", NULL);
	assert_exit(75);
	l = err_line("u@dead.test");
	cr_assert(l != NULL && strstr(l, "[127.0.0.8]") != NULL &&
	    strstr(l, "then host 127.0.0.1[127.0.0.1]") != NULL,
	    "stderr does not name the MX and the relay%s", ev());
	lg = log_line("u@dead.test");
	named = lg != NULL && strstr(lg, "[127.0.0.8]") != NULL &&
	    strstr(lg, "then host 127.0.0.1[127.0.0.1]") != NULL;
	free(lg);
	cr_assert(named, "the log does not name the MX and the relay%s", ev());
}

/* delays=a/b/c/d: a relay silent past timeout_command is connection time. */
Test(deliver, stalled_relay_is_booked_as_connection_time)
{
	char *l, d[200] = "";
	const char *p;
	double a, b, c, x;
	int n = 0;

	start_relay("greeting stall 5\n", RELAY_PLAIN);
	deliver("u@dead.test", NULL);
	assert_exit(75);
	l = log_line("u@dead.test");
	if (l != NULL && (p = strstr(l, "delays=")) != NULL) {
		snprintf(d, sizeof(d), "%s", p);
		n = sscanf(d, "delays=%lf/%lf/%lf/%lf", &a, &b, &c, &x);
	}
	free(l);
	cr_assert(d[0] != '\0', "no delays=%s", ev());
	cr_assert_eq(n, 4, "%s", d);
	cr_assert(c >= 1.5 && b < 1.0, "the relay's %d s time-out is not "
	    "booked as connection time: %s%s", 2, d, ev());
}

/*
 * SPEC §4 relay_from: the relay gets the verified sender in MAIL FROM and
 * From: (display name kept, -f ignored, -v says so); the MX route gets
 * the message as it was.
 */
Test(deliver, relay_from_on_the_relay_route_only)
{
	char *env, *msg;
	int n;

	start_mx("rcpt local=127.0.0.3 reply 451 4.3.0 Try later\n", MX12);
	start_relay("", RELAY_PLAIN);
	env_set("MXSEND_RELAY_FROM=cron@verified.example");
	deliver("u@a.test, v@b.test", "-v", "-f", "root@test.example", NULL);
	assert_exit(0);
	n = delivered_at(mxrec, "127.0.0.2", "u@a.test");
	cr_assert(n != 0, "u@a.test not delivered by its MX%s", ev());
	env = file_in(mxrec, n, "env-1");
	msg = file_in(mxrec, n, "msg-1");
	cr_assert(env != NULL && strstr(env, "MAIL FROM:<root@test.example>")
	    && msg != NULL && strstr(msg, "\r\nFrom: s@test.example\r\n"),
	    "the MX route was changed%s", ev());
	free(env);
	free(msg);
	n = delivered_at(relayrec, NULL, "v@b.test");
	cr_assert(n != 0, "v@b.test not relayed%s", ev());
	env = file_in(relayrec, n, "env-1");
	msg = file_in(relayrec, n, "msg-1");
	cr_assert(env != NULL && strstr(env,
	    "MAIL FROM:<cron@verified.example>") && msg != NULL &&
	    strstr(msg, "\r\nFrom: cron@verified.example\r\n"),
	    "the relay did not get relay_from%s", ev());
	free(env);
	free(msg);
	cr_assert(strstr(res.err, "relay_from: the sender <root@test.example> "
	    "and the From: address become <cron@verified.example>") != NULL,
	    "-v does not say so%s", ev());
}

/* SPEC §6 step 2: 0.0.0.0 is never connected to (-v says it was left). */
Test(deliver, unusable_mx_address_is_skipped_with_a_note)
{
	start_mx("", "127.0.0.2", NULL);
	deliver("u@zero.test", "-v", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", "u@zero.test");
	cr_assert(strstr(res.err, "mx0.zero.test *** skipped 0.0.0.0 is an "
	    "address of \"this network\"") != NULL, "no note%s", ev());
}

Test(deliver, only_unusable_mx_addresses_is_68)
{
	start_mx("", "127.0.0.2", NULL);
	deliver("u@allzero.test", NULL);
	assert_exit(68);
	assert_failed("u@allzero.test", "no usable address (0.0.0.0 is",
	    "5.4.4");
}

/*
 * SPEC §6: RFC 5321 §4.5.3.1 limits are checked before any session; a
 * header address past them fails with 5.1.3 (67), asks no DNS, and the
 * other recipients are delivered.
 */
Test(deliver, overlong_header_address_fails_before_any_session)
{
	char label[70], to[200], *log;

	memset(label, 'x', 64);
	label[64] = '\0';
	snprintf(to, sizeof(to), "u@a.test, v@%s.test", label);
	start_mx("", "127.0.0.2", NULL);
	deliver(to, NULL);
	assert_exit(67);
	assert_failed(strchr(to, 'v'), "longer than 63 octets", "(5.1.3)");
	assert_delivered(mxrec, "127.0.0.2", "u@a.test");
	log = file_read(dnslog, NULL);
	cr_assert(log == NULL || strstr(log, label) == NULL,
	    "DNS was asked about the overlong domain:\n%s", log);
	free(log);
}

Test(deliver, mixed_delivered_and_eod_554_is_69)
{
	start_mx("eod local=127.0.0.3 reply 554 5.6.0 Rejected\n", MX12);
	deliver("u@a.test, u@b.test", NULL);
	assert_exit(69);
	assert_delivered(mxrec, "127.0.0.2", "u@a.test");
	assert_failed("u@b.test", "554 5.6.0 Rejected", NULL);
}

/* -------------------------------------------------------------- output */

Test(deliver, oeq_prints_no_recipient_line)
{
	start_mx("rcpt reply 550 5.1.1 No such user\n", "127.0.0.2", NULL);
	deliver("u@a.test", "-oeq", NULL);
	assert_exit(67);
	/* Fully quiet: not even where the message was kept. */
	cr_assert_eq(res.errlen, 0, "stderr under -oeq%s", ev());
	cr_assert(logs_have(mxrec, NULL, "RCPT TO:<u@a.test>"),
	    "not refused by the server%s", ev());
}

Test(deliver, verbose_shows_the_dialogue)
{
	start_mx("", "127.0.0.2", NULL);
	deliver("u@a.test", "-v", NULL);
	assert_exit(0);
	cr_assert(strstr(res.err, "--> MAIL FROM:") != NULL,
	    "no \"--> MAIL FROM:\"%s", ev());
	cr_assert(strstr(res.err, "<-- 250") != NULL, "no \"<-- 250\"%s",
	    ev());
	cr_assert(strstr(res.err, "--> RCPT TO:<u@a.test>") != NULL,
	    "no \"--> RCPT TO:<u@a.test>\"%s", ev());
}

Test(deliver, verbose_never_shows_the_password)
{
	char *log;

	start_relay(TLS_RELAY "user user " PW "\n", RELAY_TLS);
	relay_with_credentials();
	env_set("MXSEND_TLS_CA_FILE=%s", capem);
	deliver("u@a.test", "-v", NULL);
	assert_exit(0);
	cr_assert(strstr(res.err, "--> AUTH PLAIN") != NULL,
	    "AUTH not shown%s", ev());
	cr_assert(strstr(res.err, PW) == NULL &&
	    strstr(res.err, PW_PLAIN_B64) == NULL &&
	    strstr(res.err, PW_B64) == NULL, "password on stderr%s", ev());
	cr_assert(strstr(res.err, "--> AUTH PLAIN ***") != NULL,
	    "AUTH not shown as \"--> AUTH PLAIN ***\"%s", ev());
	log = slurp(logpath, NULL);
	cr_assert(log == NULL || (strstr(log, PW) == NULL &&
	    strstr(log, PW_PLAIN_B64) == NULL), "password in the log%s", ev());
	free(log);
}

/* The first terminal control byte of s (ESC, BEL, CSI), or -1. */
static int
control_byte(const char *s, size_t len)
{
	size_t i;

	for (i = 0; s != NULL && i < len; i++)
		if (s[i] == '\033' || s[i] == '\007' ||
		    (unsigned char)s[i] == 0x9b)
			return (unsigned char)s[i];
	return -1;
}

/*
 * SPEC §6, §10: a hostile server's escape sequences (a colour, a window
 * title ended by BEL, a C1 CSI) reach neither the terminal (-v and the
 * recipient's line), nor the transcript file, nor the log; the readable
 * part of its text does.
 */
Test(deliver, server_escape_sequences_are_never_shown)
{
	char tpath[400], *tr, *log;
	const char *line, *nl, *mark;
	size_t trlen, loglen;

	snprintf(tpath, sizeof(tpath), "%s/transcript", re.dir);
	env_set("MXSEND_TRANSCRIPT=%s", tpath);
	start_mx("rcpt reply 550 5.1.1 \\x1b[31mred\\x1b]0;title\\x07"
	    "\\xc2\\x9b" "1mbold\n", "127.0.0.2", NULL);
	deliver("u@a.test", "-v", NULL);
	assert_exit(67);
	cr_assert(logs_have(mxrec, NULL, "RCPT TO:<u@a.test>"),
	    "not refused by the server%s", ev());
	tr = slurp(tpath, &trlen);
	log = slurp(logpath, &loglen);
	cr_assert(tr != NULL && log != NULL, "no transcript or no log%s",
	    ev());
	cr_assert_eq(control_byte(res.err, res.errlen), -1,
	    "byte %#x on stderr%s", control_byte(res.err, res.errlen), ev());
	cr_assert_eq(control_byte(tr, trlen), -1,
	    "byte %#x in the transcript:\n%.2000s%s",
	    control_byte(tr, trlen), tr, ev());
	cr_assert_eq(control_byte(log, loglen), -1, "byte %#x in the log%s",
	    control_byte(log, loglen), ev());
	cr_assert(strstr(res.err, "<-- 550 5.1.1 ?[31mred?]0;title??1mbold")
	    != NULL, "the -v line lacks the readable text%s", ev());
	line = strstr(res.err, "mxsend: <u@a.test>: ");
	cr_assert(line != NULL && (nl = strchr(line, '\n')) != NULL &&
	    (mark = strstr(line, "550 5.1.1 ?[31mred?]0;title??1mbold")) !=
	    NULL && mark < nl, "the recipient's line lacks the readable "
	    "text%s", ev());
	cr_assert(strstr(tr, "<-- 550 5.1.1 ?[31mred?]0;title??1mbold")
	    != NULL, "the transcript lacks the readable text:\n%.2000s%s",
	    tr, ev());
	cr_assert(strstr(tr, "--> RCPT TO:<u@a.test>") != NULL,
	    "the transcript lacks our own lines:\n%.2000s%s", tr, ev());
	cr_assert(strstr(log, "to=<u@a.test>") != NULL &&
	    strstr(log, "red") != NULL, "the log lacks the reason%s", ev());
	free(tr);
	free(log);
}

/* ---------------------------------- the log and transcript files (§10) */

#define VICTIM	"a file somebody else cares about\n"

/* Some stderr line warns about path and says why. */
static void
assert_warned(const char *path, const char *why)
{
	const char *p = res.err;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len);
		int hit;

		cr_assert(line != NULL);
		hit = strstr(line, "warning") != NULL &&
		    strstr(line, path) != NULL && strstr(line, why) != NULL;
		free(line);
		if (hit)
			return;
		p = nl ? nl + 1 : NULL;
	}
	cr_assert_fail("no warning about %s that says \"%s\"%s", path, why,
	    ev());
}

/* $dir/victim with VICTIM in it, and path a symbolic link to it. */
static const char *
link_to_victim(const char *path)
{
	static char victim[400];

	snprintf(victim, sizeof(victim), "%s", run_env_file(&re, "victim",
	    VICTIM, 0644));
	cr_assert(symlink(victim, path) == 0, "symlink %s: %s", path,
	    strerror(errno));
	return victim;
}

/* $dir/name with VICTIM in it, owned by uid 4242 (the test runs as root). */
static const char *
foreign_file(const char *name)
{
	const char *path = run_env_file(&re, name, VICTIM, 0666);

	cr_assert(chown(path, 4242, 4242) == 0, "chown: %s", strerror(errno));
	return path;
}

static void
assert_victim_unchanged(const char *victim)
{
	char *s = slurp(victim, NULL);

	cr_assert(s != NULL && strcmp(s, VICTIM) == 0,
	    "%s was written to:\n%.1000s%s", victim, s ? s : "(unreadable)",
	    ev());
	free(s);
}

Test(deliver, log_symlink_is_not_followed)
{
	const char *victim = link_to_victim(logpath);

	start_mx("", "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_victim_unchanged(victim);
	assert_warned(logpath, "is a symbolic link (not followed)");
	cr_assert(strstr(res.err, "to=<u@a.test>") != NULL,
	    "the log lines did not go to stderr instead%s", ev());
}

Test(deliver, log_fifo_without_reader_does_not_hang)
{
	cr_assert(mkfifo(logpath, 0600) == 0, "mkfifo: %s", strerror(errno));
	start_mx("", "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	assert_exit(0);
	cr_assert(elapsed < 10.0 * run_slack(), "took %.2f s%s", elapsed, ev());
	assert_warned(logpath, "is a FIFO");
}

Test(deliver, log_fifo_with_reader_is_not_written)
{
	char buf[512];
	ssize_t n;
	int fd;

	cr_assert(mkfifo(logpath, 0600) == 0, "mkfifo: %s", strerror(errno));
	fd = open(logpath, O_RDONLY | O_NONBLOCK);
	cr_assert(fd >= 0, "open %s: %s", logpath, strerror(errno));
	start_mx("", "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_exit(0);
	cr_assert(n <= 0, "%zd bytes written to the FIFO: %.*s%s", n,
	    (int)(n > 0 ? n : 0), buf, ev());
	assert_warned(logpath, "is a FIFO");
}

/* As root, a file someone else owns is theirs to fill, not root's. */
Test(deliver, root_does_not_log_to_a_file_owned_by_another_user)
{
	if (geteuid() != 0)
		cr_skip_test("needs root");
	foreign_file("mxsend.log");
	start_mx("", "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_victim_unchanged(logpath);
	assert_warned(logpath, "owned by uid 4242, not root");
}

Test(deliver, transcript_symlink_is_not_followed)
{
	char tpath[400];
	const char *victim;

	snprintf(tpath, sizeof(tpath), "%s/transcript", re.dir);
	victim = link_to_victim(tpath);
	env_set("MXSEND_TRANSCRIPT=%s", tpath);
	start_mx("", "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_victim_unchanged(victim);
	assert_warned(tpath, "is a symbolic link (not followed)");
}

Test(deliver, transcript_fifo_and_foreign_file_are_refused)
{
	char tpath[400];

	snprintf(tpath, sizeof(tpath), "%s/transcript", re.dir);
	cr_assert(mkfifo(tpath, 0600) == 0, "mkfifo: %s", strerror(errno));
	env_set("MXSEND_TRANSCRIPT=%s", tpath);
	start_mx("", "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	assert_exit(0);
	cr_assert(elapsed < 10.0 * run_slack(), "took %.2f s%s", elapsed, ev());
	assert_warned(tpath, "is a FIFO");
	if (geteuid() != 0)
		return;
	cr_assert(unlink(tpath) == 0);
	foreign_file("transcript");
	start_mx("", "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_victim_unchanged(tpath);
	assert_warned(tpath, "owned by uid 4242, not root");
}

Test(deliver, log_lines_sent_bounced_deferred)
{
	char *good, *bad, *later, relayhost[80];

	start_mx("rcpt match=<bad@ reply 550 5.1.1 No such user\n",
	    "127.0.0.2", NULL);
	deliver("good@a.test, bad@a.test, x@servfail.test", NULL);
	assert_exit(67);
	good = log_line("good@a.test");
	bad = log_line("bad@a.test");
	later = log_line("x@servfail.test");
	snprintf(relayhost, sizeof(relayhost),
	    "relay=mx1.a.test[127.0.0.2]:%u,", mxport);
	cr_assert(good != NULL && strstr(good, "mxsend/smtp[") &&
	    strstr(good, relayhost) && strstr(good, "delay=") &&
	    strstr(good, "delays=") && strstr(good, "dsn=2.0.0") &&
	    strstr(good, "status=sent (250"), "sent line%s", ev());
	cr_assert(bad != NULL && strstr(bad, relayhost) &&
	    strstr(bad, "dsn=5.1.1") && strstr(bad, "status=bounced") &&
	    strstr(bad, "No such user"), "bounced line%s", ev());
	cr_assert(later != NULL && strstr(later, "relay=none") &&
	    strstr(later, "dsn=4.") && strstr(later, "status=deferred"),
	    "deferred line%s", ev());
	free(good);
	free(bad);
	free(later);
}

Test(deliver, received_header_carries_the_queue_id)
{
	char *line, *msg, *p, *q, *hdr_end, qid[64];
	int n;

	start_mx("", "127.0.0.2", NULL);
	deliver("u@a.test", NULL);
	assert_exit(0);
	line = log_line("u@a.test");
	cr_assert(line != NULL, "no log line%s", ev());
	p = strstr(line, "mxsend/smtp[");
	cr_assert(p != NULL && (p = strstr(p, "]: ")) != NULL,
	    "log line: %s", line);
	p += 3;
	q = strstr(p, ": to=<");
	cr_assert(q != NULL && q > p && (size_t)(q - p) < sizeof(qid),
	    "no queue id in: %s", line);
	memcpy(qid, p, (size_t)(q - p));
	qid[q - p] = '\0';
	free(line);
	n = delivered_at(mxrec, "127.0.0.2", "u@a.test");
	cr_assert(n != 0, "not delivered%s", ev());
	msg = file_in(mxrec, n, "msg-1");
	cr_assert(msg != NULL, "no message recorded");
	hdr_end = strstr(msg, "\r\n\r\n");
	cr_assert(hdr_end != NULL, "no header/body separator: %s", msg);
	*hdr_end = '\0';
	p = strstr(msg, qid);
	cr_assert(p != NULL, "queue id %s not in the header:\n%s", qid, msg);
	/* The field holding it is a Received: field (maybe folded). */
	for (;;) {
		while (p > msg && p[-1] != '\n')
			p--;
		if (*p != ' ' && *p != '\t')
			break;
		p--;
	}
	cr_assert(strncasecmp(p, "Received:", 9) == 0,
	    "queue id %s not in a Received: field:\n%s", qid, msg);
	free(msg);
}

/* ------------------------------------------------------------ parallel */

Test(deliver, ten_domains_in_parallel)
{
	static const char script[] = "latency 400\next PIPELINING\n";
	char to[600], rcpt[32], ip[32];
	double one, ten;
	int i;

	env_set("MXSEND_MAX_PARALLEL=10");
	start_mx(script, "127.0.0.10", "127.0.0.11", "127.0.0.12",
	    "127.0.0.13", "127.0.0.14", "127.0.0.15", "127.0.0.16",
	    "127.0.0.17", "127.0.0.18", "127.0.0.19", NULL);
	deliver("u@d0.test", NULL);
	one = elapsed;
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.10", "u@d0.test");

	start_mx(script, "127.0.0.10", "127.0.0.11", "127.0.0.12",
	    "127.0.0.13", "127.0.0.14", "127.0.0.15", "127.0.0.16",
	    "127.0.0.17", "127.0.0.18", "127.0.0.19", NULL);
	to[0] = '\0';
	for (i = 0; i < 10; i++)
		append(to, sizeof(to), "%su@d%d.test", i ? ", " : "", i);
	deliver(to, NULL);
	ten = elapsed;
	fprintf(stderr, "parallel: one domain %.2f s, ten domains %.2f s\n",
	    one, ten);
	assert_exit(0);
	for (i = 0; i < 10; i++) {
		snprintf(rcpt, sizeof(rcpt), "u@d%d.test", i);
		snprintf(ip, sizeof(ip), "127.0.0.%d", 10 + i);
		assert_delivered(mxrec, ip, rcpt);
	}
	cr_assert(ten < 2.5 * one, "ten domains %.2f s, one %.2f s: not "
	    "parallel%s", ten, one, ev());
}

/* ------------------------------------------------------------ deadline */

Test(deliver, deadline_passes_a_stalled_mx_to_the_relay)
{
	start_mx("greeting stall 30\n", "127.0.0.2", NULL);
	start_relay("", RELAY_PLAIN);
	env_set("MXSEND_DEADLINE=3");
	env_set("MXSEND_TIMEOUT_COMMAND=60");
	deliver("u@a.test", NULL);
	assert_exit(0);
	cr_assert_eq(sessions_at(mxrec, "127.0.0.2"), 1, "MX not tried%s",
	    ev());
	assert_delivered(relayrec, NULL, "u@a.test");
	cr_assert(elapsed < 12.0 * run_slack(), "took %.2f s%s", elapsed, ev());
}

Test(deliver, deadline_without_relay_is_deferred_in_time)
{
	start_mx("greeting stall 30\n", "127.0.0.2", NULL);
	env_set("MXSEND_DEADLINE=3");
	env_set("MXSEND_TIMEOUT_COMMAND=60");
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", NULL);
	cr_assert(elapsed < 5.5 * run_slack(), "took %.2f s with deadline 3 "
	    "s%s", elapsed, ev());
}

/* ------------------------------------------------- zero configuration */

Test(deliver, zero_configuration_delivers)
{
	char ns[700], port[700];

	snprintf(ns, sizeof(ns), "%s", env_list()[0]);	/* MXSEND_NAMESERVER */
	start_mx("", "127.0.0.2", NULL);
	snprintf(port, sizeof(port), "MXSEND_MX_PORT=%u", mxport);
	env_clear();
	env_set("%s", ns);
	env_set("%s", port);
	env_set("MXSEND_TIMEOUT_CONNECT=2");
	env_set("MXSEND_TIMEOUT_COMMAND=2");
	env_set("MXSEND_TIMEOUT_DATA=3");
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", "u@a.test");
	assert_no_err_line("u@a.test");
}

/* ---------------------------------------- libraries loaded on demand */

/*
 * SPEC §9: GnuTLS and libidn2 are opened with dlopen at their first use.
 * LD_LIBRARY_PATH points at stand-ins that export none of their
 * functions (fakelib.c) and record in $dir/loaded that they were loaded.
 */
#define without_libraries()	env_without_libraries(&re)
#define loaded(name)		fakelib_loaded(&re, (name))

Test(deliver, plain_relay_does_not_load_gnutls_or_libidn2)
{
	start_relay("ext STARTTLS\n", RELAY_PLAIN);
	env_set("MXSEND_ROUTE=relay");
	without_libraries();
	deliver("u@a.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@a.test");
	cr_assert(!loaded("libgnutls"), "GnuTLS loaded for plain text%s",
	    ev());
	cr_assert(!loaded("libidn2"), "libidn2 loaded for ASCII%s", ev());
}

Test(deliver, relay_tls_without_gnutls_is_a_tls_failure)
{
	start_relay(TLS_RELAY "user user " PW "\n", RELAY_TLS);
	relay_with_credentials();
	env_set("MXSEND_TLS_CA_FILE=%s", capem);
	without_libraries();
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", "cannot load GnuTLS");
	cr_assert(strstr(err_line("u@a.test"), "undefined symbol: gnutls_"),
	    "dlerror()'s text is not in the reason%s", ev());
	cr_assert(loaded("libgnutls"), "the stand-in was not loaded%s", ev());
	cr_assert(!logs_have(relayrec, NULL, "AUTH"),
	    "AUTH without TLS%s", ev());
	cr_assert(!logs_have(relayrec, NULL, "MAIL FROM"),
	    "MAIL without TLS%s", ev());
}

Test(deliver, mx_tls_required_without_gnutls_is_a_tls_failure)
{
	const char *extra[5];

	make_certs();
	extra[0] = "--tls-cert";
	extra[1] = certpem;
	extra[2] = "--tls-key";
	extra[3] = keypem;
	extra[4] = NULL;
	start_mx_extra("ext STARTTLS\n", extra, "127.0.0.2", NULL);
	env_set("MXSEND_MX_TLS=required");
	without_libraries();
	deliver("u@a.test", NULL);
	assert_deferred("u@a.test", "cannot load GnuTLS");
	cr_assert(!logs_have(mxrec, NULL, "MAIL FROM"),
	    "MAIL without TLS%s", ev());
}

Test(deliver, opportunistic_mx_without_gnutls_goes_plain)
{
	const char *extra[5];

	make_certs();
	extra[0] = "--tls-cert";
	extra[1] = certpem;
	extra[2] = "--tls-key";
	extra[3] = keypem;
	extra[4] = NULL;
	start_mx_extra("ext STARTTLS\n", extra, "127.0.0.2", NULL);
	without_libraries();
	deliver("u@a.test", "-v", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", "u@a.test");
	cr_assert(loaded("libgnutls"), "the stand-in was not loaded%s", ev());
	/* -v says that the mail went without encryption, and why. */
	cr_assert(strstr(res.err, "cannot load GnuTLS") != NULL &&
	    strstr(res.err, "delivering in plain text") != NULL,
	    "no note of the plain-text fallback under -v%s", ev());
}

Test(deliver, unicode_domain_without_libidn2_fails_as_idna)
{
	start_relay("", RELAY_PLAIN);
	env_set("MXSEND_ROUTE=relay");
	without_libraries();
	deliver("u@b\xc3\xbc" "cher.test", NULL);
	assert_exit(68);	/* as every IDNA failure: SPEC §3 */
	assert_failed("u@b\xc3\xbc" "cher.test", "5.1.2",
	    "cannot load libidn2");
	cr_assert(loaded("libidn2"), "the stand-in was not loaded%s", ev());
	assert_no_relay_session();
}
