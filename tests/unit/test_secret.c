/*
 * test_secret.c: the relay's secret from a file or a command (secret.c):
 * the first line trimmed of LF or CRLF, up to 64 KiB; a file that others
 * may read refused, one its group may read used, read again at every
 * fetch; a command run without a shell, stdin on /dev/null, signals and
 * descriptors not inherited, killed with its process group at its time
 * limit; every failure named with the file or the command's path and the
 * first line of its stderr, never with the secret.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "secret.h"
#include "util.h"

static char dir[64];
static char err[600];
static struct secret sec;

static void
setup(void)
{
	alarm(60);
	snprintf(dir, sizeof(dir), "/tmp/test_secret.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	err[0] = '\0';
	memset(&sec, 0, sizeof(sec));
}

static void
teardown(void)
{
	char cmd[128];

	secret_free(&sec);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)system(cmd);
}

TestSuite(secret, .init = setup, .fini = teardown);

/* dir/name holding len octets of data, with mode; its path (static). */
static const char *
put(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* A shell script dir/name (mode 0755) with body after "#!/bin/sh". */
static const char *
script(const char *name, const char *body)
{
	char text[2048];

	snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
	return put(name, text, strlen(text), 0755);
}

static int
from_file(const char *path)
{
	struct secret_source src = { NULL, path, NULL };

	secret_free(&sec);
	return secret_fetch(&src, INT64_MAX, &sec, err, sizeof(err));
}

static int
from_command(const char *command, int64_t deadline)
{
	struct secret_source src = { NULL, NULL, command };

	secret_free(&sec);
	return secret_fetch(&src, deadline, &sec, err, sizeof(err));
}

#define assert_secret(want) do { \
	cr_assert_not_null(sec.data, "no secret: %s", err); \
	cr_assert_str_eq(sec.data, (want)); \
	cr_assert_eq(sec.len, strlen(want)); \
} while (0)

#define assert_err_has(needle) \
	cr_assert(strstr(err, (needle)) != NULL, "\"%s\" lacks \"%s\"", err, \
	    (needle))

