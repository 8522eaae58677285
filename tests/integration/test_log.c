/*
 * test_log.c: the mail log of SPEC §6 as log tools read it, end to end:
 * the real mxsend binary delivering to the scripted DNS server (fakedns)
 * and a scripted SMTP server (fakesmtp) playing the MX hosts on loopback.
 *
 *  - the lines of a message's story in Postfix's format: pickup, qmgr,
 *    smtp per recipient, bounce, removed; with syslog's time stamp and
 *    host name in the log file, and under -v on stderr;
 *  - Debian's pflogsumm --syslog-name=mxsend over a log of several
 *    messages (delivered, bounced with a DSN, deferred and retried by
 *    -q): its counts of messages received, delivered, deferred and
 *    bounced, and of bytes received and delivered, are exactly those of
 *    what the server recorded (skipped, saying so, without pflogsumm);
 *  - `log syslog` in a mount namespace of the test's own whose /dev has a
 *    syslog socket (the lines arrive there as mxsend/SERVICE) or none
 *    (one warning under -v and from --config-check, none without -v);
 *    skipped, saying so, when not root.
 *
 * Every server is started by the test and stopped by its PID.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

#define BODY	"The logged body line 3b7d."
#define SENDER	"s@test.example"
#define PFLOGSUMM	"/usr/sbin/pflogsumm"

static struct run_env re;
static struct run_result res;
static struct server dns, mx;
static char dnslog[400], mxrec[400], logpath[400], qdir[400];
static char devdir[400];	/* the test's /dev, mounted: "" none */
static unsigned mxport;
static int nmx;

static const char zone[] =
    "a.test. MX 10 mx1.a.test.\n"
    "mx1.a.test. A 127.0.0.2\n"
    "test.example. MX 10 mx1.a.test.\n"
    "servfail.test. A 127.0.0.2\n"
    "on servfail.test * servfail\n";

/* bad@ is refused; everything else is taken. */
static const char script[] =
    "ext PIPELINING\n"
    "rcpt match=<bad@ reply 550 5.1.1 No such user\n";

static void
setup(void)
{
	run_alarm(90);
	run_env_setup(&re);
	memset(&dns, 0, sizeof(dns));
	memset(&mx, 0, sizeof(mx));
	memset(&res, 0, sizeof(res));
	env_clear();
	nmx = 0;
	mxrec[0] = '\0';
	mxport = mx_suite_start(&re, &dns, zone, dnslog, logpath, qdir);
	/* The DSN of -oem goes to the sender, at the same MX. */
	env_set("MXSEND_SENDER=" SENDER);
}

static void
teardown(void)
{
	/* The namespace goes with this process; the tree must come off. */
	if (devdir[0] != '\0') {
		(void)umount2("/dev", MNT_DETACH);
		(void)umount2(devdir, MNT_DETACH);
		devdir[0] = '\0';
	}
	server_stop(&mx);
	server_stop(&dns);
	run_result_free(&res);
	run_env_cleanup(&re);
}

TestSuite(log, .init = setup, .fini = teardown);

static void
start_mx(void)
{
	const char *const addr[] = { "127.0.0.2", NULL };

	fakesmtp_mx_start(&mx, &re, ++nmx, script, mxrec, sizeof(mxrec),
	    &mxport, NULL, addr);
}

/* Everything a failed assertion should show. */
static const char *
ev(void)
{
	static char buf[24000];

	buf[0] = '\0';
	ev_exit(buf, sizeof(buf), &res, 4000);
	ev_file(buf, sizeof(buf), "log", logpath, 6000);
	ev_runs(buf, sizeof(buf));
	ev_server(buf, sizeof(buf), "mx", mxrec);
	return buf;
}

/*
 * mxsend with argv (NULL-terminated after argv[0]) and input, under
 * env_list(); returns its exit status.
 */
static int
run(const char *input, ...)
{
	const char *argv[16];
	va_list ap;
	int argc = 0;
	double t0 = now_s();

	va_start(ap, input);
	while ((argv[argc] = va_arg(ap, const char *)) != NULL)
		cr_assert(++argc < 15);
	va_end(ap);
	run_result_free(&res);
	cr_assert_eq(run_mxsend(&re, argv, input, input ? strlen(input) : 0,
	    env_list(), 30, &res), 0, "could not run %s", mxsend_path());
	hist_add(argv[1] != NULL ? argv[1] : argv[0], res.status,
	    now_s() - t0, res.out, res.err);
	cr_assert(!res.timed_out, "mxsend did not finish%s", ev());
	return res.status;
}

