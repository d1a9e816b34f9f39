/* test_trace.c - traces (obs/trace.h): the request's context from its
 * traceparent, attempt span ids, text attributes cut and cleaned, the OTLP
 * JSON of spans (ids in hex, times as strings, GenAI attributes, parents),
 * the bounded queue (order, drops counted when full, exports counted, from
 * several threads at once), and
 * the tracing section of the configuration. */
#define _GNU_SOURCE /* pthread_tryjoin_np */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "core/clock.h"
#include "obs/trace.h"
#include "tests/yaml_fixture.h"

static const char traceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01";

static void test_context(void **state)
{
    tg_trace_ctx_t t;
    double now = tg_clock_seconds();
    tg_trace_ctx_init(&t, traceparent, "00f067aa0ba902b7", now);
    char hex[33];
    tg_trace_hex(hex, t.trace_id, 16);
    assert_string_equal(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    tg_trace_hex(hex, t.span_id, 8);
    assert_string_equal(hex, "1111111111111111");
    tg_trace_hex(hex, t.parent_id, 8);
    assert_string_equal(hex, "00f067aa0ba902b7");
    assert_true(t.sampled);
    /* the wall clock of a later moment is that much later */
    assert_true(tg_trace_unix_ns(&t, now + 1.5) - t.start_unix_ns == 1500000000);

    tg_trace_ctx_init(&t, "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-00", "", now);
    assert_false(t.sampled);
    static const uint8_t zero[8];
    assert_memory_equal(t.parent_id, zero, 8); /* no client span: a root */
}

static void test_attempt_ids(void **state)
{
    tg_trace_ctx_t t;
    tg_trace_ctx_init(&t, traceparent, "", tg_clock_seconds());
    uint8_t a[8], b[8], again[8];
    tg_trace_attempt_id(&t, 1, a);
    tg_trace_attempt_id(&t, 2, b);
    tg_trace_attempt_id(&t, 1, again);
    assert_memory_not_equal(a, b, 8);
    assert_memory_not_equal(a, t.span_id, 8);
    assert_memory_equal(a, again, 8); /* the header sent and the span recorded agree */
}

static void test_text(void **state)
{
    char out[TG_SPAN_TEXT];
    tg_span_text(out, "gpt-4o", 6);
    assert_string_equal(out, "gpt-4o");
    tg_span_text(out, "a\xff\x01z", 4); /* invalid UTF-8 and a control byte */
    assert_string_equal(out, "a??z");
    char longer[200];
    memset(longer, 'x', sizeof(longer));
    memcpy(longer + TG_SPAN_TEXT - 2, "\xc3\xa9", 2); /* é across the cut: left out whole */
    tg_span_text(out, longer, sizeof(longer));
    assert_int_equal(strlen(out), TG_SPAN_TEXT - 2);
    tg_span_text(out, NULL, 0);
    assert_string_equal(out, "");
}

/* The attribute `key` of span object s, or NULL. */
static json_t *attribute(json_t *s, const char *key)
{
    json_t *a;
    size_t i;
    json_array_foreach(json_object_get(s, "attributes"), i, a)
        if (strcmp(json_string_value(json_object_get(a, "key")), key) == 0)
            return json_object_get(a, "value");
    return NULL;
}

static void test_otlp_json(void **state)
{
    tg_trace_ctx_t t;
    double now = tg_clock_seconds();
    tg_trace_ctx_init(&t, traceparent, "00f067aa0ba902b7", now);
    tg_trace_span_t spans[2];
    tg_span_init(&spans[0], &t, TG_SPAN_SERVER, t.span_id, now, now + 0.25);
    snprintf(spans[0].name, sizeof(spans[0].name), "chat gpt-4o");
    spans[0].operation = "messages";
    spans[0].genai_operation = "chat";
    spans[0].genai_provider = "anthropic";
    tg_span_text(spans[0].request_model, "gpt-4o", 6);
    tg_span_text(spans[0].provider, "primary", 7);
    spans[0].input_tokens = 12;
    spans[0].output_tokens = 0;
    spans[0].http_status = 200;
    spans[0].http_method = "POST";
    spans[0].http_route = "/v1/chat/completions";
    uint8_t id[8];
    tg_trace_attempt_id(&t, 1, id);
    tg_span_init(&spans[1], &t, TG_SPAN_CLIENT, id, now + 0.01, now + 0.2);
    snprintf(spans[1].name, sizeof(spans[1].name), "chat up-model");
    tg_span_text(spans[1].finish_reason, "stop", 4);
    snprintf(spans[1].error_type, sizeof(spans[1].error_type), "timeout");
    spans[1].error = true;
    spans[1].server_port = 8081;
    spans[1].attempt = 1;

    size_t len = 0;
    char *text = tg_otlp_encode(spans, 2, "tollgate", "0.1.0", &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    assert_non_null(doc);
    json_t *rs = json_array_get(json_object_get(doc, "resourceSpans"), 0);
    json_t *res_attr = json_array_get(json_object_get(json_object_get(rs, "resource"), "attributes"), 0);
    assert_string_equal(json_string_value(json_object_get(res_attr, "key")), "service.name");
    json_t *list = json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "spans");
    assert_int_equal(json_array_size(list), 2);

    json_t *server = json_array_get(list, 0), *client = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(server, "traceId")), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(json_string_value(json_object_get(server, "spanId")), "1111111111111111");
    assert_string_equal(json_string_value(json_object_get(server, "parentSpanId")), "00f067aa0ba902b7");
    assert_string_equal(json_string_value(json_object_get(server, "name")), "chat gpt-4o");
    assert_int_equal(json_integer_value(json_object_get(server, "kind")), 2);
    long long start = atoll(json_string_value(json_object_get(server, "startTimeUnixNano")));
    long long end = atoll(json_string_value(json_object_get(server, "endTimeUnixNano")));
    assert_true(end - start == 250000000);
    assert_string_equal(json_string_value(json_object_get(attribute(server, "gen_ai.operation.name"), "stringValue")),
                        "chat");
    assert_string_equal(json_string_value(json_object_get(attribute(server, "gen_ai.request.model"), "stringValue")),
                        "gpt-4o");
    assert_string_equal(json_string_value(json_object_get(attribute(server, "gen_ai.provider.name"), "stringValue")),
                        "anthropic");
    assert_string_equal(json_string_value(json_object_get(attribute(server, "tollgate.provider"), "stringValue")),
                        "primary");
    assert_string_equal(json_string_value(json_object_get(attribute(server, "tollgate.operation"), "stringValue")),
                        "messages");
    assert_string_equal(json_string_value(json_object_get(attribute(server, "gen_ai.usage.input_tokens"), "intValue")),
                        "12");
    assert_non_null(attribute(server, "gen_ai.usage.output_tokens")); /* 0 is a count, not absence */
    assert_null(attribute(server, "gen_ai.response.model"));        /* "" is absence */
    assert_null(attribute(server, "error.type"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(server, "status"), "code")), 0);

    char attempt_hex[17];
    tg_trace_hex(attempt_hex, id, 8);
    assert_string_equal(json_string_value(json_object_get(client, "spanId")), attempt_hex);
    assert_string_equal(json_string_value(json_object_get(client, "parentSpanId")), "1111111111111111");
    assert_int_equal(json_integer_value(json_object_get(client, "kind")), 3);
    json_t *reasons = json_object_get(json_object_get(attribute(client, "gen_ai.response.finish_reasons"), "arrayValue"),
                                      "values");
    assert_string_equal(json_string_value(json_object_get(json_array_get(reasons, 0), "stringValue")), "stop");
    assert_string_equal(json_string_value(json_object_get(attribute(client, "error.type"), "stringValue")), "timeout");
    assert_string_equal(json_string_value(json_object_get(attribute(client, "server.port"), "intValue")), "8081");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(client, "status"), "code")), 2);
    json_decref(doc);
    free(text);

    /* a root span has no parentSpanId */
    tg_trace_ctx_init(&t, traceparent, "", now);
    tg_span_init(&spans[0], &t, TG_SPAN_SERVER, t.span_id, now, now);
    text = tg_otlp_encode(spans, 1, "tollgate", "0.1.0", &len);
    assert_null(strstr(text, "parentSpanId"));
    free(text);
}

