/*
 * fuzz_smtp.c: the SMTP client engine (smtp.c) against a hostile server
 * (SPEC §10: a hostile SMTP server cannot crash it, nor make it hang).
 *
 * Each input is two option bytes and then the server's whole byte stream.
 * A thread listening on 127.0.0.1 (loopback only) accepts the engine's
 * connection, writes the stream, shuts its side down and reads what the
 * engine sends until it closes. The main thread runs smtp_open(),
 * smtp_send() (one to three recipients, a small message with leading
 * dots) and smtp_close() against it, with 1 s time-outs and a 2 s
 * deadline, so every execution is bounded.
 *
 * Option bytes:
 *	data[0]	bits 0-2  TLS: OFF MAY IFOFFERED STARTTLS IMPLICIT OFF MAY OFF
 *		bit  3    AUTH with credentials
 *		bits 4-5  allowed mechanisms: all four / SCRAM-SHA-256 /
 *			  CRAM-MD5 / PLAIN and LOGIN (refused without TLS)
 *		bit  6    8-bit message, BODY=8BITMIME asked for
 *		bit  7    DSN: RET, ENVID, NOTIFY, ORCPT
 *	data[1]	bits 0-1  recipients: 3 1 2 3
 *		bit  2    a recipient with a UTF-8 local part (SMTPUTF8)
 *		bit  3    no HELO name (the "[127.0.0.1]" literal)
 *		bit  4    MSG_HEADERS_ONLY
 *		bit  5    null sender <>
 *		bit  6    a second smtp_send() on the session
 *		bit  7    TLS_VERIFY_PIN instead of TLS_VERIFY_NONE
 *
 * The stream may hold directive lines (at the start of a line, never sent
 * as such) so that exchanges that depend on the engine's own bytes can be
 * reached:
 *	@@next		the rest is the stream of a second connection (the
 *			plain-text retry after a failed opportunistic
 *			handshake); without it, a second connection gets the
 *			same stream again
 *	@@wait		wait (at most 20 ms, less once the engine is seen
 *			waiting for us) for the engine's next line, or its
 *			next binary record (a TLS ClientHello), and drop it
 *	@@scram1 [N]	wait for "AUTH SCRAM-SHA-256 <client-first>" and
 *			answer "334 <server-first>" extending the engine's
 *			random nonce (salt "saltsalt", N iterations, default
 *			16, at most 4096)
 *	@@scram2	wait for the client-final message and answer
 *			"334 <server-final>" with the right signature
 *	@@close		wait for the engine's next line, then reset the
 *			connection (the rest of the stream is not sent)
 * At most DIRECTIVES_MAX (8) are honoured a connection; later ones are
 * dropped.
 *
 * Checked beyond "no crash, no leak, no hang": every status is well
 * formed, the return of smtp_send() is the number of recipients with
 * SMTP_EV_OK at SMTP_STAGE_EOD, the transcript never shows the password,
 * and a session that requires TLS never sends anything but EHLO, STARTTLS
 * and QUIT in plain text (nothing at all under implicit TLS). No file
 * descriptor outlives an execution.
 *
 * Built with -DFUZZ_SMTP_TRACE, it prints the transcript and every status
 * to stderr, to read what a reproducer does.
 */
/* fuzz-sources: src/smtp.c src/sasl.c src/secret.c src/reply.c src/tls.c src/net.c src/message.c src/intake.c src/rfc5322.c src/util.c */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "intake.h"
#include "message.h"
#include "sasl.h"
#include "smtp.h"
#include "tls.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The server is not what is fuzzed: without coverage of its own, libFuzzer
 * keeps only the inputs that make the engine do something new.
 */
#if defined(__clang__) && __clang_major__ >= 13
#define NO_COVERAGE	__attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

#define USER		"user"
#define PASS		"pencil"
#define SALT		"saltsalt"
#define WAIT_MS		20	/* one @@wait */
#define DIRECTIVES_MAX	8	/* honoured per connection */
#define DRAIN_MS	3000	/* reading the engine's bytes until EOF */
#define ACCEPT_MS	10000	/* the server thread gives up */
#define INBUF		8192

/* ------------------------------------------------------------ server */

struct stream {
	const uint8_t	*p;
	size_t		 n;
};

struct server {
	int		 lfd;
	int		 stopfd;
	struct stream	 first, again;
};

static pid_t		 engine_tid;	/* the thread running smtp.c */

