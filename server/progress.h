/* A progress line for long command-line work (import, train, eval,
 * export): items done, rate and, when the share done is known, time
 * left, redrawn in place on stderr. Drawn only when stderr is a terminal:
 * piped or logged runs stay quiet and their output stays as it was. */
#ifndef RUNG_PROGRESS_H
#define RUNG_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_EVERY_MS 250 /* the line is redrawn at most this often */

struct progress {
    const char *what; /* the command, "rungd import"; borrowed */
    const char *unit; /* what is counted, "pairs"; borrowed */
    bool tty;         /* stderr is a terminal: draw, else stay quiet */
    int64_t start_ms; /* when the work started */
    int64_t last_ms;  /* when the line was last drawn */
    int64_t done;     /* items done */
    double share;     /* share of the work done (0..1), < 0 when unknown */
};

/* Starts a progress line for what counting unit (both borrowed until
 * progress_end). Nothing is drawn yet. */
void progress_start(struct progress *p, const char *what, const char *unit);

/* Records done items and the share of the work done (0..1; < 0 when not
 * known: no time left is shown) and redraws the line when
 * PROGRESS_EVERY_MS passed since the last one. */
void progress_update(struct progress *p, int64_t done, double share);

/* The share of a file read so far (its position over its size), -1 when
 * that is not known (a pipe). */
double progress_file_share(FILE *f, int64_t size);

/* The size of an open file in bytes, 0 when it is not a regular file. */
int64_t progress_file_size(FILE *f);

/* On a terminal, draws the final count with the rate and the elapsed
 * time and ends the line. */
void progress_end(struct progress *p);

#endif
