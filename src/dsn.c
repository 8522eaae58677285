/*
 * dsn.c: the bounce message (SPEC §8): RFC 3464 delivery status in an
 * RFC 6522 multipart/report, with the returned message or its header.
 *
 * Everything but the returned message is composed in memory (its size
 * depends on the recipients, not on the message); the returned message is
 * streamed from the spool by msg_stream() through a bounded buffer. Every
 * line is produced by wrap(), which folds at white space and breaks what
 * cannot be folded, so no line can exceed 998 octets (RFC 5322 §2.1.1)
 * whatever an address or a server reply holds; the spooled message was
 * limited the same way by intake.c.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "dsn.h"
#include "util.h"

#define LINE_SOFT	78
#define LINE_HARD	998
#define OUT_FLUSH	(64 * 1024)
#define QID_MAX		32	/* of the queue id in the boundary */

/* Buffered output to the bounce's fd; the first error sticks. */
struct out {
	int		 fd;
	struct buf	 b;
	int		 err;		/* errno of the failed write, 0 none */
	char		 tail[2];	/* the last two octets written */
};

static void
out_flush(struct out *o)
{
	if (o->err == 0 && o->b.len > 0 &&
	    write_all(o->fd, o->b.data, o->b.len) == -1)
		o->err = errno != 0 ? errno : EIO;
	buf_reset(&o->b);
}

static void
out_add(struct out *o, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (n >= 2) {
		o->tail[0] = p[n - 2];
		o->tail[1] = p[n - 1];
	} else {
		o->tail[0] = o->tail[1];
		o->tail[1] = p[0];
	}
	if (o->err != 0)
		return;
	if (o->b.len + n > OUT_FLUSH)
		out_flush(o);
	/* A spool chunk is written as it is rather than copied. */
	if (n >= OUT_FLUSH) {
		if (o->err == 0 && write_all(o->fd, p, n) == -1)
			o->err = errno != 0 ? errno : EIO;
		return;
	}
	buf_add(&o->b, p, n);
}

/* msg_writer for the returned message: 1 tells msg_stream() to stop. */
static int
stream_out(void *ctx, const char *p, size_t n)
{
	struct out *o = ctx;

	out_add(o, p, n);
	return o->err != 0;
}



/*
 * s made fit for one logical line: runs of white space, CR and LF
 * included, become one space (no header injection, and folding can never
 * leave a line of white space alone), leading and trailing ones go; other
 * control characters become '?', and so do octets over 0x7f unless
 * utf8 is set and s is valid UTF-8. NULL is taken as "".
 */
static char *
clean(const char *s, int utf8)
{
	const unsigned char *p;
	struct buf b;
	int keep8;

	buf_init(&b);
	if (s == NULL)
		return buf_release(&b);
	keep8 = utf8 && utf8_valid(s, strlen(s));
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			if (b.len > 0 && b.data[b.len - 1] != ' ')
				buf_addc(&b, ' ');
		} else if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && !keep8))
			buf_addc(&b, '?');
		else
			buf_addc(&b, *p);
	}
	if (b.len > 0 && b.data[b.len - 1] == ' ')
		b.data[--b.len] = '\0';
	return buf_release(&b);
}

/*
 * s reduced to the octets allowed in tok (for a host name, a Message-ID
 * or a boundary, where anything else could break the syntax); the others
 * are dropped. def when nothing is left.
 */
static char *
reduce(const char *s, const char *tok, size_t max, const char *def)
{
	struct buf b;

	buf_init(&b);
	for (; s != NULL && *s != '\0' && b.len < max; s++)
		if (strchr(tok, *s) != NULL)
			buf_addc(&b, *s);
	if (b.len == 0)
		buf_adds(&b, def);
	return buf_release(&b);
}

#define ALNUM	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/*
 * Append t (one clean logical line) to b, ending in CRLF, folded before a
 * space to at most LINE_SOFT octets where the words allow, else at the
 * first space within LINE_HARD, else by breaking the word at LINE_HARD
 * (the one case that adds a space). The space is kept at the start of the
 * next line, so unfolding gives t back; continuation lines also start
 * with cont: "" in header fields, where the space marks them, an indent
 * in text.
 */
