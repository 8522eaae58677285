/*
 * sasl.c: client-side SASL for SMTP AUTH (RFC 4954), with no sockets.
 *
 * Mechanisms: SCRAM-SHA-256 (RFC 5802 §3, §5, §7 with RFC 7677's hash;
 * no channel binding: gs2 header "n,,"), PLAIN (RFC 4616 §2, empty
 * authorisation identity), LOGIN (draft-murchison-sasl-login-00: user
 * name, then password), CRAM-MD5 (RFC 2195 §2: "user HMAC-MD5 hex"),
 * OAUTHBEARER (RFC 7628 §3.1: "n,a=user,^Ahost=H^Aport=P^Aauth=Bearer
 * TOKEN^A^A") and XOAUTH2 (Google's and Microsoft's documentation:
 * "user=USER^Aauth=Bearer TOKEN^A^A").
 * Base64 is RFC 4648 §4, decoded strictly. RFC 4954 §4: SMTP has no
 * "additional data with success", so the SCRAM server-final message comes
 * in a 334 and is answered by an empty line before the 235.
 *
 * Secrets (password or token, salted password, keys, proofs) stay in
 * struct sasl (the secret in one heap copy of its own size), on the stack
 * or in buffers freed by wipe_free(), and are wiped with explicit_bzero;
 * the crypto comes from tls.c so that only it sees GnuTLS. SASLprep is
 * not done (see sasl.h).
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "sasl.h"
#include "tls.h"
#include "util.h"

#define SCRAM_NONCE_RAW		24	/* bytes; 32 in base64 */
#define SCRAM_ITER_MAX		1000000
#define SCRAM_SALT_MAX		1024	/* decoded bytes we accept */
#define SASL_ERRTEXT_MAX	200	/* server text quoted in err */

