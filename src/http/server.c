/* The libmicrohttpd daemon and the one dispatcher every request goes through.
 *
 * libmicrohttpd calls the access handler several times per request: first with the headers
 * (we allocate the request state, pick the route, authenticate, and can refuse at once
 * without reading the body), then with chunks of the body (accumulated up to the limit),
 * then once more with no data (we run the handler, write the audit row, answer). The state
 * is freed, and the body wiped, in the completion callback. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "hsmgw/metrics.h"
#include "http_internal.h"

/* A tenant's quotas (tenants[].rate_limit_* and max_concurrent): a token bucket refilled
 * at rate_limit_per_second up to rate_limit_burst, and a count of requests in progress. */
struct quota {
	pthread_mutex_t mu;
	double tokens;
	int64_t last_us;
	atomic_uint in_flight;
};

struct hg_server {
	struct MHD_Daemon *d;
	struct hg_server_deps deps;
	struct quota *quota; /* one per tenant, in the configuration's order */
	struct hg_tls *tls;  /* NULL: plain HTTP */

	atomic_bool draining; /* http_drain: answers close their connections */
	MHD_socket quiesced;  /* the listening socket after http_drain, closed by http_stop */
};

/* Per-request state: the public part handlers see, and the dispatcher's own. */
struct reqstate {
	struct hg_request r;
	char *body;
	size_t body_cap;
	int64_t t0;
	struct quota *counted;  /* the quota whose in_flight this request holds, if any */
	unsigned retry_after_s; /* for a 429 */
	bool answered;          /* a response has been queued */
	bool too_large;         /* the body went past the limit: what follows is dropped */
	size_t dropped;
};

void http_reply(struct hg_request *req, unsigned status, json_t *body)
{
	json_decref(req->json);
	req->status = status;
	req->json = body;
}

hg_err http_fail(struct hg_request *req, hg_err e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(req->detail, sizeof req->detail, fmt, ap);
	va_end(ap);
	return e;
}

const char *http_query(const struct hg_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

json_t *http_problem_json(hg_err e, const char *detail, const char *request_id)
{
	char type[64];
	snprintf(type, sizeof type, "urn:hsmgw:problem:%s", hg_err_code(e));
	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "type", type, "title", hg_err_title(e), "status",
			 (int)hg_err_status(e), "detail", detail && *detail ? detail : hg_err_title(e), "code",
			 hg_err_code(e), "request_id", request_id);
}

/* X-Request-Id: the client's if it is 1–128 printable ASCII characters, else a new UUID. */
static void set_request_id(struct hg_request *r, const char *given)
{
	size_t n = given ? strlen(given) : 0;
	bool ok = n > 0 && n <= 128;
	for (size_t i = 0; ok && i < n; i++)
		ok = given[i] >= 0x20 && given[i] <= 0x7e;
	if (ok) {
		memcpy(r->request_id, given, n + 1);
		return;
	}
	hg_uuid u;
	if (uuid_v4(&u) != 0)
		memset(&u, 0, sizeof u);
	uuid_format(&u, r->request_id);
}

static enum hg_outcome outcome_of(unsigned status)
{
	if (status < 400)
		return HG_OUTCOME_SUCCESS;
	if (status == 401 || status == 403 || status == 429)
		return HG_OUTCOME_DENIED;
	return HG_OUTCOME_ERROR;
}

