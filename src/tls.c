/*
 * tls.c: TLS on an SMTP connection through GnuTLS, the only file that
 * includes it: STARTTLS (RFC 3207) and implicit TLS (RFC 8314 §3.3) share
 * one client handshake. Certificates are checked against a trust store
 * and the server's name as RFC 6125 asks (GnuTLS does the matching), or
 * pinned by the SHA-256 of the certificate's DER, or matched against an MX
 * host's TLSA records (DANE, RFC 7672, through libgnutls-dane), or not at
 * all for opportunistic MX delivery (RFC 7435). The hashes behind SCRAM (RFC 5802,
 * RFC 7677) and CRAM-MD5 (RFC 2195) live here too, so that sasl.c does not
 * see GnuTLS, and so do DKIM's primitives (dkim.c): SHA-256 in pieces,
 * private keys, rsa-sha256 (RFC 6376 §3.3.1) and ed25519-sha256 (RFC 8463)
 * signatures, the public key for the DNS record, and key generation.
 *
 * Everything is lazy (SPEC §9): GnuTLS is not even linked. Its headers
 * give the types, but the library is opened with dlopen(3) by the first
 * call that needs it and every function is called through one table of
 * pointers, so that a plain-text run does not pay the dynamic loader's
 * relocation of GnuTLS and its dependencies (72% of the start-up's
 * instructions when it was linked). A note in .note.dlopen names the
 * library for packagers, as systemd's optional libraries do;
 * libgnutls-dane is opened the same way, by the first DANE check. The system
 * trust store is read only for the first session that verifies against
 * it. The credentials are loaded once per process
 * under pthread_once, since delivery workers may be threads, and are then
 * only read.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/dane.h>
#include <gnutls/x509.h>

#include "dlnote.h"
#include "dns.h"
#include "net.h"
#include "tls.h"
#include "util.h"

#define BYE_MS		1000	/* net.h: close_notify within 1 s */
#define NONFATAL_MAX	16	/* warning alerts tolerated in a row */
#define CHAIN_MAX	16	/* certificates of a chain checked for DANE */

struct tls_conn {
	gnutls_session_t		 s;
	/* Credentials from ca_file, owned by this session; or NULL. */
	gnutls_certificate_credentials_t own;
	int				 fd;
	enum tls_verify			 verify;
	char				 dane[64];	/* the record matched */
};

#define GNUTLS_SONAME	"libgnutls.so.30"
#define DANE_SONAME	"libgnutls-dane.so.0"

DLNOTE(gnutls_note, "[{\"feature\":\"tls\",\"description\":\"STARTTLS and "
    "implicit TLS with relays and MX hosts, SCRAM and CRAM-MD5 "
    "hashes, DKIM signing\",\"priority\":\"recommended\","
    "\"soname\":[\"" GNUTLS_SONAME "\"]}]");
DLNOTE(dane_note, "[{\"feature\":\"dane\",\"description\":\"DANE "
    "verification of MX hosts (mx_tls dane)\",\"priority\":\"suggested\","
    "\"soname\":[\"" DANE_SONAME "\"]}]");

/*
 * Every GnuTLS function tls.c calls, as gt.<name> for gnutls_<name>; the
 * types come from the headers, so a call through the table is checked
 * as a direct call would be.
 */
#define GNUTLS_FUNCS(X)							\
	X(global_init)							\
	X(strerror)							\
	X(error_is_fatal)						\
	X(certificate_allocate_credentials)				\
	X(certificate_free_credentials)					\
	X(certificate_set_x509_system_trust)				\
	X(certificate_set_x509_trust_file)				\
	X(certificate_get_peers)					\
	X(certificate_type_get)						\
	X(certificate_verification_status_print)			\
	X(session_get_verify_cert_status)				\
	X(session_set_verify_cert)					\
	X(session_get_desc)						\
	X(init)								\
	X(deinit)							\
	X(set_default_priority)						\
	X(credentials_set)						\
	X(server_name_set)						\
	X(transport_set_int2)						\
	X(handshake)							\
	X(handshake_set_timeout)					\
	X(record_get_direction)						\
	X(record_recv)							\
	X(record_send)							\
	X(record_check_pending)						\
	X(bye)								\
	X(protocol_get_name)						\
	X(protocol_get_version)						\
	X(hash_fast)							\
	X(hmac_fast)							\
	X(pbkdf2)							\
	X(rnd)								\
	X(x509_crt_init)						\
	X(x509_crt_deinit)						\
	X(x509_crt_import)						\
	X(x509_trust_list_init)						\
	X(x509_trust_list_deinit)					\
	X(x509_trust_list_add_cas)					\
	X(x509_trust_list_verify_crt2)					\
	X(hash_init)							\
	X(hash)								\
	X(hash_deinit)							\
	X(privkey_init)							\
	X(privkey_deinit)						\
	X(privkey_import_x509_raw)					\
	X(privkey_get_pk_algorithm)					\
	X(privkey_sign_hash2)						\
	X(privkey_sign_data2)						\
	X(pubkey_init)							\
	X(pubkey_deinit)						\
	X(pubkey_import_privkey)					\
	X(pubkey_export2)						\
	X(x509_privkey_init)						\
	X(x509_privkey_deinit)						\
	X(x509_privkey_generate)					\
	X(x509_privkey_export2_pkcs8)

