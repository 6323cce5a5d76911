/* rungd's subcommands. Each returns the process exit code. */
#ifndef RUNG_CLI_H
#define RUNG_CLI_H

int cli_serve(int argc, char **argv);
int cli_keys(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_rescore(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_backup(int argc, char **argv);
int cli_copy(int argc, char **argv);
int cli_replay(int argc, char **argv);

#include <stdbool.h>

/* Opens the store at path for command cmd ("keys list", ...). Only the
 * commands that make a database pass create: then a missing file is
 * created and an info line says so on stderr ({"level":"info","msg":
 * "created database","db":path}); without create a missing file is refused
 * (nothing is created) with a sentence on stderr. Returns the store, or
 * NULL with *exit_code set (2 for a missing database, 1 for any other
 * failure, said on stderr). */
struct store *cli_open_store(const char *cmd, const char *path, bool create, int *exit_code);

/* Says on stderr that path (a database to be created by cmd) was made:
 * the info line cli_open_store writes. */
void cli_log_created(const char *path);

/* True when path names no existing file (stat fails with ENOENT). */
bool cli_db_missing(const char *path);

#endif
