/* The dispatcher's route lookup (http_route_match, http_route_allow) over the real route
 * table, on arbitrary method and path: the input is the method, a NUL, then the path.
 * Properties: a match is a route of that method whose pattern fits the path; a {…} segment's
 * value is a non-empty path segment of at most HG_MAX_PARAM bytes; a path some route has is
 * reported as such (405 rather than 404), and its Allow list names the method that matched. */
#include "fuzz.h"
#include "hsmgw/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_cstr(data, size);
	const char *method = in, *path = in + strlen(in) + 1 <= in + size ? in + strlen(in) + 1 : "";
	bool path_matched = true;
	char param[HG_MAX_PARAM + 1];
	memset(param, 0x55, sizeof param);
	const struct hg_route *r = http_route_match(api_routes, api_n_routes, method, path, &path_matched, param);
	char allow[256];
	http_route_allow(api_routes, api_n_routes, path, allow, sizeof allow);
	if (r) {
		FUZZ_ASSERT(path_matched);
		FUZZ_ASSERT(strcmp(r->method, method) == 0);
		FUZZ_ASSERT(strstr(allow, method) != NULL);
		if (strchr(r->pattern, '{')) {
			size_t n = strnlen(param, sizeof param);
			FUZZ_ASSERT(n >= 1 && n <= HG_MAX_PARAM);
			FUZZ_ASSERT(strchr(param, '/') == NULL);
			FUZZ_ASSERT(strstr(path, param) != NULL);
		}
	}
	FUZZ_ASSERT(path_matched == (allow[0] != '\0'));
	free(in);
	return 0;
}
