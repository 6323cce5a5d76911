/* rungd: one binary, subcommands sharing the store. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *to)
{
    fprintf(to, "usage: rungd COMMAND [options]\n\n"
                "commands:\n"
                "  serve    run the daemon\n"
                "  keys     create, list and revoke API keys\n"
                "  import   load preference data as comparisons or items\n"
                "  train    train a reward layer from the stored comparisons\n"
                "  eval     measure a layer on a preference file\n"
                "  rescore  score the items waiting for humans with the active layer\n"
                "  export   write comparisons, step labels or items as JSON lines\n"
                "  backup   copy the database consistently, also while the daemon serves\n"
                "  copy-db  copy a whole deployment into another database (SQLite, PostgreSQL)\n"
                "  demo     load generated demo items (used by deploy/run.sh)\n"
                "  replay   simulate a labelling campaign against a running daemon\n\n"
                "'rungd COMMAND --help' describes each one; 'rungd --version' prints the\n"
                "version.\n");
}

#ifndef RUNG_VERSION
#error "RUNG_VERSION comes from meson's project() version (server/meson.build)"
#endif

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("rungd %s\n", RUNG_VERSION);
        return 0;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "serve"))
        return cli_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "keys"))
        return cli_keys(argc - 1, argv + 1);
    if (!strcmp(cmd, "import"))
        return cli_import(argc - 1, argv + 1);
    if (!strcmp(cmd, "train"))
        return cli_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval"))
        return cli_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "rescore"))
        return cli_rescore(argc - 1, argv + 1);
    if (!strcmp(cmd, "export"))
        return cli_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "backup"))
        return cli_backup(argc - 1, argv + 1);
    if (!strcmp(cmd, "copy-db"))
        return cli_copy(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo"))
        return cli_demo(argc - 1, argv + 1);
    if (!strcmp(cmd, "replay"))
        return cli_replay(argc - 1, argv + 1);
    fprintf(stderr, "rungd: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
