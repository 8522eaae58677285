/*
 * run.c: the integration tests' process runner (see run.h). One poll()
 * loop feeds stdin and drains stdout and stderr so that neither side can
 * block the other, and a hard deadline kills a hung child.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "run.h"

/*
 * Under MXSEND_TEST_WRAPPER, run_exec() links the binary in $dir.wrap,
 * which any uid a test switches to may write, and preloads the copy of
 * valgrind-tmpdir.so made here (the build tree may be closed to them).
 */
static void
wrap_dir(const struct run_env *re)
{
	const char *b = getenv("top_builddir");
	char path[300], cmd[1200];

	if (getenv("MXSEND_TEST_WRAPPER") == NULL)
		return;
	snprintf(path, sizeof(path), "%s.wrap", re->dir);
	if (mkdir(path, 0700) != 0 || chmod(path, 01777) != 0)
		cr_assert_fail("create %s: %s", path, strerror(errno));
	snprintf(cmd, sizeof(cmd), "cp '%s/tests/integration/"
	    "valgrind-tmpdir.so' '%s/' && chmod 0755 '%s/valgrind-tmpdir.so'",
	    b ? b : ".", path, path);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

void
run_env_setup(struct run_env *re)
{
	int fd;

	re->as_user = 0;
	re->binary[0] = '\0';
	re->no_home = 0;
	re->stderr_mode = RUN_STDERR_PIPE;
	re->stdin_path = NULL;
	re->etc_dir = NULL;
	re->hostname = NULL;
	strcpy(re->dir, "/tmp/mxsend-test.XXXXXX");
	if (mkdtemp(re->dir) == NULL)
		cr_assert_fail("mkdtemp: %s", strerror(errno));
	snprintf(re->conf, sizeof(re->conf), "%s/mxsend.conf", re->dir);
	snprintf(re->aliases, sizeof(re->aliases), "%s/aliases", re->dir);
	if ((fd = open(re->conf, O_CREAT | O_WRONLY, 0600)) < 0)
		cr_assert_fail("create %s: %s", re->conf, strerror(errno));
	close(fd);
	if ((fd = open(re->aliases, O_CREAT | O_WRONLY, 0600)) < 0)
		cr_assert_fail("create %s: %s", re->aliases, strerror(errno));
	close(fd);
	snprintf(re->passwd, sizeof(re->passwd), "%s/passwd", re->dir);
	snprintf(re->group, sizeof(re->group), "%s/group", re->dir);
	if ((fd = open(re->passwd, O_CREAT | O_WRONLY | O_TRUNC, 0644)) < 0)
		cr_assert_fail("create %s: %s", re->passwd, strerror(errno));
	close(fd);
	if ((fd = open(re->group, O_CREAT | O_WRONLY | O_TRUNC, 0644)) < 0)
		cr_assert_fail("create %s: %s", re->group, strerror(errno));
	close(fd);
	run_env_add_user(re, "root", 0, 0, re->dir);
	wrap_dir(re);
	/* The queue of this test, as make install creates queue_dir. */
	snprintf(re->queue, sizeof(re->queue), "%s/queue", re->dir);
	if (mkdir(re->queue, 0700) != 0 || chmod(re->queue, 01733) != 0)
		cr_assert_fail("create %s: %s", re->queue, strerror(errno));
}

/* Whether the test's passwd file has uid already. */
static int
has_uid(const struct run_env *re, unsigned uid)
{
	char	 line[1024];
	unsigned u;
	FILE	*f = fopen(re->passwd, "r");
	int	 found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = sscanf(line, "%*[^:]:%*[^:]:%u:", &u) == 1 && u == uid;
	fclose(f);
	return found;
}

void
run_env_add_user(struct run_env *re, const char *name, unsigned uid,
    unsigned gid, const char *home)
{
	FILE	*f;

	if (has_uid(re, uid))
		return;
	f = fopen(re->passwd, "a");
	cr_assert_not_null(f, "open %s", re->passwd);
	fprintf(f, "%s:x:%u:%u:%s:%s:/bin/sh\n", name, uid, gid, name, home);
	fclose(f);
	f = fopen(re->group, "a");
	cr_assert_not_null(f, "open %s", re->group);
	fprintf(f, "%s:x:%u:\n", name, gid);
	fclose(f);
}

void
run_env_cleanup(struct run_env *re)
{
	char cmd[600];

	if (re->dir[0] == '\0' || strncmp(re->dir, "/tmp/mxsend-test.", 17))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.wrap'", re->dir, re->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", re->dir);
}

const char *
run_env_file(struct run_env *re, const char *name, const char *text, int mode)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", re->dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "create %s", path);
	fputs(text, f);
	fclose(f);
	chmod(path, (mode_t)mode);
	return path;
}

