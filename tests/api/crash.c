/* Crash safety and graceful shutdown (issue 9). Each test runs a gateway of its own — the
 * same build as the daemon under test, a copy of its configuration on another port with an
 * audit chain of its own — against the shared PostgreSQL and token, and kills or stops it:
 *   kill -9 under load, then a restart: every request answered 2xx has its audit row, the chain
 *     continues and verifies, keys answered 201 are complete, and what the crash (and the test,
 *     on purpose) left in the HSM without a key version is destroyed and audited;
 *   a restart after a destruction interrupted between the HSM and the database finishes it, and
 *     reports a key version whose object is gone;
 *   SIGTERM: no new connections, the requests in flight are answered, the process exits 0 —
 *     also when their deadline passes.
 * A gateway is killed (SIGKILL, as its parent's death signal) if the test dies first. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <curl/curl.h>

#include "harness.h"
#include "km_util.h"
#include "hsmgw/audit.h"
#include "hsmgw/keys.h"
#include "hsmgw/p11.h"

/* Generous for the sanitized build, which also starts with full malloc stacks. */
#define START_US (60 * 1000000LL)

/* ---- a gateway of the test's own ---- */

struct gw {
	pid_t pid;
	unsigned port;
	char url[64];
	char chain[64];
	char cfg[512];
	char log[512];
};

static unsigned free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t n = sizeof a;
	ck_assert(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
		  getsockname(s, (struct sockaddr *)&a, &n) == 0);
	close(s);
	return ntohs(a.sin_port);
}

/* A copy of the test configuration: its own port and chain, no SIEM feed (the daemon under test
 * owns it), no scheduler (the tests decide what changes), http.shutdown_timeout_ms, a longer
 * HSM deadline. Every h_*
 * request of this test process goes to it from now on. */
static void gw_config(struct gw *g, const char *label, unsigned shutdown_ms)
{
	char rid[H_RID_MAX];
	h_rid(rid);
	memset(g, 0, sizeof *g);
	g->port = free_port();
	snprintf(g->url, sizeof g->url, "http://127.0.0.1:%u", g->port);
	snprintf(g->chain, sizeof g->chain, "apitest-%s-%.12s", label, rid + 8);
	const char *var = getenv("HSMGW_TEST_VAR");
	snprintf(g->cfg, sizeof g->cfg, "%s/%s.json", var, g->chain);
	snprintf(g->log, sizeof g->log, "%s/%s.log", var, g->chain);
	json_error_t je;
	json_t *c = json_load_file(getenv("HSMGW_TEST_CONFIG"), 0, &je);
	ck_assert_msg(c != NULL, "test configuration: %s", je.text);
	json_object_set_new(json_object_get(c, "listen"), "port", json_integer(g->port));
	json_t *audit = json_object_get(c, "audit");
	json_object_set_new(audit, "chain_id", json_string(g->chain));
	json_object_del(audit, "siem_file");
	json_object_del(audit, "siem_syslog");
	json_t *http = json_object_get(c, "http");
	if (!http)
		json_object_set_new(c, "http", http = json_object());
	json_object_set_new(http, "shutdown_timeout_ms", json_integer(shutdown_ms));
	json_object_set_new(c, "lifecycle", json_pack("{s:i}", "interval_seconds", 0));
	/* The fault tests' short HSM deadline is not what these tests are about: on a token that
	 * holds every key the run has made, the sanitized daemon's searches take longer. */
	json_object_set_new(json_object_get(c, "hsm"), "operation_timeout_ms", json_integer(15000));
	ck_assert_int_eq(json_dump_file(c, g->cfg, JSON_INDENT(2)), 0);
	json_decref(c);
	h_url = g->url;
}

static bool gw_alive(struct gw *g, int *status)
{
	return waitpid(g->pid, status, WNOHANG) == 0;
}

/* Starts the gateway (its stderr appended to g->log) and waits until /healthz answers. A
 * sanitized gateway checks for leaks at its exit only with leak_check, which takes full malloc
 * stacks (as test.sh gives the daemon under test; see tests/lsan.supp) and makes every HSM call
 * several times slower: kept for the gateways whose clean exit is the point. */
