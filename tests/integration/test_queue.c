/*
 * test_queue.c: the durable queue of SPEC §7 and the bounces of §8, run end
 * to end: the real mxsend binary against the scripted DNS server (fakedns)
 * and scripted SMTP servers (fakesmtp) playing MX hosts on loopback
 * addresses 127.0.0.2 (a.test, the sender's domain) and 127.0.0.3 (b.test,
 * the recipient's) that share one port, with the on-disk layout of
 * doc/queue.md: QUEUE_DIR/UID/ID.msg and ID.env.
 *
 * Pinned down here: a deferred message is queued (exit 75, the entry on
 * disk, mode 0600) and listed by mailq in Postfix's format; a plain -q
 * honours the back-off while -qR/-qI/-qS force a retry; -odq queues and
 * -odb queues, returns at once and delivers in the background; a kill -9 of
 * mxsend at each stage of the SMTP session leaves the message in the queue
 * for the next -q (at least once, at most one duplicate); two concurrent
 * queue runs deliver every entry exactly once; a corrupt entry is moved
 * aside without stopping the run; an unusable queue_dir falls back to
 * $HOME/.mxsend/queue; -oem bounces (RFC 3464) and their exit status;
 * queue_lifetime expiry (5.4.7) into dead.letter or a bounce.
 *
 * Every server is started by the test and stopped by its PID; every wait is
 * bounded in count and time; every mxsend started without run_mxsend() is
 * killed by its PID and reaped.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

#define BODY	"The queued body line 5c1e, kept for the test."
#define SUBJECT	"queue test 9d42"
#define SENDER	"s@a.test"
#define RCPT	"x@b.test"
#define MXA	"127.0.0.2"	/* mx1.a.test: the sender's domain */
#define MXB	"127.0.0.3"	/* mx1.b.test: the recipient's domain */

static struct run_env re;
static struct run_result res;
static struct server dns, mx;
static char dnslog[400], logpath[400], qdir[300], udir[400], hqdir[400];
static char mxrec[400], oldrec[400];
static unsigned mxport;
static int nmx, have_mx;
static double elapsed;


/* mxsend processes started by bg_start() and not reaped yet. */
static pid_t bgpids[8];

static const char zone[] =
    "a.test. MX 10 mx1.a.test.\n"
    "mx1.a.test. A " MXA "\n"
    "b.test. MX 10 mx1.b.test.\n"
    "mx1.b.test. A " MXB "\n";

/* ------------------------------------------------------------ helpers */




static void
join_argv(char *buf, size_t size, const char *const argv[])
{
	int i;

	buf[0] = '\0';
	for (i = 0; argv[i] != NULL; i++)
		append(buf, size, "%s'%s'", i ? " " : "", argv[i]);
}

/* ---------------------------------------------------- server records */

/*
 * The messages a server took with a 250 at ip (NULL: any) whose text holds
 * needle (NULL: any): how many; the last one's session and transaction in
 * *sn, *tn when not NULL.
 */
static int
messages_at(const char *dir, const char *ip, const char *needle, int *sn,
    int *tn)
{
	int n, m, k = 0, total = nsess(dir);

	for (n = 1; n <= total; n++) {
		if (!sess_is_at(dir, n, ip))
			continue;
		for (m = 1; m <= 100; m++) {
			char what[16], *env, *msg;
			int ok;

			snprintf(what, sizeof(what), "env-%d", m);
			if ((env = file_in(dir, n, what)) == NULL)
				break;
			snprintf(what, sizeof(what), "msg-%d", m);
			msg = file_in(dir, n, what);
			ok = strstr(env, "result 250") != NULL && msg != NULL &&
			    (needle == NULL || strstr(msg, needle) != NULL);
			free(env);
			free(msg);
			if (ok) {
				k++;
				if (sn != NULL)
					*sn = n;
				if (tn != NULL)
					*tn = m;
			}
		}
	}
	return k;
}

/* Message texts (session-N.msg-M files) holding needle, whatever the result. */
static int
msg_files_with(const char *dir, const char *needle)
{
	int n, m, k = 0, total = nsess(dir);

	for (n = 1; n <= total; n++)
		for (m = 1; m <= 100; m++) {
			char what[16], *msg;

			snprintf(what, sizeof(what), "msg-%d", m);
			if ((msg = file_in(dir, n, what)) == NULL)
				break;
			k += strstr(msg, needle) != NULL;
			free(msg);
		}
	return k;
}

/* ------------------------------------------------------------ queue */



static void
ev_queue(char *buf, size_t size, const char *dir)
{
	struct dirent *de;
	DIR *d;
	int shown = 0;

	if ((d = opendir(dir)) == NULL) {
		append(buf, size, "[queue %s] (%s)\n", dir, strerror(errno));
		return;
	}
	append(buf, size, "[queue %s]\n", dir);
	while ((de = readdir(d)) != NULL) {
		char path[800], *s;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0)
			continue;
		append(buf, size, "  %s %04o %lld\n", de->d_name,
		    (unsigned)(st.st_mode & 07777), (long long)st.st_size);
		if (strstr(de->d_name, ".env") != NULL && shown < 4 &&
		    (s = slurp(path, NULL)) != NULL) {
			append(buf, size, "%.800s\n", s);
			free(s);
			shown++;
		}
	}
	closedir(d);
}

/* Everything a failed assertion should show. */
static const char *
ev(void)
{
	static char buf[40000];
	const char *const *e;
	char *log;

	buf[0] = '\0';
	ev_runs(buf, sizeof(buf));
	if ((log = slurp(logpath, NULL)) != NULL) {
		append(buf, sizeof(buf), "--- log:\n%.3000s\n", log);
		free(log);
	}
	if ((log = slurp(dnslog, NULL)) != NULL) {
		append(buf, sizeof(buf), "--- DNS queries:\n%.800s\n", log);
		free(log);
	}
	append(buf, sizeof(buf), "--- environment:");
	for (e = env_list(); *e != NULL; e++)
		append(buf, sizeof(buf), " %s", *e);
	append(buf, sizeof(buf), "\n--- queue:\n");
	ev_queue(buf, sizeof(buf), udir);
	ev_queue(buf, sizeof(buf), hqdir);
	if (oldrec[0] != '\0')
		ev_server(buf, sizeof(buf), "old mx", oldrec);
	if (have_mx)
		ev_server(buf, sizeof(buf), "mx", mxrec);
	return buf;
}

/* -------------------------------------------------------- set-up */

static void
setup(void)
{
	char zpath[400], life[16];
	const char *const dnsargs[] = { "--lifetime",
	    run_seconds(life, 120), NULL };

	run_alarm(60);
	run_env_setup(&re);
	memset(&dns, 0, sizeof(dns));
	memset(&mx, 0, sizeof(mx));
	memset(&res, 0, sizeof(res));
	env_clear();
	nmx = have_mx = 0;
	memset(bgpids, 0, sizeof(bgpids));
	mxrec[0] = oldrec[0] = '\0';
	elapsed = 0;
	snprintf(zpath, sizeof(zpath), "%s", run_env_file(&re, "zone", zone,
	    0644));
	snprintf(dnslog, sizeof(dnslog), "%s/dns.log", re.dir);
	snprintf(logpath, sizeof(logpath), "%s/mxsend.log", re.dir);
	snprintf(qdir, sizeof(qdir), "%s/queue", re.dir);
	snprintf(udir, sizeof(udir), "%s/%lu", qdir, (unsigned long)getuid());
	snprintf(hqdir, sizeof(hqdir), "%s/.mxsend/queue/%lu", re.dir,
	    (unsigned long)getuid());
	/* As make install creates it: anyone may queue (run.c may have). */
	cr_assert((mkdir(qdir, 0700) == 0 || errno == EEXIST) &&
	    chmod(qdir, 01733) == 0, "mkdir %s: %s", qdir, strerror(errno));
	{
		struct stat st;

		cr_assert(lstat(qdir, &st) == 0 && S_ISDIR(st.st_mode) &&
		    (st.st_mode & 07777) == 01733, "%s is not a directory of "
		    "mode 1733", qdir);
		cr_assert(entries(udir, NULL, 0) == 0, "%s is not empty", udir);
	}
	fakedns_start(&dns, zpath, dnslog, dnsargs);
	mxport = env_mx_suite(logpath, qdir);
}