/* Writes the request's audit row; a 2xx whose row is not committed becomes 503. */
static void audit_request(struct hg_server *s, struct reqstate *st, hg_err *err)
{
	struct hg_request *r = &st->r;
	struct hg_audit_entry e = {0};
	e.ts_us = time_now_us();
	if (r->authed) {
		snprintf(e.tenant, sizeof e.tenant, "%s", r->who.tenant->name);
		snprintf(e.caller, sizeof e.caller, "%s", r->who.sub);
	}
	memcpy(e.request_id, r->request_id, sizeof e.request_id);
	e.operation = r->route ? r->route->operation : "unmatched";
	e.has_key = r->has_key;
	e.key_id = r->key_id;
	e.key_version = r->key_version;
	e.http_status = *err == HG_OK ? r->status : hg_err_status(*err);
	e.outcome = outcome_of(e.http_status);
	e.error_code = *err == HG_OK ? NULL : hg_err_code(*err);
	e.hsm_node = r->used_hsm ? s->deps.hsm_node : NULL;
	e.duration_us = time_mono_us() - st->t0;
	if (audit_record(s->deps.audit, &e) != HG_OK && *err == HG_OK) {
		*err = http_fail(r, HG_E_AUDIT_UNAVAILABLE,
				 "the audit trail cannot be written, so the result is withheld; retry");
		json_decref(r->json);
		r->json = NULL;
	}
}

static void log_request(const struct reqstate *st, const char *method, const char *url, hg_err err, unsigned status)
{
	const struct hg_request *r = &st->r;
	hg_log_level lvl = status >= 500 ? HG_LOG_ERROR : status >= 400 ? HG_LOG_INFO : HG_LOG_DEBUG;
	log_msg(lvl, r->request_id, r->authed ? r->who.tenant->name : NULL, r->authed ? r->who.sub : NULL,
		"%s %s -> %u%s%s%s%s (%lld us)", method, url, status, err ? " " : "", err ? hg_err_code(err) : "",
		err ? ": " : "", err ? r->detail : "", (long long)(time_mono_us() - st->t0));
}

