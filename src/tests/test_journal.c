/*
 * test_journal.c - the ledger's journal (store/journal.h) through its
 * public API, on files in a temporary directory: tickets taken in order
 * whatever order they are published in, the ring full and freed again,
 * rewind, the recovery of a killed run's rows (and of none twice), a torn
 * slot skipped, a refused recovery keeping the rows, a second open and a
 * foreign file or a journal of another row layout refused (the file
 * untouched), resizing; and four producer threads against a consumer on
 * a small ring, every row arriving once.
 * No CTest runs unit tests under ThreadSanitizer: run build-tsan's
 * gw_test_journal by hand after a change to the journal's atomics.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/journal.h"

typedef struct fixture {
    char dir[32];
    char path[64];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/tg-journal-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/ledger.journal", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ------------------------------------------------------------- rows */

/* Every field derives from the id (and the producer), so that a row read
 * torn or from the wrong slot shows. */
static void make_row(tg_ledger_row_t *row, int64_t id, int producer)
{
    memset(row, 0, sizeof(*row)); /* the check reads the padding too */
    row->id = id;
    row->ts = 1700000000.0 + (double)id;
    snprintf(row->request_id, sizeof(row->request_id), "req-%lld", (long long)id);
    snprintf(row->org, sizeof(row->org), "org-%d", producer);
    strcpy(row->operation, "chat");
    row->prompt_tokens = id * 3;
    row->completion_tokens = id * 7;
    row->cost_usd = (double)id / 4;
    row->status = 200;
}

static bool row_intact(const tg_ledger_row_t *row, int producer)
{
    tg_ledger_row_t want;
    make_row(&want, row->id, producer);
    return memcmp(row, &want, sizeof(want)) == 0;
}

static void assert_row(const tg_ledger_row_t *row, int producer)
{
    if (!row_intact(row, producer))
        fail_msg("row %lld is not the row written", (long long)row->id);
}

/* Claims a slot, writes row id into it and publishes it. */
static void put(tg_journal_t *j, int64_t id)
{
    uint64_t ticket = 0;
    tg_ledger_row_t *row = tg_journal_claim(j, &ticket);
    assert_non_null(row);
    make_row(row, id, 0);
    tg_journal_publish(j, ticket);
}

/* Takes up to max rows and asserts they are ids first, first+1, ... */
static void take_ids(tg_journal_t *j, size_t max, int64_t first, size_t want)
{
    tg_ledger_row_t rows[64];
    assert_true(max <= 64);
    size_t n = tg_journal_take(j, rows, max);
    assert_int_equal(n, want);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].id, first + (int64_t)i);
        assert_row(&rows[i], 0);
    }
}

/* ------------------------------------------------------------- opening */

typedef struct recovered {
    int64_t ids[256];
    size_t count;
    int calls;
    size_t biggest; /* the largest batch */
    int fail_at;    /* the call (1-based) that refuses its rows; 0: none */
} recovered_t;

static int recover(void *ctx, const tg_ledger_row_t *rows, size_t n)
{
    recovered_t *r = ctx;
    r->calls++;
    if (r->fail_at == r->calls)
        return -1;
    assert_true(n > 0);
    if (n > r->biggest)
        r->biggest = n;
    for (size_t i = 0; i < n; i++) {
        assert_row(&rows[i], 0);
        assert_true(r->count < 256);
        r->ids[r->count++] = rows[i].id;
    }
    return 0;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Asserts the recovered ids are exactly want[0..n), in any order. */
static void assert_recovered(recovered_t *r, const int64_t *want, size_t n)
{
    assert_int_equal(r->count, n);
    qsort(r->ids, r->count, sizeof(r->ids[0]), by_id);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r->ids[i], want[i]);
}

static tg_journal_t *open_ok(const fixture_t *f, uint32_t slots, size_t batch_max, recovered_t *r)
{
    char *err = NULL;
    tg_journal_t *j = tg_journal_open(f->path, slots, batch_max, recover, r, &err);
    if (j == NULL)
        fail_msg("tg_journal_open: %s", err);
    assert_null(err);
    return j;
}

/* Asserts the open is refused with an error that names the file. */
static void open_refused(const fixture_t *f, uint32_t slots, recovered_t *r, const char *why)
{
    char *err = NULL;
    assert_null(tg_journal_open(f->path, slots, 16, recover, r, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, f->path));
    if (strstr(err, why) == NULL)
        fail_msg("expected \"%s\" in: %s", why, err);
    free(err);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* The whole file, malloc'd; *len its size. */
static char *slurp(const char *path, size_t *len)
{
    *len = (size_t)file_size(path);
    char *buf = malloc(*len + 1);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, *len, 0), (ssize_t)*len);
    close(fd);
    return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* ------------------------------------------------------------- the ring */

