/*
 * test_envelope.c: sender, recipient collection (-t, argv, Resent-),
 * qualification, aliases, IDNA, deduplication and grouping.
 * Messages are built by the real intake from a memfd.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "aliases.h"
#include "config.h"
#include "envelope.h"
#include "intake.h"
#include "message.h"
#include "options.h"
#include "util.h"

#define DOM	"host.example"

static struct envelope env;
static struct message msg;
static int have_msg;
static struct aliases al;
static struct options opts;
static char *argvbuf[16];
static char err[512];

static void
setup(void)
{
	envelope_init(&env);
	aliases_init(&al);
	memset(&opts, 0, sizeof(opts));
	opts.rcpts = argvbuf;
	have_msg = 0;
	err[0] = '\0';
}

static void
teardown(void)
{
	envelope_free(&env);
	aliases_free(&al);
	if (have_msg) {
		close(msg.fd);
		msg_free(&msg);
	}
}

TestSuite(envelope, .init = setup, .fini = teardown);

static void
load_msg(const char *text)
{
	int in, spool;

	in = memfd_create("test-input", 0);
	cr_assert_neq(in, -1);
	cr_assert_eq(write_all(in, text, strlen(text)), 0);
	cr_assert_eq(lseek(in, 0, SEEK_SET), 0);
	spool = memfd_create("test-spool", 0);
	cr_assert_neq(spool, -1);
	msg_init(&msg, spool);
	have_msg = 1;
	cr_assert_eq(intake_read(in, &msg, 1, err, sizeof(err)), INTAKE_OK,
	    "intake: %s", err);
	close(in);
}

static void
set_argv(int n, ...)
{
	va_list ap;
	int i;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		argvbuf[i] = va_arg(ap, char *);
	va_end(ap);
	opts.nrcpts = (size_t)n;
}

static void
load_aliases(const char *text)
{
	cr_assert_eq(aliases_parse(&al, text, strlen(text), "aliases", err,
	    sizeof(err)), 0, "%s", err);
}

static int
collect(void)
{
	return envelope_add_recipients(&env, &opts, have_msg ? &msg : NULL,
	    &al, DOM, err, sizeof(err));
}

static void
must_collect(void)
{
	cr_assert_eq(collect(), 0, "add_recipients: %s", err);
}

static const struct rcpt *
find(const char *addr)
{
	size_t i;

	for (i = 0; i < env.nrcpts; i++)
		if (strcmp(env.rcpts[i].addr, addr) == 0)
			return &env.rcpts[i];
	return NULL;
}

static const struct rcpt *
must_find(const char *addr)
{
	const struct rcpt *r = find(addr);

	cr_assert_not_null(r, "recipient '%s' missing", addr);
	return r;
}

static const struct rcpt *
must_pending(const char *addr)
{
	const struct rcpt *r = must_find(addr);

	cr_assert_eq(r->state, RCPT_PENDING, "'%s' not pending: %s", addr,
	    r->reason ? r->reason : "");
	cr_assert_eq(r->fail, FAIL_NONE);
	cr_assert_null(r->reason);
	return r;
}

static size_t
npending(void)
{
	size_t i, n = 0;

	for (i = 0; i < env.nrcpts; i++)
		n += env.rcpts[i].state == RCPT_PENDING;
	return n;
}

/* --------------------------------------------------------------- sender */

static int
sender(const char *f, const struct config *cfg, const char *login)
{
	return envelope_set_sender(&env, f, cfg, DOM, login, err,
	    sizeof(err));
}

Test(envelope, sender_from_f)
{
	cr_assert_eq(sender("Alice <alice@Mail.Example.ORG>", NULL, "me"), 0,
	    "%s", err);
	cr_assert_str_eq(env.sender, "alice@mail.example.org");
	cr_assert_eq(env.sender_smtputf8, 0);
}

Test(envelope, sender_f_unqualified)
{
	cr_assert_eq(sender("bob", NULL, "me"), 0, "%s", err);
	cr_assert_str_eq(env.sender, "bob@" DOM);
}

Test(envelope, sender_null_angle)
{
	cr_assert_eq(sender("<>", NULL, "me"), 0, "%s", err);
	cr_assert_str_eq(env.sender, "");
}

Test(envelope, sender_null_empty)
{
	cr_assert_eq(sender("", NULL, "me"), 0, "%s", err);
	cr_assert_str_eq(env.sender, "");
}

Test(envelope, sender_crlf_refused)
{
	cr_assert_eq(sender("a@example.org\r\nRCPT TO:<x@evil.example>", NULL,
	    "me"), -1);
	cr_assert_null(env.sender);
	cr_assert_str_eq(err, "invalid sender address "
	    "'a@example.org  RCPT TO:<x@evil.example>': contains CR or LF");
	cr_assert_eq(sender("a@example.org\n", NULL, "me"), -1);
	cr_assert_null(strpbrk(err, "\r\n"), "error text holds CR/LF");
}

Test(envelope, sender_bad_syntax)
{
	cr_assert_eq(sender("a@@example.org", NULL, "me"), -1);
	cr_assert_null(env.sender);
	cr_assert(strncmp(err, "invalid sender address 'a@@example.org': ",
	    41) == 0, "%s", err);
	cr_assert_gt(strlen(err), 41, "no reason given: %s", err);
}

