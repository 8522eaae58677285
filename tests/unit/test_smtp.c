/*
 * test_smtp.c: the SMTP client engine (smtp.c) against the scripted
 * server tests/support/fakesmtp, through the contract of smtp.h only:
 * pipelined and lock-step transactions, CHUNKING, dot-stuffing, SIZE,
 * 8BITMIME, DSN and SMTPUTF8 parameters, the HELO fallback, per-stage
 * replies, recipient limits (452), faults (close, stall, over-long,
 * endless and malformed replies, the run's deadline), STARTTLS with its
 * plain-text fallback, implicit TLS, certificate verification and pinning
 * (certificates made with certtool at test time), AUTH (PLAIN, SCRAM-SHA-
 * 256, CRAM-MD5) with its redaction in the transcript, and streaming of a
 * large message.
 *
 * Every test gets a fresh temporary directory for the script and the
 * server's records, starts fakesmtp on 127.0.0.1 port 0 and always stops
 * it (by its PID) in the suite's fini. All waits are bounded; alarm() in
 * the suite's init ends a hung test (Criterion's .timeout leaks under
 * LeakSanitizer, see doc/design.md).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "intake.h"
#include "message.h"
#include "rows.h"
#include "smtp.h"
#include "spawn.h"
#include "tls.h"
#include "util.h"

#define WAIT_MS		5000	/* longest wait for a record file */
#define NOT_SENT	(-100)	/* smtp_send() was not called */
#define MAX_RCPTS	8

static char		 dir[64];	/* per test */
static struct server	 srv;
static struct buf	 tr;		/* the transcript, "D line\n" each */
static struct message	 msg;
static int		 have_msg;
static struct smtp_rcpt	 rcpts[MAX_RCPTS];

/* ------------------------------------------------------------ helpers */

static int
record_exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/rec/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Wait (bounded) for a record file to appear. */
static char *
wait_record(const char *name)
{
	return record_wait(dir, name, WAIT_MS);
}

/*
 * The log of session n, once the session has ended (.done is written
 * last), so that every line the client sent is in it.
 */
static char *
session_log(int n)
{
	char name[64];

	snprintf(name, sizeof(name), "session-%d.done", n);
	free(wait_record(name));
	snprintf(name, sizeof(name), "session-%d.log", n);
	return wait_record(name);
}

static char *
session_done(int n)
{
	char name[64];

	snprintf(name, sizeof(name), "session-%d.done", n);
	return wait_record(name);
}

/*
 * Find the nth (from 0) line of a session log whose command starts with
 * prefix (ignoring case). Returns its batch number, or -1; the command is
 * copied to out when out is not NULL.
 */
static int
log_find(const char *log, const char *prefix, int nth, char *out,
    size_t outlen)
{
	const char *p = log, *nl, *cmd;
	char *end;
	long k;

	for (; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		cr_assert(p[0] == 'B', "bad log line in:\n%s", log);
		k = strtol(p + 1, &end, 10);
		cr_assert(*end == ' ', "bad log line in:\n%s", log);
		cmd = end + 1;
		if (strncasecmp(cmd, prefix, strlen(prefix)) == 0 &&
		    nth-- == 0) {
			if (out != NULL)
				snprintf(out, outlen, "%.*s", (int)(nl - cmd),
				    cmd);
			return (int)k;
		}
		if (*nl == '\0')
			break;
	}
	return -1;
}

static int
log_count(const char *log, const char *prefix)
{
	int n = 0;

	while (log_find(log, prefix, n, NULL, 0) >= 0)
		n++;
	return n;
}

/* The log line (command) starting with prefix; it must exist. */
static void
log_line(const char *log, const char *prefix, char *out, size_t outlen)
{
	cr_assert(log_find(log, prefix, 0, out, outlen) >= 0,
	    "no \"%s\" line in the log:\n%s", prefix, log);
}

static void
setup(void)
{
	/*
	 * Every wait in these tests is bounded already; the alarm only ends
	 * a test process that hangs through a bug.
	 */
	alarm(60);
	snprintf(dir, sizeof(dir), "/tmp/test_smtp.XXXXXX");
	cr_assert(mkdtemp(dir) != NULL);
	memset(&srv, 0, sizeof(srv));
	memset(rcpts, 0, sizeof(rcpts));
	buf_init(&tr);
	have_msg = 0;
}

static void
teardown(void)
{
	server_stop(&srv);
	if (have_msg) {
		close(msg.fd);
		msg_free(&msg);
		have_msg = 0;
	}
	buf_free(&tr);
	if (dir[0] != '\0')
		remove_tree(dir);
}

TestSuite(smtp_txn, .init = setup, .fini = teardown);
TestSuite(smtp_greet, .init = setup, .fini = teardown);
TestSuite(smtp_fault, .init = setup, .fini = teardown);
TestSuite(smtp_tls, .init = setup, .fini = teardown);
TestSuite(smtp_auth, .init = setup, .fini = teardown);
TestSuite(smtp_misc, .init = setup, .fini = teardown);

/*
 * Start fakesmtp with the script text on 127.0.0.1 port 0, recording in
 * dir/rec, and whatever NULL-terminated extra arguments follow.
 */
static void
start(const char *script, ...)
{
	static const char *const args[] = { "--max-sessions", "3",
	    "--lifetime", "20", NULL };
	va_list ap;
	int rc;

	va_start(ap, script);
	rc = spawn_fakesmtp_va(&srv, dir, script, args, ap);
	va_end(ap);
	cr_assert_eq(rc, 0, "fakesmtp did not start");
	cr_assert(srv.nl >= 1);
}

/* The transcript hook: one "D line\n" per call. */
static void
collect(void *ctx, int d, const char *line, size_t len)
{
	struct buf *b = ctx;

	buf_addc(b, d);
	buf_addc(b, ' ');
	buf_add(b, line, len);
	buf_addc(b, '\n');
}

static void
p_init(struct smtp_params *p, unsigned port)
{
	struct sockaddr_in *sin;

	memset(p, 0, sizeof(*p));
	p->server = "mx.test";
	sin = (struct sockaddr_in *)&p->addr.ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->addr.len = sizeof(*sin);
	p->port = (uint16_t)port;
	p->helo = "client.test";
	p->tls = SMTP_TLS_OFF;
	p->verify = TLS_VERIFY_NONE;
	p->timeout_connect = 2;
	p->timeout_command = 2;
	p->timeout_data = 2;
	p->transcript = collect;
	p->transcript_ctx = &tr;
}

/* Spool a message from in as the mxsend front end would. */
static const struct message *
load_msg(const char *in, size_t len, int ignore_dots)
{
	char err[256];
	int ifd;

	cr_assert(!have_msg);
	ifd = memfd_create("in", 0);
	cr_assert(ifd >= 0, "memfd_create: %s", strerror(errno));
	cr_assert(write_all(ifd, in, len) == 0);
	cr_assert(lseek(ifd, 0, SEEK_SET) == 0);
	msg_init(&msg, memfd_create("spool", 0));
	cr_assert(msg.fd >= 0);
	cr_assert_eq(intake_read(ifd, &msg, ignore_dots, err, sizeof(err)),
	    INTAKE_OK, "%s", err);
	close(ifd);
	have_msg = 1;
	return &msg;
}

#define DEFAULT_IN	"Subject: test\n\nHello, world.\n"
#define DEFAULT_OUT	"Subject: test\r\n\r\nHello, world.\r\n"

static const struct message *
default_msg(void)
{
	return load_msg(DEFAULT_IN, strlen(DEFAULT_IN), 0);
}

/* A transaction from s@example.org to the NULL-terminated addresses. */
static void
txn_make(struct smtp_txn *t, const struct message *m, ...)
{
	const char *a;
	va_list ap;
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	memset(rcpts, 0, sizeof(rcpts));
	t->sender = "s@example.org";
	t->ret = RET_UNSET;
	t->msg = m;
	va_start(ap, m);
	while ((a = va_arg(ap, const char *)) != NULL) {
		cr_assert(n < MAX_RCPTS);
		rcpts[n++].addr = a;
	}
	va_end(ap);
	t->rcpts = rcpts;
	t->nrcpts = n;
}

/* What one session did, copied before smtp_close(). */
struct outcome {
	int			 open;		/* smtp_open() */
	int			 sent;		/* smtp_send(), or NOT_SENT */
	int			 usable;	/* smtp_usable() after it */
	int			 esmtp;
	int			 tls_active;
	int			 tls_fallback;
	int			 authenticated;
	char			 tls_info[256];
	struct smtp_status	 st;		/* smtp_open()'s */
	long			 ms;		/* open to close */
};

/* Open, send t (if not NULL and the open worked), close. */
static struct outcome
deliver(const struct smtp_params *p, struct smtp_txn *t)
{
	struct smtp_session s;
	struct outcome o;
	long t0 = ms_now();

	memset(&o, 0, sizeof(o));
	memset(&s, 0, sizeof(s));
	o.sent = NOT_SENT;
	o.open = smtp_open(&s, p, &o.st);
	if (o.open == 0) {
		o.esmtp = s.esmtp;
		o.tls_active = s.tls_active;
		o.tls_fallback = s.tls_fallback;
		o.authenticated = s.authenticated;
		snprintf(o.tls_info, sizeof(o.tls_info), "%s", s.tls_info);
		if (t != NULL)
			o.sent = smtp_send(&s, t);
		o.usable = smtp_usable(&s);
		smtp_close(&s);
	}
	o.ms = ms_now() - t0;
	return o;
}

#define ST_FMT		"%s at %s, code %d enh \"%s\": %s"
#define ST_ARGS(st)	smtp_event_name((st)->ev), \
	smtp_stage_name((st)->stage), (st)->code, (st)->enh, (st)->text

static void
assert_open_ok(const struct outcome *o)
{
	cr_assert_eq(o->open, 0, "smtp_open failed: " ST_FMT "\n%s",
	    ST_ARGS(&o->st), tr.data);
}

/* st is ev at stage (code and enh too unless -1, NULL); who: for messages. */
static void
assert_status_as(const char *who, const struct smtp_status *st,
    enum smtp_event ev, enum smtp_stage stage, int code, const char *enh)
{
	cr_assert_eq(st->ev, ev, "%swant %s at %s, got " ST_FMT "\n%s", who,
	    smtp_event_name(ev), smtp_stage_name(stage), ST_ARGS(st),
	    tr.data);
	cr_assert_eq(st->stage, stage, "%swant %s at %s, got " ST_FMT, who,
	    smtp_event_name(ev), smtp_stage_name(stage), ST_ARGS(st));
	if (code >= 0)
		cr_assert_eq(st->code, code, "%sgot " ST_FMT, who,
		    ST_ARGS(st));
	if (enh != NULL)
		cr_assert_str_eq(st->enh, enh, "%sgot " ST_FMT, who,
		    ST_ARGS(st));
}

