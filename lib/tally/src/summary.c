/*
 * summary.c - summaries: a striped count and sum (like a counter) and, when
 * quantiles are configured, a log-bucketed sketch over a sliding window.
 *
 * The sketch (after DDSketch) maps v > 0 to key k = ceil(log_gamma(v)) with
 * gamma = (1 + a) / (1 - a); every value in (gamma^(k-1), gamma^k] is
 * estimated as 2 gamma^k / (gamma + 1), which is within a relative error a
 * of it. Negative values use a mirrored set of bins, zero its own bin.
 * Magnitudes are clamped to [1e-9, 1e9] (outside that the bound does not
 * hold), which keeps the bins a fixed array: observe never allocates.
 * The window is age_buckets sub-windows of max_age / age_buckets seconds,
 * chosen by a coarse monotonic clock (vDSO, no syscall); the first observer
 * of a new sub-window clears it, so an observation racing that clear may be
 * lost: an accepted imprecision of a sliding window.
 */
#include <math.h>
#include <stdlib.h>

#include "store.h"

#define SKETCH_MIN 1e-9
#define SKETCH_MAX 1e9
/* Shortest sub-window: epochs (monotonic seconds / width) then stay far
 * inside int64 for any uptime, so their window index is never negative. */
#define SKETCH_MIN_WIDTH 1e-6

typedef struct window {
    _Atomic int64_t epoch;
    _Atomic uint64_t *bins;          /* [0, keys) negative, [keys] zero, then positive */
} window;

struct tally__sketch {
    double log_gamma, gamma, width;
    int32_t min_key;
    size_t keys;                     /* keys per sign */
    unsigned window_count;
    window *windows;
};

tally__sketch *tally__sketch_new(double relative_error, double max_age, unsigned age_buckets)
{
    tally__sketch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->gamma = (1 + relative_error) / (1 - relative_error);
    s->log_gamma = log(s->gamma);
    s->min_key = (int32_t)floor(log(SKETCH_MIN) / s->log_gamma);
    s->keys = (size_t)(ceil(log(SKETCH_MAX) / s->log_gamma) - s->min_key + 1);
    s->window_count = age_buckets;
    s->width = max_age / age_buckets;
    if (!(s->width >= SKETCH_MIN_WIDTH))
        s->width = SKETCH_MIN_WIDTH;
    s->windows = calloc(age_buckets, sizeof *s->windows);
    if (!s->windows) {
        free(s);
        return NULL;
    }
    for (unsigned i = 0; i < age_buckets; i++) {
        s->windows[i].bins = calloc(2 * s->keys + 1, sizeof(uint64_t));
        if (!s->windows[i].bins) {
            tally__sketch_free(s);
            return NULL;
        }
        atomic_init(&s->windows[i].epoch, -1);
    }
    return s;
}

void tally__sketch_free(tally__sketch *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->window_count; i++)
        free((void *)s->windows[i].bins);
    free(s->windows);
    free(s);
}

static void window_clear(const tally__sketch *s, window *w)
{
    for (size_t i = 0; i < 2 * s->keys + 1; i++)
        atomic_store_explicit(&w->bins[i], 0, memory_order_relaxed);
}

void tally__sketch_reset(tally__sketch *s)
{
    for (unsigned i = 0; i < s->window_count; i++) {
        window_clear(s, &s->windows[i]);
        atomic_store_explicit(&s->windows[i].epoch, -1, memory_order_relaxed);
    }
}

static size_t bin_of(const tally__sketch *s, double v)
{
    if (v == 0 || isnan(v))
        return s->keys;
    double m = fabs(v);
    m = m < SKETCH_MIN ? SKETCH_MIN : m > SKETCH_MAX ? SKETCH_MAX : m;
    int64_t k = (int64_t)ceil(log(m) / s->log_gamma) - s->min_key;
    if (k < 0)
        k = 0;
    if ((size_t)k >= s->keys)
        k = (int64_t)s->keys - 1;
    return v > 0 ? s->keys + 1 + (size_t)k : s->keys - 1 - (size_t)k;
}

