/* TLS for rungd serve: the certificate chain and private key, read from PEM
 * files into memory for libmicrohttpd's GnuTLS support. */
#ifndef RUNG_TLS_H
#define RUNG_TLS_H

#include <stddef.h>

#define TLS_PEM_MAX (1024 * 1024) /* largest certificate or key file read */

/* The PEM texts, NUL-terminated and malloc'd; both NULL without TLS. */
struct tls_pem {
    char *cert; /* the server's certificate, then any intermediates */
    char *key;  /* its private key (unencrypted PEM) */
};

/* Reads cert_path and key_path into *t. Returns 0, or a negative errno with
 * a sentence naming the file in err (cap bytes); *t then holds nothing.
 * Does not check that they parse or match: libmicrohttpd does at start. */
int tls_load(struct tls_pem *t, const char *cert_path, const char *key_path, char *err, size_t cap);

/* Wipes the key's bytes and frees both texts; *t holds nothing after. */
void tls_free(struct tls_pem *t);

/* True when this libmicrohttpd was built with TLS support. */
int tls_supported(void);

#endif
