/*
 * test_log.c - the logger: JSON lines parse (jansson) with the contract's
 * fields, text format, levels, escaping, redaction of secrets, and whole
 * lines under concurrent writers and through per-thread batching.
 */
#define _GNU_SOURCE  /* memmem */
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
#include <jansson.h>

#include "core/json.h"
#include "obs/log.h"

static FILE *sink;

/* Everything written since the last call, NUL-terminated (caller frees). */
static char *drain(void)
{
    /* The logger writes to the descriptor directly: its offset is the size. */
    off_t end = lseek(fileno(sink), 0, SEEK_CUR);
    char *text = calloc(1, (size_t)end + 1);
    assert_non_null(text);
    assert_int_equal(pread(fileno(sink), text, (size_t)end, 0), end);
    assert_int_equal(ftruncate(fileno(sink), 0), 0);
    lseek(fileno(sink), 0, SEEK_SET);
    return text;
}

static int setup(void **state)
{
    unsetenv("LOG_FORMAT");
    sink = tmpfile();
    return sink ? 0 : -1;
}

static int teardown(void **state)
{
    fclose(sink);
    return 0;
}

static json_t *parse_one_line(const char *text)
{
    const char *nl = strchr(text, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');  /* exactly one line */
    json_error_t jerr;
    json_t *obj = json_loadb(text, (size_t)(nl - text), 0, &jerr);
    if (obj == NULL)
        fail_msg("not JSON (%s): %s", jerr.text, text);
    return obj;
}

static void test_access_line_json(void **state)
{
    tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_INFO);
    char long_path[400];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    tg_access_record_t r = {
        .request_id = "req-1", .org_id = "anonymous",
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", .method = "POST",
        .path = long_path, .status = 200, .latency_seconds = 0.25,
        .model = "gpt-4o-mini", .model_used = "gpt-4o-mini-2024", .provider = "mock",
        .attempts = 2, .prompt_tokens = 12, .completion_tokens = 34, .cost = 0.0000123,
        .tokens_estimated = true, .ttft_seconds = 0.05, .cache_hit = false, .cache_tier = NULL,
        .llm_status = "error",
    };
    tg_log_access(&r);
    char *text = drain();
    json_t *o = parse_one_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "logger")), "access");
    assert_string_equal(json_string_value(json_object_get(o, "message")), "request completed");
    const char *ts = json_string_value(json_object_get(o, "timestamp"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen("2026-11-22T18:00:00.123Z"));
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[23], 'Z');
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), "req-1");
    assert_string_equal(json_string_value(json_object_get(o, "org_id")), "anonymous");
    assert_string_equal(json_string_value(json_object_get(o, "trace_id")),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(json_string_value(json_object_get(o, "method")), "POST");
    assert_int_equal(strlen(json_string_value(json_object_get(o, "path"))), 256);
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
    assert_true(json_number_value(json_object_get(o, "latency")) == 0.25);
    assert_string_equal(json_string_value(json_object_get(o, "model")), "gpt-4o-mini");
    assert_string_equal(json_string_value(json_object_get(o, "model_used")), "gpt-4o-mini-2024");
    assert_string_equal(json_string_value(json_object_get(o, "provider")), "mock");
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "prompt_tokens")), 12);
    assert_int_equal(json_integer_value(json_object_get(o, "completion_tokens")), 34);
    assert_true(fabs(json_number_value(json_object_get(o, "cost")) - 0.0000123) < 1e-12);
    assert_true(json_is_true(json_object_get(o, "tokens_estimated")));
    assert_true(json_is_false(json_object_get(o, "cache_hit")));
    assert_true(json_is_null(json_object_get(o, "cache_tier")));
    assert_true(json_number_value(json_object_get(o, "ttft")) == 0.05);
    assert_string_equal(json_string_value(json_object_get(o, "llm_status")), "error");
    json_decref(o);
    free(text);

    /* Not applicable -> null; 5xx -> warn. */
    tg_access_record_t e = {.method = "GET", .path = "/x", .status = 502, .latency_seconds = 1,
                          .prompt_tokens = -1, .completion_tokens = -1, .cost = -1,
                          .ttft_seconds = -1};
    tg_log_access(&e);
    text = drain();
    o = parse_one_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    assert_true(json_is_null(json_object_get(o, "prompt_tokens")));
    assert_true(json_is_null(json_object_get(o, "cost")));
    assert_true(json_is_null(json_object_get(o, "ttft")));
    assert_true(json_is_null(json_object_get(o, "llm_status")));
    assert_true(json_is_null(json_object_get(o, "request_id")));
    json_decref(o);
    free(text);
}

