/*
 * provider.c - the registry of provider state (health/provider.h).
 *
 * Providers live in one list, newest first, that only grows: tg_health_bind
 * prepends under bind_lock and publishes the new head with a release store,
 * and a node's `next` never changes after that, so the tick walks the list
 * without a lock while a reload binds. The (provider, upstream model)
 * breakers live in a second such list, keyed by the two names. Views are
 * kept in their own list (bind only) and freed with the registry.
 */
#include "health/provider.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"

typedef struct tg_provider_health {
    struct tg_provider_health *next;   /* immutable once published */
    char *name;
    tg_window_slot_t window[TG_HEALTH_SLOTS]; /* upstream attempts */
    tg_window_hist_t durations[TG_HEALTH_SLOTS]; /* of the same attempts, for the p95 */
    atomic_bool healthy;               /* written by tg_health_evaluate only */
    atomic_int last_error;             /* tg_retry_reason_t + 1; 0 = none */
    _Atomic double last_error_at;      /* tg_clock_seconds() seconds */
    tg_breaker_t breaker;
    _Atomic uint64_t transitions[TG_BREAKER_STATE_COUNT][TG_BREAKER_STATE_COUNT]; /* [from][to] */
    atomic_bool check_failed;          /* the last health check failed */
    _Atomic double check_passed_at;    /* 0 = never */
    double check_due;                  /* 0 = not scheduled; the tick's only */
    tg_anomaly_counters_t anomaly;     /* upstream attempts, for the detector */
    tg_anomaly_state_t anomaly_state;  /* the tick's only */
    tg_peak_ewma_t latency;            /* upstream attempts, for lowest_latency routing */
} tg_provider_health_t;

/* The breaker of one (provider, upstream model). */
typedef struct tg_model_breaker_health {
    struct tg_model_breaker_health *next; /* immutable once published */
    char *provider;
    char *upstream_model;
    atomic_int last_error;             /* tg_retry_reason_t + 1; 0 = none */
    tg_breaker_t breaker;
    _Atomic uint64_t transitions[TG_BREAKER_STATE_COUNT][TG_BREAKER_STATE_COUNT]; /* [from][to] */
} tg_model_breaker_health_t;

struct tg_health_view {
    struct tg_health_view *older;
    size_t count;
    tg_provider_health_t **providers;  /* count, indexed like cfg->providers */
    size_t model_breaker_count;
    tg_model_breaker_health_t **model_breakers; /* indexed like cfg->model_breakers */
};

struct tg_health {
    pthread_mutex_t bind_lock;         /* bind and free only: reloads are rare */
    _Atomic(tg_provider_health_t *) providers;
    _Atomic(tg_model_breaker_health_t *) model_breakers;
    tg_health_view_t *views;
};

/* ----------------------------------------------------------- lifecycle */

tg_health_t *tg_health_new(void)
{
    tg_health_t *health = calloc(1, sizeof(*health));
    if (health != NULL)
        pthread_mutex_init(&health->bind_lock, NULL);
    return health;
}

static void view_free(tg_health_view_t *v)
{
    free(v->model_breakers);
    free(v->providers);
    free(v);
}

void tg_health_free(tg_health_t *health)
{
    if (health == NULL)
        return;
    for (tg_health_view_t *v = health->views, *older; v; v = older) {
        older = v->older;
        view_free(v);
    }
    for (tg_provider_health_t *p = atomic_load(&health->providers), *next; p; p = next) {
        next = p->next;
        free(p->name);
        free(p);
    }
    for (tg_model_breaker_health_t *b = atomic_load(&health->model_breakers), *next; b; b = next) {
        next = b->next;
        free(b->provider);
        free(b->upstream_model);
        free(b);
    }
    pthread_mutex_destroy(&health->bind_lock);
    free(health);
}

/* Under bind_lock: the state of `name`, made on first sight. */
static tg_provider_health_t *provider_for(tg_health_t *health, const char *name)
{
    tg_provider_health_t *head = atomic_load_explicit(&health->providers, memory_order_relaxed);
    for (tg_provider_health_t *p = head; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    tg_provider_health_t *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->name = strdup(name)) == NULL) {
        free(p);
        return NULL;
    }
    atomic_init(&p->healthy, true);
    tg_breaker_init(&p->breaker, tg_clock_seconds());
    p->next = head;
    atomic_store_explicit(&health->providers, p, memory_order_release);
    return p;
}

