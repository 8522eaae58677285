/*
 * queue.h: the durable queue (SPEC §7). Format and crash states:
 * doc/queue.md.
 *
 * The queue in use is the first writable of queue_dir and
 * $HOME/.mxsend/queue (home from the password database); inside it each
 * user has a directory of their own, ROOT/UID (mode 0700, owned by that
 * user), so that a queue_dir of mode 1733 lets anyone queue while nobody
 * can read, list or remove another user's mail. An entry is two files:
 *
 *	ID.msg	the message as intake normalised it (CRLF, no line over
 *		998 octets, not dot-stuffed); written once, never copied;
 *		the lock
 *	ID.env	the envelope, the header edits and per-recipient state,
 *		replaced atomically (ID.env.tmp, created O_EXCL, renamed)
 *
 * An entry exists once ID.env does. A delivery holds flock(LOCK_EX) on
 * ID.msg from the spool's creation (or the entry's load) to the end.
 *
 * Trust boundary. Everything in a user directory is controlled by that
 * user, so:
 *  - a directory is opened once (O_DIRECTORY|O_NOFOLLOW) and checked
 *    through its descriptor; every operation on an entry is relative to
 *    it (openat, renameat, unlinkat, linkat), never by path;
 *  - an entry file is used only when it is a regular file with one link
 *    owned by the directory's owner, opened O_NOFOLLOW|O_NONBLOCK (a
 *    FIFO, device, symlink or hard link is reported and moved aside,
 *    never waited on, never read);
 *  - the owner of an entry is the owner of its directory (the process
 *    that handles it runs as that user), never a field of the entry;
 *  - root handles another user's directory only in a child that has
 *    dropped to that user (queue_visit): root's rights never touch a
 *    file a user controls.
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

#define QUEUE_FORMAT		2	/* first line: "mxsend-queue 2" */
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
	int		 eightbit;	/* declare BODY=8BITMIME */
	enum dsn_ret	 ret;
	char		*envid;		/* NULL: none */
	int		 bounce;	/* -oem / bounce on at submission */
	int		 is_bounce;	/* a DSN we made: never bounced */
	char		*prepend;	/* header edits (message.h), CRLF- */
	char		*append;	/* terminated fields; NULL: none */
	struct qrcpt	*q;		/* env->nrcpts of them */
};

/* Where a queue function reports what it refused or moved aside. */
typedef void (*queue_report_fn)(void *ctx, const char *line);

/* One user's directory of entries, open. */
struct qdir {
	int		 fd;		/* O_DIRECTORY|O_NOFOLLOW; -1: closed */
	uid_t		 owner;
	char		 path[PATH_MAX];	/* for messages only */
	queue_report_fn	 report;	/* NULL: silent */
	void		*rctx;
};

/*
 * Open a queue root (queue_dir, or a home's .mxsend/queue) and check it
 * through its descriptor: a directory owned by root or by uid, and not
 * writable by group or others unless the sticky bit is set (SPEC §7).
 * Returns the descriptor, or -1 with err.
 */
int	 queue_root_open(const char *path, uid_t uid, char *err,
	    size_t errlen);

/*
 * Open the directory of uid's entries under the root rootfd ("ROOT/UID"),
 * creating it (0700; the root is flushed then) when create is set. It
 * must be a directory owned by uid, not a symbolic link; one that others
 * may enter is made private again when we own it. Returns 0, or -1 with
 * err (a squatted directory: "belongs to uid N").
 */
int	 queue_dir_open(struct qdir *, int rootfd, const char *rootpath,
	    uid_t uid, int create, char *err, size_t errlen);
void	 queue_dir_close(struct qdir *);

/*
 * The queue directory for a new entry of uid: cfg->queue_dir, else
 * $HOME/.mxsend/queue (created 0700, parents flushed) with a warning in
 * warn. With skip_primary, only the second (err holds why the first
 * failed, for the warning). Returns 0, or -1 with err when none can be
 * written.
 */
