/*
 * test_oauth.c: the relay's OAuth2 AUTH and where its secret comes from,
 * end to end (SPEC §4 relay_auth, relay_password_file,
 * relay_password_command; §6 the relay route; §10 no secret in output):
 * the real mxsend binary against fakesmtp playing a relay behind STARTTLS
 * (its self-signed certificate pinned) that knows one user's 6 KB access
 * token, and for the next route fakedns and an MX fakesmtp. Each test
 * asserts the exit code, what the relay recorded (which mechanism, and
 * whether the token matched), the stderr line of the recipient, and that
 * the token is in none of -v's output, the transcript, the log or the
 * queue.
 *
 * Every server is started by the test and stopped by its PID.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

#define RCPT		"u@a.test"
#define TOKEN_LEN	6144
#define TLS_RELAY	"ext PIPELINING\next STARTTLS\ntls-ext PIPELINING\n"
#define ALICE		61001	/* uid and gid of the root-only test */

static struct run_env re;
static struct run_result res;
static struct server relay, dns, mx;
static char relaydir[300], relayrec[320], cert[320], key[320], pin[80];
static char logpath[320], trpath[320], mxrec[400];
static char tok[TOKEN_LEN + 1];
static double elapsed;

/* ------------------------------------------------------------ evidence */

static const char *
ev(void)
{
	static char buf[30000];

	buf[0] = '\0';
	append(buf, sizeof(buf), "\nexit %d%s after %.2f s\n--- stderr:\n"
	    "%.3000s\n", res.status, res.timed_out ? " (TIMED OUT)" : "",
	    elapsed, res.err != NULL ? res.err : "");
	ev_file(buf, sizeof(buf), "log", logpath, 2000);
	ev_file(buf, sizeof(buf), "transcript", trpath, 2500);
	ev_server(buf, sizeof(buf), "relay", relayrec);
	ev_runs(buf, sizeof(buf));
	return buf;
}

#define assert_exit(code) \
	cr_assert_eq(res.status, (code), "want exit %d%s", (code), ev())

/* ------------------------------------------------------------ servers */

/* A token that is its own evidence: "tok6k-" and a pattern of digits. */
static void
make_token(void)
{
	size_t i;

	for (i = 0; i < TOKEN_LEN; i++)
		tok[i] = "0123456789abcdefghij-_."[(i * 7 + i / 23) % 23];
	memcpy(tok, "tok6k-", 6);
	tok[TOKEN_LEN] = '\0';
}

static void
setup(void)
{
	alarm(90);
	run_env_setup(&re);	/* each test is a process: statics are 0 */
	make_token();
	env_clear();
	snprintf(logpath, sizeof(logpath), "%s/mxsend.log", re.dir);
	snprintf(trpath, sizeof(trpath), "%s/transcript", re.dir);
	snprintf(relaydir, sizeof(relaydir), "%s/relay", re.dir);
	cr_assert_eq(mkdir(relaydir, 0755), 0);
	env_set("MXSEND_LOG=%s", logpath);
	env_set("MXSEND_TRANSCRIPT=%s", trpath);
	env_set("MXSEND_TIMEOUT_CONNECT=2");
	env_set("MXSEND_TIMEOUT_COMMAND=3");
	env_set("MXSEND_TIMEOUT_DATA=3");
	env_set("MXSEND_DEFAULT_DOMAIN=test.example");
	env_set("MXSEND_HELO=client.test");
	env_set("MXSEND_ROUTE=relay");
	env_set("MXSEND_QUEUE_DIR=%s", re.queue);
}

static void
teardown(void)
{
	server_stop(&relay);
	server_stop(&mx);
	server_stop(&dns);
	run_result_free(&res);
	hist_free();
	run_env_cleanup(&re);
}

TestSuite(oauth, .init = setup, .fini = teardown);

