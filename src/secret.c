/*
 * secret.c: the relay's secret from the configuration, a file or a
 * command (secret.h).
 *
 * A file's or a command's first line is the secret: it ends at the first
 * CR or LF (so a trailing LF or CRLF is trimmed) and must be 1 to
 * SECRET_MAX octets without NUL. It is collected in one heap buffer that
 * becomes the secret, so no other copy is made; the stack chunks it
 * passes through are wiped.
 *
 * The command runs through posix_spawn(): no shell, stdin /dev/null,
 * stdout and stderr on pipes, signal dispositions and mask reset (mxsend
 * ignores SIGPIPE, which exec would pass on), in a process group of its
 * own, so that a time-out kills whatever it started. glibc's posix_spawn
 * is safe in a threaded program (the relay runs in a thread) and reports
 * a failed exec as its return value.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"
#include "util.h"

#define ERRLINE_MAX	200	/* octets of the command's stderr quoted */

extern char **environ;

/* The first line of a stream, collected into the secret's buffer. */
struct firstline {
	char	*buf;		/* SECRET_MAX + 1 octets */
	size_t	 len;
	int	 ended;		/* CR or LF seen: the rest is discarded */
	int	 too_long;
	int	 nul;
};

static void
fl_init(struct firstline *f)
{
	memset(f, 0, sizeof(*f));
	f->buf = xmalloc(SECRET_MAX + 1);
}

static void
fl_feed(struct firstline *f, const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && !f->ended && !f->too_long; i++) {
		if (p[i] == '\n' || p[i] == '\r')
			f->ended = 1;
		else if (f->len == SECRET_MAX)
			f->too_long = 1;
		else {
			if (p[i] == '\0')
				f->nul = 1;
			f->buf[f->len++] = p[i];
		}
	}
}

static void
fl_wipe(struct firstline *f)
{
	explicit_bzero(f->buf, SECRET_MAX + 1);
	free(f->buf);
	f->buf = NULL;
}

/* What is wrong with the line, or NULL; on NULL, out owns the buffer. */
static const char *
fl_take(struct firstline *f, struct secret *out)
{
	const char	*why = NULL;

	if (f->too_long)
		why = "a first line longer than 64 KiB";
	else if (f->nul)
		why = "a NUL byte in the first line";
	else if (f->len == 0)
		why = "nothing on the first line";
	if (why != NULL) {
		fl_wipe(f);
		return why;
	}
	f->buf[f->len] = '\0';
	out->data = f->buf;
	out->len = f->len;
	f->buf = NULL;
	return NULL;
}

void
secret_free(struct secret *s)
{
	if (s->data != NULL) {
		explicit_bzero(s->data, s->len);
		free(s->data);
	}
	s->data = NULL;
	s->len = 0;
}

/* "user www-data, uid 33": whose rights opened (or failed to open) it. */
static void
who(char *out, size_t outlen)
{
	struct passwd	 pw, *res = NULL;
	char		 buf[2048];
	uid_t		 uid = geteuid();

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 &&
	    res != NULL)
		snprintf(out, outlen, "user %s, uid %u", res->pw_name,
		    (unsigned)uid);
	else
		snprintf(out, outlen, "uid %u", (unsigned)uid);
}

int
secret_file_open(const char *key, const char *path, char *err, size_t errlen)
{
	struct stat	 st;
	char		 user[300];
	int		 fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd == -1 || fstat(fd, &st) != 0) {
		saved = errno;		/* who() may change it */
		who(user, sizeof(user));
		snprintf(err, errlen, "%s %s: %s (read as %s)", key, path,
		    strerror(saved), user);
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s is not a regular file", key,
		    path);
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		snprintf(err, errlen, "%s %s is readable or writable by "
		    "others (chmod o-rwx it; its group may read it)", key,
		    path);
		close(fd);
		return -1;
	}
	return fd;
}

int
secret_file_check(const char *path, char *err, size_t errlen)
{
	int	 fd;

	if ((fd = secret_file_open("relay_password_file", path, err,
	    errlen)) == -1)
		return -1;
	close(fd);
	return 0;
}

