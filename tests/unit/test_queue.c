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
    "mxsend-queue 2\n"
    "id 6619E253F078505671\n"
    "arrival 1764633970\n"
    "sender root@test.example\n"
    "sender-smtputf8 0\n"
    "eightbit 1\n"
    "ret hdrs\n"
    "envid abc+2B1\n"
    "bounce 1\n"
    "is-bounce 0\n"
    "prepend Received:+20by+20x+0D+0A+09for+20y+0D+0A\n"
    "append -\n"
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
	cr_assert_str_eq(m.prepend, "Received: by x\r\n\tfor y\r\n");
	cr_assert_null(m.append);
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

/* Version 1 entries (before this release) still load: owner ignored. */
Test(queue, version_1_entries_load)
{
	static const char v1[] =
	    "mxsend-queue 1\n"
	    "id 6619E253F078505671\n"
	    "arrival 1764633970\n"
	    "owner 0\n"
	    "sender root@test.example\n"
	    "sender-smtputf8 0\n"
	    "eightbit 0\n"
	    "ret -\n"
	    "envid -\n"
	    "bounce 0\n"
	    "is-bounce 0\n"
	    "rcpt deferred 2 1764634570 12 0 0 0 4.4.1 u@a.test - - -\n"
	    "end\n";
	struct envelope env;
	struct qmeta m;
	char err[256], *t;
	size_t l;

	envelope_init(&env);
	qmeta_init(&m);
	cr_assert_eq(queue_parse_env(v1, strlen(v1), &env, &m, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_null(m.prepend);
	t = queue_format_env(&env, &m, &l);
	cr_assert(strncmp(t, "mxsend-queue 2\n", 15) == 0);
	cr_assert_null(strstr(t, "owner"), "an owner field written");
	free(t);
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
		{ "mxsend-queue 2", "mxsend-queue 3" },
		{ "prepend Received", "prepend +20Received" },
		{ "prepend Received:+20by+20x+0D+0A", "prepend Received:+0A" },
		{ "+0D+0A+09for+20y+0D+0A", "+0D+0A+0D+0A" },
		{ "+0D+0A+09for+20y+0D+0A", "+0D+0A+09for+20y" },
		{ "+09for", "+01for" },
		{ "append -\n", "" },
		{ "id 6619E253F078505671", "id 6619E253" },
		{ "arrival 1764633970", "arrival -5" },
		{ "arrival 1764633970", "arrival 99999999999999999999999" },
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
		{ "append -\nrcpt deferred", "append -\nbogus\nrcpt deferred" },
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

/* dir as the queue directory of this user. */
static void
open_qdir(struct qdir *d)
{
	char err[512];
	int rfd;

	snprintf(err, sizeof(err), "%s/q", dir);
	(void)mkdir(err, 01733);
	rfd = open(err, O_RDONLY | O_DIRECTORY);
	cr_assert_neq(rfd, -1);
	cr_assert_eq(queue_dir_open(d, rfd, err, getuid(), 1, err,
	    sizeof(err)), 0, "%s", err);
	close(rfd);
}

static void
qpath(const struct qdir *d, const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%.600s/%.200s", d->path, name);
}

/* Intake of text (LF endings) into a spool of entry id in d. */
static void
spool_entry(struct qdir *d, const char *id, struct qentry *e,
    struct message *msg, const char *text)
{
	char err[256];
	int in = memfd_create("in", 0);

	cr_assert_eq(write(in, text, strlen(text)), (ssize_t)strlen(text));
	lseek(in, 0, SEEK_SET);
	cr_assert_eq(queue_spool(d, id, e, err, sizeof(err)), 0, "%s", err);
	msg_init(msg, e->msgfd);
	cr_assert_eq(intake_read(in, msg, 0, err, sizeof(err)), INTAKE_OK);
	close(in);
}

/* Everything msg_stream() writes, as a string. */
static int
collect(void *ctx, const char *p, size_t n)
{
	struct buf *b = ctx;

	buf_add(b, p, n);
	return 0;
}

static char *
streamed(const struct message *msg)
{
	struct buf b;

	buf_init(&b);
	buf_add(&b, "", 0);
	cr_assert_eq(msg_stream(msg, 0, collect, &b), 0);
	return buf_release(&b);
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
	m->q = calloc(2, sizeof(*m->q));
}

/* A whole entry of id in d, released: what a crash-free submission left. */
static void
make_entry(struct qdir *d, const char *id, const char *text)
{
	struct message msg;
	struct envelope env;
	struct qmeta m;
	struct qentry e;
	char err[256];

	spool_entry(d, id, &e, &msg, text);
	sample_envelope(&env, &m, id);
	cr_assert_eq(queue_create(&e, &env, &m, err, sizeof(err)), 0, "%s",
	    err);
	queue_release(&e);
	msg_free(&msg);
	qmeta_free(&m);
	envelope_free(&env);
}

Test(queue, create_commit_load_remove)
{
	struct message msg, got;
	struct envelope env, env2;
	struct qmeta m, m2;
	struct qentry e, e2;
	struct qdir d;
	char err[256], path[900], *before, *after;
	const char *id = "00112233445566778A";
	struct stat st;

	open_qdir(&d);
	spool_entry(&d, id, &e, &msg, "Subject: hi\nBcc: hidden@x.test\n\n"
	    ".dot\nbody\n");
	msg_drop(&msg, "Bcc");
	msg_prepend(&msg, "Received", "by test");
	msg_append(&msg, "Date", "Tue, 01 Dec 2026 22:26:10 +0000");
	sample_envelope(&env, &m, id);
	m.prepend = strdup(msg.prepend.data);
	m.append = strdup(msg.append.data);
	/* Not an entry before queue_create(): no name in the directory. */
	qpath(&d, "00112233445566778A.msg", path, sizeof(path));
	cr_assert_neq(stat(path, &st), 0, "the spool has a name already");
	cr_assert_eq(queue_create(&e, &env, &m, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "message readable by others");
	cr_assert_eq(st.st_nlink, 1);
	/* Intake's spool itself: the edits live in ID.env. */
	cr_assert_eq(st.st_size, msg.size);
	qpath(&d, "00112233445566778A.env", path, sizeof(path));
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);

	/* Held: a second delivery is kept out. */
	envelope_init(&env2);
	qmeta_init(&m2);
	msg_init(&got, -1);
	cr_assert_eq(queue_load(&d, id, &e2, &env2, &m2, &got, err,
	    sizeof(err)), QLOAD_BUSY);

	env.rcpts[0].state = RCPT_DELIVERED;
	env.rcpts[1].state = RCPT_DEFERRED;
	env.rcpts[1].reason = strdup("host z said: 451 later");
	m.q[1].attempts = 1;
	m.q[1].next = 2000;
	cr_assert_eq(queue_commit(&e, &env, &m, 1, err, sizeof(err)), 0,
	    "%s", err);
	before = streamed(&msg);
	queue_release(&e);

	cr_assert_eq(queue_load(&d, id, &e2, &env2, &m2, &got, err,
	    sizeof(err)), QLOAD_OK, "%s", err);
	cr_assert_eq(env2.nrcpts, 2);
	cr_assert_eq(env2.rcpts[0].state, RCPT_DELIVERED);
	cr_assert_eq(env2.rcpts[1].state, RCPT_DEFERRED);
	cr_assert_str_eq(env2.rcpts[1].reason, "host z said: 451 later");
	cr_assert_str_eq(env2.rcpts[1].orig, "b");
	cr_assert_eq(m2.q[1].next, 2000);
	/* The message as transmitted, byte for byte: edits, no Bcc. */
	after = streamed(&got);
	cr_assert_str_eq(after, before);
	cr_assert_null(strstr(after, "hidden@"), "Bcc transmitted");
	cr_assert_not_null(strstr(after, "Received: by test\r\n"));
	cr_assert_eq(got.fd, e2.msgfd, "the message was copied");
	free(before);
	free(after);
	cr_assert_eq(queue_remove(&e2, err, sizeof(err)), 0);
	queue_release(&e2);
	cr_assert_neq(stat(path, &st), 0, "env left behind");
	{
		size_t n;
		char **ids = queue_list(&d, &n);

		cr_assert_eq(n, 0);
		free(ids);
	}
	msg_free(&got);
	qmeta_free(&m2);
	envelope_free(&env2);
	msg_free(&msg);
	qmeta_free(&m);
	envelope_free(&env);
	queue_dir_close(&d);
}

Test(queue, discarded_spool_leaves_nothing)
{
	struct message msg;
	struct qentry e;
	struct qdir d;
	char **ids;
	size_t n;

	open_qdir(&d);
	spool_entry(&d, "00112233445566778B", &e, &msg, "Subject: x\n\nb\n");
	queue_discard(&e);
	queue_release(&e);
	msg_free(&msg);
	ids = queue_list(&d, &n);
	cr_assert_eq(n, 0);
	free(ids);
	cr_assert_eq(rmdir(d.path), 0, "files left in %s", d.path);
	queue_dir_close(&d);
}

/* Load id: the status, with err. */
static enum queue_load_status
load(struct qdir *d, const char *id, char *err, size_t errlen)
{
	struct envelope env;
	struct qmeta m;
	struct message got;
	struct qentry e;
	enum queue_load_status st;

	envelope_init(&env);
	qmeta_init(&m);
	msg_init(&got, -1);
	st = queue_load(d, id, &e, &env, &m, &got, err, errlen);
	if (st == QLOAD_OK) {
		msg_free(&got);
		queue_release(&e);
	}
	qmeta_free(&m);
	envelope_free(&env);
	return st;
}

static int
exists_in(const struct qdir *d, const char *name)
{
	char path[900];
	struct stat st;

	qpath(d, name, path, sizeof(path));
	return lstat(path, &st) == 0;
}

Test(queue, corrupt_entry_is_moved_aside)
{
	struct qdir d;
	char err[1024], path[900];
	const char *id = "00112233445566778B";
	FILE *f;

	open_qdir(&d);
	make_entry(&d, id, "Subject: x\n\nbody\n");
	qpath(&d, "00112233445566778B.env", path, sizeof(path));
	f = fopen(path, "w");
	fputs("mxsend-queue 1\nid 00112233445566778B\narriv", f);
	fclose(f);
	cr_assert_eq(load(&d, id, err, sizeof(err)), QLOAD_CORRUPT);
	cr_assert(strstr(err, "corrupt") != NULL, "%s", err);
	cr_assert(!exists_in(&d, "00112233445566778B.env"), "still queued");
	cr_assert(exists_in(&d, "00112233445566778B.env.corrupt"));
	cr_assert(exists_in(&d, "00112233445566778B.msg.corrupt"));
	queue_dir_close(&d);
}

/*
 * What a user can plant in their own directory for root's -q: each is
 * refused at once (never read, never waited on) and moved aside.
 */
Test(queue, planted_files_are_refused_without_blocking)
{
	static const char *const ids[] = { "00112233445566778C",
	    "00112233445566778D", "00112233445566778E", "00112233445566778F",
	    "001122334455667790", "001122334455667791" };
	struct qdir d;
	char err[1024], path[900], other[900];
	time_t t0;
	size_t i;
	int fd;

	open_qdir(&d);
	for (i = 0; i < 6; i++)
		make_entry(&d, ids[i], "Subject: x\n\nbody\n");
	/* A FIFO as the message, and as the envelope. */
	snprintf(other, sizeof(other), "%s.msg", ids[0]);
	qpath(&d, other, path, sizeof(path));
	unlink(path);
	cr_assert_eq(mkfifo(path, 0600), 0);
	snprintf(other, sizeof(other), "%s.env", ids[1]);
	qpath(&d, other, path, sizeof(path));
	unlink(path);
	cr_assert_eq(mkfifo(path, 0600), 0);
	/* A second link to the message (a file elsewhere). */
	snprintf(other, sizeof(other), "%s.msg", ids[2]);
	qpath(&d, other, path, sizeof(path));
	snprintf(other, sizeof(other), "%s/elsewhere", dir);
	cr_assert_eq(link(path, other), 0);
	/* A symbolic link as the message. */
	snprintf(other, sizeof(other), "%s.msg", ids[3]);
	qpath(&d, other, path, sizeof(path));
	unlink(path);
	cr_assert_eq(symlink("/etc/passwd", path), 0);
	/* A sparse message of 5 GiB. */
	snprintf(other, sizeof(other), "%s.msg", ids[4]);
	qpath(&d, other, path, sizeof(path));
	cr_assert_eq(truncate(path, 5LL << 30), 0);
	/* A directory as the envelope. */
	snprintf(other, sizeof(other), "%s.env", ids[5]);
	qpath(&d, other, path, sizeof(path));
	unlink(path);
	cr_assert_eq(mkdir(path, 0700), 0);

	t0 = time(NULL);
	for (i = 0; i < 6; i++) {
		cr_assert_eq(load(&d, ids[i], err, sizeof(err)), QLOAD_CORRUPT,
		    "%s: %s", ids[i], err);
		snprintf(other, sizeof(other), "%s.env", ids[i]);
		cr_assert(!exists_in(&d, other), "%s still queued", ids[i]);
	}
	cr_assert_leq(time(NULL) - t0, 2, "planted files took long");
	fd = open(path, O_RDONLY);	/* the env directory moved aside */
	cr_assert_eq(fd, -1);
	queue_dir_close(&d);
}

Test(queue, list_ignores_other_files)
{
	const char *names[] = { "00112233445566778C.env", "0011.env",
	    "00112233445566778D.env.tmp", "00112233445566778E.msg",
	    "zz112233445566778F.env", "00112233445566778A.env" };
	char path[900], **ids;
	struct qdir d;
	size_t i, n;
	FILE *f;

	open_qdir(&d);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		qpath(&d, names[i], path, sizeof(path));
		f = fopen(path, "w");
		fclose(f);
	}
	ids = queue_list(&d, &n);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ids[0], "00112233445566778A");
	cr_assert_str_eq(ids[1], "00112233445566778C");
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	queue_dir_close(&d);
}

Test(queue, user_dir_checks)
{
	struct qdir d;
	char err[512], root[300], path[600];
	struct stat st;
	int rfd;

	snprintf(root, sizeof(root), "%s/q", dir);
	mkdir(root, 0700);
	chmod(root, 01733);
	rfd = queue_root_open(root, getuid(), err, sizeof(err));
	cr_assert_neq(rfd, -1, "%s", err);
	cr_assert_eq(queue_dir_open(&d, rfd, root, getuid(), 1, err,
	    sizeof(err)), 0, "%s", err);
	queue_dir_close(&d);
	/* Opened up by its owner: made private again, not stranded. */
	snprintf(path, sizeof(path), "%s/%lu", root, (unsigned long)getuid());
	chmod(path, 0755);
	cr_assert_eq(queue_dir_open(&d, rfd, root, getuid(), 0, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
	queue_dir_close(&d);
	/* A symbolic link in its place is never followed. */
	cr_assert_eq(rename(path, "/tmp/.test_queue_moved") == 0 ? 0 : 0, 0);
	cr_assert_eq(symlink("/tmp/.test_queue_moved", path), 0);
	cr_assert_eq(queue_dir_open(&d, rfd, root, getuid(), 0, err,
	    sizeof(err)), -1, "a symbolic link was followed");
	unlink(path);
	rmdir("/tmp/.test_queue_moved");
	/* Someone else's number: not ours. */
	cr_assert_eq(queue_dir_open(&d, rfd, root, getuid() + 1, 1, err,
	    sizeof(err)), -1);
	close(rfd);
	/* Writable by others without the sticky bit: refused. */
	chmod(root, 0777);
	cr_assert_eq(queue_root_open(root, getuid(), err, sizeof(err)), -1);
	cr_assert(strstr(err, "sticky") != NULL, "%s", err);
}

/*
 * ID.env.tmp is written under the lock of ID.msg: with ID.msg gone or
 * unheld its writer died; with ID.msg held a write is in progress.
 */
Test(queue, clean_removes_only_stale_temporary_envelopes)
{
	const char *names[] = { "00112233445566778C.env.tmp",
	    "00112233445566778D.env.tmp", "00112233445566778E.env",
	    "00112233445566778D.msg", "00112233445566778F.env.tmp",
	    "00112233445566778F.msg" };
	char path[900];
	struct qdir d;
	size_t i;
	FILE *f;
	int fd;

	open_qdir(&d);
	for (i = 0; i < 6; i++) {
		qpath(&d, names[i], path, sizeof(path));
		f = fopen(path, "w");
		fclose(f);
	}
	qpath(&d, "00112233445566778D.msg", path, sizeof(path));
	fd = open(path, O_RDONLY);
	cr_assert_eq(flock(fd, LOCK_EX), 0);
	queue_clean(&d, time(NULL));
	cr_assert(!exists_in(&d, names[0]), ".env.tmp without ID.msg kept");
	cr_assert(exists_in(&d, names[1]), "a write in progress removed");
	cr_assert(exists_in(&d, names[2]), "an entry removed");
	cr_assert(!exists_in(&d, names[4]), ".env.tmp of an unheld ID.msg "
	    "kept");
	close(fd);
	queue_dir_close(&d);
}

/* A crash between link and ID.env, or ID.env and unlink: cleaned. */
Test(queue, clean_removes_unheld_orphan_messages_only)
{
	struct qdir d;
	FILE *f;
	char path[900];
	int fd;

	open_qdir(&d);
	qpath(&d, "00112233445566778A.msg", path, sizeof(path));
	f = fopen(path, "w");
	fputs("Subject: orphan\r\n\r\n", f);
	fclose(f);
	/* A live creator holds its message from before it has a name. */
	fd = open(path, O_RDONLY);
	cr_assert_eq(flock(fd, LOCK_EX), 0);
	queue_clean(&d, time(NULL));
	cr_assert(exists_in(&d, "00112233445566778A.msg"), "a held message "
	    "was removed");
	close(fd);
	queue_clean(&d, time(NULL));
	cr_assert(!exists_in(&d, "00112233445566778A.msg"), "orphan kept");
	queue_dir_close(&d);
}