int
run_env_host(struct run_env *re, const char *name)
{
	static const char *const keep[] = { "nsswitch.conf", "ld.so.cache" };
	char *dir = re->etc, cmd[1024];
	size_t i;

	if (geteuid() != 0)
		return -1;
	snprintf(re->etc, sizeof(re->etc), "%s/etc", re->dir);
	cr_assert(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s", dir);
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		snprintf(cmd, sizeof(cmd), "test ! -e /etc/%s || "
		    "cp /etc/%s '%s/'", keep[i], keep[i], dir);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
	}
	re->etc_dir = re->etc;
	re->hostname = name;
	return 0;
}

/* In the child: the test's /etc and host name (run_env_host()). */
static int
enter_host(const struct run_env *re)
{
	if (re->etc_dir == NULL && re->hostname == NULL)
		return 0;
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return -1;
	if (re->etc_dir != NULL &&
	    mount(re->etc_dir, "/etc", NULL, MS_BIND, NULL) != 0)
		return -1;
	if (re->hostname != NULL &&
	    sethostname(re->hostname, strlen(re->hostname)) != 0)
		return -1;
	return 0;
}

const char *
mxsend_path(void)
{
	static char path[4096];
	const char *b = getenv("top_builddir");

	snprintf(path, sizeof(path), "%s/src/mxsend", b ? b : ".");
	return path;
}

static void
drain(int *fd, char **buf, size_t *len, size_t *cap)
{
	char tmp[8192];
	ssize_t n = read(*fd, tmp, sizeof(tmp));

	if (n <= 0) {
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		close(*fd);
		*fd = -1;
		return;
	}
	if (*len + (size_t)n + 1 > *cap) {
		*cap = (*len + (size_t)n + 1) * 2;
		*buf = realloc(*buf, *cap);
		cr_assert_not_null(*buf);
	}
	memcpy(*buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *const defaults[] = {
	"MXSEND_DEFAULT_DOMAIN=test.example",
	"MXSEND_NAMESERVER=127.0.0.1:1",
	"MXSEND_LOG=none",
	NULL
};

/* Whether env sets the variable of entry ("KEY=..."). */
static int
env_has(const char *const env[], const char *entry)
{
	size_t	 klen = strcspn(entry, "=") + 1, i;

	for (i = 0; env != NULL && env[i] != NULL; i++)
		if (strncmp(env[i], entry, klen) == 0)
			return 1;
	return 0;
}

void
run_env_as_user(struct run_env *re, unsigned uid, unsigned gid)
{
	char cmd[4096 + 800];

	if (re->binary[0] == '\0') {
		snprintf(re->binary, sizeof(re->binary), "%s/mxsend", re->dir);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0755 '%s'",
		    mxsend_path(), re->binary, re->binary);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
	}
	cr_assert_eq(chmod(re->dir, 0711), 0);
	cr_assert_eq(chmod(re->conf, 0644), 0);
	cr_assert_eq(chmod(re->aliases, 0644), 0);
	run_env_add_user(re, "mxtest", uid, gid, re->dir);
	re->as_user = 1;
	re->uid = uid;
	re->gid = gid;
}

double
run_slack(void)
{
	const char *s = getenv("MXSEND_TEST_SLACK");
	double f = s != NULL ? atof(s) : 1.0;

	return f > 1.0 ? f : 1.0;
}

void
run_alarm(unsigned seconds)
{
	alarm((unsigned)(seconds * run_slack()));
}

const char *
run_seconds(char buf[16], unsigned seconds)
{
	snprintf(buf, 16, "%.0f", seconds * run_slack());
	return buf;
}

/* The wrapper's words into w (at most n - 1, then NULL); how many. */
static size_t
wrapper_words(char *copy, char *w[], size_t n)
{
	size_t k = 0;
	char *tok;

	for (tok = strtok(copy, " \t"); tok != NULL && k + 1 < n;
	    tok = strtok(NULL, " \t"))
		w[k++] = tok;
	w[k] = NULL;
	return k;
}

/*
 * The environment for the wrapper: TMPDIR its own (valgrind cannot start
 * without writing there), the test's TMPDIR in MXTEST_TMPDIR and
 * valgrind-tmpdir.so preloaded to put it back; MXTEST_RUN names the
 * run for the wrapper's log file (pids are reused within make check, and
 * another user's old log cannot be overwritten). Strings live in buf.
 */
static void
wrapped_env(const char *wdir, char *const envp[], char *out[], size_t n,
    char buf[4][1200])
{
	const char *tmp = "", *preload = NULL, *dir = strrchr(wdir, '/');
	size_t i, k = 0;

	for (i = 0; envp[i] != NULL && k + 5 < n; i++) {
		if (strncmp(envp[i], "TMPDIR=", 7) == 0)
			tmp = envp[i] + 7;
		else if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0)
			preload = envp[i] + 11;
		else
			out[k++] = envp[i];
	}
	snprintf(buf[0], 1200, "TMPDIR=%s", wdir);
	snprintf(buf[1], 1200, "MXTEST_TMPDIR=%s", tmp);
	snprintf(buf[2], 1200, "LD_PRELOAD=%s%s%s/valgrind-tmpdir.so",
	    preload ? preload : "", preload ? ":" : "", wdir);
	snprintf(buf[3], 1200, "MXTEST_RUN=%s.%ld", dir ? dir + 1 : wdir,
	    (long)getpid());
	for (i = 0; i < 4; i++)
		out[k++] = buf[i];
	out[k] = NULL;
}

