/* The migrations runner: numbered SQL files applied in order, each once, each in its own
 * transaction, recorded in schema_migrations. An advisory lock keeps two runners apart. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define MIGRATE_LOCK_ID "7416883"

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Valid names: three or more digits, '_', something, ".sql". */
static bool is_migration(const char *name, long *version)
{
	size_t n = strlen(name), d = strspn(name, "0123456789");
	if (d < 3 || name[d] != '_' || n < d + 6 || strcmp(name + n - 4, ".sql") != 0)
		return false;
	*version = strtol(name, NULL, 10);
	return true;
}

static bool run(PGconn *c, const char *sql, FILE *out)
{
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(out, "migrate: %s", PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

static bool applied(PGconn *c, long version)
{
	char v[24];
	snprintf(v, sizeof v, "%ld", version);
	const char *p[] = {v};
	PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, p, NULL, NULL, 0);
	bool yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	return yes;
}

static bool apply_one(PGconn *c, const char *dir, const char *name, long version, FILE *out)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	char *sql = file_read_all(path, 16 << 20, NULL);
	if (!sql) {
		fprintf(out, "migrate: cannot read %s\n", path);
		return false;
	}
	char v[24];
	snprintf(v, sizeof v, "%ld", version);
	const char *p[] = {v, name};
	bool ok = run(c, "BEGIN", out) && run(c, sql, out);
	if (ok) {
		PGresult *r = PQexecParams(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, NULL,
					   p, NULL, NULL, 0);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			fprintf(out, "migrate: %s", PQresultErrorMessage(r));
		PQclear(r);
	}
	ok = ok && run(c, "COMMIT", out);
	if (!ok)
		run(c, "ROLLBACK", out);
	else
		fprintf(out, "migrate: applied %s\n", name);
	free(sql);
	return ok;
}

int store_migrate(const char *conninfo, const char *dir, FILE *out)
{
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(out, "migrate: connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return 1;
	}
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(out, "migrate: cannot open %s\n", dir);
		PQfinish(c);
		return 1;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	long v;
	while ((de = readdir(d))) {
		if (is_migration(de->d_name, &v)) {
			names = realloc(names, (n + 1) * sizeof *names);
			names[n++] = strdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_names);

	bool ok = run(c, "SET client_min_messages = warning", out) &&
		  run(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_ID ")", out) &&
		  run(c,
		      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
		      " applied_at timestamptz NOT NULL DEFAULT now())",
		      out);
	size_t done = 0;
	for (size_t i = 0; ok && i < n; i++) {
		(void)is_migration(names[i], &v);
		if (applied(c, v))
			continue;
		ok = apply_one(c, dir, names[i], v, out);
		done += ok;
	}
	if (ok)
		fprintf(out, "migrate: %zu applied, %zu already present\n", done, n - done);
	run(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_ID ")", out);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	PQfinish(c);
	return ok ? 0 : 1;
}
