/* The strict decoders of util/ an attacker reaches: base64 (request fields), base64url (JWT
 * segments), hex (PIN blocks, payment messages), UUIDs (key references) and RFC 3339 times
 * (key dates). Properties: no read past the input; an accepted encoding is the canonical
 * one (encoding the result gives back the input, hex and UUIDs up to case); the size limit
 * holds; an accepted time is RFC 3339 field by field. */
#include <strings.h>

#include "fuzz.h"
#include "hsmgw/util.h"

/* The decoded size limit the input's first byte picks (0–255, or unlimited). */
static size_t limit_of(const uint8_t *data, size_t size)
{
	return size && data[0] != 0xff ? data[0] : (size_t)-1;
}

static void base64(const uint8_t *data, size_t size, bool url)
{
	size_t max = limit_of(data, size);
	char *in = (char *)fuzz_copy(data, size);
	uint8_t *out = NULL;
	size_t n = 0;
	int rc = url ? b64url_decode(in, size, max, &out, &n) : b64_decode(in, size, max, &out, &n);
	FUZZ_ASSERT(rc == 0 || rc == -1 || rc == -2);
	if (rc == 0) {
		FUZZ_ASSERT(out != NULL && n <= max);
		char *again = malloc(b64_encoded_len(n) + 1);
		if (url)
			b64url_encode(out, n, again);
		else
			b64_encode(out, n, again);
		FUZZ_ASSERT(strlen(again) == size && memcmp(again, in, size) == 0);
		free(again);
		hg_free_secret(out, n ? n : 1);
	}
	free(in);
}

static void hex(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	size_t n = strlen(s) / 2;
	uint8_t *out = malloc(n ? n : 1);
	if (hex_decode(s, out, n)) {
		FUZZ_ASSERT(strlen(s) == 2 * n);
		char *again = malloc(2 * n + 1);
		hex_encode(out, n, again);
		FUZZ_ASSERT(strcasecmp(again, s) == 0);
		hex_encode_lower(out, n, again);
		FUZZ_ASSERT(strcasecmp(again, s) == 0);
		free(again);
	}
	/* One digit too few or too many is never enough. */
	if (n > 0)
		FUZZ_ASSERT(!hex_decode(s, out, n - 1));
	free(out);
	free(s);
}

static void uuid(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	hg_uuid u;
	if (uuid_parse(s, &u)) {
		char again[HG_UUID_STR_LEN + 1];
		uuid_format(&u, again);
		FUZZ_ASSERT(strcasecmp(again, s) == 0);
	}
	free(s);
}

static void rfc3339(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	int64_t us;
	if (time_parse_rfc3339(s, &us))
		FUZZ_ASSERT(fuzz_rfc3339_ok(s));
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	base64(data, size, false);
	base64(data, size, true);
	if (size > 1) { /* the first byte also chose the limit above: decode the rest too */
		base64(data + 1, size - 1, false);
		base64(data + 1, size - 1, true);
	}
	hex(data, size);
	uuid(data, size);
	rfc3339(data, size);
	return 0;
}
