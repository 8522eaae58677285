/*
 * envelope.c: the envelope sender and the recipient set of one message.
 *
 * Recipients come from the command line and, with -t, from the address
 * fields (RFC 5322 §3.6.3; §3.6.6: when the message is being resent, the
 * Resent- fields name the recipients instead). They are qualified with
 * the default domain, expanded through the aliases as sendmail does (a
 * name that lists itself is delivered to, not expanded again), converted
 * to the RFC 5321 §4.1.2 form with the domain lower-cased and in A-labels
 * (RFC 5890, UTS #46 mapping as browsers and curl apply it), deduplicated
 * (local parts are case-sensitive, RFC 5321 §2.4; domains are not) and
 * grouped by domain for delivery. libidn2 is opened with dlopen(3) at the
 * first domain that is not ASCII (SPEC §9), so that the common all-ASCII
 * run does not pay for loading it.
 */
#include "autoconf.h"

#include <dlfcn.h>
#include <idn2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlnote.h"
#include "envelope.h"
#include "rfc5322.h"
#include "util.h"

/* Deeper expansion is taken for a loop (sendmail's MAXRCRSN is 10). */
#define ALIAS_MAX_DEPTH	10

/* Longest piece of user input quoted back in an error. */
#define SHOW_MAX	200

/* Indexes of the recipients already present, hashed by address. */
struct seen {
	size_t		*slot;		/* index + 1; 0 = empty */
	size_t		 cap;		/* a power of two */
	size_t		 n;
};

struct expand {
	struct envelope		*env;
	const struct aliases	*al;
	const char		*domain;	/* default domain as given */
	char			*local_domain;	/* the same in A-labels */
	int			 notify;
	unsigned char		*done;		/* per alias: expanded */
	unsigned char		*active;	/* per alias: being expanded, so
						   meeting it again is a loop */
	/* One recipient's expansion, bounded by al->max_rcpts: */
	int			 bounded;	/* being counted */
	int			 over;		/* it went past the bound */
	size_t			 mark;		/* env->nrcpts when it began */
	size_t			*undo;		/* aliases it marked done */
	size_t			 nundo;
	struct seen		 seen;
	size_t			 rcap;		/* env->rcpts allocated, doubled
						   so that appending stays
						   linear */
};

void
envelope_init(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
}

static void
free_groups(struct envelope *env)
{
	size_t i;

	for (i = 0; i < env->ndomains; i++) {
		free(env->domains[i].domain);
		free(env->domains[i].rcpt);
	}
	free(env->domains);
	env->domains = NULL;
	env->ndomains = 0;
}

static void
rcpt_free(struct rcpt *r)
{
	free(r->addr);
	free(r->orig);
	free(r->reason);
	free(r->relay);
	free(r->tls);
}

void
envelope_free(struct envelope *env)
{
	size_t i;

	for (i = 0; i < env->nrcpts; i++)
		rcpt_free(&env->rcpts[i]);
	free(env->rcpts);
	free(env->sender);
	free_groups(env);
	envelope_init(env);
}

void
envelope_truncate(struct envelope *env, size_t n)
{
	while (env->nrcpts > n)
		rcpt_free(&env->rcpts[--env->nrcpts]);
	free_groups(env);
}

