/* JWT verification against keys made in the test: the algorithm allow-list is checked
 * before the signature (algorithm confusion), and every claim rule of API.md holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "hsmgw/auth.h"
#include "unit.h"

static char dir[64];
static char acme_priv[256], acme_pub[256], other_priv[256], other_pub[256];
static struct hg_config cfg;
static struct hg_tenant_cfg tenants[2];
static struct hg_auth *auth;

static void write_key_pair(const char *priv, const char *pub)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(k);
	FILE *f = fopen(priv, "w");
	ck_assert(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	f = fopen(pub, "w");
	ck_assert(PEM_write_PUBKEY(f, k) == 1);
	fclose(f);
	EVP_PKEY_free(k);
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/hsmgw-auth-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(acme_priv, sizeof acme_priv, "%s/acme.pem", dir);
	snprintf(acme_pub, sizeof acme_pub, "%s/acme.pub", dir);
	snprintf(other_priv, sizeof other_priv, "%s/other.pem", dir);
	snprintf(other_pub, sizeof other_pub, "%s/other.pub", dir);
	write_key_pair(acme_priv, acme_pub);
	write_key_pair(other_priv, other_pub);
	tenants[0] = (struct hg_tenant_cfg){.name = "acme",
					    .issuer = "https://acme/",
					    .audience = "hsmgw",
					    .algorithms = 1u << HG_ALG_ES256,
					    .key_file = acme_pub};
	tenants[1] = (struct hg_tenant_cfg){.name = "globex",
					    .issuer = "https://globex/",
					    .audience = "hsmgw",
					    .algorithms = 1u << HG_ALG_ES256,
					    .key_file = other_pub};
	cfg.tenants = tenants;
	cfg.n_tenants = 2;
	char err[256];
	auth = auth_new(&cfg, err, sizeof err);
	ck_assert_msg(auth != NULL, "%s", err);
}

static void teardown(void)
{
	auth_free(auth);
	unlink(acme_priv);
	unlink(acme_pub);
	unlink(other_priv);
	unlink(other_pub);
	rmdir(dir);
}

struct claims {
	const char *iss, *sub, *aud, *scope;
	long exp_in, nbf_in; /* seconds from now; 0: claim absent */
};

/* Extra JOSE header members and an iat claim (0: absent). */
struct extras {
	const char *kid, *typ;
	long iat_in;
};

static char *bearer_x(jwt_alg_t alg, const char *keyfile, struct claims c, struct extras x);

/* "Bearer <token>" signed with alg and the key in file keyfile; the caller frees. */
static char *bearer(jwt_alg_t alg, const char *keyfile, struct claims c)
{
	return bearer_x(alg, keyfile, c, (struct extras){0});
}

static char *bearer_x(jwt_alg_t alg, const char *keyfile, struct claims c, struct extras x)
{
	size_t klen = 0;
	char *key = file_read_all(keyfile, 65536, &klen);
	ck_assert_ptr_nonnull(key);
	jwt_t *j;
	ck_assert_int_eq(jwt_new(&j), 0);
	time_t now = time(NULL);
	if (c.iss)
		jwt_add_grant(j, "iss", c.iss);
	if (c.sub)
		jwt_add_grant(j, "sub", c.sub);
	if (c.aud)
		jwt_add_grant(j, "aud", c.aud);
	if (c.scope)
		jwt_add_grant(j, "scope", c.scope);
	if (c.exp_in)
		jwt_add_grant_int(j, "exp", now + c.exp_in);
	if (c.nbf_in)
		jwt_add_grant_int(j, "nbf", now + c.nbf_in);
	if (x.iat_in)
		jwt_add_grant_int(j, "iat", now + x.iat_in);
	if (x.kid)
		jwt_add_header(j, "kid", x.kid);
	if (x.typ)
		jwt_add_header(j, "typ", x.typ);
	ck_assert_int_eq(jwt_set_alg(j, alg, (unsigned char *)key, (int)klen), 0);
	char *tok = jwt_encode_str(j);
	jwt_free(j);
	free(key);
	ck_assert_ptr_nonnull(tok);
	char *out = malloc(strlen(tok) + 8);
	sprintf(out, "Bearer %s", tok);
	free(tok);
	return out;
}

