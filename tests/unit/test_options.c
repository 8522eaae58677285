/*
 * test_options.c: the sendmail command line (options.c, SPEC §2): every
 * row of both tables in attached and detached forms, bundles, the
 * argv[0] modes, the errors, and the invocations real programs make.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "options.h"

static struct options o;
static char err[256];
/*
 * The argument vector outlives the compound literal it is given in, as
 * a program's argv outlives option parsing: opts points into it.
 */
static char *args[64];

static int
parse_argv(char *argv[])
{
	int argc = 0;

	while (argv[argc] != NULL) {
		cr_assert_lt(argc, 63);
		args[argc] = argv[argc];
		argc++;
	}
	args[argc] = NULL;
	err[0] = '\0';
	return options_parse(&o, argc, args, err, sizeof(err));
}

/* PARSE("sendmail", "-t") with argv[0] first, as a program gets it. */
#define PARSE(...)	parse_argv((char *[]){ __VA_ARGS__, NULL })

#define OK(...)		cr_assert_eq(PARSE(__VA_ARGS__), 0, "error: %s", err)

#define FAILS(needle, ...) do {						\
	cr_assert_eq(PARSE(__VA_ARGS__), -1, "accepted");		\
	cr_assert(strstr(err, (needle)) != NULL,			\
	    "error '%s' does not mention '%s'", err, (needle));		\
} while (0)

static void
assert_rcpts(size_t n, size_t first)
{
	cr_assert_eq(o.nrcpts, n, "nrcpts %zu, want %zu", o.nrcpts, n);
	if (n > 0)
		cr_assert_eq(o.rcpts, args + first, "rcpts is not argv + %zu",
		    first);
}