/* Audits (for /v1) and queues the response, an error or the handler's JSON. */
static enum MHD_Result answer(struct hg_server *s, struct MHD_Connection *c, struct reqstate *st, hg_err err,
			      const char *method, const char *url)
{
	struct hg_request *r = &st->r;
	if (err == HG_OK && !r->json && !r->raw_body) /* a handler that built no body (json_pack failed) */
		err = http_fail(r, HG_E_INTERNAL, "the response could not be built");
	if (r->route ? r->route->authenticated : strncmp(url, "/v1/", 4) == 0 || strcmp(url, "/v1") == 0)
		audit_request(s, st, &err);
	json_t *body = err == HG_OK ? r->json : http_problem_json(err, r->detail, r->request_id);
	unsigned status = err == HG_OK ? r->status : hg_err_status(err);
	char *text = err == HG_OK && r->raw_body ? r->raw_body : body ? json_dumps(body, JSON_COMPACT) : strdup("");
	if (text == r->raw_body)
		r->raw_body = NULL; /* now owned by the response */
	if (body != r->json)
		json_decref(body);
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				err != HG_OK      ? "application/problem+json"
				: r->content_type ? r->content_type
						  : "application/json");
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (err == HG_OK && r->location[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
	if (err == HG_E_METHOD) {
		char allow[128];
		http_route_allow(s->deps.routes, s->deps.n_routes, url, allow, sizeof allow);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	}
	if (status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (status == 429) {
		char ra[16];
		snprintf(ra, sizeof ra, "%u", st->retry_after_s ? st->retry_after_s : 1);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (atomic_load(&s->draining)) /* shutting down: the client must not reuse this connection */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	st->answered = true;
	log_request(st, method, url, err, status);
	req_metrics_observe(s->deps.metrics, r->route ? (size_t)(r->route - s->deps.routes) : s->deps.n_routes,
			    r->authed ? (size_t)(r->who.tenant - s->deps.cfg->tenants) : s->deps.cfg->n_tenants, status,
			    time_mono_us() - st->t0);
	return ret;
}

/* The tenant's quotas, taken for this request: a place among its requests in progress and a
 * token from its bucket. HG_E_RATE_LIMITED (and when to retry) when either is exhausted. */
static hg_err quota_take(struct hg_server *s, struct reqstate *st)
{
	struct hg_request *r = &st->r;
	const struct hg_tenant_cfg *t = r->who.tenant;
	struct quota *q = &s->quota[t - s->deps.cfg->tenants];
	if (t->max_concurrent) {
		st->counted = q;
		if (atomic_fetch_add(&q->in_flight, 1) >= t->max_concurrent) {
			st->retry_after_s = 1;
			return http_fail(r, HG_E_RATE_LIMITED,
					 "tenant %s already has %u requests in progress (its limit)", t->name,
					 t->max_concurrent);
		}
	}
	if (!t->rate_per_s)
		return HG_OK;
	double burst = t->rate_burst ? t->rate_burst : t->rate_per_s;
	int64_t now = time_mono_us();
	pthread_mutex_lock(&q->mu);
	q->tokens += (double)(now - q->last_us) * t->rate_per_s / 1e6;
	if (q->tokens > burst)
		q->tokens = burst;
	q->last_us = now;
	bool ok = q->tokens >= 1;
	if (ok)
		q->tokens -= 1;
	double wait_s = ok ? 0 : (1 - q->tokens) / t->rate_per_s;
	pthread_mutex_unlock(&q->mu);
	if (ok)
		return HG_OK;
	st->retry_after_s = (unsigned)wait_s + 1;
	return http_fail(r, HG_E_RATE_LIMITED, "tenant %s is limited to %u requests per second", t->name,
			 t->rate_per_s);
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	*(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
	return MHD_YES;
}

/* Everything decided from the headers alone: route, authentication, scope, declared size. */
static hg_err on_headers(struct hg_server *s, struct MHD_Connection *c, struct reqstate *st, const char *method,
			 const char *url)
{
	struct hg_request *r = &st->r;
	struct hg_peer *peer = NULL;
	if (tls_client_auth(s->tls)) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		peer = ci ? ci->socket_context : NULL;
		if (!peer)
			return http_fail(r, HG_E_INTERNAL, "connection state missing");
		tls_check_peer(c, peer);
		if (!peer->verified)
			return http_fail(r, HG_E_UNAUTHENTICATED, "%s", peer->why);
	}
	size_t header_bytes = 0;
	MHD_get_connection_values(c, MHD_HEADER_KIND, add_header_size, &header_bytes);
	if (header_bytes > s->deps.cfg->http_max_header_bytes)
		return http_fail(r, HG_E_HEADERS_TOO_LARGE, "request headers are limited to %u bytes",
				 s->deps.cfg->http_max_header_bytes);
	bool path_matched;
	r->route = http_route_match(s->deps.routes, s->deps.n_routes, method, url, &path_matched, r->param);
	bool v1 = r->route ? r->route->authenticated : strncmp(url, "/v1/", 4) == 0 || strcmp(url, "/v1") == 0;
	if (v1) {
		/* Under /v1 an unauthenticated caller learns nothing, not even which routes exist. */
		const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
		hg_err e = auth_verify(s->deps.auth, authz, &r->who, r->detail, sizeof r->detail);
		if (e != HG_OK)
			return e;
		/* A tenant bound to a certificate subject: its token alone is not enough. */
		const char *want = r->who.tenant->client_cert_subject;
		if (want && (!peer || strcmp(peer->dn, want) != 0)) {
			r->authed = false;
			return http_fail(r, HG_E_UNAUTHENTICATED, "the client certificate is not the one of tenant %s",
					 r->who.tenant->name);
		}
		r->authed = true;
		if ((e = quota_take(s, st)) != HG_OK)
			return e;
	}
	if (!r->route)
		return path_matched ? http_fail(r, HG_E_METHOD, "%s is not allowed on %s", method, url)
				    : http_fail(r, HG_E_NOT_FOUND, "no route %s", url);
	unsigned missing = r->route->scope & ~r->who.scopes; /* a route may need several scopes */
	if (missing)
		return http_fail(r, HG_E_FORBIDDEN, "the token lacks scope %s", auth_scope_name(missing & -missing));
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > s->deps.cfg->http_max_body_bytes)
		return http_fail(r, HG_E_TOO_LARGE, "request bodies are limited to %u bytes",
				 s->deps.cfg->http_max_body_bytes);
	return HG_OK;
}

/* "application/json", optionally followed by parameters ("; charset=utf-8"). */
static bool is_json_media_type(const char *ct)
{
	static const char want[] = "application/json";
	if (strncasecmp(ct, want, sizeof want - 1) != 0)
		return false;
	const char *rest = ct + sizeof want - 1;
	rest += strspn(rest, " \t");
	return *rest == '\0' || *rest == ';';
}

static enum MHD_Result check_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	(void)value;
	struct hg_request *r = cls;
	const char *allowed = r->route->query;
	size_t n = strlen(key);
	for (const char *p = allowed; p && *p;) {
		size_t w = strcspn(p, " ");
		if (w == n && strncmp(p, key, n) == 0)
			return MHD_YES;
		p += w + (p[w] == ' ');
	}
	if (!r->detail[0])
		http_fail(r, HG_E_INVALID, "unknown query parameter %.64s", key);
	return MHD_YES;
}

static enum MHD_Result hash_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	EVP_DigestUpdate(cls, key, strlen(key) + 1);
	EVP_DigestUpdate(cls, value ? value : "", value ? strlen(value) + 1 : 1);
	return MHD_YES;
}

