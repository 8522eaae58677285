/*
 * fuzz_dkim.c: what DKIM signing parses or canonicalizes (dkimkey.c,
 * dkim.c). The first octet picks the part: 0 the key file (its PEM and
 * DER, whoever wrote it), 1 a header field (relaxed, RFC 6376 §3.4.2),
 * 2 a body (relaxed, §3.4.4), streamed in pieces whose sizes the next
 * octet sets and compared with the body canonicalized whole.
 */
/* fuzz-sources: src/dkim.c src/dkimkey.c src/secret.c src/tls.c src/net.c src/message.c src/intake.c src/rfc5322.c src/config.c src/util.c */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "dkimkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
sink(void *ctx, const char *p, size_t n)
{
	buf_add(ctx, p, n);
}

static void
body_in(const char *p, size_t n, size_t step, struct buf *out)
{
	struct dkim_body b;
	size_t		 k;

	dkim_body_init(&b, sink, out);
	for (; n > 0; p += k, n -= k) {
		k = n < step ? n : step;
		dkim_body_add(&b, p, k);
	}
	dkim_body_end(&b);
}

/* Relaxed output: no WSP before a CRLF, no empty line at the end. */
static void
check_body(const struct buf *b)
{
	size_t	 i;

	if (b->len > 0 && (b->len < 2 || memcmp(b->data + b->len - 2, "\r\n",
	    2) != 0 || (b->len >= 4 && memcmp(b->data + b->len - 4,
	    "\r\n\r\n", 4) == 0) || b->len == 2))
		abort();
	for (i = 1; i < b->len; i++)
		if (b->data[i] == '\n' && (b->data[i - 1] != '\r' ||
		    (i >= 2 && (b->data[i - 2] == ' ' ||
		    b->data[i - 2] == '\t'))))
			abort();
}

static void
fuzz_body(const char *p, size_t n)
{
	struct buf	 whole, pieces;
	size_t		 step = n > 0 ? (unsigned char)p[0] % 64 + 1 : 1;

	buf_init(&whole);
	buf_init(&pieces);
	body_in(p, n, n + 1, &whole);
	body_in(p, n, step, &pieces);
	if (whole.len != pieces.len || (whole.len > 0 &&
	    memcmp(whole.data, pieces.data, whole.len) != 0))
		abort();
	check_body(&whole);
	buf_free(&whole);
	buf_free(&pieces);
}

/* A field as intake.c indexes one: a name of printable ASCII, a colon. */
static void
fuzz_header(const char *p, size_t n)
{
	const char	*colon = memchr(p, ':', n);
	struct buf	 b;
	size_t		 i;

	if (colon == NULL)
		return;
	for (i = 0; p + i < colon; i++)
		if ((unsigned char)p[i] < 32 || (unsigned char)p[i] > 126)
			return;
	buf_init(&b);
	dkim_canon_header(p, n, &b);
	if (memchr(b.data, ':', b.len) == NULL || memchr(b.data, '\r',
	    b.len) != NULL || memchr(b.data, '\n', b.len) != NULL ||
	    (b.len > 0 && (b.data[b.len - 1] == ' ' ||
	    b.data[b.len - 1] == '\t')))
		abort();
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data + 1;
	enum tls_key_type type;
	unsigned	 bits;
	char		 why[256];

	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (dkimkey_parse(p, size - 1, &type, &bits, why,
		    sizeof(why)) == 0 && type == TLS_KEY_RSA &&
		    bits < DKIMKEY_RSA_MIN)
			abort();
		break;
	case 1:
		fuzz_header(p, size - 1);
		break;
	default:
		fuzz_body(p, size - 1);
		break;
	}
	return 0;
}
