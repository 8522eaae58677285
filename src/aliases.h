/*
 * aliases.h: the aliases file ("name: target, target", as aliases(5)):
 * '#' comments, continuation lines starting with white space, names
 * matched case-insensitively. Targets are kept as written; kinds that
 * mxsend never executes ("|command", "/file", ":include:") are flagged so
 * that envelope.c can refuse them for that recipient (SPEC §3).
 */
#ifndef MXSEND_ALIASES_H
#define MXSEND_ALIASES_H

#include <stddef.h>

enum alias_kind {
	ALIAS_ADDRESS,
	ALIAS_COMMAND,		/* |command */
	ALIAS_FILE,		/* /file */
	ALIAS_INCLUDE		/* :include:/file */
};

struct alias_target {
	char		*text;
	enum alias_kind	 kind;
};

struct alias {
	char			*name;	/* lower case */
	struct alias_target	*targets;
	size_t			 ntargets;
};

/* alias_max_recipients' default (SPEC §4), Postfix's expansion limit. */
#define ALIASES_MAX_RCPTS	1000

struct aliases {
	struct alias	*v;	/* sorted by name */
	size_t		 n;
	/*
	 * The most addresses one recipient may expand to, all levels
	 * together (alias_max_recipients); 0: no limit. More fails that
	 * recipient, and none of its expansion is used.
	 */
	size_t		 max_rcpts;
};

/* An empty table with the default max_rcpts. */
void	 aliases_init(struct aliases *);
void	 aliases_free(struct aliases *);

/*
 * Parse an aliases text; fname is used in errors as "fname:LINE: reason".
 * A later definition of the same name replaces the earlier one (as
 * newaliases does, with no error). Returns 0 or -1 with err.
 */
int	 aliases_parse(struct aliases *, const char *text, size_t len,
	    const char *fname, char *err, size_t errlen);

/*
 * Load a file. A missing file is an error only when must_exist (the
 * aliases key was given); otherwise it leaves the table empty.
 */
int	 aliases_load(struct aliases *, const char *path, int must_exist,
	    char *err, size_t errlen);

/* The alias for name (case-insensitive), or NULL. */
const struct alias *aliases_lookup(const struct aliases *, const char *name);

#endif
