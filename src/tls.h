/*
 * tls.h: the only interface to GnuTLS (tls.c is the only file that
 * includes it). Initialisation is lazy: GnuTLS is opened with dlopen at
 * the first call below that needs it, so plain-text runs never load the
 * library, its state or the trust store (SPEC §9). When it cannot be
 * loaded, tls_start() fails with "TLS with NAME: cannot load GnuTLS: " and
 * dlerror()'s text, and the hashes return -1.
 */
#ifndef MXSEND_TLS_H
#define MXSEND_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct conn;
struct tls_conn;
struct tlsa_rr;

enum tls_verify {
	TLS_VERIFY_NONE,	/* opportunistic MX: encrypt only */
	TLS_VERIFY_CHAIN,	/* chain to the trust store + host name */
	TLS_VERIFY_PIN,		/* SHA-256 of the certificate's DER, alone */
	TLS_VERIFY_DANE		/* the MX host's TLSA records (RFC 7672) */
};

/*
 * sni is the name sent (unless it is an IP literal, which is only
 * verified) and verified; NULL verifies the peer's address instead.
 *
 * TLS_VERIFY_DANE: the chain must match one of the tlsa records, which
 * must all be usable (tlsa_usable(), dns.h), through libgnutls-dane,
 * opened with dlopen on first use like GnuTLS. DANE-EE(3): the leaf's
 * certificate or key alone, no name and no dates (RFC 7672 §3.1.1).
 * DANE-TA(2): a certificate of the chain above the leaf is the trust
 * anchor, and the chain up to it must verify, dates and the name sni
 * included (§3.1.2, §3.2.2); the server must send that certificate.
 */
struct tls_params {
	const char	*sni;
	enum tls_verify	 verify;
	const char	*ca_file;	/* NULL: the system trust store */
	const unsigned char *pin;	/* 32 bytes with TLS_VERIFY_PIN */
	const struct tlsa_rr *tlsa;	/* with TLS_VERIFY_DANE */
	size_t		 ntlsa;
	int		 tls12;		/* refuse TLS 1.0 and 1.1 */
};

/*
 * Run the TLS handshake on c's socket (after STARTTLS's 220, or at once
 * for implicit TLS) within timeout seconds and c's deadline, verifying as
 * asked. On success c->tls is set and every later net_* call goes through
 * TLS. Returns 0, or -1 with c->err set ("TLS handshake with 192.0.2.1
 * failed: ...", "certificate of relay.example not trusted: ...",
 * "certificate fingerprint mismatch", "TLSA mismatch for mx.example: ...").
 */
int	 tls_start(struct conn *c, const struct tls_params *, unsigned timeout);

/*
 * Record-layer I/O used by net.c: returns bytes done, 0 on a clean close,
 * -1 with *again set when the socket would block (then *want_write says
 * which direction to poll for), or -1 with *again 0 on error (err filled).
 */
ssize_t	 tls_read(struct tls_conn *, void *, size_t, int *again,
	    int *want_write, char *err, size_t errlen);
ssize_t	 tls_write(struct tls_conn *, const void *, size_t, int *again,
	    int *want_write, char *err, size_t errlen);

/* Bytes already decrypted and waiting inside GnuTLS. */
size_t	 tls_pending(const struct tls_conn *);

/* Send close_notify (best effort, non-blocking) and free the session. */
void	 tls_end(struct tls_conn *);

/*
 * Whether this process tried to load and initialise GnuTLS (tests of
 * SPEC §9).
 */
int	 tls_initialised(void);

/*
 * A description of the session for logs: "TLSv1.3 with cipher ... (dane
 * verified: DANE-EE(3) SPKI(1) SHA2-256(1))".
 */
void	 tls_describe(const struct tls_conn *, char *out, size_t outlen);

/* SHA-256 and HMAC/PBKDF2 for sasl.c, so that only tls.c sees GnuTLS. */
int	 tls_sha256(const void *, size_t, unsigned char out[32]);
int	 tls_hmac_sha256(const void *key, size_t keylen, const void *msg,
	    size_t msglen, unsigned char out[32]);
int	 tls_hmac_md5(const void *key, size_t keylen, const void *msg,
	    size_t msglen, unsigned char out[16]);
int	 tls_pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt,
	    size_t saltlen, unsigned iter, unsigned char out[32]);
int	 tls_random(void *, size_t);

/*
 * DKIM's primitives (dkim.c), so that only tls.c sees GnuTLS; each loads
 * it on first use like the rest. SHA-256 over data given in pieces:
 * tls_hash_end() writes the digest (unless out is NULL) and frees.
 */
struct tls_hash;
int	 tls_hash_begin(struct tls_hash **, char *err, size_t errlen);
int	 tls_hash_add(struct tls_hash *, const void *, size_t);
void	 tls_hash_end(struct tls_hash *, unsigned char out[32]);

enum tls_key_type {
	TLS_KEY_RSA,
	TLS_KEY_ED25519
};

/*
 * A private key from PEM text: PKCS#8 (RSA or Ed25519) or PKCS#1 RSA,
 * unencrypted. Returns 0, or -1 with err (GnuTLS's reason, or that the
 * key is of another kind).
 */
struct tls_key;
int	 tls_key_import(const void *pem, size_t len, struct tls_key **,
	    char *err, size_t errlen);
enum tls_key_type tls_key_type(const struct tls_key *, unsigned *bits);
void	 tls_key_free(struct tls_key *);

/*
 * The signature of a SHA-256 digest (caller frees *sig): RSA PKCS#1 v1.5
 * (rsa-sha256, RFC 6376 §3.3.1) or Ed25519 over the 32 digest octets
 * (ed25519-sha256, RFC 8463 §3).
 */
int	 tls_key_sign(const struct tls_key *, const unsigned char digest[32],
	    unsigned char **sig, size_t *siglen, char *err, size_t errlen);

/*
 * The public key as DKIM's p= wants it before base64 (caller frees): an
 * RSA SubjectPublicKeyInfo in DER, or the 32 octets of an Ed25519 key
 * (RFC 8463 §4.2).
 */
int	 tls_key_public(const struct tls_key *, unsigned char **out,
	    size_t *outlen, char *err, size_t errlen);

/*
 * A new key as unencrypted PKCS#8 PEM (caller wipes and frees): RSA of
 * bits, or Ed25519 (bits ignored).
 */
int	 tls_key_generate(enum tls_key_type, unsigned bits, char **pem,
	    size_t *len, char *err, size_t errlen);

#endif
