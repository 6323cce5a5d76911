/* rungd import / train / eval / demo: the data tools. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_subq.h"
#include "cli.h"
#include "dataset.h"
#include "feat.h"
#include "layer.h"
#include "limits.h"
#include "log.h"
#include "progress.h"
#include "route.h"
#include "store.h"
#include "subq.h"
#include "train.h"

#define IMPORT_CHUNK 2000              /* rows per transaction */
#define IMPORT_PRIORITY_MAX 1000000000 /* |--priority|, as the API's item priority */
#define PROGRESS_ROWS 256              /* rows between looks at the progress line's clock */

/* ---- import ---- */

struct import_ctx {
    struct store *store;
    enum dataset_format fmt;
    const char *fmt_name;
    bool as_items;
    bool steps;          /* a step format: rows are verdicts (prompt = context, chosen = step) */
    const char *batch;   /* items' batch, "import" by default */
    int64_t priority;    /* items' priority */
    bool trusted;        /* comparisons count as settled: provenance {"trusted": true} */
    size_t duplicates;   /* pairs not stored: the same content is stored already */
    size_t unscored;     /* items the layer could not score: stored for people */
    struct layer *layer; /* scores items on import, may be NULL */
    /* pending rows, strings owned (label: static "yes"/"no" of step rows) */
    char **prompt, **chosen, **rejected;
    const char **label;
    size_t n;
    size_t line_of_last;
    size_t stored;
    size_t seen;
    int rc;
    struct progress progress; /* on a terminal: rows read, rate, time left */
    FILE *in;                 /* the file read, for the share done */
    int64_t in_size;          /* its size in bytes, 0 when unknown */
};

static void import_clear(struct import_ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->prompt[i]);
        free(c->chosen[i]);
        free(c->rejected[i]);
    }
    c->n = 0;
}

/* Deterministic coin from the texts: imported pairs show the chosen reply
 * on either side, so raters cannot learn that "A" is the answer. */
static bool swap_sides(const char *a, const char *b)
{
    return (feat_fnv1a64(a, strlen(a)) ^ feat_fnv1a64(b, strlen(b))) & 1;
}

static int import_comparisons(struct import_ctx *c)
{
    struct store_comparison *rows = calloc(c->n, sizeof *rows);
    if (!rows)
        return -ENOMEM;
    for (size_t i = 0; i < c->n; i++)
        rows[i] = (struct store_comparison){.prompt = c->prompt[i],
                                            .chosen = c->chosen[i],
                                            .rejected = c->rejected[i],
                                            .label = c->steps ? c->label[i] : NULL,
                                            .source = "import",
                                            .weight = 1.0,
                                            .provenance = c->trusted ? "{\"trusted\":true}" : NULL};
    size_t skipped = 0;
    int rc = store_comparisons_add_ex(c->store, rows, c->n, &skipped);
    free(rows);
    c->duplicates += skipped;
    return rc;
}

/* Fills item i of the pending pairs: sides by swap_sides, its prompt's
 * default group (named into name): a GSM8K question's solutions are one
 * group. */
static void import_item_fill(struct import_ctx *c, size_t i, struct store_item_in *it,
                             char name[GROUP_DEFAULT_LEN])
{
    bool swap = swap_sides(c->chosen[i], c->rejected[i]);
    it->prompt = c->prompt[i];
    it->response_a = swap ? c->rejected[i] : c->chosen[i];
    it->response_b = swap ? c->chosen[i] : c->rejected[i];
    it->batch = c->batch;
    it->priority = c->priority;
    it->domain = c->fmt == DATASET_GSM8K ? "math" : NULL;
    it->unique_content = true;
    group_default_name(it->prompt, name);
    it->group = name;
    it->group_seen = -1;
}

/* rc of scoring item it: an item the layer could not score (an external
 * model that failed or timed out) is stored unscored for people, as the
 * API stores it, and the import goes on. 0 or -ENOMEM. */
static int import_scored(struct import_ctx *c, struct store_item_in *it, int rc)
{
    if (!rc || rc == -ENOMEM)
        return rc;
    if (!c->unscored++)
        log_json("warn", "the layer could not score; the items go to people", "{s:s}", "why",
                 strerror(-rc));
    route_unscored(it);
    return 0;
}

