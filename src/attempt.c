/*
 * attempt.c: one delivery attempt of one message, and the -q run over the
 * queue (SPEC §3, §7, §8).
 *
 * Order matters for "never lose a message": the entry is rewritten (and
 * flushed) with the new state before anything tells the caller it is
 * queued, and it is removed only once every recipient is final and every
 * permanent failure has been reported (a bounce delivered or queued, or
 * the message in dead.letter).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attempt.h"
#include "compat.h"
#include "deadletter.h"
#include "deliver.h"
#include "dsn.h"
#include "intake.h"
#include "log.h"
#include "util.h"

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	char	 line[2048];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write: lines of parallel runs never interleave. */
	(void)write_all(STDERR_FILENO, "mxsend: ", 8);
	(void)write_all(STDERR_FILENO, line, (size_t)n);
}

/*
 * root's -q keeping another user's message: the append runs as that user
 * in their home, so root never writes through a path the user controls
 * (a dead.letter symlinked to a system file).
 */
static enum attempt_kept
keep_as(const struct message *msg, const char *sender, const char *why,
    uid_t owner)
{
	struct passwd	*pw = getpwuid(owner);
	char		 path[4096], err[512];
	pid_t		 pid;
	int		 status;

	if (pw == NULL || pw->pw_dir == NULL || pw->pw_dir[0] != '/') {
		say("%s; uid %lu has no home directory for dead.letter: the "
		    "message was NOT saved", why, (unsigned long)owner);
		return KEPT_LOST;
	}
	snprintf(path, sizeof(path), "%s/dead.letter", pw->pw_dir);
	if ((pid = fork()) == -1) {
		say("%s; cannot fork: %s: the message was NOT saved", why,
		    strerror(errno));
		return KEPT_LOST;
	}
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
		    setuid(owner) != 0)
			_exit(2);
		if (deadletter_append(path, msg, sender, time(NULL), err,
		    sizeof(err)) != 0) {
			say("%s; %s: the message was NOT saved", why, err);
			_exit(1);
		}
		_exit(0);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return KEPT_LOST;
	say("%s; message saved in %s", why, path);
	return KEPT_DEADLETTER;
}

enum attempt_kept
attempt_keep(const struct message *msg, const char *sender, const char *why,
    uid_t owner)
{
	char	 path[4096], err[512];

	if (getuid() == 0 && owner != 0)
		return keep_as(msg, sender, why, owner);
	if (deadletter_path(path, sizeof(path)) != 0) {
		say("%s; cannot find a home directory for dead.letter: the "
		    "message was NOT saved", why);
		return KEPT_LOST;
	}
	if (deadletter_append(path, msg, sender, time(NULL), err,
	    sizeof(err)) != 0) {
		say("%s; %s: the message was NOT saved", why, err);
		return KEPT_LOST;
	}
	say("%s; message saved in %s", why, path);
	return KEPT_DEADLETTER;
}

size_t
attempt_expire(const struct config *cfg, struct envelope *env,
    const struct qmeta *m, time_t now)
{
	struct rcpt	*r;
	char		*why;
	size_t		 i, n = 0;

	if (cfg->queue_lifetime == 0 ||
	    now - m->arrival < (time_t)cfg->queue_lifetime)
		return 0;
	for (i = 0; i < env->nrcpts; i++) {
		r = &env->rcpts[i];
		if (r->state != RCPT_DEFERRED && r->state != RCPT_PENDING)
			continue;
		/* RFC 3463 X.4.7: delivery time expired. */
		why = xasprintf("delivery time expired after %u s%s%s",
		    cfg->queue_lifetime, r->reason != NULL ? "; last error: " :
		    "", r->reason != NULL ? r->reason : "");
		free(r->reason);
		r->reason = why;
		r->state = RCPT_FAILED;
		r->fail = FAIL_UNAVAILABLE;
		strlcpy(r->dsn, "5.4.7", sizeof(r->dsn));
		n++;
	}
	return n;
}