/* A copy of user input that is safe to print on one line. */
static char *
printable(const char *s)
{
	size_t i, n = strlen(s);
	char *p;

	if (n > SHOW_MAX)
		n = SHOW_MAX;
	p = xstrndup(s, n);
	/* A folded header value reads as one line. */
	for (i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n')
			p[i] = ' ';
	(void)text_printable(p, n);
	return p;
}



/* RFC 5321 §4.1.2 allows no control character, even in a quoted string. */
static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* ------------------------------------------------- libidn2, on demand */

#define IDN2_SONAME	"libidn2.so.0"

DLNOTE(idn2_note, "[{\"feature\":\"idn\",\"description\":\"Recipient "
    "domains in Unicode (IDNA 2008 A-labels)\",\"priority\":"
    "\"recommended\",\"soname\":[\"" IDN2_SONAME "\"]}]");

static struct {
	__typeof__(idn2_to_ascii_8z)	*to_ascii_8z;
	__typeof__(idn2_strerror)	*strerror;
	__typeof__(idn2_free)		*free;
} idn;
static pthread_once_t	 idn_once = PTHREAD_ONCE_INIT;
static char		 idn_err[200];	/* "" once loaded */

static void
idn_load(void)
{
	const char	*e;
	void		*h, *f[3];
	static const char *const names[3] = {
		"idn2_to_ascii_8z", "idn2_strerror", "idn2_free"
	};
	size_t		 i;

	if ((h = dlopen(IDN2_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL)
		goto bad;
	for (i = 0; i < 3; i++) {
		(void)dlerror();
		if ((f[i] = dlsym(h, names[i])) == NULL) {
			e = dlerror();
			(void)snprintf(idn_err, sizeof(idn_err),
			    "cannot load libidn2: %s", e ? e : names[i]);
			dlclose(h);
			return;
		}
	}
	/* POSIX: a dlsym() result converts to a function pointer. */
	memcpy(&idn.to_ascii_8z, &f[0], sizeof(f[0]));
	memcpy(&idn.strerror, &f[1], sizeof(f[1]));
	memcpy(&idn.free, &f[2], sizeof(f[2]));
	return;
bad:
	e = dlerror();
	(void)snprintf(idn_err, sizeof(idn_err), "cannot load libidn2: %s",
	    e ? e : IDN2_SONAME);
}

char *
envelope_domain_to_ascii(const char *domain, char *err, size_t errlen)
{
	const char *p;
	char *out = NULL, *res;
	int rc;

	if (domain == NULL || domain[0] == '\0') {
		(void)snprintf(err, errlen, "empty domain");
		return NULL;
	}
	for (p = domain; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f || c == ' ') {
			(void)snprintf(err, errlen,
			    "invalid character in domain");
			return NULL;
		}
	}
	if (domain[0] == '[') {
		/* RFC 5321 §4.1.3: the literal goes to the wire as written. */
		if (p[-1] != ']' || p - domain < 3) {
			(void)snprintf(err, errlen, "malformed domain literal");
			return NULL;
		}
		res = xstrdup(domain);
		ascii_lower(res);
		return res;
	}
	if (!has_8bit(domain, strlen(domain))) {
		res = xstrdup(domain);
		ascii_lower(res);
		return res;
	}
	pthread_once(&idn_once, idn_load);
	if (idn_err[0] != '\0') {
		(void)snprintf(err, errlen, "%s", idn_err);
		return NULL;
	}
	rc = idn.to_ascii_8z(domain, &out,
	    IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (rc != IDN2_OK) {
		/*
		 * Names valid under IDNA 2003 only (symbols, some scripts):
		 * the transitional mapping still gives them the A-labels
		 * their owners registered, as curl does.
		 */
		int rc2 = idn.to_ascii_8z(domain, &out, IDN2_TRANSITIONAL);

		if (rc2 != IDN2_OK) {
			(void)snprintf(err, errlen, "%s", idn.strerror(rc));
			return NULL;
		}
	}
	res = xstrdup(out);
	idn.free(out);
	ascii_lower(res);
	return res;
}

/*
 * RFC 5321 §4.5.3.1.1-2: what makes local@domain (domain in A-labels) too
 * long for any server to have to take it, or NULL. An address literal
 * has no labels.
 */
static const char *
too_long(const char *local, const char *domain)
{
	const char *p;
	size_t label = 0;

	if (strlen(local) > 64)
		return "the local part is longer than 64 octets";
	if (domain == NULL)
		return NULL;
	if (strlen(domain) > 255)
		return "the domain is longer than 255 octets";
	if (domain[0] == '[')
		return NULL;
	for (p = domain; *p != '\0'; p++) {
		label = *p == '.' ? 0 : label + 1;
		if (label > 63)
			return "a label of the domain is longer than 63 "
			    "octets";
	}
	return NULL;
}

/* ---------------------------------------------------------- the sender */

/* "login" as an RFC 5321 local part: a dot-atom, else a quoted string. */
static char *
local_part(const char *s)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
	struct buf b;
	const char *p;
	int atom = *s != '\0' && *s != '.';

	for (p = s; *p != '\0' && atom; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '.')
			atom = p[1] != '.' && p[1] != '\0';
		else if (!(c >= 0x80 || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr(atext, c) != NULL))
			atom = 0;
	}
	if (atom)
		return xstrdup(s);
	buf_init(&b);
	buf_addc(&b, '"');
	for (p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_addc(&b, '\\');
		buf_addc(&b, *p);
	}
	buf_addc(&b, '"');
	return buf_release(&b);
}

static int
sender_from(struct envelope *env, const char *value, const char *what,
    const char *default_domain, char *err, size_t errlen)
{
	struct mailbox mb;
	char why[256], *show, *dom;
	const char *p;

	for (p = value; *p == ' ' || *p == '\t'; p++)
		;
	if (strpbrk(value, "\r\n") != NULL)
		(void)snprintf(why, sizeof(why), "contains CR or LF");
	else if (*p == '-')
		(void)snprintf(why, sizeof(why), "begins with '-'");
	else if (rfc5322_parse_mailbox(value, strlen(value), &mb, why,
	    sizeof(why)) == 0) {
		if (mb.local[0] == '\0' && mb.domain == NULL) {
			mailbox_free(&mb);
			env->sender = xstrdup("");
			env->sender_smtputf8 = 0;
			return 0;
		}
		if (has_ctl(mb.local)) {
			mailbox_free(&mb);
			(void)snprintf(why, sizeof(why),
			    "control character in the local part");
			goto bad;
		}
		dom = envelope_domain_to_ascii(mb.domain ? mb.domain :
		    default_domain, why, sizeof(why));
		if (dom != NULL && too_long(mb.local, dom) != NULL) {
			strlcpy(why, too_long(mb.local, dom), sizeof(why));
			free(dom);
			dom = NULL;
		}
		if (dom != NULL) {
			env->sender = xasprintf("%s@%s", mb.local, dom);
			env->sender_smtputf8 = has_8bit(mb.local,
			    strlen(mb.local));
			free(dom);
			mailbox_free(&mb);
			return 0;
		}
		mailbox_free(&mb);
	}
bad:
	show = printable(value);
	(void)snprintf(err, errlen, "%s '%s': %s", what, show, why);
	free(show);
	return -1;
}

int
envelope_set_sender(struct envelope *env, const char *opt_sender,
    const struct config *cfg, const char *default_domain, const char *login,
    char *err, size_t errlen)
{
	char why[256], *local, *dom;

	free(env->sender);
	env->sender = NULL;
	env->sender_smtputf8 = 0;
	if (opt_sender != NULL)
		return sender_from(env, opt_sender, "invalid sender address",
		    default_domain, err, errlen);
	if (cfg != NULL && cfg->sender != NULL)
		return sender_from(env, cfg->sender,
		    "invalid sender address in the configuration",
		    default_domain, err, errlen);
	if (login == NULL || login[0] == '\0') {
		(void)snprintf(err, errlen, "no login name for the sender");
		return -1;
	}
	if (strpbrk(login, "\r\n") != NULL) {
		(void)snprintf(err, errlen,
		    "invalid login name for the sender: contains CR or LF");
		return -1;
	}
	dom = envelope_domain_to_ascii(default_domain, why, sizeof(why));
	if (dom == NULL) {
		char *show = printable(default_domain ? default_domain : "");

		(void)snprintf(err, errlen, "invalid default domain '%s': %s",
		    show, why);
		free(show);
		return -1;
	}
	local = local_part(login);
	env->sender = xasprintf("%s@%s", local, dom);
	env->sender_smtputf8 = has_8bit(local, strlen(local));
	free(local);
	free(dom);
	return 0;
}

/* ------------------------------------------------------- deduplication */

static size_t
local_len(const struct rcpt *r)
{
	if (r->domain > r->addr && r->domain[-1] == '@')
		return (size_t)(r->domain - r->addr) - 1;
	return strlen(r->addr);
}

static uint64_t
rcpt_hash(const struct rcpt *r)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */
	size_t i, n = local_len(r);
	const char *d;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)r->addr[i]) * 1099511628211ULL;
	h = (h ^ '@') * 1099511628211ULL;
	for (d = r->domain; *d != '\0'; d++)
		h = (h ^ (unsigned)ascii_tolower((unsigned char)*d)) *
		    1099511628211ULL;
	return h;
}

