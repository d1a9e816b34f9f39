/* migrations.c: the SQLite schema, as the list of migrations that build
 * it. Migration N takes a database from schema version N-1 to N; the
 * version a database is at is its PRAGMA user_version (0: empty). Append
 * a migration to change the schema; never edit one that has shipped. */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>

static const char *const migrations[] = {
    /* 1: the initial schema. Policy columns are NULL when not set; models
     * is a JSON array of names. The ledger has one index besides its id,
     * (org, ts) for usage queries: every further index would be paid on
     * each insert of the hot write path. */
    "CREATE TABLE orgs ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  plan TEXT NOT NULL,"
    "  created REAL NOT NULL,"
    "  rpm INTEGER, tpm INTEGER, max_concurrent INTEGER, budget_usd REAL, models TEXT"
    ");"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  hash BLOB UNIQUE NOT NULL CHECK (length(hash) = 32),"
    "  hint TEXT NOT NULL,"
    "  org TEXT NOT NULL REFERENCES orgs(name),"
    "  name TEXT NOT NULL,"
    "  created REAL NOT NULL,"
    "  last_used REAL,"
    "  revoked REAL,"
    "  rpm INTEGER, tpm INTEGER, max_concurrent INTEGER, budget_usd REAL, models TEXT,"
    "  UNIQUE (org, name)"
    ");"
    "CREATE TABLE ledger ("
    "  id INTEGER PRIMARY KEY,"
    "  ts REAL NOT NULL,"
    "  request_id TEXT NOT NULL,"
    "  org TEXT NOT NULL,"
    "  key_id TEXT NOT NULL,"
    "  model_requested TEXT NOT NULL,"
    "  model_used TEXT NOT NULL,"
    "  provider TEXT NOT NULL,"
    "  operation TEXT NOT NULL,"
    "  prompt_tokens INTEGER NOT NULL,"
    "  cached_tokens INTEGER NOT NULL,"
    "  cache_write_tokens INTEGER NOT NULL,"
    "  completion_tokens INTEGER NOT NULL,"
    "  reasoning_tokens INTEGER NOT NULL,"
    "  cost_usd REAL NOT NULL,"
    "  cache_hit INTEGER NOT NULL,"
    "  cache_tier TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  latency_seconds REAL NOT NULL,"
    "  ttft_seconds REAL,"
    "  estimated INTEGER NOT NULL"
    ");"
    "CREATE INDEX ledger_org_ts ON ledger (org, ts);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts REAL NOT NULL,"
    "  action TEXT NOT NULL,"
    "  org TEXT, user_id TEXT, request_id TEXT, key_id TEXT, key_hint TEXT,"
    "  client_addr TEXT, reason TEXT, detail TEXT"
    ");",
    /* 2: the response cache's persistent tier. `created` orders eviction
     * by size (oldest first), `expires` by time: each has its index. */
    "CREATE TABLE cache ("
    "  key BLOB PRIMARY KEY NOT NULL CHECK (length(key) = 32),"
    "  org TEXT NOT NULL,"
    "  created REAL NOT NULL,"
    "  expires REAL NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  payload BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX cache_created ON cache (created);"
    "CREATE INDEX cache_expires ON cache (expires);",
    /* 3: the ledger in blocks (ledger_block.c): a row of ledger_blocks per
     * transaction, its rows a JSON array, and a view `ledger` with the
     * table's columns over them. The old table's rows move into blocks
     * of 512; ledger_blocks_ts finds the blocks of a time range. A
     * block's ts_min and ts_max are its rows' times as the view gives
     * them (rounded to the microsecond), or a bound on a whole second
     * could skip a block holding a row of the range. */
    "CREATE TABLE ledger_blocks ("
    "  first_id INTEGER PRIMARY KEY," /* the smallest row id of the block */
    "  last_id INTEGER NOT NULL,"
    "  ts_min REAL NOT NULL,"
    "  ts_max REAL NOT NULL,"
    "  row_count INTEGER NOT NULL,"
    "  rows TEXT NOT NULL"
    ");"
    "INSERT INTO ledger_blocks (first_id, last_id, ts_min, ts_max, row_count, rows)"
    " SELECT min(id), max(id), min(ts_us) / 1e6, max(ts_us) / 1e6, count(*), json_group_array(json_array(id,"
    "   ts_us, request_id, org, key_id, model_requested, model_used, provider,"
    "   operation, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, reasoning_tokens,"
    "   CAST(round(cost_usd * 1e12) AS INTEGER), cache_hit, cache_tier, status,"
    "   CAST(round(latency_seconds * 1e9) AS INTEGER), CAST(round(ttft_seconds * 1e9) AS INTEGER), estimated))"
    " FROM (SELECT *, CAST(round(ts * 1e6) AS INTEGER) AS ts_us,"
    "   (row_number() OVER (ORDER BY id) - 1) / 512 AS block FROM ledger ORDER BY id)"
    " GROUP BY block;"
    "DROP TABLE ledger;"
    "CREATE INDEX ledger_blocks_ts ON ledger_blocks (ts_max);"
    "CREATE VIEW ledger AS " TG_LEDGER_ROWS_SELECT ";",
    /* 4: the blocks by last_id, for the replays' look-up of the ids they
     * may repeat (the blocks whose id range meets the replay's, which are
     * the last few: by first_id alone it read every block) and for the
     * largest id at start. One index entry a block, not a row. */
    "CREATE INDEX ledger_blocks_last_id ON ledger_blocks (last_id);",
};

#define LATEST ((int)(sizeof(migrations) / sizeof(migrations[0])))

int tg_sqlite_latest_version(void) { return LATEST; }

static int read_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

int tg_sqlite_apply_migrations(sqlite3 *db, int from, int to)
{
    int rc = SQLITE_OK;
    for (int v = from; v < to && v < LATEST && rc == SQLITE_OK; v++)
        rc = sqlite3_exec(db, migrations[v], NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rc;
    char sql[40];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", to < LATEST ? to : LATEST);
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

tg_store_status_t tg_sqlite_migrate(sqlite3 *db, const char *path, int *version, char **err)
{
    /* The version is read first without a lock, so that opening an
     * up-to-date database (the CLI while the server writes) never waits
     * for the write lock; it is read again under that lock, as another
     * process may have migrated in between. */
    int v = 0;
    int rc = read_version(db, &v);
    if (rc == SQLITE_OK && v < LATEST) {
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = read_version(db, &v);
        if (rc == SQLITE_OK && v < LATEST && (rc = tg_sqlite_apply_migrations(db, v, LATEST)) == SQLITE_OK)
            v = LATEST;
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        /* the message first: a rollback would replace sqlite3_errmsg */
        *err = tg_store_message("sqlite %s: migrating from schema version %d to %d: %s", path, v, LATEST,
                                 sqlite3_errmsg(db));
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return tg_sqlite_status(rc) == TG_STORE_BUSY ? TG_STORE_BUSY : TG_STORE_ERROR;
    }
    if (v > LATEST) {
        *err = tg_store_message("sqlite %s: the database's schema version %d is newer than this tollgate's %d;"
                                 " run a newer tollgate", path, v, LATEST);
        return TG_STORE_SCHEMA_NEWER;
    }
    *version = v;
    return TG_STORE_OK;
}
