/* The API tests' shared helpers (see harness.h). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jwt.h>

#include "hsmgw/audit.h"

struct hg_config *h_cfg;
const char *h_url;
static const char *env_script, *env_var, *daemon_log;

long h_slow(void)
{
	const char *v = getenv("HSMGW_TEST_SLOW");
	long n = v ? strtol(v, NULL, 10) : 1;
	return n >= 1 ? n : 1;
}

static const char *need_env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v) {
		fprintf(stderr, "test-api: %s is not set (deploy/dev/test.sh sets it)\n", name);
		exit(2);
	}
	return v;
}

void h_init(void)
{
	h_url = need_env("HSMGW_TEST_URL");
	env_var = need_env("HSMGW_TEST_VAR");
	env_script = need_env("HSMGW_TEST_ENV");
	daemon_log = need_env("HSMGW_TEST_DAEMON_LOG");
	char err[512];
	h_cfg = config_load(need_env("HSMGW_TEST_CONFIG"), err, sizeof err);
	if (!h_cfg) {
		fprintf(stderr, "test-api: %s\n", err);
		exit(2);
	}
	if (!h_cfg->db_admin_conninfo || !config_tenant(h_cfg, "acme") || !config_tenant(h_cfg, "globex")) {
		fprintf(stderr, "test-api: the configuration needs database.admin_conninfo and tenants acme, globex\n");
		exit(2);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void h_fini(void)
{
	curl_global_cleanup();
	config_free(h_cfg);
	h_cfg = NULL;
}

/* ---- HTTP ---- */

struct buf {
	char *p;
	size_t n;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *cls)
{
	struct buf *b = cls;
	size_t n = size * nmemb;
	char *p = realloc(b->p, b->n + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, data, n);
	b->p = p;
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

static void take_header(char **dst, const char *line, size_t n, const char *name)
{
	size_t nl = strlen(name);
	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	const char *v = line + nl + 1;
	const char *end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	free(*dst);
	*dst = strndup(v, (size_t)(end - v));
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *cls)
{
	struct h_resp *r = cls;
	size_t n = size * nmemb;
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new (possibly final) response */
		free(r->content_type), free(r->request_id), free(r->allow), free(r->location), free(r->retry_after);
		r->content_type = r->request_id = r->allow = r->location = r->retry_after = NULL;
	}
	take_header(&r->content_type, line, n, "Content-Type");
	take_header(&r->request_id, line, n, "X-Request-Id");
	take_header(&r->allow, line, n, "Allow");
	take_header(&r->location, line, n, "Location");
	take_header(&r->retry_after, line, n, "Retry-After");
	return n;
}

struct upload {
	const char *p;
	size_t left;
};

