/*
 * smtpd.c: mxsend -bs, an RFC 5321 server subset on stdin/stdout (SPEC
 * §2). The client is a local program (Symfony's and Laravel's sendmail
 * transports, swaks --pipe), so there is no STARTTLS, AUTH or relay
 * control: what a caller of -bm may do, a client of -bs may do.
 *
 * Three parts: smtpd_parse(), a pure parser of one command line (RFC
 * 5321 §4.1, appendix C source routes, RFC 1870 SIZE, RFC 1652 BODY),
 * fuzzed; the session (a command loop over a bounded input buffer, with
 * replies buffered and written when the input would block, RFC 2920
 * §3.2); and smtpd_eod_reply(), the SPEC §2 table from what became of a
 * message to the reply to its final dot.
 *
 * Input is read with a time-out per wait (timeout_command) and never
 * buffered without bound: a command line over SMTPD_LINE_MAX octets is
 * read through and refused, and DATA is streamed to an unnamed file.
 * The end of DATA is CRLF "." CRLF and nothing else, so that content
 * holding "\n.\n" or "\r\n.\n" cannot end a message early and have its
 * tail read as commands (the SMTP smuggling defence, as Postfix's
 * smtpd_forbid_bare_newline = normalize); other bare LFs are line ends.
 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpd.h"

#define IN_SIZE		(64 * 1024)	/* > SMTPD_LINE_MAX */
#define OUT_SIZE	(16 * 1024)
#define DATA_CHUNK	(64 * 1024)
#define FAILED_LINES	10	/* at most, in a reply to the final dot */
#define REASON_MAX	400	/* of one recipient's reason in a reply */

/* ================================================================ parser */

static const struct {
	const char	*name;
	enum smtpd_verb	 verb;
} verbs[] = {
	{ "EHLO", SMTPD_EHLO }, { "HELO", SMTPD_HELO },
	{ "MAIL", SMTPD_MAIL }, { "RCPT", SMTPD_RCPT },
	{ "DATA", SMTPD_DATA }, { "RSET", SMTPD_RSET },
	{ "NOOP", SMTPD_NOOP }, { "QUIT", SMTPD_QUIT },
	{ "VRFY", SMTPD_VRFY }, { "HELP", SMTPD_HELP }
};

/* Known to RFC 5321 and its extensions, not offered here: 502. */
static const char *const unimplemented[] = {
	"EXPN", "TURN", "ETRN", "ATRN", "BDAT", "STARTTLS", "AUTH", "SEND",
	"SOML", "SAML", "XCLIENT", "XFORWARD", NULL
};

static int
fail(struct smtpd_reply *rep, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct smtpd_reply *rep, int code, const char *fmt, ...)
{
	va_list ap;

	rep->code = code;
	va_start(ap, fmt);
	(void)vsnprintf(rep->text, sizeof(rep->text), fmt, ap);
	va_end(ap);
	return -1;
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5321 §4.1.2 atext (RFC 5322 §3.2.3). */
static int
is_atext(int c)
{
	return ascii_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~",
	    c) != NULL);
}

/*
 * A Domain (sub-domains of letters, digits and hyphens, not starting or
 * ending with a hyphen; '_' allowed as in names seen in the wild) or an
 * address literal, exactly p[0..n). Lengths are envelope.c's to check.
 */
static int
valid_domain(const char *p, size_t n)
{
	size_t i, label = 0;

	if (n >= 2 && p[0] == '[') {
		if (p[n - 1] != ']')
			return 0;
		for (i = 1; i < n - 1; i++)
			if (p[i] < 33 || p[i] > 126 || p[i] == '[' ||
			    p[i] == ']' || p[i] == '\\')
				return 0;
		return n > 2;
	}
	for (i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (label == 0 || p[i - 1] == '-')
				return 0;
			label = 0;
		} else if (ascii_alnum((unsigned char)p[i]) || p[i] == '_' ||
		    (p[i] == '-' && label > 0))
			label++;
		else
			return 0;
	}
	return label > 0 && p[n - 1] != '-';
}

/* Where the local part that starts p ends (RFC 5321 §4.1.2), or NULL. */
static const char *
local_end(const char *p, const char *end)
{
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && ++p == end)
				return NULL;
			if ((unsigned char)*p < 32 || *p == 127)
				return NULL;
		}
		return p < end ? p + 1 : NULL;
	}
	while (p < end && is_atext((unsigned char)*p)) {
		while (p < end && is_atext((unsigned char)*p))
			p++;
		if (p + 1 < end && *p == '.' && is_atext((unsigned char)p[1]))
			p++;
		else
			break;
	}
	return p;
}

/*
 * The mailbox of a path's inside p[0..n) (no brackets): an optional
 * source route "@a,@b:" is dropped (RFC 5321 appendix C); a missing
 * domain is allowed (qualified later, as -bm qualifies). 0, or -1.
 */
