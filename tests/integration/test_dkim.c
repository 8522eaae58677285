/*
 * test_dkim.c: DKIM signing end to end (SPEC §4 dkim_*, §5.4; issue 19).
 * The real mxsend signs a corpus of messages as cron, PHP's mail(), git
 * send-email, mutt and odd senders write them, on their way to fakesmtp
 * playing the MX host (and the relay), and two independent verifiers
 * from Debian check every message as it arrived against the record
 * mxsend printed for the key: dkimpy (python3-dkim, handed the TXT
 * record) and OpenDKIM's opendkim-testmsg (opendkim-tools, asking
 * fakedns for it through resolv-shim.so), for RSA 2048 and Ed25519. A
 * byte changed after signing fails both, so the checks can fail. Bad
 * keys and partial settings stop at start-up with 78; a key gone at
 * delivery time defers (75) and nothing goes out unsigned; GnuTLS is
 * loaded only when something is signed.
 *
 * The verifiers are not part of the build: without them the tests that
 * need them are skipped, saying so (scripts/install-deps.sh installs
 * them, as CI does).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

#define PYTHON		"/usr/bin/python3"
#define NOT_ROOT	12345	/* a uid without the key's rights */

static struct run_env re;
static struct run_result res;
static struct server dns, mx, relay;
static char dnslog[400], zpath[400], mxrec[400], relayrec[400];
static char logpath[400], qdir[400];
static char rsakey[400], edkey[400], rsatxt[1024], edtxt[256];
static unsigned mxport;
static int have_mx, have_relay;

static const char zone[] =
    "example.net. MX 10 mx.example.net.\n"
    "mx.example.net. A 127.0.0.2\n"
    "vanish.example.net. MX 10 mx.example.net.\n"
    "on vanish.example.net MX delay 1500\n";

/* dkimpy: the records from a file of "NAME RECORD" lines, each message. */
static const char verify_py[] =
    "import sys, dkim\n"
    "keys = {}\n"
    "for line in open(sys.argv[1]):\n"
    "    name, rec = line.rstrip('\\n').split(' ', 1)\n"
    "    keys[name.encode()] = rec.encode()\n"
    "def txt(name, timeout=5):\n"
    "    return keys.get(name.rstrip(b'.'))\n"
    "for path in open(sys.argv[2]).read().split():\n"
    "    try:\n"
    "        ok = dkim.verify(open(path, 'rb').read(), dnsfunc=txt)\n"
    "        why = ''\n"
    "    except Exception as e:\n"
    "        ok, why = False, str(e)\n"
    "    print(path, 'pass' if ok else 'fail', why)\n";

/* ------------------------------------------------------------ helpers */

static const char *
ev(void)
{
	static char buf[24000];

	buf[0] = '\0';
	ev_exit(buf, sizeof(buf), &res, 4000);
	ev_file(buf, sizeof(buf), "DNS queries", dnslog, 1000);
	if (have_mx)
		ev_server(buf, sizeof(buf), "mx", mxrec);
	if (have_relay)
		ev_server(buf, sizeof(buf), "relay", relayrec);
	return buf;
}

#define assert_exit(code) \
	cr_assert_eq(res.status, (code), "want exit %d%s", (code), ev())

static void
setup(void)
{
	run_alarm(900);
	run_env_setup(&re);
	memset(&dns, 0, sizeof(dns));
	memset(&mx, 0, sizeof(mx));
	memset(&relay, 0, sizeof(relay));
	memset(&res, 0, sizeof(res));
	env_clear();
	have_mx = have_relay = 0;
	rsatxt[0] = edtxt[0] = '\0';
	snprintf(dnslog, sizeof(dnslog), "%s/dns.log", re.dir);
	snprintf(zpath, sizeof(zpath), "%s/zone", re.dir);
	snprintf(logpath, sizeof(logpath), "%s/mxsend.log", re.dir);
	snprintf(qdir, sizeof(qdir), "%s/queue", re.dir);
	cr_assert(mkdir(qdir, 0700) == 0 || errno == EEXIST);
	mxport = env_mx_suite(logpath, qdir);
}

static void
teardown(void)
{
	server_stop(&mx);
	server_stop(&relay);
	server_stop(&dns);
	run_result_free(&res);
	run_env_cleanup(&re);
}

TestSuite(dkim, .init = setup, .fini = teardown);

/* mxsend with argv (NULL-terminated), input on stdin, env_list(). */
static void
run(const char *input, size_t len, const char *const argv[])
{
	run_result_free(&res);
	cr_assert_eq(run_mxsend(&re, argv, input, len, env_list(), 120,
	    &res), 0, "could not run %s", mxsend_path());
	cr_assert(!res.timed_out, "mxsend did not finish%s", ev());
}

/* "sendmail [OPTIONS...] -i rcpt" with msg (options NULL-terminated). */
static void
send_to(const char *msg, const char *rcpt, ...)
{
	const char	*argv[16];
	va_list		 ap;
	int		 argc = 0;

	argv[argc++] = "sendmail";
	va_start(ap, rcpt);
	while ((argv[argc] = va_arg(ap, const char *)) != NULL)
		cr_assert(++argc < 13);
	va_end(ap);
	argv[argc++] = "-i";
	argv[argc++] = rcpt;
	argv[argc] = NULL;
	run(msg, msg != NULL ? strlen(msg) : 0, argv);
}

static void
use_key(const char *selector, const char *path)
{
	env_set("MXSEND_DKIM_DOMAIN=example.com");
	env_set("MXSEND_DKIM_SELECTOR=%s", selector);
	env_set("MXSEND_DKIM_KEY=%s", path);
}

/* The value of --config-check's line "key VALUE" into out. */
static void
config_line(const char *key, char *out, size_t size)
{
	const char	*argv[] = { "mxsend", "--config-check", NULL };
	const char	*l;
	char		 want[64];

	run(NULL, 0, argv);
	assert_exit(0);
	snprintf(want, sizeof(want), "\n%s ", key);
	l = strstr(res.out, want);
	cr_assert_not_null(l, "no %s line in --config-check%s", key, ev());
	l += strlen(want);
	snprintf(out, size, "%.*s", (int)strcspn(l, "\n"), l);
}

