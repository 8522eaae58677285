/*
 * fuzz_address.c: libFuzzer target for the address parsers (SPEC §5.5,
 * §10): any bytes as an address list, an envelope mailbox, an RFC 2047
 * display name and a folded field value. Aborts when an output could put
 * CR, LF or NUL on the wire, when a mailbox has an empty local part, or
 * when an address in RFC 5321 form does not parse back to itself.
 */
/* fuzz-sources: src/rfc5322.c src/util.c */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rfc5322.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_line(const char *s)
{
	if (s != NULL && strpbrk(s, "\r\n") != NULL)
		abort();
}

/* Whether s (NULL: none) has an 8-bit octet. */
static int
has8(const char *s)
{
	return s != NULL && has_8bit(s, strlen(s));
}

/* What the parser returns must parse back to the same address. */
static void
check_roundtrip(const char *addr)
{
	struct mailbox mb;
	char err[256], *again;

	if (rfc5322_parse_mailbox(addr, strlen(addr), &mb, err,
	    sizeof(err)) != 0)
		abort();
	again = mailbox_addr(&mb);
	if (strcmp(again, addr) != 0)
		abort();
	free(again);
	mailbox_free(&mb);
}

static void
check_mailbox(const struct mailbox *mb)
{
	char *addr;

	if (mb->local == NULL || mb->local[0] == '\0')
		abort();
	if (mb->domain != NULL && mb->domain[0] == '\0')
		abort();
	check_line(mb->display);
	check_line(mb->local);
	check_line(mb->domain);
	check_line(mb->group);
	if (mb->utf8 != (has8(mb->local) || has8(mb->domain)))
		abort();
	addr = mailbox_addr(mb);
	check_roundtrip(addr);
	free(addr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct addrlist l;
	struct mailbox mb;
	char err[256], *out;
	size_t i, n;

	addrlist_init(&l);
	rfc5322_parse_address_list(s, size, &l);
	for (i = 0; i < l.n; i++)
		check_mailbox(&l.v[i]);
	for (i = 0; i < l.nerrs; i++) {
		check_line(l.errs[i].text);
		check_line(l.errs[i].reason);
		if (strlen(l.errs[i].text) > 200 || l.errs[i].reason[0] == '\0')
			abort();
	}
	addrlist_free(&l);

	if (rfc5322_parse_mailbox(s, size, &mb, err, sizeof(err)) == 0) {
		if (memchr(s, '\r', size) != NULL ||
		    memchr(s, '\n', size) != NULL ||
		    memchr(s, '\0', size) != NULL)
			abort();
		if (mb.local == NULL)
			abort();
		if (mb.local[0] == '\0') {
			if (mb.domain != NULL)
				abort();
		} else
			check_mailbox(&mb);
		mailbox_free(&mb);
	} else
		check_line(err);

	out = rfc2047_decode(s, size);
	check_line(out);
	free(out);

	out = rfc5322_unfold(s, size);
	check_line(out);
	if ((n = strlen(out)) > 0 && (out[0] == ' ' || out[0] == '\t' ||
	    out[n - 1] == ' ' || out[n - 1] == '\t'))
		abort();
	free(out);

	n = rfc5322_field_name(s, size);
	for (i = 0; i < n; i++)
		if (data[i] <= ' ' || data[i] >= 0x7f || data[i] == ':')
			abort();
	return 0;
}
