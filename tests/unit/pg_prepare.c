/* pg_prepare URI [-v | -j]: proves that every store statement is valid
 * PostgreSQL (issue 16). In one transaction on the database at URI (libpq's
 * rules), applies schema/pg's migrations, then prepares each statement's
 * PostgreSQL text (store_pg_text) with parameters of unknown type, as the
 * PostgreSQL backend does; prints each failure with its id, SQL and error.
 * The transaction is rolled back, so the database is left as it was and
 * the check may run again. -v also prints the parameter types PostgreSQL
 * inferred for every statement; -j prints, instead of them, one JSON
 * object a line for each statement that prepared: {"id", "types",
 * "sqlite", "pg"} (tests/pg/sql_equiv.py reads them). Exit 0 when all prepared, 1 when some did
 * not, 2 when the database cannot be used. Not in the unit suite: it needs
 * a running PostgreSQL (the PostgreSQL test script runs it). */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

static int exec_ok(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "pg_prepare: %.60s: %s", sql, PQerrorMessage(db));
    PQclear(r);
    return ok;
}

static const char *type_name(Oid t)
{
    switch (t) {
    case 16:
        return "bool";
    case 17:
        return "bytea";
    case 20:
        return "bigint";
    case 23:
        return "int";
    case 25:
        return "text";
    case 701:
        return "double";
    case 705:
        return "unknown";
    default:
        return "other";
    }
}

enum show { SHOW_FAILURES, SHOW_TYPES, SHOW_JSON };

static void print_params(PGconn *db, const char *name, int id, const char *sql, enum show show)
{
    PGresult *r = PQdescribePrepared(db, name);
    json_t *types = json_array();
    if (show == SHOW_TYPES)
        printf("%d:", id);
    for (int i = 0; i < PQnparams(r); i++) {
        if (show == SHOW_TYPES)
            printf(" $%d %s", i + 1, type_name(PQparamtype(r, i)));
        json_array_append_new(types, json_string(type_name(PQparamtype(r, i))));
    }
    if (show == SHOW_TYPES) {
        printf("\n");
    } else {
        json_t *o = json_pack("{s:i,s:o,s:s,s:s}", "id", id, "types", types, "sqlite",
                              store_sql((enum stmt_id)id), "pg", sql);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (line)
            printf("%s\n", line);
        free(line);
        json_decref(o);
        types = NULL;
    }
    json_decref(types);
    PQclear(r);
}

/* Prepares statement id inside a savepoint (a failure aborts only it).
 * Returns 1 when it prepared, 0 when not. */
static int prepare_one(PGconn *db, int id, enum show show)
{
    FILE *out = show == SHOW_JSON ? stderr : stdout; /* stdout: the JSON lines only */
    char *sql = store_pg_text((enum stmt_id)id);
    if (!sql) {
        fprintf(out, "FAIL %d: no SQL\n", id);
        return 0;
    }
    char name[32];
    snprintf(name, sizeof name, "s%d", id);
    int ok = exec_ok(db, "SAVEPOINT p");
    PGresult *r = ok ? PQprepare(db, name, sql, 0, NULL) : NULL;
    if (r && PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(out, "FAIL %d%s: %s\n  %s", id,
                store_pg_overridden((enum stmt_id)id) ? " (override)" : "", sql,
                PQresultErrorMessage(r));
        ok = 0;
    }
    PQclear(r);
    if (ok && show != SHOW_FAILURES)
        print_params(db, name, id, sql, show);
    exec_ok(db, ok ? "RELEASE p" : "ROLLBACK TO p");
    free(sql);
    return ok;
}

static int apply_migrations(PGconn *db)
{
    for (size_t i = 0; i < schema_pg_migration_count; i++) {
        PGresult *r = PQexec(db, schema_pg_migrations[i]);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "pg_prepare: migration %zu: %s", i + 1, PQresultErrorMessage(r));
        PQclear(r);
        if (!ok)
            return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: pg_prepare URI [-v | -j]\n");
        return 2;
    }
    enum show show = argc < 3                 ? SHOW_FAILURES
                     : !strcmp(argv[2], "-v") ? SHOW_TYPES
                     : !strcmp(argv[2], "-j") ? SHOW_JSON
                                              : SHOW_FAILURES;
    PGconn *db = PQconnectdb(argv[1]);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "pg_prepare: %s", PQerrorMessage(db));
        PQfinish(db);
        return 2;
    }
    if (!exec_ok(db, "BEGIN") || !apply_migrations(db)) {
        PQfinish(db);
        return 2;
    }
    int prepared = 0, overridden = 0;
    for (int id = 0; id < STMT_COUNT; id++) {
        prepared += prepare_one(db, id, show);
        overridden += store_pg_overridden((enum stmt_id)id);
    }
    exec_ok(db, "ROLLBACK");
    PQfinish(db);
    fprintf(show == SHOW_JSON ? stderr : stdout,
            "pg_prepare: %d of %d statements prepared (%d with a PostgreSQL text of their own)\n",
            prepared, STMT_COUNT, overridden);
    return prepared == STMT_COUNT ? 0 : 1;
}
