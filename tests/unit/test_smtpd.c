/*
 * test_smtpd.c: mxsend -bs (smtpd.c): the command parser, row by row;
 * the reply to the final dot (SPEC §2's table) from recipients' outcomes;
 * and sessions served in a child over pipes, with a deliver function
 * that keeps what it was given, for what only the session can show:
 * dot-unstuffing and the one end of DATA, replies written when the input
 * would block, long lines, the time-out, the recipient limit.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "rows.h"
#include "smtpd.h"
#include "spawn.h"

/* ============================================================ parser */

struct prow {
	const char	*name;
	const char	*line;
	int		 code;		/* 0: parsed */
	enum smtpd_verb	 verb;
	const char	*path;		/* NULL: not checked */
	int		 has_size;
	uint64_t	 size;
	const char	*text;		/* a part of the reply text */
};

static const struct prow prows[] = {
	/* verbs, any case */
	{ "ehlo", "EHLO client.example", 0, SMTPD_EHLO, NULL, 0, 0, NULL },
	{ "ehlo_lower", "ehlo [127.0.0.1]", 0, SMTPD_EHLO, NULL, 0, 0, NULL },
	{ "helo", "HELO x", 0, SMTPD_HELO, NULL, 0, 0, NULL },
	{ "ehlo_without_name", "EHLO", 501, 0, NULL, 0, 0,
	    "5.5.4 Syntax: EHLO hostname" },
	{ "ehlo_blank_name", "EHLO   ", 501, 0, NULL, 0, 0, "5.5.4" },
	{ "data", "DATA", 0, SMTPD_DATA, NULL, 0, 0, NULL },
	{ "data_trailing_space", "DATA  ", 0, SMTPD_DATA, NULL, 0, 0, NULL },
	{ "data_with_argument", "DATA x", 501, 0, NULL, 0, 0,
	    "5.5.4 Syntax: DATA" },
	{ "rset", "rset", 0, SMTPD_RSET, NULL, 0, 0, NULL },
	{ "quit_with_argument", "QUIT now", 501, 0, NULL, 0, 0,
	    "Syntax: QUIT" },
	{ "noop_with_argument", "NOOP anything at all", 0, SMTPD_NOOP, NULL,
	    0, 0, NULL },
	{ "help", "HELP MAIL", 0, SMTPD_HELP, NULL, 0, 0, NULL },
	{ "vrfy", "VRFY root", 0, SMTPD_VRFY, NULL, 0, 0, NULL },
	{ "vrfy_without_argument", "VRFY", 501, 0, NULL, 0, 0,
	    "Syntax: VRFY" },
	{ "unknown", "FOO bar", 500, 0, NULL, 0, 0,
	    "5.5.2 Error: command not recognized" },
	{ "empty_line", "", 500, 0, NULL, 0, 0, "5.5.2" },
	{ "verb_glued_to_argument", "MAIL:FROM:<a@b>", 500, 0, NULL, 0, 0,
	    "5.5.2" },
	{ "five_letters", "EHLOX y", 500, 0, NULL, 0, 0, "5.5.2" },
	{ "expn", "EXPN staff", 502, 0, NULL, 0, 0,
	    "5.5.1 Error: command not implemented" },
	{ "starttls", "STARTTLS", 502, 0, NULL, 0, 0, "5.5.1" },
	{ "auth", "AUTH PLAIN AGFhAGI=", 502, 0, NULL, 0, 0, "5.5.1" },
	{ "bdat", "BDAT 10 LAST", 502, 0, NULL, 0, 0, "5.5.1" },
	{ "control_character", "NOOP \x1b[2J", 500, 0, NULL, 0, 0,
	    "5.5.2 Error: bad character" },
	{ "tab", "EHLO\tx", 500, 0, NULL, 0, 0, "5.5.2" },
	/* MAIL */
	{ "mail", "MAIL FROM:<a@b.example>", 0, SMTPD_MAIL, "a@b.example",
	    0, 0, NULL },
	{ "mail_lower_case", "mail from:<a@b.example>", 0, SMTPD_MAIL,
	    "a@b.example", 0, 0, NULL },
	{ "mail_space_after_colon", "MAIL FROM: <a@b.example>", 0,
	    SMTPD_MAIL, "a@b.example", 0, 0, NULL },
	{ "mail_without_brackets", "MAIL FROM:a@b.example SIZE=5", 0,
	    SMTPD_MAIL, "a@b.example", 1, 5, NULL },
	{ "mail_null", "MAIL FROM:<>", 0, SMTPD_MAIL, "", 0, 0, NULL },
	{ "mail_unqualified", "MAIL FROM:<www-data>", 0, SMTPD_MAIL,
	    "www-data", 0, 0, NULL },
	{ "mail_size_body", "MAIL FROM:<a@b> SIZE=1234 BODY=8BITMIME", 0,
	    SMTPD_MAIL, "a@b", 1, 1234, NULL },
	{ "mail_body_7bit_lower", "MAIL FROM:<a@b> body=7bit", 0, SMTPD_MAIL,
	    "a@b", 0, 0, NULL },
	{ "mail_size_saturates", "MAIL FROM:<a@b> SIZE="
	    "99999999999999999999999", 0, SMTPD_MAIL, "a@b", 1, UINT64_MAX,
	    NULL },
	{ "mail_two_spaces_before_parameter", "MAIL FROM:<a@b>  SIZE=7", 0,
	    SMTPD_MAIL, "a@b", 1, 7, NULL },
	{ "mail_size_not_a_number", "MAIL FROM:<a@b> SIZE=12k", 501, 0, NULL,
	    0, 0, "5.5.4 Error: bad SIZE" },
	{ "mail_size_twice", "MAIL FROM:<a@b> SIZE=1 SIZE=2", 501, 0, NULL,
	    0, 0, "bad SIZE" },
	{ "mail_size_without_value", "MAIL FROM:<a@b> SIZE", 501, 0, NULL,
	    0, 0, "bad SIZE" },
	{ "mail_body_binarymime", "MAIL FROM:<a@b> BODY=BINARYMIME", 501, 0,
	    NULL, 0, 0, "5.5.4 Error: bad BODY" },
	{ "mail_unknown_parameter", "MAIL FROM:<a@b> RET=HDRS", 555, 0, NULL,
	    0, 0, "5.5.4 Error: unsupported parameter RET" },
	{ "mail_smtputf8", "MAIL FROM:<a@b> SMTPUTF8", 555, 0, NULL, 0, 0,
	    "SMTPUTF8" },
	{ "mail_bad_parameter_syntax", "MAIL FROM:<a@b> =x", 501, 0, NULL, 0,
	    0, "5.5.4 Error: bad parameter syntax" },
	{ "mail_value_with_equals", "MAIL FROM:<a@b> SIZE=1=2", 501, 0, NULL,
	    0, 0, "bad parameter syntax" },
	{ "mail_glued_parameter", "MAIL FROM:<a@b>SIZE=1", 501, 0, NULL, 0,
	    0, "bad parameter syntax" },
	{ "mail_without_from", "MAIL <a@b>", 501, 0, NULL, 0, 0,
	    "5.5.4 Syntax: MAIL FROM:<address>" },
	{ "mail_nothing_after_colon", "MAIL FROM:", 501, 0, NULL, 0, 0,
	    "Syntax: MAIL FROM" },
	{ "mail_unclosed_bracket", "MAIL FROM:<a@b", 501, 0, NULL, 0, 0,
	    "Syntax: MAIL FROM" },
	{ "mail_bad_address", "MAIL FROM:<a b@c>", 501, 0, NULL, 0, 0,
	    "5.1.7 Error: bad sender address syntax" },
	{ "mail_8bit", "MAIL FROM:<j\xc3\xb6rg@b.example>", 553, 0, NULL, 0,
	    0, "5.6.7" },
	/* RCPT: RFC 5321 §4.1.2 paths */
	{ "rcpt", "RCPT TO:<u@example.com>", 0, SMTPD_RCPT, "u@example.com",
	    0, 0, NULL },
	{ "rcpt_postmaster", "RCPT TO:<Postmaster>", 0, SMTPD_RCPT,
	    "Postmaster", 0, 0, NULL },
	{ "rcpt_quoted_local", "RCPT TO:<\"john q. doe\"@example.com>", 0,
	    SMTPD_RCPT, "\"john q. doe\"@example.com", 0, 0, NULL },
	{ "rcpt_quoted_bracket", "RCPT TO:<\"a>b\"@example.com>", 0,
	    SMTPD_RCPT, "\"a>b\"@example.com", 0, 0, NULL },
	{ "rcpt_quoted_pair", "RCPT TO:<\"a\\\"b\"@example.com>", 0,
	    SMTPD_RCPT, "\"a\\\"b\"@example.com", 0, 0, NULL },
	{ "rcpt_source_route",
	    "RCPT TO:<@relay.example,@r2.example:u@x.example>",
	    0, SMTPD_RCPT, "u@x.example", 0, 0, NULL },
	{ "rcpt_address_literal", "RCPT TO:<u@[192.0.2.1]>", 0, SMTPD_RCPT,
	    "u@[192.0.2.1]", 0, 0, NULL },
	{ "rcpt_ipv6_literal", "RCPT TO:<u@[IPv6:2001:db8::1]>", 0,
	    SMTPD_RCPT, "u@[IPv6:2001:db8::1]", 0, 0, NULL },
	{ "rcpt_atext", "RCPT TO:<a.b+c!#$%&'*/=?^_`{|}~-d@example.com>", 0,
	    SMTPD_RCPT, "a.b+c!#$%&'*/=?^_`{|}~-d@example.com", 0, 0, NULL },
	{ "rcpt_null", "RCPT TO:<>", 501, 0, NULL, 0, 0,
	    "5.1.3 Error: empty recipient address" },
	{ "rcpt_double_dot", "RCPT TO:<a..b@example.com>", 501, 0, NULL, 0, 0,
	    "5.1.3 Error: bad recipient address syntax" },
	{ "rcpt_leading_dot", "RCPT TO:<.a@example.com>", 501, 0, NULL, 0, 0,
	    "5.1.3" },
	{ "rcpt_trailing_dot", "RCPT TO:<a.@example.com>", 501, 0, NULL, 0,
	    0, "5.1.3" },
	{ "rcpt_two_ats", "RCPT TO:<a@b@example.com>", 501, 0, NULL, 0, 0,
	    "5.1.3" },
	{ "rcpt_empty_domain", "RCPT TO:<a@>", 501, 0, NULL, 0, 0, "5.1.3" },
	{ "rcpt_domain_dot_dot", "RCPT TO:<a@b..example>", 501, 0, NULL, 0,
	    0, "5.1.3" },
	{ "rcpt_domain_trailing_dot", "RCPT TO:<a@example.com.>", 501, 0,
	    NULL, 0, 0, "5.1.3" },
	{ "rcpt_domain_hyphen_end", "RCPT TO:<a@ex-.com>", 501, 0, NULL, 0, 0,
	    "5.1.3" },
	{ "rcpt_domain_hyphen_start", "RCPT TO:<a@-ex.com>", 501, 0, NULL, 0,
	    0, "5.1.3" },
	{ "rcpt_comment", "RCPT TO:<a(x)@example.com>", 501, 0, NULL, 0, 0,
	    "5.1.3" },
	{ "rcpt_display_name", "RCPT TO:Joe <a@example.com>", 501, 0, NULL,
	    0, 0, NULL },
	{ "rcpt_empty_literal", "RCPT TO:<a@[]>", 501, 0, NULL, 0, 0,
	    "5.1.3" },
	{ "rcpt_bad_route", "RCPT TO:<@a,:u@x.example>", 501, 0, NULL, 0, 0,
	    "5.1.3" },
	{ "rcpt_route_without_colon", "RCPT TO:<@a.example>", 501, 0, NULL,
	    0, 0, "5.1.3" },
	{ "rcpt_unclosed_quote", "RCPT TO:<\"ab@example.com>", 501, 0, NULL,
	    0, 0, NULL },
	{ "rcpt_parameter", "RCPT TO:<a@b> NOTIFY=NEVER", 555, 0, NULL, 0, 0,
	    "5.5.4 Error: unsupported parameter NOTIFY" },
	{ "rcpt_size_is_mail_only", "RCPT TO:<a@b> SIZE=1", 555, 0, NULL, 0,
	    0, "unsupported parameter SIZE" },
	{ "rcpt_8bit_domain", "RCPT TO:<u@b\xc3\xbc" "cher.example>", 553, 0,
	    NULL, 0, 0, "5.6.7 Error: a non-ASCII address needs SMTPUTF8" },
	{ "rcpt_from_keyword", "RCPT FROM:<a@b>", 501, 0, NULL, 0, 0,
	    "5.5.4 Syntax: RCPT TO:<address>" },
	{ "rcpt_path_too_long", "RCPT TO:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaa@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccc"
	    "cccccccccccccccccccccccccccc.dddddddddddddddddddddddddddddddddd"
	    "ddddddddddddddddddddddddddddd.eeeeeeeee>", 501, 0, NULL, 0, 0,
	    "5.1.3 Error: the address is longer than 256 octets" },
};

