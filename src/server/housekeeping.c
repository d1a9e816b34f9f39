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

#define TICK_NS (1000000000L / TG_HOUSEKEEPING_HZ)

typedef struct tg_housekeeping_task {
    const char *name;       /* the task label of housekeeping_duration_seconds */
    unsigned period_ms;     /* how often, to the nearest tick */
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

static const tg_housekeeping_task_t tasks[] = {
    {"provider_health", 1000, provider_health},
};
#define TASK_COUNT (sizeof(tasks) / sizeof(tasks[0]))

/* ----------------------------------------------------------- the tick */

struct tg_housekeeping {
    tg_housekeeping_ctx_t ctx;
    pthread_t thread;
    pthread_mutex_t lock;       /* guards stopping */
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
    for (size_t i = 0; i < TASK_COUNT; i++) {
        double before = tg_clock_seconds();
        if (before < hk->due[i])
            continue;
        tasks[i].run(&hk->ctx);
        double after = tg_clock_seconds();
        tg_obs_record_housekeeping(hk->ctx.obs, tasks[i].name, after - before);
        /* Due again a period after this run (a late run does not bunch up
         * the next ones), less half a tick so that the ticks' jitter does
         * not push it one tick further. */
        hk->due[i] = before + tasks[i].period_ms / 1000.0 - 0.5 / TG_HOUSEKEEPING_HZ;
    }
    tg_obs_record_housekeeping(hk->ctx.obs, "tick", tg_clock_seconds() - started);
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
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hk->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&hk->lock, NULL);
    if (pthread_create(&hk->thread, NULL, tick_main, hk) != 0) {
        pthread_cond_destroy(&hk->wake);
        pthread_mutex_destroy(&hk->lock);
        free(hk);
        return NULL;
    }
    pthread_setname_np(hk->thread, "tg-housekeeping"); /* for top -H and gdb */
    return hk;
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
    free(hk);
}
