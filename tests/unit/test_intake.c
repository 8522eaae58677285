/*
 * test_intake.c: intake_read() normalisation and header indexing
 * (SPEC §2 lone dot, §3, §5.1-5.3). Inputs are fed through a
 * SOCK_SEQPACKET socket pair by a forked writer, so each read(2) of intake
 * gets exactly one written piece: chunk boundaries fall where a test puts
 * them.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "intake.h"
#include "message.h"

struct run {
	struct message	 msg;
	enum intake_status st;
	char		 err[256];
	char		*spool;
	size_t		 slen;
};

static int
spool_fd(void)
{
	int fd = memfd_create("spool", 0);

	cr_assert(fd >= 0, "memfd_create: %s", strerror(errno));
	return fd;
}

/*
 * A reader for data: piece 0 writes it all through a pipe, otherwise
 * in packets of piece octets (at most 64 KiB, intake's read size).
 */
static int
feeder(const char *data, size_t len, size_t piece, pid_t *pid)
{
	int sv[2];
	size_t off, n;

	if (piece == 0)
		cr_assert(pipe(sv) == 0);
	else
		cr_assert(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	cr_assert(piece <= 65536);
	if (piece == 0) {
		/* pipe(): sv[0] reads, sv[1] writes. */
	}
	*pid = fork();
	cr_assert(*pid >= 0);
	if (*pid == 0) {
		close(sv[0]);
		for (off = 0; off < len; off += n) {
			n = piece == 0 || len - off < piece ? len - off : piece;
			if (write_all(sv[1], data + off, n) != 0)
				_exit(1);
		}
		_exit(0);
	}
	close(sv[1]);
	return sv[0];
}

static char *
slurp(int fd, size_t *lenp)
{
	struct stat st;
	char *p;

	cr_assert(fstat(fd, &st) == 0);
	p = malloc((size_t)st.st_size + 1);
	cr_assert(p != NULL);
	cr_assert(pread(fd, p, (size_t)st.st_size, 0) == st.st_size);
	p[st.st_size] = '\0';
	*lenp = (size_t)st.st_size;
	return p;
}

static void
run_len(struct run *r, const char *in, size_t len, size_t piece,
    int ignore_dots)
{
	pid_t pid;
	int fd, status;

	memset(r, 0, sizeof(*r));
	msg_init(&r->msg, spool_fd());
	fd = feeder(in, len, piece, &pid);
	r->st = intake_read(fd, &r->msg, ignore_dots, r->err, sizeof(r->err));
	close(fd);
	cr_assert(waitpid(pid, &status, 0) == pid);
	r->spool = slurp(r->msg.fd, &r->slen);
	cr_assert_eq((off_t)r->slen, r->msg.size);
}

static void
run(struct run *r, const char *in, size_t piece, int ignore_dots)
{
	run_len(r, in, strlen(in), piece, ignore_dots);
}

static void
run_free(struct run *r)
{
	close(r->msg.fd);
	msg_free(&r->msg);
	free(r->spool);
}

static const size_t pieces[] = { 0, 1, 2, 3, 5, 7, 13, 64 };

/*
 * The spool must be exactly want, and the header index the same, however
 * the input is cut into reads.
 */
static void
expect(const char *in, int ignore_dots, const char *want)
{
	struct run r, r0;
	size_t i, k;

	run(&r0, in, 0, ignore_dots);
	cr_assert_eq(r0.st, INTAKE_OK, "%s", r0.err);
	cr_assert_str_eq(r0.spool, want);
	for (i = 1; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		run(&r, in, pieces[i], ignore_dots);
		cr_assert_eq(r.st, INTAKE_OK);
		cr_assert_str_eq(r.spool, want, "piece %zu", pieces[i]);
		cr_assert_eq(r.msg.nfields, r0.msg.nfields);
		cr_assert_eq(r.msg.hdr_end, r0.msg.hdr_end);
		cr_assert_eq(r.msg.body_off, r0.msg.body_off);
		cr_assert_eq(r.msg.has_sep, r0.msg.has_sep);
		for (k = 0; k < r.msg.nfields; k++) {
			cr_assert_eq(r.msg.fields[k].off, r0.msg.fields[k].off);
			cr_assert_eq(r.msg.fields[k].len, r0.msg.fields[k].len);
		}
		run_free(&r);
	}
	run_free(&r0);
}

/* ------------------------------------------------------------ endings */

Test(intake, crlf_kept)
{
	expect("Subject: x\r\n\r\nbody\r\n", 0, "Subject: x\r\n\r\nbody\r\n");
}

Test(intake, bare_lf_becomes_crlf)
{
	expect("Subject: x\n\nline 1\nline 2\n", 0,
	    "Subject: x\r\n\r\nline 1\r\nline 2\r\n");
}

Test(intake, bare_cr_becomes_crlf)
{
	expect("Subject: x\r\rline 1\rline 2\r", 0,
	    "Subject: x\r\n\r\nline 1\r\nline 2\r\n");
}

Test(intake, mixed_endings)
{
	/* CR CR LF is a bare CR then a CRLF: two line ends. */
	expect("hello\r\r\nb\n\rc\r\n", 0, "hello\r\n\r\nb\r\n\r\nc\r\n");
}

Test(intake, smuggling_sequences_normalised)
{
	/* "\n.\r\n" and "\r\n.\r" cannot reach the spool unnormalised. */
	expect("S: x\n\nA\n..\r\nB\r\n..\rC\n", 1,
	    "S: x\r\n\r\nA\r\n..\r\nB\r\n..\r\nC\r\n");
}

Test(intake, cr_at_chunk_end_then_lf_is_one_crlf)
{
	struct run r;

	/* 2-octet reads: "a\r" | "\nb" | "\r" | "\nc" */
	run(&r, "a\r\nb\r\nc", 2, 0);
	cr_assert_str_eq(r.spool, "a\r\nb\r\nc\r\n");
	run_free(&r);
	/* 1-octet reads put every CR at a chunk end. */
	run(&r, "S: v\r\n\r\nx\r\n\r\ny\r\n", 1, 0);
	cr_assert_str_eq(r.spool, "S: v\r\n\r\nx\r\n\r\ny\r\n");
	run_free(&r);
}

Test(intake, final_line_without_newline)
{
	expect("Subject: x\n\nno newline", 0,
	    "Subject: x\r\n\r\nno newline\r\n");
	expect("Subject: x", 0, "Subject: x\r\n");
}

Test(intake, empty_input)
{
	struct run r;

	run(&r, "", 0, 0);
	cr_assert_eq(r.st, INTAKE_OK);
	cr_assert_eq(r.msg.size, 0);
	cr_assert_eq(r.msg.nfields, 0);
	cr_assert_eq(r.msg.has_sep, 0);
	run_free(&r);
}

/* ---------------------------------------------------------- lone dot */

Test(intake, lone_dot_variants_end_input)
{
	expect("S: x\n\nbody\n.\nafter\n", 0, "S: x\r\n\r\nbody\r\n");
	expect("S: x\n\nbody\r\n.\r\nafter\r\n", 0, "S: x\r\n\r\nbody\r\n");
	expect("S: x\n\nbody\r.\rafter\r", 0, "S: x\r\n\r\nbody\r\n");
	expect("S: x\n\nbody\n.", 0, "S: x\r\n\r\nbody\r\n");
	expect(".\nS: x\n", 0, "");
}

Test(intake, lone_dot_kept_with_ignore_dots)
{
	expect("S: x\n\nbody\n.\nafter\n", 1,
	    "S: x\r\n\r\nbody\r\n.\r\nafter\r\n");
	expect("S: x\n\nbody\r.\r", 1, "S: x\r\n\r\nbody\r\n.\r\n");
	expect("S: x\n\nbody\n.", 1, "S: x\r\n\r\nbody\r\n.\r\n");
}

Test(intake, other_dot_lines_kept_as_is)
{
	expect("S: x\n\n..x\n..\n. \n.x\nx.\n", 0,
	    "S: x\r\n\r\n..x\r\n..\r\n. \r\n.x\r\nx.\r\n");
}

Test(intake, lone_dot_ends_header_section)
{
	struct run r;

	run(&r, "To: a@b\nSubject: s\n.\nX: y\n", 0, 0);
	cr_assert_str_eq(r.spool, "To: a@b\r\nSubject: s\r\n");
	cr_assert_eq(r.msg.nfields, 2);
	cr_assert_eq(r.msg.hdr_end, r.msg.size);
	cr_assert_eq(r.msg.body_off, r.msg.size);
	cr_assert_eq(r.msg.has_sep, 0);
	run_free(&r);
}

Test(intake, lone_dot_returns_without_waiting_for_eof)
{
	static const char in[] = "Subject: x\n\nbody\n.\n";
	struct message msg;
	struct timespec t0, t1;
	char err[256];
	int sv[2];
	pid_t pid;

	cr_assert(pipe(sv) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		(void)write_all(sv[1], in, sizeof(in) - 1);
		sleep(10);	/* the caller keeps its end open */
		_exit(0);
	}
	close(sv[1]);
	msg_init(&msg, spool_fd());
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(intake_read(sv[0], &msg, 0, err, sizeof(err)),
	    INTAKE_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 5);
	cr_assert_eq(msg.size, 20);
	close(sv[0]);
	close(msg.fd);
	msg_free(&msg);
}

Test(intake, dot_from_broken_long_line_is_not_lone)
{
	char in[1100], want[1100];

	memset(in, 'x', 998);
	strcpy(in + 998, ".\nmore\n");
	memset(want, 'x', 998);
	strcpy(want + 998, "\r\n.\r\nmore\r\n");
	expect(in, 0, want);
}

/* ------------------------------------------------------------ From_ */

Test(intake, mbox_from_line_dropped)
{
	struct run r;

	run(&r, "From alice@example.com Tue Dec  1 22:26:10 2026\n"
	    "Subject: hi\n\nFrom me\n", 1, 0);
	cr_assert_str_eq(r.spool, "Subject: hi\r\n\r\nFrom me\r\n");
	cr_assert_eq(r.msg.nfields, 1);
	cr_assert_eq(r.msg.fields[0].off, 0);
	cr_assert_eq(r.msg.has_sep, 1);
	run_free(&r);
}

Test(intake, only_exact_first_from_line_dropped)
{
	expect("From a\nFrom b\n", 0, "From b\r\n");
	expect(">From a\n", 0, ">From a\r\n");
	expect("from a\n", 0, "from a\r\n");
	expect("Fromage\n", 0, "Fromage\r\n");
	expect("From\n", 0, "From\r\n");
	expect("From: a@b\n\nx\n", 0, "From: a@b\r\n\r\nx\r\n");
	expect("From x", 0, "");
}

Test(intake, long_from_line_dropped_whole)
{
	char *in = malloc(3100);

	strcpy(in, "From ");
	memset(in + 5, 'q', 3000);
	strcpy(in + 3005, "\nS: v\n");
	expect(in, 0, "S: v\r\n");
	free(in);
}

/* ------------------------------------------------------- long lines */

static void
assert_lines_within(const char *s, size_t len, size_t max)
{
	size_t i, ll = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r') {
			cr_assert(i + 1 < len && s[i + 1] == '\n');
			cr_assert_leq(ll, max, "line of %zu octets", ll);
			ll = 0;
			i++;
			continue;
		}
		cr_assert_neq(s[i], '\n', "bare LF at %zu", i);
		ll++;
	}
	cr_assert_eq(ll, 0);
}

