/*
 * test_smtpd.c: mxsend -bs end to end (SPEC §2, issue 17 item 1): the
 * real binary speaks SMTP on stdin/stdout to a client script (what
 * Symfony's and Laravel's sendmail transports send, pipelined batches,
 * 10,000 recipients, over-long lines, a client that leaves mid-DATA, a
 * silent one) or to swaks, and delivers each message it accepts as -bm
 * would, to fakesmtp playing the MX hosts behind fakedns. Each test
 * asserts the replies (stdout holds nothing else), the exit status,
 * what the MX hosts received, and what stayed in the queue.
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
#include <unistd.h>

#include <criterion/criterion.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

#define BODY	"The body line 5c1e of the -bs test."
#define MSG	"From: s@x.test\r\nTo: u@a.test\r\nSubject: -bs\r\n\r\n" \
		BODY "\r\n..a line that began with a dot\r\n"
#define TXN(rcpts) \
	"MAIL FROM:<s@x.test>\r\n" rcpts "DATA\r\n" MSG ".\r\n"

static struct run_env re;
static struct run_result res;
static struct server dns, mx;
static char dnslog[400], mxrec[400], qdir[400], logpath[400];
static unsigned mxport;
static int nmx, have_mx;
static double elapsed;

/* The sender's domain x.test has its own MX: bounces go there. */
static const char zone[] =
    "a.test. MX 10 mx1.a.test.\n"
    "mx1.a.test. A 127.0.0.2\n"
    "b.test. MX 10 mx1.b.test.\n"
    "mx1.b.test. A 127.0.0.3\n"
    "x.test. MX 10 mx1.x.test.\n"
    "mx1.x.test. A 127.0.0.4\n";

#define MX3	"127.0.0.2", "127.0.0.3", "127.0.0.4", NULL

static const char *
ev(void)
{
	static char buf[24000];

	buf[0] = '\0';
	append(buf, sizeof(buf), "\nexit %d%s after %.2f s\n--- stdout:\n"
	    "%.6000s\n--- stderr:\n%.4000s\n", res.status, res.timed_out ?
	    " (TIMED OUT)" : "", elapsed, res.out ? res.out : "",
	    res.err ? res.err : "");
	if (have_mx)
		ev_server(buf, sizeof(buf), "mx", mxrec);
	return buf;
}

static void
setup(void)
{
	alarm(120);
	run_env_setup(&re);
	memset(&dns, 0, sizeof(dns));
	memset(&mx, 0, sizeof(mx));
	memset(&res, 0, sizeof(res));
	env_clear();
	nmx = have_mx = 0;
	mxrec[0] = '\0';
	mxport = mx_suite_start(&re, &dns, zone, dnslog, logpath, qdir);
}

static void
teardown(void)
{
	server_stop(&mx);
	server_stop(&dns);
	run_result_free(&res);
	hist_free();
	run_env_cleanup(&re);
}

TestSuite(smtpd, .init = setup, .fini = teardown);

/* fakesmtp as the MX hosts of a.test, b.test and x.test, one port. */
static void
start_mx(const char *script)
{
	static const char *const addr[] = { MX3 };

	server_stop(&mx);
	fakesmtp_mx_start(&mx, &re, ++nmx, script, mxrec, sizeof(mxrec),
	    &mxport, NULL, addr);
	have_mx = 1;
}

/*
 * Run "/usr/sbin/sendmail -bs [OPTIONS...]" (options NULL-terminated)
 * with the client's side of the session, len octets, as its input, 90 s
 * at most; then stop the MX hosts, so that their records are complete.
 * Returns the exit status.
 */
static int
bs_len(const char *input, size_t len, const char *const options[])
{
	const char *argv[16];
	int argc = 0;
	double t0;

	argv[argc++] = "/usr/sbin/sendmail";
	argv[argc++] = "-bs";
	while (options != NULL && *options != NULL && argc < 15)
		argv[argc++] = *options++;
	argv[argc] = NULL;
	run_result_free(&res);
	t0 = now_s();
	cr_assert_eq(run_mxsend(&re, argv, input, len, env_list(), 90, &res),
	    0, "could not run %s", mxsend_path());
	elapsed = now_s() - t0;
	hist_add("sendmail -bs", res.status, elapsed, res.out, res.err);
	server_stop(&mx);
	cr_assert(!res.timed_out, "mxsend -bs did not finish%s", ev());
	return res.status;
}