static void
teardown(void)
{
	size_t i;

	/* An assertion may have left a background mxsend: stop it. */
	for (i = 0; i < sizeof(bgpids) / sizeof(bgpids[0]); i++)
		if (bgpids[i] > 0) {
			int st;

			kill(bgpids[i], SIGKILL);
			(void)waitpid(bgpids[i], &st, 0);
			bgpids[i] = 0;
		}
	server_stop(&mx);
	server_stop(&dns);
	run_result_free(&res);
	hist_free();
	run_env_cleanup(&re);
}

TestSuite(queue, .init = setup, .fini = teardown);

/*
 * One fakesmtp serving the MX hosts: a listener on each address given
 * (NULL-terminated), all on the one port mx_port, a record directory of
 * its own (the previous one is kept in oldrec).
 */
static void
start_mx(const char *script, ...)
{
	char life[16];
	const char *const extra[] = { "--max-sessions", "5000",
	    "--lifetime", run_seconds(life, 120), NULL };
	va_list ap;

	server_stop(&mx);
	if (mxrec[0] != '\0')
		memcpy(oldrec, mxrec, sizeof(oldrec));
	va_start(ap, script);
	fakesmtp_mx_vstart(&mx, &re, ++nmx, script, mxrec, sizeof(mxrec),
	    &mxport, extra, ap);
	va_end(ap);
	have_mx = 1;
}

/* ------------------------------------------------------------ running */

static char *
message(const char *subject)
{
	static char msg[1024];

	snprintf(msg, sizeof(msg), "From: " SENDER "\nTo: " RCPT "\n"
	    "Subject: %s\n\n" BODY "\n", subject);
	return msg;
}

/* Run argv (NULL-terminated) with input on stdin, 30 s at most. */
static int
run_argv(const char *input, const char *const argv[])
{
	char cmd[300];
	double t0;

	run_result_free(&res);
	t0 = now_s();
	cr_assert_eq(run_mxsend(&re, argv, input, input ? strlen(input) : 0,
	    env_list(), 30, &res), 0, "could not run %s", mxsend_path());
	elapsed = now_s() - t0;
	join_argv(cmd, sizeof(cmd), argv);
	hist_add(cmd, res.status, elapsed, res.out, res.err);
	cr_assert(!res.timed_out, "mxsend did not finish in 30 s%s", ev());
	return res.status;
}

/*
 * "sendmail -f SENDER [OPTIONS...] RCPT" (options NULL-terminated) with a
 * message of that subject. Returns the exit status.
 */
static int
submit(const char *sender, const char *subject, ...)
{
	const char *argv[20];
	int argc = 0;
	va_list ap;

	argv[argc++] = "sendmail";
	argv[argc++] = "-f";
	argv[argc++] = sender;
	va_start(ap, subject);
	while ((argv[argc] = va_arg(ap, const char *)) != NULL)
		cr_assert(++argc < 17);
	va_end(ap);
	argv[argc++] = RCPT;
	argv[argc] = NULL;
	return run_argv(message(subject), argv);
}

/* "sendmail ARG" with no input (-q, -qR..., -bp). */
static int
run1(const char *name, const char *arg)
{
	const char *argv[3] = { name, arg, NULL };

	return run_argv(NULL, argv);
}

static int
mailq_empty(void)
{
	run1("mailq", NULL);
	return res.status == 0 && strstr(res.out, "Mail queue is empty") != NULL;
}

/*
 * mxsend started in the background, the way run_mxsend() runs it (same
 * argv, environment and defaults), stdin from a file, stdout and stderr to
 * files in the test directory.
 */
struct bg {
	pid_t	 pid;
	char	 cmd[300];
	char	 out[400], err[400];
	double	 t0;
	int	 status;
};

static void
bg_start(struct bg *b, const char *input, const char *const argv[])
{
	static int nbg;
	static const char *const defaults[] = {
		"MXSEND_DEFAULT_DOMAIN=test.example",
		"MXSEND_NAMESERVER=127.0.0.1:1",
		"MXSEND_LOG=none",
		NULL
	};
	char home[300], tmp[300], conf[320], al[320], in[400];
	char pwd[340], grp[340];
	const char *const *env = env_list();
	char *envp[64];
	size_t n = 0, i;
	int fd, j;

	memset(b, 0, sizeof(*b));
	nbg++;
	snprintf(in, sizeof(in), "%s/bg-%d.in", re.dir, nbg);
	snprintf(b->out, sizeof(b->out), "%s/bg-%d.out", re.dir, nbg);
	snprintf(b->err, sizeof(b->err), "%s/bg-%d.err", re.dir, nbg);
	fd = open(in, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	cr_assert(fd >= 0, "create %s: %s", in, strerror(errno));
	if (input != NULL)
		cr_assert((size_t)write(fd, input, strlen(input)) ==
		    strlen(input));
	close(fd);
	snprintf(home, sizeof(home), "HOME=%s", re.dir);
	snprintf(tmp, sizeof(tmp), "TMPDIR=%s", re.dir);
	snprintf(conf, sizeof(conf), "MXSEND_CONFIG=%s", re.conf);
	snprintf(al, sizeof(al), "MXSEND_ALIASES=%s", re.aliases);
	envp[n++] = "PATH=/usr/bin:/bin";
	envp[n++] = home;
	envp[n++] = tmp;
	envp[n++] = conf;
	envp[n++] = al;
	/* The test's password database, as run.c gives every run. */
	snprintf(pwd, sizeof(pwd), "NSS_WRAPPER_PASSWD=%s", re.passwd);
	snprintf(grp, sizeof(grp), "NSS_WRAPPER_GROUP=%s", re.group);
	envp[n++] = "LD_PRELOAD=libnss_wrapper.so";
	/* Deep binding and the sanitizer runtimes do not mix. */
	envp[n++] = "NSS_WRAPPER_DISABLE_DEEPBIND=1";
	envp[n++] = pwd;
	envp[n++] = grp;
	if (getenv("ASAN_OPTIONS"))
		envp[n++] = RUN_ASAN_OPTIONS;
	if (getenv("UBSAN_OPTIONS"))
		envp[n++] = "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1";
	for (j = 0; env[j] != NULL && n < 58; j++)
		envp[n++] = (char *)env[j];
	for (i = 0; defaults[i] != NULL; i++) {
		size_t klen = strcspn(defaults[i], "=") + 1;
		int set = 0;

		for (j = 0; env[j] != NULL; j++)
			set |= strncmp(env[j], defaults[i], klen) == 0;
		if (!set)
			envp[n++] = (char *)defaults[i];
	}
	envp[n] = NULL;
	join_argv(b->cmd, sizeof(b->cmd), argv);
	append(b->cmd, sizeof(b->cmd), " (in the background)");
	b->t0 = now_s();
	b->pid = fork();
	cr_assert(b->pid >= 0, "fork: %s", strerror(errno));
	if (b->pid == 0) {
		int i0 = open(in, O_RDONLY);
		int o = open(b->out, O_CREAT | O_TRUNC | O_WRONLY, 0600);
		int e = open(b->err, O_CREAT | O_TRUNC | O_WRONLY, 0600);

		if (i0 < 0 || o < 0 || e < 0)
			_exit(126);
		dup2(i0, 0);
		dup2(o, 1);
		dup2(e, 2);
		closefrom(3);
		run_exec(&re, mxsend_path(), argv, envp);
		_exit(127);
	}
	/* Registered, so that teardown kills it if an assertion fails. */
	for (i = 0; i < sizeof(bgpids) / sizeof(bgpids[0]); i++)
		if (bgpids[i] == 0) {
			bgpids[i] = b->pid;
			break;
		}
}

/* Reap b, killing it first if it is still running after timeout_s. */
static int
bg_wait(struct bg *b, double timeout_s)
{
	double end = now_s() + timeout_s * run_slack();
	char *o, *e;
	size_t j;
	int st, killed = 0;

	if (b->pid <= 0)
		return b->status;
	for (;;) {
		pid_t r = waitpid(b->pid, &st, WNOHANG);

		if (r == b->pid)
			break;
		if (r < 0 && errno != EINTR) {
			st = 0;
			break;
		}
		if (now_s() > end && !killed) {
			kill(b->pid, SIGKILL);
			killed = 1;
			end = now_s() + 5;
		} else if (now_s() > end) {
			/* Cannot happen: SIGKILL is not ignored. */
			cr_assert_fail("%s survived SIGKILL", b->cmd);
		}
		msleep(10);
	}
	for (j = 0; j < sizeof(bgpids) / sizeof(bgpids[0]); j++)
		if (bgpids[j] == b->pid)
			bgpids[j] = 0;
	b->pid = 0;
	b->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	o = slurp(b->out, NULL);
	e = slurp(b->err, NULL);
	hist_add(b->cmd, b->status, now_s() - b->t0, o, e);
	free(o);
	free(e);
	cr_assert(!killed, "%s did not finish in %.0f s%s", b->cmd, timeout_s,
	    ev());
	return b->status;
}

/* Wait until cond(arg) holds, polling every 20 ms, ms at most. */
static int
wait_for(int (*cond)(const char *), const char *arg, long ms)
{
	double end = now_s() + ms / 1000.0 * run_slack();

	while (!cond(arg)) {
		if (now_s() > end)
			return 0;
		msleep(20);
	}
	return 1;
}

/* ------------------------------------------------------ assertion kits */

#define assert_exit(code) \
	cr_assert_eq(res.status, (code), "want exit %d%s", (code), ev())


/* The one entry of dir (its id in id); asserts there is exactly one. */
static void
the_entry(const char *dir, char id[IDLEN + 1])
{
	char ids[4][IDLEN + 1];
	int n = entries(dir, ids, 4);

	cr_assert_eq(n, 1, "%d entries in %s, want 1%s", n, dir, ev());
	memcpy(id, ids[0], IDLEN + 1);
}

static char *
entry_file(const char *dir, const char *id, const char *suffix)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s%s", dir, id, suffix);
	return slurp(path, NULL);
}

