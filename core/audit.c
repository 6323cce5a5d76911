/* The rules of measured trust (see audit.h). */
#include "audit.h"

#include <math.h>
#include <string.h>

#include "agree.h"

/* FNV-1a over the draw and the id's bytes, then a splitmix64 finaliser
 * so that neighbouring ids and seeds spread over the whole range. */
static uint64_t pick_hash(int64_t id, uint64_t seed, enum audit_draw draw)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    h = (h ^ (uint64_t)draw) * 0x100000001b3ull;
    for (int b = 0; b < 8; b++)
        h = (h ^ (((uint64_t)id >> (8 * b)) & 0xffu)) * 0x100000001b3ull;
    h += 0x9e3779b97f4a7c15ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

bool audit_pick(int64_t item_id, uint64_t seed, uint32_t share_ppm, enum audit_draw draw)
{
    if (share_ppm == 0)
        return false;
    if (share_ppm >= AUDIT_PPM)
        return true;
    return pick_hash(item_id, seed, draw) % AUDIT_PPM < share_ppm;
}

void audit_blind_settled(int64_t *credit_ppm, uint32_t share_ppm)
{
    int64_t c = *credit_ppm + (share_ppm > AUDIT_PPM ? AUDIT_PPM : share_ppm);
    *credit_ppm = c > AUDIT_BLIND_CREDIT_MAX ? AUDIT_BLIND_CREDIT_MAX : c;
}

bool audit_blind_pick(int64_t *credit_ppm, int64_t item_id, uint64_t seed)
{
    int64_t p = *credit_ppm < (int64_t)AUDIT_PPM ? *credit_ppm : (int64_t)AUDIT_PPM;
    if (p <= 0)
        return false;
    *credit_ppm -= p;
    return (int64_t)(pick_hash(item_id, seed, AUDIT_DRAW_BLIND) % AUDIT_PPM) < p;
}

/* The side a verdict takes: 'a', 'b', 'g' (good), 'x' (bad), 0 for none. */
static char side_of(const char *v)
{
    if (!v)
        return 0;
    if (!strcmp(v, "a") || !strcmp(v, "b"))
        return v[0];
    if (!strcmp(v, "good"))
        return 'g';
    if (!strcmp(v, "bad"))
        return 'x';
    return 0;
}

enum audit_outcome audit_compare(const char *layer_verdict, const char *human_verdict)
{
    char l = side_of(layer_verdict), h = side_of(human_verdict);
    if (!l || !h)
        return AUDIT_INCONCLUSIVE;
    return l == h ? AUDIT_AGREE : AUDIT_DISAGREE;
}

const char *audit_outcome_name(enum audit_outcome o)
{
    return o == AUDIT_AGREE ? "agree" : o == AUDIT_DISAGREE ? "disagree" : "inconclusive";
}

void audit_error_rate(int64_t audited, int64_t errors, struct audit_rate *out)
{
    out->audited = audited > 0 ? audited : 0;
    out->errors = errors < 0 ? 0 : errors > out->audited ? out->audited : errors;
    out->rate = out->audited ? (double)out->errors / (double)out->audited : NAN;
    agree_wilson((size_t)out->errors, (size_t)out->audited, &out->lo, &out->hi);
}

double audit_promise(const char *metrics)
{
    json_t *m = metrics ? json_loads(metrics, 0, NULL) : NULL;
    json_t *t = json_object_get(m, "target");
    double p = json_is_number(t) ? json_number_value(t) : AUDIT_PROMISE_DEFAULT;
    json_decref(m);
    return p > 0.0 && p < 1.0 ? p : AUDIT_PROMISE_DEFAULT;
}

bool audit_should_demote(const struct audit_rate *r, int64_t raters, double promise,
                         int64_t min_audits)
{
    if (r->audited < (min_audits > 1 ? min_audits : 1) || raters < AUDIT_RATERS_MIN)
        return false;
    return !isnan(r->lo) && r->lo > 1.0 - promise;
}

void audit_drift_add(struct audit_drift *d, double p_old, double p_new)
{
    d->items++;
    d->same += (p_old >= 0.5) == (p_new >= 0.5);
    d->abs_diff += fabs(p_new - p_old);
}

json_t *audit_drift_json(const struct audit_drift *d)
{
    double n = (double)d->items;
    return json_pack("{s:I,s:o,s:o}", "items", (json_int_t)d->items, "agreement",
                     d->items ? json_real((double)d->same / n) : json_null(), "mean_abs_diff",
                     d->items ? json_real(d->abs_diff / n) : json_null());
}
