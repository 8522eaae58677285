/*
 * test_trust.c: the queue as a trust boundary, and nothing that was
 * accepted is lost (SPEC §7; issue 12). Each test plays an attacker or a
 * local failure against the real mxsend binary: a local user writes into
 * queue_dir (mode 1733) and root's -q / mailq (from cron or a timer) then
 * handles what the user left there.
 *
 * The users are temporary and unprivileged: entries of the test's own
 * password database (nss_wrapper, see run.h), alice (uid 4201) and
 * mallory (uid 4202), their homes $dir/alice and $dir/mallory (mode
 * 0700, theirs). The test runs as root (it switches to them, mounts small
 * tmpfs file systems, plants hard links as a system without
 * protected_hardlinks would allow); when it is not root every test skips.
 *
 * A deferred entry is the starting point: the MX of b.test (127.0.0.3,
 * served by fakedns) has no listener, so a submission exits 75 and leaves
 * QUEUE_DIR/UID/ID.msg + ID.env (doc/queue.md). The attacker then tampers
 * with the files as their own uid (a child that drops to it, then runs
 * /bin/sh -c), and root runs -q, -qI<id>, -qR or mailq. A fakesmtp on
 * 127.0.0.3 plays an accepting MX where a test needs one.
 *
 * Bounded everywhere: every mxsend run is killed after 15 or 30 s and the
 * tests where hanging is the bug assert that it finished within 10 s;
 * every server is stopped by its PID, every background run is killed by
 * its process group, every tmpfs is unmounted in the teardown, and the
 * test directory is removed with everything in it.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

#define ALICE		4201u
#define MALLORY		4202u
#define RCPT_A		"x@b.test"	/* alice's recipient */
#define RCPT_M		"y@b.test"	/* mallory's */
#define BODY_A		"Alice's body line 3f7c, kept for the test."
#define BODY_M		"Mallory's body line 81d2, kept for the test."
#define BODY_R		"Root's body line 5a09, kept for the test."
#define SECRET		"ROOT-ONLY-SECRET-e41b9"
#define EVIL		"FROM-THE-SWAPPED-IN-DIRECTORY-77c0"
#define MXB		"127.0.0.3"	/* mx1.b.test */
#define QUICK		(10.0 * run_slack())	/* seconds: "at once" */
#define HANG_TIMEOUT	15		/* run time-out where hanging is the bug */
#define MIB		(1024.0 * 1024.0)

#define NEED_ROOT() do { \
	if (getuid() != 0) { \
		cr_skip_test("needs root: creates temporary unprivileged " \
		    "users"); \
		return; \
	} \
} while (0)

static struct run_env re;
static struct run_result res;
static struct server dns, mx;
static char qroot[500], mxrec[400], fsdir[400];
static unsigned mxport;
static int nmx, have_mx;
static double elapsed;

/* tmpfs file systems mounted by the test (unmounted in the teardown). */
static char mounts[4][400];
static int nmounts;

/* Process groups started in the background (killed in the teardown). */
static pid_t bgpgids[4];


static const char zone[] =
    "b.test. MX 10 mx1.b.test.\n"
    "mx1.b.test. A " MXB "\n";

/* ------------------------------------------------------------ helpers */




static const char *
user_name(unsigned uid)
{
	return uid == ALICE ? "alice" : uid == MALLORY ? "mallory" : "root";
}

/* The home of uid in the test's password database (static buffer). */
static const char *
home_of(unsigned uid)
{
	static char path[3][400];
	int k = uid == ALICE ? 1 : uid == MALLORY ? 2 : 0;

	if (uid == 0)
		snprintf(path[k], sizeof(path[k]), "%s", re.dir);
	else
		snprintf(path[k], sizeof(path[k]), "%s/%s", re.dir,
		    user_name(uid));
	return path[k];
}

/* queue_dir/UID (static buffer, one per uid). */
static const char *
udir(unsigned uid)
{
	static char path[3][520];
	int k = uid == ALICE ? 1 : uid == MALLORY ? 2 : 0;

	snprintf(path[k], sizeof(path[k]), "%s/%u", qroot, uid);
	return path[k];
}

/* ~/.mxsend/queue/UID of uid, the fallback queue (static buffer). */
static const char *
hqdir(unsigned uid)
{
	static char path[3][500];
	int k = uid == ALICE ? 1 : uid == MALLORY ? 2 : 0;

	snprintf(path[k], sizeof(path[k]), "%s/.mxsend/queue/%u",
	    home_of(uid), uid);
	return path[k];
}



/* dir/ID + suffix (static buffer, two at a time). */
static const char *
epath(const char *dir, const char *id, const char *suffix)
{
	static char path[2][700];
	static int k;

	k ^= 1;
	snprintf(path[k], sizeof(path[k]), "%.500s/%.18s%.100s", dir, id, suffix);
	return path[k];
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* A regular file's text, never opening anything else (a FIFO!). */
static char *
slurp_regular(const char *path, size_t max)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	if (max == 0 || (size_t)st.st_size < max)
		max = (size_t)st.st_size;
	buf = malloc(max + 1);
	cr_assert_not_null(buf);
	n = pread(fd, buf, max, 0);
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static int
file_has(const char *path, const char *needle)
{
	char *s = slurp_regular(path, 0);
	int ok = s != NULL && strstr(s, needle) != NULL;

	free(s);
	return ok;
}


/* The first line of s that holds both a and b (static buffer), or NULL. */
static const char *
line_with2(const char *s, const char *a, const char *b)
{
	const char *l;

	while (s != NULL && (l = line_with(s, a)) != NULL) {
		if (strstr(l, b) != NULL)
			return l;
		s = strstr(s, l);
		s = s != NULL ? strchr(s, '\n') : NULL;
		if (s != NULL)
			s++;
	}
	return NULL;
}

/* ------------------------------------------------------------ evidence */

/* Every file under dir (not following links), with owner, mode, size. */
static void
ev_tree(char *buf, size_t size, const char *dir, int depth, int *budget)
{
	struct dirent *de;
	DIR *d;

	if (depth > 6 || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL && *budget > 0) {
		char path[1200], kind, link[400] = "";
		struct stat st;
		ssize_t n;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, "mx-rec-", 7) == 0 ||
		    strcmp(de->d_name, "mxsend") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0)
			continue;
		kind = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' :
		    S_ISFIFO(st.st_mode) ? 'p' : S_ISREG(st.st_mode) ? '-' : '?';
		if (kind == 'l' && (n = readlink(path, link, sizeof(link) - 1))
		    > 0)
			link[n] = '\0';
		append(buf, size, "  %c%04o uid %-5u links %lu size %lld "
		    "(%lld allocated) %s%s%s\n", kind,
		    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
		    (unsigned long)st.st_nlink, (long long)st.st_size,
		    (long long)st.st_blocks * 512, path + strlen(re.dir) + 1,
		    link[0] ? " -> " : "", link);
		(*budget)--;
		if (kind == 'd')
			ev_tree(buf, size, path, depth + 1, budget);
	}
	closedir(d);
}

/* The ID.env files under dir, their first lines. */
static void
ev_envs(char *buf, size_t size, const char *dir, int depth, int *budget)
{
	struct dirent *de;
	DIR *d;

	if (depth > 6 || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL && *budget > 0) {
		char path[1200], *s;
		struct stat st;

		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    strcmp(de->d_name, "..") == 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode) && strncmp(de->d_name, "mx-rec-", 7))
			ev_envs(buf, size, path, depth + 1, budget);
		else if (S_ISREG(st.st_mode) && strstr(de->d_name, ".env") &&
		    (s = slurp_regular(path, 700)) != NULL) {
			append(buf, size, "[%s]\n%s%s\n", path + strlen(re.dir)
			    + 1, s, (size_t)st.st_size > 700 ? "..." : "");
			free(s);
			(*budget)--;
		}
	}
	closedir(d);
}

