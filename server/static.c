/* The web page's files: a fixed set of names under the static directory,
 * read at request time. Only names made of [a-z0-9._-] (no leading dot) are
 * served, so no form of '..' or a percent-encoded slash can leave it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "app.h"

#define STATIC_FILE_MAX (2u * 1024u * 1024u) /* bytes */

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".html"))
        return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js"))
        return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css"))
        return "text/css; charset=utf-8";
    if (!strcmp(dot, ".svg"))
        return "image/svg+xml";
    if (!strcmp(dot, ".png"))
        return "image/png";
    if (!strcmp(dot, ".ico"))
        return "image/x-icon";
    return "application/octet-stream";
}

static bool safe_name(const char *name)
{
    if (!*name || name[0] == '.' || strlen(name) > 64)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
              *p == '_'))
            return false;
    return !strstr(name, "..");
}

void api_static(struct req *r, const char *path)
{
    const char *name = path[0] == '/' ? path + 1 : path;
    if (!*name)
        name = "index.html";
    if (!safe_name(name)) {
        http_error(r, 404, "not_found", "There is nothing at this address.");
        return;
    }
    char full[4096];
    int n = snprintf(full, sizeof full, "%s/%s", r->app->static_dir, name);
    if (n < 0 || (size_t)n >= sizeof full) {
        http_error(r, 404, "not_found", "There is nothing at this address.");
        return;
    }
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > STATIC_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        http_error(r, 404, "not_found", "There is nothing at this address.");
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (got != st.st_size) {
        free(buf);
        http_error(r, 500, "internal", "The file could not be read.");
        return;
    }
    http_reply_bytes(r, 200, content_type(name), buf, (size_t)got);
    free(buf);
    /* The page is small and changes with releases: revalidate each time. */
    http_reply_header(r, "Cache-Control",
                      !strcmp(name, "index.html") ? "no-cache" : "public, max-age=300");
}