/* The same with a NUL-terminated input and the options as arguments. */
static int
bs(const char *input, ...)
{
	const char *options[12];
	size_t n = 0;
	va_list ap;

	va_start(ap, input);
	while ((options[n] = va_arg(ap, const char *)) != NULL)
		cr_assert(++n < 11);
	va_end(ap);
	return bs_len(input, strlen(input), options);
}

#define assert_exit(code) \
	cr_assert_eq(res.status, (code), "want exit %d%s", (code), ev())

#define assert_out(needle) \
	cr_assert(strstr(res.out, (needle)) != NULL, "no '%s' on stdout%s", \
	    (needle), ev())

/* Standard output is the SMTP channel: replies and nothing else. */
static void
assert_only_replies(void)
{
	const char *p = res.out, *e;

	for (; *p != '\0'; p = e + 2) {
		e = strstr(p, "\r\n");
		cr_assert(e != NULL && e - p >= 3 && p[0] >= '2' &&
		    p[0] <= '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
		    p[2] <= '9' && (e - p == 3 || p[3] == ' ' || p[3] == '-'),
		    "not a reply line on stdout at '%.60s'%s", p, ev());
	}
}

/* How many lines of stdout begin with prefix. */
static size_t
count_replies(const char *prefix)
{
	const char *p;
	size_t n = 0, k = strlen(prefix);

	for (p = res.out; p != NULL && *p != '\0'; ) {
		n += strncmp(p, prefix, k) == 0;
		p = strstr(p, "\r\n");
		p = p != NULL ? p + 2 : NULL;
	}
	return n;
}

/* The queue ids in "250 2.0.0 Ok: queued as ID" replies, in order. */
static int
queued_ids(char ids[][IDLEN + 1], int max)
{
	const char *p = res.out, *want = "250 2.0.0 Ok: queued as ";
	int n = 0;

	while ((p = strstr(p, want)) != NULL) {
		p += strlen(want);
		if (n < max && is_id(p, IDLEN))
			snprintf(ids[n++], IDLEN + 1, "%.*s", IDLEN, p);
	}
	return n;
}

/* Entries of this user's queue (uid 0: the tests run as root). */
static int
queue_entries(void)
{
	char path[420];

	snprintf(path, sizeof(path), "%s/%u", qdir, (unsigned)getuid());
	return entries(path, NULL, 0);
}

static int
dead_letter(void)
{
	char path[400];
	struct stat st;

	snprintf(path, sizeof(path), "%s/dead.letter", re.dir);
	return stat(path, &st) == 0;
}

/* The n-th message transaction m of the MX records holds needle. */
static int
msg_has(int n, int m, const char *needle)
{
	char what[16], *msg;
	int found;

	snprintf(what, sizeof(what), "msg-%d", m);
	if ((msg = file_in(mxrec, n, what)) == NULL)
		return 0;
	found = strstr(msg, needle) != NULL;
	free(msg);
	return found;
}

/* ------------------------------------------------ the callers' sessions */

/*
 * Symfony Mailer's SendmailTransport with "-bs" (its default, and
 * Drupal's and Nextcloud's): SmtpTransport over the process, HELO with
 * its local domain, one reply awaited per command, the message with
 * "\r\n." stuffed, then "\r\n.\r\n", and QUIT when it stops.
 */
Test(smtpd, symfony_sendmail_bs)
{
	char ids[2][IDLEN + 1], want[600];
	int n;

	start_mx("");
	bs("HELO [127.0.0.1]\r\nMAIL FROM:<s@x.test>\r\n"
	    "RCPT TO:<u@a.test>\r\nDATA\r\nFrom: s@x.test\r\n"
	    "To: u@a.test\r\nSubject: -bs\r\n\r\n" BODY "\r\n..a line "
	    "that began with a dot\r\n.\r\nQUIT\r\n", NULL);
	assert_exit(0);
	cr_assert_eq(queued_ids(ids, 2), 1, "no queue id%s", ev());
	snprintf(want, sizeof(want), "220 client.test ESMTP mxsend\r\n"
	    "250 client.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued as %s\r\n221 2.0.0 Bye\r\n", ids[0]);
	cr_assert_str_eq(res.out, want, "%s", ev());
	n = delivered_at(mxrec, "127.0.0.2", "u@a.test");
	cr_assert(n > 0, "not delivered%s", ev());
	cr_assert(msg_has(n, 1, BODY "\r\n.a line that began with a dot\r\n"),
	    "the body did not arrive dot-unstuffed%s", ev());
	cr_assert(msg_has(n, 1, "Received: "), "no Received:%s", ev());
	cr_assert_eq(queue_entries(), 0, "an entry stayed%s", ev());
}