static int
read_file(const char *path, struct secret *out, char *err, size_t errlen)
{
	struct firstline f;
	char		 chunk[4096];
	const char	*why;
	ssize_t		 n = 0;
	size_t		 used = 0;
	int		 fd;

	if ((fd = secret_file_open("relay_password_file", path, err,
	    errlen)) == -1)
		return -1;
	fl_init(&f);
	while (!f.ended && !f.too_long &&
	    ((n = read(fd, chunk, sizeof(chunk))) != 0)) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "relay_password_file %s: %s",
			    path, strerror(errno));
			break;
		}
		if ((size_t)n > used)
			used = (size_t)n;
		fl_feed(&f, chunk, (size_t)n);
	}
	explicit_bzero(chunk, used);
	close(fd);
	if (n == -1) {
		fl_wipe(&f);
		return -1;
	}
	if ((why = fl_take(&f, out)) != NULL) {
		snprintf(err, errlen, "relay_password_file %s holds %s", path,
		    why);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ command */

int
secret_command_check(const char *command)
{
	return command[0] == '/' ? 0 : -1;
}

/* The words of command, split on blanks (argv for execve; free both). */
static char **
split_words(const char *command, char **copy)
{
	char	**argv, *p;
	size_t	 n = 0;

	*copy = p = xstrdup(command);
	argv = xreallocarray(NULL, strlen(command) / 2 + 2, sizeof(*argv));
	for (;;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (*p == '\0')
			break;
		argv[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
	}
	argv[n] = NULL;
	return argv;
}

/* Start argv with stdout and stderr on the pipes; -1 with errno. */
static pid_t
spawn(char *const argv[], int outfd, int errfd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t	 all, none;
	pid_t		 pid;
	int		 rc;

	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	sigemptyset(&none);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
	    0);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, outfd, 1);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, errfd, 2);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&at, &all);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&at, &none);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(&at, 0);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF |
		    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
	if (rc == 0)
		rc = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
}

/* What a run of the command produced. */
struct cmdrun {
	struct firstline out;		/* stdout's first line */
	char		 errline[ERRLINE_MAX + 1];	/* stderr's */
	size_t		 errlen;
	int		 errended;
	int		 timed_out;
};

static void
errline_feed(struct cmdrun *r, const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && !r->errended; i++) {
		if (p[i] == '\n' || p[i] == '\r')
			r->errended = r->errlen > 0;
		else if (r->errlen < ERRLINE_MAX)
			r->errline[r->errlen++] = p[i];
	}
}

/* Read one chunk of fds[k]: 0 at its end (then closed), else 1. */
static int
drain(struct cmdrun *r, int *fd, int is_out)
{
	char	 chunk[4096];
	ssize_t	 n;

	n = read(*fd, chunk, sizeof(chunk));
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return 0;
	}
	if (is_out)
		fl_feed(&r->out, chunk, (size_t)n);
	else
		errline_feed(r, chunk, (size_t)n);
	explicit_bzero(chunk, (size_t)n);
	return 1;
}

/* Read stdout (fds[0]) and stderr (fds[1]) to their ends, or until end. */
static void
collect(struct cmdrun *r, int fds[2], int64_t end)
{
	struct pollfd	 pfd[2];
	int64_t		 left;
	int		 k, n;

	while (fds[0] != -1 || fds[1] != -1) {
		if ((left = end - mono_ms()) <= 0) {
			r->timed_out = 1;
			return;
		}
		for (k = 0; k < 2; k++) {
			pfd[k].fd = fds[k];
			pfd[k].events = POLLIN;
			pfd[k].revents = 0;
		}
		n = poll(pfd, 2, left > 1000 ? 1000 : (int)left);
		if (n == -1 && errno != EINTR)
			return;
		for (k = 0; k < 2 && n > 0; k++)
			if (pfd[k].revents != 0)
				(void)drain(r, &fds[k], k == 0);
	}
}

