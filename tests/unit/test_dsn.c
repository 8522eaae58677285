/*
 * test_dsn.c: the bounce of SPEC §8 (RFC 3464 in an RFC 6522
 * multipart/report). Each bounce is written to a memory file, read back
 * and taken apart at its boundary; the header fields, the
 * delivery-status fields and the returned message are then checked one
 * by one, and the whole is fed to intake_read() as the submission will.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dsn.h"
#include "intake.h"
#include "message.h"
#include "spooled.h"

#define NOW	1796163970	/* Tue, 01 Dec 2026 22:26:10 UTC */
#define ARRIVAL	(NOW - 3600)
#define QID	"19A3F0C2B4D1E0A3F1"

#define NOW_DATE	"Tue, 01 Dec 2026 22:26:10 +0000"
#define ARRIVAL_DATE	"Tue, 01 Dec 2026 21:26:10 +0000"

#define BOB_REASON "host mx1.example.com[192.0.2.1]:25 said: 550 5.1.1 " \
	"No such user (in reply to RCPT TO command)"
#define ERIN_REASON "Host or domain name not found. Name service error " \
	"for name=nxdomain.example type=MX: Host not found"

#define ORIG_MSG "From: alice@example.org\nTo: bob@example.com\n" \
	"Subject: hello\nMessage-ID: <m1@example.org>\n\n" \
	"BODY-MARKER line one\n.\nlast line\n"

static void
setup(void)
{
	/* alarm, not .timeout: Criterion's timer leaks under LeakSanitizer. */
	alarm(30);
	setenv("TZ", "UTC", 1);
	tzset();
}

TestSuite(dsn, .init = setup);

/* ------------------------------------------------------------ helpers */

static void
add(struct envelope *env, const char *addr, const char *orig,
    enum rcpt_state state, int notify, const char *dsn, const char *reason,
    const char *relay)
{
	struct rcpt *r;

	env->rcpts = xreallocarray(env->rcpts, env->nrcpts + 1,
	    sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orig = xstrdup(orig != NULL ? orig : addr);
	r->domain = strchr(r->addr, '@');
	r->domain = r->domain != NULL ? r->domain + 1 : "";
	r->origin = ORIGIN_ARGV;
	r->state = state;
	r->notify = notify;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	r->reason = reason != NULL ? xstrdup(reason) : NULL;
	r->relay = relay != NULL ? xstrdup(relay) : NULL;
}

static void
env_clear(struct envelope *env)
{
	size_t i;

	for (i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orig);
		free(env->rcpts[i].reason);
		free(env->rcpts[i].relay);
	}
	free(env->rcpts);
	memset(env, 0, sizeof(*env));
}

/*
 * Two reported failures (a server refusal, a DNS failure) among a
 * delivered recipient, a NOTIFY=NEVER failure and a deferred one.
 */
static void
std_env(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
	env->sender = "alice@example.org";
	add(env, "bob@example.com", "Bob@Example.COM", RCPT_FAILED, 0,
	    "5.1.1", BOB_REASON, "mx1.example.com[192.0.2.1]:25");
	add(env, "carol@delivered.example", NULL, RCPT_DELIVERED, 0,
	    "2.0.0", "250 2.0.0 Ok: queued as CAROLQ",
	    "mx.delivered.example[192.0.2.2]:25");
	add(env, "dave@never.example", NULL, RCPT_FAILED, NOTIFY_NEVER,
	    "5.1.1", "host mx.never.example[192.0.2.3]:25 said: 550 5.1.1 "
	    "DAVE-GONE (in reply to RCPT TO command)",
	    "mx.never.example[192.0.2.3]:25");
	add(env, "erin@nxdomain.example", NULL, RCPT_FAILED,
	    NOTIFY_FAILURE | NOTIFY_DELAY, "5.4.4", ERIN_REASON, NULL);
	add(env, "frank@deferred.example", NULL, RCPT_DEFERRED, 0, "4.4.1",
	    "connect to mx.deferred.example[192.0.2.5]:25: Connection "
	    "timed out", NULL);
}

static struct dsn_report
std_report(void)
{
	struct dsn_report rep;

	memset(&rep, 0, sizeof(rep));
	rep.reporting_mta = "mail.example.org";
	rep.queue_id = QID;
	rep.arrival = ARRIVAL;
	rep.now = NOW;
	rep.envid = NULL;
	rep.ret = RET_UNSET;
	rep.sender = "alice@example.org";
	return rep;
}

/* A spooled message, read as the submission does (a lone dot kept). */
static void
load(struct message *msg, const char *in, size_t len)
{
	spooled(msg, in, len, 1);
}

#define unload	spooled_free

static char *
read_fd(int fd, size_t *lenp)
{
	struct buf b;
	char chunk[8192];
	ssize_t r;

	cr_assert(lseek(fd, 0, SEEK_SET) == 0);
	buf_init(&b);
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)r);
	cr_assert(r == 0, "read: %s", strerror(errno));
	*lenp = b.len;
	return buf_release(&b);
}

