/* The SIEM feed: every committed audit row and checkpoint as one JSON object, appended to a
 * file as a line (audit.siem_file) and/or sent as an RFC 5424 syslog message
 * (audit.siem_syslog: the path of a UNIX datagram socket such as /dev/log, or udp:HOST:PORT).
 * It carries exactly the fields of the rows, so nothing secret can be in it. A feed that cannot
 * be written is logged (at most once a minute) and never fails a request. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit_internal.h"

struct hg_siem {
	FILE *f;
	int sock;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char host[256];
	int64_t last_complaint_us;
};

static void complain(struct hg_siem *s, const char *what)
{
	int64_t now = time_mono_us();
	if (s->last_complaint_us && now - s->last_complaint_us < 60 * 1000000LL)
		return;
	s->last_complaint_us = now;
	log_warn("audit: the SIEM feed cannot be written (%s): %s", what, strerror(errno));
}

static bool syslog_target(struct hg_siem *s, const char *spec)
{
	if (strncmp(spec, "udp:", 4) == 0) {
		char host[256];
		snprintf(host, sizeof host, "%s", spec + 4);
		char *colon = strrchr(host, ':');
		if (!colon)
			return false;
		*colon = '\0';
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *ai = NULL;
		if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
			return false;
		memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
		s->addr_len = ai->ai_addrlen;
		s->sock = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		freeaddrinfo(ai);
		return s->sock >= 0;
	}
	struct sockaddr_un *un = (struct sockaddr_un *)&s->addr;
	if (strlen(spec) >= sizeof un->sun_path)
		return false;
	un->sun_family = AF_UNIX;
	snprintf(un->sun_path, sizeof un->sun_path, "%s", spec);
	s->addr_len = sizeof *un;
	s->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return s->sock >= 0;
}

struct hg_siem *siem_open(const struct hg_config *cfg)
{
	if (!cfg->audit_siem_file && !cfg->audit_siem_syslog)
		return NULL;
	struct hg_siem *s = calloc(1, sizeof *s);
	s->sock = -1;
	if (cfg->audit_siem_file && !(s->f = fopen(cfg->audit_siem_file, "a")))
		log_error("audit: the SIEM file %s cannot be opened: %s", cfg->audit_siem_file, strerror(errno));
	if (cfg->audit_siem_syslog && !syslog_target(s, cfg->audit_siem_syslog))
		log_error("audit: the SIEM syslog target %s cannot be used", cfg->audit_siem_syslog);
	if (gethostname(s->host, sizeof s->host) != 0 || !s->host[0])
		snprintf(s->host, sizeof s->host, "-");
	s->host[sizeof s->host - 1] = '\0';
	return s;
}

void siem_close(struct hg_siem *s)
{
	if (!s)
		return;
	if (s->f)
		fclose(s->f);
	if (s->sock >= 0)
		close(s->sock);
	free(s);
}

void siem_emit(struct hg_siem *s, const json_t *o)
{
	if (!s || !o)
		return;
	char *line = json_dumps(o, JSON_COMPACT);
	if (!line)
		return;
	if (s->f && (fputs(line, s->f) == EOF || fputc('\n', s->f) == EOF))
		complain(s, "file");
	if (s->sock >= 0) {
		/* RFC 5424: <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG,
		 * facility authpriv (10), severity informational (6). */
		char ts[40], head[512];
		time_format_rfc3339(time_now_us(), ts);
		int hl = snprintf(head, sizeof head, "<%d>1 %s %s hsmgw %d audit - ", 10 * 8 + 6, ts, s->host,
				  (int)getpid());
		size_t ll = strlen(line);
		char *msg = malloc((size_t)hl + ll);
		if (msg) {
			memcpy(msg, head, (size_t)hl);
			memcpy(msg + hl, line, ll);
			if (sendto(s->sock, msg, (size_t)hl + ll, MSG_NOSIGNAL, (struct sockaddr *)&s->addr,
				   s->addr_len) < 0)
				complain(s, "syslog");
			free(msg);
		}
	}
	free(line);
}

void siem_flush(struct hg_siem *s)
{
	if (s && s->f && fflush(s->f) != 0)
		complain(s, "file");
}
