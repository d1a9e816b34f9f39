/* trace_export.h: the trace exporter (docs/observability.md, "Traces"): a thread of its own
 * that takes the spans the workers queued (obs/trace.h) every
 * tracing.interval_ms, or as soon as a batch of them waits, and POSTs them
 * as OTLP/JSON to tracing.endpoint, batch_max spans a request, each request
 * given tracing.timeout_ms. A batch the endpoint refuses or does not
 * answer is dropped and counted (tracing_spans_dropped_total{reason=
 * "export_failed"}): traces are never retried at the cost of newer ones,
 * and the workers never wait for the exporter. */
#ifndef TOLLGATE_SERVER_TRACE_EXPORT_H
#define TOLLGATE_SERVER_TRACE_EXPORT_H

#include "config.h"
#include "obs/metrics.h"
#include "obs/trace.h"

typedef struct tg_trace_exporter tg_trace_exporter_t;

/* Starts the exporter of cfg's tracing section (copied: a reload does not
 * change it). NULL, with an error logged, when the thread cannot start. */
tg_trace_exporter_t *tg_trace_exporter_start(const tg_config_t *cfg, tg_obs_t *obs);

/* The queue the workers submit spans to. */
tg_tracer_t *tg_trace_exporter_tracer(tg_trace_exporter_t *e);

/* Exports what is queued (one last round), stops the thread and frees
 * everything; the workers must be stopped. NULL is a no-op. */
void tg_trace_exporter_stop(tg_trace_exporter_t *e);

#endif
