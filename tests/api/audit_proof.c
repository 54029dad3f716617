/* An audit trail you can prove: each test writes a private chain of its own with the audit
 * writer in this process (the HSM's audit key signs its checkpoints, its anchor goes to the
 * configured anchor directory), tampers with it as the database superuser, and expects both
 * verifiers — audit_verify in-process and `hsmgwctl audit verify` as an auditor runs it — to
 * report it. Every test removes its chain again, so the daemon's chain and the other tests
 * only ever see a sound trail. */
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "harness.h"
#include "hsmgw/audit.h"
#include "hsmgw/p11.h"

/* ---- a private chain ---- */

/* One PKCS#11 handle and the audit signer for the whole test: the module is initialised once
 * per process, and a writer on another thread shares them as the daemon's threads do. */
static struct hg_p11 *rig_p11;
static struct hg_audit_signer *rig_signer;

static void rig_open(void)
{
	char err[512] = "";
	log_set_level(HG_LOG_WARN);
	rig_p11 = p11_open(h_cfg, err, sizeof err);
	ck_assert_msg(rig_p11 != NULL, "p11_open: %s", err);
	rig_signer = audit_signer_open(rig_p11, err, sizeof err);
	ck_assert_msg(rig_signer != NULL, "audit_signer_open: %s", err);
}

static void rig_close(void)
{
	audit_signer_close(rig_signer);
	p11_close(rig_p11);
	rig_signer = NULL;
	rig_p11 = NULL;
}

struct chain {
	char id[64];
	char *pem; /* the audit public key */
};

/* Writes n rows to chain id with a checkpoint every `every` rows (and one at the stop). */
static void write_rows(const char *id, int n, unsigned every)
{
	struct hg_config cfg = *h_cfg;
	cfg.audit_checkpoint_rows = every;
	cfg.audit_checkpoint_s = 3600;
	struct hg_audit *a = audit_start(&cfg, id, rig_signer);
	ck_assert(a != NULL);
	for (int i = 0; i < n; i++) {
		struct hg_audit_entry e = {.ts_us = time_now_us(),
					   .operation = "apitest.proof",
					   .outcome = HG_OUTCOME_SUCCESS,
					   .http_status = 200,
					   .duration_us = 10 + i};
		snprintf(e.tenant, sizeof e.tenant, "acme");
		snprintf(e.caller, sizeof e.caller, "apitest-proof");
		snprintf(e.request_id, sizeof e.request_id, "%s-%d", id, i);
		ck_assert_int_eq(audit_record(a, &e), HG_OK);
	}
	audit_stop(a);
}

static void chain_new(struct chain *c, int rows)
{
	char rid[H_RID_MAX];
	h_rid(rid);
	snprintf(c->id, sizeof c->id, "apitest-proof-%.20s", rid + 8);
	rig_open();
	c->pem = strdup(audit_signer_public_pem(rig_signer));
	ck_assert_msg(h_cfg->audit_anchor_dir != NULL, "the test configuration has no audit.anchor_dir");
	write_rows(c->id, rows, 10);
}