static double sample_value(tg_obs_t *obs, const char *needle)
{
    tally_buf buf = {0};
    const char *type, *enc;
    tally_render_http(tg_obs_registry(obs), NULL, NULL, NULL, &buf, &type, &enc);
    char *text = strndup(buf.data, buf.len);
    tally_buf_free(&buf);
    char *line = strstr(text, needle);
    double v = line ? atof(line + strlen(needle)) : -1;
    free(text);
    return v;
}

static void test_queue(void **state)
{
    tg_obs_opts_t o = {.metric_namespace = "gw", .version = "0.1.0"};
    tg_obs_t *obs = tg_obs_new(&o, NULL);
    tg_tracer_t *q = tg_tracer_new(obs, 5, 2); /* 8 cells */
    assert_non_null(q);
    tg_trace_span_t s = {0}, out[16];
    for (int i = 0; i < 10; i++) {
        s.attempt = i;
        bool queued = tg_tracer_submit(q, &s);
        assert_true(queued == (i < 8));
    }
    assert_int_equal(tg_tracer_depth(q), 8);
    assert_true(sample_value(obs, "\ngw_tracing_spans_dropped_total{reason=\"queue_full\"} ") == 2);
    assert_int_equal(tg_tracer_take(q, out, 3), 3);
    assert_int_equal(out[0].attempt, 0);
    assert_int_equal(out[2].attempt, 2);
    s.attempt = 100; /* room again, and order kept across the ring's end */
    assert_true(tg_tracer_submit(q, &s));
    assert_int_equal(tg_tracer_take(q, out, 16), 6);
    assert_int_equal(out[0].attempt, 3);
    assert_int_equal(out[5].attempt, 100);
    assert_int_equal(tg_tracer_take(q, out, 16), 0);
    tg_tracer_count(q, true, 6);
    tg_tracer_count(q, false, 3);
    assert_true(sample_value(obs, "\ngw_tracing_spans_exported_total ") == 6);
    assert_true(sample_value(obs, "\ngw_tracing_spans_dropped_total{reason=\"export_failed\"} ") == 3);
    tg_tracer_free(q);
    tg_obs_free(obs);
}

