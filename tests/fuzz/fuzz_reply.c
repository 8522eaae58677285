/*
 * fuzz_reply.c: SMTP reply lines and EHLO capabilities from a hostile
 * server. The input is split at LF into lines, fed to reply_feed until a
 * reply completes or is refused, then parsed as EHLO capabilities.
 */
/* fuzz-sources: src/reply.c src/util.c */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct reply r;
	struct ehlo_caps caps;
	char err[256], sum[512];
	enum reply_status st = REPLY_MORE;

	reply_init(&r);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);

		st = reply_feed(&r, p, len, err, sizeof(err));
		if (st != REPLY_MORE) {
			if (st == REPLY_DONE) {
				if (r.code < 200 || r.code > 559)
					abort();
				ehlo_parse(&r, &caps);
				reply_summary(&r, sum, sizeof(sum));
				if (strchr(sum, '\n') || strchr(sum, '\r'))
					abort();
			}
			reply_reset(&r);
		}
		p = nl ? nl + 1 : end;
	}
	if (r.size > REPLY_MAX + 1024 * 1024)
		abort();
	reply_free(&r);
	return 0;
}
