/* Human review over HTTP: leasing the next task (with long-poll), labels,
 * release, gold items, rater scores (overlap rules: api_overlap.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_checks.h"
#include "api_subq.h"
#include "app.h"
#include "body.h"
#include "limits.h"

/* x rounded to digits decimals: shares and probabilities, not noise. */
static double rounded(double x, int digits)
{
    double f = pow(10.0, digits);
    return round(x * f) / f;
}

/* True when the caller's key may label tasks; else sets the 403 reply. */
static bool can_label(struct req *r)
{
    if (r->key.rater_id)
        return true;
    http_error(r, 403, "forbidden", "This key cannot label tasks.");
    return false;
}

/* For /v1/tasks/{id}/...: true with *id when the key may label and param
 * is a task id; else sets the 403 or 404 reply. */
static bool rater_task_id(struct req *r, const char *param, int64_t *id)
{
    if (!can_label(r))
        return false;
    if (util_parse_i64(param, 1, INT64_MAX, id)) {
        http_error(r, 404, "not_found", "There is no task %s.", param);
        return false;
    }
    return true;
}

/* ---- long-poll waiters ---- */

static void waiter_add(struct app *app, struct req *r)
{
    pthread_mutex_lock(&app->wait_mu);
    r->wait_next = app->waiters;
    app->waiters = r;
    pthread_mutex_unlock(&app->wait_mu);
}

/* Removes r from the list; true when it was there. Caller holds wait_mu. */
static bool waiter_unlink_locked(struct app *app, struct req *r)
{
    for (struct req **p = &app->waiters; *p; p = &(*p)->wait_next) {
        if (*p == r) {
            *p = r->wait_next;
            r->wait_next = NULL;
            return true;
        }
    }
    return false;
}

void api_request_done(struct req *r)
{
    metrics_observe(&r->app->metrics, r->route, util_mono_us() - r->t0_us);
    if (!r->wait_deadline_ms)
        return;
    pthread_mutex_lock(&r->app->wait_mu);
    waiter_unlink_locked(r->app, r);
    pthread_mutex_unlock(&r->app->wait_mu);
}

/* Wakes waiters: all of them, or those whose deadline passed. */
static void wake(struct app *app, bool only_expired)
{
    int64_t now = util_now_ms();
    pthread_mutex_lock(&app->wait_mu);
    struct req **p = &app->waiters;
    while (*p) {
        struct req *r = *p;
        if (!only_expired || r->wait_deadline_ms <= now) {
            *p = r->wait_next;
            r->wait_next = NULL;
            http_async_done(r);
        } else {
            p = &r->wait_next;
        }
    }
    pthread_mutex_unlock(&app->wait_mu);
}

void api_wake_all_waiters(struct app *app)
{
    wake(app, false);
}

void api_wake_expired_waiters(struct app *app)
{
    wake(app, true);
}

/* ---- GET /v1/tasks/next ---- */

struct next_state {
    struct store_claim claim;
};

static void next_state_free(void *p)
{
    struct next_state *s = p;
    if (s)
        store_task_clear(&s->claim.task);
    free(s);
}

static void claim_finish(struct req *r);

static void submit_claim(struct req *r)
{
    struct next_state *s = r->state;
    http_go_async(r, claim_finish);
    int rc = store_task_claim_submit(r->app->store, &s->claim, http_async_done, r);
    if (rc) {
        s->claim.rc = rc;
        http_async_done(r);
    }
}

/* Woken from the wait list: try again, or give up at the deadline. */
static void waiter_finish(struct req *r)
{
    if (atomic_load(&r->app->stopping) || util_now_ms() >= r->wait_deadline_ms) {
        http_reply_empty(r, 204);
        return;
    }
    submit_claim(r);
}

/* The layer's view of an item, as assistance, in the task's display
 * order: its preference, confidence and p (the probability that
 * responses[0] is the better one; for a single response, that it is
 * good), with what that confidence meant on the
 * layer's held-out calibration data (right_share of right_n items in its
 * confidence bin). Null when the layer has no view, or when the
 * assistance rule (aggregate_assist_shown) finds it no better than chance
 * there. Returns a new reference. */
