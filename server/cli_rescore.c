/* rungd rescore: the items still waiting for their first human label get
 * the active layer's scores and route now (the daemon does the same by
 * itself when a layer becomes active). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "layer.h"
#include "limits.h"
#include "log.h"
#include "route.h"
#include "store.h"

static void rescore_usage(FILE *to)
{
    fprintf(to,
            "usage: rungd rescore --db PATH\n\n"
            "Scores every item still waiting for its first human label (no label, no live\n"
            "lease) that the active layer has not scored, or whose sample group grew since\n"
            "it was scored, with the active layer, in batches of %d per transaction: a\n"
            "confident one is settled by the layer (its task closed), the others keep their\n"
            "task with the layer's scores as assistance. Prints {\"layer_id\", \"rescored\", "
            "\"auto\",\n"
            "\"still_human\"}. Safe beside a running daemon.\n",
            ROUTE_RESCORE_BATCH);
}

/* Parses rescore's options. Returns -1 to go on, else the exit code. */
static int rescore_parse(int argc, char **argv, const char **db)
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
        rescore_usage(c == 'h' ? stdout : stderr);
        return c == 'h' ? 0 : 2;
    }
    if (optind != argc) {
        rescore_usage(stderr);
        return 2;
    }
    return -1;
}

int cli_rescore(int argc, char **argv)
{
    const char *db = DB_PATH_DEFAULT;
    int rc = rescore_parse(argc, argv, &db);
    if (rc >= 0)
        return rc;
    struct store *s = cli_open_store("rescore", db, false, &rc);
    if (!s)
        return rc;
    struct layer *l = NULL;
    struct route_rescore run = {0};
    int exit_code = 1;
    rc = layer_open(s, 0, &l);
    if (rc || !l) {
        fprintf(stderr, "rungd rescore: %s\n",
                rc ? "the active layer does not load" : "no active layer: train one first");
        goto out;
    }
    rc = route_rescore(s, l, &run);
    struct route_rescore grown = {0}; /* then the items whose sample group grew */
    if (!rc)
        rc = route_group_rescore(s, l, &grown);
    run.rescored += grown.rescored;
    run.settled += grown.settled;
    run.still_human += grown.still_human;
    if (rc) {
        fprintf(stderr, "rungd rescore: stopped: %s; %zu items rescored before the error\n",
                strerror(-rc), run.rescored);
        goto out;
    }
    log_write(stdout,
              json_pack("{s:I,s:I,s:I,s:I}", "layer_id", (json_int_t)layer_id(l), "rescored",
                        (json_int_t)run.rescored, "auto", (json_int_t)run.settled, "still_human",
                        (json_int_t)run.still_human));
    exit_code = 0;
out:
    layer_free(l);
    store_close(s);
    return exit_code;
}
