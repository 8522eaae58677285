/*
 * rfc5322.c: address lists and header fields of Internet messages.
 * RFC 5322 §2.2 (field names, unfolding), §3.2 (lexical tokens, CFWS),
 * §3.4 (address specification), §4.4 (obsolete addressing); RFC 2047
 * encoded words in display names; RFC 6532 UTF-8 in addresses. Addresses
 * come out in RFC 5321 §4.1.2 form (Dot-string or minimal Quoted-string).
 *
 * The input is cut into tokens first (atoms, quoted strings, domain
 * literals, specials; comments and folding become a "white space before"
 * flag), then a recursive descent parser works on the tokens. A construct
 * that never closes (quote, comment, domain literal) would otherwise hide
 * the rest of the list, so the lexer ends it at the next ',' or ';' and
 * the addresses after it still parse. Every scan is linear: once a quote,
 * comment or literal has been seen to run to the end, later ones are known
 * to do so without scanning again.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfc5322.h"
#include "util.h"

#define ERRTEXT_MAX	200
#define NONE		SIZE_MAX

enum tok_type {
	T_END,
	T_ATOM,		/* atext run, non-ASCII bytes included (RFC 6532) */
	T_QSTR,		/* quoted string; value unescaped and unfolded */
	T_DLIT,		/* domain literal; value between the brackets */
	T_SPECIAL,	/* one of < > @ , ; : . */
	T_BAD,		/* a byte that cannot appear outside a construct */
	T_ERR		/* a construct the lexer refused */
};

enum lex_err {
	E_QUOTE,	/* quoted string without its closing quote */
	E_COMMENT,	/* comment without its closing parenthesis */
	E_DLIT,		/* domain literal without its ']' */
	E_PAREN,	/* ')' without '(' */
	E_CHAR		/* bad byte inside a construct: c, where */
};

struct tok {
	enum tok_type	 type;
	int		 c;	/* special or bad byte */
	enum lex_err	 err;
	const char	*where;	/* E_CHAR: the construct */
	size_t		 off;	/* first source byte */
	size_t		 voff;	/* value: in lex.vals (QSTR, DLIT), source */
	size_t		 vlen;
	size_t		 match;	/* '<': index of its '>', else NONE */
	size_t		 end;	/* ATOM, QSTR: source offset after it */
	int		 ws;	/* CFWS before the token */
};

struct lex {
	const char	*s;
	size_t		 len;
	struct tok	*t;
	size_t		 nt;
	size_t		 cap;
	struct buf	 vals;
	size_t		 qdead;	/* a quote from here on never closes */
	size_t		 ddead;	/* nor a '[' */
	size_t		 cfrom;	/* the first comment that never closes */
	unsigned char	*copen;	/* per byte after cfrom: 1 opener, 2 dead */
};

struct parser {
	struct lex	*lx;
	size_t		 i;
	struct addrlist	*out;
	char		*group;		/* inside a group: its name */
	int		 in_group;
	int		 single;	/* one mailbox: "<>" allowed */
	size_t		 nnull;
	size_t		 nseps;
	char		 reason[160];
};


