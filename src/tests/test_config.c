/*
 * test_config.c - tg_config_load on good and bad YAML: values, defaults,
 * ${VAR} expansion, URL parsing, and the exact "FILE:LINE: message" errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "config.h"

#include "tests/yaml_fixture.h"

/* Loads text, expects failure, and returns the error text (caller frees). */
static char *load_error(const char *text)
{
    char *err = NULL;
    tg_config_t *cfg = tg_config_load(write_yaml(text), &err);
    assert_null(cfg);
    assert_non_null(err);
    return err;
}

static void assert_error_line(const char *text, int line, const char *message)
{
    char *err = load_error(text);
    char expected[512];
    snprintf(expected, sizeof(expected), "%s:%d: %s\n", yaml_path, line, message);
    if (strstr(err, expected) == NULL)
        fail_msg("expected \"%s\" in:\n%s", expected, err);
    free(err);
}

#define MINIMAL_TAIL \
    "providers:\n" \
    "  - name: p\n" \
    "    base_url: http://127.0.0.1:9/v1\n" \
    "models:\n" \
    "  - name: m\n" \
    "    routes:\n" \
    "      - provider: p\n"

static void test_full_config(void **state)
{
    setenv("TG_TEST_PORT", "8181", 1);
    unsetenv("TG_TEST_UNSET");
    setenv("TG_TEST_KEY", "sk-test-0123456789abcdef", 1);
    const char *text =
        "server:\n"
        "  listen: \"0.0.0.0:${TG_TEST_PORT:-8080}\"\n"
        "  workers: 3\n"
        "  max_body_bytes: 2048\n"
        "  request_timeout_ms: 5000\n"
        "  header_timeout_ms: 700\n"
        "logging: { format: json, level: warn }\n"
        "metrics:\n"
        "  namespace: \"\"\n"
        "  listen: \"[::1]:${TG_TEST_UNSET:-9100}\"\n"
        "  bearer_token: secret-token\n"
        "  genai: true\n"
        "auth:\n"
        "  allow_anonymous: true\n"
        "providers:\n"
        "  - name: openai\n"
        "    base_url: https://api.openai.com/v1/\n"
        "    api_key_env: TG_TEST_KEY\n"
        "    timeout_ms: 1500\n"
        "    first_token_timeout_ms: 800\n"
        "    max_retries: 2\n"
        "    retry_backoff_ms: 25\n"
        "    max_connections: 8\n"
        "  - name: local\n"
        "    base_url: http://localhost:11434\n"
        "models:\n"
        "  - name: gpt-4o-mini\n"
        "    routes:\n"
        "      - { provider: openai, model: gpt-4o-mini-2024 }\n"
        "      - { provider: local }\n"
        "    pricing: { input: 0.15, cached_input: 0.075, output: 0.6 }\n"
        "  - name: llama\n"
        "    routes: [ { provider: local, model: llama3 } ]\n"
        "    pricing: { input: 1, output: 2 }\n";
    char *err = NULL;
    tg_config_t *cfg = tg_config_load(write_yaml(text), &err);
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_null(err);
    assert_string_equal(cfg->server.host, "0.0.0.0");
    assert_int_equal(cfg->server.port, 8181);
    assert_int_equal(cfg->server.workers, 3);
    assert_int_equal(cfg->server.max_body_bytes, 2048);
    assert_int_equal(cfg->server.request_timeout_ms, 5000);
    assert_int_equal(cfg->server.header_timeout_ms, 700);
    assert_int_equal(cfg->logging.format, TG_LOG_JSON);
    assert_int_equal(cfg->logging.level, TG_LOG_WARN);
    assert_string_equal(cfg->metrics.metric_namespace, "");
    assert_true(cfg->metrics.has_listen);
    assert_string_equal(cfg->metrics.listen_host, "::1");
    assert_int_equal(cfg->metrics.listen_port, 9100);
    assert_string_equal(cfg->metrics.bearer_token, "secret-token");
    assert_true(cfg->metrics.genai);
    assert_true(cfg->auth.allow_anonymous);

    assert_int_equal(cfg->provider_count, 2);
    tg_provider_config_t *p = &cfg->providers[0];
    assert_string_equal(p->name, "openai");
    assert_true(p->tls);
    assert_string_equal(p->host, "api.openai.com");
    assert_int_equal(p->port, 443);
    assert_string_equal(p->path_prefix, "/v1");
    assert_string_equal(p->api_key, "sk-test-0123456789abcdef");
    assert_int_equal(p->timeout_ms, 1500);
    assert_int_equal(p->first_token_timeout_ms, 800);
    assert_int_equal(p->max_retries, 2);
    assert_int_equal(p->retry_backoff_ms, 25);
    assert_int_equal(p->max_connections, 8);
    p = &cfg->providers[1];
    assert_false(p->tls);
    assert_string_equal(p->host, "localhost");
    assert_int_equal(p->port, 11434);
    assert_string_equal(p->path_prefix, "");
    assert_null(p->api_key);
    assert_int_equal(p->timeout_ms, 30000);
    assert_int_equal(p->first_token_timeout_ms, 0); /* off */
    assert_int_equal(p->max_retries, 1);

    assert_int_equal(cfg->model_count, 2);
    tg_model_config_t *m = &cfg->models[0];
    assert_int_equal(m->route_count, 2);
    assert_int_equal(m->routes[0].provider, 0);
    assert_string_equal(m->routes[0].upstream_model, "gpt-4o-mini-2024");
    assert_int_equal(m->routes[1].provider, 1);
    assert_string_equal(m->routes[1].upstream_model, "gpt-4o-mini");
    assert_true(m->pricing.cached_input == 0.075);
    /* Without cached_input, cached tokens cost the input price. */
    assert_true(cfg->models[1].pricing.cached_input == 1.0);

    assert_int_equal(tg_config_find_model(cfg, "llama", 5), 1);
    assert_int_equal(tg_config_find_model(cfg, "llamaX", 5), 1);
    assert_int_equal(tg_config_find_model(cfg, "llam", 4), -1);
    assert_int_equal(tg_config_find_provider(cfg, "local"), 1);
    assert_int_equal(tg_config_find_provider(cfg, "nope"), -1);
    tg_config_free(cfg);
}

