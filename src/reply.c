/*
 * reply.c: SMTP reply and EHLO capability parsing.
 *
 * RFC 5321 §4.2: a reply is one or more lines "NNN-text" ending with a line
 * "NNN text" (or a bare "NNN"); every line carries the same code, the
 * first digit 2-5 and the second 0-5 (§4.2.1). Anything else is not a
 * reply we can act on: the session ends as a temporary failure of that
 * server, never a guess. RFC 2034 puts an enhanced status code (RFC 3463
 * "class.subject.detail", the class matching the reply's first digit) at
 * the start of each line's text; we take the first line's.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

void
reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->text);
}

void
reply_free(struct reply *r)
{
	buf_free(&r->text);
	memset(r, 0, sizeof(*r));
}

void
reply_reset(struct reply *r)
{
	buf_reset(&r->text);
	r->code = 0;
	r->enh[0] = '\0';
	r->nlines = 0;
	r->size = 0;
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of a leading "d.ddd.ddd" enhanced code whose class is cls. */
static size_t
enh_len(const char *s, size_t len, char cls)
{
	size_t i = 0, n;
	int part;

	if (len < 5 || s[0] != cls || s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (n = 0; i < len && is_digit(s[i]) && n < 4; i++, n++)
			;
		if (n == 0 || n > 3)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

/* The start of a bad line for err: 60 octets at most, made printable. */
static void
printable(const char *s, size_t len, char *out, size_t outlen)
{
	if (len > outlen - 1)
		len = outlen - 1;
	if (len > 60)
		len = 60;
	memcpy(out, s, len);
	out[text_printable(out, len)] = '\0';
}

enum reply_status
reply_feed(struct reply *r, const char *line, size_t len, char *err,
    size_t errlen)
{
	const char *text;
	size_t tlen, i, o;
	int code, last;

	r->size += len + 2;
	if (r->size > REPLY_MAX) {
		snprintf(err, errlen, "reply larger than %d KiB",
		    REPLY_MAX / 1024);
		return REPLY_BAD;
	}
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || !is_digit(line[2]) ||
	    (len > 3 && line[3] != ' ' && line[3] != '-')) {
		char p[64];

		printable(line, len, p, sizeof(p));
		snprintf(err, errlen, "malformed reply line '%s'", p);
		return REPLY_BAD;
	}
	for (i = 0; i < len; i++) {
		if (line[i] == '\0') {
			snprintf(err, errlen, "NUL byte in a reply");
			return REPLY_BAD;
		}
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code) {
		snprintf(err, errlen, "reply code changed from %d to %d",
		    r->code, code);
		return REPLY_BAD;
	}
	last = len == 3 || line[3] == ' ';
	text = len > 4 ? line + 4 : "";
	tlen = len > 4 ? len - 4 : 0;
	if (r->nlines == 0) {
		size_t e = enh_len(text, tlen, line[0]);

		r->code = code;
		if (e > 0 && e < sizeof(r->enh)) {
			memcpy(r->enh, text, e);
			r->enh[e] = '\0';
		}
	} else
		buf_addc(&r->text, '\n');
	/*
	 * SPEC §6, §10: whatever the server wrote reaches recipients'
	 * reasons, stderr, the log and bounces from here; none of them may
	 * carry a terminal escape sequence.
	 */
	o = r->text.len;
	buf_add(&r->text, text, tlen);
	r->text.len = o + text_printable(r->text.data + o, tlen);
	r->nlines++;
	return last ? REPLY_DONE : REPLY_MORE;
}

void
reply_summary(const struct reply *r, char *out, size_t outlen)
{
	size_t o, i;

	snprintf(out, outlen, "%03d", r->code);
	o = strlen(out);
	if (r->text.len > 0 && o + 1 < outlen)
		out[o++] = ' ';
	for (i = 0; i < r->text.len && o + 1 < outlen; i++) {
		char c = r->text.data[i];

		if (c == '\n')
			c = ' ';
		else if ((unsigned char)c < 0x20 || c == 0x7f)
			c = '?';
		out[o++] = c;
	}
	if (o < outlen)
		out[o] = '\0';
}

static int
word_is(const char *w, size_t n, const char *kw)
{
	return strlen(kw) == n && ascii_strncasecmp(w, kw, n) == 0;
}

static unsigned
auth_mechs(const char *s, size_t len)
{
	unsigned m = 0;
	size_t i = 0;

	while (i < len) {
		size_t j;

		while (i < len && (s[i] == ' ' || s[i] == '='))
			i++;
		for (j = i; j < len && s[j] != ' '; j++)
			;
		if (word_is(s + i, j - i, "SCRAM-SHA-256"))
			m |= AUTHM_SCRAM_SHA_256;
		else if (word_is(s + i, j - i, "PLAIN"))
			m |= AUTHM_PLAIN;
		else if (word_is(s + i, j - i, "LOGIN"))
			m |= AUTHM_LOGIN;
		else if (word_is(s + i, j - i, "CRAM-MD5"))
			m |= AUTHM_CRAM_MD5;
		else if (word_is(s + i, j - i, "XOAUTH2"))
			m |= AUTHM_XOAUTH2;
		else if (word_is(s + i, j - i, "OAUTHBEARER"))
			m |= AUTHM_OAUTHBEARER;
		i = j;
	}
	return m;
}

void
ehlo_parse(const struct reply *r, struct ehlo_caps *caps)
{
	const char *p = r->text.data ? r->text.data : "";
	const char *end = p + r->text.len;
	int first = 1;

	memset(caps, 0, sizeof(*caps));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t kw;

		if (first) {	/* the greeting: "host says hello" */
			first = 0;
			p = nl ? nl + 1 : end;
			continue;
		}
		for (kw = 0; p + kw < le && p[kw] != ' ' && p[kw] != '='; kw++)
			;
		if (word_is(p, kw, "PIPELINING"))
			caps->ext |= EXT_PIPELINING;
		else if (word_is(p, kw, "CHUNKING"))
			caps->ext |= EXT_CHUNKING;
		else if (word_is(p, kw, "8BITMIME"))
			caps->ext |= EXT_8BITMIME;
		else if (word_is(p, kw, "SMTPUTF8"))
			caps->ext |= EXT_SMTPUTF8;
		else if (word_is(p, kw, "DSN"))
			caps->ext |= EXT_DSN;
		else if (word_is(p, kw, "ENHANCEDSTATUSCODES"))
			caps->ext |= EXT_ENHANCEDSTATUSCODES;
		else if (word_is(p, kw, "STARTTLS"))
			caps->ext |= EXT_STARTTLS;
		else if (word_is(p, kw, "AUTH")) {
			caps->ext |= EXT_AUTH;
			caps->auth |= auth_mechs(p + kw, (size_t)(le - p - kw));
		} else if (word_is(p, kw, "SIZE")) {
			const char *q = p + kw;
			uint64_t v = 0;
			int ok = 1;

			caps->ext |= EXT_SIZE;
			while (q < le && *q == ' ')
				q++;
			for (; q < le && is_digit(*q); q++) {
				if (v > (UINT64_MAX - 9) / 10) {
					ok = 0;
					break;
				}
				v = v * 10 + (uint64_t)(*q - '0');
			}
			/* "SIZE" alone or "SIZE 0": no fixed limit. */
			caps->size = ok ? v : 0;
		}
		p = nl ? nl + 1 : end;
	}
}
