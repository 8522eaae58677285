/*
 * test_deadletter.c: dead.letter (deadletter.c), the last resort of SPEC
 * §7: an append that fails half-way (a full disk, a quota, a file size
 * limit) must leave the mailbox as it was, or every later reader of the
 * mbox would see a message cut off in the middle and the next "From "
 * line glued to it.
 */
#include "autoconf.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "deadletter.h"
#include "intake.h"
#include "message.h"
#include "spooled.h"

#define NOW	1796163970	/* Tue, 01 Dec 2026 22:26:10 UTC */

static char dir[64], path[128];

static void
setup(void)
{
	strlcpy(dir, "/tmp/mxsend-deadletter-XXXXXX", sizeof(dir));
	cr_assert(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/dead.letter", dir);
}

static void
teardown(void)
{
	(void)unlink(path);
	(void)rmdir(dir);
}

TestSuite(deadletter, .init = setup, .fini = teardown);

/* A message spooled from text, as intake.c leaves it. */
static void
load(struct message *msg, const char *text, size_t len)
{
	spooled(msg, text, len, 1);
}

#define unload	spooled_free

static off_t
size_of(const char *p)
{
	struct stat st;

	cr_assert(stat(p, &st) == 0, "stat %s: %s", p, strerror(errno));
	return st.st_size;
}

static void
append_ok(const char *text)
{
	struct message msg;
	char err[256] = "";

	load(&msg, text, strlen(text));
	cr_assert_eq(deadletter_append(path, &msg, "s@example.com", NOW, err,
	    sizeof(err)), 0, "%s", err);
	unload(&msg);
}

/* Lines of the file that start with "From " (the mbox separators). */
static int
from_lines(const char *text)
{
	const char *p = text;
	int n = 0;

	while (*p != '\0') {
		if (strncmp(p, "From ", 5) == 0)
			n++;
		if ((p = strchr(p, '\n')) == NULL)
			break;
		p++;
	}
	return n;
}

static char *
slurp(const char *p)
{
	FILE *fp = fopen(p, "r");
	char *s;
	long n = -1;

	cr_assert(fp != NULL, "fopen %s: %s", p, strerror(errno));
	cr_assert(fseek(fp, 0, SEEK_END) == 0);
	n = ftell(fp);
	cr_assert(n >= 0);
	rewind(fp);
	s = malloc((size_t)n + 1);
	cr_assert(s != NULL && fread(s, 1, (size_t)n, fp) == (size_t)n);
	s[n] = '\0';
	fclose(fp);
	return s;
}

/*
 * The file size limit stands in for a full disk: the kernel writes what
 * fits, then refuses with EFBIG, so the append fails half-way.
 */
Test(deadletter, failed_append_leaves_the_file_as_it_was)
{
	struct message msg;
	struct rlimit rl;
	struct buf big;
	char err[256], *text;
	off_t before;
	ssize_t n;
	pid_t pid;
	int fds[2], status, i;

	append_ok("Subject: first\n\nThe first message.\n");
	before = size_of(path);

	buf_init(&big);
	buf_adds(&big, "Subject: big\n\n");
	for (i = 0; i < 4000; i++)
		buf_printf(&big, "line %04d of a message larger than the room "
		    "that is left\n", i);
	load(&msg, big.data, big.len);
	buf_free(&big);

	cr_assert(pipe(fds) == 0);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		signal(SIGXFSZ, SIG_IGN);
		rl.rlim_cur = rl.rlim_max = (rlim_t)before + 1000;
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(2);
		err[0] = '\0';
		if (deadletter_append(path, &msg, "s@example.com", NOW, err,
		    sizeof(err)) == 0)
			_exit(3);
		(void)write_all(fds[1], err, strlen(err));
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], err, sizeof(err) - 1);
	err[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	cr_assert(waitpid(pid, &status, 0) == pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the child: status %#x (3: the append succeeded)", status);
	cr_assert(strstr(err, path) != NULL && strstr(err, strerror(EFBIG)),
	    "the error does not name the file and the cause: \"%s\"", err);
	cr_assert_eq(size_of(path), before,
	    "the failed append left %lld bytes behind",
	    (long long)(size_of(path) - before));

	unload(&msg);
	append_ok("Subject: second\n\nFrom here on, the second message.\n");
	text = slurp(path);
	cr_assert(strncmp(text, "From s@example.com ", 19) == 0,
	    "the file does not start with a \"From \" line:\n%s", text);
	cr_assert_eq(from_lines(text), 2, "not two entries:\n%.2000s", text);
	cr_assert(strstr(text, "\n\nFrom s@example.com ") != NULL,
	    "the second entry does not follow an empty line:\n%.2000s", text);
	cr_assert(strstr(text, "\n>From here on") != NULL,
	    "the body's From line is not quoted:\n%.2000s", text);
	cr_assert(strstr(text, "line 0000") == NULL,
	    "a piece of the failed message is in the file:\n%.2000s", text);
	free(text);
}

/* SPEC §7: the password database, never $HOME (env -i, sudo, cron). */
Test(deadletter, path_is_in_the_passwd_home_not_home)
{
	struct passwd *pw = getpwuid(getuid());
	char out[512], want[512];

	if (pw == NULL || pw->pw_dir == NULL || pw->pw_dir[0] != '/')
		cr_skip_test("uid %ld has no home in the password database",
		    (long)getuid());
	snprintf(want, sizeof(want), "%s/dead.letter", pw->pw_dir);
	cr_assert(setenv("HOME", "/nonexistent/elsewhere", 1) == 0);
	cr_assert_eq(deadletter_path(out, sizeof(out)), 0);
	cr_assert_str_eq(out, want);
}