static void
wrap(struct buf *b, const char *t, const char *cont)
{
	size_t len = strlen(t), clen = strlen(cont), ls = 0, lead = 0;
	size_t i, brk;

	while (lead + len - ls > LINE_SOFT) {
		brk = 0;
		for (i = ls + 1; i < len && lead + i - ls <= LINE_SOFT; i++)
			if (t[i] == ' ')
				brk = i;
		if (brk == 0)
			for (; i < len && lead + i - ls <= LINE_HARD; i++)
				if (t[i] == ' ') {
					brk = i;
					break;
				}
		if (brk == 0) {
			if (lead + len - ls <= LINE_HARD)
				break;
			brk = ls + LINE_HARD - lead;
		}
		buf_add(b, t + ls, brk - ls);
		buf_adds(b, "\r\n");
		buf_adds(b, cont);
		lead = clen;
		if (t[brk] != ' ') {
			buf_addc(b, ' ');
			lead++;
		}
		ls = brk;
	}
	buf_add(b, t + ls, len - ls);
	buf_adds(b, "\r\n");
}

/* "Name: value" as a folded field; value is cleaned here. */
static void
field(struct buf *b, const char *name, const char *value, int utf8)
{
	char *v, *t;

	v = clean(value, utf8);
	t = xasprintf("%s: %s", name, v);
	wrap(b, t, "");
	free(t);
	free(v);
}

/*
 * An address for Final-Recipient or Original-Recipient: type "rfc822"
 * (RFC 3464 §2.3.1) when it is printable ASCII; otherwise the "utf-8"
 * type of RFC 6533 §3 in its utf-8-addr-xtext form, the one allowed in
 * message/delivery-status, which keeps this part 7-bit: "+", "=", "\",
 * space and every non-ASCII character are written as \x{HEX}, malformed
 * UTF-8 as U+FFFD.
 */
static char *
dsn_address(const char *a)
{
	const unsigned char *p;
	struct buf b;
	const unsigned char *end;
	uint32_t cp;
	size_t n;
	int ascii = 1;

	for (p = (const unsigned char *)a; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			ascii = 0;
	buf_init(&b);
	if (ascii) {
		buf_adds(&b, "rfc822; ");
		buf_adds(&b, a);
		return buf_release(&b);
	}
	buf_adds(&b, "utf-8; ");
	end = (const unsigned char *)a + strlen(a);
	for (p = (const unsigned char *)a; p < end; p += n) {
		if ((n = utf8_seq(p, (size_t)(end - p), &cp)) == 0) {
			cp = 0xfffd;
			n = 1;
		}
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' &&
		    cp != '\\')
			buf_addc(&b, (int)cp);
		else
			buf_printf(&b, "\\x{%02X}", (unsigned)cp);
	}
	return buf_release(&b);
}

/* "5.x.y" (RFC 3463 §2: class 5, 1-3 digit subject and detail). */
static int
permanent_status(const char *s)
{
	size_t n;

	if (s[0] != '5' || s[1] != '.')
		return 0;
	s += 2;
	n = strspn(s, "0123456789");
	if (n < 1 || n > 3 || s[n] != '.')
		return 0;
	s += n + 1;
	n = strspn(s, "0123456789");
	return n >= 1 && n <= 3 && s[n] == '\0';
}

/*
 * The server's reply in one of deliver.c's reasons, "host LABEL said:
 * REPLY (in reply to X command)" or "host LABEL refused to talk to me:
 * REPLY", for Diagnostic-Code: smtp (RFC 3464 §2.3.6); NULL when the
 * reason is not one (DNS, connection or local failures). The label
 * ("name[ip]:port") holds no space and ends in the port, and the phrase
 * must follow it at once: neither a reply text that happens to contain
 * "said:" nor deliver.c's "host LABEL: text" form is mistaken for one.
 */
static char *
server_reply(const char *reason)
{
	static const char *const intro[] = {
		" said: ", " refused to talk to me: "
	};
	const char *p, *e, *q, *last = NULL;
	size_t i, n = 0;

	if (reason == NULL || strncmp(reason, "host ", 5) != 0)
		return NULL;
	p = reason + 5 + strcspn(reason + 5, " ");
	if (p == reason + 5 || ((p[-1] < '0' || p[-1] > '9') && p[-1] != ']'))
		return NULL;
	for (i = 0; i < sizeof(intro) / sizeof(intro[0]); i++) {
		n = strlen(intro[i]);
		if (strncmp(p, intro[i], n) == 0)
			break;
	}
	if (i == sizeof(intro) / sizeof(intro[0]))
		return NULL;
	p += n;
	/* An RFC 5321 §4.2 reply code. */
	if (p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
	    p[2] < '0' || p[2] > '9' ||
	    (p[3] != ' ' && p[3] != '-' && p[3] != '\0'))
		return NULL;
	e = p + strlen(p);
	/* deliver.c appends the suffix last; the reply may hold one too. */
	for (q = p; (q = strstr(q, " (in reply to ")) != NULL; q++)
		last = q;
	if (last != NULL && e[-1] == ')')
		e = last;
	return xstrndup(p, (size_t)(e - p));
}