static int
warned(const char *needle)
{
	size_t i;

	for (i = 0; i < o.nwarnings; i++)
		if (strstr(o.warnings[i], needle) != NULL)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ defaults */

Test(defaults, plain_recipient)
{
	OK("sendmail", "a@example.com");
	cr_assert_eq(o.mode, MODE_DELIVER);
	cr_assert_eq(o.extract, 0);
	cr_assert_eq(o.ignore_dots, 0);
	cr_assert_null(o.sender);
	cr_assert_null(o.fullname);
	cr_assert_eq(o.notify, 0);
	cr_assert_eq(o.ret, RET_UNSET);
	cr_assert_null(o.envid);
	cr_assert_eq(o.body, BODY_DETECT);
	cr_assert_eq(o.verbose, 0);
	cr_assert_null(o.config_file);
	cr_assert_eq(o.errmode, ERRMODE_PRINT);
	cr_assert_eq(o.delivmode, DELIV_NOW);
	cr_assert_eq(o.qselect, QSEL_ALL);
	cr_assert_null(o.qsubstr);
	cr_assert_eq(o.nwarnings, 0);
	assert_rcpts(1, 1);
	cr_assert_str_eq(o.rcpts[0], "a@example.com");
}

Test(defaults, no_arguments)
{
	OK("sendmail");
	cr_assert_eq(o.mode, MODE_DELIVER);
	cr_assert_eq(o.nrcpts, 0);
}

Test(defaults, argc_zero)
{
	char *argv[] = { NULL };

	cr_assert_eq(options_parse(&o, 0, argv, err, sizeof(err)), 0);
	cr_assert_eq(o.mode, MODE_DELIVER);
	cr_assert_eq(o.nrcpts, 0);
}

Test(defaults, state_is_reset_between_calls)
{
	OK("sendmail", "-t", "-i", "-fx@y", "-X", "/f", "a@b");
	OK("sendmail", "c@d");
	cr_assert_eq(o.extract, 0);
	cr_assert_eq(o.ignore_dots, 0);
	cr_assert_null(o.sender);
	cr_assert_eq(o.nwarnings, 0);
}

/* --------------------------------------------------------------- argv[0] */

Test(argv0, mailq)
{
	OK("mailq");
	cr_assert_eq(o.mode, MODE_PRINTQ);
}

Test(argv0, mailq_with_path)
{
	OK("/usr/sbin/mailq");
	cr_assert_eq(o.mode, MODE_PRINTQ);
}

Test(argv0, newaliases)
{
	OK("newaliases");
	cr_assert_eq(o.mode, MODE_NEWALIASES);
}

Test(argv0, newaliases_with_path)
{
	OK("/usr/bin/newaliases");
	cr_assert_eq(o.mode, MODE_NEWALIASES);
}

Test(argv0, sendmail_paths_deliver)
{
	OK("/usr/sbin/sendmail", "a@b");
	cr_assert_eq(o.mode, MODE_DELIVER);
	OK("/usr/lib/sendmail", "a@b");
	cr_assert_eq(o.mode, MODE_DELIVER);
	OK("mxsend", "a@b");
	cr_assert_eq(o.mode, MODE_DELIVER);
}

Test(argv0, only_the_basename_counts)
{
	OK("/opt/mailq/sendmail", "a@b");
	cr_assert_eq(o.mode, MODE_DELIVER);
	OK("mailq.sh");
	cr_assert_eq(o.mode, MODE_DELIVER);
	OK("xnewaliases");
	cr_assert_eq(o.mode, MODE_DELIVER);
}

Test(argv0, explicit_b_overrides)
{
	OK("/usr/sbin/mailq", "-bm", "a@b");
	cr_assert_eq(o.mode, MODE_DELIVER);
	OK("newaliases", "-bp");
	cr_assert_eq(o.mode, MODE_PRINTQ);
}

Test(argv0, mailq_general_options)
{
	OK("mailq", "-v", "-C", "/etc/mxsend.conf");
	cr_assert_eq(o.mode, MODE_PRINTQ);
	cr_assert_eq(o.verbose, 1);
	cr_assert_str_eq(o.config_file, "/etc/mxsend.conf");
}

Test(argv0, newaliases_general_options)
{
	OK("newaliases", "-C/etc/x.conf", "-v");
	cr_assert_eq(o.mode, MODE_NEWALIASES);
	cr_assert_eq(o.verbose, 1);
	cr_assert_str_eq(o.config_file, "/etc/x.conf");
}

/* ----------------------------------------------------------------- modes */

Test(modes, bm)
{
	OK("sendmail", "-bm", "a@b");
	cr_assert_eq(o.mode, MODE_DELIVER);
	assert_rcpts(1, 2);
}

Test(modes, bs)
{
	OK("sendmail", "-bs");
	cr_assert_eq(o.mode, MODE_SMTP);
}

Test(modes, bp)
{
	OK("sendmail", "-bp");
	cr_assert_eq(o.mode, MODE_PRINTQ);
}

Test(modes, bv)
{
	OK("sendmail", "-bv", "a@b");
	cr_assert_eq(o.mode, MODE_VERIFY);
	assert_rcpts(1, 2);
}

Test(modes, bv_verbose)
{
	OK("sendmail", "-v", "-bv", "a@b");
	cr_assert_eq(o.mode, MODE_VERIFY);
	cr_assert_eq(o.verbose, 1);
}

Test(modes, bi)
{
	OK("sendmail", "-bi");
	cr_assert_eq(o.mode, MODE_NEWALIASES);
}

Test(modes, b_detached)
{
	OK("sendmail", "-b", "s");
	cr_assert_eq(o.mode, MODE_SMTP);
	cr_assert_eq(o.nrcpts, 0);
}

Test(modes, last_mode_wins)
{
	OK("sendmail", "-bp", "-bs");
	cr_assert_eq(o.mode, MODE_SMTP);
}

Test(modes, bd_not_supported)
{
	FAILS("-bd is not supported", "sendmail", "-bd");
}

Test(modes, bD_not_supported)
{
	FAILS("-bD is not supported", "sendmail", "-bD");
}

Test(modes, bt_not_supported)
{
	FAILS("-bt is not supported", "sendmail", "-bt");
}

Test(modes, bh_not_supported)
{
	FAILS("-bh is not supported", "sendmail", "-bh");
}

Test(modes, bH_not_supported)
{
	FAILS("-bH is not supported", "sendmail", "-bH");
}

Test(modes, bd_detached_not_supported)
{
	FAILS("-bd is not supported", "sendmail", "-b", "d");
}

Test(modes, b_unknown_letter)
{
	FAILS("unknown option -bx", "sendmail", "-bx");
}

Test(modes, b_trailing_junk)
{
	FAILS("unknown option -bmx", "sendmail", "-bmx");
}

Test(modes, b_empty_detached)
{
	FAILS("unknown option -b", "sendmail", "-b", "");
}

Test(modes, b_missing)
{
	FAILS("option -b requires a value", "sendmail", "-b");
}

Test(modes, help)
{
	OK("sendmail", "--help");
	cr_assert_eq(o.mode, MODE_HELP);
}

Test(modes, version)
{
	OK("sendmail", "--version");
	cr_assert_eq(o.mode, MODE_VERSION);
}

Test(modes, config_check)
{
	OK("sendmail", "--config-check", "-C", "/tmp/x.conf");
	cr_assert_eq(o.mode, MODE_CONFIG_CHECK);
	cr_assert_str_eq(o.config_file, "/tmp/x.conf");
}

Test(modes, unknown_long_option)
{
	FAILS("unknown option --frobnicate", "sendmail", "--frobnicate");
}

Test(modes, long_option_prefix_is_not_enough)
{
	FAILS("unknown option --hel", "sendmail", "--hel");
	FAILS("unknown option --help=x", "sendmail", "--help=x");
}

/* ----------------------------------------------------------------- queue */

Test(queue, q_alone)
{
	OK("sendmail", "-q");
	cr_assert_eq(o.mode, MODE_RUNQ);
	cr_assert_eq(o.qselect, QSEL_ALL);
	cr_assert_null(o.qsubstr);
}

Test(queue, q_does_not_take_next_argument)
{
	/* -q takes an attached value only: "15m" is a recipient here. */
	OK("sendmail", "-q", "15m");
	cr_assert_eq(o.mode, MODE_RUNQ);
	assert_rcpts(1, 2);
}

Test(queue, q_time_ignored)
{
	OK("sendmail", "-q15m");
	cr_assert_eq(o.mode, MODE_RUNQ);
	cr_assert_eq(o.qselect, QSEL_ALL);
	OK("sendmail", "-q30");
	cr_assert_eq(o.mode, MODE_RUNQ);
	OK("sendmail", "-q1h30m");
	cr_assert_eq(o.mode, MODE_RUNQ);
	OK("sendmail", "-q2d");
	cr_assert_eq(o.mode, MODE_RUNQ);
	OK("sendmail", "-q1w");
	cr_assert_eq(o.mode, MODE_RUNQ);
	OK("sendmail", "-q10s");
	cr_assert_eq(o.mode, MODE_RUNQ);
}

Test(queue, q_bad_time)
{
	FAILS("-q15x", "sendmail", "-q15x");
	FAILS("-qm", "sendmail", "-qm");
}

Test(queue, q_unknown_letter)
{
	FAILS("-qf", "sendmail", "-qf");
}

Test(queue, qI)
{
	OK("sendmail", "-qI19A3F0");
	cr_assert_eq(o.mode, MODE_RUNQ);
	cr_assert_eq(o.qselect, QSEL_ID);
	cr_assert_str_eq(o.qsubstr, "19A3F0");
}

Test(queue, qR)
{
	OK("sendmail", "-qRexample.com");
	cr_assert_eq(o.mode, MODE_RUNQ);
	cr_assert_eq(o.qselect, QSEL_RCPT);
	cr_assert_str_eq(o.qsubstr, "example.com");
}

Test(queue, qS)
{
	OK("sendmail", "-qSroot@");
	cr_assert_eq(o.mode, MODE_RUNQ);
	cr_assert_eq(o.qselect, QSEL_SENDER);
	cr_assert_str_eq(o.qsubstr, "root@");
}

Test(queue, selector_needs_substring)
{
	FAILS("-qI requires a substring", "sendmail", "-qI");
	FAILS("-qR requires a substring", "sendmail", "-qR");
	FAILS("-qS requires a substring", "sendmail", "-qS");
}

Test(queue, negation_refused)
{
	FAILS("-q!", "sendmail", "-q!");
	FAILS("-q!Rfoo", "sendmail", "-q!Rfoo");
	FAILS("-qR!foo", "sendmail", "-qR!foo");
}

Test(queue, after_bundle)
{
	OK("sendmail", "-vqRfoo");
	cr_assert_eq(o.verbose, 1);
	cr_assert_eq(o.mode, MODE_RUNQ);
	cr_assert_str_eq(o.qsubstr, "foo");
}

/* ------------------------------------------------------ message options */

Test(message, t)
{
	OK("sendmail", "-t");
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.ignore_dots, 0);
	cr_assert_eq(o.nrcpts, 0);
}

