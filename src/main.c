/*
 * main.c: the top-level sequence of mxsend and the only place where
 * outcomes become sysexits codes (SPEC §3).
 *
 * argv + environment + file -> options and configuration; stdin -> spool
 * (intake.c); envelope (envelope.c); delivery (deliver.c); the log
 * lines (log.c), one stderr line per recipient not delivered, and the
 * exit status. Until the durable queue lands, a message with deferred
 * recipients is kept in dead.letter so that it is never lost.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "aliases.h"
#include "config.h"
#include "attempt.h"
#include "envelope.h"
#include "intake.h"
#include "queue.h"
#include "message.h"
#include "options.h"
#include "util.h"
#include "verify.h"

#define MAX_RECEIVED	50	/* SPEC §5.4: more is a mail loop */
#define MKSTEMP_TAIL	"\130\130\130\130\130\130"	/* six capital X */

struct run {
	struct options	 opts;
	struct config	 cfg;
	char		 login[256];
	char		 domain[256];	/* the default domain */
	char		 hostname[256];
	int		 fqdn;		/* hostname is fully qualified */
	char		 qid[QUEUE_ID_LEN + 1];
};

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	fputs("mxsend: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
usage_error(const char *err)
{
	say("%s", err);
	fputs(options_usage(), stderr);
	return EX_USAGE;
}

static void
find_login(struct run *r)
{
	struct passwd *pw = getpwuid(getuid());
	const char *name = NULL;

	/* The uid decides; LOGNAME/USER only when it has no passwd entry. */
	if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
		name = pw->pw_name;
	else if ((name = getenv("LOGNAME")) == NULL &&
	    (name = getenv("USER")) == NULL)
		name = NULL;
	if (name != NULL)
		strlcpy(r->login, name, sizeof(r->login));
	else
		snprintf(r->login, sizeof(r->login), "uid%lu",
		    (unsigned long)getuid());
}

static void
find_names(struct run *r)
{
	int q = host_fqdn(r->hostname, sizeof(r->hostname));

	if (q < 0)
		strlcpy(r->hostname, "localhost", sizeof(r->hostname));
	r->fqdn = q > 0;
	if (r->cfg.default_domain != NULL)
		strlcpy(r->domain, r->cfg.default_domain, sizeof(r->domain));
	else {
		strlcpy(r->domain, r->hostname, sizeof(r->domain));
		if (q == 0 && r->opts.verbose)
			say("warning: host name '%s' is not fully qualified; "
			    "set default_domain", r->hostname);
	}
}

static int
mode_newaliases(struct run *r)
{
	struct aliases al;
	char err[512];
	const char *path = r->cfg.aliases ? r->cfg.aliases : "/etc/aliases";
	int rc;

	aliases_init(&al);
	rc = aliases_load(&al, path, r->cfg.aliases_set, err, sizeof(err));
	if (rc != 0) {
		say("%s", err);
		aliases_free(&al);
		return EX_CONFIG;
	}
	printf("%s: %zu aliases\n", path, al.n);
	aliases_free(&al);
	return EX_OK;
}

static void
print_envelope(const struct envelope *env)
{
	size_t i, j;

	fprintf(stderr, "mxsend: sender <%s>\n", env->sender);
	for (i = 0; i < env->ndomains; i++) {
		const struct domain_group *g = &env->domains[i];

		fprintf(stderr, "mxsend: domain %s: %zu recipient%s\n",
		    g->domain, g->n, g->n == 1 ? "" : "s");
		for (j = 0; j < g->n; j++)
			fprintf(stderr, "mxsend:   <%s>\n",
			    env->rcpts[g->rcpt[j]].addr);
	}
}

/* The exit code of the permanent failures (SPEC §3). */
static int
failure_code(const struct envelope *env)
{
	int code = EX_OK;
	size_t i;

	for (i = 0; i < env->nrcpts; i++) {
		const struct rcpt *rc = &env->rcpts[i];
		int c;

		if (rc->state != RCPT_FAILED)
			continue;
		switch (rc->fail) {
		case FAIL_IDNA:
		case FAIL_NOHOST:
			c = EX_NOHOST;
			break;
		case FAIL_ALIAS_KIND:
		case FAIL_ALIAS_LOOP:
		case FAIL_UNAVAILABLE:
			c = EX_UNAVAILABLE;
			break;
		default:
			c = EX_NOUSER;
			break;
		}
		/* 68 over 67 over 69. */
		if (code == EX_OK || c == EX_NOHOST ||
		    (c == EX_NOUSER && code == EX_UNAVAILABLE))
			code = c;
	}
	return code;
}

static int
open_spool_in(const char *dir)
{
	char path[4096];
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* mkstemp(3) replaces the six trailing template characters. */
	snprintf(path, sizeof(path), "%s/mxsend.%.6s", dir, MKSTEMP_TAIL);
	if ((fd = mkstemp(path)) < 0)
		return -1;
	(void)unlink(path);
	return fd;
}

/* The spool file: in $TMPDIR, else /tmp (the queue issue moves it). */
static int
open_spool(char *err, size_t errlen)
{
	const char *dir = getenv("TMPDIR");
	int fd = -1;

	if (dir != NULL && dir[0] == '/')
		fd = open_spool_in(dir);
	if (fd < 0)
		fd = open_spool_in("/tmp");
	if (fd < 0)
		snprintf(err, errlen, "cannot create a spool file in %s or "
		    "/tmp: %s", dir ? dir : "$TMPDIR", strerror(errno));
	return fd;
}

/* Any recipient deferred: 75, unless a permanent failure wins (SPEC §3). */
static int
outcome_code(const struct envelope *env)
{
	int code = failure_code(env);
	size_t i;

	if (code != EX_OK)
		return code;
	for (i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i].state == RCPT_DEFERRED)
			return EX_TEMPFAIL;
	return EX_OK;
}

