/*
 * dkimkey.h: what the file named by dkim_key must be (SPEC §4): a regular
 * file that others can neither read nor write (its group may, as for
 * relay_password_file), holding one unencrypted PEM private key: PKCS#8
 * ("BEGIN PRIVATE KEY") RSA or Ed25519 (RFC 8410), or PKCS#1 ("BEGIN RSA
 * PRIVATE KEY"); RSA of at least 1024 bits (RFC 8301 §3.2).
 *
 * The check reads the key's ASN.1 structure only, with no crypto library:
 * the configuration is checked at every start (exit 78), and GnuTLS is
 * loaded only when something is signed (SPEC §9), where tls.c imports the
 * key that dkimkey_read() read again.
 */
#ifndef MXSEND_DKIMKEY_H
#define MXSEND_DKIMKEY_H

#include <stddef.h>

#include "tls.h"
#include "util.h"

#define DKIMKEY_FILE_MAX	(64 * 1024)	/* 16384-bit RSA: 13 KB */
#define DKIMKEY_RSA_MIN		1024		/* RFC 8301 §3.2 */

struct dkimkey {
	enum tls_key_type type;
	unsigned	 bits;		/* RSA modulus; 256 for Ed25519 */
	struct buf	 pem;		/* the file's text: a secret */
};

/*
 * The key in text[0..len): 0 with its type and size, or -1 with why
 * ("holds no PEM private key", "holds an RSA key of 512 bits: ...").
 * A pure function (fuzzed).
 */
int	 dkimkey_parse(const char *text, size_t len, enum tls_key_type *,
	    unsigned *bits, char *why, size_t whylen);

/*
 * Open path as dkim_key (secret_file_open()'s rules, as the caller) and
 * check what it holds. Returns 0 with k filled (dkimkey_free() wipes it),
 * or -1 with err naming the file and the reason.
 */
int	 dkimkey_read(const char *path, struct dkimkey *k, char *err,
	    size_t errlen);
void	 dkimkey_free(struct dkimkey *);

/* "rsa" or "ed25519", as DKIM's k= tag writes the type. */
const char *dkimkey_name(enum tls_key_type);

#endif