static void
need_certtool(void)
{
	if (system("command -v certtool >/dev/null 2>&1") != 0)
		cr_skip_test("certtool (gnutls-bin) is not installed");
}

/*
 * An RSA 2048 key from certtool (PKCS#1, with its description before
 * the PEM block) and an Ed25519 key (PKCS#8) from mxsend --dkim-genkey,
 * with the records --config-check gives for them; --dkim-genkey printed
 * the same record.
 */
static void
make_keys(void)
{
	char	*genkey, path[400];

	need_certtool();
	snprintf(rsakey, sizeof(rsakey), "%s/rsa.key", re.dir);
	run_cmd("certtool --generate-privkey --key-type rsa --bits 2048 "
	    "--outfile '%s' >/dev/null 2>&1 && chmod 600 '%s'", rsakey,
	    rsakey);
	run_cmd("cd '%s' && '%s' --dkim-genkey ed example.com ed25519 "
	    ">genkey.out", re.dir, mxsend_path());
	snprintf(edkey, sizeof(edkey), "%s/ed._domainkey.example.com.key",
	    re.dir);
	use_key("rsa", rsakey);
	config_line("dkim_dns_txt", rsatxt, sizeof(rsatxt));
	use_key("ed", edkey);
	config_line("dkim_dns_txt", edtxt, sizeof(edtxt));
	snprintf(path, sizeof(path), "%s/genkey.out", re.dir);
	genkey = slurp(path, NULL);
	cr_assert_not_null(genkey);
	cr_assert_not_null(strstr(genkey, edtxt), "--dkim-genkey printed "
	    "another record:\n%s\n--config-check: %s", genkey, edtxt);
	free(genkey);
}

/* A zone-file TXT record of rec, in strings of at most 255 octets. */
static void
zone_txt(FILE *f, const char *name, const char *rec)
{
	size_t	 n = strlen(rec), k;

	fprintf(f, "%s. TXT", name);
	for (; n > 0; rec += k, n -= k) {
		k = n > 255 ? 255 : n;
		fprintf(f, " \"%.*s\"", (int)k, rec);
	}
	fputc('\n', f);
}

/* fakedns with the zone and the key records made so far. */
static void
start_dns(void)
{
	FILE	*f = fopen(zpath, "w");

	cr_assert_not_null(f);
	fputs(zone, f);
	if (rsatxt[0] != '\0')
		zone_txt(f, "rsa._domainkey.example.com", rsatxt);
	if (edtxt[0] != '\0')
		zone_txt(f, "ed._domainkey.example.com", edtxt);
	cr_assert_eq(fclose(f), 0);
	fakedns_start(&dns, zpath, dnslog, NULL);
}

static void
start_mx(const char *script)
{
	const char *const extra[] = { "--max-sessions", "400", "--lifetime",
	    "900", NULL };
	const char *const addr[] = { "127.0.0.2", NULL };

	fakesmtp_mx_start(&mx, &re, 1, script, mxrec, sizeof(mxrec), &mxport,
	    extra, addr);
	have_mx = 1;
}

static void
start_relay(const char *script)
{
	fakesmtp_start(&relay, &re, "relay", "127.0.0.1:0", script, relayrec,
	    sizeof(relayrec), NULL);
	have_relay = 1;
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u", relay.l[0].port);
	env_set("MXSEND_RELAY_TLS=off");
}

#define MX_ALL	"ext PIPELINING\next 8BITMIME\next SIZE 104857600\n"

/* Keys, DNS with their records, and the MX with script. */
static void
start_signing(const char *script)
{
	make_keys();
	start_dns();
	start_mx(script);
}

/* ---------------------------------------------------------- verifiers */

static void
need_verifiers(void)
{
	if (system(PYTHON " -c 'import dkim, nacl' >/dev/null 2>&1") != 0 ||
	    system("command -v opendkim-testmsg >/dev/null 2>&1") != 0)
		cr_skip_test("python3-dkim or opendkim-tools is not installed "
		    "(scripts/install-deps.sh installs them)");
}

/* sh -c cmd in the test directory, at most seconds: whether it exit 0. */
static int
sh_ok(const char *cmd, unsigned seconds)
{
	char		 line[2048];
	const char	*argv[] = { "/bin/sh", "-c", line, NULL };
	int		 st;

	snprintf(line, sizeof(line), "cd '%s' && exec %s", re.dir, cmd);
	st = server_run(argv, NULL, (long)(seconds * 1000 * run_slack()));
	cr_assert_neq(st, -1, "still running after %u s: %s", seconds, cmd);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/*
 * dkimpy's verdict on each file of paths[0..n), in one interpreter:
 * ok[i] set when it verified; its report is in dkimpy.out.
 */
static void
dkimpy(char *const paths[], size_t n, int *ok)
{
	char	 keys[1400], want[500], *list, *out;
	size_t	 i, len = 1;
	const char *l;

	snprintf(keys, sizeof(keys), "rsa._domainkey.example.com %s\n"
	    "ed._domainkey.example.com %s\n", rsatxt, edtxt);
	run_env_file(&re, "keys.txt", keys, 0644);
	run_env_file(&re, "verify.py", verify_py, 0644);
	for (i = 0; i < n; i++)
		len += strlen(paths[i]) + 1;
	list = calloc(1, len);
	cr_assert_not_null(list);
	for (i = 0; i < n; i++)
		strcat(strcat(list, paths[i]), "\n");
	run_env_file(&re, "paths.txt", list, 0644);
	free(list);
	cr_assert(sh_ok(PYTHON " verify.py keys.txt paths.txt >dkimpy.out "
	    "2>&1", 600), "dkimpy did not run: see %s/dkimpy.out", re.dir);
	snprintf(want, sizeof(want), "%s/dkimpy.out", re.dir);
	out = slurp(want, NULL);
	cr_assert_not_null(out);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "%s pass", paths[i]);
		l = line_with(out, want);
		ok[i] = l != NULL && strncmp(l, want, strlen(want)) == 0;
	}
	free(out);
}

/* What dkimpy said of path (static buffer). */
static const char *
dkimpy_said(const char *path)
{
	static char line[600];
	char	 p[400], *out;
	const char *l;

	snprintf(p, sizeof(p), "%s/dkimpy.out", re.dir);
	out = slurp(p, NULL);
	l = out != NULL ? line_with(out, path) : NULL;
	snprintf(line, sizeof(line), "%s", l != NULL ? l : "(nothing)");
	free(out);
	return line;
}

