/*
 * test_cli.c: the real mxsend binary, as cron, PHP and scripts run it:
 * exit codes of SPEC §3 for the command line, configuration and message
 * errors, -C honoured only for root or in config_directories (SPEC §2),
 * -v's envelope print, and that a message that is not delivered is
 * queued (SPEC §7) with the header edits of SPEC §5.4, or kept in
 * dead.letter when it is refused (NUL, mail loop).
 */
#include "autoconf.h"

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "run.h"

static struct run_env re;
static struct run_result res;

static void
setup(void)
{
	/* alarm, not .timeout: Criterion's timer leaks under LeakSanitizer. */
	run_alarm(60);
	run_env_setup(&re);
}

static void
teardown(void)
{
	run_result_free(&res);
	run_env_cleanup(&re);
}

TestSuite(cli, .init = setup, .fini = teardown);

static int
run(const char *const argv[], const char *input, const char *const env[])
{
	cr_assert_eq(run_mxsend(&re, argv, input, input ? strlen(input) : 0,
	    env, 20, &res), 0, "could not run %s", mxsend_path());
	cr_assert(!res.timed_out, "mxsend did not finish in time");
	return res.status;
}

static char *
dead_letter(void)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/dead.letter", re.dir);
	return slurp(path, NULL);
}

Test(cli, help_prints_usage_on_stdout)
{
	const char *argv[] = { "sendmail", "--help", NULL };

	cr_assert_eq(run(argv, NULL, NULL), 0);
	cr_assert(strstr(res.out, "sage") != NULL, "stdout: %s", res.out);
	cr_assert_eq(res.errlen, 0, "stderr: %s", res.err);
}

Test(cli, version)
{
	const char *argv[] = { "mxsend", "--version", NULL };

	cr_assert_eq(run(argv, NULL, NULL), 0);
	cr_assert(strstr(res.out, "mxsend " PACKAGE_VERSION) != NULL,
	    "stdout: %s", res.out);
}

Test(cli, unknown_option_is_usage_error)
{
	const char *argv[] = { "sendmail", "-Z", "a@b.example", NULL };

	cr_assert_eq(run(argv, "x\n", NULL), 64);
	cr_assert(strstr(res.err, "-Z") != NULL, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "sage") != NULL, "no usage: %s", res.err);
}

Test(cli, unsupported_mode_is_usage_error)
{
	const char *argv[] = { "sendmail", "-bd", NULL };

	cr_assert_eq(run(argv, NULL, NULL), 64);
	cr_assert(strstr(res.err, "-bd") != NULL, "stderr: %s", res.err);
}

Test(cli, recipient_starting_with_dash_refused_after_double_dash)
{
	const char *argv[] = { "sendmail", "-i", "--", "-oQ/tmp", NULL };

	cr_assert_eq(run(argv, "Subject: x\n\nbody\n", NULL), 64);
	cr_assert(strstr(res.err, "-oQ/tmp") != NULL, "stderr: %s", res.err);
	cr_assert_null(dead_letter(), "nothing must be accepted");
}

Test(cli, no_recipients_is_usage_error)
{
	const char *argv[] = { "sendmail", "-t", NULL };

	cr_assert_eq(run(argv, "Subject: no one\n\nbody\n", NULL), 64);
	cr_assert(strstr(res.err, "no recipients") != NULL, "stderr: %s",
	    res.err);
}

Test(cli, nul_byte_refused_with_65_and_kept)
{
	static const char msg[] = "To: a@b.example\n\nbody\0with nul\n";
	const char *argv[] = { "sendmail", "-t", NULL };
	char *dl;

	cr_assert_eq(run_mxsend(&re, argv, msg, sizeof(msg) - 1, NULL, 20,
	    &res), 0);
	cr_assert_eq(res.status, 65, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "NUL") != NULL, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "dead.letter") != NULL, "stderr: %s",
	    res.err);
	dl = dead_letter();
	cr_assert_not_null(dl, "the refused message must be kept");
	cr_assert(strstr(dl, "To: a@b.example") != NULL, "%s", dl);
	free(dl);
}

static char *
with_received(int n)
{
	size_t cap = (size_t)n * 64 + 128;
	char *s = malloc(cap);
	int i;

	cr_assert_not_null(s);
	s[0] = '\0';
	for (i = 0; i < n; i++) {
		char line[64];

		snprintf(line, sizeof(line),
		    "Received: from h%d.example by x; Tue, 1 Dec 2026\n", i);
		strcat(s, line);
	}
	strcat(s, "To: a@b.example\nSubject: loop\n\nbody\n");
	return s;
}

