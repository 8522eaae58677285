/*
 * test_names.c: this host's names (SPEC §4 `default_domain`, `helo`) as
 * the real mxsend finds them: the configured values, /etc/mailname, the
 * host's fully qualified name from /etc/hosts, and a canonical-name
 * lookup that a silent DNS cannot stretch past `timeout_dns`; and where
 * the names go (envelope sender, Message-ID:, Received:, EHLO).
 *
 * The tests that give mxsend an /etc and a host name of their own
 * (run_env_host(): mount and UTS namespaces) need root and are skipped,
 * saying so, without it. The silent DNS is fakedns on 127.0.53.N port 53
 * (glibc asks port 53 only), dropping every query and logging it.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

static struct run_env re;
static struct run_result res;
static struct server relay, dns;
static int have_relay, have_dns;
static char relaydir[400], dnslog[400];
static double elapsed;

static void
setup(void)
{
	run_env_setup(&re);
	memset(&res, 0, sizeof(res));
	env_clear();
	snprintf(relaydir, sizeof(relaydir), "%s/relay", re.dir);
	cr_assert_eq(mkdir(relaydir, 0700), 0, "mkdir %s", relaydir);
	cr_assert_eq(spawn_fakesmtp(&relay, relaydir, "ext PIPELINING\n",
	    NULL), 0, "fakesmtp did not start");
	have_relay = 1;
	env_set("MXSEND_ROUTE=relay");
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u", relay.l[0].port);
	env_set("MXSEND_RELAY_TLS=off");
	env_set("MXSEND_TIMEOUT_DNS=1");
}

static void
teardown(void)
{
	if (have_relay)
		server_stop(&relay);
	if (have_dns)
		server_stop(&dns);
	have_relay = have_dns = 0;
	run_result_free(&res);
	hist_free();
	run_env_cleanup(&re);
}

TestSuite(names, .init = setup, .fini = teardown, .timeout = 60);

/* Send a message through the relay: mxsend -v [extra] u@x.test. */
static void
send_one(const char *extra)
{
	const char *argv[] = { "sendmail", "-v", "u@x.test", NULL, NULL };
	const char msg[] = "Subject: names\n\nbody\n";
	double t0 = now_s();

	if (extra != NULL) {
		argv[2] = extra;
		argv[3] = "u@x.test";
	}
	cr_assert_eq(run_mxsend(&re, argv, msg, strlen(msg), env_list(), 30,
	    &res), 0, "mxsend could not be run");
	elapsed = now_s() - t0;
	hist_add("sendmail -v u@x.test", res.status, elapsed, res.out,
	    res.err);
	server_stop(&relay);
	have_relay = 0;
}

/* What the relay recorded of its first session (the test fails if none). */
static char *
relay_file(const char *what)
{
	char name[64];

	snprintf(name, sizeof(name), "session-1.%s", what);
	return record_wait(relaydir, name, 2000);
}

static const char *
ev(void)
{
	static char buf[16384];

	buf[0] = '\0';
	ev_runs(buf, sizeof(buf));
	return buf;
}

static void
assert_has(const char *text, const char *needle, const char *what)
{
	cr_assert(text != NULL && strstr(text, needle) != NULL,
	    "%s lacks \"%s\":\n%s%s", what, needle, text ? text : "(none)",
	    ev());
}

/*
 * Give mxsend its own /etc: hosts as given, resolv.conf naming a silent
 * fakedns (every query dropped, logged), mailname when not NULL.
 */
