/*
 * options.h: the sendmail command line (SPEC §2) as a struct options.
 * Pure: no files, no configuration, no output. Warnings and errors are
 * returned as text for main.c to print.
 */
#ifndef MXSEND_OPTIONS_H
#define MXSEND_OPTIONS_H

#include <stddef.h>

enum mode {
	MODE_DELIVER,		/* -bm (default) */
	MODE_SMTP,		/* -bs */
	MODE_PRINTQ,		/* -bp, mailq */
	MODE_VERIFY,		/* -bv */
	MODE_NEWALIASES,	/* -bi, newaliases */
	MODE_RUNQ,		/* -q, -qI, -qR, -qS */
	MODE_HELP,		/* --help */
	MODE_VERSION,		/* --version */
	MODE_CONFIG_CHECK,	/* --config-check */
	MODE_DKIM_GENKEY	/* --dkim-genkey SELECTOR DOMAIN [TYPE] */
};

enum errmode {
	ERRMODE_PRINT,		/* -oep, -oew (default) */
	ERRMODE_QUIET,		/* -oeq */
	ERRMODE_MAIL		/* -oem */
};

enum delivmode {
	DELIV_NOW,		/* -odi (default) */
	DELIV_BACKGROUND,	/* -odb */
	DELIV_QUEUE		/* -odq */
};

enum qselect {
	QSEL_ALL,		/* -q: due entries */
	QSEL_ID,		/* -qI<substr> */
	QSEL_RCPT,		/* -qR<substr> */
	QSEL_SENDER		/* -qS<substr> */
};

enum bodytype {
	BODY_DETECT,		/* from the bytes */
	BODY_7BIT,		/* -B7BIT */
	BODY_8BITMIME		/* -B8BITMIME */
};

/* DSN NOTIFY bits (RFC 3461); 0 = not given. NEVER excludes the others. */
#define NOTIFY_NEVER	0x01
#define NOTIFY_SUCCESS	0x02
#define NOTIFY_FAILURE	0x04
#define NOTIFY_DELAY	0x08

enum dsn_ret {
	RET_UNSET,
	RET_FULL,
	RET_HDRS
};

#define OPT_MAX_WARNINGS	8
#define OPT_WARNING_LEN		160

struct options {
	enum mode	 mode;
	int		 extract;	/* -t */
	int		 no_alias;	/* -n: aliases not applied */
	int		 ignore_dots;	/* -i, -oi */
	const char	*sender;	/* -f/-r as given ("" or "<>" = null); NULL unset */
	const char	*fullname;	/* -F */
	int		 notify;	/* -N, NOTIFY_* bits */
	enum dsn_ret	 ret;		/* -R */
	const char	*envid;		/* -V */
	enum bodytype	 body;		/* -B */
	int		 verbose;	/* -v (count) */
	const char	*config_file;	/* -C */
	enum errmode	 errmode;	/* -oe? */
	enum delivmode	 delivmode;	/* -od? */
	enum qselect	 qselect;	/* -q? */
	const char	*qsubstr;	/* -qI/-qR/-qS argument */
	/* BusyBox sendmail's relay for this run (SPEC §2). */
	char		 smarthost[256];	/* -S host, no [], or "" */
	unsigned	 smarthost_port;	/* -S port, 25 when not given */
	const char	*smarthost_user;	/* -au */
	const char	*smarthost_password;	/* -ap, in argv */
	const char	*timeout;	/* -w, a duration as given */
	char *const	*rcpts;		/* arguments after the options (argv slice) */
	size_t		 nrcpts;
	/* Ignored-with-a-warning options (-X, -oQ, -OQueueDirectory=). */
	size_t		 nwarnings;
	char		 warnings[OPT_MAX_WARNINGS][OPT_WARNING_LEN];
};

/*
 * Parse argc/argv (argv[0] selects the default mode: "mailq" = -bp,
 * "newaliases" = -bi, anything else -bm; only its basename counts).
 * The strings in opts point into argv. Returns 0 on success; on a usage
 * error returns -1 with a one-line reason in err (no trailing newline),
 * for which the caller prints usage and stops as a usage error.
 */
int	 options_parse(struct options *opts, int argc, char *const argv[],
	    char *err, size_t errlen);

/* The usage text (several lines, ending in a newline). */
const char *options_usage(void);

#endif
