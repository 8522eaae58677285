/*
 * fuzz_smtpd.c: the -bs command parser (smtpd_parse) against a hostile
 * client (SPEC §10). The input is split at LF into command lines (a CR
 * before the LF dropped, as the session does), each parsed; a command
 * taken must have a known verb and a path of printable ASCII that fits,
 * a refused one a reply code of RFC 5321's and one line of text.
 */
/* fuzz-sources: src/smtpd.c src/envelope.c src/aliases.c src/rfc5322.c src/names.c src/lookup.c src/config.c src/secret.c src/dkimkey.c src/util.c */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_taken(const struct smtpd_cmd *c)
{
	size_t i, n = strnlen(c->path, sizeof(c->path));

	if (c->verb < SMTPD_EHLO || c->verb > SMTPD_HELP ||
	    n == sizeof(c->path))
		abort();
	if (n > 0 && c->verb != SMTPD_MAIL && c->verb != SMTPD_RCPT)
		abort();
	if (c->verb == SMTPD_RCPT && n == 0)
		abort();
	for (i = 0; i < n; i++)
		if (c->path[i] < 33 && c->path[i] != ' ')
			abort();
	if (c->has_size && c->verb != SMTPD_MAIL)
		abort();
}

static void
check_refused(const struct smtpd_reply *r)
{
	size_t n = strnlen(r->text, sizeof(r->text));

	if (n == 0 || n == sizeof(r->text) || strpbrk(r->text, "\r\n"))
		abort();
	switch (r->code) {
	case 500: case 501: case 502: case 553: case 555:
		break;
	default:
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct smtpd_cmd c;
	struct smtpd_reply r;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		char *line;

		if (len > 0 && p[len - 1] == '\r')
			len--;
		/* An exact copy: reading past len is an ASan report. */
		line = malloc(len ? len : 1);
		memcpy(line, p, len);
		if (smtpd_parse(line, len, &c, &r) == 0)
			check_taken(&c);
		else
			check_refused(&r);
		free(line);
		p = nl ? nl + 1 : end;
	}
	return 0;
}