/* https providers get a TLS context that expects their host: a DNS name,
 * or an address for an IP literal; the system store is loaded once and
 * shared. (tests/e2e/test_tls.py checks the handshakes themselves.) */
static void test_tls_contexts(void **state)
{
    tg_config_t *cfg = load_yaml(
        "providers:\n"
        "  - { name: named, base_url: \"https://api.example.com/v1\" }\n"
        "  - { name: v4, base_url: \"https://10.0.0.1:8443\" }\n"
        "  - { name: v6, base_url: \"https://[fd00::1]\" }\n"
        "  - { name: plain, base_url: \"http://localhost:11434\" }\n"
        "models:\n"
        "  - { name: m, routes: [ { provider: named } ] }\n");
    const X509_VERIFY_PARAM *named = SSL_CTX_get0_param(cfg->providers[0].tls_ctx);
    assert_string_equal(X509_VERIFY_PARAM_get0_host((X509_VERIFY_PARAM *)named, 0), "api.example.com");
    for (int i = 1; i <= 2; i++) {
        X509_VERIFY_PARAM *param = SSL_CTX_get0_param(cfg->providers[i].tls_ctx);
        assert_null(X509_VERIFY_PARAM_get0_host(param, 0));
        char *ip = X509_VERIFY_PARAM_get1_ip_asc(param);
        assert_string_equal(ip, i == 1 ? "10.0.0.1" : "FD00:0:0:0:0:0:0:1");
        OPENSSL_free(ip);
    }
    assert_ptr_equal(SSL_CTX_get_cert_store(cfg->providers[0].tls_ctx),
                     SSL_CTX_get_cert_store(cfg->providers[1].tls_ctx));
    assert_null(cfg->providers[3].tls_ctx);
    assert_null(cfg->providers[0].ca_file);
    tg_config_free(cfg);
}

static void test_defaults(void **state)
{
    tg_config_t *cfg = tg_config_load(write_yaml(MINIMAL_TAIL), NULL);
    assert_non_null(cfg);
    assert_string_equal(cfg->server.host, "127.0.0.1");
    assert_int_equal(cfg->server.port, 8080);
    assert_true(cfg->server.workers >= 1);
    assert_int_equal(cfg->server.max_body_bytes, 1048576);
    assert_string_equal(cfg->metrics.metric_namespace, "tollgate");
    assert_false(cfg->metrics.has_listen);
    assert_null(cfg->metrics.bearer_token);
    assert_false(cfg->metrics.genai);
    assert_false(cfg->auth.allow_anonymous);
    assert_string_equal(cfg->models[0].routes[0].upstream_model, "m");
    /* circuit breakers: on, with docs/configuration.md's defaults */
    const tg_breaker_config_t *b = &cfg->providers[0].breaker;
    assert_true(b->enabled);
    assert_int_equal(b->failures, 5);
    assert_true(b->error_ratio == 0.5);
    assert_int_equal(b->window_seconds, 30);
    assert_int_equal(b->min_requests, 20);
    assert_int_equal(b->cooldown_ms, 30000);
    assert_int_equal(b->max_cooldown_ms, 300000);
    assert_int_equal(b->half_open_probes, 1);
    assert_int_equal(b->close_after, 1);
    tg_config_free(cfg);
}

#define BREAKER_HEAD "providers:\n  - name: p\n    base_url: http://h\n    breaker:\n"
#define BREAKER_TAIL "models:\n  - name: m\n    routes: [ { provider: p } ]\n"