/* The SHA-256 pin of the relay's certificate, from certtool. */
static void
pin_certificate(void)
{
	char cmd[400];
	FILE *p;

	make_self_signed(relaydir, cert, key, sizeof(cert));
	snprintf(cmd, sizeof(cmd), "certtool --fingerprint --hash=sha256 "
	    "--infile '%s'", cert);
	cr_assert_not_null(p = popen(cmd, "r"));
	cr_assert_not_null(fgets(pin, sizeof(pin), p));
	pclose(p);
	pin[strcspn(pin, "\n")] = '\0';
	cr_assert_eq(strlen(pin), 64, "certtool printed %s", pin);
}

/*
 * The relay: STARTTLS, then AUTH offering mechs, knowing "user" with
 * secret; more is appended to the script. Sets MXSEND_RELAY (user "user",
 * no password) and the pin.
 */
static void
start_relay(const char *mechs, const char *secret, const char *more)
{
	static const char *const args[] = { "--tls-cert", cert, "--tls-key",
	    key, NULL };
	char *script;

	if (cert[0] == '\0')
		pin_certificate();
	cr_assert_not_null(script = malloc(strlen(secret) + strlen(more) +
	    300));
	sprintf(script, TLS_RELAY "tls-ext AUTH %s\nuser user %s\n%s", mechs,
	    secret, more);
	cr_assert_eq(spawn_fakesmtp(&relay, relaydir, script, args), 0,
	    "fakesmtp (relay) did not start");
	free(script);
	snprintf(relayrec, sizeof(relayrec), "%s/rec", relaydir);
	env_set("MXSEND_RELAY=smtp://user@127.0.0.1:%u", relay.l[0].port);
	env_set("MXSEND_RELAY_FINGERPRINT=%s", pin);
}

/* The MX fakesmtp on the addresses that follow port (NULL-terminated). */
static void
mx_vstart(unsigned *port, ...)
{
	va_list ap;

	va_start(ap, port);
	fakesmtp_mx_vstart(&mx, &re, 1, "ext PIPELINING\n", mxrec,
	    sizeof(mxrec), port, NULL, ap);
	va_end(ap);
}

/* fakedns and an MX that takes mail for a.test, for route relay mx. */
static void
start_mx(void)
{
	char zone[400], dnslog[400];
	unsigned port = pick_port();

	snprintf(zone, sizeof(zone), "%s", run_env_file(&re, "zone",
	    "a.test. MX 10 mx1.a.test.\nmx1.a.test. A 127.0.0.2\n", 0644));
	snprintf(dnslog, sizeof(dnslog), "%s/dns.log", re.dir);
	fakedns_start(&dns, zone, dnslog, NULL);
	mx_vstart(&port, "127.0.0.2", NULL);
}

/* ------------------------------------------------------------ runs */

/* Run mxsend with argv (NULL-terminated) and a message to RCPT. */
static int
run_args(const char *const argv[])
{
	static const char msg[] = "From: s@test.example\nTo: " RCPT "\n"
	    "Subject: oauth\n\nThe body.\n";
	char cmd[400] = "";
	double t0 = now_s();
	int i;

	for (i = 0; argv[i] != NULL; i++)
		append(cmd, sizeof(cmd), "%s ", argv[i]);
	run_result_free(&res);
	cr_assert_eq(run_mxsend(&re, argv, msg, sizeof(msg) - 1, env_list(),
	    40, &res), 0, "could not run %s", mxsend_path());
	elapsed = now_s() - t0;
	hist_add(cmd, res.status, elapsed, res.out, res.err);
	cr_assert(!res.timed_out, "mxsend did not finish%s", ev());
	return res.status;
}

/* "sendmail -t" with one more option (or NULL). */
static int
send1(const char *opt)
{
	const char *argv[] = { "sendmail", "-t", opt, NULL };

	return run_args(argv);
}

/* dir/name written with text and mode; its path (static buffer). */
static const char *
secret_file(const char *name, const char *text, int mode)
{
	return run_env_file(&re, name, text, mode);
}