static int
parse_mailbox(const char *p, size_t n, char *out, size_t outsize)
{
	const char *end = p + n, *e, *at, *c;

	if (n > 0 && *p == '@') {
		if ((e = memchr(p, ':', n)) == NULL)
			return -1;
		for (at = p;; at = c + 1) {
			if ((c = memchr(at, ',', (size_t)(e - at))) == NULL)
				c = e;
			if (*at != '@' || !valid_domain(at + 1,
			    (size_t)(c - at - 1)))
				return -1;
			if (c == e)
				break;
		}
		p = e + 1;
	}
	if ((e = local_end(p, end)) == NULL || e == p)
		return -1;
	if (e < end && (*e != '@' || !valid_domain(e + 1,
	    (size_t)(end - e - 1))))
		return -1;
	if ((size_t)(end - p) >= outsize)
		return -1;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return 0;
}

/*
 * Where the path that starts p ends: after its '>' (a '>' inside a
 * quoted local part does not end it), or, without brackets (as Postfix
 * takes them), at the next space. *in and *inlen: its inside.
 */
static const char *
path_end(const char *p, const char *end, const char **in, size_t *inlen)
{
	const char *q;
	int quoted = 0;

	if (p >= end || *p != '<') {
		for (q = p; q < end && *q != ' '; q++)
			;
		*in = p;
		*inlen = (size_t)(q - p);
		return q;
	}
	for (q = p + 1; q < end; q++) {
		if (quoted && *q == '\\' && q + 1 < end)
			q++;
		else if (*q == '"')
			quoted = !quoted;
		else if (!quoted && *q == '>')
			break;
	}
	if (q == end)
		return NULL;
	*in = p + 1;
	*inlen = (size_t)(q - p - 1);
	return q + 1;
}

/* The path after "FROM:" or "TO:"; *next: what follows it. */
static int
parse_path(const char *p, const char *end, struct smtpd_cmd *cmd,
    const char **next, struct smtpd_reply *rep)
{
	const int mail = cmd->verb == SMTPD_MAIL;
	const char *in, *q;
	size_t n;

	while (p < end && *p == ' ')
		p++;
	if ((q = path_end(p, end, &in, &n)) == NULL || (n == 0 && q == p))
		return fail(rep, 501, "5.5.4 Syntax: %s", mail ?
		    "MAIL FROM:<address>" : "RCPT TO:<address>");
	if (q - p > SMTPD_PATH_MAX)
		return fail(rep, 501, "%s Error: the address is longer than "
		    "%d octets", mail ? "5.1.7" : "5.1.3", SMTPD_PATH_MAX);
	if (has_8bit(in, n))
		return fail(rep, 553, "5.6.7 Error: a non-ASCII address "
		    "needs SMTPUTF8, which this server does not offer");
	if (n == 0 && !mail)
		return fail(rep, 501, "5.1.3 Error: empty recipient address");
	if (n > 0 && parse_mailbox(in, n, cmd->path, sizeof(cmd->path)) != 0)
		return fail(rep, 501, "%s Error: bad %s address syntax",
		    mail ? "5.1.7" : "5.1.3", mail ? "sender" : "recipient");
	*next = q;
	return 0;
}

/* SIZE=digits, saturated (RFC 1870 §3). */
static int
size_value(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!is_digit((unsigned char)v[i]))
			return -1;
		x = x > (UINT64_MAX - 9) / 10 ? UINT64_MAX :
		    x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

/* One esmtp-param k[=v] of MAIL (RCPT takes none): 0, or -1 with rep. */
static int
take_param(struct smtpd_cmd *cmd, const char *k, size_t kn, const char *v,
    size_t vn, int has_v, struct smtpd_reply *rep)
{
	if (cmd->verb == SMTPD_MAIL && kn == 4 &&
	    ascii_strncasecmp(k, "SIZE", 4) == 0) {
		if (!has_v || cmd->has_size ||
		    size_value(v, vn, &cmd->size) != 0)
			return fail(rep, 501, "5.5.4 Error: bad SIZE "
			    "parameter");
		cmd->has_size = 1;
		return 0;
	}
	if (cmd->verb == SMTPD_MAIL && kn == 4 &&
	    ascii_strncasecmp(k, "BODY", 4) == 0) {
		/* The bytes decide how the message is sent (SPEC §5.6). */
		if (has_v && ((vn == 4 && ascii_strncasecmp(v, "7BIT",
		    4) == 0) || (vn == 8 && ascii_strncasecmp(v, "8BITMIME",
		    8) == 0)))
			return 0;
		return fail(rep, 501, "5.5.4 Error: bad BODY parameter");
	}
	return fail(rep, 555, "5.5.4 Error: unsupported parameter %.*s",
	    (int)(kn > 40 ? 40 : kn), k);
}