/* A small file's text (NULL if unreadable); caller frees. */
static char *
slurp_text(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/* A 64 KiB token, and one octet more: callers free. */
static char *
long_token(size_t n)
{
	char *t = xmalloc(n + 1);

	memset(t, 'T', n);
	t[n] = '\0';
	return t;
}

/* ---------------------------------------------------------- value */

Test(secret, value_is_copied)
{
	struct secret_source src = { "pw", NULL, NULL };
	struct secret_source none = { NULL, NULL, NULL };

	cr_assert_eq(secret_fetch(&src, INT64_MAX, &sec, err, sizeof(err)), 0);
	assert_secret("pw");
	secret_free(&sec);
	cr_assert_eq(secret_fetch(&none, INT64_MAX, &sec, err, sizeof(err)),
	    0);
	assert_secret("");
	secret_free(&sec);
	cr_assert_null(sec.data);
	cr_assert_eq(sec.len, 0);
}

/* ---------------------------------------------------------- file */

Test(secret, file_first_line_trimmed)
{
	cr_assert_eq(from_file(put("a", "tok\n", 4, 0600)), 0, "%s", err);
	assert_secret("tok");
	cr_assert_eq(from_file(put("b", "tok\r\nline 2\n", 13, 0600)), 0);
	assert_secret("tok");
	cr_assert_eq(from_file(put("c", "tok", 3, 0400)), 0);
	assert_secret("tok");
}

/* A timer refreshes the token: each fetch reads the file as it is now. */
Test(secret, file_read_again_each_time)
{
	const char *path = put("t", "old-token\n", 10, 0600);

	cr_assert_eq(from_file(path), 0, "%s", err);
	assert_secret("old-token");
	(void)put("t", "new-token\n", 10, 0600);
	cr_assert_eq(from_file(path), 0, "%s", err);
	assert_secret("new-token");
}

Test(secret, file_of_64_kib)
{
	char *tok = long_token(SECRET_MAX + 2);
	const char *path;

	tok[SECRET_MAX] = '\r';
	tok[SECRET_MAX + 1] = '\n';
	path = put("t", tok, SECRET_MAX + 2, 0600);
	cr_assert_eq(from_file(path), 0, "%s", err);
	cr_assert_eq(sec.len, SECRET_MAX);
	tok[SECRET_MAX] = 'T';
	path = put("t", tok, SECRET_MAX + 2, 0600);
	cr_assert_eq(from_file(path), -1);
	assert_err_has("longer than 64 KiB");
	cr_assert_null(sec.data);
	free(tok);
}

/* Its group may read it (the users who send share it: SPEC §4). */
Test(secret, file_modes)
{
	cr_assert_eq(from_file(put("g", "tok\n", 4, 0640)), 0, "%s", err);
	cr_assert_eq(from_file(put("g", "tok\n", 4, 0660)), 0, "%s", err);
	cr_assert_eq(from_file(put("o", "tok\n", 4, 0604)), -1);
	assert_err_has("readable or writable by others");
	cr_assert_eq(from_file(put("o", "tok\n", 4, 0602)), -1);
	assert_err_has("readable or writable by others");
	cr_assert_eq(secret_file_check(put("o", "tok\n", 4, 0644), err,
	    sizeof(err)), -1);
	cr_assert_eq(secret_file_check(put("o", "\n", 1, 0640), err,
	    sizeof(err)), 0, "%s", err);
}

Test(secret, file_content_refused_without_quoting_it)
{
	cr_assert_eq(from_file(put("e", "\nsecond\n", 8, 0600)), -1);
	assert_err_has("nothing on the first line");
	cr_assert_eq(from_file(put("e", "", 0, 0600)), -1);
	cr_assert_eq(from_file(put("n", "to\0ken\n", 7, 0600)), -1);
	assert_err_has("NUL");
	cr_assert(strstr(err, "to") == NULL || strstr(err, "token") == NULL,
	    "%s", err);
}

/* Named with the user who could not read it (root's -q reads as each). */
Test(secret, file_unreadable_names_the_user)
{
	char want[400], path[128];
	struct passwd *pw = getpwuid(geteuid());

	snprintf(path, sizeof(path), "%s/none", dir);
	snprintf(want, sizeof(want), "relay_password_file %s: %s (read as "
	    "user %s, uid %u)", path, strerror(ENOENT), pw->pw_name,
	    (unsigned)geteuid());
	cr_assert_eq(from_file(path), -1);
	cr_assert_str_eq(err, want);
}

/* A FIFO planted as the file never blocks the run. */
Test(secret, file_fifo_refused_at_once)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/fifo", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(from_file(path), -1);
	assert_err_has("not a regular file");
}

/* ---------------------------------------------------------- command */

Test(secret, command_prints_the_token)
{
	const char *p = script("tok", "echo \"tok-$1-$2\"; echo second line");
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "%s  a\tb", p);
	cr_assert_eq(from_command(cmd, INT64_MAX), 0, "%s", err);
	assert_secret("tok-a-b");
	cr_assert_eq(from_command("/usr/bin/printf tok\\r\\n", INT64_MAX), 0,
	    "%s", err);
	assert_secret("tok");
}

Test(secret, command_of_64_kib)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "%s", script("big", "head -c 65536 "
	    "/dev/zero | tr '\\0' T; echo"));
	cr_assert_eq(from_command(cmd, INT64_MAX), 0, "%s", err);
	cr_assert_eq(sec.len, SECRET_MAX);
	snprintf(cmd, sizeof(cmd), "%s", script("big", "head -c 65537 "
	    "/dev/zero | tr '\\0' T; echo"));
	cr_assert_eq(from_command(cmd, INT64_MAX), -1);
	assert_err_has("printed a first line longer than 64 KiB");
}

Test(secret, command_failures_name_the_path_and_stderr)
{
	char want[400];
	const char *p;

	p = script("fail", "echo >&2; echo 'refresh token expired' >&2; "
	    "echo more >&2; echo tok; exit 3");
	snprintf(want, sizeof(want), "relay_password_command %s exited with "
	    "status 3: refresh token expired", p);
	cr_assert_eq(from_command(p, INT64_MAX), -1);
	cr_assert_str_eq(err, want);
	cr_assert_null(sec.data);

	p = script("nothing", "exit 0");
	cr_assert_eq(from_command(p, INT64_MAX), -1);
	assert_err_has("printed nothing on the first line");
	assert_err_has(p);

	p = script("sig", "echo tok; kill -TERM $$");
	cr_assert_eq(from_command(p, INT64_MAX), -1);
	assert_err_has("was killed by signal 15");
}

