/* store_backup.c - a consistent copy of a rung database: see store_backup.h. */
#include "store_backup.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_BUSY_MS 10000 /* how long opening the source waits for a lock */

static int say(char *err, size_t cap, int rc, const char *fmt, const char *a, const char *b)
{
    snprintf(err, cap, fmt, a, b);
    return rc;
}

/* -errno for an SQLite result code (best effort). */
static int sqlite_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
        return -EACCES;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return -EIO;
    default:
        return -EIO;
    }
}

/* fsyncs path (a file or a folder). */
static int sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* Syncs the folder that holds path, so a rename into it is durable. */
static int sync_parent(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int rc = sync_path(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    return rc;
}

/* One value of a single-row pragma on db, or -1. */
static int64_t pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Runs PRAGMA integrity_check on db: 0 when it says "ok". */
static int integrity_ok(sqlite3 *db, char *err, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v && !strcmp(v, "ok"))
            rc = 0;
        else
            say(err, cap, rc, "the copy fails its integrity check: %s%s", v ? v : "?", "");
    } else {
        say(err, cap, rc, "cannot check the copy: %s%s", sqlite3_errmsg(db), "");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Copies every page of src into dst in one step (one read transaction on
 * src: one snapshot). */
static int copy_pages(sqlite3 *src, sqlite3 *dst, struct store_backup_stats *st, char *err,
                      size_t cap)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b)
        return say(err, cap, sqlite_errno(sqlite3_errcode(dst)), "cannot start the copy: %s%s",
                   sqlite3_errmsg(dst), "");
    int rc = sqlite3_backup_step(b, -1);
    st->pages = sqlite3_backup_pagecount(b);
    int fin = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE)
        return say(err, cap, sqlite_errno(rc), "the copy failed: %s%s", sqlite3_errstr(rc), "");
    if (fin != SQLITE_OK)
        return say(err, cap, sqlite_errno(fin), "the copy failed: %s%s", sqlite3_errmsg(dst), "");
    return 0;
}

/* Copies src into the new file tmp, checks it, makes it a rollback-journal
 * database (one self-contained file) and syncs it. */
static int backup_to(const char *src, const char *tmp, struct store_backup_stats *st, char *err,
                     size_t cap)
{
    sqlite3 *s = NULL, *d = NULL;
    int rc = 0;
    if (sqlite3_open_v2(src, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = say(err, cap, -EACCES, "cannot open '%s': %s", src, s ? sqlite3_errmsg(s) : "?");
        goto out;
    }
    sqlite3_busy_timeout(s, BACKUP_BUSY_MS);
    if (sqlite3_open_v2(tmp, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        rc = say(err, cap, -EACCES, "cannot create '%s': %s", tmp, d ? sqlite3_errmsg(d) : "?");
        goto out;
    }
    rc = copy_pages(s, d, st, err, cap);
    if (rc == 0 && sqlite3_exec(d, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK)
        rc = say(err, cap, -EIO, "cannot set the copy's journal mode: %s%s", sqlite3_errmsg(d), "");
    if (rc == 0)
        rc = integrity_ok(d, err, cap);
    if (rc == 0)
        st->user_version = pragma_int(d, "PRAGMA user_version");
out:
    sqlite3_close(s);
    if (d && sqlite3_close(d) != SQLITE_OK && rc == 0)
        rc = say(err, cap, -EIO, "cannot close '%s'%s", tmp, "");
    if (rc == 0 && (rc = sync_path(tmp, O_RDONLY)) != 0)
        say(err, cap, rc, "cannot sync '%s': %s", tmp, strerror(-rc));
    return rc;
}

int store_backup(const char *src, const char *dst, struct store_backup_stats *st, char *err,
                 size_t cap)
{
    struct store_backup_stats local = {0};
    struct stat sb;
    char tmp[4096];
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    if (!src || !dst)
        return say(err, cap, -EINVAL, "no %s path given%s", src ? "destination" : "source", "");
    if (stat(src, &sb))
        return say(err, cap, errno == ENOENT ? -ENOENT : -errno, "cannot open '%s': %s", src,
                   strerror(errno));
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", dst) >= sizeof tmp)
        return say(err, cap, -ENAMETOOLONG, "the path '%s' is too long%s", dst, "");
    if (lstat(dst, &sb) == 0 || lstat(tmp, &sb) == 0)
        return say(err, cap, -EEXIST, "'%s' exists already; a backup never overwrites a file",
                   lstat(dst, &sb) == 0 ? dst : tmp, "");
    int rc = backup_to(src, tmp, st, err, cap);
    /* link() fails rather than replace a dst made meanwhile. */
    if (rc == 0 && link(tmp, dst))
        rc = say(err, cap, -errno, "cannot name the copy '%s': %s", dst, strerror(errno));
    if (rc == 0 && (rc = sync_parent(dst)) != 0)
        say(err, cap, rc, "cannot sync the folder of '%s': %s", dst, strerror(-rc));
    unlink(tmp);
    if (rc)
        return rc;
    if (stat(dst, &sb) == 0)
        st->bytes = (int64_t)sb.st_size;
    return 0;
}