static int
own_host(const char *name, const char *hosts, const char *mailname)
{
	char listen[64], zone[400], conf[128];
	const char *args[] = { "--listen", listen, NULL };
	static unsigned n;

	if (run_env_host(&re, name) != 0)
		return -1;
	n = (n + (unsigned)getpid()) % 200 + 1;
	snprintf(listen, sizeof(listen), "127.0.53.%u:53", n);
	snprintf(zone, sizeof(zone), "%s", run_env_file(&re, "zone",
	    "x.test. A 127.0.0.1\non * * drop\n", 0644));
	snprintf(dnslog, sizeof(dnslog), "%s/dns.log", re.dir);
	cr_assert_eq(spawn_fakedns(&dns, zone, dnslog, args, NULL), 0,
	    "fakedns did not start on %s", listen);
	have_dns = 1;
	snprintf(conf, sizeof(conf), "nameserver 127.0.53.%u\n"
	    "options timeout:4 attempts:2\n", n);
	run_env_file(&re, "etc/resolv.conf", conf, 0644);
	run_env_file(&re, "etc/hosts", hosts, 0644);
	if (mailname != NULL)
		run_env_file(&re, "etc/mailname", mailname, 0644);
	return 0;
}

/* How many queries the silent DNS saw. */
static int
dns_queries(void)
{
	char *log;
	int n = 0;
	const char *p;

	server_stop(&dns);
	have_dns = 0;
	if ((log = file_read(dnslog, NULL)) == NULL)
		return 0;
	for (p = log; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	free(log);
	return n;
}

#define NEED_ROOT(call) do {						\
	if ((call) != 0)						\
		cr_skip_test("needs root: mxsend gets an /etc and host "  \
		    "name of its own in mount and UTS namespaces");	\
} while (0)

/* SPEC §4: default_domain is the domain of Message-ID: and Received:. */
Test(names, default_domain_names_message_id_and_received)
{
	char *msg;

	env_set("MXSEND_DEFAULT_DOMAIN=example.net");
	send_one(NULL);
	cr_assert_eq(res.status, 0, "exit %d%s", res.status, ev());
	msg = relay_file("msg-1");
	assert_has(msg, "\r\nMessage-ID: <", "the message");
	assert_has(strstr(msg, "Message-ID: <"), "@example.net>\r\n",
	    "Message-ID:");
	assert_has(msg, "Received: by example.net (mxsend, from userid",
	    "the message");
	free(msg);
}

/* Debian Policy §11.6: /etc/mailname when default_domain is unset. */
Test(names, mailname_is_the_default_domain)
{
	char *env, *msg;

	NEED_ROOT(own_host("box", "127.0.0.1 localhost\n",
	    "mail.example.org \n"));
	send_one(NULL);
	cr_assert_eq(res.status, 0, "exit %d%s", res.status, ev());
	env = relay_file("env-1");
	assert_has(env, "MAIL FROM:<root@mail.example.org>", "the envelope");
	free(env);
	msg = relay_file("msg-1");
	assert_has(msg, "@mail.example.org>\r\n", "the message");
	free(msg);
}

/* An unusable mailname is ignored (-v says so): the host's name serves. */
Test(names, bad_mailname_is_ignored_with_a_warning)
{
	char *env;

	NEED_ROOT(own_host("box", "127.0.0.1 box.example.com box localhost\n",
	    "not a domain!\n"));
	send_one(NULL);
	cr_assert_eq(res.status, 0, "exit %d%s", res.status, ev());
	assert_has(res.err, "/etc/mailname is unreadable or not a domain",
	    "stderr");
	env = relay_file("env-1");
	assert_has(env, "MAIL FROM:<root@box.example.com>", "the envelope");
	free(env);
}

/* The fully qualified name in /etc/hosts: EHLO and the default domain. */
Test(names, fqdn_from_hosts_is_the_helo_and_domain)
{
	char *log, *env;

	NEED_ROOT(own_host("box", "127.0.1.1 box.example.com box\n", NULL));
	send_one(NULL);
	cr_assert_eq(res.status, 0, "exit %d%s", res.status, ev());
	log = relay_file("log");
	assert_has(log, "EHLO box.example.com", "the session");
	free(log);
	env = relay_file("env-1");
	assert_has(env, "MAIL FROM:<root@box.example.com>", "the envelope");
	free(env);
	cr_assert_eq(dns_queries(), 0, "the hosts file answered, yet DNS "
	    "was asked%s", ev());
}

/*
 * The issue 14 case: the host name in no hosts file and DNS silent. The
 * lookup is cut at timeout_dns (1 s here; resolv.conf's own retries would
 * take 16 s), the bare name serves with a warning under -v, and the EHLO
 * name is the socket's address literal.
 */
