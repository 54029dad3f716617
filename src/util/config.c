/* Configuration as a declared table. Each key names its section, type, destination,
 * default and limits; one loader walks the file against the table and refuses anything the
 * table does not know. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "hsmgw/config.h"

const char *const hg_jwt_alg_names[HG_ALG_COUNT] = {
    "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "HS256", "HS384", "HS512",
};

enum ctype { C_STR, C_UINT, C_BOOL, C_ENV, C_ALGS };

struct ckey {
	const char *section; /* NULL: a top-level key */
	const char *name;
	enum ctype type;
	size_t off;
	bool required;
	const char *def_str;
	unsigned def_uint, min, max;
};

#define CFG(f) offsetof(struct hg_config, f)
#define TEN(f) offsetof(struct hg_tenant_cfg, f)

static const struct ckey config_keys[] = {
    {"listen", "address", C_STR, CFG(listen_address), false, "127.0.0.1", 0, 0, 0},
    {"listen", "port", C_UINT, CFG(listen_port), false, NULL, 8080, 1, 65535},
    {"http", "threads", C_UINT, CFG(http_threads), false, NULL, 64, 1, 1024},
    {"http", "max_body_bytes", C_UINT, CFG(http_max_body_bytes), false, NULL, 1048576, 1024, 16777216},
    {"http", "connection_limit", C_UINT, CFG(http_connection_limit), false, NULL, 1024, 1, 65536},
    {"http", "connection_timeout_seconds", C_UINT, CFG(http_connection_timeout_s), false, NULL, 30, 1, 3600},
    {"http", "per_ip_connection_limit", C_UINT, CFG(http_per_ip_limit), false, NULL, 0, 0, 65536},
    {"http", "request_timeout_seconds", C_UINT, CFG(http_request_timeout_s), false, NULL, 30, 1, 3600},
    {"http", "max_header_bytes", C_UINT, CFG(http_max_header_bytes), false, NULL, 16384, 1024, 49152},
    {"http", "shutdown_timeout_ms", C_UINT, CFG(http_shutdown_timeout_ms), false, NULL, 10000, 0, 600000},
    {"database", "conninfo", C_STR, CFG(db_conninfo), true, NULL, 0, 0, 0},
    {"database", "admin_conninfo", C_STR, CFG(db_admin_conninfo), false, NULL, 0, 0, 0},
    {"database", "pool_size", C_UINT, CFG(db_pool_size), false, NULL, 8, 1, 256},
    {"database", "wait_ms", C_UINT, CFG(db_wait_ms), false, NULL, 2000, 1, 60000},
    {"hsm", "module", C_STR, CFG(hsm_module), true, NULL, 0, 0, 0},
    {"hsm", "token_label", C_STR, CFG(hsm_token_label), true, NULL, 0, 0, 0},
    {"hsm", "pin_file", C_STR, CFG(hsm_pin_file), true, NULL, 0, 0, 0},
    {"hsm", "sessions", C_UINT, CFG(hsm_sessions), false, NULL, 8, 1, 1024},
    {"hsm", "wait_ms", C_UINT, CFG(hsm_wait_ms), false, NULL, 2000, 1, 60000},
    {"hsm", "module_env", C_ENV, CFG(hsm_env), false, NULL, 0, 0, 0},
    {"hsm", "openssl_legacy_provider", C_BOOL, CFG(hsm_openssl_legacy), false, NULL, 0, 0, 1},
    {"hsm", "operation_timeout_ms", C_UINT, CFG(hsm_op_timeout_ms), false, NULL, 2000, 0, 600000},
    {"hsm", "long_operation_timeout_ms", C_UINT, CFG(hsm_long_timeout_ms), false, NULL, 60000, 100, 3600000},
    {"hsm", "health_interval_ms", C_UINT, CFG(hsm_health_interval_ms), false, NULL, 1000, 50, 600000},
    {"hsm", "breaker_failures", C_UINT, CFG(hsm_breaker_failures), false, NULL, 3, 1, 100000},
    {"hsm", "breaker_cooldown_ms", C_UINT, CFG(hsm_breaker_cooldown_ms), false, NULL, 2000, 0, 3600000},
    {"audit", "chain_id", C_STR, CFG(audit_chain_id), false, "hsmgwd", 0, 0, 0},
    {"audit", "batch_max", C_UINT, CFG(audit_batch_max), false, NULL, 1024, 1, 65536},
    {"audit", "commit_timeout_ms", C_UINT, CFG(audit_commit_timeout_ms), false, NULL, 5000, 100, 600000},
    {"audit", "checkpoint_rows", C_UINT, CFG(audit_checkpoint_rows), false, NULL, 1000, 1, 10000000},
    {"audit", "checkpoint_seconds", C_UINT, CFG(audit_checkpoint_s), false, NULL, 60, 1, 86400},
    {"audit", "anchor_dir", C_STR, CFG(audit_anchor_dir), false, NULL, 0, 0, 0},
    {"audit", "siem_file", C_STR, CFG(audit_siem_file), false, NULL, 0, 0, 0},
    {"audit", "siem_syslog", C_STR, CFG(audit_siem_syslog), false, NULL, 0, 0, 0},
    {"lifecycle", "interval_seconds", C_UINT, CFG(lifecycle_interval_s), false, NULL, 60, 0, 86400},
    {"tls", "cert_file", C_STR, CFG(tls_cert_file), false, NULL, 0, 0, 0},
    {"tls", "key_file", C_STR, CFG(tls_key_file), false, NULL, 0, 0, 0},
    {"tls", "client_ca_file", C_STR, CFG(tls_client_ca_file), false, NULL, 0, 0, 0},
    {"tls", "min_version", C_STR, CFG(tls_min_version), false, "1.2", 0, 0, 0},
    {"auth", "token_cache_entries", C_UINT, CFG(auth_token_cache_entries), false, NULL, 4096, 0, 1048576},
    {"auth", "token_cache_seconds", C_UINT, CFG(auth_token_cache_s), false, NULL, 300, 1, 3600},
    {"keys", "cache_entries", C_UINT, CFG(keys_cache_entries), false, NULL, 4096, 0, 1048576},
    {"keys", "cache_ms", C_UINT, CFG(keys_cache_ms), false, NULL, 1000, 1, 60000},
    {"keys", "reconcile_grace_seconds", C_UINT, CFG(keys_reconcile_grace_s), false, NULL, 300, 0, 86400},
    {"log", "level", C_STR, CFG(log_level), false, "info", 0, 0, 0},
    {"process", "user", C_STR, CFG(process_user), false, NULL, 0, 0, 0},
};

