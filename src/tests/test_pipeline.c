/* test_pipeline.c: unit tests of the request-path stages: parse + validate
 * (every 400/413 case of the contract, upstream body rewriting), auth,
 * route (and the routes health/ rules out), account (exact token, cost and log numbers through the real
 * metric registry) and the request-id / traceparent helpers. */
#define _GNU_SOURCE /* memmem */
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

#include "obs/endpoints.h"
#include "obs/log.h"
#include "pipeline/account.h"
#include "pipeline/auth.h"
#include "pipeline/parse.h"
#include "pipeline/route.h"
#include "pipeline/stages.h"
#include "server/ids.h"

static const char config_yaml[] = "server:\n"
                                  "  listen: \"127.0.0.1:0\"\n"
                                  "metrics:\n"
                                  "  namespace: tg\n"
                                  "auth:\n"
                                  "  allow_anonymous: %s\n"
                                  "providers:\n"
                                  "  - name: first\n"
                                  "    base_url: \"http://127.0.0.1:1/v1\"\n"
                                  "  - name: second\n"
                                  "    base_url: \"http://127.0.0.1:2/v1\"\n"
                                  "models:\n"
                                  "  - name: gpt-4o-mini\n"
                                  "    routes:\n"
                                  "      - provider: first\n"
                                  "        model: upstream-mini\n"
                                  "      - provider: second\n"
                                  "        model: other-mini\n"
                                  "    pricing: { input: 0.15, cached_input: 0.075, output: 0.60 }\n";

static tg_config_t *load_config(bool anonymous)
{
    char path[] = "/tmp/tollgate-test-pipeline-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, config_yaml, anonymous ? "true" : "false");
    fclose(f);
    char *err = NULL;
    tg_config_t *cfg = tg_config_load(path, &err);
    unlink(path);
    if (cfg == NULL)
        fail_msg("config: %s", err);
    return cfg;
}

/* ------------------------------------------------------------------ parse */

static int parse(const char *body, tg_operation_t op, size_t limit, tg_parse_out_t *out)
{
    tg_parse_in_t in = {.body = body, .body_len = strlen(body), .max_body_bytes = limit, .operation = op};
    return tg_parse_request(&in, out);
}

static void expect_error(const char *body, tg_operation_t op, size_t limit, int status, tg_error_code_t code)
{
    tg_parse_out_t out;
    assert_int_equal(parse(body, op, limit, &out), -1);
    assert_int_equal(out.error.status, status);
    assert_int_equal(out.error.code, code);
    assert_int_equal(out.error.type, TG_ERR_INVALID_REQUEST);
}

static void test_parse_rejects_bad_bodies(void **state)
{
    expect_error("", TG_OP_CHAT, 1024, 400, TG_CODE_INVALID_JSON);
    expect_error("{bad", TG_OP_CHAT, 1024, 400, TG_CODE_INVALID_JSON);
    expect_error("[1,2]", TG_OP_CHAT, 1024, 400, TG_CODE_INVALID_JSON);
    expect_error("{\"model\":\"a\",\"model\":\"b\",\"messages\":[]}", TG_OP_CHAT, 1024, 400, TG_CODE_INVALID_JSON);
    expect_error("{\"model\":\"m\",\"messages\":[]} x", TG_OP_CHAT, 1024, 400, TG_CODE_INVALID_JSON);
    expect_error("{\"model\":\"m\",\"messages\":[01]}", TG_OP_CHAT, 1024, 400, TG_CODE_INVALID_JSON);
    expect_error("{\"model\":\"\xff\",\"messages\":[]}", TG_OP_CHAT, 1024, 400, TG_CODE_INVALID_JSON);
    expect_error("{\"model\":\"\",\"messages\":[]}", TG_OP_CHAT, 1024, 400, TG_CODE_MISSING_MODEL);
    expect_error("{\"messages\":[]}", TG_OP_CHAT, 1024, 400, TG_CODE_MISSING_MODEL);
    expect_error("{\"model\":7,\"messages\":[]}", TG_OP_CHAT, 1024, 400, TG_CODE_MISSING_MODEL);
    expect_error("{\"model\":\"m\"}", TG_OP_CHAT, 1024, 400, TG_CODE_INVALID_REQUEST);
    expect_error("{\"model\":\"m\",\"messages\":\"hi\"}", TG_OP_CHAT, 1024, 400, TG_CODE_INVALID_REQUEST);
    expect_error("{\"model\":\"m\"}", TG_OP_EMBEDDINGS, 1024, 400, TG_CODE_INVALID_REQUEST);
    expect_error("{\"model\":\"m\",\"messages\":[]}", TG_OP_CHAT, 10, 413, TG_CODE_BODY_TOO_LARGE);
}