/* A message to the To: header to, with body lines of filler. */
static char *
message(const char *to, size_t filler)
{
	size_t cap = 512 + filler * 80, n, i;
	char *m = malloc(cap);

	cr_assert(m != NULL);
	n = (size_t)snprintf(m, cap, "From: " SENDER "\nTo: %s\n"
	    "Subject: log test\n\n" BODY "\n", to);
	for (i = 0; i < filler; i++)
		n += (size_t)snprintf(m + n, cap - n, "filler line %04zu of "
		    "the log test, long enough to weigh something.\n", i);
	return m;
}

/* Send message(to, filler) with -t and options; its exit status. */
static int
send_t(const char *to, size_t filler, const char *opt)
{
	char *m = message(to, filler);
	int st;

	if (opt != NULL)
		st = run(m, "sendmail", opt, "-t", NULL);
	else
		st = run(m, "sendmail", "-t", NULL);
	free(m);
	return st;
}

/* The log file's lines that match the extended regex re_text. */
static int
log_matches(const char *re_text, char *first, size_t firstlen)
{
	regex_t rx;
	char *log = slurp(logpath, NULL), *line, *save = NULL;
	int n = 0;

	cr_assert(regcomp(&rx, re_text, REG_EXTENDED | REG_NOSUB) == 0,
	    "bad regex %s", re_text);
	for (line = log != NULL ? strtok_r(log, "\n", &save) : NULL;
	    line != NULL; line = strtok_r(NULL, "\n", &save))
		if (regexec(&rx, line, 0, NULL, 0) == 0) {
			if (n++ == 0 && first != NULL)
				snprintf(first, firstlen, "%s", line);
		}
	regfree(&rx);
	free(log);
	return n;
}

/* syslog's prefix in the file: "Dec  7 10:56:01 host mxsend/SVC[PID]: " */
#define PREFIX(svc) "^[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} " \
	"[^ ]+ mxsend/" svc "\\[[0-9]+\\]: [0-9A-F]{18}: "

/*
 * The whole story of one message, line by line as SPEC §6 shows it;
 * and -v shows the same lines on stderr.
 */
Test(log, lines_of_a_message_as_postfix_writes_them)
{
	start_mx();
	/* -oem: the failure went to the sender in a DSN, exit 0. */
	cr_assert_eq(send_t("good@a.test, bad@a.test", 0, "-oem"), 0, "%s",
	    ev());
	server_stop(&mx);
	cr_assert_eq(log_matches(PREFIX("pickup") "uid=[0-9]+ "
	    "from=<" SENDER ">$", NULL, 0), 1, "pickup line%s", ev());
	cr_assert_eq(log_matches(PREFIX("qmgr") "from=<" SENDER ">, "
	    "size=[0-9]+, nrcpt=2 \\(queue active\\)$", NULL, 0), 1,
	    "qmgr line%s", ev());
	cr_assert_eq(log_matches(PREFIX("smtp") "to=<good@a\\.test>, "
	    "relay=mx1\\.a\\.test\\[127\\.0\\.0\\.2\\]:[0-9]+, "
	    "delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, "
	    "dsn=2\\.0\\.0, status=sent \\(250 .*\\), tls=none: STARTTLS "
	    "not offered, plain text$", NULL, 0), 1, "sent line%s", ev());
	cr_assert_eq(log_matches(PREFIX("smtp") "to=<bad@a\\.test>, .*"
	    "dsn=5\\.1\\.1, status=bounced \\(.*No such user.*\\)", NULL, 0),
	    1, "bounced line%s", ev());
	/* The DSN: a message of its own, from <>, removed once sent. */
	cr_assert_eq(log_matches(PREFIX("bounce") "sender non-delivery "
	    "notification: [0-9A-F]{18}$", NULL, 0), 1, "bounce line%s",
	    ev());
	cr_assert_eq(log_matches(PREFIX("qmgr") "from=<>, size=[0-9]+, "
	    "nrcpt=1 \\(queue active\\)$", NULL, 0), 1, "DSN's qmgr line%s",
	    ev());
	cr_assert_eq(log_matches(PREFIX("smtp") "to=<" SENDER ">, .*"
	    "status=sent", NULL, 0), 1, "DSN's sent line%s", ev());
	cr_assert_eq(log_matches(PREFIX("qmgr") "removed$", NULL, 0), 2,
	    "removed lines%s", ev());
}

