/* Domain settings over HTTP: PUT /v1/domains/{name}, GET /v1/domains. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_subq.h"
#include "app.h"
#include "store_subq.h"
#include "audit.h"
#include "check.h"
#include "subq.h"

/* The names of the checkers in mask, in check.h's order. */
static json_t *checkers_json(unsigned mask)
{
    json_t *arr = json_array();
    for (int k = 0; k < CHECK_KINDS; k++)
        if (mask & (1u << k))
            json_array_append_new(arr, json_string(check_kind_name[k]));
    return arr;
}

/* The public object of a domain's settings. Returns a new reference. */
static json_t *domain_json(const struct subq_domain *d)
{
    json_t *crit = json_array();
    for (size_t i = 0; i < d->ncriteria; i++)
        json_array_append_new(
            crit, json_pack("{s:s,s:b}", "text", d->criteria[i].text, "veto", d->criteria[i].veto));
    return json_pack("{s:s,s:s,s:o,s:I,s:s,s:b,s:o,s:b}", "name", d->name, "decomposer",
                     decompose_kind_name(d->decomposer), "criteria", crit, "hard_tokens",
                     (json_int_t)d->hard_tokens, "step_order", rollup_order_name(d->order),
                     "checker_answers", d->checker_answers, "checkers", checkers_json(d->checkers),
                     "stored", d->stored);
}

static bool bad(struct req *r, const char *msg)
{
    http_error(r, 422, "invalid_domain", "%s", msg);
    return false;
}

/* Reads criteria (an array of {"text": non-empty string, "veto": bool})
 * into d. Sets the 422 reply and returns false when they do not fit. */
static bool read_criteria(struct req *r, json_t *v, struct subq_domain *d)
{
    char *text = json_is_array(v) ? json_dumps(v, JSON_COMPACT) : NULL;
    int rc = text ? subq_domain_set_criteria(d, text) : -EINVAL;
    free(text);
    if (rc == -ENOMEM) {
        http_error(r, 503, "out_of_memory", "The server is out of memory; retry later.");
        return false;
    }
    if (rc)
        return bad(r, "'criteria' must be an array of at most 32 objects {\"text\": a non-empty "
                      "string of at most 4096 bytes, \"veto\": true or false}.");
    return true;
}

/* Reads "checkers", an array of distinct checker names, into *mask.
 * Returns false when it is anything else. */
static bool read_checkers(json_t *v, unsigned *mask)
{
    size_t i;
    json_t *x;
    if (!json_is_array(v))
        return false;
    *mask = 0;
    json_array_foreach(v, i, x)
    {
        int k = check_kind_parse(json_string_value(x));
        if (k < 0 || (*mask & (1u << k)))
            return false;
        *mask |= 1u << k;
    }
    return true;
}

/* Reads the body of PUT /v1/domains/{name} into d. Sets the error reply
 * and returns false when it does not fit. */
static bool read_domain(struct req *r, json_t *body, struct subq_domain *d)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "decomposer") && strcmp(key, "criteria") && strcmp(key, "hard_tokens") &&
            strcmp(key, "step_order") && strcmp(key, "checker_answers") &&
            strcmp(key, "checkers")) {
            http_error(r, 422, "invalid_domain", "'%.64s' is not a field of domain settings.", key);
            return false;
        }
    }
    v = json_object_get(body, "decomposer");
    if (decompose_kind_parse(json_string_value(v), &d->decomposer))
        return bad(r, "'decomposer' must be one of \"steps\", \"code\", \"paragraphs\", "
                      "\"criteria\", \"none\".");
    v = json_object_get(body, "step_order");
    if (v && rollup_order_parse(json_string_value(v), &d->order))
        return bad(r, "'step_order' must be \"sequential\" or \"parallel\".");
    v = json_object_get(body, "hard_tokens");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
              json_integer_value(v) > SUBQ_HARD_TOKENS_MAX))
        return bad(r, "'hard_tokens' must be an integer from 0 to 1000000000.");
    d->hard_tokens = v ? json_integer_value(v) : 0;
    v = json_object_get(body, "checker_answers");
    if (v && !json_is_boolean(v))
        return bad(r, "'checker_answers' must be true or false.");
    d->checker_answers = v && json_is_true(v);
    v = json_object_get(body, "checkers");
    if (v && !read_checkers(v, &d->checkers))
        return bad(r, "'checkers' must be an array of distinct names among \"answer\", "
                      "\"agreement\", \"arithmetic\", \"numbers\", \"form\".");
    v = json_object_get(body, "criteria");
    bool crit = d->decomposer == DECOMPOSE_CRITERIA;
    if (v && !crit)
        return bad(r, "'criteria' is only for the decomposer \"criteria\".");
    if (crit && (!v || !read_criteria(r, v, d)))
        return v ? false : bad(r, "The decomposer \"criteria\" needs 'criteria'.");
    if (crit && d->ncriteria == 0)
        return bad(r, "'criteria' must hold at least one criterion.");
    return true;
}

