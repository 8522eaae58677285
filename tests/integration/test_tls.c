/*
 * test_tls.c: TLS end to end, the real mxsend binary against the scripted
 * DNS server (fakedns) and SMTP servers (fakesmtp) on loopback, with
 * certificates made at test time by certtool:
 *
 *  - DANE for MX hosts (mx_tls dane, RFC 7672): fakedns sets AD for the
 *    names below dane.test (a validating resolver on loopback, which
 *    mxsend believes), TLSA records hold the hashes of this test's
 *    certificates; DANE-EE and DANE-TA matches, mismatches, STARTTLS
 *    missing or stripped, unusable records, insecure answers, a failed
 *    TLSA lookup and a missing libgnutls-dane;
 *  - a man in the middle wherever TLS is required: the relay's
 *    certificate (expired, wrong name, self-signed, unknown CA, another
 *    pin), STARTTLS stripped (capability removed, 454, a 220 followed by
 *    plain text) for the relay, mx_tls required and DANE, and TLS 1.0/1.1
 *    refused by the relay.
 *
 * Each test asserts the exit code (SPEC §3), the recipient's stderr line,
 * and from the servers' records that nothing went in clear where TLS was
 * required: no MAIL and no AUTH. Every server is started by the test and
 * stopped by its PID; records are read after it stopped.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

#define BODY	"The body line 5e1c, kept for the test."
#define PW	"s3cret-pw"

/* A server of STARTTLS, with AUTH once under TLS. */
#define TLS_SCRIPT \
	"ext PIPELINING\next STARTTLS\n" \
	"tls-ext PIPELINING\ntls-ext AUTH PLAIN LOGIN\nuser user " PW "\n"

static struct run_env re;
static struct run_result res;
/* The servers of a test, stopped by teardown. */
static struct {
	struct server	 dns, mx, relay;
} sv;
static char dnslog[400], mxrec[400], relayrec[400], logpath[400];
static unsigned mxport, relayport;
static int nmx;
static const char *mxcert;	/* the MX hosts' certificate and key */

/*
 * The zone: @P is the MX port, @EE the SHA-256 of the server key's SPKI,
 * @EXP that of the expired certificate's key (when the test made one),
 * @CA that of the CA certificate, @BAD that of the CA's key (matches no
 * server certificate). Every name below dane.test is secure (AD).
 */
static const char zone_text[] =
    "ee.dane.test. MX 10 mx1.ee.dane.test.\n"
    "mx1.ee.dane.test. A 127.0.0.2\n"
    "_@P._tcp.mx1.ee.dane.test. TLSA 3 1 1 @EE\n"
    "exp.dane.test. MX 10 mx1.exp.dane.test.\n"
    "mx1.exp.dane.test. A 127.0.0.2\n"
    "_@P._tcp.mx1.exp.dane.test. TLSA 3 1 1 @EXP\n"
    "two.dane.test. MX 10 mx1.two.dane.test.\n"
    "two.dane.test. MX 20 mx2.two.dane.test.\n"
    "mx1.two.dane.test. A 127.0.0.2\n"
    "mx2.two.dane.test. A 127.0.0.3\n"
    "_@P._tcp.mx1.two.dane.test. TLSA 3 1 1 @BAD\n"
    "_@P._tcp.mx2.two.dane.test. TLSA 3 1 1 @EE\n"
    "bad.dane.test. MX 10 mx1.bad.dane.test.\n"
    "mx1.bad.dane.test. A 127.0.0.2\n"
    "_@P._tcp.mx1.bad.dane.test. TLSA 3 1 1 @BAD\n"
    "ta.dane.test. MX 10 mx1.ta.dane.test.\n"
    "mx1.ta.dane.test. A 127.0.0.2\n"
    "_@P._tcp.mx1.ta.dane.test. TLSA 2 0 1 @CA\n"
    "taname.dane.test. MX 10 mx1.taname.dane.test.\n"
    "mx1.taname.dane.test. A 127.0.0.2\n"
    "_@P._tcp.mx1.taname.dane.test. TLSA 2 0 1 @CA\n"
    "pkix.dane.test. MX 10 mx1.pkix.dane.test.\n"
    "mx1.pkix.dane.test. A 127.0.0.2\n"
    "_@P._tcp.mx1.pkix.dane.test. TLSA 1 1 1 @BAD\n"
    "_@P._tcp.mx1.pkix.dane.test. TLSA 0 0 1 @CA\n"
    "sf.dane.test. MX 10 mx1.sf.dane.test.\n"
    "mx1.sf.dane.test. A 127.0.0.2\n"
    "none.dane.test. MX 10 mx1.none.dane.test.\n"
    "mx1.none.dane.test. A 127.0.0.2\n"
    "hostins.dane.test. MX 10 mx1.hostins.test.\n"
    "mx1.hostins.test. A 127.0.0.2\n"
    "_@P._tcp.mx1.hostins.test. TLSA 3 1 1 @BAD\n"
    "ins.test. MX 10 mx1.ins.test.\n"
    "mx1.ins.test. A 127.0.0.2\n"
    "_@P._tcp.mx1.ins.test. TLSA 3 1 1 @BAD\n"
    "on *.dane.test * ad\n"
    "on _@P._tcp.mx1.sf.dane.test TLSA servfail\n";

