/* sqlite_int.h: what the SQLite backend's files share and nothing outside
 * store/sqlite/ may use: the schema migrations, the ledger's blocks, and
 * how an SQLite result code becomes a store status. */
#ifndef TOLLGATE_STORE_SQLITE_SQLITE_INT_H
#define TOLLGATE_STORE_SQLITE_SQLITE_INT_H

#include <sqlite3.h>

#include "store/store.h"

/* The schema version this binary migrates to. */
int tg_sqlite_latest_version(void);

/* Runs migrations from+1 .. to on db and sets its user_version (no
 * transaction of its own; the tests make databases of old versions). */
int tg_sqlite_apply_migrations(sqlite3 *db, int from, int to);

/* Brings db to the latest schema, all missing migrations in one
 * transaction; *version gets the version db is at. SCHEMA_NEWER, with
 * both versions in *err, when db is ahead of this binary. */
tg_store_status_t tg_sqlite_migrate(sqlite3 *db, const char *path, int *version, char **err);

/* A transaction's ledger rows as the JSON text of one ledger_blocks row
 * (ledger_block.c), with the block's id and time ranges. */
typedef struct tg_ledger_block {
    char *text;         /* [[id, ts_us, "request_id", ...], ...]; grown as needed, reused */
    size_t len, cap;
    size_t rows;
    int64_t first_id, last_id; /* the smallest and largest row id */
    double ts_min, ts_max;
} tg_ledger_block_t;

/* Encodes rows[0..n) (n > 0) into b; -1 when out of memory. */
int tg_ledger_block_encode(tg_ledger_block_t *b, const tg_ledger_row_t *rows, size_t n);
void tg_ledger_block_free(tg_ledger_block_t *b);

/* The ledger's rows out of the blocks, one per request, with the columns
 * of the `ledger` view; a query adds its WHERE on b (the blocks) after it.
 * Migration 3 made the view with this text: a change to the encoding
 * needs a migration that makes the view again. */
#define TG_LEDGER_ROWS_SELECT                                                                              \
    "SELECT j.value->>0 AS id, (j.value->>1) / 1e6 AS ts, j.value->>2 AS request_id, j.value->>3 AS org,"  \
    " j.value->>4 AS key_id, j.value->>5 AS model_requested, j.value->>6 AS model_used,"                  \
    " j.value->>7 AS provider, j.value->>8 AS operation, j.value->>9 AS prompt_tokens,"                   \
    " j.value->>10 AS cached_tokens, j.value->>11 AS cache_write_tokens,"                                  \
    " j.value->>12 AS completion_tokens, j.value->>13 AS reasoning_tokens,"                                \
    " (j.value->>14) / 1e12 AS cost_usd, j.value->>15 AS cache_hit, j.value->>16 AS cache_tier,"          \
    " j.value->>17 AS status, (j.value->>18) / 1e9 AS latency_seconds,"                                    \
    " (j.value->>19) / 1e9 AS ttft_seconds, j.value->>20 AS estimated"                                     \
    " FROM ledger_blocks b, json_each(b.rows) j"

/* rc is an extended result code (the connection has them on). A unique
 * name or id taken is EXISTS; a foreign key to nothing (a key's org) is
 * NOT_FOUND; a lock held too long is BUSY. */
static inline tg_store_status_t tg_sqlite_status(int rc)
{
    switch (rc) {
    case SQLITE_OK: case SQLITE_ROW: case SQLITE_DONE: return TG_STORE_OK;
    case SQLITE_CONSTRAINT_UNIQUE: case SQLITE_CONSTRAINT_PRIMARYKEY: return TG_STORE_EXISTS;
    case SQLITE_CONSTRAINT_FOREIGNKEY: return TG_STORE_NOT_FOUND;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: return TG_STORE_BUSY;
    }
    return TG_STORE_ERROR;
}

#endif
