/*
 * endpoints.c - bodies of /metrics, /prometheus/metrics/{category},
 * /health and /ready, built from the tally registry and the current view.
 */
#include "obs/endpoints.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "obs/log.h"

#define JSON_TYPE "application/json"

static const char *const metric_categories[] = {
    "system", "providers", "models", "business", "performance",
};

static bool known_category(const char *category)
{
    for (size_t i = 0; i < sizeof(metric_categories) / sizeof(metric_categories[0]); i++)
        if (strcmp(category, metric_categories[i]) == 0)
            return true;
    return false;
}

static void set_static(tg_obs_response_t *out, int status, const char *content_type, const char *body)
{
    out->status = status;
    out->content_type = content_type;
    out->content_encoding = NULL;
    out->body_len = strlen(body);
    out->body = malloc(out->body_len + 1);
    if (out->body == NULL) {
        out->body_len = 0;
        return;
    }
    memcpy(out->body, body, out->body_len + 1);
}

/* Fills out with the JSON text of obj (stolen); -1 on failure. */
static int set_json(tg_obs_response_t *out, int status, json_t *obj)
{
    /* 9 significant digits: ratios and seconds without float noise. */
    char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(obj);
    if (text == NULL) {
        set_static(out, 500, JSON_TYPE, "{\"error\":\"out of memory\"}");
        return -1;
    }
    out->status = status;
    out->content_type = JSON_TYPE;
    out->content_encoding = NULL;
    out->body = text;
    out->body_len = strlen(text);
    return 0;
}

/* Bytes of an unknown category echoed in its 404: enough to recognise a
 * typo, and the message stays one short line. */
#define CATEGORY_ECHO_MAX 64

/* An error in OpenAI's shape (core/error.h builds every one). */
static int set_error(tg_obs_response_t *out, int status, tg_error_type_t type, tg_error_code_t code,
                     const char *message)
{
    tg_error_t e;
    tg_error_set(&e, status, type, code, message, NULL);
    char body[TG_ERROR_JSON_MAX];
    body[tg_error_json(body, sizeof(body) - 1, &e)] = '\0';
    set_static(out, status, JSON_TYPE, body);
    return out->body ? 0 : -1;
}

/* The 404 names what was asked for. category is client bytes, any of
 * them: the error builder's escaping turns invalid UTF-8 into U+FFFD, and
 * a cut is moved back to the start of the character it would split (a
 * UTF-8 character is at most 4 bytes), so the body is always valid JSON. */
static int not_found_category(tg_obs_response_t *out, const char *category)
{
    size_t len = strlen(category);
    bool cut = len > CATEGORY_ECHO_MAX;
    if (cut) {
        len = CATEGORY_ECHO_MAX;
        for (int back = 0; back < 3 && len > 0 && ((unsigned char)category[len] & 0xC0) == 0x80; back++)
            len--;
    }
    char message[CATEGORY_ECHO_MAX + 128];
    snprintf(message, sizeof(message),
             "unknown metrics category \"%.*s%s\"; valid: all, system, providers, models, business, "
             "performance, summary, docs", (int)len, category, cut ? "..." : "");
    return set_error(out, 404, TG_ERR_INVALID_REQUEST, TG_CODE_NOT_FOUND, message);
}

/* One family's section of the generated Markdown. */
static void docs_family(const char *name, tally_type type, const char *help, const char *unit,
                        const char *category, const char *const *labels, size_t label_count,
                        void *user)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram", "summary",
                                             "info", "stateset", "unknown"};
    FILE *md = user;
    fprintf(md, "## `%s%s`\n\n%s\n\n- type: %s\n- category: %s\n- labels:",
            name, type == TALLY_COUNTER ? "_total" : type == TALLY_INFO ? "_info" : "",
            help && help[0] ? help : "(no help)", type_names[type], category ? category : "default");
    for (size_t i = 0; i < label_count; i++)
        fprintf(md, "%s `%s`", i ? "," : "", labels[i]);
    fprintf(md, "%s\n\n```promql\n", label_count ? "" : " none");
    /* One typical query per type, grouped by the first label. */
    const char *by = label_count ? labels[0] : NULL;
    switch (type) {
    case TALLY_COUNTER:
        if (by)
            fprintf(md, "sum by (%s) (rate(%s_total[5m]))\n", by, name);
        else
            fprintf(md, "rate(%s_total[5m])\n", name);
        break;
    case TALLY_HISTOGRAM:
        if (by)
            fprintf(md, "histogram_quantile(0.95, sum by (le, %s) (rate(%s_bucket[5m])))\n", by, name);
        else
            fprintf(md, "histogram_quantile(0.95, sum by (le) (rate(%s_bucket[5m])))\n", name);
        break;
    case TALLY_SUMMARY:
        fprintf(md, "rate(%s_sum[5m]) / rate(%s_count[5m])\n", name, name);
        break;
    case TALLY_STATESET:
        fprintf(md, "%s == 1\n", name);
        break;
    default:
        fprintf(md, "%s%s\n", name, type == TALLY_INFO ? "_info" : "");
        break;
    }
    fputs("```\n\n", md);
}

