/*
 * test_sasl.c: base64 and the SASL client mechanisms (sasl.c), with the
 * RFC 4648 §10, RFC 2195, RFC 7677 §3 and RFC 7628 §4 examples, and
 * Google's XOAUTH2 example.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "reply.h"
#include "sasl.h"

static struct sasl s;
static char err[256];

static void
setup(void)
{
	memset(&s, 0, sizeof(s));
	err[0] = '\0';
}

static void
teardown(void)
{
	sasl_end(&s);
}

TestSuite(b64);
TestSuite(sasl, .init = setup, .fini = teardown);

/* b64_encode of a string, compared and freed. */
static void
enc_is(const char *in, const char *want)
{
	char	*out = b64_encode(in, strlen(in));

	cr_assert_str_eq(out, want, "encode \"%s\"", in);
	free(out);
}

static void
dec_is(const char *in, const char *want)
{
	unsigned char	*out;
	size_t		 len;

	out = b64_decode(in, strlen(in), &len);
	cr_assert_not_null(out, "decode \"%s\"", in);
	cr_assert_eq(len, strlen(want), "decode \"%s\" length", in);
	cr_assert_eq(memcmp(out, want, len), 0, "decode \"%s\"", in);
	cr_assert_eq(out[len], '\0');
	free(out);
}

static void
dec_bad(const char *in)
{
	size_t	 len;

	cr_assert_null(b64_decode(in, strlen(in), &len), "accepted \"%s\"",
	    in);
}

/* A base64 response decoded must equal want (want_len bytes). */
static void
resp_is(const char *resp, const void *want, size_t want_len)
{
	unsigned char	*raw;
	size_t		 len;

	cr_assert_not_null(resp);
	raw = b64_decode(resp, strlen(resp), &len);
	cr_assert_not_null(raw, "response not base64: %s", resp);
	cr_assert_eq(len, want_len, "response length %zu, want %zu", len,
	    want_len);
	cr_assert_eq(memcmp(raw, want, len), 0, "response \"%s\"", raw);
	free(raw);
}

/* sasl_step with a plain-text challenge (encoded here). */
static int
step_text(const char *challenge, char **resp)
{
	char	*c = b64_encode(challenge, strlen(challenge));
	int	 rc;

	rc = sasl_step(&s, c, resp, err, sizeof(err));
	free(c);
	return rc;
}

Test(b64, rfc4648_vectors)
{
	enc_is("", "");
	enc_is("f", "Zg==");
	enc_is("fo", "Zm8=");
	enc_is("foo", "Zm9v");
	enc_is("foob", "Zm9vYg==");
	enc_is("fooba", "Zm9vYmE=");
	enc_is("foobar", "Zm9vYmFy");
	dec_is("", "");
	dec_is("Zg==", "f");
	dec_is("Zm8=", "fo");
	dec_is("Zm9v", "foo");
	dec_is("Zm9vYg==", "foob");
	dec_is("Zm9vYmE=", "fooba");
	dec_is("Zm9vYmFy", "foobar");
}

Test(b64, binary_round_trip)
{
	unsigned char	 in[256], *out;
	char		*e;
	size_t		 i, n, len;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(255 - i);
	for (n = 0; n <= sizeof(in); n += 37) {
		e = b64_encode(in, n);
		cr_assert_eq(strlen(e), (n + 2) / 3 * 4);
		out = b64_decode(e, strlen(e), &len);
		cr_assert_not_null(out);
		cr_assert_eq(len, n);
		cr_assert_eq(memcmp(in, out, n), 0);
		free(e);
		free(out);
	}
	out = b64_decode("+/+/", 4, &len);
	cr_assert_not_null(out);
	cr_assert_eq(len, 3);
	cr_assert_eq(out[0], 0xfb);
	cr_assert_eq(out[1], 0xff);
	cr_assert_eq(out[2], 0xbf);
	free(out);
}