static int
exists(const char *dir, const char *id, const char *suffix)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s%s", dir, id, suffix);
	return access(path, F_OK) == 0;
}

static void
assert_mode_0600(const char *dir, const char *id, const char *suffix)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s%s", dir, id, suffix);
	cr_assert(lstat(path, &st) == 0, "%s: %s%s", path, strerror(errno),
	    ev());
	cr_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
	    "%s has mode %04o, want a regular file 0600%s", path,
	    (unsigned)(st.st_mode & 07777), ev());
}

/*
 * The last run deferred RCPT and said so: exit 75, "<RCPT>: deferred: ..."
 * and "message ID queued in DIR for retry" on stderr, with DIR the one
 * expected; the entry ID.env + ID.msg (0600) holds the message. Returns
 * the id in id.
 */
static void
assert_queued(const char *dir, char id[IDLEN + 1])
{
	const char *l, *p = NULL;
	char want[600], *msg;

	assert_exit(75);
	l = line_with(res.err, RCPT);
	cr_assert(l != NULL && strstr(l, "deferred") != NULL,
	    "no \"deferred\" stderr line for " RCPT "%s", ev());
	l = line_with(res.err, " queued in ");
	cr_assert(l != NULL, "no \"message ID queued in DIR for retry\" line%s",
	    ev());
	p = strstr(l, "message ");
	cr_assert(p != NULL && is_id(p + 8, IDLEN) && p[8 + IDLEN] == ' ',
	    "no queue id after \"message \" in: %s%s", l, ev());
	memcpy(id, p + 8, IDLEN);
	id[IDLEN] = '\0';
	snprintf(want, sizeof(want), "message %s queued in %s for retry", id,
	    dir);
	cr_assert(strstr(l, want) != NULL, "stderr line\n  %s\nis not\n  %s%s",
	    l, want, ev());
	cr_assert(exists(dir, id, ".env"), "no %s/%s.env%s", dir, id, ev());
	assert_mode_0600(dir, id, ".env");
	assert_mode_0600(dir, id, ".msg");
	msg = entry_file(dir, id, ".msg");
	cr_assert(msg != NULL && strstr(msg, BODY) != NULL &&
	    strstr(msg, "Subject: ") != NULL, "%s/%s.msg does not hold the "
	    "message:\n%s%s", dir, id, msg ? msg : "(unreadable)", ev());
	free(msg);
}

static void
assert_queue_empty(void)
{
	int n = entries(udir, NULL, 0) + entries(hqdir, NULL, 0);

	cr_assert_eq(n, 0, "%d entries left in the queue%s", n, ev());
	cr_assert(mailq_empty(), "mailq does not say \"Mail queue is "
	    "empty\"%s", ev());
}

/* The rcpt line of an ID.env for RCPT, or NULL (static buffer). */
static const char *
rcpt_line(const char *dir, const char *id)
{
	static char line[2048];
	char *env = entry_file(dir, id, ".env");
	const char *l;

	if (env == NULL)
		return NULL;
	l = line_with(env, "rcpt ");
	if (l != NULL)
		snprintf(line, sizeof(line), "%s", l);
	free(env);
	return l != NULL ? line : NULL;
}

/* =================================================== deferred, mailq */

Test(queue, deferred_message_is_queued)
{
	char id[IDLEN + 1];
	const char *l;

	/* No listener on b.test's MX: every route is down. */
	submit(SENDER, SUBJECT, NULL);
	assert_queued(udir, id);
	l = rcpt_line(udir, id);
	cr_assert(l != NULL && strncmp(l, "rcpt deferred 1 ", 16) == 0 &&
	    strstr(l, "x@b.test") != NULL, "ID.env rcpt line: %s%s",
	    l ? l : "(none)", ev());
	cr_assert_eq(entries(udir, NULL, 0), 1, "not one entry%s", ev());
}