static int
tmpfile_near(const struct attempt *a)
{
	const char	*t = getenv("TMPDIR");
	int		 fd = -1;

	if (a->entry != NULL)
		fd = open(a->entry->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1 && t != NULL && t[0] == '/')
		fd = open(t, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1)
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	return fd;
}

/*
 * Send a DSN for the recipients marked in include[] to the envelope
 * sender, through the queue like any message (SPEC §8). Returns 1 when
 * it was delivered or queued.
 */
static int
submit_bounce(struct attempt *a, const unsigned char *include)
{
	struct dsn_report rep;
	struct envelope	 benv;
	struct message	 bmsg;
	struct qmeta	 bmeta;
	struct qentry	 be, *bep = NULL;
	struct attempt	 b;
	struct attempt_result bres;
	struct log	*log;
	struct rcpt	*r;
	char		 err[512], warn[256];
	int		 tfd, sfd = -1, ok = 0;

	memset(&rep, 0, sizeof(rep));
	rep.reporting_mta = a->hostname;
	rep.queue_id = a->meta->id;
	rep.arrival = a->meta->arrival;
	rep.now = time(NULL);
	rep.envid = a->meta->envid;
	rep.ret = a->meta->ret;
	rep.sender = a->env->sender;
	envelope_init(&benv);
	qmeta_init(&bmeta);
	msg_init(&bmsg, -1);
	if ((tfd = tmpfile_near(a)) == -1 ||
	    dsn_write(tfd, &rep, a->env, include, a->msg, err,
	    sizeof(err)) != 0 || lseek(tfd, 0, SEEK_SET) != 0 ||
	    (sfd = tmpfile_near(a)) == -1) {
		say("cannot compose the delivery status notification: %s",
		    tfd == -1 || sfd == -1 ? strerror(errno) : err);
		goto out;
	}
	msg_init(&bmsg, sfd);
	if (intake_read(tfd, &bmsg, 1, err, sizeof(err)) != INTAKE_OK) {
		say("cannot spool the delivery status notification: %s", err);
		goto out;
	}
	benv.sender = xstrdup("");
	benv.rcpts = xcalloc(1, sizeof(*benv.rcpts));
	benv.nrcpts = 1;
	r = &benv.rcpts[0];
	r->addr = xstrdup(a->env->sender);
	r->orig = xstrdup(a->env->sender);
	r->domain = strrchr(r->addr, '@') != NULL ?
	    strrchr(r->addr, '@') + 1 : r->addr;
	r->smtputf8 = a->env->sender_smtputf8;
	r->state = RCPT_PENDING;
	envelope_group(&benv);
	queue_id_new(bmeta.id);
	bmeta.arrival = rep.now;
	bmeta.owner = a->meta->owner;
	bmeta.eightbit = bmsg.eightbit;
	bmeta.is_bounce = 1;
	bmeta.q = xcalloc(1, sizeof(*bmeta.q));
	if (a->entry != NULL && queue_create(a->entry->dir, bmeta.id, &bmsg,
	    &benv, &bmeta, &be, err, sizeof(err)) == 0)
		bep = &be;
	log = log_open(a->cfg, warn, sizeof(warn));
	log_printf(log, "%s: sender non-delivery notification: %s",
	    a->meta->id, bmeta.id);
	log_close(log);
	b = *a;
	b.env = &benv;
	b.msg = &bmsg;
	b.meta = &bmeta;
	b.entry = bep;
	b.report = a->opts->verbose > 0;
	clock_gettime(CLOCK_MONOTONIC, &b.arrival);
	attempt_run(&b, &bres);
	ok = bres.ndelivered > 0 || bres.kept == KEPT_QUEUE;
	if (bep != NULL)
		queue_release(bep);
out:
	if (tfd != -1)
		close(tfd);
	msg_free(&bmsg);
	if (sfd != -1)
		close(sfd);
	qmeta_free(&bmeta);
	envelope_free(&benv);
	return ok;
}

