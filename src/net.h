/*
 * net.h: the one I/O path to SMTP servers (ARCHITECTURE "One I/O path with
 * deadlines"). A connection is a non-blocking socket, optionally wrapped
 * in TLS (tls.h), with a read buffer for reply lines. Every call takes the
 * time-out of its stage (timeout_connect, timeout_command, timeout_data;
 * 0 means no time-out of its own) and is also bounded by the run's
 * deadline; both are enforced with poll(2), so a stalled or trickling
 * server can never hold the caller longer than the configured limits.
 */
#ifndef MXSEND_NET_H
#define MXSEND_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "dns.h"

struct tls_conn;			/* tls.c */

enum net_status {
	NET_OK,
	NET_TIMEOUT,		/* the stage's time-out passed */
	NET_DEADLINE,		/* the run's deadline passed */
	NET_CLOSED,		/* the peer closed the connection */
	NET_ERROR,		/* a socket or TLS error (err says which) */
	NET_LINE_TOO_LONG	/* a line over the caller's limit */
};

#define NET_RBUF	16384

struct conn {
	int		 fd;
	struct tls_conn	*tls;		/* NULL: plain text */
	struct timespec	 deadline;	/* CLOCK_MONOTONIC; 0: none */
	char		 rbuf[NET_RBUF];
	size_t		 rpos, rlen;
	char		 peer[80];	/* "192.0.2.1" or "2001:db8::1" */
	uint16_t	 port;
	char		 err[256];	/* reason for the last failure */
	unsigned long	 nwrites;	/* send(2)s or TLS writes made: each
					   flight should cost one (tests) */
};

/*
 * Set the absolute deadline of the run: now + seconds (0 = none). Stored in
 * every conn opened with it.
 */
void	 net_deadline_set(struct timespec *, unsigned seconds);

/*
 * Connect to addr:port within timeout seconds (and the deadline).
 * Returns NET_OK with c ready, or a failure with c->err set
 * ("connect to 192.0.2.1:25: Connection refused", "... timed out").
 */
enum net_status net_connect(struct conn *c, const struct dns_addr *addr,
	    uint16_t port, unsigned timeout, const struct timespec *deadline);

/*
 * Write all of p (through TLS when active). Returns NET_OK or a failure.
 * While waiting to write, pending input is not read: callers bound what
 * they pipeline (smtp.c) so that the server's replies fit its buffers.
 */
enum net_status net_write(struct conn *c, const void *p, size_t n,
	    unsigned timeout);

/*
 * Read one line ending in LF (a CR before it is removed) into line, NUL
 * terminated, *len its length. A line longer than max - 1 bytes returns
 * NET_LINE_TOO_LONG (the rest of the line is not consumed). The time-out
 * applies to the whole line, so a server that trickles one byte at a time
 * cannot stretch it.
 */
enum net_status net_read_line(struct conn *c, char *line, size_t max,
	    size_t *len, unsigned timeout);

/*
 * The same with an end time from net_stage_end(), so that several lines
 * (a multi-line reply) share one time-out; timeout is only for messages.
 */
enum net_status net_read_line_until(struct conn *c, char *line, size_t max,
	    size_t *len, int64_t end, unsigned timeout);

/* Whether unread input is already buffered (pipelining sanity checks). */
int	 net_pending(const struct conn *c);

/* Close (with a TLS close_notify when active, bounded to 1 s). */
void	 net_close(struct conn *c);

/*
 * For tls.c, whose handshake must obey the same limits: the monotonic time
 * in milliseconds at which a stage of timeout seconds started now ends
 * (INT64_MAX for a time-out of 0, which leaves only the deadline), and a
 * wait until c's socket is readable (want_write 0) or writable, giving up
 * at end or at c's deadline. Returns NET_OK, NET_TIMEOUT, NET_DEADLINE or
 * NET_ERROR (errno set); c->err is left alone.
 */
int64_t	 net_stage_end(unsigned timeout);
enum net_status net_wait(struct conn *c, int want_write, int64_t end);

#endif
