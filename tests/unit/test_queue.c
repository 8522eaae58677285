/*
 * test_queue.c: queue entries on disk (doc/queue.md): the ID.env format
 * round-trips and refuses every malformed form, entries are created,
 * committed, loaded and removed, the lock keeps a second delivery out,
 * a corrupt entry is moved aside, and the back-off doubles up to 4 h.
 */
#include "autoconf.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <criterion/criterion.h>

#include "intake.h"
#include "queue.h"

static char dir[256];

static void
setup(void)
{
	alarm(30);
	strcpy(dir, "/tmp/test_queue.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)system(cmd);
}

TestSuite(queue, .init = setup, .fini = teardown);

static const char good[] =
    "mxsend-queue 1\n"
    "id 6619E253F078505671\n"
    "arrival 1764633970\n"
    "owner 1000\n"
    "sender root@test.example\n"
    "sender-smtputf8 0\n"
    "eightbit 1\n"
    "ret hdrs\n"
    "envid abc+2B1\n"
    "bounce 1\n"
    "is-bounce 0\n"
    "rcpt deferred 2 1764634570 12 0 0 0 4.4.1 u@a.test - "
    "mx1.a.test[127.0.0.2]:25 host+20mx1.a.test:+20refused\n"
    "rcpt failed 1 0 0 0 6 1 5.1.1 \"j+20d\"@b.test - - -\n"
    "end\n";

Test(queue, parse_good_entry)
{
	struct envelope env;
	struct qmeta m;
	char err[256];

	envelope_init(&env);
	qmeta_init(&m);
	cr_assert_eq(queue_parse_env(good, strlen(good), &env, &m, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(m.id, "6619E253F078505671");
	cr_assert_eq(m.arrival, 1764633970);
	cr_assert_eq(m.owner, 1000);
	cr_assert_str_eq(env.sender, "root@test.example");
	cr_assert_eq(m.eightbit, 1);
	cr_assert_eq(m.ret, RET_HDRS);
	cr_assert_str_eq(m.envid, "abc+1");
	cr_assert_eq(m.bounce, 1);
	cr_assert_eq(env.nrcpts, 2);
	cr_assert_eq(env.rcpts[0].state, RCPT_DEFERRED);
	cr_assert_eq(m.q[0].attempts, 2);
	cr_assert_eq(m.q[0].next, 1764634570);
	cr_assert_eq(env.rcpts[0].notify, 12);
	cr_assert_str_eq(env.rcpts[0].dsn, "4.4.1");
	cr_assert_str_eq(env.rcpts[0].domain, "a.test");
	cr_assert_str_eq(env.rcpts[0].relay, "mx1.a.test[127.0.0.2]:25");
	cr_assert_str_eq(env.rcpts[0].reason, "host mx1.a.test: refused");
	cr_assert_eq(env.rcpts[1].state, RCPT_FAILED);
	cr_assert_eq(env.rcpts[1].fail, FAIL_NOUSER);
	cr_assert_eq(m.q[1].reported, 1);
	cr_assert_str_eq(env.rcpts[1].addr, "\"j d\"@b.test");
	cr_assert_str_eq(env.rcpts[1].orig, "\"j d\"@b.test");
	cr_assert_null(env.rcpts[1].reason);
	qmeta_free(&m);
	envelope_free(&env);
}

Test(queue, format_round_trips)
{
	struct envelope env, env2;
	struct qmeta m, m2;
	char err[256], *t1, *t2;
	size_t l1, l2;

	envelope_init(&env);
	qmeta_init(&m);
	cr_assert_eq(queue_parse_env(good, strlen(good), &env, &m, err,
	    sizeof(err)), 0);
	t1 = queue_format_env(&env, &m, &l1);
	cr_assert_eq(l1, strlen(good));
	cr_assert_str_eq(t1, good);
	envelope_init(&env2);
	qmeta_init(&m2);
	cr_assert_eq(queue_parse_env(t1, l1, &env2, &m2, err, sizeof(err)),
	    0);
	t2 = queue_format_env(&env2, &m2, &l2);
	cr_assert_str_eq(t1, t2);
	free(t1);
	free(t2);
	qmeta_free(&m);
	qmeta_free(&m2);
	envelope_free(&env);
	envelope_free(&env2);
}

/* Replace the first occurrence of from by to in good, and parse it. */
static int
parse_edited(const char *from, const char *to, char *err, size_t errlen)
{
	struct envelope env;
	struct qmeta m;
	char text[2048];
	const char *p = strstr(good, from);
	int r;

	cr_assert_not_null(p, "%s not in the sample", from);
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(p - good), good, to,
	    p + strlen(from));
	envelope_init(&env);
	qmeta_init(&m);
	r = queue_parse_env(text, strlen(text), &env, &m, err, errlen);
	qmeta_free(&m);
	envelope_free(&env);
	return r;
}

Test(queue, malformed_entries_are_refused)
{
	static const char *const edits[][2] = {
		{ "mxsend-queue 1", "mxsend-queue 2" },
		{ "id 6619E253F078505671", "id 6619E253" },
		{ "arrival 1764633970", "arrival -5" },
		{ "arrival 1764633970", "arrival 99999999999999999999999" },
		{ "owner 1000\n", "" },
		{ "sender root@test.example", "sender root@test.example x" },
		{ "sender root@test.example", "sender ro+0Aot@x" },
		{ "sender root@test.example", "sender ro+00t@x" },
		{ "sender root@test.example", "sender ro+4" },
		{ "ret hdrs", "ret all" },
		{ "rcpt deferred 2", "rcpt later 2" },
		{ "rcpt deferred 2", "rcpt deferred x" },
		{ " 4.4.1 u@a.test", " 4.4.1 ua.test" },
		{ " 4.4.1 u@a.test", " 4.4.1 u@" },
		{ " 4.4.1 ", " 4.4.1.1.1.1.1.1.1.1.1.1 " },
		{ "0 6 1 5.1.1", "0 9 1 5.1.1" },
		{ "end\n", "end" },
		{ "end\n", "" },
		{ "end\n", "end\nrcpt\n" },
		{ "is-bounce 0\nrcpt deferred", "is-bounce 0\nbogus\nrcpt deferred" },
	};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		err[0] = '\0';
		cr_expect_eq(parse_edited(edits[i][0], edits[i][1], err,
		    sizeof(err)), -1, "accepted: %s -> %s", edits[i][0],
		    edits[i][1]);
		cr_expect(strncmp(err, "line ", 5) == 0, "no line in '%s'",
		    err);
	}
}

Test(queue, no_recipients_is_corrupt)
{
	struct envelope env;
	struct qmeta m;
	char err[256], text[1024];
	const char *r = strstr(good, "rcpt ");

	/* The sample with its rcpt lines cut out. */
	snprintf(text, sizeof(text), "%.*send\n", (int)(r - good), good);
	envelope_init(&env);
	qmeta_init(&m);
	cr_assert_eq(queue_parse_env(text, strlen(text), &env, &m, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "no recipients") != NULL, "%s", err);
	qmeta_free(&m);
	envelope_free(&env);
}

Test(queue, backoff_doubles_to_four_hours)
{
	cr_assert_eq(queue_backoff(1), 300);
	cr_assert_eq(queue_backoff(2), 600);
	cr_assert_eq(queue_backoff(3), 1200);
	cr_assert_eq(queue_backoff(6), 9600);
	cr_assert_eq(queue_backoff(7), 14400);
	cr_assert_eq(queue_backoff(1000), 14400);
}

Test(queue, xtext_decode)
{
	char *s;

	s = queue_xtext_decode("a+2Bb+3D", 8);
	cr_assert_str_eq(s, "a+b=");
	free(s);
	cr_assert_null(queue_xtext_decode("a b", 3));
	cr_assert_null(queue_xtext_decode("a=b", 3));
	cr_assert_null(queue_xtext_decode("a+2", 3));
	cr_assert_null(queue_xtext_decode("a+G0", 4));
}

/* A spooled message from text (LF endings). */
static void
spool(struct message *msg, const char *text)
{
	char err[256];
	int in = memfd_create("in", 0);

	cr_assert_eq(write(in, text, strlen(text)), (ssize_t)strlen(text));
	lseek(in, 0, SEEK_SET);
	msg_init(msg, memfd_create("spool", 0));
	cr_assert_eq(intake_read(in, msg, 0, err, sizeof(err)), INTAKE_OK);
	close(in);
}

static void
sample_envelope(struct envelope *env, struct qmeta *m, const char *id)
{
	envelope_init(env);
	qmeta_init(m);
	env->sender = strdup("s@x.test");
	env->nrcpts = 2;
	env->rcpts = calloc(2, sizeof(*env->rcpts));
	env->rcpts[0].addr = strdup("a@y.test");
	env->rcpts[0].orig = strdup("a@y.test");
	env->rcpts[0].domain = strchr(env->rcpts[0].addr, '@') + 1;
	env->rcpts[1].addr = strdup("b@z.test");
	env->rcpts[1].orig = strdup("b");
	env->rcpts[1].domain = strchr(env->rcpts[1].addr, '@') + 1;
	strcpy(m->id, id);
	m->arrival = 1000;
	m->owner = getuid();
	m->q = calloc(2, sizeof(*m->q));
}

Test(queue, create_commit_load_remove)
{
	struct message msg, got;
	struct envelope env, env2;
	struct qmeta m, m2;
	struct qentry e, e2;
	char err[256], path[600];
	const char *id = "00112233445566778A";
	struct stat st;

	spool(&msg, "Subject: hi\n\n.dot\nbody\n");
	msg_prepend(&msg, "Received", "by test");
	sample_envelope(&env, &m, id);
	cr_assert_eq(queue_create(dir, id, &msg, &env, &m, &e, err,
	    sizeof(err)), 0, "%s", err);
	snprintf(path, sizeof(path), "%s/%s.msg", dir, id);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "message readable by others");
	cr_assert_eq(st.st_size, msg_stream_size(&msg, 0));
	snprintf(path, sizeof(path), "%s/%s.env", dir, id);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);

	/* Held: a second delivery is kept out. */
	envelope_init(&env2);
	qmeta_init(&m2);
	msg_init(&got, -1);
	cr_assert_eq(queue_load(dir, id, &e2, &env2, &m2, &got, err,
	    sizeof(err)), QLOAD_BUSY);

	env.rcpts[0].state = RCPT_DELIVERED;
	env.rcpts[1].state = RCPT_DEFERRED;
	env.rcpts[1].reason = strdup("host z said: 451 later");
	m.q[1].attempts = 1;
	m.q[1].next = 2000;
	cr_assert_eq(queue_commit(&e, &env, &m, 1, err, sizeof(err)), 0,
	    "%s", err);
	queue_release(&e);

	cr_assert_eq(queue_load(dir, id, &e2, &env2, &m2, &got, err,
	    sizeof(err)), QLOAD_OK, "%s", err);
	cr_assert_eq(env2.nrcpts, 2);
	cr_assert_eq(env2.rcpts[0].state, RCPT_DELIVERED);
	cr_assert_eq(env2.rcpts[1].state, RCPT_DEFERRED);
	cr_assert_str_eq(env2.rcpts[1].reason, "host z said: 451 later");
	cr_assert_str_eq(env2.rcpts[1].orig, "b");
	cr_assert_eq(m2.q[1].next, 2000);
	/* The message as transmitted, byte for byte. */
	cr_assert_eq(msg_stream_size(&got, 0), msg_stream_size(&msg, 0));
	cr_assert_eq(queue_remove(&e2, err, sizeof(err)), 0);
	queue_release(&e2);
	cr_assert_neq(stat(path, &st), 0, "env left behind");
	{
		size_t n;
		char **ids = queue_list(dir, &n);

		cr_assert_eq(n, 0);
		free(ids);
	}
	close(got.fd);
	msg_free(&got);
	qmeta_free(&m2);
	envelope_free(&env2);
	msg_free(&msg);
	qmeta_free(&m);
	envelope_free(&env);
}