static int
collect(void *ctx, const char *p, size_t n)
{
	buf_add(ctx, p, n);
	return 0;
}

static char *
streamed(const struct message *msg, int flags)
{
	struct buf b;

	buf_init(&b);
	cr_assert_eq(msg_stream(msg, flags, collect, &b), 0);
	return buf_release(&b);
}

/* The bounce as a string; dsn_write() must succeed. */
static char *
bounce(const struct dsn_report *rep, const struct envelope *env,
    const unsigned char *include, const struct message *orig, size_t *lenp)
{
	char err[256] = "", *out;
	size_t len;
	int fd;

	fd = memfd_create("bounce", 0);
	cr_assert(fd >= 0);
	cr_assert_eq(dsn_write(fd, rep, env, include, orig, err,
	    sizeof(err)), 0, "dsn_write: %s", err);
	out = read_fd(fd, &len);
	close(fd);
	cr_assert_eq(strlen(out), len, "a NUL in the bounce");
	if (lenp != NULL)
		*lenp = len;
	return out;
}

/* Every line ends in CRLF, none is longer than 998 octets. */
static void
assert_lines(const char *s, size_t len)
{
	size_t i, ll = 0;

	cr_assert_geq(len, 2);
	cr_assert_eq(s[len - 2], '\r');
	cr_assert_eq(s[len - 1], '\n');
	for (i = 0; i < len; i++) {
		if (s[i] == '\r') {
			cr_assert_eq(s[i + 1], '\n', "bare CR at %zu", i);
			cr_assert_leq(ll, 998, "line of %zu octets", ll);
			ll = 0;
			i++;
			continue;
		}
		cr_assert_neq(s[i], '\n', "bare LF at %zu", i);
		ll++;
	}
}

/*
 * The value of the one field called name in a header section (or a
 * group of delivery-status fields), unfolded, without the space after
 * the colon; NULL when absent. A second field of that name fails.
 */
static char *
field_of(const char *sec, const char *name)
{
	const char *p, *e;
	size_t nlen = strlen(name);
	char *v = NULL;
	struct buf b;

	for (p = sec; *p != '\0' && strncmp(p, "\r\n", 2) != 0;) {
		e = strstr(p, "\r\n");
		cr_assert_not_null(e);
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			cr_assert_null(v, "two %s fields", name);
			buf_init(&b);
			p += nlen + 1;
			if (*p == ' ')
				p++;
			for (;;) {
				buf_add(&b, p, (size_t)(e - p));
				if (e[2] != ' ' && e[2] != '\t')
					break;
				p = e + 2;
				e = strstr(p, "\r\n");
				cr_assert_not_null(e);
			}
			v = buf_release(&b);
		}
		p = e + 2;
	}
	return v;
}

static void
assert_field(const char *sec, const char *name, const char *want)
{
	char *v = field_of(sec, name);

	cr_assert_not_null(v, "no %s field", name);
	cr_assert_str_eq(v, want, "%s: got \"%s\", want \"%s\"", name, v,
	    want);
	free(v);
}

static void
assert_no_field(const char *sec, const char *name)
{
	char *v = field_of(sec, name);

	cr_assert_null(v, "unexpected %s: %s", name, v);
}

#define MAXPARTS	8

struct parsed {
	char	*boundary;
	char	*part[MAXPARTS];	/* header section, empty line, body */
	size_t	 nparts;
	char	*body[MAXPARTS];	/* points into part[] */
};

/* The boundary parameter of Content-Type, quoted or not. */
static char *
boundary_of(const char *ctype)
{
	const char *p, *e;

	p = strstr(ctype, "boundary=");
	cr_assert_not_null(p, "no boundary in %s", ctype);
	p += 9;
	if (*p == '"') {
		e = strchr(++p, '"');
		cr_assert_not_null(e);
	} else
		e = p + strcspn(p, "; ");
	return xstrndup(p, (size_t)(e - p));
}

/* Split a bounce at its boundary (RFC 2046 §5.1.1). */
static void
parse(const char *s, struct parsed *px)
{
	char *ct, *delim;
	const char *p, *q, *hend;
	size_t dlen;

	memset(px, 0, sizeof(*px));
	ct = field_of(s, "Content-Type");
	cr_assert_not_null(ct);
	px->boundary = boundary_of(ct);
	free(ct);
	hend = strstr(s, "\r\n\r\n");
	cr_assert_not_null(hend);
	delim = xasprintf("\r\n--%s", px->boundary);
	dlen = strlen(delim);
	p = strstr(hend, delim);
	cr_assert_not_null(p, "no first delimiter");
	for (;;) {
		p += dlen;
		if (strncmp(p, "--\r\n", 4) == 0) {
			cr_assert_eq(p[4], '\0', "text after the close");
			break;
		}
		cr_assert_eq(strncmp(p, "\r\n", 2), 0);
		p += 2;
		q = strstr(p, delim);
		cr_assert_not_null(q, "no closing delimiter");
		cr_assert_lt(px->nparts, MAXPARTS);
		px->part[px->nparts] = xstrndup(p, (size_t)(q - p));
		px->body[px->nparts] = strstr(px->part[px->nparts],
		    "\r\n\r\n");
		cr_assert_not_null(px->body[px->nparts]);
		px->body[px->nparts] += 4;
		px->nparts++;
		p = q;
	}
	free(delim);
}

