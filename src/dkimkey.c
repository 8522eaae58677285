/*
 * dkimkey.c: the DKIM private key file (SPEC §4 dkim_key), checked by its
 * structure alone: the PEM armour (RFC 7468), then the DER (X.690) of a
 * PKCS#8 PrivateKeyInfo (RFC 5208 §5) holding an RSAPrivateKey (RFC 8017
 * A.1.2) or an Ed25519 CurvePrivateKey (RFC 8410 §7), or of a bare
 * RSAPrivateKey (PKCS#1, "BEGIN RSA PRIVATE KEY"). No crypto library is
 * needed to tell a malformed, encrypted, foreign or too weak key (RFC 8301
 * §3.2: RSA of at least 1024 bits) from a usable one, so that the
 * configuration check (exit 78) never loads GnuTLS; tls.c imports the key
 * when a message is signed. Every buffer that held key material is wiped.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dkimkey.h"
#include "secret.h"
#include "util.h"

#define TAG_INTEGER	0x02
#define TAG_OCTETS	0x04
#define TAG_OID		0x06
#define TAG_SEQUENCE	0x30

/* What is left to read of a DER encoding. */
struct der {
	const unsigned char *p;
	size_t		 n;
};

static const unsigned char oid_rsa[] = {	/* 1.2.840.113549.1.1.1 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01
};
static const unsigned char oid_rsa_pss[] = {	/* 1.2.840.113549.1.1.10 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a
};
static const unsigned char oid_ed25519[] = {	/* 1.3.101.112 */
	0x2b, 0x65, 0x70
};

const char *
dkimkey_name(enum tls_key_type type)
{
	return type == TLS_KEY_RSA ? "rsa" : "ed25519";
}

/*
 * The next element of d, which must have tag tag, its contents in *c.
 * Definite lengths of up to 3 octets only (X.690 §8.1.3): a key never
 * needs more, and nothing else is DER. Returns 0 or -1.
 */
static int
der_next(struct der *d, unsigned char tag, struct der *c)
{
	size_t	 len, hdr = 2, nb, i;

	if (d->n < 2 || d->p[0] != tag)
		return -1;
	len = d->p[1];
	if (len & 0x80) {
		nb = len & 0x7f;
		if (nb == 0 || nb > 3 || d->n < 2 + nb)
			return -1;
		for (len = 0, i = 0; i < nb; i++)
			len = len << 8 | d->p[2 + i];
		hdr += nb;
	}
	if (len > d->n - hdr)
		return -1;
	c->p = d->p + hdr;
	c->n = len;
	d->p += hdr + len;
	d->n -= hdr + len;
	return 0;
}

static int
oid_is(const struct der *oid, const unsigned char *want, size_t n)
{
	return oid->n == n && memcmp(oid->p, want, n) == 0;
}

/* The size in bits of a non-negative INTEGER's value. */
static unsigned
int_bits(const struct der *in)
{
	size_t		 k = 0;
	unsigned	 bits;
	unsigned char	 top;

	while (k < in->n && in->p[k] == 0)
		k++;
	if (k == in->n)
		return 0;
	bits = (unsigned)(in->n - k) * 8;
	for (top = in->p[k]; !(top & 0x80); top <<= 1)
		bits--;
	return bits;
}

/*
 * RSAPrivateKey (RFC 8017 A.1.2): a version and eight integers, the
 * second the modulus. Returns 0 with its size, or -1.
 */
static int
rsa_private(struct der d, unsigned *bits)
{
	struct der	 seq, in;
	int		 i;

	if (der_next(&d, TAG_SEQUENCE, &seq) != 0 || d.n != 0)
		return -1;
	for (i = 0; i < 9; i++) {
		if (der_next(&seq, TAG_INTEGER, &in) != 0 || in.n == 0)
			return -1;
		if (i == 1) {
			if (in.p[0] & 0x80)
				return -1;	/* a negative modulus */
			*bits = int_bits(&in);
		}
	}
	return 0;
}

