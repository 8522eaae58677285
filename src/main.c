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
#include "deadletter.h"
#include "deliver.h"
#include "envelope.h"
#include "intake.h"
#include "log.h"
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

/* One line per failed recipient (SPEC §3), unless -oeq. */
static void
report_failures(const struct run *r, const struct envelope *env)
{
	size_t i;

	if (r->opts.errmode == ERRMODE_QUIET)
		return;
	for (i = 0; i < env->nrcpts; i++) {
		const struct rcpt *rc = &env->rcpts[i];

		if (rc->state == RCPT_FAILED)
			say("<%s>: %s (%s)", rc->orig, rc->reason, rc->dsn);
	}
}

/* The exit code for recipients that failed before delivery (SPEC §3). */
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

/*
 * Keep a message that will not be delivered now. Returns the exit code
 * for that: 73 when it was saved in dead.letter, 74 when it could not be.
 */
static int
keep_message(const struct run *r, const struct message *msg,
    const char *sender, const char *why)
{
	char path[4096], err[512];

	if (deadletter_path(path, sizeof(path)) != 0) {
		say("%s; cannot find a home directory for dead.letter: "
		    "the message was NOT saved", why);
		return EX_IOERR;
	}
	if (deadletter_append(path, msg, sender, time(NULL), err,
	    sizeof(err)) != 0) {
		say("%s; %s: the message was NOT saved", why, err);
		return EX_IOERR;
	}
	(void)r;
	say("%s; message saved in %s", why, path);
	return EX_CANTCREAT;
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

/*
 * Deliver to the pending recipients, log and report each outcome, and
 * return the exit status (SPEC §3).
 */
static int
deliver_message(struct run *r, struct message *msg, struct envelope *env,
    const struct timespec *arrival)
{
	struct deliver_params dp;
	struct log *log;
	struct transcript *tr;
	char warn[512], err[512], why[128];
	unsigned char *was_pending;
	size_t i, ndeferred = 0;
	int code, kept;

	log = log_open(&r->cfg, warn, sizeof(warn));
	if (warn[0] != '\0')
		say("warning: %s", warn);
	tr = transcript_open(r->cfg.transcript, r->opts.verbose > 0, warn,
	    sizeof(warn));
	if (warn[0] != '\0')
		say("warning: %s", warn);
	was_pending = xcalloc(env->nrcpts, 1);
	for (i = 0; i < env->nrcpts; i++)
		was_pending[i] = env->rcpts[i].state == RCPT_PENDING;
	log_message(log, r->qid, env->sender,
	    (long long)msg_stream_size(msg, 0), env->nrcpts);

	memset(&dp, 0, sizeof(dp));
	dp.cfg = &r->cfg;
	dp.opts = &r->opts;
	dp.env = env;
	dp.msg = msg;
	dp.helo = r->cfg.helo != NULL ? r->cfg.helo :
	    r->fqdn ? r->hostname : NULL;
	dp.arrival = *arrival;
	dp.transcript = tr;
	if (deliver_run(&dp, err, sizeof(err)) != 0)
		say("%s", err);

	for (i = 0; i < env->nrcpts; i++) {
		struct rcpt *rc = &env->rcpts[i];

		if (!was_pending[i])
			continue;
		if (rc->state == RCPT_PENDING) {
			/* Never silently dropped: deferred if undecided. */
			rc->state = RCPT_DEFERRED;
			strlcpy(rc->dsn, "4.3.0", sizeof(rc->dsn));
			free(rc->reason);
			rc->reason = xstrdup("delivery was not attempted");
		}
		log_rcpt(log, r->qid, rc);
		if (r->opts.verbose && r->cfg.log != LOGT_STDERR)
			say("<%s>: %s (%s): %s", rc->addr,
			    rc->state == RCPT_DELIVERED ? "sent" :
			    rc->state == RCPT_FAILED ? "bounced" : "deferred",
			    rc->dsn, rc->reason != NULL ? rc->reason : "");
		if (rc->state == RCPT_DEFERRED)
			ndeferred++;
		if (r->opts.errmode == ERRMODE_QUIET)
			continue;
		if (rc->state == RCPT_FAILED)
			say("<%s>: %s (%s)", rc->orig, rc->reason, rc->dsn);
		else if (rc->state == RCPT_DEFERRED)
			say("<%s>: deferred: %s (%s)", rc->orig, rc->reason,
			    rc->dsn);
	}
	free(was_pending);
	transcript_close(tr);
	log_close(log);

	code = outcome_code(env);
	if (ndeferred > 0) {
		snprintf(why, sizeof(why), "%zu recipient%s deferred",
		    ndeferred, ndeferred == 1 ? "" : "s");
		kept = keep_message(r, msg, env->sender, why);
		if (kept == EX_IOERR)
			return EX_IOERR;
	}
	return code;
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
	int fd, code, fail;

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
		(void)keep_message(r, &msg, "", err);
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
		(void)keep_message(r, &msg, env.sender, why);
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
	report_failures(r, &env);
	fail = failure_code(&env);
	if (env.ndomains == 0) {
		code = fail;
		goto out;
	}
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
	case MODE_RUNQ:
	case MODE_SMTP:
	default:
		say("this mode is not available in this version of mxsend "
		    "(the queue and -bs come with delivery)");
		code = EX_UNAVAILABLE;
		break;
	}
	config_free(&r.cfg);
	if (fflush(stdout) != 0 && code == EX_OK)
		code = EX_IOERR;
	return code;
}
