/*
 * dkim.c: DKIM signatures (RFC 6376) over the message as it is
 * transmitted on a route (SPEC §5.4).
 *
 * What is signed is what msg_stream() writes for that route, header edits
 * and relay_from included, read through the same function that feeds the
 * SMTP session, so the two cannot differ. One pass over the spool hashes
 * the body (relaxed, §3.4.4) and keeps the signed header fields (relaxed,
 * §3.4.2) as it goes; memory holds those fields only, whatever the body's
 * size. A second variant (the relay route's, when relay_from rewrites
 * From:) reads the header section again and reuses the body hash. h= is
 * dkim_headers (§5.4; a field is taken bottom-up, §5.4.2, and over-signed
 * when listed twice); the field is folded within 78 columns (RFC 5322
 * §2.1.1) at the places the tag-list grammar allows FWS (§3.2, §3.5). The
 * key is read when the first signature is made: a key that vanished fails
 * that route, and the message is never sent unsigned where it must not be.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dkim.h"
#include "dkimkey.h"
#include "rfc5322.h"
#include "tls.h"
#include "util.h"

#define FOLD_AT		78	/* RFC 5322 §2.1.1 */
#define TAB_COLS	8
#define TXT_STRING_MAX	255	/* RFC 1035 §3.3.14 character-string */
#define GENKEY_RSA_BITS	2048

/* ------------------------------------------------- canonicalization */

void
dkim_canon_header(const char *f, size_t len, struct buf *out)
{
	const char	*colon = memchr(f, ':', len);
	size_t		 i, n = colon != NULL ? (size_t)(colon - f) : len;
	int		 sp = 0, text = 0;

	/* Name in lower case, without the white space before the colon. */
	while (n > 0 && is_wsp(f[n - 1]))
		n--;
	for (i = 0; i < n; i++)
		buf_addc(out, ascii_tolower((unsigned char)f[i]));
	buf_addc(out, ':');
	if (colon == NULL)
		return;
	/* Unfold; a run of WSP is one SP, none at either end of the value. */
	for (i = (size_t)(colon - f) + 1; i < len; i++) {
		if (f[i] == '\r' || f[i] == '\n')
			continue;
		if (is_wsp(f[i])) {
			sp = 1;
			continue;
		}
		if (sp && text)
			buf_addc(out, ' ');
		sp = 0;
		text = 1;
		buf_addc(out, f[i]);
	}
}

void
dkim_body_init(struct dkim_body *b, dkim_sink sink, void *ctx)
{
	memset(b, 0, sizeof(*b));
	b->sink = sink;
	b->ctx = ctx;
}

static void
body_emit(struct dkim_body *b, const char *p, size_t n)
{
	size_t	 k;

	while (n > 0) {
		if (b->nout == sizeof(b->out)) {
			b->sink(b->ctx, b->out, b->nout);
			b->nout = 0;
		}
		k = fill_upto(b->out, &b->nout, sizeof(b->out), p, n);
		p += k;
		n -= k;
	}
}

/* Text (no WSP, CR or LF): the empty lines and the space it follows. */
static void
body_text(struct dkim_body *b, const char *p, size_t n)
{
	if (!b->text) {
		for (; b->crlfs > 0; b->crlfs--)
			body_emit(b, "\r\n", 2);
		b->text = 1;
	}
	if (b->wsp) {
		body_emit(b, " ", 1);
		b->wsp = 0;
	}
	body_emit(b, p, n);
}

/* A line ends: one with text keeps its CRLF, an empty one is held. */
static void
body_eol(struct dkim_body *b)
{
	if (b->text)
		body_emit(b, "\r\n", 2);
	else
		b->crlfs++;
	b->text = 0;
	b->wsp = 0;
}

static int
plain_octet(char c)
{
	return c != '\r' && c != '\n' && !is_wsp(c);
}

