/* anthropic_response.c: plain (unstreamed) responses and error bodies,
 * both ways (see anthropic.h). What a provider adds beyond the shapes read
 * here (service_tier, system_fingerprint, annotations, ...) is not the
 * client's request and has no place in the other API's answer: it is not
 * carried over. A content block or tool call the client's API cannot
 * express is a 502, never left out. */
#include "upstream/anthropic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "upstream/xlate.h"

/* The text of a list of JSON strings, joined: Anthropic splits an answer's
 * text into blocks where OpenAI has one string. NULL (and the error) when
 * out of memory; json null for no text at all. */
static json_t *joined(tg_xlate_ctx_t *c, json_t *texts)
{
    size_t total = 0, i;
    json_t *t;

    if (json_array_size(texts) == 0)
        return json_null();
    if (json_array_size(texts) == 1)
        return json_incref(json_array_get(texts, 0));
    json_array_foreach(texts, i, t) total += json_string_length(t);
    char *buf = malloc(total + 1);
    if (buf == NULL)
        return tg_xlate_oom(c), NULL;
    total = 0;
    json_array_foreach(texts, i, t) {
        memcpy(buf + total, json_string_value(t), json_string_length(t));
        total += json_string_length(t);
    }
    json_t *s = json_stringn_nocheck(buf, total);
    free(buf);
    if (s == NULL)
        tg_xlate_oom(c);
    return s;
}

