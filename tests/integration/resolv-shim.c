/*
 * resolv-shim.c: preloaded (LD_PRELOAD) into OpenDKIM's opendkim-testmsg
 * by test_dkim, whose libopendkim looks keys up with res_ninit() and
 * res_nquery(): after glibc's own res_ninit(), the name servers are
 * 127.0.0.1 port $MXTEST_DNS_PORT alone, the test's fakedns, which
 * serves the DKIM key records. Never loaded into mxsend. Built without
 * the sanitizers of the build: the program it is preloaded into has none.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <dlfcn.h>
#include <resolv.h>
#include <stdlib.h>

int
__res_ninit(res_state statp)
{
	int		(*real)(res_state);
	const char	*port = getenv("MXTEST_DNS_PORT");
	int		 rc;

	real = (int (*)(res_state))dlsym(RTLD_NEXT, "__res_ninit");
	if (real == NULL)
		return -1;
	rc = real(statp);
	if (rc == 0 && port != NULL) {
		/* sin_family set: res_send takes nsaddr_list[0], not _ext. */
		statp->nscount = 1;
		statp->nsaddr_list[0].sin_family = AF_INET;
		statp->nsaddr_list[0].sin_port = htons((in_port_t)atoi(port));
		statp->nsaddr_list[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	return rc;
}