Test(message, t_with_argv_recipients)
{
	OK("sendmail", "-t", "a@b", "c@d");
	cr_assert_eq(o.extract, 1);
	assert_rcpts(2, 2);
}

Test(message, i)
{
	OK("sendmail", "-i", "a@b");
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_eq(o.extract, 0);
}

Test(message, oi)
{
	OK("sendmail", "-oi", "a@b");
	cr_assert_eq(o.ignore_dots, 1);
	assert_rcpts(1, 2);
}

Test(message, o_i_detached)
{
	OK("sendmail", "-o", "i", "a@b");
	cr_assert_eq(o.ignore_dots, 1);
	assert_rcpts(1, 3);
}

Test(message, oi_false)
{
	OK("sendmail", "-i", "-oiFalse", "a@b");
	cr_assert_eq(o.ignore_dots, 0);
}

Test(message, bundle_ti)
{
	OK("sendmail", "-ti");
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_null(o.sender);
}

Test(message, bundle_it)
{
	OK("sendmail", "-it");
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.ignore_dots, 1);
}

Test(message, bundle_tif_detached)
{
	OK("sendmail", "-tif", "me@example.com", "a@b");
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_str_eq(o.sender, "me@example.com");
	assert_rcpts(1, 3);
}

Test(message, bundle_tif_attached)
{
	OK("sendmail", "-tifme@example.com");
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_str_eq(o.sender, "me@example.com");
	cr_assert_eq(o.nrcpts, 0);
}

Test(message, value_letter_takes_rest_of_bundle)
{
	/* getopt: after a value letter the rest is its value, not flags. */
	OK("sendmail", "-fti");
	cr_assert_str_eq(o.sender, "ti");
	cr_assert_eq(o.extract, 0);
	cr_assert_eq(o.ignore_dots, 0);
}

Test(message, f_attached)
{
	OK("sendmail", "-fuser@example.com", "a@b");
	cr_assert_str_eq(o.sender, "user@example.com");
	assert_rcpts(1, 2);
}

