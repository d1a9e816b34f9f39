/* routes.c: the route table: for each route template, the method it takes,
 * whether the metrics listener serves it too, and its stage list. The
 * request path of every endpoint is this data; handler.c only looks it up.
 * docs/architecture.md draws it. */
#include "pipeline/stages.h"
#include "server/endpoint_stages.h"

#define STAGE(fn) {#fn, tg_stage_##fn, false}
#define ALWAYS(fn) {#fn, tg_stage_##fn, true}

static const tg_stage_t llm_stages[] = {
    STAGE(framing), STAGE(parse), STAGE(auth), STAGE(route), STAGE(upstream), ALWAYS(account),
};
static const tg_stage_t models_stages[] = {STAGE(framing), STAGE(models), ALWAYS(account)};
static const tg_stage_t metrics_stages[] = {
    STAGE(framing), STAGE(metrics_token), STAGE(observability), ALWAYS(account),
};
static const tg_stage_t health_stages[] = {STAGE(framing), STAGE(observability), ALWAYS(account)};
static const tg_stage_t not_found_stages[] = {STAGE(framing), STAGE(not_found), ALWAYS(account)};
static const tg_stage_t wrong_method_stages[] = {STAGE(framing), STAGE(method_not_allowed), ALWAYS(account)};

typedef struct tg_route_entry {
    tg_method_t method;       /* the one it takes */
    bool metrics_listener;   /* served on metrics.listen too */
    const tg_stage_t *stages;
    size_t stage_count;
} tg_route_entry_t;

#define STAGES(list) list, sizeof(list) / sizeof(list[0])

/* Indexed by tg_route_t; its templates are the `path` label's values. */
static const tg_route_entry_t routes[TG_ROUTE_COUNT] = {
    [TG_ROUTE_CHAT] = {TG_METHOD_POST, false, STAGES(llm_stages)},
    [TG_ROUTE_EMBEDDINGS] = {TG_METHOD_POST, false, STAGES(llm_stages)},
    [TG_ROUTE_MODELS] = {TG_METHOD_GET, false, STAGES(models_stages)},
    [TG_ROUTE_METRICS] = {TG_METHOD_GET, true, STAGES(metrics_stages)},
    [TG_ROUTE_ANALYTICS] = {TG_METHOD_GET, true, STAGES(metrics_stages)},
    [TG_ROUTE_PROM_CATEGORY] = {TG_METHOD_GET, true, STAGES(metrics_stages)},
    [TG_ROUTE_HEALTH] = {TG_METHOD_GET, true, STAGES(health_stages)},
    [TG_ROUTE_READY] = {TG_METHOD_GET, true, STAGES(health_stages)},
    [TG_ROUTE_OTHER] = {TG_METHOD_OTHER, false, STAGES(not_found_stages)},
};

const tg_stage_t *tg_routes_stages(tg_route_t route, tg_method_t method, bool metrics_listener, size_t *count,
                                   const char **allow)
{
    const tg_route_entry_t *e = &routes[route < TG_ROUTE_COUNT ? route : TG_ROUTE_OTHER];
    if (route >= TG_ROUTE_OTHER || (metrics_listener && !e->metrics_listener)) {
        *count = sizeof(not_found_stages) / sizeof(not_found_stages[0]);
        return not_found_stages;
    }
    if (method != e->method) {
        *allow = tg_method_name(e->method);
        *count = sizeof(wrong_method_stages) / sizeof(wrong_method_stages[0]);
        return wrong_method_stages;
    }
    *count = e->stage_count;
    return e->stages;
}
