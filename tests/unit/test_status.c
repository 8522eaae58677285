/*
 * test_status.c: SPEC §3's exit status table, row for row, through the
 * one function that computes it (status.c).
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <criterion/criterion.h>

#include "status.h"
#include "util.h"

/* Recipients as a string: d delivered, f deferred, then failure kinds. */
struct row {
	const char	*what;
	enum run_stop	 stop;
	const char	*rcpts;		/* see rcpt_of() */
	int		 queued, bounced;
	enum run_kept	 kept;
	int		 want;
};

/*
 * One letter per recipient: D delivered, T deferred (temporary),
 * N failed: no such domain, I failed: IDNA, U failed: refused at RCPT,
 * S failed: syntax, A failed: alias kind, L failed: alias loop,
 * X failed: other permanent (DATA, SIZE, every MX refused).
 */
static void
rcpt_of(char c, struct rcpt *r)
{
	memset(r, 0, sizeof(*r));
	switch (c) {
	case 'D': r->state = RCPT_DELIVERED; break;
	case 'T': r->state = RCPT_DEFERRED; break;
	default:
		r->state = RCPT_FAILED;
		r->fail = c == 'N' ? FAIL_NOHOST : c == 'I' ? FAIL_IDNA :
		    c == 'U' ? FAIL_NOUSER : c == 'S' ? FAIL_SYNTAX :
		    c == 'A' ? FAIL_ALIAS_KIND : c == 'L' ? FAIL_ALIAS_LOOP :
		    FAIL_UNAVAILABLE;
		break;
	}
}

static const struct row rows[] = {
	/* Runs that stop before any recipient has an outcome. */
	{ "a mode that succeeded", STOP_DONE, "", 0, 0, KEPT_NONE, EX_OK },
	{ "bad command line, no recipients", STOP_USAGE, "", 0, 0, KEPT_NONE,
	    EX_USAGE },
	{ "NUL, loop, size or header limit", STOP_DATA, "", 0, 0, KEPT_NONE,
	    EX_DATAERR },
	{ "configuration error", STOP_CONFIG, "", 0, 0, KEPT_NONE,
	    EX_CONFIG },
	{ "a mode this version lacks", STOP_UNAVAILABLE, "", 0, 0, KEPT_NONE,
	    EX_UNAVAILABLE },
	{ "fork or memory refused", STOP_OSERR, "", 0, 0, KEPT_NONE,
	    EX_OSERR },
	{ "cannot spool", STOP_CANTCREAT, "", 0, 0, KEPT_NONE,
	    EX_CANTCREAT },
	{ "input or output failed", STOP_IOERR, "", 0, 0, KEPT_NONE,
	    EX_IOERR },
	/* Every recipient accepted, or the message safely queued. */
	{ "all delivered", STOP_NONE, "DDD", 0, 0, KEPT_NONE, EX_OK },
	{ "-odq/-odb queued", STOP_NONE, "TT", 1, 0, KEPT_QUEUE, EX_OK },
	/* 75: deferred and queued. */
	{ "one deferred, queued", STOP_NONE, "DT", 0, 0, KEPT_QUEUE,
	    EX_TEMPFAIL },
	/* Which failure is which code (second table). */
	{ "no such domain", STOP_NONE, "N", 0, 0, KEPT_NONE, EX_NOHOST },
	{ "IDNA failure: no such domain", STOP_NONE, "I", 0, 0, KEPT_NONE,
	    EX_NOHOST },
	{ "refused at RCPT", STOP_NONE, "U", 0, 0, KEPT_NONE, EX_NOUSER },
	{ "bad header address", STOP_NONE, "S", 0, 0, KEPT_NONE, EX_NOUSER },
	{ "alias of a refused kind", STOP_NONE, "A", 0, 0, KEPT_NONE,
	    EX_UNAVAILABLE },
	{ "alias loop", STOP_NONE, "L", 0, 0, KEPT_NONE, EX_UNAVAILABLE },
	{ "refused at DATA, SIZE, every MX", STOP_NONE, "X", 0, 0, KEPT_NONE,
	    EX_UNAVAILABLE },
	/* Mixed: permanent over 75 over 0; 68 over 67 over 69. */
	{ "failure beats deferral", STOP_NONE, "TXD", 0, 0, KEPT_QUEUE,
	    EX_UNAVAILABLE },
	{ "68 over 67", STOP_NONE, "UN", 0, 0, KEPT_NONE, EX_NOHOST },
	{ "68 over 69", STOP_NONE, "XN", 0, 0, KEPT_NONE, EX_NOHOST },
	{ "67 over 69", STOP_NONE, "XU", 0, 0, KEPT_NONE, EX_NOUSER },
	{ "67 over 69, either order", STOP_NONE, "UX", 0, 0, KEPT_NONE,
	    EX_NOUSER },
	/* -oem: failures a delivered or queued bounce reported. */
	{ "bounced, rest delivered", STOP_NONE, "DU", 0, 1, KEPT_NONE, EX_OK },
	{ "bounced, rest deferred", STOP_NONE, "TU", 0, 1, KEPT_QUEUE,
	    EX_TEMPFAIL },
	/* Where the message ended up (SPEC §7). */
	{ "deferred, no queue: dead.letter", STOP_NONE, "T", 0, 0,
	    KEPT_DEADLETTER, EX_CANTCREAT },
	{ "failed, kept in dead.letter", STOP_NONE, "U", 0, 0,
	    KEPT_DEADLETTER, EX_NOUSER },
	{ "could not be saved", STOP_NONE, "T", 0, 0, KEPT_LOST, EX_IOERR },
	{ "failed and not saved", STOP_NONE, "U", 0, 0, KEPT_LOST, EX_IOERR },
};

/* util.c's out-of-memory exit is the table's operating-system failure. */
Test(status, out_of_memory_is_the_tables_oserr)
{
	struct run_outcome o;

	memset(&o, 0, sizeof(o));
	o.stop = STOP_OSERR;
	cr_assert_eq(exit_status(&o), OOM_STATUS);
}

Test(status, spec_3_table)
{
	struct rcpt r[8];
	struct envelope env;
	struct run_outcome o;
	size_t i, k;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&env, 0, sizeof(env));
		for (k = 0; rows[i].rcpts[k] != '\0'; k++)
			rcpt_of(rows[i].rcpts[k], &r[k]);
		env.rcpts = r;
		env.nrcpts = k;
		memset(&o, 0, sizeof(o));
		o.stop = rows[i].stop;
		o.env = &env;
		o.queued = rows[i].queued;
		o.bounced = rows[i].bounced;
		o.kept = rows[i].kept;
		cr_expect_eq(exit_status(&o), rows[i].want,
		    "%s (%s): %d, want %d", rows[i].what, rows[i].rcpts,
		    exit_status(&o), rows[i].want);
	}
}
