/*
 * test_rfc5322.c: the address-list parser against RFC 5322 Appendix A,
 * RFC 3696 local parts and headers seen in the wild; the envelope
 * mailbox parser; RFC 2047 decoding; field names and unfolding.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <string.h>

#include "rfc5322.h"
#include "util.h"

struct parsed {
	struct addrlist	 l;
	char		*addrs;		/* "a@b, c@d" */
	char		*reasons;	/* "reason; reason" */
};

static void
parse(struct parsed *p, const char *s, size_t len)
{
	struct buf b;
	size_t i;
	char *a;

	addrlist_init(&p->l);
	rfc5322_parse_address_list(s, len, &p->l);
	buf_init(&b);
	for (i = 0; i < p->l.n; i++) {
		a = mailbox_addr(&p->l.v[i]);
		buf_printf(&b, "%s%s", i ? ", " : "", a);
		free(a);
	}
	p->addrs = buf_release(&b);
	for (i = 0; i < p->l.nerrs; i++)
		buf_printf(&b, "%s%s", i ? "; " : "", p->l.errs[i].reason);
	p->reasons = buf_release(&b);
}

static void
parses(struct parsed *p, const char *s)
{
	parse(p, s, strlen(s));
}

static void
parsed_free(struct parsed *p)
{
	addrlist_free(&p->l);
	free(p->addrs);
	free(p->reasons);
}

/* The addresses found, and the reasons for the elements refused. */
static void
expect(const char *in, const char *addrs, const char *reasons)
{
	struct parsed p;

	parse(&p, in, strlen(in));
	cr_expect_str_eq(p.addrs, addrs, "input [%s]: addresses [%s]", in,
	    p.addrs);
	cr_expect_str_eq(p.reasons, reasons, "input [%s]: errors [%s]", in,
	    p.reasons);
	parsed_free(&p);
}

/* One refused element: its reason and its text, with others around it. */
static void
expect_err(const char *in, const char *addrs, const char *reason,
    const char *text)
{
	struct parsed p;

	parse(&p, in, strlen(in));
	cr_expect_str_eq(p.addrs, addrs, "input [%s]: addresses [%s]", in,
	    p.addrs);
	cr_assert_eq(p.l.nerrs, 1, "input [%s]: %zu errors [%s]", in,
	    p.l.nerrs, p.reasons);
	cr_expect_str_eq(p.l.errs[0].reason, reason, "input [%s]", in);
	cr_expect_str_eq(p.l.errs[0].text, text, "input [%s]", in);
	parsed_free(&p);
}

static void
expect_display(const char *in, const char *addr, const char *display)
{
	struct parsed p;

	parse(&p, in, strlen(in));
	cr_assert_eq(p.l.n, 1, "input [%s]: [%s] [%s]", in, p.addrs,
	    p.reasons);
	cr_expect_str_eq(p.addrs, addr, "input [%s]", in);
	if (display == NULL)
		cr_expect_null(p.l.v[0].display, "input [%s]: [%s]", in,
		    p.l.v[0].display);
	else {
		cr_assert_not_null(p.l.v[0].display, "input [%s]", in);
		cr_expect_str_eq(p.l.v[0].display, display, "input [%s]", in);
	}
	parsed_free(&p);
}

/* ------------------------------------------------ RFC 5322 Appendix A */

Test(appendix_a, a1_1_addressing)
{
	expect_display("John Doe <jdoe@machine.example>",
	    "jdoe@machine.example", "John Doe");
	expect_display("Mary Smith <mary@example.net>", "mary@example.net",
	    "Mary Smith");
}

Test(appendix_a, a1_2_quoted_display_and_list)
{
	expect_display("\"Joe Q. Public\" <john.q.public@example.com>",
	    "john.q.public@example.com", "Joe Q. Public");
	expect("Mary Smith <mary@x.test>, jdoe@example.org, "
	    "Who? <one@y.test>", "mary@x.test, jdoe@example.org, one@y.test",
	    "");
	expect("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" "
	    "<sysservices@example.net>", "boss@nil.test, "
	    "sysservices@example.net", "");
	expect_display("\"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
	    "sysservices@example.net", "Giant; \"Big\" Box");
}

Test(appendix_a, a1_3_group)
{
	struct parsed p;
	size_t i;

	parses(&p, "A Group:Ed Jones <c@a.test>,joe@where.test,"
	    "John <jdoe@one.test>;");
	cr_assert_str_eq(p.addrs, "c@a.test, joe@where.test, jdoe@one.test");
	cr_assert_eq(p.l.ngroups, 1);
	cr_assert_eq(p.l.nerrs, 0);
	for (i = 0; i < p.l.n; i++)
		cr_assert_str_eq(p.l.v[i].group, "A Group");
	cr_assert_str_eq(p.l.v[0].display, "Ed Jones");
	cr_assert_null(p.l.v[1].display);
	parsed_free(&p);
}