static json_t *assistance_json(const struct store_task *t)
{
    json_t *sc = t->scores ? json_loads(t->scores, 0, NULL) : NULL;
    const char *pref = json_string_value(json_object_get(sc, "preference"));
    bool pair = !strcmp(t->kind, "pair");
    json_t *conf = json_object_get(sc, "confidence");
    json_t *p_a = json_object_get(sc, pair ? "p_a" : "p_good");
    struct agg_calibration cal;
    double share;
    int64_t n;
    json_t *a = NULL;
    if (pref && json_is_number(conf) && !aggregate_calibration_read(t->metrics, pair, &cal) &&
        aggregate_assist_shown(&cal, json_number_value(conf), &share, &n)) {
        /* The preference is an answer, shown like one: in display order. */
        a = json_pack("{s:s,s:O,s:O,s:f,s:I}", "preference",
                      aggregate_answer_unswap(pref, t->swapped), "confidence", conf, "layer_id",
                      json_object_get(sc, "layer"), "right_share", rounded(share, 3), "right_n",
                      (json_int_t)n);
        if (a && json_is_number(p_a)) {
            double p = json_number_value(p_a);
            json_object_set_new(a, "p", json_real(rounded(t->swapped ? 1 - p : p, 4)));
        }
    }
    json_decref(sc);
    return a ? a : json_null();
}

/* A rater's progress, {"today": n, "total": n} (today: since midnight
 * UTC), or null when it cannot be read. Returns a new reference. */
static json_t *progress_json(struct req *r)
{
    int64_t now = util_now_ms(), today, total;
    if (store_rater_progress(r->app->store, r->key.rater_id, now - now % 86400000, &today, &total))
        return json_null();
    return json_pack("{s:I,s:I}", "today", (json_int_t)today, "total", (json_int_t)total);
}

/* Sets "responses" in display order: swapped, response_b comes first. */
static void set_shown_responses(json_t *o, const struct store_task *t)
{
    if (t->swapped)
        api_set_responses(o, t->response_b, t->response_a);
    else
        api_set_responses(o, t->response_a, t->response_b);
}

/* The public JSON object of a task as shown to the rater (r's key), in
 * display order. Returns a new reference. */
static json_t *task_json(struct req *r, const struct store_task *t)
{
    json_t *o =
        json_pack("{s:I,s:s,s:s}", "id", (json_int_t)t->id, "kind", t->kind, "prompt", t->prompt);
    set_shown_responses(o, t);
    json_object_set_new(o, "swapped", json_boolean(t->swapped));
    /* A blind task (an audit, or one of as many ordinary tasks) shows none. */
    json_object_set_new(o, "assistance",
                        strcmp(t->assist, "shown") || t->blind ? json_null() : assistance_json(t));
    json_object_set_new(o, "assistance_mode", json_string(t->assist));
    json_object_set_new(o, "guidelines", api_string_or_null(t->guidelines));
    json_object_set_new(o, "lease_expires_ms", json_integer(t->lease_expires_ms));
    json_object_set_new(o, "lease_seconds", json_integer(t->lease_seconds));
    if (t->remaining >= 0)
        json_object_set_new(o, "remaining", json_integer(t->remaining));
    json_object_set_new(o, "progress", progress_json(r));
    /* The checkers' findings are assistance too: shown with it, and never
     * on a blind task. */
    json_object_set_new(o, "checks",
                        strcmp(t->assist, "shown") || t->blind ? json_array()
                                                               : api_task_checks(r->app->store, t));
    api_subq_task(o, t);
    return o;
}

static void claim_finish(struct req *r)
{
    struct next_state *s = r->state;
    if (s->claim.rc) {
        api_store_error(r, s->claim.rc, "leasing a task");
        return;
    }
    if (s->claim.found) {
        http_reply_json(r, 200, task_json(r, &s->claim.task));
        return;
    }
    if (!r->wait_deadline_ms || util_now_ms() >= r->wait_deadline_ms ||
        atomic_load(&r->app->stopping)) {
        http_reply_empty(r, 204);
        return;
    }
    /* Nothing yet: wait for new tasks. Suspend first, then join the list,
     * then look whether tasks arrived since the claim looked: that closes
     * the gap where a wake-up would be missed. */
    http_go_async(r, waiter_finish);
    waiter_add(r->app, r);
    /* Shutdown wakes the waiters it finds; one that joined just after
     * must wake itself. */
    if (store_task_generation(r->app->store) != s->claim.generation ||
        atomic_load(&r->app->stopping)) {
        pthread_mutex_lock(&r->app->wait_mu);
        bool mine = waiter_unlink_locked(r->app, r);
        pthread_mutex_unlock(&r->app->wait_mu);
        if (mine)
            http_async_done(r);
    }
}

