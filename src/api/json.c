/* The declarative JSON input parser: one walk over the body against the handler's field
 * list. Handlers never navigate JSON themselves. */
#include <stdlib.h>
#include <string.h>

#include "hsmgw/api.h"

void api_bytes_free(struct hg_bytes *b)
{
	if (b->p)
		hg_free_secret(b->p, b->n ? b->n : 1);
	b->p = NULL;
	b->n = 0;
	b->set = false;
}

static bool in_choices(const char *const *choices, const char *s)
{
	for (; *choices; choices++)
		if (strcmp(*choices, s) == 0)
			return true;
	return false;
}

static hg_err check_strings(struct hg_request *req, const struct hg_field *f, json_t *v, void *dst)
{
	if (!json_is_array(v))
		return http_fail(req, HG_E_INVALID, "field '%s' must be an array of strings", f->name);
	size_t n = json_array_size(v);
	if ((long)n < f->min || (long)n > f->max)
		return http_fail(req, HG_E_INVALID, "field '%s' must have %ld to %ld items", f->name, f->min, f->max);
	for (size_t i = 0; i < n; i++) {
		json_t *it = json_array_get(v, i);
		if (!json_is_string(it) || (f->choices && !in_choices(f->choices, json_string_value(it))))
			return http_fail(req, HG_E_INVALID, "field '%s' item %zu is not an allowed value", f->name, i);
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_array_get(v, j), it))
				return http_fail(req, HG_E_INVALID, "field '%s' repeats an item", f->name);
	}
	*(json_t **)dst = v;
	return HG_OK;
}

static hg_err check_labels(struct hg_request *req, const struct hg_field *f, json_t *v, void *dst)
{
	if (!json_is_object(v))
		return http_fail(req, HG_E_INVALID, "field '%s' must be an object of strings", f->name);
	if ((long)json_object_size(v) > f->max)
		return http_fail(req, HG_E_INVALID, "field '%s' may have at most %ld entries", f->name, f->max);
	const char *k;
	json_t *val;
	json_object_foreach (v, k, val) {
		size_t kl = strlen(k);
		if (kl == 0 || kl > 63 || !json_is_string(val) || json_string_length(val) > 255)
			return http_fail(req, HG_E_INVALID,
					 "field '%s': keys are 1-63 characters and values strings of at most 255",
					 f->name);
	}
	*(json_t **)dst = v;
	return HG_OK;
}

static hg_err parse_field(struct hg_request *req, const struct hg_field *f, json_t *v, void *base)
{
	void *dst = (char *)base + f->off;
	switch (f->type) {
	case HG_F_STRING: {
		if (!json_is_string(v))
			return http_fail(req, HG_E_INVALID, "field '%s' must be a string", f->name);
		size_t n = json_string_length(v);
		if ((long)n < f->min || (long)n > f->max)
			return http_fail(req, HG_E_INVALID, "field '%s' must be %ld to %ld characters long", f->name,
					 f->min, f->max);
		if (f->choices && !in_choices(f->choices, json_string_value(v)))
			return http_fail(req, HG_E_INVALID, "field '%s' has an unsupported value", f->name);
		*(const char **)dst = json_string_value(v);
		return HG_OK;
	}
	case HG_F_BASE64: {
		if (!json_is_string(v))
			return http_fail(req, HG_E_INVALID, "field '%s' must be a base64 string", f->name);
		struct hg_bytes *b = dst;
		int rc = b64_decode(json_string_value(v), json_string_length(v), (size_t)f->max, &b->p, &b->n);
		if (rc == -2)
			return http_fail(req, HG_E_INVALID, "field '%s' decodes to more than %ld bytes", f->name,
					 f->max);
		if (rc != 0)
			return http_fail(req, HG_E_INVALID, "field '%s' is not valid base64 (standard, padded)",
					 f->name);
		b->set = true; /* even when too short: the caller's api_bytes_free wipes it */
		if ((long)b->n < f->min)
			return http_fail(req, HG_E_INVALID, "field '%s' must decode to at least %ld bytes", f->name,
					 f->min);
		return HG_OK;
	}
	case HG_F_INT:
		if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
			return http_fail(req, HG_E_INVALID, "field '%s' must be an integer from %ld to %ld", f->name,
					 f->min, f->max);
		*(long *)dst = (long)json_integer_value(v);
		return HG_OK;
	case HG_F_BOOL:
		if (!json_is_boolean(v))
			return http_fail(req, HG_E_INVALID, "field '%s' must be true or false", f->name);
		*(bool *)dst = json_is_true(v);
		return HG_OK;
	case HG_F_STRINGS: return check_strings(req, f, v, dst);
	case HG_F_LABELS: return check_labels(req, f, v, dst);
	case HG_F_ARRAY:
		if (!json_is_array(v) || (long)json_array_size(v) < f->min || (long)json_array_size(v) > f->max)
			return http_fail(req, HG_E_INVALID, "field '%s' must be an array of %ld to %ld items", f->name,
					 f->min, f->max);
		*(json_t **)dst = v;
		return HG_OK;
	case HG_F_OBJECT:
		if (!json_is_object(v) || (long)json_object_size(v) > f->max)
			return http_fail(req, HG_E_INVALID, "field '%s' must be an object of at most %ld members",
					 f->name, f->max);
		*(json_t **)dst = v;
		return HG_OK;
	}
	return HG_E_INTERNAL;
}

