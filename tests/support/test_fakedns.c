/*
 * test_fakedns.c: self-test of tests/support/fakedns, the scripted DNS
 * server. It is queried through libresolv (res_ninit, res_nquery,
 * ns_initparse, ns_parserr, dn_expand), as mxsend's resolver queries it,
 * and with hand-made UDP and TCP messages where libresolv would hide what
 * the server sent.
 *
 * Pointing a struct __res_state at the server (glibc 2.36, checked here):
 *   - IPv4: after res_ninit, set nscount = 1 and nsaddr_list[0] to an
 *     AF_INET sockaddr_in with the port; retrans (seconds) and retry as
 *     wanted.
 *   - IPv6: nsaddr_list[] holds only sockaddr_in. Set
 *     nsaddr_list[0].sin_family = 0 (AF_UNSPEC) and make
 *     _u._ext.nsaddrs[0] point to a malloc'ed struct sockaddr_in6 (reuse
 *     the pointer if res_ninit already allocated one); res_send then uses
 *     it. res_nclose frees it, so it must come from malloc.
 * What libresolv does with the answers (seen in these tests):
 *   - NXDOMAIN: res_nquery returns -1, res_h_errno HOST_NOT_FOUND; NODATA:
 *     -1 and NO_DATA; the buffer then holds the response but its length
 *     is not returned: to read the rcode or SOA, res_nmkquery + res_nsend
 *     (which return the length whatever the rcode), see sendq().
 *   - SERVFAIL and REFUSED: -1 and TRY_AGAIN; a time-out: -1, TRY_AGAIN.
 *   - TC over UDP: the query is repeated over TCP by itself.
 *   - a reply with a wrong ID or for another question is ignored (the
 *     query times out); one shorter than a header fails at once
 *     (TRY_AGAIN); but one with QR=0 is returned as an answer, so the
 *     resolver must check QR itself.
 *   - res_h_errno is not reset by a successful query.
 *   - AD is cleared from the response unless RES_TRUSTAD is in options.
 *   - dn_expand of the root name (the null MX target) gives "" (empty).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <resolv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "spawn.h"

static struct server	 srv;
static char		 tmpdir[512];
static char		 zonepath[600];
static char		 logpath[600];
static char		 errpath[600];
static struct __res_state rs;
static int		 rs_live;

static void
setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_fakedns.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(zonepath, sizeof(zonepath), "%s/zone", tmpdir);
	snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
	snprintf(errpath, sizeof(errpath), "%s/stderr", tmpdir);
}

static void
teardown(void)
{
	char buf[2048];
	FILE *fp;
	size_t n;
	int st;

	if ((st = server_stop(&srv)) != 0) {
		buf[0] = '\0';
		if ((fp = fopen(errpath, "r")) != NULL) {
			n = fread(buf, 1, sizeof(buf) - 1, fp);
			buf[n] = '\0';
			fclose(fp);
		}
		/* Only a test that failed already gets here. */
		fprintf(stderr, "fakedns exit status %d: %s\n", st, buf);
	}
	if (rs_live) {
		res_nclose(&rs);
		rs_live = 0;
	}
	unlink(zonepath);
	unlink(logpath);
	unlink(errpath);
	rmdir(tmpdir);
}

TestSuite(fakedns, .init = setup, .fini = teardown, .timeout = 20);

/*
 * End of a test: stop the server and require a clean exit (status 0 on
 * SIGTERM; a sanitizer report in the server makes it non-zero). Criterion
 * ignores assertions in .fini, hence this.
 */
