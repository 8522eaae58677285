/*
 * test_util.c: text_printable() (util.c), the one filter that every piece
 * of server text passes before it reaches a terminal, a log or a bounce
 * (SPEC §6, §10): a hostile server must not be able to send terminal
 * escape sequences through us.
 */
#include "autoconf.h"

#include <string.h>

#include <criterion/criterion.h>

#include "util.h"

/* text_printable() over the first len bytes of in; the result as a string. */
static const char *
clean(const char *in, size_t len)
{
	static char s[256];
	size_t n;

	cr_assert(len < sizeof(s));
	memcpy(s, in, len);
	s[len] = '\0';
	n = text_printable(s, len);
	cr_assert(n <= len, "grew from %zu to %zu", len, n);
	cr_assert_eq(strlen(s), n, "length %zu, string \"%s\"", n, s);
	return s;
}

#define CLEAN(lit)	clean((lit), sizeof(lit) - 1)

Test(util, printable_ascii_is_kept)
{
	cr_assert_str_eq(CLEAN("550 5.1.1 <u@example.com> No such user ~"),
	    "550 5.1.1 <u@example.com> No such user ~");
}

Test(util, escape_sequences_lose_their_escape)
{
	/* SGR colour, OSC window title ended by BEL, and by ST (ESC \). */
	cr_assert_str_eq(CLEAN("\033[31mred\033[0m"), "?[31mred?[0m");
	cr_assert_str_eq(CLEAN("\033]0;title\007x"), "?]0;title?x");
	cr_assert_str_eq(CLEAN("\033]2;t\033\\"), "?]2;t?\\");
}

Test(util, tab_is_a_space_other_controls_are_marks)
{
	cr_assert_str_eq(CLEAN("a\tb"), "a b");
	cr_assert_str_eq(CLEAN("a\rb\nc\bd\x7f" "e\x1f"), "a?b?c?d?e?");
	cr_assert_str_eq(CLEAN("a\0b"), "a?b");
}

Test(util, csi_as_c1_character_and_as_raw_byte)
{
	/* U+009B, the one-character CSI, in UTF-8: one mark for it. */
	cr_assert_str_eq(CLEAN("\xc2\x9b" "31mred"), "?31mred");
	/* The same as a bare byte (what an 8-bit terminal obeys). */
	cr_assert_str_eq(CLEAN("\x9b" "31mred"), "?31mred");
	/* The ends of the C1 range, and the first character past it. */
	cr_assert_str_eq(CLEAN("\xc2\x80|\xc2\x9f|\xc2\xa0"),
	    "?|?|\xc2\xa0");
	cr_assert_str_eq(CLEAN("\x80\x9f"), "??");
}

Test(util, valid_utf8_is_kept)
{
	const char *s = "Gr\xc3\xbc\xc3\x9f" "e \xe2\x80\x94 "
	    "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";
	char copy[64];

	strlcpy(copy, s, sizeof(copy));
	cr_assert_str_eq(clean(copy, strlen(copy)), s);
}

Test(util, truncated_sequences_become_marks)
{
	cr_assert_str_eq(CLEAN("ab\xe2\x82"), "ab??");
	cr_assert_str_eq(CLEAN("\xe2\x82X"), "??X");
	cr_assert_str_eq(CLEAN("\xf0\x9f\x98"), "???");
	cr_assert_str_eq(CLEAN("\xc3"), "?");
	/* A lead byte cut short by another lead byte: that one is whole. */
	cr_assert_str_eq(CLEAN("\xe2\xc3\xbc"), "?\xc3\xbc");
}

Test(util, invalid_and_overlong_sequences_become_marks)
{
	cr_assert_str_eq(CLEAN("\xc0\xaf"), "??");		/* '/' */
	cr_assert_str_eq(CLEAN("\xc1\x9b"), "??");		/* ESC-ish */
	cr_assert_str_eq(CLEAN("\xe0\x80\xaf"), "???");
	cr_assert_str_eq(CLEAN("\xf0\x80\x80\xaf"), "????");
	cr_assert_str_eq(CLEAN("\xed\xa0\x80"), "???");	/* surrogate */
	cr_assert_str_eq(CLEAN("\xf4\x90\x80\x80"), "????");	/* > 10FFFF */
	cr_assert_str_eq(CLEAN("\xf8\x88\x80\x80\x80"), "?????");
	cr_assert_str_eq(CLEAN("\xfe\xff"), "??");
}

Test(util, empty_text)
{
	cr_assert_str_eq(clean("", 0), "");
}

/* errf(): the reason in err, cut to fit, and -1; no err, no write. */
Test(util, errf_formats_the_reason_and_returns_minus_one)
{
	char err[8];

	cr_assert_eq(errf(err, sizeof(err), "bad %s %d", "value", 42), -1);
	cr_assert_str_eq(err, "bad val");
	cr_assert_eq(errf(NULL, 0, "ignored %d", 1), -1);
	err[0] = 'x';
	cr_assert_eq(errf(err, 0, "ignored"), -1);
	cr_assert_eq(err[0], 'x');
}