static void test_escaping(void **state)
{
    tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_DEBUG);
    const char nasty[] = "quote\" backslash\\ nl\n tab\t ctl\x01 bad\xff utf8 \xc3\xa9 end";
    tg_log_field_t f = {.key = "value", .type = TG_LF_STR, .str = nasty};
    tg_log_fields(TG_LOG_DEBUG, "test", nasty, &f, 1);
    char *text = drain();
    json_t *o = parse_one_line(text);
    const char *expect = "quote\" backslash\\ nl\n tab\t ctl\x01 bad\xef\xbf\xbd utf8 \xc3\xa9 end";
    assert_string_equal(json_string_value(json_object_get(o, "message")), expect);
    assert_string_equal(json_string_value(json_object_get(o, "value")), expect);
    json_decref(o);
    free(text);

    char small[8];
    /* Never splits an escape: "ab\"" needs 4 bytes, 3 available -> "ab". */
    assert_int_equal(tg_json_escape(small, 3, "ab\"", 3), 2);
}

static void test_redaction(void **state)
{
    tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_INFO);
    tg_log(TG_LOG_INFO, "upstream", "sending Authorization: Bearer abcdef123456 to %s with key %s",
           "openai", "sk-proj-ABCDEFGHIJKLMNOP1234");
    tg_log_field_t f[] = {
        {.key = "authorization", .type = TG_LF_STR, .str = "whatever-it-is"},
        {.key = "header", .type = TG_LF_STR, .str = "bearer xyz.789"},
        {.key = "note", .type = TG_LF_STR, .str = "gsk_aaaaaaaaaaaaaaaaaaaa and trace 4bf92f3577b34da6"},
    };
    tg_log_fields(TG_LOG_INFO, "test", "fields", f, 3);
    char *text = drain();
    assert_null(strstr(text, "abcdef123456"));
    assert_null(strstr(text, "ABCDEFGHIJKLMNOP"));
    assert_null(strstr(text, "whatever-it-is"));
    assert_null(strstr(text, "xyz.789"));
    assert_null(strstr(text, "gsk_aaaa"));
    assert_non_null(strstr(text, "Bearer [REDACTED] to openai with key [REDACTED]"));
    assert_non_null(strstr(text, "\"authorization\":\"[REDACTED]\""));
    /* Plain hex ids stay readable. */
    assert_non_null(strstr(text, "trace 4bf92f3577b34da6"));
    free(text);

    /* A key inside a URL (after '=' or '/') is still a key; a word that
     * merely contains a prefix ("task-...") is not. */
    tg_log_field_t path[] = {
        {.key = "path", .type = TG_LF_STR, .str = "/v1/chat?key=sk-live-ABCDEFGHIJKLMN&x=1"},
        {.key = "url", .type = TG_LF_STR, .str = "/keys/gsk_QRSTUVWXYZ123456/use"},
        {.key = "note", .type = TG_LF_STR, .str = "task-force-alpha-bravo"},
    };
    tg_log_fields(TG_LOG_INFO, "test", "urls", path, 3);
    text = drain();
    assert_null(strstr(text, "ABCDEFGHIJKLMN"));
    assert_null(strstr(text, "QRSTUVWXYZ"));
    assert_non_null(strstr(text, "?key=[REDACTED]&x=1"));
    assert_non_null(strstr(text, "/keys/[REDACTED]"));
    assert_non_null(strstr(text, "task-force-alpha-bravo"));
    free(text);
}

