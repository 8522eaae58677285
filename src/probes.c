/*
 * probes.c: the probe counter of -bv -v (SPEC §2), in the caller's queue
 * directory (SPEC §7). The format, the crash states and the treatment of
 * a corrupt file are in probes.h.
 *
 * The file is reached only through the descriptor of the user directory
 * that queue_pick() opened and checked (openat, renameat, unlinkat), and
 * used only when it is a regular file with one link owned by that
 * directory's owner, opened O_NOFOLLOW|O_NONBLOCK: what the user planted
 * in their own directory can refuse probes, never block or redirect a
 * write.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "probes.h"
#include "queue.h"
#include "util.h"

#define LOCK_TRIES	1000	/* of LOCK_WAIT_MS each: 10 s in all */
#define LOCK_WAIT_MS	10
#define DOMAIN_MAX	255
#define TIME_DIGITS	18	/* Unix seconds, far beyond any clock */
#define COUNT_DIGITS	7	/* PROBES_COUNT_MAX */

struct probe_counter {
	const struct config *cfg;
	pthread_mutex_t	 mu;		/* the workers of one run */
	int		 state;		/* C_CLOSED, C_OPEN, C_FAILED */
	struct qdir	 dir;
	char		 err[PATH_MAX + 1200];	/* with C_FAILED */
};

enum { C_CLOSED, C_OPEN, C_FAILED };

/* ------------------------------------------------------------- table */

void
probe_table_init(struct probe_table *pt)
{
	pt->v = NULL;
	pt->n = 0;
}

void
probe_table_free(struct probe_table *pt)
{
	size_t	 i;

	for (i = 0; i < pt->n; i++)
		free(pt->v[i].domain);
	free(pt->v);
	probe_table_init(pt);
}

/* A decimal number of 1 to maxdigits digits at most max; -1 if not. */
static int64_t
parse_number(const char *s, size_t len, size_t maxdigits, int64_t max)
{
	int64_t	 v = 0;
	size_t	 i;

	if (len == 0 || len > maxdigits)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* A domain as the file holds it: graphic ASCII, no space. */
static int
domain_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > DOMAIN_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] < '!' || s[i] > '~')
			return 0;
	return 1;
}

/* "DOMAIN TIME COUNT" (no LF) into l; 0, or -1 with what is wrong. */
static int
parse_line(const char *p, size_t len, struct probe_line *l,
    const char **what)
{
	const char	*sp1, *sp2, *end = p + len;
	int64_t		 t, n;

	sp1 = memchr(p, ' ', len);
	sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) :
	    NULL;
	if (sp2 == NULL || memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1))) {
		*what = "not three fields";
		return -1;
	}
	if (!domain_ok(p, (size_t)(sp1 - p))) {
		*what = "bad domain";
		return -1;
	}
	t = parse_number(sp1 + 1, (size_t)(sp2 - sp1 - 1), TIME_DIGITS,
	    INT64_MAX / 2);
	n = parse_number(sp2 + 1, (size_t)(end - sp2 - 1), COUNT_DIGITS,
	    PROBES_COUNT_MAX);
	if (t < 0 || n < 1) {
		*what = t < 0 ? "bad time" : "bad count";
		return -1;
	}
	l->domain = xstrndup(p, (size_t)(sp1 - p));
	l->t = t;
	l->n = (unsigned)n;
	return 0;
}

int
probe_table_parse(struct probe_table *pt, const char *text, size_t len,
    char *err, size_t errlen)
{
	size_t		 hl = strlen(PROBES_HEADER), off, lineno = 1;
	const char	*nl, *what;
	struct probe_line l;

	probe_table_init(pt);
	if (len < hl || memcmp(text, PROBES_HEADER, hl) != 0) {
		snprintf(err, errlen, "line 1: not \"%.*s\"", (int)hl - 1,
		    PROBES_HEADER);
		return -1;
	}
	for (off = hl; off < len; off = (size_t)(nl - text) + 1) {
		lineno++;
		if ((nl = memchr(text + off, '\n', len - off)) == NULL) {
			snprintf(err, errlen, "line %zu: no end of line",
			    lineno);
			goto bad;
		}
		if (parse_line(text + off, (size_t)(nl - text) - off, &l,
		    &what) != 0) {
			snprintf(err, errlen, "line %zu: %s", lineno, what);
			goto bad;
		}
		pt->v = xreallocarray(pt->v, pt->n + 1, sizeof(*pt->v));
		pt->v[pt->n++] = l;
	}
	return 0;
bad:
	probe_table_free(pt);
	return -1;
}