Test(appendix_a, a1_3_empty_group)
{
	struct parsed p;

	parses(&p, "Undisclosed recipients:;");
	cr_assert_eq(p.l.n, 0);
	cr_assert_eq(p.l.nerrs, 0);
	cr_assert_eq(p.l.ngroups, 1);
	parsed_free(&p);
}

Test(appendix_a, a5_comments_everywhere)
{
	expect_display("Pete(A nice \\) chap) <pete(his account)@silly.test"
	    "(his host)>", "pete@silly.test", "Pete");
}

Test(appendix_a, a5_group_with_comments)
{
	struct parsed p;
	const char *in = "A Group(Some people)\r\n     :Chris Jones "
	    "<c@(Chris's host.)public.example>,\r\n         joe@example.org,"
	    "\r\n  John <jdoe@one.test> (my dear friend); (the end of the "
	    "group)";

	parse(&p, in, strlen(in));
	cr_assert_str_eq(p.addrs, "c@public.example, joe@example.org, "
	    "jdoe@one.test");
	cr_assert_str_eq(p.reasons, "");
	cr_assert_str_eq(p.l.v[0].group, "A Group");
	cr_assert_str_eq(p.l.v[0].display, "Chris Jones");
	cr_assert_str_eq(p.l.v[2].display, "John");
	parsed_free(&p);
}

Test(appendix_a, a5_hidden_recipients)
{
	struct parsed p;
	const char *in = "(Empty list)(start)Hidden recipients  :(nobody"
	    "(that I know))  ;";

	parse(&p, in, strlen(in));
	cr_assert_eq(p.l.n, 0);
	cr_assert_eq(p.l.nerrs, 0);
	cr_assert_eq(p.l.ngroups, 1);
	parsed_free(&p);
}

Test(appendix_a, a6_1_obsolete_phrase_and_route)
{
	expect_display("Joe Q. Public <john.q.public@example.com>",
	    "john.q.public@example.com", "Joe Q. Public");
	expect("Mary Smith <@node.test:mary@example.net>, , jdoe@test  . "
	    "example", "mary@example.net, jdoe@test.example", "");
	expect_display("Mary Smith <@node.test:mary@example.net>",
	    "mary@example.net", "Mary Smith");
}

Test(appendix_a, a6_3_obsolete_white_space_and_comments)
{
	expect_display("John Doe <jdoe@machine(comment).  example>",
	    "jdoe@machine.example", "John Doe");
	expect_display("Mary Smith\r\n    \r\n <mary@example.net>",
	    "mary@example.net", "Mary Smith");
}

Test(obsolete, route_with_several_hops)
{
	expect("<@a.example,@b.example:user@c.example>", "user@c.example",
	    "");
	expect("<,@a.example,,@b.example:user@c.example>", "user@c.example",
	    "");
	expect("Name <@a.example, @b.example : user@c.example>",
	    "user@c.example", "");
}

Test(obsolete, local_part_with_cfws_between_words)
{
	expect("john . doe @ example . com", "john.doe@example.com", "");
	expect("john(x).(y)doe@example.com", "john.doe@example.com", "");
	expect("\"john\".\"doe\"@x", "john.doe@x", "");
	expect("Abc.\"Def\".ghi@x", "Abc.Def.ghi@x", "");
	expect("\"jo hn\".doe@x", "\"jo hn.doe\"@x", "");
}

Test(obsolete, empty_list_elements)
{
	expect(", ,a@b", "a@b", "");
	expect("a@b,,, c@d, ,", "a@b, c@d", "");
	expect(",", "", "");
	expect("(just a comment)", "", "");
}

/* ----------------------------------------------------------- local parts */

Test(local_part, quoted_forms_are_minimal)
{
	expect("\"john doe\"@x", "\"john doe\"@x", "");
	expect("\"john\"@x", "john@x", "");
	expect("\"john.doe\"@x", "john.doe@x", "");
	expect("\"john..doe\"@x", "\"john..doe\"@x", "");
	expect("\".john\"@x", "\".john\"@x", "");
	expect("\"a\\\"b\"@x", "\"a\\\"b\"@x", "");
	expect("\"a\\b\"@x", "ab@x", "");
	expect("\"\"@x", "\"\"@x", "");
}

Test(local_part, rfc3696_examples)
{
	expect("\"Abc@def\"@example.com", "\"Abc@def\"@example.com", "");
	expect("\"Fred Bloggs\"@example.com", "\"Fred Bloggs\"@example.com",
	    "");
	expect("\"Joe\\\\Blow\"@example.com", "\"Joe\\\\Blow\"@example.com",
	    "");
	expect("\"Abc,123\"@example.com", "\"Abc,123\"@example.com", "");
	expect("customer/department=shipping@example.com",
	    "customer/department=shipping@example.com", "");
	expect("$A12345@example.com", "$A12345@example.com", "");
	expect("!def!xyz%abc@example.com", "!def!xyz%abc@example.com", "");
	expect("_somename@example.com", "_somename@example.com", "");
	expect("user+mailbox@example.com", "user+mailbox@example.com", "");
	expect("{}~'|`^?#&*-=@example.com", "{}~'|`^?#&*-=@example.com", "");
}