void
dkim_body_add(struct dkim_body *b, const char *p, size_t n)
{
	size_t	 i = 0, j;

	while (i < n) {
		if (p[i] == '\n') {
			b->cr = 0;
			body_eol(b);
			i++;
			continue;
		}
		if (b->cr) {		/* a CR that no LF followed is text */
			b->cr = 0;
			body_text(b, "\r", 1);
		}
		if (p[i] == '\r')
			b->cr = 1;
		else if (is_wsp(p[i]))
			b->wsp = 1;
		else {
			for (j = i + 1; j < n && plain_octet(p[j]); j++)
				;
			body_text(b, p + i, j - i);
			i = j;
			continue;
		}
		i++;
	}
}

void
dkim_body_end(struct dkim_body *b)
{
	if (b->cr) {
		b->cr = 0;
		body_text(b, "\r", 1);
	}
	/* §3.4.4: a body with text that does not end in CRLF gets one. */
	if (b->text)
		body_emit(b, "\r\n", 2);
	b->text = 0;
	b->wsp = 0;
	b->crlfs = 0;
	if (b->nout > 0)
		b->sink(b->ctx, b->out, b->nout);
	b->nout = 0;
}

/* ------------------------------------------ the transmitted message */

/* A signed header field as transmitted, canonicalized. */
struct kept {
	char		*name;		/* lower case */
	struct buf	 canon;		/* "name:value" */
	int		 used;		/* taken by an h= entry already */
};

/* msg_stream()'s writer: the signed fields, and the body to its hash. */
struct collect {
	char *const	*names;		/* dkim_headers */
	size_t		 nnames;
	struct kept	*f;
	size_t		 nf;
	struct buf	 line;		/* the header line being read */
	struct buf	 cur;		/* the signed field being read */
	int		 keep;		/* cur is a signed field */
	int		 in_body;
	struct dkim_body *body;		/* NULL: the body is not wanted */
};

static void
collect_init(struct collect *c, const struct config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->names = cfg->dkim_headers;
	c->nnames = cfg->ndkim_headers;
	buf_init(&c->line);
	buf_init(&c->cur);
}

static void
collect_free(struct collect *c)
{
	size_t	 i;

	for (i = 0; i < c->nf; i++) {
		free(c->f[i].name);
		buf_free(&c->f[i].canon);
	}
	free(c->f);
	buf_free(&c->line);
	buf_free(&c->cur);
}

static int
listed(const struct collect *c, const char *name, size_t n)
{
	size_t	 i;

	for (i = 0; i < c->nnames; i++)
		if (strlen(c->names[i]) == n &&
		    ascii_strncasecmp(c->names[i], name, n) == 0)
			return 1;
	return 0;
}

static void
field_end(struct collect *c)
{
	struct kept	*k;
	const char	*colon;

	if (!c->keep)
		return;
	c->f = xgrowarray(c->f, c->nf, sizeof(*c->f));
	k = &c->f[c->nf++];
	memset(k, 0, sizeof(*k));
	buf_init(&k->canon);
	dkim_canon_header(c->cur.data, c->cur.len, &k->canon);
	colon = memchr(k->canon.data, ':', k->canon.len);
	k->name = xstrndup(k->canon.data, (size_t)(colon - k->canon.data));
	buf_reset(&c->cur);
	c->keep = 0;
}

static void
header_line(struct collect *c)
{
	const char	*l = c->line.data, *colon;
	size_t		 len = c->line.len, n;

	if (l[0] == '\n' || (l[0] == '\r' && len == 2)) {
		field_end(c);
		c->in_body = 1;
	} else if (is_wsp(l[0])) {
		if (c->keep)
			buf_add(&c->cur, l, len);
	} else {
		field_end(c);
		colon = memchr(l, ':', len);
		n = colon != NULL ? (size_t)(colon - l) : 0;
		while (n > 0 && is_wsp(l[n - 1]))
			n--;
		if ((c->keep = n > 0 && listed(c, l, n)))
			buf_add(&c->cur, l, len);
	}
	buf_reset(&c->line);
}