/* A script in the test directory: "#!/bin/sh" and body, mode 0755. */
static const char *
script(const char *name, const char *body)
{
	char text[1024];

	snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
	return run_env_file(&re, name, text, 0755);
}

/* ---------------------------------------------------------- assertions */

/* The relay's info for session n has needle. */
static void
assert_relay_info(int n, const char *needle)
{
	char *info = file_in(relayrec, n, "info");

	cr_assert(info != NULL && strstr(info, needle) != NULL,
	    "relay session %d lacks \"%s\"%s", n, needle, ev());
	free(info);
}

static int
relay_logged(int n, const char *needle)
{
	char *log = file_in(relayrec, n, "log");
	int found = log != NULL && strstr(log, needle) != NULL;

	free(log);
	return found;
}

/* RCPT's stderr line (not a -v dialogue line) has each needle. */
static void
assert_rcpt_line(const char *needle1, const char *needle2)
{
	const char *l = line_with(res.err, "<" RCPT ">: ");

	cr_assert(l != NULL, "no stderr line for " RCPT "%s", ev());
	cr_assert(strstr(l, needle1) != NULL, "stderr line lacks \"%s\"%s",
	    needle1, ev());
	cr_assert(needle2 == NULL || strstr(l, needle2) != NULL,
	    "stderr line lacks \"%s\"%s", needle2, ev());
}

/*
 * Whether s holds the token (a piece of it, 40 octets from its middle) or
 * a response that carries it: XOAUTH2's and OAUTHBEARER's start with the
 * base64 of "user=user" and of "n,a=user,".
 */
static int
shows_token(const char *s)
{
	char piece[41];

	memcpy(piece, tok + 2000, 40);
	piece[40] = '\0';
	return s != NULL && (strstr(s, piece) != NULL ||
	    strstr(s, "dXNlcj11c2Vy") != NULL ||
	    strstr(s, "bixhPXVzZXIs") != NULL);
}

static int token_seen;

static int
file_shows_token(const char *path, const struct stat *st, int flag,
    struct FTW *f)
{
	char *s;

	(void)st;
	(void)f;
	if (flag != FTW_F)
		return 0;
	if (shows_token(s = slurp(path, NULL))) {
		token_seen = 1;
		fprintf(stderr, "the token is in %s\n", path);
	}
	free(s);
	return token_seen;
}

/* SPEC §10: not in -v's output, the transcript, the log or the queue. */
static void
assert_token_nowhere(void)
{
	cr_assert(!shows_token(res.err), "the token on stderr%s", ev());
	cr_assert(!shows_token(res.out), "the token on stdout%s", ev());
	token_seen = 0;
	(void)file_shows_token(logpath, NULL, FTW_F, NULL);
	(void)file_shows_token(trpath, NULL, FTW_F, NULL);
	nftw(re.queue, file_shows_token, 8, FTW_PHYS);
	cr_assert(!token_seen, "the token in the log, transcript or "
	    "queue%s", ev());
}

/* ------------------------------------------------------------ tests */

/*
 * SPEC §4: a 6 KB token (Microsoft's run to several KB) in a file written
 * with CRLF, through XOAUTH2, with -v: delivered, the relay saw its user's
 * token, and the token is nowhere in what mxsend wrote.
 */
Test(oauth, xoauth2_6kb_token_from_a_crlf_file)
{
	char text[TOKEN_LEN + 8];

	start_relay("XOAUTH2 PLAIN", tok, "");
	snprintf(text, sizeof(text), "%s\r\n", tok);
	env_set("MXSEND_RELAY_PASSWORD_FILE=%s", secret_file("token", text,
	    0600));
	env_set("MXSEND_RELAY_AUTH=xoauth2");
	send1("-v");
	server_stop(&relay);
	assert_exit(0);
	assert_relay_info(1, "\nauth XOAUTH2 user ok\n");
	cr_assert(strstr(res.err, "--> AUTH XOAUTH2") != NULL, "AUTH not "
	    "shown under -v%s", ev());
	assert_token_nowhere();
}

