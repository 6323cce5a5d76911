/* The admin's view over HTTP: batches listed and in detail, a rater in
 * detail, agreement statistics, API keys. JSON shapes only: the figures
 * come from the store, the statistics from core/agree_set.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agree_set.h"
#include "api.h"
#include "app.h"

#define HOUR_MS 3600000.0

/* x as a JSON number, or null when it is not a finite one (a statistic
 * undefined on the data). */
static json_t *real_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* [lo, hi], or null when the interval is undefined. */
static json_t *interval_json(double lo, double hi)
{
    return isfinite(lo) && isfinite(hi) ? json_pack("[f,f]", lo, hi) : json_null();
}

static json_t *stat_json(const struct agree_stat *st)
{
    return json_pack("{s:o,s:o,s:I}", "value", real_or_null(st->value), "interval",
                     interval_json(st->lo, st->hi), "items", (json_int_t)st->units);
}

/* The name of the rater with this id among v, "" when it is not there. */
static const char *rater_name(const struct store_rater *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].id == id)
            return v[i].name;
    return "";
}

static json_t *agreement_json(const struct agree_set *set, const struct store_rater *raters,
                              size_t nr)
{
    json_t *pairs = json_array();
    for (size_t i = 0; i < set->npairs; i++) {
        const struct agree_set_pair *p = &set->pairs[i];
        json_array_append_new(pairs, json_pack("{s:[s,s],s:o,s:o,s:I}", "raters",
                                               rater_name(raters, nr, p->rater_a),
                                               rater_name(raters, nr, p->rater_b), "kappa",
                                               real_or_null(p->kappa.value), "interval",
                                               interval_json(p->kappa.lo, p->kappa.hi), "items",
                                               (json_int_t)p->kappa.units));
    }
    return json_pack("{s:o,s:o,s:o,s:i}", "cohen_kappa", pairs, "fleiss_kappa",
                     stat_json(&set->fleiss), "krippendorff_alpha", stat_json(&set->alpha),
                     "min_shared_items", AGREE_SET_MIN_SHARED);
}

/* The stored labels as ratings in *v (malloc'd) of *n. 0 or -ENOMEM. */
static int ratings_of(const struct store_unit_label *labels, size_t n, struct agree_set_label **v,
                      size_t *m)
{
    *m = 0;
    *v = malloc((n ? n : 1) * sizeof **v);
    if (!*v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int c = agree_set_category(labels[i].answer);
        if (c >= 0) /* the schema allows no other answer */
            (*v)[(*m)++] =
                (struct agree_set_label){labels[i].task_id, labels[i].rater_id, (uint8_t)c};
    }
    return 0;
}

json_t *api_agreement(struct req *r, const char *batch)
{
    struct store_unit_label *labels = NULL;
    struct store_rater *raters = NULL;
    struct agree_set_label *v = NULL;
    struct agree_set set = {0};
    size_t n = 0, nr = 0, m = 0;
    json_t *out = NULL;
    int rc = store_agreement_labels(r->app->store, batch, &labels, &n);
    rc = rc ? rc : store_raters(r->app->store, &raters, &nr);
    rc = rc ? rc : ratings_of(labels, n, &v, &m);
    rc = rc ? rc : agree_set_compute(v, m, AGREE_SET_MIN_SHARED, &set);
    if (rc == -E2BIG)
        http_error(r, 500, "too_many_raters",
                   "Agreement is computed for at most %d raters; these labels have more.",
                   AGREE_SET_RATERS_MAX);
    else if (rc)
        api_store_error(r, rc, "computing the agreement");
    else
        out = agreement_json(&set, raters, nr);
    agree_set_clear(&set);
    free(v);
    free(raters);
    free(labels);
    return out;
}

/* ---- GET /v1/batches ---- */

void api_batches_list(struct req *r, const char *param)
{
    (void)param;
    unsigned limit = LIST_LIMIT_DEFAULT;
    const char *after;
    if (!api_query_name_page(r, &limit, &after, STORE_LABEL_MAX, "batch"))
        return;
    struct store_batch_row *v;
    size_t n;
    bool more;
    int rc = store_batch_list(r->app->store, after, limit, &v, &n, &more);
    if (rc) {
        api_store_error(r, rc, "listing the batches");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s,s:I,s:I,s:I}", "batch", v[i].batch, "items",
                                        (json_int_t)v[i].items, "decided", (json_int_t)v[i].decided,
                                        "outstanding", (json_int_t)v[i].outstanding));
    json_t *next = more && n ? json_string(v[n - 1].batch) : json_null();
    free(v);
    http_reply_json(r, 200, json_pack("{s:o,s:o}", "batches", arr, "next", next));
}

/* ---- GET /v1/batches/{batch} ---- */

/* When the labels the open tasks still want will be in at the last hour's
 * pace, in ms from now: 0 when none is wanted, null when none came in
 * during the last hour. Tasks differ in the labels they want, so the
 * estimate counts labels, not tasks. */
