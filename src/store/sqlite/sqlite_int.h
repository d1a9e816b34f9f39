/* sqlite_int.h: what the SQLite backend's files share and nothing outside
 * store/sqlite/ may use: the schema migrations, the one-line error
 * messages of open, and how an SQLite result code becomes a store status. */
#ifndef TOLLGATE_STORE_SQLITE_SQLITE_INT_H
#define TOLLGATE_STORE_SQLITE_SQLITE_INT_H

#include <sqlite3.h>

#include "store/store.h"

/* The schema version this binary migrates to. */
int tg_sqlite_latest_version(void);

/* Brings db to the latest schema, all missing migrations in one
 * transaction; *version gets the version db is at. SCHEMA_NEWER, with
 * both versions in *err, when db is ahead of this binary. */
tg_store_status_t tg_sqlite_migrate(sqlite3 *db, const char *path, int *version, char **err);

/* A malloc'd one-line message (line breaks become spaces); NULL when out
 * of memory. */
char *tg_sqlite_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