/* A key spelt with escapes is the same key to the provider's JSON parser
 * (which keeps the last duplicate): the gateway must see it too, or a
 * client routes and is billed as one model while the provider runs
 * another. */
static void test_parse_sees_escaped_keys(void **state)
{
    expect_error("{\"model\":\"cheap\",\"mod\\u0065l\":\"dear\",\"messages\":[]}", TG_OP_CHAT, 1024, 400,
                 TG_CODE_INVALID_JSON);
    expect_error("{\"model\":\"m\",\"messages\":[],\"stream\":false,\"str\\u0065am\":true}", TG_OP_CHAT, 1024,
                 400, TG_CODE_INVALID_JSON);

    tg_parse_out_t out;
    assert_int_equal(parse("{\"mod\\u0065l\":\"gpt-4o\",\"m\\u0065ssages\":[],\"\\u0073tream\":true,"
                           "\"stream_options\":{\"include\\u005fusage\":true}}",
                           TG_OP_CHAT, 1024, &out),
                     0);
    assert_int_equal(out.model_len, 6);
    assert_memory_equal(out.model, "gpt-4o", 6);
    assert_true(out.stream);
    assert_true(out.usage_requested);
}

/* Only the members the gateway reads must be unique (docs/gateway-behaviour.md);
 * any other repeated key, top-level or nested, goes to the provider as sent,
 * whose parser decides what it means. A message object's "model" is not the
 * top-level one. */
static void test_parse_passes_other_duplicates(void **state)
{
    tg_parse_out_t out;
    assert_int_equal(parse("{\"model\":\"m\",\"temperature\":1,\"temperature\":2,"
                           "\"messages\":[{\"role\":\"user\",\"role\":\"system\",\"content\":\"x\","
                           "\"model\":\"a\",\"model\":\"b\"}],\"metadata\":{\"k\":1,\"k\":2}}",
                           TG_OP_CHAT, 1024, &out),
                     0);
    assert_int_equal(out.model_len, 1);
    assert_memory_equal(out.model, "m", 1);
    expect_error("{\"model\":\"m\",\"messages\":[],\"stream\":true,"
                 "\"stream_options\":{\"include_usage\":false,\"include_usage\":true}}",
                 TG_OP_CHAT, 1024, 400, TG_CODE_INVALID_JSON);
}

