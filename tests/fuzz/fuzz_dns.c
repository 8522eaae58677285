/*
 * fuzz_dns.c: arbitrary DNS answer packets through the MX answer walk
 * (ns_initparse, ns_parserr, dn_expand, CNAME chains, MX/A/AAAA rdata
 * checks). A hostile server must never crash it or make it read out of
 * bounds (SPEC §10).
 */
/* fuzz-sources: src/dns.c src/lookup.c src/util.c */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx_route r;
	size_t i;

	(void)dns_parse_mx_answer(data, size, "example.com", &r);
	for (i = 0; i < r.nhosts; i++)
		if (r.hosts[i].name[0] == '\0' ||
		    strlen(r.hosts[i].name) >= DNS_NAME_MAX)
			abort();
	mx_route_free(&r);
	return 0;
}