/* A tool_use block's input as an OpenAI tool call (arguments: JSON text). */
static json_t *tool_call_of(tg_xlate_ctx_t *c, json_t *block)
{
    json_t *id = json_object_get(block, "id"), *name = json_object_get(block, "name");
    json_t *input = json_object_get(block, "input");
    if (tg_xlate_string(c, id, "id") == NULL || tg_xlate_string(c, name, "name") == NULL ||
        tg_xlate_object(c, input, "input") < 0)
        return NULL;
    char *arguments = json_dumps(input, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_t *call = arguments == NULL ? NULL
                                     : json_pack("{s:O,s:s,s:{s:O,s:s}}", "id", id, "type", "function", "function",
                                                 "name", name, "arguments", arguments);
    free(arguments);
    if (call == NULL)
        tg_xlate_oom(c);
    return call;
}

static const char *finish_reason_of(const json_t *stop_reason)
{
    const char *mapped = json_is_string(stop_reason) ? tg_xlate_finish_reason(json_string_value(stop_reason)) : NULL;
    return mapped != NULL ? mapped : "stop"; /* null or a reason newer than this table: it did stop */
}

/* The blocks of an Anthropic message's content as texts and tool calls. */
static int split_content(tg_xlate_ctx_t *c, json_t *content, json_t *texts, json_t *calls)
{
    size_t i, mark = tg_xlate_push_key(c, "content");
    json_t *block;

    json_array_foreach(content, i, block) {
        size_t block_mark = tg_xlate_push_index(c, i);
        const char *type = tg_xlate_string(c, json_object_get(block, "type"), "type");
        if (type == NULL)
            return -1;
        if (strcmp(type, "text") == 0) {
            json_t *text = json_object_get(block, "text");
            if (tg_xlate_string(c, text, "text") == NULL || tg_xlate_append(c, texts, json_incref(text)) < 0)
                return -1;
        } else if (strcmp(type, "tool_use") == 0) {
            json_t *call = tool_call_of(c, block);
            if (call == NULL || tg_xlate_append(c, calls, call) < 0)
                return -1;
        } else {
            return tg_xlate_fail(c, 502, "the provider answered with a '%s' block, which a chat completion cannot carry",
                                 type);
        }
        tg_xlate_pop(c, block_mark);
    }
    tg_xlate_pop(c, mark);
    return 0;
}

static int message_to_chat(tg_xlate_ctx_t *c, json_t *in, const char *model, long created, tg_xlate_usage_t *usage,
                           json_t *out)
{
    json_t *content = json_object_get(in, "content");

    tg_xlate_usage_from_anthropic(json_object_get(in, "usage"), usage);
    const char *type = tg_xlate_string(c, json_object_get(in, "type"), "type");
    if (type == NULL || tg_xlate_string(c, json_object_get(in, "id"), "id") == NULL ||
        (model == NULL && tg_xlate_string(c, json_object_get(in, "model"), "model") == NULL) ||
        tg_xlate_array(c, content, "content") < 0)
        return -1;
    if (strcmp(type, "message") != 0) {
        tg_xlate_push_key(c, "type");
        return tg_xlate_fail(c, 502, "the provider's answer is a '%s', not a message", type);
    }
    json_t *texts = json_array(), *calls = json_array(), *message = NULL;
    int rc = texts != NULL && calls != NULL ? split_content(c, content, texts, calls) : tg_xlate_oom(c);
    json_t *text = rc == 0 ? joined(c, texts) : NULL;
    if (text != NULL) {
        message = json_pack("{s:s,s:o,s:n}", "role", "assistant", "content", text, "refusal");
        if (message != NULL && json_array_size(calls) > 0 && json_object_set(message, "tool_calls", calls) != 0)
            json_decref(message), message = NULL;
        rc = tg_xlate_set_all(c, out, "id", json_incref(json_object_get(in, "id")), "object",
                              json_string("chat.completion"), "created",
                              json_integer(created != 0 ? created : (long)time(NULL)), "model",
                              model != NULL ? json_string(model) : json_incref(json_object_get(in, "model")),
                              "choices",
                              json_pack("[{s:i,s:o,s:n,s:s}]", "index", 0, "message", message, "logprobs",
                                        "finish_reason", finish_reason_of(json_object_get(in, "stop_reason"))),
                              NULL);
        if (rc == 0 && usage->present)
            rc = tg_xlate_set(c, out, "usage", tg_xlate_usage_chat(usage));
    } else {
        rc = -1;
    }
    json_decref(texts);
    json_decref(calls);
    return rc;
}

/* A tool call's arguments as Anthropic's tool input (an object). */
static json_t *tool_use_of(tg_xlate_ctx_t *c, json_t *call)
{
    json_t *fn = json_object_get(call, "function"), *id = json_object_get(call, "id");
    json_t *name = json_object_get(fn, "name"), *arguments = json_object_get(fn, "arguments");
    if (tg_xlate_string(c, id, "id") == NULL || tg_xlate_object(c, fn, "function") < 0)
        return NULL;
    tg_xlate_push_key(c, "function");
    if (tg_xlate_string(c, name, "name") == NULL || tg_xlate_string(c, arguments, "arguments") == NULL)
        return NULL;
    json_t *input = json_string_length(arguments) == 0
                        ? json_object()
                        : json_loadb(json_string_value(arguments), json_string_length(arguments), 0, NULL);
    if (!json_is_object(input)) {
        json_decref(input);
        tg_xlate_push_key(c, "arguments");
        tg_xlate_fail(c, 502, "the provider's tool call arguments are not a JSON object, which Anthropic requires");
        return NULL;
    }
    json_t *block = json_pack("{s:s,s:O,s:O,s:o}", "type", "tool_use", "id", id, "name", name, "input", input);
    if (block == NULL)
        tg_xlate_oom(c);
    return block;
}

/* Appends a text block for a string member of message (none if empty). */
static int text_block_of(tg_xlate_ctx_t *c, json_t *message, const char *key, json_t *blocks)
{
    json_t *text = json_object_get(message, key);
    if (text == NULL || json_is_null(text))
        return 0;
    if (tg_xlate_string(c, text, key) == NULL)
        return -1;
    if (json_string_length(text) == 0)
        return 0;
    return tg_xlate_append(c, blocks, json_pack("{s:s,s:O}", "type", "text", "text", text));
}

/* The message of a chat completion's only choice as Anthropic blocks;
 * *refusal set when the model refused. */
static int completion_blocks(tg_xlate_ctx_t *c, json_t *message, json_t *blocks, int *refusal)
{
    json_t *calls = json_object_get(message, "tool_calls"), *call;
    size_t i;

    tg_xlate_push_key(c, "message");
    if (text_block_of(c, message, "content", blocks) < 0 || text_block_of(c, message, "refusal", blocks) < 0)
        return -1;
    *refusal = json_string_length(json_object_get(message, "refusal")) > 0;
    if (calls == NULL || json_is_null(calls))
        return 0;
    if (tg_xlate_array(c, calls, "tool_calls") < 0)
        return -1;
    tg_xlate_push_key(c, "tool_calls");
    json_array_foreach(calls, i, call) {
        size_t call_mark = tg_xlate_push_index(c, i);
        json_t *block = tool_use_of(c, call);
        if (block == NULL || tg_xlate_append(c, blocks, block) < 0)
            return -1;
        tg_xlate_pop(c, call_mark);
    }
    return 0;
}

static int completion_to_messages(tg_xlate_ctx_t *c, json_t *in, const char *model, tg_xlate_usage_t *usage,
                                  json_t *out)
{
    json_t *choices = json_object_get(in, "choices");
    int refusal = 0;

    tg_xlate_usage_from_chat(json_object_get(in, "usage"), usage);
    if (tg_xlate_string(c, json_object_get(in, "id"), "id") == NULL ||
        (model == NULL && tg_xlate_string(c, json_object_get(in, "model"), "model") == NULL) ||
        tg_xlate_array(c, choices, "choices") < 0)
        return -1;
    if (json_array_size(choices) != 1) {
        tg_xlate_push_key(c, "choices");
        return tg_xlate_fail(c, 502, "the provider answered with %zu choices where one was asked for",
                             json_array_size(choices));
    }
    json_t *choice = json_array_get(choices, 0), *message = json_object_get(choice, "message");
    json_t *finish = json_object_get(choice, "finish_reason");
    size_t mark = tg_xlate_push_key(c, "choices");
    tg_xlate_push_index(c, 0);
    if (tg_xlate_object(c, choice, NULL) < 0 || tg_xlate_object(c, message, "message") < 0)
        return -1;
    json_t *blocks = json_array();
    if (blocks == NULL || completion_blocks(c, message, blocks, &refusal) < 0) {
        json_decref(blocks);
        return blocks == NULL ? tg_xlate_oom(c) : -1;
    }
    tg_xlate_pop(c, mark);
    const char *stop = json_is_string(finish) ? tg_xlate_stop_reason(json_string_value(finish)) : NULL;
    if (refusal)
        stop = "refusal";
    return tg_xlate_set_all(c, out, "id", json_incref(json_object_get(in, "id")), "type", json_string("message"),
                            "role", json_string("assistant"), "model",
                            model != NULL ? json_string(model) : json_incref(json_object_get(in, "model")),
                            "content", blocks, "stop_reason", json_string(stop != NULL ? stop : "end_turn"),
                            "stop_sequence", json_null(), "usage", tg_xlate_usage_anthropic(usage), NULL);
}

/* The frame both directions share: parse, translate into a new object,
 * print; the usage is read even when the translation then fails. */
typedef struct response_args {
    const char *model;
    long created;
    tg_xlate_usage_t *usage;
} response_args_t;

static int to_chat(tg_xlate_ctx_t *c, json_t *in, const response_args_t *a, json_t *out)
{
    return message_to_chat(c, in, a->model, a->created, a->usage, out);
}

static int from_chat(tg_xlate_ctx_t *c, json_t *in, const response_args_t *a, json_t *out)
{
    return completion_to_messages(c, in, a->model, a->usage, out);
}

static char *respond(const char *body, size_t len, response_args_t *a,
                     int (*fn)(tg_xlate_ctx_t *, json_t *, const response_args_t *, json_t *), size_t *out_len,
                     tg_xlate_error_t *err)
{
    tg_xlate_ctx_t c;
    tg_xlate_usage_t scratch;
    char *text = NULL;

    if (a->usage == NULL)
        a->usage = &scratch;
    memset(a->usage, 0, sizeof(*a->usage));
    tg_xlate_init(&c, err, 502);
    json_t *in = tg_xlate_load(&c, body, len);
    json_t *out = in != NULL ? json_object() : NULL;
    if (in != NULL && out == NULL)
        tg_xlate_oom(&c);
    if (out != NULL && fn(&c, in, a, out) == 0)
        text = tg_xlate_dump(&c, out, out_len);
    json_decref(out);
    json_decref(in);
    return text;
}

char *tg_anthropic_response_to_chat(const char *body, size_t len, const char *model, long created,
                                    tg_xlate_usage_t *usage, size_t *out_len, tg_xlate_error_t *err)
{
    response_args_t a = {model, created, usage};
    return respond(body, len, &a, to_chat, out_len, err);
}

char *tg_anthropic_response_from_chat(const char *body, size_t len, const char *model, tg_xlate_usage_t *usage,
                                      size_t *out_len, tg_xlate_error_t *err)
{
    response_args_t a = {model, 0, usage};
    return respond(body, len, &a, from_chat, out_len, err);
}

/* ---- error bodies ------------------------------------------------------ */

static char *dump_or_null(json_t *body, size_t *out_len)
{
    char *s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (s != NULL && out_len != NULL)
        *out_len = strlen(s);
    return s;
}

static json_t *anthropic_error(int status, const char *type, json_t *message)
{
    return json_pack("{s:s,s:{s:s,s:o}}", "type", "error", "error", "type",
                     type != NULL ? type : tg_xlate_anthropic_error_type(status), "message", message);
}

char *tg_anthropic_error_json(const tg_error_t *e, size_t *out_len)
{
    return dump_or_null(anthropic_error(e->status, NULL, json_string(e->message)), out_len);
}

/* The message of a provider's error body, at error.message; NULL when the
 * body is not that shape. */
static json_t *error_message(json_t *body)
{
    json_t *message = json_object_get(json_object_get(body, "error"), "message");
    return json_is_string(message) ? message : NULL;
}

static json_t *unreadable(int status)
{
    char text[128];
    snprintf(text, sizeof(text), "the provider answered status %d with a body that is not an error it documents",
             status);
    return json_string(text);
}

char *tg_anthropic_error_to_chat(int status, const char *body, size_t len, size_t *out_len)
{
    json_t *in = json_loadb(body, len, 0, NULL);
    json_t *message = error_message(in), *type = json_object_get(json_object_get(in, "error"), "type");
    json_t *out = json_pack("{s:{s:o,s:s,s:n,s:n}}", "error", "message",
                            message != NULL ? json_incref(message) : unreadable(status), "type",
                            json_is_string(type) ? json_string_value(type) : tg_xlate_anthropic_error_type(status),
                            "param", "code");
    json_decref(in);
    return dump_or_null(out, out_len);
}

char *tg_anthropic_error_from_chat(int status, const char *body, size_t len, size_t *out_len)
{
    json_t *in = json_loadb(body, len, 0, NULL);
    json_t *message = error_message(in);
    json_t *out = anthropic_error(status, NULL, message != NULL ? json_incref(message) : unreadable(status));
    json_decref(in);
    return dump_or_null(out, out_len);
}