Test(intake, long_header_folded_at_last_wsp)
{
	struct buf in, want;
	struct run r;
	size_t i;

	buf_init(&in);
	buf_init(&want);
	buf_adds(&in, "Subject:");
	for (i = 0; i < 150; i++)	/* 150 * 10 octets, spaces every 10 */
		buf_adds(&in, " 123456789");
	buf_adds(&in, "\n\nbody\n");
	/* 998 = "Subject:" (8) + 99 words (990); the 100th space starts
	 * the continuation. */
	buf_add(&want, in.data, 998);
	buf_adds(&want, "\r\n");
	buf_add(&want, in.data + 998, in.len - 998 - 7);
	buf_adds(&want, "\r\n\r\nbody\r\n");
	expect(in.data, 0, want.data);
	run(&r, in.data, 1, 0);
	cr_assert_eq(r.msg.nfolded, 1);
	cr_assert_eq(r.msg.nbroken, 0);
	cr_assert_eq(r.msg.nfields, 1);
	cr_assert_eq(r.msg.has_sep, 1);
	cr_assert_eq(r.msg.fields[0].len, want.len - 8);
	/* The kept value unfolds to the original. */
	cr_assert_eq(strlen(r.msg.fields[0].value), 1502);
	cr_assert_eq(memcmp(r.msg.fields[0].value, in.data + 8, 990), 0);
	cr_assert_eq(memcmp(r.msg.fields[0].value + 990, "\r\n", 2), 0);
	assert_lines_within(r.spool, r.slen, 998);
	run_free(&r);
	buf_free(&in);
	buf_free(&want);
}