/* One accepted connection. */
struct peer {
	int		 fd;
	int		 eof;
	char		 in[INBUF];	/* the engine's bytes not yet used */
	size_t		 inlen;
	int		 directives;
	/* SCRAM */
	char		*cfbare;	/* client-first-message-bare */
	char		*sfirst;	/* server-first-message */
	unsigned	 iter;
};

NO_COVERAGE static long
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

NO_COVERAGE static int
send_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	while (n > 0) {
		/* MSG_NOSIGNAL: the engine may close first; never SIGPIPE. */
		w = send(fd, s, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read what the engine sent within us microseconds: 0, or -1 (EOF, none). */
NO_COVERAGE static int
peer_fill(struct peer *pe, long us)
{
	struct pollfd pfd;
	struct timespec ts;
	ssize_t r;

	if (pe->eof)
		return -1;
	if (pe->inlen == sizeof(pe->in))
		pe->inlen = 0;		/* a flood: forget it */
	pfd.fd = pe->fd;
	pfd.events = POLLIN;
	if (us < 0)
		us = 0;
	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (us % 1000000) * 1000;
	if (ppoll(&pfd, 1, &ts, NULL) <= 0)
		return -1;
	r = recv(pe->fd, pe->in + pe->inlen, sizeof(pe->in) - pe->inlen, 0);
	if (r <= 0) {
		pe->eof = 1;
		return -1;
	}
	pe->inlen += (size_t)r;
	return 0;
}

/*
 * Whether the engine's thread is asleep (Linux: state S in its stat). It
 * only sleeps in poll(2), waiting for us: a wait for its next line gives up
 * then instead of running out its WAIT_MS, which keeps the executions where
 * server and engine disagree about whose turn it is fast.
 */
NO_COVERAGE static int
engine_sleeping(void)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat",
	    (long)engine_tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "tid (comm) S ...": comm may hold anything, ')' included. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	return p[2] == 'S';
}

/*
 * The engine's next unit into out (NUL terminated, CRLF removed): a line,
 * or, when its first byte is not text, whatever binary data has arrived.
 * Returns 0, or -1 when none came within WAIT_MS or the engine is waiting
 * for us.
 */
NO_COVERAGE static int
peer_unit(struct peer *pe, char *out, size_t outmax, size_t *outlen)
{
	long end = ms_now() + WAIT_MS;
	unsigned char c;
	char *nl;
	size_t n, used;
	int asleep = 0;

	for (;;) {
		if (pe->inlen > 0) {
			c = (unsigned char)pe->in[0];
			nl = memchr(pe->in, '\n', pe->inlen);
			if (c >= 0x20 && c < 0x7f && nl == NULL &&
			    pe->inlen < sizeof(pe->in))
				goto more;
			used = (c >= 0x20 && c < 0x7f && nl != NULL) ?
			    (size_t)(nl - pe->in) + 1 : pe->inlen;
			n = used;
			if (n > 0 && pe->in[n - 1] == '\n')
				n--;
			if (n > 0 && pe->in[n - 1] == '\r')
				n--;
			if (n > outmax - 1)
				n = outmax - 1;
			memcpy(out, pe->in, n);
			out[n] = '\0';
			*outlen = n;
			memmove(pe->in, pe->in + used, pe->inlen - used);
			pe->inlen -= used;
			return 0;
		}
more:
		if (peer_fill(pe, 500) == 0) {
			asleep = 0;
			continue;
		}
		if (pe->eof || ms_now() >= end)
			return -1;
		/* Asleep for 1.5 ms with nothing sent: it waits for us. */
		if (!engine_sleeping())
			asleep = 0;
		else if (++asleep == 3)
			return -1;
	}
}

NO_COVERAGE static void
send_334(struct peer *pe, const char *text)
{
	char *b = b64_encode(text, strlen(text));
	char *line = xasprintf("334 %s\r\n", b);

	(void)send_all(pe->fd, line, strlen(line));
	free(line);
	free(b);
}

/* @@scram1: "AUTH SCRAM-SHA-256 <b64 of n,,n=user,r=nonce>". */
NO_COVERAGE static void
scram_first(struct peer *pe, const char *args)
{
	char line[1024], *sp;
	unsigned char *dec;
	const char *r, *salt64;
	size_t len, declen;
	unsigned long iter = 16;

	if (args[0] == ' ' && args[1] >= '1' && args[1] <= '9')
		iter = strtoul(args + 1, NULL, 10);
	if (iter > 4096)
		iter = 4096;	/* RFC 7677's minimum; more is only slower */
	pe->iter = (unsigned)iter;
	if (peer_unit(pe, line, sizeof(line), &len) == -1)
		return;
	if ((sp = strrchr(line, ' ')) == NULL)
		return;
	if ((dec = b64_decode(sp + 1, strlen(sp + 1), &declen)) == NULL)
		return;
	if (declen < 3 || memcmp(dec, "n,,", 3) != 0 ||
	    (r = strstr((char *)dec, ",r=")) == NULL) {
		free(dec);
		return;
	}
	free(pe->cfbare);
	free(pe->sfirst);
	pe->cfbare = xstrdup((char *)dec + 3);
	salt64 = "c2FsdHNhbHQ=";	/* "saltsalt" */
	pe->sfirst = xasprintf("r=%s%s,s=%s,i=%u", r + 3, "fuzzsrvnonce",
	    salt64, pe->iter);
	free(dec);
	send_334(pe, pe->sfirst);
}

/* @@scram2: the client-final message "c=biws,r=...,p=...". */
NO_COVERAGE static void
scram_final(struct peer *pe)
{
	char line[1024], *p, *auth, *sig64, *final;
	unsigned char *dec, salted[32], skey[32], sig[32];
	size_t len, declen;

	if (pe->cfbare == NULL || pe->sfirst == NULL)
		return;
	if (peer_unit(pe, line, sizeof(line), &len) == -1)
		return;
	if ((dec = b64_decode(line, len, &declen)) == NULL)
		return;
	if ((p = strstr((char *)dec, ",p=")) == NULL) {
		free(dec);
		return;
	}
	*p = '\0';
	auth = xasprintf("%s,%s,%s", pe->cfbare, pe->sfirst, (char *)dec);
	free(dec);
	if (tls_pbkdf2_sha256(PASS, strlen(PASS), SALT, strlen(SALT),
	    pe->iter, salted) != 0 ||
	    tls_hmac_sha256(salted, 32, "Server Key", 10, skey) != 0 ||
	    tls_hmac_sha256(skey, 32, auth, strlen(auth), sig) != 0) {
		free(auth);
		return;
	}
	free(auth);
	sig64 = b64_encode(sig, sizeof(sig));
	final = xasprintf("v=%s", sig64);
	send_334(pe, final);
	free(final);
	free(sig64);
}

/* Whether the line at p (of n bytes left) is directive name; *args set. */
NO_COVERAGE static int
directive(const uint8_t *p, size_t n, const char *name, size_t *linelen,
    char *args, size_t argsmax)
{
	size_t k = strlen(name), len, a;
	const uint8_t *nl;

	if (n < k || memcmp(p, name, k) != 0)
		return 0;
	if (n > k && p[k] != '\n' && p[k] != '\r' && p[k] != ' ')
		return 0;
	nl = memchr(p, '\n', n);
	len = nl != NULL ? (size_t)(nl - p) + 1 : n;
	a = len - k;
	while (a > 0 && (p[k + a - 1] == '\n' || p[k + a - 1] == '\r'))
		a--;
	if (a > argsmax - 1)
		a = argsmax - 1;
	memcpy(args, p + k, a);
	args[a] = '\0';
	*linelen = len;
	return 1;
}

NO_COVERAGE static void
serve(int fd, const struct stream *st)
{
	struct peer *pe;
	const uint8_t *p = st->p;
	size_t n = st->n, i = 0, from = 0, len, junklen;
	static const char *const names[] = { "@@wait", "@@scram1", "@@scram2",
	    "@@close" };
	struct linger rst = { 1, 0 };
	char args[64], junk[256];
	int ok = 1, d;
	long end;

	pe = xcalloc(1, sizeof(*pe));
	pe->fd = fd;
	while (i < n && ok) {
		if (p[i] != '@' || (i > 0 && p[i - 1] != '\n')) {
			i++;
			continue;
		}
		for (d = 0; d < 4; d++)
			if (directive(p + i, n - i, names[d], &len, args,
			    sizeof(args)))
				break;
		if (d == 4) {
			i++;
			continue;
		}
		if (i > from && send_all(fd, p + from, i - from) == -1)
			ok = 0;
		i += len;
		from = i;
		if (!ok || pe->directives++ >= DIRECTIVES_MAX)
			continue;
		switch (d) {
		case 0:
			(void)peer_unit(pe, junk, sizeof(junk), &junklen);
			break;
		case 1:
			scram_first(pe, args);
			break;
		case 2:
			scram_final(pe);
			break;
		default:
			/* A reset once the engine has said something more. */
			(void)peer_unit(pe, junk, sizeof(junk), &junklen);
			(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst,
			    sizeof(rst));
			goto out;
		}
	}
	if (ok && n > from)
		(void)send_all(fd, p + from, n - from);
	(void)shutdown(fd, SHUT_WR);
	/* Read and drop until the engine closes (bounded). */
	end = ms_now() + DRAIN_MS;
	while (ms_now() < end) {
		pe->inlen = 0;
		if (peer_fill(pe, (end - ms_now()) * 1000) == -1)
			break;
	}
out:
	free(pe->cfbare);
	free(pe->sfirst);
	free(pe);
}

NO_COVERAGE static void *
server_main(void *arg)
{
	struct server *sv = arg;
	struct pollfd pfd[2];
	struct timeval tv = { 3, 0 };
	int fd, conns = 0;
	long end = ms_now() + ACCEPT_MS;

	for (;;) {
		pfd[0].fd = sv->lfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = sv->stopfd;
		pfd[1].events = POLLIN;
		if (ms_now() >= end)
			break;
		if (poll(pfd, 2, (int)(end - ms_now())) <= 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		fd = accept4(sv->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		serve(fd, conns == 0 ? &sv->first : &sv->again);
		close(fd);
		conns++;
	}
	/* Anything still queued (never expected) is refused. */
	while ((fd = accept4(sv->lfd, NULL, NULL, SOCK_CLOEXEC)) != -1)
		close(fd);
	return NULL;
}

/* ------------------------------------------------------------ checks */

struct watch {
	enum smtp_tls	 tls;
	int		 starttls_sent;
};

static int
has(const char *line, size_t len, const char *s)
{
	return memmem(line, len, s, strlen(s)) != NULL;
}

static int
starts(const char *line, size_t len, const char *s)
{
	size_t k = strlen(s);

	return len >= k && ascii_strncasecmp(line, s, k) == 0;
}

static void
transcript(void *ctx, int dir, const char *line, size_t len)
{
	struct watch *w = ctx;

#ifdef FUZZ_SMTP_TRACE
	fprintf(stderr, "%c %.*s\n", dir, (int)len, line);
#endif
	if (dir != '>')
		return;
	if (memchr(line, '\n', len) != NULL || memchr(line, '\r', len) != NULL)
		abort();
	/* SPEC §10: no secret in transcripts (b64 of PASS, of PLAIN's). */
	if (has(line, len, PASS) || has(line, len, "cGVuY2ls") ||
	    has(line, len, "AHVzZXIAcGVuY2ls"))
		abort();
	/* Implicit TLS: not one byte of plain text. */
	if (w->tls == SMTP_TLS_IMPLICIT)
		abort();
	/* TLS required, and no handshake can succeed here. */
	if ((w->tls == SMTP_TLS_STARTTLS || w->starttls_sent) &&
	    !starts(line, len, "EHLO ") && !starts(line, len, "HELO ") &&
	    !starts(line, len, "STARTTLS") && !starts(line, len, "QUIT"))
		abort();
	if (w->starttls_sent && !starts(line, len, "QUIT"))
		abort();
	if (w->tls == SMTP_TLS_IFOFFERED || w->tls == SMTP_TLS_STARTTLS)
		if (starts(line, len, "STARTTLS"))
			w->starttls_sent = 1;
}

static void
check_status(const struct smtp_status *st)
{
#ifdef FUZZ_SMTP_TRACE
	fprintf(stderr, "= %s at %s: %d %s [%s]\n", smtp_event_name(st->ev),
	    smtp_stage_name(st->stage), st->code, st->enh, st->text);
#endif
	if ((unsigned)st->ev > SMTP_EV_LOCAL ||
	    (unsigned)st->stage > SMTP_STAGE_EOD)
		abort();
	if (st->code != 0 && (st->code < 200 || st->code > 599))
		abort();
	if (memchr(st->text, '\0', sizeof(st->text)) == NULL ||
	    memchr(st->enh, '\0', sizeof(st->enh)) == NULL)
		abort();
	if (strpbrk(st->text, "\r\n") != NULL ||
	    strpbrk(st->enh, "\r\n") != NULL)
		abort();
	(void)smtp_stage_name(st->stage);
	(void)smtp_event_name(st->ev);
}

/* ------------------------------------------------------------ setup */

static const char msg7[] =
    "From: Alice <alice@example.org>\n"
    "To: bob@example.net\n"
    "Subject: fuzz\n"
    "Message-ID: <fuzz@example.org>\n"
    "\n"
    ".leading dot\n"
    "..two dots\n"
    ".\n"
    "a line\n"
    "..\n"
    "last line without a newline";

static const char msg8[] =
    "From: Alice <alice@example.org>\n"
    "To: bob@example.net\n"
    "Subject: caf\xc3\xa9\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    ".caf\xc3\xa9\n"
    ".\n"
    "\xe2\x82\xac 100\n";

static struct message	 messages[2];
static int		 lfd = -1, stopfd[2] = { -1, -1 };
static uint16_t		 port;
static int		 fd_base = -1;

static void
load(struct message *m, const char *text)
{
	char err[256];
	int in = memfd_create("fuzz-in", MFD_CLOEXEC);

	if (in == -1 || write_all(in, text, strlen(text)) != 0 ||
	    lseek(in, 0, SEEK_SET) != 0)
		abort();
	msg_init(m, memfd_create("fuzz-spool", MFD_CLOEXEC));
	if (m->fd == -1 || intake_read(in, m, 1, err, sizeof(err)) !=
	    INTAKE_OK)
		abort();
	close(in);
}

static void
setup(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	load(&messages[0], msg7);
	load(&messages[1], msg8);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd == -1)
		abort();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);	/* loopback only */
	sin.sin_port = 0;
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(lfd, 4) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0)
		abort();
	port = ntohs(sin.sin_port);
	if (pipe2(stopfd, O_CLOEXEC | O_NONBLOCK) != 0)
		abort();
}