ROW_PARAMETERS(parse, rows, prows);

ParameterizedTest(const size_t *i, parse, rows)
{
	const struct prow *r = &prows[*i];
	struct smtpd_cmd c;
	struct smtpd_reply rep;
	int rc;

	memset(&rep, 0, sizeof(rep));
	rc = smtpd_parse(r->line, strlen(r->line), &c, &rep);
	if (r->code == 0) {
		cr_assert_eq(rc, 0, "%s: refused with %d %s", r->name,
		    rep.code, rep.text);
		row_check_num(r->name, "verb", c.verb, r->verb);
		if (r->path != NULL)
			row_check_str(r->name, "path", c.path, r->path);
		row_check_num(r->name, "has_size", c.has_size, r->has_size);
		if (r->has_size)
			cr_assert(c.size == r->size, "%s: size %llu",
			    r->name, (unsigned long long)c.size);
		return;
	}
	cr_assert_eq(rc, -1, "%s: accepted", r->name);
	row_check_num(r->name, "code", rep.code, r->code);
	cr_assert(strchr(rep.text, '\r') == NULL &&
	    strchr(rep.text, '\n') == NULL, "%s: a line end in the reply",
	    r->name);
	if (r->text != NULL)
		cr_assert(strstr(rep.text, r->text) != NULL,
		    "%s: reply '%s' lacks '%s'", r->name, row_show(rep.text),
		    r->text);
}

