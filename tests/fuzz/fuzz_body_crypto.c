/* Request bodies of the cryptographic routes: encrypt, decrypt, reencrypt, datakey, sign,
 * verify, mac, mac/verify and random, and the batch form's recognition. After a successful
 * parse of a decrypt body, its envelope goes through the envelope parser as the handler's
 * would. */
#include "fuzz_body.h"

static void body_after_parse(const struct api_body_spec *s, void *in)
{
	const char *ct = body_str(s, in, "ciphertext");
	int version;
	uint8_t *raw = NULL;
	size_t n = 0;
	if (ct && api_envelope_parse(ct, strlen(ct), &version, &raw, &n)) {
		FUZZ_ASSERT(version >= 1 && n <= HG_ENVELOPE_MAX_RAW);
		hg_free_secret(raw, n ? n : 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct api_body_spec *const tables[] = {api_crypto_bodies, api_sign_bodies};
	body_run_tables(tables, sizeof tables / sizeof *tables, data, size);

	/* {"batch": …} is recognised before any field is parsed; never inside a batch item. */
	char *body = (char *)fuzz_copy(data, size);
	struct hg_request req = {0};
	req.body = body;
	req.body_len = size;
	bool batch = api_batch_requested(&req);
	req.batch_item = true;
	FUZZ_ASSERT(!api_batch_requested(&req));
	if (batch) {
		json_t *j = json_loadb(body, size, 0, NULL);
		FUZZ_ASSERT(json_is_object(j) && json_object_get(j, "batch"));
		json_decref(j);
	}
	free(body);
	return 0;
}
