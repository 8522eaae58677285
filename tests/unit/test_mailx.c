/*
 * test_mailx.c: the mail/mailx front end (mailx.c, SPEC §2.1): its
 * command line, the header section it writes (RFC 5322 fields, RFC 2047
 * encoded words within RFC 2047 §2's line limit), and what it adds once
 * intake spooled the body (RFC 2045 MIME fields, -E).
 */
#include "autoconf.h"

#include <sys/mman.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "intake.h"
#include "mailx.h"
#include "message.h"
#include "options.h"
#include "rfc5322.h"
#include "rows.h"
#include "util.h"

static struct mailx mx;
static struct options o;
static char err[512];
static char *args[32];
static struct message msg;
static int have_msg;

static void
teardown(void)
{
	mailx_free(&mx);
	if (have_msg) {
		close(msg.fd);
		msg_free(&msg);
		have_msg = 0;
	}
}

TestSuite(mailx, .fini = teardown);

static int
parse_argv(char *const argv[])
{
	int argc = row_argv(args, 32, argv);

	err[0] = '\0';
	mailx_free(&mx);
	return mailx_parse(&mx, &o, argc, args, err, sizeof(err));
}

#define PARSE(...)	parse_argv((char *[]){ __VA_ARGS__, NULL })
#define OK(...)		cr_assert_eq(PARSE(__VA_ARGS__), 0, "error: %s", err)

static void
assert_rcpts(size_t n, ...)
{
	va_list ap;
	size_t i;

	cr_assert_eq(o.nrcpts, n, "%zu recipients", o.nrcpts);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		cr_assert_str_eq(o.rcpts[i], va_arg(ap, const char *));
	va_end(ap);
}

/* -------------------------------------------------------- command line */

Test(mailx, names)
{
	cr_assert(mailx_name("mail"));
	cr_assert(mailx_name("mailx"));
	cr_assert(mailx_name("/usr/bin/mail"));
	cr_assert(mailx_name("./mailx"));
	cr_assert(!mailx_name("Mail"));
	cr_assert(!mailx_name("mailq"));
	cr_assert(!mailx_name("sendmail"));
	cr_assert(!mailx_name("/usr/bin/mail/mxsend"));
	cr_assert(!mailx_name(NULL));
}

/* What -bm gets: mode, the recipients in order, -i, no -t. */
Test(mailx, options_become_the_bm_command_line)
{
	OK("mail", "-s", "Hi", "-c", "c@x.example", "-b", "b@x.example",
	    "to@x.example", "t2@x.example");
	cr_assert_eq(o.mode, MODE_DELIVER);
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_eq(o.extract, 0);
	cr_assert_null(o.sender);
	cr_assert_null(o.fullname);
	assert_rcpts(4, "to@x.example", "t2@x.example", "c@x.example",
	    "b@x.example");
	cr_assert_str_eq(mx.header.data, "To: to@x.example, t2@x.example\r\n"
	    "Cc: c@x.example\r\nSubject: Hi\r\n\r\n");
	cr_assert_eq(mx.skip_empty, 0);
	cr_assert_eq(mx.header_8bit, 0);
}

Test(mailx, bundles_attached_values_and_double_dash)
{
	OK("mailx", "-Es", "Disk warning", "-cc1@x.example,c2@x.example",
	    "-bb@x.example", "-rroot", "--", "to@x.example");
	cr_assert_eq(mx.skip_empty, 1);
	cr_assert_str_eq(o.sender, "root");
	assert_rcpts(3, "to@x.example", "c1@x.example,c2@x.example",
	    "b@x.example");
	cr_assert_str_eq(mx.header.data, "To: to@x.example\r\n"
	    "Cc: c1@x.example, c2@x.example\r\nSubject: Disk warning\r\n"
	    "\r\n");
	OK("mail", "-E", "-E", "-b", "only@x.example");
	assert_rcpts(1, "only@x.example");
	cr_assert_str_eq(mx.header.data, "\r\n", "no To: without one");
}

/* -r: the sender, and its display name for the From: msg_complete adds. */
Test(mailx, r_gives_sender_and_full_name)
{
	OK("mail", "-r", "J\xc3\xb6rg Admin <jorg@x.example>", "-s", "x",
	    "a@x.example");
	cr_assert_str_eq(o.sender, "J\xc3\xb6rg Admin <jorg@x.example>");
	cr_assert_str_eq(o.fullname, "J\xc3\xb6rg Admin");
	OK("mail", "-r", "ops@x.example", "a@x.example");
	cr_assert_null(o.fullname);
}