/* Remote-MTA's host (RFC 3464 §2.3.5): "mx[192.0.2.1]:25" gives "mx". */
static char *
relay_host(const char *relay)
{
	const char *e;
	char *h, *c;

	if (relay[0] == '[')	/* an address literal: keep it whole */
		e = relay + strcspn(relay, "]") + (strchr(relay, ']') != NULL);
	else if ((e = strchr(relay, '[')) == NULL)
		e = relay + strcspn(relay, ":");
	h = xstrndup(relay, (size_t)(e - relay));
	c = clean(h, 0);
	free(h);
	return c;
}

/*
 * Hex digits that make the boundary and the Message-ID unique. What
 * matters is that no two bounces and no message content share them, so
 * when getrandom() fails a mix of the time, the process and a counter
 * (splitmix64) will do.
 */
static void
random_hex(char *out, size_t n)
{
	static uint64_t counter;
	unsigned char r[32];
	struct timespec ts;
	uint64_t x, z = 0;
	size_t nb, i;

	nb = (n + 1) / 2;
	if (nb > sizeof(r))
		nb = sizeof(r);
	if (getrandom(r, nb, GRND_NONBLOCK) != (ssize_t)nb) {
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		x = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
		    ((uint64_t)getpid() << 40) ^ ++counter;
		for (i = 0; i < nb; i++) {
			if (i % 8 == 0) {
				z = (x += 0x9e3779b97f4a7c15ULL);
				z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
				z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
				z ^= z >> 31;
			}
			r[i] = (unsigned char)(z >> (8 * (i % 8)));
		}
	}
	for (i = 0; i < n && i / 2 < nb; i++)
		out[i] = "0123456789abcdef"[(r[i / 2] >> (i % 2 ? 0 : 4)) &
		    0xf];
	out[i] = '\0';
}


/* Part 1: what the sender reads (as Postfix words it, roughly). */
static void
notification(struct buf *b, const struct dsn_report *rep, const char *host,
    const struct envelope *env, const unsigned char *include)
{
	const struct rcpt *r;
	char *a, *o, *why, *t;
	size_t i;

	t = xasprintf("This is the mail system at host %s.", host);
	wrap(b, t, "   ");
	free(t);
	buf_adds(b, "\r\nYour message could not be delivered to one or more "
	    "recipients.\r\n");
	buf_adds(b, rep->ret == RET_HDRS ?
	    "Its header section is attached below.\r\n" :
	    "It is attached below.\r\n");
	buf_adds(b, "\r\n"
	    "For further assistance, please send mail to postmaster.\r\n"
	    "If you do so, please include this problem report.\r\n");
	for (i = 0; i < env->nrcpts; i++) {
		if (!include[i])
			continue;
		r = &env->rcpts[i];
		a = clean(r->addr, 1);
		why = clean(r->reason != NULL && r->reason[0] != '\0' ?
		    r->reason : "delivery failed", 1);
		if (r->origin == ORIGIN_ALIAS && r->orig != NULL &&
		    strcmp(r->orig, r->addr) != 0) {
			o = clean(r->orig, 1);
			t = xasprintf("<%s> (expanded from <%s>): %s", a, o,
			    why);
			free(o);
		} else
			t = xasprintf("<%s>: %s", a, why);
		buf_adds(b, "\r\n");
		wrap(b, t, "   ");
		free(t);
		free(a);
		free(why);
	}
}

