/*
 * fuzz_header.c: libFuzzer target for intake.c and message.c. The first
 * input octet picks the options (lone dot handling, the submission data),
 * the rest is the message. Whatever the input, what msg_stream() emits
 * must be wire-safe (SPEC §5.2-5.3: only CRLF line ends, no line over 998
 * octets) and exactly msg_stream_size() octets long. And what intake
 * wrote, intake_index() (a queue run) must read back as the same index
 * (SPEC §7: whatever intake accepted and queued, -q can deliver), while a
 * spool with a NUL is refused.
 */
/* fuzz-sources: src/intake.c src/message.c src/rfc5322.c src/util.c */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "intake.h"
#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct check {
	off_t	total;
	size_t	linelen;
	int	cr;
	int	nul;
};

static int
check_writer(void *ctx, const char *p, size_t n)
{
	struct check *c = ctx;
	size_t i;

	for (i = 0; i < n; i++) {
		if (c->cr) {
			if (p[i] != '\n')
				abort();	/* bare CR */
			c->cr = 0;
			c->linelen = 0;
			continue;
		}
		if (p[i] == '\n')
			abort();		/* bare LF */
		if (p[i] == '\r') {
			c->cr = 1;
			continue;
		}
		if (p[i] == '\0')
			c->nul = 1;
		if (++c->linelen > 998)
			abort();
	}
	c->total += (off_t)n;
	return 0;
}

static void
check_stream(const struct message *msg, int flags, int nul_ok)
{
	struct check c;

	memset(&c, 0, sizeof(c));
	if (msg_stream(msg, flags, check_writer, &c) != 0)
		abort();
	if (c.cr || c.linelen != 0 || c.total != msg_stream_size(msg, flags))
		abort();
	if (c.nul && !nul_ok)
		abort();
}

/* The spool re-indexed in place matches intake's own index. */
static void
check_index(const struct message *msg, enum intake_status st)
{
	struct message again;
	char err[256];
	enum intake_status ist;
	size_t i;

	msg_init(&again, msg->fd);
	ist = intake_index(&again, err, sizeof(err));
	if (st == INTAKE_NUL) {
		if (ist != INTAKE_CORRUPT)
			abort();
		msg_free(&again);
		return;
	}
	if (ist != INTAKE_OK || again.size != msg->size ||
	    again.hdr_end != msg->hdr_end || again.body_off != msg->body_off ||
	    again.has_sep != msg->has_sep || again.nfields != msg->nfields ||
	    again.nreceived != msg->nreceived ||
	    again.eightbit != msg->eightbit)
		abort();
	for (i = 0; i < msg->nfields; i++)
		if (again.fields[i].off != msg->fields[i].off ||
		    again.fields[i].len != msg->fields[i].len ||
		    strcmp(again.fields[i].name, msg->fields[i].name) != 0)
			abort();
	msg_free(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct message msg;
	struct msg_submit sub;
	enum intake_status st;
	char err[256];
	int in, spool, opt;

	if (size == 0)
		return 0;
	opt = data[0];
	if ((in = memfd_create("fuzz-in", MFD_CLOEXEC)) < 0)
		return 0;
	if ((spool = memfd_create("fuzz-spool", MFD_CLOEXEC)) < 0) {
		close(in);
		return 0;
	}
	if (write_all(in, data + 1, size - 1) != 0 ||
	    lseek(in, 0, SEEK_SET) != 0)
		abort();

	msg_init(&msg, spool);
	st = intake_read(in, &msg, opt & 1, err, sizeof(err));
	if (st == INTAKE_READ_ERROR || st == INTAKE_WRITE_ERROR)
		abort();
	if ((st == INTAKE_NUL) != (msg.has_nul != 0))
		abort();
	if (msg.hdr_end > msg.body_off || msg.body_off > msg.size ||
	    (msg.has_sep && msg.body_off != msg.hdr_end + 2))
		abort();
	if (st == INTAKE_OK || st == INTAKE_NUL)
		check_index(&msg, st);

	memset(&sub, 0, sizeof(sub));
	sub.sender = (opt & 2) ? "" : "fuzz@example.org";
	sub.fullname = (opt & 4) ? "Fuzz \"Q\" \\Name\r\nX: y" :
	    (opt & 8) ? "J\xc3\xbcrgen \xe2\x82\xac\xe2\x82\xac" : NULL;
	sub.queue_id = "19A3F0C2B4D1E0A3F1";
	sub.domain = "host.example.org";
	sub.login = "fuzz";
	sub.uid = 1000;
	sub.for_rcpt = (opt & 16) ? "rcpt@example.com" : NULL;
	sub.now = 1796163970;
	msg_complete(&msg, &sub);
	if (msg_has(&msg, "Bcc") && msg_drop(&msg, "bcc") == 0)
		abort();
	/* The streams below check the rewritten fields' sizes too. */
	if ((opt & 32) && msg_qualify(&msg, sub.domain) < 0)
		abort();

	check_stream(&msg, 0, st == INTAKE_NUL);
	check_stream(&msg, MSG_HEADERS_ONLY, st == INTAKE_NUL);

	msg_free(&msg);
	close(spool);
	close(in);
	return 0;
}
