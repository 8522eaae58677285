/*
 * queue.c: queue entries on disk (SPEC §7; the format is doc/queue.md).
 *
 * Durability follows SPEC §7: creating an entry costs no fsync, because a
 * message delivered at once is never reported as queued; queue_commit()
 * with durable set flushes the envelope, the message and the directory
 * before the caller hears "queued". Every envelope write is atomic (a
 * temporary name, then rename), so a kill -9 leaves either the old or the
 * new state, never half of one.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "intake.h"
#include "queue.h"
#include "util.h"

#define ENV_MAX		(16 * 1024 * 1024)	/* an ID.env larger is corrupt */

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

/* ------------------------------------------------------- directories */

static int
check_dir(const char *path, uid_t uid, char *err, size_t errlen)
{
	struct stat	 st;

	if (lstat(path, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", path);
		return -1;
	}
	if (st.st_uid != uid) {
		snprintf(err, errlen, "%s belongs to uid %lu, not %lu", path,
		    (unsigned long)st.st_uid, (unsigned long)uid);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s is accessible to other users",
		    path);
		return -1;
	}
	return 0;
}

int
queue_user_dir(const char *root, uid_t uid, int create, char *out,
    size_t outlen, char *err, size_t errlen)
{
	if ((size_t)snprintf(out, outlen, "%s/%lu", root,
	    (unsigned long)uid) >= outlen) {
		snprintf(err, errlen, "%s: path too long", root);
		return -1;
	}
	if (create && mkdir(out, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", out,
		    strerror(errno));
		return -1;
	}
	if (check_dir(out, uid, err, errlen) == -1)
		return -1;
	if (create && access(out, W_OK | X_OK) == -1) {
		snprintf(err, errlen, "%s: %s", out, strerror(errno));
		return -1;
	}
	return 0;
}

