/* Helpers shared by the key-management API tests (km_types.c, km_lifecycle.c, km_io.c): a
 * token with every key-management scope, requests with an Idempotency-Key, key creation,
 * state assertions, scheduler passes through hsmgwctl, and the HSM side of a key version
 * (its CKA_ID from key_versions.hsm_id, its attributes read from the token in-process). */
#ifndef HSMGW_TEST_API_KM_UTIL_H
#define HSMGW_TEST_API_KM_UTIL_H

#include "harness.h"
#include "hsmgw/p11.h"

#define KM_SCOPES "keys:read keys:write keys:admin crypto:encrypt crypto:decrypt"
#define KM_ID_LEN (HG_UUID_STR_LEN + 1)

/* An acme token with KM_SCOPES, made once per test process; do not free. */
const char *km_tok(void);

/* A request with the KM token; idem (may be NULL) is sent as Idempotency-Key. body NULL: none.
 * path is "/v1/..." with the query, if any. Freed with h_resp_free. */
struct h_resp *km_send(const char *method, const char *path, const char *body, const char *idem);
/* POST /v1/keys/{key}/{action} with body (NULL: none). */
struct h_resp *km_act(const char *key, const char *action, const char *body);
/* GET /v1/keys/{key}; asserts 200. */
struct h_resp *km_get(const char *key);

/* Creates a key named h_name(label) from spec (taken; "name" is added); asserts 201 and returns
 * the response. id and name (each may be NULL) receive the key's id and name. */
#define km_key(label, spec, id, name) km_key_at(__FILE__, __LINE__, (label), (spec), (id), (name))
struct h_resp *km_key_at(const char *file, int line, const char *label, json_t *spec, char id[KM_ID_LEN],
			 char name[H_NAME_MAX]);
/* km_key, freeing the response. */
#define km_key_id(label, spec, id, name) h_resp_free(km_key((label), (spec), (id), (name)))

/* Asserts the key's state as GET reports it. */
#define km_assert_state(key, state) km_assert_state_at(__FILE__, __LINE__, (key), (state))
void km_assert_state_at(const char *file, int line, const char *key, const char *state);

/* An integer member of a JSON object (-1 when absent or not an integer). */
long km_int(const json_t *o, const char *member);
/* A string member of a JSON object, or NULL. */
const char *km_s(const json_t *o, const char *member);
/* The object with "version" v in the key's "versions", or NULL. */
json_t *km_version(const json_t *key, int v);
/* Whether s is a KCV: 6 uppercase hex digits. */
bool km_is_kcv(const char *s);

/* Runs `hsmgwctl --config $HSMGW_TEST_CONFIG lifecycle run --at <now + offset_s>` (hsmgwctl from
 * this binary's directory); asserts it exits 0. */
#define km_lifecycle_run(offset_s) km_lifecycle_run_at(__FILE__, __LINE__, (offset_s))
void km_lifecycle_run_at(const char *file, int line, long long offset_s);
/* An RFC 3339 time offset_s seconds from now. */
void km_time(long long offset_s, char out[32]);

/* The HSM id (CKA_ID) of a key's version, from key_versions.hsm_id. */
void km_hsm_id(const char *key_id, int version, hg_uuid *out);
/* The attributes of a key version's secret or private object (private_or_secret) or its
 * public object, read from the token in this process. */
void km_attrs(const char *key_id, int version, bool private_or_secret, struct hg_p11_attrs *out);
/* The same for the objects with CKA_ID hsm_id. */
void km_attrs_of(const hg_uuid *hsm_id, bool private_or_secret, struct hg_p11_attrs *out);

/* Encrypts under key and returns the envelope (caller frees); asserts 200 and key_version. */
#define km_encrypt(key, pt_b64, want_version) km_encrypt_at(__FILE__, __LINE__, (key), (pt_b64), (want_version))
char *km_encrypt_at(const char *file, int line, const char *key, const char *pt_b64, int want_version);
/* POST decrypt of ciphertext under key (no aad). */
struct h_resp *km_decrypt(const char *key, const char *ciphertext);

TCase *tcase_km_types(void);
TCase *tcase_km_lifecycle(void);
TCase *tcase_km_io(void);

#endif