char *
probe_table_format(const struct probe_table *pt, size_t *lenp)
{
	struct buf	 b;
	size_t		 i;

	buf_init(&b);
	buf_adds(&b, PROBES_HEADER);
	for (i = 0; i < pt->n; i++)
		buf_printf(&b, "%s %lld %u\n", pt->v[i].domain,
		    (long long)pt->v[i].t, pt->v[i].n);
	*lenp = b.len;
	return buf_release(&b);
}

void
probe_table_prune(struct probe_table *pt, int64_t now)
{
	size_t	 i, k = 0;

	for (i = 0; i < pt->n; i++) {
		if (pt->v[i].t > now)
			pt->v[i].t = now;
		if (now - pt->v[i].t >= PROBES_WINDOW) {
			free(pt->v[i].domain);
			continue;
		}
		pt->v[k++] = pt->v[i];
	}
	pt->n = k;
}

unsigned
probe_table_count(const struct probe_table *pt, const char *domain)
{
	uint64_t sum = 0;
	size_t	 i;

	for (i = 0; i < pt->n; i++)
		if (ascii_strcasecmp(pt->v[i].domain, domain) == 0)
			sum += pt->v[i].n;
	return sum > UINT_MAX ? UINT_MAX : (unsigned)sum;
}

static struct probe_line *
find_line(const struct probe_table *pt, const char *domain, int64_t t)
{
	size_t	 i;

	for (i = 0; i < pt->n; i++)
		if (pt->v[i].t == t &&
		    ascii_strcasecmp(pt->v[i].domain, domain) == 0)
			return &pt->v[i];
	return NULL;
}

void
probe_table_add(struct probe_table *pt, const char *domain, int64_t t,
    unsigned n)
{
	struct probe_line *l;

	if (n == 0)
		return;
	if ((l = find_line(pt, domain, t)) != NULL) {
		l->n = l->n > PROBES_COUNT_MAX - n ? PROBES_COUNT_MAX :
		    l->n + n;
		return;
	}
	if (n > PROBES_COUNT_MAX)
		n = PROBES_COUNT_MAX;
	pt->v = xreallocarray(pt->v, pt->n + 1, sizeof(*pt->v));
	pt->v[pt->n].domain = xstrdup(domain);
	pt->v[pt->n].t = t;
	pt->v[pt->n].n = n;
	pt->n++;
}

void
probe_table_sub(struct probe_table *pt, const char *domain, int64_t t,
    unsigned n)
{
	struct probe_line *l;

	if ((l = find_line(pt, domain, t)) == NULL)
		return;		/* pruned: it counts no more anyway */
	l->n -= n < l->n ? n : l->n;
	if (l->n > 0)
		return;
	free(l->domain);
	*l = pt->v[--pt->n];
}

/* ----------------------------------------------------------- the file */

struct probe_counter *
probe_counter_new(const struct config *cfg)
{
	struct probe_counter *pc = xcalloc(1, sizeof(*pc));

	pc->cfg = cfg;
	pc->dir.fd = -1;
	pc->state = C_CLOSED;
	pthread_mutex_init(&pc->mu, NULL);
	return pc;
}

void
probe_counter_free(struct probe_counter *pc)
{
	if (pc == NULL)
		return;
	if (pc->state == C_OPEN)
		queue_dir_close(&pc->dir);
	pthread_mutex_destroy(&pc->mu);
	free(pc);
}

