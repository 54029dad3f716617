/* The route table: matching, and agreement with openapi/hsmgw.yaml (STYLE habit 1). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsmgw/api.h"
#include "unit.h"

START_TEST(test_route_match_captures_the_key_segment)
{
	bool path;
	char param[HG_MAX_PARAM + 1];
	const struct hg_route *r =
	    http_route_match(api_routes, api_n_routes, "POST", "/v1/keys/orders/encrypt", &path, param);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->pattern, "/v1/keys/{key}/encrypt");
	ck_assert_str_eq(param, "orders");
	ck_assert(path);
}
END_TEST

START_TEST(test_route_match_tells_405_from_404)
{
	bool path;
	char param[HG_MAX_PARAM + 1];
	ck_assert_ptr_null(http_route_match(api_routes, api_n_routes, "DELETE", "/v1/keys", &path, param));
	ck_assert(path);
	ck_assert_ptr_null(http_route_match(api_routes, api_n_routes, "GET", "/v1/nothing", &path, param));
	ck_assert(!path);
	ck_assert_ptr_null(http_route_match(api_routes, api_n_routes, "GET", "/v1/keys/", &path, param));
	ck_assert(!path);
	ck_assert_ptr_null(http_route_match(api_routes, api_n_routes, "GET", "/v1/keys/a/b", &path, param));
	ck_assert(!path);
}
END_TEST

START_TEST(test_route_match_refuses_overlong_segments)
{
	bool path;
	char param[HG_MAX_PARAM + 1], url[512];
	snprintf(url, sizeof url, "/v1/keys/%0*d", HG_MAX_PARAM + 1, 0);
	ck_assert_ptr_null(http_route_match(api_routes, api_n_routes, "GET", url, &path, param));
	snprintf(url, sizeof url, "/v1/keys/%0*d", HG_MAX_PARAM, 0);
	ck_assert_ptr_nonnull(http_route_match(api_routes, api_n_routes, "GET", url, &path, param));
	ck_assert_uint_eq(strlen(param), HG_MAX_PARAM);
}
END_TEST

START_TEST(test_allow_lists_the_methods_of_a_path)
{
	char allow[64];
	http_route_allow(api_routes, api_n_routes, "/v1/keys", allow, sizeof allow);
	ck_assert_str_eq(allow, "POST, GET");
}
END_TEST

START_TEST(test_every_v1_route_needs_auth_and_a_scope)
{
	for (size_t i = 0; i < api_n_routes; i++) {
		bool v1 = strncmp(api_routes[i].pattern, "/v1/", 4) == 0;
		ck_assert_msg(api_routes[i].authenticated == v1, "%s", api_routes[i].pattern);
		ck_assert_msg(!v1 || api_routes[i].scope != 0, "%s has no scope", api_routes[i].pattern);
		ck_assert_ptr_nonnull(api_routes[i].operation);
	}
}
END_TEST

/* "METHOD path" pairs of the OpenAPI file's paths section, read line by line: a path is a
 * two-space-indented key starting with '/', a method a four-space-indented HTTP verb. */
static size_t openapi_ops(char ops[][160], size_t max)
{
	const char *dir = getenv("HSMGW_SOURCE_DIR") ? getenv("HSMGW_SOURCE_DIR") : ".";
	char path[512], line[8192], cur[128] = "";
	snprintf(path, sizeof path, "%s/openapi/hsmgw.yaml", dir);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	bool in_paths = false;
	size_t n = 0;
	static const char *verbs[] = {"get", "post", "put", "patch", "delete"};
	while (fgets(line, sizeof line, f)) {
		if (!isspace((unsigned char)line[0]) && line[0] != '\n')
			in_paths = strncmp(line, "paths:", 6) == 0;
		if (!in_paths)
			continue;
		if (strncmp(line, "  /", 3) == 0) {
			sscanf(line + 2, "%127[^:]", cur);
			continue;
		}
		for (size_t v = 0; v < sizeof verbs / sizeof *verbs; v++) {
			size_t vl = strlen(verbs[v]);
			if (strncmp(line, "    ", 4) == 0 && strncmp(line + 4, verbs[v], vl) == 0 &&
			    line[4 + vl] == ':' && n < max) {
				snprintf(ops[n], 160, "%s %s", verbs[v], cur);
				for (char *c = ops[n]; *c != ' '; c++)
					*c = (char)toupper((unsigned char)*c);
				n++;
			}
		}
	}
	fclose(f);
	return n;
}

START_TEST(test_route_table_equals_the_openapi_paths)
{
	char ops[256][160];
	size_t n = openapi_ops(ops, 256);
	ck_assert_uint_gt(n, 0);
	for (size_t i = 0; i < api_n_routes; i++) {
		char want[160];
		snprintf(want, sizeof want, "%s %s", api_routes[i].method, api_routes[i].pattern);
		bool found = false;
		for (size_t j = 0; j < n && !found; j++)
			found = strcmp(ops[j], want) == 0;
		ck_assert_msg(found, "route %s is not in openapi/hsmgw.yaml", want);
	}
	for (size_t j = 0; j < n; j++) {
		bool found = false;
		for (size_t i = 0; i < api_n_routes && !found; i++) {
			char have[160];
			snprintf(have, sizeof have, "%s %s", api_routes[i].method, api_routes[i].pattern);
			found = strcmp(ops[j], have) == 0;
		}
		ck_assert_msg(found, "openapi/hsmgw.yaml documents %s, which the route table lacks", ops[j]);
	}
}
END_TEST

Suite *suite_routes(void)
{
	Suite *s = suite_create("routes");
	TCase *tc = tcase_create("routes");
	tcase_add_test(tc, test_route_match_captures_the_key_segment);
	tcase_add_test(tc, test_route_match_tells_405_from_404);
	tcase_add_test(tc, test_route_match_refuses_overlong_segments);
	tcase_add_test(tc, test_allow_lists_the_methods_of_a_path);
	tcase_add_test(tc, test_every_v1_route_needs_auth_and_a_scope);
	tcase_add_test(tc, test_route_table_equals_the_openapi_paths);
	suite_add_tcase(s, tc);
	return s;
}
