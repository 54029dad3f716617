/* The PostgreSQL connection pool and the prepared statements every pooled connection has.
 *
 * A slot is idle (conn may be NULL: connect on borrow), or lent. A connection that failed is
 * closed when it comes back, so the next borrower connects afresh: the pool recovers by
 * itself when the server returns. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* Every statement the daemon runs, prepared once per connection. */
// clang-format off
static const struct {
	const char *name;
	const char *sql;
} statements[] = {
	{"tenant_upsert", "INSERT INTO tenants (name) VALUES ($1) ON CONFLICT DO NOTHING"},
	{"key_insert",
	 "INSERT INTO keys (id, tenant, name, type, size, usage, state, primary_version, exportable, labels,"
	 " description, curve, rotation_period_days, next_rotation_at, activate_at, expires_at)"
	 " VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8, $9, $10::jsonb, $11, $12, $13::int,"
	 " CASE WHEN $13::int IS NULL THEN NULL ELSE now() + $13::int * interval '1 day' END,"
	 " 'epoch'::timestamptz + $14::bigint * interval '1 microsecond',"
	 " 'epoch'::timestamptz + $15::bigint * interval '1 microsecond')"
	 " RETURNING seq, " HG_SQL_US("created_at") ", " HG_SQL_US("updated_at") ", " HG_SQL_US("next_rotation_at")},
	{"version_insert",
	 "INSERT INTO key_versions (key_id, version, hsm_id, state, kcv) VALUES ($1, $2, $3, $4, $5)"
	 " RETURNING " HG_SQL_US("created_at")},
	{"key_event_insert",
	 "INSERT INTO key_events (key_id, event, actor, request_id, to_state, version, detail)"
	 " VALUES ($1, $2, $3, $4, $5, $6::int, $7::jsonb)"},
	{"key_by_id", HG_SQL_KEY_SELECT " WHERE k.tenant = $1 AND k.id = $2"},
	{"key_by_name", HG_SQL_KEY_SELECT " WHERE k.tenant = $1 AND k.name = $2"},
	{"key_list", HG_SQL_KEY_SELECT " WHERE k.tenant = $1 AND k.seq > $2"
	 " AND ($4::text IS NULL OR k.state = $4) AND ($5::text IS NULL OR k.type = $5)"
	 " AND ($6::text IS NULL OR k.name = $6) AND ($7::jsonb IS NULL OR k.labels @> $7::jsonb)"
	 " ORDER BY k.seq LIMIT $3"},
	{"key_counts",
	 "SELECT tenant, state, count(*),"
	 " count(*) FILTER (WHERE state = 'active' AND next_rotation_at <= now())"
	 " FROM keys GROUP BY tenant, state ORDER BY tenant, state"},
	{"ping", "SELECT 1"},
};
// clang-format on

struct hg_db {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *conninfo;
	unsigned wait_ms;
	unsigned size;
	PGconn **idle; /* stack of idle slots; NULL entries are unconnected slots */
	unsigned n_idle;

	/* Key changes (db_keys_generation): counted here, and heard from other processes by the
	 * listener thread (db_listen_keys). */
	atomic_uint_fast64_t keys_gen;
	atomic_bool listening, stop_listening;
	bool listener_started;
	pthread_t listener;
};

void db_keys_changed(struct hg_db *db)
{
	atomic_fetch_add(&db->keys_gen, 1);
}

uint64_t db_keys_generation(struct hg_db *db)
{
	/* Not listening: a change elsewhere could go unheard, so no copy is current. */
	return atomic_load(&db->listening) ? atomic_load(&db->keys_gen) : 0;
}

/* LISTEN hsmgw_keys on a connection of its own (migrations/006_keys_notify.sql sends the
 * notices); every notice, and every (re)connection, makes the copies taken before stale. */
static PGconn *listen_connect(struct hg_db *db)
{
	PGconn *c = PQconnectdb(db->conninfo);
	PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, "LISTEN hsmgw_keys") : NULL;
	bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		PQfinish(c);
		return NULL;
	}
	db_keys_changed(db);
	atomic_store(&db->listening, true);
	return c;
}

static void *listen_main(void *arg)
{
	struct hg_db *db = arg;
	PGconn *c = NULL;
	while (!atomic_load(&db->stop_listening)) {
		if (!c && !(c = listen_connect(db))) {
			poll(NULL, 0, 500); /* the database is away: try again soon */
			continue;
		}
		struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
		if (poll(&p, 1, 200) > 0 && !PQconsumeInput(c)) {
			atomic_store(&db->listening, false);
			log_warn("db: lost the key-change listener; key caches are bypassed until it is back");
			PQfinish(c);
			c = NULL;
			continue;
		}
		bool changed = false;
		for (PGnotify *n; (n = PQnotifies(c));) {
			changed = true;
			PQfreemem(n);
		}
		if (changed)
			db_keys_changed(db);
	}
	atomic_store(&db->listening, false);
	PQfinish(c);
	return NULL;
}

void db_listen_keys(struct hg_db *db)
{
	if (pthread_create(&db->listener, NULL, listen_main, db) == 0)
		db->listener_started = true;
	else
		log_error("db: cannot start the key-change listener; key caches stay off");
}