static const struct ckey tenant_keys[] = {
    {NULL, "name", C_STR, TEN(name), true, NULL, 0, 0, 0},
    {NULL, "issuer", C_STR, TEN(issuer), true, NULL, 0, 0, 0},
    {NULL, "audience", C_STR, TEN(audience), true, NULL, 0, 0, 0},
    {NULL, "algorithms", C_ALGS, TEN(algorithms), true, NULL, 0, 0, 0},
    {NULL, "key_file", C_STR, TEN(key_file), false, NULL, 0, 0, 0},
    {NULL, "keys", C_ENV, TEN(keys), false, NULL, 0, 0, 0},
    {NULL, "typ", C_STR, TEN(typ), false, NULL, 0, 0, 0},
    {NULL, "dev_signing_key_file", C_STR, TEN(dev_signing_key_file), false, NULL, 0, 0, 0},
    {NULL, "rate_limit_per_second", C_UINT, TEN(rate_per_s), false, NULL, 0, 0, 1000000},
    {NULL, "rate_limit_burst", C_UINT, TEN(rate_burst), false, NULL, 0, 0, 1000000},
    {NULL, "max_concurrent", C_UINT, TEN(max_concurrent), false, NULL, 0, 0, 100000},
    {NULL, "client_cert_subject", C_STR, TEN(client_cert_subject), false, NULL, 0, 0, 0},
};

#define NKEYS(t) (sizeof(t) / sizeof(t)[0])

static bool set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return false;
}

