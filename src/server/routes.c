/* routes.c: each route's stage list. The route table's other columns
 * (template, method, metrics listener) are TG_ROUTE_MAP in core/words.h;
 * the request path of every endpoint is this data, and handler.c only
 * looks it up. docs/architecture.md draws it. */
#include "pipeline/stages.h"
#include "server/endpoint_stages.h"

#define STAGE(fn) {#fn, tg_stage_##fn, false}
#define ALWAYS(fn) {#fn, tg_stage_##fn, true}

/* trace: the request's span. Not on the observability endpoints: scrapes
 * and probes every few seconds would bury the traffic's traces. */
static const tg_stage_t llm_stages[] = {
    STAGE(framing), STAGE(parse), STAGE(auth), STAGE(limits), STAGE(cache), STAGE(route), STAGE(upstream),
    ALWAYS(account), ALWAYS(settle), ALWAYS(cache_fill), ALWAYS(trace), ALWAYS(ledger),
};
static const tg_stage_t admin_stages[] = {STAGE(framing), STAGE(admin), ALWAYS(account), ALWAYS(trace)};
static const tg_stage_t models_stages[] = {STAGE(framing), STAGE(auth), STAGE(models), ALWAYS(account), ALWAYS(trace)};
static const tg_stage_t metrics_stages[] = {
    STAGE(framing), STAGE(metrics_token), STAGE(observability), ALWAYS(account),
};
static const tg_stage_t health_stages[] = {STAGE(framing), STAGE(observability), ALWAYS(account)};
static const tg_stage_t dashboard_stages[] = {STAGE(framing), STAGE(metrics_token), STAGE(dashboard), ALWAYS(account)};
static const tg_stage_t not_found_stages[] = {STAGE(framing), STAGE(not_found), ALWAYS(account), ALWAYS(trace)};
static const tg_stage_t wrong_method_stages[] = {
    STAGE(framing), STAGE(method_not_allowed), ALWAYS(account), ALWAYS(trace),
};

typedef struct tg_route_stages {
    const tg_stage_t *stages;
    size_t count;
} tg_route_stages_t;

#define STAGES(list) {list, sizeof(list) / sizeof(list[0])}

/* Indexed by tg_route_t (core/words.h: template, method, listener). */
static const tg_route_stages_t routes[TG_ROUTE_COUNT] = {
    [TG_ROUTE_CHAT] = STAGES(llm_stages),
    [TG_ROUTE_EMBEDDINGS] = STAGES(llm_stages),
    [TG_ROUTE_RESPONSES] = STAGES(llm_stages),
    [TG_ROUTE_MESSAGES] = STAGES(llm_stages),
    [TG_ROUTE_COMPLETIONS] = STAGES(llm_stages),
    [TG_ROUTE_IMAGES] = STAGES(llm_stages),
    [TG_ROUTE_TRANSCRIPTIONS] = STAGES(llm_stages),
    [TG_ROUTE_SPEECH] = STAGES(llm_stages),
    [TG_ROUTE_MODELS] = STAGES(models_stages),
    [TG_ROUTE_MODEL] = STAGES(models_stages),
    [TG_ROUTE_METRICS] = STAGES(metrics_stages),
    [TG_ROUTE_ANALYTICS] = STAGES(metrics_stages),
    [TG_ROUTE_PROM_CATEGORY] = STAGES(metrics_stages),
    [TG_ROUTE_HEALTH] = STAGES(health_stages),
    [TG_ROUTE_READY] = STAGES(health_stages),
    [TG_ROUTE_DASHBOARD] = STAGES(dashboard_stages),
    [TG_ROUTE_ADMIN_ORGS] = STAGES(admin_stages),
    [TG_ROUTE_ADMIN_ORG] = STAGES(admin_stages),
    [TG_ROUTE_ADMIN_KEYS] = STAGES(admin_stages),
    [TG_ROUTE_ADMIN_KEY] = STAGES(admin_stages),
    [TG_ROUTE_ADMIN_USAGE] = STAGES(admin_stages),
    [TG_ROUTE_ADMIN_AUDIT] = STAGES(admin_stages),
    [TG_ROUTE_OTHER] = STAGES(not_found_stages),
};

const tg_stage_t *tg_routes_stages(tg_route_t route, tg_method_t method, bool metrics_listener, size_t *count,
                                   const char **allow)
{
    if (route >= TG_ROUTE_OTHER || (metrics_listener && !tg_route_on_metrics_listener(route)))
        route = TG_ROUTE_OTHER;
    else if (tg_route_method(route) != TG_METHOD_ANY && method != tg_route_method(route)) {
        *allow = tg_method_name(tg_route_method(route));
        *count = sizeof(wrong_method_stages) / sizeof(wrong_method_stages[0]);
        return wrong_method_stages;
    }
    *count = routes[route].count;
    return routes[route].stages;
}