Test(log, verbose_shows_the_same_lines_on_stderr)
{
	start_mx();
	cr_assert_eq(send_t("good@a.test", 0, "-v"), 0, "%s", ev());
	server_stop(&mx);
	cr_assert(line_with(res.err, "mxsend/pickup[") != NULL &&
	    line_with(res.err, "mxsend/qmgr[") != NULL &&
	    line_with(res.err, "(queue active)") != NULL &&
	    line_with(res.err, "mxsend/smtp[") != NULL &&
	    strstr(line_with(res.err, "mxsend/smtp["), "to=<good@a.test>, "
	    "relay=mx1.a.test[127.0.0.2]") != NULL &&
	    line_with(res.err, ": removed") != NULL, "-v lines%s", ev());
	/* The log has them too, once each. */
	cr_assert_eq(log_matches("mxsend/smtp\\[", NULL, 0), 1, "%s", ev());
}

/* ---------------------------------------------------------- pflogsumm */

/* The value of pflogsumm's Grand Totals line that ends in what. */
static long
total(const char *report, const char *what)
{
	const char *p = report, *nl;
	char line[256];
	long v;

	for (; p != NULL && *p != '\0'; p = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		snprintf(line, sizeof(line), "%.*s", nl != NULL ?
		    (int)(nl - p) : (int)strlen(p), p);
		if (sscanf(line, " %ld", &v) == 1 && strstr(line, what) != NULL
		    && strchr(line, 'k') == NULL && strchr(line, 'm') == NULL)
			return v;
		if (sscanf(line, " %ld", &v) == 1 && strstr(line, what) != NULL)
			cr_assert_fail("pflogsumm rounded: %s", line);
	}
	cr_assert_fail("no \"%s\" in pflogsumm's report:\n%s", what, report);
	return -1;
}

/* Octets of every message the MX took, one per accepted recipient. */
static long
bytes_recorded(int *ndelivered)
{
	long sum = 0;
	int n, m, k;
	char what[32], *env, *msg, *p;
	size_t len;

	*ndelivered = 0;
	for (n = 1; n <= nsess(mxrec); n++)
		for (m = 1; m < 10; m++) {
			snprintf(what, sizeof(what), "env-%d", m);
			if ((env = file_in(mxrec, n, what)) == NULL)
				break;
			snprintf(what, sizeof(what), "msg-%d", m);
			msg = file_in(mxrec, n, what);
			len = msg != NULL ? strlen(msg) : 0;
			for (k = 0, p = env; (p = strstr(p, "accepted <")) !=
			    NULL; p++)
				k++;
			if (strstr(env, "result 250") != NULL) {
				*ndelivered += k;
				sum += (long)len * k;
			}
			free(env);
			free(msg);
		}
	return sum;
}

/* The sum of the size= of the first qmgr line of each message picked up. */
static long
bytes_picked_up(int *npickups)
{
	char *log = slurp(logpath, NULL), *line, *save = NULL, *p;
	char seen[16][20];
	int nseen = 0, i;
	long sum = 0;

	*npickups = 0;
	for (line = log != NULL ? strtok_r(log, "\n", &save) : NULL;
	    line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if ((p = strstr(line, "mxsend/pickup[")) != NULL) {
			p = strstr(p, "]: ") + 3;
			cr_assert(nseen < 16);
			snprintf(seen[nseen++], sizeof(seen[0]), "%.18s", p);
			(*npickups)++;
			continue;
		}
		if ((p = strstr(line, "mxsend/qmgr[")) == NULL ||
		    strstr(line, "(queue active)") == NULL)
			continue;
		p = strstr(p, "]: ") + 3;
		for (i = 0; i < nseen; i++)
			if (strncmp(seen[i], p, 18) == 0) {
				sum += atol(strstr(p, "size=") + 5);
				seen[i][0] = '\0';	/* the first one only */
			}
	}
	free(log);
	return sum;
}