static void gw_start(struct gw *g, bool leak_check)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	ck_assert(n > 0);
	exe[n] = '\0';
	char daemon[4200];
	snprintf(daemon, sizeof daemon, "%s/hsmgwd", dirname(exe));
	const char *asan = getenv("ASAN_OPTIONS");
	char *asan_opts = NULL;
	if (asan && asprintf(&asan_opts, "%s:%s", asan, leak_check ? "fast_unwind_on_malloc=0" : "detect_leaks=0") < 0)
		abort();
	pid_t parent = getpid();
	g->pid = fork();
	ck_assert(g->pid >= 0);
	if (g->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int fd = open(g->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(127);
		for (int i = 3; i < 1024; i++)
			close(i);
		if (asan_opts)
			setenv("ASAN_OPTIONS", asan_opts, 1);
		execl(daemon, daemon, "--config", g->cfg, (char *)NULL);
		_exit(127);
	}
	free(asan_opts);
	for (int64_t end = time_mono_us() + START_US; time_mono_us() < end; usleep(50 * 1000)) {
		int st;
		ck_assert_msg(gw_alive(g, &st), "%s exited (status 0x%x) before it served; see %s", daemon, st, g->log);
		struct h_resp *r = h_send(&(struct h_req){.method = "GET", .path = "/healthz", .timeout_s = 2});
		long s = r->status;
		h_resp_free(r);
		if (s == 200)
			return;
	}
	kill(g->pid, SIGKILL);
	ck_abort_msg("the gateway did not answer /healthz within %lld s", START_US / 1000000);
}