Test(cli, more_than_50_received_is_a_loop)
{
	const char *argv[] = { "sendmail", "-t", NULL };
	char *msg = with_received(51);
	char *dl;

	cr_assert_eq(run(argv, msg, NULL), 65, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "loop") != NULL, "stderr: %s", res.err);
	dl = dead_letter();
	cr_assert_not_null(dl, "a looping message is kept");
	free(dl);
	free(msg);
}

Test(cli, fifty_received_is_not_a_loop)
{
	const char *argv[] = { "sendmail", "-t", NULL };
	char *msg = with_received(50);

	cr_assert_neq(run(argv, msg, NULL), 65, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "loop") == NULL, "stderr: %s", res.err);
	free(msg);
}

Test(cli, bad_config_value_in_environment_is_78)
{
	const char *argv[] = { "sendmail", "a@b.example", NULL };
	const char *env[] = { "MXSEND_TIMEOUT_CONNECT=soon", NULL };

	cr_assert_eq(run(argv, "x\n", env), 78);
	cr_assert(strstr(res.err, "MXSEND_TIMEOUT_CONNECT") != NULL,
	    "stderr: %s", res.err);
}

Test(cli, bad_config_line_names_file_and_line)
{
	const char *argv[] = { "sendmail", "-C", NULL, "a@b.example", NULL };
	const char *conf;
	char want[600];

	/* Listed, so that -C is honoured whoever runs the tests. */
	snprintf(want, sizeof(want), "config_directories %s\n", re.dir);
	run_env_file(&re, "mxsend.conf", want, 0600);
	conf = run_env_file(&re, "bad.conf",
	    "# comment\nmx_port 2525\nno_such_key 1\n", 0600);
	argv[2] = conf;
	snprintf(want, sizeof(want), "%s:3", conf);
	cr_assert_eq(run(argv, "x\n", NULL), 78);
	cr_assert(strstr(res.err, want) != NULL, "want %s in: %s", want,
	    res.err);
}

Test(cli, config_check_masks_the_password)
{
	const char *argv[] = { "sendmail", "--config-check", NULL };
	const char *env[] = {
	    "MXSEND_RELAY=smtp://alice:s3cr3tpw@relay.example:587", NULL };

	cr_assert_eq(run(argv, NULL, env), 0, "stderr: %s", res.err);
	cr_assert(strstr(res.out, "relay.example") != NULL, "%s", res.out);
	cr_assert(strstr(res.out, "s3cr3tpw") == NULL, "password shown: %s",
	    res.out);
	cr_assert(strstr(res.out, "***") != NULL, "%s", res.out);
}

/* An administrator sees which file the settings came from. */
Test(cli, config_check_names_the_file_it_read)
{
	const char *argv[] = { "sendmail", "--config-check", NULL };
	char want[600];

	snprintf(want, sizeof(want), "# configuration file: %s\n", re.conf);
	cr_assert_eq(run(argv, NULL, NULL), 0, "stderr: %s", res.err);
	cr_assert_eq(strncmp(res.out, want, strlen(want)), 0, "stdout: %s",
	    res.out);
}

/* SPEC §4: --config-check shows every relay of the list, no password. */
Test(cli, config_check_shows_every_relay)
{
	const char *argv[] = { "sendmail", "--config-check", NULL };
	const char *env[] = { "MXSEND_RELAY=smtps://alice:s3cr3tpw@"
	    "smtp.first.example, smtp://backup.example:2525", NULL };

	cr_assert_eq(run(argv, NULL, env), 0, "stderr: %s", res.err);
	cr_assert(strstr(res.out, "relay smtps://alice:***@smtp.first.example:"
	    "465 smtp://backup.example:2525\n") != NULL, "%s", res.out);
	cr_assert(strstr(res.out, "s3cr3tpw") == NULL, "password shown: %s",
	    res.out);
}

/*
 * A list with one bad URL: 78, naming the file, the line, and which URL
 * (its place and its text), never its password.
 */
