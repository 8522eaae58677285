/* reallocarray: realloc(p, n * size) that fails instead of overflowing. */
#include "autoconf.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "compat.h"

void *
reallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n * size);
}