static void
parsed_free(struct parsed *px)
{
	size_t i;

	for (i = 0; i < px->nparts; i++)
		free(px->part[i]);
	free(px->boundary);
}

/* The groups of a delivery-status body, split at empty lines. */
static size_t
groups(const char *body, char **g, size_t max)
{
	const char *p = body, *e;
	size_t n = 0;

	while (*p != '\0') {
		e = strstr(p, "\r\n\r\n");
		cr_assert_lt(n, max);
		if (e == NULL) {
			g[n++] = xasprintf("%s\r\n", p);
			break;
		}
		g[n++] = xstrndup(p, (size_t)(e - p + 2));
		p = e + 4;
	}
	return n;
}

/* Text part lines unfolded: wrap() continues with "\r\n   " and a space. */
static char *
unwrap_text(const char *s)
{
	struct buf b;

	buf_init(&b);
	while (*s != '\0') {
		if (strncmp(s, "\r\n    ", 6) == 0) {
			s += 5;
			continue;
		}
		buf_addc(&b, *s++);
	}
	return buf_release(&b);
}

/* A standard bounce with the standard original, parsed. */
static char *
std_bounce(const struct dsn_report *rep, struct parsed *px)
{
	struct envelope env;
	struct message orig;
	unsigned char inc[8];
	char *out;
	size_t len;

	std_env(&env);
	cr_assert_eq(dsn_select(&env, inc), 2);
	load(&orig, ORIG_MSG, strlen(ORIG_MSG));
	out = bounce(rep, &env, inc, &orig, &len);
	assert_lines(out, len);
	parse(out, px);
	unload(&orig);
	env_clear(&env);
	return out;
}

/* ------------------------------------------------------------ select */

Test(dsn, select_failed_and_notify)
{
	static const unsigned char want[] = { 1, 0, 0, 1, 0 };
	struct envelope env;
	unsigned char inc[5];

	std_env(&env);
	memset(inc, 7, sizeof(inc));
	cr_assert_eq(dsn_select(&env, inc), 2);
	cr_assert_arr_eq(inc, want, sizeof(want));
	env_clear(&env);
}

Test(dsn, select_notify_combinations)
{
	static const struct {
		int		 notify;
		enum rcpt_state	 state;
		unsigned char	 in;
	} c[] = {
		{ 0, RCPT_FAILED, 1 },
		{ NOTIFY_FAILURE, RCPT_FAILED, 1 },
		{ NOTIFY_FAILURE | NOTIFY_SUCCESS, RCPT_FAILED, 1 },
		{ NOTIFY_SUCCESS, RCPT_FAILED, 0 },
		{ NOTIFY_DELAY, RCPT_FAILED, 0 },
		{ NOTIFY_NEVER, RCPT_FAILED, 0 },
		{ NOTIFY_NEVER | NOTIFY_FAILURE, RCPT_FAILED, 0 },
		{ 0, RCPT_PENDING, 0 },
		{ 0, RCPT_DEFERRED, 0 },
		{ NOTIFY_FAILURE, RCPT_DELIVERED, 0 },
	};
	struct envelope env;
	unsigned char inc[16];
	size_t i, n = 0;

	memset(&env, 0, sizeof(env));
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		add(&env, "x@example.com", NULL, c[i].state, c[i].notify,
		    "5.0.0", "r", NULL);
		n += c[i].in;
	}
	cr_assert_eq(dsn_select(&env, inc), n);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		cr_assert_eq(inc[i], c[i].in, "case %zu", i);
	env_clear(&env);
}

/* ---------------------------------------------------- message header */

Test(dsn, top_header_fields)
{
	struct dsn_report rep = std_report();
	struct parsed px;
	char *out, *v;

	out = std_bounce(&rep, &px);
	assert_field(out, "From",
	    "MAILER-DAEMON@mail.example.org (Mail Delivery System)");
	assert_field(out, "To", "alice@example.org");
	assert_field(out, "Subject", "Undelivered Mail Returned to Sender");
	assert_field(out, "Date", NOW_DATE);
	assert_field(out, "Auto-Submitted", "auto-replied");
	assert_field(out, "MIME-Version", "1.0");
	assert_no_field(out, "Content-Transfer-Encoding");
	v = field_of(out, "Message-ID");
	cr_assert_not_null(v);
	cr_assert_eq(strncmp(v, "<" QID ".bounce.", 27), 0, "%s", v);
	cr_assert_str_eq(v + strlen(v) - 18, "@mail.example.org>");
	cr_assert_null(strchr(v, ' '));
	free(v);
	free(out);
	parsed_free(&px);
}