void api_tasks_next(struct req *r, const char *param)
{
    (void)param;
    if (!can_label(r))
        return;
    const char *w = http_query(r, "wait");
    int64_t wait_s = 0;
    if (w && util_parse_i64(w, 0, LONG_POLL_SECONDS_MAX, &wait_s)) {
        http_error(r, 400, "invalid_query", "'wait' must be a whole number of seconds, 0 to %d.",
                   LONG_POLL_SECONDS_MAX);
        return;
    }
    struct next_state *s = api_state_new(r, sizeof *s, next_state_free);
    if (!s) {
        return;
    }
    s->claim.rater_id = r->key.rater_id;
    if (wait_s)
        r->wait_deadline_ms = util_now_ms() + wait_s * 1000;
    submit_claim(r);
}

/* Called by the store after a commit that made tasks claimable. */
void api_tasks_hook(void *app)
{
    api_wake_all_waiters(app);
}

/* ---- POST /v1/tasks/{id}/labels ---- */

struct label_state {
    json_t *body;
    struct store_label label;
};

static void label_state_free(void *p)
{
    struct label_state *s = p;
    if (s)
        json_decref(s->body);
    free(s);
}

/* The assistance revealed once the rater answered (mode after), null when
 * there is none to show. Returns a new reference. */
static json_t *assistance_after(struct req *r, const struct store_label *l)
{
    struct store_task t;
    if (strcmp(l->assist, "after") || store_task_view(r->app->store, l->task_id, l->rater_id, &t))
        return json_null();
    json_t *a = t.blind ? json_null() : assistance_json(&t);
    store_task_clear(&t);
    return a;
}

/* The reply to a counted label: the answer as sent (display order), the
 * order it was shown in, the verdict when it resolved the item, until when
 * it may be changed, the rater's progress, and (mode after) the
 * assistance. Returns a new reference. */
static json_t *label_json(struct req *r, const struct store_label *l)
{
    const char *status = l->result == LABEL_REPEAT     ? "repeat"
                         : l->result == LABEL_REPLACED ? "replaced"
                                                       : "recorded";
    json_t *o =
        json_pack("{s:I,s:s,s:s,s:b,s:b}", "task_id", (json_int_t)l->task_id, "answer", l->answer,
                  "status", status, "replaced", l->result == LABEL_REPLACED, "swapped", l->swapped);
    if (l->result == LABEL_REPLACED)
        json_object_set_new(o, "previous",
                            json_string(aggregate_answer_unswap(l->previous, l->swapped)));
    if (l->resolved)
        json_object_set_new(o, "verdict", json_string(l->verdict));
    unsigned undo_ms = store_undo_ms(r->app->store);
    json_object_set_new(o, "undo_until_ms",
                        undo_ms ? json_integer(l->label_ms + undo_ms) : json_null());
    json_object_set_new(o, "assistance", assistance_after(r, l));
    json_object_set_new(o, "progress", progress_json(r));
    return o;
}

static void label_finish(struct req *r)
{
    struct label_state *s = r->state;
    struct store_label *l = &s->label;
    if (l->rc < 0) {
        api_store_error(r, l->rc, "recording the label");
        return;
    }
    switch (l->result) {
    case LABEL_NO_TASK:
        http_error(r, 404, "not_found", "There is no task %lld.", (long long)l->task_id);
        return;
    case LABEL_BAD_ANSWER:
        http_error(r, 422, "invalid_answer",
                   "'%s' does not fit this task: pairs take a, b or tie; single responses good "
                   "or bad.",
                   l->answer);
        return;
    case LABEL_CONFLICT:
        if (store_undo_ms(r->app->store))
            http_error(r, 409, "label_conflict",
                       "You labelled this task differently before; only your last label can be "
                       "changed, within %u s of giving it.",
                       store_undo_ms(r->app->store) / 1000);
        else
            http_error(r, 409, "label_conflict",
                       "You labelled this task differently before; a label cannot be changed.");
        return;
    case LABEL_LEASE_LOST:
        http_error(r, 409, "lease_lost",
                   "Your lease on this task expired and other raters hold its remaining slots.");
        return;
    case LABEL_NOT_SERVED:
        http_error(r, 409, "not_served",
                   "This task was not given to you; ask GET /v1/tasks/next for your next one.");
        return;
    case LABEL_TASK_COMPLETE:
        http_error(r, 409, "task_complete", "This task has all the labels it needs.");
        return;
    case LABEL_RECORDED:
    case LABEL_REPEAT:
    case LABEL_REPLACED:
        break;
    }
    http_reply_json(r, l->result == LABEL_RECORDED ? 201 : 200, label_json(r, l));
}

