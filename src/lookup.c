/*
 * lookup.c: getaddrinfo() in a child, bounded in time (lookup.h).
 *
 * The child writes its whole answer and exits; the parent reads it until
 * end of file or the bound, then reaps the child (killed first when the
 * bound passed). The answer is one struct reply: the same binary on both
 * sides of the pipe, so no encoding is needed.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "lookup.h"
#include "util.h"

#define REPLY_ADDRS	16

struct reply {
	int		 rc;		/* getaddrinfo()'s */
	size_t		 n;
	struct dns_addr	 addrs[REPLY_ADDRS];
	char		 canonname[256];
};

/* Copy what res holds into r. */
static void
reply_fill(struct reply *r, const struct addrinfo *res)
{
	const struct addrinfo *ai;

	if (res != NULL && res->ai_canonname != NULL)
		strlcpy(r->canonname, res->ai_canonname,
		    sizeof(r->canonname));
	for (ai = res; ai != NULL && r->n < REPLY_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(r->addrs[0].ss))
			continue;
		memcpy(&r->addrs[r->n].ss, ai->ai_addr, ai->ai_addrlen);
		r->addrs[r->n].len = ai->ai_addrlen;
		r->n++;
	}
}

static int
ask(const char *host, const struct lookup *l, int numeric, struct reply *r)
{
	struct addrinfo	 hints, *res = NULL;

	memset(r, 0, sizeof(*r));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = l->family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = (l->canon ? AI_CANONNAME : 0) |
	    (numeric ? AI_NUMERICHOST : 0);
	r->rc = getaddrinfo(host, NULL, &hints, &res);
	if (r->rc == 0)
		reply_fill(r, res);
	if (res != NULL)
		freeaddrinfo(res);
	return r->rc;
}

/* Read the child's reply into r until EOF or end_ms: 0 when it is whole. */
static int
read_reply(int fd, struct reply *r, int64_t end_ms)
{
	struct pollfd	 pfd;
	size_t		 len = 0;
	ssize_t		 got;
	int64_t		 left;

	pfd.fd = fd;
	pfd.events = POLLIN;
	while (len < sizeof(*r)) {
		if ((left = end_ms - mono_ms()) <= 0)
			return -1;
		pfd.revents = 0;
		got = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		got = read(fd, (char *)r + len, sizeof(*r) - len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		len += (size_t)got;
	}
	return 0;
}

/* Ask in a child; 0 with r filled, -1 (l->err set) when it did not end. */
static int
ask_bounded(const char *host, struct lookup *l, struct reply *r)
{
	int	 fds[2], whole, status;
	int64_t	 t0 = mono_ms();
	pid_t	 pid;

	if (pipe2(fds, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		snprintf(l->err, sizeof(l->err), "cannot look it up: %s",
		    strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		(void)ask(host, l, 0, r);
		(void)write_all(fds[1], r, sizeof(*r));
		_exit(0);
	}
	close(fds[1]);
	whole = read_reply(fds[0], r, l->end_ms) == 0;
	close(fds[0]);
	if (!whole)
		(void)kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!whole)
		snprintf(l->err, sizeof(l->err), "no answer within %lld ms",
		    (long long)(mono_ms() - t0));
	return whole ? 0 : -1;
}

/* Whether host is an IPv4 or IPv6 address rather than a name. */
static int
is_literal(const char *host)
{
	unsigned char	 buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

int
lookup_host(const char *host, struct lookup *l)
{
	struct reply	 r;
	size_t		 i;

	l->n = 0;
	l->canonname[0] = l->err[0] = '\0';
	/*
	 * A literal needs no resolver, and no child: its answer, or why it
	 * does not fit the address family, is the numeric one.
	 */
	if (ask(host, l, 1, &r) != 0 && !is_literal(host) &&
	    ask_bounded(host, l, &r) != 0)
		return -1;
	if (r.rc != 0) {
		strlcpy(l->err, gai_strerror(r.rc), sizeof(l->err));
		return -1;
	}
	for (i = 0; i < r.n && l->n < l->max; i++)
		l->addrs[l->n++] = r.addrs[i];
	strlcpy(l->canonname, r.canonname, sizeof(l->canonname));
	return 0;
}
