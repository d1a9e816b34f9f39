/* route.c: see route.h. The stage then leaves out the routes whose
 * circuit breakers (the provider's, and the route's own where it has one)
 * would not admit an attempt now (tg_health_route_usable), answers 503 at once when that leaves none (or, for
 * a model with `when_all_open: probe`, sends the request as the probe of
 * the route that may be tried soonest), and orders the rest by the
 * model's strategy. */
#include "pipeline/route.h"
#include "pipeline/stages.h"

#include <math.h>
#include <string.h>

int tg_route_select(const tg_route_in_t *in, tg_route_out_t *out)
{
    memset(out, 0, sizeof(*out));
    out->model_index = tg_config_find_model(in->cfg, in->model, in->model_len);
    if (out->model_index < 0) {
        tg_error_set(&out->error, 404, TG_ERR_INVALID_REQUEST, TG_CODE_MODEL_NOT_FOUND,
                     "The model does not exist or you do not have access to it.", "model");
        return -1;
    }
    const tg_model_config_t *m = &in->cfg->models[out->model_index];
    out->routes = m->routes;
    out->route_count = m->route_count;
    return 0;
}

/* Every route's breaker is open (or cooling down after a 429): fail fast,
 * 503 all_providers_unavailable, with Retry-After at the earliest time one
 * may be tried again (whole seconds, rounded up). */
static tg_stage_result_t all_routes_open(tg_request_t *r, double now)
{
    const tg_config_t *cfg = r->env.cfg;
    double earliest = INFINITY;
    for (size_t i = 0; i < r->route_count; i++)
        earliest = fmin(earliest, tg_health_route_next_try(r->env.health, cfg, &r->routes[i], now));
    double wait = ceil(earliest - now);
    tg_error_set(&r->error, 503, TG_ERR_UPSTREAM, TG_CODE_ALL_PROVIDERS_UNAVAILABLE,
                 "Every provider for this model is unavailable (circuit breaker open); retry later.", NULL);
    r->error.retry_after = wait < 1 ? 1 : wait > 86400 ? 86400 : (unsigned)wait;
    tg_obs_record_unroutable(r->env.view, r->model_index);
    return TG_STAGE_RESPOND;
}

/* when_all_open: probe. The request goes to the route that may be tried
 * soonest, alone: the upstream call takes its probe, cooldown or not
 * (tg_health_admit with probe), or answers 503 when another request holds it. */
static tg_stage_result_t probe_soonest_route(tg_request_t *r, tg_route_config_t *kept, double now)
{
    const tg_config_t *cfg = r->env.cfg;
    size_t best = 0;
    double soonest = INFINITY;
    for (size_t i = 0; i < r->route_count; i++) {
        double at = tg_health_route_next_try(r->env.health, cfg, &r->routes[i], now);
        if (at < soonest) {
            soonest = at;
            best = i;
        }
    }
    kept[0] = r->routes[best];
    r->routes = kept;
    r->route_count = 1;
    r->probe_open_route = true;
    return TG_STAGE_CONTINUE;
}

static bool route_usable(const tg_request_t *r, size_t i, double now)
{
    return tg_health_route_usable(r->env.health, r->env.cfg, &r->routes[i], now);
}

/* Keeps the routes whose breaker would admit an attempt now, in order
 * (the upstream call asks again before each attempt, and takes the
 * half-open probe then). The kept list is copied into the request's pool
 * only when a route is left out; each breaker is read once. */
static tg_stage_result_t skip_unusable_routes(tg_request_t *r)
{
    double now = tg_clock_seconds();
    size_t first_out = 0;
    while (first_out < r->route_count && route_usable(r, first_out, now))
        first_out++;
    if (first_out == r->route_count)
        return TG_STAGE_CONTINUE;
    tg_route_config_t *kept = h2o_mem_alloc_pool(&r->req->pool, r->route_count * sizeof(*kept));
    memcpy(kept, r->routes, first_out * sizeof(*kept));
    size_t n = first_out;
    for (size_t i = first_out + 1; i < r->route_count; i++)
        if (route_usable(r, i, now))
            kept[n++] = r->routes[i];
    if (n == 0)
        return r->env.cfg->models[r->model_index].probe_when_all_open ? probe_soonest_route(r, kept, now)
                                                                       : all_routes_open(r, now);
    r->routes = kept;
    r->route_count = n;
    return TG_STAGE_CONTINUE;
}

