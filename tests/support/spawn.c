/*
 * spawn.c: start and stop the scripted test servers, and the few helpers
 * their tests share (see spawn.h).
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "spawn.h"

const char *
support_path(const char *name)
{
	static char path[4096];
	const char *b = getenv("top_builddir");

	snprintf(path, sizeof(path), "%s/tests/support/%s", b ? b : ".", name);
	return path;
}

long
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int
server_start(struct server *s, const char *const argv[], unsigned timeout_s)
{
	char buf[4096];
	size_t len = 0;
	long end = ms_now() + (long)timeout_s * 1000L;
	int p[2];

	memset(s, 0, sizeof(*s));
	if (pipe(p) != 0)
		return -1;
	if ((s->pid = fork()) < 0)
		return -1;
	if (s->pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		long left = end - ms_now();
		char *line, *nl;
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			struct listener *l = &s->l[s->nl];
			int pid;

			*nl = '\0';
			if (strcmp(line, "ready") == 0) {
				close(p[0]);
				return 0;
			}
			if (s->nl < SPAWN_MAX_LISTENERS &&
			    sscanf(line, "ready %63s %u pid %d", l->addr,
			    &l->port, &pid) == 3)
				s->nl++;
			line = nl + 1;
		}
		len = strlen(line);
		memmove(buf, line, len + 1);
		if (len >= sizeof(buf) - 1)
			break;
	}
	close(p[0]);
	server_stop(s);
	return -1;
}

void
server_stop(struct server *s)
{
	long end;
	int st;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	end = ms_now() + 2000;
	while (ms_now() < end) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(s->pid, SIGKILL);
	(void)waitpid(s->pid, &st, 0);
	s->pid = 0;
}

void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert(fclose(f) == 0);
}

char *
file_read(const char *path, size_t *lenp)
{
	char *s;
	FILE *f;
	long n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	cr_assert(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	rewind(f);
	s = malloc((size_t)n + 1);
	cr_assert(s != NULL);
	cr_assert(fread(s, 1, (size_t)n, f) == (size_t)n);
	s[n] = '\0';
	fclose(f);
	if (lenp != NULL)
		*lenp = (size_t)n;
	return s;
}

static void
run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
run_cmd(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

void
make_self_signed(const char *dir, char *cert, char *key, size_t size)
{
	char tmpl[600];

	if (system("certtool --version >/dev/null 2>&1") != 0)
		cr_skip_test("certtool (gnutls-bin) is not installed");
	snprintf(cert, size, "%s/cert.pem", dir);
	snprintf(key, size, "%s/key.pem", dir);
	snprintf(tmpl, sizeof(tmpl), "%s/cert.tmpl", dir);
	write_file(tmpl, "cn = \"mx.test\"\ndns_name = \"mx.test\"\n"
	    "tls_www_server\nsigning_key\nencryption_key\n"
	    "expiration_days = 2\n");
	run_cmd("certtool --generate-privkey --key-type=ecdsa --outfile %s "
	    ">/dev/null 2>&1", key);
	run_cmd("certtool --generate-self-signed --load-privkey %s --template "
	    "%s --outfile %s >/dev/null 2>&1", key, tmpl, cert);
}