void
run_exec(const struct run_env *re, const char *binary,
    const char *const argv[], char *const envp[])
{
	const char *wrapper = getenv("MXSEND_TEST_WRAPPER"), *base;
	char copy[2048], wdir[300], link[900], *args[96], *env[96];
	char buf[4][1200], abs[4096];
	size_t n, i;

	/*
	 * Only mxsend runs under the wrapper: the memcheck pass checks it,
	 * not another program a test runs (swaks, a Perl script, would
	 * report Perl's leaks and run too slowly for its time bounds).
	 */
	base = strrchr(binary, '/');
	if (wrapper == NULL || *wrapper == '\0' ||
	    strcmp(base != NULL ? base + 1 : binary, "mxsend") != 0) {
		execve(binary, (char *const *)argv, envp);
		return;
	}
	/* The link below must not depend on the directory it is in. */
	if (binary[0] != '/' && realpath(binary, abs) != NULL)
		binary = abs;
	snprintf(copy, sizeof(copy), "%s", wrapper);
	n = wrapper_words(copy, args, 32);
	/* mxsend's mode comes from argv[0]'s base name: a link keeps it. */
	base = argv[0] != NULL ? strrchr(argv[0], '/') : NULL;
	base = base != NULL ? base + 1 : argv[0];
	snprintf(wdir, sizeof(wdir), "%s.wrap", re->dir);
	snprintf(link, sizeof(link), "%s/%ld", wdir, (long)getpid());
	if (n == 0 || mkdir(link, 0700) != 0)
		return;
	snprintf(link + strlen(link), sizeof(link) - strlen(link), "/%s",
	    base != NULL && *base != '\0' ? base : "mxsend");
	if (symlink(binary, link) != 0)
		return;
	args[n++] = link;
	for (i = 1; argv[0] != NULL && argv[i] != NULL && n + 1 < 96; i++)
		args[n++] = (char *)argv[i];
	args[n] = NULL;
	wrapped_env(wdir, envp, env, 96, buf);
	execve(args[0], args, env);
}

