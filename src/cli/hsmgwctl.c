/* hsmgwctl: the admin tool. migrate, token (development), config check, lifecycle run, keys
 * reconcile, audit verify and public-key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>

#include "hsmgw/audit.h"
#include "hsmgw/config.h"
#include "hsmgw/keys.h"
#include "hsmgw/store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: hsmgwctl [--config FILE] COMMAND\n"
		   "  migrate [--dir DIR]                 apply the SQL migrations (as database.admin_conninfo)\n"
		   "  token --tenant NAME [--scope S] [--sub SUB] [--ttl SECONDS]\n"
		   "                                      print a development JWT signed with the tenant's\n"
		   "                                      dev_signing_key_file\n"
		   "  config check                        validate the configuration and print it\n"
		   "  lifecycle run [--at TIME]           apply the time-driven key changes due at TIME\n"
		   "                                      (RFC 3339; default now): activation, expiry,\n"
		   "                                      retirement, automatic rotation, destruction\n"
		   "  keys reconcile [--dry-run]          find HSM objects without a key version (destroyed)\n"
		   "                                      and key versions without their HSM object (reported),\n"
		   "                                      as hsmgwd does at start; prints a JSON summary\n"
		   "  audit verify --public-key PEM [--anchors DIR] [--conninfo C]\n"
		   "                                      recompute every audit chain and check every signed\n"
		   "                                      checkpoint; needs only read access to the database\n"
		   "                                      (default database.conninfo) and the public key\n"
		   "  audit public-key                    print the HSM's audit signing public key (PEM)\n"
		   "The configuration defaults to $HSMGW_CONFIG, else var/dev/hsmgw.json.\n");
}

static int cmd_migrate(const struct hg_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {{"dir", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
	const char *dir = "migrations";
	int o;
	while ((o = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
		if (o != 'd') {
			usage(stderr);
			return 2;
		}
		dir = optarg;
	}
	if (!cfg->db_admin_conninfo) {
		fprintf(stderr, "hsmgwctl: database.admin_conninfo is not set\n");
		return 1;
	}
	return store_migrate(cfg->db_admin_conninfo, dir, stdout);
}

static int cmd_token(const struct hg_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
					     {"scope", required_argument, NULL, 's'},
					     {"sub", required_argument, NULL, 'u'},
					     {"ttl", required_argument, NULL, 'l'},
					     {NULL, 0, NULL, 0}};
	const char *tenant = NULL, *scope = "", *sub = "dev";
	long ttl = 3600;
	int o;
	while ((o = getopt_long(argc, argv, "t:s:u:l:", opts, NULL)) != -1) {
		switch (o) {
		case 't': tenant = optarg; break;
		case 's': scope = optarg; break;
		case 'u': sub = optarg; break;
		case 'l': ttl = strtol(optarg, NULL, 10); break;
		default: usage(stderr); return 2;
		}
	}
	const struct hg_tenant_cfg *t = tenant ? config_tenant(cfg, tenant) : NULL;
	if (!t) {
		fprintf(stderr, "hsmgwctl: --tenant must name a configured tenant\n");
		return 2;
	}
	if (!t->dev_signing_key_file) {
		fprintf(stderr, "hsmgwctl: tenant %s has no dev_signing_key_file\n", t->name);
		return 1;
	}
	size_t klen;
	char *key = file_read_all(t->dev_signing_key_file, 64 * 1024, &klen);
	if (!key) {
		fprintf(stderr, "hsmgwctl: cannot read %s\n", t->dev_signing_key_file);
		return 1;
	}
	/* The tenant's first allowed algorithm signs. */
	unsigned a = 0;
	while (a < HG_ALG_COUNT && !(t->algorithms & 1u << a))
		a++;
	jwt_t *jwt = NULL;
	char *tok = NULL;
	time_t now = time(NULL);
	if (jwt_new(&jwt) == 0 && jwt_add_grant(jwt, "iss", t->issuer) == 0 && jwt_add_grant(jwt, "sub", sub) == 0 &&
	    jwt_add_grant(jwt, "aud", t->audience) == 0 && jwt_add_grant(jwt, "scope", scope) == 0 &&
	    jwt_add_grant_int(jwt, "iat", now) == 0 && jwt_add_grant_int(jwt, "exp", now + ttl) == 0 &&
	    jwt_set_alg(jwt, jwt_str_alg(hg_jwt_alg_names[a]), (unsigned char *)key, (int)klen) == 0)
		tok = jwt_encode_str(jwt);
	hg_free_secret(key, klen + 1);
	jwt_free(jwt);
	if (!tok) {
		fprintf(stderr, "hsmgwctl: cannot sign the token\n");
		return 1;
	}
	printf("%s\n", tok);
	free(tok);
	return 0;
}