Test(local_part, rfc3696_unquoted_specials_refused)
{
	expect_err("a@x, Abc\\@def@example.com, c@y", "a@x, c@y",
	    "bad character '\\' in local part", "Abc\\@def@example.com");
	expect_err("Fred Bloggs@example.com, ok@x", "ok@x",
	    "space in local part", "Fred Bloggs@example.com");
}

Test(local_part, unqualified)
{
	struct parsed p;

	parses(&p, "root, <postmaster>, Root User <root>");
	cr_assert_str_eq(p.addrs, "root, postmaster, root");
	cr_assert_null(p.l.v[0].domain);
	cr_assert_null(p.l.v[1].domain);
	cr_assert_str_eq(p.l.v[2].display, "Root User");
	parsed_free(&p);
	expect("\"john doe\"", "\"john doe\"", "");
}

Test(local_part, utf8_sets_flag)
{
	struct parsed p;

	parses(&p, "j\xc3\xb6rg@example.com, plain@example.com");
	cr_assert_str_eq(p.addrs, "j\xc3\xb6rg@example.com, "
	    "plain@example.com");
	cr_assert_eq(p.l.v[0].utf8, 1);
	cr_assert_eq(p.l.v[1].utf8, 0);
	parsed_free(&p);
	parses(&p, "\"\xe7\x94\xb0 \xe4\xb8\xad\"@example.jp");
	cr_assert_str_eq(p.addrs, "\"\xe7\x94\xb0 \xe4\xb8\xad\"@example.jp");
	cr_assert_eq(p.l.v[0].utf8, 1);
	parsed_free(&p);
}

Test(local_part, invalid_utf8_refused)
{
	expect_err("a\xff@x, ok@x", "ok@x", "invalid UTF-8 in local part",
	    "a\xff@x");
	/* Overlong '/' and a UTF-16 surrogate. */
	expect_err("a\xc0\xaf@x, ok@x", "ok@x", "invalid UTF-8 in local part",
	    "a\xc0\xaf@x");
	expect_err("\"\xed\xa0\x80\"@x, ok@x", "ok@x",
	    "invalid UTF-8 in local part", "\"\xed\xa0\x80\"@x");
}

/* --------------------------------------------------------------- domains */

Test(domain, literals)
{
	expect("x@[192.0.2.1]", "x@[192.0.2.1]", "");
	expect("x@[IPv6:2001:db8::1]", "x@[IPv6:2001:db8::1]", "");
	expect("x@[ 10.0.0.1 ]", "x@[10.0.0.1]", "");
	expect("x@[x-tag:opaque]", "x@[x-tag:opaque]", "");
	expect("Name <x@[192.0.2.1]>", "x@[192.0.2.1]", "");
}

Test(domain, bad_literals)
{
	expect_err("a@x, x@[300.1.1.1], b@y", "a@x, b@y",
	    "bad domain literal", "x@[300.1.1.1]");
	expect_err("a@x, x@[IPv6:zz::q], b@y", "a@x, b@y",
	    "bad domain literal", "x@[IPv6:zz::q]");
	expect_err("a@x, x@[], b@y", "a@x, b@y", "empty domain literal",
	    "x@[]");
	expect_err("a@x, x@[1.2 .3.4], b@y", "a@x, b@y",
	    "bad domain literal", "x@[1.2 .3.4]");
	expect_err("a@x, b@[1.2.3.4, c@y", "a@x, c@y",
	    "unterminated domain literal", "b@[1.2.3.4");
	expect_err("a@x, b@[1[2], c@y", "a@x, c@y",
	    "bad character '[' in domain literal", "b@[1[2]");
}

Test(domain, idn_utf8)
{
	struct parsed p;

	parses(&p, "user@b\xc3\xbc" "cher.example");
	cr_assert_str_eq(p.addrs, "user@b\xc3\xbc" "cher.example");
	cr_assert_eq(p.l.v[0].utf8, 1);
	parsed_free(&p);
	parses(&p, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	    "\xe5\xb9\xbf\xe5\x91\x8a");
	cr_assert_eq(p.l.n, 1);
	cr_assert_eq(p.l.v[0].utf8, 1);
	cr_assert_str_eq(p.l.v[0].domain, "\xe4\xbe\x8b\xe5\xad\x90."
	    "\xe5\xb9\xbf\xe5\x91\x8a");
	parsed_free(&p);
}

Test(domain, case_kept)
{
	expect("Joe@Example.COM", "Joe@Example.COM", "");
}

