/* ledger_block.c: the SQLite backend's ledger rows as blocks. A
 * transaction's rows go into one row of ledger_blocks as a JSON array of
 * arrays, and the `ledger` view (migration 3) unpacks them, so that SQL
 * sees one row per request while the write path pays one SQLite insert per
 * transaction instead of one per request (an insert with its index cost
 * as much as the rest of a proxied request's ledger work: bench/RESULTS.md,
 * "Tenancy"). Numbers are written as integers, which format fast and read
 * back exactly: times in microseconds (ts) and nanoseconds (latency,
 * ttft), cost in picodollars; the view divides them back. */
#include "store/sqlite/sqlite_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

/* The longest a row can encode to: every string escaped at 6 bytes a byte
 * (\u00XX), 13 numbers of 20 digits and a sign, brackets, commas, quotes. */
#define ROW_TEXT_MAX                                                                                          \
    (6 * (TG_STORE_REQUEST_ID_MAX + TG_STORE_NAME_MAX * 4 + TG_STORE_KEY_ID_MAX + 24 + 16) + 13 * 21 + 64 + 32)

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

#define PUT_FIELD(p, field) ((p) += put_string(p, field, sizeof(field)))
#define PUT_INT(p, v) ((p) += put_int(p, v))
#define COMMA(p) (*(p)++ = ',')

static char *encode_row(char *p, const tg_ledger_row_t *r)
{
    *p++ = '[';
    PUT_INT(p, r->id), COMMA(p);
    PUT_INT(p, llround(r->ts * 1e6)), COMMA(p);
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
    PUT_INT(p, llround(r->cost_usd * 1e12)), COMMA(p);
    PUT_INT(p, r->cache_hit), COMMA(p);
    PUT_FIELD(p, r->cache_tier), COMMA(p);
    PUT_INT(p, r->status), COMMA(p);
    PUT_INT(p, llround(r->latency_seconds * 1e9)), COMMA(p);
    if (r->ttft_seconds >= 0)
        PUT_INT(p, llround(r->ttft_seconds * 1e9));
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
    b->ts_min = b->ts_max = rows[0].ts;
    for (size_t i = 0; i < n; i++) {
        const tg_ledger_row_t *r = &rows[i];
        if (i > 0)
            *p++ = ',';
        p = encode_row(p, r);
        b->first_id = r->id < b->first_id ? r->id : b->first_id;
        b->last_id = r->id > b->last_id ? r->id : b->last_id;
        b->ts_min = r->ts < b->ts_min ? r->ts : b->ts_min;
        b->ts_max = r->ts > b->ts_max ? r->ts : b->ts_max;
    }
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
