/*
 * test_fakesmtp.c: the scripted SMTP server (fakesmtp.c) driven over a raw
 * socket, as its users, the integration tests, rely on it: the greeting and
 * EHLO lists, the batch numbers in the session log, DATA dot-unstuffing,
 * BDAT, recipient limits and per-address replies, faults (close, reset,
 * stall, over-long, endless, malformed replies, the body stage that
 * breaks mid-message, a TLS alert after STARTTLS), protocol checks,
 * STARTTLS and implicit TLS with a certificate made by certtool at test
 * time, AUTH PLAIN, LOGIN, CRAM-MD5 and SCRAM-SHA-256 (RFC 7677's
 * example), XOAUTH2 and OAUTHBEARER (RFC 7628's error challenge, a 64 KiB
 * token, a scripted failure reply), session numbering and --max-sessions.
 * Every server is stopped by its PID.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "spawn.h"
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#define WAIT_MS		5000	/* longest wait for any reply or file */

struct client {
	int		 fd;
	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;
	char		 buf[1 << 18];
	size_t		 len;
};

static char dir[64];
static struct server srv;
static struct client cl;

/* Wait (bounded) for a record file; the server writes .done last. */
static char *
wait_record(const char *name)
{
	return record_wait(dir, name, WAIT_MS);
}

static void
assert_record(const char *name, const char *want)
{
	char *s = wait_record(name);

	cr_assert_str_eq(s, want, "%s:\n%s", name, s);
	free(s);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_fakesmtp.XXXXXX");
	cr_assert(mkdtemp(dir) != NULL);
	memset(&srv, 0, sizeof(srv));
	cl.fd = -1;
	cl.tls = NULL;
	cl.cred = NULL;
	cl.len = 0;
}

static void
client_close(void)
{
	if (cl.tls != NULL)
		gnutls_deinit(cl.tls);
	if (cl.cred != NULL)
		gnutls_certificate_free_credentials(cl.cred);
	if (cl.fd >= 0)
		close(cl.fd);
	cl.tls = NULL;
	cl.cred = NULL;
	cl.fd = -1;
	cl.len = 0;
}

static void
teardown(void)
{
	client_close();
	server_stop(&srv);
	remove_tree(dir);
}

TestSuite(fakesmtp, .init = setup, .fini = teardown, .timeout = 60);

/*
 * Start fakesmtp with script text on 127.0.0.1 port 0 (and whatever
 * NULL-terminated extra arguments follow), wait for "ready": every line
 * before it names a listener and the server's own PID.
 */
static void
start(const char *script, ...)
{
	static const char *const args[] = { "--lifetime", "30", NULL };
	va_list ap;
	int rc, i;

	va_start(ap, script);
	rc = spawn_fakesmtp_va(&srv, dir, script, args, ap);
	va_end(ap);
	cr_assert_eq(rc, 0, "no ready line from fakesmtp");
	cr_assert_eq(srv.nbad, 0, "%s", srv.bad);
	for (i = 0; i < srv.nl; i++)
		cr_assert_eq(srv.l[i].pid, srv.pid);
	cr_assert(srv.nl > 0);
}