Test(intake, long_header_folded_at_inner_wsp)
{
	struct buf in, want;

	buf_init(&in);
	buf_init(&want);
	buf_adds(&in, "Subject: ");
	while (in.len < 509)
		buf_addc(&in, 'w');
	buf_addc(&in, ' ');
	while (in.len < 1110)
		buf_addc(&in, 'v');
	buf_add(&want, in.data, 509);
	buf_adds(&want, "\r\n");
	buf_add(&want, in.data + 509, 1110 - 509);
	buf_adds(&want, "\r\n");
	buf_adds(&in, "\n");
	expect(in.data, 0, want.data);
	buf_free(&in);
	buf_free(&want);
}

Test(intake, long_header_without_wsp_hard_folded)
{
	struct buf in, want;
	struct run r;

	buf_init(&in);
	buf_init(&want);
	buf_adds(&in, "X-Long:");
	while (in.len < 7 + 2000)
		buf_addc(&in, 'a');
	buf_adds(&in, "\nTo: b@c\n");
	/* 998, CRLF SP + 997, CRLF SP + the last 12. */
	buf_add(&want, in.data, 998);
	buf_adds(&want, "\r\n ");
	buf_add(&want, in.data + 998, 997);
	buf_adds(&want, "\r\n ");
	buf_add(&want, in.data + 1995, 12);
	buf_adds(&want, "\r\nTo: b@c\r\n");
	expect(in.data, 0, want.data);
	run(&r, in.data, 0, 0);
	cr_assert_eq(r.msg.nfolded, 1);
	cr_assert_eq(r.msg.nfields, 2);
	cr_assert_str_eq(r.msg.fields[1].name, "To");
	cr_assert_str_eq(r.msg.fields[1].value, " b@c");
	run_free(&r);
	buf_free(&in);
	buf_free(&want);
}

