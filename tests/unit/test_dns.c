/*
 * test_dns.c: dns.c against the project's scripted DNS server
 * (tests/support/fakedns) over UDP, TCP, IPv4 and IPv6: every outcome of
 * SPEC §6 steps 1-2, and that a broken or hostile server is always a
 * temporary failure, never "no such domain".
 */
#include "autoconf.h"

#include <sys/mount.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dns.h"
#include "rows.h"
#include "spawn.h"
#include "util.h"

static char dir[64];
static char zone[128], logf[128];
static struct server srv;
static struct dns d;
static int d_open;

static const char base_zone[] =
    "example.com. MX 10 mx1.example.com.\n"
    "example.com. MX 20 mx2.example.com.\n"
    "mx1.example.com. A 127.0.0.2\n"
    "mx1.example.com. AAAA ::1\n"
    "mx2.example.com. A 127.0.0.3\n"
    "implicit.example. A 127.0.0.4\n"
    "implicit.example. AAAA ::1\n"
    "nomail.example. MX 0 .\n"
    "mixed.example. MX 0 .\n"
    "mixed.example. MX 10 mx1.example.com.\n"
    "txtonly.example. TXT \"v=spf1 -all\"\n"
    "noaddr.example. MX 10 nothere.example.\n"
    "literal.example. MX 10 192.0.2.1.\n"
    "cname.example. MX 10 alias.example.\n"
    "alias.example. CNAME mx2.example.com.\n"
    "equal.example. MX 10 a.equal.example.\n"
    "equal.example. MX 10 b.equal.example.\n"
    "equal.example. MX 10 c.equal.example.\n"
    "equal.example. MX 5 first.equal.example.\n"
    "first.equal.example. A 127.0.0.9\n"
    "a.equal.example. A 127.0.0.10\n"
    "b.equal.example. A 127.0.0.11\n"
    "c.equal.example. A 127.0.0.12\n"
    "many.example. MX 10 h1.many.example.\n"
    "many.example. MX 20 h2.many.example.\n"
    "many.example. MX 30 h3.many.example.\n"
    "h1.many.example. A 127.0.1.1\n"
    "h1.many.example. A 127.0.1.2\n"
    "h2.many.example. A 127.0.2.1\n"
    "h2.many.example. A 127.0.2.2\n"
    "h3.many.example. A 127.0.3.1\n"
    "halfbroken.example. MX 10 sf.halfbroken.example.\n"
    "halfbroken.example. MX 20 ok.halfbroken.example.\n"
    "sf.halfbroken.example. A 127.0.0.20\n"
    "ok.halfbroken.example. A 127.0.0.21\n"
    "servfail.example. A 127.0.0.1\n"
    "refused.example. A 127.0.0.1\n"
    "dropped.example. A 127.0.0.1\n"
    "secure.example. MX 10 mx1.example.com.\n"
    "_25._tcp.mx1.example.com. TLSA 3 1 1 "
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
    "on servfail.example * servfail\n"
    "on refused.example * refused\n"
    "on dropped.example * drop\n"
    "on sf.halfbroken.example A servfail\n"
    "on secure.example MX ad\n"
    "unusable.example. MX 10 zero.unusable.example.\n"
    "unusable.example. MX 20 ok.unusable.example.\n"
    "zero.unusable.example. A 0.0.0.0\n"
    "zero.unusable.example. A 224.0.0.1\n"
    "zero.unusable.example. AAAA ::\n"
    "ok.unusable.example. A 255.255.255.255\n"
    "ok.unusable.example. A 127.0.0.5\n"
    "ok.unusable.example. AAAA ff02::1\n"
    "nowhere.example. A 0.1.2.3\n"
    "noedns.example. MX 10 mx1.example.com.\n"
    "on noedns.example MX first 1 formerr\n";

static void
start(const char *extra, int v6)
{
	const char *const args[] = { "--listen", v6 ? "[::1]:0" :
	    "127.0.0.1:0", "--lifetime", "60", NULL };
	FILE *f;

	strcpy(dir, "/tmp/test_dns.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(zone, sizeof(zone), "%s/zone", dir);
	snprintf(logf, sizeof(logf), "%s/log", dir);
	f = fopen(zone, "w");
	cr_assert_not_null(f);
	fputs(base_zone, f);
	if (extra != NULL)
		fputs(extra, f);
	fclose(f);
	cr_assert_eq(spawn_fakedns(&srv, zone, logf, args, NULL), 0,
	    "fakedns did not start");
	cr_assert_eq(srv.nl, 1);
}

static void
open_resolver(enum addr_family fam)
{
	struct nameserver ns;
	char err[256];

	memset(&ns, 0, sizeof(ns));
	strlcpy(ns.addr, srv.l[0].addr, sizeof(ns.addr));
	ns.family = strchr(ns.addr, ':') ? AF_INET6 : AF_INET;
	ns.port = (uint16_t)srv.l[0].port;
	/* One try of one second: the time-out tests stay short. */
	setenv("RES_OPTIONS", "timeout:1 attempts:1", 1);
	cr_assert_eq(dns_open(&d, &ns, 1, fam, err, sizeof(err)), 0, "%s",
	    err);
	d_open = 1;
}

static void
setup(void)
{
	alarm(60);
	start(NULL, 0);
	open_resolver(AFAM_ANY);
}

static void
teardown(void)
{
	if (d_open)
		dns_close(&d);
	d_open = 0;
	server_stop(&srv);
	if (remove_tree(dir) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(dns, .init = setup, .fini = teardown);

static const char *
ip_of(const struct dns_addr *a)
{
	static char buf[64];

	dns_addr_str(a, buf, sizeof(buf));
	return buf;
}

static char *
log_text(void)
{
	static char buf[65536];
	FILE *f = fopen(logf, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

Test(dns, mx_hosts_in_preference_order_with_addresses)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "example.com", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.implicit, 0);
	cr_assert_eq(r.nhosts, 2);
	cr_assert_str_eq(r.hosts[0].name, "mx1.example.com");
	cr_assert_eq(r.hosts[0].pref, 10);
	cr_assert_str_eq(r.hosts[1].name, "mx2.example.com");
	cr_assert_eq(r.hosts[0].naddrs, 2, "A and AAAA");
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[0]), "127.0.0.2");
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[1]), "::1");
	cr_assert_str_eq(ip_of(&r.hosts[1].addrs[0]), "127.0.0.3");
	cr_assert_eq(r.naddrs, 3);
	mx_route_free(&r);
}