static int
is_atext(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80)
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Bytes refused inside any construct: controls other than HTAB, DEL. */
static int
is_ctl(int c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Length of a line break that is folding (CRLF or LF before WSP), or 0. */
static size_t
fold_at(const char *s, size_t len, size_t i)
{
	if (s[i] == '\r' && i + 2 < len && s[i + 1] == '\n' &&
	    is_wsp((unsigned char)s[i + 2]))
		return 2;
	if (s[i] == '\n' && i + 1 < len && is_wsp((unsigned char)s[i + 1]))
		return 1;
	return 0;
}



/* A byte as a reason shows it: 'x' when printable, else its code. */
static void
show_char(char *out, size_t outlen, int c)
{
	if (c > 0x20 && c < 0x7f)
		(void)snprintf(out, outlen, "'%c'", c);
	else
		(void)snprintf(out, outlen, "0x%02x", (unsigned)c & 0xff);
}

/* ------------------------------------------------------------ lexer */

static struct tok *
push(struct lex *lx, enum tok_type type, size_t off)
{
	struct tok *t;

	if (lx->nt == lx->cap) {
		lx->cap = lx->cap ? lx->cap * 2 : 64;
		lx->t = xreallocarray(lx->t, lx->cap, sizeof(*lx->t));
	}
	t = &lx->t[lx->nt++];
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->off = off;
	t->match = NONE;
	return t;
}

/* Where lexing resumes after a construct that never closes. */
static size_t
resume_at(const struct lex *lx, size_t p)
{
	size_t i;

	for (i = p + 1; i < lx->len; i++)
		if (lx->s[i] == ',' || lx->s[i] == ';')
			break;
	return i;
}

/*
 * Scan the comment opened at p; returns the offset of its ')' or len.
 * *bad is the first refused byte in it, or -1. With copen set, marks
 * every '(' seen: 1 when it closed, 2 when it stays open to the end.
 */
static size_t
comment_scan(struct lex *lx, size_t p, int *bad, unsigned char *copen)
{
	const char *s = lx->s;
	size_t i, k, depth = 0, *stack = NULL;
	int c;

	*bad = -1;
	if (copen != NULL)
		stack = xreallocarray(NULL, lx->len - p, sizeof(*stack));
	for (i = p; i < lx->len; i++) {
		c = (unsigned char)s[i];
		if (c == '\\') {
			if (i + 1 == lx->len) {
				i = lx->len;
				break;
			}
			c = (unsigned char)s[++i];
			if (is_ctl(c) && *bad < 0)
				*bad = c;
		} else if (c == '(') {
			if (copen != NULL) {
				stack[depth] = i;
				copen[i - p] = 2;
			}
			depth++;
		} else if (c == ')') {
			if (copen != NULL)
				copen[stack[depth - 1] - p] = 1;
			if (--depth == 0)
				break;
		} else if ((k = fold_at(s, lx->len, i)) > 0)
			i += k - 1;
		else if (is_ctl(c) && *bad < 0)
			*bad = c;
	}
	free(stack);
	return i < lx->len ? i : lx->len;
}

static void
lex_comment(struct lex *lx, size_t *ip, int *ws)
{
	size_t p = *ip, e;
	struct tok *t;
	int bad;

	if (lx->cfrom != NONE && p > lx->cfrom &&
	    lx->copen[p - lx->cfrom] == 2)
		e = lx->len;
	else
		e = comment_scan(lx, p, &bad, NULL);
	if (e == lx->len) {
		if (lx->cfrom == NONE) {
			lx->cfrom = p;
			lx->copen = xcalloc(lx->len - p, 1);
			(void)comment_scan(lx, p, &bad, lx->copen);
		}
		t = push(lx, T_ERR, p);
		t->err = E_COMMENT;
		t->ws = *ws;
		*ip = resume_at(lx, p);
		*ws = 0;
		return;
	}
	if (bad >= 0) {
		t = push(lx, T_ERR, p);
		t->err = E_CHAR;
		t->c = bad;
		t->where = "comment";
		t->ws = *ws;
		*ws = 0;
	} else
		*ws = 1;
	*ip = e + 1;
}

/*
 * A quoted string (close '"') or domain literal (close ']'): the value
 * unescaped, folding removed. Returns the offset of the closing byte or
 * len; *bad is the first refused byte.
 */
static size_t
quoted_scan(struct lex *lx, size_t p, int close, int *bad)
{
	const char *s = lx->s;
	size_t i, k;
	int c;

	*bad = -1;
	for (i = p + 1; i < lx->len; i++) {
		c = (unsigned char)s[i];
		if (c == close)
			return i;
		if (c == '\\') {
			if (i + 1 == lx->len)
				break;
			c = (unsigned char)s[++i];
		} else if ((k = fold_at(s, lx->len, i)) > 0) {
			i += k - 1;
			continue;
		} else if (close == ']' && c == '[' && *bad < 0)
			*bad = c;
		if (is_ctl(c)) {
			if (*bad < 0)
				*bad = c;
			continue;
		}
		buf_addc(&lx->vals, c);
	}
	return lx->len;
}

static void
lex_quoted(struct lex *lx, size_t *ip, int *ws)
{
	size_t p = *ip, e, voff = lx->vals.len, *dead;
	int close, bad = -1;
	struct tok *t;

	close = lx->s[p] == '"' ? '"' : ']';
	dead = close == '"' ? &lx->qdead : &lx->ddead;
	if (p >= *dead)
		e = lx->len;
	else
		e = quoted_scan(lx, p, close, &bad);
	if (e == lx->len) {
		if (p < *dead)
			*dead = p;
		lx->vals.len = voff;
		t = push(lx, T_ERR, p);
		t->err = close == '"' ? E_QUOTE : E_DLIT;
		t->ws = *ws;
		*ip = resume_at(lx, p);
	} else if (bad >= 0) {
		lx->vals.len = voff;
		t = push(lx, T_ERR, p);
		t->err = E_CHAR;
		t->c = bad;
		t->where = close == '"' ? "quoted string" : "domain literal";
		t->ws = *ws;
		*ip = e + 1;
	} else {
		t = push(lx, close == '"' ? T_QSTR : T_DLIT, p);
		t->voff = voff;
		t->vlen = lx->vals.len - voff;
		t->end = e + 1;
		t->ws = *ws;
		*ip = e + 1;
	}
	*ws = 0;
}

static void
lex_run(struct lex *lx)
{
	const char *s = lx->s;
	size_t i = 0, k;
	struct tok *t;
	int c, ws = 0;

	while (i < lx->len) {
		c = (unsigned char)s[i];
		if (is_wsp(c)) {
			ws = 1;
			i++;
			continue;
		}
		if ((k = fold_at(s, lx->len, i)) > 0) {
			ws = 1;
			i += k;
			continue;
		}
		if (c == '(') {
			lex_comment(lx, &i, &ws);
			continue;
		}
		if (c == '"' || c == '[') {
			lex_quoted(lx, &i, &ws);
			continue;
		}
		if (is_atext(c)) {
			t = push(lx, T_ATOM, i);
			t->voff = i;
			while (i < lx->len && is_atext((unsigned char)s[i]))
				i++;
			t->vlen = i - t->voff;
			t->end = i;
		} else if (strchr("<>@,;:.", c) != NULL && c != '\0') {
			t = push(lx, T_SPECIAL, i++);
			t->c = c;
		} else if (c == ')') {
			t = push(lx, T_ERR, i++);
			t->err = E_PAREN;
		} else {
			/*
			 * A quoted-pair outside quotes stays one bad token, so
			 * that "\(" or "\"" cannot open anything.
			 */
			t = push(lx, T_BAD, i);
			t->c = c;
			i += c == '\\' && i + 1 < lx->len ? 2 : 1;
		}
		t->ws = ws;
		ws = 0;
	}
	t = push(lx, T_END, lx->len);
	t->ws = ws;
}

/* Pair each '<' with its '>' so that skipping an element can jump. */
static void
lex_match(struct lex *lx)
{
	size_t i, depth = 0, *stack;

	stack = xreallocarray(NULL, lx->nt, sizeof(*stack));
	for (i = 0; i < lx->nt; i++) {
		if (lx->t[i].type != T_SPECIAL)
			continue;
		if (lx->t[i].c == '<')
			stack[depth++] = i;
		else if (lx->t[i].c == '>' && depth > 0)
			lx->t[stack[--depth]].match = i;
	}
	free(stack);
}

static void
lex_init(struct lex *lx, const char *s, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->s = s;
	lx->len = len;
	buf_init(&lx->vals);
	buf_add(&lx->vals, "", 0);	/* values never point into NULL */
	lx->qdead = lx->ddead = lx->cfrom = NONE;
	lex_run(lx);
	lex_match(lx);
}

static void
lex_free(struct lex *lx)
{
	free(lx->t);
	free(lx->copen);
	buf_free(&lx->vals);
}

static const char *
tok_val(const struct lex *lx, const struct tok *t)
{
	if (t->type == T_QSTR || t->type == T_DLIT)
		return lx->vals.data + t->voff;
	return lx->s + t->voff;
}

/* ----------------------------------------------------------- parser */

static struct tok *
cur(struct parser *p)
{
	return &p->lx->t[p->i];
}

static int
is_sp(const struct tok *t, int c)
{
	return t->type == T_SPECIAL && t->c == c;
}

static int
at_sep(const struct tok *t)
{
	return t->type == T_END || is_sp(t, ',') || is_sp(t, ';');
}

static int
failf(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
failf(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* Why token t cannot stand where ctx ("local part", ...) is parsed. */
static int
bad_token(struct parser *p, const struct tok *t, const char *ctx)
{
	const struct lex *lx = p->lx;
	char ch[16];
	size_t n, k;

	switch (t->type) {
	case T_ERR:
		switch (t->err) {
		case E_QUOTE:
			return failf(p, "unbalanced quote");
		case E_COMMENT:
			return failf(p, "unterminated comment");
		case E_DLIT:
			return failf(p, "unterminated domain literal");
		case E_PAREN:
			return failf(p, "unbalanced ')'");
		case E_CHAR:
			break;
		}
		ctx = t->where;
		/* FALLTHROUGH */
	case T_BAD:
		if (t->c == '\r' || t->c == '\n')
			return failf(p, "CR or LF not part of folding");
		if (t->c == '\0')
			return failf(p, "NUL byte");
		show_char(ch, sizeof(ch), t->c);
		return failf(p, "bad character %s in %s", ch, ctx);
	case T_DLIT:
		return failf(p, "bad character '[' in %s", ctx);
	case T_SPECIAL:
		return failf(p, "bad character '%c' in %s", t->c, ctx);
	case T_ATOM:
		/* Cut on a UTF-8 boundary: the reason is shown to people. */
		n = t->vlen;
		if (n > 24) {
			for (k = 24; k > 0 &&
			    ((unsigned char)tok_val(lx, t)[k] & 0xc0) == 0x80;
			    k--)
				;
			n = k;
		}
		return failf(p, "unexpected '%.*s'%s in %s", (int)n,
		    tok_val(lx, t), n < t->vlen ? "..." : "", ctx);
	case T_QSTR:
		return failf(p, "unexpected quoted string in %s", ctx);
	case T_END:
		break;
	}
	return failf(p, "unexpected end of %s", ctx);
}

/*
 * A phrase (display or group name) from the current token up to stop:
 * words, and the dots of obs-phrase. An unquoted '@' is taken as text in
 * a display name, as in the common foo@example.com <foo@example.com>.
 */
static int
parse_phrase(struct parser *p, size_t stop, const char *ctx, int allow_at,
    char **out)
{
	struct buf b;
	struct tok *t;
	size_t k;
	const char *v;

	*out = NULL;
	buf_init(&b);
	for (; p->i < stop; p->i++) {
		t = cur(p);
		if (t->type != T_ATOM && t->type != T_QSTR && !is_sp(t, '.') &&
		    !(allow_at && is_sp(t, '@'))) {
			buf_free(&b);
			return bad_token(p, t, ctx);
		}
		if (t->ws && b.len > 0)
			buf_addc(&b, ' ');
		if (t->type == T_SPECIAL) {
			buf_addc(&b, t->c);
			continue;
		}
		v = tok_val(p->lx, t);
		for (k = 0; k < t->vlen; k++)
			buf_addc(&b, v[k] == '\t' ? ' ' : v[k]);
	}
	if (b.len > 0)
		*out = rfc2047_decode(b.data, b.len);
	if (*out != NULL && **out == '\0') {
		free(*out);
		*out = NULL;
	}
	buf_free(&b);
	return 0;
}

static int
is_dot_string(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return 0;
		} else if (!is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/*
 * local-part / obs-local-part: words joined by dots, CFWS allowed
 * around the dots. The result is the semantic content in RFC 5321 form:
 * "john"@x is john@x, "john doe"@x stays quoted.
 */
static int
parse_local(struct parser *p, char **out, int *utf8)
{
	struct buf b, q;
	struct tok *t;
	const char *v;
	size_t k;

	*out = NULL;
	t = cur(p);
	if (is_sp(t, '.'))
		return failf(p, "local part begins with '.'");
	if (is_sp(t, '@'))
		return failf(p, "empty local part");
	buf_init(&b);
	for (;;) {
		t = cur(p);
		if (t->type != T_ATOM && t->type != T_QSTR)
			goto bad;
		v = tok_val(p->lx, t);
		for (k = 0; k < t->vlen; k++)
			if (is_ctl((unsigned char)v[k]) || v[k] == '\t') {
				char ch[16];

				show_char(ch, sizeof(ch), (unsigned char)v[k]);
				buf_free(&b);
				return failf(p,
				    "bad character %s in local part", ch);
			}
		if (!utf8_valid(v, t->vlen)) {
			buf_free(&b);
			return failf(p, "invalid UTF-8 in local part");
		}
		buf_add(&b, v, t->vlen);
		p->i++;
		t = cur(p);
		if (t->type == T_ATOM || t->type == T_QSTR) {
			buf_free(&b);
			return failf(p, t->ws ? "space in local part" :
			    "missing '.' in local part");
		}
		if (!is_sp(t, '.'))
			break;
		buf_addc(&b, '.');
		p->i++;
		t = cur(p);
		if (is_sp(t, '.')) {
			buf_free(&b);
			return failf(p, "'..' in local part");
		}
		if (at_sep(t) || is_sp(t, '@') || is_sp(t, '>')) {
			buf_free(&b);
			return failf(p, "local part ends with '.'");
		}
	}
	*utf8 |= has_8bit(b.data, b.len);
	if (is_dot_string(b.data, b.len)) {
		*out = buf_release(&b);
		return 0;
	}
	buf_init(&q);
	buf_addc(&q, '"');
	for (k = 0; k < b.len; k++) {
		if (b.data[k] == '"' || b.data[k] == '\\')
			buf_addc(&q, '\\');
		buf_addc(&q, b.data[k]);
	}
	buf_addc(&q, '"');
	buf_free(&b);
	*out = buf_release(&q);
	return 0;
bad:
	buf_free(&b);
	return bad_token(p, t, "local part");
}

/* RFC 5321 §4.1.3 address literals: IPv4, IPv6:, or tag:content. */
static int
literal_ok(const char *s, size_t len)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char tmp[64];
	size_t i, tag;

	if (len >= 5 && ascii_strncasecmp(s, "IPv6:", 5) == 0) {
		if (len - 5 >= sizeof(tmp))
			return 0;
		memcpy(tmp, s + 5, len - 5);
		tmp[len - 5] = '\0';
		return inet_pton(AF_INET6, tmp, addr) == 1;
	}
	if (memchr(s, ':', len) != NULL) {
		for (tag = 0; s[tag] != ':'; tag++)
			if (!((s[tag] >= 'a' && s[tag] <= 'z') ||
			    (s[tag] >= 'A' && s[tag] <= 'Z') ||
			    (s[tag] >= '0' && s[tag] <= '9') || s[tag] == '-'))
				return 0;
		if (tag == 0 || s[tag - 1] == '-' || tag + 1 == len)
			return 0;
		for (i = tag + 1; i < len; i++)
			if ((unsigned char)s[i] < 33 ||
			    (unsigned char)s[i] > 126 || s[i] == '[' ||
			    s[i] == '\\' || s[i] == ']')
				return 0;
		return 1;
	}
	if (len >= sizeof(tmp))
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET, tmp, addr) == 1;
}

static int
parse_literal(struct parser *p, const struct tok *t, char **out)
{
	const char *v = tok_val(p->lx, t);
	size_t n = t->vlen;

	while (n > 0 && is_wsp((unsigned char)v[0])) {
		v++;
		n--;
	}
	while (n > 0 && is_wsp((unsigned char)v[n - 1]))
		n--;
	if (n == 0)
		return failf(p, "empty domain literal");
	if (!literal_ok(v, n))
		return failf(p, "bad domain literal");
	*out = xasprintf("[%.*s]", (int)n, v);
	p->i++;
	return 0;
}

/* domain / obs-domain: atoms joined by dots, CFWS around the dots. */
static int
parse_domain(struct parser *p, char **out, int *utf8)
{
	struct buf b;
	struct tok *t;
	const char *v;
	char ch[16];
	size_t k;
	int c;

	*out = NULL;
	t = cur(p);
	if (t->type == T_DLIT)
		return parse_literal(p, t, out);
	if (at_sep(t) || is_sp(t, '>'))
		return failf(p, "empty domain");
	if (is_sp(t, '.'))
		return failf(p, "empty label in domain");
	if (is_sp(t, '@'))
		return failf(p, "more than one '@'");
	buf_init(&b);
	for (;;) {
		t = cur(p);
		if (t->type != T_ATOM) {
			buf_free(&b);
			if (at_sep(t) || is_sp(t, '.') || is_sp(t, '>'))
				return failf(p, "empty label in domain");
			return bad_token(p, t, "domain");
		}
		v = tok_val(p->lx, t);
		for (k = 0; k < t->vlen; k++) {
			c = (unsigned char)v[k];
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
			    c >= 0x80)
				continue;
			buf_free(&b);
			show_char(ch, sizeof(ch), c);
			return failf(p, "bad character %s in domain", ch);
		}
		if (!utf8_valid(v, t->vlen)) {
			buf_free(&b);
			return failf(p, "invalid UTF-8 in domain");
		}
		buf_add(&b, v, t->vlen);
		p->i++;
		if (!is_sp(cur(p), '.'))
			break;
		buf_addc(&b, '.');
		p->i++;
	}
	*utf8 |= has_8bit(b.data, b.len);
	*out = buf_release(&b);
	return 0;
}

/* addr-spec, or a bare local part (unqualified, "root"). */
static int
parse_addr_spec(struct parser *p, struct mailbox *mb)
{
	struct tok *t;

	if (parse_local(p, &mb->local, &mb->utf8) == -1)
		return -1;
	t = cur(p);
	if (at_sep(t) || is_sp(t, '>')) {
		/* Unqualified: "@domain" goes right after the local part. */
		mb->qualify_at = p->lx->t[p->i - 1].end;
		return 0;
	}
	if (!is_sp(t, '@'))
		return bad_token(p, t, "local part");
	p->i++;
	if (parse_domain(p, &mb->domain, &mb->utf8) == -1)
		return -1;
	if (is_sp(cur(p), '@'))
		return failf(p, "more than one '@'");
	return 0;
}

/*
 * angle-addr / obs-angle-addr with its obs-route ("<@a,@b:user@c>"),
 * which is dropped. Returns 1 for the null address "<>".
 */
static int
parse_angle(struct parser *p, struct mailbox *mb)
{
	struct tok *t;
	char *route;
	int dummy = 0;

	p->i++;
	t = cur(p);
	if (is_sp(t, '>')) {
		p->i++;
		if (!p->single)
			return failf(p, "empty address <>");
		return 1;
	}
	if (is_sp(t, '@') || is_sp(t, ',')) {
		for (;;) {
			t = cur(p);
			if (is_sp(t, ',')) {
				p->i++;
			} else if (is_sp(t, '@')) {
				p->i++;
				if (parse_domain(p, &route, &dummy) == -1)
					return -1;
				free(route);
			} else if (is_sp(t, ':')) {
				p->i++;
				break;
			} else if (is_sp(t, '>'))
				return failf(p, "empty local part");
			else
				return failf(p, "bad source route");
		}
	}
	if (parse_addr_spec(p, mb) == -1)
		return -1;
	t = cur(p);
	if (is_sp(t, '>')) {
		p->i++;
		return 0;
	}
	if (at_sep(t))
		return failf(p, "missing '>'");
	return bad_token(p, t, "angle address");
}

static void
mailbox_clear(struct mailbox *mb)
{
	free(mb->display);
	free(mb->local);
	free(mb->domain);
	free(mb->group);
	memset(mb, 0, sizeof(*mb));
}

/* One mailbox: name-addr or addr-spec. 1 when it was "<>". */
static int
parse_mailbox1(struct parser *p, size_t angle, struct mailbox *mb)
{
	int r;

	memset(mb, 0, sizeof(*mb));
	mb->qualify_at = NONE;
	if (angle == NONE)
		r = parse_addr_spec(p, mb);
	else if (parse_phrase(p, angle, "display name", 1, &mb->display) ==
	    -1)
		r = -1;
	else
		r = parse_angle(p, mb);
	if (r >= 0 && !at_sep(cur(p))) {
		if (cur(p)->type == T_ATOM || cur(p)->type == T_QSTR)
			r = failf(p, "unexpected text after address");
		else
			r = bad_token(p, cur(p), "address");
	}
	if (r != 0) {
		mailbox_clear(mb);
		return r;
	}
	if (p->in_group)
		mb->group = xstrdup(p->group ? p->group : "");
	p->out->v = xgrowarray(p->out->v, p->out->n, sizeof(*p->out->v));
	p->out->v[p->out->n++] = *mb;
	return 0;
}

/* The offending element as people will see it: one line, bounded. */
static char *
error_text(const struct lex *lx, size_t from, size_t to)
{
	struct buf b;
	size_t i, k;
	int c;

	buf_init(&b);
	for (i = from; i < to; i++) {
		c = (unsigned char)lx->s[i];
		if ((k = fold_at(lx->s, to, i)) > 0) {
			i += k - 1;
			continue;
		}
		buf_addc(&b, is_ctl(c) ? '?' : c == '\t' ? ' ' : c);
	}
	while (b.len > 0 && b.data[b.len - 1] == ' ')
		b.data[--b.len] = '\0';
	for (k = 0; k < b.len && b.data[k] == ' '; k++)
		;
	if (b.len - k > ERRTEXT_MAX) {
		i = k + ERRTEXT_MAX - 3;
		while (i > k && ((unsigned char)b.data[i] & 0xc0) == 0x80)
			i--;
		b.len = i;
		buf_adds(&b, "...");
	}
	if (k > 0) {
		memmove(b.data, b.data + k, b.len - k + 1);
		b.len -= k;
	}
	return buf_release(&b);
}

static void
record_error(struct parser *p, size_t start, size_t end)
{
	struct lex *lx = p->lx;
	struct addrlist *out = p->out;

	out->errs = xgrowarray(out->errs, out->nerrs, sizeof(*out->errs));
	out->errs[out->nerrs].text = error_text(lx, lx->t[start].off,
	    lx->t[end].off);
	out->errs[out->nerrs].reason = xstrdup(p->reason);
	out->nerrs++;
}

/*
 * Record the element that began at token start as refused, and move to
 * the ',' or ';' that ends it, jumping over "<...>" pairs; a '<' that is
 * never closed protects nothing.
 */
static void
fail_element(struct parser *p, size_t start, int whole_group)
{
	struct lex *lx = p->lx;
	struct tok *t;
	size_t i = p->i;

	for (;;) {
		t = &lx->t[i];
		if (t->type == T_END || is_sp(t, ';') ||
		    (is_sp(t, ',') && !whole_group))
			break;
		if (is_sp(t, '<') && t->match != NONE)
			i = t->match;
		i++;
	}
	p->i = i;
	record_error(p, start, i);
}

/* Tokens up to the first '<' or ':' of this element decide its kind. */
static size_t
classify(struct parser *p, int *kind)
{
	size_t i;
	struct tok *t;

	for (i = p->i;; i++) {
		t = &p->lx->t[i];
		if (at_sep(t))
			break;
		if (is_sp(t, '<') || is_sp(t, ':')) {
			*kind = t->c;
			return i;
		}
	}
	*kind = 0;
	return NONE;
}

static void
parse_group(struct parser *p, size_t colon, size_t start)
{
	struct mailbox mb;
	size_t estart, at;
	int kind, r;

	/*
	 * A bad name refuses the whole group: "a@x,\r\nBcc: b@y" must not
	 * yield b@y.
	 */
	if (parse_phrase(p, colon, "group name", 0, &p->group) == -1) {
		fail_element(p, start, 1);
		if (is_sp(cur(p), ';'))
			p->i++;
		return;
	}
	p->i++;
	p->in_group = 1;
	p->out->ngroups++;
	for (;;) {
		if (is_sp(cur(p), ',')) {
			p->i++;
			continue;
		}
		if (is_sp(cur(p), ';')) {
			p->i++;
			break;
		}
		/* A group without its ';' at the end is a common slip. */
		if (cur(p)->type == T_END)
			break;
		estart = p->i;
		at = classify(p, &kind);
		if (kind == ':')
			r = failf(p, "group inside a group");
		else
			r = parse_mailbox1(p, at, &mb);
		if (r == -1)
			fail_element(p, estart, 0);
		else if (r == 1)
			p->nnull++;
	}
	p->in_group = 0;
	free(p->group);
	p->group = NULL;
}

static void
parse_list(struct parser *p)
{
	struct mailbox mb;
	size_t start, at;
	int kind, r;

	for (;;) {
		if (cur(p)->type == T_END)
			break;
		/* Empty elements (obs-addr-list); ';' as Outlook uses it. */
		if (at_sep(cur(p))) {
			p->i++;
			p->nseps++;
			continue;
		}
		start = p->i;
		at = classify(p, &kind);
		if (kind == ':') {
			parse_group(p, at, start);
			continue;
		}
		r = parse_mailbox1(p, at, &mb);
		if (r == -1)
			fail_element(p, start, 0);
		else if (r == 1)
			p->nnull++;
	}
}

static void
parse_run(const char *s, size_t len, struct addrlist *out, int single,
    struct parser *p)
{
	struct lex lx;

	lex_init(&lx, s, len);
	memset(p, 0, sizeof(*p));
	p->lx = &lx;
	p->out = out;
	p->single = single;
	parse_list(p);
	p->lx = NULL;
	lex_free(&lx);
}

/* ------------------------------------------------------- interfaces */

void
addrlist_init(struct addrlist *l)
{
	memset(l, 0, sizeof(*l));
}

void
addrlist_free(struct addrlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		mailbox_free(&l->v[i]);
	for (i = 0; i < l->nerrs; i++) {
		free(l->errs[i].text);
		free(l->errs[i].reason);
	}
	free(l->v);
	free(l->errs);
	memset(l, 0, sizeof(*l));
}

void
mailbox_free(struct mailbox *mb)
{
	mailbox_clear(mb);
}

char *
mailbox_addr(const struct mailbox *mb)
{
	if (mb->domain == NULL)
		return xstrdup(mb->local ? mb->local : "");
	return xasprintf("%s@%s", mb->local, mb->domain);
}

void
rfc5322_parse_address_list(const char *s, size_t len, struct addrlist *out)
{
	struct parser p;

	parse_run(s, len, out, 0, &p);
}

int
rfc5322_parse_mailbox(const char *s, size_t len, struct mailbox *mb,
    char *err, size_t errlen)
{
	struct addrlist l;
	struct parser p;
	const char *why = NULL;

	memset(mb, 0, sizeof(*mb));
	if (memchr(s, '\r', len) != NULL || memchr(s, '\n', len) != NULL) {
		(void)snprintf(err, errlen, "contains CR or LF");
		return -1;
	}
	if (memchr(s, '\0', len) != NULL) {
		(void)snprintf(err, errlen, "contains NUL");
		return -1;
	}
	addrlist_init(&l);
	parse_run(s, len, &l, 1, &p);
	if (l.nerrs > 0)
		why = l.errs[0].reason;
	else if (l.ngroups > 0)
		why = "a group is not one address";
	else if (l.n + p.nnull > 1)
		why = "more than one address";
	else if (p.nseps > 0)
		why = "stray ',' or ';'";
	if (why != NULL) {
		(void)snprintf(err, errlen, "%s", why);
		addrlist_free(&l);
		return -1;
	}
	if (l.n == 1) {
		*mb = l.v[0];
		l.n = 0;
	} else
		mb->local = xstrdup("");
	addrlist_free(&l);
	return 0;
}

/* ------------------------------------------------------------ RFC 2047 */


static int
b_decode(const char *s, size_t n, struct buf *out)
{
	uint32_t acc = 0;
	size_t i, bits = 0, pad = 0;
	int v;

	for (i = 0; i < n; i++) {
		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64_char_value((unsigned char)s[i])) < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addc(out, (int)((acc >> bits) & 0xff));
		}
	}
	/* Padding is optional, but never more than the data allows. */
	if (pad > 2 || (pad > 0 && (n % 4) != 0) || bits >= 6)
		return -1;
	return 0;
}

