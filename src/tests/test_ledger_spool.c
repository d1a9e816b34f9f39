/*
 * test_ledger_spool.c - the ledger's spool file (store/thread.c), where
 * a worker appends the row the journal had no room for, on a real store
 * thread. A write cut short (a full disk: here RLIMIT_FSIZE) must not
 * leave part of a record behind, or every record appended after it is
 * read out of step and dropped by the next replay: the rows spooled after
 * the disk has room again must reach the ledger. And a run that lived
 * less than a second with its rows only in the spool: the next run's row
 * ids must start above them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "config.h"
#include "limits/state.h"
#include "obs/metrics.h"
#include "store/thread.h"
#include "tests/db_fixture.h"

#include "tests/yaml_fixture.h"

typedef struct fixture {
    char db[300], spool[300];
    tg_config_t *cfg;
    tg_obs_t *obs;
    tg_limit_registry_t *limits;
    tg_store_thread_t *thread;
} fixture_t;

static void start(fixture_t *f)
{
    char *err = NULL;
    f->thread = tg_store_thread_start(f->cfg, f->obs, f->limits, &err);
    if (f->thread == NULL)
        fail_msg("the store thread did not start: %s", err);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->db, sizeof(f->db), "%s/t.db", tmpdir);
    snprintf(f->spool, sizeof(f->spool), "%s/t.db.spool", tmpdir);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "providers:\n  - { name: p, base_url: \"http://127.0.0.1:9/v1\" }\n"
             "models:\n  - { name: m, routes: [ { provider: p } ] }\n"
             "store:\n  driver: sqlite\n  path: %s\n",
             f->db);
    f->cfg = load_yaml(yaml);
    tg_obs_opts_t o = {.metric_namespace = "spool", .version = "test"};
    f->obs = tg_obs_new(&o, NULL);
    f->limits = tg_limit_registry_new();
    assert_non_null(f->obs);
    assert_non_null(f->limits);
    start(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    tg_store_thread_stop(f->thread);
    tg_limit_registry_free(f->limits);
    tg_obs_free(f->obs);
    tg_config_free(f->cfg);
    tg_test_remove_db(f->db);
    free(f);
    return 0;
}

static tg_ledger_row_t make_row(int64_t id, const char *request_id)
{
    tg_ledger_row_t r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    r.ts = 1764460800;
    snprintf(r.request_id, sizeof(r.request_id), "%s", request_id);
    strcpy(r.org, "anonymous");
    strcpy(r.operation, "chat");
    r.status = 200;
    r.ttft_seconds = -1;
    return r;
}

static off_t size_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void test_a_write_cut_short_leaves_no_part_of_a_record(void **state)
{
    fixture_t *f = *state;
    signal(SIGXFSZ, SIG_IGN); /* beyond the limit: EFBIG rather than a signal */
    tg_ledger_row_t before = make_row((INT64_C(1) << 40) + 1, "spooled-before");
    assert_int_equal(tg_store_spool(f->thread, &before), 0);
    off_t whole = size_of(f->spool);

    /* room for a part of the next record only: the disk is full */
    struct rlimit old, cut;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    cut = old;
    cut.rlim_cur = (rlim_t)whole + 100;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &cut), 0);
    tg_ledger_row_t lost = make_row((INT64_C(1) << 40) + 2, "spooled-on-a-full-disk");
    int rc = tg_store_spool(f->thread, &lost);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, -1); /* logged: the one row a full disk costs */
    assert_int_equal(size_of(f->spool), whole);

    /* room again: the next rows are whole records, in step */
    tg_ledger_row_t after = make_row((INT64_C(1) << 40) + 3, "spooled-after");
    assert_int_equal(tg_store_spool(f->thread, &after), 0);
    assert_int_equal(size_of(f->spool), 2 * whole);

    /* a restart replays the spool */
    tg_store_thread_stop(f->thread);
    start(f);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(request_id) FROM"
                                            " (SELECT request_id FROM ledger ORDER BY id)", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *ids = (const char *)sqlite3_column_text(st, 0);
    assert_string_equal(ids != NULL ? ids : "(none)", "spooled-before,spooled-after");
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(size_of(f->spool), 0);
}

/* The request ids in the ledger, in id order, joined by commas. */
static void expect_ledger(fixture_t *f, const char *want)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(request_id) || '|' || count(DISTINCT id) FROM"
                                            " (SELECT request_id, id FROM ledger ORDER BY id)", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *got = (const char *)sqlite3_column_text(st, 0);
    assert_string_equal(got != NULL ? got : "(none)", want);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Row ids are the start second above a sequence. A run that lived less
 * than a second and committed nothing (its rows all in the spool) shares
 * the next run's start second: the next run's ids must still start above
 * the spooled ones, or its first block repeats their ids (its insert
 * fails for good on first_id, and a replay takes the rows for ones
 * already there and drops them). */
static void test_ids_start_above_a_short_runs_spooled_rows(void **state)
{
    fixture_t *f = *state;
    tg_store_thread_stop(f->thread);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    /* 20 ms into the next second: time(), which the ids use, may run on
     * a coarse clock a few ms behind */
    long ns = 1000000000L - now.tv_nsec + 20000000L;
    struct timespec wait = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&wait, NULL);
    time_t second = time(NULL);
    start(f);
    tg_ledger_row_t spooled = make_row(tg_store_thread_row_id(f->thread), "spooled");
    assert_int_equal(tg_store_spool(f->thread, &spooled), 0);
    tg_store_thread_stop(f->thread); /* as a kill would: the spool is replayed at the next start */
    start(f);
    if (time(NULL) != second)
        skip(); /* the machine took a second over two starts: nothing is proved */
    int64_t id = tg_store_thread_row_id(f->thread);
    assert_true(id > spooled.id);
    uint64_t ticket;
    tg_ledger_row_t *slot = tg_store_ledger_claim(f->thread, &ticket);
    assert_non_null(slot);
    *slot = make_row(id, "fresh");
    tg_store_ledger_publish(f->thread, ticket);
    tg_store_thread_stop(f->thread); /* commits the journal's rows */
    start(f);
    expect_ledger(f, "spooled,fresh|2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_write_cut_short_leaves_no_part_of_a_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_start_above_a_short_runs_spooled_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, yaml_setup, yaml_teardown);
}
