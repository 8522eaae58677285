/*
 * fuzz_config.c: libFuzzer target for the configuration file parser
 * (SPEC §4, §10): any bytes as a file, then --config-check output, so the
 * printer sees every state the parser can leave. config_finish() is left
 * out: it opens the relay_password_file named by the input.
 */
/* fuzz-sources: src/config.c src/secret.c src/dkimkey.c src/util.c */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct config cfg;
	char err[512];

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		return 0;
	config_init(&cfg);
	(void)config_parse(&cfg, (const char *)data, size, "fuzz", err,
	    sizeof(err));
	config_print(&cfg, devnull);
	config_free(&cfg);
	return 0;
}