/* /prometheus/metrics/docs: every registered family, from the live registry. */
static int render_docs(tg_obs_t *obs, tg_obs_response_t *out)
{
    char *text = NULL;
    size_t len = 0;
    FILE *md = open_memstream(&text, &len);
    if (md == NULL) {
        set_static(out, 500, "text/plain; charset=utf-8", "out of memory\n");
        return -1;
    }
    fputs("# tollgate metrics\n\nGenerated from the live registry. Categories select families on "
          "`/prometheus/metrics/{system,providers,models,business,performance}`.\n\n", md);
    tally_registry_visit(tg_obs_registry(obs), docs_family, md);
    if (fclose(md) != 0 || text == NULL) {
        free(text);
        set_static(out, 500, "text/plain; charset=utf-8", "out of memory\n");
        return -1;
    }
    out->status = 200;
    out->content_type = "text/markdown; charset=utf-8";
    out->content_encoding = NULL;
    out->body = text;
    out->body_len = len;
    return 0;
}

/* One family's statistics for the summary, gathered from its samples. The
 * name is copied: tally_gather's descriptions last only for the call. */
typedef struct family_stats {
    char name[512];   /* as in the text exposition; "" before the first family */
    const char *type;
    bool distribution;
    size_t series;
    double total;     /* counters and gauges: sum over series */
    double count;     /* histograms and summaries */
    double sum;
} family_stats_t;

typedef struct summary_state {
    json_t *families;
    family_stats_t f;
    json_t *series;   /* ?series=true: the family's series so far; else NULL */
} summary_state_t;

static void stats_to_json(json_t *families, const family_stats_t *f, json_t *series)
{
    if (f->name[0] == '\0')
        return;
    json_t *o;
    if (f->distribution)
        o = json_pack("{s:s, s:s, s:I, s:f, s:f, s:o}", "name", f->name, "type", f->type,
                      "series", (json_int_t)f->series, "count", f->count, "sum", f->sum,
                      "mean", f->count > 0 ? json_real(f->sum / f->count) : json_null());
    else
        o = json_pack("{s:s, s:s, s:I, s:f}", "name", f->name, "type", f->type,
                      "series", (json_int_t)f->series, "total", f->total);
    if (o != NULL && series != NULL)
        json_object_set(o, "samples", series);
    json_array_append_new(families, o);
}

/* ?series=true: one object per series of the family, by its labels: a
 * counter's or gauge's value, a histogram's count, sum and cumulative
 * buckets by le, a summary's count, sum and quantiles. Samples of one
 * series come together, so a series is the last object unless its labels
 * differ. */
static void series_sample(json_t *series, const tally_sample *s)
{
    bool bucket = strcmp(s->suffix, "_bucket") == 0;
    size_t own = s->label_count;
    const char *extra = own > 0 ? s->label_names[own - 1] : "";
    bool per_le = bucket || strcmp(extra, "quantile") == 0;
    if (per_le)
        own--;
    json_t *labels = json_object();
    for (size_t i = 0; labels != NULL && i < own; i++)
        json_object_set_new(labels, s->label_names[i], json_string(s->label_values[i]));
    json_t *last = json_array_get(series, json_array_size(series) - 1);
    if (last == NULL || !json_equal(json_object_get(last, "labels"), labels)) {
        last = json_pack("{s:O}", "labels", labels);
        json_array_append_new(series, last);
    }
    json_decref(labels);
    if (last == NULL)
        return;
    if (per_le) {
        const char *key = bucket ? "buckets" : "quantiles";
        json_t *map = json_object_get(last, key);
        if (map == NULL)
            json_object_set_new(last, key, map = json_object());
        json_object_set_new(map, s->label_values[own], json_real(s->value));
    } else {
        const char *key = strcmp(s->suffix, "_count") == 0 ? "count" : strcmp(s->suffix, "_sum") == 0 ? "sum" : "value";
        json_object_set_new(last, key, json_real(s->value));
    }
}

/* Ends the previous family and starts this one, named and typed as in the
 * text exposition, which Prometheus stores (a counter with _total, an info
 * with _info, info and stateset as gauges), so the summary names what a
 * query would. */
