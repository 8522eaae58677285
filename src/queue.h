/*
 * queue.h: the durable queue (SPEC §7). Format: doc/queue.md.
 *
 * The queue in use is the first writable of queue_dir and
 * $HOME/.mxsend/queue; inside it each user has a directory of their own,
 * ROOT/UID (mode 0700, owned by that user), so that a queue_dir of mode
 * 1733 lets anyone queue while nobody can read, list or remove another
 * user's mail. An entry is two files in it:
 *
 *	ID.msg	the message exactly as transmitted (CRLF, header edits
 *		applied, not dot-stuffed); never rewritten; the lock
 *	ID.env	the envelope and per-recipient state, replaced atomically
 *		(written as ID.env.tmp, renamed)
 *
 * An entry exists once ID.env does. A delivery holds flock(LOCK_EX) on
 * ID.msg from creation (or load) to the end, so concurrent queue runs
 * and a fresh submission never deliver one entry at once.
 */
#ifndef MXSEND_QUEUE_H
#define MXSEND_QUEUE_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "envelope.h"
#include "message.h"
#include "options.h"
#include "util.h"

#define QUEUE_FORMAT		1	/* first line: "mxsend-queue 1" */
#define QUEUE_BACKOFF_FIRST	300	/* 5 min */
#define QUEUE_BACKOFF_MAX	14400	/* 4 h */

/* Per-recipient queue state beside struct rcpt (same index). */
struct qrcpt {
	unsigned	 attempts;
	time_t		 next;		/* next attempt; 0: at once */
	int		 reported;	/* failed, and reported to the sender
					   (bounce or dead.letter) already */
};

/* What an entry holds besides the message. */
struct qmeta {
	char		 id[QUEUE_ID_LEN + 1];
	time_t		 arrival;
	uid_t		 owner;
	int		 eightbit;	/* declare BODY=8BITMIME */
	enum dsn_ret	 ret;
	char		*envid;		/* NULL: none */
	int		 bounce;	/* -oem / bounce on at submission */
	int		 is_bounce;	/* a DSN we made: never bounced */
	struct qrcpt	*q;		/* env->nrcpts of them */
};

struct qentry {
	char		 dir[PATH_MAX];
	char		 id[QUEUE_ID_LEN + 1];
	int		 msgfd;		/* ID.msg, locked; -1 when closed */
};

/*
 * The directory of uid's entries under root ("ROOT/UID"), created (0700)
 * when create is set and missing, and refused unless it is a directory
 * owned by uid, not a symlink, not accessible to others. Returns 0, or
 * -1 with err.
 */
int	 queue_user_dir(const char *root, uid_t uid, int create, char *out,
	    size_t outlen, char *err, size_t errlen);

/*
 * The queue directory for a new entry: cfg->queue_dir, else
 * $HOME/.mxsend/queue (created 0700) with a warning in warn. With
 * skip_primary, only the second (err holds why the first failed, for
 * the warning). Returns 0, or -1 with err when none can be written.
 */
int	 queue_pick(const struct config *, uid_t, int skip_primary,
	    char *dir, size_t dirlen, char *warn, size_t warnlen, char *err,
	    size_t errlen);

/*
 * Create entry id in dir: ID.msg from msg (streamed, with its edits),
 * locked, then ID.env. Nothing is flushed (SPEC §7: a message delivered
 * at once pays no fsync). Returns 0 or -1 with err (nothing left behind).
 */
int	 queue_create(const char *dir, const char *id,
	    const struct message *msg, const struct envelope *,
	    const struct qmeta *, struct qentry *, char *err, size_t errlen);

/*
 * Rewrite ID.env with the current state. durable: fsync the new file,
 * the message and the directory first (the entry then survives a power
 * loss: call it before telling the caller the message is queued).
 */
int	 queue_commit(struct qentry *, const struct envelope *,
	    const struct qmeta *, int durable, char *err, size_t errlen);

/* Remove the entry (ID.env first: the entry is gone at that point). */
int	 queue_remove(struct qentry *, char *err, size_t errlen);

/* Close and unlock. */
void	 queue_release(struct qentry *);

enum queue_load_status {
	QLOAD_OK,
	QLOAD_BUSY,		/* locked by another delivery */
	QLOAD_GONE,		/* removed meanwhile */
	QLOAD_CORRUPT,		/* unreadable: moved aside (err says where) */
	QLOAD_ERROR		/* a system error (err) */
};

/*
 * Lock and load entry id of dir: the envelope (recipients in their
 * states; domains not grouped), the meta data, and the message (msg is
 * initialised on the entry's fd and indexed; msg->fd belongs to e).
 * A corrupt entry is renamed to ID.env.corrupt / ID.msg.corrupt.
 */
enum queue_load_status queue_load(const char *dir, const char *id,
	    struct qentry *, struct envelope *, struct qmeta *,
	    struct message *, char *err, size_t errlen);

/*
 * Parse the text of an ID.env file (exposed for the fuzz target and the
 * tests). Returns 0, or -1 with err naming the line.
 */
int	 queue_parse_env(const char *text, size_t len, struct envelope *,
	    struct qmeta *, char *err, size_t errlen);

/* Format env + meta as ID.env text (caller frees). */
char	*queue_format_env(const struct envelope *, const struct qmeta *,
	    size_t *lenp);

void	 qmeta_init(struct qmeta *);
void	 qmeta_free(struct qmeta *);

/* The ids of the entries in dir (sorted; caller frees each and the array). */
char	**queue_list(const char *dir, size_t *n);

/*
 * List the entries of dirs like Postfix's mailq: id ('*' when a delivery
 * holds it), size, arrival, sender, then each pending recipient with its
 * last error; a total line, or "Mail queue is empty". Returns the count.
 */
size_t	 queue_print(FILE *out, char *const *dirs, size_t ndirs);

/* Remove ID.env.tmp files older than an hour (left by a crash). */
void	 queue_clean(const char *dir, time_t now);

/* Back-off after attempts failed attempts (5 min, doubling, at most 4 h). */
time_t	 queue_backoff(unsigned attempts);

/* xtext (RFC 3461 §4) decoding; returns a new string or NULL if bad. */
char	*queue_xtext_decode(const char *, size_t);

#endif
