/*
 * message.c: the spooled message, its header edits, and streaming it out
 * with the edits applied (SPEC §5.4).
 *
 * The spool is never rewritten: dropped fields are skipped and added ones
 * are written around the original header when streaming, in 64 KiB pread
 * chunks, so one spool serves every SMTP session and memory does not grow
 * with the message. Added fields follow RFC 5322: §3.3 date-time with a
 * numeric zone, §3.6.4 msg-id, §3.6.7 trace (Received:), §2.2.3 folding
 * (lines of at most 78 octets where possible, never over 998); display
 * names with non-ASCII text are RFC 2047 encoded words.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "message.h"
#include "rfc5322.h"
#include "util.h"

#define CHUNK		(64 * 1024)
#define LINE_SOFT	78
#define LINE_HARD	998

void
msg_init(struct message *msg, int fd)
{
	memset(msg, 0, sizeof(*msg));
	msg->fd = fd;
	buf_init(&msg->prepend);
	buf_init(&msg->append);
	buf_init(&msg->append_relay);
}

void
msg_free(struct message *msg)
{
	size_t i;

	for (i = 0; i < msg->nfields; i++) {
		free(msg->fields[i].name);
		free(msg->fields[i].value);
		free(msg->fields[i].rewrite);
		free(msg->fields[i].relay_rewrite);
	}
	free(msg->fields);
	msg->fields = NULL;
	msg->nfields = 0;
	buf_free(&msg->prepend);
	buf_free(&msg->append);
	buf_free(&msg->append_relay);
}

const struct hfield *
msg_find(const struct message *msg, const char *name, size_t *iter)
{
	size_t i;

	for (i = *iter; i < msg->nfields; i++)
		if (ascii_strcasecmp(msg->fields[i].name, name) == 0) {
			*iter = i + 1;
			return &msg->fields[i];
		}
	*iter = msg->nfields;
	return NULL;
}

int
msg_has(const struct message *msg, const char *name)
{
	size_t iter = 0;

	return msg_find(msg, name, &iter) != NULL;
}

size_t
msg_drop(struct message *msg, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < msg->nfields; i++)
		if (ascii_strcasecmp(msg->fields[i].name, name) == 0) {
			msg->fields[i].drop = 1;
			n++;
		}
	return n;
}


/*
 * A fold may go before t[i] when it is white space that follows a word of
 * the value (so no line is left blank) and more words follow.
 */
static int
can_fold(const char *t, size_t i, size_t vstart, size_t lastword)
{
	return i > vstart && i <= lastword && is_wsp(t[i]) &&
	    !is_wsp(t[i - 1]);
}

void
msg_field(struct buf *out, const char *name, const char *value)
{
	struct buf t;
	size_t len, ls, i, vstart, lastword, best, room;
	size_t lead = 0;	/* the SP a hard break put at a line start */

	buf_init(&t);
	buf_printf(&t, "%s:", name);
	if (*value != '\0')
		buf_addc(&t, ' ');
	vstart = t.len;
	buf_adds(&t, value);
	for (i = vstart; i < t.len; i++)
		if (t.data[i] == '\r' || t.data[i] == '\n')
			t.data[i] = ' ';
	len = t.len;
	for (lastword = len; lastword > vstart && is_wsp(t.data[lastword - 1]);
	    lastword--)
		;
	if (lastword > 0)
		lastword--;

	ls = 0;
	while (lead + len - ls > LINE_SOFT) {
		/* The last fold point that keeps the line within 78... */
		best = 0;
		for (i = ls + 1; i < len && lead + i - ls <= LINE_SOFT; i++)
			if (can_fold(t.data, i, vstart, lastword))
				best = i;
		/* ...else the first one within 998... */
		if (best == 0)
			for (; i < len && lead + i - ls <= LINE_HARD; i++)
				if (can_fold(t.data, i, vstart, lastword)) {
					best = i;
					break;
				}
		if (best != 0) {
			buf_add(out, t.data + ls, best - ls);
			buf_adds(out, "\r\n");
			ls = best;
			lead = 0;
			continue;
		}
		/* ...else break the word, as intake does. */
		room = LINE_HARD - lead;
		if (len - ls <= room)
			break;
		buf_add(out, t.data + ls, room);
		buf_adds(out, "\r\n ");
		ls += room;
		lead = 1;
	}
	buf_add(out, t.data + ls, len - ls);
	buf_adds(out, "\r\n");
	buf_free(&t);
}

