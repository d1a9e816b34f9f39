/* ids.h: request ids and W3C trace context. Random bits come from a
 * per-worker xorshift generator seeded once from the kernel, so a request
 * costs no system call for them. */
#ifndef TOLLGATE_SERVER_IDS_H
#define TOLLGATE_SERVER_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_REQUEST_ID_MAX 128
#define TG_TRACEPARENT_LEN 55 /* 00-<32 hex>-<16 hex>-<2 hex> */

typedef struct tg_rng {
    uint64_t state;
} tg_rng_t;

void tg_rng_seed(tg_rng_t *rng);
uint64_t tg_rng_next(tg_rng_t *rng);

/* Copies the client's X-Request-ID into out (NUL-terminated) when it is 1..128
 * printable ASCII characters (space included), else writes 32 random hex digits. */
void tg_request_id(tg_rng_t *rng, const char *client, size_t client_len, char out[TG_REQUEST_ID_MAX + 1]);

/* Builds the request's traceparent: the client's trace id and flags with a
 * new span id (the request's own span) when `client` is a valid version-00
 * header, else a new, sampled trace. trace_id receives the 32 hex digits
 * of the trace, parent_span the client's 16 hex digits of span id ("" for
 * a new trace). Upstream, each attempt sends its own span id in this trace
 * (obs/trace.h). */
void tg_traceparent(tg_rng_t *rng, const char *client, size_t client_len, char out[TG_TRACEPARENT_LEN + 1],
                    char trace_id[33], char parent_span[17]);

#endif