/* Tickets are taken in claim order whatever the order of their publishes:
 * take stops at a claimed slot not yet published. */
static void test_order(void **state)
{
    fixture_t *f = *state;
    recovered_t r = {0};
    tg_journal_t *j = open_ok(f, 8, 16, &r);
    assert_int_equal(r.calls, 0); /* a new file: nothing to recover */
    assert_int_equal(tg_journal_depth(j), 0);
    take_ids(j, 8, 1, 0);

    uint64_t t[3];
    tg_ledger_row_t *rows[3];
    for (int i = 0; i < 3; i++) {
        rows[i] = tg_journal_claim(j, &t[i]);
        assert_non_null(rows[i]);
        make_row(rows[i], i + 1, 0);
        if (i > 0)
            assert_int_equal(t[i], t[i - 1] + 1);
    }
    assert_int_equal(tg_journal_depth(j), 3);
    tg_journal_publish(j, t[1]);
    take_ids(j, 8, 1, 0); /* the first is still being written */
    tg_journal_publish(j, t[0]);
    take_ids(j, 8, 1, 2);
    take_ids(j, 8, 3, 0);
    tg_journal_publish(j, t[2]);
    take_ids(j, 8, 3, 1);
    assert_int_equal(tg_journal_depth(j), 3); /* taken is not free */
    tg_journal_release(j);
    assert_int_equal(tg_journal_depth(j), 0);

    /* max bounds a take; the rest waits for the next */
    for (int64_t id = 4; id <= 8; id++)
        put(j, id);
    take_ids(j, 2, 4, 2);
    take_ids(j, 2, 6, 2);
    take_ids(j, 2, 8, 1);
    tg_journal_release(j);
    assert_int_equal(tg_journal_depth(j), 0);
    tg_journal_close(j);
}

/* A full ring refuses claims until the store thread releases; the ring
 * wraps around many times with rows intact. */
static void test_full(void **state)
{
    fixture_t *f = *state;
    recovered_t r = {0};
    tg_journal_t *j = open_ok(f, 4, 16, &r);
    uint64_t ticket;
    for (int64_t id = 1; id <= 4; id++)
        put(j, id);
    assert_int_equal(tg_journal_depth(j), 4);
    assert_null(tg_journal_claim(j, &ticket));
    take_ids(j, 8, 1, 4);
    assert_null(tg_journal_claim(j, &ticket)); /* taken, not yet committed */
    tg_journal_release(j);
    assert_int_equal(tg_journal_depth(j), 0);

    /* a partial release frees that many slots, no more */
    for (int64_t id = 5; id <= 8; id++)
        put(j, id);
    take_ids(j, 2, 5, 2);
    tg_journal_release(j);
    assert_int_equal(tg_journal_depth(j), 2);
    put(j, 9);
    put(j, 10);
    assert_null(tg_journal_claim(j, &ticket));
    take_ids(j, 8, 7, 4);
    tg_journal_release(j);

    /* round after round, in takes of 1 to 4 rows */
    int64_t next = 11, expect = 11;
    for (int round = 0; round < 100; round++) {
        size_t room = 4 - (size_t)tg_journal_depth(j), batch = 1 + (size_t)round % 4;
        for (size_t i = 0; i < room; i++)
            put(j, next++);
        assert_null(tg_journal_claim(j, &ticket));
        take_ids(j, batch, expect, batch);
        expect += (int64_t)batch;
        tg_journal_release(j);
    }
    take_ids(j, 8, expect, (size_t)(next - expect));
    tg_journal_release(j);
    assert_int_equal(tg_journal_depth(j), 0);
    tg_journal_close(j);
}