/* The esmtp-params after a path (RFC 5321 §4.1.2): 0, or -1 with rep. */
static int
parse_params(const char *p, const char *end, struct smtpd_cmd *cmd,
    struct smtpd_reply *rep)
{
	const char *k, *v;
	size_t kn, vn;

	while (p < end) {
		if (*p != ' ')
			return fail(rep, 501, "5.5.4 Error: bad parameter "
			    "syntax");
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		for (k = p; p < end && (ascii_alnum((unsigned char)*p) ||
		    (*p == '-' && p > k)); p++)
			;
		kn = (size_t)(p - k);
		v = p < end && *p == '=' ? ++p : NULL;
		for (; v != NULL && p < end && *p > 32 && *p < 127 &&
		    *p != '='; p++)
			;
		vn = v != NULL ? (size_t)(p - v) : 0;
		if (kn == 0 || (v != NULL && vn == 0) || (p < end &&
		    *p != ' '))
			return fail(rep, 501, "5.5.4 Error: bad parameter "
			    "syntax");
		if (take_param(cmd, k, kn, v, vn, v != NULL, rep) != 0)
			return -1;
	}
	return 0;
}

/* MAIL FROM:path params, RCPT TO:path params; p after the verb. */
static int
parse_transaction(const char *p, const char *end, struct smtpd_cmd *cmd,
    struct smtpd_reply *rep)
{
	const char *kw = cmd->verb == SMTPD_MAIL ? " FROM:" : " TO:";
	size_t kn = strlen(kw);
	const char *next = end;

	if ((size_t)(end - p) < kn || ascii_strncasecmp(p, kw, kn) != 0)
		return fail(rep, 501, "5.5.4 Syntax: %s",
		    cmd->verb == SMTPD_MAIL ? "MAIL FROM:<address>" :
		    "RCPT TO:<address>");
	if (parse_path(p + kn, end, cmd, &next, rep) != 0)
		return -1;
	return parse_params(next, end, cmd, rep);
}

/* What may follow the verb of cmd (name); p after the verb. */
static int
parse_args(const char *p, const char *end, const char *name,
    struct smtpd_cmd *cmd, struct smtpd_reply *rep)
{
	const char *a = p;

	while (a < end && *a == ' ')
		a++;
	switch (cmd->verb) {
	case SMTPD_EHLO:
	case SMTPD_HELO:
		return a < end ? 0 : fail(rep, 501, "5.5.4 Syntax: %s "
		    "hostname", name);
	case SMTPD_MAIL:
	case SMTPD_RCPT:
		return parse_transaction(p, end, cmd, rep);
	case SMTPD_VRFY:
		return a < end ? 0 : fail(rep, 501, "5.5.4 Syntax: VRFY "
		    "address");
	case SMTPD_DATA:
	case SMTPD_RSET:
	case SMTPD_QUIT:
		return a == end ? 0 : fail(rep, 501, "5.5.4 Syntax: %s",
		    name);
	default:		/* NOOP and HELP take anything */
		return 0;
	}
}

int
smtpd_parse(const char *line, size_t len, struct smtpd_cmd *cmd,
    struct smtpd_reply *rep)
{
	const char *end = line + len;
	size_t i, n;

	memset(cmd, 0, sizeof(*cmd));
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 32 || line[i] == 127)
			return fail(rep, 500, "5.5.2 Error: bad character in "
			    "the command");
	for (n = 0; n < len && is_alpha((unsigned char)line[n]); n++)
		;
	if (n < len && line[n] != ' ')
		return fail(rep, 500, "5.5.2 Error: command not recognized");
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (n == 4 && ascii_strncasecmp(line, verbs[i].name, 4) == 0)
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0])) {
		for (i = 0; n > 0 && unimplemented[i] != NULL; i++)
			if (strlen(unimplemented[i]) == n &&
			    ascii_strncasecmp(line, unimplemented[i], n) == 0)
				return fail(rep, 502, "5.5.1 Error: command "
				    "not implemented");
		return fail(rep, 500, "5.5.2 Error: command not recognized");
	}
	cmd->verb = verbs[i].verb;
	return parse_args(line + n, end, verbs[i].name, cmd, rep);
}

/* ===================================================== the final dot */

/* The server's reply code in a reason "host X said: 550 ...", else 0. */
static int
said_code(const char *reason)
{
	const char *p = reason != NULL ? strstr(reason, " said: ") : NULL;

	if (p == NULL || p[7] != '5' || !is_digit((unsigned char)p[8]) ||
	    !is_digit((unsigned char)p[9]) || (p[10] != ' ' && p[10] != '-'))
		return 0;
	return (p[7] - '0') * 100 + (p[8] - '0') * 10 + (p[9] - '0');
}