/* ---------------------------------------------------------------- PKI */

/* $dir/name with suffix ext (".pem", ".key"): a static buffer each. */
static const char *
pki(const char *name, const char *ext)
{
	static char paths[4][400];
	static int k;

	k = (k + 1) % 4;
	snprintf(paths[k], sizeof(paths[k]), "%s/%s%s", re.dir, name, ext);
	return paths[k];
}

/*
 * name.key and name.pem from the template text, signed by the CA called
 * ca (name.pem and name.key), or self-signed when ca is NULL.
 */
static void
make_cert(const char *name, const char *tmpl, const char *ca)
{
	char key[400], t[400];

	if (access(pki(name, ".pem"), F_OK) == 0)
		return;
	snprintf(key, sizeof(key), "%s", pki(name, ".key"));
	snprintf(t, sizeof(t), "%s", run_env_file(&re, "cert.tmpl", tmpl,
	    0644));
	run_cmd("certtool --generate-privkey --key-type=ecdsa --outfile %s "
	    ">/dev/null 2>&1", key);
	if (ca == NULL)
		run_cmd("certtool --generate-self-signed --load-privkey %s "
		    "--template %s --outfile %s >/dev/null 2>&1", key, t,
		    pki(name, ".pem"));
	else
		run_cmd("certtool --generate-certificate --load-privkey %s "
		    "--load-ca-certificate %s --load-ca-privkey %s "
		    "--template %s --outfile %s >/dev/null 2>&1", key,
		    pki(ca, ".pem"), pki(ca, ".key"), t, pki(name, ".pem"));
}

#define CA_TMPL(cn) "cn = \"" cn "\"\nca\ncert_signing_key\n" \
	"expiration_days = 2\n"
#define SERVER_TMPL \
	"tls_www_server\nsigning_key\nencryption_key\n"
/* The MX hosts' and the relay's names: DANE-TA checks the first. */
#define NAMES_TMPL \
	"cn = \"mx1.ta.dane.test\"\ndns_name = \"mx1.ta.dane.test\"\n" \
	"dns_name = \"localhost\"\nip_address = \"127.0.0.1\"\n"

/*
 * The chain an MX host sends: name.pem then the CA's, in name-chain.pem
 * (DANE-TA needs the anchor in it).
 */
static void
make_chain(const char *name)
{
	char chain[600], *a, *b, *both;

	a = slurp(pki(name, ".pem"), NULL);
	b = slurp(pki("ca", ".pem"), NULL);
	cr_assert(a != NULL && b != NULL);
	snprintf(chain, sizeof(chain), "%s", pki(name, "-chain.pem"));
	cr_assert(asprintf(&both, "%s%s", a, b) > 0);
	free(a);
	free(b);
	write_file(chain, both);
	free(both);
}

/* The CA, and the server's certificate signed by it: server.pem. */
static void
make_pki(void)
{
	if (system("certtool --version >/dev/null 2>&1") != 0)
		cr_skip_test("certtool (gnutls-bin) is not installed");
	make_cert("ca", CA_TMPL("mxsend test CA"), NULL);
	make_cert("server", NAMES_TMPL SERVER_TMPL "expiration_days = 2\n",
	    "ca");
	make_chain("server");
}

/* The certificate of a PEM file (its first). */
static gnutls_x509_crt_t
load_crt(const char *pem)
{
	gnutls_datum_t d = { NULL, 0 };
	gnutls_x509_crt_t crt;

	cr_assert(gnutls_load_file(pem, &d) == 0, "cannot read %s", pem);
	cr_assert(gnutls_x509_crt_init(&crt) == 0);
	cr_assert(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) == 0);
	gnutls_free(d.data);
	return crt;
}

/*
 * SHA-256 in hex of what a TLSA selector covers in pem's certificate:
 * 0 the certificate's DER, 1 its SubjectPublicKeyInfo (RFC 6698 §2.1.2).
 */
static void
tlsa_hash(const char *pem, int selector, char *out, size_t size)
{
	gnutls_x509_crt_t crt = load_crt(pem);
	gnutls_pubkey_t pub;
	gnutls_datum_t der = { NULL, 0 };
	unsigned char h[32];
	size_t i;

	if (selector == 0)
		cr_assert(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER,
		    &der) == 0);
	else {
		cr_assert(gnutls_pubkey_init(&pub) == 0);
		cr_assert(gnutls_pubkey_import_x509(pub, crt, 0) == 0);
		cr_assert(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER,
		    &der) == 0);
		gnutls_pubkey_deinit(pub);
	}
	cr_assert(gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size,
	    h) == 0);
	gnutls_free(der.data);
	gnutls_x509_crt_deinit(crt);
	cr_assert(size > 2 * sizeof(h));
	for (i = 0; i < sizeof(h); i++)
		snprintf(out + 2 * i, size - 2 * i, "%02x", h[i]);
}