static size_t on_read(char *out, size_t size, size_t nmemb, void *cls)
{
	struct upload *u = cls;
	size_t n = size * nmemb;
	if (n > 16384)
		n = 16384; /* several chunks */
	if (n > u->left)
		n = u->left;
	memcpy(out, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *prefix, const char *v)
{
	char *h;
	if (asprintf(&h, "%s: %s%s", name, prefix, v) < 0)
		abort();
	l = curl_slist_append(l, h);
	free(h);
	return l;
}

struct h_resp *h_send(const struct h_req *q)
{
	struct h_resp *r = calloc(1, sizeof *r);
	CURL *c = curl_easy_init();
	char *url;
	if (!r || !c || asprintf(&url, "%s%s", h_url, q->path) < 0)
		abort();
	struct curl_slist *hs = NULL;
	size_t body_len = q->body ? (q->body_len ? q->body_len : strlen(q->body)) : 0;
	struct upload up = {q->body, body_len};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, q->timeout_s ? q->timeout_s : 20L * h_slow());
	if (q->body && q->chunked) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
		hs = curl_slist_append(hs, "Transfer-Encoding: chunked");
	} else if (q->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	} else if (strcmp(q->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	if (q->body)
		hs = q->content_type && !*q->content_type
			 ? curl_slist_append(hs, "Content-Type:")
			 : add_header(hs, "Content-Type", "", q->content_type ? q->content_type : "application/json");
	/* Big bodies wait for the server's go-ahead, so an early refusal (413) is read cleanly. */
	hs = curl_slist_append(hs, body_len > 65536 ? "Expect: 100-continue" : "Expect:");
	if (q->authorization)
		hs = add_header(hs, "Authorization", "", q->authorization);
	else if (q->token)
		hs = add_header(hs, "Authorization", "Bearer ", q->token);
	if (q->request_id)
		hs = add_header(hs, "X-Request-Id", "", q->request_id);
	if (q->idempotency_key)
		hs = add_header(hs, "Idempotency-Key", "", q->idempotency_key);
	if (q->extra_header)
		hs = curl_slist_append(hs, q->extra_header);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	struct buf b = {0};
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		snprintf(r->curl_error, sizeof r->curl_error, "%s", curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	r->body = b.p ? b.p : strdup("");
	r->body_len = b.n;
	if (b.n)
		r->json = json_loadb(b.p, b.n, 0, NULL);
	curl_slist_free_all(hs);
	curl_easy_cleanup(c);
	free(url);
	return r;
}

struct h_resp *h_get(const char *path, const char *token, const char *rid)
{
	return h_send(&(struct h_req){.method = "GET", .path = path, .token = token, .request_id = rid});
}

struct h_resp *h_post(const char *path, const char *token, const char *body, const char *rid)
{
	return h_send(&(struct h_req){.method = "POST", .path = path, .token = token, .body = body, .request_id = rid});
}

struct h_resp *h_post_json(const char *path, const char *token, json_t *body, const char *rid)
{
	char *text = json_dumps(body, JSON_COMPACT);
	ck_assert_ptr_nonnull(text);
	json_decref(body);
	struct h_resp *r = h_post(path, token, text, rid);
	free(text);
	return r;
}

void h_resp_free(struct h_resp *r)
{
	if (!r)
		return;
	json_decref(r->json);
	free(r->body), free(r->content_type), free(r->request_id), free(r->allow), free(r->location);
	free(r->retry_after);
	free(r);
}

const char *h_str(const struct h_resp *r, const char *member)
{
	return json_string_value(json_object_get(r->json, member));
}

void h_assert_status_at(const char *file, int line, const struct h_resp *r, long status)
{
	ck_assert_msg(r->status == status, "%s:%d: expected HTTP %ld, got %ld%s%s: %.400s", file, line, status,
		      r->status, r->curl_error[0] ? " curl: " : "", r->curl_error, r->body);
}

void h_assert_problem_at(const char *file, int line, const struct h_resp *r, long status, const char *code)
{
	h_assert_status_at(file, line, r, status);
	ck_assert_msg(r->content_type && strncmp(r->content_type, "application/problem+json", 24) == 0,
		      "%s:%d: error Content-Type is %s", file, line, r->content_type ? r->content_type : "(none)");
	ck_assert_msg(json_is_object(r->json), "%s:%d: error body is not a JSON object: %.200s", file, line, r->body);
	static const char *const members[] = {"type", "title", "detail", "code", "request_id"};
	for (size_t i = 0; i < sizeof members / sizeof *members; i++) {
		const char *v = h_str(r, members[i]);
		ck_assert_msg(v && *v, "%s:%d: problem member %s missing or empty: %.300s", file, line, members[i],
			      r->body);
	}
	json_t *st = json_object_get(r->json, "status");
	ck_assert_msg(json_is_integer(st) && json_integer_value(st) == status, "%s:%d: problem status member: %.300s",
		      file, line, r->body);
	ck_assert_msg(strcmp(h_str(r, "code"), code) == 0, "%s:%d: expected code %s, got %s (%s)", file, line, code,
		      h_str(r, "code"), h_str(r, "detail"));
	ck_assert_msg(r->request_id && strcmp(h_str(r, "request_id"), r->request_id) == 0,
		      "%s:%d: problem request_id %s differs from X-Request-Id %s", file, line, h_str(r, "request_id"),
		      r->request_id ? r->request_id : "(none)");
}

void h_assert_detail_has_at(const char *file, int line, const struct h_resp *r, const char *word)
{
	const char *d = h_str(r, "detail");
	ck_assert_msg(d && strstr(d, word), "%s:%d: detail \"%s\" does not mention %s", file, line, d ? d : "(none)",
		      word);
}

/* ---- names and ids ---- */

void h_rid(char out[H_RID_MAX])
{
	hg_uuid u;
	ck_assert_int_eq(uuid_v4(&u), 0);
	char s[HG_UUID_STR_LEN + 1];
	uuid_format(&u, s);
	snprintf(out, H_RID_MAX, "apitest-%s", s);
}

void h_name(char out[H_NAME_MAX], const char *label)
{
	hg_uuid u;
	ck_assert_int_eq(uuid_v4(&u), 0);
	char hex[17];
	hex_encode_lower(u.b, 8, hex);
	snprintf(out, H_NAME_MAX, "apitest-%s-%s", label, hex);
}

char *h_fill(const char *tmpl, const char *value)
{
	size_t cap = strlen(tmpl) + 1, vl = strlen(value);
	for (const char *p = strstr(tmpl, "%s"); p; p = strstr(p + 2, "%s"))
		cap += vl;
	char *out = malloc(cap), *o = out;
	for (const char *p = tmpl; *p;) {
		if (p[0] == '%' && p[1] == 's') {
			memcpy(o, value, vl);
			o += vl;
			p += 2;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

char *h_b64(const void *p, size_t n)
{
	char *s = malloc(b64_encoded_len(n) + 1);
	b64_encode(p, n, s);
	return s;
}

char *h_b64url(const void *p, size_t n)
{
	char *s = h_b64(p, n);
	for (char *c = s; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	s[strcspn(s, "=")] = '\0';
	return s;
}

unsigned char *h_unb64(const char *s, size_t *n)
{
	uint8_t *out;
	ck_assert_msg(b64_decode(s, strlen(s), 1 << 24, &out, n) == 0, "not base64: %.100s", s);
	return out;
}

/* ---- tokens ---- */

const struct hg_tenant_cfg *h_tenant(const char *name)
{
	const struct hg_tenant_cfg *t = config_tenant(h_cfg, name);
	ck_assert_msg(t != NULL, "no tenant %s in the configuration", name);
	return t;
}

const char *h_sub(const char *tenant)
{
	return strcmp(tenant, "acme") == 0 ? "apitest-acme" : "apitest-globex";
}

json_t *h_claims(const char *tenant, const char *scope)
{
	const struct hg_tenant_cfg *t = h_tenant(tenant);
	long now = (long)time(NULL);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", t->issuer, "sub", h_sub(tenant), "aud", t->audience,
			 "iat", (json_int_t)now, "exp", (json_int_t)now + 600, "scope", scope);
}

static char *sign_with(const json_t *claims, jwt_alg_t alg, const unsigned char *key, size_t key_len)
{
	char *grants = json_dumps(claims, JSON_COMPACT);
	jwt_t *jwt = NULL;
	char *tok = NULL;
	if (grants && jwt_new(&jwt) == 0 && jwt_add_grants_json(jwt, grants) == 0 &&
	    jwt_set_alg(jwt, alg, key, (int)key_len) == 0)
		tok = jwt_encode_str(jwt);
	jwt_free(jwt);
	free(grants);
	ck_assert_msg(tok != NULL, "libjwt could not sign a token");
	/* libjwt 1.10 allocates with malloc: the caller frees with free. */
	return tok;
}

char *h_sign(const char *signer, const json_t *claims)
{
	const struct hg_tenant_cfg *t = h_tenant(signer);
	size_t n;
	char *pem = file_read_all(t->dev_signing_key_file, 65536, &n);
	ck_assert_msg(pem != NULL, "cannot read %s", t->dev_signing_key_file);
	char *tok = sign_with(claims, JWT_ALG_ES256, (unsigned char *)pem, n);
	hg_free_secret(pem, n + 1);
	return tok;
}

char *h_sign_hs256(const json_t *claims, const unsigned char *secret, size_t secret_len)
{
	return sign_with(claims, JWT_ALG_HS256, secret, secret_len);
}

char *h_token_raw(const char *header_json, const json_t *claims, const char *sig)
{
	char *c = json_dumps(claims, JSON_COMPACT);
	char *h64 = h_b64url(header_json, strlen(header_json)), *c64 = h_b64url(c, strlen(c)), *tok;
	if (asprintf(&tok, "%s.%s.%s", h64, c64, sig) < 0)
		abort();
	free(c), free(h64), free(c64);
	return tok;
}

char *h_token(const char *tenant, const char *scope)
{
	json_t *c = h_claims(tenant, scope);
	char *tok = h_sign(tenant, c);
	json_decref(c);
	return tok;
}

const char *h_tok(const char *tenant)
{
	static char *acme, *globex; /* per test process; reachable until exit */
	char **slot = strcmp(tenant, "acme") == 0 ? &acme : &globex;
	if (!*slot)
		*slot = h_token(tenant, H_ALL_SCOPES);
	return *slot;
}

/* ---- keys ---- */

void h_key(const char *tenant, const char *label, char id[HG_UUID_STR_LEN + 1], char name[H_NAME_MAX])
{
	char n[H_NAME_MAX];
	h_name(n, label);
	struct h_resp *r =
	    h_post_json("/v1/keys", h_tok(tenant), json_pack("{s:s, s:s}", "name", n, "type", "AES"), NULL);
	h_assert_status(r, 201);
	const char *got = h_str(r, "id");
	ck_assert_msg(got && strlen(got) == HG_UUID_STR_LEN, "created key has no id: %s", r->body);
	snprintf(id, HG_UUID_STR_LEN + 1, "%s", got);
	if (name)
		snprintf(name, H_NAME_MAX, "%s", n);
	h_resp_free(r);
}

char *h_encrypt(const char *tenant, const char *key, const char *plaintext_b64, const char *aad_b64)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s/encrypt", key);
	json_t *body = json_pack("{s:s}", "plaintext", plaintext_b64);
	if (aad_b64)
		json_object_set_new(body, "aad", json_string(aad_b64));
	struct h_resp *r = h_post_json(path, h_tok(tenant), body, NULL);
	h_assert_status(r, 200);
	const char *ct = h_str(r, "ciphertext");
	ck_assert_msg(ct != NULL, "encrypt answered no ciphertext: %s", r->body);
	char *out = strdup(ct);
	h_resp_free(r);
	return out;
}

struct h_resp *h_decrypt(const char *tenant, const char *key, const char *ciphertext, const char *aad_b64,
			 const char *rid)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s/decrypt", key);
	json_t *body = json_pack("{s:s}", "ciphertext", ciphertext);
	if (aad_b64)
		json_object_set_new(body, "aad", json_string(aad_b64));
	return h_post_json(path, h_tok(tenant), body, rid);
}

long h_key_status(const char *tenant, const char *key)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s", key);
	struct h_resp *r = h_get(path, h_tok(tenant), NULL);
	long st = r->status;
	h_resp_free(r);
	return st;
}

/* ---- database ---- */

static PGconn *connect_db(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "cannot connect to PostgreSQL: %s", PQerrorMessage(c));
	return c;
}

PGconn *h_db_admin(void)
{
	return connect_db(h_cfg->db_admin_conninfo);
}

PGconn *h_db_app(void)
{
	return connect_db(h_cfg->db_conninfo);
}

PGresult *h_sql(PGconn *c, const char *sql, int n, const char *const *params)
{
	return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
}

static long count_query(const char *sql, const char *param)
{
	PGconn *c = h_db_admin();
	PGresult *r = h_sql(c, sql, 1, &param);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
	long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return n;
}

long h_audit_count(const char *rid)
{
	return count_query("SELECT count(*) FROM audit_log WHERE request_id = $1 AND operation NOT LIKE '%.intent'",
			   rid);
}

long h_audit_intents(const char *rid, const char *op)
{
	/* Counted only when the intent precedes the request's own row in their chain. */
	PGconn *c = h_db_admin();
	const char *p[] = {rid, op};
	PGresult *r = h_sql(c,
			    "SELECT count(*) FROM audit_log i JOIN audit_log o ON o.chain_id = i.chain_id AND"
			    " o.request_id = i.request_id AND o.operation NOT LIKE '%.intent' AND o.seq > i.seq"
			    " WHERE i.request_id = $1 AND i.operation = $2",
			    2, p);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "audit query: %s", PQresultErrorMessage(r));
	long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return n;
}

