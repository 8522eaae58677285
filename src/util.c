/*
 * util.c: allocation wrappers, growable buffers, ASCII string helpers.
 * Out of memory is the one condition that exits below main.c:
 * nothing useful can be done without memory, and the message is either
 * still on stdin or already in the spool.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void
oom(void)
{
	static const char msg[] = "mxsend: out of memory\n";

	(void)write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(OOM_STATUS);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	void *q = reallocarray(p, n ? n : 1, size ? size : 1);

	if (q == NULL)
		oom();
	return q;
}

void *
xgrowarray(void *p, size_t n, size_t size)
{
	if ((n & (n - 1)) == 0)
		p = xreallocarray(p, n ? n * 2 : 1, size);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	int n;

	buf_init(&b);
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	b.data = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	(void)vsnprintf(b.data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return b.data;
}

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_grow(struct buf *b, size_t need)
{
	size_t cap;

	if (need < b->len || need == (size_t)-1)
		oom();
	if (need + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need + 1) {
		if (cap > ((size_t)-1) / 2)
			oom();
		cap *= 2;
	}
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, b->len + n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_addc(struct buf *b, int c)
{
	char ch = (char)c;

	buf_add(b, &ch, 1);
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	buf_grow(b, b->len + (size_t)n);
	va_start(ap, fmt);
	(void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *
buf_release(struct buf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = xstrdup("");
	buf_init(b);
	return p;
}

int
ascii_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

int
ascii_tolower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

int
ascii_strncasecmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; a++, b++, n--) {
		int ca = ascii_tolower((unsigned char)*a);
		int cb = ascii_tolower((unsigned char)*b);

		if (ca != cb)
			return ca - cb;
		if (ca == '\0')
			break;
	}
	return 0;
}

int
ascii_strcasecmp(const char *a, const char *b)
{
	return ascii_strncasecmp(a, b, (size_t)-1);
}

void
ascii_lower(char *s)
{
	for (; *s; s++)
		*s = (char)ascii_tolower((unsigned char)*s);
}

int
read_all(int fd, size_t max, int refuse_nul, struct buf *b)
{
	char		 chunk[65536];
	struct stat	 st;
	ssize_t		 n;
	size_t		 used = 0;	/* of chunk, to wipe */
	int		 saved = 0;

	if (fstat(fd, &st) != 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	/* Sized once, with room for the read that finds the end. */
	if (b->data == NULL && S_ISREG(st.st_mode) && st.st_size >= 0 &&
	    (unsigned long long)st.st_size <= max)
		buf_grow(b, (size_t)st.st_size + 1);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			break;
		}
		if ((size_t)n > used)
			used = (size_t)n;
		if ((size_t)n > max - b->len) {
			saved = EFBIG;
			break;
		}
		if (refuse_nul && memchr(chunk, '\0', (size_t)n) != NULL) {
			saved = EILSEQ;
			break;
		}
		buf_add(b, chunk, (size_t)n);
	}
	explicit_bzero(chunk, used);
	if (saved != 0) {
		errno = saved;
		return -1;
	}
	return 0;
}

int
tmpfile_open(int dirfd)
{
	const char	*t = getenv("TMPDIR");
	int		 fd = -1;

	if (dirfd != -1)
		fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1 && t != NULL && t[0] == '/')
		fd = open(t, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1)
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	return fd;
}

void
say(const char *fmt, ...)
{
	char	 line[2048];
	va_list	 ap;
	int	 n;

	memcpy(line, "mxsend: ", 8);
	va_start(ap, fmt);
	n = vsnprintf(line + 8, sizeof(line) - 9, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += 8;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)write_all(STDERR_FILENO, line, (size_t)n);
}

int
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

size_t
fill_upto(char *dst, size_t *len, size_t cap, const char *src, size_t n)
{
	size_t	 room = cap - *len;

	if (room > n)
		room = n;
	memcpy(dst + *len, src, room);
	*len += room;
	return room;
}