Test(b64, strict_rejections)
{
	dec_bad("Zg=");		/* length not a multiple of 4 */
	dec_bad("Zg");
	dec_bad("Z");
	dec_bad("Zm9vY");
	dec_bad("Zm9v\n");	/* white space */
	dec_bad("Zm 9");
	dec_bad("Zm9v Zm9v");
	dec_bad("Zm-v");	/* URL alphabet is not ours */
	dec_bad("Zm_v");
	dec_bad("Zm9\x80");
	dec_bad("====");	/* padding only */
	dec_bad("Z===");
	dec_bad("=Zm9");	/* padding not at the end */
	dec_bad("Zg==Zm9v");
	dec_bad("Zm=v");
	dec_bad("Zh==");	/* non-zero bits under the padding */
	dec_bad("Zm9=");
}

Test(b64, embedded_nul_length)
{
	size_t	 len;
	unsigned char *out = b64_decode("AHVzZXIAcGFzcw==", 16, &len);

	cr_assert_not_null(out);
	cr_assert_eq(len, 10);
	cr_assert_eq(memcmp(out, "\0user\0pass", 10), 0);
	free(out);
}

Test(sasl, mech_names)
{
	cr_assert_str_eq(sasl_mech_name(SASL_SCRAM_SHA_256), "SCRAM-SHA-256");
	cr_assert_str_eq(sasl_mech_name(SASL_PLAIN), "PLAIN");
	cr_assert_str_eq(sasl_mech_name(SASL_LOGIN), "LOGIN");
	cr_assert_str_eq(sasl_mech_name(SASL_CRAM_MD5), "CRAM-MD5");
	cr_assert_str_eq(sasl_mech_name(SASL_XOAUTH2), "XOAUTH2");
	cr_assert_str_eq(sasl_mech_name(SASL_OAUTHBEARER), "OAUTHBEARER");
	cr_assert_null(sasl_mech_name(SASL_NONE));
}

Test(sasl, start_refusals)
{
	char	 big[SASL_PASS_MAX + 2];

	cr_assert_eq(sasl_start(&s, SASL_NONE, "u", "p", err, sizeof(err)),
	    -1);
	sasl_end(&s);
	cr_assert_eq(sasl_start(&s, SASL_PLAIN, NULL, "p", err, sizeof(err)),
	    -1);
	sasl_end(&s);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(sasl_start(&s, SASL_PLAIN, "u", big, err, sizeof(err)),
	    -1);
	cr_assert(strstr(err, "password too long") != NULL, "%s", err);
	cr_assert(strstr(err, "xxx") == NULL);
	sasl_end(&s);
	cr_assert_eq(sasl_start(&s, SASL_PLAIN, big, "p", err, sizeof(err)),
	    -1);
	cr_assert(strstr(err, "user name too long") != NULL, "%s", err);
}

Test(sasl, plain_initial)
{
	char	*r, *r2;

	cr_assert_eq(sasl_start(&s, SASL_PLAIN, "user", "pass", err,
	    sizeof(err)), 0);
	r = sasl_initial(&s);
	cr_assert_str_eq(r, "AHVzZXIAcGFzcw==");
	resp_is(r, "\0user\0pass", 10);
	sasl_free_response(r);
	/* Nothing more is expected after the initial response. */
	cr_assert_eq(sasl_step(&s, "", &r2, err, sizeof(err)), -1);
	cr_assert_null(r2);
	cr_assert_eq(sasl_server_verified(&s), 0);
}

Test(sasl, plain_without_initial)
{
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_PLAIN, "user", "pass", err,
	    sizeof(err)), 0);
	cr_assert_eq(sasl_step(&s, "", &r, err, sizeof(err)), 0);
	resp_is(r, "\0user\0pass", 10);
	sasl_free_response(r);
}

Test(sasl, plain_utf8_password_bytes)
{
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_PLAIN, "j\xc3\xb6rg", "p\xc3\xa4ss",
	    err, sizeof(err)), 0);
	r = sasl_initial(&s);
	resp_is(r, "\0j\xc3\xb6rg\0p\xc3\xa4ss", 12);
	sasl_free_response(r);
}

Test(sasl, login_two_steps)
{
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_LOGIN, "tim", "secret", err,
	    sizeof(err)), 0);
	cr_assert_null(sasl_initial(&s));
	cr_assert_eq(sasl_step(&s, "VXNlcm5hbWU6", &r, err, sizeof(err)), 0);
	resp_is(r, "tim", 3);
	sasl_free_response(r);
	cr_assert_eq(sasl_step(&s, "UGFzc3dvcmQ6", &r, err, sizeof(err)), 0);
	resp_is(r, "secret", 6);
	sasl_free_response(r);
	cr_assert_eq(sasl_step(&s, "UGFzc3dvcmQ6", &r, err, sizeof(err)),
	    -1);
	cr_assert(strstr(err, "LOGIN") != NULL, "%s", err);
	cr_assert(strstr(err, "secret") == NULL);
}

