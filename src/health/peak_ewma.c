/* peak_ewma.c: see peak_ewma.h. */
#include "health/peak_ewma.h"

#include <math.h>

/* exp(-dt / tau), 1 for a clock that went backwards or no time at all. */
static double decay(double dt)
{
    return dt > 0 ? exp(-dt / TG_PEAK_EWMA_TAU) : 1;
}

void tg_peak_ewma_update(tg_peak_ewma_t *e, double seconds, double now)
{
    if (!(seconds >= 0))
        return;
    double at = atomic_load_explicit(&e->at, memory_order_relaxed);
    double w = at > 0 ? decay(now - at) : 0;
    double old = atomic_load_explicit(&e->value, memory_order_relaxed);
    double next;
    do
        next = seconds > old ? seconds : old * w + seconds * (1 - w);
    while (!atomic_compare_exchange_weak_explicit(&e->value, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed));
    atomic_store_explicit(&e->at, now, memory_order_relaxed);
}

double tg_peak_ewma_value(const tg_peak_ewma_t *e, double now)
{
    double at = atomic_load_explicit(&e->at, memory_order_relaxed);
    if (at == 0)
        return 0;
    return atomic_load_explicit(&e->value, memory_order_relaxed) * decay(now - at);
}
