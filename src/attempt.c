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
#include "policy.h"
#include "util.h"


static int
quiet(const struct attempt *a)
{
	return !a->report || a->d.opts->errmode == ERRMODE_QUIET;
}

enum run_kept
attempt_keep(const struct message *msg, const char *sender, const char *why,
    int quiet)
{
	char	 path[4096], err[512];

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
	if (!quiet)
		say("%s; message saved in %s", why, path);
	return KEPT_DEADLETTER;
}

size_t
attempt_expire(const struct config *cfg, struct envelope *env,
    const struct qmeta *m, time_t now)
{
	struct policy_outcome o = policy_expired();
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
		why = xasprintf("%s after %u s%s%s", o.reason,
		    cfg->queue_lifetime, r->reason != NULL ? "; last error: " :
		    "", r->reason != NULL ? r->reason : "");
		free(r->reason);
		r->reason = why;
		r->state = o.state;
		r->fail = o.fail;
		strlcpy(r->dsn, o.dsn, sizeof(r->dsn));
		n++;
	}
	return n;
}

/* A scratch file beside the entry (same file system), else anywhere. */
static int
scratch_file(const struct attempt *a)
{
	return tmpfile_open(a->entry != NULL ? a->entry->dir->fd : -1);
}

/* The DSN's envelope: the null sender, to the original sender. */
static void
bounce_envelope(const struct attempt *a, struct envelope *benv)
{
	struct rcpt	*r;

	benv->sender = xstrdup("");
	benv->rcpts = xcalloc(1, sizeof(*benv->rcpts));
	benv->nrcpts = 1;
	r = &benv->rcpts[0];
	r->addr = xstrdup(a->d.env->sender);
	r->orig = xstrdup(a->d.env->sender);
	r->domain = strrchr(r->addr, '@') != NULL ?
	    strrchr(r->addr, '@') + 1 : r->addr;
	r->smtputf8 = a->d.env->sender_smtputf8;
	r->state = RCPT_PENDING;
	envelope_group(benv);
}

/*
 * Compose the DSN into bmsg: written to a scratch file, then spooled by
 * intake into the entry be (in the message's queue directory) or, with
 * no queue, into a second scratch file. Returns 0, or -1 with err.
 */
static int
compose_bounce(struct attempt *a, const struct dsn_report *rep,
    const unsigned char *include, struct qentry *be, int *queued,
    struct message *bmsg, char *err, size_t errlen)
{
	char	 why[512];
	int	 tfd, sfd = -1, r = -1;

	*queued = 0;
	if ((tfd = scratch_file(a)) == -1) {
		snprintf(err, errlen, "cannot create a scratch file: %s",
		    strerror(errno));
		return -1;
	}
	if (dsn_write(tfd, rep, a->d.env, include, a->d.msg, err, errlen) != 0)
		goto out;
	if (lseek(tfd, 0, SEEK_SET) != 0) {
		snprintf(err, errlen, "rewinding the scratch file: %s",
		    strerror(errno));
		goto out;
	}
	if (a->entry != NULL && queue_spool(a->entry->dir, be->id, be, why,
	    sizeof(why)) == 0) {
		sfd = be->msgfd;
		*queued = 1;
	} else if ((sfd = scratch_file(a)) == -1) {
		snprintf(err, errlen, "cannot create a spool file: %s",
		    strerror(errno));
		goto out;
	}
	msg_init(bmsg, sfd);
	if (intake_read(tfd, bmsg, 1, err, errlen) != INTAKE_OK)
		goto out;
	r = 0;
out:
	close(tfd);
	return r;
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
	char		 err[512];
	int		 queued, ok = 0;

