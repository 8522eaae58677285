/*
 * config.c: the configuration of SPEC §4: built-in defaults, then the file
 * ("key value" lines), then MXSEND_<KEY> from the environment, then the
 * checks that span several keys. Host names follow RFC 1123 §2.1, address
 * literals RFC 5321 §4.1.3, the relay URL RFC 3986 §3.2 (percent-encoded
 * userinfo). Secrets are wiped with explicit_bzero() wherever a copy of
 * them dies (SPEC §10).
 *
 * -C is on the command line, which PHP's mail() lets a web user extend
 * (CVE-2016-10033): a file that user uploaded must not choose the log or
 * transcript path. So, as Postfix >= 3.2 does with
 * alternate_config_directories, -C is honoured for root, or for a file in
 * a directory that the default file lists in config_directories, a key no
 * other source may set.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dkimkey.h"
#include "secret.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif
#ifndef QUEUE_DIR
#define QUEUE_DIR	"/var/spool/mxsend"
#endif

#define CONFIG_LINE_MAX	4096
#define CONFIG_FILE_MAX	(1024 * 1024)

extern char **environ;

/* How much of a bad value may be repeated in an error message. */
enum echo {
	ECHO_PLAIN,
	ECHO_URL,		/* mask the password of a URL */
	ECHO_NEVER		/* a secret */
};

struct key {
	const char	*name;
	/* NULL: `relay`, whose error names the bad URL of the list itself. */
	int		(*set)(struct config *, const char *, const char **);
	enum echo	 echo;
	const char	*hint;
};

static void	echo_value(char *, size_t, const char *, enum echo);

/* What a configuration text is: it decides which keys it may set. */
enum source {
	SRC_DEFAULT,	/* the default file: every key */
	SRC_OTHER,	/* -C, config_parse(): all but config_directories */
	SRC_DIRS	/* the default file, read before -C: that key alone */
};

static const char *const mech_names[AUTH_NMECH] = {
	"scram-sha-256", "plain", "login", "cram-md5", "xoauth2", "oauthbearer"
};

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void
replace(char **dst, const char *value)
{
	free(*dst);
	*dst = xstrdup(value);
}

static void
replace_secret(char **dst, char *value)
{
	wipe_free(*dst);
	*dst = value;
}

static int
is_space(int c)
{
	return c == ' ' || c == '\t';
}

static int
is_sep(int c)
{
	return c == ' ' || c == '\t' || c == ',';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}