Test(sasl, login_bad_base64)
{
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_LOGIN, "tim", "secret", err,
	    sizeof(err)), 0);
	cr_assert_eq(sasl_step(&s, "VXNlcm5hbWU6!", &r, err, sizeof(err)),
	    -1);
	cr_assert_null(r);
	cr_assert(strstr(err, "base64") != NULL, "%s", err);
}

Test(sasl, cram_md5_rfc2195)
{
	const char	*want = "tim b913a602c7eda7a495b4e6e7334d3890";
	char		*r;

	cr_assert_eq(sasl_start(&s, SASL_CRAM_MD5, "tim", "tanstaaftanstaaf",
	    err, sizeof(err)), 0);
	cr_assert_null(sasl_initial(&s));
	cr_assert_eq(sasl_step(&s,
	    "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+", &r,
	    err, sizeof(err)), 0, "%s", err);
	resp_is(r, want, strlen(want));
	cr_assert_str_eq(r, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	sasl_free_response(r);
	cr_assert_eq(sasl_step(&s, "PGE+", &r, err, sizeof(err)), -1);
}

Test(sasl, cram_md5_empty_challenge)
{
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_CRAM_MD5, "tim", "x", err,
	    sizeof(err)), 0);
	cr_assert_eq(sasl_step(&s, "", &r, err, sizeof(err)), -1);
}

#define RFC7677_NONCE	"rOprNGfwEbeRWgbNEkqO"
#define RFC7677_SNONCE	RFC7677_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC7677_SFIRST	"r=" RFC7677_SNONCE \
			",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC7677_CFINAL	"c=biws,r=" RFC7677_SNONCE \
			",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC7677_SFINAL	"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* Start SCRAM as in RFC 7677 §3 and check the client-first message. */
static void
scram_begin(const char *user)
{
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_SCRAM_SHA_256, user, "pencil", err,
	    sizeof(err)), 0);
	cr_assert_eq(sasl_set_nonce_for_test(&s, RFC7677_NONCE), 0);
	r = sasl_initial(&s);
	if (strcmp(user, "user") == 0)
		resp_is(r, "n,,n=user,r=" RFC7677_NONCE,
		    strlen("n,,n=user,r=" RFC7677_NONCE));
	sasl_free_response(r);
}

Test(sasl, scram_rfc7677)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text(RFC7677_SFIRST, &r), 0, "%s", err);
	resp_is(r, RFC7677_CFINAL, strlen(RFC7677_CFINAL));
	sasl_free_response(r);
	cr_assert_eq(sasl_server_verified(&s), 0);
	cr_assert_eq(step_text(RFC7677_SFINAL, &r), 0, "%s", err);
	cr_assert_str_eq(r, "");
	sasl_free_response(r);
	cr_assert_eq(sasl_server_verified(&s), 1);
	/* Nothing after the server-final message. */
	cr_assert_eq(step_text(RFC7677_SFINAL, &r), -1);
}

Test(sasl, scram_client_first_without_initial)
{
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_SCRAM_SHA_256, "user", "pencil",
	    err, sizeof(err)), 0);
	cr_assert_eq(sasl_set_nonce_for_test(&s, RFC7677_NONCE), 0);
	cr_assert_eq(sasl_step(&s, "", &r, err, sizeof(err)), 0);
	resp_is(r, "n,,n=user,r=" RFC7677_NONCE,
	    strlen("n,,n=user,r=" RFC7677_NONCE));
	sasl_free_response(r);
	cr_assert_eq(step_text(RFC7677_SFIRST, &r), 0, "%s", err);
	resp_is(r, RFC7677_CFINAL, strlen(RFC7677_CFINAL));
	sasl_free_response(r);
}

