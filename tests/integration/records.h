/*
 * records.h: what the end-to-end suites that run mxsend against the
 * scripted servers (test_deliver, test_queue, test_faults) share. Chiefly
 * reading what fakesmtp recorded in its --record directory (session-N.info,
 * .log, .env-M, .msg-M, ...), and around that: the environment a suite
 * gives mxsend and what mxsend said, a free loopback port, a monotonic
 * clock, starting fakedns and a fakesmtp that plays the MX hosts, and the
 * evidence a failed assertion prints. Records are complete once their
 * server has been stopped.
 *
 * The functions that can fail abort the test with a Criterion assertion.
 */
#ifndef MXSEND_TEST_RECORDS_H
#define MXSEND_TEST_RECORDS_H

#include <stdarg.h>
#include <stddef.h>

struct run_env;
struct server;

/* ------------------------------------------------ fakesmtp's records */

/* The file session-N.WHAT of record directory dir, read whole, or NULL. */
char	*file_in(const char *dir, int n, const char *what);

/* How many sessions dir holds (session-N.info, N from 1; dir "": 0). */
int	 nsess(const char *dir);

/* Session n came to the listener on ip (ip NULL: any). */
int	 sess_is_at(const char *dir, int n, const char *ip);

/* How many sessions came to the listener on ip (ip NULL: any). */
int	 sessions_at(const char *dir, const char *ip);

/*
 * Some session at ip (NULL: any) logged a client line holding needle
 * (ignoring case).
 */
int	 logs_have(const char *dir, const char *ip, const char *needle);

/*
 * Some transaction of a session at ip (NULL: any) accepted rcpt and took
 * the message with a 250: its session number, else 0.
 */
int	 delivered_at(const char *dir, const char *ip, const char *rcpt);

/*
 * The same, for a transaction whose message (msg-M) holds needle too:
 * the whole message arrived.
 */
int	 delivered_with(const char *dir, const char *ip, const char *rcpt,
	    const char *needle);

/*
 * Append to buf (NUL-terminated, size bytes in all) what the server name
 * recorded in dir, session by session; nothing when dir is "".
 */
void	 ev_server(char *buf, size_t size, const char *name, const char *dir);

/*
 * Append "--- title:" and at most max octets of the file at path to buf
 * (as ev_server); nothing when it cannot be read.
 */
void	 ev_file(char *buf, size_t size, const char *title, const char *path,
	    int max);

/*
 * Append a run's exit status (and whether it was killed at its time
 * bound) and at most max octets of its stderr to buf (as ev_server).
 */
struct run_result;
void	 ev_exit(char *buf, size_t size, const struct run_result *r, int max);

/* ----------------------------------------------- mxsend's environment */

/* Forget every entry. */
void	 env_clear(void);

/* Set KEY=VALUE (the formatted text) for mxsend, replacing KEY. */
void	 env_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Remove KEY, if set. */
void	 env_unset(const char *key);

/* The entries, NULL-terminated; valid until the next change. */
const char *const *env_list(void);

/*
 * The environment of the suites that deliver to fakesmtp MX hosts: a
 * free MX port (returned), short time-outs (connect and commands 2 s,
 * data 3 s), default_domain test.example, helo client.test, the log
 * and the queue directory.
 */
unsigned env_mx_suite(const char *logpath, const char *qdir);

/*
 * The start of a suite that delivers to fakesmtp MX hosts: fakedns with
 * zone (written to re's directory), logging its queries to dnslog; the
 * environment of env_mx_suite() with the log and queue below re's
 * directory (their paths in logpath and qdir; each buffer 400 bytes).
 * Returns the MX port.
 */
unsigned mx_suite_start(struct run_env *re, struct server *dns,
	    const char *zone, char *dnslog, char *logpath, char *qdir);

/*
 * SPEC §9: GnuTLS and libidn2 are opened with dlopen at their first use.
 * The next runs get stand-ins that export none of their functions
 * (fakelib.c, LD_LIBRARY_PATH=tests/integration/nolibs) and note in
 * re's directory that a run loaded them; fakelib_loaded() says whether
 * the stand-in called name was loaded since.
 */
