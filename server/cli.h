/* rungd's subcommands. Each returns the process exit code. */
#ifndef RUNG_CLI_H
#define RUNG_CLI_H

int cli_serve(int argc, char **argv);
int cli_keys(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_demo(int argc, char **argv);

/* Opens the store at path for a command-line tool; prints why on failure. */
struct store *cli_open_store(const char *path);

#endif