/* The breaker section: set keys, and each bad value reported at its line. */
static void test_breaker(void **state)
{
    tg_config_t *cfg = tg_config_load(write_yaml(BREAKER_HEAD
                                                 "      enabled: false\n      failures: 3\n"
                                                 "      error_ratio: 0.25\n      window_seconds: 10\n"
                                                 "      min_requests: 4\n      cooldown_ms: 500\n"
                                                 "      max_cooldown_ms: 4000\n      half_open_probes: 3\n"
                                                 "      close_after: 2\n" BREAKER_TAIL), NULL);
    assert_non_null(cfg);
    const tg_breaker_config_t *b = &cfg->providers[0].breaker;
    assert_false(b->enabled);
    assert_int_equal(b->failures, 3);
    assert_true(b->error_ratio == 0.25);
    assert_int_equal(b->window_seconds, 10);
    assert_int_equal(b->min_requests, 4);
    assert_int_equal(b->cooldown_ms, 500);
    assert_int_equal(b->max_cooldown_ms, 4000);
    assert_int_equal(b->half_open_probes, 3);
    assert_int_equal(b->close_after, 2);
    tg_config_free(cfg);

    assert_error_line(BREAKER_HEAD "      error_ratio: 1.5\n" BREAKER_TAIL, 5,
                      "breaker.error_ratio must be a number from 0 to 1 (got \"1.5\")");
    assert_error_line(BREAKER_HEAD "      window_seconds: 61\n" BREAKER_TAIL, 5,
                      "breaker.window_seconds must be at most 60 (got 61)");
    assert_error_line(BREAKER_HEAD "      cooldown_ms: 0\n" BREAKER_TAIL, 5,
                      "breaker.cooldown_ms must be at least 1 (got 0)");
    assert_error_line(BREAKER_HEAD "      cooldown_ms: 5000\n      max_cooldown_ms: 1000\n" BREAKER_TAIL, 6,
                      "breaker.max_cooldown_ms (1000) must not be below breaker.cooldown_ms (5000)");
    assert_error_line(BREAKER_HEAD "      close_after: 2\n" BREAKER_TAIL, 5,
                      "breaker.close_after (2) must not exceed breaker.half_open_probes (1): it could never close");
    assert_error_line(BREAKER_HEAD "      failures: 0\n      error_ratio: 0\n" BREAKER_TAIL, 5,
                      "breaker: failures and error_ratio are both 0, so it never opens (say enabled: false)");
    assert_error_line(BREAKER_HEAD "      failurs: 3\n" BREAKER_TAIL, 5, "unknown key \"failurs\" in breaker");
    assert_error_line("providers:\n  - name: p\n    base_url: http://h\n    breaker: on\n" BREAKER_TAIL, 4,
                      "breaker must be a mapping");
}

/* A model's when_all_open: fail by default, probe, anything else an error. */
static void test_when_all_open(void **state)
{
    (void)state;
    tg_config_t *cfg = tg_config_load(write_yaml(BREAKER_HEAD "      failures: 3\n" BREAKER_TAIL
                                                 "  - name: n\n    when_all_open: probe\n"
                                                 "    routes: [ { provider: p } ]\n"
                                                 "  - name: o\n    when_all_open: fail\n"
                                                 "    routes: [ { provider: p } ]\n"), NULL);
    assert_non_null(cfg);
    assert_false(cfg->models[0].probe_when_all_open);
    assert_true(cfg->models[1].probe_when_all_open);
    assert_false(cfg->models[2].probe_when_all_open);
    tg_config_free(cfg);
    assert_error_line(BREAKER_HEAD "      failures: 3\n" BREAKER_TAIL "    when_all_open: wait\n", 9,
                      "model \"m\": when_all_open must be fail or probe (got \"wait\")");
}

/* A route's breaker: the provider section's parser and defaults; routes to
 * the same (provider, upstream model) share it and may not change it. */
static void test_route_breaker(void **state)
{
    (void)state;
    static const char head[] = "providers:\n  - { name: p, base_url: http://h }\nmodels:\n";
    char text[1024];
    snprintf(text, sizeof(text), "%s%s", head,
             "  - name: m\n    routes:\n      - { provider: p, model: u, breaker: { failures: 2 } }\n"
             "      - { provider: p }\n"
             "  - name: n\n    routes: [ { provider: p, model: u } ]\n");
    tg_config_t *cfg = tg_config_load(write_yaml(text), NULL);
    assert_non_null(cfg);
    assert_int_equal(cfg->model_breaker_count, 1);
    assert_int_equal(cfg->model_breakers[0].provider, 0);
    assert_string_equal(cfg->model_breakers[0].upstream_model, "u");
    const tg_breaker_config_t *b = &cfg->model_breakers[0].breaker;
    assert_int_equal(b->failures, 2);
    assert_int_equal(b->cooldown_ms, cfg->providers[0].breaker.cooldown_ms);   /* the defaults */
    assert_true(b->error_ratio == cfg->providers[0].breaker.error_ratio);
    assert_int_equal(cfg->models[0].routes[0].breaker, 0);
    assert_int_equal(cfg->models[0].routes[1].breaker, -1);  /* upstream model "m": another pair */
    assert_int_equal(cfg->models[1].routes[0].breaker, 0);   /* shares u's */
    tg_config_free(cfg);

    snprintf(text, sizeof(text), "%s%s", head,
             "  - name: m\n    routes:\n      - { provider: p, model: u, breaker: { failures: 2 } }\n"
             "  - name: n\n    routes:\n      - { provider: p, model: u, breaker: { failures: 3 } }\n");
    assert_error_line(text, 9, "route breaker for provider \"p\", model \"u\" differs from an earlier route's: "
                               "routes to the same provider and upstream model share one breaker");
    snprintf(text, sizeof(text), "%s%s", head,
             "  - name: m\n    routes:\n      - provider: p\n        breaker:\n          cooldown_ms: 0\n");
    assert_error_line(text, 8, "breaker.cooldown_ms must be at least 1 (got 0)");
}

