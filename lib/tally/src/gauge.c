/*
 * gauge.c - gauge updates: one atomic cell holding a double's bits. A gauge
 * is set far more often than it is incremented concurrently, so it is not
 * striped (a striped set would need a sequence to know which stripe wins).
 */
#include <time.h>

#include "store.h"

#define CELL(g) (&((tally__child *)(g))->gauge)

/* NULL handles are ignored, as for counters. */
void tally_gauge_set(tally_gauge *g, double v)
{
    if (TALLY_UNLIKELY(!g))
        return;
    atomic_store_explicit(CELL(g), tally__dbits(v), memory_order_relaxed);
}

void tally_gauge_add(tally_gauge *g, double v)
{
    if (TALLY_UNLIKELY(!g))
        return;
    _Atomic uint64_t *p = CELL(g);
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, tally__dbits(tally__bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void tally_gauge_inc(tally_gauge *g) { tally_gauge_add(g, 1); }
void tally_gauge_dec(tally_gauge *g) { tally_gauge_add(g, -1); }

void tally_gauge_set_to_current_time(tally_gauge *g)
{
    tally_gauge_set(g, tally__now_real()); /* CLOCK_REALTIME is served by the vDSO */
}

double tally_gauge_value(const tally_gauge *g)
{
    if (!g)
        return 0;
    return tally__bitsd(atomic_load_explicit(&((const tally__child *)g)->gauge,
                                             memory_order_relaxed));
}