static void
assert_status(const struct smtp_status *st, enum smtp_event ev,
    enum smtp_stage stage, int code, const char *enh)
{
	assert_status_as("", st, ev, stage, code, enh);
}

static void
assert_delivered(const struct smtp_rcpt *r)
{
	assert_status(&r->st, SMTP_EV_OK, SMTP_STAGE_EOD, -1, NULL);
}

/* Every recipient of t delivered, in n transactions. */
static void
assert_all_delivered(const struct outcome *o, const struct smtp_txn *t)
{
	size_t i;

	assert_open_ok(o);
	cr_assert_eq(o->sent, (int)t->nrcpts, "delivered %d of %zu\n%s",
	    o->sent, t->nrcpts, tr.data);
	for (i = 0; i < t->nrcpts; i++)
		assert_delivered(&t->rcpts[i]);
}

/* session-N.msg-M holds exactly want (len octets). */
static void
assert_msg(int n, int m, const char *want, size_t len)
{
	char name[64], *got;
	size_t glen;

	snprintf(name, sizeof(name), "session-%d.msg-%d", n, m);
	got = record_read(dir, name, &glen);
	cr_assert(got != NULL, "no %s", name);
	cr_assert_eq(glen, len, "%s: %zu octets, want %zu", name, glen, len);
	cr_assert(memcmp(got, want, len) == 0, "%s differs:\n%s\nwant:\n%s",
	    name, got, want);
	free(got);
}

static void
assert_contains(const char *hay, const char *needle, const char *what)
{
	cr_assert(strstr(hay, needle) != NULL, "%s lacks \"%s\":\n%s", what,
	    needle, hay);
}

static void
assert_lacks(const char *hay, const char *needle, const char *what)
{
	cr_assert(strstr(hay, needle) == NULL, "%s has \"%s\":\n%s", what,
	    needle, hay);
}

/* No session that the server saw got as far as MAIL. */
static void
assert_no_mail_anywhere(void)
{
	char name[64], *log;
	int n;

	for (n = 1; n <= 3; n++) {
		snprintf(name, sizeof(name), "session-%d.log", n);
		if (!record_exists(name))
			continue;
		log = session_log(n);
		cr_assert_eq(log_count(log, "MAIL"), 0, "MAIL in session %d:\n"
		    "%s", n, log);
		free(log);
	}
}

/*
 * The BDAT lines of a log: their counts must add up to size, and only
 * the last carries LAST.
 */
static void
assert_bdat(const char *log, size_t size)
{
	char line[256], *end;
	unsigned long long sum = 0;
	int i, n = log_count(log, "BDAT ");

	cr_assert(n > 0, "no BDAT in:\n%s", log);
	for (i = 0; i < n; i++) {
		cr_assert(log_find(log, "BDAT ", i, line, sizeof(line)) >= 0);
		sum += strtoull(line + 5, &end, 10);
		if (i + 1 < n)
			cr_assert(*end == '\0', "LAST too early: %s", line);
		else
			cr_assert(strcasecmp(end, " LAST") == 0,
			    "last chunk without LAST: %s\n%s", line, log);
	}
	cr_assert_eq(sum, (unsigned long long)size, "BDAT sizes add up to %llu,"
	    " want %zu", sum, size);
}

/* ------------------------------------------------------------ TLS PKI */

static char	 cert[128], key[128];

/* A self-signed certificate for mx.test in dir (cert, key). */
static void
make_cert(void)
{
	make_self_signed(dir, cert, key, sizeof(cert));
}

/* The SHA-256 of the certificate's DER, computed with GnuTLS directly. */
static void
cert_pin(unsigned char pin[32])
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem;
	size_t n = 32;

	cr_assert(gnutls_load_file(cert, &pem) == 0);
	cr_assert(gnutls_x509_crt_init(&crt) == 0);
	cr_assert(gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM) == 0);
	cr_assert(gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, pin,
	    &n) == 0 && n == 32);
	gnutls_x509_crt_deinit(crt);
	gnutls_free(pem.data);
}

/* Start fakesmtp with the certificate for STARTTLS. */
#define start_tls(script) \
	start((script), "--tls-cert", cert, "--tls-key", key, NULL)

/* ------------------------------------------------------------ transactions */

Test(smtp_txn, pipelining_chunking_three_recipients)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log, *env, *done;
	int b;

	start("ext PIPELINING\next CHUNKING\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "a@example.net", "b@example.net",
	    "c@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	assert_status(&t.st, SMTP_EV_OK, SMTP_STAGE_EOD, -1, NULL);
	cr_assert_eq(t.ntxn, 1);

	done = session_done(1);
	cr_assert_str_eq(done, "quit\n", "the session ended without QUIT");
	log = session_log(1);
	/* MAIL and the RCPTs in one flight. */
	b = log_find(log, "MAIL FROM:<s@example.org>", 0, NULL, 0);
	cr_assert(b > 0, "%s", log);
	cr_assert_eq(log_find(log, "RCPT TO:<a@example.net>", 0, NULL, 0), b,
	    "%s", log);
	cr_assert_eq(log_find(log, "RCPT TO:<b@example.net>", 0, NULL, 0), b,
	    "%s", log);
	cr_assert_eq(log_find(log, "RCPT TO:<c@example.net>", 0, NULL, 0), b,
	    "%s", log);
	/* BDAT, not DATA. */
	cr_assert_eq(log_count(log, "DATA"), 0, "%s", log);
	cr_assert_eq(log_count(log, "."), 0, "%s", log);
	assert_bdat(log, strlen(DEFAULT_OUT));
	cr_assert(log_find(log, "QUIT", 0, NULL, 0) > 0, "%s", log);
	assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
	env = wait_record("session-1.env-1");
	assert_contains(env, "accepted <a@example.net>\n"
	    "accepted <b@example.net>\naccepted <c@example.net>\n", "env-1");
	assert_contains(env, "result 250\n", "env-1");
	free(env);
	free(log);
	free(done);
}

/* Leading dots, a lone dot, bare LF, bare CR, CRLF, 8-bit octets. */
static const char tricky_in[] =
	"Subject: dots\n"
	"\n"
	".hidden\n"
	"..\n"
	".\n"
	"bare lf\n"
	"bare\rcr\r\n"
	"crlf\r\n"
	"8bit caf\xc3\xa9\n"
	"...x\n"
	"end";
static const char tricky_out[] =
	"Subject: dots\r\n"
	"\r\n"
	".hidden\r\n"
	"..\r\n"
	".\r\n"
	"bare lf\r\n"
	"bare\r\n"
	"cr\r\n"
	"crlf\r\n"
	"8bit caf\xc3\xa9\r\n"
	"...x\r\n"
	"end\r\n";

Test(smtp_txn, pipelining_data_one_batch_and_dot_stuffing)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log, *env, line[512];
	int b;

	start("ext PIPELINING\n", NULL);
	p_init(&p, srv.l[0].port);
	/* ignore_dots: the lone "." stays in the body (sendmail -i). */
	txn_make(&t, load_msg(tricky_in, sizeof(tricky_in) - 1, 1),
	    "a@example.net", "b@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);

	log = session_log(1);
	b = log_find(log, "MAIL FROM:", 0, line, sizeof(line));
	cr_assert(b > 0, "%s", log);
	cr_assert_eq(log_find(log, "RCPT TO:<a@example.net>", 0, NULL, 0), b,
	    "%s", log);
	cr_assert_eq(log_find(log, "RCPT TO:<b@example.net>", 0, NULL, 0), b,
	    "%s", log);
	cr_assert_eq(log_find(log, "DATA", 0, NULL, 0), b, "%s", log);
	/* No 8BITMIME offered: no BODY= (and the server would refuse it). */
	assert_lacks(line, "BODY=", "MAIL");
	cr_assert_eq(log_count(log, "BDAT"), 0, "%s", log);
	/* The server unstuffs: what it stored is the message as spooled. */
	assert_msg(1, 1, tricky_out, sizeof(tricky_out) - 1);
	env = wait_record("session-1.env-1");
	assert_lacks(env, "bare-lf", "env-1");
	assert_contains(env, "result 250\n", "env-1");
	free(env);
	free(log);
}

Test(smtp_txn, eightbitmime_declared_when_offered)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log, line[512];

	start("ext PIPELINING\next 8BITMIME\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, load_msg(tricky_in, sizeof(tricky_in) - 1, 1),
	    "a@example.net", NULL);
	t.eightbit = 1;
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	log = session_log(1);
	log_line(log, "MAIL FROM:", line, sizeof(line));
	assert_contains(line, " BODY=8BITMIME", "MAIL");
	assert_msg(1, 1, tricky_out, sizeof(tricky_out) - 1);
	free(log);
}

Test(smtp_txn, no_body_parameter_without_8bitmime)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log, line[512];

	start("ext PIPELINING\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, load_msg(tricky_in, sizeof(tricky_in) - 1, 1),
	    "a@example.net", NULL);
	t.eightbit = 1;
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	log = session_log(1);
	log_line(log, "MAIL FROM:", line, sizeof(line));
	assert_lacks(line, "BODY=", "MAIL");
	free(log);
}

Test(smtp_txn, size_parameter_is_the_stream_size)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log, line[512], want[64];

	start("ext PIPELINING\next SIZE 1000000\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, load_msg(tricky_in, sizeof(tricky_in) - 1, 1),
	    "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	log = session_log(1);
	log_line(log, "MAIL FROM:", line, sizeof(line));
	/* The octets streamed, before dot-stuffing: the CRLF form above. */
	snprintf(want, sizeof(want), " SIZE=%zu", sizeof(tricky_out) - 1);
	assert_contains(line, want, "MAIL");
	free(log);
}

Test(smtp_txn, lockstep_without_extensions)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log;
	int bm, b1, b2, bd;

	start("", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "a@example.net", "b@example.net", NULL);
	t.sender = "";		/* the null sender */
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.esmtp, 1);
	log = session_log(1);
	bm = log_find(log, "MAIL FROM:<>", 0, NULL, 0);
	b1 = log_find(log, "RCPT TO:<a@example.net>", 0, NULL, 0);
	b2 = log_find(log, "RCPT TO:<b@example.net>", 0, NULL, 0);
	bd = log_find(log, "DATA", 0, NULL, 0);
	cr_assert(bm > 0 && b1 > bm && b2 > b1 && bd > b2,
	    "commands not in separate batches:\n%s", log);
	assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
	free(log);
}