/* Producers on several threads and one consumer, as the workers and the
 * exporter: every span is taken or counted dropped, none twice, and each
 * producer's spans come out in the order it submitted them. */
#define PRODUCERS 4
#define PER_PRODUCER 20000

typedef struct producer {
    pthread_t thread;
    tg_tracer_t *q;
    int id;
    int queued;
    bool done;   /* joined */
} producer_t;

static void *produce(void *arg)
{
    producer_t *p = arg;
    tg_trace_span_t s = {0};
    s.server_port = p->id;
    for (int i = 0; i < PER_PRODUCER; i++) {
        s.attempt = i;
        p->queued += tg_tracer_submit(p->q, &s);
    }
    return NULL;
}

static void test_queue_threads(void **state)
{
    tg_obs_opts_t o = {.metric_namespace = "gw", .version = "0.1.0"};
    tg_obs_t *obs = tg_obs_new(&o, NULL);
    tg_tracer_t *q = tg_tracer_new(obs, 1024, 64);
    producer_t producers[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        producers[i] = (producer_t){.q = q, .id = i};
        assert_int_equal(pthread_create(&producers[i].thread, NULL, produce, &producers[i]), 0);
    }
    static tg_trace_span_t out[256];
    int last[PRODUCERS] = {-1, -1, -1, -1}, taken = 0, running = PRODUCERS;
    while (running > 0 || tg_tracer_depth(q) > 0) {
        size_t n = tg_tracer_take(q, out, 256);
        for (size_t i = 0; i < n; i++) {
            int id = out[i].server_port;
            assert_true(out[i].attempt > last[id]);
            last[id] = out[i].attempt;
        }
        taken += (int)n;
        for (int i = 0; n == 0 && i < PRODUCERS; i++)
            if (!producers[i].done && pthread_tryjoin_np(producers[i].thread, NULL) == 0) {
                producers[i].done = true;
                running--;
            }
    }
    int queued = 0;
    for (int i = 0; i < PRODUCERS; i++)
        queued += producers[i].queued;
    assert_int_equal(taken, queued);
    assert_true(sample_value(obs, "\ngw_tracing_spans_dropped_total{reason=\"queue_full\"} ") ==
                PRODUCERS * PER_PRODUCER - queued);
    tg_tracer_free(q);
    tg_obs_free(obs);
}

