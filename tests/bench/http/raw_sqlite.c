/* raw_sqlite: the storage ceiling for rung's ingest benchmark.
 *
 *   raw_sqlite --db DB --items FILE [--seconds 10] [--txn 1000] [--tasks]
 *
 * DB must already hold rung's schema (create it with `rungd keys create`).
 * FILE holds one item object per line ({"prompt":..,"response":..}). Rows go
 * into `items` with the same columns and values rungd's ingest writes (a
 * random uuid, key_id 1, kind, prompt, response, status awaiting_human,
 * route human, times), with --tasks also the `tasks` row rungd adds for each
 * human-routed item. One connection, WAL, synchronous=FULL, secure_delete
 * off, foreign_keys on (as rungd's writer), prepared statements.
 * --txn K commits every K rows; --txn 0 keeps one transaction for the whole
 * run (committed at the end, inside the timing). --uuid7 writes time-ordered
 * ids (48-bit milliseconds, then a counter and random bits, as UUIDv7) instead
 * of random v4 ids, to show what the random `items.id` index costs.
 * --plain writes instead into a plain table of its own, `raw_plain(k TEXT
 * PRIMARY KEY, body TEXT NOT NULL)` (created if missing): the 36-character
 * id and the item's JSON line (~1 KB) per row, no other index: the ceiling
 * of the storage itself that issue 14 compares batches against.
 * Prints rows/s. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "bench_args.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void exec_or_die(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "raw_sqlite: %s: %s\n", sql, msg ? msg : "?");
        exit(1);
    }
}

/* Binds the items row's values for item o (raw_sqlite without --plain). */
static void bind_item(sqlite3_stmt *ins, json_t *o, int64_t now)
{
    sqlite3_bind_int64(ins, 2, 1);
    sqlite3_bind_text(ins, 5, "single", -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, json_string_value(json_object_get(o, "prompt")), -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 7, json_string_value(json_object_get(o, "response")), -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 11, 0);
    sqlite3_bind_text(ins, 12, "awaiting_human", -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 13, "human", -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 19, now);
}

