/* rungd keys: create, list, revoke. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "store.h"

static void keys_usage(FILE *to)
{
    fprintf(to, "usage: rungd keys create --db PATH --role admin|pipeline|rater --name NAME\n"
                "       rungd keys list   --db PATH\n"
                "       rungd keys revoke --db PATH NAME\n\n"
                "create prints the new token as the last line: it is shown only once.\n");
}

struct store *cli_open_store(const char *path)
{
    char err[512];
    if (token_init()) {
        fprintf(stderr, "rungd: cannot initialise libsodium\n");
        return NULL;
    }
    struct store *s = store_open(path, 1, err, sizeof err);
    if (!s)
        fprintf(stderr, "rungd: %s\n", err);
    return s;
}

int cli_keys(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"role", required_argument, NULL, 'r'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        keys_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1], *db = "rung.db", *role = NULL, *name = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'r':
            role = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'h':
            keys_usage(stdout);
            return 0;
        default:
            keys_usage(stderr);
            return 2;
        }
    }
    int rest = argc - 1 - optind;
    char **args = argv + 1 + optind;
    int rc = 2;
    struct store *s = NULL;
    if (!strcmp(sub, "create")) {
        if (!role || !name || rest) {
            keys_usage(stderr);
            return 2;
        }
        if (!(s = cli_open_store(db)))
            return 1;
        char token[TOKEN_MAX];
        int r = store_key_create(s, name, role, token);
        if (r == -EEXIST) {
            fprintf(stderr, "rungd keys: a key named '%s' exists already\n", name);
            rc = 1;
        } else if (r == -EINVAL) {
            fprintf(stderr, "rungd keys: role must be admin, pipeline or rater; the name 1-63 "
                            "characters of [A-Za-z0-9._@-]\n");
            rc = 2;
        } else if (r) {
            fprintf(stderr, "rungd keys: cannot create the key (%s)\n", strerror(-r));
            rc = 1;
        } else {
            printf("created %s key '%s'; its token (shown once):\n%s\n", role, name, token);
            rc = 0;
        }
    } else if (!strcmp(sub, "list")) {
        if (rest) {
            keys_usage(stderr);
            return 2;
        }
        if (!(s = cli_open_store(db)))
            return 1;
        json_t *list = store_key_list(s);
        size_t i;
        json_t *k;
        printf("%-24s %-9s %-14s %s\n", "NAME", "ROLE", "CREATED_MS", "STATE");
        json_array_foreach(list, i, k)
        {
            json_t *rev = json_object_get(k, "revoked_ms");
            printf("%-24s %-9s %-14lld %s\n", json_string_value(json_object_get(k, "name")),
                   json_string_value(json_object_get(k, "role")),
                   (long long)json_integer_value(json_object_get(k, "created_ms")),
                   json_is_null(rev) ? "active" : "revoked");
        }
        json_decref(list);
        rc = list ? 0 : 1;
    } else if (!strcmp(sub, "revoke")) {
        if (rest != 1) {
            keys_usage(stderr);
            return 2;
        }
        if (!(s = cli_open_store(db)))
            return 1;
        int r = store_key_revoke(s, args[0]);
        if (r == -ENOENT)
            fprintf(stderr, "rungd keys: no live key named '%s'\n", args[0]);
        else if (r)
            fprintf(stderr, "rungd keys: cannot revoke (%s)\n", strerror(-r));
        else
            printf("revoked '%s'\n", args[0]);
        rc = r ? 1 : 0;
    } else {
        fprintf(stderr, "rungd keys: unknown action '%s'\n", sub);
        keys_usage(stderr);
    }
    store_close(s);
    return rc;
}