Test(sasl, scram_random_nonce)
{
	char		*r;
	unsigned char	*raw;
	size_t		 len, nlen;
	struct sasl	 t;

	cr_assert_eq(sasl_start(&s, SASL_SCRAM_SHA_256, "user", "pencil",
	    err, sizeof(err)), 0);
	cr_assert_eq(sasl_start(&t, SASL_SCRAM_SHA_256, "user", "pencil",
	    err, sizeof(err)), 0);
	r = sasl_initial(&s);
	raw = b64_decode(r, strlen(r), &len);
	cr_assert_not_null(raw);
	cr_assert_eq(strncmp((char *)raw, "n,,n=user,r=", 12), 0);
	nlen = len - 12;
	cr_assert_geq(nlen, 24, "nonce of %zu characters", nlen);
	cr_assert_str_neq(s.nonce, t.nonce);
	free(raw);
	sasl_free_response(r);
	sasl_end(&t);
}

Test(sasl, scram_username_escaped)
{
	char	*r;
	const char *want = "n,,n=a=3Db=2Cc,r=" RFC7677_NONCE;

	cr_assert_eq(sasl_start(&s, SASL_SCRAM_SHA_256, "a=b,c", "pencil",
	    err, sizeof(err)), 0);
	cr_assert_eq(sasl_set_nonce_for_test(&s, RFC7677_NONCE), 0);
	r = sasl_initial(&s);
	resp_is(r, want, strlen(want));
	sasl_free_response(r);
}

Test(sasl, scram_wrong_server_signature)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text(RFC7677_SFIRST, &r), 0, "%s", err);
	sasl_free_response(r);
	cr_assert_eq(step_text(
	    "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &r), -1);
	cr_assert_null(r);
	cr_assert(strstr(err, "signature") != NULL, "%s", err);
	cr_assert_eq(sasl_server_verified(&s), 0);
}

Test(sasl, scram_short_or_bad_signature)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text(RFC7677_SFIRST, &r), 0, "%s", err);
	sasl_free_response(r);
	cr_assert_eq(step_text("v=6rriTRBi23WpRR", &r), -1);
	cr_assert_eq(sasl_server_verified(&s), 0);
}

Test(sasl, scram_final_not_a_verifier)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text(RFC7677_SFIRST, &r), 0, "%s", err);
	sasl_free_response(r);
	cr_assert_eq(step_text("x=1", &r), -1);
	cr_assert_eq(sasl_server_verified(&s), 0);
}

Test(sasl, scram_server_error_final)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text(RFC7677_SFIRST, &r), 0, "%s", err);
	sasl_free_response(r);
	cr_assert_eq(step_text("e=invalid-proof", &r), -1);
	cr_assert(strstr(err, "invalid-proof") != NULL, "%s", err);
	cr_assert_eq(sasl_server_verified(&s), 0);
}

Test(sasl, scram_server_error_first)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text("e=unknown-user\x01", &r), -1);
	cr_assert(strstr(err, "unknown-user?") != NULL, "%s", err);
}

Test(sasl, scram_nonce_not_ours)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text("r=XOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxF,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", &r), -1);
	cr_assert(strstr(err, "nonce") != NULL, "%s", err);
	cr_assert_null(r);
}

Test(sasl, scram_nonce_not_extended)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text("r=" RFC7677_NONCE
	    ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", &r), -1);
	cr_assert(strstr(err, "nonce") != NULL, "%s", err);
}

Test(sasl, scram_nonce_truncated)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text("r=rOprNG,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	    &r), -1);
}

Test(sasl, scram_iteration_zero)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text("r=" RFC7677_NONCE "abc"
	    ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", &r), -1);
	cr_assert(strstr(err, "iteration") != NULL, "%s", err);
}

Test(sasl, scram_iteration_too_many)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text("r=" RFC7677_NONCE "abc"
	    ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2000000", &r), -1);
	cr_assert(strstr(err, "iteration") != NULL, "%s", err);
}

Test(sasl, scram_iteration_garbage)
{
	static const char *bad[] = {
		"i=", "i=-1", "i=+5", "i=4096x", "i=99999999999999999999",
		"i=1000001", "i=04096"
	};
	char	*r, msg[256];
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sasl_end(&s);
		scram_begin("user");
		snprintf(msg, sizeof(msg), "r=" RFC7677_NONCE "abc,"
		    "s=W22ZaJ0SNY7soEsUEjb6gQ==,%s", bad[i]);
		cr_assert_eq(step_text(msg, &r), -1, "accepted %s", bad[i]);
	}
}