/* OpenDKIM's verdict on path: the key from fakedns, through the shim. */
static int
opendkim(const char *path)
{
	const char	*b = getenv("top_builddir");
	char		 cmd[1600];

	snprintf(cmd, sizeof(cmd), "env MXTEST_DNS_PORT=%u LD_PRELOAD="
	    "'%s/tests/integration/resolv-shim.so' opendkim-testmsg -t '%s' "
	    "<'%s' >>opendkim.out 2>&1", dns.l[0].port, b ? b : ".", re.dir,
	    path);
	return sh_ok(cmd, 120);
}

/* OpenDKIM refuses the message path itself, before any signature. */
static void
opendkim_refuses_syntax(const char *path, const char *name)
{
	char	 out[400], *s;

	snprintf(out, sizeof(out), "%s/opendkim.out", re.dir);
	(void)unlink(out);
	cr_assert(!opendkim(path), "OpenDKIM took %s", name);
	s = slurp(out, NULL);
	cr_assert(s != NULL && strstr(s, "dkim_chunk(): Syntax error") !=
	    NULL, "OpenDKIM refused %s for another reason: %s", name, s);
	free(s);
}

/* What the MX received in session n: the path of its message. */
static char *
received(int n)
{
	char	 path[500];

	snprintf(path, sizeof(path), "%s/session-%d.msg-1", mxrec, n);
	return strdup(path);
}

/*
 * A copy of the file path (in the test directory, as name) with the
 * first from replaced by to, of the same length: one byte changed.
 */
static char *
altered(const char *path, const char *name, const char *from, const char *to)
{
	char	*s, *at, *copy;

	s = slurp(path, NULL);
	cr_assert_not_null(s, "%s", path);
	at = strstr(s, from);
	cr_assert_not_null(at, "\"%s\" not in %s", from, path);
	memcpy(at, to, strlen(to));
	copy = strdup(run_env_file(&re, name, s, 0644));
	free(s);
	return copy;
}

/* Both verifiers refuse path. */
static void
both_refuse(const char *path, const char *what)
{
	int	 ok;

	dkimpy((char *const *)&path, 1, &ok);
	cr_assert(!ok, "dkimpy accepted %s: %s", what, dkimpy_said(path));
	cr_assert(!opendkim(path), "OpenDKIM accepted %s", what);
}

/* Both verifiers accept path. */
static void
both_accept(const char *path, const char *what)
{
	int	 ok;

	dkimpy((char *const *)&path, 1, &ok);
	cr_assert(ok, "dkimpy refused %s: %s", what, dkimpy_said(path));
	cr_assert(opendkim(path), "OpenDKIM refused %s: see %s/opendkim.out",
	    what, re.dir);
}

/* ------------------------------------------------------------ corpus */

/*
 * dup_singleton: the sample repeats a field RFC 5322 §3.6 allows once
 * (To:, Subject:, From:). dkimpy verifies it; OpenDKIM 2.11 refuses the
 * message itself ("Syntax error", before any signature is looked at),
 * as a defence against fields added above signed ones, so that is what
 * is asserted of it.
 */
struct sample {
	const char	*name;
	const char	*text;
	int		 dup_singleton;
};

#define DIFF_BODY \
	"The parser read one octet past the end of a quoted pair.\n" \
	"\n" \
	"Signed-off-by: Dev Eloper <dev@example.com>\n" \
	"---\n" \
	" src/rfc5322.c | 2 +-\n" \
	" 1 file changed, 1 insertion(+), 1 deletion(-)\n" \
	"\n" \
	"diff --git a/src/rfc5322.c b/src/rfc5322.c\n" \
	"index 3b18e51..a9d2c0f 100644\n" \
	"--- a/src/rfc5322.c\n" \
	"+++ b/src/rfc5322.c\n" \
	"@@ -120,7 +120,7 @@ quoted(const char *p, size_t n)\n" \
	" \tfor (i = 0; i < n; i++) {\n" \
	"-\t\tif (p[i] == '\\\\')\n" \
	"+\t\tif (p[i] == '\\\\' && i + 1 < n)\n" \
	" \t\t\ti++;\n" \
	" \t}\n" \
	" \n" \
	"-- \n" \
	"2.39.2\n" \
	"\n"

#define BASE64_LINE \
	"JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMg\n"

