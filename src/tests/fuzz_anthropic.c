/* fuzz_anthropic.c: libFuzzer target for the OpenAI chat <-> Anthropic
 * messages translation (upstream/anthropic.h). The first input byte picks
 * the entry point, the second how a stream is split into reads; the rest
 * is the body or the stream.
 *
 * Checked beyond "no crash, no leak": every output is JSON (or SSE whose
 * data is JSON or [DONE]); a request one way translates back the other way
 * (whatever one direction writes, the other reads); a stream gives the
 * same bytes and the same counts however it is split.
 *
 * Seeds: src/tests/corpus/fuzz_anthropic (a build-fuzz/src/gw_fuzz_anthropic
 * run: gw_fuzz_anthropic -max_total_time=60 scratch_dir src/tests/corpus/fuzz_anthropic). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "upstream/anthropic.h"

static void check_json(const char *s, size_t len)
{
    json_t *j = json_loadb(s, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(j))
        __builtin_trap();
    json_decref(j);
}

/* Each translated request must be readable by the opposite direction. */
static void request(const char *body, size_t len, int to_anthropic)
{
    tg_xlate_error_t err;
    size_t out_len;
    char *out = to_anthropic ? tg_anthropic_request_from_chat(body, len, "u", 100, &out_len, &err)
                             : tg_anthropic_request_to_chat(body, len, "u", &out_len, &err);
    if (out == NULL) {
        if (err.status != 400 || err.message[0] == '\0')
            __builtin_trap();
        return;
    }
    check_json(out, out_len);
    size_t back_len;
    char *back = to_anthropic ? tg_anthropic_request_to_chat(out, out_len, "u", &back_len, &err)
                              : tg_anthropic_request_from_chat(out, out_len, "u", 100, &back_len, &err);
    if (back == NULL)
        __builtin_trap();
    check_json(back, back_len);
    free(back);
    free(out);
}

static void response(const char *body, size_t len, int to_chat)
{
    tg_xlate_error_t err;
    tg_xlate_usage_t usage;
    size_t out_len;
    char *out = to_chat ? tg_anthropic_response_to_chat(body, len, NULL, 1, &usage, &out_len, &err)
                        : tg_anthropic_response_from_chat(body, len, NULL, &usage, &out_len, &err);
    if (out == NULL) {
        if (err.status != 502)
            __builtin_trap();
    } else {
        check_json(out, out_len);
        free(out);
    }
    if (usage.cached_tokens > usage.prompt_tokens || usage.prompt_tokens < 0)
        __builtin_trap();
    out = to_chat ? tg_anthropic_error_to_chat(500, body, len, &out_len)
                  : tg_anthropic_error_from_chat(500, body, len, &out_len);
    check_json(out, out_len);
    free(out);
}

typedef struct sink {
    char *text;
    size_t len, cap;
} sink_t;

/* Every event: optional `event: name` line, one `data: ` line, blank line. */
static int collect(void *ctx, const char *data, size_t len)
{
    sink_t *s = ctx;
    const char *d = data;
    if (len < 8 || memcmp(data + len - 2, "\n\n", 2) != 0)
        __builtin_trap();
    if (memcmp(d, "event: ", 7) == 0)
        d = memchr(d, '\n', len) + 1;
    if (memcmp(d, "data: ", 6) != 0)
        __builtin_trap();
    size_t n = (size_t)(data + len - 2 - d - 6);
    if (!(n == 6 && memcmp(d + 6, "[DONE]", 6) == 0))
        check_json(d + 6, n);
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->text = realloc(s->text, s->cap);
    }
    memcpy(s->text + s->len, data, len);
    s->len += len;
    return 0;
}

static void run(tg_anthropic_stream_dir_t dir, const char *input, size_t len, size_t piece, sink_t *out,
                tg_anthropic_stream_info_t *info)
{
    tg_anthropic_stream_t *s = tg_anthropic_stream_new(dir, NULL, 1, 1, 2048);
    for (size_t off = 0; off < len; off += piece)
        tg_anthropic_stream_feed(s, input + off, off + piece <= len ? piece : len - off, collect, out);
    int rc = tg_anthropic_stream_finish(s, collect, out);
    *info = *tg_anthropic_stream_info(s);
    if ((rc == 0) != (info->done && !info->failed))
        __builtin_trap();
    tg_anthropic_stream_free(s);
}

static int same_info(const tg_anthropic_stream_info_t *a, const tg_anthropic_stream_info_t *b)
{
    return a->usage.prompt_tokens == b->usage.prompt_tokens && a->usage.cached_tokens == b->usage.cached_tokens &&
           a->usage.cache_write_tokens == b->usage.cache_write_tokens &&
           a->usage.completion_tokens == b->usage.completion_tokens && a->usage.present == b->usage.present &&
           a->output_seen == b->output_seen && a->done == b->done && a->failed == b->failed &&
           a->ignored == b->ignored && a->error.status == b->error.status &&
           strcmp(a->error.message, b->error.message) == 0;
}

static void stream(tg_anthropic_stream_dir_t dir, const char *input, size_t len, size_t piece)
{
    sink_t whole = {0}, split = {0};
    tg_anthropic_stream_info_t a, b;
    run(dir, input, len, len ? len : 1, &whole, &a);
    run(dir, input, len, piece, &split, &b);
    if (whole.len != split.len || (whole.len > 0 && memcmp(whole.text, split.text, whole.len) != 0) ||
        !same_info(&a, &b))
        __builtin_trap();
    free(whole.text);
    free(split.text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *input = (const char *)data + 2;
    size_t len = size - 2, piece = 1 + data[1] % 64;
    switch (data[0] % 6) {
    case 0: request(input, len, 1); break;
    case 1: request(input, len, 0); break;
    case 2: response(input, len, 1); break;
    case 3: response(input, len, 0); break;
    case 4: stream(TG_ANTHROPIC_STREAM_TO_CHAT, input, len, piece); break;
    default: stream(TG_ANTHROPIC_STREAM_FROM_CHAT, input, len, piece); break;
    }
    return 0;
}
