/*
 * run.h: run the real mxsend binary as a user would (argv, stdin,
 * environment) and capture its exit status, stdout and stderr, bounded in
 * time. Each test gets a fresh directory that serves as HOME and TMPDIR
 * and holds an empty configuration file and aliases file, so the machine's
 * /etc/mxsend.conf and /etc/aliases never leak into a test.
 */
#ifndef MXSEND_TEST_RUN_H
#define MXSEND_TEST_RUN_H

#include <stddef.h>

struct run_result {
	int	 status;	/* exit code; 128 + signal when killed */
	int	 timed_out;
	char	*out;		/* NUL-terminated */
	size_t	 outlen;
	char	*err;
	size_t	 errlen;
	long	 maxrss_kib;	/* its peak resident set (wait4) */
};

struct run_env {
	char	 dir[256];	/* HOME and TMPDIR */
	char	 conf[300];	/* $dir/mxsend.conf (empty) */
	char	 aliases[300];	/* $dir/aliases (empty) */
	char	 queue[300];	/* $dir/queue, mode 1733: MXSEND_QUEUE_DIR
				   unless the test sets it */
	int	 as_user;	/* run as uid/gid below (tests run as root) */
	unsigned uid, gid;
	char	 binary[320];	/* "" or a copy of mxsend to run instead */
	char	 passwd[300];	/* $dir/passwd: the users mxsend sees */
	char	 group[300];	/* $dir/group */
	/*
	 * How the next runs are started; run_env_setup() resets them.
	 * HOME and TMPDIR are $dir unless the env argument of run_mxsend()
	 * sets them; no_home leaves HOME out of the environment (as env -i,
	 * PHP-FPM or a systemd unit do).
	 */
	int	 no_home;
	enum run_stderr {
		RUN_STDERR_PIPE = 0,	/* captured in run_result.err */
		RUN_STDERR_CLOSED,	/* descriptor 2 closed (2>&-) */
		RUN_STDERR_BROKEN,	/* a pipe whose reader has gone, with
					   SIGPIPE at its default action, as a
					   shell leaves it */
		RUN_STDERR_UNREAD	/* a pipe the caller holds open and
					   never reads (Symfony's ProcessStream):
					   it is full after 64 KiB */
	}	 stderr_mode;
	const char *stdin_path;	/* stdin from this file (e.g. /dev/zero)
				   instead of the input argument */
	/*
	 * The host as mxsend sees it (root only: see run_env_host()):
	 * etc_dir mounted over /etc and hostname set, in namespaces of the
	 * run's own. NULL: the machine's. With etc_dir, default_domain
	 * is not set for mxsend unless the test sets it.
	 */
	const char *etc_dir;
	const char *hostname;
	char	 etc[300];	/* $dir/etc, once run_env_host() made it */
};

/*
 * Run mxsend as another user: copy the binary into the test directory
 * (mode 0755; the build tree may sit below a directory only root can
 * enter), open that directory for traversal, and switch to uid/gid.
 */
void	 run_env_as_user(struct run_env *, unsigned uid, unsigned gid);

/*
 * mxsend takes home directories from the password database only (SPEC
 * §7), so each test has a database of its own: runs go through
 * nss_wrapper (LD_PRELOAD) with $dir/passwd and $dir/group, where root
 * and every user the test adds live. run_env_setup() adds root with
 * $dir as its home; run_env_as_user() adds the user it switches to,
 * with the same home unless run_env_add_user() named it before.
 */
void	 run_env_add_user(struct run_env *, const char *name, unsigned uid,
	    unsigned gid, const char *home);

/*
 * The next runs see $dir/etc as /etc (in a mount namespace of their own)
 * and name as the host name (in a UTS namespace), so that /etc/mailname,
 * /etc/hosts and /etc/resolv.conf are the test's: the directory gets the
 * machine's nsswitch.conf and ld.so.cache, and the files the test then
 * writes with run_env_file(re, "etc/NAME", ...). Needs root: returns 0,
 * or -1 when not root (the caller skips, saying why).
 */
int	 run_env_host(struct run_env *, const char *name);

/* Make the per-test directory; aborts the test on failure. */
void	 run_env_setup(struct run_env *);
void	 run_env_cleanup(struct run_env *);

/* Write text to $dir/name (mode 0600); returns the path (static buffer). */
const char *run_env_file(struct run_env *, const char *name,
	    const char *text, int mode);

/* Path of the mxsend binary under test ($top_builddir/src/mxsend). */
const char *mxsend_path(void);

/*
 * Run mxsend with argv (argv[0] is what the program sees as its name;
 * NULL-terminated), input on stdin (len bytes; input NULL = /dev/null),
 * extra environment entries "KEY=VALUE" (NULL-terminated list or NULL),
 * killed after timeout_s seconds. Returns 0, -1 if it could not be run.
 */
/*
 * ASAN_OPTIONS for an mxsend run when the tests run under ASan: nss_wrapper
 * is preloaded before the sanitizer runtime (link order), and
 * __tls_get_addr is not intercepted: gcc 12's libasan guesses the bounds
 * of a dynamic TLS block (GnuTLS's, dlopen'd) from the word before it,
 * which in ASan's heap is a chunk header, and depending on where the
 * block lands it records a bogus range that LeakSanitizer's tracer then
 * reads at exit and crashes on (SIGSEGV, "Tracer caught signal 11").
 * Leaks are still found: the blocks are ordinary heap objects, reached
 * from the thread's DTV.
 */
#define RUN_ASAN_OPTIONS	"ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:" \
	"verify_asan_link_order=0:intercept_tls_get_addr=0"

int	 run_mxsend(const struct run_env *, const char *const argv[],
	    const char *input, size_t len, const char *const env[],
	    unsigned timeout_s, struct run_result *);

void	 run_result_free(struct run_result *);

/*
 * execve() binary (argv and envp as for execve), for run_mxsend() and a
 * test's own runner; returns only on failure. With MXSEND_TEST_WRAPPER
 * set (make check-valgrind: "/usr/bin/valgrind --tool=memcheck ...",
 * words split at blanks, the first one a path) the binary runs under the
 * wrapper, through a link named as argv[0] in $dir.wrap.
 */
void	 run_exec(const struct run_env *, const char *binary,
	    const char *const argv[], char *const envp[]);

/*
 * How much slower than normal runs are (MXSEND_TEST_SLACK, at least 1;
 * make check-valgrind sets it): run_mxsend() scales its time-out by it,
 * and a test scales every bound it asserts on elapsed time.
 */
double	 run_slack(void);

/* alarm(seconds) scaled by run_slack(): a test's bound on itself. */
void	 run_alarm(unsigned seconds);

/* seconds scaled by run_slack() in decimal, in buf (a server's bound). */
const char *run_seconds(char buf[16], unsigned seconds);

/*
 * The message of the only entry of the queue of uid in queue root, as a
 * delivery would transmit it (ID.msg with the header edits ID.env
 * records); NULL when there is none or several.
 */
char	*queued_message(const char *root, unsigned uid);

/* Read a whole file into a NUL-terminated string (NULL if unreadable). */
char	*slurp(const char *path, size_t *lenp);

#endif