Test(envelope, sender_dash_refused)
{
	cr_assert_eq(sender("-oQ/tmp/x", NULL, "me"), -1);
	cr_assert_str_eq(err,
	    "invalid sender address '-oQ/tmp/x': begins with '-'");
}

Test(envelope, sender_bad_idn)
{
	cr_assert_eq(sender("a@\xcc\x81" "abc.example", NULL, "me"), -1);
	cr_assert(strstr(err, "invalid sender address 'a@") == err, "%s",
	    err);
	cr_assert_not_null(strstr(err, "combining"), "%s", err);
}

Test(envelope, sender_idn_domain)
{
	cr_assert_eq(sender("joe@B\xc3\xbc" "cher.example", NULL, "me"), 0,
	    "%s", err);
	cr_assert_str_eq(env.sender, "joe@xn--bcher-kva.example");
}

Test(envelope, sender_utf8_local_part)
{
	cr_assert_eq(sender("j\xc3\xb6rg@example.org", NULL, "me"), 0, "%s",
	    err);
	cr_assert_str_eq(env.sender, "j\xc3\xb6rg@example.org");
	cr_assert_eq(env.sender_smtputf8, 1);
}

Test(envelope, sender_from_config)
{
	struct config cfg;

	config_init(&cfg);
	cfg.sender = xstrdup("noreply@Example.ORG");
	cr_assert_eq(sender(NULL, &cfg, "me"), 0, "%s", err);
	cr_assert_str_eq(env.sender, "noreply@example.org");
	/* -f wins over the configuration. */
	cr_assert_eq(sender("ops@example.net", &cfg, "me"), 0, "%s", err);
	cr_assert_str_eq(env.sender, "ops@example.net");
	free(cfg.sender);
	cfg.sender = xstrdup("<>");
	cr_assert_eq(sender(NULL, &cfg, "me"), 0, "%s", err);
	cr_assert_str_eq(env.sender, "");
	config_free(&cfg);
}

Test(envelope, sender_bad_config)
{
	struct config cfg;

	config_init(&cfg);
	cfg.sender = xstrdup("a@@b");
	cr_assert_eq(sender(NULL, &cfg, "me"), -1);
	cr_assert(strstr(err, "invalid sender address in the configuration "
	    "'a@@b': ") == err, "%s", err);
	config_free(&cfg);
}

Test(envelope, sender_default_login)
{
	struct config cfg;

	config_init(&cfg);
	cr_assert_null(cfg.sender);
	cr_assert_eq(sender(NULL, &cfg, "alice"), 0, "%s", err);
	cr_assert_str_eq(env.sender, "alice@" DOM);
	cr_assert_eq(sender(NULL, NULL, "bob"), 0, "%s", err);
	cr_assert_str_eq(env.sender, "bob@" DOM);
	config_free(&cfg);
}

Test(envelope, sender_login_quoted_when_not_an_atom)
{
	cr_assert_eq(sender(NULL, NULL, "john doe"), 0, "%s", err);
	cr_assert_str_eq(env.sender, "\"john doe\"@" DOM);
}

Test(envelope, sender_no_login)
{
	cr_assert_eq(sender(NULL, NULL, NULL), -1);
	cr_assert_str_eq(err, "no login name for the sender");
	cr_assert_eq(sender(NULL, NULL, "a\nb"), -1);
	cr_assert_null(env.sender);
}

Test(envelope, sender_bad_default_domain)
{
	cr_assert_eq(envelope_set_sender(&env, NULL, NULL,
	    "\xcc\x81" "bad.example", "me", err, sizeof(err)), -1);
	cr_assert(strstr(err, "invalid default domain '") == err, "%s", err);
}

/* --------------------------------------------------- command-line rcpts */

Test(envelope, argv_single_lowered_domain)
{
	set_argv(1, "Alice@Example.ORG");
	must_collect();
	cr_assert_eq(env.nrcpts, 1);
	const struct rcpt *r = must_pending("Alice@example.org");
	cr_assert_str_eq(r->domain, "example.org");
	cr_assert_str_eq(r->orig, "Alice@Example.ORG");
	cr_assert_eq(r->origin, ORIGIN_ARGV);
	cr_assert_eq(r->smtputf8, 0);
}

Test(envelope, argv_comma_list_in_one_argument)
{
	set_argv(2, "a@x.example, \"Bob B.\" <b@y.example>,c@z.example",
	    "d@x.example");
	must_collect();
	cr_assert_eq(env.nrcpts, 4);
	cr_assert_str_eq(env.rcpts[0].addr, "a@x.example");
	cr_assert_str_eq(env.rcpts[1].addr, "b@y.example");
	cr_assert_str_eq(env.rcpts[2].addr, "c@z.example");
	cr_assert_str_eq(env.rcpts[3].addr, "d@x.example");
}

Test(envelope, unqualified_gets_default_domain)
{
	set_argv(1, "root");
	must_collect();
	cr_assert_eq(env.nrcpts, 1);
	const struct rcpt *r = must_pending("root@" DOM);
	cr_assert_str_eq(r->domain, DOM);
	cr_assert_str_eq(r->orig, "root");
}

Test(envelope, bad_argv_address_is_usage_error)
{
	set_argv(2, "good@example.org", "bad@@example.org");
	cr_assert_eq(collect(), -1);
	cr_assert(strncmp(err, "bad recipient address 'bad@@example.org': ",
	    42) == 0, "%s", err);
	cr_assert_gt(strlen(err), 42, "no reason: %s", err);
	cr_assert_eq(env.nrcpts, 0, "nothing added on a usage error");
}

