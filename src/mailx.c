/*
 * mailx.c: the mail/mailx front end (SPEC §2.1), as mailx.h describes.
 *
 * The options are those that scripts give POSIX mailx and Debian's
 * bsd-mailx when they send (-s, -c, -b, -r, -a 'Header: value', -E), in
 * getopt's syntax: bundled flags, a value attached or in the next
 * argument, the first address or "--" ending the options. Anything else
 * is a usage error: mxsend is not interactive and reads no mailbox.
 *
 * The header section is built here and spooled by intake before the
 * body, so the message is then an ordinary one: Bcc: never exists, the
 * addresses of To: and Cc: are qualified on the way out (SPEC §5.4), and
 * From:, Date: and Message-ID: are added by msg_complete() from the
 * envelope sender and -r's display name. The Subject: is RFC 2047
 * encoded (B, UTF-8) when it is not ASCII, or when it holds "=?", which
 * a reader would otherwise decode; the addresses' display names are
 * encoded the same way. RFC 2045 MIME fields are added once the body is
 * known to hold octets that are not ASCII (taken as UTF-8, as SPEC
 * §2.1 says); an ASCII body needs none (RFC 2045 §5.2's default).
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailx.h"
#include "rfc5322.h"
#include "util.h"

#define MAILX_USAGE	"usage: mail [-E] [-s subject] [-r from] [-c cc] " \
			"[-b bcc] [-a 'Header: value'] address ..."

/* Longest piece of user input quoted back in a message. */
#define SHOW_MAX	64

/* What the options say, until the header is built. */
struct mailx_args {
	const char	*subject;	/* -s, NULL: none */
	const char	*from;		/* -r */
	char		**cc, **bcc, **fields;	/* -c, -b, -a (argv) */
	size_t		 ncc, nbcc, nfields;
	char *const	*to;		/* the arguments after the options */
	size_t		 nto;
};

/* User input, cut and made printable, to be quoted in a message. */
static char *
shown(const char *s)
{
	char *p = xstrndup(s, strnlen(s, SHOW_MAX));
	size_t n;

	n = text_printable(p, strlen(p));
	p[n] = '\0';
	return p;
}

int
mailx_name(const char *argv0)
{
	const char *base;

	if (argv0 == NULL)
		return 0;
	base = strrchr(argv0, '/');
	base = base != NULL ? base + 1 : argv0;
	return strcmp(base, "mail") == 0 || strcmp(base, "mailx") == 0;
}

static void
push(char ***v, size_t *n, const char *s)
{
	*v = xgrowarray(*v, *n, sizeof(**v));
	(*v)[(*n)++] = (char *)s;
}

static int
unknown_option(int c, char *err, size_t errlen)
{
	if (c < 0x21 || c > 0x7e)
		return errf(err, errlen, "mail: unknown option -\\x%02x; "
		    MAILX_USAGE, c);
	return errf(err, errlen, "mail: unknown option -%c; " MAILX_USAGE,
	    c);
}

/* One option letter c (one of "srcba") with its value. */
static void
take_value(struct mailx_args *a, int c, const char *val)
{
	switch (c) {
	case 's':
		a->subject = val;
		break;
	case 'r':
		a->from = val;
		break;
	case 'c':
		push(&a->cc, &a->ncc, val);
		break;
	case 'b':
		push(&a->bcc, &a->nbcc, val);
		break;
	default:
		push(&a->fields, &a->nfields, val);
		break;
	}
}

/* getopt's syntax over argv; a->to is what follows the options. */
static int
parse_args(struct mailx *mx, struct mailx_args *a, int argc,
    char *const argv[], char *err, size_t errlen)
{
	const char *arg, *p, *val;
	char *s;
	int i, c;

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (arg[0] != '-' || arg[1] == '\0')
			break;
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (arg[1] == '-') {
			s = shown(arg);
			(void)errf(err, errlen, "mail: unknown option %s; "
			    MAILX_USAGE, s);
			free(s);
			return -1;
		}
		for (p = arg + 1; *p != '\0'; ) {
			c = (unsigned char)*p++;
			if (c == 'E') {
				mx->skip_empty = 1;
				continue;
			}
			if (strchr("srcba", c) == NULL)
				return unknown_option(c, err, errlen);
			if (*p != '\0')
				val = p;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return errf(err, errlen, "mail: option -%c "
				    "requires a value; " MAILX_USAGE, c);
			take_value(a, c, val);
			break;
		}
	}
	a->to = argv + i;
	a->nto = i < argc ? (size_t)(argc - i) : 0;
	return 0;
}