/* Laravel's default: "/usr/sbin/sendmail -bs -i", To, Cc and Bcc. */
Test(smtpd, laravel_sendmail_bs_i)
{
	start_mx("");
	bs("HELO [127.0.0.1]\r\n"
	    TXN("RCPT TO:<u@a.test>\r\nRCPT TO:<v@b.test>\r\n"
	    "RCPT TO:<hidden@a.test>\r\n") "QUIT\r\n", "-i", NULL);
	assert_exit(0);
	assert_only_replies();
	cr_assert_eq(count_replies("250 2.1.5 Ok"), 3, "%s", ev());
	assert_out("250 2.0.0 Ok: queued as ");
	cr_assert(delivered_at(mxrec, "127.0.0.2", "u@a.test") > 0 &&
	    delivered_at(mxrec, "127.0.0.2", "hidden@a.test") > 0 &&
	    delivered_at(mxrec, "127.0.0.3", "v@b.test") > 0,
	    "not every recipient got it%s", ev());
}

/*
 * RFC 2920: EHLO, MAIL, the RCPTs and DATA in one write, the message
 * and QUIT right behind: the replies come in order, one per command.
 */
Test(smtpd, pipelining_in_one_write)
{
	start_mx("");
	bs("EHLO client.example\r\n"
	    TXN("RCPT TO:<u@a.test>\r\nRCPT TO:<nobody@a..test>\r\n"
	    "RCPT TO:<v@b.test>\r\n") "QUIT\r\n", NULL);
	assert_exit(0);
	assert_only_replies();
	assert_out("220 client.test ESMTP mxsend\r\n250-client.test\r\n"
	    "250-PIPELINING\r\n250-SIZE 67108864\r\n250-8BITMIME\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "501 5.1.3 Error: bad recipient address syntax\r\n"
	    "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued as ");
	cr_assert(delivered_at(mxrec, "127.0.0.2", "u@a.test") > 0 &&
	    delivered_at(mxrec, "127.0.0.3", "v@b.test") > 0, "%s", ev());
}

Test(smtpd, two_messages_in_one_session)
{
	char ids[3][IDLEN + 1];
	int n;

	start_mx("");
	bs("EHLO c\r\n" TXN("RCPT TO:<u@a.test>\r\n")
	    "RSET\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<w@a.test>\r\n"
	    "DATA\r\nSubject: second\r\n\r\nthe second one\r\n.\r\n"
	    "QUIT\r\n", NULL);
	assert_exit(0);
	assert_only_replies();
	cr_assert_eq(queued_ids(ids, 3), 2, "%s", ev());
	cr_assert_str_neq(ids[0], ids[1], "one queue id for two messages");
	n = delivered_at(mxrec, "127.0.0.2", "u@a.test");
	cr_assert(n > 0 && msg_has(n, 1, BODY), "first message%s", ev());
	n = delivered_at(mxrec, "127.0.0.2", "w@a.test");
	cr_assert(n > 0 && msg_has(n, 1, "the second one"),
	    "second message%s", ev());
	cr_assert_eq(queue_entries(), 0, "%s", ev());
}

/*
 * The client leaves before the final dot: nothing is delivered, nothing
 * sent in part, no queue entry or dead.letter stays; exit 74.
 */
Test(smtpd, client_vanishing_mid_data)
{
	start_mx("");
	bs("EHLO c\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<u@a.test>\r\n"
	    "DATA\r\n" MSG "and then the pipe closes", NULL);
	assert_exit(74);
	assert_only_replies();
	{
		const char *last = "354 End data with <CR><LF>.<CR><LF>\r\n";
		size_t n = strlen(res.out), k = strlen(last);

		cr_assert(n >= k && strcmp(res.out + n - k, last) == 0,
		    "the last reply is not 354%s", ev());
	}
	cr_assert_eq(nsess(mxrec), 0, "the MX had a session%s", ev());
	cr_assert_eq(queue_entries(), 0, "an entry stayed%s", ev());
	cr_assert(!dead_letter(), "dead.letter written%s", ev());
	cr_assert(strstr(res.err, "nothing of it was delivered") != NULL,
	    "stderr does not say so%s", ev());
}

/*
 * A session of EHLO, MAIL, n RCPTs to "<local>N@a.test", DATA with MSG,
 * then tail (malloc'd).
 */
