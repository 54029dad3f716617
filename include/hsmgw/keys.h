/* hsmgw — the key model: creation, resolution by UUID or name within a tenant, and the
 * rules that say which version an operation may use in which state. Knows nothing of HTTP;
 * stores metadata through store/ and material through p11/. */
#ifndef HSMGW_KEYS_H
#define HSMGW_KEYS_H

#include "hsmgw/error.h"
#include "hsmgw/p11.h"
#include "hsmgw/store.h"

/* Key usages of API.md. X(enum, name) */
#define HG_USAGES(X)                                                                                                   \
	X(HG_USE_ENCRYPT, "encrypt")                                                                                   \
	X(HG_USE_DECRYPT, "decrypt")                                                                                   \
	X(HG_USE_SIGN, "sign")                                                                                         \
	X(HG_USE_VERIFY, "verify")                                                                                     \
	X(HG_USE_MAC, "mac")                                                                                           \
	X(HG_USE_WRAP, "wrap")                                                                                         \
	X(HG_USE_UNWRAP, "unwrap")                                                                                     \
	X(HG_USE_DERIVE, "derive")                                                                                     \
	X(HG_USE_TOKENIZE, "tokenize")                                                                                 \
	X(HG_USE_PIN, "pin")                                                                                           \
	X(HG_USE_PIN_VERIFY, "pin_verify")                                                                             \
	X(HG_USE_CVV, "cvv")

enum hg_usage {
#define HG_USAGE_ENUM(e, s) e,
	HG_USAGES(HG_USAGE_ENUM)
#undef HG_USAGE_ENUM
	    HG_USE_COUNT
};
extern const char *const hg_usage_names[HG_USE_COUNT];

/* What a caller asks for at creation; strings are borrowed. */
struct hg_key_spec {
	const char *name;
	const char *type;
	int size;
	unsigned usage; /* bits 1 << HG_USE_* */
	const char *labels_json;
	const char *description; /* NULL when absent */
};

/* Who asks for a change, for the key's event history. */
struct hg_actor {
	const char *sub;
	const char *request_id; /* NULL for the scheduler */
};

struct hg_keys {
	struct hg_db *db;
	struct hg_p11 *p11;
};

/* Generates the key's first version in the HSM and records it. On a metadata failure the
 * HSM object is destroyed again, so a failed create leaves nothing behind. *out is freed
 * with key_row_free. detail receives a reason for HG_E_INVALID / HG_E_CONFLICT. */
hg_err keys_create(const struct hg_keys *k, const char *tenant, const struct hg_key_spec *spec,
		   const struct hg_actor *actor, struct hg_key_row **out, char *detail,
		   size_t detail_len) HG_WARN_UNUSED;
/* A tenant's key by UUID or by name; another tenant's key is HG_E_NOT_FOUND. */
hg_err keys_resolve(const struct hg_keys *k, const char *tenant, const char *id_or_name,
		    struct hg_key_row **out) HG_WARN_UNUSED;

/* The version an operation uses: `version` 0 asks for the primary one (protecting
 * operations); otherwise the one named (unprotecting operations). Checks the key's usage
 * (HG_E_KEY_USAGE), the key's and the version's state (HG_E_KEY_STATE), and that the
 * version exists (HG_E_INVALID). */
hg_err keys_version_for(const struct hg_key_row *key, enum hg_usage use, int version, const struct hg_version_row **out,
			char *detail, size_t detail_len) HG_WARN_UNUSED;

/* True if s has the canonical UUID form, which names may never take. */
bool keys_looks_like_uuid(const char *s);

#endif