static void test_empty_sections_and_secrets(void **state)
{
    setenv("TG_TEST_KEY", "opaque-provider-key-42", 1);
    tg_config_t *cfg = tg_config_load(write_yaml("server:\nlogging: ~\nauth:\n"
                                               "providers:\n"
                                               "  - name: p\n"
                                               "    base_url: http://127.0.0.1:9/v1\n"
                                               "    api_key_env: TG_TEST_KEY\n"
                                               "models:\n"
                                               "  - name: m\n"
                                               "    routes:\n"
                                               "      - provider: p\n"), NULL);
    assert_non_null(cfg);
    assert_int_equal(cfg->server.port, 8080);
    tg_config_free(cfg);
    /* The loader registered the key with the logger: it never shows. */
    FILE *sink = tmpfile();
    tg_log_configure(fileno(sink), TG_LOG_TEXT, TG_LOG_INFO);
    tg_log(TG_LOG_INFO, "test", "upstream said: bad key opaque-provider-key-42.");
    char line[512] = {0};
    assert_int_equal(pread(fileno(sink), line, sizeof(line) - 1, 0) > 0, 1);
    assert_null(strstr(line, "opaque-provider-key-42"));
    assert_non_null(strstr(line, "bad key [REDACTED]."));
    tg_log_configure(2, TG_LOG_TEXT, TG_LOG_INFO);
    fclose(sink);

    char *err = load_error("providers:\n  -\nmodels:\n  - name: m\n    routes: [ { provider: p } ]\n");
    assert_non_null(strstr(err, ":2: provider must be a mapping"));
    free(err);
}

static void test_example_config_is_valid(void **state)
{
    /* CMake compiles with absolute source paths: find the repository from
     * this file's own location. */
    char example[512];
    const char *tests_dir_end = strstr(__FILE__, "src/tests/test_config.c");
    assert_non_null(tests_dir_end);
    snprintf(example, sizeof(example), "%.*sconfig/tollgate.example.yaml",
             (int)(tests_dir_end - __FILE__), __FILE__);
    FILE *out = tmpfile();
    assert_non_null(out);
    assert_int_equal(tg_config_check(example, out), 0);
    rewind(out);
    char buf[64] = {0};
    assert_non_null(fgets(buf, sizeof(buf), out));
    assert_string_equal(buf, "ok\n");
    fclose(out);
}

static void test_cost(void **state)
{
    tg_pricing_t p = {.input = 0.15, .cached_input = 0.075, .output = 0.60};
    /* (900 * 0.15 + 100 * 0.075 + 50 * 0.6) / 1e6 */
    assert_true(tg_pricing_cost(&p, 1000, 100, 50) == (900 * 0.15 + 100 * 0.075 + 50 * 0.60) / 1e6);
    /* cached beyond prompt is clamped */
    assert_true(tg_pricing_cost(&p, 10, 20, 0) == 10 * 0.075 / 1e6);
}

static void test_undefined_provider(void **state)
{
    assert_error_line("providers:\n"
                      "  - name: p\n"
                      "    base_url: http://h/v1\n"
                      "models:\n"
                      "  - name: y\n"
                      "    routes:\n"
                      "      - provider: x\n",
                      7, "provider \"x\" referenced by model \"y\" is not defined");
}

static void test_unknown_key(void **state)
{
    assert_error_line("server:\n  listen: \"127.0.0.1:1\"\n  wokers: 2\n" MINIMAL_TAIL,
                      3, "unknown key \"wokers\" in server");
}

static void test_wrong_type(void **state)
{
    assert_error_line("server:\n  workers: many\n" MINIMAL_TAIL,
                      2, "server.workers must be an integer (got \"many\")");
    assert_error_line("server: [1, 2]\n" MINIMAL_TAIL, 1, "server must be a mapping");
    assert_error_line("auth:\n  allow_anonymous: maybe\n" MINIMAL_TAIL,
                      2, "auth.allow_anonymous must be true or false (got \"maybe\")");
    assert_error_line("metrics:\n  genai: 1\n" MINIMAL_TAIL,
                      2, "metrics.genai must be true or false (got \"1\")");
}

static void test_negative_numbers(void **state)
{
    assert_error_line("providers:\n"
                      "  - name: p\n"
                      "    base_url: http://h\n"
                      "    max_retries: -1\n"
                      "models:\n"
                      "  - name: m\n"
                      "    routes: [ { provider: p } ]\n"
                      "    pricing: { input: -0.5 }\n",
                      4, "max_retries must not be negative (got \"-1\")");
    assert_error_line("providers:\n"
                      "  - name: p\n"
                      "    base_url: http://h\n"
                      "    first_token_timeout_ms: 1.5\n"
                      "models:\n"
                      "  - name: m\n"
                      "    routes: [ { provider: p } ]\n",
                      4, "first_token_timeout_ms must be an integer (got \"1.5\")");
    assert_error_line("providers:\n"
                      "  - name: p\n"
                      "    base_url: http://h\n"
                      "models:\n"
                      "  - name: m\n"
                      "    routes: [ { provider: p } ]\n"
                      "    pricing: { input: -0.5 }\n",
                      7, "pricing.input must not be negative (got \"-0.5\")");
}