Test(message, f_detached)
{
	OK("sendmail", "-f", "user@example.com", "a@b");
	cr_assert_str_eq(o.sender, "user@example.com");
	assert_rcpts(1, 3);
}

Test(message, f_null_empty)
{
	OK("sendmail", "-f", "", "a@b");
	cr_assert_not_null(o.sender);
	cr_assert_str_eq(o.sender, "");
	assert_rcpts(1, 3);
}

Test(message, f_null_brackets)
{
	OK("sendmail", "-f<>", "a@b");
	cr_assert_str_eq(o.sender, "<>");
}

Test(message, f_value_may_start_with_dash)
{
	/* A value is a value; the address check comes later. */
	OK("sendmail", "-f", "-weird", "a@b");
	cr_assert_str_eq(o.sender, "-weird");
	assert_rcpts(1, 3);
}

Test(message, r_attached)
{
	OK("sendmail", "-rfrom@x.org", "a@b");
	cr_assert_str_eq(o.sender, "from@x.org");
}

Test(message, r_detached)
{
	OK("sendmail", "-r", "from@x.org", "a@b");
	cr_assert_str_eq(o.sender, "from@x.org");
	assert_rcpts(1, 3);
}

Test(message, last_sender_wins)
{
	OK("sendmail", "-f", "one@x", "-r", "two@x", "a@b");
	cr_assert_str_eq(o.sender, "two@x");
}

Test(message, f_line_feed)
{
	FAILS("-f: address contains a line break", "sendmail",
	    "-f", "a@b\nRCPT TO:<evil@x>", "c@d");
}

Test(message, f_carriage_return)
{
	FAILS("-f: address contains a line break", "sendmail",
	    "-fa@b\r", "c@d");
}

Test(message, r_line_break)
{
	FAILS("-r: address contains a line break", "sendmail",
	    "-r", "a@b\n", "c@d");
}

Test(message, f_missing)
{
	FAILS("option -f requires a value", "sendmail", "-f");
}

Test(message, F_attached)
{
	OK("sendmail", "-FCron Daemon", "a@b");
	cr_assert_str_eq(o.fullname, "Cron Daemon");
}

Test(message, F_detached)
{
	OK("sendmail", "-F", "Jane Doe", "a@b");
	cr_assert_str_eq(o.fullname, "Jane Doe");
	assert_rcpts(1, 3);
}

Test(message, F_line_break)
{
	FAILS("-F: name contains a line break", "sendmail",
	    "-F", "Jane\nBcc: victim@x", "a@b");
	FAILS("-F: name contains a line break", "sendmail",
	    "-FJane\r", "a@b");
}

Test(message, N_never)
{
	OK("sendmail", "-N", "never", "a@b");
	cr_assert_eq(o.notify, NOTIFY_NEVER);
	assert_rcpts(1, 3);
}

Test(message, N_list_attached)
{
	OK("sendmail", "-Nsuccess,failure", "a@b");
	cr_assert_eq(o.notify, NOTIFY_SUCCESS | NOTIFY_FAILURE);
}

Test(message, N_all_three)
{
	OK("sendmail", "-N", "success,failure,delay", "a@b");
	cr_assert_eq(o.notify, NOTIFY_SUCCESS | NOTIFY_FAILURE |
	    NOTIFY_DELAY);
}

Test(message, N_case_insensitive)
{
	OK("sendmail", "-N", "DELAY,Failure", "a@b");
	cr_assert_eq(o.notify, NOTIFY_DELAY | NOTIFY_FAILURE);
	OK("sendmail", "-NNEVER", "a@b");
	cr_assert_eq(o.notify, NOTIFY_NEVER);
}

Test(message, N_last_wins)
{
	OK("sendmail", "-Nsuccess", "-Ndelay", "a@b");
	cr_assert_eq(o.notify, NOTIFY_DELAY);
}

Test(message, N_never_cannot_combine)
{
	FAILS("never", "sendmail", "-N", "never,success", "a@b");
	cr_assert(strstr(err, "-N") != NULL, "%s", err);
	FAILS("never", "sendmail", "-N", "failure,NEVER", "a@b");
}

Test(message, N_unknown_word)
{
	FAILS("'sucess'", "sendmail", "-N", "failure,sucess", "a@b");
	cr_assert(strstr(err, "-N") != NULL, "%s", err);
}

Test(message, N_empty_item)
{
	FAILS("-N", "sendmail", "-N", "success,,failure", "a@b");
	FAILS("-N", "sendmail", "-N", "", "a@b");
	FAILS("-N", "sendmail", "-N", "success,", "a@b");
}

Test(message, N_missing)
{
	FAILS("option -N requires a value", "sendmail", "-N");
}

Test(message, R_full)
{
	OK("sendmail", "-R", "full", "a@b");
	cr_assert_eq(o.ret, RET_FULL);
	assert_rcpts(1, 3);
}