/* RFC 7628: OAUTHBEARER names the relay's host and port. */
Test(oauth, oauthbearer_6kb_token)
{
	char want[80];

	start_relay("OAUTHBEARER XOAUTH2", tok, "");
	env_set("MXSEND_RELAY_PASSWORD_FILE=%s", secret_file("token", tok,
	    0600));
	env_set("MXSEND_RELAY_AUTH=oauthbearer xoauth2");
	send1("-v");
	server_stop(&relay);
	assert_exit(0);
	snprintf(want, sizeof(want), "\noauthbearer host=127.0.0.1 port=%u\n"
	    "auth OAUTHBEARER user ok\n", relay.l[0].port);
	assert_relay_info(1, want);
	assert_token_nowhere();
}

/*
 * The token file is read at every attempt: a stale token is refused
 * (535, the server's reply on stderr, queued, 75); the timer writes a
 * new one; the next -q delivers with it.
 */
Test(oauth, refreshed_token_file_is_picked_up_by_the_queue_run)
{
	const char *argv[] = { "sendmail", "-qR" RCPT, NULL };
	char ids[4][IDLEN + 1];
	char udir[400];

	start_relay("XOAUTH2", tok, "");
	env_set("MXSEND_RELAY_PASSWORD_FILE=%s", secret_file("token",
	    "expired-token\n", 0600));
	env_set("MXSEND_RELAY_AUTH=xoauth2");
	send1(NULL);
	assert_exit(75);
	assert_rcpt_line("deferred", "535 5.7.8");
	snprintf(udir, sizeof(udir), "%s/%u", re.queue, (unsigned)getuid());
	cr_assert_eq(entries(udir, ids, 4), 1, "not queued%s", ev());
	(void)secret_file("token", tok, 0600);
	run_args(argv);
	server_stop(&relay);
	assert_exit(0);
	assert_relay_info(1, "\nauth XOAUTH2 user failed\n");
	assert_relay_info(2, "\nauth XOAUTH2 user ok\n");
	/* The error challenge was answered: XOAUTH2's empty line. */
	cr_assert(relay_logged(1, "\nB5 \n"), "no empty response%s", ev());
	cr_assert_eq(entries(udir, ids, 4), 0, "still queued%s", ev());
	assert_token_nowhere();
}

/* A refused token makes this relay unusable: the next route delivers. */
Test(oauth, refused_token_goes_to_the_next_route)
{
	start_mx();
	start_relay("OAUTHBEARER", tok, "auth-fail 535 5.7.139 Authentication "
	    "unsuccessful, basic authentication is disabled\n");
	env_set("MXSEND_ROUTE=relay mx");
	env_set("MXSEND_RELAY_PASSWORD=not-the-token");
	env_set("MXSEND_RELAY_AUTH=oauthbearer");
	send1(NULL);
	server_stop(&relay);
	server_stop(&mx);
	assert_exit(0);
	assert_relay_info(1, "\nauth OAUTHBEARER user failed\n");
	cr_assert(relay_logged(1, " AQ==\n"), "the error challenge was not "
	    "answered with %%x01%s", ev());
	cr_assert(!relay_logged(1, "MAIL FROM"), "MAIL after AUTH 535%s",
	    ev());
	{
		char *env = file_in(mxrec, 1, "env-1");

		cr_assert(env != NULL && strstr(env, "accepted <" RCPT ">") !=
		    NULL && strstr(env, "result 250") != NULL,
		    "the MX did not get it%s", ev());
		free(env);
	}
}

/* relay_auth any is the password mechanisms: never XOAUTH2. */
Test(oauth, any_never_uses_xoauth2)
{
	start_relay("XOAUTH2", tok, "");
	env_set("MXSEND_RELAY_PASSWORD=%s", tok);
	send1(NULL);
	server_stop(&relay);
	assert_exit(75);
	assert_rcpt_line("deferred", "offers no allowed AUTH mechanism");
	cr_assert(!relay_logged(1, "AUTH"), "AUTH was sent%s", ev());
}