/* Idempotency-Key (1–255 printable characters): the same key with the same method, path and
 * body within 24 h replays the first 2xx response; with another request it is a conflict. */
static hg_err with_idempotency(struct hg_server *s, struct reqstate *st, const char *key)
{
	struct hg_request *r = &st->r;
	const struct hg_idempotency *idem = s->deps.idempotency;
	size_t kl = strlen(key);
	bool ok = kl > 0 && kl <= 255;
	for (size_t i = 0; ok && i < kl; i++)
		ok = key[i] >= 0x20 && key[i] <= 0x7e;
	if (!ok)
		return http_fail(r, HG_E_INVALID, "Idempotency-Key must be 1-255 printable characters");
	/* The request's identity: method, route, its {key} segment, query and body. */
	unsigned char d[SHA256_DIGEST_LENGTH];
	char hash[2 * SHA256_DIGEST_LENGTH + 1];
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	EVP_DigestInit_ex(h, EVP_sha256(), NULL);
	EVP_DigestUpdate(h, r->route->method, strlen(r->route->method) + 1);
	EVP_DigestUpdate(h, r->route->pattern, strlen(r->route->pattern) + 1);
	EVP_DigestUpdate(h, r->param, strlen(r->param) + 1);
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, hash_query_arg, h);
	EVP_DigestUpdate(h, r->body ? r->body : "", r->body_len);
	EVP_DigestFinal_ex(h, d, NULL);
	EVP_MD_CTX_free(h);
	hex_encode_lower(d, sizeof d, hash);
	char *location = NULL, *body = NULL;
	unsigned status = 0;
	hg_err e = idem->lookup(idem->ctx, r->who.tenant->name, key, hash, &status, &location, &body);
	if (e == HG_OK) {
		r->status = status;
		r->raw_body = body;
		snprintf(r->location, sizeof r->location, "%s", location ? location : "");
		free(location);
		return HG_OK;
	}
	if (e == HG_E_CONFLICT)
		return http_fail(r, e, "this Idempotency-Key was used for another request");
	if (e != HG_E_NOT_FOUND)
		return e;
	e = r->route->handler(r);
	if (e == HG_OK && r->status < 300 && r->json) {
		char *text = json_dumps(r->json, JSON_COMPACT);
		idem->save(idem->ctx, r->who.tenant->name, key, hash, r->status, r->location[0] ? r->location : NULL,
			   text);
		free(text);
	}
	return e;
}