void api_domain_put(struct req *r, const char *param)
{
    json_t *body = api_json_body(r);
    if (!body)
        return;
    struct subq_domain d;
    subq_domain_default(param, &d);
    d.decomposer = DECOMPOSE_NONE;
    size_t len = strlen(param);
    if (!len || len > SUBQ_DOMAIN_MAX || !util_utf8_valid(param, len)) {
        http_error(r, 404, "not_found", "A domain name is 1 to 64 bytes of UTF-8.");
    } else if (read_domain(r, body, &d)) {
        d.stored = true;
        int rc = store_domain_put(r->app->store, &d);
        if (rc)
            api_store_error(r, rc, "storing the domain");
        else
            http_reply_json(r, 200, domain_json(&d));
    }
    subq_domain_clear(&d);
    json_decref(body);
}

void api_domains_list(struct req *r, const char *param)
{
    (void)param;
    struct subq_domain *v;
    size_t n;
    int rc = store_domains_list(r->app->store, &v, &n);
    if (rc) {
        api_store_error(r, rc, "reading the domains");
        return;
    }
    json_t *arr = json_array();
    bool math = false, code = false;
    for (size_t i = 0; i < n; i++) {
        math = math || !strcmp(v[i].name, "math");
        code = code || !strcmp(v[i].name, "code");
        json_array_append_new(arr, domain_json(&v[i]));
    }
    store_domains_free(v, n);
    /* The built-in defaults, where no stored setting replaces them. */
    struct subq_domain d;
    for (int k = 0; k < 2; k++) {
        if (k == 0 ? code : math)
            continue;
        subq_domain_default(k == 0 ? "code" : "math", &d);
        json_array_append_new(arr, domain_json(&d));
    }
    http_reply_json(r, 200,
                    json_pack("{s:o,s:{s:s,s:s,s:I,s:b,s:o}}", "domains", arr, "default",
                              "decomposer", "none", "step_order", "sequential", "hard_tokens",
                              (json_int_t)0, "checker_answers", 0, "checkers",
                              checkers_json(CHECK_KINDS_ALL)));
}

/* The tally as JSON: counts, the accuracy on settled items and its 95%
 * Wilson interval (null while none is settled). */
static json_t *tally_json(const struct subq_checker_tally *t)
{
    struct audit_rate e;
    audit_error_rate(t->settled, t->settled - t->agreeing, &e);
    bool none = t->settled == 0;
    return json_pack("{s:I,s:I,s:I,s:o,s:o}", "answered", (json_int_t)t->answered, "settled",
                     (json_int_t)t->settled, "agreeing", (json_int_t)t->agreeing, "accuracy",
                     none ? json_null() : json_real(1 - e.rate), "interval",
                     none ? json_null() : json_pack("[f,f]", 1 - e.hi, 1 - e.lo));
}

void api_checker_answers(struct req *r, const char *param)
{
    (void)param;
    struct store_checker_count *v;
    size_t n;
    int rc = store_checker_counts(r->app->store, &v, &n);
    if (rc) {
        api_store_error(r, rc, "reading the checker answers");
        return;
    }
    struct subq_checker_tally t = {0};
    for (size_t i = 0; i < n; i++)
        subq_checker_tally_add(&t, v[i].side, v[i].answer, v[i].settled, v[i].n);
    free(v);
    http_reply_json(r, 200, tally_json(&t));
}
