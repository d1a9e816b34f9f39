/*
 * test_metrics.c - the metric catalog as tally sees it (every family, type,
 * category and label set), and recording through pre-bound views: exact
 * values in the rendered text, provider state read from health/, reload
 * continuity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "health/provider.h"
#include "core/clock.h"
#include "obs/metrics.h"

#include "tests/yaml_fixture.h"

static const char two_providers_yaml[] =
    "providers:\n"
    "  - { name: a, base_url: \"http://127.0.0.1:9/v1\" }\n"
    "  - { name: b, base_url: \"http://127.0.0.1:9/v1\" }\n"
    "models:\n"
    "  - name: m1\n"
    "    routes: [ { provider: a }, { provider: b, model: m1-b } ]\n"
    "    pricing: { input: 1.0, cached_input: 0.5, output: 2.0 }\n"
    "  - name: m2\n"
    "    routes: [ { provider: b } ]\n";

static tg_obs_t *new_obs(const char *ns)
{
    tg_obs_opts_t o = {.metric_namespace = ns, .version = "1.2.3", .revision = "abc123"};
    char *err = NULL;
    tg_obs_t *obs = tg_obs_new(&o, &err);
    if (obs == NULL)
        fail_msg("%s", err);
    return obs;
}

/* The text 0.0.4 rendering, NUL-terminated (caller frees). */
static char *render(tg_obs_t *obs, const char *category)
{
    tally_buf b = {0};
    assert_int_equal(tally_render(tg_obs_registry(obs), TALLY_FORMAT_TEXT, category, &b), TALLY_OK);
    char *s = strndup(b.data ? b.data : "", b.len);
    tally_buf_free(&b);
    return s;
}

/* Asserts that `line` is one whole line of text. */
static void assert_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    fail_msg("line not found: %s", line);
}

static void assert_no_line_starting(const char *text, const char *prefix)
{
    for (const char *p = text; (p = strstr(p, prefix)) != NULL; p++)
        if (p == text || p[-1] == '\n')
            fail_msg("unexpected line starting with %s", prefix);
}

/* ------------------------------------------------------------ catalog */

typedef struct visited {
    char entries[64][256];
    size_t n;
} visited;

static void visit(const char *name, tally_type type, const char *help, const char *unit,
                  const char *category, const char *const *labels, size_t label_count, void *user)
{
    visited *v = user;
    static const char *const type_names[] = {"counter", "gauge", "histogram", "summary",
                                             "info", "stateset", "untyped"};
    char *e = v->entries[v->n++];
    int len = snprintf(e, 256, "%s %s %s", name, type_names[type], category ? category : "-");
    for (size_t i = 0; i < label_count; i++)
        len += snprintf(e + len, (size_t)(256 - len), "%s%s", i ? "," : " ", labels[i]);
    assert_non_null(help);
    assert_true(help[0] != '\0' || strncmp(name, "process_", 8) == 0 ||
                strncmp(name, "tally_", 6) == 0);
}

static void test_catalog_complete(void **state)
{
    static const char *const expected[] = {
        "tg_http_requests counter system method,path,status",
        "tg_http_request_duration_seconds histogram system method,path",
        "tg_http_requests_in_progress gauge system method,path",
        "tg_api_errors counter system error_type,error_code,path",
        "tg_build_info gauge system version,revision",
        "tg_uptime_seconds gauge system",
        "tg_ws_connections_active gauge system",
        "tg_ws_messages counter system direction",
        "tg_llm_requests counter models provider,model,operation,stream_mode,status",
        "tg_llm_request_duration_seconds histogram models provider,model,operation,stream_mode",
        "tg_llm_ttft_seconds histogram models provider,model",
        "tg_llm_tokens counter models provider,model,type",
        "tg_llm_token_efficiency_ratio gauge models model",
        "tg_model_uptime_24h_ratio gauge models model",
        "tg_llm_retries counter providers provider,reason",
        "tg_llm_fallbacks counter providers from,to",
        "tg_provider_health_status gauge providers provider",
        "tg_provider_circuit_breaker_state gauge providers provider",
        "tg_provider_circuit_breaker stateset providers provider,tg_provider_circuit_breaker",
        "tg_provider_availability_ratio gauge providers provider",
        "tg_provider_error_rate_ratio gauge providers provider",
        "tg_provider_response_time_seconds histogram providers provider",
        "tg_provider_health_score gauge providers provider",
        "tg_provider_model_circuit_breaker_state gauge providers provider,upstream_model",
        "tg_provider_model_circuit_breaker_transitions counter providers provider,upstream_model,from,to",
        "tg_llm_cost_dollars summary business provider,model",
        "tg_cache_saved_dollars counter business tier",
        "tg_rate_limited_requests counter business reason",
        "tg_active_api_keys gauge business",
        "tg_orgs gauge business plan",
        "tg_cache_hits counter performance tier",
        "tg_cache_misses counter performance tier",
        "tg_detected_anomalies counter performance type",
        "tg_db_query_duration_seconds histogram performance operation",
        "tg_db_connections_active gauge performance",
        "tg_housekeeping_duration_seconds histogram system task",
        "gen_ai_client_token_usage histogram models gen_ai_operation_name,gen_ai_provider_name,"
        "gen_ai_request_model,gen_ai_response_model,gen_ai_token_type",
        "gen_ai_client_operation_duration_seconds histogram models gen_ai_operation_name,gen_ai_provider_name,"
        "gen_ai_request_model,gen_ai_response_model,error_type",
        "gen_ai_server_time_to_first_token_seconds histogram models gen_ai_operation_name,gen_ai_provider_name,"
        "gen_ai_request_model,gen_ai_response_model",
        "process_cpu_seconds counter system",
        "process_resident_memory_bytes gauge system",
        "process_open_fds gauge system",
    };
    tg_obs_t *obs = new_obs("tg");
    visited *v = calloc(1, sizeof(*v));
    tally_registry_visit(tg_obs_registry(obs), visit, v);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        bool found = false;
        for (size_t j = 0; j < v->n && !found; j++)
            found = strcmp(v->entries[j], expected[i]) == 0;
        if (!found)
            fail_msg("catalog lacks \"%s\"", expected[i]);
    }
    free(v);

    /* Every family is declared (above); none has a series before its first event:
     * not those of subsystems that do not exist yet, not a route nobody
     * called. */
    char *text = render(obs, NULL);
    assert_line(text, "tg_build_info{version=\"1.2.3\",revision=\"abc123\"} 1");
    assert_no_line_starting(text, "tg_cache_hits_total{");
    assert_no_line_starting(text, "tg_rate_limited_requests_total{");
    assert_no_line_starting(text, "tg_detected_anomalies_total{");
    assert_no_line_starting(text, "tg_http_requests_in_progress{");
    assert_no_line_starting(text, "tg_http_request_duration_seconds_count{");
    assert_non_null(strstr(text, "\ntg_uptime_seconds "));
    assert_non_null(strstr(text, "\nprocess_resident_memory_bytes "));
    free(text);
    tg_obs_free(obs);
}