static void test_parse_reads_stream_flags(void **state)
{
    tg_parse_out_t out;
    assert_int_equal(parse("{\"model\":\"gpt-4o-mini\",\"messages\":[],\"stream\":true}", TG_OP_CHAT, 1024, &out), 0);
    assert_int_equal(out.model_len, 11);
    assert_memory_equal(out.model, "gpt-4o-mini", 11);
    assert_true(out.stream);
    assert_false(out.usage_requested);

    assert_int_equal(parse("{\"model\":\"m\",\"messages\":[],\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
                           TG_OP_CHAT, 1024, &out),
                     0);
    assert_true(out.usage_requested);

    /* escapes in the name are decoded for routing */
    assert_int_equal(parse("{\"model\":\"gpt\\u002d4o\",\"messages\":[]}", TG_OP_CHAT, 1024, &out), 0);
    assert_int_equal(out.model_len, 6);
    assert_memory_equal(out.model, "gpt-4o", 6);

    assert_int_equal(parse("{\"model\":\"m\",\"input\":[\"a\",\"b\"]}", TG_OP_EMBEDDINGS, 1024, &out), 0);
    assert_false(out.stream);

    /* the operations that stream; the others' "stream" is the provider's to judge */
    assert_int_equal(parse("{\"model\":\"m\",\"input\":\"a\",\"stream\":true}", TG_OP_RESPONSES, 1024, &out), 0);
    assert_true(out.stream);
    assert_int_equal(parse("{\"model\":\"m\",\"prompt\":\"a\",\"stream\":true}", TG_OP_COMPLETIONS, 1024, &out), 0);
    assert_true(out.stream);
    assert_int_equal(parse("{\"model\":\"m\",\"input\":\"a\",\"stream\":true}", TG_OP_EMBEDDINGS, 1024, &out), 0);
    assert_false(out.stream);
    assert_int_equal(parse("{\"model\":\"m\",\"prompt\":\"a\",\"stream\":true}", TG_OP_IMAGE, 1024, &out), 0);
    assert_false(out.stream);
    assert_int_equal(parse("{\"model\":\"m\",\"input\":\"a\",\"stream\":true}", TG_OP_AUDIO_SPEECH, 1024, &out), 0);
    assert_false(out.stream);
}

static void expect_upstream_body(const char *client, bool add_usage, const char *expected)
{
    tg_parse_out_t out;
    assert_int_equal(parse(client, TG_OP_CHAT, 4096, &out), 0);
    char small[8], buf[512];
    size_t need = tg_parse_build_upstream_body(client, strlen(client), &out.members, "up\"model", add_usage, small,
                                               sizeof(small));
    size_t len = tg_parse_build_upstream_body(client, strlen(client), &out.members, "up\"model", add_usage, buf,
                                              sizeof(buf));
    assert_int_equal(len, need);
    buf[len] = '\0';
    assert_string_equal(buf, expected);
}

static void test_upstream_body_rewrites_model_and_usage(void **state)
{
    /* everything but the edited spans is forwarded byte for byte */
    expect_upstream_body("{\"model\": \"gpt-4o-mini\", \"messages\": [ {\"role\":\"user\"} ] }", false,
                         "{\"model\": \"up\\\"model\", \"messages\": [ {\"role\":\"user\"} ] }");
    expect_upstream_body("{\"messages\":[],\"model\":\"m\",\"stream\":true}", true,
                         "{\"messages\":[],\"model\":\"up\\\"model\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    expect_upstream_body("{\"stream_options\":{\"x\":1},\"model\":\"m\",\"messages\":[]}", true,
                         "{\"stream_options\":{\"include_usage\":true,\"x\":1},\"model\":\"up\\\"model\",\"messages\":[]}");
    expect_upstream_body("{\"model\":\"m\",\"messages\":[],\"stream_options\":{ }}", true,
                         "{\"model\":\"up\\\"model\",\"messages\":[],\"stream_options\":{\"include_usage\":true }}");
    expect_upstream_body("{\"model\":\"m\",\"messages\":[],\"stream_options\":{\"include_usage\":false}}", true,
                         "{\"model\":\"up\\\"model\",\"messages\":[],\"stream_options\":{\"include_usage\":true}}");
    expect_upstream_body("{\"model\":\"m\",\"messages\":[],\"stream_options\":null}", true,
                         "{\"model\":\"up\\\"model\",\"messages\":[],\"stream_options\":{\"include_usage\":true}}");
    /* a nested include_usage is not the one that counts */
    expect_upstream_body("{\"model\":\"m\",\"messages\":[{\"stream_options\":{\"include_usage\":true}}]}", true,
                         "{\"model\":\"up\\\"model\",\"messages\":[{\"stream_options\":{\"include_usage\":true}}],"
                         "\"stream_options\":{\"include_usage\":true}}");
}

/* The validator accepts exactly what jansson accepts as a JSON object, on
 * mutations of valid bodies (no \u escapes or long numbers, where the two
 * are allowed to differ: lone surrogates, integer range). */
static void test_validator_agrees_with_jansson(void **state)
{
    static const char *seeds[] = {
        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9llo \\\"x\\\"\"}],\"n\":-1.5e3}",
        "{\"a\":[true,false,null,{\"b\":{}}],\"c\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"d\":0.25}",
        " { \"stream\" : true , \"stream_options\" : { \"include_usage\" : false } } ",
    };
    static const char alphabet[] = "{}[]\":,.-+eE \t\ntrufalsn\\/\x80\xc3\xff";
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int accepted = 0, rejected = 0;
    for (int round = 0; round < 20000; round++) {
        char buf[256];
        const char *base = seeds[round % 3];
        size_t len = strlen(base);
        memcpy(buf, base, len);
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(seed >> 33) % len;
            char c = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
            switch ((seed >> 50) % 3) {
            case 0: buf[at] = c; break;                                     /* replace */
            case 1: memmove(buf + at, buf + at + 1, len - at - 1); len--; break; /* delete */
            default:                                                       /* insert */
                if (len + 1 < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = c;
                    len++;
                }
            }
        }
        json_error_t err;
        json_t *j = json_loadb(buf, len, 0, &err);
        bool jansson_ok = j != NULL && json_is_object(j);
        json_decref(j);
        tg_json_body_t members;
        bool ours_ok = tg_json_body_scan(buf, len, &members) == 0;
        if (jansson_ok != ours_ok && memmem(buf, len, "\\u", 2) == NULL)
            fail_msg("disagree (jansson %d, ours %d) on: %.*s", jansson_ok, ours_ok, (int)len, buf);
        ours_ok ? accepted++ : rejected++;
    }
    assert_true(accepted > 100 && rejected > 100); /* both sides were exercised */
}

