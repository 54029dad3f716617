/* Line-oriented logging to stderr. The level is set once at start-up and read-only after. */
#include <stdio.h>
#include <string.h>

#include "hsmgw/util.h"

static hg_log_level min_level = HG_LOG_INFO;

void log_set_level(hg_log_level lvl)
{
	min_level = lvl;
}

bool log_level_parse(const char *s, hg_log_level *out)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (hg_log_level)i;
			return true;
		}
	}
	return false;
}

void log_msg(hg_log_level lvl, const char *rid, const char *tenant, const char *sub, const char *fmt, ...)
{
	static const char *tags[] = {"debug", "info", "warn", "error"};
	if (lvl < min_level)
		return;
	char ts[32], msg[1024], line[1400];
	time_format_rfc3339(time_now_us(), ts);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* One write per line, so lines from several threads never interleave. */
	int n = snprintf(line, sizeof line, "%s %s%s%s%s%s%s%s %s\n", ts, tags[lvl], rid ? " rid=" : "", rid ? rid : "",
			 tenant ? " tenant=" : "", tenant ? tenant : "", sub ? " sub=" : "", sub ? sub : "", msg);
	if (n > 0)
		fwrite(line, 1, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, stderr);
}
