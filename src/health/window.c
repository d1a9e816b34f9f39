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

/* True when a slot holding `slot_epoch` still holds an older period that
 * `epoch` must replace and this writer won the compare-exchange moving it
 * on: then, and only then, the caller empties the slot's counts. */
static bool claim_stale(_Atomic uint64_t *slot_epoch, uint64_t epoch)
{
    uint64_t seen = atomic_load_explicit(slot_epoch, memory_order_acquire);
    return seen != epoch && atomic_compare_exchange_strong(slot_epoch, &seen, epoch);
}

/* True when a slot of epoch e is among the last `span` epochs at now_epoch. */
static bool in_span(uint64_t e, uint64_t now_epoch, size_t span)
{
    return e != 0 && e <= now_epoch && now_epoch - e < span;
}

/* The slot of `epoch`, emptied first if it still holds an older period. */
static tg_window_slot_t *slot_for(tg_window_slot_t *slots, size_t n, uint64_t epoch)
{
    tg_window_slot_t *s = &slots[epoch % n];
    if (claim_stale(&s->epoch, epoch)) {
        atomic_store_explicit(&s->total, 0, memory_order_relaxed);
        atomic_store_explicit(&s->failures, 0, memory_order_relaxed);
        atomic_store_explicit(&s->unavailable, 0, memory_order_relaxed);
        atomic_store_explicit(&s->micros, 0, memory_order_relaxed);
    }
    return s;
}

void tg_window_record(tg_window_slot_t *slots, size_t n, uint64_t epoch,
                      bool failed, bool unavailable, uint64_t micros)
{
    tg_window_slot_t *s = slot_for(slots, n, epoch);
    atomic_fetch_add_explicit(&s->total, 1, memory_order_relaxed);
    /* Zero adds are skipped: each is a locked instruction on a shared line. */
    if (failed)
        atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
    if (unavailable)
        atomic_fetch_add_explicit(&s->unavailable, 1, memory_order_relaxed);
    if (micros)
        atomic_fetch_add_explicit(&s->micros, micros, memory_order_relaxed);
}

tg_window_sum_t tg_window_totals(const tg_window_slot_t *slots, size_t n, uint64_t now_epoch,
                                 size_t span)
{
    tg_window_sum_t sum = {0};
    for (size_t i = 0; i < n; i++) {
        uint64_t e = atomic_load_explicit(&slots[i].epoch, memory_order_acquire);
        if (!in_span(e, now_epoch, span))
            continue;
        sum.total += atomic_load_explicit(&slots[i].total, memory_order_relaxed);
        sum.failures += atomic_load_explicit(&slots[i].failures, memory_order_relaxed);
        sum.unavailable += atomic_load_explicit(&slots[i].unavailable, memory_order_relaxed);
        sum.micros += atomic_load_explicit(&slots[i].micros, memory_order_relaxed);
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