Test(dsn, content_type_multipart_report)
{
	struct dsn_report rep = std_report();
	struct parsed px;
	char *out, *ct;

	out = std_bounce(&rep, &px);
	ct = field_of(out, "Content-Type");
	cr_assert_eq(strncmp(ct, "multipart/report;", 17), 0, "%s", ct);
	cr_assert_not_null(strstr(ct, "; report-type=delivery-status;"),
	    "%s", ct);
	/* RFC 2046 §5.1.1: 1-70 bchars; unique: the queue id and more. */
	cr_assert_leq(strlen(px.boundary), 70);
	cr_assert_not_null(strstr(px.boundary, QID));
	cr_assert_geq(strlen(px.boundary), strlen(QID) + 16);
	cr_assert_eq(strspn(px.boundary, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789'()+_,-./:=?"),
	    strlen(px.boundary));
	cr_assert_eq(px.nparts, 3);
	free(ct);
	free(out);
	parsed_free(&px);
}

Test(dsn, boundary_and_message_id_differ_per_bounce)
{
	struct dsn_report rep = std_report();
	struct parsed a, b;
	char *o1, *o2, *m1, *m2;

	o1 = std_bounce(&rep, &a);
	o2 = std_bounce(&rep, &b);
	m1 = field_of(o1, "Message-ID");
	m2 = field_of(o2, "Message-ID");
	cr_assert_str_neq(m1, m2);
	cr_assert_str_neq(a.boundary, b.boundary);
	free(m1);
	free(m2);
	free(o1);
	free(o2);
	parsed_free(&a);
	parsed_free(&b);
}

/* ------------------------------------------------------------ part 1 */

Test(dsn, notification_text)
{
	struct dsn_report rep = std_report();
	struct parsed px;
	char *out, *text;

	out = std_bounce(&rep, &px);
	assert_field(px.part[0], "Content-Type",
	    "text/plain; charset=us-ascii");
	text = unwrap_text(px.body[0]);
	cr_assert_not_null(strstr(text, "mail.example.org"));
	cr_assert_not_null(strstr(text, "could not be delivered"));
	cr_assert_not_null(strstr(text, "\r\n<bob@example.com>: "
	    BOB_REASON "\r\n"), "%s", text);
	cr_assert_not_null(strstr(text, "\r\n<erin@nxdomain.example>: "
	    ERIN_REASON "\r\n"), "%s", text);
	cr_assert_null(strstr(text, "carol"));
	cr_assert_null(strstr(text, "dave"));
	cr_assert_null(strstr(text, "frank"));
	free(text);
	free(out);
	parsed_free(&px);
}

/* ------------------------------------------------------------ part 2 */

Test(dsn, per_message_fields)
{
	struct dsn_report rep = std_report();
	struct parsed px;
	char *out, *g[8];
	size_t n, i;

	out = std_bounce(&rep, &px);
	assert_field(px.part[1], "Content-Type", "message/delivery-status");
	n = groups(px.body[1], g, 8);
	cr_assert_eq(n, 3, "per-message and two recipients");
	assert_field(g[0], "Reporting-MTA", "dns; mail.example.org");
	assert_field(g[0], "X-Mxsend-Queue-ID", QID);
	assert_field(g[0], "Arrival-Date", ARRIVAL_DATE);
	assert_no_field(g[0], "Original-Envelope-Id");
	assert_no_field(g[0], "Final-Recipient");
	for (i = 0; i < n; i++)
		free(g[i]);
	free(out);
	parsed_free(&px);

	rep.envid = "ENV-42.abc";
	out = std_bounce(&rep, &px);
	n = groups(px.body[1], g, 8);
	cr_assert_eq(n, 3);
	assert_field(g[0], "Original-Envelope-Id", "ENV-42.abc");
	assert_field(g[0], "Reporting-MTA", "dns; mail.example.org");
	for (i = 0; i < n; i++)
		free(g[i]);
	free(out);
	parsed_free(&px);
}

Test(dsn, per_recipient_fields)
{
	struct dsn_report rep = std_report();
	struct parsed px;
	char *out, *g[8];
	size_t n, i;

	out = std_bounce(&rep, &px);
	n = groups(px.body[1], g, 8);
	cr_assert_eq(n, 3);

	/* A refusal at RCPT: the server's reply. */
	assert_field(g[1], "Final-Recipient", "rfc822; bob@example.com");
	assert_field(g[1], "Original-Recipient", "rfc822; Bob@Example.COM");
	assert_field(g[1], "Action", "failed");
	assert_field(g[1], "Status", "5.1.1");
	assert_field(g[1], "Remote-MTA", "dns; mx1.example.com");
	assert_field(g[1], "Diagnostic-Code",
	    "smtp; 550 5.1.1 No such user");
	assert_field(g[1], "Last-Attempt-Date", NOW_DATE);

	/* A DNS failure: no server, mxsend's own words. */
	assert_field(g[2], "Final-Recipient", "rfc822; erin@nxdomain.example");
	assert_no_field(g[2], "Original-Recipient");
	assert_field(g[2], "Action", "failed");
	assert_field(g[2], "Status", "5.4.4");
	assert_no_field(g[2], "Remote-MTA");
	assert_field(g[2], "Diagnostic-Code", "X-mxsend; " ERIN_REASON);
	assert_field(g[2], "Last-Attempt-Date", NOW_DATE);

	/* Delivered, NOTIFY=NEVER and deferred recipients are not there. */
	cr_assert_null(strstr(px.body[1], "carol"));
	cr_assert_null(strstr(px.body[1], "dave"));
	cr_assert_null(strstr(px.body[1], "DAVE-GONE"));
	cr_assert_null(strstr(px.body[1], "frank"));
	for (i = 0; i < n; i++)
		free(g[i]);
	free(out);
	parsed_free(&px);
}

/* One failed recipient with these outcome details: its group. */
static char *
one_group(const char *addr, const char *orig, const char *dsn,
    const char *reason, const char *relay)
{
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message msg;
	struct parsed px;
	unsigned char inc[1];
	char *out, *g[4], *res;
	size_t len, n;

	memset(&env, 0, sizeof(env));
	add(&env, addr, orig, RCPT_FAILED, 0, dsn, reason, relay);
	cr_assert_eq(dsn_select(&env, inc), 1);
	load(&msg, ORIG_MSG, strlen(ORIG_MSG));
	out = bounce(&rep, &env, inc, &msg, &len);
	assert_lines(out, len);
	parse(out, &px);
	n = groups(px.body[1], g, 4);
	cr_assert_eq(n, 2);
	res = g[1];
	free(g[0]);
	parsed_free(&px);
	free(out);
	unload(&msg);
	env_clear(&env);
	return res;
}

Test(dsn, status_must_be_permanent)
{
	static const struct {
		const char *dsn, *want;
	} c[] = {
		{ "", "5.0.0" },
		{ "4.4.1", "5.0.0" },
		{ "2.0.0", "5.0.0" },
		{ "5.1", "5.0.0" },
		{ "5.1.1x", "5.0.0" },
		{ "5..1", "5.0.0" },
		{ "5.1234.1", "5.0.0" },
		{ "5.7.1", "5.7.1" },
		{ "5.10.100", "5.10.100" },
	};
	size_t i;
	char *g;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		g = one_group("x@example.com", NULL, c[i].dsn, "r", NULL);
		assert_field(g, "Status", c[i].want);
		free(g);
	}
}

