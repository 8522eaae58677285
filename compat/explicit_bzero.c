/* explicit_bzero: a memset the compiler may not remove (secrets). */
#include "autoconf.h"
#include <string.h>
#include "compat.h"

static void *(*const volatile memset_v)(void *, int, size_t) = memset;

void
explicit_bzero(void *p, size_t n)
{
	memset_v(p, 0, n);
}