/* The user's queue directory, once (SPEC §7's choice of queue). */
static int
counter_open(struct probe_counter *pc)
{
	char	 warn[PATH_MAX + 1024], err[PATH_MAX + 1024];

	if (pc->state == C_CLOSED) {
		if (queue_pick(pc->cfg, getuid(), 0, &pc->dir, warn,
		    sizeof(warn), err, sizeof(err)) != 0) {
			snprintf(pc->err, sizeof(pc->err), "no queue "
			    "directory to count probes in: %s", err);
			pc->state = C_FAILED;
		} else {
			if (warn[0] != '\0')
				say("warning: %s", warn);
			pc->state = C_OPEN;
		}
	}
	return pc->state == C_OPEN ? 0 : -1;
}

/*
 * flock on PROBES_LOCK, waiting at most LOCK_TRIES * LOCK_WAIT_MS: an
 * update holds it for a few file operations only. Returns the locked
 * descriptor, or -1 with why.
 */
static int
counter_lock(struct probe_counter *pc, char *why, size_t whylen)
{
	const struct timespec pause = { 0, LOCK_WAIT_MS * 1000000L };
	struct stat	 st;
	int		 fd, tries;

	fd = openat(pc->dir.fd, PROBES_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd == -1 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != pc->dir.owner) {
		snprintf(why, whylen, "cannot use the probe counter's lock "
		    "%s/%s: %s", pc->dir.path, PROBES_LOCK, fd == -1 ?
		    strerror(errno) : "not a regular file of its owner");
		if (fd != -1)
			close(fd);
		return -1;
	}
	for (tries = 0; tries < LOCK_TRIES; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		nanosleep(&pause, NULL);
	}
	snprintf(why, whylen, "cannot lock the probe counter %s/%s: %s",
	    pc->dir.path, PROBES_LOCK, tries == LOCK_TRIES ?
	    "held by another run too long" : strerror(errno));
	close(fd);
	return -1;
}

/*
 * The file's text into b: 0 (an absent file is empty), or -1 with what
 * is wrong in err. *mtime is its modification time (-1: none known).
 */
static int
counter_read(struct probe_counter *pc, struct buf *b, int64_t *mtime,
    char *err, size_t errlen)
{
	struct stat	 st;
	int		 fd, rc = -1;

	*mtime = -1;
	fd = openat(pc->dir.fd, PROBES_FILE, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT)
		return 0;
	if (fd == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fstatat(pc->dir.fd, PROBES_FILE, &st,
		    AT_SYMLINK_NOFOLLOW) == 0)
			*mtime = st.st_mtime;
		return -1;
	}
	if (fstat(fd, &st) == 0)
		*mtime = st.st_mtime;
	if (*mtime == -1)
		snprintf(err, errlen, "%s", strerror(errno));
	else if (!S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != pc->dir.owner)
		snprintf(err, errlen, "not a regular file with one link "
		    "owned by %lu", (unsigned long)pc->dir.owner);
	else if (read_all(fd, PROBES_FILE_MAX, 1, b) != 0)
		snprintf(err, errlen, "%s", errno == EILSEQ ? "a NUL octet" :
		    strerror(errno));
	else
		rc = 0;
	close(fd);
	return rc;
}

/*
 * The table as the file says at now. A corrupt file allows nothing
 * until it is an hour old, then counts as empty (probes.h). Returns 0,
 * or -1 with why.
 */
static int
counter_load(struct probe_counter *pc, struct probe_table *pt, int64_t now,
    char *why, size_t whylen)
{
	struct buf	 b;
	int64_t		 mtime;
	char		 err[512];
	int		 rc;

	buf_init(&b);
	probe_table_init(pt);
	rc = counter_read(pc, &b, &mtime, err, sizeof(err));
	if (rc == 0 && b.len > 0)
		rc = probe_table_parse(pt, b.data, b.len, err, sizeof(err));
	buf_free(&b);
	if (rc == 0)
		return 0;
	if (mtime >= 0 && mtime <= now && now - mtime >= PROBES_WINDOW) {
		say("warning: probe counter %s/%s is unusable (%s); it is an "
		    "hour old, so it is counted again from zero", pc->dir.path,
		    PROBES_FILE, err);
		return 0;
	}
	snprintf(why, whylen, "probe counter %s/%s is unusable (%s): no "
	    "probes until it is an hour old or removed", pc->dir.path,
	    PROBES_FILE, err);
	return -1;
}