static void
check_listing(const char *out, const char *id, const char *reason)
{
	char path[600], when[64], want[400];
	const char *l;
	struct stat st;
	struct tm tm;
	char *env, *p = NULL;
	time_t t;

	cr_assert(strncmp(out, "-Queue ID-", 10) == 0,
	    "the listing does not start with \"-Queue ID-\"%s", ev());
	l = line_with(out, id);
	cr_assert(l != NULL, "the listing lacks the id %s%s", id, ev());
	snprintf(path, sizeof(path), "%s/%s.msg", udir, id);
	if (stat(path, &st) != 0) {
		snprintf(path, sizeof(path), "%s/%s.msg", hqdir, id);
		cr_assert(stat(path, &st) == 0, "no %s.msg%s", id, ev());
	}
	snprintf(want, sizeof(want), " %lld ", (long long)st.st_size);
	cr_assert(strstr(l, want) != NULL, "the id line lacks the size %lld: "
	    "%s%s", (long long)st.st_size, l, ev());
	cr_assert(strstr(l, SENDER) != NULL, "the id line lacks the sender: "
	    "%s%s", l, ev());
	/* Arrival as Postfix prints it, from the entry's arrival time. */
	env = entry_file(udir, id, ".env");
	if (env == NULL)
		env = entry_file(hqdir, id, ".env");
	cr_assert(env != NULL && (p = strstr(env, "\narrival ")) != NULL,
	    "no arrival in %s.env%s", id, ev());
	t = (time_t)strtoll(p + 9, NULL, 10);
	free(env);
	/* mxsend runs without TZ (run.c passes none): so does this. */
	if (getenv("TZ") != NULL) {
		unsetenv("TZ");
		tzset();
	}
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
	cr_assert(strstr(l, when) != NULL, "the id line lacks the arrival "
	    "\"%s\": %s%s", when, l, ev());
	l = line_with(out, RCPT);
	cr_assert(l != NULL && strstr(l, id) == NULL,
	    "no recipient line for " RCPT "%s", ev());
	snprintf(want, sizeof(want), "(%s)", reason);
	cr_assert(strstr(out, want) != NULL, "the listing lacks the last "
	    "error \"%s\"%s", want, ev());
	cr_assert(strstr(out, "-- 1 Kbytes in 1 Request.") != NULL,
	    "no \"-- 1 Kbytes in 1 Request.\" total line%s", ev());
}

/* The reason of the "<RCPT>: deferred: REASON (4.x.x)" line (static). */
static const char *
deferred_reason(void)
{
	static char why[1024];
	const char *l = line_with(res.err, RCPT), *p = NULL;
	char *e;

	cr_assert(l != NULL && (p = strstr(l, "deferred: ")) != NULL,
	    "no deferred line%s", ev());
	snprintf(why, sizeof(why), "%s", p + 10);
	e = strrchr(why, '(');
	cr_assert(e != NULL && e > why && e[-1] == ' ',
	    "no (status) at the end of: %s%s", l, ev());
	e[-1] = '\0';
	return why;
}

Test(queue, mailq_lists_the_entry_postfix_style)
{
	char id[IDLEN + 1], why[1024];
	char *out1;

	cr_assert(mailq_empty(), "an empty queue is not \"Mail queue is "
	    "empty\"%s", ev());
	run1("sendmail", "-bp");
	cr_assert(strstr(res.out, "Mail queue is empty") != NULL,
	    "-bp on an empty queue%s", ev());

	submit(SENDER, SUBJECT, NULL);
	assert_queued(udir, id);
	snprintf(why, sizeof(why), "%s", deferred_reason());

	run1("sendmail", "-bp");
	assert_exit(0);
	check_listing(res.out, id, why);
	out1 = strdup(res.out);
	run1("mailq", NULL);
	assert_exit(0);
	check_listing(res.out, id, why);
	cr_assert_str_eq(res.out, out1, "mailq and -bp differ%s", ev());
	free(out1);
}

/* ============================================= back-off, -qR -qI -qS */

/* Queue a deferred message, then show that a plain -q leaves it alone. */
static void
deferred_then_plain_q(char id[IDLEN + 1])
{
	submit(SENDER, SUBJECT, NULL);
	assert_queued(udir, id);
	start_mx("", MXB, NULL);
	run1("sendmail", "-q");
	assert_exit(0);
	cr_assert(exists(udir, id, ".env") && exists(udir, id, ".msg"),
	    "a plain -q removed the entry within its back-off%s", ev());
	cr_assert_eq(nsess(mxrec), 0, "a plain -q within the back-off "
	    "connected%s", ev());
	cr_assert(!mailq_empty(), "mailq says empty after a plain -q%s",
	    ev());
}

static void
forced_run_delivers(const char *arg)
{
	run1("sendmail", arg);
	assert_exit(0);
	server_stop(&mx);
	cr_assert_eq(messages_at(mxrec, MXB, BODY, NULL, NULL), 1,
	    "%s: the server did not get exactly one message%s", arg, ev());
	cr_assert_eq(msg_files_with(mxrec, BODY), 1,
	    "%s: the message was sent more than once%s", arg, ev());
	assert_queue_empty();
}

Test(queue, plain_q_honours_backoff_qR_forces)
{
	char id[IDLEN + 1];

	deferred_then_plain_q(id);
	/* A selection that matches nothing delivers nothing. */
	run1("sendmail", "-qRnobody@else.test");
	assert_exit(0);
	cr_assert(exists(udir, id, ".env") && nsess(mxrec) == 0,
	    "-qR with a non-matching substring ran the entry%s", ev());
	forced_run_delivers("-qRx@b");
}

Test(queue, qI_forces_by_id)
{
	char id[IDLEN + 1], arg[40];

	deferred_then_plain_q(id);
	/* The last 8 hex digits of the id, in lower case. */
	snprintf(arg, sizeof(arg), "-qI%s", id + IDLEN - 8);
	run1("sendmail", "-qI0000000000NOSUCH");
	cr_assert(exists(udir, id, ".env") && nsess(mxrec) == 0,
	    "-qI with another id ran the entry%s", ev());
	forced_run_delivers(arg);
}

Test(queue, qS_forces_by_sender)
{
	char id[IDLEN + 1];

	deferred_then_plain_q(id);
	run1("sendmail", "-qSsomeone@else.test");
	cr_assert(exists(udir, id, ".env") && nsess(mxrec) == 0,
	    "-qS with another sender ran the entry%s", ev());
	forced_run_delivers("-qS@a.test");
}

/* =========================================================== -odq -odb */

Test(queue, odq_queues_and_next_q_delivers)
{
	char id[IDLEN + 1];
	const char *l;

	start_mx("", MXB, NULL);
	submit(SENDER, SUBJECT, "-odq", NULL);
	assert_exit(0);
	cr_assert(elapsed < 2.0 * run_slack(), "-odq took %.2f s%s", elapsed,
	    ev());
	the_entry(udir, id);
	assert_mode_0600(udir, id, ".env");
	assert_mode_0600(udir, id, ".msg");
	l = rcpt_line(udir, id);
	cr_assert(l != NULL && strncmp(l, "rcpt pending 0 0 ", 17) == 0,
	    "an -odq entry is not pending and due at once: %s%s",
	    l ? l : "(no rcpt line)", ev());
	msleep(300);
	cr_assert_eq(nsess(mxrec), 0, "-odq connected to the MX%s", ev());
	cr_assert(!mailq_empty(), "mailq does not list the -odq entry%s",
	    ev());

	run1("sendmail", "-q");
	assert_exit(0);
	server_stop(&mx);
	cr_assert_eq(messages_at(mxrec, MXB, BODY, NULL, NULL), 1,
	    "-q did not deliver the -odq entry once%s", ev());
	assert_queue_empty();
}

static int
delivered_cond(const char *dir)
{
	return messages_at(dir, MXB, BODY, NULL, NULL) > 0;
}

static int
queue_empty_cond(const char *dir)
{
	return entries(dir, NULL, 0) == 0;
}

Test(queue, odb_returns_at_once_and_delivers_in_background)
{
	double slack = run_slack();
	char greeting[80];

	/* The slow greeting needs a command time-out longer than it. */
	env_set("MXSEND_TIMEOUT_COMMAND=%.0f", 10 * slack);
	snprintf(greeting, sizeof(greeting), "greeting delay=%.0f reply 220 "
	    "slow ready\n", 3000 * slack);
	start_mx(greeting, MXB, NULL);
	submit(SENDER, SUBJECT, "-odb", NULL);
	assert_exit(0);
	cr_assert(elapsed < 1.5 * slack, "-odb took %.2f s with a %.0f s "
	    "greeting: it did not return before delivering%s", elapsed,
	    3 * slack, ev());
	cr_assert(strstr(res.err, RCPT) == NULL, "-odb reported on the "
	    "recipient%s", ev());
	cr_assert(wait_for(delivered_cond, mxrec, 15000),
	    "the background delivery did not arrive in 15 s%s", ev());
	cr_assert(wait_for(queue_empty_cond, udir, 5000),
	    "the entry was not removed within 5 s of the delivery%s", ev());
	server_stop(&mx);
	cr_assert_eq(messages_at(mxrec, MXB, BODY, NULL, NULL), 1,
	    "not exactly one message%s", ev());
	assert_queue_empty();
}

