/*
 * probes.h: the probe counter of -bv -v (SPEC §2: at most 200 probes per
 * domain per hour, counted in the queue directory).
 *
 * A probe is one RCPT TO written to a domain's MX host. The counter is a
 * text file, PROBES_FILE, in the caller's own queue directory (SPEC §7:
 * queue_dir/UID, mode 0700, owned by the caller; else
 * $HOME/.mxsend/queue/UID), so that each user is counted apart and nobody
 * else can read or change it:
 *
 *	mxsend-probes 1
 *	DOMAIN TIME COUNT	COUNT probes of DOMAIN reserved at TIME
 *	...			(Unix seconds); one line per reservation
 *
 * A line counts for PROBES_WINDOW seconds after its TIME (a sliding
 * hour). Probes are reserved before the connection is made and the
 * file is replaced (PROBES_TMP written O_EXCL, flushed, renamed, the
 * directory flushed) before any is sent; those that were not sent are
 * given back afterwards. A crash at any point therefore leaves a count
 * at least as high as the probes made, never lower. Every update holds
 * flock on PROBES_LOCK, a file that is never replaced, so that
 * concurrent runs (and the parallel workers of one run) take turns.
 *
 * A counter file that cannot be read as one (a hand edit, a planted FIFO
 * or link) says nothing about the probes made in the last hour: until it
 * is an hour old by its modification time, no probe is allowed, then it
 * is replaced by a fresh count (no line of it could still count).
 */
#ifndef MXSEND_PROBES_H
#define MXSEND_PROBES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define PROBES_LIMIT	200		/* per domain per window (SPEC §2) */
#define PROBES_WINDOW	3600		/* seconds */
#define PROBES_FILE	"probes"
#define PROBES_LOCK	"probes.lock"
#define PROBES_TMP	"probes.tmp"
#define PROBES_HEADER	"mxsend-probes 1\n"
#define PROBES_FILE_MAX	(16u * 1024 * 1024)	/* larger: corrupt */
#define PROBES_COUNT_MAX 1000000	/* the largest COUNT a line may hold */

/* One reservation: n probes of domain at time t. */
struct probe_line {
	char		*domain;
	int64_t		 t;
	unsigned	 n;
};

/* The lines of a counter file, in file order. */
struct probe_table {
	struct probe_line *v;
	size_t		 n;
};

void	 probe_table_init(struct probe_table *);
void	 probe_table_free(struct probe_table *);

/*
 * Parse the text of a counter file (len octets, any bytes) into an empty
 * table. Returns 0, or -1 with err naming the line (the table is then
 * empty again).
 */
int	 probe_table_parse(struct probe_table *, const char *text,
	    size_t len, char *err, size_t errlen);

/* The file's text for the table (caller frees; length in *lenp). */
char	*probe_table_format(const struct probe_table *, size_t *lenp);

/*
 * Drop the lines that no longer count at now; a line from the future (a
 * clock set back) is taken as made now, so it ends an hour from now.
 */
void	 probe_table_prune(struct probe_table *, int64_t now);

/* The probes of domain (compared without regard to case) in the table. */
unsigned probe_table_count(const struct probe_table *, const char *domain);

/* Add n probes of domain at t (joining a line of the same domain and t). */
void	 probe_table_add(struct probe_table *, const char *domain, int64_t t,
	    unsigned n);

/* Take back up to n probes of the line of domain at t, if it is there. */
void	 probe_table_sub(struct probe_table *, const char *domain, int64_t t,
	    unsigned n);

/*
 * The counter of this user's queue directory, opened at the first
 * reservation (a -bv that probes nothing touches no file). Its functions
 * may be called from several threads at once.
 */
struct probe_counter;

struct probe_counter *probe_counter_new(const struct config *);
void	 probe_counter_free(struct probe_counter *);

/*
 * Reserve up to n probes of domain now: returns how many may be made
 * (0 to n). When fewer than n, why says why (the limit and the count,
 * or the counter's trouble). *stamp names the reservation for
 * probe_release().
 */
size_t	 probe_reserve(struct probe_counter *, const char *domain, size_t n,
	    int64_t *stamp, char *why, size_t whylen);

/* Give back n probes of the reservation stamp that were not made. */
void	 probe_release(struct probe_counter *, const char *domain,
	    int64_t stamp, size_t n);

#endif
