/* Route matching over the route table. */
#include <string.h>

#include "hsmgw/http.h"

/* Matches path against pattern segment by segment; a {…} segment takes any non-empty
 * segment of at most HG_MAX_PARAM bytes, copied into param. */
static bool path_match(const char *pattern, const char *path, char param[HG_MAX_PARAM + 1])
{
	while (*pattern && *path) {
		if (*pattern == '{') {
			const char *pend = strchr(pattern, '}');
			size_t n = strcspn(path, "/");
			if (!pend || n == 0 || n > HG_MAX_PARAM)
				return false;
			memcpy(param, path, n);
			param[n] = '\0';
			pattern = pend + 1;
			path += n;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

const struct hg_route *http_route_match(const struct hg_route *routes, size_t n, const char *method, const char *path,
					bool *path_matched, char param[HG_MAX_PARAM + 1])
{
	*path_matched = false;
	char p[HG_MAX_PARAM + 1];
	for (size_t i = 0; i < n; i++) {
		p[0] = '\0';
		if (!path_match(routes[i].pattern, path, p))
			continue;
		*path_matched = true;
		if (strcmp(routes[i].method, method) == 0) {
			memcpy(param, p, sizeof p);
			return &routes[i];
		}
	}
	return NULL;
}

void http_route_allow(const struct hg_route *routes, size_t n, const char *path, char *out, size_t cap)
{
	char p[HG_MAX_PARAM + 1];
	size_t at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && at < cap; i++)
		if (path_match(routes[i].pattern, path, p))
			at += (size_t)snprintf(out + at, cap - at, "%s%s", at ? ", " : "", routes[i].method);
}