/* A failed transaction's rows are read again, and only those. */
static void test_rewind(void **state)
{
    fixture_t *f = *state;
    recovered_t r = {0};
    tg_journal_t *j = open_ok(f, 8, 16, &r);
    for (int64_t id = 1; id <= 3; id++)
        put(j, id);
    take_ids(j, 8, 1, 3);
    tg_journal_rewind(j);
    assert_int_equal(tg_journal_depth(j), 3);
    take_ids(j, 8, 1, 3);
    tg_journal_release(j);
    take_ids(j, 8, 4, 0);

    put(j, 4);
    put(j, 5);
    take_ids(j, 1, 4, 1);
    tg_journal_release(j);
    take_ids(j, 1, 5, 1);
    tg_journal_rewind(j); /* back to 5, not to 4 (committed) */
    put(j, 6);
    take_ids(j, 8, 5, 2);
    tg_journal_release(j);
    assert_int_equal(tg_journal_depth(j), 0);
    tg_journal_close(j);
}

/* -------------------------------------------------------------- recovery */

/* Rows published and not released (taken or not) are recovered at the
 * next open, in batches of at most batch_max, and then gone; released
 * rows and a claimed slot never published are not. */
static void test_recover(void **state)
{
    fixture_t *f = *state;
    recovered_t r = {0};
    tg_journal_t *j = open_ok(f, 8, 2, &r);
    for (int64_t id = 1; id <= 5; id++)
        put(j, id);
    uint64_t ticket;
    tg_ledger_row_t *unpublished = tg_journal_claim(j, &ticket);
    assert_non_null(unpublished);
    make_row(unpublished, 6, 0);
    take_ids(j, 2, 1, 2);
    tg_journal_release(j);
    take_ids(j, 1, 3, 1); /* in a transaction when the process died */
    tg_journal_close(j);  /* as a kill would leave it: no release */

    j = open_ok(f, 8, 2, &r);
    assert_recovered(&r, (const int64_t[]){3, 4, 5}, 3);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.biggest, 2);
    assert_int_equal(tg_journal_depth(j), 0);
    take_ids(j, 8, 1, 0);
    tg_journal_close(j);

    /* emptied: the next open finds nothing */
    recovered_t again = {0};
    j = open_ok(f, 8, 2, &again);
    assert_int_equal(again.calls, 0);
    /* a new run's tickets start over and are recovered as well */
    put(j, 7);
    put(j, 8);
    tg_journal_close(j);

    /* batch_max 0 is taken as 1 */
    recovered_t ones = {0};
    j = open_ok(f, 8, 0, &ones);
    assert_recovered(&ones, (const int64_t[]){7, 8}, 2);
    assert_int_equal(ones.biggest, 1);
    tg_journal_close(j);
}

/* A slot whose row no longer matches its check (torn by a crash of the
 * machine) is skipped; the others are recovered. */
static void test_torn_slot(void **state)
{
    fixture_t *f = *state;
    recovered_t r = {0};
    tg_journal_t *j = open_ok(f, 8, 16, &r);
    for (int64_t id = 1; id <= 3; id++)
        put(j, id);
    tg_journal_close(j);

    size_t len;
    char *file = slurp(f->path, &len);
    char *at = memmem(file, len, "req-2", 6);
    assert_non_null(at);
    assert_null(memmem(at + 1, len - (size_t)(at + 1 - file), "req-2", 6)); /* the one copy */
    char torn = '7';
    int fd = open(f->path, O_WRONLY);
    assert_int_equal(pwrite(fd, &torn, 1, at + 4 - file), 1);
    close(fd);
    free(file);

    j = open_ok(f, 8, 16, &r);
    assert_recovered(&r, (const int64_t[]){1, 3}, 2);
    tg_journal_close(j);
}

/* A recover that refuses its rows fails the open and leaves the file as
 * it was, unlocked: a later open recovers every row. */
static void test_recover_refused(void **state)
{
    fixture_t *f = *state;
    recovered_t r = {0};
    tg_journal_t *j = open_ok(f, 8, 2, &r);
    for (int64_t id = 1; id <= 3; id++)
        put(j, id);
    tg_journal_close(j);
    size_t len, len_after;
    char *before = slurp(f->path, &len);

    for (int fail_at = 1; fail_at <= 2; fail_at++) { /* the first batch, then the second */
        recovered_t refusing = {.fail_at = fail_at};
        char *err = NULL;
        assert_null(tg_journal_open(f->path, 8, 2, recover, &refusing, &err));
        assert_non_null(err);
        assert_non_null(strstr(err, f->path));
        free(err);
        assert_int_equal(refusing.calls, fail_at);
        char *after = slurp(f->path, &len_after);
        assert_int_equal(len_after, len);
        assert_memory_equal(after, before, len);
        free(after);
    }
    free(before);

    recovered_t ok = {0};
    j = open_ok(f, 8, 2, &ok);
    assert_recovered(&ok, (const int64_t[]){1, 2, 3}, 3);
    tg_journal_close(j);
}