static char *
many_rcpts(size_t n, const char *local, const char *tail)
{
	size_t cap = 100 + n * (strlen(local) + 40) + strlen(MSG) +
	    strlen(tail), len, i;
	char *in = malloc(cap);

	len = (size_t)snprintf(in, cap, "EHLO c\r\nMAIL FROM:<s@x.test>\r\n");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(in + len, cap - len,
		    "RCPT TO:<%s%zu@a.test>\r\n", local, i);
	snprintf(in + len, cap - len, "DATA\r\n" MSG ".\r\n%s", tail);
	return in;
}

/* 10,000 RCPTs: the first 1000 accepted, 452 4.5.3 for the others. */
Test(smtpd, ten_thousand_recipients)
{
	char *in = many_rcpts(10000, "r", "QUIT\r\n");

	start_mx("");
	bs(in, NULL);
	free(in);
	assert_exit(0);
	assert_only_replies();
	cr_assert_eq(count_replies("250 2.1.5 Ok"), 1000, "%s", ev());
	cr_assert_eq(count_replies("452 4.5.3 Error: too many recipients"),
	    9000, "%s", ev());
	assert_out("250 2.0.0 Ok: queued as ");
	cr_assert(delivered_at(mxrec, "127.0.0.2", "r0@a.test") > 0 &&
	    delivered_at(mxrec, "127.0.0.2", "r999@a.test") > 0,
	    "not delivered to the 1000%s", ev());
	cr_assert(!logs_have(mxrec, NULL, "RCPT TO:<r1000@a.test>"),
	    "a refused recipient was sent%s", ev());
}

Test(smtpd, over_long_lines_and_bad_commands)
{
	char in[8192];

	start_mx("");
	snprintf(in, sizeof(in), "EHLO c\r\nNOOP %0*d\r\nMAIL FROM:<s@x.test>"
	    "\r\nRCPT TO:<u@a.test> %0*d\r\nSTARTTLS\r\nEXPN root\r\n"
	    "GET / HTTP/1.0\r\nMAIL FROM:<t@x.test>\r\nDATA extra\r\n"
	    "RCPT TO:<u@a.test> NOTIFY=SUCCESS\r\nRCPT TO:<u@a.test>\r\n"
	    "DATA\r\n" MSG ".\r\nQUIT\r\n", 2000, 0, 3000, 0);
	bs(in, NULL);
	assert_exit(0);
	assert_only_replies();
	assert_out("250 ENHANCEDSTATUSCODES\r\n"
	    "500 5.5.2 Error: line too long\r\n250 2.1.0 Ok\r\n"
	    "500 5.5.2 Error: line too long\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "503 5.5.1 Error: nested MAIL command\r\n"
	    "501 5.5.4 Syntax: DATA\r\n"
	    "555 5.5.4 Error: unsupported parameter NOTIFY\r\n"
	    "250 2.1.5 Ok\r\n354 ");
	assert_out("250 2.0.0 Ok: queued as ");
	cr_assert(delivered_at(mxrec, "127.0.0.2", "u@a.test") > 0, "%s",
	    ev());
}

/* ------------------------------------------ what the final dot says */

/* Every recipient refused: the server's 5xx, no bounce, nothing kept. */
Test(smtpd, every_recipient_failed_is_the_servers_5xx)
{
	start_mx("rcpt match=<u@a.test> reply 550 5.1.1 No such user here\n");
	bs("EHLO c\r\n" TXN("RCPT TO:<u@a.test>\r\n") "QUIT\r\n", NULL);
	assert_exit(0);
	assert_only_replies();
	assert_out("\r\n550 5.1.1 <u@a.test>: host mx1.a.test[127.0.0.2]:");
	assert_out(" said: 550 5.1.1 No such user here (in reply to RCPT TO "
	    "command)\r\n221 2.0.0 Bye\r\n");
	cr_assert(!logs_have(mxrec, "127.0.0.4", "MAIL FROM:<>"),
	    "a bounce was sent%s", ev());
	cr_assert(!dead_letter(), "dead.letter written%s", ev());
	cr_assert_eq(queue_entries(), 0, "an entry stayed%s", ev());
	cr_assert(strstr(res.err, "<u@a.test>: host mx1.a.test") != NULL,
	    "no stderr line for the recipient%s", ev());
}