/* Under bind_lock: the breaker of (provider, upstream_model), made on
 * first sight. */
static tg_model_breaker_health_t *model_breaker_for(tg_health_t *health, const char *provider,
                                                    const char *upstream_model)
{
    tg_model_breaker_health_t *head = atomic_load_explicit(&health->model_breakers, memory_order_relaxed);
    for (tg_model_breaker_health_t *b = head; b; b = b->next)
        if (strcmp(b->provider, provider) == 0 && strcmp(b->upstream_model, upstream_model) == 0)
            return b;
    tg_model_breaker_health_t *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->provider = strdup(provider)) == NULL ||
        (b->upstream_model = strdup(upstream_model)) == NULL) {
        if (b)
            free(b->provider);
        free(b);
        return NULL;
    }
    tg_breaker_init(&b->breaker, tg_clock_seconds());
    b->next = head;
    atomic_store_explicit(&health->model_breakers, b, memory_order_release);
    return b;
}

static bool view_matches(const tg_health_view_t *v, const tg_config_t *cfg)
{
    if (v->count != cfg->provider_count || v->model_breaker_count != cfg->model_breaker_count)
        return false;
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(v->providers[i]->name, cfg->providers[i].name) != 0)
            return false;
    for (size_t i = 0; i < v->model_breaker_count; i++) {
        const tg_model_breaker_config_t *mb = &cfg->model_breakers[i];
        if (strcmp(v->model_breakers[i]->provider, cfg->providers[mb->provider].name) != 0 ||
            strcmp(v->model_breakers[i]->upstream_model, mb->upstream_model) != 0)
            return false;
    }
    return true;
}

static tg_health_view_t *view_new(tg_health_t *health, const tg_config_t *cfg)
{
    tg_health_view_t *v = calloc(1, sizeof(*v));
    if (v == NULL || (v->providers = calloc(cfg->provider_count ? cfg->provider_count : 1,
                                            sizeof(*v->providers))) == NULL) {
        free(v);
        return NULL;
    }
    v->count = cfg->provider_count;
    for (size_t i = 0; i < v->count; i++) {
        if ((v->providers[i] = provider_for(health, cfg->providers[i].name)) == NULL) {
            view_free(v);  /* providers already made stay in the registry */
            return NULL;
        }
    }
    if (cfg->model_breaker_count == 0)
        return v;
    if ((v->model_breakers = calloc(cfg->model_breaker_count, sizeof(*v->model_breakers))) == NULL) {
        view_free(v);
        return NULL;
    }
    v->model_breaker_count = cfg->model_breaker_count;
    for (size_t i = 0; i < v->model_breaker_count; i++) {
        const tg_model_breaker_config_t *mb = &cfg->model_breakers[i];
        if ((v->model_breakers[i] = model_breaker_for(health, cfg->providers[mb->provider].name,
                                                      mb->upstream_model)) == NULL) {
            view_free(v);
            return NULL;
        }
    }
    return v;
}

const tg_health_view_t *tg_health_bind(tg_health_t *health, const tg_config_t *cfg)
{
    pthread_mutex_lock(&health->bind_lock);
    tg_health_view_t *v = health->views;
    while (v != NULL && !view_matches(v, cfg))
        v = v->older;
    if (v == NULL && (v = view_new(health, cfg)) != NULL) {
        v->older = health->views;
        health->views = v;
    }
    pthread_mutex_unlock(&health->bind_lock);
    return v;
}

size_t tg_health_provider_count(const tg_health_view_t *v)
{
    return v ? v->count : 0;
}

/* ------------------------------------------------------------ hot path */

static tg_provider_health_t *provider_at(const tg_health_view_t *v, size_t i)
{
    return v != NULL && i < v->count ? v->providers[i] : NULL;
}

static void set_last_error(tg_provider_health_t *p, tg_retry_reason_t reason, double now)
{
    atomic_store_explicit(&p->last_error_at, now, memory_order_relaxed);
    atomic_store_explicit(&p->last_error, (int)reason + 1, memory_order_relaxed);
}

