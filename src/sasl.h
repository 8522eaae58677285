/*
 * sasl.h: the client side of SMTP AUTH (RFC 4954) as a state machine
 * that never touches a socket: SCRAM-SHA-256 (RFC 5802, RFC 7677), PLAIN
 * (RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195),
 * and for OAuth2 access tokens OAUTHBEARER (RFC 7628) and XOAUTH2 (as
 * Google and Microsoft document it), plus the base64 (RFC 4648 §4) they
 * are carried in.
 *
 * Use:
 *	sasl_start(&s, mech, user, pass, err, errlen);
 *	sasl_set_server(&s, host, port);	OAUTHBEARER's host= and port=
 *	init = sasl_initial(&s);	-> "AUTH MECH init" or "AUTH MECH"
 *	while the server answers 334 text:
 *		sasl_step(&s, text, &resp, err, errlen);   -> send resp
 *	on 235 with SCRAM: refuse unless sasl_server_verified(&s);
 *	sasl_end(&s);
 *
 * Every line sent (the initial response and each response) carries the
 * secret and must be marked as such for the transcript; free them with
 * sasl_free_response(), which wipes them first.
 *
 * Passwords and user names are used as their UTF-8 bytes: SASLprep
 * (RFC 4013) is not done, so a non-ASCII password only works with a
 * server that does not normalise it either.
 */
#ifndef MXSEND_SASL_H
#define MXSEND_SASL_H

#include <stddef.h>

#include "config.h"

enum sasl_mech {
	SASL_NONE,		/* nothing usable in common */
	SASL_SCRAM_SHA_256,
	SASL_PLAIN,
	SASL_LOGIN,
	SASL_CRAM_MD5,
	SASL_XOAUTH2,
	SASL_OAUTHBEARER
};

#define SASL_USER_MAX	256	/* bytes, NUL excluded */
#define SASL_PASS_MAX	(64 * 1024)	/* a password or an access token */
#define SASL_NONCE_MAX	64
#define SASL_HOST_MAX	255

/*
 * Every member is private to sasl.c; the struct is public only so that a
 * caller can hold one without allocating. The password (or token) is
 * the one heap copy, sized to it; sasl_end() wipes it and the struct.
 */
struct sasl {
	enum sasl_mech	 mech;
	int		 state;
	int		 verified;	/* SCRAM v= checked */
	size_t		 userlen;
	size_t		 passlen;
	char		 user[SASL_USER_MAX + 1];
	char		*pass;		/* secret */
	char		 nonce[SASL_NONCE_MAX + 1];	/* SCRAM's */
	char		*client_first_bare;	/* "n=user,r=nonce" */
	unsigned char	 server_sig[32];	/* SCRAM expected v= */
	char		 host[SASL_HOST_MAX + 1];	/* OAUTHBEARER's */
	unsigned	 port;
};

/*
 * Begin an exchange. user and pass are copied (at most SASL_USER_MAX and
 * SASL_PASS_MAX bytes). For SCRAM the client nonce is drawn here. For
 * XOAUTH2 and OAUTHBEARER pass is the access token: printable ASCII
 * without spaces (RFC 6750 §2.1's b64token is narrower), and the user
 * name has no control character. Returns 0, or -1 with err ("user name
 * too long", ...; never the secret); s needs sasl_end() either way.
 */
int		 sasl_start(struct sasl *s, enum sasl_mech, const char *user,
		    const char *pass, char *err, size_t errlen);

/*
 * The server OAUTHBEARER names in host= and port= (RFC 7628 §3.1, which
 * recommends them); without a call they are left out. Other mechanisms
 * ignore it.
 */
void		 sasl_set_server(struct sasl *s, const char *host,
		    unsigned port);

/*
 * "SCRAM-SHA-256", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2",
 * "OAUTHBEARER"; NULL for SASL_NONE.
 */
const char	*sasl_mech_name(enum sasl_mech);

/*
 * The initial response (base64) for "AUTH MECH <initial>", or NULL when
 * the mechanism has none (LOGIN, CRAM-MD5). Call it once, right after
 * sasl_start(). Caller frees with sasl_free_response().
 */
char		*sasl_initial(struct sasl *s);

/*
 * Given the text of the server's 334 reply (base64), make the next client
 * response (base64, possibly "", caller frees with sasl_free_response()).
 * Returns 0, or -1 with err when the challenge is malformed, comes when
 * none is expected, or (SCRAM) the server's nonce, salt or iteration
 * count is refused, it reports an error (e=, its text is in err) or its
 * signature does not verify. After -1 the caller sends "*" to cancel.
 *
 * XOAUTH2 and OAUTHBEARER: a challenge after the token is the server's
 * error (RFC 7628 §3.2.2, base64 JSON such as {"status":"401",...}); the
 * response is the one that lets the server finish with its failure
 * reply (535): "" for XOAUTH2, a single %x01 for OAUTHBEARER (§3.2.3).
 */
int		 sasl_step(struct sasl *s, const char *challenge_b64,
		    char **response, char *err, size_t errlen);

/*
 * After the server's 235: 1 when the mechanism authenticated the server
 * too and it did (SCRAM's v=), else 0. A SCRAM 235 with 0 here means the
 * server skipped its proof: treat it as a failure.
 */
int		 sasl_server_verified(const struct sasl *s);

/* Wipe every secret and free what s holds; s may be reused after. */
void		 sasl_end(struct sasl *s);

/* Wipe and free a response from sasl_initial() or sasl_step(). */
void		 sasl_free_response(char *);

/*
 * The first of allowed[0..nallowed) that the server offers (offered is
 * ehlo_caps.auth, AUTHM_* bits), never PLAIN, LOGIN, XOAUTH2 or
 * OAUTHBEARER (a clear-text password or a bearer token) unless
 * tls_active; SASL_NONE when nothing fits.
 */
enum sasl_mech	 sasl_choose(unsigned offered,
		    const enum auth_mech *allowed, size_t nallowed,
		    int tls_active);

/* Tests only: replace the SCRAM client nonce drawn by sasl_start(). */
int		 sasl_set_nonce_for_test(struct sasl *s, const char *nonce);

#endif
