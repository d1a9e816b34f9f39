/* anthropic_stream.c: streamed responses, both ways (see anthropic.h).
 *
 * Upstream bytes are framed into SSE events here (lines end at LF, a CR
 * before it is dropped; data lines are joined; comments, event names and
 * other fields are not needed: the JSON says its type), so that where the
 * network splits the stream never changes the output. Each event is then
 * translated into zero or more whole events in the client's API, handed to
 * the emit function one by one.
 *
 * Anthropic -> chat: message_start gives the role chunk; a text block's
 * deltas are content deltas; a tool_use block is a tool call (its start
 * gives id and name, its input_json_deltas the arguments); message_delta
 * gives the finish chunk; message_stop the usage chunk (when asked) and
 * [DONE]. Chat -> Anthropic: the first chunk gives message_start; content
 * opens (or continues) a text block, each new tool call closes the open
 * block and opens a tool_use one; [DONE] closes the last block and gives
 * message_delta (stop reason, usage) and message_stop. */
#include "upstream/anthropic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "upstream/xlate.h"

#define DEFAULT_MAX_EVENT (1u << 20)
#define MAX_BLOCKS 4096 /* content blocks (or tool calls) of one message */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static int buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

enum { BLOCK_NONE, BLOCK_TEXT, BLOCK_TOOL, BLOCK_SKIPPED, BLOCK_CLOSED };

struct tg_anthropic_stream {
    tg_anthropic_stream_dir_t dir;
    char *model; /* the name the client sees, or NULL: the provider's */
    int include_usage;
    long created;
    size_t max_event;

    buf_t line; /* a line not yet ended */
    buf_t data; /* the data lines of the event not yet ended */
    int has_data;
    buf_t out; /* the event being emitted */

    json_t *id, *upstream_model; /* of the message, from its first event */
    int started;                 /* role chunk / message_start sent */
    int finished;                /* finish chunk sent (to chat) */
    /* to chat: what each Anthropic content block is, and its tool call
     * number; from chat: the Anthropic block of each OpenAI tool call */
    unsigned char *kind;
    int *number;
    size_t blocks;
    int tools;      /* to chat: tool calls so far */
    int open_block; /* from chat: the index of the open block, -1 none */
    int open_kind;
    int next_block;
    const char *stop_reason; /* from chat: Anthropic's word, once known */

    tg_xlate_emit_fn emit;
    void *emit_ctx;
    int emit_rc;

    tg_anthropic_stream_info_t info;
};