Test(domain, errors)
{
	expect_err("a@x, b@, c@y", "a@x, c@y", "empty domain", "b@");
	expect_err("a@x, Bob <b@>, c@y", "a@x, c@y", "empty domain",
	    "Bob <b@>");
	expect_err("a@x, b@y..z, c@y", "a@x, c@y", "empty label in domain",
	    "b@y..z");
	expect_err("a@x, b@y., c@y", "a@x, c@y", "empty label in domain",
	    "b@y.");
	expect_err("a@x, b@.y, c@y", "a@x, c@y", "empty label in domain",
	    "b@.y");
	expect_err("a@x, b@ex!ample.com, c@y", "a@x, c@y",
	    "bad character '!' in domain", "b@ex!ample.com");
	expect_err("a@x, b@y@z, c@y", "a@x, c@y", "more than one '@'",
	    "b@y@z");
	expect_err("a@x, b@y\xff, c@y", "a@x, c@y", "invalid UTF-8 in domain",
	    "b@y\xff");
}

/* --------------------------------------------------------- display names */

Test(display, rfc2047_encoded_words)
{
	expect_display("=?UTF-8?B?w4lyaWM=?= <eric@example.com>",
	    "eric@example.com", "\xc3\x89ric");
	expect_display("=?utf-8?q?J=C3=B6rg_Schmidt?= <j@x>", "j@x",
	    "J\xc3\xb6rg Schmidt");
	expect_display("=?iso-8859-1?q?J=F6rg?= =?iso-8859-1?q?_M=FCller?= "
	    "<j@x>", "j@x", "J\xc3\xb6rg M\xc3\xbcller");
	/* Common though RFC 2047 §5 forbids it: inside quotes. */
	expect_display("\"=?UTF-8?Q?Caf=C3=A9?=\" <cafe@x>", "cafe@x",
	    "Caf\xc3\xa9");
	expect_display("=?UTF-8?Q?Team?= Lead <t@x>", "t@x", "Team Lead");
}

Test(display, outlook_last_first)
{
	expect_display("\"Last, First\" <first.last@example.com>",
	    "first.last@example.com", "Last, First");
	expect_display("\"'Last, First'\" <first.last@example.com>",
	    "first.last@example.com", "'Last, First'");
	/* Unquoted, the comma really does separate two addresses. */
	expect("Last, First <x@y>", "Last, x@y", "");
}

Test(display, mailing_list_headers)
{
	expect("linux-kernel@vger.kernel.org, \"Foo Bar\" <foo@bar.org>, "
	    "baz@qux.example (Baz Q.)", "linux-kernel@vger.kernel.org, "
	    "foo@bar.org, baz@qux.example", "");
	expect_display("\"Doe, John (Dept)\" via Example List "
	    "<list@lists.example.org>", "list@lists.example.org",
	    "Doe, John (Dept) via Example List");
	expect_display("Mailman List <mailman-bounces@lists.example.org>",
	    "mailman-bounces@lists.example.org", "Mailman List");
}

Test(display, address_as_display_name)
{
	expect_display("foo@bar.com <foo@bar.com>", "foo@bar.com",
	    "foo@bar.com");
	expect_display("\"foo@bar.com\" <foo@bar.com>", "foo@bar.com",
	    "foo@bar.com");
}

Test(display, raw_utf8_and_folding)
{
	expect_display("J\xc3\xb6rg M\xc3\xbcller <j@x>", "j@x",
	    "J\xc3\xb6rg M\xc3\xbcller");
	expect_display("\"John\r\n Smith\" <js@x>", "js@x", "John Smith");
	expect_display("John\r\n\tSmith <js@x>", "js@x", "John Smith");
	expect_display("<plain@x>", "plain@x", NULL);
	expect_display("plain@x", "plain@x", NULL);
}

Test(display, comments_are_not_addresses)
{
	expect("(bob@evil.example) alice@example.com", "alice@example.com",
	    "");
	expect("alice@example.com (sent by bob@evil.example)",
	    "alice@example.com", "");
	expect("Alice (not <bob@evil>) <alice@x>", "alice@x", "");
	expect("a(b(c(d)))@x", "a@x", "");
}

/* ----------------------------------------------------------- separators */

Test(separators, trailing_commas_and_semicolons)
{
	expect("a@x,", "a@x", "");
	expect("a@x, b@y,,", "a@x, b@y", "");
	expect("a@x; b@y; c@z;", "a@x, b@y, c@z", "");
	expect(";;a@b;;", "a@b", "");
}

Test(separators, groups)
{
	struct parsed p;

	parses(&p, "friends: a@x, b@y; c@z");
	cr_assert_str_eq(p.addrs, "a@x, b@y, c@z");
	cr_assert_str_eq(p.l.v[0].group, "friends");
	cr_assert_str_eq(p.l.v[1].group, "friends");
	cr_assert_null(p.l.v[2].group);
	parsed_free(&p);
	/* The ';' is often forgotten at the end. */
	parses(&p, "undisclosed-recipients:");
	cr_assert_eq(p.l.n, 0);
	cr_assert_eq(p.l.nerrs, 0);
	cr_assert_eq(p.l.ngroups, 1);
	parsed_free(&p);
	parses(&p, "one:a@x;, two: ;, three:b@y;");
	cr_assert_str_eq(p.addrs, "a@x, b@y");
	cr_assert_eq(p.l.ngroups, 3);
	cr_assert_str_eq(p.l.v[1].group, "three");
	parsed_free(&p);
	parses(&p, "=?utf-8?q?Fr=C3=BCnde?=: a@x;");
	cr_assert_str_eq(p.l.v[0].group, "Fr\xc3\xbcnde");
	parsed_free(&p);
}

