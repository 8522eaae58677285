/*
 * test_smuggle.c: SMTP smuggling and command injection (issue 14, item 8),
 * end to end: the real mxsend binary sends to a fakesmtp relay on
 * loopback, whose records show what arrived on the wire.
 *
 * The body: bare LF, bare CR, and every spelling of a line holding a dot
 * ("\n.\n", "\r.\n", "\r\n.\r", ...) followed by SMTP commands, sent with
 * DATA and with BDAT, with and without -i. None may end the data early
 * on the wire (SPEC §5.2: CR and LF only as CRLF, dot-stuffing): one
 * session, one transaction, one recipient, the commands in the body never
 * seen as commands, and with -i the whole message arrived; without -i a
 * dot line ends the input there (SPEC §2), so nothing after it is sent at
 * all. A NUL makes the message unacceptable (65) before any session.
 *
 * The envelope: CR, LF or CRLF in -f, -F, -V, -N, a recipient, an alias
 * target or a header address never reaches the wire: the option is
 * refused (64) with an error line that does not reproduce the line break,
 * or that recipient fails (67) and the others are delivered, and no
 * command the server logged holds a CR, a NUL or the injected text.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "records.h"
#include "rows.h"
#include "run.h"
#include "spawn.h"

#define FIRST		"the first line of the message"
#define MARKER		"the last line of the message"
#define BODY_MSG	"Subject: x\n\nbody\n"
#define INJECTED	"MAIL FROM:<smuggled@evil.test>\r\n" \
			"RCPT TO:<victim@evil.test>\r\nDATA\r\n" \
			"smuggled\r\n.\r\n"

static struct run_env re;
static struct run_result res;
static struct server relay;
static char relayrec[400];

static void
setup(void)
{
	run_env_setup(&re);
	memset(&relay, 0, sizeof(relay));
	memset(&res, 0, sizeof(res));
	relayrec[0] = '\0';
	env_clear();
}

static void
teardown(void)
{
	server_stop(&relay);
	run_result_free(&res);
	run_env_cleanup(&re);
}

TestSuite(smuggle, .init = setup, .fini = teardown, .timeout = 60);

/* What a failed assertion shows. */
static const char *
ev(void)
{
	static char buf[16000];

	buf[0] = '\0';
	append(buf, sizeof(buf), "\nexit %d\n--- stderr:\n%.3000s\n",
	    res.status, res.err != NULL ? res.err : "");
	ev_server(buf, sizeof(buf), "relay", relayrec);
	return buf;
}

/* The relay, with CHUNKING or not; every run goes there. */
static void
start_relay(int chunking)
{
	fakesmtp_start(&relay, &re, "relay", "127.0.0.1:0", chunking ?
	    "ext PIPELINING\next CHUNKING\n" : "ext PIPELINING\n", relayrec,
	    sizeof(relayrec), NULL);
	env_set("MXSEND_ROUTE=relay");
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u", relay.l[0].port);
	env_set("MXSEND_RELAY_TLS=off");
	env_set("MXSEND_TIMEOUT_COMMAND=10");
}

/* Run mxsend (argv NULL-terminated) with msg, then stop the relay. */
static int
run(const char *const argv[], const char *msg, size_t len)
{
	cr_assert_eq(run_mxsend(&re, argv, msg, len, env_list(), 30, &res),
	    0, "could not run %s", mxsend_path());
	cr_assert(!res.timed_out, "mxsend did not finish%s", ev());
	server_stop(&relay);
	return res.status;
}

/* Record file WHAT of session 1, whole (its length in *lenp), or NULL. */
static char *
record(const char *what, size_t *lenp)
{
	char	 path[500];

	snprintf(path, sizeof(path), "%s/session-1.%s", relayrec, what);
	return slurp(path, lenp);
}

/*
 * No command the relay logged holds a CR, a NUL or what was injected,
 * and at most one MAIL was given in all.
 */
