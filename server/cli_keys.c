/* rungd keys: create, list, revoke. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "limits.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define ISO_TIME_MAX 32 /* "2026-11-27T08:10:28Z" and NUL, with room */

static void keys_usage(FILE *to)
{
    fprintf(to, "usage: rungd keys create --db PATH --role admin|pipeline|rater --name NAME\n"
                "                         [--batches B1,B2] [--domains D1,D2]\n"
                "       rungd keys list   --db PATH\n"
                "       rungd keys revoke --db PATH NAME\n\n"
                "create prints the new token as the last line: it is shown only once.\n"
                "--batches and --domains limit a rater key: it is served only tasks of items\n"
                "in one of those batches or domains.\n");
}

bool cli_db_missing(const char *path)
{
    struct stat st;
    /* A PostgreSQL database is the operator's to create. */
    return !store_is_uri(path) && stat(path, &st) != 0 && errno == ENOENT;
}

void cli_log_created(const char *path)
{
    /* A path is bytes, not UTF-8: log a copy JSON can carry. */
    char label[1024];
    store_db_label(path, label, sizeof label);
    char *db = strdup(label);
    if (db)
        util_utf8_sanitize(db, strlen(db));
    log_json("info", "created database", "{s:s?}", "db", db);
    free(db);
}

struct store *cli_open_store(const char *cmd, const char *path, bool create, int *exit_code)
{
    char err[ERR_TEXT_MAX];
    bool missing = cli_db_missing(path);
    *exit_code = 1;
    if (missing && !create) {
        fprintf(stderr,
                "rungd %s: no database at '%s': give --db PATH of an existing one (only "
                "'rungd serve', 'rungd keys create' and 'rungd import' create a database)\n",
                cmd, path);
        *exit_code = 2;
        return NULL;
    }
    if (token_init()) {
        fprintf(stderr, "rungd: cannot initialise libsodium\n");
        return NULL;
    }
    struct store *s = store_open(path, 1, err, sizeof err);
    if (!s)
        fprintf(stderr, "rungd %s: %s\n", cmd, err);
    else if (missing)
        cli_log_created(path);
    return s;
}

/* The command line of one keys action. */
struct keys_args {
    const char *db, *role, *name;
    int rest;    /* positional arguments after the action's options */
    char **args; /* those arguments */
    /* --batches, --domains: the comma-separated lists, split in place */
    const char *scopes[2][STORE_KEY_SCOPES_MAX];
    size_t nscopes[2];
};

/* Splits a comma-separated list (modified in place) into v[*n], after
 * what is there. Returns 0, or 2 (the exit code) with a message when it
 * holds an empty or too long name or too many. */
static int scope_split(char *list, const char *opt, const char **v, size_t *n)
{
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*n == STORE_KEY_SCOPES_MAX || strlen(tok) > STORE_LABEL_MAX) {
            fprintf(stderr, "rungd keys: %s takes at most %d names of 1 to %d bytes\n", opt,
                    STORE_KEY_SCOPES_MAX, STORE_LABEL_MAX);
            return 2;
        }
        v[(*n)++] = tok;
    }
    return 0;
}

static int keys_create(struct store *s, const struct keys_args *a)
{
    char token[TOKEN_MAX];
    struct store_key_limits lim = {a->scopes[0], a->nscopes[0], a->scopes[1], a->nscopes[1]};
    int r = store_key_create_limited(s, a->name, a->role, &lim, token);
    if (r == -EEXIST) {
        fprintf(stderr, "rungd keys: a key named '%s' exists already\n", a->name);
        return 1;
    }
    if (r == -EINVAL) {
        fprintf(stderr,
                "rungd keys: role must be admin, pipeline or rater; the name 1-%d "
                "characters of [A-Za-z0-9._@-]; only a rater key takes --batches or "
                "--domains\n",
                STORE_NAME_MAX - 1);
        return 2;
    }
    if (r) {
        fprintf(stderr, "rungd keys: cannot create the key (%s)\n", strerror(-r));
        return 1;
    }
    printf("created %s key '%s'; its token (shown once):\n%s\n", a->role, a->name, token);
    return 0;
}

/* Writes ms (Unix epoch milliseconds) as ISO 8601 UTC to out, to the
 * second: 2026-11-27T08:10:28Z. */