Test(secret, command_that_cannot_run)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "%s/none --flag", dir);
	cr_assert_eq(from_command(cmd, INT64_MAX), -1);
	assert_err_has("cannot run it: No such file or directory");
	snprintf(cmd, sizeof(cmd), "relay_password_command %s/none ", dir);
	cr_assert(strncmp(err, cmd, strlen(cmd)) == 0, "%s", err);
	cr_assert_eq(from_command(put("noexec", "#!/bin/sh\necho t\n", 17,
	    0644), INT64_MAX), -1);
	assert_err_has("cannot run it: Permission denied");
	cr_assert_eq(secret_command_check("/bin/x y"), 0);
	cr_assert_eq(secret_command_check("x /bin/y"), -1);
	cr_assert_eq(secret_command_check(""), -1);
}

/* stdin is /dev/null: a command that reads it does not wait for us. */
Test(secret, command_stdin_is_dev_null)
{
	double t0 = (double)mono_ms();

	cr_assert_eq(from_command("/bin/cat", INT64_MAX), -1);
	assert_err_has("printed nothing");
	cr_assert((double)mono_ms() - t0 < 5000);
}

/*
 * mxsend ignores SIGPIPE; exec would pass that on. And the descriptors of
 * the run (the queue entry's lock, sockets) stay out of the command.
 */
Test(secret, command_inherits_no_ignored_signal_and_no_descriptor)
{
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	int leak = open("/dev/null", O_RDONLY);	/* no O_CLOEXEC */

	cr_assert_eq(from_command(script("sig", "grep SigIgn "
	    "/proc/self/status"), INT64_MAX), 0, "%s", err);
	/* Signals 1-31; glibc's own (32, 33) are its business. */
	cr_assert_not_null(sec.data, "%s", err);
	cr_assert_eq(strtoull(sec.data + 7, NULL, 16) & 0x7fffffffULL, 0,
	    "%s", sec.data);
	cr_assert(leak > 2);
	cr_assert_eq(from_command("/bin/ls -m /proc/self/fd", INT64_MAX), 0,
	    "%s", err);
	assert_secret("0, 1, 2, 3");	/* 3: the directory ls reads */
	close(leak);
	signal(SIGPIPE, old);
}

/*
 * The deadline bounds the command too, and what it started goes with it
 * (a child holding the pipe would otherwise keep the run waiting).
 */
/* Whether pid runs (a zombie waiting for init does not). */
static int
running(long pid)
{
	char path[64], *stat, *paren;
	int alive;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((stat = slurp_text(path)) == NULL)
		return 0;
	paren = strrchr(stat, ')');
	alive = paren != NULL && paren[1] == ' ' && paren[2] != 'Z';
	free(stat);
	return alive;
}

Test(secret, command_killed_at_the_deadline_with_its_group)
{
	char body[300], bgfile[128], *bg;
	const char *p;
	int64_t t0;
	long pid;
	int i;

	snprintf(bgfile, sizeof(bgfile), "%s/bg", dir);
	snprintf(body, sizeof(body), "echo 'waiting for the IdP' >&2; "
	    "sleep 20 & echo $! > %s; wait", bgfile);
	p = script("hang", body);
	t0 = mono_ms();
	cr_assert_eq(from_command(p, t0 + 500), -1);
	cr_assert(mono_ms() - t0 < 3000, "took %lld ms",
	    (long long)(mono_ms() - t0));
	assert_err_has("did not finish before the delivery deadline (killed)"
	    ": waiting for the IdP");
	assert_err_has(p);
	cr_assert_not_null(bg = slurp_text(bgfile));
	pid = atol(bg);
	free(bg);
	for (i = 0; i < 100 && running(pid); i++)
		usleep(10000);
	cr_assert(!running(pid), "the command's child %ld still runs", pid);
}

/* SPEC §4: at most 30 s. The one slow test. */
Test(secret, command_limited_to_30_s)
{
	const char *p = script("slow", "exec sleep 40");
	int64_t t0 = mono_ms(), took;

	cr_assert_eq(from_command(p, INT64_MAX), -1);
	took = mono_ms() - t0;
	cr_assert(took >= 29500 && took < 33000, "took %lld ms",
	    (long long)took);
	assert_err_has("did not finish within 30 s (killed)");
}