/*
 * Report the permanent failures not yet reported (SPEC §3, §8). Returns
 * -1 when the message had to be kept and could not be: the caller then
 * keeps the entry in the queue, the one place left where it survives.
 */
static int
report_failures(struct attempt *a, struct attempt_result *res)
{
	struct envelope	*env = a->env;
	unsigned char	*include;
	size_t		 i, n = 0, delivered = 0;

	for (i = 0; i < env->nrcpts; i++) {
		if (env->rcpts[i].state == RCPT_DELIVERED)
			delivered++;
		if (env->rcpts[i].state == RCPT_FAILED &&
		    !a->meta->q[i].reported)
			n++;
	}
	if (n == 0)
		return 0;
	if (a->meta->bounce && !a->meta->is_bounce && env->sender[0] != '\0') {
		include = xcalloc(env->nrcpts, 1);
		if (dsn_select(env, include) > 0) {
			/* Only the ones not reported before. */
			for (i = 0; i < env->nrcpts; i++)
				if (a->meta->q[i].reported)
					include[i] = 0;
		}
		res->bounced = submit_bounce(a, include);
		free(include);
	}
	/* Without a bounce: dead.letter when nobody got the message. */
	if (!res->bounced && delivered == 0 && res->ndeferred == 0 &&
	    a->msg->fd != -1 && attempt_keep(a->msg, env->sender,
	    "undeliverable", a->meta->owner) == KEPT_LOST)
		return -1;	/* reported stays 0: the next run tries again */
	for (i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i].state == RCPT_FAILED)
			a->meta->q[i].reported = 1;
	return 0;
}

void
attempt_run(struct attempt *a, struct attempt_result *res)
{
	struct deliver_params dp;
	struct envelope	*env = a->env;
	struct log	*log, *vlog;
	struct transcript *tr;
	struct rcpt	*rc;
	unsigned char	*tried;
	char		 warn[512], err[512], why[128];
	size_t		 i, npending = 0;
	time_t		 now;
	int		 unsaved;

	memset(res, 0, sizeof(*res));
	log = log_open(a->cfg, warn, sizeof(warn));
	if (warn[0] != '\0')
		say("warning: %s", warn);
	tr = transcript_open(a->cfg->transcript, a->opts->verbose > 0, warn,
	    sizeof(warn));
	if (warn[0] != '\0')
		say("warning: %s", warn);
	vlog = a->opts->verbose && a->cfg->log != LOGT_STDERR ?
	    log_open_stderr() : NULL;
	tried = xcalloc(env->nrcpts ? env->nrcpts : 1, 1);
	for (i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i].state == RCPT_PENDING) {
			tried[i] = 1;
			npending++;
		}
	if (npending > 0) {
		log_message(log, a->meta->id, env->sender,
		    (long long)msg_stream_size(a->msg, 0), env->nrcpts);
		memset(&dp, 0, sizeof(dp));
		dp.cfg = a->cfg;
		dp.opts = a->opts;
		dp.env = env;
		dp.msg = a->msg;
		dp.helo = a->helo;
		dp.arrival = a->arrival;
		dp.transcript = tr;
		if (deliver_run(&dp, err, sizeof(err)) != 0)
			say("%s", err);
	}
	now = time(NULL);
	for (i = 0; i < env->nrcpts; i++) {
		rc = &env->rcpts[i];
		if (!tried[i])
			continue;
		if (rc->state == RCPT_PENDING) {
			/* Never silently dropped: deferred if undecided. */
			rc->state = RCPT_DEFERRED;
			strlcpy(rc->dsn, "4.3.0", sizeof(rc->dsn));
			free(rc->reason);
			rc->reason = xstrdup("delivery was not attempted");
		}
		if (rc->state == RCPT_DEFERRED) {
			a->meta->q[i].attempts++;
			a->meta->q[i].next = now +
			    queue_backoff(a->meta->q[i].attempts);
		}
	}
	/* Every attempt checks the lifetime (SPEC §7). */
	(void)attempt_expire(a->cfg, env, a->meta, now);
	for (i = 0; i < env->nrcpts; i++) {
		rc = &env->rcpts[i];
		if (rc->state == RCPT_DEFERRED)
			res->ndeferred++;
		if (!tried[i] && !(rc->state == RCPT_FAILED &&
		    !a->meta->q[i].reported))
			continue;
		if (rc->state == RCPT_DELIVERED)
			res->ndelivered++;
		else if (rc->state == RCPT_FAILED)
			res->nfailed++;
		log_rcpt(log, a->meta->id, rc);
		/* -v: the same Postfix-format line on stderr (SPEC §6). */
		if (vlog != NULL)
			log_rcpt(vlog, a->meta->id, rc);
		if (!a->report || a->opts->errmode == ERRMODE_QUIET)
			continue;
		if (rc->state == RCPT_FAILED)
			say("<%s>: %s (%s)", rc->orig, rc->reason, rc->dsn);
		else if (rc->state == RCPT_DEFERRED)
			say("<%s>: deferred: %s (%s)", rc->orig, rc->reason,
			    rc->dsn);
	}
	free(tried);
	transcript_close(tr);
	log_close(vlog);
	log_close(log);

	unsaved = report_failures(a, res) != 0;

	if (a->entry != NULL) {
		if (unsaved && queue_commit(a->entry, env, a->meta, 1, err,
		    sizeof(err)) == 0) {
			say("the message stays in the queue as %s/%s.msg",
			    a->entry->dir, a->meta->id);
			return;
		}
		if (res->ndeferred == 0) {
			if (queue_remove(a->entry, err, sizeof(err)) != 0)
				say("%s", err);
			return;
		}
		if (queue_commit(a->entry, env, a->meta, 1, err,
		    sizeof(err)) == 0) {
			res->kept = KEPT_QUEUE;
			if (a->report && a->opts->errmode != ERRMODE_QUIET)
				say("message %s queued in %s for retry",
				    a->meta->id, a->entry->dir);
			return;
		}
		say("%s", err);
	}
	if (res->ndeferred > 0) {
		snprintf(why, sizeof(why), "%zu recipient%s deferred and the "
		    "queue is not writable", res->ndeferred,
		    res->ndeferred == 1 ? "" : "s");
		res->kept = attempt_keep(a->msg, env->sender, why,
		    a->meta->owner);
	}
}