static const struct claims good = {"https://acme/", "alice", "hsmgw", "keys:read crypto:encrypt", 300, 0};

static hg_err verify(const char *header, struct hg_principal *who, char *detail)
{
	return auth_verify(auth, header, who, detail, 128);
}

START_TEST(test_valid_token_yields_tenant_subject_and_scopes)
{
	char *h = bearer(JWT_ALG_ES256, acme_priv, good), detail[128] = "";
	struct hg_principal who;
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	ck_assert_str_eq(who.tenant->name, "acme");
	ck_assert_str_eq(who.sub, "alice");
	ck_assert_uint_eq(who.scopes, HG_SCOPE(HG_SCOPE_KEYS_READ) | HG_SCOPE(HG_SCOPE_CRYPTO_ENCRYPT));
	free(h);
}
END_TEST

static void assert_denied(char *h, const char *why)
{
	char detail[128] = "";
	struct hg_principal who;
	ck_assert_int_eq(verify(h, &who, detail), HG_E_UNAUTHENTICATED);
	ck_assert_msg(strstr(detail, why) != NULL, "detail \"%s\" lacks \"%s\"", detail, why);
	free(h);
}

START_TEST(test_hs256_with_the_public_key_as_secret_is_refused)
{
	/* The algorithm-confusion attack: the attacker knows the tenant's public key PEM and uses
	 * it as an HMAC secret. libjwt alone would verify this signature. */
	assert_denied(bearer(JWT_ALG_HS256, acme_pub, good), "algorithm not allowed");
}
END_TEST

START_TEST(test_alg_none_is_refused)
{
	/* {"alg":"none","typ":"JWT"} . {"iss":"https://acme/","sub":"x","aud":"hsmgw","exp":9999999999} . */
	assert_denied(strdup("Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2FjbWUvIiwic3ViIjoieCIsIm"
			     "F1ZCI6ImhzbWd3IiwiZXhwIjo5OTk5OTk5OTk5fQ."),
		      "algorithm not allowed");
}
END_TEST

START_TEST(test_signature_by_another_key_is_refused)
{
	assert_denied(bearer(JWT_ALG_ES256, other_priv, good), "signature");
}
END_TEST

START_TEST(test_claim_rules_are_enforced)
{
	struct claims c = good;
	c.exp_in = -120;
	assert_denied(bearer(JWT_ALG_ES256, acme_priv, c), "expired");
	c = good;
	c.exp_in = 0;
	assert_denied(bearer(JWT_ALG_ES256, acme_priv, c), "no exp");
	c = good;
	c.nbf_in = 120;
	assert_denied(bearer(JWT_ALG_ES256, acme_priv, c), "nbf");
	c = good;
	c.aud = "someone-else";
	assert_denied(bearer(JWT_ALG_ES256, acme_priv, c), "audience");
	c = good;
	c.iss = "https://unknown/";
	assert_denied(bearer(JWT_ALG_ES256, acme_priv, c), "unknown issuer");
	c = good;
	c.sub = NULL;
	assert_denied(bearer(JWT_ALG_ES256, acme_priv, c), "sub");
	c = good;
	c.sub = "line\nbreak";
	assert_denied(bearer(JWT_ALG_ES256, acme_priv, c), "sub");
}
END_TEST

START_TEST(test_leeway_of_sixty_seconds_applies)
{
	struct claims c = good;
	c.exp_in = -30; /* expired 30 s ago: inside the leeway */
	c.nbf_in = 30;  /* valid in 30 s: inside the leeway */
	char *h = bearer(JWT_ALG_ES256, acme_priv, c), detail[128] = "";
	struct hg_principal who;
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	free(h);
}
END_TEST

