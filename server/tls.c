/* TLS for rungd serve: see tls.h. */
#include "tls.h"

#include <errno.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads path whole (at most TLS_PEM_MAX bytes) into a NUL-terminated
 * malloc'd buffer. Returns 0 or a negative errno with err set. */
static int read_pem(const char *path, const char *what, char **out, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, cap, "cannot open the TLS %s '%s': %s", what, path, strerror(e));
        return -e;
    }
    char *buf = malloc(TLS_PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, TLS_PEM_MAX + 1, f) : 0;
    int rc = 0;
    if (!buf)
        rc = -ENOMEM;
    else if (ferror(f))
        rc = -EIO;
    else if (n > TLS_PEM_MAX)
        rc = -EFBIG;
    else if (n == 0 || !memmem(buf, n, "-----BEGIN ", 11))
        rc = -EINVAL;
    fclose(f);
    if (rc) {
        snprintf(err, cap, "cannot read the TLS %s '%s': %s", what, path,
                 rc == -EINVAL  ? "no PEM block in it"
                 : rc == -EFBIG ? "larger than 1 MiB"
                                : strerror(-rc));
        if (buf)
            sodium_memzero(buf, TLS_PEM_MAX + 1);
        free(buf);
        return rc;
    }
    *out = malloc(n + 1); /* the text's size, not the read buffer's */
    if (*out) {
        memcpy(*out, buf, n);
        (*out)[n] = '\0';
    }
    sodium_memzero(buf, n);
    free(buf);
    if (!*out) {
        snprintf(err, cap, "cannot read the TLS %s '%s': %s", what, path, strerror(ENOMEM));
        return -ENOMEM;
    }
    return 0;
}

int tls_load(struct tls_pem *t, const char *cert_path, const char *key_path, char *err, size_t cap)
{
    t->cert = t->key = NULL;
    int rc = read_pem(cert_path, "certificate", &t->cert, err, cap);
    if (rc == 0)
        rc = read_pem(key_path, "key", &t->key, err, cap);
    if (rc)
        tls_free(t);
    return rc;
}

void tls_free(struct tls_pem *t)
{
    if (t->key)
        sodium_memzero(t->key, strlen(t->key));
    free(t->key);
    free(t->cert);
    t->cert = t->key = NULL;
}

int tls_supported(void)
{
    return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}