int main(int argc, char **argv)
{
    const char *dbpath = NULL, *items_path = NULL;
    double seconds = 10;
    long txn = 1000;
    bool tasks = false, uuid7 = false, plain = false;
    uint64_t seq7 = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tasks"))
            tasks = true;
        else if (!strcmp(argv[i], "--uuid7"))
            uuid7 = true;
        else if (!strcmp(argv[i], "--plain"))
            plain = true;
        else if (i + 1 < argc && !strcmp(argv[i], "--db"))
            dbpath = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--items"))
            items_path = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--seconds"))
            seconds = atof(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--txn"))
            txn = arg_num(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: raw_sqlite --db DB --items FILE [--seconds S] [--txn K] [--tasks] "
                    "[--uuid7] [--plain]\n");
            return 2;
        }
    }
    if (!dbpath || !items_path) {
        fprintf(stderr, "raw_sqlite: --db and --items are required\n");
        return 2;
    }
    /* Load the items. */
    FILE *f = fopen(items_path, "r");
    if (!f) {
        perror(items_path);
        return 1;
    }
    size_t n = 0, cap = 0;
    json_t **items = NULL;
    char **texts = NULL; /* each item as one compact JSON line (--plain) */
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    double bytes = 0;
    while ((len = getline(&line, &lcap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)len, 0, NULL);
        if (!o || !json_is_string(json_object_get(o, "prompt")) ||
            !json_is_string(json_object_get(o, "response"))) {
            json_decref(o);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            items = realloc(items, cap * sizeof *items);
            texts = realloc(texts, cap * sizeof *texts);
            if (!items || !texts) {
                perror("realloc");
                return 1;
            }
        }
        texts[n] = json_dumps(o, JSON_COMPACT);
        bytes += (double)json_string_length(json_object_get(o, "prompt")) +
                 (double)json_string_length(json_object_get(o, "response"));
        items[n++] = o;
    }
    free(line);
    fclose(f);
    if (!n) {
        fprintf(stderr, "raw_sqlite: no items in %s\n", items_path);
        return 1;
    }

    sqlite3 *db;
    if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "raw_sqlite: cannot open %s\n", dbpath);
        return 1;
    }
    sqlite3_busy_timeout(db, 10000);
    exec_or_die(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                    "PRAGMA secure_delete = OFF; PRAGMA foreign_keys = ON;");
    /* A key row for the key_id foreign key (rungd's rows carry one). */
    exec_or_die(db, "INSERT OR IGNORE INTO api_keys(id, name, role, lookup, hash, created_ms) "
                    "VALUES(1, 'raw-sqlite', 'pipeline', 'raw-sqlite', x'00', 0)");
    if (plain)
        exec_or_die(db, "CREATE TABLE IF NOT EXISTS raw_plain(k TEXT PRIMARY KEY, "
                        "body TEXT NOT NULL)");
    sqlite3_stmt *ins, *tins;
    if (sqlite3_prepare_v3(db,
                           plain ? "INSERT INTO raw_plain(k, body) VALUES(?1, ?2)"
                                 : "INSERT INTO items(id, key_id, external_id, batch, kind, "
                                   "prompt, response_a, response_b, domain, metadata, priority, "
                                   "status, route, verdict, verdict_source, confidence, layer_id, "
                                   "scores, created_ms, updated_ms) VALUES(?1, ?2, ?3, ?4, ?5, "
                                   "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
                                   "?19, ?19)",
                           -1, SQLITE_PREPARE_PERSISTENT, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db,
                           "INSERT INTO tasks(item_seq, kind, priority, overlap, created_ms) "
                           "VALUES(?1, ?2, ?3, ?4, ?5)",
                           -1, SQLITE_PREPARE_PERSISTENT, &tins, NULL) != SQLITE_OK) {
        fprintf(stderr, "raw_sqlite: prepare: %s\n", sqlite3_errmsg(db));
        return 1;
    }

    double t0 = now_s(), deadline = t0 + seconds;
    long rows = 0, in_txn = 0, commits = 0;
    exec_or_die(db, "BEGIN IMMEDIATE");
    for (;;) {
        json_t *o = items[(size_t)rows % n];
        char id[37];
        uuid_t u;
        uuid_generate_random(u);
        int64_t now = now_ms();
        if (uuid7) {
            uint64_t ms = (uint64_t)now, c = seq7++;
            for (int k = 0; k < 6; k++)
                u[k] = (unsigned char)(ms >> (40 - 8 * k));
            u[6] = (unsigned char)(0x70 | ((c >> 8) & 0x0f));
            u[7] = (unsigned char)c;
            u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));
        }
        uuid_unparse_lower(u, id);
        sqlite3_reset(ins);
        sqlite3_clear_bindings(ins);
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
        if (plain)
            sqlite3_bind_text(ins, 2, texts[(size_t)rows % n], -1, SQLITE_STATIC);
        else
            bind_item(ins, o, now);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            fprintf(stderr, "raw_sqlite: insert: %s\n", sqlite3_errmsg(db));
            return 1;
        }
        if (tasks && !plain) {
            sqlite3_reset(tins);
            sqlite3_bind_int64(tins, 1, sqlite3_last_insert_rowid(db));
            sqlite3_bind_text(tins, 2, "single", -1, SQLITE_STATIC);
            sqlite3_bind_int64(tins, 3, 0);
            sqlite3_bind_int(tins, 4, 1);
            sqlite3_bind_int64(tins, 5, now);
            if (sqlite3_step(tins) != SQLITE_DONE) {
                fprintf(stderr, "raw_sqlite: task insert: %s\n", sqlite3_errmsg(db));
                return 1;
            }
        }
        rows++;
        in_txn++;
        bool late = (rows & 255) == 0 && now_s() >= deadline;
        if ((txn > 0 && in_txn >= txn) || late) {
            exec_or_die(db, "COMMIT");
            commits++;
            in_txn = 0;
            if (late || now_s() >= deadline)
                break;
            exec_or_die(db, "BEGIN IMMEDIATE");
        }
    }
    double secs = now_s() - t0;
    sqlite3_reset(ins);
    sqlite3_reset(tins);
    sqlite3_finalize(ins);
    sqlite3_finalize(tins);
    sqlite3_close(db);
    printf("raw_sqlite%s%s%s rows=%ld commits=%ld txn=%ld seconds=%.2f rows_s=%.0f "
           "mean_item_bytes=%.0f\n",
           plain ? "_plain" : "", tasks ? "+tasks" : "", uuid7 ? "+uuid7" : "", rows, commits, txn,
           secs, (double)rows / secs, bytes / (double)n);
    return 0;
}