Test(smtp_txn, two_messages_on_one_session)
{
	struct smtp_params p;
	struct smtp_session s;
	struct smtp_status st;
	struct smtp_txn t;
	char *log;

	start("ext PIPELINING\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "a@example.net", NULL);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(smtp_open(&s, &p, &st), 0, ST_FMT, ST_ARGS(&st));
	cr_assert_eq(smtp_send(&s, &t), 1, "%s", tr.data);
	cr_assert(smtp_usable(&s));
	txn_make(&t, &msg, "b@example.net", NULL);
	cr_assert_eq(smtp_send(&s, &t), 1, "%s", tr.data);
	assert_delivered(&rcpts[0]);
	smtp_close(&s);
	log = session_log(1);
	cr_assert_eq(log_count(log, "MAIL FROM:"), 2, "%s", log);
	cr_assert_eq(log_count(log, "EHLO"), 1, "%s", log);
	assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
	assert_msg(1, 2, DEFAULT_OUT, strlen(DEFAULT_OUT));
	cr_assert(!record_exists("session-2.log"));
	free(log);
}

/* A transaction left open (every RCPT refused) is reset before the next. */
Test(smtp_txn, next_transaction_after_all_recipients_refused)
{
	struct smtp_params p;
	struct smtp_session s;
	struct smtp_status st;
	struct smtp_txn t;
	char *log;

	start("ext PIPELINING\n"
	    "rcpt match=<bad@ reply 550 5.1.1 No such user\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "bad@example.net", NULL);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(smtp_open(&s, &p, &st), 0, ST_FMT, ST_ARGS(&st));
	cr_assert_eq(smtp_send(&s, &t), 0, "%s", tr.data);
	assert_status(&rcpts[0].st, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 550,
	    "5.1.1");
	cr_assert(smtp_usable(&s));
	txn_make(&t, &msg, "good@example.net", NULL);
	cr_assert_eq(smtp_send(&s, &t), 1, "%s", tr.data);
	assert_delivered(&rcpts[0]);
	smtp_close(&s);
	log = session_log(1);
	cr_assert_eq(log_count(log, "MAIL FROM:"), 2, "%s", log);
	free(log);
}

/* ------------------------------------------------------------ greeting */

Test(smtp_greet, ehlo_502_falls_back_to_helo)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log;
	int be, bh;

	start("ehlo reply 502 5.5.2 Error: command not recognized\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.esmtp, 0);
	log = session_log(1);
	be = log_find(log, "EHLO client.test", 0, NULL, 0);
	bh = log_find(log, "HELO client.test", 0, NULL, 0);
	cr_assert(be > 0 && bh > be, "%s", log);
	assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
	free(log);
}

Test(smtp_greet, ehlo_550_fails_without_helo)
{
	struct smtp_params p;
	struct outcome o;
	char *log;

	start("ehlo reply 550 5.7.1 Go away\n", NULL);
	p_init(&p, srv.l[0].port);
	o = deliver(&p, NULL);
	cr_assert_eq(o.open, -1);
	assert_status(&o.st, SMTP_EV_REPLY, SMTP_STAGE_EHLO, 550, NULL);
	log = session_log(1);
	cr_assert_eq(log_count(log, "HELO"), 0, "%s", log);
	cr_assert_eq(log_count(log, "MAIL"), 0, "%s", log);
	free(log);
}

Test(smtp_greet, greeting_554)
{
	struct smtp_params p;
	struct outcome o;

	start("greeting reply 554 5.3.2 No SMTP service here\n", NULL);
	p_init(&p, srv.l[0].port);
	o = deliver(&p, NULL);
	cr_assert_eq(o.open, -1);
	assert_status(&o.st, SMTP_EV_REPLY, SMTP_STAGE_GREETING, 554, NULL);
	assert_contains(o.st.text, "No SMTP service here", "st.text");
	assert_no_mail_anywhere();
}

Test(smtp_greet, default_helo_is_our_address_literal)
{
	struct smtp_params p;
	struct outcome o;
	char *log;

	start("", NULL);
	p_init(&p, srv.l[0].port);
	p.helo = NULL;
	o = deliver(&p, NULL);
	assert_open_ok(&o);
	log = session_log(1);
	cr_assert(log_find(log, "EHLO [127.0.0.1]", 0, NULL, 0) > 0, "%s",
	    log);
	free(log);
}

/* ------------------------------------------------------------ replies */

/*
 * A reply refusing the transaction at a stage: every recipient (a@, and
 * b@ when there are two) fails with it and nothing is delivered.
 */
#define SECOND_NONE	0	/* one recipient */
#define SECOND_SAME	1	/* b@ gets the same status */
#define SECOND_NOT_OK	2	/* b@ is not delivered */

static const struct stage_reply {
	const char	*name;
	const char	*script;
	enum smtp_stage	 stage;
	int		 code;
	const char	*enh;
	int		 second;	/* SECOND_* */
	int		 usable;	/* after it; -1: not checked */
	int		 wait_done;	/* for the session's end, then: */
	int		 nmail;		/* MAIL lines; -1: any */
	int		 no_body;	/* no message stored */
} stage_replies[] = {
	{ "mail_451_fails_every_recipient",
	    "ext PIPELINING\nmail reply 451 4.3.0 Try later\n",
	    SMTP_STAGE_MAIL, 451, "4.3.0", SECOND_SAME, -1, 1, -1, 1 },
	/* A 452 to the first recipient is not retried in a new transaction. */
	{ "first_recipient_452_no_loop", "ext PIPELINING\n"
	    "rcpt reply 452 4.5.3 Too many recipients\n",
	    SMTP_STAGE_RCPT, 452, "4.5.3", SECOND_SAME, -1, 1, 1, 1 },
	/* 421: the server is closing; no further transaction on it. */
	{ "mail_421_ends_the_session",
	    "ext PIPELINING\nmail reply 421 4.3.2 Shutting down\n",
	    SMTP_STAGE_MAIL, 421, "4.3.2", SECOND_SAME, 0, 0, -1, 0 },
	{ "rcpt_421_ends_the_session",
	    "ext PIPELINING\nrcpt reply 421 4.3.2 Shutting down\n",
	    SMTP_STAGE_RCPT, 421, "4.3.2", SECOND_NOT_OK, 0, 0, -1, 1 },
	{ "mail_552_too_big", "ext PIPELINING\next SIZE 1000000\n"
	    "mail reply 552 5.3.4 too big\n",
	    SMTP_STAGE_MAIL, 552, "5.3.4", SECOND_NONE, -1, 0, -1, 0 },
	/* A refused message does not end the session. */
	{ "end_of_data_554_data",
	    "ext PIPELINING\neod reply 554 5.7.1 spam\n",
	    SMTP_STAGE_EOD, 554, "5.7.1", SECOND_SAME, 1, 0, -1, 0 },
	{ "end_of_data_554_bdat",
	    "ext PIPELINING\next CHUNKING\neod reply 554 5.7.1 spam\n",
	    SMTP_STAGE_EOD, 554, "5.7.1", SECOND_SAME, -1, 0, -1, 0 },
};

ROW_PARAMETERS(smtp_txn, stage_replies, stage_replies);

ParameterizedTest(const size_t *row, smtp_txn, stage_replies)
{
	const struct stage_reply *r = &stage_replies[*row];
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char who[80], *log;

	snprintf(who, sizeof(who), "%s: ", r->name);
	start(r->script, NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "a@example.net",
	    r->second != SECOND_NONE ? "b@example.net" : NULL, NULL);
	o = deliver(&p, &t);
	assert_open_ok(&o);
	cr_assert_eq(o.sent, 0, "%ssent %d\n%s", who, o.sent, tr.data);
	assert_status_as(who, &rcpts[0].st, SMTP_EV_REPLY, r->stage, r->code,
	    r->enh);
	if (r->second == SECOND_SAME)
		assert_status_as(who, &rcpts[1].st, SMTP_EV_REPLY, r->stage,
		    r->code, r->enh);
	if (r->second == SECOND_NOT_OK)
		cr_assert_neq(rcpts[1].st.ev, SMTP_EV_OK, "%s" ST_FMT, who,
		    ST_ARGS(&rcpts[1].st));
	if (r->usable >= 0)
		cr_assert_eq(!!o.usable, r->usable, "%susable %d", who,
		    o.usable);
	if (r->wait_done) {
		log = session_log(1);
		if (r->nmail >= 0)
			cr_assert_eq(log_count(log, "MAIL"), r->nmail,
			    "%sretried:\n%s", who, log);
		free(log);
	}
	if (r->no_body)
		cr_assert(!record_exists("session-1.msg-1"), "%smessage "
		    "content was sent", who);
}

/* The default message to a@, b@ and c@ on a server with script. */
static struct outcome
to_a_b_c(const char *script, struct smtp_txn *t)
{
	struct smtp_params p;
	struct outcome o;

	start(script, NULL);
	p_init(&p, srv.l[0].port);
	txn_make(t, default_msg(), "a@example.net", "b@example.net",
	    "c@example.net", NULL);
	o = deliver(&p, t);
	assert_open_ok(&o);
	return o;
}

Test(smtp_txn, mixed_recipient_replies)
{
	struct smtp_txn t;
	struct outcome o;
	char *env;

	o = to_a_b_c("ext PIPELINING\n"
	    "rcpt match=<a@ reply 550 5.1.1 No such user\n"
	    "rcpt match=<b@ reply 450 4.2.0 Mailbox busy\n", &t);
	cr_assert_eq(o.sent, 1, "%s", tr.data);
	assert_status(&rcpts[0].st, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 550,
	    "5.1.1");
	assert_status(&rcpts[1].st, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 450,
	    "4.2.0");
	assert_delivered(&rcpts[2]);
	env = wait_record("session-1.env-1");
	assert_contains(env, "rejected <a@example.net> 550\n", "env-1");
	assert_contains(env, "rejected <b@example.net> 450\n", "env-1");
	assert_contains(env, "accepted <c@example.net>\n", "env-1");
	assert_contains(env, "result 250\n", "env-1");
	free(env);
	assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
}

/*
 * 421 to one RCPT is that recipient's reply (SPEC §6 rule 5); the others
 * got none: for them the session broke before the transaction ended
 * (rule 3), whether their RCPT was answered already or not yet.
 */
static void
rcpt_421_only_its_own(const char *script)
{
	struct smtp_txn t;
	struct outcome o;
	int i;

	o = to_a_b_c(script, &t);
	cr_assert_eq(o.sent, 0, "%s", tr.data);
	assert_status(&rcpts[1].st, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 421,
	    "4.3.2");
	for (i = 0; i < 3; i += 2) {
		assert_status(&rcpts[i].st, SMTP_EV_BROKEN, SMTP_STAGE_RCPT, 0,
		    "");
		assert_contains(rcpts[i].st.text, "421 4.3.2", "the reason");
	}
}

Test(smtp_txn, rcpt_421_is_only_its_recipients_reply_lock_step)
{
	rcpt_421_only_its_own("rcpt match=<b@ reply 421 4.3.2 Closing\n");
}

Test(smtp_txn, rcpt_421_is_only_its_recipients_reply_pipelined)
{
	rcpt_421_only_its_own("ext PIPELINING\n"
	    "rcpt match=<b@ reply 421 4.3.2 Closing\n");
}

/*
 * One transaction on a session of its own, counting the writes it cost:
 * *writes those of smtp_send() alone, *closing those of smtp_close().
 */
static void
counted(const char *script, int last, struct smtp_txn *t,
    unsigned long *writes, unsigned long *closing)
{
	struct smtp_params p;
	struct smtp_session s;
	struct smtp_status st;
	unsigned long w0;

	start(script, NULL);
	p_init(&p, srv.l[0].port);
	txn_make(t, default_msg(), "a@example.net", "b@example.net", NULL);
	t->last = last;
	memset(&s, 0, sizeof(s));
	cr_assert_eq(smtp_open(&s, &p, &st), 0, ST_FMT, ST_ARGS(&st));
	w0 = s.conn.nwrites;
	cr_assert_eq(smtp_send(&s, t), 2, "%s", tr.data);
	*writes = s.conn.nwrites - w0;
	w0 = s.conn.nwrites;
	if (!last)
		cr_assert(smtp_usable(&s));
	smtp_close(&s);
	/* smtp_close() cleared the connection; its writes were counted. */
	*closing = s.conn.nwrites - w0;
}

/*
 * SPEC §6: with PIPELINING and CHUNKING the envelope, "BDAT n LAST" and
 * the chunk leave in one write; a body written after its command would
 * wait for the peer's ACK of the first segment on a real network.
 */
Test(smtp_txn, chunking_flight_is_one_write)
{
	struct smtp_txn t;
	unsigned long writes, closing;
	char *log;
	int b;

	counted("ext PIPELINING\next CHUNKING\n", 0, &t, &writes, &closing);
	cr_assert_eq(writes, 1, "the flight took %lu writes\n%s", writes,
	    tr.data);
	cr_assert_eq(closing, 1, "QUIT took %lu writes", closing);
	log = session_log(1);
	b = log_find(log, "MAIL FROM:", 0, NULL, 0);
	cr_assert(b > 0, "%s", log);
	cr_assert_eq(log_find(log, "BDAT ", 0, NULL, 0), b, "%s", log);
	/* Not the last transaction: QUIT waited for the BDAT reply. */
	cr_assert_gt(log_find(log, "QUIT", 0, NULL, 0), b, "%s", log);
	assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
	free(log);
}

/*
 * The session's last transaction: QUIT joins the BDAT flight (SPEC §6),
 * arriving in the same batch as the envelope and the chunk, and nothing
 * is written after it.
 */
Test(smtp_txn, last_chunking_flight_carries_quit)
{
	struct smtp_txn t;
	unsigned long writes, closing;
	char *log, *done;
	int b;

	counted("ext PIPELINING\next CHUNKING\n", 1, &t, &writes, &closing);
	assert_status(&t.st, SMTP_EV_OK, SMTP_STAGE_EOD, -1, NULL);
	assert_delivered(&rcpts[0]);
	assert_delivered(&rcpts[1]);
	cr_assert_eq(writes, 1, "the flight took %lu writes\n%s", writes,
	    tr.data);
	cr_assert_eq(closing, 0, "smtp_close() wrote %lu times", closing);
	log = session_log(1);
	b = log_find(log, "MAIL FROM:", 0, NULL, 0);
	cr_assert(b > 0, "%s", log);
	cr_assert_eq(log_find(log, "BDAT ", 0, NULL, 0), b, "%s", log);
	cr_assert_eq(log_find(log, "QUIT", 0, NULL, 0), b, "%s", log);
	cr_assert_eq(log_count(log, "QUIT"), 1, "%s", log);
	done = session_done(1);
	cr_assert_str_eq(done, "quit\n");
	free(done);
	assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
	/* The transcript keeps the order of the wire. */
	assert_contains(tr.data, " octets)\n> QUIT\n< 250", "transcript");
	free(log);
}

/* PIPELINING without CHUNKING: the envelope, then body and "." whole. */
Test(smtp_txn, data_flights_are_one_write_each)
{
	struct smtp_txn t;
	unsigned long writes, closing;
	char *log;

	counted("ext PIPELINING\n", 0, &t, &writes, &closing);
	cr_assert_eq(writes, 2, "the transaction took %lu writes\n%s", writes,
	    tr.data);
	cr_assert_eq(closing, 1);
	log = session_log(1);
	cr_assert_gt(log_find(log, "QUIT", 0, NULL, 0),
	    log_find(log, ".", 0, NULL, 0), "%s", log);
	free(log);
}

/* RFC 2920 §3.1: the message content may begin a group that QUIT ends. */
Test(smtp_txn, last_data_body_carries_quit)
{
	struct smtp_txn t;
	unsigned long writes, closing;
	char *log;
	int b;

	counted("ext PIPELINING\n", 1, &t, &writes, &closing);
	assert_delivered(&rcpts[0]);
	cr_assert_eq(writes, 2, "the transaction took %lu writes\n%s", writes,
	    tr.data);
	cr_assert_eq(closing, 0, "smtp_close() wrote %lu times", closing);
	log = session_log(1);
	b = log_find(log, ".", 0, NULL, 0);
	cr_assert(b > 0, "%s", log);
	cr_assert_eq(log_find(log, "QUIT", 0, NULL, 0), b, "%s", log);
	free(log);
}

/* Without PIPELINING nothing may follow the end of data unanswered. */
Test(smtp_txn, last_lockstep_quit_after_reply)
{
	struct smtp_txn t;
	unsigned long writes, closing;
	char *log;

	counted("ext CHUNKING\n", 1, &t, &writes, &closing);
	assert_delivered(&rcpts[0]);
	cr_assert_eq(closing, 1);
	log = session_log(1);
	cr_assert_gt(log_find(log, "QUIT", 0, NULL, 0),
	    log_find(log, "BDAT ", 0, NULL, 0), "%s", log);
	free(log);
}

/*
 * A server that limits recipients below RFC 5321's 100 when QUIT has
 * already gone: those held back keep their 452, a deferral, and no
 * second transaction is tried on a session that is ending.
 */
Test(smtp_txn, last_flight_recipient_limit_defers_the_rest)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;

	start("ext PIPELINING\next CHUNKING\n"
	    "rcpt after=1 reply 452 4.5.3 Too many recipients\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "r1@example.net", "r2@example.net", NULL);
	t.last = 1;
	o = deliver(&p, &t);
	assert_open_ok(&o);
	cr_assert_eq(o.sent, 1, "%s", tr.data);
	cr_assert_eq(t.ntxn, 1);
	assert_delivered(&rcpts[0]);
	assert_status(&rcpts[1].st, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 452,
	    "4.5.3");
	free(session_log(1));
	cr_assert(!record_exists("session-1.msg-2"));
}

Test(smtp_txn, recipient_limit_splits_transactions)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *env;

	start("ext PIPELINING\n"
	    "rcpt after=2 reply 452 4.5.3 Too many recipients\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "r1@example.net", "r2@example.net",
	    "r3@example.net", "r4@example.net", "r5@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(t.ntxn, 3);
	free(session_log(1));
	assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
	assert_msg(1, 2, DEFAULT_OUT, strlen(DEFAULT_OUT));
	assert_msg(1, 3, DEFAULT_OUT, strlen(DEFAULT_OUT));
	cr_assert(!record_exists("session-1.msg-4"));
	cr_assert(!record_exists("session-2.log"), "a second session");
	env = wait_record("session-1.env-1");
	assert_contains(env, "accepted <r1@example.net>\n"
	    "accepted <r2@example.net>\n", "env-1");
	free(env);
	env = wait_record("session-1.env-2");
	assert_contains(env, "accepted <r3@example.net>\n"
	    "accepted <r4@example.net>\n", "env-2");
	free(env);
	env = wait_record("session-1.env-3");
	assert_contains(env, "accepted <r5@example.net>\n", "env-3");
	free(env);
}

Test(smtp_txn, size_limit_checked_before_mail)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char big[400];
	char *log;

	memset(big, 'x', sizeof(big));
	memcpy(big, "Subject: big\n\n", 14);
	big[sizeof(big) - 1] = '\n';
	start("ext PIPELINING\next SIZE 100\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, load_msg(big, sizeof(big), 0), "a@example.net",
	    "b@example.net", NULL);
	o = deliver(&p, &t);
	assert_open_ok(&o);
	cr_assert_eq(o.sent, 0, "%s", tr.data);
	cr_assert_eq(rcpts[0].st.ev, SMTP_EV_SIZE, ST_FMT,
	    ST_ARGS(&rcpts[0].st));
	cr_assert_eq(rcpts[1].st.ev, SMTP_EV_SIZE, ST_FMT,
	    ST_ARGS(&rcpts[1].st));
	log = session_log(1);
	cr_assert_eq(log_count(log, "MAIL"), 0, "%s", log);
	free(log);
}

Test(smtp_txn, dsn_parameters_when_offered)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log, line[512];

	start("ext PIPELINING\next DSN\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "a@example.net", "b@example.net", NULL);
	t.ret = RET_HDRS;
	t.envid = "abc+1";
	rcpts[0].notify = NOTIFY_FAILURE | NOTIFY_DELAY;
	rcpts[0].orcpt = "x@example.com";
	rcpts[1].notify = NOTIFY_NEVER;
	rcpts[1].orcpt = "y+z@example.com";
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	log = session_log(1);
	log_line(log, "MAIL FROM:", line, sizeof(line));
	assert_contains(line, " RET=HDRS", "MAIL");
	assert_contains(line, " ENVID=abc+2B1", "MAIL");
	log_line(log, "RCPT TO:<a@", line, sizeof(line));
	cr_assert(strstr(line, " NOTIFY=FAILURE,DELAY") != NULL ||
	    strstr(line, " NOTIFY=DELAY,FAILURE") != NULL, "RCPT: %s", line);
	assert_contains(line, " ORCPT=rfc822;x@example.com", "RCPT");
	log_line(log, "RCPT TO:<b@", line, sizeof(line));
	assert_contains(line, " NOTIFY=NEVER", "RCPT");
	/* xtext: "+" is "+2B". */
	assert_contains(line, " ORCPT=rfc822;y+2Bz@example.com", "RCPT");
	free(log);
}

Test(smtp_txn, dsn_parameters_dropped_without_dsn)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log;

	start("ext PIPELINING\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "a@example.net", NULL);
	t.ret = RET_HDRS;
	t.envid = "abc+1";
	rcpts[0].notify = NOTIFY_FAILURE | NOTIFY_DELAY;
	rcpts[0].orcpt = "x@example.com";
	o = deliver(&p, &t);
	/* fakesmtp answers 555 to DSN parameters it did not offer. */
	assert_all_delivered(&o, &t);
	log = session_log(1);
	assert_lacks(log, "RET=", "log");
	assert_lacks(log, "ENVID=", "log");
	assert_lacks(log, "NOTIFY=", "log");
	assert_lacks(log, "ORCPT=", "log");
	free(log);
}

Test(smtp_misc, xtext)
{
	static const char *const t[][2] = {
		{ "abc+1", "abc+2B1" },
		{ "a=b c", "a+3Db+20c" },
		{ "caf\xc3\xa9", "caf+C3+A9" },
		{ "", "" },
	};
	size_t i;
	char *s;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		s = xtext_encode(t[i][0]);
		cr_assert_str_eq(s, t[i][1], "'%s': '%s'", row_show(t[i][0]),
		    s);
		free(s);
	}
}
#define UTF8_RCPT	"caf\xc3\xa9@example.net"