/* --------------------------------------------- redaction: shapes x positions */

/* A secret as it shows up in text: by name (name=value, "name": "value",
 * Name: value) or, with no name, by its shape alone. The first `shown`
 * bytes of the value may stay ("sk-", "Bearer "); no 4 bytes of the rest
 * may show anywhere. */
typedef struct secret_shape {
    const char *name;
    const char *value;
    size_t shown;
} secret_shape;

#define JWT "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"

static const secret_shape shapes[] = {
    {NULL, "sk-PROBE9q8w7e6r5t4y3u2i1o", 3},
    {NULL, "sk-proj-Zx81Cv72Bn63Mm54Lk45", 8},
    {NULL, "Bearer Qm4Tn8Vp2Xr6Zs0Wk3Yj", 7},
    {NULL, JWT, 0},
    {NULL, "a4494df4dcba7acf501d9bbf55e581ddb0de921d", 0},      /* hex, 40 */
    {NULL, "KJegp+INQzICORG/yzxdT41YkxQQDeUN8VE6pPlcn+w=", 0},  /* base64, 44 */
    {NULL, "CdVctTPL47aGsvmR65JGXoWb4k9S9vTeDpTmKLrTSkA", 0},   /* base64url, 43 */
    {NULL, "regist3red-Value-x9", 0},                            /* tg_log_add_secret */
    {NULL, "https://alice:pa55w0rdXYZ@", 8},                     /* URL user info */
    {"api_key", "hunter2-a1b2", 0},
    {"key", "opensesame77", 0},
    {"token", "t0k3n-v4lu3", 0},
    {"secret", "s3cr3tsauce9", 0},
    {"password", "correcthorse42", 0},
    {"passwd", "l3tm31n-now", 0},
    {"access_token", "acc3ss-t0k", 0},
    {"client_secret", "cl1ent-s3c", 0},
    {"X-Api-Key", "h3ad3rkey7", 0},
    {"X-Amz-Signature", "5igvalu3xyz9", 0},
    {"api%5Fkey", "pct3ncoded55", 0},
    {"API_KEY", "upp3rcase66", 0},
};

/* Where it shows up: a printf format for a named secret (name, value) and
 * one for a bare value; `path`: through the access line's path as well. */
typedef struct secret_position {
    const char *named;
    const char *bare;
    bool path;
} secret_position;

/* The issue's reproduction: a key whose start falls before byte 256 and
 * whose rest after it. */
#define P10 "pppppppppp"
#define P50 P10 P10 P10 P10 P10
#define PAD231 P50 P50 P50 P50 P10 P10 P10 "p"

static const secret_position positions[] = {
    {"/v1/models?%s=%s&limit=10", "/v1/models?%s&limit=10", true},                /* query start */
    {"/v1/models?limit=10&%s=%s&order=desc", "/v1/models?limit=10&q=%s&order=desc", true},
    {"/v1/models?limit=10&%s=%s", "/v1/models?limit=10&q=%s", true},              /* query end */
    {"/v1/files/%s=%s/content", "/v1/files/%s/content", true},                    /* path segment */
    {"/v1/models?" PAD231 "&%s=%s", "/v1/models?" PAD231 "&k=%s", true},          /* across the cut */
    {"%s: %s", "X-Upstream-Ref: %s", false},                                      /* header-like */
    {NULL, "X-Api-Key: %s", false},
    {"{\"error\":{\"message\":\"invalid\",\"%s\":\"%s\"}}",
     "{\"error\":{\"message\":\"invalid key %s given\"}}", false},                 /* JSON-ish */
    {"{\"%s\": \"%s\", \"model\": \"gpt-4o-mini\"}", "{\"detail\": \"%s\"}", false},
    {"upstream rejected %s=%s, retrying", "upstream rejected %s, retrying", false},
};

