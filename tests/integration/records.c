/*
 * records.c: the helpers the end-to-end suites share (see records.h):
 * fakesmtp's records, mxsend's environment and what it said, a free
 * port, the clock, starting fakedns and the MX fakesmtp.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "records.h"
#include "run.h"
#include "spawn.h"

#define MAXENV	40
#define MAXADDR	16

static char envs[MAXENV][700];
static const char *envlist[MAXENV + 1];
static int nenv;

/* ------------------------------------------------ fakesmtp's records */

char *
file_in(const char *dir, int n, const char *what)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/session-%d.%s", dir, n, what);
	return slurp(path, NULL);
}

int
nsess(const char *dir)
{
	char path[700];
	int n = 0;

	if (dir[0] == '\0')
		return 0;
	for (;;) {
		snprintf(path, sizeof(path), "%s/session-%d.info", dir, n + 1);
		if (access(path, F_OK) != 0)
			return n;
		n++;
	}
}

int
sess_is_at(const char *dir, int n, const char *ip)
{
	char want[80], *info;
	int ok;

	if (ip == NULL)
		return 1;
	if ((info = file_in(dir, n, "info")) == NULL)
		return 0;
	snprintf(want, sizeof(want), "local %s ", ip);
	ok = strncmp(info, want, strlen(want)) == 0;
	free(info);
	return ok;
}

int
sessions_at(const char *dir, const char *ip)
{
	int n, k = 0, total = nsess(dir);

	for (n = 1; n <= total; n++)
		k += sess_is_at(dir, n, ip);
	return k;
}

/* Some session at ip (NULL: any) logged a client line containing needle. */
int
logs_have(const char *dir, const char *ip, const char *needle)
{
	int n, total = nsess(dir), found = 0;
	char *log;

	for (n = 1; n <= total && !found; n++) {
		if (!sess_is_at(dir, n, ip))
			continue;
		if ((log = file_in(dir, n, "log")) != NULL) {
			found = strcasestr(log, needle) != NULL;
			free(log);
		}
	}
	return found;
}

int
delivered_at(const char *dir, const char *ip, const char *rcpt)
{
	return delivered_with(dir, ip, rcpt, NULL);
}

/* Transaction m of session n accepted rcpt, got 250 and has needle. */
static int
txn_delivered(const char *dir, int n, int m, const char *rcpt,
    const char *needle)
{
	char want[300], what[16], *env, *msg;
	int ok;

	snprintf(what, sizeof(what), "env-%d", m);
	if ((env = file_in(dir, n, what)) == NULL)
		return -1;
	snprintf(want, sizeof(want), "accepted <%s>\n", rcpt);
	ok = strstr(env, want) != NULL && strstr(env, "result 250") != NULL;
	free(env);
	if (ok && needle != NULL) {
		snprintf(what, sizeof(what), "msg-%d", m);
		msg = file_in(dir, n, what);
		ok = msg != NULL && strstr(msg, needle) != NULL;
		free(msg);
	}
	return ok;
}

int
delivered_with(const char *dir, const char *ip, const char *rcpt,
    const char *needle)
{
	int n, m, total = nsess(dir), ok;

	for (n = 1; n <= total; n++) {
		if (!sess_is_at(dir, n, ip))
			continue;
		for (m = 1; m <= 20; m++) {
			if ((ok = txn_delivered(dir, n, m, rcpt, needle)) < 0)
				break;
			if (ok)
				return n;
		}
	}
	return 0;
}

void
ev_server(char *buf, size_t size, const char *name, const char *dir)
{
	static const char *const what[] = { "info", "log", "env-1", "env-2",
	    "tls", "done" };
	int n, total = nsess(dir);
	size_t i;

	if (dir[0] == '\0')
		return;
	append(buf, size, "[%s %s] %d session(s)\n", name, dir, total);
	for (n = 1; n <= total && n <= 12; n++)
		for (i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
			char *s = file_in(dir, n, what[i]);

			if (s == NULL)
				continue;
			append(buf, size, "-- %s session-%d.%s:\n%.700s%s",
			    name, n, what[i], s,
			    strlen(s) > 700 ? "...\n" : "");
			free(s);
		}
}

void
ev_file(char *buf, size_t size, const char *title, const char *path,
    int max)
{
	char *s;

	if ((s = slurp(path, NULL)) == NULL)
		return;
	append(buf, size, "--- %s:\n%.*s\n", title, max, s);
	free(s);
}