static void
assert_clean_commands(void)
{
	char	 path[500], *log;
	size_t	 len;
	int	 n, mails = 0;
	const char *p;

	for (n = 1; n <= nsess(relayrec); n++) {
		snprintf(path, sizeof(path), "%s/session-%d.log", relayrec, n);
		log = slurp(path, &len);
		cr_assert_not_null(log);
		cr_assert(memchr(log, '\r', len) == NULL &&
		    memchr(log, '\0', len) == NULL,
		    "a command with a CR or NUL%s", ev());
		cr_assert(strcasestr(log, "evil") == NULL &&
		    strcasestr(log, "smuggled") == NULL,
		    "injected text seen as a command%s", ev());
		for (p = log; (p = strstr(p, " MAIL FROM:")) != NULL; p++)
			mails++;
		free(log);
	}
	cr_assert(mails <= 1, "%d MAIL commands%s", mails, ev());
}

/* ------------------------------------------------------------ bodies */

static const struct seq {
	const char	*name;
	const char	*text;		/* goes between two lines of body */
	int		 dot;		/* it holds a line with a lone dot */
	int		 nul;
} seqs[] = {
	{ "bare LF", "one\ntwo", 0, 0 },
	{ "bare CR", "one\rtwo", 0, 0 },
	{ "bare CR LF mixed", "one\r\rtwo\n\r\nthree", 0, 0 },
	{ "LF . LF", "one\n.\n" INJECTED, 1, 0 },
	{ "CR . LF", "one\r.\n" INJECTED, 1, 0 },
	{ "CRLF . CR", "one\r\n.\r" INJECTED, 1, 0 },
	{ "LF . CRLF", "one\n.\r\n" INJECTED, 1, 0 },
	{ "CRLF . LF", "one\r\n.\n" INJECTED, 1, 0 },
	{ "CR . CR", "one\r.\r" INJECTED, 1, 0 },
	{ "CRLF . CRLF", "one\r\n.\r\n" INJECTED, 1, 0 },
	{ "NUL", "one\0two", 0, 1 },
	{ "LF . NUL LF", "one\n.\0\n" INJECTED, 0, 1 },
	{ "NUL CRLF . CRLF", "one\0\r\n.\r\n" INJECTED, 1, 1 },
};

#define NSEQS		(sizeof(seqs) / sizeof(seqs[0]))

/* The text of a sequence: up to its NUL or INJECTED's end. */
static size_t
seq_len(const struct seq *s)
{
	size_t	 n = strlen(s->text);

	if (s->nul)
		n += 1 + strlen(s->text + n + 1);
	return n;
}

/* One row: a sequence, sent by DATA or BDAT, with -i or without. */
ParameterizedTestParameters(smuggle, body)
{
	static size_t ix[NSEQS * 4];

	return row_indexes(ix, NSEQS * 4);
}

/* The content as it arrived: CR and LF only as CRLF, no NUL. */
static void
assert_crlf_only(const char *m, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		cr_assert(m[i] != '\0' &&
		    (m[i] != '\r' || (i + 1 < len && m[i + 1] == '\n')) &&
		    (m[i] != '\n' || (i > 0 && m[i - 1] == '\r')),
		    "octet %zu of the message is a bare CR, LF or NUL%s", i,
		    ev());
}

/* One session, one transaction, one recipient, the message whole or cut
 * at the dot line. */
static void
assert_one_transaction(const struct seq *s, int keep_dots)
{
	char	*env, *msg, *m2;
	size_t	 len;
	int	 whole = keep_dots || !s->dot;

	cr_assert_eq(nsess(relayrec), 1, "%d sessions%s", nsess(relayrec),
	    ev());
	env = record("env-1", NULL);
	m2 = record("env-2", NULL);
	cr_assert(env != NULL && m2 == NULL, "not one transaction%s", ev());
	cr_assert(strstr(env, "result 250") != NULL &&
	    strstr(env, "RCPT TO:") == strstr(env, "RCPT TO:<u@d.test>") &&
	    strstr(strstr(env, "RCPT TO:") + 1, "RCPT TO:") == NULL,
	    "not one recipient, delivered%s", ev());
	cr_assert(strstr(env, "bare-lf") == NULL, "bare LF sent%s", ev());
	msg = record("msg-1", &len);
	cr_assert_not_null(msg);
	assert_crlf_only(msg, len);
	cr_assert_eq(strstr(msg, MARKER) != NULL, whole, "the message %s%s",
	    whole ? "did not arrive whole" : "went on after the dot line",
	    ev());
	cr_assert_eq(strstr(msg, "smuggled") != NULL, whole && s->dot,
	    "the body's commands %s%s", whole ? "are missing" :
	    "were sent", ev());
	free(env);
	free(msg);
}