static void iso_time(int64_t ms, char out[ISO_TIME_MAX])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, ISO_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, ISO_TIME_MAX, "?");
}

/* Prints one page of keys; *after becomes the last id. 0, or the exit
 * code with a message. */
static int keys_page(struct store *s, int64_t *after, bool *more)
{
    struct store_key_row *keys;
    size_t n;
    int rc = store_key_list(s, *after, LIST_LIMIT_MAX, &keys, &n, more);
    if (rc) {
        fprintf(stderr, "rungd keys: cannot list the keys (%s)\n", strerror(-rc));
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char when[ISO_TIME_MAX];
        const struct store_key *k = &keys[i].key;
        iso_time(k->created_ms, when);
        printf("%-24s %-9s %-20s %s", k->name, k->role, when, k->revoked_ms ? "revoked" : "active");
        if (strcmp(keys[i].batches, "[]"))
            printf("  batches=%s", keys[i].batches);
        if (strcmp(keys[i].domains, "[]"))
            printf("  domains=%s", keys[i].domains);
        printf("\n");
        *after = k->id;
    }
    store_key_rows_free(keys, n);
    return 0;
}

static int keys_list(struct store *s, const struct keys_args *a)
{
    (void)a;
    int64_t after = 0;
    bool more = true;
    printf("%-24s %-9s %-20s %s\n", "NAME", "ROLE", "CREATED", "STATE");
    int rc = 0;
    while (!rc && more)
        rc = keys_page(s, &after, &more);
    return rc;
}

static int keys_revoke(struct store *s, const struct keys_args *a)
{
    int r = store_key_revoke(s, a->args[0]);
    if (r == -ENOENT)
        fprintf(stderr, "rungd keys: no live key named '%s'\n", a->args[0]);
    else if (r)
        fprintf(stderr, "rungd keys: cannot revoke (%s)\n", strerror(-r));
    else
        printf("revoked '%s'\n", a->args[0]);
    return r ? 1 : 0;
}

/* Parses the options after the action. Returns -1 to go on, else the exit
 * code. */
static int keys_parse(int argc, char **argv, struct keys_args *a)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"role", required_argument, NULL, 'r'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"batches", required_argument, NULL, 'b'},
                                         {"domains", required_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd')
            a->db = optarg;
        else if (c == 'r')
            a->role = optarg;
        else if (c == 'n')
            a->name = optarg;
        else if (c == 'b' || c == 'm') {
            int i = c == 'm';
            if (scope_split(optarg, i ? "--domains" : "--batches", a->scopes[i], &a->nscopes[i]))
                return 2;
        } else {
            keys_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    a->rest = argc - optind;
    a->args = argv + optind;
    return -1;
}

int cli_keys(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(struct store *s, const struct keys_args *a);
    } actions[] = {{"create", keys_create}, {"list", keys_list}, {"revoke", keys_revoke}};
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        keys_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    struct keys_args a = {.db = DB_PATH_DEFAULT};
    int rc = keys_parse(argc - 1, argv + 1, &a);
    if (rc >= 0)
        return rc;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if (strcmp(argv[1], actions[i].name))
            continue;
        bool create = actions[i].run == keys_create, revoke = actions[i].run == keys_revoke;
        if (create && (!a.role || !a.name)) {
            if (!a.name)
                fprintf(stderr,
                        "rungd keys create: missing --name NAME (1-%d characters of "
                        "[A-Za-z0-9._@-])\n",
                        STORE_NAME_MAX - 1);
            if (!a.role)
                fprintf(stderr, "rungd keys create: missing --role admin|pipeline|rater\n");
            keys_usage(stderr);
            return 2;
        }
        if (a.rest != (revoke ? 1 : 0)) {
            keys_usage(stderr);
            return 2;
        }
        char cmd[16];
        snprintf(cmd, sizeof cmd, "keys %s", actions[i].name);
        struct store *s = cli_open_store(cmd, a.db, create, &rc);
        if (!s)
            return rc;
        rc = actions[i].run(s, &a);
        store_close(s);
        return rc;
    }
    fprintf(stderr, "rungd keys: unknown action '%s'\n", argv[1]);
    keys_usage(stderr);
    return 2;
}
