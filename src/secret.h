/*
 * secret.h: the relay's secret (a password or an OAuth2 access token,
 * SPEC §4), fetched when a session is about to authenticate and wiped
 * when it has: from the configuration, from relay_password_file (read
 * again each time, so that a token that a timer refreshes is picked up
 * by the next attempt, -q included), or from the first line of what
 * relay_password_command prints (msmtp's passwordeval, run without a
 * shell, with the caller's rights, at most SECRET_COMMAND_SECONDS).
 *
 * Fetching runs as whoever calls it: root's -q fetches in the child that
 * became the entry's owner (queue.c's queue_visit()), so a file that
 * user cannot read fails that attempt, naming the file and the user.
 * No error text ever holds the secret.
 */
#ifndef MXSEND_SECRET_H
#define MXSEND_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define SECRET_MAX		(64 * 1024)	/* octets of the first line */
#define SECRET_COMMAND_SECONDS	30

/* Where the secret comes from: file, else command, else value. */
struct secret_source {
	const char	*value;		/* the password itself; NULL: "" */
	const char	*file;		/* relay_password_file */
	const char	*command;	/* relay_password_command */
};

/* A fetched secret: heap, NUL-terminated, wiped by secret_free(). */
struct secret {
	char		*data;
	size_t		 len;
};

/*
 * Fetch the secret now. A command gets SECRET_COMMAND_SECONDS, and no
 * time past deadline_ms (mono_ms(); INT64_MAX for none): then it is
 * killed, with every process of its group. Returns 0 with *out set, or
 * -1 with err naming the file (and the user) or the command's path
 * (with the first line of its stderr).
 */
int	 secret_fetch(const struct secret_source *, int64_t deadline_ms,
	    struct secret *out, char *err, size_t errlen);

/* Wipe and free; out may be reused after. */
void	 secret_free(struct secret *);

/*
 * For the configuration (exit 78): path names a regular file that others
 * can neither read nor write (its group may, so that the users who send
 * can share it through a group) and that the caller can open. Its
 * content is checked when it is used. Returns 0, or -1 with err.
 */
int	 secret_file_check(const char *path, char *err, size_t errlen);

/*
 * Open path, named by the configuration key key ("dkim_key"), as a
 * secret file: a regular file that others can neither read nor write,
 * checked on the open descriptor so that a rename cannot slip another
 * file in. Returns the descriptor, or -1 with err naming key, path and
 * (when it cannot be opened) the user it was read as.
 */
int	 secret_file_open(const char *key, const char *path, char *err,
	    size_t errlen);

/*
 * For the configuration: the command's first word is an absolute path.
 * Returns 0, or -1.
 */
int	 secret_command_check(const char *command);

#endif
