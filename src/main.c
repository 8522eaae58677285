/*
 * main.c: the top-level sequence of mxsend. Each mode ends in a struct
 * run_outcome, which status.c alone turns into the exit status (SPEC §3).
 *
 * argv + environment + file -> options and configuration; stdin -> spool
 * (intake.c); envelope (envelope.c); delivery (deliver.c); the log
 * lines (log.c), one stderr line per recipient not delivered, and the
 * exit status. Intake writes the message straight into its queue entry
 * (SPEC §5.1, §7): the spool below walks the queues in SPEC §7's order,
 * even when one fills up halfway through stdin.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aliases.h"
#include "config.h"
#include "dkim.h"
#include "attempt.h"
#include "envelope.h"
#include "intake.h"
#include "mailx.h"
#include "queue.h"
#include "status.h"
#include "message.h"
#include "names.h"
#include "options.h"
#include "smtpd.h"
#include "util.h"
#include "verify.h"

#define MAX_RECEIVED	50	/* SPEC §5.4: more is a mail loop */

struct run {
	struct options	 opts;
	struct config	 cfg;
	char		 login[256];
	struct names	 names;		/* found on first use */
	char		 qid[QUEUE_ID_LEN + 1];
	struct log	*log;		/* one per process (log.h) */
	struct transcript *transcript;
	struct mailx	*mailx;		/* called as mail or mailx */
};

/*
 * Where intake writes the message (SPEC §7 order): the queue_dir entry,
 * the $HOME/.mxsend/queue entry, then an unnamed file in $TMPDIR or /tmp
 * (not durable).
 */
enum spool_stage {
	SPOOL_PRIMARY,
	SPOOL_HOME,
	SPOOL_TMP,
	SPOOL_NONE
};

struct spool {
	struct run	*r;
	enum spool_stage stage;
	struct qdir	 dir;
	struct qentry	 e;		/* stage < SPOOL_TMP */
	int		 fd;
	char		 why[PATH_MAX + 1024];	/* why the last stage was
						   left */
};

/*
 * One message from its input to its outcome: -bm's from stdin, and each
 * of -bs's from the DATA its session stored.
 */
struct submission {
	int		 infd;
	int		 ignore_dots;
	int		 collect;	/* -bm: recipients from argv and -t,
					   once the message is read */
	int		 answered;	/* -bs: the reply to the final dot
					   tells the client (SPEC §2): some
					   recipients' failures are bounced,
					   nothing goes to dead.letter */
	enum smtpd_refusal refusal;	/* STOP_DATA: which refusal */
	const struct mailx *mailx;	/* its header goes before infd's
					   body (SPEC §2.1) */
	char		 why[512];	/* a stop's reason */
};


/* The exit status of a run that stopped for this reason. */
static int
stopped(enum run_stop why)
{
	struct run_outcome o;

	memset(&o, 0, sizeof(o));
	o.stop = why;
	return exit_status(&o);
}

static enum run_stop
usage_error(const char *err)
{
	say("%s", err);
	fputs(options_usage(), stderr);
	return STOP_USAGE;
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

static enum run_stop
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
		return STOP_CONFIG;
	}
	printf("%s: %zu aliases\n", path, al.n);
	aliases_free(&al);
	return STOP_DONE;
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

/* The aliases file into al; 0, or -1 when it is unusable (said why). */
static int
load_aliases(struct run *r, struct aliases *al)
{
	char err[1024];
	const char *apath = r->cfg.aliases ? r->cfg.aliases : "/etc/aliases";

	aliases_init(al);
	al->max_rcpts = r->cfg.alias_max_recipients;
	if (aliases_load(al, apath, r->cfg.aliases_set, err,
	    sizeof(err)) == 0)
		return 0;
	say("%s", err);
	return -1;
}

/*
 * Load the aliases and collect the recipients of the envelope (from argv
 * and, with -t, msg), grouped by domain. Returns STOP_NONE, or why not.
 */
static enum run_stop
collect_recipients(struct run *r, struct envelope *env,
    const struct message *msg, const char *none)
{
	struct aliases al;
	char err[1024];
	enum run_stop stop = STOP_NONE;

	if (load_aliases(r, &al) != 0)
		stop = STOP_CONFIG;
	else if (envelope_add_recipients(env, &r->opts, msg, &al,
	    names_mail_domain(&r->names), err, sizeof(err)) != 0)
		stop = usage_error(err);
	else if (env->nrcpts == 0)
		stop = usage_error(none);
	else
		envelope_group(env);
	aliases_free(&al);
	return stop;
}