static int
rcpt_same(const struct rcpt *a, const struct rcpt *b)
{
	size_t n = local_len(a);

	return n == local_len(b) && memcmp(a->addr, b->addr, n) == 0 &&
	    ascii_strcasecmp(a->domain, b->domain) == 0;
}

/*
 * Look for a recipient equal to rcpts[idx]; when there is none, remember
 * idx and return 0, else return 1.
 */
static int
seen_check(struct seen *s, const struct rcpt *rcpts, size_t idx)
{
	size_t i, mask;

	if (s->n * 2 >= s->cap) {
		size_t *old = s->slot, oldcap = s->cap, k;

		s->cap = s->cap ? s->cap * 2 : 64;
		s->slot = xcalloc(s->cap, sizeof(*s->slot));
		s->n = 0;
		for (k = 0; k < oldcap; k++)
			if (old[k] != 0)
				(void)seen_check(s, rcpts, old[k] - 1);
		free(old);
	}
	mask = s->cap - 1;
	for (i = rcpt_hash(&rcpts[idx]) & mask; s->slot[i] != 0;
	    i = (i + 1) & mask)
		if (rcpt_same(&rcpts[s->slot[i] - 1], &rcpts[idx]))
			return 1;
	s->slot[i] = idx + 1;
	s->n++;
	return 0;
}

