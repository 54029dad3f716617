/* Shared by the files of api/ only. */
#ifndef HSMGW_API_INTERNAL_H
#define HSMGW_API_INTERNAL_H

#include "hsmgw/api.h"

#define NFIELDS(a) (sizeof(a) / sizeof(a)[0])

static inline struct hg_app *app_of(struct hg_request *req)
{
	return req->app;
}

/* The ?limit= (1..1000, default 100) and ?cursor= (opaque: the last item's sequence
 * number) of a list route. */
hg_err api_page(struct hg_request *req, long *limit, long *after) HG_WARN_UNUSED;
/* Answers one page: rows is a JSON array of up to limit + 1 objects with an "id", in order;
 * the extra one only says there is more (next_cursor is the last kept id). */
void api_page_reply(struct hg_request *req, const char *rows, long limit);

/* Resolves the route's {key} for the caller's tenant and notes it for the audit row. */
hg_err api_key_resolve(struct hg_request *req, struct hg_key_row **out) HG_WARN_UNUSED;

/* Resolves a key named in the request body (field `field`) for the caller's tenant; the
 * first key a request resolves is the one its audit row names. */
hg_err api_body_key(struct hg_request *req, const char *field, const char *name,
		    struct hg_key_row **out) HG_WARN_UNUSED;

/* A route's declared body as its handler gives it to api_parse: the fields and the size of
 * the struct they fill. Each file of handlers lists its bodies in a table ended by {NULL},
 * for the fuzzers (tests/fuzz/), which parse with exactly these specs. A handler that takes
 * fewer fields on one of its routes passes a prefix of the list (or, in tokens.c, a filtered
 * copy), so the table holds the widest form. */
struct api_body_spec {
	const char *route;
	const struct hg_field *fields;
	size_t n;
	size_t size;
};
extern const struct api_body_spec api_keys_bodies[], api_keys_io_bodies[], api_lifecycle_bodies[], api_crypto_bodies[],
    api_sign_bodies[], api_payments_bodies[], api_tokens_bodies[];
#define API_BODY(route, fields, in)                                                                                    \
	{                                                                                                              \
		route, fields, NFIELDS(fields), sizeof(in)                                                             \
	}

hg_err api_keys_create(struct hg_request *req);
hg_err api_keys_list(struct hg_request *req);
hg_err api_keys_get(struct hg_request *req);
hg_err api_keys_patch(struct hg_request *req);
hg_err api_keys_rotate(struct hg_request *req);
hg_err api_keys_rollback(struct hg_request *req);
hg_err api_keys_transition(struct hg_request *req);
hg_err api_keys_revoke(struct hg_request *req);
hg_err api_keys_schedule_destruction(struct hg_request *req);
hg_err api_keys_events(struct hg_request *req);
hg_err api_keys_public_key(struct hg_request *req);
hg_err api_keys_export(struct hg_request *req);
hg_err api_keys_import(struct hg_request *req);

/* A validated "usage" array as HG_USE_* bits (0 when absent: the type's default). */
unsigned api_usage_bits(const json_t *usage);

/* The key object of API.md (new reference). */
json_t *api_key_json(const struct hg_key_row *k);
/* The caller, for key events. */
static inline struct hg_actor api_actor(const struct hg_request *req)
{
	return (struct hg_actor){.sub = req->who.sub, .request_id = req->request_id};
}
hg_err api_crypto_encrypt(struct hg_request *req);
hg_err api_crypto_decrypt(struct hg_request *req);
/* Batches (batch.c): whether the body is {"batch": …} (never inside a batch item), and
 * running one with the route's own handler per item. */
#define HG_MAX_BATCH 1000
bool api_batch_requested(const struct hg_request *req);
hg_err api_run_batch(struct hg_request *req);

hg_err api_crypto_reencrypt(struct hg_request *req);
hg_err api_crypto_datakey(struct hg_request *req);
hg_err api_crypto_sign(struct hg_request *req);
hg_err api_crypto_verify(struct hg_request *req);
hg_err api_crypto_mac(struct hg_request *req);
hg_err api_crypto_mac_verify(struct hg_request *req);
hg_err api_crypto_random(struct hg_request *req);
hg_err api_payments_pin_translate(struct hg_request *req);
hg_err api_payments_pin_verify(struct hg_request *req);
hg_err api_payments_pin_pvv(struct hg_request *req);
hg_err api_payments_cvv(struct hg_request *req);
hg_err api_payments_cvv_verify(struct hg_request *req);
hg_err api_payments_mac(struct hg_request *req);
hg_err api_payments_mac_verify(struct hg_request *req);
hg_err api_tokens_tokenize(struct hg_request *req);
hg_err api_tokens_detokenize(struct hg_request *req);
hg_err api_audit_query(struct hg_request *req);
hg_err api_audit_verify(struct hg_request *req);
hg_err api_ops_healthz(struct hg_request *req);
hg_err api_ops_readyz(struct hg_request *req);
hg_err api_ops_metrics(struct hg_request *req);
hg_err api_hsm_get(struct hg_request *req);
hg_err api_ops_openapi(struct hg_request *req);

#endif