#define GT_FIELD(f)	__typeof__(gnutls_##f) *f;
#define GT_ENTRY(f)	{ "gnutls_" #f, offsetof(struct gnutls_table, f) },

static struct gnutls_table {
	GNUTLS_FUNCS(GT_FIELD)
	/* Optional: 3.7.4 and later (the soname is older). */
#if GNUTLS_VERSION_NUMBER >= 0x030704
	__typeof__(gnutls_ciphersuite_get) *ciphersuite_get;
#endif
	/* gnutls_free is a variable holding the deallocator. */
	gnutls_free_function	*free_fn;
} gt;

struct sym {
	const char	*name;
	size_t		 off;
};

static const struct sym gt_names[] = {
	GNUTLS_FUNCS(GT_ENTRY)
};

/* The libgnutls-dane functions, as dt.<name> for dane_<name>. */
#define DANE_FUNCS(X)							\
	X(state_init)							\
	X(state_deinit)							\
	X(raw_tlsa)							\
	X(verify_crt_raw)						\
	X(query_deinit)							\
	X(strerror)

#define DT_FIELD(f)	__typeof__(dane_##f) *f;
#define DT_ENTRY(f)	{ "dane_" #f, offsetof(struct dane_table, f) },

static struct dane_table {
	DANE_FUNCS(DT_FIELD)
} dt;

static const struct sym dt_names[] = {
	DANE_FUNCS(DT_ENTRY)
};

static pthread_once_t	 dane_once = PTHREAD_ONCE_INIT;
static char		*dane_err;	/* why it could not be loaded */

static pthread_once_t	 base_once = PTHREAD_ONCE_INIT;
static atomic_int	 base_done;
static int		 base_err;
/* Why GnuTLS could not be loaded (base_err is then E_LOAD), or NULL. */
static char		*load_err;

/* Not a GnuTLS code: they are all small negative numbers. */
#define E_LOAD		INT_MIN

/* For sessions that do not verify, or pin: no trust anchors at all. */
static pthread_once_t	 bare_once = PTHREAD_ONCE_INIT;
static gnutls_certificate_credentials_t bare_cred;
static int		 bare_err;

static pthread_once_t	 sys_once = PTHREAD_ONCE_INIT;
static gnutls_certificate_credentials_t sys_cred;
static int		 sys_err;

/*
 * Open soname and fill table (zeroed first) with names[0..n). Returns the
 * handle, or NULL with *err saying why: "cannot load WHAT: " and
 * dlerror()'s text.
 */
static void *
open_lib(const char *soname, const char *what, const struct sym *names,
    size_t n, void *table, char **err)
{
	const char	*e;
	void		*h, *f;
	size_t		 i;

	/*
	 * RTLD_LAZY: binding every call GnuTLS and its libraries could make
	 * (RTLD_NOW) cost 0.43 M instructions per TLS run, most of them for
	 * calls never made; the table below still fails at once if one of
	 * ours is missing.
	 * RTLD_NODELETE: its exit-time destructor must find it mapped.
	 */
	h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL | RTLD_NODELETE);
	if (h == NULL)
		goto bad;
	for (i = 0; i < n; i++) {
		(void)dlerror();
		if ((f = dlsym(h, names[i].name)) == NULL) {
			e = dlerror();
			*err = xasprintf("cannot load %s: %s", what,
			    e != NULL ? e : soname);
			dlclose(h);
			return NULL;
		}
		/* POSIX: a dlsym() result converts to a function pointer. */
		memcpy((char *)table + names[i].off, &f, sizeof(f));
	}
	return h;
bad:
	e = dlerror();
	*err = xasprintf("cannot load %s: %s", what, e != NULL ? e : soname);
	return NULL;
}

/*
 * Open GnuTLS and fill the table. On failure the table stays empty and
 * load_err says why, with the library's name and dlerror()'s text.
 */
static int
load(void)
{
	struct gnutls_table	 t;
	void			*h, *f;

	memset(&t, 0, sizeof(t));
	h = open_lib(GNUTLS_SONAME, "GnuTLS", gt_names,
	    sizeof(gt_names) / sizeof(gt_names[0]), &t, &load_err);
	if (h == NULL)
		return -1;
	(void)dlerror();
	if ((f = dlsym(h, "gnutls_free")) == NULL) {
		const char *e = dlerror();

		load_err = xasprintf("cannot load GnuTLS: %s",
		    e != NULL ? e : GNUTLS_SONAME);
		dlclose(h);
		return -1;
	}
	t.free_fn = f;
#if GNUTLS_VERSION_NUMBER >= 0x030704
	if ((f = dlsym(h, "gnutls_ciphersuite_get")) != NULL)
		memcpy(&t.ciphersuite_get, &f, sizeof(f));
#endif
	gt = t;
	return 0;
}

static void
dane_init(void)
{
	struct dane_table	 t;

	memset(&t, 0, sizeof(t));
	if (open_lib(DANE_SONAME, "libgnutls-dane", dt_names,
	    sizeof(dt_names) / sizeof(dt_names[0]), &t, &dane_err) != NULL)
		dt = t;
}

static void
base_init(void)
{
	if (load() == -1)
		base_err = E_LOAD;
	else
		/* Implicit since GnuTLS 3.3, but explicit costs nothing. */
		base_err = gt.global_init();
	atomic_store(&base_done, 1);
}

