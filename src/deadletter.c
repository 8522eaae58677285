/*
 * deadletter.c: append a message to dead.letter in mbox format (the
 * "mboxrd" flavour: every line matching ^>*From  gets one more '>'), as
 * sendmail and mail(1) have done since 4.2BSD. Used when mail can be
 * neither delivered nor queued (SPEC §7) and for refused messages, so that
 * nothing the caller handed over is lost.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deadletter.h"
#include "util.h"

struct mbox_writer {
	int	 fd;
	int	 bol;		/* at the beginning of a line */
	int	 pending_cr;	/* a CR waiting to see whether LF follows */
	size_t	 gt;		/* '>' seen at the start of this line */
	int	 quoting;	/* still matching ^>*From  */
	char	 lead[8];	/* "From " prefix matched so far */
	size_t	 nlead;
	struct buf out;
};

static int
mbox_flush(struct mbox_writer *mw)
{
	if (mw->out.len > 0 && write_all(mw->fd, mw->out.data, mw->out.len))
		return -1;
	buf_reset(&mw->out);
	return 0;
}

/* Emit what was held back while matching ^>*From  at the line start. */
static void
mbox_release(struct mbox_writer *mw, int quote)
{
	size_t i;

	if (quote)
		buf_addc(&mw->out, '>');
	for (i = 0; i < mw->gt; i++)
		buf_addc(&mw->out, '>');
	buf_add(&mw->out, mw->lead, mw->nlead);
	mw->gt = 0;
	mw->nlead = 0;
	mw->quoting = 0;
}

static int
mbox_write(void *ctx, const char *p, size_t n)
{
	static const char from[] = "From ";
	struct mbox_writer *mw = ctx;
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		if (mw->pending_cr) {
			mw->pending_cr = 0;
			if (c == '\n')
				continue;	/* CRLF -> LF: written */
		}
		if (mw->bol) {
			mw->bol = 0;
			mw->quoting = 1;
			mw->gt = 0;
			mw->nlead = 0;
		}
		if (mw->quoting) {
			if (c == '>' && mw->nlead == 0) {
				mw->gt++;
				continue;
			}
			if (c == from[mw->nlead]) {
				mw->lead[mw->nlead++] = c;
				if (mw->nlead == sizeof(from) - 1)
					mbox_release(mw, 1);
				continue;
			}
			mbox_release(mw, 0);
		}
		if (c == '\r') {
			mw->pending_cr = 1;
			c = '\n';
		}
		buf_addc(&mw->out, c);
		if (c == '\n')
			mw->bol = 1;
	}
	if (mw->out.len >= 65536)
		return mbox_flush(mw);
	return 0;
}

int
deadletter_append(const char *path, const struct message *msg,
    const char *sender, time_t now, char *err, size_t errlen)
{
	struct mbox_writer mw;
	struct stat st;
	struct tm tm;
	char date[64];
	int fd, rc = -1;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX) != 0) {
		snprintf(err, errlen, "cannot lock %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	/*
	 * The size under the lock is where our entry starts: a failure
	 * half-way (ENOSPC, EDQUOT, EFBIG) cuts the file back to it, so
	 * that no reader ever finds a message cut off in the middle.
	 */
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	memset(&mw, 0, sizeof(mw));
	mw.fd = fd;
	mw.bol = 1;
	buf_init(&mw.out);
	/* asctime(3) form, as mbox "From " lines have always used. */
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		strlcpy(date, "Thu Jan  1 00:00:00 1970", sizeof(date));
	buf_printf(&mw.out, "From %s %s\n",
	    sender[0] != '\0' ? sender : "MAILER-DAEMON", date);
	if (msg_stream(msg, 0, mbox_write, &mw) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (mw.quoting)
		mbox_release(&mw, 0);
	if (!mw.bol)
		buf_addc(&mw.out, '\n');
	buf_addc(&mw.out, '\n');
	if (mbox_flush(&mw) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	buf_free(&mw.out);
	if (rc != 0 && ftruncate(fd, st.st_size) != 0) {
		size_t n = strlen(err);

		snprintf(err + n, errlen - n, "; cannot restore its size: %s",
		    strerror(errno));
	}
	/* The lock goes with the descriptor, after the file is whole. */
	if (close(fd) != 0 && rc == 0) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		rc = -1;
	}
	return rc;
}

int
deadletter_path(char *out, size_t outlen)
{
	char home[PATH_MAX];

	if (home_dir(getuid(), home, sizeof(home)) != 0)
		return -1;
	if ((size_t)snprintf(out, outlen, "%s/dead.letter", home) >= outlen)
		return -1;
	return 0;
}
