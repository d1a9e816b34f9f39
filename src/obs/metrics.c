/*
 * metrics.c - records the gateway's events into the catalog's children
 * (obs/catalog.c registers the families), through views bound to each
 * configuration snapshot.
 *
 * Hot-path rule: a record call loads child handles from arrays indexed by
 * enum values and config indices, then does tally's lock-free updates. A
 * child is made by the first event that needs it (lazy_child): that one
 * lookup takes the family's mutex inside tally, then the handle is kept.
 *
 * Provider state is health/'s (health/provider.h): the providers collector
 * reads its windows at scrape time, tg_obs_sync_provider_state copies its
 * flags into the provider state families. The rolling windows and scores
 * are health/'s too; label strings are core/words.h's.
 */
#include "obs/registry_state.h"

#include <stdlib.h>
#include <string.h>

void tg_obs_view_free(tg_obs_view_t *v)
{
    for (size_t i = 0; v->llm && i < v->provider_count * (v->model_count + 1); i++)
        free(atomic_load(&v->llm[i]));
    for (size_t i = 0; v->providers && i < v->provider_count; i++)
        free(v->providers[i].name);
    for (size_t i = 0; v->genai_first && v->genai_routes && i < v->genai_first[v->model_count]; i++) {
        free(v->genai_routes[i].response_model);
        free(atomic_load(&v->genai_routes[i].children));
    }
    free(v->genai_first);
    free(v->genai_routes);
    free(v->llm);
    free(v->fallbacks);
    free(v->rejected);
    free(v->providers);
    free(v->models);
    free(v->pricing);
    free(v);
}

/* ---------------------------------------------------------------- binding */

static model_state_t *model_state_for(tg_obs_t *obs, const char *name)
{
    for (model_state_t *m = obs->model_states; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    model_state_t *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->name = strdup(name)) == NULL) {
        free(m);
        return NULL;
    }
    m->next = obs->model_states;
    obs->model_states = m;
    return m;
}

/* The child of `fam` with these label values, made the first time and
 * kept in *slot: the first event pays one tally lookup (under its family's
 * mutex), every later one a load. Threads that race to make it get the same
 * child back from tally, so the slot needs no compare-and-swap. NULL only
 * when tally is out of memory (the event is then not recorded). */
static void *lazy_child(lazy_slot_t *slot, tally_family *fam, const char *const *labels)
{
    void *child = atomic_load_explicit(slot, memory_order_acquire);
    if (child != NULL)
        return child;
    switch (tally_family_type(fam)) {
    case TALLY_COUNTER: child = tally_counter_with(fam, labels); break;
    case TALLY_GAUGE: child = tally_gauge_with(fam, labels); break;
    case TALLY_HISTOGRAM: child = tally_histogram_with(fam, labels); break;
    case TALLY_SUMMARY: child = tally_summary_with(fam, labels); break;
    default: return NULL;
    }
    atomic_store_explicit(slot, child, memory_order_release);
    return child;
}

/* The children of a pair, allocated by its first call (a few hundred
 * bytes; no series yet). */
static llm_children_t *llm_children_get(const tg_obs_view_t *v, size_t provider, size_t model_slot)
{
    _Atomic(llm_children_t *) *slot = &v->llm[provider * (v->model_count + 1) + model_slot];
    llm_children_t *c = atomic_load_explicit(slot, memory_order_acquire);
    if (c)
        return c;
    llm_children_t *fresh = calloc(1, sizeof(*fresh));
    if (fresh == NULL)
        return NULL;
    fresh->provider = v->providers[provider].name;
    fresh->model = v->models[model_slot]->name;
    if (atomic_compare_exchange_strong(slot, &c, fresh))
        return fresh;
    free(fresh);  /* another thread's is in place */
    return c;
}

/* The provider state families of one provider, from health/'s status. */
static tally_err show_provider_state(tg_obs_t *obs, const view_provider_t *vp, const tg_provider_status_t *st)
{
    tally_gauge_set(vp->health_status, st->healthy ? 1 : 0);
    tally_gauge_set(vp->breaker_state, st->breaker);
    const char *labels[] = {vp->name};
    return tally_stateset_set(obs->fam[F_BREAKER_STATESET], labels, breaker_states[st->breaker]);
}

