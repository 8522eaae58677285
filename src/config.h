/*
 * config.h: the configuration (SPEC §4). Built once at start-up from the
 * defaults, the file (-C, MXSEND_CONFIG, or SYSCONFDIR/mxsend.conf) and
 * the MXSEND_<KEY> environment overrides, in that order; read-only after.
 * Every error is returned as a one-line text naming the file and line (or
 * the environment variable); the run then stops as a configuration
 * error (status.c).
 *
 * "The default file" is the one read when there is no -C: the file named
 * by MXSEND_CONFIG, else SYSCONFDIR/mxsend.conf. Only it may set
 * config_directories, which says where -C may point (SPEC §2, §10).
 */
#ifndef MXSEND_CONFIG_H
#define MXSEND_CONFIG_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum route_method {
	ROUTE_MX,
	ROUTE_RELAY
};

enum relay_tls {
	RELAY_TLS_AUTO,
	RELAY_TLS_STARTTLS,
	RELAY_TLS_TLS,
	RELAY_TLS_OFF,
	RELAY_TLS_MAY		/* -S without -au/-ap: STARTTLS when offered,
				   not verified; no key sets it */
};

enum mx_tls {
	MX_TLS_OPPORTUNISTIC,
	MX_TLS_DANE,
	MX_TLS_REQUIRED,
	MX_TLS_OFF
};

enum addr_family {
	AFAM_ANY,
	AFAM_IPV4,
	AFAM_IPV6
};

enum log_target {
	LOGT_SYSLOG,
	LOGT_STDERR,
	LOGT_FILE,
	LOGT_NONE
};

/*
 * relay_auth's mechanisms, best first; `any` means the first AUTH_NANY.
 * The OAuth2 ones need a token, not a password: used only when listed.
 */
enum auth_mech {
	AUTH_SCRAM_SHA_256,
	AUTH_PLAIN,
	AUTH_LOGIN,
	AUTH_CRAM_MD5,
	AUTH_XOAUTH2,
	AUTH_OAUTHBEARER,
	AUTH_NMECH
};
#define AUTH_NANY	AUTH_XOAUTH2

#define CONFIG_MAX_NAMESERVERS	3	/* glibc's MAXNS */
#define CONFIG_HOST_MAX		256

struct nameserver {
	char		 addr[64];	/* numeric IPv4 or IPv6, no brackets */
	int		 family;	/* AF_INET or AF_INET6 */
	uint16_t	 port;		/* 53 unless given */
};

#define CONFIG_RELAYS_MAX	10	/* relays in the `relay` list */

/* One relay of the `relay` list, as its URL gave it (SPEC §4). */
struct relay_conf {
	int		 smtps;		/* smtps:// scheme */
	char		 host[CONFIG_HOST_MAX];	/* no brackets */
	uint16_t	 port;		/* after config_finish(): never 0 */
	char		*user;		/* percent-decoded; NULL: none */
	char		*password;	/* secret, decoded; NULL: none */
};

/*
 * What one relay authenticates with: its URL's user, else relay_user;
 * its URL's password, else the password keys. user NULL: no AUTH.
 */
struct relay_creds {
	const char	*user;
	const char	*password;	/* NULL: none (or from file/command) */
	const char	*password_file;
	const char	*password_command;
};

struct config {
	/* route: the methods in order; nroute 0 until config_finish(). */
	enum route_method route[2];
	size_t		 nroute;

	/* relay: the list, in the order tried (SPEC §6); nrelays 0: none. */
	struct relay_conf *relays;
	size_t		 nrelays;
	enum relay_tls	 relay_tls;
	/*
	 * The keys, as given: a relay whose URL names no user takes
	 * relay_user, and one whose URL holds no password the password keys
	 * (config_relay_creds()).
	 */
	char		*relay_user;	/* NULL none */
	char		*relay_password;	/* secret */
	char		*relay_password_file;	/* read at each AUTH */
	char		*relay_password_command;	/* run at each AUTH */
	enum auth_mech	 relay_auth[AUTH_NMECH];	/* allowed, best first */
	size_t		 nrelay_auth;
	char		*tls_ca_file;	/* NULL: system trust store */
	int		 relay_fingerprint_set;
	unsigned char	 relay_fingerprint[32];	/* SHA-256 of the DER */

	enum mx_tls	 mx_tls;
	char		*helo;		/* NULL: computed at connect time */
	struct nameserver nameservers[CONFIG_MAX_NAMESERVERS];
	size_t		 nnameservers;	/* 0: /etc/resolv.conf */
	uint16_t	 mx_port;
	enum addr_family address_family;
	char		*default_domain;	/* NULL: host_fqdn() */
	char		*aliases;	/* NULL: /etc/aliases if present */
	int		 aliases_set;	/* given explicitly (missing = error) */
	unsigned	 alias_max_recipients;	/* addresses one recipient may
						   expand to; 0: no limit */
	char		*sender;	/* NULL: login@default_domain */
	char		*relay_from;	/* NULL: none (SPEC §4) */

	/* Durations in seconds. */
	unsigned	 timeout_connect;
	unsigned	 timeout_dns;	/* one name's lookup, every try */
	unsigned	 timeout_command;
	unsigned	 timeout_data;
	unsigned	 deadline;	/* 0: none */
	unsigned	 max_parallel;
	unsigned	 mx_max_addresses;
	char		*queue_dir;
	unsigned	 queue_lifetime;
	off_t		 message_size_limit;	/* octets; 0: none */
	int		 bounce;
	enum log_target	 log;
	char		*log_file;	/* LOGT_FILE */
	char		*transcript;	/* NULL: none */

