/* sse.h: incremental parser for the Server-Sent Events stream of an
 * OpenAI-compatible chat completion. Bytes arrive in arbitrary pieces; the
 * parser hands back whole events (raw bytes, ready to forward) classified
 * for the gateway: first content delta (time to first token), the
 * usage-only chunk (to strip when the gateway asked for it), `[DONE]`. */
#ifndef TOLLGATE_UPSTREAM_SSE_H
#define TOLLGATE_UPSTREAM_SSE_H

#include <stddef.h>

#include "upstream/usage.h"

typedef enum tg_sse_kind {
    TG_SSE_DATA,  /* a `data:` event with a JSON payload */
    TG_SSE_DONE,  /* data: [DONE], or the Responses API's terminal event (with its usage) */
    TG_SSE_OTHER, /* comment, keep-alive, event without data, or garbage */
} tg_sse_kind_t;

typedef struct tg_sse_event {
    const char *raw; /* the event's bytes including its blank-line terminator */
    size_t raw_len;
    tg_sse_kind_t kind;
    int has_content; /* a non-empty delta.content */
    int usage_only;  /* "choices": [] with a usage object */
    tg_usage_t usage;
} tg_sse_event_t;

/* Returns 0 to continue, non-zero to stop feeding (returned by tg_sse_feed). */
typedef int (*tg_sse_event_cb)(void *ctx, const tg_sse_event_t *ev);

/* Memory for partial events: the gateway passes an h2o pool allocator (freed
 * with the request), tests pass malloc. Never freed by the parser. */
typedef void *(*tg_sse_alloc_fn)(void *alloc_ctx, size_t size);

typedef struct tg_sse_parser {
    char *partial; /* bytes of an event not yet terminated */
    size_t partial_len;
    size_t partial_cap;
    size_t max_event_bytes;
    tg_sse_alloc_fn alloc;
    void *alloc_ctx;
    int overflowed; /* an event exceeded max_event_bytes: stream is garbage */
} tg_sse_parser_t;

void tg_sse_init(tg_sse_parser_t *p, size_t max_event_bytes, tg_sse_alloc_fn alloc, void *alloc_ctx);

/* Feeds len bytes; calls cb once per complete event, in order. Returns 0,
 * the callback's non-zero value if it stopped, or -1 on overflow/alloc
 * failure. */
int tg_sse_feed(tg_sse_parser_t *p, const char *data, size_t len, tg_sse_event_cb cb, void *cb_ctx);

/* Bytes of an unterminated event left when the stream ended. */
static inline size_t tg_sse_pending(const tg_sse_parser_t *p)
{
    return p->partial_len;
}

/* Whether a data event carries output of the model: text (has_content),
 * or a tool or function call, a refusal, reasoning or audio (a member of
 * that name that is neither null nor ""); of a Responses API event, only
 * a non-empty delta or text. What comes before the first one, the
 * role-only first chunk, the Responses API's response.created and the
 * empty items and parts, or keep-alive comments, says nothing about
 * whether the model is producing. Costs a few scans of the event: call it
 * only until it first says yes. */
int tg_sse_has_output(const tg_sse_event_t *ev);

/* Classifies one complete event (exposed for tests and the fuzzer). */
void tg_sse_classify(const char *raw, size_t len, tg_sse_event_t *ev);

#endif