static bool prepare_all(PGconn *c)
{
	for (size_t i = 0; i < sizeof statements / sizeof *statements; i++) {
		PGresult *r = PQprepare(c, statements[i].name, statements[i].sql, 0, NULL);
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			log_error("db: prepare %s: %s", statements[i].name, PQresultErrorMessage(r));
		PQclear(r);
		if (!ok)
			return false;
	}
	return true;
}

struct hg_db *db_open(const char *conninfo, unsigned size, unsigned wait_ms)
{
	struct hg_db *db = calloc(1, sizeof *db);
	db->conninfo = strdup(conninfo);
	db->size = size;
	db->wait_ms = wait_ms;
	db->idle = calloc(size, sizeof *db->idle);
	db->n_idle = size;
	pthread_mutex_init(&db->mu, NULL);
	pthread_cond_init(&db->cv, NULL);
	return db;
}

void db_close(struct hg_db *db)
{
	if (!db)
		return;
	if (db->listener_started) {
		atomic_store(&db->stop_listening, true);
		pthread_join(db->listener, NULL);
	}
	for (unsigned i = 0; i < db->n_idle; i++)
		if (db->idle[i])
			PQfinish(db->idle[i]);
	free(db->idle);
	free(db->conninfo);
	pthread_mutex_destroy(&db->mu);
	pthread_cond_destroy(&db->cv);
	free(db);
}

hg_err db_borrow(struct hg_db *db, PGconn **out)
{
	struct timespec deadline;
	time_deadline(&deadline, db->wait_ms);
	pthread_mutex_lock(&db->mu);
	while (db->n_idle == 0) {
		if (pthread_cond_timedwait(&db->cv, &db->mu, &deadline) != 0) {
			pthread_mutex_unlock(&db->mu);
			log_warn("db: no free connection within %u ms", db->wait_ms);
			return HG_E_AUDIT_UNAVAILABLE;
		}
	}
	PGconn *c = db->idle[--db->n_idle];
	pthread_mutex_unlock(&db->mu);

	/* A restarted server has closed this connection: reading what it sent (without
	 * blocking) lets libpq notice, so the request gets a fresh connection, not an error. */
	if (c && (PQconsumeInput(c) == 0 || PQstatus(c) != CONNECTION_OK)) {
		PQfinish(c);
		c = NULL;
	}
	if (!c) {
		c = PQconnectdb(db->conninfo);
		if (PQstatus(c) != CONNECTION_OK || !prepare_all(c)) {
			log_error("db: connect: %s", PQerrorMessage(c));
			PQfinish(c);
			db_return(db, NULL, false);
			return HG_E_AUDIT_UNAVAILABLE;
		}
	}
	*out = c;
	return HG_OK;
}

void db_return(struct hg_db *db, PGconn *c, bool broken)
{
	bool lost = c && (broken || PQstatus(c) != CONNECTION_OK);
	if (c && (lost || PQtransactionStatus(c) != PQTRANS_IDLE)) {
		PQfinish(c);
		c = NULL;
	}
	/* A lost connection usually means the server restarted: the idle connections died with
	 * it, so they are dropped now instead of failing one request each later. */
	PGconn **stale = NULL;
	unsigned n_stale = 0;
	pthread_mutex_lock(&db->mu);
	if (lost && db->n_idle > 0 && (stale = calloc(db->n_idle, sizeof *stale))) {
		for (unsigned i = 0; i < db->n_idle; i++) {
			if (db->idle[i]) {
				stale[n_stale++] = db->idle[i];
				db->idle[i] = NULL;
			}
		}
	}
	db->idle[db->n_idle++] = c;
	pthread_cond_signal(&db->cv);
	pthread_mutex_unlock(&db->mu);
	for (unsigned i = 0; i < n_stale; i++)
		PQfinish(stale[i]);
	free(stale);
}

hg_err db_result_err(PGconn *c, PGresult *r, ExecStatusType want, const char *what)
{
	if (PQresultStatus(r) == want)
		return HG_OK;
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state && strcmp(state, "23505") == 0)
		return HG_E_CONFLICT;
	if (PQstatus(c) != CONNECTION_OK) {
		log_error("db: %s: connection lost: %s", what, PQerrorMessage(c));
		return HG_E_AUDIT_UNAVAILABLE;
	}
	log_error("db: %s: %s", what, PQresultErrorMessage(r));
	return HG_E_INTERNAL;
}

hg_err db_ping(struct hg_db *db)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	PGresult *r = PQexecPrepared(c, "ping", 0, NULL, NULL, NULL, 0);
	e = db_result_err(c, r, PGRES_TUPLES_OK, "ping");
	PQclear(r);
	db_return(db, c, e != HG_OK);
	return e;
}

bool db_conn_alive(struct hg_db_conn *hc)
{
	PGconn *c = (PGconn *)hc;
	return PQconsumeInput(c) != 0 && PQstatus(c) == CONNECTION_OK;
}

struct hg_db_conn *db_conn_open(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		log_error("db: connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return (struct hg_db_conn *)c;
}

void db_conn_close(struct hg_db_conn *c)
{
	if (c)
		PQfinish((PGconn *)c);
}