/* Fails when any 4 bytes of the hidden part of `shape` show in `out`, or
 * its first hidden byte right after what precedes it in `in` (a cut that
 * kept "pppp&k=sk-P"). */
static void assert_hidden(const char *out, const char *in, const secret_shape *shape)
{
    const char *hidden = shape->value + shape->shown;
    size_t n = strlen(hidden);
    for (size_t i = 0; i + 4 <= n; i++)
        if (memmem(out, strlen(out), hidden + i, 4) != NULL)
            fail_msg("\"%.4s\" of %s shows:\n  in:  %s\n  out: %s", hidden + i, shape->value, in, out);
    const char *v = strstr(in, shape->value);
    assert_non_null(v);
    const char *from = v - in >= 8 ? v - 8 : in;
    size_t probe = (size_t)(v - from) + shape->shown + 1;
    if (memmem(out, strlen(out), from, probe) != NULL)
        fail_msg("\"%.*s\" shows:\n  in:  %s\n  out: %s", (int)probe, from, in, out);
}

static void render(char *buf, size_t cap, const secret_position *pos, const secret_shape *shape)
{
    if (shape->name != NULL && pos->named != NULL)
        snprintf(buf, cap, pos->named, shape->name, shape->value);
    else
        snprintf(buf, cap, pos->bare, shape->value);
}

static void test_redaction_table(void **state)
{
    tg_log_add_secret("regist3red-Value-x9");
    char in[1024], copy[257], again[257];
    for (size_t p = 0; p < sizeof(positions) / sizeof(positions[0]); p++) {
        for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
            const secret_shape *shape = &shapes[k];
            render(in, sizeof(in), &positions[p], shape);

            /* As the handler keeps the path: redacted whole, then cut. */
            size_t len = tg_log_redact_copy(copy, sizeof(copy), in, strlen(in));
            assert_true(len <= 256 && len == strlen(copy));
            assert_hidden(copy, in, shape);
            /* Redacting the copy again changes nothing (tg_log_access does). */
            tg_log_redact_copy(again, sizeof(again), copy, len);
            assert_string_equal(again, copy);

            /* The access line, from the raw path and from the handler's copy. */
            tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_INFO);
            if (positions[p].path) {
                tg_access_record_t r = {.method = "GET", .path = in, .status = 404,
                                      .prompt_tokens = -1, .completion_tokens = -1, .cost = -1,
                                      .ttft_seconds = -1};
                tg_log_access(&r);
                r.path = copy;
                tg_log_access(&r);
            }
            /* A message and a field, in both formats. */
            tg_log_field_t f = {.key = "detail", .type = TG_LF_STR, .str = in};
            tg_log_fields(TG_LOG_INFO, "upstream", in, &f, 1);
            tg_log_configure(fileno(sink), TG_LOG_TEXT, TG_LOG_INFO);
            tg_log(TG_LOG_WARN, "upstream", "%s", in);
            tg_log_fields(TG_LOG_INFO, "upstream", "failed", &f, 1);
            char *text = drain();
            assert_hidden(text, in, shape);
            free(text);
        }
    }
}

/* Every cut point: the key starts anywhere from well before byte 256 to
 * past it, and nothing of it shows. */
static void test_redaction_across_the_cut(void **state)
{
    char in[600], copy[257], whole[600];
    for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
        for (size_t pad = 200; pad <= 270; pad++) {
            const secret_shape *shape = &shapes[k];
            int n = snprintf(in, sizeof(in), "/v1/models?%.*s&%s=%s", (int)pad, PAD231 PAD231,
                             shape->name ? shape->name : "k", shape->value);
            size_t len = tg_log_redact_copy(copy, sizeof(copy), in, (size_t)n);
            assert_true(len <= 256);
            assert_hidden(copy, in, shape);
            /* A marker is whole or absent; a copy is cut only when the
             * redacted text does not fit, and then says so. */
            for (const char *m = copy; (m = strchr(m, '[')) != NULL; m++)
                assert_memory_equal(m, "[REDACTED]", 10);
            if (tg_log_redact_copy(whole, sizeof(whole), in, (size_t)n) > 256)
                assert_string_equal(copy + len - 3, "...");
            else
                assert_string_equal(copy, whole);
        }
    }
}