Test(intake, long_header_wsp_only_after_colon)
{
	struct buf in, want;

	buf_init(&in);
	buf_init(&want);
	buf_adds(&in, "X-Long: ");
	while (in.len < 1200)
		buf_addc(&in, 'a');
	buf_adds(&in, "\n");
	/* The one fold point is the space after the colon. */
	buf_adds(&want, "X-Long:\r\n ");
	buf_add(&want, in.data + 8, 997);
	buf_adds(&want, "\r\n ");
	buf_add(&want, in.data + 8 + 997, 1200 - 8 - 997);
	buf_adds(&want, "\r\n");
	expect(in.data, 0, want.data);
	buf_free(&in);
	buf_free(&want);
}

Test(intake, long_header_never_folded_before_colon)
{
	struct buf in, want;

	buf_init(&in);
	buf_init(&want);
	buf_adds(&in, "Subj :");
	while (in.len < 1100)
		buf_addc(&in, 'a');
	buf_add(&want, in.data, 998);
	buf_adds(&want, "\r\n ");
	buf_add(&want, in.data + 998, 1100 - 998);
	buf_adds(&want, "\r\n");
	buf_adds(&in, "\n");
	expect(in.data, 0, want.data);
	buf_free(&in);
	buf_free(&want);
}

Test(intake, long_continuation_line_folded)
{
	struct buf in;
	struct run r;

	buf_init(&in);
	buf_adds(&in, "To: a@b,\n");
	while (in.len < 9 + 2500)
		buf_adds(&in, "\tc@d,");
	buf_adds(&in, "\n\nbody\n");
	run(&r, in.data, 7, 0);
	cr_assert_eq(r.st, INTAKE_OK);
	cr_assert_eq(r.msg.nfields, 1);
	cr_assert_eq(r.msg.has_sep, 1);
	cr_assert_eq(r.msg.nfolded, 1);
	assert_lines_within(r.spool, r.slen, 998);
	/* Every continuation line starts with the tab that was there. */
	cr_assert_null(strstr(r.spool, "\r\n "));
	cr_assert_eq(r.msg.fields[0].len, (size_t)r.msg.hdr_end);
	run_free(&r);
	buf_free(&in);
}

Test(intake, header_line_of_998_not_folded)
{
	struct buf in, want;
	struct run r;

	buf_init(&in);
	buf_adds(&in, "X-A: ");
	while (in.len < 998)
		buf_addc(&in, 'z');
	buf_init(&want);
	buf_add(&want, in.data, in.len);
	buf_adds(&want, "\r\n");
	buf_adds(&in, "\n");
	expect(in.data, 0, want.data);
	run(&r, in.data, 0, 0);
	cr_assert_eq(r.msg.nfolded, 0);
	run_free(&r);
	buf_free(&in);
	buf_free(&want);
}

Test(intake, long_body_line_broken)
{
	char *in = malloc(3000), *want = malloc(3100);
	struct run r;

	strcpy(in, "S: x\n\n");
	memset(in + 6, 'b', 2500);
	strcpy(in + 2506, "\nend\n");
	strcpy(want, "S: x\r\n\r\n");
	memset(want + 8, 'b', 998);
	memcpy(want + 1006, "\r\n", 2);
	memset(want + 1008, 'b', 998);
	memcpy(want + 2006, "\r\n", 2);
	memset(want + 2008, 'b', 504);
	strcpy(want + 2512, "\r\nend\r\n");
	expect(in, 0, want);
	run(&r, in, 0, 0);
	cr_assert_eq(r.msg.nbroken, 1);
	cr_assert_eq(r.msg.nfolded, 0);
	run_free(&r);
	free(in);
	free(want);
}

Test(intake, body_line_998_kept_999_broken)
{
	char in[1100], want[1100];
	struct run r;

	memset(in, 'y', 998);
	strcpy(in + 998, "\n");
	memset(want, 'y', 998);
	strcpy(want + 998, "\r\n");
	expect(in, 0, want);
	memset(in, 'y', 999);
	strcpy(in + 999, "\n");
	strcpy(want + 998, "\r\ny\r\n");
	expect(in, 0, want);
	run(&r, in, 0, 0);
	cr_assert_eq(r.msg.nbroken, 1);
	run_free(&r);
}