START_TEST(test_malformed_headers_are_refused)
{
	assert_denied(NULL, "missing");
	assert_denied(strdup("Basic YWxhZGRpbjpvcGVuc2VzYW1l"), "Bearer");
	assert_denied(strdup("Bearer "), "malformed");
	assert_denied(strdup("Bearer a.b"), "malformed");
	assert_denied(strdup("Bearer a.b.c.d"), "malformed");
	assert_denied(strdup("Bearer !!!.???.sig"), "malformed");
	char *big = malloc(HG_MAX_TOKEN_LEN + 16);
	strcpy(big, "Bearer ");
	memset(big + 7, 'a', HG_MAX_TOKEN_LEN + 1);
	big[HG_MAX_TOKEN_LEN + 8] = '\0';
	assert_denied(big, "too long");
}
END_TEST

START_TEST(test_stripped_signature_is_refused)
{
	char *h = bearer(JWT_ALG_ES256, acme_priv, good);
	*(strrchr(h, '.') + 1) = '\0';
	assert_denied(h, "no signature");
}
END_TEST

START_TEST(test_unknown_scopes_are_ignored)
{
	struct claims c = good;
	c.scope = "keys:read  root:everything crypto:decrypt";
	char *h = bearer(JWT_ALG_ES256, acme_priv, c), detail[128] = "";
	struct hg_principal who;
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	ck_assert_uint_eq(who.scopes, HG_SCOPE(HG_SCOPE_KEYS_READ) | HG_SCOPE(HG_SCOPE_CRYPTO_DECRYPT));
	free(h);
}
END_TEST

START_TEST(test_iat_in_the_future_is_refused)
{
	assert_denied(bearer_x(JWT_ALG_ES256, acme_priv, good, (struct extras){.iat_in = 120}), "iat");
	char *h = bearer_x(JWT_ALG_ES256, acme_priv, good, (struct extras){.iat_in = -10}), detail[128] = "";
	struct hg_principal who;
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	free(h);
}
END_TEST

/* Restarts the verifier over the current tenants; returns auth_new's error, "" on success. */
static const char *reload(void)
{
	static char err[256];
	err[0] = '\0';
	auth_free(auth);
	auth = auth_new(&cfg, err, sizeof err);
	return err;
}

START_TEST(test_several_keys_are_chosen_by_kid)
{
	char *keys[] = {NULL, NULL, NULL};
	char k1[300], k2[300];
	snprintf(k1, sizeof k1, "2026-01=%s", acme_pub);
	snprintf(k2, sizeof k2, "2026-07=%s", other_pub);
	keys[0] = k1;
	keys[1] = k2;
	tenants[0].key_file = NULL;
	tenants[0].keys = keys;
	ck_assert_str_eq(reload(), "");
	char detail[128] = "";
	struct hg_principal who;
	/* The new key (other_priv, kid 2026-07) and the old one (acme_priv, kid 2026-01) both verify. */
	char *h = bearer_x(JWT_ALG_ES256, other_priv, good, (struct extras){.kid = "2026-07"});
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	free(h);
	h = bearer_x(JWT_ALG_ES256, acme_priv, good, (struct extras){.kid = "2026-01"});
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	free(h);
	assert_denied(bearer_x(JWT_ALG_ES256, acme_priv, good, (struct extras){.kid = "2026-07"}), "signature");
	assert_denied(bearer_x(JWT_ALG_ES256, acme_priv, good, (struct extras){.kid = "2025-01"}), "kid");
	assert_denied(bearer(JWT_ALG_ES256, acme_priv, good), "no kid");
	tenants[0].keys = NULL;
	tenants[0].key_file = acme_pub;
}
END_TEST

/* "Bearer <token>" HS256-signed by hand with secret, for headers libjwt 1.10 will not write
 * (it always sets typ to JWT); the caller frees. */