static void
finish(void)
{
	char buf[2048];
	FILE *fp;
	size_t n = 0;
	int st = server_stop(&srv);

	buf[0] = '\0';
	if (st != 0 && (fp = fopen(errpath, "r")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	cr_assert_eq(st, 0, "fakedns exit status %d: %s", st, buf);
}

/*
 * Start fakedns on zone with extra arguments, stderr to errpath; wait for
 * "ready": every line before it names a listener and the server's PID.
 */
static void
start_args(const char *zone, const char *const *extra)
{
	const char *args[40];
	int n = 0, i;

	write_file(zonepath, zone);
	args[n++] = "--lifetime";
	args[n++] = "30";
	for (; extra != NULL && *extra != NULL && n < 38; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	cr_assert_eq(spawn_fakedns(&srv, zonepath, logpath, args, errpath), 0,
	    "fakedns did not get ready");
	cr_assert_eq(srv.nbad, 0, "bad line: %s", srv.bad);
	for (i = 0; i < srv.nl; i++)
		cr_assert_eq(srv.l[i].pid, srv.pid);
	cr_assert_gt(srv.nl, 0);
}

static void
start(const char *zone)
{
	start_args(zone, NULL);
}

static void
resolver_v4(unsigned port, int retrans, int retry)
{
	memset(&rs, 0, sizeof(rs));
	cr_assert_eq(res_ninit(&rs), 0);
	rs_live = 1;
	rs.nscount = 1;
	memset(&rs.nsaddr_list[0], 0, sizeof(rs.nsaddr_list[0]));
	rs.nsaddr_list[0].sin_family = AF_INET;
	rs.nsaddr_list[0].sin_port = htons((uint16_t)port);
	cr_assert_eq(inet_pton(AF_INET, "127.0.0.1",
	    &rs.nsaddr_list[0].sin_addr), 1);
	rs.retrans = retrans;
	rs.retry = retry;
}

static void
resolver(void)
{
	resolver_v4(srv.l[0].port, 2, 1);
}

static int
query(const char *name, int type, unsigned char *ans, int cap)
{
	return res_nquery(&rs, name, ns_c_in, type, ans, cap);
}

/*
 * res_nquery returns -1 for NXDOMAIN and NODATA, leaving the response in
 * the buffer but not its length; res_nmkquery + res_nsend give the length.
 */
static int
sendq(const char *name, int type, unsigned char *ans, int cap)
{
	unsigned char q[NS_PACKETSZ];
	int qlen;

	qlen = res_nmkquery(&rs, ns_o_query, name, ns_c_in, type, NULL, 0,
	    NULL, q, sizeof(q));
	cr_assert_gt(qlen, 0);
	return res_nsend(&rs, q, qlen, ans, cap);
}

/* The whole log. */
static char *
read_log(void)
{
	static char buf[65536];
	FILE *fp = fopen(logpath, "r");
	size_t n;

	cr_assert_not_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Some log line starts with prefix. */
static int
log_has(const char *prefix)
{
	const char *l = read_log();
	size_t n = strlen(prefix);

	while (*l != '\0') {
		if (strncmp(l, prefix, n) == 0)
			return 1;
		if ((l = strchr(l, '\n')) == NULL)
			break;
		l++;
	}
	return 0;
}

static int
log_lines(void)
{
	const char *l = read_log();
	int n = 0;

	for (; *l != '\0'; l++)
		if (*l == '\n')
			n++;
	return n;
}

static void
parse(const unsigned char *ans, int n, ns_msg *h)
{
	cr_assert_gt(n, 0);
	cr_assert_eq(ns_initparse(ans, n, h), 0, "ns_initparse: %s",
	    strerror(errno));
}

static void
rr_at(ns_msg *h, ns_sect s, int i, ns_rr *rr)
{
	cr_assert_eq(ns_parserr(h, s, i, rr), 0, "ns_parserr %d", i);
}

/* MX preference and target of an answer record. */
static unsigned
mx_of(ns_msg *h, ns_rr *rr, char *target, size_t cap)
{
	cr_assert_eq(ns_rr_type(*rr), ns_t_mx);
	cr_assert_geq(dn_expand(ns_msg_base(*h), ns_msg_end(*h),
	    ns_rr_rdata(*rr) + 2, target, (int)cap), 1);
	return ns_get16(ns_rr_rdata(*rr));
}

/* -------------------------------------------------- raw message helpers */

/* A query for name/type; edns: the payload size to announce, 0 for none. */
static int
mkquery(unsigned char *b, size_t cap, unsigned id, const char *name,
    int type, unsigned edns, int dobit)
{
	int n;

	memset(b, 0, 12);
	b[0] = (unsigned char)(id >> 8);
	b[1] = (unsigned char)id;
	b[2] = 0x01;	/* RD */
	b[5] = 1;
	n = dn_comp(name, b + 12, (int)cap - 12 - 4 - 11, NULL, NULL);
	cr_assert_gt(n, 0);
	n += 12;
	ns_put16((unsigned)type, b + n);
	ns_put16(ns_c_in, b + n + 2);
	n += 4;
	if (edns > 0) {
		b[11] = 1;
		b[n++] = 0;
		ns_put16(ns_t_opt, b + n);
		ns_put16(edns, b + n + 2);
		ns_put32(dobit ? 0x8000 : 0, b + n + 4);
		ns_put16(0, b + n + 8);
		n += 10;
	}
	return n;
}

/* A socket of type connected to the listener l of the server. */
static int
listener_socket(int type, const struct listener *l)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)l->port);
	cr_assert_eq(inet_pton(AF_INET, l->addr, &sin.sin_addr), 1);
	cr_assert_geq(fd = socket(AF_INET, type, 0), 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static int
udp_socket(void)
{
	return listener_socket(SOCK_DGRAM, &srv.l[0]);
}

/* Receive one datagram within ms; -1 on time-out. */
static int
udp_recv(int fd, unsigned char *b, size_t cap, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	if (poll(&pfd, 1, ms) <= 0)
		return -1;
	return (int)recv(fd, b, cap, 0);
}

static int
udp_ask(const unsigned char *q, int qlen, unsigned char *b, size_t cap,
    int ms)
{
	int fd = udp_socket(), n;

	cr_assert_eq(send(fd, q, (size_t)qlen, 0), qlen);
	n = udp_recv(fd, b, cap, ms);
	close(fd);
	return n;
}

static int
tcp_socket(void)
{
	return listener_socket(SOCK_STREAM, &srv.l[0]);
}

/* Read exactly n octets within ms; 0 or -1. */
static int
read_full(int fd, unsigned char *b, size_t n, int ms)
{
	long end = ms_now() + ms;
	size_t off = 0;
	ssize_t r;

	while (off < n) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long left = end - ms_now();

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		if ((r = read(fd, b + off, n - off)) <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

/* One length-prefixed TCP message; its length or -1. */
static int
tcp_recv(int fd, unsigned char *b, size_t cap, int ms)
{
	unsigned char hdr[2];
	size_t len;

	if (read_full(fd, hdr, 2, ms) != 0)
		return -1;
	len = ns_get16(hdr);
	cr_assert_leq(len, cap);
	if (read_full(fd, b, len, ms) != 0)
		return -1;
	return (int)len;
}

static void
tcp_send_msg(int fd, const unsigned char *q, int qlen)
{
	unsigned char b[NS_PACKETSZ * 4];

	cr_assert_lt((size_t)qlen + 2, sizeof(b));
	ns_put16((unsigned)qlen, b);
	memcpy(b + 2, q, (size_t)qlen);
	cr_assert_eq(write(fd, b, (size_t)qlen + 2), qlen + 2);
}

/* ------------------------------------------------------------ the tests */

static const char basic_zone[] =
    "# a comment\n"
    "$TTL 600\n"
    "example.com.  SOA ns.example.com. hostmaster.example.com. "
    "1 3600 600 86400 120\n"
    "example.com.  MX 20 mx2.example.com.\n"
    "example.com   IN MX 10 mx1.example.com\n"
    "mx1.example.com. 60 A 127.0.0.2\n"
    "mx1.example.com. 60 AAAA ::1\n"
    "mx2.example.com. A 127.0.0.3\n"
    "deep.sub.example.com. A 127.0.0.4\n"
    "nomail.example. MX 0 .\n"
    "www.example.com. CNAME alias.example.com.\n"
    "alias.example.com. CNAME mx2.example.com.\n"
    "loop1.example. CNAME loop2.example.\n"
    "loop2.example. CNAME loop1.example.\n"
    "dangling.example.com. CNAME nothing.example.com.\n"
    "_25._tcp.mx1.example.com. TLSA 3 1 1 "
    "0123456789abcdef0123456789ABCDEF 0123456789abcdef0123456789abcdef\n"
    "example.com. TXT \"v=spf1 -all\" second\n"
    "generic.example. TYPE65280 \\# 3 abcdef\n";

Test(fakedns, mx_answer)
{
	unsigned char ans[4096];
	char target[NS_MAXDNAME];
	ns_msg h;
	ns_rr rr;
	int n;

	start(basic_zone);
	resolver();
	n = query("example.com", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_rcode), ns_r_noerror);
	cr_assert_eq(ns_msg_getflag(h, ns_f_aa), 1);
	cr_assert_eq(ns_msg_getflag(h, ns_f_ra), 1);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 2);
	rr_at(&h, ns_s_an, 0, &rr);
	cr_assert_eq(mx_of(&h, &rr, target, sizeof(target)), 20);
	cr_assert_str_eq(target, "mx2.example.com");
	cr_assert_str_eq(ns_rr_name(rr), "example.com");
	cr_assert_eq(ns_rr_ttl(rr), 600);
	rr_at(&h, ns_s_an, 1, &rr);
	cr_assert_eq(mx_of(&h, &rr, target, sizeof(target)), 10);
	cr_assert_str_eq(target, "mx1.example.com");
	cr_assert(log_has("udp example.com MX NOERROR"));
	finish();
}

Test(fakedns, a_and_aaaa)
{
	unsigned char ans[4096];
	char addr[INET6_ADDRSTRLEN];
	ns_msg h;
	ns_rr rr;
	int n;

	start(basic_zone);
	resolver();
	n = query("mx1.example.com", ns_t_a, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 1);
	rr_at(&h, ns_s_an, 0, &rr);
	cr_assert_eq(ns_rr_type(rr), ns_t_a);
	cr_assert_eq(ns_rr_rdlen(rr), 4);
	cr_assert_eq(ns_rr_ttl(rr), 60);
	inet_ntop(AF_INET, ns_rr_rdata(rr), addr, sizeof(addr));
	cr_assert_str_eq(addr, "127.0.0.2");

	n = query("mx1.example.com", ns_t_aaaa, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 1);
	rr_at(&h, ns_s_an, 0, &rr);
	cr_assert_eq(ns_rr_type(rr), ns_t_aaaa);
	cr_assert_eq(ns_rr_rdlen(rr), 16);
	inet_ntop(AF_INET6, ns_rr_rdata(rr), addr, sizeof(addr));
	cr_assert_str_eq(addr, "::1");
	cr_assert(log_has("udp mx1.example.com AAAA NOERROR"));
	finish();
}

Test(fakedns, case_is_preserved)
{
	unsigned char ans[4096];
	ns_msg h;
	ns_rr rr;
	int n;

	start(basic_zone);
	resolver();
	n = query("MX1.Example.COM", ns_t_a, ans, sizeof(ans));
	parse(ans, n, &h);
	rr_at(&h, ns_s_qd, 0, &rr);
	cr_assert_str_eq(ns_rr_name(rr), "MX1.Example.COM");
	rr_at(&h, ns_s_an, 0, &rr);
	cr_assert_str_eq(ns_rr_name(rr), "MX1.Example.COM");
	cr_assert(log_has("udp MX1.Example.COM A NOERROR"));
	finish();
}

Test(fakedns, nxdomain)
{
	unsigned char ans[4096];
	ns_msg h;
	ns_rr rr;
	int n;

	start(basic_zone);
	resolver();
	n = query("nosuch.example.com", ns_t_mx, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, HOST_NOT_FOUND);
	cr_assert_eq(ans[3] & 0xf, ns_r_nxdomain);	/* header is in ans */
	n = sendq("nosuch.example.com", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_rcode), ns_r_nxdomain);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 0);
	cr_assert_eq(ns_msg_count(h, ns_s_ns), 1);
	rr_at(&h, ns_s_ns, 0, &rr);
	cr_assert_eq(ns_rr_type(rr), ns_t_soa);
	cr_assert_str_eq(ns_rr_name(rr), "example.com");
	cr_assert_eq(ns_rr_ttl(rr), 120);
	cr_assert(log_has("udp nosuch.example.com MX NXDOMAIN"));
	finish();
}

Test(fakedns, nodata)
{
	unsigned char ans[4096];
	ns_msg h;
	int n;

	start(basic_zone);
	resolver();
	n = query("mx2.example.com", ns_t_mx, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, NO_DATA);
	n = sendq("mx2.example.com", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_rcode), ns_r_noerror);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 0);
	cr_assert_eq(ns_msg_count(h, ns_s_ns), 1);
	/* An empty non-terminal is NODATA too. */
	n = query("sub.example.com", ns_t_a, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, NO_DATA);
	cr_assert(log_has("udp mx2.example.com MX NOERROR"));
	cr_assert(log_has("udp sub.example.com A NOERROR"));
	finish();
}

