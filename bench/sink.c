/*
 * sink.c: the benchmark's SMTP sink. Accepts mail on a loopback address and
 * discards it, one forked child per connection.
 *
 *	sink [--port N] [--delay MS] [--no-pipelining] [--no-chunking]
 *	    [--no-size] [--no-8bitmime] [--tls CERT KEY] [--stats FILE]
 *	    [--lifetime SECONDS]
 *
 * --delay MS	wait MS milliseconds before each flight of replies (the
 *		greeting included): a simulated round-trip time.
 * --tls	advertise STARTTLS with this certificate and key (GnuTLS).
 * --stats	append one line per connection:
 *		  conn turns=T msgs=M rcpts=R bytes=B tls_hs_us=H dur_us=D
 *		turns: the times the sink had sent replies and then had to
 *		wait for the client to send more (a read returning data after
 *		a reply). tls_hs_us: the server-side duration of the TLS
 *		handshake (0 without TLS).
 * It prints "ready PORT pid PID" once listening on 127.0.0.1, and exits on
 * SIGTERM or at the end of its lifetime (default 600 s).
 * Replies to pipelined commands are sent together, when the input buffer
 * has no complete line left (as Postfix does). TCP_NODELAY is set so the
 * sink itself never adds a Nagle stall.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int delay_ms, pipelining = 1, chunking = 1, size_ext = 1, mime8 = 1;
static const char *certfile, *keyfile, *statsfile;
static gnutls_certificate_credentials_t cred;

struct conn {
	int fd;
	gnutls_session_t tls;
	char in[65536];
	size_t inlen;
	char out[8192];
	size_t outlen;
	int replied;	/* replies were sent since the last read */
	long turns, msgs, rcpts;
	long long bytes, hs_us;
};

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void reply(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->out + c->outlen, sizeof c->out - c->outlen, fmt,
	    ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof c->out - c->outlen)
		c->outlen += n;
}

