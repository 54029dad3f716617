/* Helpers of the key-management API tests (see km_util.h). */
#include "km_util.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

const char *km_tok(void)
{
	static char *tok; /* per test process; reachable until exit */
	if (!tok)
		tok = h_token("acme", KM_SCOPES);
	return tok;
}

struct h_resp *km_send(const char *method, const char *path, const char *body, const char *idem)
{
	return h_send(
	    &(struct h_req){.method = method, .path = path, .token = km_tok(), .body = body, .idempotency_key = idem});
}

struct h_resp *km_act(const char *key, const char *action, const char *body)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s/%s", key, action);
	return km_send("POST", path, body, NULL);
}

struct h_resp *km_get(const char *key)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s", key);
	struct h_resp *r = km_send("GET", path, NULL, NULL);
	h_assert_status(r, 200);
	return r;
}

struct h_resp *km_key_at(const char *file, int line, const char *label, json_t *spec, char id[KM_ID_LEN],
			 char name[H_NAME_MAX])
{
	char n[H_NAME_MAX];
	h_name(n, label);
	json_object_set_new(spec, "name", json_string(n));
	char *body = json_dumps(spec, JSON_COMPACT);
	json_decref(spec);
	struct h_resp *r = km_send("POST", "/v1/keys", body, NULL);
	ck_assert_msg(r->status == 201, "%s:%d: creating %.300s: expected 201, got %ld: %.600s", file, line, body,
		      r->status, r->body);
	free(body);
	const char *got = h_str(r, "id");
	ck_assert_msg(got && strlen(got) == HG_UUID_STR_LEN, "%s:%d: created key has no id: %.600s", file, line,
		      r->body);
	if (id)
		snprintf(id, KM_ID_LEN, "%s", got);
	if (name)
		snprintf(name, H_NAME_MAX, "%s", n);
	return r;
}

void km_assert_state_at(const char *file, int line, const char *key, const char *state)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s", key);
	struct h_resp *r = km_send("GET", path, NULL, NULL);
	h_assert_status_at(file, line, r, 200);
	const char *got = h_str(r, "state");
	ck_assert_msg(got && strcmp(got, state) == 0, "%s:%d: key state %s, expected %s", file, line,
		      got ? got : "(none)", state);
	h_resp_free(r);
}

long km_int(const json_t *o, const char *member)
{
	json_t *v = json_object_get(o, member);
	return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

const char *km_s(const json_t *o, const char *member)
{
	return json_string_value(json_object_get(o, member));
}

json_t *km_version(const json_t *key, int v)
{
	size_t i;
	json_t *it;
	json_array_foreach (json_object_get(key, "versions"), i, it)
		if (km_int(it, "version") == v)
			return it;
	return NULL;
}

bool km_is_kcv(const char *s)
{
	return s && strlen(s) == 6 && strspn(s, "0123456789ABCDEF") == 6;
}

/* ---- the scheduler ---- */

void km_time(long long offset_s, char out[32])
{
	time_format_rfc3339(time_now_us() + offset_s * 1000000LL, out);
}

void km_lifecycle_run_at(const char *file, int line, long long offset_s)
{
	char exe[4096], at[32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	ck_assert_msg(n > 0, "cannot read /proc/self/exe");
	exe[n] = '\0';
	km_time(offset_s, at);
	char *cmd;
	if (asprintf(&cmd, "'%s/hsmgwctl' --config '%s' lifecycle run --at %s 2>&1", dirname(exe),
		     getenv("HSMGW_TEST_CONFIG"), at) < 0)
		abort();
	FILE *p = popen(cmd, "r");
	ck_assert_msg(p != NULL, "%s:%d: cannot run %s", file, line, cmd);
	char out[4096];
	size_t got = fread(out, 1, sizeof out - 1, p);
	out[got] = '\0';
	int st = pclose(p);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s:%d: %s exited with %d: %.2000s", file,
		      line, cmd, st, out);
	free(cmd);
}

/* ---- the HSM side ---- */

void km_hsm_id(const char *key_id, int version, hg_uuid *out)
{
	char v[16];
	snprintf(v, sizeof v, "%d", version);
	const char *p[] = {key_id, v};
	PGconn *c = h_db_admin();
	PGresult *r =
	    h_sql(c, "SELECT hsm_id::text FROM key_versions WHERE key_id = $1::uuid AND version = $2::int", 2, p);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "key_versions: %s", PQresultErrorMessage(r));
	ck_assert_msg(PQntuples(r) == 1, "key %s has %d rows for version %d", key_id, PQntuples(r), version);
	ck_assert(uuid_parse(PQgetvalue(r, 0, 0), out));
	PQclear(r);
	PQfinish(c);
}

void km_attrs(const char *key_id, int version, bool private_or_secret, struct hg_p11_attrs *out)
{
	hg_uuid id;
	km_hsm_id(key_id, version, &id);
	km_attrs_of(&id, private_or_secret, out);
}

void km_attrs_of(const hg_uuid *hsm_id, bool private_or_secret, struct hg_p11_attrs *out)
{
	char err[512] = "";
	log_set_level(HG_LOG_WARN); /* not the module's banner on every read */
	struct hg_p11 *p = p11_open(h_cfg, err, sizeof err);
	ck_assert_msg(p != NULL, "p11_open: %s", err);
	hg_err e = p11_key_attrs(p, hsm_id, private_or_secret, out);
	p11_close(p);
	ck_assert_msg(e == HG_OK, "p11_key_attrs: %s", hg_err_code(e));
}

/* ---- crypto ---- */

char *km_encrypt_at(const char *file, int line, const char *key, const char *pt_b64, int want_version)
{
	char body[512];
	snprintf(body, sizeof body, "{\"plaintext\":\"%s\"}", pt_b64);
	struct h_resp *r = km_act(key, "encrypt", body);
	h_assert_status_at(file, line, r, 200);
	const char *ct = h_str(r, "ciphertext");
	ck_assert_msg(ct != NULL, "%s:%d: no ciphertext: %.600s", file, line, r->body);
	ck_assert_msg(km_int(r->json, "key_version") == want_version, "%s:%d: key_version %ld, expected %d", file, line,
		      km_int(r->json, "key_version"), want_version);
	char prefix[32];
	snprintf(prefix, sizeof prefix, "hsmgw:v%d:", want_version);
	ck_assert_msg(strncmp(ct, prefix, strlen(prefix)) == 0, "%s:%d: ciphertext %.40s does not start with %s", file,
		      line, ct, prefix);
	char *out = strdup(ct);
	h_resp_free(r);
	return out;
}

struct h_resp *km_decrypt(const char *key, const char *ciphertext)
{
	json_t *b = json_pack("{s:s}", "ciphertext", ciphertext);
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	struct h_resp *r = km_act(key, "decrypt", body);
	free(body);
	return r;
}