void
msg_prepend(struct message *msg, const char *name, const char *value)
{
	msg_field(&msg->prepend, name, value);
}

void
msg_append(struct message *msg, const char *name, const char *value)
{
	msg_field(&msg->append, name, value);
}

void
msg_date(time_t t, char *out, size_t outlen)
{
	static const char days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm tm;
	long off, aoff;

	if (localtime_r(&t, &tm) == NULL) {
		(void)gmtime_r(&t, &tm);
		tm.tm_gmtoff = 0;
	}
	off = tm.tm_gmtoff / 60;
	aoff = off < 0 ? -off : off;
	/* Names by hand: strftime's %a and %b follow the locale. */
	snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    off < 0 ? '-' : '+', aoff / 60, aoff % 60);
}


/*
 * RFC 2047 §4.1 B encoding. Each word holds at most 39 octets of text:
 * 64 octets in all, so that a line holding one after a field name
 * ("Subject: ") or a fold stays within the 76 octets of §2.
 */
void
msg_encoded_words(struct buf *b, const char *s)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), n, i;
	unsigned v;

	while (len > 0) {
		n = len > 39 ? 39 : len;
		/* Never split a UTF-8 sequence between two words (§5). */
		while (n < len && n > 1 && (p[n] & 0xC0) == 0x80)
			n--;
		buf_adds(b, "=?UTF-8?B?");
		for (i = 0; i < n; i += 3) {
			v = (unsigned)p[i] << 16;
			if (i + 1 < n)
				v |= (unsigned)p[i + 1] << 8;
			if (i + 2 < n)
				v |= p[i + 2];
			buf_addc(b, b64[(v >> 18) & 63]);
			buf_addc(b, b64[(v >> 12) & 63]);
			buf_addc(b, i + 1 < n ? b64[(v >> 6) & 63] : '=');
			buf_addc(b, i + 2 < n ? b64[v & 63] : '=');
		}
		buf_adds(b, "?=");
		p += n;
		len -= n;
		if (len > 0)
			buf_addc(b, ' ');
	}
}

char *
msg_mailbox_text(const char *name, const char *addr)
{
	struct buf b;
	const char *s;

	buf_init(&b);
	if (name == NULL || name[0] == '\0') {
		buf_adds(&b, addr);
		return buf_release(&b);
	}
	if (has_8bit(name, strlen(name))) {
		msg_encoded_words(&b, name);
	} else {
		/* RFC 5322 §3.2.4 quoted-string. */
		buf_addc(&b, '"');
		for (s = name; *s; s++) {
			if (*s == '"' || *s == '\\')
				buf_addc(&b, '\\');
			buf_addc(&b, *s == '\r' || *s == '\n' ? ' ' : *s);
		}
		buf_addc(&b, '"');
	}
	buf_printf(&b, " <%s>", addr);
	return buf_release(&b);
}

static char *
from_value(const struct msg_submit *sub)
{
	char *addr, *v;

	if (sub->sender != NULL && sub->sender[0] != '\0')
		addr = xstrdup(sub->sender);
	else
		addr = xasprintf("MAILER-DAEMON@%s", sub->domain);
	v = msg_mailbox_text(sub->fullname, addr);
	free(addr);
	return v;
}

void
msg_complete(struct message *msg, const struct msg_submit *sub)
{
	char date[64], stamp[32];
	struct tm tm;
	char *v;

	msg_drop(msg, "Bcc");
	msg_drop(msg, "Resent-Bcc");
	msg_date(sub->now, date, sizeof(date));
	if (!msg_has(msg, "From")) {
		v = from_value(sub);
		msg_append(msg, "From", v);
		free(v);
	}
	if (!msg_has(msg, "Date"))
		msg_append(msg, "Date", date);
	if (!msg_has(msg, "Message-ID")) {
		/* UTC, as Postfix: the id must not depend on the zone. */
		if (gmtime_r(&sub->now, &tm) == NULL ||
		    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0)
			strlcpy(stamp, "0", sizeof(stamp));
		v = xasprintf("<%s.%s@%s>", stamp, sub->queue_id,
		    sub->domain);
		msg_append(msg, "Message-ID", v);
		free(v);
	}
	if (sub->for_rcpt != NULL)
		v = xasprintf("by %s (mxsend, from userid %lu) id %s for <%s>; "
		    "%s", sub->domain, (unsigned long)sub->uid,
		    sub->queue_id, sub->for_rcpt, date);
	else
		v = xasprintf("by %s (mxsend, from userid %lu) id %s; %s",
		    sub->domain, (unsigned long)sub->uid, sub->queue_id,
		    date);
	msg_prepend(msg, "Received", v);
	free(v);
}

