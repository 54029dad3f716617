/* The declarative JSON input parser: each kind of bad input fails with HG_E_INVALID and a
 * detail naming the field. */
#include <stddef.h>
#include <string.h>

#include "hsmgw/api.h"
#include "unit.h"

struct in {
	const char *name;
	long size;
	bool flag;
	struct hg_bytes data;
	json_t *tags, *labels;
};

static const char *const tag_choices[] = {"a", "b", "c", NULL};

static const struct hg_field fields[] = {
    {"name", HG_F_STRING, true, offsetof(struct in, name), 1, 8, NULL},
    {"size", HG_F_INT, false, offsetof(struct in, size), 1, 100, NULL},
    {"flag", HG_F_BOOL, false, offsetof(struct in, flag), 0, 0, NULL},
    {"data", HG_F_BASE64, false, offsetof(struct in, data), 1, 4, NULL},
    {"tags", HG_F_STRINGS, false, offsetof(struct in, tags), 1, 3, tag_choices},
    {"labels", HG_F_LABELS, false, offsetof(struct in, labels), 0, 2, NULL},
};

/* Parses body; returns the result and leaves the detail in req. */
static hg_err parse(const char *body, struct hg_request *req, struct in *in)
{
	memset(req, 0, sizeof *req);
	memset(in, 0, sizeof *in);
	in->size = 42;
	req->body = body;
	req->body_len = strlen(body);
	json_t *root;
	hg_err e = api_parse(req, fields, sizeof fields / sizeof *fields, in, &root);
	api_bytes_free(&in->data);
	json_decref(root);
	return e;
}

START_TEST(test_parser_fills_declared_fields_and_keeps_defaults)
{
	struct hg_request req;
	struct in in;
	memset(&req, 0, sizeof req);
	memset(&in, 0, sizeof in);
	in.size = 42;
	const char *body =
	    "{\"name\":\"x\",\"flag\":true,\"data\":\"AQID\",\"tags\":[\"a\",\"c\"],\"labels\":{\"k\":\"v\"}}";
	req.body = body;
	req.body_len = strlen(body);
	json_t *root;
	ck_assert_int_eq(api_parse(&req, fields, 6, &in, &root), HG_OK);
	ck_assert_str_eq(in.name, "x");
	ck_assert_int_eq(in.size, 42);
	ck_assert(in.flag);
	ck_assert(in.data.set);
	ck_assert_uint_eq(in.data.n, 3);
	ck_assert_uint_eq(in.data.p[2], 3);
	ck_assert_uint_eq(json_array_size(in.tags), 2);
	ck_assert_str_eq(json_string_value(json_object_get(in.labels, "k")), "v");
	api_bytes_free(&in.data);
	json_decref(root);
}
END_TEST

static void assert_invalid(const char *body, const char *needle)
{
	struct hg_request req;
	struct in in;
	ck_assert_msg(parse(body, &req, &in) == HG_E_INVALID, "accepted %s", body);
	ck_assert_msg(strstr(req.detail, needle) != NULL, "detail \"%s\" lacks \"%s\"", req.detail, needle);
}

START_TEST(test_parser_names_the_bad_field)
{
	assert_invalid("", "missing required field 'name'"); /* an empty body is {} */
	assert_invalid("{", "malformed JSON");
	assert_invalid("[1]", "JSON object");
	assert_invalid("{\"name\":\"x\",\"name\":\"y\"}", "malformed JSON"); /* duplicate keys */
	assert_invalid("{\"size\":3}", "missing required field 'name'");
	assert_invalid("{\"name\":null}", "missing required field 'name'");
	assert_invalid("{\"name\":\"x\",\"extra\":1}", "unknown field 'extra'");
	assert_invalid("{\"name\":7}", "'name' must be a string");
	assert_invalid("{\"name\":\"\"}", "'name' must be 1 to 8");
	assert_invalid("{\"name\":\"123456789\"}", "'name' must be 1 to 8");
	assert_invalid("{\"name\":\"a\\u0000b\"}", "malformed JSON"); /* Jansson refuses NUL in strings */
	assert_invalid("{\"name\":\"x\",\"size\":0}", "'size' must be an integer");
	assert_invalid("{\"name\":\"x\",\"size\":1.5}", "'size' must be an integer");
	assert_invalid("{\"name\":\"x\",\"flag\":\"yes\"}", "'flag' must be true or false");
	assert_invalid("{\"name\":\"x\",\"data\":\"AQI\"}", "'data' is not valid base64");
	assert_invalid("{\"name\":\"x\",\"data\":\"AQIDBAU=\"}", "'data' decodes to more than 4");
	assert_invalid("{\"name\":\"x\",\"data\":\"\"}", "'data' must decode to at least 1");
	assert_invalid("{\"name\":\"x\",\"tags\":[]}", "'tags' must have 1 to 3");
	assert_invalid("{\"name\":\"x\",\"tags\":[\"z\"]}", "'tags' item 0");
	assert_invalid("{\"name\":\"x\",\"tags\":[\"a\",\"a\"]}", "'tags' repeats");
	assert_invalid("{\"name\":\"x\",\"labels\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}",
		       "'labels' may have at most 2");
	assert_invalid("{\"name\":\"x\",\"labels\":{\"a\":1}}", "'labels'");
}
END_TEST

Suite *suite_json(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, test_parser_fills_declared_fields_and_keeps_defaults);
	tcase_add_test(tc, test_parser_names_the_bad_field);
	suite_add_tcase(s, tc);
	return s;
}
