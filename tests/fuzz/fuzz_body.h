/* The request-body decoding of one route family: every body the fuzzer makes is parsed by
 * api_parse with each of the family's declared field lists (api_internal.h), exactly as the
 * handlers call it, into a buffer of the handler's input struct's size (so a field written
 * past it is an AddressSanitizer report). Then the parser's promises are checked: a failure
 * is 400 invalid_request with a detail; a success leaves every field within its declared
 * type, length, range and choices, every required field set. */
#ifndef HSMGW_TESTS_FUZZ_BODY_H
#define HSMGW_TESTS_FUZZ_BODY_H

#include "../../src/api/api_internal.h"
#include "fuzz.h"

/* The destination of field f in the input struct at in. */
static inline void *body_dst(void *in, const struct hg_field *f)
{
	return (char *)in + f->off;
}

/* A string field's value after a successful parse, or NULL when absent. */
static inline const char *body_str(const struct api_body_spec *s, void *in, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->fields[i].type == HG_F_STRING && strcmp(s->fields[i].name, name) == 0)
			return *(const char **)body_dst(in, &s->fields[i]);
	return NULL;
}

static inline bool body_choice_ok(const char *const *choices, const char *v)
{
	if (!choices)
		return true;
	for (; *choices; choices++)
		if (strcmp(*choices, v) == 0)
			return true;
	return false;
}

/* What a successful parse promises about one field. */
static inline void body_check_field(const struct hg_field *f, json_t *root, void *in)
{
	json_t *v = json_object_get(root, f->name);
	bool present = v && !json_is_null(v);
	FUZZ_ASSERT(present || !f->required);
	void *dst = body_dst(in, f);
	switch (f->type) {
	case HG_F_STRING: {
		const char *s = *(const char **)dst;
		FUZZ_ASSERT(!present == !s);
		if (s) {
			size_t n = strlen(s);
			FUZZ_ASSERT(n == json_string_length(v)); /* consumers see all of it: no NUL inside */
			FUZZ_ASSERT((long)n >= f->min && (long)n <= f->max);
			FUZZ_ASSERT(body_choice_ok(f->choices, s));
		}
		break;
	}
	case HG_F_BASE64: {
		struct hg_bytes *b = dst;
		FUZZ_ASSERT(b->set == present);
		if (b->set) {
			FUZZ_ASSERT(b->p != NULL);
			FUZZ_ASSERT((long)b->n >= f->min && (long)b->n <= f->max);
		}
		break;
	}
	case HG_F_INT:
		if (present)
			FUZZ_ASSERT(*(long *)dst >= f->min && *(long *)dst <= f->max);
		break;
	case HG_F_BOOL: break;
	case HG_F_STRINGS: {
		json_t *a = *(json_t **)dst;
		FUZZ_ASSERT(!present == !a);
		if (!a)
			break;
		FUZZ_ASSERT(json_is_array(a));
		size_t i;
		json_t *it;
		json_array_foreach (a, i, it) {
			FUZZ_ASSERT(json_is_string(it) && body_choice_ok(f->choices, json_string_value(it)));
			FUZZ_ASSERT(strlen(json_string_value(it)) == json_string_length(it));
		}
		break;
	}
	case HG_F_LABELS:
	case HG_F_OBJECT:
		FUZZ_ASSERT(!present == !*(json_t **)dst);
		FUZZ_ASSERT(!present || json_is_object(*(json_t **)dst));
		FUZZ_ASSERT(!present || (long)json_object_size(*(json_t **)dst) <= f->max);
		break;
	case HG_F_ARRAY:
		FUZZ_ASSERT(!present == !*(json_t **)dst);
		FUZZ_ASSERT(!present || json_is_array(*(json_t **)dst));
		break;
	}
}

/* Called after a successful parse of a family's body: what the handlers do with the values
 * before they need a key, a database or an HSM (the target defines it; may be empty). */
static void body_after_parse(const struct api_body_spec *s, void *in);

/* Parses body (n bytes) with spec s and checks the outcome. */
static inline void body_run(const struct api_body_spec *s, const char *body, size_t n)
{
	struct hg_request req = {0};
	req.body = body;
	req.body_len = n;
	void *in = calloc(1, s->size ? s->size : 1);
	if (!in)
		abort();
	json_t *root = NULL;
	hg_err e = api_parse(&req, s->fields, s->n, in, &root);
	if (e == HG_OK) {
		FUZZ_ASSERT(json_is_object(root));
		for (size_t i = 0; i < s->n; i++)
			body_check_field(&s->fields[i], root, in);
		body_after_parse(s, in);
	} else {
		FUZZ_ASSERT(e == HG_E_INVALID);
		FUZZ_ASSERT(req.detail[0] != '\0');
	}
	/* As every handler does, on success and on failure alike. */
	for (size_t i = 0; i < s->n; i++)
		if (s->fields[i].type == HG_F_BASE64)
			api_bytes_free(body_dst(in, &s->fields[i]));
	json_decref(root);
	json_decref(req.json);
	free(in);
}

/* Runs the body through every spec of the tables (each ended by {NULL}). The body is an
 * exact-size copy: a read past its end is a report. */
static inline void body_run_tables(const struct api_body_spec *const *tables, size_t n_tables, const uint8_t *data,
				   size_t size)
{
	char *body = (char *)fuzz_copy(data, size);
	for (size_t t = 0; t < n_tables; t++)
		for (const struct api_body_spec *s = tables[t]; s->route; s++)
			body_run(s, body, size);
	free(body);
}

#endif