/* ------------------------------------------------------------ auth, route */

static void test_auth_and_route(void **state)
{
    tg_config_t *cfg = load_config(true);
    tg_auth_in_t ain = {.allow_anonymous = cfg->auth.allow_anonymous};
    tg_auth_out_t aout;
    assert_int_equal(tg_auth_check(&ain, &aout), TG_AUTH_ANONYMOUS);

    tg_route_in_t rin = {cfg, "gpt-4o-mini", 11};
    tg_route_out_t rout;
    assert_int_equal(tg_route_select(&rin, &rout), 0);
    assert_int_equal(rout.model_index, 0);
    assert_int_equal(rout.route_count, 2);
    assert_string_equal(rout.routes[0].upstream_model, "upstream-mini");
    assert_int_equal(rout.routes[1].provider, 1);

    rin.model = "gpt-4o-minimal";
    rin.model_len = 14;
    assert_int_equal(tg_route_select(&rin, &rout), -1);
    assert_int_equal(rout.model_index, -1);
    assert_int_equal(rout.error.status, 404);
    assert_int_equal(rout.error.code, TG_CODE_MODEL_NOT_FOUND);
    tg_config_free(cfg);

    cfg = load_config(false);
    ain.allow_anonymous = cfg->auth.allow_anonymous;
    assert_int_equal(tg_auth_check(&ain, &aout), TG_AUTH_REFUSED);
    assert_int_equal(aout.error.status, 401);
    assert_int_equal(aout.error.code, TG_CODE_INVALID_API_KEY);
    tg_config_free(cfg);
}

/* Opens provider i's breaker the way traffic does. */
static void open_breaker(const tg_config_t *cfg, const tg_health_view_t *hv, size_t i)
{
    for (uint32_t n = 0; n < cfg->providers[i].breaker.failures; n++)
        tg_health_breaker_report(hv, i, &cfg->providers[i].breaker, false, TG_RETRY_RESET, tg_clock_seconds(), tg_clock_seconds());
}

/* The route stage leaves out a provider whose breaker is open, and answers
 * 503 all_providers_unavailable at once, with Retry-After, when that
 * leaves none. */