/* Text for a GnuTLS error code, or for the failure to load it. */
static const char *
errstr(int r)
{
	return r == E_LOAD ? load_err : gt.strerror(r);
}

static int
base(void)
{
	pthread_once(&base_once, base_init);
	return base_err;
}

static void
bare_init(void)
{
	if ((bare_err = base()) < 0)
		return;
	bare_err = gt.certificate_allocate_credentials(&bare_cred);
}

static void
sys_init(void)
{
	int	 n;

	if ((sys_err = base()) < 0)
		return;
	if ((sys_err = gt.certificate_allocate_credentials(&sys_cred)) < 0)
		return;
	n = gt.certificate_set_x509_system_trust(sys_cred);
	if (n == 0)
		n = GNUTLS_E_NO_CERTIFICATE_FOUND;
	sys_err = n < 0 ? n : 0;
}

int
tls_initialised(void)
{
	return atomic_load(&base_done);
}

/* An address is not a host name: SNI must not carry it (RFC 6066 §3). */
static int
is_ip_literal(const char *s)
{
	unsigned char	 b[sizeof(struct in6_addr)];

	return s[0] == '[' || inet_pton(AF_INET, s, b) == 1 ||
	    inet_pton(AF_INET6, s, b) == 1;
}

static void
free_conn(struct tls_conn *t)
{
	if (t->s != NULL)
		gt.deinit(t->s);
	if (t->own != NULL)
		gt.certificate_free_credentials(t->own);
	free(t);
}

static int
credentials(struct tls_conn *t, const struct tls_params *p, const char *name,
    char *err, size_t errlen, gnutls_certificate_credentials_t *out)
{
	int	 r;

	if (p->verify != TLS_VERIFY_CHAIN) {
		pthread_once(&bare_once, bare_init);
		if (bare_err < 0) {
			snprintf(err, errlen, "TLS with %s: %s", name,
			    errstr(bare_err));
			return -1;
		}
		*out = bare_cred;
		return 0;
	}
	if (p->ca_file == NULL) {
		pthread_once(&sys_once, sys_init);
		if (sys_err < 0) {
			snprintf(err, errlen, "certificate of %s cannot be "
			    "verified: system trust store: %s", name,
			    errstr(sys_err));
			return -1;
		}
		*out = sys_cred;
		return 0;
	}
	/* A CA file serves one relay: loaded for its session only. */
	if ((r = gt.certificate_allocate_credentials(&t->own)) < 0) {
		snprintf(err, errlen, "TLS with %s: %s", name,
		    errstr(r));
		return -1;
	}
	r = gt.certificate_set_x509_trust_file(t->own, p->ca_file,
	    GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		snprintf(err, errlen, "certificate of %s cannot be verified: "
		    "%s: %s", name, p->ca_file, r == 0 ?
		    "no certificates" : errstr(r));
		return -1;
	}
	*out = t->own;
	return 0;
}

static int
check_pin(struct tls_conn *t, const unsigned char *pin, const char *name,
    char *err, size_t errlen)
{
	const gnutls_datum_t	*certs;
	unsigned char		 d[32];
	char			 hex[sizeof(d) * 3];
	unsigned		 n = 0;
	size_t			 i;

	certs = gt.certificate_get_peers(t->s, &n);
	if (certs == NULL || n == 0) {
		snprintf(err, errlen, "%s sent no certificate", name);
		return -1;
	}
	if (gt.hash_fast(GNUTLS_DIG_SHA256, certs[0].data, certs[0].size,
	    d) < 0) {
		snprintf(err, errlen, "certificate of %s: cannot hash it",
		    name);
		return -1;
	}
	if (ct_equal(d, pin, sizeof(d)))
		return 0;
	/* As openssl x509 -fingerprint prints it, to paste into the config. */
	for (i = 0; i < sizeof(d); i++)
		snprintf(hex + i * 3, sizeof(hex) - i * 3, "%02X%s", d[i],
		    i + 1 < sizeof(d) ? ":" : "");
	snprintf(err, errlen, "certificate fingerprint mismatch for %s "
	    "(got sha256:%s)", name, hex);
	return -1;
}

/* RFC 7218's names of a record: "DANE-EE(3) SPKI(1) SHA2-256(1)". */
static void
tlsa_name(const struct tlsa_rr *r, char *out, size_t outlen)
{
	static const char *const mtypes[] = { "Full", "SHA2-256", "SHA2-512" };

	snprintf(out, outlen, "%s(%u) %s(%u) %s(%u)",
	    r->usage == 2 ? "DANE-TA" : "DANE-EE", r->usage,
	    r->selector == 0 ? "Cert" : "SPKI", r->selector,
	    r->mtype < 3 ? mtypes[r->mtype] : "?", r->mtype);
}

/*
 * Whether the certificate cert matches the association data of r (its
 * selector and matching type), as libgnutls-dane computes it: r is handed
 * to it as a DANE-EE record for a chain of this one certificate. Returns
 * 1, 0, or -1 with err.
 */
