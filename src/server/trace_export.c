/* trace_export.c: see trace_export.h. The export is the health check's
 * blocking exchange (upstream/probe.h) with a POST: one connection per
 * batch, which at one batch a second (or a batch of 512 spans) costs
 * nothing worth a keep-alive connection's state. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "server/trace_export.h"

#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "obs/log.h"
#include "upstream/probe.h"

struct tg_trace_exporter {
    tg_tracer_t *tracer;
    pthread_t thread;
    atomic_bool stopping;
    /* copies of the tracing section: the snapshot may go with a reload */
    char *host, *path, *headers, *service_name;
    uint16_t port;
    SSL_CTX *tls_ctx;
    uint32_t interval_ms, timeout_ms;
    size_t batch_max;
    tg_trace_span_t *batch;         /* batch_max spans */
    bool failing;             /* the last export failed: logged once until one succeeds */
};

static void log_outcome(tg_trace_exporter_t *e, bool ok, const char *why, size_t spans)
{
    if (ok == !e->failing)
        return; /* only changes are logged: a dead endpoint would fill the log */
    e->failing = !ok;
    if (ok) {
        tg_log(TG_LOG_INFO, "tracing", "trace export to %s:%u works again", e->host, e->port);
        return;
    }
    tg_log_field_t fields[] = {
        {.key = "endpoint_host", .type = TG_LF_STR, .str = e->host},
        {.key = "endpoint_port", .type = TG_LF_INT, .i = e->port},
        {.key = "reason", .type = TG_LF_STR, .str = why},
        {.key = "spans_dropped", .type = TG_LF_INT, .i = (int64_t)spans},
    };
    tg_log_fields(TG_LOG_WARN, "tracing", "trace export failed; spans are dropped until it works again", fields, 4);
}

/* POSTs n spans; true when the endpoint took them (a 2xx). */
static bool post(tg_trace_exporter_t *e, size_t n)
{
    size_t len = 0;
    char *body = tg_otlp_encode(e->batch, n, e->service_name, TOLLGATE_VERSION, &len);
    if (body == NULL) {
        log_outcome(e, false, "out of memory", n);
        return false;
    }
    tg_upstream_addr_t addr;
    int rc = tg_upstream_resolve_addr(e->host, e->port, &addr);
    tg_probe_result_t r = {0};
    if (rc != 0) {
        snprintf(r.detail, sizeof(r.detail), "cannot resolve %s: %s", e->host, gai_strerror(rc));
    } else {
        tg_probe_target_t t = {.host = e->host, .port = e->port, .tls_ctx = e->tls_ctx, .addr = &addr,
                               .timeout_ms = e->timeout_ms};
        tg_probe_request(&t, "POST", e->path, e->headers, body, len, &r);
        if (r.ok && r.status >= 300) {
            r.ok = false; /* a redirect is not an export */
            snprintf(r.detail, sizeof(r.detail), "status %d", r.status);
        }
    }
    free(body);
    log_outcome(e, r.ok, r.detail, n);
    return r.ok;
}

/* Exports until fewer than a batch wait. */
static void export_queued(tg_trace_exporter_t *e)
{
    size_t n;
    do {
        n = tg_tracer_take(e->tracer, e->batch, e->batch_max);
        if (n > 0)
            tg_tracer_count(e->tracer, post(e, n), n);
    } while (n == e->batch_max && !atomic_load(&e->stopping));
}

static void *exporter_main(void *arg)
{
    tg_trace_exporter_t *e = arg;
    struct pollfd pfd = {.fd = tg_tracer_wake_fd(e->tracer), .events = POLLIN};
    while (!atomic_load(&e->stopping)) {
        poll(&pfd, 1, (int)e->interval_ms);
        export_queued(e);
    }
    return NULL;
}

static void exporter_free(tg_trace_exporter_t *e)
{
    tg_tracer_free(e->tracer);
    free(e->host);
    free(e->path);
    if (e->headers != NULL)
        explicit_bzero(e->headers, strlen(e->headers));
    free(e->headers);
    free(e->service_name);
    SSL_CTX_free(e->tls_ctx);
    free(e->batch);
    free(e);
}

tg_trace_exporter_t *tg_trace_exporter_start(const tg_config_t *cfg, tg_obs_t *obs)
{
    tg_trace_exporter_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        goto fail;
    e->port = cfg->tracing.port;
    e->interval_ms = cfg->tracing.interval_ms;
    e->timeout_ms = cfg->tracing.timeout_ms;
    e->batch_max = cfg->tracing.batch_max;
    if (cfg->tracing.tls_ctx != NULL && SSL_CTX_up_ref(cfg->tracing.tls_ctx))
        e->tls_ctx = cfg->tracing.tls_ctx;
    e->host = strdup(cfg->tracing.host);
    e->path = strdup(cfg->tracing.path);
    e->headers = strdup(cfg->tracing.headers);
    e->service_name = strdup(cfg->tracing.service_name);
    e->batch = calloc(e->batch_max, sizeof(*e->batch));
    e->tracer = tg_tracer_new(obs, cfg->tracing.queue_size, e->batch_max);
    if (!e->host || !e->path || !e->headers || !e->service_name || !e->batch || !e->tracer ||
        (cfg->tracing.tls && e->tls_ctx == NULL))
        goto fail;
    if (pthread_create(&e->thread, NULL, exporter_main, e) != 0)
        goto fail;
    pthread_setname_np(e->thread, "tg-traces");
    tg_log(TG_LOG_INFO, "tracing", "exporting traces to %s", cfg->tracing.endpoint);
    return e;
fail:
    tg_log(TG_LOG_ERROR, "tracing", "cannot start the trace exporter (out of memory or threads)");
    if (e != NULL)
        exporter_free(e);
    return NULL;
}

tg_tracer_t *tg_trace_exporter_tracer(tg_trace_exporter_t *e)
{
    return e->tracer;
}

void tg_trace_exporter_stop(tg_trace_exporter_t *e)
{
    if (e == NULL)
        return;
    atomic_store(&e->stopping, true);
    uint64_t one = 1;
    ssize_t w = write(tg_tracer_wake_fd(e->tracer), &one, sizeof(one));
    (void)w;
    pthread_join(e->thread, NULL);
    export_queued(e); /* the last requests' spans */
    exporter_free(e);
}