Test(message, R_hdrs_attached_case)
{
	OK("sendmail", "-RHDRS", "a@b");
	cr_assert_eq(o.ret, RET_HDRS);
	OK("sendmail", "-Rhdrs", "a@b");
	cr_assert_eq(o.ret, RET_HDRS);
	OK("sendmail", "-RFull", "a@b");
	cr_assert_eq(o.ret, RET_FULL);
}

Test(message, R_bad)
{
	FAILS("-R", "sendmail", "-R", "headers", "a@b");
	cr_assert(strstr(err, "headers") != NULL, "%s", err);
}

Test(message, V_detached)
{
	OK("sendmail", "-V", "QQ314159", "a@b");
	cr_assert_str_eq(o.envid, "QQ314159");
	assert_rcpts(1, 3);
}

Test(message, V_attached)
{
	OK("sendmail", "-Vabc.123@host", "a@b");
	cr_assert_str_eq(o.envid, "abc.123@host");
}

Test(message, V_length_limit)
{
	char ok[101], bad[102];

	memset(ok, 'x', 100);
	ok[100] = '\0';
	memset(bad, 'x', 101);
	bad[101] = '\0';
	OK("sendmail", "-V", ok, "a@b");
	cr_assert_eq(strlen(o.envid), 100);
	FAILS("-V", "sendmail", "-V", bad, "a@b");
}

Test(message, V_bad_characters)
{
	FAILS("-V", "sendmail", "-V", "a+b", "a@b");
	FAILS("-V", "sendmail", "-V", "a=b", "a@b");
	FAILS("-V", "sendmail", "-V", "a b", "a@b");
	FAILS("-V", "sendmail", "-V", "ab\r\nMAIL", "a@b");
	FAILS("-V", "sendmail", "-V", "a\tb", "a@b");
	FAILS("-V", "sendmail", "-V", "a\x7f", "a@b");
	FAILS("-V", "sendmail", "-V", "caf\xc3\xa9", "a@b");
	FAILS("-V", "sendmail", "-V", "", "a@b");
}

Test(message, B_7bit)
{
	OK("sendmail", "-B", "7BIT", "a@b");
	cr_assert_eq(o.body, BODY_7BIT);
	assert_rcpts(1, 3);
}

Test(message, B_8bitmime_attached_case)
{
	OK("sendmail", "-B8BITMIME", "a@b");
	cr_assert_eq(o.body, BODY_8BITMIME);
	OK("sendmail", "-B", "8bitmime", "a@b");
	cr_assert_eq(o.body, BODY_8BITMIME);
	OK("sendmail", "-B7bit", "a@b");
	cr_assert_eq(o.body, BODY_7BIT);
}

Test(message, B_bad)
{
	FAILS("-B", "sendmail", "-B", "8BIT", "a@b");
	cr_assert(strstr(err, "8BIT") != NULL, "%s", err);
	FAILS("-B", "sendmail", "-BBINARYMIME", "a@b");
}

Test(message, v_counts)
{
	OK("sendmail", "-v", "a@b");
	cr_assert_eq(o.verbose, 1);
	OK("sendmail", "-vv", "-v", "a@b");
	cr_assert_eq(o.verbose, 3);
}

Test(message, C_detached)
{
	OK("sendmail", "-C", "/etc/mxsend/test.conf", "a@b");
	cr_assert_str_eq(o.config_file, "/etc/mxsend/test.conf");
	assert_rcpts(1, 3);
}

Test(message, C_attached)
{
	OK("sendmail", "-C./my.conf", "a@b");
	cr_assert_str_eq(o.config_file, "./my.conf");
}

Test(message, C_empty)
{
	FAILS("-C", "sendmail", "-C", "", "a@b");
}

Test(message, C_missing)
{
	FAILS("option -C requires a value", "sendmail", "-C");
}

Test(message, oem)
{
	OK("sendmail", "-oem", "a@b");
	cr_assert_eq(o.errmode, ERRMODE_MAIL);
}

Test(message, oep_oew)
{
	OK("sendmail", "-oem", "-oep", "a@b");
	cr_assert_eq(o.errmode, ERRMODE_PRINT);
	OK("sendmail", "-oeq", "-oew", "a@b");
	cr_assert_eq(o.errmode, ERRMODE_PRINT);
}

Test(message, oeq)
{
	OK("sendmail", "-oeq", "a@b");
	cr_assert_eq(o.errmode, ERRMODE_QUIET);
}

Test(message, oe_detached)
{
	OK("sendmail", "-o", "em", "a@b");
	cr_assert_eq(o.errmode, ERRMODE_MAIL);
	assert_rcpts(1, 3);
}

Test(message, oe_berknet_mails)
{
	OK("sendmail", "-oee", "a@b");
	cr_assert_eq(o.errmode, ERRMODE_MAIL);
}

Test(message, oe_unknown_ignored)
{
	OK("sendmail", "-oeq", "-oez", "a@b");
	cr_assert_eq(o.errmode, ERRMODE_QUIET);
}

Test(message, odi)
{
	OK("sendmail", "-odq", "-odi", "a@b");
	cr_assert_eq(o.delivmode, DELIV_NOW);
}