/* Scores items[0..m), one group's run of the pending items, with the
 * group as stored and every item of the run (as the API scores one
 * request's items). 0 or negative errno. */
static int import_score_run(struct import_ctx *c, struct store_item_in *items, size_t m,
                            char **scores)
{
    struct route_group g;
    int rc = route_group_read(c->store, 0, items[0].group, &g);
    bool joined = false;
    for (size_t k = 0; k < m && !rc; k++) {
        items[k].group_seen = g.seen;
        route_group_join(&g, items[k].response_a, items[k].response_b);
        joined = joined || g.joined;
    }
    items[0].group_joined = joined; /* marks the group's stored items */
    for (size_t k = 0; k < m && !rc; k++)
        rc = import_scored(c, &items[k],
                           route_store_item_group(c->layer, &items[k], &g.view, &scores[k], NULL));
    route_group_clear(&g);
    return rc;
}

/* Scores the pending items with the active layer: with their groups when
 * it uses them, run by run of items of one group (a GSM8K line's pairs
 * are one run). 0 or negative errno. */
static int import_score(struct import_ctx *c, struct store_item_in *items, char **scores)
{
    struct layer_info info = {0};
    if (c->layer)
        layer_describe(c->layer, &info);
    int rc = 0;
    for (size_t i = 0; i < c->n && !rc;) {
        size_t j = i + 1;
        if (!info.uses_groups) {
            rc = import_scored(c, &items[i],
                               route_store_item(c->layer, &items[i], &scores[i], NULL));
            i = j;
            continue;
        }
        while (j < c->n && !strcmp(items[j].group, items[i].group))
            j++;
        rc = import_score_run(c, items + i, j - i, scores + i);
        i = j;
    }
    return rc;
}

/* Queues the pending pairs as pair items, each scored by the active layer. */
static int import_items(struct import_ctx *c)
{
    struct store_item_in *items = calloc(c->n, sizeof *items);
    struct store_item_ack *acks = calloc(c->n, sizeof *acks);
    char **scores = calloc(c->n, sizeof *scores);
    char(*names)[GROUP_DEFAULT_LEN] = calloc(c->n, sizeof *names);
    int rc = (!items || !acks || !scores || !names) ? -ENOMEM : 0;
    for (size_t i = 0; i < c->n && !rc; i++)
        import_item_fill(c, i, &items[i], names[i]);
    if (!rc)
        rc = import_score(c, items, scores);
    /* Planned as POST /v1/items plans an item: a hard one of a domain with
     * a decomposer is split into sub-questions. */
    for (size_t i = 0; i < c->n && !rc; i++)
        rc = api_subq_plan(c->store, items[i].layer_id ? c->layer : NULL, &items[i]);
    if (!rc) {
        struct store_ingest req = {.key_id = 0, .items = items, .n = c->n, .acks = acks};
        rc = store_ingest(c->store, &req);
    }
    for (size_t i = 0; !rc && i < c->n; i++)
        c->duplicates += acks[i].existed;
    for (size_t i = 0; scores && i < c->n; i++)
        free(scores[i]);
    for (size_t i = 0; items && i < c->n; i++)
        subq_plan_free(items[i].subq);
    free(scores);
    free(names);
    free(items);
    free(acks);
    return rc;
}

static int import_flush(struct import_ctx *c)
{
    if (!c->n)
        return 0;
    size_t before = c->duplicates;
    int rc = c->as_items ? import_items(c) : import_comparisons(c);
    if (!rc)
        c->stored += c->n - (c->duplicates - before);
    import_clear(c);
    return rc;
}