int
write_all(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int
valid_hostname(const char *s, int underscore)
{
	size_t len = strlen(s), label = 0;
	const char *p;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	for (p = s; p < s + len; p++) {
		int c = (unsigned char)*p;

		if (c == '.') {
			if (label == 0 || p[-1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!ascii_alnum(c) && c != '-' &&
		    !(underscore && c == '_'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return p[-1] != '-';
}

void
queue_id_new(char out[QUEUE_ID_LEN + 1])
{
	struct timeval tv;
	unsigned long long us;

	(void)gettimeofday(&tv, NULL);
	us = (unsigned long long)tv.tv_sec * 1000000ULL +
	    (unsigned long long)tv.tv_usec;
	snprintf(out, QUEUE_ID_LEN + 1, "%013llX%05lX",
	    us & 0xFFFFFFFFFFFFFULL, (unsigned long)getpid() & 0xFFFFFUL);
}

int
ct_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int
b64_char_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
b64_encode(const void *in, size_t len)
{
	const unsigned char	*p = in;
	char			*out, *o;
	size_t			 i;
	uint32_t		 bits;

	/* (len / 3 + 2) * 4 >= the output and its NUL; overflow is OOM. */
	out = o = xreallocarray(NULL, len / 3 + 2, 4);
	for (i = 0; i + 2 < len; i += 3) {
		bits = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		    p[i + 2];
		*o++ = b64_alphabet[bits >> 18 & 0x3f];
		*o++ = b64_alphabet[bits >> 12 & 0x3f];
		*o++ = b64_alphabet[bits >> 6 & 0x3f];
		*o++ = b64_alphabet[bits & 0x3f];
	}
	if (len - i == 1) {
		bits = (uint32_t)p[i] << 16;
		*o++ = b64_alphabet[bits >> 18 & 0x3f];
		*o++ = b64_alphabet[bits >> 12 & 0x3f];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		bits = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = b64_alphabet[bits >> 18 & 0x3f];
		*o++ = b64_alphabet[bits >> 12 & 0x3f];
		*o++ = b64_alphabet[bits >> 6 & 0x3f];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

unsigned char *
b64_decode(const char *in, size_t len, size_t *outlen)
{
	unsigned char	*out, *o;
	size_t		 i, pad = 0;
	int		 sextet[4] = { 0, 0, 0, 0 }, k;
	uint32_t	 bits;

	if (len % 4 != 0)
		return NULL;
	if (len > 0 && in[len - 1] == '=') {
		pad = 1;
		if (in[len - 2] == '=')
			pad = 2;
	}
	out = o = xmalloc(len / 4 * 3 + 1);
	for (i = 0; i < len; i += 4) {
		for (k = 0; k < 4; k++) {
			if (i + k >= len - pad)
				sextet[k] = 0;
			else {
				sextet[k] =
				    b64_char_value((unsigned char)in[i + k]);
				if (sextet[k] < 0)
					goto bad;
			}
		}
		bits = (uint32_t)sextet[0] << 18 | (uint32_t)sextet[1] << 12 |
		    (uint32_t)sextet[2] << 6 | (uint32_t)sextet[3];
		*o++ = bits >> 16 & 0xff;
		if (i + 4 < len || pad < 2)
			*o++ = bits >> 8 & 0xff;
		if (i + 4 < len || pad < 1)
			*o++ = bits & 0xff;
	}
	/* Canonical form only: the bits under the padding must be zero. */
	if (pad == 1 && (sextet[2] & 0x03) != 0)
		goto bad;
	if (pad == 2 && (sextet[1] & 0x0f) != 0)
		goto bad;
	*o = '\0';
	*outlen = o - out;
	return out;
bad:
	free(out);
	return NULL;
}

char *
xtext_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf	 b;
	unsigned char	 c;

	buf_init(&b);
	buf_add(&b, "", 0);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c < 33 || c > 126 || c == '+' || c == '=') {
			buf_addc(&b, '+');
			buf_addc(&b, hex[c >> 4]);
			buf_addc(&b, hex[c & 15]);
		} else
			buf_addc(&b, c);
	}
	return buf_release(&b);
}

int
home_dir(uid_t uid, char *out, size_t outlen)
{
	struct passwd	 pw, *res = NULL;
	char		 buf[4096];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 ||
	    res == NULL || pw.pw_dir == NULL || pw.pw_dir[0] != '/' ||
	    strlcpy(out, pw.pw_dir, outlen) >= outlen)
		return -1;
	return 0;
}

size_t
utf8_seq(const unsigned char *p, size_t avail, uint32_t *cp)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	uint32_t	 c;
	size_t		 n, i;

	if (avail == 0)
		return 0;
	if (p[0] < 0x80) {
		n = 1;
		c = p[0];
		goto done;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
		if (p[0] == 0xf0)
			lo = 0x90;	/* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;	/* past U+10FFFF */
	} else
		return 0;
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 1; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
done:
	if (cp != NULL)
		*cp = c;
	return n;
}

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t	 i, n;

	for (i = 0; i < len; i += n)
		if ((n = utf8_seq(p + i, len - i, NULL)) == 0)
			return 0;
	return 1;
}

int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
has_8bit(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

size_t
text_printable(char *s, size_t len)
{
	unsigned char	*p = (unsigned char *)s;
	size_t		 i = 0, o = 0, n;

	while (i < len) {
		if (p[i] == '\t') {
			p[o++] = ' ';
			i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			p[o++] = '?';
			i++;
		} else if (p[i] < 0x80) {
			p[o++] = p[i++];
		} else if ((n = utf8_seq(p + i, len - i, NULL)) == 0) {
			/*
			 * Each byte on its own: a lone 0x9b is CSI to a
			 * terminal in an 8-bit mode, and the bytes after a
			 * bad lead byte may start a good sequence.
			 */
			p[o++] = '?';
			i++;
		} else if (n == 2 && p[i] == 0xc2 && p[i + 1] <= 0x9f) {
			/* C1 controls (U+0080..U+009F): CSI, OSC, ... */
			p[o++] = '?';
			i += 2;
		} else {
			memmove(p + o, p + i, n);
			o += n;
			i += n;
		}
	}
	if (o < len)
		p[o] = '\0';
	return o;
}

int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
strv_free(char **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