Test(envelope, argv_beginning_with_dash_refused)
{
	set_argv(1, "-oQ/tmp/evil");
	cr_assert_eq(collect(), -1);
	cr_assert_str_eq(err, "bad recipient address '-oQ/tmp/evil': "
	    "an address may not begin with '-'");
	set_argv(1, "ok@example.org, -x@example.org");
	cr_assert_eq(collect(), -1);
	cr_assert_str_eq(err, "bad recipient address '-x@example.org': "
	    "an address may not begin with '-'");
}

Test(envelope, argv_crlf_refused)
{
	set_argv(1, "a@example.org\r\nDATA");
	cr_assert_eq(collect(), -1);
	cr_assert(strncmp(err, "bad recipient address '", 23) == 0, "%s",
	    err);
	cr_assert_null(strpbrk(err, "\r\n"), "error text holds CR/LF");
}

/* RFC 5321 §4.5.3.1: 64 octets of local part, 63 of label, 255 of domain. */
static char *
long_addr(size_t local, size_t label, size_t labels)
{
	char *a = malloc(local + 2 + labels * (label + 1) + 8);
	size_t n = 0, i;

	cr_assert_not_null(a);
	memset(a, 'l', local);
	n = local;
	a[n++] = '@';
	for (i = 0; i < labels; i++) {
		memset(a + n, 'd', label);
		n += label;
		a[n++] = '.';
	}
	memcpy(a + n, "org", 4);
	return a;
}

static const struct {
	size_t local, label, labels;
	const char *why;	/* NULL: accepted */
} limits[] = {
	{ 64, 10, 1, NULL },
	{ 65, 10, 1, "the local part is longer than 64 octets" },
	{ 70000, 10, 1, "the local part is longer than 64 octets" },
	{ 5, 63, 1, NULL },
	{ 5, 64, 1, "a label of the domain is longer than 63 octets" },
	{ 5, 62, 4, NULL },		/* 4 x 63 + "org" = 255 */
	{ 5, 63, 4, "the domain is longer than 255 octets" },
};

Test(envelope, length_limits_on_the_command_line)
{
	size_t i;
	char *a;

	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		a = long_addr(limits[i].local, limits[i].label,
		    limits[i].labels);
		envelope_free(&env);
		envelope_init(&env);
		set_argv(1, a);
		if (limits[i].why == NULL) {
			must_collect();
			cr_assert_eq(env.nrcpts, 1, "row %zu", i);
		} else {
			cr_assert_eq(collect(), -1, "row %zu accepted", i);
			cr_assert(strstr(err, limits[i].why) != NULL,
			    "row %zu: %s", i, err);
			cr_assert_lt(strlen(err), 400, "row %zu: a long "
			    "error line", i);
		}
		free(a);
	}
}

Test(envelope, length_limits_in_headers_fail_the_recipient)
{
	size_t i;
	char *a, *text;

	opts.extract = 1;
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		a = long_addr(limits[i].local, limits[i].label,
		    limits[i].labels);
		text = malloc(strlen(a) + 16);
		cr_assert_not_null(text);
		sprintf(text, "To: %s\n\n", a);
		envelope_free(&env);
		envelope_init(&env);
		if (have_msg) {
			close(msg.fd);
			msg_free(&msg);
		}
		load_msg(text);
		must_collect();
		cr_assert_eq(env.nrcpts, 1, "row %zu", i);
		if (limits[i].why == NULL)
			cr_assert_eq(env.rcpts[0].state, RCPT_PENDING,
			    "row %zu", i);
		else {
			cr_assert_eq(env.rcpts[0].state, RCPT_FAILED,
			    "row %zu", i);
			cr_assert_str_eq(env.rcpts[0].dsn, "5.1.3");
			/* Over 998 octets intake folds the line (RFC 5322). */
			cr_assert(strlen(a) > 990 || strstr(env.rcpts[0].reason,
			    limits[i].why) != NULL, "row %zu: %s", i,
			    env.rcpts[0].reason);
		}
		free(text);
		free(a);
	}
}

Test(envelope, sender_length_limit)
{
	char *a = long_addr(65, 10, 1);

	cr_assert_eq(envelope_set_sender(&env, a, NULL, DOM, "u", err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "longer than 64 octets") != NULL, "%s", err);
	free(a);
}

Test(envelope, no_recipients_is_not_an_error)
{
	must_collect();
	cr_assert_eq(env.nrcpts, 0);
}

Test(envelope, notify_copied)
{
	opts.notify = NOTIFY_SUCCESS | NOTIFY_FAILURE;
	set_argv(1, "a@example.org");
	must_collect();
	cr_assert_eq(must_pending("a@example.org")->notify,
	    NOTIFY_SUCCESS | NOTIFY_FAILURE);
}

Test(envelope, utf8_local_part_needs_smtputf8)
{
	set_argv(1, "j\xc3\xb6rg@example.org, plain@example.org");
	must_collect();
	cr_assert_eq(must_pending("j\xc3\xb6rg@example.org")->smtputf8, 1);
	cr_assert_eq(must_pending("plain@example.org")->smtputf8, 0);
}