void	 env_without_libraries(const struct run_env *re);
int	 fakelib_loaded(const struct run_env *re, const char *name);

/* ----------------------------------------------------------- servers */

/* A port that was free on 127.0.0.1 (on ip) a moment ago. */
unsigned pick_port(void);
unsigned pick_port_on(const char *ip);

/*
 * Start fakesmtp as srv, listening on listen ("ADDR:PORT"), with the
 * script text in re's directory as NAME-script and its records in
 * NAME-rec there (the path in rec); extra: more arguments
 * (NULL-terminated) or NULL.
 */
void	 fakesmtp_start(struct server *srv, struct run_env *re,
	    const char *name, const char *listen, const char *script,
	    char *rec, size_t recsize, const char *const extra[]);

/*
 * Start fakedns as dns on 127.0.0.1 (a free port) with the zone file zone,
 * logging its queries to log; extra: more arguments (NULL-terminated) or
 * NULL. Sets MXSEND_NAMESERVER to it.
 */
void	 fakedns_start(struct server *dns, const char *zone, const char *log,
	    const char *const extra[]);

/*
 * Start fakesmtp as mx, the n-th MX server of the test: the script text
 * in re's directory as mx-script-N, its records in mx-rec-N there (the
 * path in rec), a listener on each address of ap (const char *, up to
 * 15, then NULL), all on port *port, or when that is taken on another
 * free port (in *port), 10 tries; extra: more arguments (NULL-terminated)
 * or NULL. Sets MXSEND_MX_PORT to the port.
 */
void	 fakesmtp_mx_vstart(struct server *mx, struct run_env *re, int n,
	    const char *script, char *rec, size_t recsize, unsigned *port,
	    const char *const extra[], va_list ap);

/* The same with the addresses in addr[] (NULL-terminated). */
void	 fakesmtp_mx_start(struct server *mx, struct run_env *re, int n,
	    const char *script, char *rec, size_t recsize, unsigned *port,
	    const char *const extra[], const char *const addr[]);

/* ------------------------------------------------------- the queue */

#define IDLEN	18	/* a queue id */

/* Whether s[0..n) is a queue id (hex digits, IDLEN of them). */
int	 is_id(const char *s, size_t n);

/*
 * How many entries (ID.env files) dir holds; their ids in ids[0..max)
 * when ids is not NULL.
 */
int	 entries(const char *dir, char ids[][IDLEN + 1], int max);

/* ------------------------------------------------- what mxsend said */

/*
 * The line of err (mxsend's stderr) that reports addr, not a -v dialogue
 * line ("--> ", "<-- "); a static buffer, or NULL.
 */
const char *report_line(const char *err, const char *addr);

/*
 * The message holding needle was kept below home: in dead.letter, in the
 * test's queue (home/queue) or in home/.mxsend/queue.
 */
int	 kept_under(const char *home, const char *needle);

/* ------------------------------------------------- what the runs did */

/* Record one mxsend run (the last 12 are kept) for the evidence. */
void	 hist_add(const char *cmd, int status, double secs, const char *out,
	    const char *err);
void	 hist_free(void);

/* Append the recorded runs to buf (NUL-terminated, size bytes in all). */
void	 ev_runs(char *buf, size_t size);

/* ------------------------------------------------------------ runs */

struct run_result;

/*
 * Run "sendmail [OPTIONS...] -t" (opts: NULL-terminated strings) with a
 * message From: s@test.example, To: to, whose body is body, under
 * env_list(), 30 s at most, into res.
 */
void	 sendmail_t(struct run_env *, struct run_result *res,
	    const char *body, const char *to, va_list opts);

/*
 * A suite's end: stop the servers (NULL-terminated list of struct server
 * pointers), free res, remove re's directory.
 */
void	 suite_end(struct run_env *re, struct run_result *res, ...);

/* ------------------------------------------------------------ misc */

/* Sleep ms milliseconds (signals do not cut it short). */
void	 msleep(long ms);

/* The first line of s that holds needle (static buffer), or NULL. */
const char *line_with(const char *s, const char *needle);


/* Seconds on the monotonic clock. */
double	 now_s(void);

/* Append the formatted text to buf (NUL-terminated, size bytes in all). */
void	 append(char *buf, size_t size, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
