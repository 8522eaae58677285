/*
 * test_config.c: the configuration of SPEC §4 as an administrator meets
 * it: every key with a good and a bad value, the file syntax, the
 * environment overrides, the checks across keys, the password file
 * permissions, the -C rule and config_directories (§2), and
 * --config-check output with secrets masked (§10).
 *
 * The values of the keys are rows: texts that parse and the fields they
 * set (accepted[]), texts and the error each gives (refused[]), and
 * variables refused (env_refused[]); each row is a test of its own and
 * names itself when it fails.
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "rows.h"
#include "util.h"

/* What follows "bad value for KEY: 'VALUE'" in the errors. */
#define AUTH_HINT "(any, or a list of scram-sha-256 plain login cram-md5 " \
	"xoauth2 oauthbearer)"
#define FP_HINT "(64 hex digits of a SHA-256, colons allowed)"
#define HELO_HINT "(a host name or an address literal such as [192.0.2.1])"
#define NS_HINT "(IP, IP:port or [IPv6]:port, space or comma separated)"
#define SENDER_HINT "(an address such as user@example.com)"
#define DUR_HINT "(a duration such as 30, 5m, 2h)"
#define SIZE_HINT "(a size such as 64m, 512k or 1g (binary units), or 0 " \
	"for no limit)"

#define DIRS_ONLY	"config_directories is read from the default " \
	"configuration file only (the file MXSEND_CONFIG names, else " \
	SYSCONFDIR "/mxsend.conf)"

static char err[512];

static int
parse(struct config *c, const char *text)
{
	err[0] = '\0';
	return config_parse(c, text, strlen(text), "t.conf", err, sizeof(err));
}

/* A fresh config with text parsed, which must succeed. */
static void
good(struct config *c, const char *text)
{
	config_init(c);
	cr_assert_eq(parse(c, text), 0, "'%s' refused: %s", text, err);
}

/* The same, then config_finish(), which must succeed too. */
static void
good_finished(struct config *c, const char *text)
{
	good(c, text);
	cr_assert_eq(config_finish(c, err, sizeof(err)), 0, "'%s': %s", text,
	    err);
}

/* A fresh config refusing text with exactly the error want. */
static void
bad(const char *text, const char *want)
{
	struct config c;

	config_init(&c);
	cr_assert_eq(parse(&c, text), -1, "'%s' accepted", text);
	cr_assert_str_eq(err, want);
	config_free(&c);
}

static int
finish(struct config *c)
{
	err[0] = '\0';
	return config_finish(c, err, sizeof(err));
}

static char *
print(const struct config *c)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	cr_assert_not_null(fp);
	config_print(c, fp);
	fclose(fp);
	return out;
}

/*
 * config_load() of path as the default file (MXSEND_CONFIG): -C is for
 * root only unless config_directories allows it (SPEC §2), and these
 * tests are about the file, whoever runs them.
 */
static int
load(struct config *c, const char *path)
{
	err[0] = '\0';
	cr_assert_eq(setenv("MXSEND_CONFIG", path, 1), 0);
	return config_load(c, NULL, err, sizeof(err));
}

static char tmpdirs[16][32];
static size_t ntmpdirs;

