/*
 * util.h: allocation that cannot fail (out of memory exits at once with
 * OOM_STATUS, the one exit() below main.c), a growable byte buffer, and
 * small string helpers shared by every module.
 */
#ifndef MXSEND_UTIL_H
#define MXSEND_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "compat.h"

/*
 * SPEC §3's status for an operating-system failure, as status.c's table
 * gives it for STOP_OSERR (test_status checks that they agree): util.c
 * cannot call exit_status(), every test program links it alone.
 */
#define OOM_STATUS	71

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
/*
 * Room for element n of an array of n elements of size bytes, for arrays
 * that only ever grow this way from NULL: they are sized in powers of
 * two, so appending stays linear.
 */
void	*xgrowarray(void *, size_t n, size_t size);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/* Growable buffer; data is always NUL-terminated (len excludes the NUL). */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

void	 buf_init(struct buf *);
void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_addc(struct buf *, int);
void	 buf_adds(struct buf *, const char *);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
char	*buf_release(struct buf *);	/* caller frees; buf is reset */

/* Milliseconds on the monotonic clock (time-outs and deadlines). */
int64_t	 mono_ms(void);

/* Free n strings and the array that holds them. */
void	 strv_free(char **, size_t n);

/* ASCII-only helpers (never locale dependent). */
int	 is_wsp(int);			/* RFC 5322 WSP: space or tab */
int	 hex_value(int);		/* 0-15 for a hex digit, else -1 */
int	 has_8bit(const char *, size_t);	/* any octet >= 0x80 */
int	 ascii_alnum(int);
int	 ascii_tolower(int);
int	 ascii_strcasecmp(const char *, const char *);
int	 ascii_strncasecmp(const char *, const char *, size_t);
void	 ascii_lower(char *);

/*
 * Read fd to its end into b (appended), at most max octets (more: EFBIG),
 * refusing a NUL octet when refuse_nul (EILSEQ: checked as each chunk
 * arrives, so a sparse file's hole stops the read at once). The chunk
 * buffer is wiped, and b sized once from fstat, so that no stray copy of
 * a secret stays behind. Returns 0, or -1 with errno.
 */
int	 read_all(int fd, size_t max, int refuse_nul, struct buf *b);

/*
 * An unnamed scratch file (O_TMPFILE, mode 0600): in the directory dirfd
 * when it is not -1, else in $TMPDIR, else in /tmp. Returns the
 * descriptor, or -1 with errno of the last attempt.
 */
int	 tmpfile_open(int dirfd);

/*
 * "mxsend: " and the formatted text as one line on stderr, in one write
 * (the lines of parallel workers and processes never interleave); a
 * failed write is ignored (SPEC §7: a closed stderr never stops a run).
 */
void	 say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A one-line error: the formatted text into err (unless err is NULL or
 * errlen 0), for the functions that return -1 with a reason. Returns -1.
 */
int	 errf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * Copy as much of src[0..n) as fits after dst[0..*len) in cap octets,
 * advancing *len; returns how much (a fixed output buffer's fill step).
 */
size_t	 fill_upto(char *dst, size_t *len, size_t cap, const char *src,
	    size_t n);

/* Write all of buf to fd, retrying on EINTR and short writes; -1 on error. */
int	 write_all(int, const void *, size_t);

/*
 * s is a host name (RFC 1123 §2.1 labels of letters, digits and hyphens,
 * at most 63 octets each and 253 in all; one final dot allowed); with
 * underscore, '_' is allowed in labels too (names seen in the wild).
 */
int	 valid_hostname(const char *s, int underscore);

/* Compare n bytes in time independent of where they differ (secrets). */
int	 ct_equal(const void *, const void *, size_t);

/* The value of a base64 alphabet character (RFC 4648 §4), or -1. */
int	 b64_char_value(int);

/*
 * Base64 (RFC 4648 §4, with padding). b64_encode returns a NUL-terminated
 * string (caller frees). b64_decode is strict: the length must be a
 * multiple of 4, only the alphabet and final padding ("=" or "==") are
 * allowed, no white space, and unused bits must be zero. It returns a
 * NUL-terminated buffer (caller frees) with its length in *outlen, or
 * NULL when the input is not valid base64.
 */
char		*b64_encode(const void *, size_t);
unsigned char	*b64_decode(const char *, size_t, size_t *outlen);

/*
 * A new queue id: 12 upper-case hex digits from the time in microseconds
 * and 5 from the process id, so ids sort by arrival and two processes
 * never make the same one ("19A3F0C2B4D1E0A3F1").
 */
#define QUEUE_ID_LEN	18
void	 queue_id_new(char out[QUEUE_ID_LEN + 1]);

/*
 * The home directory of uid, from the password database only (never
 * $HOME: PHP-FPM and systemd units run with env -i, and mailq must find
 * the queue their submissions used). Copies it to out; returns 0, or -1
 * when uid has no entry or no absolute home.
 */
int	 home_dir(uid_t, char *out, size_t outlen);

/*
 * The length of the well-formed UTF-8 sequence (RFC 3629 §4: no overlong
 * form, no surrogate, nothing past U+10FFFF) that starts p, avail octets
 * at most; 0 when there is none. An ASCII octet is a sequence of one.
 * Its code point goes to *cp unless cp is NULL.
 */
size_t	 utf8_seq(const unsigned char *p, size_t avail, uint32_t *cp);
int	 utf8_valid(const char *, size_t);

/*
 * Make len bytes of server text safe to show on a terminal or in a log
 * (SPEC §6, §10), in place: TAB becomes a space; other C0 controls, DEL,
 * C1 controls (U+0080..U+009F) and every byte of an invalid, overlong or
 * truncated UTF-8 sequence become '?'; valid UTF-8 is kept. A C1 control
 * becomes one '?', so the text can shrink: returns the new length, and
 * when it is shorter than len, s[new length] is '\0'.
 */
size_t	 text_printable(char *s, size_t len);

/* RFC 3461 §4 xtext of s (caller frees). */
char	*xtext_encode(const char *s);

#endif