static int
dane_match(dane_state_t st, const gnutls_datum_t *cert,
    const struct tlsa_rr *r, char *err, size_t errlen)
{
	dane_query_t	 q = NULL;
	unsigned char	*rd;
	char		*data[2];
	int		 len[2], rc;
	unsigned	 status = 0;

	if (r->len > INT_MAX - 3) {
		snprintf(err, errlen, "TLSA record too long");
		return -1;
	}
	rd = xmalloc(r->len + 3);
	rd[0] = 3;
	rd[1] = r->selector;
	rd[2] = r->mtype;
	memcpy(rd + 3, r->data, r->len);
	data[0] = (char *)rd;
	data[1] = NULL;
	len[0] = (int)r->len + 3;
	len[1] = 0;
	/* Secure: dns.c believed the AD bit, or there is no record here. */
	rc = dt.raw_tlsa(st, &q, data, len, 1, 0);
	if (rc == DANE_E_SUCCESS)
		rc = dt.verify_crt_raw(st, cert, 1, GNUTLS_CRT_X509, q, 0,
		    DANE_VFLAG_FAIL_IF_NOT_CHECKED, &status);
	if (q != NULL)
		dt.query_deinit(q);
	free(rd);
	if (rc != DANE_E_SUCCESS) {
		snprintf(err, errlen, "DANE check: %s", dt.strerror(rc));
		return -1;
	}
	return status == 0;
}

/* Import certs[0..n) (DER) into crts; returns the number imported. */
static unsigned
import_chain(const gnutls_datum_t *certs, unsigned n, gnutls_x509_crt_t *crts)
{
	unsigned	 i;

	for (i = 0; i < n; i++) {
		if (gt.x509_crt_init(&crts[i]) < 0)
			break;
		if (gt.x509_crt_import(crts[i], &certs[i],
		    GNUTLS_X509_FMT_DER) < 0) {
			gt.x509_crt_deinit(crts[i]);
			break;
		}
	}
	return i;
}

/*
 * DANE-TA(2): certs[ta] is the trust anchor; the chain below it must
 * verify up to it, dates included, with name as the reference identifier
 * (RFC 7672 §3.2.2). Returns 0, or -1 with why.
 */
static int
ta_chain(const gnutls_datum_t *certs, unsigned ta, const char *name,
    char *why, size_t whylen)
{
	gnutls_x509_crt_t		 crts[CHAIN_MAX], anchor;
	gnutls_x509_trust_list_t	 tl;
	gnutls_typed_vdata_st		 vd;
	gnutls_datum_t			 out = { NULL, 0 };
	unsigned			 n, i, status = 0;
	size_t				 len;
	int				 rc = -1;

	if ((n = import_chain(certs, ta, crts)) < ta ||
	    import_chain(&certs[ta], 1, &anchor) != 1) {
		snprintf(why, whylen, "a certificate of the chain cannot be "
		    "read");
		goto done;
	}
	if (gt.x509_trust_list_init(&tl, 0) < 0) {
		gt.x509_crt_deinit(anchor);
		snprintf(why, whylen, "out of memory");
		goto done;
	}
	/* The list owns the anchor from here on. */
	(void)gt.x509_trust_list_add_cas(tl, &anchor, 1, 0);
	memset(&vd, 0, sizeof(vd));
	vd.type = GNUTLS_DT_DNS_HOSTNAME;
	vd.data = (unsigned char *)(uintptr_t)name;
	rc = gt.x509_trust_list_verify_crt2(tl, crts, ta, &vd, 1, 0, &status,
	    NULL);
	gt.x509_trust_list_deinit(tl, 1);
	if (rc < 0 || status != 0) {
		if (rc >= 0 && gt.certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &out, 0) >= 0 && out.data != NULL) {
			len = strlen((char *)out.data);
			while (len > 0 && out.data[len - 1] == ' ')
				out.data[--len] = '\0';
			snprintf(why, whylen, "%s", (char *)out.data);
			(*gt.free_fn)(out.data);
		} else
			snprintf(why, whylen, "%s", errstr(rc < 0 ? rc :
			    GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR));
		rc = -1;
	}
done:
	for (i = 0; i < n; i++)
		gt.x509_crt_deinit(crts[i]);
	return rc;
}

/*
 * Record r against the chain: 1 when it matches (DANE-TA: and the chain
 * to it verifies), 0 when not (why says so for a DANE-TA whose anchor was
 * found), -1 on an error (why).
 */
static int
dane_record(dane_state_t st, const gnutls_datum_t *certs, unsigned n,
    const struct tlsa_rr *r, const char *name, char *why, size_t whylen)
{
	unsigned	 j;
	int		 m;

	if (r->usage == 3)
		return dane_match(st, &certs[0], r, why, whylen);
	/* DANE-TA: the anchor is above the leaf, in the chain sent. */
	for (j = 1; j < n; j++) {
		if ((m = dane_match(st, &certs[j], r, why, whylen)) != 1)
			continue;
		return ta_chain(certs, j, name, why, whylen) == 0 ? 1 : 0;
	}
	return 0;
}