/* Keeps one row (rejected NULL for a step verdict), flushing full chunks. */
static int import_row(struct import_ctx *c, const char *prompt, const char *chosen,
                      const char *rejected, const char *label)
{
    c->prompt[c->n] = strdup(prompt);
    c->chosen[c->n] = strdup(chosen);
    c->rejected[c->n] = rejected ? strdup(rejected) : NULL;
    c->label[c->n] = label;
    c->n++;
    c->seen++;
    if (!c->prompt[c->n - 1] || !c->chosen[c->n - 1] || (rejected && !c->rejected[c->n - 1]))
        return -ENOMEM;
    if (c->n == IMPORT_CHUNK) {
        int rc = import_flush(c);
        if (rc)
            return rc;
    }
    if (c->seen % PROGRESS_ROWS == 0)
        progress_update(&c->progress, (int64_t)c->seen, progress_file_share(c->in, c->in_size));
    return 0;
}

static int on_pair(void *cls, const struct dataset_pair *p)
{
    return import_row(cls, p->prompt, p->chosen, p->rejected, NULL);
}

/* A step verdict trains the pointwise head: the step judged in its
 * context, as layer_score_step scores it. */
static int on_step(void *cls, const struct dataset_step *s)
{
    return import_row(cls, s->context, s->step, NULL, s->good ? "yes" : "no");
}

static void on_bad_line(void *cls, size_t line_no, const char *message)
{
    (void)cls;
    fprintf(stderr, "line %zu: rejected: %s\n", line_no, message);
}

static void import_usage(FILE *to)
{
    fprintf(to,
            "usage: rungd import --db PATH --format hh|trl|gsm8k|steps|prm800k\n"
            "                    --as comparisons|items [--trusted] [--batch NAME] [--priority N] "
            "FILE\n\n"
            "  comparisons: store the pairs as human-labelled training data (source import);\n"
            "               --trusted marks them settled (provenance {\"trusted\": true});\n"
            "               steps and prm800k files hold step verdicts (rung's step JSONL,\n"
            "               PRM800K's labels): each is stored as a yes/no verdict on the step\n"
            "               in its context, which trains the layer's pointwise head\n"
            "  items:       queue them as pair items to be judged (scored by the active layer,\n"
            "               planned as POST /v1/items plans them; \"unscored\" in the summary\n"
            "               counts those the layer could not score, stored for people),\n"
            "               in batch NAME (default import, at most %d bytes) with priority N\n"
            "               (default 0, |N| <= %d; higher is labelled first)\n"
            "Creates the database if it does not exist. Malformed lines are reported by\n"
            "number and skipped; exit code 1 if any was, or if the file yields no pair.\n"
            "Pairs are stored once by content: \"duplicates\" in the JSON summary counts\n"
            "those not stored because the same pair (comparisons: prompt, chosen, rejected,\n"
            "source; items: prompt, both responses, batch) was stored already, by an\n"
            "earlier import or earlier in the file. A file of duplicates only exits 0.\n",
            STORE_LABEL_MAX, IMPORT_PRIORITY_MAX);
}

/* Applies one option c of import to ctx (and *db, *as). Returns 0, -EINVAL
 * for a bad value (said on stderr), -ENOENT when c is not one. */
static int import_option(int c, const char *v, struct import_ctx *ctx, const char **db,
                         const char **as)
{
    if (c == 'd')
        *db = v;
    else if (c == 'f')
        ctx->fmt_name = v;
    else if (c == 'a')
        *as = v;
    else if (c == 't')
        ctx->trusted = true;
    else if (c == 'b' && (!*v || strlen(v) > STORE_LABEL_MAX)) {
        fprintf(stderr, "rungd import: --batch wants 1-%d bytes\n", STORE_LABEL_MAX);
        return -EINVAL;
    } else if (c == 'b')
        ctx->batch = v;
    else if (c == 'p' &&
             util_parse_i64(v, -IMPORT_PRIORITY_MAX, IMPORT_PRIORITY_MAX, &ctx->priority)) {
        fprintf(stderr, "rungd import: --priority wants an integer in [-%d, %d]\n",
                IMPORT_PRIORITY_MAX, IMPORT_PRIORITY_MAX);
        return -EINVAL;
    } else if (c != 'p')
        return -ENOENT;
    return 0;
}