static const struct sample corpus[] = {
	{ "plain", "From: Ann <ann@example.com>\nTo: rcpt@example.net\n"
	    "Subject: Plain subject\nDate: Mon, 07 Dec 2026 10:00:00 +0000\n"
	    "Message-ID: <plain.1@example.com>\n\n"
	    "Hello, this is the body 7f3a.\n", 0 },
	{ "cron", "From: root (Cron Daemon)\nTo: root\n"
	    "Subject: Cron <root@host> /usr/local/bin/backup --nightly\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=UTF-8\n"
	    "Content-Transfer-Encoding: 8bit\n"
	    "X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\n"
	    "X-Cron-Env: <PATH=/usr/bin:/bin>\nX-Cron-Env: <LOGNAME=root>\n"
	    "\nbackup: 3 files skipped   \n\trsync warning: some files "
	    "vanished\n\n", 0 },
	{ "php_mail", "To: rcpt@example.net\nSubject: Your order #10293\n"
	    "X-PHP-Originating-Script: 33:checkout.php\n"
	    "MIME-Version: 1.0\n"
	    "Content-type: text/html; charset=iso-8859-1\n"
	    "From: Shop <shop@example.com>\nReply-To: help@example.com\n\n"
	    "<html><body><p>Thank you for your order.</p>\n"
	    "<table><tr><td>Item</td><td>Price</td></tr></table>\n"
	    "</body></html>\n", 0 },
	{ "git_send_email", "From: Dev Eloper <dev@example.com>\n"
	    "To: list@example.net\nCc: Maintainer <maint@example.net>,\n"
	    "\tOther Person <other@example.net>\n"
	    "Subject: [PATCH v2 1/3] rfc5322: stop at the end of a quoted "
	    "pair\nDate: Mon,  7 Dec 2026 11:12:13 +0100\n"
	    "Message-Id: <20261207101213.4711-2-dev@example.com>\n"
	    "X-Mailer: git-send-email 2.39.2\n"
	    "In-Reply-To: <20261207101213.4711-1-dev@example.com>\n"
	    "References: <20261201090000.1-1-dev@example.com>\n"
	    " <20261207101213.4711-1-dev@example.com>\n"
	    "MIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\n"
	    DIFF_BODY, 0 },
	{ "mutt_multipart", "Date: Mon, 7 Dec 2026 12:00:00 +0100\n"
	    "From: Mutt User <mutt@example.com>\nTo: rcpt@example.net\n"
	    "Subject: report attached\nMessage-ID: <x1@mutt.example.com>\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"4SFOXa2GPu3tIq4H\"\n"
	    "Content-Disposition: inline\n\n\n"
	    "--4SFOXa2GPu3tIq4H\n"
	    "Content-Type: text/plain; charset=us-ascii\n"
	    "Content-Disposition: inline\n\nSee the attachment.\n\n"
	    "--4SFOXa2GPu3tIq4H\n"
	    "Content-Type: application/pdf\n"
	    "Content-Disposition: attachment; filename=\"report.pdf\"\n"
	    "Content-Transfer-Encoding: base64\n\n"
	    BASE64_LINE BASE64_LINE BASE64_LINE "\n"
	    "--4SFOXa2GPu3tIq4H--\n", 0 },
	{ "long_folded_subject", "From: a@example.com\nTo: rcpt@example.net\n"
	    "Subject: This subject is long enough that a mail user agent "
	    "folded it\n over several lines, with white space at the folds "
	    "\n\tand a tab, as\n   RFC 5322 section 2.2.3 allows\n\nbody\n",
	    0 },
	{ "subject_over_998", "From: a@example.com\nSubject: "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 end\n"
	    "\nbody\n", 0 },
	{ "eight_bit_headers", "From: J\xc3\xbcrgen M\xc3\xbcller "
	    "<juergen@example.com>\nTo: rcpt@example.net\n"
	    "Subject: Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln \xe2\x82\xac\n"
	    "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\n"
	    "Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9f" "e \xe2\x80\x94 \xe6\x97\xa5"
	    "\xe6\x9c\xac\n", 0 },
	{ "encoded_words", "From: =?UTF-8?B?SsO8cmdlbg==?= "
	    "<j@example.com>\nTo: rcpt@example.net\n"
	    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?UTF-8?Q?_aus_K=C3=B6ln?=\n"
	    "\nbody\n", 0 },
	{ "duplicate_to", "From: a@example.com\nTo: first@example.net\n"
	    "Subject: two To fields\nTo: second@example.net\n\nbody\n", 1 },
	{ "duplicate_subject", "From: a@example.com\nSubject: one\n"
	    "To: rcpt@example.net\nSubject: two\n\nbody\n", 1 },
	{ "two_from", "From: a@example.com\nFrom: b@example.com\n"
	    "Sender: a@example.com\nSubject: two authors\n\nbody\n", 1 },
	/* Fields that may repeat (RFC 5322 §3.6), signed bottom-up. */
	{ "repeatable_duplicates", "From: a@example.com\nSubject: dups\n"
	    "Keywords: one\nComments: first\nX-List: a\nKeywords: two\n"
	    "X-List: b\nComments:  second  \n\nbody\n", 0 },
	{ "resent_blocks", "Resent-From: r2@example.com\nResent-Date: Mon, "
	    "7 Dec 2026 12:00:00 +0000\nResent-From: r1@example.com\n"
	    "Resent-Date: Mon, 7 Dec 2026 11:00:00 +0000\n"
	    "From: a@example.com\nSubject: resent\n\nbody\n", 0 },
	{ "value_on_next_line", "From: a@example.com\nSubject:\n\tthe "
	    "value starts on a continuation line\nTo:\n rcpt@example.net\n"
	    "\nbody\n", 0 },
	{ "folded_to_with_tabs", "From: a@example.com\n"
	    "To: one@example.net,\n\ttwo@example.net,\n\t\tthree@example.net"
	    "\nSubject: t\n\nbody\n", 0 },
	{ "header_trailing_wsp", "From: a@example.com   \nTo: "
	    "rcpt@example.net\t\nSubject:   spaced   out   \n\nbody\n", 0 },
	{ "body_trailing_wsp", "From: a@example.com\nSubject: t\n\n"
	    "line with spaces   \nline with tabs\t\t\n  \n\tindented\n", 0 },
	{ "empty_body", "From: a@example.com\nSubject: empty\n\n", 0 },
	{ "headers_only", "From: a@example.com\nSubject: no separator\n", 0 },
	{ "no_final_newline", "From: a@example.com\nSubject: t\n\n"
	    "the last line has no newline", 0 },
	{ "trailing_blank_lines", "From: a@example.com\nSubject: t\n\n"
	    "text\n\n\n \n\t\n\n", 0 },
	{ "only_blank_body", "From: a@example.com\nSubject: t\n\n"
	    "\n \n\t\n\n", 0 },
	{ "dot_lines", "From: a@example.com\nSubject: dots\n\n.\n..\n"
	    ".leading dot\n...\n.\n", 0 },
	{ "body_over_998", "From: a@example.com\nSubject: long line\n\n"
	    "0123456789012345678901234567890123456789012345678901234567890"
	    "1234567890123456789012345678901234567890123456789012345678901"
	    "2345678901234567890123456789012345678901234567890123456789012"
	    "3456789012345678901234567890123456789012345678901234567890123"
	    "4567890123456789012345678901234567890123456789012345678901234"
	    "5678901234567890123456789012345678901234567890123456789012345"
	    "6789012345678901234567890123456789012345678901234567890123456"
	    "7890123456789012345678901234567890123456789012345678901234567"
	    "8901234567890123456789012345678901234567890123456789012345678"
	    "9012345678901234567890123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890"
	    "1234567890123456789012345678901234567890123456789012345678901"
	    "2345678901234567890123456789012345678901234567890123456789012"
	    "3456789012345678901234567890123456789012345678901234567890123"
	    "4567890123456789012345678901234567890123456789012345678901234"
	    "5678901234567890123456789012345678901234567890123456789012345"
	    "6789012345678901234567890123456789012345678901234567890123456"
	    " end\n", 0 },
	{ "crlf_and_bare_cr", "From: a@example.com\r\nSubject: mixed\r\n\r\n"
	    "crlf line\r\nbare cr line\rbare lf line\nlast\r\n", 0 },
	{ "bcc_dropped", "From: a@example.com\nTo: rcpt@example.net\n"
	    "Bcc: hidden@example.net\nSubject: bcc\n\nbody\n", 0 },
	{ "from_date_message_id_generated", "Subject: no From, Date or "
	    "Message-ID\n\nbody\n", 0 },
	/*
	 * Not "Subject : x" (RFC 5322 §4.5 obs-optional): dkimpy cannot
	 * parse the field at all (test_dkim.c in tests/unit signs it).
	 */
	{ "empty_values", "From: a@example.com\nSubject: empty values\n"
	    "X-Empty:\nX-Blank:   \n\nbody\n", 0 },
	{ "many_headers", "From: a@example.com\nSubject: many\n"
	    "X-H1: 1\nX-H2: 2\nX-H3: 3\nX-H4: 4\nX-H5: 5\nX-H6: 6\n"
	    "X-H7: 7\nX-H8: 8\nX-H9: 9\nX-H10: 10\nX-H11: 11\nX-H12: 12\n"
	    "X-H13: 13\nX-H14: 14\nX-H15: 15\nX-H16: 16\n\nbody\n", 0 },
	{ "received_already", "Received: from a by b; Mon, 7 Dec 2026 "
	    "10:00:00 +0000\nReceived: from c\n\tby d; Mon, 7 Dec 2026 "
	    "10:00:01 +0000\nFrom: a@example.com\nSubject: relayed\n\n"
	    "body\n", 0 },
	{ "all_body", "this input has no header at all\nsecond line\n", 0 },
	{ "references_folded", "From: a@example.com\nSubject: Re: thread\n"
	    "In-Reply-To: <m3@example.com>\nReferences: <m1@example.com>\n"
	    " <m2@example.com>\n <m3@example.com>\n\nreply\n> quoted\n", 0 },
	{ "html_tabs", "From: a@example.com\nSubject: html\n"
	    "Content-Type: text/html\n\n<pre>\n\tcol1\tcol2\t\n"
	    "\t\t\tdeep\n</pre>\n", 0 },
	{ "header_case", "FROM: Upper <UPPER@EXAMPLE.COM>\nsubject: lower\n"
	    "mIME-vERSION: 1.0\n\nbody\n", 0 },
	{ "unqualified_to_cc", "From: a@example.com\nTo: root, admin\n"
	    "Cc: Ops <ops>\nSubject: local names\n\nbody\n", 0 },
};