	memset(&rep, 0, sizeof(rep));
	rep.reporting_mta = names_host(a->names);
	rep.queue_id = a->meta->id;
	rep.arrival = a->meta->arrival;
	rep.now = time(NULL);
	rep.envid = a->meta->envid;
	rep.ret = a->meta->ret;
	rep.sender = a->d.env->sender;
	envelope_init(&benv);
	qmeta_init(&bmeta);
	msg_init(&bmsg, -1);
	memset(&be, 0, sizeof(be));
	be.msgfd = -1;
	queue_id_new(bmeta.id);
	strlcpy(be.id, bmeta.id, sizeof(be.id));
	if (compose_bounce(a, &rep, include, &be, &queued, &bmsg, err,
	    sizeof(err)) != 0) {
		say("cannot compose the delivery status notification: %s",
		    err);
		goto out;
	}
	bounce_envelope(a, &benv);
	bmeta.arrival = rep.now;
	bmeta.eightbit = bmsg.eightbit;
	bmeta.is_bounce = 1;
	bmeta.q = xcalloc(1, sizeof(*bmeta.q));
	if (queued) {
		if (queue_create(&be, &benv, &bmeta, err, sizeof(err)) == 0)
			bep = &be;
		else
			say("warning: %s; the notification is not durable",
			    err);
	}
	log_bounce(a->log, a->meta->id, bmeta.id);
	b = *a;
	b.d.env = &benv;
	b.d.msg = &bmsg;
	b.meta = &bmeta;
	b.entry = bep;
	b.from_queue = 0;
	b.answered = 0;
	b.report = a->d.opts->verbose > 0;
	clock_gettime(CLOCK_MONOTONIC, &b.d.arrival);
	attempt_run(&b, &bres);
	ok = bres.ndelivered > 0 || bres.kept == KEPT_QUEUE;
out:
	if (queued) {
		if (bep == NULL)
			queue_discard(&be);
		queue_release(&be);
	} else if (bmsg.fd != -1)
		close(bmsg.fd);
	msg_free(&bmsg);
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
	struct envelope	*env = a->d.env;
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
	/* -bs: every recipient failed, and the client's reply says so. */
	if (a->answered && delivered == 0 && res->ndeferred == 0)
		goto reported;
	if (a->meta->bounce && !a->meta->is_bounce && env->sender[0] != '\0') {
		include = xcalloc(env->nrcpts, 1);
		(void)dsn_select(env, include);
		/* Only the ones not reported before. */
		for (i = 0, n = 0; i < env->nrcpts; i++) {
			if (a->meta->q[i].reported)
				include[i] = 0;
			n += include[i];
		}
		/* NOTIFY=NEVER for all of them: nobody is to be told. */
		if (n > 0)
			res->bounced = submit_bounce(a, include);
		free(include);
	}
	/* Without a bounce: dead.letter when nobody got the message. */
	if (!res->bounced && delivered == 0 && res->ndeferred == 0 &&
	    a->d.msg->fd != -1 && attempt_keep(a->d.msg, env->sender,
	    "undeliverable", quiet(a)) == KEPT_LOST)
		return -1;	/* reported stays 0: the next run tries again */
reported:
	for (i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i].state == RCPT_FAILED)
			a->meta->q[i].reported = 1;
	return 0;
}

/*
 * Deliver the pending recipients; marks them in tried[]. The qmgr line
 * comes first whenever a recipient line will follow (failures found
 * before delivery too): log tools take the message's size from it.
 */
static void
deliver_pending(struct attempt *a, unsigned char *tried)
{
	struct envelope	*env = a->d.env;
	size_t		 i, npending = 0, nunreported = 0;

	for (i = 0; i < env->nrcpts; i++) {
		if (env->rcpts[i].state == RCPT_PENDING) {
			tried[i] = 1;
			npending++;
		} else if (env->rcpts[i].state == RCPT_FAILED &&
		    !a->meta->q[i].reported)
			nunreported++;
	}
	if (npending + nunreported > 0)
		log_message(a->log, a->meta->id, env->sender,
		    (long long)msg_stream_size(a->d.msg, 0), env->nrcpts);
	if (npending > 0)
		deliver_routes(&a->d);
}

/* Undecided recipients deferred, back-off scheduled, lifetime checked. */
static void
settle(struct attempt *a, const unsigned char *tried)
{
	struct policy_outcome o;
	struct rcpt	*rc;
	size_t		 i;
	time_t		 now = time(NULL);

	for (i = 0; i < a->d.env->nrcpts; i++) {
		rc = &a->d.env->rcpts[i];
		if (!tried[i])
			continue;
		if (rc->state == RCPT_PENDING) {
			/* Never silently dropped: policy says what it is. */
			o = policy_undecided();
			rc->state = o.state;
			rc->fail = o.fail;
			strlcpy(rc->dsn, o.dsn, sizeof(rc->dsn));
			free(rc->reason);
			rc->reason = xstrdup(o.reason);
		}
		if (rc->state == RCPT_DEFERRED) {
			a->meta->q[i].attempts++;
			a->meta->q[i].next = now +
			    queue_backoff(a->meta->q[i].attempts);
		}
	}
	/* Every attempt checks the lifetime (SPEC §7). */
	(void)attempt_expire(a->d.cfg, a->d.env, a->meta, now);
}

/* Count, log and show each recipient this attempt decided. */
static void
report_outcomes(struct attempt *a, const unsigned char *tried,
    struct attempt_result *res)
{
	struct rcpt	*rc;
	size_t		 i;

