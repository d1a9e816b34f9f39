/* route.c: see route.h. Circuit breakers (a later issue) will skip open
 * providers here. */
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
    const tg_model_config *m = &in->cfg->models[out->model_index];
    out->routes = m->routes;
    out->route_count = m->route_count;
    return 0;
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
    return TG_STAGE_CONTINUE;
}
