/* ledger_block.c: the SQLite backend's ledger rows as blocks. A
 * transaction's rows go into one row of ledger_blocks as a JSON array of
 * arrays, and the `ledger` view (migration 3) unpacks them, so that SQL
 * sees one row per request while the write path pays one SQLite insert per
 * transaction instead of one per request (an insert with its index cost
 * as much as the rest of a proxied request's ledger work: bench/RESULTS.md,
 * "Tenancy"). Numbers are written as integers, which format fast and read
 * back exactly: times in microseconds (ts) and nanoseconds (latency,
 * ttft), cost in picodollars; the view divides them back.
 *
 * What a reader gets back:
 * - a string as it was, but for invalid UTF-8, each of whose bytes reads
 *   as U+FFFD (tg_json_escape); a char array without its NUL reads whole;
 * - an integer (id, tokens, status) exactly;
 * - a double rounded to its unit, to the nearest (halves away from zero),
 *   and clamped to +-9e18 units, which a JSON integer and llround both
 *   hold: ts to +-9e12 s, latency and ttft to +-9e9 s (285 years), cost
 *   to +-9 million dollars a request. NaN reads as 0: no clock or price
 *   makes one, but should arithmetic upstream, a NaN ts would bind the
 *   block's ts_min as NULL, and its insert would fail at every retry,
 *   holding up every row behind it. A ttft below 0 or NaN (not a
 *   stream) reads as NULL.
 * A block's ts_min and ts_max are those of the rounded times, the very
 * values the view gives, so that the usage query's range on them never
 * leaves out a block holding a row of the range. */
#include "store/sqlite/sqlite_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

/* The bytes of a row's strings, each array whole (put_string reads to
 * the array's end when its NUL is missing). */
#define ROW_STRING_BYTES                                                                                      \
    (sizeof(((tg_ledger_row_t *)0)->request_id) + sizeof(((tg_ledger_row_t *)0)->org) +                       \
     sizeof(((tg_ledger_row_t *)0)->key_id) + sizeof(((tg_ledger_row_t *)0)->model_requested) +               \
     sizeof(((tg_ledger_row_t *)0)->model_used) + sizeof(((tg_ledger_row_t *)0)->provider) +                 \
     sizeof(((tg_ledger_row_t *)0)->operation) + sizeof(((tg_ledger_row_t *)0)->cache_tier))

/* The longest a row can encode to: every string byte escaped to 6 bytes
 * (\u00XX, \ufffd), 13 numbers of 20 digits and a sign, 8 strings' quotes,
 * 20 commas, 2 brackets. */
#define ROW_TEXT_MAX (6 * ROW_STRING_BYTES + 13 * 21 + 8 * 2 + 20 + 2)

#define UNITS_LIMIT 9e18 /* a double's units at most: below 2^63, and exact in a double */

static size_t put_int(char *out, int64_t v)
{
    if (v >= 0)
        return tg_format_decimal(out, (size_t)v);
    out[0] = '-';
    return 1 + tg_format_decimal(out + 1, v == INT64_MIN ? (size_t)INT64_MAX + 1 : (size_t)-v);
}

static size_t put_string(char *out, const char *s, size_t cap_of_field)
{
    size_t n = strnlen(s, cap_of_field);
    out[0] = '"';
    size_t len = 1 + tg_json_escape(out + 1, 6 * n, s, n);
    out[len++] = '"';
    return len;
}

/* x in units of 1/scale, as the header says: rounded, clamped, NaN 0. */
static int64_t units(double x, double scale)
{
    if (isnan(x))
        return 0;
    double v = x * scale;
    return llround(v > UNITS_LIMIT ? UNITS_LIMIT : v < -UNITS_LIMIT ? -UNITS_LIMIT : v);
}

#define PUT_FIELD(p, field) ((p) += put_string(p, field, sizeof(field)))
#define PUT_INT(p, v) ((p) += put_int(p, v))
#define COMMA(p) (*(p)++ = ',')

/* ts_us: units(r->ts, 1e6), which the block's bounds need too */
static char *encode_row(char *p, const tg_ledger_row_t *r, int64_t ts_us)
{
    *p++ = '[';
    PUT_INT(p, r->id), COMMA(p);
    PUT_INT(p, ts_us), COMMA(p);
    PUT_FIELD(p, r->request_id), COMMA(p);
    PUT_FIELD(p, r->org), COMMA(p);
    PUT_FIELD(p, r->key_id), COMMA(p);
    PUT_FIELD(p, r->model_requested), COMMA(p);
    PUT_FIELD(p, r->model_used), COMMA(p);
    PUT_FIELD(p, r->provider), COMMA(p);
    PUT_FIELD(p, r->operation), COMMA(p);
    PUT_INT(p, r->prompt_tokens), COMMA(p);
    PUT_INT(p, r->cached_tokens), COMMA(p);
    PUT_INT(p, r->cache_write_tokens), COMMA(p);
    PUT_INT(p, r->completion_tokens), COMMA(p);
    PUT_INT(p, r->reasoning_tokens), COMMA(p);
    PUT_INT(p, units(r->cost_usd, 1e12)), COMMA(p);
    PUT_INT(p, r->cache_hit), COMMA(p);
    PUT_FIELD(p, r->cache_tier), COMMA(p);
    PUT_INT(p, r->status), COMMA(p);
    PUT_INT(p, units(r->latency_seconds, 1e9)), COMMA(p);
    if (r->ttft_seconds >= 0)
        PUT_INT(p, units(r->ttft_seconds, 1e9));
    else
        memcpy(p, "null", 4), p += 4;
    COMMA(p);
    PUT_INT(p, r->estimated);
    *p++ = ']';
    return p;
}

int tg_ledger_block_encode(tg_ledger_block_t *b, const tg_ledger_row_t *rows, size_t n)
{
    size_t need = n * (ROW_TEXT_MAX + 1) + 2;
    if (need > b->cap) {
        char *grown = realloc(b->text, need);
        if (grown == NULL)
            return -1;
        b->text = grown;
        b->cap = need;
    }
    char *p = b->text;
    *p++ = '[';
    b->first_id = b->last_id = rows[0].id;
    int64_t us_min = units(rows[0].ts, 1e6), us_max = us_min;
    for (size_t i = 0; i < n; i++) {
        const tg_ledger_row_t *r = &rows[i];
        if (i > 0)
            *p++ = ',';
        int64_t us = units(r->ts, 1e6);
        p = encode_row(p, r, us);
        b->first_id = r->id < b->first_id ? r->id : b->first_id;
        b->last_id = r->id > b->last_id ? r->id : b->last_id;
        us_min = us < us_min ? us : us_min;
        us_max = us > us_max ? us : us_max;
    }
    b->ts_min = (double)us_min / 1e6; /* as the view divides */
    b->ts_max = (double)us_max / 1e6;
    *p++ = ']';
    b->len = (size_t)(p - b->text);
    b->rows = n;
    return 0;
}

void tg_ledger_block_free(tg_ledger_block_t *b)
{
    free(b->text);
    memset(b, 0, sizeof(*b));
}