/* Everything a failed assertion should show. */
static const char *
ev(void)
{
	static char buf[60000];
	const char *const *e;
	int budget = 120, envs = 4;

	buf[0] = '\0';
	ev_runs(buf, sizeof(buf));
	append(buf, sizeof(buf), "--- environment:");
	for (e = env_list(); *e != NULL; e++)
		append(buf, sizeof(buf), " %s", *e);
	append(buf, sizeof(buf), "\n--- files under %s:\n", re.dir);
	ev_tree(buf, sizeof(buf), re.dir, 0, &budget);
	append(buf, sizeof(buf), "--- envelopes:\n");
	ev_envs(buf, sizeof(buf), re.dir, 0, &envs);
	if (have_mx)
		ev_server(buf, sizeof(buf), "mx", mxrec);
	return buf;
}

/* ------------------------------------------------------------ set-up */

static void
make_home(unsigned uid)
{
	const char *h = home_of(uid);

	cr_assert(mkdir(h, 0700) == 0 && chown(h, uid, uid) == 0 &&
	    chmod(h, 0700) == 0, "mkdir %s: %s", h, strerror(errno));
}

static void
setup(void)
{
	char zpath[400], life[16];
	const char *const dnsargs[] = { "--lifetime",
	    run_seconds(life, 150), NULL };

	if (getuid() != 0)
		return;		/* every test skips */
	run_alarm(170);
	run_env_setup(&re);
	memset(&dns, 0, sizeof(dns));
	memset(&mx, 0, sizeof(mx));
	memset(&res, 0, sizeof(res));
	env_clear();
	nmx = have_mx = nmounts = 0;
	memset(bgpgids, 0, sizeof(bgpgids));
	mxrec[0] = '\0';
	elapsed = 0;
	snprintf(qroot, sizeof(qroot), "%s", re.queue);
	snprintf(fsdir, sizeof(fsdir), "%s/fs", re.dir);
	run_env_add_user(&re, "alice", ALICE, ALICE, home_of(ALICE));
	run_env_add_user(&re, "mallory", MALLORY, MALLORY, home_of(MALLORY));
	make_home(ALICE);
	make_home(MALLORY);
	/* A copy of mxsend they can run; $dir traversable (0711). */
	run_env_as_user(&re, ALICE, ALICE);
	re.as_user = 0;
	snprintf(zpath, sizeof(zpath), "%s", run_env_file(&re, "zone", zone,
	    0644));
	{
		char dnslog[400];

		snprintf(dnslog, sizeof(dnslog), "%s/dns.log", re.dir);
		fakedns_start(&dns, zpath, dnslog, dnsargs);
	}
	mxport = pick_port();
	env_set("MXSEND_MX_PORT=%u", mxport);
	env_set("MXSEND_TIMEOUT_CONNECT=2");
	env_set("MXSEND_TIMEOUT_COMMAND=3");
	env_set("MXSEND_TIMEOUT_DATA=5");
	env_set("MXSEND_DEFAULT_DOMAIN=test.example");
	env_set("MXSEND_HELO=client.test");
	env_set("MXSEND_QUEUE_DIR=%s", qroot);
}

static void
teardown(void)
{
	int i;

	if (getuid() != 0)
		return;
	for (i = 0; i < 4; i++)
		if (bgpgids[i] > 0) {
			int st;

			kill(-bgpgids[i], SIGKILL);
			(void)waitpid(bgpgids[i], &st, 0);
			bgpgids[i] = 0;
		}
	server_stop(&mx);
	server_stop(&dns);
	for (i = nmounts - 1; i >= 0; i--)
		if (umount2(mounts[i], MNT_DETACH) != 0)
			fprintf(stderr, "umount %s: %s\n", mounts[i],
			    strerror(errno));
	nmounts = 0;
	run_result_free(&res);
	hist_free();
	run_env_cleanup(&re);
}

TestSuite(trust, .init = setup, .fini = teardown);

/* ------------------------------------------------------------ servers */

static void
mx_vstart(const char *script, ...)
{
	char life[16];
	const char *const extra[] = { "--max-sessions", "100",
	    "--lifetime", run_seconds(life, 120), NULL };
	va_list ap;

	va_start(ap, script);
	fakesmtp_mx_vstart(&mx, &re, ++nmx, script, mxrec, sizeof(mxrec),
	    &mxport, extra, ap);
	va_end(ap);
}

/* fakesmtp as the MX of b.test (127.0.0.3), records of its own. */
static void
start_mx(const char *script)
{
	server_stop(&mx);
	mx_vstart(script, MXB, (const char *)NULL);
	have_mx = 1;
}

/*
 * The messages the MX took with a 250 whose text holds needle: how many;
 * the last one's text in *text (caller frees) when text is not NULL.
 */
static int
messages_with(const char *needle, char **text)
{
	int n, m, k = 0, total = have_mx ? nsess(mxrec) : 0;

	if (text != NULL)
		*text = NULL;
	for (n = 1; n <= total; n++)
		for (m = 1; m <= 100; m++) {
			char what[16], *env, *msg;
			int ok;

			snprintf(what, sizeof(what), "env-%d", m);
			if ((env = file_in(mxrec, n, what)) == NULL)
				break;
			snprintf(what, sizeof(what), "msg-%d", m);
			msg = file_in(mxrec, n, what);
			ok = strstr(env, "result 250") != NULL && msg != NULL &&
			    strstr(msg, needle) != NULL;
			free(env);
			if (ok) {
				k++;
				if (text != NULL) {
					free(*text);
					*text = msg;
					msg = NULL;
				}
			}
			free(msg);
		}
	return k;
}

/* Message texts the MX saw holding needle, whatever the outcome. */
static int
msg_files_with(const char *needle)
{
	int n, m, k = 0, total = have_mx ? nsess(mxrec) : 0;

	for (n = 1; n <= total; n++)
		for (m = 1; m <= 100; m++) {
			char what[16], *msg;

			snprintf(what, sizeof(what), "msg-%d", m);
			if ((msg = file_in(mxrec, n, what)) == NULL)
				break;
			k += strstr(msg, needle) != NULL;
			free(msg);
		}
	return k;
}

/* ------------------------------------------------------------ running */

static void
join_argv(char *buf, size_t size, unsigned uid, const char *const argv[])
{
	int i;

	buf[0] = '\0';
	append(buf, size, "[%s%s%s%s]", user_name(uid),
	    re.no_home ? ", no HOME" : "",
	    re.stderr_mode == RUN_STDERR_CLOSED ? ", 2>&-" :
	    re.stderr_mode == RUN_STDERR_BROKEN ? ", stderr a broken pipe" : "",
	    re.stdin_path != NULL ? ", stdin from a file" : "");
	for (i = 0; argv[i] != NULL; i++)
		append(buf, size, " '%s'", argv[i]);
	if (re.stdin_path != NULL)
		append(buf, size, " < %s", re.stdin_path);
}

/* The environment of a run as uid: the test's, HOME the user's home. */
static const char *const *
env_for(unsigned uid, const char **v, size_t max)
{
	static char home[500];
	const char *const *e = env_list();
	size_t n = 0;

	while (*e != NULL && n + 2 < max)
		v[n++] = *e++;
	if (uid != 0 && !re.no_home) {
		snprintf(home, sizeof(home), "HOME=%s", home_of(uid));
		v[n++] = home;
	}
	v[n] = NULL;
	return v;
}

static void
become(unsigned uid)
{
	if (uid == 0)
		re.as_user = 0;
	else {
		re.as_user = 1;
		re.uid = re.gid = uid;
	}
}

/*
 * Run argv (NULL-terminated) as uid with input on stdin, killed after
 * timeout_s. The run is recorded; the caller asserts on res, elapsed
 * and res.timed_out.
 */
static int
run_as(unsigned uid, const char *input, size_t len, unsigned timeout_s,
    const char *const argv[])
{
	const char *envv[64];
	char cmd[400];
	double t0;

	run_result_free(&res);
	become(uid);
	join_argv(cmd, sizeof(cmd), uid, argv);
	t0 = now_s();
	cr_assert_eq(run_mxsend(&re, argv, input, len, env_for(uid, envv, 64),
	    timeout_s, &res), 0, "could not run %s", mxsend_path());
	elapsed = now_s() - t0;
	if (res.timed_out)
		append(cmd, sizeof(cmd), " (KILLED after %u s)", timeout_s);
	hist_add(cmd, res.status, elapsed, res.out, res.err);
	become(0);
	return res.status;
}