Test(fakedns, servfail_and_refused)
{
	unsigned char ans[4096];
	int n;

	start("fail.example. MX 10 mx.fail.example.\n"
	    "on fail.example MX servfail\n"
	    "on refuse.example * refused\n"
	    "on gone.example. A nxdomain\n"
	    "gone.example. A 192.0.2.1\n");
	resolver();
	n = query("fail.example", ns_t_mx, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, TRY_AGAIN);
	n = query("refuse.example", ns_t_a, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, TRY_AGAIN);
	n = query("gone.example", ns_t_a, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, HOST_NOT_FOUND);
	cr_assert(log_has("udp fail.example MX SERVFAIL"));
	cr_assert(log_has("udp refuse.example A REFUSED"));
	cr_assert(log_has("udp gone.example A NXDOMAIN"));
	finish();
}

Test(fakedns, drop_times_out)
{
	unsigned char ans[4096];
	long t0;
	int n;

	start("slow.example. A 192.0.2.1\n"
	    "on slow.example * drop\n");
	resolver_v4(srv.l[0].port, 1, 1);
	t0 = ms_now();
	n = query("slow.example", ns_t_a, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, TRY_AGAIN);
	cr_assert_lt(ms_now() - t0, 3000);
	cr_assert_geq(ms_now() - t0, 900);
	cr_assert(log_has("udp slow.example A drop"));
	finish();
}