Test(separators, group_errors)
{
	struct parsed p;

	parses(&p, "outer: inner: a@x; b@y");
	cr_assert_str_eq(p.reasons, "group inside a group");
	cr_assert_str_eq(p.l.errs[0].text, "inner: a@x");
	cr_assert_str_eq(p.addrs, "b@y");
	parsed_free(&p);
	/* A bad member does not end the group. */
	parses(&p, "g: a@x, b@@y, c@z; d@w");
	cr_assert_str_eq(p.addrs, "a@x, c@z, d@w");
	cr_assert_str_eq(p.reasons, "more than one '@'");
	cr_assert_str_eq(p.l.errs[0].text, "b@@y");
	cr_assert_str_eq(p.l.v[1].group, "g");
	cr_assert_null(p.l.v[2].group);
	parsed_free(&p);
	expect_err("a@x, bad@name: b@y, c@z; d@w", "a@x, d@w",
	    "bad character '@' in group name", "bad@name: b@y, c@z");
}

Test(folding, crlf_and_lf)
{
	expect("a@x,\r\n b@y,\n\tc@z", "a@x, b@y, c@z", "");
	expect("John\r\n <john@\r\n example.com>", "john@example.com", "");
	expect("\"quoted\r\n string\"@x", "\"quoted string\"@x", "");
}

/* ---------------------------------------------------------------- errors */

Test(errors, unbalanced_quote)
{
	expect_err("a@x, \"abc, def@x, g@y", "a@x, def@x, g@y",
	    "unbalanced quote", "\"abc");
	expect_err("a@x, \"Smith, John <js@x>, b@y", "a@x, js@x, b@y",
	    "unbalanced quote", "\"Smith");
	expect_err("a@x, b\"@y", "a@x", "unbalanced quote", "b\"@y");
}

Test(errors, missing_angle)
{
	expect_err("a@x, John <john@x, b@y", "a@x, b@y", "missing '>'",
	    "John <john@x");
	expect_err("a@x, John <john@x", "a@x", "missing '>'", "John <john@x");
	expect_err("a@x, John <john@x y>, b@y", "a@x, b@y",
	    "unexpected 'y' in angle address", "John <john@x y>");
	expect_err("a@x, b@y>, c@z", "a@x, c@z", "bad character '>' in address",
	    "b@y>");
	expect_err("a@x, <b@y> <c@z>, d@w", "a@x, d@w",
	    "bad character '<' in address", "<b@y> <c@z>");
}

Test(errors, comments)
{
	expect_err("a@x, (oops b@y, c@z", "a@x, c@z", "unterminated comment",
	    "(oops b@y");
	expect_err("a@x, ((nested) b@y, c@z", "a@x, c@z",
	    "unterminated comment", "((nested) b@y");
	expect_err("a@x, b)@y, c@z", "a@x, c@z", "unbalanced ')'", "b)@y");
	expect_err("a@x, b@y (\\), c@z", "a@x, c@z", "unterminated comment",
	    "b@y (\\)");
	/* After one comment that never closes, later ones still work. */
	expect("(a, (b) c@x, (d) e@y", "c@x, e@y", "unterminated comment");
}

Test(errors, local_part_shapes)
{
	expect_err("a@x, b..c@y, d@z", "a@x, d@z", "'..' in local part",
	    "b..c@y");
	expect_err("a@x, .b@y, d@z", "a@x, d@z", "local part begins with '.'",
	    ".b@y");
	expect_err("a@x, b.@y, d@z", "a@x, d@z", "local part ends with '.'",
	    "b.@y");
	expect_err("a@x, @y, d@z", "a@x, d@z", "empty local part", "@y");
	expect_err("a@x, \"b\"c@y, d@z", "a@x, d@z",
	    "missing '.' in local part", "\"b\"c@y");
	expect_err("a@x, b@y c@z, d@w", "a@x, d@w",
	    "unexpected text after address", "b@y c@z");
	expect_err("a@x, <@r.example>, d@w", "a@x, d@w", "empty local part",
	    "<@r.example>");
	expect_err("a@x, <@r.example x@v>, d@w", "a@x, d@w",
	    "bad source route", "<@r.example x@v>");
	expect_err("a@x, John Smith, d@w", "a@x, d@w", "space in local part",
	    "John Smith");
}

