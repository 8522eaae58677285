/*
 * fakelib.c: a stand-in for libgnutls.so.30, libidn2.so.0 and
 * libgnutls-dane.so.0 that exports none of their functions, built into
 * tests/integration/nolibs/ under the first two names and into
 * tests/integration/nodane/ under the last. With LD_LIBRARY_PATH pointing there, mxsend's dlopen()
 * succeeds and its dlsym() fails, which is how a broken or mismatched
 * installation looks (SPEC §9: a clear error, not a crash). Loading it
 * appends its name to the file $FAKELIB_LOADED, so that a test can
 * also tell that a run did not load the library at all.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FAKELIB_NAME
#define FAKELIB_NAME	"fakelib"
#endif

__attribute__((constructor)) static void
fakelib_loaded(void)
{
	const char	*path = getenv("FAKELIB_LOADED");
	int		 fd;

	if (path == NULL || path[0] == '\0')
		return;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644)) == -1)
		return;
	(void)write(fd, FAKELIB_NAME "\n", strlen(FAKELIB_NAME "\n"));
	close(fd);
}