/* The parser reads len octets, never a terminator past them. */
Test(parse, reads_only_len_octets)
{
	char *buf = malloc(9);

	memcpy(buf, "MAIL FROM", 9);
	{
		struct smtpd_cmd c;
		struct smtpd_reply rep;

		cr_assert_eq(smtpd_parse(buf, 9, &c, &rep), -1);
		cr_assert_eq(rep.code, 501);
		memcpy(buf, "RCPT TO:<", 9);
		cr_assert_eq(smtpd_parse(buf, 9, &c, &rep), -1);
		cr_assert_eq(rep.code, 501);
	}
	free(buf);
}

/* ==================================================== the final dot */

static struct envelope eenv;

static void
add(enum rcpt_state st, const char *addr, const char *dsn,
    const char *reason)
{
	struct rcpt *r;

	eenv.rcpts = realloc(eenv.rcpts, (eenv.nrcpts + 1) * sizeof(*r));
	r = &eenv.rcpts[eenv.nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = strdup(addr);
	r->orig = strdup(addr);
	r->domain = strchr(r->addr, '@') + 1;
	r->state = st;
	strcpy(r->dsn, dsn);
	r->reason = reason != NULL ? strdup(reason) : NULL;
}

static struct smtpd_reply
eod(int queued, enum run_kept kept)
{
	struct smtpd_verdict v;
	struct smtpd_reply rep;

	memset(&v, 0, sizeof(v));
	v.o.env = &eenv;
	v.o.queued = queued;
	v.o.kept = kept;
	strcpy(v.qid, "19A3F0C2B4D1E0A3F1");
	smtpd_eod_reply(&v, &rep);
	return rep;
}

static void
eod_setup(void)
{
	envelope_init(&eenv);
}

static void
eod_teardown(void)
{
	envelope_free(&eenv);
}

TestSuite(eod, .init = eod_setup, .fini = eod_teardown);

Test(eod, every_recipient_delivered_is_250_with_the_queue_id)
{
	struct smtpd_reply r;

	add(RCPT_DELIVERED, "a@x.test", "2.0.0", "ok");
	add(RCPT_DELIVERED, "b@y.test", "2.0.0", "ok");
	r = eod(0, KEPT_NONE);
	cr_assert_eq(r.code, 250);
	cr_assert_str_eq(r.text, "2.0.0 Ok: queued as 19A3F0C2B4D1E0A3F1");
}

Test(eod, deferred_and_queued_is_250)
{
	struct smtpd_reply r;

	add(RCPT_DELIVERED, "a@x.test", "2.0.0", "ok");
	add(RCPT_DEFERRED, "b@y.test", "4.4.1", "connection refused");
	r = eod(0, KEPT_QUEUE);
	cr_assert_eq(r.code, 250);
}

Test(eod, deferred_but_not_queued_is_451)
{
	struct smtpd_reply r;

	add(RCPT_DELIVERED, "a@x.test", "2.0.0", "ok");
	add(RCPT_DEFERRED, "b@y.test", "4.4.1", "connection refused");
	r = eod(0, KEPT_NONE);
	cr_assert_eq(r.code, 451);
	cr_assert(strncmp(r.text, "4.3.0 ", 6) == 0, "%s", r.text);
	r = eod(0, KEPT_DEADLETTER);
	cr_assert_eq(r.code, 451);
}

Test(eod, some_failed_is_250_they_are_bounced)
{
	struct smtpd_reply r;

	add(RCPT_DELIVERED, "a@x.test", "2.0.0", "ok");
	add(RCPT_FAILED, "b@y.test", "5.1.1", "host mx[192.0.2.1]:25 said: "
	    "550 5.1.1 No such user (in reply to RCPT TO command)");
	r = eod(0, KEPT_NONE);
	cr_assert_eq(r.code, 250);
}

Test(eod, one_failed_recipient_is_the_servers_reply)
{
	struct smtpd_reply r;

	add(RCPT_FAILED, "b@y.test", "5.1.1", "host mx[192.0.2.1]:25 said: "
	    "553 5.1.1 No such user (in reply to RCPT TO command)");
	r = eod(0, KEPT_NONE);
	cr_assert_eq(r.code, 553);
	cr_assert_str_eq(r.text, "5.1.1 <b@y.test>: host mx[192.0.2.1]:25 "
	    "said: 553 5.1.1 No such user (in reply to RCPT TO command)");
}

Test(eod, failure_without_a_server_reply_has_a_code_for_its_status)
{
	add(RCPT_FAILED, "u@nullmx.test", "5.1.10", "domain nullmx.test "
	    "accepts no mail (null MX)");
	cr_assert_eq(eod(0, KEPT_NONE).code, 550);
	envelope_free(&eenv);
	add(RCPT_FAILED, "u@a.test", "5.3.4", "message too big");
	cr_assert_eq(eod(0, KEPT_NONE).code, 552);
	envelope_free(&eenv);
	add(RCPT_FAILED, "u@a.test", "5.4.4", "no mail host");
	cr_assert_eq(eod(0, KEPT_NONE).code, 554);
}

Test(eod, different_failures_are_554_5_0_0_one_line_each)
{
	struct smtpd_reply r;

	add(RCPT_FAILED, "a@x.test", "5.1.1", "host mx[192.0.2.1]:25 said: "
	    "550 5.1.1 No such user (in reply to RCPT TO command)");
	add(RCPT_FAILED, "b@y.test", "5.1.10", "null MX");
	r = eod(0, KEPT_NONE);
	cr_assert_eq(r.code, 554);
	cr_assert(strstr(r.text, "5.0.0 <a@x.test>: host mx") == r.text,
	    "%s", r.text);
	cr_assert(strstr(r.text, "\n5.0.0 <b@y.test>: null MX (5.1.10)") !=
	    NULL, "%s", r.text);
}

Test(eod, many_failures_are_capped_at_ten_lines)
{
	struct smtpd_reply r;
	char addr[32];
	size_t i, lines = 1;

	for (i = 0; i < 25; i++) {
		snprintf(addr, sizeof(addr), "u%zu@x.test", i);
		add(RCPT_FAILED, addr, "5.1.1", "host mx[192.0.2.1]:25 said: "
		    "550 5.1.1 No (in reply to RCPT TO command)");
	}
	r = eod(0, KEPT_NONE);
	cr_assert_eq(r.code, 550);
	for (i = 0; r.text[i] != '\0'; i++)
		lines += r.text[i] == '\n';
	cr_assert_eq(lines, 11, "%s", r.text);
	cr_assert(strstr(r.text, "\n5.1.1 and 15 more recipients failed") !=
	    NULL, "%s", r.text);
}

Test(eod, a_reason_cannot_add_lines)
{
	struct smtpd_reply r;

	add(RCPT_FAILED, "a@x.test", "5.1.1", "text\r\n250 2.0.0 forged");
	r = eod(0, KEPT_NONE);
	cr_assert(strchr(r.text, '\n') == NULL && strchr(r.text, '\r') ==
	    NULL, "%s", r.text);
}

Test(eod, queued_by_odq_is_250)
{
	add(RCPT_PENDING, "a@x.test", "", NULL);
	cr_assert_eq(eod(1, KEPT_NONE).code, 250);
}

Test(eod, refused_messages)
{
	struct smtpd_verdict v;
	struct smtpd_reply r;

	memset(&v, 0, sizeof(v));
	v.o.stop = STOP_DATA;
	v.refusal = SMTPD_REFUSED_SIZE;
	strcpy(v.why, "message larger than message_size_limit (10 octets)");
	smtpd_eod_reply(&v, &r);
	cr_assert_eq(r.code, 552);
	cr_assert(strncmp(r.text, "5.3.4 ", 6) == 0, "%s", r.text);
	v.refusal = SMTPD_REFUSED_LOOP;
	smtpd_eod_reply(&v, &r);
	cr_assert_eq(r.code, 554);
	cr_assert(strncmp(r.text, "5.4.6 ", 6) == 0, "%s", r.text);
	v.refusal = SMTPD_REFUSED_CONTENT;
	smtpd_eod_reply(&v, &r);
	cr_assert_eq(r.code, 554);
	cr_assert(strncmp(r.text, "5.6.0 ", 6) == 0, "%s", r.text);
	v.o.stop = STOP_CANTCREAT;
	smtpd_eod_reply(&v, &r);
	cr_assert_eq(r.code, 451);
	cr_assert(strncmp(r.text, "4.3.0 ", 6) == 0, "%s", r.text);
}

/* ========================================================= sessions */

static char dir[256];		/* where the deliver function writes */
static struct config cfg;
static struct options opts;
static struct aliases al;
static struct names names;
static int ndelivered;

/*
 * The deliver function of the child: the message goes to dir/msg-N,
 * its envelope to dir/env-N; every recipient "delivered".
 */
static void
keep(void *ctx, struct envelope *env, int fd, struct smtpd_verdict *v)
{
	char path[400], buf[4096];
	FILE *f;
	ssize_t n;
	size_t i;
	int out;

	(void)ctx;
	ndelivered++;
	snprintf(path, sizeof(path), "%s/msg-%d", dir, ndelivered);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		(void)write_all(out, buf, (size_t)n);
	close(out);
	snprintf(path, sizeof(path), "%s/env-%d", dir, ndelivered);
	f = fopen(path, "w");
	fprintf(f, "from <%s>\n", env->sender);
	for (i = 0; i < env->nrcpts; i++) {
		fprintf(f, "to <%s>\n", env->rcpts[i].addr);
		env->rcpts[i].state = RCPT_DELIVERED;
	}
	fclose(f);
	snprintf(v->qid, sizeof(v->qid), "QID%d", ndelivered);
}

static void
session_setup(void)
{
	alarm(30);
	snprintf(dir, sizeof(dir), "/tmp/test_smtpd.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	config_init(&cfg);
	cfg.helo = strdup("mx.test");
	cfg.default_domain = strdup("local.test");
	cfg.timeout_command = 5;
	memset(&opts, 0, sizeof(opts));
	aliases_init(&al);
	names_init(&names, &cfg, 0, 0);
	ndelivered = 0;
}

static void
session_teardown(void)
{
	aliases_free(&al);
	config_free(&cfg);
	remove_tree(dir);
}

TestSuite(session, .init = session_setup, .fini = session_teardown);

struct child {
	pid_t	 pid;
	int	 in;		/* the client writes here */
	int	 out;		/* and reads the replies here */
};

/* A session in a child, on two pipes; it exits with its run_stop. */
static struct child
serve(void)
{
	struct smtpd_params p;
	struct child c;
	int to[2], from[2];

	cr_assert(pipe(to) == 0 && pipe(from) == 0);
	signal(SIGPIPE, SIG_IGN);
	c.pid = fork();
	cr_assert(c.pid >= 0);
	if (c.pid == 0) {
		close(to[1]);
		close(from[0]);
		memset(&p, 0, sizeof(p));
		p.cfg = &cfg;
		p.opts = &opts;
		p.al = &al;
		p.names = &names;
		p.infd = to[0];
		p.outfd = from[1];
		p.deliver = keep;
		_exit((int)smtpd_run(&p));
	}
	close(to[0]);
	close(from[1]);
	c.in = to[1];
	c.out = from[0];
	return c;
}

/* Everything the child writes until it exits; its run_stop in *stop. */
static char *
finish(struct child *c, int *stop)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);
	ssize_t n;
	int st;

	if (c->in != -1)
		close(c->in);
	while ((n = read(c->out, buf + len, cap - len)) > 0)
		if ((len += (size_t)n) == cap)
			buf = realloc(buf, (cap *= 2) + 1);
	buf[len] = '\0';
	close(c->out);
	cr_assert(waitpid(c->pid, &st, 0) == c->pid && WIFEXITED(st));
	*stop = WEXITSTATUS(st);
	return buf;
}

