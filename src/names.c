/*
 * names.c: this host's names, found on first use (names.h). The
 * canonical-name lookup goes through lookup.c, so that a silent DNS behind
 * getaddrinfo() costs at most `timeout_dns` (and never more than the
 * deadline leaves).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "compat.h"
#include "lookup.h"
#include "names.h"
#include "util.h"

void
names_init(struct names *n, const struct config *cfg, int verbose,
    int64_t deadline_ms)
{
	memset(n, 0, sizeof(*n));
	n->cfg = cfg;
	n->verbose = verbose;
	n->end_ms = deadline_ms;
}

/* Whether nsswitch.conf's "hosts:" line asks the hosts file first. */
static int
hosts_file_first(const char *nsswitch)
{
	char	 line[512], *p;
	FILE	*fp;
	int	 first = 0, n = 0;

	if ((fp = fopen(nsswitch, "re")) == NULL)
		return 0;
	while (n++ < 1000 && fgets(line, sizeof(line), fp) != NULL) {
		p = line + strspn(line, " \t");
		if (strncmp(p, "hosts:", 6) != 0)
			continue;
		p += 6;
		p += strspn(p, " \t");
		first = strncmp(p, "files", 5) == 0 &&
		    (p[5] == '\0' || strchr(" \t\n", p[5]) != NULL);
		break;
	}
	fclose(fp);
	return first;
}

/* Of a hosts file line "ADDRESS CANONICAL [ALIAS...]", whether it is
 * name's; its canonical name in canon. */
static int
hosts_line_names(char *line, const char *name, const char **canon)
{
	unsigned char	 addr[16];
	char		*f, *save = NULL;
	int		 i;

	line[strcspn(line, "#\r\n")] = '\0';
	for (i = 0; (f = strtok_r(i == 0 ? line : NULL, " \t", &save)) !=
	    NULL; i++) {
		if (i == 0 && inet_pton(AF_INET, f, addr) != 1 &&
		    inet_pton(AF_INET6, f, addr) != 1)
			return 0;
		if (i == 1)
			*canon = f;
		if (i >= 1 && strcasecmp(f, name) == 0)
			return 1;
	}
	return 0;
}

int
names_hosts_file(const char *nsswitch, const char *hosts, const char *name,
    char *out, size_t outlen)
{
	char		 line[1024];
	const char	*canon = NULL;
	FILE		*fp;
	int		 found = 0, n = 0;

	if (!hosts_file_first(nsswitch) || (fp = fopen(hosts, "re")) == NULL)
		return -1;
	/* glibc reads it all; a name past 10,000 lines is left to it. */
	while (!found && n++ < 10000 && fgets(line, sizeof(line), fp) != NULL)
		found = hosts_line_names(line, name, &canon);
	fclose(fp);
	if (!found)
		return n > 10000 ? -1 : 0;
	return strlcpy(out, canon, outlen) < outlen ? 1 : -1;
}

/*
 * The canonical name of name through the system resolver, given until
 * end_ms: 1 with a qualified name in out, 0 without one (nothing found,
 * or the bound passed). When the resolver would answer from the hosts
 * file (nsswitch.conf lists "files" first and the name is there: glibc
 * stops at that answer), it is read here, without the lookup child.
 */
static int
canonical_name(const char *name, int64_t end_ms, char *out, size_t outlen)
{
	struct lookup	 l;
	char		 canon[256];

	if (names_hosts_file(NAMES_NSSWITCH, NAMES_HOSTS, name, canon,
	    sizeof(canon)) == 1)
		return strchr(canon, '.') != NULL &&
		    valid_hostname(canon, 1) &&
		    strlcpy(out, canon, outlen) < outlen;
	memset(&l, 0, sizeof(l));
	l.family = AF_UNSPEC;
	l.canon = 1;
	l.end_ms = end_ms;
	if (lookup_host(name, &l) != 0 || strchr(l.canonname, '.') == NULL ||
	    !valid_hostname(l.canonname, 1) ||
	    strlcpy(out, l.canonname, outlen) >= outlen)
		return 0;
	return 1;
}

/* When the canonical-name lookup must end: timeout_dns, or the deadline. */
static int64_t
lookup_end(const struct names *n)
{
	int64_t end = mono_ms() + (int64_t)n->cfg->timeout_dns * 1000;

	if (n->end_ms > 0 && n->end_ms < end)
		end = n->end_ms;
	return end;
}

const char *
names_host(struct names *n)
{
	if (n->host_known)
		return n->host;
	n->host_known = 1;
	if (gethostname(n->host, sizeof(n->host)) != 0 || n->host[0] == '\0')
		strlcpy(n->host, "localhost", sizeof(n->host));
	n->host[sizeof(n->host) - 1] = '\0';
	n->fqdn = strchr(n->host, '.') != NULL;
	if (!n->fqdn)
		n->fqdn = canonical_name(n->host, lookup_end(n), n->host,
		    sizeof(n->host));
	return n->host;
}

int
names_read_mailname(const char *path, char *out, size_t outlen)
{
	char	 buf[512];
	size_t	 len = 0;
	ssize_t	 r;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return errno == ENOENT ? -1 : -2;
	while (len < sizeof(buf) - 1 &&
	    (r = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	len = strlen(buf);
	while (len > 0 && is_wsp((unsigned char)buf[len - 1]))
		buf[--len] = '\0';
	if (!valid_hostname(buf, 0) || strlcpy(out, buf, outlen) >= outlen)
		return -2;
	return 0;
}

const char *
names_domain(struct names *n)
{
	if (n->domain_known)
		return n->domain;
	n->domain_known = 1;
	if (n->cfg->default_domain != NULL) {
		strlcpy(n->domain, n->cfg->default_domain, sizeof(n->domain));
		return n->domain;
	}
	switch (names_read_mailname(NAMES_MAILNAME, n->domain,
	    sizeof(n->domain))) {
	case 0:
		return n->domain;
	case -2:
		if (n->verbose)
			say("warning: %s is unreadable or not a domain name; "
			    "ignored", NAMES_MAILNAME);
		break;
	}
	strlcpy(n->domain, names_host(n), sizeof(n->domain));
	n->domain_bare = !n->fqdn;
	if (!n->fqdn && n->verbose)
		say("warning: host name '%s' is not fully qualified and %s "
		    "names no domain; set default_domain", n->domain,
		    NAMES_MAILNAME);
	return n->domain;
}

const char *
names_mail_domain(struct names *n)
{
	const char *d = names_domain(n);

	return n->domain_bare ? NULL : d;
}

const char *
names_helo(struct names *n)
{
	if (n->cfg->helo != NULL)
		return n->cfg->helo;
	(void)names_host(n);
	return n->fqdn ? n->host : NULL;
}