/*
 * RFC 6891 §7: a server that answers FORMERR to the EDNS query is asked
 * again without OPT, as glibc does (it was a temporary failure).
 */
Test(dns, formerr_to_edns_is_retried_without_it)
{
	struct mx_route r;
	const char *log, *second, *end, *edns;

	cr_assert_eq(dns_mx(&d, "noedns.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_str_eq(r.hosts[0].name, "mx1.example.com");
	mx_route_free(&r);
	log = log_text();
	second = strstr(log, "noedns.example MX");
	cr_assert_not_null(second, "%s", log);
	second = strstr(second + 1, "noedns.example MX");
	cr_assert_not_null(second, "no second query:\n%s", log);
	cr_assert(strstr(log, "FORMERR edns") != NULL, "%s", log);
	end = strchr(second, '\n');
	edns = strstr(second, " edns");
	cr_assert(end != NULL && (edns == NULL || edns > end),
	    "the retry carried EDNS:\n%s", log);
}

/* SPEC §6 step 2: addresses that cannot be a mail host are left out. */
Test(dns, unusable_addresses_are_skipped_and_named)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "unusable.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.nhosts, 2);
	cr_assert_eq(r.hosts[0].naddrs, 0, "0.0.0.0, 224.0.0.1, :: kept");
	cr_assert_str_eq(r.hosts[0].skipped, "0.0.0.0 is an address of "
	    "\"this network\" (0.0.0.0/8)");
	cr_assert_eq(r.hosts[1].naddrs, 1, "broadcast or ff02::1 kept");
	cr_assert_str_eq(ip_of(&r.hosts[1].addrs[0]), "127.0.0.5");
	cr_assert_str_eq(r.hosts[1].skipped, "255.255.255.255 is the "
	    "broadcast address");
	cr_assert_eq(r.naddrs, 1);
	mx_route_free(&r);
	cr_assert_eq(dns_mx(&d, "nowhere.example", 10, &r), DNS_NODATA);
	cr_assert(strstr(r.reason, "no usable address (0.1.2.3 is") != NULL,
	    "%s", r.reason);
	mx_route_free(&r);
	cr_assert_eq(dns_mx(&d, "[224.1.2.3]", 10, &r), DNS_NODATA);
	cr_assert(strstr(r.reason, "a multicast address cannot be a mail "
	    "host") != NULL, "%s", r.reason);
	mx_route_free(&r);
}

static struct dns_addr
addr_of(const char *text)
{
	struct dns_addr a;
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		a.len = sizeof(*sin);
	} else {
		cr_assert_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1,
		    "%s", text);
		sin6->sin6_family = AF_INET6;
		a.len = sizeof(*sin6);
	}
	return a;
}

Test(dns, which_addresses_cannot_be_mail_hosts)
{
	static const char *const bad[] = { "0.0.0.0", "0.255.1.1",
	    "224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.255",
	    "::", "ff02::1", "::ffff:0.0.0.0", "::ffff:224.0.0.1" };
	static const char *const good[] = { "1.0.0.0", "127.0.0.1",
	    "192.0.2.1", "223.255.255.255", "::1", "2001:db8::1",
	    "::ffff:192.0.2.1", "fe80::1" };
	struct dns_addr a;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = addr_of(bad[i]);
		cr_assert_not_null(dns_addr_unusable(&a), "%s", bad[i]);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		a = addr_of(good[i]);
		cr_assert_null(dns_addr_unusable(&a), "%s", good[i]);
	}
}

Test(dns, domain_case_does_not_matter)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "EXAMPLE.Com", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.nhosts, 2);
	mx_route_free(&r);
}

Test(dns, no_mx_means_implicit_mx)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "implicit.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.implicit, 1);
	cr_assert_eq(r.nhosts, 1);
	cr_assert_str_eq(r.hosts[0].name, "implicit.example");
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[0]), "127.0.0.4");
	mx_route_free(&r);
}

Test(dns, null_mx)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "nomail.example", 10, &r), DNS_NULLMX);
	cr_assert(strstr(r.reason, "null MX") != NULL, "%s", r.reason);
	mx_route_free(&r);
}

Test(dns, null_mx_among_others_is_ignored)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "mixed.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.nhosts, 1);
	cr_assert_str_eq(r.hosts[0].name, "mx1.example.com");
	mx_route_free(&r);
}

Test(dns, nxdomain)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "nonexistent.example", 10, &r), DNS_NXDOMAIN);
	cr_assert(strstr(r.reason, "no such domain") != NULL, "%s", r.reason);
	mx_route_free(&r);
}

Test(dns, nodata_without_addresses)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "txtonly.example", 10, &r), DNS_NODATA);
	mx_route_free(&r);
}