/* A whole session: input written, then the end of input. */
static char *
run_session(const char *input, int *stop)
{
	struct child c = serve();

	cr_assert(write_all(c.in, input, strlen(input)) == 0);
	return finish(&c, stop);
}

static char *
kept(const char *what, int n)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s-%d", dir, what, n);
	return file_read(path, NULL);
}

#define assert_has(text, needle) \
	cr_assert(strstr((text), (needle)) != NULL, "no '%s' in:\n%s", \
	    row_show(needle), (text))

#define TXN	"EHLO c\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<r@y.test>\r\n" \
		"DATA\r\n"

Test(session, dots_are_unstuffed_and_only_crlf_dot_crlf_ends_the_data)
{
	int stop;
	char *out, *msg;

	out = run_session(TXN "Subject: t\r\n\r\n..leading dot\r\n.x\r\n"
	    "a\n.\nstill data\r\n\n.\r\nand this\r\n.\n"
	    "last\r\n.\r\nQUIT\r\n", &stop);
	assert_has(out, "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued as QID1\r\n221 2.0.0 Bye\r\n");
	cr_assert_eq(stop, STOP_DONE);
	msg = kept("msg", 1);
	cr_assert_not_null(msg);
	/* "\n.\n" and "\n.\r\n" are content: an empty line each. */
	cr_assert_str_eq(msg, "Subject: t\r\n\r\n.leading dot\r\nx\r\n"
	    "a\n\nstill data\r\n\n\r\nand this\r\n\nlast\r\n");
	free(msg);
	free(out);
}