static void gw_kill9(struct gw *g)
{
	ck_assert_int_eq(kill(g->pid, SIGKILL), 0);
	int st;
	ck_assert_int_eq(waitpid(g->pid, &st, 0), g->pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* Waits up to wait_us for the gateway to exit; its wait status, or -1 (then it is killed). */
static int gw_wait(struct gw *g, int64_t wait_us, int64_t *took_us)
{
	int64_t t0 = time_mono_us();
	int st;
	while (gw_alive(g, &st)) {
		if (time_mono_us() - t0 > wait_us) {
			kill(g->pid, SIGKILL);
			waitpid(g->pid, &st, 0);
			return -1;
		}
		usleep(20 * 1000);
	}
	if (took_us)
		*took_us = time_mono_us() - t0;
	return st;
}

/* SIGTERM, and an exit with status 0 within wait_us. */
static void gw_stop(struct gw *g, int64_t wait_us)
{
	ck_assert_int_eq(kill(g->pid, SIGTERM), 0);
	int st = gw_wait(g, wait_us, NULL);
	ck_assert_msg(st != -1, "the gateway did not exit within %lld s of SIGTERM", (long long)(wait_us / 1000000));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the gateway exited with status 0x%x; see %s", st, g->log);
}

static char *gw_log_text(const struct gw *g)
{
	size_t n;
	char *s = file_read_all(g->log, (size_t)1 << 30, &n);
	return s ? s : strdup("");
}

static bool gw_log_has(const struct gw *g, const char *what)
{
	char *s = gw_log_text(g);
	bool has = strstr(s, what) != NULL;
	free(s);
	return has;
}

static void gw_assert_no_sanitizer_report(const struct gw *g)
{
	char *s = gw_log_text(g);
	const char *bad[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ck_assert_msg(!strstr(s, bad[i]), "a sanitizer report in %s: %.2000s", g->log, strstr(s, bad[i]));
	free(s);
}

/* ---- in-process access to the token and the database ---- */

static struct hg_p11 *p11_here(void)
{
	char err[512] = "";
	log_set_level(HG_LOG_WARN);
	struct hg_p11 *p = p11_open(h_cfg, err, sizeof err);
	ck_assert_msg(p != NULL, "p11_open: %s", err);
	return p;
}

static bool on_token(struct hg_p11 *p, const hg_uuid *id)
{
	struct hg_p11_attrs a;
	ck_assert_int_eq(p11_key_attrs(p, id, true, &a), HG_OK);
	return a.found;
}

/* A one-value query as the superuser, as text (the caller frees); params are text. */
static char *sql_value(const char *sql, int n, const char *const *params)
{
	PGconn *c = h_db_admin();
	PGresult *r = h_sql(c, sql, n, params);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s (%d rows)", sql,
		      PQresultErrorMessage(r), PQntuples(r));
	char *v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

static long sql_count(const char *sql, int n, const char *const *params)
{
	char *v = sql_value(sql, n, params);
	long k = strtol(v, NULL, 10);
	free(v);
	return k;
}

static void sql_exec(const char *sql, int n, const char *const *params)
{
	PGconn *c = h_db_admin();
	PGresult *r = h_sql(c, sql, n, params);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* Rows of chain with operation op about key (a UUID's text; NULL: any) and outcome. */
static long audit_rows(const char *chain, const char *op, const char *key, const char *outcome)
{
	const char *p[] = {chain, op, key, outcome};
	return sql_count("SELECT count(*) FROM audit_log WHERE chain_id = $1 AND operation = $2"
			 " AND ($3::uuid IS NULL OR key_id = $3::uuid) AND outcome = $4",
			 4, p);
}

/* The open intents of chain, by the verifier's rule. */
static long open_intents(const char *chain)
{
	const char *p[] = {chain};
	return sql_count("SELECT count(*) FROM audit_log i WHERE i.chain_id = $1 AND i.operation LIKE '%.intent'"
			 " AND NOT EXISTS (SELECT 1 FROM audit_log o WHERE o.chain_id = i.chain_id AND o.request_id ="
			 " i.request_id AND o.seq > i.seq AND o.operation NOT LIKE '%.intent')",
			 1, p);
}

/* ---- load ---- */

enum work { ENCRYPT, CREATE_AES, CREATE_RSA };

struct rec {
	char rid[H_RID_MAX];
	long status;
	char key[HG_UUID_STR_LEN + 1]; /* a 201's key */
};

struct worker {
	pthread_t t;
	enum work kind;
	const char *key; /* ENCRYPT: the key */
	atomic_bool *stop;
	atomic_long *ok; /* 2xx answers of every worker */
	struct rec *recs;
	size_t n, cap;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char path[128], name[H_NAME_MAX], body[256];
	snprintf(path, sizeof path, "/v1/keys/%s/encrypt", w->key ? w->key : "");
	while (!atomic_load(w->stop) && w->n < w->cap) {
		struct rec *r = &w->recs[w->n];
		h_rid(r->rid);
		struct h_req q = {.method = "POST", .token = h_tok("acme"), .request_id = r->rid, .timeout_s = 15};
		if (w->kind == ENCRYPT) {
			q.path = path;
			q.body = "{\"plaintext\":\"Y3Jhc2ggdGVzdA==\"}";
		} else {
			h_name(name, "crash");
			snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"%s\"}", name,
				 w->kind == CREATE_AES ? "AES" : "RSA\",\"size\":2048");
			q.path = "/v1/keys";
			q.body = body;
		}
		struct h_resp *resp = h_send(&q);
		r->status = resp->status;
		if (resp->status == 201 && h_str(resp, "id"))
			snprintf(r->key, sizeof r->key, "%s", h_str(resp, "id"));
		if (resp->status >= 200 && resp->status < 300)
			atomic_fetch_add(w->ok, 1);
		h_resp_free(resp);
		w->n++;
		if (r->status == 0)
			usleep(20 * 1000); /* the gateway is gone: no busy loop until stop */
	}
	return NULL;
}

/* ---- kill -9 under load ---- */

/* What the test leaves in the HSM while the gateway is down: an AES key and a TDES key held as
 * halves, each with a key version's kind of ID and no key version (to be destroyed), and an AES
 * key whose ID is a version 1 UUID (not the gateway's: to be left alone). */
struct planted {
	hg_uuid aes, tdes, tdes_h0, tdes_h1, foreign;
	bool halves;
};

static void plant(struct hg_p11 *p, struct planted *pl)
{
	char kcv[HG_KCV_HEX_LEN + 1];
	const struct hg_p11_keyspec aes = {.type = HG_KT_AES, .bits = 256, .usage = HG_P11_ENCRYPT | HG_P11_DECRYPT};
	ck_assert_int_eq(uuid_v4(&pl->aes), 0);
	ck_assert_int_eq(p11_generate(p, &pl->aes, &aes, kcv), HG_OK);
	ck_assert_int_eq(uuid_v4(&pl->foreign), 0);
	pl->foreign.b[6] = (uint8_t)((pl->foreign.b[6] & 0x0f) | 0x10);
	ck_assert_int_eq(p11_generate(p, &pl->foreign, &aes, kcv), HG_OK);
	pl->halves = p11_single_des(p);
	if (pl->halves) {
		const struct hg_p11_keyspec tdes = {
		    .type = HG_KT_TDES, .bits = 128, .usage = HG_P11_ENCRYPT, .halves = true};
		ck_assert_int_eq(uuid_v4(&pl->tdes), 0);
		ck_assert_int_eq(p11_generate(p, &pl->tdes, &tdes, kcv), HG_OK);
		p11_half_id(&pl->tdes, 0, &pl->tdes_h0);
		p11_half_id(&pl->tdes, 1, &pl->tdes_h1);
		ck_assert(on_token(p, &pl->tdes_h0) && on_token(p, &pl->tdes_h1));
	}
	ck_assert(on_token(p, &pl->aes) && on_token(p, &pl->foreign));
}

static void expect_destroyed(struct hg_p11 *p, const struct gw *g, const hg_uuid *id, const char *what)
{
	char text[HG_UUID_STR_LEN + 1];
	uuid_format(id, text);
	ck_assert_msg(!on_token(p, id), "the planted %s %s is still in the HSM after the restart", what, text);
	ck_assert_msg(audit_rows(g->chain, "hsm.reconcile.destroy", text, "success") == 1,
		      "no hsm.reconcile.destroy row for the planted %s %s", what, text);
	ck_assert_msg(audit_rows(g->chain, "hsm.destroy.intent", text, "success") == 1,
		      "no intent row before the planted %s %s was destroyed", what, text);
}

#define WORKERS 8

START_TEST(test_kill_9_under_load_loses_no_answered_request_and_cleans_the_hsm)
{
	struct gw g;
	gw_config(&g, "crash", 10000);
	gw_start(&g, false);
	char enc_key[HG_UUID_STR_LEN + 1];
	h_key("acme", "crash-enc", enc_key, NULL);

	atomic_bool stop = false;
	atomic_long ok = 0;
	static const enum work kinds[WORKERS] = {ENCRYPT, ENCRYPT,    ENCRYPT,    ENCRYPT,
						 ENCRYPT, CREATE_AES, CREATE_AES, CREATE_RSA};
	struct worker w[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){.kind = kinds[i], .key = enc_key, .stop = &stop, .ok = &ok, .cap = 20000};
		w[i].recs = calloc(w[i].cap, sizeof *w[i].recs);
		ck_assert(w[i].recs && pthread_create(&w[i].t, NULL, work, &w[i]) == 0);
	}
	/* Under load for a while (at least 100 answers, or 4 s of the sanitized build). */
	for (int64_t end = time_mono_us() + 4000000; time_mono_us() < end && atomic_load(&ok) < 100;)
		usleep(20 * 1000);
	usleep(200 * 1000);
	gw_kill9(&g);
	atomic_store(&stop, true);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i].t, NULL);
	long answered = atomic_load(&ok);
	ck_assert_msg(answered >= 20, "only %ld requests were answered before the kill", answered);

	struct hg_p11 *p = p11_here();
	struct planted pl;
	plant(p, &pl);
	gw_start(&g, true);

	/* Every request answered 2xx has exactly one (non-intent) audit row, in this chain. */
	size_t checked = 0, created = 0;
	for (int i = 0; i < WORKERS; i++) {
		for (size_t j = 0; j < w[i].n; j++) {
			const struct rec *r = &w[i].recs[j];
			if (r->status < 200 || r->status >= 300)
				continue;
			const char *pr[] = {r->rid, g.chain};
			long rows = sql_count("SELECT count(*) FROM audit_log WHERE request_id = $1 AND chain_id = $2"
					      " AND operation NOT LIKE '%.intent'",
					      2, pr);
			ck_assert_msg(rows == 1, "request %s answered %ld has %ld audit rows", r->rid, r->status, rows);
			checked++;
			if (r->status != 201)
				continue;
			/* A key answered 201 is complete: its metadata and its object (it encrypts). */
			ck_assert_int_eq(h_key_status("acme", r->key), 200);
			hg_uuid hid;
			km_hsm_id(r->key, 1, &hid);
			ck_assert_msg(on_token(p, &hid), "key %s was answered 201 but has no HSM object", r->key);
			created++;
		}
	}
	ck_assert_int_eq(checked, (size_t)answered);
	char *ct = h_encrypt("acme", enc_key, "YWZ0ZXIgdGhlIGNyYXNo", NULL);
	free(ct);

	/* What the test planted: gone and audited; the object that is not the gateway's stays. */
	expect_destroyed(p, &g, &pl.aes, "AES key");
	if (pl.halves) {
		ck_assert_msg(!on_token(p, &pl.tdes_h0) && !on_token(p, &pl.tdes_h1),
			      "the planted TDES halves are still in the HSM");
		char h0[HG_UUID_STR_LEN + 1];
		uuid_format(&pl.tdes_h0, h0);
		ck_assert_int_eq(audit_rows(g.chain, "hsm.reconcile.destroy", h0, "success"), 1);
	}
	ck_assert_msg(on_token(p, &pl.foreign), "an object that is not the gateway's was destroyed");
	ck_assert_int_eq(p11_destroy_all(p, &pl.foreign), HG_OK);

	/* Nothing of the gateway's is left without a key version; no version of this test's keys
	 * lacks its object (a key the crash interrupted is complete or absent). */
	struct hg_keys k = {.db = db_open(h_cfg->db_conninfo, 2, 5000), .p11 = p};
	struct hg_reconcile_report rep;
	const struct hg_reconcile_opts dry = {.dry_run = true};
	/* Looked at again when it finds any: the daemon under test could be between generating a
	 * key and committing its version (its scheduler), which is no orphan. */
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(keys_reconcile(&k, &dry, &rep), HG_OK);
		if (rep.orphans == 0)
			break;
		usleep(300 * 1000);
	}
	char first[HG_UUID_STR_LEN + 1] = "";
	if (rep.orphans)
		uuid_format(&rep.orphan_ids[0], first);
	ck_assert_msg(rep.orphans == 0, "%zu HSM objects without a key version remain (first %s)", rep.orphans, first);
	for (size_t i = 0; i < rep.missing && i < HG_RC_LIST; i++) {
		char id[HG_UUID_STR_LEN + 1];
		uuid_format(&rep.missing_ids[i], id);
		const char *pm[] = {id};
		ck_assert_msg(sql_count("SELECT count(*) FROM key_versions v JOIN keys k ON k.id = v.key_id WHERE"
					" v.hsm_id = $1::uuid AND k.name ~ '^apitest-crash-[0-9a-f]{16}$'",
					1, pm) == 0,
			      "key version %s of this test has no HSM object", id);
	}
	db_close(k.db);

	/* The chain continued across the crash and verifies; every intent the crash left open is
	 * closed by an hsm.reconcile.close row. */
	ck_assert_msg(open_intents(g.chain) == 0, "chain %s has %ld open intents after the restart", g.chain,
		      open_intents(g.chain));
	char err[512];
	struct hg_audit_signer *signer = audit_signer_open(p, err, sizeof err);
	ck_assert_msg(signer != NULL, "%s", err);
	struct hg_audit_verify v;
	ck_assert_int_eq(audit_verify(h_cfg->db_conninfo, audit_signer_public_pem(signer), h_cfg->audit_anchor_dir, &v),
			 HG_OK);
	ck_assert_msg(v.ok, "the audit trail does not verify after the crash: %s", v.problem);
	audit_signer_close(signer);
	p11_close(p);
	ck_assert(gw_log_has(&g, "reconcile: "));

	gw_stop(&g, 60 * 1000000LL);
	gw_assert_no_sanitizer_report(&g);
	for (int i = 0; i < WORKERS; i++)
		free(w[i].recs);
	fprintf(stderr, "crash: %ld answered before kill -9 (%zu keys created), every one audited\n", answered,
		created);
}
END_TEST

