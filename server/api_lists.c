/* Listings that page like GET /v1/items: limit, after, and a "next"
 * cursor that is null only on the last page. GET /v1/flags and GET
 * /v1/events here; raters and keys page the same way in their files. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "app.h"

#define ID_TEXT_MAX 24 /* an int64 in decimal, sign and NUL */

bool api_query_page(struct req *r, unsigned *limit, int64_t *after)
{
    *after = 0;
    if (!api_query_limit(r, limit))
        return false;
    const char *text = http_query(r, "after");
    if (text && util_parse_i64(text, 0, INT64_MAX, after)) {
        http_error(r, 400, "invalid_query", "'after' is not a cursor this server gave out.");
        return false;
    }
    return true;
}

bool api_query_name_page(struct req *r, unsigned *limit, const char **after, size_t max,
                         const char *what)
{
    if (!api_query_limit(r, limit))
        return false;
    *after = http_query(r, "after");
    if (*after && (!**after || strlen(*after) > max)) {
        http_error(r, 400, "invalid_query", "'after' must be a %s name of 1 to %zu bytes.", what,
                   max);
        return false;
    }
    return true;
}

json_t *api_next_id(bool more, int64_t last)
{
    char text[ID_TEXT_MAX];
    if (!more)
        return json_null();
    snprintf(text, sizeof text, "%lld", (long long)last);
    return json_string(text);
}

void api_flags_list(struct req *r, const char *param)
{
    (void)param;
    unsigned limit = LIST_LIMIT_DEFAULT;
    int64_t after;
    if (!api_query_page(r, &limit, &after))
        return;
    struct store_flag *v;
    size_t n;
    bool more;
    int rc = store_flags_list(r->app->store, after, limit, &v, &n, &more);
    if (rc) {
        api_store_error(r, rc, "listing the flags");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:I,s:s,s:o,s:s,s:s,s:I}", "id", (json_int_t)v[i].id,
                                        "item_id", v[i].item_id, "layer_id",
                                        v[i].layer_id ? json_integer(v[i].layer_id) : json_null(),
                                        "reason", v[i].reason, "state", v[i].state, "created_ms",
                                        (json_int_t)v[i].created_ms));
    json_t *next = api_next_id(more, n ? v[n - 1].id : 0);
    store_flags_free(v, n);
    http_reply_json(r, 200, json_pack("{s:o,s:o}", "flags", arr, "next", next));
}

void api_events_list(struct req *r, const char *param)
{
    (void)param;
    unsigned limit = LIST_LIMIT_DEFAULT;
    int64_t after;
    if (!api_query_page(r, &limit, &after))
        return;
    struct store_event *v;
    size_t n;
    bool more;
    int rc = store_events_list(r->app->store, after, limit, &v, &n, &more);
    if (rc) {
        api_store_error(r, rc, "listing the events");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:I,s:I,s:o,s:s?,s:o,s:o}", "id",
                                             (json_int_t)v[i].id, "at_ms", (json_int_t)v[i].at_ms,
                                             "actor", api_string_or_null(v[i].actor), "kind",
                                             v[i].kind, "subject", api_string_or_null(v[i].subject),
                                             "detail", api_json_text(v[i].detail)));
    json_t *next = api_next_id(more, n ? v[n - 1].id : 0);
    store_events_free(v, n);
    api_reply_rounded(r, 200, json_pack("{s:o,s:o}", "events", arr, "next", next));
}