Test(mailx, a_fields_in_order_and_winning_over_generated_ones)
{
	OK("mail", "-s", "generated", "-a", "X-One: 1", "-a",
	    "Content-Type: text/plain; charset=UTF-8", "-aSubject: given",
	    "-a", "X-Empty:", "a@x.example");
	cr_assert_str_eq(mx.header.data, "To: a@x.example\r\n"
	    "X-One: 1\r\nContent-Type: text/plain; charset=UTF-8\r\n"
	    "Subject: given\r\nX-Empty:\r\n\r\n");
	OK("mail", "-a", "to: list@x.example", "a@x.example");
	cr_assert_str_eq(mx.header.data, "to: list@x.example\r\n\r\n");
	assert_rcpts(1, "a@x.example");
}

/* Command lines refused, and a part of the one-line error each gives. */
struct refused {
	const char	*name;
	char		*argv[8];
	const char	*needle;
};

static const struct refused refused[] = {
	{ "unknown_option", { "mail", "-x", "a@x.example" },
	    "mail: unknown option -x; usage: mail [-E] [-s subject]" },
	{ "unknown_option", { "mail", "-v", "a@x.example" },
	    "unknown option -v" },
	{ "unknown_option", { "mail", "-s", "x", "-n", "a@x.example" },
	    "unknown option -n" },
	{ "unknown_option", { "mail", "-Et", "a@x.example" },
	    "unknown option -t" },
	{ "unknown_option", { "mail", "--help" }, "unknown option --help" },
	{ "unknown_option", { "mail", "-\x01", "a@x.example" },
	    "unknown option -\\x01" },
	{ "missing_value", { "mail", "-s" }, "option -s requires a value" },
	{ "missing_value", { "mail", "-a" }, "option -a requires a value" },
	{ "no_recipients", { "mail", "-s", "x" }, "mail: no recipients" },
	{ "no_recipients", { "mail" }, "mail: no recipients" },
	{ "dash_address", { "mail", "--", "-oQ/tmp" },
	    "bad address '-oQ/tmp': an address may not begin with '-'" },
	{ "dash_address", { "mail", "a@x.example", "-f" },
	    "bad address '-f': an address may not begin" },
	{ "bad_address", { "mail", "a@@x.example" },
	    "bad address 'a@@x.example'" },
	{ "bad_address", { "mail", "-b", "b@@x", "a@x.example" },
	    "bad address 'b@@x'" },
	{ "bad_address", { "mail", "-c", "c@@x", "a@x.example" },
	    "bad address 'c@@x'" },
	{ "bad_address", { "mail", "" }, "bad address ''" },
	{ "bad_a_field", { "mail", "-a", "NoColon", "a@x.example" },
	    "-a 'NoColon': expected 'Header: value'" },
	{ "bad_a_field", { "mail", "-a", ": v", "a@x.example" },
	    "expected 'Header: value'" },
	{ "bad_a_field", { "mail", "-a", "Bad Name: v", "a@x.example" },
	    "expected 'Header: value'" },
	{ "bad_a_field", { "mail", "-a", "X: a\r\nBcc: evil@x.example",
	    "a@x.example" }, "-a 'X: a??Bcc: evil@x.example': the value "
	    "holds a line break" },
	{ "bad_a_field", { "mail", "-a", "X: a\nb", "a@x.example" },
	    "line break" },
};

ROW_PARAMETERS(mailx, refused, refused);

/* Each a usage error, said in one line, before any input is read. */
ParameterizedTest(const size_t *row, mailx, refused)
{
	const struct refused *r = &refused[*row];

	cr_assert_eq(parse_argv(r->argv), -1, "%s: accepted", r->name);
	cr_assert(strstr(err, r->needle) != NULL, "%s: error '%s' does not "
	    "mention '%s'", r->name, err, r->needle);
	cr_assert_null(strchr(err, '\n'), "%s: not one line: %s", r->name,
	    err);
}

/* -------------------------------------------------------- the header */