static void test_redaction_issue_reproduction(void **state)
{
    /* 11 + 231 + 3 bytes before the key: cut at 256 first, the line ended
     * "&k=sk-PROBE-SE". Redacted first, it fits whole. */
    const char *in = "/v1/models?" PAD231 "&k=sk-PROBE-SECRET-0123456789abcdef";
    char copy[257];
    tg_log_redact_copy(copy, sizeof(copy), in, strlen(in));
    assert_string_equal(copy, "/v1/models?" PAD231 "&k=[REDACTED]");

    tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_INFO);
    tg_access_record_t r = {.method = "GET", .path = in, .status = 404, .prompt_tokens = -1,
                          .completion_tokens = -1, .cost = -1, .ttft_seconds = -1};
    tg_log_access(&r);
    char *text = drain();
    json_t *o = parse_one_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "path")), copy);
    json_decref(o);
    free(text);
}

/* Around a secret: a registered value may hold any byte, spaces included:
 * one that starts inside what a rule hides, or among the bytes a rule
 * steps over, is hidden whole; so is one in a URL's user name. And what
 * follows a hidden secret is judged afresh (here a key after another
 * key's padding, which ends in a letter). */
static void test_redaction_around_a_secret(void **state)
{
    tg_log_add_secret("Zq9 spaced s3cret");
    tg_log_add_secret("Bearer abc d3f-xyz");
    tg_log_add_secret("regist3red-Value-x9");
    static const struct { const char *in, *out; } cases[] = {
        {"token=abcZq9 spaced s3cret here", "token=[REDACTED] here"},
        {"auth: Bearer abc d3f-xyz here", "auth: [REDACTED] here"},
        {"https://regist3red-Value-x9:p@host/x", "https://[REDACTED]@host/x"},
        {"/files/KJegp+INQzICORG/yzxdT41YkxQQDeUN8VE6pPlcn+w=%3D/CdVctTPL47aGsvmR65JGXoWb4k9S9vTeDpTmKLrTSkA",
         "[REDACTED][REDACTED]"},
    };
    char copy[257];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tg_log_redact_copy(copy, sizeof(copy), cases[i].in, strlen(cases[i].in));
        assert_string_equal(copy, cases[i].out);
    }
}

/* Text that holds no secret stays as it is, in every channel. */
static void test_redaction_keeps_readable_text(void **state)
{
    static const char *const plain[] = {
        "/v1/chat/completions",
        "/v1/models?limit=10&order=desc&after=model_abc123",
        "/v1/organizations/acme-corporation/projects/default-project/settings",
        "task-force-alpha-bravo",
        "gpt-4o-mini",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
        "/v1/files/9f8e7d6c-5b4a-3210-fedc-ba9876543210",
        "request req_01HZX5K2M9QWERTY failed",
        "trace 4bf92f3577b34da6",
        "prompt_tokens=12 max_tokens=100 monkey=banana keyboard=qwerty",
        "listening on http://127.0.0.1:8080",
        "configuration reloaded from /etc/tollgate/tollgate.yaml",
        "unknown key \"foo\" in providers",
    };
    char copy[257];
    tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_INFO);
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        tg_log_redact_copy(copy, sizeof(copy), plain[i], strlen(plain[i]));
        assert_string_equal(copy, plain[i]);
        tg_log_field_t f = {.key = "detail", .type = TG_LF_STR, .str = plain[i]};
        tg_log_fields(TG_LOG_INFO, "test", plain[i], &f, 1);
        char *text = drain();
        json_t *o = parse_one_line(text);
        assert_string_equal(json_string_value(json_object_get(o, "message")), plain[i]);
        assert_string_equal(json_string_value(json_object_get(o, "detail")), plain[i]);
        json_decref(o);
        free(text);
    }

    /* Ids are logged on purpose in their own fields; a 32-hex trace id
     * elsewhere (a path, a message) cannot be told from a hex key. */
    const char *hex32 = "4bf92f3577b34da6a3ce929d0e0e4736";
    char path[64];
    snprintf(path, sizeof(path), "/v1/traces/%s", hex32);
    tg_access_record_t r = {.request_id = hex32, .trace_id = hex32, .org_id = "org_0123456789abcdef0123456789abcdef",
                          .method = "GET", .path = path, .status = 404, .prompt_tokens = -1,
                          .completion_tokens = -1, .cost = -1, .ttft_seconds = -1};
    tg_log_access(&r);
    char *text = drain();
    json_t *o = parse_one_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), hex32);
    assert_string_equal(json_string_value(json_object_get(o, "trace_id")), hex32);
    assert_string_equal(json_string_value(json_object_get(o, "org_id")), r.org_id);
    assert_string_equal(json_string_value(json_object_get(o, "path")), "/v1/traces/[REDACTED]");
    json_decref(o);
    free(text);

    /* An id field still hides a key that a client put there. */
    r.request_id = "sk-PROBE9q8w7e6r5t4y3u2i1o";
    tg_log_access(&r);
    text = drain();
    assert_null(strstr(text, "PROBE"));
    free(text);
}

