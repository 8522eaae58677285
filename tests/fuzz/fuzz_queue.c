/*
 * fuzz_queue.c: queue entry envelopes (ID.env, doc/queue.md) as a crash,
 * a truncated write or an editor could leave them. The input is parsed;
 * what parses is formatted again and must parse to the same text (the
 * format round-trips, so a queue run never rewrites an entry wrongly).
 */
/* fuzz-sources: src/queue.c src/intake.c src/message.c src/envelope.c src/aliases.c src/rfc5322.c src/util.c */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope	 env, env2;
	struct qmeta	 m, m2;
	char		 err[256], *text, *text2;
	size_t		 len, len2;

	envelope_init(&env);
	qmeta_init(&m);
	if (queue_parse_env((const char *)data, size, &env, &m, err,
	    sizeof(err)) == 0) {
		text = queue_format_env(&env, &m, &len);
		envelope_init(&env2);
		qmeta_init(&m2);
		if (queue_parse_env(text, len, &env2, &m2, err,
		    sizeof(err)) != 0)
			abort();	/* what we write, we must read */
		text2 = queue_format_env(&env2, &m2, &len2);
		if (len != len2 || memcmp(text, text2, len) != 0)
			abort();
		free(text2);
		free(text);
		qmeta_free(&m2);
		envelope_free(&env2);
	}
	qmeta_free(&m);
	envelope_free(&env);
	return 0;
}
