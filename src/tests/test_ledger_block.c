/*
 * test_ledger_block.c - the SQLite ledger's blocks (store/sqlite/
 * ledger_block.c) and the `ledger` view over them, attacked: rows whose
 * strings hold any byte (invalid UTF-8, quotes, control characters, every
 * array full, even without its NUL) and whose numbers are extreme (the
 * int64 ends, NaN, infinities, huge doubles) go through the real backend,
 * and every block must stay valid JSON and the view give back each value
 * as sent or as documented; the encoder's buffer bound is exercised at
 * its worst case under ASan. Usage totals over blocks (time bounds inside
 * a block, rows out of order in a block, one-row blocks, rows whose time
 * rounds onto a bound) must equal SQL over the view. Fixed seeds: the
 * same rows every run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "core/clock.h"
#include "store/sqlite/sqlite_int.h"
#include "store/store.h"
#include "tests/db_fixture.h"

typedef struct fixture {
    char dir[32];
    char path[64];
    const tg_store_methods_t *m;
    tg_store_t *s;
    sqlite3 *db; /* a reader's connection, as python's sqlite3 would have */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/tg-block-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/test.db", f->dir);
    f->m = tg_store_backend("sqlite");
    tg_store_options_t o = {.path = f->path};
    char *err = NULL;
    assert_int_equal(f->m->open(&o, &f->s, &err), TG_STORE_OK);
    assert_null(err);
    assert_int_equal(sqlite3_open(f->path, &f->db), SQLITE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sqlite3_close(f->db);
    f->m->close(f->s);
    tg_test_remove_db(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t sql_int(fixture_t *f, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* splitmix64: a fixed seed gives the same rows on every machine */
static uint64_t rnd_state;
static uint64_t rnd(void)
{
    uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static size_t rnd_below(size_t n) { return (size_t)(rnd() % n); }

/* ---- what the view must give back ----------------------------------------- */

/* s[0..n) as JSON keeps it: valid UTF-8 as it is, each byte of an invalid
 * sequence as U+FFFD (tg_json_escape's contract), written independently of
 * it from RFC 3629's table of well-formed sequences. */
static size_t sanitized(const unsigned char *s, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = 0;
        unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
        if (c < 0x80) len = 1;
        else if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) len = 3, lo = 0xA0;
        else if (c >= 0xE1 && c <= 0xEC) len = 3;
        else if (c == 0xED) len = 3, hi = 0x9F;
        else if (c >= 0xEE && c <= 0xEF) len = 3;
        else if (c == 0xF0) len = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else if (c == 0xF4) len = 4, hi = 0x8F;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = k == 1 ? s[i + k] >= lo && s[i + k] <= hi : s[i + k] >= 0x80 && s[i + k] <= 0xBF;
        if (ok) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

#define LIMIT 9e18 /* ledger_block.c: a scaled number is clamped to +-LIMIT units */

/* The integer a double is stored as (ledger_block.c's header): NaN is 0,
 * beyond +-LIMIT units is +-LIMIT. */
static int64_t expect_units(double x, double scale)
{
    if (isnan(x))
        return 0;
    double v = x * scale;
    return llround(v > LIMIT ? LIMIT : v < -LIMIT ? -LIMIT : v);
}

/* ---- rows with anything in them ------------------------------------------- */

static void random_string(char *field, size_t size)
{
    static const char specials[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f\x80\xbf\xc0\xc1\xed\xa0\xf4\x90\xf5\xff";
    size_t len;
    switch (rnd_below(8)) {
    case 0: len = size; break;      /* full, no NUL: the encoder reads the whole array */
    case 1: len = size - 1; break;  /* full */
    case 2: len = 0; break;
    default: len = rnd_below(size); break;
    }
    int mode = (int)rnd_below(4);
    for (size_t i = 0; i < len; i++) {
        unsigned char c;
        if (mode == 0) {
            c = (unsigned char)(1 + rnd_below(255)); /* any byte but NUL */
        } else if (mode == 1) {
            c = (unsigned char)specials[rnd_below(sizeof(specials) - 1)];
        } else if (mode == 2 && i + 4 <= len) { /* a valid sequence of 2..4 bytes, or one cut short */
            uint32_t cp = (uint32_t)(0x80 + rnd_below(0x10FFFF - 0x80));
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD;
            unsigned char seq[4];
            size_t n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            for (size_t k = n - 1; k > 0; k--, cp >>= 6)
                seq[k] = (unsigned char)(0x80 | (cp & 0x3F));
            seq[0] = (unsigned char)((n == 2 ? 0xC0 : n == 3 ? 0xE0 : 0xF0) | cp);
            size_t keep = rnd_below(6) == 0 ? 1 + rnd_below(n) : n;
            memcpy(field + i, seq, keep);
            i += keep - 1;
            continue;
        } else {
            c = (unsigned char)(0x20 + rnd_below(0x5f));
        }
        field[i] = (char)c;
    }
    if (len < size)
        field[len] = '\0';
}

static int64_t random_int64(void)
{
    static const int64_t edges[] = {INT64_MAX, INT64_MIN, INT64_MIN + 1, 0, -1, 1, 999999999999, -42};
    return rnd_below(3) == 0 ? edges[rnd_below(8)] : rnd_below(2) ? (int64_t)rnd() : (int64_t)rnd_below(1000000);
}

static double random_double(double typical)
{
    static const double edges[] = {NAN, -NAN, INFINITY, -INFINITY, DBL_MAX, -DBL_MAX, 1e300, -1e300,
                                   DBL_MIN, 5e-324, -0.0, 0.0, 1e13, 9.3e12, -9.3e12, 1e25};
    switch (rnd_below(4)) {
    case 0: return edges[rnd_below(sizeof(edges) / sizeof(edges[0]))];
    case 1: return -typical * (double)rnd_below(1000) / 999.0;
    default: return typical * (double)rnd() / (double)UINT64_MAX;
    }
}

static void random_row(tg_ledger_row_t *r, int64_t id)
{
    memset(r, 0, sizeof(*r));
    r->id = id;
    /* a time of now, one on a microsecond's half, or anything */
    r->ts = rnd_below(3) == 0 ? 1764460800.0000005 + (double)rnd_below(100000) : random_double(1764460800.0);
    random_string(r->request_id, sizeof(r->request_id));
    random_string(r->org, sizeof(r->org));
    random_string(r->key_id, sizeof(r->key_id));
    random_string(r->model_requested, sizeof(r->model_requested));
    random_string(r->model_used, sizeof(r->model_used));
    random_string(r->provider, sizeof(r->provider));
    random_string(r->operation, sizeof(r->operation));
    r->prompt_tokens = random_int64();
    r->cached_tokens = random_int64();
    r->cache_write_tokens = random_int64();
    r->completion_tokens = random_int64();
    r->reasoning_tokens = random_int64();
    r->cost_usd = random_double(0.05);
    r->cache_hit = rnd_below(2);
    random_string(r->cache_tier, sizeof(r->cache_tier));
    static const int statuses[] = {200, 499, 0, -1, INT32_MAX, INT32_MIN};
    r->status = statuses[rnd_below(6)];
    r->latency_seconds = random_double(30);
    static const double ttfts[] = {-1, 0, -0.0, NAN, INFINITY, -INFINITY, 1e-9, 0.25, 1e300};
    r->ttft_seconds = ttfts[rnd_below(9)];
    r->estimated = rnd_below(2);
}

/* ---- reading it back ------------------------------------------------------- */

static void expect_text(sqlite3_stmt *st, int col, const char *field, size_t size, int64_t id)
{
    unsigned char want[6 * 160];
    size_t want_len = sanitized((const unsigned char *)field, strnlen(field, size), want);
    const void *got = sqlite3_column_text(st, col);
    size_t got_len = (size_t)sqlite3_column_bytes(st, col);
    if (got_len != want_len || memcmp(got, want, want_len) != 0)
        fail_msg("row %lld, column %s: %zu bytes back, %zu expected", (long long)id, sqlite3_column_name(st, col),
                 got_len, want_len);
}

static void expect_real(sqlite3_stmt *st, int col, double want, int64_t id)
{
    double got = sqlite3_column_double(st, col);
    if (sqlite3_column_type(st, col) == SQLITE_NULL || got != want)
        fail_msg("row %lld, column %s: %.17g back, %.17g expected", (long long)id, sqlite3_column_name(st, col),
                 got, want);
}

#define EXPECT_INT(st, col, want, id)                                                                        \
    do {                                                                                                     \
        if (sqlite3_column_int64(st, col) != (int64_t)(want))                                               \
            fail_msg("row %lld, column %s: %lld back, %lld expected", (long long)(id),                      \
                     sqlite3_column_name(st, col), (long long)sqlite3_column_int64(st, col), (long long)(want)); \
    } while (0)

static int by_id(const void *a, const void *b)
{
    int64_t x = ((const tg_ledger_row_t *)a)->id, y = ((const tg_ledger_row_t *)b)->id;
    return x < y ? -1 : x > y;
}

/* Every row through the view, in id order, against what went in. */
static void expect_view(fixture_t *f, tg_ledger_row_t *rows, size_t n)
{
    qsort(rows, n, sizeof(*rows), by_id);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT id, ts, request_id, org, key_id, model_requested, model_used,"
                                        " provider, operation, prompt_tokens, cached_tokens, cache_write_tokens,"
                                        " completion_tokens, reasoning_tokens, cost_usd, cache_hit, cache_tier,"
                                        " status, latency_seconds, ttft_seconds, estimated FROM ledger ORDER BY id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    size_t i = 0;
    for (; sqlite3_step(st) == SQLITE_ROW; i++) {
        assert_true(i < n);
        const tg_ledger_row_t *r = &rows[i];
        EXPECT_INT(st, 0, r->id, r->id);
        expect_real(st, 1, (double)expect_units(r->ts, 1e6) / 1e6, r->id);
        expect_text(st, 2, r->request_id, sizeof(r->request_id), r->id);
        expect_text(st, 3, r->org, sizeof(r->org), r->id);
        expect_text(st, 4, r->key_id, sizeof(r->key_id), r->id);
        expect_text(st, 5, r->model_requested, sizeof(r->model_requested), r->id);
        expect_text(st, 6, r->model_used, sizeof(r->model_used), r->id);
        expect_text(st, 7, r->provider, sizeof(r->provider), r->id);
        expect_text(st, 8, r->operation, sizeof(r->operation), r->id);
        EXPECT_INT(st, 9, r->prompt_tokens, r->id);
        EXPECT_INT(st, 10, r->cached_tokens, r->id);
        EXPECT_INT(st, 11, r->cache_write_tokens, r->id);
        EXPECT_INT(st, 12, r->completion_tokens, r->id);
        EXPECT_INT(st, 13, r->reasoning_tokens, r->id);
        expect_real(st, 14, (double)expect_units(r->cost_usd, 1e12) / 1e12, r->id);
        EXPECT_INT(st, 15, r->cache_hit, r->id);
        expect_text(st, 16, r->cache_tier, sizeof(r->cache_tier), r->id);
        EXPECT_INT(st, 17, r->status, r->id);
        expect_real(st, 18, (double)expect_units(r->latency_seconds, 1e9) / 1e9, r->id);
        if (r->ttft_seconds >= 0) /* not a stream (< 0) or NaN: NULL */
            expect_real(st, 19, (double)expect_units(r->ttft_seconds, 1e9) / 1e9, r->id);
        else if (sqlite3_column_type(st, 19) != SQLITE_NULL)
            fail_msg("row %lld: ttft %g should read as NULL", (long long)r->id, r->ttft_seconds);
        EXPECT_INT(st, 20, r->estimated, r->id);
    }
    sqlite3_finalize(st);
    assert_int_equal(i, n);
}

/* Every block is valid JSON, and its columns say what its rows hold. */
static void expect_blocks(fixture_t *f, size_t rows)
{
    assert_int_equal(sql_int(f, "SELECT count(*) FROM ledger_blocks WHERE json_valid(rows) IS NOT 1"), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM ledger_blocks WHERE json_array_length(rows) != row_count"), 0);
    assert_int_equal(sql_int(f, "SELECT sum(row_count) FROM ledger_blocks"), rows);
    /* the bounds are those of the view's values, so that a block the
     * usage query's range skips holds no row of the range */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM ledger_blocks b WHERE"
                                " ts_min IS NOT (SELECT min((j.value->>1) / 1e6) FROM json_each(b.rows) j) OR"
                                " ts_max IS NOT (SELECT max((j.value->>1) / 1e6) FROM json_each(b.rows) j) OR"
                                " first_id IS NOT (SELECT min(j.value->>0) FROM json_each(b.rows) j) OR"
                                " last_id IS NOT (SELECT max(j.value->>0) FROM json_each(b.rows) j)"),
                     0);
}

static int count_requests(void *ctx, const tg_usage_total_t *t)
{
    *(int64_t *)ctx += t->requests;
    return 0;
}

/* Thousands of rows of anything, in blocks of 1 to 600 rows, fresh and
 * replayed, with the int64 ends among the ids. */
static void test_any_row_round_trips(void **state)
{
    fixture_t *f = *state;
    enum { ROWS = 4000 };
    rnd_state = 20261130;
    tg_ledger_row_t *rows = calloc(ROWS, sizeof(*rows));
    static const int64_t edge_ids[] = {INT64_MAX, INT64_MIN, 0, -1};
    for (size_t i = 0; i < ROWS; i++)
        random_row(&rows[i], i < 4 ? edge_ids[i] : (int64_t)(i * 1000 + rnd_below(1000)));
    for (size_t i = ROWS - 1; i > 0; i--) { /* ids out of order, as workers finish */
        size_t k = rnd_below(i + 1);
        tg_ledger_row_t t = rows[i];
        rows[i] = rows[k];
        rows[k] = t;
    }
    for (size_t at = 0, n; at < ROWS; at += n) {
        n = 1 + rnd_below(600);
        n = n > ROWS - at ? ROWS - at : n;
        bool replayed = rnd_below(3) == 0;
        size_t inserted = 0;
        assert_int_equal(f->m->begin(f->s), TG_STORE_OK);
        assert_int_equal(f->m->ledger_append(f->s, rows + at, n, replayed, &inserted), TG_STORE_OK);
        assert_int_equal(f->m->commit(f->s), TG_STORE_OK);
        assert_int_equal(inserted, n);
    }
    /* a replay of rows all there adds nothing, however they were encoded */
    size_t inserted = 1;
    assert_int_equal(f->m->ledger_append(f->s, rows, 600, true, &inserted), TG_STORE_OK);
    assert_int_equal(inserted, 0);

    expect_blocks(f, ROWS);
    expect_view(f, rows, ROWS);
    /* usage over them all, by every grouping: groups longer than their
     * field (a model name of invalid UTF-8 grows to 3 bytes a byte), days
     * of no calendar, counts that overflow: an answer, not an error */
    for (int g = 0; g < TG_USAGE_GROUP_COUNT; g++) {
        tg_usage_query_t q = {.group_by = (tg_usage_group_t)g};
        int64_t requests = 0;
        assert_int_equal(f->m->usage(f->s, &q, count_requests, &requests), TG_STORE_OK);
        assert_int_equal(requests, ROWS);
    }
    int64_t max_id = 0;
    assert_int_equal(f->m->ledger_max_id(f->s, &max_id), TG_STORE_OK);
    assert_true(max_id == INT64_MAX);
    free(rows);
}

/* The longest row there is: every string array full to its last byte
 * (no NUL) of bytes that escape to six, every number at its longest. The
 * encoder's buffer is exactly its bound, so ASan sees a byte beyond it. */
static void test_worst_case_row_fits(void **state)
{
    fixture_t *f = *state;
    static const unsigned char six_byte[] = {0x01, 0xff, 0x7f, 0x1f, 0xc0};
    for (size_t v = 0; v < sizeof(six_byte); v++) {
        tg_ledger_row_t rows[3];
        for (size_t i = 0; i < 3; i++) {
            tg_ledger_row_t *r = &rows[i];
            memset(r, 0, sizeof(*r));
            char *fields[] = {r->request_id, r->org, r->key_id, r->model_requested, r->model_used, r->provider,
                              r->operation, r->cache_tier};
            size_t sizes[] = {sizeof(r->request_id), sizeof(r->org), sizeof(r->key_id), sizeof(r->model_requested),
                              sizeof(r->model_used), sizeof(r->provider), sizeof(r->operation), sizeof(r->cache_tier)};
            for (size_t k = 0; k < 8; k++)
                memset(fields[k], six_byte[v], sizes[k]);
            r->id = INT64_MIN + (int64_t)i;
            r->ts = -DBL_MAX;
            r->prompt_tokens = r->cached_tokens = r->cache_write_tokens = INT64_MIN;
            r->completion_tokens = r->reasoning_tokens = INT64_MIN;
            r->cost_usd = -INFINITY;
            r->status = INT32_MIN;
            r->latency_seconds = -1e300;
            r->ttft_seconds = DBL_MAX;
            r->cache_hit = r->estimated = true;
        }
        for (size_t n = 1; n <= 3; n++) {
            tg_ledger_block_t b = {0};
            assert_int_equal(tg_ledger_block_encode(&b, rows, n), 0);
            assert_int_equal(b.rows, n);
            sqlite3_stmt *st;
            assert_int_equal(sqlite3_prepare_v2(f->db, "SELECT json_valid(?1), json_array_length(?1)", -1, &st, NULL),
                             SQLITE_OK);
            sqlite3_bind_text(st, 1, b.text, (int)b.len, SQLITE_STATIC);
            assert_int_equal(sqlite3_step(st), SQLITE_ROW);
            assert_int_equal(sqlite3_column_int(st, 0), 1);
            assert_int_equal(sqlite3_column_int(st, 1), n);
            sqlite3_finalize(st);
            tg_ledger_block_free(&b);
        }
    }
}

/* ---- usage over blocks ------------------------------------------------------ */

#define T0 1764460800.0 /* 2025-11-30T00:00:00Z */

static const char *const orgs[] = {"acme", "beta"};

/* The usage query's totals against the same sums in SQL over the view. */
static int one_total(void *ctx, const tg_usage_total_t *t)
{
    tg_usage_total_t *sum = ctx;
    sum->requests += t->requests;
    sum->prompt_tokens += t->prompt_tokens;
    sum->cached_tokens += t->cached_tokens;
    sum->cache_write_tokens += t->cache_write_tokens;
    sum->completion_tokens += t->completion_tokens;
    sum->reasoning_tokens += t->reasoning_tokens;
    sum->cost_usd += t->cost_usd;
    sum->estimated_requests += t->estimated_requests;
    return 0;
}

static void expect_usage_matches_view(fixture_t *f, double from, double to, const char *org, tg_usage_group_t g)
{
    tg_usage_query_t q = {.org = org, .from = from, .to = to, .group_by = g};
    tg_usage_total_t api = {0};
    assert_int_equal(f->m->usage(f->s, &q, one_total, &api), TG_STORE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT count(*), coalesce(sum(prompt_tokens), 0),"
                                        " coalesce(sum(cached_tokens), 0), coalesce(sum(cache_write_tokens), 0),"
                                        " coalesce(sum(completion_tokens), 0), coalesce(sum(reasoning_tokens), 0),"
                                        " total(cost_usd), coalesce(sum(estimated), 0) FROM ledger"
                                        " WHERE (?1 = 0 OR ts >= ?1) AND (?2 = 0 OR ts < ?2)"
                                        " AND (?3 IS NULL OR org = ?3)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_double(st, 1, from);
    sqlite3_bind_double(st, 2, to);
    sqlite3_bind_text(st, 3, org, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t want[] = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
                      sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5),
                      sqlite3_column_int64(st, 7)};
    double want_cost = sqlite3_column_double(st, 6);
    sqlite3_finalize(st);
    int64_t got[] = {api.requests, api.prompt_tokens, api.cached_tokens, api.cache_write_tokens,
                     api.completion_tokens, api.reasoning_tokens, api.estimated_requests};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (got[i] != want[i])
            fail_msg("usage from %.7f to %.7f org %s group %d: total %zu is %lld, the view says %lld", from, to,
                     org ? org : "*", (int)g, i, (long long)got[i], (long long)want[i]);
    if (api.cost_usd != want_cost) /* binary fractions of a dollar: sums are exact */
        fail_msg("usage from %.7f to %.7f: cost %.17g, the view says %.17g", from, to, api.cost_usd, want_cost);
}

/* Blocks of 1 to 40 rows whose times are out of order within a block and
 * overlap from block to block, some a hair below a whole second (it
 * rounds up to it in the view), some on one; every bound from a second to
 * the next, each row's own time, and random ones. */
static void test_usage_over_blocks_matches_the_view(void **state)
{
    fixture_t *f = *state;
    rnd_state = 7;
    /* an empty ledger: zeros, whatever the bounds */
    expect_usage_matches_view(f, 0, 0, NULL, TG_USAGE_GROUP_NONE);
    expect_usage_matches_view(f, T0, T0 + 1, "acme", TG_USAGE_GROUP_MODEL);

    enum { BLOCKS = 30 };
    double times[BLOCKS * 40];
    size_t n_times = 0;
    int64_t id = 1;
    for (int b = 0; b < BLOCKS; b++) {
        size_t n = b % 10 == 0 ? 1 : 1 + rnd_below(40);
        tg_ledger_row_t rows[40];
        for (size_t i = 0; i < n; i++) {
            tg_ledger_row_t *r = &rows[i];
            memset(r, 0, sizeof(*r));
            r->id = id++;
            double second = T0 + (double)rnd_below(30);
            switch (rnd_below(4)) {
            case 0: r->ts = second - 4e-7; break; /* the view rounds it up onto `second` */
            case 1: r->ts = second; break;
            case 2: r->ts = second + 4e-7; break; /* and this down onto it */
            default: r->ts = second + (double)rnd_below(1000000) / 1e6; break;
            }
            times[n_times++] = r->ts;
            snprintf(r->org, sizeof(r->org), "%s", orgs[rnd_below(2)]);
            snprintf(r->model_requested, sizeof(r->model_requested), "m%d", (int)rnd_below(3));
            r->prompt_tokens = (int64_t)rnd_below(1000);
            r->cached_tokens = (int64_t)rnd_below(10);
            r->cache_write_tokens = (int64_t)rnd_below(10);
            r->completion_tokens = (int64_t)rnd_below(1000);
            r->reasoning_tokens = (int64_t)rnd_below(10);
            r->cost_usd = (double)rnd_below(64) / 1024; /* exact in binary: sums compare exactly */
            r->estimated = rnd_below(5) == 0;
            r->ttft_seconds = -1;
        }
        size_t inserted;
        assert_int_equal(f->m->ledger_append(f->s, rows, n, false, &inserted), TG_STORE_OK);
    }
    expect_blocks(f, n_times);
    for (int s = 0; s <= 31; s++) {
        expect_usage_matches_view(f, T0 + s, 0, NULL, (tg_usage_group_t)(s % TG_USAGE_GROUP_COUNT));
        expect_usage_matches_view(f, 0, T0 + s, "acme", TG_USAGE_GROUP_NONE);
        expect_usage_matches_view(f, T0 + s, T0 + s + 1, "beta", TG_USAGE_GROUP_MODEL);
    }
    for (size_t i = 0; i < n_times; i += 1 + rnd_below(12)) {
        expect_usage_matches_view(f, times[i], 0, NULL, TG_USAGE_GROUP_NONE);
        expect_usage_matches_view(f, 0, times[i], NULL, TG_USAGE_GROUP_ORG);
    }
    for (int i = 0; i < 60; i++) {
        double a = T0 - 1 + (double)rnd_below(32000000) / 1e6, b = a + (double)rnd_below(5000000) / 1e6;
        expect_usage_matches_view(f, a, b, i % 3 ? NULL : orgs[i % 2], (tg_usage_group_t)(i % TG_USAGE_GROUP_COUNT));
    }
}

/* Counts at the int64 ends (no provider reports them: the usage scanner
 * stops at 10^9) must not make the usage query fail: the budgets' sum at
 * start would refuse to start the gateway. Totals saturate instead. */
static void test_usage_of_huge_counts_saturates(void **state)
{
    fixture_t *f = *state;
    tg_ledger_row_t rows[3];
    for (int i = 0; i < 3; i++) {
        memset(&rows[i], 0, sizeof(rows[i]));
        rows[i].id = i + 1;
        rows[i].ts = T0 + i;
        strcpy(rows[i].org, "acme");
        rows[i].prompt_tokens = INT64_MAX;
        rows[i].completion_tokens = i == 2 ? INT64_MIN : 1;
        rows[i].cost_usd = 1;
    }
    size_t inserted;
    assert_int_equal(f->m->ledger_append(f->s, rows, 3, false, &inserted), TG_STORE_OK);
    for (int g = 0; g < TG_USAGE_GROUP_COUNT; g++) {
        tg_usage_query_t q = {.from = T0, .group_by = (tg_usage_group_t)g};
        tg_usage_total_t t = {0};
        assert_int_equal(f->m->usage(f->s, &q, one_total, &t), TG_STORE_OK);
        assert_int_equal(t.requests, 3);
        assert_true(t.prompt_tokens == INT64_MAX);
        assert_true(t.cost_usd == 3);
    }
    /* and sums below 2^53 stay exact */
    tg_usage_query_t q = {.to = T0 + 2, .group_by = TG_USAGE_GROUP_NONE};
    tg_usage_total_t t = {0};
    rows[0].id = 10, rows[0].prompt_tokens = (INT64_C(1) << 52) + 1, rows[0].ts = T0 - 1;
    rows[1].id = 11, rows[1].prompt_tokens = 1, rows[1].ts = T0 - 1;
    assert_int_equal(f->m->ledger_append(f->s, rows, 2, false, &inserted), TG_STORE_OK);
    q.from = T0 - 1, q.to = T0;
    assert_int_equal(f->m->usage(f->s, &q, one_total, &t), TG_STORE_OK);
    assert_true(t.prompt_tokens == (INT64_C(1) << 52) + 2);
    assert_int_equal(t.completion_tokens, 2);
}

/* A replay looks up the ids it may repeat in the blocks whose id range
 * meets its rows': the last few blocks, found by last_id's index. By
 * first_id alone it read every block, each replayed batch: seconds of a
 * start's journal recovery on a ledger of millions of rows. Measured
 * against a scan of every block, in the same process: a replay of recent
 * ids must cost far less than one. */
static void test_replay_reads_only_the_blocks_it_meets(void **state)
{
    fixture_t *f = *state;
    enum { BLOCKS = 20000, REPLAYS = 20 };
    tg_ledger_row_t row;
    memset(&row, 0, sizeof(row));
    row.ts = T0;
    assert_int_equal(f->m->begin(f->s), TG_STORE_OK);
    for (int b = 0; b < BLOCKS; b++) {
        row.id = b + 1;
        size_t inserted;
        assert_int_equal(f->m->ledger_append(f->s, &row, 1, false, &inserted), TG_STORE_OK);
    }
    assert_int_equal(f->m->commit(f->s), TG_STORE_OK);
    /* the best of three of each: a preemption makes a time longer only */
    double replays = 1e9, scan = 1e9;
    int64_t next = BLOCKS + 1;
    for (int round = 0; round < 3; round++) {
        double t0 = tg_clock_seconds();
        assert_int_equal(f->m->begin(f->s), TG_STORE_OK);
        for (int i = 0; i < REPLAYS; i++) {
            tg_ledger_row_t again[2] = {row, row};
            again[0].id = next - 1 - i; /* there */
            again[1].id = next++;       /* new */
            size_t inserted;
            assert_int_equal(f->m->ledger_append(f->s, again, 2, true, &inserted), TG_STORE_OK);
            assert_int_equal(inserted, 1);
        }
        assert_int_equal(f->m->commit(f->s), TG_STORE_OK);
        double t1 = tg_clock_seconds();
        assert_int_equal(sql_int(f, "SELECT count(*) FROM ledger_blocks WHERE +last_id >= 0"), next - 1);
        double t2 = tg_clock_seconds();
        replays = t1 - t0 < replays ? t1 - t0 : replays;
        scan = t2 - t1 < scan ? t2 - t1 : scan;
    }
    print_message("%d replays of recent ids: %.3f ms; one scan of %d blocks: %.3f ms\n", REPLAYS, replays * 1e3,
                  BLOCKS, scan * 1e3);
    assert_true(replays < 5 * scan);
    int64_t max_id = 0;
    assert_int_equal(f->m->ledger_max_id(f->s, &max_id), TG_STORE_OK);
    assert_int_equal(max_id, next - 1);
}

/* Schema 3 moves a table's rows into blocks whose bounds are the view's
 * values too: a time a hair below a second reads as that second. */
static void test_migrated_blocks_have_the_views_bounds(void **state)
{
    fixture_t *f = *state;
    f->m->close(f->s);
    f->s = NULL;
    sqlite3_close(f->db);
    unlink(f->path);
    assert_int_equal(sqlite3_open(f->path, &f->db), SQLITE_OK);
    assert_int_equal(tg_sqlite_apply_migrations(f->db, 0, 2), SQLITE_OK);
    char sql[512];
    for (int i = 1; i <= 700; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO ledger VALUES (%d, %.7f, 'r', 'o', 'k', 'm', 'mu', 'p', 'chat', 1, 0, 0, 1, 0,"
                 " 0.5, 0, '', 200, 0.5, NULL, 0)",
                 i, T0 + (i % 2 ? 0.9999996 : 0.0000004) + (double)(i % 5));
        assert_int_equal(sqlite3_exec(f->db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    tg_store_options_t o = {.path = f->path};
    char *err = NULL;
    assert_int_equal(f->m->open(&o, &f->s, &err), TG_STORE_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM ledger_blocks"), 2);
    expect_blocks(f, 700);
    for (int s = 0; s <= 6; s++)
        expect_usage_matches_view(f, T0 + s, 0, NULL, TG_USAGE_GROUP_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_any_row_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worst_case_row_fits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_over_blocks_matches_the_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_of_huge_counts_saturates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_reads_only_the_blocks_it_meets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrated_blocks_have_the_views_bounds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
