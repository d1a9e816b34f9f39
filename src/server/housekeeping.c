/* housekeeping.c: see housekeeping.h. The thread sleeps on a condition
 * variable (monotonic clock) until the next tick is due, so that stopping
 * it is a signal, not a wait for the period to end. A tick that overruns
 * its period is followed by the next one at once, and missed ticks are
 * skipped, not caught up. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "server/housekeeping.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "obs/log.h"
#include "upstream/probe.h"

#define TICK_NS (1000000000L / TG_HOUSEKEEPING_HZ)

typedef struct tg_housekeeping_task {
    const char *name;       /* the task label of housekeeping_duration_seconds */
    unsigned period_ms;     /* how often, to the nearest tick */
    /* When set, the period from the configuration in force instead. */
    unsigned (*period_of)(const tg_config_t *cfg);
    void (*run)(const tg_housekeeping_ctx_t *ctx);
} tg_housekeeping_task_t;

/* ---------------------------------------------------------------- tasks */

static void log_verdict(void *ctx, const char *provider, bool healthy, const tg_window_sum_t *last_minute)
{
    (void)ctx;
    tg_log_field_t fields[] = {
        {.key = "provider", .type = TG_LF_STR, .str = provider},
        {.key = "attempts_last_minute", .type = TG_LF_INT, .i = (int64_t)last_minute->total},
        {.key = "provider_failures_last_minute", .type = TG_LF_INT, .i = (int64_t)last_minute->unavailable},
    };
    tg_log_fields(healthy ? TG_LOG_INFO : TG_LOG_WARN, "health",
                  healthy ? "provider healthy again" : "provider unhealthy", fields, 3);
}

/* Each provider's healthy verdict on its last minute (health/score.h) and
 * the breakers whose cooldown is over (to half-open, without waiting for
 * a request to notice), then the provider state metrics that mirror them. */
static void provider_health(const tg_housekeeping_ctx_t *ctx)
{
    double now = tg_clock_seconds();
    tg_health_evaluate(ctx->health, now, log_verdict, NULL);
    tg_health_breakers_tick(ctx->health, now);
    tg_obs_sync_provider_state(ctx->obs);
}

static void log_check(const char *provider, const tg_probe_result_t *r)
{
    tg_log_field_t fields[] = {
        {.key = "provider", .type = TG_LF_STR, .str = provider},
        {.key = "seconds", .type = TG_LF_DOUBLE, .d = r->seconds},
        {.key = "status", .type = TG_LF_INT, .i = r->status},
        {.key = "reason", .type = TG_LF_STR, .str = tg_retry_reason_name(r->reason)},
        {.key = "detail", .type = TG_LF_STR, .str = r->detail},
    };
    tg_log_fields(r->ok ? TG_LOG_INFO : TG_LOG_WARN, "health",
                  r->ok ? "health check passed again" : "health check failed", fields, r->ok ? 3 : 5);
}

/* Runs the check of the first provider due, if any: one check a run, so a
 * run blocks for at most one check's timeout, and the providers due
 * together take their turns on the next ticks. A provider whose checks are
 * off is never checked and loses any failed check it had. */
static void health_checks(const tg_housekeeping_ctx_t *ctx)
{
    if (ctx->snap == NULL)
        return;
    const tg_config_t *cfg = ctx->snap->cfg;
    const tg_health_view_t *health = ctx->snap->health;
    double now = tg_clock_seconds();
    bool checked = false;
    for (size_t i = 0; i < cfg->provider_count; i++) {
        const tg_provider_config_t *p = &cfg->providers[i];
        if (!p->health_check.enabled) {
            tg_health_check_off(health, i);
            continue;
        }
        if (checked || !tg_health_check_due(health, i, now, p->health_check.interval_ms / 1000.0))
            continue;
        tg_probe_result_t r;
        tg_upstream_probe(p, &ctx->snap->addrs[i], &r);
        if (tg_health_report_check(health, i, r.ok, r.reason, r.seconds, tg_clock_seconds()))
            log_check(p->name, &r);
        checked = true;
    }
}

static void log_anomaly(void *obs, const char *provider, const tg_anomaly_t *a)
{
    tg_obs_record_anomaly(obs, a->type);
    tg_log_field_t fields[] = {
        {.key = "provider", .type = TG_LF_STR, .str = provider},
        {.key = "type", .type = TG_LF_STR, .str = tg_anomaly_type_name(a->type)},
        {.key = "value", .type = TG_LF_DOUBLE, .d = a->value},
        {.key = "baseline", .type = TG_LF_DOUBLE, .d = a->baseline},
        {.key = "attempts", .type = TG_LF_INT, .i = (int64_t)a->attempts},
        {.key = "interval_seconds", .type = TG_LF_DOUBLE, .d = a->seconds},
    };
    tg_log_fields(TG_LOG_WARN, "health", "anomaly detected", fields, 6);
}

static void anomaly_detection(const tg_housekeeping_ctx_t *ctx)
{
    if (ctx->snap != NULL && ctx->snap->cfg->anomaly.enabled)
        tg_health_detect_anomalies(ctx->snap->health, &ctx->snap->cfg->anomaly, tg_clock_seconds(), log_anomaly,
                                   ctx->obs);
}