Test(envelope, idn_domain_to_alabels)
{
	set_argv(1, "user@b\xc3\xbc" "cher.example");
	must_collect();
	const struct rcpt *r = must_pending("user@xn--bcher-kva.example");
	cr_assert_str_eq(r->domain, "xn--bcher-kva.example");
	cr_assert_eq(r->smtputf8, 0, "an IDN domain alone needs no SMTPUTF8");
	cr_assert_str_eq(r->orig, "user@b\xc3\xbc" "cher.example");
}

Test(envelope, idn_failure_fails_recipient)
{
	set_argv(1, "ok@example.org, user@\xcc\x81" "abc.example");
	must_collect();
	cr_assert_eq(env.nrcpts, 2);
	must_pending("ok@example.org");
	const struct rcpt *r = &env.rcpts[1];
	cr_assert_eq(r->state, RCPT_FAILED);
	cr_assert_eq(r->fail, FAIL_IDNA);
	cr_assert_str_eq(r->dsn, "5.1.2");
	cr_assert_not_null(r->reason);
	cr_assert(strstr(r->reason, "cannot convert domain '") == r->reason,
	    "%s", r->reason);
	cr_assert_not_null(strstr(r->reason, "combining"), "%s", r->reason);
}

Test(envelope, ipv4_literal_kept)
{
	set_argv(1, "a@[192.0.2.1]");
	must_collect();
	cr_assert_str_eq(must_pending("a@[192.0.2.1]")->domain,
	    "[192.0.2.1]");
}

Test(envelope, ipv6_literal_kept_lower_case)
{
	set_argv(1, "b@[IPv6:2001:DB8::1]");
	must_collect();
	cr_assert_str_eq(must_pending("b@[ipv6:2001:db8::1]")->domain,
	    "[ipv6:2001:db8::1]");
}

Test(envelope, domain_to_ascii_direct)
{
	char *s;

	s = envelope_domain_to_ascii("Mail.Example.COM", err, sizeof(err));
	cr_assert_str_eq(s, "mail.example.com");
	free(s);
	/* IDNA 2003 only: the transitional fallback, as curl. */
	s = envelope_domain_to_ascii("\xe2\x98\x83.example", err, sizeof(err));
	cr_assert_not_null(s, "%s", err);
	cr_assert_str_eq(s, "xn--n3h.example");
	free(s);
	/* Non-transitional: sharp s is kept, not mapped to "ss". */
	s = envelope_domain_to_ascii("fa\xc3\x9f.de", err, sizeof(err));
	cr_assert_str_eq(s, "xn--fa-hia.de");
	free(s);
	s = envelope_domain_to_ascii("[IPv6:::1]", err, sizeof(err));
	cr_assert_str_eq(s, "[ipv6:::1]");
	free(s);
	cr_assert_null(envelope_domain_to_ascii("", err, sizeof(err)));
	cr_assert_str_eq(err, "empty domain");
	cr_assert_null(envelope_domain_to_ascii("[1.2.3.4", err,
	    sizeof(err)));
	cr_assert_str_eq(err, "malformed domain literal");
	cr_assert_null(envelope_domain_to_ascii("a.example\r\n", err,
	    sizeof(err)));
	cr_assert_str_eq(err, "invalid character in domain");
}

/* ------------------------------------------------------------------- -t */

Test(envelope, extract_to_cc_bcc)
{
	load_msg("From: me@example.org\n"
	    "To: Alice <alice@a.example>, bob@b.example\n"
	    "Subject: hi\n"
	    "Cc: carol@c.example (Carol)\n"
	    "Bcc: dave@d.example\n"
	    "X-To: nobody@x.example\n"
	    "\n"
	    "To: body@e.example\n");
	opts.extract = 1;
	must_collect();
	cr_assert_eq(env.nrcpts, 4);
	cr_assert_str_eq(env.rcpts[0].addr, "alice@a.example");
	cr_assert_str_eq(env.rcpts[1].addr, "bob@b.example");
	cr_assert_str_eq(env.rcpts[2].addr, "carol@c.example");
	cr_assert_str_eq(env.rcpts[3].addr, "dave@d.example");
	cr_assert_eq(env.rcpts[0].origin, ORIGIN_HEADER);
}

Test(envelope, headers_ignored_without_t)
{
	load_msg("To: alice@a.example\n\nbody\n");
	set_argv(1, "bob@b.example");
	must_collect();
	cr_assert_eq(env.nrcpts, 1);
	must_pending("bob@b.example");
}

Test(envelope, extract_folded_and_repeated_fields)
{
	load_msg("To: a@a.example,\n"
	    "\tb@b.example\n"
	    "To: c@c.example\n"
	    "cc: d@d.example\n"
	    "\n");
	opts.extract = 1;
	must_collect();
	cr_assert_eq(env.nrcpts, 4);
	must_pending("b@b.example");
	must_pending("c@c.example");
	must_pending("d@d.example");
}

Test(envelope, extract_empty_group)
{
	load_msg("To: undisclosed-recipients:;\n"
	    "Bcc: hidden@h.example\n\n");
	opts.extract = 1;
	must_collect();
	cr_assert_eq(env.nrcpts, 1);
	must_pending("hidden@h.example");
}

Test(envelope, resent_fields_replace_plain_ones)
{
	load_msg("Resent-From: fwd@example.org\n"
	    "Resent-To: new@n.example\n"
	    "Resent-Cc: new2@n.example\n"
	    "Resent-Bcc: new3@n.example\n"
	    "To: old@o.example\n"
	    "Cc: old2@o.example\n"
	    "\n");
	opts.extract = 1;
	must_collect();
	cr_assert_eq(env.nrcpts, 3);
	must_pending("new@n.example");
	must_pending("new2@n.example");
	must_pending("new3@n.example");
	cr_assert_null(find("old@o.example"));
	cr_assert_null(find("old2@o.example"));
}