/*
 * Append a recipient unless it is already there (the first one keeps its
 * orig). addr and reason are taken over; domain_off is where the domain
 * starts in addr (strlen(addr) when it has none).
 */
static void
add_rcpt(struct expand *x, char *addr, size_t domain_off, const char *orig,
    enum rcpt_origin origin, enum rcpt_fail fail, const char *dsn,
    char *reason)
{
	struct envelope *env = x->env;
	struct rcpt *r;

	if (env->nrcpts == x->rcap) {
		x->rcap = x->rcap ? x->rcap * 2 : 8;
		env->rcpts = xreallocarray(env->rcpts, x->rcap,
		    sizeof(*env->rcpts));
	}
	r = &env->rcpts[env->nrcpts];
	memset(r, 0, sizeof(*r));
	r->addr = addr;
	r->domain = addr + domain_off;
	if (seen_check(&x->seen, env->rcpts, env->nrcpts)) {
		free(addr);
		free(reason);
		return;
	}
	if (x->over || (x->bounded &&
	    env->nrcpts - x->mark >= x->al->max_rcpts)) {
		/*
		 * Past the bound: the slot seen_check() took goes with the
		 * rest of the expansion (forget_from() rebuilds the table).
		 */
		x->over = 1;
		free(addr);
		free(reason);
		return;
	}
	r->orig = xstrdup(orig);
	r->notify = x->notify;
	r->origin = origin;
	r->fail = fail;
	r->reason = reason;
	r->smtputf8 = has_8bit(addr, local_len(r));
	if (fail == FAIL_NONE)
		r->state = RCPT_PENDING;
	else {
		r->state = RCPT_FAILED;
		(void)strlcpy(r->dsn, dsn, sizeof(r->dsn));
	}
	env->nrcpts++;
}

static void
add_failed(struct expand *x, const char *text, const char *orig,
    enum rcpt_origin origin, enum rcpt_fail fail, const char *dsn,
    char *reason)
{
	char *addr = printable(text);
	char *at = strrchr(addr, '@');
	char *show = printable(orig);

	add_rcpt(x, addr, at ? (size_t)(at - addr) + 1 : strlen(addr), show,
	    origin, fail, dsn, reason);
	free(show);
}

/* ------------------------------------------------------ alias expansion */