/* A failed recipient's reply code: the server's, else from its status. */
static int
failed_code(const struct rcpt *r)
{
	int code = said_code(r->reason);

	if (code != 0)
		return code;
	if (strncmp(r->dsn, "5.1.", 4) == 0 || strncmp(r->dsn, "5.7.",
	    4) == 0)
		return 550;
	if (strcmp(r->dsn, "5.3.4") == 0 || strcmp(r->dsn, "5.2.2") == 0)
		return 552;
	return 554;
}

/* Append a line to a reply's text ('\n' apart), control octets as '?'. */
static void
add_line(struct smtpd_reply *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add_line(struct smtpd_reply *rep, const char *fmt, ...)
{
	size_t len = strlen(rep->text), i;
	va_list ap;

	if (len + 2 >= sizeof(rep->text))
		return;
	if (len > 0)
		rep->text[len++] = '\n';
	va_start(ap, fmt);
	(void)vsnprintf(rep->text + len, sizeof(rep->text) - len, fmt, ap);
	va_end(ap);
	for (i = len; rep->text[i] != '\0'; i++)
		if ((unsigned char)rep->text[i] < 32 || rep->text[i] == 127)
			rep->text[i] = '?';
}

/*
 * Every recipient failed: one line each (FAILED_LINES at most), under
 * their servers' code and status when they all share them, else 554
 * 5.0.0 with each status in the line.
 */
static void
all_failed(const struct envelope *env, struct smtpd_reply *rep)
{
	const struct rcpt *first = NULL, *r;
	size_t i, shown = 0, nfailed = 0;
	int same = 1;

	for (i = 0; i < env->nrcpts; i++) {
		r = &env->rcpts[i];
		if (first == NULL)
			first = r;
		else if (failed_code(r) != failed_code(first) ||
		    strcmp(r->dsn, first->dsn) != 0)
			same = 0;
	}
	rep->code = same && first != NULL ? failed_code(first) : 554;
	rep->text[0] = '\0';
	for (i = 0; i < env->nrcpts; i++, nfailed++) {
		r = &env->rcpts[i];
		if (shown == FAILED_LINES)
			continue;
		shown++;
		if (same)
			add_line(rep, "%s <%s>: %.*s", r->dsn, r->orig,
			    REASON_MAX, r->reason ? r->reason : "failed");
		else
			add_line(rep, "5.0.0 <%s>: %.*s (%s)", r->orig,
			    REASON_MAX, r->reason ? r->reason : "failed",
			    r->dsn);
	}
	if (nfailed > FAILED_LINES)
		add_line(rep, "%s and %zu more recipients failed", same ?
		    first->dsn : "5.0.0", nfailed - FAILED_LINES);
}

/* Refused before delivery, or not kept: what the client is told. */
static void
stopped_reply(const struct smtpd_verdict *v, struct smtpd_reply *rep)
{
	rep->text[0] = '\0';
	if (v->o.stop != STOP_DATA) {
		rep->code = 451;
		add_line(rep, "4.3.0 Error: %s; try again later", v->why);
	} else if (v->refusal == SMTPD_REFUSED_SIZE) {
		rep->code = 552;
		add_line(rep, "5.3.4 Error: %s", v->why);
	} else {
		rep->code = 554;
		add_line(rep, "%s Error: %s", v->refusal == SMTPD_REFUSED_LOOP ?
		    "5.4.6" : "5.6.0", v->why);
	}
}

void
smtpd_eod_reply(const struct smtpd_verdict *v, struct smtpd_reply *rep)
{
	const struct envelope *env = v->o.env;
	size_t i, ndone = 0, ndeferred = 0;

	if (v->o.stop != STOP_NONE) {
		stopped_reply(v, rep);
		return;
	}
	for (i = 0; env != NULL && i < env->nrcpts; i++) {
		ndone += env->rcpts[i].state == RCPT_DELIVERED;
		ndeferred += env->rcpts[i].state == RCPT_DEFERRED;
	}
	rep->text[0] = '\0';
	if (v->o.kept == KEPT_LOST || (ndeferred > 0 && !v->o.queued &&
	    v->o.kept != KEPT_QUEUE)) {
		rep->code = 451;
		add_line(rep, "4.3.0 Error: the message could be neither "
		    "delivered nor queued; try again later");
	} else if (v->o.queued || ndone + ndeferred > 0) {
		rep->code = 250;
		add_line(rep, "2.0.0 Ok: queued as %s", v->qid);
	} else if (env != NULL && env->nrcpts > 0)
		all_failed(env, rep);
	else {
		rep->code = 554;
		add_line(rep, "5.5.1 Error: no valid recipients");
	}
}

/* ====================================================== the session */

struct input {
	int		 fd;
	size_t		 off, len;
	char		 buf[IN_SIZE];
};

struct output {
	int		 fd;
	int		 broken;	/* a write failed: the client left */
	size_t		 len;
	char		 buf[OUT_SIZE];
};

struct session {
	const struct smtpd_params *p;
	const char	*host;
	int		 timeout_ms;	/* per wait for the client */
	struct input	 in;
	struct output	 out;
	int		 done;
	enum run_stop	 stop;
	/* The transaction: open after a MAIL that was accepted. */
	int		 in_txn;
	struct envelope	 env;
	size_t		 nrcpt;		/* RCPTs accepted */
	size_t		 ntried;	/* RCPTs answered */
};

enum wait {
	WAIT_READY,
	WAIT_EOF,
	WAIT_TIMEOUT,
	WAIT_ERROR
};

/* Wait for events on fd for the session's time-out. */
static enum wait
wait_fd(struct session *s, int fd, short events)
{
	struct pollfd pfd;
	int64_t end = mono_ms() + s->timeout_ms, left;
	int r;

	for (;;) {
		left = end - mono_ms();
		pfd.fd = fd;
		pfd.events = events;
		r = poll(&pfd, 1, left > 0 ? (int)left : 0);
		if (r > 0)
			return WAIT_READY;
		if (r == 0)
			return WAIT_TIMEOUT;
		if (errno != EINTR)
			return WAIT_ERROR;
	}
}

/*
 * Write the buffered replies, PIPE_BUF octets at a time after POLLOUT,
 * so that no write can block past the time-out. 0, or -1 (broken).
 */
static int
out_flush(struct session *s)
{
	struct output *o = &s->out;
	size_t off = 0, n;
	ssize_t w;

	while (off < o->len && !o->broken) {
		if (wait_fd(s, o->fd, POLLOUT) != WAIT_READY) {
			o->broken = 1;
			break;
		}
		n = o->len - off < PIPE_BUF ? o->len - off : PIPE_BUF;
		if ((w = write(o->fd, o->buf + off, n)) > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EINTR && errno != EAGAIN)
			o->broken = 1;
	}
	o->len = 0;
	return o->broken ? -1 : 0;
}

static void
out_add(struct session *s, const char *p, size_t n)
{
	struct output *o = &s->out;

	if (o->len + n > sizeof(o->buf))
		(void)out_flush(s);
	if (n <= sizeof(o->buf) - o->len) {
		memcpy(o->buf + o->len, p, n);
		o->len += n;
	}
}

/*
 * A reply: each line of its text with the code, '-' but on the last,
 * at most 1000 octets with its CRLF (RFC 5321 §4.5.3.1.5 asks 512 of a
 * reply line; a recipient's reason can be longer, and clients read
 * whole lines). Control octets in the text go out as '?'.
 */
static void
send_reply(struct session *s, const struct smtpd_reply *rep)
{
	const char *p = rep->text, *nl;
	char line[SMTPD_LINE_MAX + 1];
	size_t n, i;
	int k;

	do {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		k = snprintf(line, sizeof(line), "%03d%c%.*s", rep->code,
		    nl != NULL ? '-' : ' ', (int)(n > SMTPD_LINE_MAX - 6 ?
		    SMTPD_LINE_MAX - 6 : n), p);
		if (k < 4)
			return;
		for (i = 4; i < (size_t)k; i++)
			if ((unsigned char)line[i] < 32 || line[i] == 127)
				line[i] = '?';
		memcpy(line + k, "\r\n", 2);
		out_add(s, line, (size_t)k + 2);
		p = nl + 1;
	} while (nl != NULL);
}

static void
reply(struct session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reply(struct session *s, int code, const char *fmt, ...)
{
	struct smtpd_reply rep;
	va_list ap;

	rep.code = code;
	va_start(ap, fmt);
	(void)vsnprintf(rep.text, sizeof(rep.text), fmt, ap);
	va_end(ap);
	send_reply(s, &rep);
}

/*
 * More input into the buffer (which has room). Replies are written only
 * when the input would block (RFC 2920 §3.2): a pipelining client gets
 * the replies of its batch together, and one that waits gets them now.
 */
static enum wait
in_fill(struct session *s)
{
	struct input *in = &s->in;
	struct pollfd pfd;
	enum wait w;
	ssize_t r;

	if (in->off > 0) {
		memmove(in->buf, in->buf + in->off, in->len - in->off);
		in->len -= in->off;
		in->off = 0;
	}
	pfd.fd = in->fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) != 1 && out_flush(s) != 0)
		return WAIT_ERROR;
	for (;;) {
		if ((w = wait_fd(s, in->fd, POLLIN)) != WAIT_READY)
			return w;
		r = read(in->fd, in->buf + in->len, sizeof(in->buf) - in->len);
		if (r > 0) {
			in->len += (size_t)r;
			return WAIT_READY;
		}
		if (r == 0)
			return WAIT_EOF;
		if (errno != EINTR && errno != EAGAIN)
			return WAIT_ERROR;
	}
}

