/*
 * test_probes.c: the probe counter of -bv -v (probes.c, SPEC §2): the
 * file format and its sliding hour, then reservations against a real
 * queue directory: the limit of 200 per domain, partial grants, giving
 * back, a corrupt or planted file (no probes until it is an hour old),
 * a crash's leftover, and threads that reserve at once.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "probes.h"
#include "spawn.h"
#include "util.h"

static char root[64], udir[128], file[160];
static struct config cfg;
static struct probe_counter *pc;

static void
setup(void)
{
	alarm(60);
	snprintf(root, sizeof(root), "/tmp/test_probes.XXXXXX");
	cr_assert(mkdtemp(root) != NULL);
	snprintf(udir, sizeof(udir), "%s/%lu", root, (unsigned long)getuid());
	snprintf(file, sizeof(file), "%s/%s", udir, PROBES_FILE);
	memset(&cfg, 0, sizeof(cfg));
	cfg.queue_dir = root;
	pc = probe_counter_new(&cfg);
}

static void
teardown(void)
{
	probe_counter_free(pc);
	remove_tree(root);
}

TestSuite(table, .init = setup, .fini = teardown);
TestSuite(counter, .init = setup, .fini = teardown);

static int
parse(struct probe_table *pt, const char *text, char *err, size_t errlen)
{
	return probe_table_parse(pt, text, strlen(text), err, errlen);
}

/* ------------------------------------------------------------ table */

Test(table, parse_count_and_format_round_trip)
{
	static const char text[] = PROBES_HEADER "a.test 1000 3\n"
	    "b.test 1001 5\nA.TEST 1002 4\n[127.0.0.5] 1003 1\n";
	struct probe_table pt;
	char err[128], *out;
	size_t len;

	cr_assert_eq(parse(&pt, text, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pt.n, 4);
	cr_assert_eq(probe_table_count(&pt, "a.test"), 7);
	cr_assert_eq(probe_table_count(&pt, "b.test"), 5);
	cr_assert_eq(probe_table_count(&pt, "c.test"), 0);
	out = probe_table_format(&pt, &len);
	cr_assert_eq(len, strlen(text));
	cr_assert_str_eq(out, text);
	free(out);
	probe_table_free(&pt);
	cr_assert_eq(parse(&pt, PROBES_HEADER, err, sizeof(err)), 0);
	cr_assert_eq(pt.n, 0);
}

Test(table, malformed_files_are_refused_naming_the_line)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "", "line 1" },
		{ "mxsend-probes 2\n", "line 1" },
		{ PROBES_HEADER "a.test 1 1", "line 2: no end of line" },
		{ PROBES_HEADER "a.test 1 1\na.test 1\n", "line 3: not three" },
		{ PROBES_HEADER "a.test 1 1 1\n", "not three" },
		{ PROBES_HEADER "a.test  1 1\n", "not three" },
		{ PROBES_HEADER " 1 1\n", "bad domain" },
		{ PROBES_HEADER "a\x01test 1 1\n", "bad domain" },
		{ PROBES_HEADER "a.test -1 1\n", "bad time" },
		{ PROBES_HEADER "a.test 1x 1\n", "bad time" },
		{ PROBES_HEADER "a.test 1234567890123456789 1\n", "bad time" },
		{ PROBES_HEADER "a.test 1 0\n", "bad count" },
		{ PROBES_HEADER "a.test 1 1000001\n", "bad count" },
		{ PROBES_HEADER "a.test 1 \n", "bad count" },
		{ PROBES_HEADER "\n", "not three" },
	};
	struct probe_table pt;
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(parse(&pt, bad[i].text, err, sizeof(err)), -1,
		    "accepted %zu: %s", i, bad[i].text);
		cr_assert(strstr(err, bad[i].want) != NULL, "%zu: %s", i, err);
		cr_assert_eq(pt.n, 0);
	}
}