/* ==================================================== kill -9 at stages */

static int
stage_greeting(const char *dir)
{
	return nsess(dir) >= 1;
}

static int
log_has(const char *dir, const char *needle)
{
	char *log = file_in(dir, 1, "log");
	int ok = log != NULL && strstr(log, needle) != NULL;

	free(log);
	return ok;
}

static int
stage_rcpt(const char *dir)
{
	return log_has(dir, "RCPT TO:");
}

static int
stage_data(const char *dir)
{
	return log_has(dir, "DATA\n");
}

static int
stage_eod(const char *dir)
{
	return log_has(dir, " .\n");
}

static void
kill_at(const char *stage, int (*reached)(const char *))
{
	const char *argv[] = { "sendmail", "-f", SENDER, RCPT, NULL };
	char script[100], id[IDLEN + 1];
	const char *l;
	struct bg b;
	int old, now;

	/* Long time-outs: mxsend must still be waiting when it is killed. */
	env_set("MXSEND_TIMEOUT_COMMAND=30");
	env_set("MXSEND_TIMEOUT_DATA=30");
	snprintf(script, sizeof(script), "%s stall 20\n", stage);
	start_mx(script, MXB, NULL);
	bg_start(&b, message(SUBJECT), argv);
	cr_assert(wait_for(reached, mxrec, 10000), "the session did not "
	    "reach %s in 10 s%s", stage, ev());
	/* doc/queue.md: mailq marks an entry a delivery holds with '*'. */
	the_entry(udir, id);
	run1("mailq", NULL);
	{
		char busy[IDLEN + 2];

		snprintf(busy, sizeof(busy), "%s*", id);
		cr_assert(strstr(res.out, busy) != NULL, "mailq does not mark "
		    "the entry being delivered with '*'%s", ev());
	}
	kill(b.pid, SIGKILL);
	bg_wait(&b, 5);
	cr_assert_eq(b.status, 128 + SIGKILL, "mxsend was not killed by "
	    "SIGKILL at %s%s", stage, ev());
	server_stop(&mx);

	/* The message is in the queue, never attempted: due at once. */
	the_entry(udir, id);
	l = rcpt_line(udir, id);
	cr_assert(l != NULL && strncmp(l, "rcpt pending 0 0 ", 17) == 0,
	    "after kill -9 at %s the entry is not pending and due: %s%s",
	    stage, l ? l : "(no rcpt line)", ev());
	old = msg_files_with(mxrec, BODY);

	start_mx("", MXB, NULL);
	run1("sendmail", "-q");
	assert_exit(0);
	server_stop(&mx);
	now = messages_at(mxrec, MXB, BODY, NULL, NULL);
	cr_assert_eq(now, 1, "after kill -9 at %s, -q delivered %d copies to "
	    "the new server, want 1%s", stage, now, ev());
	cr_assert_eq(msg_files_with(mxrec, BODY), 1, "the new server saw "
	    "the message more than once%s", ev());
	cr_assert(old <= 1, "%d copies before the kill%s", old, ev());
	if (strcmp(stage, "eod") != 0)
		cr_assert_eq(old, 0, "the message reached the first server "
		    "before %s%s", stage, ev());
	assert_queue_empty();
}

Test(queue, kill9_at_greeting_then_q_delivers_once)
{
	kill_at("greeting", stage_greeting);
}

Test(queue, kill9_at_rcpt_then_q_delivers_once)
{
	kill_at("rcpt", stage_rcpt);
}

Test(queue, kill9_at_data_then_q_delivers_once)
{
	kill_at("data", stage_data);
}

Test(queue, kill9_at_eod_then_q_delivers_at_most_twice)
{
	kill_at("eod", stage_eod);
}

/* ===================================================== kill -9 loop */

#define KILL_SUBMITS	150	/* submissions, each killed at random, each
				   followed by a -q run killed at random */

/* Whether an entry of udir (ID.env present) holds text in its ID.msg. */
static int
queued_with(const char *text)
{
	char ids[KILL_SUBMITS + 8][IDLEN + 1], path[512], *m;
	int n, i, found = 0;

	n = entries(udir, ids, KILL_SUBMITS + 8);
	for (i = 0; i < n && !found; i++) {
		snprintf(path, sizeof(path), "%.400s/%.18s.msg", udir, ids[i]);
		if ((m = slurp(path, NULL)) != NULL)
			found = strstr(m, text) != NULL;
		free(m);
	}
	return found;
}

/* Start argv with input, kill it after 0..max_ms ms; its exit status. */
static int
killed_run(const char *input, const char *const argv[], int max_ms)
{
	struct bg b;

	bg_start(&b, input, argv);
	msleep(random() % (max_ms + 1));
	kill(b.pid, SIGKILL);
	return bg_wait(&b, 10);
}