#define NCORPUS	(sizeof(corpus) / sizeof(corpus[0]))

/*
 * Every sample of the corpus signed with the key of selector sel, and
 * verified by both verifiers as the MX received it; then a byte changed
 * in a body and in a signed header field fails both.
 */
static void
corpus_run(const char *sel, const char *alg, const char *headers)
{
	char	*paths[NCORPUS], *s, *alt;
	int	 ok[NCORPUS];
	size_t	 i;

	need_verifiers();
	start_signing(MX_ALL);
	use_key(sel, strcmp(sel, "rsa") == 0 ? rsakey : edkey);
	if (headers != NULL)
		env_set("MXSEND_DKIM_HEADERS=%s", headers);
	for (i = 0; i < NCORPUS; i++) {
		send_to(corpus[i].text, "rcpt@example.net", NULL);
		cr_assert_eq(res.status, 0, "%s: exit %d%s", corpus[i].name,
		    res.status, ev());
	}
	server_stop(&mx);
	for (i = 0; i < NCORPUS; i++) {
		paths[i] = received((int)i + 1);
		s = slurp(paths[i], NULL);
		cr_assert_not_null(s, "%s: not received%s", corpus[i].name,
		    ev());
		cr_assert_eq(strncmp(s, "DKIM-Signature: v=1; a=", 23), 0,
		    "%s: not signed first:\n%.300s", corpus[i].name, s);
		cr_assert_not_null(strstr(s, alg), "%s", corpus[i].name);
		cr_assert_null(strstr(s + 1, "DKIM-Signature:"), "%s",
		    corpus[i].name);
		free(s);
	}
	dkimpy(paths, NCORPUS, ok);
	for (i = 0; i < NCORPUS; i++) {
		cr_assert(ok[i], "dkimpy refused %s (%s): %s", corpus[i].name,
		    paths[i], dkimpy_said(paths[i]));
		if (corpus[i].dup_singleton)
			opendkim_refuses_syntax(paths[i], corpus[i].name);
		else
			cr_assert(opendkim(paths[i]), "OpenDKIM refused %s "
			    "(%s): see %s/opendkim.out", corpus[i].name,
			    paths[i], re.dir);
	}
	alt = altered(paths[0], "alt-body", "7f3a", "7f3b");
	both_refuse(alt, "a byte changed in the body");
	free(alt);
	alt = altered(paths[0], "alt-subject", "Plain subject",
	    "Plain subjecT");
	both_refuse(alt, "a byte changed in Subject:");
	free(alt);
	alt = altered(paths[3], "alt-diff", "i + 1 < n", "i + 2 < n");
	both_refuse(alt, "a byte changed in a patch");
	free(alt);
	for (i = 0; i < NCORPUS; i++)
		free(paths[i]);
}

/* RSA 2048 with the default dkim_headers. */
Test(dkim, corpus_rsa2048_verifies)
{
	corpus_run("rsa", "a=rsa-sha256;", NULL);
}

/* Ed25519 with fields that may repeat in dkim_headers too. */
Test(dkim, corpus_ed25519_verifies)
{
	corpus_run("ed", "a=ed25519-sha256;", "from:from:subject:to:cc:date:"
	    "message-id:keywords:keywords:comments:x-list:resent-from:"
	    "resent-date:mime-version:content-type");
}

/* The tag tag= of the DKIM-Signature in file path (static buffer). */
static const char *
sig_tag(const char *path, const char *tag)
{
	static char v[600];
	char	*s = slurp(path, NULL), *p, *o = v;

	cr_assert_not_null(s, "%s", path);
	p = strstr(s, tag);
	cr_assert_not_null(p, "no %s in %s", tag, path);
	/* Unfold: the value ends at ';' or at the end of the field. */
	for (p += strlen(tag); *p != ';' && o < v + sizeof(v) - 1; p++) {
		if (p[0] == '\r' && p[1] == '\n' && p[2] != ' ' &&
		    p[2] != '\t')
			break;
		if (*p != '\r' && *p != '\n' && *p != ' ' && *p != '\t')
			*o++ = *p;
	}
	*o = '\0';
	free(s);
	return v;
}