static int
collect_put(void *ctx, const char *p, size_t n)
{
	struct collect	*c = ctx;
	const char	*nl;
	size_t		 k;

	while (n > 0 && !c->in_body) {
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) + 1 : n;
		buf_add(&c->line, p, k);
		p += k;
		n -= k;
		if (nl != NULL)
			header_line(c);
	}
	if (n > 0 && c->body != NULL)
		dkim_body_add(c->body, p, n);
	return 0;
}

static size_t
kept_count(void *ctx, const char *name)
{
	const struct collect *c = ctx;
	size_t		 i, n = 0;

	for (i = 0; i < c->nf; i++)
		n += strcmp(c->f[i].name, name) == 0;
	return n;
}

void
dkim_h_list(char *const *names, size_t n,
    size_t (*count)(void *, const char *), void *ctx, struct buf *out)
{
	size_t	 i, j, nlisted, times;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (ascii_strcasecmp(names[j], names[i]) == 0)
				break;
		if (j < i)
			continue;	/* listed before: written there */
		for (nlisted = 0, j = i; j < n; j++)
			nlisted += ascii_strcasecmp(names[j], names[i]) == 0;
		times = count(ctx, names[i]) + (nlisted > 1);
		if (times < nlisted)
			times = nlisted;
		for (j = 0; j < times; j++) {
			if (out->len > 0)
				buf_addc(out, ':');
			buf_adds(out, names[i]);
		}
	}
}

/*
 * The fields h= names, in its order, each the last instance not taken
 * yet (§5.4.2), canonicalized with CRLF; a name with none left adds
 * nothing (§5.4): the header part of the hash input (§3.7).
 */
static void
signed_text(struct collect *c, const char *hlist, struct buf *out)
{
	const char	*p = hlist, *e;
	size_t		 n, i;
	struct kept	*k;

	while (*p != '\0') {
		e = strchr(p, ':');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		for (i = c->nf; i > 0; i--) {
			k = &c->f[i - 1];
			if (k->used || strlen(k->name) != n ||
			    memcmp(k->name, p, n) != 0)
				continue;
			k->used = 1;
			buf_add(out, k->canon.data, k->canon.len);
			buf_adds(out, "\r\n");
			break;
		}
		p += n + (e != NULL);
	}
}

/* ----------------------------------------------------- the field */

/* The field being written, and the column its last line reached. */
struct fold {
	struct buf	*b;
	size_t		 col;
};

/*
 * t[0..n) after a space when sp, on this line or, when it would pass
 * FOLD_AT, on the next (CRLF TAB: FWS where the grammar has it).
 */
static void
fold_token(struct fold *f, const char *t, size_t n, int sp)
{
	if (f->col + (size_t)sp + n > FOLD_AT && f->col > TAB_COLS) {
		buf_adds(f->b, "\r\n\t");
		f->col = TAB_COLS;
	} else if (sp) {
		buf_addc(f->b, ' ');
		f->col++;
	}
	buf_add(f->b, t, n);
	f->col += n;
}

static void
fold_tag(struct fold *f, const char *fmt, const char *v)
{
	char	*t = xasprintf(fmt, v);

	fold_token(f, t, strlen(t), 1);
	free(t);
}

/* base64 (b=), which may be broken anywhere (§3.5 base64string). */
static void
fold_base64(struct fold *f, const char *s)
{
	size_t	 n = strlen(s), k;

	while (n > 0) {
		if (f->col >= FOLD_AT) {
			buf_adds(f->b, "\r\n\t");
			f->col = TAB_COLS;
		}
		k = FOLD_AT - f->col < n ? FOLD_AT - f->col : n;
		buf_add(f->b, s, k);
		f->col += k;
		s += k;
		n -= k;
	}
}