Test(session, an_empty_message_ends_at_once)
{
	int stop;
	char *out, *msg;

	out = run_session(TXN ".\r\nQUIT\r\n", &stop);
	assert_has(out, "250 2.0.0 Ok: queued as QID1\r\n");
	msg = kept("msg", 1);
	cr_assert_str_eq(msg, "");
	free(msg);
	free(out);
}

Test(session, the_envelope_is_as_the_client_gave_it_qualified)
{
	int stop;
	char *out, *env;

	out = run_session("HELO c\r\nMAIL FROM:<www-data>\r\n"
	    "RCPT TO:<root>\r\nRCPT TO:<u@Y.TEST>\r\nRCPT TO:<u@y.test>\r\n"
	    "DATA\r\nx\r\n.\r\nQUIT\r\n", &stop);
	env = kept("env", 1);
	cr_assert_str_eq(env, "from <www-data@local.test>\n"
	    "to <root@local.test>\nto <u@y.test>\n", "%s", out);
	free(env);
	free(out);
}

/*
 * RFC 2920 §3.2: replies are written when the input would block, so
 * the replies of a batch that arrived whole come in one write.
 */
Test(session, a_batch_is_answered_in_one_write)
{
	struct child c = serve();
	char buf[8192];
	ssize_t n;
	int stop;
	const char *batch = "EHLO c\r\nMAIL FROM:<s@x.test>\r\n"
	    "RCPT TO:<a@y.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n";
	const char *want = "220 mx.test ESMTP mxsend\r\n250-mx.test\r\n"
	    "250-PIPELINING\r\n250-SIZE 67108864\r\n250-8BITMIME\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n";

	/* Written before the child reads: the batch is there at once. */
	cr_assert(write_all(c.in, batch, strlen(batch)) == 0);
	n = read(c.out, buf, sizeof(buf) - 1);
	cr_assert(n > 0);
	buf[n] = '\0';
	cr_assert_str_eq(buf, want);
	cr_assert(write_all(c.in, "x\r\n.\r\nQUIT\r\n", 12) == 0);
	free(finish(&c, &stop));
	cr_assert_eq(stop, STOP_DONE);
}