static char *hs256_token(const char *secret, const char *header_json, const char *claims)
{
	char h64[256], c64[600], sig64[64], signing[900];
	b64url_encode((const uint8_t *)header_json, strlen(header_json), h64);
	b64url_encode((const uint8_t *)claims, strlen(claims), c64);
	snprintf(signing, sizeof signing, "%s.%s", h64, c64);
	unsigned char mac[32];
	unsigned int ml = 0;
	ck_assert_ptr_nonnull(
	    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signing, strlen(signing), mac, &ml));
	b64url_encode(mac, ml, sig64);
	char *out = malloc(strlen(signing) + strlen(sig64) + 16);
	sprintf(out, "Bearer %s.%s", signing, sig64);
	return out;
}

/* "Bearer <token>" HS256-signed by hand with secret, for headers libjwt 1.10 will not write
 * (it always sets typ to JWT); the caller frees. */
static char *bearer_hs256_raw(const char *header_json, const char *secret)
{
	char claims[256];
	snprintf(claims, sizeof claims,
		 "{\"iss\":\"https://acme/\",\"sub\":\"alice\",\"aud\":\"hsmgw\",\"scope\":\"keys:read\",\"exp\":%lld}",
		 (long long)time(NULL) + 300);
	return hs256_token(secret, header_json, claims);
}

/* The same with exp as given and extra claims appended (",\"nbf\":…"). */
static char *bearer_hs256_claims(const char *secret, const char *exp, const char *extra)
{
	char claims[400];
	snprintf(claims, sizeof claims, "{\"iss\":\"https://acme/\",\"sub\":\"alice\",\"aud\":\"hsmgw\",\"exp\":%s%s}",
		 exp, extra);
	return hs256_token(secret, "{\"alg\":\"HS256\"}", claims);
}

START_TEST(test_typ_is_checked_when_configured)
{
	const char *secret = "a secret of thirty-two bytes or more";
	char path[300];
	snprintf(path, sizeof path, "%s/hs.secret", dir);
	FILE *f = fopen(path, "w");
	fputs(secret, f);
	fclose(f);
	tenants[0].algorithms = 1u << HG_ALG_HS256;
	tenants[0].key_file = path;
	/* libjwt 1.10 refuses every typ but JWT, so no other can be required. */
	tenants[0].typ = "at+jwt";
	ck_assert_ptr_nonnull(strstr(reload(), "typ"));
	tenants[0].typ = "JWT";
	ck_assert_str_eq(reload(), "");
	char detail[128] = "";
	struct hg_principal who;
	assert_denied(bearer_hs256_raw("{\"alg\":\"HS256\"}", secret), "typ");
	assert_denied(bearer_hs256_raw("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", secret), "typ");
	const char *ok[] = {"JWT", "jwt"};
	for (size_t i = 0; i < 2; i++) {
		char hdr[96];
		snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"typ\":\"%s\"}", ok[i]);
		char *h = bearer_hs256_raw(hdr, secret);
		ck_assert_msg(verify(h, &who, detail) == HG_OK, "typ %s refused: %s", ok[i], detail);
		free(h);
	}
	/* Without a configured typ, a token without one is fine. */
	tenants[0].typ = NULL;
	ck_assert_str_eq(reload(), "");
	char *h = bearer_hs256_raw("{\"alg\":\"HS256\"}", secret);
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	free(h);
	tenants[0].algorithms = 1u << HG_ALG_ES256;
	tenants[0].key_file = acme_pub;
	unlink(path);
}
END_TEST