/*
 * -bv -v probes the MX hosts (SPEC §2): MAIL FROM carries the sender a
 * delivery would use, and the dialogue goes where delivery's does.
 */
static enum run_stop
verify_prepare(struct run *r, struct envelope *env)
{
	char err[1024], warn[1024];

	find_login(r);
	if (envelope_set_sender(env, r->opts.sender, &r->cfg,
	    names_domain(&r->names), r->login, err, sizeof(err)) != 0)
		return usage_error(err);
	r->transcript = transcript_open(r->cfg.transcript, 1, warn,
	    sizeof(warn));
	if (warn[0] != '\0')
		say("warning: %s", warn);
	return STOP_NONE;
}

/* -bv: the route of every address given, nothing read or delivered. */
static int
mode_verify(struct run *r)
{
	struct envelope env;
	struct run_outcome o;
	struct verify_params vp;
	char err[1024];
	int code;

	envelope_init(&env);
	memset(&o, 0, sizeof(o));
	o.env = &env;
	r->opts.extract = 0;
	o.stop = collect_recipients(r, &env, NULL, "no recipients: -bv takes "
	    "addresses as arguments");
	if (o.stop == STOP_NONE && r->opts.verbose)
		o.stop = verify_prepare(r, &env);
	memset(&vp, 0, sizeof(vp));
	vp.cfg = &r->cfg;
	vp.opts = &r->opts;
	vp.names = &r->names;
	vp.transcript = r->transcript;
	if (o.stop == STOP_NONE && verify_run(&vp, &env, stdout, err,
	    sizeof(err)) != 0) {
		say("%s", err);
		o.stop = STOP_OSERR;
	}
	code = exit_status(&o);
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

/* An unnamed file in $TMPDIR, else /tmp: the message is not durable. */
static int
tmp_spool(char *err, size_t errlen)
{
	const char *t = getenv("TMPDIR");
	int fd;

	if ((fd = tmpfile_open(-1)) < 0)
		snprintf(err, errlen, "cannot create a spool file in %s or "
		    "/tmp: %s", t != NULL ? t : "$TMPDIR", strerror(errno));
	return fd;
}

static void
spool_close_stage(struct spool *sp)
{
	if (sp->stage < SPOOL_TMP) {
		queue_discard(&sp->e);
		queue_release(&sp->e);
		queue_dir_close(&sp->dir);
	} else if (sp->fd != -1)
		close(sp->fd);
	sp->fd = -1;
}

/* Open the first stage from sp->stage on; 0, or -1 with err. */
static int
spool_open(struct spool *sp, char *err, size_t errlen)
{
	struct run *r = sp->r;
	char warn[PATH_MAX + 2048], qerr[PATH_MAX + 1024];

	for (; sp->stage < SPOOL_TMP; sp->stage++) {
		snprintf(qerr, sizeof(qerr), "%s", sp->why);
		if (queue_pick(&r->cfg, getuid(), sp->stage == SPOOL_HOME,
		    &sp->dir, warn, sizeof(warn), qerr, sizeof(qerr)) != 0) {
			snprintf(sp->why, sizeof(sp->why), "%s", qerr);
			sp->stage = SPOOL_TMP;
			break;
		}
		if (warn[0] != '\0') {
			say("warning: %s", warn);
			sp->stage = SPOOL_HOME;
		}
		if (queue_spool(&sp->dir, r->qid, &sp->e, sp->why,
		    sizeof(sp->why)) == 0) {
			sp->fd = sp->e.msgfd;
			return 0;
		}
		queue_dir_close(&sp->dir);
	}
	if (sp->stage == SPOOL_TMP) {
		say("warning: %s; the message is not durable", sp->why);
		if ((sp->fd = tmp_spool(err, errlen)) != -1)
			return 0;
	}
	sp->stage = SPOOL_NONE;
	return -1;
}

/* Copy the first len octets of from to to. */
static int
copy_spool(int from, int to, off_t len)
{
	char buf[65536];
	off_t off = 0;
	ssize_t n;

	while (off < len) {
		n = pread(from, buf, (size_t)(len - off < (off_t)sizeof(buf) ?
		    len - off : (off_t)sizeof(buf)), off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || write_all(to, buf, (size_t)n) != 0)
			return -1;
		off += n;
	}
	return 0;
}

/* intake_respool_fn: the spool's file system is full; the next stage. */
static int
spool_next(void *ctx, int oldfd, off_t len, char *err, size_t errlen)
{
	struct spool *sp = ctx;
	struct spool next = *sp;
	int saved = errno;

	snprintf(next.why, sizeof(next.why), "writing %s: %s",
	    sp->stage < SPOOL_TMP ? sp->dir.path : "the spool file",
	    strerror(saved));
	for (next.stage = sp->stage + 1; next.stage < SPOOL_NONE;
	    next.stage++) {
		if (spool_open(&next, err, errlen) != 0)
			return -1;
		if (copy_spool(oldfd, next.fd, len) == 0)
			break;
		snprintf(next.why, sizeof(next.why), "writing %s: %s",
		    next.stage < SPOOL_TMP ? next.dir.path : "the spool file",
		    strerror(errno));
		spool_close_stage(&next);
	}
	if (next.stage >= SPOOL_NONE) {
		snprintf(err, errlen, "%s", next.why);
		return -1;
	}
	spool_close_stage(sp);
	*sp = next;
	if (sp->stage < SPOOL_TMP)
		sp->e.dir = &sp->dir;
	return sp->fd;
}

static void
meta_of(struct run *r, const struct submission *sub,
    const struct message *msg, const struct envelope *env, struct qmeta *m)
{
	const struct options *o = &r->opts;

	qmeta_init(m);
	strlcpy(m->id, r->qid, sizeof(m->id));
	m->arrival = time(NULL);
	m->eightbit = o->body == BODY_8BITMIME ||
	    (o->body == BODY_DETECT && msg->eightbit);
	m->ret = o->ret;
	m->envid = o->envid != NULL ? xstrdup(o->envid) : NULL;
	m->bounce = o->errmode == ERRMODE_MAIL || r->cfg.bounce ||
	    sub->answered;
	m->prepend = msg->prepend.len > 0 ? xstrdup(msg->prepend.data) : NULL;
	m->append = msg->append.len > 0 ? xstrdup(msg->append.data) : NULL;
	m->q = xcalloc(env->nrcpts, sizeof(*m->q));
}

/*
 * Make the spool an entry (SPEC §7: before the first connection), deliver
 * it (now, or in the background, or not at all with -odq), and say how
 * it went in out.
 */
static void
deliver_message(struct run *r, const struct submission *sub,
    struct spool *sp, struct message *msg, struct envelope *env,
    const struct timespec *arrival, struct run_outcome *out)
{
	struct qmeta m;
	struct qentry *ep = NULL;
	struct attempt a;
	struct attempt_result res;
	const struct options *o = &r->opts;
	char err[512];

	meta_of(r, sub, msg, env, &m);
	log_pickup(r->log, r->qid, (unsigned long)getuid(), env->sender);
	if (sp->stage < SPOOL_TMP) {
		sp->e.dir = &sp->dir;
		if (queue_create(&sp->e, env, &m, err, sizeof(err)) == 0)
			ep = &sp->e;
		else
			say("warning: %s; the message is not durable", err);
	}

	memset(&a, 0, sizeof(a));
	a.d.cfg = &r->cfg;
	a.d.opts = o;
	a.d.env = env;
	a.d.msg = msg;
	a.meta = &m;
	a.entry = ep;
	a.log = r->log;
	a.d.transcript = r->transcript;
	a.names = &r->names;
	a.d.arrival = *arrival;
	a.report = 1;
	a.answered = sub->answered;

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
				say("message %s queued in %s", r->qid,
				    sp->dir.path);
			qmeta_free(&m);
			out->queued = 1;
			return;
		} else
			say("warning: cannot fork (%s); delivering the "
			    "message now", strerror(errno));
	}

	attempt_run(&a, &res);
	qmeta_free(&m);
	out->bounced = res.bounced;
	out->kept = res.kept;
}