/*
 * Five messages picked up: one recipient sent; two sent (a larger one);
 * one sent and one bounced with -oem (the DSN is a sixth message,
 * delivered, not picked up); one deferred; one sent and one deferred.
 * Then -qR retries both deferred recipients, which are deferred again.
 */
static void
make_log(void)
{
	start_mx();
	cr_assert_eq(send_t("one@a.test", 0, NULL), 0, "%s", ev());
	cr_assert_eq(send_t("two@a.test, three@a.test", 400, NULL), 0, "%s",
	    ev());
	cr_assert_eq(send_t("bad@a.test, four@a.test", 30, "-oem"), 0,
	    "%s", ev());
	cr_assert_eq(send_t("later@servfail.test", 10, NULL), 75, "%s",
	    ev());
	cr_assert_eq(send_t("x@servfail.test, five@a.test", 5, NULL), 75,
	    "%s", ev());
	cr_assert_eq(run(NULL, "sendmail", "-qRservfail.test", NULL), 0,
	    "%s", ev());
	server_stop(&mx);
}

Test(log, pflogsumm_counts_received_delivered_deferred_bounced_bytes)
{
	char out[400], errp[400], *report;
	/* server_run() sends stdout nowhere: the shell takes it to out. */
	const char *argv[] = { "/bin/sh", "-c", "exec /usr/bin/perl \"$0\" "
	    "--syslog-name=mxsend \"$1\" >\"$2\"", PFLOGSUMM, logpath, out,
	    NULL };
	long rcvd, dlvd;
	int ndelivered, npickups;

	if (access(PFLOGSUMM, R_OK) != 0)
		cr_skip_test("pflogsumm is not installed (apt-get install "
		    "pflogsumm)");
	make_log();
	snprintf(out, sizeof(out), "%s/pflogsumm.out", re.dir);
	snprintf(errp, sizeof(errp), "%s/pflogsumm.err", re.dir);
	cr_assert_eq(server_run(argv, errp, 30000), 0, "pflogsumm failed%s",
	    ev());
	report = slurp(out, NULL);
	cr_assert(report != NULL);
	dlvd = bytes_recorded(&ndelivered);
	rcvd = bytes_picked_up(&npickups);
	cr_assert_eq(npickups, 5, "%s", ev());
	cr_assert_eq(ndelivered, 6, "the MX took %d%s", ndelivered, ev());
	cr_assert_eq(total(report, "  received"), 5, "%s%s", report, ev());
	cr_assert_eq(total(report, "  delivered"), 6, "%s", report);
	cr_assert_eq(total(report, "  deferred"), 2, "%s", report);
	/* "%d%s deferrals", the units a blank. */
	cr_assert(strstr(report, "(4  deferrals)") != NULL, "%s", report);
	cr_assert_eq(total(report, "  bounced"), 1, "%s", report);
	cr_assert_eq(total(report, "bytes received"), rcvd, "want %ld:\n%s",
	    rcvd, report);
	cr_assert_eq(total(report, "bytes delivered"), dlvd, "want %ld "
	    "(what the MX recorded):\n%s", dlvd, report);
	cr_log_info("pflogsumm: 5 received, 6 delivered, 2 deferred "
	    "(4 deferrals), 1 bounced, %ld bytes received, %ld bytes "
	    "delivered", rcvd, dlvd);
	free(report);
}

/* ------------------------------------------------------------- syslog */

/* The devices mxsend, its test servers and GnuTLS open. */
static const char *const devices[] = { "null", "zero", "random", "urandom",
    NULL };

/*
 * Replace /dev, in a mount namespace of this test's process alone
 * (Criterion runs each test in a process of its own), by a tmpfs with
 * the devices above bound from the real one and, with_log, a datagram
 * socket at /dev/log as syslogd has: its descriptor, else -1. Skips the
 * test when it cannot (not root, no namespaces).
 */