static void test_empty_namespace_gives_bare_names(void **state)
{
    tg_obs_t *obs = new_obs("");
    tg_config_t *cfg = load_yaml(two_providers_yaml);
    const tg_obs_view_t *v = tg_obs_bind(obs, cfg, NULL);
    tg_obs_record_http(v, TG_ROUTE_MODELS, TG_METHOD_GET, 200, 0.001, NULL);
    char *text = render(obs, NULL);
    assert_line(text, "http_requests_total{method=\"GET\",path=\"/v1/models\",status=\"200\"} 1");
    assert_line(text, "build_info{version=\"1.2.3\",revision=\"abc123\"} 1");
    assert_line(text, "provider_health_score{provider=\"a\"} 1");
    free(text);
    tg_obs_free(obs);
    tg_config_free(cfg);
}

/* ---------------------------------------------------------- recording */

static void test_llm_recording(void **state)
{
    tg_obs_t *obs = new_obs("tg");
    tg_config_t *cfg = load_yaml(two_providers_yaml);
    const tg_obs_view_t *v = tg_obs_bind(obs, cfg, NULL);

    /* Configured routes have no series before their traffic. */
    char *text = render(obs, "models");
    assert_no_line_starting(text, "tg_llm_requests_total{");
    assert_no_line_starting(text, "tg_model_uptime_24h_ratio{");
    free(text);

    tg_obs_llm_result_t r = {
        .provider = 0, .model = 0, .operation = TG_OP_CHAT, .stream_mode = TG_STREAMING,
        .status = TG_LLM_SUCCESS, .duration_seconds = 0.75, .ttft_seconds = 0.04,
        .prompt_tokens = 1000, .completion_tokens = 500, .cached_prompt_tokens = 200,
        .reasoning_tokens = 7, .cost_dollars = -1,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
    };
    tg_obs_record_llm(v, &r);
    tg_obs_record_llm(v, &r);
    r.status = TG_LLM_ERROR;
    r.stream_mode = TG_NON_STREAMING;
    r.ttft_seconds = -1;
    r.prompt_tokens = r.completion_tokens = r.cached_prompt_tokens = r.reasoning_tokens = 0;
    tg_obs_record_llm(v, &r);
    /* Out-of-range input is ignored, never a crash. */
    r.provider = 99;
    tg_obs_record_llm(v, &r);
    r.provider = 0;
    r.model = 5;
    tg_obs_record_llm(v, &r);
    tg_obs_record_llm(v, NULL);
    tg_obs_record_llm(NULL, &r);

    text = render(obs, NULL);
    const char *l = "provider=\"a\",model=\"m1\"";
    char line[512];
    snprintf(line, sizeof(line), "tg_llm_requests_total{%s,operation=\"chat\",stream_mode=\"streaming\",status=\"success\"} 2", l);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_requests_total{%s,operation=\"chat\",stream_mode=\"non_streaming\",status=\"error\"} 1", l);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_tokens_total{%s,type=\"prompt\"} 2000", l);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_tokens_total{%s,type=\"completion\"} 1000", l);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_tokens_total{%s,type=\"cached_prompt\"} 400", l);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_tokens_total{%s,type=\"reasoning\"} 14", l);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_ttft_seconds_count{%s} 2", l);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_ttft_seconds_bucket{%s,le=\"0.05\"} 2", l);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_ttft_seconds_bucket{%s,le=\"0.01\"} 0", l);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_request_duration_seconds_bucket{%s,operation=\"chat\",stream_mode=\"streaming\",le=\"1\"} 2", l);
    assert_line(text, line);
    /* cost = (800 * 1.0 + 200 * 0.5 + 500 * 2.0) / 1e6 = 0.0019 per call;
     * the failed call used no tokens and is not observed. */
    snprintf(line, sizeof(line), "tg_llm_cost_dollars_count{%s} 2", l);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_cost_dollars_sum{%s} 0.0038", l);
    assert_line(text, line);
    assert_line(text, "tg_llm_token_efficiency_ratio{model=\"m1\"} 0.5");
    /* 2 successes, 1 error in the 24 h window */
    char *uptime = strstr(text, "\ntg_model_uptime_24h_ratio{model=\"m1\"} ");
    assert_non_null(uptime);
    assert_true(fabs(strtod(strchr(uptime, '}') + 2, NULL) - 2.0 / 3.0) < 1e-9);
    /* What happened has series, and only that: one (operation, mode,
     * status) each, no zero token types, nothing for the model no call
     * went to. */
    snprintf(line, sizeof(line), "tg_llm_requests_total{%s,operation=\"chat\",stream_mode=\"streaming\",status=\"timeout\"}", l);
    assert_no_line_starting(text, line);
    assert_no_line_starting(text, "tg_llm_requests_total{provider=\"a\",model=\"m1\",operation=\"embeddings\"");
    assert_no_line_starting(text, "tg_model_uptime_24h_ratio{model=\"m2\"}");
    assert_no_line_starting(text, "tg_llm_tokens_total{provider=\"b\"");
    free(text);

    /* An explicit cost wins over the price table. */
    r = (tg_obs_llm_result_t){.provider = 1, .model = 1, .status = TG_LLM_SUCCESS,
                         .operation = TG_OP_EMBEDDINGS, .prompt_tokens = 10,
                         .cost_dollars = 0.25, .ttft_seconds = -1};
    tg_obs_record_llm(v, &r);
    text = render(obs, "business");
    assert_line(text, "tg_llm_cost_dollars_sum{provider=\"b\",model=\"m2\"} 0.25");
    free(text);
    tg_obs_free(obs);
    tg_config_free(cfg);
}

