/*
 * queue.c: queue entries on disk (SPEC §7; the format and the crash
 * states are doc/queue.md), and the trust boundary of queue.h.
 *
 * Durability follows SPEC §7: creating an entry costs no fsync, because a
 * message delivered at once is never reported as queued; queue_commit()
 * with durable set flushes the envelope, the message and the directory
 * before the caller hears "queued". Every envelope write is atomic (a
 * temporary name created O_EXCL, then rename), so a kill -9 leaves
 * either the old or the new state, never half of one.
 *
 * Every file in a user directory is the user's: it is reached only
 * through the directory's descriptor, opened without following links and
 * without blocking, and used only when it is what we would have made (a
 * regular file, one link, the directory owner's). Postfix's queue manager
 * and OpenSMTPD's queue keep the same rule: user input crosses into
 * privileged code only through a narrow, checked interface.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/prctl.h>
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

#include "compat.h"
#include "intake.h"
#include "queue.h"
#include "util.h"

/*
 * An ID.env larger than this cannot be one we wrote: a recipient line is
 * at most a few kilobytes, and intake keeps at most 16 MiB of addresses.
 */
#define ENV_MAX		((size_t)1 << 30)
#define ORPHAN_AGE	3600	/* an unheld ID.spool or ID.env.tmp */

void
qmeta_init(struct qmeta *m)
{
	memset(m, 0, sizeof(*m));
	m->ret = RET_UNSET;
}

void
qmeta_free(struct qmeta *m)
{
	free(m->envid);
	free(m->prepend);
	free(m->append);
	free(m->q);
	memset(m, 0, sizeof(*m));
}

time_t
queue_backoff(unsigned attempts)
{
	time_t	 t = QUEUE_BACKOFF_FIRST;

	while (attempts > 1 && t < QUEUE_BACKOFF_MAX) {
		t *= 2;
		attempts--;
	}
	return t < QUEUE_BACKOFF_MAX ? t : QUEUE_BACKOFF_MAX;
}

