/*
 * smtp.h: one SMTP client session (RFC 5321) over net.c: greeting, EHLO
 * with the HELO fallback, STARTTLS (RFC 3207) or implicit TLS (RFC 8314),
 * AUTH (RFC 4954, through sasl.c), then transactions with PIPELINING
 * (RFC 2920), CHUNKING (RFC 3030), SIZE (RFC 1870), 8BITMIME (RFC 6152),
 * SMTPUTF8 (RFC 6531) and DSN (RFC 3461) parameters.
 *
 * The engine detects; it does not decide. Every failure is reported as a
 * struct smtp_status (what happened, at which stage, the server's reply);
 * policy.c alone says whether that means the next address, the next route,
 * a deferral or a permanent failure.
 *
 * Use:
 *	smtp_open(&s, &params, &st);	connect, greet, EHLO, TLS, AUTH
 *	smtp_send(&s, &txn);		one message to some recipients
 *	smtp_close(&s);			QUIT, not waited for
 *
 * A caller that knows the session ends after a transaction sets its
 * txn.last: QUIT then leaves in the message's own flight (SPEC §6) and
 * smtp_close() only closes.
 */
#ifndef MXSEND_SMTP_H
#define MXSEND_SMTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "dns.h"
#include "message.h"
#include "net.h"
#include "options.h"
#include "reply.h"
#include "secret.h"
#include "tls.h"

/* Where in the session something happened. */
enum smtp_stage {
	SMTP_STAGE_CONNECT,
	SMTP_STAGE_GREETING,
	SMTP_STAGE_EHLO,	/* EHLO, or HELO after 500/502 */
	SMTP_STAGE_STARTTLS,	/* the command, the handshake, EHLO after */
	SMTP_STAGE_AUTH,
	SMTP_STAGE_MAIL,
	SMTP_STAGE_RCPT,
	SMTP_STAGE_DATA,	/* DATA command (354 expected) */
	SMTP_STAGE_EOD		/* the reply to the end of the message */
};

/* What happened. */
enum smtp_event {
	SMTP_EV_OK,		/* the stage succeeded (2xx, 354 for DATA) */
	SMTP_EV_REPLY,		/* the server answered 4xx or 5xx (code) */
	SMTP_EV_CONNECT,	/* the TCP connection could not be made */
	SMTP_EV_TIMEOUT,	/* a stage time-out passed */
	SMTP_EV_DEADLINE,	/* the run's deadline passed */
	SMTP_EV_BROKEN,		/* closed, I/O error, malformed reply */
	SMTP_EV_TLS,		/* handshake or verification failed */
	SMTP_EV_NOTLS,		/* TLS required but STARTTLS not offered */
	SMTP_EV_AUTH,		/* AUTH impossible or refused (code if any) */
	SMTP_EV_SIZE,		/* message larger than the server's SIZE */
	SMTP_EV_NOUTF8,		/* SMTPUTF8 needed but not offered */
	SMTP_EV_LOCAL		/* reading the spool failed */
};

struct smtp_status {
	enum smtp_event	 ev;
	enum smtp_stage	 stage;
	int		 code;		/* the server's reply code, 0 if none */
	char		 enh[16];	/* its enhanced code, "" if none */
	char		 text[512];	/* "550 5.1.1 No such user" or reason */
};

/* TLS for the session. */
enum smtp_tls {
	SMTP_TLS_OFF,		/* never */
	SMTP_TLS_MAY,		/* STARTTLS when offered; a failed
				   handshake reconnects once in plain text */
	SMTP_TLS_IFOFFERED,	/* STARTTLS when offered, and then it must
				   succeed (a relay: never plain text after) */
	SMTP_TLS_STARTTLS,	/* STARTTLS required: without it, no MAIL */
	SMTP_TLS_IMPLICIT	/* handshake before the greeting */
};

/*
 * Transcript hook: every line sent (dir '>') or received ('<'), without
 * CRLF, and notes about the session ('!': a failed STARTTLS that went on
 * in plain text). Lines that carry secrets are already replaced ("AUTH
 * PLAIN ***", "***"), so the hook never sees a credential. The message
 * content is one line "(message: N octets)".
 */
typedef void (*smtp_transcript_fn)(void *ctx, int dir, const char *line,
	    size_t len);

struct smtp_params {
	const char	*server;	/* host name: SNI, verification, logs */
	struct dns_addr	 addr;
	uint16_t	 port;
	const char	*helo;		/* NULL: "[address]" of our socket */
	enum smtp_tls	 tls;
	enum tls_verify	 verify;
	const char	*ca_file;	/* NULL: system trust store */
	const unsigned char *pin;	/* 32 bytes with TLS_VERIFY_PIN */
	const struct tlsa_rr *tlsa;	/* usable records, TLS_VERIFY_DANE */
	size_t		 ntlsa;
	int		 dane;		/* TLSA records require TLS (RFC 7672
					   §2.2): named in the failure */
	int		 tls12;		/* refuse TLS 1.0 and 1.1 (relay) */
	const char	*auth_user;	/* NULL: no AUTH */
	struct secret_source auth_secret;	/* fetched at AUTH only */
	const enum auth_mech *auth_allowed;
	size_t		 nauth_allowed;
	unsigned	 timeout_connect;
	unsigned	 timeout_command;
	unsigned	 timeout_data;
	struct timespec	 deadline;	/* absolute, net_deadline_set(); 0 none */
	smtp_transcript_fn transcript;	/* NULL: none */
	void		*transcript_ctx;
};