Test(intake, first_line_too_long_for_a_name_is_body)
{
	char *in = malloc(1200);
	struct run r;

	memset(in, 'N', 1100);
	strcpy(in + 1100, ": v\n");
	run(&r, in, 0, 0);
	cr_assert_eq(r.msg.nfields, 0);
	cr_assert_eq(r.msg.nbroken, 1);
	cr_assert_eq(r.msg.hdr_end, 0);
	run_free(&r);
	free(in);
}

/* ----------------------------------------------------- NUL and 8-bit */

Test(intake, nul_detected_and_everything_spooled)
{
	static const char in[] = "S: x\n\nbo\0dy\nmore\n.\nafter\n";
	struct run r;
	size_t i;

	for (i = 0; i < 3; i++) {
		run_len(&r, in, sizeof(in) - 1, i == 0 ? 0 : i * 3 - 2, 0);
		cr_assert_eq(r.st, INTAKE_NUL);
		cr_assert(r.msg.has_nul);
		cr_assert_str_eq(r.err,
		    "message contains a NUL byte at offset 8");
		cr_assert_eq(r.slen, 21);
		cr_assert_eq(memcmp(r.spool,
		    "S: x\r\n\r\nbo\0dy\r\nmore\r\n", 21), 0);
		run_free(&r);
	}
}

Test(intake, nul_in_header_and_long_input_still_read)
{
	struct buf in;
	struct run r;
	size_t i;

	buf_init(&in);
	buf_add(&in, "X-N: a\0b\n\n", 10);
	for (i = 0; i < 20000; i++)
		buf_adds(&in, "a line of body text for the spool\n");
	run_len(&r, in.data, in.len, 0, 0);
	cr_assert_eq(r.st, INTAKE_NUL);
	cr_assert_str_eq(r.err, "message contains a NUL byte at offset 6");
	cr_assert_eq(r.slen, in.len + 20000 + 2);
	run_free(&r);
	buf_free(&in);
}

Test(intake, eightbit_flag)
{
	struct run r;

	run(&r, "Subject: plain\n\nascii only ~\n", 0, 0);
	cr_assert_eq(r.msg.eightbit, 0);
	run_free(&r);
	run(&r, "Subject: plain\n\nJ\xc3\xbcrgen\n", 0, 0);
	cr_assert_eq(r.msg.eightbit, 1);
	cr_assert_eq(r.st, INTAKE_OK);
	run_free(&r);
	/* An 8-bit From_ line is not part of the message. */
	run(&r, "From \xff x\nS: v\n", 0, 0);
	cr_assert_eq(r.msg.eightbit, 0);
	run_free(&r);
}

/* --------------------------------------------------- header section */

Test(intake, header_index_with_separator)
{
	struct run r;

	run(&r, "To: a@b\nSubject: hi\n\nbody\n", 0, 0);
	cr_assert_eq(r.msg.nfields, 2);
	cr_assert_str_eq(r.msg.fields[0].name, "To");
	cr_assert_eq(r.msg.fields[0].off, 0);
	cr_assert_eq(r.msg.fields[0].len, 9);
	cr_assert_str_eq(r.msg.fields[1].name, "Subject");
	cr_assert_eq(r.msg.fields[1].off, 9);
	cr_assert_eq(r.msg.fields[1].len, 13);
	cr_assert_eq(r.msg.hdr_end, 22);
	cr_assert_eq(r.msg.body_off, 24);
	cr_assert_eq(r.msg.has_sep, 1);
	run_free(&r);
}

Test(intake, header_ends_at_first_non_field_line)
{
	struct run r;

	run(&r, "A: 1\nB: 2\nthis is body\nC: 3\n", 0, 0);
	cr_assert_eq(r.msg.nfields, 2);
	cr_assert_eq(r.msg.has_sep, 0);
	cr_assert_eq(r.msg.hdr_end, 12);
	cr_assert_eq(r.msg.body_off, 12);
	cr_assert_str_eq(r.spool + r.msg.body_off, "this is body\r\nC: 3\r\n");
	run_free(&r);
}

Test(intake, body_only_input)
{
	struct run r;

	run(&r, "hello world\nTo: a@b\n\n", 0, 0);
	cr_assert_eq(r.st, INTAKE_OK);
	cr_assert_eq(r.msg.nfields, 0);
	cr_assert_eq(r.msg.hdr_end, 0);
	cr_assert_eq(r.msg.body_off, 0);
	cr_assert_eq(r.msg.has_sep, 0);
	run_free(&r);
	/* A first line that looks like a continuation is no field. */
	run(&r, " To: a@b\n", 0, 0);
	cr_assert_eq(r.msg.nfields, 0);
	cr_assert_eq(r.msg.body_off, 0);
	run_free(&r);
}