Test(smtp_txn, smtputf8_recipient_without_smtputf8)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log;

	start("ext PIPELINING\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), UTF8_RCPT, "plain@example.net", NULL);
	rcpts[0].smtputf8 = 1;
	o = deliver(&p, &t);
	assert_open_ok(&o);
	cr_assert_eq(o.sent, 1, "%s", tr.data);
	cr_assert_eq(rcpts[0].st.ev, SMTP_EV_NOUTF8, ST_FMT,
	    ST_ARGS(&rcpts[0].st));
	assert_delivered(&rcpts[1]);
	log = session_log(1);
	assert_lacks(log, "caf\xc3\xa9", "log");
	assert_lacks(log, "SMTPUTF8", "log");
	free(log);
}

Test(smtp_txn, smtputf8_recipient_with_smtputf8)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log, line[512];

	start("ext PIPELINING\next 8BITMIME\next SMTPUTF8\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), UTF8_RCPT, "plain@example.net", NULL);
	rcpts[0].smtputf8 = 1;
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	log = session_log(1);
	log_line(log, "MAIL FROM:", line, sizeof(line));
	assert_contains(line, " SMTPUTF8", "MAIL");
	cr_assert(log_find(log, "RCPT TO:<" UTF8_RCPT ">", 0, NULL, 0) > 0,
	    "%s", log);
	free(log);
}