static void test_missing_and_duplicates(void **state)
{
    assert_error_line("providers:\n"
                      "  - base_url: http://h\n"
                      "models:\n"
                      "  - name: m\n"
                      "    routes: [ { provider: p } ]\n",
                      2, "provider: missing required key \"name\"");
    assert_error_line("providers:\n"
                      "  - name: p\n"
                      "    base_url: http://h\n"
                      "  - name: p\n"
                      "    base_url: http://h2\n"
                      "models:\n"
                      "  - name: m\n"
                      "    routes: [ { provider: p } ]\n",
                      4, "duplicate provider name \"p\"");
    assert_error_line("server:\n  workers: 1\n  workers: 2\n" MINIMAL_TAIL,
                      3, "duplicate key \"workers\" in server");
    char *err = load_error("server:\n  workers: 1\n");
    assert_non_null(strstr(err, "missing required key \"providers\""));
    assert_non_null(strstr(err, "missing required key \"models\""));
    free(err);
}

static void test_empty_routes(void **state)
{
    assert_error_line("providers:\n"
                      "  - name: p\n"
                      "    base_url: http://h\n"
                      "models:\n"
                      "  - name: m\n"
                      "    routes: []\n",
                      6, "model \"m\" has no routes");
}

static void test_bad_urls(void **state)
{
    static const char *const bad[] = {
        "ftp://h/v1", "http://", "http://h:0", "http://h:99999", "http://h:x/v1",
        "http://user@h/v1", "http://h/v1?x=1", "h/v1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "providers:\n  - name: p\n    base_url: \"%s\"\n"
                 "models:\n  - name: m\n    routes: [ { provider: p } ]\n", bad[i]);
        char *err = load_error(text);
        if (strstr(err, ":3: provider \"p\": base_url") == NULL)
            fail_msg("%s: %s", bad[i], err);
        free(err);
    }
}

static void test_env_expansion_errors(void **state)
{
    unsetenv("TG_TEST_UNSET");
    assert_error_line("server:\n  listen: \"127.0.0.1:${TG_TEST_UNSET}\"\n" MINIMAL_TAIL,
                      2, "environment variable TG_TEST_UNSET is not set");
    assert_error_line("server:\n  listen: \"127.0.0.1:${PORT\"\n" MINIMAL_TAIL,
                      2, "unterminated \"${\" in \"${PORT\"");
}

static void test_syntax_error_and_check(void **state)
{
    char *err = load_error("server:\n  listen: [\n");
    assert_non_null(strstr(err, "YAML syntax error"));
    free(err);
    FILE *out = tmpfile();
    assert_int_equal(tg_config_check(write_yaml("models: 3\n"), out), 1);
    rewind(out);
    char line[256] = {0};
    assert_non_null(fgets(line, sizeof(line), out));
    assert_non_null(strstr(line, yaml_path));
    fclose(out);
    err = NULL;
    assert_null(tg_config_load("/nonexistent/tollgate.yaml", &err));
    assert_non_null(strstr(err, "/nonexistent/tollgate.yaml: cannot open"));
    free(err);
}

/* forward_headers: names lower-cased; invalid, credential, hop-by-hop
 * and gateway-set names refused at their own line. */
static void test_forward_headers(void **state)
{
    tg_config_t *cfg = load_yaml("providers:\n"
                               "  - name: p\n"
                               "    base_url: http://h\n"
                               "    forward_headers: [OpenAI-Beta, user-agent, X-Mock-Token-Delay-Ms]\n"
                               "  - name: q\n"
                               "    base_url: http://h\n"
                               "models:\n"
                               "  - name: m\n"
                               "    routes: [ { provider: p } ]\n");
    tg_provider_config_t *p = &cfg->providers[0];
    assert_int_equal(p->forward_header_count, 3);
    assert_string_equal(p->forward_headers[0], "openai-beta");
    assert_string_equal(p->forward_headers[1], "user-agent");
    assert_string_equal(p->forward_headers[2], "x-mock-token-delay-ms");
    assert_int_equal(cfg->providers[1].forward_header_count, 0);
    tg_config_free(cfg);

    static const struct {
        const char *entry;
        const char *message;
    } bad[] = {
        {"\"bad name\"", "\"bad name\" is not a valid header name"},
        {"\"x:y\"", "\"x:y\" is not a valid header name"},
        {"\"\"", "\"\" is not a valid header name"},
        {"Authorization", "\"authorization\" carries client credentials and is never forwarded"},
        {"proxy-authorization", "\"proxy-authorization\" carries client credentials and is never forwarded"},
        {"X-Api-Key", "\"x-api-key\" carries client credentials and is never forwarded"},
        {"cookie", "\"cookie\" carries client credentials and is never forwarded"},
        {"Host", "\"host\" is set by the gateway and is never forwarded"},
        {"content-length", "\"content-length\" is set by the gateway and is never forwarded"},
        {"transfer-encoding", "\"transfer-encoding\" is hop-by-hop and is never forwarded"},
        {"connection", "\"connection\" is hop-by-hop and is never forwarded"},
        {"te", "\"te\" is hop-by-hop and is never forwarded"},
        {"upgrade", "\"upgrade\" is hop-by-hop and is never forwarded"},
        {"traceparent", "\"traceparent\" is set by the gateway and is never forwarded"},
        {"{a: b}", "a forward_headers entry must be a scalar"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512], message[256];
        snprintf(text, sizeof(text),
                 "providers:\n  - name: p\n    base_url: http://h\n    forward_headers:\n"
                 "      - openai-beta\n      - %s\n"
                 "models:\n  - name: m\n    routes: [ { provider: p } ]\n", bad[i].entry);
        if (strstr(bad[i].message, "scalar") != NULL)
            snprintf(message, sizeof(message), "%s", bad[i].message);
        else
            snprintf(message, sizeof(message), "provider \"p\": forward_headers: %s", bad[i].message);
        assert_error_line(text, 6, message);
    }
    assert_error_line("providers:\n  - name: p\n    base_url: http://h\n"
                      "    forward_headers:\n      - openai-beta\n      - OpenAI-Beta\n" 
                      "models:\n  - name: m\n    routes: [ { provider: p } ]\n",
                      6, "provider \"p\": forward_headers: \"openai-beta\" is listed twice");
    assert_error_line("providers:\n  - name: p\n    base_url: http://h\n    forward_headers: openai-beta\n"
                      "models:\n  - name: m\n    routes: [ { provider: p } ]\n",
                      4, "provider \"p\": forward_headers must be a list");
}