long h_audit_rows_containing(const char *needle)
{
	return count_query("SELECT count(*) FROM audit_log a WHERE strpos(a::text, $1) > 0", needle);
}

static void check_column(const char *file, int line, const char *rid, PGresult *r, int col, const char *want)
{
	if (want == H_ANY)
		return;
	const char *name = PQfname(r, col);
	if (!want) {
		ck_assert_msg(PQgetisnull(r, 0, col), "%s:%d: audit row %s: %s is %s, expected NULL", file, line, rid,
			      name, PQgetvalue(r, 0, col));
		return;
	}
	ck_assert_msg(!PQgetisnull(r, 0, col) && strcmp(PQgetvalue(r, 0, col), want) == 0,
		      "%s:%d: audit row %s: %s is %s, expected %s", file, line, rid, name,
		      PQgetisnull(r, 0, col) ? "NULL" : PQgetvalue(r, 0, col), want);
}

void h_assert_audit_at(const char *file, int line, const char *rid, const struct h_audit_want *w)
{
	PGconn *c = h_db_admin();
	PGresult *r = h_sql(c,
			    "SELECT tenant, caller, operation, outcome, http_status::text, error_code, key_id::text,"
			    " key_version::text, chain_id FROM audit_log WHERE request_id = $1"
			    " AND operation NOT LIKE '%.intent'",
			    1, &rid);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "audit query: %s", PQresultErrorMessage(r));
	ck_assert_msg(PQntuples(r) == 1, "%s:%d: %d audit rows for request %s, expected exactly 1", file, line,
		      PQntuples(r), rid);
	char status[16], version[16];
	snprintf(status, sizeof status, "%d", w->http_status);
	snprintf(version, sizeof version, "%d", w->key_version);
	check_column(file, line, rid, r, 0, w->tenant);
	check_column(file, line, rid, r, 1, w->caller);
	check_column(file, line, rid, r, 2, w->operation);
	check_column(file, line, rid, r, 3, w->outcome);
	check_column(file, line, rid, r, 4, status);
	check_column(file, line, rid, r, 5, w->error_code);
	check_column(file, line, rid, r, 6, w->key_id);
	check_column(file, line, rid, r, 7,
		     w->key_version == H_ANY_VERSION ? H_ANY
		     : w->key_version == 0           ? NULL
						     : version);
	check_column(file, line, rid, r, 8, h_cfg->audit_chain_id);
	PQclear(r);
	PQfinish(c);
}