/* A decimal number lo..hi, nothing else (no sign, no blanks). */
static int
parse_uint(const char *s, unsigned long lo, unsigned long hi,
    unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!is_digit((unsigned char)*s))
			return -1;
		if (v > (ULONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int
parse_port(const char *s, uint16_t *port)
{
	unsigned long v;

	if (parse_uint(s, 1, 65535, &v) != 0)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
config_parse_duration(const char *s, unsigned *out)
{
	unsigned long long v = 0, mult = 1;

	if (s == NULL || !is_digit((unsigned char)*s))
		return -1;
	for (; is_digit((unsigned char)*s); s++) {
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v > UINT_MAX)
			return -1;
	}
	switch (*s) {
	case '\0':
		break;
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	case 'w':
		mult = 7 * 86400;
		break;
	default:
		return -1;
	}
	if (*s != '\0' && s[1] != '\0')
		return -1;
	if (v * mult > UINT_MAX)
		return -1;
	*out = (unsigned)(v * mult);
	return 0;
}

int
config_parse_size(const char *s, off_t *out)
{
	/* The largest off_t, whatever its width. */
	const unsigned long long max =
	    (1ULL << (sizeof(off_t) * CHAR_BIT - 1)) - 1;
	unsigned long long v = 0, mult = 1;

	if (s == NULL || !is_digit((unsigned char)*s))
		return -1;
	for (; is_digit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	switch (ascii_tolower((unsigned char)*s)) {
	case '\0':
		break;
	case 'k':
		mult = 1024;
		break;
	case 'm':
		mult = 1024 * 1024;
		break;
	case 'g':
		mult = 1024 * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (*s != '\0' && s[1] != '\0')
		return -1;
	if (v > max / mult)
		return -1;
	*out = (off_t)(v * mult);
	return 0;
}

/*
 * A host or domain name after RFC 1123 §2.1: labels of letters, digits
 * and inner hyphens, at most 63 octets each and 253 in all; one trailing
 * dot is allowed. Underscores only where asked for (container service
 * names are used as relay hosts), never in mail domains.
 */
/* "[1.2.3.4]" or "[IPv6:...]" (RFC 5321 §4.1.3). */
static int
valid_addr_literal(const char *s)
{
	unsigned char a[16];
	char tmp[64];
	size_t len = strlen(s);

	if (len < 3 || s[0] != '[' || s[len - 1] != ']' ||
	    len - 2 >= sizeof(tmp))
		return 0;
	memcpy(tmp, s + 1, len - 2);
	tmp[len - 2] = '\0';
	if (ascii_strncasecmp(tmp, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, tmp + 5, a) == 1;
	return inet_pton(AF_INET, tmp, a) == 1;
}

static int
valid_path(const char *s, int absolute)
{
	if (*s == '\0' || (absolute && *s != '/'))
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Value is one of names[] (ASCII case ignored); its index, or -1. */
static int
keyword(const char *s, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ascii_strcasecmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/*
 * Split a list separated by blanks and commas; calls fn on each item in
 * a bounded copy. Returns the number of items, or -1 when fn refused one
 * or an item is too long.
 */
static int
each_item(const char *s, int (*fn)(void *, const char *), void *arg)
{
	char item[CONFIG_LINE_MAX + 1];
	int n = 0;

	for (;;) {
		size_t len;

		while (is_sep((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		for (len = 0; s[len] != '\0' && !is_sep((unsigned char)s[len]);
		    len++)
			;
		if (len >= sizeof(item))
			return -1;
		memcpy(item, s, len);
		item[len] = '\0';
		if (fn(arg, item) != 0)
			return -1;
		s += len;
		n++;
	}
	return n;
}

/* ---------------------------------------------------------- route */

struct route_acc {
	enum route_method m[2];
	size_t n;
};

static int
route_item(void *arg, const char *item)
{
	static const char *const names[] = { "mx", "relay" };
	struct route_acc *ra = arg;
	int k = keyword(item, names, 2);
	size_t i;

	if (k < 0 || ra->n >= 2)
		return -1;
	for (i = 0; i < ra->n; i++)
		if (ra->m[i] == (enum route_method)k)
			return -1;
	ra->m[ra->n++] = k == 0 ? ROUTE_MX : ROUTE_RELAY;
	return 0;
}

static int
set_route(struct config *cfg, const char *v, const char **hint)
{
	struct route_acc ra;

	(void)hint;
	memset(&ra, 0, sizeof(ra));
	if (each_item(v, route_item, &ra) <= 0)
		return -1;
	memcpy(cfg->route, ra.m, sizeof(cfg->route));
	cfg->nroute = ra.n;
	return 0;
}

/* ---------------------------------------------------------- relay URL */

/*
 * Percent-decode (RFC 3986 §2.1) n bytes of src; NULL on a bad escape or
 * an encoded NUL, which no SASL mechanism could carry.
 */
static char *
pct_decode(const char *src, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int hi, lo;

		if (src[i] != '%') {
			out[o++] = src[i];
			continue;
		}
		if (i + 2 >= n) {
			explicit_bzero(out, n + 1);
			free(out);
			return NULL;
		}
		hi = hex_value((unsigned char)src[i + 1]);
		lo = hex_value((unsigned char)src[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			explicit_bzero(out, n + 1);
			free(out);
			return NULL;
		}
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	return out;
}

/*
 * The authority of a relay URL: scheme, then up to the end of the
 * host[:port] part (*aend), no path, no blanks. Returns 0 or -1 (hint).
 */
static int
relay_authority(const char *v, int *smtps, const char **auth,
    const char **aend, const char **hint)
{
	const char *p;

	if (ascii_strncasecmp(v, "smtp://", 7) == 0) {
		*smtps = 0;
		*auth = v + 7;
	} else if (ascii_strncasecmp(v, "smtps://", 8) == 0) {
		*smtps = 1;
		*auth = v + 8;
	} else {
		*hint = "the scheme must be smtp:// or smtps://";
		return -1;
	}
	for (p = *auth; *p != '\0' && *p != '/' && *p != '?' && *p != '#';
	    p++)
		;
	*aend = p;
	if (*p != '\0' && strcmp(p, "/") != 0) {
		*hint = "no path or query after the host; percent-encode "
		    "'/', '?', '#' in user and password";
		return -1;
	}
	for (p = *auth; p < *aend; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			*hint = "no blanks or control characters";
			return -1;
		}
	return 0;
}

/*
 * user[:password] of auth..at, percent-decoded. Returns 0, or -1 with
 * hint and nothing allocated.
 */
static int
relay_userinfo(const char *auth, const char *at, char **user, char **pass,
    const char **hint)
{
	const char *uc = memchr(auth, ':', (size_t)(at - auth));
	const char *uend = uc != NULL ? uc : at, *p;

	*user = *pass = NULL;
	if (uend == auth) {
		*hint = "empty user name";
		return -1;
	}
	if ((*user = pct_decode(auth, (size_t)(uend - auth))) == NULL)
		goto badpct;
	for (p = *user; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*hint = "no control characters in the user name";
			goto fail;
		}
	if (uc != NULL) {
		if (uc + 1 == at) {
			*hint = "empty password";
			goto fail;
		}
		if ((*pass = pct_decode(uc + 1, (size_t)(at - uc - 1))) ==
		    NULL)
			goto badpct;
	}
	return 0;
badpct:
	*hint = "bad %-escape in user or password";
fail:
	free(*user);
	*user = NULL;
	return -1;
}

/*
 * The host of host..aend into hostbuf ("[IPv6]" without its brackets, or
 * a host name); *colon is where ":port" starts, or aend. 0 or -1 (hint).
 */
static int
relay_host(const char *host, const char *aend, char *hostbuf,
    size_t hostlen, const char **colon, const char **hint)
{
	const char *hend;
	unsigned char a[16];
	size_t hlen;

	if (*host == '[') {
		if ((hend = memchr(host, ']', (size_t)(aend - host))) == NULL) {
			*hint = "unterminated [IPv6 address]";
			return -1;
		}
		hlen = (size_t)(hend - host - 1);
		if (hlen >= hostlen) {
			*hint = "bad IPv6 address";
			return -1;
		}
		memcpy(hostbuf, host + 1, hlen);
		hostbuf[hlen] = '\0';
		if (inet_pton(AF_INET6, hostbuf, a) != 1) {
			*hint = "bad IPv6 address";
			return -1;
		}
		*colon = hend + 1;
		if (*colon != aend && **colon != ':') {
			*hint = "text after the IPv6 address";
			return -1;
		}
		return 0;
	}
	*colon = memchr(host, ':', (size_t)(aend - host));
	hend = *colon != NULL ? *colon : aend;
	hlen = (size_t)(hend - host);
	if (hlen == 0 || hlen >= hostlen) {
		*hint = hlen == 0 ? "no host" : "host name too long";
		return -1;
	}
	memcpy(hostbuf, host, hlen);
	hostbuf[hlen] = '\0';
	if (!valid_hostname(hostbuf, 1)) {
		*hint = "bad host name";
		return -1;
	}
	if (*colon == NULL)
		*colon = aend;
	return 0;
}

/* ":port" of colon..aend (none: 0, the scheme's default). */
static int
relay_port(const char *colon, const char *aend, uint16_t *port,
    const char **hint)
{
	char pbuf[8];
	size_t plen;

	*port = 0;
	if (colon == aend)
		return 0;
	plen = (size_t)(aend - colon - 1);
	if (plen == 0 || plen >= sizeof(pbuf)) {
		*hint = "the port must be 1-65535";
		return -1;
	}
	memcpy(pbuf, colon + 1, plen);
	pbuf[plen] = '\0';
	if (parse_port(pbuf, port) != 0) {
		*hint = "the port must be 1-65535";
		return -1;
	}
	return 0;
}

/* One URL of the list into rc (user and password allocated): 0 or -1. */
static int
parse_relay_url(const char *v, struct relay_conf *rc, const char **hint)
{
	const char *p, *auth, *aend, *at = NULL, *host, *colon;

	memset(rc, 0, sizeof(*rc));
	if (relay_authority(v, &rc->smtps, &auth, &aend, hint) != 0)
		return -1;
	/* The last '@' ends the userinfo: "user@example.com@host" works. */
	for (p = auth; p < aend; p++)
		if (*p == '@')
			at = p;
	host = at != NULL ? at + 1 : auth;
	if (at != NULL && relay_userinfo(auth, at, &rc->user, &rc->password,
	    hint) != 0)
		return -1;
	if (relay_host(host, aend, rc->host, sizeof(rc->host), &colon,
	    hint) != 0 || relay_port(colon, aend, &rc->port, hint) != 0) {
		free(rc->user);
		wipe_free(rc->password);
		memset(rc, 0, sizeof(*rc));
		return -1;
	}
	return 0;
}

static void
relays_free(struct relay_conf *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].user);
		wipe_free(v[i].password);
	}
	free(v);
}

static int
is_scheme(const char *s)
{
	return ascii_strncasecmp(s, "smtp://", 7) == 0 ||
	    ascii_strncasecmp(s, "smtps://", 8) == 0;
}

/*
 * The length of the URL at s in a relay list. Blanks separate URLs, and
 * so do commas, but a comma is a separator only at the end of a word or
 * before the next scheme: RFC 3986 allows commas in the userinfo, so
 * "smtp://u:pa,ss@host" stays one relay, as it was before lists.
 */
static size_t
relay_item_len(const char *s)
{
	const char *p;
	size_t n;

	for (n = 0; s[n] != '\0' && !is_space((unsigned char)s[n]); n++) {
		if (s[n] != ',')
			continue;
		for (p = s + n; *p == ','; p++)
			;
		if (*p == '\0' || is_space((unsigned char)*p) || is_scheme(p))
			break;
	}
	return n;
}

/*
 * The next URL of the list at *s into item (NUL-terminated); *s moves
 * past it. Returns its length, 0 at the end, or -1 when it is too long
 * (item then holds its start).
 */
static int
next_relay_item(const char **s, char *item, size_t itemlen)
{
	size_t n;

	while (is_sep((unsigned char)**s))
		(*s)++;
	n = relay_item_len(*s);
	*s += n;
	if (n >= itemlen) {
		/* Only from the environment: a file line is shorter. */
		memcpy(item, *s - n, itemlen - 1);
		item[itemlen - 1] = '\0';
		return -1;
	}
	memcpy(item, *s - n, n);
	item[n] = '\0';
	return (int)n;
}

/* How many URLs the list v holds (CONFIG_RELAYS_MAX + 1: too many). */
static size_t
count_relay_items(const char *v)
{
	size_t n = 0, len;

	for (;;) {
		while (is_sep((unsigned char)*v))
			v++;
		if (*v == '\0' || n > CONFIG_RELAYS_MAX)
			return n;
		len = relay_item_len(v);
		v += len;
		n++;
	}
}

/*
 * `relay`: one or more URLs (SPEC §4). A bad one is named by its place
 * in the list and its text, password masked; the list is taken whole or
 * not at all. The same relay twice is allowed: a second try of it.
 */
static int
set_relay(struct config *cfg, const char *v, char *why, size_t whylen)
{
	char item[CONFIG_LINE_MAX + 1], shown[256];
	struct relay_conf *list;
	const char *hint = NULL;
	size_t n = count_relay_items(v), i;

	if (n == 0) {
		snprintf(why, whylen, "no relay URL, only separators");
		return -1;
	}
	if (n > CONFIG_RELAYS_MAX) {
		snprintf(why, whylen, "more than %d relays",
		    CONFIG_RELAYS_MAX);
		return -1;
	}
	list = xcalloc(n, sizeof(*list));
	for (i = 0; i < n; i++) {
		if (next_relay_item(&v, item, sizeof(item)) > 0 &&
		    parse_relay_url(item, &list[i], &hint) == 0)
			continue;
		echo_value(shown, sizeof(shown), item, ECHO_URL);
		if (hint == NULL)
			hint = "too long";
		if (n == 1)
			snprintf(why, whylen, "'%s' (%s)", shown, hint);
		else
			snprintf(why, whylen, "relay %zu of %zu, '%s' (%s)",
			    i + 1, n, shown, hint);
		explicit_bzero(item, sizeof(item));
		relays_free(list, i);
		return -1;
	}
	explicit_bzero(item, sizeof(item));
	relays_free(cfg->relays, cfg->nrelays);
	cfg->relays = list;
	cfg->nrelays = n;
	return 0;
}

/* ---------------------------------------------------------- relay */

static int
set_relay_tls(struct config *cfg, const char *v, const char **hint)
{
	static const char *const names[] = { "auto", "starttls", "tls", "off" };
	static const enum relay_tls vals[] = {
		RELAY_TLS_AUTO, RELAY_TLS_STARTTLS, RELAY_TLS_TLS, RELAY_TLS_OFF
	};
	int k = keyword(v, names, 4);

	(void)hint;
	if (k < 0)
		return -1;
	cfg->relay_tls = vals[k];
	return 0;
}

static int
set_relay_user(struct config *cfg, const char *v, const char **hint)
{
	const char *p;

	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*hint = "no control characters";
			return -1;
		}
	replace(&cfg->relay_user, v);
	return 0;
}

static int
set_relay_password(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	replace_secret(&cfg->relay_password, xstrdup(v));
	return 0;
}

static int
set_relay_password_file(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (!valid_path(v, 0))
		return -1;
	replace(&cfg->relay_password_file, v);
	return 0;
}

/* Run without a shell, so no PATH search either: an absolute path. */
static int
set_relay_password_command(struct config *cfg, const char *v,
    const char **hint)
{
	(void)hint;
	if (secret_command_check(v) != 0)
		return -1;
	replace(&cfg->relay_password_command, v);
	return 0;
}

struct auth_acc {
	enum auth_mech m[AUTH_NMECH];
	size_t n;
	int any;
};

static int
auth_item(void *arg, const char *item)
{
	struct auth_acc *aa = arg;
	int k;
	size_t i;

	if (ascii_strcasecmp(item, "any") == 0) {
		if (aa->any || aa->n > 0)
			return -1;
		aa->any = 1;
		return 0;
	}
	if (aa->any || (k = keyword(item, mech_names, AUTH_NMECH)) < 0)
		return -1;
	for (i = 0; i < aa->n; i++)
		if (aa->m[i] == (enum auth_mech)k)
			return -1;
	aa->m[aa->n++] = (enum auth_mech)k;
	return 0;
}

static int
set_relay_auth(struct config *cfg, const char *v, const char **hint)
{
	struct auth_acc aa;
	size_t i;

	(void)hint;
	memset(&aa, 0, sizeof(aa));
	if (each_item(v, auth_item, &aa) <= 0)
		return -1;
	if (aa.any) {
		for (i = 0; i < AUTH_NANY; i++)
			cfg->relay_auth[i] = (enum auth_mech)i;
		cfg->nrelay_auth = AUTH_NANY;
	} else {
		memcpy(cfg->relay_auth, aa.m, sizeof(cfg->relay_auth));
		cfg->nrelay_auth = aa.n;
	}
	return 0;
}

static int
set_tls_ca_file(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (!valid_path(v, 0))
		return -1;
	replace(&cfg->tls_ca_file, v);
	return 0;
}

static int
set_relay_fingerprint(struct config *cfg, const char *v, const char **hint)
{
	unsigned char fp[32];
	size_t n = 0;
	int hi = -1;

	(void)hint;
	/* Both what people write and what openssl x509 -fingerprint says. */
	if (ascii_strncasecmp(v, "sha256:", 7) == 0)
		v += 7;
	else if (ascii_strncasecmp(v, "sha256 fingerprint=", 19) == 0)
		v += 19;
	for (; *v != '\0'; v++) {
		int d;

		if (*v == ':')
			continue;
		if ((d = hex_value((unsigned char)*v)) < 0 || n >= sizeof(fp))
			return -1;
		if (hi < 0) {
			hi = d;
			continue;
		}
		fp[n++] = (unsigned char)(hi << 4 | d);
		hi = -1;
	}
	if (n != sizeof(fp) || hi >= 0)
		return -1;
	memcpy(cfg->relay_fingerprint, fp, sizeof(fp));
	cfg->relay_fingerprint_set = 1;
	return 0;
}

/* ---------------------------------------------------------- direct */

/*
 * mx_tls dane is real DANE (RFC 7672): deliver.c and tls.c check an MX
 * host's TLSA records when dns.c believes the AD bit (dns.h says whose).
 */
static int
set_mx_tls(struct config *cfg, const char *v, const char **hint)
{
	static const char *const names[] = {
		"opportunistic", "dane", "required", "off"
	};
	static const enum mx_tls vals[] = {
		MX_TLS_OPPORTUNISTIC, MX_TLS_DANE, MX_TLS_REQUIRED, MX_TLS_OFF
	};
	int k = keyword(v, names, 4);

	(void)hint;
	if (k < 0)
		return -1;
	cfg->mx_tls = vals[k];
	return 0;
}

static int
set_helo(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (!valid_hostname(v, 0) && !valid_addr_literal(v))
		return -1;
	replace(&cfg->helo, v);
	return 0;
}

struct ns_acc {
	struct nameserver ns[CONFIG_MAX_NAMESERVERS];
	size_t n;
	int toomany;
};

static int
ns_item(void *arg, const char *item)
{
	struct ns_acc *na = arg;
	struct nameserver ns;
	unsigned char a[16];
	char addr[64];
	const char *portp = NULL, *c;
	size_t len;

	memset(&ns, 0, sizeof(ns));
	ns.port = 53;
	if (na->n >= CONFIG_MAX_NAMESERVERS) {
		na->toomany = 1;
		return -1;
	}
	if (item[0] == '[') {
		if ((c = strchr(item, ']')) == NULL)
			return -1;
		len = (size_t)(c - item - 1);
		if (c[1] == ':')
			portp = c + 2;
		else if (c[1] != '\0')
			return -1;
		item++;
		ns.family = AF_INET6;
	} else if ((c = strchr(item, ':')) != NULL && strchr(c + 1, ':')) {
		len = strlen(item);
		ns.family = AF_INET6;
	} else {
		len = c != NULL ? (size_t)(c - item) : strlen(item);
		if (c != NULL)
			portp = c + 1;
		ns.family = AF_INET;
	}
	if (len >= sizeof(addr))
		return -1;
	memcpy(addr, item, len);
	addr[len] = '\0';
	if (inet_pton(ns.family, addr, a) != 1 ||
	    inet_ntop(ns.family, a, ns.addr, sizeof(ns.addr)) == NULL)
		return -1;
	if (portp != NULL && parse_port(portp, &ns.port) != 0)
		return -1;
	na->ns[na->n++] = ns;
	return 0;
}

static int
set_nameserver(struct config *cfg, const char *v, const char **hint)
{
	struct ns_acc na;

	memset(&na, 0, sizeof(na));
	if (each_item(v, ns_item, &na) <= 0) {
		if (na.toomany)
			*hint = "at most 3 name servers";
		return -1;
	}
	memcpy(cfg->nameservers, na.ns, sizeof(cfg->nameservers));
	cfg->nnameservers = na.n;
	return 0;
}

static int
set_mx_port(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	return parse_port(v, &cfg->mx_port);
}

static int
set_address_family(struct config *cfg, const char *v, const char **hint)
{
	static const char *const names[] = { "any", "ipv4", "ipv6" };
	static const enum addr_family vals[] = {
		AFAM_ANY, AFAM_IPV4, AFAM_IPV6
	};
	int k = keyword(v, names, 3);

	(void)hint;
	if (k < 0)
		return -1;
	cfg->address_family = vals[k];
	return 0;
}

static int
set_default_domain(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (!valid_hostname(v, 0))
		return -1;
	replace(&cfg->default_domain, v);
	return 0;
}

static int
set_aliases(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (!valid_path(v, 0))
		return -1;
	replace(&cfg->aliases, v);
	cfg->aliases_set = 1;
	return 0;
}

/*
 * A default envelope sender: a dot-atom-ish local part (RFC 5322 §3.2.3
 * atext and dots, no leading '-' which would read as an option) and,
 * when there is an '@', a domain or an address literal.
 */
/* A plain address (dot-atom local part), qualified when need_domain. */
static int
valid_address(const char *v, int need_domain)
{
	const char *at = strchr(v, '@'), *p;

	if (v[0] == '-' || v[0] == '.' || at == v ||
	    (need_domain && at == NULL))
		return 0;
	for (p = v; *p != '\0' && p != at; p++) {
		int c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || strchr("()<>[]:;@\\,\"", c))
			return 0;
		if (c == '.' && (p[1] == '.' || p[1] == '\0' || p + 1 == at))
			return 0;
	}
	return at == NULL || valid_hostname(at + 1, 0) ||
	    valid_addr_literal(at + 1);
}

static int
set_sender(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (!valid_address(v, 0))
		return -1;
	replace(&cfg->sender, v);
	return 0;
}

static int
set_relay_from(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (!valid_address(v, 1))
		return -1;
	replace(&cfg->relay_from, v);
	return 0;
}

/* ---------------------------------------------------------- DKIM */

/* d= and s= (RFC 6376 §3.1: a selector is sub-domains), lower case. */
static int
set_dkim_name(char **dst, const char *v)
{
	if (!valid_hostname(v, 0) || v[strlen(v) - 1] == '.')
		return -1;
	replace(dst, v);
	ascii_lower(*dst);
	return 0;
}

static int
set_dkim_domain(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	return set_dkim_name(&cfg->dkim_domain, v);
}

static int
set_dkim_selector(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	return set_dkim_name(&cfg->dkim_selector, v);
}

static int
set_dkim_key(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (!valid_path(v, 1))
		return -1;
	replace(&cfg->dkim_key, v);
	return 0;
}

/* One field name of dkim_headers (RFC 5322 §3.6.8 ftext), lower case. */
static char *
dkim_header_name(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > 76)
		return NULL;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
			return NULL;
	return xstrndup(s, n);
}

/* "from:from:subject", as h= writes it; From must be signed (§5.4). */
static int
set_dkim_headers(struct config *cfg, const char *v, const char **hint)
{
	char	**names = NULL, *name;
	size_t	 n = 0, len, from = 0;

	for (;;) {
		while (is_wsp(*v))
			v++;
		for (len = 0; v[len] != '\0' && v[len] != ':' &&
		    !is_wsp(v[len]); len++)
			;
		if ((name = dkim_header_name(v, len)) == NULL || n == 64) {
			free(name);
			strv_free(names, n);
			return -1;
		}
		ascii_lower(name);
		from += strcmp(name, "from") == 0;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = name;
		for (v += len; is_wsp(*v); v++)
			;
		if (*v++ != ':')
			break;
	}
	if (v[-1] != '\0' || from == 0) {
		if (from == 0 && hint != NULL)
			*hint = "the list must name from: RFC 6376 §5.4";
		strv_free(names, n);
		return -1;
	}
	strv_free(cfg->dkim_headers, cfg->ndkim_headers);
	cfg->dkim_headers = names;
	cfg->ndkim_headers = n;
	return 0;
}

static int
dkim_route_item(void *arg, const char *item)
{
	static const char *const names[] = { "mx", "relay" };
	unsigned *mask = arg;
	int	 k = keyword(item, names, 2);

	if (k < 0)
		return -1;
	*mask |= 1u << (k == 0 ? ROUTE_MX : ROUTE_RELAY);
	return 0;
}

static int
set_dkim_routes(struct config *cfg, const char *v, const char **hint)
{
	unsigned mask = 0;

	(void)hint;
	if (each_item(v, dkim_route_item, &mask) <= 0)
		return -1;
	cfg->dkim_routes = mask;
	return 0;
}

/* ---------------------------------------------------------- limits */

static int
set_positive_duration(unsigned *dst, const char *v, const char **hint)
{
	unsigned d;

	if (config_parse_duration(v, &d) != 0)
		return -1;
	if (d == 0) {
		*hint = "a duration greater than 0, such as 30, 5m, 2h";
		return -1;
	}
	*dst = d;
	return 0;
}

static int
set_timeout_connect(struct config *cfg, const char *v, const char **hint)
{
	return set_positive_duration(&cfg->timeout_connect, v, hint);
}

static int
set_timeout_dns(struct config *cfg, const char *v, const char **hint)
{
	return set_positive_duration(&cfg->timeout_dns, v, hint);
}

static int
set_timeout_command(struct config *cfg, const char *v, const char **hint)
{
	return set_positive_duration(&cfg->timeout_command, v, hint);
}

static int
set_timeout_data(struct config *cfg, const char *v, const char **hint)
{
	return set_positive_duration(&cfg->timeout_data, v, hint);
}

static int
set_deadline(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	return config_parse_duration(v, &cfg->deadline);
}

static int
set_queue_lifetime(struct config *cfg, const char *v, const char **hint)
{
	return set_positive_duration(&cfg->queue_lifetime, v, hint);
}

static int
set_message_size_limit(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	return config_parse_size(v, &cfg->message_size_limit);
}

/* A count lo-hi into *dst. */
static int
set_count(unsigned *dst, const char *v, unsigned long lo, unsigned long hi)
{
	unsigned long n;

	if (parse_uint(v, lo, hi, &n) != 0)
		return -1;
	*dst = (unsigned)n;
	return 0;
}

static int
set_max_parallel(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	return set_count(&cfg->max_parallel, v, 1, 1000);
}

static int
set_alias_max_recipients(struct config *cfg, const char *v,
    const char **hint)
{
	(void)hint;
	return set_count(&cfg->alias_max_recipients, v, 0, 1000000);
}

static int
set_mx_max_addresses(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	return set_count(&cfg->mx_max_addresses, v, 1, 100);
}

static int
set_queue_dir(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (!valid_path(v, 1))
		return -1;
	replace(&cfg->queue_dir, v);
	return 0;
}

static int
set_bounce(struct config *cfg, const char *v, const char **hint)
{
	static const char *const names[] = {
		"off", "on", "no", "yes", "false", "true", "0", "1"
	};
	int k = keyword(v, names, 8);

	(void)hint;
	if (k < 0)
		return -1;
	cfg->bounce = k % 2;
	return 0;
}

static int
set_log(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (ascii_strcasecmp(v, "syslog") == 0)
		cfg->log = LOGT_SYSLOG;
	else if (ascii_strcasecmp(v, "stderr") == 0)
		cfg->log = LOGT_STDERR;
	else if (ascii_strcasecmp(v, "none") == 0)
		cfg->log = LOGT_NONE;
	else if (valid_path(v, 1)) {
		cfg->log = LOGT_FILE;
		replace(&cfg->log_file, v);
		return 0;
	} else
		return -1;
	free(cfg->log_file);
	cfg->log_file = NULL;
	return 0;
}

static int
set_transcript(struct config *cfg, const char *v, const char **hint)
{
	(void)hint;
	if (!valid_path(v, 1))
		return -1;
	replace(&cfg->transcript, v);
	return 0;
}

/* ---------------------------------------------------------- -C */

struct dirs_acc {
	char	**v;
	size_t	 n;
};

static int
dir_item(void *arg, const char *item)
{
	struct dirs_acc *da = arg;

	if (!valid_path(item, 1))
		return -1;
	da->v = xreallocarray(da->v, da->n + 1, sizeof(*da->v));
	da->v[da->n++] = xstrdup(item);
	return 0;
}

/*
 * Kept as written: they are resolved when -C is checked, so that a
 * directory made after this file was written still counts.
 */
static int
set_config_directories(struct config *cfg, const char *v, const char **hint)
{
	struct dirs_acc da;

	(void)hint;
	memset(&da, 0, sizeof(da));
	if (each_item(v, dir_item, &da) <= 0) {
		strv_free(da.v, da.n);
		return -1;
	}
	strv_free(cfg->config_directories, cfg->nconfig_directories);
	cfg->config_directories = da.v;
	cfg->nconfig_directories = da.n;
	return 0;
}

#define DURATION_HINT	"a duration such as 30, 5m, 2h"
#define PATH_HINT	"a file name"
#define ABSPATH_HINT	"an absolute path"

/* In the order of SPEC §4; config_print() follows the same order. */
static const struct key keys[] = {
	{ "route", set_route, ECHO_PLAIN,
	    "mx, relay, or both in either order" },
	{ "relay", NULL, ECHO_URL,
	    "smtp://[user[:password]@]host[:port] or smtps://..., space or "
	    "comma separated" },
	{ "relay_tls", set_relay_tls, ECHO_PLAIN,
	    "auto, starttls, tls or off" },
	{ "relay_user", set_relay_user, ECHO_PLAIN, "a user name" },
	{ "relay_password", set_relay_password, ECHO_NEVER, "a password" },
	{ "relay_password_file", set_relay_password_file, ECHO_PLAIN,
	    PATH_HINT },
	{ "relay_password_command", set_relay_password_command, ECHO_PLAIN,
	    "an absolute path, then its arguments" },
	{ "relay_auth", set_relay_auth, ECHO_PLAIN,
	    "any, or a list of scram-sha-256 plain login cram-md5 xoauth2 "
	    "oauthbearer" },
	{ "tls_ca_file", set_tls_ca_file, ECHO_PLAIN, PATH_HINT },
	{ "relay_fingerprint", set_relay_fingerprint, ECHO_PLAIN,
	    "64 hex digits of a SHA-256, colons allowed" },
	{ "mx_tls", set_mx_tls, ECHO_PLAIN,
	    "opportunistic, dane, required or off" },
	{ "helo", set_helo, ECHO_PLAIN,
	    "a host name or an address literal such as [192.0.2.1]" },
	{ "nameserver", set_nameserver, ECHO_PLAIN,
	    "IP, IP:port or [IPv6]:port, space or comma separated" },
	{ "mx_port", set_mx_port, ECHO_PLAIN, "a port 1-65535" },
	{ "address_family", set_address_family, ECHO_PLAIN,
	    "any, ipv4 or ipv6" },
	{ "default_domain", set_default_domain, ECHO_PLAIN, "a domain name" },
	{ "aliases", set_aliases, ECHO_PLAIN, PATH_HINT },
	{ "alias_max_recipients", set_alias_max_recipients, ECHO_PLAIN,
	    "a number 0-1000000 (0: no limit)" },
	{ "sender", set_sender, ECHO_PLAIN,
	    "an address such as user@example.com" },
	{ "relay_from", set_relay_from, ECHO_PLAIN,
	    "an address with a domain, such as cron@example.com" },
	{ "timeout_connect", set_timeout_connect, ECHO_PLAIN, DURATION_HINT },
	{ "timeout_dns", set_timeout_dns, ECHO_PLAIN, DURATION_HINT },
	{ "timeout_command", set_timeout_command, ECHO_PLAIN, DURATION_HINT },
	{ "timeout_data", set_timeout_data, ECHO_PLAIN, DURATION_HINT },
	{ "deadline", set_deadline, ECHO_PLAIN,
	    "a duration such as 30, 5m, 2h, or 0 for none" },
	{ "max_parallel", set_max_parallel, ECHO_PLAIN, "a number 1-1000" },
	{ "mx_max_addresses", set_mx_max_addresses, ECHO_PLAIN,
	    "a number 1-100" },
	{ "queue_dir", set_queue_dir, ECHO_PLAIN, ABSPATH_HINT },
	{ "queue_lifetime", set_queue_lifetime, ECHO_PLAIN, DURATION_HINT },
	{ "message_size_limit", set_message_size_limit, ECHO_PLAIN,
	    "a size such as 64m, 512k or 1g (binary units), or 0 for no "
	    "limit" },
	{ "bounce", set_bounce, ECHO_PLAIN, "on or off" },
	{ "log", set_log, ECHO_PLAIN,
	    "syslog, stderr, none, or an absolute path" },
	{ "transcript", set_transcript, ECHO_PLAIN, ABSPATH_HINT },
	{ "config_directories", set_config_directories, ECHO_PLAIN,
	    "absolute directories, space or comma separated" },
	{ "dkim_domain", set_dkim_domain, ECHO_PLAIN,
	    "a domain name, such as example.com" },
	{ "dkim_selector", set_dkim_selector, ECHO_PLAIN,
	    "a selector, such as mail or 2026a" },
	{ "dkim_key", set_dkim_key, ECHO_PLAIN, ABSPATH_HINT },
	{ "dkim_headers", set_dkim_headers, ECHO_PLAIN,
	    "header field names separated by colons, such as from:from:to" },
	{ "dkim_routes", set_dkim_routes, ECHO_PLAIN,
	    "mx, relay, or both" },
};

#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

static const struct key *
find_key(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/*
 * Text from a file or the environment, fit to be repeated on one line of
 * an error message: control bytes become '?', a URL loses its password.
 */
static void
echo_value(char *out, size_t outlen, const char *v, enum echo how)
{
	const char *start = NULL, *at = NULL, *p;
	size_t o = 0;

	if (outlen == 0)
		return;
	if (how == ECHO_URL && (start = strstr(v, "://")) != NULL) {
		start += 3;
		at = strrchr(start, '@');
		if (at != NULL)
			start = memchr(start, ':', (size_t)(at - start));
	}
	for (p = v; *p != '\0' && o + 1 < outlen; p++) {
		if (at != NULL && start != NULL && p == start) {
			const char *mask = ":***";

			while (*mask != '\0' && o + 1 < outlen)
				out[o++] = *mask++;
			p = at - 1;
			continue;
		}
		out[o++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ?
		    '?' : *p;
	}
	out[o] = '\0';
}

/* default_file: the text is the default file, which may set every key. */
static int
set_key(struct config *cfg, const char *key, const char *value,
    const char *origin, int default_file, char *err, size_t errlen)
{
	const struct key *k;
	const char *hint = NULL;
	char shown[256], why[512];

	if ((k = find_key(key)) == NULL) {
		echo_value(shown, sizeof(shown), key, ECHO_PLAIN);
		snprintf(err, errlen, "%s: unknown key '%s'", origin, shown);
		return -1;
	}
	/* Where -C may point is for the default file to say (SPEC §2). */
	if (k->set == set_config_directories && !default_file) {
		snprintf(err, errlen, "%s: %s is read from the default "
		    "configuration file only (the file MXSEND_CONFIG names, "
		    "else %s)", origin, k->name, SYSCONFDIR "/mxsend.conf");
		return -1;
	}
	if (*value == '\0') {
		snprintf(err, errlen, "%s: missing value for %s", origin,
		    k->name);
		return -1;
	}
	if (k->set == NULL) {
		if (set_relay(cfg, value, why, sizeof(why)) == 0)
			return 0;
		snprintf(err, errlen, "%s: bad value for %s: %s", origin,
		    k->name, why);
		return -1;
	}
	if (k->set(cfg, value, &hint) == 0)
		return 0;
	if (hint == NULL)
		hint = k->hint;
	if (k->echo == ECHO_NEVER)
		snprintf(err, errlen, "%s: bad value for %s (%s)", origin,
		    k->name, hint);
	else {
		echo_value(shown, sizeof(shown), value, k->echo);
		snprintf(err, errlen, "%s: bad value for %s: '%s' (%s)",
		    origin, k->name, shown, hint);
	}
	return -1;
}

int
config_set(struct config *cfg, const char *key, const char *value,
    const char *origin, char *err, size_t errlen)
{
	return set_key(cfg, key, value, origin, 0, err, errlen);
}

/* ---------------------------------------------------------- the file */

/*
 * One line, without its newline: "key value", the value bare (up to a
 * '#', trailing blanks dropped) or in double quotes with \" and \\.
 * Returns 0 (set or nothing to do) or -1 with err.
 */
static int
parse_line(struct config *cfg, const char *line, size_t len,
    const char *origin, enum source src, char *err, size_t errlen)
{
	char key[CONFIG_LINE_MAX + 1], val[CONFIG_LINE_MAX + 1];
	size_t i = 0, k = 0, v = 0;
	int rc;

	while (i < len && is_space((unsigned char)line[i]))
		i++;
	if (i == len || line[i] == '#')
		return 0;
	while (i < len && !is_space((unsigned char)line[i]) &&
	    line[i] != '#')
		key[k++] = line[i++];
	key[k] = '\0';
	/* The rest of the file is not used, so its mistakes do not count. */
	if (src == SRC_DIRS && strcmp(key, "config_directories") != 0)
		return 0;
	while (i < len && is_space((unsigned char)line[i]))
		i++;
	if (i < len && line[i] == '"') {
		for (i++; i < len && line[i] != '"'; i++) {
			if (line[i] == '\\') {
				if (i + 1 < len &&
				    (line[i + 1] == '"' || line[i + 1] == '\\'))
					i++;
				else {
					snprintf(err, errlen, "%s: bad escape "
					    "in quoted value (only \\\" and "
					    "\\\\)", origin);
					rc = -1;
					goto out;
				}
			}
			val[v++] = line[i];
		}
		if (i == len) {
			snprintf(err, errlen, "%s: unterminated quoted value",
			    origin);
			rc = -1;
			goto out;
		}
		for (i++; i < len && is_space((unsigned char)line[i]); i++)
			;
		if (i < len && line[i] != '#') {
			snprintf(err, errlen, "%s: text after the closing "
			    "quote", origin);
			rc = -1;
			goto out;
		}
	} else {
		while (i < len && line[i] != '#')
			val[v++] = line[i++];
		while (v > 0 && is_space((unsigned char)val[v - 1]))
			v--;
	}
	val[v] = '\0';
	rc = set_key(cfg, key, val, origin, src != SRC_OTHER, err, errlen);
out:
	/* Only what was written can hold a secret: the rest is 4 KiB. */
	explicit_bzero(val, v + 1);
	return rc;
}

static int
parse_text(struct config *cfg, const char *text, size_t len,
    const char *fname, enum source src, char *err, size_t errlen)
{
	char origin[512];
	size_t pos = 0, lineno = 0;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = text + pos, *nl;
		size_t n;

		nl = memchr(line, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - line) : len - pos;
		pos += n + (nl != NULL);
		lineno++;
		snprintf(origin, sizeof(origin), "%s:%zu", fname, lineno);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n > CONFIG_LINE_MAX) {
			snprintf(err, errlen, "%s: line longer than %d bytes",
			    origin, CONFIG_LINE_MAX);
			return -1;
		}
		if (memchr(line, '\0', n) != NULL) {
			snprintf(err, errlen, "%s: NUL byte in line", origin);
			return -1;
		}
		if (parse_line(cfg, line, n, origin, src, err, errlen) != 0)
			return -1;
	}
	return 0;
}

int
config_parse(struct config *cfg, const char *text, size_t len,
    const char *fname, char *err, size_t errlen)
{
	return parse_text(cfg, text, len, fname, SRC_OTHER, err, errlen);
}


static int
slurp(const char *path, size_t max, struct buf *b)
{
	int fd, rc, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	rc = read_all(fd, max, 0, b);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

static void
buf_wipe_free(struct buf *b)
{
	/* Sized once (read_all): nothing past len was ever written. */
	if (b->data != NULL)
		explicit_bzero(b->data, b->len + 1);
	buf_free(b);
}

/* MXSEND_<KEY> for every key; any other MXSEND_ variable is a typo. */
static int
config_env(struct config *cfg, char *err, size_t errlen)
{
	char **e, **p;

	for (e = environ; e != NULL && *e != NULL; e++) {
		char name[128], key[128], origin[160];
		const char *eq;
		size_t i, n;

		if (strncmp(*e, "MXSEND_", 7) != 0)
			continue;
		if ((eq = strchr(*e, '=')) == NULL)
			continue;
		n = (size_t)(eq - *e);
		if (n == strlen("MXSEND_CONFIG") &&
		    strncmp(*e, "MXSEND_CONFIG", n) == 0)
			continue;
		if (n >= sizeof(name)) {
			snprintf(err, errlen, "environment: unknown variable "
			    "%.*s...", 40, *e);
			return -1;
		}
		memcpy(name, *e, n);
		name[n] = '\0';
		/* Upper case only: MXSEND_relay is not MXSEND_RELAY. */
		for (i = 7; i <= n; i++) {
			int c = (unsigned char)name[i];

			key[i - 7] = (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' :
			    (c >= 'a' && c <= 'z') ? '?' : c;
		}
		if (find_key(key) == NULL) {
			char shown[128];

			echo_value(shown, sizeof(shown), name, ECHO_PLAIN);
			snprintf(err, errlen, "environment: unknown variable "
			    "%s", shown);
			return -1;
		}
		/* Empty is unset, as in container files: VAR=${VAR:-}. */
		if (eq[1] == '\0')
			continue;
		/* A repeated variable: the first counts, as for getenv(). */
		for (p = environ; p < e; p++)
			if (strncmp(*p, *e, n + 1) == 0)
				break;
		if (p < e)
			continue;
		snprintf(origin, sizeof(origin), "%s", name);
		if (config_set(cfg, key, eq + 1, origin, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/*
 * Read path as src; name is what errors call it. missing_ok: a file that
 * does not exist is no error and sets nothing.
 */
static int
read_file(struct config *cfg, const char *path, const char *name,
    enum source src, int missing_ok, char *err, size_t errlen)
{
	struct buf b;
	int rc;

	buf_init(&b);
	if (slurp(path, CONFIG_FILE_MAX, &b) != 0) {
		int saved = errno;

		buf_wipe_free(&b);
		if (missing_ok && (saved == ENOENT || saved == ENOTDIR))
			return 0;
		snprintf(err, errlen, "%s: %s", name, strerror(saved));
		return -1;
	}
	rc = parse_text(cfg, b.data != NULL ? b.data : "", b.len, name, src,
	    err, errlen);
	buf_wipe_free(&b);
	/* The default file read for config_directories alone is not it. */
	if (rc == 0 && src != SRC_DIRS) {
		free(cfg->file_read);
		cfg->file_read = xstrdup(name);
	}
	return rc;
}

/*
 * The directory holding file, resolved into dir (PATH_MAX bytes), and in
 * *base the last component of file. -1 when it cannot be resolved.
 */
static int
resolve_parent(const char *file, char *dir, const char **base)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(file, '/');
	size_t n;

	if (slash == NULL) {
		strlcpy(parent, ".", sizeof(parent));
		*base = file;
	} else {
		n = slash == file ? 1 : (size_t)(slash - file);
		if (n >= sizeof(parent))
			return -1;
		memcpy(parent, file, n);
		parent[n] = '\0';
		*base = slash + 1;
	}
	return realpath(parent, dir) != NULL ? 0 : -1;
}

static int
dir_listed(const char *resolved, char *const *dirs, size_t ndirs)
{
	char r[PATH_MAX];
	size_t i;

	for (i = 0; i < ndirs; i++)
		if (realpath(dirs[i], r) != NULL && strcmp(r, resolved) == 0)
			return 1;
	return 0;
}

int
config_explicit_allowed(uid_t uid, const char *file, char *const *dirs,
    size_t ndirs)
{
	char parent[PATH_MAX];
	const char *base;

	if (uid == 0)
		return 1;
	if (file == NULL || resolve_parent(file, parent, &base) != 0)
		return 0;
	return dir_listed(parent, dirs, ndirs);
}

/*
 * -C for a caller other than root: config_directories from the default
 * file (def), then the rule, applied to the file's name with its
 * directory resolved, which is also the name it is then read by (into
 * path, PATH_MAX bytes): a symbolic link swapped after the check cannot
 * lead elsewhere.
 */
static int
explicit_path(struct config *cfg, const char *file, const char *def,
    uid_t uid, char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], shown[512], dshown[512], why[768];
	const char *base;

	echo_value(shown, sizeof(shown), file, ECHO_PLAIN);
	echo_value(dshown, sizeof(dshown), def, ECHO_PLAIN);
	if (read_file(cfg, def, dshown, SRC_DIRS, 1, why, sizeof(why)) != 0) {
		/* Say why a file the caller did not name matters. */
		snprintf(err, errlen, "-C %s: %s", shown, why);
		return -1;
	}
	if (resolve_parent(file, dir, &base) != 0 ||
	    (size_t)snprintf(path, PATH_MAX, "%s/%s",
	    strcmp(dir, "/") == 0 ? "" : dir, base) >= PATH_MAX ||
	    !config_explicit_allowed(uid, path, cfg->config_directories,
	    cfg->nconfig_directories)) {
		snprintf(err, errlen, "-C %s: not honoured for uid %lu (only "
		    "root, or a directory listed by config_directories in %s); "
		    "set MXSEND_CONFIG=%s instead", shown, (unsigned long)uid,
		    dshown, shown);
		return -1;
	}
	return 0;
}

int
config_load(struct config *cfg, const char *explicit_file, char *err,
    size_t errlen)
{
	const char *def = getenv("MXSEND_CONFIG");
	char path[PATH_MAX];
	uid_t uid = getuid();
	int named = 1;

	if (def == NULL || *def == '\0') {
		def = SYSCONFDIR "/mxsend.conf";
		named = 0;
	}
	if (explicit_file == NULL) {
		/* Only the built-in path may be absent: a name must exist. */
		if (read_file(cfg, def, def, SRC_DEFAULT, !named, err,
		    errlen) != 0)
			return -1;
	} else {
		/*
		 * The rule honours root whatever the file, and -C is how
		 * root works around a broken default file: not read then.
		 */
		if (uid != 0 && explicit_path(cfg, explicit_file, def, uid,
		    path, err, errlen) != 0)
			return -1;
		if (read_file(cfg, uid != 0 ? path : explicit_file,
		    explicit_file, SRC_OTHER, 0, err, errlen) != 0)
			return -1;
	}
	if (config_env(cfg, err, errlen) != 0)
		return -1;
	return config_finish(cfg, err, errlen);
}

/* ---------------------------------------------------------- finish */

void
config_relay_creds(const struct config *cfg, size_t i,
    struct relay_creds *rc)
{
	const struct relay_conf *r = &cfg->relays[i];

	memset(rc, 0, sizeof(*rc));
	rc->user = r->user != NULL ? r->user : cfg->relay_user;
	if (rc->user == NULL)
		return;
	if (r->password != NULL) {
		rc->password = r->password;
		return;
	}
	rc->password = cfg->relay_password;
	rc->password_file = cfg->relay_password_file;
	rc->password_command = cfg->relay_password_command;
}

/*
 * The password keys: one source at most (SPEC §4), and some relay with a
 * user.
 * A file is checked now, as the caller (mode, and that it can be opened:
 * 78 otherwise), and read when a session authenticates (secret.c), so
 * that a refreshed token is used.
 */
static int
finish_relay_secret(struct config *cfg, char *err, size_t errlen)
{
	struct relay_creds rc;
	int n = (cfg->relay_password != NULL) +
	    (cfg->relay_password_file != NULL) +
	    (cfg->relay_password_command != NULL);
	size_t i;

	if (n > 1) {
		snprintf(err, errlen, "only one of relay_password, "
		    "relay_password_file and relay_password_command may be "
		    "set");
		return -1;
	}
	if (cfg->relay_password_file != NULL &&
	    secret_file_check(cfg->relay_password_file, err, errlen) != 0)
		return -1;
	if (n == 0 || cfg->nrelays == 0)
		return 0;
	/* A password without any user to go with it is a mistake. */
	for (i = 0; i < cfg->nrelays; i++) {
		config_relay_creds(cfg, i, &rc);
		if (rc.user != NULL)
			return 0;
	}
	snprintf(err, errlen, "a relay password is set but no relay user "
	    "(relay_user or user@ in the relay URL)");
	return -1;
}

/* Each relay's port, and TLS settings that contradict its scheme. */
static int
finish_relays(struct config *cfg, char *err, size_t errlen)
{
	struct relay_conf *r;
	size_t i;

	for (i = 0; i < cfg->nrelays; i++) {
		r = &cfg->relays[i];
		if (r->smtps && (cfg->relay_tls == RELAY_TLS_STARTTLS ||
		    cfg->relay_tls == RELAY_TLS_OFF)) {
			snprintf(err, errlen, "relay_tls %s contradicts the "
			    "smtps:// relay %s (implicit TLS)",
			    cfg->relay_tls == RELAY_TLS_OFF ? "off" :
			    "starttls", r->host);
			return -1;
		}
		if (r->port == 0)
			r->port = (r->smtps ||
			    cfg->relay_tls == RELAY_TLS_TLS) ? 465 : 587;
	}
	if (cfg->relay_fingerprint_set && cfg->nrelays > 0 &&
	    cfg->relay_tls == RELAY_TLS_OFF) {
		snprintf(err, errlen, "relay_fingerprint needs TLS with the "
		    "relay, but relay_tls is off");
		return -1;
	}
	return finish_relay_secret(cfg, err, errlen);
}

/*
 * DKIM: all three keys or none (SPEC §4), and a key file that is usable
 * now, checked as the caller and without loading GnuTLS (dkimkey.c); it
 * is read again when a message is signed.
 */
static int
finish_dkim(struct config *cfg, char *err, size_t errlen)
{
	struct dkimkey	 k;
	const char	*missing[3];
	size_t		 m = 0;

	if (cfg->dkim_domain == NULL)
		missing[m++] = "dkim_domain";
	if (cfg->dkim_selector == NULL)
		missing[m++] = "dkim_selector";
	if (cfg->dkim_key == NULL)
		missing[m++] = "dkim_key";
	if (m == 3)
		return 0;
	if (m > 0) {
		snprintf(err, errlen, "dkim_domain, dkim_selector and dkim_key "
		    "are set together or not at all: %s%s%s %s missing",
		    missing[0], m > 1 ? " and " : "", m > 1 ? missing[1] : "",
		    m > 1 ? "are" : "is");
		return -1;
	}
	if (dkimkey_read(cfg->dkim_key, &k, err, errlen) != 0)
		return -1;
	dkimkey_free(&k);
	return 0;
}

int
config_finish(struct config *cfg, char *err, size_t errlen)
{
	size_t i;

	if (cfg->nroute == 0) {
		cfg->route[0] = ROUTE_MX;
		cfg->route[1] = ROUTE_RELAY;
		cfg->nroute = cfg->nrelays > 0 ? 2 : 1;
	}
	for (i = 0; i < cfg->nroute; i++)
		if (cfg->route[i] == ROUTE_RELAY && cfg->nrelays == 0) {
			snprintf(err, errlen, "route names relay but no relay "
			    "is set");
			return -1;
		}
	if (finish_relays(cfg, err, errlen) != 0)
		return -1;
	return finish_dkim(cfg, err, errlen);
}

/* ---------------------------------------------------------- life */

void
config_init(struct config *cfg)
{
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->relay_tls = RELAY_TLS_AUTO;
	for (i = 0; i < AUTH_NANY; i++)
		cfg->relay_auth[i] = (enum auth_mech)i;
	cfg->nrelay_auth = AUTH_NANY;
	cfg->mx_tls = MX_TLS_OPPORTUNISTIC;
	cfg->mx_port = 25;
	cfg->address_family = AFAM_ANY;
	cfg->timeout_connect = 30;
	cfg->timeout_dns = 30;
	cfg->timeout_command = 300;
	cfg->timeout_data = 600;
	cfg->deadline = 0;
	cfg->max_parallel = 32;
	cfg->mx_max_addresses = 5;
	cfg->alias_max_recipients = 1000;
	cfg->queue_dir = xstrdup(QUEUE_DIR);
	cfg->queue_lifetime = 5 * 86400;
	cfg->message_size_limit = 64 * 1024 * 1024;
	cfg->bounce = 0;
	cfg->log = LOGT_SYSLOG;
	(void)set_dkim_headers(cfg, CONFIG_DKIM_HEADERS, NULL);
	cfg->dkim_routes = 1u << ROUTE_MX;
}

/* Forget every relay credential, the secrets wiped. */
static void
drop_relay_credentials(struct config *cfg)
{
	relays_free(cfg->relays, cfg->nrelays);
	wipe_free(cfg->relay_password);
	free(cfg->relay_user);
	free(cfg->relay_password_file);
	free(cfg->relay_password_command);
	cfg->relays = NULL;
	cfg->nrelays = 0;
	cfg->relay_password = cfg->relay_user = NULL;
	cfg->relay_password_file = cfg->relay_password_command = NULL;
}

void
config_free(struct config *cfg)
{
	drop_relay_credentials(cfg);
	free(cfg->tls_ca_file);
	free(cfg->helo);
	free(cfg->default_domain);
	free(cfg->aliases);
	free(cfg->sender);
	free(cfg->relay_from);
	free(cfg->queue_dir);
	free(cfg->log_file);
	free(cfg->transcript);
	strv_free(cfg->config_directories, cfg->nconfig_directories);
	free(cfg->file_read);
	free(cfg->dkim_domain);
	free(cfg->dkim_selector);
	free(cfg->dkim_key);
	strv_free(cfg->dkim_headers, cfg->ndkim_headers);
	explicit_bzero(cfg, sizeof(*cfg));
}

void
config_use_smarthost(struct config *cfg, const char *host, uint16_t port,
    const char *user, const char *password)
{
	struct relay_conf *r;

	drop_relay_credentials(cfg);
	cfg->relay_fingerprint_set = 0;
	cfg->route[0] = ROUTE_RELAY;
	cfg->nroute = 1;
	r = xcalloc(1, sizeof(*r));
	strlcpy(r->host, host, sizeof(r->host));
	r->port = port;
	cfg->relays = r;
	cfg->nrelays = 1;
	if (user != NULL && password != NULL) {
		r->user = xstrdup(user);
		r->password = xstrdup(password);
		cfg->relay_tls = RELAY_TLS_STARTTLS;
	} else
		cfg->relay_tls = RELAY_TLS_MAY;
}

/* ---------------------------------------------------------- print */

/* A duration in its largest exact unit, so 432000 reads "5d". */
static void
print_duration(FILE *fp, const char *key, unsigned d)
{
	static const struct {
		unsigned secs;
		char unit;
	} units[] = {
		{ 7 * 86400, 'w' }, { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }
	};
	size_t i;

	for (i = 0; d != 0 && i < sizeof(units) / sizeof(units[0]); i++)
		if (d % units[i].secs == 0) {
			fprintf(fp, "%s %u%c\n", key, d / units[i].secs,
			    units[i].unit);
			return;
		}
	fprintf(fp, "%s %u\n", key, d);
}

/* A size in its largest exact unit, so 67108864 reads "64m". */
static void
print_size(FILE *fp, const char *key, off_t n)
{
	static const char units[] = "gmk";
	unsigned long long v = (unsigned long long)n;
	unsigned long long mult = 1024ULL * 1024 * 1024;
	size_t i;

	if (v == 0) {
		fprintf(fp, "%s 0 (none)\n", key);
		return;
	}
	for (i = 0; i < sizeof(units) - 1; i++, mult /= 1024)
		if (v % mult == 0) {
			fprintf(fp, "%s %llu%c\n", key, v / mult, units[i]);
			return;
		}
	fprintf(fp, "%s %llu\n", key, v);
}

static void
print_str(FILE *fp, const char *key, const char *v, const char *unset)
{
	fprintf(fp, "%s %s\n", key, v != NULL ? v : unset);
}

/* Userinfo as it must be written in a URL (RFC 3986 §3.2.1). */
static void
append_pct(char *out, size_t outlen, const char *s)
{
	size_t o = strlen(out);

	for (; *s != '\0' && o + 4 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (ascii_alnum(c) || strchr("-._~!$&'()*+;=", c) != NULL)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X", c);
	}
	out[o] = '\0';
}

void
config_relay_name(const struct config *cfg, size_t i, char *out,
    size_t outlen)
{
	const struct relay_conf *r = &cfg->relays[i];
	size_t o;

	if (outlen == 0)
		return;
	strlcpy(out, r->smtps ? "smtps://" : "smtp://", outlen);
	if (r->user != NULL) {
		append_pct(out, outlen, r->user);
		strlcat(out, r->password != NULL ? ":***@" : "@", outlen);
	}
	o = strlen(out);
	if (strchr(r->host, ':') != NULL)
		snprintf(out + o, outlen - o, "[%s]", r->host);
	else
		snprintf(out + o, outlen - o, "%s", r->host);
	o = strlen(out);
	if (r->port != 0)
		snprintf(out + o, outlen - o, ":%u", (unsigned)r->port);
}

/* Every relay of the list, in order, passwords masked. */
static void
print_relay(const struct config *cfg, FILE *fp)
{
	char name[CONFIG_HOST_MAX * 4];
	size_t i;

	fputs("relay", fp);
	if (cfg->nrelays == 0)
		fputs(" (none)", fp);
	for (i = 0; i < cfg->nrelays; i++) {
		config_relay_name(cfg, i, name, sizeof(name));
		fprintf(fp, " %s", name);
	}
	fputc('\n', fp);
}

/* --config-check: the relay route's settings. */
static void
print_relay_settings(const struct config *cfg, FILE *fp)
{
	static const char *const tls[] = {
		"auto", "starttls", "tls", "off",
		"may (-S: STARTTLS when offered, not verified)"
	};
	size_t i;

	fputs("route", fp);
	if (cfg->nroute == 0)
		fputs(cfg->nrelays > 0 ? " mx relay" : " mx", fp);
	for (i = 0; i < cfg->nroute && i < 2; i++)
		fputs(cfg->route[i] == ROUTE_MX ? " mx" : " relay", fp);
	fputc('\n', fp);
	print_relay(cfg, fp);
	fprintf(fp, "relay_tls %s\n", tls[cfg->relay_tls]);
	print_str(fp, "relay_user", cfg->relay_user, "(none)");
	print_str(fp, "relay_password", cfg->relay_password != NULL ? "***" :
	    NULL, "(none)");
	print_str(fp, "relay_password_file", cfg->relay_password_file,
	    "(none)");
	print_str(fp, "relay_password_command", cfg->relay_password_command,
	    "(none)");
	fputs("relay_auth", fp);
	for (i = 0; i < cfg->nrelay_auth && i < AUTH_NMECH; i++)
		fprintf(fp, " %s", mech_names[cfg->relay_auth[i]]);
	fputc('\n', fp);
	print_str(fp, "tls_ca_file", cfg->tls_ca_file,
	    "(default: system trust store)");
	fputs("relay_fingerprint ", fp);
	if (cfg->relay_fingerprint_set) {
		fputs("sha256:", fp);
		for (i = 0; i < sizeof(cfg->relay_fingerprint); i++)
			fprintf(fp, "%s%02X", i ? ":" : "",
			    cfg->relay_fingerprint[i]);
		fputc('\n', fp);
	} else
		fputs("(none)\n", fp);
}

/* --config-check: the MX route's settings. */
static void
print_mx_settings(const struct config *cfg, FILE *fp)
{
	static const char *const mxtls[] = {
		"opportunistic", "dane", "required", "off"
	};
	static const char *const afam[] = { "any", "ipv4", "ipv6" };
	size_t i;

	fprintf(fp, "mx_tls %s\n", mxtls[cfg->mx_tls]);
	print_str(fp, "helo", cfg->helo,
	    "(default: the host's fully qualified name, else [address])");
	fputs("nameserver", fp);
	for (i = 0; i < cfg->nnameservers && i < CONFIG_MAX_NAMESERVERS;
	    i++) {
		const struct nameserver *ns = &cfg->nameservers[i];

		if (ns->port == 53)
			fprintf(fp, " %s", ns->addr);
		else if (ns->family == AF_INET6)
			fprintf(fp, " [%s]:%u", ns->addr, (unsigned)ns->port);
		else
			fprintf(fp, " %s:%u", ns->addr, (unsigned)ns->port);
	}
	fputs(cfg->nnameservers == 0 ? " (default: /etc/resolv.conf)\n" :
	    "\n", fp);
	fprintf(fp, "mx_port %u\n", (unsigned)cfg->mx_port);
	fprintf(fp, "address_family %s\n", afam[cfg->address_family]);
}

/* --config-check: time-outs, the queue, the log and the rest. */
static void
print_local_settings(const struct config *cfg, FILE *fp)
{
	size_t i;

	print_str(fp, "default_domain", cfg->default_domain,
	    "(default: /etc/mailname, else the host's fully qualified name)");
	print_str(fp, "aliases", cfg->aliases,
	    "(default: /etc/aliases if present)");
	fprintf(fp, "alias_max_recipients %u%s\n", cfg->alias_max_recipients,
	    cfg->alias_max_recipients == 0 ? " (no limit)" : "");
	print_str(fp, "sender", cfg->sender,
	    "(default: login@default_domain)");
	print_str(fp, "relay_from", cfg->relay_from,
	    "(default: none: the relay gets the sender and From: as they are)");
	print_duration(fp, "timeout_connect", cfg->timeout_connect);
	print_duration(fp, "timeout_dns", cfg->timeout_dns);
	print_duration(fp, "timeout_command", cfg->timeout_command);
	print_duration(fp, "timeout_data", cfg->timeout_data);
	if (cfg->deadline == 0)
		fputs("deadline 0 (none)\n", fp);
	else
		print_duration(fp, "deadline", cfg->deadline);
	fprintf(fp, "max_parallel %u\n", cfg->max_parallel);
	fprintf(fp, "mx_max_addresses %u\n", cfg->mx_max_addresses);
	print_str(fp, "queue_dir", cfg->queue_dir, "(none)");
	print_duration(fp, "queue_lifetime", cfg->queue_lifetime);
	print_size(fp, "message_size_limit", cfg->message_size_limit);
	fprintf(fp, "bounce %s\n", cfg->bounce ? "on" : "off");
	switch (cfg->log) {
	case LOGT_SYSLOG:
		fputs("log syslog\n", fp);
		break;
	case LOGT_STDERR:
		fputs("log stderr\n", fp);
		break;
	case LOGT_NONE:
		fputs("log none\n", fp);
		break;
	case LOGT_FILE:
		print_str(fp, "log", cfg->log_file, "(none)");
		break;
	}
	print_str(fp, "transcript", cfg->transcript, "(none)");
	fputs("config_directories", fp);
	for (i = 0; i < cfg->nconfig_directories; i++)
		fprintf(fp, " %s", cfg->config_directories[i]);
	fputs(cfg->nconfig_directories == 0 ? " (none)\n" : "\n", fp);}

/* --config-check: DKIM (the record itself: dkim_print(), dkim.c). */
static void
print_dkim_settings(const struct config *cfg, FILE *fp)
{
	size_t i;

	print_str(fp, "dkim_domain", cfg->dkim_domain, "(none: no signing)");
	print_str(fp, "dkim_selector", cfg->dkim_selector, "(none)");
	print_str(fp, "dkim_key", cfg->dkim_key, "(none)");
	fputs("dkim_headers ", fp);
	for (i = 0; i < cfg->ndkim_headers; i++)
		fprintf(fp, "%s%s", i ? ":" : "", cfg->dkim_headers[i]);
	fputs("\ndkim_routes", fp);
	for (i = 0; i < 2; i++)
		if (cfg->dkim_routes & (1u << i))
			fputs(i == ROUTE_MX ? " mx" : " relay", fp);
	fputc('\n', fp);
}

void
config_print(const struct config *cfg, FILE *fp)
{
	/* A comment, so that the output still parses as a file. */
	if (cfg->file_read != NULL)
		fprintf(fp, "# configuration file: %s\n", cfg->file_read);
	else
		fputs("# configuration file: " SYSCONFDIR "/mxsend.conf not "
		    "found: built-in defaults\n", fp);
	print_relay_settings(cfg, fp);
	print_mx_settings(cfg, fp);
	print_local_settings(cfg, fp);
	print_dkim_settings(cfg, fp);
}
