/* route.h: the routing stage: requested model -> its ordered routes. */
#ifndef TOLLGATE_PIPELINE_ROUTE_H
#define TOLLGATE_PIPELINE_ROUTE_H

#include "config.h"
#include "core/error.h"

typedef struct tg_route_in {
    const tg_config_t *cfg;
    const char *model;
    size_t model_len;
} tg_route_in_t;

typedef struct tg_route_out {
    long model_index; /* into cfg->models; -1 when unknown (label "other") */
    const tg_route_config_t *routes;
    size_t route_count;
    tg_error_t error;
} tg_route_out_t;

int tg_route_select(const tg_route_in_t *in, tg_route_out_t *out);

/* Orders routes[0..n) (a model's usable routes, in priority order) in
 * place by `strategy` (docs/gateway-behaviour.md, "Routing, retries,
 * fallback"): priority leaves them; weighted moves the route picked by
 * `draw` (a random number; route i with probability weight / sum) to the
 * front; lowest_latency and health_score sort them by keys[i], lowest
 * first (the caller gives the peak latency, or the health score negated).
 * Ties keep priority order. keys may be NULL for priority and weighted;
 * it is reordered with the routes. */
void tg_route_order(tg_strategy_t strategy, tg_route_config_t *routes, double *keys, size_t n, uint64_t draw);

#endif