Test(names, silent_dns_costs_at_most_timeout_dns)
{
	char *log, *env;

	NEED_ROOT(own_host("box", "127.0.0.1 localhost\n", NULL));
	send_one(NULL);
	cr_assert_eq(res.status, 0, "exit %d%s", res.status, ev());
	cr_assert(elapsed < 3.0 * run_slack(),
	    "the run took %.1f s with timeout_dns 1%s",
	    elapsed, ev());
	assert_has(res.err, "host name 'box' is not fully qualified",
	    "stderr");
	log = relay_file("log");
	assert_has(log, "EHLO [127.0.0.1]", "the session");
	free(log);
	env = relay_file("env-1");
	assert_has(env, "MAIL FROM:<root@box>", "the envelope");
	free(env);
	cr_assert(dns_queries() > 0, "DNS was never asked: the bound was "
	    "not what made this fast%s", ev());
}

/*
 * The hosts file is read in-process only where glibc would answer from
 * it: with DNS first in nsswitch.conf, DNS is asked (silent here, so the
 * lookup is cut at timeout_dns and the name stays bare), even though the
 * hosts file has the answer.
 */
Test(names, dns_first_in_nsswitch_is_honoured)
{
	char *log;

	NEED_ROOT(own_host("box", "127.0.1.1 box.example.com box\n", NULL));
	run_env_file(&re, "etc/nsswitch.conf", "hosts: dns files\n", 0644);
	send_one(NULL);
	cr_assert_eq(res.status, 0, "exit %d%s", res.status, ev());
	log = relay_file("log");
	assert_has(log, "EHLO ", "the session");
	free(log);
	cr_assert(dns_queries() > 0, "DNS was not asked first%s", ev());
}

/* SPEC §4: helo and default_domain set: no lookup of any kind. */
Test(names, configured_names_are_never_looked_up)
{
	char *log;

	NEED_ROOT(own_host("box", "127.0.0.1 localhost\n", NULL));
	env_set("MXSEND_DEFAULT_DOMAIN=example.net");
	env_set("MXSEND_HELO=out.example.net");
	send_one(NULL);
	cr_assert_eq(res.status, 0, "exit %d%s", res.status, ev());
	cr_assert(elapsed < 1.0 * run_slack(), "the run took %.1f s%s",
	    elapsed, ev());
	log = relay_file("log");
	assert_has(log, "EHLO out.example.net", "the session");
	free(log);
	cr_assert_eq(dns_queries(), 0, "DNS was asked for this host's name "
	    "although helo and default_domain are set%s", ev());
}

/* Send through the relay named relay.example, with these /etc/hosts. */
static void
send_to_named_relay(const char *hosts)
{
	NEED_ROOT(own_host("box", hosts, NULL));
	env_set("MXSEND_DEFAULT_DOMAIN=example.net");
	env_set("MXSEND_HELO=out.example.net");
	env_set("MXSEND_RELAY=smtp://relay.example:%u", relay.l[0].port);
	send_one(NULL);
}

/* SPEC §4 timeout_dns: the relay's name, asked of a silent DNS. */
Test(names, silent_dns_bounds_the_relay_lookup)
{
	send_to_named_relay("127.0.0.1 localhost\n");
	cr_assert_eq(res.status, 75, "exit %d%s", res.status, ev());
	cr_assert(elapsed < 3.0 * run_slack(),
	    "the run took %.1f s with timeout_dns 1%s",
	    elapsed, ev());
	assert_has(res.err, "cannot resolve the relay relay.example: no "
	    "answer within", "stderr");
	cr_assert(dns_queries() > 0, "DNS was never asked%s", ev());
}

/* The relay's name from the test's /etc/hosts: no DNS, delivered. */
Test(names, relay_name_from_hosts)
{
	char *env;

	send_to_named_relay("127.0.0.1 localhost relay.example\n");
	cr_assert_eq(res.status, 0, "exit %d%s", res.status, ev());
	env = relay_file("env-1");
	assert_has(env, "RCPT TO:<u@x.test>", "the envelope");
	free(env);
	cr_assert_eq(dns_queries(), 0, "DNS was asked%s", ev());
}