/*
 * SPEC §5.4: each route signs what it transmits. With relay_from, the
 * relay's From: differs from the MX route's: two signatures, each
 * verifying, over one body hash. The relay takes it with BDAT.
 */
Test(dkim, relay_from_variant_signed_apart)
{
	char	 relaymsg[500], bh[100], b[600], *mxmsg;

	need_verifiers();
	start_signing("rcpt match=<later@ reply 451 4.3.0 not now\n");
	/* BDAT: the signature counts in SIZE= and in the chunk. */
	start_relay("ext PIPELINING\next CHUNKING\next SIZE 1000000\n");
	use_key("ed", edkey);
	env_set("MXSEND_ROUTE=mx relay");
	env_set("MXSEND_DKIM_ROUTES=mx,relay");
	env_set("MXSEND_RELAY_FROM=verified@example.com");
	send_to("From: Ann <ann@example.com>\nSubject: both routes\n\nbody\n",
	    "now@example.net, later@example.net", NULL);
	assert_exit(0);
	server_stop(&mx);
	server_stop(&relay);
	mxmsg = received(1);
	snprintf(relaymsg, sizeof(relaymsg), "%s/session-1.msg-1", relayrec);
	cr_assert(delivered_at(mxrec, NULL, "now@example.net"), "%s", ev());
	cr_assert(delivered_at(relayrec, NULL, "later@example.net"), "%s",
	    ev());
	cr_assert(logs_have(relayrec, NULL, "BDAT"), "no BDAT%s", ev());
	both_accept(mxmsg, "the MX route's message");
	both_accept(relaymsg, "the relay route's message");
	snprintf(bh, sizeof(bh), "%s", sig_tag(mxmsg, "bh="));
	cr_assert_str_eq(sig_tag(relaymsg, "bh="), bh, "two body hashes");
	snprintf(b, sizeof(b), "%s", sig_tag(mxmsg, " b="));
	cr_assert_str_neq(sig_tag(relaymsg, " b="), b, "one signature");
	free(mxmsg);
}

/* dkim_routes relay: the MX route's message goes unsigned. */
Test(dkim, mx_route_not_signed_unless_listed)
{
	char	*s, *path;

	start_signing("");
	use_key("ed", edkey);
	env_set("MXSEND_DKIM_ROUTES=relay");
	send_to("From: a@example.com\nSubject: t\n\nbody\n",
	    "rcpt@example.net", NULL);
	assert_exit(0);
	server_stop(&mx);
	path = received(1);
	s = slurp(path, NULL);
	cr_assert_not_null(s, "%s", ev());
	cr_assert_null(strstr(s, "DKIM-Signature"), "signed:\n%s", s);
	free(s);
	free(path);
}

/* ------------------------------------------------------------ memory */

/* A message of about mib MiB, with blank lines and white space at ends. */
static void
big_message(const char *name, int mib)
{
	char	 path[400], line[80];
	FILE	*f;
	long	 i, n = (long)mib * 1024 * 1024 / 64;

	snprintf(path, sizeof(path), "%s/%s", re.dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("From: a@example.com\nTo: rcpt@example.net\nSubject: big\n\n", f);
	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%08ld  the quick brown fox "
		    "jumps over the lazy dog \t\n", i);
		fputs(i % 1000 == 999 ? " \n" : line, f);
	}
	fputs("\n\n\n", f);
	cr_assert_eq(fclose(f), 0);
	re.stdin_path = strdup(path);
}

/*
 * SPEC §9: memory does not grow with the message, signing included: a
 * 50 MiB message signed as it streams from the spool takes no more than
 * a 1 MiB one (each run's peak RSS, from wait4()). Both verifiers accept
 * it.
 */
Test(dkim, fifty_mib_signed_with_flat_memory)
{
	long	 small, large;
	char	*path;

	need_verifiers();
	start_signing(MX_ALL);
	use_key("ed", edkey);
	big_message("small.msg", 1);
	send_to(NULL, "rcpt@example.net", NULL);
	assert_exit(0);
	small = res.maxrss_kib;
	free((char *)re.stdin_path);
	big_message("big.msg", 50);
	send_to(NULL, "rcpt@example.net", NULL);
	assert_exit(0);
	large = res.maxrss_kib;
	free((char *)re.stdin_path);
	re.stdin_path = NULL;
	cr_log_info("peak RSS: %ld KiB signing 1 MiB, %ld KiB signing 50 MiB",
	    small, large);
	cr_assert_lt(large - small, 8 * 1024, "peak RSS grew from %ld to %ld "
	    "KiB with the message", small, large);
	server_stop(&mx);
	path = received(2);
	both_accept(path, "the 50 MiB message");
	free(path);
}

/* ------------------------------------------------------------ bad keys */

/* A delivery stopped at start-up (78), the reason and the file named. */
static void
refused_at_start(const char *why, const char *needle1, const char *needle2)
{
	int	 before = nsess(mxrec);

	send_to("From: a@example.com\nSubject: t\n\nbody\n",
	    "rcpt@example.net", NULL);
	cr_assert_eq(res.status, 78, "%s: want exit 78%s", why, ev());
	cr_assert_not_null(strstr(res.err, needle1), "%s: stderr lacks "
	    "\"%s\"%s", why, needle1, ev());
	cr_assert(needle2 == NULL || strstr(res.err, needle2) != NULL,
	    "%s: stderr lacks \"%s\"%s", why, needle2, ev());
	cr_assert_eq(nsess(mxrec), before, "%s: the MX had a session%s", why,
	    ev());
}

/* A key file of text, mode mode, in the test directory: its path. */
static const char *
key_with(const char *name, const char *text, int mode)
{
	static char path[400];

	snprintf(path, sizeof(path), "%s", run_env_file(&re, name, text,
	    mode));
	cr_assert_eq(chmod(path, (mode_t)mode), 0);
	return path;
}