Test(sasl, scram_iteration_max_accepted_syntax)
{
	char	*r;

	/* 1 is the smallest count; extensions after i= are ignored. */
	scram_begin("user");
	cr_assert_eq(step_text("r=" RFC7677_NONCE "abc"
	    ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1,x=ext", &r), 0, "%s", err);
	sasl_free_response(r);
}

Test(sasl, scram_mandatory_extension)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text("m=foo,r=" RFC7677_NONCE "abc"
	    ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", &r), -1);
	cr_assert(strstr(err, "m=") != NULL, "%s", err);
}

Test(sasl, scram_malformed_first)
{
	static const char *bad[] = {
		"", "r=", "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" RFC7677_NONCE "a,i=1",
		"r=" RFC7677_NONCE "abc",
		"r=" RFC7677_NONCE "abc,s=W22ZaJ0SNY7soEsUEjb6gQ==",
		"r=" RFC7677_NONCE "abc,i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==",
		"r=" RFC7677_NONCE "abc,s=,i=4096",
		"r=" RFC7677_NONCE "abc,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
		"r=" RFC7677_NONCE "abc,s=!!!!,i=4096",
		"r=" RFC7677_NONCE "a c,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	};
	char	*r;
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sasl_end(&s);
		scram_begin("user");
		cr_assert_eq(step_text(bad[i], &r), -1, "accepted \"%s\"",
		    bad[i]);
		cr_assert_null(r);
	}
}

Test(sasl, scram_nul_in_challenge)
{
	char	*c, *r;
	char	 msg[] = "r=" RFC7677_NONCE "abc,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\0x";

	scram_begin("user");
	c = b64_encode(msg, sizeof(msg) - 1);
	cr_assert_eq(sasl_step(&s, c, &r, err, sizeof(err)), -1);
	free(c);
}

Test(sasl, scram_verified_needs_final)
{
	char	*r;

	/* A server that says 235 straight after client-final. */
	scram_begin("user");
	cr_assert_eq(step_text(RFC7677_SFIRST, &r), 0, "%s", err);
	sasl_free_response(r);
	cr_assert_eq(sasl_server_verified(&s), 0);
}

Test(sasl, set_nonce_validation)
{
	cr_assert_eq(sasl_start(&s, SASL_SCRAM_SHA_256, "u", "p", err,
	    sizeof(err)), 0);
	cr_assert_eq(sasl_set_nonce_for_test(&s, "a,b"), -1);
	cr_assert_eq(sasl_set_nonce_for_test(&s, ""), -1);
	cr_assert_eq(sasl_set_nonce_for_test(&s, "abc"), 0);
}

static int
all_zero(const void *p, size_t len)
{
	const unsigned char	*c = p;
	size_t			 i;

	for (i = 0; i < len; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

Test(sasl, end_wipes)
{
	char	*r;

	scram_begin("user");
	cr_assert_eq(step_text(RFC7677_SFIRST, &r), 0, "%s", err);
	sasl_free_response(r);
	cr_assert_str_eq(s.pass, "pencil");
	cr_assert(!all_zero(s.server_sig, sizeof(s.server_sig)));
	sasl_end(&s);
	cr_assert_null(s.pass);
	cr_assert(all_zero(s.server_sig, sizeof(s.server_sig)));
	cr_assert(all_zero(&s, sizeof(s)));
	cr_assert_null(s.client_first_bare);
}

Test(sasl, end_wipes_plain)
{
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_PLAIN, "user", "hunter2", err,
	    sizeof(err)), 0);
	r = sasl_initial(&s);
	sasl_free_response(r);
	sasl_end(&s);
	cr_assert(all_zero(&s, sizeof(s)));
	/* Ending twice is harmless. */
	sasl_end(&s);
}

Test(sasl, choose)
{
	enum auth_mech	 all[] = { AUTH_SCRAM_SHA_256, AUTH_PLAIN,
	    AUTH_LOGIN, AUTH_CRAM_MD5 };
	enum auth_mech	 rev[] = { AUTH_CRAM_MD5, AUTH_LOGIN, AUTH_PLAIN,
	    AUTH_SCRAM_SHA_256 };
	enum auth_mech	 plain[] = { AUTH_PLAIN };
	unsigned	 every = AUTHM_SCRAM_SHA_256 | AUTHM_PLAIN |
	    AUTHM_LOGIN | AUTHM_CRAM_MD5;

	cr_assert_eq(sasl_choose(every, all, 4, 1), SASL_SCRAM_SHA_256);
	cr_assert_eq(sasl_choose(every, rev, 4, 1), SASL_CRAM_MD5);
	cr_assert_eq(sasl_choose(AUTHM_PLAIN | AUTHM_LOGIN, all, 4, 1),
	    SASL_PLAIN);
	cr_assert_eq(sasl_choose(AUTHM_PLAIN | AUTHM_LOGIN, rev, 4, 1),
	    SASL_LOGIN);
	/* No clear-text passwords without TLS. */
	cr_assert_eq(sasl_choose(AUTHM_PLAIN | AUTHM_LOGIN, all, 4, 0),
	    SASL_NONE);
	cr_assert_eq(sasl_choose(AUTHM_PLAIN | AUTHM_CRAM_MD5, all, 4, 0),
	    SASL_CRAM_MD5);
	cr_assert_eq(sasl_choose(every, all, 4, 0), SASL_SCRAM_SHA_256);
	cr_assert_eq(sasl_choose(every, rev, 4, 0), SASL_CRAM_MD5);
	/* Only what is allowed, only what is offered. */
	cr_assert_eq(sasl_choose(AUTHM_SCRAM_SHA_256, plain, 1, 1),
	    SASL_NONE);
	cr_assert_eq(sasl_choose(every, plain, 1, 1), SASL_PLAIN);
	cr_assert_eq(sasl_choose(0, all, 4, 1), SASL_NONE);
	cr_assert_eq(sasl_choose(every, all, 0, 1), SASL_NONE);
	cr_assert_eq(sasl_choose(AUTHM_CRAM_MD5, all, 3, 1), SASL_NONE);
}

/* ------------------------------------------------------------ OAuth2 */

/* Google's documented XOAUTH2 initial client response. */
Test(sasl, xoauth2_google_example)
{
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_XOAUTH2, "someuser@example.com",
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", err,
	    sizeof(err)), 0, "%s", err);
	r = sasl_initial(&s);
	cr_assert_str_eq(r, "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJl"
	    "ciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cB"
	    "AQ==");
	sasl_free_response(r);
}

