/* hsmgw — the HTTP front: libmicrohttpd with its own thread pool and epoll, a route table
 * as data, and one dispatcher that does request ids, 404/405, body limits, authentication,
 * scopes and the audit row for every route, so that handlers never repeat them. Handlers
 * answer with http_reply or fail with http_fail; every error body is RFC 9457
 * problem+json, built in one place. */
#ifndef HSMGW_HTTP_H
#define HSMGW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "hsmgw/audit.h"
#include "hsmgw/auth.h"
#include "hsmgw/config.h"
#include "hsmgw/error.h"
#include "hsmgw/util.h"

struct hg_request;
typedef hg_err (*hg_handler)(struct hg_request *req);

struct hg_route {
	const char *method;
	const char *pattern; /* "/v1/keys/{key}/encrypt": {name} matches one path segment */
	hg_handler handler;
	unsigned scope;        /* HG_SCOPE(...) bits the caller needs, all of them; 0 for none */
	bool authenticated;    /* needs a bearer token and writes an audit row (/v1) */
	const char *operation; /* audit name, e.g. "crypto.encrypt" */
	const char *query;     /* space-separated query parameters it accepts, or NULL */
	int arg;               /* a constant for handlers that serve several routes */
	bool idempotent;       /* honours Idempotency-Key: its 2xx responses are kept (never set on a
				* route whose response carries a plaintext) */
};

/* Idempotency-Key storage, provided by the layer that owns the database. */
struct hg_idempotency {
	void *ctx;
	/* HG_OK and the kept response when (tenant, key) was used with the same request hash
	 * within 24 h; HG_E_NOT_FOUND when unused; HG_E_CONFLICT when used with another request.
	 * *location and *body are malloc'd (the caller frees them). */
	hg_err (*lookup)(void *ctx, const char *tenant, const char *key, const char *hash, unsigned *status,
			 char **location, char **body);
	/* Keeps a 2xx response. */
	void (*save)(void *ctx, const char *tenant, const char *key, const char *hash, unsigned status,
		     const char *location, const char *body);
};

#define HG_MAX_PARAM  128
#define HG_MAX_DETAIL 256

struct hg_request {
	/* Set by the dispatcher; read-only for handlers. */
	const struct hg_route *route;
	char request_id[129];
	bool authed;
	bool batch_item; /* a sub-request of a batch (api/) */
	struct hg_principal who;
	char param[HG_MAX_PARAM + 1]; /* the value of the pattern's {…} segment, if any */
	const char *body;
	size_t body_len;
	void *app; /* the services handlers use (api/) */

	/* Set by handlers. */
	unsigned status;
	json_t *json;             /* response body */
	char *raw_body;           /* sent verbatim instead of json: a kept response, or a text body */
	const char *content_type; /* of raw_body; NULL: application/json */
	char location[192];
	char detail[HG_MAX_DETAIL];
	/* What the audit row says about the key used. */
	bool has_key;
	hg_uuid key_id;
	int key_version;
	bool used_hsm;

	void *conn; /* struct MHD_Connection * */
};

/* Answers with a JSON body (the request takes ownership of body). */
void http_reply(struct hg_request *req, unsigned status, json_t *body);
/* Records a failure with a detail message for the problem body and returns e. The detail
 * must never contain a secret. */
hg_err http_fail(struct hg_request *req, hg_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A query parameter's value, or NULL. */
const char *http_query(const struct hg_request *req, const char *name);
/* Builds the problem+json body for an error (new reference). */
json_t *http_problem_json(hg_err e, const char *detail, const char *request_id);

struct hg_server;

struct hg_server_deps {
	const struct hg_config *cfg;
	const struct hg_route *routes;
	size_t n_routes;
	const struct hg_auth *auth;
	struct hg_audit *audit;
	const char *hsm_node; /* written into audit rows of requests that used the HSM */
	const struct hg_idempotency *idempotency;
	struct hg_req_metrics *metrics; /* requests are counted here (required) */
	void *app;
};

/* Starts listening. NULL and a reason in err on failure. */
struct hg_server *http_start(const struct hg_server_deps *deps, char *err, size_t err_len);
/* SIGHUP: reads tls.cert_file and tls.key_file again (new connections use them). False, and
 * the old ones kept, when they cannot be used. True without TLS. */
bool http_reload_tls(struct hg_server *s);
/* Graceful shutdown, first step: stops accepting connections (new ones are refused), answers
 * with "Connection: close" from now on, and waits until every request in flight is answered or
 * deadline_ms passes. Returns how many were still in flight then. NULL is fine. */
unsigned http_drain(struct hg_server *s, unsigned deadline_ms);
/* Stops accepting, waits for requests in flight, frees. NULL is fine. */
void http_stop(struct hg_server *s);

/* Route lookup, exposed for tests: the route for method+path. *path_matched tells whether
 * any route has this path (405 rather than 404); param receives the {…} segment. */
const struct hg_route *http_route_match(const struct hg_route *routes, size_t n, const char *method, const char *path,
					bool *path_matched, char param[HG_MAX_PARAM + 1]);
/* The methods the routes of this path accept, as an Allow header value. */
void http_route_allow(const struct hg_route *routes, size_t n, const char *path, char *out, size_t cap);

#endif