struct smtp_session {
	struct conn	 conn;
	struct smtp_params p;
	struct ehlo_caps caps;		/* of the last EHLO */
	int		 open;		/* connected and greeted */
	int		 esmtp;		/* EHLO (not HELO) succeeded */
	int		 tls_active;
	int		 tls_fallback;	/* plain text after a failed handshake */
	int		 authenticated;
	int		 need_rset;	/* a transaction was left half done */
	int		 broken;	/* no more commands can be sent */
	int		 quit_sent;	/* QUIT went with the last flight */
	char		 tls_info[256];	/* "TLSv1.3 ..." when tls_active */
	char		 tls_plain[320];	/* why the session is in plain
					   text: "off" (configured), or
					   "none: STARTTLS not offered";
					   "" before EHLO or with TLS */
	struct reply	 reply;		/* scratch */
	char		*line;		/* scratch, SMTP_LINE_MAX */
};

#define SMTP_LINE_MAX		4096	/* longest reply line accepted */
#define SMTP_FLIGHT_RCPTS	100	/* RCPTs written before reading */

/*
 * Connect to p->addr:p->port and make the session ready for MAIL:
 * greeting, EHLO (HELO on 500/502), TLS as p->tls asks, AUTH when
 * p->auth_user is set. On failure st says what and where (the session
 * is closed, QUIT sent when it could be, and its memory freed; a later
 * smtp_close() is harmless). Returns 0 or -1.
 * p is copied; its strings must outlive the session.
 */
int	 smtp_open(struct smtp_session *, const struct smtp_params *p,
	    struct smtp_status *st);

struct smtp_rcpt {
	const char	*addr;		/* RFC 5321 form */
	const char	*orcpt;		/* for ORCPT=rfc822;..., or NULL */
	int		 notify;	/* NOTIFY_* bits, 0 none */
	int		 smtputf8;	/* non-ASCII local part */
	struct smtp_status st;		/* out: SMTP_EV_OK at SMTP_STAGE_EOD
					   is delivered; anything else says
					   where and why it was not */
};

struct smtp_txn {
	const char	*sender;	/* "" for the null sender */
	int		 smtputf8;	/* sender or a header needs SMTPUTF8 */
	int		 eightbit;	/* declare BODY=8BITMIME if offered */
	enum dsn_ret	 ret;		/* RET_UNSET: none */
	const char	*envid;		/* NULL: none */
	const struct message *msg;
	int		 msg_flags;	/* for msg_stream() */
	const char	*head;		/* fields sent before the message's own
					   (DKIM-Signature:), or NULL */
	size_t		 headlen;
	struct smtp_rcpt *rcpts;
	size_t		 nrcpts;
	int		 last;		/* smtp_close() follows: with PIPELINING
					   QUIT joins the message's flight
					   (SPEC §6); once it went, the
					   session is no longer usable */
	struct smtp_status st;		/* out: the transaction as a whole
					   (last MAIL / end-of-data result) */
	unsigned	 ntxn;		/* out: transactions used (452) */
	size_t		 nrcpt_out;	/* out: recipients asked (an RCPT
					   written for them) */
};

/*
 * Send the message to every recipient of t in one transaction, or in
 * several on this connection when the server limits recipients (452 /
 * x.5.3 after at least one was accepted). Each recipient's st is filled
 * in. Returns the number delivered; -1 when nothing could be tried
 * (the session was not usable; t->st says why and every recipient has
 * that status). A session failure mid-way marks the recipients still
 * open with it and makes the session unusable for more transactions.
 */
int	 smtp_send(struct smtp_session *, struct smtp_txn *t);

/*
 * -bv -v (SPEC §2): ask about the recipients of t without sending a
 * message: MAIL (no SIZE or BODY: there is no message; t->msg may be
 * NULL) and the RCPTs as smtp_send() sends them, pipelined when offered,
 * then RSET where DATA would be; never DATA. Each recipient's st is its
 * RCPT reply (SMTP_EV_OK at SMTP_STAGE_RCPT: the server would take it)
 * or why it was not asked; t->nrcpt_out counts the recipients whose
 * RCPT was written (the probes made). Returns the number accepted, or -1
 * as smtp_send().
 */
int	 smtp_probe(struct smtp_session *, struct smtp_txn *t);

/* Whether another smtp_send() can be tried on this session. */
int	 smtp_usable(const struct smtp_session *);

/* QUIT (unless it went with txn.last), not waited for; close and free. */
void	 smtp_close(struct smtp_session *);

/*
 * The session's TLS state for the log line (SPEC §6, Postfix's tls=
 * style): "TLSv1.3 with cipher ...", "off", "none: STARTTLS not offered,
 * plain text", ...; "" when the session ended before TLS was decided.
 */
void	 smtp_tls_state(const struct smtp_session *, char *out, size_t outlen);

const char *smtp_stage_name(enum smtp_stage);	/* "RCPT", "end of data" */
const char *smtp_event_name(enum smtp_event);

#endif
