/*
 * test_message.c: header edits and streaming of the spooled message
 * (SPEC §5.4): what goes on the wire, byte for byte.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "intake.h"
#include "message.h"
#include "spooled.h"

#define NOW	1796163970	/* Tue, 01 Dec 2026 22:26:10 UTC */

static void
setup_tz(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

/* A message spooled from in (LF or CRLF endings). */
static void
load(struct message *msg, const char *in)
{
	spooled(msg, in, strlen(in), 0);
}

#define unload	spooled_free

static int
collect(void *ctx, const char *p, size_t n)
{
	buf_add(ctx, p, n);
	return 0;
}

/* The streamed message; its length must be what msg_stream_size says. */
static char *
streamed(const struct message *msg, int flags)
{
	struct buf b;

	buf_init(&b);
	cr_assert_eq(msg_stream(msg, flags, collect, &b), 0);
	cr_assert_eq((off_t)b.len, msg_stream_size(msg, flags));
	return buf_release(&b);
}

static const struct msg_submit submit = {
	.sender = "alice@example.org",
	.fullname = NULL,
	.queue_id = "19A3F0C2B4D1E0A3F1",
	.domain = "host.example.org",
	.login = "alice",
	.uid = 1000,
	.for_rcpt = NULL,
	.now = NOW
};

#define MSGID \
	"Message-ID: <20261201222610.19A3F0C2B4D1E0A3F1@host.example.org>" \
	"\r\n"

#define RECEIVED \
	"Received: by host.example.org (mxsend, from userid 1000) id\r\n" \
	" 19A3F0C2B4D1E0A3F1; Tue, 01 Dec 2026 22:26:10 +0000\r\n"

/* ------------------------------------------------------------- find */

/* ------------------------------------------------- qualification */

/* SPEC §5.4: the header addresses cron, mdadm and fail2ban write. */
Test(message, unqualified_header_addresses_get_the_domain)
{
	struct message msg;
	char *out;

	load(&msg, "From: root (Cron Daemon)\n"
	    "To: mdadm monitoring <root>, ok@x.example\n"
	    "Cc: g: u1, \"U 2\" <u2>;\n"
	    "Reply-To: root\n"
	    "Resent-From: admin\n"
	    "Subject: root\n"
	    "X-Other: root\n"
	    "\nbody root\n");
	cr_assert_eq(msg_qualify(&msg, "mx.example"), 5);
	out = streamed(&msg, 0);
	cr_assert_str_eq(out, "From: root@mx.example (Cron Daemon)\r\n"
	    "To: mdadm monitoring <root@mx.example>, ok@x.example\r\n"
	    "Cc: g: u1@mx.example, \"U 2\" <u2@mx.example>;\r\n"
	    "Reply-To: root@mx.example\r\n"
	    "Resent-From: admin@mx.example\r\n"
	    "Subject: root\r\n"
	    "X-Other: root\r\n"
	    "\r\nbody root\r\n");
	free(out);
	/* Again (a queue run): nothing more to do. */
	cr_assert_eq(msg_qualify(&msg, "mx.example"), 0);
	unload(&msg);
}

/* Folded fields keep their folding; qualified ones are left alone. */
Test(message, qualification_keeps_folding_and_qualified_fields)
{
	struct message msg;
	char *out;

	load(&msg, "To: a@b.example,\n\tc,\n d@e.example\n"
	    "From: x@y.example\n\nbody\n");
	cr_assert_eq(msg_qualify(&msg, "m.example"), 1);
	out = streamed(&msg, 0);
	cr_assert_str_eq(out, "To: a@b.example,\r\n\tc@m.example,\r\n "
	    "d@e.example\r\nFrom: x@y.example\r\n\r\nbody\r\n");
	free(out);
	unload(&msg);
}

/* SPEC §4 relay_from: the relay route's From:, the display name kept. */
Test(message, relay_from_replaces_the_address_on_the_relay_route)
{
	struct message msg;
	char *out;

	load(&msg, "From: \"Cron Daemon\" <root>\nTo: a@b.example\n"
	    "\nbody\n");
	cr_assert_eq(msg_relay_from(&msg, "cron@example.com"), 0);
	out = streamed(&msg, MSG_RELAY);
	cr_assert_str_eq(out, "From: \"Cron Daemon\" <cron@example.com>\r\n"
	    "To: a@b.example\r\n\r\nbody\r\n");
	free(out);
	out = streamed(&msg, 0);
	cr_assert_str_eq(out, "From: \"Cron Daemon\" <root>\r\n"
	    "To: a@b.example\r\n\r\nbody\r\n", "the MX route changed");
	free(out);
	unload(&msg);
}

Test(message, relay_from_without_display_name_and_generated_from)
{
	struct message msg;
	char *out;

	load(&msg, "From: root@host.example\n\nbody\n");
	cr_assert_eq(msg_relay_from(&msg, "cron@example.com"), 0);
	out = streamed(&msg, MSG_RELAY);
	cr_assert_str_eq(out, "From: cron@example.com\r\n\r\nbody\r\n");
	free(out);
	unload(&msg);

	load(&msg, "Subject: s\n\nbody\n");
	msg_append(&msg, "From", "Alice Example <alice@host.example>");
	msg_append(&msg, "Date", "Tue, 01 Dec 2026 22:26:10 +0000");
	cr_assert_eq(msg_relay_from(&msg, "cron@example.com"), 0);
	out = streamed(&msg, MSG_RELAY);
	cr_assert_str_eq(out, "Subject: s\r\nFrom: \"Alice Example\" "
	    "<cron@example.com>\r\nDate: Tue, 01 Dec 2026 22:26:10 +0000"
	    "\r\n\r\nbody\r\n");
	free(out);
	unload(&msg);
}

Test(message, find_iterates_case_insensitively)
{
	struct message msg;
	const struct hfield *f;
	size_t iter = 0;

	load(&msg, "To: a@b\nSubject: s\nto: c@d\nTO: e@f\n\nbody\n");
	f = msg_find(&msg, "To", &iter);
	cr_assert_str_eq(f->value, " a@b");
	f = msg_find(&msg, "to", &iter);
	cr_assert_str_eq(f->value, " c@d");
	f = msg_find(&msg, "tO", &iter);
	cr_assert_str_eq(f->value, " e@f");
	cr_assert_null(msg_find(&msg, "To", &iter));
	cr_assert_null(msg_find(&msg, "To", &iter));
	cr_assert(msg_has(&msg, "SUBJECT"));
	cr_assert_not(msg_has(&msg, "Cc"));
	cr_assert_not(msg_has(&msg, "T"));
	unload(&msg);
}

Test(message, drop_counts_and_hides)
{
	struct message msg;
	char *out;

	load(&msg, "To: a@b\nBcc: x@y\nSubject: s\nbcc: z@w\n\nbody\n");
	cr_assert_eq(msg_drop(&msg, "BCC"), 2);
	cr_assert_eq(msg_drop(&msg, "Cc"), 0);
	out = streamed(&msg, 0);
	cr_assert_str_eq(out, "To: a@b\r\nSubject: s\r\n\r\nbody\r\n");
	free(out);
	/* Dropped fields can still be read (for -t). */
	cr_assert(msg_has(&msg, "Bcc"));
	unload(&msg);
}

/* ------------------------------------------------------ added fields */

Test(message, append_and_prepend_order)
{
	struct message msg;
	char *out;

	load(&msg, "Subject: s\n\nbody\n");
	msg_append(&msg, "X-A", "1");
	msg_prepend(&msg, "X-P", "2");
	msg_append(&msg, "X-B", "3");
	msg_prepend(&msg, "X-Q", "4");
	out = streamed(&msg, 0);
	cr_assert_str_eq(out, "X-P: 2\r\nX-Q: 4\r\nSubject: s\r\nX-A: 1\r\n"
	    "X-B: 3\r\n\r\nbody\r\n");
	free(out);
	unload(&msg);
}

Test(message, long_value_folded_at_wsp)
{
	struct message msg;
	struct buf v, unf;
	size_t i, ll = 0, lines = 1;
	const char *p;

	buf_init(&v);
	for (i = 0; i < 40; i++)
		buf_printf(&v, "%sword%zu", i ? " " : "", i);
	msg_init(&msg, -1);
	msg_append(&msg, "Subject", v.data);
	buf_init(&unf);
	for (p = msg.append.data; *p; p++) {
		if (p[0] == '\r') {
			cr_assert_eq(p[1], '\n');
			cr_assert_leq(ll, 78);
			cr_assert_gt(ll, 40, "needless short line");
			ll = 0;
			p++;
			if (p[1] != '\0') {
				cr_assert_eq(p[1], ' ');
				lines++;
			}
			continue;
		}
		buf_addc(&unf, *p);
		ll++;
	}
	cr_assert_gt(lines, 3);
	cr_assert_eq(strncmp(unf.data, "Subject: ", 9), 0);
	cr_assert_str_eq(unf.data + 9, v.data);
	msg_free(&msg);
	buf_free(&v);
	buf_free(&unf);
}

Test(message, short_value_exact)
{
	struct message msg;

	msg_init(&msg, -1);
	msg_append(&msg, "X-Test", "a b  c");
	msg_append(&msg, "X-Empty", "");
	cr_assert_str_eq(msg.append.data, "X-Test: a b  c\r\nX-Empty:\r\n");
	msg_free(&msg);
}

Test(message, crlf_in_value_never_injects)
{
	struct message msg;

	msg_init(&msg, -1);
	msg_prepend(&msg, "X-Name", "evil\r\nBcc: victim@x\nY\rZ");
	cr_assert_str_eq(msg.prepend.data,
	    "X-Name: evil  Bcc: victim@x Y Z\r\n");
	msg_free(&msg);
}

Test(message, huge_word_broken_within_998)
{
	struct message msg;
	char *v = malloc(3001);
	const char *p, *e;
	size_t total = 0;

	memset(v, 'x', 3000);
	v[3000] = '\0';
	msg_init(&msg, -1);
	msg_append(&msg, "X-Big", v);
	for (p = msg.append.data; *p; p = e + 2) {
		e = strstr(p, "\r\n");
		cr_assert_not_null(e);
		cr_assert_leq((size_t)(e - p), 998);
		total += (size_t)(e - p);
	}
	/* "X-Big: " + 3000 + one SP at each of the 3 line starts added. */
	cr_assert_eq(total, 7 + 3000 + 3);
	msg_free(&msg);
	free(v);
}

Test(message, fold_after_long_word_and_trailing_space)
{
	struct message msg;
	struct buf v;

	buf_init(&v);
	while (v.len < 100)
		buf_addc(&v, 'L');
	buf_adds(&v, " tail   ");
	msg_init(&msg, -1);
	msg_append(&msg, "X", v.data);
	/* No fold before 78 exists: the first one after it is used. The
	 * trailing blanks never make a line of their own. */
	cr_assert_eq(strncmp(msg.append.data + 3 + 100, "\r\n tail   \r\n",
	    12), 0);
	cr_assert_eq(msg.append.len, 3 + 100 + 12);
	msg_free(&msg);
	buf_free(&v);
}

/* ------------------------------------------------------------- date */

Test(message, date_utc)
{
	char d[64];

	setup_tz();
	msg_date(NOW, d, sizeof(d));
	cr_assert_str_eq(d, "Tue, 01 Dec 2026 22:26:10 +0000");
	msg_date(0, d, sizeof(d));
	cr_assert_str_eq(d, "Thu, 01 Jan 1970 00:00:00 +0000");
}

Test(message, date_numeric_zones)
{
	char d[64];

	setenv("TZ", "EST5", 1);
	tzset();
	msg_date(NOW, d, sizeof(d));
	cr_assert_str_eq(d, "Tue, 01 Dec 2026 17:26:10 -0500");
	setenv("TZ", "IST-5:30", 1);
	tzset();
	msg_date(NOW, d, sizeof(d));
	cr_assert_str_eq(d, "Wed, 02 Dec 2026 03:56:10 +0530");
	setenv("TZ", "NST3:30", 1);
	tzset();
	msg_date(NOW, d, sizeof(d));
	cr_assert_str_eq(d, "Tue, 01 Dec 2026 18:56:10 -0330");
}

/* --------------------------------------------------------- complete */

Test(message, complete_adds_missing_fields)
{
	struct message msg;
	char *out;

	setup_tz();
	load(&msg, "To: bob@example.com\nSubject: hi\n\nHello.\n");
	msg_complete(&msg, &submit);
	out = streamed(&msg, 0);
	cr_assert_str_eq(out,
	    RECEIVED
	    "To: bob@example.com\r\n"
	    "Subject: hi\r\n"
	    "From: alice@example.org\r\n"
	    "Date: Tue, 01 Dec 2026 22:26:10 +0000\r\n"
	    MSGID
	    "\r\n"
	    "Hello.\r\n");
	free(out);
	unload(&msg);
}

Test(message, complete_keeps_present_fields)
{
	struct message msg;
	char *out;

	setup_tz();
	load(&msg, "from: Me <me@x>\nDATE: Mon, 30 Nov 2026 10:00:00 +0100\n"
	    "message-id: <a@b>\n\nx\n");
	msg_complete(&msg, &submit);
	cr_assert_eq(msg.append.len, 0);
	out = streamed(&msg, 0);
	cr_assert_str_eq(out, RECEIVED "from: Me <me@x>\r\n"
	    "DATE: Mon, 30 Nov 2026 10:00:00 +0100\r\n"
	    "message-id: <a@b>\r\n\r\nx\r\n");
	free(out);
	unload(&msg);
}

Test(message, complete_drops_bcc_and_resent_bcc)
{
	struct message msg;
	char *out;

	setup_tz();
	load(&msg, "From: a@b\nDate: x\nMessage-ID: <i@d>\nBcc: hidden@x,\n"
	    " more@x\nTo: t@x\nRESENT-BCC: r@x\nResent-To: s@x\nbcc:\n\nb\n");
	msg_complete(&msg, &submit);
	out = streamed(&msg, 0);
	cr_assert_str_eq(out, RECEIVED "From: a@b\r\nDate: x\r\n"
	    "Message-ID: <i@d>\r\nTo: t@x\r\nResent-To: s@x\r\n\r\nb\r\n");
	free(out);
	unload(&msg);
}

Test(message, complete_from_with_full_name)
{
	struct message msg;
	struct msg_submit sub = submit;

	setup_tz();
	sub.fullname = "John \"Q\" Doe\\";
	load(&msg, "Date: d\nMessage-ID: <i@d>\n\nb\n");
	msg_complete(&msg, &sub);
	cr_assert_str_eq(msg.append.data,
	    "From: \"John \\\"Q\\\" Doe\\\\\" <alice@example.org>\r\n");
	unload(&msg);

	sub.fullname = "Evil\r\nBcc: x@y";
	load(&msg, "Date: d\nMessage-ID: <i@d>\n\nb\n");
	msg_complete(&msg, &sub);
	cr_assert_str_eq(msg.append.data,
	    "From: \"Evil  Bcc: x@y\" <alice@example.org>\r\n");
	unload(&msg);

	sub.fullname = "";
	load(&msg, "Date: d\nMessage-ID: <i@d>\n\nb\n");
	msg_complete(&msg, &sub);
	cr_assert_str_eq(msg.append.data, "From: alice@example.org\r\n");
	unload(&msg);
}

Test(message, complete_from_utf8_name_encoded)
{
	struct message msg;
	struct msg_submit sub = submit;

	setup_tz();
	sub.fullname = "J\xc3\xbcrgen M\xc3\xbcller";
	load(&msg, "Date: d\nMessage-ID: <i@d>\n\nb\n");
	msg_complete(&msg, &sub);
	cr_assert_str_eq(msg.append.data,
	    "From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <alice@example.org>\r\n");
	unload(&msg);
}

static int
b64val(int c)
{
	const char *t =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(t, c);

	return p != NULL && c != '\0' ? (int)(p - t) : -1;
}

Test(message, complete_long_utf8_name_split_on_characters)
{
	struct message msg;
	struct msg_submit sub = submit;
	struct buf name, dec;
	const char *p, *q, *e;
	size_t i;
	int bits, nbits;

	setup_tz();
	buf_init(&name);
	buf_addc(&name, 'a');	/* so that 45-octet cuts fall inside one */
	for (i = 0; i < 40; i++)
		buf_adds(&name, "\xe2\x82\xac");	/* 40 euro signs */
	sub.fullname = name.data;
	load(&msg, "Date: d\nMessage-ID: <i@d>\n\nb\n");
	msg_complete(&msg, &sub);
	buf_init(&dec);
	for (p = msg.append.data; (q = strstr(p, "=?UTF-8?B?")) != NULL;
	    p = e + 2) {
		e = strstr(q + 10, "?=");
		cr_assert_not_null(e);
		cr_assert_leq((size_t)(e + 2 - q), 75);
		bits = nbits = 0;
		for (q += 10; q < e && *q != '='; q++) {
			cr_assert_geq(b64val(*q), 0);
			bits = ((bits << 6) | b64val(*q)) & 0xffffff;
			nbits += 6;
			if (nbits >= 8) {
				nbits -= 8;
				buf_addc(&dec, (bits >> nbits) & 0xff);
			}
		}
		cr_assert_eq((dec.len - 1) % 3, 0, "a word splits a character");
	}
	cr_assert_str_eq(dec.data, name.data);
	cr_assert_not_null(strstr(msg.append.data, "?= <alice@example.org>"));
	unload(&msg);
	buf_free(&name);
	buf_free(&dec);
}

Test(message, complete_null_sender)
{
	struct message msg;
	struct msg_submit sub = submit;

	setup_tz();
	sub.sender = "";
	load(&msg, "Date: d\nMessage-ID: <i@d>\n\nb\n");
	msg_complete(&msg, &sub);
	cr_assert_str_eq(msg.append.data,
	    "From: MAILER-DAEMON@host.example.org\r\n");
	unload(&msg);
}

Test(message, complete_received_for_one_recipient)
{
	struct message msg;
	struct msg_submit sub = submit;

	setup_tz();
	sub.for_rcpt = "bob@example.com";
	sub.uid = 0;
	load(&msg, "From: a@b\nDate: d\nMessage-ID: <i@d>\n\nb\n");
	msg_complete(&msg, &sub);
	cr_assert_str_eq(msg.prepend.data,
	    "Received: by host.example.org (mxsend, from userid 0) id "
	    "19A3F0C2B4D1E0A3F1\r\n for <bob@example.com>; Tue, 01 Dec 2026 "
	    "22:26:10 +0000\r\n");
	unload(&msg);
}

Test(message, message_id_uses_utc)
{
	struct message msg;

	setenv("TZ", "IST-5:30", 1);
	tzset();
	load(&msg, "From: a@b\nDate: d\n\nb\n");
	msg_complete(&msg, &submit);
	cr_assert_str_eq(msg.append.data, "Message-ID: "
	    "<20261201222610.19A3F0C2B4D1E0A3F1@host.example.org>\r\n");
	unload(&msg);
}

/* ----------------------------------------------------------- stream */

Test(message, stream_body_only_input)
{
	struct message msg;
	char *out;

	setup_tz();
	load(&msg, "just text\nTo: not@header\n");
	msg_complete(&msg, &submit);
	out = streamed(&msg, 0);
	cr_assert_str_eq(out, RECEIVED
	    "From: alice@example.org\r\n"
	    "Date: Tue, 01 Dec 2026 22:26:10 +0000\r\n"
	    MSGID
	    "\r\n"
	    "just text\r\nTo: not@header\r\n");
	free(out);
	unload(&msg);
}

Test(message, stream_without_separator)
{
	struct message msg;
	char *out;

	load(&msg, "Subject: s\nbody starts here\n");
	msg_append(&msg, "X-A", "1");
	out = streamed(&msg, 0);
	cr_assert_str_eq(out,
	    "Subject: s\r\nX-A: 1\r\n\r\nbody starts here\r\n");
	free(out);
	out = streamed(&msg, MSG_HEADERS_ONLY);
	cr_assert_str_eq(out, "Subject: s\r\nX-A: 1\r\n\r\n");
	free(out);
	unload(&msg);
}

Test(message, stream_headers_only)
{
	struct message msg;
	char *out;

	load(&msg, "To: a@b\nBcc: c@d\nSubject: s\n\nbody\nmore\n");
	msg_drop(&msg, "Bcc");
	msg_prepend(&msg, "Received", "by x");
	out = streamed(&msg, MSG_HEADERS_ONLY);
	cr_assert_str_eq(out,
	    "Received: by x\r\nTo: a@b\r\nSubject: s\r\n\r\n");
	free(out);
	unload(&msg);
}

Test(message, stream_empty_input)
{
	struct message msg;
	char *out;

	load(&msg, "");
	msg_append(&msg, "X", "y");
	out = streamed(&msg, 0);
	cr_assert_str_eq(out, "X: y\r\n\r\n");
	free(out);
	unload(&msg);
}

Test(message, stream_size_matches_for_many_shapes)
{
	static const char *const inputs[] = {
		"",
		"\n",
		"\n\n\n",
		"body only\n",
		"To: a@b\n",
		"To: a@b",
		"To: a@b\n\n",
		"Bcc: x@y\n\n",
		"Bcc: x@y\nBcc: z@w\n",
		"Bcc: x@y\nTo: a@b\nBcc: z@w\nCc: q@r\n\nbody\n",
		"From: a@b\nDate: d\nMessage-ID: <x@y>\n\nb\n",
		"Subject: a\n b\n c\nResent-Bcc: x\nno sep body\n",
		"From x\nTo: a@b\n\n.\n",
		NULL
	};
	static const int flags[] = { 0, MSG_HEADERS_ONLY };
	struct message msg;
	size_t i, j, k;
	char *out;

	setup_tz();
	for (i = 0; inputs[i] != NULL; i++)
		for (k = 0; k < 2; k++) {
			load(&msg, inputs[i]);
			if (k)
				msg_complete(&msg, &submit);
			for (j = 0; j < 2; j++) {
				/* streamed() asserts the size. */
				out = streamed(&msg, flags[j]);
				if (flags[j] & MSG_HEADERS_ONLY) {
					size_t n = strlen(out);

					cr_assert_geq(n, 2);
					cr_assert_str_eq(out + n - 2, "\r\n");
				}
				if (k)
					cr_assert_null(strstr(out, "Bcc"));
				free(out);
			}
			unload(&msg);
		}
}

Test(message, stream_large_message_in_chunks)
{
	static const char last[] =
	    "line 004999 of a message larger than one 64 KiB read\r\n";
	struct message msg;
	struct buf in;
	char *out;
	size_t i;

	buf_init(&in);
	buf_adds(&in, "To: a@b\nBcc: hidden@x\nSubject: big\n\n");
	for (i = 0; i < 5000; i++)
		buf_printf(&in, "line %06zu of a message larger than one "
		    "64 KiB read\n", i);
	load(&msg, in.data);
	msg_drop(&msg, "Bcc");
	out = streamed(&msg, 0);
	cr_assert_eq(strncmp(out, "To: a@b\r\nSubject: big\r\n\r\nline 000000",
	    36), 0);
	cr_assert_str_eq(out + strlen(out) - strlen(last), last);
	cr_assert_gt(strlen(out), 3 * 65536);
	free(out);
	unload(&msg);
	buf_free(&in);
}

static int
fail_writer(void *ctx, const char *p, size_t n)
{
	int *calls = ctx;

	(void)p;
	(void)n;
	return ++*calls == 2 ? 7 : 0;
}

Test(message, stream_returns_writer_error)
{
	struct message msg;
	int calls = 0;

	load(&msg, "To: a@b\n\nbody\n");
	msg_prepend(&msg, "X", "y");
	cr_assert_eq(msg_stream(&msg, 0, fail_writer, &calls), 7);
	cr_assert_eq(calls, 2);
	unload(&msg);
}

Test(message, stream_spool_read_error)
{
	struct message msg;
	struct buf b;

	load(&msg, "To: a@b\n\nbody\n");
	/* The spool lost its body: reading past its end is an error. */
	cr_assert(ftruncate(msg.fd, 12) == 0);
	buf_init(&b);
	errno = 0;
	cr_assert_eq(msg_stream(&msg, 0, collect, &b), -1);
	cr_assert_eq(errno, EIO);
	buf_free(&b);
	close(msg.fd);
	msg.fd = -1;
	buf_init(&b);
	cr_assert_eq(msg_stream(&msg, 0, collect, &b), -1);
	cr_assert_eq(errno, EBADF);
	buf_free(&b);
	msg_free(&msg);
}