/* -bp, mailq: the queues this user can see (SPEC §7). */
static enum run_stop
mode_printq(struct run *r)
{
	attempt_queue_print(&r->cfg, stdout, r->log);
	return STOP_DONE;
}

/*
 * A message refused after intake (SPEC §3): dead.letter keeps it,
 * except one over message_size_limit, which is not kept, and one the
 * -bs client is told about.
 */
static enum run_stop
refuse(struct run *r, struct submission *sub, enum smtpd_refusal refusal,
    const struct message *msg, const char *sender, const char *why)
{
	sub->refusal = refusal;
	strlcpy(sub->why, why, sizeof(sub->why));
	if (refusal == SMTPD_REFUSED_SIZE)
		say("%s: the message was not accepted", why);
	else if (sub->answered)
		say("%s: the message was refused", why);
	else
		(void)attempt_keep(msg, sender, why,
		    r->opts.errmode == ERRMODE_QUIET);
	return STOP_DATA;
}

/* The input into the spool; STOP_NONE, or why the message stops. */
static enum run_stop
read_message(struct run *r, struct submission *sub, struct spool *sp,
    struct message *msg, const struct envelope *env)
{
	struct intake_opts io;
	char err[1024];

	memset(&io, 0, sizeof(io));
	io.ignore_dots = sub->ignore_dots;
	if (sub->mailx != NULL) {
		io.prefix = sub->mailx->header.data;
		io.prefix_len = sub->mailx->header.len;
	}
	io.size_limit = r->cfg.message_size_limit;
	io.respool = spool_next;
	io.ctx = sp;
	switch (intake_read_opts(sub->infd, msg, &io, err, sizeof(err))) {
	case INTAKE_OK:
		break;
	case INTAKE_TOO_LARGE:
		return refuse(r, sub, SMTPD_REFUSED_SIZE, msg, "", err);
	case INTAKE_NUL:
	case INTAKE_HEADER_TOO_BIG:
	case INTAKE_CORRUPT:
		return refuse(r, sub, SMTPD_REFUSED_CONTENT, msg, "", err);
	case INTAKE_READ_ERROR:
		say("%s", err);
		strlcpy(sub->why, err, sizeof(sub->why));
		return STOP_IOERR;
	case INTAKE_WRITE_ERROR:
		say("spooling the message: %s", err);
		snprintf(sub->why, sizeof(sub->why), "spooling the message: "
		    "%.400s", err);
		return STOP_CANTCREAT;
	}
	if (r->opts.verbose && (msg->nfolded || msg->nbroken))
		say("warning: %zu header line(s) folded and %zu body line(s) "
		    "broken at 998 octets", msg->nfolded, msg->nbroken);
	if (msg->nreceived > MAX_RECEIVED) {
		snprintf(err, sizeof(err), "mail loop: the message has %zu "
		    "Received: headers (more than %d)", msg->nreceived,
		    MAX_RECEIVED);
		return refuse(r, sub, SMTPD_REFUSED_LOOP, msg, env->sender,
		    err);
	}
	return STOP_NONE;
}

