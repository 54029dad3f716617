/* hsmgw — the REST resources: the route table, the handlers, and the declarative JSON
 * field specs they validate their input with. Validation and JSON mapping only: the work
 * is done by keys/, p11/ and the modules below. */
#ifndef HSMGW_API_H
#define HSMGW_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hsmgw/http.h"
#include "hsmgw/keys.h"

/* The services handlers use; shared read-only by every thread after start-up. */
struct hg_app {
	const struct hg_config *cfg;
	struct hg_keys keys;
	struct hg_db *db;
	struct hg_p11 *p11;
	struct hg_audit *audit;         /* batch items write their own rows */
	struct hg_audit_signer *signer; /* the audit signing key (its public key verifies checkpoints) */
	json_t *openapi;                /* the OpenAPI document served at /openapi.json */
	const struct hg_auth *auth;     /* for its token cache's figures */
	struct hg_req_metrics *metrics; /* the request counters the dispatcher keeps */
};

extern const struct hg_route api_routes[];
extern const size_t api_n_routes;

/* Idempotency-Key storage over the database, for the dispatcher. */
struct hg_idempotency api_idempotency(struct hg_db *db);

/* Loads the embedded OpenAPI document (new reference), or NULL if it does not parse. */
json_t *api_openapi_document(void);

/* ---- the ciphertext envelope "hsmgw:v<N>:<base64>" ---- */
#define HG_ENVELOPE_MAX_RAW (1024 * 1024)
/* Formats an envelope; the caller frees the result. */
char *api_envelope_format(int version, const uint8_t *raw, size_t n);
/* Parses one strictly: "hsmgw:v", a version 1..2^31-1 without leading zeros, ":", standard
 * padded base64. On success *raw (freed with hg_free_secret) and *n are set. Returns
 * false on any deviation. */
bool api_envelope_parse(const char *s, size_t len, int *version, uint8_t **raw, size_t *n) HG_WARN_UNUSED;

/* ---- declared JSON input ---- */
enum hg_ftype {
	HG_F_STRING,  /* const char * borrowed from the parsed body; min/max: length */
	HG_F_BASE64,  /* struct hg_bytes, decoded; max: decoded length */
	HG_F_INT,     /* long; min/max: value */
	HG_F_BOOL,    /* bool */
	HG_F_STRINGS, /* json_t * array borrowed; elements from `choices`, unique; min/max: count */
	HG_F_LABELS,  /* json_t * object borrowed; string values; max: entries */
	HG_F_OBJECT,  /* json_t * object borrowed, any members; max: entries */
	HG_F_ARRAY,   /* json_t * array borrowed, any items (the handler checks them); min/max: count */
};

struct hg_field {
	const char *name;
	enum hg_ftype type;
	bool required;
	size_t off; /* offsetof the destination in the handler's input struct */
	long min, max;
	const char *const *choices; /* NULL-terminated allowed strings, or NULL */
};

/* A decoded binary field. Freed (and wiped) with api_bytes_free. */
struct hg_bytes {
	uint8_t *p;
	size_t n;
	bool set;
};
void api_bytes_free(struct hg_bytes *b);

/* Parses the request body as a JSON object (an empty body as {}) and fills dst as the
 * fields say. Unknown fields,
 * wrong types, out-of-range values and missing required fields fail with HG_E_INVALID and a
 * detail that names the field. *root keeps the borrowed strings alive: json_decref it when
 * done (also on failure, where it may be NULL). Base64 fields decoded before a failure are
 * freed by the caller with api_bytes_free as usual. */
hg_err api_parse(struct hg_request *req, const struct hg_field *fields, size_t n, void *dst,
		 json_t **root) HG_WARN_UNUSED;

#endif