static void test_config(void **state)
{
    static const char providers[] = "providers: [ { name: p, base_url: \"http://127.0.0.1:9\" } ]\n"
                                    "models: [ { name: m, routes: [ { provider: p } ] } ]\n";
    char yaml[1024];
    tg_config_t *cfg = load_yaml(providers);
    assert_non_null(cfg);
    assert_false(cfg->tracing.enabled);
    assert_string_equal(cfg->tracing.host, "127.0.0.1");
    assert_int_equal(cfg->tracing.port, 4318);
    assert_string_equal(cfg->tracing.path, "/v1/traces");
    assert_int_equal(cfg->tracing.queue_size, 4096);
    assert_int_equal(cfg->tracing.batch_max, 512);
    assert_int_equal(cfg->logging.metrics_scrapes, TG_LOG_DEBUG);
    tg_config_free(cfg);

    snprintf(yaml, sizeof(yaml),
             "logging: { metrics_scrapes: info }\n"
             "tracing:\n  enabled: true\n  endpoint: \"http://tempo:4318/otlp/v1/traces\"\n"
             "  service_name: gw\n  queue_size: 100\n  batch_max: 10\n  interval_ms: 200\n  timeout_ms: 500\n"
             "  headers: { x-scope-orgid: tenant1, authorization: \"Bearer abcdefgh\" }\n%s", providers);
    cfg = load_yaml(yaml);
    assert_non_null(cfg);
    assert_true(cfg->tracing.enabled);
    assert_string_equal(cfg->tracing.host, "tempo");
    assert_string_equal(cfg->tracing.path, "/otlp/v1/traces");
    assert_string_equal(cfg->tracing.service_name, "gw");
    assert_int_equal(cfg->tracing.interval_ms, 200);
    assert_string_equal(cfg->tracing.headers, "x-scope-orgid: tenant1\r\nauthorization: Bearer abcdefgh\r\n");
    assert_int_equal(cfg->logging.metrics_scrapes, TG_LOG_INFO);
    tg_config_free(cfg);

    static const char *const bad[] = {
        "tracing: { endpoint: \"ftp://x\" }\n",
        "tracing: { endpoint: \"http://a@b/\" }\n",
        "tracing: { batch_max: 0 }\n",
        "tracing: { queue_size: 1 }\n",
        "tracing: { service_name: \"\" }\n",
        "tracing: { headers: { \"bad name\": x } }\n",
        "tracing: { headers: [ a ] }\n",
        "tracing: { colour: blue }\n",
        "logging: { metrics_scrapes: loud }\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(yaml, sizeof(yaml), "%s%s", bad[i], providers);
        char *err = NULL;
        cfg = tg_config_load(write_yaml(yaml), &err);
        if (cfg != NULL)
            fail_msg("accepted: %s", bad[i]);
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_context),
        cmocka_unit_test(test_attempt_ids),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_otlp_json),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_queue_threads),
        cmocka_unit_test_setup_teardown(test_config, yaml_setup, yaml_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