Test(dns, mx_hosts_without_addresses)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "noaddr.example", 10, &r), DNS_NODATA);
	cr_assert(strstr(r.reason, "no addresses") != NULL, "%s", r.reason);
	mx_route_free(&r);
}

Test(dns, ip_literal_mx_target_is_skipped)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "literal.example", 10, &r), DNS_TEMPFAIL);
	cr_assert(strstr(r.reason, "IP addresses") != NULL, "%s", r.reason);
	mx_route_free(&r);
}

Test(dns, mx_target_behind_cname)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "cname.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.hosts[0].naddrs, 1);
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[0]), "127.0.0.3");
	mx_route_free(&r);
}

Test(dns, servfail_and_refused_are_temporary)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "servfail.example", 10, &r), DNS_TEMPFAIL);
	mx_route_free(&r);
	cr_assert_eq(dns_mx(&d, "refused.example", 10, &r), DNS_TEMPFAIL);
	mx_route_free(&r);
}

Test(dns, dropped_query_times_out_as_temporary)
{
	struct mx_route r;
	time_t t0 = time(NULL);

	cr_assert_eq(dns_mx(&d, "dropped.example", 10, &r), DNS_TEMPFAIL);
	cr_assert(time(NULL) - t0 <= 4, "took %ld s", (long)(time(NULL) - t0));
	mx_route_free(&r);
}

Test(dns, unreachable_nameserver_is_temporary)
{
	struct nameserver ns;
	struct mx_route r;
	char err[256];
	time_t t0;

	dns_close(&d);
	memset(&ns, 0, sizeof(ns));
	/* The server was stopped: nothing listens on that port any more. */
	server_stop(&srv);
	strlcpy(ns.addr, "127.0.0.1", sizeof(ns.addr));
	ns.family = AF_INET;
	ns.port = (uint16_t)srv.l[0].port;
	cr_assert_eq(dns_open(&d, &ns, 1, AFAM_ANY, err, sizeof(err)), 0);
	t0 = time(NULL);
	cr_assert_eq(dns_mx(&d, "example.com", 10, &r), DNS_TEMPFAIL);
	cr_assert(time(NULL) - t0 <= 4, "took %ld s", (long)(time(NULL) - t0));
	mx_route_free(&r);
}

Test(dns, one_host_failing_does_not_hide_the_others)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "halfbroken.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.hosts[0].status, DNS_TEMPFAIL);
	cr_assert_eq(r.hosts[1].naddrs, 1);
	mx_route_free(&r);
}

Test(dns, address_cap_counts_over_all_hosts)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "many.example", 3, &r), DNS_OK);
	cr_assert_eq(r.naddrs, 3);
	cr_assert_eq(r.hosts[0].naddrs, 2);
	cr_assert_eq(r.hosts[1].naddrs, 1);
	cr_assert_eq(r.hosts[2].naddrs, 0, "no lookups past the cap");
	cr_assert(strstr(log_text(), "h3.many.example") == NULL,
	    "h3 was looked up: %s", log_text());
	mx_route_free(&r);
}

Test(dns, address_family_restricts_lookups)
{
	struct mx_route r;

	dns_close(&d);
	open_resolver(AFAM_IPV6);
	cr_assert_eq(dns_mx(&d, "example.com", 10, &r), DNS_OK);
	cr_assert_eq(r.naddrs, 1);
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[0]), "::1");
	mx_route_free(&r);
	dns_close(&d);
	open_resolver(AFAM_IPV4);
	cr_assert_eq(dns_mx(&d, "example.com", 10, &r), DNS_OK);
	cr_assert_eq(r.naddrs, 2);
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[0]), "127.0.0.2");
	mx_route_free(&r);
}

Test(dns, equal_preferences_are_shuffled)
{
	int first[3] = { 0, 0, 0 };
	int i, j;

	for (i = 0; i < 300; i++) {
		struct mx_route r;

		cr_assert_eq(dns_mx(&d, "equal.example", 1, &r), DNS_OK);
		cr_assert_eq(r.nhosts, 4);
		cr_assert_str_eq(r.hosts[0].name, "first.equal.example",
		    "preference 5 always first");
		for (j = 0; j < 3; j++)
			if (r.hosts[1].name[0] == 'a' + j)
				first[j]++;
		mx_route_free(&r);
	}
	/* Expect 100 each; below 60 is 5 sigma away for a fair shuffle. */
	for (j = 0; j < 3; j++)
		cr_assert(first[j] > 60, "host %c first %d times of 300",
		    'a' + j, first[j]);
}

Test(dns, ad_bit_is_recorded)
{
	struct mx_route r;

	dns_want_dnssec(&d, 1);
	cr_assert_eq(dns_mx(&d, "secure.example", 10, &r), DNS_OK);
	cr_assert_eq(r.ad, 1);
	mx_route_free(&r);
	cr_assert_eq(dns_mx(&d, "example.com", 10, &r), DNS_OK);
	cr_assert_eq(r.ad, 0);
	mx_route_free(&r);
	cr_assert(strstr(log_text(), " do") != NULL, "DO bit not sent: %s",
	    log_text());
}

Test(dns, tlsa_records)
{
	struct tlsa_set t;

	cr_assert_eq(dns_tlsa(&d, "mx1.example.com", 25, &t), DNS_OK, "%s",
	    t.reason);
	cr_assert_eq(t.n, 1);
	cr_assert_eq(t.v[0].usage, 3);
	cr_assert_eq(t.v[0].selector, 1);
	cr_assert_eq(t.v[0].mtype, 1);
	cr_assert_eq(t.v[0].len, 32);
	cr_assert_eq(t.v[0].data[0], 0x01);
	tlsa_set_free(&t);
	cr_assert_eq(dns_tlsa(&d, "mx2.example.com", 25, &t), DNS_NXDOMAIN);
	tlsa_set_free(&t);
}