Test(fakedns, tc_forces_tcp)
{
	unsigned char ans[4096];
	char target[NS_MAXDNAME];
	ns_msg h;
	ns_rr rr;
	int n;

	start("tc.example. MX 10 mx1.tc.example.\n"
	    "tc.example. MX 20 mx2.tc.example.\n"
	    "on tc.example MX tc\n");
	resolver();
	n = query("tc.example", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_tc), 0);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 2);
	rr_at(&h, ns_s_an, 1, &rr);
	cr_assert_eq(mx_of(&h, &rr, target, sizeof(target)), 20);
	cr_assert_str_eq(target, "mx2.tc.example");
	cr_assert(log_has("udp tc.example MX NOERROR tc"));
	cr_assert(log_has("tcp tc.example MX NOERROR"));
	cr_assert_eq(log_lines(), 2);
	finish();
}

static void
big_zone(char *z, size_t cap, int count)
{
	size_t len = 0;
	int i;

	for (i = 0; i < count; i++)
		len += (size_t)snprintf(z + len, cap - len,
		    "big.example. MX %d mx%02d.big.example.\n", i, i);
}

Test(fakedns, large_answer_over_tcp)
{
	unsigned char ans[8192];
	char z[8192], target[NS_MAXDNAME], want[64];
	ns_msg h;
	ns_rr rr;
	int n, i;

	big_zone(z, sizeof(z), 40);
	start(z);
	resolver();
	n = query("big.example", ns_t_mx, ans, sizeof(ans));
	cr_assert_gt(n, 512);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 40);
	for (i = 0; i < 40; i++) {
		rr_at(&h, ns_s_an, i, &rr);
		cr_assert_eq(mx_of(&h, &rr, target, sizeof(target)),
		    (unsigned)i);
		snprintf(want, sizeof(want), "mx%02d.big.example", i);
		cr_assert_str_eq(target, want);
	}
	cr_assert(log_has("udp big.example MX NOERROR tc"));
	cr_assert(log_has("tcp big.example MX NOERROR"));
	finish();
}

Test(fakedns, large_answer_with_edns)
{
	unsigned char ans[8192];
	ns_msg h;
	ns_rr rr;
	int n;
	char z[8192];

	big_zone(z, sizeof(z), 40);
	start(z);
	resolver();
	rs.options |= RES_USE_EDNS0;
	n = query("big.example", ns_t_mx, ans, sizeof(ans));
	cr_assert_gt(n, 512);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 40);
	cr_assert_eq(ns_msg_count(h, ns_s_ar), 1);
	rr_at(&h, ns_s_ar, 0, &rr);
	cr_assert_eq(ns_rr_type(rr), ns_t_opt);
	cr_assert_eq(ns_rr_class(rr), 1232);
	cr_assert(log_has("udp big.example MX NOERROR edns"));
	cr_assert_eq(log_lines(), 1);
	finish();
}

Test(fakedns, truncation_at_advertised_size)
{
	unsigned char q[512], ans[65536];
	char z[8192];
	ns_msg h;
	int qlen, n;

	big_zone(z, sizeof(z), 100);
	start(z);
	qlen = mkquery(q, sizeof(q), 0x1234, "big.example", ns_t_mx, 700, 0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	cr_assert_gt(n, 512);
	cr_assert_leq(n, 700);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_id(h), 0x1234);
	cr_assert_eq(ns_msg_getflag(h, ns_f_tc), 1);
	cr_assert_gt(ns_msg_count(h, ns_s_an), 10);
	cr_assert_lt(ns_msg_count(h, ns_s_an), 100);
	cr_assert_eq(ns_msg_count(h, ns_s_ar), 1);	/* OPT kept */

	qlen = mkquery(q, sizeof(q), 0x1235, "big.example", ns_t_mx, 0, 0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	cr_assert_leq(n, 512);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_tc), 1);
	cr_assert_eq(ns_msg_count(h, ns_s_ar), 0);
	finish();
}

Test(fakedns, null_mx)
{
	unsigned char ans[4096];
	char target[NS_MAXDNAME];
	ns_msg h;
	ns_rr rr;
	int n;

	start(basic_zone);
	resolver();
	n = query("nomail.example", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 1);
	rr_at(&h, ns_s_an, 0, &rr);
	cr_assert_eq(ns_rr_rdlen(rr), 3);	/* 0x0000 and the root */
	cr_assert_eq(mx_of(&h, &rr, target, sizeof(target)), 0);
	cr_assert_str_eq(target, "");	/* dn_expand: root is "" */
	finish();
}

Test(fakedns, cname_chain_and_loop)
{
	unsigned char ans[4096];
	char target[NS_MAXDNAME];
	ns_msg h;
	ns_rr rr;
	int n;

	start(basic_zone);
	resolver();
	n = query("www.example.com", ns_t_a, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 3);
	rr_at(&h, ns_s_an, 0, &rr);
	cr_assert_eq(ns_rr_type(rr), ns_t_cname);
	cr_assert_str_eq(ns_rr_name(rr), "www.example.com");
	dn_expand(ns_msg_base(h), ns_msg_end(h), ns_rr_rdata(rr), target,
	    sizeof(target));
	cr_assert_str_eq(target, "alias.example.com");
	rr_at(&h, ns_s_an, 1, &rr);
	cr_assert_eq(ns_rr_type(rr), ns_t_cname);
	cr_assert_str_eq(ns_rr_name(rr), "alias.example.com");
	rr_at(&h, ns_s_an, 2, &rr);
	cr_assert_eq(ns_rr_type(rr), ns_t_a);
	cr_assert_str_eq(ns_rr_name(rr), "mx2.example.com");

	/* Asking for the CNAME itself gives just it. */
	n = query("www.example.com", ns_t_cname, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 1);

	/* A loop: each CNAME once, NOERROR. */
	n = query("loop1.example", ns_t_a, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_rcode), ns_r_noerror);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 2);

	/* A CNAME to a name that does not exist: NXDOMAIN (RFC 6604). */
	n = query("dangling.example.com", ns_t_a, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, HOST_NOT_FOUND);
	n = sendq("dangling.example.com", ns_t_a, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 1);
	finish();
}