/* Counts one attempt (or check) in the window and its duration in the
 * window's histogram. */
static void record_window(tg_provider_health_t *p, double now, bool failed, bool unavailable, uint64_t micros)
{
    uint64_t epoch = tg_window_epoch(now, TG_HEALTH_SLOT_SECONDS);
    tg_window_record(p->window, TG_HEALTH_SLOTS, epoch, failed, unavailable);
    tg_window_hist_record(p->durations, TG_HEALTH_SLOTS, epoch, micros);
}

void tg_health_report_attempt(const tg_health_view_t *v, size_t provider, bool ok,
                              tg_retry_reason_t reason, double seconds)
{
    tg_provider_health_t *p = provider_at(v, provider);
    if (p == NULL)
        return;
    /* A failure with an unknown reason still counts as an attempt. */
    bool failed = !ok && (unsigned)reason < TG_RETRY_REASON_COUNT;
    double now = tg_clock_seconds();
    uint64_t micros = seconds > 0 ? (uint64_t)(seconds * 1e6) : 0;
    record_window(p, now, failed, failed && reason != TG_RETRY_STATUS_429, micros);
    tg_anomaly_record(&p->anomaly, failed, micros);
    /* A failure may be quick (refused, 5xx at once): it may raise the
     * latency, never lower it, lest a failing provider look fast. */
    if (!failed || seconds > tg_peak_ewma_value(&p->latency, now))
        tg_peak_ewma_update(&p->latency, seconds, now);
    if (failed)
        set_last_error(p, reason, now);
}

double tg_health_peak_latency(const tg_health_view_t *v, size_t provider, double now)
{
    tg_provider_health_t *p = provider_at(v, provider);
    return p ? tg_peak_ewma_value(&p->latency, now) : 0;
}

/* A transition this thread made on breaker b (of `provider`, and of
 * `upstream_model` unless NULL): counted, and logged as one line. */
static void note_transition(const char *provider, const char *upstream_model, const tg_breaker_t *b,
                            _Atomic uint64_t (*transitions)[TG_BREAKER_STATE_COUNT], int last_error,
                            tg_breaker_change_t change, double now)
{
    if (change.from == change.to)
        return;
    atomic_fetch_add_explicit(&transitions[change.from][change.to], 1, memory_order_relaxed);
    tg_log_field_t fields[] = {
        {.key = "provider", .type = TG_LF_STR, .str = provider},
        {.key = "from", .type = TG_LF_STR, .str = tg_breaker_state_name(change.from)},
        {.key = "to", .type = TG_LF_STR, .str = tg_breaker_state_name(change.to)},
        {.key = "last_error", .type = TG_LF_STR,
         .str = last_error ? tg_retry_reason_name((tg_retry_reason_t)(last_error - 1)) : NULL},
        {.key = "cooldown_seconds", .type = TG_LF_DOUBLE, .d = tg_breaker_cooldown_left(b, now)},
        {.key = "upstream_model", .type = TG_LF_STR, .str = upstream_model},
    };
    static const char *const messages[] = {
        [TG_BREAKER_CLOSED] = "circuit breaker closed",
        [TG_BREAKER_OPEN] = "circuit breaker open",
        [TG_BREAKER_HALF_OPEN] = "circuit breaker half-open",
    };
    size_t n = sizeof(fields) / sizeof(fields[0]) - (upstream_model == NULL);
    tg_log_fields(change.to == TG_BREAKER_OPEN ? TG_LOG_WARN : TG_LOG_INFO, "health", messages[change.to], fields, n);
}

static void note_change(tg_provider_health_t *p, tg_breaker_change_t change, double now)
{
    note_transition(p->name, NULL, &p->breaker, p->transitions,
                    atomic_load_explicit(&p->last_error, memory_order_relaxed), change, now);
}

static void note_model_change(tg_model_breaker_health_t *b, tg_breaker_change_t change, double now)
{
    note_transition(b->provider, b->upstream_model, &b->breaker, b->transitions,
                    atomic_load_explicit(&b->last_error, memory_order_relaxed), change, now);
}