/* A file in a fresh temporary directory, with mode; returns its path. */
static char *
tmpfile_with(const char *name, const char *content, mode_t mode)
{
	char dir[] = "/tmp/test_config.XXXXXX";
	char *path;
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert(ntmpdirs < sizeof(tmpdirs) / sizeof(tmpdirs[0]));
	snprintf(tmpdirs[ntmpdirs++], sizeof(tmpdirs[0]), "%s", dir);
	path = xasprintf("%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, content, strlen(content)),
	    (ssize_t)strlen(content));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* The directories tmpfile_with() made in this test, removed after it. */
static void
remove_tmpdirs(void)
{
	char cmd[64];
	size_t i;

	for (i = 0; i < ntmpdirs; i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%.31s'", tmpdirs[i]);
		(void)system(cmd);
	}
	ntmpdirs = 0;
}

/* Every MXSEND_ variable the test runner may have inherited. */
static void
clean_env(void)
{
	extern char **environ;
	char **e;

	for (e = environ; *e != NULL;) {
		if (strncmp(*e, "MXSEND_", 7) == 0) {
			char *name = xstrndup(*e, strcspn(*e, "="));

			unsetenv(name);
			free(name);
			e = environ;
		} else
			e++;
	}
}

TestSuite(config, .init = clean_env, .fini = remove_tmpdirs);

/* ---------------------------------------------------------- defaults */

Test(config, defaults)
{
	struct config c;
	char *out;

	config_init(&c);
	cr_assert_eq(finish(&c), 0, "%s", err);
	cr_assert_eq(c.nroute, 1);
	cr_assert_eq(c.route[0], ROUTE_MX);
	cr_assert_eq(c.nrelays, 0);
	cr_assert_eq(c.relay_tls, RELAY_TLS_AUTO);
	cr_assert_null(c.relay_user);
	cr_assert_null(c.relay_password);
	cr_assert_eq(c.nrelay_auth, 4);
	cr_assert_eq(c.relay_auth[0], AUTH_SCRAM_SHA_256);
	cr_assert_eq(c.relay_auth[1], AUTH_PLAIN);
	cr_assert_eq(c.relay_auth[2], AUTH_LOGIN);
	cr_assert_eq(c.relay_auth[3], AUTH_CRAM_MD5);
	cr_assert_null(c.tls_ca_file);
	cr_assert_eq(c.relay_fingerprint_set, 0);
	cr_assert_eq(c.mx_tls, MX_TLS_OPPORTUNISTIC);
	cr_assert_null(c.helo);
	cr_assert_eq(c.nnameservers, 0);
	cr_assert_eq(c.mx_port, 25);
	cr_assert_eq(c.address_family, AFAM_ANY);
	cr_assert_null(c.default_domain);
	cr_assert_null(c.aliases);
	cr_assert_eq(c.aliases_set, 0);
	cr_assert_eq(c.alias_max_recipients, 1000);
	cr_assert_null(c.sender);
	cr_assert_eq(c.timeout_connect, 30);
	cr_assert_eq(c.timeout_command, 300);
	cr_assert_eq(c.timeout_data, 600);
	cr_assert_eq(c.deadline, 0);
	cr_assert_eq(c.max_parallel, 32);
	cr_assert_eq(c.mx_max_addresses, 5);
	cr_assert_str_eq(c.queue_dir, QUEUE_DIR);
	cr_assert_eq(c.queue_lifetime, 432000);
	cr_assert_eq(c.message_size_limit, 64 * 1024 * 1024);
	cr_assert_eq(c.bounce, 0);
	cr_assert_eq(c.log, LOGT_SYSLOG);
	cr_assert_null(c.transcript);
	cr_assert_eq(c.nconfig_directories, 0);
	out = print(&c);
	cr_assert_not_null(strstr(out, "route mx\n"));
	cr_assert_not_null(strstr(out, "relay (none)\n"));
	cr_assert_not_null(strstr(out,
	    "nameserver (default: /etc/resolv.conf)\n"));
	cr_assert_not_null(strstr(out, "queue_lifetime 5d\n"));
	cr_assert_not_null(strstr(out, "timeout_data 10m\n"));
	cr_assert_not_null(strstr(out, "deadline 0 (none)\n"));
	cr_assert_not_null(strstr(out, "message_size_limit 64m\n"), "%s", out);
	cr_assert_not_null(strstr(out, "config_directories (none)\n"), "%s",
	    out);
	free(out);
	config_free(&c);
}

Test(config, default_route_with_relay)
{
	struct config c;

	good(&c, "relay smtp://relay.example.net\n");
	cr_assert_eq(finish(&c), 0, "%s", err);
	cr_assert_eq(c.nroute, 2);
	cr_assert_eq(c.route[0], ROUTE_MX);
	cr_assert_eq(c.route[1], ROUTE_RELAY);
	cr_assert_eq(c.relays[0].port, 587);
	config_free(&c);
}

/* ---------------------------------------------------------- syntax */

Test(config, nul_byte_refused)
{
	struct config c;
	static const char text[] = "mx_port 26\nhelo a\0b\n";

	config_init(&c);
	cr_assert_eq(config_parse(&c, text, sizeof(text) - 1, "t.conf", err,
	    sizeof(err)), -1);
	cr_assert_str_eq(err, "t.conf:2: NUL byte in line");
	config_free(&c);
}

Test(config, long_line)
{
	struct config c;
	char *text = xmalloc(4100 + 2);

	/* 4096 bytes is the limit and allowed; one more is refused. */
	memset(text, '#', 4096);
	strcpy(text + 4096, "\n");
	good(&c, text);
	config_free(&c);
	memset(text, '#', 4097);
	strcpy(text + 4097, "\n");
	bad(text, "t.conf:1: line longer than 4096 bytes");
	free(text);
}

/* ---------------------------------------------------------- values, as rows */

/*
 * Texts that parse, and the fields of struct config they set: one test
 * per row (rows.h), comparing the fields its check names.
 */
#define C_ROUTE			0x0000001	/* nroute, route[] */
#define C_RELAY_TLS		0x0000008
#define C_RELAY_USER		0x0000010
#define C_RELAY_PASSWORD	0x0000020
#define C_TLS_CA_FILE		0x0000040
#define C_MX_TLS		0x0000080
#define C_HELO			0x0000100
#define C_MX_PORT		0x0000200
#define C_ADDRESS_FAMILY	0x0000400
#define C_DEFAULT_DOMAIN	0x0000800
#define C_ALIASES		0x0001000	/* aliases, aliases_set */
#define C_SENDER		0x0002000
#define C_TIMEOUT_CONNECT	0x0004000
#define C_TIMEOUT_COMMAND	0x0008000
#define C_TIMEOUT_DATA		0x0010000
#define C_DEADLINE		0x0020000
#define C_QUEUE_LIFETIME	0x0040000
#define C_MAX_PARALLEL		0x0080000
#define C_MX_MAX_ADDRESSES	0x0100000
#define C_QUEUE_DIR		0x0200000
#define C_BOUNCE		0x0400000
#define C_LOG			0x0800000
#define C_LOG_FILE		0x1000000
#define C_TRANSCRIPT		0x2000000
#define C_RELAY_FROM		0x4000000
#define C_ALIAS_MAX		0x8000000

struct accepted {
	const char	*name;
	const char	*text;
	unsigned	 check;		/* C_* */
	struct config	 want;
};

static const struct accepted accepted[] = {
	/* syntax */
	{ "comments_blanks_and_whitespace", "# a comment\n\n   \t\n"
	    "  helo   mail.example.com  # why\n\tmx_port\t2525\t\n",
	    C_HELO | C_MX_PORT,
	    { .helo = "mail.example.com", .mx_port = 2525 } },
	{ "quoted_values", "relay_password \"se\\\"cr#et\\\\ x\"   # comment\n"
	    "relay_user \"a user\"\n", C_RELAY_PASSWORD | C_RELAY_USER,
	    { .relay_password = "se\"cr#et\\ x", .relay_user = "a user" } },
	{ "unquoted_hash_starts_comment", "relay_password abc#def\n",
	    C_RELAY_PASSWORD, { .relay_password = "abc" } },
	{ "crlf_lines", "mx_port 26\r\nhelo a.example\r\n", C_MX_PORT | C_HELO,
	    { .mx_port = 26, .helo = "a.example" } },
	{ "byte_order_mark_skipped", "\xef\xbb\xbfmx_port 27\n", C_MX_PORT,
	    { .mx_port = 27 } },
	{ "duplicate_key_last_wins", "mx_port 26\nmx_port 27\n", C_MX_PORT,
	    { .mx_port = 27 } },
	{ "last_line_without_newline", "mx_port 26\nmx_port 28", C_MX_PORT,
	    { .mx_port = 28 } },

	/* each key */
	{ "route", "route relay\n", C_ROUTE,
	    { .nroute = 1, .route = { ROUTE_RELAY } } },
	{ "relay_tls", "relay_tls starttls\n", C_RELAY_TLS,
	    { .relay_tls = RELAY_TLS_STARTTLS } },
	{ "relay_tls", "relay_tls off\nrelay_tls auto\n", C_RELAY_TLS,
	    { .relay_tls = RELAY_TLS_AUTO } },
	{ "relay_tls", "relay_tls off\n", C_RELAY_TLS,
	    { .relay_tls = RELAY_TLS_OFF } },
	{ "tls_ca_file", "tls_ca_file /etc/ssl/ca.pem\n", C_TLS_CA_FILE,
	    { .tls_ca_file = "/etc/ssl/ca.pem" } },
	{ "mx_tls", "mx_tls dane\n", C_MX_TLS, { .mx_tls = MX_TLS_DANE } },
	{ "mx_tls", "mx_tls required\n", C_MX_TLS,
	    { .mx_tls = MX_TLS_REQUIRED } },
	{ "mx_tls", "mx_tls off\n", C_MX_TLS, { .mx_tls = MX_TLS_OFF } },
	{ "helo", "helo [192.0.2.1]\n", C_HELO, { .helo = "[192.0.2.1]" } },
	{ "helo", "helo [IPv6:2001:db8::1]\n", C_HELO,
	    { .helo = "[IPv6:2001:db8::1]" } },
	{ "helo", "helo host.example.\n", C_HELO,
	    { .helo = "host.example." } },
	{ "mx_port", "mx_port 65535\n", C_MX_PORT, { .mx_port = 65535 } },
	{ "address_family", "address_family ipv6\n", C_ADDRESS_FAMILY,
	    { .address_family = AFAM_IPV6 } },
	{ "address_family", "address_family ipv4\n", C_ADDRESS_FAMILY,
	    { .address_family = AFAM_IPV4 } },
	{ "default_domain", "default_domain example.org\n", C_DEFAULT_DOMAIN,
	    { .default_domain = "example.org" } },
	{ "aliases", "aliases /etc/mail/aliases\n", C_ALIASES,
	    { .aliases = "/etc/mail/aliases", .aliases_set = 1 } },
	{ "alias_max_recipients", "alias_max_recipients 5000\n",
	    C_ALIAS_MAX, { .alias_max_recipients = 5000 } },
	{ "alias_max_recipients", "alias_max_recipients 0\n", C_ALIAS_MAX,
	    { .alias_max_recipients = 0 } },
	{ "sender", "sender no-reply@example.org\n", C_SENDER,
	    { .sender = "no-reply@example.org" } },
	{ "sender", "sender cron\n", C_SENDER, { .sender = "cron" } },
	{ "relay_from", "relay_from cron@example.com\n", C_RELAY_FROM,
	    { .relay_from = "cron@example.com" } },
	{ "sender", "sender a.b+c@[192.0.2.1]\n", C_SENDER,
	    { .sender = "a.b+c@[192.0.2.1]" } },
	{ "timeouts", "timeout_connect 5\ntimeout_command 5m\n"
	    "timeout_data 2h\ndeadline 1w\nqueue_lifetime 3d\n",
	    C_TIMEOUT_CONNECT | C_TIMEOUT_COMMAND | C_TIMEOUT_DATA |
	    C_DEADLINE | C_QUEUE_LIFETIME, { .timeout_connect = 5,
	    .timeout_command = 300, .timeout_data = 7200, .deadline = 604800,
	    .queue_lifetime = 259200 } },
	{ "timeouts", "deadline 10m\ndeadline 0\n", C_DEADLINE,
	    { .deadline = 0 } },
	{ "max_parallel", "max_parallel 1000\n", C_MAX_PARALLEL,
	    { .max_parallel = 1000 } },
	{ "mx_max_addresses", "mx_max_addresses 1\n", C_MX_MAX_ADDRESSES,
	    { .mx_max_addresses = 1 } },
	{ "queue_dir", "queue_dir /srv/queue\n", C_QUEUE_DIR,
	    { .queue_dir = "/srv/queue" } },
	{ "bounce", "bounce on\n", C_BOUNCE, { .bounce = 1 } },
	{ "bounce", "bounce yes\n", C_BOUNCE, { .bounce = 1 } },
	{ "bounce", "bounce true\n", C_BOUNCE, { .bounce = 1 } },
	{ "bounce", "bounce 1\n", C_BOUNCE, { .bounce = 1 } },
	{ "bounce", "bounce ON\n", C_BOUNCE, { .bounce = 1 } },
	{ "bounce", "bounce on\nbounce off\n", C_BOUNCE, { .bounce = 0 } },
	{ "bounce", "bounce on\nbounce no\n", C_BOUNCE, { .bounce = 0 } },
	{ "bounce", "bounce on\nbounce false\n", C_BOUNCE, { .bounce = 0 } },
	{ "bounce", "bounce on\nbounce 0\n", C_BOUNCE, { .bounce = 0 } },
	{ "log", "log stderr\n", C_LOG, { .log = LOGT_STDERR } },
	{ "log", "log none\n", C_LOG, { .log = LOGT_NONE } },
	{ "log", "log /var/log/mxsend.log\n", C_LOG | C_LOG_FILE,
	    { .log = LOGT_FILE, .log_file = "/var/log/mxsend.log" } },
	{ "log", "log /var/log/mxsend.log\nlog syslog\n", C_LOG | C_LOG_FILE,
	    { .log = LOGT_SYSLOG, .log_file = NULL } },
	{ "transcript", "transcript /tmp/mxsend.transcript\n", C_TRANSCRIPT,
	    { .transcript = "/tmp/mxsend.transcript" } },
};

ROW_PARAMETERS(config, accepted, accepted);

ParameterizedTest(const size_t *row, config, accepted)
{
	const struct accepted *r = &accepted[*row];
	struct config c;
	char label[1200];
	size_t i;

	snprintf(label, sizeof(label), "%s '%s'", r->name, row_show(r->text));
	config_init(&c);
	cr_assert_eq(parse(&c, r->text), 0, "%s refused: %s", label, err);
	if (r->check & C_ROUTE) {
		ROW_FIELD_NUM(label, r, c, C_ROUTE, nroute);
		for (i = 0; i < r->want.nroute; i++)
			ROW_FIELD_NUM(label, r, c, C_ROUTE, route[i]);
	}
	ROW_FIELD_NUM(label, r, c, C_RELAY_TLS, relay_tls);
	ROW_FIELD_STR(label, r, c, C_RELAY_USER, relay_user);
	ROW_FIELD_STR(label, r, c, C_RELAY_PASSWORD, relay_password);
	ROW_FIELD_STR(label, r, c, C_TLS_CA_FILE, tls_ca_file);
	ROW_FIELD_NUM(label, r, c, C_MX_TLS, mx_tls);
	ROW_FIELD_STR(label, r, c, C_HELO, helo);
	ROW_FIELD_NUM(label, r, c, C_MX_PORT, mx_port);
	ROW_FIELD_NUM(label, r, c, C_ADDRESS_FAMILY, address_family);
	ROW_FIELD_STR(label, r, c, C_DEFAULT_DOMAIN, default_domain);
	ROW_FIELD_STR(label, r, c, C_ALIASES, aliases);
	ROW_FIELD_NUM(label, r, c, C_ALIASES, aliases_set);
	ROW_FIELD_NUM(label, r, c, C_ALIAS_MAX, alias_max_recipients);
	ROW_FIELD_STR(label, r, c, C_SENDER, sender);
	ROW_FIELD_STR(label, r, c, C_RELAY_FROM, relay_from);
	ROW_FIELD_NUM(label, r, c, C_TIMEOUT_CONNECT, timeout_connect);
	ROW_FIELD_NUM(label, r, c, C_TIMEOUT_COMMAND, timeout_command);
	ROW_FIELD_NUM(label, r, c, C_TIMEOUT_DATA, timeout_data);
	ROW_FIELD_NUM(label, r, c, C_DEADLINE, deadline);
	ROW_FIELD_NUM(label, r, c, C_QUEUE_LIFETIME, queue_lifetime);
	ROW_FIELD_NUM(label, r, c, C_MAX_PARALLEL, max_parallel);
	ROW_FIELD_NUM(label, r, c, C_MX_MAX_ADDRESSES, mx_max_addresses);
	ROW_FIELD_STR(label, r, c, C_QUEUE_DIR, queue_dir);
	ROW_FIELD_NUM(label, r, c, C_BOUNCE, bounce);
	ROW_FIELD_NUM(label, r, c, C_LOG, log);
	ROW_FIELD_STR(label, r, c, C_LOG_FILE, log_file);
	ROW_FIELD_STR(label, r, c, C_TRANSCRIPT, transcript);
	config_free(&c);
}

/*
 * Texts of the relay key that parse, and the list they give, each relay
 * as config_relay_name() shows it, in order.
 */
static const struct {
	const char	*name;
	const char	*text;
	const char	*want;
} relay_lists[] = {
	{ "relay_ipv6_and_ipv4", "relay smtp://[2001:db8::1]:2525\n",
	    "smtp://[2001:db8::1]:2525" },
	{ "relay_ipv6_and_ipv4", "relay smtp://127.0.0.1:1025\n",
	    "smtp://127.0.0.1:1025" },
	{ "relay_ipv6_and_ipv4", "relay smtp://mail_relay:25\n",
	    "smtp://mail_relay:25" },
	/* SPEC §4: one or more relays, space or comma separated. */
	{ "relay_list_spaces", "relay smtp://a.example:25  \t"
	    "smtps://u:pw@b.example\n",
	    "smtp://a.example:25 smtps://u:***@b.example" },
	{ "relay_list_commas", "relay smtp://a.example,smtp://b.example:2525,"
	    "smtps://c.example\n",
	    "smtp://a.example smtp://b.example:2525 smtps://c.example" },
	{ "relay_list_mixed", "relay \"smtp://a.example , ,smtp://b.example, "
	    "smtp://c.example,\"\n",
	    "smtp://a.example smtp://b.example smtp://c.example" },
	/* RFC 3986 allows a comma in the userinfo: not a separator there. */
	{ "relay_list_comma_in_password", "relay smtp://u:pa,ss@a.example,"
	    "smtp://v:x,@b.example\n",
	    "smtp://u:***@a.example smtp://v:***@b.example" },
	/* The same relay twice is a second try of it, not a mistake. */
	{ "relay_list_duplicate", "relay smtp://a.example smtp://a.example\n",
	    "smtp://a.example smtp://a.example" },
	{ "relay_list_replaced_whole", "relay smtp://a.example smtp://b.example"
	    "\nrelay smtp://c.example\n",
	    "smtp://c.example" },
};

/* The relays of c, as config_relay_name() gives them, are want. */
static void
row_check_relays(const char *label, const struct config *c,
    const char *want)
{
	char name[1100];
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < c->nrelays; i++) {
		config_relay_name(c, i, name, sizeof(name));
		buf_printf(&b, "%s%s", i > 0 ? " " : "", name);
	}
	row_check_str(label, "relays", b.len > 0 ? b.data : "", want);
	buf_free(&b);
}

ROW_PARAMETERS(config, relay_lists, relay_lists);

ParameterizedTest(const size_t *row, config, relay_lists)
{
	struct config c;
	char label[1200];

	snprintf(label, sizeof(label), "%s '%s'", relay_lists[*row].name,
	    row_show(relay_lists[*row].text));
	config_init(&c);
	cr_assert_eq(parse(&c, relay_lists[*row].text), 0, "%s refused: %s",
	    label, err);
	row_check_relays(label, &c, relay_lists[*row].want);
	config_free(&c);
}

/* Texts refused, and the whole error each gives. */
struct refused {
	const char	*name;
	const char	*text;
	const char	*want;
};