Test(message, odb)
{
	OK("sendmail", "-odb", "a@b");
	cr_assert_eq(o.delivmode, DELIV_BACKGROUND);
}

Test(message, odq)
{
	OK("sendmail", "-odq", "a@b");
	cr_assert_eq(o.delivmode, DELIV_QUEUE);
}

Test(message, odd_defer_queues)
{
	OK("sendmail", "-odd", "a@b");
	cr_assert_eq(o.delivmode, DELIV_QUEUE);
}

Test(message, od_unknown_ignored)
{
	OK("sendmail", "-odb", "-odz", "a@b");
	cr_assert_eq(o.delivmode, DELIV_BACKGROUND);
}

Test(message, od_detached)
{
	OK("sendmail", "-o", "db", "a@b");
	cr_assert_eq(o.delivmode, DELIV_BACKGROUND);
	assert_rcpts(1, 3);
}

Test(message, O_long_names)
{
	OK("sendmail", "-OIgnoreDots=true", "-OErrorMode=m",
	    "-O", "DeliveryMode=q", "a@b");
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_eq(o.errmode, ERRMODE_MAIL);
	cr_assert_eq(o.delivmode, DELIV_QUEUE);
	assert_rcpts(1, 5);
	OK("sendmail", "-i", "-Oignoredots=False", "a@b");
	cr_assert_eq(o.ignore_dots, 0);
}

/* ------------------------------------------------- CVE-2016-10033 vectors */

Test(injection, X_detached)
{
	OK("sendmail", "-X", "/var/www/shell.php", "a@b");
	cr_assert_eq(o.nwarnings, 1);
	cr_assert(warned("-X"), "%s", o.warnings[0]);
	cr_assert(warned("CVE-2016-10033"), "%s", o.warnings[0]);
	cr_assert(warned("/var/www/shell.php"), "%s", o.warnings[0]);
	assert_rcpts(1, 3);
	cr_assert_str_eq(o.rcpts[0], "a@b");
}

Test(injection, X_attached)
{
	OK("sendmail", "-X/tmp/log", "a@b");
	cr_assert_eq(o.nwarnings, 1);
	cr_assert(warned("-X"));
	assert_rcpts(1, 2);
}

Test(injection, X_missing)
{
	FAILS("option -X requires a value", "sendmail", "-X");
}

Test(injection, oQ)
{
	OK("sendmail", "-oQ/tmp", "a@b");
	cr_assert_eq(o.nwarnings, 1);
	cr_assert(warned("-oQ/tmp"), "%s", o.warnings[0]);
	cr_assert(warned("CVE-2016-10033"));
}

Test(injection, OQueueDirectory)
{
	OK("sendmail", "-OQueueDirectory=/tmp", "a@b");
	cr_assert_eq(o.nwarnings, 1);
	cr_assert(warned("-OQueueDirectory=/tmp"), "%s", o.warnings[0]);
	cr_assert(warned("CVE-2016-10033"));
}

Test(injection, OQueueDirectory_detached_and_case)
{
	OK("sendmail", "-O", "queuedirectory=/tmp", "a@b");
	cr_assert_eq(o.nwarnings, 1);
	cr_assert(warned("queuedirectory"), "%s", o.warnings[0]);
	assert_rcpts(1, 3);
}

Test(injection, long_value_keeps_the_reason)
{
	char path[400];

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	OK("sendmail", "-X", path, "a@b");
	cr_assert_eq(o.nwarnings, 1);
	cr_assert(warned("CVE-2016-10033"), "%s", o.warnings[0]);
	cr_assert(warned("..."), "%s", o.warnings[0]);
}

Test(injection, control_characters_are_not_echoed)
{
	OK("sendmail", "-X", "/a\x1b[2Jb\n", "a@b");
	cr_assert_eq(o.nwarnings, 1);
	cr_assert(strchr(o.warnings[0], '\x1b') == NULL);
	cr_assert(strchr(o.warnings[0], '\n') == NULL);
	cr_assert(warned("/a?[2Jb?"), "%s", o.warnings[0]);
}

Test(injection, warnings_are_capped)
{
	OK("sendmail", "-X1", "-X2", "-X3", "-X4", "-X5", "-X6", "-X7",
	    "-X8", "-X9", "-X10", "a@b");
	cr_assert_eq(o.nwarnings, OPT_MAX_WARNINGS);
	assert_rcpts(1, 11);
}

/* ------------------------------------------------- accepted and ignored */

Test(ignored, h_hop_count)
{
	OK("sendmail", "-h", "17", "a@b");
	assert_rcpts(1, 3);
	OK("sendmail", "-h17", "a@b");
	assert_rcpts(1, 2);
	cr_assert_eq(o.nwarnings, 0);
}

Test(ignored, h_not_a_number)
{
	FAILS("-h", "sendmail", "-h", "many", "a@b");
	cr_assert(strstr(err, "many") != NULL, "%s", err);
	FAILS("-h", "sendmail", "-h", "", "a@b");
	FAILS("-h", "sendmail", "-h1x", "a@b");
}