hg_err api_parse(struct hg_request *req, const struct hg_field *fields, size_t n, void *dst, json_t **root)
{
	json_error_t jerr;
	*root = NULL;
	/* An empty body is an empty object: POSTs whose fields are all optional need none. */
	json_t *j =
	    req->body_len == 0 ? json_object() : json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return http_fail(req, HG_E_INVALID, "malformed JSON at line %d column %d", jerr.line, jerr.column);
	*root = j;
	if (!json_is_object(j))
		return http_fail(req, HG_E_INVALID, "the body must be a JSON object");
	const char *name;
	json_t *v;
	json_object_foreach (j, name, v) {
		size_t i = 0;
		while (i < n && strcmp(fields[i].name, name) != 0)
			i++;
		if (i == n)
			return http_fail(req, HG_E_INVALID, "unknown field '%.64s'", name);
		if (json_is_null(v)) /* null is absence; a required field is reported below */
			continue;
		hg_err e = parse_field(req, &fields[i], v, dst);
		if (e != HG_OK)
			return e;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *v2 = json_object_get(j, fields[i].name);
		if (fields[i].required && (!v2 || json_is_null(v2)))
			return http_fail(req, HG_E_INVALID, "missing required field '%s'", fields[i].name);
	}
	return HG_OK;
}

hg_err api_page(struct hg_request *req, long *limit, long *after)
{
	const char *ls = http_query(req, "limit"), *cs = http_query(req, "cursor");
	char *end;
	*limit = ls ? strtol(ls, &end, 10) : 100;
	if (ls && (*ls == '\0' || *end != '\0' || *limit < 1 || *limit > 1000))
		return http_fail(req, HG_E_INVALID, "limit must be an integer from 1 to 1000");
	*after = cs ? strtol(cs, &end, 10) : 0;
	if (cs && (*cs == '\0' || *end != '\0' || *after < 0))
		return http_fail(req, HG_E_INVALID, "cursor is not one this server gave out");
	return HG_OK;
}

void api_page_reply(struct hg_request *req, const char *rows, long limit)
{
	json_t *items = json_loads(rows, 0, NULL);
	json_t *next = json_null();
	if (json_array_size(items) > (size_t)limit) {
		char c[24];
		json_int_t last = json_integer_value(json_object_get(json_array_get(items, (size_t)limit - 1), "id"));
		snprintf(c, sizeof c, "%lld", (long long)last);
		next = json_string(c);
		json_array_remove(items, (size_t)limit);
	}
	http_reply(req, 200, json_pack("{s:o, s:o}", "items", items ? items : json_array(), "next_cursor", next));
}