Test(cli, relay_list_with_a_bad_url_is_78_naming_it)
{
	const char *argv[] = { "sendmail", "--config-check", NULL };
	char want[400];

	run_env_file(&re, "mxsend.conf", "# two providers\nmx_port 2525\n"
	    "relay smtp://a.example smtps://bob:s3cr3tpw@b.example:99999\n",
	    0600);
	snprintf(want, sizeof(want), "%s:3: bad value for relay: relay 2 of "
	    "2, 'smtps://bob:***@b.example:99999' (the port must be "
	    "1-65535)", re.conf);
	cr_assert_eq(run(argv, NULL, NULL), 78, "stderr: %s", res.err);
	cr_assert(strstr(res.err, want) != NULL, "want %s in: %s", want,
	    res.err);
	cr_assert(strstr(res.err, "s3cr3tpw") == NULL, "password shown: %s",
	    res.err);
}

Test(cli, group_readable_password_file_is_refused)
{
	const char *argv[] = { "sendmail", "--config-check", NULL };
	const char *pw = run_env_file(&re, "pw", "secret\n", 0644);
	char var[600];
	const char *env[] = { "MXSEND_RELAY=smtp://alice@relay.example",
	    var, NULL };

	snprintf(var, sizeof(var), "MXSEND_RELAY_PASSWORD_FILE=%s", pw);
	cr_assert_eq(run(argv, NULL, env), 78, "stderr: %s", res.err);
	cr_assert(strstr(res.err, pw) != NULL, "stderr: %s", res.err);
}

Test(cli, php_injection_options_are_ignored_with_a_warning)
{
	const char *argv[] = { "sendmail", "-t", "-i", "-X/tmp/shell.php",
	    "-OQueueDirectory=/tmp", "-fwww@site.example", NULL };
	struct stat st;

	run(argv, "To: a@b.example\nSubject: x\n\nhi\n", NULL);
	cr_assert(strstr(res.err, "-X") != NULL, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "QueueDirectory") != NULL, "stderr: %s",
	    res.err);
	cr_assert_neq(stat("/tmp/shell.php", &st), 0,
	    "-X must not create a file");
}

/*
 * SPEC §2, §10: PHP's mail() passes its fifth argument to sendmail, so a
 * web user who can upload a file could name it with -C and choose the
 * log file (CVE-2016-10033 class). -C is only for root and for the
 * directories the default file lists in config_directories.
 */
