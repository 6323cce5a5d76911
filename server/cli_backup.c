/* rungd backup: a consistent copy of the database, safe while the daemon
 * serves (core/store_backup.c). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "limits.h"
#include "store.h"
#include "store_backup.h"
#include "util.h"

static void backup_usage(FILE *to)
{
    fprintf(to, "usage: rungd backup --db PATH OUT\n\n"
                "Copies the database at PATH into the new file OUT (never overwritten) from\n"
                "one consistent snapshot: every write committed when the copy began, nothing\n"
                "after. Safe while 'rungd serve' runs on PATH; it keeps serving. The copy is\n"
                "checked (PRAGMA integrity_check), is one self-contained file (no -wal), and\n"
                "is synced before it takes the name OUT. A JSON summary ends on stdout.\n"
                "Restore: stop the daemon, move PATH and any PATH-wal and PATH-shm aside,\n"
                "copy OUT to PATH, start the daemon.\n");
}

/* Parses backup's options into *db and *out. Returns -1 to go on, else the
 * exit code. */
static int backup_parse(int argc, char **argv, const char **db, const char **out)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd') {
            *db = optarg;
            continue;
        }
        backup_usage(c == 'h' ? stdout : stderr);
        return c == 'h' ? 0 : 2;
    }
    if (!*db || optind != argc - 1) {
        fprintf(stderr, "rungd backup: give --db PATH and one OUT file\n");
        backup_usage(stderr);
        return 2;
    }
    *out = argv[optind];
    return -1;
}

int cli_backup(int argc, char **argv)
{
    const char *db = NULL, *out = NULL;
    int rc = backup_parse(argc, argv, &db, &out);
    if (rc >= 0)
        return rc;
    if (store_is_uri(db)) {
        fprintf(stderr, "rungd backup: a PostgreSQL database is backed up with its own tools "
                        "(pg_dump, or base backups and WAL archiving)\n");
        return 2;
    }
    if (cli_db_missing(db)) {
        fprintf(stderr, "rungd backup: no database at '%s'\n", db);
        return 2;
    }
    struct store_backup_stats st;
    char err[ERR_TEXT_MAX];
    uint64_t t0 = util_mono_us();
    if (store_backup(db, out, &st, err, sizeof err)) {
        fprintf(stderr, "rungd backup: %s\n", err);
        return 1;
    }
    double s = (double)(util_mono_us() - t0) / 1e6;
    /* Paths are bytes, not JSON: the summary names the pages and bytes only. */
    printf("{\"pages\":%lld,\"bytes\":%lld,\"schema_version\":%lld,\"seconds\":%.3f}\n",
           (long long)st.pages, (long long)st.bytes, (long long)st.user_version, s);
    return 0;
}