	/*
	 * From the default file only: the directories whose files -C may
	 * name for a caller other than root. With -C, the default file is
	 * read for this key alone (and not at all when root gives -C).
	 */
	char		**config_directories;	/* absolute paths as written */
	size_t		 nconfig_directories;

	/* The file the settings came from, as named; NULL: none was. */
	char		*file_read;
	/* DKIM (SPEC §4): all three set, or none (NULL). */
	char		*dkim_domain;	/* d=, lower case */
	char		*dkim_selector;	/* s=, lower case */
	char		*dkim_key;	/* absolute path, read at each attempt */
	char		**dkim_headers;	/* h= names, lower case, in order */
	size_t		 ndkim_headers;
	unsigned	 dkim_routes;	/* 1u << ROUTE_MX | 1u << ROUTE_RELAY */
};

/* SPEC §4 dkim_headers' default: From over-signed. */
#define CONFIG_DKIM_HEADERS	"from:from:reply-to:subject:date:" \
	"message-id:to:cc:mime-version:content-type:" \
	"content-transfer-encoding:in-reply-to:references"

/* Fill in the built-in defaults. */
void	 config_init(struct config *);

/* Free what the config owns; secrets are wiped first. */
void	 config_free(struct config *);

/*
 * Set one key from text. origin names where it came from ("FILE:LINE" or
 * "MXSEND_KEY") and is used in the error text. Returns 0, or -1 with err.
 * config_directories is refused: it is read from the default file only.
 */
int	 config_set(struct config *, const char *key, const char *value,
	    const char *origin, char *err, size_t errlen);

/*
 * Parse a whole configuration text (file syntax of SPEC §4: "key value",
 * '#' comments, blank lines, double-quoted values). fname is used in
 * errors as "fname:LINE: ...". The text is not the default file, so
 * config_directories is refused. Returns 0 or -1 with err.
 */
int	 config_parse(struct config *, const char *text, size_t len,
	    const char *fname, char *err, size_t errlen);

/*
 * The whole start-up sequence: defaults were set by config_init(); read
 * the file (explicit is -C; otherwise MXSEND_CONFIG, otherwise the default
 * path, whose absence is not an error), apply MXSEND_<KEY> from the
 * environment, then config_finish(). Returns 0 or -1 with err.
 *
 * An explicit file is read only when config_explicit_allowed() says so
 * for the real uid and the default file's config_directories; otherwise
 * nothing is read from it and err says to use MXSEND_CONFIG instead.
 */
int	 config_load(struct config *, const char *explicit_file,
	    char *err, size_t errlen);

/*
 * Derive what depends on several keys: the default route, each relay's
 * port, and consistency checks (route relay without a relay; an smtps://
 * relay under relay_tls off or starttls; one password source at most; a
 * password key that no relay would use; a relay_password_file that others
 * may read or write, or that the caller cannot open). Returns 0 or -1.
 */
int	 config_finish(struct config *, char *err, size_t errlen);

/*
 * BusyBox's -S (SPEC §2): for this run the one route is the relay
 * host:port (host without brackets), with STARTTLS when offered and not
 * verified, or, with user and password (-au, -ap), STARTTLS required and
 * the certificate verified. Every configured credential (relay_user, the
 * password keys, the URL's) and relay_fingerprint are dropped: they are
 * the configured relay's, and a host named on the command line never
 * gets them.
 */
void	 config_use_smarthost(struct config *, const char *host, uint16_t port,
	    const char *user, const char *password);

/*
 * The credentials of cfg->relays[i] (SPEC §4: the URL's win for that
 * relay). The strings belong to cfg.
 */
void	 config_relay_creds(const struct config *, size_t i,
	    struct relay_creds *);

/*
 * Relay i as a URL with its password masked, "smtps://user:***@host:465"
 * (the user percent-encoded, an IPv6 address in brackets), into out: how
 * --config-check, -v and errors name a relay.
 */
void	 config_relay_name(const struct config *, size_t i, char *out,
	    size_t outlen);

/*
 * --config-check: a comment naming the file read (or that none was), then
 * every key with its effective value, secrets masked.
 */
void	 config_print(const struct config *, FILE *);

/* Parse a duration ("30", "5m", "2h", "5d", "1w") into seconds. */
int	 config_parse_duration(const char *, unsigned *);

/*
 * Parse a size into octets: decimal digits and an optional unit k, m or
 * g (K, M, G too), binary: "64m" is 67108864. Returns 0, or -1 on junk or
 * a size that an off_t cannot hold.
 */
int	 config_parse_size(const char *, off_t *);

/*
 * The -C rule (SPEC §2): whether a caller of real uid may have file read
 * as the configuration. Root may name any file; anyone else only a file
 * whose directory is one of dirs, both sides resolved with realpath(3),
 * so that neither ".." nor a symbolic link leads out of a listed
 * directory. A directory that cannot be resolved matches nothing. Returns
 * 1 (honoured) or 0. A pure function of its arguments and the file tree.
 */
int	 config_explicit_allowed(uid_t uid, const char *file,
	    char *const *dirs, size_t ndirs);

#endif
