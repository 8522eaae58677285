/*
 * dns.h: MX, A/AAAA and TLSA lookups through glibc's reentrant resolver
 * (res_ninit / res_nquery / res_nclose), with typed results that keep
 * "the DNS is broken right now" apart from "this domain has no mail"
 * (SPEC §6 direct route steps 1-2, RFC 5321 §5.1, RFC 7505).
 *
 * One struct dns per delivery worker: the resolver state is not shared, so
 * any number of lookups may run at once in different threads.
 */
#ifndef MXSEND_DNS_H
#define MXSEND_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/socket.h>

#include "config.h"
#include "lookup.h"

enum dns_status {
	DNS_OK,			/* hosts (or records) found */
	DNS_NULLMX,		/* RFC 7505: the domain accepts no mail */
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_NODATA,		/* exists, but no MX and no address records */
	DNS_TEMPFAIL		/* SERVFAIL, REFUSED, time-out, malformed... */
};

#define DNS_NAME_MAX	1025	/* NS_MAXDNAME */
#define DNS_CNAME_DEPTH	8	/* CNAME links followed per lookup */


#define DNS_SKIPPED_MAX	96

struct mx_host {
	char		 name[DNS_NAME_MAX];
	unsigned	 pref;
	struct dns_addr	*addrs;
	size_t		 naddrs;
	enum dns_status	 status;	/* of this host's address lookups */
	int		 ad;		/* every address answer was secure */
	/* "0.0.0.0 is ...": the first address left out (SPEC §6 step 2). */
	char		 skipped[DNS_SKIPPED_MAX];
};

struct mx_route {
	enum dns_status	 status;
	int		 implicit;	/* no MX records: the domain's own A/AAAA */
	int		 ad;		/* the MX answer (or its NODATA) was secure */
	struct mx_host	*hosts;		/* preference order, ties shuffled */
	size_t		 nhosts;
	size_t		 naddrs;	/* over all hosts, at most the cap */
	char		 reason[256];	/* for messages and logs */
};

struct tlsa_rr {
	unsigned char	 usage, selector, mtype;
	unsigned char	*data;
	size_t		 len;
};

struct tlsa_set {
	enum dns_status	 status;
	int		 ad;		/* secure: records, or their denial */
	struct tlsa_rr	*v;
	size_t		 n;
	char		 reason[256];
};

struct dns {
	struct __res_state	 res;
	int			 open;
	int			 dnssec;	/* dns_want_dnssec() */
	unsigned		 trusted;	/* servers whose AD is believed */
	enum addr_family	 family;
	unsigned		 timeout;	/* timeout_dns, seconds */
	int64_t			 deadline;	/* monotonic ms; 0: none */
	int64_t			 end;		/* of the lookup under way */
};

/*
 * Initialise a resolver: /etc/resolv.conf (and RES_OPTIONS) as res_ninit
 * reads them, then the configured nameservers, if any, in their place.
 * Queries carry EDNS0. Returns 0, or -1 with err.
 *
 * Whose AD bit is believed (DNSSEC, for DANE): a server on a loopback
 * address (a local validating resolver: unbound, systemd-resolved), and
 * the nameservers of resolv.conf when it says "options trust-ad" (glibc's
 * RES_TRUSTAD; RES_OPTIONS=trust-ad too). A configured `nameserver` that
 * is not on loopback is never trusted: AD from it counts as insecure,
 * since anyone on the path to it could set the bit.
 */
int	 dns_open(struct dns *, const struct nameserver *ns, size_t nns,
	    enum addr_family family, char *err, size_t errlen);
void	 dns_close(struct dns *);

/*
 * Ask for DNSSEC status from now on (mx_tls dane): AD in the query (RFC
 * 6840 §5.7) and the DO bit, and no addresses taken from an MX answer's
 * additional section, which AD does not cover (RFC 4035 §3.2.3), so that
 * each host's address records carry their own AD.
 */
void	 dns_want_dnssec(struct dns *, int on);

