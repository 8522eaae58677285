/*
 * test_net.c: net.c and tls.c against servers in a thread of the test on
 * 127.0.0.1 and ::1: connect failures and time-outs, line reading with its
 * limits, writes to slow or closed peers, the TLS handshake with each kind
 * of verification (against a CA made at test time with certtool), and the
 * hash helpers against their RFCs' test vectors.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "net.h"
#include "tls.h"
#include "util.h"

#define HOLD_MS		5000	/* longest any server thread lives */
#define BIG		(8u * 1024 * 1024)

/* ------------------------------------------------------------ helpers */

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
msleep(int ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
have_ipv6(void)
{
	struct sockaddr_in6	 sa;
	int			 fd, ok;

	if ((fd = socket(AF_INET6, SOCK_STREAM, 0)) == -1)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void
loopback(int family, uint16_t port, struct dns_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons(port);
		a->len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s4->sin_port = htons(port);
		a->len = sizeof(*s4);
	}
}

/* A TCP socket bound to the loopback address, port chosen by the kernel. */
static int
bound_socket(int family, uint16_t *port)
{
	struct dns_addr	 a;
	int		 fd;

	loopback(family, 0, &a);
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd != -1);
	cr_assert(bind(fd, (struct sockaddr *)&a.ss, a.len) == 0);
	a.len = sizeof(a.ss);
	cr_assert(getsockname(fd, (struct sockaddr *)&a.ss, &a.len) == 0);
	*port = ntohs(a.ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&a.ss)->sin6_port :
	    ((struct sockaddr_in *)&a.ss)->sin_port);
	return fd;
}

/* ------------------------------------------------------------ PKI */

struct pki {
	char		 dir[64];
	char		 ca[128], cert[128], key[128];
	unsigned char	 pin[32];
};

static void
write_file(const char *path, const char *text)
{
	FILE	*fp;

	cr_assert((fp = fopen(path, "w")) != NULL, "%s", path);
	fputs(text, fp);
	cr_assert(fclose(fp) == 0);
}

static void
run(const char *fmt, const char *dir)
{
	char	 cmd[1024];

	snprintf(cmd, sizeof(cmd), fmt, dir, dir, dir, dir, dir);
	cr_assert(system(cmd) == 0, "failed: %s", cmd);
}

/* Made per test, removed by the suite's fini even when a test fails. */
static struct pki	 the_pki;

static void
pki_path(char *out, size_t outlen, const char *name)
{
	int	 n;

	n = snprintf(out, outlen, "%s/%s", the_pki.dir, name);
	cr_assert(n > 0 && (size_t)n < outlen);
}

/* A throw-away CA and a server certificate for localhost signed by it. */
static struct pki *
pki_make(void)
{
	struct pki		*p = &the_pki;
	gnutls_x509_crt_t	 crt;
	gnutls_datum_t		 pem;
	char			 path[128];
	size_t			 n;

	if (system("certtool --version >/dev/null 2>&1") != 0)
		cr_skip_test("certtool (gnutls-bin) is not installed");
	strlcpy(p->dir, "/tmp/test_net.XXXXXX", sizeof(p->dir));
	cr_assert(mkdtemp(p->dir) != NULL);
	pki_path(p->ca, sizeof(p->ca), "ca.pem");
	pki_path(p->cert, sizeof(p->cert), "srv.pem");
	pki_path(p->key, sizeof(p->key), "srv.key");
	pki_path(path, sizeof(path), "ca.tmpl");
	write_file(path, "cn = \"mxsend test CA\"\nca\ncert_signing_key\n"
	    "expiration_days = 2\n");
	pki_path(path, sizeof(path), "srv.tmpl");
	write_file(path, "cn = \"localhost\"\ndns_name = \"localhost\"\n"
	    "ip_address = \"127.0.0.1\"\nip_address = \"::1\"\n"
	    "tls_www_server\nsigning_key\nencryption_key\n"
	    "expiration_days = 2\n");
	run("certtool --generate-privkey --key-type=ecdsa "
	    "--outfile %s/ca.key >/dev/null 2>&1", p->dir);
	run("certtool --generate-self-signed --load-privkey %s/ca.key "
	    "--template %s/ca.tmpl --outfile %s/ca.pem >/dev/null 2>&1",
	    p->dir);
	run("certtool --generate-privkey --key-type=ecdsa "
	    "--outfile %s/srv.key >/dev/null 2>&1", p->dir);
	run("certtool --generate-certificate --load-privkey %s/srv.key "
	    "--load-ca-certificate %s/ca.pem --load-ca-privkey %s/ca.key "
	    "--template %s/srv.tmpl --outfile %s/srv.pem >/dev/null 2>&1",
	    p->dir);

	cr_assert(gnutls_load_file(p->cert, &pem) == 0);
	cr_assert(gnutls_x509_crt_init(&crt) == 0);
	cr_assert(gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM) == 0);
	n = sizeof(p->pin);
	cr_assert(gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256,
	    p->pin, &n) == 0 && n == 32);
	gnutls_x509_crt_deinit(crt);
	gnutls_free(pem.data);
	return p;
}

static void
pki_free(void)
{
	struct pki	*p = &the_pki;
	static const char *names[] = { "ca.key", "ca.pem", "ca.tmpl",
	    "srv.key", "srv.pem", "srv.tmpl" };
	char	 path[128];
	size_t	 i;

	if (p->dir[0] == '\0')
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", p->dir, names[i]) <
		    (int)sizeof(path))
			unlink(path);
	}
	rmdir(p->dir);
	p->dir[0] = '\0';
}

/* ------------------------------------------------------------ servers */

struct srv;
typedef void (*srv_fn)(struct srv *, int);