/* ---------------------------------------------------------- queue run */

static void
add_dir(char ***v, size_t *n, const char *path)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(path);
}

/* The user directories of root that uid may run. */
static void
dirs_of(const char *root, uid_t uid, char ***v, size_t *n)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[PATH_MAX], err[256], *end;
	unsigned long	 u;

	if (uid != 0) {
		if (queue_user_dir(root, uid, 0, path, sizeof(path), err,
		    sizeof(err)) == 0)
			add_dir(v, n, path);
		return;
	}
	/* root runs every user's entries (SPEC §7). */
	if ((d = opendir(root)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		errno = 0;
		u = strtoul(de->d_name, &end, 10);
		if (*end != '\0' || errno != 0)
			continue;
		if (queue_user_dir(root, (uid_t)u, 0, path, sizeof(path), err,
		    sizeof(err)) == 0)
			add_dir(v, n, path);
		else
			say("skipping %s/%s: %s", root, de->d_name, err);
	}
	closedir(d);
}

char **
attempt_queue_dirs(const struct config *cfg, size_t *n)
{
	char		**v = NULL, home[PATH_MAX];
	const char	*h = getenv("HOME");
	struct stat	 st;

	*n = 0;
	dirs_of(cfg->queue_dir, getuid(), &v, n);
	if (h != NULL && h[0] == '/') {
		snprintf(home, sizeof(home), "%s/.mxsend/queue", h);
		if (lstat(home, &st) == 0 && S_ISDIR(st.st_mode))
			dirs_of(home, getuid(), &v, n);
	}
	return v;
}