static json_t *eta_json(const struct store_batch_stats *st)
{
    int64_t last_hour = st->labels_per_hour[STORE_HOURS - 1];
    if (!st->labels_wanted)
        return json_integer(0);
    if (!last_hour)
        return json_null();
    return json_integer((json_int_t)ceil((double)st->labels_wanted * HOUR_MS / (double)last_hour));
}

static json_t *batch_stats_json(const char *batch, const struct store_batch_stats *st)
{
    json_t *hours = json_array();
    for (int h = 0; h < STORE_HOURS; h++)
        json_array_append_new(hours, json_integer(st->labels_per_hour[h]));
    return json_pack("{s:s,s:I,s:o,s:o,s:{s:o,s:o},s:{s:I,s:I,s:I},s:o,s:o}", "batch", batch,
                     "items", (json_int_t)st->items, "by_status", api_counts_json(&st->by_status),
                     "by_route", api_counts_json(&st->by_route), "verdicts", "by_value",
                     api_counts_json(&st->by_verdict), "by_source", api_counts_json(&st->by_source),
                     "tasks", "done", (json_int_t)st->tasks_done, "outstanding",
                     (json_int_t)st->tasks_open, "labels_wanted", (json_int_t)st->labels_wanted,
                     "labels_per_hour", hours, "eta_ms", eta_json(st));
}

void api_batch_get(struct req *r, const char *param)
{
    struct store_batch b;
    struct store_batch_stats st;
    int rc = store_batch_get(r->app->store, param, &b);
    if (rc) {
        api_store_error(r, rc, "reading the batch settings");
        return;
    }
    rc = store_batch_stats(r->app->store, param, util_now_ms(), &st);
    json_t *agreement = rc ? NULL : api_agreement(r, param);
    if (rc)
        api_store_error(r, rc, "counting the batch");
    if (agreement) {
        json_t *o = batch_stats_json(param, &st);
        json_object_set_new(o, "assistance", json_string(b.assist));
        json_object_set_new(o, "guidelines", api_string_or_null(b.guidelines));
        json_object_set_new(o, "paused", json_boolean(b.paused));
        json_object_set_new(o, "agreement", agreement);
        api_reply_rounded(r, 200, o);
    }
    store_batch_stats_clear(&st);
    free(b.guidelines);
}

/* ---- GET /v1/raters/{id} ---- */

static json_t *rater_json(const struct store_rater_detail *d)
{
    const struct store_rater *x = &d->r;
    double lo, hi;
    agree_wilson((size_t)x->gold_right, (size_t)x->gold_seen, &lo, &hi);
    json_t *gold = json_pack("{s:I,s:I,s:o,s:o}", "seen", (json_int_t)x->gold_seen, "right",
                             (json_int_t)x->gold_right, "accuracy",
                             x->gold_seen ? json_real((double)x->gold_right / (double)x->gold_seen)
                                          : json_null(),
                             "interval", interval_json(lo, hi));
    return json_pack(
        "{s:I,s:s,s:s,s:I,s:o,s:o,s:o,s:I,s:I,s:I,s:o,s:I}", "id", (json_int_t)x->id, "name",
        x->name, "role", x->role, "labels", (json_int_t)x->labels, "median_seconds",
        d->has_median ? json_real(d->median_seconds) : json_null(), "gold", gold,
        "agreement_with_verdict",
        d->verdicts_seen ? json_real((double)d->verdicts_same / (double)d->verdicts_seen)
                         : json_null(),
        "verdicts_compared", (json_int_t)d->verdicts_seen, "skips", (json_int_t)d->skips,
        "lease_expiries", (json_int_t)d->lease_expiries, "left_share",
        x->side_picks ? json_real((double)x->left_picks / (double)x->side_picks) : json_null(),
        "side_picks", (json_int_t)x->side_picks);
}

void api_rater_get(struct req *r, const char *param)
{
    int64_t id;
    struct store_rater_detail d;
    int rc = util_parse_i64(param, 1, INT64_MAX, &id)
                 ? -ENOENT
                 : store_rater_get(r->app->store, id, util_now_ms(), &d);
    if (rc == -ENOENT)
        http_error(r, 404, "not_found", "There is no rater with that id (see GET /v1/raters).");
    else if (rc)
        api_store_error(r, rc, "reading the rater");
    else
        api_reply_rounded(r, 200, rater_json(&d));
}

/* ---- keys: POST /v1/keys, GET /v1/keys, DELETE /v1/keys/{name} ---- */

/* Reads an optional array of batch or domain names (field) into v[*n].
 * On failure sets the 422 reply and returns false. */
static bool key_scope_read(struct req *r, json_t *body, const char *field,
                           const char *v[STORE_KEY_SCOPES_MAX], size_t *n)
{
    json_t *arr = json_object_get(body, field), *x;
    size_t i;
    *n = 0;
    if (!arr)
        return true;
    bool ok = json_is_array(arr) && json_array_size(arr) <= STORE_KEY_SCOPES_MAX;
    json_array_foreach(arr, i, x)
    {
        const char *text = json_string_value(x);
        ok = ok && text && *text && json_string_length(x) <= STORE_LABEL_MAX;
        if (ok)
            v[(*n)++] = text;
    }
    if (!ok)
        http_error(r, 422, "invalid_body",
                   "'%s' must be an array of at most %d names of 1 to %d bytes.", field,
                   STORE_KEY_SCOPES_MAX, STORE_LABEL_MAX);
    return ok;
}

