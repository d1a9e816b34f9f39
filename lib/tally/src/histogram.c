/*
 * histogram.c - histogram observe and snapshot. Cell per stripe: one
 * non-cumulative count per bucket (+Inf last), then the sum's bits. There is
 * no separate count: readers derive it from the buckets, so +Inf == _count
 * and cumulative buckets hold in every snapshot whatever writers are doing.
 */
#include "store.h"

/* Index of the first bucket whose bound is >= v (+Inf, i.e. n, for NaN). */
static inline size_t bucket_index(const double *b, size_t n, double v)
{
    if (TALLY_UNLIKELY(v != v))
        return n; /* NaN compares false with every bound: +Inf bucket */
    if (n <= 16) {
        /* Branch-free, two bounds per SSE2 compare (the bounds array is
         * padded with +Inf to an even length): a true lane is all ones, -1,
         * so subtracting counts the bounds v is above. */
        typedef double pair __attribute__((vector_size(16)));
        typedef long long lanes __attribute__((vector_size(16)));
        pair vv = {v, v};
        lanes above = {0, 0};
        for (size_t j = 0; j < n; j += 2) {
            pair bb;
            memcpy(&bb, b + j, sizeof bb);
            above -= (lanes)(vv > bb);
        }
        return (size_t)(above[0] + above[1]);
    }
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= b[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void tally_histogram_observe(tally_histogram *hh, double v)
{
    tally__child *h = (tally__child *)hh;
    if (TALLY_UNLIKELY(!h))
        return; /* NULL handles are ignored, as for counters */
    size_t n = h->bound_count; /* read once: the stores below could alias it */
    size_t i = bucket_index(h->bounds, n, v);
    unsigned s = tally__stripe();
    _Atomic uint64_t *cell = tally__cell(h->cells, s);
    tally__cell_add_u64(cell + i, s, 1);
    tally__cell_add_double(cell + n + 1, s, v);
}

tally_err tally_histogram_observe_exemplar(tally_histogram *hh, double v, const tally_exemplar *ex)
{
    tally__child *h = (tally__child *)hh;
    if (!h)
        return TALLY_ERR_FORMAT;
    size_t i = bucket_index(h->bounds, h->bound_count, v);
    tally_err err = tally__exemplar_store(h, i, h->bound_count + 1, v, ex);
    if (err == TALLY_OK)
        tally_histogram_observe(hh, v);
    return err;
}

tally_err tally_histogram_snapshot(const tally_histogram *hh, uint64_t *counts, size_t n,
                                   double *sum, uint64_t *count)
{
    const tally__child *h = (const tally__child *)hh;
    if (!h || (counts && n != (size_t)h->bound_count + 1))
        return TALLY_ERR_FORMAT;
    uint64_t total = 0;
    for (size_t b = 0; b <= h->bound_count; b++) {
        total += tally__sum_u64(h->cells, b);
        if (counts)
            counts[b] = total;
    }
    if (sum)
        *sum = tally__sum_double(h->cells, h->bound_count + 1);
    if (count)
        *count = total;
    return TALLY_OK;
}
