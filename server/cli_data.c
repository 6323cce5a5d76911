/* rungd import / train / eval / demo: the data tools. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "feat.h"
#include "reward.h"
#include "route.h"
#include "store.h"

#define IMPORT_CHUNK 2000    /* rows per transaction */
#define PROGRESS_EVERY 10000 /* lines between progress lines */

/* ---- import ---- */

struct import_ctx {
    struct store *store;
    enum dataset_format fmt;
    const char *fmt_name;
    bool as_items;
    struct reward_layer *layer; /* scores items on import, may be NULL */
    int64_t layer_id;
    /* pending rows, strings owned */
    char **prompt, **chosen, **rejected;
    size_t n;
    size_t line_of_last;
    size_t stored;
    size_t seen;
    int rc;
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

static int import_flush(struct import_ctx *c)
{
    if (!c->n)
        return 0;
    int rc;
    if (!c->as_items) {
        struct store_comparison *rows = calloc(c->n, sizeof *rows);
        if (!rows)
            return -ENOMEM;
        for (size_t i = 0; i < c->n; i++)
            rows[i] = (struct store_comparison){.prompt = c->prompt[i],
                                                .chosen = c->chosen[i],
                                                .rejected = c->rejected[i],
                                                .source = "import",
                                                .weight = 1.0};
        rc = store_comparisons_add(c->store, rows, c->n);
        free(rows);
    } else {
        struct store_item_in *items = calloc(c->n, sizeof *items);
        struct store_item_ack *acks = calloc(c->n, sizeof *acks);
        char **scores = calloc(c->n, sizeof *scores);
        rc = (!items || !acks || !scores) ? -ENOMEM : 0;
        for (size_t i = 0; i < c->n && !rc; i++) {
            bool swap = swap_sides(c->chosen[i], c->rejected[i]);
            struct store_item_in *it = &items[i];
            it->prompt = c->prompt[i];
            it->response_a = swap ? c->rejected[i] : c->chosen[i];
            it->response_b = swap ? c->chosen[i] : c->rejected[i];
            it->batch = "import";
            it->domain = c->fmt == DATASET_GSM8K ? "math" : NULL;
            struct route_decision d;
            rc = route_item(c->layer, c->layer_id, it->prompt, it->response_a, it->response_b, &d);
            if (rc)
                break;
            it->layer_id = d.scored ? c->layer_id : 0;
            it->route_auto = d.auto_route;
            it->verdict = d.verdict;
            it->confidence = d.confidence;
            if (d.scores)
                scores[i] = json_dumps(d.scores, JSON_COMPACT | JSON_REAL_PRECISION(6));
            it->scores = scores[i];
            json_decref(d.scores);
        }
        if (!rc) {
            struct store_ingest req = {.key_id = 0, .items = items, .n = c->n, .acks = acks};
            rc = store_ingest(c->store, &req);
        }
        for (size_t i = 0; scores && i < c->n; i++)
            free(scores[i]);
        free(scores);
        free(items);
        free(acks);
    }
    if (!rc)
        c->stored += c->n;
    import_clear(c);
    return rc;
}

static int on_pair(void *cls, const struct dataset_pair *p)
{
    struct import_ctx *c = cls;
    c->prompt[c->n] = strdup(p->prompt);
    c->chosen[c->n] = strdup(p->chosen);
    c->rejected[c->n] = strdup(p->rejected);
    c->n++;
    c->seen++;
    if (!c->prompt[c->n - 1] || !c->chosen[c->n - 1] || !c->rejected[c->n - 1])
        return -ENOMEM;
    if (c->n == IMPORT_CHUNK) {
        int rc = import_flush(c);
        if (rc)
            return rc;
    }
    if (c->seen % PROGRESS_EVERY == 0)
        fprintf(stderr, "import: %zu pairs so far\n", c->seen);
    return 0;
}

static void on_bad_line(void *cls, size_t line_no, const char *message)
{
    (void)cls;
    fprintf(stderr, "line %zu: rejected: %s\n", line_no, message);
}

static void import_usage(FILE *to)
{
    fprintf(to,
            "usage: rungd import --db PATH --format hh|trl|gsm8k --as comparisons|items FILE\n\n"
            "  comparisons: store the pairs as human-labelled training data (source import)\n"
            "  items:       queue them as pair items to be judged (scored by the active layer)\n"
            "Malformed lines are reported by number and skipped; exit code 1 if any was.\n");
}

/* Loads the active layer, if any, for scoring. */
static struct reward_layer *load_layer(struct store *s, int64_t want, int64_t *id)
{
    *id = want ? want : store_layer_active_id(s);
    if (*id <= 0)
        return NULL;
    void *blob = NULL;
    size_t len = 0;
    if (store_layer_params(s, *id, &blob, &len))
        return NULL;
    struct reward_layer *l = reward_load(blob, len);
    free(blob);
    return l;
}

int cli_import(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"as", required_argument, NULL, 'a'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = "rung.db", *fmt = NULL, *as = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'a':
            as = optarg;
            break;
        case 'h':
            import_usage(stdout);
            return 0;
        default:
            import_usage(stderr);
            return 2;
        }
    }
    struct import_ctx ctx = {.fmt_name = fmt};
    if (!fmt || !as || optind != argc - 1 || dataset_format_parse(fmt, &ctx.fmt) ||
        (strcmp(as, "comparisons") && strcmp(as, "items"))) {
        import_usage(stderr);
        return 2;
    }
    ctx.as_items = !strcmp(as, "items");
    FILE *f = fopen(argv[optind], "r");
    if (!f) {
        fprintf(stderr, "rungd import: cannot open %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    ctx.store = cli_open_store(db);
    if (!ctx.store) {
        fclose(f);
        return 1;
    }
    if (ctx.as_items)
        ctx.layer = load_layer(ctx.store, 0, &ctx.layer_id);
    ctx.prompt = calloc(IMPORT_CHUNK, sizeof(char *));
    ctx.chosen = calloc(IMPORT_CHUNK, sizeof(char *));
    ctx.rejected = calloc(IMPORT_CHUNK, sizeof(char *));
    struct dataset_stats stats = {0};
    int rc = -ENOMEM;
    if (ctx.prompt && ctx.chosen && ctx.rejected) {
        rc = dataset_read(f, ctx.fmt, on_pair, on_bad_line, &ctx, &stats);
        if (!rc)
            rc = import_flush(&ctx);
    }
    import_clear(&ctx);
    free(ctx.prompt);
    free(ctx.chosen);
    free(ctx.rejected);
    fclose(f);
    reward_free(ctx.layer);
    store_close(ctx.store);
    if (rc) {
        fprintf(stderr, "rungd import: stopped: %s; %zu %s stored before the error\n",
                strerror(rc < 0 ? -rc : EIO), ctx.stored, as);
        return 1;
    }
    printf("{\"lines\":%zu,\"pairs\":%zu,\"stored\":%zu,\"as\":\"%s\",\"rejected_lines\":%zu}\n",
           stats.lines, stats.pairs, ctx.stored, as, stats.rejected_lines);
    return stats.rejected_lines ? 1 : 0;
}

/* ---- train ---- */

struct train_set {
    struct reward_pair_ex *pairs;
    size_t npairs, cap_pairs;
    struct reward_point_ex *points;
    size_t npoints, cap_points;
    json_t *sources;
};

/* strdup of s ("" for NULL); sets *rc to -ENOMEM on failure. */
static char *dup_text(const char *s, int *rc)
{
    char *d = strdup(s ? s : "");
    if (!d)
        *rc = -ENOMEM;
    return d;
}

static int collect(void *cls, const struct store_comparison *x)
{
    struct train_set *t = cls;
    int rc = 0;
    json_t *n = json_object_get(t->sources, x->source);
    json_object_set_new(t->sources, x->source, json_integer(json_integer_value(n) + 1));
    if (x->rejected) {
        if (t->npairs == t->cap_pairs) {
            size_t cap = t->cap_pairs ? t->cap_pairs * 2 : 1024;
            void *p = realloc(t->pairs, cap * sizeof *t->pairs);
            if (!p)
                return -ENOMEM;
            t->pairs = p;
            t->cap_pairs = cap;
        }
        struct reward_pair_ex *e = &t->pairs[t->npairs++];
        e->prompt = dup_text(x->prompt, &rc);
        e->a = dup_text(x->chosen, &rc);
        e->b = dup_text(x->rejected, &rc);
        e->y = x->tie ? 0.5 : 1.0;
        e->weight = x->weight > 0 ? x->weight : 1.0;
    } else if (x->label) {
        if (t->npoints == t->cap_points) {
            size_t cap = t->cap_points ? t->cap_points * 2 : 1024;
            void *p = realloc(t->points, cap * sizeof *t->points);
            if (!p)
                return -ENOMEM;
            t->points = p;
            t->cap_points = cap;
        }
        struct reward_point_ex *e = &t->points[t->npoints++];
        e->prompt = dup_text(x->prompt, &rc);
        e->text = dup_text(x->chosen, &rc);
        e->y = !strcmp(x->label, "good") || !strcmp(x->label, "yes") ? 1.0 : 0.0;
        e->weight = x->weight > 0 ? x->weight : 1.0;
    }
    return rc;
}

static void train_set_free(struct train_set *t)
{
    for (size_t i = 0; i < t->npairs; i++) {
        free((char *)t->pairs[i].prompt);
        free((char *)t->pairs[i].a);
        free((char *)t->pairs[i].b);
    }
    for (size_t i = 0; i < t->npoints; i++) {
        free((char *)t->points[i].prompt);
        free((char *)t->points[i].text);
    }
    free(t->pairs);
    free(t->points);
    json_decref(t->sources);
}

static void train_usage(FILE *to)
{
    fprintf(to, "usage: rungd train --db PATH [--seed N] [--members M] [--bits B] [--target 0.95]\n"
                "                   [--activate]\n\n"
                "Trains a candidate layer from the stored comparisons and prints its JSON report.\n"
                "It becomes active with --activate, or when no layer is active yet. A running\n"
                "daemon picks the new active layer up within a second.\n");
}

int cli_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},      {"seed", required_argument, NULL, 's'},
        {"members", required_argument, NULL, 'm'}, {"bits", required_argument, NULL, 'b'},
        {"target", required_argument, NULL, 't'},  {"activate", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    struct reward_params p;
    reward_params_default(&p);
    const char *db = "rung.db";
    bool activate = false;
    int c;
    int64_t v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 's':
            bad = util_parse_i64(optarg, 0, INT64_MAX, &v);
            p.seed = (uint64_t)v;
            break;
        case 'm':
            bad = util_parse_i64(optarg, 1, 64, &v);
            p.members = (unsigned)v;
            break;
        case 'b':
            bad = util_parse_i64(optarg, 10, 24, &v);
            p.bits = (unsigned)v;
            break;
        case 't': {
            char *end;
            p.target = strtod(optarg, &end);
            bad = *end || !(p.target > 0.5 && p.target < 1.0);
            break;
        }
        case 'a':
            activate = true;
            break;
        case 'h':
            train_usage(stdout);
            return 0;
        default:
            train_usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr,
                    "rungd train: bad value '%s' (members 1-64, bits 10-24, target in "
                    "(0.5, 1))\n",
                    optarg);
            return 2;
        }
    }
    if (optind != argc) {
        train_usage(stderr);
        return 2;
    }
    struct store *s = cli_open_store(db);
    if (!s)
        return 1;
    struct train_set t = {.sources = json_object()};
    int rc = store_comparisons_each(s, collect, &t);
    int exit_code = 1;
    json_t *report = NULL;
    struct reward_layer *l = NULL;
    void *blob = NULL;
    size_t len = 0;
    if (rc) {
        fprintf(stderr, "rungd train: cannot read comparisons (%s)\n", strerror(-rc));
        goto out;
    }
    if (t.npairs == 0 && t.npoints == 0) {
        fprintf(stderr, "rungd train: the database holds no comparisons yet: import some "
                        "(rungd import) or label items\n");
        goto out;
    }
    fprintf(stderr, "train: %zu pairs, %zu pointwise verdicts\n", t.npairs, t.npoints);
    l = reward_train(&p, t.pairs, t.npairs, t.points, t.npoints, &report);
    if (!l || reward_save(l, &blob, &len)) {
        fprintf(stderr, "rungd train: training failed\n");
        goto out;
    }
    int64_t active = store_layer_active_id(s);
    bool make_active = activate || active == 0;
    char *metrics = json_dumps(report, JSON_COMPACT);
    char *sources = json_dumps(t.sources, JSON_COMPACT);
    struct store_layer_new nl = {.params = blob,
                                 .params_len = len,
                                 .metrics = metrics,
                                 .threshold = reward_threshold(l),
                                 .train_size = (int64_t)(t.npairs + t.npoints),
                                 .sources = sources,
                                 .activate = make_active};
    int64_t id = 0;
    rc = store_layer_add(s, &nl, &id);
    free(metrics);
    free(sources);
    if (rc) {
        fprintf(stderr, "rungd train: cannot store the layer (%s)\n", strerror(-rc));
        goto out;
    }
    json_object_set_new(report, "layer_id", json_integer(id));
    json_object_set_new(report, "status", json_string(make_active ? "active" : "candidate"));
    json_object_set_new(report, "sources", json_incref(t.sources));
    json_dumpf(report, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    printf("\n");
    exit_code = 0;
out:
    free(blob);
    reward_free(l);
    json_decref(report);
    train_set_free(&t);
    store_close(s);
    return exit_code;
}