ParameterizedTest(const size_t *ix, smuggle, body)
{
	const struct seq *s = &seqs[*ix / 4];
	int	 chunking = (*ix / 2) % 2, keep_dots = *ix % 2;
	const char *argv[6];
	char	 msg[1024];
	size_t	 len = 0;
	int	 argc = 0;

	argv[argc++] = "sendmail";
	if (keep_dots)
		argv[argc++] = "-i";
	argv[argc++] = "-f";
	argv[argc++] = "s@test.example";
	argv[argc++] = "u@d.test";
	argv[argc] = NULL;

	cr_log_info("%s, %s, %s", s->name, chunking ? "BDAT" : "DATA",
	    keep_dots ? "-i" : "dots end the input");
	start_relay(chunking);
	len = (size_t)snprintf(msg, sizeof(msg), "From: s@test.example\n"
	    "To: u@d.test\nSubject: smuggling\n\n" FIRST "\n");
	memcpy(msg + len, s->text, seq_len(s));
	len += seq_len(s);
	len += (size_t)snprintf(msg + len, sizeof(msg) - len, "\n" MARKER
	    "\n");
	if (s->nul) {
		/* SPEC §3: unacceptable, before any session. */
		cr_assert_eq(run(argv, msg, len), 65, "%s%s", s->name, ev());
		cr_assert_eq(nsess(relayrec), 0, "a session%s", ev());
		cr_assert(kept_under(re.dir, FIRST), "not kept%s", ev());
		return;
	}
	cr_assert_eq(run(argv, msg, len), 0, "%s%s", s->name, ev());
	assert_clean_commands();
	assert_one_transaction(s, keep_dots);
}

/* --------------------------------------------------------- envelope */

static const struct opt_case {
	const char	*opt;		/* NULL: a recipient argument */
	const char	*before;	/* the value, then a line break, */
	const char	*after;		/* then what it would inject */
	const char	*names;		/* what the error line names */
} opts[] = {
	{ "-f", "s@test.example", "RCPT TO:<evil@d.test>", "-f" },
	{ "-F", "Sender Name", "Bcc: evil@d.test", "-F" },
	{ "-V", "envid", "RCPT TO:<evil@d.test>", "-V" },
	{ "-N", "success", "RCPT TO:<evil@d.test>", "-N" },
	{ NULL, "u@d.test", "RCPT TO:<evil@d.test>", "address" },
};

static const char *const breaks[] = { "\r\n", "\n", "\r" };

#define NOPTS		(sizeof(opts) / sizeof(opts[0]))
#define NBREAKS		(sizeof(breaks) / sizeof(breaks[0]))

ParameterizedTestParameters(smuggle, argument)
{
	static size_t ix[NOPTS * NBREAKS];

	return row_indexes(ix, NOPTS * NBREAKS);
}

/*
 * A line break in an option's value or a recipient: refused (64) before
 * anything is sent, by an error line that names the option and does not
 * reproduce the break (no line of stderr starts with the injection).
 */