static const struct refused refused[] = {
	{ "quoting_errors", "helo \"mail.example.com\n",
	    "t.conf:1: unterminated quoted value" },
	{ "quoting_errors", "\nhelo \"mail.example.com\" x\n",
	    "t.conf:2: text after the closing quote" },
	{ "quoting_errors", "helo \"a\\nb\"\n",
	    "t.conf:1: bad escape in quoted value (only \\\" and \\\\)" },
	{ "quoting_errors", "helo \"\"\n",
	    "t.conf:1: missing value for helo" },
	{ "unknown_key", "mx_port 25\nfoo bar\n",
	    "t.conf:2: unknown key 'foo'" },
	{ "unknown_key", "Route mx\n",
	    "t.conf:1: unknown key 'Route'" },
	{ "unknown_key", "route=mx\n",
	    "t.conf:1: unknown key 'route=mx'" },
	{ "unknown_key", "foo\n",
	    "t.conf:1: unknown key 'foo'" },
	{ "missing_value", "\n\nmx_port\n",
	    "t.conf:3: missing value for mx_port" },
	{ "missing_value", "mx_port   # nothing\n",
	    "t.conf:1: missing value for mx_port" },
	{ "control_bytes_not_echoed", "helo a\033[2Jb\n",
	    "t.conf:1: bad value for helo: 'a?[2Jb' (a host name or an "
	    "address literal such as [192.0.2.1])" },
	{ "route", "route mx mx\n",
	    "t.conf:1: bad value for route: 'mx mx' (mx, relay, or both in "
	    "either order)" },
	{ "route", "route smtp\n",
	    "t.conf:1: bad value for route: 'smtp' (mx, relay, or both in "
	    "either order)" },
	{ "route", "route mx relay mx\n",
	    "t.conf:1: bad value for route: 'mx relay mx' (mx, relay, or "
	    "both in either order)" },
	{ "route", "route ,\n",
	    "t.conf:1: bad value for route: ',' (mx, relay, or both in "
	    "either order)" },
	{ "relay_bad", "relay r.example.com\n",
	    "t.conf:1: bad value for relay: 'r.example.com' (the scheme "
	    "must be smtp:// or smtps://)" },
	{ "relay_bad", "relay http://r.example.com\n",
	    "t.conf:1: bad value for relay: 'http://r.example.com' (the "
	    "scheme must be smtp:// or smtps://)" },
	{ "relay_bad", "relay smtp://r.example.com:0\n",
	    "t.conf:1: bad value for relay: 'smtp://r.example.com:0' (the "
	    "port must be 1-65535)" },
	{ "relay_bad", "relay smtp://r.example.com:65536\n",
	    "t.conf:1: bad value for relay: 'smtp://r.example.com:65536' "
	    "(the port must be 1-65535)" },
	{ "relay_bad", "relay smtp://r.example.com:\n",
	    "t.conf:1: bad value for relay: 'smtp://r.example.com:' (the "
	    "port must be 1-65535)" },
	{ "relay_bad", "relay smtp://r.example.com:2x\n",
	    "t.conf:1: bad value for relay: 'smtp://r.example.com:2x' (the "
	    "port must be 1-65535)" },
	{ "relay_bad", "relay smtp://r.example.com/path\n",
	    "t.conf:1: bad value for relay: 'smtp://r.example.com/path' (no "
	    "path or query after the host; percent-encode '/', '?', '#' in "
	    "user and password)" },
	{ "relay_bad", "relay smtp://r.example.com?x=1\n",
	    "t.conf:1: bad value for relay: 'smtp://r.example.com?x=1' (no "
	    "path or query after the host; percent-encode '/', '?', '#' in "
	    "user and password)" },
	{ "relay_bad", "relay smtp://\n",
	    "t.conf:1: bad value for relay: 'smtp://' (no host)" },
	{ "relay_bad", "relay smtp://bad_-.example!\n",
	    "t.conf:1: bad value for relay: 'smtp://bad_-.example!' (bad "
	    "host name)" },
	{ "relay_bad", "relay smtp://[2001:db8::zz]\n",
	    "t.conf:1: bad value for relay: 'smtp://[2001:db8::zz]' (bad "
	    "IPv6 address)" },
	{ "relay_bad", "relay smtp://[2001:db8::1\n",
	    "t.conf:1: bad value for relay: 'smtp://[2001:db8::1' "
	    "(unterminated [IPv6 address])" },
	{ "relay_bad", "relay smtp://[::1]x\n",
	    "t.conf:1: bad value for relay: 'smtp://[::1]x' (text after the "
	    "IPv6 address)" },
	{ "relay_bad", "relay smtp://:pw@r.example\n",
	    "t.conf:1: bad value for relay: 'smtp://:***@r.example' (empty "
	    "user name)" },
	{ "relay_bad", "relay smtp://a%0Ab:pw@r.example\n",
	    "t.conf:1: bad value for relay: 'smtp://a%0Ab:***@r.example' "
	    "(no control characters in the user name)" },
	{ "relay_bad", "relay smtp://u:@r.example\n",
	    "t.conf:1: bad value for relay: 'smtp://u:***@r.example' (empty "
	    "password)" },
	{ "relay_bad_percent_escape_masks_password", "relay "
	    "smtp://u:p%zzsecret@r.example\n",
	    "t.conf:1: bad value for relay: 'smtp://u:***@r.example' (bad "
	    "%-escape in user or password)" },
	{ "relay_bad_percent_escape_masks_password", "relay "
	    "smtp://u:secret%4@r.example\n",
	    "t.conf:1: bad value for relay: 'smtp://u:***@r.example' (bad "
	    "%-escape in user or password)" },
	{ "relay_bad_percent_escape_masks_password", "relay "
	    "smtp://u%00:secret@r.example\n",
	    "t.conf:1: bad value for relay: 'smtp://u%00:***@r.example' "
	    "(bad %-escape in user or password)" },
	{ "relay_bad_percent_escape_masks_password", "relay "
	    "smtp://u:secret@r.example:99999\n",
	    "t.conf:1: bad value for relay: 'smtp://u:***@r.example:99999' "
	    "(the port must be 1-65535)" },
	/* A list: which URL is bad, by its place and its text. */
	{ "relay_list_bad_url_named", "relay smtp://a.example, "
	    "smtp://u:secret@b.example:0 smtp://c.example\n",
	    "t.conf:1: bad value for relay: relay 2 of 3, "
	    "'smtp://u:***@b.example:0' (the port must be 1-65535)" },
	{ "relay_list_bad_url_named", "mx_port 26\nrelay smtp://a.example "
	    "smtp://b.example smtpx://c.example\n",
	    "t.conf:2: bad value for relay: relay 3 of 3, "
	    "'smtpx://c.example' (the scheme must be smtp:// or smtps://)" },
	{ "relay_list_bad_url_named", "relay smtp://a.example,b.example\n",
	    "t.conf:1: bad value for relay: 'smtp://a.example,b.example' "
	    "(bad host name)" },
	{ "relay_list_only_separators", "relay \" , ,\"\n",
	    "t.conf:1: bad value for relay: no relay URL, only separators" },
	{ "relay_list_too_long", "relay smtp://a smtp://b smtp://c smtp://d "
	    "smtp://e smtp://f smtp://g smtp://h smtp://i smtp://j smtp://k\n",
	    "t.conf:1: bad value for relay: more than 10 relays" },
	{ "relay_tls", "relay_tls ssl\n",
	    "t.conf:1: bad value for relay_tls: 'ssl' (auto, starttls, tls "
	    "or off)" },
	{ "relay_password_bad_never_echoed", "relay_password \"\"\n",
	    "t.conf:1: missing value for relay_password" },
	{ "relay_auth", "relay_auth xoauth\n",
	    "t.conf:1: bad value for relay_auth: 'xoauth' " AUTH_HINT },
	{ "relay_auth", "relay_auth any xoauth2\n",
	    "t.conf:1: bad value for relay_auth: 'any xoauth2' " AUTH_HINT },
	{ "relay_password_command_not_absolute",
	    "relay_password_command oauth2-token --user bob\n",
	    "t.conf:1: bad value for relay_password_command: 'oauth2-token "
	    "--user bob' (an absolute path, then its arguments)" },
	{ "relay_password_command_not_absolute",
	    "relay_password_command \" /bin/true\"\n",
	    "t.conf:1: bad value for relay_password_command: ' /bin/true' (an "
	    "absolute path, then its arguments)" },
	{ "relay_auth", "relay_auth plain plain\n",
	    "t.conf:1: bad value for relay_auth: 'plain plain' " AUTH_HINT },
	{ "relay_auth", "relay_auth any plain\n",
	    "t.conf:1: bad value for relay_auth: 'any plain' " AUTH_HINT },
	{ "relay_fingerprint", "relay_fingerprint abcd\n",
	    "t.conf:1: bad value for relay_fingerprint: 'abcd' " FP_HINT },
	{ "relay_fingerprint", "relay_fingerprint "
	    "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef01234567890"
	    "0\n",
	    "t.conf:1: bad value for relay_fingerprint: "
	    "'ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef01234567890"
	    "0' " FP_HINT },
	{ "relay_fingerprint", "relay_fingerprint "
	    "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef012345678g"
	    "\n",
	    "t.conf:1: bad value for relay_fingerprint: "
	    "'ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef012345678g'"
	    " " FP_HINT },
	{ "relay_fingerprint", "relay_fingerprint "
	    "md5:ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456"
	    "789\n",
	    "t.conf:1: bad value for relay_fingerprint: "
	    "'md5:ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456"
	    "789' " FP_HINT },
	{ "mx_tls", "mx_tls encrypt\n",
	    "t.conf:1: bad value for mx_tls: 'encrypt' (opportunistic, "
	    "dane, required or off)" },
	{ "helo", "helo \"bad host\"\n",
	    "t.conf:1: bad value for helo: 'bad host' " HELO_HINT },
	{ "helo", "helo -host.example\n",
	    "t.conf:1: bad value for helo: '-host.example' " HELO_HINT },
	{ "helo", "helo a..b\n",
	    "t.conf:1: bad value for helo: 'a..b' " HELO_HINT },
	{ "helo", "helo [::1]\n",
	    "t.conf:1: bad value for helo: '[::1]' " HELO_HINT },
	{ "helo", "helo [300.1.1.1]\n",
	    "t.conf:1: bad value for helo: '[300.1.1.1]' " HELO_HINT },
	{ "helo", "helo host_1.example\n",
	    "t.conf:1: bad value for helo: 'host_1.example' " HELO_HINT },
	{ "nameservers_bad", "nameserver 1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4\n",
	    "t.conf:1: bad value for nameserver: '1.1.1.1 2.2.2.2 3.3.3.3 "
	    "4.4.4.4' (at most 3 name servers)" },
	{ "nameservers_bad", "nameserver dns.example\n",
	    "t.conf:1: bad value for nameserver: 'dns.example' " NS_HINT },
	{ "nameservers_bad", "nameserver 1.1.1.1:0\n",
	    "t.conf:1: bad value for nameserver: '1.1.1.1:0' " NS_HINT },
	{ "nameservers_bad", "nameserver 1.1.1.1:\n",
	    "t.conf:1: bad value for nameserver: '1.1.1.1:' " NS_HINT },
	{ "nameservers_bad", "nameserver [1.1.1.1]:53\n",
	    "t.conf:1: bad value for nameserver: '[1.1.1.1]:53' " NS_HINT },
	{ "nameservers_bad", "nameserver [::1]53\n",
	    "t.conf:1: bad value for nameserver: '[::1]53' " NS_HINT },
	{ "nameservers_bad", "nameserver 256.1.1.1\n",
	    "t.conf:1: bad value for nameserver: '256.1.1.1' " NS_HINT },
	{ "nameservers_bad", "nameserver ,\n",
	    "t.conf:1: bad value for nameserver: ',' " NS_HINT },
	{ "mx_port", "mx_port 0\n",
	    "t.conf:1: bad value for mx_port: '0' (a port 1-65535)" },
	{ "mx_port", "mx_port 65536\n",
	    "t.conf:1: bad value for mx_port: '65536' (a port 1-65535)" },
	{ "mx_port", "mx_port +25\n",
	    "t.conf:1: bad value for mx_port: '+25' (a port 1-65535)" },
	{ "mx_port", "mx_port 99999999999999999999999\n",
	    "t.conf:1: bad value for mx_port: '99999999999999999999999' (a "
	    "port 1-65535)" },
	{ "address_family", "address_family inet\n",
	    "t.conf:1: bad value for address_family: 'inet' (any, ipv4 or "
	    "ipv6)" },
	{ "default_domain", "default_domain exa mple.org\n",
	    "t.conf:1: bad value for default_domain: 'exa mple.org' (a "
	    "domain name)" },
	{ "default_domain", "default_domain @example.org\n",
	    "t.conf:1: bad value for default_domain: '@example.org' (a "
	    "domain name)" },
	{ "sender", "sender \"a b@example.org\"\n",
	    "t.conf:1: bad value for sender: 'a b@example.org' " SENDER_HINT },
	{ "sender", "sender -oQ/tmp@x.example\n",
	    "t.conf:1: bad value for sender: '-oQ/tmp@x.example' "
	    SENDER_HINT },
	{ "sender", "sender a@b@example.org\n",
	    "t.conf:1: bad value for sender: 'a@b@example.org' " SENDER_HINT },
	{ "sender", "sender @example.org\n",
	    "t.conf:1: bad value for sender: '@example.org' " SENDER_HINT },
	{ "sender", "sender user@\n",
	    "t.conf:1: bad value for sender: 'user@' " SENDER_HINT },
	{ "sender", "sender <user@example.org>\n",
	    "t.conf:1: bad value for sender: '<user@example.org>' "
	    SENDER_HINT },
	{ "sender", "sender a..b@example.org\n",
	    "t.conf:1: bad value for sender: 'a..b@example.org' " SENDER_HINT },
	/* SPEC §4: a verified sender has a domain. */
	{ "relay_from", "relay_from cron\n",
	    "t.conf:1: bad value for relay_from: 'cron' (an address with a "
	    "domain, such as cron@example.com)" },
	{ "relay_from", "relay_from Cron <cron@example.com>\n",
	    "t.conf:1: bad value for relay_from: 'Cron <cron@example.com>' "
	    "(an address with a domain, such as cron@example.com)" },
	{ "timeouts", "timeout_connect x\n",
	    "t.conf:1: bad value for timeout_connect: 'x' " DUR_HINT },
	{ "timeouts", "timeout_command 0\n",
	    "t.conf:1: bad value for timeout_command: '0' (a duration "
	    "greater than 0, such as 30, 5m, 2h)" },
	{ "timeouts", "timeout_data 5y\n",
	    "t.conf:1: bad value for timeout_data: '5y' " DUR_HINT },
	{ "timeouts", "queue_lifetime 0d\n",
	    "t.conf:1: bad value for queue_lifetime: '0d' (a duration "
	    "greater than 0, such as 30, 5m, 2h)" },
	{ "timeouts", "deadline -1\n",
	    "t.conf:1: bad value for deadline: '-1' (a duration such as 30, "
	    "5m, 2h, or 0 for none)" },
	{ "timeouts", "timeout_connect 9999999w\n",
	    "t.conf:1: bad value for timeout_connect: '9999999w' " DUR_HINT },
	{ "max_parallel", "max_parallel 1001\n",
	    "t.conf:1: bad value for max_parallel: '1001' (a number 1-1000)" },
	{ "max_parallel", "max_parallel 0\n",
	    "t.conf:1: bad value for max_parallel: '0' (a number 1-1000)" },
	{ "alias_max_recipients", "alias_max_recipients 1000001\n",
	    "t.conf:1: bad value for alias_max_recipients: '1000001' (a "
	    "number 0-1000000 (0: no limit))" },
	{ "alias_max_recipients", "alias_max_recipients many\n",
	    "t.conf:1: bad value for alias_max_recipients: 'many' (a number "
	    "0-1000000 (0: no limit))" },
	{ "mx_max_addresses", "mx_max_addresses 101\n",
	    "t.conf:1: bad value for mx_max_addresses: '101' (a number "
	    "1-100)" },
	{ "mx_max_addresses", "mx_max_addresses 5x\n",
	    "t.conf:1: bad value for mx_max_addresses: '5x' (a number 1-100)" },
	{ "queue_dir", "queue_dir spool\n",
	    "t.conf:1: bad value for queue_dir: 'spool' (an absolute path)" },
	{ "bounce", "bounce maybe\n",
	    "t.conf:1: bad value for bounce: 'maybe' (on or off)" },
	{ "log", "log mxsend.log\n",
	    "t.conf:1: bad value for log: 'mxsend.log' (syslog, stderr, "
	    "none, or an absolute path)" },
	{ "transcript", "transcript ./t\n",
	    "t.conf:1: bad value for transcript: './t' (an absolute path)" },
	{ "message_size_limit", "message_size_limit 64q\n",
	    "t.conf:1: bad value for message_size_limit: '64q' " SIZE_HINT },
	{ "message_size_limit", "message_size_limit -1\n",
	    "t.conf:1: bad value for message_size_limit: '-1' " SIZE_HINT },
	{ "message_size_limit", "message_size_limit 64 m\n",
	    "t.conf:1: bad value for message_size_limit: '64 m' " SIZE_HINT },
	{ "message_size_limit", "message_size_limit 99999999999g\n",
	    "t.conf:1: bad value for message_size_limit: '99999999999g' "
	    SIZE_HINT },
	/* config_parse(): a text that is not the default file. */
	/* config_parse(): a text that is not the default file. */
	{ "config_directories_refused_outside_the_default_file", "mx_port 26\n"
	    "config_directories /etc/mxsend.d\n",
	    "t.conf:2: " DIRS_ONLY },
};

