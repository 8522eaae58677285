/*
 * smtp.c: one SMTP client session (RFC 5321), straight-line and blocking
 * per worker, every read and write through net.c's time-outs.
 *
 * Round trips (SPEC §9): connect, greeting, EHLO, then with PIPELINING
 * (RFC 2920) the whole envelope in one write; with CHUNKING (RFC 3030)
 * "BDAT n LAST" and the body follow in the same flight, so a transaction
 * costs one round trip. QUIT is never waited for (as qmail-remote).
 * Pipelined flights are bounded (SMTP_FLIGHT_RCPTS commands) so that the
 * server's replies always fit the socket buffers while we write: a server
 * that answers as it reads can never deadlock against us.
 *
 * Only detection lives here: each recipient gets a struct smtp_status that
 * says what happened and where; policy.c decides what it means.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "sasl.h"
#include "smtp.h"
#include "util.h"

#define BODY_BUF	16384
#define AUTH_STEPS_MAX	8	/* SCRAM needs 2, LOGIN 2, CRAM-MD5 1 */

/* Per-recipient progress inside smtp_send(). */
enum rstate {
	R_UNSENT,		/* not yet sent in this transaction */
	R_SENT,		/* RCPT written, reply not read */
	R_ACCEPTED,	/* RCPT 2xx, waiting for the end of data */
	R_RETRY,	/* too many recipients: next transaction */
	R_DONE		/* st is final */
};

const char *
smtp_stage_name(enum smtp_stage stage)
{
	switch (stage) {
	case SMTP_STAGE_CONNECT:	return "connect";
	case SMTP_STAGE_GREETING:	return "greeting";
	case SMTP_STAGE_EHLO:		return "EHLO";
	case SMTP_STAGE_STARTTLS:	return "STARTTLS";
	case SMTP_STAGE_AUTH:		return "AUTH";
	case SMTP_STAGE_MAIL:		return "MAIL FROM";
	case SMTP_STAGE_RCPT:		return "RCPT TO";
	case SMTP_STAGE_DATA:		return "DATA";
	case SMTP_STAGE_EOD:		return "end of data";
	}
	return "?";
}

const char *
smtp_event_name(enum smtp_event ev)
{
	switch (ev) {
	case SMTP_EV_OK:	return "ok";
	case SMTP_EV_REPLY:	return "reply";
	case SMTP_EV_CONNECT:	return "connect failed";
	case SMTP_EV_TIMEOUT:	return "timed out";
	case SMTP_EV_DEADLINE:	return "deadline";
	case SMTP_EV_BROKEN:	return "connection broken";
	case SMTP_EV_TLS:	return "TLS failed";
	case SMTP_EV_NOTLS:	return "no STARTTLS";
	case SMTP_EV_AUTH:	return "AUTH failed";
	case SMTP_EV_SIZE:	return "message too large";
	case SMTP_EV_NOUTF8:	return "no SMTPUTF8";
	case SMTP_EV_LOCAL:	return "local error";
	}
	return "?";
}

