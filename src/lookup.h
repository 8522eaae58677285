/*
 * lookup.h: getaddrinfo() bounded in time. The system resolver (nss:
 * /etc/hosts, DNS, container name services) has no time-out of its own
 * that mxsend can set, and libresolv's retries behind it take tens of
 * seconds when DNS is silent. Names that need nss -- the relay's, this
 * host's own -- are looked up here: in a child process, given until a
 * monotonic time, and killed when that passes.
 */
#ifndef MXSEND_LOOKUP_H
#define MXSEND_LOOKUP_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

/* One address, as dns.c's lookups give them too. */
struct dns_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
};

struct lookup {
	int		 family;	/* AF_UNSPEC, AF_INET, AF_INET6 */
	int		 canon;		/* ask for the canonical name */
	int64_t		 end_ms;	/* mono_ms() when it must end */
	/* Results. */
	struct dns_addr	*addrs;		/* caller's array of max entries */
	size_t		 max;
	size_t		 n;
	char		 canonname[256];	/* "" when not asked or none */
	char		 err[256];		/* why n is 0 */
};

/*
 * Look host up. An IP literal is converted at once; any other name is
 * asked of getaddrinfo() in a child. Returns 0 with l->n addresses (and
 * l->canonname when asked), or -1 with l->err: not found, or "no answer
 * within N ms" when the bound passed.
 */
int	 lookup_host(const char *host, struct lookup *l);

#endif