ROW_PARAMETERS(config, refused, refused);

ParameterizedTest(const size_t *row, config, refused)
{
	const struct refused *r = &refused[*row];
	struct config c;

	config_init(&c);
	cr_assert_eq(parse(&c, r->text), -1, "%s '%s' accepted", r->name,
	    row_show(r->text));
	cr_assert_str_eq(err, r->want, "%s '%s': %s", r->name,
	    row_show(r->text), err);
	config_free(&c);
}

/*
 * Texts that parse but that config_finish() refuses, and the whole error
 * each gives (never with the secret in it).
 */
static const struct {
	const char	*name;
	const char	*text;
	const char	*want;
	const char	*lacks;		/* NULL, or not in the error */
} finish_refused[] = {
	{ "route_relay_without_relay", "route mx relay\n",
	    "route names relay but no relay is set", NULL },
	{ "smtps_with_tls_off_refused",
	    "relay smtps://r.example\nrelay_tls off\n",
	    "relay_tls off contradicts the smtps:// relay r.example "
	    "(implicit TLS)", NULL },
	{ "smtps_with_tls_off_refused",
	    "relay smtps://r.example\nrelay_tls starttls\n",
	    "relay_tls starttls contradicts the smtps:// relay r.example "
	    "(implicit TLS)", NULL },
	/* relay_tls applies to every relay of the list. */
	{ "smtps_with_tls_off_refused",
	    "relay smtp://a.example smtps://b.example\nrelay_tls off\n",
	    "relay_tls off contradicts the smtps:// relay b.example "
	    "(implicit TLS)", NULL },
	/* A password key, and no relay of the list has a user. */
	{ "password_without_user_on_every_relay",
	    "relay smtp://a.example smtp://b.example\n"
	    "relay_password secret\n",
	    "a relay password is set but no relay user (relay_user or user@ "
	    "in the relay URL)", "secret" },
	{ "password_without_user",
	    "relay smtp://r.example\nrelay_password secret\n",
	    "a relay password is set but no relay user (relay_user or user@ "
	    "in the relay URL)", "secret" },
	{ "fingerprint_with_tls_off", "relay smtp://r.example\nrelay_tls off\n"
	    "relay_fingerprint ABCDEF0123456789abcdef0123456789"
	    "ABCDEF0123456789abcdef0123456789\n",
	    "relay_fingerprint needs TLS with the relay, but relay_tls is off",
	    NULL },
	{ "password_command_without_user", "relay smtp://r.example\n"
	    "relay_password_command /bin/echo tok\n",
	    "a relay password is set but no relay user (relay_user or user@ "
	    "in the relay URL)", NULL },
	{ "password_and_command_both", "relay smtp://bob@r.example\n"
	    "relay_password secret\nrelay_password_command /bin/echo tok\n",
	    "only one of relay_password, relay_password_file and "
	    "relay_password_command may be set", "secret" },
	{ "password_file_and_command_both", "relay smtp://bob@r.example\n"
	    "relay_password_file /etc/passwd\n"
	    "relay_password_command /bin/echo tok\n",
	    "only one of relay_password, relay_password_file and "
	    "relay_password_command may be set", NULL },
	{ "password_file_not_regular",
	    "relay smtp://bob@r.example\nrelay_password_file /tmp\n",
	    "relay_password_file /tmp is not a regular file", NULL },
};

ROW_PARAMETERS(config, finish_refused, finish_refused);

ParameterizedTest(const size_t *row, config, finish_refused)
{
	const char *name = finish_refused[*row].name;
	const char *lacks = finish_refused[*row].lacks;
	struct config c;

	good(&c, finish_refused[*row].text);
	cr_assert_eq(finish(&c), -1, "%s: accepted", name);
	cr_assert_str_eq(err, finish_refused[*row].want, "%s: %s", name, err);
	if (lacks != NULL)
		cr_assert_null(strstr(err, lacks), "%s: %s", name, err);
	config_free(&c);
}

/* ---------------------------------------------------------- each key */

Test(config, route)
{
	struct config c;

	good(&c, "relay smtp://r.example\nroute relay mx\n");
	cr_assert_eq(c.nroute, 2);
	cr_assert_eq(c.route[0], ROUTE_RELAY);
	cr_assert_eq(c.route[1], ROUTE_MX);
	cr_assert_eq(finish(&c), 0, "%s", err);
	config_free(&c);
}

/* The credentials relay i of c authenticates with. */
static struct relay_creds
creds(const struct config *c, size_t i)
{
	struct relay_creds rc;

	cr_assert(i < c->nrelays, "no relay %zu", i);
	config_relay_creds(c, i, &rc);
	return rc;
}

/* Relay i of c authenticates as user with password (NULL: none). */
static void
assert_creds(const struct config *c, size_t i, const char *user,
    const char *password)
{
	struct relay_creds rc = creds(c, i);

	if (user == NULL)
		cr_assert_null(rc.user, "relay %zu: user %s", i, rc.user);
	else
		cr_assert_str_eq(rc.user, user, "relay %zu", i);
	if (password == NULL)
		cr_assert_null(rc.password, "relay %zu: a password", i);
	else
		cr_assert_str_eq(rc.password, password, "relay %zu", i);
}

Test(config, relay_url)
{
	struct config c;

	good(&c, "relay smtps://user%40example.com:p%3Ass@smtp.example.com\n");
	cr_assert_eq(c.nrelays, 1);
	cr_assert_eq(c.relays[0].smtps, 1);
	cr_assert_str_eq(c.relays[0].host, "smtp.example.com");
	cr_assert_eq(finish(&c), 0, "%s", err);
	cr_assert_eq(c.relays[0].port, 465);
	assert_creds(&c, 0, "user@example.com", "p:ss");
	config_free(&c);
}

Test(config, relay_url_unencoded_at_in_user)
{
	struct config c;

	good(&c, "relay smtp://me@example.com:pw@mail.example.com:2525/\n");
	cr_assert_eq(finish(&c), 0, "%s", err);
	assert_creds(&c, 0, "me@example.com", "pw");
	cr_assert_str_eq(c.relays[0].host, "mail.example.com");
	cr_assert_eq(c.relays[0].port, 2525);
	cr_assert_eq(c.relays[0].smtps, 0);
	config_free(&c);
}

Test(config, relay_ipv6_and_ipv4)
{
	struct config c;

	/* The others are rows of accepted[]. */
	good(&c, "relay SMTP://[::1]\n");
	cr_assert_str_eq(c.relays[0].host, "::1");
	cr_assert_eq(finish(&c), 0, "%s", err);
	cr_assert_eq(c.relays[0].port, 587);
	config_free(&c);
}

Test(config, relay_user_only)
{
	struct config c;

	good(&c, "relay smtp://bob@r.example\n");
	cr_assert_eq(finish(&c), 0, "%s", err);
	assert_creds(&c, 0, "bob", NULL);
	config_free(&c);
}

Test(config, relay_replaced_drops_old_credentials)
{
	struct config c;

	good(&c, "relay smtp://u:p@a.example\nrelay smtp://b.example\n");
	cr_assert_eq(finish(&c), 0, "%s", err);
	cr_assert_eq(c.nrelays, 1);
	cr_assert_str_eq(c.relays[0].host, "b.example");
	assert_creds(&c, 0, NULL, NULL);
	config_free(&c);
}

Test(config, relay_tls)
{
	struct config c;

	/* The others are rows of accepted[]. */
	good(&c, "relay_tls tls\nrelay smtp://r.example\n");
	cr_assert_eq(c.relay_tls, RELAY_TLS_TLS);
	cr_assert_eq(finish(&c), 0, "%s", err);
	cr_assert_eq(c.relays[0].port, 465);
	config_free(&c);
}

/*
 * SPEC §4: each relay's port is its scheme's default (relay_tls tls
 * aside), whatever the others' are.
 */
Test(config, relay_list_ports_per_relay)
{
	struct config c;

	good_finished(&c, "relay smtp://a.example smtps://b.example "
	    "smtp://c.example:25\n");
	cr_assert_eq(c.nrelays, 3);
	cr_assert_eq(c.relays[0].port, 587);
	cr_assert_eq(c.relays[1].port, 465);
	cr_assert_eq(c.relays[2].port, 25);
	cr_assert_eq(c.nroute, 2, "a relay list is a relay: mx relay");
	config_free(&c);
}

/*
 * SPEC §4: a relay's URL credentials win for that relay, whatever the
 * order of the keys; relay_user goes to each relay whose URL names no
 * user, and the password keys to each whose URL holds no password.
 */
Test(config, url_credentials_win_for_their_relay)
{
	struct config c;

	good_finished(&c, "relay_user key\nrelay_password keypw\n"
	    "relay smtp://url:urlpw@r.example\n");
	assert_creds(&c, 0, "url", "urlpw");
	config_free(&c);
	good_finished(&c, "relay smtp://url:urlpw@r.example\n"
	    "relay_user key\n");
	assert_creds(&c, 0, "url", "urlpw");
	config_free(&c);
}

Test(config, relay_list_inherits_the_keys)
{
	struct config c;

	good_finished(&c, "relay smtp://alice:apw@a.example, "
	    "smtp://bob@b.example smtp://c.example\nrelay_user key\n"
	    "relay_password keypw\n");
	assert_creds(&c, 0, "alice", "apw");
	/* A user of its own, but no password: the password key's. */
	assert_creds(&c, 1, "bob", "keypw");
	assert_creds(&c, 2, "key", "keypw");
	config_free(&c);
	/* No relay_user: the relay without a user does not authenticate. */
	good_finished(&c, "relay smtp://bob@b.example smtp://c.example\n"
	    "relay_password_command /bin/echo tok\n");
	cr_assert_str_eq(creds(&c, 0).password_command, "/bin/echo tok");
	cr_assert_null(creds(&c, 1).user);
	cr_assert_null(creds(&c, 1).password_command);
	config_free(&c);
}

Test(config, relay_user_bad)
{
	struct config c;

	config_init(&c);
	cr_assert_eq(config_set(&c, "relay_user", "a\nb", "MXSEND_RELAY_USER",
	    err, sizeof(err)), -1);
	cr_assert_str_eq(err, "MXSEND_RELAY_USER: bad value for relay_user: "
	    "'a?b' (no control characters)");
	config_free(&c);
}