/*
 * The mailx front end's word on the body it spooled (mailx.h): MIME
 * fields added, or nothing to send (-E). STOP_NONE: deliver it.
 */
static enum run_stop
mailx_body(struct run *r, struct submission *sub, struct message *msg)
{
	switch (mailx_finish(sub->mailx, msg, sub->why, sizeof(sub->why))) {
	case MAILX_SEND:
		return STOP_NONE;
	case MAILX_EMPTY:
		if (r->opts.verbose)
			say("the message body is empty: nothing sent (-E)");
		return STOP_DONE;
	default:
		say("%s", sub->why);
		return STOP_IOERR;
	}
}

/* Nothing of a spool that did not become an entry stays. */
static void
spool_done(struct spool *sp)
{
	if (sp->stage < SPOOL_TMP) {
		if (!sp->e.linked)
			queue_discard(&sp->e);
		queue_release(&sp->e);
		queue_dir_close(&sp->dir);
	} else if (sp->fd != -1)
		close(sp->fd);
}

/*
 * The message of sub->infd, to env's sender (set) and recipients (with
 * sub->collect, those of argv and -t), from its input to its outcome
 * in o: spooled into a new queue entry, completed (SPEC §5.4) and
 * delivered (SPEC §6, §7).
 */
static void
submit(struct run *r, struct envelope *env, struct submission *sub,
    struct run_outcome *o)
{
	struct message msg;
	struct msg_submit ms;
	struct spool sp;
	struct timespec arrival;

