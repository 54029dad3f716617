/* The ciphertext envelope "hsmgw:v<N>:<base64>" (api_envelope_parse), as decrypt and
 * reencrypt read it from the request. Properties: the parser never reads past the length
 * it is given; what it accepts is canonical — formatting the version and bytes it returned
 * gives back exactly the input — and within its limits. */
#include "../../src/api/api_internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = (char *)fuzz_copy(data, size);
	int version = 0;
	uint8_t *raw = NULL;
	size_t n = 0;
	if (api_envelope_parse(s, size, &version, &raw, &n)) {
		FUZZ_ASSERT(version >= 1);
		FUZZ_ASSERT(n <= HG_ENVELOPE_MAX_RAW);
		char *again = api_envelope_format(version, raw, n);
		FUZZ_ASSERT(strlen(again) == size && memcmp(again, s, size) == 0);
		free(again);
		hg_free_secret(raw, n ? n : 1);
	}
	free(s);
	return 0;
}