/* Some refused, some delivered: 250, and a bounce to the sender. */
Test(smtpd, some_recipients_failed_are_bounced)
{
	int n;

	start_mx("rcpt match=<bad@a.test> reply 550 5.1.1 No such user\n");
	bs("EHLO c\r\n" TXN("RCPT TO:<u@a.test>\r\nRCPT TO:<bad@a.test>"
	    "\r\n") "QUIT\r\n", NULL);
	assert_exit(0);
	assert_out("\r\n250 2.0.0 Ok: queued as ");
	cr_assert(delivered_at(mxrec, "127.0.0.2", "u@a.test") > 0, "%s",
	    ev());
	n = delivered_at(mxrec, "127.0.0.4", "s@x.test");
	cr_assert(n > 0, "no bounce to the sender%s", ev());
	cr_assert(msg_has(n, 1, "report-type=delivery-status") &&
	    msg_has(n, 1, "bad@a.test"), "not a DSN for bad@a.test%s", ev());
	cr_assert(logs_have(mxrec, "127.0.0.4", "MAIL FROM:<>"),
	    "the bounce's sender is not <>%s", ev());
}

/* Deferred: 250 once the message is safely in the queue. */
Test(smtpd, deferred_is_250_once_queued)
{
	start_mx("rcpt reply 451 4.3.0 Try again later\n");
	bs("EHLO c\r\n" TXN("RCPT TO:<u@a.test>\r\n") "QUIT\r\n", NULL);
	assert_exit(0);
	assert_out("\r\n250 2.0.0 Ok: queued as ");
	cr_assert_eq(queue_entries(), 1, "not queued%s", ev());
	cr_assert(strstr(res.err, "<u@a.test>: deferred") != NULL, "%s",
	    ev());
}

/*
 * Symfony's ProcessStream gives stderr a pipe it never reads. A long
 * session's stderr lines (here 1000 deferred recipients, over 64 KiB)
 * must not stop it: they are dropped once the pipe is full.
 */
Test(smtpd, stderr_nobody_reads_never_blocks_the_session)
{
	char *in = many_rcpts(1000, "deferred-recipient-",
	    TXN("RCPT TO:<u@a.test>\r\n") "QUIT\r\n");

	start_mx("rcpt reply 451 4.3.0 Try again later\n");
	re.stderr_mode = RUN_STDERR_UNREAD;
	bs(in, NULL);
	free(in);
	assert_exit(0);
	cr_assert_eq(count_replies("250 2.0.0 Ok: queued as "), 2, "%s",
	    ev());
	assert_out("221 2.0.0 Bye\r\n");
}

/* -odq: each message is queued, 250, and nothing is sent yet. */
Test(smtpd, odq_queues_each_message)
{
	start_mx("");
	bs("EHLO c\r\n" TXN("RCPT TO:<u@a.test>\r\n")
	    TXN("RCPT TO:<v@b.test>\r\n") "QUIT\r\n", "-odq", NULL);
	assert_exit(0);
	cr_assert_eq(count_replies("250 2.0.0 Ok: queued as "), 2, "%s",
	    ev());
	cr_assert_eq(queue_entries(), 2, "%s", ev());
	cr_assert_eq(nsess(mxrec), 0, "the MX had a session%s", ev());
}

/* The message is refused whole: 552 over the limit, 554 with a NUL. */
Test(smtpd, size_limit_and_nul)
{
	char in[8192];
	int n;

	start_mx("");
	env_set("MXSEND_MESSAGE_SIZE_LIMIT=1k");
	n = snprintf(in, sizeof(in), "EHLO c\r\nMAIL FROM:<s@x.test> "
	    "SIZE=2000\r\n" TXN("RCPT TO:<u@a.test>\r\n")
	    "MAIL FROM:<s@x.test>\r\nRCPT TO:<u@a.test>\r\nDATA\r\n"
	    "%0*d\r\n.\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<u@a.test>\r\n"
	    "DATA\r\nSubject: nul\r\n\r\na%cb\r\n.\r\nQUIT\r\n", 2000, 0,
	    0);
	cr_assert(n > 0 && (size_t)n < sizeof(in));
	bs_len(in, (size_t)n, NULL);
	assert_exit(0);
	assert_out("250-SIZE 1024\r\n");
	assert_out("552 5.3.4 Error: message size exceeds the limit of 1024 "
	    "octets\r\n");
	assert_out("552 5.3.4 Error: message larger than message_size_limit "
	    "(1024 octets)\r\n");
	assert_out("554 5.6.0 Error: message contains a NUL byte");
	cr_assert_eq(count_replies("250 2.0.0 Ok: queued as "), 1, "%s",
	    ev());
	cr_assert(!dead_letter(), "dead.letter written%s", ev());
	cr_assert_eq(queue_entries(), 0, "%s", ev());
}