/* "h=a:b:c;", broken after a colon when needed (§3.5 FWS in h=). */
static void
fold_hlist(struct fold *f, const char *hlist)
{
	const char	*p = hlist, *e;
	char		*t;
	size_t		 n;

	while (*p != '\0') {
		e = strchr(p, ':');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		t = xasprintf("%s%.*s%s", p == hlist ? "h=" : "", (int)n, p,
		    e != NULL ? ":" : ";");
		fold_token(f, t, strlen(t), p == hlist);
		free(t);
		p += n + (e != NULL);
	}
}

/* The field up to "b=", whose value is signed as empty (§3.5 b=). */
static void
field_head(struct fold *f, const struct config *cfg, enum tls_key_type type,
    const char *hlist, const char *bh)
{
	char	 t[32];

	buf_adds(f->b, "DKIM-Signature:");
	f->col = 15;
	fold_token(f, "v=1;", 4, 1);
	fold_tag(f, "a=%s-sha256;", dkimkey_name(type));
	fold_token(f, "c=relaxed/relaxed;", 18, 1);
	fold_tag(f, "d=%s;", cfg->dkim_domain);
	fold_tag(f, "s=%s;", cfg->dkim_selector);
	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	fold_tag(f, "t=%s;", t);
	fold_hlist(f, hlist);
	fold_tag(f, "bh=%s;", bh);
	fold_token(f, "b=", 2, 1);
}

/* ---------------------------------------------------- the signer */

struct variant {
	int		 done;
	char		*field;		/* CRLF-terminated; NULL: failed */
	size_t		 len;
	char		 err[512];
};

struct dkim {
	const struct config	*cfg;
	const struct message	*msg;
	pthread_mutex_t		 mu;
	struct tls_key		*key;
	int			 have_bh;
	unsigned char		 bh[32];
	struct variant		 v[2];	/* msg_stream() flags 0, MSG_RELAY */
};

/* A dkim_sink into a hash, remembering a failure. */
struct hsink {
	struct tls_hash	*h;
	int		 failed;
};

static void
hsink_put(void *ctx, const char *p, size_t n)
{
	struct hsink	*s = ctx;

	if (tls_hash_add(s->h, p, n) != 0)
		s->failed = 1;
}

int
dkim_route_signed(const struct config *cfg, enum route_method route)
{
	return cfg->dkim_key != NULL &&
	    (cfg->dkim_routes & (1u << route)) != 0;
}

struct dkim *
dkim_new(const struct config *cfg, const struct message *msg)
{
	struct dkim	*d;

	if (cfg->dkim_key == NULL)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	d->cfg = cfg;
	d->msg = msg;
	pthread_mutex_init(&d->mu, NULL);
	return d;
}

