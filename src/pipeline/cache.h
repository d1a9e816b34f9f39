/* cache.h: a request's part of the response cache (docs/cache.md): what
 * the cache stage decided and found, read by the upstream stage (a stream
 * to record), the responder (the x-tollgate-cache header, a hit's reply)
 * and the ledger (a hit's row). The stages are in pipeline/stages.h. */
#ifndef TOLLGATE_PIPELINE_CACHE_H
#define TOLLGATE_PIPELINE_CACHE_H

#include <stdbool.h>

#include "cache/memory.h"
#include "upstream/sse.h"

typedef struct tg_cache_recorder tg_cache_recorder_t;

typedef struct tg_request_cache {
    bool looked_up;           /* the cache was asked: the answer says hit or miss */
    bool fill;                /* a successful upstream answer goes into the cache */
    bool hit;                 /* answered from the cache, by `tier` */
    tg_cache_tier_t tier;
    uint8_t key[TG_CACHE_KEY_LEN];
    tg_cache_flight_t *flight;     /* this request fills for identical ones waiting */
    const tg_cache_answer_t *answer; /* a hit's, alive as long as the request */
    bool stream_reply;        /* a hit replayed as a stream */
    tg_cache_recorder_t *recorder; /* a stream being recorded to fill */
} tg_request_cache_t;

/* The x-tollgate-cache response header's value, or NULL for none. */
const char *tg_cache_response_header(const tg_request_cache_t *rc);

/* The upstream call's observer of stream events (upstream/call.h):
 * records the events of the attempt that answers. ctx is the request. */
void tg_cache_record_event(void *ctx, int attempt, const tg_sse_event_t *ev);

#endif
