/* API keys in the store: create, revoke, list, authenticate. */
#include "store_internal.h"

#include <errno.h>
#include <string.h>

struct key_create {
    const char *name, *role;
    const struct store_key_limits *lim; /* NULL: not limited */
    char lookup[TOKEN_LOOKUP_LEN + 1];
    unsigned char hash[TOKEN_HASH_LEN];
};

/* Stores n values of one scope for the key. 0 or -EIO. */
static int scopes_insert(struct conn *c, int64_t key_id, const char *scope, const char *const *v,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct dbst *st = conn_stmt(c, ST_KEY_SCOPE_INSERT);
        if (!st)
            return -EIO;
        bind_int64(st, 1, key_id);
        bind_text(st, 2, scope, -1, SQLITE_STATIC);
        bind_text(st, 3, v[i], -1, SQLITE_STATIC);
        if (conn_step_done(st))
            return -EIO;
    }
    return 0;
}

static int key_create_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct key_create *k = arg;
    struct dbst *st = conn_stmt(c, ST_KEY_INSERT);
    if (!st)
        return -EIO;
    bind_text(st, 1, k->name, -1, SQLITE_STATIC);
    bind_text(st, 2, k->role, -1, SQLITE_STATIC);
    bind_text(st, 3, k->lookup, -1, SQLITE_STATIC);
    bind_blob(st, 4, k->hash, TOKEN_HASH_LEN, SQLITE_STATIC);
    bind_int64(st, 5, util_now_ms());
    int rc = store_step(st);
    conn_done(st);
    if (rc == SQLITE_CONSTRAINT)
        return -EEXIST;
    if (rc != SQLITE_DONE)
        return -EIO;
    int64_t key_id = conn_last_id(c);
    if (k->lim && (scopes_insert(c, key_id, "batch", k->lim->batches, k->lim->nbatches) ||
                   scopes_insert(c, key_id, "domain", k->lim->domains, k->lim->ndomains)))
        return -EIO;
    /* Raters and admins label tasks, so they get a rater row. */
    if (strcmp(k->role, "pipeline") != 0) {
        st = conn_stmt(c, ST_RATER_INSERT);
        if (!st)
            return -EIO;
        bind_int64(st, 1, key_id);
        rc = store_step(st);
        conn_done(st);
        if (rc != SQLITE_DONE)
            return -EIO;
    }
    return 0;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= STORE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.' || ch == '@'))
            return false;
    }
    return true;
}

/* Whether n scope values fit: at most STORE_KEY_SCOPES_MAX, each 1 to
 * STORE_LABEL_MAX bytes. */
static bool scopes_ok(const char *const *v, size_t n)
{
    if (n > STORE_KEY_SCOPES_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!v[i] || !*v[i] || strlen(v[i]) > STORE_LABEL_MAX)
            return false;
    return true;
}

int store_key_create(struct store *s, const char *name, const char *role, char token[TOKEN_MAX])
{
    return store_key_create_limited(s, name, role, NULL, token);
}

int store_key_create_limited(struct store *s, const char *name, const char *role,
                             const struct store_key_limits *lim, char token[TOKEN_MAX])
{
    if (!name_ok(name))
        return -EINVAL;
    if (strcmp(role, "admin") && strcmp(role, "pipeline") && strcmp(role, "rater"))
        return -EINVAL;
    if (lim && !lim->nbatches && !lim->ndomains)
        lim = NULL;
    if (lim && (strcmp(role, "rater") || !scopes_ok(lim->batches, lim->nbatches) ||
                !scopes_ok(lim->domains, lim->ndomains)))
        return -EINVAL;
    struct key_create k = {.name = name, .role = role, .lim = lim};
    int rc = token_new(token, k.lookup);
    if (rc)
        return rc;
    token_hash(token, k.hash);
    return store_run(s, key_create_job, &k);
}

struct key_revoke {
    const char *name;
};