/* The local part as aliases(5) names it: unquoted and lower case. */
static char *
alias_key(const char *local)
{
	struct buf b;
	const char *p;

	if (local[0] != '"')
		b.data = xstrdup(local);
	else {
		buf_init(&b);
		for (p = local + 1; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			buf_addc(&b, *p);
		}
		b.data = buf_release(&b);
	}
	ascii_lower(b.data);
	return b.data;
}

static void	resolve(struct expand *, const char *, const char *,
		    const char *, enum rcpt_origin, int, const struct alias *);

static const char *
refusal(enum alias_kind kind)
{
	switch (kind) {
	case ALIAS_COMMAND:
		return "mxsend never runs commands";
	case ALIAS_FILE:
		return "mxsend never writes to files";
	default:
		return "mxsend never reads :include: files";
	}
}

static void
expand_alias(struct expand *x, const struct alias *a, int depth)
{
	struct mailbox mb;
	char why[256];
	size_t i;

	for (i = 0; i < a->ntargets && !x->over; i++) {
		const struct alias_target *t = &a->targets[i];

		if (t->kind != ALIAS_ADDRESS) {
			char *show = printable(t->text);

			add_failed(x, t->text, a->name, ORIGIN_ALIAS,
			    FAIL_ALIAS_KIND, "5.3.0",
			    xasprintf("alias '%s' target '%s' refused: %s",
			    a->name, show, refusal(t->kind)));
			free(show);
			continue;
		}
		if (rfc5322_parse_mailbox(t->text, strlen(t->text), &mb, why,
		    sizeof(why)) == -1) {
			add_failed(x, t->text, a->name, ORIGIN_ALIAS,
			    FAIL_SYNTAX, "5.1.3",
			    xasprintf("bad address syntax in alias '%s': %s",
			    a->name, why));
			continue;
		}
		if (mb.local[0] == '\0' && mb.domain == NULL)
			add_failed(x, t->text, a->name, ORIGIN_ALIAS,
			    FAIL_SYNTAX, "5.1.3",
			    xasprintf("bad address syntax in alias '%s': "
			    "null address", a->name));
		else
			resolve(x, mb.local, mb.domain, a->name, ORIGIN_ALIAS,
			    depth, a);
		mailbox_free(&mb);
	}
}

/*
 * Expand a, reached as addr: once per message (a later mention adds
 * nothing new), and never again while it is being expanded (a loop).
 */
static void
expand_found(struct expand *x, const struct alias *a, const char *addr,
    const char *orig, enum rcpt_origin origin, int depth)
{
	size_t idx = (size_t)(a - x->al->v);

	if (x->done[idx])
		return;
	if (x->active[idx]) {
		add_failed(x, addr, orig, origin, FAIL_ALIAS_LOOP, "5.4.6",
		    xasprintf("alias loop: '%s' leads back to '%s'", orig,
		    a->name));
		return;
	}
	if (depth >= ALIAS_MAX_DEPTH) {
		add_failed(x, addr, orig, origin, FAIL_ALIAS_LOOP, "5.4.6",
		    xasprintf("alias loop: expanding '%s' went deeper than "
		    "%d levels", a->name, ALIAS_MAX_DEPTH));
		return;
	}
	x->active[idx] = 1;
	expand_alias(x, a, depth + 1);
	x->active[idx] = 0;
	x->done[idx] = 1;
	if (x->bounded) {
		x->undo = xgrowarray(x->undo, x->nundo, sizeof(*x->undo));
		x->undo[x->nundo++] = idx;
	}
}

/* Drop the recipients from index n on, and what the table knew of them. */
static void
forget_from(struct expand *x, size_t n)
{
	size_t i;

	envelope_truncate(x->env, n);
	if (x->seen.cap > 0)
		memset(x->seen.slot, 0, x->seen.cap * sizeof(*x->seen.slot));
	x->seen.n = 0;
	for (i = 0; i < n; i++)
		(void)seen_check(&x->seen, x->env->rcpts, i);
}

/*
 * A recipient as given that is an alias: its whole expansion, at most
 * al->max_rcpts addresses. Past that, none of them is used (the
 * aliases it expanded count as not expanded) and the recipient fails,
 * naming the alias: a list that big is a mistake in the file, and half
 * of it is not what the sender asked for.
 */