void api_task_label(struct req *r, const char *param)
{
    int64_t id;
    if (!rater_task_id(r, param, &id))
        return;
    json_t *body = api_json_body(r);
    if (!body)
        return;
    struct label_state *s = api_state_new(r, sizeof *s, label_state_free);
    if (!s) {
        json_decref(body);
        return;
    }
    s->body = body;
    struct store_label *l = &s->label;
    *l = (struct store_label){.task_id = id, .rater_id = r->key.rater_id, .seconds = -1};
    struct body_error err;
    if (body_label_parse(body, l, &err)) {
        api_body_error(r, &err);
        return;
    }
    http_go_async(r, label_finish);
    int rc = store_task_label_submit(r->app->store, l, http_async_done, r);
    if (rc) {
        l->rc = rc;
        http_async_done(r);
    }
}

struct release_state {
    struct store_release rel;
};

static void release_finish(struct req *r)
{
    struct release_state *s = r->state;
    if (s->rel.rc == -ENOENT)
        http_error(r, 404, "no_lease", "You hold no lease on task %lld.",
                   (long long)s->rel.task_id);
    else if (s->rel.rc)
        api_store_error(r, s->rel.rc, "releasing the task");
    else
        http_reply_json(
            r, 200, json_pack("{s:I,s:b}", "task_id", (json_int_t)s->rel.task_id, "released", 1));
}

void api_task_release(struct req *r, const char *param)
{
    int64_t id;
    if (!rater_task_id(r, param, &id))
        return;
    struct release_state *s = api_state_new(r, sizeof *s, free);
    if (!s) {
        return;
    }
    s->rel = (struct store_release){.task_id = id, .rater_id = r->key.rater_id};
    http_go_async(r, release_finish);
    int rc = store_task_release_submit(r->app->store, &s->rel, http_async_done, r);
    if (rc) {
        s->rel.rc = rc;
        http_async_done(r);
    }
}

/* ---- admin ---- */

void api_item_gold(struct req *r, const char *param)
{
    json_t *body = api_json_body(r);
    if (!body)
        return;
    json_t *a = json_object_get(body, "answer");
    if (!json_is_string(a) || json_object_size(body) != 1) {
        json_decref(body);
        http_error(r, 422, "invalid_body",
                   "Send {\"answer\": \"a\"|\"b\"|\"tie\"|\"good\"|\"bad\"}.");
        return;
    }
    int rc = store_item_set_gold(r->app->store, param, json_string_value(a));
    if (rc == -ENOENT)
        http_error(r, 404, "not_found", "There is no item %s.", param);
    else if (rc == -EINVAL)
        http_error(
            r, 422, "invalid_answer",
            "The answer does not fit the item: pairs take a, b or tie; singles good or bad.");
    else if (rc)
        api_store_error(r, rc, "marking the item gold");
    else
        http_reply_json(r, 200, json_pack("{s:s,s:b,s:O}", "id", param, "gold", 1, "answer", a));
    json_decref(body);
}

void api_raters(struct req *r, const char *param)
{
    (void)param;
    unsigned limit = LIST_LIMIT_DEFAULT;
    const char *after;
    if (!api_query_name_page(r, &limit, &after, STORE_NAME_MAX - 1, "rater"))
        return;
    struct store_rater *v;
    size_t n;
    bool more;
    int rc = store_raters_page(r->app->store, after, limit, &v, &n, &more);
    if (rc) {
        api_store_error(r, rc, "reading the raters");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct store_rater *x = &v[i];
        json_t *o = json_pack(
            "{s:s,s:s,s:I,s:I,s:I,s:o}", "name", x->name, "role", x->role, "labels",
            (json_int_t)x->labels, "gold_seen", (json_int_t)x->gold_seen, "gold_right",
            (json_int_t)x->gold_right, "gold_accuracy",
            x->gold_seen ? json_real((double)x->gold_right / (double)x->gold_seen) : json_null());
        /* Position bias: how often the rater picked the side shown first. */
        json_object_set_new(
            o, "left_share",
            x->side_picks ? json_real(rounded((double)x->left_picks / (double)x->side_picks, 3))
                          : json_null());
        json_object_set_new(o, "side_picks", json_integer(x->side_picks));
        json_object_set_new(o, "id", json_integer(x->id));
        json_array_append_new(arr, o);
    }
    json_t *next = more && n ? json_string(v[n - 1].name) : json_null();
    free(v);
    /* The agreement is over all raters, the same on every page. */
    json_t *agreement = api_agreement(r, NULL);
    if (!agreement) {
        json_decref(arr);
        json_decref(next);
        return;
    }
    api_reply_rounded(
        r, 200, json_pack("{s:o,s:o,s:o}", "raters", arr, "agreement", agreement, "next", next));
}

