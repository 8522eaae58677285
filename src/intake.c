/*
 * intake.c: the message from stdin to the spool file (SPEC §5.1-5.3).
 *
 * One pass over fixed-size chunks, with all state carried across chunk
 * boundaries, so memory does not depend on the message size: only the
 * current line (at most 998 octets, RFC 5322 §2.1.1) and the values of
 * the header fields needed later are held.
 *
 * Bare CR, bare LF and CRLF all become CRLF (SPEC §5.2: nothing ambiguous
 * such as "\n.\r\n" can reach the wire, the SMTP smuggling defence). A
 * line holding a single "." ends the input as in sendmail's -bm unless
 * ignore_dots (-i); other dot lines are kept as given. A leading mbox
 * "From " line is dropped, as sendmail and Postfix do. Lines over 998
 * octets are folded with CRLF SP in the header section (RFC 5322 §2.2.3,
 * at the last white space when there is one) and broken with CRLF in the
 * body, as Postfix's smtp_line_length_limit does.
 *
 * The header section (RFC 5322 §2.2) is the leading run of fields and
 * their continuation lines; it ends at an empty line or at the first line
 * that is neither, which then starts the body (SPEC §3: input that does not
 * start with a header field is all body).
 */
#include "autoconf.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intake.h"
#include "rfc5322.h"
#include "util.h"

#define CHUNK		(64 * 1024)
#define LINE_LIMIT	998
#define FIELDS_MAX	10000
#define SCAN_FACTOR	4	/* intake_index(): bounds intake cannot reach */

enum lclass {
	L_NONE,		/* not yet known: too little of the line seen */
	L_FIELD,	/* starts a header field */
	L_CONT,		/* continues the current header field */
	L_BODY		/* body line (or the first one, ending the header) */
};

struct intake {
	struct message	*msg;
	int		 ignore_dots;
	int		 scan;		/* intake_index(): nothing written */
	size_t		 fields_max;
	size_t		 header_max;
	off_t		 size_limit;	/* 0: none */
	int		 too_large;
	intake_respool_fn respool;
	void		*ctx;
	off_t		 flushed;	/* octets safely in the spool */
	char		 rerr_text[256];
	char		 line[LINE_LIMIT];
	size_t		 llen;
	enum lclass	 lclass;
	int		 seg;		/* line continues a folded/broken one */
	int		 counted;	/* in nfolded/nbroken already */
	int		 first;		/* first input line: may be From_ */
	int		 dropping;	/* discarding the From_ line */
	int		 prev_cr;
	int		 done;		/* the lone dot was seen */
	int		 in_header;
	int		 field_open;	/* a field is open, maybe unrecorded */
	int		 field_rec;	/* ...and is msg->fields[nfields - 1] */
	int		 keep;		/* ...and its value is being kept */
	size_t		 vskip;		/* octets before the value here */
	struct buf	 value;
	size_t		 kept;
	size_t		 fcap;
	int		 too_big;
	int		 too_many;
	off_t		 nul_at;	/* input offset of 1st NUL, or -1 */
	off_t		 inpos;
	off_t		 pos;		/* spool offset of next octet out */
	char		*out;
	size_t		 olen;
	int		 werr;		/* errno of the failed spool write */
};

/* Fields whose values later stages read (SPEC §2 -t, §5.4). */
static const char *const kept_names[] = {
	"To", "Cc", "Bcc", "From", "Sender", "Reply-To", "Date",
	"Message-ID", "Subject", "Return-Path", NULL
};


static int
is_kept(const char *name, size_t n)
{
	size_t i;

	if (n >= 7 && ascii_strncasecmp(name, "Resent-", 7) == 0)
		return 1;
	for (i = 0; kept_names[i] != NULL; i++)
		if (strlen(kept_names[i]) == n &&
		    ascii_strncasecmp(name, kept_names[i], n) == 0)
			return 1;
	return 0;
}

static void
flush(struct intake *in)
{
	int	 fd;

	while (in->olen > 0 && in->werr == 0 &&
	    write_all(in->msg->fd, in->out, in->olen) != 0) {
		in->werr = errno ? errno : EIO;
		if (in->respool == NULL)
			break;
		/* The next queue takes what was written, and this chunk. */
		if ((fd = in->respool(in->ctx, in->msg->fd, in->flushed,
		    in->rerr_text, sizeof(in->rerr_text))) == -1)
			break;
		in->msg->fd = fd;
		in->werr = 0;
	}
	if (in->werr == 0)
		in->flushed += (off_t)in->olen;
	in->olen = 0;
}