/* The cut: at most cap - 1 bytes, "..." at the end, never part of a
 * marker or of a UTF-8 character; tiny buffers work. */
static void test_redact_copy_cut(void **state)
{
    char big[600];
    memset(big, 'a', sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = '\0';
    char copy[257];
    assert_int_equal(tg_log_redact_copy(copy, sizeof(copy), big, strlen(big)), 256);
    assert_memory_equal(copy, big, 253);
    assert_string_equal(copy + 253, "...");

    /* The marker would straddle byte 253: it goes, whole. */
    char in[400];
    int n = snprintf(in, sizeof(in), "/%.*s&k=sk-PROBE9q8w7e6r5t4y3u2i1o&more=1", 245, PAD231 PAD231);
    size_t len = tg_log_redact_copy(copy, sizeof(copy), in, (size_t)n);
    assert_int_equal(len, 1 + 245 + 3 + 3);
    assert_string_equal(copy + 246, "&k=...");

    /* Two-byte characters: the cut does not split one. */
    char utf8[601];
    for (size_t i = 0; i < 600; i += 2)
        memcpy(utf8 + i, "\xc3\xa9", 2);
    len = tg_log_redact_copy(copy, sizeof(copy), utf8, 600);
    assert_int_equal(len, 252 + 3);
    assert_string_equal(copy + 252, "...");

    char tiny[4];
    assert_int_equal(tg_log_redact_copy(tiny, 4, "abcdef", 6), 3);
    assert_string_equal(tiny, "...");
    assert_int_equal(tg_log_redact_copy(tiny, 1, "abcdef", 6), 0);
    assert_string_equal(tiny, "");
    assert_int_equal(tg_log_redact_copy(tiny, 4, "abc", 3), 3);
    assert_string_equal(tiny, "abc");
    tiny[0] = 'x';
    assert_int_equal(tg_log_redact_copy(tiny, 0, "abc", 3), 0);
    assert_int_equal(tiny[0], 'x');
}

/* A hostile path of any shape costs time linear in its length: a
 * quadratic scan of these 64 KiB inputs would run into the test's time
 * limit (it takes milliseconds). */
static void test_redaction_is_linear(void **state)
{
    static const char *const units[] = {"s/", "sk-/", "a=", "key=\"", "://", "q7Vz3Kp9", "%2F", "eyJ/", "-", "9"};
    size_t n = 1 << 16;
    char *in = malloc(n);
    assert_non_null(in);
    char copy[257];
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        size_t l = strlen(units[u]), k = 0;
        for (; k + l <= n; k += l)
            memcpy(in + k, units[u], l);
        assert_true(tg_log_redact_copy(copy, sizeof(copy), in, k) <= 256);
    }
    free(in);
}

