/*
 * net.c: TCP connections to SMTP servers, and the one read/write path that
 * every SMTP byte takes (ARCHITECTURE "One I/O path with deadlines").
 * Sockets are non-blocking from the start; every wait is a poll(2) bounded
 * by the stage's time-out and the run's deadline, both measured on
 * CLOCK_MONOTONIC so that a clock step cannot stretch or cut them. Reply
 * lines end in LF with an optional CR before it (RFC 5321 §2.3.8 asks for
 * CRLF, but a lone LF costs nothing to accept); the time-out of a line
 * covers the whole line (RFC 5321 §4.5.3.2 limits are per reply, not per
 * byte).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "tls.h"
#include "util.h"


static int64_t
deadline_ms(const struct conn *c)
{
	if (c->deadline.tv_sec == 0 && c->deadline.tv_nsec == 0)
		return INT64_MAX;
	return (int64_t)c->deadline.tv_sec * 1000 +
	    c->deadline.tv_nsec / 1000000;
}

void
net_deadline_set(struct timespec *ts, unsigned seconds)
{
	ts->tv_sec = 0;
	ts->tv_nsec = 0;
	if (seconds == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += seconds;
}

int64_t
net_stage_end(unsigned timeout)
{
	if (timeout == 0)
		return INT64_MAX;
	return mono_ms() + (int64_t)timeout * 1000;
}

enum net_status
net_wait(struct conn *c, int want_write, int64_t end)
{
	struct pollfd	 pfd;
	int64_t		 now, dl, limit, ms;
	int		 r;

	dl = deadline_ms(c);
	limit = end < dl ? end : dl;
	for (;;) {
		now = mono_ms();
		if (now >= limit)
			return dl <= end ? NET_DEADLINE : NET_TIMEOUT;
		ms = limit - now;
		if (ms > INT_MAX)
			ms = INT_MAX;
		pfd.fd = c->fd;
		pfd.events = want_write ? POLLOUT : POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)ms);
		/* POLLERR and POLLHUP too: the next I/O call says what. */
		if (r > 0)
			return NET_OK;
		if (r == -1 && errno != EINTR)
			return NET_ERROR;
	}
}

/* "192.0.2.1:25" or "[2001:db8::1]:25", for messages. */
static void
where(const struct conn *c, char *out, size_t outlen)
{
	if (strchr(c->peer, ':') != NULL)
		snprintf(out, outlen, "[%s]:%u", c->peer, (unsigned)c->port);
	else
		snprintf(out, outlen, "%s:%u", c->peer, (unsigned)c->port);
}

static enum net_status
fail(struct conn *c, enum net_status st, const char *what, const char *why)
{
	char	 w[128];

	where(c, w, sizeof(w));
	snprintf(c->err, sizeof(c->err), "%s %s: %s", what, w, why);
	return st;
}

/* A failed net_wait() as a message: which limit, or which error. */
static enum net_status
fail_wait(struct conn *c, enum net_status st, const char *what,
    unsigned timeout)
{
	char	 why[64];

	switch (st) {
	case NET_TIMEOUT:
		snprintf(why, sizeof(why), "timed out after %u s", timeout);
		break;
	case NET_DEADLINE:
		snprintf(why, sizeof(why), "deadline reached");
		break;
	default:
		snprintf(why, sizeof(why), "poll: %s", strerror(errno));
		st = NET_ERROR;
		break;
	}
	return fail(c, st, what, why);
}

static void
conn_reset(struct conn *c, uint16_t port, const struct timespec *deadline)
{
	c->fd = -1;
	c->tls = NULL;
	c->rpos = c->rlen = 0;
	c->err[0] = '\0';
	c->nwrites = 0;
	c->port = port;
	c->peer[0] = '\0';
	if (deadline != NULL)
		c->deadline = *deadline;
	else
		c->deadline.tv_sec = c->deadline.tv_nsec = 0;
}

/* addr with port as a sockaddr, and its text in c->peer for messages. */
static enum net_status
peer_sockaddr(struct conn *c, const struct dns_addr *addr, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *sl)
{
	const void	*ip;

	if (addr->len > sizeof(*ss) || addr->len < sizeof(sa_family_t))
		return fail(c, NET_ERROR, "connect to", "bad address");
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &addr->ss, addr->len);
	*sl = addr->len;
	switch (ss->ss_family) {
	case AF_INET:
		((struct sockaddr_in *)ss)->sin_port = htons(port);
		ip = &((struct sockaddr_in *)ss)->sin_addr;
		break;
	case AF_INET6:
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
		ip = &((struct sockaddr_in6 *)ss)->sin6_addr;
		break;
	default:
		return fail(c, NET_ERROR, "connect to",
		    "unsupported address family");
	}
	if (inet_ntop(ss->ss_family, ip, c->peer, sizeof(c->peer)) == NULL)
		strlcpy(c->peer, "?", sizeof(c->peer));
	return NET_OK;
}