/* Run r over the records; the first that matches is named in t->dane. */
static int
dane_records(struct tls_conn *t, dane_state_t st, const gnutls_datum_t *certs,
    unsigned n, const struct tls_params *p, const char *name, char *err,
    size_t errlen)
{
	char	 why[256] = "", rname[64];
	size_t	 i;
	int	 m;

	for (i = 0; i < p->ntlsa; i++) {
		char one[256] = "";

		m = dane_record(st, certs, n, &p->tlsa[i], name, one,
		    sizeof(one));
		if (m == 1) {
			tlsa_name(&p->tlsa[i], t->dane, sizeof(t->dane));
			return 0;
		}
		if (one[0] != '\0' && why[0] == '\0') {
			tlsa_name(&p->tlsa[i], rname, sizeof(rname));
			snprintf(why, sizeof(why), " (%.60s: %.180s)", rname,
			    one);
		}
	}
	snprintf(err, errlen, "TLSA mismatch for %s: the certificate chain "
	    "matches none of its %zu usable TLSA record%s%s", name, p->ntlsa,
	    p->ntlsa == 1 ? "" : "s", why);
	return -1;
}

/* The peer's chain against p's TLSA records (tls.h, TLS_VERIFY_DANE). */
static int
check_dane(struct tls_conn *t, const struct tls_params *p, const char *name,
    char *err, size_t errlen)
{
	const gnutls_datum_t	*certs;
	dane_state_t		 st;
	unsigned		 n = 0;
	int			 rc;

	pthread_once(&dane_once, dane_init);
	if (dane_err != NULL) {
		snprintf(err, errlen, "TLS with %s: %s", name, dane_err);
		return -1;
	}
	certs = gt.certificate_get_peers(t->s, &n);
	if (certs == NULL || n == 0 || p->ntlsa == 0) {
		snprintf(err, errlen, "TLSA mismatch for %s: %s", name,
		    p->ntlsa == 0 ? "no usable TLSA record" :
		    "it sent no certificate");
		return -1;
	}
	if (n > CHAIN_MAX)
		n = CHAIN_MAX;
	/* No resolver, no root key: the records come from dns.c. */
	rc = dt.state_init(&st, DANE_F_IGNORE_LOCAL_RESOLVER |
	    DANE_F_IGNORE_DNSSEC);
	if (rc != DANE_E_SUCCESS) {
		snprintf(err, errlen, "TLS with %s: DANE: %s", name,
		    dt.strerror(rc));
		return -1;
	}
	rc = dane_records(t, st, certs, n, p, name, err, errlen);
	dt.state_deinit(st);
	return rc;
}

static void
verify_failure(struct tls_conn *t, const char *name, char *err, size_t errlen)
{
	gnutls_datum_t	 out = { NULL, 0 };
	unsigned	 status;
	size_t		 n;

	status = gt.session_get_verify_cert_status(t->s);
	if (gt.certificate_verification_status_print(status,
	    gt.certificate_type_get(t->s), &out, 0) < 0 ||
	    out.data == NULL) {
		snprintf(err, errlen, "certificate of %s not trusted", name);
		return;
	}
	n = strlen((char *)out.data);
	while (n > 0 && out.data[n - 1] == ' ')
		out.data[--n] = '\0';
	snprintf(err, errlen, "certificate of %s not trusted: %s", name,
	    (char *)out.data);
	(*gt.free_fn)(out.data);
}

/* The non-blocking handshake, bounded by end and c's deadline. */
static int
handshake(struct conn *c, struct tls_conn *t, const char *name,
    unsigned timeout, int64_t end)
{
	enum net_status	 st;
	char		 why[64];
	int		 r, nonfatal = 0;

	for (;;) {
		r = gt.handshake(t->s);
		if (r == GNUTLS_E_SUCCESS)
			return 0;
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED) {
			/* Warning alerts, such as unrecognized_name. */
			if (!gt.error_is_fatal(r) &&
			    ++nonfatal < NONFATAL_MAX)
				continue;
			break;
		}
		st = net_wait(c, gt.record_get_direction(t->s), end);
		if (st == NET_OK)
			continue;
		if (st == NET_TIMEOUT)
			snprintf(why, sizeof(why), "timed out after %u s",
			    timeout);
		else if (st == NET_DEADLINE)
			snprintf(why, sizeof(why), "deadline reached");
		else
			snprintf(why, sizeof(why), "poll: %s", strerror(errno));
		snprintf(c->err, sizeof(c->err), "TLS handshake with %s (%s): "
		    "%s", name, c->peer, why);
		return -1;
	}
	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
		verify_failure(t, name, c->err, sizeof(c->err));
	else
		snprintf(c->err, sizeof(c->err), "TLS handshake with %s (%s) "
		    "failed: %s", name, c->peer, errstr(r));
	return -1;
}

/*
 * RFC 8996: TLS 1.0 and 1.1 are refused when p asks (the relay), after
 * the handshake and before any command. The priority stays the system's
 * default (RFC 7435: any encryption beats none for an MX host); with
 * both ends able to do better, TLS 1.3's downgrade protection (RFC 8446
 * §4.1.3) keeps a man in the middle from forcing an old version.
 * (gnutls_set_default_priority_append() would say the same before the
 * handshake, but made LeakSanitizer's tracer crash at exit.)
 */
static int
check_version(struct tls_conn *t, const struct tls_params *p,
    const char *name, char *err, size_t errlen)
{
	gnutls_protocol_t	 v = gt.protocol_get_version(t->s);
	const char		*s;

	if (!p->tls12 || v >= GNUTLS_TLS1_2)
		return 0;
	s = gt.protocol_get_name(v);
	snprintf(err, errlen, "TLS with %s: %s negotiated, TLS 1.2 or later "
	    "is required", name, s != NULL ? s : "an old version");
	return -1;
}