/* ---- a destruction interrupted between the HSM and the database, a lost object, and another
 * instance that may be creating keys ---- */

/* One row in chain `chain` (which this test writes alone) through an audit writer of its own. */
static void chain_row(const char *chain, const char *rid, const char *op, enum hg_outcome outcome)
{
	struct hg_config cfg = *h_cfg;
	cfg.audit_siem_file = NULL;
	cfg.audit_siem_syslog = NULL;
	struct hg_audit *a = audit_start(&cfg, chain, NULL);
	ck_assert(a != NULL);
	struct hg_audit_entry e = {.ts_us = time_now_us(), .operation = op, .outcome = outcome, .has_key = true};
	ck_assert_int_eq(uuid_v4(&e.key_id), 0);
	snprintf(e.tenant, sizeof e.tenant, "acme");
	snprintf(e.caller, sizeof e.caller, "apitest-other-instance");
	snprintf(e.request_id, sizeof e.request_id, "%s", rid);
	ck_assert_int_eq(audit_record(a, &e), HG_OK);
	audit_stop(a);
}

START_TEST(test_restart_finishes_an_interrupted_destruction_reports_a_lost_object_and_waits_for_other_instances)
{
	struct gw g;
	gw_config(&g, "destroy", 10000);
	gw_start(&g, false);
	char doomed[HG_UUID_STR_LEN + 1], lost[HG_UUID_STR_LEN + 1];
	h_key("acme", "doomed", doomed, NULL);
	h_key("acme", "lost", lost, NULL);
	char *admin = h_token("acme", "keys:admin keys:read");
	char path[128];
	snprintf(path, sizeof path, "/v1/keys/%s/schedule-destruction", doomed);
	struct h_resp *r = h_post(path, admin, "{\"pending_days\":7}", NULL);
	h_assert_status(r, 200);
	h_resp_free(r);
	gw_stop(&g, 60 * 1000000LL);

	/* The crash: destroy_at had passed, the objects were destroyed, the key not yet recorded as
	 * destroyed. And another key's object vanished (what no crash of the gateway can do). */
	const char *pd[] = {doomed};
	sql_exec("UPDATE keys SET destroy_at = now() - interval '1 minute' WHERE id = $1::uuid", 1, pd);
	struct hg_p11 *p = p11_here();
	hg_uuid dv, lv;
	km_hsm_id(doomed, 1, &dv);
	km_hsm_id(lost, 1, &lv);
	ck_assert_int_eq(p11_destroy_all(p, &dv), HG_OK);
	ck_assert_int_eq(p11_destroy_all(p, &lv), HG_OK);
	/* Meanwhile another instance is creating a key: its intent is committed, its object made
	 * (here: an object without a key version), its version not yet committed. */
	char other[64], orid[H_RID_MAX], otext[HG_UUID_STR_LEN + 1];
	h_rid(orid);
	snprintf(other, sizeof other, "apitest-other-%.12s", orid + 8);
	chain_row(other, orid, "hsm.generate.intent", HG_OUTCOME_SUCCESS);
	hg_uuid orphan;
	char kcv[HG_KCV_HEX_LEN + 1];
	const struct hg_p11_keyspec aes = {.type = HG_KT_AES, .bits = 256, .usage = HG_P11_ENCRYPT};
	ck_assert_int_eq(uuid_v4(&orphan), 0);
	ck_assert_int_eq(p11_generate(p, &orphan, &aes, kcv), HG_OK);
	uuid_format(&orphan, otext);

	gw_start(&g, false);
	/* That object is left alone while the other instance's intent is young and open. */
	ck_assert_msg(on_token(p, &orphan), "an object another instance may be creating was destroyed");
	ck_assert(gw_log_has(&g, "left for a later reconciliation"));
	char *st = sql_value("SELECT state || '/' || (SELECT string_agg(state, ',') FROM key_versions WHERE key_id = "
			     "$1::uuid) FROM keys WHERE id = $1::uuid",
			     1, pd);
	ck_assert_str_eq(st, "destroyed/destroyed");
	free(st);
	ck_assert_int_eq(audit_rows(g.chain, "lifecycle.destroy", doomed, "success"), 1);
	const char *pl[] = {lost};
	st = sql_value("SELECT state FROM keys WHERE id = $1::uuid", 1, pl);
	ck_assert_str_eq(st, "active");
	free(st);
	ck_assert_int_eq(audit_rows(g.chain, "hsm.reconcile.missing", lost, "error"), 1);
	ck_assert(gw_log_has(&g, "has no object in the HSM"));
	/* Operations with the lost key fail; nothing pretends otherwise. */
	snprintf(path, sizeof path, "/v1/keys/%s/encrypt", lost);
	r = h_post(path, h_tok("acme"), "{\"plaintext\":\"bG9zdA==\"}", NULL);
	ck_assert_msg(r->status >= 400, "encrypt with a key whose object is gone answered %ld", r->status);
	h_resp_free(r);
	gw_stop(&g, 60 * 1000000LL);
	/* Out of the way of later starts (and their reconciliations): the lost key is retired by hand. */
	sql_exec("UPDATE key_versions SET state = 'destroyed' WHERE key_id = $1::uuid", 1, pl);
	sql_exec("UPDATE keys SET state = 'destroyed' WHERE id = $1::uuid", 1, pl);

	/* The other instance's request ends (its key version never came: the object is an orphan
	 * now), and the next start destroys the object. */
	chain_row(other, orid, "keys.create", HG_OUTCOME_ERROR);
	gw_start(&g, false);
	ck_assert_msg(!on_token(p, &orphan), "object %s without a key version survived the restart", otext);
	ck_assert_int_eq(audit_rows(g.chain, "hsm.reconcile.destroy", otext, "success"), 1);
	gw_stop(&g, 60 * 1000000LL);
	gw_assert_no_sanitizer_report(&g);
	p11_close(p);
	free(admin);
}
END_TEST