/* Parses import's options. Returns -1 to go on, else the exit code. */
static int import_parse(int argc, char **argv, const char **db, struct import_ctx *ctx,
                        const char **as)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},    {"format", required_argument, NULL, 'f'},
        {"as", required_argument, NULL, 'a'},    {"trusted", no_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'}, {"priority", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    int c;
    bool item_opts = false;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = import_option(c, optarg, ctx, db, as);
        item_opts |= c == 'b' || c == 'p';
        if (rc == -EINVAL)
            return 2;
        if (rc == -ENOENT) {
            import_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (*as && !strcmp(*as, "comparisons") && item_opts) {
        fprintf(stderr, "rungd import: --batch and --priority are for --as items\n");
        return 2;
    }
    if (*as && !strcmp(*as, "items") && ctx->trusted) {
        fprintf(stderr, "rungd import: --trusted is for --as comparisons\n");
        return 2;
    }
    return -1;
}

/* Says on stderr why a file gave no pair, with a hint for its format. */
static void import_nothing(const struct import_ctx *c, const struct dataset_stats *st)
{
    if (c->fmt == DATASET_GSM8K)
        fprintf(stderr, "rungd import: no pairs: this GSM8K file has no model solutions (no "
                        "question with both a correct and an incorrect one); use "
                        "model_solutions.jsonl, not train.jsonl or test.jsonl\n");
    else
        fprintf(stderr, "rungd import: no %s: %zu lines, none a valid %s line\n",
                c->steps ? "step verdicts" : "pairs", st->lines, c->fmt_name);
}

/* Reads the file into the store. Returns 0 or negative errno. */
static int import_run(struct import_ctx *ctx, FILE *f, struct dataset_stats *stats)
{
    int rc = -ENOMEM;
    if (ctx->as_items && layer_open(ctx->store, 0, &ctx->layer))
        fprintf(stderr, "rungd import: the active layer does not load; items go to humans\n");
    ctx->prompt = calloc(IMPORT_CHUNK, sizeof(char *));
    ctx->chosen = calloc(IMPORT_CHUNK, sizeof(char *));
    ctx->rejected = calloc(IMPORT_CHUNK, sizeof(char *));
    ctx->label = calloc(IMPORT_CHUNK, sizeof(char *));
    ctx->in = f;
    ctx->in_size = progress_file_size(f);
    progress_start(&ctx->progress, "rungd import", ctx->steps ? "steps" : "pairs");
    if (ctx->prompt && ctx->chosen && ctx->rejected && ctx->label) {
        rc = ctx->steps ? dataset_read_steps(f, ctx->fmt, on_step, on_bad_line, ctx, stats)
                        : dataset_read(f, ctx->fmt, on_pair, on_bad_line, ctx, stats);
        if (!rc)
            rc = import_flush(ctx);
    }
    /* Items whose group grew later in the file are scored again with it,
     * as a daemon's watcher would. */
    struct route_rescore run = {0};
    if (!rc && ctx->layer)
        rc = route_group_rescore(ctx->store, ctx->layer, &run);
    ctx->progress.done = (int64_t)ctx->seen;
    progress_end(&ctx->progress);
    import_clear(ctx);
    free(ctx->prompt);
    free(ctx->chosen);
    free(ctx->rejected);
    free(ctx->label);
    layer_free(ctx->layer);
    return rc;
}

int cli_import(int argc, char **argv)
{
    const char *db = DB_PATH_DEFAULT, *as = NULL;
    struct import_ctx ctx = {.batch = "import"};
    int rc = import_parse(argc, argv, &db, &ctx, &as);
    if (rc >= 0)
        return rc;
    if (!ctx.fmt_name || !as || optind != argc - 1 ||
        dataset_format_parse(ctx.fmt_name, &ctx.fmt) ||
        (strcmp(as, "comparisons") && strcmp(as, "items"))) {
        import_usage(stderr);
        return 2;
    }
    ctx.as_items = !strcmp(as, "items");
    ctx.steps = dataset_format_is_steps(ctx.fmt);
    if (ctx.steps && ctx.as_items) {
        fprintf(stderr, "rungd import: %s files hold step verdicts: use --as comparisons\n",
                ctx.fmt_name);
        return 2;
    }
    FILE *f = fopen(argv[optind], "r");
    if (!f) {
        fprintf(stderr, "rungd import: cannot open %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    int open_rc = 1;
    ctx.store = cli_open_store("import", db, true, &open_rc);
    struct dataset_stats stats = {0};
    rc = ctx.store ? import_run(&ctx, f, &stats) : -EIO;
    fclose(f);
    if (!ctx.store)
        return open_rc;
    store_close(ctx.store);
    if (rc) {
        fprintf(stderr, "rungd import: stopped: %s; %zu %s stored before the error\n",
                strerror(rc < 0 ? -rc : EIO), ctx.stored, as);
        return 1;
    }
    size_t found = ctx.steps ? stats.steps : stats.pairs;
    log_write(stdout, json_pack("{s:I,s:I,s:I,s:s,s:I,s:I,s:I}", "lines", (json_int_t)stats.lines,
                                ctx.steps ? "steps" : "pairs", (json_int_t)found, "stored",
                                (json_int_t)ctx.stored, "as", as, "rejected_lines",
                                (json_int_t)stats.rejected_lines, "duplicates",
                                (json_int_t)ctx.duplicates, "unscored", (json_int_t)ctx.unscored));
    if (found == 0)
        import_nothing(&ctx, &stats);
    else if (ctx.stored == 0)
        fprintf(stderr, "rungd import: all %zu %s were already stored; nothing new\n", found,
                ctx.steps ? "steps" : "pairs");
    return stats.rejected_lines || found == 0 ? 1 : 0;
}

/* ---- train ---- */

static void train_usage(FILE *to)
{
    fprintf(to,
            "usage: rungd train --db PATH [--seed N] [--members M] [--bits B] [--target 0.95]\n"
            "                   [--activate] [--include-layer-verdicts] [--max-rows N]\n\n"
            "Trains a candidate layer from the newest stored comparisons people decided (at\n"
            "most --max-rows, default %d; with --include-layer-verdicts also those a\n"
            "layer's verdicts helped decide) and prints its JSON report with its lineage.\n"
            "With --activate, or when no layer is active yet, it goes through\n"
            "the promotion check against what is settled and becomes active only if it passes\n"
            "(else it is rejected, its contradictions flagged, and --activate exits 1). A\n"
            "running daemon picks the new active layer up within %u second%s.\n",
            TRAIN_ROWS_DEFAULT, LAYER_POLL_MS / 1000, LAYER_POLL_MS / 1000 == 1 ? "" : "s");
}

/* Applies one training option to p. Returns 0, -EINVAL for a bad value,
 * -ENOENT when c is not one. */
static int train_option(int c, const char *v, struct train_run *run)
{
    struct reward_params *p = &run->params;
    int64_t n;
    int rc = -ENOENT;
    char *end;
    if (c == 's' && !(rc = util_parse_i64(v, 0, INT64_MAX, &n)))
        p->seed = (uint64_t)n;
    else if (c == 'm' && !(rc = util_parse_i64(v, 1, REWARD_MEMBERS_MAX, &n)))
        p->members = (unsigned)n;
    else if (c == 'b' && !(rc = util_parse_i64(v, TRAIN_BITS_MIN, TRAIN_BITS_MAX, &n)))
        p->bits = (unsigned)n;
    else if (c == 'r' && !(rc = util_parse_i64(v, 1, TRAIN_ROWS_MAX, &n)))
        run->max_rows = (size_t)n;
    else if (c == 't') {
        p->target = strtod(v, &end);
        rc = *end || !(p->target > 0.5 && p->target < 1.0) ? -EINVAL : 0;
    }
    return rc;
}

/* Parses train's options. Returns -1 to go on, else the exit code. */
static int train_parse(int argc, char **argv, const char **db, struct train_run *run)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"members", required_argument, NULL, 'm'},
                                         {"bits", required_argument, NULL, 'b'},
                                         {"target", required_argument, NULL, 't'},
                                         {"activate", no_argument, NULL, 'a'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"include-layer-verdicts", no_argument, NULL, 'L'},
                                         {"max-rows", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = train_option(c, optarg, run);
        if (rc == -EINVAL) {
            fprintf(stderr,
                    "rungd train: bad value '%s' (members 1-%u, bits %d-%d, target in "
                    "(0.5, 1), max-rows 1-%d)\n",
                    optarg, REWARD_MEMBERS_MAX, TRAIN_BITS_MIN, TRAIN_BITS_MAX, TRAIN_ROWS_MAX);
            return 2;
        }
        if (rc == 0)
            continue;
        if (c == 'd')
            *db = optarg;
        else if (c == 'a' || c == 'L')
            *(c == 'a' ? &run->activate : &run->include_layer) = true;
        else {
            train_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        train_usage(stderr);
        return 2;
    }
    return -1;
}

/* The training set is read: its size becomes the count of the progress
 * line (training itself reports no steps, so no time left is shown). */
static void train_progress(void *cls, size_t npairs, size_t npoints)
{
    progress_update(cls, (int64_t)(npairs + npoints), -1);
}

static void train_failed(const struct train_run *run, int rc)
{
    if (run->stage == TRAIN_READ)
        fprintf(stderr, "rungd train: cannot read comparisons (%s)\n", strerror(-rc));
    else if (run->stage == TRAIN_EMPTY)
        fprintf(stderr, "rungd train: the database holds no comparisons yet: import some "
                        "(rungd import) or label items\n");
    else if (run->stage == TRAIN_FIT)
        fprintf(stderr, "rungd train: training failed\n");
    else if (run->stage == TRAIN_CHECK)
        fprintf(stderr,
                "rungd train: the layer is stored as a candidate, but the promotion check "
                "failed (%s)\n",
                strerror(-rc));
    else
        fprintf(stderr, "rungd train: cannot store the layer (%s)\n", strerror(-rc));
}

int cli_train(int argc, char **argv)
{
    const char *db = DB_PATH_DEFAULT;
    struct progress progress;
    struct train_run run = {.progress = train_progress, .cls = &progress, .actor = "rungd train"};
    reward_params_default(&run.params);
    int rc = train_parse(argc, argv, &db, &run);
    if (rc >= 0)
        return rc;
    struct store *s = cli_open_store("train", db, false, &rc);
    if (!s)
        return rc;
    progress_start(&progress, "rungd train", "comparisons");
    rc = train_layer(s, &run);
    progress_end(&progress);
    store_close(s);
    if (rc) {
        train_failed(&run, rc);
        return 1;
    }
    json_dumpf(run.report, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    printf("\n");
    const char *status = json_string_value(json_object_get(run.report, "status"));
    bool rejected = status && !strcmp(status, "rejected");
    if (rejected)
        fprintf(stderr, "rungd train: the new layer failed the check against what is settled: "
                        "rejected (see \"consistency\")\n");
    json_decref(run.report);
    return rejected && run.activate ? 1 : 0;
}

/* ---- eval ---- */

/* What eval reads into: the pairs, and the progress line over the file. */
struct eval_read {
    struct train_pairs pairs;
    struct progress progress;
    FILE *in;
    int64_t in_size; /* bytes, 0 when unknown */
};

static int eval_pair(void *cls, const struct dataset_pair *p)
{
    struct eval_read *e = cls;
    bool swap = swap_sides(p->chosen, p->rejected);
    int rc = train_pairs_add(&e->pairs, p->prompt, swap ? p->rejected : p->chosen,
                             swap ? p->chosen : p->rejected, swap ? 0.0 : 1.0, 1.0);
    if (e->pairs.n % PROGRESS_ROWS == 0)
        progress_update(&e->progress, (int64_t)e->pairs.n, progress_file_share(e->in, e->in_size));
    return rc;
}

static void eval_usage(FILE *to)
{
    fprintf(to,
            "usage: rungd eval --db PATH [--layer ID] --format hh|trl|gsm8k FILE\n\n"
            "Prints {pairs, accuracy, log_loss, ece, threshold, coverage, accuracy_on_covered}\n"
            "for the layer (default: the active one) on the file's pairs, plus\n"
            "seen_in_training (pairs that are also stored comparisons, warned about on stderr)\n"
            "and unseen {pairs, accuracy, log_loss, ece, coverage, accuracy_on_covered} on the\n"
            "others.\n");
}

/* Parses eval's options. Returns -1 to go on, else the exit code. */
static int eval_parse(int argc, char **argv, const char **db, int64_t *layer_id,
                      enum dataset_format *f)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"layer", required_argument, NULL, 'l'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *fmt = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd') {
            *db = optarg;
        } else if (c == 'f') {
            fmt = optarg;
        } else if (c != 'l' || util_parse_i64(optarg, 1, INT64_MAX, layer_id)) {
            eval_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (!fmt || dataset_format_parse(fmt, f) || optind != argc - 1) {
        eval_usage(stderr);
        return 2;
    }
    return -1;
}

/* Adds "seen_in_training" (how many of the pairs are also stored
 * comparisons: the layer may have trained on them) and "unseen" (the
 * metrics on the others) to res, warning on stderr when any was seen.
 * Returns 0 or a negative errno. */
static int eval_unseen(struct store *s, const struct layer *l, const struct train_pairs *pairs,
                       json_t *res)
{
    bool *seen = calloc(pairs->n, sizeof *seen);
    struct reward_pair_ex *rest = calloc(pairs->n, sizeof *rest);
    json_t *u = NULL;
    size_t nseen = 0, n = 0;
    int rc = !seen || !rest ? -ENOMEM : train_pairs_seen(s, pairs, seen, &nseen);
    if (rc)
        goto out;
    for (size_t i = 0; i < pairs->n; i++)
        if (!seen[i])
            rest[n++] = pairs->v[i]; /* borrowed strings */
    rc = layer_evaluate(l, rest, n, &u);
    if (rc)
        goto out;
    json_object_del(u, "layer_id");
    json_object_del(u, "threshold");
    if (nseen)
        fprintf(stderr,
                "rungd eval: warning: %zu of %zu pairs are also stored comparisons (training "
                "data); \"unseen\" reports the other %zu\n",
                nseen, pairs->n, n);
    rc =
        json_object_set_new(res, "seen_in_training", json_integer((json_int_t)nseen)) ? -ENOMEM : 0;
    if (!rc && json_object_set_new(res, "unseen", u))
        rc = -ENOMEM;
    u = NULL; /* stolen */
out:
    json_decref(u);
    free(seen);
    free(rest);
    return rc;
}

/* Scores the file's pairs with the layer and prints the metrics. Returns
 * the exit code. */
static int eval_run(struct store *s, int64_t layer_id, FILE *in, enum dataset_format f)
{
    struct layer *l = NULL;
    struct eval_read e = {.in = in, .in_size = progress_file_size(in)};
    json_t *res = NULL;
    int exit_code = 1;
    if (layer_open(s, layer_id, &l) || !l) {
        fprintf(stderr, "rungd eval: %s\n",
                layer_id ? "no such layer" : "no active layer: train one first");
        goto out;
    }
    struct dataset_stats stats = {0};
    progress_start(&e.progress, "rungd eval", "pairs");
    int rc = dataset_read(in, f, eval_pair, on_bad_line, &e, &stats);
    e.progress.done = (int64_t)e.pairs.n;
    progress_end(&e.progress);
    if (rc || e.pairs.n == 0) {
        fprintf(stderr, "rungd eval: %s\n",
                rc ? strerror(rc < 0 ? -rc : EIO) : "no pairs in the file");
        goto out;
    }
    if (layer_evaluate(l, e.pairs.v, e.pairs.n, &res) || eval_unseen(s, l, &e.pairs, res))
        goto out;
    json_dumpf(res, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("\n");
    exit_code = 0;
out:
    json_decref(res);
    train_pairs_clear(&e.pairs);
    layer_free(l);
    return exit_code;
}

int cli_eval(int argc, char **argv)
{
    const char *db = DB_PATH_DEFAULT;
    int64_t layer_id = 0;
    enum dataset_format f;
    int rc = eval_parse(argc, argv, &db, &layer_id, &f);
    if (rc >= 0)
        return rc;
    FILE *in = fopen(argv[optind], "r");
    if (!in) {
        fprintf(stderr, "rungd eval: cannot open %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    struct store *s = cli_open_store("eval", db, false, &rc);
    rc = s ? eval_run(s, layer_id, in, f) : rc;
    store_close(s);
    fclose(in);
    return rc;
}