static bool bind_provider(tg_obs_t *obs, view_provider_t *vp, const tg_provider_config_t *p,
                          const tg_health_view_t *health, size_t index)
{
    const char *name = p->name;
    const char *l[] = {name};
    vp->type = p->type;
    if ((vp->name = strdup(name)) == NULL ||
        (vp->health_status = tally_gauge_with(obs->fam[F_PROVIDER_HEALTH], l)) == NULL ||
        (vp->breaker_state = tally_gauge_with(obs->fam[F_BREAKER_STATE], l)) == NULL)
        return false;
    /* Without health state (a test's NULL view) a provider is as new: healthy, closed. */
    tg_provider_status_t st;
    if (tg_health_provider_status(health, index, &st) != 0)
        st = (tg_provider_status_t){.name = name, .healthy = true, .breaker = TG_BREAKER_CLOSED};
    return show_provider_state(obs, vp, &st) == TALLY_OK;
}

/* metrics.genai: the labels of every configured route (their children
 * come with their first call). */
static bool bind_genai_routes(tg_obs_view_t *v, const tg_config_t *cfg)
{
    size_t routes = 0;
    for (size_t i = 0; i < cfg->model_count; i++)
        routes += cfg->models[i].route_count;
    v->genai_first = calloc(cfg->model_count + 1, sizeof(*v->genai_first));
    v->genai_routes = calloc(routes ? routes : 1, sizeof(*v->genai_routes));
    if (v->genai_first == NULL || v->genai_routes == NULL)
        return false; /* tg_obs_view_free frees what there is */
    v->genai_first[cfg->model_count] = routes;
    size_t n = 0;
    for (size_t i = 0; i < cfg->model_count; i++) {
        v->genai_first[i] = n;
        for (size_t j = 0; j < cfg->models[i].route_count; j++, n++) {
            v->genai_routes[n].provider = cfg->models[i].routes[j].provider;
            if ((v->genai_routes[n].response_model = strdup(cfg->models[i].routes[j].upstream_model)) == NULL)
                return false;
        }
    }
    return true;
}

static tg_obs_view_t *view_new(tg_obs_t *obs, const tg_config_t *cfg, const tg_health_view_t *health)
{
    tg_obs_view_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    v->obs = obs;
    v->health = health;
    v->provider_count = cfg->provider_count;
    v->model_count = cfg->model_count;
    size_t slots = cfg->model_count + 1;
    v->providers = calloc(cfg->provider_count ? cfg->provider_count : 1, sizeof(*v->providers));
    v->models = calloc(slots, sizeof(*v->models));
    v->pricing = calloc(slots, sizeof(*v->pricing));
    v->llm = calloc(cfg->provider_count * slots + 1, sizeof(*v->llm));
    v->fallbacks = calloc(cfg->provider_count * cfg->provider_count + 1, sizeof(*v->fallbacks));
    v->rejected = calloc(slots, sizeof(*v->rejected));
    if (!v->providers || !v->models || !v->pricing || !v->llm || !v->fallbacks || !v->rejected)
        goto fail;
    for (size_t i = 0; i < cfg->provider_count; i++)
        if (!bind_provider(obs, &v->providers[i], &cfg->providers[i], health, i))
            goto fail;
    for (size_t i = 0; i < slots; i++) {
        v->models[i] = model_state_for(obs, i < cfg->model_count ? cfg->models[i].name : "other");
        if (v->models[i] == NULL)
            goto fail;
        if (i < cfg->model_count)
            v->pricing[i] = cfg->models[i].pricing;
    }
    if (cfg->metrics.genai && !bind_genai_routes(v, cfg))
        goto fail;
    return v;
fail:
    tg_obs_view_free(v);
    return NULL;
}

/* Whether v has cfg's GenAI labels: metrics.genai alike and, when on, the
 * same routes to providers of the same types. */
static bool genai_matches(const tg_obs_view_t *v, const tg_config_t *cfg)
{
    if ((v->genai_first != NULL) != cfg->metrics.genai)
        return false;
    for (size_t i = 0; v->genai_first && i < cfg->provider_count; i++)
        if (v->providers[i].type != cfg->providers[i].type)
            return false;
    for (size_t i = 0; v->genai_first && i < cfg->model_count; i++) {
        const tg_model_config_t *m = &cfg->models[i];
        if (v->genai_first[i + 1] - v->genai_first[i] != m->route_count)
            return false;
        for (size_t j = 0; j < m->route_count; j++) {
            const genai_route_t *g = &v->genai_routes[v->genai_first[i] + j];
            if (g->provider != m->routes[j].provider || strcmp(g->response_model, m->routes[j].upstream_model) != 0)
                return false;
        }
    }
    return true;
}

