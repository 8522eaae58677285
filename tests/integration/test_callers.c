/*
 * test_callers.c: the real mxsend as the callers of issue 17 run it,
 * against fakesmtp on loopback:
 *  - as "mail" and "mailx" through links of those names (SPEC §2.1), as
 *    smartd, zed and apticron call it: the message it builds (RFC 2047
 *    Subject:, MIME fields for a UTF-8 body, no Bcc:), its envelope, -E;
 *  - with BusyBox sendmail's -S, -au, -ap and -w (SPEC §2), as Alpine
 *    images call it: the route, TLS and AUTH to the -S host, the
 *    configured credentials never sent there, the time-out;
 *  - with aliases files (SPEC §4 aliases, alias_max_recipients): the
 *    format, loops, a fan-out past the bound.
 *
 * Every server is started by the test and stopped by its PID before its
 * records are read.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <dirent.h>
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
static struct server srv;
static int have_srv;
static char srvdir[400], rec[420];
static char hostport[64];	/* the server's, for -S */
static unsigned port;
static double elapsed;

static void
setup(void)
{
	/* alarm, not .timeout: Criterion's timer leaks under LeakSanitizer. */
	run_alarm(120);
	run_env_setup(&re);
	memset(&res, 0, sizeof(res));
	env_clear();
	snprintf(srvdir, sizeof(srvdir), "%s/srv", re.dir);
	snprintf(rec, sizeof(rec), "%s/rec", srvdir);
	cr_assert_eq(mkdir(srvdir, 0700), 0, "mkdir %s", srvdir);
}

static void
teardown(void)
{
	if (have_srv)
		server_stop(&srv);
	have_srv = 0;
	run_result_free(&res);
	hist_free();
	run_env_cleanup(&re);
}

TestSuite(mailx, .init = setup, .fini = teardown);
TestSuite(busybox, .init = setup, .fini = teardown);
TestSuite(aliases, .init = setup, .fini = teardown);

/* Everything a failed assertion should show: the runs, the server. */
static const char *
ev(void)
{
	static char buf[24000];

	buf[0] = '\0';
	ev_runs(buf, sizeof(buf));
	if (have_srv || nsess(rec) > 0)
		ev_server(buf, sizeof(buf), "server", rec);
	return buf;
}

static void	assert_has(const char *, const char *, const char *);
static void	assert_lacks(const char *, const char *, const char *);

/* fakesmtp on 127.0.0.1 with script, then args (NULL-terminated). */
static void
start_server(const char *script, const char *const args[])
{
	cr_assert_eq(spawn_fakesmtp(&srv, srvdir, script, args), 0,
	    "fakesmtp did not start");
	have_srv = 1;
	port = srv.l[0].port;
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%u", port);
}

/* The server as the configured relay, in plain text. */
static void
start_relay(const char *script)
{
	start_server(script, NULL);
	env_set("MXSEND_ROUTE=relay");
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u", port);
	env_set("MXSEND_RELAY_TLS=off");
}

/* Stop the server: its records are then complete. */
static void
stop_server(void)
{
	if (have_srv)
		server_stop(&srv);
	have_srv = 0;
}

/* Record what of session 1 (stopped first), or "" when there is none. */
static char *
record(const char *what)
{
	char *s;

	stop_server();
	s = file_in(rec, 1, what);
	return s != NULL ? s : calloc(1, 1);
}

/* Record what of session 1 holds needle (or, with want 0, does not). */
static void
record_has(const char *what, const char *needle, int want)
{
	char *s = record(what);

	if (want)
		assert_has(s, needle, what);
	else
		assert_lacks(s, needle, what);
	free(s);
}

/* Run argv (argv[0] the name it is called by) with input on stdin. */
static void
run(const char *const argv[], const char *input)
{
	char cmd[400] = "";
	double t0 = now_s();
	int i;

	for (i = 0; argv[i] != NULL; i++)
		append(cmd, sizeof(cmd), "%s%s", i ? " " : "", argv[i]);
	run_result_free(&res);	/* the run before, in this test */
	cr_assert_eq(run_mxsend(&re, argv, input, input ? strlen(input) : 0,
	    env_list(), 60, &res), 0, "mxsend could not be run");
	elapsed = now_s() - t0;
	hist_add(cmd, res.status, elapsed, res.out, res.err);
	cr_assert(!res.timed_out, "%s did not finish%s", cmd, ev());
}