/* Replace the file with pt; durable: flushed before and after rename. */
static int
counter_store(struct probe_counter *pc, const struct probe_table *pt,
    int durable, char *why, size_t whylen)
{
	char	*text;
	size_t	 len;
	int	 fd, rc = -1;

	/* Under the lock, a PROBES_TMP left behind is a crash's. */
	(void)unlinkat(pc->dir.fd, PROBES_TMP, 0);
	fd = openat(pc->dir.fd, PROBES_TMP, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(why, whylen, "cannot write %s/%s: %s", pc->dir.path,
		    PROBES_TMP, strerror(errno));
		return -1;
	}
	text = probe_table_format(pt, &len);
	if (write_all(fd, text, len) == 0 && (!durable || fsync(fd) == 0) &&
	    close(fd) == 0) {
		fd = -1;
		if (renameat(pc->dir.fd, PROBES_TMP, pc->dir.fd,
		    PROBES_FILE) == 0 && (!durable || fsync(pc->dir.fd) == 0))
			rc = 0;
	}
	if (rc != 0) {
		snprintf(why, whylen, "cannot update the probe counter "
		    "%s/%s: %s", pc->dir.path, PROBES_FILE, strerror(errno));
		if (fd != -1)
			close(fd);
		(void)unlinkat(pc->dir.fd, PROBES_TMP, 0);
	}
	free(text);
	return rc;
}

/* The grant for n more probes of domain, given the table; why if short. */
static size_t
grant(const struct probe_counter *pc, const struct probe_table *pt,
    const char *domain, size_t n, char *why, size_t whylen)
{
	unsigned	 have = probe_table_count(pt, domain);
	size_t		 room = have < PROBES_LIMIT ? PROBES_LIMIT - have : 0;

	if (room >= n)
		return n;
	snprintf(why, whylen, "probe limit reached: %u probes of %s in the "
	    "last hour, at most %u (counted in %s/%s)", have, domain,
	    PROBES_LIMIT, pc->dir.path, PROBES_FILE);
	return room;
}

size_t
probe_reserve(struct probe_counter *pc, const char *domain, size_t n,
    int64_t *stamp, char *why, size_t whylen)
{
	struct probe_table pt;
	size_t		 granted = 0;
	int64_t		 now;
	int		 lockfd;

	*stamp = 0;
	if (!domain_ok(domain, strlen(domain))) {
		snprintf(why, whylen, "cannot count probes of %.300s", domain);
		return 0;
	}
	pthread_mutex_lock(&pc->mu);
	if (counter_open(pc) != 0)
		snprintf(why, whylen, "%s", pc->err);
	else if ((lockfd = counter_lock(pc, why, whylen)) != -1) {
		now = (int64_t)time(NULL);
		if (counter_load(pc, &pt, now, why, whylen) == 0) {
			probe_table_prune(&pt, now);
			granted = grant(pc, &pt, domain, n, why, whylen);
			probe_table_add(&pt, domain, now, (unsigned)granted);
			if (granted > 0 &&
			    counter_store(pc, &pt, 1, why, whylen) != 0)
				granted = 0;
			probe_table_free(&pt);
			*stamp = now;
		}
		close(lockfd);
	}
	pthread_mutex_unlock(&pc->mu);
	return granted;
}

void
probe_release(struct probe_counter *pc, const char *domain, int64_t stamp,
    size_t n)
{
	struct probe_table pt;
	char		 why[PATH_MAX + 1024];
	int64_t		 now;
	int		 lockfd;

	if (n == 0)
		return;
	pthread_mutex_lock(&pc->mu);
	if (pc->state == C_OPEN &&
	    (lockfd = counter_lock(pc, why, sizeof(why))) != -1) {
		now = (int64_t)time(NULL);
		/* Any trouble: the count stays higher, which is safe. */
		if (counter_load(pc, &pt, now, why, sizeof(why)) == 0) {
			probe_table_sub(&pt, domain, stamp, n > UINT_MAX ?
			    UINT_MAX : (unsigned)n);
			probe_table_prune(&pt, now);
			(void)counter_store(pc, &pt, 0, why, sizeof(why));
			probe_table_free(&pt);
		}
		close(lockfd);
	}
	pthread_mutex_unlock(&pc->mu);
}
