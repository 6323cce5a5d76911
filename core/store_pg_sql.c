/* TEMPORARY (replaced by the pgschema branch): ?N -> $N only. */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

const char *const schema_pg_migrations[] = {NULL};
const size_t schema_pg_migration_count = 0;

char *store_pg_text(enum stmt_id id)
{
    const char *in = store_sql(id);
    char *out = strdup(in);
    for (char *p = out; p && *p; p++)
        if (*p == '?')
            *p = '$';
    return out;
}