Test(dsn, diagnostic_code_kinds)
{
	char *g;

	g = one_group("x@example.net", NULL, "5.7.1",
	    "host mx2.example.net[198.51.100.7]:25 refused to talk to me: "
	    "554 5.7.1 Go away", "mx2.example.net[198.51.100.7]:25");
	assert_field(g, "Diagnostic-Code", "smtp; 554 5.7.1 Go away");
	assert_field(g, "Remote-MTA", "dns; mx2.example.net");
	free(g);

	/* At the end of DATA, and a reply that quotes the phrase itself. */
	g = one_group("x@example.net", NULL, "5.3.4",
	    "host mx[192.0.2.7]:25 said: 552 5.3.4 too big (in reply to us) "
	    "(in reply to end of DATA command)", "mx[192.0.2.7]:25");
	assert_field(g, "Diagnostic-Code",
	    "smtp; 552 5.3.4 too big (in reply to us)");
	free(g);

	/* Not a server reply, though it looks a little like one. */
	g = one_group("x@example.net", NULL, "5.4.4",
	    "host mx[192.0.2.7]:25: said: 550 nothing", NULL);
	assert_field(g, "Diagnostic-Code",
	    "X-mxsend; host mx[192.0.2.7]:25: said: 550 nothing");
	free(g);
	g = one_group("x@example.net", NULL, "5.4.4",
	    "host mx[192.0.2.7]:25 said: no code here", NULL);
	assert_field(g, "Diagnostic-Code",
	    "X-mxsend; host mx[192.0.2.7]:25 said: no code here");
	free(g);

	/* An address literal as the relay. */
	g = one_group("x@[192.0.2.9]", NULL, "5.1.1",
	    "host [192.0.2.9]:2525 said: 550 5.1.1 no (in reply to RCPT TO "
	    "command)", "[192.0.2.9]:2525");
	assert_field(g, "Remote-MTA", "dns; [192.0.2.9]");
	assert_field(g, "Diagnostic-Code", "smtp; 550 5.1.1 no");
	free(g);

	/* A NULL reason still gives a field. */
	g = one_group("x@example.net", NULL, "5.0.0", NULL, NULL);
	assert_field(g, "Diagnostic-Code", "X-mxsend; delivery failed");
	free(g);
}

Test(dsn, original_recipient_only_when_an_other_address)
{
	char *g;

	/* Unqualified as written: not an address of type rfc822. */
	g = one_group("root@example.org", "root", "5.1.1", "r", NULL);
	assert_no_field(g, "Original-Recipient");
	assert_field(g, "Final-Recipient", "rfc822; root@example.org");
	free(g);
	g = one_group("list@example.org", "alias@example.org", "5.1.1", "r",
	    NULL);
	assert_field(g, "Original-Recipient", "rfc822; alias@example.org");
	free(g);
}

