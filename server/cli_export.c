/* rungd export: what GET /v1/export streams, written to a file or stdout
 * from one read transaction (the same cursor and lines, core/export.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "export.h"
#include "limits.h"
#include "log.h"
#include "progress.h"
#include "store.h"

#define EXPORT_PROGRESS_ROWS 256 /* rows between looks at the progress line's clock */

static void export_usage(FILE *to)
{
    fprintf(to, "usage: rungd export --db PATH --format preference|steps|items [--since MS]\n"
                "                    [--batch B] [--source S] [--min-agreement X] [-o FILE]\n\n"
                "Writes JSON lines, one row each, from one consistent snapshot (safe beside a\n"
                "running daemon). preference: {\"prompt\", \"chosen\", \"rejected\"} with\n"
                "provenance, what 'rungd import --format trl' reads (ties and single-response\n"
                "verdicts are left out); steps: rung's step JSONL of the answered steps, what\n"
                "'rungd import --format steps' reads; items: every item with its status,\n"
                "scores and verdict. --since keeps rows from this time on (milliseconds since\n"
                "the Unix epoch: comparisons created, items updated); --min-agreement only\n"
                "with preference. Without -o the lines go to stdout. A progress line shows on\n"
                "stderr when it is a terminal; with -o a JSON summary ends on stdout.\n");
}

struct export_args {
    const char *db, *out, *format;
    struct store_export_filter f;
    enum store_export_format fmt;
};

/* Sets a filter from its option; -1 to go on, else the exit code. */
static int export_filter_opt(struct export_args *a, const char *name, const char *value)
{
    char why[EXPORT_WHY_MAX];
    if (!export_filter_set(&a->f, name, value, why))
        return -1;
    fprintf(stderr, "rungd export: %s\n", why);
    return 2;
}

/* Parses export's options. Returns -1 to go on, else the exit code. */
static int export_parse(int argc, char **argv, struct export_args *a)
{
#define ARG_OPT(name, c)                                                                           \
    {                                                                                              \
        name, required_argument, NULL, c                                                           \
    }
    static const struct option opts[] = {
        ARG_OPT("db", 'd'),     ARG_OPT("format", 'f'),           ARG_OPT("since", 's'),
        ARG_OPT("batch", 'b'),  ARG_OPT("source", 'r'),           ARG_OPT("min-agreement", 'm'),
        ARG_OPT("output", 'o'), {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
#undef ARG_OPT
    static const char *const filter_names[] = {
        ['s'] = "since", ['b'] = "batch", ['r'] = "source", ['m'] = "min_agreement"};
    int c, rc = -1;
    optind = 1;
    while (rc < 0 && (c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (c == 'd' || c == 'o' || c == 'f')
            *(c == 'd' ? &a->db : c == 'o' ? &a->out : &a->format) = optarg;
        else if (c == 's' || c == 'b' || c == 'r' || c == 'm')
            rc = export_filter_opt(a, filter_names[c], optarg);
        else {
            export_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (rc >= 0)
        return rc;
    char why[EXPORT_WHY_MAX];
    if (optind != argc || !a->format || export_format_parse(a->format, &a->fmt)) {
        fprintf(stderr, "rungd export: give --format preference, steps or items\n");
        return 2;
    }
    if (export_filter_check(a->fmt, &a->f, why)) {
        fprintf(stderr, "rungd export: %s\n", why);
        return 2;
    }
    return -1;
}

/* Writes every row of x to out; *rows counts them. Progress on stderr when
 * it is a terminal. 0, -EIO (a write failed), or the cursor's error. */
static int export_write(struct store_export *x, enum store_export_format fmt, FILE *out,
                        int64_t *rows)
{
    struct progress progress;
    const struct store_export_row *row;
    int rc;
    progress_start(&progress, "rungd export", "rows");
    while ((rc = store_export_next(x, &row)) == 1) {
        size_t len;
        char *line = export_line(fmt, row, &len);
        if (!line)
            return -ENOMEM;
        size_t put = fwrite(line, 1, len, out);
        free(line);
        if (put != len)
            return -EIO;
        if (++*rows % EXPORT_PROGRESS_ROWS == 0)
            progress_update(&progress, *rows, -1);
    }
    progress.done = *rows;
    progress_end(&progress);
    return rc;
}

/* Runs the export into a.out (or stdout). The exit code. */
static int export_run(struct store *s, const struct export_args *a)
{
    FILE *out = a->out ? fopen(a->out, "w") : stdout;
    if (!out) {
        fprintf(stderr, "rungd export: cannot write '%s': %s\n", a->out, strerror(errno));
        return 1;
    }
    struct store_export *x;
    int64_t rows = 0;
    int rc = store_export_open(s, a->fmt, &a->f, &x);
    if (!rc) {
        rc = export_write(x, a->fmt, out, &rows);
        store_export_close(x);
    }
    if (fflush(out) && !rc)
        rc = -EIO;
    if (a->out && fclose(out) && !rc)
        rc = -EIO;
    if (rc) {
        fprintf(stderr, "rungd export: stopped after %lld rows: %s\n", (long long)rows,
                strerror(-rc));
        if (a->out)
            unlink(a->out); /* never leave a cut file that looks whole */
        return 1;
    }
    if (a->out)
        log_write(stdout, json_pack("{s:s,s:I,s:s}", "format", export_format_name(a->fmt), "rows",
                                    (json_int_t)rows, "file", a->out));
    return 0;
}

int cli_export(int argc, char **argv)
{
    struct export_args a = {.db = DB_PATH_DEFAULT};
    int rc = export_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct store *s = cli_open_store("export", a.db, false, &rc);
    if (!s)
        return rc;
    rc = export_run(s, &a);
    store_close(s);
    return rc;
}