/* RFC 7628 §4.1's example initial client response (for IMAP: port 143). */
Test(sasl, oauthbearer_rfc7628_example)
{
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_OAUTHBEARER, "user@example.com",
	    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", err, sizeof(err)),
	    0, "%s", err);
	sasl_set_server(&s, "server.example.com", 143);
	r = sasl_initial(&s);
	cr_assert_str_eq(r, "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4"
	    "YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNS"
	    "bGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
	sasl_free_response(r);
}

/* The GS2 authzid is a saslname: '=' and ',' escaped (RFC 5801). */
Test(sasl, oauthbearer_escapes_the_user_and_omits_an_unknown_host)
{
	static const char want[] = "n,a=a=3Db=2Cc,\001auth=Bearer tok\001\001";
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_OAUTHBEARER, "a=b,c", "tok", err,
	    sizeof(err)), 0, "%s", err);
	r = sasl_initial(&s);
	resp_is(r, want, sizeof(want) - 1);
	sasl_free_response(r);
}

/*
 * A failed token: the server's 334 carries its JSON error; the client
 * answers so that the server can finish with 535 (RFC 7628 §3.2.3: a
 * single %x01; XOAUTH2 as Google documents it: an empty line). A second
 * challenge is a protocol error.
 */
Test(sasl, oauth_error_challenge_gets_the_closing_response)
{
	static const char json[] = "{\"status\":\"401\",\"schemes\":"
	    "\"bearer\",\"scope\":\"https://mail.google.com/\"}";
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_OAUTHBEARER, "u", "tok", err,
	    sizeof(err)), 0);
	sasl_free_response(sasl_initial(&s));
	cr_assert_eq(step_text(json, &r), 0, "%s", err);
	resp_is(r, "\001", 1);
	sasl_free_response(r);
	cr_assert_eq(step_text(json, &r), -1);
	cr_assert_null(r);
	cr_assert(strstr(err, "unexpected challenge") != NULL, "%s", err);
	sasl_end(&s);

	cr_assert_eq(sasl_start(&s, SASL_XOAUTH2, "u", "tok", err,
	    sizeof(err)), 0);
	sasl_free_response(sasl_initial(&s));
	cr_assert_eq(step_text(json, &r), 0, "%s", err);
	cr_assert_str_eq(r, "");
	sasl_free_response(r);
}