static const char *val(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

long h_assert_chain_at(const char *file, int line, long last)
{
	PGconn *c = h_db_admin();
	char lim[24];
	snprintf(lim, sizeof lim, "%ld", last);
	const char *p[] = {h_cfg->audit_chain_id, lim};
	PGresult *r = h_sql(c,
			    "SELECT seq, (extract(epoch FROM ts) * 1000000)::bigint, tenant, caller, request_id,"
			    " operation, key_id::text, key_version, outcome, http_status, error_code, hsm_node,"
			    " duration_us, prev_hash, hash FROM (SELECT * FROM audit_log WHERE chain_id = $1"
			    " ORDER BY seq DESC LIMIT $2::bigint) t ORDER BY seq",
			    2, p);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "chain query: %s", PQresultErrorMessage(r));
	int n = PQntuples(r);
	ck_assert_msg(n > 0, "%s:%d: chain %s has no rows", file, line, h_cfg->audit_chain_id);
	char canon[4096], hash[65];
	for (int i = 0; i < n; i++) {
		long long seq = strtoll(val(r, i, 0), NULL, 10);
		const char *kv = val(r, i, 7);
		size_t len = audit_canonical(
		    canon, sizeof canon, h_cfg->audit_chain_id, seq, strtoll(val(r, i, 1), NULL, 10), val(r, i, 2),
		    val(r, i, 3), val(r, i, 4), val(r, i, 5), val(r, i, 6), kv ? atoi(kv) : 0, val(r, i, 8),
		    atoi(val(r, i, 9)), val(r, i, 10), val(r, i, 11), strtoll(val(r, i, 12), NULL, 10), val(r, i, 13));
		ck_assert_msg(len < sizeof canon, "canonical row too long");
		audit_hash(canon, len, hash);
		ck_assert_msg(strcmp(hash, val(r, i, 14)) == 0, "%s:%d: chain %s seq %lld: stored hash %s, computed %s",
			      file, line, h_cfg->audit_chain_id, seq, val(r, i, 14), hash);
		if (i > 0)
			ck_assert_msg(strcmp(val(r, i, 13), val(r, i - 1, 14)) == 0,
				      "%s:%d: chain %s seq %lld: prev_hash %s is not the hash %s of seq %s", file, line,
				      h_cfg->audit_chain_id, seq, val(r, i, 13), val(r, i - 1, 14), val(r, i - 1, 0));
		else if (seq == 1)
			ck_assert_msg(strspn(val(r, i, 13), "0") == 64, "%s:%d: the chain's first row has prev_hash %s",
				      file, line, val(r, i, 13));
	}
	PQclear(r);
	PQfinish(c);
	return n;
}