/* ---- SIGTERM ---- */

/* A request whose body arrives in two parts: the second only once the test says so. */
struct slow {
	pthread_t t;
	const struct gw *g;
	const char *key;
	char rid[H_RID_MAX];
	atomic_bool first_sent, release;
	long status;
	bool conn_close; /* the answer said Connection: close */
	const char *body;
	size_t at, len;
};

static size_t slow_read(char *out, size_t size, size_t nmemb, void *cls)
{
	struct slow *s = cls;
	size_t want = size * nmemb, part = s->len / 2;
	if (s->at >= part) {
		atomic_store(&s->first_sent, true);
		for (int i = 0; i < 3000 && !atomic_load(&s->release); i++)
			usleep(10 * 1000);
		part = s->len;
	}
	size_t n = part - s->at < want ? part - s->at : want;
	memcpy(out, s->body + s->at, n);
	s->at += n;
	return n;
}

static size_t slow_header(char *line, size_t size, size_t nmemb, void *cls)
{
	struct slow *s = cls;
	size_t n = size * nmemb;
	if (n >= 17 && strncasecmp(line, "Connection: close", 17) == 0)
		s->conn_close = true;
	return n;
}

static size_t discard(char *p, size_t size, size_t nmemb, void *cls)
{
	(void)p;
	(void)cls;
	return size * nmemb;
}

