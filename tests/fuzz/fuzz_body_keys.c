/* Request bodies of the key routes: create, import, export, PATCH, rotate, revoke,
 * schedule-destruction and the routes without fields. After a successful parse, what the
 * handlers do before any key or database is involved: RFC 3339 times and the usage list. */
#include "fuzz_body.h"

static void body_after_parse(const struct api_body_spec *s, void *in)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct hg_field *f = &s->fields[i];
		size_t nl = strlen(f->name);
		if (f->type == HG_F_STRING && nl > 3 && strcmp(f->name + nl - 3, "_at") == 0) {
			const char *t = *(const char **)body_dst(in, f);
			int64_t us;
			/* A time the parser accepts is RFC 3339, field by field. */
			if (t && time_parse_rfc3339(t, &us))
				FUZZ_ASSERT(fuzz_rfc3339_ok(t));
		}
		if (f->type == HG_F_STRINGS && strcmp(f->name, "usage") == 0) {
			const json_t *u = *(json_t **)body_dst(in, f);
			unsigned bits = api_usage_bits(u);
			/* Every validated name became its bit, and nothing else did. */
			FUZZ_ASSERT((unsigned)__builtin_popcount(bits) == json_array_size(u));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct api_body_spec *const tables[] = {api_keys_bodies, api_keys_io_bodies, api_lifecycle_bodies};
	body_run_tables(tables, sizeof tables / sizeof *tables, data, size);
	return 0;
}