	for (i = 0; i < a->d.env->nrcpts; i++) {
		rc = &a->d.env->rcpts[i];
		if (rc->state == RCPT_DEFERRED)
			res->ndeferred++;
		if (!tried[i] && !(rc->state == RCPT_FAILED &&
		    !a->meta->q[i].reported))
			continue;
		if (rc->state == RCPT_DELIVERED)
			res->ndelivered++;
		else if (rc->state == RCPT_FAILED)
			res->nfailed++;
		/* Under -v on stderr too (SPEC §6): log_echo(). */
		log_rcpt(a->log, a->meta->id, rc);
		if (quiet(a))
			continue;
		if (rc->state == RCPT_FAILED)
			say("<%s>: %s (%s)", rc->orig, rc->reason, rc->dsn);
		else if (rc->state == RCPT_DEFERRED)
			say("<%s>: deferred: %s (%s)", rc->orig, rc->reason,
			    rc->dsn);
	}
}

/*
 * The entry's new state on disk: removed when every recipient is final
 * and reported, else rewritten and flushed. Returns 0, or -1 when the
 * queue could not take it (err).
 */
static int
store(struct attempt *a, int unsaved, struct attempt_result *res, char *err,
    size_t errlen)
{
	struct qentry	*e = a->entry;

	if (unsaved &&
	    queue_commit(e, a->d.env, a->meta, 1, err, errlen) == 0) {
		say("the message stays in the queue as %s/%s.msg",
		    e->dir->path, a->meta->id);
		return 0;
	}
	if (res->ndeferred == 0 && !unsaved) {
		if (queue_remove(e, err, errlen) != 0)
			say("%s", err);
		else
			log_removed(a->log, a->meta->id);
		return 0;
	}
	if (queue_commit(e, a->d.env, a->meta, 1, err, errlen) == 0) {
		res->kept = KEPT_QUEUE;
		if (!quiet(a))
			say("message %s queued in %s for retry", a->meta->id,
			    e->dir->path);
		return 0;
	}
	return -1;
}

void
attempt_run(struct attempt *a, struct attempt_result *res)
{
	unsigned char	*tried;
	char		 err[512], why[128];
	int		 unsaved;

	memset(res, 0, sizeof(*res));
	/* Looked up here, when a session may need it (SPEC §4 helo). */
	if (a->d.helo == NULL && a->names != NULL)
		a->d.helo = names_helo(a->names);
	tried = xcalloc(a->d.env->nrcpts ? a->d.env->nrcpts : 1, 1);
	deliver_pending(a, tried);
	settle(a, tried);
	report_outcomes(a, tried, res);
	free(tried);

	unsaved = report_failures(a, res) != 0;
	if (a->entry != NULL) {
		if (store(a, unsaved, res, err, sizeof(err)) == 0)
			return;
		say("%s", err);
		/*
		 * A loaded entry stays as it was on disk (SPEC §7: a local
		 * error is temporary); the next run tries again.
		 */
		if (a->from_queue) {
			say("queue entry %s left as it was", a->meta->id);
			res->kept = KEPT_QUEUE;
			return;
		}
	}
	/* -bs: the client hears 451 and keeps the message itself. */
	if (res->ndeferred > 0 && a->answered) {
		if (!quiet(a))
			say("message %s could not be queued: the client is "
			    "told to try again later", a->meta->id);
	} else if (res->ndeferred > 0) {
		snprintf(why, sizeof(why), "%zu recipient%s deferred and the "
		    "queue is not writable", res->ndeferred,
		    res->ndeferred == 1 ? "" : "s");
		res->kept = attempt_keep(a->d.msg, a->d.env->sender, why,
		    quiet(a));
	}
}

/* ---------------------------------------------------------- queue run */

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

/* What a queue run needs in each directory (and the child of root). */
struct qrun {
	const struct config	*cfg;
	const struct options	*opts;
	struct names		*names;	/* found in each child */
	struct log		*log;
	struct transcript	*transcript;
	size_t			 n;	/* entries attempted */
};

/* Mark the due recipients pending; returns how many need an attempt. */
static size_t
due(const struct qrun *q, struct envelope *env, struct qmeta *m, time_t now)
{
	size_t	 i, n = 0;
	int	 forced = q->opts->qselect != QSEL_ALL;

	for (i = 0; i < env->nrcpts; i++) {
		struct rcpt *r = &env->rcpts[i];

		if (r->state != RCPT_DEFERRED && r->state != RCPT_PENDING)
			continue;
		if (forced || m->q[i].next <= now) {
			r->state = RCPT_PENDING;
			n++;
		}
	}
	/*
	 * Due or not, an expired entry is settled now (SPEC §7), and so is
	 * one whose failures could not be reported yet.
	 */
	for (i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i].state == RCPT_FAILED && !m->q[i].reported)
			n++;
	if (n == 0)
		n = attempt_expire(q->cfg, env, m, now);
	return n;
}