/* SHA-256 of pem's certificate as relay_fingerprint takes it. */
static void
fingerprint(const char *pem, char *out, size_t size)
{
	tlsa_hash(pem, 0, out, size);
}

/* ------------------------------------------------------------ servers */

static void
setup(void)
{
	char qdir[400], conf[1200];

	alarm(90);
	run_env_setup(&re);
	memset(&sv, 0, sizeof(sv));
	memset(&res, 0, sizeof(res));
	env_clear();
	nmx = 0;
	mxcert = "server";
	mxrec[0] = relayrec[0] = '\0';
	make_pki();
	snprintf(dnslog, sizeof(dnslog), "%s/dns.log", re.dir);
	snprintf(logpath, sizeof(logpath), "%s/mxsend.log", re.dir);
	snprintf(qdir, sizeof(qdir), "%s/queue", re.dir);
	mxport = pick_port();
	/* The file, which the tests' MXSEND_* variables override. */
	snprintf(conf, sizeof(conf), "mx_tls dane\ntimeout_connect 2\n"
	    "timeout_command 2\ntimeout_data 3\nhelo client.test\n"
	    "queue_dir %s\n", qdir);
	write_file(re.conf, conf);
	env_set("MXSEND_LOG=%s", logpath);
}

static void
teardown(void)
{
	server_stop(&sv.mx);
	server_stop(&sv.relay);
	server_stop(&sv.dns);
	run_result_free(&res);
	run_env_cleanup(&re);
}

TestSuite(dane, .init = setup, .fini = teardown);
TestSuite(mitm, .init = setup, .fini = teardown);

/* Replace every "@KEY" of src by its value (keys, values: n pairs). */
static char *
fill(const char *src, const char *const kv[], size_t n)
{
	size_t len = strlen(src) + 1, cap = len * 4, o = 0, i;
	char *out = malloc(cap);

	cr_assert(out != NULL);
	while (*src != '\0') {
		for (i = 0; i < n; i++)
			if (strncmp(src, kv[2 * i], strlen(kv[2 * i])) == 0)
				break;
		if (i < n) {
			cr_assert(o + strlen(kv[2 * i + 1]) < cap);
			memcpy(out + o, kv[2 * i + 1], strlen(kv[2 * i + 1]));
			o += strlen(kv[2 * i + 1]);
			src += strlen(kv[2 * i]);
		} else
			out[o++] = *src++;
		cr_assert(o < cap);
	}
	out[o] = '\0';
	return out;
}

/* fakedns with the zone for the MX port now in use. */
static void
start_dns(void)
{
	char port[16], ee[80], ca[80], bad[80], exp[80], zpath[400], *z;
	const char *kv[] = { "@P", port, "@EE", ee, "@CA", ca, "@BAD", bad,
	    "@EXP", exp };

	server_stop(&sv.dns);
	snprintf(port, sizeof(port), "%u", mxport);
	tlsa_hash(pki("server", ".pem"), 1, ee, sizeof(ee));
	tlsa_hash(pki("ca", ".pem"), 0, ca, sizeof(ca));
	tlsa_hash(pki("ca", ".pem"), 1, bad, sizeof(bad));
	if (access(pki("expired", ".pem"), F_OK) == 0)
		tlsa_hash(pki("expired", ".pem"), 1, exp, sizeof(exp));
	else
		memcpy(exp, bad, sizeof(exp));
	z = fill(zone_text, kv, 5);
	snprintf(zpath, sizeof(zpath), "%s", run_env_file(&re, "zone", z,
	    0644));
	free(z);
	fakedns_start(&sv.dns, zpath, dnslog, NULL);
}

/*
 * The MX hosts: one fakesmtp with the server's chain (leaf and CA) on
 * each address given (NULL-terminated), on port mx_port; then fakedns,
 * whose TLSA names hold that port.
 */
static void
start_mx(const char *script, ...)
{
	const char *extra[] = { "--tls-cert", pki(mxcert, "-chain.pem"),
	    "--tls-key", pki(mxcert, ".key"), NULL };
	va_list ap;

	va_start(ap, script);
	fakesmtp_mx_vstart(&sv.mx, &re, ++nmx, script, mxrec, sizeof(mxrec),
	    &mxport, extra, ap);
	va_end(ap);
	start_dns();
}

/*
 * The relay on 127.0.0.1 with certificate cert (name.pem, name.key),
 * credentials, route relay, the test CA as tls_ca_file.
 */