Test(config, relay_auth)
{
	struct config c;

	good(&c, "relay_auth cram-md5, PLAIN\n");
	cr_assert_eq(c.nrelay_auth, 2);
	cr_assert_eq(c.relay_auth[0], AUTH_CRAM_MD5);
	cr_assert_eq(c.relay_auth[1], AUTH_PLAIN);
	config_free(&c);
	good(&c, "relay_auth login\nrelay_auth any\n");
	cr_assert_eq(c.nrelay_auth, 4);
	cr_assert_eq(c.relay_auth[0], AUTH_SCRAM_SHA_256);
	cr_assert_eq(c.relay_auth[3], AUTH_CRAM_MD5);
	config_free(&c);
	/* The OAuth2 mechanisms only when listed (never by any). */
	good(&c, "relay_auth OAuthBearer xoauth2\n");
	cr_assert_eq(c.nrelay_auth, 2);
	cr_assert_eq(c.relay_auth[0], AUTH_OAUTHBEARER);
	cr_assert_eq(c.relay_auth[1], AUTH_XOAUTH2);
	config_free(&c);
}

Test(config, relay_password_command)
{
	struct config c;
	char *out;

	good(&c, "relay smtp://bob:urlpw@r.example\n"
	    "relay_password_command  /usr/local/bin/token  --for bob\n");
	cr_assert_str_eq(c.relay_password_command,
	    "/usr/local/bin/token  --for bob");
	cr_assert_eq(finish(&c), 0, "%s", err);
	/* SPEC §4: the URL's password wins for its relay. */
	cr_assert_str_eq(creds(&c, 0).password, "urlpw");
	cr_assert_null(creds(&c, 0).password_command);
	out = print(&c);
	cr_assert_not_null(strstr(out, "relay_password_command "
	    "/usr/local/bin/token  --for bob\n"), "%s", out);
	cr_assert_null(strstr(out, "urlpw"), "%s", out);
	free(out);
	config_free(&c);
}

Test(config, tls_ca_file)
{
	struct config c;

	config_init(&c);
	cr_assert_eq(config_set(&c, "tls_ca_file", "/a\tb", "t.conf:9", err,
	    sizeof(err)), -1);
	cr_assert_str_eq(err, "t.conf:9: bad value for tls_ca_file: '/a?b' "
	    "(a file name)");
	config_free(&c);
}

static const unsigned char fp_bytes[32] = {
	0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
	0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
	0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
	0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89
};

Test(config, relay_fingerprint)
{
	static const char *const forms[] = {
		"ABCDEF0123456789abcdef0123456789"
		    "ABCDEF0123456789abcdef0123456789",
		"sha256:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
		    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
		"\"sha256 Fingerprint=AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:"
		    "23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:"
		    "89\"",
	};
	struct config c;
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char *line = xasprintf("relay_fingerprint %s\n", forms[i]);

		good(&c, line);
		cr_assert_eq(c.relay_fingerprint_set, 1);
		cr_assert_arr_eq(c.relay_fingerprint, fp_bytes, 32);
		config_free(&c);
		free(line);
	}
}

Test(config, helo_label_too_long)
{
	char label[64 + 1];
	char *line, *want;

	memset(label, 'a', 64);
	label[64] = '\0';
	line = xasprintf("helo %s.example\n", label);
	want = xasprintf("t.conf:1: bad value for helo: '%s.example' "
	    HELO_HINT, label);
	bad(line, want);
	free(line);
	free(want);
}

Test(config, nameservers)
{
	struct config c;

	good(&c, "nameserver 127.0.0.1:5353, [::1]:5300 2001:db8::53\n");
	cr_assert_eq(c.nnameservers, 3);
	cr_assert_str_eq(c.nameservers[0].addr, "127.0.0.1");
	cr_assert_eq(c.nameservers[0].family, AF_INET);
	cr_assert_eq(c.nameservers[0].port, 5353);
	cr_assert_str_eq(c.nameservers[1].addr, "::1");
	cr_assert_eq(c.nameservers[1].family, AF_INET6);
	cr_assert_eq(c.nameservers[1].port, 5300);
	cr_assert_str_eq(c.nameservers[2].addr, "2001:db8::53");
	cr_assert_eq(c.nameservers[2].family, AF_INET6);
	cr_assert_eq(c.nameservers[2].port, 53);
	config_free(&c);
	good(&c, "nameserver 1.1.1.1 8.8.8.8\nnameserver 192.0.2.1\n");
	cr_assert_eq(c.nnameservers, 1);
	cr_assert_str_eq(c.nameservers[0].addr, "192.0.2.1");
	config_free(&c);
	good(&c, "nameserver [::1]\n");
	cr_assert_eq(c.nameservers[0].port, 53);
	config_free(&c);
}

Test(config, aliases)
{
	struct config c;

	config_init(&c);
	cr_assert_eq(config_set(&c, "aliases", "/etc/\x01", "t.conf:4", err,
	    sizeof(err)), -1);
	cr_assert_str_eq(err, "t.conf:4: bad value for aliases: '/etc/?' "
	    "(a file name)");
	cr_assert_eq(c.aliases_set, 0);
	config_free(&c);
}

Test(config, sender_crlf_from_environment)
{
	struct config c;

	config_init(&c);
	cr_assert_eq(config_set(&c, "sender", "a@b.example\r\nRCPT TO:<x>",
	    "MXSEND_SENDER", err, sizeof(err)), -1);
	cr_assert_str_eq(err, "MXSEND_SENDER: bad value for sender: "
	    "'a@b.example??RCPT TO:<x>' " SENDER_HINT);
	cr_assert_null(c.sender);
	config_free(&c);
}

Test(config, durations)
{
	static const struct {
		const char *s;
		unsigned want;
	} ok[] = {
		{ "5d", 432000 },
		{ "1w", 604800 },
		{ "30", 30 },
		{ "30s", 30 },
		{ "5m", 300 },
		{ "2h", 7200 },
		{ "0", 0 },
		{ "4294967295", UINT_MAX },
		{ "7101w", 7101u * 604800u },
	};
	static const char *const junk[] = {
		"4294967296", "99999999999999999999999", "7102w", "49711d", "",
		"m", "5mm", "5 m", " 5", "-5", "5M",
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		unsigned d = 12345;

		cr_assert_eq(config_parse_duration(ok[i].s, &d), 0,
		    "'%s' refused", ok[i].s);
		cr_assert_eq(d, ok[i].want, "'%s': %u", ok[i].s, d);
	}
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		unsigned d = 12345;

		cr_assert_eq(config_parse_duration(junk[i], &d), -1,
		    "'%s' accepted", junk[i]);
		cr_assert_eq(d, 12345, "a refused duration changed the "
		    "result: '%s'", junk[i]);
	}
}

Test(config, message_size_limit)
{
	struct config c;
	char *out;

	good(&c, "message_size_limit 10m\n");
	cr_assert_eq(c.message_size_limit, 10 * 1024 * 1024);
	out = print(&c);
	cr_assert_not_null(strstr(out, "message_size_limit 10m\n"), "%s", out);
	free(out);
	config_free(&c);

	good(&c, "message_size_limit 0\n");
	cr_assert_eq(c.message_size_limit, 0, "0 is no limit");
	out = print(&c);
	cr_assert_not_null(strstr(out, "message_size_limit 0 (none)\n"), "%s",
	    out);
	free(out);
	config_free(&c);

	/* Printed in the largest exact unit, and so parsed back the same. */
	good(&c, "message_size_limit 1000\n");
	out = print(&c);
	cr_assert_not_null(strstr(out, "message_size_limit 1000\n"), "%s",
	    out);
	free(out);
	config_free(&c);
	good(&c, "message_size_limit 3072k\n");
	out = print(&c);
	cr_assert_not_null(strstr(out, "message_size_limit 3m\n"), "%s", out);
	free(out);
	config_free(&c);
	good(&c, "message_size_limit 2G\n");
	cr_assert_eq(c.message_size_limit, 2LL * 1024 * 1024 * 1024);
	out = print(&c);
	cr_assert_not_null(strstr(out, "message_size_limit 2g\n"), "%s", out);
	free(out);
	config_free(&c);

	config_init(&c);
	cr_assert_eq(config_set(&c, "message_size_limit", "1mb",
	    "MXSEND_MESSAGE_SIZE_LIMIT", err, sizeof(err)), -1);
	cr_assert_str_eq(err, "MXSEND_MESSAGE_SIZE_LIMIT: bad value for "
	    "message_size_limit: '1mb' " SIZE_HINT);
	cr_assert_eq(c.message_size_limit, 64 * 1024 * 1024, "unchanged");
	config_free(&c);
}

Test(config, sizes)
{
	static const struct {
		const char *s;
		long long want;
	} ok[] = {
		{ "0", 0 },
		{ "0k", 0 },
		{ "1", 1 },
		{ "007", 7 },
		{ "1000", 1000 },
		{ "1k", 1024 },
		{ "1K", 1024 },
		{ "64m", 67108864 },
		{ "64M", 67108864 },
		{ "1g", 1073741824 },
		{ "9223372036854775807", 9223372036854775807LL },
		{ "8589934591g", 9223372035781033984LL },
		{ "8796093022207m", 9223372036853727232LL },
	};
	static const char *const junk[] = {
		"", "k", "-1", "+1", " 1", "1 ", "1kb", "1.5m", "1t", "1b",
		"0x10", "1m1", "1kk", "m64", "1,000",
		/* One past the largest off_t, with and without a unit. */
		"9223372036854775808", "8589934592g", "8796093022208m",
		"9007199254740992k", "99999999999999999999999",
	};
	size_t i;

	if (sizeof(off_t) < 8)
		cr_skip_test("off_t has %zu octets here", sizeof(off_t));
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		off_t v = -1;

		cr_assert_eq(config_parse_size(ok[i].s, &v), 0, "'%s' refused",
		    ok[i].s);
		cr_assert_eq((long long)v, ok[i].want, "'%s': %lld", ok[i].s,
		    (long long)v);
	}
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		off_t v = 12345;

		cr_assert_eq(config_parse_size(junk[i], &v), -1,
		    "'%s' accepted", junk[i]);
		cr_assert_eq(v, 12345, "'%s' changed the value", junk[i]);
	}
	cr_assert_eq(config_parse_size(NULL, NULL), -1);
}

/* ---------------------------------------------------------- password file */

/*
 * A relay for bob whose password is in a fresh file holding content with
 * mode (its path in *path): c parsed, which must succeed; returns what
 * finish() does with it.
 */
static int
with_password_file(struct config *c, const char *content, mode_t mode,
    char **path)
{
	char *text;

	*path = tmpfile_with("pw", content, mode);
	text = xasprintf("relay smtp://bob@r.example\n"
	    "relay_password_file %s\n", *path);
	good(c, text);
	free(text);
	return finish(c);
}

/*
 * The file is checked, not read: its content is the secret of the
 * moment (a token a timer refreshes), read when a session needs it.
 */
Test(config, password_file_0600_is_checked_not_read)
{
	struct config c;
	char *path;

	cr_assert_eq(with_password_file(&c, "s3cret\r\nsecond line\n", 0600,
	    &path), 0, "%s", err);
	cr_assert_str_eq(creds(&c, 0).user, "bob");
	cr_assert_str_eq(creds(&c, 0).password_file, path);
	cr_assert_null(creds(&c, 0).password);
	config_free(&c);
	free(path);
}

Test(config, url_password_wins_over_password_file)
{
	struct config c;
	char *path = tmpfile_with("pw", "frompw", 0400);
	char *text = xasprintf("relay smtp://bob:urlpw@r.example "
	    "smtp://r2.example\nrelay_user ann\nrelay_password_file %s\n",
	    path);

	good(&c, text);
	cr_assert_eq(finish(&c), 0, "%s", err);
	cr_assert_str_eq(creds(&c, 0).password, "urlpw");
	cr_assert_null(creds(&c, 0).password_file);
	cr_assert_str_eq(creds(&c, 1).user, "ann");
	cr_assert_str_eq(creds(&c, 1).password_file, path);
	config_free(&c);
	free(text);
	free(path);
}

/* SPEC §4: others may neither read nor write it; its group may. */
Test(config, password_file_world_readable_refused)
{
	struct config c;
	char *path, *want;

	cr_assert_eq(with_password_file(&c, "s3cret\n", 0644, &path), -1);
	want = xasprintf("relay_password_file %s is readable or writable by "
	    "others (chmod o-rwx it; its group may read it)", path);
	cr_assert_str_eq(err, want);
	cr_assert_null(c.relay_password);
	config_free(&c);
	free(want);
	free(path);
}

Test(config, password_file_world_writable_refused)
{
	struct config c;
	char *path;

	cr_assert_eq(with_password_file(&c, "s3cret\n", 0602, &path), -1);
	cr_assert_not_null(strstr(err, "readable or writable by others"),
	    "%s", err);
	config_free(&c);
	free(path);
}

Test(config, password_file_group_access_allowed)
{
	struct config c;
	char *path;

	cr_assert_eq(with_password_file(&c, "s3cret\n", 0660, &path), 0,
	    "%s", err);
	config_free(&c);
	free(path);
	cr_assert_eq(with_password_file(&c, "s3cret\n", 0640, &path), 0,
	    "%s", err);
	config_free(&c);
	free(path);
}