/* ---------------------------------------------------------------- GenAI */

static const char genai_yaml[] =
    "metrics: { genai: true }\n"
    "providers:\n"
    "  - { name: a, base_url: \"http://127.0.0.1:9/v1\" }\n"
    "  - { name: b, type: anthropic, base_url: \"http://127.0.0.1:9/v1\" }\n"
    "models:\n"
    "  - name: m1\n"
    "    routes: [ { provider: a }, { provider: b, model: m1-b } ]\n"
    "  - name: m2\n"
    "    routes: [ { provider: b } ]\n";

/* The label set of model m1's route `route` (0: a, 1: b), operation op. */
static const char *m1_labels(int route, const char *op)
{
    static char buf[256];
    snprintf(buf, sizeof(buf),
             "gen_ai_operation_name=\"%s\",gen_ai_provider_name=\"%s\",gen_ai_request_model=\"m1\","
             "gen_ai_response_model=\"%s\"",
             op, route == 0 ? "openai" : "anthropic", route == 0 ? "m1" : "m1-b");
    return buf;
}

/* The le values of one histogram series, in order, as one string. */
static void bucket_bounds(const char *text, const char *series, char *out, size_t out_size)
{
    size_t n = strlen(series), used = 0;
    out[0] = '\0';
    for (const char *p = text; (p = strstr(p, series)) != NULL; p += n) {
        if (p != text && p[-1] != '\n')
            continue;
        const char *le = strstr(p, "le=\"");
        const char *end = le ? strchr(le + 4, '"') : NULL;
        if (end != NULL && used + (size_t)(end - le) < out_size)
            used += (size_t)snprintf(out + used, out_size - used, "%s%.*s", used ? " " : "", (int)(end - le - 4), le + 4);
    }
}

static void test_genai_off_by_default(void **state)
{
    tg_obs_t *obs = new_obs("tg");
    tg_config_t *cfg = load_yaml(two_providers_yaml);
    assert_false(cfg->metrics.genai);
    const tg_obs_view_t *v = tg_obs_bind(obs, cfg, NULL);
    tg_obs_llm_result_t r = {.operation = TG_OP_CHAT, .stream_mode = TG_STREAMING, .status = TG_LLM_SUCCESS,
                             .duration_seconds = 1, .ttft_seconds = 0.1, .prompt_tokens = 5,
                             .completion_tokens = 5, .cost_dollars = -1};
    tg_obs_record_llm(v, &r);
    char *text = render(obs, NULL);
    assert_line(text, "tg_llm_requests_total{provider=\"a\",model=\"m1\",operation=\"chat\","
                      "stream_mode=\"streaming\",status=\"success\"} 1");
    assert_null(strstr(text, "gen_ai_"));
    free(text);
    tg_obs_free(obs);
    tg_config_free(cfg);
}