Test(envelope, any_resent_field_switches_to_resent)
{
	load_msg("To: old@o.example\n"
	    "resent-date: Tue, 1 Dec 2026 10:00:00 +0000\n"
	    "\n");
	opts.extract = 1;
	must_collect();
	cr_assert_eq(env.nrcpts, 0, "To: must be ignored once Resent- exists");
}

Test(envelope, extract_plus_argv_merged_and_deduplicated)
{
	load_msg("To: a@x.example, b@y.example\n\n");
	opts.extract = 1;
	set_argv(2, "c@z.example", "A@X.example, b@Y.EXAMPLE");
	must_collect();
	/* "A@x.example" differs from "a@x.example" by its local part. */
	cr_assert_eq(env.nrcpts, 4);
	cr_assert_eq(must_pending("c@z.example")->origin, ORIGIN_ARGV);
	must_pending("A@x.example");
	const struct rcpt *b = must_pending("b@y.example");
	cr_assert_eq(b->origin, ORIGIN_ARGV, "the first occurrence is kept");
	cr_assert_str_eq(b->orig, "b@Y.EXAMPLE");
	must_pending("a@x.example");
}

Test(envelope, dedupe_domain_case_insensitive_local_part_exact)
{
	set_argv(4, "User@Example.COM", "User@example.com",
	    "user@EXAMPLE.com", "User@b\xc3\xbc" "cher.example, "
	    "User@xn--BCHER-kva.example");
	must_collect();
	cr_assert_eq(env.nrcpts, 3);
	cr_assert_str_eq(env.rcpts[0].addr, "User@example.com");
	cr_assert_str_eq(env.rcpts[0].orig, "User@Example.COM");
	cr_assert_str_eq(env.rcpts[1].addr, "user@example.com");
	cr_assert_str_eq(env.rcpts[2].addr, "User@xn--bcher-kva.example");
}

Test(envelope, bad_header_address_fails_only_itself)
{
	load_msg("To: good@g.example, bad@@b.example, other@o.example\n\n");
	opts.extract = 1;
	must_collect();
	cr_assert_eq(env.nrcpts, 3);
	must_pending("good@g.example");
	must_pending("other@o.example");
	const struct rcpt *r = NULL;
	size_t i;
	for (i = 0; i < env.nrcpts; i++)
		if (env.rcpts[i].state == RCPT_FAILED)
			r = &env.rcpts[i];
	cr_assert_not_null(r);
	cr_assert_eq(r->fail, FAIL_SYNTAX);
	cr_assert_str_eq(r->dsn, "5.1.3");
	cr_assert_eq(r->origin, ORIGIN_HEADER);
	cr_assert_not_null(strstr(r->addr, "bad@@b.example"), "%s", r->addr);
	cr_assert(strncmp(r->reason, "bad address syntax: ", 20) == 0, "%s",
	    r->reason);
	cr_assert_gt(strlen(r->reason), 20);
	envelope_group(&env);
	cr_assert_eq(env.ndomains, 2, "the failed one is not grouped");
}

/* -------------------------------------------------------------- aliases */

Test(envelope, alias_expanded)
{
	load_aliases("postmaster: alice@mail.example, bob\n");
	set_argv(1, "PostMaster");
	must_collect();
	cr_assert_eq(env.nrcpts, 2);
	const struct rcpt *r = must_pending("alice@mail.example");
	cr_assert_eq(r->origin, ORIGIN_ALIAS);
	cr_assert_str_eq(r->orig, "postmaster");
	must_pending("bob@" DOM);
	cr_assert_null(find("PostMaster@" DOM));
}

/* -n: sendmail's "do not apply aliases" (issue 17). */
Test(envelope, n_disables_aliases)
{
	load_aliases("postmaster: alice@mail.example, bob\n");
	opts.no_alias = 1;
	set_argv(1, "postmaster");
	must_collect();
	cr_assert_eq(env.nrcpts, 1);
	must_pending("postmaster@" DOM);
}

Test(envelope, alias_only_for_local_addresses)
{
	load_aliases("root: admin@mail.example\n");
	set_argv(2, "root@other.example", "root@HOST.Example");
	must_collect();
	cr_assert_eq(env.nrcpts, 2);
	must_pending("root@other.example");
	must_pending("admin@mail.example");
	cr_assert_null(find("root@" DOM));
}

Test(envelope, alias_chain)
{
	load_aliases("a: b\nb: c, x@far.example\nc: final@end.example\n");
	set_argv(1, "a");
	must_collect();
	cr_assert_eq(env.nrcpts, 2);
	must_pending("final@end.example");
	cr_assert_str_eq(must_pending("x@far.example")->orig, "b");
	cr_assert_str_eq(must_find("final@end.example")->orig, "c");
}