Test(dsn, utf8_address_in_xtext_form)
{
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message msg;
	struct parsed px;
	unsigned char inc[1];
	char *out, *g[4], *text;
	size_t len, i;

	memset(&env, 0, sizeof(env));
	add(&env, "j\xc3\xb6rg+x@example.com", NULL, RCPT_FAILED, 0, "5.1.1",
	    "host mx[192.0.2.1]:25 said: 550 5.1.1 no (in reply to RCPT TO "
	    "command)", "mx[192.0.2.1]:25");
	env.rcpts[0].smtputf8 = 1;
	cr_assert_eq(dsn_select(&env, inc), 1);
	load(&msg, ORIG_MSG, strlen(ORIG_MSG));
	out = bounce(&rep, &env, inc, &msg, &len);
	assert_lines(out, len);
	parse(out, &px);
	/* RFC 6533 §3: the delivery-status part stays ASCII. */
	for (i = 0; px.body[1][i] != '\0'; i++)
		cr_assert_lt((unsigned char)px.body[1][i], 0x80);
	cr_assert_eq(groups(px.body[1], g, 4), 2);
	assert_field(g[1], "Final-Recipient",
	    "utf-8; j\\x{F6}rg\\x{2B}x@example.com");
	/* The text shows it as it is, labelled. */
	assert_field(px.part[0], "Content-Type", "text/plain; charset=utf-8");
	assert_field(px.part[0], "Content-Transfer-Encoding", "8bit");
	assert_field(out, "Content-Transfer-Encoding", "8bit");
	text = unwrap_text(px.body[0]);
	cr_assert_not_null(strstr(text, "<j\xc3\xb6rg+x@example.com>: "));
	free(text);
	free(g[0]);
	free(g[1]);
	parsed_free(&px);
	free(out);
	unload(&msg);
	env_clear(&env);
}

/* ------------------------------------------------------------ part 3 */

Test(dsn, returned_message_full)
{
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message orig;
	struct parsed px;
	unsigned char inc[8];
	char *out, *whole;
	size_t len;

	std_env(&env);
	dsn_select(&env, inc);
	load(&orig, ORIG_MSG, strlen(ORIG_MSG));
	msg_prepend(&orig, "Received", "by mail.example.org (mxsend)");
	whole = streamed(&orig, 0);
	out = bounce(&rep, &env, inc, &orig, &len);
	parse(out, &px);
	assert_field(px.part[2], "Content-Type", "message/rfc822");
	assert_no_field(px.part[2], "Content-Transfer-Encoding");
	/* Byte for byte, the edits applied and the lone dot kept. */
	cr_assert_str_eq(px.body[2], whole);
	cr_assert_not_null(strstr(px.body[2], "\r\n.\r\nlast line\r\n"));
	free(whole);
	free(out);
	parsed_free(&px);
	unload(&orig);
	env_clear(&env);
}

Test(dsn, returned_headers_only)
{
	struct dsn_report rep = std_report();
	struct parsed px;
	struct message orig;
	char *out, *hdrs;

	load(&orig, ORIG_MSG, strlen(ORIG_MSG));
	hdrs = streamed(&orig, MSG_HEADERS_ONLY);
	unload(&orig);
	rep.ret = RET_HDRS;
	out = std_bounce(&rep, &px);
	assert_field(px.part[2], "Content-Type", "text/rfc822-headers");
	cr_assert_str_eq(px.body[2], hdrs);
	cr_assert_not_null(strstr(px.body[2], "Subject: hello\r\n"));
	cr_assert_null(strstr(out, "BODY-MARKER"));
	cr_assert_null(strstr(out, "last line"));
	free(hdrs);
	free(out);
	parsed_free(&px);

	rep.ret = RET_FULL;
	out = std_bounce(&rep, &px);
	assert_field(px.part[2], "Content-Type", "message/rfc822");
	cr_assert_not_null(strstr(px.body[2], "BODY-MARKER"));
	free(out);
	parsed_free(&px);
}

Test(dsn, eightbit_original_labelled)
{
	static const char in[] = "Subject: s\n\ncaf\xc3\xa9\n";
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message orig;
	struct parsed px;
	unsigned char inc[8];
	char *out;

	std_env(&env);
	dsn_select(&env, inc);
	load(&orig, in, strlen(in));
	cr_assert(orig.eightbit);
	out = bounce(&rep, &env, inc, &orig, NULL);
	parse(out, &px);
	assert_field(out, "Content-Transfer-Encoding", "8bit");
	assert_field(px.part[2], "Content-Transfer-Encoding", "8bit");
	assert_field(px.part[0], "Content-Type",
	    "text/plain; charset=us-ascii");
	assert_no_field(px.part[0], "Content-Transfer-Encoding");
	cr_assert_str_eq(px.body[2], "Subject: s\r\n\r\ncaf\xc3\xa9\r\n");
	free(out);
	parsed_free(&px);
	unload(&orig);
	env_clear(&env);
}