START_TEST(test_a_key_that_does_not_suit_the_algorithms_stops_the_start)
{
	/* An ES256 tenant given an RSA public key. */
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	char rsa_pub[300], secret[300];
	snprintf(rsa_pub, sizeof rsa_pub, "%s/rsa.pub", dir);
	FILE *f = fopen(rsa_pub, "w");
	ck_assert(PEM_write_PUBKEY(f, rsa) == 1);
	fclose(f);
	EVP_PKEY_free(rsa);
	tenants[0].key_file = rsa_pub;
	ck_assert_ptr_nonnull(strstr(reload(), "not a PEM EC public key"));
	/* An HS256 tenant given a PEM (algorithm confusion), or a short secret. */
	tenants[0].algorithms = 1u << HG_ALG_HS256;
	tenants[0].key_file = acme_pub;
	ck_assert_ptr_nonnull(strstr(reload(), "not a PEM document"));
	snprintf(secret, sizeof secret, "%s/short.secret", dir);
	f = fopen(secret, "w");
	fputs("sixteen byte key", f);
	fclose(f);
	tenants[0].key_file = secret;
	ck_assert_ptr_nonnull(strstr(reload(), "at least 32 bytes"));
	f = fopen(secret, "w");
	fputs("a secret of thirty-two bytes or more", f);
	fclose(f);
	ck_assert_str_eq(reload(), "");
	tenants[0].algorithms = 1u << HG_ALG_ES256;
	tenants[0].key_file = acme_pub;
	ck_assert_str_eq(reload(), "");
	unlink(rsa_pub);
	unlink(secret);
}
END_TEST

START_TEST(test_extreme_time_claims_are_judged_without_overflow)
{
	/* HS256 by hand (bearer_hs256_raw's claims are fixed): the tenant is switched to a secret. */
	const char *secret = "a secret of thirty-two bytes or more";
	char path[300];
	snprintf(path, sizeof path, "%s/hs2.secret", dir);
	FILE *f = fopen(path, "w");
	fputs(secret, f);
	fclose(f);
	tenants[0].algorithms = 1u << HG_ALG_HS256;
	tenants[0].key_file = path;
	ck_assert_str_eq(reload(), "");
	static const struct {
		const char *extra;
		hg_err want;
	} cases[] = {
	    {",\"nbf\":-9223372036854775808", HG_OK},
	    {",\"iat\":-9223372036854775808", HG_OK},
	    {",\"nbf\":9223372036854775807", HG_E_UNAUTHENTICATED},
	    {",\"iat\":9223372036854775807", HG_E_UNAUTHENTICATED},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *h = bearer_hs256_claims(secret, "9223372036854775807", cases[i].extra), detail[128] = "";
		struct hg_principal who;
		ck_assert_msg(verify(h, &who, detail) == cases[i].want, "%s: %s", cases[i].extra, detail);
		free(h);
	}
	char *h = bearer_hs256_claims(secret, "-9223372036854775808", ""), detail[128] = "";
	struct hg_principal who;
	ck_assert_int_eq(verify(h, &who, detail), HG_E_UNAUTHENTICATED);
	ck_assert_str_eq(detail, "token expired");
	free(h);
	tenants[0].algorithms = 1u << HG_ALG_ES256;
	tenants[0].key_file = acme_pub;
	unlink(path);
}
END_TEST

/* ---- the verified-token cache ---- */
static void setup_cached(void)
{
	cfg.auth_token_cache_entries = 16;
	cfg.auth_token_cache_s = 300;
	setup();
}

static void teardown_cached(void)
{
	teardown();
	cfg.auth_token_cache_entries = 0;
	cfg.auth_token_cache_s = 0;
}

static void assert_stats(unsigned long hits, unsigned long misses)
{
	unsigned long h, m;
	auth_cache_stats(auth, &h, &m);
	ck_assert_uint_eq(h, hits);
	ck_assert_uint_eq(m, misses);
}

START_TEST(test_cached_token_is_verified_once_and_yields_the_same_principal)
{
	char *h = bearer(JWT_ALG_ES256, acme_priv, good), detail[128] = "";
	struct hg_principal a, b;
	ck_assert_int_eq(verify(h, &a, detail), HG_OK);
	assert_stats(0, 1);
	memset(&b, 0, sizeof b);
	ck_assert_int_eq(verify(h, &b, detail), HG_OK);
	assert_stats(1, 1);
	ck_assert_ptr_eq(b.tenant, a.tenant);
	ck_assert_str_eq(b.sub, "alice");
	ck_assert_uint_eq(b.scopes, a.scopes);
	free(h);
}
END_TEST