Test(envelope, alias_chain_of_ten_is_fine_eleven_is_a_loop)
{
	struct buf b;
	int i;

	buf_init(&b);
	for (i = 1; i < 11; i++)
		buf_printf(&b, "n%d: n%d\n", i, i + 1);
	buf_adds(&b, "n11: end@end.example\n");
	load_aliases(b.data);
	buf_free(&b);
	set_argv(1, "n2");		/* n2 .. n11: ten aliases */
	must_collect();
	cr_assert_eq(env.nrcpts, 1);
	must_pending("end@end.example");

	envelope_free(&env);
	envelope_init(&env);
	set_argv(1, "n1");		/* eleven */
	must_collect();
	cr_assert_eq(env.nrcpts, 1);
	cr_assert_eq(env.rcpts[0].state, RCPT_FAILED);
	cr_assert_eq(env.rcpts[0].fail, FAIL_ALIAS_LOOP);
}

Test(envelope, alias_loop)
{
	load_aliases("a: b\nb: a\n");
	set_argv(2, "a", "z@z.example");
	must_collect();
	must_pending("z@z.example");
	cr_assert_eq(npending(), 1);
	const struct rcpt *r = NULL;
	size_t i;
	for (i = 0; i < env.nrcpts; i++)
		if (env.rcpts[i].state == RCPT_FAILED)
			r = &env.rcpts[i];
	cr_assert_not_null(r);
	cr_assert_eq(r->fail, FAIL_ALIAS_LOOP);
	cr_assert_str_eq(r->dsn, "5.4.6");
	cr_assert_not_null(strstr(r->reason, "alias loop"), "%s", r->reason);
}

Test(envelope, alias_self_reference_delivers)
{
	load_aliases("a: a, b\nb: bob@mail.example\n");
	set_argv(1, "a");
	must_collect();
	cr_assert_eq(env.nrcpts, 2);
	cr_assert_str_eq(must_pending("a@" DOM)->orig, "a");
	must_pending("bob@mail.example");
}

Test(envelope, alias_self_reference_qualified)
{
	load_aliases("root: root@HOST.example, ops@mail.example\n");
	set_argv(1, "root");
	must_collect();
	cr_assert_eq(env.nrcpts, 2);
	must_pending("root@" DOM);
	must_pending("ops@mail.example");
}

Test(envelope, alias_refused_kinds)
{
	load_aliases("list: |/usr/bin/procmail, /var/mail/archive, "
	    ":include:/etc/mail/list, \"|/bin/cat -\", kept@mail.example\n");
	set_argv(1, "list");
	must_collect();
	cr_assert_eq(env.nrcpts, 5);
	must_pending("kept@mail.example");
	cr_assert_eq(npending(), 1);

	const struct rcpt *r = must_find("|/usr/bin/procmail");
	cr_assert_eq(r->state, RCPT_FAILED);
	cr_assert_eq(r->fail, FAIL_ALIAS_KIND);
	cr_assert_str_eq(r->dsn, "5.3.0");
	cr_assert_eq(r->origin, ORIGIN_ALIAS);
	cr_assert_str_eq(r->orig, "list");
	cr_assert_str_eq(r->reason, "alias 'list' target '|/usr/bin/procmail' "
	    "refused: mxsend never runs commands");
	r = must_find("/var/mail/archive");
	cr_assert_eq(r->fail, FAIL_ALIAS_KIND);
	cr_assert_str_eq(r->reason, "alias 'list' target '/var/mail/archive' "
	    "refused: mxsend never writes to files");
	r = must_find(":include:/etc/mail/list");
	cr_assert_eq(r->fail, FAIL_ALIAS_KIND);
	cr_assert_str_eq(r->dsn, "5.3.0");
	r = must_find("\"|/bin/cat -\"");
	cr_assert_eq(r->fail, FAIL_ALIAS_KIND);
}

Test(envelope, alias_bad_target_syntax)
{
	load_aliases("a: bad@@x.example, good@g.example, <>\n");
	set_argv(1, "a");
	must_collect();
	must_pending("good@g.example");
	cr_assert_eq(npending(), 1);
	cr_assert_eq(env.nrcpts, 3);
	const struct rcpt *r = must_find("bad@@x.example");
	cr_assert_eq(r->fail, FAIL_SYNTAX);
	cr_assert_str_eq(r->dsn, "5.1.3");
	cr_assert(strncmp(r->reason, "bad address syntax in alias 'a': ",
	    33) == 0, "%s", r->reason);
	r = must_find("<>");
	cr_assert_eq(r->fail, FAIL_SYNTAX);
	cr_assert_str_eq(r->reason,
	    "bad address syntax in alias 'a': null address");
}

Test(envelope, alias_diamond_and_direct_deduplicated)
{
	load_aliases("team: x, y\nx: d@d.example\n"
	    "y: d@d.example, e@e.example\n");
	set_argv(2, "team", "D@D.EXAMPLE");
	must_collect();
	cr_assert_eq(env.nrcpts, 3);
	cr_assert_str_eq(env.rcpts[0].addr, "d@d.example");
	cr_assert_str_eq(env.rcpts[0].orig, "x");
	cr_assert_str_eq(env.rcpts[1].addr, "e@e.example");
	cr_assert_str_eq(env.rcpts[2].addr, "D@d.example");
}

Test(envelope, alias_from_header_recipient)
{
	load_aliases("staff: s1@mail.example, s2@mail.example\n");
	load_msg("To: Staff <staff@" DOM ">\n\n");
	opts.extract = 1;
	must_collect();
	cr_assert_eq(env.nrcpts, 2);
	must_pending("s1@mail.example");
	must_pending("s2@mail.example");
}

