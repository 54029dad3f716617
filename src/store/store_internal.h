/* Shared by the files of store/ only. */
#ifndef HSMGW_STORE_INTERNAL_H
#define HSMGW_STORE_INTERNAL_H

#include <libpq-fe.h>

#include "hsmgw/store.h"

/* A timestamp column as integer microseconds since the epoch (exact: extract() is numeric). */
#define HG_SQL_US(col) "(extract(epoch from " col ") * 1000000)::bigint"

/* The columns of a key row, versions aggregated as JSON, in the order key_row_from() reads. */
// clang-format off
#define HG_SQL_KEY_SELECT \
	"SELECT k.id, k.seq, k.tenant, k.name, k.type, k.size, array_to_json(k.usage), k.state, k.primary_version," \
	" k.exportable, k.labels, k.policy, k.description, k.rotation_period_days," \
	" " HG_SQL_US("k.next_rotation_at") ", " HG_SQL_US("k.expires_at") "," \
	" " HG_SQL_US("k.activate_at") ", " HG_SQL_US("k.destroy_at") "," \
	" " HG_SQL_US("k.created_at") ", " HG_SQL_US("k.updated_at") "," \
	" (SELECT json_agg(json_build_object('version', v.version, 'id', v.hsm_id, 'state', v.state," \
	" 'kcv', v.kcv, 'retire_at', " HG_SQL_US("v.retire_at") "," \
	" 'created_at', " HG_SQL_US("v.created_at") ") ORDER BY v.version)" \
	" FROM key_versions v WHERE v.key_id = k.id), k.curve FROM keys k"
// clang-format on

/* Takes an idle connection (connecting it if needed) within the pool's wait limit. */
hg_err db_borrow(struct hg_db *db, PGconn **out);
/* Gives it back; a broken one (or one left inside a transaction) is closed. */
void db_return(struct hg_db *db, PGconn *c, bool broken);
/* Called after every committed change to a key or its versions (see db_keys_generation). */
void db_keys_changed(struct hg_db *db);
/* HG_OK if r has status `want`; otherwise logs and maps: unique violation → HG_E_CONFLICT,
 * a lost connection → HG_E_AUDIT_UNAVAILABLE, anything else → HG_E_INTERNAL. */
hg_err db_result_err(PGconn *c, PGresult *r, ExecStatusType want, const char *what);

#endif
