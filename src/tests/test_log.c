/*
 * test_log.c - the logger: JSON lines parse (jansson) with the contract's
 * fields, text format, levels, escaping, redaction of secrets, and whole
 * lines under concurrent writers and through per-thread batching.
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
    tg_access_record r = {
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
    tg_access_record e = {.method = "GET", .path = "/x", .status = 502, .latency_seconds = 1,
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
    tg_log_field f = {.key = "value", .type = TG_LF_STR, .str = nasty};
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
    tg_log_field f[] = {
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
    tg_log_field path[] = {
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

static void test_text_format_and_levels(void **state)
{
    tg_log_configure(fileno(sink), TG_LOG_TEXT, TG_LOG_WARN);
    assert_false(tg_log_enabled(TG_LOG_INFO));
    tg_log(TG_LOG_INFO, "server", "dropped");
    tg_log_field f[] = {
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

    tg_log_level level;
    tg_log_format format;
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
    tg_log_field f = {.key = "big", .type = TG_LF_STR, .str = big};
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
        tg_log_field f = {.key = "i", .type = TG_LF_INT, .i = i};
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
    tg_log_field f[] = {{.key = "i", .type = TG_LF_INT, .i = i},
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
        cmocka_unit_test(test_text_format_and_levels),
        cmocka_unit_test(test_oversized_line_stays_one_json_line),
        cmocka_unit_test(test_concurrent_lines_stay_whole),
        cmocka_unit_test(test_batch_holds_lines_until_flush),
        cmocka_unit_test(test_batch_overflow_and_pipe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