Test(envelope, alias_target_idn_and_unqualified)
{
	load_aliases("a: u@b\xc3\xbc" "cher.example, local\n");
	set_argv(1, "a");
	must_collect();
	must_pending("u@xn--bcher-kva.example");
	must_pending("local@" DOM);
}

/* --------------------------------------------------------------- groups */

Test(envelope, group_three_domains)
{
	set_argv(1, "c1@c.example, a1@a.example, bad@\xcc\x81x.example, "
	    "b1@b.example, a2@a.example, c2@c.example, a3@a.example");
	must_collect();
	cr_assert_eq(env.nrcpts, 7);
	envelope_group(&env);
	cr_assert_eq(env.ndomains, 3);
	cr_assert_str_eq(env.domains[0].domain, "a.example");
	cr_assert_str_eq(env.domains[1].domain, "b.example");
	cr_assert_str_eq(env.domains[2].domain, "c.example");
	cr_assert_eq(env.domains[0].n, 3);
	cr_assert_eq(env.domains[0].rcpt[0], 1);
	cr_assert_eq(env.domains[0].rcpt[1], 4);
	cr_assert_eq(env.domains[0].rcpt[2], 6);
	cr_assert_eq(env.domains[1].n, 1);
	cr_assert_eq(env.domains[1].rcpt[0], 3);
	cr_assert_eq(env.domains[2].n, 2);
	cr_assert_eq(env.domains[2].rcpt[0], 0);
	cr_assert_eq(env.domains[2].rcpt[1], 5);
}

Test(envelope, group_rebuilt_and_skips_non_pending)
{
	set_argv(1, "a@a.example, b@b.example");
	must_collect();
	envelope_group(&env);
	cr_assert_eq(env.ndomains, 2);
	env.rcpts[0].state = RCPT_DELIVERED;
	envelope_group(&env);
	cr_assert_eq(env.ndomains, 1);
	cr_assert_str_eq(env.domains[0].domain, "b.example");
	cr_assert_eq(env.domains[0].rcpt[0], 1);
	env.rcpts[1].state = RCPT_DEFERRED;
	envelope_group(&env);
	cr_assert_eq(env.ndomains, 0);
}

Test(envelope, many_recipients_deduplicated)
{
	struct buf b;
	char *arg;
	int i;

	buf_init(&b);
	for (i = 0; i < 2000; i++)
		buf_printf(&b, "u%d@d%d.example, U%d@D%d.EXAMPLE, ", i, i % 7,
		    i, i % 7);
	for (i = 0; i < 2000; i++)
		buf_printf(&b, "u%d@d%d.Example, ", i, i % 7);
	arg = buf_release(&b);
	set_argv(1, arg);
	must_collect();
	cr_assert_eq(env.nrcpts, 4000);
	envelope_group(&env);
	cr_assert_eq(env.ndomains, 7);
	free(arg);
}

/* RFC 5321 quoted strings allow no control character (SPEC §10). */
Test(envelope, control_characters_refused)
{
	cr_assert_eq(sender("\"a\tb\"@example.org", NULL, "me"), -1);
	cr_assert(strncmp(err, "invalid sender address '", 24) == 0, "%s",
	    err);
	set_argv(1, "\"a\tb\"@example.org");
	cr_assert_eq(collect(), -1);
	cr_assert(strncmp(err, "bad recipient address '", 23) == 0, "%s",
	    err);
	load_msg("To: \"c\td\"@example.org, ok@example.org\n\n");
	opts.extract = 1;
	opts.nrcpts = 0;
	must_collect();
	cr_assert_eq(env.nrcpts, 2);
	must_pending("ok@example.org");
	cr_assert_eq(env.rcpts[0].state, RCPT_FAILED);
	cr_assert_eq(env.rcpts[0].fail, FAIL_SYNTAX);
	cr_assert_str_eq(env.rcpts[0].dsn, "5.1.3");
	cr_assert_null(strpbrk(env.rcpts[0].addr, "\t\r\n"));
}

/* One error line for one bad domain, whatever its case. */
Test(envelope, failed_idn_deduplicated_case_insensitively)
{
	set_argv(2, "u@\xcc\x81" "ABC.example", "u@\xcc\x81" "abc.Example");
	must_collect();
	cr_assert_eq(env.nrcpts, 1);
	cr_assert_eq(env.rcpts[0].fail, FAIL_IDNA);
}

Test(envelope, argument_beginning_with_dash_refused_with_display_name)
{
	set_argv(1, "-Joe <joe@example.org>");
	cr_assert_eq(collect(), -1);
	cr_assert_str_eq(err, "bad recipient address '-Joe <joe@example.org>': "
	    "an address may not begin with '-'");
}

/* Each alias is expanded once: a wide, deep table is not exponential. */
Test(envelope, alias_fan_out_expanded_once, .timeout = 10)
{
	struct buf b;
	int i, k;

	buf_init(&b);
	for (i = 0; i < 10; i++) {
		buf_printf(&b, "l%d: ", i);
		for (k = 0; k < 16; k++)
			buf_printf(&b, "%sl%d", k ? ", " : "", i + 1);
		buf_adds(&b, "\n");
	}
	buf_adds(&b, "l10: end@end.example\n");
	load_aliases(b.data);
	buf_free(&b);
	set_argv(1, "l1");
	must_collect();
	cr_assert_eq(env.nrcpts, 1);
	must_pending("end@end.example");
}