static void test_route_skips_unusable_providers(void **state)
{
    tg_config_t *cfg = load_config(true);
    tg_health_t *health = tg_health_new();
    const tg_health_view_t *hv = tg_health_bind(health, cfg);
    h2o_req_t req;
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    tg_request_t r;
    memset(&r, 0, sizeof(r));
    r.req = &req;
    r.env.cfg = cfg;
    r.env.health = hv;
    r.parsed.model = "gpt-4o-mini";
    r.parsed.model_len = 11;

    assert_int_equal(tg_stage_route(&r), TG_STAGE_CONTINUE);
    assert_ptr_equal(r.routes, cfg->models[0].routes);  /* nothing ruled out: no copy */
    assert_int_equal(r.route_count, 2);

    open_breaker(cfg, hv, 0);
    assert_int_equal(tg_stage_route(&r), TG_STAGE_CONTINUE);
    assert_int_equal(r.route_count, 1);
    assert_int_equal(r.routes[0].provider, 1);
    assert_string_equal(r.routes[0].upstream_model, "other-mini");

    open_breaker(cfg, hv, 1);
    assert_int_equal(tg_stage_route(&r), TG_STAGE_RESPOND);
    assert_int_equal(r.error.status, 503);
    assert_int_equal(r.error.code, TG_CODE_ALL_PROVIDERS_UNAVAILABLE);
    assert_int_equal(r.error.retry_after, cfg->providers[0].breaker.cooldown_ms / 1000);

    h2o_mem_clear_pool(&req.pool);
    tg_health_free(health);
    tg_config_free(cfg);
}

/* Every strategy orders only the usable routes: lowest_latency puts the
 * provider with the lower peak latency first, health_score the one with
 * fewer errors, weighted picks by weight (3:1 over 4,000 requests); an
 * open breaker leaves its route out of each. */
static void test_route_orders_by_strategy(void **state)
{
    tg_config_t *cfg = load_config(true);
    tg_health_t *health = tg_health_new();
    const tg_health_view_t *hv = tg_health_bind(health, cfg);
    h2o_req_t req;
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    tg_rng_t rng = {0x9e3779b97f4a7c15ull};
    tg_request_t r;
    memset(&r, 0, sizeof(r));
    r.req = &req;
    r.env.cfg = cfg;
    r.env.health = hv;
    r.env.rng = &rng;
    r.parsed.model = "gpt-4o-mini";
    r.parsed.model_len = 11;
    tg_model_config_t *m = &cfg->models[0];

    m->strategy = TG_STRATEGY_LOWEST_LATENCY;
    assert_int_equal(tg_stage_route(&r), TG_STAGE_CONTINUE);
    assert_int_equal(r.routes[0].provider, 0); /* neither measured: priority */
    tg_health_report_attempt(hv, 0, true, 0, 0.5);
    tg_health_report_attempt(hv, 1, true, 0, 0.1);
    assert_int_equal(tg_stage_route(&r), TG_STAGE_CONTINUE);
    assert_int_equal(r.route_count, 2);
    assert_int_equal(r.routes[0].provider, 1);
    assert_string_equal(r.routes[0].upstream_model, "other-mini");
    assert_int_equal(r.routes[1].provider, 0);

    m->strategy = TG_STRATEGY_HEALTH_SCORE;
    assert_int_equal(tg_stage_route(&r), TG_STAGE_CONTINUE);
    assert_int_equal(r.routes[0].provider, 0); /* both score 1 (0.5 s is a full latency score) */
    tg_health_report_attempt(hv, 0, false, TG_RETRY_STATUS_5XX, 0.1);
    assert_int_equal(tg_stage_route(&r), TG_STAGE_CONTINUE);
    assert_int_equal(r.routes[0].provider, 1);

    m->strategy = TG_STRATEGY_WEIGHTED;
    m->routes[0].weight = 3;
    unsigned first[2] = {0};
    for (int i = 0; i < 4000; i++) {
        assert_int_equal(tg_stage_route(&r), TG_STAGE_CONTINUE);
        assert_int_equal(r.route_count, 2);
        first[r.routes[0].provider]++;
    }
    assert_in_range(first[0], 3000 - 90, 3000 + 90); /* 3.3 standard deviations */

    open_breaker(cfg, hv, 1);
    for (int s = TG_STRATEGY_WEIGHTED; s < TG_STRATEGY_COUNT; s++) {
        m->strategy = (tg_strategy_t)s;
        for (int i = 0; i < 20; i++) {
            assert_int_equal(tg_stage_route(&r), TG_STAGE_CONTINUE);
            assert_int_equal(r.route_count, 1);
            assert_int_equal(r.routes[0].provider, 0);
        }
    }
    open_breaker(cfg, hv, 0);
    assert_int_equal(tg_stage_route(&r), TG_STAGE_RESPOND);
    assert_int_equal(r.error.code, TG_CODE_ALL_PROVIDERS_UNAVAILABLE);

    h2o_mem_clear_pool(&req.pool);
    tg_health_free(health);
    tg_config_free(cfg);
}

