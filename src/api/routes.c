/* The route table: every route of the API, as data. tests/unit checks it against the paths
 * and methods of openapi/hsmgw.yaml, so the two cannot drift. */
#include "api_internal.h"

const struct hg_route api_routes[] = {
    {"POST", "/v1/keys", api_keys_create, HG_SCOPE(HG_SCOPE_KEYS_WRITE), true, "keys.create", NULL},
    {"GET", "/v1/keys", api_keys_list, HG_SCOPE(HG_SCOPE_KEYS_READ), true, "keys.list",
     "limit cursor state type name label"},
    {"GET", "/v1/keys/{key}", api_keys_get, HG_SCOPE(HG_SCOPE_KEYS_READ), true, "keys.get", NULL},
    {"POST", "/v1/keys/{key}/encrypt", api_crypto_encrypt, HG_SCOPE(HG_SCOPE_CRYPTO_ENCRYPT), true, "crypto.encrypt",
     NULL},
    {"POST", "/v1/keys/{key}/decrypt", api_crypto_decrypt, HG_SCOPE(HG_SCOPE_CRYPTO_DECRYPT), true, "crypto.decrypt",
     NULL},
    {"GET", "/healthz", api_ops_healthz, 0, false, "ops.healthz", NULL},
    {"GET", "/readyz", api_ops_readyz, 0, false, "ops.readyz", NULL},
    {"GET", "/openapi.json", api_ops_openapi, 0, false, "ops.openapi", NULL},
};

const size_t api_n_routes = sizeof api_routes / sizeof *api_routes;