/* Whether v serves cfg: a view depends only on the provider and model
 * names, in order, the prices (every child is made on first use), the
 * health view (one per list of provider and (provider, upstream model)
 * breaker names) and, with metrics.genai, the routes (genai_matches). */
static bool view_matches(const tg_obs_view_t *v, const tg_config_t *cfg, const tg_health_view_t *health)
{
    if (v->health != health || v->provider_count != cfg->provider_count || v->model_count != cfg->model_count ||
        !genai_matches(v, cfg))
        return false;
    for (size_t i = 0; i < cfg->provider_count; i++)
        if (strcmp(v->providers[i].name, cfg->providers[i].name) != 0)
            return false;
    for (size_t i = 0; i < cfg->model_count; i++) {
        const tg_pricing_t *a = &v->pricing[i], *b = &cfg->models[i].pricing;
        if (strcmp(v->models[i]->name, cfg->models[i].name) != 0 || a->input != b->input ||
            a->cached_input != b->cached_input || a->output != b->output)
            return false;
    }
    return true;
}

const tg_obs_view_t *tg_obs_bind(tg_obs_t *obs, const tg_config_t *cfg, const tg_health_view_t *health)
{
    pthread_mutex_lock(&obs->bind_lock);
    /* Views are never freed (snapshots and requests hold them uncounted), so
     * a reload reuses a view bound to the same names and prices, as most
     * reloads are (timeouts, retries, URLs, keys): memory grows only with
     * the distinct provider/model/price sets ever loaded. A view found again
     * has the same health view: health/ keeps one view per list of names. */
    tg_obs_view_t *v = obs->views;
    while (v != NULL && !view_matches(v, cfg, health))
        v = v->older;
    if (v == NULL) {
        if ((v = view_new(obs, cfg, health)) != NULL) {
            v->older = obs->views;
            obs->views = v;
        }
    }
    if (v)
        atomic_store(&obs->current, v);
    pthread_mutex_unlock(&obs->bind_lock);
    return v;
}

/* ------------------------------------------------------------ recording */

/* At most one exemplar per child per second: recording one takes tally's
 * per-child spinlock, which the other observations in that second skip. */
static bool exemplar_due(_Atomic int64_t *last_second)
{
    int64_t now = (int64_t)tg_clock_seconds();
    int64_t seen = atomic_load_explicit(last_second, memory_order_relaxed);
    return seen != now && atomic_compare_exchange_strong(last_second, &seen, now);
}

static void observe_traced(tally_histogram *h, double v, const char *trace_id,
                           _Atomic int64_t *last_second)
{
    if (trace_id && trace_id[0] && exemplar_due(last_second)) {
        static const char *const names[] = {"trace_id"};
        const char *values[] = {trace_id};
        tally_exemplar ex = {.label_names = names, .label_values = values, .label_count = 1};
        if (tally_histogram_observe_exemplar(h, v, &ex) == TALLY_OK)
            return;
    }
    tally_histogram_observe(h, v);
}

static int status_slot(int status)
{
    for (size_t i = 0; i < STATUS_SLOTS; i++)
        if (cached_statuses[i] == status)
            return (int)i;
    return -1;
}

/* The counter of one (route, method, status); cached for common statuses. */
static tally_counter *http_counter(tg_obs_t *obs, tg_route_t route, tg_method_t method, int status)
{
    int slot = status_slot(status);
    _Atomic(tally_counter *) *cache = slot >= 0 ? &obs->http_requests[route][method][slot] : NULL;
    tally_counter *c = cache ? atomic_load_explicit(cache, memory_order_acquire) : NULL;
    if (c)
        return c;
    /* First use, or an unusual status: a hashed lookup (tally takes the
     * family mutex only when it creates the child). */
    char status_text[12];
    snprintf(status_text, sizeof(status_text), "%d", status);
    const char *labels[] = {tg_method_name(method), tg_route_template(route), status_text};
    c = tally_counter_with(obs->fam[F_HTTP_REQUESTS], labels);
    if (cache)
        atomic_store_explicit(cache, c, memory_order_release);
    return c;
}