/* A line counts for an hour after its time; one from the future, now. */
Test(table, prune_keeps_the_last_hour)
{
	struct probe_table pt;

	probe_table_init(&pt);
	probe_table_add(&pt, "a.test", 10000 - PROBES_WINDOW, 5);
	probe_table_add(&pt, "a.test", 10000 - PROBES_WINDOW + 1, 7);
	probe_table_add(&pt, "a.test", 10000 + 999999, 2);
	probe_table_prune(&pt, 10000);
	cr_assert_eq(probe_table_count(&pt, "a.test"), 9);
	probe_table_prune(&pt, 10000 + PROBES_WINDOW - 1);
	cr_assert_eq(probe_table_count(&pt, "a.test"), 2);
	probe_table_prune(&pt, 10000 + PROBES_WINDOW);
	cr_assert_eq(pt.n, 0);
	probe_table_free(&pt);
}

Test(table, add_joins_and_sub_takes_back_its_own_line)
{
	struct probe_table pt;

	probe_table_init(&pt);
	probe_table_add(&pt, "a.test", 100, 3);
	probe_table_add(&pt, "a.test", 100, 2);
	probe_table_add(&pt, "a.test", 101, 4);
	cr_assert_eq(pt.n, 2);
	probe_table_sub(&pt, "a.test", 100, 1);
	cr_assert_eq(probe_table_count(&pt, "a.test"), 8);
	probe_table_sub(&pt, "a.test", 100, 10);	/* never below 0 */
	cr_assert_eq(pt.n, 1);
	probe_table_sub(&pt, "a.test", 99, 4);	/* not there: nothing */
	cr_assert_eq(probe_table_count(&pt, "a.test"), 4);
	probe_table_free(&pt);
}

/* ---------------------------------------------------------- counter */

/* The count of domain in the file as it is now. */
static unsigned
file_count(const char *domain)
{
	struct probe_table pt;
	char err[128], *text;
	size_t len;
	unsigned n;

	text = file_read(file, &len);
	cr_assert_not_null(text, "no %s", file);
	cr_assert_eq(probe_table_parse(&pt, text, len, err, sizeof(err)), 0,
	    "%s: %s\n%s", file, err, text);
	n = probe_table_count(&pt, domain);
	probe_table_free(&pt);
	free(text);
	return n;
}

static size_t
reserve(const char *domain, size_t n, int64_t *stamp, char *why,
    size_t whylen)
{
	why[0] = '\0';
	return probe_reserve(pc, domain, n, stamp, why, whylen);
}

Test(counter, reservations_up_to_the_limit_in_the_users_directory)
{
	struct stat st;
	char why[1024];
	int64_t stamp;

	cr_assert_eq(access(file, F_OK), -1, "made before any reservation");
	cr_assert_eq(reserve("a.test", 3, &stamp, why, sizeof(why)), 3, "%s",
	    why);
	cr_assert(stamp > 0);
	cr_assert_eq(stat(file, &st), 0);
	cr_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
	    "mode %o", (unsigned)st.st_mode);
	cr_assert_eq(st.st_uid, getuid());
	cr_assert_eq(file_count("a.test"), 3);
	cr_assert_eq(reserve("a.test", PROBES_LIMIT, &stamp, why,
	    sizeof(why)), PROBES_LIMIT - 3);
	cr_assert(strstr(why, "probe limit reached: 3 probes of a.test") !=
	    NULL, "%s", why);
	cr_assert_eq(reserve("a.test", 1, &stamp, why, sizeof(why)), 0);
	cr_assert(strstr(why, "200 probes of a.test in the last hour, at "
	    "most 200") != NULL, "%s", why);
	/* Another domain has a count of its own. */
	cr_assert_eq(reserve("b.test", 2, &stamp, why, sizeof(why)), 2);
	cr_assert_eq(file_count("a.test"), PROBES_LIMIT);
	cr_assert_eq(file_count("b.test"), 2);
	cr_assert_eq(access(udir, F_OK), 0);
}

Test(counter, release_gives_back_what_was_not_sent)
{
	char why[1024];
	int64_t stamp;

	cr_assert_eq(reserve("a.test", 5, &stamp, why, sizeof(why)), 5);
	probe_release(pc, "a.test", stamp, 3);
	cr_assert_eq(file_count("a.test"), 2);
	probe_release(pc, "a.test", stamp, 0);
	cr_assert_eq(file_count("a.test"), 2);
}

