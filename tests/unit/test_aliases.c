/*
 * test_aliases.c: the aliases(5) parser and lookup.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "util.h"

static struct aliases al;
static char err[512];

static void
setup(void)
{
	aliases_init(&al);
	err[0] = '\0';
}

static void
teardown(void)
{
	aliases_free(&al);
}

TestSuite(aliases, .init = setup, .fini = teardown);

static int
parse(const char *text)
{
	return aliases_parse(&al, text, strlen(text), "/etc/aliases", err,
	    sizeof(err));
}

static const struct alias *
must_find(const char *name)
{
	const struct alias *a = aliases_lookup(&al, name);

	cr_assert_not_null(a, "alias '%s' not found", name);
	return a;
}

Test(aliases, parse_and_lookup)
{
	cr_assert_eq(parse("postmaster: root\nroot: alice@example.org, bob\n"),
	    0, "%s", err);
	cr_assert_eq(al.n, 2);
	const struct alias *a = must_find("root");
	cr_assert_str_eq(a->name, "root");
	cr_assert_eq(a->ntargets, 2);
	cr_assert_str_eq(a->targets[0].text, "alice@example.org");
	cr_assert_eq(a->targets[0].kind, ALIAS_ADDRESS);
	cr_assert_str_eq(a->targets[1].text, "bob");
	a = must_find("postmaster");
	cr_assert_eq(a->ntargets, 1);
	cr_assert_str_eq(a->targets[0].text, "root");
	cr_assert_null(aliases_lookup(&al, "nobody"));
}

Test(aliases, lookup_is_case_insensitive)
{
	cr_assert_eq(parse("PostMaster: root\n"), 0, "%s", err);
	cr_assert_str_eq(must_find("postmaster")->name, "postmaster");
	must_find("POSTMASTER");
	must_find("postMASTER");
}

Test(aliases, lookup_many_sorted)
{
	struct buf b;
	char name[32];
	int i;

	buf_init(&b);
	/* Defined in reverse order so that lookup depends on the sort. */
	for (i = 299; i >= 0; i--)
		buf_printf(&b, "user%03d: target%d@example.org\n", i, i);
	cr_assert_eq(aliases_parse(&al, b.data, b.len, "f", err,
	    sizeof(err)), 0, "%s", err);
	buf_free(&b);
	cr_assert_eq(al.n, 300);
	for (i = 0; i < 300; i++) {
		char want[64];
		const struct alias *a;

		(void)snprintf(name, sizeof(name), "USER%03d", i);
		(void)snprintf(want, sizeof(want), "target%d@example.org", i);
		a = must_find(name);
		cr_assert_str_eq(a->targets[0].text, want);
	}
	cr_assert_null(aliases_lookup(&al, "user300"));
	cr_assert_null(aliases_lookup(&al, "user"));
}

Test(aliases, empty_table_lookup)
{
	cr_assert_eq(parse(""), 0);
	cr_assert_eq(al.n, 0);
	cr_assert_null(aliases_lookup(&al, "root"));
}

Test(aliases, continuation_lines)
{
	cr_assert_eq(parse("staff: alice,\n"
	    "\tbob,\n"
	    "  carol\n"
	    "other: dave\n"), 0, "%s", err);
	const struct alias *a = must_find("staff");
	cr_assert_eq(a->ntargets, 3);
	cr_assert_str_eq(a->targets[0].text, "alice");
	cr_assert_str_eq(a->targets[1].text, "bob");
	cr_assert_str_eq(a->targets[2].text, "carol");
	cr_assert_eq(must_find("other")->ntargets, 1);
}

Test(aliases, continuation_across_comment_and_blank)
{
	cr_assert_eq(parse("staff: alice,\n"
	    "# a comment between\n"
	    "\n"
	    "    bob\n"), 0, "%s", err);
	const struct alias *a = must_find("staff");
	cr_assert_eq(a->ntargets, 2);
	cr_assert_str_eq(a->targets[1].text, "bob");
}