/* What the key-changing commands (lifecycle run, keys reconcile) work with: the HSM, the
 * database, and an audit trail of their own chain (<chain>-ctl: the daemon's chain belongs to
 * the daemon). Without `audited` (a dry run) there is no trail. */
struct ctl_keys {
	struct hg_keys keys;
	struct hg_audit_signer *signer;
	char chain[160];
};

static bool ctl_keys_open(const struct hg_config *cfg, bool audited, struct ctl_keys *k)
{
	char err[512];
	*k = (struct ctl_keys){0};
	if (!(k->keys.p11 = p11_open(cfg, err, sizeof err))) {
		fprintf(stderr, "hsmgwctl: %s\n", err);
		return false;
	}
	k->keys.db = db_open(cfg->db_conninfo, 1, cfg->db_wait_ms);
	snprintf(k->chain, sizeof k->chain, "%s-ctl", cfg->audit_chain_id);
	if (!audited)
		return true;
	if (!(k->signer = audit_signer_open(k->keys.p11, err, sizeof err)))
		fprintf(stderr, "hsmgwctl: %s; this run's audit rows get no checkpoint\n", err);
	k->keys.audit = audit_start(cfg, k->chain, k->signer);
	return true;
}

static void ctl_keys_close(struct ctl_keys *k)
{
	audit_stop(k->keys.audit);
	audit_signer_close(k->signer);
	db_close(k->keys.db);
	p11_close(k->keys.p11);
}

/* One scheduler pass, as the daemon's scheduler thread makes them. --at lets an operator
 * (or a test) apply what will be due at a later time, against the same database and HSM. */
static int cmd_lifecycle(const struct hg_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {{"at", required_argument, NULL, 'a'}, {NULL, 0, NULL, 0}};
	int64_t at = time_now_us();
	int o;
	if (argc < 2 || strcmp(argv[1], "run") != 0) {
		usage(stderr);
		return 2;
	}
	optind = 2;
	while ((o = getopt_long(argc, argv, "a:", opts, NULL)) != -1) {
		if (o != 'a' || !time_parse_rfc3339(optarg, &at)) {
			fprintf(stderr, "hsmgwctl: --at takes an RFC 3339 time\n");
			return 2;
		}
	}
	struct ctl_keys k;
	if (!ctl_keys_open(cfg, true, &k))
		return 1;
	unsigned applied = 0, failed = 0;
	hg_err e = keys_lifecycle_run(&k.keys, at, &applied, &failed);
	if (e == HG_OK)
		printf("lifecycle: %u changes applied, %u failed\n", applied, failed);
	else
		fprintf(stderr, "hsmgwctl: lifecycle run: %s\n", hg_err_code(e));
	ctl_keys_close(&k);
	return e == HG_OK && failed == 0 ? 0 : 1;
}

/* The daemon's start-up reconciliation on demand. Its own chain (<chain>-ctl), so every
 * running gateway's recent intents defer the destruction of objects without a key version. */