/*
 * SPEC §4: keys readable or writable by others, malformed, encrypted,
 * weak (RFC 8301) or of another type, and a partial dkim_* set: exit
 * 78 naming the file and the reason; a key its group may read is fine.
 */
Test(dkim, bad_keys_and_settings_stop_with_78)
{
	char	*pem, path[400];

	need_certtool();
	start_dns();
	start_mx("");
	snprintf(path, sizeof(path), "%s/k512.key", re.dir);
	run_cmd("certtool --generate-privkey --key-type rsa --bits 512 "
	    "--outfile '%s' >/dev/null 2>&1 && chmod 600 '%s'", path, path);
	use_key("s", path);
	refused_at_start("RSA 512", path, "RSA key of 512 bits");
	snprintf(path, sizeof(path), "%s/ec.key", re.dir);
	run_cmd("certtool --generate-privkey --key-type ecdsa --outfile '%s' "
	    ">/dev/null 2>&1 && chmod 600 '%s'", path, path);
	use_key("s", path);
	refused_at_start("ECDSA", path, "not an RSA or Ed25519");
	snprintf(path, sizeof(path), "%s/enc.key", re.dir);
	run_cmd("certtool --generate-privkey --key-type ed25519 --pkcs8 "
	    "--password secret --outfile '%s' >/dev/null 2>&1 && chmod 600 "
	    "'%s'", path, path);
	use_key("s", path);
	refused_at_start("encrypted", path, "encrypted private key");
	use_key("s", key_with("garbage.key", "not a key\n", 0600));
	refused_at_start("garbage", "garbage.key", "holds no PEM private key");
	use_key("s", key_with("cut.key", "-----BEGIN PRIVATE KEY-----\n"
	    "MC4CAQAwBQYDK2VwBCIEIA0x6nhdYQYcofdh2r1snWn/\n"
	    "-----END PRIVATE KEY-----\n", 0600));
	refused_at_start("truncated", "cut.key", "malformed private key");
	use_key("s", "/nonexistent/dkim.key");
	refused_at_start("missing", "/nonexistent/dkim.key",
	    "No such file or directory");
	make_keys();
	pem = slurp(edkey, NULL);
	use_key("s", key_with("others.key", pem, 0644));
	refused_at_start("mode 0644", "others.key",
	    "readable or writable by others");
	use_key("s", key_with("owriter.key", pem, 0602));
	refused_at_start("mode 0602", "owriter.key",
	    "readable or writable by others");
	/* The group may read it, as relay_password_file (issue 16). */
	use_key("s", key_with("group.key", pem, 0640));
	send_to("From: a@example.com\n\nbody\n", "rcpt@example.net", NULL);
	assert_exit(0);
	free(pem);
	env_unset("MXSEND_DKIM_KEY");
	refused_at_start("partial set", "dkim_key is missing", NULL);
	env_set("MXSEND_DKIM_KEY=relative.key");
	refused_at_start("relative path", "dkim_key", "absolute path");
}

/* A key the sending user cannot read: 78, naming the file and the user. */
Test(dkim, unreadable_key_stops_with_78)
{
	start_dns();
	start_mx("");
	make_keys();
	use_key("ed", edkey);
	if (geteuid() == 0)
		run_env_as_user(&re, NOT_ROOT, NOT_ROOT);
	else
		cr_assert_eq(chmod(edkey, 0), 0);
	refused_at_start("unreadable", edkey, "Permission denied");
}

/* ------------------------------------------------- at delivery time */

/*
 * A child that removes path once fakedns has logged a query for name
 * (the run is then past its start-up checks, waiting for the answer
 * the zone delays): at most 20 s, then it gives up.
 */
static pid_t
remove_when_asked(const char *path, const char *name)
{
	pid_t	 pid = fork();
	char	*log;
	int	 i, found = 0;

	cr_assert_neq(pid, -1);
	if (pid != 0)
		return pid;
	for (i = 0; i < 1000 && !found; i++) {
		log = slurp(dnslog, NULL);
		found = log != NULL && strstr(log, name) != NULL;
		free(log);
		if (!found)
			msleep(20);
	}
	_exit(found && unlink(path) == 0 ? 0 : 1);
}

static void
removed(pid_t pid)
{
	int	 st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the key was not "
	    "removed while the run waited for DNS%s", ev());
}

/*
 * The key vanishes between start-up and signing: the route fails for
 * now (75, queued, the reason given), and no server gets the message
 * unsigned, neither the MX nor the relay when it signs too.
 */
Test(dkim, key_vanished_at_delivery_defers)
{
	const char	*l;
	pid_t		 pid;

	start_signing(MX_ALL);
	start_relay("");
	use_key("ed", edkey);
	env_set("MXSEND_ROUTE=mx relay");
	env_set("MXSEND_DKIM_ROUTES=mx relay");
	pid = remove_when_asked(edkey, "vanish.example.net");
	send_to("From: a@example.com\nSubject: t\n\nkept 9c1e\n",
	    "rcpt@vanish.example.net", NULL);
	removed(pid);
	server_stop(&mx);
	server_stop(&relay);
	assert_exit(75);
	l = report_line(res.err, "rcpt@vanish.example.net");
	cr_assert(l != NULL && strstr(l, "deferred") != NULL &&
	    strstr(l, "DKIM signing failed") != NULL &&
	    strstr(l, edkey) != NULL, "no reason on stderr%s", ev());
	cr_assert_eq(nsess(mxrec), 0, "the MX had a session%s", ev());
	cr_assert_eq(nsess(relayrec), 0, "the relay had a session%s", ev());
	cr_assert(kept_under(re.dir, "kept 9c1e"), "not queued%s", ev());
}

/* dkim_routes mx: the relay, which need not sign, takes it (unsigned). */
Test(dkim, key_vanished_relay_unsigned_takes_it)
{
	char	 path[500], *s;
	pid_t	 pid;

	start_signing(MX_ALL);
	start_relay("");
	use_key("ed", edkey);
	env_set("MXSEND_ROUTE=mx relay");
	pid = remove_when_asked(edkey, "vanish.example.net");
	send_to("From: a@example.com\nSubject: t\n\nbody\n",
	    "rcpt@vanish.example.net", NULL);
	removed(pid);
	server_stop(&mx);
	server_stop(&relay);
	assert_exit(0);
	cr_assert_eq(nsess(mxrec), 0, "the MX had a session%s", ev());
	snprintf(path, sizeof(path), "%s/session-1.msg-1", relayrec);
	s = slurp(path, NULL);
	cr_assert(s != NULL && strstr(s, "DKIM-Signature") == NULL,
	    "the relay did not get it unsigned%s", ev());
	free(s);
}