Test(smtp_txn, smtputf8_sender_without_smtputf8)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;

	start("ext PIPELINING\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "a@example.net", "b@example.net", NULL);
	t.sender = "j\xc3\xb6rg@example.org";
	t.smtputf8 = 1;
	o = deliver(&p, &t);
	assert_open_ok(&o);
	cr_assert_eq(o.sent, 0, "%s", tr.data);
	cr_assert_eq(rcpts[0].st.ev, SMTP_EV_NOUTF8, ST_FMT,
	    ST_ARGS(&rcpts[0].st));
	cr_assert_eq(rcpts[1].st.ev, SMTP_EV_NOUTF8, ST_FMT,
	    ST_ARGS(&rcpts[1].st));
	assert_no_mail_anywhere();
}

/* ------------------------------------------------------------ faults */

#define FAULT_MS	4000	/* timeout_command 2 s + 2 s */

/*
 * One delivery against script: ev at stage, a temporary failure of the
 * session, within limit_ms.
 */
static const struct fault {
	const char	*name;
	const char	*script;
	enum smtp_event	 ev;
	enum smtp_stage	 stage;
	long		 limit_ms;
	unsigned	 timeout_command;
	unsigned	 deadline_s;	/* 0: none */
	int		 msg_arrived;	/* the server stored it */
} faults[] = {
	{ "close_at_greeting", "greeting close\n", SMTP_EV_BROKEN,
	    SMTP_STAGE_GREETING, FAULT_MS, 2, 0, 0 },
	{ "close_at_ehlo", "ehlo close\n", SMTP_EV_BROKEN, SMTP_STAGE_EHLO,
	    FAULT_MS, 2, 0, 0 },
	{ "close_at_mail", "mail close\n", SMTP_EV_BROKEN, SMTP_STAGE_MAIL,
	    FAULT_MS, 2, 0, 0 },
	{ "close_at_rcpt", "rcpt close\n", SMTP_EV_BROKEN, SMTP_STAGE_RCPT,
	    FAULT_MS, 2, 0, 0 },
	{ "close_at_data", "data close\n", SMTP_EV_BROKEN, SMTP_STAGE_DATA,
	    FAULT_MS, 2, 0, 0 },
	/* The message arrived and the reply never came: not delivered. */
	{ "close_at_eod", "eod close\n", SMTP_EV_BROKEN, SMTP_STAGE_EOD,
	    FAULT_MS, 2, 0, 1 },
	{ "stall_at_greeting", "greeting stall 30\n", SMTP_EV_TIMEOUT,
	    SMTP_STAGE_GREETING, FAULT_MS, 2, 0, 0 },
	{ "stall_at_ehlo", "ehlo stall 30\n", SMTP_EV_TIMEOUT,
	    SMTP_STAGE_EHLO, FAULT_MS, 2, 0, 0 },
	{ "stall_at_mail", "mail stall 30\n", SMTP_EV_TIMEOUT,
	    SMTP_STAGE_MAIL, FAULT_MS, 2, 0, 0 },
	{ "stall_at_rcpt", "rcpt stall 30\n", SMTP_EV_TIMEOUT,
	    SMTP_STAGE_RCPT, FAULT_MS, 2, 0, 0 },
	{ "stall_at_data", "data stall 30\n", SMTP_EV_TIMEOUT,
	    SMTP_STAGE_DATA, FAULT_MS, 2, 0, 0 },
	/* timeout_data is 2 s too (p_init). */
	{ "stall_at_eod", "eod stall 30\n", SMTP_EV_TIMEOUT, SMTP_STAGE_EOD,
	    FAULT_MS, 2, 0, 0 },
	{ "long_line_at_ehlo", "ehlo long 102400\n", SMTP_EV_BROKEN,
	    SMTP_STAGE_EHLO, FAULT_MS, 2, 0, 0 },
	{ "endless_reply_at_ehlo", "ehlo endless\n", SMTP_EV_BROKEN,
	    SMTP_STAGE_EHLO, FAULT_MS, 2, 0, 0 },
	{ "garbage_at_ehlo", "ehlo garbage 1024\n", SMTP_EV_BROKEN,
	    SMTP_STAGE_EHLO, FAULT_MS, 2, 0, 0 },
	{ "malformed_reply_at_mail", "mail reply 25 ok\n", SMTP_EV_BROKEN,
	    SMTP_STAGE_MAIL, FAULT_MS, 2, 0, 0 },
	/* The stage's time-out is 10 s; the run's deadline, 1 s, wins. */
	{ "deadline_at_rcpt", "rcpt stall 30\n", SMTP_EV_DEADLINE,
	    SMTP_STAGE_RCPT, 3000, 10, 1, 0 },
};

ROW_PARAMETERS(smtp_fault, faults, faults);

ParameterizedTest(const size_t *row, smtp_fault, faults)
{
	const struct fault *f = &faults[*row];
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	const struct smtp_status *st;
	char who[80];

	snprintf(who, sizeof(who), "%s: ", f->name);
	start(f->script, NULL);
	p_init(&p, srv.l[0].port);
	p.timeout_command = f->timeout_command;
	if (f->deadline_s > 0)
		net_deadline_set(&p.deadline, f->deadline_s);
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	if (f->stage <= SMTP_STAGE_EHLO) {
		cr_assert_eq(o.open, -1, "%ssmtp_open succeeded\n%s", who,
		    tr.data);
		st = &o.st;
	} else {
		cr_assert_eq(o.open, 0, "%ssmtp_open failed: " ST_FMT "\n%s",
		    who, ST_ARGS(&o.st), tr.data);
		cr_assert_eq(o.sent, 0, "%ssmtp_send returned %d\n%s", who,
		    o.sent, tr.data);
		cr_assert_eq(o.usable, 0, "%ssession still usable after %s",
		    who, smtp_event_name(f->ev));
		st = &rcpts[0].st;
	}
	assert_status_as(who, st, f->ev, f->stage, -1, NULL);
	cr_assert_lt(o.ms, f->limit_ms, "%stook %ld ms", who, o.ms);
	if (f->msg_arrived)
		assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
}

Test(smtp_fault, connect_refused)
{
	struct sockaddr_in sin;
	struct smtp_params p;
	struct outcome o;
	socklen_t sl = sizeof(sin);
	int fd;

	/* A port that was free a moment ago and has no listener now. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
	close(fd);
	p_init(&p, ntohs(sin.sin_port));
	o = deliver(&p, NULL);
	cr_assert_eq(o.open, -1);
	assert_status(&o.st, SMTP_EV_CONNECT, SMTP_STAGE_CONNECT, -1, NULL);
	cr_assert_lt(o.ms, FAULT_MS);
}

/* ------------------------------------------------------------ TLS */

Test(smtp_tls, starttls_opportunistic)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log, *tls;
	int e1, e2, bs;

	make_cert();
	start_tls("ext PIPELINING\next STARTTLS\n"
	    "tls-ext PIPELINING\ntls-ext CHUNKING\n");
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_MAY;
	txn_make(&t, default_msg(), "a@example.net", NULL);
	cr_assert_eq(tls_initialised(), 0);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.tls_active, 1);
	cr_assert_eq(o.tls_fallback, 0);
	cr_assert(o.tls_info[0] != '\0', "no tls_info");
	/* A TLS session does initialise GnuTLS (see plain_never_...). */
	cr_assert_eq(tls_initialised(), 1);

	tls = wait_record("session-1.tls");
	cr_assert(strncmp(tls, "tls\nmode starttls\n", 18) == 0, "%s", tls);
	assert_contains(tls, "\nsni mx.test\n", "session-1.tls");
	free(tls);
	log = session_log(1);
	e1 = log_find(log, "EHLO client.test", 0, NULL, 0);
	bs = log_find(log, "STARTTLS", 0, NULL, 0);
	e2 = log_find(log, "EHLO client.test", 1, NULL, 0);
	cr_assert(e1 > 0 && bs > e1 && e2 > bs, "%s", log);
	/* CHUNKING was only offered under TLS: the EHLO after it counted. */
	cr_assert_eq(log_count(log, "DATA"), 0, "%s", log);
	assert_bdat(log, strlen(DEFAULT_OUT));
	assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
	free(log);
}