Test(errors, unexpected_tokens)
{
	expect_err("a@x, Bad>Name <b@y>, c@z", "a@x, c@z",
	    "bad character '>' in display name", "Bad>Name <b@y>");
	expect_err("a@x, <b@y \"q\">, c@z", "a@x, c@z",
	    "unexpected quoted string in angle address", "<b@y \"q\">");
	expect_err("a@x, <b@y abcdefghijklmnopqrstuvwxyz0123>, c@z",
	    "a@x, c@z", "unexpected 'abcdefghijklmnopqrstuvwx'... in angle "
	    "address", "<b@y abcdefghijklmnopqrstuvwxyz0123>");
	expect_err("a@x, <@r.example:", "a@x", "unexpected end of local part",
	    "<@r.example:");
	expect_err("a@x, [1.2.3.4]@y, c@z", "a@x, c@z",
	    "bad character '[' in local part", "[1.2.3.4]@y");
}

Test(errors, null_address_in_a_list)
{
	expect_err("<>, a@b", "a@b", "empty address <>", "<>");
	expect_err("a@b, MAILER-DAEMON <>", "a@b", "empty address <>",
	    "MAILER-DAEMON <>");
}

Test(errors, control_characters)
{
	struct parsed p;

	expect_err("a@x, b\x01z@y, c@z", "a@x, c@z",
	    "bad character 0x01 in local part", "b?z@y");
	expect_err("a@x, b@y\x7f, c@z", "a@x, c@z",
	    "bad character 0x7f in address", "b@y?");
	expect_err("a@x, \"b\x02\"@y, c@z", "a@x, c@z",
	    "bad character 0x02 in quoted string", "\"b?\"@y");
	expect_err("a@x, b(\x1b)@y, c@z", "a@x, c@z",
	    "bad character 0x1b in comment", "b(?)@y");
	expect_err("a@x, \"b\tc\"@y, c@z", "a@x, c@z",
	    "bad character 0x09 in local part", "\"b c\"@y");
	expect_err("a@x, b\\\x01@y, c@z", "a@x, c@z",
	    "bad character '\\' in local part", "b\\?@y");
	parse(&p, "a@x, b\0c@y, d@z", 15);
	cr_assert_str_eq(p.addrs, "a@x, d@z");
	cr_assert_str_eq(p.reasons, "NUL byte");
	cr_assert_str_eq(p.l.errs[0].text, "b?c@y");
	parsed_free(&p);
}

Test(errors, cr_lf_not_folding)
{
	expect_err("a@x, b\rc@y, d@z", "a@x, d@z",
	    "CR or LF not part of folding", "b?c@y");
	expect_err("a@x, b@y\nc@z, d@w", "a@x, d@w",
	    "CR or LF not part of folding", "b@y?c@z");
	expect_err("a@x, \"b\nc\"@y, d@w", "a@x, d@w",
	    "CR or LF not part of folding", "\"b?c\"@y");
	expect_err("a@x,\r\nBcc: evil@example.com, b@y", "a@x",
	    "CR or LF not part of folding", "??Bcc: evil@example.com, b@y");
	/* Never folding at the very end. */
	expect_err("a@x, b@y\r\n", "a@x", "CR or LF not part of folding",
	    "b@y??");
}

Test(errors, text_is_bounded)
{
	struct parsed p;
	struct buf b;
	size_t i;

	buf_init(&b);
	buf_adds(&b, "ok@x, \"");
	for (i = 0; i < 300; i++)
		buf_adds(&b, "\xc3\xa9");
	buf_adds(&b, ">@y, ok2@x");
	parse(&p, b.data, b.len);
	cr_assert_str_eq(p.addrs, "ok@x, ok2@x");
	cr_assert_eq(p.l.nerrs, 1);
	cr_assert_leq(strlen(p.l.errs[0].text), 200);
	cr_assert_geq(strlen(p.l.errs[0].text), 190);
	/* Cut on a character boundary, marked as cut. */
	i = strlen(p.l.errs[0].text);
	cr_assert_str_eq(p.l.errs[0].text + i - 3, "...");
	cr_assert_eq((unsigned char)p.l.errs[0].text[i - 4], 0xa9);
	parsed_free(&p);
	buf_free(&b);
}

Test(errors, appends_to_existing_list)
{
	struct addrlist l;

	addrlist_init(&l);
	rfc5322_parse_address_list("a@x, bad@", 9, &l);
	rfc5322_parse_address_list("b@y, c@z", 8, &l);
	cr_assert_eq(l.n, 3);
	cr_assert_eq(l.nerrs, 1);
	cr_assert_str_eq(l.v[2].local, "c");
	addrlist_free(&l);
}

/*
 * Each construct that never closes runs to the end of the input; were it
 * scanned again for every later one, this would take many minutes.
 */