	clock_gettime(CLOCK_MONOTONIC, &arrival);
	queue_id_new(r->qid);
	memset(&sp, 0, sizeof(sp));
	sp.r = r;
	sp.fd = -1;
	sp.dir.fd = -1;
	if (spool_open(&sp, sub->why, sizeof(sub->why)) != 0) {
		say("%s", sub->why);
		o->stop = STOP_CANTCREAT;
		return;
	}
	msg_init(&msg, sp.fd);
	if ((o->stop = read_message(r, sub, &sp, &msg, env)) != STOP_NONE ||
	    (sub->mailx != NULL &&
	    (o->stop = mailx_body(r, sub, &msg)) != STOP_NONE) ||
	    (sub->collect && (o->stop = collect_recipients(r, env, &msg,
	    "no recipients: give addresses as arguments or use -t with To:, "
	    "Cc: or Bcc: headers")) != STOP_NONE))
		goto out;

	memset(&ms, 0, sizeof(ms));
	ms.sender = env->sender;
	ms.fullname = r->opts.fullname;
	ms.queue_id = r->qid;
	ms.domain = names_domain(&r->names);
	ms.login = r->login;
	ms.uid = getuid();
	ms.for_rcpt = env->nrcpts == 1 ? env->rcpts[0].addr : NULL;
	ms.now = time(NULL);
	msg_complete(&msg, &ms);
	attempt_edits(&msg, &r->cfg, &r->names);

	if (r->opts.verbose)
		print_envelope(env);
	/* Recipients refused before delivery are reported with the rest. */
	deliver_message(r, sub, &sp, &msg, env, &arrival, o);
out:
	msg_free(&msg);
	spool_done(&sp);
}

static int
mode_deliver(struct run *r)
{
	struct envelope env;
	struct submission sub;
	struct run_outcome o;
	char err[1024];
	int code;

	memset(&o, 0, sizeof(o));
	o.env = &env;
	envelope_init(&env);
	find_login(r);

	/* A bad -f is refused before the caller's input is consumed. */
	if (envelope_set_sender(&env, r->opts.sender, &r->cfg,
	    names_domain(&r->names),
	    r->login, err, sizeof(err)) != 0) {
		envelope_free(&env);
		return stopped(usage_error(err));
	}
	memset(&sub, 0, sizeof(sub));
	sub.infd = STDIN_FILENO;
	sub.ignore_dots = r->opts.ignore_dots;
	sub.collect = 1;
	sub.mailx = r->mailx;
	submit(r, &env, &sub, &o);
	code = exit_status(&o);
	envelope_free(&env);
	return code;
}

/* smtpd_deliver_fn: one message of a -bs session, as -bm delivers. */
static void
smtp_message(void *ctx, struct envelope *env, int fd, struct smtpd_verdict *v)
{
	struct run *r = ctx;
	struct submission sub;

	memset(&sub, 0, sizeof(sub));
	sub.infd = fd;
	sub.ignore_dots = 1;	/* SMTP ended the data already */
	sub.answered = 1;
	submit(r, env, &sub, &v->o);
	v->refusal = sub.refusal;
	strlcpy(v->why, sub.why, sizeof(v->why));
	strlcpy(v->qid, r->qid, sizeof(v->qid));
}

/* -bs: an SMTP session on stdin/stdout (SPEC §2). */
static int
mode_smtp(struct run *r)
{
	struct smtpd_params p;
	struct aliases al;
	enum run_stop stop;

	if (r->opts.nrcpts > 0) {
		smtpd_unavailable(STDOUT_FILENO, "Error: mxsend -bs takes no "
		    "recipient arguments");
		return stopped(usage_error("-bs takes no recipient arguments: "
		    "the client names them with RCPT TO"));
	}
	find_login(r);
	if (load_aliases(r, &al) != 0) {
		smtpd_unavailable(STDOUT_FILENO, "Error: the aliases file "
		    "cannot be used");
		aliases_free(&al);
		return stopped(STOP_CONFIG);
	}
	memset(&p, 0, sizeof(p));
	p.cfg = &r->cfg;
	p.opts = &r->opts;
	p.al = &al;
	p.names = &r->names;
	p.infd = STDIN_FILENO;
	p.outfd = STDOUT_FILENO;
	p.deliver = smtp_message;
	p.ctx = r;
	stop = smtpd_run(&p);
	aliases_free(&al);
	return stopped(stop);
}