Test(smtp_tls, starttls_failed_handshake_falls_back_to_plain)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log, *tls;

	/* No certificate: the 220 is followed by a failed handshake. */
	start("ext PIPELINING\next STARTTLS\n"
	    "starttls reply 220 2.0.0 go ahead\n", NULL);
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_MAY;
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.tls_fallback, 1);
	cr_assert_eq(o.tls_active, 0);
	tls = wait_record("session-1.tls");
	cr_assert(strncmp(tls, "failed", 6) == 0, "%s", tls);
	free(tls);
	log = session_log(2);
	cr_assert_eq(log_count(log, "STARTTLS"), 0, "%s", log);
	cr_assert(log_find(log, "MAIL FROM:", 0, NULL, 0) > 0, "%s", log);
	free(log);
	assert_msg(2, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
	cr_assert(!record_exists("session-3.log"));
}

Test(smtp_tls, starttls_required_but_not_offered)
{
	struct smtp_params p;
	struct outcome o;

	start("ext PIPELINING\n", NULL);
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_STARTTLS;
	o = deliver(&p, NULL);
	cr_assert_eq(o.open, -1);
	cr_assert_eq(o.st.ev, SMTP_EV_NOTLS, ST_FMT, ST_ARGS(&o.st));
	assert_no_mail_anywhere();
	cr_assert(!record_exists("session-2.log"));
}

/* RFC 3207 §4: a refused STARTTLS leaves an opportunistic session as it was. */
Test(smtp_tls, may_starttls_refused_goes_on_in_plain_text)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *log;

	/* No certificate: fakesmtp answers STARTTLS with 454. */
	start("ext PIPELINING\next STARTTLS\n", NULL);
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_MAY;
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.tls_active, 0);
	cr_assert_eq(o.tls_fallback, 0);
	log = session_log(1);
	cr_assert_eq(log_count(log, "STARTTLS"), 1, "%s", log);
	cr_assert(log_find(log, "MAIL FROM:", 0, NULL, 0) > 0, "%s", log);
	free(log);
	cr_assert(!record_exists("session-2.log"), "reconnected");
}

Test(smtp_tls, ifoffered_without_starttls_goes_plain)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;

	start("ext PIPELINING\n", NULL);
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_IFOFFERED;
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.tls_active, 0);
}

Test(smtp_tls, ifoffered_with_starttls)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;

	make_cert();
	start_tls("ext PIPELINING\next STARTTLS\n");
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_IFOFFERED;
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.tls_active, 1);
}

/* Offered, then failed: never plain text after (a relay's credentials). */
Test(smtp_tls, ifoffered_failed_handshake_no_fallback)
{
	struct smtp_params p;
	struct outcome o;

	start("ext PIPELINING\next STARTTLS\n"
	    "starttls reply 220 2.0.0 go ahead\n", NULL);
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_IFOFFERED;
	o = deliver(&p, NULL);
	cr_assert_eq(o.open, -1, "went on after a failed handshake");
	assert_status(&o.st, SMTP_EV_TLS, SMTP_STAGE_STARTTLS, -1, NULL);
	assert_no_mail_anywhere();
	cr_assert(!record_exists("session-2.log"), "reconnected in plain text");
}

Test(smtp_tls, ifoffered_starttls_refused)
{
	struct smtp_params p;
	struct outcome o;

	start("ext PIPELINING\next STARTTLS\n", NULL);	/* 454 */
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_IFOFFERED;
	o = deliver(&p, NULL);
	cr_assert_eq(o.open, -1, "went on in plain text after a 454");
	assert_status(&o.st, SMTP_EV_TLS, SMTP_STAGE_STARTTLS, 454, NULL);
	assert_no_mail_anywhere();
}

/*
 * RFC 3207 §5: a reply line sent along with the 220 (a man in the middle
 * injecting plain text) must not be taken as the answer to a command sent
 * under TLS.
 */
Test(smtp_tls, starttls_injection_refused)
{
	struct smtp_params p;
	struct outcome o;

	make_cert();
	start_tls("ext PIPELINING\next STARTTLS\n"
	    "starttls reply 220 2.0.0 Ready\\r\\n250 injected\n");
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_STARTTLS;
	o = deliver(&p, NULL);
	cr_assert_eq(o.open, -1, "accepted data injected before TLS\n%s",
	    tr.data);
	cr_assert_eq(o.st.stage, SMTP_STAGE_STARTTLS, ST_FMT, ST_ARGS(&o.st));
	assert_no_mail_anywhere();
}

/* Require STARTTLS with the given verification; returns the outcome. */
static struct outcome
verified(const char *server, enum tls_verify v, const char *ca,
    const unsigned char *pin, struct smtp_txn *t)
{
	struct smtp_params p;

	start_tls("ext PIPELINING\next STARTTLS\n");
	p_init(&p, srv.l[0].port);
	p.server = server;
	p.tls = SMTP_TLS_STARTTLS;
	p.verify = v;
	p.ca_file = ca;
	p.pin = pin;
	txn_make(t, default_msg(), "a@example.net", NULL);
	return deliver(&p, t);
}

#define PIN_NONE	0
#define PIN_RIGHT	1	/* the certificate's */
#define PIN_WRONG	2	/* one bit off */

/* STARTTLS required with a verification: the session goes on, or not. */
static const struct verify_row {
	const char	*name;
	const char	*server;	/* the name verified */
	enum tls_verify	 verify;
	int		 ca;		/* the certificate as CA */
	int		 pin;		/* PIN_* */
	const char	*refused;	/* NULL: delivered; else why not */
	int		 msg;		/* check the message stored */
} verify_rows[] = {
	{ "verify_chain_system_trust_refuses_self_signed", "mx.test",
	    TLS_VERIFY_CHAIN, 0, PIN_NONE,
	    "a self-signed certificate was trusted", 0 },
	{ "verify_chain_with_ca_file", "mx.test", TLS_VERIFY_CHAIN, 1,
	    PIN_NONE, NULL, 1 },
	{ "verify_chain_wrong_name", "other.test", TLS_VERIFY_CHAIN, 1,
	    PIN_NONE, "a certificate for mx.test was accepted for other.test",
	    0 },
	/* The pin alone decides: no CA, and a name the cert does not hold. */
	{ "verify_pin_matches", "other.test", TLS_VERIFY_PIN, 0, PIN_RIGHT,
	    NULL, 0 },
	{ "verify_pin_mismatch", "mx.test", TLS_VERIFY_PIN, 1, PIN_WRONG,
	    "a wrong pin was accepted", 0 },
};

ROW_PARAMETERS(smtp_tls, verify, verify_rows);

ParameterizedTest(const size_t *row, smtp_tls, verify)
{
	const struct verify_row *r = &verify_rows[*row];
	unsigned char pin[32];
	struct smtp_txn t;
	struct outcome o;
	char who[80];

	snprintf(who, sizeof(who), "%s: ", r->name);
	make_cert();
	if (r->pin != PIN_NONE)
		cert_pin(pin);
	if (r->pin == PIN_WRONG)
		pin[31] ^= 0x01;
	o = verified(r->server, r->verify, r->ca ? cert : NULL,
	    r->pin != PIN_NONE ? pin : NULL, &t);
	if (r->refused != NULL) {
		cr_assert_eq(o.open, -1, "%s%s", who, r->refused);
		assert_status_as(who, &o.st, SMTP_EV_TLS,
		    SMTP_STAGE_STARTTLS, -1, NULL);
		assert_no_mail_anywhere();
		return;
	}
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.tls_active, 1, "%sno TLS", who);
	if (r->msg)
		assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
}

/*
 * tls12 (the relay, RFC 8996) refuses a server of TLS 1.0 and 1.1 only;
 * without it (MX hosts, RFC 7435) that server still gets TLS.
 */
Test(smtp_tls, tls12_refuses_tls_1_1_servers)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *tls;

	make_cert();
	start_tls("ext PIPELINING\next STARTTLS\n"
	    "tls-priority NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0\n");
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_STARTTLS;
	p.tls12 = 1;
	o = deliver(&p, NULL);
	cr_assert_eq(o.open, -1, "TLS 1.1 accepted with tls12");
	assert_status(&o.st, SMTP_EV_TLS, SMTP_STAGE_STARTTLS, -1, NULL);
	assert_no_mail_anywhere();
	p.tls12 = 0;
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	tls = wait_record("session-2.tls");
	assert_contains(tls, "version TLS1.1", "session-2.tls");
	free(tls);
}

Test(smtp_tls, implicit_tls)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *tls, *log;

	make_cert();
	start("ext PIPELINING\n", "--listen-tls", "127.0.0.1:0",
	    "--tls-cert", cert, "--tls-key", key, NULL);
	cr_assert_eq(srv.nl, 2);
	p_init(&p, srv.l[1].port);
	p.tls = SMTP_TLS_IMPLICIT;
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.tls_active, 1);
	tls = wait_record("session-1.tls");
	cr_assert(strncmp(tls, "tls\nmode implicit\n", 18) == 0, "%s", tls);
	free(tls);
	log = session_log(1);
	cr_assert_eq(log_count(log, "STARTTLS"), 0, "%s", log);
	free(log);
	assert_msg(1, 1, DEFAULT_OUT, strlen(DEFAULT_OUT));
}

/*
 * Criterion runs each test in a process of its own, so tls_initialised()
 * here says whether this test's session touched GnuTLS (SPEC §9). The
 * STARTTLS test above shows that it does become 1.
 */
Test(smtp_tls, plain_session_never_initialises_gnutls)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;

	start("ext PIPELINING\next CHUNKING\next 8BITMIME\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "a@example.net", "b@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(tls_initialised(), 0,
	    "a plain-text session initialised GnuTLS");
}

/* ------------------------------------------------------------ AUTH */

static const enum auth_mech all_mechs[] = {
	AUTH_SCRAM_SHA_256, AUTH_PLAIN, AUTH_LOGIN, AUTH_CRAM_MD5
};
static const enum auth_mech only_plain[] = { AUTH_PLAIN };
static const enum auth_mech only_scram[] = { AUTH_SCRAM_SHA_256 };
static const enum auth_mech only_cram[] = { AUTH_CRAM_MD5 };

#define PASSWORD	"s3cr3t-pw"
#define PLAIN_B64	"AGFsaWNlAHMzY3IzdC1wdw=="	/* \0alice\0s3cr3t-pw */

static void
auth_params(struct smtp_params *p, const enum auth_mech *m, size_t n,
    const char *pass)
{
	p->auth_user = "alice";
	p->auth_secret.value = pass;
	p->auth_allowed = m;
	p->nauth_allowed = n;
}

/*
 * The transcript carries no credential: not the password, not the PLAIN
 * response, not SCRAM's client messages ("n,,n=alice,r=", "c=biws,r="),
 * not a CRAM-MD5 response ("alice "), and no 334 challenge text.
 */