static void
as_nobody(void)
{
	struct passwd *pw;

	if (getuid() != 0)
		cr_skip_test("needs root to run mxsend as another user");
	if ((pw = getpwnam("nobody")) == NULL)
		cr_skip_test("no user nobody");
	run_env_as_user(&re, (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
}

/* $dir/name, a directory anyone may write, as a web upload area is. */
static const char *
open_dir(const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", re.dir, name);
	cr_assert_eq(mkdir(path, 0777), 0, "mkdir %s", path);
	cr_assert_eq(chmod(path, 0777), 0);
	return path;
}

Test(cli, injected_C_is_refused_for_other_users)
{
	const char *argv[] = { "sendmail", "-t", "-i", NULL,
	    "-f\"<?php system($_GET[c]); ?>\"@x", NULL };
	/* The harness's MXSEND_LOG=none would hide the file's log. */
	const char *env[] = { "MXSEND_LOG=", NULL };
	char up[400], logp[500], text[600], opt[600], want[1200];
	const char *conf;
	struct stat st;

	as_nobody();
	open_dir("uploads", up, sizeof(up));
	snprintf(logp, sizeof(logp), "%s/shell.php", up);
	snprintf(text, sizeof(text), "log %s\n", logp);
	conf = run_env_file(&re, "uploads/x.conf", text, 0644);
	snprintf(opt, sizeof(opt), "-C%s", conf);
	argv[3] = opt;
	run(argv, "To: a@b.example\nSubject: x\n\nhi\n", env);
	cr_assert_neq(lstat(logp, &st), 0, "the log file was written; "
	    "stderr: %s", res.err);
	cr_assert_eq(res.status, 78, "stderr: %s", res.err);
	snprintf(want, sizeof(want), "mxsend: -C %s: not honoured for uid %u "
	    "(only root, or a directory listed by config_directories in %s); "
	    "set MXSEND_CONFIG=%s instead\n", conf, re.uid, re.conf, conf);
	cr_assert_str_eq(res.err, want);
	/* Refused before the message is read: nothing written anywhere. */
	cr_assert_null(queued_message(re.queue, re.uid), "a message was "
	    "queued");
	cr_assert_null(dead_letter(), "a message was kept");
}

Test(cli, C_in_a_listed_directory_is_honoured_for_other_users)
{
	const char *argv[] = { "sendmail", "--config-check", "-C", NULL,
	    NULL };
	char dir[400], text[600], line[600];
	const char *conf;

	as_nobody();
	open_dir("conf.d", dir, sizeof(dir));
	snprintf(text, sizeof(text), "config_directories /nonexistent, %s\n",
	    dir);
	run_env_file(&re, "mxsend.conf", text, 0644);
	conf = run_env_file(&re, "conf.d/x.conf", "mx_port 2626\n", 0644);
	argv[3] = conf;
	cr_assert_eq(run(argv, NULL, NULL), 0, "stderr: %s", res.err);
	cr_assert(strstr(res.out, "mx_port 2626\n") != NULL, "stdout: %s",
	    res.out);
	snprintf(line, sizeof(line), "config_directories /nonexistent %s\n",
	    dir);
	cr_assert(strstr(res.out, line) != NULL, "stdout: %s", res.out);
	run_result_free(&res);

	/* The same directory through "..": resolved, so still honoured. */
	snprintf(text, sizeof(text), "%s/../conf.d/x.conf", dir);
	argv[3] = text;
	cr_assert_eq(run(argv, NULL, NULL), 0, "stderr: %s", res.err);
	cr_assert(strstr(res.out, "mx_port 2626\n") != NULL, "stdout: %s",
	    res.out);
	run_result_free(&res);

	/* A file next to the default one is not in conf.d: refused. */
	conf = run_env_file(&re, "other.conf", "mx_port 2727\n", 0644);
	argv[3] = conf;
	cr_assert_eq(run(argv, NULL, NULL), 78, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "MXSEND_CONFIG=") != NULL, "stderr: %s",
	    res.err);
	cr_assert_eq(res.outlen, 0, "stdout: %s", res.out);
}

Test(cli, C_is_honoured_for_root)
{
	const char *argv[] = { "sendmail", "--config-check", "-C", NULL,
	    NULL };
	char up[400];
	const char *conf;

	if (getuid() != 0)
		cr_skip_test("needs root");
	open_dir("uploads", up, sizeof(up));
	conf = run_env_file(&re, "uploads/x.conf",
	    "mx_port 2626\nmessage_size_limit 10m\n", 0644);
	argv[3] = conf;
	cr_assert_eq(run(argv, NULL, NULL), 0, "stderr: %s", res.err);
	cr_assert(strstr(res.out, "mx_port 2626\n") != NULL, "stdout: %s",
	    res.out);
	cr_assert(strstr(res.out, "message_size_limit 10m\n") != NULL,
	    "stdout: %s", res.out);
}

Test(cli, config_directories_outside_the_default_file_is_78)
{
	const char *argv[] = { "sendmail", "--config-check", NULL };
	const char *cargv[] = { "sendmail", "--config-check", "-C", NULL,
	    NULL };
	const char *env[] = { "MXSEND_CONFIG_DIRECTORIES=/etc/mxsend.d",
	    NULL };
	char text[600], want[800];

	cr_assert_eq(run(argv, NULL, env), 78, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "MXSEND_CONFIG_DIRECTORIES: "
	    "config_directories is read from the default configuration file "
	    "only") != NULL, "stderr: %s", res.err);
	run_result_free(&res);

	/* In a -C file that is itself honoured (its directory is listed). */
	snprintf(text, sizeof(text), "config_directories %s\n", re.dir);
	run_env_file(&re, "mxsend.conf", text, 0644);
	cargv[3] = run_env_file(&re, "c.conf",
	    "mx_port 2626\nconfig_directories /etc/mxsend.d\n", 0644);
	snprintf(want, sizeof(want), "mxsend: %s:2: config_directories is "
	    "read from the default configuration file only", cargv[3]);
	cr_assert_eq(run(cargv, NULL, NULL), 78, "stderr: %s", res.err);
	cr_assert(strncmp(res.err, want, strlen(want)) == 0, "stderr: %s",
	    res.err);
}

Test(cli, message_size_limit_bad_value_is_78)
{
	const char *argv[] = { "sendmail", "--config-check", NULL };
	const char *env[] = { "MXSEND_MESSAGE_SIZE_LIMIT=64q", NULL };

	cr_assert_eq(run(argv, NULL, env), 78, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "MXSEND_MESSAGE_SIZE_LIMIT: bad value for "
	    "message_size_limit: '64q'") != NULL, "stderr: %s", res.err);
}

Test(cli, message_size_limit_default_is_shown)
{
	const char *argv[] = { "sendmail", "--config-check", NULL };

	cr_assert_eq(run(argv, NULL, NULL), 0, "stderr: %s", res.err);
	cr_assert(strstr(res.out, "message_size_limit 64m\n") != NULL,
	    "stdout: %s", res.out);
}