/* ---------------------------------------------------------------- account */

static void assert_metric(const char *body, const char *line)
{
    if (strstr(body, line) == NULL)
        fail_msg("missing metric line: %s", line);
}

static void test_account_records_tokens_cost_and_log(void **state)
{
    tg_config_t *cfg = load_config(true);
    tg_obs_opts_t opts = {.metric_namespace = "tg", .version = "test"};
    tg_obs_t *obs = tg_obs_new(&opts, NULL);
    assert_non_null(obs);
    const tg_obs_view_t *view = tg_obs_bind(obs, cfg, NULL);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    tg_log_configure(pipefd[1], TG_LOG_JSON, TG_LOG_INFO);

    tg_account_in_t in = {
        .cfg = cfg,
        .view = view,
        .llm_called = true,
        .model_index = 0,
        .provider_index = 1,
        .operation = TG_OP_CHAT,
        .stream_mode = TG_STREAMING,
        .llm_status = TG_LLM_SUCCESS,
        .usage = {.prompt_tokens = 1000, .completion_tokens = 200, .cached_tokens = 400, .present = 1},
        .duration_seconds = 0.25,
        .ttft_seconds = 0.05,
        .request_id = "req-1",
        .org_id = "anonymous",
        .trace_id = "0123456789abcdef0123456789abcdef",
        .method = "POST",
        .path = "/v1/chat/completions",
        .http_status = 200,
        .attempts = 2,
        .model_used = "other-mini",
    };
    tg_account_out_t out;
    tg_account_finish(&in, &out);
    /* (600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1e6 */
    assert_float_equal(out.cost, 0.00024, 1e-12);
    assert_int_equal(out.prompt_tokens, 1000);

    /* a client that left mid-stream: completion estimated from content deltas */
    in.usage = (tg_usage_t){0};
    in.tokens_estimated = true;
    in.content_events = 7;
    in.llm_status = TG_LLM_CLIENT_DISCONNECT;
    tg_account_finish(&in, &out);
    assert_int_equal(out.completion_tokens, 7);
    assert_int_equal(out.prompt_tokens, 0);

    tg_obs_response_t r;
    assert_int_equal(tg_obs_endpoint_metrics(obs, NULL, NULL, NULL, &r), 0);
    assert_metric(r.body, "tg_llm_tokens_total{provider=\"second\",model=\"gpt-4o-mini\",type=\"prompt\"} 1000\n");
    assert_metric(r.body, "tg_llm_tokens_total{provider=\"second\",model=\"gpt-4o-mini\",type=\"cached_prompt\"} 400\n");
    assert_metric(r.body, "tg_llm_tokens_total{provider=\"second\",model=\"gpt-4o-mini\",type=\"completion\"} 207\n");
    assert_metric(r.body, "tg_llm_requests_total{provider=\"second\",model=\"gpt-4o-mini\",operation=\"chat\","
                          "stream_mode=\"streaming\",status=\"client_disconnect\"} 1\n");
    tg_obs_response_free(&r);

    tg_log_configure(2, TG_LOG_TEXT, TG_LOG_INFO);
    close(pipefd[1]);
    char logbuf[8192];
    ssize_t n = read(pipefd[0], logbuf, sizeof(logbuf) - 1);
    close(pipefd[0]);
    assert_true(n > 0);
    logbuf[n] = '\0';
    char *second = strchr(logbuf, '\n');
    assert_non_null(second);
    *second++ = '\0';
    json_t *line = json_loads(logbuf, 0, NULL);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "provider")), "second");
    assert_string_equal(json_string_value(json_object_get(line, "model_used")), "other-mini");
    assert_int_equal(json_integer_value(json_object_get(line, "prompt_tokens")), 1000);
    assert_int_equal(json_integer_value(json_object_get(line, "attempts")), 2);
    assert_false(json_is_true(json_object_get(line, "tokens_estimated")));
    json_decref(line);
    line = json_loads(second, 0, NULL);
    assert_non_null(line);
    assert_true(json_is_true(json_object_get(line, "tokens_estimated")));
    assert_int_equal(json_integer_value(json_object_get(line, "completion_tokens")), 7);
    json_decref(line);

    tg_obs_free(obs);
    tg_config_free(cfg);
}