static void
assert_redacted(void)
{
	const char *l, *nl;

	assert_lacks(tr.data, PASSWORD, "transcript");
	assert_lacks(tr.data, PLAIN_B64, "transcript");
	assert_lacks(tr.data, "biwsbj1hbGljZSxy", "transcript");
	assert_lacks(tr.data, "Yz1iaXdzLHI9", "transcript");
	assert_lacks(tr.data, "YWxpY2Ug", "transcript");
	for (l = tr.data; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
		if (strncmp(l, "< 334", 5) != 0)
			continue;
		cr_assert(nl - l == 5 || strncmp(l + 5, " ***\n", 5) == 0 ||
		    strncmp(l + 5, " \n", 2) == 0,
		    "a 334 challenge in the transcript:\n%s", tr.data);
	}
}

Test(smtp_auth, plain_after_starttls)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *info, *env;

	make_cert();
	start_tls("ext PIPELINING\next STARTTLS\n"
	    "tls-ext PIPELINING\ntls-ext AUTH PLAIN\n"
	    "user alice " PASSWORD "\n");
	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_MAY;
	auth_params(&p, only_plain, 1, PASSWORD);
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.tls_active, 1);
	cr_assert_eq(o.authenticated, 1);
	info = wait_record("session-1.info");
	assert_contains(info, "\nauth PLAIN alice ok\n", "session-1.info");
	free(info);
	env = wait_record("session-1.env-1");
	assert_contains(env, "\nauth alice\n", "env-1");
	free(env);
	assert_contains(tr.data, "> AUTH PLAIN", "transcript");
	assert_contains(tr.data, "***", "transcript");
	assert_redacted();
}

Test(smtp_auth, scram_sha256_in_plain_text)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *info;

	start("ext PIPELINING\next AUTH SCRAM-SHA-256 PLAIN\n"
	    "user alice " PASSWORD "\n", NULL);
	p_init(&p, srv.l[0].port);
	auth_params(&p, all_mechs, 4, PASSWORD);
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.authenticated, 1);
	info = wait_record("session-1.info");
	assert_contains(info, "\nauth SCRAM-SHA-256 alice ok\n",
	    "session-1.info");
	free(info);
	assert_contains(tr.data, "> AUTH SCRAM-SHA-256", "transcript");
	assert_redacted();
}

Test(smtp_auth, cram_md5)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *info;

	start("ext PIPELINING\next AUTH CRAM-MD5\n"
	    "user alice " PASSWORD "\n", NULL);
	p_init(&p, srv.l[0].port);
	auth_params(&p, only_cram, 1, PASSWORD);
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.authenticated, 1);
	info = wait_record("session-1.info");
	assert_contains(info, "\nauth CRAM-MD5 alice ok\n", "session-1.info");
	free(info);
	assert_redacted();
}

Test(smtp_auth, wrong_password)
{
	struct smtp_params p;
	struct outcome o;
	char *info;

	start("ext PIPELINING\next AUTH SCRAM-SHA-256\n"
	    "user alice " PASSWORD "\n", NULL);
	p_init(&p, srv.l[0].port);
	auth_params(&p, only_scram, 1, "wrong-pw");
	o = deliver(&p, NULL);
	cr_assert_eq(o.open, -1, "authenticated with a wrong password");
	assert_status(&o.st, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 535, NULL);
	assert_no_mail_anywhere();
	info = wait_record("session-1.info");
	assert_contains(info, "\nauth SCRAM-SHA-256 alice failed\n",
	    "session-1.info");
	free(info);
	assert_lacks(tr.data, "wrong-pw", "transcript");
}

Test(smtp_auth, plain_never_in_clear)
{
	struct smtp_params p;
	struct outcome o;
	char *log;

	start("ext PIPELINING\next AUTH PLAIN LOGIN\n"
	    "user alice " PASSWORD "\n", NULL);
	p_init(&p, srv.l[0].port);
	auth_params(&p, all_mechs, 4, PASSWORD);
	o = deliver(&p, NULL);
	cr_assert_eq(o.open, -1, "a clear-text password was sent");
	cr_assert_eq(o.st.ev, SMTP_EV_AUTH, ST_FMT, ST_ARGS(&o.st));
	log = session_log(1);
	cr_assert_eq(log_count(log, "AUTH"), 0, "%s", log);
	cr_assert_eq(log_count(log, "MAIL"), 0, "%s", log);
	free(log);
	assert_lacks(tr.data, PASSWORD, "transcript");
}

/* ------------------------------------------------------------ OAuth2 */

static const enum auth_mech only_xoauth2[] = { AUTH_XOAUTH2 };
static const enum auth_mech only_oauthbearer[] = { AUTH_OAUTHBEARER };

/* "user=alice^Aauth=Bearer " in base64: any XOAUTH2 response starts so. */
#define XOAUTH2_B64_START	"dXNlcj1hbGljZQFhdXRoPUJlYXJlciB"

/* A token of n octets ("tok-" and hex digits); caller frees. */
static char *
token(size_t n)
{
	char *t = malloc(n + 1);
	size_t i;

	cr_assert_not_null(t);
	for (i = 0; i < n; i++)
		t[i] = "0123456789abcdef"[(i * 7) % 16];
	memcpy(t, "tok-", 4);
	t[n] = '\0';
	return t;
}

/* A TLS session to a server offering mech and knowing alice's token. */
static void
oauth_server(const char *mech, const char *tok, const char *more)
{
	char *script = malloc(strlen(tok) + 300);

	cr_assert_not_null(script);
	sprintf(script, "ext PIPELINING\next STARTTLS\ntls-ext PIPELINING\n"
	    "tls-ext AUTH %s PLAIN\nuser alice %s\n%s", mech, tok, more);
	make_cert();
	start_tls(script);
	free(script);
}

/* A STARTTLS session as alice with tok, mechanisms m[0..n) allowed. */
static struct outcome
oauth_session(const enum auth_mech *m, size_t n, const char *tok,
    struct smtp_txn *t)
{
	struct smtp_params p;

	p_init(&p, srv.l[0].port);
	p.tls = SMTP_TLS_STARTTLS;
	auth_params(&p, m, n, tok);
	return deliver(&p, t);
}

/*
 * Microsoft's tokens run to several KB: the AUTH command stays within
 * SMTP's 512 octets (RFC 4954 §4) and the response follows the empty 334.
 */
Test(smtp_auth, xoauth2_long_token_follows_the_empty_334)
{
	struct smtp_txn t;
	struct outcome o;
	char *tok = token(6000), *info, *log;

	oauth_server("XOAUTH2", tok, "");
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = oauth_session(only_xoauth2, 1, tok, &t);
	assert_all_delivered(&o, &t);
	cr_assert_eq(o.authenticated, 1);
	info = wait_record("session-1.info");
	assert_contains(info, "\nauth XOAUTH2 alice ok\n", "session-1.info");
	free(info);
	log = session_log(1);
	assert_contains(log, " AUTH XOAUTH2\n", "session-1.log");
	assert_contains(log, " " XOAUTH2_B64_START, "session-1.log");
	free(log);
	assert_contains(tr.data, "\n> AUTH XOAUTH2\n", "transcript");
	assert_lacks(tr.data, tok + 4, "transcript");
	assert_lacks(tr.data, XOAUTH2_B64_START, "transcript");
	free(tok);
}

/* A short token goes in the AUTH command; host= and port= name the relay. */
Test(smtp_auth, oauthbearer_initial_response)
{
	struct outcome o;
	char *tok = token(200), *info, *log, want[80];

	oauth_server("OAUTHBEARER", tok, "");
	o = oauth_session(only_oauthbearer, 1, tok, NULL);
	cr_assert_eq(o.open, 0, ST_FMT, ST_ARGS(&o.st));
	cr_assert_eq(o.authenticated, 1);
	info = wait_record("session-1.info");
	snprintf(want, sizeof(want), "\noauthbearer host=mx.test port=%u\n"
	    "auth OAUTHBEARER alice ok\n", srv.l[0].port);
	assert_contains(info, want, "session-1.info");
	free(info);
	log = session_log(1);
	assert_contains(log, " AUTH OAUTHBEARER bixhPWFsaWNlLAFob3N0PW14LnRl",
	    "session-1.log");
	free(log);
	assert_contains(tr.data, "\n> AUTH OAUTHBEARER ***\n", "transcript");
	assert_lacks(tr.data, tok + 4, "transcript");
	free(tok);
}

/*
 * A token the server refuses: its JSON challenge is answered with %x01
 * (RFC 7628 §3.2.3) and its final reply is the failure, code and text.
 */
Test(smtp_auth, oauthbearer_refused_token)
{
	struct outcome o;
	char *tok = token(3000), *log;

	oauth_server("OAUTHBEARER", "another-token", "auth-fail 535 5.7.139 "
	    "Authentication unsuccessful, the request did not meet the "
	    "criteria\n");
	o = oauth_session(only_oauthbearer, 1, tok, NULL);
	cr_assert_eq(o.open, -1, "authenticated with a refused token");
	assert_status(&o.st, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 535, "5.7.139");
	assert_contains(o.st.text, "Authentication unsuccessful", "status");
	assert_no_mail_anywhere();
	log = session_log(1);
	assert_contains(log, " AQ==\n", "session-1.log");
	free(log);
	assert_lacks(tr.data, tok + 4, "transcript");
	assert_lacks(o.st.text, tok + 4, "status");
	free(tok);
}

/* relay_auth any is the password mechanisms: XOAUTH2 is never chosen. */
Test(smtp_auth, any_never_chooses_oauth)
{
	struct outcome o;
	char *log;

	oauth_server("XOAUTH2", "pw", "");
	o = oauth_session(all_mechs, 4, "pw", NULL);
	cr_assert_eq(o.open, 0, ST_FMT, ST_ARGS(&o.st));
	log = session_log(1);
	cr_assert_eq(log_count(log, "AUTH PLAIN"), 1, "%s", log);
	cr_assert_eq(log_count(log, "AUTH XOAUTH2"), 0, "%s", log);
	free(log);
}

/* ------------------------------------------------------------ transcript */