/* The address fields that get qualified (SPEC §5.4). */
static int
qualified_field(const char *name)
{
	static const char *const names[] = { "From", "Sender", "Reply-To",
	    "To", "Cc" };
	size_t i;

	if (ascii_strncasecmp(name, "Resent-", 7) == 0)
		name += 7;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ascii_strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* Whether some line of b[0..n) is longer than 998 octets (CRLF aside). */
static int
line_too_long(const char *b, size_t n)
{
	size_t i, line = 0;

	for (i = 0; i < n; i++) {
		if (b[i] == '\n')
			line = 0;
		else if (b[i] != '\r' && ++line > 998)
			return 1;
	}
	return 0;
}

/*
 * The field f (its bytes in raw[0..len)) with "@domain" after each
 * unqualified address, or NULL when it has none or the result would
 * hold a line over 998 octets.
 */
static char *
qualify_field(const char *raw, size_t len, const char *domain, size_t *outlen)
{
	struct addrlist	 l;
	struct buf	 b;
	const char	*colon = memchr(raw, ':', len);
	size_t		 v, vlen, i, from = 0;

	if (colon == NULL || len < 2)
		return NULL;
	v = (size_t)(colon - raw) + 1;
	vlen = len - 2 - v;		/* the final CRLF aside */
	addrlist_init(&l);
	rfc5322_parse_address_list(raw + v, vlen, &l);
	buf_init(&b);
	for (i = 0; i < l.n; i++) {
		if (l.v[i].domain != NULL || l.v[i].local[0] == '\0' ||
		    l.v[i].qualify_at > vlen)
			continue;
		buf_add(&b, raw + from, v + l.v[i].qualify_at - from);
		buf_printf(&b, "@%s", domain);
		from = v + l.v[i].qualify_at;
	}
	addrlist_free(&l);
	if (from == 0 || (buf_add(&b, raw + from, len - from),
	    line_too_long(b.data, b.len))) {
		buf_free(&b);
		return NULL;
	}
	*outlen = b.len;
	return buf_release(&b);
}

int
msg_qualify(struct message *msg, const char *domain)
{
	struct hfield	*f;
	char		*raw;
	size_t		 i;
	int		 n = 0;

	for (i = 0; i < msg->nfields; i++) {
		f = &msg->fields[i];
		if (f->drop || f->rewrite != NULL || !qualified_field(f->name))
			continue;
		raw = xmalloc(f->len + 1);
		if (pread(msg->fd, raw, f->len, f->off) != (ssize_t)f->len) {
			free(raw);
			return -1;
		}
		f->rewrite = qualify_field(raw, f->len, domain,
		    &f->rewrite_len);
		n += f->rewrite != NULL;
		free(raw);
	}
	return n;
}

/*
 * "From: " + the display name of the first mailbox of the field raw
 * (name and value, CRLF-terminated, len octets) + addr, folded.
 */
static void
relay_from_field(struct buf *out, const char *raw, size_t len,
    const char *addr)
{
	struct addrlist	 l;
	const char	*colon = memchr(raw, ':', len);
	size_t		 v;
	char		*text;

	addrlist_init(&l);
	if (colon != NULL && len >= 2) {
		v = (size_t)(colon - raw) + 1;
		rfc5322_parse_address_list(raw + v, len - 2 - v, &l);
	}
	text = msg_mailbox_text(l.n > 0 ? l.v[0].display : NULL, addr);
	msg_field(out, "From", text);
	free(text);
	addrlist_free(&l);
}

/* Length of the first field of b (continuation lines included). */
static size_t
first_field_len(const char *b, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (b[i] == '\r' && b[i + 1] == '\n' &&
		    (i + 2 >= n || (b[i + 2] != ' ' && b[i + 2] != '\t')))
			return i + 2;
	return n;
}

int
msg_relay_from(struct message *msg, const char *addr)
{
	struct hfield	*f;
	struct buf	 b;
	char		*raw;
	size_t		 i, n;
	int		 found = 0;

	for (i = 0; i < msg->nfields; i++) {
		f = &msg->fields[i];
		if (f->drop || ascii_strcasecmp(f->name, "From") != 0)
			continue;
		raw = xmalloc(f->len + 1);
		if (pread(msg->fd, raw, f->len, f->off) != (ssize_t)f->len) {
			free(raw);
			return -1;
		}
		buf_init(&b);
		relay_from_field(&b, raw, f->len, addr);
		free(raw);
		free(f->relay_rewrite);
		f->relay_rewrite_len = b.len;
		f->relay_rewrite = buf_release(&b);
		found = 1;
	}
	buf_free(&msg->append_relay);
	buf_init(&msg->append_relay);
	msg->relay_append = 0;
	/* A From: of msg_complete()'s own comes first in append. */
	if (!found && msg->append.len > 5 &&
	    ascii_strncasecmp(msg->append.data, "From:", 5) == 0) {
		n = first_field_len(msg->append.data, msg->append.len);
		relay_from_field(&msg->append_relay, msg->append.data, n,
		    addr);
		buf_add(&msg->append_relay, msg->append.data + n,
		    msg->append.len - n);
		msg->relay_append = 1;
	}
	return 0;
}

/* Copy spool bytes [from, to) to w through buf. */
static int
stream_range(const struct message *msg, off_t from, off_t to, char *buf,
    msg_writer w, void *ctx)
{
	ssize_t r;
	size_t n;
	int rc;

	while (from < to) {
		n = to - from > CHUNK ? CHUNK : (size_t)(to - from);
		r = pread(msg->fd, buf, n, from);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;	/* the spool shrank */
			return -1;
		}
		if ((rc = w(ctx, buf, (size_t)r)) != 0)
			return rc;
		from += r;
	}
	return 0;
}