Test(intake, empty_first_line)
{
	struct run r;

	run(&r, "\nTo: a@b\n", 0, 0);
	cr_assert_eq(r.msg.nfields, 0);
	cr_assert_eq(r.msg.has_sep, 1);
	cr_assert_eq(r.msg.hdr_end, 0);
	cr_assert_eq(r.msg.body_off, 2);
	run_free(&r);
}

Test(intake, headers_only_input)
{
	struct run r;

	run(&r, "To: a@b\nSubject: s", 0, 0);
	cr_assert_eq(r.msg.nfields, 2);
	cr_assert_eq(r.msg.has_sep, 0);
	cr_assert_eq(r.msg.hdr_end, 21);
	cr_assert_eq(r.msg.body_off, 21);
	cr_assert_eq(r.msg.size, 21);
	cr_assert_eq(r.msg.fields[1].len, 12);
	cr_assert_str_eq(r.msg.fields[1].value, " s");
	run_free(&r);
}

Test(intake, folded_fields)
{
	struct run r;

	run(&r, "Subject: a\n b\n\tc\nTo: x@y,\n  z@w\n\nbody\n", 0, 0);
	cr_assert_eq(r.msg.nfields, 2);
	cr_assert_eq(r.msg.fields[0].len, 20);
	cr_assert_str_eq(r.msg.fields[0].value, " a\r\n b\r\n\tc");
	cr_assert_eq(r.msg.fields[1].off, 20);
	cr_assert_eq(r.msg.fields[1].len, 17);
	cr_assert_str_eq(r.msg.fields[1].value, " x@y,\r\n  z@w");
	cr_assert_eq(r.msg.hdr_end, 37);
	cr_assert_eq(r.msg.body_off, 39);
	run_free(&r);
}

Test(intake, field_name_rules)
{
	struct run r;

	run(&r, "X-Odd!#$%&'*+-/=?^_`{|}~: v\nSubject : s\nTo:x@y\n"
	    "Bad Name: v\nC: 3\n", 0, 0);
	cr_assert_eq(r.msg.nfields, 3);
	cr_assert_str_eq(r.msg.fields[0].name, "X-Odd!#$%&'*+-/=?^_`{|}~");
	cr_assert_null(r.msg.fields[0].value);
	cr_assert_str_eq(r.msg.fields[1].name, "Subject");
	cr_assert_str_eq(r.msg.fields[1].value, " s");
	cr_assert_str_eq(r.msg.fields[2].name, "To");
	cr_assert_str_eq(r.msg.fields[2].value, "x@y");
	cr_assert_eq(r.msg.has_sep, 0);
	cr_assert_str_eq(r.spool + r.msg.body_off, "Bad Name: v\r\nC: 3\r\n");
	run_free(&r);
	/* No name before the colon. */
	run(&r, ": v\n", 0, 0);
	cr_assert_eq(r.msg.nfields, 0);
	run_free(&r);
}

Test(intake, kept_values)
{
	static const char *const kept[] = {
		"To", "Cc", "Bcc", "From", "Sender", "Reply-To", "Date",
		"Message-ID", "Subject", "Return-Path", "Resent-To",
		"resent-from", "MESSAGE-id", "Resent-Bcc", NULL
	};
	static const char *const other[] = {
		"Received", "X-Mailer", "Content-Type", "Resent", NULL
	};
	struct buf in;
	struct run r;
	size_t i, n = 0;

	buf_init(&in);
	for (i = 0; kept[i] != NULL; i++)
		buf_printf(&in, "%s:  v%zu \n", kept[i], i);
	for (i = 0; other[i] != NULL; i++)
		buf_printf(&in, "%s: o%zu\n", other[i], i);
	buf_adds(&in, "\nbody\n");
	run(&r, in.data, 3, 0);
	for (i = 0; kept[i] != NULL; i++, n++) {
		char want[16];

		snprintf(want, sizeof(want), "  v%zu ", i);
		cr_assert_str_eq(r.msg.fields[n].name, kept[i]);
		cr_assert_not_null(r.msg.fields[n].value, "%s", kept[i]);
		cr_assert_str_eq(r.msg.fields[n].value, want);
	}
	for (i = 0; other[i] != NULL; i++, n++)
		cr_assert_null(r.msg.fields[n].value, "%s", other[i]);
	cr_assert_eq(r.msg.nfields, n);
	run_free(&r);
	buf_free(&in);
}

Test(intake, received_counted)
{
	struct buf in;
	struct run r;
	size_t i;

	buf_init(&in);
	for (i = 0; i < 51; i++)
		buf_printf(&in, "%s: from h%zu by x;\n\tTue, 1 Dec 2026\n",
		    i % 2 ? "Received" : "received", i);
	buf_adds(&in, "X-Received: no\nSubject: loop\n\nReceived: body\n");
	run(&r, in.data, 5, 0);
	cr_assert_eq(r.st, INTAKE_OK);
	cr_assert_eq(r.msg.nreceived, 51);
	cr_assert_eq(r.msg.nfields, 53);
	run_free(&r);
	buf_free(&in);
}

