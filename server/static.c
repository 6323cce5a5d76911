/* The web page's files: a fixed set of names under the static directory,
 * read at request time. Only names made of [a-z0-9._-] (no leading dot) are
 * served, so no form of '..' or a percent-encoded slash can leave it. /admin
 * is admin.html; /vendor/chart.js is the one file served from elsewhere (the
 * Debian package's Chart.js, a fixed path). */
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

#ifndef RUNG_STATIC_DIR
#define RUNG_STATIC_DIR "static" /* the source tree's, set by meson */
#endif
#ifndef RUNG_STATIC_REL
#define RUNG_STATIC_REL "../share/rung/static" /* from the binary's directory */
#endif

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".html"))
        return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js"))
        return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".json"))
        return "application/json";
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

/* Chart.js for the admin page, from Debian's libjs-chart.js: served from
 * where the package puts it, never copied into the repository. */
#ifndef RUNG_CHARTJS_PATH
#define RUNG_CHARTJS_PATH "/usr/share/javascript/chart.js/chart.min.js"
#endif
#define CHARTJS_ROUTE "/vendor/chart.js"

/* Answers the regular file at full (type from name) or 404 with missing. */
static void serve_file(struct req *r, const char *full, const char *name, const char *missing)
{
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > STATIC_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        http_error(r, 404, "not_found", "%s", missing);
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
    /* The pages are small and change with releases: revalidate each time. */
    bool page = !strcmp(name, "index.html") || !strcmp(name, "admin.html");
    http_reply_header(r, "Cache-Control", page ? "no-cache" : "public, max-age=300");
}

void api_static(struct req *r, const char *path)
{
    static const char nothing[] = "There is nothing at this address.";
    if (!strcmp(path, CHARTJS_ROUTE)) {
        serve_file(r, RUNG_CHARTJS_PATH, "chart.js",
                   "Chart.js is missing: install Debian's libjs-chart.js.");
        return;
    }
    const char *name = path[0] == '/' ? path + 1 : path;
    if (!*name)
        name = "index.html";
    else if (!strcmp(name, "admin"))
        name = "admin.html";
    if (!safe_name(name)) {
        http_error(r, 404, "not_found", "%s", nothing);
        return;
    }
    char full[APP_STATIC_DIR_MAX + 80];
    int n = snprintf(full, sizeof full, "%s/%s", r->app->static_dir, name);
    if (n < 0 || (size_t)n >= sizeof full) {
        http_error(r, 404, "not_found", "%s", nothing);
        return;
    }
    serve_file(r, full, name, nothing);
}

/* Writes <dir of this executable>/rel into buf (rel itself when it is an
 * absolute path). Returns 0, -ENAMETOOLONG, -ENOENT. */
static int exe_relative(const char *rel, char *buf, size_t cap)
{
    if (rel[0] == '/')
        return util_strlcpy(buf, rel, cap);
    char exe[APP_STATIC_DIR_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || (size_t)n >= sizeof exe - 1)
        return -ENAMETOOLONG;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -ENOENT;
    *slash = '\0';
    int m = snprintf(buf, cap, "%s/%s", exe, rel);
    return m < 0 || (size_t)m >= cap ? -ENAMETOOLONG : 0;
}

const char *static_find_dir(char *buf, size_t cap)
{
    char index[APP_STATIC_DIR_MAX + 16];
    struct stat st;
    if (exe_relative(RUNG_STATIC_REL, buf, cap) == 0 &&
        snprintf(index, sizeof index, "%s/index.html", buf) < (int)sizeof index &&
        stat(index, &st) == 0 && S_ISREG(st.st_mode))
        return buf;
    util_strlcpy(buf, RUNG_STATIC_DIR, cap);
    return buf;
}