/* Every file left in udir, for the failure message (static buffer). */
static const char *
udir_files(void)
{
	static char buf[2048];
	DIR *d = opendir(udir);
	struct dirent *de;

	buf[0] = '\0';
	while (d != NULL && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			append(buf, sizeof(buf), " %s", de->d_name);
	if (d != NULL)
		closedir(d);
	return buf;
}

/*
 * SPEC §7: kill -9 at any point of a submission or of a queue run loses
 * nothing that was accepted and leaves nothing behind. A submission
 * counts as accepted once it exited 0 or 75, or once its entry (ID.env)
 * exists: before that the caller saw mxsend die, never a success.
 */
Test(queue, kill9_loop_loses_nothing_and_leaves_no_orphans)
{
	const char *send[] = { "sendmail", "-f", SENDER, RCPT, NULL };
	const char *q[] = { "sendmail", "-q", NULL };
	char marker[64], input[256];
	int accepted[KILL_SUBMITS], st, i, nacc = 0, nlost = 0, first = -1;
	int nkilled = 0;

	run_alarm(240);
	srandom((unsigned)getpid());
	env_set("MXSEND_TIMEOUT_COMMAND=10");
	env_set("MXSEND_TIMEOUT_DATA=10");
	/* A few ms per reply: kills land in every stage of a session. */
	start_mx("latency 2\n", MXB, NULL);
	for (i = 0; i < KILL_SUBMITS; i++) {
		snprintf(marker, sizeof(marker), "kill-loop-%03d-body", i);
		snprintf(input, sizeof(input), "Subject: k%03d\n\n%s\n", i,
		    marker);
		st = killed_run(input, send, 30);
		nkilled += st == 128 + SIGKILL;
		accepted[i] = st == 0 || st == 75 || queued_with(marker);
		nacc += accepted[i];
		nkilled += killed_run(NULL, q, 30) == 128 + SIGKILL;
	}
	run1("sendmail", "-q");
	assert_exit(0);
	server_stop(&mx);
	cr_assert_geq(nkilled, 200, "only %d runs were killed", nkilled);
	for (i = 0; i < KILL_SUBMITS; i++) {
		snprintf(marker, sizeof(marker), "kill-loop-%03d-body", i);
		if (accepted[i] && msg_files_with(mxrec, marker) == 0) {
			nlost++;
			if (first < 0)
				first = i;
		}
	}
	cr_assert_eq(nlost, 0, "%d of %d accepted messages were never "
	    "delivered (first: kill-loop-%03d)%s", nlost, nacc, first, ev());
	cr_assert_str_eq(udir_files(), "", "files left in the queue%s", ev());
	cr_assert(mailq_empty(), "mailq is not empty%s", ev());
	cr_log_info("kill -9 loop: %d runs killed, %d of %d submissions "
	    "accepted, all delivered", nkilled, nacc, KILL_SUBMITS);
}

/* ====================================================== concurrency */

#define NCONC	50

Test(queue, two_concurrent_q_runs_deliver_each_entry_once)
{
	const char *argv[] = { "sendmail", "-q", NULL };
	char subject[64], want[80], ids[NCONC + 4][IDLEN + 1];
	int i, n, nmsg, count[NCONC];
	struct bg b1, b2;

	run_alarm(90);
	for (i = 0; i < NCONC; i++) {
		snprintf(subject, sizeof(subject), "conc-%02d", i);
		submit(SENDER, subject, "-odq", NULL);
		cr_assert_eq(res.status, 0, "-odq run %d%s", i, ev());
	}
	n = entries(udir, ids, NCONC + 4);
	cr_assert_eq(n, NCONC, "%d entries after %d -odq runs%s", n, NCONC,
	    ev());
	start_mx("ext PIPELINING\n", MXB, NULL);
	bg_start(&b1, NULL, argv);
	bg_start(&b2, NULL, argv);
	bg_wait(&b1, 60);
	bg_wait(&b2, 60);
	cr_assert(b1.status == 0 && b2.status == 0, "queue runs exited %d "
	    "and %d%s", b1.status, b2.status, ev());
	server_stop(&mx);

	memset(count, 0, sizeof(count));
	nmsg = 0;
	{
		int s, m, total = nsess(mxrec);

		for (s = 1; s <= total; s++)
			for (m = 1; m <= 100; m++) {
				char what[16], *msg;

				snprintf(what, sizeof(what), "msg-%d", m);
				if ((msg = file_in(mxrec, s, what)) == NULL)
					break;
				nmsg++;
				for (i = 0; i < NCONC; i++) {
					snprintf(want, sizeof(want),
					    "\nSubject: conc-%02d\r\n", i);
					if (strstr(msg, want) != NULL)
						count[i]++;
				}
				free(msg);
			}
	}
	for (i = 0; i < NCONC; i++)
		cr_assert_eq(count[i], 1, "message conc-%02d arrived %d "
		    "times (%d messages in all)%s", i, count[i], nmsg, ev());
	cr_assert_eq(nmsg, NCONC, "%d messages arrived, want %d%s", nmsg,
	    NCONC, ev());
	cr_assert_eq(messages_at(mxrec, MXB, BODY, NULL, NULL), NCONC,
	    "not every message was taken with 250%s", ev());
	assert_queue_empty();
}

/* ========================================================== corrupt */

#define BAD_ID	"0123456789ABCDEF01"	/* sorts before any real id */

static void
write_in(const char *dir, const char *name, const char *text)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "create %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

static void
corrupt_case(int with_msg)
{
	char good[IDLEN + 1];
	const char *l;

	submit(SENDER, SUBJECT, "-odq", NULL);
	assert_exit(0);
	the_entry(udir, good);
	write_in(udir, BAD_ID ".env", "mxsend-queue 1\nid " BAD_ID "\n"
	    "arrival yesterday\nthis is not an envelope \x01\x02\n");
	if (with_msg)
		write_in(udir, BAD_ID ".msg", "From: z@a.test\r\nSubject: "
		    "corrupt\r\n\r\nnever to be sent\r\n");
	start_mx("", MXB, NULL);
	run1("sendmail", "-q");
	assert_exit(0);
	server_stop(&mx);
	l = line_with(res.err, "corrupt");
	cr_assert(l != NULL && strstr(l, BAD_ID) != NULL,
	    "-q did not report the corrupt entry " BAD_ID " on stderr%s",
	    ev());
	cr_assert(exists(udir, BAD_ID, ".env.corrupt") &&
	    !exists(udir, BAD_ID, ".env"),
	    "the corrupt ID.env was not renamed to ID.env.corrupt%s", ev());
	if (with_msg)
		cr_assert(exists(udir, BAD_ID, ".msg.corrupt") &&
		    !exists(udir, BAD_ID, ".msg"),
		    "the corrupt entry's ID.msg was not moved aside%s", ev());
	cr_assert_eq(messages_at(mxrec, MXB, BODY, NULL, NULL), 1,
	    "the good entry was not delivered once%s", ev());
	cr_assert_eq(msg_files_with(mxrec, "never to be sent"), 0,
	    "the corrupt entry's message was sent%s", ev());
	cr_assert(!exists(udir, good, ".env") && !exists(udir, good, ".msg"),
	    "the good entry was not removed%s", ev());
	/* Never silently dropped: mailq lists what was moved aside. */
	run1("mailq", NULL);
	l = line_with(res.out, BAD_ID);
	cr_assert(l != NULL && strstr(l, "corrupt") != NULL, "mailq does not "
	    "list the corrupt entry%s", ev());
	cr_assert(line_with(res.out, good) == NULL, "mailq lists the "
	    "delivered entry%s", ev());
	/* Moved aside, never retried: the next run says nothing of it. */
	run1("sendmail", "-q");
	assert_exit(0);
	cr_assert(strstr(res.err, "corrupt") == NULL, "a second -q reported "
	    "the corrupt entry again%s", ev());
}

Test(queue, corrupt_envelope_does_not_stop_the_run)
{
	corrupt_case(1);
}

Test(queue, envelope_without_message_is_corrupt)
{
	corrupt_case(0);
}

/* ================================================= queue_dir fallback */

static void
fallback_case(const char *what)
{
	char id[IDLEN + 1], why[1024];
	const char *l;

	submit(SENDER, SUBJECT, NULL);
	l = line_with(res.err, "warning");
	cr_assert(l != NULL, "no warning about the unusable queue_dir (%s)%s",
	    what, ev());
	assert_queued(hqdir, id);
	cr_assert(!exists(udir, id, ".env"), "entry in queue_dir%s", ev());
	{
		char root[500];
		struct stat st;

		snprintf(root, sizeof(root), "%s/.mxsend/queue", re.dir);
		cr_assert(stat(root, &st) == 0 && S_ISDIR(st.st_mode) &&
		    (st.st_mode & 077) == 0, "%s is not a private directory "
		    "(mode %04o)%s", root, (unsigned)(st.st_mode & 07777),
		    ev());
	}
	snprintf(why, sizeof(why), "%s", deferred_reason());
	run1("mailq", NULL);
	assert_exit(0);
	check_listing(res.out, id, why);

	/* -q looks there too. */
	start_mx("", MXB, NULL);
	run1("sendmail", "-qRb.test");
	assert_exit(0);
	server_stop(&mx);
	cr_assert_eq(messages_at(mxrec, MXB, BODY, NULL, NULL), 1,
	    "-qR did not deliver the entry of $HOME/.mxsend/queue%s", ev());
	assert_queue_empty();
}

Test(queue, queue_dir_a_regular_file_falls_back_to_home)
{
	char path[500];

	snprintf(path, sizeof(path), "%s", run_env_file(&re, "not-a-dir",
	    "x\n", 0644));
	env_set("MXSEND_QUEUE_DIR=%s", path);
	fallback_case("a regular file");
}

Test(queue, queue_dir_missing_falls_back_to_home)
{
	env_set("MXSEND_QUEUE_DIR=%s/no/such/dir", re.dir);
	fallback_case("a missing directory");
}

/* ============================================================ bounces */

/* Header field name of text (unfolded, static buffer), or NULL. */
static const char *
header(const char *text, const char *name)
{
	static char val[4096];
	const char *p = text, *end = strstr(text, "\r\n\r\n");
	size_t nl = strlen(name), o = 0;

	if (end == NULL)
		end = text + strlen(text);
	while (p < end) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			while (p < end + 2 && *p != '\0' && o + 1 < sizeof(val)) {
				if (p[0] == '\r' && p[1] == '\n') {
					if (p[2] != ' ' && p[2] != '\t')
						break;
					p += 2;	/* unfold */
					continue;
				}
				val[o++] = *p++;
			}
			val[o] = '\0';
			return val;
		}
		p = strstr(p, "\r\n");
		if (p == NULL)
			break;
		p += 2;
	}
	return NULL;
}

