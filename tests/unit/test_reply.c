/*
 * test_reply.c: SMTP reply parsing and EHLO capabilities (reply.c).
 */
#include "autoconf.h"

#include <string.h>

#include <criterion/criterion.h>

#include "reply.h"

static struct reply r;
static char err[256];

static void
setup(void)
{
	reply_init(&r);
	err[0] = '\0';
}

static void
teardown(void)
{
	reply_free(&r);
}

TestSuite(reply, .init = setup, .fini = teardown);

static enum reply_status
feed(const char *line)
{
	return reply_feed(&r, line, strlen(line), err, sizeof(err));
}

Test(reply, single_line)
{
	cr_assert_eq(feed("250 2.0.0 Ok: queued as ABC"), REPLY_DONE);
	cr_assert_eq(r.code, 250);
	cr_assert_str_eq(r.enh, "2.0.0");
	cr_assert_str_eq(r.text.data, "2.0.0 Ok: queued as ABC");
}

Test(reply, bare_code_is_a_last_line)
{
	cr_assert_eq(feed("354"), REPLY_DONE);
	cr_assert_eq(r.code, 354);
	cr_assert_str_eq(r.enh, "");
}

Test(reply, multi_line)
{
	cr_assert_eq(feed("250-mx.example Hello"), REPLY_MORE);
	cr_assert_eq(feed("250-PIPELINING"), REPLY_MORE);
	cr_assert_eq(feed("250 SIZE 1000"), REPLY_DONE);
	cr_assert_eq(r.nlines, 3);
	cr_assert_str_eq(r.text.data, "mx.example Hello\nPIPELINING\nSIZE 1000");
}

Test(reply, code_change_is_malformed)
{
	cr_assert_eq(feed("250-first"), REPLY_MORE);
	cr_assert_eq(feed("251 second"), REPLY_BAD);
	cr_assert(strstr(err, "250") && strstr(err, "251"), "%s", err);
}

Test(reply, malformed_lines)
{
	const char *bad[] = { "", "25", "25 ok", "abc", "2500 x", "650 x",
	    "160 x", "170 x", "2x0 x", "260 x", "250x", NULL };
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		reply_reset(&r);
		cr_assert_eq(feed(bad[i]), REPLY_BAD, "accepted '%s'", bad[i]);
		cr_assert(strstr(err, "malformed") != NULL, "%s", err);
	}
}

Test(reply, nul_byte_is_malformed)
{
	cr_assert_eq(reply_feed(&r, "250 a\0b", 7, err, sizeof(err)),
	    REPLY_BAD);
}

Test(reply, larger_than_64k_is_refused)
{
	char line[1001];
	int i;
	enum reply_status st = REPLY_MORE;

	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "250-", 4);
	for (i = 0; i < 200 && st == REPLY_MORE; i++)
		st = feed(line);
	cr_assert_eq(st, REPLY_BAD);
	cr_assert(i <= 66, "stopped after %d lines", i);
	cr_assert(strstr(err, "64 KiB") != NULL, "%s", err);
}

Test(reply, enhanced_code_must_match_class)
{
	cr_assert_eq(feed("550 4.1.1 odd"), REPLY_DONE);
	cr_assert_str_eq(r.enh, "");
	reply_reset(&r);
	cr_assert_eq(feed("550 5.7.1 blocked"), REPLY_DONE);
	cr_assert_str_eq(r.enh, "5.7.1");
	reply_reset(&r);
	cr_assert_eq(feed("452 4.5.3 Too many recipients"), REPLY_DONE);
	cr_assert_str_eq(r.enh, "4.5.3");
	reply_reset(&r);
	cr_assert_eq(feed("550 5.1.10"), REPLY_DONE);
	cr_assert_str_eq(r.enh, "5.1.10");
	reply_reset(&r);
	cr_assert_eq(feed("550 5.1234.1 x"), REPLY_DONE);
	cr_assert_str_eq(r.enh, "");
	reply_reset(&r);
	cr_assert_eq(feed("550 5.1.1x"), REPLY_DONE);
	cr_assert_str_eq(r.enh, "");
}

Test(reply, summary_joins_lines)
{
	char s[128];

	feed("550-5.7.1 Your IP is listed");
	feed("550 5.7.1 see https://bl.example");
	reply_summary(&r, s, sizeof(s));
	cr_assert_str_eq(s, "550 5.7.1 Your IP is listed 5.7.1 see "
	    "https://bl.example");
}