static void *slow_request(void *arg)
{
	struct slow *s = arg;
	char url[256], auth[2048], rid[256];
	snprintf(url, sizeof url, "%s/v1/keys/%s/encrypt", s->g->url, s->key);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", h_tok("acme"));
	snprintf(rid, sizeof rid, "X-Request-Id: %s", s->rid);
	s->body = "{\"plaintext\":\"c2xvdyBib2R5LCBzdGlsbCBhbnN3ZXJlZA==\"}";
	s->len = strlen(s->body);
	CURL *c = curl_easy_init();
	struct curl_slist *hs = curl_slist_append(NULL, auth);
	hs = curl_slist_append(hs, rid);
	hs = curl_slist_append(hs, "Content-Type: application/json");
	hs = curl_slist_append(hs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->len);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, slow_read);
	curl_easy_setopt(c, CURLOPT_READDATA, s);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, slow_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
	atomic_store(&s->first_sent, true); /* even if it failed before */
	curl_slist_free_all(hs);
	curl_easy_cleanup(c);
	return NULL;
}

static void slow_start(struct slow *s, const struct gw *g, const char *key)
{
	memset(s, 0, sizeof *s);
	s->g = g;
	s->key = key;
	h_rid(s->rid);
	(void)h_tok("acme"); /* minted here, not in two threads at once */
	ck_assert_int_eq(pthread_create(&s->t, NULL, slow_request, s), 0);
}