/* ---- eval ---- */

struct eval_ctx {
    struct reward_pair_ex *ex;
    size_t n, cap;
    int rc;
};

static int eval_pair(void *cls, const struct dataset_pair *p)
{
    struct eval_ctx *c = cls;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        void *np = realloc(c->ex, cap * sizeof *c->ex);
        if (!np)
            return -ENOMEM;
        c->ex = np;
        c->cap = cap;
    }
    int rc = 0;
    bool swap = swap_sides(p->chosen, p->rejected);
    struct reward_pair_ex *e = &c->ex[c->n++];
    e->prompt = dup_text(p->prompt, &rc);
    e->a = dup_text(swap ? p->rejected : p->chosen, &rc);
    e->b = dup_text(swap ? p->chosen : p->rejected, &rc);
    e->y = swap ? 0.0 : 1.0;
    e->weight = 1.0;
    return rc;
}

static void eval_usage(FILE *to)
{
    fprintf(to,
            "usage: rungd eval --db PATH [--layer ID] --format hh|trl|gsm8k FILE\n\n"
            "Prints {pairs, accuracy, log_loss, ece, threshold, coverage, accuracy_on_covered}\n"
            "for the layer (default: the active one) on the file's pairs.\n");
}

int cli_eval(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"layer", required_argument, NULL, 'l'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = "rung.db", *fmt = NULL;
    int64_t layer_id = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'l':
            if (util_parse_i64(optarg, 1, INT64_MAX, &layer_id)) {
                eval_usage(stderr);
                return 2;
            }
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'h':
            eval_usage(stdout);
            return 0;
        default:
            eval_usage(stderr);
            return 2;
        }
    }
    enum dataset_format f;
    if (!fmt || dataset_format_parse(fmt, &f) || optind != argc - 1) {
        eval_usage(stderr);
        return 2;
    }
    FILE *in = fopen(argv[optind], "r");
    if (!in) {
        fprintf(stderr, "rungd eval: cannot open %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    struct store *s = cli_open_store(db);
    if (!s) {
        fclose(in);
        return 1;
    }
    int64_t id = 0;
    struct reward_layer *l = load_layer(s, layer_id, &id);
    int exit_code = 1;
    struct eval_ctx ctx = {0};
    if (!l) {
        fprintf(stderr, "rungd eval: %s\n",
                layer_id ? "no such layer" : "no active layer: train one first");
        goto out;
    }
    struct dataset_stats stats = {0};
    int rc = dataset_read(in, f, eval_pair, on_bad_line, &ctx, &stats);
    if (rc || ctx.n == 0) {
        fprintf(stderr, "rungd eval: %s\n",
                rc ? strerror(rc < 0 ? -rc : EIO) : "no pairs in the file");
        goto out;
    }
    json_t *res = reward_evaluate(l, ctx.ex, ctx.n);
    if (!res)
        goto out;
    json_object_set_new(res, "layer_id", json_integer(id));
    json_dumpf(res, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("\n");
    json_decref(res);
    exit_code = 0;
out:
    for (size_t i = 0; i < ctx.n; i++) {
        free((char *)ctx.ex[i].prompt);
        free((char *)ctx.ex[i].a);
        free((char *)ctx.ex[i].b);
    }
    free(ctx.ex);
    reward_free(l);
    store_close(s);
    fclose(in);
    return exit_code;
}
