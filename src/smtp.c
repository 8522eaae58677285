/*
 * smtp.c: one SMTP client session (RFC 5321), straight-line and blocking
 * per worker, every read and write through net.c's time-outs.
 *
 * Round trips (SPEC §9): connect, greeting, EHLO, then with PIPELINING
 * (RFC 2920) the whole envelope in one write; with CHUNKING (RFC 3030)
 * "BDAT n LAST" and the body follow in the same write, so a transaction
 * costs one round trip; on the session's last transaction QUIT joins that
 * write too. QUIT is never waited for (as qmail-remote). Each flight is
 * one write and net.c sets TCP_NODELAY: no part of a flight may wait for
 * the peer's delayed ACK.
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
#define AUTH_LINE_MAX	512	/* RFC 5321 §4.5.3.1.4, CRLF included */

/* Per-recipient progress inside smtp_send(). */
enum rcpt_state {
	R_UNSENT,	/* not yet sent in this transaction */
	R_SENT,		/* RCPT written, reply not read */
	R_ACCEPTED,	/* RCPT 2xx, waiting for the end of data */
	R_RETRY,	/* too many recipients: next transaction */
	R_DONE		/* st is final */
};

/*
 * What the transaction functions share: the message and the state of
 * each recipient for the whole smtp_send(), then what the server has
 * answered so far in the current transaction (cleared by txn_begin()).
 */
struct txn_run {
	struct smtp_session *session;
	struct smtp_txn	*txn;
	off_t		 size;		/* of the message as sent */
	int		 probe;		/* smtp_probe(): no message, no DATA */
	int		 utf8;		/* MAIL carries SMTPUTF8 */
	enum rcpt_state	*state;		/* of each of txn's recipients */
	unsigned char	*asked;		/* an RCPT went for it (nrcpt_out) */
	size_t		*batch;		/* the ones in this transaction */
	size_t		 nbatch;

	struct buf	 out;		/* commands not written yet */
	size_t		 nread;		/* RCPT replies read */
	size_t		 rcpts_out;	/* RCPTs written (or queued to be) */
	size_t		 accepted;
	int		 mail_pending;	/* MAIL reply not read yet */
	int		 mail_ok;
	struct smtp_status mail_st;	/* MAIL's reply, or a local refusal */
	struct smtp_status fail;	/* a session failure */
	struct smtp_status eod;		/* the message's fate */
};