static int
q_decode(const char *s, size_t n, struct buf *out)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] == '_')
			buf_addc(out, ' ');
		else if (s[i] == '=') {
			if (i + 2 >= n ||
			    (hi = hex_value((unsigned char)s[i + 1])) < 0 ||
			    (lo = hex_value((unsigned char)s[i + 2])) < 0)
				return -1;
			buf_addc(out, hi << 4 | lo);
			i += 2;
		} else
			buf_addc(out, s[i]);
	}
	return 0;
}

enum charset { CS_UTF8, CS_LATIN1, CS_OTHER };

static enum charset
charset_of(const char *s, size_t n)
{
	static const char *const utf8[] = { "utf-8", "utf8", "us-ascii",
	    "ascii", NULL };
	static const char *const latin1[] = { "iso-8859-1", "iso8859-1",
	    "latin1", NULL };
	const char *star;
	size_t i;

	/* RFC 2231 §5: "charset*language". */
	if ((star = memchr(s, '*', n)) != NULL)
		n = (size_t)(star - s);
	for (i = 0; utf8[i] != NULL; i++)
		if (strlen(utf8[i]) == n && ascii_strncasecmp(s, utf8[i], n) ==
		    0)
			return CS_UTF8;
	for (i = 0; latin1[i] != NULL; i++)
		if (strlen(latin1[i]) == n &&
		    ascii_strncasecmp(s, latin1[i], n) == 0)
			return CS_LATIN1;
	return CS_OTHER;
}