static void
expand_counted(struct expand *x, const struct alias *a, const char *addr,
    const char *orig, enum rcpt_origin origin)
{
	size_t i;

	x->bounded = x->al->max_rcpts > 0;
	x->over = 0;
	x->mark = x->env->nrcpts;
	x->nundo = 0;
	expand_found(x, a, addr, orig, origin, 0);
	x->bounded = 0;
	if (!x->over)
		return;
	x->over = 0;
	for (i = 0; i < x->nundo; i++)
		x->done[x->undo[i]] = 0;
	forget_from(x, x->mark);
	add_failed(x, addr, orig, origin, FAIL_ALIAS_LOOP, "5.5.3",
	    xasprintf("alias '%s' expands to more than %zu addresses "
	    "(alias_max_recipients)", a->name, x->al->max_rcpts));
}

/*
 * The alias of local@dom when the address is local: unqualified, or at
 * the default domain (dom in A-labels). NULL otherwise.
 */
static const struct alias *
local_alias(const struct expand *x, const char *local, int unqualified,
    const char *dom)
{
	const struct alias *a;
	char *key;

	if (x->al == NULL || x->al->n == 0 || (!unqualified &&
	    (x->local_domain == NULL ||
	    ascii_strcasecmp(dom, x->local_domain) != 0)))
		return NULL;
	key = alias_key(local);
	a = aliases_lookup(x->al, key);
	free(key);
	return a;
}

/*
 * Why local@domain (domain NULL: unqualified) cannot be an address, as
 * a failed recipient; 0 when it can (*dom: the domain in A-labels, or
 * NULL when no domain is known), -1 when it was added as failed.
 */
static int
check_address(struct expand *x, const char *local, const char *domain,
    const char *orig, enum rcpt_origin origin, char **dom)
{
	const char *d = domain != NULL ? domain : x->domain;
	char why[256], *text, *show;

	*dom = NULL;
	text = d != NULL ? xasprintf("%s@%s", local, d) : xstrdup(local);
	if (has_ctl(local))
		add_failed(x, text, orig, origin, FAIL_SYNTAX, "5.1.3",
		    xstrdup("bad address syntax: control character in the "
		    "local part"));
	else if (d != NULL &&
	    (*dom = envelope_domain_to_ascii(d, why, sizeof(why))) == NULL) {
		show = printable(d);
		add_failed(x, text, orig, origin, FAIL_IDNA, "5.1.2",
		    xasprintf("cannot convert domain '%s' to ASCII: %s",
		    show, why));
		free(show);
	} else if (*dom != NULL && too_long(local, *dom) != NULL) {
		free(text);
		text = xasprintf("%s@%s", local, *dom);
		add_failed(x, text, orig, origin, FAIL_SYNTAX, "5.1.3",
		    xasprintf("bad address: %s", too_long(local, *dom)));
		free(*dom);
		*dom = NULL;
	} else {
		free(text);
		return 0;
	}
	free(text);
	return -1;
}

/*
 * An unqualified address that is no alias, when this host has no
 * domain to give it (SPEC §4 default_domain): "root@box" would only
 * come back as an unknown domain, so say what to do instead.
 */
static void
no_domain(struct expand *x, const char *local, const char *orig,
    enum rcpt_origin origin)
{
	char *show = printable(local);

	add_failed(x, local, orig, origin, FAIL_NOHOST, "5.1.2",
	    xasprintf("cannot qualify '%s': this host's name has no domain "
	    "and /etc/mailname names none; set default_domain (in "
	    "mxsend.conf or MXSEND_DEFAULT_DOMAIN) or an alias for '%s'",
	    show, show));
	free(show);
}

/*
 * One address: qualify, convert the domain, expand a local name (unless
 * it is the alias being expanded, which then delivers to itself), and add
 * what results.
 */