Test(intake, too_many_fields)
{
	struct buf in;
	struct run r;
	size_t i;

	buf_init(&in);
	for (i = 0; i < 10000; i++)
		buf_printf(&in, "X-F%zu: v\n", i);
	buf_adds(&in, "\nbody\n");
	run_len(&r, in.data, in.len, 0, 0);
	cr_assert_eq(r.st, INTAKE_OK, "%s", r.err);
	cr_assert_eq(r.msg.nfields, 10000);
	run_free(&r);

	buf_reset(&in);
	for (i = 0; i < 10001; i++)
		buf_printf(&in, "X-F%zu: v\n", i);
	buf_adds(&in, "\nbody\n");
	run_len(&r, in.data, in.len, 0, 0);
	cr_assert_eq(r.st, INTAKE_HEADER_TOO_BIG);
	cr_assert_str_eq(r.err, "more than 10000 header fields");
	cr_assert_eq(r.msg.nfields, 10000);
	cr_assert_eq(r.slen, in.len + 10001 + 2);
	cr_assert_eq(r.msg.has_sep, 1);
	run_free(&r);
	buf_free(&in);
}

Test(intake, kept_values_over_limit)
{
	struct buf in;
	struct run r;
	size_t line;

	buf_init(&in);
	buf_adds(&in, "To: a@b\nCc: x@y,\n");
	line = 0;
	while (in.len < INTAKE_HEADER_MAX + 1024 * 1024) {
		buf_printf(&in, " user%zu@example.com,\n", line);
		line++;
	}
	buf_adds(&in, " last@example.com\nX-A: b\n\nbody\n");
	run_len(&r, in.data, in.len, 0, 0);
	cr_assert_eq(r.st, INTAKE_HEADER_TOO_BIG);
	cr_assert(strstr(r.err, "too large") != NULL, "%s", r.err);
	cr_assert_eq(r.slen, in.len + line + 6);
	cr_assert_eq(r.msg.nfields, 3);
	cr_assert_str_eq(r.msg.fields[0].value, " a@b");
	cr_assert_null(r.msg.fields[1].value);
	cr_assert_str_eq(r.spool + r.msg.body_off, "body\r\n");
	run_free(&r);
	buf_free(&in);
}

/* ----------------------------------------------------------- errors */

Test(intake, read_error)
{
	struct message msg;
	char err[256];
	int dfd;

	dfd = open("/", O_RDONLY | O_DIRECTORY);
	cr_assert(dfd >= 0);
	msg_init(&msg, spool_fd());
	cr_assert_eq(intake_read(dfd, &msg, 0, err, sizeof(err)),
	    INTAKE_READ_ERROR);
	cr_assert_str_eq(err, "reading the message: Is a directory");
	close(dfd);
	close(msg.fd);
	msg_free(&msg);
}

Test(intake, write_error_enospc)
{
	struct message msg;
	char err[256];
	pid_t pid;
	int fd, full;

	full = open("/dev/full", O_RDWR);
	cr_assert(full >= 0);
	msg_init(&msg, full);
	fd = feeder("Subject: x\n\nbody\n", 17, 0, &pid);
	cr_assert_eq(intake_read(fd, &msg, 0, err, sizeof(err)),
	    INTAKE_WRITE_ERROR);
	cr_assert_str_eq(err, "writing the spool file: No space left on "
	    "device");
	waitpid(pid, NULL, 0);
	close(fd);
	close(full);
	msg_free(&msg);
}

Test(intake, write_error_on_unwritable_spool)
{
	struct message msg;
	char err[256], path[] = "/tmp/intake-ro-XXXXXX";
	pid_t pid;
	int fd, ro;

	ro = mkstemp(path);
	cr_assert(ro >= 0);
	close(ro);
	ro = open(path, O_RDONLY);
	unlink(path);
	msg_init(&msg, ro);
	fd = feeder("Subject: x\n\nbody\n", 17, 0, &pid);
	cr_assert_eq(intake_read(fd, &msg, 0, err, sizeof(err)),
	    INTAKE_WRITE_ERROR);
	cr_assert(strstr(err, "Bad file descriptor") != NULL, "%s", err);
	waitpid(pid, NULL, 0);
	close(fd);
	close(ro);
	msg_free(&msg);
}

/* --------------------------------------------------- chunk boundaries */