/*
 * An address-list argument as header text: each mailbox as "addr" or
 * "name <addr>", the name encoded when it is not ASCII, appended to out
 * after ", " when out is not empty. -1 when it is no address list.
 */
static int
render_list(struct buf *out, const char *arg, char *err, size_t errlen)
{
	struct addrlist l;
	char *addr, *text, *s;
	const char *p;
	size_t i;
	int rc = 0;

	for (p = arg; *p == ' ' || *p == '\t'; p++)
		;
	addrlist_init(&l);
	rfc5322_parse_address_list(arg, strlen(arg), &l);
	if (*p == '-' || l.nerrs > 0 || l.n == 0) {
		s = shown(arg);
		rc = errf(err, errlen, "mail: bad address '%s': %s", s,
		    *p == '-' ? "an address may not begin with '-'" :
		    l.nerrs > 0 ? l.errs[0].reason : "no address");
		free(s);
	}
	for (i = 0; rc == 0 && i < l.n; i++) {
		addr = mailbox_addr(&l.v[i]);
		text = msg_mailbox_text(l.v[i].display, addr);
		if (out->len > 0)
			buf_adds(out, ", ");
		buf_adds(out, text);
		free(text);
		free(addr);
	}
	addrlist_free(&l);
	return rc;
}

/* An address field for args (nothing when there are none). */
static int
address_field(struct buf *header, const char *name, char *const *args,
    size_t n, char *err, size_t errlen)
{
	struct buf v;
	size_t i;
	int rc = 0;

	buf_init(&v);
	for (i = 0; i < n && rc == 0; i++)
		rc = render_list(&v, args[i], err, errlen);
	if (rc == 0 && n > 0)
		msg_field(header, name, v.data);
	buf_free(&v);
	return rc;
}

/*
 * The Subject: field. The text is made one printable line of valid
 * UTF-8 (line breaks and tabs become spaces, other controls and invalid
 * octets '?'): an alert must go out whatever a script put in it.
 */
static void
subject_field(struct buf *header, const char *subject)
{
	struct buf v;
	char *t = xstrdup(subject);
	size_t i, n;

	for (i = 0; t[i] != '\0'; i++)
		if (t[i] == '\r' || t[i] == '\n' || t[i] == '\t')
			t[i] = ' ';
	n = text_printable(t, strlen(t));
	t[n] = '\0';
	buf_init(&v);
	if (has_8bit(t, n) || strstr(t, "=?") != NULL)
		msg_encoded_words(&v, t);
	else
		buf_adds(&v, t);
	if (v.len > 0)
		msg_field(header, "Subject", v.data);
	buf_free(&v);
	free(t);
}

/* An -a argument, "Name: value"; its name's length in *namelen. */
static int
check_field(const char *f, size_t *namelen, char *err, size_t errlen)
{
	char *s;
	size_t n = rfc5322_field_name(f, strlen(f));

	*namelen = n;
	if (n > 0 && strpbrk(f, "\r\n") == NULL)
		return 0;
	s = shown(f);
	(void)errf(err, errlen, "mail: -a '%s': %s", s, n == 0 ?
	    "expected 'Header: value'" : "the value holds a line break");
	free(s);
	return -1;
}

/* Whether an -a field gives name. */
static int
given(const struct mailx_args *a, const char *name)
{
	size_t i, n = strlen(name), k;

	for (i = 0; i < a->nfields; i++) {
		k = rfc5322_field_name(a->fields[i], strlen(a->fields[i]));
		if (k == n && ascii_strncasecmp(a->fields[i], name, n) == 0)
			return 1;
	}
	return 0;
}

/* The -a fields, as given but folded. */
static int
extra_fields(struct buf *header, const struct mailx_args *a, char *err,
    size_t errlen)
{
	const char *v;
	char *name;
	size_t i, n;

	for (i = 0; i < a->nfields; i++) {
		if (check_field(a->fields[i], &n, err, errlen) != 0)
			return -1;
		name = xstrndup(a->fields[i], n);
		v = strchr(a->fields[i] + n, ':') + 1;
		while (is_wsp((unsigned char)*v))
			v++;
		msg_field(header, name, v);
		free(name);
	}
	return 0;
}

/* To:, Cc:, Subject: (each unless -a gave it), the -a fields, "". */
static int
build_header(struct mailx *mx, const struct mailx_args *a, char *err,
    size_t errlen)
{
	if (address_field(&mx->header, "To", a->to, given(a, "To") ? 0 :
	    a->nto, err, errlen) != 0 ||
	    address_field(&mx->header, "Cc", a->cc, given(a, "Cc") ? 0 :
	    a->ncc, err, errlen) != 0)
		return -1;
	if (a->subject != NULL && !given(a, "Subject"))
		subject_field(&mx->header, a->subject);
	if (extra_fields(&mx->header, a, err, errlen) != 0)
		return -1;
	buf_adds(&mx->header, "\r\n");
	mx->header_8bit = has_8bit(mx->header.data, mx->header.len);
	return 0;
}

