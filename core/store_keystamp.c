/* The token cache's store side (issue 14): verified tokens in memory
 * (core/keycache.h), valid while the stamp file beside the database keeps
 * its bytes.
 *
 * The stamp is 8 bytes at the start of "<db>-keys" (the database's real
 * path, symlinks resolved, so that every process names the same file),
 * with the database file's owner and mode, so that whoever may write the
 * database may change it. Every process that revokes a key writes fresh
 * random bytes there after its commit; a daemon reads them before each
 * authentication, and an entry filed under other bytes is not used. The
 * daemon checks once a second that its descriptor is still the file at
 * that path (deleted or replaced, it opens the new one). */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keycache.h"
#include "log.h"

#define KEYS_STAMP_SUFFIX "-keys" /* the stamp file: "<db>-keys" */
#define KEYS_CACHE_SLOTS 256      /* tokens kept at once */
#define KEYS_PATH_CHECK_MS 1000   /* how often the daemon checks its file is the path's */
#define KEYS_PATH_MAX 4096        /* bytes of a path, Linux's PATH_MAX */

/* The stamp file's path into out (KEYS_PATH_MAX bytes): 0, -ENOTSUP (PostgreSQL,
 * ":memory:"), -ENAMETOOLONG or realpath's errno. */
static int stamp_path(const struct store *s, char *out)
{
    if (s->writer.pg || !s->path || !*s->path || !strcmp(s->path, ":memory:"))
        return -ENOTSUP;
    char real[KEYS_PATH_MAX];
    if (!realpath(s->path, real))
        return -errno;
    if (snprintf(out, KEYS_PATH_MAX, "%s" KEYS_STAMP_SUFFIX, real) >= KEYS_PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

/* Gives the stamp file the database file's owner and mode (read and write
 * bits): both only succeed for the file's owner or root, and are tried. */
static void stamp_like_db(const char *db, int fd)
{
    struct stat st;
    if (stat(db, &st))
        return;
    if (fchown(fd, st.st_uid, st.st_gid) == 0 || errno == EPERM)
        (void)fchmod(fd, st.st_mode & 0666);
}

/* Opens the stamp file at path, creating it when asked: the descriptor or
 * a negative errno. */
static int stamp_open(const struct store *s, const char *path, bool create)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0)
        return -errno;
    if (create)
        stamp_like_db(s->path, fd);
    return fd;
}

/* Writes v as the stamp: 0 or a negative errno. */
static int stamp_write(int fd, uint64_t v)
{
    ssize_t n = pwrite(fd, &v, sizeof v, 0);
    return n == (ssize_t)sizeof v ? 0 : n < 0 ? -errno : -EIO;
}

void store_keys_revoked(struct store *s)
{
    uint64_t v;
    randombytes_buf(&v, sizeof v);
    int rc = s->keys ? stamp_write(s->keys_fd, v) : 0;
    char path[KEYS_PATH_MAX];
    int prc = stamp_path(s, path);
    int fd = prc ? prc : stamp_open(s, path, false);
    if (fd >= 0) {
        int wrc = stamp_write(fd, v);
        rc = rc ? rc : wrc;
        close(fd);
    } else if (fd != -ENOENT && fd != -ENOTSUP) { /* no file: no daemon keeps tokens */
        rc = rc ? rc : fd;
    }
    if (rc)
        log_json("warn",
                 "cannot change the key stamp: running daemons see the revocation when their "
                 "cache entry ends (a second in rungd serve)",
                 "{s:s, s:i}", "db", s->path, "errno", -rc);
}

/* Once every KEYS_PATH_CHECK_MS (one thread): when the file at the stamp
 * path is not the one keys_fd reads (deleted, replaced), opens the path's
 * file in its place; dup2 swaps the file behind the descriptor for
 * concurrent readers at once. */
static void stamp_follow(struct store *s, int64_t now_ms)
{
    int64_t seen = atomic_load(&s->keys_seen_ms);
    if (now_ms - seen < KEYS_PATH_CHECK_MS ||
        !atomic_compare_exchange_strong(&s->keys_seen_ms, &seen, now_ms))
        return;
    struct stat held, named;
    if (fstat(s->keys_fd, &held) == 0 && stat(s->keys_path, &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino)
        return;
    int fd = stamp_open(s, s->keys_path, true);
    if (fd < 0)
        return; /* tried again in a second; entries still end with their lifetime */
    if (dup2(fd, s->keys_fd) < 0)
        log_json("warn", "cannot follow the key stamp file", "{s:s}", "path", s->keys_path);
    close(fd);
}

int store_keys_get(struct store *s, const char *lookup, const unsigned char *hash,
                   struct store_key *out, struct keys_ticket *t)
{
    t->on = false;
    if (!s->keys)
        return -ENOENT;
    t->now_ms = (int64_t)(util_mono_us() / 1000);
    stamp_follow(s, t->now_ms);
    t->stamp = 0;
    ssize_t n = pread(s->keys_fd, &t->stamp, sizeof t->stamp, 0);
    if (n != (ssize_t)sizeof t->stamp && n != 0) /* unreadable: read the database */
        return -ENOENT;
    t->on = true;
    pthread_mutex_lock(&s->keys_mu);
    int rc = keycache_get(s->keys, lookup, hash, t->stamp, t->now_ms, s->keys_ttl_ms, out);
    pthread_mutex_unlock(&s->keys_mu);
    return rc;
}

void store_keys_put(struct store *s, const char *lookup, const unsigned char *hash,
                    const struct store_key *key, const struct keys_ticket *t)
{
    if (!t->on)
        return;
    pthread_mutex_lock(&s->keys_mu);
    keycache_put(s->keys, lookup, hash, t->stamp, t->now_ms, key);
    pthread_mutex_unlock(&s->keys_mu);
}

int store_key_cache(struct store *s, int64_t ttl_ms)
{
    if (s->keys) {
        pthread_mutex_lock(&s->keys_mu);
        s->keys_ttl_ms = ttl_ms;
        pthread_mutex_unlock(&s->keys_mu);
        return 0;
    }
    char path[KEYS_PATH_MAX];
    int rc = stamp_path(s, path);
    int fd = rc ? rc : stamp_open(s, path, true);
    if (fd < 0)
        return fd;
    s->keys_path = strdup(path);
    s->keys = keycache_new(KEYS_CACHE_SLOTS, sizeof(struct store_key));
    if (!s->keys || !s->keys_path) {
        keycache_free(s->keys);
        s->keys = NULL;
        free(s->keys_path);
        s->keys_path = NULL;
        close(fd);
        return -ENOMEM;
    }
    pthread_mutex_init(&s->keys_mu, NULL);
    s->keys_fd = fd;
    s->keys_ttl_ms = ttl_ms;
    atomic_store(&s->keys_seen_ms, (int64_t)(util_mono_us() / 1000));
    return 0;
}

void store_keys_close(struct store *s)
{
    if (!s->keys)
        return;
    keycache_free(s->keys);
    s->keys = NULL;
    free(s->keys_path);
    s->keys_path = NULL;
    pthread_mutex_destroy(&s->keys_mu);
    close(s->keys_fd);
}