/* Part 2: the RFC 3464 §2.2 and §2.3 fields, in the order of its grammar. */
static void
delivery_status(struct buf *b, const struct dsn_report *rep,
    const char *host, const struct envelope *env,
    const unsigned char *include)
{
	const struct rcpt *r;
	char date[64], *v, *h, *reply;
	size_t i;

	/* RFC 3461 §4.4 allows printable ASCII only: field() keeps that. */
	if (rep->envid != NULL && rep->envid[0] != '\0')
		field(b, "Original-Envelope-Id", rep->envid, 0);
	v = xasprintf("dns; %s", host);
	field(b, "Reporting-MTA", v, 0);
	free(v);
	msg_date(rep->arrival, date, sizeof(date));
	field(b, "Arrival-Date", date, 0);
	if (rep->queue_id != NULL && rep->queue_id[0] != '\0')
		field(b, "X-Mxsend-Queue-ID", rep->queue_id, 0);

	msg_date(rep->now, date, sizeof(date));
	for (i = 0; i < env->nrcpts; i++) {
		if (!include[i])
			continue;
		r = &env->rcpts[i];
		buf_adds(b, "\r\n");
		if (r->orig != NULL && strchr(r->orig, '@') != NULL &&
		    strcmp(r->orig, r->addr) != 0) {
			v = dsn_address(r->orig);
			field(b, "Original-Recipient", v, 0);
			free(v);
		}
		v = dsn_address(r->addr);
		field(b, "Final-Recipient", v, 0);
		free(v);
		field(b, "Action", "failed", 0);
		field(b, "Status", permanent_status(r->dsn) ? r->dsn : "5.0.0",
		    0);
		h = r->relay != NULL ? relay_host(r->relay) : NULL;
		if (h != NULL && h[0] != '\0') {
			v = xasprintf("dns; %s", h);
			field(b, "Remote-MTA", v, 0);
			free(v);
		}
		free(h);
		if ((reply = server_reply(r->reason)) != NULL) {
			v = xasprintf("smtp; %s", reply);
			free(reply);
		} else
			v = xasprintf("X-mxsend; %s", r->reason != NULL &&
			    r->reason[0] != '\0' ? r->reason :
			    "delivery failed");
		field(b, "Diagnostic-Code", v, 0);
		free(v);
		field(b, "Last-Attempt-Date", date, 0);
	}
}

size_t
dsn_select(const struct envelope *env, unsigned char *include)
{
	const struct rcpt *r;
	size_t i, n = 0;

	for (i = 0; i < env->nrcpts; i++) {
		r = &env->rcpts[i];
		/* RFC 3461 §4.1: NEVER excludes; unset means FAILURE too. */
		include[i] = r->state == RCPT_FAILED &&
		    !(r->notify & NOTIFY_NEVER) &&
		    (r->notify == 0 || (r->notify & NOTIFY_FAILURE));
		n += include[i];
	}
	return n;
}

/* The bounce's own header fields (RFC 3464 §2, RFC 3834). */
static void
top_header(struct buf *b, const struct dsn_report *rep, const char *host,
    const char *qid, const char *bnd, int eightbit)
{
	char date[64], mid_hex[17], *t;

	random_hex(mid_hex, sizeof(mid_hex) - 1);
	t = xasprintf("MAILER-DAEMON@%s (Mail Delivery System)", host);
	field(b, "From", t, 0);
	free(t);
	field(b, "To", rep->sender, 1);
	field(b, "Subject", "Undelivered Mail Returned to Sender", 0);
	msg_date(rep->now, date, sizeof(date));
	field(b, "Date", date, 0);
	t = xasprintf("<%s.bounce.%s@%s>", qid, mid_hex, host);
	field(b, "Message-ID", t, 0);
	free(t);
	field(b, "Auto-Submitted", "auto-replied", 0);
	field(b, "MIME-Version", "1.0", 0);
	t = xasprintf("multipart/report; report-type=delivery-status; "
	    "boundary=\"%s\"", bnd);
	field(b, "Content-Type", t, 0);
	free(t);
	/* RFC 2045 §6.4: a multipart is labelled as its widest part. */
	if (eightbit)
		field(b, "Content-Transfer-Encoding", "8bit", 0);
	buf_adds(b, "\r\nThis is a MIME-encapsulated message.\r\n");
}