/* The envelope: every address of to, -c and -b, and -r as the sender. */
static int
envelope_args(struct mailx *mx, struct options *opts,
    const struct mailx_args *a, char *err, size_t errlen)
{
	struct buf ignored;
	struct mailbox mb;
	char why[256];
	size_t i;
	int rc = 0;

	buf_init(&ignored);
	for (i = 0; i < a->nto; i++)
		push(&mx->rcpts, &mx->nrcpts, a->to[i]);
	for (i = 0; i < a->ncc; i++)
		push(&mx->rcpts, &mx->nrcpts, a->cc[i]);
	for (i = 0; i < a->nbcc && rc == 0; i++) {
		rc = render_list(&ignored, a->bcc[i], err, errlen);
		push(&mx->rcpts, &mx->nrcpts, a->bcc[i]);
	}
	buf_free(&ignored);
	if (rc == 0 && mx->nrcpts == 0)
		rc = errf(err, errlen, "mail: no recipients; " MAILX_USAGE);
	opts->rcpts = mx->rcpts;
	opts->nrcpts = mx->nrcpts;
	/* envelope.c checks -r whole; its display name is -F's. */
	opts->sender = a->from;
	if (a->from != NULL && rfc5322_parse_mailbox(a->from,
	    strlen(a->from), &mb, why, sizeof(why)) == 0) {
		if (mb.display != NULL && mb.display[0] != '\0')
			mx->fullname = xstrdup(mb.display);
		mailbox_free(&mb);
	}
	opts->fullname = mx->fullname;
	return rc;
}

int
mailx_parse(struct mailx *mx, struct options *opts, int argc,
    char *const argv[], char *err, size_t errlen)
{
	struct mailx_args a;
	int rc;

	memset(mx, 0, sizeof(*mx));
	buf_init(&mx->header);
	memset(opts, 0, sizeof(*opts));
	opts->mode = MODE_DELIVER;
	opts->ignore_dots = 1;	/* never interactive: to the end */
	memset(&a, 0, sizeof(a));
	rc = parse_args(mx, &a, argc, argv, err, errlen);
	if (rc == 0)
		rc = envelope_args(mx, opts, &a, err, errlen);
	if (rc == 0)
		rc = build_header(mx, &a, err, errlen);
	free(a.cc);
	free(a.bcc);
	free(a.fields);
	return rc;
}

/* Whether the body of msg (after the header) holds an octet >= 0x80. */
static int
body_8bit(const struct message *msg)
{
	char buf[65536];
	off_t off = msg->body_off;
	ssize_t n;

	while (off < msg->size) {
		n = pread(msg->fd, buf, msg->size - off < (off_t)sizeof(buf) ?
		    (size_t)(msg->size - off) : sizeof(buf), off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			errno = EIO;	/* shorter than intake wrote it */
		if (n <= 0)
			return -1;
		if (has_8bit(buf, (size_t)n))
			return 1;
		off += n;
	}
	return 0;
}

enum mailx_body
mailx_finish(const struct mailx *mx, struct message *msg, char *err,
    size_t errlen)
{
	int eight = 0;

	if (msg->body_off >= msg->size && mx->skip_empty)
		return MAILX_EMPTY;
	/* Intake's flag covers the header too: look again only then. */
	if (msg->eightbit)
		eight = mx->header_8bit ? body_8bit(msg) : 1;
	if (eight == -1) {
		(void)errf(err, errlen, "reading the spooled message: %s",
		    strerror(errno));
		return MAILX_READ_ERROR;
	}
	if ((eight || msg_has(msg, "Content-Type") ||
	    msg_has(msg, "Content-Transfer-Encoding")) &&
	    !msg_has(msg, "MIME-Version"))
		msg_append(msg, "MIME-Version", "1.0");
	if (eight && !msg_has(msg, "Content-Type"))
		msg_append(msg, "Content-Type", "text/plain; charset=UTF-8");
	if (eight && !msg_has(msg, "Content-Transfer-Encoding"))
		msg_append(msg, "Content-Transfer-Encoding", "8bit");
	return MAILX_SEND;
}

void
mailx_free(struct mailx *mx)
{
	buf_free(&mx->header);
	free(mx->rcpts);
	free(mx->fullname);
	memset(mx, 0, sizeof(*mx));
}