/* A client that waits for each reply gets it (no deadlock). */
Test(session, a_client_that_waits_gets_each_reply)
{
	struct child c = serve();
	const char *cmds[] = { "EHLO c\r\n", "MAIL FROM:<s@x.test>\r\n",
	    "NOOP\r\n", NULL };
	const char *want[] = { "250 ENHANCEDSTATUSCODES\r\n",
	    "250 2.1.0 Ok\r\n", "250 2.0.0 Ok\r\n" };
	char buf[4096];
	size_t len = 0, i;
	ssize_t n;
	int stop;

	for (i = 0; cmds[i] != NULL; i++) {
		cr_assert(write_all(c.in, cmds[i], strlen(cmds[i])) == 0);
		do {
			n = read(c.out, buf + len, sizeof(buf) - 1 - len);
			cr_assert(n > 0, "no reply to %s", cmds[i]);
			len += (size_t)n;
			buf[len] = '\0';
		} while (strstr(buf, want[i]) == NULL);
	}
	free(finish(&c, &stop));
	cr_assert_eq(stop, STOP_IOERR, "the input ended within a transaction");
}

Test(session, a_long_line_is_500_and_the_session_goes_on)
{
	char in[8000];
	int stop;
	char *out;

	snprintf(in, sizeof(in), "EHLO c\r\nNOOP %0*d\r\nNOOP %0*d\r\n"
	    "NOOP %0*d\r\nQUIT\r\n", 993, 0, 994, 0, 5000, 0);
	out = run_session(in, &stop);
	/* 1000 octets with CRLF is the limit; 1001 and 5006 are over. */
	assert_has(out, "250 ENHANCEDSTATUSCODES\r\n250 2.0.0 Ok\r\n"
	    "500 5.5.2 Error: line too long\r\n"
	    "500 5.5.2 Error: line too long\r\n221 2.0.0 Bye\r\n");
	cr_assert_eq(stop, STOP_DONE);
	free(out);
}