Test(counter, old_lines_no_longer_count)
{
	char text[256], why[1024];
	int64_t stamp;
	long now = (long)time(NULL);

	cr_assert_eq(mkdir(udir, 0700), 0);
	snprintf(text, sizeof(text), PROBES_HEADER "a.test %ld 200\n"
	    "a.test %ld 50\n", now - PROBES_WINDOW - 5, now - 60);
	write_file(file, text);
	cr_assert_eq(reserve("a.test", 200, &stamp, why, sizeof(why)), 150,
	    "%s", why);
	cr_assert_eq(file_count("a.test"), 200);
}

/* A corrupt file: nothing until it is an hour old, then a new count. */
Test(counter, corrupt_file_blocks_for_an_hour_then_is_replaced)
{
	struct timespec old[2];
	char why[1024];
	int64_t stamp;

	cr_assert_eq(mkdir(udir, 0700), 0);
	write_file(file, "garbage\n");
	cr_assert_eq(reserve("a.test", 1, &stamp, why, sizeof(why)), 0);
	cr_assert(strstr(why, "is unusable (line 1") != NULL &&
	    strstr(why, "no probes until it is an hour old or removed"),
	    "%s", why);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - PROBES_WINDOW - 1;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	cr_assert_eq(utimensat(AT_FDCWD, file, old, 0), 0);
	cr_assert_eq(reserve("a.test", 1, &stamp, why, sizeof(why)), 1, "%s",
	    why);
	cr_assert_eq(file_count("a.test"), 1);
}

/* Planted: a FIFO never blocks, a link is never followed. */
Test(counter, planted_fifo_or_symlink_is_refused_at_once)
{
	char why[1024], target[200], *text;
	int64_t stamp;
	long t0;

	cr_assert_eq(mkdir(udir, 0700), 0);
	cr_assert_eq(mkfifo(file, 0600), 0);
	t0 = ms_now();
	cr_assert_eq(reserve("a.test", 1, &stamp, why, sizeof(why)), 0);
	cr_assert(ms_now() - t0 < 2000, "waited on the FIFO");
	cr_assert(strstr(why, "not a regular file") != NULL, "%s", why);
	cr_assert_eq(unlink(file), 0);
	snprintf(target, sizeof(target), "%s/elsewhere", root);
	write_file(target, PROBES_HEADER);
	cr_assert_eq(symlink(target, file), 0);
	cr_assert_eq(reserve("a.test", 1, &stamp, why, sizeof(why)), 0);
	cr_assert(strstr(why, "is unusable") != NULL, "%s", why);
	text = file_read(target, NULL);
	cr_assert_str_eq(text, PROBES_HEADER, "written through the link");
	free(text);
}

/* What a crash between writing and renaming leaves is cleared. */
Test(counter, leftover_tmp_of_a_crash_is_replaced)
{
	char tmp[200], why[1024];
	int64_t stamp;

	cr_assert_eq(mkdir(udir, 0700), 0);
	snprintf(tmp, sizeof(tmp), "%s/%s", udir, PROBES_TMP);
	write_file(tmp, "half a fi");
	cr_assert_eq(reserve("a.test", 4, &stamp, why, sizeof(why)), 4, "%s",
	    why);
	cr_assert_eq(file_count("a.test"), 4);
	cr_assert_eq(access(tmp, F_OK), -1);
}

#define THREADS	8
#define EACH	15

static void *
reserver(void *arg)
{
	char why[1024];
	int64_t stamp;
	size_t i, *got = arg;

	for (i = 0; i < EACH; i++)
		*got += probe_reserve(pc, "t.test", 2, &stamp, why,
		    sizeof(why));
	return NULL;
}

/* The workers of one run take turns: no reservation is lost. */
Test(counter, threads_reserving_at_once_are_all_counted)
{
	pthread_t th[THREADS];
	size_t got[THREADS], total = 0;
	int i;

	for (i = 0; i < THREADS; i++) {
		got[i] = 0;
		cr_assert_eq(pthread_create(&th[i], NULL, reserver, &got[i]),
		    0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		total += got[i];
	}
	/* 240 asked, 200 allowed. */
	cr_assert_eq(total, PROBES_LIMIT);
	cr_assert_eq(file_count("t.test"), PROBES_LIMIT);
}