struct parts {
	char	*part[8];	/* each malloc'd: headers, CRLF CRLF, body */
	int	 n;
	int	 closed;	/* the close delimiter was seen */
	char	 boundary[200];
};

static void
parts_free(struct parts *ps)
{
	int i;

	for (i = 0; i < ps->n; i++)
		free(ps->part[i]);
	ps->n = 0;
}

/* Split a multipart message (CRLF) at its boundary (RFC 2046 §5.1.1). */
static void
split(const char *msg, struct parts *ps)
{
	const char *ct = header(msg, "Content-Type"), *b, *body, *p, *q;
	char delim[210];
	size_t i = 0;

	memset(ps, 0, sizeof(*ps));
	cr_assert(ct != NULL, "the bounce has no Content-Type%s", ev());
	b = strcasestr(ct, "boundary=");
	cr_assert(b != NULL, "no boundary in Content-Type: %s%s", ct, ev());
	b += 9;
	if (*b == '"') {
		b++;
		while (b[i] != '\0' && b[i] != '"' && i + 1 <
		    sizeof(ps->boundary))
			i++;
	} else
		while (b[i] != '\0' && b[i] != ';' && b[i] != ' ' && i + 1 <
		    sizeof(ps->boundary))
			i++;
	memcpy(ps->boundary, b, i);
	ps->boundary[i] = '\0';
	cr_assert(i > 0, "empty boundary in: %s%s", ct, ev());
	body = strstr(msg, "\r\n\r\n");
	cr_assert(body != NULL, "no body in the bounce%s", ev());
	snprintf(delim, sizeof(delim), "\r\n--%s", ps->boundary);
	p = strstr(body, delim);
	while (p != NULL && ps->n < 8) {
		p += strlen(delim);
		if (strncmp(p, "--", 2) == 0) {
			ps->closed = 1;
			break;
		}
		cr_assert(strncmp(p, "\r\n", 2) == 0,
		    "junk after a delimiter%s", ev());
		p += 2;
		q = strstr(p, delim);
		ps->part[ps->n++] = strndup(p, q != NULL ? (size_t)(q - p) :
		    strlen(p));
		p = q;
	}
}

/* The value of field name in the (unfolded) delivery-status text. */
static int
has_field(const char *part, const char *name, const char *value)
{
	char want[600], *u, *o;
	const char *p;
	int ok;

	/* Unfold the whole part: fields may be folded anywhere. */
	u = malloc(strlen(part) + 3);
	cr_assert_not_null(u);
	u[0] = '\n';
	for (o = u + 1, p = part; *p != '\0'; p++) {
		if (p[0] == '\r' && p[1] == '\n' && (p[2] == ' ' ||
		    p[2] == '\t')) {
			p++;
			continue;
		}
		if (*p != '\r')
			*o++ = *p;
	}
	*o = '\0';
	snprintf(want, sizeof(want), "\n%s: %s", name, value);
	ok = strcasestr(u, want) != NULL;
	free(u);
	return ok;
}

#define assert_field(part, name, value) \
	cr_assert(has_field((part), (name), (value)), \
	    "no \"%s: %s\" in the delivery-status part:\n%s%s", (name), \
	    (value), (part), ev())

/*
 * The bounce the sender's server (a.test) took: from <> to <SENDER>, in
 * one transaction with a 250. Returns its text (caller frees).
 */
static char *
the_bounce(void)
{
	char what[16], *env, *msg;
	int s = 0, t = 0, n;

	n = messages_at(mxrec, MXA, NULL, &s, &t);
	cr_assert_eq(n, 1, "a.test's server took %d messages, want one "
	    "bounce%s", n, ev());
	snprintf(what, sizeof(what), "env-%d", t);
	env = file_in(mxrec, s, what);
	cr_assert(env != NULL && strstr(env, "MAIL FROM:<>") != NULL,
	    "the bounce is not from the null sender%s", ev());
	cr_assert(strstr(env, "RCPT TO:<" SENDER ">") != NULL &&
	    strstr(env, "accepted <" SENDER ">") != NULL,
	    "the bounce is not to <" SENDER ">%s", ev());
	free(env);
	snprintf(what, sizeof(what), "msg-%d", t);
	msg = file_in(mxrec, s, what);
	cr_assert_not_null(msg);
	return msg;
}

/* The checks every bounce of RCPT passes; returns the parts. */
static void
check_bounce(const char *msg, struct parts *ps, const char *status)
{
	const char *ct, *h;

	ct = header(msg, "Content-Type");
	cr_assert(ct != NULL && strncasecmp(ct, "multipart/report", 16) == 0 &&
	    strcasestr(ct, "report-type=delivery-status") != NULL &&
	    strcasestr(ct, "boundary=") != NULL,
	    "Content-Type: %s%s", ct ? ct : "(none)", ev());
	h = header(msg, "To");
	cr_assert(h != NULL && strstr(h, SENDER) != NULL,
	    "the bounce's To: is not the sender: %s%s", h ? h : "(none)",
	    ev());
	h = header(msg, "MIME-Version");
	cr_assert(h != NULL && strncmp(h, "1.0", 3) == 0,
	    "no MIME-Version: 1.0%s", ev());
	split(msg, ps);
	cr_assert(ps->n == 3 && ps->closed, "%d parts (close delimiter %s), "
	    "want 3 parts and the close delimiter \"--%s--\"%s", ps->n,
	    ps->closed ? "seen" : "missing", ps->boundary, ev());
	/* 1: the human-readable notification. */
	h = header(ps->part[0], "Content-Type");
	cr_assert(h == NULL || strncasecmp(h, "text/plain", 10) == 0,
	    "part 1 is %s%s", h, ev());
	cr_assert(strstr(ps->part[0], RCPT) != NULL,
	    "the notification does not name " RCPT ":\n%s%s", ps->part[0],
	    ev());
	/* 2: message/delivery-status (RFC 3464). */
	h = header(ps->part[1], "Content-Type");
	cr_assert(h != NULL && strncasecmp(h, "message/delivery-status",
	    23) == 0, "part 2 is %s%s", h ? h : "(no Content-Type)", ev());
	assert_field(ps->part[1], "Reporting-MTA", "dns;");
	assert_field(ps->part[1], "Final-Recipient", "rfc822; " RCPT);
	assert_field(ps->part[1], "Action", "failed");
	assert_field(ps->part[1], "Status", status);
}

static const char *
bounce_script(void)
{
	return "rcpt local=" MXB " match=<" RCPT "> reply 550 5.1.1 No such "
	    "user here\n";
}