/*
 * The runs that follow start mxsend through a link named name in the
 * test's directory, as an image that links mail to sendmail does.
 */
static void
link_as(const char *name)
{
	char dir[sizeof(re.binary)];

	snprintf(dir, sizeof(dir), "%.*s/bin", (int)sizeof(re.dir), re.dir);
	(void)mkdir(dir, 0755);
	cr_assert_lt((size_t)snprintf(re.binary, sizeof(re.binary), "%.*s/%s",
	    (int)(sizeof(re.binary) / 2), dir, name), sizeof(re.binary));
	cr_assert_eq(symlink(mxsend_path(), re.binary), 0, "symlink %s",
	    re.binary);
}

static void
assert_exit(int want)
{
	cr_assert_eq(res.status, want, "exit %d, want %d%s", res.status, want,
	    ev());
}

static void
assert_has(const char *text, const char *needle, const char *what)
{
	cr_assert(text != NULL && strstr(text, needle) != NULL,
	    "%s lacks \"%s\":\n%s%s", what, needle, text ? text : "(none)",
	    ev());
}

static void
assert_lacks(const char *text, const char *needle, const char *what)
{
	cr_assert(text == NULL || strstr(text, needle) == NULL,
	    "%s has \"%s\":\n%s%s", what, needle, text, ev());
}

/* How many names dir holds. */
static int
names_in(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	cr_assert_not_null(d, "opendir %s", dir);
	while ((de = readdir(d)) != NULL)
		n++;
	closedir(d);
	return n;
}