Test(cli, verbose_prints_the_envelope_grouped_by_domain)
{
	const char *argv[] = { "sendmail", "-v", "-t", "-f", "me@src.example",
	    "extra@B.example", NULL };
	const char *msg = "To: One <one@b.example>, two@a.example\n"
	    "Cc: \"Three, Esq.\" <three@B.EXAMPLE>\n"
	    "Bcc: hidden@c.example\n"
	    "Subject: hello\n\nbody\n";
	const char *pa, *pb, *pc;

	run(argv, msg, NULL);
	cr_assert(strstr(res.err, "sender <me@src.example>") != NULL,
	    "stderr: %s", res.err);
	pa = strstr(res.err, "domain a.example: 1 recipient");
	pb = strstr(res.err, "domain b.example: 3 recipients");
	pc = strstr(res.err, "domain c.example: 1 recipient");
	cr_assert(pa && pb && pc, "stderr: %s", res.err);
	cr_assert(pa < pb && pb < pc, "domains not sorted: %s", res.err);
	cr_assert(strstr(res.err, "<three@b.example>") != NULL, "%s", res.err);
	cr_assert(strstr(res.err, "<hidden@c.example>") != NULL, "%s", res.err);
}

/* The message of the only queue entry, as it would go on the wire. */
static char *
queued(void)
{
	return queued_message(re.queue, (unsigned)getuid());
}

Test(cli, queued_message_has_the_header_edits)
{
	const char *argv[] = { "sendmail", "-t", "-F", "Cron Daemon", NULL };
	const char *msg = "To: a@b.example\nBcc: secret@c.example\n"
	    "Subject: s\n\nbody line\n";
	char *q;

	/* The name server is a closed port: deferred, so queued. */
	cr_assert_eq(run(argv, msg, NULL), 75, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "queued") != NULL, "stderr: %s", res.err);
	q = queued();
	cr_assert_not_null(q, "no queue entry; stderr: %s", res.err);
	cr_assert(strncmp(q, "Received: ", 10) == 0, "%s", q);
	cr_assert(strstr(q, "\r\nDate: ") != NULL, "%s", q);
	cr_assert(strstr(q, "\r\nMessage-ID: <") != NULL, "%s", q);
	cr_assert(strstr(q, "\r\nFrom: \"Cron Daemon\" <") != NULL ||
	    strstr(q, "\r\nFrom: Cron Daemon <") != NULL, "%s", q);
	cr_assert(strstr(q, "Bcc") == NULL, "Bcc kept: %s", q);
	cr_assert(strstr(q, "secret@c.example") == NULL, "%s", q);
	cr_assert(strstr(q, "\r\n\r\nbody line\r\n") != NULL, "%s", q);
	cr_assert_null(dead_letter(), "queued, so not in dead.letter");
	free(q);
}

Test(cli, lone_dot_ends_the_message_unless_i)
{
	const char *argv[] = { "sendmail", "a@b.example", NULL };
	const char *argv_i[] = { "sendmail", "-i", "a@b.example", NULL };
	const char *msg = "Subject: dot\n\nfirst\n.\nsecond\n";
	char *q, cmd[600];

	run(argv, msg, NULL);
	q = queued();
	cr_assert_not_null(q, "stderr: %s", res.err);
	cr_assert(strstr(q, "first") != NULL);
	cr_assert(strstr(q, "second") == NULL, "read past the dot: %s", q);
	free(q);
	run_result_free(&res);
	snprintf(cmd, sizeof(cmd), "rm -f %s/%u/*", re.queue,
	    (unsigned)getuid());
	cr_assert_eq(system(cmd), 0);
	run(argv_i, msg, NULL);
	q = queued();
	cr_assert_not_null(q);
	cr_assert(strstr(q, "\r\n.\r\nsecond\r\n") != NULL, "-i: %s", q);
	free(q);
}

Test(cli, sender_with_line_break_is_refused)
{
	const char *argv[] = { "sendmail", "-f", "a@b.example\r\nRCPT TO:<x@y>",
	    "c@d.example", NULL };

	cr_assert_eq(run(argv, "x\n", NULL), 64, "stderr: %s", res.err);
	cr_assert_null(dead_letter());
}

