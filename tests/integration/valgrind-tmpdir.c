/*
 * valgrind-tmpdir.c: preloaded into mxsend by run_exec() under make
 * check-valgrind. valgrind gives up before the program starts when it
 * cannot write a file in $TMPDIR, and some tests give mxsend a TMPDIR it
 * may not write (a user's run in a root-owned test directory, a full
 * tmpfs). So valgrind is given a TMPDIR of its own, and the test's value
 * travels in MXTEST_TMPDIR ("" when unset), put back here before
 * main() runs. Only in the program valgrind runs (its LD_PRELOAD has
 * valgrind's own libraries first): the launcher, loaded with this library
 * too, must keep valgrind's TMPDIR.
 */
#include <stdlib.h>
#include <string.h>

static void restore_tmpdir(void) __attribute__((constructor));

static void
restore_tmpdir(void)
{
	const char *t = getenv("MXTEST_TMPDIR");
	const char *pre = getenv("LD_PRELOAD");

	if (t == NULL || pre == NULL || strstr(pre, "vgpreload") == NULL)
		return;
	if (*t == '\0')
		(void)unsetenv("TMPDIR");
	else
		(void)setenv("TMPDIR", t, 1);
	(void)unsetenv("MXTEST_TMPDIR");
}