/* How many lines s has. */
static int
lines(const char *s)
{
	int n = 0;

	for (; s != NULL && *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* ------------------------------------------------------------ mailx */

#define GRUESSE	"Gr\xc3\xbc\xc3\x9f" "e"	/* Grüße */

/* smartd's and zed's call, with -c and -b: SPEC §2.1 whole. */
Test(mailx, utf8_message_with_cc_and_bcc)
{
	const char *argv[] = { "mail", "-s", GRUESSE, "-c", "c@x.test",
	    "-b", "b@x.test", "to@x.test", NULL };

	start_relay("ext PIPELINING\next 8BITMIME\n");
	link_as("mail");
	run(argv, GRUESSE " aus K\xc3\xb6ln\n.\nletzte Zeile\n");
	assert_exit(0);
	cr_assert_eq(res.errlen, 0, "stderr: %s", res.err);
	record_has("env-1", "MAIL FROM:<root@test.example> BODY=8BITMIME", 1);
	record_has("env-1", "accepted <to@x.test>", 1);
	record_has("env-1", "accepted <c@x.test>", 1);
	record_has("env-1", "accepted <b@x.test>", 1);
	record_has("msg-1", "\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n", 1);
	record_has("msg-1", "\r\nTo: to@x.test\r\nCc: c@x.test\r\n", 1);
	record_has("msg-1", "\r\nMIME-Version: 1.0\r\nContent-Type: "
	    "text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n",
	    1);
	record_has("msg-1", "\r\nFrom: root@test.example\r\n", 1);
	record_has("msg-1", "\r\nDate: ", 1);
	record_has("msg-1", "\r\nMessage-ID: <", 1);
	record_has("msg-1", "\r\n\r\n" GRUESSE " aus K\xc3\xb6ln\r\n.\r\n"
	    "letzte Zeile\r\n", 1);
	record_has("msg-1", "b@x.test", 0);
	record_has("msg-1", "Bcc", 0);
}

/* -a as apticron and zed give it; an unqualified address is qualified. */
Test(mailx, a_field_and_unqualified_recipient)
{
	const char *argv[] = { "mail", "-a", "X-Mailer: zed", "-s",
	    "pool degraded", "root", NULL };

	start_relay("ext PIPELINING\n");
	link_as("mail");
	run(argv, "ZFS pool tank is DEGRADED\n");
	assert_exit(0);
	record_has("env-1", "RCPT TO:<root@test.example>", 1);
	record_has("msg-1", "\r\nTo: root@test.example\r\n"
	    "Subject: pool degraded\r\nX-Mailer: zed\r\n", 1);
	record_has("msg-1", "MIME-Version", 0);
}

/* -r: the envelope sender and From:, display name kept. */
Test(mailx, r_is_the_sender_and_from)
{
	const char *argv[] = { "mailx", "-r", "Backup Ops <ops@example.org>",
	    "-s", "nightly", "to@x.test", NULL };

	start_relay("ext PIPELINING\n");
	link_as("mailx");
	run(argv, "done\n");
	assert_exit(0);
	record_has("env-1", "MAIL FROM:<ops@example.org>", 1);
	record_has("msg-1", "\r\nFrom: \"Backup Ops\" <ops@example.org>\r\n",
	    1);
}

/* -E: an empty body sends nothing and leaves nothing; without it, sent. */
Test(mailx, E_sends_nothing_for_an_empty_body)
{
	const char *quiet[] = { "mail", "-E", "-s", "nothing new", "to@x.test",
	    NULL };
	const char *loud[] = { "mail", "-s", "nothing new", "to@x.test",
	    NULL };
	char qdir[400];

	start_relay("ext PIPELINING\n");
	link_as("mail");
	run(quiet, "");
	assert_exit(0);
	cr_assert_eq(res.errlen, 0, "stderr: %s", res.err);
	cr_assert_eq(nsess(rec), 0, "a session for nothing%s", ev());
	snprintf(qdir, sizeof(qdir), "%s/0", re.queue);
	cr_assert_eq(entries(qdir, NULL, 0), 0, "an entry left%s", ev());
	cr_assert(!kept_under(re.dir, "nothing new"), "kept%s", ev());
	run(loud, "");
	assert_exit(0);
	record_has("msg-1", "Subject: nothing new\r\n", 1);
	cr_assert_eq(nsess(rec), 1, "%s", ev());
}

/* Other mailx options: one line on stderr, 64, nothing read or sent. */
Test(mailx, unknown_option_is_a_usage_error)
{
	const char *argv[] = { "mail", "-v", "-s", "x", "to@x.test", NULL };
	const char *none[] = { "mailx", "-s", "x", NULL };

	start_relay("ext PIPELINING\n");
	link_as("mail");
	run(argv, "body\n");
	assert_exit(64);
	cr_assert_eq(lines(res.err), 1, "stderr: %s", res.err);
	assert_has(res.err, "mxsend: mail: unknown option -v; usage: mail ",
	    "stderr");
	run(none, "body\n");
	assert_exit(64);
	assert_has(res.err, "no recipients", "stderr");
	stop_server();
	cr_assert_eq(nsess(rec), 0, "%s", ev());
}

/* Delivered as -bm: the same per-recipient lines and exit status. */
Test(mailx, exit_status_as_bm)
{
	const char *argv[] = { "mail", "-s", "x", "bad@x.test", "good@x.test",
	    NULL };

	start_relay("ext PIPELINING\n"
	    "rcpt match=<bad@ reply 550 5.1.1 No such user\n");
	link_as("mail");
	run(argv, "body\n");
	assert_exit(67);
	assert_has(report_line(res.err, "bad@x.test"), "550 5.1.1 No such user",
	    "the line of bad@x.test");
	record_has("env-1", "accepted <good@x.test>", 1);
}

/* ---------------------------------------------------------- BusyBox */

#define MESSAGE	"From: app@example.org\nTo: a@x.test\nSubject: hi\n\n" \
		"body\n.\nafter the dot\n"

/*
 * Session 1 went under STARTTLS, and its AUTH record is auth (NULL:
 * there is none).
 */
static void
assert_starttls_and_auth(const char *auth)
{
	char *info, *tls;

	tls = record("tls");
	assert_has(tls, "mode starttls", "the TLS record");
	info = record("info");
	if (auth != NULL)
		assert_has(info, auth, "the session");
	else
		assert_lacks(info, "auth ", "the session");
	free(info);
	free(tls);
}

/* Alpine's exact call: the -S host, not the configured route. */
Test(busybox, alpine_t_i_S)
{
	const char *argv[] = { "sendmail", "-t", "-i", "-S", hostport, NULL };

	start_server("ext PIPELINING\n", NULL);
	env_set("MXSEND_ROUTE=mx");	/* that would fail: no DNS here */
	run(argv, MESSAGE);
	assert_exit(0);
	record_has("env-1", "MAIL FROM:<root@test.example>", 1);
	record_has("env-1", "accepted <a@x.test>", 1);
	record_has("msg-1", "\r\n.\r\nafter the dot\r\n", 1);
}

/*
 * The configured relay's credentials stay with it: the -S host offers
 * AUTH and STARTTLS with a certificate nobody vouches for, and gets TLS
 * (not verified, SPEC §2) and the message, but no AUTH.
 */
Test(busybox, configured_credentials_never_go_to_the_S_host)
{
	char cert[400], key[400];
	const char *argv[] = { "sendmail", "-t", "-S", hostport, NULL };
	const char *args[] = { "--tls-cert", cert, "--tls-key", key, NULL };

	make_self_signed(re.dir, cert, key, sizeof(cert));
	start_server("ext PIPELINING\next STARTTLS\next AUTH PLAIN LOGIN\n"
	    "user cfguser cfgpass\nuser keyuser keypass\n", args);
	env_set("MXSEND_ROUTE=relay");
	env_set("MXSEND_RELAY=smtp://cfguser:cfgpass@127.0.0.1:1");
	env_set("MXSEND_RELAY_AUTH=plain login");
	run_env_file(&re, "mxsend.conf", "relay_user keyuser\n"
	    "relay_password keypass\n", 0600);
	run(argv, MESSAGE);
	assert_exit(0);
	assert_starttls_and_auth(NULL);
	cr_assert(!logs_have(rec, NULL, "AUTH"), "AUTH sent%s", ev());
	cr_assert(!logs_have(rec, NULL, "cfgpass") &&
	    !logs_have(rec, NULL, "keypass"), "a password sent%s", ev());
}

/* -au/-ap: AUTH inside verified STARTTLS, and the warning. */
Test(busybox, au_ap_authenticate_inside_verified_tls)
{
	char ca[400], cert[400], key[400];
	const char *argv[] = { "sendmail", "-t", "-S", hostport, "-au", "bob",
	    "-ap", "s3cret-pw", NULL };
	const char *args[] = { "--tls-cert", cert, "--tls-key", key, NULL };

	make_ca_signed(re.dir, "127.0.0.1", ca, cert, key, sizeof(ca));
	start_server("ext PIPELINING\next STARTTLS\ntls-ext PIPELINING\n"
	    "tls-ext AUTH PLAIN LOGIN\nuser bob s3cret-pw\n", args);
	env_set("MXSEND_TLS_CA_FILE=%s", ca);
	run(argv, MESSAGE);
	assert_exit(0);
	assert_has(res.err, "mxsend: warning: -ap: a password on the command "
	    "line is visible to other local users", "stderr");
	assert_lacks(res.err, "s3cret-pw", "stderr");
	assert_starttls_and_auth("auth PLAIN bob ok");
}

/* With -au/-ap, TLS is required: no STARTTLS, no AUTH and no MAIL. */
Test(busybox, au_ap_never_go_in_plain_text)
{
	const char *argv[] = { "sendmail", "-t", "-S", hostport, "-aubob",
	    "-aps3cret-pw", NULL };

	start_server("ext PIPELINING\next AUTH PLAIN LOGIN\n"
	    "user bob s3cret-pw\n", NULL);
	run(argv, MESSAGE);
	assert_exit(75);
	stop_server();
	cr_assert(nsess(rec) >= 1, "not tried%s", ev());
	cr_assert(!logs_have(rec, NULL, "AUTH"), "AUTH in plain text%s",
	    ev());
	cr_assert(!logs_have(rec, NULL, "MAIL FROM"), "MAIL in plain text%s",
	    ev());
}

/* ...and verified: a certificate no trust anchor signed gets nothing. */
Test(busybox, au_ap_refuse_an_unverified_certificate)
{
	char cert[400], key[400];
	const char *argv[] = { "sendmail", "-t", "-S", hostport, "-au", "bob",
	    "-ap", "s3cret-pw", NULL };
	const char *args[] = { "--tls-cert", cert, "--tls-key", key, NULL };

	make_self_signed(re.dir, cert, key, sizeof(cert));
	start_server("ext PIPELINING\next STARTTLS\ntls-ext AUTH PLAIN\n"
	    "user bob s3cret-pw\n", args);
	run(argv, MESSAGE);
	assert_exit(75);
	stop_server();
	cr_assert(!logs_have(rec, NULL, "AUTH"), "AUTH sent%s", ev());
	cr_assert(!logs_have(rec, NULL, "MAIL FROM"), "MAIL sent%s", ev());
}

/*
 * -w: a server that never greets is left after -w seconds, not after
 * timeout_command's 300 (nor the 30 s the server stalls).
 */
Test(busybox, w_bounds_a_silent_server)
{
	const char *argv[] = { "sendmail", "-w", "2", "-S", hostport,
	    "a@x.test", NULL };

	start_server("greeting stall 30\n", NULL);
	run(argv, MESSAGE);
	assert_exit(75);
	cr_assert(elapsed >= 1.8, "gave up after %.2f s, before -w 2%s",
	    elapsed, ev());
	cr_assert(elapsed < 2 + 6 * run_slack(), "took %.2f s with -w 2%s",
	    elapsed, ev());
	cr_assert_not_null(report_line(res.err, "a@x.test"), "%s", ev());
}

/* What -S and -w make of the configuration, as --config-check shows. */
Test(busybox, config_check_shows_the_S_route_and_w)
{
	const char *argv[] = { "sendmail", "-S", "relay.example:2525", "-w",
	    "7", "--config-check", NULL };

	env_set("MXSEND_RELAY=smtp://cfguser:cfgpass@r.example");
	run(argv, NULL);
	assert_exit(0);
	assert_has(res.out, "route relay\nrelay smtp://relay.example:2525\n"
	    "relay_tls may (-S: STARTTLS when offered, not verified)\n"
	    "relay_user (none)\nrelay_password (none)\n", "stdout");
	assert_has(res.out, "\ntimeout_connect 7\n", "stdout");
	assert_has(res.out, "\ntimeout_command 7\ntimeout_data 7\n", "stdout");
	assert_lacks(res.out, "cfguser", "stdout");
}

/* A bad -S is a usage error before anything is read or sent. */
Test(busybox, bad_S_is_64)
{
	static const char *const bad[] = { "", ":25", "mailhog:", "mailhog:0",
	    "mailhog:99999", "mail hog", "[::1", "x:1:2" };
	const char *argv[] = { "sendmail", "-t", "-S", NULL, NULL };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv[3] = bad[i];
		run(argv, MESSAGE);
		assert_exit(64);
		assert_has(res.err, "mxsend: -S '", "stderr");
	}
}

/* ---------------------------------------------------------- aliases */

/* The aliases file of the next runs. */
static void
aliases(const char *text)
{
	run_env_file(&re, "aliases", text, 0644);
}

/*
 * alias_max_recipients: the alias past it fails by name, none of its
 * addresses gets the message, the other recipients do.
 */
Test(aliases, fan_out_past_the_bound_fails_the_alias)
{
	const char *argv[] = { "sendmail", "all", "ops", NULL };

	aliases("all: a1@x.test, a2@x.test, a3@x.test, team\n"
	    "team: t1@x.test, t2@x.test\nops: o@x.test\n");
	env_set("MXSEND_ALIAS_MAX_RECIPIENTS=4");
	start_relay("ext PIPELINING\n");
	run(argv, "Subject: fan\n\nbody\n");
	assert_exit(69);
	assert_has(report_line(res.err, "<all>"), "alias 'all' expands to "
	    "more than 4 addresses (alias_max_recipients) (5.5.3)",
	    "the line of all");
	record_has("env-1", "accepted <o@x.test>", 1);
	record_has("env-1", "a1@x.test", 0);
	record_has("env-1", "t1@x.test", 0);
}

/* The same bound under -bv, and raised: every address is listed. */
Test(aliases, fan_out_bound_under_bv)
{
	const char *argv[] = { "sendmail", "-bv", "all", NULL };

	aliases("all: a1@x.test, a2@x.test, a3@x.test\n");
	env_set("MXSEND_ALIAS_MAX_RECIPIENTS=2");
	run(argv, NULL);
	assert_exit(69);
	assert_has(res.out, "all: undeliverable: alias 'all' expands to more "
	    "than 2 addresses (alias_max_recipients) (5.5.3)\n", "stdout");
	cr_assert_eq(lines(res.out), 1, "%s", res.out);
	env_set("MXSEND_ALIAS_MAX_RECIPIENTS=3");
	env_set("MXSEND_ROUTE=relay");
	env_set("MXSEND_RELAY=smtp://127.0.0.1:2525");
	run(argv, NULL);
	assert_exit(0);
	cr_assert_eq(lines(res.out), 3, "%s", res.out);
	assert_has(res.out, "a3@x.test: deliverable: via 127.0.0.1[127.0.0.1]"
	    ":2525 (relay)\n", "stdout");
}

/* A loop is reported naming the aliases, at once. */
Test(aliases, loop_names_the_aliases)
{
	const char *argv[] = { "sendmail", "-bv", "a", NULL };

	aliases("a: b\nb: c, ok@x.test\nc: a\n");
	env_set("MXSEND_ROUTE=relay");
	env_set("MXSEND_RELAY=smtp://127.0.0.1:2525");
	run(argv, NULL);
	assert_exit(69);
	assert_has(res.out, "c: undeliverable: alias loop: 'c' leads back to "
	    "'a' (5.4.6)\n", "stdout");
	assert_has(res.out, "ok@x.test: deliverable: ", "stdout");
}

/*
 * The aliases(5) format in full, checked by newaliases (no database is
 * made or needed) and used by -bv: comments, continuation lines (a
 * comment between them), quoted names, CRLF, an alias of aliases.
 */
Test(aliases, the_format_in_full)
{
	const char *check[] = { "newaliases", NULL };
	const char *verify[] = { "sendmail", "-bv", "\"root list\"", NULL };
	const char *text = "# the system's aliases\r\n"
	    "\"root list\": admin@x.test,\r\n"
	    "  # who else\r\n"
	    "\tops,\r\n"
	    "  \"quoted, local\"@x.test\r\n"
	    "\n"
	    "ops: o1@x.test, O2@X.TEST\n"
	    "Webmaster : ops\n";
	int before;

	aliases(text);
	before = names_in(re.dir);
	run(check, NULL);
	assert_exit(0);
	assert_has(res.out, "aliases: 3 aliases\n", "stdout");
	cr_assert_eq(names_in(re.dir), before, "a file was made%s", ev());
	env_set("MXSEND_ROUTE=relay");
	env_set("MXSEND_RELAY=smtp://127.0.0.1:2525");
	run(verify, NULL);
	assert_exit(0);
	cr_assert_eq(lines(res.out), 4, "%s", res.out);
	assert_has(res.out, "admin@x.test: deliverable", "stdout");
	assert_has(res.out, "o1@x.test: deliverable", "stdout");
	assert_has(res.out, "O2@x.test: deliverable", "stdout");
	assert_has(res.out, "\"quoted, local\"@x.test: deliverable", "stdout");
	verify[2] = "webmaster";
	run(verify, NULL);
	assert_exit(0);
	cr_assert_eq(lines(res.out), 2, "%s", res.out);
}
