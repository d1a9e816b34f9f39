/*
 * window.c - rolling time windows of lock-free per-slot counters (window.h).
 */
#include "health/window.h"

#include <stdatomic.h>
#include <time.h>

uint64_t tg_window_epoch(double now_seconds, unsigned slot_seconds)
{
    return (uint64_t)(now_seconds / slot_seconds) + 1;
}

/* Whether the caller must empty a slot found at `*slot_epoch` before
 * counting in `epoch`: it still holds an older period, and this writer won
 * the compare-exchange that moves it on. */
static bool claim_stale(_Atomic uint64_t *slot_epoch, uint64_t epoch)
{
    uint64_t seen = atomic_load_explicit(slot_epoch, memory_order_acquire);
    return seen != epoch && atomic_compare_exchange_strong(slot_epoch, &seen, epoch);
}

/* Whether a slot of epoch e is one of the last `span` as of now_epoch. */
static bool in_span(uint64_t e, uint64_t now_epoch, size_t span)
{
    return e != 0 && e <= now_epoch && now_epoch - e < span;
}

void tg_window_record(tg_window_slot_t *slots, size_t n, uint64_t epoch,
                      bool failed, bool unavailable)
{
    tg_window_slot_t *s = &slots[epoch % n];
    if (claim_stale(&s->epoch, epoch)) {
        atomic_store_explicit(&s->total, 0, memory_order_relaxed);
        atomic_store_explicit(&s->failures, 0, memory_order_relaxed);
        atomic_store_explicit(&s->unavailable, 0, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&s->total, 1, memory_order_relaxed);
    /* Zero adds are skipped: each is a locked instruction on a shared line. */
    if (failed)
        atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
    if (unavailable)
        atomic_fetch_add_explicit(&s->unavailable, 1, memory_order_relaxed);
}

tg_window_sum_t tg_window_totals(const tg_window_slot_t *slots, size_t n, uint64_t now_epoch,
                                 size_t span)
{
    tg_window_sum_t sum = {0};
    for (size_t i = 0; i < n; i++) {
        if (!in_span(atomic_load_explicit(&slots[i].epoch, memory_order_acquire), now_epoch, span))
            continue;
        sum.total += atomic_load_explicit(&slots[i].total, memory_order_relaxed);
        sum.failures += atomic_load_explicit(&slots[i].failures, memory_order_relaxed);
        sum.unavailable += atomic_load_explicit(&slots[i].unavailable, memory_order_relaxed);
    }
    return sum;
}

void tg_token_window_record(tg_token_slot_t *slots, size_t n, uint64_t epoch,
                            uint64_t prompt, uint64_t completion)
{
    tg_token_slot_t *s = &slots[epoch % n];
    if (claim_stale(&s->epoch, epoch)) {
        atomic_store_explicit(&s->prompt, 0, memory_order_relaxed);
        atomic_store_explicit(&s->completion, 0, memory_order_relaxed);
    }
    if (prompt)
        atomic_fetch_add_explicit(&s->prompt, prompt, memory_order_relaxed);
    if (completion)
        atomic_fetch_add_explicit(&s->completion, completion, memory_order_relaxed);
}

tg_token_sum_t tg_token_window_totals(const tg_token_slot_t *slots, size_t n, uint64_t now_epoch)
{
    tg_token_sum_t sum = {0};
    for (size_t i = 0; i < n; i++) {
        if (!in_span(atomic_load_explicit(&slots[i].epoch, memory_order_acquire), now_epoch, n))
            continue;
        sum.prompt += atomic_load_explicit(&slots[i].prompt, memory_order_relaxed);
        sum.completion += atomic_load_explicit(&slots[i].completion, memory_order_relaxed);
    }
    return sum;
}

/* The bucket of a duration: the smallest i with micros <= 2^i / 1024 s. */
static size_t hist_bucket(uint64_t micros)
{
    uint64_t top = (uint64_t)1 << (TG_WINDOW_HIST_BUCKETS - 2);   /* the last bucket's lower bound */
    if (micros > top * 1000000 / 1024)
        return TG_WINDOW_HIST_BUCKETS - 1;   /* before the units below could overflow */
    /* micros * 1024 / 1e6, rounded up so that (2^(i-1), 2^i] stays exact. */
    uint64_t units = (micros * 128 + 124999) / 125000;
    return units <= 1 ? 0 : (size_t)(64 - __builtin_clzll(units - 1));
}

void tg_window_hist_record(tg_window_hist_t *slots, size_t n, uint64_t epoch, uint64_t micros)
{
    tg_window_hist_t *s = &slots[epoch % n];
    if (claim_stale(&s->epoch, epoch)) {
        for (size_t i = 0; i < TG_WINDOW_HIST_BUCKETS; i++)
            atomic_store_explicit(&s->buckets[i], 0, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&s->buckets[hist_bucket(micros)], 1, memory_order_relaxed);
}

double tg_window_hist_quantile(const tg_window_hist_t *slots, size_t n, uint64_t now_epoch, size_t span,
                               unsigned percent)
{
    uint64_t buckets[TG_WINDOW_HIST_BUCKETS] = {0}, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_span(atomic_load_explicit(&slots[i].epoch, memory_order_acquire), now_epoch, span))
            continue;
        for (size_t b = 0; b < TG_WINDOW_HIST_BUCKETS; b++) {
            uint64_t c = atomic_load_explicit(&slots[i].buckets[b], memory_order_relaxed);
            buckets[b] += c;
            total += c;
        }
    }
    if (total == 0)
        return 0;
    /* In integers, so exactly `percent`% at or below a bucket picks it. */
    uint64_t below = 0;
    size_t b = 0;
    for (; b < TG_WINDOW_HIST_BUCKETS - 1; b++) {
        below += buckets[b];
        if (below * 100 >= (uint64_t)percent * total)
            break;
    }
    return (double)((uint64_t)1 << b) / 1024.0;
}