/* "AUTH XOAUTH2" alone: the server's empty 334 asks for the response. */
Test(sasl, oauth_without_initial_response)
{
	static const char want[] = "user=u\001auth=Bearer tok\001\001";
	char	*r;

	cr_assert_eq(sasl_start(&s, SASL_XOAUTH2, "u", "tok", err,
	    sizeof(err)), 0);
	cr_assert_eq(sasl_step(&s, "", &r, err, sizeof(err)), 0, "%s", err);
	resp_is(r, want, sizeof(want) - 1);
	sasl_free_response(r);
}

/* Tokens of 64 KiB work (Microsoft's run to several KB); more do not. */
Test(sasl, oauth_token_of_64_kib)
{
	size_t	 n = SASL_PASS_MAX, len;
	char	*tok = malloc(n + 2), *r;
	unsigned char *raw;

	cr_assert_not_null(tok);
	memset(tok, 'x', n);
	tok[n] = '\0';
	cr_assert_eq(sasl_start(&s, SASL_XOAUTH2, "u", tok, err,
	    sizeof(err)), 0, "%s", err);
	r = sasl_initial(&s);
	raw = b64_decode(r, strlen(r), &len);
	cr_assert_not_null(raw);
	cr_assert_eq(len, strlen("user=u\001auth=Bearer ") + n + 2);
	cr_assert_eq(memcmp(raw + len - 3, "x\001\001", 3), 0);
	free(raw);
	sasl_free_response(r);
	sasl_end(&s);
	tok[n] = 'x';
	tok[n + 1] = '\0';
	cr_assert_eq(sasl_start(&s, SASL_XOAUTH2, "u", tok, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "too long") != NULL, "%s", err);
	free(tok);
}

/* What would break the framing is refused, and the token never quoted. */
Test(sasl, oauth_refuses_what_cannot_be_framed)
{
	cr_assert_eq(sasl_start(&s, SASL_XOAUTH2, "u", "ab cd", err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "access token") != NULL, "%s", err);
	cr_assert(strstr(err, "ab cd") == NULL, "%s", err);
	sasl_end(&s);
	cr_assert_eq(sasl_start(&s, SASL_OAUTHBEARER, "u", "tok\001", err,
	    sizeof(err)), -1);
	sasl_end(&s);
	cr_assert_eq(sasl_start(&s, SASL_OAUTHBEARER, "u", "", err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "empty") != NULL, "%s", err);
	sasl_end(&s);
	cr_assert_eq(sasl_start(&s, SASL_XOAUTH2, "u\001auth=x", "tok", err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "user name") != NULL, "%s", err);
}

/* Bearer tokens, like clear-text passwords, only under TLS. */
Test(sasl, choose_oauth_only_when_listed_and_under_tls)
{
	enum auth_mech	 any[] = { AUTH_SCRAM_SHA_256, AUTH_PLAIN,
	    AUTH_LOGIN, AUTH_CRAM_MD5 };
	enum auth_mech	 oauth[] = { AUTH_XOAUTH2, AUTH_OAUTHBEARER };
	unsigned	 offered = AUTHM_XOAUTH2 | AUTHM_OAUTHBEARER |
	    AUTHM_PLAIN;

	cr_assert_eq(sasl_choose(offered, any, 4, 1), SASL_PLAIN);
	cr_assert_eq(sasl_choose(AUTHM_XOAUTH2 | AUTHM_OAUTHBEARER, any, 4,
	    1), SASL_NONE);
	cr_assert_eq(sasl_choose(offered, oauth, 2, 1), SASL_XOAUTH2);
	cr_assert_eq(sasl_choose(AUTHM_OAUTHBEARER, oauth, 2, 1),
	    SASL_OAUTHBEARER);
	cr_assert_eq(sasl_choose(offered, oauth, 2, 0), SASL_NONE);
}