/* PrivateKeyInfo (RFC 5208 §5, RFC 5958 §2) of an RSA or Ed25519 key. */
static int
pkcs8(struct der d, enum tls_key_type *type, unsigned *bits, char *why,
    size_t whylen)
{
	struct der	 seq, ver, alg, oid, key, inner;

	if (der_next(&d, TAG_SEQUENCE, &seq) != 0 || d.n != 0 ||
	    der_next(&seq, TAG_INTEGER, &ver) != 0 ||
	    der_next(&seq, TAG_SEQUENCE, &alg) != 0 ||
	    der_next(&alg, TAG_OID, &oid) != 0 ||
	    der_next(&seq, TAG_OCTETS, &key) != 0)
		goto malformed;
	if (oid_is(&oid, oid_rsa, sizeof(oid_rsa))) {
		*type = TLS_KEY_RSA;
		if (rsa_private(key, bits) != 0)
			goto malformed;
		return 0;
	}
	if (oid_is(&oid, oid_ed25519, sizeof(oid_ed25519))) {
		/* RFC 8410 §7: CurvePrivateKey, an OCTET STRING of 32. */
		*type = TLS_KEY_ED25519;
		*bits = 256;
		if (der_next(&key, TAG_OCTETS, &inner) != 0 || key.n != 0 ||
		    inner.n != 32)
			goto malformed;
		return 0;
	}
	if (oid_is(&oid, oid_rsa_pss, sizeof(oid_rsa_pss)))
		snprintf(why, whylen, "holds an RSA-PSS key, which cannot "
		    "sign rsa-sha256 (RFC 6376 uses PKCS#1 v1.5)");
	else
		snprintf(why, whylen, "holds a key that is neither RSA nor "
		    "Ed25519 (DKIM signs with rsa-sha256 or ed25519-sha256)");
	return -1;
malformed:
	snprintf(why, whylen, "holds a malformed private key");
	return -1;
}

/* The length of the line at p (end excluded), and where the next starts. */
static size_t
line_at(const char *p, const char *end, const char **next)
{
	const char	*nl = memchr(p, '\n', (size_t)(end - p));
	size_t		 len;

	*next = nl != NULL ? nl + 1 : end;
	len = (size_t)((nl != NULL ? nl : end) - p);
	if (len > 0 && p[len - 1] == '\r')
		len--;
	return len;
}

static int
starts(const char *p, size_t len, const char *prefix)
{
	size_t	 n = strlen(prefix);

	return len >= n && memcmp(p, prefix, n) == 0;
}

/*
 * The first PEM block of text (RFC 7468 §2; text before it is allowed,
 * as certtool and openssl write it): its label copied to label, and the
 * base64 lines between the armour lines, white space removed, in b64.
 * RFC 1421 headers (Proc-Type: 4,ENCRYPTED) set *encrypted. Returns 0,
 * or -1 when there is no whole block.
 */
static int
pem_block(const char *text, size_t len, char *label, size_t labellen,
    struct buf *b64, int *encrypted)
{
	const char	*p = text, *end = text + len, *next;
	size_t		 n, i, ln = 0;
	int		 in = 0;

	for (; p < end; p = next) {
		n = line_at(p, end, &next);
		if (!in && starts(p, n, "-----BEGIN ") && n >= 16 &&
		    memcmp(p + n - 5, "-----", 5) == 0) {
			ln = n - 16;
			if (ln >= labellen)
				return -1;
			memcpy(label, p + 11, ln);
			label[ln] = '\0';
			in = 1;
		} else if (in && starts(p, n, "-----END "))
			return n == ln + 14 && memcmp(p + 9, label, ln) == 0 &&
			    memcmp(p + 9 + ln, "-----", 5) == 0 ? 0 : -1;
		else if (in && memchr(p, ':', n) != NULL)
			*encrypted |= starts(p, n, "Proc-Type:") &&
			    memmem(p, n, "ENCRYPTED", 9) != NULL;
		else if (in)
			for (i = 0; i < n; i++)
				if (!is_wsp(p[i]))
					buf_addc(b64, p[i]);
	}
	return -1;
}