/* Runs SQL as the superuser with the write-once triggers bypassed. */
static void superuser(const char *sql, int n, const char *const *params)
{
	PGconn *c = h_db_admin();
	PGresult *r = h_sql(c, "SET session_replication_role = replica", 0, NULL);
	PQclear(r);
	r = h_sql(c, sql, n, params);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* The id of the row at seq in the chain. */
static long long row_id(const struct chain *c, int seq)
{
	char s[16];
	snprintf(s, sizeof s, "%d", seq);
	const char *p[] = {c->id, s};
	PGconn *db = h_db_admin();
	PGresult *r = h_sql(db, "SELECT id FROM audit_log WHERE chain_id = $1 AND seq = $2::bigint", 2, p);
	ck_assert_msg(PQntuples(r) == 1, "no row at seq %d", seq);
	long long id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(db);
	return id;
}

static void chain_drop(struct chain *c)
{
	const char *p[] = {c->id};
	superuser("DELETE FROM audit_log WHERE chain_id = $1", 1, p);
	superuser("DELETE FROM audit_checkpoints WHERE chain_id = $1", 1, p);
	char path[4096];
	audit_anchor_path(h_cfg->audit_anchor_dir, c->id, path, sizeof path);
	unlink(path);
}

/* ---- the two verifiers ---- */

struct verdict {
	bool ok;
	long long first_broken_id, checkpoints;
	char problem[512];
};

static void verify_here(const char *pem, struct verdict *v)
{
	struct hg_audit_verify r;
	hg_err e = audit_verify(h_cfg->db_conninfo, pem, h_cfg->audit_anchor_dir, &r);
	ck_assert_msg(e == HG_OK, "audit_verify: %s: %s", hg_err_code(e), r.problem);
	*v = (struct verdict){.ok = r.ok, .first_broken_id = r.first_broken_id, .checkpoints = r.checkpoints_verified};
	snprintf(v->problem, sizeof v->problem, "%s", r.problem);
}

static void verify_ctl(const char *pem, struct verdict *v)
{
	char exe[4096], keyf[] = "/tmp/hsmgw-audit-pem-XXXXXX";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	ck_assert(n > 0);
	exe[n] = '\0';
	int fd = mkstemp(keyf);
	ck_assert(fd >= 0 && write(fd, pem, strlen(pem)) == (ssize_t)strlen(pem));
	close(fd);
	char *cmd;
	ck_assert(asprintf(&cmd,
			   "'%s/hsmgwctl' --config '%s' audit verify --public-key '%s' --anchors '%s' 2>/dev/null",
			   dirname(exe), getenv("HSMGW_TEST_CONFIG"), keyf, h_cfg->audit_anchor_dir) > 0);
	FILE *p = popen(cmd, "r");
	char out[4096];
	size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
	out[got] = '\0';
	int st = p ? pclose(p) : -1;
	unlink(keyf);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);
	ck_assert_msg(j != NULL, "hsmgwctl audit verify printed %s", out);
	v->ok = json_is_true(json_object_get(j, "ok"));
	v->first_broken_id = json_integer_value(json_object_get(j, "first_broken_id"));
	v->checkpoints = json_integer_value(json_object_get(j, "checkpoints_verified"));
	snprintf(v->problem, sizeof v->problem, "%s", json_string_value(json_object_get(j, "problem")));
	/* Exit 0 for a sound trail, 3 for a broken one. */
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == (v->ok ? 0 : 3), "hsmgwctl exited %d", st);
	json_decref(j);
	free(cmd);
}

/* Both verifiers agree, and say what is expected: broken_id -1 means "sound". */
static void expect_both(const char *pem, long long broken_id, const char *problem_has)
{
	struct verdict v[2];
	verify_here(pem, &v[0]);
	verify_ctl(pem, &v[1]);
	for (int i = 0; i < 2; i++) {
		const char *who = i ? "hsmgwctl" : "audit_verify";
		if (broken_id < 0) {
			ck_assert_msg(v[i].ok, "%s: not sound: %s", who, v[i].problem);
			continue;
		}
		ck_assert_msg(!v[i].ok, "%s: the tampering was not found", who);
		ck_assert_msg(v[i].first_broken_id == broken_id, "%s: first_broken_id %lld, expected %lld (%s)", who,
			      v[i].first_broken_id, broken_id, v[i].problem);
		ck_assert_msg(!problem_has || strstr(v[i].problem, problem_has), "%s: problem \"%s\" lacks \"%s\"", who,
			      v[i].problem, problem_has);
	}
}

START_TEST(test_a_sound_private_chain_verifies_with_its_checkpoints)
{
	struct chain c;
	chain_new(&c, 25);
	struct verdict v;
	verify_here(c.pem, &v);
	ck_assert_msg(v.ok, "%s", v.problem);
	ck_assert_int_ge(v.checkpoints, 3); /* seq 10, 20, 25 at least */
	expect_both(c.pem, -1, NULL);
	chain_drop(&c);
	expect_both(c.pem, -1, NULL);
	free(c.pem);
	rig_close();
}
END_TEST