bool tg_health_admit(const tg_health_view_t *v, size_t provider, const tg_breaker_config_t *c, bool probe,
                     double now)
{
    tg_provider_health_t *p = provider_at(v, provider);
    if (p == NULL)
        return true;
    tg_breaker_change_t change;
    bool admitted = probe ? tg_breaker_admit_probe(&p->breaker, c, now, &change)
                          : tg_breaker_admit(&p->breaker, c, now, &change);
    note_change(p, change, now);
    return admitted;
}

bool tg_health_usable(const tg_health_view_t *v, size_t provider, const tg_breaker_config_t *c, double now)
{
    tg_provider_health_t *p = provider_at(v, provider);
    return p == NULL || tg_breaker_usable(&p->breaker, c, now);
}

void tg_health_breaker_report(const tg_health_view_t *v, size_t provider, const tg_breaker_config_t *c, bool ok,
                              tg_retry_reason_t reason, double started, double now)
{
    tg_provider_health_t *p = provider_at(v, provider);
    if (p == NULL || (!ok && reason == TG_RETRY_STATUS_429))
        return;
    tg_breaker_change_t change;
    tg_breaker_report(&p->breaker, c, ok, started, now, &change);
    note_change(p, change, now);
}

void tg_health_cool_down(const tg_health_view_t *v, size_t provider, const tg_breaker_config_t *c, double seconds,
                         double now)
{
    tg_provider_health_t *p = provider_at(v, provider);
    if (p != NULL)
        tg_breaker_cool_down(&p->breaker, c, seconds, now);
}

double tg_health_next_try(const tg_health_view_t *v, size_t provider, const tg_breaker_config_t *c, double now)
{
    tg_provider_health_t *p = provider_at(v, provider);
    return p != NULL ? tg_breaker_next_try(&p->breaker, c, now) : now;
}

/* ------------------------------------------------------ a route's breakers */

/* The route's own breaker and its settings, or NULL (and *c untouched). */
static tg_model_breaker_health_t *route_breaker(const tg_health_view_t *v, const tg_config_t *cfg,
                                                const tg_route_config_t *route, const tg_breaker_config_t **c)
{
    if (v == NULL || route->breaker < 0 || (size_t)route->breaker >= v->model_breaker_count ||
        (size_t)route->breaker >= cfg->model_breaker_count)
        return NULL;
    *c = &cfg->model_breakers[route->breaker].breaker;
    return v->model_breakers[route->breaker];
}

bool tg_health_route_admit(const tg_health_view_t *v, const tg_config_t *cfg, const tg_route_config_t *route,
                           bool probe, double now)
{
    const tg_breaker_config_t *pc = &cfg->providers[route->provider].breaker, *mc;
    tg_model_breaker_health_t *b = route_breaker(v, cfg, route, &mc);
    if (b == NULL)
        return tg_health_admit(v, route->provider, pc, probe, now);
    if (!tg_health_usable(v, route->provider, pc, now) &&
        !(probe && tg_health_admit(v, route->provider, pc, true, now)))
        return false;
    tg_breaker_change_t change;
    bool admitted = probe ? tg_breaker_admit_probe(&b->breaker, mc, now, &change)
                          : tg_breaker_admit(&b->breaker, mc, now, &change);
    note_model_change(b, change, now);
    return admitted;
}

bool tg_health_route_usable(const tg_health_view_t *v, const tg_config_t *cfg, const tg_route_config_t *route,
                            double now)
{
    const tg_breaker_config_t *mc;
    tg_model_breaker_health_t *b = route_breaker(v, cfg, route, &mc);
    return tg_health_usable(v, route->provider, &cfg->providers[route->provider].breaker, now) &&
           (b == NULL || tg_breaker_usable(&b->breaker, mc, now));
}

void tg_health_route_breaker_report(const tg_health_view_t *v, const tg_config_t *cfg,
                                    const tg_route_config_t *route, bool ok, tg_retry_reason_t reason, double started,
                                    double now)
{
    const tg_breaker_config_t *mc;
    tg_model_breaker_health_t *b = route_breaker(v, cfg, route, &mc);
    if (b == NULL || ok || reason == TG_RETRY_CONNECT)
        tg_health_breaker_report(v, route->provider, &cfg->providers[route->provider].breaker, ok, reason, started,
                                 now);
    if (b == NULL || (!ok && reason == TG_RETRY_STATUS_429))
        return;
    if (!ok && (unsigned)reason < TG_RETRY_REASON_COUNT)
        atomic_store_explicit(&b->last_error, (int)reason + 1, memory_order_relaxed);
    tg_breaker_change_t change;
    tg_breaker_report(&b->breaker, mc, ok, started, now, &change);
    note_model_change(b, change, now);
}