void
ev_exit(char *buf, size_t size, const struct run_result *r, int max)
{
	append(buf, size, "\nexit %d%s\n--- stderr:\n%.*s\n", r->status,
	    r->timed_out ? " (TIMED OUT)" : "", max,
	    r->err != NULL ? r->err : "");
}

/* ----------------------------------------------- mxsend's environment */

void
env_clear(void)
{
	nenv = 0;
}

void
env_set(const char *fmt, ...)
{
	char tmp[700];
	size_t klen;
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	klen = (size_t)(strchr(tmp, '=') - tmp) + 1;
	for (i = 0; i < nenv; i++)
		if (strncmp(envs[i], tmp, klen) == 0)
			break;
	cr_assert(i < MAXENV, "too many environment entries");
	if (i == nenv)
		nenv++;
	memcpy(envs[i], tmp, sizeof(tmp));
}

void
env_unset(const char *key)
{
	size_t klen = strlen(key);
	int i;

	for (i = 0; i < nenv; i++)
		if (strncmp(envs[i], key, klen) == 0 && envs[i][klen] == '=') {
			memmove(envs[i], envs[nenv - 1], sizeof(envs[i]));
			nenv--;
			return;
		}
}

const char *const *
env_list(void)
{
	int i;

	for (i = 0; i < nenv; i++)
		envlist[i] = envs[i];
	envlist[nenv] = NULL;
	return envlist;
}

/* ----------------------------------------------------------- servers */

unsigned
pick_port(void)
{
	return pick_port_on("127.0.0.1");
}

