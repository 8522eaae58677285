/*
 * options.c: the sendmail command line (SPEC §2) as a struct options.
 *
 * The syntax is getopt's (POSIX.1-2008 XBD 12.2, as Postfix's sendmail
 * uses it): flag letters may be bundled ("-ti"), a letter that takes a
 * value takes the rest of its argument or else the next one ("-fx",
 * "-f x"), "--" ends the options and the first non-option argument ends
 * them too (no GNU permutation). -q and -d take an attached value only,
 * as in sendmail, so that "-q" alone never swallows a recipient. DSN
 * parameters follow RFC 3461 §4.1-4.4 (NOTIFY, RET, ENVID); the options
 * that carried the PHP mail() injections (CVE-2016-10033) are consumed and
 * reported, never obeyed.
 */
#include "autoconf.h"

#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "util.h"

/* Longest piece of user input quoted back in a message. */
#define SHOW_MAX	48

/* The DSN ENVID limit of RFC 3461 §4.4. */
#define ENVID_MAX	100

#define INJECTION_NOTE	"(CVE-2016-10033)"

/* BusyBox's -au and -ap, as option codes beside the letters. */
#define OPT_AUTH_USER	0x100
#define OPT_AUTH_PASS	0x101

/*
 * Quote user input in a one-line message: control characters become '?',
 * and long input is cut (at a UTF-8 character boundary) and marked "...".
 */
