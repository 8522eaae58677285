/*
 * rows.h: a Criterion parameterized test over a static table of rows,
 * one test per row:
 *
 *	static const struct row rows[] = { ... };
 *
 *	ROW_PARAMETERS(suite, name, rows);
 *
 *	ParameterizedTest(const size_t *i, suite, name)
 *	{
 *		const struct row *r = &rows[*i];
 *		...
 *	}
 *
 * The parameters are the rows' indexes, not the rows: Criterion may run
 * each parameter in a new image of the program, where pointers into the
 * parent mean nothing, but an index names the same row in every image
 * (so rows may hold strings). A failing row names itself in its messages.
 */
#ifndef MXSEND_TEST_ROWS_H
#define MXSEND_TEST_ROWS_H

#include <stddef.h>
#include <stdio.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#define NROWS(table)	(sizeof(table) / sizeof((table)[0]))

static inline struct criterion_test_params
row_indexes(size_t *ix, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ix[i] = i;
	return cr_make_param_array(size_t, ix, n);
}

/*
 * Text of a row for a message: printable ASCII as it is, other octets as
 * \xNN. A static buffer, valid until the next call.
 */
static inline const char *
row_show(const char *s)
{
	static char out[1024];
	size_t len = 0;

	for (; *s != '\0' && len + 5 < sizeof(out); s++)
		if (*s >= 0x20 && *s < 0x7f)
			out[len++] = *s;
		else
			len += (size_t)snprintf(out + len, 5, "\\x%02x",
			    (unsigned char)*s);
	out[len] = '\0';
	return out;
}

/* A field a row names: an integer, or a string (want NULL: none). */
static inline void
row_check_num(const char *row, const char *field, long long got,
    long long want)
{
	cr_assert_eq(got, want, "%s: %s %lld, want %lld", row, field, got,
	    want);
}

static inline void
row_check_str(const char *row, const char *field, const char *got,
    const char *want)
{
	if (want == NULL) {
		cr_assert_null(got, "%s: %s '%s', want none", row, field, got);
		return;
	}
	cr_assert_not_null(got, "%s: no %s", row, field);
	cr_assert_str_eq(got, want, "%s: %s '%s', want '%s'", row, field,
	    row_show(got), want);
}

/*
 * With a row r that has an unsigned check (bits) and a want of the type
 * of obj: compare obj.field with r->want.field when check has flag.
 */
#define ROW_FIELD_NUM(label, r, obj, flag, field) do {			\
	if ((r)->check & (flag))					\
		row_check_num(label, #field, (obj).field, (r)->want.field); \
} while (0)

#define ROW_FIELD_STR(label, r, obj, flag, field) do {			\
	if ((r)->check & (flag))					\
		row_check_str(label, #field, (obj).field, (r)->want.field); \
} while (0)

#define ROW_PARAMETERS(suite, name, table)				\
ParameterizedTestParameters(suite, name)				\
{									\
	static size_t ix[NROWS(table)];					\
									\
	return row_indexes(ix, NROWS(table));				\
}									\
struct rows_##suite##_##name##_unused

/*
 * Copy the NULL-terminated argv into args (max entries, the last for
 * the NULL) and return argc: the copy outlives a compound literal, as a
 * program's argv outlives its option parsing, which points into it.
 */
static inline int
row_argv(char *args[], int max, char *const argv[])
{
	int argc = 0;

	while (argv[argc] != NULL) {
		cr_assert_lt(argc, max - 1);
		args[argc] = argv[argc];
		argc++;
	}
	args[argc] = NULL;
	return argc;
}

#endif