static void
c_connect_addr(unsigned long addr, unsigned port)
{
	struct sockaddr_in sin;

	client_close();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl((uint32_t)addr);
	cr_assert((cl.fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	cr_assert(connect(cl.fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	    "connect: %s", strerror(errno));
}

static void
c_connect(unsigned port)
{
	c_connect_addr(INADDR_LOOPBACK, port);
}

/* All of text in one write, so that it is one flight. */
static void
c_sendn(const void *p, size_t n)
{
	if (cl.tls != NULL) {
		cr_assert(gnutls_record_send(cl.tls, p, n) == (ssize_t)n);
		return;
	}
	cr_assert(send(cl.fd, p, n, MSG_NOSIGNAL) == (ssize_t)n);
}

static void
c_send(const char *text)
{
	c_sendn(text, strlen(text));
}

/* Read more into cl.buf within timeout_ms: octets read, 0 EOF, -1 none. */
static int
c_more(int timeout_ms)
{
	struct pollfd pfd = { cl.fd, POLLIN, 0 };
	ssize_t n;

	if (cl.len >= sizeof(cl.buf) - 1)
		return -1;
	if ((cl.tls == NULL || gnutls_record_check_pending(cl.tls) == 0) &&
	    poll(&pfd, 1, timeout_ms) <= 0)
		return -1;
	if (cl.tls != NULL) {
		do
			n = gnutls_record_recv(cl.tls, cl.buf + cl.len,
			    sizeof(cl.buf) - 1 - cl.len);
		while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
		if (n < 0)
			n = 0;
	} else
		n = recv(cl.fd, cl.buf + cl.len, sizeof(cl.buf) - 1 - cl.len,
		    0);
	if (n <= 0)
		return 0;
	cl.len += (size_t)n;
	cl.buf[cl.len] = '\0';
	return (int)n;
}

/*
 * Read one complete reply (all its lines) into out; returns its code, or
 * -1 at a time-out or end of file.
 */
static int
c_reply(char *out, size_t size)
{
	long end = ms_now() + WAIT_MS;
	char *p, *nl;
	size_t n;

	for (;;) {
		for (p = cl.buf; (nl = memchr(p, '\n',
		    cl.len - (size_t)(p - cl.buf))) != NULL; p = nl + 1) {
			if (nl - p >= 4 && p[3] == '-')
				continue;
			n = (size_t)(nl + 1 - cl.buf);
			cr_assert(n < size, "reply too long");
			memcpy(out, cl.buf, n);
			out[n] = '\0';
			memmove(cl.buf, cl.buf + n, cl.len - n);
			cl.len -= n;
			return atoi(out);
		}
		if (ms_now() >= end || c_more((int)(end - ms_now())) <= 0)
			return -1;
	}
}

/* Send cmd (if not NULL) and expect a reply starting with want. */
static void
expect(const char *cmd, const char *want)
{
	char r[8192];

	if (cmd != NULL)
		c_send(cmd);
	cr_assert(c_reply(r, sizeof(r)) >= 0, "no reply to %s", cmd);
	cr_assert(strncmp(r, want, strlen(want)) == 0,
	    "to %s: got \"%s\", want \"%s\"", cmd ? cmd : "(nothing)", r,
	    want);
}

/* Connect to the first listener and take the greeting and EHLO. */
static void
session_start(void)
{
	c_connect(srv.l[0].port);
	expect(NULL, "220 ");
	expect("EHLO client.test\r\n", "250");
}

static void
b64(const char *in, size_t n, char *out, size_t size)
{
	gnutls_datum_t d = { (unsigned char *)in, (unsigned)n }, r;

	cr_assert(gnutls_base64_encode2(&d, &r) == 0);
	cr_assert(r.size < size);
	memcpy(out, r.data, r.size);
	out[r.size] = '\0';
	gnutls_free(r.data);
}

static void
unb64(const char *in, char *out, size_t size)
{
	gnutls_datum_t d = { (unsigned char *)in, (unsigned)strlen(in) }, r;

	cr_assert(gnutls_base64_decode2(&d, &r) == 0, "bad base64 %s", in);
	cr_assert(r.size < size);
	memcpy(out, r.data, r.size);
	out[r.size] = '\0';
	gnutls_free(r.data);
}

/* ------------------------------------------------------------ basics */

Test(fakesmtp, greeting_and_ehlo_list)
{
	char r[4096];

	start("# comment\n"
	    "ext PIPELINING\next SIZE 1000000\next CHUNKING\next 8BITMIME\n"
	    "ext SMTPUTF8\next DSN\next ENHANCEDSTATUSCODES\n"
	    "ext AUTH PLAIN LOGIN\n", NULL);
	c_connect(srv.l[0].port);
	cr_assert_eq(c_reply(r, sizeof(r)), 220);
	cr_assert_str_eq(r, "220 fakesmtp.test ESMTP fakesmtp\r\n");
	c_send("EHLO client.test\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_str_eq(r, "250-fakesmtp.test\r\n250-PIPELINING\r\n"
	    "250-SIZE 1000000\r\n250-CHUNKING\r\n250-8BITMIME\r\n"
	    "250-SMTPUTF8\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250 AUTH PLAIN LOGIN\r\n");
	expect("NOOP\r\n", "250 2.0.0");
	expect("VRFY x\r\n", "502 5.5.2");
	expect("QUIT\r\n", "221 ");
	cr_assert_eq(c_more(WAIT_MS), 0, "no close after QUIT");
	assert_record("session-1.done", "quit\n");
	assert_record("session-1.log", "B1 EHLO client.test\nB2 NOOP\n"
	    "B3 VRFY x\nB4 QUIT\n");
}

Test(fakesmtp, no_extensions_and_script_errors)
{
	char r[256];

	start("", NULL);
	c_connect(srv.l[0].port);
	expect(NULL, "220 ");
	c_send("EHLO c\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_str_eq(r, "250 fakesmtp.test\r\n");
	client_close();
	server_stop(&srv);

	/* A bad script is refused at start: exit 1, no ready line. */
	{
		char path[128];
		const char *bad[] = { support_path("fakesmtp"), "--listen",
		    "127.0.0.1:0", "--script", path, "--lifetime", "5", NULL };
		const char *wild[] = { support_path("fakesmtp"), "--listen",
		    "192.0.2.1:0", "--lifetime", "5", NULL };
		int st;

		snprintf(path, sizeof(path), "%s/bad", dir);
		write_file(path, "rcpt frobnicate\n");
		st = server_run(bad, "/dev/null", WAIT_MS);
		cr_assert(st != -1 && WIFEXITED(st));
		cr_assert_eq(WEXITSTATUS(st), 1);
		st = server_run(wild, "/dev/null", WAIT_MS);
		cr_assert(st != -1 && WIFEXITED(st));
		cr_assert_eq(WEXITSTATUS(st), 1,
		    "a non-loopback address was accepted");
	}
}

Test(fakesmtp, multiline_greeting_ehlo_502_and_helo)
{
	char r[256];

	start("greeting reply 220-fake.test first\n+ 220 fake.test second\n"
	    "ehlo reply 502 5.5.2 Error: command not recognized\n", NULL);
	c_connect(srv.l[0].port);
	cr_assert_eq(c_reply(r, sizeof(r)), 220);
	cr_assert_str_eq(r, "220-fake.test first\r\n220 fake.test second\r\n");
	expect("EHLO client.test\r\n", "502 5.5.2");
	expect("MAIL FROM:<a@x.test>\r\n", "503 5.5.1");
	c_send("HELO client.test\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_str_eq(r, "250 fakesmtp.test\r\n");
	expect("MAIL FROM:<a@x.test>\r\n", "250 ");
}

/* ------------------------------------------------------------ transactions */

Test(fakesmtp, pipelined_batch_and_dot_unstuffing)
{
	char r[512];
	int i;

	start("ext PIPELINING\n", NULL);
	session_start();
	c_send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
	    "RCPT TO:<c@y.test>\r\nDATA\r\n");
	for (i = 0; i < 3; i++)
		cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_eq(c_reply(r, sizeof(r)), 354);
	c_send("Subject: t\r\n\r\n..leading dot\r\n...two\r\n.."
	    "\r\nnot the end\r\nbare\nlf\r\nlast\r\n.\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_str_eq(r, "250 2.0.0 Ok: queued as S1T1\r\n");
	expect("QUIT\r\n", "221");
	assert_record("session-1.done", "quit\n");
	assert_record("session-1.log", "B1 EHLO client.test\n"
	    "B2 MAIL FROM:<a@x.test>\nB2 RCPT TO:<b@y.test>\n"
	    "B2 RCPT TO:<c@y.test>\nB2 DATA\nB3 .\nB4 QUIT\n");
	assert_record("session-1.msg-1", "Subject: t\r\n\r\n.leading dot\r\n"
	    "..two\r\n.\r\nnot the end\r\nbare\nlf\r\nlast\r\n");
	assert_record("session-1.env-1", "MAIL FROM:<a@x.test>\n"
	    "RCPT TO:<b@y.test>\nRCPT TO:<c@y.test>\n"
	    "accepted <b@y.test>\naccepted <c@y.test>\nbare-lf 1\n"
	    "result 250\n");
}

Test(fakesmtp, empty_message_and_second_transaction)
{
	char r[256];

	start("", NULL);
	session_start();
	expect("MAIL FROM:<>\r\n", "250");
	expect("RCPT TO:<b@y.test>\r\n", "250");
	expect("DATA\r\n", "354");
	expect(".\r\n", "250");
	expect("MAIL FROM:<a@x.test>\r\n", "250");
	expect("RSET\r\n", "250");
	expect("MAIL FROM:<c@x.test>\r\n", "250");
	expect("RCPT TO:<d@y.test>\r\n", "250");
	expect("DATA\r\n", "354");
	c_send("x\r\n.\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_str_eq(r, "250 2.0.0 Ok: queued as S1T3\r\n");
	assert_record("session-1.msg-1", "");
	assert_record("session-1.env-2", "MAIL FROM:<a@x.test>\n"
	    "result rset\n");
	assert_record("session-1.msg-3", "x\r\n");
}

Test(fakesmtp, bdat_chunks)
{
	char r[256];

	start("ext PIPELINING\next CHUNKING\n", NULL);
	session_start();
	expect("MAIL FROM:<a@x.test>\r\n", "250");
	expect("RCPT TO:<b@y.test>\r\n", "250");
	/* A chunk is not parsed: "\r\n.\r\n" in it is just data. */
	c_send("BDAT 7\r\nab\r\n.\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_str_eq(r, "250 2.0.0 Ok: 7 octets\r\n");
	c_send("BDAT 5 LAST\r\nxyz\r\nQUIT\r\n");
	expect(NULL, "250 2.0.0 Ok: queued as S1T1");
	expect(NULL, "221");
	assert_record("session-1.done", "quit\n");
	assert_record("session-1.msg-1", "ab\r\n.\r\nxyz\r\n");
	assert_record("session-1.log", "B1 EHLO client.test\n"
	    "B2 MAIL FROM:<a@x.test>\nB3 RCPT TO:<b@y.test>\nB4 BDAT 7\n"
	    "B5 BDAT 5 LAST\nB5 QUIT\n");
	assert_record("session-1.env-1", "MAIL FROM:<a@x.test>\n"
	    "RCPT TO:<b@y.test>\naccepted <b@y.test>\nresult 250\n");
}

Test(fakesmtp, bdat_without_chunking_and_data_without_rcpt)
{
	start("", NULL);
	session_start();
	expect("MAIL FROM:<a@x.test>\r\n", "250");
	expect("DATA\r\n", "554 5.5.1");
	expect("BDAT 3 LAST\r\nabc", "502 5.5.1");
	expect("RCPT TO:<b@y.test>\r\n", "250");
	expect("NOOP\r\n", "250");
}

Test(fakesmtp, recipient_limit_and_per_address_reply)
{
	char r[256];

	start("ext PIPELINING\n"
	    "rcpt match=<bad@y.test> reply 550 5.1.1 No such user\n"
	    "rcpt after=2 reply 452 4.5.3 Too many recipients\n"
	    "mail txn=2 reply 451 4.3.0 Try later\n", NULL);
	session_start();
	c_send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
	    "RCPT TO:<BAD@y.test>\r\nRCPT TO:<c@y.test>\r\n"
	    "RCPT TO:<d@y.test>\r\n");
	expect(NULL, "250 2.1.0");
	expect(NULL, "250 2.1.5");
	cr_assert_eq(c_reply(r, sizeof(r)), 550);
	cr_assert_str_eq(r, "550 5.1.1 No such user\r\n");
	expect(NULL, "250 2.1.5");
	cr_assert_eq(c_reply(r, sizeof(r)), 452);
	cr_assert_str_eq(r, "452 4.5.3 Too many recipients\r\n");
	expect("RSET\r\n", "250");
	expect("MAIL FROM:<a@x.test>\r\n", "451 4.3.0");
	expect("MAIL FROM:<a@x.test>\r\n", "451 4.3.0");
	assert_record("session-1.env-1", "MAIL FROM:<a@x.test>\n"
	    "RCPT TO:<b@y.test>\nRCPT TO:<BAD@y.test>\nRCPT TO:<c@y.test>\n"
	    "RCPT TO:<d@y.test>\naccepted <b@y.test>\n"
	    "rejected <BAD@y.test> 550\naccepted <c@y.test>\n"
	    "rejected <d@y.test> 452\nresult rset\n");
}

Test(fakesmtp, parameters_need_their_extension)
{
	char line[100];
	int i;

	start("ext SIZE 1000\n", NULL);
	session_start();
	expect("MAIL FROM:<a@x.test> RET=HDRS\r\n", "555 5.5.4");
	expect("MAIL FROM:<a@x.test> BODY=8BITMIME\r\n", "555 5.5.4");
	expect("MAIL FROM:<a@x.test> SIZE=1001\r\n", "552 5.3.4");
	expect("MAIL FROM:<a@x.test> SIZE=10\r\n", "250");
	expect("RCPT TO:<b@y.test> NOTIFY=NEVER\r\n", "555 5.5.4");
	expect("RCPT TO:b@y.test\r\n", "501 5.5.4");
	expect("RCPT TO:<b@y.test>\r\n", "250");
	expect("DATA\r\n", "354");
	c_send("Subject: too big\r\n\r\n");
	memset(line, 'x', sizeof(line));
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	for (i = 0; i < 12; i++)
		c_sendn(line, sizeof(line));
	expect(".\r\n", "552 5.3.4");
}

Test(fakesmtp, dsn_parameters_when_offered)
{
	start("ext DSN\next 8BITMIME\next SMTPUTF8\n", NULL);
	session_start();
	expect("MAIL FROM:<a@x.test> RET=HDRS ENVID=x BODY=8BITMIME "
	    "SMTPUTF8\r\n", "250");
	expect("RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;b@y.test\r\n", "250");
	expect("RCPT TO:<c@y.test> FOO=1\r\n", "555");
}

/* ------------------------------------------------------------ faults */

Test(fakesmtp, fault_close)
{
	start("mail close\n", NULL);
	session_start();
	c_send("MAIL FROM:<a@x.test>\r\n");
	cr_assert_eq(c_more(WAIT_MS), 0, "connection not closed");
	assert_record("session-1.done", "fault\n");
}

Test(fakesmtp, fault_close_at_greeting_and_eod)
{
	start("greeting session=1 close\neod close\n", NULL);
	c_connect(srv.l[0].port);
	cr_assert_eq(c_more(WAIT_MS), 0, "connection not closed");
	session_start();
	expect("MAIL FROM:<a@x.test>\r\n", "250");
	expect("RCPT TO:<b@y.test>\r\n", "250");
	expect("DATA\r\n", "354");
	c_send("hello\r\n.\r\n");
	cr_assert_eq(c_more(WAIT_MS), 0, "connection not closed");
	/* The message arrived, the reply never went: a duplicate later. */
	assert_record("session-2.msg-1", "hello\r\n");
	assert_record("session-2.env-1", "MAIL FROM:<a@x.test>\n"
	    "RCPT TO:<b@y.test>\naccepted <b@y.test>\nresult fault\n");
}

Test(fakesmtp, fault_reset)
{
	struct pollfd pfd;
	char c;

	start("mail reset\n", NULL);
	session_start();
	c_send("MAIL FROM:<a@x.test>\r\n");
	pfd.fd = cl.fd;
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "connection not ended");
	/* A reset, not an end of file. */
	errno = 0;
	cr_assert_eq(recv(cl.fd, &c, 1, 0), -1, "no reset: end of file");
	cr_assert_eq(errno, ECONNRESET, "recv: %s", strerror(errno));
	assert_record("session-1.done", "fault\n");
}

/* The body stage acts mid-message: the reply, then the session ends. */
Test(fakesmtp, body_reply_after_octets_with_data)
{
	start("body octets=11 reply 421 4.4.2 Gone mid-message\n", NULL);
	session_start();
	expect("MAIL FROM:<a@x.test>\r\n", "250");
	expect("RCPT TO:<b@y.test>\r\n", "250");
	expect("DATA\r\n", "354");
	c_send("..2345678\r\nabcdef\r\n");
	expect(NULL, "421 4.4.2 Gone mid-message");
	cr_assert_eq(c_more(WAIT_MS), 0, "connection not closed");
	/* Eleven octets as sent: ".." counts two, and is kept as one. */
	assert_record("session-1.msg-1", ".2345678\r\n");
	assert_record("session-1.env-1", "MAIL FROM:<a@x.test>\n"
	    "RCPT TO:<b@y.test>\naccepted <b@y.test>\nresult aborted\n");
	assert_record("session-1.done", "fault\n");
}

Test(fakesmtp, body_close_after_octets_with_bdat)
{
	start("ext CHUNKING\nbody octets=4 close\n", NULL);
	session_start();
	expect("MAIL FROM:<a@x.test>\r\n", "250");
	expect("RCPT TO:<b@y.test>\r\n", "250");
	c_send("BDAT 10 LAST\r\n0123456789");
	cr_assert_eq(c_more(WAIT_MS), 0, "connection not closed");
	assert_record("session-1.msg-1", "0123");
	assert_record("session-1.done", "fault\n");
}

/* A stall mid-message: the server stops reading and never answers. */
Test(fakesmtp, body_stall_stops_reading)
{
	start("body octets=5 stall 20\n", NULL);
	session_start();
	expect("MAIL FROM:<a@x.test>\r\n", "250");
	expect("RCPT TO:<b@y.test>\r\n", "250");
	expect("DATA\r\n", "354");
	c_send("abcdefghij\r\n.\r\n");
	cr_assert_eq(c_more(500), -1, "a stalled server replied");
	server_stop(&srv);
	assert_record("session-1.msg-1", "abcde");
}

Test(fakesmtp, fault_stall)
{
	long t;

	start("rcpt stall 20\n", NULL);
	session_start();
	expect("MAIL FROM:<a@x.test>\r\n", "250");
	c_send("RCPT TO:<b@y.test>\r\n");
	cr_assert_eq(c_more(1000), -1, "a stalled server replied");
	/* A stalled session does not delay the server's exit. */
	t = ms_now();
	server_stop(&srv);
	cr_assert_lt(ms_now() - t, 2000);
}

Test(fakesmtp, delayed_reply)
{
	long t;

	start("mail delay=300 reply 250 2.1.0 Slow\n", NULL);
	session_start();
	t = ms_now();
	expect("MAIL FROM:<a@x.test>\r\n", "250 2.1.0 Slow");
	cr_assert_geq(ms_now() - t, 290);
}

Test(fakesmtp, fault_long_line)
{
	int n;

	start("ehlo long 102400\n", NULL);
	c_connect(srv.l[0].port);
	expect(NULL, "220 ");
	c_send("EHLO client.test\r\n");
	while (cl.len < 102400 && (n = c_more(WAIT_MS)) > 0)
		continue;
	cr_assert_eq(cl.len, 102400);
	cr_assert(strncmp(cl.buf, "250 xxxx", 8) == 0);
	cr_assert(memchr(cl.buf, '\n', cl.len) == NULL);
	/* The server then waits for the client to give up. */
	cr_assert_eq(c_more(200), -1);
}

Test(fakesmtp, fault_endless_reply)
{
	char *p;
	size_t k;
	int lines = 0;

	start("ehlo endless 5000\n", NULL);
	c_connect(srv.l[0].port);
	expect(NULL, "220 ");
	c_send("EHLO client.test\r\n");
	for (;;) {
		while ((p = memchr(cl.buf, '\n', cl.len)) != NULL) {
			cr_assert(strncmp(cl.buf, "250-", 4) == 0);
			lines++;
			k = (size_t)(p + 1 - cl.buf);
			memmove(cl.buf, p + 1, cl.len - k);
			cl.len -= k;
		}
		if (c_more(500) <= 0)
			break;
	}
	cr_assert_eq(lines, 5000);
	cr_assert_eq(cl.len, 0);
}

Test(fakesmtp, fault_malformed_and_garbage)
{
	char r[256];
	int n;

	start("mail reply 25 ok\nrcpt reply abc\\r\\n250 fine\n"
	    "noop garbage 64\n", NULL);
	session_start();
	c_send("MAIL FROM:<a@x.test>\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 25);
	cr_assert_str_eq(r, "25 ok\r\n");
	/* "25 ok" is not a 2xx: no transaction. */
	expect("RCPT TO:<b@y.test>\r\n", "503");
	expect("RSET\r\n", "250");
	c_send("NOOP\r\n");
	while (cl.len < 64 && (n = c_more(WAIT_MS)) > 0)
		continue;
	cr_assert_eq(cl.len, 64);
}

Test(fakesmtp, raw_reply_bare_lf)
{
	start("mail raw 250 ok\\n\n", NULL);
	session_start();
	c_send("MAIL FROM:<a@x.test>\r\n");
	while (cl.len < 7 && c_more(WAIT_MS) > 0)
		continue;
	cr_assert_str_eq(cl.buf, "250 ok\n");
}

/* ------------------------------------------------------------ sessions */

Test(fakesmtp, sessions_numbered_max_sessions_exit)
{
	int st;

	start("greeting session=2 reply 421 4.3.2 Busy\n"
	    "quit local=127.0.0.1 reply 221 2.0.0 Local bye\n",
	    "--max-sessions", "2", NULL);
	session_start();
	expect("QUIT\r\n", "221 2.0.0 Local bye");
	c_connect(srv.l[0].port);
	expect(NULL, "421 4.3.2");
	client_close();
	assert_record("session-1.done", "quit\n");
	assert_record("session-2.done", "eof\n");
	{
		char *info = wait_record("session-1.info");

		cr_assert(strncmp(info, "local 127.0.0.1 ", 16) == 0, "%s",
		    info);
		cr_assert(strstr(info, "\npeer 127.0.0.1 ") != NULL);
		free(info);
	}
	/* After two sessions the server exits by itself. */
	st = server_wait(&srv, WAIT_MS);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "still running after --max-sessions");
}

Test(fakesmtp, several_listeners_and_sigterm)
{
	start("ehlo local=127.0.0.3 reply 550 5.7.1 Not you\n",
	    "--listen", "127.0.0.3:0", NULL);
	cr_assert_eq(srv.nl, 2);
	session_start();
	client_close();
	c_connect_addr(0x7f000003, srv.l[1].port);
	expect(NULL, "220");
	expect("EHLO client.test\r\n", "550 5.7.1");
	/* SIGTERM: what arrived is still handled and recorded. */
	c_send("NOOP\r\n");
	usleep(100000);
	server_stop(&srv);
	assert_record("session-2.log", "B1 EHLO client.test\nB2 NOOP\n");
	assert_record("session-2.done", "terminated\n");
}

/* ------------------------------------------------------------ TLS */

/* A self-signed certificate in dir. */
static void
make_cert(char *cert, char *key, size_t size)
{
	make_self_signed(dir, cert, key, size);
}

/* The client's handshake with priority prio (NULL: the defaults). */
static int
c_handshake_prio(const char *sni, const char *prio)
{
	int ret;

	cr_assert(gnutls_certificate_allocate_credentials(&cl.cred) == 0);
	cr_assert(gnutls_init(&cl.tls, GNUTLS_CLIENT) == 0);
	if (prio != NULL)
		cr_assert(gnutls_priority_set_direct(cl.tls, prio, NULL) == 0);
	else
		cr_assert(gnutls_set_default_priority(cl.tls) == 0);
	cr_assert(gnutls_credentials_set(cl.tls, GNUTLS_CRD_CERTIFICATE,
	    cl.cred) == 0);
	if (sni != NULL)
		cr_assert(gnutls_server_name_set(cl.tls, GNUTLS_NAME_DNS, sni,
		    strlen(sni)) == 0);
	gnutls_transport_set_int(cl.tls, cl.fd);
	gnutls_handshake_set_timeout(cl.tls, WAIT_MS);
	do
		ret = gnutls_handshake(cl.tls);
	while (ret < 0 && !gnutls_error_is_fatal(ret));
	return ret;
}

static void
c_handshake(const char *sni)
{
	int ret = c_handshake_prio(sni, NULL);

	cr_assert_eq(ret, 0, "handshake: %s", gnutls_strerror(ret));
}

Test(fakesmtp, starttls)
{
	char cert[128], key[128], r[1024];

	make_cert(cert, key, sizeof(cert));
	start("ext PIPELINING\next STARTTLS\n"
	    "tls-ext PIPELINING\ntls-ext AUTH PLAIN\n"
	    "ehlo tls reply 250-fakesmtp.test\n+ 250 AUTH PLAIN\n"
	    "ehlo nth=1 reply 250-fakesmtp.test\n+ 250 STARTTLS\n",
	    "--tls-cert", cert, "--tls-key", key, NULL);
	session_start();
	expect("MAIL FROM:<a@x.test>\r\n", "250");
	c_send("STARTTLS\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 220);
	cr_assert_eq(cl.len, 0);
	c_handshake("mx.test");
	/* TLS starts the session over (RFC 3207 section 4.2). */
	expect("MAIL FROM:<a@x.test>\r\n", "503 5.5.1");
	expect("STARTTLS\r\n", "503 5.5.1");
	c_send("EHLO client.test\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_str_eq(r, "250-fakesmtp.test\r\n250 AUTH PLAIN\r\n");
	expect("MAIL FROM:<a@x.test>\r\n", "250");
	expect("QUIT\r\n", "221");
	assert_record("session-1.done", "quit\n");
	{
		char *t = wait_record("session-1.tls");

		cr_assert(strncmp(t, "tls\nmode starttls\nsni mx.test\n"
		    "version TLS1.", 39) == 0, "%s", t);
		free(t);
	}
	assert_record("session-1.log", "B1 EHLO client.test\n"
	    "B2 MAIL FROM:<a@x.test>\nB3 STARTTLS\nB4 MAIL FROM:<a@x.test>\n"
	    "B5 STARTTLS\nB6 EHLO client.test\nB7 MAIL FROM:<a@x.test>\n"
	    "B8 QUIT\n");
	assert_record("session-1.env-1", "MAIL FROM:<a@x.test>\n"
	    "result aborted\n");
}

Test(fakesmtp, starttls_default_lists_and_injection)
{
	char cert[128], key[128], r[1024];

	make_cert(cert, key, sizeof(cert));
	start("ext PIPELINING\next STARTTLS\next 8BITMIME\n",
	    "--tls-cert", cert, "--tls-key", key, NULL);
	session_start();
	/* Commands pipelined after STARTTLS are dropped (RFC 3207 s. 5). */
	c_send("STARTTLS\r\nRSET\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 220);
	c_handshake(NULL);
	c_send("EHLO client.test\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_str_eq(r, "250-fakesmtp.test\r\n250-PIPELINING\r\n"
	    "250 8BITMIME\r\n");
	expect("QUIT\r\n", "221");
	assert_record("session-1.log", "B1 EHLO client.test\n"
	    "B2 STARTTLS\nB2 RSET\nB3 EHLO client.test\nB4 QUIT\n");
	assert_record("session-1.done", "quit\n");
	{
		char *t = wait_record("session-1.tls");

		cr_assert(strstr(t, "sni") == NULL, "%s", t);
		free(t);
	}
}

/* tls-priority: a server of TLS 1.0 and 1.1 only, for mxsend's relay. */
Test(fakesmtp, tls_priority_old_versions_only)
{
	char cert[128], key[128], path[128];
	const char *bad[] = { support_path("fakesmtp"), "--listen",
	    "127.0.0.1:0", "--script", path, "--lifetime", "5", NULL };
	int st;

	make_cert(cert, key, sizeof(cert));
	start("tls-priority NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0\n",
	    "--listen-tls", "127.0.0.1:0", "--tls-cert", cert,
	    "--tls-key", key, NULL);
	c_connect(srv.l[1].port);
	c_handshake(NULL);
	expect(NULL, "220 ");
	assert_record("session-1.tls", "tls\nmode implicit\nversion TLS1.1\n");
	client_close();
	/* A client that wants TLS 1.2 or later gets no session. */
	c_connect(srv.l[1].port);
	cr_assert_neq(c_handshake_prio(NULL,
	    "NORMAL:-VERS-TLS1.1:-VERS-TLS1.0"), 0,
	    "a TLS 1.2 session with a TLS 1.1 server");
	client_close();
	{
		char *t = wait_record("session-2.tls");

		cr_assert(strncmp(t, "failed ", 7) == 0, "%s", t);
		free(t);
	}
	/* A bad priority string is a script error: exit 1. */
	snprintf(path, sizeof(path), "%s/bad", dir);
	write_file(path, "tls-priority NORMAL:+NO-SUCH-THING\n");
	st = server_run(bad, "/dev/null", WAIT_MS);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
}

/* starttls-plain: 220, then no TLS: a man in the middle's stripping. */
Test(fakesmtp, starttls_plain_goes_on_without_tls)
{
	char cert[128], key[128], r[512];

	make_cert(cert, key, sizeof(cert));
	start("ext STARTTLS\nstarttls-plain\n", "--tls-cert", cert,
	    "--tls-key", key, NULL);
	session_start();
	c_send("STARTTLS\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 220);
	expect("NOOP\r\n", "250");
	expect("QUIT\r\n", "221");
	assert_record("session-1.done", "quit\n");
	cr_assert_null(record_read(dir, "session-1.tls", NULL),
	    "TLS was started");
}

/* A 220 to STARTTLS, then a fatal alert to the ClientHello. */
Test(fakesmtp, starttls_tls_alert)
{
	char r[256];
	int ret;

	start("ext STARTTLS\nstarttls tls-alert\n", NULL);
	session_start();
	c_send("STARTTLS\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 220);
	cr_assert(gnutls_certificate_allocate_credentials(&cl.cred) == 0);
	cr_assert(gnutls_init(&cl.tls, GNUTLS_CLIENT) == 0);
	cr_assert(gnutls_set_default_priority(cl.tls) == 0);
	cr_assert(gnutls_credentials_set(cl.tls, GNUTLS_CRD_CERTIFICATE,
	    cl.cred) == 0);
	gnutls_transport_set_int(cl.tls, cl.fd);
	gnutls_handshake_set_timeout(cl.tls, WAIT_MS);
	do
		ret = gnutls_handshake(cl.tls);
	while (ret < 0 && !gnutls_error_is_fatal(ret));
	cr_assert_eq(ret, GNUTLS_E_FATAL_ALERT_RECEIVED, "handshake: %s",
	    gnutls_strerror(ret));
	cr_assert_eq(gnutls_alert_get(cl.tls), GNUTLS_A_HANDSHAKE_FAILURE);
	assert_record("session-1.tls", "failed alert sent\n");
	assert_record("session-1.done", "fault\n");
}

Test(fakesmtp, starttls_without_certificate)
{
	start("ext STARTTLS\n", NULL);
	session_start();
	expect("STARTTLS\r\n", "454 4.7.0");
	expect("NOOP\r\n", "250");
}

Test(fakesmtp, implicit_tls)
{
	char cert[128], key[128];

	make_cert(cert, key, sizeof(cert));
	start("greeting plain reply 554 5.7.0 Not without TLS\n",
	    "--listen-tls", "127.0.0.1:0", "--tls-cert", cert,
	    "--tls-key", key, NULL);
	cr_assert_eq(srv.nl, 2);
	c_connect(srv.l[1].port);
	c_handshake("relay.test");
	expect(NULL, "220 fakesmtp.test");
	expect("EHLO client.test\r\n", "250");
	expect("QUIT\r\n", "221");
	assert_record("session-1.done", "quit\n");
	{
		char *t = wait_record("session-1.tls");

		cr_assert(strncmp(t, "tls\nmode implicit\nsni relay.test\n",
		    33) == 0, "%s", t);
		free(t);
	}
	c_connect(srv.l[0].port);
	expect(NULL, "554 5.7.0");
}

/* ------------------------------------------------------------ AUTH */

#define AUTH_SCRIPT	"ext AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256\n" \
	"user alice s3cret\n" \
	"user user pencil\n" \
	"scram-salt W22ZaJ0SNY7soEsUEjb6gQ==\n" \
	"scram-iterations 4096\n" \
	"scram-nonce %hvYDpWUa2RaTCAfuxFIlj)hNlF$k0\n"

Test(fakesmtp, auth_plain_failure_then_success)
{
	char line[512], enc[256];

	start(AUTH_SCRIPT, NULL);
	session_start();
	b64("\0alice\0wrong", 12, enc, sizeof(enc));
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", enc);
	expect(line, "535 5.7.8");
	/* Without an initial response: an empty 334 first. */
	b64("\0alice\0s3cret", 13, enc, sizeof(enc));
	expect("AUTH PLAIN\r\n", "334 \r\n");
	snprintf(line, sizeof(line), "%s\r\n", enc);
	expect(line, "235 2.7.0");
	expect("AUTH PLAIN\r\n", "503 5.5.1");
	expect("MAIL FROM:<a@x.test> AUTH=<>\r\n", "250");
	expect("RCPT TO:<b@y.test>\r\n", "250");
	expect("RSET\r\n", "250");
	{
		char *info = wait_record("session-1.info");
		char *log = wait_record("session-1.log");
		char *env = wait_record("session-1.env-1");

		cr_assert(strstr(info, "\nauth PLAIN alice failed\n"
		    "auth PLAIN alice ok\n") != NULL, "%s", info);
		/* The log has what the client sent, AUTH payload too. */
		snprintf(line, sizeof(line), "\nB4 %s\n", enc);
		cr_assert(strstr(log, line) != NULL, "%s", log);
		cr_assert(strstr(env, "\nauth alice\n") != NULL, "%s", env);
		free(info);
		free(log);
		free(env);
	}
}

Test(fakesmtp, auth_needs_ehlo_and_advertisement)
{
	start("ext AUTH PLAIN\nuser a b\nauth match=LOGIN reply 454 4.7.0 "
	    "Temporary failure\n", NULL);
	c_connect(srv.l[0].port);
	expect(NULL, "220");
	expect("AUTH PLAIN AGEAYg==\r\n", "503 5.5.1");
	expect("EHLO client.test\r\n", "250");
	expect("AUTH LOGIN\r\n", "454 4.7.0");
	expect("AUTH NTLM\r\n", "504 5.5.4");
	expect("AUTH PLAIN\r\n", "334");
	expect("*\r\n", "501 5.7.0");
	expect("AUTH PLAIN !!!!\r\n", "501 5.5.2");
	expect("AUTH PLAIN AGEAYg==\r\n", "235");
	client_close();
	server_stop(&srv);
	start("", NULL);
	session_start();
	expect("AUTH PLAIN AGEAYg==\r\n", "503 5.5.1");
}

Test(fakesmtp, auth_login)
{
	start(AUTH_SCRIPT, NULL);
	session_start();
	expect("AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	expect("YWxpY2U=\r\n", "334 UGFzc3dvcmQ6\r\n");
	expect("czNjcmV0\r\n", "235");
	client_close();
	session_start();
	expect("AUTH LOGIN YWxpY2U=\r\n", "334 UGFzc3dvcmQ6\r\n");
	expect("eHh4\r\n", "535");
}

static void
cram(const char *user, const char *pass, int want)
{
	char r[512], chal[512], resp[512], enc[1024], hex[33];
	unsigned char mac[16];
	int i;

	c_send("AUTH CRAM-MD5\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 334);
	r[strcspn(r, "\r\n")] = '\0';
	unb64(r + 4, chal, sizeof(chal));
	cr_assert(chal[0] == '<' && strchr(chal, '@') != NULL, "%s", chal);
	cr_assert(gnutls_hmac_fast(GNUTLS_MAC_MD5, pass, strlen(pass), chal,
	    strlen(chal), mac) == 0);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	snprintf(resp, sizeof(resp), "%s %s", user, hex);
	b64(resp, strlen(resp), enc, sizeof(enc));
	strcat(enc, "\r\n");
	c_send(enc);
	cr_assert_eq(c_reply(r, sizeof(r)), want, "%s", r);
}

Test(fakesmtp, auth_cram_md5)
{
	start(AUTH_SCRIPT, NULL);
	session_start();
	cram("alice", "wrong", 535);
	cram("alice", "s3cret", 235);
}

/* RFC 7677 section 3, replayed with the server nonce fixed. */
/* Send line, expect a 334 and decode its challenge into out. */
static void
challenge(const char *line, char *out, size_t size)
{
	char r[512];

	c_send(line);
	cr_assert_eq(c_reply(r, sizeof(r)), 334, "%s", r);
	r[strcspn(r, "\r\n")] = '\0';
	unb64(r + 4, out, size);
}

static void
scram(const char *proof, int want)
{
	char r[512], line[1024], enc[512];

	b64("n,,n=user,r=rOprNGfwEbeRWgbNEkqO", 32, enc, sizeof(enc));
	snprintf(line, sizeof(line), "AUTH SCRAM-SHA-256 %s\r\n", enc);
	challenge(line, line, sizeof(line));
	cr_assert_str_eq(line, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
	    "hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
	snprintf(line, sizeof(line), "c=biws,r=rOprNGfwEbeRWgbNEkqO"
	    "%%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=%s", proof);
	b64(line, strlen(line), enc, sizeof(enc));
	strcat(enc, "\r\n");
	c_send(enc);
	if (want != 235) {
		cr_assert_eq(c_reply(r, sizeof(r)), want, "%s", r);
		return;
	}
	cr_assert_eq(c_reply(r, sizeof(r)), 334, "%s", r);
	r[strcspn(r, "\r\n")] = '\0';
	unb64(r + 4, line, sizeof(line));
	cr_assert_str_eq(line,
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	expect("\r\n", "235 2.7.0");
}

Test(fakesmtp, auth_scram_sha256)
{
	start(AUTH_SCRIPT, NULL);
	session_start();
	scram("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 535);
	scram("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", 235);
	{
		char *info = wait_record("session-1.info");

		cr_assert(strstr(info, "auth SCRAM-SHA-256 user failed\n"
		    "auth SCRAM-SHA-256 user ok\n") != NULL, "%s", info);
		free(info);
	}
}

/* ------------------------------------------------------------ OAuth2 */

#define OAUTH_SCRIPT	"ext AUTH XOAUTH2 OAUTHBEARER PLAIN\n" \
	"user alice ya29.Tok-en_~+/=\n"

/* "AUTH MECH base64(raw)\r\n" (or the bare response when mech is NULL). */
static char *
oauth_line(const char *mech, const char *raw, size_t n)
{
	size_t size = n / 3 * 4 + 64;
	char *enc = malloc(size), *line;

	cr_assert_not_null(enc);
	b64(raw, n, enc, size);
	line = malloc(strlen(enc) + 64);
	cr_assert_not_null(line);
	if (mech != NULL)
		sprintf(line, "AUTH %s %s\r\n", mech, enc);
	else
		sprintf(line, "%s\r\n", enc);
	free(enc);
	return line;
}

static void
expect_oauth(const char *mech, const char *raw, size_t n, const char *want)
{
	char *line = oauth_line(mech, raw, n);

	expect(line, want);
	free(line);
}

/* What a literal raw response gets (its length from sizeof). */
#define EXPECT_OAUTH(mech, lit, want) \
	expect_oauth((mech), (lit), sizeof(lit) - 1, (want))

#define XOAUTH2_OK	"user=alice\001auth=Bearer ya29.Tok-en_~+/=\001\001"
#define BEARER_OK	"n,a=alice,\001host=mx.test\001port=587\001" \
	"auth=Bearer ya29.Tok-en_~+/=\001\001"

Test(fakesmtp, auth_xoauth2)
{
	start(OAUTH_SCRIPT, NULL);
	session_start();
	/* A token that is not alice's: the error challenge, then 535. */
	EXPECT_OAUTH("XOAUTH2", "user=alice\001auth=Bearer old\001\001",
	    "334 ");
	expect("\r\n", "535 5.7.8");
	/* Without an initial response: the empty 334 asks for it. */
	expect("AUTH XOAUTH2\r\n", "334 \r\n");
	EXPECT_OAUTH(NULL, XOAUTH2_OK, "235 2.7.0");
	client_close();
	session_start();
	EXPECT_OAUTH("XOAUTH2", "user=alice\001auth=Bearer ya29\001",
	    "501 5.5.2");
	EXPECT_OAUTH("XOAUTH2", "user=bob\001auth=Bearer x\001\001",
	    "334 ");
	cr_assert(c_more(300) == -1, "a reply before the client's answer: "
	    "%s", cl.buf);
	c_send("*\r\n");
	expect(NULL, "501 5.7.0");
	EXPECT_OAUTH("XOAUTH2", XOAUTH2_OK, "235");
	{
		char *info = wait_record("session-1.info");

		cr_assert(strstr(info, "auth XOAUTH2 alice failed\n"
		    "auth XOAUTH2 alice ok\n") != NULL, "%s", info);
		free(info);
		info = wait_record("session-2.info");
		cr_assert(strstr(info, "auth XOAUTH2 alice ok\n") != NULL,
		    "%s", info);
		free(info);
	}
}

Test(fakesmtp, auth_xoauth2_error_challenge_is_json)
{
	static const char raw[] = "user=alice\001auth=Bearer old\001\001";
	char json[256], *line = oauth_line("XOAUTH2", raw, sizeof(raw) - 1);

	start(OAUTH_SCRIPT, NULL);
	session_start();
	challenge(line, json, sizeof(json));
	free(line);
	cr_assert_str_eq(json, "{\"status\":\"401\",\"schemes\":\"bearer\","
	    "\"scope\":\"https://mail.google.com/\"}");
	expect("\r\n", "535");
}

/* RFC 7628: host= and port= recorded; %x01 answers the error challenge. */
Test(fakesmtp, auth_oauthbearer_and_scripted_failure)
{
	start(OAUTH_SCRIPT "auth-fail 535 5.7.139 Authentication "
	    "unsuccessful, basic authentication is disabled\n", NULL);
	session_start();
	EXPECT_OAUTH("OAUTHBEARER", "n,a=alice,\001auth=Bearer old\001\001",
	    "334 ");
	expect("AQ==\r\n", "535 5.7.139 Authentication unsuccessful");
	EXPECT_OAUTH("OAUTHBEARER", BEARER_OK, "235 2.7.0");
	client_close();
	session_start();
	/* The scripted failure is for every mechanism. */
	EXPECT_OAUTH("PLAIN", "\0alice\0wrong", "535 5.7.139");
	EXPECT_OAUTH("OAUTHBEARER", "n,,\001auth=Bearer x\001\001",
	    "501 5.5.2");
	{
		char *info = wait_record("session-1.info");
		char *log = wait_record("session-1.log");

		cr_assert(strstr(info, "auth OAUTHBEARER alice failed\n"
		    "oauthbearer host=mx.test port=587\n"
		    "auth OAUTHBEARER alice ok\n") != NULL, "%s", info);
		cr_assert(strstr(log, "\nB3 AQ==\n") != NULL, "%s", log);
		free(info);
		free(log);
	}
}

/* A 64 KiB token: its response line is some 87 KB. */
Test(fakesmtp, auth_xoauth2_64_kib_token)
{
	size_t n = 65536, raw_len;
	char *tok = malloc(n + 1), *script, *raw;

	cr_assert_not_null(tok);
	memset(tok, 'k', n);
	tok[n] = '\0';
	cr_assert_not_null(script = malloc(n + 200));
	sprintf(script, "ext AUTH XOAUTH2\nuser alice %s\n", tok);
	start(script, NULL);
	session_start();
	cr_assert_not_null(raw = malloc(n + 64));
	raw_len = (size_t)sprintf(raw, "user=alice\001auth=Bearer %s\001\001",
	    tok);
	expect("AUTH XOAUTH2\r\n", "334 ");
	expect_oauth(NULL, raw, raw_len, "235 2.7.0");
	free(tok);
	free(script);
	free(raw);
}

/* ------------------------------------------------------------ more */

Test(fakesmtp, latency_per_flight)
{
	char r[256];
	long t;
	int i;

	start("ext PIPELINING\nlatency 200\n", NULL);
	t = ms_now();
	c_connect(srv.l[0].port);
	expect(NULL, "220");
	cr_assert_geq(ms_now() - t, 190);
	t = ms_now();
	c_send("EHLO client.test\r\n");
	cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_geq(ms_now() - t, 190);
	/* One flight, one delay, however many commands it holds. */
	t = ms_now();
	c_send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
	    "RCPT TO:<c@y.test>\r\nNOOP\r\n");
	for (i = 0; i < 4; i++)
		cr_assert_eq(c_reply(r, sizeof(r)), 250);
	cr_assert_geq(ms_now() - t, 190);
	cr_assert_lt(ms_now() - t, 390);
}

Test(fakesmtp, ipv6_listener)
{
	struct sockaddr_in6 sin6;
	int fd;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if ((fd = socket(AF_INET6, SOCK_STREAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) != 0) {
		if (fd >= 0)
			close(fd);
		cr_skip_test("no IPv6 loopback here");
	}
	close(fd);
	start("", "--listen", "[::1]:0", NULL);
	cr_assert_eq(srv.nl, 2);
	client_close();
	sin6.sin6_port = htons((unsigned short)srv.l[1].port);
	cr_assert((cl.fd = socket(AF_INET6, SOCK_STREAM, 0)) >= 0);
	cr_assert(connect(cl.fd, (struct sockaddr *)&sin6,
	    sizeof(sin6)) == 0);
	expect(NULL, "220");
	expect("QUIT\r\n", "221");
	{
		char *info = wait_record("session-1.info");

		cr_assert(strncmp(info, "local ::1 ", 10) == 0, "%s", info);
		free(info);
	}
}

Test(fakesmtp, overlong_command_line)
{
	static char big[70000];

	start("", NULL);
	session_start();
	memset(big, 'A', sizeof(big));
	memcpy(big + sizeof(big) - 2, "\r\n", 2);
	c_sendn(big, sizeof(big));
	expect(NULL, "500 5.5.2");
	expect("NOOP\r\n", "250");
	expect("QUIT\r\n", "221");
	assert_record("session-1.log", "B1 EHLO client.test\n"
	    "B2 <line too long>\nB3 NOOP\nB4 QUIT\n");
}