int	 queue_pick(const struct config *, uid_t, int skip_primary,
	    struct qdir *, char *warn, size_t warnlen, char *err,
	    size_t errlen);

struct qentry {
	struct qdir	*dir;
	char		 id[QUEUE_ID_LEN + 1];
	int		 msgfd;		/* ID.msg, locked; -1 when closed */
	int		 linked;	/* ID.msg exists under its name */
	int		 named;		/* the spool is ID.spool (no
					   O_TMPFILE) */
};

/*
 * A new, empty, locked spool file for entry id in d, for intake to write
 * into (SPEC §5.1): an unnamed O_TMPFILE in d, else ID.spool created
 * O_EXCL. It is not an entry until queue_create(). Returns 0 or -1.
 */
int	 queue_spool(struct qdir *, const char *id, struct qentry *,
	    char *err, size_t errlen);

/*
 * Make the spool an entry: ID.msg linked (or ID.spool renamed), then
 * ID.env written. Nothing is flushed (SPEC §7: a message delivered at
 * once pays no fsync). Returns 0 or -1 with err (the spool stays).
 */
int	 queue_create(struct qentry *, const struct envelope *,
	    const struct qmeta *, char *err, size_t errlen);

/* Drop a spool that never became an entry (nothing left behind). */
void	 queue_discard(struct qentry *);

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
	QLOAD_CORRUPT,		/* cannot be an entry: moved aside (err) */
	QLOAD_ERROR		/* a local, temporary error (err): the
				   entry is left as it was */
};

/*
 * Lock and load entry id of d: the envelope (recipients in their states;
 * domains not grouped), the meta data, and the message (msg is set up on
 * the entry's descriptor, indexed in place, edits applied; msg->fd
 * belongs to e). Nothing is copied and no intake limit applies.
 */
enum queue_load_status queue_load(struct qdir *, const char *id,
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

/* The ids of the entries in d (sorted; caller frees each and the array). */
char	**queue_list(struct qdir *, size_t *n);

/*
 * Complete or clean what a crash left (doc/queue.md): an ID.msg or
 * ID.spool that no delivery holds and no ID.env names, an old
 * ID.env.tmp.
 */
void	 queue_clean(struct qdir *, time_t now);

/* What -bp counts over the directories it lists. */
struct qprint {
	size_t			 nreq;
	unsigned long long	 bytes;
	int			 header;	/* the title line is out */
};

/*
 * List the entries of d like Postfix's mailq: id ('*' when a delivery
 * holds it), size, arrival, sender, then each pending recipient with its
 * last error; entries moved aside are listed as corrupt.
 */
void	 queue_print_dir(FILE *, struct qdir *, struct qprint *);

/* The total line, or "Mail queue is empty". */
void	 queue_print_end(FILE *, const struct qprint *);

/*
 * Call fn on every user directory the caller may handle (SPEC §7): for
 * a user, their queue_dir/UID and $HOME/.mxsend/queue/UID; for root,
 * every queue_dir/UID and every local user's $HOME/.mxsend/queue/UID,
 * each in a child process that has become that user before it opens
 * anything there (root's own directories in this process). A squatted
 * queue_dir/UID is reported and, by root with move_squatted, renamed
 * aside. fn's ctx (ctxsize octets, plain data) travels back from the
 * child. Returns the number of directories handled.
 */
typedef void (*queue_visit_fn)(struct qdir *, void *ctx);

size_t	 queue_visit(const struct config *, int move_squatted,
	    queue_visit_fn, void *ctx, size_t ctxsize, queue_report_fn,
	    void *rctx);

/* Back-off after attempts failed attempts (5 min, doubling, at most 4 h). */
time_t	 queue_backoff(unsigned attempts);

/* xtext (RFC 3461 §4) decoding; returns a new string or NULL if bad. */
char	*queue_xtext_decode(const char *, size_t);

#endif
