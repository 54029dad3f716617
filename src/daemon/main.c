/* hsmgwd: loads the configuration, opens the HSM, the database pool and the audit writer,
 * reconciles the HSM with the key metadata, and serves until SIGINT or SIGTERM; then stops
 * accepting connections, lets the requests in flight finish (http.shutdown_timeout_ms),
 * flushes the audit queue, logs out of the HSM and closes its sessions. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "hsmgw/api.h"
#include "hsmgw/keys.h"
#include "hsmgw/metrics.h"

static void usage(void)
{
	fprintf(stderr, "usage: hsmgwd --config FILE\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	const char *config_path = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if (o == 'c') {
			config_path = optarg;
		} else {
			usage();
			return o == 'h' ? 0 : 2;
		}
	}
	if (!config_path || optind != argc) {
		usage();
		return 2;
	}
	/* Key handles, PINs and plaintexts live in this process: no core dumps. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	char err[512];
	struct hg_config *cfg = config_load(config_path, err, sizeof err);
	if (!cfg) {
		fprintf(stderr, "hsmgwd: %s\n", err);
		return 1;
	}
	hg_log_level lvl = HG_LOG_INFO;
	(void)log_level_parse(cfg->log_level, &lvl);
	log_set_level(lvl);
	if (!config_check_secret_files(cfg, err, sizeof err)) {
		fprintf(stderr, "hsmgwd: %s\n", err);
		config_free(cfg);
		return 1;
	}

	/* Signals are taken by sigwait in this thread only; every thread started below
	 * inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	int rc = 1;
	struct hg_app app = {.cfg = cfg};
	struct hg_auth *auth = NULL;
	struct hg_audit *audit = NULL;
	struct hg_server *srv = NULL;
	struct hg_scheduler *sched = NULL;
	struct hg_audit_signer *signer = NULL;
	if (!(auth = auth_new(cfg, err, sizeof err)) || !(app.p11 = p11_open(cfg, err, sizeof err))) {
		log_error("start: %s", err);
		goto out;
	}
	app.db = db_open(cfg->db_conninfo, cfg->db_pool_size, cfg->db_wait_ms);
	db_listen_keys(app.db); /* other instances' key changes reach the key cache */
	app.keys = (struct hg_keys){
	    .db = app.db, .p11 = app.p11, .cache = key_cache_new(cfg->keys_cache_entries, cfg->keys_cache_ms)};
	if (!(app.openapi = api_openapi_document())) {
		log_error("start: the embedded OpenAPI document does not parse");
		goto out;
	}
	if (!(signer = audit_signer_open(app.p11, err, sizeof err))) {
		log_error("start: %s", err);
		goto out;
	}
#ifndef HSMGW_BENCH_NO_AUDIT
	if (!(audit = audit_start(cfg, cfg->audit_chain_id, signer)))
		goto out;
#else
	/* bench/: the same gateway without an audit trail, to measure what auditing costs. */
	log_warn("hsmgwd-noaudit: NO AUDIT TRAIL — a benchmark build, never for use");
#endif
	app.signer = signer;
	app.keys.audit = audit; /* intent rows before HSM changes, and the scheduler's rows */
	app.audit = audit;
#ifndef HSMGW_BENCH_NO_AUDIT
	/* Before serving: what a crash of this instance (or another) left half done between the
	 * HSM and the metadata (README, "Failure behaviour"). Not fatal: a token or database that
	 * cannot be read now is reconciled at the next start. */
	struct hg_reconcile_report rep;
	const struct hg_reconcile_opts ro = {.own_chain = cfg->audit_chain_id, .grace_s = cfg->keys_reconcile_grace_s};
	if (keys_reconcile(&app.keys, &ro, &rep) != HG_OK)
		log_error("start: the HSM could not be reconciled with the key metadata; the next start tries again");
#endif
	app.auth = auth;
	if (!(app.metrics = req_metrics_new(api_n_routes, cfg->n_tenants))) {
		log_error("start: out of memory");
		goto out;
	}
	struct hg_idempotency idem = api_idempotency(app.db);
	struct hg_server_deps deps = {.idempotency = &idem,
				      .cfg = cfg,
				      .routes = api_routes,
				      .n_routes = api_n_routes,
				      .auth = auth,
				      .audit = audit,
				      .hsm_node = p11_info(app.p11)->node,
				      .metrics = app.metrics,
				      .app = &app};
	if (!(srv = http_start(&deps, err, sizeof err))) {
		log_error("start: %s", err);
		goto out;
	}
	/* Everything that may need root is open: the port, the PIN and key files, the module. */
	if (cfg->process_user) {
		if (!drop_privileges(cfg->process_user, err, sizeof err)) {
			log_error("start: %s", err);
			goto out;
		}
		log_info("hsmgwd: running as %s", cfg->process_user);
	}
	sched = scheduler_start(&app.keys, cfg->lifecycle_interval_s);
	log_info("hsmgwd listening on %s://%s:%u (%u threads, %zu tenants)", cfg->tls_cert_file ? "https" : "http",
		 cfg->listen_address, cfg->listen_port, cfg->http_threads, cfg->n_tenants);
	int sig = 0;
	/* SIGHUP reloads the TLS certificate and key; SIGINT and SIGTERM stop. */
	while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
		(void)http_reload_tls(srv);
	log_info("hsmgwd: %s received: no new connections; the requests in flight have %u ms to finish",
		 sig == SIGINT ? "SIGINT" : "SIGTERM", cfg->http_shutdown_timeout_ms);
	int64_t t_stop = time_mono_us();
	unsigned in_flight = http_drain(srv, cfg->http_shutdown_timeout_ms);
	if (in_flight > 0)
		log_warn("hsmgwd: %u requests still in flight after %u ms: their connections are closed (a handler "
			 "already running finishes, with its audit row, before the server stops)",
			 in_flight, cfg->http_shutdown_timeout_ms);
	else
		log_info("hsmgwd: every request in flight was answered (%lld ms)",
			 (long long)((time_mono_us() - t_stop) / 1000));
	rc = 0;
out:
	http_stop(srv); /* waits for handlers still running */
	scheduler_stop(sched);
	audit_stop(audit); /* its last checkpoint needs the signer and the HSM */
	if (rc == 0)
		log_info("hsmgwd: audit queue flushed, audit writer stopped");
	audit_signer_close(signer);
	p11_close(app.p11);
	if (rc == 0)
		log_info("hsmgwd: HSM sessions closed, logged out");
	db_close(app.db);
	key_cache_free(app.keys.cache);
	req_metrics_free(app.metrics);
	json_decref(app.openapi);
	auth_free(auth);
	if (rc == 0)
		log_info("hsmgwd: stopped");
	config_free(cfg);
	return rc;
}