static unsigned anomaly_period(const tg_config_t *cfg)
{
    return cfg->anomaly.interval_ms;
}

/* Requests waiting on an identical request's cache fill for longer than
 * cache.coalesce_wait_ms go upstream themselves; expired entries leave the
 * memory tier from its cold end (lookups drop the ones they meet). */
static void cache_upkeep(const tg_housekeeping_ctx_t *ctx)
{
    if (ctx->cache == NULL || ctx->snap == NULL)
        return;
    double now = tg_clock_seconds();
    tg_cache_expire_waiters(ctx->cache, now, ctx->snap->cfg->cache.coalesce_wait_ms / 1000.0);
    tg_cache_sweep(ctx->cache, now, 256);
}

static const tg_housekeeping_task_t tasks[] = {
    {"cache", 1000 / TG_HOUSEKEEPING_HZ, NULL, cache_upkeep},
    {"provider_health", 1000, NULL, provider_health},
    {"health_checks", 1000 / TG_HOUSEKEEPING_HZ, NULL, health_checks},
    {"anomaly_detection", 60000, anomaly_period, anomaly_detection},
};
#define TASK_COUNT (sizeof(tasks) / sizeof(tasks[0]))

/* ----------------------------------------------------------- the tick */

struct tg_housekeeping {
    tg_housekeeping_ctx_t ctx;  /* ctx.snap under lock */
    pthread_t thread;
    pthread_mutex_t lock;       /* guards stopping and ctx.snap */
    pthread_cond_t wake;        /* on CLOCK_MONOTONIC */
    bool stopping;
    double due[TASK_COUNT];     /* monotonic seconds; the tick's thread only */
};

static double seconds_of(const struct timespec *ts)
{
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static void tick(tg_housekeeping_t *hk)
{
    double started = tg_clock_seconds();
    /* The tick's own reference: a reload may replace the snapshot meanwhile. */
    pthread_mutex_lock(&hk->lock);
    tg_housekeeping_ctx_t ctx = hk->ctx;
    if (ctx.snap != NULL)
        tg_snapshot_retain(ctx.snap);
    pthread_mutex_unlock(&hk->lock);
    for (size_t i = 0; i < TASK_COUNT; i++) {
        double before = tg_clock_seconds();
        if (before < hk->due[i])
            continue;
        tasks[i].run(&ctx);
        double after = tg_clock_seconds();
        tg_obs_record_housekeeping(ctx.obs, tasks[i].name, after - before);
        /* Due again a period after this run (a late run does not bunch up
         * the next ones), less half a tick so that the ticks' jitter does
         * not push it one tick further. */
        unsigned period = tasks[i].period_of && ctx.snap ? tasks[i].period_of(ctx.snap->cfg) : tasks[i].period_ms;
        hk->due[i] = before + period / 1000.0 - 0.5 / TG_HOUSEKEEPING_HZ;
    }
    tg_snapshot_release(ctx.snap);
    tg_obs_record_housekeeping(ctx.obs, "tick", tg_clock_seconds() - started);
}

static void *tick_main(void *arg)
{
    tg_housekeeping_t *hk = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&hk->lock);
    while (!hk->stopping) {
        pthread_mutex_unlock(&hk->lock);
        tick(hk);
        next.tv_nsec += TICK_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (seconds_of(&next) < seconds_of(&now))
            next = now; /* overran: the next tick now, the missed ones never */
        pthread_mutex_lock(&hk->lock);
        while (!hk->stopping && pthread_cond_timedwait(&hk->wake, &hk->lock, &next) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&hk->lock);
    return NULL;
}

tg_housekeeping_t *tg_housekeeping_start(const tg_housekeeping_ctx_t *ctx)
{
    tg_housekeeping_t *hk = calloc(1, sizeof(*hk));
    if (hk == NULL)
        return NULL;
    hk->ctx = *ctx;
    if (ctx->snap != NULL)
        tg_snapshot_retain(ctx->snap);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hk->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&hk->lock, NULL);
    if (pthread_create(&hk->thread, NULL, tick_main, hk) != 0) {
        pthread_cond_destroy(&hk->wake);
        pthread_mutex_destroy(&hk->lock);
        tg_snapshot_release(hk->ctx.snap);
        free(hk);
        return NULL;
    }
    pthread_setname_np(hk->thread, "tg-housekeeping"); /* for top -H and gdb */
    return hk;
}

void tg_housekeeping_set_snapshot(tg_housekeeping_t *hk, tg_snapshot_t *snap)
{
    tg_snapshot_retain(snap);
    pthread_mutex_lock(&hk->lock);
    tg_snapshot_t *old = hk->ctx.snap;
    hk->ctx.snap = snap;
    pthread_mutex_unlock(&hk->lock);
    tg_snapshot_release(old);
}

void tg_housekeeping_stop(tg_housekeeping_t *hk)
{
    if (hk == NULL)
        return;
    pthread_mutex_lock(&hk->lock);
    hk->stopping = true;
    pthread_cond_signal(&hk->wake);
    pthread_mutex_unlock(&hk->lock);
    pthread_join(hk->thread, NULL);
    pthread_cond_destroy(&hk->wake);
    pthread_mutex_destroy(&hk->lock);
    tg_snapshot_release(hk->ctx.snap);
    free(hk);
}