/* Body-level checks, then the handler. */
static hg_err on_complete(struct hg_server *s, struct reqstate *st, struct MHD_Connection *c)
{
	struct hg_request *r = &st->r;
	r->detail[0] = '\0';
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_query_arg, r);
	if (r->detail[0]) /* check_query_arg named an unknown parameter */
		return HG_E_INVALID;
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (st->r.body_len > 0 && ct && !is_json_media_type(ct))
		return http_fail(r, HG_E_INVALID, "request bodies must be application/json");
	r->status = 200;
	const char *ik = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
	if (!ik || !r->route->idempotent || !s->deps.idempotency)
		return r->route->handler(r);
	return with_idempotency(s, st, ik);
}

static bool body_append(struct reqstate *st, const char *data, size_t n, size_t max)
{
	if (st->r.body_len + n > max)
		return false;
	if (st->r.body_len + n + 1 > st->body_cap) {
		size_t cap = st->body_cap ? st->body_cap : 4096;
		while (cap < st->r.body_len + n + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		/* Not realloc: the old buffer may hold a secret and must be wiped. */
		char *nb = malloc(cap);
		if (!nb)
			return false;
		if (st->body)
			memcpy(nb, st->body, st->r.body_len);
		hg_free_secret(st->body, st->body_cap);
		st->body = nb;
		st->body_cap = cap;
	}
	memcpy(st->body + st->r.body_len, data, n);
	st->r.body_len += n;
	st->body[st->r.body_len] = '\0';
	st->r.body = st->body;
	return true;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				 const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct hg_server *s = cls;
	struct reqstate *st = *con_cls;
	if (!st) {
		st = calloc(1, sizeof *st);
		if (!st)
			return MHD_NO;
		*con_cls = st;
		req_metrics_in_flight(s->deps.metrics, 1);
		st->t0 = time_mono_us();
		st->r.conn = c;
		st->r.app = s->deps.app;
		set_request_id(&st->r, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id"));
		hg_err e = on_headers(s, c, st, method, url);
		if (e != HG_OK)
			return answer(s, c, st, e, method, url);
		return MHD_YES;
	}
	if (st->answered) { /* refused early: discard whatever body still arrives */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		/* A body trickled in slowly holds a worker thread: it has request_timeout_seconds. */
		if (time_mono_us() - st->t0 > (int64_t)s->deps.cfg->http_request_timeout_s * 1000000) {
			log_msg(HG_LOG_INFO, st->r.request_id, NULL, NULL,
				"%s %s: the body did not arrive within %u s; connection closed", method, url,
				s->deps.cfg->http_request_timeout_s);
			return MHD_NO;
		}
		/* libmicrohttpd takes no response in the middle of an upload: an oversized body
		 * (sent chunked, without a Content-Length to refuse up front) is read and dropped,
		 * and answered 413 at its end — unless it goes on far beyond the limit, when the
		 * connection is simply closed. */
		if (st->too_large || !body_append(st, upload_data, n, s->deps.cfg->http_max_body_bytes)) {
			st->too_large = true;
			st->dropped += n;
			return st->dropped > (size_t)8 * s->deps.cfg->http_max_body_bytes ? MHD_NO : MHD_YES;
		}
		return MHD_YES;
	}
	if (st->too_large)
		return answer(s, c, st,
			      http_fail(&st->r, HG_E_TOO_LARGE, "request bodies are limited to %u bytes",
					s->deps.cfg->http_max_body_bytes),
			      method, url);
	return answer(s, c, st, on_complete(s, st, c), method, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)c;
	(void)toe;
	struct hg_server *s = cls;
	struct reqstate *st = *con_cls;
	if (!st)
		return;
	req_metrics_in_flight(s->deps.metrics, -1);
	if (st->counted)
		atomic_fetch_sub(&st->counted->in_flight, 1);
	json_decref(st->r.json);
	free(st->r.raw_body);
	hg_free_secret(st->body, st->body_cap);
	free(st);
	*con_cls = NULL;
}

/* Per connection: what its client certificate proved (checked on its first request). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)c;
	struct hg_server *s = cls;
	if (!tls_client_auth(s->tls))
		return;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = calloc(1, sizeof(struct hg_peer));
	} else {
		free(*socket_context);
		*socket_context = NULL;
	}
}

bool http_reload_tls(struct hg_server *s)
{
	char err[256];
	if (!s || !s->tls)
		return true;
	if (!tls_reload(s->tls, err, sizeof err)) {
		log_error("tls: reload failed, keeping the current certificate: %s", err);
		return false;
	}
	log_info("tls: certificate and key reloaded");
	return true;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("http: %s", msg);
}

static void free_quotas(struct hg_server *s)
{
	for (size_t i = 0; i < s->deps.cfg->n_tenants; i++)
		pthread_mutex_destroy(&s->quota[i].mu);
	free(s->quota);
}

struct hg_server *http_start(const struct hg_server_deps *deps, char *err, size_t len)
{
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)deps->cfg->listen_port);
	if (inet_pton(AF_INET, deps->cfg->listen_address, &sa.sin_addr) != 1) {
		snprintf(err, len, "listen.address %s is not an IPv4 address", deps->cfg->listen_address);
		return NULL;
	}
	if (!deps->metrics) { /* it also counts the requests in flight that shutdown waits for */
		snprintf(err, len, "the server needs its request counters");
		return NULL;
	}
	struct hg_server *s = calloc(1, sizeof *s);
	s->deps = *deps;
	s->quiesced = MHD_INVALID_SOCKET;
	if (deps->cfg->tls_cert_file && !(s->tls = tls_open(deps->cfg, err, len))) {
		free(s);
		return NULL;
	}
	struct MHD_OptionItem tls_opts[8];
	size_t nt = tls_mhd_options(s->tls, tls_opts);
	tls_opts[nt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	s->quota = calloc(deps->cfg->n_tenants ? deps->cfg->n_tenants : 1, sizeof *s->quota);
	for (size_t i = 0; i < deps->cfg->n_tenants; i++) {
		const struct hg_tenant_cfg *t = &deps->cfg->tenants[i];
		pthread_mutex_init(&s->quota[i].mu, NULL);
		s->quota[i].tokens = t->rate_burst ? t->rate_burst : t->rate_per_s;
		s->quota[i].last_us = time_mono_us();
	}
	s->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_ITC | tls_mhd_flags(s->tls),
	    0, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, s, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, deps->cfg->http_threads, MHD_OPTION_CONNECTION_LIMIT,
	    deps->cfg->http_connection_limit, MHD_OPTION_CONNECTION_TIMEOUT, deps->cfg->http_connection_timeout_s,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, deps->cfg->http_per_ip_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)64 * 1024, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
	    on_connection, s, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, len, "cannot listen on %s:%u", deps->cfg->listen_address, deps->cfg->listen_port);
		free_quotas(s);
		tls_close(s->tls);
		free(s);
		return NULL;
	}
	return s;
}

unsigned http_drain(struct hg_server *s, unsigned deadline_ms)
{
	if (!s)
		return 0;
	atomic_store(&s->draining, true);
	/* No new connections: libmicrohttpd stops accepting, and the socket stops listening
	 * (shutdown on a listening socket), so connecting is refused at once instead of waiting
	 * in the backlog. It is closed after MHD_stop_daemon, as libmicrohttpd asks. (MHD_USE_ITC,
	 * set at the start, lets MHD_quiesce_daemon work with a thread pool.) */
	s->quiesced = MHD_quiesce_daemon(s->d);
	if (s->quiesced != MHD_INVALID_SOCKET)
		shutdown(s->quiesced, SHUT_RDWR);
	else
		log_warn("http: cannot stop accepting connections before the daemon stops");
	int64_t end = time_mono_us() + (int64_t)deadline_ms * 1000;
	long n;
	while ((n = req_metrics_in_flight(s->deps.metrics, 0)) > 0 && time_mono_us() < end)
		usleep(10 * 1000);
	return n > 0 ? (unsigned)n : 0;
}

void http_stop(struct hg_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	if (s->quiesced != MHD_INVALID_SOCKET)
		close(s->quiesced);
	free_quotas(s);
	tls_close(s->tls);
	free(s);
}
