/*
 * peak_ewma.h - a provider's "peak EWMA" of attempt latency (Finagle's
 * load-balancer cost), the input of the lowest_latency routing strategy.
 *
 * A sample above the current value replaces it at once (a provider that
 * turns slow is seen as slow by the next request); a sample below it is
 * blended in with weight 1 - exp(-dt / TG_PEAK_EWMA_TAU), dt the time since
 * the previous sample, so the value falls toward faster samples with a
 * time constant of TG_PEAK_EWMA_TAU seconds however often they come. Read
 * at time t, the value decays toward 0 by exp(-(t - last) / tau): a
 * provider that gets no traffic (because it looked slow) looks faster and
 * faster until one request measures it again. Never measured: 0.
 *
 * Lock-free: workers update it with a compare-and-swap loop on the value;
 * the sample's time is stored after, so two updates racing may blend with
 * a slightly stale dt (a heuristic's error, never a lost peak).
 */
#ifndef TOLLGATE_HEALTH_PEAK_EWMA_H
#define TOLLGATE_HEALTH_PEAK_EWMA_H

#include <stdatomic.h>

#define TG_PEAK_EWMA_TAU 10.0 /* seconds */

typedef struct tg_peak_ewma {
    _Atomic double value; /* seconds, as of `at` */
    _Atomic double at;    /* tg_clock_seconds() of the last sample; 0 = none */
} tg_peak_ewma_t;

/* Folds in an attempt of `seconds` finished at `now`. */
void tg_peak_ewma_update(tg_peak_ewma_t *e, double seconds, double now);

/* The value at `now`, decayed since the last sample; 0 when none. */
double tg_peak_ewma_value(const tg_peak_ewma_t *e, double now);

#endif /* TOLLGATE_HEALTH_PEAK_EWMA_H */