double tg_health_route_next_try(const tg_health_view_t *v, const tg_config_t *cfg, const tg_route_config_t *route,
                                double now)
{
    const tg_breaker_config_t *mc;
    tg_model_breaker_health_t *b = route_breaker(v, cfg, route, &mc);
    double at = tg_health_next_try(v, route->provider, &cfg->providers[route->provider].breaker, now);
    if (b != NULL) {
        double own = tg_breaker_next_try(&b->breaker, mc, now);
        at = own > at ? own : at;
    }
    return at;
}

/* ------------------------------------------------ active health checks */

bool tg_health_check_due(const tg_health_view_t *v, size_t provider, double now, double interval)
{
    tg_provider_health_t *p = provider_at(v, provider);
    if (p == NULL)
        return false;
    bool due = p->check_due != 0 && now >= p->check_due;
    if (due || p->check_due == 0)
        p->check_due = now + interval;
    return due;
}

bool tg_health_report_check(const tg_health_view_t *v, size_t provider, bool ok, tg_retry_reason_t reason,
                            double seconds, double now)
{
    tg_provider_health_t *p = provider_at(v, provider);
    if (p == NULL)
        return false;
    bool failed = !ok;
    /* In the window like an attempt, but not in the anomaly counters: a
     * check is not traffic, and its latency is not a completion's. */
    record_window(p, now, failed, failed && reason != TG_RETRY_STATUS_429,
                  seconds > 0 ? (uint64_t)(seconds * 1e6) : 0);
    if (!failed)
        atomic_store_explicit(&p->check_passed_at, now, memory_order_relaxed);
    else if ((unsigned)reason < TG_RETRY_REASON_COUNT)
        set_last_error(p, reason, now);
    return atomic_exchange_explicit(&p->check_failed, failed, memory_order_relaxed) != failed;
}

void tg_health_check_off(const tg_health_view_t *v, size_t provider)
{
    tg_provider_health_t *p = provider_at(v, provider);
    if (p == NULL)
        return;
    atomic_store_explicit(&p->check_failed, false, memory_order_relaxed);
    p->check_due = 0;
}

double tg_health_check_passed_at(const tg_health_view_t *v, size_t provider)
{
    tg_provider_health_t *p = provider_at(v, provider);
    return p ? atomic_load_explicit(&p->check_passed_at, memory_order_relaxed) : 0;
}

/* ---------------------------------------------------- anomaly detection */

void tg_health_detect_anomalies(const tg_health_view_t *v, const tg_anomaly_config_t *cfg, double now,
                                tg_health_anomaly_fn found, void *ctx)
{
    for (size_t i = 0; v && i < v->count; i++) {
        tg_provider_health_t *p = v->providers[i];
        tg_anomaly_t anomalies[TG_ANOMALY_TYPE_COUNT];
        size_t n = tg_anomaly_detect(&p->anomaly_state, &p->anomaly, cfg, now, anomalies);
        for (size_t k = 0; k < n && found; k++)
            found(ctx, p->name, &anomalies[k]);
    }
}

/* -------------------------------------------------------------- readers */

int tg_health_provider_status(const tg_health_view_t *v, size_t provider, tg_provider_status_t *out)
{
    tg_provider_health_t *p = provider_at(v, provider);
    if (p == NULL)
        return -1;
    out->name = p->name;
    out->healthy = atomic_load_explicit(&p->healthy, memory_order_relaxed);
    double now = tg_clock_seconds();
    out->breaker = tg_breaker_state(&p->breaker, now);
    out->breaker_since = tg_breaker_since(&p->breaker);
    double left = tg_breaker_cooldown_left(&p->breaker, now);
    out->next_probe_at = left > 0 ? now + left : 0;
    int last = atomic_load_explicit(&p->last_error, memory_order_relaxed);
    out->last_error = last ? tg_retry_reason_name((tg_retry_reason_t)(last - 1)) : NULL;
    out->last_error_at = last ? atomic_load_explicit(&p->last_error_at, memory_order_relaxed) : 0;
    return 0;
}