/* ------------------------------------------------------------ refusals */

/* A second open of a journal in use is refused, and leaves the first's
 * file and rows alone; the lock goes with the close. */
static void test_second_open(void **state)
{
    fixture_t *f = *state;
    recovered_t r = {0};
    tg_journal_t *j = open_ok(f, 8, 16, &r);
    put(j, 1);
    put(j, 2);
    off_t size = file_size(f->path);

    recovered_t second = {0};
    open_refused(f, 8, &second, "in use");
    open_refused(f, 64, &second, "in use"); /* whatever its size */
    assert_int_equal(second.calls, 0);
    assert_int_equal(file_size(f->path), size);
    put(j, 3); /* the first's mapping is intact (a truncated file would fault) */
    take_ids(j, 8, 1, 3);
    tg_journal_close(j); /* not released: they are the next open's */

    j = open_ok(f, 8, 16, &second);
    assert_recovered(&second, (const int64_t[]){1, 2, 3}, 3);
    tg_journal_close(j);
}

/* A file that is no journal of this build is refused and left as it was.
 * A journal cut short (a kill while it was made: the header comes first)
 * gives the rows of the slots that are whole, and a header alone none. */
static void test_foreign_file(void **state)
{
    fixture_t *f = *state;
    char text[100];
    memset(text, 'x', sizeof(text));
    memcpy(text, "store:\n  path: /var/lib/tollgate/tollgate.db\n", 46);
    write_file(f->path, text, sizeof(text));
    recovered_t r = {0};
    open_refused(f, 8, &r, "not a journal");
    open_refused(f, 8, &r, "not a journal"); /* and the lock went with the refusal */
    assert_int_equal(r.calls, 0);
    size_t len;
    char *after = slurp(f->path, &len);
    assert_int_equal(len, sizeof(text));
    assert_memory_equal(after, text, sizeof(text));
    free(after);

    unlink(f->path);
    tg_journal_t *j = open_ok(f, 8, 16, &r);
    for (int64_t id = 1; id <= 8; id++)
        put(j, id);
    tg_journal_close(j);
    off_t whole = file_size(f->path);

    /* a journal of a build whose row has another layout (its header's
     * second word): refused, rows and all, rather than read wrong */
    char *journal = slurp(f->path, &len);
    uint32_t layout;
    memcpy(&layout, journal + 4, 4);
    layout ^= 1;
    memcpy(journal + 4, &layout, 4);
    write_file(f->path, journal, len);
    open_refused(f, 8, &r, "not a journal");
    assert_int_equal(r.calls, 0);
    after = slurp(f->path, &len);
    assert_int_equal(len, whole);
    assert_memory_equal(after, journal, len);
    free(after);
    layout ^= 1;
    memcpy(journal + 4, &layout, 4);
    write_file(f->path, journal, len);
    free(journal);

    assert_int_equal(truncate(f->path, whole - 1), 0); /* the last slot is cut */
    j = open_ok(f, 8, 16, &r);
    assert_recovered(&r, (const int64_t[]){1, 2, 3, 4, 5, 6, 7}, 7);
    assert_int_equal(file_size(f->path), whole);
    tg_journal_close(j);
    assert_int_equal(truncate(f->path, 12), 0); /* the header alone */
    recovered_t none = {0};
    j = open_ok(f, 8, 16, &none);
    assert_int_equal(none.calls, 0);
    tg_journal_close(j);
}

/* Reopening with another slot count recovers the rows of the old size,
 * then holds exactly the new count. */
static void test_resize(void **state)
{
    fixture_t *f = *state;
    recovered_t r = {0};
    tg_journal_t *j = open_ok(f, 8, 16, &r);
    for (int64_t id = 1; id <= 3; id++)
        put(j, id);
    tg_journal_close(j);
    off_t small = file_size(f->path);

    j = open_ok(f, 32, 16, &r);
    assert_recovered(&r, (const int64_t[]){1, 2, 3}, 3);
    assert_true(file_size(f->path) > small);
    uint64_t ticket;
    for (int64_t id = 101; id <= 132; id++)
        put(j, id);
    assert_null(tg_journal_claim(j, &ticket));
    tg_journal_close(j);

    recovered_t grown = {0};
    j = open_ok(f, 4, 16, &grown);
    int64_t want[32];
    for (int i = 0; i < 32; i++)
        want[i] = 101 + i;
    assert_recovered(&grown, want, 32);
    assert_true(file_size(f->path) < small);
    for (int64_t id = 201; id <= 204; id++)
        put(j, id);
    assert_null(tg_journal_claim(j, &ticket));
    take_ids(j, 8, 201, 4);
    tg_journal_release(j);
    tg_journal_close(j);
}

