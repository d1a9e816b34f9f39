/* endpoint_stages.h: the server's own stages (endpoint_stages.c). */
#ifndef TOLLGATE_SERVER_ENDPOINT_STAGES_H
#define TOLLGATE_SERVER_ENDPOINT_STAGES_H

#include "server/exchange.h"

/* HTTP/1 request smuggling (framing.h): 400 and the connection closed. */
tg_stage_result_t tg_stage_framing(tg_request_t *r);
tg_stage_result_t tg_stage_not_found(tg_request_t *r);
tg_stage_result_t tg_stage_method_not_allowed(tg_request_t *r);
/* GET /v1/models */
tg_stage_result_t tg_stage_models(tg_request_t *r);
/* metrics.bearer_token, for the metrics paths; /dashboard also takes it as ?token= */
tg_stage_result_t tg_stage_metrics_token(tg_request_t *r);
/* /metrics, /analytics/prometheus, /prometheus/metrics/..., /health, /ready */
tg_stage_result_t tg_stage_observability(tg_request_t *r);
/* GET /dashboard: the status page (obs/dashboard.h) */
tg_stage_result_t tg_stage_dashboard(tg_request_t *r);

#endif
