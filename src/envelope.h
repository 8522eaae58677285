/*
 * envelope.h: the recipient set and sender of one message (SPEC §2 -t,
 * §4 default_domain/aliases/sender, §5.5, §6 first paragraph).
 *
 * Recipients come from the command line (each argument an address list)
 * and, with -t, from To:/Cc:/Bcc: or, when any Resent- field exists, from
 * Resent-To:/Resent-Cc:/Resent-Bcc: only. Each is qualified with the
 * default domain when it has none, expanded through the aliases (local
 * addresses only: unqualified or at the default domain; recursively,
 * loops cut), its domain lowered and converted to A-labels (libidn2), then
 * deduplicated (local part exact, domain case-insensitive) and grouped by
 * domain. Malformed or refused addresses become failed recipients with a
 * reason and an enhanced status code, so that they are reported like any
 * other permanent failure.
 */
#ifndef MXSEND_ENVELOPE_H
#define MXSEND_ENVELOPE_H

#include <stddef.h>

#include "aliases.h"
#include "config.h"
#include "message.h"
#include "options.h"

enum rcpt_state {
	RCPT_PENDING,
	RCPT_DELIVERED,
	RCPT_DEFERRED,
	RCPT_FAILED
};

enum rcpt_origin {
	ORIGIN_ARGV,		/* command line */
	ORIGIN_HEADER,		/* -t */
	ORIGIN_ALIAS		/* produced by alias expansion */
};

/*
 * Why a recipient failed: the permanent failure classes of SPEC §3, one
 * set for envelope.c (before any delivery), policy.c (-bv and delivery)
 * and the exit status. Queue files store the number (doc/queue.md, FAIL
 * column), so a value never changes meaning.
 */
enum rcpt_fail {
	FAIL_NONE = 0,
	FAIL_SYNTAX = 1,	/* malformed address: 5.1.3 */
	FAIL_ALIAS_KIND = 2,	/* |command, /file, :include: target: 5.3.0 */
	FAIL_IDNA = 3,		/* domain cannot be converted: 5.1.2 */
	FAIL_ALIAS_LOOP = 4,	/* alias expansion refused: a loop or too
				   deep (5.4.6), too many addresses
				   (5.5.3) */
	FAIL_NOHOST = 5,	/* no such domain, null MX, no mail host */
	FAIL_NOUSER = 6,	/* refused at RCPT */
	FAIL_UNAVAILABLE = 7	/* message refused, SIZE, every MX refused
				   this client, expired */
};

struct rcpt {
	char		*addr;		/* RFC 5321 form, domain lower-case
					   A-labels */
	char		*orig;		/* as the user wrote it (for ORCPT,
					   messages) */
	const char	*domain;	/* points into addr after the '@' */
	int		 smtputf8;	/* non-ASCII local part */
	int		 notify;	/* NOTIFY_* bits, 0 unset */
	enum rcpt_origin origin;
	enum rcpt_state	 state;
	enum rcpt_fail	 fail;
	char		 dsn[16];	/* enhanced status of the outcome
					   ("5.1.3") */
	char		*reason;	/* text of the outcome; NULL while
					   pending */
	char		*relay;		/* the server that decided the outcome,
					   "mx.example[192.0.2.1]:25"; NULL
					   none */
	char		*tls;		/* that server's TLS state for the
					   log (smtp_tls_state()); NULL or
					   "": none */
	double		 delay;		/* seconds from arrival to the
					   outcome */
	double		 delays[4];	/* Postfix's delays=a/b/c/d: before
					   delivery, waiting for a worker,
					   connection set-up, transmission */
};

struct domain_group {
	char		*domain;	/* lower-case A-labels */
	size_t		*rcpt;		/* indexes into envelope.rcpts */
	size_t		 n;
};

struct envelope {
	char		*sender;	/* RFC 5321 form, "" = null sender */
	int		 sender_smtputf8;
	struct rcpt	*rcpts;		/* in order of first appearance */
	size_t		 nrcpts;
	struct domain_group *domains;	/* pending recipients, sorted by domain */
	size_t		 ndomains;
};

void	 envelope_init(struct envelope *);
void	 envelope_free(struct envelope *);

/*
 * Work out the sender: -f/-r (validated: "" and "<>" are the null sender;
 * no CR/LF), else the sender key, else login@default_domain. Returns 0,
 * or -1 with err (a bad -f is a usage error).
 */
int	 envelope_set_sender(struct envelope *, const char *opt_sender,
	    const struct config *, const char *default_domain, const char *login,
	    char *err, size_t errlen);

/*
 * Collect the recipients. A malformed command-line address is a usage
 * error: returns -1 with err naming the address and why. Problems with
 * header addresses or alias targets become RCPT_FAILED recipients.
 * default_domain NULL (or "") means this host has none (names.h): an
 * unqualified address that is no alias then fails (5.1.2), saying to set
 * default_domain or an alias. A recipient whose aliases expand to more
 * than al->max_rcpts addresses fails (5.5.3), none of them used.
 * Returns 0 otherwise (nrcpts may be 0: the caller reports "no recipients").
 */
int	 envelope_add_recipients(struct envelope *, const struct options *,
	    const struct message *, const struct aliases *,
	    const char *default_domain, char *err, size_t errlen);

/*
 * Drop the recipients from index n on (-bs takes back what a refused
 * RCPT added); domains[] is emptied, to be built again.
 */
void	 envelope_truncate(struct envelope *, size_t n);

/* Build domains[] from the pending recipients (call after adding them). */
void	 envelope_group(struct envelope *);

/*
 * Convert a domain to lower-case A-labels (IDNA 2008 via libidn2, with
 * UTS #46 mapping); domain literals ("[192.0.2.1]", "[IPv6:...]") are kept.
 * Returns a new string, or NULL with a reason in err.
 */
char	*envelope_domain_to_ascii(const char *domain, char *err, size_t errlen);

#endif