struct srv {
	int		 lfd;
	int		 family;
	uint16_t	 port;
	pthread_t	 th;
	srv_fn		 fn;
	const char	*data;		/* what the server sends */
	size_t		 datalen;
	size_t		 expect;	/* what a sink should receive */
	const struct pki *pki;
	atomic_int	 stop;
	/* Results, read after srv_stop(). */
	int		 accepted;
	int		 handshake;	/* gnutls_handshake's result */
	char		 sni[256];
	size_t		 got;
	int		 pattern_ok;
};

static void *
srv_main(void *arg)
{
	struct srv	*s = arg;
	struct pollfd	 pfd = { s->lfd, POLLIN, 0 };
	struct timeval	 tv = { HOLD_MS / 1000, 0 };
	int		 fd, i;

	for (i = 0; i < HOLD_MS / 10; i++) {
		if (atomic_load(&s->stop))
			return NULL;
		if (poll(&pfd, 1, 10) == 1)
			break;
	}
	if (i == HOLD_MS / 10)
		return NULL;
	if ((fd = accept(s->lfd, NULL, NULL)) == -1)
		return NULL;
	s->accepted = 1;
	/* Blocking calls in a server can wait no longer than HOLD_MS. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	s->fn(s, fd);
	close(fd);
	return NULL;
}

static void
srv_start(struct srv *s, int family, srv_fn fn, int rcvbuf)
{
	s->lfd = bound_socket(family, &s->port);
	s->family = family;
	s->fn = fn;
	if (rcvbuf > 0)
		setsockopt(s->lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
	cr_assert(listen(s->lfd, 4) == 0);
	cr_assert(pthread_create(&s->th, NULL, srv_main, s) == 0);
}

static void
srv_stop(struct srv *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	close(s->lfd);
}

static void
sendall(int fd, const void *p, size_t n)
{
	const char	*q = p;
	ssize_t		 w;

	while (n > 0) {
		w = send(fd, q, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		q += w;
		n -= (size_t)w;
	}
}

/*
 * Keep the connection open until the test stops the server or the client
 * closes (when reading is allowed), at most HOLD_MS.
 */
static void
hold(struct srv *s, int fd, int drain)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		 b[4096];
	int		 i;

	for (i = 0; i < HOLD_MS / 10 && !atomic_load(&s->stop); i++) {
		if (!drain) {
			msleep(10);
			continue;
		}
		if (poll(&pfd, 1, 10) == 1 && recv(fd, b, sizeof(b), 0) <= 0)
			return;
	}
}

static void
fn_send_hold(struct srv *s, int fd)
{
	sendall(fd, s->data, s->datalen);
	hold(s, fd, 1);
}

static void
fn_send_close(struct srv *s, int fd)
{
	sendall(fd, s->data, s->datalen);
}

static void
fn_silent(struct srv *s, int fd)
{
	hold(s, fd, 0);
}

static void
fn_close_now(struct srv *s, int fd)
{
	(void)s;
	(void)fd;
}

static void
fn_bytewise(struct srv *s, int fd)
{
	int	 one = 1;
	size_t	 i;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < s->datalen; i++) {
		sendall(fd, s->data + i, 1);
		msleep(5);
	}
	hold(s, fd, 1);
}

static void
fn_trickle(struct srv *s, int fd)
{
	int	 i;

	for (i = 0; i < 20 && !atomic_load(&s->stop); i++) {
		if (send(fd, "x", 1, MSG_NOSIGNAL) != 1)
			return;
		msleep(300);
	}
}

static unsigned char
pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

/* Read slowly, check the bytes, then say how many came. */
static void
fn_slow_sink(struct srv *s, int fd)
{
	unsigned char	 b[16384];
	char		 reply[64];
	ssize_t		 r, i;

	s->pattern_ok = 1;
	while (s->got < s->expect) {
		if ((r = recv(fd, b, sizeof(b), 0)) <= 0)
			return;
		for (i = 0; i < r; i++)
			if (b[i] != pattern(s->got + (size_t)i))
				s->pattern_ok = 0;
		s->got += (size_t)r;
		usleep(200);
	}
	snprintf(reply, sizeof(reply), "OK %zu\r\n", s->got);
	sendall(fd, reply, strlen(reply));
	hold(s, fd, 1);
}

static gnutls_session_t
srv_tls(struct srv *s, int fd, gnutls_certificate_credentials_t *cred)
{
	gnutls_session_t	 ses;
	size_t			 n = sizeof(s->sni);
	unsigned		 type;

	cr_assert(gnutls_certificate_allocate_credentials(cred) == 0);
	cr_assert(gnutls_certificate_set_x509_key_file(*cred, s->pki->cert,
	    s->pki->key, GNUTLS_X509_FMT_PEM) == 0);
	cr_assert(gnutls_init(&ses, GNUTLS_SERVER) == 0);
	gnutls_set_default_priority(ses);
	gnutls_credentials_set(ses, GNUTLS_CRD_CERTIFICATE, *cred);
	gnutls_transport_set_int(ses, fd);
	gnutls_handshake_set_timeout(ses, HOLD_MS);
	do
		s->handshake = gnutls_handshake(ses);
	while (s->handshake < 0 && !gnutls_error_is_fatal(s->handshake));
	if (s->handshake == 0 && gnutls_server_name_get(ses, s->sni, &n,
	    &type, 0) != 0)
		s->sni[0] = '\0';
	return ses;
}

static void
srv_tls_end(gnutls_session_t ses, gnutls_certificate_credentials_t cred)
{
	gnutls_deinit(ses);
	gnutls_certificate_free_credentials(cred);
}