static bool connect_refused(unsigned port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int rc = connect(s, (struct sockaddr *)&a, sizeof a);
	int err = errno;
	close(s);
	return rc != 0 && err == ECONNREFUSED;
}

#define SLOW 4

START_TEST(test_sigterm_answers_requests_in_flight_refuses_new_ones_and_exits_0)
{
	struct gw g;
	const unsigned shutdown_ms = 10000;
	gw_config(&g, "term", shutdown_ms);
	gw_start(&g, true);
	char key[HG_UUID_STR_LEN + 1];
	h_key("acme", "term", key, NULL);
	static struct slow s[SLOW];
	for (int i = 0; i < SLOW; i++)
		slow_start(&s[i], &g, key);
	for (int i = 0; i < SLOW; i++)
		for (int j = 0; j < 1000 && !atomic_load(&s[i].first_sent); j++)
			usleep(10 * 1000);
	usleep(300 * 1000); /* their headers are in: they are requests in flight */

	ck_assert_int_eq(kill(g.pid, SIGTERM), 0);
	bool refused = false;
	for (int i = 0; i < 100 && !(refused = connect_refused(g.port)); i++)
		usleep(50 * 1000);
	ck_assert_msg(refused, "new connections are still accepted after SIGTERM");
	int st;
	ck_assert_msg(gw_alive(&g, &st), "the gateway exited with requests in flight");
	for (int i = 0; i < SLOW; i++)
		atomic_store(&s[i].release, true);
	for (int i = 0; i < SLOW; i++)
		pthread_join(s[i].t, NULL);
	st = gw_wait(&g, (int64_t)shutdown_ms * 1000 + 60 * 1000000LL, NULL);
	ck_assert_msg(st != -1, "the gateway did not exit after SIGTERM");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x; see %s", st, g.log);
	for (int i = 0; i < SLOW; i++) {
		ck_assert_msg(s[i].status == 200, "request %s in flight at SIGTERM was answered %ld", s[i].rid,
			      s[i].status);
		ck_assert_msg(s[i].conn_close, "the answer to %s did not close its connection", s[i].rid);
		const char *p[] = {s[i].rid, g.chain};
		ck_assert_int_eq(
		    sql_count("SELECT count(*) FROM audit_log WHERE request_id = $1 AND chain_id = $2", 2, p), 1);
	}
	ck_assert(gw_log_has(&g, "SIGTERM received: no new connections"));
	ck_assert(gw_log_has(&g, "every request in flight was answered"));
	ck_assert(gw_log_has(&g, "audit queue flushed"));
	ck_assert(gw_log_has(&g, "HSM sessions closed, logged out"));
	ck_assert(gw_log_has(&g, "hsmgwd: stopped"));
	gw_assert_no_sanitizer_report(&g);
	ck_assert_int_eq(open_intents(g.chain), 0);
}
END_TEST

