/* The rules of webhook deliveries: URLs, the retry schedule, bodies,
 * signatures. See webhook.h. */
#include "webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
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

/* ---- addresses a delivery may not reach ---- */

/* One IPv4 range: addresses whose top `bits` bits equal net's. */
struct v4_range {
    uint32_t net;
    unsigned bits;
};

/* Unspecified, private, shared, loopback, link-local, IETF protocol
 * assignments, benchmarking, multicast, reserved and broadcast (RFC 6890).
 * The documentation ranges are not refused: nothing routes them. */
static const struct v4_range v4_blocked[] = {
    {0x00000000u, 8},  {0x0a000000u, 8},  {0x64400000u, 10}, {0x7f000000u, 8},
    {0xa9fe0000u, 16}, {0xac100000u, 12}, {0xc0000000u, 24}, {0xc0a80000u, 16},
    {0xc6120000u, 15}, {0xe0000000u, 4},  {0xf0000000u, 4},
};

/* a in host order. */
static bool v4_blocked_at(uint32_t a)
{
    for (size_t i = 0; i < sizeof v4_blocked / sizeof v4_blocked[0]; i++)
        if ((a >> (32 - v4_blocked[i].bits)) == (v4_blocked[i].net >> (32 - v4_blocked[i].bits)))
            return true;
    return false;
}

/* The IPv4 address in 4 network-order bytes. */
static uint32_t v4_of(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool v6_blocked_at(const unsigned char b[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
    static const unsigned char zero[12] = {0};
    if (!memcmp(b, zero, 12)) /* ::, ::1 and the deprecated IPv4-compatible */
        return true;
    if (!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12))
        return v4_blocked_at(v4_of(b + 12));
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
        return v4_blocked_at(v4_of(b + 2));
    if (b[0] == 0x20 && b[1] == 0x01 && (b[2] == 0 && b[3] == 0)) /* Teredo */
        return true;
    if (b[0] == 0x01 && b[1] == 0 && !memcmp(b + 2, zero, 6)) /* discard 100::/64 */
        return true;
    /* fc00::/7 unique local; fe80::/10 link-local, fec0::/10 site-local;
     * ff00::/8 multicast. */
    return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0x80)) || b[0] == 0xff;
}

bool webhook_addr_blocked(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        return v4_blocked_at(ntohl(in.sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        return v6_blocked_at(in6.sin6_addr.s6_addr);
    }
    return true;
}

/* True when host (as libcurl gives it: IPv6 in brackets) is an IP
 * address that webhook_addr_blocked refuses; a name is false. */
static bool host_blocked(const char *host)
{
    char buf[64];
    size_t n = strlen(host);
    if (host[0] == '[' && n > 2 && n - 2 < sizeof buf) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        char *zone = strchr(buf, '%');
        if (zone)
            *zone = '\0';
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
        if (inet_pton(AF_INET6, buf, &a6.sin6_addr) == 1)
            return webhook_addr_blocked((const struct sockaddr *)&a6);
        return true; /* brackets hold only addresses */
    }
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1)
        return webhook_addr_blocked((const struct sockaddr *)&a4);
    return false;
}

/* Checks the parsed parts of u: scheme, host, no credentials. */
static int url_parts_check(CURLU *u, bool allow_private, char why[WEBHOOK_WHY_MAX])
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
    else if (!allow_private && host_blocked(host))
        rc = refuse(why, "The URL's address is loopback, private, link-local or reserved; "
                         "rungd serve --webhook-allow-private allows it.");
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(password);
    return rc;
}

int webhook_url_check(const char *url, bool allow_private, char why[WEBHOOK_WHY_MAX])
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
        rc = url_parts_check(u, allow_private, why);
    curl_url_cleanup(u);
    return rc;
}

/* The class of a transfer that failed with cc. */
static const char *curl_class(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "dns";
    case CURLE_COULDNT_CONNECT:
        return "refused";
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return "closed";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return "tls";
    default:
        return "error";
    }
}

void webhook_failure_class(int curl_code, long status, bool blocked, char out[WEBHOOK_CLASS_MAX])
{
    if (blocked)
        snprintf(out, WEBHOOK_CLASS_MAX, "blocked");
    else if (curl_code == CURLE_OK)
        snprintf(out, WEBHOOK_CLASS_MAX, "http %ld", status);
    else
        snprintf(out, WEBHOOK_CLASS_MAX, "%s", curl_class((CURLcode)curl_code));
}

void webhook_delivery_id(const char *nonce, int64_t n, char out[WEBHOOK_DELIVERY_ID_MAX])
{
    snprintf(out, WEBHOOK_DELIVERY_ID_MAX, "%.16s-%" PRId64, nonce, n);
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

void webhook_sign(const char *secret, int64_t timestamp_ms, const char *body, size_t len,
                  char out[WEBHOOK_SIG_LEN + 1])
{
    char ts[24];
    int tn = snprintf(ts, sizeof ts, "%" PRId64 ".", timestamp_ms);
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (size_t)tn);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, WEBHOOK_SIG_LEN - 7 + 1, mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
}

char *webhook_body(const struct webhook_delivery *d, size_t *len)
{
    json_t *o =
        json_pack("{s:s,s:I,s:s,s:s?,s:s?,s:s,s:s,s:o,s:I}", "delivery", d->delivery, "hook_id",
                  (json_int_t)d->hook_id, "item_id", d->item_id, "external_id", d->external_id,
                  "batch", d->batch, "verdict", d->verdict, "source", d->source, "confidence",
                  d->has_confidence ? json_real(d->confidence) : json_null(), "resolved_ms",
                  (json_int_t)d->resolved_ms);
    if (!o)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (text)
        *len = strlen(text);
    return text;
}