/* A bearer token is the secret itself: never sent without TLS. */
Test(oauth, token_never_sent_in_clear)
{
	char *script;

	cr_assert_not_null(script = malloc(sizeof(tok) + 100));
	sprintf(script, "ext PIPELINING\next AUTH XOAUTH2 OAUTHBEARER\n"
	    "user user %s\n", tok);
	cr_assert_eq(spawn_fakesmtp(&relay, relaydir, script, NULL), 0,
	    "fakesmtp (relay) did not start");
	free(script);
	snprintf(relayrec, sizeof(relayrec), "%s/rec", relaydir);
	env_set("MXSEND_RELAY=smtp://user@127.0.0.1:%u", relay.l[0].port);
	env_set("MXSEND_RELAY_TLS=off");
	env_set("MXSEND_RELAY_AUTH=xoauth2 oauthbearer");
	env_set("MXSEND_RELAY_PASSWORD=%s", tok);
	send1(NULL);
	server_stop(&relay);
	assert_exit(75);
	assert_rcpt_line("deferred", "XOAUTH2 and OAUTHBEARER send the "
	    "secret itself and are only used under TLS");
	cr_assert(!relay_logged(1, "AUTH"), "AUTH was sent%s", ev());
	cr_assert(!relay_logged(1, tok), "the token was sent%s", ev());
}

/* ------------------------------------------------------ the command */

/* msmtp's passwordeval, without a shell: path and arguments. */
Test(oauth, password_command_prints_the_token)
{
	char cmd[700];

	start_relay("XOAUTH2", tok, "");
	snprintf(cmd, sizeof(cmd), "%s ", script("get-token", "cat \"$1\""));
	strcat(cmd, secret_file("token", tok, 0600));
	env_set("MXSEND_RELAY_PASSWORD_COMMAND=%s", cmd);
	env_set("MXSEND_RELAY_AUTH=xoauth2");
	send1("-v");
	server_stop(&relay);
	assert_exit(0);
	assert_relay_info(1, "\nauth XOAUTH2 user ok\n");
	assert_token_nowhere();
}

/* Its failure: the relay is unusable now, named with path and stderr. */
Test(oauth, password_command_failure_names_path_and_stderr)
{
	const char *cmd = script("get-token", "echo 'invalid_grant: refresh "
	    "token expired' >&2; exit 1");
	char *log;

	start_relay("XOAUTH2", tok, "");
	env_set("MXSEND_RELAY_PASSWORD_COMMAND=%s", cmd);
	env_set("MXSEND_RELAY_AUTH=xoauth2");
	send1(NULL);
	server_stop(&relay);
	assert_exit(75);
	assert_rcpt_line(cmd, "exited with status 1: invalid_grant: refresh "
	    "token expired");
	cr_assert(!relay_logged(1, "AUTH"), "AUTH was sent%s", ev());
	log = slurp(logpath, NULL);
	cr_assert(log != NULL && strstr(log, "invalid_grant") != NULL,
	    "the log does not say why%s", ev());
	free(log);
}

/* A command that hangs is bounded (here by the deadline) and queued. */
Test(oauth, password_command_that_hangs_is_killed)
{
	const char *cmd = script("get-token", "echo 'waiting for the IdP' >&2;"
	    " exec sleep 60");
	char deadline[16];

	/* Scaled: under valgrind the TLS handshake alone may take 2 s. */
	run_seconds(deadline, 2);
	start_relay("XOAUTH2", tok, "");
	env_set("MXSEND_RELAY_PASSWORD_COMMAND=%s", cmd);
	env_set("MXSEND_RELAY_AUTH=xoauth2");
	env_set("MXSEND_DEADLINE=%s", deadline);
	send1(NULL);
	server_stop(&relay);
	assert_exit(75);
	cr_assert(elapsed < 6 * run_slack(), "took %.1f s with deadline %s%s",
	    elapsed, deadline, ev());
	assert_rcpt_line(cmd, "did not finish before the delivery deadline "
	    "(killed): waiting for the IdP");
}