/* ---- GET /v1/tasks/{id}: a task as shown to this rater ---- */

void api_task_get(struct req *r, const char *param)
{
    int64_t id;
    if (!rater_task_id(r, param, &id))
        return;
    struct store_task t;
    int rc = store_task_view(r->app->store, id, r->key.rater_id, &t);
    if (rc == -ENOENT) {
        http_error(r, 404, "not_found", "Task %s was not given to you.", param);
        return;
    }
    if (rc) {
        api_store_error(r, rc, "reading the task");
        return;
    }
    json_t *o = task_json(r, &t);
    if (t.answer[0]) {
        unsigned undo_ms = store_undo_ms(r->app->store);
        json_object_set_new(o, "label",
                            json_pack("{s:s,s:o}", "answer",
                                      aggregate_answer_unswap(t.answer, t.swapped), "undo_until_ms",
                                      undo_ms ? json_integer(t.label_ms + undo_ms) : json_null()));
    }
    store_task_clear(&t);
    http_reply_json(r, 200, o);
}

/* ---- GET /v1/me ---- */

void api_me(struct req *r, const char *param)
{
    (void)param;
    if (!can_label(r))
        return;
    http_reply_json(r, 200,
                    json_pack("{s:s,s:s,s:o}", "name", r->key.name, "role", r->key.role, "progress",
                              progress_json(r)));
}

/* ---- PUT and GET /v1/batches/{batch} ---- */

static void batch_reply(struct req *r, const char *batch, struct store_batch *b)
{
    http_reply_json(r, 200,
                    json_pack("{s:s,s:s,s:o,s:b}", "batch", batch, "assistance", b->assist,
                              "guidelines", api_string_or_null(b->guidelines), "paused",
                              b->paused));
    free(b->guidelines);
}

/* Checks a batch settings body; on failure sets the 422 reply. */
static bool batch_body_ok(struct req *r, json_t *body)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "assistance") && strcmp(key, "guidelines") && strcmp(key, "paused")) {
            http_error(r, 422, "invalid_body", "'%.64s' is not a batch setting.", key);
            return false;
        }
    }
    const char *mode = json_string_value(json_object_get(body, "assistance"));
    if (json_object_get(body, "assistance") &&
        (!mode || (strcmp(mode, "shown") && strcmp(mode, "after") && strcmp(mode, "hidden")))) {
        http_error(r, 422, "invalid_body",
                   "'assistance' must be \"shown\", \"after\" or \"hidden\".");
        return false;
    }
    v = json_object_get(body, "paused");
    if (v && !json_is_boolean(v)) {
        http_error(r, 422, "invalid_body", "'paused' must be true or false.");
        return false;
    }
    v = json_object_get(body, "guidelines");
    if (v && !json_is_null(v) && (!json_is_string(v) || json_string_length(v) > GUIDELINES_MAX)) {
        http_error(r, 422, "invalid_body",
                   "'guidelines' must be plain text of at most %d bytes, or null.", GUIDELINES_MAX);
        return false;
    }
    return true;
}

void api_batch_put(struct req *r, const char *param)
{
    json_t *body = api_json_body(r);
    if (!body)
        return;
    if (!batch_body_ok(r, body)) {
        json_decref(body);
        return;
    }
    json_t *g = json_object_get(body, "guidelines");
    json_t *p = json_object_get(body, "paused");
    const char *text = json_string_value(g);
    struct store_batch b;
    int rc = store_batch_set(r->app->store, param,
                             json_string_value(json_object_get(body, "assistance")), g != NULL,
                             text && *text ? text : NULL, p ? json_is_true(p) : -1, &b);
    if (rc)
        api_store_error(r, rc, "saving the batch settings");
    else
        batch_reply(r, param, &b);
    json_decref(body);
}
