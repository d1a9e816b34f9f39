/*
 * db_fixture.h - removing a unit test's SQLite database with the files
 * that live beside it (the WAL, its shared memory, the ledger's journal
 * and spool), for the tests that open a store in a temporary directory.
 */
#ifndef TOLLGATE_TEST_DB_FIXTURE_H
#define TOLLGATE_TEST_DB_FIXTURE_H

#include <stdio.h>
#include <unistd.h>

static inline void tg_test_remove_db(const char *db_path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", ".journal", ".spool"};
    char path[512];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", db_path, suffixes[i]);
        unlink(path);
    }
}

#endif
