/* trace.h: the spans of the gateway's traces (docs/observability.md, "Traces"): one SERVER
 * span per request and one CLIENT span per upstream attempt, with the
 * OpenTelemetry GenAI attributes; the bounded queue that takes them from
 * the workers to the exporter thread; and their OTLP/JSON encoding.
 *
 * A span is a fixed struct (no pointer but to static strings), so that the
 * queue is a ring of fixed cells: recording a span costs the worker one
 * compare-and-swap and a copy, never an allocation, and a full ring drops
 * the span (counted in tracing_spans_dropped_total{reason="queue_full"})
 * instead of growing. */
#ifndef TOLLGATE_OBS_TRACE_H
#define TOLLGATE_OBS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"

/* OTLP's SpanKind values. */
typedef enum tg_span_kind {
    TG_SPAN_SERVER = 2,
    TG_SPAN_CLIENT = 3
} tg_span_kind_t;

/* Longest text attribute kept (longer values are cut on a UTF-8 boundary). */
#define TG_SPAN_TEXT 64

/* A request's place in its trace: the client's trace (from its
 * traceparent) or a new one, the request's own span, and the client's span
 * as its parent. */
typedef struct tg_trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8];     /* the request's SERVER span */
    uint8_t parent_id[8];   /* the client's span; all zero: a new trace */
    bool sampled;           /* the traceparent's sampled flag: spans are recorded */
    int64_t start_unix_ns;  /* wall clock at arrival */
    double start_mono;      /* tg_clock_seconds() at arrival */
} tg_trace_ctx_t;

/* One finished span. Strings are copies (cut to TG_SPAN_TEXT - 1 bytes) or
 * static; "" / NULL / -1 / 0 leave an attribute out. */
typedef struct tg_trace_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];         /* all zero: a root span */
    tg_span_kind_t kind;
    bool error;                   /* status ERROR */
    int64_t start_unix_ns, end_unix_ns;
    char name[2 * TG_SPAN_TEXT];
    const char *operation;        /* tollgate.operation: ours (chat, messages, responses, ...) */
    const char *genai_operation;  /* gen_ai.operation.name: the conventions' (chat, text_completion, ...) */
    const char *genai_provider;   /* gen_ai.provider.name: the provider type's well-known name */
    char provider[TG_SPAN_TEXT];  /* tollgate.provider: the configured provider */
    char request_model[TG_SPAN_TEXT];  /* gen_ai.request.model */
    char response_model[TG_SPAN_TEXT]; /* gen_ai.response.model */
    char finish_reason[TG_SPAN_TEXT];  /* gen_ai.response.finish_reasons (one) */
    int64_t input_tokens;         /* gen_ai.usage.input_tokens; -1: unknown */
    int64_t output_tokens;        /* gen_ai.usage.output_tokens; -1: unknown */
    char error_type[32];          /* error.type */
    int http_status;              /* http.response.status_code */
    const char *http_method;      /* SERVER: http.request.method */
    const char *http_route;       /* SERVER: http.route */
    char server_address[TG_SPAN_TEXT]; /* CLIENT: server.address */
    int server_port;              /* CLIENT: server.port */
    int attempt;                  /* CLIENT: tollgate.attempt, from 1 */
    const char *cache;            /* SERVER: tollgate.cache (X-Tollgate-Cache's value) */
} tg_trace_span_t;

/* ------------------------------------------------------------- context */

/* The context of a request whose traceparent (the one it sends upstream,
 * "00-<trace>-<span>-<flags>", ids.h) is `traceparent` and whose client's
 * span id is `parent_hex` (16 hex digits, or "" when the client sent
 * none). start_mono is the request's arrival (tg_clock_seconds). */
void tg_trace_ctx_init(tg_trace_ctx_t *t, const char *traceparent, const char *parent_hex, double start_mono);

/* Wall-clock nanoseconds of monotonic time `mono` in t's request. */
int64_t tg_trace_unix_ns(const tg_trace_ctx_t *t, double mono);

/* The span id of upstream attempt `attempt` (from 1) of t's request:
 * derived from the request's span id by a mixing function, so that the
 * upstream call needs no random source of its own and every attempt of a
 * request gets a distinct id. */
void tg_trace_attempt_id(const tg_trace_ctx_t *t, int attempt, uint8_t out[8]);

/* A span of t's request: ids, kind, times; every attribute absent. A
 * CLIENT span gets span_id and t's request span as its parent; a SERVER
 * span is the request's own, child of the client's span. */
void tg_span_init(tg_trace_span_t *s, const tg_trace_ctx_t *t, tg_span_kind_t kind, const uint8_t span_id[8],
                  double start_mono, double end_mono);

/* Copies src (n bytes) into a text attribute, cut on a UTF-8 boundary. */
void tg_span_text(char dst[TG_SPAN_TEXT], const char *src, size_t n);

/* Writes 2*n lower-case hex digits of bytes and a NUL. */
void tg_trace_hex(char *out, const uint8_t *bytes, size_t n);

/* --------------------------------------------------------------- queue */

typedef struct tg_tracer tg_tracer_t;

/* A queue of at least `capacity` spans (rounded up to a power of two),
 * whose drops and exports are counted in obs's tracing families. wake_at:
 * the exporter is woken when this many spans wait (its batch). NULL when
 * out of memory. */
tg_tracer_t *tg_tracer_new(tg_obs_t *obs, size_t capacity, size_t wake_at);
void tg_tracer_free(tg_tracer_t *t);

/* From any thread: queues a copy of s; false (and counted) when full. */
bool tg_tracer_submit(tg_tracer_t *t, const tg_trace_span_t *s);

/* The exporter only: moves up to max queued spans, oldest first, to out. */
size_t tg_tracer_take(tg_tracer_t *t, tg_trace_span_t *out, size_t max);

/* Spans queued now (approximate while workers submit). */
size_t tg_tracer_depth(tg_tracer_t *t);

/* An eventfd that becomes readable when wake_at spans wait; the exporter
 * polls it with its interval as the timeout and reads it after. */
int tg_tracer_wake_fd(const tg_tracer_t *t);

/* The exporter's outcome for n spans: exported, or dropped as
 * export_failed. */
void tg_tracer_count(tg_tracer_t *t, bool exported, size_t n);

/* ---------------------------------------------------------------- OTLP */

/* The OTLP/JSON ExportTraceServiceRequest of n spans of service
 * `service_name` (resource attributes service.name, service.version), in
 * a malloc'd NUL-terminated buffer (*len bytes); NULL when out of memory.
 * Ids are hex, times decimal strings, as the OTLP/JSON mapping asks. */
char *tg_otlp_encode(const tg_trace_span_t *spans, size_t n, const char *service_name, const char *version, size_t *len);

#endif
