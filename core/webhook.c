/* The rules of webhook deliveries: URLs, the retry schedule, bodies,
 * signatures. See webhook.h. */
#include "webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Says why into why; returns -EINVAL. */
static int refuse(char why[WEBHOOK_WHY_MAX], const char *text)
{
    snprintf(why, WEBHOOK_WHY_MAX, "%s", text);
    return -EINVAL;
}

/* True when every byte is printable ASCII other than a space. */
static bool url_bytes_ok(const char *url, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f)
            return false;
    return true;
}

/* Checks the parsed parts of u: scheme, host, no credentials. */
static int url_parts_check(CURLU *u, char why[WEBHOOK_WHY_MAX])
{
    char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL;
    int rc = 0;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        rc = refuse(why, "The URL's scheme must be http or https.");
    else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
        rc = refuse(why, "The URL must name a host.");
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
             curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK)
        rc = refuse(why, "The URL may not carry a user name or password.");
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(password);
    return rc;
}

int webhook_url_check(const char *url, char why[WEBHOOK_WHY_MAX])
{
    size_t n = strlen(url);
    if (n == 0 || n > WEBHOOK_URL_MAX)
        return refuse(why, "The URL must be 1 to 2048 bytes.");
    if (!url_bytes_ok(url, n))
        return refuse(why, "The URL may hold only printable ASCII, no spaces.");
    CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    int rc;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (uc == CURLUE_OUT_OF_MEMORY)
        rc = -ENOMEM;
    else if (uc != CURLUE_OK)
        rc = refuse(why, "The URL must be an absolute URL such as https://example.org/hook.");
    else
        rc = url_parts_check(u, why);
    curl_url_cleanup(u);
    return rc;
}

uint64_t webhook_backoff_ms(unsigned failures, uint64_t base_ms, uint64_t cap_ms)
{
    if (failures == 0)
        return 0;
    uint64_t d = base_ms;
    for (unsigned i = 1; i < failures && d < cap_ms; i++)
        d = d > cap_ms / 2 ? cap_ms : d * 2;
    return d < cap_ms ? d : cap_ms;
}

void webhook_secret_new(char out[WEBHOOK_SECRET_LEN + 1])
{
    unsigned char raw[WEBHOOK_SECRET_BYTES];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, WEBHOOK_SECRET_LEN + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

void webhook_sign(const char *secret, const char *body, size_t len, char out[WEBHOOK_SIG_LEN + 1])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, WEBHOOK_SIG_LEN - 7 + 1, mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
}

char *webhook_body(const struct webhook_delivery *d, size_t *len)
{
    json_t *o =
        json_pack("{s:I,s:I,s:s,s:s?,s:s?,s:s,s:s,s:o,s:I}", "delivery", (json_int_t)d->id,
                  "hook_id", (json_int_t)d->hook_id, "item_id", d->item_id, "external_id",
                  d->external_id, "batch", d->batch, "verdict", d->verdict, "source", d->source,
                  "confidence", d->has_confidence ? json_real(d->confidence) : json_null(),
                  "resolved_ms", (json_int_t)d->resolved_ms);
    if (!o)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (text)
        *len = strlen(text);
    return text;
}