/* health_check: defaults, every key, and each bad value at its line. */
static void test_health_check(void **state)
{
    tg_config_t *cfg = tg_config_load(write_yaml(MINIMAL_TAIL), NULL);
    assert_non_null(cfg);
    const tg_health_check_config_t *hc = &cfg->providers[0].health_check;
    assert_true(hc->enabled);
    assert_string_equal(hc->path, "/models");
    assert_int_equal(hc->interval_ms, 30000);
    assert_int_equal(hc->timeout_ms, 5000);
    tg_config_free(cfg);

    cfg = tg_config_load(write_yaml("providers:\n"
                                    "  - { name: a, base_url: http://h/v1, health_check: { enabled: false } }\n"
                                    "  - name: b\n    base_url: http://h\n"
                                    "    health_check: { path: /v1/health, interval_ms: 500, timeout_ms: 200 }\n"
                                    "  - { name: c, base_url: http://h, health_check: }\n"
                                    "models:\n  - { name: m, routes: [ { provider: a } ] }\n"), NULL);
    assert_non_null(cfg);
    assert_false(cfg->providers[0].health_check.enabled);
    assert_string_equal(cfg->providers[1].health_check.path, "/v1/health");
    assert_int_equal(cfg->providers[1].health_check.interval_ms, 500);
    assert_int_equal(cfg->providers[1].health_check.timeout_ms, 200);
    assert_true(cfg->providers[2].health_check.enabled);
    assert_int_equal(cfg->providers[2].health_check.interval_ms, 30000);
    tg_config_free(cfg);

    static const struct {
        const char *value;
        const char *message;
    } bad[] = {
        {"{ path: models }", "provider \"p\": health_check.path \"models\" must start with \"/\" and hold no "
                             "spaces or control characters"},
        {"{ path: \"/m HTTP/1.1\\r\\nx: y\" }", "provider \"p\": health_check.path \"/m HTTP/1.1\r\nx: y\" must "
                                              "start with \"/\" and hold no spaces or control characters"},
        {"{ interval_ms: 50 }", "provider \"p\": health_check.interval_ms must be at least 100"},
        {"{ timeout_ms: 0 }", "provider \"p\": health_check.timeout_ms must be positive"},
        {"{ interval_ms: 1000, timeout_ms: 1000 }",
         "provider \"p\": health_check.timeout_ms (1000) must be less than interval_ms (1000)"},
        {"{ interval_ms: 2000 }", "provider \"p\": health_check.timeout_ms (5000) must be less than interval_ms (2000)"},
        {"{ enabled: maybe }", "health_check.enabled must be true or false (got \"maybe\")"},
        {"{ intervals: 5 }", "unknown key \"intervals\" in health_check"},
        {"off", "health_check must be a mapping"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "providers:\n  - name: p\n    base_url: http://h\n    health_check: %s\n"
                 "models:\n  - name: m\n    routes: [ { provider: p } ]\n", bad[i].value);
        assert_error_line(text, 4, bad[i].message);
    }
}

/* anomaly: defaults, every key, and each bad value at its line. */
static void test_anomaly_section(void **state)
{
    tg_config_t *cfg = tg_config_load(write_yaml(MINIMAL_TAIL), NULL);
    assert_non_null(cfg);
    const tg_anomaly_config_t *a = &cfg->anomaly;
    assert_true(a->enabled);
    assert_int_equal(a->interval_ms, 60000);
    assert_int_equal(a->warmup_intervals, 10);
    assert_int_equal(a->min_requests, 20);
    assert_true(a->baseline_weight == 0.1 && a->latency_factor == 3 && a->error_factor == 3 &&
                a->error_floor == 0.1 && a->volume_factor == 3);
    tg_config_free(cfg);

    cfg = tg_config_load(write_yaml("anomaly:\n  enabled: false\n  interval_ms: 500\n  warmup_intervals: 3\n"
                                    "  min_requests: 5\n  baseline_weight: 0.5\n  latency_factor: 2.5\n"
                                    "  error_factor: 4\n  error_floor: 0.2\n  volume_factor: 10\n" MINIMAL_TAIL),
                         NULL);
    assert_non_null(cfg);
    a = &cfg->anomaly;
    assert_false(a->enabled);
    assert_int_equal(a->interval_ms, 500);
    assert_int_equal(a->warmup_intervals, 3);
    assert_int_equal(a->min_requests, 5);
    assert_true(a->baseline_weight == 0.5 && a->latency_factor == 2.5 && a->error_factor == 4 &&
                a->error_floor == 0.2 && a->volume_factor == 10);
    tg_config_free(cfg);

    cfg = tg_config_load(write_yaml("anomaly:\n" MINIMAL_TAIL), NULL);
    assert_non_null(cfg);
    assert_int_equal(cfg->anomaly.interval_ms, 60000);
    tg_config_free(cfg);

    static const struct {
        const char *line;
        const char *message;
    } bad[] = {
        {"interval_ms: 99", "anomaly.interval_ms must be at least 100"},
        {"warmup_intervals: 0", "anomaly.warmup_intervals must be positive"},
        {"min_requests: 0", "anomaly.min_requests must be positive"},
        {"baseline_weight: 0", "anomaly.baseline_weight must be in (0, 1]"},
        {"baseline_weight: 1.5", "anomaly.baseline_weight must be in (0, 1]"},
        {"error_floor: 2", "anomaly.error_floor must be in [0, 1]"},
        {"error_floor: -0.1", "anomaly.error_floor must not be negative (got \"-0.1\")"},
        {"latency_factor: 1", "anomaly.latency_factor must be greater than 1"},
        {"error_factor: 0.5", "anomaly.error_factor must be greater than 1"},
        {"volume_factor: lots", "anomaly.volume_factor must be a number (got \"lots\")"},
        {"sensitivity: 3", "unknown key \"sensitivity\" in anomaly"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "anomaly:\n  %s\n" MINIMAL_TAIL, bad[i].line);
        assert_error_line(text, 2, bad[i].message);
    }
}