/* Handshake, then answer one line with "echo: LINE". */
static void
fn_tls_echo(struct srv *s, int fd)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t	 ses;
	char			 b[512], reply[600];
	size_t			 n = 0;
	ssize_t			 r;

	ses = srv_tls(s, fd, &cred);
	if (s->handshake == 0) {
		while (n < sizeof(b) - 1 && memchr(b, '\n', n) == NULL) {
			r = gnutls_record_recv(ses, b + n, sizeof(b) - 1 - n);
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		b[n] = '\0';
		snprintf(reply, sizeof(reply), "echo: %s", b);
		gnutls_record_send(ses, reply, strlen(reply));
		gnutls_bye(ses, GNUTLS_SHUT_WR);
	}
	srv_tls_end(ses, cred);
}

static void
fn_tls_sink(struct srv *s, int fd)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t	 ses;
	unsigned char		 b[16384];
	char			 reply[64];
	ssize_t			 r, i;

	ses = srv_tls(s, fd, &cred);
	s->pattern_ok = 1;
	while (s->handshake == 0 && s->got < s->expect) {
		if ((r = gnutls_record_recv(ses, b, sizeof(b))) <= 0)
			break;
		for (i = 0; i < r; i++)
			if (b[i] != pattern(s->got + (size_t)i))
				s->pattern_ok = 0;
		s->got += (size_t)r;
		usleep(100);
	}
	snprintf(reply, sizeof(reply), "OK %zu\r\n", s->got);
	if (s->handshake == 0)
		gnutls_record_send(ses, reply, strlen(reply));
	srv_tls_end(ses, cred);
}

/* Handshake, then drop the connection without a word. */
static void
fn_tls_drop(struct srv *s, int fd)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t	 ses;

	ses = srv_tls(s, fd, &cred);
	srv_tls_end(ses, cred);
}

static void
fn_garbage(struct srv *s, int fd)
{
	static const char g[] = "220 mx.example ESMTP this is not TLS\r\n";
	int	 i;

	for (i = 0; i < 4; i++)
		sendall(fd, g, sizeof(g) - 1);
	hold(s, fd, 1);
}

/* Take the ClientHello, never answer it. */
static void
fn_tls_stall(struct srv *s, int fd)
{
	char	 b[4096];

	(void)recv(fd, b, sizeof(b), 0);
	hold(s, fd, 0);
}

/* ------------------------------------------------------------ client */

static void
client(struct conn *c, struct srv *s, unsigned timeout)
{
	struct dns_addr	 a;
	enum net_status	 st;

	loopback(s->family, s->port, &a);
	st = net_connect(c, &a, s->port, timeout, NULL);
	cr_assert_eq(st, NET_OK, "connect: %d %s", st, c->err);
}

static void
serve_text(struct srv *s, const char *text, srv_fn fn)
{
	memset(s, 0, sizeof(*s));
	s->data = text;
	s->datalen = strlen(text);
	srv_start(s, AF_INET, fn, 0);
}

static void
expect_line(struct conn *c, const char *want, size_t max)
{
	char		 line[1024];
	size_t		 len;
	enum net_status	 st;

	cr_assert(max <= sizeof(line));
	st = net_read_line(c, line, max, &len, 5);
	cr_assert_eq(st, NET_OK, "read: %d %s", st, c->err);
	cr_assert_eq(len, strlen(want));
	cr_assert_str_eq(line, want);
}

/* ------------------------------------------------------------ connect */

/*
 * Every wait in these tests is bounded already; the alarm only ends a
 * test process that hangs through a bug. (Criterion's own .timeout leaks
 * in its runner, which LeakSanitizer reports.)
 */
static void
guard(void)
{
	alarm(30);
}

TestSuite(net_connect, .init = guard);
TestSuite(net_deadline, .init = guard);
TestSuite(net_read, .init = guard);
TestSuite(net_write, .init = guard);
TestSuite(tls, .init = guard, .fini = pki_free);
TestSuite(tls_hash, .init = guard);

Test(net_connect, ipv4_ok)
{
	struct srv	 s;
	struct conn	 c;

	serve_text(&s, "220 ready\r\n", fn_send_hold);
	client(&c, &s, 2);
	cr_assert_str_eq(c.peer, "127.0.0.1");
	cr_assert_eq(c.port, s.port);
	cr_assert(c.tls == NULL);
	expect_line(&c, "220 ready", 512);
	cr_assert(fcntl(c.fd, F_GETFD) & FD_CLOEXEC);
	net_close(&c);
	cr_assert_eq(c.fd, -1);
	net_close(&c);		/* a second close is harmless */
	srv_stop(&s);
	cr_assert(s.accepted);
}

/*
 * SPEC §6: no write may wait for the peer's delayed ACK (the pipelined
 * flight, the TLS handshake's short records), so Nagle is off on every
 * SMTP socket, both families, before the first byte goes out.
 */
static void
nodelay(int family)
{
	struct srv	 s;
	struct conn	 c;
	socklen_t	 sl;
	int		 on = 0;

	memset(&s, 0, sizeof(s));
	s.data = "220 ready\r\n";
	s.datalen = strlen(s.data);
	srv_start(&s, family, fn_send_hold, 0);
	client(&c, &s, 2);
	sl = sizeof(on);
	cr_assert(getsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &on, &sl) == 0,
	    "getsockopt: %s", strerror(errno));
	cr_assert_neq(on, 0, "TCP_NODELAY is not set");
	expect_line(&c, "220 ready", 512);
	net_close(&c);
	srv_stop(&s);
}

Test(net_connect, nodelay_ipv4)
{
	nodelay(AF_INET);
}

Test(net_connect, nodelay_ipv6)
{
	if (!have_ipv6())
		cr_skip_test("no ::1 on this host");
	nodelay(AF_INET6);
}

Test(net_connect, ipv6_ok)
{
	struct srv	 s;
	struct conn	 c;

	if (!have_ipv6())
		cr_skip_test("no ::1 on this host");
	memset(&s, 0, sizeof(s));
	s.data = "220 six\r\n";
	s.datalen = strlen(s.data);
	srv_start(&s, AF_INET6, fn_send_hold, 0);
	client(&c, &s, 2);
	cr_assert_str_eq(c.peer, "::1");
	expect_line(&c, "220 six", 512);
	net_close(&c);
	srv_stop(&s);
}