/* Not absolute: a configuration error, named (SPEC §4, 78). */
Test(oauth, password_command_not_absolute_is_78)
{
	env_set("MXSEND_RELAY=smtp://user@127.0.0.1:9");
	env_set("MXSEND_RELAY_PASSWORD_COMMAND=get-token --user me");
	send1(NULL);
	assert_exit(78);
	cr_assert(strstr(res.err, "MXSEND_RELAY_PASSWORD_COMMAND") != NULL &&
	    strstr(res.err, "an absolute path") != NULL, "%s", ev());
}

/* --config-check shows the command; the URL's password stays masked. */
Test(oauth, config_check_shows_the_command)
{
	const char *argv[] = { "sendmail", "--config-check", NULL };

	env_set("MXSEND_RELAY=smtp://user:Url-S3cret@127.0.0.1:9");
	env_set("MXSEND_RELAY_PASSWORD_COMMAND=/usr/local/bin/get-token "
	    "--user me");
	env_set("MXSEND_RELAY_AUTH=xoauth2 oauthbearer");
	run_args(argv);
	assert_exit(0);
	cr_assert(strstr(res.out, "relay_password_command "
	    "/usr/local/bin/get-token --user me\n") != NULL, "%s", ev());
	cr_assert(strstr(res.out, "relay_auth xoauth2 oauthbearer\n") !=
	    NULL, "%s", ev());
	cr_assert(strstr(res.out, "Url-S3cret") == NULL, "%s", ev());
}

/* -------------------------------------------------- root's queue run */

/* Run as alice until root_again(). */
static void
as_alice(void)
{
	run_env_as_user(&re, ALICE, ALICE);
}

/*
 * A token file shared through a group (SPEC §4): alice may send. Root's
 * -q reads it in the child that became alice (queue.c's queue_visit), so
 * when alice may no longer read it the relay fails for that attempt,
 * named with the file and the user, and the message stays queued; when
 * she may again, the next -q delivers it.
 */
Test(oauth, root_queue_run_reads_the_token_as_the_user)
{
	const char *qargv[] = { "sendmail", "-qR" RCPT, NULL };
	char path[400], want[500], udir[400], ids[4][IDLEN + 1];

	if (geteuid() != 0)
		cr_skip_test("needs root: runs as another user");
	start_relay("XOAUTH2", tok, "");
	snprintf(path, sizeof(path), "%s", secret_file("token", tok, 0640));
	cr_assert_eq(chown(path, 0, ALICE), 0);
	env_set("MXSEND_RELAY_PASSWORD_FILE=%s", path);
	env_set("MXSEND_RELAY_AUTH=xoauth2");
	env_set("MXSEND_LOG=stderr");
	env_unset("MXSEND_TRANSCRIPT");
	as_alice();
	send1("-odq");
	assert_exit(0);
	re.as_user = 0;
	cr_assert_eq(chmod(path, 0600), 0);
	run_args(qargv);
	snprintf(want, sizeof(want), "relay_password_file %s: %s (read as "
	    "user mxtest, uid %u)", path, strerror(EACCES), ALICE);
	assert_rcpt_line("deferred", want);
	snprintf(udir, sizeof(udir), "%s/%u", re.queue, ALICE);
	cr_assert_eq(entries(udir, ids, 4), 1, "not kept%s", ev());
	cr_assert(!relay_logged(1, "AUTH"), "AUTH without the token%s", ev());
	cr_assert_eq(chmod(path, 0640), 0);
	run_args(qargv);
	server_stop(&relay);
	cr_assert_eq(entries(udir, ids, 4), 0, "not delivered%s", ev());
	assert_relay_info(2, "\nauth XOAUTH2 user ok\n");
}