/*
 * Load the aliases and collect the recipients of the envelope (from argv
 * and, with -t, msg), grouped by domain. Returns 0, or the exit code.
 */
static int
collect_recipients(struct run *r, struct envelope *env,
    const struct message *msg, const char *none)
{
	struct aliases al;
	char err[1024];
	const char *apath = r->cfg.aliases ? r->cfg.aliases : "/etc/aliases";
	int code = 0;

	aliases_init(&al);
	if (aliases_load(&al, apath, r->cfg.aliases_set, err,
	    sizeof(err)) != 0) {
		say("%s", err);
		code = EX_CONFIG;
	} else if (envelope_add_recipients(env, &r->opts, msg, &al, r->domain,
	    err, sizeof(err)) != 0)
		code = usage_error(err);
	else if (env->nrcpts == 0)
		code = usage_error(none);
	else
		envelope_group(env);
	aliases_free(&al);
	return code;
}

/* -bv: the route of every address given, nothing read or delivered. */
static int
mode_verify(struct run *r)
{
	struct envelope env;
	char err[1024];
	int code;

	envelope_init(&env);
	find_names(r);
	r->opts.extract = 0;
	if ((code = collect_recipients(r, &env, NULL, "no recipients: -bv "
	    "takes addresses as arguments")) != 0)
		goto out;
	if (verify_run(&r->cfg, &env, stdout, err, sizeof(err)) != 0) {
		say("%s", err);
		code = EX_OSERR;
		goto out;
	}
	code = outcome_code(&env);
out:
	envelope_free(&env);
	return code;
}

/* -odb: a detached child delivers; the caller hears 0 at once. */
static int
deliver_background(struct attempt *a)
{
	struct attempt_result res;
	pid_t pid;
	int fd;

	fflush(NULL);
	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		return 0;
	/* The child: no terminal, no caller's pipes (PHP waits on them). */
	(void)setsid();
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	a->report = 0;
	attempt_run(a, &res);
	_exit(0);
}

/*
 * Queue the message (SPEC §7: before the first connection), deliver it
 * (now, or in the background, or not at all with -odq), and return the
 * exit status (SPEC §3).
 */