START_TEST(test_a_superuser_update_of_one_row_is_reported_with_its_id)
{
	struct chain c;
	chain_new(&c, 25);
	long long id = row_id(&c, 7);
	char ids[24];
	snprintf(ids, sizeof ids, "%lld", id);
	const char *p[] = {ids};
	superuser("UPDATE audit_log SET caller = 'mallory' WHERE id = $1::bigint", 1, p);
	expect_both(c.pem, id, "changed after it was written");
	chain_drop(&c);
	expect_both(c.pem, -1, NULL);
	free(c.pem);
	rig_close();
}
END_TEST

/* Rewrites the row at seq and recomputes every later hash, as a careful superuser would. */
static void rewrite_and_rehash(const struct chain *c, int seq)
{
	PGconn *db = h_db_admin();
	PGresult *r = h_sql(db, "SET session_replication_role = replica", 0, NULL);
	PQclear(r);
	const char *p[] = {c->id};
	r = h_sql(db,
		  "SELECT id, seq, (EXTRACT(EPOCH FROM ts) * 1000000)::bigint, tenant, caller, request_id, operation,"
		  " duration_us, prev_hash FROM audit_log WHERE chain_id = $1 ORDER BY seq",
		  1, p);
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	char prev[65] = "";
	for (int i = 0; i < PQntuples(r); i++) {
		int s = atoi(PQgetvalue(r, i, 1));
		if (s < seq)
			continue;
		const char *caller = s == seq ? "mallory" : PQgetvalue(r, i, 4);
		if (s == seq)
			snprintf(prev, sizeof prev, "%s", PQgetvalue(r, i, 8));
		char canon[2048], hash[65];
		size_t n = audit_canonical(canon, sizeof canon, c->id, s, strtoll(PQgetvalue(r, i, 2), NULL, 10),
					   PQgetvalue(r, i, 3), caller, PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), NULL,
					   0, "success", 200, NULL, NULL, strtoll(PQgetvalue(r, i, 7), NULL, 10), prev);
		audit_hash(canon, n, hash);
		const char *u[] = {caller, prev, hash, PQgetvalue(r, i, 0)};
		PGresult *w = h_sql(
		    db, "UPDATE audit_log SET caller = $1, prev_hash = $2, hash = $3 WHERE id = $4::bigint", 4, u);
		ck_assert_msg(PQresultStatus(w) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(w));
		PQclear(w);
		memcpy(prev, hash, sizeof prev);
	}
	PQclear(r);
	PQfinish(db);
}

START_TEST(test_a_rewrite_with_every_later_hash_recomputed_is_caught_by_the_checkpoint_signatures)
{
	struct chain c;
	chain_new(&c, 25);
	/* Seq 13 lies after the checkpoint at 10 and before the one at 20: the chain is
	 * consistent again, but its head at seq 20 is not what was signed. The report names the
	 * first row after the last checkpoint that still holds (seq 11). */
	rewrite_and_rehash(&c, 13);
	expect_both(c.pem, row_id(&c, 11), "rewritten");
	chain_drop(&c);
	expect_both(c.pem, -1, NULL);
	free(c.pem);
	rig_close();
}
END_TEST

START_TEST(test_cutting_off_the_tail_with_its_checkpoints_is_caught_by_the_anchor)
{
	struct chain c;
	chain_new(&c, 25);
	const char *p[] = {c.id};
	superuser("DELETE FROM audit_log WHERE chain_id = $1 AND seq > 20", 1, p);
	superuser("DELETE FROM audit_checkpoints WHERE chain_id = $1 AND seq > 20", 1, p);
	/* Inside the database the chain now looks whole: rows 1..20, checkpoints 10 and 20. */
	expect_both(c.pem, 0, "tail was cut off");
	chain_drop(&c);
	expect_both(c.pem, -1, NULL);
	free(c.pem);
	rig_close();
}
END_TEST