static int cmd_keys(const struct hg_config *cfg, int argc, char **argv)
{
	bool dry = argc == 3 && strcmp(argv[2], "--dry-run") == 0;
	if (argc < 2 || strcmp(argv[1], "reconcile") != 0 || (argc == 3 && !dry) || argc > 3) {
		usage(stderr);
		return 2;
	}
	struct ctl_keys k;
	if (!ctl_keys_open(cfg, !dry, &k))
		return 1;
	struct hg_reconcile_report r;
	const struct hg_reconcile_opts o = {
	    .own_chain = k.chain, .grace_s = cfg->keys_reconcile_grace_s, .dry_run = dry};
	hg_err e = keys_reconcile(&k.keys, &o, &r);
	if (e == HG_OK) {
		json_t *orphans = json_array(), *missing = json_array();
		char id[HG_UUID_STR_LEN + 1];
		for (size_t i = 0; i < r.orphans && i < HG_RC_LIST; i++) {
			uuid_format(&r.orphan_ids[i], id);
			json_array_append_new(orphans, json_string(id));
		}
		for (size_t i = 0; i < r.missing && i < HG_RC_LIST; i++) {
			uuid_format(&r.missing_ids[i], id);
			json_array_append_new(missing, json_string(id));
		}
		json_t *j = json_pack("{s:b, s:I, s:I, s:I, s:o, s:I, s:I, s:b, s:I, s:o, s:I, s:I}", "dry_run", dry,
				      "objects", (json_int_t)r.objects, "versions", (json_int_t)r.versions, "orphans",
				      (json_int_t)r.orphans, "orphan_ids", orphans, "orphans_destroyed",
				      (json_int_t)r.orphans_destroyed, "orphans_failed", (json_int_t)r.orphans_failed,
				      "deferred", r.deferred, "missing", (json_int_t)r.missing, "missing_ids", missing,
				      "destructions_completed", (json_int_t)r.destructions_completed, "intents_closed",
				      (json_int_t)r.intents_closed);
		json_dumpf(j, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(j);
	} else {
		fprintf(stderr, "hsmgwctl: keys reconcile: %s\n", hg_err_code(e));
	}
	ctl_keys_close(&k);
	/* 3: something is left for an operator (as audit verify's 3: look at it). */
	return e != HG_OK ? 1 : r.missing || r.orphans_failed || (!dry && r.deferred) ? 3 : 0;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int c;
	while (m && (c = fgetc(f)) != EOF && len < (1u << 20))
		fputc(c, m);
	fclose(f);
	if (m)
		fclose(m);
	return buf;
}

/* An auditor's check: database read access and the public key, no HSM, no gateway. */
static int cmd_audit(const struct hg_config *cfg, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "public-key") == 0) {
		char err[512];
		struct hg_p11 *p11 = p11_open(cfg, err, sizeof err);
		struct hg_audit_signer *s = p11 ? audit_signer_open(p11, err, sizeof err) : NULL;
		if (s)
			fputs(audit_signer_public_pem(s), stdout);
		else
			fprintf(stderr, "hsmgwctl: %s\n", err);
		audit_signer_close(s);
		p11_close(p11);
		return s ? 0 : 1;
	}
	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		usage(stderr);
		return 2;
	}
	static const struct option opts[] = {{"public-key", required_argument, NULL, 'k'},
					     {"anchors", required_argument, NULL, 'a'},
					     {"conninfo", required_argument, NULL, 'c'},
					     {NULL, 0, NULL, 0}};
	const char *key_path = NULL, *anchors = cfg->audit_anchor_dir, *conninfo = cfg->db_conninfo;
	int o;
	optind = 2;
	while ((o = getopt_long(argc, argv, "k:a:c:", opts, NULL)) != -1) {
		if (o == 'k')
			key_path = optarg;
		else if (o == 'a')
			anchors = optarg;
		else if (o == 'c')
			conninfo = optarg;
		else {
			usage(stderr);
			return 2;
		}
	}
	char *pem = key_path ? read_file(key_path) : NULL;
	if (!pem) {
		fprintf(stderr, "hsmgwctl: audit verify needs --public-key FILE (the audit signing key's PEM)\n");
		return 2;
	}
	struct hg_audit_verify v;
	hg_err e = audit_verify(conninfo, pem, anchors, &v);
	free(pem);
	if (e != HG_OK) {
		fprintf(stderr, "hsmgwctl: audit verify: %s\n", v.problem[0] ? v.problem : hg_err_code(e));
		return 1;
	}
	json_t *j = audit_verify_json(&v);
	json_dumpf(j, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(j);
	return v.ok ? 0 : 3;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	const char *path = getenv("HSMGW_CONFIG") ? getenv("HSMGW_CONFIG") : "var/dev/hsmgw.json";
	int o;
	while ((o = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		if (o == 'c') {
			path = optarg;
		} else {
			usage(o == 'h' ? stdout : stderr);
			return o == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	char err[512];
	struct hg_config *cfg = config_load(path, err, sizeof err);
	if (!cfg) {
		fprintf(stderr, "hsmgwctl: %s\n", err);
		return 1;
	}
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 1;
	int rc;
	if (strcmp(cmd, "migrate") == 0) {
		rc = cmd_migrate(cfg, sub_argc, sub_argv);
	} else if (strcmp(cmd, "token") == 0) {
		rc = cmd_token(cfg, sub_argc, sub_argv);
	} else if (strcmp(cmd, "lifecycle") == 0) {
		rc = cmd_lifecycle(cfg, sub_argc, sub_argv);
	} else if (strcmp(cmd, "keys") == 0) {
		rc = cmd_keys(cfg, sub_argc, sub_argv);
	} else if (strcmp(cmd, "audit") == 0) {
		rc = cmd_audit(cfg, sub_argc, sub_argv);
	} else if (strcmp(cmd, "config") == 0 && sub_argc == 2 && strcmp(sub_argv[1], "check") == 0) {
		config_dump(cfg, stdout);
		fprintf(stderr, "hsmgwctl: %s is valid\n", path);
		rc = 0;
	} else {
		usage(stderr);
		rc = 2;
	}
	config_free(cfg);
	return rc;
}
