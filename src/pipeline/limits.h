/* limits.h: the limits stage and its settlement (docs/limits.md). After
 * auth, a request with a key takes from its key's and its org's limits:
 * a place among the requests in flight, a request and its estimated
 * tokens from the per-minute buckets, its worst-case cost from the month's
 * budget. The first that refuses answers 429 (and everything taken before
 * it is given back). After the call, `settle` (always) gives back the
 * place, corrects the tokens to the real count and turns the reservation
 * into the real cost. */
#ifndef TOLLGATE_PIPELINE_LIMITS_H
#define TOLLGATE_PIPELINE_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "limits/state.h"
#include "store/key_index.h"

/* Index 0 is the key's, 1 its org's. */
enum { TG_HOLD_KEY, TG_HOLD_ORG, TG_HOLD_COUNT };

/* What a request holds of its limits, and what its response says of them. */
typedef struct tg_limit_hold {
    tg_limits_t limits[TG_HOLD_COUNT];        /* auth: the key's and the org's */
    tg_limit_state_t *state[TG_HOLD_COUNT];   /* auth: NULL for an anonymous request */
    bool in_flight[TG_HOLD_COUNT];
    bool requested[TG_HOLD_COUNT];            /* took a request: given back if a later limit refuses */
    int64_t tokens[TG_HOLD_COUNT];            /* charged by estimate */
    int64_t reserved[TG_HOLD_COUNT];          /* nano-dollars */
    int64_t month;                            /* of the reservations */
    /* x-ratelimit-*: the tighter of the key's and the org's */
    bool show_requests, show_tokens;
    int64_t requests_limit, requests_remaining, requests_reset_ns;
    int64_t tokens_limit, tokens_remaining, tokens_reset_ns;
} tg_limit_hold_t;

/* Writes a reset time as OpenAI does ("20ms", "1s", "6m0s"); returns its length. */
size_t tg_limits_format_reset(char *out, size_t cap, int64_t ns);

#endif