Test(session, a_line_longer_than_the_buffer_is_read_through)
{
	size_t n = 200000;
	char *in = malloc(n + 64);
	struct child c = serve();
	char *out;
	int stop;

	memset(in, 'x', n);
	memcpy(in + n, "\r\nQUIT\r\n", 9);
	/* Written while the child answers: finish() reads as it goes. */
	if (fork() == 0) {
		close(c.out);
		_exit(write_all(c.in, in, strlen(in)) == 0 ? 0 : 1);
	}
	close(c.in);
	c.in = -1;
	out = finish(&c, &stop);
	cr_assert(wait(NULL) > 0);
	assert_has(out, "\r\n500 5.5.2 Error: line too long\r\n"
	    "221 2.0.0 Bye\r\n");
	free(out);
	free(in);
}

Test(session, a_silent_client_gets_421_after_timeout_command)
{
	struct child c;
	long t0;
	char *out;
	int stop;

	cfg.timeout_command = 1;
	c = serve();
	t0 = ms_now();
	cr_assert(write_all(c.in, "EHLO c\r\n", 8) == 0);
	/* The input stays open and silent: no end of input. */
	{
		char buf[4096];
		size_t len = 0;
		ssize_t n;

		while ((n = read(c.out, buf + len, sizeof(buf) - 1 - len)) >
		    0)
			len += (size_t)n;
		buf[len] = '\0';
		out = strdup(buf);
	}
	cr_assert(ms_now() - t0 >= 900 && ms_now() - t0 < 4000, "%ld ms",
	    ms_now() - t0);
	assert_has(out, "250 ENHANCEDSTATUSCODES\r\n"
	    "421 4.4.2 mx.test Error: timeout exceeded\r\n");
	free(out);
	free(finish(&c, &stop));
	cr_assert_eq(stop, STOP_IOERR);
}

Test(session, out_of_sequence_and_unknown_commands)
{
	int stop;
	char *out;

	out = run_session("RCPT TO:<a@b.test>\r\nDATA\r\n"
	    "MAIL FROM:<s@x.test>\r\nMAIL FROM:<s@x.test>\r\nDATA\r\n"
	    "RCPT TO:<a..b@c>\r\nDATA\r\n"
	    "EXPN x\r\nXYZZY\r\nRSET\r\nDATA\r\nQUIT\r\n", &stop);
	assert_has(out, "220 mx.test ESMTP mxsend\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "250 2.1.0 Ok\r\n"
	    "503 5.5.1 Error: nested MAIL command\r\n"
	    "503 5.5.1 Error: need RCPT command\r\n"
	    "501 5.1.3 Error: bad recipient address syntax\r\n"
	    "554 5.5.1 Error: no valid recipients\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "250 2.0.0 Ok\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "221 2.0.0 Bye\r\n");
	cr_assert_eq(ndelivered, 0);
	free(out);
}