enum {
	SCRAM_INIT,		/* client-first not sent yet */
	SCRAM_SENT_FIRST,	/* waiting for server-first */
	SCRAM_SENT_FINAL,	/* waiting for server-final */
	SCRAM_DONE
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

const char *
sasl_mech_name(enum sasl_mech m)
{
	switch (m) {
	case SASL_SCRAM_SHA_256:
		return "SCRAM-SHA-256";
	case SASL_PLAIN:
		return "PLAIN";
	case SASL_LOGIN:
		return "LOGIN";
	case SASL_CRAM_MD5:
		return "CRAM-MD5";
	case SASL_XOAUTH2:
		return "XOAUTH2";
	case SASL_OAUTHBEARER:
		return "OAUTHBEARER";
	case SASL_NONE:
		break;
	}
	return NULL;
}

/* A SCRAM nonce: printable ASCII except ',' (RFC 5802 §7). */
static int
nonce_ok(const char *p, size_t len)
{
	size_t	 i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return 0;
	return 1;
}

static int
is_oauth(enum sasl_mech m)
{
	return m == SASL_XOAUTH2 || m == SASL_OAUTHBEARER;
}

/*
 * What the OAuth2 mechanisms can carry: a user name without controls
 * (%x01 separates their fields) and a token of visible ASCII (RFC 6750
 * §2.1; a space would end "Bearer TOKEN"). err never quotes the token.
 */
static int
oauth_check(const struct sasl *s, char *err, size_t errlen)
{
	size_t	 i;

	for (i = 0; i < s->userlen; i++)
		if ((unsigned char)s->user[i] < 0x20 || s->user[i] == 0x7f) {
			seterr(err, errlen, "%s: control character in the "
			    "user name", sasl_mech_name(s->mech));
			return -1;
		}
	if (s->passlen == 0) {
		seterr(err, errlen, "%s: the access token is empty",
		    sasl_mech_name(s->mech));
		return -1;
	}
	for (i = 0; i < s->passlen; i++)
		if (s->pass[i] < 0x21 || s->pass[i] > 0x7e) {
			seterr(err, errlen, "%s: the access token has a "
			    "character a bearer token cannot have (octet %zu "
			    "of %zu)", sasl_mech_name(s->mech), i + 1,
			    s->passlen);
			return -1;
		}
	return 0;
}

static int
scram_nonce(struct sasl *s, char *err, size_t errlen)
{
	unsigned char	 raw[SCRAM_NONCE_RAW];
	char		*nonce_b64;

	if (tls_random(raw, sizeof(raw)) != 0) {
		seterr(err, errlen, "cannot draw a SCRAM nonce");
		return -1;
	}
	nonce_b64 = b64_encode(raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	strlcpy(s->nonce, nonce_b64, sizeof(s->nonce));
	free(nonce_b64);
	return 0;
}

int
sasl_start(struct sasl *s, enum sasl_mech mech, const char *user,
    const char *pass, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->mech = mech;
	if (sasl_mech_name(mech) == NULL) {
		seterr(err, errlen, "no SASL mechanism");
		return -1;
	}
	if (user == NULL || pass == NULL) {
		seterr(err, errlen, "%s needs a user name and a password",
		    sasl_mech_name(mech));
		return -1;
	}
	if ((s->userlen = strlen(user)) > SASL_USER_MAX) {
		seterr(err, errlen, "user name too long (over %d bytes)",
		    SASL_USER_MAX);
		return -1;
	}
	if ((s->passlen = strlen(pass)) > SASL_PASS_MAX) {
		s->passlen = 0;
		seterr(err, errlen, "password too long (over %d bytes)",
		    SASL_PASS_MAX);
		return -1;
	}
	memcpy(s->user, user, s->userlen + 1);
	s->pass = xmalloc(s->passlen + 1);
	memcpy(s->pass, pass, s->passlen + 1);
	if (is_oauth(mech))
		return oauth_check(s, err, errlen);
	if (mech == SASL_SCRAM_SHA_256)
		return scram_nonce(s, err, errlen);
	return 0;
}

void
sasl_set_server(struct sasl *s, const char *host, unsigned port)
{
	strlcpy(s->host, host != NULL ? host : "", sizeof(s->host));
	s->port = port;
}

int
sasl_set_nonce_for_test(struct sasl *s, const char *nonce)
{
	size_t	 len = strlen(nonce);

	if (len > SASL_NONCE_MAX || !nonce_ok(nonce, len))
		return -1;
	memcpy(s->nonce, nonce, len + 1);
	return 0;
}

/* "\0user\0pass" */
static char *
plain_response(const struct sasl *s)
{
	size_t	 len = s->userlen + s->passlen + 2;
	char	*raw, *out;

	raw = xmalloc(len);
	raw[0] = '\0';
	memcpy(raw + 1, s->user, s->userlen);
	raw[1 + s->userlen] = '\0';
	memcpy(raw + 2 + s->userlen, s->pass, s->passlen);
	out = b64_encode(raw, len);
	wipe_free(raw, len);
	return out;
}

/*
 * RFC 5802 §5.1 (and RFC 5801's gs2 header): the user name as a
 * saslname, with '=' as "=3D" and ',' as "=2C"; caller frees.
 */
static char *
saslname(const struct sasl *s)
{
	char	*name, *o;
	size_t	 i;

	name = o = xmalloc(s->userlen * 3 + 1);
	for (i = 0; i < s->userlen; i++) {
		if (s->user[i] == '=') {
			memcpy(o, "=3D", 3);
			o += 3;
		} else if (s->user[i] == ',') {
			memcpy(o, "=2C", 3);
			o += 3;
		} else
			*o++ = s->user[i];
	}
	*o = '\0';
	return name;
}

static char *
scram_client_first(struct sasl *s)
{
	char	*name, *gs2, *out;

	name = saslname(s);
	free(s->client_first_bare);
	s->client_first_bare = xasprintf("n=%s,r=%s", name, s->nonce);
	free(name);
	gs2 = xasprintf("n,,%s", s->client_first_bare);
	out = b64_encode(gs2, strlen(gs2));
	free(gs2);
	s->state = SCRAM_SENT_FIRST;
	return out;
}

/*
 * The OAuth2 client response, base64: XOAUTH2's
 * "user=USER^Aauth=Bearer TOKEN^A^A", or OAUTHBEARER's (RFC 7628 §3.1)
 * "n,a=USER,^Ahost=HOST^Aport=PORT^Aauth=Bearer TOKEN^A^A".
 */
static char *
oauth_response(struct sasl *s)
{
	char	*raw, *name, *out;
	size_t	 len;

	if (s->mech == SASL_XOAUTH2)
		raw = xasprintf("user=%s\001auth=Bearer %s\001\001", s->user,
		    s->pass);
	else {
		name = saslname(s);
		if (s->host[0] != '\0')
			raw = xasprintf("n,a=%s,\001host=%s\001port=%u"
			    "\001auth=Bearer %s\001\001", name, s->host,
			    s->port, s->pass);
		else
			raw = xasprintf("n,a=%s,\001auth=Bearer %s\001\001",
			    name, s->pass);
		free(name);
	}
	len = strlen(raw);
	out = b64_encode(raw, len);
	wipe_free(raw, len);
	s->state = 1;
	return out;
}

/*
 * After the token a challenge is the server's error report (RFC 7628
 * §3.2.2): answer so that it can send its failure reply.
 */
static int
oauth_step(struct sasl *s, size_t len, char **response, char *err,
    size_t errlen)
{
	if (s->state == 0 && len == 0) {
		*response = oauth_response(s);
		return 0;
	}
	if (s->state != 1) {
		seterr(err, errlen, "%s: unexpected challenge",
		    sasl_mech_name(s->mech));
		return -1;
	}
	/* b64 of %x01 (RFC 7628 §3.2.3); XOAUTH2 servers expect "". */
	*response = xstrdup(s->mech == SASL_OAUTHBEARER ? "AQ==" : "");
	s->state = 2;
	return 0;
}

char *
sasl_initial(struct sasl *s)
{
	switch (s->mech) {
	case SASL_PLAIN:
		s->state = 1;
		return plain_response(s);
	case SASL_SCRAM_SHA_256:
		return scram_client_first(s);
	case SASL_XOAUTH2:
	case SASL_OAUTHBEARER:
		return oauth_response(s);
	default:
		return NULL;
	}
}

/* Server text for err: printable ASCII only, bounded. */
static void
quote_server(char *out, size_t outlen, const char *p, size_t len)
{
	size_t	 i, o = 0;

	if (len > SASL_ERRTEXT_MAX)
		len = SASL_ERRTEXT_MAX;
	for (i = 0; i < len && o + 1 < outlen; i++)
		out[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	out[o] = '\0';
}

static int
scram_server_error(const char *msg, size_t len, char *err, size_t errlen)
{
	char	 text[SASL_ERRTEXT_MAX + 1];

	quote_server(text, sizeof(text), msg + 2, len - 2);
	seterr(err, errlen, "SCRAM-SHA-256: server error: %s", text);
	return -1;
}

/*
 * A server-first message (RFC 5802 §5.1, §7):
 *	[reserved-mext ","] nonce "," salt "," iteration-count ["," ext]
 * as its attributes' raw values, then (scram_check_first) their meaning.
 */
struct scram_first {
	const char	*msg;		/* the whole message, for AuthMessage */
	size_t		 len;
	const char	*nonce;		/* r= */
	size_t		 noncelen;
	const char	*salt_b64;	/* s= */
	size_t		 salt_b64len;
	const char	*iter_text;	/* i= */
	size_t		 iter_textlen;
	unsigned char	*salt;		/* decoded; the caller frees it */
	size_t		 saltlen;
	unsigned long	 iter;
};

/* RFC 5802 §3's keys, signature and proof: every one of them a secret. */
struct scram_keys {
	unsigned char	 salted[32];	/* SaltedPassword */
	unsigned char	 client[32];	/* ClientKey */
	unsigned char	 stored[32];	/* StoredKey */
	unsigned char	 server[32];	/* ServerKey */
	unsigned char	 client_sig[32];
	unsigned char	 proof[32];
};

/*
 * The value of the attribute "name=" at *p, up to the next ',', which
 * only the last attribute may go without; *p moves past it.
 */
static int
scram_attr(const char **p, const char *end, char name, int last,
    const char **value, size_t *valuelen)
{
	const char	*comma;

	if (end - *p < 2 || (*p)[0] != name || (*p)[1] != '=')
		return -1;
	*value = *p + 2;
	if ((comma = memchr(*value, ',', end - *value)) == NULL) {
		if (!last)
			return -1;
		comma = end;
	}
	*valuelen = comma - *value;
	*p = comma < end ? comma + 1 : end;
	return 0;
}

static int
scram_parse_first(struct scram_first *f)
{
	const char	*p = f->msg, *end = f->msg + f->len;

	if (scram_attr(&p, end, 'r', 0, &f->nonce, &f->noncelen) == -1 ||
	    scram_attr(&p, end, 's', 0, &f->salt_b64, &f->salt_b64len) == -1 ||
	    scram_attr(&p, end, 'i', 1, &f->iter_text, &f->iter_textlen) == -1)
		return -1;
	return 0;
}

/* A decimal count from 1 to SCRAM_ITER_MAX, without a leading zero. */
static int
scram_iterations(const char *p, size_t len, unsigned long *iter)
{
	size_t	 i;

	*iter = 0;
	if (len == 0 || len > 7 || p[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*iter = *iter * 10 + (p[i] - '0');
	}
	return *iter >= 1 && *iter <= SCRAM_ITER_MAX ? 0 : -1;
}

/* The server's nonce must extend ours; salt and count must be sane. */
static int
scram_check_first(const struct sasl *s, struct scram_first *f, char *err,
    size_t errlen)
{
	size_t	 ourlen = strlen(s->nonce);

	if (!nonce_ok(f->nonce, f->noncelen) || f->noncelen <= ourlen ||
	    memcmp(f->nonce, s->nonce, ourlen) != 0) {
		seterr(err, errlen, "SCRAM-SHA-256: server nonce does not "
		    "extend ours");
		return -1;
	}
	if (f->salt_b64len == 0 ||
	    f->salt_b64len > SCRAM_SALT_MAX / 3 * 4 + 4 ||
	    (f->salt = b64_decode(f->salt_b64, f->salt_b64len,
	    &f->saltlen)) == NULL || f->saltlen == 0) {
		seterr(err, errlen, "SCRAM-SHA-256: bad salt from server");
		return -1;
	}
	if (scram_iterations(f->iter_text, f->iter_textlen, &f->iter) == -1) {
		seterr(err, errlen, "SCRAM-SHA-256: refused iteration count "
		    "from server (must be 1 to %d)", SCRAM_ITER_MAX);
		return -1;
	}
	return 0;
}

/*
 * RFC 5802 §3: the keys from the password, the client's proof and the
 * server signature that server-final must carry, over auth_msg.
 */
static int
scram_sign(struct sasl *s, const struct scram_first *f, const char *auth_msg,
    struct scram_keys *keys)
{
	size_t	 i, authlen = strlen(auth_msg);

	if (tls_pbkdf2_sha256(s->pass, s->passlen, f->salt, f->saltlen,
	    (unsigned)f->iter, keys->salted) != 0 ||
	    tls_hmac_sha256(keys->salted, 32, "Client Key", 10,
	    keys->client) != 0 ||
	    tls_sha256(keys->client, 32, keys->stored) != 0 ||
	    tls_hmac_sha256(keys->salted, 32, "Server Key", 10,
	    keys->server) != 0 ||
	    tls_hmac_sha256(keys->stored, 32, auth_msg, authlen,
	    keys->client_sig) != 0 ||
	    tls_hmac_sha256(keys->server, 32, auth_msg, authlen,
	    s->server_sig) != 0)
		return -1;
	for (i = 0; i < sizeof(keys->proof); i++)
		keys->proof[i] = keys->client[i] ^ keys->client_sig[i];
	return 0;
}

/* RFC 5802 §7: client-final-message, "c=biws,r=nonce,p=proof". */
static int
scram_client_final(struct sasl *s, const struct scram_first *f,
    char **response, char *err, size_t errlen)
{
	struct scram_keys keys;
	char		*without_proof, *auth_msg, *proof_b64, *final;
	size_t		 finallen;
	int		 rc = -1;

	without_proof = xasprintf("c=biws,r=%.*s", (int)f->noncelen,
	    f->nonce);
	auth_msg = xasprintf("%s,%.*s,%s", s->client_first_bare, (int)f->len,
	    f->msg, without_proof);
	if (scram_sign(s, f, auth_msg, &keys) == -1)
		seterr(err, errlen, "SCRAM-SHA-256: hash failure");
	else {
		proof_b64 = b64_encode(keys.proof, sizeof(keys.proof));
		final = xasprintf("%s,p=%s", without_proof, proof_b64);
		finallen = strlen(final);
		*response = b64_encode(final, finallen);
		wipe_free(proof_b64, strlen(proof_b64));
		wipe_free(final, finallen);
		s->state = SCRAM_SENT_FINAL;
		rc = 0;
	}
	explicit_bzero(&keys, sizeof(keys));
	free(without_proof);
	wipe_free(auth_msg, strlen(auth_msg));
	return rc;
}

/* RFC 5802 §5.1: reserved-mext ("m=") makes us give up. */
static int
scram_server_first(struct sasl *s, const char *msg, size_t len,
    char **response, char *err, size_t errlen)
{
	struct scram_first first;
	int		 rc = -1;

	if (len >= 2 && memcmp(msg, "e=", 2) == 0)
		return scram_server_error(msg, len, err, errlen);
	if (len >= 2 && memcmp(msg, "m=", 2) == 0) {
		seterr(err, errlen, "SCRAM-SHA-256: server requires an "
		    "unsupported extension (m=)");
		return -1;
	}
	memset(&first, 0, sizeof(first));
	first.msg = msg;
	first.len = len;
	if (scram_parse_first(&first) == -1)
		seterr(err, errlen, "SCRAM-SHA-256: malformed server-first "
		    "message");
	else if (scram_check_first(s, &first, err, errlen) == 0)
		rc = scram_client_final(s, &first, response, err, errlen);
	free(first.salt);
	return rc;
}

/* RFC 5802 §7: server-final-message = (server-error / verifier) [ext] */
static int
scram_server_final(struct sasl *s, const char *msg, size_t len,
    char **response, char *err, size_t errlen)
{
	const char	*comma;
	unsigned char	*sig;
	size_t		 siglen, blen;
	int		 ok;

	if (len >= 2 && memcmp(msg, "e=", 2) == 0)
		return scram_server_error(msg, len, err, errlen);
	if (len < 2 || memcmp(msg, "v=", 2) != 0) {
		seterr(err, errlen, "SCRAM-SHA-256: malformed server-final "
		    "message");
		return -1;
	}
	if ((comma = memchr(msg + 2, ',', len - 2)) == NULL)
		comma = msg + len;
	blen = comma - (msg + 2);
	sig = b64_decode(msg + 2, blen, &siglen);
	ok = sig != NULL && siglen == sizeof(s->server_sig) &&
	    ct_equal(sig, s->server_sig, sizeof(s->server_sig));
	free(sig);
	explicit_bzero(s->server_sig, sizeof(s->server_sig));
	s->state = SCRAM_DONE;
	if (!ok) {
		seterr(err, errlen, "SCRAM-SHA-256: server signature does "
		    "not verify (not the server holding our credentials)");
		return -1;
	}
	s->verified = 1;
	*response = xstrdup("");
	return 0;
}

static int
scram_step(struct sasl *s, const char *msg, size_t len, char **response,
    char *err, size_t errlen)
{
	if (memchr(msg, '\0', len) != NULL) {
		seterr(err, errlen, "SCRAM-SHA-256: NUL in server message");
		return -1;
	}
	switch (s->state) {
	case SCRAM_INIT:
		if (len != 0)
			break;
		*response = scram_client_first(s);
		return 0;
	case SCRAM_SENT_FIRST:
		return scram_server_first(s, msg, len, response, err, errlen);
	case SCRAM_SENT_FINAL:
		return scram_server_final(s, msg, len, response, err, errlen);
	}
	seterr(err, errlen, "SCRAM-SHA-256: unexpected challenge");
	return -1;
}

/* RFC 2195 §2: "user " + lower-case hex HMAC-MD5(password, challenge). */
static int
cram_step(struct sasl *s, const char *msg, size_t len, char **response,
    char *err, size_t errlen)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 mac[16];
	char			*raw;
	size_t			 rawlen, i;

	if (s->state != 0 || len == 0) {
		seterr(err, errlen, "CRAM-MD5: unexpected challenge");
		return -1;
	}
	if (tls_hmac_md5(s->pass, s->passlen, msg, len, mac) != 0) {
		seterr(err, errlen, "CRAM-MD5: hash failure");
		return -1;
	}
	rawlen = s->userlen + 1 + 32;
	raw = xmalloc(rawlen + 1);
	memcpy(raw, s->user, s->userlen);
	raw[s->userlen] = ' ';
	for (i = 0; i < 16; i++) {
		raw[s->userlen + 1 + 2 * i] = hex[mac[i] >> 4];
		raw[s->userlen + 2 + 2 * i] = hex[mac[i] & 0xf];
	}
	raw[rawlen] = '\0';
	*response = b64_encode(raw, rawlen);
	wipe_free(raw, rawlen + 1);
	explicit_bzero(mac, sizeof(mac));
	s->state = 1;
	return 0;
}

/* "AUTH PLAIN" without an initial response: "334 ", then the response. */
static int
plain_step(struct sasl *s, size_t len, char **response, char *err,
    size_t errlen)
{
	if (s->state != 0 || len != 0) {
		seterr(err, errlen, "PLAIN: unexpected challenge");
		return -1;
	}
	*response = plain_response(s);
	s->state = 1;
	return 0;
}

/* "Username:" then "Password:"; go by order, not text. */
static int
login_step(struct sasl *s, char **response, char *err, size_t errlen)
{
	if (s->state == 0)
		*response = b64_encode(s->user, s->userlen);
	else if (s->state == 1)
		*response = b64_encode(s->pass, s->passlen);
	else {
		seterr(err, errlen, "LOGIN: unexpected challenge");
		return -1;
	}
	s->state++;
	return 0;
}

int
sasl_step(struct sasl *s, const char *challenge_b64, char **response,
    char *err, size_t errlen)
{
	unsigned char	*msg;
	size_t		 len;
	int		 rc = -1;

	*response = NULL;
	if (challenge_b64 == NULL)
		challenge_b64 = "";
	msg = b64_decode(challenge_b64, strlen(challenge_b64), &len);
	if (msg == NULL) {
		seterr(err, errlen, "%s: server challenge is not valid "
		    "base64", sasl_mech_name(s->mech) ? sasl_mech_name(s->mech)
		    : "SASL");
		return -1;
	}
	switch (s->mech) {
	case SASL_PLAIN:
		rc = plain_step(s, len, response, err, errlen);
		break;
	case SASL_LOGIN:
		rc = login_step(s, response, err, errlen);
		break;
	case SASL_CRAM_MD5:
		rc = cram_step(s, (char *)msg, len, response, err, errlen);
		break;
	case SASL_SCRAM_SHA_256:
		rc = scram_step(s, (char *)msg, len, response, err, errlen);
		break;
	case SASL_XOAUTH2:
	case SASL_OAUTHBEARER:
		rc = oauth_step(s, len, response, err, errlen);
		break;
	case SASL_NONE:
		seterr(err, errlen, "no SASL mechanism");
		break;
	}
	free(msg);
	return rc;
}

int
sasl_server_verified(const struct sasl *s)
{
	return s->mech == SASL_SCRAM_SHA_256 && s->verified;
}

void
sasl_end(struct sasl *s)
{
	if (s->client_first_bare != NULL)
		wipe_free(s->client_first_bare,
		    strlen(s->client_first_bare));
	if (s->pass != NULL)
		wipe_free(s->pass, s->passlen + 1);
	explicit_bzero(s, sizeof(*s));
}

void
sasl_free_response(char *r)
{
	if (r != NULL)
		wipe_free(r, strlen(r));
}

static int
mech_of(enum auth_mech a, enum sasl_mech *m, unsigned *bit)
{
	switch (a) {
	case AUTH_SCRAM_SHA_256:
		*m = SASL_SCRAM_SHA_256;
		*bit = AUTHM_SCRAM_SHA_256;
		return 0;
	case AUTH_PLAIN:
		*m = SASL_PLAIN;
		*bit = AUTHM_PLAIN;
		return 0;
	case AUTH_LOGIN:
		*m = SASL_LOGIN;
		*bit = AUTHM_LOGIN;
		return 0;
	case AUTH_CRAM_MD5:
		*m = SASL_CRAM_MD5;
		*bit = AUTHM_CRAM_MD5;
		return 0;
	case AUTH_XOAUTH2:
		*m = SASL_XOAUTH2;
		*bit = AUTHM_XOAUTH2;
		return 0;
	case AUTH_OAUTHBEARER:
		*m = SASL_OAUTHBEARER;
		*bit = AUTHM_OAUTHBEARER;
		return 0;
	case AUTH_NMECH:
		break;
	}
	return -1;
}

enum sasl_mech
sasl_choose(unsigned offered, const enum auth_mech *allowed,
    size_t nallowed, int tls_active)
{
	enum sasl_mech	 mech;
	unsigned	 bit;
	size_t		 i;

	for (i = 0; i < nallowed; i++) {
		if (mech_of(allowed[i], &mech, &bit) != 0)
			continue;
		if ((offered & bit) == 0)
			continue;
		if (!tls_active && (mech == SASL_PLAIN ||
		    mech == SASL_LOGIN || is_oauth(mech)))
			continue;
		return mech;
	}
	return SASL_NONE;
}
