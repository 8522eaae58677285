/*
 * test_options.c: the sendmail command line (options.c, SPEC §2): every
 * row of both tables in attached and detached forms, bundles, the
 * argv[0] modes, the errors, and the invocations real programs make.
 *
 * Most cases are rows: an argument vector and the fields of struct
 * options it must give (accepted[]), or a part of the error it must give
 * (refused[]). Each row is a test of its own and names itself, with its
 * arguments, when it fails.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "options.h"
#include "rows.h"

static struct options o;
static char err[256];
/*
 * The argument vector outlives the compound literal it is given in, as
 * a program's argv outlives option parsing: opts points into it.
 */
static char *args[64];

static int
parse_argv(char *const argv[])
{
	int argc = row_argv(args, 64, argv);

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

/* argv as one line for a message, "[sendmail -t]". */
static const char *
show(char *const argv[])
{
	char line[512];
	size_t len = 0;
	int i;

	line[0] = '\0';
	for (i = 0; argv[i] != NULL && len < sizeof(line); i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s",
		    i > 0 ? " " : "[", argv[i]);
	if (len < sizeof(line))
		snprintf(line + len, sizeof(line) - len, "]");
	return row_show(line);
}

/* ------------------------------------------------------ accepted rows */

/* The fields of want that a row compares. */
#define F_MODE		0x00001
#define F_EXTRACT	0x00002
#define F_IGNORE_DOTS	0x00004
#define F_SENDER	0x00008
#define F_FULLNAME	0x00010
#define F_NOTIFY	0x00020
#define F_RET		0x00040
#define F_ENVID		0x00080
#define F_BODY		0x00100
#define F_VERBOSE	0x00200
#define F_CONFIG	0x00400
#define F_ERRMODE	0x00800
#define F_DELIVMODE	0x01000
#define F_QSELECT	0x02000
#define F_QSUBSTR	0x04000
#define F_RCPTS		0x08000	/* nrcpts; rcpts: argv + first */
#define F_NWARNINGS	0x10000

struct accepted {
	const char	*name;
	char		*argv[12];
	unsigned	 check;		/* F_* */
	struct options	 want;		/* want.rcpts: their text */
	size_t		 first;		/* F_RCPTS, nrcpts > 0 */
};

/* Recipients' text for want.rcpts. */
#define RCPTS(...)	(char *const []){ __VA_ARGS__ }

static const struct accepted accepted[] = {
	/* defaults */
	{ "defaults/no_arguments", { "sendmail" }, F_MODE | F_RCPTS,
	    { .mode = MODE_DELIVER, .nrcpts = 0 }, 0 },

	/* argv[0] */
	{ "argv0/mailq", { "mailq" }, F_MODE, { .mode = MODE_PRINTQ }, 0 },
	{ "argv0/mailq_with_path", { "/usr/sbin/mailq" }, F_MODE,
	    { .mode = MODE_PRINTQ }, 0 },
	{ "argv0/newaliases", { "newaliases" }, F_MODE,
	    { .mode = MODE_NEWALIASES }, 0 },
	{ "argv0/newaliases_with_path", { "/usr/bin/newaliases" }, F_MODE,
	    { .mode = MODE_NEWALIASES }, 0 },
	{ "argv0/sendmail_paths_deliver", { "/usr/sbin/sendmail", "a@b" },
	    F_MODE, { .mode = MODE_DELIVER }, 0 },
	{ "argv0/sendmail_paths_deliver", { "/usr/lib/sendmail", "a@b" },
	    F_MODE, { .mode = MODE_DELIVER }, 0 },
	{ "argv0/sendmail_paths_deliver", { "mxsend", "a@b" }, F_MODE,
	    { .mode = MODE_DELIVER }, 0 },
	{ "argv0/only_the_basename_counts", { "/opt/mailq/sendmail", "a@b" },
	    F_MODE, { .mode = MODE_DELIVER }, 0 },
	{ "argv0/only_the_basename_counts", { "mailq.sh" }, F_MODE,
	    { .mode = MODE_DELIVER }, 0 },
	{ "argv0/only_the_basename_counts", { "xnewaliases" }, F_MODE,
	    { .mode = MODE_DELIVER }, 0 },
	{ "argv0/explicit_b_overrides", { "/usr/sbin/mailq", "-bm", "a@b" },
	    F_MODE, { .mode = MODE_DELIVER }, 0 },
	{ "argv0/explicit_b_overrides", { "newaliases", "-bp" }, F_MODE,
	    { .mode = MODE_PRINTQ }, 0 },
	{ "argv0/mailq_general_options",
	    { "mailq", "-v", "-C", "/etc/mxsend.conf" },
	    F_MODE | F_VERBOSE | F_CONFIG, { .mode = MODE_PRINTQ,
	    .verbose = 1, .config_file = "/etc/mxsend.conf" }, 0 },
	{ "argv0/newaliases_general_options",
	    { "newaliases", "-C/etc/x.conf", "-v" },
	    F_MODE | F_VERBOSE | F_CONFIG, { .mode = MODE_NEWALIASES,
	    .verbose = 1, .config_file = "/etc/x.conf" }, 0 },

	/* modes */
	{ "modes/bm", { "sendmail", "-bm", "a@b" }, F_MODE | F_RCPTS,
	    { .mode = MODE_DELIVER, .nrcpts = 1 }, 2 },
	{ "modes/bs", { "sendmail", "-bs" }, F_MODE, { .mode = MODE_SMTP },
	    0 },
	{ "modes/bp", { "sendmail", "-bp" }, F_MODE,
	    { .mode = MODE_PRINTQ }, 0 },
	{ "modes/bv", { "sendmail", "-bv", "a@b" }, F_MODE | F_RCPTS,
	    { .mode = MODE_VERIFY, .nrcpts = 1 }, 2 },
	{ "modes/bv_verbose", { "sendmail", "-v", "-bv", "a@b" },
	    F_MODE | F_VERBOSE, { .mode = MODE_VERIFY, .verbose = 1 }, 0 },
	{ "modes/bi", { "sendmail", "-bi" }, F_MODE,
	    { .mode = MODE_NEWALIASES }, 0 },
	{ "modes/b_detached", { "sendmail", "-b", "s" }, F_MODE | F_RCPTS,
	    { .mode = MODE_SMTP, .nrcpts = 0 }, 0 },
	{ "modes/last_mode_wins", { "sendmail", "-bp", "-bs" }, F_MODE,
	    { .mode = MODE_SMTP }, 0 },
	{ "modes/help", { "sendmail", "--help" }, F_MODE,
	    { .mode = MODE_HELP }, 0 },
	{ "modes/version", { "sendmail", "--version" }, F_MODE,
	    { .mode = MODE_VERSION }, 0 },
	{ "modes/config_check",
	    { "sendmail", "--config-check", "-C", "/tmp/x.conf" },
	    F_MODE | F_CONFIG, { .mode = MODE_CONFIG_CHECK,
	    .config_file = "/tmp/x.conf" }, 0 },

	/* queue */
	{ "queue/q_alone", { "sendmail", "-q" },
	    F_MODE | F_QSELECT | F_QSUBSTR, { .mode = MODE_RUNQ,
	    .qselect = QSEL_ALL, .qsubstr = NULL }, 0 },
	/* -q takes an attached value only: "15m" is a recipient here. */
	{ "queue/q_does_not_take_next_argument", { "sendmail", "-q", "15m" },
	    F_MODE | F_RCPTS, { .mode = MODE_RUNQ, .nrcpts = 1 }, 2 },
	{ "queue/q_time_ignored", { "sendmail", "-q15m" },
	    F_MODE | F_QSELECT, { .mode = MODE_RUNQ, .qselect = QSEL_ALL },
	    0 },
	{ "queue/q_time_ignored", { "sendmail", "-q30" }, F_MODE,
	    { .mode = MODE_RUNQ }, 0 },
	{ "queue/q_time_ignored", { "sendmail", "-q1h30m" }, F_MODE,
	    { .mode = MODE_RUNQ }, 0 },
	{ "queue/q_time_ignored", { "sendmail", "-q2d" }, F_MODE,
	    { .mode = MODE_RUNQ }, 0 },
	{ "queue/q_time_ignored", { "sendmail", "-q1w" }, F_MODE,
	    { .mode = MODE_RUNQ }, 0 },
	{ "queue/q_time_ignored", { "sendmail", "-q10s" }, F_MODE,
	    { .mode = MODE_RUNQ }, 0 },
	{ "queue/qI", { "sendmail", "-qI19A3F0" },
	    F_MODE | F_QSELECT | F_QSUBSTR, { .mode = MODE_RUNQ,
	    .qselect = QSEL_ID, .qsubstr = "19A3F0" }, 0 },
	{ "queue/qR", { "sendmail", "-qRexample.com" },
	    F_MODE | F_QSELECT | F_QSUBSTR, { .mode = MODE_RUNQ,
	    .qselect = QSEL_RCPT, .qsubstr = "example.com" }, 0 },
	{ "queue/qS", { "sendmail", "-qSroot@" },
	    F_MODE | F_QSELECT | F_QSUBSTR, { .mode = MODE_RUNQ,
	    .qselect = QSEL_SENDER, .qsubstr = "root@" }, 0 },
	{ "queue/after_bundle", { "sendmail", "-vqRfoo" },
	    F_VERBOSE | F_MODE | F_QSUBSTR, { .verbose = 1,
	    .mode = MODE_RUNQ, .qsubstr = "foo" }, 0 },

	/* message options */
	{ "message/t", { "sendmail", "-t" },
	    F_EXTRACT | F_IGNORE_DOTS | F_RCPTS, { .extract = 1,
	    .ignore_dots = 0, .nrcpts = 0 }, 0 },
	{ "message/t_with_argv_recipients", { "sendmail", "-t", "a@b",
	    "c@d" }, F_EXTRACT | F_RCPTS, { .extract = 1, .nrcpts = 2 }, 2 },
	{ "message/i", { "sendmail", "-i", "a@b" }, F_IGNORE_DOTS | F_EXTRACT,
	    { .ignore_dots = 1, .extract = 0 }, 0 },
	{ "message/oi", { "sendmail", "-oi", "a@b" }, F_IGNORE_DOTS | F_RCPTS,
	    { .ignore_dots = 1, .nrcpts = 1 }, 2 },
	{ "message/o_i_detached", { "sendmail", "-o", "i", "a@b" },
	    F_IGNORE_DOTS | F_RCPTS, { .ignore_dots = 1, .nrcpts = 1 }, 3 },
	{ "message/oi_false", { "sendmail", "-i", "-oiFalse", "a@b" },
	    F_IGNORE_DOTS, { .ignore_dots = 0 }, 0 },
	{ "message/bundle_ti", { "sendmail", "-ti" },
	    F_EXTRACT | F_IGNORE_DOTS | F_SENDER, { .extract = 1,
	    .ignore_dots = 1, .sender = NULL }, 0 },
	{ "message/bundle_it", { "sendmail", "-it" },
	    F_EXTRACT | F_IGNORE_DOTS, { .extract = 1, .ignore_dots = 1 }, 0 },
	{ "message/bundle_tif_detached",
	    { "sendmail", "-tif", "me@example.com", "a@b" },
	    F_EXTRACT | F_IGNORE_DOTS | F_SENDER | F_RCPTS, { .extract = 1,
	    .ignore_dots = 1, .sender = "me@example.com", .nrcpts = 1 }, 3 },
	{ "message/bundle_tif_attached", { "sendmail", "-tifme@example.com" },
	    F_EXTRACT | F_IGNORE_DOTS | F_SENDER | F_RCPTS, { .extract = 1,
	    .ignore_dots = 1, .sender = "me@example.com", .nrcpts = 0 }, 0 },
	/* getopt: after a value letter the rest is its value, not flags. */
	{ "message/value_letter_takes_rest_of_bundle", { "sendmail", "-fti" },
	    F_SENDER | F_EXTRACT | F_IGNORE_DOTS, { .sender = "ti",
	    .extract = 0, .ignore_dots = 0 }, 0 },
	{ "message/f_attached", { "sendmail", "-fuser@example.com", "a@b" },
	    F_SENDER | F_RCPTS, { .sender = "user@example.com",
	    .nrcpts = 1 }, 2 },
	{ "message/f_detached",
	    { "sendmail", "-f", "user@example.com", "a@b" },
	    F_SENDER | F_RCPTS, { .sender = "user@example.com",
	    .nrcpts = 1 }, 3 },
	{ "message/f_null_empty", { "sendmail", "-f", "", "a@b" },
	    F_SENDER | F_RCPTS, { .sender = "", .nrcpts = 1 }, 3 },
	{ "message/f_null_brackets", { "sendmail", "-f<>", "a@b" }, F_SENDER,
	    { .sender = "<>" }, 0 },
	/* A value is a value; the address check comes later. */
	{ "message/f_value_may_start_with_dash",
	    { "sendmail", "-f", "-weird", "a@b" }, F_SENDER | F_RCPTS,
	    { .sender = "-weird", .nrcpts = 1 }, 3 },
	{ "message/r_attached", { "sendmail", "-rfrom@x.org", "a@b" },
	    F_SENDER, { .sender = "from@x.org" }, 0 },
	{ "message/r_detached", { "sendmail", "-r", "from@x.org", "a@b" },
	    F_SENDER | F_RCPTS, { .sender = "from@x.org", .nrcpts = 1 }, 3 },
	{ "message/last_sender_wins",
	    { "sendmail", "-f", "one@x", "-r", "two@x", "a@b" }, F_SENDER,
	    { .sender = "two@x" }, 0 },
	{ "message/F_attached", { "sendmail", "-FCron Daemon", "a@b" },
	    F_FULLNAME, { .fullname = "Cron Daemon" }, 0 },
	{ "message/F_detached", { "sendmail", "-F", "Jane Doe", "a@b" },
	    F_FULLNAME | F_RCPTS, { .fullname = "Jane Doe", .nrcpts = 1 },
	    3 },
	{ "message/N_never", { "sendmail", "-N", "never", "a@b" },
	    F_NOTIFY | F_RCPTS, { .notify = NOTIFY_NEVER, .nrcpts = 1 }, 3 },
	{ "message/N_list_attached", { "sendmail", "-Nsuccess,failure",
	    "a@b" }, F_NOTIFY, { .notify = NOTIFY_SUCCESS | NOTIFY_FAILURE },
	    0 },
	{ "message/N_all_three",
	    { "sendmail", "-N", "success,failure,delay", "a@b" }, F_NOTIFY,
	    { .notify = NOTIFY_SUCCESS | NOTIFY_FAILURE | NOTIFY_DELAY }, 0 },
	{ "message/N_case_insensitive",
	    { "sendmail", "-N", "DELAY,Failure", "a@b" }, F_NOTIFY,
	    { .notify = NOTIFY_DELAY | NOTIFY_FAILURE }, 0 },
	{ "message/N_case_insensitive", { "sendmail", "-NNEVER", "a@b" },
	    F_NOTIFY, { .notify = NOTIFY_NEVER }, 0 },
	{ "message/N_last_wins", { "sendmail", "-Nsuccess", "-Ndelay",
	    "a@b" }, F_NOTIFY, { .notify = NOTIFY_DELAY }, 0 },
	{ "message/R_full", { "sendmail", "-R", "full", "a@b" },
	    F_RET | F_RCPTS, { .ret = RET_FULL, .nrcpts = 1 }, 3 },
	{ "message/R_hdrs_attached_case", { "sendmail", "-RHDRS", "a@b" },
	    F_RET, { .ret = RET_HDRS }, 0 },
	{ "message/R_hdrs_attached_case", { "sendmail", "-Rhdrs", "a@b" },
	    F_RET, { .ret = RET_HDRS }, 0 },
	{ "message/R_hdrs_attached_case", { "sendmail", "-RFull", "a@b" },
	    F_RET, { .ret = RET_FULL }, 0 },
	{ "message/V_detached", { "sendmail", "-V", "QQ314159", "a@b" },
	    F_ENVID | F_RCPTS, { .envid = "QQ314159", .nrcpts = 1 }, 3 },
	{ "message/V_attached", { "sendmail", "-Vabc.123@host", "a@b" },
	    F_ENVID, { .envid = "abc.123@host" }, 0 },
	/* Postfix takes them; the wire form is xtext (issue 16). */
	{ "message/V_plus_and_equals", { "sendmail", "-V", "id+1=2", "a@b" },
	    F_ENVID, { .envid = "id+1=2" }, 0 },
	{ "message/B_7bit", { "sendmail", "-B", "7BIT", "a@b" },
	    F_BODY | F_RCPTS, { .body = BODY_7BIT, .nrcpts = 1 }, 3 },
	{ "message/B_8bitmime_attached_case",
	    { "sendmail", "-B8BITMIME", "a@b" }, F_BODY,
	    { .body = BODY_8BITMIME }, 0 },
	{ "message/B_8bitmime_attached_case",
	    { "sendmail", "-B", "8bitmime", "a@b" }, F_BODY,
	    { .body = BODY_8BITMIME }, 0 },
	{ "message/B_8bitmime_attached_case", { "sendmail", "-B7bit", "a@b" },
	    F_BODY, { .body = BODY_7BIT }, 0 },
	{ "message/v_counts", { "sendmail", "-v", "a@b" }, F_VERBOSE,
	    { .verbose = 1 }, 0 },
	{ "message/v_counts", { "sendmail", "-vv", "-v", "a@b" }, F_VERBOSE,
	    { .verbose = 3 }, 0 },
	{ "message/C_detached",
	    { "sendmail", "-C", "/etc/mxsend/test.conf", "a@b" },
	    F_CONFIG | F_RCPTS, { .config_file = "/etc/mxsend/test.conf",
	    .nrcpts = 1 }, 3 },
	{ "message/C_attached", { "sendmail", "-C./my.conf", "a@b" },
	    F_CONFIG, { .config_file = "./my.conf" }, 0 },
	{ "message/oem", { "sendmail", "-oem", "a@b" }, F_ERRMODE,
	    { .errmode = ERRMODE_MAIL }, 0 },
	{ "message/oep_oew", { "sendmail", "-oem", "-oep", "a@b" },
	    F_ERRMODE, { .errmode = ERRMODE_PRINT }, 0 },
	{ "message/oep_oew", { "sendmail", "-oeq", "-oew", "a@b" },
	    F_ERRMODE, { .errmode = ERRMODE_PRINT }, 0 },
	{ "message/oeq", { "sendmail", "-oeq", "a@b" }, F_ERRMODE,
	    { .errmode = ERRMODE_QUIET }, 0 },
	{ "message/oe_detached", { "sendmail", "-o", "em", "a@b" },
	    F_ERRMODE | F_RCPTS, { .errmode = ERRMODE_MAIL, .nrcpts = 1 }, 3 },
	{ "message/oe_berknet_mails", { "sendmail", "-oee", "a@b" },
	    F_ERRMODE, { .errmode = ERRMODE_MAIL }, 0 },
	{ "message/oe_unknown_ignored", { "sendmail", "-oeq", "-oez", "a@b" },
	    F_ERRMODE, { .errmode = ERRMODE_QUIET }, 0 },
	{ "message/odi", { "sendmail", "-odq", "-odi", "a@b" }, F_DELIVMODE,
	    { .delivmode = DELIV_NOW }, 0 },
	{ "message/odb", { "sendmail", "-odb", "a@b" }, F_DELIVMODE,
	    { .delivmode = DELIV_BACKGROUND }, 0 },
	{ "message/odq", { "sendmail", "-odq", "a@b" }, F_DELIVMODE,
	    { .delivmode = DELIV_QUEUE }, 0 },
	{ "message/odd_defer_queues", { "sendmail", "-odd", "a@b" },
	    F_DELIVMODE, { .delivmode = DELIV_QUEUE }, 0 },
	{ "message/od_unknown_ignored", { "sendmail", "-odb", "-odz", "a@b" },
	    F_DELIVMODE, { .delivmode = DELIV_BACKGROUND }, 0 },
	{ "message/od_detached", { "sendmail", "-o", "db", "a@b" },
	    F_DELIVMODE | F_RCPTS, { .delivmode = DELIV_BACKGROUND,
	    .nrcpts = 1 }, 3 },
	{ "message/O_long_names", { "sendmail", "-OIgnoreDots=true",
	    "-OErrorMode=m", "-O", "DeliveryMode=q", "a@b" },
	    F_IGNORE_DOTS | F_ERRMODE | F_DELIVMODE | F_RCPTS,
	    { .ignore_dots = 1, .errmode = ERRMODE_MAIL,
	    .delivmode = DELIV_QUEUE, .nrcpts = 1 }, 5 },
	{ "message/O_long_names", { "sendmail", "-i", "-Oignoredots=False",
	    "a@b" }, F_IGNORE_DOTS, { .ignore_dots = 0 }, 0 },

	/* accepted and ignored */
	{ "ignored/h_hop_count", { "sendmail", "-h", "17", "a@b" }, F_RCPTS,
	    { .nrcpts = 1 }, 3 },
	{ "ignored/h_hop_count", { "sendmail", "-h17", "a@b" },
	    F_RCPTS | F_NWARNINGS, { .nrcpts = 1, .nwarnings = 0 }, 2 },
	{ "ignored/flags_n_U_G_m", { "sendmail", "-n", "-U", "-G", "-m",
	    "a@b" }, F_RCPTS | F_MODE | F_NWARNINGS, { .nrcpts = 1,
	    .mode = MODE_DELIVER, .nwarnings = 0 }, 5 },
	{ "ignored/flags_n_U_G_m", { "sendmail", "-nUGmt", "a@b" },
	    F_EXTRACT | F_RCPTS, { .extract = 1, .nrcpts = 1 }, 2 },
	{ "ignored/om_oo", { "sendmail", "-om", "-oo", "a@b" },
	    F_RCPTS | F_IGNORE_DOTS | F_ERRMODE | F_NWARNINGS, { .nrcpts = 1,
	    .ignore_dots = 0, .errmode = ERRMODE_PRINT, .nwarnings = 0 }, 3 },
	{ "ignored/L_tag", { "sendmail", "-L", "mytag", "a@b" }, F_RCPTS,
	    { .nrcpts = 1 }, 3 },
	{ "ignored/L_tag", { "sendmail", "-Lmytag", "a@b" }, F_RCPTS,
	    { .nrcpts = 1 }, 2 },
	{ "ignored/A_both_forms", { "sendmail", "-Ac", "a@b" }, F_RCPTS,
	    { .nrcpts = 1 }, 2 },
	{ "ignored/A_both_forms", { "sendmail", "-Am", "a@b" }, F_RCPTS,
	    { .nrcpts = 1 }, 2 },
	{ "ignored/A_both_forms", { "sendmail", "-A", "c", "a@b" }, F_RCPTS,
	    { .nrcpts = 1 }, 3 },
	{ "ignored/d_debug_attached_only", { "sendmail", "-d0.1", "a@b" },
	    F_RCPTS, { .nrcpts = 1 }, 2 },
	{ "ignored/d_debug_attached_only", { "sendmail", "-d", "a@b" },
	    F_RCPTS, { .nrcpts = 1 }, 2 },
	{ "ignored/o_and_O_other", { "sendmail", "-oL9", "-OLogLevel=9",
	    "-OSendMimeErrors", "a@b" },
	    F_RCPTS | F_NWARNINGS | F_IGNORE_DOTS, { .nrcpts = 1,
	    .nwarnings = 0, .ignore_dots = 0 }, 4 },
	{ "ignored/o_and_O_other", { "sendmail", "-o", "", "a@b" }, F_RCPTS,
	    { .nrcpts = 1 }, 3 },

	/* recipients */
	{ "rcpts/several", { "sendmail", "-i", "a@b", "c@d", "e@f" }, F_RCPTS,
	    { .nrcpts = 3, .rcpts = RCPTS("a@b", "c@d", "e@f") }, 2 },
	{ "rcpts/comma_list_passed_whole", { "sendmail", "a@b, c@d" },
	    F_RCPTS, { .nrcpts = 1, .rcpts = RCPTS("a@b, c@d") }, 1 },
	{ "rcpts/double_dash_ends_options", { "sendmail", "-i", "--", "a@b" },
	    F_IGNORE_DOTS | F_RCPTS, { .ignore_dots = 1, .nrcpts = 1 }, 3 },
	{ "rcpts/double_dash_alone", { "sendmail", "-t", "--" },
	    F_EXTRACT | F_RCPTS, { .extract = 1, .nrcpts = 0 }, 0 },

	/* real invocations */
	{ "real/cronie", { "/usr/sbin/sendmail", "-FCronDaemon", "-i",
	    "-B8BITMIME", "-oem", "root" }, F_MODE | F_FULLNAME |
	    F_IGNORE_DOTS | F_BODY | F_ERRMODE | F_EXTRACT | F_RCPTS,
	    { .mode = MODE_DELIVER, .fullname = "CronDaemon",
	    .ignore_dots = 1, .body = BODY_8BITMIME, .errmode = ERRMODE_MAIL,
	    .extract = 0, .nrcpts = 1, .rcpts = RCPTS("root") }, 5 },
	{ "real/php_mail", { "/usr/sbin/sendmail", "-t", "-i" },
	    F_EXTRACT | F_IGNORE_DOTS | F_SENDER | F_RCPTS, { .extract = 1,
	    .ignore_dots = 1, .sender = NULL, .nrcpts = 0 }, 0 },
	{ "real/php_additional_parameters", { "/usr/sbin/sendmail", "-t",
	    "-i", "-fbounce@example.com" }, F_EXTRACT | F_IGNORE_DOTS |
	    F_SENDER | F_RCPTS | F_NWARNINGS, { .extract = 1,
	    .ignore_dots = 1, .sender = "bounce@example.com", .nrcpts = 0,
	    .nwarnings = 0 }, 0 },
	{ "real/git_send_email", { "/usr/sbin/sendmail", "-i", "-f", "me@x",
	    "a@b", "c@d" }, F_IGNORE_DOTS | F_SENDER | F_RCPTS,
	    { .ignore_dots = 1, .sender = "me@x", .nrcpts = 2,
	    .rcpts = RCPTS("a@b", "c@d") }, 4 },
	{ "real/git_send_email_double_dash", { "/usr/sbin/sendmail", "-i",
	    "--", "a@b" }, F_IGNORE_DOTS | F_RCPTS, { .ignore_dots = 1,
	    .nrcpts = 1, .rcpts = RCPTS("a@b") }, 3 },
	{ "real/mutt", { "/usr/sbin/sendmail", "-oem", "-oi", "--", "a@b" },
	    F_ERRMODE | F_IGNORE_DOTS | F_RCPTS, { .errmode = ERRMODE_MAIL,
	    .ignore_dots = 1, .nrcpts = 1 }, 4 },
	{ "real/alpine", { "/usr/sbin/sendmail", "-bs", "-odb", "-oem" },
	    F_MODE | F_DELIVMODE | F_ERRMODE | F_RCPTS, { .mode = MODE_SMTP,
	    .delivmode = DELIV_BACKGROUND, .errmode = ERRMODE_MAIL,
	    .nrcpts = 0 }, 0 },
	{ "real/mailx", { "/usr/sbin/sendmail", "-i", "--",
	    "user@example.org" }, F_IGNORE_DOTS | F_RCPTS,
	    { .ignore_dots = 1, .nrcpts = 1 }, 3 },
	{ "real/s_nail_with_from", { "/usr/sbin/sendmail", "-i", "-r",
	    "from@x", "user@example.org" }, F_IGNORE_DOTS | F_SENDER |
	    F_RCPTS, { .ignore_dots = 1, .sender = "from@x", .nrcpts = 1,
	    .rcpts = RCPTS("user@example.org") }, 4 },
	{ "real/msmtp_style", { "/usr/sbin/sendmail", "-t", "-oi", "-f",
	    "me@example.net" }, F_EXTRACT | F_IGNORE_DOTS | F_SENDER |
	    F_RCPTS, { .extract = 1, .ignore_dots = 1,
	    .sender = "me@example.net", .nrcpts = 0 }, 0 },
};

ROW_PARAMETERS(options, accepted, accepted);

ParameterizedTest(const size_t *row, options, accepted)
{
	const struct accepted *r = &accepted[*row];
	char label[600];
	size_t i;

	snprintf(label, sizeof(label), "%s %s", r->name, show(r->argv));
	cr_assert_eq(parse_argv(r->argv), 0, "%s: error: %s", label, err);
	ROW_FIELD_NUM(label, r, o, F_MODE, mode);
	ROW_FIELD_NUM(label, r, o, F_EXTRACT, extract);
	ROW_FIELD_NUM(label, r, o, F_IGNORE_DOTS, ignore_dots);
	ROW_FIELD_STR(label, r, o, F_SENDER, sender);
	ROW_FIELD_STR(label, r, o, F_FULLNAME, fullname);
	ROW_FIELD_NUM(label, r, o, F_NOTIFY, notify);
	ROW_FIELD_NUM(label, r, o, F_RET, ret);
	ROW_FIELD_STR(label, r, o, F_ENVID, envid);
	ROW_FIELD_NUM(label, r, o, F_BODY, body);
	ROW_FIELD_NUM(label, r, o, F_VERBOSE, verbose);
	ROW_FIELD_STR(label, r, o, F_CONFIG, config_file);
	ROW_FIELD_NUM(label, r, o, F_ERRMODE, errmode);
	ROW_FIELD_NUM(label, r, o, F_DELIVMODE, delivmode);
	ROW_FIELD_NUM(label, r, o, F_QSELECT, qselect);
	ROW_FIELD_STR(label, r, o, F_QSUBSTR, qsubstr);
	ROW_FIELD_NUM(label, r, o, F_NWARNINGS, nwarnings);
	if (!(r->check & F_RCPTS))
		return;
	row_check_num(label, "nrcpts", (long long)o.nrcpts,
	    (long long)r->want.nrcpts);
	if (o.nrcpts > 0)
		cr_assert_eq(o.rcpts, args + r->first, "%s: rcpts is not "
		    "argv + %zu", label, r->first);
	for (i = 0; r->want.rcpts != NULL && i < r->want.nrcpts; i++)
		row_check_str(label, "a recipient", o.rcpts[i],
		    r->want.rcpts[i]);
}

/* ------------------------------------------------------- refused rows */

struct refused {
	const char	*name;
	char		*argv[8];
	const char	*needle;	/* the error mentions it */
	const char	*also;		/* and this, if not NULL */
};

static const struct refused refused[] = {
	/* modes */
	{ "modes/bd_not_supported", { "sendmail", "-bd" },
	    "-bd is not supported", NULL },
	{ "modes/bD_not_supported", { "sendmail", "-bD" },
	    "-bD is not supported", NULL },
	{ "modes/bt_not_supported", { "sendmail", "-bt" },
	    "-bt is not supported", NULL },
	{ "modes/bh_not_supported", { "sendmail", "-bh" },
	    "-bh is not supported", NULL },
	{ "modes/bH_not_supported", { "sendmail", "-bH" },
	    "-bH is not supported", NULL },
	{ "modes/bd_detached_not_supported", { "sendmail", "-b", "d" },
	    "-bd is not supported", NULL },
	{ "modes/b_unknown_letter", { "sendmail", "-bx" },
	    "unknown option -bx", NULL },
	{ "modes/b_trailing_junk", { "sendmail", "-bmx" },
	    "unknown option -bmx", NULL },
	{ "modes/b_empty_detached", { "sendmail", "-b", "" },
	    "unknown option -b", NULL },
	{ "modes/b_missing", { "sendmail", "-b" },
	    "option -b requires a value", NULL },
	{ "modes/unknown_long_option", { "sendmail", "--frobnicate" },
	    "unknown option --frobnicate", NULL },
	{ "modes/long_option_prefix_is_not_enough", { "sendmail", "--hel" },
	    "unknown option --hel", NULL },
	{ "modes/long_option_prefix_is_not_enough", { "sendmail",
	    "--help=x" }, "unknown option --help=x", NULL },

	/* queue */
	{ "queue/q_bad_time", { "sendmail", "-q15x" }, "-q15x", NULL },
	{ "queue/q_bad_time", { "sendmail", "-qm" }, "-qm", NULL },
	{ "queue/q_unknown_letter", { "sendmail", "-qf" }, "-qf", NULL },
	{ "queue/selector_needs_substring", { "sendmail", "-qI" },
	    "-qI requires a substring", NULL },
	{ "queue/selector_needs_substring", { "sendmail", "-qR" },
	    "-qR requires a substring", NULL },
	{ "queue/selector_needs_substring", { "sendmail", "-qS" },
	    "-qS requires a substring", NULL },
	{ "queue/negation_refused", { "sendmail", "-q!" }, "-q!", NULL },
	{ "queue/negation_refused", { "sendmail", "-q!Rfoo" }, "-q!Rfoo",
	    NULL },
	{ "queue/negation_refused", { "sendmail", "-qR!foo" }, "-qR!foo",
	    NULL },

	/* message options */
	{ "message/f_line_feed", { "sendmail", "-f", "a@b\nRCPT TO:<evil@x>",
	    "c@d" }, "-f: address contains a line break", NULL },
	{ "message/f_carriage_return", { "sendmail", "-fa@b\r", "c@d" },
	    "-f: address contains a line break", NULL },
	{ "message/r_line_break", { "sendmail", "-r", "a@b\n", "c@d" },
	    "-r: address contains a line break", NULL },
	{ "message/f_missing", { "sendmail", "-f" },
	    "option -f requires a value", NULL },
	{ "message/F_line_break", { "sendmail", "-F", "Jane\nBcc: victim@x",
	    "a@b" }, "-F: name contains a line break", NULL },
	{ "message/F_line_break", { "sendmail", "-FJane\r", "a@b" },
	    "-F: name contains a line break", NULL },
	{ "message/N_never_cannot_combine", { "sendmail", "-N",
	    "never,success", "a@b" }, "never", "-N" },
	{ "message/N_never_cannot_combine", { "sendmail", "-N",
	    "failure,NEVER", "a@b" }, "never", NULL },
	{ "message/N_unknown_word", { "sendmail", "-N", "failure,sucess",
	    "a@b" }, "'sucess'", "-N" },
	{ "message/N_empty_item", { "sendmail", "-N", "success,,failure",
	    "a@b" }, "-N", NULL },
	{ "message/N_empty_item", { "sendmail", "-N", "", "a@b" }, "-N",
	    NULL },
	{ "message/N_empty_item", { "sendmail", "-N", "success,", "a@b" },
	    "-N", NULL },
	{ "message/N_missing", { "sendmail", "-N" },
	    "option -N requires a value", NULL },
	{ "message/R_bad", { "sendmail", "-R", "headers", "a@b" }, "-R",
	    "headers" },
	{ "message/V_bad_characters", { "sendmail", "-V", "a b", "a@b" },
	    "-V", NULL },
	{ "message/V_bad_characters", { "sendmail", "-V", "ab\r\nMAIL",
	    "a@b" }, "-V", NULL },
	{ "message/V_bad_characters", { "sendmail", "-V", "a\tb", "a@b" },
	    "-V", NULL },
	{ "message/V_bad_characters", { "sendmail", "-V", "a\x7f", "a@b" },
	    "-V", NULL },
	{ "message/V_bad_characters", { "sendmail", "-V", "caf\xc3\xa9",
	    "a@b" }, "-V", NULL },
	{ "message/V_bad_characters", { "sendmail", "-V", "", "a@b" }, "-V",
	    NULL },
	{ "message/B_bad", { "sendmail", "-B", "8BIT", "a@b" }, "-B",
	    "8BIT" },
	{ "message/B_bad", { "sendmail", "-BBINARYMIME", "a@b" }, "-B",
	    NULL },
	{ "message/C_empty", { "sendmail", "-C", "", "a@b" }, "-C", NULL },
	{ "message/C_missing", { "sendmail", "-C" },
	    "option -C requires a value", NULL },

	/* CVE-2016-10033 vectors */
	{ "injection/X_missing", { "sendmail", "-X" },
	    "option -X requires a value", NULL },

	/* accepted and ignored */
	{ "ignored/h_not_a_number", { "sendmail", "-h", "many", "a@b" }, "-h",
	    "many" },
	{ "ignored/h_not_a_number", { "sendmail", "-h", "", "a@b" }, "-h",
	    NULL },
	{ "ignored/h_not_a_number", { "sendmail", "-h1x", "a@b" }, "-h",
	    NULL },
	{ "ignored/A_both_forms", { "sendmail", "-A" },
	    "option -A requires a value", NULL },
	{ "ignored/o_missing", { "sendmail", "-o" },
	    "option -o requires a value", NULL },
	{ "ignored/o_missing", { "sendmail", "-O" },
	    "option -O requires a value", NULL },

	/* missing, unknown */
	{ "errors/missing_value_in_bundle", { "sendmail", "-tif" },
	    "option -f requires a value", NULL },
	{ "errors/unknown_option", { "sendmail", "-Z", "a@b" },
	    "unknown option -Z", NULL },
	{ "errors/unknown_letters_not_in_the_tables", { "sendmail", "-Q",
	    "a@b" }, "unknown option -Q", NULL },
	{ "errors/unknown_letters_not_in_the_tables", { "sendmail", "-I" },
	    "unknown option -I", NULL },
	{ "errors/unknown_letters_not_in_the_tables", { "sendmail", "-s",
	    "subject", "a@b" }, "unknown option -s", NULL },
	{ "errors/unknown_option_in_bundle", { "sendmail", "-tZi", "a@b" },
	    "unknown option -Z", NULL },
	{ "errors/unknown_option_unprintable", { "sendmail", "-\x01", "a@b" },
	    "unknown option -\\x01", NULL },
	{ "errors/unknown_long", { "sendmail", "--to", "a@b" },
	    "unknown option --to", NULL },

	/* BusyBox: -S, -au, -ap, -w */
	{ "busybox/S_empty", { "sendmail", "-S", "", "a@b" },
	    "-S ''", "HOST[:PORT]" },
	{ "busybox/S_no_host", { "sendmail", "-S", ":25", "a@b" },
	    "-S ':25'", NULL },
	{ "busybox/S_empty_port", { "sendmail", "-S", "mailhog:", "a@b" },
	    "-S 'mailhog:': the port must be a number 1-65535", NULL },
	{ "busybox/S_bad_port", { "sendmail", "-S", "mailhog:0", "a@b" },
	    "the port must be a number 1-65535", NULL },
	{ "busybox/S_bad_port", { "sendmail", "-S", "mailhog:65536", "a@b" },
	    "the port must be a number 1-65535", NULL },
	{ "busybox/S_bad_port", { "sendmail", "-Smailhog:25x", "a@b" },
	    "the port must be a number 1-65535", NULL },
	{ "busybox/S_bad_port", { "sendmail", "-S", "mailhog:-25", "a@b" },
	    "the port must be a number 1-65535", NULL },
	{ "busybox/S_bad_host", { "sendmail", "-S", "mail hog", "a@b" },
	    "-S 'mail hog': expected HOST[:PORT]", NULL },
	{ "busybox/S_bad_host", { "sendmail", "-S", "-t", "a@b" },
	    "-S '-t'", NULL },
	{ "busybox/S_bad_host", { "sendmail", "-S", "a..b", "a@b" },
	    "-S 'a..b'", NULL },
	{ "busybox/S_bad_host", { "sendmail", "-S", "x:1:2", "a@b" },
	    "-S 'x:1:2'", NULL },
	{ "busybox/S_bad_host", { "sendmail", "-S", "[::1", "a@b" },
	    "-S '[::1'", NULL },
	{ "busybox/S_bad_host", { "sendmail", "-S", "[mailhog]:25", "a@b" },
	    "-S '[mailhog]:25'", NULL },
	{ "busybox/S_bad_host", { "sendmail", "-S", "[::1]25", "a@b" },
	    "-S '[::1]25'", NULL },
	{ "busybox/S_bad_host", { "sendmail", "-S", "host\r\nRCPT", "a@b" },
	    "-S 'host??RCPT'", NULL },
	{ "busybox/S_missing", { "sendmail", "-S" },
	    "option -S requires a value", NULL },
	{ "busybox/a_unknown", { "sendmail", "-S", "h", "-ax", "a@b" },
	    "unknown option -ax", NULL },
	{ "busybox/a_unknown", { "sendmail", "-a", "a@b" },
	    "unknown option -a", NULL },
	{ "busybox/au_missing", { "sendmail", "-S", "h", "-au" },
	    "option -au requires a value", NULL },
	{ "busybox/ap_missing", { "sendmail", "-S", "h", "-au", "u", "-ap" },
	    "option -ap requires a value", NULL },
	{ "busybox/credentials_without_S", { "sendmail", "-au", "u", "-ap",
	    "p", "a@b" }, "give -S HOST[:PORT] too", NULL },
	{ "busybox/au_without_ap", { "sendmail", "-S", "h", "-au", "u",
	    "a@b" }, "-au needs -ap PASSWORD", NULL },
	{ "busybox/ap_without_au", { "sendmail", "-S", "h", "-ap", "p",
	    "a@b" }, "-ap needs -au USER", NULL },
	{ "busybox/w_bad", { "sendmail", "-w", "0", "a@b" }, "-w '0'",
	    NULL },
	{ "busybox/w_bad", { "sendmail", "-w", "00s", "a@b" }, "-w '00s'",
	    NULL },
	{ "busybox/w_bad", { "sendmail", "-w", "soon", "a@b" }, "-w 'soon'",
	    NULL },
	{ "busybox/w_bad", { "sendmail", "-w", "", "a@b" }, "-w ''", NULL },
	{ "busybox/w_missing", { "sendmail", "-w" },
	    "option -w requires a value", NULL },

	/* recipients */
	{ "rcpts/option_after_recipient_refused", { "sendmail", "a@b", "-t" },
	    "recipient '-t' starts with '-'", NULL },
	{ "rcpts/option_after_recipient_not_applied", { "sendmail", "-i",
	    "a@b", "-fevil@x" }, "'-fevil@x'", NULL },
	{ "rcpts/dash_after_double_dash_refused", { "sendmail", "--",
	    "-oQ/tmp" }, "recipient '-oQ/tmp' starts with '-'", NULL },
	{ "rcpts/second_double_dash_refused", { "sendmail", "--", "a@b",
	    "--" }, "recipient '--' starts with '-'", NULL },
	{ "rcpts/lone_dash_refused", { "sendmail", "-" },
	    "recipient '-' starts with '-'", NULL },
	{ "rcpts/leading_blank_dash_refused", { "sendmail", "--",
	    " -X/tmp/x" }, "starts with '-'", NULL },
	{ "rcpts/empty_argument_refused", { "sendmail", "a@b", "" },
	    "empty recipient", NULL },
	{ "rcpts/empty_argument_refused", { "sendmail", "-i", "--", "" },
	    "empty recipient", NULL },
};

ROW_PARAMETERS(options, refused, refused);

ParameterizedTest(const size_t *row, options, refused)
{
	const struct refused *r = &refused[*row];

	cr_assert_eq(parse_argv(r->argv), -1, "%s %s: accepted", r->name,
	    show(r->argv));
	cr_assert(strstr(err, r->needle) != NULL, "%s %s: error '%s' does "
	    "not mention '%s'", r->name, show(r->argv), err, r->needle);
	if (r->also != NULL)
		cr_assert(strstr(err, r->also) != NULL, "%s %s: error '%s' "
		    "does not mention '%s'", r->name, show(r->argv), err,
		    r->also);
}

/* --------------------------------------------------------- defaults */

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

/* -------------------------------------------------- message options */

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

/* ------------------------------------------- CVE-2016-10033 vectors */

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

/* ------------------------------------------------- missing, unknown */

Test(errors, every_value_letter_needs_a_value)
{
	static const char letters[] = "frFNRVBChLXboOASw";
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

/* ------------------------------------------------------------ BusyBox */

/* Alpine's documented call, and docker-compose examples (SPEC §2). */
Test(busybox, alpine_S_host_port)
{
	OK("sendmail", "-t", "-i", "-S", "mailhog:1025");
	cr_assert_str_eq(o.smarthost, "mailhog");
	cr_assert_eq(o.smarthost_port, 1025);
	cr_assert_eq(o.extract, 1);
	cr_assert_eq(o.ignore_dots, 1);
	cr_assert_null(o.smarthost_user);
	cr_assert_null(o.timeout);
	cr_assert_eq(o.nwarnings, 0);
	assert_rcpts(0, 0);
}

Test(busybox, S_forms)
{
	OK("sendmail", "-Srelay.example.", "a@b");
	cr_assert_str_eq(o.smarthost, "relay.example.");
	cr_assert_eq(o.smarthost_port, 25);
	assert_rcpts(1, 2);
	OK("sendmail", "-S", "127.0.0.1:2525", "a@b");
	cr_assert_str_eq(o.smarthost, "127.0.0.1");
	cr_assert_eq(o.smarthost_port, 2525);
	OK("sendmail", "-S", "[2001:db8::1]:587", "a@b");
	cr_assert_str_eq(o.smarthost, "2001:db8::1");
	cr_assert_eq(o.smarthost_port, 587);
	OK("sendmail", "-S", "::1", "a@b");
	cr_assert_str_eq(o.smarthost, "::1");
	cr_assert_eq(o.smarthost_port, 25);
	OK("sendmail", "-S", "[::1]", "a@b");
	cr_assert_str_eq(o.smarthost, "::1");
	OK("sendmail", "-S", "mail_hog:65535", "a@b");
	cr_assert_str_eq(o.smarthost, "mail_hog");
	cr_assert_eq(o.smarthost_port, 65535);
	OK("sendmail", "a@b");
	cr_assert_str_eq(o.smarthost, "", "state kept between calls");
}

/* -au/-ap detached and attached (BusyBox's own form), with the warning. */
Test(busybox, credentials_and_the_warning)
{
	OK("sendmail", "-t", "-S", "smtp.example:587", "-au", "bob", "-ap",
	    "s3cret", "-w", "30");
	cr_assert_str_eq(o.smarthost_user, "bob");
	cr_assert_str_eq(o.smarthost_password, "s3cret");
	cr_assert_eq(o.smarthost_password, args[7], "not argv's own bytes");
	cr_assert_str_eq(o.timeout, "30");
	cr_assert_eq(o.nwarnings, 1);
	cr_assert(warned("visible to other local users"), "%s",
	    o.warnings[0]);
	cr_assert_null(strstr(o.warnings[0], "s3cret"));
	OK("sendmail", "-Sh", "-aubob", "-aps3cret", "-w2m", "a@b");
	cr_assert_str_eq(o.smarthost_user, "bob");
	cr_assert_str_eq(o.smarthost_password, "s3cret");
	cr_assert_eq(o.smarthost_password, args[3] + 3);
	cr_assert_str_eq(o.timeout, "2m");
	assert_rcpts(1, 5);
}

/* ------------------------------------------------- real invocations */

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

/* ------------------------------------------------------------ usage */

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
	cr_assert(strstr(u, "-S host[:port]") != NULL);
	cr_assert(strstr(u, "-au user, -ap password") != NULL);
	cr_assert(strstr(u, "-w secs") != NULL);
}
