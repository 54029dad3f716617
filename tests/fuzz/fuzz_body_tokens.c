/* Request bodies of /v1/tokens/tokenize and /detokenize. The table holds both routes'
 * fields; like tok_common, each route is parsed with its own subset (tokenize: no tokens or
 * key_version; detokenize: no values or mode). */
#include "fuzz_body.h"

static void body_after_parse(const struct api_body_spec *s, void *in)
{
	(void)s;
	(void)in;
}

/* The route's subset of the fields into f (as tok_common picks them). */
static size_t route_fields(const struct api_body_spec *all, bool reverse, struct hg_field *f)
{
	size_t n = 0;
	for (size_t i = 0; i < all->n; i++) {
		const char *name = all->fields[i].name;
		if ((reverse && (strcmp(name, "values") == 0 || strcmp(name, "mode") == 0)) ||
		    (!reverse && (strcmp(name, "tokens") == 0 || strcmp(name, "key_version") == 0)))
			continue;
		f[n++] = all->fields[i];
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = (char *)fuzz_copy(data, size);
	for (const struct api_body_spec *all = api_tokens_bodies; all->route; all++) {
		struct hg_field f[16];
		FUZZ_ASSERT(all->n <= sizeof f / sizeof *f);
		for (int reverse = 0; reverse < 2; reverse++) {
			struct api_body_spec s = *all;
			s.n = route_fields(all, reverse, f);
			s.fields = f;
			body_run(&s, body, size);
		}
	}
	free(body);
	return 0;
}