/* ------------------------------------------------------------- threads */

#define PRODUCERS 4
#define ROWS_EACH 50000
#define RING 1024

typedef struct producer {
    tg_journal_t *j;
    int index;
} producer_t;

/* Writes ROWS_EACH rows, ids index * ROWS_EACH + 1 on, waiting while the
 * ring is full. */
static void *produce(void *arg)
{
    producer_t *p = arg;
    for (int64_t i = 1; i <= ROWS_EACH; i++) {
        uint64_t ticket;
        tg_ledger_row_t *row;
        while ((row = tg_journal_claim(p->j, &ticket)) == NULL)
            sched_yield();
        make_row(row, (int64_t)p->index * ROWS_EACH + i, p->index);
        tg_journal_publish(p->j, ticket);
    }
    return NULL;
}

typedef struct consumer {
    tg_journal_t *j;
    char error[128]; /* the first thing wrong; cmocka's asserts belong to the main thread */
} consumer_t;

/* Takes in batches of 1 to 97 rows and, as a failed transaction would,
 * rewinds every fifth batch instead of releasing it: a row counts once
 * released. Each producer's rows arrive in its order (its tickets grow).
 * After an error it only drains, so that the producers finish. */
static void *consume(void *arg)
{
    consumer_t *c = arg;
    tg_ledger_row_t rows[97];
    unsigned char *seen = calloc(PRODUCERS * ROWS_EACH + 1, 1);
    int64_t last[PRODUCERS] = {0};
    size_t committed = 0;
    for (unsigned round = 0; committed < PRODUCERS * ROWS_EACH; round++) {
        size_t n = tg_journal_take(c->j, rows, 1 + round % 97);
        if (n == 0) {
            sched_yield();
            continue;
        }
        bool commit = round % 5 != 0 || c->error[0] != '\0';
        for (size_t i = 0; i < n && c->error[0] == '\0'; i++) {
            int64_t id = rows[i].id;
            int producer = (int)((id - 1) / ROWS_EACH);
            if (id < 1 || producer >= PRODUCERS || !row_intact(&rows[i], producer))
                snprintf(c->error, sizeof(c->error), "row %lld is not a row written", (long long)id);
            else if (commit && (seen[id] != 0 || id <= last[producer]))
                snprintf(c->error, sizeof(c->error), "row %lld came twice or out of its producer's order",
                         (long long)id);
            else if (commit) {
                seen[id] = 1;
                last[producer] = id;
            }
        }
        if (!commit) {
            tg_journal_rewind(c->j);
            continue;
        }
        committed += n;
        tg_journal_release(c->j);
    }
    for (int64_t id = 1; id <= PRODUCERS * ROWS_EACH && c->error[0] == '\0'; id++)
        if (seen[id] == 0)
            snprintf(c->error, sizeof(c->error), "row %lld never came", (long long)id);
    free(seen);
    return NULL;
}

static void test_threads(void **state)
{
    fixture_t *f = *state;
    recovered_t r = {0};
    tg_journal_t *j = open_ok(f, RING, 64, &r);
    consumer_t c = {.j = j};
    producer_t producers[PRODUCERS];
    pthread_t consumer_thread, producer_threads[PRODUCERS];
    assert_int_equal(pthread_create(&consumer_thread, NULL, consume, &c), 0);
    for (int p = 0; p < PRODUCERS; p++) {
        producers[p] = (producer_t){j, p};
        assert_int_equal(pthread_create(&producer_threads[p], NULL, produce, &producers[p]), 0);
    }
    for (int p = 0; p < PRODUCERS; p++)
        pthread_join(producer_threads[p], NULL);
    pthread_join(consumer_thread, NULL);
    if (c.error[0] != '\0')
        fail_msg("%s", c.error);
    assert_int_equal(tg_journal_depth(j), 0);
    take_ids(j, 8, 1, 0);
    tg_journal_close(j);

    recovered_t after = {0};
    j = open_ok(f, RING, 64, &after);
    assert_int_equal(after.calls, 0); /* every row was released */
    tg_journal_close(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