static tally_histogram *http_histogram(tg_obs_t *obs, tg_route_t route, tg_method_t method)
{
    _Atomic(tally_histogram *) *cache = &obs->http_duration[route][method];
    tally_histogram *h = atomic_load_explicit(cache, memory_order_acquire);
    if (h == NULL) {
        const char *labels[] = {tg_method_name(method), tg_route_template(route)};
        h = tally_histogram_with(obs->fam[F_HTTP_DURATION], labels);
        atomic_store_explicit(cache, h, memory_order_release);
    }
    return h;
}

static tally_gauge *http_gauge(tg_obs_t *obs, tg_route_t route, tg_method_t method)
{
    _Atomic(tally_gauge *) *cache = &obs->http_in_progress[route][method];
    tally_gauge *g = atomic_load_explicit(cache, memory_order_acquire);
    if (g == NULL) {
        const char *labels[] = {tg_method_name(method), tg_route_template(route)};
        g = tally_gauge_with(obs->fam[F_HTTP_IN_PROGRESS], labels);
        atomic_store_explicit(cache, g, memory_order_release);
    }
    return g;
}

void tg_obs_record_http(const tg_obs_view_t *v, tg_route_t route, tg_method_t method,
                     int status, double seconds, const char *trace_id)
{
    if (v == NULL || (unsigned)route >= TG_ROUTE_COUNT || (unsigned)method >= TG_METHOD_COUNT)
        return;
    tally_counter *c = http_counter(v->obs, route, method, status);
    if (c)
        tally_counter_inc(c);
    tally_histogram *h = http_histogram(v->obs, route, method);
    if (h)
        observe_traced(h, seconds, trace_id, &v->obs->http_exemplar_second[route][method]);
}

void tg_obs_http_in_progress(const tg_obs_view_t *v, tg_route_t route, tg_method_t method, int delta)
{
    if (v == NULL || (unsigned)route >= TG_ROUTE_COUNT || (unsigned)method >= TG_METHOD_COUNT)
        return;
    tally_gauge *g = http_gauge(v->obs, route, method);
    if (g)
        tally_gauge_add(g, delta);
}

/* The struct in *slot, allocated (zeroed) by the first call that needs
 * it: a model's windows, a route's GenAI children. NULL when out of memory. */
static void *lazy_calloc(lazy_slot_t *slot, size_t size)
{
    void *p = atomic_load_explicit(slot, memory_order_acquire);
    if (p != NULL)
        return p;
    void *fresh = calloc(1, size);
    if (fresh == NULL)
        return NULL;
    if (atomic_compare_exchange_strong(slot, &p, fresh))
        return fresh;
    free(fresh); /* another thread's is in place */
    return p;
}

/* metrics.genai: the call in the three OpenTelemetry GenAI families, on
 * the route that answered (or was tried last). Every call has a duration
 * (error_type: its status unless it succeeded); tokens are observed per
 * type the call has any of (the numbers llm_tokens_total adds); a time to
 * first token only for a successful stream, as the conventions define it. */
static void record_genai(const tg_obs_view_t *v, const tg_obs_llm_result_t *r)
{
    if (v->genai_first == NULL || r->model < 0 || r->route < 0 ||
        (size_t)r->route >= v->genai_first[r->model + 1] - v->genai_first[r->model])
        return;
    genai_route_t *g = &v->genai_routes[v->genai_first[r->model] + (size_t)r->route];
    genai_children_t *c = g->provider == r->provider ? lazy_calloc(&g->children, sizeof(*c)) : NULL;
    if (c == NULL)
        return;
    tally_family *const *fam = v->obs->fam;
    const char *labels[] = {tg_operation_genai_name(r->operation), tg_provider_type_name(v->providers[g->provider].type),
                            v->models[r->model]->name, g->response_model,
                            r->status == TG_LLM_SUCCESS ? "" : tg_llm_status_name(r->status)};
    tally_histogram_observe(lazy_child(&c->duration[r->operation][r->status], fam[F_GENAI_DURATION], labels),
                            r->duration_seconds);
    if (r->ttft_seconds >= 0 && r->status == TG_LLM_SUCCESS) /* its family takes the first four labels */
        tally_histogram_observe(lazy_child(&c->ttft[r->operation], fam[F_GENAI_TTFT], labels), r->ttft_seconds);
    const uint64_t tokens[GENAI_TOKEN_TYPE_COUNT] = {[GENAI_INPUT] = r->prompt_tokens,
                                                     [GENAI_OUTPUT] = r->completion_tokens};
    for (int t = 0; t < GENAI_TOKEN_TYPE_COUNT; t++) {
        if (tokens[t] == 0)
            continue;
        labels[4] = genai_token_types[t];
        tally_histogram_observe(lazy_child(&c->tokens[r->operation][t], fam[F_GENAI_TOKEN_USAGE], labels),
                                (double)tokens[t]);
    }
}