/* The reader is named: root's -q reads it again as each user. */
static char *
read_as(int errnum, const char *path)
{
	return xasprintf("relay_password_file %s: %s (read as user %s, uid "
	    "%u)", path, strerror(errnum), getpwuid(geteuid())->pw_name,
	    (unsigned)geteuid());
}

Test(config, password_file_missing)
{
	struct config c;
	char *want = read_as(ENOENT, "/nonexistent/mxsend-pw");

	good(&c, "relay smtp://bob@r.example\n"
	    "relay_password_file /nonexistent/mxsend-pw\n");
	cr_assert_eq(finish(&c), -1);
	cr_assert_str_eq(err, want);
	config_free(&c);
	free(want);
}

Test(config, password_file_unreadable)
{
	struct config c;
	char *path, *want;

	if (geteuid() == 0)
		cr_skip_test("root reads any file");
	cr_assert_eq(with_password_file(&c, "s3cret\n", 0000, &path), -1);
	want = read_as(EACCES, path);
	cr_assert_str_eq(err, want);
	config_free(&c);
	free(want);
	free(path);
}

/* Its content is the token of the moment: checked when it is used. */
Test(config, password_file_empty_is_left_to_the_session)
{
	struct config c;
	char *path;

	cr_assert_eq(with_password_file(&c, "\nsecond\n", 0600, &path), 0,
	    "%s", err);
	config_free(&c);
	free(path);
}

Test(config, password_and_password_file_both)
{
	struct config c;
	char *path = tmpfile_with("pw", "a\n", 0600);
	char *text = xasprintf("relay smtp://bob@r.example\n"
	    "relay_password x\nrelay_password_file %s\n", path);

	good(&c, text);
	cr_assert_eq(finish(&c), -1);
	cr_assert_str_eq(err, "only one of relay_password, relay_password_file "
	    "and relay_password_command may be set");
	config_free(&c);
	free(text);
	free(path);
}

/* ---------------------------------------------------------- config_load */

Test(config, load_explicit_missing_file)
{
	struct config c;

	if (getuid() != 0)
		cr_skip_test("-C names any file for root only");
	config_init(&c);
	cr_assert_eq(config_load(&c, "/nonexistent/mxsend.conf", err,
	    sizeof(err)), -1);
	cr_assert_str_eq(err, "/nonexistent/mxsend.conf: No such file or "
	    "directory");
	config_free(&c);
}

Test(config, load_mxsend_config_missing_file)
{
	struct config c;

	setenv("MXSEND_CONFIG", "/nonexistent/other.conf", 1);
	config_init(&c);
	cr_assert_eq(config_load(&c, NULL, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "/nonexistent/other.conf: No such file or "
	    "directory");
	config_free(&c);
}

Test(config, load_directory_is_error)
{
	struct config c;

	if (getuid() != 0)
		cr_skip_test("-C names any file for root only");
	config_init(&c);
	cr_assert_eq(config_load(&c, "/tmp", err, sizeof(err)), -1);
	cr_assert_str_eq(err, "/tmp: Is a directory");
	config_free(&c);
}

Test(config, load_default_path_absent_is_fine)
{
	struct config c;

	if (access(SYSCONFDIR "/mxsend.conf", F_OK) == 0)
		cr_skip_test(SYSCONFDIR "/mxsend.conf exists here");
	config_init(&c);
	cr_assert_eq(config_load(&c, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.nroute, 1);
	cr_assert_eq(c.route[0], ROUTE_MX);
	config_free(&c);
}

/* --config-check says that no file was read, and which it looked for. */
Test(config, print_says_no_file_was_found)
{
	static const char want[] = "# configuration file: " SYSCONFDIR
	    "/mxsend.conf not found: built-in defaults\n";
	struct config c;
	char *out;

	if (access(SYSCONFDIR "/mxsend.conf", F_OK) == 0)
		cr_skip_test(SYSCONFDIR "/mxsend.conf exists here");
	unsetenv("MXSEND_CONFIG");
	config_init(&c);
	cr_assert_eq(config_load(&c, NULL, err, sizeof(err)), 0, "%s", err);
	out = print(&c);
	cr_assert_eq(strncmp(out, want, strlen(want)), 0, "%s", out);
	free(out);
	config_free(&c);
}

/* The file read, by -C or MXSEND_CONFIG: the first line, a comment. */
Test(config, print_names_the_file_read)
{
	struct config c;
	char *path = tmpfile_with("mxsend.conf", "mx_port 2626\n", 0644);
	char *want = xasprintf("# configuration file: %s\n", path);
	char *out;

	config_init(&c);
	cr_assert_eq(load(&c, path), 0, "%s", err);
	out = print(&c);
	cr_assert_eq(strncmp(out, want, strlen(want)), 0, "%s", out);
	free(out);
	config_free(&c);
	if (getuid() == 0) {
		config_init(&c);
		cr_assert_eq(config_load(&c, path, err, sizeof(err)), 0,
		    "%s", err);
		out = print(&c);
		cr_assert_eq(strncmp(out, want, strlen(want)), 0, "%s", out);
		free(out);
		config_free(&c);
	}
	free(want);
	free(path);
}

Test(config, repeated_environment_variable_first_wins)
{
	extern char **environ;
	char *env[] = { "MXSEND_MX_PORT=2525", "MXSEND_MX_PORT=2626", NULL,
	    NULL };
	char **saved = environ;
	struct config c;
	char *path = tmpfile_with("mxsend.conf", "", 0644);

	env[2] = xasprintf("MXSEND_CONFIG=%s", path);
	/* As getenv() reads it, so that no two readers disagree. */
	config_init(&c);
	environ = env;
	cr_assert_eq(config_load(&c, NULL, err, sizeof(err)), 0, "%s", err);
	environ = saved;
	cr_assert_eq(c.mx_port, 2525);
	config_free(&c);
	free(env[2]);
	free(path);
}

Test(config, load_file_errors_name_path_and_line)
{
	struct config c;
	char *path = tmpfile_with("mxsend.conf", "mx_port 26\nbogus 1\n",
	    0644);
	char *want = xasprintf("%s:2: unknown key 'bogus'", path);

	config_init(&c);
	cr_assert_eq(load(&c, path), -1);
	cr_assert_str_eq(err, want);
	config_free(&c);
	free(want);
	free(path);
}

Test(config, load_via_mxsend_config)
{
	struct config c;
	char *path = tmpfile_with("mxsend.conf", "mx_port 2626\n", 0644);

	setenv("MXSEND_CONFIG", path, 1);
	config_init(&c);
	cr_assert_eq(config_load(&c, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.mx_port, 2626);
	config_free(&c);
	free(path);
}

Test(config, load_finish_checks_run)
{
	struct config c;
	char *path = tmpfile_with("mxsend.conf", "route relay\n", 0644);

	config_init(&c);
	cr_assert_eq(load(&c, path), -1);
	cr_assert_str_eq(err, "route names relay but no relay is set");
	config_free(&c);
	free(path);
}

/* ---------------------------------------------------------- -C */

#define NOBODY		65534u

/*
 * A directory tree everyone may enter (for runs as nobody), under a
 * fresh temporary directory whose path is returned; rm_tree() removes it.
 */
static char *
tree(void)
{
	char dir[] = "/tmp/test_config.XXXXXX";
	char *real;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chmod(dir, 0755), 0);
	/* The tests compare with realpath()'s form of it. */
	real = realpath(dir, NULL);
	cr_assert_not_null(real);
	return real;
}

static void
tree_dir(const char *top, const char *name)
{
	char *path = xasprintf("%s/%s", top, name);

	cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path);
	free(path);
}

/* top/name holding text, mode 0644; returns its path. */
static char *
tree_file(const char *top, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", top, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert(fd >= 0, "create %s", path);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, 0644), 0);
	close(fd);
	return path;
}

static void
tree_link(const char *top, const char *name, const char *target)
{
	char *path = xasprintf("%s/%s", top, name);

	cr_assert_eq(symlink(target, path), 0, "symlink %s", path);
	free(path);
}

static void
rm_tree(char *top)
{
	char *cmd = xasprintf("rm -rf '%s'", top);

	cr_assert(strncmp(top, "/tmp/test_config.", 17) == 0);
	cr_assert_eq(system(cmd), 0);
	free(cmd);
	free(top);
}

/*
 * config_load() with -C file by a caller other than root: in a child
 * process, which becomes nobody first when the tests run as root. Returns
 * its result; err is its error text or, when it loaded, "mx_port N
 * dirs N", so that the test sees which file counted. *uid: the caller's.
 */
static int
load_unprivileged(const char *file, unsigned *uid)
{
	size_t len = 0;
	ssize_t n;
	int p[2], status;
	pid_t pid;

	*uid = getuid() == 0 ? NOBODY : (unsigned)getuid();
	cr_assert_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		struct config c;
		char e[sizeof(err)];
		int rc;

		close(p[0]);
		if (getuid() == 0 && (setgroups(0, NULL) != 0 ||
		    setgid(NOBODY) != 0 || setuid(NOBODY) != 0))
			_exit(2);
		config_init(&c);
		if ((rc = config_load(&c, file, e, sizeof(e))) == 0)
			snprintf(e, sizeof(e), "mx_port %u dirs %zu",
			    (unsigned)c.mx_port, c.nconfig_directories);
		(void)write_all(p[1], e, strlen(e));
		_exit(rc == 0 ? 0 : 1);
	}
	cr_assert(pid > 0);
	close(p[1]);
	while (len + 1 < sizeof(err) &&
	    (n = read(p[0], err + len, sizeof(err) - 1 - len)) > 0)
		len += (size_t)n;
	err[len] = '\0';
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 2,
	    "could not become nobody");
	return WEXITSTATUS(status) == 0 ? 0 : -1;
}

Test(config, explicit_allowed_table)
{
	static const struct {
		unsigned	 uid;
		const char	*file;		/* below the tree */
		const char	*dirs[3];	/* below the tree; NULL ends */
		int		 want;
	} t[] = {
		/* root names any file, even one that is not there. */
		{ 0, "/uploads/x.conf", { NULL }, 1 },
		{ 0, "/none/x.conf", { NULL }, 1 },
		/* Anyone else: only in a listed directory. */
		{ 33, "/uploads/x.conf", { NULL }, 0 },
		{ 33, "/uploads/x.conf", { "/conf.d", NULL }, 0 },
		{ 33, "/conf.d/x.conf", { "/conf.d", NULL }, 1 },
		{ 33, "/conf.d/x.conf", { "/none", "/conf.d/", NULL }, 1 },
		{ 33, "/conf.d//x.conf", { "/conf.d", NULL }, 1 },
		{ NOBODY, "/conf.d/x.conf", { "/conf.d", NULL }, 1 },
		/* Whether the file exists is for reading it to find out. */
		{ 33, "/conf.d/missing.conf", { "/conf.d", NULL }, 1 },
		/* Resolved: "..", symbolic links, on both sides. */
		{ 33, "/conf.d/../uploads/x.conf", { "/conf.d", NULL }, 0 },
		{ 33, "/uploads/../conf.d/x.conf", { "/conf.d", NULL }, 1 },
		{ 33, "/conf-link/x.conf", { "/conf.d", NULL }, 1 },
		{ 33, "/up-link/x.conf", { "/conf.d", NULL }, 0 },
		{ 33, "/conf.d/x.conf", { "/conf-link", NULL }, 1 },
		{ 33, "/conf.d/up-link/x.conf", { "/conf.d", NULL }, 0 },
		/* The directory itself, not below it, nor a longer name. */
		{ 33, "/conf.d/sub/x.conf", { "/conf.d", NULL }, 0 },
		{ 33, "/conf.dx/x.conf", { "/conf.d", NULL }, 0 },
		{ 33, "/conf.d", { "/conf.d", NULL }, 0 },
		/* What cannot be resolved matches nothing. */
		{ 33, "/none/x.conf", { "/none", NULL }, 0 },
		{ 33, "/x.conf", { "", NULL }, 1 },
	};
	char *top = tree(), *file, *dirs[3];
	size_t i, j;

	tree_dir(top, "conf.d");
	tree_dir(top, "conf.d/sub");
	tree_dir(top, "conf.dx");
	tree_dir(top, "uploads");
	tree_link(top, "conf-link", "conf.d");
	tree_link(top, "up-link", "uploads");
	tree_link(top, "conf.d/up-link", "../uploads");
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		file = xasprintf("%s%s", top, t[i].file);
		for (j = 0; t[i].dirs[j] != NULL; j++)
			dirs[j] = xasprintf("%s%s", top, t[i].dirs[j]);
		cr_expect_eq(config_explicit_allowed((uid_t)t[i].uid, file,
		    dirs, j), t[i].want, "uid %u, -C %s, dirs %s...: want %d",
		    t[i].uid, t[i].file, j > 0 ? t[i].dirs[0] : "(none)",
		    t[i].want);
		while (j > 0)
			free(dirs[--j]);
		free(file);
	}
	rm_tree(top);
}