/* cache: defaults, every key, and bad values at their line. */
static void test_cache_section(void **state)
{
    (void)state;
    tg_config_t *cfg = tg_config_load(write_yaml(MINIMAL_TAIL), NULL);
    assert_non_null(cfg);
    assert_true(cfg->cache.enabled);
    assert_int_equal(cfg->cache.memory_bytes, 64u << 20);
    assert_int_equal(cfg->cache.ttl_seconds, 3600);
    assert_int_equal(cfg->cache.coalesce_wait_ms, 30000);
    assert_true(cfg->cache.sqlite.enabled);
    assert_int_equal(cfg->cache.sqlite.max_bytes, 256u << 20);
    assert_int_equal(cfg->cache.sqlite.ttl_seconds, 86400);
    tg_config_free(cfg);

    cfg = tg_config_load(write_yaml("cache:\n  enabled: false\n  memory_bytes: 1000\n  ttl_seconds: 5\n"
                                    "  coalesce_wait_ms: 0\n  sqlite:\n    enabled: no\n    max_bytes: 2000\n"
                                    "    ttl_seconds: 7\n" MINIMAL_TAIL),
                         NULL);
    assert_non_null(cfg);
    assert_false(cfg->cache.enabled);
    assert_int_equal(cfg->cache.memory_bytes, 1000);
    assert_int_equal(cfg->cache.ttl_seconds, 5);
    assert_int_equal(cfg->cache.coalesce_wait_ms, 0);
    assert_false(cfg->cache.sqlite.enabled);
    assert_int_equal(cfg->cache.sqlite.max_bytes, 2000);
    assert_int_equal(cfg->cache.sqlite.ttl_seconds, 7);
    tg_config_free(cfg);

    cfg = tg_config_load(write_yaml("cache:\n  sqlite:\n" MINIMAL_TAIL), NULL);
    assert_non_null(cfg);
    assert_true(cfg->cache.sqlite.enabled);
    tg_config_free(cfg);

    static const struct {
        const char *line;
        const char *message;
    } bad[] = {
        {"ttl_seconds: 0", "cache.ttl_seconds must be at least 1"},
        {"memory_bytes: -1", "cache.memory_bytes must not be negative (got \"-1\")"},
        {"coalesce_wait_ms: 600001", "cache.coalesce_wait_ms must be at most 600000"},
        {"enabled: maybe", "cache.enabled must be true or false (got \"maybe\")"},
        {"sqlite: {ttl_seconds: 0}", "cache.sqlite.ttl_seconds must be at least 1"},
        {"sqlite: {max_bytes: lots}", "cache.sqlite.max_bytes must be an integer (got \"lots\")"},
        {"sqlite: {size: 3}", "unknown key \"size\" in cache.sqlite"},
        {"sqlite: 3", "cache.sqlite must be a mapping"},
        {"tiers: 2", "unknown key \"tiers\" in cache"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "cache:\n  %s\n" MINIMAL_TAIL, bad[i].line);
        assert_error_line(text, 2, bad[i].message);
    }
}

/* strategy and weight: defaults, every name, and bad values at their line. */
#define STRATEGY_HEAD \
    "providers:\n" \
    "  - name: p\n" \
    "    base_url: http://127.0.0.1:9/v1\n" \
    "  - name: q\n" \
    "    base_url: http://127.0.0.1:8/v1\n" \
    "models:\n" \
    "  - name: m\n"