/* -------------------------------------------------------------------- ids */

static void test_request_id(void **state)
{
    tg_rng_t rng;
    tg_rng_seed(&rng);
    char id[TG_REQUEST_ID_MAX + 1];
    tg_request_id(&rng, "abc-123", 7, id);
    assert_string_equal(id, "abc-123");

    tg_request_id(&rng, "has space", 9, id);
    assert_string_equal(id, "has space");

    tg_request_id(&rng, "tab\there", 8, id);
    assert_int_equal(strlen(id), 32);
    assert_int_equal(strspn(id, "0123456789abcdef"), 32);

    char longer[200];
    memset(longer, 'x', sizeof(longer));
    tg_request_id(&rng, longer, 129, id);
    assert_int_equal(strlen(id), 32);
    tg_request_id(&rng, longer, 128, id);
    assert_int_equal(strlen(id), 128);
    tg_request_id(&rng, NULL, 0, id);
    assert_int_equal(strlen(id), 32);
}

static void test_traceparent(void **state)
{
    tg_rng_t rng;
    tg_rng_seed(&rng);
    char tp[TG_TRACEPARENT_LEN + 1], trace[33], parent[17];
    static const char client[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    tg_traceparent(&rng, client, strlen(client), tp, trace, parent);
    assert_string_equal(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(parent, "00f067aa0ba902b7");   /* the client's span: the request span's parent */
    assert_memory_equal(tp, client, 36);               /* version and trace id kept */
    assert_memory_not_equal(tp + 36, client + 36, 16); /* a new span */
    assert_string_equal(tp + 52, "-01");

    static const char *bad[] = {
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* all-zero trace */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* upper case */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* unknown version */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "garbage",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tg_traceparent(&rng, bad[i], strlen(bad[i]), tp, trace, parent);
        assert_int_equal(strlen(tp), TG_TRACEPARENT_LEN);
        assert_string_equal(parent, "");
        assert_memory_equal(tp, "00-", 3);
        assert_memory_not_equal(trace, "4bf92f3577b34da6a3ce929d0e0e4736", 32);
        assert_memory_equal(tp + 3, trace, 32);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_rejects_bad_bodies),
        cmocka_unit_test(test_parse_sees_escaped_keys),
        cmocka_unit_test(test_parse_passes_other_duplicates),
        cmocka_unit_test(test_parse_reads_stream_flags),
        cmocka_unit_test(test_upstream_body_rewrites_model_and_usage),
        cmocka_unit_test(test_validator_agrees_with_jansson),
        cmocka_unit_test(test_auth_and_route),
        cmocka_unit_test(test_route_skips_unusable_providers),
        cmocka_unit_test(test_route_orders_by_strategy),
        cmocka_unit_test(test_account_records_tokens_cost_and_log),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_traceparent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