/* The lowest free descriptor: it must not creep up between runs. */
static int
lowest_free_fd(void)
{
	int fd = dup(lfd);

	if (fd == -1)
		abort();
	close(fd);
	return fd;
}

/* Split the stream at the first "@@next" line. */
NO_COVERAGE static void
split(const uint8_t *p, size_t n, struct stream *a, struct stream *b)
{
	size_t i, k = 6;

	a->p = b->p = p;
	a->n = b->n = n;
	for (i = 0; i + k <= n; i++) {
		if ((i > 0 && p[i - 1] != '\n') || memcmp(p + i, "@@next", k))
			continue;
		if (i + k < n && p[i + k] != '\n' && p[i + k] != '\r')
			continue;
		a->n = i;
		while (i < n && p[i] != '\n')
			i++;
		if (i < n)
			i++;
		b->p = p + i;
		b->n = n - i;
		return;
	}
}

static int
one_send(struct smtp_session *s, struct smtp_txn *t)
{
	int usable = smtp_usable(s), r, ok = 0;
	size_t i;

	r = smtp_send(s, t);
	check_status(&t->st);
	for (i = 0; i < t->nrcpts; i++) {
		check_status(&t->rcpts[i].st);
		if (t->rcpts[i].st.ev == SMTP_EV_OK &&
		    t->rcpts[i].st.stage == SMTP_STAGE_EOD)
			ok++;
	}
	if (!usable && r != -1)
		abort();
	if (r != -1 && r != ok)
		abort();	/* "returns the number delivered" */
	if (r > (int)t->nrcpts || t->ntxn > t->nrcpts)
		abort();
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum smtp_tls modes[8] = { SMTP_TLS_OFF, SMTP_TLS_MAY,
	    SMTP_TLS_IFOFFERED, SMTP_TLS_STARTTLS, SMTP_TLS_IMPLICIT,
	    SMTP_TLS_OFF, SMTP_TLS_MAY, SMTP_TLS_OFF };
	static const enum auth_mech all[] = { AUTH_SCRAM_SHA_256,
	    AUTH_CRAM_MD5, AUTH_PLAIN, AUTH_LOGIN };
	static const enum auth_mech scram[] = { AUTH_SCRAM_SHA_256 };
	static const enum auth_mech cram[] = { AUTH_CRAM_MD5 };
	static const enum auth_mech clear[] = { AUTH_PLAIN, AUTH_LOGIN };
	static const unsigned char pin[32] = { 0x5a };
	struct server sv;
	struct smtp_params p;
	struct smtp_session s;
	struct smtp_status st;
	struct smtp_txn t;
	struct smtp_rcpt rcpts[3];
	struct sockaddr_in *sin;
	struct watch w;
	pthread_t th;
	uint8_t o0, o1;
	size_t i, nr;
	char c;
	int r;

	if (size < 2)
		return 0;
	if (lfd == -1)
		setup();
	if (fd_base == -1)
		fd_base = lowest_free_fd();
	o0 = data[0];
	o1 = data[1];

	memset(&sv, 0, sizeof(sv));
	sv.lfd = lfd;
	sv.stopfd = stopfd[0];
	split(data + 2, size - 2, &sv.first, &sv.again);
	engine_tid = (pid_t)syscall(SYS_gettid);
	if (pthread_create(&th, NULL, server_main, &sv) != 0)
		abort();

	memset(&w, 0, sizeof(w));
	memset(&p, 0, sizeof(p));
	p.server = "mx.example.org";
	sin = (struct sockaddr_in *)&p.addr.ss;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p.addr.len = sizeof(*sin);
	p.port = port;
	p.helo = (o1 & 0x08) ? NULL : "client.example.org";
	p.tls = w.tls = modes[o0 & 7];
	p.verify = (o1 & 0x80) ? TLS_VERIFY_PIN : TLS_VERIFY_NONE;
	p.pin = pin;
	if (o0 & 0x08) {
		p.auth_user = USER;
		p.auth_secret.value = PASS;
		switch ((o0 >> 4) & 3) {
		case 0:
			p.auth_allowed = all;
			p.nauth_allowed = 4;
			break;
		case 1:
			p.auth_allowed = scram;
			p.nauth_allowed = 1;
			break;
		case 2:
			p.auth_allowed = cram;
			p.nauth_allowed = 1;
			break;
		default:
			p.auth_allowed = clear;
			p.nauth_allowed = 2;
			break;
		}
	}
	p.timeout_connect = 1;
	p.timeout_command = 1;
	p.timeout_data = 1;
	net_deadline_set(&p.deadline, 2);
	p.transcript = transcript;
	p.transcript_ctx = &w;

	nr = (o1 & 3) == 0 ? 3 : (size_t)(o1 & 3);
	memset(rcpts, 0, sizeof(rcpts));
	rcpts[0].addr = "bob@example.net";
	rcpts[1].addr = (o1 & 0x04) ? "j\xc3\xb6rg@example.net" :
	    "carol+list=x@example.net";
	rcpts[1].smtputf8 = (o1 & 0x04) != 0;
	rcpts[2].addr = "dave@example.net";
	memset(&t, 0, sizeof(t));
	t.sender = (o1 & 0x20) ? "" : "alice@example.org";
	t.eightbit = (o0 & 0x40) != 0;
	t.msg = &messages[(o0 & 0x40) ? 1 : 0];
	t.msg_flags = (o1 & 0x10) ? MSG_HEADERS_ONLY : 0;
	t.ret = RET_UNSET;
	if (o0 & 0x80) {
		t.ret = (o1 & 0x10) ? RET_HDRS : RET_FULL;
		t.envid = "env+id=1 \x01";
		for (i = 0; i < nr; i++) {
			rcpts[i].notify = i == 0 ? NOTIFY_NEVER :
			    NOTIFY_SUCCESS | NOTIFY_FAILURE | NOTIFY_DELAY;
			rcpts[i].orcpt = rcpts[i].addr;
		}
	}
	t.rcpts = rcpts;
	t.nrcpts = nr;

	r = smtp_open(&s, &p, &st);
	check_status(&st);
	if (r == 0) {
		/* No handshake can succeed against this server. */
		if (s.tls_active || p.tls == SMTP_TLS_STARTTLS ||
		    p.tls == SMTP_TLS_IMPLICIT)
			abort();
		if (p.auth_user != NULL && !s.authenticated)
			abort();
	} else if (r != -1)
		abort();
	(void)one_send(&s, &t);
	if ((o1 & 0x40) && smtp_usable(&s))
		(void)one_send(&s, &t);
	smtp_close(&s);

	c = 0;
	if (write(stopfd[1], &c, 1) != 1)
		abort();
	if (pthread_join(th, NULL) != 0)
		abort();
	while (read(stopfd[0], &c, 1) == 1)
		;
	if (lowest_free_fd() > fd_base + 4)
		abort();	/* a descriptor leaked */
	return 0;
}