Test(ignored, flags_n_U_G_m)
{
	OK("sendmail", "-n", "-U", "-G", "-m", "a@b");
	assert_rcpts(1, 5);
	cr_assert_eq(o.mode, MODE_DELIVER);
	cr_assert_eq(o.nwarnings, 0);
	OK("sendmail", "-nUGmt", "a@b");
	cr_assert_eq(o.extract, 1);
	assert_rcpts(1, 2);
}

Test(ignored, om_oo)
{
	OK("sendmail", "-om", "-oo", "a@b");
	assert_rcpts(1, 3);
	cr_assert_eq(o.ignore_dots, 0);
	cr_assert_eq(o.errmode, ERRMODE_PRINT);
	cr_assert_eq(o.nwarnings, 0);
}

Test(ignored, L_tag)
{
	OK("sendmail", "-L", "mytag", "a@b");
	assert_rcpts(1, 3);
	OK("sendmail", "-Lmytag", "a@b");
	assert_rcpts(1, 2);
}

Test(ignored, A_both_forms)
{
	OK("sendmail", "-Ac", "a@b");
	assert_rcpts(1, 2);
	OK("sendmail", "-Am", "a@b");
	assert_rcpts(1, 2);
	OK("sendmail", "-A", "c", "a@b");
	assert_rcpts(1, 3);
	FAILS("option -A requires a value", "sendmail", "-A");
}

Test(ignored, d_debug_attached_only)
{
	OK("sendmail", "-d0.1", "a@b");
	assert_rcpts(1, 2);
	OK("sendmail", "-d", "a@b");
	assert_rcpts(1, 2);
}

Test(ignored, o_and_O_other)
{
	OK("sendmail", "-oL9", "-OLogLevel=9", "-OSendMimeErrors", "a@b");
	assert_rcpts(1, 4);
	cr_assert_eq(o.nwarnings, 0);
	cr_assert_eq(o.ignore_dots, 0);
	OK("sendmail", "-o", "", "a@b");
	assert_rcpts(1, 3);
}

Test(ignored, o_missing)
{
	FAILS("option -o requires a value", "sendmail", "-o");
	FAILS("option -O requires a value", "sendmail", "-O");
}

/* ------------------------------------------------ missing, unknown */

Test(errors, every_value_letter_needs_a_value)
{
	static const char letters[] = "frFNRVBChLXboOA";
	char opt[3], want[64];
	size_t k;

	for (k = 0; letters[k] != '\0'; k++) {
		opt[0] = '-';
		opt[1] = letters[k];
		opt[2] = '\0';
		(void)snprintf(want, sizeof(want),
		    "option -%c requires a value", letters[k]);
		FAILS(want, "sendmail", opt);
	}
}

Test(errors, missing_value_in_bundle)
{
	FAILS("option -f requires a value", "sendmail", "-tif");
}

Test(errors, unknown_option)
{
	FAILS("unknown option -Z", "sendmail", "-Z", "a@b");
}

Test(errors, unknown_letters_not_in_the_tables)
{
	FAILS("unknown option -Q", "sendmail", "-Q", "a@b");
	FAILS("unknown option -I", "sendmail", "-I");
	FAILS("unknown option -s", "sendmail", "-s", "subject", "a@b");
}

Test(errors, unknown_option_in_bundle)
{
	FAILS("unknown option -Z", "sendmail", "-tZi", "a@b");
}

Test(errors, unknown_option_unprintable)
{
	FAILS("unknown option -\\x01", "sendmail", "-\x01", "a@b");
}

Test(errors, unknown_long)
{
	FAILS("unknown option --to", "sendmail", "--to", "a@b");
}

/* ------------------------------------------------------------ recipients */

Test(rcpts, several)
{
	OK("sendmail", "-i", "a@b", "c@d", "e@f");
	assert_rcpts(3, 2);
	cr_assert_str_eq(o.rcpts[0], "a@b");
	cr_assert_str_eq(o.rcpts[2], "e@f");
}

Test(rcpts, comma_list_passed_whole)
{
	OK("sendmail", "a@b, c@d");
	assert_rcpts(1, 1);
	cr_assert_str_eq(o.rcpts[0], "a@b, c@d");
}

Test(rcpts, double_dash_ends_options)
{
	OK("sendmail", "-i", "--", "a@b");
	cr_assert_eq(o.ignore_dots, 1);
	assert_rcpts(1, 3);
}

Test(rcpts, double_dash_alone)
{
	OK("sendmail", "-t", "--");
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.nrcpts, 0);
}

Test(rcpts, option_after_recipient_refused)
{
	FAILS("recipient '-t' starts with '-'", "sendmail", "a@b", "-t");
}

Test(rcpts, option_after_recipient_not_applied)
{
	FAILS("'-fevil@x'", "sendmail", "-i", "a@b", "-fevil@x");
}

Test(rcpts, dash_after_double_dash_refused)
{
	FAILS("recipient '-oQ/tmp' starts with '-'", "sendmail", "--",
	    "-oQ/tmp");
}

