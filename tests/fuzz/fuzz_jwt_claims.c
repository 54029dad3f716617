/* auth_verify after the signature check: the target signs what the fuzzer makes, so the
 * claim rules run on arbitrary header and claims JSON. The input is the header, a NUL and
 * the claims (without a NUL, the whole input is the claims under {"alg":"HS256"}); the
 * token is signed with HMAC under the "hs" tenant's secret, with the hash the header's alg
 * names (HS384, HS512; SHA-256 for anything else). Each token is verified twice, through
 * the token cache: the second answer must equal the first. A success is checked against
 * the claim rules written out here (README: exp required, 60 s leeway on exp, nbf and iat,
 * aud contains the audience, sub printable ASCII ≤ 255, scope a string). */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_jwt.h"

static struct hg_auth *auth;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	auth = fuzz_auth_new(64);
	return 0;
}

/* base64url of n bytes, malloc'd. */
static char *b64u(const void *p, size_t n)
{
	char *s = malloc(b64_encoded_len(n) + 1);
	b64url_encode(p, n, s);
	return s;
}

static const EVP_MD *md_for(const uint8_t *hdr, size_t n)
{
	json_t *h = json_loadb((const char *)hdr, n, 0, NULL);
	const char *alg = json_string_value(json_object_get(h, "alg"));
	const EVP_MD *md = alg && strcmp(alg, "HS384") == 0   ? EVP_sha384()
			   : alg && strcmp(alg, "HS512") == 0 ? EVP_sha512()
							      : EVP_sha256();
	json_decref(h);
	return md;
}

/* "Bearer <header>.<claims>.<HMAC>", malloc'd. */
static char *signed_bearer(const uint8_t *hdr, size_t hn, const uint8_t *claims, size_t cn)
{
	char *h = b64u(hdr, hn), *c = b64u(claims, cn);
	size_t in_len = strlen(h) + 1 + strlen(c);
	char *input = malloc(in_len + 1);
	snprintf(input, in_len + 1, "%s.%s", h, c);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (!HMAC(md_for(hdr, hn), FUZZ_HS_SECRET, (int)strlen(FUZZ_HS_SECRET), (const unsigned char *)input, in_len,
		  mac, &mac_len))
		abort();
	char *sig = b64u(mac, mac_len);
	size_t n = 7 + in_len + 1 + strlen(sig) + 1;
	char *out = malloc(n);
	snprintf(out, n, "Bearer %s.%s", input, sig);
	free(h);
	free(c);
	free(input);
	free(sig);
	return out;
}

static bool aud_ok(const json_t *aud)
{
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), FUZZ_AUDIENCE) == 0;
	size_t i;
	json_t *v;
	json_array_foreach (aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), FUZZ_AUDIENCE) == 0)
			return true;
	return false;
}

/* The claim rules, independently. */
static void check_claims(const uint8_t *claims, size_t n, const struct hg_principal *who)
{
	json_t *c = json_loadb((const char *)claims, n, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_ASSERT(json_is_object(c));
	time_t now = time(NULL);
	json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf"), *iat = json_object_get(c, "iat"),
	       *sub = json_object_get(c, "sub"), *scope = json_object_get(c, "scope");
	FUZZ_ASSERT(json_is_integer(exp) && json_integer_value(exp) >= (json_int_t)now - HG_JWT_LEEWAY_S);
	FUZZ_ASSERT(!nbf || (json_is_integer(nbf) && json_integer_value(nbf) <= (json_int_t)now + HG_JWT_LEEWAY_S));
	FUZZ_ASSERT(!iat || (json_is_integer(iat) && json_integer_value(iat) <= (json_int_t)now + HG_JWT_LEEWAY_S));
	FUZZ_ASSERT(aud_ok(json_object_get(c, "aud")));
	FUZZ_ASSERT(json_is_string(sub) && strcmp(json_string_value(sub), who->sub) == 0);
	FUZZ_ASSERT(!scope || json_is_string(scope));
	FUZZ_ASSERT(json_is_string(json_object_get(c, "iss")) &&
		    strcmp(json_string_value(json_object_get(c, "iss")), who->tenant->issuer) == 0);
	json_decref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char dflt[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	const uint8_t *nul = memchr(data, '\0', size);
	const uint8_t *hdr = nul ? data : (const uint8_t *)dflt, *claims = nul ? nul + 1 : data;
	size_t hn = nul ? (size_t)(nul - data) : strlen(dflt), cn = nul ? size - hn - 1 : size;
	char *authz = signed_bearer(hdr, hn, claims, cn);
	struct hg_principal who[2];
	char detail[2][128] = {"", ""};
	memset(who, 0, sizeof who);
	hg_err e[2];
	for (int i = 0; i < 2; i++) {
		e[i] = auth_verify(auth, authz, &who[i], detail[i], sizeof detail[i]);
		fuzz_check_verdict(e[i], authz, &who[i], detail[i]);
	}
	FUZZ_ASSERT(e[0] == e[1]);
	if (e[0] == HG_OK) {
		FUZZ_ASSERT(who[0].tenant == who[1].tenant && who[0].scopes == who[1].scopes &&
			    strcmp(who[0].sub, who[1].sub) == 0);
		check_claims(claims, cn, &who[0]);
	}
	free(authz);
	return 0;
}