START_TEST(test_cache_never_outlives_the_tokens_exp)
{
	struct claims c = good;
	c.exp_in = -HG_JWT_LEEWAY_S + 1; /* still accepted for one more second */
	char *h = bearer(JWT_ALG_ES256, acme_priv, c), detail[128] = "";
	struct hg_principal who;
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	sleep(2);
	ck_assert_int_eq(verify(h, &who, detail), HG_E_UNAUTHENTICATED);
	ck_assert_str_eq(detail, "token expired");
	assert_stats(0, 2);
	free(h);
}
END_TEST

START_TEST(test_cache_entries_expire_after_the_configured_time)
{
	auth_free(auth);
	cfg.auth_token_cache_s = 1;
	char err[256];
	auth = auth_new(&cfg, err, sizeof err);
	ck_assert_ptr_nonnull(auth);
	char *h = bearer(JWT_ALG_ES256, acme_priv, good), detail[128] = "";
	struct hg_principal who;
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	assert_stats(1, 1);
	sleep(2);
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	assert_stats(1, 2);
	free(h);
}
END_TEST

START_TEST(test_failures_are_not_cached_and_an_altered_token_misses)
{
	char *bad = bearer(JWT_ALG_ES256, other_priv, good), detail[128] = "";
	struct hg_principal who;
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(verify(bad, &who, detail), HG_E_UNAUTHENTICATED);
	assert_stats(0, 2);
	char *h = bearer(JWT_ALG_ES256, acme_priv, good);
	ck_assert_int_eq(verify(h, &who, detail), HG_OK);
	char *sig = strrchr(h, '.') + 1;
	sig[0] = sig[0] == 'A' ? 'B' : 'A'; /* another signature over the same claims */
	ck_assert_int_eq(verify(h, &who, detail), HG_E_UNAUTHENTICATED);
	assert_stats(0, 4);
	free(bad);
	free(h);
}
END_TEST

Suite *suite_auth(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("jwt");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_valid_token_yields_tenant_subject_and_scopes);
	tcase_add_test(tc, test_hs256_with_the_public_key_as_secret_is_refused);
	tcase_add_test(tc, test_alg_none_is_refused);
	tcase_add_test(tc, test_signature_by_another_key_is_refused);
	tcase_add_test(tc, test_claim_rules_are_enforced);
	tcase_add_test(tc, test_leeway_of_sixty_seconds_applies);
	tcase_add_test(tc, test_malformed_headers_are_refused);
	tcase_add_test(tc, test_stripped_signature_is_refused);
	tcase_add_test(tc, test_unknown_scopes_are_ignored);
	tcase_add_test(tc, test_iat_in_the_future_is_refused);
	tcase_add_test(tc, test_several_keys_are_chosen_by_kid);
	tcase_add_test(tc, test_typ_is_checked_when_configured);
	tcase_add_test(tc, test_extreme_time_claims_are_judged_without_overflow);
	tcase_add_test(tc, test_a_key_that_does_not_suit_the_algorithms_stops_the_start);
	suite_add_tcase(s, tc);
	tc = tcase_create("token_cache");
	tcase_add_checked_fixture(tc, setup_cached, teardown_cached);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_cached_token_is_verified_once_and_yields_the_same_principal);
	tcase_add_test(tc, test_cache_never_outlives_the_tokens_exp);
	tcase_add_test(tc, test_cache_entries_expire_after_the_configured_time);
	tcase_add_test(tc, test_failures_are_not_cached_and_an_altered_token_misses);
	suite_add_tcase(s, tc);
	return s;
}