/* A server restarted with extra zone lines. */
static void
restart(const char *extra, int v6)
{
	teardown();
	start(extra, v6);
	open_resolver(AFAM_ANY);
}

Test(dns, truncated_udp_answer_is_retried_over_tcp)
{
	struct mx_route r;

	restart("big.example. MX 10 mx1.example.com.\n"
	    "on big.example MX udp tc\n", 0);
	cr_assert_eq(dns_mx(&d, "big.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.nhosts, 1);
	cr_assert(strstr(log_text(), "tcp big.example MX NOERROR") != NULL,
	    "%s", log_text());
	mx_route_free(&r);
}

Test(dns, large_answer_over_tcp)
{
	char extra[8192];
	struct mx_route r;
	size_t o = 0;
	int i;

	for (i = 0; i < 40; i++)
		o += (size_t)snprintf(extra + o, sizeof(extra) - o,
		    "large.example. MX %d host-number-%02d.mx.example.com.\n",
		    i, i);
	restart(extra, 0);
	cr_assert_eq(dns_mx(&d, "large.example", 10, &r), DNS_NODATA,
	    "no host has an address: %s", r.reason);
	cr_assert_eq(r.nhosts, 40);
	cr_assert_str_eq(r.hosts[0].name, "host-number-00.mx.example.com");
	cr_assert(strstr(log_text(), "tcp large.example MX") != NULL, "%s",
	    log_text());
	mx_route_free(&r);
}

Test(dns, ipv6_nameserver)
{
	struct mx_route r;

	restart(NULL, 1);
	cr_assert_str_eq(srv.l[0].addr, "::1");
	cr_assert_eq(dns_mx(&d, "example.com", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.nhosts, 2);
	mx_route_free(&r);
	cr_assert_eq(dns_mx(&d, "nonexistent.example", 10, &r), DNS_NXDOMAIN);
	mx_route_free(&r);
}

Test(dns, ipv6_nameserver_tcp_fallback)
{
	struct mx_route r;

	restart("big.example. MX 10 mx1.example.com.\n"
	    "on big.example MX udp tc\n", 1);
	cr_assert_eq(dns_mx(&d, "big.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert(strstr(log_text(), "tcp big.example MX") != NULL, "%s",
	    log_text());
	mx_route_free(&r);
}

Test(dns, malformed_answers_are_temporary_failures)
{
	static const char *const kinds[] = { "badptr", "ptrloop", "rdlength",
	    "ancount", "id", "qr", "question", "short" };
	char extra[2048];
	size_t o = 0, i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		o += (size_t)snprintf(extra + o, sizeof(extra) - o,
		    "%s.bad.example. MX 10 mx1.example.com.\n"
		    "on %s.bad.example MX malformed %s\n", kinds[i], kinds[i],
		    kinds[i]);
	restart(extra, 0);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct mx_route r;
		char name[64];
		enum dns_status st;

		snprintf(name, sizeof(name), "%s.bad.example", kinds[i]);
		st = dns_mx(&d, name, 10, &r);
		cr_assert_eq(st, DNS_TEMPFAIL, "%s gave %s (%s)", kinds[i],
		    dns_status_str(st), r.reason);
		mx_route_free(&r);
	}
}

Test(dns, cname_loop_is_temporary)
{
	struct mx_route r;

	restart("loop1.example. CNAME loop2.example.\n"
	    "loop2.example. CNAME loop1.example.\n", 0);
	cr_assert_eq(dns_mx(&d, "loop1.example", 10, &r), DNS_TEMPFAIL, "%s",
	    r.reason);
	mx_route_free(&r);
}

Test(dns, parse_raw_answer)
{
	/* example.com MX 10 mx.example.com, with a name compression pointer. */
	static const unsigned char pkt[] = {
	    0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
	    7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 15,
	    0, 1,
	    0xc0, 0x0c, 0, 15, 0, 1, 0, 0, 1, 44, 0, 7, 0, 10,
	    2, 'm', 'x', 0xc0, 0x0c };
	struct mx_route r;

	cr_assert_eq(dns_parse_mx_answer(pkt, sizeof(pkt), "example.com", &r),
	    1);
	cr_assert_str_eq(r.hosts[0].name, "mx.example.com");
	mx_route_free(&r);
	/* Cut anywhere: never a crash, never a host from outside the packet. */
	{
		size_t cut;

		for (cut = 0; cut < sizeof(pkt); cut++) {
			int n = dns_parse_mx_answer(pkt, cut, "example.com",
			    &r);

			cr_assert(n <= 0, "cut %zu parsed %d", cut, n);
			mx_route_free(&r);
		}
	}
}

/*
 * Every outcome of SPEC §6 step 1, over each transport and address family
 * of the nameserver: UDP and TCP (RES_USEVC), IPv4 and IPv6.
 */
static void
outcome_matrix(int v6, int tcp)
{
	static const struct {
		const char	*name;
		enum dns_status	 want;
	} cases[] = {
		{ "example.com", DNS_OK },
		{ "implicit.example", DNS_OK },
		{ "nomail.example", DNS_NULLMX },
		{ "nonexistent.example", DNS_NXDOMAIN },
		{ "txtonly.example", DNS_NODATA },
		{ "servfail.example", DNS_TEMPFAIL },
		{ "refused.example", DNS_TEMPFAIL },
		{ "badptr.bad.example", DNS_TEMPFAIL },
		{ "rdlength.bad.example", DNS_TEMPFAIL },
		{ "ancount.bad.example", DNS_TEMPFAIL },
	};
	struct nameserver ns;
	char err[256];
	size_t i;

	restart("badptr.bad.example. MX 10 mx1.example.com.\n"
	    "rdlength.bad.example. MX 10 mx1.example.com.\n"
	    "ancount.bad.example. MX 10 mx1.example.com.\n"
	    "on badptr.bad.example MX malformed badptr\n"
	    "on rdlength.bad.example MX malformed rdlength\n"
	    "on ancount.bad.example MX malformed ancount\n", v6);
	dns_close(&d);
	memset(&ns, 0, sizeof(ns));
	strlcpy(ns.addr, srv.l[0].addr, sizeof(ns.addr));
	ns.family = v6 ? AF_INET6 : AF_INET;
	ns.port = (uint16_t)srv.l[0].port;
	setenv("RES_OPTIONS", "timeout:1 attempts:1", 1);
	cr_assert_eq(dns_open(&d, &ns, 1, AFAM_ANY, err, sizeof(err)), 0);
	if (tcp)
		d.res.options |= RES_USEVC;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mx_route r;
		enum dns_status st = dns_mx(&d, cases[i].name, 10, &r);

		cr_assert_eq(st, cases[i].want, "%s over %s/%s: %s (%s)",
		    cases[i].name, v6 ? "IPv6" : "IPv4", tcp ? "TCP" : "UDP",
		    dns_status_str(st), r.reason);
		mx_route_free(&r);
	}
	cr_assert(strstr(log_text(), tcp ? "tcp example.com MX" :
	    "udp example.com MX") != NULL, "%s", log_text());
	cr_assert(strstr(log_text(), tcp ? "udp " : "tcp ") == NULL,
	    "wrong transport used: %s", log_text());
}

Test(dns, outcomes_ipv4_udp)
{
	outcome_matrix(0, 0);
}

Test(dns, outcomes_ipv4_tcp)
{
	outcome_matrix(0, 1);
}

Test(dns, outcomes_ipv6_udp)
{
	outcome_matrix(1, 0);
}

Test(dns, outcomes_ipv6_tcp)
{
	outcome_matrix(1, 1);
}

Test(dns, address_literals_need_no_dns)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "[127.0.0.7]", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.naddrs, 1);
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[0]), "127.0.0.7");
	mx_route_free(&r);
	cr_assert_eq(dns_mx(&d, "[ipv6:::1]", 10, &r), DNS_OK, "%s", r.reason);
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[0]), "::1");
	mx_route_free(&r);
	cr_assert_eq(dns_mx(&d, "[300.1.1.1]", 10, &r), DNS_NXDOMAIN);
	mx_route_free(&r);
	cr_assert_str_eq(log_text(), "", "DNS was asked: %s", log_text());
}