static void test_text_format_and_levels(void **state)
{
    tg_log_configure(fileno(sink), TG_LOG_TEXT, TG_LOG_WARN);
    assert_false(tg_log_enabled(TG_LOG_INFO));
    tg_log(TG_LOG_INFO, "server", "dropped");
    tg_log_field_t f[] = {
        {.key = "provider", .type = TG_LF_STR, .str = "mock"},
        {.key = "reason", .type = TG_LF_STR, .str = "connect refused"},
        {.key = "attempt", .type = TG_LF_INT, .i = 3},
    };
    tg_log_fields(TG_LOG_WARN, "upstream", "retrying", f, 3);
    char *text = drain();
    assert_null(strstr(text, "dropped"));
    /* "TIMESTAMP LEVEL logger: message key=value ..." */
    const char *rest = strchr(text, ' ');
    assert_non_null(rest);
    assert_string_equal(rest, " WARN upstream: retrying provider=mock reason=\"connect refused\" attempt=3\n");
    free(text);

    /* LOG_FORMAT=json in the environment wins over the configured format. */
    setenv("LOG_FORMAT", "json", 1);
    tg_log_configure(fileno(sink), TG_LOG_TEXT, TG_LOG_INFO);
    unsetenv("LOG_FORMAT");
    tg_log(TG_LOG_ERROR, "config", "bad %d", 7);
    text = drain();
    json_t *o = parse_one_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(o, "message")), "bad 7");
    json_decref(o);
    free(text);

    tg_log_level_t level;
    tg_log_format_t format;
    assert_int_equal(tg_log_level_parse("warning", &level), 0);
    assert_int_equal(level, TG_LOG_WARN);
    assert_int_equal(tg_log_level_parse("loud", &level), -1);
    assert_int_equal(tg_log_format_parse("yaml", &format), -1);
}

static void test_oversized_line_stays_one_json_line(void **state)
{
    tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_INFO);
    size_t n = 20000;
    char *big = malloc(n + 1);
    memset(big, '"', n);  /* each byte escapes to two */
    big[n] = '\0';
    tg_log_field_t f = {.key = "big", .type = TG_LF_STR, .str = big};
    tg_log_fields(TG_LOG_INFO, "test", "big", &f, 1);
    tg_log_fields(TG_LOG_INFO, "test", big, NULL, 0);
    free(big);
    char *text = drain();
    /* The field that cannot fit is left out and the line says so; a huge
     * message is cut; both lines stay valid JSON within the line limit. */
    char *second = strchr(text, '\n') + 1;
    size_t first_len = (size_t)(second - text);
    assert_true(first_len <= 8192 && strlen(second) <= 8192);
    char *first = strndup(text, first_len);
    json_t *o = parse_one_line(first);
    assert_null(json_object_get(o, "big"));
    assert_true(json_is_true(json_object_get(o, "log_truncated")));
    json_decref(o);
    o = parse_one_line(second);
    assert_true(strlen(json_string_value(json_object_get(o, "message"))) > 1000);
    json_decref(o);
    free(first);
    free(text);
}

#define THREADS 4
#define LINES_PER_THREAD 300

static void *writer(void *arg)
{
    for (int i = 0; i < LINES_PER_THREAD; i++) {
        tg_log_field_t f = {.key = "i", .type = TG_LF_INT, .i = i};
        tg_log_fields(TG_LOG_INFO, "thread", "a line long enough to notice interleaving", &f, 1);
    }
    return arg;
}

static void test_concurrent_lines_stay_whole(void **state)
{
    tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_INFO);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *text = drain();
    int lines = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, &jerr);
        if (o == NULL)
            fail_msg("line %d not JSON: %.*s", lines, (int)(nl - line), line);
        json_decref(o);
        lines++;
    }
    assert_int_equal(lines, THREADS * LINES_PER_THREAD);
    free(text);
}