Test(queue, corrupt_entry_is_moved_aside)
{
	struct envelope env;
	struct qmeta m;
	struct message got;
	struct qentry e;
	char err[512], path[600];
	const char *id = "00112233445566778B";
	FILE *f;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s.msg", dir, id);
	f = fopen(path, "w");
	fputs("Subject: x\r\n\r\nbody\r\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s.env", dir, id);
	f = fopen(path, "w");
	fputs("mxsend-queue 1\nid 00112233445566778B\narriv", f);
	fclose(f);
	envelope_init(&env);
	qmeta_init(&m);
	msg_init(&got, -1);
	cr_assert_eq(queue_load(dir, id, &e, &env, &m, &got, err, sizeof(err)),
	    QLOAD_CORRUPT);
	cr_assert(strstr(err, "corrupt") != NULL, "%s", err);
	cr_assert_neq(stat(path, &st), 0, "still in the queue");
	snprintf(path, sizeof(path), "%s/%s.env.corrupt", dir, id);
	cr_assert_eq(stat(path, &st), 0, "not kept aside");
	snprintf(path, sizeof(path), "%s/%s.msg.corrupt", dir, id);
	cr_assert_eq(stat(path, &st), 0, "message not kept aside");
	qmeta_free(&m);
	envelope_free(&env);
}