/* One line to a queue_report_fn (none: silent). */
static void
note(queue_report_fn fn, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note(queue_report_fn fn, void *ctx, const char *fmt, ...)
{
	char	 line[1024];
	va_list	 ap;

	if (fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(ctx, line);
}

/* ------------------------------------------------------- directories */

/*
 * Group or others may write: only with the sticky bit, or they could
 * rename another user's directory away (SPEC §7).
 */
static int
root_ok(int fd, const char *path, uid_t uid, char *err, size_t errlen)
{
	struct stat	 st;

	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != uid) {
		snprintf(err, errlen, "%s belongs to uid %lu, neither root "
		    "nor uid %lu", path, (unsigned long)st.st_uid,
		    (unsigned long)uid);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    (st.st_mode & S_ISVTX) == 0) {
		snprintf(err, errlen, "%s is writable by other users without "
		    "the sticky bit (mode %04o)", path,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int
queue_root_open(const char *path, uid_t uid, char *err, size_t errlen)
{
	int	 fd;

	/*
	 * The administrator's path: a symbolic link there is theirs. Mode
	 * 1733 lets users search it, not read it: O_PATH serves the *at()
	 * calls then.
	 */
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && errno == EACCES)
		fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (root_ok(fd, path, uid, err, errlen) != 0) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

int
queue_dir_open(struct qdir *d, int rootfd, const char *rootpath, uid_t uid,
    int create, char *err, size_t errlen)
{
	struct stat	 st;
	char		 name[32];
	int		 fd, made = 0;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	snprintf(name, sizeof(name), "%lu", (unsigned long)uid);
	if ((size_t)snprintf(d->path, sizeof(d->path), "%s/%s", rootpath,
	    name) >= sizeof(d->path)) {
		snprintf(err, errlen, "%s: path too long", rootpath);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (create) {
		if (mkdirat(rootfd, name, 0700) == 0)
			made = 1;
		else if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", d->path,
			    strerror(errno));
			return -1;
		}
	}
	fd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1) {
		int e = errno;

		if (e == ELOOP || e == ENOTDIR)
			snprintf(err, errlen, "%s is not a directory (a "
			    "symbolic link or a file)", d->path);
		else
			snprintf(err, errlen, "%s: %s", d->path, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) != 0 || st.st_uid != uid) {
		snprintf(err, errlen, "%s belongs to uid %lu, not %lu", d->path,
		    (unsigned long)st.st_uid, (unsigned long)uid);
		close(fd);
		errno = EPERM;
		return -1;
	}
	if ((st.st_mode & 077) != 0 && geteuid() == uid &&
	    fchmod(fd, 0700) != 0) {
		snprintf(err, errlen, "%s is accessible to other users: %s",
		    d->path, strerror(errno));
		close(fd);
		return -1;
	}
	if (create && faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
		snprintf(err, errlen, "%s: %s", d->path, strerror(errno));
		close(fd);
		return -1;
	}
	/*
	 * The new name must survive a power loss. A root opened O_PATH
	 * cannot be flushed; flushing the new directory commits the
	 * journal that holds its name on ext4 and XFS.
	 */
	if (made && fsync(rootfd) != 0)
		(void)fsync(fd);
	d->fd = fd;
	d->owner = uid;
	return 0;
}

void
queue_dir_close(struct qdir *d)
{
	if (d->fd != -1)
		close(d->fd);
	d->fd = -1;
}

/* mkdir, flushing the parent when it made the directory. */
static int
mkdir_flushed(const char *path, const char *parent)
{
	int	 fd;

	if (mkdir(path, 0700) != 0)
		return errno == EEXIST ? 0 : -1;
	if ((fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	return 0;
}

/* Open $HOME/.mxsend/queue of uid (create: made 0700 when missing). */
static int
home_root_open(uid_t uid, int create, char *path, size_t pathlen,
    char *err, size_t errlen)
{
	char	 home[PATH_MAX], dot[PATH_MAX + 16];

	if (home_dir(uid, home, sizeof(home)) != 0) {
		snprintf(err, errlen, "uid %lu has no home directory in the "
		    "password database", (unsigned long)uid);
		errno = ENOENT;
		return -1;
	}
	snprintf(dot, sizeof(dot), "%s/.mxsend", home);
	if ((size_t)snprintf(path, pathlen, "%s/.mxsend/queue", home) >=
	    pathlen) {
		snprintf(err, errlen, "%s: path too long", home);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (create && (mkdir_flushed(dot, home) != 0 ||
	    mkdir_flushed(path, dot) != 0)) {
		snprintf(err, errlen, "cannot create %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return queue_root_open(path, uid, err, errlen);
}

int
queue_pick(const struct config *cfg, uid_t uid, int skip_primary,
    struct qdir *d, char *warn, size_t warnlen, char *err, size_t errlen)
{
	char	 why[PATH_MAX + 256], root[PATH_MAX];
	int	 rfd, r;

	warn[0] = '\0';
	if (skip_primary)
		snprintf(why, sizeof(why), "%s", err);
	else if ((rfd = queue_root_open(cfg->queue_dir, uid, why,
	    sizeof(why))) != -1) {
		r = queue_dir_open(d, rfd, cfg->queue_dir, uid, 1, why,
		    sizeof(why));
		close(rfd);
		if (r == 0)
			return 0;
	}
	if ((rfd = home_root_open(uid, 1, root, sizeof(root), err,
	    errlen)) == -1) {
		char	 second[512];

		snprintf(second, sizeof(second), "%s", err);
		snprintf(err, errlen, "queue %s unusable (%s), and %s",
		    cfg->queue_dir, why, second);
		return -1;
	}
	r = queue_dir_open(d, rfd, root, uid, 1, err, errlen);
	close(rfd);
	if (r != 0)
		return -1;
	snprintf(warn, warnlen, "queue %s unusable (%s); using %s",
	    cfg->queue_dir, why, root);
	return 0;
}

/* ------------------------------------------------------------ format */

static void
put_field(struct buf *b, const char *s)
{
	char	*x;

	buf_addc(b, ' ');
	if (s == NULL || s[0] == '\0') {
		buf_addc(b, '-');
		return;
	}
	x = xtext_encode(s);
	buf_adds(b, x);
	free(x);
}

static const char *
state_name(enum rcpt_state s)
{
	switch (s) {
	case RCPT_DELIVERED:	return "delivered";
	case RCPT_FAILED:	return "failed";
	case RCPT_DEFERRED:	return "deferred";
	default:		return "pending";
	}
}

char *
queue_format_env(const struct envelope *env, const struct qmeta *m,
    size_t *lenp)
{
	struct buf	 b;
	const struct rcpt *r;
	size_t		 i;

	buf_init(&b);
	buf_printf(&b, "mxsend-queue %d\n", QUEUE_FORMAT);
	buf_printf(&b, "id %s\n", m->id);
	buf_printf(&b, "arrival %lld\n", (long long)m->arrival);
	buf_adds(&b, "sender");
	put_field(&b, env->sender[0] == '\0' ? "<>" : env->sender);
	buf_printf(&b, "\nsender-smtputf8 %d\n", env->sender_smtputf8 != 0);
	buf_printf(&b, "eightbit %d\n", m->eightbit != 0);
	buf_printf(&b, "ret %s\n", m->ret == RET_FULL ? "full" :
	    m->ret == RET_HDRS ? "hdrs" : "-");
	buf_adds(&b, "envid");
	put_field(&b, m->envid);
	buf_printf(&b, "\nbounce %d\n", m->bounce != 0);
	buf_printf(&b, "is-bounce %d\n", m->is_bounce != 0);
	buf_adds(&b, "prepend");
	put_field(&b, m->prepend);
	buf_adds(&b, "\nappend");
	put_field(&b, m->append);
	buf_addc(&b, '\n');
	for (i = 0; i < env->nrcpts; i++) {
		r = &env->rcpts[i];
		buf_printf(&b, "rcpt %s %u %lld %d %d %d %d",
		    state_name(r->state),
		    m->q != NULL ? m->q[i].attempts : 0,
		    m->q != NULL ? (long long)m->q[i].next : 0LL, r->notify,
		    r->smtputf8 != 0, (int)r->fail,
		    m->q != NULL && m->q[i].reported);
		put_field(&b, r->dsn);
		put_field(&b, r->addr);
		put_field(&b, r->orig != NULL && strcmp(r->orig, r->addr) != 0 ?
		    r->orig : NULL);
		put_field(&b, r->relay);
		put_field(&b, r->reason);
		buf_addc(&b, '\n');
	}
	buf_adds(&b, "end\n");
	*lenp = b.len;
	return buf_release(&b);
}


/*
 * fields: the value is header text (the edits of message.h), where CR,
 * LF and HT are the folding and line ends; every other field is a C
 * string that may hold no control character at all, so that no CR or
 * LF ever reaches a command line.
 */
static char *
xtext_decode(const char *s, size_t n, int fields)
{
	char		*out = xmalloc(n + 1), *o = out;
	size_t		 i;
	int		 hi, lo;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			if (n - i < 3)
				goto bad;
			hi = hex_value((unsigned char)s[i + 1]);
			lo = hex_value((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi << 4 | lo) == 0 ||
			    (hi << 4 | lo) == 0x7f)
				goto bad;
			if ((hi << 4 | lo) < 0x20 && !(fields &&
			    ((hi << 4 | lo) == '\r' || (hi << 4 | lo) == '\n' ||
			    (hi << 4 | lo) == '\t')))
				goto bad;
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=')
			goto bad;
		else
			*o++ = (char)c;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

char *
queue_xtext_decode(const char *s, size_t n)
{
	return xtext_decode(s, n, 0);
}

/*
 * Header edits as msg_stream() writes them verbatim: whole lines, each
 * ending in CRLF, with no bare CR or LF, no empty line (it would end the
 * header section) and none over 998 octets; a field's first line does
 * not start with white space.
 */
static int
fields_ok(const char *s)
{
	size_t	 col = 0;
	int	 first = 1;

	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '\n')
			return 0;
		if (*s == '\r') {
			if (s[1] != '\n' || col == 0)
				return 0;
			s++;
			col = 0;
			first = 0;
			continue;
		}
		if (col == 0 && first && (*s == ' ' || *s == '\t'))
			return 0;
		if (++col > 998)
			return 0;
	}
	return col == 0;
}

/* ------------------------------------------------------------- parse */

struct cursor {
	const char	*p, *end;
	size_t		 line;
	const char	*l;		/* current line */
	size_t		 llen;
	char		*err;
	size_t		 errlen;
	size_t		 rcap;		/* recipients allocated */
};

static int
next_line(struct cursor *c)
{
	const char	*nl;

	if (c->p >= c->end)
		return -1;
	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	if (nl == NULL)
		return -1;	/* every line ends in LF: truncated */
	c->l = c->p;
	c->llen = (size_t)(nl - c->p);
	c->p = nl + 1;
	c->line++;
	return 0;
}

/* The next space-separated word of the line (*pos advanced). */
static int
word(const struct cursor *c, size_t *pos, const char **w, size_t *wlen)
{
	size_t	 i = *pos, j;

	if (i >= c->llen)
		return -1;
	for (j = i; j < c->llen && c->l[j] != ' '; j++)
		;
	if (j == i)
		return -1;
	*w = c->l + i;
	*wlen = j - i;
	*pos = j < c->llen ? j + 1 : j;
	return 0;
}

static int
bad(struct cursor *c, const char *what)
{
	snprintf(c->err, c->errlen, "line %zu: %s", c->line, what);
	return -1;
}

static int
parse_num(const char *w, size_t n, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long v = 0;
	size_t		 i;

	if (n == 0 || n > 20)
		return -1;
	for (i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(w[i] - '0');
		if (v > max)	/* max < 2^63: no overflow before this */
			return -1;
	}
	*out = v;
	return 0;
}

/* "key VALUE" with exactly one value word; returns the value. */
static int
keyed(struct cursor *c, const char *key, const char **v, size_t *vlen)
{
	size_t	 pos = 0, klen;
	const char *w;

	if (next_line(c) == -1)
		return bad(c, "truncated");
	if (word(c, &pos, &w, &klen) == -1 || klen != strlen(key) ||
	    memcmp(w, key, klen) != 0) {
		char	 what[64];

		snprintf(what, sizeof(what), "expected \"%s\"", key);
		return bad(c, what);
	}
	if (word(c, &pos, v, vlen) == -1 || pos != c->llen)
		return bad(c, "expected one value");
	return 0;
}

static int
keyed_num(struct cursor *c, const char *key, unsigned long long max,
    unsigned long long *out)
{
	const char	*v;
	size_t		 n;

	if (keyed(c, key, &v, &n) == -1)
		return -1;
	if (parse_num(v, n, max, out) == -1)
		return bad(c, "bad number");
	return 0;
}

/* An xtext field, "-" for none (NULL). */
static int
field(struct cursor *c, const char *w, size_t n, char **out)
{
	*out = NULL;
	if (n == 1 && w[0] == '-')
		return 0;
	if ((*out = queue_xtext_decode(w, n)) == NULL)
		return bad(c, "bad xtext");
	return 0;
}

/* Header text or "-" (NULL). */
static int
fields_field(struct cursor *c, const char *key, char **out)
{
	const char	*w;
	size_t		 n;

	if (keyed(c, key, &w, &n) == -1)
		return -1;
	*out = NULL;
	if (n == 1 && w[0] == '-')
		return 0;
	if ((*out = xtext_decode(w, n, 1)) == NULL || !fields_ok(*out))
		return bad(c, "bad header edits");
	return 0;
}

static int
parse_state(const char *w, size_t n, enum rcpt_state *st)
{
	static const struct {
		const char	*name;
		enum rcpt_state	 st;
	} t[] = {
		{ "pending", RCPT_PENDING }, { "deferred", RCPT_DEFERRED },
		{ "delivered", RCPT_DELIVERED }, { "failed", RCPT_FAILED }
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strlen(t[i].name) == n && memcmp(t[i].name, w, n) == 0) {
			*st = t[i].st;
			return 0;
		}
	return -1;
}

static int
parse_rcpt(struct cursor *c, struct envelope *env, struct qmeta *m)
{
	struct rcpt	*r;
	const char	*w[13];
	size_t		 wl[13], pos = 0, k;
	unsigned long long v;
	char		*dsn = NULL, *at;

	for (k = 0; k < 13; k++)
		if (word(c, &pos, &w[k], &wl[k]) == -1)
			return bad(c, "short rcpt line");
	if (pos != c->llen)
		return bad(c, "long rcpt line");
	/* Doubling: a hundred thousand recipients are not quadratic. */
	if (env->nrcpts == c->rcap) {
		c->rcap = c->rcap ? c->rcap * 2 : 8;
		env->rcpts = xreallocarray(env->rcpts, c->rcap,
		    sizeof(*env->rcpts));
		m->q = xreallocarray(m->q, c->rcap, sizeof(*m->q));
	}
	r = &env->rcpts[env->nrcpts];
	memset(r, 0, sizeof(*r));
	memset(&m->q[env->nrcpts], 0, sizeof(m->q[0]));
	env->nrcpts++;
	/* w[0] is "rcpt" */
	if (parse_state(w[1], wl[1], &r->state) == -1)
		return bad(c, "bad recipient state");
	if (parse_num(w[2], wl[2], 1000000, &v) == -1)
		return bad(c, "bad attempts");
	m->q[env->nrcpts - 1].attempts = (unsigned)v;
	if (parse_num(w[3], wl[3], (1ULL << 40), &v) == -1)
		return bad(c, "bad next attempt time");
	m->q[env->nrcpts - 1].next = (time_t)v;
	if (parse_num(w[4], wl[4], 15, &v) == -1)
		return bad(c, "bad notify");
	r->notify = (int)v;
	if (parse_num(w[5], wl[5], 1, &v) == -1)
		return bad(c, "bad smtputf8");
	r->smtputf8 = (int)v;
	if (parse_num(w[6], wl[6], FAIL_UNAVAILABLE, &v) == -1)
		return bad(c, "bad failure kind");
	r->fail = (enum rcpt_fail)v;
	if (parse_num(w[7], wl[7], 1, &v) == -1)
		return bad(c, "bad reported flag");
	m->q[env->nrcpts - 1].reported = (int)v;
	if (field(c, w[8], wl[8], &dsn) == -1)
		return -1;
	if (dsn != NULL && strlen(dsn) >= sizeof(r->dsn)) {
		free(dsn);
		return bad(c, "bad dsn");
	}
	strlcpy(r->dsn, dsn != NULL ? dsn : "", sizeof(r->dsn));
	free(dsn);
	if (field(c, w[9], wl[9], &r->addr) == -1 || r->addr == NULL)
		return bad(c, "bad address");
	at = strrchr(r->addr, '@');
	if (at == NULL || at == r->addr || at[1] == '\0')
		return bad(c, "address without a domain");
	r->domain = at + 1;
	if (field(c, w[10], wl[10], &r->orig) == -1)
		return -1;
	if (r->orig == NULL)
		r->orig = xstrdup(r->addr);
	if (field(c, w[11], wl[11], &r->relay) == -1)
		return -1;
	return field(c, w[12], wl[12], &r->reason);
}

/* "mxsend-queue N", "id ID", "arrival T" (and version 1's owner). */
static int
parse_identity(struct cursor *c, struct qmeta *m, int *version)
{
	unsigned long long v;
	const char	*w;
	size_t		 n, i;

	if (keyed_num(c, "mxsend-queue", 1000, &v) == -1)
		return -1;
	/* Version 1: ID.msg had the edits applied; an owner line. */
	if (v != 1 && v != QUEUE_FORMAT)
		return bad(c, "unknown format version");
	*version = (int)v;
	if (keyed(c, "id", &w, &n) == -1)
		return -1;
	if (n != QUEUE_ID_LEN)
		return bad(c, "bad id");
	for (i = 0; i < n; i++)
		if (!((w[i] >= '0' && w[i] <= '9') || (w[i] >= 'A' &&
		    w[i] <= 'F')))
			return bad(c, "bad id");
	memcpy(m->id, w, n);
	m->id[n] = '\0';
	if (keyed_num(c, "arrival", (1ULL << 40), &v) == -1)
		return -1;
	m->arrival = (time_t)v;
	/*
	 * The owner of an entry is its directory's owner; version 1's field
	 * is read over and never believed.
	 */
	if (*version == 1 && keyed_num(c, "owner", 0xffffffffULL, &v) == -1)
		return -1;
	return 0;
}

/* From "sender" to "is-bounce": the message's envelope and DSN data. */
static int
parse_message_data(struct cursor *c, struct envelope *env, struct qmeta *m)
{
	unsigned long long v;
	const char	*w;
	size_t		 n;
	char		*s;

	if (keyed(c, "sender", &w, &n) == -1 || field(c, w, n, &s) == -1)
		return -1;
	if (s == NULL)
		return bad(c, "bad sender");
	if (strcmp(s, "<>") == 0)
		s[0] = '\0';
	free(env->sender);
	env->sender = s;
	if (keyed_num(c, "sender-smtputf8", 1, &v) == -1)
		return -1;
	env->sender_smtputf8 = (int)v;
	if (keyed_num(c, "eightbit", 1, &v) == -1)
		return -1;
	m->eightbit = (int)v;
	if (keyed(c, "ret", &w, &n) == -1)
		return -1;
	if (n == 4 && memcmp(w, "full", 4) == 0)
		m->ret = RET_FULL;
	else if (n == 4 && memcmp(w, "hdrs", 4) == 0)
		m->ret = RET_HDRS;
	else if (n == 1 && w[0] == '-')
		m->ret = RET_UNSET;
	else
		return bad(c, "bad ret");
	if (keyed(c, "envid", &w, &n) == -1 ||
	    field(c, w, n, &m->envid) == -1)
		return -1;
	if (keyed_num(c, "bounce", 1, &v) == -1)
		return -1;
	m->bounce = (int)v;
	if (keyed_num(c, "is-bounce", 1, &v) == -1)
		return -1;
	m->is_bounce = (int)v;
	return 0;
}

int
queue_parse_env(const char *text, size_t len, struct envelope *env,
    struct qmeta *m, char *err, size_t errlen)
{
	struct cursor	 c;
	int		 version = 0;

	memset(&c, 0, sizeof(c));
	c.p = text;
	c.end = text + len;
	c.err = err;
	c.errlen = errlen;
	c.rcap = env->nrcpts;	/* full: the first recipient reallocates */
	if (parse_identity(&c, m, &version) == -1 ||
	    parse_message_data(&c, env, m) == -1)
		return -1;
	if (version >= 2 && (fields_field(&c, "prepend", &m->prepend) == -1 ||
	    fields_field(&c, "append", &m->append) == -1))
		return -1;
	for (;;) {
		if (next_line(&c) == -1)
			return bad(&c, "truncated (no end line)");
		if (c.llen == 3 && memcmp(c.l, "end", 3) == 0)
			break;
		if (c.llen < 5 || memcmp(c.l, "rcpt ", 5) != 0)
			return bad(&c, "expected rcpt or end");
		if (parse_rcpt(&c, env, m) == -1)
			return -1;
	}
	if (c.p != c.end)
		return bad(&c, "data after the end line");
	if (env->nrcpts == 0)
		return bad(&c, "no recipients");
	return 0;
}

/* ------------------------------------------------------------- files */

static void
entry_name(const char *id, const char *suffix, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s", id, suffix);
}

enum efile {
	EF_OK,
	EF_MISSING,
	EF_HOSTILE,		/* not what we make: err says what */
	EF_ERROR		/* a local error (err) */
};

/*
 * Open an entry file of d without following a link or waiting on a FIFO,
 * and use it only if it is what we make (SPEC §7).
 */
static enum efile
open_entry(const struct qdir *d, const char *name, int flags, int *fdp,
    struct stat *st, char *err, size_t errlen)
{
	int	 fd;

	*fdp = -1;
	fd = openat(d->fd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return EF_MISSING;
		snprintf(err, errlen, "%s/%s: %s", d->path, name,
		    errno == ELOOP ? "a symbolic link" : strerror(errno));
		return errno == ELOOP || errno == ENXIO || errno == EISDIR ||
		    errno == ENODEV ? EF_HOSTILE : EF_ERROR;
	}
	if (fstat(fd, st) != 0) {
		snprintf(err, errlen, "%s/%s: %s", d->path, name,
		    strerror(errno));
		close(fd);
		return EF_ERROR;
	}
	if (!S_ISREG(st->st_mode) || st->st_nlink != 1 ||
	    st->st_uid != d->owner) {
		snprintf(err, errlen, "%s/%s: %s", d->path, name,
		    !S_ISREG(st->st_mode) ? "not a regular file" :
		    st->st_nlink != 1 ? "has more than one link" :
		    "not owned by the directory's owner");
		close(fd);
		return EF_HOSTILE;
	}
	*fdp = fd;
	return EF_OK;
}

/* Whether name exists in d (not following a link). */
static int
exists(const struct qdir *d, const char *name)
{
	struct stat	 st;

	return fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int
flush_dir(struct qdir *d, char *err, size_t errlen)
{
	if (fsync(d->fd) != 0) {
		snprintf(err, errlen, "cannot flush %s: %s", d->path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Write ID.env.tmp and rename it to ID.env; durable: fsync all first. */
static int
write_env(struct qentry *e, const struct envelope *env,
    const struct qmeta *m, int durable, char *err, size_t errlen)
{
	char	 tmp[QUEUE_ID_LEN + 16], name[QUEUE_ID_LEN + 16], *text;
	size_t	 len;
	int	 fd, r = -1, tries;

	entry_name(e->id, ".env.tmp", tmp, sizeof(tmp));
	entry_name(e->id, ".env", name, sizeof(name));
	text = queue_format_env(env, m, &len);
	/*
	 * O_EXCL: a file planted under the name is never written through.
	 * We hold the entry's lock, so one there is a crash's or a user's:
	 * it goes, and the creation is tried once more.
	 */
	for (tries = 0; ; tries++) {
		fd = openat(e->dir->fd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd != -1 || errno != EEXIST || tries > 0)
			break;
		(void)unlinkat(e->dir->fd, tmp, 0);
	}
	if (fd == -1) {
		snprintf(err, errlen, "cannot create %s/%s: %s", e->dir->path,
		    tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, text, len) != 0 ||
	    (durable && (fsync(fd) != 0 || fsync(e->msgfd) != 0))) {
		snprintf(err, errlen, "cannot write %s/%s: %s", e->dir->path,
		    tmp, strerror(errno));
		close(fd);
		(void)unlinkat(e->dir->fd, tmp, 0);
		goto out;
	}
	if (close(fd) != 0 || renameat(e->dir->fd, tmp, e->dir->fd,
	    name) != 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s", e->dir->path,
		    name, strerror(errno));
		(void)unlinkat(e->dir->fd, tmp, 0);
		goto out;
	}
	/* The rename itself must survive a power loss. */
	if (durable && flush_dir(e->dir, err, errlen) != 0)
		goto out;
	r = 0;
out:
	free(text);
	return r;
}

int
queue_spool(struct qdir *d, const char *id, struct qentry *e, char *err,
    size_t errlen)
{
	char	 name[QUEUE_ID_LEN + 16];
	int	 fd;

	memset(e, 0, sizeof(*e));
	e->dir = d;
	e->msgfd = -1;
	strlcpy(e->id, id, sizeof(e->id));
	fd = openat(d->fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1) {
		/* No O_TMPFILE here: a name that queue_clean() knows. */
		entry_name(id, ".spool", name, sizeof(name));
		fd = openat(d->fd, name, O_RDWR | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		e->named = 1;
	}
	if (fd == -1) {
		snprintf(err, errlen, "cannot create a spool file in %s: %s",
		    d->path, strerror(errno));
		return -1;
	}
	/* Locked before it has a name: no queue run can take it. */
	if (flock(fd, LOCK_EX) != 0) {
		snprintf(err, errlen, "cannot lock the spool file in %s: %s",
		    d->path, strerror(errno));
		queue_discard(e);
		close(fd);
		return -1;
	}
	e->msgfd = fd;
	return 0;
}

/* Give the unnamed spool its name ID.msg. */
static int
link_spool(struct qentry *e, char *err, size_t errlen)
{
	char	 name[QUEUE_ID_LEN + 16], proc[64], spool[QUEUE_ID_LEN + 16];
	int	 r;

	entry_name(e->id, ".msg", name, sizeof(name));
	if (e->named) {
		entry_name(e->id, ".spool", spool, sizeof(spool));
		r = renameat(e->dir->fd, spool, e->dir->fd, name);
	} else {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", e->msgfd);
		r = linkat(AT_FDCWD, proc, e->dir->fd, name,
		    AT_SYMLINK_FOLLOW);
		/* No /proc (some containers): root may link the fd itself. */
		if (r != 0 && errno != EEXIST)
			r = linkat(e->msgfd, "", e->dir->fd, name,
			    AT_EMPTY_PATH);
	}
	if (r != 0) {
		snprintf(err, errlen, "cannot create %s/%s: %s", e->dir->path,
		    name, strerror(errno));
		return -1;
	}
	e->linked = 1;
	e->named = 0;
	return 0;
}

int
queue_create(struct qentry *e, const struct envelope *env,
    const struct qmeta *m, char *err, size_t errlen)
{
	char	 name[QUEUE_ID_LEN + 16];

	if (!e->linked && link_spool(e, err, errlen) != 0)
		return -1;
	if (write_env(e, env, m, 0, err, errlen) != 0) {
		/* Not an entry yet: the message file must not stay alone. */
		entry_name(e->id, ".msg", name, sizeof(name));
		(void)unlinkat(e->dir->fd, name, 0);
		e->linked = 0;
		return -1;
	}
	return 0;
}

void
queue_discard(struct qentry *e)
{
	char	 name[QUEUE_ID_LEN + 16];

	if (e->dir == NULL)
		return;
	if (e->named) {
		entry_name(e->id, ".spool", name, sizeof(name));
		(void)unlinkat(e->dir->fd, name, 0);
		e->named = 0;
	}
	if (e->linked) {
		entry_name(e->id, ".msg", name, sizeof(name));
		(void)unlinkat(e->dir->fd, name, 0);
		e->linked = 0;
	}
}

int
queue_commit(struct qentry *e, const struct envelope *env,
    const struct qmeta *m, int durable, char *err, size_t errlen)
{
	return write_env(e, env, m, durable, err, errlen);
}

int
queue_remove(struct qentry *e, char *err, size_t errlen)
{
	char	 name[QUEUE_ID_LEN + 16];

	entry_name(e->id, ".env", name, sizeof(name));
	if (unlinkat(e->dir->fd, name, 0) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s/%s: %s", e->dir->path,
		    name, strerror(errno));
		return -1;
	}
	/* A crash here leaves an unheld ID.msg: queue_clean() removes it. */
	entry_name(e->id, ".msg", name, sizeof(name));
	(void)unlinkat(e->dir->fd, name, 0);
	e->linked = 0;
	return 0;
}

void
queue_release(struct qentry *e)
{
	if (e->msgfd != -1)
		close(e->msgfd);
	e->msgfd = -1;
}

/*
 * Rename the entry's files to *.corrupt, so that no run takes it again
 * and -bp lists it (SPEC §7: never silently dropped).
 */
static void
move_aside(struct qdir *d, const char *id, char *err, size_t errlen,
    const char *why)
{
	static const char *const sfx[] = { ".env", ".msg" };
	char	 a[QUEUE_ID_LEN + 16], b[QUEUE_ID_LEN + 24];
	size_t	 i;

	for (i = 0; i < 2; i++) {
		entry_name(id, sfx[i], a, sizeof(a));
		snprintf(b, sizeof(b), "%s.corrupt", a);
		(void)renameat(d->fd, a, d->fd, b);
	}
	snprintf(err, errlen, "queue entry %s/%s is corrupt (%s); moved aside "
	    "as %s.env.corrupt", d->path, id, why, id);
}

enum readenv {
	RE_OK,
	RE_CORRUPT,
	RE_ERROR
};

/* Read a whole ID.env: a NUL (a sparse file) or ENV_MAX is corrupt. */
static enum readenv
read_env(int fd, char **textp, size_t *lenp, char *err, size_t errlen)
{
	struct buf	 b;

	buf_init(&b);
	buf_add(&b, "", 0);
	if (read_all(fd, ENV_MAX, 1, &b) != 0) {
		int	 e = errno;

		buf_free(&b);
		if (e == EFBIG || e == EILSEQ) {
			snprintf(err, errlen, "%s", e == EFBIG ?
			    "envelope over 1 GiB" : "NUL byte in the envelope");
			return RE_CORRUPT;
		}
		snprintf(err, errlen, "reading the envelope: %s",
		    strerror(e));
		return RE_ERROR;
	}
	*lenp = b.len;
	*textp = buf_release(&b);
	return RE_OK;
}

/* The entry's edits onto the message indexed in place. */
static void
apply_edits(struct message *msg, const struct qmeta *m)
{
	(void)msg_drop(msg, "Bcc");
	(void)msg_drop(msg, "Resent-Bcc");
	buf_reset(&msg->prepend);
	buf_reset(&msg->append);
	if (m->prepend != NULL)
		buf_adds(&msg->prepend, m->prepend);
	if (m->append != NULL)
		buf_adds(&msg->append, m->append);
}

/* Lock ID.msg; QLOAD_OK with e->msgfd set. */
static enum queue_load_status
lock_msg(struct qdir *d, struct qentry *e, char *err, size_t errlen)
{
	char		 name[QUEUE_ID_LEN + 16], why[PATH_MAX + 256];
	struct stat	 a, b;
	int		 fd;

	entry_name(e->id, ".msg", name, sizeof(name));
	switch (open_entry(d, name, O_RDONLY, &fd, &a, why, sizeof(why))) {
	case EF_OK:
		break;
	case EF_MISSING:
		/*
		 * ID.msg is made before ID.env and removed after it: an
		 * ID.env alone is a lost message, not a removal.
		 */
		entry_name(e->id, ".env", name, sizeof(name));
		if (!exists(d, name))
			return QLOAD_GONE;
		move_aside(d, e->id, err, errlen, "the message file is "
		    "missing");
		return QLOAD_CORRUPT;
	case EF_HOSTILE:
		move_aside(d, e->id, err, errlen, why);
		return QLOAD_CORRUPT;
	case EF_ERROR:
		snprintf(err, errlen, "%s", why);
		return QLOAD_ERROR;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		if (errno == EWOULDBLOCK)
			return QLOAD_BUSY;
		snprintf(err, errlen, "%s/%s: %s", d->path, name,
		    strerror(errno));
		return QLOAD_ERROR;
	}
	/*
	 * Another run may have finished and removed the entry between our
	 * open and our lock: the file must still be the one we hold.
	 */
	if (fstatat(d->fd, name, &b, AT_SYMLINK_NOFOLLOW) != 0 ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		close(fd);
		return QLOAD_GONE;
	}
	e->msgfd = fd;
	e->linked = 1;
	return QLOAD_OK;
}

/* Read and parse ID.env of the locked entry e. */
static enum queue_load_status
load_env(struct qdir *d, struct qentry *e, struct envelope *env,
    struct qmeta *m, char *err, size_t errlen)
{
	char		 name[QUEUE_ID_LEN + 16], why[PATH_MAX + 256];
	char		*text = NULL;
	struct stat	 st;
	size_t		 len;
	int		 fd;

	entry_name(e->id, ".env", name, sizeof(name));
	switch (open_entry(d, name, O_RDONLY, &fd, &st, why, sizeof(why))) {
	case EF_OK:
		break;
	case EF_MISSING:
		return QLOAD_GONE;
	case EF_HOSTILE:
		move_aside(d, e->id, err, errlen, why);
		return QLOAD_CORRUPT;
	case EF_ERROR:
		snprintf(err, errlen, "%s", why);
		return QLOAD_ERROR;
	}
	switch (read_env(fd, &text, &len, why, sizeof(why))) {
	case RE_OK:
		break;
	case RE_CORRUPT:
		close(fd);
		move_aside(d, e->id, err, errlen, why);
		return QLOAD_CORRUPT;
	case RE_ERROR:
		close(fd);
		snprintf(err, errlen, "%s/%s: %s", d->path, name, why);
		return QLOAD_ERROR;
	}
	close(fd);
	why[0] = '\0';
	if (queue_parse_env(text, len, env, m, why, sizeof(why)) != 0 ||
	    strcmp(m->id, e->id) != 0) {
		free(text);
		if (why[0] == '\0')
			strlcpy(why, "id mismatch", sizeof(why));
		move_aside(d, e->id, err, errlen, why);
		return QLOAD_CORRUPT;
	}
	free(text);
	return QLOAD_OK;
}

enum queue_load_status
queue_load(struct qdir *d, const char *id, struct qentry *e,
    struct envelope *env, struct qmeta *m, struct message *msg, char *err,
    size_t errlen)
{
	enum queue_load_status st;
	char		 why[256];

	memset(e, 0, sizeof(*e));
	e->dir = d;
	e->msgfd = -1;
	strlcpy(e->id, id, sizeof(e->id));
	if ((st = lock_msg(d, e, err, errlen)) != QLOAD_OK)
		return st;
	if ((st = load_env(d, e, env, m, err, errlen)) != QLOAD_OK) {
		queue_release(e);
		return st;
	}
	/* The message indexed where it lies: never copied (SPEC §7). */
	msg_init(msg, e->msgfd);
	switch (intake_index(msg, why, sizeof(why))) {
	case INTAKE_OK:
		apply_edits(msg, m);
		return QLOAD_OK;
	case INTAKE_READ_ERROR:
		snprintf(err, errlen, "%s/%s.msg: %s", d->path, id, why);
		st = QLOAD_ERROR;
		break;
	default:
		move_aside(d, id, err, errlen, why);
		st = QLOAD_CORRUPT;
		break;
	}
	msg_free(msg);
	msg_init(msg, -1);
	queue_release(e);
	return st;
}

/* Whether name is ID + suffix, ID being 18 upper-case hex digits. */
static int
is_entry_name(const char *name, const char *suffix)
{
	size_t	 i;

	if (strlen(name) != QUEUE_ID_LEN + strlen(suffix) ||
	    strcmp(name + QUEUE_ID_LEN, suffix) != 0)
		return 0;
	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'A' && name[i] <= 'F')))
			return 0;
	return 1;
}

static int
id_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids of d's files named ID + suffix, sorted. */
static char **
list_suffix(struct qdir *d, const char *suffix, size_t *np)
{
	DIR		*dir;
	struct dirent	*de;
	char		**v = NULL;
	size_t		 n = 0;
	int		 fd;

	*np = 0;
	if ((fd = dup(d->fd)) == -1)
		return NULL;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return NULL;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (!is_entry_name(de->d_name, suffix))
			continue;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrndup(de->d_name, QUEUE_ID_LEN);
	}
	closedir(dir);
	if (n > 1)
		qsort(v, n, sizeof(*v), id_cmp);
	*np = n;
	return v;
}

char **
queue_list(struct qdir *d, size_t *np)
{
	return list_suffix(d, ".env", np);
}

/* Remove an unheld file the creation or removal of an entry left. */
static void
clean_one(struct qdir *d, const char *id, const char *suffix, time_t minage,
    time_t now)
{
	char		 name[QUEUE_ID_LEN + 16], env[QUEUE_ID_LEN + 16];
	char		 why[PATH_MAX + 256];
	struct stat	 st;
	int		 fd;

	entry_name(id, ".env", env, sizeof(env));
	entry_name(id, suffix, name, sizeof(name));
	if (exists(d, env))
		return;
	switch (open_entry(d, name, O_RDONLY, &fd, &st, why, sizeof(why))) {
	case EF_OK:
		break;
	case EF_HOSTILE:
		note(d->report, d->rctx, "removing %s", why);
		(void)unlinkat(d->fd, name, 0);
		return;
	default:
		return;
	}
	/* A live creator holds the lock from before the name exists. */
	if (now - st.st_mtime >= minage && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
	    !exists(d, env)) {
		note(d->report, d->rctx, "removing %s/%s left by an "
		    "interrupted run", d->path,
		    name);
		(void)unlinkat(d->fd, name, 0);
	}
	close(fd);
}

static void
clean_tmp(struct qdir *d, const char *id)
{
	char		 name[QUEUE_ID_LEN + 16], why[PATH_MAX + 256];
	struct stat	 st;
	int		 fd, stale = 0;

	entry_name(id, ".msg", name, sizeof(name));
	switch (open_entry(d, name, O_RDONLY, &fd, &st, why, sizeof(why))) {
	case EF_OK:
		stale = flock(fd, LOCK_EX | LOCK_NB) == 0;
		close(fd);
		break;
	case EF_MISSING:
		stale = 1;
		break;
	default:
		break;
	}
	if (stale) {
		entry_name(id, ".env.tmp", name, sizeof(name));
		(void)unlinkat(d->fd, name, 0);
	}
}

void
queue_clean(struct qdir *d, time_t now)
{
	static const struct {
		const char	*suffix;
		time_t		 minage;
	} orphans[] = {
		/* Between link and ID.env, or ID.env and the unlink. */
		{ ".msg", 0 },
		/* ID.spool: unheld from its creation to its flock(). */
		{ ".spool", ORPHAN_AGE },
	};
	char		**ids;
	size_t		 n, i, k;

	for (k = 0; k < sizeof(orphans) / sizeof(orphans[0]); k++) {
		ids = list_suffix(d, orphans[k].suffix, &n);
		for (i = 0; i < n; i++)
			clean_one(d, ids[i], orphans[k].suffix,
			    orphans[k].minage, now);
		strv_free(ids, n);
	}
	/*
	 * Written and renamed under the lock of ID.msg: with ID.msg gone or
	 * unheld, its writer is dead.
	 */
	ids = list_suffix(d, ".env.tmp", &n);
	for (i = 0; i < n; i++)
		clean_tmp(d, ids[i]);
	strv_free(ids, n);
}

/* ------------------------------------------------------------ mailq */

/* Whether a delivery holds the entry now (Postfix marks it '*'). */
static int
entry_active(struct qdir *d, const char *id, off_t *size)
{
	char		 name[QUEUE_ID_LEN + 16], why[PATH_MAX + 256];
	struct stat	 st;
	int		 fd, busy;

	*size = 0;
	entry_name(id, ".msg", name, sizeof(name));
	if (open_entry(d, name, O_RDONLY, &fd, &st, why, sizeof(why)) != EF_OK)
		return 0;
	*size = st.st_size;
	busy = flock(fd, LOCK_SH | LOCK_NB) != 0;
	close(fd);
	return busy;
}

/* Text from a user's file, safe on root's terminal. */
static const char *
shown(const char *s, char *buf, size_t buflen)
{
	size_t	 n = strlcpy(buf, s, buflen);

	(void)text_printable(buf, n < buflen ? n : buflen - 1);
	return buf;
}

static void
print_header(FILE *out, struct qprint *p)
{
	if (p->header)
		return;
	fprintf(out, "-Queue ID--------- --Size-- ----Arrival Time---- "
	    "-Sender/Recipient-------\n");
	p->header = 1;
}

static void
print_corrupt(FILE *out, struct qdir *d, const char *id, const char *why,
    struct qprint *p)
{
	char	 b[512];

	print_header(out, p);
	fprintf(out, "%-18s  (corrupt entry in %s: %s)\n\n", id, d->path,
	    shown(why, b, sizeof(b)));
	p->nreq++;
}

static void
print_entry(FILE *out, struct qdir *d, const char *id, struct qprint *p)
{
	struct envelope	 env;
	struct qmeta	 m;
	struct stat	 st;
	struct tm	 tm;
	char		 name[QUEUE_ID_LEN + 16], when[32], b[1024];
	char		 err[PATH_MAX + 256];
	char		*text = NULL;
	size_t		 len, i;
	off_t		 size;
	time_t		 t;
	int		 fd, active;

	entry_name(id, ".env", name, sizeof(name));
	switch (open_entry(d, name, O_RDONLY, &fd, &st, err, sizeof(err))) {
	case EF_OK:
		break;
	case EF_MISSING:
		return;		/* delivered meanwhile */
	default:
		print_corrupt(out, d, id, err, p);
		return;
	}
	envelope_init(&env);
	qmeta_init(&m);
	if (read_env(fd, &text, &len, err, sizeof(err)) != RE_OK ||
	    queue_parse_env(text, len, &env, &m, err, sizeof(err)) != 0) {
		print_corrupt(out, d, id, err, p);
		goto out;
	}
	active = entry_active(d, id, &size);
	t = m.arrival;
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
	print_header(out, p);
	fprintf(out, "%-18s%c %8lld %s  %s\n", id, active ? '*' : ' ',
	    (long long)size, when, env.sender[0] != '\0' ?
	    shown(env.sender, b, sizeof(b)) : "MAILER-DAEMON");
	for (i = 0; i < env.nrcpts; i++) {
		const struct rcpt *r = &env.rcpts[i];

		if (r->state != RCPT_PENDING && r->state != RCPT_DEFERRED)
			continue;
		if (r->reason != NULL)
			fprintf(out, "%29s(%.200s)\n", "",
			    shown(r->reason, b, sizeof(b)));
		fprintf(out, "%29s%s\n", "", shown(r->addr, b, sizeof(b)));
	}
	fputc('\n', out);
	p->nreq++;
	p->bytes += (unsigned long long)size;
out:
	close(fd);
	free(text);
	qmeta_free(&m);
	envelope_free(&env);
}

void
queue_print_dir(FILE *out, struct qdir *d, struct qprint *p)
{
	char	**ids, **bad, **badmsg;
	size_t	 n, nbad, nbadmsg, i, j;

	ids = queue_list(d, &n);
	for (i = 0; i < n; i++)
		print_entry(out, d, ids[i], p);
	strv_free(ids, n);
	/* Moved aside: listed until an administrator deals with them. */
	bad = list_suffix(d, ".env.corrupt", &nbad);
	for (i = 0; i < nbad; i++)
		print_corrupt(out, d, bad[i], "moved aside", p);
	badmsg = list_suffix(d, ".msg.corrupt", &nbadmsg);
	for (i = 0; i < nbadmsg; i++) {
		for (j = 0; j < nbad && strcmp(bad[j], badmsg[i]) != 0; j++)
			;
		if (j == nbad)
			print_corrupt(out, d, badmsg[i], "moved aside", p);
	}
	strv_free(bad, nbad);
	strv_free(badmsg, nbadmsg);
}

void
queue_print_end(FILE *out, const struct qprint *p)
{
	if (p->nreq == 0)
		fprintf(out, "Mail queue is empty\n");
	else
		fprintf(out, "-- %llu Kbytes in %zu Request%s.\n",
		    (p->bytes + 1023) / 1024, p->nreq, p->nreq == 1 ? "" : "s");
}

/* ------------------------------------------------------------ visits */

struct visit {
	queue_visit_fn	 fn;
	void		*ctx;
	size_t		 ctxsize;
	queue_report_fn	 report;
	void		*rctx;
	size_t		 n;
};


/* fn on ROOT/uid, when it exists. */
static void
visit_dir(struct visit *v, int rootfd, const char *rootpath, uid_t uid)
{
	struct qdir	 d;
	char		 err[1024];

	if (queue_dir_open(&d, rootfd, rootpath, uid, 0, err,
	    sizeof(err)) != 0) {
		if (errno != ENOENT)
			note(v->report, v->rctx, "skipping %s", err);
		return;
	}
	d.report = v->report;
	d.rctx = v->rctx;
	v->fn(&d, v->ctx);
	queue_dir_close(&d);
	v->n++;
}

/* fn on uid's $HOME/.mxsend/queue/uid, when it exists. */
static void
visit_home(struct visit *v, uid_t uid)
{
	char	 root[PATH_MAX], err[1024];
	int	 rfd;

	if ((rfd = home_root_open(uid, 0, root, sizeof(root), err,
	    sizeof(err))) == -1) {
		if (errno != ENOENT && errno != ENOTDIR)
			note(v->report, v->rctx, "skipping %s", err);
		return;
	}
	visit_dir(v, rfd, root, uid);
	close(rfd);
}

/*
 * Become uid for good: groups, gid, uid, each checked, and no way back
 * (a user's files are handled with that user's rights only).
 */
static int
become(uid_t uid, gid_t gid, const char *name, char *err, size_t errlen)
{
	if ((name != NULL ? initgroups(name, gid) : setgroups(1, &gid)) != 0 ||
	    setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, errlen, "cannot become uid %lu: %s",
		    (unsigned long)uid, strerror(errno));
		return -1;
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || setuid(0) == 0) {
		snprintf(err, errlen, "cannot become uid %lu for good",
		    (unsigned long)uid);
		return -1;
	}
	/* Root's configuration and log descriptor stay out of reach. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}

static int
read_full(int fd, void *p, size_t n)
{
	char	*c = p;
	ssize_t	 r;

	while (n > 0) {
		r = read(fd, c, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * Root: fn on uid's directories in a child that has become uid; what fn
 * made of ctx comes back through a pipe.
 */
static void
visit_as(struct visit *v, uid_t uid, gid_t gid, int rootfd,
    const char *rootpath, int home)
{
	struct passwd	*pw = getpwuid(uid);
	char		 name[256], err[512], *back;
	size_t		 n;
	pid_t		 pid;
	int		 p[2], status;

	if (pw != NULL && pw->pw_name != NULL)
		strlcpy(name, pw->pw_name, sizeof(name));
	if (pw != NULL)
		gid = pw->pw_gid;
	if (pipe2(p, O_CLOEXEC) != 0) {
		note(v->report, v->rctx, "cannot visit the queue of uid "
		    "%lu: %s", (unsigned long)uid, strerror(errno));
		return;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		note(v->report, v->rctx, "cannot visit the queue of uid "
		    "%lu: %s", (unsigned long)uid, strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		if (become(uid, gid, pw != NULL ? name : NULL, err,
		    sizeof(err)) != 0) {
			note(v->report, v->rctx, "%s", err);
			_exit(1);
		}
		v->n = 0;
		if (rootfd != -1)
			visit_dir(v, rootfd, rootpath, uid);
		if (home)
			visit_home(v, uid);
		fflush(NULL);
		(void)write_all(p[1], &v->n, sizeof(v->n));
		(void)write_all(p[1], v->ctx, v->ctxsize);
		_exit(0);
	}
	close(p[1]);
	back = xmalloc(v->ctxsize + 1);
	if (read_full(p[0], &n, sizeof(n)) == 0 &&
	    read_full(p[0], back, v->ctxsize) == 0) {
		memcpy(v->ctx, back, v->ctxsize);
		v->n += n;
	}
	free(back);
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
}

/* A queue_dir/N that is not N's own directory: report, maybe move. */
static void
squatted(struct visit *v, int rootfd, const char *rootpath,
    const char *name, const struct stat *st, int move)
{
	char	 aside[512];

	note(v->report, v->rctx, "%s/%s is not the queue of uid %s (%s "
	    "owned by uid %lu): squatted", rootpath, name, name,
	    S_ISDIR(st->st_mode) ? "a directory" : "not a directory",
	    (unsigned long)st->st_uid);
	if (!move)
		return;
	snprintf(aside, sizeof(aside), ".squatted.%s.%lld.%ld", name,
	    (long long)time(NULL), (long)getpid());
	if (renameat(rootfd, name, rootfd, aside) == 0) {
		(void)fsync(rootfd);
		note(v->report, v->rctx, "moved %s/%s aside as %s", rootpath,
		    name, aside);
	} else
		note(v->report, v->rctx, "cannot move %s/%s aside: %s",
		    rootpath, name, strerror(errno));
}

/* Root: every queue_dir/UID, each as its user. */
static void
visit_queue_dir(struct visit *v, const char *path, int move)
{
	DIR		*dir;
	struct dirent	*de;
	struct stat	 st;
	char		 err[1024], *end;
	unsigned long	 u;
	int		 rfd, fd;

	if ((rfd = queue_root_open(path, 0, err, sizeof(err))) == -1) {
		if (errno != ENOENT)
			note(v->report, v->rctx, "skipping %s", err);
		return;
	}
	if ((fd = dup(rfd)) == -1 || (dir = fdopendir(fd)) == NULL) {
		note(v->report, v->rctx, "skipping %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		close(rfd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		errno = 0;
		u = strtoul(de->d_name, &end, 10);
		if (*end != '\0' || errno != 0 || u > (uid_t)-2)
			continue;
		if (fstatat(rfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (!S_ISDIR(st.st_mode) || st.st_uid != (uid_t)u) {
			squatted(v, rfd, path, de->d_name, &st, move);
			continue;
		}
		if (u == 0)
			visit_dir(v, rfd, path, 0);
		else
			visit_as(v, (uid_t)u, st.st_gid, rfd, path, 0);
	}
	closedir(dir);
	close(rfd);
}

/* Root: every local user's $HOME/.mxsend/queue/UID, as that user. */
static void
visit_homes(struct visit *v)
{
	struct passwd	*pw;
	struct stat	 st;
	uid_t		*seen = NULL;
	gid_t		*gids = NULL;
	char		**paths = NULL;
	size_t		 n = 0, i, j;

	setpwent();
	while ((pw = getpwent()) != NULL) {
		if (pw->pw_uid == 0 || pw->pw_dir == NULL ||
		    pw->pw_dir[0] != '/')
			continue;
		for (j = 0; j < n && seen[j] != pw->pw_uid; j++)
			;
		if (j < n)
			continue;
		seen = xreallocarray(seen, n + 1, sizeof(*seen));
		gids = xreallocarray(gids, n + 1, sizeof(*gids));
		paths = xreallocarray(paths, n + 1, sizeof(*paths));
		seen[n] = pw->pw_uid;
		gids[n] = pw->pw_gid;
		paths[n] = xasprintf("%s/.mxsend/queue/%lu", pw->pw_dir,
		    (unsigned long)pw->pw_uid);
		n++;
	}
	endpwent();
	for (i = 0; i < n; i++) {
		/* A stat only, as root: the child opens what is there. */
		if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode))
			visit_as(v, seen[i], gids[i], -1, NULL, 1);
		free(paths[i]);
	}
	free(paths);
	free(gids);
	free(seen);
}

size_t
queue_visit(const struct config *cfg, int move_squatted, queue_visit_fn fn,
    void *ctx, size_t ctxsize, queue_report_fn rep, void *rctx)
{
	struct visit	 v;
	char		 err[1024];
	uid_t		 me = getuid();
	int		 rfd;

	memset(&v, 0, sizeof(v));
	v.fn = fn;
	v.ctx = ctx;
	v.ctxsize = ctxsize;
	v.report = rep;
	v.rctx = rctx;
	if (me != 0 || geteuid() != 0) {
		if ((rfd = queue_root_open(cfg->queue_dir, me, err,
		    sizeof(err))) != -1) {
			visit_dir(&v, rfd, cfg->queue_dir, me);
			close(rfd);
		}
		visit_home(&v, me);
		return v.n;
	}
	visit_queue_dir(&v, cfg->queue_dir, move_squatted);
	visit_home(&v, 0);
	visit_homes(&v);
	return v.n;
}
