/*
 * test_dkim.c: DKIM (RFC 6376) as mxsend signs: relaxed canonicalization
 * of header fields (§3.4.2) and of the body (§3.4.4), streamed in any
 * pieces; h= and the order in which fields are signed (§5.4, §5.4.2);
 * what the signature covers on each route's variant (SPEC §5.4); the key
 * file's checks (dkimkey.c); the field as written. Independent verifiers
 * (dkimpy, OpenDKIM) check real signatures in tests/integration/test_dkim.
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
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"
#include "dkim.h"
#include "dkimkey.h"
#include "intake.h"
#include "message.h"
#include "rows.h"
#include "spooled.h"
#include "tls.h"

static char	 tmpdir[] = "/tmp/test_dkim.XXXXXX";

static void
setup(void)
{
	alarm(120);
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static void
teardown(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	(void)system(cmd);
}

TestSuite(dkim, .init = setup, .fini = teardown);

/* ------------------------------------------------- relaxed header */

struct hrow {
	const char	*name;
	const char	*in;
	const char	*out;
};

static const struct hrow hrows[] = {
	/* RFC 6376 §3.4.5's example, field by field. */
	{ "rfc6376_a", "A: X\r\n", "a:X" },
	{ "rfc6376_b", "B : Y\t\r\n\tZ  \r\n", "b:Y Z" },
	{ "runs_of_wsp", "Subject:   hello \t  world  \r\n",
	    "subject:hello world" },
	{ "folded_list", "To: a@x.example,\r\n b@y.example,\r\n\t c@z\r\n",
	    "to:a@x.example, b@y.example, c@z" },
	{ "trailing_wsp_on_folds", "Subject: one  \r\n  two \t\r\n",
	    "subject:one two" },
	{ "eight_bit_kept", "Subject: caf\xc3\xa9  \xe2\x82\xac\r\n",
	    "subject:caf\xc3\xa9 \xe2\x82\xac" },
	{ "empty_value", "X-Empty:\r\n", "x-empty:" },
	{ "blank_value", "X-Empty:  \t \r\n", "x-empty:" },
	{ "wsp_before_colon", "Subject \t:v\r\n", "subject:v" },
	{ "no_final_crlf", "MIME-Version: 1.0", "mime-version:1.0" },
	{ "case_of_value_kept", "FROM: Ann <ANN@Example.COM>\r\n",
	    "from:Ann <ANN@Example.COM>" },
};

ROW_PARAMETERS(dkim, header_canonicalization, hrows);

ParameterizedTest(const size_t *i, dkim, header_canonicalization)
{
	const struct hrow *r = &hrows[*i];
	struct buf	 b;

	buf_init(&b);
	dkim_canon_header(r->in, strlen(r->in), &b);
	cr_assert_str_eq(b.data, r->out, "%s", r->name);
	buf_free(&b);
}

/* --------------------------------------------------- relaxed body */

struct brow {
	const char	*name;
	const char	*in;
	const char	*out;
};

static const struct brow brows[] = {
	/* RFC 6376 §3.4.5. */
	{ "rfc6376", " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n" },
	/* Errata 1384: the relaxed empty body is the null input. */
	{ "empty", "", "" },
	{ "one_empty_line", "\r\n", "" },
	{ "blank_lines_only", "\r\n\r\n \r\n\t\r\n", "" },
	{ "no_final_crlf", "abc", "abc\r\n" },
	{ "no_final_crlf_after_wsp", "abc \t", "abc\r\n" },
	{ "trailing_blank_lines", "abc\r\n\r\n  \r\n\t\r\n",
	    "abc\r\n" },
	{ "inner_blank_lines_kept", "a\r\n\r\n \r\nb\r\n",
	    "a\r\n\r\n\r\nb\r\n" },
	{ "runs_of_wsp", "a  \t b \r\n", "a b\r\n" },
	{ "leading_wsp_is_one_sp", "\t lead\r\n", " lead\r\n" },
	{ "eight_bit", "\xc3\xa9t\xc3\xa9 \r\n", "\xc3\xa9t\xc3\xa9\r\n" },
	{ "bare_cr_is_text", "a\rb\r\n", "a\rb\r\n" },
	{ "dot_lines_as_they_are", ".\r\n..x\r\n", ".\r\n..x\r\n" },
};