static void
status_set(struct smtp_status *st, enum smtp_event ev, enum smtp_stage stage,
    int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void
status_set(struct smtp_status *st, enum smtp_event ev, enum smtp_stage stage,
    int code, const char *enh, const char *fmt, ...)
{
	va_list	 ap;

	st->ev = ev;
	st->stage = stage;
	st->code = code;
	strlcpy(st->enh, enh != NULL ? enh : "", sizeof(st->enh));
	va_start(ap, fmt);
	vsnprintf(st->text, sizeof(st->text), fmt, ap);
	va_end(ap);
}

/* The last reply read as a status of stage (2xx/3xx: SMTP_EV_OK). */
static void
status_reply(struct smtp_session *s, struct smtp_status *st,
    enum smtp_stage stage)
{
	char	 sum[sizeof(st->text)];

	reply_summary(&s->reply, sum, sizeof(sum));
	status_set(st, s->reply.code < 400 ? SMTP_EV_OK : SMTP_EV_REPLY, stage,
	    s->reply.code, s->reply.enh, "%s", sum);
}

/* The last reply, not the one the stage wanted, as a failure ev. */
static void
status_reply_as(struct smtp_session *s, struct smtp_status *st,
    enum smtp_stage stage, enum smtp_event ev)
{
	status_reply(s, st, stage);
	st->ev = ev;
}

static void
transcript(struct smtp_session *s, int dir, const char *line, size_t len)
{
	if (s->p.transcript != NULL)
		s->p.transcript(s->p.transcript_ctx, dir, line, len);
}

/* A net.c failure as a status: what we were doing, and net.c's reason. */
static void
status_net(struct smtp_session *s, struct smtp_status *st,
    enum smtp_stage stage, enum net_status ns, const char *doing)
{
	enum smtp_event	 ev;

	switch (ns) {
	case NET_TIMEOUT:
		ev = SMTP_EV_TIMEOUT;
		break;
	case NET_DEADLINE:
		ev = SMTP_EV_DEADLINE;
		break;
	default:
		ev = SMTP_EV_BROKEN;
		break;
	}
	status_set(st, ev, stage, 0, "", "%s while %s (%s)",
	    ev == SMTP_EV_TIMEOUT ? "conversation timed out" :
	    ev == SMTP_EV_DEADLINE ? "delivery deadline reached" :
	    "lost connection", doing, s->conn.err);
	s->broken = 1;
}

/*
 * Read one whole reply into s->reply within timeout (the reply as a whole
 * shares it, so a trickle of continuation lines cannot stretch it).
 * Returns 0 with any code, or -1 with st set and the session broken.
 */
static int
read_reply(struct smtp_session *s, enum smtp_stage stage, unsigned timeout,
    int redact, struct smtp_status *st)
{
	enum net_status		 ns;
	enum reply_status	 rs;
	char			 doing[96], err[160];
	int64_t			 end;
	size_t			 len;

	if (stage == SMTP_STAGE_GREETING)
		strlcpy(doing, "receiving the greeting", sizeof(doing));
	else
		snprintf(doing, sizeof(doing), "waiting for the reply to %s",
		    smtp_stage_name(stage));
	reply_reset(&s->reply);
	end = net_stage_end(timeout);
	for (;;) {
		ns = net_read_line_until(&s->conn, s->line, SMTP_LINE_MAX,
		    &len, end, timeout);
		if (ns != NET_OK) {
			status_net(s, st, stage, ns, doing);
			return -1;
		}
		if (redact && len >= 3 && strncmp(s->line, "334", 3) == 0)
			transcript(s, '<', "334 ***", 7);
		else
			transcript(s, '<', s->line, len);
		rs = reply_feed(&s->reply, s->line, len, err, sizeof(err));
		if (rs == REPLY_DONE)
			break;
		if (rs == REPLY_BAD) {
			status_set(st, SMTP_EV_BROKEN, stage, 0, "",
			    "protocol error while %s: %s", doing, err);
			s->broken = 1;
			return -1;
		}
	}
	if (s->reply.code == 421)	/* the server is closing (§3.8) */
		s->broken = 1;
	return 0;
}

/*
 * Append one command line to out. A CR or LF inside it would let a value
 * start a command of its own (SPEC §10): refused, though callers validate
 * addresses long before.
 */
static int
queue_cmd(struct smtp_session *s, struct buf *out, const char *cmd,
    const char *shown, struct smtp_status *st, enum smtp_stage stage)
{
	if (strpbrk(cmd, "\r\n") != NULL) {
		status_set(st, SMTP_EV_LOCAL, stage, 0, "5.5.2",
		    "refusing to send a command containing CR or LF");
		return -1;
	}
	buf_adds(out, cmd);
	buf_add(out, "\r\n", 2);
	shown = shown != NULL ? shown : cmd;
	transcript(s, '>', shown, strlen(shown));
	return 0;
}

static int
flush(struct smtp_session *s, struct buf *out, enum smtp_stage stage,
    struct smtp_status *st)
{
	enum net_status	 ns;
	char		 doing[64];

	if (out->len == 0)
		return 0;
	ns = net_write(&s->conn, out->data, out->len, s->p.timeout_command);
	explicit_bzero(out->data, out->len);	/* it may hold AUTH data */
	buf_reset(out);
	if (ns != NET_OK) {
		snprintf(doing, sizeof(doing), "sending %s",
		    smtp_stage_name(stage));
		status_net(s, st, stage, ns, doing);
		return -1;
	}
	return 0;
}

/* Write one command and read its reply. */
static int
command(struct smtp_session *s, const char *cmd, const char *shown,
    enum smtp_stage stage, int redact, struct smtp_status *st)
{
	struct buf	 out;
	int		 r;

	buf_init(&out);
	r = queue_cmd(s, &out, cmd, shown, st, stage);
	if (r == 0)
		r = flush(s, &out, stage, st);
	buf_free(&out);
	if (r == 0)
		r = read_reply(s, stage, s->p.timeout_command, redact, st);
	return r;
}

/* Without a configured name: "[192.0.2.1]" of our end (RFC 5321 §4.1.4). */
static void
helo_name(struct smtp_session *s, char *out, size_t outlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 ip[INET6_ADDRSTRLEN];
	const void		*a;

	if (s->p.helo != NULL && s->p.helo[0] != '\0') {
		strlcpy(out, s->p.helo, outlen);
		return;
	}
	strlcpy(out, "[127.0.0.1]", outlen);
	if (getsockname(s->conn.fd, (struct sockaddr *)&ss, &sl) == -1)
		return;
	if (ss.ss_family == AF_INET6) {
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		if (inet_ntop(AF_INET6, a, ip, sizeof(ip)) != NULL)
			snprintf(out, outlen, "[IPv6:%s]", ip);
	} else if (ss.ss_family == AF_INET) {
		a = &((struct sockaddr_in *)&ss)->sin_addr;
		if (inet_ntop(AF_INET, a, ip, sizeof(ip)) != NULL)
			snprintf(out, outlen, "[%s]", ip);
	}
}

/* EHLO, or HELO when the server does not know EHLO (500/502 only). */
static int
ehlo(struct smtp_session *s, struct smtp_status *st)
{
	char	 name[CONFIG_HOST_MAX + 16], cmd[sizeof(name) + 8];

	helo_name(s, name, sizeof(name));
	memset(&s->caps, 0, sizeof(s->caps));
	s->esmtp = 0;
	snprintf(cmd, sizeof(cmd), "EHLO %s", name);
	if (command(s, cmd, NULL, SMTP_STAGE_EHLO, 0, st) == -1)
		return -1;
	if (s->reply.code / 100 == 2) {
		ehlo_parse(&s->reply, &s->caps);
		s->esmtp = 1;
		return 0;
	}
	if (s->reply.code != 500 && s->reply.code != 502) {
		status_reply_as(s, st, SMTP_STAGE_EHLO, SMTP_EV_REPLY);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "HELO %s", name);
	if (command(s, cmd, NULL, SMTP_STAGE_EHLO, 0, st) == -1)
		return -1;
	if (s->reply.code / 100 != 2) {
		status_reply_as(s, st, SMTP_STAGE_EHLO, SMTP_EV_REPLY);
		return -1;
	}
	return 0;
}

static int
tls_handshake(struct smtp_session *s, enum smtp_stage stage,
    struct smtp_status *st)
{
	struct tls_params	 tp;

	memset(&tp, 0, sizeof(tp));
	tp.sni = s->p.server;
	tp.verify = s->p.verify;
	tp.ca_file = s->p.ca_file;
	tp.pin = s->p.pin;
	if (tls_start(&s->conn, &tp, s->p.timeout_command) == -1) {
		status_set(st, SMTP_EV_TLS, stage, 0, "", "%s", s->conn.err);
		s->broken = 1;
		return -1;
	}
	s->tls_active = 1;
	tls_describe(s->conn.tls, s->tls_info, sizeof(s->tls_info));
	return 0;
}

/*
 * How starting a session ended. START_PLAIN_RETRY: the STARTTLS handshake
 * itself failed under SMTP_TLS_MAY, which smtp_open() answers with one
 * plain-text reconnection.
 */
enum start_result {
	START_OK,
	START_FAILED,		/* st says why */
	START_PLAIN_RETRY
};

/* STARTTLS as p.tls asks: START_OK is TLS up, or plain text allowed. */
static enum start_result
starttls(struct smtp_session *s, int allow, struct smtp_status *st)
{
	int	 required = s->p.tls == SMTP_TLS_STARTTLS;

	if (s->p.tls != SMTP_TLS_MAY && s->p.tls != SMTP_TLS_IFOFFERED &&
	    !required)
		return START_OK;
	if (!(s->caps.ext & EXT_STARTTLS)) {
		if (!required)
			return START_OK;
		status_set(st, SMTP_EV_NOTLS, SMTP_STAGE_STARTTLS, 0, "",
		    "TLS is required but %s does not offer STARTTLS",
		    s->p.server);
		return START_FAILED;
	}
	if (!allow)
		return START_OK;
	if (command(s, "STARTTLS", NULL, SMTP_STAGE_STARTTLS, 0, st) == -1)
		return START_FAILED;
	if (s->reply.code != 220) {
		/* RFC 3207 §4: opportunistic TLS goes on without it. */
		if (s->p.tls == SMTP_TLS_MAY && !s->broken)
			return START_OK;
		status_reply_as(s, st, SMTP_STAGE_STARTTLS, SMTP_EV_TLS);
		return START_FAILED;
	}
	/* Anything the server sent with its 220 is an injection (§5). */
	if (net_pending(&s->conn)) {
		status_set(st, SMTP_EV_BROKEN, SMTP_STAGE_STARTTLS, 0, "",
		    "%s sent data after its STARTTLS reply", s->p.server);
		s->broken = 1;
		return START_FAILED;
	}
	if (tls_handshake(s, SMTP_STAGE_STARTTLS, st) == -1)
		return s->p.tls == SMTP_TLS_MAY ? START_PLAIN_RETRY :
		    START_FAILED;
	/* RFC 3207 §4.2: forget what was learnt before TLS. */
	return ehlo(s, st) == 0 ? START_OK : START_FAILED;
}

/* The mechanism to use, or SASL_NONE with st set. */
static enum sasl_mech
auth_choose(struct smtp_session *s, struct smtp_status *st)
{
	enum sasl_mech	 mech;

	if (!(s->caps.ext & EXT_AUTH)) {
		status_set(st, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 0, "",
		    "%s offers no AUTH, but credentials are configured",
		    s->p.server);
		return SASL_NONE;
	}
	mech = sasl_choose(s->caps.auth, s->p.auth_allowed,
	    s->p.nauth_allowed, s->tls_active);
	if (mech == SASL_NONE)
		status_set(st, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 0, "",
		    "%s offers no allowed AUTH mechanism%s", s->p.server,
		    s->tls_active ? "" :
		    " (PLAIN and LOGIN are only used under TLS)");
	return mech;
}

/* "AUTH mech [initial-response]"; the transcript never sees the latter. */
static int
auth_command(struct smtp_session *s, struct sasl *sasl, const char *name,
    struct smtp_status *st)
{
	char	 shown[64];
	char	*initial, *cmd;
	int	 rc;

	initial = sasl_initial(sasl);
	if (initial != NULL) {
		/* RFC 4954 §4: an empty initial response is sent as "=". */
		cmd = xasprintf("AUTH %s %s", name,
		    initial[0] != '\0' ? initial : "=");
		snprintf(shown, sizeof(shown), "AUTH %s ***", name);
		sasl_free_response(initial);
	} else {
		cmd = xasprintf("AUTH %s", name);
		snprintf(shown, sizeof(shown), "AUTH %s", name);
	}
	rc = command(s, cmd, shown, SMTP_STAGE_AUTH, 1, st);
	sasl_free_response(cmd);
	return rc;
}

/* RFC 4954 §4: "*" cancels the exchange. Returns -1, st saying why. */
static int
auth_cancel(struct smtp_session *s, const char *name, const char *why,
    struct smtp_status *st)
{
	if (command(s, "*", NULL, SMTP_STAGE_AUTH, 1, st) == 0)
		status_set(st, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 0, "",
		    "AUTH %s with %s: %s", name, s->p.server, why);
	return -1;
}

/* Answer the server's 334 challenges until it says something else. */
static int
auth_challenges(struct smtp_session *s, struct sasl *sasl, const char *name,
    struct smtp_status *st)
{
	char	 err[256];
	char	*response;
	int	 step, rc;

	for (step = 0; s->reply.code == 334; step++) {
		if (step == AUTH_STEPS_MAX)
			return auth_cancel(s, name, "too many challenges", st);
		if (sasl_step(sasl, s->reply.text.data != NULL ?
		    s->reply.text.data : "", &response, err,
		    sizeof(err)) == -1)
			return auth_cancel(s, name, err, st);
		rc = command(s, response, "***", SMTP_STAGE_AUTH, 1, st);
		sasl_free_response(response);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* The command, the challenges, and the server's verdict on them. */
static int
auth_exchange(struct smtp_session *s, struct sasl *sasl, enum sasl_mech mech,
    struct smtp_status *st)
{
	const char	*name = sasl_mech_name(mech);

	if (auth_command(s, sasl, name, st) == -1 ||
	    auth_challenges(s, sasl, name, st) == -1)
		return -1;
	if (s->reply.code != 235) {
		status_reply_as(s, st, SMTP_STAGE_AUTH, SMTP_EV_AUTH);
		return -1;
	}
	if (mech == SASL_SCRAM_SHA_256 && !sasl_server_verified(sasl)) {
		status_set(st, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 0, "",
		    "AUTH %s with %s: the server did not prove that it "
		    "knows the password", name, s->p.server);
		return -1;
	}
	return 0;
}

static int
auth(struct smtp_session *s, struct smtp_status *st)
{
	struct sasl	 sasl;
	enum sasl_mech	 mech;
	char		 err[256];
	int		 rc;

	if ((mech = auth_choose(s, st)) == SASL_NONE)
		return -1;
	if (sasl_start(&sasl, mech, s->p.auth_user,
	    s->p.auth_pass != NULL ? s->p.auth_pass : "", err,
	    sizeof(err)) == -1) {
		status_set(st, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 0, "",
		    "AUTH %s: %s", sasl_mech_name(mech), err);
		sasl_end(&sasl);
		return -1;
	}
	rc = auth_exchange(s, &sasl, mech, st);
	sasl_end(&sasl);
	if (rc == 0)
		s->authenticated = 1;
	return rc;
}

static void
quit_and_close(struct smtp_session *s)
{
	static const char quit[] = "QUIT\r\n";

	if (s->conn.fd != -1) {
		if (!s->broken) {
			transcript(s, '>', "QUIT", 4);
			/* Never waited for; a 1 s write is plenty. */
			(void)net_write(&s->conn, quit, sizeof(quit) - 1, 1);
		}
		net_close(&s->conn);
	}
	s->conn.fd = -1;
	s->open = 0;
}

/* Connected: greeting, EHLO, TLS and AUTH, up to the first MAIL. */
static enum start_result
session_greet(struct smtp_session *s, int allow_tls, struct smtp_status *st)
{
	enum start_result	 result;

	/* Implicit TLS (RFC 8314): the handshake is part of connecting. */
	if (s->p.tls == SMTP_TLS_IMPLICIT &&
	    tls_handshake(s, SMTP_STAGE_CONNECT, st) == -1)
		return START_FAILED;
	if (read_reply(s, SMTP_STAGE_GREETING, s->p.timeout_command, 0,
	    st) == -1)
		return START_FAILED;
	if (s->reply.code != 220) {
		status_reply_as(s, st, SMTP_STAGE_GREETING, SMTP_EV_REPLY);
		return START_FAILED;
	}
	if (ehlo(s, st) == -1)
		return START_FAILED;
	if ((result = starttls(s, allow_tls, st)) != START_OK)
		return result;
	if (s->p.auth_user != NULL && auth(s, st) == -1)
		return START_FAILED;
	return START_OK;
}

/*
 * Connect, greet, EHLO, TLS, AUTH. allow_tls 0 is the plain-text retry
 * after a failed opportunistic handshake. Unless START_OK, the session is
 * closed again.
 */
static enum start_result
session_start(struct smtp_session *s, int allow_tls, struct smtp_status *st)
{
	enum net_status		 ns;
	enum start_result	 result;

	s->broken = 0;
	s->tls_active = 0;
	s->authenticated = 0;
	s->need_rset = 0;
	ns = net_connect(&s->conn, &s->p.addr, s->p.port,
	    s->p.timeout_connect, &s->p.deadline);
	if (ns != NET_OK) {
		status_set(st, ns == NET_DEADLINE ? SMTP_EV_DEADLINE :
		    SMTP_EV_CONNECT, SMTP_STAGE_CONNECT, 0, "", "%s",
		    s->conn.err);
		s->conn.fd = -1;
		return START_FAILED;
	}
	result = session_greet(s, allow_tls, st);
	if (result == START_OK)
		s->open = 1;
	else
		quit_and_close(s);
	return result;
}

int
smtp_open(struct smtp_session *s, const struct smtp_params *p,
    struct smtp_status *st)
{
	struct smtp_status	 first;
	enum start_result	 result;

	memset(s, 0, sizeof(*s));
	s->conn.fd = -1;
	s->p = *p;
	reply_init(&s->reply);
	s->line = xmalloc(SMTP_LINE_MAX);
	memset(st, 0, sizeof(*st));
	result = session_start(s, 1, st);
	if (result == START_PLAIN_RETRY) {
		/*
		 * Opportunistic TLS: a failed handshake must not cost the
		 * mail (RFC 7435); one new connection in plain text, as
		 * Postfix's smtp_tls_security_level=may does.
		 */
		first = *st;
		s->tls_fallback = 1;
		result = session_start(s, 0, st);
		if (result == START_OK)
			return 0;
		if (st->stage == SMTP_STAGE_CONNECT)
			*st = first;
	}
	if (result != START_OK) {
		/* Closed already; free now, and smtp_close() stays safe. */
		s->broken = 1;
		reply_free(&s->reply);
		free(s->line);
		s->line = NULL;
		return -1;
	}
	return 0;
}

int
smtp_usable(const struct smtp_session *s)
{
	return s->open && !s->broken && s->conn.fd != -1;
}

void
smtp_close(struct smtp_session *s)
{
	quit_and_close(s);
	reply_free(&s->reply);
	free(s->line);
	s->line = NULL;
}

/* ------------------------------------------------------------ body */

struct body {
	struct smtp_session *s;
	char		 buf[BODY_BUF];
	size_t		 len;
	int		 stuff;		/* DATA: dot-stuffing (RFC 5321 §4.5.2) */
	int		 bol;		/* at the start of a line */
	char		 last;
	off_t		 count;		/* octets of message (unstuffed) */
	enum net_status	 ns;
};

static int
body_out(struct body *b, const char *p, size_t n)
{
	size_t	 k;

	while (n > 0) {
		if (b->len == sizeof(b->buf)) {
			b->ns = net_write(&b->s->conn, b->buf, b->len,
			    b->s->p.timeout_data);
			if (b->ns != NET_OK)
				return 1;
			b->len = 0;
		}
		k = sizeof(b->buf) - b->len;
		if (k > n)
			k = n;
		memcpy(b->buf + b->len, p, k);
		b->len += k;
		p += k;
		n -= k;
	}
	return 0;
}

static int
body_put(void *ctx, const char *p, size_t n)
{
	struct body	*b = ctx;
	const char	*nl;
	size_t		 k;

	if (n == 0)
		return 0;
	b->count += (off_t)n;
	b->last = p[n - 1];
	while (n > 0) {
		if (b->stuff && b->bol && p[0] == '.' && body_out(b, ".", 1))
			return 1;
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) + 1 : n;
		if (body_out(b, p, k))
			return 1;
		b->bol = nl != NULL;
		p += k;
		n -= k;
	}
	return 0;
}

/*
 * Stream the message (with DATA: dot-stuffed and terminated; with BDAT:
 * exactly size octets). Returns 0, or -1 with st set; the session is then
 * broken, since the server is in the middle of the message.
 */
static int
send_body(struct smtp_session *s, const struct smtp_txn *t, int stuff,
    off_t size, enum smtp_stage stage, struct smtp_status *st)
{
	struct body	*b;
	char		 note[64];
	int		 r, saved;

	b = xcalloc(1, sizeof(*b));
	b->s = s;
	b->stuff = stuff;
	b->bol = 1;
	b->ns = NET_OK;
	r = msg_stream(t->msg, t->msg_flags, body_put, b);
	saved = errno;
	if (r == 0 && stuff) {
		if (b->count > 0 && b->last != '\n')
			r = body_out(b, "\r\n", 2);
		if (r == 0)
			r = body_out(b, ".\r\n", 3);
	}
	if (r == 0 && b->len > 0) {
		b->ns = net_write(&s->conn, b->buf, b->len, s->p.timeout_data);
		r = b->ns != NET_OK;
	}
	if (r == -1) {
		status_set(st, SMTP_EV_LOCAL, stage, 0, "4.3.0",
		    "reading the spooled message failed: %s",
		    strerror(saved));
		s->broken = 1;
	} else if (r != 0)
		status_net(s, st, stage, b->ns, "sending the message");
	else if (!stuff && b->count != size) {
		status_set(st, SMTP_EV_LOCAL, stage, 0, "4.3.0",
		    "the spooled message changed size while being sent");
		s->broken = 1;
		r = -1;
	}
	if (r == 0) {
		snprintf(note, sizeof(note), "(message: %lld octets)",
		    (long long)b->count);
		transcript(s, '>', note, strlen(note));
	}
	free(b);
	return r == 0 ? 0 : -1;
}

/* ----------------------------------------------------- transactions */

static void
notify_param(struct buf *b, int notify)
{
	const char	*sep = "";

	buf_adds(b, " NOTIFY=");
	if (notify & NOTIFY_NEVER) {
		buf_adds(b, "NEVER");
		return;
	}
	if (notify & NOTIFY_SUCCESS) {
		buf_adds(b, "SUCCESS");
		sep = ",";
	}
	if (notify & NOTIFY_FAILURE) {
		buf_printf(b, "%sFAILURE", sep);
		sep = ",";
	}
	if (notify & NOTIFY_DELAY)
		buf_printf(b, "%sDELAY", sep);
}

static int
ascii_only(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static char *
mail_cmd(const struct smtp_session *s, const struct smtp_txn *t,
    off_t size, int utf8)
{
	struct buf	 b;
	char		*x;
	unsigned	 ext = s->caps.ext;

	buf_init(&b);
	buf_printf(&b, "MAIL FROM:<%s>", t->sender);
	if (ext & EXT_SIZE)
		buf_printf(&b, " SIZE=%lld", (long long)size);
	if (t->eightbit && (ext & EXT_8BITMIME))
		buf_adds(&b, " BODY=8BITMIME");
	if (utf8)
		buf_adds(&b, " SMTPUTF8");
	if (ext & EXT_DSN) {
		if (t->ret == RET_FULL)
			buf_adds(&b, " RET=FULL");
		else if (t->ret == RET_HDRS)
			buf_adds(&b, " RET=HDRS");
		if (t->envid != NULL && t->envid[0] != '\0') {
			x = xtext_encode(t->envid);
			buf_printf(&b, " ENVID=%s", x);
			free(x);
		}
	}
	return buf_release(&b);
}

static char *
rcpt_cmd(const struct smtp_session *s, const struct smtp_rcpt *r)
{
	struct buf	 b;
	char		*x;

	buf_init(&b);
	buf_printf(&b, "RCPT TO:<%s>", r->addr);
	if (s->caps.ext & EXT_DSN) {
		if (r->notify != 0)
			notify_param(&b, r->notify);
		/* RFC 3461 §4.2; a UTF-8 ORCPT would need RFC 6533. */
		if (r->orcpt != NULL && r->orcpt[0] != '\0' &&
		    ascii_only(r->orcpt)) {
			x = xtext_encode(r->orcpt);
			buf_printf(&b, " ORCPT=rfc822;%s", x);
			free(x);
		}
	}
	return buf_release(&b);
}

/* RFC 5321 §4.5.3.1.10: 452 (or x.5.3) means "no more in this one". */
static int
too_many(const struct reply *r)
{
	size_t	 n = strlen(r->enh);

	if (r->code / 100 == 2)
		return 0;
	if (n >= 4 && strcmp(r->enh + 1, ".5.3") == 0)
		return 1;
	return r->code == 452 && n == 0;
}

struct txn_run {
	struct smtp_session *s;
	struct smtp_txn	*t;
	enum rstate	*rs;
	size_t		*idx;		/* recipients of this transaction */
	size_t		 n;
	size_t		 nread;		/* RCPT replies read */
	size_t		 accepted;
	int		 mail_pending;	/* MAIL reply not yet read */
	int		 mail_ok;
	struct smtp_status mail_st;
	struct smtp_status fail;	/* a session failure */
};

/* Read the replies owed: MAIL's, then RCPTs' up to nsent. */
static int
read_envelope(struct txn_run *x, size_t nsent)
{
	struct smtp_session *s = x->s;
	struct smtp_rcpt *r;
	size_t		 i;

	if (x->mail_pending) {
		x->mail_pending = 0;
		if (read_reply(s, SMTP_STAGE_MAIL, s->p.timeout_command, 0,
		    &x->fail) == -1)
			return -1;
		status_reply(s, &x->mail_st, SMTP_STAGE_MAIL);
		x->mail_ok = s->reply.code / 100 == 2;
		if (s->broken) {	/* 421: the server is closing */
			x->fail = x->mail_st;
			return -1;
		}
	}
	for (; x->nread < nsent; x->nread++) {
		i = x->idx[x->nread];
		r = &x->t->rcpts[i];
		if (read_reply(s, SMTP_STAGE_RCPT, s->p.timeout_command, 0,
		    &x->fail) == -1)
			return -1;
		if (!x->mail_ok) {
			/* The 503s that follow a refused MAIL say nothing. */
			r->st = x->mail_st;
			x->rs[i] = R_DONE;
			continue;
		}
		status_reply(s, &r->st, SMTP_STAGE_RCPT);
		if (r->st.ev == SMTP_EV_OK) {
			x->rs[i] = R_ACCEPTED;
			x->accepted++;
		} else if (too_many(&s->reply) && !s->broken)
			x->rs[i] = R_RETRY;
		else
			x->rs[i] = R_DONE;
		if (s->broken) {
			x->fail = r->st;
			return -1;
		}
	}
	return 0;
}

/* Give every recipient of the transaction still open the status st. */
static void
settle(struct txn_run *x, const struct smtp_status *st, int retry_too)
{
	size_t	 k, i;

	for (k = 0; k < x->n; k++) {
		i = x->idx[k];
		if (x->rs[i] == R_DONE || (x->rs[i] == R_RETRY && !retry_too))
			continue;
		x->t->rcpts[i].st = *st;
		x->rs[i] = R_DONE;
	}
}

/*
 * One transaction for the recipients idx[0..n). Returns the number
 * delivered, or -1 after a session failure (x->fail; the recipients of
 * this transaction that were open have it).
 */
static int
one_txn(struct txn_run *x, off_t size, int utf8)
{
	struct smtp_session *s = x->s;
	struct smtp_txn	*t = x->t;
	struct smtp_status eod;
	struct buf	 out;
	char		*cmd, bdat[48];
	int		 pipe = (s->caps.ext & EXT_PIPELINING) != 0;
	int		 chunk = (s->caps.ext & EXT_CHUNKING) != 0;
	size_t		 k;
	int		 ret = -1;

	buf_init(&out);
	x->mail_pending = 1;
	cmd = mail_cmd(s, t, size, utf8);
	if (queue_cmd(s, &out, cmd, NULL, &x->fail, SMTP_STAGE_MAIL) == -1) {
		free(cmd);
		settle(x, &x->fail, 1);
		t->st = x->fail;
		buf_free(&out);
		return 0;	/* a local refusal; the session is fine */
	}
	free(cmd);
	if (!pipe && (flush(s, &out, SMTP_STAGE_MAIL, &x->fail) == -1 ||
	    read_envelope(x, 0) == -1))
		goto broken;
	if (!pipe && !x->mail_ok) {
		settle(x, &x->mail_st, 1);
		t->st = x->mail_st;
		ret = 0;
		goto out;
	}
	for (k = 0; k < x->n; k++) {
		cmd = rcpt_cmd(s, &t->rcpts[x->idx[k]]);
		if (queue_cmd(s, &out, cmd, NULL, &t->rcpts[x->idx[k]].st,
		    SMTP_STAGE_RCPT) == -1) {
			/* Never reached with validated addresses. */
			free(cmd);
			x->fail = t->rcpts[x->idx[k]].st;
			goto broken_local;
		}
		free(cmd);
		x->rs[x->idx[k]] = R_SENT;
		if (!pipe || ((k + 1) % SMTP_FLIGHT_RCPTS == 0 &&
		    k + 1 < x->n)) {
			if (flush(s, &out, SMTP_STAGE_RCPT, &x->fail) == -1 ||
			    read_envelope(x, k + 1) == -1)
				goto broken;
			if (!x->mail_ok)
				break;
		}
	}
	s->need_rset = 1;	/* a transaction is open until the end */
	/* Known already (lock-step, or a flight boundary): stop here. */
	if (!x->mail_pending && !x->mail_ok)
		goto refused;
	if (x->nread == x->n && x->accepted == 0)
		goto refused;

	if (chunk) {
		snprintf(bdat, sizeof(bdat), "BDAT %lld LAST",
		    (long long)size);
		queue_cmd(s, &out, bdat, NULL, &x->fail, SMTP_STAGE_EOD);
		if (flush(s, &out, SMTP_STAGE_EOD, &x->fail) == -1 ||
		    send_body(s, t, 0, size, SMTP_STAGE_EOD, &x->fail) == -1)
			goto broken;
		if (read_envelope(x, x->n) == -1)
			goto broken;
		if (read_reply(s, SMTP_STAGE_EOD, s->p.timeout_data, 0,
		    &x->fail) == -1)
			goto broken;
		if (!x->mail_ok || x->accepted == 0)
			goto refused;
		status_reply(s, &eod, SMTP_STAGE_EOD);
	} else {
		queue_cmd(s, &out, "DATA", NULL, &x->fail, SMTP_STAGE_DATA);
		if (flush(s, &out, SMTP_STAGE_DATA, &x->fail) == -1 ||
		    read_envelope(x, x->n) == -1 ||
		    read_reply(s, SMTP_STAGE_DATA, s->p.timeout_command, 0,
		    &x->fail) == -1)
			goto broken;
		if (s->reply.code != 354) {
			if (!x->mail_ok || x->accepted == 0)
				goto refused;
			status_reply(s, &eod, SMTP_STAGE_DATA);
			eod.ev = SMTP_EV_REPLY;
			goto settled;
		}
		if (!x->mail_ok || x->accepted == 0) {
			/*
			 * RFC 2920 §3.1: a 354 with no valid recipient gets
			 * an empty message, which the server must refuse.
			 */
			queue_cmd(s, &out, ".", NULL, &x->fail,
			    SMTP_STAGE_EOD);
			if (flush(s, &out, SMTP_STAGE_EOD, &x->fail) == -1 ||
			    read_reply(s, SMTP_STAGE_EOD, s->p.timeout_data,
			    0, &x->fail) == -1)
				goto broken;
			goto refused;
		}
		if (send_body(s, t, 1, size, SMTP_STAGE_EOD, &x->fail) == -1 ||
		    read_reply(s, SMTP_STAGE_EOD, s->p.timeout_data, 0,
		    &x->fail) == -1)
			goto broken;
		status_reply(s, &eod, SMTP_STAGE_EOD);
	}
settled:
	t->st = eod;
	if (eod.ev == SMTP_EV_OK)
		s->need_rset = 0;
	ret = eod.ev == SMTP_EV_OK ? (int)x->accepted : 0;
	/*
	 * The message's fate applies to the recipients it was sent to; the
	 * ones held back by a recipient limit wait for the next transaction
	 * only if this one got through.
	 */
	for (k = 0; k < x->n; k++)
		if (x->rs[x->idx[k]] == R_ACCEPTED) {
			t->rcpts[x->idx[k]].st = eod;
			x->rs[x->idx[k]] = R_DONE;
		}
	if (eod.ev != SMTP_EV_OK)
		settle(x, &eod, 1);
	goto out;
refused:
	/* MAIL refused, or no recipient accepted: nothing more to say. */
	if (!x->mail_ok) {
		settle(x, &x->mail_st, 1);
		t->st = x->mail_st;
		s->need_rset = 0;
	} else {
		/* 452 for all, none accepted: that is a deferral, not more. */
		for (k = 0; k < x->n; k++)
			if (x->rs[x->idx[k]] == R_RETRY)
				x->rs[x->idx[k]] = R_DONE;
		t->st = t->rcpts[x->idx[0]].st;
	}
	ret = 0;
	goto out;
broken_local:
	s->broken = 1;
broken:
	settle(x, &x->fail, 1);
	t->st = x->fail;
	ret = -1;
out:
	buf_free(&out);
	return ret;
}

static int
needs_utf8(const struct smtp_txn *t)
{
	size_t	 i;

	if (t->smtputf8)
		return 1;
	for (i = 0; i < t->nrcpts; i++)
		if (t->rcpts[i].smtputf8)
			return 1;
	return 0;
}

int
smtp_send(struct smtp_session *s, struct smtp_txn *t)
{
	struct txn_run	 x;
	struct smtp_status st;
	enum rstate	*rs;
	size_t		*idx, i, n;
	off_t		 size;
	int		 utf8, r, delivered = 0;

	t->ntxn = 0;
	memset(&t->st, 0, sizeof(t->st));
	if (!smtp_usable(s)) {
		status_set(&t->st, SMTP_EV_BROKEN, SMTP_STAGE_MAIL, 0, "",
		    "the session with %s is not usable", s->p.server);
		for (i = 0; i < t->nrcpts; i++)
			t->rcpts[i].st = t->st;
		return -1;
	}
	if (t->nrcpts == 0)
		return 0;
	size = msg_stream_size(t->msg, t->msg_flags);
	/* RFC 1870 §6: refuse before sending what the server cannot take. */
	if ((s->caps.ext & EXT_SIZE) && s->caps.size > 0 &&
	    (uint64_t)size > s->caps.size) {
		status_set(&t->st, SMTP_EV_SIZE, SMTP_STAGE_MAIL, 0, "5.3.4",
		    "message size %lld exceeds the limit of %llu octets of %s",
		    (long long)size, (unsigned long long)s->caps.size,
		    s->p.server);
		for (i = 0; i < t->nrcpts; i++)
			t->rcpts[i].st = t->st;
		return 0;
	}
	rs = xcalloc(t->nrcpts, sizeof(*rs));
	idx = xcalloc(t->nrcpts, sizeof(*idx));
	utf8 = needs_utf8(t) && (s->caps.ext & EXT_SMTPUTF8);
	/* RFC 6531 §3.4: without the extension such mail cannot go. */
	for (i = 0; i < t->nrcpts; i++) {
		if (!(s->caps.ext & EXT_SMTPUTF8) &&
		    (t->smtputf8 || t->rcpts[i].smtputf8)) {
			status_set(&t->rcpts[i].st, SMTP_EV_NOUTF8,
			    t->smtputf8 ? SMTP_STAGE_MAIL : SMTP_STAGE_RCPT,
			    0, "5.6.7", "SMTPUTF8 is required, but was not "
			    "offered by %s", s->p.server);
			rs[i] = R_DONE;
			t->st = t->rcpts[i].st;
		}
	}
	/* Each round makes progress or ends: at most nrcpts of them. */
	while (t->ntxn < t->nrcpts) {
		for (n = 0, i = 0; i < t->nrcpts; i++)
			if (rs[i] == R_UNSENT || rs[i] == R_RETRY) {
				rs[i] = R_UNSENT;
				idx[n++] = i;
			}
		if (n == 0)
			break;
		if (s->need_rset) {
			r = command(s, "RSET", NULL, SMTP_STAGE_MAIL, 0, &st);
			if (r == 0 && s->reply.code / 100 != 2) {
				status_reply(s, &st, SMTP_STAGE_MAIL);
				st.ev = SMTP_EV_REPLY;
				s->broken = 1;
				r = -1;
			}
			if (r == -1) {
				for (i = 0; i < n; i++) {
					t->rcpts[idx[i]].st = st;
					rs[idx[i]] = R_DONE;
				}
				t->st = st;
				break;
			}
			s->need_rset = 0;
		}
		memset(&x, 0, sizeof(x));
		x.s = s;
		x.t = t;
		x.rs = rs;
		x.idx = idx;
		x.n = n;
		t->ntxn++;
		r = one_txn(&x, size, utf8);
		if (r < 0)
			break;
		delivered += r;
		if (r == 0) {
			/* No progress: what waits for a retry stays put. */
			for (i = 0; i < n; i++)
				if (rs[idx[i]] == R_RETRY) {
					rs[idx[i]] = R_DONE;
				}
			break;
		}
	}
	/* Recipients never reached (a broken session) share its status. */
	for (i = 0; i < t->nrcpts; i++)
		if (rs[i] != R_DONE && rs[i] != R_RETRY && rs[i] != R_ACCEPTED)
			t->rcpts[i].st = t->st;
	free(rs);
	free(idx);
	return delivered;
}
