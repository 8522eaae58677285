/*
 * aliases.c: the aliases file in the aliases(5) format that sendmail's
 * newaliases and Postfix's postalias read: "name: target, target", lines
 * that begin with white space continue the entry, lines whose first
 * non-blank character is '#' and blank lines are skipped (also between
 * continuation lines, as Postfix does). Names may be quoted (RFC 5322
 * §3.2.4 quoted-string) and are matched case-insensitively; targets are
 * split at commas that are not inside a quoted string, a comment or an
 * angle-bracketed address, and kept as written.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aliases.h"
#include "util.h"

/* Longer entries are refused rather than held in memory without bound. */
#define ALIAS_LINE_MAX	(64 * 1024)

/* An entry while the table is sorted: seq orders definitions of one name. */
struct pending {
	struct alias	 a;
	size_t		 seq;
};

void
aliases_init(struct aliases *al)
{
	al->v = NULL;
	al->n = 0;
	al->max_rcpts = ALIASES_MAX_RCPTS;
}

static void
alias_free(struct alias *a)
{
	size_t i;

	for (i = 0; i < a->ntargets; i++)
		free(a->targets[i].text);
	free(a->targets);
	free(a->name);
	a->targets = NULL;
	a->ntargets = 0;
	a->name = NULL;
}

void
aliases_free(struct aliases *al)
{
	size_t i;

	for (i = 0; i < al->n; i++)
		alias_free(&al->v[i]);
	free(al->v);
	aliases_init(al);
}


static enum alias_kind
target_kind(const char *t)
{
	/* sendmail also recognises these forms inside double quotes. */
	if (t[0] == '"')
		t++;
	if (t[0] == '|')
		return ALIAS_COMMAND;
	if (t[0] == '/')
		return ALIAS_FILE;
	if (ascii_strncasecmp(t, ":include:", 9) == 0)
		return ALIAS_INCLUDE;
	return ALIAS_ADDRESS;
}

static void
add_target(struct alias *a, const char *s, size_t len)
{
	struct alias_target *t;

	while (len > 0 && is_wsp((unsigned char)s[0])) {
		s++;
		len--;
	}
	while (len > 0 && is_wsp((unsigned char)s[len - 1]))
		len--;
	/* Skipped like newaliases: "a, , b" and a trailing comma. */
	if (len == 0)
		return;
	a->targets = xgrowarray(a->targets, a->ntargets, sizeof(*a->targets));
	t = &a->targets[a->ntargets++];
	t->text = xstrndup(s, len);
	t->kind = target_kind(t->text);
}

/*
 * Split the right-hand side at top-level commas. Returns 0, or -1 with a
 * reason when a quoted string, comment or angle bracket is left open.
 */
static int
split_targets(struct alias *a, const char *s, size_t len, const char **why)
{
	size_t i, start = 0;
	int quoted = 0, angle = 0, depth = 0;

	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if ((quoted || depth > 0) && c == '\\') {
			if (i + 1 < len)
				i++;
			continue;
		}
		if (quoted) {
			if (c == '"')
				quoted = 0;
			continue;
		}
		if (depth > 0) {
			if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		switch (c) {
		case '"':
			quoted = 1;
			break;
		case '(':
			depth++;
			break;
		case '<':
			angle = 1;
			break;
		case '>':
			angle = 0;
			break;
		case ',':
			if (!angle) {
				add_target(a, s + start, i - start);
				start = i + 1;
			}
			break;
		}
	}
	if (quoted) {
		*why = "unbalanced quote";
		return -1;
	}
	if (depth > 0) {
		*why = "unbalanced parenthesis";
		return -1;
	}
	if (angle) {
		*why = "unbalanced angle bracket";
		return -1;
	}
	add_target(a, s + start, len - start);
	return 0;
}

/* The name: a quoted string or the text before the first colon. */
static int
parse_name(struct alias *a, const char *s, size_t len, size_t *colon,
    const char **why)
{
	struct buf name;
	size_t i = 0;

	buf_init(&name);
	if (len > 0 && s[0] == '"') {
		for (i = 1; i < len && s[i] != '"'; i++) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			buf_addc(&name, s[i]);
		}
		if (i == len) {
			buf_free(&name);
			*why = "unbalanced quote in alias name";
			return -1;
		}
		for (i++; i < len && is_wsp((unsigned char)s[i]); i++)
			;
		if (i == len || s[i] != ':') {
			buf_free(&name);
			*why = "missing colon after alias name";
			return -1;
		}
	} else {
		const char *c = memchr(s, ':', len);
		size_t n;

		if (c == NULL) {
			*why = "missing colon after alias name";
			return -1;
		}
		i = (size_t)(c - s);
		for (n = i; n > 0 && is_wsp((unsigned char)s[n - 1]); n--)
			;
		buf_add(&name, s, n);
	}
	if (name.len == 0) {
		buf_free(&name);
		*why = "empty alias name";
		return -1;
	}
	a->name = buf_release(&name);
	ascii_lower(a->name);
	*colon = i;
	return 0;
}