static void
emit(struct intake *in, const char *p, size_t n)
{
	in->pos += (off_t)n;
	if (in->size_limit > 0 && in->pos > in->size_limit)
		in->too_large = 1;
	if (in->scan || in->too_large)
		return;
	while (n > 0 && in->werr == 0) {
		size_t k = fill_upto(in->out, &in->olen, CHUNK, p, n);

		p += k;
		n -= k;
		if (in->olen == CHUNK)
			flush(in);
	}
}

static void
keep_bytes(struct intake *in, const char *p, size_t n)
{
	if (!in->keep)
		return;
	if (n > in->header_max - in->kept) {
		/* Past the limit the message is refused: stop growing. */
		in->too_big = 1;
		in->keep = 0;
		buf_free(&in->value);
		return;
	}
	in->kept += n;
	buf_add(&in->value, p, n);
}

/* Write p[0..n) and CRLF as one line of the spool. */
static void
put_line(struct intake *in, const char *p, size_t n)
{
	if (in->keep && (in->lclass == L_FIELD || in->lclass == L_CONT)) {
		if (in->vskip < n)
			keep_bytes(in, p + in->vskip, n - in->vskip);
		keep_bytes(in, "\r\n", 2);
	}
	in->vskip = 0;
	emit(in, p, n);
	emit(in, "\r\n", 2);
}

static void
close_field(struct intake *in)
{
	struct hfield *f;
	struct buf *v = &in->value;

	if (!in->field_open)
		return;
	if (in->field_rec) {
		f = &in->msg->fields[in->msg->nfields - 1];
		f->len = (size_t)(in->pos - f->off);
		if (in->keep) {
			if (v->len >= 2) {
				v->len -= 2;
				v->data[v->len] = '\0';
			}
			f->value = buf_release(v);
		}
	}
	buf_free(v);
	in->field_open = in->field_rec = in->keep = 0;
}

static void
open_field(struct intake *in, size_t nlen)
{
	struct message *msg = in->msg;
	struct hfield *f;
	const char *colon;
	size_t n = nlen;

	close_field(in);
	while (n > 0 && is_wsp(in->line[n - 1]))
		n--;
	colon = memchr(in->line + nlen, ':', in->llen - nlen);
	in->vskip = colon != NULL ? (size_t)(colon - in->line) + 1 : nlen;
	if (n == 8 && ascii_strncasecmp(in->line, "Received", 8) == 0)
		msg->nreceived++;
	in->field_open = 1;
	if (msg->nfields >= in->fields_max) {
		in->too_many = 1;
		return;
	}
	if (msg->nfields == in->fcap) {
		in->fcap = in->fcap ? in->fcap * 2 : 32;
		msg->fields = xreallocarray(msg->fields, in->fcap,
		    sizeof(*msg->fields));
	}
	f = &msg->fields[msg->nfields++];
	memset(f, 0, sizeof(*f));
	f->off = in->pos;
	f->name = xstrndup(in->line, n);
	in->field_rec = 1;
	in->keep = !in->too_big && is_kept(in->line, n);
}

/*
 * Decide what the current line is, from what has been seen of it (all of
 * it, or its first 998 octets); at_end: the line is complete.
 */
static void
classify(struct intake *in, int at_end)
{
	struct message *msg = in->msg;
	size_t nlen;

	if (!in->in_header) {
		in->lclass = L_BODY;
		return;
	}
	if (at_end && in->llen == 0) {
		close_field(in);
		msg->hdr_end = in->pos;
		msg->body_off = in->pos + 2;
		msg->has_sep = 1;
		in->in_header = 0;
		in->lclass = L_BODY;
	} else if ((nlen = rfc5322_field_name(in->line, in->llen)) > 0) {
		in->lclass = L_FIELD;
		open_field(in, nlen);
	} else if (in->field_open && is_wsp(in->line[0])) {
		in->lclass = L_CONT;
	} else {
		close_field(in);
		msg->hdr_end = msg->body_off = in->pos;
		in->in_header = 0;
		in->lclass = L_BODY;
	}
}

/*
 * Where to fold a full header line: the last white space that leaves
 * something other than white space before it (a blank first part would
 * read as an empty line or as obs-FWS) and that comes after the colon;
 * the white space then starts the continuation line. The octet that did
 * not fit counts (the line is then exactly 998). 0: there is none.
 */
static size_t
fold_point(const struct intake *in, int next)
{
	size_t p, lo;

	for (lo = 0; lo < in->llen && is_wsp(in->line[lo]); lo++)
		;
	if (lo == in->llen)
		return 0;
	if (is_wsp(next))
		return in->llen;
	lo++;
	if (lo < in->vskip)
		lo = in->vskip;
	for (p = in->llen - 1; p >= lo; p--)
		if (is_wsp(in->line[p]))
			return p;
	return 0;
}