Test(session, recipients_past_the_limit_get_452)
{
	size_t i, n250 = 0, n452 = 0;
	struct child c = serve();
	char line[64], *out, *p;
	int stop;

	/* More than a pipe holds: written by a second child. */
	if (fork() == 0) {
		close(c.out);
		(void)write_all(c.in, "EHLO c\r\nMAIL FROM:<s@x.test>\r\n", 30);
		for (i = 0; i < 1500; i++) {
			snprintf(line, sizeof(line),
			    "RCPT TO:<u%zu@y.test>\r\n", i);
			(void)write_all(c.in, line, strlen(line));
		}
		(void)write_all(c.in, "DATA\r\nx\r\n.\r\nQUIT\r\n", 18);
		_exit(0);
	}
	close(c.in);
	c.in = -1;
	out = finish(&c, &stop);
	cr_assert(wait(NULL) > 0);
	for (p = out; (p = strstr(p, "\r\n")) != NULL; p += 2) {
		n250 += strncmp(p + 2, "250 2.1.5 Ok", 12) == 0;
		n452 += strncmp(p + 2, "452 4.5.3 Error: too many "
		    "recipients", 36) == 0;
	}
	cr_assert_eq(n250, SMTPD_RCPT_MAX);
	cr_assert_eq(n452, 1500 - SMTPD_RCPT_MAX);
	assert_has(out, "250 2.0.0 Ok: queued as QID1\r\n221 2.0.0 Bye\r\n");
	free(out);
}

Test(session, the_end_of_input_in_data_delivers_nothing)
{
	int stop;
	char *out;

	out = run_session(TXN "Subject: cut\r\n\r\nhalf a message\r\n", &stop);
	cr_assert(strstr(out, "354 ") != NULL && strstr(out, "\r\n250 2.0.0")
	    == NULL, "%s", out);
	cr_assert_eq(ndelivered, 0);
	cr_assert_eq(stop, STOP_IOERR);
	free(out);
}

Test(session, the_end_of_input_between_transactions_is_a_clean_end)
{
	int stop;
	char *out;

	out = run_session(TXN "x\r\n.\r\n", &stop);
	assert_has(out, "250 2.0.0 Ok: queued as QID1\r\n");
	cr_assert_eq(stop, STOP_DONE);
	free(out);
}

Test(session, size_is_checked_at_mail_and_at_the_final_dot)
{
	char in[4096];
	int stop;
	char *out;

	cfg.message_size_limit = 100;
	snprintf(in, sizeof(in), "EHLO c\r\nMAIL FROM:<s@x.test> SIZE=101\r\n"
	    "MAIL FROM:<s@x.test> SIZE=100\r\nRCPT TO:<r@y.test>\r\nDATA\r\n"
	    "%0*d\r\n.\r\nQUIT\r\n", 150, 0);
	out = run_session(in, &stop);
	assert_has(out, "250-SIZE 100\r\n");
	assert_has(out, "552 5.3.4 Error: message size exceeds the limit of "
	    "100 octets\r\n250 2.1.0 Ok\r\n");
	assert_has(out, "552 5.3.4 Error: message larger than "
	    "message_size_limit (100 octets)\r\n221 2.0.0 Bye\r\n");
	cr_assert_eq(ndelivered, 0);
	free(out);
}

Test(session, no_size_limit_advertises_size_alone)
{
	int stop;
	char *out;

	cfg.message_size_limit = 0;
	out = run_session("EHLO c\r\nQUIT\r\n", &stop);
	assert_has(out, "250-SIZE\r\n");
	free(out);
}

Test(session, refused_alias_kinds_and_length_limits_at_rcpt)
{
	char err[256], in[1024];
	int stop;
	char *out;

	write_file(strcat(strcpy(in, dir), "/aliases"),
	    "pipe: |/usr/bin/procmail\nboth: |/bin/cat, ok@y.test\n");
	cr_assert_eq(aliases_load(&al, in, 1, err, sizeof(err)), 0, "%s",
	    err);
	snprintf(in, sizeof(in), "EHLO c\r\nMAIL FROM:<s@x.test>\r\n"
	    "RCPT TO:<pipe>\r\nRCPT TO:<both@local.test>\r\n"
	    "RCPT TO:<%0*d@y.test>\r\nRCPT TO:<-x@y.test>\r\nQUIT\r\n", 65,
	    0);
	out = run_session(in, &stop);
	assert_has(out, "250 2.1.0 Ok\r\n550 5.7.1 <pipe>: Recipient address "
	    "rejected: alias 'pipe' target '|/usr/bin/procmail' refused: "
	    "mxsend never runs commands\r\n250 2.1.5 Ok\r\n501 5.1.3 Error: "
	    "bad recipient address '0000");
	assert_has(out, "': the local part is longer than 64 octets\r\n"
	    "501 5.1.3 Error: bad recipient address '-x@y.test': an address "
	    "may not begin with '-'\r\n221");
	free(out);
}
