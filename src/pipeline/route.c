/* route.c: see route.h. The stage then leaves out the routes whose
 * provider health/ rules out (tg_health_provider_usable). */
#include "pipeline/route.h"
#include "pipeline/stages.h"

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

/* Keeps the routes whose provider health/ does not rule out, in order
 * (today only an open circuit breaker rules one out, and nothing opens one
 * yet). When that would leave none, every route stays: a provider ruled
 * out may still answer, and a certain failure helps nobody. The kept list
 * is copied into the request's pool only when a route is left out. */
static void skip_unusable_routes(tg_request_t *r)
{
    const tg_health_view_t *health = r->env.health;
    size_t usable = 0;
    for (size_t i = 0; i < r->route_count; i++)
        usable += tg_health_provider_usable(health, r->routes[i].provider);
    if (usable == 0 || usable == r->route_count)
        return;
    tg_route_config_t *kept = h2o_mem_alloc_pool(&r->req->pool, usable * sizeof(*kept));
    size_t n = 0;
    /* a breaker may move between the two passes: never past `usable` */
    for (size_t i = 0; i < r->route_count && n < usable; i++)
        if (tg_health_provider_usable(health, r->routes[i].provider))
            kept[n++] = r->routes[i];
    if (n == 0)
        return;
    r->routes = kept;
    r->route_count = n;
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
    skip_unusable_routes(r);
    return TG_STAGE_CONTINUE;
}