Test(aliases, comments_blank_lines_and_crlf)
{
	cr_assert_eq(parse("# system aliases\r\n"
	    "\r\n"
	    "   \t\r\n"
	    "   # indented comment\r\n"
	    "root: admin@example.org\r\n"
	    "#root: ignored@example.org\r\n"), 0, "%s", err);
	cr_assert_eq(al.n, 1);
	const struct alias *a = must_find("root");
	cr_assert_eq(a->ntargets, 1);
	cr_assert_str_eq(a->targets[0].text, "admin@example.org");
	cr_assert_null(aliases_lookup(&al, "#root"));
}

Test(aliases, no_final_newline)
{
	cr_assert_eq(parse("a: b\nc: d"), 0, "%s", err);
	cr_assert_str_eq(must_find("c")->targets[0].text, "d");
}

Test(aliases, quoted_name)
{
	cr_assert_eq(parse("\"john doe\": john@example.org\n"
	    "\"x:y\" : z\n"), 0, "%s", err);
	cr_assert_str_eq(must_find("John Doe")->targets[0].text,
	    "john@example.org");
	cr_assert_str_eq(must_find("x:y")->targets[0].text, "z");
}

Test(aliases, quoted_targets_keep_commas)
{
	cr_assert_eq(parse("a: \"Doe, John\" <john@example.org>, "
	    "x (comment, with comma) <x@example.org>, <p,q@example.org>\n"),
	    0, "%s", err);
	const struct alias *a = must_find("a");
	cr_assert_eq(a->ntargets, 3);
	cr_assert_str_eq(a->targets[0].text,
	    "\"Doe, John\" <john@example.org>");
	cr_assert_str_eq(a->targets[1].text,
	    "x (comment, with comma) <x@example.org>");
	cr_assert_str_eq(a->targets[2].text, "<p,q@example.org>");
}

Test(aliases, empty_elements_skipped)
{
	cr_assert_eq(parse("a: b, , c,\n"), 0, "%s", err);
	const struct alias *a = must_find("a");
	cr_assert_eq(a->ntargets, 2);
	cr_assert_str_eq(a->targets[0].text, "b");
	cr_assert_str_eq(a->targets[1].text, "c");
}

Test(aliases, target_kinds)
{
	cr_assert_eq(parse("a: bob@example.org, |/usr/bin/vacation bob, "
	    "\"|/usr/bin/procmail -f -\", /var/mail/archive, "
	    "\"/tmp/with space\", :include:/etc/mail/list, "
	    ":INCLUDE:/etc/mail/other, bob\n"), 0, "%s", err);
	const struct alias *a = must_find("a");
	cr_assert_eq(a->ntargets, 8);
	cr_assert_eq(a->targets[0].kind, ALIAS_ADDRESS);
	cr_assert_eq(a->targets[1].kind, ALIAS_COMMAND);
	cr_assert_str_eq(a->targets[1].text, "|/usr/bin/vacation bob");
	cr_assert_eq(a->targets[2].kind, ALIAS_COMMAND);
	cr_assert_str_eq(a->targets[2].text, "\"|/usr/bin/procmail -f -\"");
	cr_assert_eq(a->targets[3].kind, ALIAS_FILE);
	cr_assert_str_eq(a->targets[3].text, "/var/mail/archive");
	cr_assert_eq(a->targets[4].kind, ALIAS_FILE);
	cr_assert_eq(a->targets[5].kind, ALIAS_INCLUDE);
	cr_assert_str_eq(a->targets[5].text, ":include:/etc/mail/list");
	cr_assert_eq(a->targets[6].kind, ALIAS_INCLUDE);
	cr_assert_eq(a->targets[7].kind, ALIAS_ADDRESS);
}

Test(aliases, duplicate_replaces_earlier)
{
	cr_assert_eq(parse("root: first@example.org\n"
	    "other: x\n"
	    "ROOT: second@example.org, third@example.org\n"), 0, "%s", err);
	cr_assert_eq(al.n, 2);
	const struct alias *a = must_find("root");
	cr_assert_eq(a->ntargets, 2);
	cr_assert_str_eq(a->targets[0].text, "second@example.org");
}