void tg_obs_record_llm(const tg_obs_view_t *v, const tg_obs_llm_result_t *r)
{
    if (v == NULL || r == NULL || r->provider >= v->provider_count ||
        r->model >= (long)v->model_count || (unsigned)r->operation >= TG_OP_COUNT ||
        (unsigned)r->stream_mode >= TG_STREAM_MODE_COUNT ||
        (unsigned)r->status >= TG_LLM_STATUS_COUNT)
        return;
    size_t model_slot = r->model < 0 ? v->model_count : (size_t)r->model;
    llm_children_t *c = llm_children_get(v, r->provider, model_slot);
    if (c == NULL)
        return;
    /* Updates on a NULL handle (tally out of memory) do nothing. */
    tally_family *const *fam = v->obs->fam;
    const char *op = tg_operation_name(r->operation), *mode = tg_stream_mode_name(r->stream_mode);
    const char *request_labels[] = {c->provider, c->model, op, mode, tg_llm_status_name(r->status)};
    tally_counter_inc(lazy_child(&c->requests[r->operation][r->stream_mode][r->status], fam[F_LLM_REQUESTS],
                                 request_labels));
    const char *duration_labels[] = {c->provider, c->model, op, mode};
    observe_traced(lazy_child(&c->duration[r->operation][r->stream_mode], fam[F_LLM_DURATION], duration_labels),
                   r->duration_seconds, r->trace_id, &c->last_exemplar_second);
    const char *pair[] = {c->provider, c->model};
    if (r->ttft_seconds >= 0)
        tally_histogram_observe(lazy_child(&c->ttft, fam[F_LLM_TTFT], pair), r->ttft_seconds);
    const uint64_t tokens[TOKEN_TYPE_COUNT] = {
        [TOKENS_PROMPT] = r->prompt_tokens, [TOKENS_COMPLETION] = r->completion_tokens,
        [TOKENS_CACHED] = r->cached_prompt_tokens, [TOKENS_REASONING] = r->reasoning_tokens,
        [TOKENS_CACHE_WRITE] = r->cache_write_tokens,
    };
    for (int t = 0; t < TOKEN_TYPE_COUNT; t++) {
        if (tokens[t] == 0)
            continue; /* a token type a provider never reports gets no series */
        const char *token_labels[] = {c->provider, c->model, token_types[t]};
        tally_counter_add_int(lazy_child(&c->tokens[t], fam[F_LLM_TOKENS], token_labels), tokens[t]);
    }
    double cost = r->cost_dollars >= 0
                      ? r->cost_dollars
                      : tg_pricing_cost(&v->pricing[model_slot], r->prompt_tokens,
                                        r->cached_prompt_tokens, r->completion_tokens);
    /* A failed call that used no tokens cost nothing; observing its zero
     * would only drag the cost quantiles down. */
    if (r->status == TG_LLM_SUCCESS || r->prompt_tokens || r->completion_tokens)
        tally_summary_observe(lazy_child(&c->cost, fam[F_LLM_COST], pair), cost);
    record_genai(v, r);

    model_windows_t *w = lazy_calloc(&v->models[model_slot]->windows, sizeof(*w));
    if (w == NULL)
        return;
    uint64_t epoch = tg_window_epoch(tg_clock_seconds(), TG_UPTIME_SLOT_SECONDS);
    if (r->status != TG_LLM_CLIENT_DISCONNECT)
        tg_window_record(w->uptime, TG_UPTIME_SLOTS, epoch, r->status != TG_LLM_SUCCESS, false);
    if (r->prompt_tokens || r->completion_tokens)
        tg_token_window_record(w->tokens, TG_UPTIME_SLOTS, epoch, r->prompt_tokens, r->completion_tokens);
}