enum line {
	LINE_OK,
	LINE_TOO_LONG,
	LINE_END		/* end of input, time-out or error: why in w */
};

/*
 * The next command line, without its line end (CRLF, or a bare LF), in
 * line (SMTPD_LINE_MAX octets). A longer line is read through to its
 * end and discarded: LINE_TOO_LONG.
 */
static enum line
next_line(struct session *s, char *line, size_t *lenp, enum wait *w)
{
	struct input *in = &s->in;
	const char *lf;
	size_t k;
	int discard = 0;

	for (;;) {
		lf = memchr(in->buf + in->off, '\n', in->len - in->off);
		if (lf != NULL) {
			k = (size_t)(lf - (in->buf + in->off));
			if (discard || k + 1 > SMTPD_LINE_MAX) {
				in->off += k + 1;
				return LINE_TOO_LONG;
			}
			memcpy(line, in->buf + in->off, k);
			in->off += k + 1;
			if (k > 0 && line[k - 1] == '\r')
				k--;
			*lenp = k;
			return LINE_OK;
		}
		if (in->len - in->off >= SMTPD_LINE_MAX) {
			discard = 1;
			in->off = in->len;
		}
		if ((*w = in_fill(s)) != WAIT_READY)
			return LINE_END;
	}
}

static void
txn_reset(struct session *s)
{
	envelope_free(&s->env);
	s->in_txn = 0;
	s->nrcpt = s->ntried = 0;
}