START_TEST(test_sigterm_deadline_closes_requests_that_do_not_finish)
{
	struct gw g;
	const unsigned shutdown_ms = 1000;
	gw_config(&g, "deadline", shutdown_ms);
	gw_start(&g, false);
	char key[HG_UUID_STR_LEN + 1];
	h_key("acme", "deadline", key, NULL);
	static struct slow s;
	slow_start(&s, &g, key);
	for (int j = 0; j < 1000 && !atomic_load(&s.first_sent); j++)
		usleep(10 * 1000);
	usleep(300 * 1000);
	ck_assert_int_eq(kill(g.pid, SIGTERM), 0);
	int64_t took;
	int st = gw_wait(&g, 60 * 1000000LL, &took);
	atomic_store(&s.release, true);
	pthread_join(s.t, NULL);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x; see %s", st, g.log);
	ck_assert_msg(took >= (int64_t)shutdown_ms * 1000, "the gateway exited after %lld ms, before the deadline",
		      (long long)(took / 1000));
	ck_assert_msg(s.status != 200, "a request whose body never arrived was answered 200");
	ck_assert_int_eq(h_audit_count(s.rid), 0);
	ck_assert(gw_log_has(&g, "1 requests still in flight after 1000 ms"));
	gw_assert_no_sanitizer_report(&g);
}
END_TEST

TCase *tcase_crash(void)
{
	TCase *tc = tcase_create("crash");
	tcase_add_test(tc, test_kill_9_under_load_loses_no_answered_request_and_cleans_the_hsm);
	tcase_add_test(
	    tc, test_restart_finishes_an_interrupted_destruction_reports_a_lost_object_and_waits_for_other_instances);
	tcase_add_test(tc, test_sigterm_answers_requests_in_flight_refuses_new_ones_and_exits_0);
	tcase_add_test(tc, test_sigterm_deadline_closes_requests_that_do_not_finish);
	return tc;
}