ParameterizedTest(const size_t *ix, smuggle, argument)
{
	const struct opt_case *o = &opts[*ix / NBREAKS];
	const char *argv[8], *nl;
	char	 value[200], injected[80];
	int	 argc = 0;

	snprintf(value, sizeof(value), "%s%s%s", o->before,
	    breaks[*ix % NBREAKS], o->after);
	cr_log_info("%s with %s", o->names, row_show(breaks[*ix % NBREAKS]));
	start_relay(0);
	argv[argc++] = "sendmail";
	if (o->opt != NULL) {
		argv[argc++] = o->opt;
		argv[argc++] = value;
	}
	argv[argc++] = o->opt != NULL ? "u@d.test" : value;
	argv[argc] = NULL;
	cr_assert_eq(run(argv, BODY_MSG, strlen(BODY_MSG)), 64, "%s%s",
	    row_show(value), ev());
	nl = strchr(res.err, '\n');
	cr_assert(nl != NULL && memmem(res.err, (size_t)(nl - res.err),
	    o->names, strlen(o->names)) != NULL,
	    "the first line does not name %s%s", o->names, ev());
	snprintf(injected, sizeof(injected), "\n%s", o->after);
	cr_assert(strchr(res.err, '\r') == NULL &&
	    strstr(res.err, injected) == NULL && strncmp(res.err, o->after,
	    strlen(o->after)) != 0, "stderr reproduces the line break%s",
	    ev());
	cr_assert_eq(nsess(relayrec), 0, "a session%s", ev());
}

static const struct alias_case {
	const char	*name;
	const char	*file;		/* the aliases file */
	size_t		 len;
	int		 status;
	int		 delivered;	/* u@d.test got it */
} aliases[] = {
	{ "CR in the only target", "al: u@d.test\rRCPT TO:<evil@d.test>\n",
	    0, 67, 0 },
	{ "CR in a quoted target", "al: \"u\rRCPT TO:<evil@d.test>\"@d.test\n",
	    0, 67, 0 },
	{ "CR in a second target",
	    "al: u@d.test, v@d.test\rRCPT TO:<evil@d.test>\n", 0, 67, 1 },
	{ "CR in a continuation line",
	    "al: u@d.test,\n v@d.test\rRCPT TO:<evil@d.test>\n", 0, 67, 1 },
	/* SPEC §4: a malformed aliases file is a configuration error. */
	{ "NUL in a target", "al: u@d.test\0RCPT TO:<evil@d.test>\n", 36,
	    78, 0 },
};

ROW_PARAMETERS(smuggle, alias, aliases);

/*
 * CR or NUL in an alias target: that target fails (67), or the file is
 * refused (78); the other targets are delivered, and nothing injected
 * reaches the wire.
 */
ParameterizedTest(const size_t *ix, smuggle, alias)
{
	const struct alias_case *a = &aliases[*ix];
	const char *argv[] = { "sendmail", "-f", "s@test.example", "al",
	    NULL };
	FILE	*f;

	cr_log_info("%s", a->name);
	start_relay(0);
	f = fopen(re.aliases, "w");
	cr_assert_not_null(f);
	fwrite(a->file, 1, a->len ? a->len : strlen(a->file), f);
	fclose(f);
	cr_assert_eq(run(argv, BODY_MSG, strlen(BODY_MSG)), a->status,
	    "%s%s", a->name, ev());
	assert_clean_commands();
	cr_assert_eq(delivered_at(relayrec, NULL, "u@d.test") != 0,
	    a->delivered, "u@d.test %s%s", a->delivered ? "not delivered" :
	    "delivered", ev());
}

/* A bare CR in a header address (-t) splits no RCPT off it. */
Test(smuggle, header_address)
{
	const char *argv[] = { "sendmail", "-t", "-f", "s@test.example",
	    NULL };
	const char *msg = "To: u@d.test\rRCPT TO:<evil@d.test>\n"
	    "Subject: x\n\nbody\n";
	char	*env;

	start_relay(0);
	cr_assert_eq(run(argv, msg, strlen(msg)), 0, "%s", ev());
	assert_clean_commands();
	env = record("env-1", NULL);
	cr_assert(env != NULL && strstr(env, "accepted <u@d.test>") != NULL,
	    "u@d.test not delivered%s", ev());
	free(env);
}