unsigned
pick_port_on(const char *ip)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	unsigned port;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0, "socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	cr_assert(inet_pton(AF_INET, ip, &sin.sin_addr) == 1, "%s", ip);
	cr_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	    "bind %s: %s", ip, strerror(errno));
	cr_assert(getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

unsigned
env_mx_suite(const char *logpath, const char *qdir)
{
	unsigned port = pick_port();

	env_set("MXSEND_MX_PORT=%u", port);
	env_set("MXSEND_TIMEOUT_CONNECT=2");
	env_set("MXSEND_TIMEOUT_COMMAND=2");
	env_set("MXSEND_TIMEOUT_DATA=3");
	env_set("MXSEND_DEFAULT_DOMAIN=test.example");
	env_set("MXSEND_HELO=client.test");
	env_set("MXSEND_LOG=%s", logpath);
	env_set("MXSEND_QUEUE_DIR=%s", qdir);
	return port;
}

unsigned
mx_suite_start(struct run_env *re, struct server *dns, const char *zone,
    char *dnslog, char *logpath, char *qdir)
{
	char zpath[400];

	snprintf(zpath, sizeof(zpath), "%s", run_env_file(re, "zone", zone,
	    0644));
	snprintf(dnslog, 400, "%s/dns.log", re->dir);
	snprintf(logpath, 400, "%s/mxsend.log", re->dir);
	snprintf(qdir, 400, "%s/queue", re->dir);
	fakedns_start(dns, zpath, dnslog, NULL);
	return env_mx_suite(logpath, qdir);
}

/* Where the stand-ins note that a run loaded them. */
static const char *
fakelib_log(const struct run_env *re)
{
	static char path[400];

	snprintf(path, sizeof(path), "%s/loaded", re->dir);
	return path;
}

void
env_without_libraries(const struct run_env *re)
{
	const char *b = getenv("top_builddir");

	env_set("LD_LIBRARY_PATH=%s/tests/integration/nolibs", b ? b : ".");
	env_set("FAKELIB_LOADED=%s", fakelib_log(re));
}

int
fakelib_loaded(const struct run_env *re, const char *name)
{
	char *s = slurp(fakelib_log(re), NULL);
	int found = s != NULL && strstr(s, name) != NULL;

	free(s);
	return found;
}

void
fakesmtp_start(struct server *srv, struct run_env *re, const char *name,
    const char *listen, const char *script, char *rec, size_t recsize,
    const char *const extra[])
{
	char spath[400], sname[64];
	const char *argv[24];
	int argc = 0;

	snprintf(sname, sizeof(sname), "%s-script", name);
	snprintf(spath, sizeof(spath), "%s", run_env_file(re, sname, script,
	    0644));
	snprintf(rec, recsize, "%s/%s-rec", re->dir, name);
	argv[argc++] = support_path("fakesmtp");
	argv[argc++] = "--listen";
	argv[argc++] = listen;
	argv[argc++] = "--script";
	argv[argc++] = spath;
	argv[argc++] = "--record";
	argv[argc++] = rec;
	while (extra != NULL && *extra != NULL) {
		cr_assert(argc < 23, "too many fakesmtp arguments");
		argv[argc++] = *extra++;
	}
	argv[argc] = NULL;
	cr_assert_eq(server_start(srv, argv, 10), 0,
	    "fakesmtp (%s) did not start", name);
}

void
fakedns_start(struct server *dns, const char *zone, const char *log,
    const char *const extra[])
{
	const char *argv[24];
	int argc = 0;

	argv[argc++] = support_path("fakedns");
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	argv[argc++] = "--zone";
	argv[argc++] = zone;
	argv[argc++] = "--log";
	argv[argc++] = log;
	while (extra != NULL && *extra != NULL) {
		cr_assert(argc < 23, "too many fakedns arguments");
		argv[argc++] = *extra++;
	}
	argv[argc] = NULL;
	cr_assert_eq(server_start(dns, argv, 10), 0, "fakedns did not start");
	env_set("MXSEND_NAMESERVER=127.0.0.1:%u", dns->l[0].port);
}

void
fakesmtp_mx_vstart(struct server *mx, struct run_env *re, int n,
    const char *script, char *rec, size_t recsize, unsigned *port,
    const char *const extra[], va_list ap)
{
	const char *addr[MAXADDR];
	int naddr = 0;

	while ((addr[naddr] = va_arg(ap, const char *)) != NULL)
		cr_assert(++naddr < MAXADDR);
	fakesmtp_mx_start(mx, re, n, script, rec, recsize, port, extra, addr);
}

void
fakesmtp_mx_start(struct server *mx, struct run_env *re, int n,
    const char *script, char *rec, size_t recsize, unsigned *port,
    const char *const extra[], const char *const addr[])
{
	char spath[400], lspec[MAXADDR][64], name[32];
	const char *argv[64];
	int naddr = 0, argc, i, attempt;

	while (addr[naddr] != NULL)
		cr_assert(++naddr < MAXADDR);
	snprintf(name, sizeof(name), "mx-script-%d", n);
	snprintf(spath, sizeof(spath), "%s", run_env_file(re, name, script,
	    0644));
	snprintf(rec, recsize, "%s/mx-rec-%d", re->dir, n);
	for (attempt = 0; attempt < 10; attempt++) {
		argc = 0;
		argv[argc++] = support_path("fakesmtp");
		for (i = 0; i < naddr; i++) {
			snprintf(lspec[i], sizeof(lspec[i]), "%s:%u", addr[i],
			    *port);
			argv[argc++] = "--listen";
			argv[argc++] = lspec[i];
		}
		argv[argc++] = "--script";
		argv[argc++] = spath;
		argv[argc++] = "--record";
		argv[argc++] = rec;
		for (i = 0; extra != NULL && extra[i] != NULL; i++) {
			cr_assert(argc < 63, "too many fakesmtp arguments");
			argv[argc++] = extra[i];
		}
		argv[argc] = NULL;
		if (server_start(mx, argv, 10) == 0)
			break;
		*port = pick_port();
	}
	cr_assert(attempt < 10, "fakesmtp (MX) did not start");
	env_set("MXSEND_MX_PORT=%u", *port);
}

/* ------------------------------------------------------------ runs */

void
sendmail_t(struct run_env *re, struct run_result *res, const char *body,
    const char *to, va_list opts)
{
	char msg[2048];
	const char *argv[16];
	int argc = 0;

	snprintf(msg, sizeof(msg), "From: s@test.example\nTo: %s\n"
	    "Subject: t\n\n%s\n", to, body);
	argv[argc++] = "sendmail";
	while ((argv[argc] = va_arg(opts, const char *)) != NULL)
		cr_assert(++argc < 14);
	argv[argc++] = "-t";
	argv[argc] = NULL;
	run_result_free(res);
	cr_assert_eq(run_mxsend(re, argv, msg, strlen(msg), env_list(), 30,
	    res), 0, "could not run %s", mxsend_path());
}

/* ------------------------------------------------- what mxsend said */

/*
 * The line at *pp (without its LF, cut to size - 1 octets) into line;
 * *pp moves past it. 0 when there is none left.
 */
static int
copy_line(const char **pp, char *line, size_t size)
{
	const char *p = *pp, *nl;
	size_t	 len;

	if (p == NULL || *p == '\0')
		return 0;
	nl = strchr(p, '\n');
	len = nl != NULL ? (size_t)(nl - p) : strlen(p);
	*pp = nl != NULL ? nl + 1 : NULL;
	if (len >= size)
		len = size - 1;
	memcpy(line, p, len);
	line[len] = '\0';
	return 1;
}

const char *
report_line(const char *err, const char *addr)
{
	static char line[2048];
	const char *p = err;

	while (copy_line(&p, line, sizeof(line)))
		if (strstr(line, addr) != NULL &&
		    strstr(line, "--> ") == NULL &&
		    strstr(line, "<-- ") == NULL)
			return line;
	return NULL;
}

/* nftw() has no context argument: kept_under()'s search, one at a time. */
static const char *kept_needle;
static int kept_found;

static int
kept_file(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	char *s;

	(void)f;
	if (flag != FTW_F || st->st_size > 10 * 1024 * 1024)
		return 0;
	if ((s = slurp(path, NULL)) != NULL) {
		if (strstr(s, kept_needle) != NULL)
			kept_found = 1;
		free(s);
	}
	return kept_found;
}

int
kept_under(const char *home, const char *needle)
{
	static const char *const where[] = { "queue", ".mxsend" };
	char path[700], *s;
	size_t i;

	snprintf(path, sizeof(path), "%s/dead.letter", home);
	s = slurp(path, NULL);
	kept_found = s != NULL && strstr(s, needle) != NULL;
	free(s);
	kept_needle = needle;
	for (i = 0; i < sizeof(where) / sizeof(where[0]) && !kept_found;
	    i++) {
		snprintf(path, sizeof(path), "%s/%s", home, where[i]);
		nftw(path, kept_file, 8, FTW_PHYS);
	}
	return kept_found;
}

void
suite_end(struct run_env *re, struct run_result *res, ...)
{
	struct server *srv;
	va_list ap;

	va_start(ap, res);
	while ((srv = va_arg(ap, struct server *)) != NULL)
		server_stop(srv);
	va_end(ap);
	run_result_free(res);
	run_env_cleanup(re);
}

/* ------------------------------------------------------------ misc */

double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
append(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------- what the runs did */

#define NHIST	12

static struct hist {
	char	 cmd[400];
	int	 status;
	double	 secs;
	char	*out, *err;
} hist[NHIST];
static int nhist;

void
ev_runs(char *buf, size_t size)
{
	int i;

	append(buf, size, "\n--- mxsend runs (last %d):\n", nhist);
	for (i = 0; i < nhist; i++)
		append(buf, size, "$ %s\n  exit %d after %.2f s\n"
		    "  stdout:\n%.1500s\n  stderr:\n%.2500s\n", hist[i].cmd,
		    hist[i].status, hist[i].secs, hist[i].out, hist[i].err);
}

void
msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}


void
hist_add(const char *cmd, int status, double secs, const char *out,
    const char *err)
{
	struct hist *h;

	if (nhist == NHIST) {
		free(hist[0].out);
		free(hist[0].err);
		memmove(&hist[0], &hist[1], sizeof(hist[0]) * (NHIST - 1));
		nhist--;
	}
	h = &hist[nhist++];
	snprintf(h->cmd, sizeof(h->cmd), "%s", cmd);
	h->status = status;
	h->secs = secs;
	h->out = strdup(out != NULL ? out : "");
	h->err = strdup(err != NULL ? err : "");
}


void
hist_free(void)
{
	int i;

	for (i = 0; i < nhist; i++) {
		free(hist[i].out);
		free(hist[i].err);
	}
	nhist = 0;
}


int
is_id(const char *s, size_t n)
{
	size_t i;

	if (n != IDLEN)
		return 0;
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}


/* The ids of the entries (ID.env files) in dir; returns how many. */
int
entries(const char *dir, char ids[][IDLEN + 1], int max)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len != IDLEN + 4 || strcmp(de->d_name + IDLEN, ".env") != 0 ||
		    !is_id(de->d_name, IDLEN))
			continue;
		if (ids != NULL && n < max)
			snprintf(ids[n], IDLEN + 1, "%.*s", IDLEN, de->d_name);
		n++;
	}
	closedir(d);
	return n;
}


/* The line of s that holds needle (buffer), or NULL. */
const char *
line_with(const char *s, const char *needle)
{
	static char line[2048];
	const char *p = s;

	while (copy_line(&p, line, sizeof(line)))
		if (strstr(line, needle) != NULL)
			return line;
	return NULL;
}
