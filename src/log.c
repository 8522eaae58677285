/*
 * log.c: mail log lines in Postfix's format, and the SMTP transcript.
 * Secrets never reach this file: smtp.c redacts AUTH lines before it
 * calls the transcript hook (SPEC §10). Server text is shown with its
 * control characters replaced, and the files are opened so that nobody
 * can point them at another file (SPEC §10).
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <paths.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "log.h"
#include "util.h"

#define LINE_MAX_LOG	2048

struct log {
	enum log_target	 target;
	int		 fd;		/* LOGT_FILE */
	int		 echo;		/* -v: the lines on stderr too */
	char		 host[64];
};

/*
 * The syslog names of Postfix's programs whose lines log tools count
 * (SPEC §6): pflogsumm wants "name/service[pid]:".
 */
static const char *const service_ident[] = {
	[LOGS_SENDMAIL] = "mxsend/sendmail",
	[LOGS_PICKUP] = "mxsend/pickup",
	[LOGS_QMGR] = "mxsend/qmgr",
	[LOGS_SMTP] = "mxsend/smtp",
	[LOGS_BOUNCE] = "mxsend/bounce"
};

struct transcript {
	int		 verbose;
	int		 fd;		/* -1: no file */
};

static const char *
file_kind(mode_t m)
{
	if (S_ISLNK(m))
		return "a symbolic link (not followed)";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a regular file";
}

/*
 * Open the log or transcript file for appending (SPEC §10), or -1 with
 * warn "what path: reason". O_NOFOLLOW: a link planted where the file
 * should be must not make us append to its target. O_NONBLOCK: a FIFO
 * with no reader must not hang the submission. Only a regular file is
 * written, and root only writes one of root's own: another user's file
 * is that user's to fill, not ours. The checks act on the descriptor
 * that is written, so nothing can be swapped between them.
 */