/* Decoded text may carry any byte; none of the controls may leave. */
static void
add_text(struct buf *out, const char *s, size_t n, enum charset cs)
{
	size_t i;
	int c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (is_ctl(c))
			buf_addc(out, '?');
		else if (cs == CS_LATIN1 && c >= 0x80) {
			buf_addc(out, 0xc0 | c >> 6);
			buf_addc(out, 0x80 | (c & 0x3f));
		} else
			buf_addc(out, c);
	}
}

/*
 * An encoded word at s ("=?cs?E?text?="): its length, with the decoded
 * UTF-8 appended to out; 0 when malformed or in an unknown charset.
 */
static size_t
encoded_word(const char *s, size_t len, struct buf *out)
{
	struct buf raw;
	size_t i, cs, cslen, text;
	enum charset set;
	int enc, r;

	if (len < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	cs = 2;
	for (i = cs; i < len && s[i] != '?'; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f ||
		    strchr("()<>@,;:\"/[].=", s[i]) != NULL)
			return 0;
	cslen = i - cs;
	if (cslen == 0 || i + 3 >= len || s[i + 2] != '?')
		return 0;
	enc = ascii_tolower((unsigned char)s[i + 1]);
	if (enc != 'b' && enc != 'q')
		return 0;
	text = i + 3;
	for (i = text; i < len && s[i] != '?'; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	if (i + 1 >= len || s[i + 1] != '=')
		return 0;
	if ((set = charset_of(s + cs, cslen)) == CS_OTHER)
		return 0;
	buf_init(&raw);
	r = enc == 'b' ? b_decode(s + text, i - text, &raw) :
	    q_decode(s + text, i - text, &raw);
	if (r == 0)
		add_text(out, raw.data, raw.len, set);
	buf_free(&raw);
	return r == 0 ? i + 2 : 0;
}

char *
rfc2047_decode(const char *s, size_t len)
{
	struct buf out;
	size_t i = 0, k, ws = 0, wslen = 0;
	int after_word = 0;

	buf_init(&out);
	while (i < len) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
		    s[i] == '\n') {
			if (wslen == 0)
				ws = i;
			wslen++;
			i++;
			continue;
		}
		if (s[i] == '=') {
			size_t mark = out.len;

			/* Space only between two encoded words is dropped. */
			if (!after_word)
				for (k = ws; k < ws + wslen; k++)
					if (s[k] == ' ' || s[k] == '\t')
						buf_addc(&out, s[k]);
			if ((k = encoded_word(s + i, len - i, &out)) > 0) {
				i += k;
				wslen = 0;
				after_word = 1;
				continue;
			}
			if (out.len > mark) {
				out.len = mark;
				out.data[mark] = '\0';
			}
		}
		for (k = ws; k < ws + wslen; k++)
			if (s[k] == ' ' || s[k] == '\t')
				buf_addc(&out, s[k]);
		wslen = 0;
		after_word = 0;
		add_text(&out, s + i, 1, CS_UTF8);
		i++;
	}
	for (k = ws; k < ws + wslen; k++)
		if (s[k] == ' ' || s[k] == '\t')
			buf_addc(&out, s[k]);
	return buf_release(&out);
}

/* ------------------------------------------------------ header fields */

size_t
rfc5322_field_name(const char *line, size_t len)
{
	size_t i, n;

	for (i = 0; i < len && (unsigned char)line[i] > ' ' &&
	    (unsigned char)line[i] < 0x7f && line[i] != ':'; i++)
		;
	if ((n = i) == 0)
		return 0;
	while (i < len && is_wsp((unsigned char)line[i]))
		i++;
	return i < len && line[i] == ':' ? n : 0;
}

char *
rfc5322_unfold(const char *value, size_t len)
{
	struct buf b;
	size_t i, k, start;

	buf_init(&b);
	for (i = 0; i < len; i++) {
		if ((k = fold_at(value, len, i)) > 0) {
			i += k - 1;
			continue;
		}
		if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
			buf_addc(&b, ' ');
		else
			buf_addc(&b, value[i]);
	}
	while (b.len > 0 && is_wsp((unsigned char)b.data[b.len - 1]))
		b.data[--b.len] = '\0';
	for (start = 0; start < b.len && is_wsp((unsigned char)b.data[start]);
	    start++)
		;
	if (start > 0) {
		memmove(b.data, b.data + start, b.len - start + 1);
		b.len -= start;
	}
	return buf_release(&b);
}