tg_health_ratios_t tg_health_provider_ratios(const tg_health_view_t *v, size_t provider, double now)
{
    tg_provider_health_t *p = provider_at(v, provider);
    tg_window_sum_t w = {0};
    double p95 = 0;
    if (p != NULL) {
        uint64_t epoch = tg_window_epoch(now, TG_HEALTH_SLOT_SECONDS);
        w = tg_window_totals(p->window, TG_HEALTH_SLOTS, epoch, TG_HEALTH_SLOTS);
        p95 = tg_window_hist_quantile(p->durations, TG_HEALTH_SLOTS, epoch, TG_HEALTH_SLOTS,
                                      TG_HEALTH_LATENCY_PERCENT);
    }
    return tg_health_ratios_of(&w, p95);
}

size_t tg_health_model_breaker_count(const tg_health_view_t *v)
{
    return v ? v->model_breaker_count : 0;
}

int tg_health_model_breaker_status(const tg_health_view_t *v, size_t i, tg_model_breaker_status_t *out)
{
    if (v == NULL || i >= v->model_breaker_count)
        return -1;
    tg_model_breaker_health_t *b = v->model_breakers[i];
    double now = tg_clock_seconds();
    out->provider = b->provider;
    out->upstream_model = b->upstream_model;
    out->breaker = tg_breaker_state(&b->breaker, now);
    out->breaker_since = tg_breaker_since(&b->breaker);
    double left = tg_breaker_cooldown_left(&b->breaker, now);
    out->next_probe_at = left > 0 ? now + left : 0;
    return 0;
}

uint64_t tg_health_model_breaker_transitions(const tg_health_view_t *v, size_t i, tg_breaker_state_t from,
                                             tg_breaker_state_t to)
{
    if (v == NULL || i >= v->model_breaker_count || (unsigned)from >= TG_BREAKER_STATE_COUNT ||
        (unsigned)to >= TG_BREAKER_STATE_COUNT)
        return 0;
    return atomic_load_explicit(&v->model_breakers[i]->transitions[from][to], memory_order_relaxed);
}

uint64_t tg_health_breaker_transitions(const tg_health_view_t *v, size_t provider, tg_breaker_state_t from,
                                       tg_breaker_state_t to)
{
    tg_provider_health_t *p = provider_at(v, provider);
    if (p == NULL || (unsigned)from >= TG_BREAKER_STATE_COUNT || (unsigned)to >= TG_BREAKER_STATE_COUNT)
        return 0;
    return atomic_load_explicit(&p->transitions[from][to], memory_order_relaxed);
}

/* ---------------------------------------------------------- evaluation */

void tg_health_evaluate(tg_health_t *health, double now, tg_health_change_fn changed, void *ctx)
{
    uint64_t epoch = tg_window_epoch(now, TG_HEALTH_SLOT_SECONDS);
    for (tg_provider_health_t *p = atomic_load_explicit(&health->providers, memory_order_acquire); p;
         p = p->next) {
        tg_window_sum_t last_minute = tg_window_totals(p->window, TG_HEALTH_SLOTS, epoch, TG_HEALTH_VERDICT_SLOTS);
        bool healthy = tg_health_verdict(&last_minute) &&
                       !atomic_load_explicit(&p->check_failed, memory_order_relaxed);
        if (atomic_exchange_explicit(&p->healthy, healthy, memory_order_relaxed) != healthy && changed)
            changed(ctx, p->name, healthy, &last_minute);
    }
}

void tg_health_breakers_tick(tg_health_t *health, double now)
{
    for (tg_provider_health_t *p = atomic_load_explicit(&health->providers, memory_order_acquire); p;
         p = p->next)
        note_change(p, tg_breaker_tick(&p->breaker, now, atomic_load_explicit(&p->check_passed_at, memory_order_relaxed)),
                    now);
    /* A provider's health check says nothing of one upstream model: these
     * wait out their cooldown. */
    for (tg_model_breaker_health_t *b = atomic_load_explicit(&health->model_breakers, memory_order_acquire); b;
         b = b->next)
        note_model_change(b, tg_breaker_tick(&b->breaker, now, 0), now);
}