/* The loop's message names the alias that leads back, and the one. */
Test(envelope, alias_loop_names_both_aliases)
{
	const struct rcpt *r;

	load_aliases("a: b\nb: c, ok@x.example\nc: a\n");
	set_argv(1, "a");
	must_collect();
	must_pending("ok@x.example");
	r = must_find("a@" DOM);
	cr_assert_eq(r->state, RCPT_FAILED);
	cr_assert_eq(r->fail, FAIL_ALIAS_LOOP);
	cr_assert_str_eq(r->dsn, "5.4.6");
	cr_assert_str_eq(r->reason, "alias loop: 'c' leads back to 'a'");
}

/* The failed recipient of an over-wide alias, checked whole. */
static void
assert_too_wide(const char *addr, const char *alias, size_t max)
{
	const struct rcpt *r = must_find(addr);
	char want[256];

	snprintf(want, sizeof(want), "alias '%s' expands to more than %zu "
	    "addresses (alias_max_recipients)", alias, max);
	cr_assert_eq(r->state, RCPT_FAILED);
	cr_assert_eq(r->fail, FAIL_ALIAS_LOOP);
	cr_assert_str_eq(r->dsn, "5.5.3");
	cr_assert_str_eq(r->reason, want);
}

/* SPEC §4 alias_max_recipients: all levels of one recipient count. */
Test(envelope, alias_fan_out_cap)
{
	load_aliases("all: t1, t2, dup@x.example, dup@x.example, "
	    "c@x.example\n"
	    "t1: a1@x.example, a2@x.example\n"
	    "t2: b1@x.example, b2@x.example, dup@x.example\n"
	    "five: 1@x.example, 2@x.example, 3@x.example, 4@x.example, "
	    "5@x.example\n");
	al.max_rcpts = 5;
	set_argv(3, "five", "all", "z@x.example");
	must_collect();
	cr_assert_eq(npending(), 6, "five's five and z");
	must_pending("5@x.example");
	must_pending("z@x.example");
	assert_too_wide("all@" DOM, "all", 5);
	cr_assert_null(find("a1@x.example"), "part of the list went out");
	cr_assert_null(find("dup@x.example"));
	cr_assert_eq(env.nrcpts, 7);
	al.max_rcpts = 6;
	envelope_free(&env);
	envelope_init(&env);
	must_collect();
	cr_assert_eq(npending(), 12, "duplicates do not count");
}

/*
 * An alias expanded inside a refused one counts as not expanded: named
 * again on its own, it is delivered to.
 */
Test(envelope, alias_fan_out_cap_keeps_other_recipients_whole)
{
	load_aliases("all: team, c@x.example\n"
	    "team: a@x.example, b@x.example\n");
	al.max_rcpts = 2;
	set_argv(3, "all", "team", "a@x.example");
	must_collect();
	assert_too_wide("all@" DOM, "all", 2);
	must_pending("a@x.example");
	must_pending("b@x.example");
	cr_assert_null(find("c@x.example"));
	cr_assert_eq(npending(), 2);
	/* 0: no limit. */
	al.max_rcpts = 0;
	envelope_free(&env);
	envelope_init(&env);
	must_collect();
	cr_assert_eq(npending(), 3);
}

/* A -t header recipient is bounded the same way. */
Test(envelope, alias_fan_out_cap_in_headers)
{
	load_aliases("all: a@x.example, b@x.example, c@x.example\n");
	al.max_rcpts = 2;
	load_msg("To: all, d@x.example\n\n");
	opts.extract = 1;
	must_collect();
	assert_too_wide("all@" DOM, "all", 2);
	cr_assert_eq(must_find("all@" DOM)->origin, ORIGIN_HEADER);
	must_pending("d@x.example");
	cr_assert_eq(npending(), 1);
}

static void
collect_without_domain(void)
{
	cr_assert_eq(envelope_add_recipients(&env, &opts, NULL, &al, NULL,
	    err, sizeof(err)), 0, "%s", err);
}

/*
 * No domain for this host (names.h): "root" cannot be qualified, and the
 * error says what to do; an alias or a domain in the address serves.
 */
Test(envelope, unqualified_without_a_domain_says_what_to_set)
{
	const struct rcpt *r;

	load_aliases("postmaster: admin@x.example, bob\n");
	set_argv(3, "root", "postmaster", "ok@x.example");
	collect_without_domain();
	must_pending("admin@x.example");
	must_pending("ok@x.example");
	cr_assert_eq(npending(), 2);
	r = must_find("root");
	cr_assert_eq(r->state, RCPT_FAILED);
	cr_assert_eq(r->fail, FAIL_NOHOST);
	cr_assert_str_eq(r->dsn, "5.1.2");
	cr_assert_str_eq(r->reason, "cannot qualify 'root': this host's name "
	    "has no domain and /etc/mailname names none; set default_domain "
	    "(in mxsend.conf or MXSEND_DEFAULT_DOMAIN) or an alias for "
	    "'root'");
	r = must_find("bob");
	cr_assert_eq(r->fail, FAIL_NOHOST);
	cr_assert_str_eq(r->orig, "postmaster");
	cr_assert_null(find("postmaster"));
}

/* Aliases apply only to unqualified names when there is no domain. */
Test(envelope, qualified_address_is_no_alias_without_a_domain)
{
	load_aliases("root: admin@x.example\n");
	set_argv(1, "root@box.example");
	collect_without_domain();
	must_pending("root@box.example");
	cr_assert_eq(env.nrcpts, 1);
}
