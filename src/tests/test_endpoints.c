/*
 * test_endpoints.c - /metrics (formats, gzip, categories, unknown category
 * named in valid JSON whatever its bytes),
 * /health JSON, /ready and the metrics bearer token check.
 */
#define _GNU_SOURCE  /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "health/provider.h"
#include "core/clock.h"
#include "obs/endpoints.h"

#include "tests/yaml_fixture.h"
static tg_config_t *cfg;
static tg_obs_t *obs;
static tg_health_t *health;

static int setup(void **state)
{
    if (yaml_setup(state) != 0)
        return -1;
    cfg = load_yaml("metrics: { bearer_token: s3cret }\n"
                    "providers:\n"
                    "  - { name: up, base_url: \"http://127.0.0.1:9\" }\n"
                    "  - { name: down, base_url: \"http://127.0.0.1:9\" }\n"
                    "models:\n"
                    "  - { name: m, routes: [ { provider: up }, { provider: down } ] }\n");
    tg_obs_opts_t o = {.metric_namespace = "gw", .version = "0.1.0"};
    obs = tg_obs_new(&o, NULL);
    health = tg_health_new();
    return cfg && obs && health ? 0 : -1;
}

static int teardown(void **state)
{
    tg_obs_free(obs);
    tg_health_free(health);
    tg_config_free(cfg);
    return yaml_teardown(state);
}

static char *body_text(const tg_obs_response_t *r)
{
    return strndup(r->body, r->body_len);
}