tg_anthropic_stream_t *tg_anthropic_stream_new(tg_anthropic_stream_dir_t dir, const char *model, int include_usage,
                                               long created, size_t max_event_bytes)
{
    tg_anthropic_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->dir = dir;
    s->include_usage = include_usage;
    s->created = created != 0 ? created : (long)time(NULL);
    s->max_event = max_event_bytes ? max_event_bytes : DEFAULT_MAX_EVENT;
    s->open_block = -1;
    if (model != NULL && (s->model = strdup(model)) == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void tg_anthropic_stream_free(tg_anthropic_stream_t *s)
{
    if (s == NULL)
        return;
    free(s->model);
    free(s->line.p);
    free(s->data.p);
    free(s->out.p);
    free(s->kind);
    free(s->number);
    json_decref(s->id);
    json_decref(s->upstream_model);
    free(s);
}

const tg_anthropic_stream_info_t *tg_anthropic_stream_info(const tg_anthropic_stream_t *s)
{
    return &s->info;
}

/* ---- output ------------------------------------------------------------ */

/* Emits one event: `event: <name>` (Anthropic's shape) when name is not
 * NULL, then `data: <text>`. Returns 0, or the emit function's value. */
static int emit_text(tg_anthropic_stream_t *s, const char *name, const char *text, size_t len)
{
    s->out.len = 0;
    if ((name != NULL && (buf_add(&s->out, "event: ", 7) < 0 || buf_add(&s->out, name, strlen(name)) < 0 ||
                          buf_add(&s->out, "\n", 1) < 0)) ||
        buf_add(&s->out, "data: ", 6) < 0 || buf_add(&s->out, text, len) < 0 || buf_add(&s->out, "\n\n", 2) < 0)
        return -1;
    s->emit_rc = s->emit(s->emit_ctx, s->out.p, s->out.len);
    return s->emit_rc;
}

/* Emits ev (stolen); -1 when out of memory. */
static int emit_json(tg_anthropic_stream_t *s, const char *name, json_t *ev)
{
    char *text = ev != NULL ? json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(ev);
    if (text == NULL)
        return -1;
    int rc = emit_text(s, name, text, strlen(text));
    free(text);
    return rc;
}

/* The stream cannot go on: tell the client in its API's shape, once. */
static int fail(tg_anthropic_stream_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(tg_anthropic_stream_t *s, const char *fmt, ...)
{
    va_list ap;
    if (s->info.failed)
        return -1;
    s->info.failed = 1;
    s->info.error.status = 502;
    va_start(ap, fmt);
    vsnprintf(s->info.error.message, sizeof(s->info.error.message), fmt, ap);
    va_end(ap);
    if (s->dir == TG_ANTHROPIC_STREAM_TO_CHAT) {
        char body[TG_ERROR_JSON_MAX];
        tg_error_t e;
        tg_error_set(&e, 200, TG_ERR_UPSTREAM, TG_CODE_UPSTREAM_STREAM_BROKEN, s->info.error.message, NULL);
        size_t n = tg_error_json(body, sizeof(body), &e);
        emit_text(s, NULL, body, n - 1); /* without its newline: the frame ends the line */
    } else {
        emit_json(s, "error", json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "type", "api_error",
                                        "message", s->info.error.message));
    }
    return -1;
}

/* Runs a step that emits: 0 on, else stop with the emit function's value,
 * or fail when out of memory. */
#define EMIT(s, call)                                                                                 \
    do {                                                                                              \
        int emit_rc_ = (call);                                                                        \
        if (emit_rc_ != 0)                                                                            \
            return (s)->emit_rc != 0 ? (s)->emit_rc : fail((s), "out of memory translating the stream"); \
    } while (0)

static json_t *model_of(tg_anthropic_stream_t *s)
{
    return s->model != NULL ? json_string(s->model) : json_incref(s->upstream_model);
}

/* Keeps the message's id and the provider's model from its first event. */
static int identify(tg_anthropic_stream_t *s, json_t *id, json_t *model)
{
    if (!json_is_string(id) || (s->model == NULL && !json_is_string(model)))
        return fail(s, "the provider's stream does not say its message id and model");
    s->id = json_incref(id);
    s->upstream_model = json_is_string(model) ? json_incref(model) : NULL;
    s->started = 1;
    return 0;
}

/* Grows the block tables to hold index i. */
static int block_slot(tg_anthropic_stream_t *s, json_t *index, size_t *out)
{
    if (!json_is_integer(index) || json_integer_value(index) < 0 || json_integer_value(index) >= MAX_BLOCKS)
        return fail(s, "the provider's stream has a block index that is not a small non-negative integer");
    size_t i = (size_t)json_integer_value(index);
    if (i >= s->blocks) {
        size_t n = i + 8 < MAX_BLOCKS ? i + 8 : MAX_BLOCKS;
        unsigned char *kind = realloc(s->kind, n);
        if (kind != NULL)
            s->kind = kind;
        int *number = kind != NULL ? realloc(s->number, n * sizeof(int)) : NULL;
        if (number == NULL)
            return fail(s, "out of memory translating the stream");
        s->number = number;
        memset(s->kind + s->blocks, BLOCK_NONE, n - s->blocks);
        s->blocks = n;
    }
    *out = i;
    return 0;
}

/* ---- Anthropic events -> chat chunks ----------------------------------- */

/* A chat.completion.chunk with one choice (delta stolen), or with none and
 * the usage (delta NULL). */
static json_t *chunk(tg_anthropic_stream_t *s, json_t *delta, const char *finish_reason)
{
    json_t *c = json_pack("{s:O,s:s,s:I,s:o}", "id", s->id, "object", "chat.completion.chunk", "created",
                          (json_int_t)s->created, "model", model_of(s));
    if (c == NULL) {
        json_decref(delta);
        return NULL;
    }
    json_t *choices = delta != NULL ? json_pack("[{s:i,s:o,s:n,s:s?}]", "index", 0, "delta", delta, "logprobs",
                                                "finish_reason", finish_reason)
                                    : json_array();
    json_t *usage = delta == NULL ? tg_xlate_usage_chat(&s->info.usage) : NULL;
    if (choices == NULL || json_object_set_new(c, "choices", choices) != 0 ||
        (delta == NULL && (usage == NULL || json_object_set_new(c, "usage", usage) != 0))) {
        json_decref(c);
        return NULL;
    }
    return c;
}

static int emit_chunk(tg_anthropic_stream_t *s, json_t *delta, const char *finish_reason)
{
    return emit_json(s, NULL, chunk(s, delta, finish_reason));
}

/* A tool_calls delta: the call's number, and its start (id, name) or a
 * piece of its arguments. */
static json_t *tool_delta(int number, json_t *id, json_t *name, const char *arguments, size_t len)
{
    json_t *call = id != NULL ? json_pack("{s:i,s:O,s:s,s:{s:O,s:s%}}", "index", number, "id", id, "type",
                                          "function", "function", "name", name, "arguments", arguments, len)
                              : json_pack("{s:i,s:{s:s%}}", "index", number, "function", "arguments", arguments, len);
    return call != NULL ? json_pack("{s:[o]}", "tool_calls", call) : NULL;
}

static int on_block_start(tg_anthropic_stream_t *s, json_t *ev)
{
    json_t *block = json_object_get(ev, "content_block"), *type = json_object_get(block, "type");
    size_t i;
    if (block_slot(s, json_object_get(ev, "index"), &i) < 0)
        return -1;
    if (s->kind[i] != BLOCK_NONE)
        return fail(s, "the provider's stream starts content block %zu twice", i);
    if (!json_is_string(type))
        return fail(s, "the provider's stream starts a content block without a type");
    if (strcmp(json_string_value(type), "text") == 0) {
        json_t *text = json_object_get(block, "text");
        s->kind[i] = BLOCK_TEXT;
        if (json_string_length(text) > 0) {
            s->info.output_seen = 1;
            EMIT(s, emit_chunk(s, json_pack("{s:O}", "content", text), NULL));
        }
    } else if (strcmp(json_string_value(type), "tool_use") == 0) {
        json_t *id = json_object_get(block, "id"), *name = json_object_get(block, "name");
        json_t *input = json_object_get(block, "input");
        if (!json_is_string(id) || !json_is_string(name))
            return fail(s, "the provider's stream starts a tool call without an id and name");
        s->kind[i] = BLOCK_TOOL;
        s->number[i] = s->tools++;
        /* the input comes in deltas; a whole one here is the arguments' start */
        char *start = json_object_size(input) > 0 ? json_dumps(input, JSON_COMPACT) : NULL;
        s->info.output_seen = 1;
        json_t *delta = tool_delta(s->number[i], id, name, start != NULL ? start : "", start ? strlen(start) : 0);
        free(start);
        EMIT(s, emit_chunk(s, delta, NULL));
    } else {
        s->kind[i] = BLOCK_SKIPPED; /* thinking, server tools: never asked for */
        s->info.ignored++;
    }
    return 0;
}

static int on_block_delta(tg_anthropic_stream_t *s, json_t *ev)
{
    json_t *delta = json_object_get(ev, "delta"), *type = json_object_get(delta, "type");
    size_t i;
    if (block_slot(s, json_object_get(ev, "index"), &i) < 0)
        return -1;
    if (s->kind[i] == BLOCK_NONE || s->kind[i] == BLOCK_CLOSED)
        return fail(s, "the provider's stream has a delta for content block %zu, which is not open", i);
    if (!json_is_string(type))
        return fail(s, "the provider's stream has a delta without a type");
    const char *t = json_string_value(type);
    if (s->kind[i] == BLOCK_TEXT && strcmp(t, "text_delta") == 0) {
        json_t *text = json_object_get(delta, "text");
        if (!json_is_string(text))
            return fail(s, "the provider's stream has a text delta without text");
        if (json_string_length(text) == 0)
            return 0;
        s->info.output_seen = 1;
        EMIT(s, emit_chunk(s, json_pack("{s:O}", "content", text), NULL));
    } else if (s->kind[i] == BLOCK_TOOL && strcmp(t, "input_json_delta") == 0) {
        json_t *partial = json_object_get(delta, "partial_json");
        if (!json_is_string(partial))
            return fail(s, "the provider's stream has a tool input delta without partial_json");
        if (json_string_length(partial) == 0)
            return 0;
        EMIT(s, emit_chunk(s, tool_delta(s->number[i], NULL, NULL, json_string_value(partial),
                                         json_string_length(partial)), NULL));
    } else if (strcmp(t, "text_delta") == 0 || strcmp(t, "input_json_delta") == 0) {
        return fail(s, "the provider's stream has a %s for content block %zu of another type", t, i);
    } else if (s->kind[i] != BLOCK_SKIPPED) {
        s->info.ignored++; /* citations, signatures: not asked for */
    }
    return 0;
}

static int on_message_delta(tg_anthropic_stream_t *s, json_t *ev)
{
    json_t *reason = json_object_get(json_object_get(ev, "delta"), "stop_reason");
    tg_xlate_usage_from_anthropic(json_object_get(ev, "usage"), &s->info.usage);
    if (!json_is_string(reason) || s->finished)
        return 0;
    const char *finish = tg_xlate_finish_reason(json_string_value(reason));
    if (finish == NULL) {
        finish = "stop"; /* a reason newer than this table: it did stop */
        s->info.ignored++;
    }
    s->finished = 1;
    EMIT(s, emit_chunk(s, json_object(), finish));
    return 0;
}

static int on_message_stop(tg_anthropic_stream_t *s)
{
    if (!s->finished) {
        s->finished = 1;
        EMIT(s, emit_chunk(s, json_object(), "stop"));
    }
    if (s->include_usage)
        EMIT(s, emit_chunk(s, NULL, NULL));
    s->info.done = 1;
    EMIT(s, emit_text(s, NULL, "[DONE]", 6));
    return 0;
}

static int on_anthropic_event(tg_anthropic_stream_t *s, json_t *ev)
{
    json_t *type = json_object_get(ev, "type");
    if (!json_is_string(type))
        return fail(s, "the provider's stream has an event without a type");
    const char *t = json_string_value(type);

    if (strcmp(t, "ping") == 0)
        return 0;
    if (strcmp(t, "error") == 0) {
        json_t *error = json_object_get(ev, "error");
        json_t *etype = json_object_get(error, "type"), *message = json_object_get(error, "message");
        return fail(s, "the provider's stream failed (%s): %s", json_is_string(etype) ? json_string_value(etype) : "error",
                    json_is_string(message) ? json_string_value(message) : "no message");
    }
    if (strcmp(t, "message_start") == 0) {
        json_t *message = json_object_get(ev, "message");
        if (s->started)
            return fail(s, "the provider's stream starts its message twice");
        if (identify(s, json_object_get(message, "id"), json_object_get(message, "model")) < 0)
            return -1;
        tg_xlate_usage_from_anthropic(json_object_get(message, "usage"), &s->info.usage);
        EMIT(s, emit_chunk(s, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL));
        return 0;
    }
    int known = strcmp(t, "content_block_start") == 0 || strcmp(t, "content_block_delta") == 0 ||
                strcmp(t, "content_block_stop") == 0 || strcmp(t, "message_delta") == 0 ||
                strcmp(t, "message_stop") == 0;
    if (!known) {
        s->info.ignored++; /* a newer event type: Anthropic's versioning allows them */
        return 0;
    }
    if (!s->started)
        return fail(s, "the provider's stream sends %s before message_start", t);
    if (strcmp(t, "content_block_start") == 0)
        return on_block_start(s, ev);
    if (strcmp(t, "content_block_delta") == 0)
        return on_block_delta(s, ev);
    if (strcmp(t, "content_block_stop") == 0) {
        size_t i;
        if (block_slot(s, json_object_get(ev, "index"), &i) < 0)
            return -1;
        if (s->kind[i] == BLOCK_NONE || s->kind[i] == BLOCK_CLOSED)
            return fail(s, "the provider's stream stops content block %zu, which is not open", i);
        s->kind[i] = BLOCK_CLOSED;
        return 0;
    }
    if (strcmp(t, "message_delta") == 0)
        return on_message_delta(s, ev);
    return on_message_stop(s);
}

/* ---- chat chunks -> Anthropic events ----------------------------------- */

static int emit_event(tg_anthropic_stream_t *s, const char *type, json_t *ev)
{
    if (ev != NULL && json_object_set_new(ev, "type", json_string(type)) != 0) {
        json_decref(ev);
        ev = NULL;
    }
    return emit_json(s, type, ev);
}

static int message_start(tg_anthropic_stream_t *s)
{
    json_t *message = json_pack("{s:O,s:s,s:s,s:o,s:[],s:n,s:n,s:o}", "id", s->id, "type", "message", "role",
                                "assistant", "model", model_of(s), "content", "stop_reason", "stop_sequence",
                                "usage", tg_xlate_usage_anthropic(&s->info.usage));
    EMIT(s, emit_event(s, "message_start", json_pack("{s:o}", "message", message)));
    return 0;
}

static int close_block(tg_anthropic_stream_t *s)
{
    if (s->open_block < 0)
        return 0;
    int index = s->open_block;
    s->open_block = -1;
    EMIT(s, emit_event(s, "content_block_stop", json_pack("{s:i}", "index", index)));
    return 0;
}

/* Opens the next block (block stolen). */
static int open_block(tg_anthropic_stream_t *s, int kind, json_t *block)
{
    if (close_block(s) != 0) {
        json_decref(block);
        return -1;
    }
    if (s->next_block >= MAX_BLOCKS) {
        json_decref(block);
        return fail(s, "the provider's stream has more than %d content blocks", MAX_BLOCKS);
    }
    s->open_block = s->next_block++;
    s->open_kind = kind;
    EMIT(s, emit_event(s, "content_block_start", json_pack("{s:i,s:o}", "index", s->open_block, "content_block", block)));
    return 0;
}

static int block_delta(tg_anthropic_stream_t *s, json_t *delta)
{
    EMIT(s, emit_event(s, "content_block_delta", json_pack("{s:i,s:o}", "index", s->open_block, "delta", delta)));
    return 0;
}

static int on_text(tg_anthropic_stream_t *s, json_t *text)
{
    if (!json_is_string(text) || json_string_length(text) == 0)
        return 0;
    if (s->open_block < 0 || s->open_kind != BLOCK_TEXT) {
        if (open_block(s, BLOCK_TEXT, json_pack("{s:s,s:s}", "type", "text", "text", "")) != 0)
            return s->emit_rc ? s->emit_rc : -1;
    }
    s->info.output_seen = 1;
    return block_delta(s, json_pack("{s:s,s:O}", "type", "text_delta", "text", text));
}

static int on_tool_call(tg_anthropic_stream_t *s, json_t *call)
{
    json_t *fn = json_object_get(call, "function"), *id = json_object_get(call, "id");
    json_t *name = json_object_get(fn, "name"), *arguments = json_object_get(fn, "arguments");
    size_t i;

    if (block_slot(s, json_object_get(call, "index"), &i) < 0)
        return -1;
    if (s->kind[i] == BLOCK_NONE) {
        if (!json_is_string(id) || !json_is_string(name))
            return fail(s, "the provider's stream starts a tool call without an id and name");
        s->kind[i] = BLOCK_TOOL;
        s->info.output_seen = 1;
        if (open_block(s, BLOCK_TOOL, json_pack("{s:s,s:O,s:O,s:{}}", "type", "tool_use", "id", id, "name", name,
                                                "input")) != 0)
            return s->emit_rc ? s->emit_rc : -1;
        s->number[i] = s->open_block;
    } else if (s->number[i] != s->open_block) {
        /* Anthropic cannot reopen a block: calls must come one after another */
        return fail(s, "the provider's stream interleaves tool calls, which Anthropic's stream cannot express");
    }
    if (arguments != NULL && !json_is_null(arguments) && !json_is_string(arguments))
        return fail(s, "the provider's stream has tool call arguments that are not a string");
    if (json_string_length(arguments) == 0)
        return 0;
    return block_delta(s, json_pack("{s:s,s:O}", "type", "input_json_delta", "partial_json", arguments));
}

static int on_choice(tg_anthropic_stream_t *s, json_t *choice)
{
    json_t *delta = json_object_get(choice, "delta"), *finish = json_object_get(choice, "finish_reason");
    json_t *calls = json_object_get(delta, "tool_calls"), *call, *v;
    const char *key;
    size_t i;
    int rc;

    if (!json_is_integer(json_object_get(choice, "index")) || json_integer_value(json_object_get(choice, "index")) != 0)
        return fail(s, "the provider's stream has a choice other than the one asked for");
    json_object_foreach(delta, key, v) {
        if (strcmp(key, "content") == 0 || strcmp(key, "refusal") == 0) {
            if ((rc = on_text(s, v)) != 0)
                return rc;
            if (strcmp(key, "refusal") == 0 && json_string_length(v) > 0)
                s->stop_reason = "refusal";
        } else if (strcmp(key, "tool_calls") != 0 && strcmp(key, "role") != 0 && !json_is_null(v)) {
            s->info.ignored++; /* reasoning and the like, which were not asked for */
        }
    }
    if (calls != NULL && !json_is_null(calls) && !json_is_array(calls))
        return fail(s, "the provider's stream has tool_calls that are not an array");
    json_array_foreach(calls, i, call) {
        if ((rc = on_tool_call(s, call)) != 0)
            return rc;
    }
    if (json_is_string(finish) && (s->stop_reason == NULL || strcmp(s->stop_reason, "refusal") != 0)) {
        s->stop_reason = tg_xlate_stop_reason(json_string_value(finish));
        if (s->stop_reason == NULL) {
            s->stop_reason = "end_turn";
            s->info.ignored++;
        }
    }
    return 0;
}

static int on_chunk(tg_anthropic_stream_t *s, json_t *ch)
{
    json_t *error = json_object_get(ch, "error"), *choices = json_object_get(ch, "choices"), *choice;
    size_t i;
    int rc;

    if (error != NULL) {
        json_t *message = json_object_get(error, "message");
        return fail(s, "the provider's stream failed: %s", json_is_string(message) ? json_string_value(message) : "no message");
    }
    if (!json_is_array(choices))
        return fail(s, "the provider's stream has a chunk without choices");
    tg_xlate_usage_from_chat(json_object_get(ch, "usage"), &s->info.usage);
    if (!s->started) {
        if (identify(s, json_object_get(ch, "id"), json_object_get(ch, "model")) < 0)
            return -1;
        if ((rc = message_start(s)) != 0)
            return rc;
    }
    json_array_foreach(choices, i, choice) {
        if ((rc = on_choice(s, choice)) != 0)
            return rc;
    }
    return 0;
}

static int on_done(tg_anthropic_stream_t *s)
{
    int rc;
    if (!s->started)
        return fail(s, "the provider's stream ended before its first chunk");
    if ((rc = close_block(s)) != 0)
        return rc;
    json_t *delta = json_pack("{s:s,s:n}", "stop_reason", s->stop_reason ? s->stop_reason : "end_turn", "stop_sequence");
    EMIT(s, emit_event(s, "message_delta", json_pack("{s:o,s:o}", "delta", delta, "usage",
                                                     tg_xlate_usage_anthropic(&s->info.usage))));
    s->info.done = 1;
    EMIT(s, emit_event(s, "message_stop", json_object()));
    return 0;
}

/* ---- SSE framing ------------------------------------------------------- */

static int dispatch(tg_anthropic_stream_t *s)
{
    const char *data = s->data.p;
    size_t len = s->data.len - 1; /* the last data line's LF is not data */

    s->has_data = 0;
    s->data.len = 0;
    if (s->dir == TG_ANTHROPIC_STREAM_FROM_CHAT && len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return on_done(s);
    json_t *ev = json_loadb(data, len, 0, NULL);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return fail(s, "the provider's stream has an event that is not a JSON object");
    }
    int rc = s->dir == TG_ANTHROPIC_STREAM_TO_CHAT ? on_anthropic_event(s, ev) : on_chunk(s, ev);
    json_decref(ev);
    return rc;
}

static int on_line(tg_anthropic_stream_t *s, const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n == 0)
        return s->has_data ? dispatch(s) : 0;
    if (n < 5 || memcmp(p, "data:", 5) != 0)
        return 0; /* event:, id:, retry:, comments */
    p += 5, n -= 5;
    if (n > 0 && *p == ' ')
        p++, n--;
    if (s->data.len + n + 1 > s->max_event)
        return fail(s, "an event of the provider's stream exceeds %zu bytes", s->max_event);
    if (buf_add(&s->data, p, n) < 0 || buf_add(&s->data, "\n", 1) < 0)
        return fail(s, "out of memory translating the stream");
    s->has_data = 1;
    return 0;
}

int tg_anthropic_stream_feed(tg_anthropic_stream_t *s, const char *data, size_t len, tg_xlate_emit_fn emit,
                             void *ctx)
{
    s->emit = emit;
    s->emit_ctx = ctx;
    s->emit_rc = 0;
    while (len > 0 && !s->info.done && !s->info.failed) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - data) : len;
        if (s->line.len + n > s->max_event)
            return fail(s, "a line of the provider's stream exceeds %zu bytes", s->max_event);
        if (nl == NULL || s->line.len > 0) {
            if (buf_add(&s->line, data, n) < 0)
                return fail(s, "out of memory translating the stream");
        }
        if (nl == NULL)
            break;
        int rc = s->line.len > 0 ? on_line(s, s->line.p, s->line.len) : on_line(s, data, n);
        s->line.len = 0;
        if (rc != 0)
            return rc;
        data += n + 1;
        len -= n + 1;
    }
    return s->info.failed ? -1 : 0;
}

int tg_anthropic_stream_finish(tg_anthropic_stream_t *s, tg_xlate_emit_fn emit, void *ctx)
{
    s->emit = emit;
    s->emit_ctx = ctx;
    s->emit_rc = 0;
    if (s->info.done)
        return 0;
    if (s->info.failed)
        return -1;
    /* a last event without its blank line is still whole */
    if (s->line.len > 0) {
        int rc = on_line(s, s->line.p, s->line.len);
        s->line.len = 0;
        if (rc != 0)
            return rc;
    }
    if (!s->info.done && !s->info.failed && s->has_data) {
        int rc = dispatch(s);
        if (rc != 0)
            return rc;
    }
    if (s->info.done)
        return 0;
    /* an OpenAI-compatible provider that said why it stopped but not [DONE] */
    if (!s->info.failed && s->dir == TG_ANTHROPIC_STREAM_FROM_CHAT && s->stop_reason != NULL) {
        int rc = on_done(s);
        if (rc != 0 || s->info.done)
            return rc;
    }
    return fail(s, "The upstream provider's stream broke off; the response is incomplete.");
}