/* The line buffer is full and next, more of the line, follows. */
static void
overflow(struct intake *in, int next)
{
	size_t p;

	if (in->lclass == L_NONE)
		classify(in, 0);
	if (in->lclass == L_BODY) {
		put_line(in, in->line, in->llen);
		in->llen = 0;
		if (!in->counted)
			in->msg->nbroken++;
	} else {
		if ((p = fold_point(in, next)) > 0) {
			put_line(in, in->line, p);
			memmove(in->line, in->line + p, in->llen - p);
			in->llen -= p;
		} else {
			/* No white space: break the word, as Postfix. */
			put_line(in, in->line, in->llen);
			in->line[0] = ' ';
			in->llen = 1;
		}
		if (!in->counted)
			in->msg->nfolded++;
	}
	in->counted = 1;
	in->seg = 1;
}

static void
add_content(struct intake *in, const char *p, size_t n)
{
	size_t k;

	while (n > 0 && !in->dropping) {
		if (in->llen == LINE_LIMIT)
			overflow(in, (unsigned char)*p);
		k = LINE_LIMIT - in->llen;
		if (k > n)
			k = n;
		memcpy(in->line + in->llen, p, k);
		in->llen += k;
		p += k;
		n -= k;
		if (in->first && in->llen >= 5) {
			in->first = 0;
			if (memcmp(in->line, "From ", 5) == 0) {
				in->dropping = 1;
				in->llen = 0;
			}
		}
	}
}

static void
end_line(struct intake *in)
{
	if (in->dropping) {
		in->dropping = 0;
		return;
	}
	in->first = 0;
	if (!in->seg && !in->ignore_dots && in->llen == 1 &&
	    in->line[0] == '.') {
		in->done = 1;
		in->llen = 0;
		return;
	}
	if (in->lclass == L_NONE)
		classify(in, 1);
	put_line(in, in->line, in->llen);
	in->llen = 0;
	in->lclass = L_NONE;
	in->seg = in->counted = 0;
}

static void
scan(struct intake *in, const unsigned char *p, size_t n, off_t at)
{
	const unsigned char *z;
	size_t i;

	if (in->nul_at < 0 && (z = memchr(p, '\0', n)) != NULL)
		in->nul_at = at + (z - p);
	if (!in->msg->eightbit)
		for (i = 0; i < n; i++)
			if (p[i] & 0x80) {
				in->msg->eightbit = 1;
				break;
			}
}

static void
process(struct intake *in, const unsigned char *p, size_t n)
{
	size_t i = 0, j;
	unsigned char c;

	while (i < n && !in->done) {
		c = p[i];
		if (in->prev_cr) {
			in->prev_cr = 0;
			if (c == '\n') {
				i++;
				continue;
			}
		}
		if (c == '\r' || c == '\n') {
			/* A bare CR ends the line at once: CR LF is one end. */
			in->prev_cr = c == '\r';
			end_line(in);
			i++;
			continue;
		}
		for (j = i + 1; j < n && p[j] != '\r' && p[j] != '\n'; j++)
			;
		add_content(in, (const char *)p + i, j - i);
		/* A run that started or became the From_ line is all of it. */
		if (!in->dropping)
			scan(in, p + i, j - i, in->inpos + (off_t)i);
		i = j;
	}
	in->inpos += (off_t)n;
}

/* read(2), waiting when the descriptor was left non-blocking. */
static ssize_t
read_some(int fd, unsigned char *p, size_t n)
{
	struct pollfd pfd;
	ssize_t r;

	for (;;) {
		r = read(fd, p, n);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -1;
	}
}

/* The state both entry points start from. */
static struct intake *
intake_new(struct message *msg)
{
	struct intake *in = xcalloc(1, sizeof(*in));

	in->msg = msg;
	in->first = 1;
	in->in_header = 1;
	in->nul_at = -1;
	in->fields_max = FIELDS_MAX;
	in->header_max = INTAKE_HEADER_MAX;
	buf_init(&in->value);
	in->fcap = msg->nfields;
	return in;
}

/* What the header index ends with, whichever way the input ended. */
static void
intake_finish(struct intake *in)
{
	struct message *msg = in->msg;

	close_field(in);
	if (in->in_header)
		msg->hdr_end = msg->body_off = in->pos;
	msg->size = in->pos;
	if (in->nul_at >= 0)
		msg->has_nul = 1;
}

static void
intake_free(struct intake *in)
{
	buf_free(&in->value);
	free(in->out);
	free(in);
}