/* `log syslog` without syslog's socket: -v and --config-check say so. */
static void
syslog_warning(const struct run *r)
{
	char warn[256];

	if (r->cfg.log == LOGT_SYSLOG && log_syslog_check(warn,
	    sizeof(warn)) != 0)
		say("warning: %s", warn);
}

/* --config-check: the settings, and the DKIM record when a key is set. */
static enum run_stop
mode_config_check(const struct run *r)
{
	char	 err[1024];

	config_print(&r->cfg, stdout);
	syslog_warning(r);
	if (dkim_print(&r->cfg, stdout, err, sizeof(err)) != 0) {
		say("%s", err);
		return STOP_CONFIG;
	}
	return STOP_DONE;
}

/* --dkim-genkey: a DKIM key and the DNS record to publish (SPEC §4). */
static enum run_stop
mode_genkey(const struct options *o)
{
	char	 err[1024];
	int	 rc;

	rc = dkim_genkey(o->rcpts[0], o->rcpts[1], o->nrcpts > 2 ?
	    o->rcpts[2] : NULL, stdout, err, sizeof(err));
	if (rc == -1)
		return usage_error(err);
	if (rc != 0) {
		say("%s", err);
		return STOP_CANTCREAT;
	}
	return STOP_DONE;
}

/*
 * Before anything is opened (SPEC §7): descriptors 0-2 exist, so that no
 * file we open becomes a caller's closed stderr and receives our
 * warnings; a closed pipe is an error to ignore, never a fatal signal.
 */
static void
sane_start(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			_exit(stopped(STOP_OSERR));
	(void)signal(SIGPIPE, SIG_IGN);
}


/* The log and the transcript, once: root's -q children inherit them. */
static void
open_logs(struct run *r)
{
	char warn[1024];

	r->log = log_open(&r->cfg, warn, sizeof(warn));
	if (warn[0] != '\0')
		say("warning: %s", warn);
	log_echo(r->log, r->opts.verbose > 0);
	if (r->opts.verbose)
		syslog_warning(r);
	r->transcript = transcript_open(r->cfg.transcript, r->opts.verbose > 0,
	    warn, sizeof(warn));
	if (warn[0] != '\0')
		say("warning: %s", warn);
}

/* -oeq: nothing on stderr (sendmail's "quiet"); the exit status speaks. */
static void
go_quiet(const struct run *r)
{
	int fd;

	if (r->opts.errmode != ERRMODE_QUIET || r->opts.verbose)
		return;
	if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		return;
	(void)dup2(fd, STDERR_FILENO);
	close(fd);
}

/*
 * -bs: Symfony's ProcessStream gives stderr a pipe that it never reads,
 * so a session's stderr lines would fill it and stop the session for
 * good. stderr gets a file description of its own (the pipe opened
 * again), non-blocking: a line that does not fit is dropped (the log
 * has it), and the caller's description of the pipe is left as it was.
 */