/* Checks that text holds exactly `expected` whole JSON lines whose field
 * "i" counts up from 0 (one writer's order kept). */
static void assert_numbered_lines(const char *text, int expected)
{
    int lines = 0;
    for (const char *line = text, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, &jerr);
        if (o == NULL)
            fail_msg("line %d not JSON: %.*s", lines, (int)(nl - line), line);
        assert_int_equal(json_integer_value(json_object_get(o, "i")), lines);
        json_decref(o);
        lines++;
    }
    assert_int_equal(lines, expected);
}

static void log_numbered(int i, const char *padding)
{
    tg_log_field_t f[] = {{.key = "i", .type = TG_LF_INT, .i = i},
                        {.key = "pad", .type = TG_LF_STR, .str = padding}};
    tg_log_fields(TG_LOG_INFO, "batch", "batched line", f, 2);
}

static void test_batch_holds_lines_until_flush(void **state)
{
    tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_INFO);
    tg_log_batch_start();
    for (int i = 0; i < 3; i++)
        log_numbered(i, "x");
    char *text = drain();
    assert_string_equal(text, "");  /* nothing written before the flush */
    free(text);
    tg_log_flush();
    text = drain();
    assert_numbered_lines(text, 3);
    free(text);
    tg_log_flush();  /* an empty batch writes nothing */
    log_numbered(0, "y");
    tg_log_batch_stop();  /* stop flushes what is left */
    text = drain();
    assert_numbered_lines(text, 1);
    free(text);
    log_numbered(0, "z");  /* unbatched again: written at once */
    text = drain();
    assert_numbered_lines(text, 1);
    free(text);
}

/* A batch larger than the buffer flushes itself, whole lines only, in
 * order; to a pipe it goes in pieces of whole lines. */
static void test_batch_overflow_and_pipe(void **state)
{
    char pad[1001];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';

    tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_INFO);
    tg_log_batch_start();
    for (int i = 0; i < 100; i++)  /* ~110 KB: several times the batch buffer */
        log_numbered(i, pad);
    char *early = drain();
    assert_true(strlen(early) > 0);  /* full batches went out on their own */
    assert_true(early[strlen(early) - 1] == '\n');
    tg_log_batch_stop();
    char *rest = drain();
    char *all = malloc(strlen(early) + strlen(rest) + 1);
    assert_non_null(all);
    strcpy(all, early);
    strcat(all, rest);
    assert_numbered_lines(all, 100);
    free(early);
    free(rest);
    free(all);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    tg_log_configure(fds[1], TG_LOG_JSON, TG_LOG_INFO);
    tg_log_batch_start();
    for (int i = 0; i < 40; i++)  /* ~44 KB: within the pipe's capacity */
        log_numbered(i, pad);
    tg_log_batch_stop();
    close(fds[1]);
    size_t cap = 1 << 17, len = 0;
    char *text = malloc(cap + 1);
    assert_non_null(text);
    for (ssize_t n; (n = read(fds[0], text + len, cap - len)) > 0;)
        len += (size_t)n;
    text[len] = '\0';
    close(fds[0]);
    assert_numbered_lines(text, 40);
    free(text);
    tg_log_configure(fileno(sink), TG_LOG_JSON, TG_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_line_json),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_redaction_table),
        cmocka_unit_test(test_redaction_across_the_cut),
        cmocka_unit_test(test_redaction_issue_reproduction),
        cmocka_unit_test(test_redaction_around_a_secret),
        cmocka_unit_test(test_redaction_keeps_readable_text),
        cmocka_unit_test(test_redact_copy_cut),
        cmocka_unit_test(test_redaction_is_linear),
        cmocka_unit_test(test_text_format_and_levels),
        cmocka_unit_test(test_oversized_line_stays_one_json_line),
        cmocka_unit_test(test_concurrent_lines_stay_whole),
        cmocka_unit_test(test_batch_holds_lines_until_flush),
        cmocka_unit_test(test_batch_overflow_and_pipe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