void
dkim_free(struct dkim *d)
{
	size_t	 i;

	if (d == NULL)
		return;
	tls_key_free(d->key);
	for (i = 0; i < 2; i++)
		free(d->v[i].field);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

/* The key, read from dkim_key now (SPEC §4: at each attempt). */
static int
load_key(struct dkim *d, char *err, size_t errlen)
{
	struct dkimkey	 k;
	char		 why[256];
	int		 rc;

	if (d->key != NULL)
		return 0;
	if (dkimkey_read(d->cfg->dkim_key, &k, err, errlen) != 0)
		return -1;
	rc = tls_key_import(k.pem.data, k.pem.len, &d->key, why, sizeof(why));
	if (rc != 0)
		snprintf(err, errlen, "dkim_key %s: %s", d->cfg->dkim_key, why);
	dkimkey_free(&k);
	return rc;
}

/*
 * One pass of msg_stream() for the variant flags: its signed fields into
 * c, and the body hash when it is not known yet.
 */
static int
read_variant(struct dkim *d, int flags, struct collect *c, char *err,
    size_t errlen)
{
	struct dkim_body body;
	struct hsink	 hs = { NULL, 0 };
	int		 rc, saved;

	if (!d->have_bh) {
		if (tls_hash_begin(&hs.h, err, errlen) != 0)
			return -1;
		dkim_body_init(&body, hsink_put, &hs);
		c->body = &body;
	} else
		flags |= MSG_HEADERS_ONLY;
	rc = msg_stream(d->msg, flags, collect_put, c);
	saved = errno;
	field_end(c);
	if (c->body != NULL) {
		dkim_body_end(&body);
		c->body = NULL;
		d->have_bh = rc == 0 && !hs.failed;
		tls_hash_end(hs.h, d->have_bh ? d->bh : NULL);
	}
	if (rc != 0) {
		snprintf(err, errlen, "reading the spooled message: %s",
		    strerror(saved));
		return -1;
	}
	if (hs.failed) {
		snprintf(err, errlen, "hashing the body failed");
		return -1;
	}
	return 0;
}

/* b= of the header hash: the fields of h=, then this one (§3.7). */
static int
sign_fields(struct dkim *d, struct collect *c, const char *hlist,
    struct fold *f, char *err, size_t errlen)
{
	struct tls_hash	*h;
	struct buf	 text;
	unsigned char	 digest[32], *sig;
	size_t		 siglen;
	char		*b64;
	int		 rc;

	if (tls_hash_begin(&h, err, errlen) != 0)
		return -1;
	buf_init(&text);
	signed_text(c, hlist, &text);
	dkim_canon_header(f->b->data, f->b->len, &text);
	rc = tls_hash_add(h, text.data, text.len);
	buf_free(&text);
	tls_hash_end(h, digest);
	if (rc != 0) {
		snprintf(err, errlen, "hashing the header failed");
		return -1;
	}
	if (tls_key_sign(d->key, digest, &sig, &siglen, err, errlen) != 0)
		return -1;
	b64 = b64_encode(sig, siglen);
	free(sig);
	fold_base64(f, b64);
	free(b64);
	buf_adds(f->b, "\r\n");
	return 0;
}

/* -v: what was signed, and whether From: aligns with d= (DMARC). */
static char *
variant_note(const struct dkim *d, const struct collect *c, int flags)
{
	struct addrlist	 l;
	const char	*from = NULL, *dom = NULL;
	const char	*alg = dkimkey_name(tls_key_type(d->key, NULL));
	char		*note;
	size_t		 i;

	for (i = 0; i < c->nf && from == NULL; i++)
		if (strcmp(c->f[i].name, "from") == 0)
			from = c->f[i].canon.data + 5;
	addrlist_init(&l);
	if (from != NULL)
		rfc5322_parse_address_list(from, strlen(from), &l);
	if (l.n > 0)
		dom = l.v[0].domain;
	if (dom != NULL && dkim_aligned(dom, d->cfg->dkim_domain))
		note = xasprintf("DKIM-Signature added%s: d=%s s=%s "
		    "a=%s-sha256",
		    (flags & MSG_RELAY) ? " (relay route)" : "",
		    d->cfg->dkim_domain, d->cfg->dkim_selector, alg);
	else
		note = xasprintf("warning: DKIM d=%s, but the From: domain "
		    "is %s: not %s or a subdomain of it, so DMARC alignment "
		    "fails", d->cfg->dkim_domain, dom != NULL ? dom :
		    "unknown", d->cfg->dkim_domain);
	addrlist_free(&l);
	return note;
}

/* Make the variant's field, or say why not. */
static void
sign_variant(struct dkim *d, int flags, struct variant *v, char **note)
{
	struct collect	 c;
	struct fold	 f;
	struct buf	 field, hlist;
	char		*bh;

	buf_init(&field);
	buf_init(&hlist);
	collect_init(&c, d->cfg);
	if (load_key(d, v->err, sizeof(v->err)) != 0 ||
	    read_variant(d, flags, &c, v->err, sizeof(v->err)) != 0)
		goto out;
	dkim_h_list(d->cfg->dkim_headers, d->cfg->ndkim_headers, kept_count,
	    &c, &hlist);
	bh = b64_encode(d->bh, sizeof(d->bh));
	f.b = &field;
	field_head(&f, d->cfg, tls_key_type(d->key, NULL), hlist.data, bh);
	free(bh);
	if (sign_fields(d, &c, hlist.data, &f, v->err, sizeof(v->err)) != 0)
		goto out;
	*note = variant_note(d, &c, flags);
	v->len = field.len;
	v->field = buf_release(&field);
out:
	buf_free(&field);
	buf_free(&hlist);
	collect_free(&c);
}

const char *
dkim_field(struct dkim *d, int msg_flags, size_t *len, char **note,
    char *err, size_t errlen)
{
	struct variant	*v = &d->v[(msg_flags & MSG_RELAY) ? 1 : 0];
	const char	*field;

	*note = NULL;
	pthread_mutex_lock(&d->mu);
	if (!v->done) {
		v->done = 1;
		sign_variant(d, msg_flags & MSG_RELAY, v, note);
	}
	field = v->field;
	*len = v->len;
	if (field == NULL)
		snprintf(err, errlen, "DKIM signing failed: %s", v->err);
	pthread_mutex_unlock(&d->mu);
	return field;
}

int
dkim_signed_headers(const struct config *cfg, const struct message *msg,
    int msg_flags, struct buf *hlist, struct buf *text)
{
	struct collect	 c;
	int		 rc;

	collect_init(&c, cfg);
	rc = msg_stream(msg, msg_flags | MSG_HEADERS_ONLY, collect_put, &c);
	field_end(&c);
	if (rc == 0) {
		dkim_h_list(cfg->dkim_headers, cfg->ndkim_headers, kept_count,
		    &c, hlist);
		signed_text(&c, hlist->data, text);
	}
	collect_free(&c);
	return rc == 0 ? 0 : -1;
}

int
dkim_aligned(const char *domain, const char *d)
{
	size_t	 n = strlen(domain), k = strlen(d);

	while (n > 0 && domain[n - 1] == '.')
		n--;
	while (k > 0 && d[k - 1] == '.')
		k--;
	if (k == 0 || n < k || ascii_strncasecmp(domain + n - k, d, k) != 0)
		return 0;
	return n == k || domain[n - k - 1] == '.';
}

/* ------------------------------------------------ the DNS record */

char *
dkim_record(const char *pem, size_t len, char *err, size_t errlen)
{
	struct tls_key	*key;
	unsigned char	*pub;
	size_t		 publen;
	char		*b64, *rec;

	if (tls_key_import(pem, len, &key, err, errlen) != 0)
		return NULL;
	if (tls_key_public(key, &pub, &publen, err, errlen) != 0) {
		tls_key_free(key);
		return NULL;
	}
	b64 = b64_encode(pub, publen);
	rec = xasprintf("v=DKIM1; k=%s; p=%s",
	    dkimkey_name(tls_key_type(key, NULL)), b64);
	free(b64);
	free(pub);
	tls_key_free(key);
	return rec;
}

/* The record as a zone-file line, in strings of at most 255 octets. */
static void
print_zone(FILE *out, const char *selector, const char *domain,
    const char *rec)
{
	size_t	 n = strlen(rec), k;

	fprintf(out, "%s._domainkey.%s. IN TXT (", selector, domain);
	while (n > 0) {
		k = n > TXT_STRING_MAX ? TXT_STRING_MAX : n;
		fprintf(out, " \"%.*s\"", (int)k, rec);
		rec += k;
		n -= k;
	}
	fputs(" )\n", out);
}

int
dkim_print(const struct config *cfg, FILE *out, char *err, size_t errlen)
{
	struct dkimkey	 k;
	char		*rec;

	if (cfg->dkim_key == NULL)
		return 0;
	if (dkimkey_read(cfg->dkim_key, &k, err, errlen) != 0)
		return -1;
	rec = dkim_record(k.pem.data, k.pem.len, err, errlen);
	if (rec == NULL) {
		dkimkey_free(&k);
		return -1;
	}
	fprintf(out, "dkim_algorithm %s-sha256 (%u-bit key)\n",
	    dkimkey_name(k.type), k.bits);
	fprintf(out, "dkim_dns_name %s._domainkey.%s\n", cfg->dkim_selector,
	    cfg->dkim_domain);
	fprintf(out, "dkim_dns_txt %s\n", rec);
	fputs("dkim_dns_zone ", out);
	print_zone(out, cfg->dkim_selector, cfg->dkim_domain, rec);
	free(rec);
	dkimkey_free(&k);
	return 0;
}

/* ---------------------------------------------------- --dkim-genkey */

/* Write pem to name, which must not exist, readable by its owner only. */
static int
write_key(const char *name, const char *pem, size_t len, char *err,
    size_t errlen)
{
	int	 fd, saved;

	fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s%s", name, strerror(errno),
		    errno == EEXIST ? " (never replaced: move it away "
		    "first)" : "");
		return -1;
	}
	/* The umask may have taken bits away, never added any. */
	if (fchmod(fd, 0600) != 0 || write_all(fd, pem, len) != 0 ||
	    fsync(fd) != 0) {
		saved = errno;
		close(fd);
		(void)unlink(name);
		snprintf(err, errlen, "%s: %s", name, strerror(saved));
		return -1;
	}
	return close(fd) == 0 ? 0 : -1;
}