/* Checks a key body {"name", "role", "batches"?, "domains"?} and reads its
 * limits into *lim (pointing into v and body); on failure sets the 422
 * reply. */
static bool key_body_ok(struct req *r, json_t *body, const char *v[2][STORE_KEY_SCOPES_MAX],
                        struct store_key_limits *lim)
{
    static const char *const fields[] = {"name", "role", "batches", "domains"};
    size_t known = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        known += json_object_get(body, fields[i]) != NULL;
    if (json_object_size(body) != known) {
        http_error(r, 422, "invalid_body",
                   "A key takes only 'name', 'role', 'batches' and 'domains'.");
        return false;
    }
    const char *role = json_string_value(json_object_get(body, "role"));
    if (!role || (strcmp(role, "admin") && strcmp(role, "pipeline") && strcmp(role, "rater"))) {
        http_error(r, 422, "invalid_body", "'role' must be \"admin\", \"pipeline\" or \"rater\".");
        return false;
    }
    if (!json_is_string(json_object_get(body, "name"))) {
        http_error(r, 422, "invalid_body", "'name' must be a string.");
        return false;
    }
    if (!key_scope_read(r, body, "batches", v[0], &lim->nbatches) ||
        !key_scope_read(r, body, "domains", v[1], &lim->ndomains))
        return false;
    lim->batches = v[0];
    lim->domains = v[1];
    if ((lim->nbatches || lim->ndomains) && strcmp(role, "rater")) {
        http_error(r, 422, "invalid_body",
                   "Only a rater key can be limited to batches or domains.");
        return false;
    }
    return true;
}

/* The limits of a key as JSON: the stored array text parsed, [] when none. */
static json_t *scope_json(const char *text)
{
    json_t *v = api_json_text(text);
    if (json_is_array(v))
        return v;
    json_decref(v);
    return json_array();
}

void api_keys_post(struct req *r, const char *param)
{
    (void)param;
    json_t *body = api_json_body(r);
    if (!body)
        return;
    const char *v[2][STORE_KEY_SCOPES_MAX];
    struct store_key_limits lim = {0};
    if (!key_body_ok(r, body, v, &lim)) {
        json_decref(body);
        return;
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *role = json_string_value(json_object_get(body, "role"));
    char token[TOKEN_MAX];
    int rc = store_key_create_limited(r->app->store, name, role, &lim, token);
    if (rc == -EINVAL)
        http_error(r, 422, "invalid_body",
                   "'name' must be 1 to %d letters, digits or '-', '_', '.', '@'.",
                   STORE_NAME_MAX - 1);
    else if (rc == -EEXIST)
        http_error(r, 409, "key_exists",
                   "A key with that name exists already (names stay "
                   "taken after a key is revoked).");
    else if (rc)
        api_store_error(r, rc, "creating the key");
    else
        api_reply_rounded(r, 201,
                          json_pack("{s:s,s:s,s:s,s:O*,s:O*}", "name", name, "role", role, "token",
                                    token, "batches", json_object_get(body, "batches"), "domains",
                                    json_object_get(body, "domains")));
    json_decref(body);
}

static json_t *key_json(const struct store_key_row *k)
{
    return json_pack("{s:s,s:s,s:I,s:o,s:o,s:o}", "name", k->key.name, "role", k->key.role,
                     "created_ms", (json_int_t)k->key.created_ms, "revoked_ms",
                     k->key.revoked_ms ? json_integer(k->key.revoked_ms) : json_null(), "batches",
                     scope_json(k->batches), "domains", scope_json(k->domains));
}

void api_keys_list(struct req *r, const char *param)
{
    (void)param;
    unsigned limit = LIST_LIMIT_DEFAULT;
    int64_t after;
    if (!api_query_page(r, &limit, &after))
        return;
    struct store_key_row *v;
    size_t n;
    bool more;
    int rc = store_key_list(r->app->store, after, limit, &v, &n, &more);
    if (rc) {
        api_store_error(r, rc, "listing the keys");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, key_json(&v[i]));
    json_t *next = api_next_id(more, n ? v[n - 1].key.id : 0);
    store_key_rows_free(v, n);
    http_reply_json(r, 200, json_pack("{s:o,s:o}", "keys", arr, "next", next));
}

void api_key_delete(struct req *r, const char *param)
{
    int rc = store_key_revoke(r->app->store, param);
    if (rc == -ENOENT)
        http_error(r, 404, "not_found", "There is no live key with that name.");
    else if (rc)
        api_store_error(r, rc, "revoking the key");
    else
        http_reply_json(r, 200, json_pack("{s:s,s:b}", "name", param, "revoked", 1));
}
