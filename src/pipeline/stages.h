/* stages.h: the pipeline's stages, one per file of pipeline/ (parse.c,
 * auth.c, limits.c, cache.c, route.c, upstream.c, account.c, trace.c,
 * ledger.c, admin.c). The server's route table (server/routes.c) strings
 * them into each endpoint's stage list. */
#ifndef TOLLGATE_PIPELINE_STAGES_H
#define TOLLGATE_PIPELINE_STAGES_H

#include "pipeline/request.h"

/* parse.c: validates the body, finds model, stream and stream_options. */
tg_stage_result_t tg_stage_parse(tg_request_t *r);
/* auth.c: the caller's organisation, or 401. */
tg_stage_result_t tg_stage_auth(tg_request_t *r);
/* cache.c: a hit answers (memory, or the SQLite tier: suspends); a miss
 * fills, or waits for an identical request's fill. */
tg_stage_result_t tg_stage_cache(tg_request_t *r);
/* cache.c (always, after account): a hit's billing; a miss's answer into
 * the cache; the requests waiting on it woken. */
tg_stage_result_t tg_stage_cache_fill(tg_request_t *r);
/* route.c: the requested model's routes, or 404. */
tg_stage_result_t tg_stage_route(tg_request_t *r);
/* upstream.c: the provider call; suspends until it reports. */
tg_stage_result_t tg_stage_upstream(tg_request_t *r);
/* upstream.c: at dispose, ends a call still running (the client left). */
void tg_stage_upstream_dispose(tg_request_t *r);
/* limits.c: takes from the key's and the org's limits, or 429. */
tg_stage_result_t tg_stage_limits(tg_request_t *r);
/* limits.c (always): gives back what limits took, settles the budget. */
tg_stage_result_t tg_stage_settle(tg_request_t *r);
/* account.c (always): HTTP and LLM metrics, cost, the access record. */
tg_stage_result_t tg_stage_account(tg_request_t *r);
/* trace.c (always, after account and cache_fill): the request's span, when traced. */
tg_stage_result_t tg_stage_trace(tg_request_t *r);
/* ledger.c (always): the usage row, in the journal before the response ends. */
tg_stage_result_t tg_stage_ledger(tg_request_t *r);
/* admin.c: the admin API, run on the store thread. */
tg_stage_result_t tg_stage_admin(tg_request_t *r);

#endif