Test(dsn, large_message_streamed_whole)
{
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message orig;
	struct parsed px;
	struct buf in;
	unsigned char inc[8];
	char *out, *whole;
	size_t i, len;

	buf_init(&in);
	buf_adds(&in, "Subject: big\n\n");
	for (i = 0; i < 20000; i++)
		buf_printf(&in, "line %06zu of a message much larger than any "
		    "buffer\n", i);
	load(&orig, in.data, in.len);
	whole = streamed(&orig, 0);
	std_env(&env);
	dsn_select(&env, inc);
	out = bounce(&rep, &env, inc, &orig, &len);
	assert_lines(out, len);
	parse(out, &px);
	cr_assert_eq(strlen(px.body[2]), strlen(whole));
	cr_assert_str_eq(px.body[2], whole);
	free(whole);
	free(out);
	parsed_free(&px);
	unload(&orig);
	env_clear(&env);
	buf_free(&in);
}

/* ------------------------------------------------------------- lines */

Test(dsn, long_reasons_folded_within_998)
{
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message orig;
	struct parsed px;
	struct buf words, solid, r1, r2;
	unsigned char inc[4];
	char *out, *g[4], *v, *text;
	size_t len, i;

	buf_init(&words);
	while (words.len < 3000)
		buf_printf(&words, "%sword%zu", words.len ? " " : "",
		    words.len);
	buf_init(&solid);
	while (solid.len < 3000)
		buf_addc(&solid, 'x');
	buf_init(&r1);
	buf_printf(&r1, "host mx[192.0.2.1]:25 said: 550 %s (in reply to "
	    "RCPT TO command)", words.data);
	buf_init(&r2);
	buf_printf(&r2, "%s", solid.data);
	memset(&env, 0, sizeof(env));
	add(&env, "a@example.com", NULL, RCPT_FAILED, 0, "5.1.1", r1.data,
	    "mx[192.0.2.1]:25");
	add(&env, "b@example.com", NULL, RCPT_FAILED, 0, "5.1.1", r2.data,
	    NULL);
	cr_assert_eq(dsn_select(&env, inc), 2);
	rep.envid = solid.data;
	/* And an original that ends without a newline. */
	load(&orig, "Subject: s\n\nno newline", 22);
	out = bounce(&rep, &env, inc, &orig, &len);
	assert_lines(out, len);
	parse(out, &px);
	cr_assert_eq(groups(px.body[1], g, 4), 3);
	/* Folding at spaces loses nothing. */
	v = field_of(g[1], "Diagnostic-Code");
	cr_assert_eq(strncmp(v, "smtp; 550 ", 10), 0);
	cr_assert_str_eq(v + 10, words.data);
	free(v);
	/* A word too long to fold is broken, its octets all kept. */
	v = field_of(g[2], "Diagnostic-Code");
	cr_assert_eq(strncmp(v, "X-mxsend; ", 10), 0);
	for (i = 10; v[i] != '\0'; i++)
		cr_assert(v[i] == 'x' || v[i] == ' ');
	cr_assert_eq(strspn(v + 10, "x "), strlen(v + 10));
	free(v);
	text = unwrap_text(px.body[0]);
	cr_assert_not_null(strstr(text, r1.data));
	free(text);
	for (i = 0; i < 3; i++)
		free(g[i]);
	free(out);
	parsed_free(&px);
	unload(&orig);
	env_clear(&env);
	buf_free(&words);
	buf_free(&solid);
	buf_free(&r1);
	buf_free(&r2);
}

Test(dsn, no_header_injection)
{
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message orig;
	unsigned char inc[2];
	char *out;
	size_t len;
	const char *p;

	memset(&env, 0, sizeof(env));
	add(&env, "a@example.com\r\nBcc: evil@x", NULL, RCPT_FAILED, 0,
	    "5.1.1", "host mx[192.0.2.1]:25 said: 550 bad\r\nBcc: evil@x"
	    "\n\nInjected\r (in reply to RCPT TO command)",
	    "mx\r\nX-Evil: 1[192.0.2.1]:25");
	cr_assert_eq(dsn_select(&env, inc), 1);
	rep.sender = "alice@example.org\r\nBcc: evil@x";
	rep.envid = "E\r\nX-Evil: 2";
	rep.reporting_mta = "mail.example.org\r\nX-Evil: 3";
	load(&orig, ORIG_MSG, strlen(ORIG_MSG));
	out = bounce(&rep, &env, inc, &orig, &len);
	assert_lines(out, len);
	for (p = out; p != NULL; p = strstr(p, "\r\n")) {
		if (p != out)
			p += 2;
		cr_assert_neq(strncasecmp(p, "Bcc:", 4), 0);
		cr_assert_neq(strncasecmp(p, "X-Evil:", 7), 0);
		cr_assert_neq(strncmp(p, "Injected", 8), 0);
	}
	free(out);
	unload(&orig);
	env_clear(&env);
}