int
run_mxsend(const struct run_env *re, const char *const argv[],
    const char *input, size_t len, const char *const env[],
    unsigned timeout_s, struct run_result *res)
{
	int in[2], out[2], err[2], wstatus, unread = -1;
	struct rusage ru;
	size_t outcap = 1, errcap = 1, sent = 0, nenv = 0, i;
	char *envp[64], home[300], tmp[300], conf[320], al[320], qdir[340];
	char pwd[340], grp[340];
	double end;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->out = calloc(1, 1);
	res->err = calloc(1, 1);
	if (pipe(in) || pipe(out) || pipe(err))
		return -1;
	snprintf(home, sizeof(home), "HOME=%s", re->dir);
	snprintf(tmp, sizeof(tmp), "TMPDIR=%s", re->dir);
	snprintf(conf, sizeof(conf), "MXSEND_CONFIG=%s", re->conf);
	snprintf(al, sizeof(al), "MXSEND_ALIASES=%s", re->aliases);
	envp[nenv++] = "PATH=/usr/bin:/bin";
	/* The test's own HOME or TMPDIR (in env, below) replaces $dir. */
	if (!re->no_home && !env_has(env, home))
		envp[nenv++] = home;
	if (!env_has(env, tmp))
		envp[nenv++] = tmp;
	envp[nenv++] = conf;
	envp[nenv++] = al;
	snprintf(pwd, sizeof(pwd), "NSS_WRAPPER_PASSWD=%s", re->passwd);
	snprintf(grp, sizeof(grp), "NSS_WRAPPER_GROUP=%s", re->group);
	envp[nenv++] = "LD_PRELOAD=libnss_wrapper.so";
	/* Deep binding and the sanitizer runtimes do not mix. */
	envp[nenv++] = "NSS_WRAPPER_DISABLE_DEEPBIND=1";
	envp[nenv++] = pwd;
	envp[nenv++] = grp;
	/* Under ASan: RUN_ASAN_OPTIONS says why. */
	if (getenv("ASAN_OPTIONS"))
		envp[nenv++] = RUN_ASAN_OPTIONS;
	if (getenv("UBSAN_OPTIONS"))
		envp[nenv++] = "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1";
	for (i = 0; env != NULL && env[i] != NULL && nenv < 58; i++)
		envp[nenv++] = (char *)env[i];
	/*
	 * Defaults for what the test did not set. The name server is a
	 * closed loopback port, so that no run ever queries the machine's
	 * real resolver (tests send traffic to loopback only); the log
	 * stays quiet.
	 */
	for (i = 0; defaults[i] != NULL; i++)
		if (!env_has(env, defaults[i]) && (re->etc_dir == NULL ||
		    strncmp(defaults[i], "MXSEND_DEFAULT_DOMAIN=", 22) != 0))
			envp[nenv++] = (char *)defaults[i];
	snprintf(qdir, sizeof(qdir), "MXSEND_QUEUE_DIR=%s", re->queue);
	if (!env_has(env, qdir))
		envp[nenv++] = qdir;
	envp[nenv] = NULL;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int devnull, fd;

		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (input == NULL && (devnull = open("/dev/null", O_RDONLY)) >= 0)
			dup2(devnull, 0);
		if (re->stdin_path != NULL) {
			if ((fd = open(re->stdin_path, O_RDONLY)) < 0)
				_exit(126);
			dup2(fd, 0);
		}
		if (re->stderr_mode == RUN_STDERR_BROKEN) {
			int p[2];

			/* The reader is closed before mxsend starts. */
			if (pipe(p) != 0 || dup2(p[1], 2) < 0)
				_exit(126);
			close(p[0]);
			signal(SIGPIPE, SIG_DFL);
		}
		closefrom(3);
		if (enter_host(re) != 0)
			_exit(125);
		if (re->stderr_mode == RUN_STDERR_CLOSED)
			close(2);
		if (re->as_user && (setgroups(0, NULL) != 0 ||
		    setgid((gid_t)re->gid) != 0 || setuid((uid_t)re->uid) != 0))
			_exit(126);
		run_exec(re, re->binary[0] != '\0' ? re->binary :
		    mxsend_path(), argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (re->stderr_mode == RUN_STDERR_UNREAD) {
		/* Held open and never read until the run is over. */
		unread = err[0];
		err[0] = -1;
	} else if (re->stderr_mode != RUN_STDERR_PIPE) {
		/* Nothing comes on this pipe: the child's fd 2 is elsewhere. */
		close(err[0]);
		err[0] = -1;
	}
	if (input == NULL || len == 0 || re->stdin_path != NULL) {
		close(in[1]);
		in[1] = -1;
	} else
		fcntl(in[1], F_SETFL, O_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	end = now_s() + timeout_s * run_slack();
	while (out[0] >= 0 || err[0] >= 0) {
		struct pollfd p[3];
		int np = 0, left = (int)((end - now_s()) * 1000);

		if (left <= 0) {
			kill(pid, SIGKILL);
			res->timed_out = 1;
			break;
		}
		if (in[1] >= 0) {
			p[np].fd = in[1];
			p[np++].events = POLLOUT;
		}
		if (out[0] >= 0) {
			p[np].fd = out[0];
			p[np++].events = POLLIN;
		}
		if (err[0] >= 0) {
			p[np].fd = err[0];
			p[np++].events = POLLIN;
		}
		if (poll(p, (nfds_t)np, left) < 0 && errno != EINTR)
			break;
		for (i = 0; i < (size_t)np; i++) {
			if (p[i].revents == 0)
				continue;
			if (p[i].fd == in[1]) {
				ssize_t w = write(in[1], input + sent,
				    len - sent);

				if (w > 0)
					sent += (size_t)w;
				if ((w < 0 && errno != EAGAIN) || sent == len) {
					close(in[1]);
					in[1] = -1;
				}
			} else if (p[i].fd == out[0])
				drain(&out[0], &res->out, &res->outlen, &outcap);
			else
				drain(&err[0], &res->err, &res->errlen, &errcap);
		}
	}
	if (in[1] >= 0)
		close(in[1]);
	if (out[0] >= 0)
		close(out[0]);
	if (err[0] >= 0)
		close(err[0]);
	if (unread >= 0)
		close(unread);
	if (wait4(pid, &wstatus, 0, &ru) < 0)
		return -1;
	res->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) :
	    128 + WTERMSIG(wstatus);
	res->maxrss_kib = ru.ru_maxrss;
	return 0;
}

void
run_result_free(struct run_result *res)
{
	free(res->out);
	free(res->err);
	memset(res, 0, sizeof(*res));
}

char *
slurp(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	if (lenp)
		*lenp = (size_t)n;
	return buf;
}

/* The xtext value of the ID.env line "key VALUE" (NULL for "-"). */
static char *
env_field(const char *env, const char *key)
{
	char	 want[64], *out, *o;
	const char *p, *e;

	snprintf(want, sizeof(want), "\n%s ", key);
	if ((p = strstr(env, want)) == NULL)
		return NULL;
	p += strlen(want);
	e = strchr(p, '\n');
	if (e == NULL || (e - p == 1 && *p == '-'))
		return NULL;
	out = o = calloc(1, (size_t)(e - p) + 1);
	for (; p < e; p++) {
		unsigned v;

		if (*p == '+' && sscanf(p + 1, "%2x", &v) == 1) {
			*o++ = (char)v;
			p += 2;
		} else
			*o++ = *p;
	}
	return out;
}

/* Whether the header line at p starts a field named name (Bcc:). */
static int
field_is(const char *p, const char *name)
{
	size_t	 n = strlen(name);

	return strncasecmp(p, name, n) == 0 && p[n] == ':';
}

/*
 * The message as a delivery would transmit it (message.h): ID.env's
 * prepended fields, ID.msg's header without Bcc:/Resent-Bcc:, the
 * appended fields, then the rest.
 */
static char *
as_transmitted(const char *msgpath, const char *envpath)
{
	char	*m = slurp(msgpath, NULL), *env = slurp(envpath, NULL);
	char	*pre, *app, *out, *p, *hend, *o;
	size_t	 size;
	int	 skip = 0;

	if (m == NULL || env == NULL) {
		free(m);
		free(env);
		return NULL;
	}
	pre = env_field(env, "prepend");
	app = env_field(env, "append");
	hend = strstr(m, "\r\n\r\n");
	hend = hend != NULL ? hend + 2 : m + strlen(m);
	size = strlen(m) + (pre ? strlen(pre) : 0) + (app ? strlen(app) : 0) +
	    1;
	out = o = calloc(1, size);
	if (pre != NULL)
		o = stpcpy(o, pre);
	for (p = m; p < hend; ) {
		char *eol = strstr(p, "\r\n");
		size_t n = eol != NULL ? (size_t)(eol - p) + 2 : strlen(p);

		if (*p != ' ' && *p != '\t')
			skip = field_is(p, "Bcc") || field_is(p, "Resent-Bcc");
		if (!skip) {
			memcpy(o, p, n);
			o += n;
		}
		p += n;
	}
	if (app != NULL)
		o = stpcpy(o, app);
	strcpy(o, hend);
	free(pre);
	free(app);
	free(m);
	free(env);
	return out;
}

char *
queued_message(const char *root, unsigned uid)
{
	char		 dir[400], path[700], found[700] = "", envp[710];
	DIR		*d;
	struct dirent	*de;
	size_t		 len, n = 0;

	snprintf(dir, sizeof(dir), "%s/%u", root, uid);
	if ((d = opendir(dir)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len > 4 && strcmp(de->d_name + len - 4, ".msg") == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			strcpy(found, path);
			n++;
		}
	}
	closedir(d);
	if (n != 1)
		return NULL;
	snprintf(envp, sizeof(envp), "%.*s.env", (int)strlen(found) - 4,
	    found);
	return as_transmitted(found, envp);
}
