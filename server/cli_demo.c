/* rungd demo: loads demo items that rung generates itself (no data files):
 * arithmetic word problems, each with a correct worked solution and one
 * with a slip, plus a few single answers to rate. Repeating the command
 * stores nothing new (external ids demo-N). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "limits.h"
#include "store.h"

#define DEMO_PAIRS 24
#define DEMO_SINGLES 6
#define DEMO_TEXT_MAX 1024

static const char *const names[] = {"Ada", "Bo", "Chen", "Dina", "Emil", "Fatou"};
static const char *const things[] = {"apples", "stamps", "marbles", "books", "shells", "coins"};

struct demo_item {
    char ext[32];
    char prompt[DEMO_TEXT_MAX];
    char a[DEMO_TEXT_MAX];
    char b[DEMO_TEXT_MAX];
    bool pair;
};

static void make_pair(struct demo_item *d, unsigned i)
{
    unsigned x = 3 + (i * 7) % 17, y = 2 + (i * 5) % 9, z = 2 + (i * 3) % 5;
    const char *who = names[i % 6], *what = things[(i / 2) % 6];
    unsigned right = (x + y) * z, wrong = x + y * z;
    snprintf(d->ext, sizeof d->ext, "demo-%u", i);
    snprintf(d->prompt, sizeof d->prompt,
             "%s has %u %s and buys %u more. Then %s's collection is multiplied by %u as a "
             "gift. How many %s does %s have now?",
             who, x, what, y, who, z, what, who);
    char good[DEMO_TEXT_MAX], bad[DEMO_TEXT_MAX];
    snprintf(good, sizeof good,
             "%s starts with %u %s.\nAfter buying %u more: %u + %u = %u.\n"
             "Multiplied by %u: %u * %u = %u.\nA: %u",
             who, x, what, y, x, y, x + y, z, x + y, z, right, right);
    snprintf(bad, sizeof bad,
             "%s starts with %u %s.\nThe new ones multiplied: %u * %u = %u.\n"
             "Adding: %u + %u = %u.\nA: %u",
             who, x, what, y, z, y * z, x, y * z, wrong, wrong);
    /* Alternate sides so the right answer is not always A. */
    memcpy(i % 2 ? d->b : d->a, good, sizeof good);
    memcpy(i % 2 ? d->a : d->b, bad, sizeof bad);
    d->pair = true;
}

static void make_single(struct demo_item *d, unsigned i)
{
    static const char *const q[][2] = {
        {"Explain in one sentence why the sky is blue.",
         "Sunlight scatters off air molecules, and blue light scatters most because of its "
         "short wavelength."},
        {"Write a Python function that returns the square of a number.",
         "```python\ndef square(x):\n    return x * x\n```"},
        {"What is the capital of Australia?", "The capital of Australia is Sydney."},
        {"Summarise: 'The meeting moved to Tuesday at 10.'", "The meeting is now Tuesday, 10 am."},
        {"Show an HTML example of a bold word.",
         "Use <b>bold</b>; never trust <script>alert('x')</script> in user text."},
        {"How many legs does a spider have?", "A spider has eight legs."},
    };
    snprintf(d->ext, sizeof d->ext, "demo-single-%u", i);
    snprintf(d->prompt, sizeof d->prompt, "%s", q[i % 6][0]);
    snprintf(d->a, sizeof d->a, "%s", q[i % 6][1]);
    d->pair = false;
}

int cli_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *db = DB_PATH_DEFAULT;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd') {
            db = optarg;
        } else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: rungd demo --db PATH\n\nLoads %d generated pair items and %d single "
                    "items into batch 'demo' (idempotent).\n",
                    DEMO_PAIRS, DEMO_SINGLES);
            return c == 'h' ? 0 : 2;
        }
    }
    int rc = 1;
    struct store *s = cli_open_store("demo", db, false, &rc);
    if (!s)
        return rc;
    enum { N = DEMO_PAIRS + DEMO_SINGLES };
    struct demo_item *d = calloc(N, sizeof *d);
    struct store_item_in *items = calloc(N, sizeof *items);
    struct store_item_ack *acks = calloc(N, sizeof *acks);
    if (d && items && acks) {
        for (unsigned i = 0; i < N; i++) {
            if (i < DEMO_PAIRS)
                make_pair(&d[i], i);
            else
                make_single(&d[i], i - DEMO_PAIRS);
            items[i] = (struct store_item_in){.prompt = d[i].prompt,
                                              .response_a = d[i].a,
                                              .response_b = d[i].pair ? d[i].b : NULL,
                                              .external_id = d[i].ext,
                                              .batch = "demo",
                                              .domain = d[i].pair ? "math" : "general",
                                              .priority = d[i].pair ? 1 : 0};
        }
        struct store_ingest req = {.key_id = 0, .items = items, .n = N, .acks = acks};
        if (store_ingest(s, &req) == 0) {
            unsigned fresh = 0;
            for (unsigned i = 0; i < N; i++)
                fresh += !acks[i].existed;
            printf("demo: %u items in batch 'demo' (%u new)\n", N, fresh);
            rc = 0;
        } else {
            fprintf(stderr, "rungd demo: cannot store the demo items\n");
        }
    }
    free(d);
    free(items);
    free(acks);
    store_close(s);
    return rc;
}