static void test_genai_recording(void **state)
{
    tg_obs_t *obs = new_obs("tg");
    tg_config_t *cfg = load_yaml(genai_yaml);
    assert_true(cfg->metrics.genai);
    const tg_obs_view_t *v = tg_obs_bind(obs, cfg, NULL);
    char *text = render(obs, NULL);
    assert_null(strstr(text, "gen_ai_")); /* no series before a call */
    free(text);

    /* Two streamed chats on m1's first route... */
    tg_obs_llm_result_t r = {
        .provider = 0, .model = 0, .route = 0, .operation = TG_OP_CHAT, .stream_mode = TG_STREAMING,
        .status = TG_LLM_SUCCESS, .duration_seconds = 0.75, .ttft_seconds = 0.03,
        .prompt_tokens = 1000, .completion_tokens = 200, .cached_prompt_tokens = 100, .cost_dollars = -1,
    };
    tg_obs_record_llm(v, &r);
    tg_obs_record_llm(v, &r);
    /* ... Anthropic's Messages on its second, failing without tokens after a first token ... */
    r = (tg_obs_llm_result_t){.provider = 1, .model = 0, .route = 1, .operation = TG_OP_MESSAGES,
                              .stream_mode = TG_STREAMING, .status = TG_LLM_TIMEOUT, .duration_seconds = 3,
                              .ttft_seconds = 0.5, .cost_dollars = -1};
    tg_obs_record_llm(v, &r);
    /* ... a legacy completion and an embedding, not streamed ... */
    r = (tg_obs_llm_result_t){.provider = 0, .model = 0, .route = 0, .operation = TG_OP_COMPLETIONS,
                              .status = TG_LLM_SUCCESS, .duration_seconds = 0.1, .ttft_seconds = -1,
                              .prompt_tokens = 3, .completion_tokens = 70000, .cost_dollars = -1};
    tg_obs_record_llm(v, &r);
    r.operation = TG_OP_EMBEDDINGS;
    r.completion_tokens = 0;
    tg_obs_record_llm(v, &r);
    /* ... and calls the GenAI families cannot place: no route, a route out
     * of range, a provider that is not the route's, "other". */
    r.route = -1;
    tg_obs_record_llm(v, &r);
    r.route = 2;
    tg_obs_record_llm(v, &r);
    r.route = 0;
    r.provider = 1;
    tg_obs_record_llm(v, &r);
    r.model = -1;
    tg_obs_record_llm(v, &r);

    text = render(obs, NULL);
    char line[512];
    /* Durations: every call, error_type empty on success, else its status. */
    snprintf(line, sizeof(line), "gen_ai_client_operation_duration_seconds_count{%s,error_type=\"\"} 2", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_operation_duration_seconds_sum{%s,error_type=\"\"} 1.5", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_operation_duration_seconds_bucket{%s,error_type=\"\",le=\"0.64\"} 0", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_operation_duration_seconds_bucket{%s,error_type=\"\",le=\"1.28\"} 2", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_operation_duration_seconds_count{%s,error_type=\"timeout\"} 1", m1_labels(1, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_operation_duration_seconds_count{%s,error_type=\"\"} 1", m1_labels(0, "text_completion"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_operation_duration_seconds_count{%s,error_type=\"\"} 1", m1_labels(0, "embeddings"));
    assert_line(text, line);
    /* Tokens: one observation per call and type it has. */
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_count{%s,gen_ai_token_type=\"input\"} 2", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_sum{%s,gen_ai_token_type=\"input\"} 2000", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_bucket{%s,gen_ai_token_type=\"input\",le=\"256\"} 0", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_bucket{%s,gen_ai_token_type=\"input\",le=\"1024\"} 2", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_sum{%s,gen_ai_token_type=\"output\"} 400", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_bucket{%s,gen_ai_token_type=\"output\",le=\"65536\"} 0", m1_labels(0, "text_completion"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_bucket{%s,gen_ai_token_type=\"output\",le=\"262144\"} 1", m1_labels(0, "text_completion"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_count{%s,gen_ai_token_type=\"input\"} 1", m1_labels(0, "embeddings"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_count{%s,gen_ai_token_type=\"output\"}", m1_labels(0, "embeddings"));
    assert_no_line_starting(text, line);
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_count{%s", m1_labels(1, "chat"));
    assert_no_line_starting(text, line);
    /* Time to first token: successful streams only. */
    snprintf(line, sizeof(line), "gen_ai_server_time_to_first_token_seconds_count{%s} 2", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_server_time_to_first_token_seconds_bucket{%s,le=\"0.02\"} 0", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_server_time_to_first_token_seconds_bucket{%s,le=\"0.04\"} 2", m1_labels(0, "chat"));
    assert_line(text, line);
    snprintf(line, sizeof(line), "gen_ai_server_time_to_first_token_seconds_count{%s}", m1_labels(1, "chat"));
    assert_no_line_starting(text, line);
    snprintf(line, sizeof(line), "gen_ai_server_time_to_first_token_seconds_count{%s}", m1_labels(0, "text_completion"));
    assert_no_line_starting(text, line);
    /* Nothing for the calls that could not be placed, nor for m2. */
    assert_null(strstr(text, "gen_ai_request_model=\"other\""));
    assert_null(strstr(text, "gen_ai_request_model=\"m2\""));
    assert_null(strstr(text, "gen_ai_provider_name=\"anthropic\",gen_ai_request_model=\"m1\",gen_ai_response_model=\"m1\""));
    snprintf(line, sizeof(line), "gen_ai_client_operation_duration_seconds_count{%s,error_type=\"\"} 1", m1_labels(0, "embeddings"));
    assert_line(text, line);
    /* The conventions' buckets, with no namespace. */
    char bounds[512];
    snprintf(line, sizeof(line), "gen_ai_client_token_usage_bucket{%s,gen_ai_token_type=\"input\",", m1_labels(0, "chat"));
    bucket_bounds(text, line, bounds, sizeof(bounds));
    assert_string_equal(bounds, "1 4 16 64 256 1024 4096 16384 65536 262144 1048576 4194304 16777216 67108864 +Inf");
    snprintf(line, sizeof(line), "gen_ai_client_operation_duration_seconds_bucket{%s,error_type=\"\",", m1_labels(0, "chat"));
    bucket_bounds(text, line, bounds, sizeof(bounds));
    assert_string_equal(bounds, "0.01 0.02 0.04 0.08 0.16 0.32 0.64 1.28 2.56 5.12 10.24 20.48 40.96 81.92 +Inf");
    snprintf(line, sizeof(line), "gen_ai_server_time_to_first_token_seconds_bucket{%s,", m1_labels(0, "chat"));
    bucket_bounds(text, line, bounds, sizeof(bounds));
    assert_string_equal(bounds, "0.001 0.005 0.01 0.02 0.04 0.06 0.08 0.1 0.25 0.5 0.75 1 2.5 5 7.5 10 +Inf");
    assert_null(strstr(text, "tg_gen_ai"));
    free(text);

    /* Switching it off (a reload) is another view, which records none. */
    tg_config_t *off = load_yaml(genai_yaml + strlen("metrics: { genai: true }\n"));
    const tg_obs_view_t *v_off = tg_obs_bind(obs, off, NULL);
    assert_ptr_not_equal(v_off, v);
    r = (tg_obs_llm_result_t){.provider = 0, .model = 0, .route = 0, .operation = TG_OP_CHAT,
                              .status = TG_LLM_SUCCESS, .duration_seconds = 0.1, .ttft_seconds = -1,
                              .cost_dollars = -1};
    tg_obs_record_llm(v_off, &r);
    text = render(obs, NULL);
    snprintf(line, sizeof(line), "gen_ai_client_operation_duration_seconds_count{%s,error_type=\"\"} 2", m1_labels(0, "chat"));
    assert_line(text, line);
    free(text);
    /* On again with another route: a third view, labelled by its routes. */
    tg_config_t *rerouted = load_yaml("metrics: { genai: true }\n"
                                      "providers:\n"
                                      "  - { name: a, base_url: \"http://127.0.0.1:9/v1\" }\n"
                                      "  - { name: b, type: anthropic, base_url: \"http://127.0.0.1:9/v1\" }\n"
                                      "models:\n"
                                      "  - name: m1\n"
                                      "    routes: [ { provider: b, model: m1-c } ]\n"
                                      "  - name: m2\n"
                                      "    routes: [ { provider: b } ]\n");
    const tg_obs_view_t *v3 = tg_obs_bind(obs, rerouted, NULL);
    assert_ptr_not_equal(v3, v);
    assert_ptr_not_equal(v3, v_off);
    r.provider = 1;
    tg_obs_record_llm(v3, &r);
    text = render(obs, NULL);
    assert_line(text, "gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name=\"chat\","
                      "gen_ai_provider_name=\"anthropic\",gen_ai_request_model=\"m1\","
                      "gen_ai_response_model=\"m1-c\",error_type=\"\"} 1");
    free(text);
    assert_ptr_equal(tg_obs_bind(obs, cfg, NULL), v);
    tg_obs_free(obs);
    tg_config_free(cfg);
    tg_config_free(off);
    tg_config_free(rerouted);
}

static void test_http_errors_retries_fallbacks(void **state)
{
    tg_obs_t *obs = new_obs("tg");
    tg_config_t *cfg = load_yaml(two_providers_yaml);
    const tg_obs_view_t *v = tg_obs_bind(obs, cfg, NULL);
    tg_obs_record_http(v, TG_ROUTE_CHAT, TG_METHOD_POST, 200, 0.02, "4bf92f3577b34da6a3ce929d0e0e4736");
    tg_obs_record_http(v, TG_ROUTE_CHAT, TG_METHOD_POST, 200, 3.0, NULL);
    tg_obs_record_http(v, TG_ROUTE_OTHER, TG_METHOD_GET, 418, 0.001, NULL);
    tg_obs_record_http(v, TG_ROUTE_COUNT, TG_METHOD_GET, 200, 1, NULL);
    tg_obs_http_in_progress(v, TG_ROUTE_CHAT, TG_METHOD_POST, 1);
    tg_obs_http_in_progress(v, TG_ROUTE_CHAT, TG_METHOD_POST, 1);
    tg_obs_http_in_progress(v, TG_ROUTE_CHAT, TG_METHOD_POST, -1);
    tg_obs_record_error(v, TG_ERR_INVALID_REQUEST, TG_CODE_BODY_TOO_LARGE, TG_ROUTE_CHAT);
    tg_obs_record_error(v, TG_ERR_INVALID_REQUEST, TG_CODE_BODY_TOO_LARGE, TG_ROUTE_CHAT);
    tg_obs_record_error(v, TG_ERR_TYPE_COUNT, TG_CODE_BODY_TOO_LARGE, TG_ROUTE_CHAT);
    tg_obs_record_retry(v, 0, TG_RETRY_STATUS_5XX);
    tg_obs_record_retry(v, 7, TG_RETRY_STATUS_5XX);
    tg_obs_record_fallback(v, 0, 1);
    tg_obs_record_fallback(v, 0, 1);
    tg_obs_record_fallback(v, 0, 2);

    char *text = render(obs, NULL);
    const char *chat = "method=\"POST\",path=\"/v1/chat/completions\"";
    char line[512];
    snprintf(line, sizeof(line), "tg_http_requests_total{%s,status=\"200\"} 2", chat);
    assert_line(text, line);
    assert_line(text, "tg_http_requests_total{method=\"GET\",path=\"other\",status=\"418\"} 1");
    snprintf(line, sizeof(line), "tg_http_request_duration_seconds_bucket{%s,le=\"0.025\"} 1", chat);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_http_request_duration_seconds_bucket{%s,le=\"2.5\"} 1", chat);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_http_request_duration_seconds_bucket{%s,le=\"5\"} 2", chat);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_http_requests_in_progress{%s} 1", chat);
    assert_line(text, line);
    assert_line(text, "tg_api_errors_total{error_type=\"invalid_request_error\","
                      "error_code=\"body_too_large\",path=\"/v1/chat/completions\"} 2");
    assert_line(text, "tg_llm_retries_total{provider=\"a\",reason=\"status_5xx\"} 1");
    assert_no_line_starting(text, "tg_llm_retries_total{provider=\"b\"");
    assert_line(text, "tg_llm_fallbacks_total{from=\"a\",to=\"b\"} 2");
    free(text);

    /* The trace id shows up as an exemplar in OpenMetrics. */
    tally_buf b = {0};
    assert_int_equal(tally_render(tg_obs_registry(obs), TALLY_FORMAT_OPENMETRICS, NULL, &b), TALLY_OK);
    char *om = strndup(b.data, b.len);
    tally_buf_free(&b);
    assert_non_null(strstr(om, "# {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.02"));
    free(om);
    tg_obs_free(obs);
    tg_config_free(cfg);
}

/* The provider families read health/: its windows at scrape time, its
 * flags once synced. */
static void test_provider_state_from_health(void **state)
{
    tg_obs_t *obs = new_obs("tg");
    tg_config_t *cfg = load_yaml(two_providers_yaml);
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *hv = tg_health_bind(h, cfg);
    const tg_obs_view_t *v = tg_obs_bind(obs, cfg, hv);
    assert_ptr_equal(tg_obs_view_health(v), hv);
    static const struct { size_t provider; bool ok; tg_retry_reason_t reason; double seconds; } attempts[] = {
        {0, true, 0, 0.5}, {0, true, 0, 0.5}, {0, false, TG_RETRY_STATUS_5XX, 1.0},
        {0, false, TG_RETRY_STATUS_429, 1.0},
        {1, false, TG_RETRY_STATUS_5XX, 1.0}, {1, false, TG_RETRY_STATUS_5XX, 1.0},
        {1, false, TG_RETRY_STATUS_5XX, 1.0}, {1, false, TG_RETRY_STATUS_5XX, 1.0},
        {1, false, TG_RETRY_STATUS_5XX, 1.0},
    };
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
        size_t p = attempts[i].provider;
        tg_health_report_attempt(hv, p, attempts[i].ok, attempts[i].reason, attempts[i].seconds);
        tg_health_breaker_report(hv, p, &cfg->providers[p].breaker, attempts[i].ok, attempts[i].reason, tg_clock_seconds(), tg_clock_seconds());
        tg_obs_record_attempt(v, p, attempts[i].seconds);
    }
    tg_obs_record_attempt(v, 7, 1.0);  /* out of range: ignored */
    tg_health_evaluate(h, tg_clock_seconds(), NULL, NULL);
    /* b failed 5 times in a row: its breaker opened, for 30 s */

    /* The ratios are read at scrape time; the flags show as bound until synced. */
    char *text = render(obs, "providers");
    assert_line(text, "tg_provider_health_score{provider=\"a\"} 0.75");
    assert_line(text, "tg_provider_availability_ratio{provider=\"a\"} 0.75");
    assert_line(text, "tg_provider_error_rate_ratio{provider=\"a\"} 0.5");
    assert_line(text, "tg_provider_availability_ratio{provider=\"b\"} 0");
    assert_line(text, "tg_provider_health_status{provider=\"b\"} 1");
    assert_line(text, "tg_provider_circuit_breaker_state{provider=\"b\"} 0");
    assert_line(text, "tg_provider_circuit_breaker_cooldown_seconds{provider=\"a\"} 0");
    assert_non_null(strstr(text, "tg_provider_circuit_breaker_cooldown_seconds{provider=\"b\"} 29."));
    assert_line(text, "tg_provider_circuit_breaker_transitions_total{provider=\"b\",from=\"closed\",to=\"open\"} 1");
    assert_no_line_starting(text, "tg_provider_circuit_breaker_transitions_total{provider=\"a\"");
    free(text);
    tg_obs_sync_provider_state(obs);
    text = render(obs, "providers");
    assert_line(text, "tg_provider_health_status{provider=\"a\"} 1");
    assert_line(text, "tg_provider_health_status{provider=\"b\"} 0");
    assert_line(text, "tg_provider_circuit_breaker_state{provider=\"a\"} 0");
    assert_line(text, "tg_provider_circuit_breaker_state{provider=\"b\"} 1");
    assert_line(text, "tg_provider_circuit_breaker{provider=\"b\",tg_provider_circuit_breaker=\"open\"} 1");
    assert_line(text, "tg_provider_circuit_breaker{provider=\"b\",tg_provider_circuit_breaker=\"closed\"} 0");
    assert_line(text, "tg_provider_response_time_seconds_count{provider=\"a\"} 4");
    assert_line(text, "tg_provider_response_time_seconds_count{provider=\"b\"} 5");
    assert_no_line_starting(text, "tg_http_requests_total");
    free(text);
    tg_obs_free(obs);
    tg_health_free(h);
    tg_config_free(cfg);
}

/* The (provider, upstream model) breakers: a state series per configured
 * pair, read at scrape; a transition's series from its first. */
static void test_model_breaker_families(void **state)
{
    tg_obs_t *obs = new_obs("tg");
    tg_config_t *cfg = load_yaml("providers:\n  - { name: a, base_url: \"http://127.0.0.1:9/v1\" }\n"
                                 "models:\n"
                                 "  - { name: g, routes: [ { provider: a, model: good, breaker: {} } ] }\n"
                                 "  - { name: m, routes: [ { provider: a, model: bad, breaker: { failures: 1 } } ] }\n");
    tg_health_t *h = tg_health_new();
    const tg_health_view_t *hv = tg_health_bind(h, cfg);
    tg_obs_bind(obs, cfg, hv);
    tg_health_route_breaker_report(hv, cfg, &cfg->models[1].routes[0], false, TG_RETRY_STATUS_5XX, tg_clock_seconds(), tg_clock_seconds());
    char *text = render(obs, "providers");
    assert_line(text, "tg_provider_model_circuit_breaker_state{provider=\"a\",upstream_model=\"good\"} 0");
    assert_line(text, "tg_provider_model_circuit_breaker_state{provider=\"a\",upstream_model=\"bad\"} 1");
    assert_line(text, "tg_provider_model_circuit_breaker_transitions_total{provider=\"a\",upstream_model=\"bad\","
                      "from=\"closed\",to=\"open\"} 1");
    assert_no_line_starting(text, "tg_provider_model_circuit_breaker_transitions_total{provider=\"a\","
                                  "upstream_model=\"good\"");
    assert_line(text, "tg_provider_circuit_breaker_state{provider=\"a\"} 0");
    free(text);
    tg_obs_free(obs);
    tg_health_free(h);
    tg_config_free(cfg);
}

static void test_housekeeping_durations(void **state)
{
    tg_obs_t *obs = new_obs("tg");
    tg_obs_record_housekeeping(obs, "tick", 0.00002);
    tg_obs_record_housekeeping(obs, "tick", 0.2);
    tg_obs_record_housekeeping(obs, "provider_health", 0.003);
    char *text = render(obs, "system");
    assert_line(text, "tg_housekeeping_duration_seconds_count{task=\"tick\"} 2");
    assert_line(text, "tg_housekeeping_duration_seconds_bucket{task=\"tick\",le=\"0.0001\"} 1");
    assert_line(text, "tg_housekeeping_duration_seconds_bucket{task=\"tick\",le=\"0.1\"} 1");
    assert_line(text, "tg_housekeeping_duration_seconds_bucket{task=\"tick\",le=\"0.5\"} 2");
    assert_line(text, "tg_housekeeping_duration_seconds_bucket{task=\"provider_health\",le=\"0.005\"} 1");
    assert_line(text, "tg_housekeeping_duration_seconds_sum{task=\"provider_health\"} 0.003");
    free(text);
    tg_obs_free(obs);
}

static void test_reload_keeps_state_by_name(void **state)
{
    tg_obs_t *obs = new_obs("tg");
    assert_null(tg_obs_current_view(obs));
    tg_health_t *h = tg_health_new();
    tg_config_t *cfg1 = load_yaml(two_providers_yaml);
    const tg_obs_view_t *v1 = tg_obs_bind(obs, cfg1, tg_health_bind(h, cfg1));
    for (int i = 0; i < TG_HEALTH_MIN_ATTEMPTS; i++)
        tg_health_report_attempt(tg_obs_view_health(v1), 1, false, TG_RETRY_CONNECT, 0.1);
    tg_health_evaluate(h, tg_clock_seconds(), NULL, NULL);
    /* The new config drops "a", keeps "b" (now index 0) and adds "c". */
    tg_config_t *cfg2 = load_yaml("providers:\n"
                           "  - { name: b, base_url: \"http://127.0.0.1:9\" }\n"
                           "  - { name: c, base_url: \"http://127.0.0.1:9\" }\n"
                           "models:\n"
                           "  - name: m3\n"
                           "    routes: [ { provider: c } ]\n");
    const tg_obs_view_t *v2 = tg_obs_bind(obs, cfg2, tg_health_bind(h, cfg2));
    assert_ptr_equal(tg_obs_current_view(obs), v2);
    assert_int_equal(tg_health_provider_count(tg_obs_view_health(v2)), 2);
    /* The old view still works for requests still running on it. */
    tg_obs_record_retry(v1, 0, TG_RETRY_RESET);
    char *text = render(obs, NULL);
    /* "b" keeps its state: shown at bind, before any sync */
    assert_line(text, "tg_provider_health_status{provider=\"b\"} 0");
    assert_line(text, "tg_provider_error_rate_ratio{provider=\"b\"} 1");
    assert_line(text, "tg_provider_health_status{provider=\"c\"} 1");
    assert_line(text, "tg_provider_health_score{provider=\"c\"} 1");
    assert_no_line_starting(text, "tg_provider_health_score{provider=\"a\"}");
    assert_line(text, "tg_llm_retries_total{provider=\"a\",reason=\"reset\"} 1");
    assert_no_line_starting(text, "tg_model_uptime_24h_ratio{model=\"m3\"}"); /* no call yet */
    free(text);
    tg_obs_free(obs);
    tg_health_free(h);
    tg_config_free(cfg1);
    tg_config_free(cfg2);
}

/* A view is kept for the life of the process, so a reload that keeps the
 * provider and model names and the prices (nearly all do) must get the
 * view it already has, not a new one: each held ~1.75 KB for good. */
static void test_reload_reuses_views(void **state)
{
    tg_obs_t *obs = new_obs("tg");
    tg_config_t *cfg1 = load_yaml(two_providers_yaml);
    const tg_obs_view_t *v1 = tg_obs_bind(obs, cfg1, NULL);
    assert_non_null(v1);
    char *text = render(obs, NULL);
    assert_no_line_starting(text, "tg_llm_tokens_total{provider=\"a\",model=\"m2\"");
    free(text);
    /* Other URLs and timeouts, and a new route: the same view (whose
     * children for the new route come with its first call). */
    tg_config_t *same = load_yaml("providers:\n"
                                "  - { name: a, base_url: \"http://127.0.0.1:10/v1\", timeout_ms: 7 }\n"
                                "  - { name: b, base_url: \"http://127.0.0.1:11/v1\" }\n"
                                "models:\n"
                                "  - name: m1\n"
                                "    routes: [ { provider: b } ]\n"
                                "    pricing: { input: 1.0, cached_input: 0.5, output: 2.0 }\n"
                                "  - name: m2\n"
                                "    routes: [ { provider: b }, { provider: a } ]\n");
    assert_ptr_equal(tg_obs_bind(obs, same, NULL), v1);
    tg_obs_llm_result_t r = {.provider = 0, .model = 1, .status = TG_LLM_SUCCESS, .prompt_tokens = 3,
                        .ttft_seconds = -1, .cost_dollars = -1};
    tg_obs_record_llm(v1, &r);
    text = render(obs, NULL);
    assert_line(text, "tg_llm_tokens_total{provider=\"a\",model=\"m2\",type=\"prompt\"} 3");
    free(text);
    /* A new price is a new view; going back finds the first one again. */
    tg_config_t *dearer = load_yaml("providers:\n"
                                  "  - { name: a, base_url: \"http://127.0.0.1:9/v1\" }\n"
                                  "  - { name: b, base_url: \"http://127.0.0.1:9/v1\" }\n"
                                  "models:\n"
                                  "  - name: m1\n"
                                  "    routes: [ { provider: a } ]\n"
                                  "    pricing: { input: 1.0, cached_input: 0.5, output: 3.0 }\n"
                                  "  - name: m2\n"
                                  "    routes: [ { provider: b } ]\n");
    const tg_obs_view_t *v2 = tg_obs_bind(obs, dearer, NULL);
    assert_non_null(v2);
    assert_ptr_not_equal(v2, v1);
    assert_ptr_equal(tg_obs_current_view(obs), v2);
    assert_ptr_equal(tg_obs_bind(obs, cfg1, NULL), v1);
    assert_ptr_equal(tg_obs_current_view(obs), v1);
    tg_obs_free(obs);
    tg_config_free(cfg1);
    tg_config_free(same);
    tg_config_free(dearer);
}

static void test_route_and_method_classification(void **state)
{
    const char *cat = "x";
    assert_int_equal(tg_route_from_path("/v1/chat/completions", 20, &cat), TG_ROUTE_CHAT);
    assert_null(cat);
    assert_int_equal(tg_route_from_path("/metrics?x=1", 12, NULL), TG_ROUTE_METRICS);
    assert_int_equal(tg_route_from_path("/analytics/prometheus", 21, NULL), TG_ROUTE_ANALYTICS);
    assert_int_equal(tg_route_from_path("/prometheus/metrics/models", 26, &cat), TG_ROUTE_PROM_CATEGORY);
    assert_string_equal(cat, "models");
    assert_int_equal(tg_route_from_path("/prometheus/metrics/bogus", 25, &cat), TG_ROUTE_PROM_CATEGORY);
    assert_null(cat);
    assert_int_equal(tg_route_from_path("/prometheus/metrics/", 20, &cat), TG_ROUTE_OTHER);
    assert_int_equal(tg_route_from_path("/v1/chat/completionsX", 21, NULL), TG_ROUTE_OTHER);
    assert_int_equal(tg_route_from_path("/health", 6, NULL), TG_ROUTE_OTHER);  /* length counts */
    assert_int_equal(tg_method_from_name("POST", 4), TG_METHOD_POST);
    assert_int_equal(tg_method_from_name("POSTX", 5), TG_METHOD_OTHER);
    assert_string_equal(tg_route_template(TG_ROUTE_PROM_CATEGORY), "/prometheus/metrics/{category}");
    assert_string_equal(tg_llm_status_name(TG_LLM_CLIENT_DISCONNECT), "client_disconnect");
    assert_string_equal(tg_error_code_name(TG_CODE_UPSTREAM_TIMEOUT), "upstream_timeout");
    assert_string_equal(tg_error_type_name((tg_error_type_t)42), "unknown");
}

#define RECORD_THREADS 4
#define RECORDS_PER_THREAD 5000

static void *record_many(void *arg)
{
    const tg_obs_view_t *v = arg;
    for (int i = 0; i < RECORDS_PER_THREAD; i++) {
        tg_obs_llm_result_t r = {.provider = (size_t)(i & 1), .model = i % 3 == 2 ? -1 : 0,
                            .status = TG_LLM_SUCCESS, .duration_seconds = 0.3,
                            .prompt_tokens = 3, .completion_tokens = 1, .cost_dollars = -1,
                            .ttft_seconds = -1, .trace_id = "0af7651916cd43dd8448eb211c80319c"};
        tg_obs_record_llm(v, &r);
        tg_obs_record_http(v, TG_ROUTE_CHAT, TG_METHOD_POST, i % 2 ? 200 : 418, 0.3, r.trace_id);
        tg_health_report_attempt(tg_obs_view_health(v), r.provider, i % 4 != 0, TG_RETRY_RESET, 0.3);
        tg_obs_record_attempt(v, r.provider, 0.3);
        tg_obs_http_in_progress(v, TG_ROUTE_CHAT, TG_METHOD_POST, 1);
        tg_obs_http_in_progress(v, TG_ROUTE_CHAT, TG_METHOD_POST, -1);
    }
    return NULL;
}

static void *scrape_many(void *arg)
{
    for (int i = 0; i < 20; i++)
        free(render(arg, NULL));
    return NULL;
}

/* Worker threads recording (including first-use lookups racing each other)
 * while another thread scrapes: every count is exact at the end. */
static void test_concurrent_recording(void **state)
{
    tg_obs_t *obs = new_obs("tg");
    tg_config_t *cfg = load_yaml(two_providers_yaml);
    tg_health_t *h = tg_health_new();
    const tg_obs_view_t *v = tg_obs_bind(obs, cfg, tg_health_bind(h, cfg));
    pthread_t t[RECORD_THREADS + 1];
    for (int i = 0; i < RECORD_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, record_many, (void *)v), 0);
    assert_int_equal(pthread_create(&t[RECORD_THREADS], NULL, scrape_many, obs), 0);
    for (int i = 0; i <= RECORD_THREADS; i++)
        pthread_join(t[i], NULL);

    char *text = render(obs, NULL);
    char line[512];
    int total = RECORD_THREADS * RECORDS_PER_THREAD;
    snprintf(line, sizeof(line), "tg_http_requests_total{method=\"POST\",path=\"/v1/chat/completions\",status=\"418\"} %d", total / 2);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_http_request_duration_seconds_count{method=\"POST\",path=\"/v1/chat/completions\"} %d", total);
    assert_line(text, line);
    assert_line(text, "tg_http_requests_in_progress{method=\"POST\",path=\"/v1/chat/completions\"} 0");
    /* i % 3 == 2 went to "other": per thread, i in [0, 5000) gives 1666 of them. */
    int other = RECORD_THREADS * (RECORDS_PER_THREAD / 3);
    int other_a = 0;
    for (int i = 0; i < RECORDS_PER_THREAD; i++)
        other_a += i % 3 == 2 && (i & 1) == 0;
    other_a *= RECORD_THREADS;
    snprintf(line, sizeof(line), "tg_llm_requests_total{provider=\"a\",model=\"other\",operation=\"chat\",stream_mode=\"non_streaming\",status=\"success\"} %d", other_a);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_tokens_total{provider=\"b\",model=\"other\",type=\"prompt\"} %d", 3 * (other - other_a));
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_llm_tokens_total{provider=\"a\",model=\"m1\",type=\"completion\"} %d", total / 2 - other_a);
    assert_line(text, line);
    snprintf(line, sizeof(line), "tg_provider_response_time_seconds_count{provider=\"a\"} %d", total / 2);
    assert_line(text, line);
    assert_line(text, "tg_provider_error_rate_ratio{provider=\"a\"} 0.5");
    free(text);
    tg_obs_free(obs);
    tg_health_free(h);
    tg_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_complete),
        cmocka_unit_test(test_empty_namespace_gives_bare_names),
        cmocka_unit_test(test_llm_recording),
        cmocka_unit_test(test_genai_off_by_default),
        cmocka_unit_test(test_genai_recording),
        cmocka_unit_test(test_http_errors_retries_fallbacks),
        cmocka_unit_test(test_provider_state_from_health),
        cmocka_unit_test(test_model_breaker_families),
        cmocka_unit_test(test_housekeeping_durations),
        cmocka_unit_test(test_reload_keeps_state_by_name),
        cmocka_unit_test(test_reload_reuses_views),
        cmocka_unit_test(test_route_and_method_classification),
        cmocka_unit_test(test_concurrent_recording),
    };
    return cmocka_run_group_tests(tests, yaml_setup, yaml_teardown);
}
