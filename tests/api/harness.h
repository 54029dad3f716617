/* The API tests' shared helpers: HTTP requests against the running daemon (libcurl), tokens
 * minted with the tenants' development keys (libjwt), the audit table (libpq, as the
 * superuser) and the daemon's log. Every test file adds one TCase built by a function
 * declared at the end; test_main.c puts them into one Suite.
 *
 * Assertions made inside helpers name the caller's file and line in their message. */
#ifndef HSMGW_TEST_API_HARNESS_H
#define HSMGW_TEST_API_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "hsmgw/config.h"
#include "hsmgw/util.h"

/* HSMGW_TEST_SLOW=N (a whole number, 1 when unset) multiplies every time limit of the tests:
 * the per-test limits below, HTTP requests and waits for the daemon's log. For a daemon that
 * runs many times slower than usual, under valgrind (make memcheck). */
long h_slow(void);
/* Per-test time limit: generous enough for the sanitized build. */
#define H_TIMEOUT_S (30 * h_slow())
/* For the few tests that move 1000 values through the sanitized daemon. */
#define H_LONG_TIMEOUT_S (180 * h_slow())
/* Every scope the implemented routes need. */
#define H_ALL_SCOPES "keys:read keys:write crypto:encrypt crypto:decrypt"
#define H_NAME_MAX   96
#define H_RID_MAX    64

/* Set by h_init from the environment (HSMGW_TEST_*); read-only afterwards. */
extern struct hg_config *h_cfg;
extern const char *h_url;

/* Reads the environment and the daemon's configuration; exits with a message if either is
 * missing. Called once by main before the tests fork. */
void h_init(void);
void h_fini(void);

/* ---- HTTP ---- */
struct h_req {
	const char *method;
	const char *path;            /* with the query, if any */
	const char *token;           /* sent as "Authorization: Bearer <token>" */
	const char *authorization;   /* a raw Authorization value; wins over token */
	const char *body;            /* NULL: no body */
	size_t body_len;             /* 0: strlen(body) */
	const char *content_type;    /* NULL: application/json when there is a body; "": none sent */
	const char *request_id;      /* X-Request-Id, or NULL */
	bool chunked;                /* send the body with chunked transfer encoding, no Content-Length */
	const char *idempotency_key; /* Idempotency-Key, or NULL */
	const char *extra_header;    /* one more "Name: value" header line, or NULL */
	long timeout_s;              /* 0: 20 s (times HSMGW_TEST_SLOW) */
};

/* A response; freed with h_resp_free. Header values are NULL when absent. */
struct h_resp {
	long status; /* 0 when no response arrived (see curl_error) */
	char *body;
	size_t body_len;
	json_t *json; /* the parsed body, or NULL */
	char *content_type, *request_id, *allow, *location, *retry_after;
	char curl_error[256];
};

struct h_resp *h_send(const struct h_req *q);
struct h_resp *h_get(const char *path, const char *token, const char *rid);
struct h_resp *h_post(const char *path, const char *token, const char *body, const char *rid);
/* Posts a JSON value, which it takes (and frees). */
struct h_resp *h_post_json(const char *path, const char *token, json_t *body, const char *rid);
void h_resp_free(struct h_resp *r);
/* A top-level string member of the response body, or NULL. */
const char *h_str(const struct h_resp *r, const char *member);

/* Asserts an RFC 9457 problem response: the status, the code, every member of the body,
 * and request_id equal to the X-Request-Id header. */
#define h_assert_problem(r, status, code) h_assert_problem_at(__FILE__, __LINE__, (r), (status), (code))
void h_assert_problem_at(const char *file, int line, const struct h_resp *r, long status, const char *code);
/* Asserts the problem's detail mentions `word` (a field name, for instance). */
#define h_assert_detail_has(r, word) h_assert_detail_has_at(__FILE__, __LINE__, (r), (word))
void h_assert_detail_has_at(const char *file, int line, const struct h_resp *r, const char *word);
#define h_assert_status(r, st) h_assert_status_at(__FILE__, __LINE__, (r), (st))
void h_assert_status_at(const char *file, int line, const struct h_resp *r, long status);

/* ---- names and ids ---- */
/* A fresh request id "apitest-<uuid>". */
void h_rid(char out[H_RID_MAX]);
/* A key name unique to this run: "apitest-<label>-<random hex>". */
void h_name(char out[H_NAME_MAX], const char *label);
/* tmpl with every "%s" replaced by value (for request bodies built from tables); the caller
 * frees. */
char *h_fill(const char *tmpl, const char *value);
/* Standard padded base64 of n bytes; the caller frees. */
char *h_b64(const void *p, size_t n);
/* base64url without padding, as JWTs use; the caller frees. */
char *h_b64url(const void *p, size_t n);
/* Decodes standard base64 (asserts it is valid); the caller frees. */
unsigned char *h_unb64(const char *s, size_t *n);