static int
deliver_message(struct run *r, struct message *msg, struct envelope *env,
    const struct timespec *arrival)
{
	struct qmeta m;
	struct qentry e, *ep = NULL;
	struct attempt a;
	struct attempt_result res;
	const struct options *o = &r->opts;
	char dir[PATH_MAX], warn[512], err[512];
	int code, primary;

	qmeta_init(&m);
	strlcpy(m.id, r->qid, sizeof(m.id));
	m.arrival = time(NULL);
	m.owner = getuid();
	m.eightbit = o->body == BODY_8BITMIME ||
	    (o->body == BODY_DETECT && msg->eightbit);
	m.ret = o->ret;
	m.envid = o->envid != NULL ? xstrdup(o->envid) : NULL;
	m.bounce = o->errmode == ERRMODE_MAIL || r->cfg.bounce;
	m.q = xcalloc(env->nrcpts, sizeof(*m.q));
	/* The first queue that takes the entry (SPEC §7): a full disk too. */
	for (primary = 1; ep == NULL; primary = 0) {
		if (queue_pick(&r->cfg, getuid(), !primary, dir, sizeof(dir),
		    warn, sizeof(warn), err, sizeof(err)) != 0) {
			say("warning: %s; the message is not durable", err);
			break;
		}
		if (warn[0] != '\0')
			say("warning: %s", warn);
		if (queue_create(dir, r->qid, msg, env, &m, &e, err,
		    sizeof(err)) == 0)
			ep = &e;
		else if (!primary || strncmp(dir, r->cfg.queue_dir,
		    strlen(r->cfg.queue_dir)) != 0) {
			say("warning: %s; the message is not durable", err);
			break;
		}
	}

	memset(&a, 0, sizeof(a));
	a.cfg = &r->cfg;
	a.opts = o;
	a.env = env;
	a.msg = msg;
	a.meta = &m;
	a.entry = ep;
	a.hostname = r->hostname;
	a.helo = r->cfg.helo != NULL ? r->cfg.helo :
	    r->fqdn ? r->hostname : NULL;
	a.arrival = *arrival;
	a.report = 1;

	if (o->delivmode != DELIV_NOW) {
		/* Safely queued first: the entry is due at once. */
		if (ep == NULL)
			say("warning: cannot queue the message; delivering "
			    "it now");
		else if (queue_commit(ep, env, &m, 1, err, sizeof(err)) != 0)
			say("warning: %s; delivering the message now", err);
		else if (o->delivmode == DELIV_QUEUE ||
		    deliver_background(&a) == 0) {
			if (o->verbose)
				say("message %s queued in %s", r->qid, dir);
			queue_release(ep);
			qmeta_free(&m);
			return EX_OK;
		} else
			say("warning: cannot fork (%s); delivering the "
			    "message now", strerror(errno));
	}

	attempt_run(&a, &res);
	if (ep != NULL)
		queue_release(ep);
	qmeta_free(&m);

	code = outcome_code(env);
	/* SPEC §3: failures a delivered or queued bounce reported. */
	if (res.bounced)
		code = res.ndeferred > 0 ? EX_TEMPFAIL : EX_OK;
	if (res.kept == KEPT_LOST)
		return EX_IOERR;
	if (res.kept == KEPT_DEADLETTER && code == EX_TEMPFAIL)
		return EX_CANTCREAT;
	return code;
}

