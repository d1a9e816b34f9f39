/* test_sse.c: unit tests of the incremental SSE parser and the usage
 * scanner: events split at every possible byte boundary, CRLF framing,
 * usage-only chunks, [DONE], garbage and oversized events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "upstream/sse.h"

/* A tiny arena so that the parser's never-freed blocks are freed by the test. */
typedef struct arena {
    void *blocks[64];
    int count;
} arena_t;

static void *arena_alloc(void *ctx, size_t size)
{
    arena_t *a = ctx;
    if (a->count == 64)
        return NULL;
    return a->blocks[a->count++] = malloc(size);
}

static void arena_free(arena_t *a)
{
    for (int i = 0; i < a->count; i++)
        free(a->blocks[i]);
    a->count = 0;
}

typedef struct seen {
    int events, data, done, other, content, usage_only;
    tg_usage_t usage;
    char joined[4096]; /* raw bytes of every event, concatenated */
    size_t joined_len;
} seen_t;

static int record(void *ctx, const tg_sse_event_t *ev)
{
    seen_t *s = ctx;
    s->events++;
    s->data += ev->kind == TG_SSE_DATA;
    s->done += ev->kind == TG_SSE_DONE;
    s->other += ev->kind == TG_SSE_OTHER;
    s->content += ev->has_content;
    s->usage_only += ev->usage_only;
    if (ev->usage.present)
        s->usage = ev->usage;
    memcpy(s->joined + s->joined_len, ev->raw, ev->raw_len);
    s->joined_len += ev->raw_len;
    return 0;
}

static const char stream[] =
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"tok1\"},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tok2\"},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,\"total_tokens\":14,"
    "\"prompt_tokens_details\":{\"cached_tokens\":5},\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n"
    "data: [DONE]\n\n";

static void check_stream(const seen_t *s)
{
    assert_int_equal(s->events, 5);
    assert_int_equal(s->data, 4);
    assert_int_equal(s->done, 1);
    assert_int_equal(s->content, 2);
    assert_int_equal(s->usage_only, 1);
    assert_int_equal(s->usage.prompt_tokens, 12);
    assert_int_equal(s->usage.completion_tokens, 2);
    assert_int_equal(s->usage.cached_tokens, 5);
    assert_int_equal(s->usage.reasoning_tokens, 1);
    assert_int_equal(s->joined_len, sizeof(stream) - 1);
    assert_memory_equal(s->joined, stream, sizeof(stream) - 1);
}

static void test_whole_stream_in_one_read(void **state)
{
    arena_t a = {0};
    seen_t s = {0};
    tg_sse_parser_t p;
    tg_sse_init(&p, 1 << 16, arena_alloc, &a);
    assert_int_equal(tg_sse_feed(&p, stream, sizeof(stream) - 1, record, &s), 0);
    check_stream(&s);
    assert_int_equal(tg_sse_pending(&p), 0);
    assert_int_equal(a.count, 0); /* no copy when events arrive whole */
    arena_free(&a);
}

static void test_split_at_every_boundary(void **state)
{
    for (size_t cut = 1; cut < sizeof(stream) - 1; cut++) {
        arena_t a = {0};
        seen_t s = {0};
        tg_sse_parser_t p;
        tg_sse_init(&p, 1 << 16, arena_alloc, &a);
        assert_int_equal(tg_sse_feed(&p, stream, cut, record, &s), 0);
        assert_int_equal(tg_sse_feed(&p, stream + cut, sizeof(stream) - 1 - cut, record, &s), 0);
        check_stream(&s);
        arena_free(&a);
    }
}

static void test_one_byte_at_a_time(void **state)
{
    arena_t a = {0};
    seen_t s = {0};
    tg_sse_parser_t p;
    tg_sse_init(&p, 1 << 16, arena_alloc, &a);
    for (size_t i = 0; i < sizeof(stream) - 1; i++)
        assert_int_equal(tg_sse_feed(&p, stream + i, 1, record, &s), 0);
    check_stream(&s);
    arena_free(&a);
}

static void test_crlf_framing(void **state)
{
    static const char crlf[] = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\r\n\r\n"
                               ": keep-alive\r\n\r\n"
                               "data: [DONE]\r\n\r\n";
    for (size_t cut = 1; cut < sizeof(crlf) - 1; cut++) {
        arena_t a = {0};
        seen_t s = {0};
        tg_sse_parser_t p;
        tg_sse_init(&p, 1 << 16, arena_alloc, &a);
        tg_sse_feed(&p, crlf, cut, record, &s);
        tg_sse_feed(&p, crlf + cut, sizeof(crlf) - 1 - cut, record, &s);
        assert_int_equal(s.events, 3);
        assert_int_equal(s.content, 1);
        assert_int_equal(s.other, 1);
        assert_int_equal(s.done, 1);
        arena_free(&a);
    }
}