static void
start_relay(const char *script, const char *cert)
{
	const char *argv[] = { support_path("fakesmtp"), "--listen",
	    "127.0.0.1:0", "--script", NULL, "--record", relayrec,
	    "--tls-cert", pki(cert, ".pem"), "--tls-key", pki(cert, ".key"),
	    NULL };
	char spath[400];

	snprintf(spath, sizeof(spath), "%s", run_env_file(&re,
	    "relay-script", script, 0644));
	argv[4] = spath;
	snprintf(relayrec, sizeof(relayrec), "%s/relay-rec", re.dir);
	cr_assert_eq(server_start(&sv.relay, argv, 10), 0,
	    "fakesmtp (relay) did not start");
	relayport = sv.relay.l[0].port;
	env_set("MXSEND_RELAY=smtp://user:" PW "@127.0.0.1:%u", relayport);
	env_set("MXSEND_RELAY_TLS=auto");
	env_set("MXSEND_ROUTE=relay");
	env_set("MXSEND_TLS_CA_FILE=%s", pki("ca", ".pem"));
}

/* Everything a failed assertion should show. */
static const char *
ev(void)
{
	static char buf[24000];

	buf[0] = '\0';
	ev_exit(buf, sizeof(buf), &res, 5000);
	ev_file(buf, sizeof(buf), "DNS queries", dnslog, 2000);
	ev_server(buf, sizeof(buf), "mx", mxrec);
	ev_server(buf, sizeof(buf), "relay", relayrec);
	return buf;
}

/*
 * "sendmail [OPTIONS...] -t" (NULL-terminated options) with a message to
 * to, 30 s at most; the servers are stopped afterwards, so that their
 * records are complete. Returns the exit status.
 */
static int
send_to(const char *to, ...)
{
	va_list ap;

	va_start(ap, to);
	sendmail_t(&re, &res, BODY, to, ap);
	va_end(ap);
	server_stop(&sv.mx);
	server_stop(&sv.relay);
	cr_assert(!res.timed_out, "mxsend did not finish in 30 s%s", ev());
	return res.status;
}

/* ------------------------------------------------------ assertion kits */

#define assert_exit(code) \
	cr_assert_eq(res.status, (code), "want exit %d%s", (code), ev())

#define assert_err_has(text) \
	cr_assert(res.err != NULL && strstr(res.err, (text)) != NULL, \
	    "stderr lacks \"%s\"%s", (text), ev())

/* Exit 75: addr deferred (its stderr line has why), and queued. */
static void
assert_deferred(const char *addr, const char *why)
{
	const char *l;
	char *q;

	assert_exit(75);
	l = line_with(res.err, addr);
	cr_assert(l != NULL && strstr(l, "deferred") != NULL,
	    "no \"deferred\" line for %s%s", addr, ev());
	cr_assert(why == NULL || strstr(l, why) != NULL,
	    "the line for %s lacks \"%s\"%s", addr, why, ev());
	q = queued_message(pki("queue", ""), 0);
	cr_assert(q != NULL && strstr(q, BODY) != NULL, "not queued%s", ev());
	free(q);
}

/* Nothing of the transaction, nor AUTH, reached the server in dir. */
#define assert_nothing_in_clear(dir, who) do { \
	cr_assert(!logs_have((dir), NULL, "MAIL FROM"), \
	    "MAIL to %s%s", (who), ev()); \
	cr_assert(!logs_have((dir), NULL, "AUTH"), \
	    "AUTH to %s%s", (who), ev()); \
} while (0)

#define assert_delivered(dir, ip, rcpt) \
	cr_assert(delivered_at((dir), (ip), (rcpt)) != 0, \
	    "%s not delivered at %s%s", (rcpt), (ip) ? (ip) : "the relay", \
	    ev())

/* Session n in dir ran TLS (mode starttls). */
static int
had_tls(const char *dir, int n)
{
	char *t = file_in(dir, n, "tls");
	int ok = t != NULL && strncmp(t, "tls\nmode starttls\n", 18) == 0;

	free(t);
	return ok;
}

static int
dns_asked(const char *needle)
{
	char *s = slurp(dnslog, NULL);
	int found = s != NULL && strstr(s, needle) != NULL;

	free(s);
	return found;
}

/* ---------------------------------------------------------------- DANE */