Test(aliases, second_parse_adds_and_replaces)
{
	cr_assert_eq(parse("a: one\nb: two\n"), 0, "%s", err);
	cr_assert_eq(parse("a: three\nc: four\n"), 0, "%s", err);
	cr_assert_eq(al.n, 3);
	cr_assert_str_eq(must_find("a")->targets[0].text, "three");
	cr_assert_str_eq(must_find("b")->targets[0].text, "two");
	cr_assert_str_eq(must_find("c")->targets[0].text, "four");
}

Test(aliases, count)
{
	cr_assert_eq(parse("# header\n"
	    "a: x\n"
	    "b: y,\n"
	    "  z\n"
	    "\n"
	    "c: w\n"
	    "a: v\n"), 0, "%s", err);
	cr_assert_eq(al.n, 3);
}

Test(aliases, error_missing_colon)
{
	cr_assert_eq(parse("a: b\n# fine\nthis line has no colon\n"), -1);
	cr_assert_str_eq(err, "/etc/aliases:3: missing colon after alias name");
	cr_assert_eq(al.n, 0, "nothing installed after an error");
}

Test(aliases, error_missing_colon_after_quoted_name)
{
	cr_assert_eq(parse("\"quoted\" x: y\n"), -1);
	cr_assert_str_eq(err, "/etc/aliases:1: missing colon after alias name");
}

Test(aliases, error_unbalanced_quoted_name)
{
	cr_assert_eq(parse("\"open: y\n"), -1);
	cr_assert_str_eq(err, "/etc/aliases:1: unbalanced quote in alias name");
}

Test(aliases, error_empty_name)
{
	cr_assert_eq(parse("a: b\n: root\n"), -1);
	cr_assert_str_eq(err, "/etc/aliases:2: empty alias name");
	aliases_free(&al);
	cr_assert_eq(parse("\"\": root\n"), -1);
	cr_assert_str_eq(err, "/etc/aliases:1: empty alias name");
}

Test(aliases, error_empty_target_list)
{
	cr_assert_eq(parse("a: b\n\nnobody:\n"), -1);
	cr_assert_str_eq(err, "/etc/aliases:3: empty target list");
	aliases_free(&al);
	cr_assert_eq(parse("nobody: , ,\n"), -1);
	cr_assert_str_eq(err, "/etc/aliases:1: empty target list");
}

Test(aliases, error_names_first_line_of_entry)
{
	cr_assert_eq(parse("a: b\nlist: \"open,\n  x\n"), -1);
	cr_assert_str_eq(err, "/etc/aliases:2: unbalanced quote");
}

Test(aliases, error_unbalanced_comment_and_angle)
{
	cr_assert_eq(parse("a: x (open\n"), -1);
	cr_assert_str_eq(err, "/etc/aliases:1: unbalanced parenthesis");
	cr_assert_eq(parse("a: <x@example.org\n"), -1);
	cr_assert_str_eq(err, "/etc/aliases:1: unbalanced angle bracket");
}

Test(aliases, error_continuation_without_entry)
{
	cr_assert_eq(parse("# comment\n  stray@example.org\n"), -1);
	cr_assert_str_eq(err,
	    "/etc/aliases:2: continuation line with no alias before it");
}

Test(aliases, error_nul_byte)
{
	static const char text[] = "a: b\0c\n";

	cr_assert_eq(aliases_parse(&al, text, sizeof(text) - 1,
	    "/etc/aliases", err, sizeof(err)), -1);
	cr_assert_str_eq(err, "/etc/aliases:1: NUL byte");
}

Test(aliases, error_line_too_long)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "ok: fine\nbig: ");
	while (b.len <= 64 * 1024 + 20)
		buf_adds(&b, "user@example.org, ");
	buf_adds(&b, "last\n");
	cr_assert_eq(aliases_parse(&al, b.data, b.len, "/etc/aliases", err,
	    sizeof(err)), -1);
	cr_assert_str_eq(err, "/etc/aliases:2: line too long (over 64 KiB)");
	buf_free(&b);
}