Test(queue, oem_bounce_is_a_delivery_status_report)
{
	struct parts ps;
	const char *h, *l;
	char *msg;

	start_mx(bounce_script(), MXA, MXB, NULL);
	submit(SENDER, SUBJECT, "-oem", NULL);
	server_stop(&mx);
	assert_exit(0);
	l = line_with(res.err, RCPT);
	cr_assert(l != NULL && strstr(l, "550 5.1.1 No such user here"),
	    "no stderr line for the failed recipient under -oem%s", ev());
	msg = the_bounce();
	check_bounce(msg, &ps, "5.1.1");
	assert_field(ps.part[1], "Remote-MTA", "dns; mx1.b.test");
	assert_field(ps.part[1], "Diagnostic-Code",
	    "smtp; 550 5.1.1 No such user here");
	h = header(ps.part[2], "Content-Type");
	cr_assert(h != NULL && strncasecmp(h, "message/rfc822", 14) == 0,
	    "part 3 is %s%s", h ? h : "(no Content-Type)", ev());
	cr_assert(strstr(ps.part[2], "Subject: " SUBJECT) != NULL,
	    "the returned message lacks its Subject:\n%s%s", ps.part[2], ev());
	cr_assert(strstr(ps.part[2], BODY) != NULL,
	    "the returned message lacks its body:\n%s%s", ps.part[2], ev());
	parts_free(&ps);
	free(msg);
	assert_queue_empty();
}

Test(queue, oem_with_R_hdrs_returns_only_the_header)
{
	struct parts ps;
	const char *h;
	char *msg;

	start_mx(bounce_script(), MXA, MXB, NULL);
	submit(SENDER, SUBJECT, "-oem", "-R", "hdrs", NULL);
	server_stop(&mx);
	assert_exit(0);
	msg = the_bounce();
	check_bounce(msg, &ps, "5.1.1");
	/* RFC 6522 §3: the header only is text/rfc822-headers. */
	h = header(ps.part[2], "Content-Type");
	cr_assert(h != NULL && strncasecmp(h, "text/rfc822-headers", 19) == 0,
	    "part 3 is %s%s", h ? h : "(no Content-Type)", ev());
	cr_assert(strstr(ps.part[2], "Subject: " SUBJECT) != NULL,
	    "the returned header lacks the Subject:\n%s%s", ps.part[2], ev());
	cr_assert(strstr(msg, BODY) == NULL,
	    "-R hdrs returned the body:\n%s%s", msg, ev());
	parts_free(&ps);
	free(msg);
}

static int
dead_letter_has(const char *needle)
{
	char path[500], *s;
	int ok;

	snprintf(path, sizeof(path), "%s/dead.letter", re.dir);
	s = slurp(path, NULL);
	ok = s != NULL && strstr(s, needle) != NULL;
	free(s);
	return ok;
}

/*
 * RFC 3461 §4.1: NOTIFY=NEVER leaves nobody to tell. No bounce is
 * composed (nor queued, nor sent); the failure counts in the exit status
 * and the message is kept as without -oem.
 */
Test(queue, oem_with_notify_never_composes_no_bounce)
{
	start_mx(bounce_script(), MXA, MXB, NULL);
	submit(SENDER, SUBJECT, "-oem", "-N", "never", NULL);
	server_stop(&mx);
	assert_exit(67);
	cr_assert_eq(sessions_at(mxrec, MXA), 0, "a bounce was sent although "
	    "NOTIFY=NEVER%s", ev());
	cr_assert(line_with(res.err, "notification") == NULL, "a notification "
	    "was composed%s", ev());
	cr_assert(dead_letter_has(BODY), "the message is not in "
	    "$HOME/dead.letter%s", ev());
	assert_queue_empty();
}

Test(queue, without_oem_a_refused_recipient_is_67_and_no_bounce)
{
	const char *l;

	start_mx(bounce_script(), MXA, MXB, NULL);
	submit(SENDER, SUBJECT, NULL);
	server_stop(&mx);
	assert_exit(67);
	l = line_with(res.err, RCPT);
	cr_assert(l != NULL && strstr(l, "550 5.1.1"), "no stderr line for "
	    "the refused recipient%s", ev());
	cr_assert_eq(sessions_at(mxrec, MXA), 0, "a bounce session without "
	    "-oem%s", ev());
	/* SPEC §8: nobody got it, so it is kept in dead.letter. */
	cr_assert(dead_letter_has(BODY), "the message is not in "
	    "$HOME/dead.letter%s", ev());
	assert_queue_empty();
}

Test(queue, null_sender_never_gets_a_bounce)
{
	start_mx(bounce_script(), MXA, MXB, NULL);
	submit("<>", SUBJECT, "-oem", NULL);
	server_stop(&mx);
	/* No bounce was delivered, so the failure counts (SPEC §3). */
	assert_exit(67);
	cr_assert_eq(sessions_at(mxrec, MXA), 0, "a bounce went to a.test "
	    "for the null sender%s", ev());
	cr_assert_eq(sessions_at(mxrec, MXB), 1, "not one session at "
	    "b.test%s", ev());
	{
		char *log = slurp(logpath, NULL);

		cr_assert(log == NULL || strstr(log, "non-delivery "
		    "notification") == NULL, "a bounce was made for the null "
		    "sender%s", ev());
		free(log);
	}
	assert_queue_empty();
}

Test(queue, a_refused_bounce_is_never_bounced)
{
	start_mx("rcpt local=" MXB " match=<" RCPT "> reply 550 5.1.1 No "
	    "such user here\n"
	    "rcpt local=" MXA " reply 550 5.1.1 No such sender mailbox\n",
	    MXA, MXB, NULL);
	submit(SENDER, SUBJECT, "-oem", NULL);
	server_stop(&mx);
	/* The bounce failed: the failure was not reported, it counts. */
	assert_exit(67);
	cr_assert_eq(sessions_at(mxrec, MXA), 1, "not one bounce attempt at "
	    "a.test%s", ev());
	cr_assert_eq(messages_at(mxrec, NULL, NULL, NULL, NULL), 0,
	    "a message was taken%s", ev());
	cr_assert(dead_letter_has(BODY), "the undeliverable message is not "
	    "in $HOME/dead.letter%s", ev());
	assert_queue_empty();
}

/* ===================================================== queue_lifetime */

static void
expire_run(void)
{
	const char *l;

	sleep(2);
	env_set("MXSEND_QUEUE_LIFETIME=1");
	run1("sendmail", "-q");
	assert_exit(0);
	env_unset("MXSEND_QUEUE_LIFETIME");
	l = line_with(res.err, RCPT);
	cr_assert(l != NULL && strstr(l, "deferred") == NULL &&
	    (strstr(l, "5.4.7") != NULL || strstr(l, "expired") != NULL),
	    "-q after queue_lifetime does not report " RCPT " as failed "
	    "(5.4.7, expired)%s", ev());
}

Test(queue, lifetime_expiry_goes_to_dead_letter)
{
	char id[IDLEN + 1];

	submit(SENDER, SUBJECT, NULL);
	assert_queued(udir, id);
	cr_assert(!dead_letter_has(BODY), "a queued message is in "
	    "dead.letter%s", ev());
	expire_run();
	cr_assert(!exists(udir, id, ".env") && !exists(udir, id, ".msg"),
	    "the expired entry was not removed%s", ev());
	cr_assert(dead_letter_has(BODY), "the expired message is not in "
	    "$HOME/dead.letter%s", ev());
	assert_queue_empty();
}

Test(queue, lifetime_expiry_with_oem_bounces)
{
	struct parts ps;
	char id[IDLEN + 1], *msg;

	submit(SENDER, SUBJECT, "-oem", NULL);
	assert_queued(udir, id);
	start_mx("", MXA, NULL);	/* b.test's MX stays down */
	expire_run();
	server_stop(&mx);
	cr_assert(!exists(udir, id, ".env"), "the expired entry was not "
	    "removed%s", ev());
	msg = the_bounce();
	check_bounce(msg, &ps, "5.4.7");
	cr_assert(strstr(ps.part[2], "Subject: " SUBJECT) != NULL,
	    "the bounce does not return the message%s", ev());
	parts_free(&ps);
	free(msg);
	cr_assert(!dead_letter_has(BODY), "a bounced message also went to "
	    "dead.letter%s", ev());
	assert_queue_empty();
}
