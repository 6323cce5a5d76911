/* Command-line number parsing shared by the HTTP benchmark tools. */
#ifndef RUNG_BENCH_ARGS_H
#define RUNG_BENCH_ARGS_H

#include <stdio.h>
#include <stdlib.h>

/* A whole decimal number from the command line, or exit 2. */
static long arg_num(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!s[0] || *end) {
        fprintf(stderr, "not a number: '%s'\n", s);
        exit(2);
    }
    return v;
}

#endif
