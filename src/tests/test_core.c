/* test_core.c: unit tests of core/: the words' strings come from the same
 * lists as their enums, the error JSON builder (escaping, param, a long
 * message cut on a character boundary, always valid JSON) and the
 * container scanner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/error.h"
#include "core/json.h"
#include "core/words.h"

static void test_words(void **state)
{
    assert_string_equal(tg_route_template(TG_ROUTE_CHAT), "/v1/chat/completions");
    assert_int_equal(tg_route_method(TG_ROUTE_EMBEDDINGS), TG_METHOD_POST);
    assert_int_equal(tg_route_method(TG_ROUTE_HEALTH), TG_METHOD_GET);
    assert_true(tg_route_on_metrics_listener(TG_ROUTE_METRICS));
    assert_false(tg_route_on_metrics_listener(TG_ROUTE_MODELS));
    assert_string_equal(tg_llm_status_name(TG_LLM_CLIENT_DISCONNECT), "client_disconnect");
    assert_string_equal(tg_error_code_name(TG_CODE_INTERNAL_ERROR), "internal_error");
    assert_string_equal(tg_error_code_name(TG_ERR_CODE_COUNT), "unknown");
    assert_string_equal(tg_stream_mode_name(TG_STREAMING), "streaming");
    assert_int_equal(tg_route_from_path("/v1/models?x=1", 14, NULL), TG_ROUTE_MODELS);
    assert_int_equal(tg_method_from_name("PATCH", 5), TG_METHOD_PATCH);
}

static json_t *parse_error(const char *message, const char *param, size_t *len_out)
{
    tg_error_t e;
    tg_error_set(&e, 400, TG_ERR_INVALID_REQUEST, TG_CODE_INVALID_JSON, message, param);
    char buf[TG_ERROR_JSON_MAX];
    size_t len = tg_error_json(buf, sizeof(buf), &e);
    assert_true(len < sizeof(buf));
    assert_int_equal(buf[len - 1], '\n');
    if (len_out)
        *len_out = len;
    json_error_t err;
    json_t *doc = json_loadb(buf, len, 0, &err);
    assert_non_null(doc);
    return doc;
}

static void test_error_json(void **state)
{
    json_t *doc = parse_error("Bad \"quoted\" \\ thing\n", "model", NULL);
    json_t *error = json_object_get(doc, "error");
    assert_string_equal(json_string_value(json_object_get(error, "message")), "Bad \"quoted\" \\ thing\n");
    assert_string_equal(json_string_value(json_object_get(error, "type")), "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(error, "param")), "model");
    assert_string_equal(json_string_value(json_object_get(error, "code")), "invalid_json");
    json_decref(doc);

    doc = parse_error("plain", NULL, NULL);
    assert_true(json_is_null(json_object_get(json_object_get(doc, "error"), "param")));
    json_decref(doc);
}

static void test_error_json_long_and_invalid_messages(void **state)
{
    char message[1200];
    /* 'é' (2 bytes) throughout: every cut point but one splits a character */
    for (size_t i = 0; i + 2 < sizeof(message); i += 2)
        memcpy(message + i, "\xc3\xa9", 2);
    message[sizeof(message) - 2] = '\0';
    json_t *doc = parse_error(message, NULL, NULL);
    const char *got = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    assert_true(strlen(got) <= 256 && strlen(got) > 250);
    json_decref(doc);

    doc = parse_error("\xff\xfe invalid \x01", NULL, NULL); /* becomes U+FFFD and \u0001 */
    json_decref(doc);
}

static void test_format_decimal(void **state)
{
    (void)state;
    const struct { size_t v; const char *text; } cases[] = {
        {0, "0"}, {7, "7"}, {10, "10"}, {99, "99"}, {100, "100"}, {101, "101"}, {12345, "12345"},
        {1000000, "1000000"}, {SIZE_MAX, "18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[24];
        size_t n = tg_format_decimal(out, cases[i].v);
        out[n] = '\0';
        assert_string_equal(out, cases[i].text);
    }
    for (size_t v = 0; v < 100000; v += 7) { /* every length and pair against snprintf */
        char out[24], want[24];
        size_t n = tg_format_decimal(out, v);
        out[n] = '\0';
        snprintf(want, sizeof(want), "%zu", v);
        assert_string_equal(out, want);
    }
}

static void test_container_end(void **state)
{
    static const struct {
        const char *doc;
        long end; /* offset, or -1 for NULL */
    } cases[] = {
        {"{}", 2},
        {"{\"a\":[1,2,{\"b\":\"}\"}]} tail", 21},
        {"{\"a\":\"\\\"}\"}", 11},
        {"{\"a\":\"\\\\\"}", 10},
        {"[[]]", 4},
        {"{\"a\":1", -1},
        {"{\"a\":\"}", -1},
        {"{]", 2}, /* brackets are counted, not matched */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *d = cases[i].doc;
        const char *end = tg_json_container_end(d, d + strlen(d));
        long got = end == NULL ? -1 : (long)(end - d);
        if (got != cases[i].end)
            fail_msg("case %zu (%s): %ld, want %ld", i, d, got, cases[i].end);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_error_json),
        cmocka_unit_test(test_error_json_long_and_invalid_messages),
        cmocka_unit_test(test_container_end),
        cmocka_unit_test(test_format_decimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