Test(reply, summary_replaces_control_characters)
{
	char s[64];

	feed("550 bad\033[31m");
	reply_summary(&r, s, sizeof(s));
	cr_assert_str_eq(s, "550 bad?[31m");
}

/*
 * SPEC §6/§10: the text handed on (reasons, stderr, the log, bounces) is
 * already safe to print; C1 controls and broken UTF-8 too, which the
 * summary alone let through.
 */
Test(reply, text_is_free_of_control_characters)
{
	char s[128];

	cr_assert_eq(feed("550-5.1.1 \033[31mred\033]0;title\007"),
	    REPLY_MORE);
	cr_assert_eq(feed("550 5.1.1 \x9b" "2J\xc2\x9b" "0m\t"
	    "Gr\xc3\xbc\xc3\x9f" "e \xe2\x82"), REPLY_DONE);
	cr_assert_str_eq(r.enh, "5.1.1");
	cr_assert_str_eq(r.text.data, "5.1.1 ?[31mred?]0;title?\n"
	    "5.1.1 ?2J?0m Gr\xc3\xbc\xc3\x9f" "e ??");
	cr_assert_eq(r.text.len, strlen(r.text.data));
	reply_summary(&r, s, sizeof(s));
	cr_assert_str_eq(s, "550 5.1.1 ?[31mred?]0;title? "
	    "5.1.1 ?2J?0m Gr\xc3\xbc\xc3\x9f" "e ??");
}

static void
ehlo(const char *const lines[], struct ehlo_caps *caps)
{
	size_t i;

	reply_reset(&r);
	for (i = 0; lines[i] != NULL; i++)
		feed(lines[i]);
	ehlo_parse(&r, caps);
}

Test(reply, ehlo_capabilities)
{
	const char *l[] = { "250-mx.example greets you", "250-PIPELINING",
	    "250-SIZE 10485760", "250-8BITMIME", "250-SMTPUTF8", "250-DSN",
	    "250-ENHANCEDSTATUSCODES", "250-STARTTLS", "250-CHUNKING",
	    "250 AUTH PLAIN LOGIN SCRAM-SHA-256 CRAM-MD5 XOAUTH2 OAUTHBEARER "
	    "GSSAPI", NULL };
	struct ehlo_caps c;

	ehlo(l, &c);
	cr_assert_eq(c.ext, EXT_PIPELINING | EXT_SIZE | EXT_8BITMIME |
	    EXT_SMTPUTF8 | EXT_DSN | EXT_ENHANCEDSTATUSCODES | EXT_STARTTLS |
	    EXT_CHUNKING | EXT_AUTH);
	cr_assert_eq(c.size, 10485760);
	cr_assert_eq(c.auth, AUTHM_PLAIN | AUTHM_LOGIN | AUTHM_SCRAM_SHA_256 |
	    AUTHM_CRAM_MD5 | AUTHM_XOAUTH2 | AUTHM_OAUTHBEARER);
}

Test(reply, ehlo_greeting_line_is_not_a_keyword)
{
	const char *l[] = { "250-PIPELINING is my name", "250 8BITMIME", NULL };
	struct ehlo_caps c;

	ehlo(l, &c);
	cr_assert_eq(c.ext, EXT_8BITMIME);
}

Test(reply, ehlo_case_insensitive_and_old_auth_form)
{
	const char *l[] = { "250-hi", "250-pipelining", "250-AUTH=LOGIN PLAIN",
	    "250 size", NULL };
	struct ehlo_caps c;

	ehlo(l, &c);
	cr_assert(c.ext & EXT_PIPELINING);
	cr_assert(c.ext & EXT_SIZE);
	cr_assert_eq(c.size, 0);
	cr_assert_eq(c.auth, AUTHM_LOGIN | AUTHM_PLAIN);
}

Test(reply, ehlo_keyword_prefixes_do_not_count)
{
	const char *l[] = { "250-hi", "250-PIPELININGX", "250-XSTARTTLS",
	    "250 DSNX", NULL };
	struct ehlo_caps c;

	ehlo(l, &c);
	cr_assert_eq(c.ext, 0);
}

Test(reply, ehlo_size_overflow_means_no_limit)
{
	const char *l[] = { "250-hi", "250 SIZE 99999999999999999999999", NULL };
	struct ehlo_caps c;

	ehlo(l, &c);
	cr_assert(c.ext & EXT_SIZE);
	cr_assert_eq(c.size, 0);
}