static void summary_family(const tally_desc *family, void *user)
{
    static const char *const type_words[] = {"counter", "gauge", "histogram", "summary",
                                             "gauge", "gauge", "untyped"};
    summary_state_t *st = user;
    stats_to_json(st->families, &st->f, st->series);
    memset(&st->f, 0, sizeof(st->f));
    if (st->series != NULL) {
        json_decref(st->series);
        st->series = json_array();
    }
    snprintf(st->f.name, sizeof(st->f.name), "%s%s", family->name,
             family->type == TALLY_COUNTER ? "_total" : family->type == TALLY_INFO ? "_info" : "");
    st->f.type = type_words[family->type];
    st->f.distribution = family->type == TALLY_HISTOGRAM || family->type == TALLY_SUMMARY;
}

/* A series is a distribution's _count or any other family's sample; NaN
 * values count for nothing (JSON has no NaN). */
static void summary_sample(const tally_desc *family, const tally_sample *s, void *user)
{
    summary_state_t *st = user;
    family_stats_t *f = &st->f;
    (void)family;
    if (isnan(s->value))
        return;
    if (st->series != NULL)
        series_sample(st->series, s);
    if (!f->distribution) {
        f->series++;
        f->total += s->value;
    } else if (strcmp(s->suffix, "_count") == 0) {
        f->series++;
        f->count += s->value;
    } else if (strcmp(s->suffix, "_sum") == 0) {
        f->sum += s->value;
    }
}

static int summary(tg_obs_t *obs, const char *category, bool series, tg_obs_response_t *out)
{
    memset(out, 0, sizeof(*out));
    if (category && strcmp(category, "all") == 0)
        category = NULL;
    if (category && !known_category(category))
        return not_found_category(out, category);
    summary_state_t st = {.families = json_array(), .series = series ? json_array() : NULL};
    if (st.families == NULL || (series && st.series == NULL) ||
        tally_gather(tg_obs_registry(obs), category, summary_family, summary_sample, &st) !=
            TALLY_OK) {
        json_decref(st.families);
        json_decref(st.series);
        set_static(out, 500, JSON_TYPE, "{\"error\":\"metrics rendering failed\"}");
        return -1;
    }
    stats_to_json(st.families, &st.f, st.series);
    json_decref(st.series);
    json_t *body = json_pack("{s:s, s:f, s:o}", "category", category ? category : "all",
                             "uptime_seconds", tg_obs_uptime_seconds(obs), "families", st.families);
    return set_json(out, 200, body);
}

int tg_obs_endpoint_summary(tg_obs_t *obs, const char *category, tg_obs_response_t *out)
{
    return summary(obs, category, false, out);
}

int tg_obs_endpoint_summary_series(tg_obs_t *obs, const char *category, tg_obs_response_t *out)
{
    return summary(obs, category, true, out);
}

int tg_obs_endpoint_metrics(tg_obs_t *obs, const char *category, const char *accept,
                         const char *accept_encoding, tg_obs_response_t *out)
{
    memset(out, 0, sizeof(*out));
    if (category && strcmp(category, "docs") == 0)
        return render_docs(obs, out);
    if (category && strcmp(category, "summary") == 0)
        return tg_obs_endpoint_summary(obs, NULL, out);
    if (category && strcmp(category, "all") == 0)
        category = NULL;
    if (category && !known_category(category))
        return not_found_category(out, category);
    tally_buf buf = {0};
    const char *content_type = NULL;
    const char *content_encoding = NULL;
    tally_err rc = tally_render_http(tg_obs_registry(obs), accept, accept_encoding, category, &buf,
                                     &content_type, &content_encoding);
    if (rc != TALLY_OK) {
        tally_buf_free(&buf);
        tg_log(TG_LOG_ERROR, "metrics", "rendering failed: %s", tally_strerror(rc));
        set_static(out, 500, "text/plain; charset=utf-8", "metrics rendering failed\n");
        return -1;
    }
    /* The body is copied so that tg_obs_response_t owns plain malloc'd memory
     * whatever tally_buf does inside; a scrape is not a hot path. */
    out->body = malloc(buf.len ? buf.len : 1);
    if (out->body == NULL) {
        tally_buf_free(&buf);
        set_static(out, 500, "text/plain; charset=utf-8", "out of memory\n");
        return -1;
    }
    if (buf.len)
        memcpy(out->body, buf.data, buf.len);
    out->body_len = buf.len;
    out->status = 200;
    out->content_type = content_type;
    out->content_encoding = content_encoding;
    tally_buf_free(&buf);
    return 0;
}

/* Below this health score a provider is "degraded" (seed 002 alerts on
 * provider_health_score < 0.7). */
#define DEGRADED_SCORE 0.7

static const char *provider_state_name(const tg_provider_status_t *st, double health_score)
{
    if (!st->healthy)
        return "unhealthy";
    return health_score < DEGRADED_SCORE ? "degraded" : "healthy";
}