/* "ARG0 ARG" (NULL: none) as uid, no input. */
static int
run1(unsigned uid, unsigned timeout_s, const char *arg0, const char *arg)
{
	const char *argv[3] = { arg0, arg, NULL };

	return run_as(uid, NULL, 0, timeout_s, argv);
}

#define assert_finished(what) \
	cr_assert(!res.timed_out, "%s did not finish: killed after its " \
	    "time-out%s", (what), ev())

#define assert_quick(what) do { \
	assert_finished(what); \
	cr_assert(elapsed < QUICK, "%s took %.1f s, want under %.0f s%s", \
	    (what), elapsed, QUICK, ev()); \
} while (0)

#define assert_exit(code) \
	cr_assert_eq(res.status, (code), "exit %d, want %d%s", res.status, \
	    (code), ev())

static const char *
sender_of(unsigned uid)
{
	return uid == ALICE ? "alice@test.example" : uid == MALLORY ?
	    "mallory@test.example" : "root@test.example";
}

static const char *
message(unsigned uid, const char *rcpt, const char *body)
{
	static char msg[1024];

	snprintf(msg, sizeof(msg), "From: %s\nTo: %s\nSubject: trust test\n"
	    "\n%s\n", sender_of(uid), rcpt, body);
	return msg;
}

/* "sendmail -f SENDER [OPTION] RCPT" as uid with text on stdin. */
static int
submit_text(unsigned uid, const char *rcpt, const char *text, size_t len,
    const char *option)
{
	const char *argv[8];
	int argc = 0;

	argv[argc++] = "sendmail";
	argv[argc++] = "-f";
	argv[argc++] = sender_of(uid);
	if (option != NULL)
		argv[argc++] = option;
	argv[argc++] = rcpt;
	argv[argc] = NULL;
	return run_as(uid, text, len, 30, argv);
}

static int
submit(unsigned uid, const char *rcpt, const char *body, const char *option)
{
	const char *text = message(uid, rcpt, body);

	return submit_text(uid, rcpt, text, strlen(text), option);
}

/*
 * The entry of dir that is not in before[0..nbefore): exactly one, its
 * id in id.
 */
static void
new_entry(const char *dir, char before[][IDLEN + 1], int nbefore,
    char id[IDLEN + 1])
{
	char ids[16][IDLEN + 1];
	int n = entries(dir, ids, 16), i, j, found = 0;

	for (i = 0; i < n && i < 16; i++) {
		for (j = 0; j < nbefore; j++)
			if (strcmp(ids[i], before[j]) == 0)
				break;
		if (j < nbefore)
			continue;
		memcpy(id, ids[i], IDLEN + 1);
		found++;
	}
	cr_assert_eq(found, 1, "%d new entries in %s, want 1%s", found, dir,
	    ev());
}

/*
 * A deferred submission of uid (the MX of b.test is down): exit 75 and
 * one new entry in dir (queue_dir/UID unless told), its id in id.
 */
static void
deferred_in(unsigned uid, const char *dir, const char *rcpt,
    const char *body, char id[IDLEN + 1])
{
	char before[16][IDLEN + 1];
	int n = entries(dir, before, 16);

	submit(uid, rcpt, body, NULL);
	assert_exit(75);
	new_entry(dir, before, n, id);
	cr_assert(file_has(epath(dir, id, ".msg"), body), "%s does not hold "
	    "the message%s", epath(dir, id, ".msg"), ev());
}

static void
deferred(unsigned uid, const char *rcpt, const char *body,
    char id[IDLEN + 1])
{
	deferred_in(uid, udir(uid), rcpt, body, id);
}

/* -------------------------------------------------- acting as a user */

/*
 * /bin/sh -c CMD as uid (0: root), umask 077, killed after 20 s.
 * Returns its exit status (128 + signal when killed).
 */
static int
sh(unsigned uid, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
sh(unsigned uid, const char *fmt, ...)
{
	static char *const envp[] = { "PATH=/usr/bin:/bin", NULL };
	char cmd[4096], label[4200];
	double t0 = now_s(), end = t0 + 20;
	va_list ap;
	pid_t pid;
	int st = 0, killed = 0;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY);

		if (fd >= 0)
			dup2(fd, 0);
		if (uid != 0 && (setgroups(0, NULL) != 0 || setgid(uid) != 0 ||
		    setuid(uid) != 0))
			_exit(126);
		umask(077);
		signal(SIGPIPE, SIG_DFL);
		execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, envp);
		_exit(127);
	}
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			cr_assert_fail("waitpid: %s", strerror(errno));
		if (now_s() > end && !killed) {
			kill(pid, SIGKILL);
			killed = 1;
		}
		msleep(5);
	}
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	snprintf(label, sizeof(label), "[%s, /bin/sh] %s", user_name(uid), cmd);
	hist_add(label, st, now_s() - t0, "", "");
	return st;
}

#define sh_ok(uid, ...) do { \
	int sh_st_ = sh((uid), __VA_ARGS__); \
	cr_assert_eq(sh_st_, 0, "a shell command as %s exited %d%s", \
	    user_name(uid), sh_st_, ev()); \
} while (0)

/* ----------------------------------------------- background mxsend run */

struct bg {
	pid_t	 pid;		/* also its process group */
	char	 cmd[400];
	char	 out[400], err[400], st[400];
	double	 t0;
	int	 status, timed_out;
};

/*
 * Run argv as uid in the background: a child (a process group of its
 * own) that runs it with run_mxsend() and writes the results into files.
 */
static void
bg_start(struct bg *b, unsigned uid, const char *const argv[])
{
	static int nbg;
	const char *envv[64];
	int i;

	memset(b, 0, sizeof(*b));
	nbg++;
	snprintf(b->out, sizeof(b->out), "%s/bg-%d.out", re.dir, nbg);
	snprintf(b->err, sizeof(b->err), "%s/bg-%d.err", re.dir, nbg);
	snprintf(b->st, sizeof(b->st), "%s/bg-%d.status", re.dir, nbg);
	become(uid);
	join_argv(b->cmd, sizeof(b->cmd), uid, argv);
	append(b->cmd, sizeof(b->cmd), " (in the background)");
	env_for(uid, envv, 64);
	b->t0 = now_s();
	b->pid = fork();
	cr_assert(b->pid >= 0, "fork: %s", strerror(errno));
	if (b->pid == 0) {
		struct run_result r;
		FILE *f;

		setpgid(0, 0);
		if (run_mxsend(&re, argv, NULL, 0, envv, 30, &r) != 0)
			_exit(1);
		if ((f = fopen(b->out, "w")) != NULL) {
			fwrite(r.out, 1, r.outlen, f);
			fclose(f);
		}
		if ((f = fopen(b->err, "w")) != NULL) {
			fwrite(r.err, 1, r.errlen, f);
			fclose(f);
		}
		if ((f = fopen(b->st, "w")) != NULL) {
			fprintf(f, "%d %d\n", r.status, r.timed_out);
			fclose(f);
		}
		_exit(0);
	}
	setpgid(b->pid, b->pid);
	become(0);
	for (i = 0; i < 4; i++)
		if (bgpgids[i] == 0) {
			bgpgids[i] = b->pid;
			break;
		}
}

/* Reap b (its group killed after timeout_s); returns its exit status. */
static int
bg_wait(struct bg *b, double timeout_s)
{
	double end = now_s() + timeout_s;
	char *o, *e, *s;
	int st, i, killed = 0;

	for (;;) {
		pid_t r = waitpid(b->pid, &st, WNOHANG);

		if (r == b->pid || (r < 0 && errno != EINTR))
			break;
		if (now_s() > end && !killed) {
			kill(-b->pid, SIGKILL);
			killed = 1;
		}
		msleep(10);
	}
	for (i = 0; i < 4; i++)
		if (bgpgids[i] == b->pid)
			bgpgids[i] = 0;
	b->status = -1;
	if ((s = slurp_regular(b->st, 0)) != NULL) {
		if (sscanf(s, "%d %d", &b->status, &b->timed_out) != 2)
			b->status = -1;
		free(s);
	}
	b->timed_out |= killed;
	o = slurp_regular(b->out, 0);
	e = slurp_regular(b->err, 0);
	if (b->timed_out)
		append(b->cmd, sizeof(b->cmd), " (KILLED)");
	hist_add(b->cmd, b->status, now_s() - b->t0, o, e);
	free(o);
	free(e);
	return b->status;
}

