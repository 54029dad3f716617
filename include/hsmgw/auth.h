/* hsmgw — who is calling: bearer JWTs verified per tenant, and scopes. */
#ifndef HSMGW_AUTH_H
#define HSMGW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "hsmgw/config.h"
#include "hsmgw/error.h"

/* The scopes of API.md, as bits. X(enum, string) */
#define HG_SCOPES(X)                                                                                                   \
	X(HG_SCOPE_KEYS_READ, "keys:read")                                                                             \
	X(HG_SCOPE_KEYS_WRITE, "keys:write")                                                                           \
	X(HG_SCOPE_KEYS_ADMIN, "keys:admin")                                                                           \
	X(HG_SCOPE_CRYPTO_ENCRYPT, "crypto:encrypt")                                                                   \
	X(HG_SCOPE_CRYPTO_DECRYPT, "crypto:decrypt")                                                                   \
	X(HG_SCOPE_CRYPTO_SIGN, "crypto:sign")                                                                         \
	X(HG_SCOPE_CRYPTO_VERIFY, "crypto:verify")                                                                     \
	X(HG_SCOPE_CRYPTO_MAC, "crypto:mac")                                                                           \
	X(HG_SCOPE_CRYPTO_WRAP, "crypto:wrap")                                                                         \
	X(HG_SCOPE_PAYMENTS_PIN, "payments:pin")                                                                       \
	X(HG_SCOPE_PAYMENTS_CARD, "payments:card")                                                                     \
	X(HG_SCOPE_PAYMENTS_MAC, "payments:mac")                                                                       \
	X(HG_SCOPE_TOKENS_TOKENIZE, "tokens:tokenize")                                                                 \
	X(HG_SCOPE_TOKENS_DETOKENIZE, "tokens:detokenize")                                                             \
	X(HG_SCOPE_AUDIT_READ, "audit:read")                                                                           \
	X(HG_SCOPE_APPROVALS_APPROVE, "approvals:approve")                                                             \
	X(HG_SCOPE_HSM_READ, "hsm:read")

enum hg_scope_bit {
#define HG_SCOPE_ENUM(e, s) e##_BIT,
	HG_SCOPES(HG_SCOPE_ENUM)
#undef HG_SCOPE_ENUM
	    HG_SCOPE_COUNT
};
#define HG_SCOPE(e) (1u << e##_BIT)

/* The longest bearer token accepted (RFC 8725 hardening: bounded parsing work). */
#define HG_MAX_TOKEN_LEN 8192
#define HG_MAX_SUB_LEN   255
/* Clock skew allowed on exp and nbf, in seconds. */
#define HG_JWT_LEEWAY_S 60

struct hg_principal {
	const struct hg_tenant_cfg *tenant;
	char sub[HG_MAX_SUB_LEN + 1];
	unsigned scopes; /* HG_SCOPE(...) bits */
};

struct hg_auth;

/* Loads every tenant's verification key. NULL and a reason in err on failure. */
struct hg_auth *auth_new(const struct hg_config *cfg, char *err, size_t err_len);
void auth_free(struct hg_auth *a);

/* Verifies an Authorization header value ("Bearer <JWT>"; NULL when absent). On success
 * fills *who. A token that verified is remembered (by its digest) until its exp or
 * auth.token_cache_seconds, so it is verified in full once per period, not per request. Every failure is
 * HG_E_UNAUTHENTICATED with a short reason in detail that never repeats the token. */
hg_err auth_verify(const struct hg_auth *a, const char *authorization, struct hg_principal *who, char *detail,
		   size_t detail_len) HG_WARN_UNUSED;

/* The verified-token cache's hit and miss counts since start (0 when it is off). */
void auth_cache_stats(const struct hg_auth *a, unsigned long *hits, unsigned long *misses);

/* The bit of a scope name, or 0 when unknown. */
unsigned auth_scope_bit(const char *name);
/* The name of a single scope bit; static storage. */
const char *auth_scope_name(unsigned bit);

#endif
