/* hsmgw — configuration: one JSON file, declared as a table of keys with types, defaults
 * and limits (src/util/config.c). Unknown or invalid keys stop the load with a message that
 * names them. Secrets are never in the file: it names the files that hold them.
 * The struct is filled once at start-up and read-only afterwards. */
#ifndef HSMGW_CONFIG_H
#define HSMGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "hsmgw/util.h"

/* JWT algorithms a tenant may allow; bit i is hg_jwt_alg_names[i]. */
enum {
	HG_ALG_RS256,
	HG_ALG_RS384,
	HG_ALG_RS512,
	HG_ALG_ES256,
	HG_ALG_ES384,
	HG_ALG_ES512,
	HG_ALG_HS256,
	HG_ALG_HS384,
	HG_ALG_HS512,
	HG_ALG_COUNT
};
extern const char *const hg_jwt_alg_names[HG_ALG_COUNT];

struct hg_tenant_cfg {
	char *name;                 /* tenant name, also its row in the tenants table */
	char *issuer;               /* the `iss` that selects this tenant */
	char *audience;             /* required member of `aud` */
	unsigned algorithms;        /* bit mask of HG_ALG_* */
	char *key_file;             /* verification key: PEM public key, or the HMAC secret … */
	char **keys;                /* … or several, as "kid=file" (NULL-terminated), chosen by the token's kid */
	char *typ;                  /* when set, the JOSE header's typ must be this (RFC 8725 §3.11) */
	char *dev_signing_key_file; /* development only: what `hsmgwctl token` signs with */
	unsigned rate_per_s;        /* requests per second allowed on average (0: no limit) … */
	unsigned rate_burst;        /* … and in a burst (0: one second's worth) */
	unsigned max_concurrent;    /* requests in progress at once (0: no limit) */
	char *client_cert_subject;  /* with TLS client certificates: the subject DN the tenant's callers must present */
};

struct hg_config {
	char *listen_address;
	unsigned listen_port;
	unsigned http_threads;
	unsigned http_max_body_bytes;
	unsigned http_connection_limit;
	unsigned http_connection_timeout_s;
	unsigned http_per_ip_limit;      /* connections from one address (0: no limit) */
	unsigned http_request_timeout_s; /* a request's body must have arrived within this */
	unsigned http_max_header_bytes;  /* all header names and values together */
	/* SIGTERM: how long the requests in flight may take to finish (http_drain) */
	unsigned http_shutdown_timeout_ms;

	char *db_conninfo;       /* the runtime role */
	char *db_admin_conninfo; /* the schema owner, for `hsmgwctl migrate` only */
	unsigned db_pool_size;
	unsigned db_wait_ms; /* how long a request waits for a pooled connection */

	char *hsm_module;
	char *hsm_token_label;
	char *hsm_pin_file;
	unsigned hsm_sessions;
	unsigned hsm_wait_ms;             /* how long a request waits for a pooled session */
	char **hsm_env;                   /* NULL-terminated "NAME=value" list set before C_Initialize */
	bool hsm_openssl_legacy;          /* load OpenSSL's legacy provider before the module (see the README) */
	unsigned hsm_op_timeout_ms;       /* deadline of one HSM operation, session wait included (0: none,
					     and calls are made on the request's thread) */
	unsigned hsm_long_timeout_ms;     /* … of key generation and import, and of operations that search
					     the token (a key's first use here, key attributes, destruction) */
	unsigned hsm_health_interval_ms;  /* how often the health check asks the token */
	unsigned hsm_breaker_failures;    /* device failures within 10 s (no fewer than successes) that take
					     the node down */
	unsigned hsm_breaker_cooldown_ms; /* a node that went down is readmitted no sooner than this */

	char *audit_chain_id;
	unsigned audit_batch_max;
	unsigned audit_commit_timeout_ms;
	unsigned audit_checkpoint_rows; /* sign the chain head every this many rows … */
	unsigned audit_checkpoint_s;    /* … or this many seconds, whichever comes first */
	char *audit_anchor_dir;         /* each chain's newest checkpoint, kept outside the database (NULL: none) */
	char *audit_siem_file;          /* every committed row as a JSON line (NULL: none) */
	char *audit_siem_syslog;        /* … and as RFC 5424 syslog: a UNIX socket path or udp:HOST:PORT */

	unsigned lifecycle_interval_s; /* 0: this instance runs no scheduler */

	char *tls_cert_file;      /* HTTPS when set: the server's PEM certificate chain … */
	char *tls_key_file;       /* … and its PEM private key (mode 0600) */
	char *tls_client_ca_file; /* client certificates required, chaining to these CAs (NULL: none) */
	char *tls_min_version;    /* "1.2" or "1.3" */

	unsigned auth_token_cache_entries; /* verified bearer tokens remembered (0: none) */
	unsigned auth_token_cache_s;       /* … for at most this long (and never past their exp) */
	unsigned keys_cache_entries;       /* key metadata remembered per instance (0: none) */
	unsigned keys_cache_ms;            /* … for at most this long: another instance's change is seen within it */
	/* other instances' key changes younger than this defer the start-up clean-up of HSM objects
	 * without a key version (keys/reconcile.c) */
	unsigned keys_reconcile_grace_s;

	char *log_level;
	char *process_user; /* the user the daemon becomes once it has started (NULL: stays who it is) */

	struct hg_tenant_cfg *tenants;
	size_t n_tenants;
};

/* Loads and checks the file. On failure returns NULL and writes a one-line reason naming the
 * file and key into err. The result is freed with config_free. */
struct hg_config *config_load(const char *path, char *err, size_t err_len);
/* The same for a configuration held in memory (n bytes of JSON text, for tests and the
 * fuzzer); name stands for the file's path in messages. */
struct hg_config *config_parse(const char *text, size_t n, const char *name, char *err, size_t err_len);
void config_free(struct hg_config *cfg);
/* The files that hold secrets (hsm.pin_file, tls.key_file, tenants' HMAC secrets) must be
 * regular files owned by the daemon's user with no access for anyone else (mode 0600 or
 * stricter); false and a message naming the file when one is not. */
bool config_check_secret_files(const struct hg_config *cfg, char *err, size_t err_len);
/* Prints the effective configuration as JSON (nothing in it is secret). */
void config_dump(const struct hg_config *cfg, FILE *out);
/* The tenant with this name, or NULL. */
const struct hg_tenant_cfg *config_tenant(const struct hg_config *cfg, const char *name);

#endif