Test(cli, bad_command_line_address_is_usage_error)
{
	const char *argv[] = { "sendmail", "good@b.example",
	    "bad@@x.example", NULL };

	cr_assert_eq(run(argv, "x\n", NULL), 64, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "bad@@x.example") != NULL, "stderr: %s",
	    res.err);
}

Test(cli, bad_header_address_fails_that_recipient_only)
{
	const char *argv[] = { "sendmail", "-t", "-v", NULL };
	const char *msg = "To: ok@b.example, \"unbalanced@x.example\n"
	    "Subject: s\n\nbody\n";

	cr_assert_eq(run(argv, msg, NULL), 67, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "unbalanced") != NULL, "stderr: %s",
	    res.err);
	cr_assert(strstr(res.err, "<ok@b.example>") != NULL, "stderr: %s",
	    res.err);
}

Test(cli, quiet_error_mode_prints_no_recipient_lines)
{
	const char *argv[] = { "sendmail", "-t", "-oeq", NULL };
	const char *msg = "To: ok@b.example, \"unbalanced@x.example\n\nb\n";

	cr_assert_eq(run(argv, msg, NULL), 67, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "unbalanced") == NULL, "stderr: %s",
	    res.err);
}

Test(cli, newaliases_counts_aliases)
{
	const char *argv[] = { "newaliases", NULL };

	run_env_file(&re, "aliases",
	    "# system aliases\npostmaster: root\nroot: admin@ops.example,\n"
	    "  backup@ops.example\n", 0644);
	cr_assert_eq(run(argv, NULL, NULL), 0, "stderr: %s", res.err);
	cr_assert(strstr(res.out, "2 aliases") != NULL, "stdout: %s", res.out);
}

Test(cli, newaliases_reports_a_bad_line)
{
	const char *argv[] = { "sendmail", "-bi", NULL };
	char want[400];

	run_env_file(&re, "aliases", "postmaster: root\nthis line is bad\n",
	    0644);
	snprintf(want, sizeof(want), "%s:2", re.aliases);
	cr_assert_eq(run(argv, NULL, NULL), 78, "stderr: %s", res.err);
	cr_assert(strstr(res.err, want) != NULL, "want %s: %s", want, res.err);
}

Test(cli, alias_to_a_command_is_refused_with_69)
{
	const char *argv[] = { "sendmail", "-t", NULL };

	run_env_file(&re, "aliases", "bin: \"|/bin/sh -c id\"\n", 0644);
	cr_assert_eq(run(argv, "To: bin\n\nbody\n", NULL), 69, "stderr: %s",
	    res.err);
	cr_assert(strstr(res.err, "bin") != NULL, "stderr: %s", res.err);
}

/* "Request" lines of a mailq listing: entries listed. */
static int
listed(const char *out)
{
	const char *p = strstr(out, "Kbytes in ");

	return p != NULL ? atoi(p + 10) : 0;
}

/*
 * SPEC §7: any user can queue into the 1733 queue_dir, nobody can read or
 * run another user's entries, root runs them all. Needs root to switch
 * to the unprivileged user.
 */