Test(fakedns, tlsa_txt_generic)
{
	static const unsigned char want[] = { 3, 1, 1,
	    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
	unsigned char ans[4096];
	ns_msg h;
	ns_rr rr;
	int n;

	start(basic_zone);
	resolver();
	n = query("_25._tcp.mx1.example.com", ns_t_tlsa, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 1);
	rr_at(&h, ns_s_an, 0, &rr);
	cr_assert_eq(ns_rr_type(rr), ns_t_tlsa);
	cr_assert_eq(ns_rr_rdlen(rr), sizeof(want));
	cr_assert_arr_eq(ns_rr_rdata(rr), want, sizeof(want));

	n = query("example.com", ns_t_txt, ans, sizeof(ans));
	parse(ans, n, &h);
	rr_at(&h, ns_s_an, 0, &rr);
	cr_assert_eq(ns_rr_rdlen(rr), 1 + 11 + 1 + 6);
	cr_assert_arr_eq(ns_rr_rdata(rr), "\013v=spf1 -all\006second", 19);

	n = query("generic.example", 65280, ans, sizeof(ans));
	parse(ans, n, &h);
	rr_at(&h, ns_s_an, 0, &rr);
	cr_assert_eq(ns_rr_rdlen(rr), 3);
	cr_assert_arr_eq(ns_rr_rdata(rr), "\xab\xcd\xef", 3);
	finish();
}

Test(fakedns, ad_bit)
{
	unsigned char q[512], ans[4096];
	ns_msg h;
	int n, qlen;

	start("_25._tcp.mx.example. TLSA 3 1 1 abcd\n"
	    "plain.example. A 192.0.2.1\n"
	    "always.example. A 192.0.2.2\n"
	    "on _25._tcp.mx.example * ad\n"
	    "on always.example * adforce\n");
	resolver();
	rs.options |= RES_USE_EDNS0 | RES_USE_DNSSEC | RES_TRUSTAD;
	n = query("_25._tcp.mx.example", ns_t_tlsa, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_ad), 1);
	n = query("plain.example", ns_t_a, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_ad), 0);
	cr_assert(log_has("udp _25._tcp.mx.example TLSA NOERROR ad edns do"));

	/* Without RES_TRUSTAD glibc clears AD from what it hands back. */
	rs.options &= ~(unsigned long)RES_TRUSTAD;
	n = query("_25._tcp.mx.example", ns_t_tlsa, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_ad), 0);

	/* "ad" needs DO (or AD) in the query; "adforce" does not. */
	qlen = mkquery(q, sizeof(q), 7, "_25._tcp.mx.example", ns_t_tlsa,
	    1232, 0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_ad), 0);
	qlen = mkquery(q, sizeof(q), 8, "_25._tcp.mx.example", ns_t_tlsa,
	    1232, 1);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_ad), 1);
	qlen = mkquery(q, sizeof(q), 9, "always.example", ns_t_a, 0, 0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_ad), 1);
	finish();
}

static const char malformed_zone[] =
    "badptr.example. MX 10 mx.example.\n"
    "ptrloop.example. MX 10 mx.example.\n"
    "rdlength.example. MX 10 mx.example.\n"
    "ancount.example. MX 10 mx.example.\n"
    "id.example. MX 10 mx.example.\n"
    "qr.example. MX 10 mx.example.\n"
    "question.example. MX 10 mx.example.\n"
    "short.example. MX 10 mx.example.\n"
    "on badptr.example MX malformed badptr\n"
    "on ptrloop.example MX malformed ptrloop\n"
    "on rdlength.example MX malformed rdlength\n"
    "on ancount.example MX malformed ancount\n"
    "on id.example MX malformed id\n"
    "on qr.example MX malformed qr\n"
    "on question.example MX malformed question\n"
    "on short.example MX malformed short\n"
    "on empty.example MX malformed badptr\n";

/* A malformed answer reaches the caller, and the parser rejects it. */
static void
expect_unparsable(const char *name)
{
	unsigned char ans[4096];
	ns_msg h;
	ns_rr rr;
	int n;

	n = query(name, ns_t_mx, ans, sizeof(ans));
	if (n < 0)
		n = sendq(name, ns_t_mx, ans, sizeof(ans));
	if (ns_initparse(ans, n, &h) == 0)
		cr_assert_neq(ns_parserr(&h, ns_s_an, 0, &rr), 0,
		    "%s parsed", name);
}

Test(fakedns, malformed_reaches_parser)
{
	start(malformed_zone);
	resolver();
	expect_unparsable("badptr.example");
	expect_unparsable("ptrloop.example");
	expect_unparsable("rdlength.example");
	expect_unparsable("ancount.example");
	expect_unparsable("empty.example");
	cr_assert(log_has("udp badptr.example MX NOERROR malformed=badptr"));
	cr_assert(log_has("udp ancount.example MX NOERROR malformed=ancount"));
	finish();
}