/* The first value of field name in the built header, unfolded. */
static char *
field_value(const char *name)
{
	const char *p = mx.header.data, *e;
	size_t n = strlen(name);

	for (;;) {
		if (strncmp(p, name, n) == 0 && p[n] == ':')
			break;
		p = strstr(p, "\r\n");
		cr_assert_not_null(p, "no %s: in %s", name, mx.header.data);
		p += 2;
	}
	p += n + 1;
	for (e = p; (e = strstr(e, "\r\n")) != NULL && (e[2] == ' ' ||
	    e[2] == '\t'); e += 2)
		;
	return rfc5322_unfold(p, (size_t)(e - p));
}

/* RFC 2047 §2: every line with an encoded word is at most 76 octets. */
static void
assert_lines_within(size_t limit)
{
	const char *p = mx.header.data, *e;

	for (; (e = strstr(p, "\r\n")) != NULL && e > p; p = e + 2)
		cr_assert_leq((size_t)(e - p), limit, "line of %zu: %.*s",
		    (size_t)(e - p), (int)(e - p), p);
}

static void
assert_subject_decodes_to(const char *want)
{
	char *v = field_value("Subject"), *d;

	d = rfc2047_decode(v, strlen(v));
	cr_assert_str_eq(d, want, "Subject: %s", v);
	free(d);
	free(v);
}

Test(mailx, subject_encoded_when_not_ascii)
{
	OK("mail", "-s", "Gr\xc3\xbc\xc3\x9f" "e", "a@x.example");
	cr_assert_str_eq(mx.header.data, "To: a@x.example\r\n"
	    "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\r\n");
	cr_assert_eq(mx.header_8bit, 0);
}

/* A long subject: words of at most 75 octets, lines of at most 76. */
Test(mailx, long_subject_folded_within_rfc2047_limits)
{
	struct buf s;
	const char *p;
	int i;

	buf_init(&s);
	for (i = 0; i < 30; i++)
		buf_adds(&s, "S\xc3\xbc" "\xe2\x82\xac" "d ");
	buf_adds(&s, "\xf0\x9f\x93\xa7 end");
	OK("mail", "-s", s.data, "a@x.example");
	assert_lines_within(76);
	for (p = mx.header.data; (p = strstr(p, "=?UTF-8?B?")) != NULL;
	    p += 2) {
		const char *e = strstr(p + 10, "?=");

		cr_assert_not_null(e);
		cr_assert_leq((size_t)(e + 2 - p), 75);
		p = e;
	}
	assert_subject_decodes_to(s.data);
	buf_free(&s);
}

Test(mailx, long_ascii_subject_folded_at_white_space)
{
	struct buf s;
	int i;

	buf_init(&s);
	for (i = 0; i < 40; i++)
		buf_adds(&s, "word ");
	buf_adds(&s, "last");
	OK("mail", "-s", s.data, "a@x.example");
	assert_lines_within(78);
	cr_assert_null(strstr(mx.header.data, "=?"));
	assert_subject_decodes_to(s.data);
	buf_free(&s);
}

/* Text a reader would take for an encoded word is encoded itself. */
Test(mailx, subject_that_looks_encoded_is_encoded)
{
	OK("mail", "-s", "=?UTF-8?B?SGk=?=", "a@x.example");
	cr_assert_null(strstr(mx.header.data, "Subject: =?UTF-8?B?SGk=?="));
	assert_subject_decodes_to("=?UTF-8?B?SGk=?=");
}

/* An alert is never lost for its subject: it is made one clean line. */
Test(mailx, subject_line_breaks_and_junk_made_safe)
{
	OK("mail", "-s", "a\r\nBcc: evil@x.example\tz\x01y", "a@x.example");
	cr_assert_str_eq(mx.header.data, "To: a@x.example\r\n"
	    "Subject: a  Bcc: evil@x.example z?y\r\n\r\n");
	OK("mail", "-s", "caf\xe9 \xc3\xa9", "a@x.example");
	assert_subject_decodes_to("caf? \xc3\xa9");
	OK("mail", "-s", "", "a@x.example");
	cr_assert_str_eq(mx.header.data, "To: a@x.example\r\n\r\n");
}

Test(mailx, display_names_encoded_in_to_and_cc)
{
	OK("mail", "-c", "Z\xc3\xa9 <z@x.example>", "J\xc3\xbcrgen "
	    "<j@x.example>, Bob Smith <bob@x.example>", "root");
	cr_assert_str_eq(mx.header.data, "To: =?UTF-8?B?SsO8cmdlbg==?= "
	    "<j@x.example>, \"Bob Smith\" <bob@x.example>, root\r\n"
	    "Cc: =?UTF-8?B?WsOp?= <z@x.example>\r\n\r\n");
	cr_assert_eq(mx.header_8bit, 0);
}