/* What goes out instead of f's spool bytes on this route, or NULL. */
static const char *
field_rewrite(const struct hfield *f, int flags, size_t *len)
{
	if ((flags & MSG_RELAY) && f->relay_rewrite != NULL) {
		*len = f->relay_rewrite_len;
		return f->relay_rewrite;
	}
	*len = f->rewrite_len;
	return f->rewrite;
}

/* The appended fields on this route. */
static const struct buf *
appended(const struct message *msg, int flags)
{
	return (flags & MSG_RELAY) && msg->relay_append ?
	    &msg->append_relay : &msg->append;
}

int
msg_stream(const struct message *msg, int flags, msg_writer w, void *ctx)
{
	const struct hfield *f;
	const struct buf *app = appended(msg, flags);
	const char *rw;
	off_t from = 0, to = 0, end;
	size_t i, rwlen;
	char *buf;
	int rc = 0;

	buf = xmalloc(CHUNK);
	if (msg->prepend.len > 0)
		rc = w(ctx, msg->prepend.data, msg->prepend.len);
	/* Adjacent kept fields go out as one range. */
	for (i = 0; rc == 0 && i < msg->nfields; i++) {
		f = &msg->fields[i];
		if (f->drop)
			continue;
		rw = field_rewrite(f, flags, &rwlen);
		if (f->off != to || rw != NULL) {
			rc = stream_range(msg, from, to, buf, w, ctx);
			from = f->off;
		}
		to = f->off + (off_t)f->len;
		if (rc == 0 && rw != NULL) {
			rc = w(ctx, rw, rwlen);
			from = to;
		}
	}
	if (rc == 0)
		rc = stream_range(msg, from, to, buf, w, ctx);
	if (rc == 0 && app->len > 0)
		rc = w(ctx, app->data, app->len);
	if (rc == 0 && !msg->has_sep)
		rc = w(ctx, "\r\n", 2);
	end = (flags & MSG_HEADERS_ONLY) ? msg->body_off : msg->size;
	if (rc == 0)
		rc = stream_range(msg, msg->hdr_end, end, buf, w, ctx);
	free(buf);
	return rc;
}

off_t
msg_stream_size(const struct message *msg, int flags)
{
	off_t n;
	size_t i, rwlen;

	n = (off_t)(msg->prepend.len + appended(msg, flags)->len);
	for (i = 0; i < msg->nfields; i++)
		if (!msg->fields[i].drop)
			n += (off_t)(field_rewrite(&msg->fields[i], flags,
			    &rwlen) != NULL ? rwlen : msg->fields[i].len);
	if (!msg->has_sep)
		n += 2;
	n += ((flags & MSG_HEADERS_ONLY) ? msg->body_off : msg->size) -
	    msg->hdr_end;
	return n;
}