Test(errors, many_unterminated_constructs_are_linear, .timeout = 60)
{
	static const char *const unit[] = { "(,", "[,", "([,", "[(," };
	struct parsed p;
	struct buf b;
	size_t i, k;

	for (k = 0; k < sizeof(unit) / sizeof(unit[0]); k++) {
		buf_init(&b);
		for (i = 0; i < 200000; i++)
			buf_adds(&b, unit[k]);
		buf_adds(&b, " ok@x");
		parse(&p, b.data, b.len);
		cr_assert_str_eq(p.addrs, "ok@x", "[%s]", unit[k]);
		cr_assert_eq(p.l.nerrs, 200000, "[%s]: %zu", unit[k],
		    p.l.nerrs);
		parsed_free(&p);
		buf_free(&b);
	}
}

/* --------------------------------------------------------- one mailbox */

static int
one(const char *s, char **addr, char *err, size_t errlen)
{
	struct mailbox mb;
	int r;

	*addr = NULL;
	err[0] = '\0';
	r = rfc5322_parse_mailbox(s, strlen(s), &mb, err, errlen);
	if (r == 0) {
		*addr = mailbox_addr(&mb);
		mailbox_free(&mb);
	}
	return r;
}

static void
expect_one(const char *in, const char *want)
{
	char err[256], *addr;

	cr_assert_eq(one(in, &addr, err, sizeof(err)), 0, "[%s]: %s", in,
	    err);
	cr_expect_str_eq(addr, want, "[%s]", in);
	free(addr);
}

static void
expect_one_err(const char *in, const char *why)
{
	char err[256], *addr;

	cr_assert_eq(one(in, &addr, err, sizeof(err)), -1, "[%s] -> %s", in,
	    addr);
	cr_expect_str_eq(err, why, "[%s]", in);
}

Test(mailbox, forms)
{
	expect_one("user@example.com", "user@example.com");
	expect_one("<user@example.com>", "user@example.com");
	expect_one("User Name <user@example.com>", "user@example.com");
	expect_one("\"john\"@example.com", "john@example.com");
	expect_one("root", "root");
	expect_one(" <@relay.example:user@example.com> ", "user@example.com");
}

Test(mailbox, null_address)
{
	struct mailbox mb;
	char err[64];
	const char *nulls[] = { "", "<>", " <> ", "  ", "MAILER-DAEMON <>",
	    NULL };
	size_t i;

	for (i = 0; nulls[i] != NULL; i++) {
		cr_assert_eq(rfc5322_parse_mailbox(nulls[i], strlen(nulls[i]),
		    &mb, err, sizeof(err)), 0, "[%s]: %s", nulls[i], err);
		cr_assert_str_eq(mb.local, "", "[%s]", nulls[i]);
		cr_assert_null(mb.domain);
		mailbox_free(&mb);
	}
}

Test(mailbox, refused)
{
	expect_one_err("a@x\r\n", "contains CR or LF");
	expect_one_err("a@x\nBcc: b@y", "contains CR or LF");
	expect_one_err("a@x, b@y", "more than one address");
	expect_one_err("<>, b@y", "more than one address");
	expect_one_err("a@x,", "stray ',' or ';'");
	expect_one_err("g: a@x;", "a group is not one address");
	expect_one_err("a@", "empty domain");
	expect_one_err("\"a@x", "unbalanced quote");
	expect_one_err("<a@x", "missing '>'");
	expect_one_err("<> x", "unexpected text after address");
}

Test(mailbox, nul_refused)
{
	struct mailbox mb;
	char err[64];

	cr_assert_eq(rfc5322_parse_mailbox("a@x\0y", 5, &mb, err,
	    sizeof(err)), -1);
	cr_assert_str_eq(err, "contains NUL");
}

Test(mailbox, display_and_utf8_kept)
{
	struct mailbox mb;
	char err[64];
	const char *in = "=?utf-8?b?SsO2cmc=?= <j\xc3\xb6rg@x.example>";

	cr_assert_eq(rfc5322_parse_mailbox(in, strlen(in), &mb, err,
	    sizeof(err)), 0);
	cr_assert_str_eq(mb.display, "J\xc3\xb6rg");
	cr_assert_str_eq(mb.local, "j\xc3\xb6rg");
	cr_assert_str_eq(mb.domain, "x.example");
	cr_assert_eq(mb.utf8, 1);
	cr_assert_null(mb.group);
	mailbox_free(&mb);
}

/* Where "@domain" goes in an unqualified address (issue 16, SPEC §5.4). */
Test(mailbox, qualify_at)
{
	static const struct {
		const char *list;
		size_t at[3];
	} rows[] = {
		{ "root", { 4 } },
		{ "root (Cron Daemon)", { 4 } },
		{ "mdadm monitoring <root>", { 22 } },
		{ "\"a b\"  (c) , x@y.example, g: u1, \"U 2\" <u2>;",
		    { 5, SIZE_MAX, 31 } },
	};
	struct addrlist l;
	size_t i, k;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		addrlist_init(&l);
		rfc5322_parse_address_list(rows[i].list,
		    strlen(rows[i].list), &l);
		cr_assert_eq(l.nerrs, 0, "%s", rows[i].list);
		for (k = 0; k < l.n && k < 3; k++)
			cr_assert_eq(l.v[k].qualify_at, rows[i].at[k],
			    "%s: address %zu at %zu", rows[i].list, k,
			    l.v[k].qualify_at);
		addrlist_free(&l);
	}
}