/* --------------------------------------------------- small file systems */

/* A tmpfs of that size ("2m") at path (created), mode 0755. */
static void
mount_tmpfs(const char *path, const char *size)
{
	char opts[64];

	cr_assert(nmounts < 4);
	cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s",
	    path, strerror(errno));
	snprintf(opts, sizeof(opts), "size=%s,mode=0755", size);
	cr_assert(mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts)
	    == 0, "mount -t tmpfs -o %s tmpfs %s: %s", opts, path,
	    strerror(errno));
	snprintf(mounts[nmounts++], sizeof(mounts[0]), "%s", path);
}

static void
mkdir_mode(const char *path, mode_t mode)
{
	cr_assert(mkdir(path, 0700) == 0 && chmod(path, mode) == 0,
	    "mkdir %s: %s", path, strerror(errno));
}

/* Fill the file system of dir to the last block (dir/filler). */
static void
fill_fs(const char *dir)
{
	static char chunk[65536];
	char path[500];
	size_t size;
	int fd;

	snprintf(path, sizeof(path), "%s/filler", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0, "create %s: %s", path, strerror(errno));
	for (size = sizeof(chunk); size > 0; size /= 2)
		while (write(fd, chunk, size) == (ssize_t)size)
			;
	cr_assert(errno == ENOSPC, "filling %s: %s", dir, strerror(errno));
	close(fd);
}

/* Bytes in use in the file system of path. */
static double
fs_used(const char *path)
{
	struct statvfs sv;

	cr_assert(statvfs(path, &sv) == 0, "statvfs %s: %s", path,
	    strerror(errno));
	return (double)(sv.f_blocks - sv.f_bfree) * (double)sv.f_frsize;
}

/*
 * The peak use of a file system while something runs: a child samples
 * it every 2 ms until told to stop (or 60 s), then reports the peak.
 */
struct sampler {
	pid_t	 pid;
	int	 stop, result;
};

static void
sampler_start(struct sampler *s, const char *path)
{
	int a[2], b[2], i;

	cr_assert(pipe(a) == 0 && pipe(b) == 0);
	s->pid = fork();
	cr_assert(s->pid >= 0, "fork: %s", strerror(errno));
	if (s->pid == 0) {
		double peak = 0, end = now_s() + 60;
		struct pollfd p = { a[0], POLLIN, 0 };

		close(a[1]);
		close(b[0]);
		setpgid(0, 0);
		while (now_s() < end && poll(&p, 1, 2) == 0) {
			struct statvfs sv;

			if (statvfs(path, &sv) == 0 && (double)(sv.f_blocks -
			    sv.f_bfree) * (double)sv.f_frsize > peak)
				peak = (double)(sv.f_blocks - sv.f_bfree) *
				    (double)sv.f_frsize;
		}
		(void)!write(b[1], &peak, sizeof(peak));
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	s->stop = a[1];
	s->result = b[0];
	setpgid(s->pid, s->pid);
	for (i = 0; i < 4; i++)
		if (bgpgids[i] == 0) {
			bgpgids[i] = s->pid;
			break;
		}
}

static double
sampler_stop(struct sampler *s)
{
	double peak = -1;
	int st, i;

	close(s->stop);
	if (read(s->result, &peak, sizeof(peak)) != (ssize_t)sizeof(peak))
		peak = -1;
	close(s->result);
	(void)waitpid(s->pid, &st, 0);
	for (i = 0; i < 4; i++)
		if (bgpgids[i] == s->pid)
			bgpgids[i] = 0;
	return peak;
}

/* The largest allocation of a file under dir (not following links). */
static double
largest_file(const char *dir, char *which, size_t wsize)
{
	struct dirent *de;
	double max = 0, m;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[1200];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			char sub[1200];

			if ((m = largest_file(path, sub, sizeof(sub))) > max) {
				max = m;
				snprintf(which, wsize, "%s", sub);
			}
		} else if ((double)st.st_blocks * 512 > max) {
			max = (double)st.st_blocks * 512;
			snprintf(which, wsize, "%s", path);
		}
	}
	closedir(d);
	return max;
}

/* How many regular files, FIFOs or links there are under dir. */
static int
count_files(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[1200];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			n += count_files(path);
		else
			n++;
	}
	closedir(d);
	return n;
}

/* ================================================ a FIFO planted as a file */

/*
 * Alice plants a FIFO as one of her entry's files; mallory has a good
 * entry. Root's mailq and root's forced queue run must finish at once,
 * name alice's entry, and still list (mailq, first) and deliver (the
 * queue run) mallory's. The MX defers alice's recipient, so that her
 * entry is rewritten: that is when ID.env.tmp is opened.
 */
static void
fifo_case(const char *suffix)
{
	char a[IDLEN + 1], m[IDLEN + 1], *mout, *merr;
	const char *path;
	double msecs;
	int mtimed;

	deferred(ALICE, RCPT_A, BODY_A, a);
	deferred(MALLORY, RCPT_M, BODY_M, m);
	path = epath(udir(ALICE), a, suffix);
	sh_ok(ALICE, "rm -f '%s' && mkfifo -m 0600 '%s'", path, path);

	/* Both run whatever the first does; the assertions come after. */
	run1(0, HANG_TIMEOUT, "mailq", NULL);
	mtimed = res.timed_out;
	msecs = elapsed;
	mout = strdup(res.out);
	merr = strdup(res.err);
	start_mx("rcpt match=<" RCPT_A "> reply 451 4.3.0 Try again later\n");
	run1(0, HANG_TIMEOUT, "sendmail", "-qRb.test");
	server_stop(&mx);

	cr_assert(!mtimed, "root's mailq hung on the FIFO at ID%s: killed "
	    "after %d s%s", suffix, HANG_TIMEOUT, ev());
	cr_assert(msecs < QUICK, "root's mailq took %.1f s with a FIFO at "
	    "ID%s%s", msecs, suffix, ev());
	cr_assert(strstr(mout, m) != NULL, "root's mailq does not list "
	    "mallory's entry %s%s", m, ev());
	cr_assert(strstr(mout, a) != NULL || strstr(merr, a) != NULL,
	    "root's mailq does not name alice's entry %s%s", a, ev());
	cr_assert(!res.timed_out, "root's queue run hung on the FIFO at "
	    "ID%s: killed after %d s%s", suffix, HANG_TIMEOUT, ev());
	cr_assert(elapsed < QUICK, "root's queue run took %.1f s with a "
	    "FIFO at ID%s%s", elapsed, suffix, ev());
	cr_assert(strstr(res.err, a) != NULL, "root's queue run did not "
	    "name alice's entry %s on stderr%s", a, ev());
	cr_assert_eq(messages_with(BODY_M, NULL), 1, "mallory's entry was "
	    "not delivered once by the same run%s", ev());
	cr_assert_eq(msg_files_with(BODY_A), 0, "alice's message was sent%s",
	    ev());
	free(mout);
	free(merr);
}

Test(trust, fifo_at_msg_does_not_block_root)
{
	NEED_ROOT();
	fifo_case(".msg");
}

Test(trust, fifo_at_env_does_not_block_root)
{
	NEED_ROOT();
	fifo_case(".env");
}

Test(trust, fifo_at_env_tmp_does_not_block_root)
{
	NEED_ROOT();
	fifo_case(".env.tmp");
}

/* ========================================================= forged owner */

/*
 * Alice writes another uid into her ID.env's owner line; the entry then
 * expires. The owner of an entry is its directory's owner: her text goes
 * to her dead.letter, written as her, never to root's or mallory's.
 */