static int key_revoke_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct key_revoke *k = arg;
    struct dbst *st = conn_stmt(c, ST_KEY_REVOKE);
    if (!st)
        return -EIO;
    bind_text(st, 1, k->name, -1, SQLITE_STATIC);
    bind_int64(st, 2, util_now_ms());
    int rc = store_step(st);
    conn_done(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    return conn_changes(c) == 1 ? 0 : -ENOENT;
}

int store_key_revoke(struct store *s, const char *name)
{
    struct key_revoke k = {.name = name};
    int rc = store_run(s, key_revoke_job, &k);
    if (!rc)
        store_keys_revoked(s);
    return rc;
}

/* Reads a row of ST_KEY_LIST into a zeroed struct store_key_row. */
static int key_read(struct dbst *st, void *elem)
{
    struct store_key_row *row = elem;
    struct store_key *k = &row->key;
    const char *name = col_text(st, 0);
    const char *role = col_text(st, 1);
    if (!name || !role || util_strlcpy(k->name, name, sizeof k->name) ||
        util_strlcpy(k->role, role, sizeof k->role))
        return -EIO;
    k->created_ms = col_int64(st, 2);
    k->revoked_ms = col_int64(st, 3); /* NULL reads as 0: live */
    k->id = col_int64(st, 4);
    int rc = col_dup(st, 5, &row->batches);
    return rc ? rc : col_dup(st, 6, &row->domains);
}

void store_key_rows_free(struct store_key_row *keys, size_t n)
{
    for (size_t i = 0; keys && i < n; i++) {
        free(keys[i].batches);
        free(keys[i].domains);
    }
    free(keys);
}

static void key_rows_undo(void *v, size_t n)
{
    store_key_rows_free(v, n);
}

int store_key_list(struct store *s, int64_t after, unsigned limit, struct store_key_row **keys,
                   size_t *n, bool *more)
{
    static const struct rows_spec spec = {sizeof **keys, SIZE_MAX, key_read, key_rows_undo};
    struct rows rows;
    int rc = store_page(s, ST_KEY_LIST, after, NULL, limit, &spec, &rows);
    *keys = rows.v;
    *n = rows.n;
    *more = rows.more;
    return rc;
}

/* The key row of a token's lookup and hash, read from the database: 0,
 * -EACCES (unknown, revoked) or -EIO. */
static int key_auth_read(struct store *s, const char *lookup, const unsigned char *want,
                         struct store_key *out)
{
    struct conn *c = store_reader(s);
    int rc = -EACCES;
    struct dbst *st = conn_stmt(c, ST_KEY_BY_LOOKUP);
    if (!st) {
        rc = -EIO;
        goto out;
    }
    bind_text(st, 1, lookup, -1, SQLITE_STATIC);
    int step = store_step(st);
    if (step == SQLITE_ROW) {
        const void *hash = col_blob(st, 3);
        bool match = hash && col_bytes(st, 3) == TOKEN_HASH_LEN && token_hash_equal(hash, want);
        if (match && col_null(st, 5)) {
            memset(out, 0, sizeof *out);
            out->id = col_int64(st, 0);
            util_strlcpy(out->name, col_text(st, 1), sizeof out->name);
            util_strlcpy(out->role, col_text(st, 2), sizeof out->role);
            out->created_ms = col_int64(st, 4);
            out->rater_id = col_int64(st, 6);
            rc = 0;
        }
    } else if (step != SQLITE_DONE) {
        rc = -EIO;
    }
out:
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

int store_key_auth(struct store *s, const char *token, struct store_key *out)
{
    char lookup[TOKEN_LOOKUP_LEN + 1];
    if (token_lookup(token, lookup))
        return -EACCES;
    unsigned char want[TOKEN_HASH_LEN];
    token_hash(token, want);
    struct keys_ticket t;
    if (store_keys_get(s, lookup, want, out, &t) == 0)
        return 0;
    int rc = key_auth_read(s, lookup, want, out);
    if (!rc && s->keys_read_hook)
        s->keys_read_hook(s->keys_read_arg);
    if (!rc)
        store_keys_put(s, lookup, want, out, &t);
    return rc;
}
