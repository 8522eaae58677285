/*
 * test_names.c: names_hosts_file() (names.c), the host's canonical name
 * read from the hosts file the way glibc's resolver would give it, so
 * that the common case (the host in /etc/hosts, nsswitch.conf asking
 * "files" first) needs no lookup child. It must give exactly glibc's
 * answer or none: the first line naming the host (as its canonical name
 * or an alias, case-insensitively) gives its canonical name; anything
 * but "files" first in nsswitch.conf's hosts line leaves it to glibc.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "names.h"

static char dir[64], ns[128], hosts[128], out[256];

static void
put(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
	fputs(text, fp);
	fclose(fp);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/mxsend-names-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(ns, sizeof(ns), "%s/nsswitch.conf", dir);
	snprintf(hosts, sizeof(hosts), "%s/hosts", dir);
	put(ns, "passwd: files\nhosts:          files dns\n");
	out[0] = '\0';
}

static void
teardown(void)
{
	unlink(ns);
	unlink(hosts);
	rmdir(dir);
}

TestSuite(names, .init = setup, .fini = teardown);

static int
ask(const char *name)
{
	return names_hosts_file(ns, hosts, name, out, sizeof(out));
}

/* Debian's own line: "127.0.1.1 FQDN short". */
Test(names, alias_gives_the_canonical_name)
{
	put(hosts, "127.0.0.1 localhost\n127.0.1.1 box.example.net box\n");
	cr_assert_eq(ask("box"), 1);
	cr_assert_str_eq(out, "box.example.net");
	cr_assert_eq(ask("BOX.example.NET"), 1, "names are case-insensitive");
	cr_assert_str_eq(out, "box.example.net");
}

/* The first line naming the host wins, as glibc's files backend. */
Test(names, first_matching_line_wins)
{
	put(hosts, "# comment box\n::1 localhost6\n"
	    "fe80::1%eth0 junk\n"
	    "10.0.0.1 first.example box # trailing comment\n"
	    "10.0.0.2 second.example box\n");
	cr_assert_eq(ask("box"), 1);
	cr_assert_str_eq(out, "first.example");
}

/* Only address lines count: "box" in a comment or a junk line is not. */
Test(names, comments_and_junk_lines_do_not_count)
{
	put(hosts, "# 127.0.1.1 wrong.example box\n"
	    "notanaddress wrong.example box\n127.0.0.1 localhost\n");
	cr_assert_eq(ask("box"), 0, "got %s", out);
}

/* Not there: glibc goes on to DNS, so must the caller. */
Test(names, absent_name_is_left_to_dns)
{
	put(hosts, "127.0.0.1 localhost\n");
	cr_assert_eq(ask("box"), 0);
}

/* An unqualified canonical name is still the answer (the caller sees no
 * dot and falls back, as with glibc's). */
Test(names, unqualified_canonical_name_is_the_answer)
{
	put(hosts, "127.0.0.1 localhost vm\n");
	cr_assert_eq(ask("vm"), 1);
	cr_assert_str_eq(out, "localhost");
}

/* DNS first, "files" absent or spelt otherwise: glibc's business. */
Test(names, other_orders_are_left_to_glibc)
{
	static const char *const lines[] = { "hosts: dns files\n",
	    "hosts: myhostname files\n", "hosts: filesystem dns\n",
	    "passwd: files\n", "#hosts: files\n" };
	size_t i;

	put(hosts, "127.0.1.1 box.example.net box\n");
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		put(ns, lines[i]);
		cr_assert_eq(ask("box"), -1, "%s", lines[i]);
	}
	put(ns, "hosts:files dns\n");
	cr_assert_eq(ask("box"), 1, "no blank after the colon");
}

Test(names, missing_files_are_left_to_glibc)
{
	cr_assert_eq(ask("box"), -1, "no hosts file");
	put(hosts, "127.0.1.1 box.example.net box\n");
	unlink(ns);
	cr_assert_eq(ask("box"), -1, "no nsswitch.conf");
}

/* A canonical name that does not fit is no answer. */
Test(names, too_long_canonical_name_is_no_answer)
{
	char small[8];

	put(hosts, "127.0.1.1 box.example.net box\n");
	cr_assert_eq(names_hosts_file(ns, hosts, "box", small,
	    sizeof(small)), -1);
}