static void test_ready_before_and_after_bind(void **state)
{
    tg_obs_response_t r;
    assert_int_equal(tg_obs_endpoint_ready(obs, true, &r), 0);
    assert_int_equal(r.status, 503);
    tg_obs_response_free(&r);
    assert_non_null(tg_obs_bind(obs, cfg, tg_health_bind(health, cfg)));
    assert_int_equal(tg_obs_endpoint_ready(obs, true, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    char *body = body_text(&r);
    assert_string_equal(body, "{\"status\":\"ready\"}");
    free(body);
    tg_obs_response_free(&r);
    /* Draining (SIGTERM): not ready any more. */
    assert_int_equal(tg_obs_endpoint_ready(obs, false, &r), 0);
    assert_int_equal(r.status, 503);
    tg_obs_response_free(&r);
}

static void test_metrics_text_openmetrics_gzip(void **state)
{
    const tg_obs_view_t *v = tg_obs_current_view(obs);
    tg_obs_record_http(v, TG_ROUTE_METRICS, TG_METHOD_GET, 200, 0.003, NULL);
    tg_obs_response_t r;
    assert_int_equal(tg_obs_endpoint_metrics(obs, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_null(r.content_encoding);
    char *text = body_text(&r);
    assert_non_null(strstr(text, "gw_http_requests_total{method=\"GET\",path=\"/metrics\",status=\"200\"} 1\n"));
    assert_null(strstr(text, "# EOF"));
    tg_obs_response_free(&r);

    assert_int_equal(tg_obs_endpoint_metrics(obs, "all", "application/openmetrics-text; version=1.0.0",
                                          NULL, &r), 0);
    assert_string_equal(r.content_type,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8");
    char *om = body_text(&r);
    assert_non_null(strstr(om, "\n# EOF\n"));
    assert_non_null(strstr(om, "# TYPE gw_provider_circuit_breaker stateset\n"));
    tg_obs_response_free(&r);
    free(om);

    assert_int_equal(tg_obs_endpoint_metrics(obs, NULL, NULL, "br;q=1, gzip;q=0.5", &r), 0);
    assert_string_equal(r.content_encoding, "gzip");
    /* Decompresses to the same families as the plain body. */
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    size_t cap = 1 << 20;
    unsigned char *plain = malloc(cap);
    z.next_in = (unsigned char *)r.body;
    z.avail_in = (unsigned)r.body_len;
    z.next_out = plain;
    z.avail_out = (unsigned)cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    size_t plain_len = cap - z.avail_out;
    inflateEnd(&z);
    assert_true(plain_len > 1000);
    assert_non_null(memmem(plain, plain_len, "gw_http_requests_total{method=\"GET\",path=\"/metrics\",status=\"200\"} 1\n",
                           strlen("gw_http_requests_total{method=\"GET\",path=\"/metrics\",status=\"200\"} 1\n")));
    free(plain);
    free(text);
    tg_obs_response_free(&r);
}

static void test_metrics_categories(void **state)
{
    static const struct { const char *category; const char *has; const char *lacks; } cases[] = {
        {"system", "# TYPE gw_http_requests_total counter", "gw_llm_requests_total"},
        {"system", "# TYPE process_open_fds gauge", "gw_provider_health_score"},
        {"providers", "# TYPE gw_provider_health_score gauge", "gw_http_requests_total"},
        {"models", "# TYPE gw_llm_requests_total counter", "gw_provider_health_score"},
        {"business", "# TYPE gw_llm_cost_dollars summary", "gw_llm_requests_total"},
        {"performance", "# TYPE gw_db_connections_active gauge", "gw_llm_cost_dollars"},
    };
    /* LLM families have series once a call happened. */
    tg_obs_llm_result_t call = {.provider = 0, .model = 0, .status = TG_LLM_SUCCESS, .prompt_tokens = 1,
                           .ttft_seconds = -1, .cost_dollars = -1};
    tg_obs_record_llm(tg_obs_current_view(obs), &call);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tg_obs_response_t r;
        assert_int_equal(tg_obs_endpoint_metrics(obs, cases[i].category, NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        char *text = body_text(&r);
        if (strstr(text, cases[i].has) == NULL || strstr(text, cases[i].lacks) != NULL)
            fail_msg("category %s: wants \"%s\", not \"%s\"", cases[i].category, cases[i].has,
                     cases[i].lacks);
        free(text);
        tg_obs_response_free(&r);
    }

    tg_obs_response_t r;
    assert_int_equal(tg_obs_endpoint_metrics(obs, "bogus\"", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    json_t *o = json_loadb(r.body, r.body_len, 0, NULL);
    assert_non_null(o);
    json_t *err = json_object_get(o, "error");
    assert_string_equal(json_string_value(json_object_get(err, "type")), "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "not_found");
    assert_true(json_is_null(json_object_get(err, "param")));
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "bogus\""));
    json_decref(o);
    tg_obs_response_free(&r);
}

/* The 404 of an unknown category echoes it as valid JSON (jansson's
 * loader rejects invalid UTF-8): bad bytes as U+FFFD, a cut at 64 bytes
 * never inside a character. */
static void test_unknown_category_echo(void **state)
{
    char cut2[80], cut4[80], exact[80];
    memset(cut2, 'a', 63);
    strcpy(cut2 + 63, "\xc3\xa9");           /* é over bytes 63-64 */
    memset(cut4, 'b', 62);
    strcpy(cut4 + 62, "\xf0\x9f\x98\x80z");  /* U+1F600 over bytes 62-65 */
    memset(exact, 'c', 62);
    strcpy(exact + 62, "\xc3\xa9");          /* exactly 64 bytes: no cut */
    char want_cut2[96], want_cut4[96], want_exact[96];
    snprintf(want_cut2, sizeof(want_cut2), "\"%.63s...\";", cut2);
    snprintf(want_cut4, sizeof(want_cut4), "\"%.62s...\";", cut4);
    snprintf(want_exact, sizeof(want_exact), "\"%s\";", exact);
    static const char bad[] = "x\xff\xc3(\x80";
    const struct { const char *category; const char *shown; } cases[] = {
        {bad, "\"x\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\";"},
        {cut2, want_cut2},
        {cut4, want_cut4},
        {exact, want_exact},
        {"q\"\\\n", "\"q\"\\\n\";"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tg_obs_response_t r;
        assert_int_equal(tg_obs_endpoint_summary(obs, cases[i].category, &r), 0);
        assert_int_equal(r.status, 404);
        json_error_t jerr;
        json_t *o = json_loadb(r.body, r.body_len, 0, &jerr);
        if (o == NULL)
            fail_msg("case %zu: %s in %.*s", i, jerr.text, (int)r.body_len, r.body);
        json_t *err = json_object_get(o, "error");
        assert_string_equal(json_string_value(json_object_get(err, "code")), "not_found");
        const char *message = json_string_value(json_object_get(err, "message"));
        if (strstr(message, cases[i].shown) == NULL)
            fail_msg("case %zu: %s lacks %s", i, message, cases[i].shown);
        json_decref(o);
        tg_obs_response_free(&r);
    }
}

static void test_docs(void **state)
{
    const char *category = NULL;
    assert_int_equal(tg_route_from_path("/prometheus/metrics/docs", 24, &category),
                     TG_ROUTE_PROM_CATEGORY);
    assert_string_equal(category, "docs");
    tg_obs_response_t r;
    assert_int_equal(tg_obs_endpoint_metrics(obs, category, NULL, "gzip", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/markdown; charset=utf-8");
    assert_null(r.content_encoding);
    char *md = body_text(&r);
    assert_non_null(strstr(md, "## `gw_llm_requests_total`\n\nLLM calls as the client saw them, "
                               "after retries and fallback.\n\n- type: counter\n- category: models\n"
                               "- labels: `provider`, `model`, `operation`, `stream_mode`, `status`\n\n"
                               "```promql\nsum by (provider) (rate(gw_llm_requests_total[5m]))\n```\n"));
    assert_non_null(strstr(md, "histogram_quantile(0.95, sum by (le, provider) "
                               "(rate(gw_llm_ttft_seconds_bucket[5m])))"));
    assert_non_null(strstr(md, "## `gw_uptime_seconds`"));
    assert_non_null(strstr(md, "## `process_cpu_seconds_total`"));
    free(md);
    tg_obs_response_free(&r);
}

static json_t *find_family(json_t *families, const char *name)
{
    for (size_t i = 0; i < json_array_size(families); i++) {
        json_t *f = json_array_get(families, i);
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
            return f;
    }
    fail_msg("family %s not in summary", name);
    return NULL;
}

static void test_summary(void **state)
{
    tg_obs_opts_t o = {.metric_namespace = "sm", .version = "0.1.0"};
    tg_obs_t *own = tg_obs_new(&o, NULL);
    const tg_obs_view_t *v = tg_obs_bind(own, cfg, NULL);
    tg_obs_record_http(v, TG_ROUTE_CHAT, TG_METHOD_POST, 200, 0.5, NULL);
    tg_obs_record_http(v, TG_ROUTE_CHAT, TG_METHOD_POST, 502, 1.5, NULL);
    tg_obs_llm_result_t r = {.provider = 0, .model = 0, .status = TG_LLM_SUCCESS,
                        .duration_seconds = 1, .prompt_tokens = 10, .completion_tokens = 5,
                        .cost_dollars = 0.5, .ttft_seconds = -1};
    tg_obs_record_llm(v, &r);
    tg_obs_response_t resp;
    assert_int_equal(tg_obs_endpoint_summary(own, NULL, &resp), 0);
    assert_int_equal(resp.status, 200);
    json_t *o2 = json_loadb(resp.body, resp.body_len, 0, NULL);
    assert_non_null(o2);
    assert_string_equal(json_string_value(json_object_get(o2, "category")), "all");
    json_t *families = json_object_get(o2, "families");
    json_t *f = find_family(families, "sm_http_requests_total");
    assert_string_equal(json_string_value(json_object_get(f, "type")), "counter");
    assert_int_equal(json_integer_value(json_object_get(f, "series")), 2);
    assert_true(json_number_value(json_object_get(f, "total")) == 2.0);
    f = find_family(families, "sm_http_request_duration_seconds");
    assert_true(json_number_value(json_object_get(f, "count")) == 2.0);
    assert_true(json_number_value(json_object_get(f, "sum")) == 2.0);
    assert_true(json_number_value(json_object_get(f, "mean")) == 1.0);
    f = find_family(families, "sm_llm_tokens_total");
    assert_true(json_number_value(json_object_get(f, "total")) == 15.0);
    f = find_family(families, "sm_llm_cost_dollars");
    assert_true(json_number_value(json_object_get(f, "sum")) == 0.5);
    json_decref(o2);
    tg_obs_response_free(&resp);

    assert_int_equal(tg_obs_endpoint_summary(own, "providers", &resp), 0);
    o2 = json_loadb(resp.body, resp.body_len, 0, NULL);
    families = json_object_get(o2, "families");
    f = find_family(families, "sm_provider_health_score");
    assert_int_equal(json_integer_value(json_object_get(f, "series")), 2);
    assert_true(json_number_value(json_object_get(f, "total")) == 2.0);
    for (size_t i = 0; i < json_array_size(families); i++)
        assert_null(strstr(json_string_value(json_object_get(json_array_get(families, i), "name")), "http"));
    json_decref(o2);
    tg_obs_response_free(&resp);

    assert_int_equal(tg_obs_endpoint_summary(own, "nope", &resp), 0);
    assert_int_equal(resp.status, 404);
    tg_obs_response_free(&resp);
    /* Through the category route. */
    assert_int_equal(tg_obs_endpoint_metrics(own, "summary", NULL, NULL, &resp), 0);
    assert_string_equal(resp.content_type, "application/json");
    tg_obs_response_free(&resp);
    tg_obs_free(own);
}

/* The exact JSON of families of each kind: the text format's names and type
 * words (a stateset is a "gauge" of one series per state), a series whose
 * sum is NaN adds nothing to the family's sum (its count still counts),
 * families without a series are left out. */
static void test_summary_entries(void **state)
{
    tg_obs_opts_t o = {.metric_namespace = "ex", .version = "0.1.0"};
    tg_obs_t *own = tg_obs_new(&o, NULL);
    const tg_obs_view_t *v = tg_obs_bind(own, cfg, NULL);
    tg_obs_record_attempt(v, 0, 0.25);
    tg_obs_record_attempt(v, 0, 0.0 / 0.0);
    tg_obs_record_attempt(v, 1, 1.5);
    tg_obs_llm_result_t r = {.provider = 1, .model = 0, .status = TG_LLM_SUCCESS,
                        .duration_seconds = 2, .prompt_tokens = 4, .completion_tokens = 2,
                        .cost_dollars = 0.25, .ttft_seconds = -1};
    tg_obs_record_llm(v, &r);
    tg_obs_response_t resp;
    assert_int_equal(tg_obs_endpoint_summary(own, NULL, &resp), 0);
    char *body = body_text(&resp);
    static const char *const want[] = {
        "{\"name\":\"ex_provider_circuit_breaker\",\"type\":\"gauge\",\"series\":6,"
        "\"total\":2.0}",
        "{\"name\":\"ex_provider_response_time_seconds\",\"type\":\"histogram\","
        "\"series\":2,\"count\":3.0,\"sum\":1.5,\"mean\":0.5}",
        "{\"name\":\"ex_llm_cost_dollars\",\"type\":\"summary\",\"series\":1,\"count\":1.0,"
        "\"sum\":0.25,\"mean\":0.25}",
        "{\"name\":\"ex_llm_tokens_total\",\"type\":\"counter\",\"series\":2,\"total\":6.0}",
        "{\"name\":\"ex_build_info\",\"type\":\"gauge\",\"series\":1,\"total\":1.0}",
        "{\"name\":\"process_cpu_seconds_total\",\"type\":\"counter\",\"series\":1,",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(body, want[i]) == NULL)
            fail_msg("%s\nnot in\n%s", want[i], body);
    /* no series yet: not listed */
    assert_null(strstr(body, "tally_series_overflow_total"));
    assert_null(strstr(body, "ex_db_query_duration_seconds"));
    assert_null(strstr(body, "ex_llm_fallbacks_total"));
    assert_null(strstr(body, "ex_llm_ttft_seconds"));
    free(body);
    tg_obs_response_free(&resp);
    tg_obs_free(own);
}

static void test_summary_odd_label_values(void **state)
{
    /* Label values with a quote, a brace, a space and a backslash. */
    char path[300];
    snprintf(path, sizeof(path), "%s/odd.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("providers:\n  - { name: 'p} \"x\\', base_url: \"http://127.0.0.1:9\" }\n"
          "models:\n  - { name: 'm{ 1', routes: [ { provider: 'p} \"x\\' } ] }\n", f);
    fclose(f);
    char *err = NULL;
    tg_config_t *odd = tg_config_load(path, &err);
    if (odd == NULL)
        fail_msg("%s", err);
    tg_obs_opts_t o = {.metric_namespace = "odd"};
    tg_obs_t *own = tg_obs_new(&o, NULL);
    const tg_obs_view_t *v = tg_obs_bind(own, odd, NULL);
    tg_obs_llm_result_t r = {.provider = 0, .model = 0, .status = TG_LLM_SUCCESS,
                        .prompt_tokens = 7, .completion_tokens = 3, .ttft_seconds = -1,
                        .cost_dollars = -1};
    tg_obs_record_llm(v, &r);
    tg_obs_response_t resp;
    assert_int_equal(tg_obs_endpoint_summary(own, "models", &resp), 0);
    json_t *body = json_loadb(resp.body, resp.body_len, 0, NULL);
    json_t *fam = find_family(json_object_get(body, "families"), "odd_llm_tokens_total");
    assert_int_equal(json_integer_value(json_object_get(fam, "series")), 2); /* prompt, completion */
    assert_true(json_number_value(json_object_get(fam, "total")) == 10.0);
    json_decref(body);
    tg_obs_response_free(&resp);
    tg_obs_free(own);
    tg_config_free(odd);
    unlink(path);
}

static void report_failures(size_t provider, tg_retry_reason_t reason, double seconds)
{
    const tg_health_view_t *hv = tg_obs_view_health(tg_obs_current_view(obs));
    for (int i = 0; i < TG_HEALTH_MIN_ATTEMPTS; i++)
        tg_health_report_attempt(hv, provider, false, reason, seconds);
}

static void test_health(void **state)
{
    /* "down" times out on every attempt: unhealthy from the next evaluation */
    report_failures(1, TG_RETRY_TIMEOUT, 2.0);
    double now = tg_clock_seconds();
    tg_health_evaluate(health, now, NULL, NULL);
    tg_obs_response_t r;
    assert_int_equal(tg_obs_endpoint_health(obs, "0.1.0", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    json_error_t jerr;
    json_t *o = json_loadb(r.body, r.body_len, 0, &jerr);
    if (o == NULL)
        fail_msg("%s", jerr.text);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "degraded");
    assert_string_equal(json_string_value(json_object_get(o, "version")), "0.1.0");
    assert_true(json_number_value(json_object_get(o, "uptime_seconds")) >= 0);
    json_t *providers = json_object_get(o, "providers");
    assert_int_equal(json_array_size(providers), 2);
    json_t *up = json_array_get(providers, 0);
    assert_string_equal(json_string_value(json_object_get(up, "name")), "up");
    assert_string_equal(json_string_value(json_object_get(up, "state")), "healthy");
    assert_string_equal(json_string_value(json_object_get(up, "circuit_breaker")), "closed");
    assert_true(json_number_value(json_object_get(up, "health_score")) == 1.0);
    assert_true(json_is_null(json_object_get(up, "last_error")));
    /* Values print without float noise (9 significant digits). */
    assert_non_null(strstr(r.body, "\"health_score\":0.266666667"));
    json_t *down = json_array_get(providers, 1);
    assert_string_equal(json_string_value(json_object_get(down, "state")), "unhealthy");
    assert_string_equal(json_string_value(json_object_get(down, "last_error")), "timeout");
    /* failed 2 s attempts only: availability 0, error rate 1, latency score 8/9 */
    assert_true(json_number_value(json_object_get(down, "availability")) == 0.0);
    assert_true(json_number_value(json_object_get(down, "error_rate")) == 1.0);
    double score = json_number_value(json_object_get(down, "health_score"));
    assert_true(score > 0.3 * 8 / 9 - 1e-9 && score < 0.3 * 8 / 9 + 1e-9);
    json_decref(o);
    tg_obs_response_free(&r);

    /* Every provider unhealthy: the gateway is, and still answers 200. */
    report_failures(0, TG_RETRY_RESET, 0.1);
    tg_health_evaluate(health, now, NULL, NULL);
    assert_int_equal(tg_obs_endpoint_health(obs, "0.1.0", &r), 0);
    assert_int_equal(r.status, 200);
    o = json_loadb(r.body, r.body_len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "unhealthy");
    json_decref(o);
    tg_obs_response_free(&r);

    /* A minute on the failures have left the verdict's window but not the
     * 5-minute score's: healthy again, still degraded, and so is the
     * gateway as a whole. */
    tg_health_evaluate(health, now + 60, NULL, NULL);
    assert_int_equal(tg_obs_endpoint_health(obs, "0.1.0", &r), 0);
    o = json_loadb(r.body, r.body_len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "degraded");
    down = json_array_get(json_object_get(o, "providers"), 1);
    assert_string_equal(json_string_value(json_object_get(down, "state")), "degraded");
    json_decref(o);
    tg_obs_response_free(&r);
}

static void test_bearer_token(void **state)
{
    assert_true(tg_obs_metrics_authorized(cfg, "Bearer s3cret"));
    assert_false(tg_obs_metrics_authorized(cfg, "Bearer s3cre"));
    assert_false(tg_obs_metrics_authorized(cfg, "Bearer s3crets"));
    assert_false(tg_obs_metrics_authorized(cfg, "bearer s3cret"));
    assert_false(tg_obs_metrics_authorized(cfg, NULL));
    assert_true(tg_obs_metrics_authorized(NULL, NULL));
    tg_obs_response_t r;
    assert_int_equal(tg_obs_endpoint_unauthorized(&r), 0);
    assert_int_equal(r.status, 401);
    json_t *o = json_loadb(r.body, r.body_len, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "code")),
                        "invalid_api_key");
    json_decref(o);
    tg_obs_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_before_and_after_bind),
        cmocka_unit_test(test_metrics_text_openmetrics_gzip),
        cmocka_unit_test(test_metrics_categories),
        cmocka_unit_test(test_unknown_category_echo),
        cmocka_unit_test(test_docs),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_summary_entries),
        cmocka_unit_test(test_summary_odd_label_values),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_bearer_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
