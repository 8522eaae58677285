/*
 * spawn.h: start one of the project's scripted servers (fakesmtp,
 * fakedns) for a test, wait for its "ready ADDR PORT pid N" lines, and stop
 * it by its PID; or run one to completion. Every test starts them through
 * these functions. Bounded in time everywhere.
 */
#ifndef MXSEND_TEST_SPAWN_H
#define MXSEND_TEST_SPAWN_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#define SPAWN_MAX_LISTENERS	8
#define SPAWN_READY_S		10	/* spawn_*: seconds to "ready" */

struct listener {
	char		 addr[64];
	unsigned	 port;
	pid_t		 pid;		/* the PID its line gave */
};

struct server {
	pid_t		 pid;
	struct listener	 l[SPAWN_MAX_LISTENERS];
	int		 nl;
	int		 nbad;		/* malformed ready lines */
	char		 bad[128];	/* the first of them */
};

/* $top_builddir/tests/support/NAME */
const char *support_path(const char *name);

/*
 * Run argv (argv[0] a path) with stdin from /dev/null and stdout to a
 * pipe; wait at most timeout_s for the final "ready" line. Returns 0, or
 * -1 (the child is killed).
 */
int	 server_start(struct server *, const char *const argv[],
	    unsigned timeout_s);

/* The same, with the server's stderr to errpath (NULL: inherited). */
int	 server_start_err(struct server *, const char *const argv[],
	    unsigned timeout_s, const char *errpath);

/*
 * SIGTERM, then SIGKILL after 2 s; always reaps. Safe to call twice.
 * Returns the wait status after SIGTERM, -1 if it took SIGKILL, 0 if
 * there was no server.
 */
int	 server_stop(struct server *);

/*
 * Wait at most ms for the server to exit by itself: its wait status, or
 * -1 while it still runs.
 */
int	 server_wait(struct server *, long ms);

/*
 * Run argv to completion (stdin from /dev/null, stdout to nowhere,
 * stderr to errpath or inherited): its wait status, or -1 if it was still
 * running after ms (it is killed).
 */
int	 server_run(const char *const argv[], const char *errpath, long ms);

/*
 * fakesmtp listening on 127.0.0.1 port 0, the script text written to
 * dir/script, recording in dir/rec, then the NULL-terminated args (NULL:
 * none). As server_start, waiting SPAWN_READY_S.
 */
int	 spawn_fakesmtp(struct server *, const char *dir, const char *script,
	    const char *const args[]);

/* The same with args, then the NULL-terminated arguments of ap. */
int	 spawn_fakesmtp_va(struct server *, const char *dir,
	    const char *script, const char *const args[], va_list ap);

/*
 * What that fakesmtp recorded as dir/rec/name, read whole (length in
 * *lenp), or NULL if it is missing; record_wait() waits at most ms for it
 * to appear, and the test fails if it does not.
 */
char	*record_read(const char *dir, const char *name, size_t *lenp);
char	*record_wait(const char *dir, const char *name, long ms);

/*
 * fakedns answering from the zone file, logging to log (NULL: no log),
 * then the NULL-terminated args (NULL: none); stderr to errpath (NULL:
 * inherited). As server_start, waiting SPAWN_READY_S.
 */
int	 spawn_fakedns(struct server *, const char *zone, const char *log,
	    const char *const args[], const char *errpath);

/* Helpers the tests of the servers and of their clients share. */

/* CLOCK_MONOTONIC in milliseconds. */
long	 ms_now(void);

/* Remove dir and everything below it (a test's own directory): 0 or -1. */
int	 remove_tree(const char *dir);

/* Write text to path (the test fails if it cannot). */
void	 write_file(const char *path, const char *text);

/* A whole file, NUL-terminated (length in *lenp); NULL if missing. */
char	*file_read(const char *path, size_t *lenp);

/* Run a shell command (printf format); the test fails unless it exits 0. */
void	 run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A self-signed certificate for mx.test made with certtool in dir:
 * dir/cert.pem and dir/key.pem, their paths in cert and key. Skips the
 * test when certtool (gnutls-bin) is missing.
 */
void	 make_self_signed(const char *dir, char *cert, char *key,
	    size_t size);

/*
 * A test CA and a server certificate it signed, for ip and localhost,
 * made with certtool in dir: dir/ca.pem, dir/cert.pem and dir/key.pem,
 * their paths in ca, cert and key (size bytes each). Skips the test when
 * certtool is missing.
 */
void	 make_ca_signed(const char *dir, const char *ip, char *ca, char *cert,
	    char *key, size_t size);

#endif
