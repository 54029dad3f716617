/* auth_verify on the Authorization header as it arrives: the scheme, the three segments,
 * base64url and JSON of header and claims, the issuer lookup and the algorithm allow-list —
 * all before any signature is checked — and then libjwt's verification (HS256 with the
 * tenant's secret, ES256 with its public key). No token cache: every input is verified in
 * full. */
#include "fuzz_jwt.h"

static struct hg_auth *auth;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	auth = fuzz_auth_new(0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *authz = fuzz_cstr(data, size);
	struct hg_principal who;
	char detail[128] = "";
	memset(&who, 0, sizeof who);
	hg_err e = auth_verify(auth, authz, &who, detail, sizeof detail);
	fuzz_check_verdict(e, authz, &who, detail);
	free(authz);
	return 0;
}
