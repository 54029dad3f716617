/* Shared by the files of store/ only. */
#ifndef HSMGW_STORE_INTERNAL_H
#define HSMGW_STORE_INTERNAL_H

#include <libpq-fe.h>

#include "hsmgw/store.h"

/* A timestamp column as integer microseconds since the epoch (exact: extract() is numeric). */
#define HG_SQL_US(col) "(extract(epoch from " col ") * 1000000)::bigint"

/* The columns of a key row, versions aggregated as JSON, in the order key_row_from() reads. */
#define HG_SQL_KEY_SELECT                                                                                                                                                       \
	"SELECT k.id, k.seq, k.tenant, k.name, k.type, k.size, array_to_json(k.usage), k.state, k.primary_version,"                                                             \
	" k.exportable, k.labels, k.policy, k.description, k.rotation_period_days, " HG_SQL_US("k.next_rotation_at") ", " HG_SQL_US("k.expires_at") ", " HG_SQL_US(             \
	    "k.activate_at") ", " HG_SQL_US("k.destroy_at") ", " HG_SQL_US("k.created_at") ", " HG_SQL_US("k.updated_"                                                          \
													  "at") ","                                                             \
														" ("                                                            \
														"SELE"                                                          \
														"CT "                                                           \
														"json"                                                          \
														"_agg"                                                          \
														"(jso"                                                          \
														"n_"                                                            \
														"buil"                                                          \
														"d_"                                                            \
														"obje"                                                          \
														"ct('"                                                          \
														"vers"                                                          \
														"ion'"                                                          \
														", "                                                            \
														"v."                                                            \
														"vers"                                                          \
														"ion,"                                                          \
														" '"                                                            \
														"id',"                                                          \
														" v."                                                           \
														"hsm_"                                                          \
														"id, "                                                          \
														"'sta"                                                          \
														"te',"                                                          \
														" v."                                                           \
														"stat"                                                          \
														"e, "                                                           \
														"'kcv"                                                          \
														"', "                                                           \
														"v."                                                            \
														"kcv,"                                                          \
														" '"                                                            \
														"crea"                                                          \
														"ted_"                                                          \
														"at',"                                                          \
														" " HG_SQL_US(                                                  \
														    "v.created_at") ") ORDER BY v.version) FROM key_versions v" \
																    " WHERE v.key_id = k.id) FROM keys k"

/* Takes an idle connection (connecting it if needed) within the pool's wait limit. */
hg_err db_borrow(struct hg_db *db, PGconn **out);
/* Gives it back; a broken one (or one left inside a transaction) is closed. */
void db_return(struct hg_db *db, PGconn *c, bool broken);
/* HG_OK if r has status `want`; otherwise logs and maps: unique violation → HG_E_CONFLICT,
 * a lost connection → HG_E_AUDIT_UNAVAILABLE, anything else → HG_E_INTERNAL. */
hg_err db_result_err(PGconn *c, PGresult *r, ExecStatusType want, const char *what);

#endif