Test(rcpts, second_double_dash_refused)
{
	FAILS("recipient '--' starts with '-'", "sendmail", "--", "a@b",
	    "--");
}

Test(rcpts, lone_dash_refused)
{
	FAILS("recipient '-' starts with '-'", "sendmail", "-");
}

Test(rcpts, leading_blank_dash_refused)
{
	FAILS("starts with '-'", "sendmail", "--", " -X/tmp/x");
}

Test(rcpts, empty_argument_refused)
{
	FAILS("empty recipient", "sendmail", "a@b", "");
	FAILS("empty recipient", "sendmail", "-i", "--", "");
}

/* ----------------------------------------------------- real invocations */

Test(real, cronie)
{
	OK("/usr/sbin/sendmail", "-FCronDaemon", "-i", "-B8BITMIME",
	    "-oem", "root");
	cr_assert_eq(o.mode, MODE_DELIVER);
	cr_assert_str_eq(o.fullname, "CronDaemon");
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_eq(o.body, BODY_8BITMIME);
	cr_assert_eq(o.errmode, ERRMODE_MAIL);
	cr_assert_eq(o.extract, 0);
	assert_rcpts(1, 5);
	cr_assert_str_eq(o.rcpts[0], "root");
}

Test(real, php_mail)
{
	OK("/usr/sbin/sendmail", "-t", "-i");
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_null(o.sender);
	cr_assert_eq(o.nrcpts, 0);
}

Test(real, php_additional_parameters)
{
	OK("/usr/sbin/sendmail", "-t", "-i", "-fbounce@example.com");
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_str_eq(o.sender, "bounce@example.com");
	cr_assert_eq(o.nrcpts, 0);
	cr_assert_eq(o.nwarnings, 0);
}

Test(real, php_injection_attempt)
{
	OK("/usr/sbin/sendmail", "-t", "-i", "-X/var/www/shell.php",
	    "-OQueueDirectory=/tmp");
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_eq(o.mode, MODE_DELIVER);
	cr_assert_eq(o.nrcpts, 0);
	cr_assert_eq(o.nwarnings, 2);
	cr_assert(strstr(o.warnings[0], "-X") != NULL, "%s", o.warnings[0]);
	cr_assert(strstr(o.warnings[1], "QueueDirectory") != NULL, "%s",
	    o.warnings[1]);
}

Test(real, git_send_email)
{
	OK("/usr/sbin/sendmail", "-i", "-f", "me@x", "a@b", "c@d");
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_str_eq(o.sender, "me@x");
	assert_rcpts(2, 4);
	cr_assert_str_eq(o.rcpts[0], "a@b");
	cr_assert_str_eq(o.rcpts[1], "c@d");
}

Test(real, git_send_email_double_dash)
{
	OK("/usr/sbin/sendmail", "-i", "--", "a@b");
	cr_assert_eq(o.ignore_dots, 1);
	assert_rcpts(1, 3);
	cr_assert_str_eq(o.rcpts[0], "a@b");
}

Test(real, mutt)
{
	OK("/usr/sbin/sendmail", "-oem", "-oi", "--", "a@b");
	cr_assert_eq(o.errmode, ERRMODE_MAIL);
	cr_assert_eq(o.ignore_dots, 1);
	assert_rcpts(1, 4);
}

Test(real, alpine)
{
	OK("/usr/sbin/sendmail", "-bs", "-odb", "-oem");
	cr_assert_eq(o.mode, MODE_SMTP);
	cr_assert_eq(o.delivmode, DELIV_BACKGROUND);
	cr_assert_eq(o.errmode, ERRMODE_MAIL);
	cr_assert_eq(o.nrcpts, 0);
}

Test(real, mailx)
{
	OK("/usr/sbin/sendmail", "-i", "--", "user@example.org");
	cr_assert_eq(o.ignore_dots, 1);
	assert_rcpts(1, 3);
}

Test(real, s_nail_with_from)
{
	OK("/usr/sbin/sendmail", "-i", "-r", "from@x", "user@example.org");
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_str_eq(o.sender, "from@x");
	assert_rcpts(1, 4);
	cr_assert_str_eq(o.rcpts[0], "user@example.org");
}

Test(real, msmtp_style)
{
	OK("/usr/sbin/sendmail", "-t", "-oi", "-f", "me@example.net");
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_str_eq(o.sender, "me@example.net");
	cr_assert_eq(o.nrcpts, 0);
}

/* ----------------------------------------------------------------- usage */

Test(usage, text)
{
	const char *u = options_usage();
	size_t n = strlen(u);

	cr_assert(n > 0);
	cr_assert_eq(u[n - 1], '\n');
	cr_assert(strstr(u, "usage:") != NULL);
	cr_assert(strstr(u, "-bs") != NULL);
	cr_assert(strstr(u, "-t") != NULL);
	cr_assert(strstr(u, "-f addr") != NULL);
	cr_assert(strstr(u, "-oem") != NULL);
}
