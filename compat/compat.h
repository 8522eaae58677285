/*
 * compat.h: the few BSD/glibc functions mxsend uses that a libc may lack.
 * With libbsd they come from <bsd/string.h>; otherwise from compat/.
 */
#ifndef MXSEND_COMPAT_H
#define MXSEND_COMPAT_H

#include <stddef.h>

#ifdef HAVE_LIBBSD
#include <bsd/string.h>
#include <bsd/stdlib.h>
#endif

#ifndef HAVE_STRLCPY
size_t	strlcpy(char *, const char *, size_t);
#endif
#ifndef HAVE_STRLCAT
size_t	strlcat(char *, const char *, size_t);
#endif
#ifndef HAVE_REALLOCARRAY
void	*reallocarray(void *, size_t, size_t);
#endif
#ifndef HAVE_EXPLICIT_BZERO
void	explicit_bzero(void *, size_t);
#endif

#endif