int
dkimkey_parse(const char *text, size_t len, enum tls_key_type *type,
    unsigned *bits, char *why, size_t whylen)
{
	struct buf	 b64;
	struct der	 d;
	unsigned char	*der;
	char		 label[64];
	size_t		 dlen = 0;
	int		 encrypted = 0, rc = -1;

	buf_init(&b64);
	*bits = 0;
	if (pem_block(text, len, label, sizeof(label), &b64, &encrypted) != 0) {
		snprintf(why, whylen, "holds no PEM private key (\"-----BEGIN "
		    "PRIVATE KEY-----\" ... \"-----END PRIVATE KEY-----\")");
		goto out;
	}
	if (encrypted || strcmp(label, "ENCRYPTED PRIVATE KEY") == 0) {
		snprintf(why, whylen, "holds an encrypted private key: "
		    "mxsend cannot ask for a passphrase (openssl pkey -in "
		    "FILE -out NEWFILE writes it unencrypted)");
		goto out;
	}
	if (strcmp(label, "PRIVATE KEY") != 0 &&
	    strcmp(label, "RSA PRIVATE KEY") != 0) {
		snprintf(why, whylen, "holds \"-----BEGIN %s-----\": not an "
		    "RSA or Ed25519 private key", label);
		goto out;
	}
	if ((der = b64_decode(b64.data, b64.len, &dlen)) == NULL) {
		snprintf(why, whylen, "holds a PEM block that is not valid "
		    "base64");
		goto out;
	}
	d.p = der;
	d.n = dlen;
	if (strcmp(label, "PRIVATE KEY") == 0)
		rc = pkcs8(d, type, bits, why, whylen);
	else if ((*type = TLS_KEY_RSA, rc = rsa_private(d, bits)) != 0)
		snprintf(why, whylen, "holds a malformed private key");
	explicit_bzero(der, dlen);
	free(der);
	if (rc == 0 && *type == TLS_KEY_RSA && *bits < DKIMKEY_RSA_MIN) {
		snprintf(why, whylen, "holds an RSA key of %u bits: DKIM "
		    "needs at least %d (RFC 8301), 2048 are usual", *bits,
		    DKIMKEY_RSA_MIN);
		rc = -1;
	}
out:
	if (b64.data != NULL)
		explicit_bzero(b64.data, b64.len);
	buf_free(&b64);
	return rc;
}

int
dkimkey_read(const char *path, struct dkimkey *k, char *err, size_t errlen)
{
	char	 why[256];
	int	 fd, saved;

	memset(k, 0, sizeof(*k));
	buf_init(&k->pem);
	if ((fd = secret_file_open("dkim_key", path, err, errlen)) == -1)
		return -1;
	if (read_all(fd, DKIMKEY_FILE_MAX, 1, &k->pem) != 0) {
		saved = errno;
		close(fd);
		snprintf(err, errlen, "dkim_key %s: %s", path,
		    saved == EFBIG ? "larger than 64 KiB: not a key file" :
		    saved == EILSEQ ? "holds a NUL byte: not a PEM key" :
		    strerror(saved));
		dkimkey_free(k);
		return -1;
	}
	close(fd);
	if (dkimkey_parse(k->pem.data, k->pem.len, &k->type, &k->bits, why,
	    sizeof(why)) != 0) {
		snprintf(err, errlen, "dkim_key %s %s", path, why);
		dkimkey_free(k);
		return -1;
	}
	return 0;
}

void
dkimkey_free(struct dkimkey *k)
{
	if (k->pem.data != NULL)
		explicit_bzero(k->pem.data, k->pem.len);
	buf_free(&k->pem);
}