static double value_of(const tally__sketch *s, size_t bin)
{
    if (bin == s->keys)
        return 0;
    bool positive = bin > s->keys;
    int64_t k = (int64_t)(positive ? bin - s->keys - 1 : s->keys - 1 - bin) + s->min_key;
    double v = 2 * exp((double)k * s->log_gamma) / (s->gamma + 1);
    return positive ? v : -v;
}

static int64_t epoch_now(const tally__sketch *s)
{
    return (int64_t)(tally__now_coarse() / s->width);
}

void tally__sketch_observe(tally__sketch *s, double v)
{
    int64_t epoch = epoch_now(s);
    window *w = &s->windows[epoch % s->window_count];
    int64_t seen = atomic_load_explicit(&w->epoch, memory_order_acquire);
    if (TALLY_UNLIKELY(seen < epoch) &&
        atomic_compare_exchange_strong_explicit(&w->epoch, &seen, epoch, memory_order_acq_rel,
                                                memory_order_acquire))
        window_clear(s, w);
    atomic_fetch_add_explicit(&w->bins[bin_of(s, v)], 1, memory_order_relaxed);
}

/* Estimates all quantiles in two passes over the bins of the live windows
 * (those of the last window_count epochs): one for the total, one walking
 * the ranks. */
void tally__sketch_quantiles(tally__sketch *s, const double *qs, size_t n, double *out)
{
    int64_t epoch = epoch_now(s);
    const _Atomic uint64_t *live[1000];
    unsigned live_count = 0;
    for (unsigned i = 0; i < s->window_count; i++) {
        int64_t e = atomic_load_explicit(&s->windows[i].epoch, memory_order_acquire);
        if (e > epoch - (int64_t)s->window_count && e <= epoch)
            live[live_count++] = s->windows[i].bins;
    }
    size_t bins = 2 * s->keys + 1;
    uint64_t total = 0;
    for (size_t b = 0; b < bins; b++)
        for (unsigned w = 0; w < live_count; w++)
            total += atomic_load_explicit(&live[w][b], memory_order_relaxed);
    size_t pending = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = NAN;
        if (total > 0 && qs[i] >= 0 && qs[i] <= 1)
            pending++;
    }
    uint64_t seen = 0;
    double last = NAN;
    for (size_t b = 0; b < bins && pending; b++) {
        uint64_t here = 0;
        for (unsigned w = 0; w < live_count; w++)
            here += atomic_load_explicit(&live[w][b], memory_order_relaxed);
        if (!here)
            continue;
        seen += here;
        last = value_of(s, b);
        for (size_t i = 0; i < n; i++)
            if (isnan(out[i]) && total > 0 && qs[i] >= 0 && qs[i] <= 1 &&
                (double)seen > qs[i] * (double)(total - 1)) {
                out[i] = last;
                pending--;
            }
    }
    /* A window rotated between the passes: the rest are at the top. */
    for (size_t i = 0; pending && i < n; i++)
        if (isnan(out[i]) && total > 0 && qs[i] >= 0 && qs[i] <= 1)
            out[i] = last;
}

/* ------------------------------------------------------------- summary */

void tally_summary_observe(tally_summary *ss, double v)
{
    tally__child *c = (tally__child *)ss;
    if (TALLY_UNLIKELY(!c))
        return; /* NULL handles are ignored, as for counters */
    unsigned stripe = tally__stripe();
    _Atomic uint64_t *cell = tally__cell(c->cells, stripe);
    tally__cell_add_u64(cell, stripe, 1);
    tally__cell_add_double(cell + 1, stripe, v);
    if (c->sketch)
        tally__sketch_observe(c->sketch, v);
}

double tally_summary_quantile(tally_summary *ss, double q)
{
    tally__child *c = (tally__child *)ss;
    double out = NAN;
    if (c && c->sketch)
        tally__sketch_quantiles(c->sketch, &q, 1, &out);
    return out;
}

void tally_summary_totals(const tally_summary *ss, double *sum, uint64_t *count)
{
    const tally__child *c = (const tally__child *)ss;
    if (sum)
        *sum = c ? tally__sum_double(c->cells, 1) : 0;
    if (count)
        *count = c ? tally__sum_u64(c->cells, 0) : 0;
}