/* The delimiter's CRLF is never taken from the returned message. */
Test(dsn, returned_message_without_final_crlf)
{
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message orig;
	struct parsed px;
	unsigned char inc[8];
	char *out;
	size_t len;

	std_env(&env);
	dsn_select(&env, inc);
	load(&orig, "Subject: s\n\nno newline\n", 23);
	/* intake always ends the last line: cut the CRLF off behind it. */
	cr_assert(ftruncate(orig.fd, orig.size - 2) == 0);
	orig.size -= 2;
	out = bounce(&rep, &env, inc, &orig, &len);
	assert_lines(out, len);
	parse(out, &px);
	cr_assert_str_eq(px.body[2], "Subject: s\r\n\r\nno newline\r\n");
	free(out);
	parsed_free(&px);
	unload(&orig);
	env_clear(&env);
}

/* ----------------------------------------------------------- refusals */

Test(dsn, null_sender_refused)
{
	static const char *const senders[] = { "", "<>", NULL };
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message orig;
	unsigned char inc[8];
	char err[256];
	size_t i;
	int fd;

	std_env(&env);
	dsn_select(&env, inc);
	load(&orig, ORIG_MSG, strlen(ORIG_MSG));
	for (i = 0; i < 3; i++) {
		rep.sender = senders[i];
		fd = memfd_create("b", 0);
		err[0] = '\0';
		cr_assert_eq(dsn_write(fd, &rep, &env, inc, &orig, err,
		    sizeof(err)), -1);
		cr_assert_not_null(strstr(err, "null sender"), "%s", err);
		cr_assert_eq(lseek(fd, 0, SEEK_END), 0, "something written");
		close(fd);
	}
	unload(&orig);
	env_clear(&env);
}

Test(dsn, nothing_to_report_refused)
{
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message orig;
	unsigned char inc[8];
	char err[256] = "";
	int fd;

	std_env(&env);
	memset(inc, 0, sizeof(inc));
	load(&orig, ORIG_MSG, strlen(ORIG_MSG));
	fd = memfd_create("b", 0);
	cr_assert_eq(dsn_write(fd, &rep, &env, inc, &orig, err, sizeof(err)),
	    -1);
	cr_assert_neq(err[0], '\0');
	cr_assert_eq(lseek(fd, 0, SEEK_END), 0);
	close(fd);
	unload(&orig);
	env_clear(&env);
}

Test(dsn, write_and_spool_errors)
{
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message orig;
	unsigned char inc[8];
	char err[256] = "";
	int fd;

	std_env(&env);
	dsn_select(&env, inc);
	load(&orig, ORIG_MSG, strlen(ORIG_MSG));
	fd = open("/dev/null", O_RDONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(dsn_write(fd, &rep, &env, inc, &orig, err, sizeof(err)),
	    -1);
	cr_assert_not_null(strstr(err, "write"), "%s", err);
	close(fd);

	/* The spool lost its body. */
	cr_assert(ftruncate(orig.fd, 20) == 0);
	fd = memfd_create("b", 0);
	err[0] = '\0';
	cr_assert_eq(dsn_write(fd, &rep, &env, inc, &orig, err, sizeof(err)),
	    -1);
	cr_assert_not_null(strstr(err, "spool"), "%s", err);
	close(fd);
	unload(&orig);
	env_clear(&env);
}

/* ------------------------------------------------------------ intake */

Test(dsn, bounce_is_a_valid_message)
{
	struct dsn_report rep = std_report();
	struct envelope env;
	struct message orig, back;
	unsigned char inc[8];
	char err[256], *out, *again;
	int fd;
	size_t len;

	std_env(&env);
	dsn_select(&env, inc);
	load(&orig, ORIG_MSG, strlen(ORIG_MSG));
	fd = memfd_create("bounce", 0);
	cr_assert_eq(dsn_write(fd, &rep, &env, inc, &orig, err, sizeof(err)),
	    0, "%s", err);
	out = read_fd(fd, &len);
	cr_assert(lseek(fd, 0, SEEK_SET) == 0);
	msg_init(&back, memfd_create("spool", 0));
	cr_assert_eq(intake_read(fd, &back, 1, err, sizeof(err)), INTAKE_OK,
	    "%s", err);
	/* Nothing to normalise: intake keeps it byte for byte. */
	cr_assert_eq(back.nfolded, 0);
	cr_assert_eq(back.nbroken, 0);
	cr_assert(back.has_sep);
	cr_assert_not(back.eightbit);
	cr_assert_eq(back.size, (off_t)len);
	cr_assert(msg_has(&back, "From"));
	cr_assert(msg_has(&back, "To"));
	cr_assert(msg_has(&back, "Date"));
	cr_assert(msg_has(&back, "Message-ID"));
	again = streamed(&back, 0);
	cr_assert_str_eq(again, out);
	free(again);
	free(out);
	close(fd);
	unload(&back);
	unload(&orig);
	env_clear(&env);
}