START_TEST(test_a_forged_checkpoint_signature_and_another_public_key_are_refused)
{
	struct chain c;
	chain_new(&c, 25);
	/* Another P-256 key: no checkpoint verifies under it. */
	EVP_PKEY *other = EVP_EC_gen("P-256");
	BIO *b = BIO_new(BIO_s_mem());
	ck_assert(other && b && PEM_write_bio_PUBKEY(b, other) == 1);
	char *data;
	long len = BIO_get_mem_data(b, &data);
	char *other_pem = strndup(data, (size_t)len);
	BIO_free(b);
	EVP_PKEY_free(other);
	struct verdict v;
	verify_here(other_pem, &v);
	ck_assert_msg(!v.ok && strstr(v.problem, "does not verify"), "another key: %s", v.problem);
	free(other_pem);
	/* A signature replaced by another valid one: that of the checkpoint at seq 10. */
	const char *p[] = {c.id};
	superuser(
	    "UPDATE audit_checkpoints SET signature = (SELECT signature FROM audit_checkpoints WHERE chain_id = $1"
	    " AND seq = 10) WHERE chain_id = $1 AND seq = 20",
	    1, p);
	expect_both(c.pem, row_id(&c, 20), "does not verify");
	chain_drop(&c);
	expect_both(c.pem, -1, NULL);
	free(c.pem);
	rig_close();
}
END_TEST

/* ---- per-instance chains ---- */

struct writer_job {
	char id[64];
	int rows;
};

static void *writer_thread(void *arg)
{
	struct writer_job *j = arg;
	write_rows(j->id, j->rows, 50);
	return NULL;
}

static long long chain_len(const char *id, bool *contiguous)
{
	const char *p[] = {id};
	PGconn *db = h_db_admin();
	PGresult *r = h_sql(db,
			    "SELECT count(*), coalesce(max(seq), 0), coalesce(min(seq), 0) FROM audit_log WHERE"
			    " chain_id = $1",
			    1, p);
	long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10), max = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	*contiguous = n == max && (n == 0 || atoi(PQgetvalue(r, 0, 2)) == 1);
	PQclear(r);
	PQfinish(db);
	return n;
}

START_TEST(test_two_writers_at_once_keep_two_chains_and_a_restart_continues_its_chain)
{
	struct writer_job jobs[2];
	char rid[H_RID_MAX];
	rig_open();
	for (int i = 0; i < 2; i++) {
		h_rid(rid);
		snprintf(jobs[i].id, sizeof jobs[i].id, "apitest-inst%d-%.16s", i, rid + 8);
		jobs[i].rows = 100;
	}
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer_thread, &jobs[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	bool contiguous;
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(chain_len(jobs[i].id, &contiguous), 100);
		ck_assert_msg(contiguous, "chain %s has gaps", jobs[i].id);
	}
	char *pem = strdup(audit_signer_public_pem(rig_signer));
	expect_both(pem, -1, NULL);
	/* The first instance starts again: its chain goes on from seq 101, linked to row 100. */
	write_rows(jobs[0].id, 30, 50);
	ck_assert_int_eq(chain_len(jobs[0].id, &contiguous), 130);
	ck_assert(contiguous);
	expect_both(pem, -1, NULL);
	for (int i = 0; i < 2; i++) {
		struct chain c = {.pem = pem};
		snprintf(c.id, sizeof c.id, "%.63s", jobs[i].id);
		chain_drop(&c);
	}
	expect_both(pem, -1, NULL);
	free(pem);
	rig_close();
}
END_TEST

TCase *tcase_audit_proof(void)
{
	TCase *tc = tcase_create("audit_proof");
	tcase_add_test(tc, test_a_sound_private_chain_verifies_with_its_checkpoints);
	tcase_add_test(tc, test_a_superuser_update_of_one_row_is_reported_with_its_id);
	tcase_add_test(tc, test_a_rewrite_with_every_later_hash_recomputed_is_caught_by_the_checkpoint_signatures);
	tcase_add_test(tc, test_cutting_off_the_tail_with_its_checkpoints_is_caught_by_the_anchor);
	tcase_add_test(tc, test_a_forged_checkpoint_signature_and_another_public_key_are_refused);
	tcase_add_test(tc, test_two_writers_at_once_keep_two_chains_and_a_restart_continues_its_chain);
	return tc;
}