int
tls_start(struct conn *c, const struct tls_params *p, unsigned timeout)
{
	gnutls_certificate_credentials_t	 cred;
	struct tls_conn				*t;
	const char				*name;
	int64_t					 end;
	int					 r;

	end = net_stage_end(timeout);
	name = p->sni != NULL && p->sni[0] != '\0' ? p->sni : c->peer;
	c->err[0] = '\0';
	if (c->tls != NULL) {
		snprintf(c->err, sizeof(c->err), "TLS with %s: already active",
		    name);
		return -1;
	}
	if (p->verify == TLS_VERIFY_PIN && p->pin == NULL) {
		snprintf(c->err, sizeof(c->err), "TLS with %s: no fingerprint "
		    "to pin", name);
		return -1;
	}
	if ((r = base()) < 0) {
		snprintf(c->err, sizeof(c->err), "TLS with %s: %s", name,
		    errstr(r));
		return -1;
	}
	t = xcalloc(1, sizeof(*t));
	t->fd = c->fd;
	t->verify = p->verify;
	if (credentials(t, p, name, c->err, sizeof(c->err), &cred) == -1)
		goto bad;

	r = gt.init(&t->s, GNUTLS_CLIENT | GNUTLS_NONBLOCK |
	    GNUTLS_NO_SIGNAL);
	if (r < 0) {
		t->s = NULL;
		goto gnutls_bad;
	}
	if ((r = gt.set_default_priority(t->s)) < 0 ||
	    (r = gt.credentials_set(t->s, GNUTLS_CRD_CERTIFICATE,
	    cred)) < 0)
		goto gnutls_bad;
	if (p->sni != NULL && p->sni[0] != '\0' && !is_ip_literal(p->sni) &&
	    (r = gt.server_name_set(t->s, GNUTLS_NAME_DNS, p->sni,
	    strlen(p->sni))) < 0)
		goto gnutls_bad;
	/* An IP literal is matched against the iPAddress names. */
	if (p->verify == TLS_VERIFY_CHAIN)
		gt.session_set_verify_cert(t->s, name, 0);
	gt.transport_set_int2(t->s, c->fd, c->fd);
	/* Our own poll() enforces the time-out and the deadline. */
	gt.handshake_set_timeout(t->s, GNUTLS_INDEFINITE_TIMEOUT);

	if (handshake(c, t, name, timeout, end) == -1 ||
	    check_version(t, p, name, c->err, sizeof(c->err)) == -1)
		goto bad;
	if (p->verify == TLS_VERIFY_PIN &&
	    check_pin(t, p->pin, name, c->err, sizeof(c->err)) == -1)
		goto bad;
	if (p->verify == TLS_VERIFY_DANE &&
	    check_dane(t, p, name, c->err, sizeof(c->err)) == -1)
		goto bad;
	c->tls = t;
	return 0;

gnutls_bad:
	snprintf(c->err, sizeof(c->err), "TLS with %s: %s", name,
	    errstr(r));
bad:
	free_conn(t);
	return -1;
}

/* Shared by read and write: GnuTLS's verdict as net.c wants it. */
static ssize_t
record_result(struct tls_conn *t, ssize_t r, int *again, int *want_write,
    char *err, size_t errlen)
{
	*again = 0;
	if (r >= 0)
		return r;
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
		*again = 1;
		*want_write = gt.record_get_direction(t->s);
		return -1;
	}
	/* A server that drops TCP without close_notify is merely gone. */
	if (r == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	snprintf(err, errlen, "TLS: %s", errstr((int)r));
	return -1;
}

ssize_t
tls_read(struct tls_conn *t, void *p, size_t n, int *again, int *want_write,
    char *err, size_t errlen)
{
	ssize_t	 r;
	int	 i;

	for (i = 0; i < NONFATAL_MAX; i++) {
		r = gt.record_recv(t->s, p, n);
		/* Warning alerts and renegotiation requests are ignored. */
		if (r < 0 && r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED &&
		    !gt.error_is_fatal((int)r))
			continue;
		return record_result(t, r, again, want_write, err, errlen);
	}
	*again = 0;
	snprintf(err, errlen, "TLS: too many warning alerts");
	return -1;
}

ssize_t
tls_write(struct tls_conn *t, const void *p, size_t n, int *again,
    int *want_write, char *err, size_t errlen)
{
	ssize_t	 r;

	/* After E_AGAIN GnuTLS wants the same data again; net.c does so. */
	r = gt.record_send(t->s, p, n);
	if (r == GNUTLS_E_PREMATURE_TERMINATION) {
		*again = 0;
		snprintf(err, errlen, "TLS: %s", errstr((int)r));
		return -1;
	}
	return record_result(t, r, again, want_write, err, errlen);
}

size_t
tls_pending(const struct tls_conn *t)
{
	return gt.record_check_pending(t->s);
}


void
tls_end(struct tls_conn *t)
{
	struct pollfd	 pfd;
	int64_t		 end, left;
	int		 r, i;

	if (t == NULL)
		return;
	end = mono_ms() + BYE_MS;
	for (i = 0; i < NONFATAL_MAX; i++) {
		r = gt.bye(t->s, GNUTLS_SHUT_WR);
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
			break;
		if ((left = end - mono_ms()) <= 0)
			break;
		pfd.fd = t->fd;
		pfd.events = gt.record_get_direction(t->s) ? POLLOUT :
		    POLLIN;
		if (poll(&pfd, 1, (int)left) == 0)
			break;
	}
	free_conn(t);
}