Test(intake, many_shapes_any_chunking)
{
	static const char *const inputs[] = {
		"From x y\r\nTo: a@b\r\n\r\nbody\r\n.\r\nafter",
		"To: a@b,\r\n c@d\r\nSubject: s\r\n\r\n\r\n\r\n",
		"To: a@b\r\rbody\r\r.\r",
		"\r\n\r\n\r\n",
		"\n\n\n",
		"\r\r\r",
		"x\r\n.\r\n",
		"Subject: \xe2\x82\xac\nX: y\n \n\nb\n",
		".x\n..\n...\n",
		"From \n",
		"From",
		"Fro",
		"To: a\n\tb\n c\nd\n",
		NULL
	};
	struct run r0, r;
	size_t i, j;

	for (i = 0; inputs[i] != NULL; i++) {
		run(&r0, inputs[i], 0, 0);
		for (j = 1; j < sizeof(pieces) / sizeof(pieces[0]); j++) {
			run(&r, inputs[i], pieces[j], 0);
			cr_assert_eq(r.slen, r0.slen, "input %zu", i);
			cr_assert_eq(memcmp(r.spool, r0.spool, r.slen), 0);
			cr_assert_eq(r.msg.nfields, r0.msg.nfields);
			cr_assert_eq(r.msg.body_off, r0.msg.body_off);
			cr_assert_eq(r.msg.hdr_end, r0.msg.hdr_end);
			assert_lines_within(r.spool, r.slen, 998);
			run_free(&r);
		}
		run_free(&r0);
	}
}

Test(intake, crlf_split_across_64k_reads)
{
	struct buf in;
	struct run r;

	char kline[100];
	size_t i, bare;

	memset(kline, 'k', sizeof(kline));
	/* A CR as the last octet of a 65535-octet read, its LF next. */
	buf_init(&in);
	buf_adds(&in, "S: v\n\n");
	while (in.len + 100 < 65534)
		buf_printf(&in, "%.99s\n", kline);
	while (in.len < 65534)
		buf_addc(&in, 'k');
	buf_adds(&in, "\r\nnext\r\n");
	cr_assert_eq(in.data[65534], '\r');
	run_len(&r, in.data, in.len, 65535, 0);
	cr_assert_eq(r.st, INTAKE_OK);
	cr_assert_str_eq(r.spool + r.slen - 9, "k\r\nnext\r\n");
	assert_lines_within(r.spool, r.slen, 998);
	for (i = 0, bare = 0; i < 65534; i++)
		bare += in.data[i] == '\n';
	cr_assert_eq(r.slen, in.len + bare);
	run_free(&r);
	buf_free(&in);
}

/* ------------------------------------------------------------ memory */

static int
count_writer(void *ctx, const char *p, size_t n)
{
	off_t *total = ctx;

	(void)p;
	*total += (off_t)n;
	return 0;
}

static long
maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* 200 MB: headers, then 100-octet lines with a 3000-octet one now and then. */
static void
generate(int fd)
{
	char *chunk = malloc(1 << 20);
	size_t n = 0, total = 0;
	long line = 0;

	n = (size_t)snprintf(chunk, 1 << 20,
	    "From: a@b\nTo: c@d\nSubject: big\n\n");
	while (total < 200UL * 1024 * 1024) {
		while (n < (1 << 20) - 4000) {
			size_t len = line % 1000 == 999 ? 3000 : 99;

			memset(chunk + n, 'a' + (char)(line % 26), len);
			n += len;
			chunk[n++] = '\n';
			line++;
		}
		if (write_all(fd, chunk, n) != 0)
			_exit(1);
		total += n;
		n = 0;
	}
	_exit(0);
}

Test(intake, memory_does_not_grow_with_size, .timeout = 120)
{
	pid_t child;
	int status;

	child = fork();
	cr_assert(child >= 0);
	if (child == 0) {
		struct message msg;
		char err[256], path[] = "/tmp/intake-mem-XXXXXX";
		long before, after;
		off_t total = 0;
		int p[2], sfd, cfd;
		pid_t gen;

		if (pipe(p) != 0 || (sfd = mkstemp(path)) < 0)
			_exit(2);
		unlink(path);
		if ((gen = fork()) == 0) {
			close(p[0]);
			generate(p[1]);
		}
		close(p[1]);
		/* Reset the peak so that only what follows counts. */
		if ((cfd = open("/proc/self/clear_refs", O_WRONLY)) >= 0) {
			(void)write(cfd, "5", 1);
			close(cfd);
		}
		before = maxrss_kb();
		msg_init(&msg, sfd);
		if (intake_read(p[0], &msg, 0, err, sizeof(err)) != INTAKE_OK)
			_exit(3);
		if (msg.size < 200L * 1024 * 1024 || msg.nbroken == 0)
			_exit(4);
		if (msg_stream(&msg, 0, count_writer, &total) != 0 ||
		    total != msg_stream_size(&msg, 0))
			_exit(5);
		after = maxrss_kb();
		waitpid(gen, NULL, 0);
		msg_free(&msg);
		close(sfd);
		_exit(after - before < 16 * 1024 ? 0 : 6);
	}
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child status %d",
	    WEXITSTATUS(status));
}