static int
private_dev(int with_log)
{
	struct sockaddr_un sun;
	char path[600];
	size_t i;
	int fd = -1;

	if (geteuid() != 0)
		cr_skip_test("not root: no mount namespace to give mxsend a "
		    "/dev with or without a syslog socket");
	if (unshare(CLONE_NEWNS) != 0)
		cr_skip_test("unshare(CLONE_NEWNS): %s", strerror(errno));
	cr_assert(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0,
	    "making / private: %s", strerror(errno));
	snprintf(devdir, sizeof(devdir), "%s/dev", re.dir);
	cr_assert(mkdir(devdir, 0755) == 0 && mount("tmpfs", devdir,
	    "tmpfs", 0, "mode=755") == 0, "tmpfs %s: %s", devdir,
	    strerror(errno));
	for (i = 0; devices[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", devdir, devices[i]);
		write_file(path, "");
		snprintf(sun.sun_path, sizeof(sun.sun_path), "/dev/%s",
		    devices[i]);
		cr_assert(mount(sun.sun_path, path, NULL, MS_BIND, NULL) == 0,
		    "bind %s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/fd", devdir);
	cr_assert(symlink("/proc/self/fd", path) == 0);
	if (with_log) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		cr_assert((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
		    "%s/log", devdir) < sizeof(sun.sun_path));
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		cr_assert(fd != -1 && bind(fd, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0, "bind %s: %s", sun.sun_path,
		    strerror(errno));
	}
	cr_assert(mount(devdir, "/dev", NULL, MS_BIND, NULL) == 0,
	    "bind /dev: %s", strerror(errno));
	return fd;
}

/* Every datagram waiting on fd, one a line, in buf. */
static void
drain(int fd, char *buf, size_t size)
{
	char dg[4096];
	ssize_t n;
	int i;

	buf[0] = '\0';
	for (i = 0; i < 200; i++) {
		if ((n = recv(fd, dg, sizeof(dg) - 1, 0)) <= 0)
			break;
		dg[n] = '\0';
		append(buf, size, "%s\n", dg);
	}
}

static void
assert_syslogged(const char *got, const char *needle)
{
	cr_assert(line_with(got, needle) != NULL, "no \"%s\" in what syslog "
	    "received:\n%s%s", needle, got, ev());
}

#define SYSLOG_WARNING "warning: log syslog: /dev/log: "

/* SPEC §4: `log syslog` reaches syslog's socket, each line as its service. */
Test(log, syslog_lines_carry_the_service_names)
{
	char got[16384];
	int fd;

	fd = private_dev(1);
	env_set("MXSEND_LOG=syslog");
	start_mx();
	cr_assert_eq(send_t("good@a.test", 0, "-v"), 0, "%s", ev());
	server_stop(&mx);
	drain(fd, got, sizeof(got));
	close(fd);
	cr_assert(strstr(res.err, SYSLOG_WARNING) == NULL, "a warning with "
	    "/dev/log there%s", ev());
	/* <22>: facility mail, priority info. */
	assert_syslogged(got, "<22>");
	assert_syslogged(got, " mxsend/pickup[");
	assert_syslogged(got, " mxsend/qmgr[");
	assert_syslogged(got, ": to=<good@a.test>, relay=");
	cr_assert(strstr(line_with(got, ": to=<good@a.test>, relay="),
	    " mxsend/smtp[") != NULL, "%s", got);
	assert_syslogged(got, ": removed");
}

/* Issue 18: no /dev/log (containers): said once under -v, else not. */
Test(log, syslog_without_dev_log_warns_under_v_and_config_check)
{
	const char *w;

	(void)private_dev(0);
	env_set("MXSEND_LOG=syslog");
	start_mx();
	cr_assert_eq(send_t("good@a.test", 0, "-v"), 0, "%s", ev());
	w = strstr(res.err, SYSLOG_WARNING "No such file or directory");
	cr_assert(w != NULL && strstr(w + 1, SYSLOG_WARNING) == NULL,
	    "want one warning%s", ev());
	cr_assert_eq(send_t("good@a.test", 0, NULL), 0, "%s", ev());
	cr_assert(strstr(res.err, SYSLOG_WARNING) == NULL, "warned without "
	    "-v (cron would mail it every time)%s", ev());
	cr_assert_eq(run(NULL, "sendmail", "--config-check", NULL), 0, "%s",
	    ev());
	cr_assert(strstr(res.err, SYSLOG_WARNING) != NULL,
	    "--config-check did not say it%s", ev());
	/* A log file instead: nothing to say. */
	env_set("MXSEND_LOG=%s", logpath);
	cr_assert_eq(run(NULL, "sendmail", "--config-check", NULL), 0, "%s",
	    ev());
	cr_assert(strstr(res.err, SYSLOG_WARNING) == NULL, "%s", ev());
	server_stop(&mx);
}