/* The session ends here: the input ended, timed out or failed. */
static void
end_input(struct session *s, enum wait w)
{
	if (w == WAIT_TIMEOUT) {
		reply(s, 421, "4.4.2 %s Error: timeout exceeded", s->host);
		say("-bs: the client was silent for %d s: session closed",
		    s->timeout_ms / 1000);
	} else if (w == WAIT_ERROR && !s->out.broken)
		say("-bs: reading the client: %s", strerror(errno));
	else if (w == WAIT_EOF && s->in_txn)
		say("-bs: the client left within a transaction: nothing of "
		    "it was delivered");
	s->stop = w == WAIT_EOF && !s->in_txn ? STOP_DONE : STOP_IOERR;
	s->done = 1;
}

static void
do_ehlo(struct session *s, int ehlo)
{
	txn_reset(s);
	if (!ehlo) {
		reply(s, 250, "%s", s->host);
		return;
	}
	if (s->p->cfg->message_size_limit > 0)
		reply(s, 250, "%s\nPIPELINING\nSIZE %lld\n8BITMIME\n"
		    "ENHANCEDSTATUSCODES", s->host,
		    (long long)s->p->cfg->message_size_limit);
	else
		reply(s, 250, "%s\nPIPELINING\nSIZE\n8BITMIME\n"
		    "ENHANCEDSTATUSCODES", s->host);
}

static void
do_mail(struct session *s, const struct smtpd_cmd *c)
{
	off_t limit = s->p->cfg->message_size_limit;
	char err[1024];

	if (c->has_size && limit > 0 && c->size > (uint64_t)limit) {
		reply(s, 552, "5.3.4 Error: message size exceeds the limit of "
		    "%lld octets", (long long)limit);
		return;
	}
	envelope_init(&s->env);
	if (envelope_set_sender(&s->env, c->path, s->p->cfg,
	    names_domain(s->p->names), NULL, err, sizeof(err)) != 0) {
		envelope_free(&s->env);
		reply(s, 553, "5.1.7 Error: %s", err);
		return;
	}
	s->in_txn = 1;
	reply(s, 250, "2.1.0 Ok");
}

/* A refused recipient's reply, from envelope.c's failure class. */
static void
refuse_rcpt(struct session *s, const struct rcpt *r)
{
	int code;

	switch (r->fail) {
	case FAIL_ALIAS_KIND:
		reply(s, 550, "5.7.1 <%s>: Recipient address rejected: %s",
		    r->orig, r->reason);
		return;
	case FAIL_SYNTAX:
	case FAIL_IDNA:
		code = 553;
		break;
	default:
		code = 550;
		break;
	}
	reply(s, code, "%s <%s>: Recipient address rejected: %s", r->dsn,
	    r->orig, r->reason);
}

/*
 * The recipient, its aliases expanded, joins the envelope as -bm's
 * arguments would. Refused when nothing it expands to can be delivered
 * to (the failed ones are dropped); otherwise the failed part of an
 * alias stays, to be bounced with the rest (SPEC §8).
 */