static int
parse_entry(struct alias *a, const char *s, size_t len, const char **why)
{
	size_t colon;

	memset(a, 0, sizeof(*a));
	if (memchr(s, '\0', len) != NULL) {
		*why = "NUL byte";
		return -1;
	}
	if (parse_name(a, s, len, &colon, why) == -1)
		return -1;
	if (split_targets(a, s + colon + 1, len - colon - 1, why) == -1) {
		alias_free(a);
		return -1;
	}
	if (a->ntargets == 0) {
		alias_free(a);
		*why = "empty target list";
		return -1;
	}
	return 0;
}

static int
pending_cmp(const void *pa, const void *pb)
{
	const struct pending *a = pa, *b = pb;
	int r = ascii_strcasecmp(a->a.name, b->a.name);

	if (r != 0)
		return r;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * Sort old and new entries together and keep only the last definition of
 * each name, so that a later line replaces an earlier one as newaliases
 * does.
 */
static void
install(struct aliases *al, struct pending *p, size_t np)
{
	size_t i, n = 0;

	qsort(p, np, sizeof(*p), pending_cmp);
	free(al->v);
	al->v = xreallocarray(NULL, np, sizeof(*al->v));
	for (i = 0; i < np; i++) {
		if (i + 1 < np &&
		    ascii_strcasecmp(p[i].a.name, p[i + 1].a.name) == 0) {
			alias_free(&p[i].a);
			continue;
		}
		al->v[n++] = p[i].a;
	}
	al->n = n;
}

int
aliases_parse(struct aliases *al, const char *text, size_t len,
    const char *fname, char *err, size_t errlen)
{
	struct pending *p;
	struct buf entry;
	size_t np, i, pos = 0, lineno = 0, entry_line = 0;
	int have = 0, rc = -1;
	const char *why = NULL;

	np = al->n;
	p = xreallocarray(NULL, np + 1, sizeof(*p));
	for (i = 0; i < al->n; i++) {
		p[i].a = al->v[i];
		p[i].seq = i;
	}
	buf_init(&entry);
	for (;;) {
		const char *line = text + pos, *nl;
		size_t llen, k;
		int eof = pos >= len;

		if (!eof) {
			nl = memchr(line, '\n', len - pos);
			llen = nl ? (size_t)(nl - line) : len - pos;
			pos += llen + (nl != NULL);
			if (llen > 0 && line[llen - 1] == '\r')
				llen--;
			lineno++;
			for (k = 0; k < llen && is_wsp((unsigned char)line[k]);
			    k++)
				;
			if (k == llen || line[k] == '#')
				continue;
			if (k > 0) {
				if (!have) {
					entry_line = lineno;
					why = "continuation line with no "
					    "alias before it";
					goto fail;
				}
				if (entry.len + llen > ALIAS_LINE_MAX) {
					entry_line = lineno;
					why = "line too long (over 64 KiB)";
					goto fail;
				}
				buf_add(&entry, line, llen);
				continue;
			}
		}
		if (have) {
			p = xreallocarray(p, np + 1, sizeof(*p));
			if (parse_entry(&p[np].a, entry.data, entry.len,
			    &why) == -1)
				goto fail;
			p[np].seq = np;
			np++;
			buf_reset(&entry);
			have = 0;
		}
		if (eof)
			break;
		if (llen > ALIAS_LINE_MAX) {
			entry_line = lineno;
			why = "line too long (over 64 KiB)";
			goto fail;
		}
		buf_add(&entry, line, llen);
		have = 1;
		entry_line = lineno;
	}
	install(al, p, np);
	rc = 0;
	goto done;
fail:
	(void)snprintf(err, errlen, "%s:%zu: %s", fname, entry_line, why);
	for (i = al->n; i < np; i++)
		alias_free(&p[i].a);
done:
	free(p);
	buf_free(&entry);
	return rc;
}

int
aliases_load(struct aliases *al, const char *path, int must_exist,
    char *err, size_t errlen)
{
	struct buf text;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT && !must_exist)
			return 0;
		(void)snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf_init(&text);
	if (read_all(fd, (size_t)-1 / 2, 0, &text) != 0) {
		(void)snprintf(err, errlen, "%s: %s", path, strerror(errno));
		(void)close(fd);
		buf_free(&text);
		return -1;
	}
	(void)close(fd);
	rc = aliases_parse(al, text.data ? text.data : "", text.len, path,
	    err, errlen);
	buf_free(&text);
	return rc;
}

static int
lookup_cmp(const void *key, const void *elem)
{
	const struct alias *a = elem;

	return ascii_strcasecmp(key, a->name);
}

const struct alias *
aliases_lookup(const struct aliases *al, const char *name)
{
	if (al == NULL || al->n == 0)
		return NULL;
	return bsearch(name, al->v, al->n, sizeof(*al->v), lookup_cmp);
}