/* Whether an answer from sa may be believed when it says AD (above). */
int	 dns_trusted_server(const struct sockaddr *sa, int trust_ad);

/*
 * Bound every later lookup (SPEC §4): each of dns_mx (the MX query and
 * the address lookups of all its hosts), dns_host and dns_tlsa takes at
 * most timeout_dns seconds, every retry over UDP and TCP included, and
 * none runs past deadline (CLOCK_MONOTONIC, as net_deadline_set fills
 * it; NULL or zero: none). What runs out is DNS_TEMPFAIL. dns_open sets
 * timeout_dns 30 (SPEC's default) and no deadline.
 */
void	 dns_set_limits(struct dns *, unsigned timeout_dns,
	    const struct timespec *deadline);

/*
 * The mail route of a domain: its MX hosts sorted by preference (hosts of
 * equal preference shuffled), each with its addresses (A then AAAA, as
 * address_family allows), at most max_addrs addresses in all. No MX
 * records: the domain itself is the implicit MX. A single "0 ." MX is a
 * null MX; a "0 ." among other MX records is ignored and the others are
 * used. An MX target written as an IP address is not a host name (RFC
 * 5321 §5.1) and is skipped. Fills out; returns out->status.
 */
enum dns_status dns_mx(struct dns *, const char *domain, size_t max_addrs,
	    struct mx_route *out);
void	 mx_route_free(struct mx_route *);

/*
 * A and AAAA records of one host name (CNAMEs followed), appended to
 * *addrs up to max in all. Returns DNS_OK when some were found.
 */
enum dns_status dns_host(struct dns *, const char *name, size_t max,
	    struct dns_addr **addrs, size_t *naddrs, char *reason,
	    size_t reasonlen);

/*
 * The TLSA records of _PORT._tcp.HOST (RFC 6698), for DANE (RFC 7672):
 * out->ad says whether the answer, or its NXDOMAIN/NODATA, was secure.
 */
enum dns_status dns_tlsa(struct dns *, const char *host, unsigned port,
	    struct tlsa_set *out);
void	 tlsa_set_free(struct tlsa_set *);

/*
 * Whether an SMTP client may use a TLSA record (RFC 7672 §3.1): DANE-TA(2)
 * or DANE-EE(3), selector Cert(0) or SPKI(1), matching type Full(0) with
 * data, SHA2-256(1) with 32 octets or SHA2-512(2) with 64. PKIX-TA(0) and
 * PKIX-EE(1) are unusable for SMTP (§3.1.3), as is anything unknown.
 */
int	 tlsa_usable(const struct tlsa_rr *);

/*
 * Parse a raw MX answer (as res_nquery returns it) for qname: the records
 * walk that dns_mx() uses, exposed for the fuzz target and unit tests.
 * Returns the number of MX records used, or -1 when malformed.
 */
int	 dns_parse_mx_answer(const unsigned char *, size_t, const char *qname,
	    struct mx_route *);

/*
 * The addresses of the relay host through the system resolver (nss:
 * /etc/hosts, container DNS, an IP literal) as address_family allows, at
 * most max, given at most timeout_dns seconds and until deadline (NULL or
 * zero: none) by lookup.c. Returns the number found (> 0), or 0 with a
 * reason in err.
 */
size_t	 dns_relay_addrs(const char *host, enum addr_family,
	    unsigned timeout_dns, const struct timespec *deadline,
	    struct dns_addr *out, size_t max, char *err, size_t errlen);

/*
 * Why a cannot be a mail host (SPEC §6 step 2: 0.0.0.0/8, ::, multicast,
 * 240.0.0.0/4 and broadcast, also as IPv4-mapped IPv6), or NULL. dns_mx()
 * leaves such addresses out and names the first in mx_host.skipped.
 */
const char *dns_addr_unusable(const struct dns_addr *a);

/* Numeric form of an address ("192.0.2.1", "2001:db8::1"). */
void	 dns_addr_str(const struct dns_addr *, char *out, size_t outlen);

const char *dns_status_str(enum dns_status);

#endif