/* The three parts' headings and the first two parts (RFC 3462). */
static void
parts(struct buf *b, const struct dsn_report *rep, const char *host,
    const char *bnd, const struct envelope *env,
    const unsigned char *include, const struct buf *text, int text8,
    int orig8)
{
	buf_printf(b, "\r\n--%s\r\n", bnd);
	field(b, "Content-Description", "Notification", 0);
	field(b, "Content-Type", text8 ? "text/plain; charset=utf-8" :
	    "text/plain; charset=us-ascii", 0);
	if (text8)
		field(b, "Content-Transfer-Encoding", "8bit", 0);
	buf_adds(b, "\r\n");
	buf_add(b, text->data, text->len);

	buf_printf(b, "\r\n--%s\r\n", bnd);
	field(b, "Content-Description", "Delivery report", 0);
	field(b, "Content-Type", "message/delivery-status", 0);
	buf_adds(b, "\r\n");
	delivery_status(b, rep, host, env, include);

	buf_printf(b, "\r\n--%s\r\n", bnd);
	if (rep->ret == RET_HDRS) {
		field(b, "Content-Description",
		    "Undelivered Message Headers", 0);
		field(b, "Content-Type", "text/rfc822-headers", 0);
	} else {
		field(b, "Content-Description", "Undelivered Message", 0);
		field(b, "Content-Type", "message/rfc822", 0);
	}
	if (orig8)
		field(b, "Content-Transfer-Encoding", "8bit", 0);
	buf_adds(b, "\r\n");
}

/*
 * Write what b holds, then the returned message (streamed from its
 * spool), then the closing delimiter. Returns 0 or -1 with err.
 */
static int
write_out(int fd, const struct buf *b, const struct dsn_report *rep,
    const struct message *orig, const char *bnd, char *err, size_t errlen)
{
	struct out o;
	char *t;
	int rc, saved = 0;

	memset(&o, 0, sizeof(o));
	o.fd = fd;
	buf_init(&o.b);
	out_add(&o, b->data, b->len);
	rc = msg_stream(orig, rep->ret == RET_HDRS ? MSG_HEADERS_ONLY : 0,
	    stream_out, &o);
	if (rc == -1)
		saved = errno;
	/* The delimiter's CRLF belongs to it (RFC 2046 §5.1.1), not to the
	 * returned message, whose last line keeps its own. */
	if (o.tail[0] != '\r' || o.tail[1] != '\n')
		out_add(&o, "\r\n", 2);
	t = xasprintf("\r\n--%s--\r\n", bnd);
	out_add(&o, t, strlen(t));
	free(t);
	out_flush(&o);
	buf_free(&o.b);
	if (rc == -1) {
		snprintf(err, errlen, "cannot read the spooled message: %s",
		    strerror(saved));
		return -1;
	}
	if (o.err != 0) {
		snprintf(err, errlen, "cannot write the bounce: %s",
		    strerror(o.err));
		return -1;
	}
	return 0;
}

int
dsn_write(int fd, const struct dsn_report *rep, const struct envelope *env,
    const unsigned char *include, const struct message *orig, char *err,
    size_t errlen)
{
	struct buf b, text;
	char bnd_hex[25];
	char *host, *qid, *bnd;
	size_t i, n;
	int rc, text8;

	if (rep->sender == NULL || rep->sender[0] == '\0' ||
	    strcmp(rep->sender, "<>") == 0) {
		snprintf(err, errlen, "no bounce for the null sender");
		return -1;
	}
	for (i = n = 0; i < env->nrcpts; i++)
		n += include[i] != 0;
	if (n == 0) {
		snprintf(err, errlen, "no failed recipient to report");
		return -1;
	}

	host = reduce(rep->reporting_mta, ALNUM "-._:[]", 255, "localhost");
	qid = reduce(rep->queue_id, ALNUM, QID_MAX, "0");
	random_hex(bnd_hex, sizeof(bnd_hex) - 1);
	/* RFC 2046 §5.1.1: bchars, 70 at most (7 + 32 + 1 + 24). */
	bnd = xasprintf("mxsend-%s-%s", qid, bnd_hex);

	buf_init(&text);
	notification(&text, rep, host, env, include);
	text8 = has_8bit(text.data, text.len);
	buf_init(&b);
	top_header(&b, rep, host, qid, bnd, text8 || orig->eightbit);
	parts(&b, rep, host, bnd, env, include, &text, text8,
	    orig->eightbit);
	buf_free(&text);
	rc = write_out(fd, &b, rep, orig, bnd, err, errlen);
	buf_free(&b);
	free(bnd);
	free(qid);
	free(host);
	return rc;
}
