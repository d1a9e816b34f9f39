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

#endif
