/* The progress line of long command-line work: see progress.h. */
#include "progress.h"

#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

void progress_start(struct progress *p, const char *what, const char *unit)
{
    *p = (struct progress){.what = what,
                           .unit = unit,
                           .tty = isatty(STDERR_FILENO) == 1,
                           .start_ms = util_now_ms(),
                           .share = -1};
    p->last_ms = p->start_ms;
}

/* Writes "M:SS" (or "H:MM:SS") of ms to f. */
static void put_duration(FILE *f, int64_t ms)
{
    int64_t s = ms / 1000;
    if (s >= 3600)
        fprintf(f, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                (long long)(s % 60));
    else
        fprintf(f, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
}

/* Draws the line at now: count, rate, then time left or elapsed. The
 * line is cleared to its end (ESC [K) so a shorter one leaves no tail. */
static void draw(struct progress *p, int64_t now, bool final)
{
    int64_t elapsed = now - p->start_ms;
    double rate = elapsed > 0 ? (double)p->done * 1000.0 / (double)elapsed : 0;
    fprintf(stderr, "\r%s: %lld %s, %.0f/s", p->what, (long long)p->done, p->unit, rate);
    if (final) {
        fputs(", ", stderr);
        put_duration(stderr, elapsed);
        fputs(" elapsed\033[K\n", stderr);
    } else if (p->share > 0 && p->share < 1) {
        fputs(", ", stderr);
        put_duration(stderr, (int64_t)((double)elapsed * (1 - p->share) / p->share));
        fputs(" left\033[K", stderr);
    } else {
        fputs("\033[K", stderr);
    }
    fflush(stderr);
    p->last_ms = now;
}

void progress_update(struct progress *p, int64_t done, double share)
{
    p->done = done;
    p->share = share;
    if (!p->tty)
        return;
    int64_t now = util_now_ms();
    if (now - p->last_ms >= PROGRESS_EVERY_MS)
        draw(p, now, false);
}

int64_t progress_file_size(FILE *f)
{
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode))
        return 0;
    return (int64_t)st.st_size;
}

double progress_file_share(FILE *f, int64_t size)
{
    long at = size > 0 ? ftell(f) : -1;
    return at >= 0 ? (double)at / (double)size : -1;
}

void progress_end(struct progress *p)
{
    if (p->tty)
        draw(p, util_now_ms(), true);
}