/* Stores one JSON value at base+k->off after checking its type and limits. */
static bool store_value(const struct ckey *k, json_t *v, void *base, const char *where, char *err, size_t len)
{
	char *dst = (char *)base + k->off;
	switch (k->type) {
	case C_STR:
		if (!json_is_string(v) || json_string_length(v) == 0)
			return set_err(err, len, "%s: must be a non-empty string", where);
		free(*(char **)dst);
		*(char **)dst = strdup(json_string_value(v));
		return true;
	case C_UINT: {
		json_int_t i = json_is_integer(v) ? json_integer_value(v) : -1;
		if (i < (json_int_t)k->min || i > (json_int_t)k->max) {
			return set_err(err, len, "%s: must be an integer in %u..%u", where, k->min, k->max);
		}
		*(unsigned *)dst = (unsigned)i;
		return true;
	}
	case C_BOOL:
		if (!json_is_boolean(v))
			return set_err(err, len, "%s: must be true or false", where);
		*(bool *)dst = json_is_true(v);
		return true;
	case C_ENV: {
		if (!json_is_object(v))
			return set_err(err, len, "%s: must be an object of strings", where);
		size_t n = json_object_size(v), i = 0;
		char **env = calloc(n + 1, sizeof *env);
		const char *name;
		json_t *val;
		json_object_foreach (v, name, val) {
			if (!json_is_string(val) || !*name || strchr(name, '=')) {
				for (size_t j = 0; j < i; j++)
					free(env[j]);
				free(env);
				return set_err(err, len, "%s.%s: must be a string", where, name);
			}
			size_t l = strlen(name) + json_string_length(val) + 2;
			env[i] = malloc(l);
			snprintf(env[i++], l, "%s=%s", name, json_string_value(val));
		}
		*(char ***)dst = env;
		return true;
	}
	case C_ALGS: {
		unsigned mask = 0;
		size_t i;
		json_t *a;
		if (!json_is_array(v) || json_array_size(v) == 0)
			return set_err(err, len, "%s: must be a non-empty array", where);
		json_array_foreach (v, i, a) {
			size_t j = 0;
			while (j < HG_ALG_COUNT &&
			       !(json_is_string(a) && strcmp(json_string_value(a), hg_jwt_alg_names[j]) == 0))
				j++;
			if (j == HG_ALG_COUNT)
				return set_err(err, len, "%s: unsupported algorithm %s (RS/ES/HS 256/384/512 only)",
					       where, json_is_string(a) ? json_string_value(a) : "(not a string)");
			mask |= 1u << j;
		}
		/* One key file holds one key: an RSA key, an EC key or an HMAC secret. */
		unsigned families = !!(mask & 0x007u) + !!(mask & 0x038u) + !!(mask & 0x1c0u);
		if (families > 1)
			return set_err(err, len, "%s: one tenant's algorithms must all be RS*, all ES* or all HS*",
				       where);
		*(unsigned *)dst = mask;
		return true;
	}
	}
	return false;
}

static void apply_defaults(const struct ckey *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		char *dst = (char *)base + keys[i].off;
		if (keys[i].type == C_STR && keys[i].def_str)
			*(char **)dst = strdup(keys[i].def_str);
		else if (keys[i].type == C_UINT)
			*(unsigned *)dst = keys[i].def_uint;
		else if (keys[i].type == C_BOOL)
			*(bool *)dst = keys[i].def_uint != 0;
	}
}

/* Walks one object's members against the keys of `section`. Marks what it saw in seen[]. */
static bool load_object(const struct ckey *keys, size_t n, const char *section, const char *prefix, json_t *obj,
			void *base, bool *seen, char *err, size_t len)
{
	const char *name;
	json_t *v;
	json_object_foreach (obj, name, v) {
		char where[160];
		snprintf(where, sizeof where, "%s%s%s%s", prefix, section ? section : "", section ? "." : "", name);
		size_t i = 0;
		while (i < n &&
		       !((section ? keys[i].section && strcmp(keys[i].section, section) == 0 : !keys[i].section) &&
			 strcmp(keys[i].name, name) == 0))
			i++;
		if (i == n)
			return set_err(err, len, "unknown key %s", where);
		if (!store_value(&keys[i], v, base, where, err, len))
			return false;
		seen[i] = true;
	}
	return true;
}

static bool check_required(const struct ckey *keys, size_t n, const bool *seen, const char *prefix, char *err,
			   size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (keys[i].required && !seen[i]) {
			char where[160];
			snprintf(where, sizeof where, "%s%s%s%s", prefix, keys[i].section ? keys[i].section : "",
				 keys[i].section ? "." : "", keys[i].name);
			return set_err(err, len, "missing required key %s", where);
		}
	}
	return true;
}

static bool is_section(const char *name)
{
	for (size_t i = 0; i < NKEYS(config_keys); i++)
		if (strcmp(config_keys[i].section, name) == 0)
			return true;
	return false;
}