/*
 * Issue 16: Debian cron's exact command line and header. Unqualified
 * header addresses arrive with @default_domain, comments kept.
 */
Test(names, cron_mail_arrives_qualified)
{
	const char *argv[] = { "/usr/sbin/sendmail", "-FCronDaemon", "-i",
	    "-B8BITMIME", "-oem", "-oi", "-t", NULL };
	const char msg[] = "From: root (Cron Daemon)\n"
	    "To: root\n"
	    "Subject: Cron <root@box> echo hi\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=UTF-8\n"
	    "Content-Transfer-Encoding: 8bit\n"
	    "X-Cron-Env: <SHELL=/bin/sh>\n"
	    "X-Cron-Env: <HOME=/root>\n"
	    "\n"
	    "hi\n";
	char *env, *body;

	env_set("MXSEND_DEFAULT_DOMAIN=example.net");
	cr_assert_eq(run_mxsend(&re, argv, msg, strlen(msg), env_list(), 30,
	    &res), 0, "mxsend could not be run");
	hist_add("cron's sendmail -t", res.status, 0, res.out, res.err);
	server_stop(&relay);
	have_relay = 0;
	cr_assert_eq(res.status, 0, "exit %d%s", res.status, ev());
	env = relay_file("env-1");
	assert_has(env, "RCPT TO:<root@example.net>", "the envelope");
	free(env);
	body = relay_file("msg-1");
	assert_has(body, "\r\nFrom: root@example.net (Cron Daemon)\r\n"
	    "To: root@example.net\r\nSubject: Cron <root@box> echo hi\r\n",
	    "the message");
	free(body);
}

/* Run argv with a short message; the relay is stopped after. */
static void
send_argv(const char *const argv[], const char *what)
{
	const char msg[] = "Subject: cron\n\nhi\n";

	cr_assert_eq(run_mxsend(&re, argv, msg, strlen(msg), env_list(), 30,
	    &res), 0, "mxsend could not be run");
	hist_add(what, res.status, 0, res.out, res.err);
	server_stop(&relay);
	have_relay = 0;
}

/*
 * Issue 17: no default_domain, no /etc/mailname, a host name without a
 * domain ("box" in a container). "root" cannot be qualified: instead of
 * "root@box", which no server would take, the run says to set
 * default_domain or an alias; an alias for it serves.
 */
Test(names, unqualified_recipient_without_a_domain_says_what_to_set)
{
	const char *argv[] = { "sendmail", "root", "u@x.test", NULL };
	char *env;

	NEED_ROOT(own_host("box", "127.0.0.1 localhost\n", NULL));
	send_argv(argv, "sendmail root u@x.test");
	cr_assert_eq(res.status, 68, "exit %d%s", res.status, ev());
	assert_has(res.err, "mxsend: <root>: cannot qualify 'root': this "
	    "host's name has no domain and /etc/mailname names none; set "
	    "default_domain (in mxsend.conf or MXSEND_DEFAULT_DOMAIN) or an "
	    "alias for 'root' (5.1.2)", "stderr");
	env = relay_file("env-1");
	assert_has(env, "accepted <u@x.test>", "the envelope");
	cr_assert_null(strstr(env, "RCPT TO:<root"), "%s", env);
	free(env);
}

/* The same host with an alias for root: delivered where it says. */
Test(names, alias_serves_when_the_host_has_no_domain)
{
	const char *argv[] = { "sendmail", "root", NULL };
	char *env;

	NEED_ROOT(own_host("box", "127.0.0.1 localhost\n", NULL));
	run_env_file(&re, "aliases", "root: admin@x.test\n", 0644);
	send_argv(argv, "sendmail root");
	cr_assert_eq(res.status, 0, "exit %d%s", res.status, ev());
	env = relay_file("env-1");
	assert_has(env, "accepted <admin@x.test>", "the envelope");
	free(env);
}