static void
do_rcpt(struct session *s, const struct smtpd_cmd *c)
{
	struct options o = *s->p->opts;
	char path[SMTPD_PATH_MAX], *arg[1] = { path }, err[1024];
	size_t before = s->env.nrcpts, i, nok = 0, first = SIZE_MAX;

	if (s->nrcpt >= SMTPD_RCPT_MAX) {
		reply(s, 452, "4.5.3 Error: too many recipients");
		return;
	}
	strlcpy(path, c->path, sizeof(path));
	o.rcpts = arg;
	o.nrcpts = 1;
	o.extract = 0;
	if (envelope_add_recipients(&s->env, &o, NULL, s->p->al,
	    names_mail_domain(s->p->names), err, sizeof(err)) != 0) {
		reply(s, 501, "5.1.3 Error: %s", err);
		return;
	}
	for (i = before; i < s->env.nrcpts; i++) {
		if (s->env.rcpts[i].state != RCPT_FAILED)
			nok++;
		else if (first == SIZE_MAX)
			first = i;
	}
	if (nok == 0 && first != SIZE_MAX) {
		refuse_rcpt(s, &s->env.rcpts[first]);
		envelope_truncate(&s->env, before);
		return;
	}
	s->nrcpt++;
	reply(s, 250, "2.1.5 Ok");
}

enum data_end {
	DATA_DOT,		/* the final dot was read */
	DATA_INPUT		/* the input ended first: why in w */
};

/* Where DATA goes: the unnamed file, and what was seen of it. */
struct data {
	int		 fd;
	off_t		 size;
	int		 too_large;
	int		 werr;		/* errno of a failed write */
	int		 bol;		/* at the beginning of a line */
	int		 crlf;		/* ...after a CRLF (or the DATA line) */
	int		 last_cr;	/* the last octet consumed was CR */
	size_t		 len;
	char		 buf[DATA_CHUNK];
};

static void
data_flush(struct data *d)
{
	if (d->len > 0 && d->werr == 0 && write_all(d->fd, d->buf, d->len) != 0)
		d->werr = errno != 0 ? errno : EIO;
	d->len = 0;
}

static void
data_add(struct session *s, struct data *d, const char *p, size_t n)
{
	off_t limit = s->p->cfg->message_size_limit;

	d->size += (off_t)n;
	if (limit > 0 && d->size > limit)
		d->too_large = 1;
	while (n > 0 && !d->too_large && d->werr == 0) {
		size_t k = fill_upto(d->buf, &d->len, sizeof(d->buf), p, n);

		p += k;
		n -= k;
		if (d->len == sizeof(d->buf))
			data_flush(d);
	}
}

/*
 * A line start at p (n octets buffered): 1 at the final dot (consumed),
 * 0 when the line is content (a leading dot consumed: unstuffed, RFC
 * 5321 §4.5.2), -1 when more input must decide.
 */
static int
line_start(struct input *in, struct data *d, const char *p, size_t n)
{
	d->bol = 0;
	if (p[0] != '.')
		return 0;
	if (n >= 3 && p[1] == '\r' && p[2] == '\n' && d->crlf) {
		in->off += 3;
		return 1;
	}
	if (n == 1 || (n == 2 && p[1] == '\r')) {
		d->bol = 1;
		return -1;
	}
	in->off++;
	d->last_cr = 0;
	return 0;
}

/* The DATA lines in the buffer, to the final dot; 1 when it was read. */
static int
data_scan(struct session *s, struct data *d)
{
	struct input *in = &s->in;
	const char *p, *lf;
	size_t n, seg;
	int r;

	while (in->off < in->len) {
		p = in->buf + in->off;
		n = in->len - in->off;
		if (d->bol && (r = line_start(in, d, p, n)) != 0)
			return r > 0;
		p = in->buf + in->off;
		n = in->len - in->off;
		lf = memchr(p, '\n', n);
		seg = lf != NULL ? (size_t)(lf - p) + 1 : n;
		data_add(s, d, p, seg);
		if (lf != NULL) {
			d->crlf = seg >= 2 ? p[seg - 2] == '\r' : d->last_cr;
			d->bol = 1;
			d->last_cr = 0;
		} else if (seg > 0)
			d->last_cr = p[seg - 1] == '\r';
		in->off += seg;
	}
	return 0;
}

/* Read DATA into d->fd, dot-unstuffed, up to the final dot. */
static enum data_end
read_data(struct session *s, struct data *d, enum wait *w)
{
	for (;;) {
		if (data_scan(s, d)) {
			data_flush(d);
			return DATA_DOT;
		}
		if ((*w = in_fill(s)) != WAIT_READY)
			return DATA_INPUT;
	}
}

/* After the final dot: deliver (unless refused already), and reply. */
static void
finish_message(struct session *s, struct data *d)
{
	struct smtpd_verdict v;
	struct smtpd_reply rep;

	if (d->too_large) {
		reply(s, 552, "5.3.4 Error: message larger than "
		    "message_size_limit (%lld octets)",
		    (long long)s->p->cfg->message_size_limit);
		return;
	}
	if (d->werr != 0 || lseek(d->fd, 0, SEEK_SET) != 0) {
		say("-bs: writing the message to a scratch file: %s",
		    strerror(d->werr != 0 ? d->werr : errno));
		reply(s, 451, "4.3.0 Error: cannot store the message; try "
		    "again later");
		return;
	}
	memset(&v, 0, sizeof(v));
	envelope_group(&s->env);
	s->p->deliver(s->p->ctx, &s->env, d->fd, &v);
	v.o.env = &s->env;
	smtpd_eod_reply(&v, &rep);
	send_reply(s, &rep);
}