int
queue_pick(const struct config *cfg, uid_t uid, int skip_primary, char *dir,
    size_t dirlen, char *warn, size_t warnlen, char *err, size_t errlen)
{
	char		 why[512], root[PATH_MAX + 32], home[PATH_MAX];

	warn[0] = '\0';
	if (skip_primary)
		snprintf(why, sizeof(why), "%s", err);
	else if (queue_user_dir(cfg->queue_dir, uid, 1, dir, dirlen, why,
	    sizeof(why)) == 0)
		return 0;
	if (home_dir(getuid(), home, sizeof(home)) != 0) {
		snprintf(err, errlen, "queue %s unusable (%s) and no home "
		    "directory for %s", cfg->queue_dir, why, "~/.mxsend/queue");
		return -1;
	}
	snprintf(root, sizeof(root), "%s/.mxsend", home);
	(void)mkdir(root, 0700);
	snprintf(root, sizeof(root), "%s/.mxsend/queue", home);
	(void)mkdir(root, 0700);
	if (queue_user_dir(root, uid, 1, dir, dirlen, err, errlen) == -1)
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
	buf_printf(&b, "owner %lu\n", (unsigned long)m->owner);
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

static int
b16(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *
queue_xtext_decode(const char *s, size_t n)
{
	char		*out = xmalloc(n + 1), *o = out;
	size_t		 i;
	int		 hi, lo;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			if (n - i < 3)
				goto bad;
			hi = b16((unsigned char)s[i + 1]);
			lo = b16((unsigned char)s[i + 2]);
			/*
			 * No control characters: every field is a C string,
			 * and no CR or LF may ever reach a command line.
			 */
			if (hi < 0 || lo < 0 || (hi << 4 | lo) < 0x20 ||
			    (hi << 4 | lo) == 0x7f)
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

/* ------------------------------------------------------------- parse */

struct cursor {
	const char	*p, *end;
	size_t		 line;
	const char	*l;		/* current line */
	size_t		 llen;
	char		*err;
	size_t		 errlen;
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
	env->rcpts = xreallocarray(env->rcpts, env->nrcpts + 1,
	    sizeof(*env->rcpts));
	m->q = xreallocarray(m->q, env->nrcpts + 1, sizeof(*m->q));
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

int
queue_parse_env(const char *text, size_t len, struct envelope *env,
    struct qmeta *m, char *err, size_t errlen)
{
	struct cursor	 c;
	unsigned long long v;
	const char	*w;
	size_t		 n, i;
	char		*s;

	memset(&c, 0, sizeof(c));
	c.p = text;
	c.end = text + len;
	c.err = err;
	c.errlen = errlen;
	if (keyed_num(&c, "mxsend-queue", 1000, &v) == -1)
		return -1;
	if (v != QUEUE_FORMAT)
		return bad(&c, "unknown format version");
	if (keyed(&c, "id", &w, &n) == -1)
		return -1;
	if (n != QUEUE_ID_LEN)
		return bad(&c, "bad id");
	for (i = 0; i < n; i++)
		if (!((w[i] >= '0' && w[i] <= '9') || (w[i] >= 'A' &&
		    w[i] <= 'F')))
			return bad(&c, "bad id");
	memcpy(m->id, w, n);
	m->id[n] = '\0';
	if (keyed_num(&c, "arrival", (1ULL << 40), &v) == -1)
		return -1;
	m->arrival = (time_t)v;
	if (keyed_num(&c, "owner", 0xffffffffULL, &v) == -1)
		return -1;
	m->owner = (uid_t)v;
	if (keyed(&c, "sender", &w, &n) == -1 ||
	    field(&c, w, n, &s) == -1)
		return -1;
	if (s == NULL)
		return bad(&c, "bad sender");
	if (strcmp(s, "<>") == 0)
		s[0] = '\0';
	free(env->sender);
	env->sender = s;
	if (keyed_num(&c, "sender-smtputf8", 1, &v) == -1)
		return -1;
	env->sender_smtputf8 = (int)v;
	if (keyed_num(&c, "eightbit", 1, &v) == -1)
		return -1;
	m->eightbit = (int)v;
	if (keyed(&c, "ret", &w, &n) == -1)
		return -1;
	if (n == 4 && memcmp(w, "full", 4) == 0)
		m->ret = RET_FULL;
	else if (n == 4 && memcmp(w, "hdrs", 4) == 0)
		m->ret = RET_HDRS;
	else if (n == 1 && w[0] == '-')
		m->ret = RET_UNSET;
	else
		return bad(&c, "bad ret");
	if (keyed(&c, "envid", &w, &n) == -1 ||
	    field(&c, w, n, &m->envid) == -1)
		return -1;
	if (keyed_num(&c, "bounce", 1, &v) == -1)
		return -1;
	m->bounce = (int)v;
	if (keyed_num(&c, "is-bounce", 1, &v) == -1)
		return -1;
	m->is_bounce = (int)v;
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
entry_path(const struct qentry *e, const char *suffix, char *out,
    size_t outlen)
{
	snprintf(out, outlen, "%s/%s%s", e->dir, e->id, suffix);
}

static int
stream_out(void *ctx, const char *p, size_t n)
{
	return write_all(*(int *)ctx, p, n) == 0 ? 0 : 1;
}

/* Write ID.env.tmp and rename it to ID.env; durable: fsync all first. */
static int
write_env(struct qentry *e, const struct envelope *env,
    const struct qmeta *m, int durable, char *err, size_t errlen)
{
	char	 tmp[PATH_MAX + 32], path[PATH_MAX + 32], *text;
	size_t	 len;
	int	 fd, dfd, r = -1;

	entry_path(e, ".env.tmp", tmp, sizeof(tmp));
	entry_path(e, ".env", path, sizeof(path));
	text = queue_format_env(env, m, &len);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	if (write_all(fd, text, len) != 0 ||
	    (durable && (fsync(fd) != 0 || fsync(e->msgfd) != 0))) {
		snprintf(err, errlen, "cannot write %s: %s", tmp,
		    strerror(errno));
		close(fd);
		(void)unlink(tmp);
		goto out;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	if (durable) {
		/* The rename itself must survive a power loss. */
		if ((dfd = open(e->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
		    == -1 || fsync(dfd) != 0) {
			snprintf(err, errlen, "cannot flush %s: %s", e->dir,
			    strerror(errno));
			if (dfd != -1)
				close(dfd);
			goto out;
		}
		close(dfd);
	}
	r = 0;
out:
	free(text);
	return r;
}

int
queue_create(const char *dir, const char *id, const struct message *msg,
    const struct envelope *env, const struct qmeta *m, struct qentry *e,
    char *err, size_t errlen)
{
	char	 path[PATH_MAX + 32];
	int	 fd;

	memset(e, 0, sizeof(*e));
	e->msgfd = -1;
	strlcpy(e->dir, dir, sizeof(e->dir));
	strlcpy(e->id, id, sizeof(e->id));
	entry_path(e, ".msg", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create %s: %s", path,
		    strerror(errno));
		return -1;
	}
	/* Locked before the entry exists: no queue run can take it. */
	if (flock(fd, LOCK_EX) != 0 ||
	    msg_stream(msg, 0, stream_out, &fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		close(fd);
		(void)unlink(path);
		return -1;
	}
	e->msgfd = fd;
	if (write_env(e, env, m, 0, err, errlen) != 0) {
		close(fd);
		e->msgfd = -1;
		(void)unlink(path);
		return -1;
	}
	return 0;
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
	char	 path[PATH_MAX + 32];

	entry_path(e, ".env", path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s: %s", path,
		    strerror(errno));
		return -1;
	}
	entry_path(e, ".msg", path, sizeof(path));
	(void)unlink(path);
	return 0;
}

void
queue_release(struct qentry *e)
{
	if (e->msgfd != -1)
		close(e->msgfd);
	e->msgfd = -1;
}

/* Rename both files to *.corrupt, so the next run skips them. */
static void
move_aside(struct qentry *e, char *err, size_t errlen, const char *why)
{
	char	 a[PATH_MAX + 32], b[PATH_MAX + 40];

	entry_path(e, ".env", a, sizeof(a));
	entry_path(e, ".env.corrupt", b, sizeof(b));
	(void)rename(a, b);
	entry_path(e, ".msg", a, sizeof(a));
	entry_path(e, ".msg.corrupt", b, sizeof(b));
	(void)rename(a, b);
	snprintf(err, errlen, "queue entry %s/%s is corrupt (%s); moved aside "
	    "as %s.env.corrupt", e->dir, e->id, why, e->id);
}

static char *
read_file(int fd, size_t *lenp)
{
	struct buf	 b;
	char		 chunk[8192];
	ssize_t		 r;

	buf_init(&b);
	buf_add(&b, "", 0);
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		buf_add(&b, chunk, (size_t)r);
		if (b.len > ENV_MAX)
			break;
	}
	if (r == -1 || b.len > ENV_MAX) {
		buf_free(&b);
		return NULL;
	}
	*lenp = b.len;
	return buf_release(&b);
}

static int
private_spool(const char *dir)
{
	int	 fd;

	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) != -1)
		return fd;
	return open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

enum queue_load_status
queue_load(const char *dir, const char *id, struct qentry *e,
    struct envelope *env, struct qmeta *m, struct message *msg, char *err,
    size_t errlen)
{
	char		 path[PATH_MAX + 32], why[256], *text;
	struct stat	 a, b;
	size_t		 len;
	int		 fd, efd, sfd;

	memset(e, 0, sizeof(*e));
	e->msgfd = -1;
	strlcpy(e->dir, dir, sizeof(e->dir));
	strlcpy(e->id, id, sizeof(e->id));
	entry_path(e, ".msg", path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT) {
			/*
			 * ID.msg is made before ID.env and removed after it:
			 * an ID.env alone is a lost message, not a removal.
			 */
			entry_path(e, ".env", path, sizeof(path));
			if (lstat(path, &a) == 0) {
				move_aside(e, err, errlen,
				    "the message file is missing");
				return QLOAD_CORRUPT;
			}
			return QLOAD_GONE;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return QLOAD_ERROR;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return errno == EWOULDBLOCK ? QLOAD_BUSY : QLOAD_ERROR;
	}
	/*
	 * Another run may have finished and removed the entry between our
	 * open and our lock: the files must still be the ones we hold.
	 */
	if (fstat(fd, &a) != 0 || stat(path, &b) != 0 ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		close(fd);
		return QLOAD_GONE;
	}
	e->msgfd = fd;
	entry_path(e, ".env", path, sizeof(path));
	if ((efd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		queue_release(e);
		if (errno == ENOENT)
			return QLOAD_GONE;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return QLOAD_ERROR;
	}
	text = read_file(efd, &len);
	close(efd);
	if (text == NULL) {
		move_aside(e, err, errlen, "unreadable envelope");
		queue_release(e);
		return QLOAD_CORRUPT;
	}
	if (queue_parse_env(text, len, env, m, why, sizeof(why)) != 0 ||
	    strcmp(m->id, id) != 0) {
		free(text);
		if (strcmp(m->id, id) != 0 && why[0] == '\0')
			strlcpy(why, "id mismatch", sizeof(why));
		move_aside(e, err, errlen, why);
		queue_release(e);
		return QLOAD_CORRUPT;
	}
	free(text);
	/* The message as transmitted, indexed again (-i: dots are data). */
	if ((sfd = private_spool(dir)) == -1) {
		snprintf(err, errlen, "cannot create a spool file: %s",
		    strerror(errno));
		queue_release(e);
		return QLOAD_ERROR;
	}
	msg_init(msg, sfd);
	if (lseek(fd, 0, SEEK_SET) != 0 ||
	    intake_read(fd, msg, 1, why, sizeof(why)) != INTAKE_OK) {
		msg_free(msg);
		close(sfd);
		msg_init(msg, -1);
		move_aside(e, err, errlen, "unreadable message");
		queue_release(e);
		return QLOAD_CORRUPT;
	}
	return QLOAD_OK;
}

static int
id_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
queue_list(const char *dir, size_t *np)
{
	DIR		*d;
	struct dirent	*de;
	char		**v = NULL;
	size_t		 n = 0, len, i;

	*np = 0;
	if ((d = opendir(dir)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len != QUEUE_ID_LEN + 4 ||
		    strcmp(de->d_name + QUEUE_ID_LEN, ".env") != 0)
			continue;
		for (i = 0; i < QUEUE_ID_LEN; i++)
			if (b16((unsigned char)de->d_name[i]) < 0)
				break;
		if (i != QUEUE_ID_LEN)
			continue;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrndup(de->d_name, QUEUE_ID_LEN);
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), id_cmp);
	*np = n;
	return v;
}

/* ------------------------------------------------------------ mailq */

/* Whether a delivery holds the entry now (Postfix marks it '*'). */
static int
entry_active(const char *dir, const char *id)
{
	char	 path[PATH_MAX + 32];
	int	 fd, busy;

	snprintf(path, sizeof(path), "%s/%s.msg", dir, id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	busy = flock(fd, LOCK_SH | LOCK_NB) != 0;
	close(fd);
	return busy;
}

static void
print_entry(FILE *out, const char *dir, const char *id, size_t *nreq,
    unsigned long long *bytes)
{
	struct envelope	 env;
	struct qmeta	 m;
	struct stat	 st;
	struct tm	 tm;
	char		 path[PATH_MAX + 32], when[32], err[256], *text;
	size_t		 len, i;
	time_t		 t;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s.env", dir, id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return;		/* delivered meanwhile */
	text = read_file(fd, &len);
	close(fd);
	envelope_init(&env);
	qmeta_init(&m);
	if (text == NULL || queue_parse_env(text, len, &env, &m, err,
	    sizeof(err)) != 0) {
		fprintf(out, "%-18s  (corrupt entry in %s: %s)\n\n", id, dir,
		    text == NULL ? "unreadable" : err);
		(*nreq)++;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.msg", dir, id);
	if (stat(path, &st) != 0)
		st.st_size = 0;
	t = m.arrival;
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
	fprintf(out, "%-18s%c %8lld %s  %s\n", id,
	    entry_active(dir, id) ? '*' : ' ', (long long)st.st_size, when,
	    env.sender[0] != '\0' ? env.sender : "MAILER-DAEMON");
	for (i = 0; i < env.nrcpts; i++) {
		const struct rcpt *r = &env.rcpts[i];

		if (r->state != RCPT_PENDING && r->state != RCPT_DEFERRED)
			continue;
		if (r->reason != NULL)
			fprintf(out, "%29s(%.200s)\n", "", r->reason);
		fprintf(out, "%29s%s\n", "", r->addr);
	}
	fputc('\n', out);
	(*nreq)++;
	*bytes += (unsigned long long)st.st_size;
out:
	free(text);
	qmeta_free(&m);
	envelope_free(&env);
}

size_t
queue_print(FILE *out, char *const *dirs, size_t ndirs)
{
	unsigned long long bytes = 0;
	size_t		 i, j, n, nreq = 0;
	char		**ids;
	int		 header = 0;

	for (i = 0; i < ndirs; i++) {
		ids = queue_list(dirs[i], &n);
		for (j = 0; j < n; j++) {
			if (!header) {
				fprintf(out, "-Queue ID--------- --Size-- "
				    "----Arrival Time---- "
				    "-Sender/Recipient-------\n");
				header = 1;
			}
			print_entry(out, dirs[i], ids[j], &nreq, &bytes);
			free(ids[j]);
		}
		free(ids);
	}
	if (nreq == 0)
		fprintf(out, "Mail queue is empty\n");
	else
		fprintf(out, "-- %llu Kbytes in %zu Request%s.\n",
		    (bytes + 1023) / 1024, nreq, nreq == 1 ? "" : "s");
	return nreq;
}

void
queue_clean(const char *dir, time_t now)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		 path[PATH_MAX + 300];
	size_t		 len;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len != QUEUE_ID_LEN + 8 ||
		    strcmp(de->d_name + QUEUE_ID_LEN, ".env.tmp") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		/* Written and renamed within one attempt: old means a crash. */
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    now - st.st_mtime > 3600)
			(void)unlink(path);
	}
	closedir(d);
}
