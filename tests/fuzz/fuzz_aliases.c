/*
 * fuzz_aliases.c: the aliases file parser (aliases.c, SPEC §3, §10) on
 * any bytes, then the expansion of what it accepted (envelope.c).
 *
 * What parses must make a table a lookup can trust: names non-empty,
 * lower case, sorted and unique, each found by aliases_lookup() in any
 * case; targets non-empty, trimmed, and an "address" target never one of
 * the kinds mxsend refuses (|command, /file, :include:). Printed back in
 * aliases(5) form, the table must parse to the same table, and parsing
 * it again into the table itself must change nothing (a later definition
 * replaces an earlier one). Then the first few names are expanded as
 * command-line recipients: expansion must end, and every recipient it
 * keeps pending must have a domain and no CR or LF to put on the wire.
 */
/* fuzz-sources: src/aliases.c src/envelope.c src/rfc5322.c src/util.c */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aliases.h"
#include "envelope.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* aliases.c refuses longer entries; a printed table may be a bit longer. */
#define ENTRY_MAX	(64 * 1024)
/* Names expanded per input: enough to reach nested aliases. */
#define EXPAND_MAX	4

static int
refused_kind(const char *t)
{
	if (t[0] == '"')
		t++;
	return t[0] == '|' || t[0] == '/' ||
	    ascii_strncasecmp(t, ":include:", 9) == 0;
}

static void
check_alias(const struct aliases *al, size_t i)
{
	const struct alias *a = &al->v[i];
	char *upper;
	size_t k, n;

	n = strlen(a->name);
	if (n == 0 || a->ntargets == 0)
		abort();
	if (i > 0 && ascii_strcasecmp(al->v[i - 1].name, a->name) >= 0)
		abort();
	upper = xstrdup(a->name);
	for (k = 0; k < n; k++) {
		if (upper[k] >= 'A' && upper[k] <= 'Z')
			abort();	/* names are kept in lower case */
		if (upper[k] >= 'a' && upper[k] <= 'z')
			upper[k] = (char)(upper[k] - 'a' + 'A');
	}
	if (aliases_lookup(al, a->name) != a || aliases_lookup(al, upper) != a)
		abort();
	free(upper);
	for (k = 0; k < a->ntargets; k++) {
		const char *t = a->targets[k].text;

		n = strlen(t);
		if (n == 0 || is_wsp((unsigned char)t[0]) ||
		    is_wsp((unsigned char)t[n - 1]))
			abort();
		if ((a->targets[k].kind == ALIAS_ADDRESS) != !refused_kind(t))
			abort();
	}
}

/*
 * The table in aliases(5) form: one line per name, quoted when it could
 * not be read back unquoted, targets joined by commas and ended by one
 * (so a target ending in CR is not taken for a CRLF line end).
 */
static void
print_table(const struct aliases *al, struct buf *out)
{
	size_t i, k;

	for (i = 0; i < al->n; i++) {
		const char *name = al->v[i].name;

		if (strchr(name, ':') != NULL || name[0] == '"' ||
		    name[0] == '#' || is_wsp((unsigned char)name[0]) ||
		    is_wsp((unsigned char)name[strlen(name) - 1])) {
			buf_addc(out, '"');
			for (; *name != '\0'; name++) {
				if (*name == '"' || *name == '\\')
					buf_addc(out, '\\');
				buf_addc(out, *name);
			}
			buf_addc(out, '"');
		} else
			buf_add(out, name, strlen(name));
		buf_addc(out, ':');
		for (k = 0; k < al->v[i].ntargets; k++) {
			const char *t = al->v[i].targets[k].text;

			buf_add(out, t, strlen(t));
			buf_addc(out, ',');
		}
		buf_addc(out, '\n');
	}
}

static int
same_table(const struct aliases *a, const struct aliases *b)
{
	size_t i, k;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		if (strcmp(a->v[i].name, b->v[i].name) != 0 ||
		    a->v[i].ntargets != b->v[i].ntargets)
			return 0;
		for (k = 0; k < a->v[i].ntargets; k++)
			if (strcmp(a->v[i].targets[k].text,
			    b->v[i].targets[k].text) != 0 ||
			    a->v[i].targets[k].kind != b->v[i].targets[k].kind)
				return 0;
	}
	return 1;
}

static void
check_roundtrip(struct aliases *al)
{
	struct aliases again;
	struct buf text;
	const char *t;
	char err[256];

	buf_init(&text);
	print_table(al, &text);
	t = text.data != NULL ? text.data : "";
	aliases_init(&again);
	if (aliases_parse(&again, t, text.len, "again", err,
	    sizeof(err)) != 0) {
		/* Only a line the printing made longer may be refused. */
		if (strstr(err, "too long") == NULL || text.len <= ENTRY_MAX)
			abort();
	} else {
		if (!same_table(al, &again))
			abort();
		if (aliases_parse(al, t, text.len, "self", err,
		    sizeof(err)) != 0 || !same_table(al, &again))
			abort();
	}
	aliases_free(&again);
	buf_free(&text);
}

static void
expand(const struct aliases *al, const char *name)
{
	struct envelope env;
	struct options opts;
	char *const argv[1] = { (char *)name };
	char err[512];
	size_t i;

	memset(&opts, 0, sizeof(opts));
	opts.rcpts = argv;
	opts.nrcpts = 1;
	envelope_init(&env);
	if (envelope_add_recipients(&env, &opts, NULL, al, "example.org",
	    err, sizeof(err)) == 0) {
		for (i = 0; i < env.nrcpts; i++) {
			const struct rcpt *r = &env.rcpts[i];

			if (r->state != RCPT_PENDING)
				continue;
			/* "|x" from the command line is an address. */
			if (strpbrk(r->addr, "\r\n") != NULL ||
			    r->domain == NULL || r->domain[0] == '\0')
				abort();
		}
	}
	envelope_free(&env);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aliases al;
	char err[256];
	size_t i;

	aliases_init(&al);
	/* libFuzzer's empty input is NULL; aliases_load() passes "". */
	if (aliases_parse(&al, size > 0 ? (const char *)data : "", size,
	    "fuzz", err, sizeof(err)) == 0) {
		for (i = 0; i < al.n; i++)
			check_alias(&al, i);
		check_roundtrip(&al);
		for (i = 0; i < al.n && i < EXPAND_MAX; i++)
			expand(&al, al.v[i].name);
	} else if (strncmp(err, "fuzz:", 5) != 0 || strpbrk(err, "\r\n"))
		abort();
	aliases_free(&al);
	return 0;
}