/* One entry of a queue run; returns 1 when it was attempted. */
static int
run_entry(struct qrun *q, struct qdir *d, const char *id)
{
	struct envelope	 env;
	struct qmeta	 m;
	struct message	 msg;
	struct qentry	 e;
	struct attempt	 a;
	struct attempt_result res;
	char		 err[1024];
	time_t		 now = time(NULL);
	int		 ran = 0;

	if (q->opts->qselect == QSEL_ID && !icontains(id, q->opts->qsubstr))
		return 0;
	envelope_init(&env);
	qmeta_init(&m);
	msg_init(&msg, -1);
	switch (queue_load(d, id, &e, &env, &m, &msg, err, sizeof(err))) {
	case QLOAD_OK:
		break;
	case QLOAD_CORRUPT:
	case QLOAD_ERROR:
		say("%s", err);
		log_service(q->log, LOGS_QMGR, "%s: %s", id, err);
		/* FALLTHROUGH */
	default:
		goto out;
	}
	if (!selected(q->opts, &env) || due(q, &env, &m, now) == 0)
		goto done;
	attempt_edits(&msg, q->cfg, q->names);
	envelope_group(&env);
	memset(&a, 0, sizeof(a));
	a.d.cfg = q->cfg;
	a.d.opts = q->opts;
	a.d.env = &env;
	a.d.msg = &msg;
	a.meta = &m;
	a.entry = &e;
	a.from_queue = 1;
	a.log = q->log;
	a.d.transcript = q->transcript;
	a.names = q->names;
	a.report = 1;
	/* Delays count from the arrival in the queue, as Postfix's do. */
	clock_gettime(CLOCK_MONOTONIC, &a.d.arrival);
	if (now > m.arrival && now - m.arrival < a.d.arrival.tv_sec)
		a.d.arrival.tv_sec -= now - m.arrival;
	attempt_run(&a, &res);
	ran = 1;
done:
	queue_release(&e);	/* closes msg.fd too: it is the entry's */
out:
	msg_free(&msg);
	qmeta_free(&m);
	envelope_free(&env);
	return ran;
}

/* stderr and the log: what the queue refused, cleaned or moved aside. */
static void
queue_note(void *ctx, const char *line)
{
	say("%s", line);
	log_service((struct log *)ctx, LOGS_QMGR, "queue: %s", line);
}

static void
run_dir(struct qdir *d, void *ctx)
{
	struct qrun	*q = ctx;
	char		**ids;
	size_t		 n, i;

	queue_clean(d, time(NULL));
	ids = queue_list(d, &n);
	for (i = 0; i < n; i++) {
		q->n += (size_t)run_entry(q, d, ids[i]);
		free(ids[i]);
	}
	free(ids);
}

void
attempt_edits(struct message *msg, const struct config *cfg,
    struct names *names)
{
	if (msg_qualify(msg, names_domain(names)) < 0 ||
	    (cfg->relay_from != NULL &&
	    msg_relay_from(msg, cfg->relay_from) < 0))
		say("warning: cannot read the message for its header edits: "
		    "%s", strerror(errno));
}

size_t
attempt_queue_run(const struct config *cfg, const struct options *opts,
    struct names *names, struct log *log, struct transcript *tr)
{
	struct qrun	 q;

	memset(&q, 0, sizeof(q));
	q.cfg = cfg;
	q.opts = opts;
	q.names = names;
	q.log = log;
	q.transcript = tr;
	(void)queue_visit(cfg, 1, run_dir, &q, sizeof(q), queue_note, log);
	return q.n;
}

struct qlist {
	FILE		*out;
	struct qprint	 p;
};

static void
print_dir(struct qdir *d, void *ctx)
{
	struct qlist	*l = ctx;

	queue_print_dir(l->out, d, &l->p);
	fflush(l->out);
}

void
attempt_queue_print(const struct config *cfg, FILE *out, struct log *log)
{
	struct qlist	 l;

	memset(&l, 0, sizeof(l));
	l.out = out;
	(void)queue_visit(cfg, 0, print_dir, &l, sizeof(l), queue_note, log);
	queue_print_end(out, &l.p);
}