/* ---- tokens ---- */
const struct hg_tenant_cfg *h_tenant(const char *name);
/* The subject h_token and h_tok put into their tokens: "apitest-<tenant>". */
const char *h_sub(const char *tenant);
/* A valid ES256 token of the tenant with these scopes (exp in 10 minutes); caller frees. */
char *h_token(const char *tenant, const char *scope);
/* A cached token of the tenant with H_ALL_SCOPES; do not free. */
const char *h_tok(const char *tenant);
/* The standard claims (iss, sub, aud, iat, exp, scope) of a tenant's token, to alter. */
json_t *h_claims(const char *tenant, const char *scope);
/* Signs claims (not taken) ES256 with the signing key of `signer`; caller frees. */
char *h_sign(const char *signer, const json_t *claims);
/* Signs claims HS256 with `secret` as the HMAC key; caller frees. */
char *h_sign_hs256(const json_t *claims, const unsigned char *secret, size_t secret_len);
/* Builds "<b64url(header)>.<b64url(claims)>.<sig>" by hand (sig taken verbatim). */
char *h_token_raw(const char *header_json, const json_t *claims, const char *sig);

/* ---- keys ---- */
/* Creates an AES key (default settings) named by h_name(label); asserts 201. id receives its
 * UUID, name (if not NULL) its name. */
void h_key(const char *tenant, const char *label, char id[HG_UUID_STR_LEN + 1], char name[H_NAME_MAX]);
/* Encrypts plaintext_b64 (with aad_b64 when not NULL) under key; asserts 200; returns the
 * ciphertext envelope, which the caller frees. */
char *h_encrypt(const char *tenant, const char *key, const char *plaintext_b64, const char *aad_b64);
/* POST /v1/keys/{key}/decrypt. aad_b64 may be NULL. */
struct h_resp *h_decrypt(const char *tenant, const char *key, const char *ciphertext, const char *aad_b64,
			 const char *rid);
/* GET /v1/keys/{key}: the status only (200, 404, ...). */
long h_key_status(const char *tenant, const char *key);

/* ---- database ---- */
PGconn *h_db_admin(void);
PGconn *h_db_app(void);
/* Runs one statement with text parameters; the caller PQclears the result. */
PGresult *h_sql(PGconn *c, const char *sql, int n, const char *const *params);
/* How many audit rows carry this request id. */
long h_audit_count(const char *rid);
/* How many intent rows with operation op (hsm.generate.intent, …) the request wrote before its
 * own row. */
long h_audit_intents(const char *rid, const char *op);
/* How many audit rows contain `needle` anywhere in their text form. */
long h_audit_rows_containing(const char *needle);

#define H_ANY         ((const char *)1) /* any value, NULL included */
#define H_ANY_VERSION (-1)
/* What the one audit row of a request must say. NULL strings mean SQL NULL; key_version 0
 * means NULL. */
struct h_audit_want {
	const char *tenant, *caller, *operation, *outcome;
	int http_status;
	const char *error_code;
	const char *key_id;
	int key_version;
};
#define h_assert_audit(rid, ...) h_assert_audit_at(__FILE__, __LINE__, (rid), &(struct h_audit_want){__VA_ARGS__})
void h_assert_audit_at(const char *file, int line, const char *rid, const struct h_audit_want *w);

/* Checks the hash chain of the daemon's audit chain over its newest `last` rows: ordered by
 * seq, each row's prev_hash is the previous row's hash and its hash is the SHA-256 of its
 * canonical encoding. Returns the number of rows checked. */
long h_assert_chain_at(const char *file, int line, long last);
#define h_assert_chain(last) h_assert_chain_at(__FILE__, __LINE__, (last))

/* ---- the daemon's environment ---- */
/* Runs "$HSMGW_TEST_ENV <cmd> $HSMGW_TEST_VAR" (pg-stop, pg-start); returns its exit status. */
int h_env(const char *cmd);
/* The daemon's log so far; the caller frees. Never NULL. */
char *h_daemon_log(size_t *n);
/* Waits (up to 3 s, times HSMGW_TEST_SLOW) until the daemon's log mentions s. */
bool h_log_wait_for(const char *s);

/* ---- HSM faults: the daemon's PKCS#11 module is tests/faultp11 (deploy/dev/env.sh) ---- */
/* Commands the module: rules in the control file's format (tests/faultp11/faultp11.c), or NULL
 * for no faults. Replaces the file at once (the module reads it at its next call) and empties
 * the record of fired faults. Fails the test if the daemon does not run on faultp11. */
void h_faults(const char *rules);
/* How many faults fired since the last h_faults, on function fn (NULL: on any). */
long h_faults_fired(const char *fn);

/* ---- the TCases, one per file ---- */
TCase *tcase_keys(void);
TCase *tcase_tenants(void);
TCase *tcase_crypto(void);
TCase *tcase_auth(void);
TCase *tcase_protocol(void);
TCase *tcase_ops(void);
TCase *tcase_audit(void);
TCase *tcase_audit_proof(void);
TCase *tcase_secrets(void);
TCase *tcase_crash(void);
TCase *tcase_robustness(void);
TCase *tcase_outage(void);
TCase *tcase_batch(void);
TCase *tcase_metrics(void);
TCase *tcase_limits(void);
TCase *tcase_tls(void);
TCase *tcase_faults(void);

#endif