/* Reap pid by end, else kill its group; its wait status. */
static int
reap(pid_t pid, int64_t end, struct cmdrun *r)
{
	int	 status = 0;
	pid_t	 got;

	while (!r->timed_out) {
		got = waitpid(pid, &status, WNOHANG);
		if (got == pid)
			return status;
		if (got == -1 && errno != EINTR)
			return -1;
		if (mono_ms() >= end)
			r->timed_out = 1;
		else
			(void)poll(NULL, 0, 5);
	}
	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return status;
}

/* "exited with status 1" and the like, for a run that did not succeed. */
static int
run_failed(const struct cmdrun *r, int status, int64_t limit_ms,
    int by_deadline, char *why, size_t whylen)
{
	if (r->timed_out && by_deadline)
		snprintf(why, whylen, "did not finish before the delivery "
		    "deadline (killed)");
	else if (r->timed_out)
		snprintf(why, whylen, "did not finish within %lld s (killed)",
		    (long long)(limit_ms / 1000));
	else if (status == -1)
		snprintf(why, whylen, "could not be waited for");
	else if (WIFSIGNALED(status))
		snprintf(why, whylen, "was killed by signal %d",
		    WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		snprintf(why, whylen, "exited with status %d",
		    WEXITSTATUS(status));
	else
		return 0;
	return 1;
}

/* Run it and collect its output; 0, or -1 with why (spawn errors). */
static int
run(char *const argv[], int64_t deadline_ms, struct cmdrun *r, int *status,
    char *why, size_t whylen)
{
	int64_t	 limit = SECRET_COMMAND_SECONDS * 1000LL;
	int64_t	 end = mono_ms() + limit;
	int	 out[2], errp[2], fds[2], by_deadline = deadline_ms < end;
	pid_t	 pid;

	if (by_deadline)
		end = deadline_ms;
	if (pipe2(out, O_CLOEXEC) == -1) {
		snprintf(why, whylen, "cannot run it: %s", strerror(errno));
		return -1;
	}
	if (pipe2(errp, O_CLOEXEC) == -1) {
		snprintf(why, whylen, "cannot run it: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		return -1;
	}
	pid = spawn(argv, out[1], errp[1]);
	if (pid == -1)
		snprintf(why, whylen, "cannot run it: %s", strerror(errno));
	close(out[1]);
	close(errp[1]);
	fds[0] = out[0];
	fds[1] = errp[0];
	if (pid != -1) {
		collect(r, fds, end);
		*status = reap(pid, end, r);
		if (run_failed(r, *status, limit, by_deadline, why, whylen))
			pid = -1;
	}
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
	return pid == -1 ? -1 : 0;
}

static int
run_command(const char *command, int64_t deadline_ms, struct secret *out,
    char *err, size_t errlen)
{
	struct cmdrun	 r;
	char		**argv, *copy, why[128];
	const char	*bad = NULL;
	int		 status = 0, rc;

	memset(&r, 0, sizeof(r));
	fl_init(&r.out);
	argv = split_words(command, &copy);
	rc = argv[0] != NULL ? run(argv, deadline_ms, &r, &status, why,
	    sizeof(why)) : -1;
	if (argv[0] == NULL)
		strlcpy(why, "is empty", sizeof(why));
	if (rc == 0 && (bad = fl_take(&r.out, out)) != NULL) {
		snprintf(why, sizeof(why), "printed %s", bad);
		rc = -1;
	}
	if (rc != 0) {
		if (bad == NULL)
			fl_wipe(&r.out);
		r.errlen = text_printable(r.errline, r.errlen);
		r.errline[r.errlen] = '\0';
		snprintf(err, errlen, "relay_password_command %s %s%s%s",
		    argv[0] != NULL ? argv[0] : "", why,
		    r.errlen > 0 ? ": " : "", r.errline);
	}
	free(argv);
	free(copy);
	return rc;
}

int
secret_fetch(const struct secret_source *src, int64_t deadline_ms,
    struct secret *out, char *err, size_t errlen)
{
	out->data = NULL;
	out->len = 0;
	if (src->file != NULL)
		return read_file(src->file, out, err, errlen);
	if (src->command != NULL)
		return run_command(src->command, deadline_ms, out, err,
		    errlen);
	out->data = xstrdup(src->value != NULL ? src->value : "");
	out->len = strlen(out->data);
	return 0;
}