Test(cli, queue_is_per_user)
{
	const char *argv[] = { "sendmail", "-t", NULL };
	const char *bp[] = { "mailq", NULL };
	const char *q[] = { "sendmail", "-q", NULL };
	const char *msg = "To: a@b.example\nSubject: mine\n\nbody\n";
	char path[600], cmd[700];
	struct stat st, st2;
	struct passwd *pw;
	time_t before;

	if (getuid() != 0)
		cr_skip_test("needs root to run mxsend as another user");
	if ((pw = getpwnam("nobody")) == NULL)
		cr_skip_test("no user nobody");
	/* root's message, deferred (no name server): queued in queue/0. */
	cr_assert_eq(run(argv, msg, NULL), 75, "stderr: %s", res.err);
	run_result_free(&res);

	run_env_as_user(&re, (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
	cr_assert_eq(run(bp, NULL, NULL), 0, "stderr: %s", res.err);
	cr_assert(strstr(res.out, "Mail queue is empty") != NULL,
	    "another user sees root's entry: %s", res.out);
	run_result_free(&res);

	/* Their own message goes to queue/UID, private to them. */
	cr_assert_eq(run(argv, msg, NULL), 75, "stderr: %s", res.err);
	run_result_free(&res);
	snprintf(path, sizeof(path), "%s/%u", re.queue, re.uid);
	cr_assert_eq(lstat(path, &st), 0, "no %s", path);
	cr_assert_eq(st.st_uid, pw->pw_uid);
	cr_assert_eq(st.st_mode & 0777, 0700, "mode %o", st.st_mode & 0777);
	cr_assert_eq(run(bp, NULL, NULL), 0);
	cr_assert_eq(listed(res.out), 1, "their own entry only: %s", res.out);
	run_result_free(&res);

	/* Their -q leaves root's entry alone (not even read). */
	snprintf(path, sizeof(path), "%s/0", re.queue);
	snprintf(cmd, sizeof(cmd), "ls %s/*.env >/dev/null", path);
	cr_assert_eq(system(cmd), 0);
	before = time(NULL);
	sleep(1);
	cr_assert_eq(run(q, NULL, NULL), 0, "stderr: %s", res.err);
	run_result_free(&res);
	cr_assert_eq(stat(path, &st2), 0);
	cr_assert(st2.st_mtime < before + 1, "root's queue was touched");

	/* root sees and may run both. */
	re.as_user = 0;
	cr_assert_eq(run(bp, NULL, NULL), 0);
	cr_assert_eq(listed(res.out), 2, "root lists every user: %s",
	    res.out);
}

/*
 * A full queue_dir (a 16 KiB tmpfs filled up): the entry goes to
 * $HOME/.mxsend/queue instead, with a warning; when that cannot be made
 * either, the undeliverable message goes to dead.letter with exit 73,
 * named on stderr. Needs root to mount the tmpfs.
 */
static int
mount_full(char *mnt, size_t len)
{
	char path[700], block[4096];
	int fd;

	snprintf(mnt, len, "%s/full", re.dir);
	if (mkdir(mnt, 01733) != 0)
		return -1;
	snprintf(path, sizeof(path), "mount -t tmpfs -o size=16k,mode=1733 "
	    "tmpfs %s 2>/dev/null", mnt);
	if (getuid() != 0 || system(path) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/filler", mnt);
	memset(block, 'x', sizeof(block));
	if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) < 0)
		return -1;
	while (write(fd, block, sizeof(block)) > 0)
		;
	close(fd);
	/* The user directory exists already: only data fails to fit. */
	snprintf(path, sizeof(path), "%s/%u", mnt, (unsigned)getuid());
	(void)mkdir(path, 0700);
	return 0;
}

static void
umount_full(const char *mnt)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "umount %s", mnt);
	(void)system(cmd);
}

Test(cli, full_queue_dir_falls_back_to_home_queue)
{
	const char *argv[] = { "sendmail", "-t", NULL };
	const char *msg = "To: a@b.example\nSubject: full\n\nbody\n";
	char mnt[600], var[700], home[700];
	const char *env[2];
	char *q;

	if (mount_full(mnt, sizeof(mnt)) != 0)
		cr_skip_test("cannot mount a tmpfs (needs root)");
	snprintf(var, sizeof(var), "MXSEND_QUEUE_DIR=%s", mnt);
	env[0] = var;
	env[1] = NULL;
	run(argv, msg, env);
	umount_full(mnt);
	cr_assert_eq(res.status, 75, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "warning") != NULL &&
	    strstr(res.err, ".mxsend/queue") != NULL, "stderr: %s", res.err);
	snprintf(home, sizeof(home), "%s/.mxsend/queue", re.dir);
	q = queued_message(home, (unsigned)getuid());
	cr_assert_not_null(q, "not in the home queue; stderr: %s", res.err);
	cr_assert(strstr(q, "Subject: full") != NULL);
	free(q);
}

Test(cli, no_queue_at_all_keeps_the_message_in_dead_letter)
{
	const char *argv[] = { "sendmail", "-t", NULL };
	const char *msg = "To: a@b.example\nSubject: nowhere\n\nbody\n";
	char mnt[600], var[700];
	const char *env[2];
	char *dl;

	if (mount_full(mnt, sizeof(mnt)) != 0)
		cr_skip_test("cannot mount a tmpfs (needs root)");
	/* $HOME/.mxsend is a file: no home queue either. */
	run_env_file(&re, ".mxsend", "not a directory\n", 0600);
	snprintf(var, sizeof(var), "MXSEND_QUEUE_DIR=%s", mnt);
	env[0] = var;
	env[1] = NULL;
	run(argv, msg, env);
	umount_full(mnt);
	cr_assert_eq(res.status, 73, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "not durable") != NULL, "stderr: %s",
	    res.err);
	cr_assert(strstr(res.err, "dead.letter") != NULL, "stderr: %s",
	    res.err);
	dl = dead_letter();
	cr_assert_not_null(dl, "stderr: %s", res.err);
	cr_assert(strstr(dl, "Subject: nowhere") != NULL, "%s", dl);
	free(dl);
}