/* ------------------------------------------------ bounds (SPEC §4, §6.1) */


/*
 * The resolver as a host has it: no RES_OPTIONS, so libresolv's own
 * defaults (5 s per try, 2 attempts) would apply if it decided the time.
 */
static void
open_default(const char *extra, unsigned timeout_dns, unsigned deadline_s)
{
	struct nameserver ns;
	struct timespec dl;
	char err[256];

	restart(extra, 0);
	dns_close(&d);
	memset(&ns, 0, sizeof(ns));
	strlcpy(ns.addr, srv.l[0].addr, sizeof(ns.addr));
	ns.family = AF_INET;
	ns.port = (uint16_t)srv.l[0].port;
	unsetenv("RES_OPTIONS");
	cr_assert_eq(dns_open(&d, &ns, 1, AFAM_ANY, err, sizeof(err)), 0);
	memset(&dl, 0, sizeof(dl));
	if (deadline_s > 0) {
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += deadline_s;
	}
	dns_set_limits(&d, timeout_dns, &dl);
}

/* dns_mx(domain) is a temporary failure within max_ms. */
static void
tempfail_within(const char *domain, int64_t max_ms)
{
	struct mx_route r;
	enum dns_status st;
	int64_t t0 = mono_ms(), t;

	st = dns_mx(&d, domain, 10, &r);
	t = mono_ms() - t0;
	cr_assert_eq(st, DNS_TEMPFAIL, "%s gave %s (%s)", domain,
	    dns_status_str(st), r.reason);
	cr_assert(t <= max_ms, "%s took %lld ms (bound %lld)", domain,
	    (long long)t, (long long)max_ms);
	fprintf(stderr, "bound: %s: %lld ms: %s\n", domain, (long long)t,
	    r.reason);
	mx_route_free(&r);
}

static const char silent_zone[] =
    "silent.example. MX 10 s1.silent.example.\n"
    "silent.example. MX 20 s2.silent.example.\n"
    "silent.example. MX 30 s3.silent.example.\n"
    "on *.silent.example * drop\n"
    "tcsilent.example. MX 10 mx1.example.com.\n"
    "on tcsilent.example MX udp tc\n"
    "on tcsilent.example MX tcp drop\n"
    "on dropmx.example MX drop\n";

Test(dns, dropped_query_bounded_by_timeout_dns, .timeout = 30)
{
	open_default(silent_zone, 1, 0);
	tempfail_within("dropmx.example", 1300);
}

Test(dns, silent_mx_hosts_bounded_by_timeout_dns, .timeout = 30)
{
	open_default(silent_zone, 1, 0);
	tempfail_within("silent.example", 1300);
}

