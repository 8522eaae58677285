/*
 * fuzz_probes.c: the probe counter's parser (probes.c, SPEC §2 -bv, §10)
 * on any bytes, then the table operations on what it accepted.
 *
 * What parses must be a table the limit can trust: every domain non-empty
 * graphic ASCII, every count from 1 to PROBES_COUNT_MAX, and a domain's
 * count at least each of its lines. Formatted again it must parse to the
 * same table and format to the same bytes. Pruning never raises a count;
 * adding n raises it by n (up to the cap), taking back what was added
 * restores it.
 */
/* fuzz-sources: src/probes.c src/queue.c src/intake.c src/message.c src/envelope.c src/aliases.c src/rfc5322.c src/util.c */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probes.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_lines(const struct probe_table *pt)
{
	const char *d;
	size_t i;

	for (i = 0; i < pt->n; i++) {
		for (d = pt->v[i].domain; *d != '\0'; d++)
			if (*d < '!' || *d > '~')
				abort();
		if (pt->v[i].domain[0] == '\0' || pt->v[i].n < 1 ||
		    pt->v[i].n > PROBES_COUNT_MAX || pt->v[i].t < 0)
			abort();
		if (probe_table_count(pt, pt->v[i].domain) < pt->v[i].n)
			abort();
	}
}

static void
check_round_trip(const struct probe_table *pt)
{
	struct probe_table again;
	char err[128], *text, *text2;
	size_t len, len2, i;

	text = probe_table_format(pt, &len);
	if (probe_table_parse(&again, text, len, err, sizeof(err)) != 0 ||
	    again.n != pt->n)
		abort();
	for (i = 0; i < pt->n; i++)
		if (strcmp(again.v[i].domain, pt->v[i].domain) != 0 ||
		    again.v[i].t != pt->v[i].t || again.v[i].n != pt->v[i].n)
			abort();
	text2 = probe_table_format(&again, &len2);
	if (len2 != len || memcmp(text, text2, len) != 0)
		abort();
	free(text);
	free(text2);
	probe_table_free(&again);
}

/* Operations on the first line's domain, at its time plus one hour. */
static void
check_operations(struct probe_table *pt)
{
	char *domain;
	int64_t now;
	unsigned before, after;

	if (pt->n == 0)
		return;
	domain = xstrdup(pt->v[0].domain);
	now = pt->v[0].t + PROBES_WINDOW / 2;
	before = probe_table_count(pt, domain);
	probe_table_prune(pt, now);
	after = probe_table_count(pt, domain);
	if (after > before || after < 1)
		abort();
	/* No line is after now once pruned: now + 1 is a new line. */
	if (after > UINT32_MAX - 7)
		goto out;
	probe_table_add(pt, domain, now + 1, 7);
	if (probe_table_count(pt, domain) != after + 7)
		abort();
	probe_table_sub(pt, domain, now + 1, 7);
	if (probe_table_count(pt, domain) != after)
		abort();
	check_lines(pt);
out:
	free(domain);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_table pt;
	char err[128];

	/* libFuzzer's empty input is NULL. */
	if (probe_table_parse(&pt, size > 0 ? (const char *)data : "", size,
	    err, sizeof(err)) != 0) {
		if (strncmp(err, "line ", 5) != 0 || pt.n != 0)
			abort();
		return 0;
	}
	check_lines(&pt);
	check_round_trip(&pt);
	check_operations(&pt);
	probe_table_free(&pt);
	return 0;
}