enum net_status
net_connect(struct conn *c, const struct dns_addr *addr, uint16_t port,
    unsigned timeout, const struct timespec *deadline)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	enum net_status		 st;
	int64_t			 end;
	int			 soerr, one = 1;

	end = net_stage_end(timeout);
	conn_reset(c, port, deadline);
	if ((st = peer_sockaddr(c, addr, port, &ss, &sl)) != NET_OK)
		return st;

	/* A connection begun after the deadline could do no good. */
	if (mono_ms() >= deadline_ms(c))
		return fail(c, NET_DEADLINE, "connect to", "deadline reached");

	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		return fail(c, NET_ERROR, "connect to", strerror(errno));
	/*
	 * SPEC §6: every flight is written whole, so Nagle's algorithm can
	 * only delay it: a short write (GnuTLS's 6-byte ChangeCipherSpec, a
	 * body after its command) would wait for the peer's delayed ACK, up
	 * to 40 ms per turn. Set before connecting, so the handshake has it.
	 */
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1) {
		st = fail(c, NET_ERROR, "connect to", strerror(errno));
		goto bad;
	}
	if (connect(c->fd, (struct sockaddr *)&ss, sl) == 0)
		return NET_OK;
	/* After EINTR the connection still completes in the background. */
	if (errno != EINPROGRESS && errno != EINTR) {
		st = fail(c, NET_ERROR, "connect to", strerror(errno));
		goto bad;
	}
	if ((st = net_wait(c, 1, end)) != NET_OK) {
		st = fail_wait(c, st, "connect to", timeout);
		goto bad;
	}
	sl = sizeof(soerr);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
		soerr = errno;
	if (soerr != 0) {
		st = fail(c, NET_ERROR, "connect to", strerror(soerr));
		goto bad;
	}
	return NET_OK;
bad:
	close(c->fd);
	c->fd = -1;
	return st;
}

enum net_status
net_write(struct conn *c, const void *p, size_t n, unsigned timeout)
{
	const char	*s = p;
	char		 why[160];
	enum net_status	 st;
	int64_t		 end;
	ssize_t		 w;
	size_t		 off = 0;
	int		 again, want_write;

	end = net_stage_end(timeout);
	while (off < n) {
		again = 0;
		want_write = 1;
		c->nwrites++;
		if (c->tls != NULL) {
			w = tls_write(c->tls, s + off, n - off, &again,
			    &want_write, why, sizeof(why));
			if (w == 0)
				return fail(c, NET_CLOSED, "write to",
				    "connection closed");
			if (w == -1 && !again)
				return fail(c, NET_ERROR, "write to", why);
		} else {
			/* MSG_NOSIGNAL: a closed peer is EPIPE, not death. */
			w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);
			if (w == -1) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					return fail(c, NET_ERROR, "write to",
					    strerror(errno));
				again = 1;
			}
		}
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if ((st = net_wait(c, want_write, end)) != NET_OK)
			return fail_wait(c, st, "write to", timeout);
	}
	return NET_OK;
}

/* Refill the empty read buffer, waiting at most until end. */
static enum net_status
fill(struct conn *c, int64_t end, unsigned timeout)
{
	char		 why[160];
	enum net_status	 st;
	ssize_t		 r;
	int		 again, want_write;

	for (;;) {
		again = 0;
		want_write = 0;
		if (c->tls != NULL) {
			/* Decrypted bytes inside GnuTLS come out first. */
			r = tls_read(c->tls, c->rbuf, sizeof(c->rbuf), &again,
			    &want_write, why, sizeof(why));
			if (r == -1 && !again)
				return fail(c, NET_ERROR, "read from", why);
		} else {
			r = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
			if (r == -1) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					return fail(c, NET_ERROR, "read from",
					    strerror(errno));
				again = 1;
			}
		}
		if (r == 0)
			return fail(c, NET_CLOSED, "read from",
			    "connection closed by the server");
		if (r > 0) {
			c->rpos = 0;
			c->rlen = (size_t)r;
			return NET_OK;
		}
		if ((st = net_wait(c, want_write, end)) != NET_OK)
			return fail_wait(c, st, "read from", timeout);
	}
}

enum net_status
net_read_line(struct conn *c, char *line, size_t max, size_t *len,
    unsigned timeout)
{
	return net_read_line_until(c, line, max, len, net_stage_end(timeout),
	    timeout);
}

enum net_status
net_read_line_until(struct conn *c, char *line, size_t max, size_t *len,
    int64_t end, unsigned timeout)
{
	enum net_status	 st;
	size_t		 got = 0, n;
	char		 why[64], ch;

	*len = 0;
	if (max == 0)
		return fail(c, NET_LINE_TOO_LONG, "read from",
		    "no room for a line");
	line[0] = '\0';
	for (;;) {
		while (c->rpos < c->rlen) {
			ch = c->rbuf[c->rpos];
			if (ch == '\n') {
				n = got;
				if (n > 0 && line[n - 1] == '\r')
					n--;
				if (n > max - 1)
					goto toolong;
				c->rpos++;
				line[n] = '\0';
				*len = n;
				return NET_OK;
			}
			/*
			 * Room for max raw bytes: the last may be a CR that
			 * the LF after it removes again.
			 */
			if (got == max)
				goto toolong;
			line[got++] = ch;
			c->rpos++;
		}
		c->rpos = c->rlen = 0;
		if ((st = fill(c, end, timeout)) != NET_OK) {
			n = got < max ? got : max - 1;
			line[n] = '\0';
			*len = n;
			return st;
		}
	}
toolong:
	line[max - 1] = '\0';
	*len = max - 1;
	snprintf(why, sizeof(why), "line longer than %zu bytes", max - 1);
	return fail(c, NET_LINE_TOO_LONG, "read from", why);
}

int
net_pending(const struct conn *c)
{
	if (c->rpos < c->rlen)
		return 1;
	return c->tls != NULL && tls_pending(c->tls) > 0;
}

void
net_close(struct conn *c)
{
	if (c->tls != NULL) {
		tls_end(c->tls);
		c->tls = NULL;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	c->rpos = c->rlen = 0;
}