Test(config, explicit_allowed_root_directory_and_relative_names)
{
	char *top = tree(), *dir, *dirs[1];
	char *slash[] = { "/" };

	cr_assert_eq(config_explicit_allowed(33, "/x.conf", slash, 1), 1);
	cr_assert_eq(config_explicit_allowed(33, "/etc/x.conf", slash, 1), 0);
	tree_dir(top, "conf.d");
	tree_dir(top, "uploads");
	dir = xasprintf("%s/conf.d", top);
	dirs[0] = dir;
	cr_assert_eq(chdir(dir), 0);
	cr_assert_eq(config_explicit_allowed(33, "x.conf", dirs, 1), 1);
	cr_assert_eq(config_explicit_allowed(33, "./x.conf", dirs, 1), 1);
	cr_assert_eq(config_explicit_allowed(33, "../uploads/x.conf", dirs,
	    1), 0);
	cr_assert_eq(chdir("/"), 0);
	cr_assert_eq(config_explicit_allowed(33, "x.conf", dirs, 1), 0);
	free(dir);
	rm_tree(top);
}

Test(config, config_directories_from_the_default_file)
{
	struct config c;
	char *out, *path = tmpfile_with("mxsend.conf",
	    "config_directories /etc/mxsend.d, /srv/mail/conf\n", 0644);

	config_init(&c);
	cr_assert_eq(load(&c, path), 0, "%s", err);
	cr_assert_eq(c.nconfig_directories, 2);
	cr_assert_str_eq(c.config_directories[0], "/etc/mxsend.d");
	cr_assert_str_eq(c.config_directories[1], "/srv/mail/conf");
	out = print(&c);
	cr_assert_not_null(strstr(out,
	    "config_directories /etc/mxsend.d /srv/mail/conf\n"), "%s", out);
	free(out);
	config_free(&c);
	free(path);
}

Test(config, config_directories_bad_value)
{
	struct config c;
	char *path = tmpfile_with("mxsend.conf",
	    "mx_port 26\nconfig_directories /etc/mxsend.d mxsend.d\n", 0644);
	char *want = xasprintf("%s:2: bad value for config_directories: "
	    "'/etc/mxsend.d mxsend.d' (absolute directories, space or comma "
	    "separated)", path);

	config_init(&c);
	cr_assert_eq(load(&c, path), -1);
	cr_assert_str_eq(err, want);
	config_free(&c);
	free(want);
	free(path);
}

Test(config, config_directories_refused_outside_the_default_file)
{
	struct config c;
	char *path, *want;

	/* The environment, even with a file that allows it. */
	path = tmpfile_with("mxsend.conf", "config_directories /a\n", 0644);
	setenv("MXSEND_CONFIG_DIRECTORIES", "/etc/mxsend.d", 1);
	config_init(&c);
	cr_assert_eq(load(&c, path), -1);
	cr_assert_str_eq(err, "MXSEND_CONFIG_DIRECTORIES: " DIRS_ONLY);
	config_free(&c);
	unsetenv("MXSEND_CONFIG_DIRECTORIES");
	config_init(&c);
	cr_assert_eq(config_set(&c, "config_directories", "/x", "origin", err,
	    sizeof(err)), -1);
	cr_assert_str_eq(err, "origin: " DIRS_ONLY);
	cr_assert_eq(c.nconfig_directories, 0);
	config_free(&c);
	free(path);

	/* A -C file, here root's. */
	if (getuid() != 0)
		return;
	path = tmpfile_with("x.conf", "config_directories /tmp\n", 0644);
	want = xasprintf("%s:1: " DIRS_ONLY, path);
	config_init(&c);
	cr_assert_eq(config_load(&c, path, err, sizeof(err)), -1);
	cr_assert_str_eq(err, want);
	config_free(&c);
	free(want);
	free(path);
}

Test(config, C_refused_for_other_users)
{
	char *top = tree(), *def, *file, *want, *text;
	unsigned uid;

	tree_dir(top, "uploads");
	tree_dir(top, "conf.d");
	def = tree_file(top, "mxsend.conf", "config_directories /etc/none, "
	    "/nonexistent\n");
	file = tree_file(top, "uploads/x.conf", "log /tmp/shell.php\n"
	    "mx_port 2626\n");
	setenv("MXSEND_CONFIG", def, 1);
	cr_assert_eq(load_unprivileged(file, &uid), -1, "%s", err);
	want = xasprintf("-C %s: not honoured for uid %u (only root, or a "
	    "directory listed by config_directories in %s); set "
	    "MXSEND_CONFIG=%s instead", file, uid, def, file);
	cr_assert_str_eq(err, want);
	free(want);

	/* No default file: no directories. */
	setenv("MXSEND_CONFIG", "/nonexistent/mxsend.conf", 1);
	cr_assert_eq(load_unprivileged(file, &uid), -1, "%s", err);
	want = xasprintf("-C %s: not honoured for uid %u (only root, or a "
	    "directory listed by config_directories in "
	    "/nonexistent/mxsend.conf); set MXSEND_CONFIG=%s instead", file,
	    uid, file);
	cr_assert_str_eq(err, want);
	free(want);

	/* Nor is a file that ".." leads out of a listed directory. */
	free(def);
	text = xasprintf("config_directories %s/conf.d\n", top);
	def = tree_file(top, "mxsend.conf", text);
	free(text);
	text = xasprintf("%s/conf.d/../uploads/x.conf", top);
	setenv("MXSEND_CONFIG", def, 1);
	cr_assert_eq(load_unprivileged(text, &uid), -1, "%s", err);
	cr_assert_not_null(strstr(err, "not honoured"), "%s", err);
	free(text);

	/* A bad list in the default file is an error naming it. */
	free(def);
	def = tree_file(top, "mxsend.conf", "config_directories /x\n"
	    "config_directories /etc/none, conf.d-is-relative\n");
	cr_assert_eq(load_unprivileged(file, &uid), -1, "%s", err);
	want = xasprintf("-C %s: %s:2: bad value for config_directories: "
	    "'/etc/none, conf.d-is-relative' (absolute directories, space or "
	    "comma separated)", file, def);
	cr_assert_str_eq(err, want);

	/* So is a default file the caller may not read (root's, 0600). */
	free(want);
	want = xasprintf("-C %s: %s: %s", file, def, strerror(EACCES));
	cr_assert_eq(chmod(def, 0600), 0);
	if (getuid() == 0) {
		cr_assert_eq(load_unprivileged(file, &uid), -1, "%s", err);
		cr_assert_str_eq(err, want);
	}
	free(want);
	free(def);
	free(file);
	rm_tree(top);
}

Test(config, C_in_a_listed_directory_is_honoured_for_other_users)
{
	char *top = tree(), *def, *file, *text, *dots;
	unsigned uid;

	tree_dir(top, "conf.d");
	tree_dir(top, "uploads");
	/*
	 * Only config_directories is read from the default file: its other
	 * keys, even wrong ones, neither count nor fail.
	 */
	text = xasprintf("mx_port 2727\nno_such_key 1\nrelay \"unterminated\n"
	    "config_directories /etc/none %s/conf.d\n", top);
	def = tree_file(top, "mxsend.conf", text);
	file = tree_file(top, "conf.d/x.conf", "mx_port 2626\n");
	setenv("MXSEND_CONFIG", def, 1);
	cr_assert_eq(load_unprivileged(file, &uid), 0, "%s", err);
	cr_assert_str_eq(err, "mx_port 2626 dirs 2");

	dots = xasprintf("%s/uploads/../conf.d/x.conf", top);
	cr_assert_eq(load_unprivileged(dots, &uid), 0, "%s", err);
	cr_assert_str_eq(err, "mx_port 2626 dirs 2");
	free(dots);

	/* The -C file must still be right, and may not list directories. */
	free(file);
	file = tree_file(top, "conf.d/x.conf", "config_directories /tmp\n");
	dots = xasprintf("%s:1: " DIRS_ONLY, file);
	cr_assert_eq(load_unprivileged(file, &uid), -1);
	cr_assert_str_eq(err, dots);
	free(dots);
	free(text);
	free(def);
	free(file);
	rm_tree(top);
}

