/*
 * names.h: this host's names (SPEC §4 `default_domain` and `helo`), each
 * found on first use and only when the configuration leaves it unset.
 *
 * The default domain is the configured `default_domain`, else the first
 * line of /etc/mailname (Debian Policy §11.6), else the host's fully
 * qualified name, else the bare host name (a warning under -v).
 *
 * The host's fully qualified name is gethostname() when it has a dot,
 * else the canonical name getaddrinfo() gives it (/etc/hosts, then DNS
 * as nsswitch.conf says). That lookup (lookup.c) is given at most
 * `timeout_dns` seconds and what is left of the `deadline`: a silent DNS
 * costs the caller that bound, once per run, never more.
 */
#ifndef MXSEND_NAMES_H
#define MXSEND_NAMES_H

#include <stdint.h>

#include "config.h"

#define NAMES_MAILNAME	"/etc/mailname"
#define NAMES_NSSWITCH	"/etc/nsswitch.conf"
#define NAMES_HOSTS	"/etc/hosts"

struct names {
	const struct config *cfg;
	int		 verbose;	/* -v: say which name was guessed */
	int64_t		 end_ms;	/* mono_ms() of the deadline, or 0 */
	int		 host_known;	/* host[] was looked up */
	int		 fqdn;		/* host[] has a dot */
	char		 host[256];
	int		 domain_known;
	int		 domain_bare;	/* domain[] is the bare host name */
	char		 domain[256];
};

/* cfg must outlive n; deadline_ms is mono_ms() at which the run ends. */
void	 names_init(struct names *n, const struct config *cfg, int verbose,
	    int64_t deadline_ms);

/* This host's name: fully qualified when it can be found. */
const char *names_host(struct names *n);

/* The domain of unqualified addresses, Message-ID: and Received:. */
const char *names_domain(struct names *n);

/*
 * The same when it is a domain, NULL when it is only the bare host name
 * (no default_domain, no /etc/mailname, no fully qualified name): then
 * recipients such as "root" cannot be qualified (envelope.h).
 */
const char *names_mail_domain(struct names *n);

/*
 * The EHLO name: `helo`, else the fully qualified host name, else NULL
 * (the session then says "[address]" of its socket, RFC 5321 §4.1.4).
 */
const char *names_helo(struct names *n);

/*
 * The first line of a mailname file as a domain: 0, -1 when there is no
 * such file, -2 when it cannot be read or its line is not a domain.
 */
int	 names_read_mailname(const char *path, char *out, size_t outlen);

/*
 * name's canonical name as the system resolver would give it from the
 * hosts file: 1 with it in out, 0 when the hosts file is asked first but
 * does not have name (the resolver goes on to DNS), -1 when the hosts
 * file is not what the resolver asks first (or cannot be read).
 */
int	 names_hosts_file(const char *nsswitch, const char *hosts,
	    const char *name, char *out, size_t outlen);

#endif