Test(dns, silent_tcp_after_tc_bounded_by_timeout_dns, .timeout = 30)
{
	open_default(silent_zone, 1, 0);
	tempfail_within("tcsilent.example", 1300);
	cr_assert(strstr(log_text(), "tcp tcsilent.example MX drop") != NULL,
	    "%s", log_text());
}

Test(dns, silent_mx_hosts_bounded_by_deadline, .timeout = 30)
{
	open_default(silent_zone, 30, 1);
	tempfail_within("silent.example", 1300);
}

Test(dns, hundred_silent_mx_hosts_bounded, .timeout = 30)
{
	char *extra = xmalloc(16384);
	size_t o = 0;
	int i;

	for (i = 0; i < 100; i++)
		o += (size_t)snprintf(extra + o, 16384 - o,
		    "hundred.example. MX %d h%d.hundred.example.\n", i, i);
	snprintf(extra + o, 16384 - o, "on *.hundred.example * drop\n");
	open_default(extra, 1, 0);
	free(extra);
	tempfail_within("hundred.example", 1300);
}

Test(dns, servfail_is_quick_and_temporary, .timeout = 30)
{
	open_default(NULL, 1, 0);
	tempfail_within("servfail.example", 500);
}

Test(dns, deadline_already_past_asks_nothing, .timeout = 30)
{
	struct timespec dl;

	open_default(NULL, 30, 0);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_nsec = 0;
	dns_set_limits(&d, 30, &dl);
	tempfail_within("example.com", 100);
}

/* Log lines that are queries of qtype (NULL: any). */
static int
queries(const char *qtype)
{
	const char *p = log_text();
	int n = 0;

	while (*p != '\0') {
		const char *e = strchr(p, '\n');
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		if (qtype == NULL)
			n++;
		else {
			char t[32], *sp = strchr(line, ' ');

			if (sp != NULL && (sp = strchr(sp + 1, ' ')) != NULL &&
			    sscanf(sp + 1, "%31s", t) == 1 &&
			    strcmp(t, qtype) == 0)
				n++;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	return n;
}

Test(dns, addresses_from_the_additional_section)
{
	struct mx_route r;

	restart("glue.example. MX 10 mx1.glue.example.\n"
	    "glue.example. MX 20 mx2.glue.example.\n"
	    "mx1.glue.example. A 127.0.5.1\n"
	    "mx1.glue.example. AAAA ::1\n"
	    "mx2.glue.example. A 127.0.5.2\n"
	    "on glue.example MX glue\n", 0);
	cr_assert_eq(dns_mx(&d, "glue.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.nhosts, 2);
	cr_assert_eq(r.hosts[0].naddrs, 2);
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[0]), "127.0.5.1");
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[1]), "::1");
	cr_assert_eq(r.hosts[1].naddrs, 1);
	cr_assert_str_eq(ip_of(&r.hosts[1].addrs[0]), "127.0.5.2");
	cr_assert_eq(r.naddrs, 3);
	fprintf(stderr, "queries: glue.example: %d\n", queries(NULL));
	cr_assert_eq(queries(NULL), 1, "one MX query only: %s", log_text());
	mx_route_free(&r);
}

Test(dns, additional_section_respects_the_cap_and_family)
{
	struct mx_route r;

	restart("glue.example. MX 10 mx1.glue.example.\n"
	    "mx1.glue.example. A 127.0.5.1\n"
	    "mx1.glue.example. AAAA ::1\n"
	    "mx1.glue.example. A 127.0.5.3\n"
	    "on glue.example MX glue\n", 0);
	dns_close(&d);
	open_resolver(AFAM_IPV6);
	cr_assert_eq(dns_mx(&d, "glue.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.naddrs, 1);
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[0]), "::1");
	mx_route_free(&r);
	dns_close(&d);
	open_resolver(AFAM_ANY);
	cr_assert_eq(dns_mx(&d, "glue.example", 2, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.naddrs, 2);
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[0]), "127.0.5.1");
	cr_assert_str_eq(ip_of(&r.hosts[0].addrs[1]), "127.0.5.3");
	mx_route_free(&r);
	cr_assert_eq(queries(NULL), 2, "MX queries only: %s", log_text());
}

Test(dns, a_and_aaaa_asked_at_once)
{
	struct dns_addr *a = NULL;
	size_t n = 0;
	char reason[256];
	int64_t t0, t;

	restart("slow.example. A 127.0.6.1\n"
	    "slow.example. AAAA ::1\n"
	    "on slow.example A delay 600\n"
	    "on slow.example AAAA delay 600\n", 0);
	dns_set_limits(&d, 5, NULL);
	t0 = mono_ms();
	cr_assert_eq(dns_host(&d, "slow.example", 10, &a, &n, reason,
	    sizeof(reason)), DNS_OK, "%s", reason);
	t = mono_ms() - t0;
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ip_of(&a[0]), "127.0.6.1", "A first");
	cr_assert_str_eq(ip_of(&a[1]), "::1");
	cr_assert(t < 1000, "one wait for both, not two: %lld ms",
	    (long long)t);
	cr_assert_eq(queries("A"), 1);
	cr_assert_eq(queries("AAAA"), 1);
	free(a);
}

/* Glue is checked as answers are: an A record of 3 octets is malformed. */
Test(dns, hostile_glue_is_a_temporary_failure)
{
	struct mx_route r;

	restart("hglue.example. MX 10 mx1.hglue.example.\n"
	    "mx1.hglue.example. TYPE1 \\# 3 abcdef\n"
	    "on hglue.example MX glue\n", 0);
	cr_assert_eq(dns_mx(&d, "hglue.example", 10, &r), DNS_TEMPFAIL,
	    "%s", r.reason);
	mx_route_free(&r);
}