void
tls_describe(const struct tls_conn *t, char *out, size_t outlen)
{
	const char	*proto, *suite = NULL, *how, *pre = "";
	char		*desc = NULL;

	if (t == NULL) {
		snprintf(out, outlen, "no TLS");
		return;
	}
	proto = gt.protocol_get_name(gt.protocol_get_version(t->s));
	if (proto == NULL)
		proto = "TLS";
#if GNUTLS_VERSION_NUMBER >= 0x030704
	suite = gt.ciphersuite_get != NULL ? gt.ciphersuite_get(t->s) : NULL;
#endif
	if (suite == NULL)
		suite = desc = gt.session_get_desc(t->s);
	if (suite == NULL)
		suite = "unknown";
	switch (t->verify) {
	case TLS_VERIFY_CHAIN:
		how = "certificate verified";
		break;
	case TLS_VERIFY_PIN:
		how = "certificate fingerprint matched";
		break;
	case TLS_VERIFY_DANE:
		pre = "dane verified: ";
		how = t->dane;
		break;
	default:
		how = "certificate not verified";
		break;
	}
	/* "TLSv1.3" as Postfix and OpenSSL write it, not GnuTLS's "TLS1.3". */
	if (strncmp(proto, "TLS", 3) == 0 && proto[3] != 'v')
		snprintf(out, outlen, "TLSv%s with cipher %s (%s%s)",
		    proto + 3, suite, pre, how);
	else
		snprintf(out, outlen, "%s with cipher %s (%s%s)", proto,
		    suite, pre, how);
	if (desc != NULL)
		(*gt.free_fn)(desc);
}

int
tls_sha256(const void *p, size_t n, unsigned char out[32])
{
	if (base() < 0)
		return -1;
	return gt.hash_fast(GNUTLS_DIG_SHA256, p, n, out) < 0 ? -1 : 0;
}

int
tls_hmac_sha256(const void *key, size_t keylen, const void *msg,
    size_t msglen, unsigned char out[32])
{
	if (base() < 0)
		return -1;
	return gt.hmac_fast(GNUTLS_MAC_SHA256, key, keylen, msg, msglen,
	    out) < 0 ? -1 : 0;
}

int
tls_hmac_md5(const void *key, size_t keylen, const void *msg,
    size_t msglen, unsigned char out[16])
{
	if (base() < 0)
		return -1;
	return gt.hmac_fast(GNUTLS_MAC_MD5, key, keylen, msg, msglen,
	    out) < 0 ? -1 : 0;
}

int
tls_pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt,
    size_t saltlen, unsigned iter, unsigned char out[32])
{
	gnutls_datum_t	 k, s;

	if (iter == 0 || pwlen > UINT_MAX || saltlen > UINT_MAX ||
	    base() < 0)
		return -1;
	/* GnuTLS only reads them; its datum type is not const. */
	k.data = (unsigned char *)(uintptr_t)pw;
	k.size = (unsigned)pwlen;
	s.data = (unsigned char *)(uintptr_t)salt;
	s.size = (unsigned)saltlen;
	return gt.pbkdf2(GNUTLS_MAC_SHA256, &k, &s, iter, out, 32) < 0 ?
	    -1 : 0;
}

int
tls_random(void *p, size_t n)
{
	if (base() < 0)
		return -1;
	return gt.rnd(GNUTLS_RND_NONCE, p, n) < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ DKIM */

struct tls_hash {
	gnutls_hash_hd_t h;
};

struct tls_key {
	gnutls_privkey_t k;
	enum tls_key_type type;
	unsigned	 bits;
};

/* An Ed25519 SubjectPublicKeyInfo is this and the key (RFC 8410 §4). */
static const unsigned char ed25519_spki[12] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00
};

/* A heap copy of what GnuTLS allocated, which is freed (wiped first). */
static unsigned char *
take_datum(gnutls_datum_t *d, size_t *len)
{
	unsigned char	*p = xmalloc(d->size + 1);

	memcpy(p, d->data, d->size);
	p[d->size] = '\0';
	*len = d->size;
	explicit_bzero(d->data, d->size);
	(*gt.free_fn)(d->data);
	d->data = NULL;
	return p;
}

int
tls_hash_begin(struct tls_hash **out, char *err, size_t errlen)
{
	gnutls_hash_hd_t h;
	int		 r;

	*out = NULL;
	if ((r = base()) < 0 || (r = gt.hash_init(&h, GNUTLS_DIG_SHA256)) < 0) {
		snprintf(err, errlen, "SHA-256: %s", errstr(r));
		return -1;
	}
	*out = xmalloc(sizeof(**out));
	(*out)->h = h;
	return 0;
}

int
tls_hash_add(struct tls_hash *t, const void *p, size_t n)
{
	return gt.hash(t->h, p, n) < 0 ? -1 : 0;
}

void
tls_hash_end(struct tls_hash *t, unsigned char out[32])
{
	unsigned char	 scrap[32];

	if (t == NULL)
		return;
	gt.hash_deinit(t->h, out != NULL ? out : scrap);
	free(t);
}