static void test_garbage_is_forwarded_not_counted(void **state)
{
    static const char junk[] = "data: {\"id\": \"broken\n\n"
                               "\x01\x02\xff garbage\n\n"
                               "data: not json\n\n"
                               "data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\n"
                               "data: {\"usage\":{\"prompt_tokens\":\"many\"}}\n\n";
    arena_t a = {0};
    seen_t s = {0};
    tg_sse_parser_t p;
    tg_sse_init(&p, 1 << 16, arena_alloc, &a);
    assert_int_equal(tg_sse_feed(&p, junk, sizeof(junk) - 1, record, &s), 0);
    assert_int_equal(s.events, 5);
    assert_int_equal(s.content, 0);       /* empty content is no token */
    assert_int_equal(s.usage.present, 0); /* non-numeric usage is rejected */
    assert_int_equal(s.done, 0);
    assert_int_equal(s.joined_len, sizeof(junk) - 1);
    arena_free(&a);
}

static void test_unterminated_tail_stays_pending(void **state)
{
    static const char cut[] = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choi";
    arena_t a = {0};
    seen_t s = {0};
    tg_sse_parser_t p;
    tg_sse_init(&p, 1 << 16, arena_alloc, &a);
    assert_int_equal(tg_sse_feed(&p, cut, sizeof(cut) - 1, record, &s), 0);
    assert_int_equal(s.events, 1);
    assert_int_equal(tg_sse_pending(&p), strlen("data: {\"choi"));
    arena_free(&a);
}

static void test_oversized_event_fails(void **state)
{
    char big[600];
    memset(big, 'x', sizeof(big));
    arena_t a = {0};
    seen_t s = {0};
    tg_sse_parser_t p;
    tg_sse_init(&p, 512, arena_alloc, &a);
    assert_int_equal(tg_sse_feed(&p, big, 300, record, &s), 0);
    assert_int_equal(tg_sse_feed(&p, big, 300, record, &s), -1);
    assert_int_equal(tg_sse_feed(&p, "\n\n", 2, record, &s), -1);
    assert_int_equal(s.events, 0);
    arena_free(&a);
}

static int stop_after_first(void *ctx, const tg_sse_event_t *ev)
{
    (*(int *)ctx)++;
    return 7;
}

static void test_callback_can_stop(void **state)
{
    arena_t a = {0};
    int calls = 0;
    tg_sse_parser_t p;
    tg_sse_init(&p, 1 << 16, arena_alloc, &a);
    assert_int_equal(tg_sse_feed(&p, stream, sizeof(stream) - 1, stop_after_first, &calls), 7);
    assert_int_equal(calls, 1);
    arena_free(&a);
}

/* Whatever the input, every byte comes out exactly once and in order:
 * events, then the unterminated tail. Random bytes biased towards the
 * characters that matter (newlines, CR, "data:", braces, quotes). */
static void test_random_input_passes_through_unchanged(void **state)
{
    static const char alphabet[] = "\n\n\n\r:data [DONE]{}\"\\usage content choices 0123456789xyz";
    uint64_t seed = 0x243f6a8885a308d3ull;
    for (int round = 0; round < 300; round++) {
        char input[1200];
        size_t len = 1 + (size_t)(seed % sizeof(input));
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            input[i] = (seed >> 40) % 7 == 0 ? (char)(seed >> 48) : alphabet[(seed >> 33) % (sizeof(alphabet) - 1)];
        }
        arena_t a = {0};
        seen_t s = {0};
        tg_sse_parser_t p;
        tg_sse_init(&p, 1 << 16, arena_alloc, &a);
        for (size_t off = 0; off < len;) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t piece = 1 + (size_t)((seed >> 35) % 97);
            if (piece > len - off)
                piece = len - off;
            assert_int_equal(tg_sse_feed(&p, input + off, piece, record, &s), 0);
            off += piece;
        }
        assert_int_equal(s.joined_len + tg_sse_pending(&p), len);
        assert_memory_equal(s.joined, input, s.joined_len);
        assert_memory_equal(p.partial, input + s.joined_len, tg_sse_pending(&p));
        arena_free(&a);
    }
}

/* The first-token deadline waits for output: the role-only first chunk
 * and keep-alives are not, text, tool calls, refusals and reasoning are. */