static void
show(char *out, size_t outlen, const char *s)
{
	size_t n, i, max;

	if (outlen < 4) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	max = outlen - 4 < SHOW_MAX ? outlen - 4 : SHOW_MAX;
	n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (n < strlen(s)) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static void
warn(struct options *opts, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
warn(struct options *opts, const char *fmt, ...)
{
	va_list ap;

	if (opts->nwarnings >= OPT_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(opts->warnings[opts->nwarnings], OPT_WARNING_LEN,
	    fmt, ap);
	va_end(ap);
	opts->nwarnings++;
}

/* sendmail's atobool(): empty or anything but "f..."/"n..." is true. */
static int
atobool(const char *s)
{
	return !(*s == 'f' || *s == 'F' || *s == 'n' || *s == 'N');
}

static int
has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static int
is_number(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* SPEC §2 durations, with sendmail's "1h30m" sums allowed. */
static int
is_duration(const char *s)
{
	if (*s == '\0')
		return 0;
	while (*s != '\0') {
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
		if (*s != '\0' && strchr("smhdw", *s) != NULL)
			s++;
	}
	return 1;
}

static void
set_errmode(struct options *opts, int c)
{
	switch (c) {
	case 'm':
	case 'e':	/* sendmail's BerkNet mode: mail back, exit 0 */
		opts->errmode = ERRMODE_MAIL;
		break;
	case 'p':
	case 'w':
		opts->errmode = ERRMODE_PRINT;
		break;
	case 'q':
		opts->errmode = ERRMODE_QUIET;
		break;
	default:	/* sendmail ignores an unknown mode too */
		break;
	}
}

static void
set_delivmode(struct options *opts, int c)
{
	switch (c) {
	case 'i':
		opts->delivmode = DELIV_NOW;
		break;
	case 'b':
		opts->delivmode = DELIV_BACKGROUND;
		break;
	case 'q':
	case 'd':	/* sendmail's "defer": queue, no lookups */
		opts->delivmode = DELIV_QUEUE;
		break;
	default:
		break;
	}
}

static void
warn_queuedir(struct options *opts, const char *opt)
{
	char s[SHOW_MAX + 4];

	show(s, sizeof(s), opt);
	warn(opts, "ignoring %s: the queue directory is a configuration "
	    "setting " INJECTION_NOTE, s);
}

/* -o<letter><value>: sendmail's short option names. */
static void
opt_o(struct options *opts, const char *val)
{
	char opt[SHOW_MAX + 4];

	switch (val[0]) {
	case 'i':
		opts->ignore_dots = atobool(val + 1);
		break;
	case 'e':
		set_errmode(opts, val[1]);
		break;
	case 'd':
		set_delivmode(opts, val[1]);
		break;
	case 'Q':
		(void)snprintf(opt, sizeof(opt), "-o%s", val);
		warn_queuedir(opts, opt);
		break;
	default:	/* -om, -oo and the rest: accepted and ignored */
		break;
	}
}

/* -O<Name>[=<value>]: sendmail's long option names (case-insensitive). */
static void
opt_O(struct options *opts, const char *val)
{
	char opt[SHOW_MAX + 4];
	const char *eq, *v;
	size_t n;

	eq = strchr(val, '=');
	n = eq != NULL ? (size_t)(eq - val) : strlen(val);
	v = eq != NULL ? eq + 1 : "";
	if (n == 14 && ascii_strncasecmp(val, "QueueDirectory", n) == 0) {
		(void)snprintf(opt, sizeof(opt), "-O%s", val);
		warn_queuedir(opts, opt);
	} else if (n == 10 && ascii_strncasecmp(val, "IgnoreDots", n) == 0)
		opts->ignore_dots = atobool(v);
	else if (n == 9 && ascii_strncasecmp(val, "ErrorMode", n) == 0)
		set_errmode(opts, v[0]);
	else if (n == 12 && ascii_strncasecmp(val, "DeliveryMode", n) == 0)
		set_delivmode(opts, v[0]);
}

static int
opt_b(struct options *opts, const char *val, char *err, size_t errlen)
{
	char s[SHOW_MAX + 4];

	if (val[0] != '\0' && val[1] == '\0') {
		switch (val[0]) {
		case 'm':
			opts->mode = MODE_DELIVER;
			return 0;
		case 's':
			opts->mode = MODE_SMTP;
			return 0;
		case 'p':
			opts->mode = MODE_PRINTQ;
			return 0;
		case 'v':
			opts->mode = MODE_VERIFY;
			return 0;
		case 'i':
			opts->mode = MODE_NEWALIASES;
			return 0;
		case 'd':
		case 'D':
		case 't':
		case 'h':
		case 'H':
			return errf(err, errlen, "-b%c is not supported",
			    val[0]);
		default:
			break;
		}
	}
	show(s, sizeof(s), val);
	return errf(err, errlen, "unknown option -b%s", s);
}

static int
opt_q(struct options *opts, const char *val, char *err, size_t errlen)
{
	char s[SHOW_MAX + 4];
	enum qselect sel;

	show(s, sizeof(s), val);
	switch (val[0]) {
	case '\0':
		opts->mode = MODE_RUNQ;
		return 0;
	case 'I':
		sel = QSEL_ID;
		break;
	case 'R':
		sel = QSEL_RCPT;
		break;
	case 'S':
		sel = QSEL_SENDER;
		break;
	case '!':
		return errf(err, errlen, "-q%s: negated queue selection is "
		    "not supported", s);
	default:
		if (!is_duration(val))
			return errf(err, errlen, "unknown option -q%s "
			    "(expected -q, -q<time>, -qI, -qR or -qS)", s);
		/* No daemon: the interval has nothing to repeat. */
		opts->mode = MODE_RUNQ;
		return 0;
	}
	if (val[1] == '\0')
		return errf(err, errlen, "-q%c requires a substring", val[0]);
	if (val[1] == '!')
		return errf(err, errlen, "-q%s: negated queue selection is "
		    "not supported", s);
	opts->mode = MODE_RUNQ;
	opts->qselect = sel;
	opts->qsubstr = val + 1;
	return 0;
}

/* RFC 3461 §4.1: "NEVER" or a comma list of SUCCESS, FAILURE, DELAY. */
static int
opt_N(struct options *opts, const char *val, char *err, size_t errlen)
{
	static const struct {
		const char	*word;
		int		 bit;
	} words[] = {
		{ "never", NOTIFY_NEVER },
		{ "success", NOTIFY_SUCCESS },
		{ "failure", NOTIFY_FAILURE },
		{ "delay", NOTIFY_DELAY },
	};
	char s[SHOW_MAX + 4];
	const char *p, *end;
	size_t n, k;
	int bits = 0;

	p = val;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0) {
			show(s, sizeof(s), val);
			return errf(err, errlen, "-N: empty notification in "
			    "'%s' (expected never or a list of success, "
			    "failure, delay)", s);
		}
		for (k = 0; k < sizeof(words) / sizeof(words[0]); k++)
			if (strlen(words[k].word) == n &&
			    ascii_strncasecmp(p, words[k].word, n) == 0)
				break;
		if (k == sizeof(words) / sizeof(words[0])) {
			char word[SHOW_MAX + 4];
			char *w = xstrndup(p, n);

			show(word, sizeof(word), w);
			free(w);
			return errf(err, errlen, "-N: unknown notification "
			    "'%s' (expected never or a list of success, "
			    "failure, delay)", word);
		}
		bits |= words[k].bit;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	if ((bits & NOTIFY_NEVER) && bits != NOTIFY_NEVER)
		return errf(err, errlen, "-N: never cannot be combined with "
		    "success, failure or delay");
	opts->notify = bits;
	return 0;
}

/*
 * RFC 3461 §4.4: ENVID is 1-100 printable characters; '+' and '=' are
 * fine (Postfix takes them): smtp.c sends it xtext-encoded.
 */
static int
opt_V(struct options *opts, const char *val, char *err, size_t errlen)
{
	const char *p;
	size_t n = strlen(val);

	if (n == 0 || n > ENVID_MAX)
		goto bad;
	for (p = val; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			goto bad;
	opts->envid = val;
	return 0;
bad:
	return errf(err, errlen, "-V: the envelope id must be 1 to %d "
	    "printable ASCII characters without spaces", ENVID_MAX);
}

/*
 * BusyBox's -S HOST[:PORT]: a host name, an IPv4 address or an IPv6
 * address (in brackets when a port follows), and a port 1-65535.
 */
static int
opt_S(struct options *opts, const char *val, char *err, size_t errlen)
{
	char s[SHOW_MAX + 4], host[sizeof(opts->smarthost)];
	const char *start = val, *port = NULL, *end;
	struct in6_addr a6;
	int v6 = 0;

	show(s, sizeof(s), val);
	if (val[0] == '[' && (end = strchr(val, ']')) != NULL) {
		start = val + 1;
		v6 = 1;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			goto bad;
	} else if ((port = strchr(val, ':')) != NULL &&
	    strchr(port + 1, ':') != NULL) {
		end = val + strlen(val);	/* a bare IPv6 address */
		port = NULL;
		v6 = 1;
	} else {
		end = port != NULL ? port++ : val + strlen(val);
	}
	if (end == start || (size_t)(end - start) >= sizeof(host))
		return errf(err, errlen, "-S '%s': expected HOST[:PORT] with "
		    "a host name or an IP address", s);
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	if (v6 ? inet_pton(AF_INET6, host, &a6) != 1 :
	    !valid_hostname(host, 1))
		goto bad;
	if (port != NULL && (!is_number(port) || strlen(port) > 5 ||
	    atoi(port) < 1 || atoi(port) > 65535))
		return errf(err, errlen, "-S '%s': the port must be a number "
		    "1-65535", s);
	strlcpy(opts->smarthost, host, sizeof(opts->smarthost));
	opts->smarthost_port = port != NULL ? (unsigned)atoi(port) : 25;
	return 0;
bad:
	return errf(err, errlen, "-S '%s': expected HOST[:PORT] with a host "
	    "name, an IPv4 address or an [IPv6] address", s);
}

/* BusyBox's -w SECS: a duration (SPEC §2), not 0. */
static int
opt_w(struct options *opts, const char *val, char *err, size_t errlen)
{
	char s[SHOW_MAX + 4];
	const char *p;

	for (p = val; *p == '0'; p++)
		;
	if (!is_duration(val) || *p < '1' || *p > '9') {
		show(s, sizeof(s), val);
		return errf(err, errlen, "-w '%s': expected a time-out such "
		    "as 30 or 2m, not 0", s);
	}
	opts->timeout = val;
	return 0;
}

/* BusyBox's options that take a value. */
static int
opt_busybox(struct options *opts, int c, const char *val, char *err,
    size_t errlen)
{
	switch (c) {
	case 'S':
		return opt_S(opts, val, err, errlen);
	case 'w':
		return opt_w(opts, val, err, errlen);
	case OPT_AUTH_USER:
		opts->smarthost_user = val;
		return 0;
	default:
		opts->smarthost_password = val;
		return 0;
	}
}

/* BusyBox's -au and -ap: the code for the letters after -a, or 0. */
static int
auth_option(const char **p)
{
	if (**p != 'u' && **p != 'p')
		return 0;
	return *(*p)++ == 'u' ? OPT_AUTH_USER : OPT_AUTH_PASS;
}

/* -au and -ap go with -S, and with each other. */
static int
check_smarthost(struct options *opts, char *err, size_t errlen)
{
	if (opts->smarthost_user == NULL && opts->smarthost_password == NULL)
		return 0;
	if (opts->smarthost[0] == '\0')
		return errf(err, errlen, "-au and -ap are the credentials of "
		    "the -S relay: give -S HOST[:PORT] too");
	if (opts->smarthost_user == NULL || opts->smarthost_password == NULL)
		return errf(err, errlen, "%s needs %s",
		    opts->smarthost_user == NULL ? "-ap" : "-au",
		    opts->smarthost_user == NULL ? "-au USER" : "-ap PASSWORD");
	warn(opts, "-ap: a password on the command line is visible to "
	    "other local users (ps, /proc); relay_password_file keeps it "
	    "private");
	return 0;
}

/*
 * -c's value, one of two keywords in any case (-R full|hdrs, -B
 * 7BIT|8BITMIME): 0 for the first, 1 for the second, -1 with err set.
 */
static int
opt_choice(int c, const char *val, const char *first, const char *second,
    char *err, size_t errlen)
{
	char s[SHOW_MAX + 4];

	if (ascii_strcasecmp(val, first) == 0)
		return 0;
	if (ascii_strcasecmp(val, second) == 0)
		return 1;
	show(s, sizeof(s), val);
	return errf(err, errlen, "-%c: expected %s or %s, not '%s'", c, first,
	    second, s);
}

/* One option letter with its value: 0, or -1 with err set. */
static int
opt_value(struct options *opts, int c, const char *val, char *err,
    size_t errlen)
{
	char s[SHOW_MAX + 4];
	int k;

	switch (c) {
	case 'f':
	case 'r':
		if (has_line_break(val))
			return errf(err, errlen,
			    "-%c: address contains a line break", c);
		opts->sender = val;
		return 0;
	case 'F':
		if (has_line_break(val))
			return errf(err, errlen,
			    "-F: name contains a line break");
		opts->fullname = val;
		return 0;
	case 'N':
		return opt_N(opts, val, err, errlen);
	case 'R':
		if ((k = opt_choice(c, val, "full", "hdrs", err, errlen)) < 0)
			return -1;
		opts->ret = k == 0 ? RET_FULL : RET_HDRS;
		return 0;
	case 'V':
		return opt_V(opts, val, err, errlen);
	case 'B':
		if ((k = opt_choice(c, val, "7BIT", "8BITMIME", err,
		    errlen)) < 0)
			return -1;
		opts->body = k == 0 ? BODY_7BIT : BODY_8BITMIME;
		return 0;
	case 'C':
		if (val[0] == '\0')
			return errf(err, errlen, "-C: empty file name");
		opts->config_file = val;
		return 0;
	case 'h':
		if (!is_number(val)) {
			show(s, sizeof(s), val);
			return errf(err, errlen, "-h: hop count '%s' is not "
			    "a number", s);
		}
		return 0;
	case 'X':
		show(s, sizeof(s), val);
		warn(opts, "ignoring -X %s: the transcript file is a "
		    "configuration setting " INJECTION_NOTE, s);
		return 0;
	case 'b':
		return opt_b(opts, val, err, errlen);
	case 'S':
	case 'w':
	case OPT_AUTH_USER:
	case OPT_AUTH_PASS:
		return opt_busybox(opts, c, val, err, errlen);
	case 'o':
		opt_o(opts, val);
		return 0;
	case 'O':
		opt_O(opts, val);
		return 0;
	case 'q':
		return opt_q(opts, val, err, errlen);
	case 'L':	/* syslog tag */
	case 'A':	/* submit.cf or sendmail.cf */
	case 'd':	/* debug flags */
	default:
		return 0;
	}
}

static int
missing_value(int c, char *err, size_t errlen)
{
	if (c == OPT_AUTH_USER || c == OPT_AUTH_PASS)
		return errf(err, errlen, "option -a%c requires a value",
		    c == OPT_AUTH_USER ? 'u' : 'p');
	return errf(err, errlen, "option -%c requires a value", c);
}

static int
long_option(struct options *opts, const char *arg, char *err, size_t errlen)
{
	char s[SHOW_MAX + 4];

	if (strcmp(arg, "--help") == 0)
		opts->mode = MODE_HELP;
	else if (strcmp(arg, "--version") == 0)
		opts->mode = MODE_VERSION;
	else if (strcmp(arg, "--config-check") == 0)
		opts->mode = MODE_CONFIG_CHECK;
	else if (strcmp(arg, "--dkim-genkey") == 0)
		opts->mode = MODE_DKIM_GENKEY;
	else {
		show(s, sizeof(s), arg);
		return errf(err, errlen, "unknown option %s", s);
	}
	return 0;
}

static enum mode
mode_from_name(const char *argv0)
{
	const char *base;

	if (argv0 == NULL)
		return MODE_DELIVER;
	base = strrchr(argv0, '/');
	base = base != NULL ? base + 1 : argv0;
	if (strcmp(base, "mailq") == 0)
		return MODE_PRINTQ;
	if (strcmp(base, "newaliases") == 0)
		return MODE_NEWALIASES;
	return MODE_DELIVER;
}

static int
check_recipients(const struct options *opts, char *err, size_t errlen)
{
	char s[SHOW_MAX + 4];
	const char *p;
	size_t i;

	for (i = 0; i < opts->nrcpts; i++) {
		p = opts->rcpts[i];
		if (*p == '\0')
			return errf(err, errlen, "empty recipient argument");
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '-') {
			show(s, sizeof(s), opts->rcpts[i]);
			return errf(err, errlen, "recipient '%s' starts with "
			    "'-'", s);
		}
	}
	return 0;
}

/* What follows the options, and -S's consistency; 0 or -1 (err set). */
static int
check_operands(struct options *opts, char *err, size_t errlen)
{
	if (check_smarthost(opts, err, errlen) != 0)
		return -1;
	/* Its arguments stand where recipients would. */
	if (opts->mode == MODE_DKIM_GENKEY && (opts->nrcpts < 2 ||
	    opts->nrcpts > 3))
		return errf(err, errlen, "usage: --dkim-genkey SELECTOR "
		    "DOMAIN [rsa|ed25519]");
	return check_recipients(opts, err, errlen);
}

int
options_parse(struct options *opts, int argc, char *const argv[],
    char *err, size_t errlen)
{
	const char *arg, *p, *val;
	int i, c;

	memset(opts, 0, sizeof(*opts));
	opts->mode = mode_from_name(argc > 0 ? argv[0] : NULL);
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	for (i = argc > 0 ? 1 : 0; i < argc; i++) {
		arg = argv[i];
		if (arg[0] != '-' || arg[1] == '\0')
			break;
		if (arg[1] == '-') {
			if (arg[2] == '\0') {
				i++;
				break;
			}
			if (long_option(opts, arg, err, errlen) != 0)
				return -1;
			continue;
		}
		for (p = arg + 1; *p != '\0'; ) {
			c = (unsigned char)*p++;
			switch (c) {
			case 't':
				opts->extract = 1;
				continue;
			case 'i':
				opts->ignore_dots = 1;
				continue;
			case 'v':
				opts->verbose++;
				continue;
			case 'n':	/* sendmail's "do not alias" */
				opts->no_alias = 1;
				continue;
			case 'U':	/* initial submission */
			case 'G':	/* gateway submission */
			case 'm':	/* me too */
				continue;
			case 'q':	/* attached value only */
			case 'd':
				val = p;
				break;
			case 'a':	/* BusyBox: -auUSER, -au USER, -ap */
				if ((c = auth_option(&p)) == 0)
					return errf(err, errlen, "unknown "
					    "option -a%.1s (BusyBox's -au USER "
					    "and -ap PASSWORD)", p);
				/* FALLTHROUGH */
			case 'f': case 'r': case 'F': case 'N': case 'R':
			case 'V': case 'B': case 'C': case 'h': case 'L':
			case 'X': case 'b': case 'o': case 'O': case 'A':
			case 'S': case 'w':
				if (*p != '\0')
					val = p;
				else if (i + 1 < argc)
					val = argv[++i];
				else
					return missing_value(c, err, errlen);
				break;
			default:
				if (c < 0x21 || c > 0x7e)
					return errf(err, errlen,
					    "unknown option -\\x%02x", c);
				return errf(err, errlen,
				    "unknown option -%c", c);
			}
			if (opt_value(opts, c, val, err, errlen) != 0)
				return -1;
			break;
		}
	}

	opts->rcpts = argv + i;
	opts->nrcpts = i < argc ? (size_t)(argc - i) : 0;
	return check_operands(opts, err, errlen);
}

const char *
options_usage(void)
{
	return
	    "usage: sendmail [options] [--] [recipient ...]\n"
	    "       mailq [-C file] [-v]\n"
	    "       newaliases [-C file] [-v]\n"
	    "modes:\n"
	    "  -bm       deliver a message read from stdin (default)\n"
	    "  -bs       speak SMTP on stdin/stdout\n"
	    "  -bp       list the queue (mailq)\n"
	    "  -bv       verify recipients, deliver nothing\n"
	    "  -bi       check the aliases file (newaliases)\n"
	    "  -q        run the queue once; -qI/-qR/-qS<substr> select by "
	    "id,\n"
	    "            recipient or sender\n"
	    "  --help, --version, --config-check\n"
	    "  --dkim-genkey SELECTOR DOMAIN [rsa|ed25519]   a DKIM key and "
	    "its record\n"
	    "options:\n"
	    "  -t        also take recipients from To:, Cc:, Bcc:\n"
	    "  -i, -oi   a line holding a single '.' does not end the "
	    "message\n"
	    "  -f addr   envelope sender (-r is the same; '<>' is null)\n"
	    "  -F name   full name for a generated From: header\n"
	    "  -N never|success,failure,delay   DSN notify\n"
	    "  -R full|hdrs   DSN return   -V envid   DSN envelope id\n"
	    "  -B 7BIT|8BITMIME   body type\n"
	    "  -C file   configuration file\n"
	    "  -v        verbose\n"
	    "  -oem      mail errors back; -oep, -oew print; -oeq quiet\n"
	    "  -odi      deliver now; -odb in the background; -odq queue "
	    "only\n"
	    "BusyBox sendmail:\n"
	    "  -S host[:port]   relay to host (port 25) for this run\n"
	    "  -au user, -ap password   credentials for the -S relay\n"
	    "  -w secs   time-out for connect and each reply\n";
}