static void
forged_owner_case(unsigned forged)
{
	char a[IDLEN + 1], dl[3][500];
	const char *env;
	struct stat st;
	int i;

	deferred(ALICE, RCPT_A, BODY_A, a);
	env = epath(udir(ALICE), a, ".env");
	if (file_has(env, "\nowner ")) {
		char want[40];

		sh_ok(ALICE, "sed -i 's/^owner .*/owner %u/' '%s'", forged, env);
		snprintf(want, sizeof(want), "\nowner %u\n", forged);
		cr_assert(file_has(env, want), "the owner line was not "
		    "forged%s", ev());
	}
	for (i = 0; i < 3; i++)
		snprintf(dl[i], sizeof(dl[i]), "%s/dead.letter",
		    home_of(i == 0 ? 0 : i == 1 ? ALICE : MALLORY));
	cr_assert(!exists(dl[0]) && !exists(dl[1]) && !exists(dl[2]),
	    "a dead.letter before the expiry%s", ev());
	sleep(2);
	env_set("MXSEND_QUEUE_LIFETIME=1");
	run1(0, 30, "sendmail", "-q");
	env_unset("MXSEND_QUEUE_LIFETIME");
	assert_finished("root's -q");

	cr_assert(!file_has(dl[0], BODY_A), "alice's message went to root's "
	    "dead.letter (%s), as the forged owner %u said%s", dl[0], forged,
	    ev());
	cr_assert(!file_has(dl[2], BODY_A), "alice's message went to "
	    "mallory's dead.letter (%s)%s", dl[2], ev());
	cr_assert(file_has(dl[1], BODY_A), "the expired message is not in "
	    "alice's dead.letter (%s)%s", dl[1], ev());
	cr_assert(lstat(dl[1], &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_uid == ALICE, "%s is not alice's own file (uid %u)%s", dl[1],
	    (unsigned)st.st_uid, ev());
}

Test(trust, forged_owner_0_does_not_redirect_dead_letter)
{
	NEED_ROOT();
	forged_owner_case(0);
}

Test(trust, forged_owner_of_another_user_does_not_redirect_dead_letter)
{
	NEED_ROOT();
	forged_owner_case(MALLORY);
}

/* ============================================================ hard links */

/* A root-only file (0600) holding SECRET; returns its path (static). */
static const char *
root_secret(void)
{
	static char path[400];

	snprintf(path, sizeof(path), "%s", run_env_file(&re, "secret",
	    "From: root@test.example\nTo: " RCPT_A "\nSubject: root only\n\n"
	    SECRET "\n", 0600));
	return path;
}

Test(trust, hard_link_at_msg_is_not_mailed)
{
	char a[IDLEN + 1], arg[40], *before, *after;
	const char *secret, *msg;

	NEED_ROOT();
	deferred(ALICE, RCPT_A, BODY_A, a);
	secret = root_secret();
	before = slurp_regular(secret, 0);
	msg = epath(udir(ALICE), a, ".msg");
	/* What a system without protected_hardlinks lets alice do. */
	sh_ok(0, "rm -f '%s' && ln '%s' '%s'", msg, secret, msg);
	start_mx("");
	snprintf(arg, sizeof(arg), "-qI%s", a);
	run1(0, HANG_TIMEOUT, "sendmail", arg);
	server_stop(&mx);
	assert_quick("root's -qI");
	cr_assert_eq(msg_files_with(SECRET), 0, "root's queue run mailed "
	    "the root-only file linked as %s.msg%s", a, ev());
	cr_assert(strstr(res.err, a) != NULL, "root's queue run did not "
	    "name the entry %s on stderr%s", a, ev());
	after = slurp_regular(secret, 0);
	cr_assert(before != NULL && after != NULL && strcmp(before, after) ==
	    0, "the root-only file changed%s", ev());
	free(before);
	free(after);
}

Test(trust, hard_link_at_env_tmp_is_not_overwritten)
{
	char a[IDLEN + 1], arg[40], *before, *after;
	const char *secret, *tmp;
	struct stat st;

	NEED_ROOT();
	deferred(ALICE, RCPT_A, BODY_A, a);
	secret = root_secret();
	before = slurp_regular(secret, 0);
	tmp = epath(udir(ALICE), a, ".env.tmp");
	sh_ok(0, "ln '%s' '%s'", secret, tmp);
	/* The MX is down: the entry is deferred again and rewritten. */
	snprintf(arg, sizeof(arg), "-qI%s", a);
	run1(0, HANG_TIMEOUT, "sendmail", arg);
	assert_quick("root's -qI");
	after = slurp_regular(secret, 0);
	cr_assert(before != NULL && after != NULL && strcmp(before, after) ==
	    0, "root's queue run wrote through the hard link planted as "
	    "%s.env.tmp: the root-only file now holds:\n%.600s%s", a,
	    after != NULL ? after : "(unreadable)", ev());
	cr_assert(lstat(secret, &st) == 0 && st.st_uid == 0 &&
	    (st.st_mode & 07777) == 0600, "the root-only file changed owner "
	    "or mode%s", ev());
	free(before);
	free(after);
}

/* ============================================================== sparse */

Test(trust, sparse_msg_is_not_copied)
{
	char a[IDLEN + 1], arg[40], q[500], tmp[500], which[1200] = "";
	struct sampler smp;
	double base, peak, big;
	const char *l;

	NEED_ROOT();
	/* The queue and TMPDIR on a tmpfs of their own, to watch its use. */
	mount_tmpfs(fsdir, "128m");
	snprintf(q, sizeof(q), "%s/queue", fsdir);
	snprintf(tmp, sizeof(tmp), "%s/tmp", fsdir);
	mkdir_mode(q, 01733);
	mkdir_mode(tmp, 01777);
	snprintf(qroot, sizeof(qroot), "%s", q);
	env_set("MXSEND_QUEUE_DIR=%s", q);
	env_set("TMPDIR=%s", tmp);

	deferred(ALICE, RCPT_A, BODY_A, a);
	sh_ok(ALICE, "truncate -s 5G '%s'", epath(udir(ALICE), a, ".msg"));
	start_mx("");
	base = fs_used(fsdir);
	sampler_start(&smp, fsdir);
	snprintf(arg, sizeof(arg), "-qI%s", a);
	run1(0, 30, "sendmail", arg);
	peak = sampler_stop(&smp);
	server_stop(&mx);
	assert_quick("root's -qI on a 5 GiB sparse message");
	cr_assert(peak >= 0 && peak - base < 50 * MIB, "root's queue run "
	    "wrote %.0f MiB into the queue's file system (a copy of the "
	    "sparse message)%s", (peak - base) / MIB, ev());
	big = largest_file(re.dir, which, sizeof(which));
	cr_assert(big < 50 * MIB, "%s holds %.0f MiB%s", which, big / MIB,
	    ev());

	/* Never silently dropped: listed as corrupt. */
	run1(0, HANG_TIMEOUT, "mailq", NULL);
	assert_quick("root's mailq");
	l = line_with(res.out, a);
	cr_assert(l != NULL && strstr(l, "corrupt") != NULL, "root's mailq "
	    "does not list the entry %s as corrupt%s", a, ev());
}

/* ====================================================== directory swap */

/*
 * Alice's directory of her own holding a copy of each entry of ids with
 * a message of her choice (EVIL).
 */
static void
evil_dir(char ids[][IDLEN + 1], int n, char *evil, size_t size)
{
	char cmd[3000];
	int i;

	snprintf(evil, size, "%s/evil", home_of(ALICE));
	snprintf(cmd, sizeof(cmd), "mkdir -m 0700 '%s'", evil);
	for (i = 0; i < n; i++)
		append(cmd, sizeof(cmd), " && cp '%s' '%s/' && "
		    "printf 'From: alice@test.example\\r\\nTo: " RCPT_A "\\r\\n"
		    "Subject: evil\\r\\n\\r\\n" EVIL "\\r\\n' > '%s/%s.msg'",
		    epath(udir(ALICE), ids[i], ".env"), evil, evil, ids[i]);
	sh_ok(ALICE, "%s", cmd);
}

Test(trust, symlinked_user_dir_is_not_followed)
{
	char a[1][IDLEN + 1], evil[500];

	NEED_ROOT();
	deferred(ALICE, RCPT_A, BODY_A, a[0]);
	evil_dir(a, 1, evil, sizeof(evil));
	sh_ok(ALICE, "mv '%s' '%s.moved' && ln -s '%s' '%s'", udir(ALICE),
	    udir(ALICE), evil, udir(ALICE));
	start_mx("");
	run1(0, HANG_TIMEOUT, "sendmail", "-qRb.test");
	server_stop(&mx);
	assert_quick("root's -qR");
	cr_assert_eq(msg_files_with(EVIL), 0, "root's queue run followed "
	    "the symbolic link %s and mailed what it found%s", udir(ALICE),
	    ev());
	cr_assert(strstr(res.err, udir(ALICE)) != NULL, "root's queue run "
	    "did not report the symbolic link %s%s", udir(ALICE), ev());
}

static int
session_started(void)
{
	return nsess(mxrec) >= 1;
}

/*
 * The swap between check and use: while root's run is in the middle of
 * alice's first entry (a slow greeting), alice replaces her directory by
 * a symbolic link to one of hers holding her own versions of the
 * entries. Whatever root reads afterwards must still be from the
 * directory it checked.
 */
Test(trust, user_dir_swapped_during_the_run_is_not_followed)
{
	const char *argv[] = { "sendmail", "-qRb.test", NULL };
	char ids[2][IDLEN + 1], evil[500];
	struct bg b;
	double end;

	NEED_ROOT();
	env_set("MXSEND_TIMEOUT_COMMAND=10");
	deferred(ALICE, RCPT_A, BODY_A, ids[0]);
	deferred(ALICE, RCPT_A, BODY_A, ids[1]);
	evil_dir(ids, 2, evil, sizeof(evil));
	start_mx("greeting session=1 delay=3000 reply 220 slow ready\n");
	bg_start(&b, 0, argv);
	end = now_s() + 10;
	while (!session_started() && now_s() < end)
		msleep(10);
	cr_assert(session_started(), "root's queue run did not connect in "
	    "10 s%s", ev());
	sh_ok(ALICE, "mv '%s' '%s.moved' && ln -s '%s' '%s'", udir(ALICE),
	    udir(ALICE), evil, udir(ALICE));
	bg_wait(&b, 30);
	server_stop(&mx);
	cr_assert(!b.timed_out, "root's queue run did not finish%s", ev());
	cr_assert_eq(msg_files_with(EVIL), 0, "root's queue run read an "
	    "entry through the symbolic link alice swapped in during the "
	    "run%s", ev());
}

/* ============================================= ownership after a retry */

Test(trust, entry_stays_the_users_after_root_retries_it)
{
	char a[IDLEN + 1], arg[40];
	const char *f;
	struct stat st;
	int i;

	NEED_ROOT();
	deferred(ALICE, RCPT_A, BODY_A, a);
	snprintf(arg, sizeof(arg), "-qI%s", a);
	run1(0, 30, "sendmail", arg);
	assert_finished("root's -qI");
	for (i = 0; i < 2; i++) {
		f = epath(udir(ALICE), a, i == 0 ? ".env" : ".msg");
		cr_assert(lstat(f, &st) == 0, "%s: %s%s", f, strerror(errno),
		    ev());
		cr_assert_eq(st.st_uid, ALICE, "after root's retry %s belongs "
		    "to uid %u, not alice (%u)%s", f, (unsigned)st.st_uid,
		    ALICE, ev());
	}
	run1(ALICE, HANG_TIMEOUT, "mailq", NULL);
	assert_finished("alice's mailq");
	cr_assert(strstr(res.out, a) != NULL, "alice's mailq does not list "
	    "her entry %s after root's retry%s", a, ev());
	start_mx("");
	run1(ALICE, 30, "sendmail", arg);
	server_stop(&mx);
	assert_finished("alice's -qI");
	assert_exit(0);
	cr_assert_eq(messages_with(BODY_A, NULL), 1, "alice's -qI did not "
	    "deliver her entry%s", ev());
	cr_assert_eq(entries(udir(ALICE), NULL, 0), 0, "the delivered entry "
	    "is still in %s%s", udir(ALICE), ev());
}

/* =========================================================== squatting */

Test(trust, squatted_user_dir_is_reported_and_moved_aside)
{
	char a[IDLEN + 1], before[1][IDLEN + 1];
	const char *l;
	struct stat st;

	NEED_ROOT();
	sh_ok(MALLORY, "mkdir -m 0700 '%s'", udir(ALICE));
	submit(ALICE, RCPT_A, BODY_A, NULL);
	assert_exit(75);
	l = line_with2(res.err, "warning", udir(ALICE));
	cr_assert(l != NULL, "alice's submission did not warn about the "
	    "squatted %s%s", udir(ALICE), ev());
	new_entry(hqdir(ALICE), before, 0, a);

	/* Root sees the fallback entry... */
	run1(0, HANG_TIMEOUT, "mailq", NULL);
	assert_quick("root's mailq");
	cr_assert(strstr(res.out, a) != NULL, "root's mailq does not list "
	    "alice's entry %s of %s%s", a, hqdir(ALICE), ev());
	/* ...reports the squat and moves it aside... */
	run1(0, 30, "sendmail", "-q");
	assert_finished("root's -q");
	cr_assert(strstr(res.err, udir(ALICE)) != NULL, "root's -q did not "
	    "report the squatted %s%s", udir(ALICE), ev());
	cr_assert(lstat(udir(ALICE), &st) != 0 && errno == ENOENT, "the "
	    "squatted %s is still there after root's -q%s", udir(ALICE),
	    ev());
	/* ...and delivers it. */
	start_mx("");
	run1(0, 30, "sendmail", "-qRb.test");
	server_stop(&mx);
	assert_finished("root's -qR");
	cr_assert_eq(messages_with(BODY_A, NULL), 1, "root's forced run did "
	    "not deliver alice's fallback entry once%s", ev());
	cr_assert_eq(entries(hqdir(ALICE), NULL, 0), 0, "the delivered entry "
	    "is still in %s%s", hqdir(ALICE), ev());
}

/* ======================================================= bad queue_dir */

/*
 * The last run warned that queue_dir is not used, naming it and why
 * (one of the words of because, NULL-terminated).
 */
static void
assert_queue_dir_refused(const char *const because[])
{
	const char *l = line_with2(res.err, "warning", qroot);
	int i, why = 0;

	cr_assert(l != NULL, "no warning naming queue_dir %s%s", qroot, ev());
	for (i = 0; because[i] != NULL; i++)
		why |= strstr(l, because[i]) != NULL;
	cr_assert(why, "the warning does not say why %s is not used: %s%s",
	    qroot, l, ev());
}

Test(trust, queue_dir_owned_by_a_user_is_not_used)
{
	static const char *const why[] = { "own", "belong", "4201", "alice",
	    NULL };
	char r[IDLEN + 1];

	NEED_ROOT();
	cr_assert(chown(qroot, ALICE, ALICE) == 0 && chmod(qroot, 01733) ==
	    0);
	submit(0, RCPT_A, BODY_R, NULL);
	assert_exit(75);
	cr_assert_eq(count_files(qroot), 0, "root queued its message in "
	    "%s, which belongs to alice%s", qroot, ev());
	assert_queue_dir_refused(why);
	new_entry(hqdir(0), NULL, 0, r);
}

Test(trust, queue_dir_writable_by_all_without_sticky_bit_is_not_used)
{
	static const char *const why[] = { "sticky", "writable", "777",
	    "mode", "others", NULL };
	char a[IDLEN + 1];

	NEED_ROOT();
	cr_assert(chmod(qroot, 0777) == 0);
	submit(ALICE, RCPT_A, BODY_A, NULL);
	assert_exit(75);
	cr_assert_eq(count_files(qroot), 0, "alice queued her message in "
	    "%s, mode 0777 without the sticky bit%s", qroot, ev());
	assert_queue_dir_refused(why);
	new_entry(hqdir(ALICE), NULL, 0, a);
}

/* ====================================================== ENOSPC during -q */

Test(trust, no_space_during_q_keeps_the_entry)
{
	char a[IDLEN + 1], arg[40], q[500], filler[500], *before, *after;
	const char *l;

	NEED_ROOT();
	mount_tmpfs(fsdir, "2m");
	snprintf(q, sizeof(q), "%s/queue", fsdir);
	mkdir_mode(q, 01733);
	snprintf(qroot, sizeof(qroot), "%s", q);
	env_set("MXSEND_QUEUE_DIR=%s", q);
	deferred(ALICE, RCPT_A, BODY_A, a);
	before = slurp_regular(epath(udir(ALICE), a, ".msg"), 0);
	fill_fs(fsdir);

	/* The MX is still down: deferred again, with no space to say so. */
	snprintf(arg, sizeof(arg), "-qI%s", a);
	run1(0, 30, "sendmail", arg);
	assert_finished("root's -qI on a full file system");
	cr_assert(!exists(epath(udir(ALICE), a, ".env.corrupt")) &&
	    !exists(epath(udir(ALICE), a, ".msg.corrupt")), "a good entry "
	    "was moved aside as corrupt for want of space%s", ev());
	cr_assert(exists(epath(udir(ALICE), a, ".env")), "%s.env is gone%s",
	    a, ev());
	after = slurp_regular(epath(udir(ALICE), a, ".msg"), 0);
	cr_assert(before != NULL && after != NULL && strcmp(before, after) ==
	    0, "%s.msg changed or is gone%s", a, ev());
	free(before);
	free(after);
	run1(0, HANG_TIMEOUT, "mailq", NULL);
	assert_finished("root's mailq");
	l = line_with(res.out, a);
	cr_assert(l != NULL && strstr(l, "corrupt") == NULL, "root's mailq "
	    "does not list the entry %s as a good entry%s", a, ev());

	snprintf(filler, sizeof(filler), "%s/filler", fsdir);
	cr_assert(unlink(filler) == 0);
	start_mx("");
	run1(0, 30, "sendmail", arg);
	server_stop(&mx);
	assert_finished("root's -qI with space again");
	cr_assert_eq(messages_with(BODY_A, NULL), 1, "the entry was not "
	    "delivered once the space was back%s", ev());
}

/*
 * queue_dir fills up while stdin is being read (SPEC §7 order): what was
 * read moves on to ~/.mxsend/queue and intake goes on there; the message
 * arrives whole.
 */
Test(trust, queue_full_during_intake_moves_on_to_the_home_queue)
{
	char r[IDLEN + 1], q[500], arg[40], *text, *got = NULL;
	size_t o = 0, i, cap = 3u << 20;

	NEED_ROOT();
	mount_tmpfs(fsdir, "1m");
	snprintf(q, sizeof(q), "%s/queue", fsdir);
	mkdir_mode(q, 01733);
	env_set("MXSEND_QUEUE_DIR=%s", q);
	text = malloc(cap + 1024);
	cr_assert_not_null(text);
	o += (size_t)snprintf(text, 1024, "From: %s\nTo: " RCPT_A "\n"
	    "Subject: spill\n\n" BODY_R "\n", sender_of(0));
	for (i = 0; o + 100 < cap; i++)
		o += (size_t)snprintf(text + o, 100, "line %07zu of a message "
		    "larger than its first queue's file system\n", i);
	o += (size_t)snprintf(text + o, 100, "the last line 77e1\n");
	submit_text(0, RCPT_A, text, o, NULL);
	free(text);
	assert_exit(75);
	cr_assert(strstr(res.err, q) != NULL && strstr(res.err,
	    "No space left") != NULL, "no warning naming the full queue%s",
	    ev());
	cr_assert_eq(entries(udir(0), NULL, 0), 0, "an entry was left in the "
	    "full queue%s", ev());
	cr_assert_eq(entries(hqdir(0), NULL, 0), 1, "the message is not in "
	    "root's home queue%s", ev());
	new_entry(hqdir(0), NULL, 0, r);
	start_mx("");
	snprintf(arg, sizeof(arg), "-qI%s", r);
	run1(0, 30, "sendmail", arg);
	server_stop(&mx);
	assert_exit(0);
	cr_assert_eq(messages_with("the last line 77e1", &got), 1, "the "
	    "message was not delivered whole%s", ev());
	cr_assert(strstr(got, BODY_R) != NULL && strstr(got, "line 0000000 ")
	    != NULL && strstr(got, "line 0030000 ") != NULL, "the message "
	    "lost its beginning or middle%s", ev());
	free(got);
}

/* ===================================================== a large envelope */

Test(trust, envelope_over_16_mib_is_not_corrupt)
{
	char a[IDLEN + 1], arg[40], *text, *rcpt = NULL, *eol = NULL, *out;
	const char *env;
	size_t len, o = 0, cap = 18u << 20, n;
	unsigned k;
	int fd;

	NEED_ROOT();
	deferred(ALICE, RCPT_A, BODY_A, a);
	env = epath(udir(ALICE), a, ".env");
	text = slurp_regular(env, 0);
	cr_assert(text != NULL && (rcpt = strstr(text, "\nrcpt ")) != NULL &&
	    (eol = strchr(rcpt + 1, '\n')) != NULL, "no rcpt line in %s%s",
	    env, ev());
	rcpt++;
	/* Everything up to and with the rcpt line, then copies of it. */
	len = (size_t)(eol + 1 - text);
	out = malloc(cap + 4096);
	cr_assert_not_null(out);
	memcpy(out, text, len);
	o = len;
	for (k = 0; o < (17u << 20) + 4096; k++) {
		const char *p = rcpt, *at = strstr(rcpt, " " RCPT_A " ");

		cr_assert(at != NULL && at < eol, "no address " RCPT_A " in "
		    "the rcpt line%s", ev());
		n = (size_t)(at + 1 - p);
		memcpy(out + o, p, n);
		o += n;
		o += (size_t)sprintf(out + o, "r%07u@b.test", k);
		p = at + 1 + strlen(RCPT_A);
		n = (size_t)(eol + 1 - p);
		memcpy(out + o, p, n);
		o += n;
	}
	memcpy(out + o, "end\n", 4);
	o += 4;
	/* Rewritten in place: still alice's file. */
	fd = open(env, O_WRONLY | O_TRUNC | O_NOFOLLOW);
	cr_assert(fd >= 0 && write(fd, out, o) == (ssize_t)o && close(fd) ==
	    0, "rewrite %s: %s", env, strerror(errno));
	free(out);
	free(text);

	snprintf(arg, sizeof(arg), "-qI%s", a);
	run1(0, 30, "sendmail", arg);
	assert_finished("root's -qI");
	cr_assert(!exists(epath(udir(ALICE), a, ".env.corrupt")) &&
	    exists(env), "a %.1f MiB envelope of %u recipients (intake "
	    "accepts as many) was moved aside as corrupt%s", o / MIB, k + 1,
	    ev());
	cr_assert(line_with(res.err, "corrupt") == NULL, "the queue run "
	    "called the entry corrupt%s", ev());
}

/* ================================================= 9,998 header fields */

Test(trust, message_with_9998_header_fields_is_delivered)
{
	char a[IDLEN + 1], arg[40], *text, *got = NULL;
	const char *p;
	size_t cap = 400000, o = 0;
	int i, nfill = 9998 - 3, seen = 0;

	NEED_ROOT();
	text = malloc(cap);
	cr_assert_not_null(text);
	o += (size_t)snprintf(text + o, cap - o, "From: %s\nTo: " RCPT_A
	    "\nSubject: many fields\n", sender_of(ALICE));
	for (i = 0; i < nfill; i++)
		o += (size_t)snprintf(text + o, cap - o, "X-Filler-%04d: v\n",
		    i);
	o += (size_t)snprintf(text + o, cap - o, "\n" BODY_A "\n");
	submit_text(ALICE, RCPT_A, text, o, NULL);
	free(text);
	assert_exit(75);
	new_entry(udir(ALICE), NULL, 0, a);

	start_mx("");
	snprintf(arg, sizeof(arg), "-qI%s", a);
	run1(0, 30, "sendmail", arg);
	server_stop(&mx);
	assert_finished("root's -qI");
	cr_assert_eq(messages_with(BODY_A, &got), 1, "the queued message of "
	    "9,998 header fields was not delivered%s", ev());
	for (p = got; (p = strstr(p, "\nX-Filler-")) != NULL; p++)
		seen++;
	free(got);
	cr_assert_eq(seen, nfill, "the MX got %d of the %d X-Filler fields%s",
	    seen, nfill, ev());
}

/* =========================================================== full /tmp */

Test(trust, full_tmpdir_does_not_stop_a_submission)
{
	char r[IDLEN + 1];

	NEED_ROOT();
	mount_tmpfs(fsdir, "1m");
	fill_fs(fsdir);
	env_set("TMPDIR=%s", fsdir);
	deferred(0, RCPT_A, BODY_R, r);
}

/* ====================================================== closed stderr */

Test(trust, closed_stderr_with_v_keeps_the_message_clean)
{
	char text[4096], *got = NULL;
	size_t o = 0;
	int i;

	NEED_ROOT();
	start_mx("");
	/* A line over 998 octets: -v then warns that it was broken. */
	o += (size_t)snprintf(text + o, sizeof(text) - o, "From: %s\nTo: "
	    RCPT_A "\nSubject: closed stderr\n\n" BODY_R "\n",
	    sender_of(0));
	for (i = 0; i < 1200; i++)
		text[o++] = 'w';
	o += (size_t)snprintf(text + o, sizeof(text) - o, "\nlast line\n");
	re.stderr_mode = RUN_STDERR_CLOSED;
	submit_text(0, RCPT_A, text, o, "-v");
	re.stderr_mode = RUN_STDERR_PIPE;
	server_stop(&mx);
	assert_finished("a submission with 2>&-");
	cr_assert_eq(messages_with(BODY_R, &got), 1, "the MX did not get the "
	    "message once%s", ev());
	cr_assert(strstr(got, "mxsend:") == NULL && strstr(got, "-->") ==
	    NULL && strstr(got, "<--") == NULL, "mxsend's own -v text went "
	    "into the message:\n%.3000s%s", got, ev());
	free(got);
	assert_exit(0);
}

/*
 * The same, deferred: the message stays in the queue (where intake may
 * now write it directly) and a later queue run delivers it.
 */
Test(trust, closed_stderr_with_v_keeps_the_queued_message_clean)
{
	char text[4096], r[IDLEN + 1], before[1][IDLEN + 1], arg[40];
	char *got = NULL;
	size_t o = 0;
	int i;

	NEED_ROOT();
	o += (size_t)snprintf(text + o, sizeof(text) - o, "From: %s\nTo: "
	    RCPT_A "\nSubject: closed stderr\n\n" BODY_R "\n",
	    sender_of(0));
	for (i = 0; i < 1200; i++)
		text[o++] = 'w';
	o += (size_t)snprintf(text + o, sizeof(text) - o, "\nlast line\n");
	re.stderr_mode = RUN_STDERR_CLOSED;
	submit_text(0, RCPT_A, text, o, "-v");
	re.stderr_mode = RUN_STDERR_PIPE;
	assert_finished("a submission with 2>&-");
	assert_exit(75);
	new_entry(udir(0), before, 0, r);
	cr_assert(!file_has(epath(udir(0), r, ".msg"), "mxsend:"), "mxsend's "
	    "own -v text went into %s.msg%s", r, ev());
	start_mx("");
	snprintf(arg, sizeof(arg), "-qI%s", r);
	run1(0, 30, "sendmail", arg);
	server_stop(&mx);
	assert_finished("root's -qI");
	cr_assert_eq(messages_with(BODY_R, &got), 1, "the MX did not get the "
	    "queued message once%s", ev());
	cr_assert(strstr(got, "mxsend:") == NULL && strstr(got, "-->") ==
	    NULL && strstr(got, "<--") == NULL, "mxsend's own -v text went "
	    "into the queued message:\n%.3000s%s", got, ev());
	free(got);
}

/* ============================================================ SIGPIPE */

Test(trust, v_into_a_closed_pipe_is_not_killed_by_sigpipe)
{
	NEED_ROOT();
	start_mx("");
	re.stderr_mode = RUN_STDERR_BROKEN;
	submit(0, RCPT_A, BODY_R, "-v");
	re.stderr_mode = RUN_STDERR_PIPE;
	server_stop(&mx);
	assert_finished("a submission with stderr a broken pipe");
	cr_assert_neq(res.status, 128 + SIGPIPE, "mxsend was killed by "
	    "SIGPIPE writing -v output to a closed pipe%s", ev());
	cr_assert_eq(messages_with(BODY_R, NULL), 1, "the MX did not get the "
	    "message%s", ev());
	assert_exit(0);
}

/* ============================================================== env -i */

Test(trust, submission_without_home_is_listed_by_mailq_without_home)
{
	char a[IDLEN + 1], bad[500];

	NEED_ROOT();
	/* queue_dir unusable: below a regular file. */
	run_env_file(&re, "not-a-dir", "x\n", 0644);
	snprintf(bad, sizeof(bad), "%s/not-a-dir/queue", re.dir);
	env_set("MXSEND_QUEUE_DIR=%s", bad);
	re.no_home = 1;
	deferred_in(ALICE, hqdir(ALICE), RCPT_A, BODY_A, a);
	run1(ALICE, HANG_TIMEOUT, "mailq", NULL);
	re.no_home = 0;
	assert_finished("alice's mailq without HOME");
	cr_assert(strstr(res.out, a) != NULL, "alice's mailq without HOME "
	    "does not list the entry %s her submission without HOME made in "
	    "%s%s", a, hqdir(ALICE), ev());
}

/* ==================================================== /dev/zero on stdin */

static void
dev_zero_case(const char *limit, const char *const names[])
{
	const char *argv[] = { "sendmail", "-f", sender_of(0), RCPT_A, NULL };
	char q[500], tmp[500];
	int i, named = 0;

	/* Bounded even when mxsend is not: a tmpfs for queue and TMPDIR. */
	mount_tmpfs(fsdir, "96m");
	snprintf(q, sizeof(q), "%s/queue", fsdir);
	snprintf(tmp, sizeof(tmp), "%s/tmp", fsdir);
	mkdir_mode(q, 01733);
	mkdir_mode(tmp, 01777);
	snprintf(qroot, sizeof(qroot), "%s", q);
	env_set("MXSEND_QUEUE_DIR=%s", q);
	env_set("TMPDIR=%s", tmp);
	if (limit != NULL)
		env_set("MXSEND_MESSAGE_SIZE_LIMIT=%s", limit);
	re.stdin_path = "/dev/zero";
	run_as(0, NULL, 0, HANG_TIMEOUT, argv);
	re.stdin_path = NULL;
	assert_quick("mxsend < /dev/zero");
	assert_exit(65);
	for (i = 0; names[i] != NULL; i++)
		named |= strstr(res.err, names[i]) != NULL;
	cr_assert(named, "stderr does not name the limit (%s)%s", names[0],
	    ev());
	cr_assert_eq(count_files(q), 0, "files left in the queue%s", ev());
	cr_assert_eq(count_files(hqdir(0)), 0, "files left in the fallback "
	    "queue%s", ev());
}

Test(trust, dev_zero_on_stdin_stops_at_message_size_limit)
{
	static const char *const names[] = { "message_size_limit", "1m",
	    "1048576", "1 MiB", "1 MB", NULL };

	NEED_ROOT();
	dev_zero_case("1m", names);
}

Test(trust, dev_zero_on_stdin_stops_at_the_default_limit)
{
	static const char *const names[] = { "message_size_limit", "64m",
	    "67108864", "64 MiB", "64 MB", NULL };

	NEED_ROOT();
	dev_zero_case(NULL, names);
}