static void test_has_output(void **state)
{
    static const struct {
        const char *event;
        int output;
    } cases[] = {
        {"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}}]}\n\n", 0},
        {"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n", 0},
        {": keep-alive\n\n", 0},
        {"data: [DONE]\n\n", 0},
        {"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n", 1},
        {"data: {\"choices\":[{\"delta\":{\"content\":null,\"tool_calls\":[{\"index\":0}]}}]}\n\n", 1},
        {"data: {\"choices\":[{\"delta\":{\"refusal\":\"No.\"}}]}\n\n", 1},
        {"data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"Hmm\"}}]}\n\n", 1},
        {"data: {\"choices\":[{\"delta\":{\"content\":\"say \\\"tool_calls\\\": 1\"}}]}\n\n", 1},
        {"data: {\"choices\":[{\"delta\":{\"content\":\"\",\"x\":\"\\\"refusal\\\":1\"}}]}\n\n", 0},
        /* the Responses API: its response object is not output, its deltas are */
        {"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"status\":\"in_progress\","
         "\"output\":[],\"reasoning\":{\"effort\":null},\"tools\":[{\"type\":\"function\"}]}}\n\n", 0},
        {"event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\","
         "\"part\":{\"type\":\"output_text\",\"text\":\"\"}}\n\n", 0},
        {"event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\","
         "\"item\":{\"type\":\"function_call\",\"name\":\"f\",\"arguments\":\"\"}}\n\n", 0},
        {"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"tok1\"}\n\n", 1},
        {"event: response.function_call_arguments.delta\ndata: {\"type\":"
         "\"response.function_call_arguments.delta\",\"delta\":\"{\\\"\"}\n\n", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tg_sse_event_t ev;
        tg_sse_classify(cases[i].event, strlen(cases[i].event), &ev);
        if (tg_sse_has_output(&ev) != cases[i].output)
            fail_msg("case %zu: %s", i, cases[i].event);
    }
}

static void test_usage_scan_plain_response(void **state)
{
    static const char body[] = "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"say \\\"usage\\\": {\\\"prompt_tokens\\\": 99}\"}}],"
                               "\"usage\" : { \"prompt_tokens\" : 7, \"completion_tokens\": 16, \"total_tokens\": 23 } }";
    tg_usage_t u;
    assert_int_equal(tg_usage_scan(body, sizeof(body) - 1, &u), 1);
    assert_int_equal(u.prompt_tokens, 7);
    assert_int_equal(u.completion_tokens, 16);
    assert_int_equal(u.cached_tokens, 0);

    assert_int_equal(tg_usage_scan("{\"usage\":null}", 14, &u), 0);
    assert_int_equal(tg_usage_scan("{\"a\":1}", 7, &u), 0);
    assert_int_equal(tg_usage_scan("{\"usage\":{\"prompt_tokens\":3", 27, &u), -1);
    assert_int_equal(tg_usage_scan("{\"usage\":", 9, &u), 0);
    assert_int_equal(u.present, 0);
}

/* Hostile usage numbers: non-integers are refused, parts are capped by
 * their totals. */
static void test_usage_scan_hostile_numbers(void **state)
{
    (void)state;
    static const char fraction[] = "{\"usage\":{\"prompt_tokens\":1e3,\"completion_tokens\":2}}";
    static const char decimal[] = "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2.5}}";
    static const char negative[] = "{\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":2}}";
    static const char huge[] = "{\"usage\":{\"prompt_tokens\":99999999999999999999999}}";
    static const char parts[] = "{\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1,"
                                "\"prompt_tokens_details\":{\"cached_tokens\":100},"
                                "\"completion_tokens_details\":{\"reasoning_tokens\":50}}}";
    tg_usage_t u;
    assert_int_equal(tg_usage_scan(fraction, sizeof(fraction) - 1, &u), -1);
    assert_int_equal(tg_usage_scan(decimal, sizeof(decimal) - 1, &u), -1);
    assert_int_equal(tg_usage_scan(negative, sizeof(negative) - 1, &u), -1);
    assert_int_equal(tg_usage_scan(huge, sizeof(huge) - 1, &u), -1);
    assert_int_equal(u.present, 0);
    assert_int_equal(tg_usage_scan(parts, sizeof(parts) - 1, &u), 1);
    assert_int_equal(u.prompt_tokens, 2);
    assert_int_equal(u.cached_tokens, 2);
    assert_int_equal(u.completion_tokens, 1);
    assert_int_equal(u.reasoning_tokens, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_stream_in_one_read),
        cmocka_unit_test(test_split_at_every_boundary),
        cmocka_unit_test(test_one_byte_at_a_time),
        cmocka_unit_test(test_crlf_framing),
        cmocka_unit_test(test_garbage_is_forwarded_not_counted),
        cmocka_unit_test(test_unterminated_tail_stays_pending),
        cmocka_unit_test(test_oversized_event_fails),
        cmocka_unit_test(test_callback_can_stop),
        cmocka_unit_test(test_random_input_passes_through_unchanged),
        cmocka_unit_test(test_has_output),
        cmocka_unit_test(test_usage_scan_plain_response),
        cmocka_unit_test(test_usage_scan_hostile_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