static int
open_append(const char *what, const char *path, char *warn, size_t warnlen)
{
	struct stat	 st;
	int		 fd, saved;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd == -1) {
		saved = errno;
		/*
		 * ELOOP, ENXIO (a FIFO without a reader, a socket), EISDIR:
		 * say what is there; the name is only looked at for that.
		 */
		if ((saved == ELOOP || saved == ENXIO || saved == EISDIR) &&
		    lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
			snprintf(warn, warnlen, "%s %s: is %s", what, path,
			    file_kind(st.st_mode));
		else
			snprintf(warn, warnlen, "%s %s: %s", what, path,
			    strerror(saved));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(warn, warnlen, "%s %s: %s", what, path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(warn, warnlen, "%s %s: is %s", what, path,
		    file_kind(st.st_mode));
		close(fd);
		return -1;
	}
	if (geteuid() == 0 && st.st_uid != 0) {
		snprintf(warn, warnlen, "%s %s: owned by uid %lu, not root",
		    what, path, (unsigned long)st.st_uid);
		close(fd);
		return -1;
	}
	/* O_NONBLOCK was for the open; a line is written whole. */
	if (fcntl(fd, F_SETFL, O_APPEND) == -1) {
		snprintf(warn, warnlen, "%s %s: %s", what, path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct log *
log_open(const struct config *cfg, char *warn, size_t warnlen)
{
	struct log	*l = xcalloc(1, sizeof(*l));
	char		*dot;

	warn[0] = '\0';
	l->target = cfg->log;
	l->fd = -1;
	if (gethostname(l->host, sizeof(l->host)) != 0)
		strlcpy(l->host, "localhost", sizeof(l->host));
	l->host[sizeof(l->host) - 1] = '\0';
	if ((dot = strchr(l->host, '.')) != NULL)
		*dot = '\0';	/* syslog shows the short name */
	switch (l->target) {
	case LOGT_SYSLOG:
		openlog("mxsend", LOG_PID | LOG_NDELAY, LOG_MAIL);
		break;
	case LOGT_FILE:
		l->fd = open_append("log", cfg->log_file, warn, warnlen);
		if (l->fd == -1) {
			strlcat(warn, "; logging to stderr", warnlen);
			l->target = LOGT_STDERR;
		}
		break;
	case LOGT_STDERR:
	case LOGT_NONE:
		break;
	}
	return l;
}

void
log_echo(struct log *l, int on)
{
	l->echo = on;
}

int
log_syslog_check(char *warn, size_t warnlen)
{
	struct stat	 st;
	const char	*what;

	if (stat(_PATH_LOG, &st) != 0)
		what = strerror(errno);
	else if (!S_ISSOCK(st.st_mode))
		what = "not a socket";
	else
		return 0;
	/* syslog(3) drops the lines without a word: we say it once. */
	snprintf(warn, warnlen, "log syslog: %s: %s: the log lines are lost "
	    "(set log to a file, stderr or none)", _PATH_LOG, what);
	return -1;
}

void
log_close(struct log *l)
{
	if (l == NULL)
		return;
	if (l->target == LOGT_SYSLOG)
		closelog();
	if (l->fd != -1)
		close(l->fd);
	free(l);
}

/*
 * One line to fd, "ident[pid]: text"; stamped (the log file), after the
 * time stamp and host name as syslog writes them.
 */
static void
emit_fd(struct log *l, int fd, int stamped, const char *ident,
    const char *text)
{
	char		 line[LINE_MAX_LOG + 128], stamp[32];
	struct tm	 tm;
	time_t		 now;
	int		 n;

	if (stamped) {
		now = time(NULL);
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s %s %s[%ld]: %s\n",
		    stamp, l->host, ident, (long)getpid(), text);
	} else
		n = snprintf(line, sizeof(line), "%s[%ld]: %s\n", ident,
		    (long)getpid(), text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line: parallel workers never interleave. */
	(void)write_all(fd, line, (size_t)n);
}

static void
emit(struct log *l, enum log_service svc, int echo, const char *text)
{
	const char	*ident = service_ident[svc];

	switch (l->target) {
	case LOGT_NONE:
		break;
	case LOGT_SYSLOG:
		/* openlog() again: the ident names the service. */
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
		syslog(LOG_INFO, "%s", text);
		break;
	case LOGT_STDERR:
		emit_fd(l, STDERR_FILENO, 0, ident, text);
		return;		/* on stderr already */
	case LOGT_FILE:
		emit_fd(l, l->fd, 1, ident, text);
		break;
	}
	if (echo && l->echo)
		emit_fd(l, STDERR_FILENO, 0, ident, text);
}

static void __attribute__((format(printf, 4, 0)))
vlog_line(struct log *l, enum log_service svc, int echo, const char *fmt,
    va_list ap)
{
	char	 text[LINE_MAX_LOG];

	vsnprintf(text, sizeof(text), fmt, ap);
	/*
	 * Reasons carry server text; reply.c cleaned it, and this keeps
	 * every other way into the log as safe (SPEC §10).
	 */
	(void)text_printable(text, strlen(text));
	emit(l, svc, echo, text);
}

void
log_printf(struct log *l, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_line(l, LOGS_SENDMAIL, 0, fmt, ap);
	va_end(ap);
}

void
log_service(struct log *l, enum log_service svc, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_line(l, svc, 0, fmt, ap);
	va_end(ap);
}

/* A line of the message's story: in the log, and under -v on stderr. */
static void __attribute__((format(printf, 3, 4)))
story(struct log *l, enum log_service svc, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_line(l, svc, 1, fmt, ap);
	va_end(ap);
}

void
log_pickup(struct log *l, const char *qid, unsigned long uid,
    const char *sender)
{
	story(l, LOGS_PICKUP, "%s: uid=%lu from=<%s>", qid, uid, sender);
}

void
log_message(struct log *l, const char *qid, const char *sender,
    long long size, size_t nrcpt)
{
	story(l, LOGS_QMGR, "%s: from=<%s>, size=%lld, nrcpt=%zu "
	    "(queue active)", qid, sender, size, nrcpt);
}

void
log_bounce(struct log *l, const char *qid, const char *bounce_qid)
{
	story(l, LOGS_BOUNCE, "%s: sender non-delivery notification: %s",
	    qid, bounce_qid);
}

void
log_removed(struct log *l, const char *qid)
{
	story(l, LOGS_QMGR, "%s: removed", qid);
}

/* Postfix's style: "0", "0.21", "1.5", "12". */
static void
fmt_delay(double v, char *out, size_t outlen)
{
	size_t	 n;

	if (v < 0.005) {
		strlcpy(out, "0", outlen);
		return;
	}
	if (v >= 10) {
		snprintf(out, outlen, "%.0f", v);
		return;
	}
	snprintf(out, outlen, "%.2f", v);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
}

void
log_rcpt(struct log *l, const char *qid, const struct rcpt *r)
{
	const char	*status;
	char		 d[5][24];
	size_t		 k;

	switch (r->state) {
	case RCPT_DELIVERED:
		status = "sent";
		break;
	case RCPT_FAILED:
		status = "bounced";
		break;
	default:
		status = "deferred";
		break;
	}
	fmt_delay(r->delay, d[0], sizeof(d[0]));
	for (k = 0; k < 4; k++)
		fmt_delay(r->delays[k], d[k + 1], sizeof(d[k + 1]));
	/*
	 * The TLS state after the reason, where log tools that read
	 * Postfix's line (pflogsumm: "status=(\S+)(.*)$") still find
	 * every field they know.
	 */
	story(l, LOGS_SMTP, "%s: to=<%s>, relay=%s, delay=%s, "
	    "delays=%s/%s/%s/%s, dsn=%s, status=%s (%s)%s%s", qid, r->addr,
	    r->relay != NULL ? r->relay : "none", d[0], d[1], d[2], d[3], d[4],
	    r->dsn[0] != '\0' ? r->dsn : "4.0.0", status,
	    r->reason != NULL ? r->reason : "",
	    r->tls != NULL && r->tls[0] != '\0' ? ", tls=" : "",
	    r->tls != NULL ? r->tls : "");
}

struct transcript *
transcript_open(const char *path, int verbose, char *warn, size_t warnlen)
{
	struct transcript *t;
	int		 fd = -1;

	warn[0] = '\0';
	if (path != NULL)
		fd = open_append("transcript", path, warn, warnlen);
	if (fd == -1 && !verbose)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->verbose = verbose;
	t->fd = fd;
	return t;
}

void
transcript_close(struct transcript *t)
{
	if (t == NULL)
		return;
	if (t->fd != -1)
		close(t->fd);
	free(t);
}

/* '>' sent, '<' received, '!' a note of ours about the session. */
static const char *
arrow(int dir)
{
	return dir == '>' ? "-->" : dir == '<' ? "<--" : "***";
}

void
transcript_line(void *ctx, int dir, const char *text, size_t len)
{
	struct transcript_session *ts = ctx;
	char		 line[1200], stamp[40], shown[901];
	struct timespec	 now;
	struct tm	 tm;
	int		 n;

	if (ts == NULL || ts->t == NULL)
		return;
	if (len > sizeof(shown) - 1)	/* a transcript line, not a dump */
		len = sizeof(shown) - 1;
	/*
	 * The raw line, before reply.c: a hostile server's escape sequences
	 * must not reach the terminal of -v or whoever reads the file
	 * (SPEC §6, §10). Our own lines pass too; they are clean already.
	 */
	memcpy(shown, text, len);
	len = text_printable(shown, len);
	text = shown;
	if (ts->t->verbose) {
		n = snprintf(line, sizeof(line), "mxsend: %s %s %.*s\n",
		    ts->label, arrow(dir), (int)len, text);
		if (n > 0)
			(void)write_all(STDERR_FILENO, line,
			    (size_t)n < sizeof(line) ? (size_t)n :
			    sizeof(line) - 1);
	}
	if (ts->t->fd != -1) {
		clock_gettime(CLOCK_REALTIME, &now);
		localtime_r(&now.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s.%03ld [%ld] %s %s %.*s\n",
		    stamp, now.tv_nsec / 1000000, (long)getpid(), ts->label,
		    arrow(dir), (int)len, text);
		if (n > 0)
			(void)write_all(ts->t->fd, line,
			    (size_t)n < sizeof(line) ? (size_t)n :
			    sizeof(line) - 1);
	}
}