Test(config, C_for_root_does_not_read_the_default_file)
{
	struct config c;
	char *path = tmpfile_with("x.conf", "mx_port 2626\n", 0644);

	if (getuid() != 0)
		cr_skip_test("needs root");
	/* A broken default file is no reason to refuse root's -C. */
	setenv("MXSEND_CONFIG", "/nonexistent/mxsend.conf", 1);
	config_init(&c);
	cr_assert_eq(config_load(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.mx_port, 2626);
	cr_assert_eq(c.nconfig_directories, 0);
	config_free(&c);
	free(path);
}

/* ---------------------------------------------------------- environment */

Test(config, env_overrides_file)
{
	struct config c;
	char *path = tmpfile_with("mxsend.conf", "mx_port 26\n"
	    "relay smtp://file.example\ntimeout_connect 10\n", 0644);

	setenv("MXSEND_MX_PORT", "2727", 1);
	setenv("MXSEND_RELAY", "smtps://u:envsecret@env.example", 1);
	config_init(&c);
	cr_assert_eq(load(&c, path), 0, "%s", err);
	cr_assert_eq(c.mx_port, 2727);
	cr_assert_eq(c.nrelays, 1);
	cr_assert_str_eq(c.relays[0].host, "env.example");
	cr_assert_eq(c.relays[0].port, 465);
	cr_assert_str_eq(creds(&c, 0).password, "envsecret");
	cr_assert_eq(c.timeout_connect, 10, "the file still counts");
	config_free(&c);
	free(path);
}

Test(config, env_alone_configures)
{
	struct config c;

	setenv("MXSEND_CONFIG", "", 1);
	setenv("MXSEND_ROUTE", "relay", 1);
	setenv("MXSEND_RELAY", "smtp://r.example:1025", 1);
	setenv("MXSEND_RELAY_TLS", "off", 1);
	config_init(&c);
	if (access(SYSCONFDIR "/mxsend.conf", F_OK) == 0)
		cr_skip_test(SYSCONFDIR "/mxsend.conf exists here");
	cr_assert_eq(config_load(&c, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.nroute, 1);
	cr_assert_eq(c.route[0], ROUTE_RELAY);
	cr_assert_eq(c.relays[0].port, 1025);
	cr_assert_eq(c.relay_tls, RELAY_TLS_OFF);
	config_free(&c);
}

/* Variables refused: the whole error each gives. */
static const struct {
	const char	*name;
	const char	*var;
	const char	*value;
	const char	*want;
} env_refused[] = {
	{ "env_unknown_variable", "MXSEND_RELAYY", "smtp://r.example",
	    "environment: unknown variable MXSEND_RELAYY" },
	{ "env_lower_case_is_unknown", "MXSEND_relay", "smtp://r.example",
	    "environment: unknown variable MXSEND_relay" },
	{ "env_bad_value_names_variable", "MXSEND_TIMEOUT_CONNECT", "soon",
	    "MXSEND_TIMEOUT_CONNECT: bad value for timeout_connect: 'soon' "
	    DUR_HINT },
	{ "env_bad_relay_masks_password", "MXSEND_RELAY",
	    "smtp://u:hunter2@r.example:0",
	    "MXSEND_RELAY: bad value for relay: 'smtp://u:***@r.example:0' "
	    "(the port must be 1-65535)" },
};

ROW_PARAMETERS(config, env_refused, env_refused);

ParameterizedTest(const size_t *row, config, env_refused)
{
	const char *name = env_refused[*row].name;
	struct config c;
	char *path = tmpfile_with("mxsend.conf", "\n", 0644);

	setenv(env_refused[*row].var, env_refused[*row].value, 1);
	config_init(&c);
	cr_assert_eq(load(&c, path), -1, "%s: accepted", name);
	cr_assert_str_eq(err, env_refused[*row].want, "%s: %s", name, err);
	config_free(&c);
	free(path);
}

Test(config, env_empty_value_leaves_file_setting)
{
	struct config c;
	char *path = tmpfile_with("mxsend.conf", "mx_port 26\n", 0644);

	setenv("MXSEND_MX_PORT", "", 1);
	config_init(&c);
	cr_assert_eq(load(&c, path), 0, "%s", err);
	cr_assert_eq(c.mx_port, 26);
	config_free(&c);
	free(path);
}

Test(config, env_every_key_recognised)
{
	static const char *const vars[][2] = {
		{ "MXSEND_ROUTE", "mx" },
		{ "MXSEND_RELAY", "smtp://r.example" },
		{ "MXSEND_RELAY_TLS", "starttls" },
		{ "MXSEND_RELAY_USER", "u" },
		{ "MXSEND_RELAY_PASSWORD", "p" },
		{ "MXSEND_RELAY_AUTH", "plain" },
		{ "MXSEND_TLS_CA_FILE", "/ca.pem" },
		{ "MXSEND_RELAY_FINGERPRINT", "ABCDEF0123456789abcdef0123456789"
		    "ABCDEF0123456789abcdef0123456789" },
		{ "MXSEND_MX_TLS", "dane" },
		{ "MXSEND_HELO", "h.example" },
		{ "MXSEND_NAMESERVER", "127.0.0.1:5353" },
		{ "MXSEND_MX_PORT", "2525" },
		{ "MXSEND_ADDRESS_FAMILY", "ipv4" },
		{ "MXSEND_DEFAULT_DOMAIN", "d.example" },
		{ "MXSEND_ALIASES", "/al" },
		{ "MXSEND_SENDER", "s@d.example" },
		{ "MXSEND_TIMEOUT_CONNECT", "1" },
		{ "MXSEND_TIMEOUT_COMMAND", "2" },
		{ "MXSEND_TIMEOUT_DATA", "3" },
		{ "MXSEND_DEADLINE", "4" },
		{ "MXSEND_MAX_PARALLEL", "5" },
		{ "MXSEND_MX_MAX_ADDRESSES", "6" },
		{ "MXSEND_QUEUE_DIR", "/q" },
		{ "MXSEND_QUEUE_LIFETIME", "7" },
		{ "MXSEND_MESSAGE_SIZE_LIMIT", "1k" },
		{ "MXSEND_BOUNCE", "on" },
		{ "MXSEND_LOG", "stderr" },
		{ "MXSEND_TRANSCRIPT", "/t" },
	};
	struct config c;
	char *path = tmpfile_with("mxsend.conf", "\n", 0644);
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		setenv(vars[i][0], vars[i][1], 1);
	config_init(&c);
	cr_assert_eq(load(&c, path), 0, "%s", err);
	cr_assert_eq(c.relay_tls, RELAY_TLS_STARTTLS);
	cr_assert_str_eq(c.relay_user, "u");
	cr_assert_str_eq(c.relay_password, "p");
	cr_assert_eq(c.nrelay_auth, 1);
	cr_assert_str_eq(c.tls_ca_file, "/ca.pem");
	cr_assert_eq(c.relay_fingerprint_set, 1);
	cr_assert_eq(c.mx_tls, MX_TLS_DANE);
	cr_assert_str_eq(c.helo, "h.example");
	cr_assert_eq(c.nameservers[0].port, 5353);
	cr_assert_eq(c.mx_port, 2525);
	cr_assert_eq(c.address_family, AFAM_IPV4);
	cr_assert_str_eq(c.default_domain, "d.example");
	cr_assert_str_eq(c.aliases, "/al");
	cr_assert_str_eq(c.sender, "s@d.example");
	cr_assert_eq(c.timeout_connect, 1);
	cr_assert_eq(c.timeout_command, 2);
	cr_assert_eq(c.timeout_data, 3);
	cr_assert_eq(c.deadline, 4);
	cr_assert_eq(c.max_parallel, 5);
	cr_assert_eq(c.mx_max_addresses, 6);
	cr_assert_str_eq(c.queue_dir, "/q");
	cr_assert_eq(c.queue_lifetime, 7);
	cr_assert_eq(c.message_size_limit, 1024);
	cr_assert_eq(c.bounce, 1);
	cr_assert_eq(c.log, LOGT_STDERR);
	cr_assert_str_eq(c.transcript, "/t");
	cr_assert_eq(c.nroute, 1);
	config_free(&c);
	free(path);
}

/* ---------------------------------------------------------- --config-check */

Test(config, print_masks_secrets)
{
	struct config c;
	char *out;

	good(&c, "relay smtps://user%40example.com:Sup3rS3cret@smtp.example.com"
	    "\nrelay_password 0therS3cret\n");
	cr_assert_eq(finish(&c), 0, "%s", err);
	out = print(&c);
	cr_assert_null(strstr(out, "Sup3rS3cret"), "%s", out);
	cr_assert_null(strstr(out, "0therS3cret"), "%s", out);
	cr_assert_not_null(strstr(out, "relay smtps://user%40example.com:***@"
	    "smtp.example.com:465\n"), "%s", out);
	cr_assert_not_null(strstr(out, "relay_password ***\n"), "%s", out);
	/* The URL's user is the relay's; the key is unset. */
	cr_assert_not_null(strstr(out, "relay_user (none)\n"), "%s", out);
	free(out);
	config_free(&c);
}

Test(config, print_masks_password_from_file)
{
	struct config c;
	char *path = tmpfile_with("pw", "F1leS3cret\n", 0600);
	char *text = xasprintf("relay smtp://[2001:db8::1]\nrelay_user bob\n"
	    "relay_password_file %s\n", path);
	char *out;

	good(&c, text);
	cr_assert_eq(finish(&c), 0, "%s", err);
	out = print(&c);
	cr_assert_null(strstr(out, "F1leS3cret"), "%s", out);
	cr_assert_not_null(strstr(out, "relay smtp://[2001:db8::1]:587\n"),
	    "%s", out);
	cr_assert_not_null(strstr(out, "relay_password (none)\n"), "%s", out);
	cr_assert_not_null(strstr(out, "relay_password_file "), "%s", out);
	free(out);
	config_free(&c);
	free(text);
	free(path);
}

Test(config, print_every_key_in_order)
{
	static const char *const order[] = {
		"route", "relay", "relay_tls", "relay_user", "relay_password",
		"relay_password_file", "relay_password_command",
		"relay_auth", "tls_ca_file",
		"relay_fingerprint", "mx_tls", "helo", "nameserver", "mx_port",
		"address_family", "default_domain", "aliases",
		"alias_max_recipients", "sender", "relay_from",
		"timeout_connect", "timeout_dns", "timeout_command",
		"timeout_data", "deadline", "max_parallel", "mx_max_addresses",
		"queue_dir",
		"queue_lifetime", "message_size_limit", "bounce", "log",
		"transcript", "config_directories", "dkim_domain",
		"dkim_selector", "dkim_key", "dkim_headers", "dkim_routes",
	};
	struct config c;
	char *out, *line, *save = NULL;
	size_t i = 0;

	config_init(&c);
	cr_assert_eq(finish(&c), 0, "%s", err);
	out = print(&c);
	/* The first line is a comment naming the file: not a key. */
	cr_assert_eq(strncmp(out, "# configuration file: ", 22), 0, "%s", out);
	for (line = strtok_r(strchr(out, '\n'), "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save), i++) {
		size_t klen = strcspn(line, " ");

		cr_assert_lt(i, sizeof(order) / sizeof(order[0]), "extra %s",
		    line);
		cr_assert_eq(klen, strlen(order[i]), "line %zu: %s", i, line);
		cr_assert_eq(strncmp(line, order[i], klen), 0, "line %zu: %s",
		    i, line);
		cr_assert_gt(strlen(line), klen + 1, "no value: %s", line);
	}
	cr_assert_eq(i, sizeof(order) / sizeof(order[0]));
	free(out);
	config_free(&c);
}

Test(config, print_effective_values)
{
	struct config c;
	char *out;

	good(&c, "route relay mx\nrelay smtp://r.example:2525\n"
	    "relay_auth login plain\nnameserver 127.0.0.1:5353 [::1]:54 "
	    "192.0.2.53\nrelay_fingerprint sha256:" "ABCDEF0123456789abcdef"
	    "0123456789ABCDEF0123456789abcdef0123456789\n"
	    "timeout_connect 90\nlog /var/log/m.log\nbounce yes\n");
	cr_assert_eq(finish(&c), 0, "%s", err);
	out = print(&c);
	cr_assert_not_null(strstr(out, "route relay mx\n"), "%s", out);
	cr_assert_not_null(strstr(out, "relay smtp://r.example:2525\n"));
	cr_assert_not_null(strstr(out, "relay_auth login plain\n"));
	cr_assert_not_null(strstr(out,
	    "nameserver 127.0.0.1:5353 [::1]:54 192.0.2.53\n"), "%s", out);
	cr_assert_not_null(strstr(out, "relay_fingerprint sha256:AB:CD:EF:01:"
	    "23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:"
	    "CD:EF:01:23:45:67:89\n"), "%s", out);
	cr_assert_not_null(strstr(out, "timeout_connect 90\n"), "%s", out);
	cr_assert_not_null(strstr(out, "log /var/log/m.log\n"));
	cr_assert_not_null(strstr(out, "bounce on\n"));
	cr_assert_not_null(strstr(out, "relay_password (none)\n"));
	free(out);
	config_free(&c);
}

Test(config, print_output_parses_back)
{
	struct config c, d;
	struct buf b;
	char *out, *line, *save = NULL;

	/*
	 * What --config-check prints for the keys that have a value is
	 * itself a valid file giving the same settings.
	 */
	good(&c, "route relay\nrelay smtp://bob@r.example:2525\n"
	    "nameserver [::1]:54 10.0.0.1\ntimeout_data 1w\n"
	    "queue_lifetime 36h\nmx_port 2500\nhelo h.example\n"
	    "relay_auth cram-md5\nlog /l\nmx_tls required\n");
	cr_assert_eq(finish(&c), 0, "%s", err);
	out = print(&c);
	buf_init(&b);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (strchr(line, '(') == NULL && strstr(line, "***") == NULL)
			buf_printf(&b, "%s\n", line);
	config_init(&d);
	cr_assert_eq(config_parse(&d, b.data, b.len, "x", err, sizeof(err)),
	    0, "%s\n%s", err, b.data);
	cr_assert_eq(finish(&d), 0, "%s", err);
	cr_assert_eq(d.nroute, 1);
	cr_assert_eq(d.route[0], ROUTE_RELAY);
	cr_assert_str_eq(d.relays[0].host, "r.example");
	cr_assert_eq(d.relays[0].port, 2525);
	cr_assert_str_eq(d.relays[0].user, "bob");
	cr_assert_eq(d.nnameservers, 2);
	cr_assert_eq(d.nameservers[0].port, 54);
	cr_assert_eq(d.timeout_data, 604800);
	cr_assert_eq(d.queue_lifetime, 36 * 3600);
	cr_assert_eq(d.mx_port, 2500);
	cr_assert_eq(d.nrelay_auth, 1);
	cr_assert_eq(d.relay_auth[0], AUTH_CRAM_MD5);
	cr_assert_eq(d.log, LOGT_FILE);
	cr_assert_eq(d.mx_tls, MX_TLS_REQUIRED);
	buf_free(&b);
	free(out);
	config_free(&c);
	config_free(&d);
}

/*
 * BusyBox's -S (SPEC §2): the host named on the command line is the one
 * route, and no configured credential or pin goes with it.
 */
Test(config, smarthost_drops_the_configured_credentials)
{
	struct config c;
	struct relay_creds rc;
	char *out;

	good(&c, "route mx relay\nrelay smtps://url-user:url-pw@r.example\n"
	    "relay_user key-user\nrelay_fingerprint "
	    "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789"
	    "\n");
	cr_assert_eq(finish(&c), 0, "%s", err);
	config_use_smarthost(&c, "mailhog", 1025, NULL, NULL);
	cr_assert_eq(c.nroute, 1);
	cr_assert_eq(c.route[0], ROUTE_RELAY);
	cr_assert_eq(c.nrelays, 1);
	cr_assert_str_eq(c.relays[0].host, "mailhog");
	cr_assert_eq(c.relays[0].port, 1025);
	cr_assert_eq(c.relays[0].smtps, 0);
	cr_assert_eq(c.relay_tls, RELAY_TLS_MAY);
	cr_assert_null(c.relay_user);
	cr_assert_null(c.relay_password);
	cr_assert_null(c.relays[0].user);
	cr_assert_null(c.relays[0].password);
	config_relay_creds(&c, 0, &rc);
	cr_assert_null(rc.user);
	cr_assert_null(rc.password);
	cr_assert_eq(c.relay_fingerprint_set, 0);
	out = print(&c);
	cr_assert_not_null(strstr(out, "route relay\nrelay smtp://mailhog:1025"
	    "\nrelay_tls may (-S: STARTTLS when offered, not verified)\n"
	    "relay_user (none)\nrelay_password (none)\n"), "%s", out);
	cr_assert_null(strstr(out, "key-user"), "%s", out);
	cr_assert_null(strstr(out, "url-user"), "%s", out);
	free(out);
	config_free(&c);
}

/* -S with -au and -ap: STARTTLS required and verified, AUTH with them. */
Test(config, smarthost_with_credentials_requires_tls)
{
	struct config c;
	struct relay_creds rc;

	good(&c, "relay smtp://r.example smtp://r2.example\n"
	    "relay_password_command /bin/echo x\nrelay_user k\n");
	cr_assert_eq(finish(&c), 0, "%s", err);
	config_use_smarthost(&c, "2001:db8::1", 25, "cli", "pw");
	cr_assert_eq(c.nrelays, 1);
	cr_assert_str_eq(c.relays[0].host, "2001:db8::1");
	cr_assert_eq(c.relays[0].port, 25);
	cr_assert_eq(c.relay_tls, RELAY_TLS_STARTTLS);
	config_relay_creds(&c, 0, &rc);
	cr_assert_str_eq(rc.user, "cli");
	cr_assert_str_eq(rc.password, "pw");
	cr_assert_null(rc.password_command);
	cr_assert_null(c.relay_password_command);
	config_free(&c);
}