static int
icontains(const char *hay, const char *needle)
{
	size_t	 n = strlen(needle), i;

	if (n == 0)
		return 1;
	for (i = 0; hay[i] != '\0'; i++)
		if (ascii_strncasecmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

static int
selected(const struct options *o, const struct envelope *env)
{
	size_t	 i;

	switch (o->qselect) {
	case QSEL_RCPT:
		for (i = 0; i < env->nrcpts; i++)
			if ((env->rcpts[i].state == RCPT_DEFERRED ||
			    env->rcpts[i].state == RCPT_PENDING) &&
			    icontains(env->rcpts[i].addr, o->qsubstr))
				return 1;
		return 0;
	case QSEL_SENDER:
		return icontains(env->sender, o->qsubstr);
	default:
		return 1;
	}
}

/* One entry of a queue run; returns 1 when it was attempted. */
static int
run_entry(const struct config *cfg, const struct options *opts,
    const char *hostname, const char *helo, const char *dir, const char *id)
{
	struct envelope	 env;
	struct qmeta	 m;
	struct message	 msg;
	struct qentry	 e;
	struct attempt	 a;
	struct attempt_result res;
	char		 err[512];
	size_t		 i, ndue = 0;
	time_t		 now = time(NULL);
	int		 forced = opts->qselect != QSEL_ALL, ran = 0;

	if (opts->qselect == QSEL_ID && !icontains(id, opts->qsubstr))
		return 0;
	envelope_init(&env);
	qmeta_init(&m);
	msg_init(&msg, -1);
	switch (queue_load(dir, id, &e, &env, &m, &msg, err, sizeof(err))) {
	case QLOAD_OK:
		break;
	case QLOAD_CORRUPT:
	case QLOAD_ERROR:
		say("%s", err);
		/* FALLTHROUGH */
	default:
		goto out;
	}
	if (!selected(opts, &env))
		goto done;
	for (i = 0; i < env.nrcpts; i++) {
		struct rcpt *r = &env.rcpts[i];

		if (r->state != RCPT_DEFERRED && r->state != RCPT_PENDING)
			continue;
		if (forced || m.q[i].next <= now) {
			r->state = RCPT_PENDING;
			ndue++;
		}
	}
	/*
	 * Due or not, an expired entry is settled now (SPEC §7), and so is
	 * one whose failures could not be reported yet.
	 */
	for (i = 0; i < env.nrcpts; i++)
		if (env.rcpts[i].state == RCPT_FAILED && !m.q[i].reported)
			ndue++;
	if (ndue == 0 && attempt_expire(cfg, &env, &m, now) == 0)
		goto done;
	envelope_group(&env);
	memset(&a, 0, sizeof(a));
	a.cfg = cfg;
	a.opts = opts;
	a.env = &env;
	a.msg = &msg;
	a.meta = &m;
	a.entry = &e;
	a.hostname = hostname;
	a.helo = helo;
	a.report = 1;
	/* Delays count from the arrival in the queue, as Postfix's do. */
	clock_gettime(CLOCK_MONOTONIC, &a.arrival);
	if (now > m.arrival && now - m.arrival < a.arrival.tv_sec)
		a.arrival.tv_sec -= now - m.arrival;
	attempt_run(&a, &res);
	ran = 1;
done:
	queue_release(&e);
out:
	if (msg.fd != -1) {
		close(msg.fd);
	}
	msg_free(&msg);
	qmeta_free(&m);
	envelope_free(&env);
	return ran;
}

size_t
attempt_queue_run(const struct config *cfg, const struct options *opts,
    const char *hostname, const char *helo)
{
	char		**dirs, **ids;
	size_t		 nd, ni, i, j, n = 0;

	dirs = attempt_queue_dirs(cfg, &nd);
	for (i = 0; i < nd; i++) {
		queue_clean(dirs[i], time(NULL));
		ids = queue_list(dirs[i], &ni);
		for (j = 0; j < ni; j++) {
			n += (size_t)run_entry(cfg, opts, hostname, helo,
			    dirs[i], ids[j]);
			free(ids[j]);
		}
		free(ids);
		free(dirs[i]);
	}
	free(dirs);
	return n;
}