/* An alias to a command is refused at RCPT, as -bm refuses it. */
Test(smtpd, alias_of_a_refused_kind_is_550_5_7_1)
{
	start_mx("");
	run_env_file(&re, "aliases", "prog: |/usr/bin/procmail\n"
	    "team: u@a.test, /var/mail/team\n", 0644);
	bs("EHLO c\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<prog>\r\n"
	    "RCPT TO:<prog@test.example>\r\nRCPT TO:<team>\r\nQUIT\r\n",
	    NULL);
	assert_exit(0);
	cr_assert_eq(count_replies("550 5.7.1 <prog"), 2, "%s", ev());
	assert_out("550 5.7.1 <prog>: Recipient address rejected: alias "
	    "'prog' target '|/usr/bin/procmail' refused: mxsend never runs "
	    "commands\r\n");
	/* Part of team can be delivered to: accepted. */
	assert_out("\r\n250 2.1.5 Ok\r\n221 2.0.0 Bye\r\n");
}

/* ----------------------------------------------------- session ends */

Test(smtpd, silent_client_gets_421_after_timeout_command)
{
	char fifo[400];
	int fd;

	snprintf(fifo, sizeof(fifo), "%s/stdin", re.dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));
	/* Held open, never written again: the client says nothing more. */
	cr_assert((fd = open(fifo, O_RDWR)) >= 0);
	cr_assert(write(fd, "EHLO c\r\n", 8) == 8);
	re.stdin_path = fifo;
	env_set("MXSEND_TIMEOUT_COMMAND=1");
	bs("", NULL);
	close(fd);
	assert_exit(74);
	assert_out("250 ENHANCEDSTATUSCODES\r\n421 4.4.2 client.test Error: "
	    "timeout exceeded\r\n");
	cr_assert(elapsed >= 0.9 && elapsed < 10, "%.2f s", elapsed);
}

Test(smtpd, end_of_input_without_quit_between_messages_is_0)
{
	start_mx("");
	bs("EHLO c\r\n" TXN("RCPT TO:<u@a.test>\r\n"), NULL);
	assert_exit(0);
	assert_out("250 2.0.0 Ok: queued as ");
}

Test(smtpd, recipient_arguments_are_a_usage_error)
{
	bs("EHLO c\r\nQUIT\r\n", "u@a.test", NULL);
	assert_exit(64);
	assert_out("421 4.3.5 Error: mxsend -bs takes no recipient arguments"
	    "\r\n");
}

/* --------------------------------------------------------- swaks */

/*
 * swaks (Debian's swaks) as an independent client, with PIPELINING:
 * run in mxsend's place by run_mxsend(), with "mxsend -bs" as its pipe.
 */
Test(smtpd, swaks_pipe_with_pipelining)
{
	const char *argv[] = { "swaks", "--pipe", NULL, "--from", "s@x.test",
	    "--to", "u@a.test,v@b.test", "--pipeline", "--body", BODY,
	    "--header", "Subject: from swaks", NULL };
	char pipe_cmd[600];
	double t0;

	if (access("/usr/bin/swaks", X_OK) != 0)
		cr_skip_test("swaks is not installed (apt-get install swaks; "
		    "scripts/install-deps.sh does)");
	start_mx("");
	snprintf(pipe_cmd, sizeof(pipe_cmd), "%s -bs", mxsend_path());
	argv[2] = pipe_cmd;
	snprintf(re.binary, sizeof(re.binary), "/usr/bin/swaks");
	t0 = now_s();
	cr_assert_eq(run_mxsend(&re, argv, NULL, 0, env_list(), 60, &res), 0);
	elapsed = now_s() - t0;
	server_stop(&mx);
	cr_assert(!res.timed_out, "swaks did not finish%s", ev());
	assert_exit(0);
	assert_out("<-  250-PIPELINING\n");
	/* Pipelined: the replies to MAIL and RCPT came after DATA went. */
	assert_out(" -> DATA\n<-  250 2.1.0 Ok\n<-  250 2.1.5 Ok\n"
	    "<-  250 2.1.5 Ok\n<-  354 ");
	assert_out("<-  250 2.0.0 Ok: queued as ");
	assert_out("<-  221 2.0.0 Bye\n");
	cr_assert(delivered_at(mxrec, "127.0.0.2", "u@a.test") > 0 &&
	    delivered_at(mxrec, "127.0.0.3", "v@b.test") > 0,
	    "not delivered%s", ev());
}