static bool load_tenants(struct hg_config *cfg, json_t *arr, char *err, size_t len)
{
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return set_err(err, len, "tenants: must be a non-empty array");
	cfg->n_tenants = json_array_size(arr);
	cfg->tenants = calloc(cfg->n_tenants, sizeof *cfg->tenants);
	size_t i;
	json_t *t;
	json_array_foreach (arr, i, t) {
		char prefix[32];
		snprintf(prefix, sizeof prefix, "tenants[%zu].", i);
		bool seen[NKEYS(tenant_keys)] = {0};
		if (!json_is_object(t))
			return set_err(err, len, "%s: must be an object", prefix);
		apply_defaults(tenant_keys, NKEYS(tenant_keys), &cfg->tenants[i]);
		if (!load_object(tenant_keys, NKEYS(tenant_keys), NULL, prefix, t, &cfg->tenants[i], seen, err, len) ||
		    !check_required(tenant_keys, NKEYS(tenant_keys), seen, prefix, err, len))
			return false;
		/* One verification key (key_file), or several named by the tokens' kid (keys). */
		const struct hg_tenant_cfg *tc = &cfg->tenants[i];
		if (!tc->key_file == !tc->keys)
			return set_err(err, len, "%s: give key_file or keys (kid to file), not both and not neither",
				       prefix);
		if (tc->keys && !tc->keys[0])
			return set_err(err, len, "%skeys: must name at least one key", prefix);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->tenants[j].name, cfg->tenants[i].name) == 0)
				return set_err(err, len, "tenants: duplicate name %s", cfg->tenants[i].name);
			if (strcmp(cfg->tenants[j].issuer, cfg->tenants[i].issuer) == 0)
				return set_err(err, len, "tenants: duplicate issuer %s", cfg->tenants[i].issuer);
		}
	}
	return true;
}

/* Checks a parsed document against the tables and builds the configuration; takes root. */
static struct hg_config *config_from_json(json_t *root, const char *path, char *err, size_t len)
{
	struct hg_config *cfg = calloc(1, sizeof *cfg);
	bool seen[NKEYS(config_keys)] = {0};
	char why[400] = "";
	bool ok = json_is_object(root);
	if (!ok)
		set_err(why, sizeof why, "the top level must be an object");
	apply_defaults(config_keys, NKEYS(config_keys), cfg);
	const char *name;
	json_t *v;
	json_object_foreach (root, name, v) {
		if (!ok)
			break;
		if (strcmp(name, "tenants") == 0)
			ok = load_tenants(cfg, v, why, sizeof why);
		else if (!is_section(name))
			ok = set_err(why, sizeof why, "unknown key %s", name);
		else if (!json_is_object(v))
			ok = set_err(why, sizeof why, "%s: must be an object", name);
		else
			ok = load_object(config_keys, NKEYS(config_keys), name, "", v, cfg, seen, why, sizeof why);
	}
	if (ok)
		ok = check_required(config_keys, NKEYS(config_keys), seen, "", why, sizeof why);
	if (ok && !cfg->tenants)
		ok = set_err(why, sizeof why, "missing required key tenants");
	/* The chain id goes into every audit row's hash input, whose buffer it must fit. */
	if (ok && strlen(cfg->audit_chain_id) > 128)
		ok = set_err(why, sizeof why, "audit.chain_id: at most 128 characters");
	if (ok && !cfg->tls_cert_file != !cfg->tls_key_file)
		ok = set_err(why, sizeof why, "tls: cert_file and key_file go together");
	if (ok && cfg->tls_client_ca_file && !cfg->tls_cert_file)
		ok = set_err(why, sizeof why, "tls.client_ca_file: needs tls.cert_file and tls.key_file");
	if (ok && strcmp(cfg->tls_min_version, "1.2") != 0 && strcmp(cfg->tls_min_version, "1.3") != 0)
		ok = set_err(why, sizeof why, "tls.min_version: must be \"1.2\" or \"1.3\"");
	for (size_t i = 0; ok && i < cfg->n_tenants; i++)
		if (cfg->tenants[i].client_cert_subject && !cfg->tls_client_ca_file)
			ok = set_err(why, sizeof why, "tenants[%zu].client_cert_subject: needs tls.client_ca_file", i);
	hg_log_level lvl;
	if (ok && !log_level_parse(cfg->log_level, &lvl))
		ok = set_err(why, sizeof why, "log.level: must be debug, info, warn or error");
	json_decref(root);
	if (!ok) {
		snprintf(err, len, "%s: %s", path, why);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct hg_config *config_load(const char *path, char *err, size_t len)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, len, "%s: line %d: %s", path, jerr.line, jerr.text);
		return NULL;
	}
	return config_from_json(root, path, err, len);
}

struct hg_config *config_parse(const char *text, size_t n, const char *name, char *err, size_t len)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, len, "%s: line %d: %s", name, jerr.line, jerr.text);
		return NULL;
	}
	return config_from_json(root, name, err, len);
}