static int
genkey_args(const char *selector, const char *domain, const char *type,
    enum tls_key_type *t, char *err, size_t errlen)
{
	if (!valid_hostname(selector, 1) || selector[strlen(selector) - 1] ==
	    '.') {
		snprintf(err, errlen, "--dkim-genkey: bad selector \"%s\"",
		    selector);
		return -1;
	}
	if (!valid_hostname(domain, 0) || domain[strlen(domain) - 1] == '.') {
		snprintf(err, errlen, "--dkim-genkey: bad domain \"%s\"",
		    domain);
		return -1;
	}
	if (type == NULL || strcmp(type, "rsa") == 0)
		*t = TLS_KEY_RSA;
	else if (strcmp(type, "ed25519") == 0)
		*t = TLS_KEY_ED25519;
	else {
		snprintf(err, errlen, "--dkim-genkey: key type \"%s\": rsa "
		    "or ed25519", type);
		return -1;
	}
	return 0;
}

int
dkim_genkey(const char *selector, const char *domain, const char *type,
    FILE *out, char *err, size_t errlen)
{
	enum tls_key_type t;
	char		*pem = NULL, *rec = NULL, *name, cwd[PATH_MAX];
	size_t		 len = 0;
	int		 rc = -2;

	if (genkey_args(selector, domain, type, &t, err, errlen) != 0)
		return -1;
	name = xasprintf("%s._domainkey.%s.key", selector, domain);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		snprintf(err, errlen, "--dkim-genkey: the current directory: "
		    "%s", strerror(errno));
	else if (tls_key_generate(t, GENKEY_RSA_BITS, &pem, &len, err,
	    errlen) == 0 && (rec = dkim_record(pem, len, err, errlen)) !=
	    NULL && write_key(name, pem, len, err, errlen) == 0) {
		fprintf(out, "# %s/%s written (mode 0600); for mxsend.conf:\n"
		    "dkim_domain %s\ndkim_selector %s\ndkim_key %s/%s\n"
		    "# publish this TXT record in the DNS of %s:\n", cwd, name,
		    domain, selector, cwd, name, domain);
		print_zone(out, selector, domain, rec);
		rc = 0;
	}
	if (pem != NULL)
		explicit_bzero(pem, len);
	free(pem);
	free(rec);
	free(name);
	return rc;
}