ROW_PARAMETERS(dkim, body_canonicalization, brows);

static void
sink_buf(void *ctx, const char *p, size_t n)
{
	buf_add(ctx, p, n);
}

/* The body in pieces of at most step octets. */
static char *
canon_body(const char *in, size_t step)
{
	struct dkim_body b;
	struct buf	 out;
	size_t		 n = strlen(in), k;

	buf_init(&out);
	dkim_body_init(&b, sink_buf, &out);
	for (; n > 0; in += k, n -= k) {
		k = n < step ? n : step;
		dkim_body_add(&b, in, k);
	}
	dkim_body_end(&b);
	return buf_release(&out);
}

ParameterizedTest(const size_t *i, dkim, body_canonicalization)
{
	const struct brow *r = &brows[*i];
	size_t		 step;
	char		*out;

	/* Whole, and in every piece size: the state crosses pieces. */
	for (step = 1; step <= strlen(r->in) + 1; step++) {
		out = canon_body(r->in, step);
		cr_assert_str_eq(out, r->out, "%s, pieces of %zu", r->name,
		    step);
		free(out);
	}
}

/* A body far larger than the output buffer, with a blank tail. */
Test(dkim, long_body_streams)
{
	struct buf	 in;
	char		*out;
	size_t		 i;

	buf_init(&in);
	for (i = 0; i < 20000; i++)
		buf_adds(&in, "line  of   text\t \r\n");
	for (i = 0; i < 5000; i++)
		buf_adds(&in, " \r\n");
	out = canon_body(in.data, 65536);
	cr_assert_eq(strlen(out), 20000 * strlen("line of text\r\n"));
	cr_assert_eq(strncmp(out, "line of text\r\nline of text\r\n", 28), 0);
	free(out);
	buf_free(&in);
}