static void
stderr_never_blocks(const struct run *r)
{
	struct stat st;
	int fd;

	if (r->opts.mode != MODE_SMTP || fstat(STDERR_FILENO, &st) != 0 ||
	    !S_ISFIFO(st.st_mode))
		return;
	if ((fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return;
	(void)dup2(fd, STDERR_FILENO);
	close(fd);
}

/*
 * argv as sendmail's command line, or as mailx's when called by that
 * name (SPEC §1, §2.1). 0, or -1 when it is a usage error (said).
 */
static int
parse_command_line(struct run *r, struct mailx *mx, int argc, char *argv[])
{
	char err[1024];

	if (argc > 0 && mailx_name(argv[0])) {
		r->mailx = mx;
		if (mailx_parse(mx, &r->opts, argc, argv, err,
		    sizeof(err)) == 0)
			return 0;
		say("%s", err);		/* one line, mailx's usage in it */
		return -1;
	}
	if (options_parse(&r->opts, argc, argv, err, sizeof(err)) == 0)
		return 0;
	(void)usage_error(err);
	return -1;
}

/*
 * BusyBox's -S, -au, -ap and -w (SPEC §2) over the configuration, for
 * this run. The password's bytes in argv are overwritten once copied,
 * so that ps and /proc show it only until then. 0, or -1 (said).
 */
static int
busybox_options(struct run *r)
{
	const struct options *o = &r->opts;
	unsigned secs;

	if (o->timeout != NULL) {
		if (config_parse_duration(o->timeout, &secs) != 0 ||
		    secs == 0) {
			(void)usage_error("-w: the time-out is too large");
			return -1;
		}
		r->cfg.timeout_connect = secs;
		r->cfg.timeout_command = secs;
		r->cfg.timeout_data = secs;
	}
	if (o->smarthost[0] != '\0')
		config_use_smarthost(&r->cfg, o->smarthost,
		    (uint16_t)o->smarthost_port, o->smarthost_user,
		    o->smarthost_password);
	/* argv's own bytes: options.c only pointed into them. */
	if (o->smarthost_password != NULL)
		memset((char *)o->smarthost_password, 'x',
		    strlen(o->smarthost_password));
	return 0;
}

/* The mode the command line chose, from the configuration on. */
static int
run_mode(struct run *r)
{
	switch (r->opts.mode) {
	case MODE_CONFIG_CHECK:
		return stopped(mode_config_check(r));
	case MODE_NEWALIASES:
		return stopped(mode_newaliases(r));
	case MODE_DELIVER:
		return mode_deliver(r);
	case MODE_VERIFY:
		return mode_verify(r);
	case MODE_PRINTQ:
		return stopped(mode_printq(r));
	case MODE_RUNQ:
		(void)attempt_queue_run(&r->cfg, &r->opts, &r->names, r->log,
		    r->transcript);
		return stopped(STOP_DONE);
	case MODE_SMTP:
		return mode_smtp(r);
	default:
		return stopped(STOP_UNAVAILABLE);
	}
}

/* Configuration, names and logs for r's mode; 0, or its exit status. */
static int
start_run(struct run *r)
{
	char err[1024];

	config_init(&r->cfg);
	if (config_load(&r->cfg, r->opts.config_file, err, sizeof(err)) != 0) {
		say("%s", err);
		if (r->opts.mode == MODE_SMTP)
			smtpd_unavailable(STDOUT_FILENO, "Error: mxsend is "
			    "not configured correctly");
		config_free(&r->cfg);
		return stopped(STOP_CONFIG);
	}
	if (busybox_options(r) != 0) {
		config_free(&r->cfg);
		return stopped(STOP_USAGE);
	}
	names_init(&r->names, &r->cfg, r->opts.verbose, r->cfg.deadline > 0 ?
	    mono_ms() + (int64_t)r->cfg.deadline * 1000 : 0);
	if (r->opts.mode == MODE_DELIVER || r->opts.mode == MODE_SMTP ||
	    r->opts.mode == MODE_RUNQ || r->opts.mode == MODE_PRINTQ) {
		go_quiet(r);
		stderr_never_blocks(r);
		open_logs(r);
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct run r;
	struct mailx mx;
	size_t i;
	int code;

	sane_start();
	memset(&r, 0, sizeof(r));
	memset(&mx, 0, sizeof(mx));
	if (parse_command_line(&r, &mx, argc, argv) != 0) {
		mailx_free(&mx);
		return stopped(STOP_USAGE);
	}
	for (i = 0; i < r.opts.nwarnings; i++)
		say("warning: %s", r.opts.warnings[i]);
	if (r.opts.mode == MODE_HELP || r.opts.mode == MODE_VERSION) {
		if (r.opts.mode == MODE_HELP)
			fputs(options_usage(), stdout);
		else
			printf("mxsend %s\n", PACKAGE_VERSION);
		return stopped(STOP_DONE);
	}
	if (r.opts.mode == MODE_DKIM_GENKEY)
		return stopped(mode_genkey(&r.opts));
	if ((code = start_run(&r)) != 0) {
		mailx_free(&mx);
		return code;
	}
	code = run_mode(&r);
	transcript_close(r.transcript);
	log_close(r.log);
	config_free(&r.cfg);
	mailx_free(&mx);
	/* What a mode wrote on stdout was its product: it must be whole. */
	if (fflush(stdout) != 0 && code == stopped(STOP_DONE))
		code = stopped(STOP_IOERR);
	return code;
}