Test(aliases, error_entry_too_long_by_continuations)
{
	struct buf b;
	size_t line = 1;

	size_t entry = strlen("big: first"), bad = 0;

	buf_init(&b);
	buf_adds(&b, "big: first");
	while (bad == 0 || line < bad + 5) {
		buf_adds(&b, ",\n  user@example.org");
		line++;
		/* the joined entry holds each line without its newline */
		entry += strlen(",  user@example.org");
		if (bad == 0 && entry > 64 * 1024)
			bad = line;
	}
	buf_adds(&b, "\n");
	cr_assert_eq(aliases_parse(&al, b.data, b.len, "/etc/aliases", err,
	    sizeof(err)), -1);
	char want[128];
	(void)snprintf(want, sizeof(want),
	    "/etc/aliases:%zu: line too long (over 64 KiB)", bad);
	cr_assert_str_eq(err, want);
	buf_free(&b);
}

Test(aliases, line_just_under_limit_accepted)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "big: ");
	while (b.len < 64 * 1024 - 40)
		buf_adds(&b, "u@example.org, ");
	buf_adds(&b, "last\n");
	cr_assert_eq(aliases_parse(&al, b.data, b.len, "f", err,
	    sizeof(err)), 0, "%s", err);
	buf_free(&b);
}

Test(aliases, failed_parse_keeps_earlier_table)
{
	cr_assert_eq(parse("a: one\n"), 0, "%s", err);
	cr_assert_eq(parse("a: two\nbad line\n"), -1);
	cr_assert_eq(al.n, 1);
	cr_assert_str_eq(must_find("a")->targets[0].text, "one");
}

static char *
write_temp(const char *text)
{
	char *path = xstrdup("/tmp/test_aliases.XXXXXX");
	int fd = mkstemp(path);

	cr_assert_neq(fd, -1);
	cr_assert_eq(write_all(fd, text, strlen(text)), 0);
	close(fd);
	return path;
}

Test(aliases, load_file)
{
	char *path = write_temp("root: admin@example.org\nbad\n");
	char want[512];

	cr_assert_eq(aliases_load(&al, path, 1, err, sizeof(err)), -1);
	(void)snprintf(want, sizeof(want),
	    "%s:2: missing colon after alias name", path);
	cr_assert_str_eq(err, want);
	unlink(path);
	free(path);

	path = write_temp("root: admin@example.org\n");
	cr_assert_eq(aliases_load(&al, path, 1, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_str_eq(must_find("root")->targets[0].text,
	    "admin@example.org");
	unlink(path);
	free(path);
}

Test(aliases, load_missing_file)
{
	const char *path = "/nonexistent/mxsend/aliases";

	cr_assert_eq(aliases_load(&al, path, 0, err, sizeof(err)), 0);
	cr_assert_eq(al.n, 0);
	cr_assert_eq(aliases_load(&al, path, 1, err, sizeof(err)), -1);
	cr_assert_str_eq(err,
	    "/nonexistent/mxsend/aliases: No such file or directory");
}

Test(aliases, load_directory_is_an_error)
{
	cr_assert_eq(aliases_load(&al, "/tmp", 0, err, sizeof(err)), -1);
	cr_assert(strstr(err, "/tmp: ") == err, "%s", err);
}

Test(aliases, escaped_quote_inside_quoted_target)
{
	cr_assert_eq(parse("a: \"x\\\",y\"@example.org, z\n"), 0, "%s", err);
	const struct alias *a = must_find("a");
	cr_assert_eq(a->ntargets, 2);
	cr_assert_str_eq(a->targets[0].text, "\"x\\\",y\"@example.org");
	cr_assert_str_eq(a->targets[1].text, "z");
}

/* The last of many definitions wins, whatever the sort does with ties. */
Test(aliases, last_of_many_duplicates_wins)
{
	struct buf b;
	int i;

	buf_init(&b);
	for (i = 0; i < 500; i++)
		buf_printf(&b, "dup: t%d\nother%d: o\n", i, i % 50);
	cr_assert_eq(aliases_parse(&al, b.data, b.len, "f", err,
	    sizeof(err)), 0, "%s", err);
	buf_free(&b);
	cr_assert_eq(al.n, 51);
	cr_assert_str_eq(must_find("dup")->targets[0].text, "t499");
}