Test(mailbox, addr_form)
{
	struct mailbox mb = { NULL, "u", "d.example", NULL, 0, SIZE_MAX };
	char *a;

	a = mailbox_addr(&mb);
	cr_assert_str_eq(a, "u@d.example");
	free(a);
	mb.domain = NULL;
	a = mailbox_addr(&mb);
	cr_assert_str_eq(a, "u");
	free(a);
}

/* ------------------------------------------------------------- RFC 2047 */

static void
expect_2047(const char *in, const char *want)
{
	char *out = rfc2047_decode(in, strlen(in));

	cr_expect_str_eq(out, want, "[%s]", in);
	free(out);
}

Test(rfc2047, encodings_and_charsets)
{
	expect_2047("=?UTF-8?B?w4lyaWM=?=", "\xc3\x89ric");
	expect_2047("=?utf-8?b?w4lyaWM?=", "\xc3\x89ric");
	expect_2047("=?utf-8?Q?a_b=3Dc?=", "a b=c");
	expect_2047("=?US-ASCII?Q?Keith_Moore?=", "Keith Moore");
	expect_2047("=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard");
	expect_2047("=?iso-8859-1?b?6Q==?=", "\xc3\xa9");
	expect_2047("=?utf-8*en?q?hi?=", "hi");
	expect_2047("=?utf-8?q?" "?=", "");
}

Test(rfc2047, joining)
{
	expect_2047("=?utf-8?q?a?= =?utf-8?q?b?=", "ab");
	expect_2047("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab");
	expect_2047("=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c");
	expect_2047("x =?utf-8?q?a?=", "x a");
	/* A character split across two words (RFC 2047 forbids it). */
	expect_2047("=?utf-8?b?w4k=?= =?utf-8?q?ric?=", "\xc3\x89ric");
}

Test(rfc2047, kept_as_written)
{
	expect_2047("=?koi8-r?b?8NLJ18XU?=", "=?koi8-r?b?8NLJ18XU?=");
	expect_2047("=?utf-8?x?abc?=", "=?utf-8?x?abc?=");
	expect_2047("=?utf-8?q?a=zz?=", "=?utf-8?q?a=zz?=");
	expect_2047("=?utf-8?b?w4l*?=", "=?utf-8?b?w4l*?=");
	expect_2047("=?utf-8?q?unterminated", "=?utf-8?q?unterminated");
	expect_2047("=?utf-8?q?a b?=", "=?utf-8?q?a b?=");
	expect_2047("plain text", "plain text");
	expect_2047("=?utf-8?q?a?= =?koi8-r?q?b?=", "a =?koi8-r?q?b?=");
}

Test(rfc2047, controls_never_come_out)
{
	char *out;

	expect_2047("=?utf-8?q?a=0D=0Ab=00c?=", "a??b?c");
	expect_2047("a\r\nb", "ab");
	out = rfc2047_decode("a\0b\x01", 4);
	cr_assert_str_eq(out, "a?b?");
	free(out);
}

/* -------------------------------------------------------- header fields */

Test(field, names)
{
	cr_assert_eq(rfc5322_field_name("Subject: x", 10), 7);
	cr_assert_eq(rfc5322_field_name("Subject : x", 11), 7);
	cr_assert_eq(rfc5322_field_name("Subject\t: x", 11), 7);
	cr_assert_eq(rfc5322_field_name("X-Odd!#$%&'*+-/=?^_`{|}~: v", 27),
	    24);
	cr_assert_eq(rfc5322_field_name("To:", 3), 2);
	cr_assert_eq(rfc5322_field_name("Bad Name: v", 11), 0);
	cr_assert_eq(rfc5322_field_name(": v", 3), 0);
	cr_assert_eq(rfc5322_field_name(" Subject: v", 11), 0);
	cr_assert_eq(rfc5322_field_name("Subject", 7), 0);
	cr_assert_eq(rfc5322_field_name("Subj\x80: v", 8), 0);
	/* The colon must be within len. */
	cr_assert_eq(rfc5322_field_name("Subject: x", 7), 0);
}

Test(field, unfold)
{
	char *s;

	s = rfc5322_unfold(" a@x,\r\n  z@w ", 13);
	cr_assert_str_eq(s, "a@x,  z@w");
	free(s);
	s = rfc5322_unfold("a\n\tb", 4);
	cr_assert_str_eq(s, "a\tb");
	free(s);
	s = rfc5322_unfold("\t \r\n ", 5);
	cr_assert_str_eq(s, "");
	free(s);
	/* Line breaks that are not folding cannot survive. */
	s = rfc5322_unfold("a\rb\nc\0d\r\n", 9);
	cr_assert_str_eq(s, "a b c d");
	free(s);
}