/* Where a transaction stands after each of its parts. */
enum txn_step {
	TXN_ENVELOPE_SENT,	/* MAIL and RCPTs out; the body comes next */
	TXN_ANSWERED,		/* the server gave the message's fate: eod */
	TXN_REFUSED,		/* MAIL refused, or no recipient accepted */
	TXN_BROKEN		/* a session failure: fail */
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

/* A note of ours about the session ('!' in the transcript). */
static void __attribute__((format(printf, 2, 3)))
note(struct smtp_session *s, const char *fmt, ...)
{
	char	 line[600];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		transcript(s, '!', line, strlen(line));
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
	enum reply_status	 fed;
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
		fed = reply_feed(&s->reply, s->line, len, err, sizeof(err));
		if (fed == REPLY_DONE)
			break;
		if (fed == REPLY_BAD) {
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
	int		 rc;

	buf_init(&out);
	rc = queue_cmd(s, &out, cmd, shown, st, stage);
	if (rc == 0)
		rc = flush(s, &out, stage, st);
	buf_free(&out);
	if (rc == 0)
		rc = read_reply(s, stage, s->p.timeout_command, redact, st);
	return rc;
}

/* Without a configured name: "[192.0.2.1]" of our end (RFC 5321 §4.1.4). */
static void
helo_name(struct smtp_session *s, char *out, size_t outlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 ip[INET6_ADDRSTRLEN];
	const void		*addr;

	if (s->p.helo != NULL && s->p.helo[0] != '\0') {
		strlcpy(out, s->p.helo, outlen);
		return;
	}
	strlcpy(out, "[127.0.0.1]", outlen);
	if (getsockname(s->conn.fd, (struct sockaddr *)&ss, &sslen) == -1)
		return;
	if (ss.ss_family == AF_INET6) {
		addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		if (inet_ntop(AF_INET6, addr, ip, sizeof(ip)) != NULL)
			snprintf(out, outlen, "[IPv6:%s]", ip);
	} else if (ss.ss_family == AF_INET) {
		addr = &((struct sockaddr_in *)&ss)->sin_addr;
		if (inet_ntop(AF_INET, addr, ip, sizeof(ip)) != NULL)
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
	tp.tlsa = s->p.tlsa;
	tp.ntlsa = s->p.ntlsa;
	tp.tls12 = s->p.tls12;
	if (tls_start(&s->conn, &tp, s->p.timeout_command) == -1) {
		status_set(st, SMTP_EV_TLS, stage, 0, "", "%s", s->conn.err);
		note(s, "TLS failed: %s", s->conn.err);
		s->broken = 1;
		return -1;
	}
	s->tls_active = 1;
	tls_describe(s->conn.tls, s->tls_info, sizeof(s->tls_info));
	/* -v and the transcript say how the session is protected. */
	note(s, "TLS established: %s", s->tls_info);
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

/*
 * The session goes on in plain text, and -v, the transcript and the log
 * line say why (SPEC §6).
 */
static void __attribute__((format(printf, 2, 3)))
plain(struct smtp_session *s, const char *fmt, ...)
{
	char	 why[256], *p;
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	(void)text_printable(why, strlen(why));
	snprintf(s->tls_plain, sizeof(s->tls_plain), "none: %s, plain text",
	    why);
	/*
	 * No parenthesis in the log's tls= field: log tools read the reason
	 * before it as the last "(...)" of the line.
	 */
	for (p = s->tls_plain; *p != '\0'; p++)
		if (*p == '(' || *p == ')')
			*p = *p == '(' ? '[' : ']';
	note(s, "%s; delivering in plain text", why);
}

/* STARTTLS as p.tls asks: START_OK is TLS up, or plain text allowed. */
static enum start_result
starttls(struct smtp_session *s, int allow, struct smtp_status *st)
{
	int	 required = s->p.tls == SMTP_TLS_STARTTLS;

	if (s->p.tls == SMTP_TLS_OFF)
		strlcpy(s->tls_plain, "off", sizeof(s->tls_plain));
	if (s->p.tls != SMTP_TLS_MAY && s->p.tls != SMTP_TLS_IFOFFERED &&
	    !required)
		return START_OK;
	if (!(s->caps.ext & EXT_STARTTLS)) {
		if (!required) {
			plain(s, "STARTTLS not offered");
			return START_OK;
		}
		if (s->p.dane)
			status_set(st, SMTP_EV_NOTLS, SMTP_STAGE_STARTTLS, 0,
			    "", "STARTTLS not offered by %s but its TLSA "
			    "records require it", s->p.server);
		else
			status_set(st, SMTP_EV_NOTLS, SMTP_STAGE_STARTTLS, 0,
			    "", "TLS is required but %s does not offer "
			    "STARTTLS", s->p.server);
		note(s, "%s", st->text);
		return START_FAILED;
	}
	if (!allow)
		return START_OK;
	if (command(s, "STARTTLS", NULL, SMTP_STAGE_STARTTLS, 0, st) == -1)
		return START_FAILED;
	if (s->reply.code != 220) {
		/* RFC 3207 §4: opportunistic TLS goes on without it. */
		if (s->p.tls == SMTP_TLS_MAY && !s->broken) {
			char	 sum[200];

			reply_summary(&s->reply, sum, sizeof(sum));
			plain(s, "STARTTLS refused: %s", sum);
			return START_OK;
		}
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
		    " (PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER send the "
		    "secret itself and are only used under TLS)");
	return mech;
}

/*
 * "AUTH mech [initial-response]"; the transcript never sees the latter.
 * RFC 4954 §4: the command keeps to SMTP's line limit, so a longer
 * initial response (an OAuth2 token, 64 KiB at most) is held in *held,
 * to answer the server's empty 334 (RFC 4422 §5.1).
 */
static int
auth_command(struct smtp_session *s, struct sasl *sasl, const char *name,
    char **held, struct smtp_status *st)
{
	char	 shown[64];
	char	*initial, *cmd;
	int	 rc;

	initial = sasl_initial(sasl);
	if (initial != NULL &&
	    strlen(name) + strlen(initial) + 8 > AUTH_LINE_MAX) {
		*held = initial;
		initial = NULL;
	}
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

/*
 * Answer the server's 334 challenges until it says something else; the
 * first with the held initial response, if any (its ownership moves here).
 */
static int
auth_challenges(struct smtp_session *s, struct sasl *sasl, const char *name,
    char **held, struct smtp_status *st)
{
	char	 err[256];
	char	*response;
	int	 step, rc;

	for (step = 0; s->reply.code == 334; step++) {
		if (step == AUTH_STEPS_MAX)
			return auth_cancel(s, name, "too many challenges", st);
		if (*held != NULL) {
			response = *held;
			*held = NULL;
		} else if (sasl_step(sasl, s->reply.text.data != NULL ?
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
	char		*held = NULL;
	int		 rc;

	rc = auth_command(s, sasl, name, &held, st);
	if (rc == 0)
		rc = auth_challenges(s, sasl, name, &held, st);
	sasl_free_response(held);
	if (rc == -1)
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

/* The run's deadline in mono_ms() time, INT64_MAX for none. */
static int64_t
deadline_ms(const struct smtp_session *s)
{
	const struct timespec *d = &s->p.deadline;

	if (d->tv_sec == 0 && d->tv_nsec == 0)
		return INT64_MAX;
	return (int64_t)d->tv_sec * 1000 + d->tv_nsec / 1000000;
}

/*
 * The secret is fetched only now, when a mechanism is agreed: a token
 * file is read as it is at this connection, a command run for it.
 */
static int
auth(struct smtp_session *s, struct smtp_status *st)
{
	struct sasl	 sasl;
	struct secret	 secret;
	enum sasl_mech	 mech;
	char		 err[400];
	int		 rc;

	if ((mech = auth_choose(s, st)) == SASL_NONE)
		return -1;
	if (secret_fetch(&s->p.auth_secret, deadline_ms(s), &secret, err,
	    sizeof(err)) == -1) {
		status_set(st, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 0, "", "%s", err);
		return -1;
	}
	rc = sasl_start(&sasl, mech, s->p.auth_user, secret.data, err,
	    sizeof(err));
	secret_free(&secret);
	if (rc == -1) {
		status_set(st, SMTP_EV_AUTH, SMTP_STAGE_AUTH, 0, "",
		    "AUTH %s: %s", sasl_mech_name(mech), err);
		sasl_end(&sasl);
		return -1;
	}
	sasl_set_server(&sasl, s->p.server, s->p.port);
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
		if (!s->broken && !s->quit_sent) {
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
	s->quit_sent = 0;
	s->tls_active = 0;
	s->tls_plain[0] = '\0';
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
		if (result == START_OK) {
			/* Say so: the mail goes on without encryption. */
			plain(s, "STARTTLS failed: %.200s", first.text);
			return 0;
		}
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

void
smtp_tls_state(const struct smtp_session *s, char *out, size_t outlen)
{
	const char	*paren;

	if (!s->tls_active) {
		strlcpy(out, s->tls_plain, outlen);
		return;
	}
	/* "TLSv1.3 with cipher X": the verification is the transcript's. */
	paren = strstr(s->tls_info, " (");
	snprintf(out, outlen, "%.*s", paren != NULL ?
	    (int)(paren - s->tls_info) : (int)strlen(s->tls_info),
	    s->tls_info);
}

int
smtp_usable(const struct smtp_session *s)
{
	return s->open && !s->broken && !s->quit_sent && s->conn.fd != -1;
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
	struct smtp_session *session;
	char		 buf[BODY_BUF];
	size_t		 len;
	int		 stuff;		/* dot-stuffing, RFC 5321 §4.5.2 */
	int		 bol;		/* at the start of a line */
	char		 last;
	off_t		 count;		/* octets of message (unstuffed) */
	enum net_status	 ns;
};

static int
body_out(struct body *body, const char *p, size_t n)
{
	size_t	 room;

	while (n > 0) {
		if (body->len == sizeof(body->buf)) {
			body->ns = net_write(&body->session->conn, body->buf,
			    body->len, body->session->p.timeout_data);
			if (body->ns != NET_OK)
				return 1;
			body->len = 0;
		}
		room = fill_upto(body->buf, &body->len, sizeof(body->buf), p,
		    n);
		p += room;
		n -= room;
	}
	return 0;
}

static int
body_put(void *ctx, const char *p, size_t n)
{
	struct body	*body = ctx;
	const char	*nl;
	size_t		 linelen;

	if (n == 0)
		return 0;
	body->count += (off_t)n;
	body->last = p[n - 1];
	while (n > 0) {
		if (body->stuff && body->bol && p[0] == '.' &&
		    body_out(body, ".", 1))
			return 1;
		nl = memchr(p, '\n', n);
		linelen = nl != NULL ? (size_t)(nl - p) + 1 : n;
		if (body_out(body, p, linelen))
			return 1;
		body->bol = nl != NULL;
		p += linelen;
		n -= linelen;
	}
	return 0;
}

/*
 * Stream the message (with DATA: dot-stuffed and terminated; with BDAT:
 * exactly run->size octets), after the commands still in run->out and
 * followed by QUIT when quit is set, all in one write when they fit
 * BODY_BUF: a flight split in two would leave its second part waiting
 * for the peer's ACK of the first (SPEC §6). Returns 0, or -1 with
 * run->fail set; the session is then broken, since the server is in the
 * middle of the message.
 */
static int
send_body(struct txn_run *run, int stuff, int quit)
{
	struct smtp_session *s = run->session;
	struct smtp_status *st = &run->fail;
	struct body	*body;
	char		 note[64];
	int		 rc, saved_errno;

	body = xcalloc(1, sizeof(*body));
	body->session = s;
	body->stuff = stuff;
	body->bol = 1;
	body->ns = NET_OK;
	rc = body_out(body, run->out.data, run->out.len);
	buf_reset(&run->out);
	if (rc == 0 && run->txn->headlen > 0)
		rc = body_put(body, run->txn->head, run->txn->headlen);
	if (rc == 0)
		rc = msg_stream(run->txn->msg, run->txn->msg_flags, body_put,
		    body);
	saved_errno = errno;
	if (rc == 0 && stuff) {
		if (body->count > 0 && body->last != '\n')
			rc = body_out(body, "\r\n", 2);
		if (rc == 0)
			rc = body_out(body, ".\r\n", 3);
	}
	if (rc == 0 && quit)
		rc = body_out(body, "QUIT\r\n", 6);
	if (rc == 0 && body->len > 0) {
		body->ns = net_write(&s->conn, body->buf, body->len,
		    s->p.timeout_data);
		rc = body->ns != NET_OK;
	}
	if (rc == -1) {
		status_set(st, SMTP_EV_LOCAL, SMTP_STAGE_EOD, 0, "4.3.0",
		    "reading the spooled message failed: %s",
		    strerror(saved_errno));
		s->broken = 1;
	} else if (rc != 0)
		status_net(s, st, SMTP_STAGE_EOD, body->ns,
		    "sending the message");
	else if (!stuff && body->count != run->size) {
		status_set(st, SMTP_EV_LOCAL, SMTP_STAGE_EOD, 0, "4.3.0",
		    "the spooled message changed size while being sent");
		s->broken = 1;
		rc = -1;
	}
	if (rc == 0) {
		snprintf(note, sizeof(note), "(message: %lld octets)",
		    (long long)body->count);
		transcript(s, '>', note, strlen(note));
		if (quit) {
			transcript(s, '>', "QUIT", 4);
			s->quit_sent = 1;
		}
	}
	free(body);
	return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------- commands */

static void
notify_param(struct buf *cmd, int notify)
{
	const char	*sep = "";

	buf_adds(cmd, " NOTIFY=");
	if (notify & NOTIFY_NEVER) {
		buf_adds(cmd, "NEVER");
		return;
	}
	if (notify & NOTIFY_SUCCESS) {
		buf_adds(cmd, "SUCCESS");
		sep = ",";
	}
	if (notify & NOTIFY_FAILURE) {
		buf_printf(cmd, "%sFAILURE", sep);
		sep = ",";
	}
	if (notify & NOTIFY_DELAY)
		buf_printf(cmd, "%sDELAY", sep);
}


static char *
mail_cmd(const struct txn_run *run)
{
	const struct smtp_txn *txn = run->txn;
	struct buf	 cmd;
	char		*xtext;
	unsigned	 ext = run->session->caps.ext;

	buf_init(&cmd);
	buf_printf(&cmd, "MAIL FROM:<%s>", txn->sender);
	/* A probe has no message to declare. */
	if ((ext & EXT_SIZE) && !run->probe)
		buf_printf(&cmd, " SIZE=%lld", (long long)run->size);
	if (txn->eightbit && (ext & EXT_8BITMIME) && !run->probe)
		buf_adds(&cmd, " BODY=8BITMIME");
	if (run->utf8)
		buf_adds(&cmd, " SMTPUTF8");
	if (ext & EXT_DSN) {
		if (txn->ret == RET_FULL)
			buf_adds(&cmd, " RET=FULL");
		else if (txn->ret == RET_HDRS)
			buf_adds(&cmd, " RET=HDRS");
		if (txn->envid != NULL && txn->envid[0] != '\0') {
			xtext = xtext_encode(txn->envid);
			buf_printf(&cmd, " ENVID=%s", xtext);
			free(xtext);
		}
	}
	return buf_release(&cmd);
}

static char *
rcpt_cmd(const struct smtp_session *s, const struct smtp_rcpt *rcpt)
{
	struct buf	 cmd;
	char		*xtext;

	buf_init(&cmd);
	buf_printf(&cmd, "RCPT TO:<%s>", rcpt->addr);
	if (s->caps.ext & EXT_DSN) {
		if (rcpt->notify != 0)
			notify_param(&cmd, rcpt->notify);
		/* RFC 3461 §4.2; a UTF-8 ORCPT would need RFC 6533. */
		if (rcpt->orcpt != NULL && rcpt->orcpt[0] != '\0' &&
		    !has_8bit(rcpt->orcpt, strlen(rcpt->orcpt))) {
			xtext = xtext_encode(rcpt->orcpt);
			buf_printf(&cmd, " ORCPT=rfc822;%s", xtext);
			free(xtext);
		}
	}
	return buf_release(&cmd);
}

/* ----------------------------------------------------- transactions */

/* RFC 5321 §4.5.3.1.10: 452 (or x.5.3) means "no more in this one". */
static int
too_many(const struct reply *reply)
{
	size_t	 enhlen = strlen(reply->enh);

	if (reply->code / 100 == 2)
		return 0;
	if (enhlen >= 4 && strcmp(reply->enh + 1, ".5.3") == 0)
		return 1;
	return reply->code == 452 && enhlen == 0;
}

/* MAIL's reply, when it is still owed. */
static int
read_mail_reply(struct txn_run *run)
{
	struct smtp_session *s = run->session;

	if (!run->mail_pending)
		return 0;
	run->mail_pending = 0;
	if (read_reply(s, SMTP_STAGE_MAIL, s->p.timeout_command, 0,
	    &run->fail) == -1)
		return -1;
	status_reply(s, &run->mail_st, SMTP_STAGE_MAIL);
	run->mail_ok = s->reply.code / 100 == 2;
	if (s->broken) {	/* 421: the server is closing */
		run->fail = run->mail_st;
		return -1;
	}
	return 0;
}

/*
 * A 421 to rcpt's RCPT: its own reply (SPEC §6 rule 5), but for the
 * other recipients still open the session broke before the transaction
 * completed (rule 3): the server's closing is not an answer about them.
 */
static void
session_closed(struct txn_run *run, const struct smtp_rcpt *rcpt)
{
	status_set(&run->fail, SMTP_EV_BROKEN, SMTP_STAGE_RCPT, 0, "",
	    "lost connection: the server closed the session after RCPT TO "
	    "(%s)", rcpt->st.text);
}

/* Read the replies owed: MAIL's, then RCPTs' up to nsent. */
static int
read_envelope(struct txn_run *run, size_t nsent)
{
	struct smtp_session *s = run->session;
	struct smtp_rcpt *rcpt;
	size_t		 i;

	if (read_mail_reply(run) == -1)
		return -1;
	for (; run->nread < nsent; run->nread++) {
		i = run->batch[run->nread];
		rcpt = &run->txn->rcpts[i];
		if (read_reply(s, SMTP_STAGE_RCPT, s->p.timeout_command, 0,
		    &run->fail) == -1)
			return -1;
		if (!run->mail_ok) {
			/* The 503s that follow a refused MAIL say nothing. */
			rcpt->st = run->mail_st;
			run->state[i] = R_DONE;
			continue;
		}
		status_reply(s, &rcpt->st, SMTP_STAGE_RCPT);
		if (rcpt->st.ev == SMTP_EV_OK) {
			run->state[i] = R_ACCEPTED;
			run->accepted++;
		} else if (too_many(&s->reply) && !s->broken)
			run->state[i] = R_RETRY;
		else
			run->state[i] = R_DONE;
		if (s->broken) {
			session_closed(run, rcpt);
			return -1;
		}
	}
	return 0;
}

/* Write what is queued in run->out, then read the replies owed so far. */
static int
exchange(struct txn_run *run, enum smtp_stage stage, size_t nsent)
{
	if (flush(run->session, &run->out, stage, &run->fail) == -1)
		return -1;
	return read_envelope(run, nsent);
}

/* Nothing can be delivered: MAIL refused, or no RCPT accepted. */
static int
nobody_accepted(const struct txn_run *run)
{
	return !run->mail_ok || run->accepted == 0;
}

/*
 * MAIL and the RCPTs. With PIPELINING they go out in flights of
 * SMTP_FLIGHT_RCPTS recipients, the last flight's replies read only
 * after the body's command (with BDAT, after the body too); without it,
 * in lock-step. A local refusal of MAIL
 * (the session is fine) ends the transaction as a refused MAIL.
 */
static enum txn_step
send_envelope(struct txn_run *run)
{
	struct smtp_session *s = run->session;
	struct smtp_rcpt *rcpt;
	char		*cmd;
	int		 pipe = (s->caps.ext & EXT_PIPELINING) != 0, rc;
	size_t		 k;

	cmd = mail_cmd(run);
	rc = queue_cmd(s, &run->out, cmd, NULL, &run->mail_st,
	    SMTP_STAGE_MAIL);
	free(cmd);
	if (rc == -1)
		return TXN_REFUSED;
	run->mail_pending = 1;
	if (!pipe && exchange(run, SMTP_STAGE_MAIL, 0) == -1)
		return TXN_BROKEN;
	if (!pipe && !run->mail_ok)
		return TXN_REFUSED;
	for (k = 0; k < run->nbatch; k++) {
		rcpt = &run->txn->rcpts[run->batch[k]];
		cmd = rcpt_cmd(s, rcpt);
		rc = queue_cmd(s, &run->out, cmd, NULL, &run->fail,
		    SMTP_STAGE_RCPT);
		free(cmd);
		if (rc == -1) {
			/* Never reached with validated addresses. */
			s->broken = 1;
			return TXN_BROKEN;
		}
		run->state[run->batch[k]] = R_SENT;
		run->rcpts_out++;
		if (!run->asked[run->batch[k]]) {
			run->asked[run->batch[k]] = 1;
			run->txn->nrcpt_out++;
		}
		if (pipe && ((k + 1) % SMTP_FLIGHT_RCPTS != 0 ||
		    k + 1 == run->nbatch))
			continue;
		if (exchange(run, SMTP_STAGE_RCPT, k + 1) == -1)
			return TXN_BROKEN;
		if (!run->mail_ok)
			break;
	}
	s->need_rset = 1;	/* a transaction is open until the end */
	/* Known already (lock-step, or a flight boundary): stop here. */
	if (!run->mail_pending && !run->mail_ok)
		return TXN_REFUSED;
	if (run->nread == run->nbatch && run->accepted == 0)
		return TXN_REFUSED;
	return TXN_ENVELOPE_SENT;
}

/*
 * Whether QUIT may join the message's flight: the caller closes next, and
 * RFC 2920 §3.1 lets QUIT end a group that the content begins. Only when
 * the whole batch went in one flight of at most SMTP_FLIGHT_RCPTS, which
 * RFC 5321 §4.5.3.1.8 obliges a server to accept in one transaction: a
 * recipient limit that would need another transaction is then not
 * expected (if one comes anyway, those recipients keep their 4xx).
 */
static int
quit_in_flight(const struct txn_run *run)
{
	return run->txn->last && run->nbatch <= SMTP_FLIGHT_RCPTS &&
	    (run->session->caps.ext & EXT_PIPELINING);
}

/*
 * RFC 3030: "BDAT size LAST" and the body in the envelope's flight (with
 * QUIT too when the session ends here).
 */
static enum txn_step
body_by_bdat(struct txn_run *run)
{
	struct smtp_session *s = run->session;
	char		 bdat[48];

	snprintf(bdat, sizeof(bdat), "BDAT %lld LAST", (long long)run->size);
	queue_cmd(s, &run->out, bdat, NULL, &run->fail, SMTP_STAGE_EOD);
	if (send_body(run, 0, quit_in_flight(run)) == -1 ||
	    read_envelope(run, run->nbatch) == -1 ||
	    read_reply(s, SMTP_STAGE_EOD, s->p.timeout_data, 0,
	    &run->fail) == -1)
		return TXN_BROKEN;
	if (nobody_accepted(run))
		return TXN_REFUSED;
	status_reply(s, &run->eod, SMTP_STAGE_EOD);
	return TXN_ANSWERED;
}

/* DATA, and the body after its 354 (RFC 5321 §4.1.1.4). */
static enum txn_step
body_by_data(struct txn_run *run)
{
	struct smtp_session *s = run->session;

	queue_cmd(s, &run->out, "DATA", NULL, &run->fail, SMTP_STAGE_DATA);
	if (exchange(run, SMTP_STAGE_DATA, run->nbatch) == -1 ||
	    read_reply(s, SMTP_STAGE_DATA, s->p.timeout_command, 0,
	    &run->fail) == -1)
		return TXN_BROKEN;
	if (s->reply.code != 354) {
		if (nobody_accepted(run))
			return TXN_REFUSED;
		status_reply_as(s, &run->eod, SMTP_STAGE_DATA, SMTP_EV_REPLY);
		return TXN_ANSWERED;
	}
	if (nobody_accepted(run)) {
		/*
		 * RFC 2920 §3.1: a 354 with no valid recipient gets an empty
		 * message, which the server must refuse.
		 */
		queue_cmd(s, &run->out, ".", NULL, &run->fail,
		    SMTP_STAGE_EOD);
		if (flush(s, &run->out, SMTP_STAGE_EOD, &run->fail) == -1 ||
		    read_reply(s, SMTP_STAGE_EOD, s->p.timeout_data, 0,
		    &run->fail) == -1)
			return TXN_BROKEN;
		return TXN_REFUSED;
	}
	if (send_body(run, 1, quit_in_flight(run)) == -1 ||
	    read_reply(s, SMTP_STAGE_EOD, s->p.timeout_data, 0,
	    &run->fail) == -1)
		return TXN_BROKEN;
	status_reply(s, &run->eod, SMTP_STAGE_EOD);
	return TXN_ANSWERED;
}

/* Give every recipient of the transaction still open the status st. */
static void
settle_open(struct txn_run *run, const struct smtp_status *st)
{
	size_t	 k, i;

	for (k = 0; k < run->nbatch; k++) {
		i = run->batch[k];
		if (run->state[i] == R_DONE)
			continue;
		run->txn->rcpts[i].st = *st;
		run->state[i] = R_DONE;
	}
}

/*
 * The message's fate applies to the recipients it was sent to; the ones
 * held back by a recipient limit wait for the next transaction only if
 * this one got through. Returns the number delivered.
 */
static int
settle_answered(struct txn_run *run)
{
	const struct smtp_status *eod = &run->eod;
	size_t		 k, i;

	run->txn->st = *eod;
	for (k = 0; k < run->nbatch; k++) {
		i = run->batch[k];
		if (run->state[i] == R_ACCEPTED) {
			run->txn->rcpts[i].st = *eod;
			run->state[i] = R_DONE;
		}
	}
	if (eod->ev != SMTP_EV_OK) {
		settle_open(run, eod);
		return 0;
	}
	run->session->need_rset = 0;
	return (int)run->accepted;
}

/* MAIL refused, or no recipient accepted: nothing more to say. */
static int
settle_refused(struct txn_run *run)
{
	size_t	 k;

	if (!run->mail_ok) {
		settle_open(run, &run->mail_st);
		run->txn->st = run->mail_st;
		run->session->need_rset = 0;
		return 0;
	}
	/* 452 for all, none accepted: that is a deferral, not more. */
	for (k = 0; k < run->nbatch; k++)
		if (run->state[run->batch[k]] == R_RETRY)
			run->state[run->batch[k]] = R_DONE;
	run->txn->st = run->txn->rcpts[run->batch[0]].st;
	return 0;
}

/* A session failure: every recipient still open shares it. */
static int
settle_broken(struct txn_run *run)
{
	settle_open(run, &run->fail);
	run->txn->st = run->fail;
	return -1;
}

static void
txn_begin(struct txn_run *run)
{
	buf_init(&run->out);
	run->nread = 0;
	run->rcpts_out = 0;
	run->accepted = 0;
	run->mail_pending = 0;
	run->mail_ok = 0;
	memset(&run->mail_st, 0, sizeof(run->mail_st));
	memset(&run->fail, 0, sizeof(run->fail));
	memset(&run->eod, 0, sizeof(run->eod));
}

/*
 * One transaction for the recipients of run->batch. Returns the number
 * delivered, or -1 after a session failure (run->fail; the recipients of
 * this transaction that were open have it).
 */
static int
one_txn(struct txn_run *run)
{
	enum txn_step	 step;

	txn_begin(run);
	step = send_envelope(run);
	if (step == TXN_ENVELOPE_SENT)
		step = (run->session->caps.ext & EXT_CHUNKING) ?
		    body_by_bdat(run) : body_by_data(run);
	buf_free(&run->out);
	switch (step) {
	case TXN_ANSWERED:
		return settle_answered(run);
	case TXN_REFUSED:
		return settle_refused(run);
	default:
		return settle_broken(run);
	}
}

/* --------------------------------------------------------- smtp_send */

static int
needs_utf8(const struct smtp_txn *txn)
{
	size_t	 i;

	if (txn->smtputf8)
		return 1;
	for (i = 0; i < txn->nrcpts; i++)
		if (txn->rcpts[i].smtputf8)
			return 1;
	return 0;
}

/* txn->st, already set, for every recipient: none could be tried. */
static void
share_txn_status(struct smtp_txn *txn)
{
	size_t	 i;

	for (i = 0; i < txn->nrcpts; i++)
		txn->rcpts[i].st = txn->st;
}

/* RFC 6531 §3.4: without the extension such mail cannot go. */
static void
refuse_utf8(struct txn_run *run)
{
	struct smtp_session *s = run->session;
	struct smtp_txn	*txn = run->txn;
	size_t		 i;

	if (s->caps.ext & EXT_SMTPUTF8)
		return;
	for (i = 0; i < txn->nrcpts; i++) {
		if (!txn->smtputf8 && !txn->rcpts[i].smtputf8)
			continue;
		status_set(&txn->rcpts[i].st, SMTP_EV_NOUTF8,
		    txn->smtputf8 ? SMTP_STAGE_MAIL : SMTP_STAGE_RCPT, 0,
		    "5.6.7", "SMTPUTF8 is required, but was not offered by %s",
		    s->p.server);
		run->state[i] = R_DONE;
		txn->st = txn->rcpts[i].st;
	}
}

/* The recipients for the next transaction: unsent, or held back by 452. */
static size_t
next_batch(struct txn_run *run)
{
	size_t	 i, n = 0;

	for (i = 0; i < run->txn->nrcpts; i++)
		if (run->state[i] == R_UNSENT || run->state[i] == R_RETRY) {
			run->state[i] = R_UNSENT;
			run->batch[n++] = i;
		}
	return n;
}

/* RSET a transaction left half done; on failure the batch shares it. */
static int
reset_txn(struct txn_run *run)
{
	struct smtp_session *s = run->session;
	int		 rc;

	rc = command(s, "RSET", NULL, SMTP_STAGE_MAIL, 0, &run->fail);
	if (rc == 0 && s->reply.code / 100 != 2) {
		status_reply_as(s, &run->fail, SMTP_STAGE_MAIL, SMTP_EV_REPLY);
		s->broken = 1;
		rc = -1;
	}
	if (rc == -1)
		return settle_broken(run);
	s->need_rset = 0;
	return 0;
}

/*
 * The usual start of smtp_send() and smtp_probe(): 1 with run ready for
 * the transactions, 0 when there is nothing to do, -1 when the session
 * is not usable (every recipient has t->st then).
 */
static int
txn_setup(struct smtp_session *s, struct smtp_txn *t, struct txn_run *run)
{
	t->ntxn = 0;
	t->nrcpt_out = 0;
	memset(&t->st, 0, sizeof(t->st));
	if (!smtp_usable(s)) {
		status_set(&t->st, SMTP_EV_BROKEN, SMTP_STAGE_MAIL, 0, "",
		    "the session with %s is not usable", s->p.server);
		share_txn_status(t);
		return -1;
	}
	if (t->nrcpts == 0)
		return 0;
	memset(run, 0, sizeof(*run));
	run->session = s;
	run->txn = t;
	return 1;
}

/*
 * The transactions, txn each (one_txn or probe_txn), until every
 * recipient is settled. Returns the number accepted.
 */
static int
txn_rounds(struct txn_run *run, int (*txn)(struct txn_run *))
{
	struct smtp_session *s = run->session;
	struct smtp_txn	*t = run->txn;
	size_t		 i;
	int		 n, accepted = 0;

	run->utf8 = needs_utf8(t) && (s->caps.ext & EXT_SMTPUTF8);
	run->state = xcalloc(t->nrcpts, sizeof(*run->state));
	run->batch = xcalloc(t->nrcpts, sizeof(*run->batch));
	run->asked = xcalloc(t->nrcpts, sizeof(*run->asked));
	refuse_utf8(run);
	/*
	 * Each round makes progress or ends: at most nrcpts of them. A round
	 * that delivers nothing has settled every recipient it tried.
	 */
	while (t->ntxn < t->nrcpts) {
		if ((run->nbatch = next_batch(run)) == 0)
			break;
		if (s->need_rset && reset_txn(run) == -1)
			break;
		t->ntxn++;
		if ((n = txn(run)) <= 0)
			break;
		accepted += n;
		/*
		 * Held back by a limit after QUIT went, or after the session
		 * broke once a probe had its answers: they keep their 4xx.
		 */
		if (s->quit_sent || s->broken)
			break;
	}
	/* Recipients never reached (a broken session) share its status. */
	for (i = 0; i < t->nrcpts; i++)
		if (run->state[i] != R_DONE && run->state[i] != R_RETRY &&
		    run->state[i] != R_ACCEPTED)
			t->rcpts[i].st = t->st;
	free(run->state);
	free(run->batch);
	free(run->asked);
	return accepted;
}

int
smtp_send(struct smtp_session *s, struct smtp_txn *t)
{
	struct txn_run	 run;
	int		 rc;

	if ((rc = txn_setup(s, t, &run)) <= 0)
		return rc;
	run.size = msg_stream_size(t->msg, t->msg_flags) + (off_t)t->headlen;
	/* RFC 1870 §6: refuse before sending what the server cannot take. */
	if ((s->caps.ext & EXT_SIZE) && s->caps.size > 0 &&
	    (uint64_t)run.size > s->caps.size) {
		status_set(&t->st, SMTP_EV_SIZE, SMTP_STAGE_MAIL, 0, "5.3.4",
		    "message size %lld exceeds the limit of %llu octets of %s",
		    (long long)run.size, (unsigned long long)s->caps.size,
		    s->p.server);
		share_txn_status(t);
		return 0;
	}
	return txn_rounds(&run, one_txn);
}

/* ------------------------------------------------------- smtp_probe */

/*
 * The replies a probe is owed: MAIL's and those of the RCPTs written,
 * then RSET's. RSET's reply is not the recipients' business: whatever
 * it is, their RCPT replies stand.
 */
static int
probe_replies(struct txn_run *run)
{
	struct smtp_session *s = run->session;
	struct smtp_status rset;

	if (flush(s, &run->out, SMTP_STAGE_RCPT, &run->fail) == -1 ||
	    read_envelope(run, run->rcpts_out) == -1)
		return -1;
	if (read_reply(s, SMTP_STAGE_MAIL, s->p.timeout_command, 0,
	    &rset) == -1)
		return 0;
	if (s->reply.code / 100 == 2)
		s->need_rset = 0;
	return 0;
}

/*
 * One probe transaction: the envelope as one_txn() sends it, then RSET
 * where DATA would be, in the same flight when pipelining (RFC 2920
 * §3.1: RSET may end a group). Never DATA: nothing is delivered. Returns
 * the number of recipients accepted, or -1 after a session failure.
 */
static int
probe_txn(struct txn_run *run)
{
	struct smtp_session *s = run->session;
	enum txn_step	 step;
	size_t		 k, i;
	int		 rc = 0;

	txn_begin(run);
	step = send_envelope(run);
	if (step != TXN_BROKEN) {
		queue_cmd(s, &run->out, "RSET", NULL, &run->fail,
		    SMTP_STAGE_MAIL);
		rc = probe_replies(run);
	}
	buf_free(&run->out);
	if (step == TXN_BROKEN || rc == -1)
		return settle_broken(run);
	if (!run->mail_ok) {
		settle_open(run, &run->mail_st);
		run->txn->st = run->mail_st;
		return 0;
	}
	for (k = 0; k < run->nbatch; k++) {
		i = run->batch[k];
		if (run->state[i] == R_ACCEPTED)
			run->state[i] = R_DONE;	/* its 2xx is the answer */
	}
	run->txn->st = run->txn->rcpts[run->batch[0]].st;
	return (int)run->accepted;
}

int
smtp_probe(struct smtp_session *s, struct smtp_txn *t)
{
	struct txn_run	 run;
	int		 rc;

	if ((rc = txn_setup(s, t, &run)) <= 0)
		return rc;
	run.probe = 1;
	return txn_rounds(&run, probe_txn);
}