/* The empty body's relaxed hash (RFC 6376 errata 1384). */
Test(dkim, empty_body_hash)
{
	unsigned char	 d[32];
	char		*canon, *b64;

	canon = canon_body("\r\n\r\n", 1);
	cr_assert_eq(tls_sha256(canon, strlen(canon), d), 0);
	b64 = b64_encode(d, sizeof(d));
	cr_assert_str_eq(b64, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	free(b64);
	free(canon);
}

/* --------------------------------------------------------------- h= */

struct hlrow {
	const char	*name;
	const char	*list;		/* dkim_headers */
	const char	*present;	/* "from=1 to=3" */
	const char	*h;
};

static const struct hlrow hlrows[] = {
	{ "default_list", CONFIG_DKIM_HEADERS, "from=1 subject=1 to=1",
	    CONFIG_DKIM_HEADERS },
	{ "every_instance_signed", "from:to", "from=1 to=3",
	    "from:to:to:to" },
	{ "oversigned_beyond_present", "from:from", "from=2",
	    "from:from:from" },
	{ "duplicates_gathered", "from:to:from", "from=1 to=1",
	    "from:from:to" },
	{ "absent_signed_as_absent", "from:reply-to", "from=1",
	    "from:reply-to" },
};

ROW_PARAMETERS(dkim, h_list, hlrows);

static size_t
present_count(void *ctx, const char *name)
{
	const char	*p = strstr(ctx, name);
	size_t		 n = strlen(name);

	return p != NULL && p[n] == '=' ? (size_t)atoi(p + n + 1) : 0;
}

ParameterizedTest(const size_t *i, dkim, h_list)
{
	const struct hlrow *r = &hlrows[*i];
	struct config	 cfg;
	struct buf	 h;
	char		 err[256];

	config_init(&cfg);
	cr_assert_eq(config_set(&cfg, "dkim_headers", r->list, "test", err,
	    sizeof(err)), 0, "%s", err);
	buf_init(&h);
	dkim_h_list(cfg.dkim_headers, cfg.ndkim_headers, present_count,
	    (void *)r->present, &h);
	cr_assert_str_eq(h.data, r->h, "%s", r->name);
	buf_free(&h);
	config_free(&cfg);
}

/* ---------------------------------------- what each variant signs */

/* A message spooled from in (LF endings are fine: intake makes CRLF). */
static void
load(struct message *msg, const char *in)
{
	spooled(msg, in, strlen(in), 0);
}

#define unload	spooled_free

static void
signed_headers(const char *list, const struct message *msg, int flags,
    const char *want_h, const char *want_text)
{
	struct config	 cfg;
	struct buf	 h, text;
	char		 err[256];

	config_init(&cfg);
	cr_assert_eq(config_set(&cfg, "dkim_headers", list, "test", err,
	    sizeof(err)), 0, "%s", err);
	buf_init(&h);
	buf_init(&text);
	cr_assert_eq(dkim_signed_headers(&cfg, msg, flags, &h, &text), 0);
	cr_assert_str_eq(h.data, want_h);
	cr_assert_str_eq(text.data, want_text);
	buf_free(&h);
	buf_free(&text);
	config_free(&cfg);
}

/* §5.4.2: instances are taken from the bottom up. */
Test(dkim, duplicate_fields_signed_bottom_up)
{
	struct message	 msg;

	load(&msg, "From: a@example.com\nTo: first@x\nSubject: s\n"
	    "To:  second@x\n\nbody\n");
	signed_headers("from:to", &msg, 0, "from:to:to",
	    "from:a@example.com\r\nto:second@x\r\nto:first@x\r\n");
	signed_headers("from:from:to", &msg, 0, "from:from:to:to",
	    "from:a@example.com\r\nto:second@x\r\nto:first@x\r\n");
	unload(&msg);
}

/*
 * SPEC §5.4: what is signed is what is sent: qualified addresses, the
 * appended Date:, no Bcc:, and the relay route's From: with relay_from.
 */
Test(dkim, signed_as_transmitted_on_each_route)
{
	struct message	 msg;
	struct msg_submit sub;

	load(&msg, "From: root (Cron Daemon)\nBcc: hidden@x\n"
	    "Subject: cron\n\nout\n");
	memset(&sub, 0, sizeof(sub));
	sub.sender = "root@host.example";
	sub.queue_id = "Q1";
	sub.domain = "host.example";
	sub.now = 1796163970;
	setenv("TZ", "UTC", 1);
	tzset();
	msg_complete(&msg, &sub);
	cr_assert_eq(msg_qualify(&msg, "host.example"), 1);
	cr_assert_eq(msg_relay_from(&msg, "cron@relay.example"), 0);
	signed_headers("from:subject:date:bcc", &msg, 0,
	    "from:subject:date:bcc",
	    "from:root@host.example (Cron Daemon)\r\nsubject:cron\r\n"
	    "date:Tue, 01 Dec 2026 22:26:10 +0000\r\n");
	signed_headers("from:subject:date:bcc", &msg, MSG_RELAY,
	    "from:subject:date:bcc",
	    "from:cron@relay.example\r\nsubject:cron\r\n"
	    "date:Tue, 01 Dec 2026 22:26:10 +0000\r\n");
	unload(&msg);
}

/* ------------------------------------------------------- alignment */

struct arow {
	const char	*domain;
	const char	*d;
	int		 aligned;
};

static const struct arow arows[] = {
	{ "example.com", "example.com", 1 },
	{ "mail.example.com", "example.com", 1 },
	{ "EXAMPLE.Com", "example.com", 1 },
	{ "example.com.", "example.com", 1 },
	{ "badexample.com", "example.com", 0 },
	{ "example.com", "mail.example.com", 0 },
	{ "example.org", "example.com", 0 },
	{ "com", "example.com", 0 },
};

ROW_PARAMETERS(dkim, alignment, arows);

ParameterizedTest(const size_t *i, dkim, alignment)
{
	const struct arow *r = &arows[*i];

	cr_assert_eq(dkim_aligned(r->domain, r->d), r->aligned, "%s in %s",
	    r->domain, r->d);
}

/* -------------------------------------------------------- key files */

/* A key made by GnuTLS, in PKCS#8 or (RSA) PKCS#1 PEM; caller frees. */
static char *
make_key(gnutls_pk_algorithm_t alg, unsigned bits, int pkcs1)
{
	gnutls_x509_privkey_t k;
	gnutls_datum_t	 d;
	char		*pem;

	cr_assert_eq(gnutls_x509_privkey_init(&k), 0);
	cr_assert_eq(gnutls_x509_privkey_generate(k, alg, bits, 0), 0);
	if (pkcs1)
		cr_assert_eq(gnutls_x509_privkey_export2(k,
		    GNUTLS_X509_FMT_PEM, &d), 0);
	else
		cr_assert_eq(gnutls_x509_privkey_export2_pkcs8(k,
		    GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &d), 0);
	pem = xstrndup((char *)d.data, d.size);
	gnutls_free(d.data);
	gnutls_x509_privkey_deinit(k);
	return pem;
}

static void
parses(const char *pem, enum tls_key_type type, unsigned bits)
{
	enum tls_key_type t;
	unsigned	 b;
	char		 why[256];

	cr_assert_eq(dkimkey_parse(pem, strlen(pem), &t, &b, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_eq(t, type);
	cr_assert_eq(b, bits);
}

static void
refused(const char *pem, const char *reason)
{
	enum tls_key_type t;
	unsigned	 b;
	char		 why[256];

	cr_assert_eq(dkimkey_parse(pem, strlen(pem), &t, &b, why,
	    sizeof(why)), -1, "accepted: %s", pem);
	cr_assert_not_null(strstr(why, reason), "\"%s\" lacks \"%s\"", why,
	    reason);
}

Test(dkim, key_forms_and_types)
{
	char	*pem, *text;

	pem = make_key(GNUTLS_PK_RSA, 1024, 0);
	parses(pem, TLS_KEY_RSA, 1024);
	/* certtool writes a description before the block. */
	text = xasprintf("Public Key Info:\n\tsomething\n%s", pem);
	parses(text, TLS_KEY_RSA, 1024);
	free(text);
	free(pem);
	pem = make_key(GNUTLS_PK_RSA, 1536, 1);
	cr_assert_not_null(strstr(pem, "BEGIN RSA PRIVATE KEY"));
	parses(pem, TLS_KEY_RSA, 1536);
	free(pem);
	pem = make_key(GNUTLS_PK_EDDSA_ED25519, 256, 0);
	parses(pem, TLS_KEY_ED25519, 256);
	free(pem);
	pem = make_key(GNUTLS_PK_RSA, 768, 0);
	refused(pem, "RSA key of 768 bits: DKIM needs at least 1024");
	free(pem);
	pem = make_key(GNUTLS_PK_ECDSA, 256, 0);
	refused(pem, "neither RSA nor Ed25519");
	free(pem);
}

Test(dkim, malformed_keys_refused)
{
	char	*pem, *cut;

	refused("", "holds no PEM private key");
	refused("-----BEGIN PRIVATE KEY-----\nMIIB\n", "no PEM private key");
	refused("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE "
	    "KEY-----\n", "no PEM private key");
	refused("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE "
	    "KEY-----\n", "not valid base64");
	refused("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE "
	    "KEY-----\n", "malformed private key");
	refused("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE"
	    "-----\n", "not an RSA or Ed25519 private key");
	refused("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END "
	    "ENCRYPTED PRIVATE KEY-----\n", "encrypted");
	refused("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
	    "DEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY"
	    "-----\n", "encrypted");
	/* A real key without its last base64 line. */
	pem = make_key(GNUTLS_PK_RSA, 1024, 0);
	cut = strstr(pem, "-----END");
	cr_assert_not_null(cut);
	cut[-1] = '\0';
	cut = strrchr(pem, '\n');
	strcpy(cut + 1, "-----END PRIVATE KEY-----\n");
	refused(pem, "malformed private key");
	free(pem);
}

static char *
key_file(const char *name, const char *pem, mode_t mode)
{
	char	*path = xasprintf("%s/%s", tmpdir, name);
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write_all(fd, pem, strlen(pem)), 0);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void
read_fails(const char *path, const char *reason)
{
	struct dkimkey	 k;
	char		 err[512];

	cr_assert_eq(dkimkey_read(path, &k, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, path), "%s", err);
	cr_assert_not_null(strstr(err, reason), "\"%s\" lacks \"%s\"", err,
	    reason);
}

/* SPEC §4: as relay_password_file: others never, the group may. */
Test(dkim, key_file_modes)
{
	struct dkimkey	 k;
	char		*pem = make_key(GNUTLS_PK_EDDSA_ED25519, 256, 0);
	char		*path, err[512];

	path = key_file("k.pem", pem, 0640);
	cr_assert_eq(dkimkey_read(path, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(k.type, TLS_KEY_ED25519);
	dkimkey_free(&k);
	cr_assert_eq(chmod(path, 0644), 0);
	read_fails(path, "readable or writable by others");
	cr_assert_eq(chmod(path, 0602), 0);
	read_fails(path, "readable or writable by others");
	cr_assert_eq(unlink(path), 0);
	read_fails(path, "No such file or directory");
	free(path);
	read_fails(tmpdir, "not a regular file");
	free(pem);
}

/* ------------------------------------------------------ the field */

static struct config *
dkim_config(const char *keypath)
{
	struct config	*cfg = xcalloc(1, sizeof(*cfg));
	char		 err[512];

	config_init(cfg);
	cr_assert_eq(config_set(cfg, "dkim_domain", "Example.COM", "t", err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(config_set(cfg, "dkim_selector", "sel", "t", err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(config_set(cfg, "dkim_key", keypath, "t", err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(config_finish(cfg, err, sizeof(err)), 0, "%s", err);
	return cfg;
}

/* Every line of the field within 78 columns, a TAB counted as 8. */
static void
folded_within_78(const char *f)
{
	const char	*p;
	size_t		 col = 0;

	for (p = f; *p != '\0'; p++) {
		if (*p == '\n') {
			col = 0;
			continue;
		}
		col += *p == '\t' ? 8 : *p != '\r';
		cr_assert_leq(col, 78, "too long a line in:\n%s", f);
	}
}

/* A signer of one message with a new key (made, configured, loaded). */
struct signer {
	struct message	 msg;
	struct config	*cfg;
	struct dkim	*d;
	char		*pem;
	char		*path;
	char		 err[512];
	char		*note;
};

static void
signer_open(struct signer *s, gnutls_pk_algorithm_t alg, unsigned bits,
    const char *text)
{
	memset(s, 0, sizeof(*s));
	s->pem = make_key(alg, bits, 0);
	s->path = key_file("key.pem", s->pem, 0600);
	s->cfg = dkim_config(s->path);
	load(&s->msg, text);
	s->d = dkim_new(s->cfg, &s->msg);
}

/* The field of variant 0, and its note. */
static const char *
signer_field(struct signer *s, size_t *len)
{
	free(s->note);
	return dkim_field(s->d, 0, len, &s->note, s->err, sizeof(s->err));
}

static void
signer_close(struct signer *s)
{
	dkim_free(s->d);
	unload(&s->msg);
	config_free(s->cfg);
	free(s->cfg);
	free(s->path);
	free(s->pem);
	free(s->note);
}

Test(dkim, field_as_written)
{
	struct signer	 s;
	const char	*f;
	const char	*head = "DKIM-Signature: v=1; a=rsa-sha256; "
	    "c=relaxed/relaxed; d=example.com; s=sel;\r\n\tt=";
	size_t		 len;

	signer_open(&s, GNUTLS_PK_RSA, 2048,
	    "From: Ann <ann@mail.example.com>\nSubject: s\n\n\n");
	f = signer_field(&s, &len);
	cr_assert_not_null(f, "%s", s.err);
	cr_assert_eq(strlen(f), len);
	cr_assert_eq(strncmp(f, head, strlen(head)), 0, "%s", f);
	cr_assert_not_null(strstr(f, " h=from:from:reply-to:subject:date:"));
	cr_assert_not_null(strstr(f,
	    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"), "%s", f);
	cr_assert_eq(strcmp(f + len - 2, "\r\n"), 0);
	folded_within_78(f);
	cr_assert_not_null(s.note);
	cr_assert_not_null(strstr(s.note, "d=example.com s=sel a=rsa-sha256"),
	    "%s", s.note);
	/* Made once: the same field again, and no second note. */
	cr_assert_eq(signer_field(&s, &len), f);
	cr_assert_null(s.note);
	signer_close(&s);
}

/* -v: a From: that d= does not cover fails DMARC alignment. */
Test(dkim, misaligned_from_warns)
{
	struct signer	 s;
	size_t		 len;

	signer_open(&s, GNUTLS_PK_EDDSA_ED25519, 256,
	    "From: x@example.org\n\nbody\n");
	cr_assert_not_null(signer_field(&s, &len), "%s", s.err);
	cr_assert_not_null(strstr(s.note, "From: domain is example.org"),
	    "%s", s.note);
	cr_assert_not_null(strstr(s.note, "DMARC alignment fails"));
	signer_close(&s);
}

/* A key gone by delivery time: no field, and the file named. */
Test(dkim, vanished_key_fails_the_signature)
{
	struct signer	 s;
	size_t		 len;

	signer_open(&s, GNUTLS_PK_EDDSA_ED25519, 256,
	    "From: x@example.com\n\nbody\n");
	cr_assert_eq(unlink(s.path), 0);
	cr_assert_null(signer_field(&s, &len));
	cr_assert_null(s.note);
	cr_assert_not_null(strstr(s.err, "DKIM signing failed: dkim_key"),
	    "%s", s.err);
	cr_assert_not_null(strstr(s.err, s.path), "%s", s.err);
	cr_assert_not_null(strstr(s.err, "No such file"), "%s", s.err);
	signer_close(&s);
}

/* ---------------------------------------------------- configuration */

Test(dkim, partial_set_refused)
{
	struct config	 cfg;
	char		 err[512];

	config_init(&cfg);
	cr_assert_eq(config_set(&cfg, "dkim_domain", "example.com", "t", err,
	    sizeof(err)), 0);
	cr_assert_eq(config_finish(&cfg, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "dkim_domain, dkim_selector and dkim_key are "
	    "set together or not at all: dkim_selector and dkim_key are "
	    "missing");
	config_free(&cfg);
}

struct crow {
	const char	*key;
	const char	*value;
	int		 ok;
};

static const struct crow crows[] = {
	{ "dkim_domain", "example.com", 1 },
	{ "dkim_domain", "example.com.", 0 },
	{ "dkim_domain", "ex ample.com", 0 },
	{ "dkim_selector", "2026a.mail", 1 },
	{ "dkim_selector", "sel_1", 0 },
	{ "dkim_key", "/etc/mxsend/dkim.key", 1 },
	{ "dkim_key", "dkim.key", 0 },
	{ "dkim_headers", "From : To:subject", 1 },
	{ "dkim_headers", "to:subject", 0 },
	{ "dkim_headers", "from::to", 0 },
	{ "dkim_headers", "from:", 0 },
	{ "dkim_headers", "from to", 0 },
	{ "dkim_routes", "mx relay", 1 },
	{ "dkim_routes", "relay", 1 },
	{ "dkim_routes", "smtp", 0 },
};

ROW_PARAMETERS(dkim, config_values, crows);

ParameterizedTest(const size_t *i, dkim, config_values)
{
	const struct crow *r = &crows[*i];
	struct config	 cfg;
	char		 err[512];

	config_init(&cfg);
	cr_assert_eq(config_set(&cfg, r->key, r->value, "t", err,
	    sizeof(err)) == 0, r->ok, "%s '%s': %s", r->key, r->value,
	    r->ok ? err : "accepted");
	config_free(&cfg);
}