static void
refused(int family, const char *where)
{
	struct dns_addr	 a;
	struct conn	 c;
	uint16_t	 port;
	char		 want[64];
	int		 fd;

	/* Bound but not listening: the kernel answers with a reset. */
	fd = bound_socket(family, &port);
	loopback(family, port, &a);
	cr_assert_eq(net_connect(&c, &a, port, 2, NULL), NET_ERROR);
	snprintf(want, sizeof(want), where, (unsigned)port);
	cr_assert(strstr(c.err, "refused") != NULL, "%s", c.err);
	cr_log_info("%s", c.err);
	cr_assert(strstr(c.err, want) != NULL, "%s lacks %s", c.err, want);
	cr_assert_eq(c.fd, -1);
	net_close(&c);
	close(fd);
}

Test(net_connect, refused_ipv4)
{
	refused(AF_INET, "connect to 127.0.0.1:%u: ");
}

Test(net_connect, refused_ipv6)
{
	if (!have_ipv6())
		cr_skip_test("no ::1 on this host");
	refused(AF_INET6, "connect to [::1]:%u: ");
}

/*
 * A listener whose accept queue is full drops new SYNs on Linux
 * (tcp_abort_on_overflow 0), so a connection to it hangs like one to a
 * host that has gone away.
 */
static int
full_listener(uint16_t *port, int fill[4])
{
	struct dns_addr	 a;
	int		 lfd, i;

	lfd = bound_socket(AF_INET, port);
	cr_assert(listen(lfd, 0) == 0);
	loopback(AF_INET, *port, &a);
	for (i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		cr_assert(fill[i] != -1);
		(void)connect(fill[i], (struct sockaddr *)&a.ss, a.len);
	}
	msleep(100);
	return lfd;
}