void tg_obs_record_attempt(const tg_obs_view_t *v, size_t provider, double seconds)
{
    if (v == NULL || provider >= v->provider_count)
        return;
    view_provider_t *vp = &v->providers[provider];
    const char *labels[] = {vp->name};
    tally_histogram_observe(lazy_child(&vp->response_time, v->obs->fam[F_PROVIDER_RESPONSE_TIME], labels), seconds);
}

void tg_obs_record_retry(const tg_obs_view_t *v, size_t provider, tg_retry_reason_t reason)
{
    if (v == NULL || provider >= v->provider_count || (unsigned)reason >= TG_RETRY_REASON_COUNT)
        return;
    view_provider_t *vp = &v->providers[provider];
    const char *labels[] = {vp->name, tg_retry_reason_name(reason)};
    tally_counter_inc(lazy_child(&vp->retries[reason], v->obs->fam[F_LLM_RETRIES], labels));
}

void tg_obs_record_fallback(const tg_obs_view_t *v, size_t from_provider, size_t to_provider)
{
    if (v == NULL || from_provider >= v->provider_count || to_provider >= v->provider_count)
        return;
    _Atomic(tally_counter *) *cache = &v->fallbacks[from_provider * v->provider_count + to_provider];
    tally_counter *c = atomic_load_explicit(cache, memory_order_acquire);
    if (c == NULL) {
        /* First fallback between these two: a hashed lookup, then cached. */
        const char *labels[] = {v->providers[from_provider].name, v->providers[to_provider].name};
        c = tally_counter_with(v->obs->fam[F_LLM_FALLBACKS], labels);
        atomic_store_explicit(cache, c, memory_order_release);
    }
    if (c)
        tally_counter_inc(c);
}

void tg_obs_record_unroutable(const tg_obs_view_t *v, long model)
{
    if (v == NULL || model < 0 || model >= (long)v->model_count)
        return;
    const char *labels[] = {v->models[model]->name};
    tally_counter_inc(lazy_child(&v->rejected[model], v->obs->fam[F_BREAKER_REJECTED], labels));
}

void tg_obs_record_error(const tg_obs_view_t *v, tg_error_type_t type, tg_error_code_t code,
                      tg_route_t route)
{
    if (v == NULL || (unsigned)type >= TG_ERR_TYPE_COUNT || (unsigned)code >= TG_ERR_CODE_COUNT ||
        (unsigned)route >= TG_ROUTE_COUNT)
        return;
    _Atomic(tally_counter *) *cache = &v->obs->api_errors[type][code][route];
    tally_counter *c = atomic_load_explicit(cache, memory_order_acquire);
    if (c == NULL) {
        const char *labels[] = {tg_error_type_name(type), tg_error_code_name(code),
                                tg_route_template(route)};
        c = tally_counter_with(v->obs->fam[F_API_ERRORS], labels);
        atomic_store_explicit(cache, c, memory_order_release);
    }
    if (c)
        tally_counter_inc(c);
}

void tg_obs_sync_provider_state(tg_obs_t *obs)
{
    tg_obs_view_t *v = atomic_load(&obs->current);
    for (size_t i = 0; v && i < v->provider_count; i++) {
        tg_provider_status_t st;
        if (tg_health_provider_status(v->health, i, &st) == 0)
            show_provider_state(obs, &v->providers[i], &st);
    }
}

void tg_obs_record_anomaly(tg_obs_t *obs, tg_anomaly_type_t type)
{
    if ((unsigned)type >= TG_ANOMALY_TYPE_COUNT)
        return;
    const char *labels[] = {tg_anomaly_type_name(type)};
    tally_counter *c = tally_counter_with(obs->fam[F_ANOMALIES], labels);
    if (c)
        tally_counter_inc(c);
}

void tg_obs_record_housekeeping(tg_obs_t *obs, const char *task, double seconds)
{
    const char *labels[] = {task};
    tally_histogram *h = tally_histogram_with(obs->fam[F_HOUSEKEEPING], labels);
    if (h)
        tally_histogram_observe(h, seconds);
}