void tg_route_order(tg_strategy_t strategy, tg_route_config_t *routes, double *keys, size_t n, uint64_t draw)
{
    switch (strategy) {
    case TG_STRATEGY_WEIGHTED: {
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += routes[i].weight;
        if (sum == 0)
            return;
        /* The modulo's bias is at most sum / 2^64: nothing. */
        uint64_t pick = draw % sum;
        size_t i = 0;
        while (pick >= routes[i].weight)
            pick -= routes[i++].weight;
        tg_route_config_t first = routes[i];
        memmove(routes + 1, routes, i * sizeof(*routes));
        routes[0] = first;
        return;
    }
    case TG_STRATEGY_LOWEST_LATENCY:
    case TG_STRATEGY_HEALTH_SCORE:
        /* Insertion sort: stable (ties keep priority order), in place, and
         * a model has a handful of routes. */
        for (size_t i = 1; i < n; i++) {
            tg_route_config_t route = routes[i];
            double key = keys[i];
            size_t j = i;
            for (; j > 0 && keys[j - 1] > key; j--) {
                routes[j] = routes[j - 1];
                keys[j] = keys[j - 1];
            }
            routes[j] = route;
            keys[j] = key;
        }
        return;
    default:
        return;
    }
}

/* Route i's key for tg_route_order at `now`, lowest first. */
static double route_key(const tg_request_t *r, tg_strategy_t strategy, size_t i, double now)
{
    size_t p = r->routes[i].provider;
    if (strategy == TG_STRATEGY_LOWEST_LATENCY)
        return tg_health_peak_latency(r->env.health, p, now);
    tg_health_ratios_t ratios = tg_health_provider_ratios(r->env.health, p, now);
    return -tg_health_score(&ratios);
}

/* Any strategy but priority: the usable routes are copied into the
 * request's pool (with their keys, one allocation: the order is this
 * request's alone) and ordered there. */
static tg_stage_result_t order_usable_routes(tg_request_t *r, tg_strategy_t strategy)
{
    double now = tg_clock_seconds();
    bool keyed = strategy == TG_STRATEGY_LOWEST_LATENCY || strategy == TG_STRATEGY_HEALTH_SCORE;
    tg_route_config_t *kept =
        h2o_mem_alloc_pool(&r->req->pool, r->route_count * (sizeof(*kept) + (keyed ? sizeof(double) : 0)));
    double *keys = keyed ? (double *)(kept + r->route_count) : NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->route_count; i++) {
        if (!route_usable(r, i, now))
            continue;
        if (keyed)
            keys[n] = route_key(r, strategy, i, now);
        kept[n++] = r->routes[i];
    }
    if (n == 0)
        return all_routes_open(r, now);
    if (n > 1)
        tg_route_order(strategy, kept, keys, n, strategy == TG_STRATEGY_WEIGHTED ? tg_rng_next(r->env.rng) : 0);
    r->routes = kept;
    r->route_count = n;
    return TG_STAGE_CONTINUE;
}

tg_stage_result_t tg_stage_route(tg_request_t *r)
{
    tg_route_in_t in = {r->env.cfg, r->parsed.model, r->parsed.model_len};
    tg_route_out_t out;
    int rc = tg_route_select(&in, &out);
    r->model_index = out.model_index;
    if (rc != 0) {
        r->error = out.error;
        return TG_STAGE_RESPOND;
    }
    r->routes = out.routes;
    r->route_count = out.route_count;
    tg_strategy_t strategy = r->env.cfg->models[r->model_index].strategy;
    if (strategy == TG_STRATEGY_PRIORITY)
        return skip_unusable_routes(r);
    return order_usable_routes(r, strategy);
}