/* ------------------------------------------------- after the body */

/* Spool the built header, then body, as main.c has intake do. */
static void
spool(const char *body)
{
	struct intake_opts io;
	int in, out;

	in = memfd_create("body", 0);
	cr_assert_neq(in, -1);
	cr_assert_eq(write_all(in, body, strlen(body)), 0);
	cr_assert_eq(lseek(in, 0, SEEK_SET), 0);
	out = memfd_create("spool", 0);
	cr_assert_neq(out, -1);
	msg_init(&msg, out);
	have_msg = 1;
	memset(&io, 0, sizeof(io));
	io.ignore_dots = o.ignore_dots;
	io.prefix = mx.header.data;
	io.prefix_len = mx.header.len;
	cr_assert_eq(intake_read_opts(in, &msg, &io, err, sizeof(err)),
	    INTAKE_OK, "%s", err);
	close(in);
}

static enum mailx_body
finish(void)
{
	return mailx_finish(&mx, &msg, err, sizeof(err));
}

Test(mailx, ascii_body_gets_no_mime_fields)
{
	OK("mail", "-s", "x", "a@x.example");
	spool("plain text\n.\nFrom me\n");
	cr_assert_eq(finish(), MAILX_SEND);
	cr_assert_eq(msg.append.len, 0, "%s", msg.append.data);
	cr_assert(msg_has(&msg, "Subject"));
	cr_assert(!msg_has(&msg, "From"), "a body line taken for a field");
	cr_assert_eq(msg.size - msg.body_off, 24, "the body is all there");
}

Test(mailx, utf8_body_gets_the_three_mime_fields)
{
	OK("mail", "-s", "x", "a@x.example");
	spool("Gr\xc3\xbc\xc3\x9f" "e\n");
	cr_assert_eq(finish(), MAILX_SEND);
	cr_assert_str_eq(msg.append.data, "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n");
}

/* apticron and unattended-upgrades give Content-Type with -a. */
Test(mailx, mime_fields_given_with_a_are_not_repeated)
{
	OK("mail", "-a", "Content-Type: text/plain; charset=UTF-8", "-s",
	    "x", "a@x.example");
	spool("caf\xc3\xa9\n");
	cr_assert_eq(finish(), MAILX_SEND);
	cr_assert_str_eq(msg.append.data, "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n");
	teardown();
	OK("mail", "-a", "Content-Type: text/plain; charset=UTF-8", "-s",
	    "x", "a@x.example");
	spool("ascii\n");
	cr_assert_eq(finish(), MAILX_SEND);
	cr_assert_str_eq(msg.append.data, "MIME-Version: 1.0\r\n",
	    "a Content-Type needs MIME-Version (RFC 2045 §4)");
}

/* The header's own 8-bit octets say nothing about the body. */
Test(mailx, eight_bit_header_with_ascii_body)
{
	OK("mail", "-a", "X-Note: caf\xc3\xa9", "a@x.example");
	cr_assert_eq(mx.header_8bit, 1);
	spool("ascii only\n");
	cr_assert_eq(finish(), MAILX_SEND);
	cr_assert_eq(msg.append.len, 0, "%s", msg.append.data);
	teardown();
	OK("mail", "-a", "X-Note: caf\xc3\xa9", "a@x.example");
	spool("ascii, then caf\xc3\xa9\n");
	cr_assert_eq(finish(), MAILX_SEND);
	cr_assert(strstr(msg.append.data, "charset=UTF-8") != NULL);
}

Test(mailx, E_sends_nothing_for_an_empty_body)
{
	OK("mail", "-E", "-s", "x", "a@x.example");
	spool("");
	cr_assert_eq(finish(), MAILX_EMPTY);
	teardown();
	OK("mail", "-E", "-s", "x", "a@x.example");
	spool("\n");
	cr_assert_eq(finish(), MAILX_SEND, "a blank line is a body");
	teardown();
	OK("mail", "-s", "x", "a@x.example");
	spool("");
	cr_assert_eq(finish(), MAILX_SEND, "without -E it goes out empty");
}