/* TC, then a TCP server that closes: temporary, and at once. */
Test(dns, tcp_closed_after_truncation_is_temporary)
{
	open_default("tcclose.example. MX 10 mx1.example.com.\n"
	    "on tcclose.example MX udp tc\n"
	    "on tcclose.example MX tcp close\n", 5, 0);
	tempfail_within("tcclose.example", 500);
}

/* Without mx_tls dane nothing asks for DNSSEC, and no AD is taken. */
Test(dns, no_dnssec_asked_unless_wanted)
{
	struct mx_route r;

	cr_assert_eq(dns_mx(&d, "secure.example", 10, &r), DNS_OK);
	cr_assert_eq(r.ad, 0, "AD without asking for it");
	mx_route_free(&r);
	cr_assert(strstr(log_text(), " do") == NULL, "DO bit sent: %s",
	    log_text());
}

/*
 * RFC 7672 §2.2: DANE needs the MX answer (or its NODATA, for the
 * implicit MX) and each host's A and AAAA answers secure. Under
 * dns_want_dnssec() the MX answer's glue is not used (AD does not cover
 * the additional section): every host is asked, and carries its own AD.
 */
#define SEC_ZONE							\
	"sec.example. MX 10 mx.sec.example.\n"				\
	"sec.example. MX 20 half.sec.example.\n"			\
	"mx.sec.example. A 127.0.0.30\n"					\
	"mx.sec.example. AAAA ::1\n"					\
	"half.sec.example. A 127.0.0.31\n"				\
	"half.sec.example. AAAA ::1\n"					\
	"impl.sec.example. A 127.0.0.32\n"				\
	"_25._tcp.mx.sec.example. TLSA 3 1 1 "				\
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n" \
	"on sec.example * ad\n"						\
	"on sec.example MX glue\n"					\
	"on impl.sec.example * ad\n"					\
	"on mx.sec.example * ad\n"					\
	"on half.sec.example A ad\n"					\
	"on _25._tcp.mx.sec.example * ad\n"				\
	"on _25._tcp.half.sec.example * ad\n"

Test(dns, secure_hosts_and_their_tlsa)
{
	struct tlsa_set t;
	struct mx_route r;

	restart(SEC_ZONE, 0);
	dns_want_dnssec(&d, 1);
	cr_assert_eq(dns_mx(&d, "sec.example", 10, &r), DNS_OK, "%s",
	    r.reason);
	cr_assert_eq(r.ad, 1);
	cr_assert_eq(r.nhosts, 2);
	cr_assert_str_eq(r.hosts[0].name, "mx.sec.example");
	cr_assert_eq(r.hosts[0].ad, 1, "A and AAAA were both secure");
	cr_assert_eq(r.hosts[1].ad, 0, "AAAA of half.sec.example was not");
	cr_assert(strstr(log_text(), "mx.sec.example A NOERROR ad") != NULL,
	    "glue used instead of a secure query: %s", log_text());
	mx_route_free(&r);
	cr_assert_eq(dns_tlsa(&d, "mx.sec.example", 25, &t), DNS_OK);
	cr_assert(t.ad && t.n == 1);
	tlsa_set_free(&t);
	/* A secure denial is told from an insecure one. */
	cr_assert_eq(dns_tlsa(&d, "half.sec.example", 25, &t), DNS_NXDOMAIN);
	cr_assert_eq(t.ad, 1, "secure NXDOMAIN");
	tlsa_set_free(&t);
	cr_assert_eq(dns_tlsa(&d, "mx1.example.com", 25, &t), DNS_OK);
	cr_assert_eq(t.ad, 0, "TLSA without AD taken as secure");
	tlsa_set_free(&t);
	/* The implicit MX: a secure NODATA for MX. */
	cr_assert_eq(dns_mx(&d, "impl.sec.example", 10, &r), DNS_OK);
	cr_assert(r.implicit && r.ad && r.hosts[0].ad);
	mx_route_free(&r);
}

/* Without DNSSEC wanted, glue still spares the address queries. */
Test(dns, glue_used_without_dnssec)
{
	struct mx_route r;

	restart(SEC_ZONE, 0);
	cr_assert_eq(dns_mx(&d, "sec.example", 10, &r), DNS_OK);
	cr_assert_eq(r.hosts[0].ad, 0);
	cr_assert(strstr(log_text(), "mx.sec.example A") == NULL,
	    "glue not used: %s", log_text());
	mx_route_free(&r);
}

/* The AD trust rule (dns.h): loopback, or resolv.conf's trust-ad. */
static const struct trust_row {
	const char	*name;
	const char	*addr;
	int		 trust_ad;
	int		 trusted;
} trust_rows[] = {
	{ "ipv4_loopback", "127.0.0.1", 0, 1 },
	{ "ipv4_loopback_net", "127.53.0.9", 0, 1 },
	{ "ipv6_loopback", "::1", 0, 1 },
	{ "v4_mapped_loopback", "::ffff:127.0.0.1", 0, 1 },
	{ "ipv4_remote", "192.0.2.53", 0, 0 },
	{ "ipv4_private", "10.255.255.53", 0, 0 },
	{ "ipv6_remote", "2001:db8::53", 0, 0 },
	{ "v4_mapped_remote", "::ffff:192.0.2.53", 0, 0 },
	{ "trust_ad_remote", "192.0.2.53", 1, 1 },
};