Test(smtp_misc, transcript_lines)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char want[64];

	start("ext PIPELINING\next SIZE 1000000\n", NULL);
	p_init(&p, srv.l[0].port);
	txn_make(&t, default_msg(), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	free(session_log(1));	/* QUIT went out before smtp_close returned */
	assert_contains(tr.data, "< 220 fakesmtp.test ESMTP fakesmtp\n",
	    "transcript");
	assert_contains(tr.data, "\n> EHLO client.test\n", "transcript");
	assert_contains(tr.data, "\n< 250-fakesmtp.test\n", "transcript");
	assert_contains(tr.data, "\n< 250 SIZE 1000000\n", "transcript");
	assert_contains(tr.data, "\n> MAIL FROM:<s@example.org>", "transcript");
	assert_contains(tr.data, "\n> RCPT TO:<a@example.net>\n",
	    "transcript");
	assert_contains(tr.data, "\n< 250 2.1.5 Ok\n", "transcript");
	assert_contains(tr.data, "\n> DATA\n", "transcript");
	assert_contains(tr.data, "\n< 354 ", "transcript");
	snprintf(want, sizeof(want), "(message: %zu octets)\n",
	    strlen(DEFAULT_OUT));
	assert_contains(tr.data, want, "transcript");
	assert_contains(tr.data, "\n< 250 2.0.0 Ok: queued as S1T1\n",
	    "transcript");
	assert_contains(tr.data, "\n> QUIT\n", "transcript");
	/* The content itself is not in the transcript. */
	assert_lacks(tr.data, "Hello, world.", "transcript");
	/* Lines come without their CRLF. */
	assert_lacks(tr.data, "\r", "transcript");
}

/* ------------------------------------------------------------ streaming */

#define BIG_LINES	50000	/* 101 octets each on the wire: ~5 MB */

/*
 * A 5 MB message, every 1000th line starting with a dot; in[] with LF
 * endings as submitted, out[] the CRLF form the server must store.
 */
static void
big_message(char **in, size_t *inlen, char **out, size_t *outlen)
{
	static const char hdr_in[] = "Subject: big\n\n";
	static const char hdr_out[] = "Subject: big\r\n\r\n";
	char line[128];
	size_t i, il = 0, ol = 0;

	*in = malloc(sizeof(hdr_in) + BIG_LINES * 101);
	*out = malloc(sizeof(hdr_out) + BIG_LINES * 102);
	cr_assert(*in != NULL && *out != NULL);
	memcpy(*in, hdr_in, sizeof(hdr_in) - 1);
	il = sizeof(hdr_in) - 1;
	memcpy(*out, hdr_out, sizeof(hdr_out) - 1);
	ol = sizeof(hdr_out) - 1;
	for (i = 0; i < BIG_LINES; i++) {
		memset(line, 'x', 99);
		snprintf(line, sizeof(line), "%s%07zu ", i % 1000 == 0 ? "." :
		    "", i);
		line[strlen(line)] = 'x';
		memcpy(*in + il, line, 99);
		(*in)[il + 99] = '\n';
		il += 100;
		memcpy(*out + ol, line, 99);
		memcpy(*out + ol + 99, "\r\n", 2);
		ol += 101;
	}
	*inlen = il;
	*outlen = ol;
}

static void
big(const char *script, int bdat)
{
	struct smtp_params p;
	struct smtp_txn t;
	struct outcome o;
	char *in, *out, *log, want[64];
	size_t inlen, outlen;

	big_message(&in, &inlen, &out, &outlen);
	start(script, NULL);
	p_init(&p, srv.l[0].port);
	p.timeout_data = 20;
	txn_make(&t, load_msg(in, inlen, 0), "a@example.net", NULL);
	o = deliver(&p, &t);
	assert_all_delivered(&o, &t);
	log = session_log(1);
	if (bdat) {
		cr_assert_eq(log_count(log, "DATA"), 0, "%s", log);
		assert_bdat(log, outlen);
	} else
		cr_assert_eq(log_count(log, "BDAT"), 0, "%s", log);
	free(log);
	assert_msg(1, 1, out, outlen);
	snprintf(want, sizeof(want), "(message: %zu octets)\n", outlen);
	assert_contains(tr.data, want, "transcript");
	free(in);
	free(out);
}

Test(smtp_misc, five_megabytes_data)
{
	big("ext PIPELINING\next SIZE 10000000\n", 0);
}

Test(smtp_misc, five_megabytes_bdat)
{
	big("ext PIPELINING\next CHUNKING\next SIZE 10000000\n", 1);
}

/* ------------------------------------------------------------ probes */

TestSuite(smtp_probe, .init = setup, .fini = teardown);

/* Open, smtp_probe() t, close; the session log once it ended. */
static char *
probe(struct smtp_txn *t, int *accepted)
{
	struct smtp_params p;
	struct smtp_session s;
	struct smtp_status st;

	p_init(&p, srv.l[0].port);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(smtp_open(&s, &p, &st), 0, ST_FMT, ST_ARGS(&st));
	*accepted = smtp_probe(&s, t);
	smtp_close(&s);
	return session_log(1);
}

/* A probe never sends a message: no DATA, no BDAT, no "." line. */
static void
assert_no_message(const char *log)
{
	cr_assert_eq(log_count(log, "DATA"), 0, "%s", log);
	cr_assert_eq(log_count(log, "BDAT"), 0, "%s", log);
	cr_assert_eq(log_count(log, "."), 0, "%s", log);
	cr_assert(!record_exists("session-1.msg-1"));
}

/*
 * PIPELINING: MAIL, the RCPTs and RSET in one flight; each recipient's
 * own RCPT reply; no SIZE or BODY (there is no message), even offered.
 */
Test(smtp_probe, pipelined_mail_rcpt_rset_never_data)
{
	struct smtp_txn t;
	char line[256], *log, *env;
	int b, n;

	start("ext PIPELINING\next SIZE 1000\next 8BITMIME\next CHUNKING\n"
	    "rcpt match=<bad@ reply 550 5.1.1 No such user\n"
	    "rcpt match=<later@ reply 450 4.2.1 Mailbox busy\n", NULL);
	txn_make(&t, NULL, "a@example.net", "bad@example.net",
	    "later@example.net", NULL);
	t.eightbit = 1;
	log = probe(&t, &n);
	cr_assert_eq(n, 1, "accepted %d\n%s", n, tr.data);
	cr_assert_eq(t.nrcpt_out, 3);
	assert_status(&rcpts[0].st, SMTP_EV_OK, SMTP_STAGE_RCPT, 250, "2.1.5");
	assert_status(&rcpts[1].st, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 550,
	    "5.1.1");
	assert_status(&rcpts[2].st, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 450,
	    "4.2.1");
	log_line(log, "MAIL FROM:", line, sizeof(line));
	cr_assert_str_eq(line, "MAIL FROM:<s@example.org>");
	b = log_find(log, "MAIL FROM:", 0, NULL, 0);
	cr_assert_eq(log_find(log, "RCPT TO:<later@", 0, NULL, 0), b, "%s",
	    log);
	cr_assert_eq(log_find(log, "RSET", 0, NULL, 0), b, "%s", log);
	cr_assert(log_find(log, "QUIT", 0, NULL, 0) > b, "%s", log);
	assert_no_message(log);
	env = wait_record("session-1.env-1");
	assert_contains(env, "result rset\n", "env-1");
	free(env);
	free(log);
}

/* Without PIPELINING: lock-step, RSET after the last RCPT's reply. */
Test(smtp_probe, lockstep_without_pipelining)
{
	struct smtp_txn t;
	char *log;
	int bm, b1, b2, br, n;

	start("", NULL);
	txn_make(&t, NULL, "a@example.net", "b@example.net", NULL);
	log = probe(&t, &n);
	cr_assert_eq(n, 2, "%s", tr.data);
	cr_assert_eq(t.nrcpt_out, 2);
	bm = log_find(log, "MAIL FROM:<s@example.org>", 0, NULL, 0);
	b1 = log_find(log, "RCPT TO:<a@", 0, NULL, 0);
	b2 = log_find(log, "RCPT TO:<b@", 0, NULL, 0);
	br = log_find(log, "RSET", 0, NULL, 0);
	cr_assert(bm > 0 && b1 > bm && b2 > b1 && br > b2, "%s", log);
	assert_no_message(log);
	free(log);
}

/*
 * MAIL refused: every recipient has MAIL's reply. Pipelined, the RCPTs
 * went anyway (they count as asked); in lock-step they never go.
 */
Test(smtp_probe, mail_refused)
{
	static const char *const scripts[] = {
	    "ext PIPELINING\nmail reply 553 5.7.1 Sender refused\n",
	    "mail reply 553 5.7.1 Sender refused\n" };
	struct smtp_txn t;
	char *log;
	size_t i;
	int n;

	for (i = 0; i < 2; i++) {
		if (i > 0) {
			server_stop(&srv);
			remove_tree(dir);
			cr_assert(mkdir(dir, 0700) == 0);
			buf_reset(&tr);
		}
		start(scripts[i], NULL);
		txn_make(&t, NULL, "a@example.net", "b@example.net", NULL);
		log = probe(&t, &n);
		cr_assert_eq(n, 0, "%s", tr.data);
		cr_assert_eq(t.nrcpt_out, i == 0 ? 2 : 0, "%s", log);
		assert_status(&rcpts[1].st, SMTP_EV_REPLY, SMTP_STAGE_MAIL,
		    553, "5.7.1");
		cr_assert(log_find(log, "RSET", 0, NULL, 0) > 0, "%s", log);
		assert_no_message(log);
		free(log);
	}
}

/*
 * 452 after one recipient: the rest in another transaction on the same
 * connection, each recipient counted once.
 */
Test(smtp_probe, recipient_limit_next_transaction)
{
	struct smtp_txn t;
	char *log;
	int n;

	start("ext PIPELINING\n"
	    "rcpt after=1 reply 452 4.5.3 Too many recipients\n", NULL);
	txn_make(&t, NULL, "a@example.net", "b@example.net", "c@example.net",
	    NULL);
	log = probe(&t, &n);
	cr_assert_eq(n, 3, "%s", tr.data);
	cr_assert_eq(t.ntxn, 3);
	cr_assert_eq(t.nrcpt_out, 3);
	assert_status(&rcpts[2].st, SMTP_EV_OK, SMTP_STAGE_RCPT, 250, NULL);
	cr_assert_eq(log_count(log, "MAIL FROM:"), 3, "%s", log);
	cr_assert_eq(log_count(log, "RSET"), 3, "%s", log);
	assert_no_message(log);
	free(log);
}

/* A server that closes at RSET: the RCPT replies already read stand. */
Test(smtp_probe, close_at_rset_keeps_the_answers)
{
	struct smtp_txn t;
	char *log;
	int n;

	start("ext PIPELINING\nrset close\n"
	    "rcpt match=<bad@ reply 550 5.1.1 No such user\n", NULL);
	txn_make(&t, NULL, "a@example.net", "bad@example.net", NULL);
	log = probe(&t, &n);
	cr_assert_eq(n, 1, "%s", tr.data);
	assert_status(&rcpts[0].st, SMTP_EV_OK, SMTP_STAGE_RCPT, 250, NULL);
	assert_status(&rcpts[1].st, SMTP_EV_REPLY, SMTP_STAGE_RCPT, 550,
	    "5.1.1");
	assert_no_message(log);
	free(log);
}