/* -bp, mailq: the queues this user can see (SPEC §7). */
static int
mode_printq(struct run *r)
{
	char **dirs;
	size_t n, i;

	dirs = attempt_queue_dirs(&r->cfg, &n);
	(void)queue_print(stdout, dirs, n);
	for (i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	return EX_OK;
}

static int
mode_deliver(struct run *r)
{
	struct message msg;
	struct envelope env;
	struct msg_submit sub;
	enum intake_status st;
	char err[1024];
	struct timespec arrival;
	int fd, code;

	clock_gettime(CLOCK_MONOTONIC, &arrival);
	if ((fd = open_spool(err, sizeof(err))) < 0) {
		say("%s", err);
		return EX_CANTCREAT;
	}
	msg_init(&msg, fd);
	envelope_init(&env);
	find_login(r);
	find_names(r);
	queue_id_new(r->qid);

	/* A bad -f is refused before the caller's input is consumed. */
	if (envelope_set_sender(&env, r->opts.sender, &r->cfg, r->domain,
	    r->login, err, sizeof(err)) != 0) {
		code = usage_error(err);
		goto out;
	}

	st = intake_read(STDIN_FILENO, &msg, r->opts.ignore_dots, err,
	    sizeof(err));
	switch (st) {
	case INTAKE_OK:
		break;
	case INTAKE_NUL:
	case INTAKE_HEADER_TOO_BIG:
		(void)attempt_keep(&msg, "", err, getuid());
		code = EX_DATAERR;
		goto out;
	case INTAKE_READ_ERROR:
		say("reading the message: %s", err);
		code = EX_IOERR;
		goto out;
	case INTAKE_WRITE_ERROR:
		say("spooling the message: %s", err);
		code = EX_CANTCREAT;
		goto out;
	}
	if (r->opts.verbose && (msg.nfolded || msg.nbroken))
		say("warning: %zu header line(s) folded and %zu body line(s) "
		    "broken at 998 octets", msg.nfolded, msg.nbroken);

	if (msg.nreceived > MAX_RECEIVED) {
		char why[128];

		snprintf(why, sizeof(why), "mail loop: the message has %zu "
		    "Received: headers (more than %d)", msg.nreceived,
		    MAX_RECEIVED);
		(void)attempt_keep(&msg, env.sender, why, getuid());
		code = EX_DATAERR;
		goto out;
	}
	if ((code = collect_recipients(r, &env, &msg, "no recipients: give "
	    "addresses as arguments or use -t with To:, Cc: or Bcc: "
	    "headers")) != 0)
		goto out;

	memset(&sub, 0, sizeof(sub));
	sub.sender = env.sender;
	sub.fullname = r->opts.fullname;
	sub.queue_id = r->qid;
	sub.hostname = r->hostname;
	sub.login = r->login;
	sub.uid = getuid();
	sub.for_rcpt = env.nrcpts == 1 ? env.rcpts[0].addr : NULL;
	sub.now = time(NULL);
	msg_complete(&msg, &sub);

	if (r->opts.verbose)
		print_envelope(&env);
	/* Recipients refused before delivery are reported with the rest. */
	code = deliver_message(r, &msg, &env, &arrival);
out:
	envelope_free(&env);
	msg_free(&msg);
	close(fd);
	return code;
}

int
main(int argc, char *argv[])
{
	struct run r;
	char err[1024];
	size_t i;
	int code;

	memset(&r, 0, sizeof(r));
	if (options_parse(&r.opts, argc, argv, err, sizeof(err)) != 0)
		return usage_error(err);
	for (i = 0; i < r.opts.nwarnings; i++)
		say("warning: %s", r.opts.warnings[i]);
	switch (r.opts.mode) {
	case MODE_HELP:
		fputs(options_usage(), stdout);
		return EX_OK;
	case MODE_VERSION:
		printf("mxsend %s\n", PACKAGE_VERSION);
		return EX_OK;
	default:
		break;
	}

	config_init(&r.cfg);
	if (config_load(&r.cfg, r.opts.config_file, err, sizeof(err)) != 0) {
		say("%s", err);
		config_free(&r.cfg);
		return EX_CONFIG;
	}
	switch (r.opts.mode) {
	case MODE_CONFIG_CHECK:
		config_print(&r.cfg, stdout);
		code = EX_OK;
		break;
	case MODE_NEWALIASES:
		code = mode_newaliases(&r);
		break;
	case MODE_DELIVER:
		code = mode_deliver(&r);
		break;
	case MODE_VERIFY:
		code = mode_verify(&r);
		break;
	case MODE_PRINTQ:
		code = mode_printq(&r);
		break;
	case MODE_RUNQ:
		find_names(&r);
		(void)attempt_queue_run(&r.cfg, &r.opts, r.hostname,
		    r.cfg.helo != NULL ? r.cfg.helo :
		    r.fqdn ? r.hostname : NULL);
		code = EX_OK;
		break;
	case MODE_SMTP:
	default:
		say("-bs is not available in this version of mxsend");
		code = EX_UNAVAILABLE;
		break;
	}
	config_free(&r.cfg);
	if (fflush(stdout) != 0 && code == EX_OK)
		code = EX_IOERR;
	return code;
}
