/* The route table: every route of the API, as data. tests/unit checks it against the paths
 * and methods of openapi/hsmgw.yaml, so the two cannot drift. */
#include "api_internal.h"

/* An authenticated, audited /v1 route; KEEP: its 2xx responses are kept for Idempotency-Key. */
#define V1(method, path, handler, scope, operation, query, arg, keep)                                                  \
	{                                                                                                              \
		method, path, handler, HG_SCOPE(scope), true, operation, query, arg, keep                              \
	}
#define KEEP    true
#define NO_KEEP false /* GETs, and responses that carry a plaintext */
/* The same, for a route that needs two scopes. */
#define V1_2(method, path, handler, scope1, scope2, operation, query, arg, keep)                                       \
	{                                                                                                              \
		method, path, handler, HG_SCOPE(scope1) | HG_SCOPE(scope2), true, operation, query, arg, keep          \
	}
/* An operational route: no token, no audit row. */
#define OPS(path, handler, operation)                                                                                  \
	{                                                                                                              \
		"GET", path, handler, 0, false, operation, NULL, 0, false                                              \
	}

// clang-format off
const struct hg_route api_routes[] = {
	V1("POST", "/v1/keys", api_keys_create, HG_SCOPE_KEYS_WRITE, "keys.create", NULL, 0, KEEP),
	V1("GET", "/v1/keys", api_keys_list, HG_SCOPE_KEYS_READ, "keys.list", "limit cursor state type name label", 0, NO_KEEP),
	V1("POST", "/v1/keys/import", api_keys_import, HG_SCOPE_KEYS_ADMIN, "keys.import", NULL, 0, KEEP),
	V1("GET", "/v1/keys/{key}", api_keys_get, HG_SCOPE_KEYS_READ, "keys.get", NULL, 0, NO_KEEP),
	V1("PATCH", "/v1/keys/{key}", api_keys_patch, HG_SCOPE_KEYS_WRITE, "keys.update", NULL, 0, NO_KEEP),
	V1("DELETE", "/v1/keys/{key}", api_keys_schedule_destruction, HG_SCOPE_KEYS_ADMIN, "keys.delete", NULL, 1, NO_KEEP),
	V1("POST", "/v1/keys/{key}/rotate", api_keys_rotate, HG_SCOPE_KEYS_WRITE, "keys.rotate", NULL, 0, KEEP),
	V1("POST", "/v1/keys/{key}/rollback", api_keys_rollback, HG_SCOPE_KEYS_ADMIN, "keys.rollback", NULL, 0, KEEP),
	V1("POST", "/v1/keys/{key}/suspend", api_keys_transition, HG_SCOPE_KEYS_ADMIN, "keys.suspend", NULL, HG_ACT_SUSPEND, KEEP),
	V1("POST", "/v1/keys/{key}/resume", api_keys_transition, HG_SCOPE_KEYS_ADMIN, "keys.resume", NULL, HG_ACT_RESUME, KEEP),
	V1("POST", "/v1/keys/{key}/deactivate", api_keys_transition, HG_SCOPE_KEYS_ADMIN, "keys.deactivate", NULL,
	   HG_ACT_DEACTIVATE, KEEP),
	V1("POST", "/v1/keys/{key}/revoke", api_keys_revoke, HG_SCOPE_KEYS_ADMIN, "keys.revoke", NULL, 0, KEEP),
	V1("POST", "/v1/keys/{key}/schedule-destruction", api_keys_schedule_destruction, HG_SCOPE_KEYS_ADMIN,
	   "keys.schedule_destruction", NULL, 0, KEEP),
	V1("POST", "/v1/keys/{key}/cancel-destruction", api_keys_transition, HG_SCOPE_KEYS_ADMIN,
	   "keys.cancel_destruction", NULL, HG_ACT_CANCEL_DESTRUCTION, KEEP),
	V1("GET", "/v1/keys/{key}/public-key", api_keys_public_key, HG_SCOPE_KEYS_READ, "keys.public_key", "version", 0, NO_KEEP),
	V1("POST", "/v1/keys/{key}/export", api_keys_export, HG_SCOPE_KEYS_ADMIN, "keys.export", "version", 0, KEEP),
	V1("GET", "/v1/keys/{key}/events", api_keys_events, HG_SCOPE_KEYS_READ, "keys.events", "limit cursor", 0, NO_KEEP),
	V1("POST", "/v1/keys/{key}/encrypt", api_crypto_encrypt, HG_SCOPE_CRYPTO_ENCRYPT, "crypto.encrypt", NULL, 0, KEEP),
	V1("POST", "/v1/keys/{key}/decrypt", api_crypto_decrypt, HG_SCOPE_CRYPTO_DECRYPT, "crypto.decrypt", NULL, 0, NO_KEEP),
	V1_2("POST", "/v1/keys/{key}/reencrypt", api_crypto_reencrypt, HG_SCOPE_CRYPTO_DECRYPT, HG_SCOPE_CRYPTO_ENCRYPT,
	     "crypto.reencrypt", NULL, 0, KEEP),
	/* The response carries the data key in the clear: never kept. */
	V1("POST", "/v1/keys/{key}/datakey", api_crypto_datakey, HG_SCOPE_CRYPTO_ENCRYPT, "crypto.datakey", NULL, 0, NO_KEEP),
	V1("POST", "/v1/keys/{key}/sign", api_crypto_sign, HG_SCOPE_CRYPTO_SIGN, "crypto.sign", NULL, 0, KEEP),
	V1("POST", "/v1/keys/{key}/verify", api_crypto_verify, HG_SCOPE_CRYPTO_VERIFY, "crypto.verify", NULL, 0, KEEP),
	V1("POST", "/v1/keys/{key}/mac", api_crypto_mac, HG_SCOPE_CRYPTO_MAC, "crypto.mac", NULL, 0, KEEP),
	V1("POST", "/v1/keys/{key}/mac/verify", api_crypto_mac_verify, HG_SCOPE_CRYPTO_MAC, "crypto.mac_verify", NULL, 0, KEEP),
	/* Random bytes may become key material: never kept for Idempotency-Key. */
	V1("POST", "/v1/random", api_crypto_random, HG_SCOPE_CRYPTO_ENCRYPT, "crypto.random", NULL, 0, NO_KEEP),
	/* Payments: the responses carry PIN blocks and card values, never kept. */
	V1("POST", "/v1/payments/pin/translate", api_payments_pin_translate, HG_SCOPE_PAYMENTS_PIN, "payments.pin_translate", NULL, 0, NO_KEEP),
	V1("POST", "/v1/payments/pin/verify", api_payments_pin_verify, HG_SCOPE_PAYMENTS_PIN, "payments.pin_verify", NULL, 0, NO_KEEP),
	V1("POST", "/v1/payments/pin/pvv", api_payments_pin_pvv, HG_SCOPE_PAYMENTS_PIN, "payments.pin_pvv", NULL, 0, NO_KEEP),
	V1("POST", "/v1/payments/card/cvv", api_payments_cvv, HG_SCOPE_PAYMENTS_CARD, "payments.cvv", NULL, 0, NO_KEEP),
	V1("POST", "/v1/payments/card/cvv/verify", api_payments_cvv_verify, HG_SCOPE_PAYMENTS_CARD, "payments.cvv_verify", NULL, 0, NO_KEEP),
	V1("POST", "/v1/payments/mac", api_payments_mac, HG_SCOPE_PAYMENTS_MAC, "payments.mac", NULL, 0, KEEP),
	V1("POST", "/v1/payments/mac/verify", api_payments_mac_verify, HG_SCOPE_PAYMENTS_MAC, "payments.mac_verify", NULL, 0, KEEP),
	/* Tokens carry PANs (detokenize) or stand for them: never kept. */
	V1("POST", "/v1/tokens/tokenize", api_tokens_tokenize, HG_SCOPE_TOKENS_TOKENIZE, "tokens.tokenize", NULL, 0, NO_KEEP),
	V1("POST", "/v1/tokens/detokenize", api_tokens_detokenize, HG_SCOPE_TOKENS_DETOKENIZE, "tokens.detokenize", NULL, 0, NO_KEEP),
	V1("GET", "/v1/audit", api_audit_query, HG_SCOPE_AUDIT_READ, "audit.query", "limit cursor key operation outcome caller since until", 0, NO_KEEP),
	V1("GET", "/v1/audit/verify", api_audit_verify, HG_SCOPE_AUDIT_READ, "audit.verify", NULL, 0, NO_KEEP),
	V1("GET", "/v1/hsm", api_hsm_get, HG_SCOPE_HSM_READ, "hsm.info", NULL, 0, NO_KEEP),
	OPS("/healthz", api_ops_healthz, "ops.healthz"),
	OPS("/readyz", api_ops_readyz, "ops.readyz"),
	OPS("/metrics", api_ops_metrics, "ops.metrics"),
	OPS("/openapi.json", api_ops_openapi, "ops.openapi"),
};
// clang-format on

const size_t api_n_routes = sizeof api_routes / sizeof *api_routes;