Test(queue, list_ignores_other_files)
{
	const char *names[] = { "00112233445566778C.env", "0011.env",
	    "00112233445566778D.env.tmp", "00112233445566778E.msg",
	    "zz112233445566778F.env", "00112233445566778A.env" };
	char path[600], **ids;
	size_t i, n;
	FILE *f;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "w");
		fclose(f);
	}
	ids = queue_list(dir, &n);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ids[0], "00112233445566778A");
	cr_assert_str_eq(ids[1], "00112233445566778C");
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

Test(queue, user_dir_checks)
{
	char out[600], err[256], root[300];

	snprintf(root, sizeof(root), "%s/q", dir);
	mkdir(root, 01733);
	cr_assert_eq(queue_user_dir(root, getuid(), 1, out, sizeof(out), err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(queue_user_dir(root, getuid(), 0, out, sizeof(out), err,
	    sizeof(err)), 0, "%s", err);
	chmod(out, 0755);
	cr_assert_eq(queue_user_dir(root, getuid(), 0, out, sizeof(out), err,
	    sizeof(err)), -1, "a directory others can read was accepted");
	cr_assert(strstr(err, "accessible") != NULL, "%s", err);
	/* Someone else's number: not ours. */
	cr_assert_eq(queue_user_dir(root, getuid() + 1, 1, out, sizeof(out),
	    err, sizeof(err)), -1);
}

Test(queue, clean_removes_only_old_temporary_envelopes)
{
	const char *names[] = { "00112233445566778C.env.tmp",
	    "00112233445566778D.env.tmp", "00112233445566778E.env" };
	struct utimbuf old = { 1000, 1000 };
	char path[600];
	struct stat st;
	size_t i;
	FILE *f;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "w");
		fclose(f);
		if (i != 1)
			utime(path, &old);
	}
	queue_clean(dir, time(NULL));
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	cr_assert_neq(stat(path, &st), 0, "old .env.tmp kept");
	snprintf(path, sizeof(path), "%s/%s", dir, names[1]);
	cr_assert_eq(stat(path, &st), 0, "a fresh .env.tmp (a write in "
	    "progress) removed");
	snprintf(path, sizeof(path), "%s/%s", dir, names[2]);
	cr_assert_eq(stat(path, &st), 0, "an entry removed");
}