ROW_PARAMETERS(dns_trust, server, trust_rows);

ParameterizedTest(const size_t *row, dns_trust, server)
{
	const struct trust_row *r = &trust_rows[*row];
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(r->addr, ':') != NULL) {
		ss.ss_family = AF_INET6;
		cr_assert(inet_pton(AF_INET6, r->addr,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1);
	} else {
		ss.ss_family = AF_INET;
		cr_assert(inet_pton(AF_INET, r->addr,
		    &((struct sockaddr_in *)&ss)->sin_addr) == 1);
	}
	cr_assert_eq(dns_trusted_server((struct sockaddr *)&ss, r->trust_ad),
	    r->trusted, "%s", r->name);
}

/* dns_open's trusted servers: configured ones only on loopback. */
Test(dns_trust, configured_nameservers)
{
	struct nameserver ns[2];
	struct dns t;
	char err[256];

	memset(ns, 0, sizeof(ns));
	strlcpy(ns[0].addr, "192.0.2.53", sizeof(ns[0].addr));
	ns[0].family = AF_INET;
	ns[0].port = 53;
	strlcpy(ns[1].addr, "::1", sizeof(ns[1].addr));
	ns[1].family = AF_INET6;
	ns[1].port = 53;
	/* trust-ad speaks of resolv.conf's servers only. */
	setenv("RES_OPTIONS", "trust-ad", 1);
	cr_assert_eq(dns_open(&t, ns, 2, AFAM_ANY, err, sizeof(err)), 0);
	cr_assert_eq(t.trusted, 2u, "trusted mask %#x", t.trusted);
	dns_close(&t);
}

/*
 * resolv.conf's own servers: trusted when it says "options trust-ad"
 * (RES_OPTIONS=trust-ad is the same option to glibc), else only on
 * loopback. In a child with its own mount namespace, a resolv.conf of
 * the test's is bound over /etc/resolv.conf (root only).
 */
static int
trusted_with_resolv_conf(const char *text)
{
	char path[] = "/tmp/test_dns_rc.XXXXXX";
	struct dns t;
	char err[256];
	int fd, st;
	pid_t pid;

	cr_assert((fd = mkstemp(path)) >= 0);
	cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	if ((pid = fork()) == 0) {
		unsetenv("RES_OPTIONS");
		if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL,
		    MS_REC | MS_PRIVATE, NULL) != 0 || mount(path,
		    "/etc/resolv.conf", NULL, MS_BIND, NULL) != 0)
			_exit(100);
		if (dns_open(&t, NULL, 0, AFAM_ANY, err, sizeof(err)) != 0)
			_exit(101);
		_exit((int)t.trusted & 0x7f);
	}
	cr_assert(pid > 0 && waitpid(pid, &st, 0) == pid);
	unlink(path);
	cr_assert(WIFEXITED(st));
	if (WEXITSTATUS(st) == 100)
		cr_skip_test("no mount namespace here (not root?)");
	cr_assert_neq(WEXITSTATUS(st), 101, "dns_open failed");
	return WEXITSTATUS(st);
}

Test(dns_trust, resolv_conf_trust_ad)
{
	cr_assert_eq(trusted_with_resolv_conf("nameserver 192.0.2.53\n"
	    "nameserver 127.0.0.53\n"), 2, "only the loopback one");
	cr_assert_eq(trusted_with_resolv_conf("nameserver 192.0.2.53\n"
	    "nameserver 198.51.100.53\noptions trust-ad\n"), 3,
	    "trust-ad trusts both");
}

Test(dns_trust, res_options_trust_ad)
{
	struct dns t;
	char err[256];

	setenv("RES_OPTIONS", "trust-ad", 1);
	cr_assert_eq(dns_open(&t, NULL, 0, AFAM_ANY, err, sizeof(err)), 0);
	cr_assert_eq(t.trusted, (1u << t.res.nscount) - 1);
	dns_close(&t);
}

/* RFC 7672 §3.1: which TLSA records an SMTP client can use. */
static const struct usable_row {
	unsigned char	 usage, selector, mtype;
	size_t		 len;
	int		 usable;
} usable_rows[] = {
	{ 3, 1, 1, 32, 1 }, { 3, 0, 1, 32, 1 }, { 2, 0, 1, 32, 1 },
	{ 2, 1, 2, 64, 1 }, { 3, 1, 0, 91, 1 }, { 2, 0, 0, 300, 1 },
	/* PKIX-TA and PKIX-EE: unusable for SMTP (§3.1.3). */
	{ 0, 0, 1, 32, 0 }, { 1, 1, 1, 32, 0 },
	/* Unknown usage, selector or matching type. */
	{ 4, 1, 1, 32, 0 }, { 3, 2, 1, 32, 0 }, { 3, 1, 3, 32, 0 },
	/* A digest of the wrong length, or no data. */
	{ 3, 1, 1, 31, 0 }, { 3, 1, 2, 32, 0 }, { 3, 1, 0, 0, 0 },
};

ROW_PARAMETERS(dns_tlsa, usable, usable_rows);

ParameterizedTest(const size_t *row, dns_tlsa, usable)
{
	const struct usable_row *u = &usable_rows[*row];
	unsigned char data[300];
	struct tlsa_rr r;

	memset(data, 0xab, sizeof(data));
	r.usage = u->usage;
	r.selector = u->selector;
	r.mtype = u->mtype;
	r.data = data;
	r.len = u->len;
	cr_assert_eq(tlsa_usable(&r), u->usable, "%u %u %u, %zu octets",
	    u->usage, u->selector, u->mtype, u->len);
}