/* The (provider, upstream model) breakers of `provider`, for /health. */
static json_t *model_breakers_of(const tg_health_view_t *health, const char *provider, double now)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < tg_health_model_breaker_count(health); i++) {
        tg_model_breaker_status_t st;
        if (tg_health_model_breaker_status(health, i, &st) != 0 || strcmp(st.provider, provider) != 0)
            continue;
        json_array_append_new(list, json_pack("{s:s, s:s, s:f, s:o}",
                                              "upstream_model", st.upstream_model,
                                              "circuit_breaker", tg_breaker_state_name(st.breaker),
                                              "circuit_breaker_age_seconds", now - st.breaker_since,
                                              "next_probe_in_seconds", st.next_probe_at > now
                                                  ? json_real(st.next_probe_at - now) : json_null()));
    }
    return list ? list : json_array();
}

/* The gateway's status from its providers': "ok" when every provider is
 * healthy, "unhealthy" when none is up, else "degraded". The answer stays
 * 200 whatever it says: /health is liveness, and restarting a gateway
 * whose providers fail cures nothing (/ready is for traffic). */
int tg_obs_endpoint_health(tg_obs_t *obs, const char *version, tg_obs_response_t *out)
{
    memset(out, 0, sizeof(*out));
    const tg_health_view_t *health = tg_obs_view_health(tg_obs_current_view(obs));
    double now = tg_clock_seconds();
    json_t *providers = json_array();
    size_t count = 0, healthy = 0, unhealthy = 0;
    for (size_t i = 0; providers && i < tg_health_provider_count(health); i++) {
        tg_provider_status_t st;
        if (tg_health_provider_status(health, i, &st) != 0)
            continue;
        tg_health_ratios_t r = tg_health_provider_ratios(health, i, now);
        double score = tg_health_score(&r);
        const char *state = provider_state_name(&st, score);
        count++;
        healthy += strcmp(state, "healthy") == 0;
        unhealthy += strcmp(state, "unhealthy") == 0;
        json_t *p = json_pack("{s:s, s:s, s:s, s:f, s:o, s:f, s:f, s:f, s:o, s:o, s:o}",
                              "name", st.name,
                              "state", state,
                              "circuit_breaker", tg_breaker_state_name(st.breaker),
                              "circuit_breaker_age_seconds", now - st.breaker_since,
                              "next_probe_in_seconds", st.next_probe_at > now
                                  ? json_real(st.next_probe_at - now) : json_null(),
                              "health_score", score,
                              "availability", r.availability,
                              "error_rate", r.error_rate,
                              "last_error", st.last_error ? json_string(st.last_error) : json_null(),
                              "last_error_age_seconds", st.last_error
                                  ? json_real(now - st.last_error_at) : json_null(),
                              "model_breakers", model_breakers_of(health, st.name, now));
        json_array_append_new(providers, p);
    }
    json_t *body = json_pack("{s:s, s:s, s:f, s:o}",
                             "status", healthy == count ? "ok" : unhealthy == count ? "unhealthy" : "degraded",
                             "version", version ? version : "unknown",
                             "uptime_seconds", tg_obs_uptime_seconds(obs),
                             "providers", providers ? providers : json_array());
    return set_json(out, 200, body);
}

int tg_obs_endpoint_ready(tg_obs_t *obs, bool accepting, tg_obs_response_t *out)
{
    memset(out, 0, sizeof(*out));
    bool ready = accepting && tg_obs_current_view(obs) != NULL;
    set_static(out, ready ? 200 : 503, JSON_TYPE,
               ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not_ready\"}");
    return out->body ? 0 : -1;
}

bool tg_obs_metrics_authorized(const tg_config_t *cfg, const char *authorization)
{
    const char *token = cfg ? cfg->metrics.bearer_token : NULL;
    if (token == NULL)
        return true;
    if (authorization == NULL || strncmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *given = authorization + 7;
    size_t given_len = strlen(given);
    size_t token_len = strlen(token);
    /* Constant time over the token, so the response time does not reveal
     * how many leading bytes were right. */
    unsigned char diff = given_len != token_len;
    for (size_t i = 0; i < token_len; i++)
        diff |= (unsigned char)(token[i] ^ (i < given_len ? given[i] : 0));
    return diff == 0;
}

int tg_obs_endpoint_unauthorized(tg_obs_response_t *out)
{
    memset(out, 0, sizeof(*out));
    return set_error(out, 401, TG_ERR_AUTHENTICATION, TG_CODE_INVALID_API_KEY,
                     "a valid bearer token is required for the metrics endpoints");
}

void tg_obs_response_free(tg_obs_response_t *out)
{
    if (out == NULL)
        return;
    free(out->body);
    out->body = NULL;
    out->body_len = 0;
}