Test(fakedns, malformed_raw)
{
	unsigned char q[512], ans[4096];
	ns_msg h;
	ns_rr rr;
	int n, qlen;

	start(malformed_zone);

	/* badptr: initparse passes (names are skipped), parserr fails. */
	qlen = mkquery(q, sizeof(q), 0x0101, "badptr.example", ns_t_mx, 0, 0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_neq(ns_parserr(&h, ns_s_an, 0, &rr), 0);
	qlen = mkquery(q, sizeof(q), 0x0102, "ptrloop.example", ns_t_mx, 0,
	    0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_neq(ns_parserr(&h, ns_s_an, 0, &rr), 0);
	/* rdlength and ancount: initparse fails. */
	qlen = mkquery(q, sizeof(q), 0x0103, "rdlength.example", ns_t_mx, 0,
	    0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	cr_assert_gt(n, 12);
	cr_assert_neq(ns_initparse(ans, n, &h), 0);
	qlen = mkquery(q, sizeof(q), 0x0104, "ancount.example", ns_t_mx, 0,
	    0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	cr_assert_gt(n, 12);
	cr_assert_eq(ns_get16(ans + 6), 3);
	cr_assert_neq(ns_initparse(ans, n, &h), 0);
	/* id */
	qlen = mkquery(q, sizeof(q), 0x0105, "id.example", ns_t_mx, 0, 0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_neq(ns_msg_id(h), 0x0105);
	/* qr */
	qlen = mkquery(q, sizeof(q), 0x0106, "qr.example", ns_t_mx, 0, 0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_id(h), 0x0106);
	cr_assert_eq(ns_msg_getflag(h, ns_f_qr), 0);
	/* question */
	qlen = mkquery(q, sizeof(q), 0x0107, "question.example", ns_t_mx, 0,
	    0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	rr_at(&h, ns_s_qd, 0, &rr);
	cr_assert_str_eq(ns_rr_name(rr), "wrong.question.example");
	/* short */
	qlen = mkquery(q, sizeof(q), 0x0108, "short.example", ns_t_mx, 0, 0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	cr_assert_eq(n, 7);
	finish();
}

Test(fakedns, mismatched_replies_are_ignored_by_libresolv)
{
	unsigned char ans[4096];
	ns_msg h;
	long t0;
	int n;

	start(malformed_zone);
	resolver_v4(srv.l[0].port, 1, 1);
	t0 = ms_now();
	n = query("id.example", ns_t_mx, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, TRY_AGAIN);
	n = query("question.example", ns_t_mx, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, TRY_AGAIN);
	cr_assert_lt(ms_now() - t0, 5000);
	/* A reply shorter than a header fails at once. */
	t0 = ms_now();
	n = query("short.example", ns_t_mx, ans, sizeof(ans));
	cr_assert_eq(n, -1);
	cr_assert_eq(rs.res_h_errno, TRY_AGAIN);
	cr_assert_lt(ms_now() - t0, 900);
	/* But a reply with QR=0 is accepted: the caller must check QR. */
	n = query("qr.example", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_qr), 0);
	finish();
}

Test(fakedns, tcp_several_queries)
{
	unsigned char q1[512], q2[512], both[1024], ans[4096];
	ns_msg h;
	int fd, n, l1, l2;

	start(basic_zone);
	fd = tcp_socket();
	l1 = mkquery(q1, sizeof(q1), 0x1111, "example.com", ns_t_mx, 0, 0);
	l2 = mkquery(q2, sizeof(q2), 0x2222, "mx1.example.com", ns_t_a, 0, 0);
	/* Both in one write, then a third one later. */
	ns_put16((unsigned)l1, both);
	memcpy(both + 2, q1, (size_t)l1);
	ns_put16((unsigned)l2, both + 2 + l1);
	memcpy(both + 4 + l1, q2, (size_t)l2);
	cr_assert_eq(write(fd, both, (size_t)(l1 + l2 + 4)), l1 + l2 + 4);
	n = tcp_recv(fd, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_id(h), 0x1111);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 2);
	n = tcp_recv(fd, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_id(h), 0x2222);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 1);
	/* The third, sent one octet at a time. */
	l1 = mkquery(q1, sizeof(q1), 0x3333, "nomail.example", ns_t_mx, 0, 0);
	ns_put16((unsigned)l1, both);
	memcpy(both + 2, q1, (size_t)l1);
	for (n = 0; n < l1 + 2; n++)
		cr_assert_eq(write(fd, both + n, 1), 1);
	n = tcp_recv(fd, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_id(h), 0x3333);
	close(fd);
	cr_assert(log_has("tcp example.com MX NOERROR"));
	cr_assert(log_has("tcp mx1.example.com A NOERROR"));
	finish();
}

Test(fakedns, hostile_queries)
{
	static const unsigned char cases[][32] = {
		/* compression pointer in the question */
		{ 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1 },
		/* label running past the end */
		{ 0, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, 'a', 'b' },
		/* no question */
		{ 0, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		/* huge counts */
		{ 0, 4, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0, 0, 1, 0, 1 },
		/* additional record with RDLENGTH past the end */
		{ 0, 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1,
		  0, 0, 41, 16, 0, 0, 0, 0, 0, 0xff, 0xff },
		/* a response, not a query */
		{ 0, 6, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1 },
	};
	static const size_t lens[] = { 18, 15, 12, 17, 28, 17 };
	unsigned char pkt[600], ans[4096];
	unsigned long seed = 12345;
	ns_msg h;
	size_t i, j, len;
	int fd, n;

	start(basic_zone);
	fd = udp_socket();
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		cr_assert_eq(send(fd, cases[i], lens[i], 0), (ssize_t)lens[i]);
		n = udp_recv(fd, ans, sizeof(ans), 500);
		if (i == 5)
			cr_assert_eq(n, -1, "a response was answered");
		else if (n >= 0) {
			cr_assert_geq(n, 12);
			cr_assert_eq(ans[3] & 0xf, ns_r_formerr, "case %zu", i);
		}
	}
	/* Random garbage, bounded. */
	for (i = 0; i < 2000; i++) {
		seed = seed * 1103515245UL + 12345UL;
		len = (seed >> 16) % sizeof(pkt);
		for (j = 0; j < len; j++) {
			seed = seed * 1103515245UL + 12345UL;
			pkt[j] = (unsigned char)(seed >> 16);
		}
		if (len > 2)
			pkt[2] &= 0x7f;		/* mostly "queries" */
		(void)send(fd, pkt, len, 0);
		while (udp_recv(fd, ans, sizeof(ans), 0) >= 0)
			;
	}
	close(fd);
	/* The same over TCP, one connection per message. */
	for (i = 0; i < 200; i++) {
		seed = seed * 1103515245UL + 12345UL;
		len = (seed >> 16) % sizeof(pkt);
		for (j = 0; j < len; j++) {
			seed = seed * 1103515245UL + 12345UL;
			pkt[j] = (unsigned char)(seed >> 16);
		}
		fd = tcp_socket();
		(void)write(fd, pkt, len);
		close(fd);
	}
	/* Still answering. */
	resolver();
	n = query("example.com", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 2);
	cr_assert(log_has("udp - - FORMERR"));
	cr_assert(log_has("udp - - ignored"));
	finish();
}

Test(fakedns, delay_does_not_block)
{
	unsigned char q[512], ans[4096];
	ns_msg h;
	long t0;
	int fd, n, qlen;

	start("slow.example. A 192.0.2.1\n"
	    "fast.example. A 192.0.2.2\n"
	    "on slow.example A delay 600\n");
	fd = udp_socket();
	t0 = ms_now();
	qlen = mkquery(q, sizeof(q), 1, "slow.example", ns_t_a, 0, 0);
	cr_assert_eq(send(fd, q, (size_t)qlen, 0), qlen);
	qlen = mkquery(q, sizeof(q), 2, "fast.example", ns_t_a, 0, 0);
	cr_assert_eq(send(fd, q, (size_t)qlen, 0), qlen);
	n = udp_recv(fd, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_id(h), 2);
	cr_assert_lt(ms_now() - t0, 500);
	n = udp_recv(fd, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_id(h), 1);
	cr_assert_geq(ms_now() - t0, 550);
	close(fd);
	cr_assert(log_has("udp slow.example A NOERROR delay=600"));
	finish();
}

Test(fakedns, first_n_and_transport)
{
	unsigned char q[512], ans[4096];
	ns_msg h;
	int fd, n, qlen;

	start("flaky.example. A 192.0.2.1\n"
	    "tcpfail.example. MX 10 mx.example.\n"
	    "on flaky.example A first 2 servfail\n"
	    "on tcpfail.example MX tc\n"
	    "on tcpfail.example MX tcp servfail\n");
	qlen = mkquery(q, sizeof(q), 1, "flaky.example", ns_t_a, 0, 0);
	for (n = 0; n < 3; n++) {
		int got = udp_ask(q, qlen, ans, sizeof(ans), 2000);

		parse(ans, got, &h);
		cr_assert_eq(ns_msg_getflag(h, ns_f_rcode),
		    n < 2 ? ns_r_servfail : ns_r_noerror);
	}
	qlen = mkquery(q, sizeof(q), 2, "tcpfail.example", ns_t_mx, 0, 0);
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_tc), 1);
	cr_assert_eq(ns_msg_getflag(h, ns_f_rcode), ns_r_noerror);
	fd = tcp_socket();
	tcp_send_msg(fd, q, qlen);
	n = tcp_recv(fd, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_getflag(h, ns_f_rcode), ns_r_servfail);
	close(fd);
	finish();
}

Test(fakedns, tcp_close)
{
	unsigned char q[512], ans[4096];
	int fd, n, qlen;

	start("x.example. A 192.0.2.1\n"
	    "on x.example A close\n");
	fd = tcp_socket();
	qlen = mkquery(q, sizeof(q), 1, "x.example", ns_t_a, 0, 0);
	tcp_send_msg(fd, q, qlen);
	n = tcp_recv(fd, ans, sizeof(ans), 2000);
	cr_assert_eq(n, -1);
	cr_assert_eq(read(fd, ans, sizeof(ans)), 0);	/* EOF, not time-out */
	close(fd);
	cr_assert(log_has("tcp x.example A close"));
	finish();
}

Test(fakedns, edns_badvers)
{
	unsigned char q[512], ans[4096];
	ns_msg h;
	ns_rr rr;
	int n, qlen;

	start(basic_zone);
	qlen = mkquery(q, sizeof(q), 1, "example.com", ns_t_mx, 1232, 0);
	q[qlen - 10 + 5] = 1;	/* EDNS version 1 */
	n = udp_ask(q, qlen, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_ar), 1);
	rr_at(&h, ns_s_ar, 0, &rr);
	cr_assert_eq(ns_rr_type(rr), ns_t_opt);
	cr_assert_eq((ns_rr_ttl(rr) >> 24) & 0xff, 1);	/* 16 >> 4 */
	cr_assert_eq(ns_msg_getflag(h, ns_f_rcode), 0);
	cr_assert(log_has("udp example.com MX BADVERS"));
	finish();
}

Test(fakedns, ipv6_nameserver)
{
	unsigned char ans[4096];
	const char *const extra[] = { "--listen", "[::1]:0", NULL };
	struct sockaddr_in6 *s6;
	ns_msg h;
	int n;

	start_args(basic_zone, extra);
	cr_assert_str_eq(srv.l[0].addr, "::1");
	memset(&rs, 0, sizeof(rs));
	cr_assert_eq(res_ninit(&rs), 0);
	rs_live = 1;
	/* glibc: family 0 in nsaddr_list[i] means "use _u._ext.nsaddrs[i]" */
	if ((s6 = rs._u._ext.nsaddrs[0]) == NULL) {
		cr_assert_not_null(s6 = malloc(sizeof(*s6)));
		rs._u._ext.nsaddrs[0] = s6;
	}
	memset(s6, 0, sizeof(*s6));
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((uint16_t)srv.l[0].port);
	s6->sin6_addr = in6addr_loopback;
	memset(&rs.nsaddr_list[0], 0, sizeof(rs.nsaddr_list[0]));
	rs.nsaddr_list[0].sin_family = 0;
	rs.nscount = 1;
	rs.retrans = 2;
	rs.retry = 1;
	n = query("example.com", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 2);
	cr_assert(log_has("udp example.com MX NOERROR"));
	finish();
}

Test(fakedns, two_listeners)
{
	unsigned char q[512], ans[4096];
	const char *const extra[] = { "--listen", "127.0.0.1:0",
	    "--listen", "127.0.0.2:0", NULL };
	ns_msg h;
	int fd, n, qlen;

	/* Both "ready ADDR PORT pid N" lines parsed (srv.nbad is 0). */
	start_args(basic_zone, extra);
	cr_assert_eq(srv.nl, 2);
	cr_assert_str_eq(srv.l[0].addr, "127.0.0.1");
	cr_assert_str_eq(srv.l[1].addr, "127.0.0.2");
	fd = listener_socket(SOCK_DGRAM, &srv.l[1]);
	qlen = mkquery(q, sizeof(q), 5, "example.com", ns_t_mx, 0, 0);
	cr_assert_eq(send(fd, q, (size_t)qlen, 0), qlen);
	n = udp_recv(fd, ans, sizeof(ans), 2000);
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 2);
	close(fd);
	resolver();
	n = query("example.com", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	finish();
}

Test(fakedns, lifetime_and_sigterm)
{
	const char *argv[] = { support_path("fakedns"), "--zone", zonepath,
	    "--lifetime", "1", NULL };
	long t0;
	int st;

	write_file(zonepath, basic_zone);
	t0 = ms_now();
	st = server_run(argv, errpath, 4000);
	cr_assert_neq(st, -1, "did not exit at the end of its lifetime");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_geq(ms_now() - t0, 900);

	start(basic_zone);
	st = server_stop(&srv);		/* SIGTERM, then 2 s */
	cr_assert_neq(st, -1, "SIGTERM ignored");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	finish();
}

/* Run fakedns to completion; its exit status. */
static int
run(const char *const argv[])
{
	int st = server_run(argv, errpath, 5000);

	if (st == -1)
		cr_assert_fail("fakedns did not exit");
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int
stderr_has(const char *s)
{
	char buf[4096];
	FILE *fp = fopen(errpath, "r");
	size_t n;

	cr_assert_not_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return strstr(buf, s) != NULL;
}

Test(fakedns, bad_zone_and_arguments)
{
	const char *check[] = { support_path("fakedns"), "--zone", zonepath, "--check",
	    NULL };
	const char *wild[] = { support_path("fakedns"), "--zone", zonepath,
	    "--listen", "0.0.0.0:0", NULL };
	const char *noport[] = { support_path("fakedns"), "--zone", zonepath,
	    "--listen", "127.0.0.1", NULL };
	char want[700];

	write_file(zonepath, basic_zone);
	cr_assert_eq(run(check), 0);
	write_file(zonepath, "ok.example. A 192.0.2.1\n"
	    "bad.example. MX ten mx.example.\n");
	cr_assert_eq(run(check), 65);
	snprintf(want, sizeof(want), "%s:2: ", zonepath);
	cr_assert(stderr_has(want));
	write_file(zonepath, "on x.example A explode\n");
	cr_assert_eq(run(check), 65);
	write_file(zonepath, "x.example. TXT \"unterminated\n");
	cr_assert_eq(run(check), 65);
	write_file(zonepath, "x..example. A 192.0.2.1\n");
	cr_assert_eq(run(check), 65);
	write_file(zonepath, basic_zone);
	cr_assert_eq(run(wild), 64);
	cr_assert(stderr_has("loopback"));
	cr_assert_eq(run(noport), 64);
	finish();
}

Test(fakedns, glue_puts_mx_target_addresses_in_additional)
{
	unsigned char ans[4096];
	char a[64];
	ns_msg h;
	ns_rr rr;
	int n, i, na = 0, naaaa = 0;

	start("g.example. MX 10 mx1.g.example.\n"
	    "g.example. MX 20 out.example.\n"
	    "mx1.g.example. A 192.0.2.1\n"
	    "mx1.g.example. AAAA 2001:db8::1\n"
	    "mx1.g.example. TXT \"not glue\"\n"
	    "plain.example. MX 10 mx1.g.example.\n"
	    "on g.example MX glue\n");
	resolver();
	n = query("g.example", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	cr_assert_eq(ns_msg_count(h, ns_s_an), 2);
	/* The OPT record is in the additional section too. */
	for (i = 0; i < ns_msg_count(h, ns_s_ar); i++) {
		rr_at(&h, ns_s_ar, i, &rr);
		if (ns_rr_type(rr) == ns_t_opt)
			continue;
		cr_assert_str_eq(ns_rr_name(rr), "mx1.g.example");
		if (ns_rr_type(rr) == ns_t_a) {
			inet_ntop(AF_INET, ns_rr_rdata(rr), a, sizeof(a));
			cr_assert_str_eq(a, "192.0.2.1");
			na++;
		} else {
			cr_assert_eq(ns_rr_type(rr), ns_t_aaaa);
			naaaa++;
		}
	}
	cr_assert_eq(na, 1);
	cr_assert_eq(naaaa, 1);
	/* Without the rule: no glue. */
	n = query("plain.example", ns_t_mx, ans, sizeof(ans));
	parse(ans, n, &h);
	for (i = 0; i < ns_msg_count(h, ns_s_ar); i++) {
		rr_at(&h, ns_s_ar, i, &rr);
		cr_assert_eq(ns_rr_type(rr), ns_t_opt);
	}
	finish();
}

Test(fakedns, tcp_drop_keeps_the_connection_silent)
{
	unsigned char q[512], ans[4096];
	int fd, n, qlen;

	start("x.example. A 192.0.2.1\n"
	    "on x.example A udp tc\n"
	    "on x.example A tcp drop\n");
	fd = tcp_socket();
	qlen = mkquery(q, sizeof(q), 1, "x.example", ns_t_a, 0, 0);
	tcp_send_msg(fd, q, qlen);
	n = tcp_recv(fd, ans, sizeof(ans), 700);
	cr_assert_eq(n, -1, "no answer");
	/* Still open: a silent server, not a closed one. */
	cr_assert_eq(recv(fd, ans, sizeof(ans), MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
	close(fd);
	cr_assert(log_has("tcp x.example A drop"));
	finish();
}