static void
resolve(struct expand *x, const char *local, const char *domain,
    const char *orig, enum rcpt_origin origin, int depth,
    const struct alias *parent)
{
	const struct alias *a;
	char *dom, *addr;

	if (check_address(x, local, domain, orig, origin, &dom) != 0)
		return;
	addr = dom != NULL ? xasprintf("%s@%s", local, dom) : xstrdup(local);
	a = local_alias(x, local, domain == NULL, dom);
	if (a != NULL && a != parent) {
		if (depth == 0)
			expand_counted(x, a, addr, orig, origin);
		else
			expand_found(x, a, addr, orig, origin, depth);
		free(addr);
	} else if (dom == NULL) {
		free(addr);
		no_domain(x, local, orig, origin);
	} else
		add_rcpt(x, addr, strlen(local) + 1, orig, origin, FAIL_NONE,
		    NULL, NULL);
	free(dom);
}

static void
add_mailboxes(struct expand *x, const struct addrlist *l,
    enum rcpt_origin origin)
{
	size_t i;

	for (i = 0; i < l->nerrs; i++)
		add_failed(x, l->errs[i].text, l->errs[i].text, origin,
		    FAIL_SYNTAX, "5.1.3",
		    xasprintf("bad address syntax: %s", l->errs[i].reason));
	for (i = 0; i < l->n; i++) {
		char *orig = mailbox_addr(&l->v[i]);

		if (l->v[i].local[0] == '\0')
			add_failed(x, orig[0] ? orig : "<>", orig, origin,
			    FAIL_SYNTAX, "5.1.3",
			    xstrdup("bad address syntax: empty local part"));
		else
			resolve(x, l->v[i].local, l->v[i].domain, orig,
			    origin, 0, NULL);
		free(orig);
	}
}

/* A field name compared as written, white space before the colon aside. */
static int
field_is(const char *name, const char *want)
{
	size_t n = strlen(want);

	if (ascii_strncasecmp(name, want, n) != 0)
		return 0;
	for (name += n; *name == ' ' || *name == '\t'; name++)
		;
	return *name == '\0';
}

static void
add_from_header(struct expand *x, const struct message *msg)
{
	static const char *const plain[] = { "To", "Cc", "Bcc", NULL };
	static const char *const resent[] = { "Resent-To", "Resent-Cc",
	    "Resent-Bcc", NULL };
	const char *const *names = plain;
	struct addrlist l;
	size_t i, k;

	for (i = 0; i < msg->nfields; i++)
		if (ascii_strncasecmp(msg->fields[i].name, "Resent-", 7) == 0)
			names = resent;
	addrlist_init(&l);
	for (i = 0; i < msg->nfields; i++) {
		const struct hfield *f = &msg->fields[i];

		if (f->value == NULL)
			continue;
		for (k = 0; names[k] != NULL; k++)
			if (field_is(f->name, names[k]))
				break;
		if (names[k] == NULL)
			continue;
		rfc5322_parse_address_list(f->value, strlen(f->value), &l);
	}
	add_mailboxes(x, &l, ORIGIN_HEADER);
	addrlist_free(&l);
}

/* Why a command-line mailbox (addr its address) is refused, or NULL. */
static const char *
argv_refusal(const struct mailbox *mb, const char *addr)
{
	char ignored[256], *dom = NULL;
	const char *why;

	if (mb->local[0] == '\0')
		return "empty local part";
	if (has_ctl(addr))
		return "control character";
	if (addr[0] == '-')
		return "an address may not begin with '-'";
	/* A domain that cannot be converted fails that recipient (5.1.2). */
	if (mb->domain != NULL)
		dom = envelope_domain_to_ascii(mb->domain, ignored,
		    sizeof(ignored));
	why = too_long(mb->local, dom);
	free(dom);
	return why;
}

