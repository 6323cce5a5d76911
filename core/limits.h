/* limits.h - rung's defaults and limits, named once. Messages and --help
 * texts are formatted from these, so changing one changes what users read.
 * Pure constants: no code, includable from core and server alike. */
#ifndef RUNG_LIMITS_H
#define RUNG_LIMITS_H

/* ---- human review (rungd serve options; the store's defaults) ---- */
#define LEASE_SECONDS_DEFAULT 600 /* how long a rater holds a task */
#define LEASE_SECONDS_MAX 86400   /* longest --lease-seconds, one day */
#define GOLD_RATE_PCT_DEFAULT 5   /* share of gold tasks in a rater's stream, percent */
#define OVERLAP_DEFAULT 1         /* labels a task wants without a rule */
#define OVERLAP_MAX 100           /* most labels a task may want (option and PUT /v1/overlap) */
#define LABEL_SECONDS_MAX 86400   /* largest 'seconds' a label may report */
#define LONG_POLL_SECONDS_MAX 30  /* GET /v1/tasks/next?wait= */

/* ---- what raters meet (issue 9) ---- */
#define UNDO_SECONDS_DEFAULT 60    /* a rater may change their last label this long */
#define UNDO_SECONDS_MAX 3600      /* longest --undo-seconds */
#define ASSIST_CONFIDENCE_MIN 0.55 /* below it the layer's preference is never shown */
#define GUIDELINES_MAX 8192        /* a batch's guidelines, bytes */

/* ---- HTTP ---- */
#define BODY_MAX_DEFAULT (16u * 1024u * 1024u) /* request body cap, bytes */
#define BODY_MAX_MIN 1024                      /* smallest --max-body, bytes */
#define BODY_MAX_MAX ((int64_t)1 << 32)        /* largest --max-body, bytes */
#define ITEMS_MAX_DEFAULT 10000u               /* items per ingest request */
#define ITEMS_MAX_MAX 1000000                  /* largest --max-items */
#define THREADS_MAX 256                        /* largest --threads */
#define HOST_MAX 64                            /* --listen host part, bytes incl. NUL */
#define HTTP_MESSAGE_MAX 512                   /* error message text, bytes incl. NUL */
#define HTTP_PARAM_MAX 64                      /* a route's path parameter, bytes */
#define HTTP_LOG_PATH_MAX 512                  /* request path in a log line, bytes incl. NUL */
#define HTTP_CONNECTIONS_MAX 4000u             /* open connections */
#define HTTP_CONNECTION_TIMEOUT_S 30u          /* idle connection, seconds */
#define HTTP_LISTEN_BACKLOG 1024u              /* pending connections */
#define SHUTDOWN_GRACE_MS 10000u               /* requests in flight get this long at stop */
#define LIST_LIMIT_MAX 1000                    /* rows per page of a listing (items, batches) */
#define LIST_LIMIT_DEFAULT 100                 /* rows per page without ?limit= */

/* ---- slow clients, memory per request (issue 15; rungd serve options) ---- */
#define PER_IP_CONNECTIONS_DEFAULT 1024u /* open connections from one address */
#define HEADER_TIMEOUT_S_DEFAULT 20      /* a request's headers must arrive within, seconds */
#define HEADER_TIMEOUT_S_MAX 3600
#define BODY_RATE_MIN_DEFAULT 1024       /* a body's average bytes per second at least (0: off) */
#define BODY_RATE_GRACE_S 5              /* the floor applies from this many seconds into a body */
#define IDLE_TIMEOUT_S_MAX 3600          /* longest --idle-timeout */
#define CONNECTIONS_MAX_MAX 100000       /* largest --max-connections */
#define RATE_LIMIT_MAX 1000000           /* largest --rate-limit, requests per second per key */
#define TEXT_MAX_DEFAULT (1024 * 1024)   /* an item's prompt or response, bytes */
#define TEXT_MAX_MIN 16                  /* smallest --max-text */
#define TEXT_MAX_MAX (512 * 1024 * 1024) /* largest --max-text (SQLite's own limit is 1e9) */
#define METADATA_MAX_DEFAULT (64 * 1024) /* an item's metadata, bytes of compact JSON */
#define PAGE_BYTES_DEFAULT (4 * 1024 * 1024) /* a listing page's item text, bytes */
#define PAGE_BYTES_MIN 4096
#define PAGE_BYTES_MAX ((int64_t)1 << 30)
#define STATUS_GROUPS_MAX 1000 /* batches (and domains) GET /v1/status lists, largest first */
#define DB_BYTES_MAX_MAX ((int64_t)1 << 50) /* largest --max-db-bytes */
#define RETRY_AFTER_FULL_S 60               /* Retry-After of a 507 (the database is full) */

/* ---- the store's checkpointer (store_ckpt.c), in WAL frames (pages) ---- */
#define CKPT_PASSIVE_PAGES 1000 /* a PASSIVE checkpoint from this many frames */
#define CKPT_CAP_PAGES 4096     /* the WAL's bound: RESTART past it (16 MiB at 4 KiB pages) */
#define CKPT_BUSY_MS 20         /* how long RESTART/TRUNCATE wait for readers, ms */
#define CKPT_GATE_MS 10000      /* longest a write waits for a RESTART at the bound, ms */

/* ---- layers ---- */
#define LAYER_POLL_MS 1000u       /* a running daemon checks for a new active layer this often */
#define DRIFT_SECONDS_DEFAULT 300 /* the active layer's drift is measured this often */
#define DRIFT_SECONDS_MAX 86400   /* longest --drift-seconds */
#define DRIFT_ITEMS 200           /* pairs in the drift probe set, and recent pairs compared */
#define DRIFT_BUDGET_MS 30000     /* one drift pass's wall time at most */
#define TRAIN_BITS_MIN 10         /* rungd train --bits range */
#define TRAIN_BITS_MAX 24
#define LAYER_TIMEOUT_MS_DEFAULT 2000 /* --layer-timeout: ingest waits this long for a layer */
#define LAYER_TIMEOUT_S_MAX 600       /* largest --layer-timeout, seconds */

/* ---- the command line ---- */
#define DB_PATH_DEFAULT "rung.db"
#define LISTEN_DEFAULT "127.0.0.1:8080"
#define ERR_TEXT_MAX 512 /* a sentence from store_open, bytes incl. NUL */

#endif