Test(dane, ee_match_delivers_over_tls)
{
	char q[200];

	start_mx(TLS_SCRIPT, "127.0.0.2", NULL);
	send_to("u@ee.dane.test", "-v", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", "u@ee.dane.test");
	cr_assert(had_tls(mxrec, 1), "no STARTTLS%s", ev());
	cr_assert(logs_have(mxrec, NULL, "STARTTLS"));
	/* SNI is the MX host name (RFC 7672 §8.1). */
	{
		char *t = file_in(mxrec, 1, "tls");

		cr_assert(t != NULL && strstr(t, "sni mx1.ee.dane.test\n"),
		    "SNI%s", ev());
		free(t);
	}
	assert_err_has("dane verified: DANE-EE(3) SPKI(1) SHA2-256(1)");
	/* The TLSA lookup asked for DNSSEC and got AD. */
	snprintf(q, sizeof(q), "_%u._tcp.mx1.ee.dane.test TLSA NOERROR ad "
	    "edns do", mxport);
	cr_assert(dns_asked(q), "no secure TLSA lookup%s", ev());
}

Test(dane, ee_mismatch_next_mx_delivers)
{
	start_mx(TLS_SCRIPT, "127.0.0.2", "127.0.0.3", NULL);
	send_to("u@two.dane.test", "-v", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.3", "u@two.dane.test");
	cr_assert(sessions_at(mxrec, "127.0.0.2") >= 1, "mx1 not tried%s",
	    ev());
	cr_assert(!logs_have(mxrec, "127.0.0.2", "MAIL FROM"),
	    "MAIL to the mismatched MX%s", ev());
	assert_err_has("TLSA mismatch for mx1.two.dane.test");
}

Test(dane, ee_mismatch_alone_is_deferred)
{
	char *log;

	start_mx(TLS_SCRIPT, "127.0.0.2", NULL);
	send_to("u@bad.dane.test", NULL);
	assert_deferred("u@bad.dane.test", "TLSA mismatch");
	assert_nothing_in_clear(mxrec, "the MX");
	cr_assert(sessions_at(mxrec, NULL) == 1, "reconnected%s", ev());
	log = slurp(logpath, NULL);
	cr_assert(log != NULL && strstr(line_with(log, "to=<u@bad"),
	    "TLSA mismatch"), "the log line lacks the reason%s", ev());
	free(log);
}

Test(dane, ee_mismatch_goes_to_the_relay)
{
	start_relay("", "server");
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u", relayport);
	env_set("MXSEND_RELAY_TLS=off");
	env_set("MXSEND_ROUTE=mx relay");
	start_mx(TLS_SCRIPT, "127.0.0.2", NULL);
	send_to("u@bad.dane.test", NULL);
	assert_exit(0);
	assert_delivered(relayrec, NULL, "u@bad.dane.test");
	assert_nothing_in_clear(mxrec, "the MX");
}

Test(dane, ta_with_matching_name_delivers)
{
	start_mx(TLS_SCRIPT, "127.0.0.2", NULL);
	send_to("u@ta.dane.test", "-v", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", "u@ta.dane.test");
	assert_err_has("dane verified: DANE-TA(2) Cert(0) SHA2-256(1)");
}

#define EXPIRED_TMPL \
	"activation_date = \"2020-01-01 00:00:00\"\n" \
	"expiration_date = \"2020-02-01 00:00:00\"\n"

/* The MX hosts send an expired certificate, for mx1.ta.dane.test. */
static void
expired_mx(void)
{
	make_cert("expired", NAMES_TMPL SERVER_TMPL EXPIRED_TMPL, "ca");
	make_chain("expired");
	mxcert = "expired";
	start_mx(TLS_SCRIPT, "127.0.0.2", NULL);
}

/* RFC 7672 §3.1.1: DANE-EE checks neither the name nor the dates. */
Test(dane, ee_ignores_name_and_dates)
{
	expired_mx();
	send_to("u@exp.dane.test", "-v", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", "u@exp.dane.test");
	assert_err_has("dane verified: DANE-EE(3)");
}

/* DANE-TA checks them (§3.2.2): an expired leaf is a mismatch. */
Test(dane, ta_with_expired_certificate_is_skipped)
{
	expired_mx();
	send_to("u@ta.dane.test", NULL);
	assert_deferred("u@ta.dane.test", "TLSA mismatch");
	assert_err_has("expired");
	assert_nothing_in_clear(mxrec, "the MX");
}

/* DANE-TA checks the name: the certificate is mx1.ta's, not mx1.taname's. */
Test(dane, ta_with_wrong_name_is_skipped)
{
	start_mx(TLS_SCRIPT, "127.0.0.2", NULL);
	send_to("u@taname.dane.test", NULL);
	assert_deferred("u@taname.dane.test", "TLSA mismatch");
	assert_err_has("name in the certificate does not match");
	assert_nothing_in_clear(mxrec, "the MX");
}

Test(dane, starttls_not_offered_with_usable_tlsa_is_skipped)
{
	start_mx("ext PIPELINING\n", "127.0.0.2", NULL);
	send_to("u@ee.dane.test", NULL);
	assert_deferred("u@ee.dane.test", "STARTTLS not offered");
	assert_err_has("TLSA records require it");
	assert_nothing_in_clear(mxrec, "the MX");
}

Test(dane, starttls_454_with_usable_tlsa_is_skipped)
{
	start_mx("ext PIPELINING\next STARTTLS\n"
	    "starttls reply 454 4.7.0 TLS not available today\n",
	    "127.0.0.2", NULL);
	send_to("u@ee.dane.test", NULL);
	assert_deferred("u@ee.dane.test", "454 4.7.0");
	assert_nothing_in_clear(mxrec, "the MX");
}

Test(dane, starttls_then_plain_text_with_usable_tlsa_is_skipped)
{
	start_mx("ext PIPELINING\next STARTTLS\nstarttls-plain\n",
	    "127.0.0.2", NULL);
	send_to("u@ee.dane.test", NULL);
	assert_deferred("u@ee.dane.test", "TLS handshake");
	assert_nothing_in_clear(mxrec, "the MX");
	cr_assert_eq(sessions_at(mxrec, NULL), 1, "retried in plain text%s",
	    ev());
}

/* script's MX host takes rcpt as opportunistic TLS allows. */
static void
opportunistic(const char *script, const char *rcpt)
{
	start_mx(script, "127.0.0.2", NULL);
	send_to(rcpt, NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", rcpt);
}

/* No AD: the TLSA records are not used; opportunistic TLS delivers. */
Test(dane, insecure_domain_is_opportunistic)
{
	opportunistic(TLS_SCRIPT, "u@ins.test");
	cr_assert(had_tls(mxrec, 1), "no opportunistic TLS%s", ev());
	cr_assert(!dns_asked("TLSA"), "TLSA looked up for an insecure "
	    "MX%s", ev());
}

/* Secure MX, insecure host addresses: no TLSA lookup (RFC 7672 §2.2.2). */
Test(dane, insecure_host_addresses_are_opportunistic)
{
	opportunistic("ext PIPELINING\n", "u@hostins.dane.test");
	cr_assert(dns_asked("hostins.dane.test MX NOERROR ad"), "%s", ev());
	cr_assert(!dns_asked("TLSA"), "TLSA looked up for a host whose "
	    "addresses are insecure%s", ev());
}

/* A secure denial of TLSA: opportunistic, plain text allowed. */
Test(dane, secure_no_tlsa_is_opportunistic)
{
	opportunistic("ext PIPELINING\n", "u@none.dane.test");
	cr_assert(dns_asked("mx1.none.dane.test TLSA NXDOMAIN ad"), "%s",
	    ev());
}

/* Secure TLSA, none usable (PKIX-*): TLS required, not authenticated. */
Test(dane, unusable_tlsa_requires_tls_without_verification)
{
	start_mx(TLS_SCRIPT, "127.0.0.2", NULL);
	send_to("u@pkix.dane.test", "-v", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", "u@pkix.dane.test");
	cr_assert(had_tls(mxrec, 1), "no TLS%s", ev());
	assert_err_has("(certificate not verified)");
}

Test(dane, unusable_tlsa_without_starttls_is_skipped)
{
	start_mx("ext PIPELINING\n", "127.0.0.2", NULL);
	send_to("u@pkix.dane.test", NULL);
	assert_deferred("u@pkix.dane.test", "STARTTLS not offered");
	assert_nothing_in_clear(mxrec, "the MX");
}

/* RFC 7672 §2.1.1: a failed TLSA lookup skips the host, never plain. */
Test(dane, tlsa_servfail_skips_the_host)
{
	start_mx(TLS_SCRIPT, "127.0.0.2", NULL);
	send_to("u@sf.dane.test", "-v", NULL);
	assert_deferred("<u@sf.dane.test>: ", "TLSA failed: server failure");
	/* -v says why the host was left, though it had no session. */
	assert_err_has("mx1.sf.dane.test *** DNS lookup of _");
	cr_assert_eq(sessions_at(mxrec, NULL), 0, "the host was tried%s",
	    ev());
}

/* Only mx_tls dane asks for DNSSEC and TLSA. */
Test(dane, dnssec_asked_only_under_dane)
{
	env_set("MXSEND_MX_TLS=opportunistic");
	opportunistic(TLS_SCRIPT, "u@bad.dane.test");
	cr_assert(!dns_asked(" do"), "DO bit sent%s", ev());
	cr_assert(!dns_asked("TLSA"), "TLSA looked up%s", ev());
}

static const char *
loaded_path(void)
{
	return pki("loaded", "");
}

/*
 * libgnutls-dane replaced by a stand-in without its functions: a host
 * with usable TLSA cannot be verified, so it is a TLS failure, never
 * plain text; a host without TLSA does not even load it.
 */
Test(dane, missing_libgnutls_dane_is_a_tls_failure)
{
	const char *b = getenv("top_builddir");
	char *s;

	env_set("LD_LIBRARY_PATH=%s/tests/integration/nodane", b ? b : ".");
	env_set("FAKELIB_LOADED=%s", loaded_path());
	start_mx(TLS_SCRIPT, "127.0.0.2", NULL);
	send_to("u@ee.dane.test", NULL);
	assert_deferred("u@ee.dane.test", "cannot load libgnutls-dane");
	assert_nothing_in_clear(mxrec, "the MX");
	s = slurp(loaded_path(), NULL);
	cr_assert(s != NULL && strstr(s, "libgnutls-dane"), "%s", ev());
	free(s);
	unlink(loaded_path());
	start_mx(TLS_SCRIPT, "127.0.0.2", NULL);
	send_to("u@ins.test", NULL);
	assert_exit(0);
	cr_assert(access(loaded_path(), F_OK) != 0,
	    "libgnutls-dane loaded without TLSA");
}

/* ------------------------------------------------- man in the middle */

/* The relay's certificate is refused: no AUTH, no MAIL, exit 75. */
static void
relay_refused(const char *cert, const char *why)
{
	start_relay(TLS_SCRIPT, cert);
	send_to("u@ins.test", NULL);
	assert_deferred("u@ins.test", why);
	cr_assert(nsess(relayrec) >= 1, "relay not tried%s", ev());
	assert_nothing_in_clear(relayrec, "the relay");
}

Test(mitm, relay_certificate_expired)
{
	make_cert("expired", NAMES_TMPL SERVER_TMPL EXPIRED_TMPL, "ca");
	relay_refused("expired", "expired");
}

Test(mitm, relay_certificate_for_another_name)
{
	make_cert("other", "cn = \"other.test\"\ndns_name = \"other.test\"\n"
	    SERVER_TMPL "expiration_days = 2\n", "ca");
	relay_refused("other", "not trusted");
}

Test(mitm, relay_certificate_self_signed)
{
	make_cert("self", NAMES_TMPL SERVER_TMPL "expiration_days = 2\n",
	    NULL);
	relay_refused("self", "not trusted");
}

Test(mitm, relay_certificate_of_an_unknown_ca)
{
	make_cert("ca2", CA_TMPL("another CA"), NULL);
	make_cert("foreign", NAMES_TMPL SERVER_TMPL "expiration_days = 2\n",
	    "ca2");
	relay_refused("foreign", "not trusted");
}

/* The pin alone decides: a CA-valid certificate with another one. */
Test(mitm, relay_pin_mismatch_with_a_valid_certificate)
{
	char fp[80];

	make_cert("self", NAMES_TMPL SERVER_TMPL "expiration_days = 2\n",
	    NULL);
	fingerprint(pki("self", ".pem"), fp, sizeof(fp));
	env_set("MXSEND_RELAY_FINGERPRINT=sha256:%s", fp);
	relay_refused("server", "fingerprint mismatch");
}

/* A refused relay passes the recipient to the next route. */
Test(mitm, relay_refused_goes_to_the_mx)
{
	make_cert("expired", NAMES_TMPL SERVER_TMPL EXPIRED_TMPL, "ca");
	start_relay(TLS_SCRIPT, "expired");
	env_set("MXSEND_ROUTE=relay mx");
	start_mx("ext PIPELINING\n", "127.0.0.2", NULL);
	send_to("u@ins.test", NULL);
	assert_exit(0);
	assert_delivered(mxrec, "127.0.0.2", "u@ins.test");
	assert_nothing_in_clear(relayrec, "the relay");
}

Test(mitm, relay_starttls_capability_removed)
{
	start_relay("ext PIPELINING\next AUTH PLAIN LOGIN\nuser user " PW
	    "\n", "server");
	send_to("u@ins.test", NULL);
	assert_deferred("u@ins.test", "does not offer STARTTLS");
	assert_nothing_in_clear(relayrec, "the relay");
}

/* relay_tls starttls without credentials: TLS is required all the same. */
Test(mitm, relay_tls_starttls_without_credentials_capability_removed)
{
	start_relay("ext PIPELINING\n", "server");
	env_set("MXSEND_RELAY=smtp://127.0.0.1:%u", relayport);
	env_set("MXSEND_RELAY_TLS=starttls");
	send_to("u@ins.test", NULL);
	assert_deferred("u@ins.test", "does not offer STARTTLS");
	assert_nothing_in_clear(relayrec, "the relay");
}

Test(mitm, relay_starttls_454)
{
	start_relay(TLS_SCRIPT "starttls reply 454 4.7.0 Not now\n",
	    "server");
	send_to("u@ins.test", NULL);
	assert_deferred("u@ins.test", "454 4.7.0");
	assert_nothing_in_clear(relayrec, "the relay");
}

Test(mitm, relay_starttls_then_plain_text)
{
	start_relay(TLS_SCRIPT "starttls-plain\n", "server");
	send_to("u@ins.test", NULL);
	assert_deferred("u@ins.test", "TLS handshake");
	assert_nothing_in_clear(relayrec, "the relay");
	cr_assert_eq(nsess(relayrec), 1, "retried in plain text%s", ev());
}

/* RFC 8996: a relay that speaks only TLS 1.0 and 1.1 gets no secret. */
Test(mitm, relay_with_tls_1_1_at_most_is_refused)
{
	start_relay(TLS_SCRIPT
	    "tls-priority NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0\n",
	    "server");
	send_to("u@ins.test", NULL);
	assert_deferred("u@ins.test", "TLS 1.2 or later is required");
	assert_nothing_in_clear(relayrec, "the relay");
}

/* mx_tls required: STARTTLS stripped in each way; nothing in clear. */
static const char *const stripped[] = {
	"ext PIPELINING\n",
	"ext PIPELINING\next STARTTLS\nstarttls reply 454 4.7.0 No\n",
	"ext PIPELINING\next STARTTLS\nstarttls-plain\n",
};

static void
required_stripped(const char *script)
{
	env_set("MXSEND_MX_TLS=required");
	start_mx(script, "127.0.0.2", NULL);
	send_to("u@ins.test", NULL);
	assert_deferred("u@ins.test", NULL);
	assert_nothing_in_clear(mxrec, "the MX");
	cr_assert_eq(sessions_at(mxrec, NULL), 1, "retried in plain text%s",
	    ev());
}

Test(mitm, mx_tls_required_starttls_capability_removed)
{
	required_stripped(stripped[0]);
}

Test(mitm, mx_tls_required_starttls_454)
{
	required_stripped(stripped[1]);
}

Test(mitm, mx_tls_required_starttls_then_plain_text)
{
	required_stripped(stripped[2]);
}

/* ------------------------------------------- TLS state in the log line */

TestSuite(tlslog, .init = setup, .fini = teardown);

/*
 * The log line of rcpt (SPEC §6) holds want; under -v, stderr holds
 * note (NULL: nothing to check there).
 */
static void
assert_tls_logged(const char *rcpt, const char *want, const char *note)
{
	char *log = slurp(logpath, NULL), key[200];
	const char *l;

	snprintf(key, sizeof(key), "to=<%s>", rcpt);
	l = log != NULL ? line_with(log, key) : NULL;
	cr_assert(l != NULL && strstr(l, "status=sent (") != NULL &&
	    strstr(l, want) != NULL, "the log line lacks \"%s\":\n%s%s",
	    want, log != NULL ? log : "(no log)", ev());
	free(log);
	if (note != NULL)
		assert_err_has(note);
}

/* One message through an MX with script under mx_tls tls, delivered. */
static void
deliver_with(const char *tls, const char *script, const char *opt)
{
	env_set("MXSEND_MX_TLS=%s", tls);
	start_mx(script, "127.0.0.2", NULL);
	send_to("u@ins.test", opt, NULL);
	assert_exit(0);
}

/* Opportunistic TLS: the line names the protocol and the cipher. */
Test(tlslog, opportunistic_tls_is_named)
{
	deliver_with("opportunistic", TLS_SCRIPT, NULL);
	assert_tls_logged("u@ins.test", "), tls=TLSv1.", NULL);
	assert_tls_logged("u@ins.test", " with cipher ", NULL);
}

/* Issue 18: STARTTLS missing, refused or broken; the mail went in clear. */
Test(tlslog, starttls_not_offered_says_plain_text)
{
	deliver_with("opportunistic", stripped[0], "-v");
	assert_tls_logged("u@ins.test",
	    "), tls=none: STARTTLS not offered, plain text",
	    "*** STARTTLS not offered; delivering in plain text");
	/* -v shows the same log line. */
	assert_err_has("mxsend/smtp[");
	assert_err_has("tls=none: STARTTLS not offered, plain text");
}

Test(tlslog, starttls_refused_says_plain_text)
{
	deliver_with("opportunistic", stripped[1], "-v");
	assert_tls_logged("u@ins.test", "tls=none: STARTTLS refused: 454 "
	    "4.7.0 No, plain text", "STARTTLS refused: 454 4.7.0 No; "
	    "delivering in plain text");
}

/* The server's parentheses stay out of tls= (pflogsumm's reason). */
Test(tlslog, tls_field_holds_no_parenthesis)
{
	deliver_with("opportunistic", "ext STARTTLS\nstarttls reply 454 4.7.0 "
	    "TLS not available (try later)\n", NULL);
	assert_tls_logged("u@ins.test", "tls=none: STARTTLS refused: 454 "
	    "4.7.0 TLS not available [try later], plain text", NULL);
}

Test(tlslog, starttls_failed_says_why_and_plain_text)
{
	deliver_with("opportunistic", stripped[2], "-v");
	assert_tls_logged("u@ins.test", "tls=none: STARTTLS failed: ",
	    "; delivering in plain text");
	assert_tls_logged("u@ins.test", ", plain text", NULL);
}

/* mx_tls off: said as such, not as a failure. */
Test(tlslog, mx_tls_off_is_named)
{
	deliver_with("off", TLS_SCRIPT, NULL);
	assert_tls_logged("u@ins.test", "), tls=off", NULL);
	cr_assert(!had_tls(mxrec, 1), "TLS with mx_tls off%s", ev());
}
