/* rungd copy-db: moves a deployment between databases, SQLite or
 * PostgreSQL either side (core/store_copy.c). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "limits.h"
#include "log.h"
#include "store.h"
#include "store_copy.h"
#include "util.h"

static void copy_usage(FILE *to)
{
    fprintf(to,
            "usage: rungd copy-db --from PATH_OR_URI --to PATH_OR_URI\n\n"
            "Copies every row of a rung database (keys, raters, layers, items, tasks,\n"
            "leases, labels, comparisons, sub-questions, audits, events, webhooks and\n"
            "their outbox, ...) into another one, SQLite (a path) or PostgreSQL\n"
            "(postgresql://...) on either side. The source is read in one consistent\n"
            "snapshot, safe while a daemon serves it; rows are streamed, %d to a\n"
            "destination transaction. The destination must hold no rung data (a new\n"
            "file, or a database without rung's tables or with its empty schema); it is\n"
            "migrated first and never overwritten. Ids are kept. Progress goes to stderr\n"
            "as JSON lines; at the end every table is counted on both sides, and a JSON\n"
            "summary {\"tables\": {name: rows}, \"rows\", \"seconds\"} ends on stdout.\n"
            "Exit status: 0 copied; 1 a failure or counts that differ (the destination\n"
            "then holds a partial copy: remove it before trying again); 2 a bad command\n"
            "line, a missing source, a source of another schema version, or a\n"
            "destination that holds data.\n",
            STORE_COPY_CHUNK);
}

/* Parses copy-db's options. Returns -1 to go on, else the exit code. */
static int copy_parse(int argc, char **argv, const char **from, const char **to)
{
    static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'f' || c == 't') {
            *(c == 'f' ? from : to) = optarg;
            continue;
        }
        copy_usage(c == 'h' ? stdout : stderr);
        return c == 'h' ? 0 : 2;
    }
    if (!*from || !*to || optind != argc) {
        fprintf(stderr, "rungd copy-db: give --from PATH_OR_URI and --to PATH_OR_URI\n");
        copy_usage(stderr);
        return 2;
    }
    return -1;
}

struct copy_clock {
    uint64_t t0;
};

/* One JSON line on stderr per table done, and every STORE_COPY_PROGRESS
 * rows within a large one. */
static void copy_progress(void *cls, const struct store_copy_table *t, bool done)
{
    const struct copy_clock *k = cls;
    if (!done && t->copied == 0)
        return; /* a table starts */
    log_json("info", done ? "copied table" : "copying table", "{s:s,s:I,s:I,s:I}", "table", t->name,
             "rows", (json_int_t)t->copied, "of", (json_int_t)t->source, "ms",
             (json_int_t)((util_mono_us() - k->t0) / 1000));
}

/* The summary on stdout: {"tables": {name: rows}, "rows": N, "seconds": S}. */
static int copy_summary(const struct store_copy_report *rep, double seconds)
{
    json_t *tabs = json_object();
    for (size_t i = 0; tabs && i < rep->n; i++)
        json_object_set_new(tabs, rep->tables[i].name, json_integer(rep->tables[i].dest));
    json_t *sum = json_pack("{s:o*,s:I,s:f}", "tables", tabs, "rows", (json_int_t)rep->rows,
                            "seconds", seconds);
    char *text = sum ? json_dumps(sum, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(sum);
    int rc = text && printf("%s\n", text) > 0 && fflush(stdout) == 0 ? 0 : 1;
    free(text);
    return rc;
}

int cli_copy(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    int rc = copy_parse(argc, argv, &from, &to);
    if (rc >= 0)
        return rc;
    char src[512], dst[512], err[ERR_TEXT_MAX];
    store_db_label(from, src, sizeof src);
    store_db_label(to, dst, sizeof dst);
    log_json("info", "copy-db", "{s:s,s:s}", "from", src, "to", dst);
    struct copy_clock k = {util_mono_us()};
    struct store_copy_report rep;
    rc = store_copy(from, to, copy_progress, &k, &rep, err, sizeof err);
    double s = (double)(util_mono_us() - k.t0) / 1e6;
    if (rc == -ENOENT || rc == -EEXIST || rc == -EPROTO) {
        fprintf(stderr, "rungd copy-db: %s\n", err);
        return 2;
    }
    if (rc) {
        fprintf(stderr, "rungd copy-db: %s%s\n", err,
                rep.n ? " (the destination holds a partial copy: remove it before trying again)"
                      : "");
        return 1;
    }
    return copy_summary(&rep, s);
}