static void
do_data(struct session *s)
{
	struct data *d;
	enum wait w = WAIT_ERROR;

	if (!s->in_txn || s->nrcpt == 0) {
		if (s->in_txn && s->ntried > 0)
			reply(s, 554, "5.5.1 Error: no valid recipients");
		else
			reply(s, 503, "5.5.1 Error: need %s command",
			    s->in_txn ? "RCPT" : "MAIL");
		return;
	}
	d = xcalloc(1, sizeof(*d));
	if ((d->fd = tmpfile_open(-1)) == -1) {
		say("-bs: cannot create a scratch file: %s", strerror(errno));
		reply(s, 451, "4.3.0 Error: cannot store the message; try "
		    "again later");
		free(d);
		return;
	}
	d->bol = d->crlf = 1;
	reply(s, 354, "End data with <CR><LF>.<CR><LF>");
	if (read_data(s, d, &w) == DATA_DOT)
		finish_message(s, d);
	else
		end_input(s, w);
	close(d->fd);
	free(d);
	txn_reset(s);
}

static void
dispatch(struct session *s, const char *line, size_t len)
{
	struct smtpd_cmd c;
	struct smtpd_reply rep;
	int rc;

	rc = smtpd_parse(line, len, &c, &rep);
	/* The order of commands first, their arguments then (Postfix). */
	if (c.verb == SMTPD_MAIL && s->in_txn) {
		reply(s, 503, "5.5.1 Error: nested MAIL command");
		return;
	}
	if (c.verb == SMTPD_RCPT && !s->in_txn) {
		reply(s, 503, "5.5.1 Error: need MAIL command");
		return;
	}
	s->ntried += c.verb == SMTPD_RCPT;
	if (rc != 0) {
		send_reply(s, &rep);
		return;
	}
	switch (c.verb) {
	case SMTPD_EHLO:
	case SMTPD_HELO:
		do_ehlo(s, c.verb == SMTPD_EHLO);
		break;
	case SMTPD_MAIL:
		do_mail(s, &c);
		break;
	case SMTPD_RCPT:
		do_rcpt(s, &c);
		break;
	case SMTPD_DATA:
		do_data(s);
		break;
	case SMTPD_RSET:
		txn_reset(s);
		reply(s, 250, "2.0.0 Ok");
		break;
	case SMTPD_VRFY:
		reply(s, 252, "2.1.5 Cannot VRFY user, but will accept the "
		    "message and attempt delivery");
		break;
	case SMTPD_HELP:
		reply(s, 214, "2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET "
		    "NOOP QUIT VRFY HELP");
		break;
	case SMTPD_QUIT:
		reply(s, 221, "2.0.0 Bye");
		s->stop = STOP_DONE;
		s->done = 1;
		break;
	default:
		reply(s, 250, "2.0.0 Ok");
		break;
	}
}

/* This host's name for the greeting: helo, else the host name. */
static const char *
greeting_name(struct names *n)
{
	const char *h = names_helo(n);

	return h != NULL ? h : names_host(n);
}

enum run_stop
smtpd_run(const struct smtpd_params *p)
{
	struct session *s = xcalloc(1, sizeof(*s));
	char line[SMTPD_LINE_MAX];
	size_t len;
	enum wait w = WAIT_ERROR;
	enum run_stop stop;

	s->p = p;
	s->in.fd = p->infd;
	s->out.fd = p->outfd;
	s->host = greeting_name(p->names);
	s->timeout_ms = (int)(p->cfg->timeout_command > INT_MAX / 1000 ?
	    INT_MAX : p->cfg->timeout_command * 1000);
	envelope_init(&s->env);
	reply(s, 220, "%s ESMTP mxsend", s->host);
	while (!s->done && !s->out.broken) {
		switch (next_line(s, line, &len, &w)) {
		case LINE_OK:
			dispatch(s, line, len);
			break;
		case LINE_TOO_LONG:
			reply(s, 500, "5.5.2 Error: line too long");
			break;
		case LINE_END:
			end_input(s, w);
			break;
		}
	}
	(void)out_flush(s);
	/* QUIT ends the session well, even if the client left at once. */
	stop = s->done ? s->stop : STOP_IOERR;
	if (stop != STOP_DONE && s->out.broken && !s->done)
		say("-bs: the client left before reading the replies");
	txn_reset(s);
	free(s);
	return stop;
}

void
smtpd_unavailable(int fd, const char *why)
{
	char line[600];
	int n;

	n = snprintf(line, sizeof(line), "421 4.3.5 %.500s\r\n", why);
	if (n > 0)
		(void)write_all(fd, line, (size_t)n);
}
