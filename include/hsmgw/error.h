/* hsmgw — the one error list.
 *
 * Every failure in the gateway is one of these values. Each carries its HTTP status, the
 * API's problem `code` (shared/API.md, Conventions) and a title. Functions below api/ return
 * an hg_err; api/ and http/ turn it into an RFC 9457 problem+json body in one place
 * (http_reply_problem). Nothing else invents a status code or an error shape.
 */
#ifndef HSMGW_ERROR_H
#define HSMGW_ERROR_H

/* X(enum, http status, code, title) */
#define HG_ERRORS(X)                                                                                                   \
	X(HG_OK, 200, "ok", "OK")                                                                                      \
	X(HG_E_INVALID, 400, "invalid_request", "Invalid request")                                                     \
	X(HG_E_PIN_BLOCK, 400, "invalid_pin_block", "Invalid PIN block")                                               \
	X(HG_E_UNAUTHENTICATED, 401, "unauthenticated", "Authentication required")                                     \
	X(HG_E_FORBIDDEN, 403, "forbidden", "Forbidden")                                                               \
	X(HG_E_KEY_STATE, 403, "key_state", "Key state forbids this operation")                                        \
	X(HG_E_KEY_USAGE, 403, "key_usage", "Key usage does not allow this operation")                                 \
	X(HG_E_APPROVAL_REQUIRED, 403, "approval_required", "Approval required")                                       \
	X(HG_E_NOT_FOUND, 404, "not_found", "Not found")                                                               \
	X(HG_E_METHOD, 405, "invalid_request", "Method not allowed")                                                   \
	X(HG_E_CONFLICT, 409, "conflict", "Conflict")                                                                  \
	X(HG_E_TOO_LARGE, 413, "payload_too_large", "Payload too large")                                               \
	X(HG_E_HEADERS_TOO_LARGE, 431, "payload_too_large", "Request headers too large")                               \
	X(HG_E_RATE_LIMITED, 429, "rate_limited", "Too many requests")                                                 \
	X(HG_E_INTERNAL, 500, "internal", "Internal error")                                                            \
	X(HG_E_HSM_UNAVAILABLE, 503, "hsm_unavailable", "HSM unavailable")                                             \
	X(HG_E_AUDIT_UNAVAILABLE, 503, "audit_unavailable", "Audit store unavailable")

typedef enum {
#define HG_ERR_ENUM(e, status, code, title) e,
	HG_ERRORS(HG_ERR_ENUM)
#undef HG_ERR_ENUM
	    HG_ERR_COUNT
} hg_err;

/* The HTTP status of an error (200 for HG_OK). */
unsigned hg_err_status(hg_err e);
/* The API's problem `code` string ("invalid_request", …); static storage. */
const char *hg_err_code(hg_err e);
/* A short human title; static storage. */
const char *hg_err_title(hg_err e);

#endif