enum intake_status
intake_read(int infd, struct message *msg, int ignore_dots, char *err,
    size_t errlen)
{
	struct intake_opts o;

	memset(&o, 0, sizeof(o));
	o.ignore_dots = ignore_dots;
	return intake_read_opts(infd, msg, &o, err, errlen);
}

enum intake_status
intake_read_opts(int infd, struct message *msg, const struct intake_opts *o,
    char *err, size_t errlen)
{
	struct intake *in;
	unsigned char *ibuf;
	enum intake_status st = INTAKE_OK;
	ssize_t r;
	int rerr = 0;

	in = intake_new(msg);
	in->ignore_dots = o->ignore_dots;
	in->size_limit = o->size_limit;
	in->respool = o->respool;
	in->ctx = o->ctx;
	in->out = xmalloc(CHUNK);
	ibuf = xmalloc(CHUNK);

	if (o->prefix_len > 0)
		process(in, (const unsigned char *)o->prefix, o->prefix_len);
	while (!in->done && in->werr == 0 && !in->too_large) {
		if ((r = read_some(infd, ibuf, CHUNK)) < 0) {
			rerr = errno;
			break;
		}
		if (r == 0) {
			if (in->llen > 0 || in->dropping)
				end_line(in);
			break;
		}
		process(in, ibuf, (size_t)r);
	}
	intake_finish(in);
	flush(in);

	if (in->too_large) {
		st = INTAKE_TOO_LARGE;
		snprintf(err, errlen, "message larger than message_size_limit "
		    "(%lld octets)", (long long)in->size_limit);
	} else if (rerr != 0) {
		st = INTAKE_READ_ERROR;
		snprintf(err, errlen, "reading the message: %s",
		    strerror(rerr));
	} else if (in->werr != 0) {
		st = INTAKE_WRITE_ERROR;
		if (in->rerr_text[0] != '\0')
			snprintf(err, errlen, "writing the spool file: %s; %s",
			    strerror(in->werr), in->rerr_text);
		else
			snprintf(err, errlen, "writing the spool file: %s",
			    strerror(in->werr));
	} else if (in->nul_at >= 0) {
		st = INTAKE_NUL;
		snprintf(err, errlen, "message contains a NUL byte at offset "
		    "%lld", (long long)in->nul_at);
	} else if (in->too_many) {
		st = INTAKE_HEADER_TOO_BIG;
		snprintf(err, errlen, "more than %d header fields",
		    FIELDS_MAX);
	} else if (in->too_big) {
		st = INTAKE_HEADER_TOO_BIG;
		snprintf(err, errlen, "header fields too large (over %d "
		    "octets of addresses, dates and ids)", INTAKE_HEADER_MAX);
	}
	intake_free(in);
	free(ibuf);
	return st;
}

enum intake_status
intake_index(struct message *msg, char *err, size_t errlen)
{
	struct intake *in;
	unsigned char *ibuf;
	enum intake_status st = INTAKE_OK;
	ssize_t r;

	in = intake_new(msg);
	in->scan = 1;
	in->first = 0;		/* a "From " line here is the message's */
	in->ignore_dots = 1;
	in->fields_max = (size_t)FIELDS_MAX * SCAN_FACTOR;
	in->header_max = (size_t)INTAKE_HEADER_MAX * SCAN_FACTOR;
	ibuf = xmalloc(CHUNK);
	for (;;) {
		r = pread(msg->fd, ibuf, CHUNK, in->inpos);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "reading the message: %s",
			    strerror(errno));
			st = INTAKE_READ_ERROR;
			break;
		}
		if (r == 0) {
			if (in->llen > 0)
				end_line(in);
			break;
		}
		process(in, ibuf, (size_t)r);
		/* A sparse file's hole is a NUL: stop at the first one. */
		if (in->nul_at >= 0 || in->msg->nfolded > 0 ||
		    in->msg->nbroken > 0)
			break;
	}
	intake_finish(in);
	if (st == INTAKE_OK && (in->nul_at >= 0 || msg->nfolded > 0 ||
	    msg->nbroken > 0 || in->pos != in->inpos || in->too_many ||
	    in->too_big)) {
		st = INTAKE_CORRUPT;
		snprintf(err, errlen, "the message file is not as intake "
		    "wrote it (%s)", in->nul_at >= 0 ? "a NUL byte" :
		    msg->nfolded > 0 || msg->nbroken > 0 ? "a line over 998 "
		    "octets" : in->pos != in->inpos ? "a bare CR or LF" :
		    "too many header fields");
	}
	intake_free(in);
	free(ibuf);
	return st;
}