static void
full_close(int lfd, int fill[4])
{
	int	 i;

	for (i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

Test(net_connect, times_out)
{
	struct dns_addr	 a;
	struct conn	 c;
	uint16_t	 port;
	int		 lfd, fill[4];
	double		 t;

	lfd = full_listener(&port, fill);
	loopback(AF_INET, port, &a);
	t = now();
	cr_assert_eq(net_connect(&c, &a, port, 1, NULL), NET_TIMEOUT, "%s",
	    c.err);
	t = now() - t;
	cr_assert(t >= 0.9 && t < 1.6, "took %.2f s", t);
	cr_assert(strstr(c.err, "timed out after 1 s") != NULL, "%s", c.err);
	cr_log_info("%s", c.err);
	cr_assert(strstr(c.err, "127.0.0.1:") != NULL, "%s", c.err);
	cr_assert_eq(c.fd, -1);
	full_close(lfd, fill);
}

Test(net_connect, deadline_before_timeout)
{
	struct dns_addr	 a;
	struct timespec	 dl;
	struct conn	 c;
	uint16_t	 port;
	int		 lfd, fill[4];
	double		 t;

	lfd = full_listener(&port, fill);
	loopback(AF_INET, port, &a);
	net_deadline_set(&dl, 1);
	t = now();
	cr_assert_eq(net_connect(&c, &a, port, 10, &dl), NET_DEADLINE, "%s",
	    c.err);
	t = now() - t;
	cr_assert(t >= 0.9 && t < 1.6, "took %.2f s", t);
	cr_assert(strstr(c.err, "deadline") != NULL, "%s", c.err);
	cr_log_info("%s", c.err);
	full_close(lfd, fill);
}

Test(net_connect, deadline_already_passed)
{
	struct timespec	 dl;
	struct srv	 s;
	struct conn	 c;
	struct dns_addr	 a;
	double		 t;

	serve_text(&s, "220 ready\r\n", fn_send_hold);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec -= 1;
	loopback(AF_INET, s.port, &a);
	t = now();
	cr_assert_eq(net_connect(&c, &a, s.port, 5, &dl), NET_DEADLINE);
	cr_assert(now() - t < 0.5);
	cr_assert_eq(c.fd, -1);
	srv_stop(&s);
	cr_assert(!s.accepted);
}

Test(net_deadline, zero_is_none)
{
	struct timespec	 dl;

	net_deadline_set(&dl, 0);
	cr_assert(dl.tv_sec == 0 && dl.tv_nsec == 0);
	net_deadline_set(&dl, 30);
	cr_assert(dl.tv_sec != 0);
}

/* ------------------------------------------------------------ reading */

Test(net_read, crlf_and_lf)
{
	struct srv	 s;
	struct conn	 c;

	serve_text(&s, "250-first\r\n250-second\n250 third\r\n", fn_send_hold);
	client(&c, &s, 2);
	expect_line(&c, "250-first", 512);
	/* All three came in one segment: the rest is already buffered. */
	cr_assert(net_pending(&c));
	expect_line(&c, "250-second", 512);
	expect_line(&c, "250 third", 512);
	cr_assert(!net_pending(&c));
	net_close(&c);
	srv_stop(&s);
}

Test(net_read, line_split_over_many_writes)
{
	struct srv	 s;
	struct conn	 c;

	serve_text(&s, "250 hello world\r\n220 x\r\n", fn_bytewise);
	client(&c, &s, 2);
	expect_line(&c, "250 hello world", 512);
	expect_line(&c, "220 x", 512);
	net_close(&c);
	srv_stop(&s);
}

Test(net_read, nul_bytes_kept)
{
	static const char text[] = "a\0b\r\n";
	struct srv	 s;
	struct conn	 c;
	char		 line[64];
	size_t		 len;

	memset(&s, 0, sizeof(s));
	s.data = text;
	s.datalen = sizeof(text) - 1;
	srv_start(&s, AF_INET, fn_send_hold, 0);
	client(&c, &s, 2);
	cr_assert_eq(net_read_line(&c, line, sizeof(line), &len, 2), NET_OK);
	cr_assert_eq(len, 3);
	cr_assert(memcmp(line, "a\0b", 4) == 0);
	net_close(&c);
	srv_stop(&s);
}

Test(net_read, too_long)
{
	struct srv	 s;
	struct conn	 c;
	char		*text, line[1000];
	size_t		 len;

	text = xmalloc(3003);
	memset(text, 'a', 3000);
	memcpy(text + 3000, "\r\n", 3);
	serve_text(&s, text, fn_send_hold);
	client(&c, &s, 2);
	cr_assert_eq(net_read_line(&c, line, sizeof(line), &len, 2),
	    NET_LINE_TOO_LONG);
	cr_assert(strstr(c.err, "longer than 999") != NULL, "%s", c.err);
	cr_log_info("%s", c.err);
	cr_assert(len < sizeof(line) && line[len] == '\0');
	net_close(&c);
	srv_stop(&s);
	free(text);
}

Test(net_read, limit_boundary)
{
	struct srv	 s;
	struct conn	 c;
	char		 line[8];
	size_t		 len;

	/* max 8: seven bytes fit, with or without the CR; eight do not. */
	serve_text(&s, "1234567\r\n7654321\n12345678\r\n", fn_send_hold);
	client(&c, &s, 2);
	expect_line(&c, "1234567", sizeof(line));
	expect_line(&c, "7654321", sizeof(line));
	cr_assert_eq(net_read_line(&c, line, sizeof(line), &len, 2),
	    NET_LINE_TOO_LONG);
	net_close(&c);
	srv_stop(&s);
}

Test(net_read, line_longer_than_buffer)
{
	struct srv	 s;
	struct conn	 c;
	char		*text, *line;
	size_t		 len, n = 3 * NET_RBUF + 17;

	text = xmalloc(n + 3);
	memset(text, 'b', n);
	memcpy(text + n, "\r\n", 3);
	line = xmalloc(65536);
	serve_text(&s, text, fn_send_hold);
	client(&c, &s, 2);
	cr_assert_eq(net_read_line(&c, line, 65536, &len, 5), NET_OK, "%s",
	    c.err);
	cr_assert_eq(len, n);
	cr_assert(line[0] == 'b' && line[n - 1] == 'b' && line[n] == '\0');
	net_close(&c);
	srv_stop(&s);
	free(text);
	free(line);
}

Test(net_read, trickle_cannot_stretch_timeout)
{
	struct srv	 s;
	struct conn	 c;
	char		 line[512];
	size_t		 len;
	double		 t;

	serve_text(&s, "", fn_trickle);
	client(&c, &s, 2);
	t = now();
	cr_assert_eq(net_read_line(&c, line, sizeof(line), &len, 1),
	    NET_TIMEOUT, "%s", c.err);
	t = now() - t;
	cr_assert(t >= 0.9 && t < 2.0, "took %.2f s", t);
	cr_assert(strstr(c.err, "timed out after 1 s") != NULL, "%s", c.err);
	cr_log_info("%s", c.err);
	net_close(&c);
	srv_stop(&s);
}

Test(net_read, silent_server_times_out)
{
	struct srv	 s;
	struct conn	 c;
	char		 line[512];
	size_t		 len;
	double		 t;

	serve_text(&s, "", fn_silent);
	client(&c, &s, 2);
	t = now();
	cr_assert_eq(net_read_line(&c, line, sizeof(line), &len, 1),
	    NET_TIMEOUT);
	t = now() - t;
	cr_assert(t >= 0.9 && t < 1.5, "took %.2f s", t);
	cr_assert(strstr(c.err, "read from 127.0.0.1:") != NULL, "%s", c.err);
	net_close(&c);
	srv_stop(&s);
}

Test(net_read, deadline_shorter_than_timeout)
{
	struct timespec	 dl;
	struct dns_addr	 a;
	struct srv	 s;
	struct conn	 c;
	char		 line[512];
	size_t		 len;
	double		 t;

	serve_text(&s, "", fn_silent);
	net_deadline_set(&dl, 1);
	loopback(AF_INET, s.port, &a);
	cr_assert_eq(net_connect(&c, &a, s.port, 5, &dl), NET_OK);
	t = now();
	cr_assert_eq(net_read_line(&c, line, sizeof(line), &len, 10),
	    NET_DEADLINE);
	t = now() - t;
	cr_assert(t < 1.5, "took %.2f s", t);
	cr_assert(strstr(c.err, "deadline") != NULL, "%s", c.err);
	cr_log_info("%s", c.err);
	net_close(&c);
	srv_stop(&s);
}

Test(net_read, peer_close)
{
	struct srv	 s;
	struct conn	 c;
	char		 line[512];
	size_t		 len;

	serve_text(&s, "221 bye\r\n", fn_send_close);
	client(&c, &s, 2);
	expect_line(&c, "221 bye", sizeof(line));
	cr_assert_eq(net_read_line(&c, line, sizeof(line), &len, 2),
	    NET_CLOSED);
	cr_assert(strstr(c.err, "closed") != NULL, "%s", c.err);
	cr_log_info("%s", c.err);
	net_close(&c);
	srv_stop(&s);
}

Test(net_read, partial_line_at_eof_is_closed)
{
	struct srv	 s;
	struct conn	 c;
	char		 line[512];
	size_t		 len;

	serve_text(&s, "250 no end of line", fn_send_close);
	client(&c, &s, 2);
	cr_assert_eq(net_read_line(&c, line, sizeof(line), &len, 2),
	    NET_CLOSED);
	net_close(&c);
	srv_stop(&s);
}

/* ------------------------------------------------------------ writing */

/*
 * The first failure is the peer's reset (ECONNRESET); writing on after it
 * is EPIPE, where SIGPIPE would strike.
 */
static void
write_until_errors(struct conn *c)
{
	char		 chunk[65536];
	enum net_status	 st;
	int		 i, errors = 0;

	signal(SIGPIPE, SIG_DFL);
	memset(chunk, 'x', sizeof(chunk));
	for (i = 0; i < 200 && errors < 3; i++) {
		st = net_write(c, chunk, sizeof(chunk), 2);
		if (st == NET_OK)
			msleep(5);
		else
			errors++;
		cr_assert(st == NET_OK || st == NET_ERROR, "status %d", st);
	}
	cr_assert_eq(errors, 3, "%d errors after %d writes", errors, i);
	cr_log_info("%s", c->err);
	cr_assert(strstr(c->err, "write to 127.0.0.1:") != NULL, "%s", c->err);
}

Test(net_write, closed_peer_is_error_not_sigpipe)
{
	struct srv	 s;
	struct conn	 c;

	serve_text(&s, "", fn_close_now);
	client(&c, &s, 2);
	srv_stop(&s);		/* the server has closed its end */
	write_until_errors(&c);
	cr_assert(strstr(c.err, "Broken pipe") != NULL, "%s", c.err);
	net_close(&c);
}

static unsigned char *
big_pattern(size_t n)
{
	unsigned char	*p = xmalloc(n);
	size_t		 i;

	for (i = 0; i < n; i++)
		p[i] = pattern(i);
	return p;
}

Test(net_write, large_write_to_slow_reader)
{
	struct srv	 s;
	struct conn	 c;
	unsigned char	*p;
	char		 want[64];

	p = big_pattern(BIG);
	memset(&s, 0, sizeof(s));
	s.expect = BIG;
	srv_start(&s, AF_INET, fn_slow_sink, 32768);
	client(&c, &s, 2);
	cr_assert_eq(net_write(&c, p, BIG, 20), NET_OK, "%s", c.err);
	snprintf(want, sizeof(want), "OK %u", BIG);
	expect_line(&c, want, 512);
	net_close(&c);
	srv_stop(&s);
	cr_assert(s.pattern_ok);
	free(p);
}

Test(net_write, stalled_reader_times_out)
{
	struct srv	 s;
	struct conn	 c;
	unsigned char	*p;
	double		 t;

	p = big_pattern(BIG);
	serve_text(&s, "", fn_silent);
	client(&c, &s, 2);
	t = now();
	cr_assert_eq(net_write(&c, p, BIG, 1), NET_TIMEOUT);
	t = now() - t;
	cr_assert(t >= 0.9 && t < 1.6, "took %.2f s", t);
	cr_assert(strstr(c.err, "timed out after 1 s") != NULL, "%s", c.err);
	cr_log_info("%s", c.err);
	net_close(&c);
	srv_stop(&s);
	free(p);
}

/* ------------------------------------------------------------ TLS */

static void
tls_serve(struct srv *s, const struct pki *p, srv_fn fn)
{
	memset(s, 0, sizeof(*s));
	s->pki = p;
	srv_start(s, AF_INET, fn, 0);
}

static int
tls_try(struct conn *c, struct srv *s, const char *sni, enum tls_verify v,
    const char *ca, const unsigned char *pin, unsigned timeout)
{
	struct tls_params	 tp;

	memset(&tp, 0, sizeof(tp));
	tp.sni = sni;
	tp.verify = v;
	tp.ca_file = ca;
	tp.pin = pin;
	client(c, s, 2);
	return tls_start(c, &tp, timeout);
}

static void
echo_roundtrip(struct conn *c)
{
	static const char msg[] = "EHLO client.example\r\n";

	cr_assert_eq(net_write(c, msg, sizeof(msg) - 1, 2), NET_OK, "%s",
	    c->err);
	expect_line(c, "echo: EHLO client.example", 512);
}

Test(tls, none_roundtrip)
{
	struct pki	*p;
	struct srv	 s;
	struct conn	 c;
	char		 d[256], line[64];
	size_t		 len;

	p = pki_make();
	tls_serve(&s, p, fn_tls_echo);
	cr_assert_eq(tls_try(&c, &s, "localhost", TLS_VERIFY_NONE, NULL, NULL,
	    5), 0, "%s", c.err);
	cr_assert(c.tls != NULL);
	cr_assert(tls_initialised());
	tls_describe(c.tls, d, sizeof(d));
	cr_assert(strncmp(d, "TLSv1.", 6) == 0, "%s", d);
	cr_assert(strstr(d, " with cipher ") != NULL, "%s", d);
	cr_assert(strstr(d, "not verified") != NULL, "%s", d);
	echo_roundtrip(&c);
	/* The server's close_notify is the end of the stream. */
	cr_assert_eq(net_read_line(&c, line, sizeof(line), &len, 2),
	    NET_CLOSED, "%s", c.err);
	net_close(&c);
	cr_assert(c.tls == NULL && c.fd == -1);
	srv_stop(&s);
	cr_assert_str_eq(s.sni, "localhost");
}

Test(tls, chain_with_ca_file)
{
	struct pki	*p;
	struct srv	 s;
	struct conn	 c;
	char		 d[256];

	p = pki_make();
	tls_serve(&s, p, fn_tls_echo);
	cr_assert_eq(tls_try(&c, &s, "localhost", TLS_VERIFY_CHAIN, p->ca, NULL,
	    5), 0, "%s", c.err);
	tls_describe(c.tls, d, sizeof(d));
	cr_assert(strstr(d, "(certificate verified)") != NULL, "%s", d);
	echo_roundtrip(&c);
	net_close(&c);
	srv_stop(&s);
}

Test(tls, chain_ip_literal_no_sni)
{
	struct pki	*p;
	struct srv	 s;
	struct conn	 c;

	p = pki_make();
	tls_serve(&s, p, fn_tls_echo);
	cr_assert_eq(tls_try(&c, &s, "127.0.0.1", TLS_VERIFY_CHAIN, p->ca, NULL,
	    5), 0, "%s", c.err);
	echo_roundtrip(&c);
	net_close(&c);
	srv_stop(&s);
	/* RFC 6066 §3: an address is never sent as the server name. */
	cr_assert_str_eq(s.sni, "");
}

Test(tls, chain_wrong_name_fails)
{
	struct pki	*p;
	struct srv	 s;
	struct conn	 c;

	p = pki_make();
	tls_serve(&s, p, fn_tls_echo);
	cr_assert_eq(tls_try(&c, &s, "wrong.example", TLS_VERIFY_CHAIN, p->ca,
	    NULL, 5), -1);
	cr_assert(c.tls == NULL);
	cr_log_info("%s", c.err);
	cr_assert(strstr(c.err, "certificate of wrong.example not trusted")
	    != NULL, "%s", c.err);
	cr_assert(strstr(c.err, "does not match") != NULL, "%s", c.err);
	net_close(&c);
	srv_stop(&s);
}

Test(tls, chain_system_trust_rejects_private_ca)
{
	struct pki	*p;
	struct srv	 s;
	struct conn	 c;

	p = pki_make();
	tls_serve(&s, p, fn_tls_echo);
	cr_assert_eq(tls_try(&c, &s, "localhost", TLS_VERIFY_CHAIN, NULL, NULL,
	    5), -1);
	cr_assert(c.tls == NULL);
	cr_log_info("%s", c.err);
	cr_assert(strstr(c.err, "certificate of localhost") != NULL, "%s",
	    c.err);
	net_close(&c);
	srv_stop(&s);
}

Test(tls, chain_missing_ca_file_fails)
{
	struct pki	*p;
	struct srv	 s;
	struct conn	 c;

	p = pki_make();
	tls_serve(&s, p, fn_tls_echo);
	cr_assert_eq(tls_try(&c, &s, "localhost", TLS_VERIFY_CHAIN,
	    "/nonexistent/ca.pem", NULL, 5), -1);
	cr_assert(c.tls == NULL);
	cr_log_info("%s", c.err);
	cr_assert(strstr(c.err, "/nonexistent/ca.pem") != NULL, "%s", c.err);
	net_close(&c);
	srv_stop(&s);
}

Test(tls, pin_matches)
{
	struct pki	*p;
	struct srv	 s;
	struct conn	 c;
	char		 d[256];

	p = pki_make();
	tls_serve(&s, p, fn_tls_echo);
	/* No CA at all: the pin alone decides. */
	cr_assert_eq(tls_try(&c, &s, "localhost", TLS_VERIFY_PIN, NULL, p->pin,
	    5), 0, "%s", c.err);
	tls_describe(c.tls, d, sizeof(d));
	cr_assert(strstr(d, "fingerprint matched") != NULL, "%s", d);
	echo_roundtrip(&c);
	net_close(&c);
	srv_stop(&s);
}

Test(tls, pin_mismatch_fails_despite_valid_ca)
{
	struct pki	*p;
	struct srv	 s;
	struct conn	 c;
	unsigned char	 wrong[32];
	char		 got[16];

	p = pki_make();
	memcpy(wrong, p->pin, sizeof(wrong));
	wrong[31] ^= 1;
	tls_serve(&s, p, fn_tls_echo);
	cr_assert_eq(tls_try(&c, &s, "localhost", TLS_VERIFY_PIN, p->ca, wrong,
	    5), -1);
	cr_assert(c.tls == NULL);
	cr_log_info("%s", c.err);
	cr_assert(strstr(c.err, "certificate fingerprint mismatch for "
	    "localhost") != NULL, "%s", c.err);
	snprintf(got, sizeof(got), "sha256:%02X:%02X", p->pin[0], p->pin[1]);
	cr_assert(strstr(c.err, got) != NULL, "%s lacks %s", c.err, got);
	net_close(&c);
	srv_stop(&s);
}

Test(tls, garbage_instead_of_server_hello)
{
	struct srv	 s;
	struct conn	 c;
	double		 t;

	tls_serve(&s, NULL, fn_garbage);
	t = now();
	cr_assert_eq(tls_try(&c, &s, "localhost", TLS_VERIFY_NONE, NULL, NULL,
	    5), -1);
	cr_assert(now() - t < 2.0);
	cr_assert(c.tls == NULL);
	cr_log_info("%s", c.err);
	cr_assert(strstr(c.err, "TLS handshake with localhost (127.0.0.1) "
	    "failed: ") != NULL, "%s", c.err);
	net_close(&c);
	srv_stop(&s);
}

Test(tls, stalled_handshake_times_out)
{
	struct srv	 s;
	struct conn	 c;
	double		 t;

	tls_serve(&s, NULL, fn_tls_stall);
	t = now();
	cr_assert_eq(tls_try(&c, &s, "localhost", TLS_VERIFY_NONE, NULL, NULL,
	    1), -1);
	t = now() - t;
	cr_assert(t >= 0.9 && t < 2.0, "took %.2f s", t);
	cr_assert(c.tls == NULL);
	cr_log_info("%s", c.err);
	cr_assert(strstr(c.err, "timed out after 1 s") != NULL, "%s", c.err);
	net_close(&c);
	srv_stop(&s);
}

Test(tls, stalled_handshake_stops_at_deadline)
{
	struct tls_params	 tp = { .sni = "localhost",
	    .verify = TLS_VERIFY_NONE };
	struct timespec		 dl;
	struct dns_addr		 a;
	struct srv		 s;
	struct conn		 c;
	double			 t;

	tls_serve(&s, NULL, fn_tls_stall);
	net_deadline_set(&dl, 1);
	loopback(AF_INET, s.port, &a);
	cr_assert_eq(net_connect(&c, &a, s.port, 2, &dl), NET_OK);
	t = now();
	cr_assert_eq(tls_start(&c, &tp, 10), -1);
	cr_assert(now() - t < 1.5);
	cr_assert(strstr(c.err, "deadline") != NULL, "%s", c.err);
	cr_log_info("%s", c.err);
	net_close(&c);
	srv_stop(&s);
}

Test(tls, large_write)
{
	struct pki	*p;
	struct srv	 s;
	struct conn	 c;
	unsigned char	*buf;
	char		 want[64];
	size_t		 n = 2u * 1024 * 1024 + 123;

	p = pki_make();
	buf = big_pattern(n);
	tls_serve(&s, p, fn_tls_sink);
	s.expect = n;
	cr_assert_eq(tls_try(&c, &s, "localhost", TLS_VERIFY_CHAIN, p->ca, NULL,
	    5), 0, "%s", c.err);
	cr_assert_eq(net_write(&c, buf, n, 20), NET_OK, "%s", c.err);
	snprintf(want, sizeof(want), "OK %zu", n);
	expect_line(&c, want, 512);
	net_close(&c);
	srv_stop(&s);
	cr_assert(s.pattern_ok);
	free(buf);
}

Test(tls, write_to_closed_peer_is_error_not_sigpipe)
{
	struct pki	*p;
	struct srv	 s;
	struct conn	 c;

	p = pki_make();
	tls_serve(&s, p, fn_tls_drop);
	cr_assert_eq(tls_try(&c, &s, "localhost", TLS_VERIFY_NONE, NULL, NULL,
	    5), 0, "%s", c.err);
	srv_stop(&s);
	write_until_errors(&c);
	net_close(&c);
}

/*
 * SPEC §9: a run that only speaks plain text never initialises GnuTLS.
 * Checked in a child so that nothing else in this process can have.
 */
Test(tls, plain_sessions_never_touch_gnutls)
{
	struct srv	 s;
	struct conn	 c;
	unsigned char	 h[32];
	pid_t		 pid;
	int		 status = -1, i;

	serve_text(&s, "220 plain\r\n", fn_send_hold);
	if ((pid = fork()) == 0) {
		struct dns_addr	 a;
		char		 line[64];
		size_t		 len;
		int		 ok;

		loopback(AF_INET, s.port, &a);
		ok = net_connect(&c, &a, s.port, 2, NULL) == NET_OK &&
		    net_read_line(&c, line, sizeof(line), &len, 2) == NET_OK &&
		    net_write(&c, "QUIT\r\n", 6, 2) == NET_OK &&
		    !net_pending(&c);
		net_close(&c);
		_exit(!ok ? 2 : tls_initialised() ? 1 : 0);
	}
	cr_assert(pid > 0);
	for (i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
		msleep(10);
	if (i == 500) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	srv_stop(&s);
	cr_assert(WIFEXITED(status), "child did not exit");
	cr_assert_neq(WEXITSTATUS(status), 2, "plain session failed");
	cr_assert_eq(WEXITSTATUS(status), 0, "GnuTLS was initialised");
	/* And the flag does see a use of GnuTLS. */
	cr_assert(tls_sha256("", 0, h) == 0);
	cr_assert(tls_initialised());
}

/* ------------------------------------------------------------ hashes */

static void
hex(const unsigned char *p, size_t n, char *out)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

Test(tls_hash, sha256_abc)
{
	unsigned char	 d[32];
	char		 h[65];

	cr_assert(tls_sha256("abc", 3, d) == 0);
	hex(d, sizeof(d), h);
	cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

Test(tls_hash, hmac_sha256_rfc4231_case1)
{
	unsigned char	 key[20], d[32];
	char		 h[65];

	memset(key, 0x0b, sizeof(key));
	cr_assert(tls_hmac_sha256(key, sizeof(key), "Hi There", 8, d) == 0);
	hex(d, sizeof(d), h);
	cr_assert_str_eq(h, "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7");
}

Test(tls_hash, hmac_md5_rfc2202_case1)
{
	unsigned char	 key[16], d[16];
	char		 h[33];

	memset(key, 0x0b, sizeof(key));
	cr_assert(tls_hmac_md5(key, sizeof(key), "Hi There", 8, d) == 0);
	hex(d, sizeof(d), h);
	cr_assert_str_eq(h, "9294727a3638bb1c13f48ef8158bfc9d");
}

Test(tls_hash, pbkdf2_sha256)
{
	unsigned char	 d[32];
	char		 h[65];

	cr_assert(tls_pbkdf2_sha256("password", 8, "salt", 4, 1, d) == 0);
	hex(d, sizeof(d), h);
	cr_assert_str_eq(h, "120fb6cffcf8b32c43e7225256c4f837"
	    "a86548c92ccc35480805987cb70be17b");
	cr_assert(tls_pbkdf2_sha256("password", 8, "salt", 4, 4096, d) == 0);
	hex(d, sizeof(d), h);
	cr_assert_str_eq(h, "c5e478d59288c841aa530db6845c4c8d"
	    "962893a001ce4e11a4963873aa98134a");
	cr_assert(tls_pbkdf2_sha256("password", 8, "salt", 4, 0, d) == -1);
}

Test(tls_hash, random_differs)
{
	unsigned char	 a[32], b[32], zero[32];

	memset(zero, 0, sizeof(zero));
	cr_assert(tls_random(a, sizeof(a)) == 0);
	cr_assert(tls_random(b, sizeof(b)) == 0);
	cr_assert(memcmp(a, b, sizeof(a)) != 0);
	cr_assert(memcmp(a, zero, sizeof(a)) != 0);
}