static int flush(struct conn *c)
{
	if (c->outlen == 0)
		return 0;
	if (delay_ms > 0) {
		struct timespec ts = { delay_ms / 1000,
		    (delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	size_t off = 0;
	while (off < c->outlen) {
		ssize_t n = c->tls ? gnutls_record_send(c->tls, c->out + off,
		    c->outlen - off) : write(c->fd, c->out + off,
		    c->outlen - off);
		if (n < 0 && (errno == EINTR || n == GNUTLS_E_AGAIN ||
		    n == GNUTLS_E_INTERRUPTED))
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	c->outlen = 0;
	c->replied = 1;
	return 0;
}

/* More input; returns bytes read, 0 at EOF, -1 on error. */
static ssize_t fill(struct conn *c)
{
	if (c->inlen == sizeof c->in)
		return -1;
	if (flush(c) < 0)
		return -1;
	ssize_t n;
	do
		n = c->tls ? gnutls_record_recv(c->tls, c->in + c->inlen,
		    sizeof c->in - c->inlen) : read(c->fd, c->in + c->inlen,
		    sizeof c->in - c->inlen);
	while (n < 0 && (errno == EINTR || n == GNUTLS_E_AGAIN ||
	    n == GNUTLS_E_INTERRUPTED));
	if (n <= 0)
		return n < 0 ? -1 : 0;
	if (c->replied)
		c->turns++;
	c->replied = 0;
	c->inlen += (size_t)n;
	return n;
}

/* Next line (CRLF or LF stripped) into buf; 1, or 0 at EOF/error. */
static int getline_c(struct conn *c, char *buf, size_t cap)
{
	for (;;) {
		char *nl = memchr(c->in, '\n', c->inlen);
		if (nl) {
			size_t len = (size_t)(nl - c->in) + 1;
			size_t l = len;
			while (l > 0 && (c->in[l - 1] == '\n' ||
			    c->in[l - 1] == '\r'))
				l--;
			if (l >= cap)
				l = cap - 1;
			memcpy(buf, c->in, l);
			buf[l] = '\0';
			memmove(c->in, c->in + len, c->inlen - len);
			c->inlen -= len;
			c->bytes += (long long)len;
			return 1;
		}
		if (fill(c) <= 0)
			return 0;
	}
}

/* Discard n octets of BDAT data. */
static int skip(struct conn *c, long long n)
{
	while (n > 0) {
		if (c->inlen == 0 && fill(c) <= 0)
			return 0;
		size_t k = c->inlen < (size_t)n ? c->inlen : (size_t)n;
		memmove(c->in, c->in + k, c->inlen - k);
		c->inlen -= k;
		n -= (long long)k;
		c->bytes += (long long)k;
	}
	return 1;
}

static int starttls(struct conn *c)
{
	if (flush(c) < 0)
		return -1;
	long long t0 = now_us();
	gnutls_init(&c->tls, GNUTLS_SERVER);
	gnutls_set_default_priority(c->tls);
	gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_transport_set_int(c->tls, c->fd);
	int r;
	do
		r = gnutls_handshake(c->tls);
	while (r < 0 && !gnutls_error_is_fatal(r));
	c->hs_us = now_us() - t0;
	c->replied = 0;
	return r < 0 ? -1 : 0;
}

static void session(int fd)
{
	struct conn *c = calloc(1, sizeof *c);
	char line[1024];
	int in_tx = 0;
	long long t0 = now_us();

	if (c == NULL)
		_exit(1);
	c->fd = fd;
	reply(c, "220 sink.bench ESMTP\r\n");
	while (getline_c(c, line, sizeof line)) {
		if (!strncasecmp(line, "EHLO", 4)) {
			reply(c, "250-sink.bench\r\n");
			if (pipelining)
				reply(c, "250-PIPELINING\r\n");
			if (chunking)
				reply(c, "250-CHUNKING\r\n");
			if (size_ext)
				reply(c, "250-SIZE 104857600\r\n");
			if (mime8)
				reply(c, "250-8BITMIME\r\n");
			if (certfile && !c->tls)
				reply(c, "250-STARTTLS\r\n");
			reply(c, "250 ENHANCEDSTATUSCODES\r\n");
		} else if (!strncasecmp(line, "HELO", 4)) {
			reply(c, "250 sink.bench\r\n");
		} else if (!strncasecmp(line, "STARTTLS", 8) && certfile &&
		    !c->tls) {
			reply(c, "220 2.0.0 go ahead\r\n");
			if (c->inlen != 0 || starttls(c) < 0)
				break;
		} else if (!strncasecmp(line, "MAIL", 4)) {
			in_tx = 1;
			reply(c, "250 2.1.0 ok\r\n");
		} else if (!strncasecmp(line, "RCPT", 4)) {
			c->rcpts++;
			reply(c, "250 2.1.5 ok\r\n");
		} else if (!strncasecmp(line, "DATA", 4)) {
			reply(c, "354 go ahead\r\n");
			while (getline_c(c, line, sizeof line))
				if (strcmp(line, ".") == 0)
					break;
			c->msgs++;
			in_tx = 0;
			reply(c, "250 2.0.0 queued\r\n");
		} else if (!strncasecmp(line, "BDAT", 4) && chunking) {
			long long n = strtoll(line + 5, NULL, 10);
			if (!skip(c, n))
				break;
			if (strcasestr(line + 5, "LAST")) {
				c->msgs++;
				in_tx = 0;
				reply(c, "250 2.0.0 queued\r\n");
			} else {
				reply(c, "250 2.0.0 chunk ok\r\n");
			}
		} else if (!strncasecmp(line, "RSET", 4)) {
			in_tx = 0;
			reply(c, "250 2.0.0 ok\r\n");
		} else if (!strncasecmp(line, "NOOP", 4)) {
			reply(c, "250 2.0.0 ok\r\n");
		} else if (!strncasecmp(line, "QUIT", 4)) {
			reply(c, "221 2.0.0 bye\r\n");
			flush(c);
			break;
		} else {
			reply(c, "502 5.5.2 not implemented\r\n");
		}
	}
	(void)in_tx;
	if (c->tls)
		gnutls_bye(c->tls, GNUTLS_SHUT_WR);
	if (statsfile) {
		char s[256];
		int n = snprintf(s, sizeof s, "conn turns=%ld msgs=%ld "
		    "rcpts=%ld bytes=%lld tls_hs_us=%lld dur_us=%lld\n",
		    c->turns, c->msgs, c->rcpts, c->bytes, c->hs_us,
		    now_us() - t0);
		int sf = open(statsfile, O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (sf >= 0) {
			if (write(sf, s, (size_t)n) < 0)
				perror("stats");
			close(sf);
		}
	}
	close(fd);
	_exit(0);
}

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
	int port = 0, lifetime = 600;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(a, "--delay") && i + 1 < argc)
			delay_ms = atoi(argv[++i]);
		else if (!strcmp(a, "--no-pipelining"))
			pipelining = 0;
		else if (!strcmp(a, "--no-chunking"))
			chunking = 0;
		else if (!strcmp(a, "--no-size"))
			size_ext = 0;
		else if (!strcmp(a, "--no-8bitmime"))
			mime8 = 0;
		else if (!strcmp(a, "--tls") && i + 2 < argc) {
			certfile = argv[++i];
			keyfile = argv[++i];
		} else if (!strcmp(a, "--stats") && i + 1 < argc)
			statsfile = argv[++i];
		else if (!strcmp(a, "--lifetime") && i + 1 < argc)
			lifetime = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: sink [--port N] [--delay MS] "
			    "[--no-pipelining] [--no-chunking] [--no-size] "
			    "[--no-8bitmime] [--tls CERT KEY] [--stats FILE] "
			    "[--lifetime S]\n");
			return 64;
		}
	}
	if (certfile) {
		gnutls_certificate_allocate_credentials(&cred);
		int r = gnutls_certificate_set_x509_key_file(cred, certfile,
		    keyfile, GNUTLS_X509_FMT_PEM);
		if (r < 0) {
			fprintf(stderr, "sink: %s: %s\n", certfile,
			    gnutls_strerror(r));
			return 66;
		}
	}

	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((unsigned short)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(ls, 128) < 0) {
		perror("sink: bind");
		return 71;
	}
	socklen_t sl = sizeof sa;
	getsockname(ls, (struct sockaddr *)&sa, &sl);

	struct sigaction act = { .sa_handler = on_term };
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	printf("ready %d pid %ld\n", ntohs(sa.sin_port), (long)getpid());
	fflush(stdout);

	time_t end = time(NULL) + lifetime;
	while (!stop && time(NULL) < end) {
		struct pollfd p = { .fd = ls, .events = POLLIN };
		if (poll(&p, 1, 1000) <= 0)
			continue;
		int fd = accept(ls, NULL, NULL);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		pid_t pid = fork();
		if (pid == 0) {
			close(ls);
			signal(SIGTERM, SIG_DFL);
			alarm(120);
			session(fd);
		}
		close(fd);
	}
	close(ls);
	return 0;
}
