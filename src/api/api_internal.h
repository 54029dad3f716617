/* Shared by the files of api/ only. */
#ifndef HSMGW_API_INTERNAL_H
#define HSMGW_API_INTERNAL_H

#include "hsmgw/api.h"

#define NFIELDS(a) (sizeof(a) / sizeof(a)[0])

static inline struct hg_app *app_of(struct hg_request *req)
{
	return req->app;
}

/* Resolves the route's {key} for the caller's tenant and notes it for the audit row. */
hg_err api_key_resolve(struct hg_request *req, struct hg_key_row **out) HG_WARN_UNUSED;

hg_err api_keys_create(struct hg_request *req);
hg_err api_keys_list(struct hg_request *req);
hg_err api_keys_get(struct hg_request *req);
hg_err api_crypto_encrypt(struct hg_request *req);
hg_err api_crypto_decrypt(struct hg_request *req);
hg_err api_ops_healthz(struct hg_request *req);
hg_err api_ops_readyz(struct hg_request *req);
hg_err api_ops_openapi(struct hg_request *req);

#endif
