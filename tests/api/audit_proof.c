/* An audit trail you can prove: each test writes a private chain of its own with the audit
 * writer in this process (the HSM's audit key signs its checkpoints, its anchor goes to the
 * configured anchor directory), tampers with it as the database superuser, and expects both
 * verifiers — audit_verify in-process and `hsmgwctl audit verify` as an auditor runs it — to
 * report it. Every test removes its chain again, and a fixture sweeps away whatever a failed
 * test left, so the daemon's chain and the other tests only ever see a sound trail. */
#include <dirent.h>
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

/* Every private chain's id starts with this, so the sweep finds them all. */
#define PRIVATE_PREFIX "apitest-proof-"

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
	char *pem; /* the audit public key; the test frees it */
};

/* Writes n rows to chain id with a checkpoint every `every` rows (and one at the stop). With
 * a barrier, the first row is written (the writer is connected) before it waits there. */
static void write_rows(const char *id, int n, unsigned every, pthread_barrier_t *together)
{
	struct hg_config cfg = *h_cfg;
	cfg.audit_checkpoint_rows = every;
	cfg.audit_checkpoint_s = 3600;
	/* The private chains stay out of the daemon's SIEM feed: two processes appending to one
	 * file could interleave within a line, and nobody listens on the syslog socket now. */
	cfg.audit_siem_file = NULL;
	cfg.audit_siem_syslog = NULL;
	struct hg_audit *a = audit_start(&cfg, id, rig_signer);
	ck_assert(a != NULL);
	for (int i = 0; i < n; i++) {
		if (together && i == 1)
			pthread_barrier_wait(together);
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

static void chain_id_new(char *out, size_t cap, const char *label)
{
	char rid[H_RID_MAX];
	h_rid(rid); /* "apitest-<uuid>" */
	snprintf(out, cap, PRIVATE_PREFIX "%s%.20s", label, rid + 8);
}

static void chain_new(struct chain *c, int rows)
{
	chain_id_new(c->id, sizeof c->id, "");
	rig_open();
	c->pem = strdup(audit_signer_public_pem(rig_signer));
	ck_assert_msg(h_cfg->audit_anchor_dir != NULL, "the test configuration has no audit.anchor_dir");
	write_rows(c->id, rows, 10, NULL);
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

/* The one value a query about chain `id` (its $1) returns, as text; the caller frees. */
static char *chain_value(const char *id, const char *sql)
{
	const char *p[] = {id};
	PGconn *db = h_db_admin();
	PGresult *r = h_sql(db, sql, 1, p);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s (%d rows)", sql,
		      PQresultErrorMessage(r), PQntuples(r));
	char *v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(db);
	return v;
}

static long long chain_number(const char *id, const char *sql)
{
	char *v = chain_value(id, sql);
	long long n = strtoll(v, NULL, 10);
	free(v);
	return n;
}

/* The id of the row at seq in the chain. */
static long long row_id(const struct chain *c, int seq)
{
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT id FROM audit_log WHERE chain_id = $1 AND seq = %d", seq);
	return chain_number(c->id, sql);
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

/* The anchor file of a chain, parsed (asserts it exists); the caller json_decrefs. */
static json_t *anchor_load(const char *id)
{
	char path[4096];
	audit_anchor_path(h_cfg->audit_anchor_dir, id, path, sizeof path);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	ck_assert_msg(j != NULL, "the anchor %s: %s", path, je.text);
	ck_assert_str_eq(json_string_value(json_object_get(j, "chain_id")), id);
	return j;
}

/* Whatever private chains a failed test left behind (an assertion ends a test before its
 * chain_drop): rows, checkpoints and anchors. Runs before every test and after the last, so
 * one failure does not fail the tests after it; it never asserts, it complains on stderr. */
static void sweep_private_chains(void)
{
	PGconn *c = PQconnectdb(h_cfg->db_admin_conninfo);
	const char *sql[] = {"SET session_replication_role = replica",
			     "DELETE FROM audit_log WHERE chain_id LIKE '" PRIVATE_PREFIX "%'",
			     "DELETE FROM audit_checkpoints WHERE chain_id LIKE '" PRIVATE_PREFIX "%'"};
	for (size_t i = 0; i < sizeof sql / sizeof *sql && PQstatus(c) == CONNECTION_OK; i++) {
		PGresult *r = PQexec(c, sql[i]);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			fprintf(stderr, "audit_proof: sweep: %s: %s", sql[i], PQresultErrorMessage(r));
		PQclear(r);
	}
	if (PQstatus(c) != CONNECTION_OK)
		fprintf(stderr, "audit_proof: sweep: %s", PQerrorMessage(c));
	PQfinish(c);
	DIR *d = h_cfg->audit_anchor_dir ? opendir(h_cfg->audit_anchor_dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, PRIVATE_PREFIX, strlen(PRIVATE_PREFIX)) != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", h_cfg->audit_anchor_dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

/* ---- the two verifiers ---- */

struct verdict {
	bool ok;
	long long first_broken_id, checkpoints; /* first_broken_id 0: none (JSON null) */
	char problem[512];
};

static void verify_here(const char *pem, const char *anchor_dir, struct verdict *v)
{
	struct hg_audit_verify r;
	hg_err e = audit_verify(h_cfg->db_conninfo, pem, anchor_dir, &r);
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
	ck_assert(fd >= 0);
	bool written = write(fd, pem, strlen(pem)) == (ssize_t)strlen(pem);
	close(fd);
	ck_assert(written);
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
	free(cmd);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);
	ck_assert_msg(j != NULL, "hsmgwctl audit verify printed %s", out);
	json_t *ok = json_object_get(j, "ok"), *broken = json_object_get(j, "first_broken_id");
	ck_assert_msg(json_is_boolean(ok) && (json_is_null(broken) || json_is_integer(broken)) &&
			  json_is_integer(json_object_get(j, "checkpoints_verified")) &&
			  json_is_string(json_object_get(j, "problem")),
		      "hsmgwctl audit verify printed %s", out);
	v->ok = json_is_true(ok);
	v->first_broken_id = json_integer_value(broken);
	v->checkpoints = json_integer_value(json_object_get(j, "checkpoints_verified"));
	snprintf(v->problem, sizeof v->problem, "%s", json_string_value(json_object_get(j, "problem")));
	json_decref(j);
	/* Exit 0 for a sound trail, 3 for a broken one. */
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == (v->ok ? 0 : 3), "hsmgwctl exited %d", st);
}

#define SOUND (-1LL) /* expect_both: the trail is sound */

/* Both verifiers, with the anchors, say what is expected: SOUND, or broken with this
 * first_broken_id (0: none named) and a problem that mentions problem_has. */
static void expect_both(const char *pem, long long broken_id, const char *problem_has)
{
	struct verdict v[2];
	verify_here(pem, h_cfg->audit_anchor_dir, &v[0]);
	verify_ctl(pem, &v[1]);
	for (int i = 0; i < 2; i++) {
		const char *who = i ? "hsmgwctl" : "audit_verify";
		if (broken_id == SOUND) {
			ck_assert_msg(v[i].ok && v[i].first_broken_id == 0 && !v[i].problem[0], "%s: not sound: %s",
				      who, v[i].problem);
			continue;
		}
		ck_assert_msg(!v[i].ok, "%s: the tampering was not found", who);
		ck_assert_msg(v[i].first_broken_id == broken_id, "%s: first_broken_id %lld, expected %lld (%s)", who,
			      v[i].first_broken_id, broken_id, v[i].problem);
		ck_assert_msg(!problem_has || strstr(v[i].problem, problem_has), "%s: problem \"%s\" lacks \"%s\"", who,
			      v[i].problem, problem_has);
	}
}

/* The end of every test: the chain goes, and the trail is sound again. */
static void chain_done(struct chain *c)
{
	chain_drop(c);
	expect_both(c->pem, SOUND, NULL);
	free(c->pem);
	rig_close();
}

/* ---- tampering ---- */

START_TEST(test_a_sound_private_chain_verifies_with_its_checkpoints_and_anchor)
{
	struct chain c;
	chain_new(&c, 25);
	/* Checkpoints every 10 rows and one at the stop; the anchor holds the newest. */
	char *seqs = chain_value(c.id, "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM audit_checkpoints"
				       " WHERE chain_id = $1");
	ck_assert_str_eq(seqs, "10,20,25");
	free(seqs);
	json_t *anchor = anchor_load(c.id);
	char *head = chain_value(c.id, "SELECT hash FROM audit_log WHERE chain_id = $1 AND seq = 25");
	ck_assert_int_eq(json_integer_value(json_object_get(anchor, "seq")), 25);
	ck_assert_str_eq(json_string_value(json_object_get(anchor, "head_hash")), head);
	free(head);
	json_decref(anchor);
	struct verdict v;
	verify_here(c.pem, h_cfg->audit_anchor_dir, &v);
	ck_assert_msg(v.ok, "%s", v.problem);
	ck_assert_int_ge(v.checkpoints, 3);
	expect_both(c.pem, SOUND, NULL);
	chain_done(&c);
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
	char want[128];
	snprintf(want, sizeof want, "row %lld was changed after it was written", id);
	expect_both(c.pem, id, want);
	chain_done(&c);
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
	ck_assert_int_eq(PQntuples(r), 25);
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
		ck_assert(n < sizeof canon);
		audit_hash(canon, n, hash);
		const char *u[] = {caller, prev, hash, PQgetvalue(r, i, 0)};
		PGresult *w = h_sql(
		    db, "UPDATE audit_log SET caller = $1, prev_hash = $2, hash = $3 WHERE id = $4::bigint", 4, u);
		ck_assert_msg(PQresultStatus(w) == PGRES_COMMAND_OK && atoi(PQcmdTuples(w)) == 1, "%s",
			      PQresultErrorMessage(w));
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
	char *old_head = chain_value(c.id, "SELECT hash FROM audit_log WHERE chain_id = $1 AND seq = 25");
	/* Seq 13 lies after the checkpoint at 10 and before the one at 20. Every row's hash and
	 * link hold again (the verifiers do not say "changed after it was written"), but the head
	 * at seq 20 is not what was signed: the report names the first row after the last
	 * checkpoint that still holds (seq 11). */
	rewrite_and_rehash(&c, 13);
	char *new_head = chain_value(c.id, "SELECT hash FROM audit_log WHERE chain_id = $1 AND seq = 25");
	ck_assert_str_ne(new_head, old_head);
	free(old_head);
	free(new_head);
	expect_both(c.pem, row_id(&c, 11), "the head at seq 20 is not the one");
	chain_done(&c);
}
END_TEST

START_TEST(test_cutting_off_the_tail_with_its_checkpoints_is_caught_by_the_anchor)
{
	struct chain c;
	chain_new(&c, 25);
	const char *p[] = {c.id};
	superuser("DELETE FROM audit_log WHERE chain_id = $1 AND seq > 20", 1, p);
	superuser("DELETE FROM audit_checkpoints WHERE chain_id = $1 AND seq > 20", 1, p);
	/* Inside the database the chain now looks whole (rows 1..20, checkpoints 10 and 20):
	 * without the anchors nothing is found ... */
	struct verdict v;
	verify_here(c.pem, NULL, &v);
	ck_assert_msg(v.ok, "without anchors: %s", v.problem);
	/* ... with them, the newest checkpoint (seq 25) is missing. No row can be named. */
	expect_both(c.pem, 0, "(seq 25) is not in it: the chain's tail was cut off");
	chain_done(&c);
}
END_TEST

START_TEST(test_a_checkpoint_with_another_checkpoints_signature_is_refused)
{
	struct chain c;
	chain_new(&c, 25);
	/* A valid signature, of the checkpoint at seq 10, put on the one at seq 20. */
	const char *p[] = {c.id};
	superuser(
	    "UPDATE audit_checkpoints SET signature = (SELECT signature FROM audit_checkpoints WHERE chain_id = $1"
	    " AND seq = 10) WHERE chain_id = $1 AND seq = 20",
	    1, p);
	expect_both(c.pem, row_id(&c, 20), "(seq 20) does not verify under the audit key");
	chain_done(&c);
}
END_TEST

/* A fresh P-256 public key as PEM; the caller frees. */
static char *other_public_pem(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	BIO *b = BIO_new(BIO_s_mem());
	ck_assert(k && b && PEM_write_bio_PUBKEY(b, k) == 1);
	char *data;
	long len = BIO_get_mem_data(b, &data);
	char *pem = strndup(data, (size_t)len);
	BIO_free(b);
	EVP_PKEY_free(k);
	return pem;
}

START_TEST(test_another_public_key_verifies_no_checkpoint)
{
	struct chain c;
	chain_new(&c, 25);
	/* Nothing is changed, but no checkpoint verifies under another key: the first one the
	 * verifiers meet (chains in the order of their ids) is reported, with its row. */
	PGconn *db = h_db_admin();
	PGresult *r = h_sql(db,
			    "SELECT l.id FROM audit_checkpoints k JOIN audit_log l USING (chain_id, seq)"
			    " ORDER BY k.chain_id, k.seq LIMIT 1",
			    0, NULL);
	ck_assert_int_eq(PQntuples(r), 1);
	long long first = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(db);
	char *other = other_public_pem();
	expect_both(other, first, "does not verify under the audit key");
	free(other);
	chain_done(&c);
}
END_TEST

/* ---- per-instance chains ---- */

#define INSTANCE_ROWS 100 /* per writer: enough to interleave, quick under the sanitizers */

struct writer_job {
	const char *id;
	pthread_barrier_t *together;
};

static void *writer_thread(void *arg)
{
	struct writer_job *j = arg;
	write_rows(j->id, INSTANCE_ROWS, 50, j->together);
	return NULL;
}

/* Asserts the chain holds seq 1..n, each row linked to the one before it. */
static void assert_contiguous(const char *id, long long n)
{
	ck_assert_int_eq(chain_number(id, "SELECT count(*) FROM audit_log WHERE chain_id = $1"), n);
	ck_assert_int_eq(chain_number(id, "SELECT coalesce(max(seq), 0) FROM audit_log WHERE chain_id = $1"), n);
	ck_assert_int_eq(chain_number(id, "SELECT count(*) FROM audit_log a JOIN audit_log b ON b.chain_id = a.chain_id"
					  " AND b.seq = a.seq + 1 WHERE a.chain_id = $1 AND b.prev_hash = a.hash"),
			 n - 1);
}

START_TEST(test_two_writers_at_once_keep_two_chains_and_a_restart_continues_its_chain)
{
	pthread_barrier_t together;
	ck_assert_int_eq(pthread_barrier_init(&together, NULL, 2), 0);
	struct chain c[2];
	struct writer_job jobs[2];
	rig_open();
	for (int i = 0; i < 2; i++) {
		chain_id_new(c[i].id, sizeof c[i].id, i ? "inst1-" : "inst0-");
		c[i].pem = strdup(audit_signer_public_pem(rig_signer));
		jobs[i].id = c[i].id;
		jobs[i].together = &together;
	}
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer_thread, &jobs[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&together);
	for (int i = 0; i < 2; i++)
		assert_contiguous(c[i].id, INSTANCE_ROWS);
	/* They wrote at once: each chain's rows were committed while the other's were. */
	long long lo[2], hi[2];
	for (int i = 0; i < 2; i++) {
		lo[i] = chain_number(c[i].id, "SELECT min(id) FROM audit_log WHERE chain_id = $1");
		hi[i] = chain_number(c[i].id, "SELECT max(id) FROM audit_log WHERE chain_id = $1");
	}
	ck_assert_msg(lo[0] < hi[1] && lo[1] < hi[0], "the writers did not overlap: ids %lld..%lld and %lld..%lld",
		      lo[0], hi[0], lo[1], hi[1]);
	expect_both(c[0].pem, SOUND, NULL);

	/* The first instance starts again: its chain goes on from seq 101, linked to row 100, and
	 * its stop signs the new head. */
	char *head = chain_value(c[0].id, "SELECT hash FROM audit_log WHERE chain_id = $1 AND seq = 100");
	write_rows(c[0].id, 30, 50, NULL);
	assert_contiguous(c[0].id, INSTANCE_ROWS + 30);
	char *link = chain_value(c[0].id, "SELECT prev_hash FROM audit_log WHERE chain_id = $1 AND seq = 101");
	ck_assert_str_eq(link, head);
	free(link);
	free(head);
	json_t *anchor = anchor_load(c[0].id);
	ck_assert_int_eq(json_integer_value(json_object_get(anchor, "seq")), INSTANCE_ROWS + 30);
	json_decref(anchor);
	expect_both(c[0].pem, SOUND, NULL);
	chain_drop(&c[1]);
	free(c[1].pem);
	chain_done(&c[0]);
}
END_TEST

TCase *tcase_audit_proof(void)
{
	TCase *tc = tcase_create("audit_proof");
	tcase_add_checked_fixture(tc, sweep_private_chains, NULL);
	tcase_add_unchecked_fixture(tc, NULL, sweep_private_chains);
	tcase_add_test(tc, test_a_sound_private_chain_verifies_with_its_checkpoints_and_anchor);
	tcase_add_test(tc, test_a_superuser_update_of_one_row_is_reported_with_its_id);
	tcase_add_test(tc, test_a_rewrite_with_every_later_hash_recomputed_is_caught_by_the_checkpoint_signatures);
	tcase_add_test(tc, test_cutting_off_the_tail_with_its_checkpoints_is_caught_by_the_anchor);
	tcase_add_test(tc, test_a_checkpoint_with_another_checkpoints_signature_is_refused);
	tcase_add_test(tc, test_another_public_key_verifies_no_checkpoint);
	tcase_add_test(tc, test_two_writers_at_once_keep_two_chains_and_a_restart_continues_its_chain);
	return tc;
}