static void free_strings(const struct ckey *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		char *dst = (char *)base + keys[i].off;
		if (keys[i].type == C_STR) {
			free(*(char **)dst);
		} else if (keys[i].type == C_ENV && *(char ***)dst) {
			for (char **e = *(char ***)dst; *e; e++)
				free(*e);
			free(*(char ***)dst);
		}
	}
}

/* A file that holds a secret: a regular file of the daemon's user, readable by no one else. */
static bool secret_file_ok(const char *what, const char *path, char *err, size_t len)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return set_err(err, len, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return set_err(err, len, "%s %s: not a regular file", what, path);
	if (st.st_mode & 077)
		return set_err(err, len, "%s %s: mode %04o lets others read it; chmod 600 it", what, path,
			       (unsigned)(st.st_mode & 07777));
	if (st.st_uid != geteuid())
		return set_err(err, len, "%s %s: owned by uid %u, not by the daemon's user (uid %u)", what, path,
			       (unsigned)st.st_uid, (unsigned)geteuid());
	return true;
}

bool config_check_secret_files(const struct hg_config *cfg, char *err, size_t len)
{
	if (!secret_file_ok("hsm.pin_file", cfg->hsm_pin_file, err, len))
		return false;
	if (cfg->tls_key_file && !secret_file_ok("tls.key_file", cfg->tls_key_file, err, len))
		return false;
	unsigned hs = (1u << HG_ALG_HS256) | (1u << HG_ALG_HS384) | (1u << HG_ALG_HS512);
	for (size_t i = 0; i < cfg->n_tenants; i++) {
		const struct hg_tenant_cfg *t = &cfg->tenants[i];
		if (!(t->algorithms & hs)) /* public keys are not secret */
			continue;
		char what[128];
		snprintf(what, sizeof what, "tenant %s's HMAC secret", t->name);
		if (t->key_file && !secret_file_ok(what, t->key_file, err, len))
			return false;
		for (char **k = t->keys; k && *k; k++)
			if (!secret_file_ok(what, strchr(*k, '=') + 1, err, len))
				return false;
	}
	return true;
}

void config_free(struct hg_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_tenants; i++)
		free_strings(tenant_keys, NKEYS(tenant_keys), &cfg->tenants[i]);
	free(cfg->tenants);
	free_strings(config_keys, NKEYS(config_keys), cfg);
	free(cfg);
}

static json_t *dump_value(const struct ckey *k, const void *base)
{
	const char *src = (const char *)base + k->off;
	switch (k->type) {
	case C_STR: return *(char *const *)src ? json_string(*(char *const *)src) : json_null();
	case C_UINT: return json_integer(*(const unsigned *)src);
	case C_BOOL: return json_boolean(*(const bool *)src);
	case C_ENV: {
		json_t *o = json_object();
		for (char *const *e = *(char **const *)src; e && *e; e++) {
			const char *eq = strchr(*e, '=');
			char name[256];
			snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
			json_object_set_new(o, name, json_string(eq + 1));
		}
		return o;
	}
	case C_ALGS: {
		json_t *a = json_array();
		for (unsigned j = 0; j < HG_ALG_COUNT; j++)
			if (*(const unsigned *)src & (1u << j))
				json_array_append_new(a, json_string(hg_jwt_alg_names[j]));
		return a;
	}
	}
	return json_null();
}

void config_dump(const struct hg_config *cfg, FILE *out)
{
	json_t *root = json_object();
	for (size_t i = 0; i < NKEYS(config_keys); i++) {
		json_t *sec = json_object_get(root, config_keys[i].section);
		if (!sec) {
			sec = json_object();
			json_object_set_new(root, config_keys[i].section, sec);
		}
		json_object_set_new(sec, config_keys[i].name, dump_value(&config_keys[i], cfg));
	}
	json_t *ts = json_array();
	for (size_t t = 0; t < cfg->n_tenants; t++) {
		json_t *o = json_object();
		for (size_t i = 0; i < NKEYS(tenant_keys); i++)
			json_object_set_new(o, tenant_keys[i].name, dump_value(&tenant_keys[i], &cfg->tenants[t]));
		json_array_append_new(ts, o);
	}
	json_object_set_new(root, "tenants", ts);
	json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
	json_decref(root);
}

const struct hg_tenant_cfg *config_tenant(const struct hg_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_tenants; i++)
		if (strcmp(cfg->tenants[i].name, name) == 0)
			return &cfg->tenants[i];
	return NULL;
}