/* ------------------------------------------------------------ GnuTLS */

/*
 * SPEC §9: GnuTLS is loaded when something is signed, not before (the
 * configuration's key check needs none of it). Without it, a route that
 * must sign defers; a run that signs nothing never loads it.
 */
Test(dkim, gnutls_loaded_only_to_sign)
{
	start_signing("");
	use_key("ed", edkey);
	env_without_libraries(&re);
	env_set("MXSEND_DKIM_ROUTES=relay");
	send_to("From: a@example.com\n\nbody\n", "rcpt@example.net", NULL);
	assert_exit(0);
	cr_assert(!fakelib_loaded(&re, "libgnutls"), "GnuTLS loaded with "
	    "nothing to sign%s", ev());
	env_set("MXSEND_DKIM_ROUTES=mx");
	send_to("From: a@example.com\n\nbody\n", "rcpt@example.net", NULL);
	assert_exit(75);
	cr_assert(fakelib_loaded(&re, "libgnutls"), "GnuTLS not even "
	    "tried%s", ev());
	cr_assert_not_null(strstr(res.err, "cannot load GnuTLS"), "%s", ev());
	server_stop(&mx);
	cr_assert_eq(nsess(mxrec), 1, "the unsigned message reached the "
	    "MX%s", ev());
}

/* ---------------------------------------------- what the admin sees */

/* --config-check: selector, domain, algorithm, record; no private key. */
Test(dkim, config_check_shows_the_record_not_the_key)
{
	char	*pem, line[200];

	make_keys();
	use_key("rsa", rsakey);
	config_line("dkim_algorithm", line, sizeof(line));
	cr_assert_str_eq(line, "rsa-sha256 (2048-bit key)");
	config_line("dkim_dns_name", line, sizeof(line));
	cr_assert_str_eq(line, "rsa._domainkey.example.com");
	cr_assert_eq(strncmp(rsatxt, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0B"
	    "AQEFAAOCAQ8AMIIBCgKCAQEA", 61), 0, "%s", rsatxt);
	cr_assert_not_null(strstr(res.out, "\ndkim_domain example.com\n"));
	cr_assert_not_null(strstr(res.out, "\ndkim_selector rsa\n"));
	cr_assert_not_null(strstr(res.out, "\ndkim_routes mx\n"));
	cr_assert_not_null(strstr(res.out, "\ndkim_headers from:from:"));
	cr_assert_not_null(strstr(res.out, "\ndkim_dns_zone "
	    "rsa._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; p="));
	pem = slurp(rsakey, NULL);
	/* No line of the key's base64 appears. */
	cr_assert_not_null(strstr(pem, "-----BEGIN RSA PRIVATE KEY-----\n"));
	snprintf(line, sizeof(line), "%.40s", strstr(pem, "KEY-----\n") + 9);
	cr_assert_null(strstr(res.out, line), "the private key shows");
	cr_assert_null(strstr(res.out, "PRIVATE"), "%s", res.out);
	free(pem);
	use_key("ed", edkey);
	config_line("dkim_algorithm", line, sizeof(line));
	cr_assert_str_eq(line, "ed25519-sha256 (256-bit key)");
	cr_assert_eq(strlen(edtxt), strlen("v=DKIM1; k=ed25519; p=") + 44,
	    "%s", edtxt);
}

/* --dkim-genkey: mode 0600, never over a file, arguments checked. */
Test(dkim, genkey_writes_once_and_checks_arguments)
{
	const char	*argv[] = { "mxsend", "--dkim-genkey", "sel",
	    "example.org", "dsa", NULL };
	struct stat	 st;
	char		 path[400], cmd[600], *out;

	snprintf(cmd, sizeof(cmd), "sh -c \"umask 0 && exec '%s' "
	    "--dkim-genkey sel example.org\" >out.txt 2>&1", mxsend_path());
	cr_assert(sh_ok(cmd, 60), "--dkim-genkey failed");
	snprintf(path, sizeof(path), "%s/sel._domainkey.example.org.key",
	    re.dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode);
	/* Written once: the same name again is refused. */
	cr_assert(!sh_ok(cmd, 60), "a second key replaced the first");
	snprintf(path, sizeof(path), "%s/out.txt", re.dir);
	out = slurp(path, NULL);
	cr_assert(out != NULL && strstr(out, "File exists") != NULL &&
	    strstr(out, "never replaced") != NULL, "%s", out);
	free(out);
	/* Bad arguments are usage errors, before any file is made. */
	run(NULL, 0, argv);
	assert_exit(64);
	cr_assert_not_null(strstr(res.err, "rsa or ed25519"), "%s", ev());
	argv[3] = "-bad.example";
	argv[4] = NULL;
	run(NULL, 0, argv);
	assert_exit(64);
}

/* -v: DMARC alignment fails when From: is outside d=. */
Test(dkim, verbose_warns_when_from_is_not_aligned)
{
	start_signing("");
	use_key("ed", edkey);
	send_to("From: a@mail.example.com\n\nbody\n", "rcpt@example.net",
	    "-v", NULL);
	assert_exit(0);
	cr_assert_not_null(strstr(res.err, "DKIM-Signature added: "
	    "d=example.com s=ed a=ed25519-sha256"), "%s", ev());
	cr_assert_null(strstr(res.err, "DMARC"), "%s", ev());
	send_to("From: a@example.org\n\nbody\n", "rcpt@example.net", "-v",
	    NULL);
	assert_exit(0);
	cr_assert_not_null(strstr(res.err, "warning: DKIM d=example.com, but "
	    "the From: domain is example.org"), "%s", ev());
	cr_assert_not_null(strstr(res.err, "DMARC alignment fails"), "%s",
	    ev());
	/* Without -v, nothing is said. */
	send_to("From: a@example.org\n\nbody\n", "rcpt@example.net", NULL);
	assert_exit(0);
	cr_assert_null(strstr(res.err, "DMARC"), "%s", ev());
}
