/*
 * spooled.h: for unit tests, a message spooled from text exactly as
 * intake.c leaves it (CRLF line endings, the header index), in an unnamed
 * memory file; and its release. text may use LF or CRLF; ignore_dots is
 * -i (a lone "." kept).
 */
#ifndef MXSEND_TEST_SPOOLED_H
#define MXSEND_TEST_SPOOLED_H

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "intake.h"
#include "message.h"

static inline void
spooled(struct message *msg, const char *text, size_t len, int ignore_dots)
{
	char	 err[256];
	int	 ifd = memfd_create("in", 0);

	cr_assert(ifd >= 0, "memfd_create: %s", strerror(errno));
	cr_assert(write_all(ifd, text, len) == 0);
	cr_assert(lseek(ifd, 0, SEEK_SET) == 0);
	msg_init(msg, memfd_create("spool", 0));
	cr_assert(msg->fd >= 0);
	cr_assert_eq(intake_read(ifd, msg, ignore_dots, err, sizeof(err)),
	    INTAKE_OK, "%s", err);
	close(ifd);
}

static inline void
spooled_free(struct message *msg)
{
	close(msg->fd);
	msg_free(msg);
}

#endif
