/*
 * fuzz_sasl.c: hostile AUTH challenges. The first byte picks the
 * mechanism; the rest, split at the first LF, is the server's first and
 * second challenge, base64-encoded as a server would send them (and, for
 * a quarter of the inputs, passed raw so the strict decoder is fuzzed too).
 */
/* fuzz-sources: src/sasl.c src/tls.c src/net.c src/util.c */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
step(struct sasl *s, const uint8_t *p, size_t n, int raw)
{
	char *in, *resp = NULL, err[256];

	in = raw ? xstrndup((const char *)p, n) : b64_encode(p, n);
	if (sasl_step(s, in, &resp, err, sizeof(err)) == 0 && resp == NULL)
		abort();
	if (resp != NULL)
		sasl_free_response(resp);
	free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Bit 0x10 picks the OAuth2 half, so old inputs keep their mech. */
	static const enum sasl_mech mechs[] = { SASL_SCRAM_SHA_256,
	    SASL_PLAIN, SASL_LOGIN, SASL_CRAM_MD5, SASL_XOAUTH2,
	    SASL_OAUTHBEARER, SASL_XOAUTH2, SASL_OAUTHBEARER };
	struct sasl s;
	char err[256], *first;
	const uint8_t *nl;
	int raw;

	if (size < 1)
		return 0;
	raw = (data[0] & 0x0c) == 0x0c;
	if (sasl_start(&s, mechs[(data[0] & 3) | (data[0] & 0x10) >> 2],
	    "user", "pencil", err, sizeof(err)) != 0) {
		sasl_end(&s);
		return 0;
	}
	(void)sasl_set_nonce_for_test(&s, "rOprNGfwEbeRWgbNEkqO");
	if ((first = sasl_initial(&s)) != NULL)
		sasl_free_response(first);
	data++;
	size--;
	nl = memchr(data, '\n', size);
	step(&s, data, nl ? (size_t)(nl - data) : size, raw);
	if (nl != NULL)
		step(&s, nl + 1, size - (size_t)(nl - data) - 1, raw);
	sasl_end(&s);
	return 0;
}