static void test_routing_strategy(void **state)
{
    (void)state;
    tg_config_t *cfg = tg_config_load(write_yaml(MINIMAL_TAIL), NULL);
    assert_non_null(cfg);
    assert_int_equal(cfg->models[0].strategy, TG_STRATEGY_PRIORITY);
    assert_int_equal(cfg->models[0].routes[0].weight, 1);
    tg_config_free(cfg);

    for (int i = 0; i < TG_STRATEGY_COUNT; i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 STRATEGY_HEAD "    strategy: %s\n    routes:\n      - provider: p\n        weight: 3\n"
                               "      - provider: q\n",
                 tg_strategy_name((tg_strategy_t)i));
        cfg = tg_config_load(write_yaml(text), NULL);
        assert_non_null(cfg);
        assert_int_equal(cfg->models[0].strategy, i);
        assert_int_equal(cfg->models[0].routes[0].weight, 3);
        assert_int_equal(cfg->models[0].routes[1].weight, 1);
        tg_config_free(cfg);
    }

    assert_error_line(STRATEGY_HEAD "    strategy: fastest\n    routes:\n      - provider: p\n", 8,
                      "model \"m\": strategy must be priority, weighted, lowest_latency or health_score "
                      "(got \"fastest\")");
    assert_error_line(STRATEGY_HEAD "    routes:\n      - provider: p\n        weight: 0\n", 10,
                      "route weight must be at least 1 (got 0)");
    assert_error_line(STRATEGY_HEAD "    routes:\n      - provider: p\n        weight: 1000001\n", 10,
                      "route weight must be at most 1000000 (got 1000001)");
    assert_error_line(STRATEGY_HEAD "    routes:\n      - provider: p\n        weight: -2\n", 10,
                      "route weight must not be negative (got \"-2\")");
}

/* The ledger section: defaults, paths beside the database (relative to
 * the file), and each bad value reported at its line, never a crash. */
static void test_ledger_section(void **state)
{
    tg_config_t *cfg = load_yaml("store:\n  path: data/t.db\n" MINIMAL_TAIL);
    assert_int_equal(cfg->ledger.queue_size, 16384);
    assert_int_equal(cfg->ledger.batch_max, 512);
    assert_int_equal(cfg->ledger.flush_ms, 10);
    char want[300];
    snprintf(want, sizeof(want), "%s/data/t.db.journal", tmpdir);
    assert_string_equal(cfg->ledger.journal_path, want);
    snprintf(want, sizeof(want), "%s/data/t.db.spool", tmpdir);
    assert_string_equal(cfg->ledger.spool_path, want);
    tg_config_free(cfg);

    cfg = load_yaml("ledger:\n  queue_size: 1\n  flush_ms: 10000\n  journal_path: j\n" MINIMAL_TAIL);
    assert_int_equal(cfg->ledger.queue_size, 1);
    assert_int_equal(cfg->ledger.flush_ms, 10000);
    snprintf(want, sizeof(want), "%s/j", tmpdir);
    assert_string_equal(cfg->ledger.journal_path, want);
    tg_config_free(cfg);

    static const struct {
        const char *line, *message;
    } bad[] = {
        {"flush_ms: 0", "ledger.flush_ms must be at least 1 (got 0)"},
        {"flush_ms: 10001", "ledger.flush_ms must be at most 10000 (got 10001)"},
        {"flush_ms: 99999999999999999999", "ledger.flush_ms must be an integer (got \"99999999999999999999\")"},
        {"flush_ms: -5", "ledger.flush_ms must not be negative (got \"-5\")"},
        {"queue_size: 0", "ledger.queue_size must be at least 1 (got 0)"},
        {"queue_size: 1048577", "ledger.queue_size must be at most 1048576 (got 1048577)"},
        {"queue_size: 4294967296", "ledger.queue_size must be at most 1048576 (got 4294967296)"},
        {"batch_max: 0", "ledger.batch_max must be at least 1 (got 0)"},
        {"journal_path: ''", "ledger.journal_path must not be empty"},
        {"journal_path: [a]", "ledger.journal_path must be a scalar"},
        {"spool_path: ''", "ledger.spool_path must not be empty"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "ledger:\n  %s\n" MINIMAL_TAIL, bad[i].line);
        assert_error_line(text, 2, bad[i].message);
    }
    /* three files, by name (a link to one is refused at start) */
    static const struct {
        const char *ledger, *message;
    } twice[] = {
        {"{journal_path: j, spool_path: j}", "ledger.journal_path and ledger.spool_path name the same file"},
        {"{journal_path: t.db}", "ledger.journal_path names the database"},
        {"{spool_path: t.db}", "ledger.spool_path names the database"},
    };
    for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "store: {path: t.db}\nledger: %s\n" MINIMAL_TAIL, twice[i].ledger);
        char *err = load_error(text);
        if (strstr(err, twice[i].message) == NULL)
            fail_msg("expected \"%s\" in:\n%s", twice[i].message, err);
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_strategy),
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_tls_contexts),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_sections_and_secrets),
        cmocka_unit_test(test_example_config_is_valid),
        cmocka_unit_test(test_cost),
        cmocka_unit_test(test_undefined_provider),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_negative_numbers),
        cmocka_unit_test(test_missing_and_duplicates),
        cmocka_unit_test(test_empty_routes),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_env_expansion_errors),
        cmocka_unit_test(test_syntax_error_and_check),
        cmocka_unit_test(test_forward_headers),
        cmocka_unit_test(test_breaker),
        cmocka_unit_test(test_route_breaker),
        cmocka_unit_test(test_when_all_open),
        cmocka_unit_test(test_health_check),
        cmocka_unit_test(test_anomaly_section),
        cmocka_unit_test(test_cache_section),
        cmocka_unit_test(test_ledger_section),
    };
    return cmocka_run_group_tests(tests, yaml_setup, yaml_teardown);
}