/*
 * root's -q expires another user's message and cannot keep it in their
 * dead.letter (nobody's home does not exist): the entry stays in the
 * queue rather than vanish, and stderr says where it is.
 */
Test(cli, unsaveable_failure_stays_in_the_queue)
{
	const char *argv[] = { "sendmail", "-t", NULL };
	const char *q[] = { "sendmail", "-q", NULL };
	const char *env[] = { "MXSEND_QUEUE_LIFETIME=1", NULL };
	const char *msg = "To: a@b.example\nSubject: stays\n\nbody\n";
	struct passwd *pw;
	char *m;

	if (getuid() != 0)
		cr_skip_test("needs root to run mxsend as another user");
	if ((pw = getpwnam("nobody")) == NULL || pw->pw_dir == NULL ||
	    access(pw->pw_dir, F_OK) == 0)
		cr_skip_test("nobody has a home directory here");
	run_env_as_user(&re, (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
	cr_assert_eq(run(argv, msg, NULL), 75, "stderr: %s", res.err);
	run_result_free(&res);
	re.as_user = 0;
	sleep(2);
	cr_assert_eq(run(q, NULL, env), 0, "stderr: %s", res.err);
	cr_assert(strstr(res.err, "5.4.7") != NULL, "not expired: %s",
	    res.err);
	cr_assert(strstr(res.err, "NOT saved") != NULL, "stderr: %s",
	    res.err);
	cr_assert(strstr(res.err, "stays in the queue") != NULL, "stderr: %s",
	    res.err);
	m = queued_message(re.queue, re.uid);
	cr_assert_not_null(m, "the message is gone; stderr: %s", res.err);
	cr_assert(strstr(m, "Subject: stays") != NULL);
	free(m);
}

/*
 * The man page's SENDING THROUGH A PROVIDER examples are whole
 * configurations that --config-check accepts (issue 16): each .EX block
 * that starts with a key, /etc/mxsend/ moved to the test's directory
 * where the secret files are made (mode 0640).
 */
static char *
man_section(const char *title)
{
	char path[1024], *man, *start, *end;
	const char *src = getenv("top_srcdir");

	snprintf(path, sizeof(path), "%s/man/mxsend.8", src ? src : "..");
	man = slurp(path, NULL);
	cr_assert_not_null(man, "cannot read %s", path);
	start = strstr(man, title);
	cr_assert_not_null(start, "no section %s", title);
	end = strstr(start + 1, "\n.SH ");
	if (end != NULL)
		end[1] = '\0';
	memmove(man, start, strlen(start) + 1);
	return man;
}

/* One example as a configuration: "\-" unescaped, paths moved. */
static void
write_example(const char *ex, size_t len, const char *conf)
{
	FILE *f = fopen(conf, "w");
	size_t i;

	cr_assert_not_null(f);
	for (i = 0; i < len; i++) {
		if (ex[i] == '\\' && i + 1 < len && ex[i + 1] == '-')
			continue;
		if (strncmp(ex + i, "/etc/mxsend/", 12) == 0) {
			fprintf(f, "%s/", re.dir);
			i += 11;
			continue;
		}
		fputc(ex[i], f);
	}
	fclose(f);
}

Test(cli, provider_examples_pass_config_check)
{
	static const char *const secrets[] = { "relay.secret", "m365.token" };
	const char *argv[] = { "sendmail", "--config-check", NULL };
	char *man = man_section(".SH SENDING THROUGH A PROVIDER"), *p, *e;
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		run_env_file(&re, secrets[i], "token\n", 0640);
	for (p = man; (p = strstr(p, ".EX\n")) != NULL; p = e) {
		p += 4;
		e = strstr(p, ".EE\n");
		cr_assert_not_null(e, "unclosed .EX");
		if (strncmp(p, "relay", 5) != 0 && strncmp(p, "route", 5) != 0)
			continue;
		write_example(p, (size_t)(e - p), re.conf);
		run_result_free(&res);
		cr_assert_eq(run(argv, NULL, NULL), 0, "example %d:\n%.*s\n%s",
		    n + 1, (int)(e - p), p, res.err);
		cr_assert(strstr(res.out, "relay smtp") != NULL, "%s", res.out);
		n++;
	}
	cr_assert_geq(n, 7, "only %d examples", n);
	free(man);
}