/* ---- the daemon's environment ---- */

int h_env(const char *cmd)
{
	char *sh;
	if (asprintf(&sh, "'%s' %s '%s' >/dev/null 2>&1", env_script, cmd, env_var) < 0)
		abort();
	int st = system(sh);
	free(sh);
	return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

char *h_daemon_log(size_t *n)
{
	char *s = file_read_all(daemon_log, (size_t)1 << 30, n);
	if (!s) {
		*n = 0;
		s = strdup("");
	}
	return s;
}

bool h_log_wait_for(const char *s)
{
	for (long i = 0; i < 60 * h_slow(); i++) {
		size_t n;
		char *log = h_daemon_log(&n);
		bool found = memmem(log, n, s, strlen(s)) != NULL;
		free(log);
		if (found)
			return true;
		usleep(50 * 1000);
	}
	return false;
}

/* ---- HSM faults ---- */

/* The value of NAME in the configuration's hsm.module_env, or NULL. */
static const char *module_env(const char *name)
{
	size_t n = strlen(name);
	for (char **e = h_cfg->hsm_env; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

void h_faults(const char *rules)
{
	const char *ctl = module_env("FAULTP11_CONTROL"), *log = module_env("FAULTP11_LOG");
	ck_assert_msg(ctl && log, "the daemon does not run on faultp11 (hsm.module_env has no FAULTP11_CONTROL or "
				  "FAULTP11_LOG; deploy/dev/env.sh up ... faults sets them)");
	char *tmp;
	if (asprintf(&tmp, "%s.tmp", ctl) < 0)
		abort();
	FILE *f = fopen(tmp, "w");
	ck_assert_msg(f != NULL, "cannot write %s", tmp);
	fprintf(f, "%s\n", rules ? rules : "");
	ck_assert_int_eq(fclose(f), 0);
	FILE *l = fopen(log, "w"); /* emptied first: what fires from here on is the new rules' */
	if (l)
		fclose(l);
	ck_assert_msg(rename(tmp, ctl) == 0, "cannot replace %s", ctl);
	free(tmp);
}

long h_faults_fired(const char *fn)
{
	const char *log = module_env("FAULTP11_LOG");
	ck_assert_msg(log != NULL, "the daemon does not run on faultp11");
	FILE *f = fopen(log, "r");
	long n = 0;
	char line[256];
	size_t fl = fn ? strlen(fn) : 0;
	while (f && fgets(line, sizeof line, f))
		n += !fn || (strncmp(line, fn, fl) == 0 && line[fl] == ' ');
	if (f)
		fclose(f);
	return n;
}
