/*
 * spawn.c: start and stop the scripted test servers, and the few helpers
 * their tests share (see spawn.h).
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/*
 * Fork argv with stdin from /dev/null, stdout to the pipe p (NULL:
 * /dev/null) and stderr to errpath (NULL: inherited). The child's PID, or
 * -1.
 */
static pid_t
fork_exec(const char *const argv[], const int p[2], const char *errpath)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) != 0)
		return pid;
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		if (p == NULL)
			dup2(fd, 1);
		if (fd > 2)
			close(fd);
	}
	if (p != NULL) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
	}
	if (errpath != NULL &&
	    (fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0) {
		dup2(fd, 2);
		close(fd);
	}
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/* One line the server printed before "ready": a listener, or not. */
static void
ready_line(struct server *s, const char *line)
{
	struct listener l;
	int pid;

	memset(&l, 0, sizeof(l));
	if (sscanf(line, "ready %63s %u pid %d", l.addr, &l.port, &pid) != 3) {
		if (s->nbad++ == 0)
			snprintf(s->bad, sizeof(s->bad), "%.120s", line);
		return;
	}
	l.pid = (pid_t)pid;
	if (s->nl < SPAWN_MAX_LISTENERS)
		s->l[s->nl++] = l;
}

int
server_start(struct server *s, const char *const argv[], unsigned timeout_s)
{
	return server_start_err(s, argv, timeout_s, NULL);
}

int
server_start_err(struct server *s, const char *const argv[],
    unsigned timeout_s, const char *errpath)
{
	char buf[4096];
	size_t len = 0;
	long end = ms_now() + (long)timeout_s * 1000L;
	int p[2];

	memset(s, 0, sizeof(*s));
	if (pipe(p) != 0)
		return -1;
	s->pid = fork_exec(argv, p, errpath);
	close(p[1]);
	if (s->pid < 0) {
		close(p[0]);
		s->pid = 0;
		return -1;
	}
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
			*nl = '\0';
			if (strcmp(line, "ready") == 0) {
				close(p[0]);
				return 0;
			}
			ready_line(s, line);
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

int
server_wait(struct server *s, long ms)
{
	long end = ms_now() + ms;
	int st;

	do {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return st;
		}
		usleep(10000);
	} while (ms_now() < end);
	return -1;
}

int
server_stop(struct server *s)
{
	int st;

	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	if ((st = server_wait(s, 2000)) != -1)
		return st;
	kill(s->pid, SIGKILL);
	(void)waitpid(s->pid, &st, 0);
	s->pid = 0;
	return -1;
}

int
server_run(const char *const argv[], const char *errpath, long ms)
{
	struct server s;
	int st;

	memset(&s, 0, sizeof(s));
	if ((s.pid = fork_exec(argv, NULL, errpath)) < 0)
		return -1;
	if ((st = server_wait(&s, ms)) == -1) {
		kill(s.pid, SIGKILL);
		(void)waitpid(s.pid, NULL, 0);
	}
	return st;
}

/* argv[*argc...] = the NULL-terminated args; argv holds size entries. */
static void
add_args(const char **argv, int *argc, int size, const char *const args[])
{
	for (; args != NULL && *args != NULL; args++) {
		cr_assert_lt(*argc, size - 1, "too many server arguments");
		argv[(*argc)++] = *args;
	}
	argv[*argc] = NULL;
}

int
spawn_fakesmtp(struct server *s, const char *dir, const char *script,
    const char *const args[])
{
	const char *argv[48];
	char spath[600], rpath[600];
	int argc = 0;

	snprintf(spath, sizeof(spath), "%s/script", dir);
	snprintf(rpath, sizeof(rpath), "%s/rec", dir);
	write_file(spath, script);
	argv[argc++] = support_path("fakesmtp");
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	argv[argc++] = "--script";
	argv[argc++] = spath;
	argv[argc++] = "--record";
	argv[argc++] = rpath;
	add_args(argv, &argc, 48, args);
	return server_start(s, argv, SPAWN_READY_S);
}

int
spawn_fakesmtp_va(struct server *s, const char *dir, const char *script,
    const char *const args[], va_list ap)
{
	const char *all[40];
	int n = 0;

	add_args(all, &n, 40, args);
	while ((all[n] = va_arg(ap, const char *)) != NULL)
		cr_assert_lt(++n, 39, "too many server arguments");
	return spawn_fakesmtp(s, dir, script, all);
}

char *
record_read(const char *dir, const char *name, size_t *lenp)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/rec/%s", dir, name);
	return file_read(path, lenp);
}

char *
record_wait(const char *dir, const char *name, long ms)
{
	long end = ms_now() + ms;
	char *s;

	while ((s = record_read(dir, name, NULL)) == NULL && ms_now() < end)
		usleep(10000);
	cr_assert(s != NULL, "no record %s", name);
	return s;
}

int
spawn_fakedns(struct server *s, const char *zone, const char *log,
    const char *const args[], const char *errpath)
{
	const char *argv[48];
	int argc = 0;

	argv[argc++] = support_path("fakedns");
	argv[argc++] = "--zone";
	argv[argc++] = zone;
	if (log != NULL) {
		argv[argc++] = "--log";
		argv[argc++] = log;
	}
	add_args(argv, &argc, 48, args);
	return server_start_err(s, argv, SPAWN_READY_S, errpath);
}

static int
remove_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
remove_tree(const char *dir)
{
	return nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
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

void
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

void
make_ca_signed(const char *dir, const char *ip, char *ca, char *cert,
    char *key, size_t size)
{
	char cakey[600], catmpl[600], srvtmpl[600], text[600];

	if (system("certtool --version >/dev/null 2>&1") != 0)
		cr_skip_test("certtool (gnutls-bin) is not installed");
	snprintf(ca, size, "%s/ca.pem", dir);
	snprintf(cert, size, "%s/cert.pem", dir);
	snprintf(key, size, "%s/key.pem", dir);
	snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
	snprintf(catmpl, sizeof(catmpl), "%s/ca.tmpl", dir);
	snprintf(srvtmpl, sizeof(srvtmpl), "%s/srv.tmpl", dir);
	write_file(catmpl, "cn = \"mxsend test CA\"\nca\ncert_signing_key\n"
	    "crl_signing_key\nexpiration_days = 2\n");
	snprintf(text, sizeof(text), "cn = \"localhost\"\n"
	    "dns_name = \"localhost\"\nip_address = \"%s\"\n"
	    "tls_www_server\nsigning_key\nencryption_key\n"
	    "expiration_days = 2\n", ip);
	write_file(srvtmpl, text);
	run_cmd("certtool --generate-privkey --key-type=ecdsa --outfile %s "
	    ">/dev/null 2>&1", cakey);
	run_cmd("certtool --generate-self-signed --load-privkey %s --template "
	    "%s --outfile %s >/dev/null 2>&1", cakey, catmpl, ca);
	run_cmd("certtool --generate-privkey --key-type=ecdsa --outfile %s "
	    ">/dev/null 2>&1", key);
	run_cmd("certtool --generate-certificate --load-privkey %s "
	    "--load-ca-certificate %s --load-ca-privkey %s --template %s "
	    "--outfile %s >/dev/null 2>&1", key, ca, cakey, srvtmpl, cert);
}