int
tls_key_import(const void *pem, size_t len, struct tls_key **out, char *err,
    size_t errlen)
{
	gnutls_privkey_t k = NULL;
	gnutls_datum_t	 d;
	unsigned	 bits = 0;
	int		 r, alg;

	*out = NULL;
	d.data = (unsigned char *)(uintptr_t)pem;
	d.size = len > UINT_MAX ? UINT_MAX : (unsigned)len;
	if ((r = base()) < 0 || (r = gt.privkey_init(&k)) < 0 ||
	    (r = gt.privkey_import_x509_raw(k, &d, GNUTLS_X509_FMT_PEM, NULL,
	    0)) < 0) {
		snprintf(err, errlen, "%s", errstr(r));
		if (k != NULL)
			gt.privkey_deinit(k);
		return -1;
	}
	alg = gt.privkey_get_pk_algorithm(k, &bits);
	if (alg != GNUTLS_PK_RSA && alg != GNUTLS_PK_EDDSA_ED25519) {
		snprintf(err, errlen, "not an RSA or Ed25519 key");
		gt.privkey_deinit(k);
		return -1;
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->k = k;
	(*out)->type = alg == GNUTLS_PK_RSA ? TLS_KEY_RSA : TLS_KEY_ED25519;
	(*out)->bits = bits;
	return 0;
}

enum tls_key_type
tls_key_type(const struct tls_key *key, unsigned *bits)
{
	if (bits != NULL)
		*bits = key->bits;
	return key->type;
}

void
tls_key_free(struct tls_key *key)
{
	if (key == NULL)
		return;
	gt.privkey_deinit(key->k);
	free(key);
}

int
tls_key_sign(const struct tls_key *key, const unsigned char digest[32],
    unsigned char **sig, size_t *siglen, char *err, size_t errlen)
{
	gnutls_datum_t	 d, s = { NULL, 0 };
	int		 r;

	d.data = (unsigned char *)(uintptr_t)digest;
	d.size = 32;
	if (key->type == TLS_KEY_RSA)
		/* RFC 6376 §3.3.1: PKCS#1 v1.5 over the SHA-256 digest. */
		r = gt.privkey_sign_hash2(key->k, GNUTLS_SIGN_RSA_SHA256, 0,
		    &d, &s);
	else
		/* RFC 8463 §3: PureEdDSA whose message is the digest. */
		r = gt.privkey_sign_data2(key->k, GNUTLS_SIGN_EDDSA_ED25519,
		    0, &d, &s);
	if (r < 0) {
		snprintf(err, errlen, "signing failed: %s", errstr(r));
		return -1;
	}
	*sig = take_datum(&s, siglen);
	return 0;
}

int
tls_key_public(const struct tls_key *key, unsigned char **out,
    size_t *outlen, char *err, size_t errlen)
{
	gnutls_pubkey_t	 pub = NULL;
	gnutls_datum_t	 d = { NULL, 0 };
	unsigned char	*spki;
	size_t		 len;
	int		 r;

	if ((r = gt.pubkey_init(&pub)) < 0 ||
	    (r = gt.pubkey_import_privkey(pub, key->k, 0, 0)) < 0 ||
	    (r = gt.pubkey_export2(pub, GNUTLS_X509_FMT_DER, &d)) < 0) {
		snprintf(err, errlen, "public key: %s", errstr(r));
		if (pub != NULL)
			gt.pubkey_deinit(pub);
		return -1;
	}
	gt.pubkey_deinit(pub);
	spki = take_datum(&d, &len);
	if (key->type == TLS_KEY_RSA) {
		*out = spki;
		*outlen = len;
		return 0;
	}
	/* RFC 8463 §4.2: p= holds the bare 32-octet key. */
	if (len != sizeof(ed25519_spki) + 32 ||
	    memcmp(spki, ed25519_spki, sizeof(ed25519_spki)) != 0) {
		snprintf(err, errlen, "public key: unexpected Ed25519 form");
		free(spki);
		return -1;
	}
	*out = xmalloc(32);
	memcpy(*out, spki + sizeof(ed25519_spki), 32);
	*outlen = 32;
	free(spki);
	return 0;
}

int
tls_key_generate(enum tls_key_type type, unsigned bits, char **pem,
    size_t *len, char *err, size_t errlen)
{
	gnutls_x509_privkey_t k = NULL;
	gnutls_datum_t	 d = { NULL, 0 };
	int		 r;

	if (type == TLS_KEY_ED25519)
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519);
	if ((r = base()) < 0 || (r = gt.x509_privkey_init(&k)) < 0 ||
	    (r = gt.x509_privkey_generate(k, type == TLS_KEY_RSA ?
	    GNUTLS_PK_RSA : GNUTLS_PK_EDDSA_ED25519, bits, 0)) < 0 ||
	    (r = gt.x509_privkey_export2_pkcs8(k, GNUTLS_X509_FMT_PEM, NULL,
	    GNUTLS_PKCS_PLAIN, &d)) < 0) {
		snprintf(err, errlen, "generating the key: %s", errstr(r));
		if (k != NULL)
			gt.x509_privkey_deinit(k);
		return -1;
	}
	gt.x509_privkey_deinit(k);
	*pem = (char *)take_datum(&d, len);
	return 0;
}