/* Command-line addresses are checked before any is used: a usage error. */
static int
parse_argv(const struct options *opts, struct addrlist *l, char *err,
    size_t errlen)
{
	size_t i, k, first;
	const char *p, *why;
	char *show, *addr;

	for (i = 0; i < opts->nrcpts; i++) {
		for (p = opts->rcpts[i]; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '-') {
			show = printable(opts->rcpts[i]);
			(void)snprintf(err, errlen, "bad recipient address "
			    "'%s': an address may not begin with '-'", show);
			free(show);
			return -1;
		}
		first = l->n;
		rfc5322_parse_address_list(opts->rcpts[i],
		    strlen(opts->rcpts[i]), l);
		if (l->nerrs > 0) {
			show = printable(l->errs[0].text);
			(void)snprintf(err, errlen,
			    "bad recipient address '%s': %s", show,
			    l->errs[0].reason);
			free(show);
			return -1;
		}
		for (k = first; k < l->n; k++) {
			addr = mailbox_addr(&l->v[k]);
			why = argv_refusal(&l->v[k], addr);
			if (why != NULL) {
				show = printable(l->v[k].local[0] == '\0' ?
				    opts->rcpts[i] : addr);
				(void)snprintf(err, errlen, "bad recipient "
				    "address '%.200s': %s", show, why);
				free(show);
			}
			free(addr);
			if (why != NULL)
				return -1;
		}
	}
	return 0;
}

int
envelope_add_recipients(struct envelope *env, const struct options *opts,
    const struct message *msg, const struct aliases *al,
    const char *default_domain, char *err, size_t errlen)
{
	struct expand x;
	struct addrlist argv;
	char why[256];
	size_t i;
	int rc = -1;

	addrlist_init(&argv);
	if (parse_argv(opts, &argv, err, errlen) == -1)
		goto out;

	memset(&x, 0, sizeof(x));
	x.env = env;
	x.al = opts->no_alias ? NULL : al;
	x.domain = default_domain && *default_domain ? default_domain : NULL;
	if (x.domain != NULL && (x.local_domain =
	    envelope_domain_to_ascii(x.domain, why, sizeof(why))) == NULL) {
		char *show = printable(x.domain);

		(void)snprintf(err, errlen, "invalid default domain '%s': %s",
		    show, why);
		free(show);
		goto out;
	}
	x.notify = opts->notify;
	x.rcap = env->nrcpts;	/* full: the first recipient reallocates */
	x.done = xcalloc(al != NULL ? al->n : 0, 1);
	x.active = xcalloc(al != NULL ? al->n : 0, 1);
	for (i = 0; i < env->nrcpts; i++)
		(void)seen_check(&x.seen, env->rcpts, i);

	add_mailboxes(&x, &argv, ORIGIN_ARGV);
	if (opts->extract && msg != NULL)
		add_from_header(&x, msg);

	free(x.local_domain);
	free(x.done);
	free(x.active);
	free(x.undo);
	free(x.seen.slot);
	rc = 0;
out:
	addrlist_free(&argv);
	return rc;
}

/* --------------------------------------------------------------- groups */

struct sortent {
	const char	*domain;
	size_t		 idx;
};

static int
sortent_cmp(const void *pa, const void *pb)
{
	const struct sortent *a = pa, *b = pb;
	int r = strcmp(a->domain, b->domain);

	if (r != 0)
		return r;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void
envelope_group(struct envelope *env)
{
	struct sortent *s;
	size_t i, j, k, n = 0, ndom;

	free_groups(env);
	s = xreallocarray(NULL, env->nrcpts, sizeof(*s));
	for (i = 0; i < env->nrcpts; i++) {
		if (env->rcpts[i].state != RCPT_PENDING)
			continue;
		s[n].domain = env->rcpts[i].domain;
		s[n].idx = i;
		n++;
	}
	qsort(s, n, sizeof(*s), sortent_cmp);
	/* Sized once: a hundred thousand recipients are not quadratic. */
	for (i = 0, ndom = 0; i < n; i++)
		ndom += i == 0 || strcmp(s[i].domain, s[i - 1].domain) != 0;
	env->domains = ndom > 0 ? xreallocarray(NULL, ndom,
	    sizeof(*env->domains)) : NULL;
	for (i = 0; i < n; i = j) {
		struct domain_group *g = &env->domains[env->ndomains++];

		for (j = i + 1; j < n && strcmp(s[j].domain, s[i].domain) == 0;
		    j++)
			;
		g->domain = xstrdup(s[i].domain);
		g->n = j - i;
		g->rcpt = xreallocarray(NULL, g->n, sizeof(*g->rcpt));
		for (k = i; k < j; k++)
			g->rcpt[k - i] = s[k].idx;
	}
	free(s);
}
