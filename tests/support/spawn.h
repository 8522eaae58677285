/*
 * spawn.h: start one of the project's scripted servers (fakesmtp,
 * fakedns) for a test, wait for its "ready ADDR PORT pid N" lines, and stop
 * it by its PID. Bounded in time everywhere.
 */
#ifndef MXSEND_TEST_SPAWN_H
#define MXSEND_TEST_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#define SPAWN_MAX_LISTENERS	8

struct listener {
	char		 addr[64];
	unsigned	 port;
};

struct server {
	pid_t		 pid;
	struct listener	 l[SPAWN_MAX_LISTENERS];
	int		 nl;
};

/* $top_builddir/tests/support/NAME */
const char *support_path(const char *name);

/*
 * Run argv (argv[0] a path) with stdout to a pipe; wait at most timeout_s
 * for the final "ready" line. Returns 0, or -1 (the child is killed).
 */
int	 server_start(struct server *, const char *const argv[],
	    unsigned timeout_s);

/* SIGTERM, then SIGKILL after 2 s; always reaps. Safe to call twice. */
void	 server_stop(struct server *);

/* Helpers the tests of the servers and of their clients share. */

/* CLOCK_MONOTONIC in milliseconds. */
long	 ms_now(void);

/* Write text to path (the test fails if it cannot). */
void	 write_file(const char *path, const char *text);

/* A whole file, NUL-terminated (length in *lenp); NULL if missing. */
char	*file_read(const char *path, size_t *lenp);

/*
 * A self-signed certificate for mx.test made with certtool in dir:
 * dir/cert.pem and dir/key.pem, their paths in cert and key. Skips the
 * test when certtool (gnutls-bin) is missing.
 */
void	 make_self_signed(const char *dir, char *cert, char *key,
	    size_t size);

#endif
