/* anthropic_request.c: requests, both ways (see anthropic.h). Each
 * direction starts with the table of every member the source API defines
 * at the top level: read and translated, or refused (a 400 naming it)
 * unless its value asks for nothing. A member not in a table is refused
 * too, so that a new OpenAI or Anthropic parameter is never dropped
 * silently. The same holds for the members of messages, content parts,
 * tools and tool calls.
 *
 * Decisions beyond the tables:
 * - OpenAI system/developer messages become Anthropic's `system` only at
 *   the head of the conversation: a later one would change meaning if
 *   hoisted, so it is refused.
 * - temperature is not rescaled (the scales are not linear maps of each
 *   other): OpenAI's values above 1 are refused.
 * - Consecutive turns of one role are merged (tool results join the user
 *   turn), as Anthropic requires alternation.
 * - cache_control (Anthropic) is accepted and not sent on: OpenAI caches
 *   prompt prefixes by itself, which is what it asks for.
 * - An Anthropic tool_result with is_error becomes a tool message whose
 *   text starts "[tool error] ": OpenAI has no such flag. */
#include "upstream/anthropic.h"

#include <stdlib.h>
#include <string.h>

#include "upstream/xlate.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A member table as an X-macro list: X(ENUM, "name", neutral, refusal). */
#define FIELD_ENUM(e, name, neutral, refusal) e,
#define FIELD_ROW(e, name, neutral, refusal) {name, neutral, refusal},

static int is_text_format(const json_t *v)
{
    const json_t *type = json_object_get(v, "type");
    return json_object_size(v) == 1 && json_is_string(type) && strcmp(json_string_value(type), "text") == 0;
}

static int is_text_only(const json_t *v)
{
    return json_is_array(v) && json_array_size(v) == 1 && json_is_string(json_array_get(v, 0)) &&
           strcmp(json_string_value(json_array_get(v, 0)), "text") == 0;
}

static int is_disabled(const json_t *v)
{
    const json_t *type = json_object_get(v, "type");
    return json_object_size(v) == 1 && json_is_string(type) && strcmp(json_string_value(type), "disabled") == 0;
}

/* ---- the shared pieces -------------------------------------------------- */

/* The number v at path.key, within [min, max]. */
static int number_in(tg_xlate_ctx_t *c, const json_t *v, const char *key, double min, double max, double *out)
{
    size_t mark = tg_xlate_push_key(c, key);
    if (!json_is_number(v))
        return tg_xlate_fail(c, 400, "must be a number");
    *out = json_number_value(v);
    if (*out < min || *out > max)
        return tg_xlate_fail(c, 400, "must be between %g and %g", min, max);
    tg_xlate_pop(c, mark);
    return 0;
}

static int positive_integer(tg_xlate_ctx_t *c, const json_t *v, const char *key)
{
    if (json_is_integer(v) && json_integer_value(v) > 0)
        return 0;
    tg_xlate_push_key(c, key);
    return tg_xlate_fail(c, 400, "must be a positive integer");
}

/* A stop or stop_sequences value (a string or an array of strings) as an
 * array of strings, or NULL with the error set. */
static json_t *stop_list(tg_xlate_ctx_t *c, json_t *v, const char *key)
{
    if (json_is_string(v))
        return json_pack("[O]", v);
    size_t mark = tg_xlate_push_key(c, key);
    if (!json_is_array(v)) {
        tg_xlate_fail(c, 400, "must be a string or an array of strings");
        return NULL;
    }
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) {
            tg_xlate_push_index(c, i);
            tg_xlate_fail(c, 400, "must be a string");
            return NULL;
        }
    }
    tg_xlate_pop(c, mark);
    return json_incref(v);
}

/* A data: URL, "data:<media type>;base64,<data>": the media type (NUL
 * not included) and data are pointers into url. 0, or -1 with the error. */
static int data_url(tg_xlate_ctx_t *c, const char *url, size_t len, const char **media, size_t *media_len,
                    const char **data, size_t *data_len)
{
    const char *end = url + len;
    const char *semi = memchr(url, ';', len);
    if (strncmp(url, "data:", 5) != 0 || semi == NULL || (size_t)(end - semi) < 8 || memcmp(semi, ";base64,", 8) != 0)
        return tg_xlate_fail(c, 400, "a data URL must be data:<media type>;base64,<data>");
    *media = url + 5;
    *media_len = (size_t)(semi - *media);
    *data = semi + 8;
    *data_len = (size_t)(end - *data);
    return 0;
}

static int media_is(const char *media, size_t len, const char *const *types)
{
    for (; *types != NULL; types++)
        if (strlen(*types) == len && memcmp(*types, media, len) == 0)
            return 1;
    return 0;
}

/* ---- OpenAI chat -> Anthropic messages --------------------------------- */

#define CHAT_FIELDS(X)                                                                                            \
    X(C_MODEL, "model", NULL, NULL)                                                                               \
    X(C_MESSAGES, "messages", NULL, NULL)                                                                         \
    X(C_MAX_TOKENS, "max_tokens", NULL, NULL)                                                                     \
    X(C_MAX_COMPLETION_TOKENS, "max_completion_tokens", NULL, NULL)                                               \
    X(C_STOP, "stop", NULL, NULL)                                                                                 \
    X(C_TEMPERATURE, "temperature", NULL, NULL)                                                                   \
    X(C_TOP_P, "top_p", NULL, NULL)                                                                               \
    X(C_STREAM, "stream", NULL, NULL)                                                                             \
    X(C_STREAM_OPTIONS, "stream_options", NULL, NULL) /* honoured by the stream translator */                    \
    X(C_TOOLS, "tools", NULL, NULL)                                                                               \
    X(C_TOOL_CHOICE, "tool_choice", NULL, NULL)                                                                   \
    X(C_PARALLEL_TOOL_CALLS, "parallel_tool_calls", NULL, NULL)                                                   \
    X(C_USER, "user", NULL, NULL)                                                                                 \
    X(C_SAFETY_IDENTIFIER, "safety_identifier", NULL, NULL)                                                       \
    X(C_SERVICE_TIER, "service_tier", NULL, NULL)                                                                 \
    X(C_N, "n", tg_xlate_is_one, "Anthropic returns one choice per request")                                     \
    X(C_LOGPROBS, "logprobs", tg_xlate_is_false, "Anthropic does not return log probabilities")                  \
    X(C_TOP_LOGPROBS, "top_logprobs", tg_xlate_is_zero, "Anthropic does not return log probabilities")           \
    X(C_PRESENCE_PENALTY, "presence_penalty", tg_xlate_is_zero, "Anthropic has no presence penalty")             \
    X(C_FREQUENCY_PENALTY, "frequency_penalty", tg_xlate_is_zero, "Anthropic has no frequency penalty")          \
    X(C_LOGIT_BIAS, "logit_bias", tg_xlate_is_empty, "Anthropic has no logit bias")                              \
    X(C_SEED, "seed", NULL, "Anthropic has no seed for reproducible sampling")                                   \
    X(C_RESPONSE_FORMAT, "response_format", is_text_format,                                                       \
      "Anthropic has no JSON mode or response schema (describe the format in the prompt, or use a tool)")         \
    X(C_STORE, "store", tg_xlate_is_false, "stored completions are OpenAI's")                                    \
    X(C_METADATA, "metadata", tg_xlate_is_empty, "it tags OpenAI's stored completions (the end user goes in 'user')") \
    X(C_MODALITIES, "modalities", is_text_only, "Anthropic answers in text only")                                \
    X(C_AUDIO, "audio", NULL, "Anthropic answers in text only")                                                  \
    X(C_PREDICTION, "prediction", NULL, "Anthropic has no predicted outputs")                                    \
    X(C_REASONING_EFFORT, "reasoning_effort", NULL,                                                               \
      "Anthropic's extended thinking is set by a token budget, and its thinking has no place in a chat completion") \
    X(C_VERBOSITY, "verbosity", NULL, "Anthropic has no verbosity setting")                                      \
    X(C_WEB_SEARCH_OPTIONS, "web_search_options", NULL, "web search is not translated")                          \
    X(C_PROMPT_CACHE_KEY, "prompt_cache_key", NULL, "Anthropic caches by content and cache_control, not by key") \
    X(C_PROMPT_CACHE_RETENTION, "prompt_cache_retention", NULL, "Anthropic's cache lifetime is set per block")   \
    X(C_FUNCTIONS, "functions", NULL, "the deprecated functions are not translated: use tools")                  \
    X(C_FUNCTION_CALL, "function_call", NULL, "the deprecated function_call is not translated: use tool_choice")

enum { CHAT_FIELDS(FIELD_ENUM) C_COUNT };
static const tg_xlate_field_t chat_fields[] = {CHAT_FIELDS(FIELD_ROW)};

#define MESSAGE_FIELDS(X)                                                                              \
    X(M_ROLE, "role", NULL, NULL)                                                                      \
    X(M_CONTENT, "content", NULL, NULL)                                                                \
    X(M_TOOL_CALLS, "tool_calls", NULL, NULL)                                                          \
    X(M_TOOL_CALL_ID, "tool_call_id", NULL, NULL)                                                      \
    X(M_REFUSAL, "refusal", NULL, NULL)                                                                \
    X(M_NAME, "name", tg_xlate_is_empty, "Anthropic messages have no participant names")             \
    X(M_AUDIO, "audio", NULL, "Anthropic has no audio")                                                \
    X(M_FUNCTION_CALL, "function_call", NULL, "the deprecated function_call is not translated: use tool_calls")

enum { MESSAGE_FIELDS(FIELD_ENUM) M_COUNT };
static const tg_xlate_field_t message_fields[] = {MESSAGE_FIELDS(FIELD_ROW)};

/* The content part types each role may send. */
enum { PART_TEXT = 1, PART_IMAGE = 2, PART_FILE = 4, PART_REFUSAL = 8 };

static const char *const image_types[] = {"image/jpeg", "image/png", "image/gif", "image/webp", NULL};
static const char *const document_types[] = {"application/pdf", NULL};

/* Appends a text block (an empty text says nothing: Anthropic refuses it). */
static int add_text(tg_xlate_ctx_t *c, json_t *blocks, json_t *text)
{
    if (json_string_length(text) == 0)
        return 0;
    return tg_xlate_append(c, blocks, json_pack("{s:s,s:O}", "type", "text", "text", text));
}

static int image_part(tg_xlate_ctx_t *c, json_t *part, json_t *blocks)
{
    static const tg_xlate_field_t fields[] = {
        {"type", NULL, NULL}, {"image_url", NULL, NULL}};
    static const tg_xlate_field_t url_fields[] = {
        {"url", NULL, NULL}, {"detail", NULL, NULL}};
    json_t *f[2], *u[2];
    const char *media, *data;
    size_t media_len, data_len;

    if (tg_xlate_collect(c, part, fields, COUNT(fields), f) < 0 || tg_xlate_object(c, f[1], "image_url") < 0)
        return -1;
    size_t mark = tg_xlate_push_key(c, "image_url");
    if (tg_xlate_collect(c, f[1], url_fields, COUNT(url_fields), u) < 0)
        return -1;
    if (u[1] != NULL) {
        const char *detail = tg_xlate_string(c, u[1], "detail");
        if (detail == NULL)
            return -1;
        if (strcmp(detail, "auto") != 0) {
            tg_xlate_push_key(c, "detail");
            return tg_xlate_fail(c, 400, "'detail' cannot be translated: Anthropic has no image detail setting");
        }
    }
    const char *url = tg_xlate_string(c, u[0], "url");
    if (url == NULL)
        return -1;
    tg_xlate_push_key(c, "url");
    json_t *source;
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        source = json_pack("{s:s,s:O}", "type", "url", "url", u[0]);
    } else {
        if (data_url(c, url, json_string_length(u[0]), &media, &media_len, &data, &data_len) < 0)
            return -1;
        if (!media_is(media, media_len, image_types))
            return tg_xlate_fail(c, 400, "Anthropic takes images of type image/jpeg, image/png, image/gif or image/webp");
        source = json_pack("{s:s,s:s%,s:s%}", "type", "base64", "media_type", media, media_len, "data", data, data_len);
    }
    tg_xlate_pop(c, mark);
    return tg_xlate_append(c, blocks, json_pack("{s:s,s:o}", "type", "image", "source", source));
}

static int file_part(tg_xlate_ctx_t *c, json_t *part, json_t *blocks)
{
    static const tg_xlate_field_t fields[] = {{"type", NULL, NULL}, {"file", NULL, NULL}};
    static const tg_xlate_field_t file_fields[] = {
        {"file_data", NULL, NULL},
        {"filename", NULL, NULL},
        {"file_id", NULL, "Anthropic cannot read OpenAI's uploaded files: send file_data"}};
    json_t *f[2], *ff[3];
    const char *media, *data;
    size_t media_len, data_len;

    if (tg_xlate_collect(c, part, fields, COUNT(fields), f) < 0 || tg_xlate_object(c, f[1], "file") < 0)
        return -1;
    size_t mark = tg_xlate_push_key(c, "file");
    if (tg_xlate_collect(c, f[1], file_fields, COUNT(file_fields), ff) < 0)
        return -1;
    const char *url = tg_xlate_string(c, ff[0], "file_data");
    if (url == NULL || (ff[1] != NULL && tg_xlate_string(c, ff[1], "filename") == NULL))
        return -1;
    tg_xlate_push_key(c, "file_data");
    if (data_url(c, url, json_string_length(ff[0]), &media, &media_len, &data, &data_len) < 0)
        return -1;
    if (!media_is(media, media_len, document_types))
        return tg_xlate_fail(c, 400, "Anthropic takes documents of type application/pdf");
    tg_xlate_pop(c, mark);
    json_t *block = json_pack("{s:s,s:{s:s,s:s%,s:s%}}", "type", "document", "source", "type", "base64",
                              "media_type", media, media_len, "data", data, data_len);
    if (block != NULL && ff[1] != NULL && json_object_set(block, "title", ff[1]) != 0)
        json_decref(block), block = NULL;
    return tg_xlate_append(c, blocks, block);
}

/* Appends the blocks of an OpenAI message content (a string or an array of
 * parts of the kinds allowed) to blocks. */
static int content_blocks(tg_xlate_ctx_t *c, json_t *content, unsigned allowed, json_t *blocks)
{
    static const tg_xlate_field_t text_fields[] = {{"type", NULL, NULL}, {"text", NULL, NULL}};
    static const tg_xlate_field_t refusal_fields[] = {{"type", NULL, NULL}, {"refusal", NULL, NULL}};
    size_t i;
    json_t *part;

    if (json_is_string(content))
        return add_text(c, blocks, content);
    size_t mark = tg_xlate_push_key(c, "content");
    if (!json_is_array(content))
        return tg_xlate_fail(c, 400, "must be a string or an array of content parts");
    json_array_foreach(content, i, part) {
        json_t *f[2];
        size_t part_mark = tg_xlate_push_index(c, i);
        if (tg_xlate_object(c, part, NULL) < 0)
            return -1;
        const char *type = tg_xlate_string(c, json_object_get(part, "type"), "type");
        if (type == NULL)
            return -1;
        unsigned kind = strcmp(type, "text") == 0        ? PART_TEXT
                        : strcmp(type, "image_url") == 0 ? PART_IMAGE
                        : strcmp(type, "file") == 0      ? PART_FILE
                        : strcmp(type, "refusal") == 0   ? PART_REFUSAL
                                                         : 0;
        if (kind == 0 && strcmp(type, "input_audio") == 0)
            return tg_xlate_fail(c, 400, "audio input cannot be translated: Anthropic takes no audio");
        if ((kind & allowed) == 0)
            return tg_xlate_fail(c, 400, "a content part of type '%s' cannot be translated here", type);
        int rc;
        if (kind == PART_TEXT || kind == PART_REFUSAL) {
            const tg_xlate_field_t *part_fields = kind == PART_TEXT ? text_fields : refusal_fields;
            rc = tg_xlate_collect(c, part, part_fields, 2, f); /* both have two */
            if (rc == 0 && tg_xlate_string(c, f[1], part_fields[1].name) == NULL)
                rc = -1;
            if (rc == 0)
                rc = add_text(c, blocks, f[1]);
        } else {
            rc = kind == PART_IMAGE ? image_part(c, part, blocks) : file_part(c, part, blocks);
        }
        if (rc < 0)
            return -1;
        tg_xlate_pop(c, part_mark);
    }
    tg_xlate_pop(c, mark);
    return 0;
}

/* The content array of the turn to add role's blocks to: the last one if
 * it has that role (Anthropic wants roles to alternate), else a new one. */
static json_t *turn(tg_xlate_ctx_t *c, json_t *turns, const char *role)
{
    json_t *last = json_array_get(turns, json_array_size(turns) - 1);
    if (last != NULL && strcmp(json_string_value(json_object_get(last, "role")), role) == 0)
        return json_object_get(last, "content");
    last = json_pack("{s:s,s:[]}", "role", role, "content");
    if (tg_xlate_append(c, turns, last) < 0)
        return NULL;
    return json_object_get(last, "content");
}

/* tool_use blocks for an assistant's tool_calls. */
static int tool_use_blocks(tg_xlate_ctx_t *c, json_t *calls, json_t *blocks)
{
    static const tg_xlate_field_t call_fields[] = {
        {"id", NULL, NULL}, {"type", NULL, NULL}, {"function", NULL, NULL}};
    static const tg_xlate_field_t function_fields[] = {{"name", NULL, NULL}, {"arguments", NULL, NULL}};
    size_t i;
    json_t *call;

    size_t mark = tg_xlate_push_key(c, "tool_calls");
    if (tg_xlate_array(c, calls, NULL) < 0)
        return -1;
    json_array_foreach(calls, i, call) {
        json_t *f[3], *fn[2];
        size_t call_mark = tg_xlate_push_index(c, i);
        if (tg_xlate_object(c, call, NULL) < 0 || tg_xlate_collect(c, call, call_fields, COUNT(call_fields), f) < 0)
            return -1;
        const char *type = f[1] != NULL ? tg_xlate_string(c, f[1], "type") : "function";
        if (type == NULL || tg_xlate_string(c, f[0], "id") == NULL || tg_xlate_object(c, f[2], "function") < 0)
            return -1;
        if (strcmp(type, "function") != 0) {
            tg_xlate_push_key(c, "type");
            return tg_xlate_fail(c, 400, "only function tool calls can be translated");
        }
        tg_xlate_push_key(c, "function");
        if (tg_xlate_collect(c, f[2], function_fields, COUNT(function_fields), fn) < 0 || tg_xlate_string(c, fn[0], "name") == NULL)
            return -1;
        json_t *input;
        if (fn[1] == NULL || (json_is_string(fn[1]) && json_string_length(fn[1]) == 0)) {
            input = json_object();
        } else {
            tg_xlate_push_key(c, "arguments");
            if (tg_xlate_string(c, fn[1], NULL) == NULL)
                return -1;
            input = json_loadb(json_string_value(fn[1]), json_string_length(fn[1]), 0, NULL);
            if (!json_is_object(input)) {
                json_decref(input);
                return tg_xlate_fail(c, 400, "must be a JSON object: Anthropic's tool input is one");
            }
        }
        if (tg_xlate_append(c, blocks,
                            json_pack("{s:s,s:O,s:O,s:o}", "type", "tool_use", "id", f[0], "name", fn[0], "input",
                                      input)) < 0)
            return -1;
        tg_xlate_pop(c, call_mark);
    }
    tg_xlate_pop(c, mark);
    return 0;
}

static int tool_result_block(tg_xlate_ctx_t *c, json_t *id, json_t *content, json_t *blocks)
{
    json_t *result;
    if (tg_xlate_string(c, id, "tool_call_id") == NULL)
        return -1;
    if (content == NULL || json_is_string(content)) {
        result = json_pack("{s:s,s:O,s:o}", "type", "tool_result", "tool_use_id", id, "content",
                           content != NULL ? json_incref(content) : json_string(""));
    } else {
        json_t *parts = json_array();
        if (parts == NULL || content_blocks(c, content, PART_TEXT, parts) < 0) {
            json_decref(parts);
            return parts == NULL ? tg_xlate_oom(c) : -1;
        }
        result = json_pack("{s:s,s:O,s:o}", "type", "tool_result", "tool_use_id", id, "content", parts);
    }
    return tg_xlate_append(c, blocks, result);
}

/* Translates messages into system (text blocks) and turns. */
static int chat_messages(tg_xlate_ctx_t *c, json_t *messages, json_t *system, json_t *turns)
{
    size_t i;
    json_t *m;
    int conversation = 0; /* a non-system message came: system ones may no longer */

    size_t mark = tg_xlate_push_key(c, "messages");
    if (tg_xlate_array(c, messages, NULL) < 0)
        return -1;
    json_array_foreach(messages, i, m) {
        json_t *f[M_COUNT];
        size_t message_mark = tg_xlate_push_index(c, i);
        /* the role first: it says which members the message may have */
        if (tg_xlate_object(c, m, NULL) < 0)
            return -1;
        const char *role = tg_xlate_string(c, json_object_get(m, "role"), "role");
        if (role == NULL)
            return -1;
        int is_system = strcmp(role, "system") == 0 || strcmp(role, "developer") == 0;
        int is_user = strcmp(role, "user") == 0, is_assistant = strcmp(role, "assistant") == 0;
        int is_tool = strcmp(role, "tool") == 0;
        if (!is_system && !is_user && !is_assistant && !is_tool) {
            tg_xlate_push_key(c, "role");
            return tg_xlate_fail(c, 400, "role '%s' cannot be translated", role);
        }
        if (tg_xlate_collect(c, m, message_fields, M_COUNT, f) < 0)
            return -1;
        /* members that belong to another role */
        const char *stray = f[M_TOOL_CALLS] != NULL && !is_assistant ? "tool_calls"
                            : f[M_REFUSAL] != NULL && !is_assistant  ? "refusal"
                            : f[M_TOOL_CALL_ID] != NULL && !is_tool  ? "tool_call_id"
                                                                     : NULL;
        if (stray != NULL) {
            tg_xlate_push_key(c, stray);
            return tg_xlate_fail(c, 400, "a %s message has no '%s'", role, stray);
        }
        if (f[M_CONTENT] == NULL && !is_assistant && !is_tool) {
            tg_xlate_push_key(c, "content");
            return tg_xlate_fail(c, 400, "a %s message needs content", role);
        }
        int rc;
        if (is_system) {
            if (conversation) {
                tg_xlate_push_key(c, "role");
                return tg_xlate_fail(c, 400, "a %s message after the conversation started cannot be translated: "
                                             "Anthropic's system prompt comes first", role);
            }
            rc = content_blocks(c, f[M_CONTENT], PART_TEXT, system);
        } else if (is_tool) {
            json_t *blocks = turn(c, turns, "user");
            rc = blocks == NULL ? -1 : tool_result_block(c, f[M_TOOL_CALL_ID], f[M_CONTENT], blocks);
        } else {
            json_t *blocks = turn(c, turns, role);
            rc = blocks == NULL ? -1 : 0;
            if (rc == 0 && f[M_CONTENT] != NULL)
                rc = content_blocks(c, f[M_CONTENT], is_user ? PART_TEXT | PART_IMAGE | PART_FILE
                                                             : PART_TEXT | PART_REFUSAL, blocks);
            if (rc == 0 && f[M_REFUSAL] != NULL) {
                rc = tg_xlate_string(c, f[M_REFUSAL], "refusal") == NULL ? -1 : add_text(c, blocks, f[M_REFUSAL]);
            }
            if (rc == 0 && f[M_TOOL_CALLS] != NULL)
                rc = tool_use_blocks(c, f[M_TOOL_CALLS], blocks);
        }
        if (rc < 0)
            return -1;
        conversation |= !is_system;
        tg_xlate_pop(c, message_mark);
    }
    tg_xlate_pop(c, mark);
    return 0;
}

/* A turn whose only block is plain text is sent as a string: the shape
 * clients themselves send. */
static json_t *single_text(json_t *blocks)
{
    json_t *b = json_array_get(blocks, 0);
    if (json_array_size(blocks) != 1 || json_object_size(b) != 2 || json_object_get(b, "text") == NULL)
        return NULL;
    return json_object_get(b, "text");
}

static int collapse_turns(tg_xlate_ctx_t *c, json_t *turns)
{
    size_t i;
    json_t *t;
    json_array_foreach(turns, i, t) {
        json_t *text = single_text(json_object_get(t, "content"));
        if (text != NULL && tg_xlate_set(c, t, "content", json_incref(text)) < 0)
            return -1;
    }
    return 0;
}

static int chat_tools(tg_xlate_ctx_t *c, json_t *tools, json_t *out)
{
    static const tg_xlate_field_t tool_fields[] = {{"type", NULL, NULL}, {"function", NULL, NULL}};
    static const tg_xlate_field_t function_fields[] = {
        {"name", NULL, NULL},
        {"description", NULL, NULL},
        {"parameters", NULL, NULL},
        {"strict", tg_xlate_is_false, "Anthropic's strict tool schemas are not translated"}};
    size_t i;
    json_t *tool;

    size_t mark = tg_xlate_push_key(c, "tools");
    if (tg_xlate_array(c, tools, NULL) < 0)
        return -1;
    json_t *list = json_array();
    if (tg_xlate_set(c, out, "tools", list) < 0)
        return -1;
    json_array_foreach(tools, i, tool) {
        json_t *f[2], *fn[4];
        size_t tool_mark = tg_xlate_push_index(c, i);
        const char *type = tg_xlate_object(c, tool, NULL) < 0 ? NULL : tg_xlate_string(c, json_object_get(tool, "type"), "type");
        if (type == NULL)
            return -1;
        if (strcmp(type, "function") != 0) {
            tg_xlate_push_key(c, "type");
            return tg_xlate_fail(c, 400, "tools of type '%s' cannot be translated: only functions", type);
        }
        if (tg_xlate_collect(c, tool, tool_fields, COUNT(tool_fields), f) < 0)
            return -1;
        if (tg_xlate_object(c, f[1], "function") < 0)
            return -1;
        tg_xlate_push_key(c, "function");
        if (tg_xlate_collect(c, f[1], function_fields, COUNT(function_fields), fn) < 0 || tg_xlate_string(c, fn[0], "name") == NULL ||
            (fn[1] != NULL && tg_xlate_string(c, fn[1], "description") == NULL) ||
            (fn[2] != NULL && tg_xlate_object(c, fn[2], "parameters") < 0))
            return -1;
        json_t *t = json_pack("{s:O}", "name", fn[0]);
        if (t != NULL && fn[1] != NULL && json_object_set(t, "description", fn[1]) != 0)
            json_decref(t), t = NULL;
        if (tg_xlate_append(c, list, t) < 0)
            return -1;
        /* no parameters: a function that takes none (Anthropic requires a schema) */
        json_t *schema = fn[2] != NULL ? json_incref(fn[2]) : json_pack("{s:s,s:{}}", "type", "object", "properties");
        if (tg_xlate_set(c, t, "input_schema", schema) < 0)
            return -1;
        tg_xlate_pop(c, tool_mark);
    }
    tg_xlate_pop(c, mark);
    return 0;
}

/* tool_choice and parallel_tool_calls -> Anthropic's tool_choice */
static int chat_tool_choice(tg_xlate_ctx_t *c, json_t *choice, json_t *parallel, json_t *out)
{
    json_t *tc = NULL;
    size_t mark = tg_xlate_push_key(c, "tool_choice");

    if (json_is_string(choice)) {
        const char *s = json_string_value(choice);
        const char *type = strcmp(s, "auto") == 0 ? "auto" : strcmp(s, "none") == 0 ? "none"
                         : strcmp(s, "required") == 0 ? "any" : NULL;
        if (type == NULL)
            return tg_xlate_fail(c, 400, "must be auto, none, required or a function");
        tc = json_pack("{s:s}", "type", type);
    } else if (choice != NULL) {
        static const tg_xlate_field_t fields[] = {{"type", NULL, NULL}, {"function", NULL, NULL}};
        json_t *f[2];
        const char *type = tg_xlate_object(c, choice, NULL) < 0 ? NULL : tg_xlate_string(c, json_object_get(choice, "type"), "type");
        if (type == NULL)
            return -1;
        if (strcmp(type, "function") != 0) {
            tg_xlate_push_key(c, "type");
            return tg_xlate_fail(c, 400, "a tool_choice of type '%s' cannot be translated", type);
        }
        if (tg_xlate_collect(c, choice, fields, COUNT(fields), f) < 0)
            return -1;
        if (tg_xlate_object(c, f[1], "function") < 0)
            return -1;
        json_t *name = json_object_get(f[1], "name");
        tg_xlate_push_key(c, "function");
        if (tg_xlate_string(c, name, "name") == NULL)
            return -1;
        if (json_object_size(f[1]) != 1) {
            return tg_xlate_fail(c, 400, "only 'name' can be translated");
        }
        tc = json_pack("{s:s,s:O}", "type", "tool", "name", name);
    }
    tg_xlate_pop(c, mark);
    if (parallel != NULL) {
        mark = tg_xlate_push_key(c, "parallel_tool_calls");
        if (!json_is_boolean(parallel))
            return json_decref(tc), tg_xlate_fail(c, 400, "must be a boolean");
        tg_xlate_pop(c, mark);
        /* false: one call at a time, which Anthropic says on tool_choice;
         * "none" calls no tool at all, so there is nothing to say there */
        if (json_is_false(parallel) && json_object_get(out, "tools") != NULL) {
            if (tc == NULL)
                tc = json_pack("{s:s}", "type", "auto");
            const char *type = json_string_value(json_object_get(tc, "type"));
            if (tc != NULL && type != NULL && strcmp(type, "none") != 0 &&
                json_object_set_new(tc, "disable_parallel_tool_use", json_true()) != 0)
                json_decref(tc), tc = NULL;
            if (tc == NULL)
                return tg_xlate_oom(c);
        }
    }
    return tc != NULL ? tg_xlate_set(c, out, "tool_choice", tc) : 0;
}

/* user, safety_identifier -> metadata.user_id */
static int chat_user(tg_xlate_ctx_t *c, json_t *user, json_t *safety, json_t *out)
{
    if ((user != NULL && tg_xlate_string(c, user, "user") == NULL) ||
        (safety != NULL && tg_xlate_string(c, safety, "safety_identifier") == NULL))
        return -1;
    if (user != NULL && safety != NULL && !json_equal(user, safety)) {
        tg_xlate_push_key(c, "safety_identifier");
        return tg_xlate_fail(c, 400, "'user' and 'safety_identifier' differ: Anthropic has one end-user id");
    }
    json_t *id = user != NULL ? user : safety;
    return id == NULL ? 0 : tg_xlate_set(c, out, "metadata", json_pack("{s:O}", "user_id", id));
}

/* OpenAI's service tiers -> Anthropic's: auto is auto, default is standard. */
static int service_tier(tg_xlate_ctx_t *c, json_t *v, const char *key, const char *const map[][2], json_t *out)
{
    const char *s = tg_xlate_string(c, v, key);
    if (s == NULL)
        return -1;
    for (size_t i = 0; map[i][0] != NULL; i++)
        if (strcmp(map[i][0], s) == 0)
            return tg_xlate_set(c, out, "service_tier", json_string(map[i][1]));
    tg_xlate_push_key(c, key);
    return tg_xlate_fail(c, 400, "service tier '%s' cannot be translated", s);
}

static const char *const chat_to_anthropic_tiers[][2] = {{"auto", "auto"}, {"default", "standard_only"}, {NULL, NULL}};
static const char *const anthropic_to_chat_tiers[][2] = {{"auto", "auto"}, {"standard_only", "default"}, {NULL, NULL}};

static int chat_request(tg_xlate_ctx_t *c, json_t *in, const char *upstream_model, uint32_t default_max_tokens,
                        json_t *out)
{
    json_t *f[C_COUNT];
    double temperature, top_p;

    if (tg_xlate_collect(c, in, chat_fields, C_COUNT, f) < 0)
        return -1;
    if (tg_xlate_string(c, f[C_MODEL], "model") == NULL)
        return -1;
    if (tg_xlate_set(c, out, "model", upstream_model ? json_string(upstream_model) : json_incref(f[C_MODEL])) < 0)
        return -1;

    json_t *system = json_array(), *turns = json_array();
    if (tg_xlate_set(c, out, "system", system) < 0 || tg_xlate_set(c, out, "messages", turns) < 0)
        return -1;
    if (chat_messages(c, f[C_MESSAGES] ? f[C_MESSAGES] : json_null(), system, turns) < 0 ||
        collapse_turns(c, turns) < 0)
        return -1;
    json_t *system_text = single_text(system);
    if (json_array_size(system) == 0)
        json_object_del(out, "system");
    else if (system_text != NULL && tg_xlate_set(c, out, "system", json_incref(system_text)) < 0)
        return -1;

    json_t *max = f[C_MAX_COMPLETION_TOKENS] ? f[C_MAX_COMPLETION_TOKENS] : f[C_MAX_TOKENS];
    if ((f[C_MAX_TOKENS] && positive_integer(c, f[C_MAX_TOKENS], "max_tokens") < 0) ||
        (f[C_MAX_COMPLETION_TOKENS] && positive_integer(c, f[C_MAX_COMPLETION_TOKENS], "max_completion_tokens") < 0))
        return -1;
    if (f[C_MAX_TOKENS] && f[C_MAX_COMPLETION_TOKENS] && !json_equal(f[C_MAX_TOKENS], f[C_MAX_COMPLETION_TOKENS])) {
        tg_xlate_push_key(c, "max_tokens");
        return tg_xlate_fail(c, 400, "max_tokens and max_completion_tokens differ: Anthropic has one limit");
    }
    if (max == NULL && default_max_tokens == 0) {
        tg_xlate_push_key(c, "max_tokens");
        return tg_xlate_fail(c, 400, "max_tokens is required by this provider");
    }
    if (tg_xlate_set(c, out, "max_tokens", max ? json_incref(max) : json_integer(default_max_tokens)) < 0)
        return -1;

    if (f[C_STOP] != NULL) {
        json_t *stops = stop_list(c, f[C_STOP], "stop");
        if (stops == NULL)
            return c->err->status ? -1 : tg_xlate_oom(c);
        if (json_array_size(stops) == 0)
            json_decref(stops);
        else if (tg_xlate_set(c, out, "stop_sequences", stops) < 0)
            return -1;
    }
    if (f[C_TEMPERATURE] != NULL) {
        if (number_in(c, f[C_TEMPERATURE], "temperature", 0, 2, &temperature) < 0)
            return -1;
        if (temperature > 1) {
            tg_xlate_push_key(c, "temperature");
            return tg_xlate_fail(c, 400, "temperature %g cannot be translated: Anthropic's range is 0 to 1 "
                                         "(OpenAI's 0 to 2 is another scale, not rescaled)", temperature);
        }
        if (tg_xlate_set(c, out, "temperature", json_incref(f[C_TEMPERATURE])) < 0)
            return -1;
    }
    if (f[C_TOP_P] != NULL) {
        if (number_in(c, f[C_TOP_P], "top_p", 0, 1, &top_p) < 0 ||
            tg_xlate_set(c, out, "top_p", json_incref(f[C_TOP_P])) < 0)
            return -1;
    }
    if (f[C_STREAM] != NULL) {
        if (!json_is_boolean(f[C_STREAM])) {
            tg_xlate_push_key(c, "stream");
            return tg_xlate_fail(c, 400, "must be a boolean");
        }
        if (tg_xlate_set(c, out, "stream", json_incref(f[C_STREAM])) < 0)
            return -1;
    }
    if (f[C_STREAM_OPTIONS] != NULL && tg_xlate_object(c, f[C_STREAM_OPTIONS], "stream_options") < 0)
        return -1;
    if (f[C_TOOLS] != NULL && chat_tools(c, f[C_TOOLS], out) < 0)
        return -1;
    if ((f[C_TOOL_CHOICE] != NULL || f[C_PARALLEL_TOOL_CALLS] != NULL) &&
        chat_tool_choice(c, f[C_TOOL_CHOICE], f[C_PARALLEL_TOOL_CALLS], out) < 0)
        return -1;
    if (chat_user(c, f[C_USER], f[C_SAFETY_IDENTIFIER], out) < 0)
        return -1;
    if (f[C_SERVICE_TIER] != NULL && service_tier(c, f[C_SERVICE_TIER], "service_tier", chat_to_anthropic_tiers, out) < 0)
        return -1;
    return 0;
}

/* The frame both directions share: parse, translate into a new object,
 * print. */
typedef int (*translate_fn)(tg_xlate_ctx_t *c, json_t *in, const char *model, uint32_t max_tokens, json_t *out);

static char *request(const char *body, size_t len, const char *model, uint32_t max_tokens, translate_fn fn,
                     size_t *out_len, tg_xlate_error_t *err)
{
    tg_xlate_ctx_t c;
    char *text = NULL;

    tg_xlate_init(&c, err, 400);
    json_t *in = tg_xlate_load(&c, body, len);
    json_t *out = in != NULL ? json_object() : NULL;
    if (in != NULL && out == NULL)
        tg_xlate_oom(&c);
    if (out != NULL && fn(&c, in, model, max_tokens, out) == 0)
        text = tg_xlate_dump(&c, out, out_len);
    json_decref(out);
    json_decref(in);
    return text;
}

char *tg_anthropic_request_from_chat(const char *body, size_t len, const char *upstream_model,
                                     uint32_t default_max_tokens, size_t *out_len, tg_xlate_error_t *err)
{
    return request(body, len, upstream_model, default_max_tokens, chat_request, out_len, err);
}

/* ---- Anthropic messages -> OpenAI chat --------------------------------- */

#define MESSAGES_FIELDS(X)                                                                                     \
    X(A_MODEL, "model", NULL, NULL)                                                                            \
    X(A_MESSAGES, "messages", NULL, NULL)                                                                      \
    X(A_SYSTEM, "system", NULL, NULL)                                                                          \
    X(A_MAX_TOKENS, "max_tokens", NULL, NULL)                                                                  \
    X(A_STOP_SEQUENCES, "stop_sequences", NULL, NULL)                                                          \
    X(A_TEMPERATURE, "temperature", NULL, NULL)                                                                \
    X(A_TOP_P, "top_p", NULL, NULL)                                                                            \
    X(A_STREAM, "stream", NULL, NULL)                                                                          \
    X(A_TOOLS, "tools", NULL, NULL)                                                                            \
    X(A_TOOL_CHOICE, "tool_choice", NULL, NULL)                                                                \
    X(A_METADATA, "metadata", NULL, NULL)                                                                      \
    X(A_SERVICE_TIER, "service_tier", NULL, NULL)                                                              \
    X(A_TOP_K, "top_k", NULL, "OpenAI has no top-k sampling")                                                  \
    X(A_THINKING, "thinking", is_disabled, "extended thinking is not translated: chat completions have no thinking blocks") \
    X(A_CONTAINER, "container", NULL, "containers belong to Anthropic's code execution tool")                  \
    X(A_MCP_SERVERS, "mcp_servers", tg_xlate_is_empty, "Anthropic's MCP connector is not translated")          \
    X(A_CONTEXT_MANAGEMENT, "context_management", NULL, "Anthropic's context management is not translated")

enum { MESSAGES_FIELDS(FIELD_ENUM) A_COUNT };
static const tg_xlate_field_t messages_fields[] = {MESSAGES_FIELDS(FIELD_ROW)};

/* Every block may carry cache_control: accepted, see the top. */
static const tg_xlate_field_t text_block_fields[] = {
    {"type", NULL, NULL}, {"text", NULL, NULL}, {"cache_control", NULL, NULL},
    {"citations", tg_xlate_is_empty, "citations are not translated"}};

/* A text part (the shape is the same for every role). */
static int text_part(tg_xlate_ctx_t *c, json_t *block, json_t *parts)
{
    json_t *f[4];
    if (tg_xlate_collect(c, block, text_block_fields, COUNT(text_block_fields), f) < 0 || tg_xlate_string(c, f[1], "text") == NULL)
        return -1;
    return tg_xlate_append(c, parts, json_pack("{s:s,s:O}", "type", "text", "text", f[1]));
}

/* "data:<media>;base64,<data>" from an Anthropic base64 source. */
static json_t *data_url_of(json_t *media, json_t *data)
{
    size_t media_len = json_string_length(media), data_len = json_string_length(data);
    char *url = malloc(5 + media_len + 8 + data_len);
    if (url == NULL)
        return NULL;
    memcpy(url, "data:", 5);
    memcpy(url + 5, json_string_value(media), media_len);
    memcpy(url + 5 + media_len, ";base64,", 8);
    memcpy(url + 13 + media_len, json_string_value(data), data_len);
    json_t *s = json_stringn_nocheck(url, 13 + media_len + data_len);
    free(url);
    return s;
}

/* An image or document source: base64 (both) or url (images only). */
static json_t *source_url(tg_xlate_ctx_t *c, json_t *source, int allow_url, const char *const *types)
{
    static const tg_xlate_field_t fields[] = {
        {"type", NULL, NULL}, {"media_type", NULL, NULL}, {"data", NULL, NULL}, {"url", NULL, NULL}};
    json_t *f[4];
    size_t mark = tg_xlate_push_key(c, "source");
    if (tg_xlate_object(c, source, NULL) < 0 || tg_xlate_collect(c, source, fields, COUNT(fields), f) < 0)
        return NULL;
    const char *type = tg_xlate_string(c, f[0], "type");
    if (type == NULL)
        return NULL;
    if (strcmp(type, "url") == 0 && allow_url) {
        const char *url = tg_xlate_string(c, f[3], "url");
        if (url == NULL)
            return NULL;
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            tg_xlate_push_key(c, "url");
            tg_xlate_fail(c, 400, "must be an http or https URL");
            return NULL;
        }
        tg_xlate_pop(c, mark);
        return json_incref(f[3]);
    }
    if (strcmp(type, "base64") != 0) {
        tg_xlate_push_key(c, "type");
        tg_xlate_fail(c, 400, "a source of type '%s' cannot be translated", type);
        return NULL;
    }
    const char *media = tg_xlate_string(c, f[1], "media_type");
    if (media == NULL || tg_xlate_string(c, f[2], "data") == NULL)
        return NULL;
    if (!media_is(media, json_string_length(f[1]), types)) {
        tg_xlate_push_key(c, "media_type");
        tg_xlate_fail(c, 400, "media type '%s' cannot be translated", media);
        return NULL;
    }
    tg_xlate_pop(c, mark);
    json_t *url = data_url_of(f[1], f[2]);
    if (url == NULL)
        tg_xlate_oom(c);
    return url;
}

static int image_block(tg_xlate_ctx_t *c, json_t *block, json_t *parts)
{
    static const tg_xlate_field_t fields[] = {{"type", NULL, NULL}, {"source", NULL, NULL}, {"cache_control", NULL, NULL}};
    json_t *f[3];
    if (tg_xlate_collect(c, block, fields, COUNT(fields), f) < 0)
        return -1;
    json_t *url = source_url(c, f[1] ? f[1] : json_null(), 1, image_types);
    return url == NULL ? -1 : tg_xlate_append(c, parts, json_pack("{s:s,s:{s:o}}", "type", "image_url", "image_url", "url", url));
}

static int document_block(tg_xlate_ctx_t *c, json_t *block, json_t *parts)
{
    static const tg_xlate_field_t fields[] = {
        {"type", NULL, NULL}, {"source", NULL, NULL}, {"title", NULL, NULL}, {"cache_control", NULL, NULL},
        {"context", NULL, "document context is not translated"},
        {"citations", NULL, "citations are not translated"}};
    json_t *f[6];
    if (tg_xlate_collect(c, block, fields, COUNT(fields), f) < 0 || (f[2] != NULL && tg_xlate_string(c, f[2], "title") == NULL))
        return -1;
    json_t *url = source_url(c, f[1] ? f[1] : json_null(), 0, document_types);
    if (url == NULL)
        return -1;
    json_t *file = json_pack("{s:o}", "file_data", url);
    if (file != NULL && f[2] != NULL && json_object_set(file, "filename", f[2]) != 0)
        json_decref(file), file = NULL;
    return tg_xlate_append(c, parts, json_pack("{s:s,s:o}", "type", "file", "file", file));
}

/* text with "[tool error] " in front */
static json_t *error_text(const json_t *text)
{
    static const char mark[] = "[tool error] ";
    size_t len = text != NULL ? json_string_length(text) : 0;
    char *buf = malloc(sizeof(mark) - 1 + len);
    if (buf == NULL)
        return NULL;
    memcpy(buf, mark, sizeof(mark) - 1);
    if (len > 0)
        memcpy(buf + sizeof(mark) - 1, json_string_value(text), len);
    json_t *s = json_stringn_nocheck(buf, sizeof(mark) - 1 + len);
    free(buf);
    return s;
}

/* Parts of one text part are sent as a string, the shape every
 * OpenAI-compatible provider takes; none: NULL. Consumes parts. */
static json_t *collapse_parts(json_t *parts)
{
    json_t *text = single_text(parts);
    if (json_array_size(parts) == 0 || text != NULL) {
        json_incref(text);
        json_decref(parts);
        return text;
    }
    return parts;
}

/* A tool_result block -> a tool message. */
static int tool_message(tg_xlate_ctx_t *c, json_t *block, json_t *out)
{
    static const tg_xlate_field_t fields[] = {
        {"type", NULL, NULL}, {"tool_use_id", NULL, NULL}, {"content", NULL, NULL}, {"is_error", NULL, NULL},
        {"cache_control", NULL, NULL}};
    json_t *f[5], *b;
    size_t i;

    if (tg_xlate_collect(c, block, fields, COUNT(fields), f) < 0 || tg_xlate_string(c, f[1], "tool_use_id") == NULL)
        return -1;
    if (f[3] != NULL && !json_is_boolean(f[3])) {
        tg_xlate_push_key(c, "is_error");
        return tg_xlate_fail(c, 400, "must be a boolean");
    }
    json_t *parts = json_array();
    if (parts == NULL)
        return tg_xlate_oom(c);
    if (json_is_string(f[2]) && json_string_length(f[2]) > 0) {
        if (tg_xlate_append(c, parts, json_pack("{s:s,s:O}", "type", "text", "text", f[2])) < 0)
            return json_decref(parts), -1;
    } else if (f[2] != NULL && !json_is_string(f[2])) {
        size_t mark = tg_xlate_push_key(c, "content");
        if (tg_xlate_array(c, f[2], NULL) < 0)
            return json_decref(parts), -1;
        json_array_foreach(f[2], i, b) {
            size_t block_mark = tg_xlate_push_index(c, i);
            const char *type = tg_xlate_object(c, b, NULL) < 0 ? NULL : tg_xlate_string(c, json_object_get(b, "type"), "type");
            if (type != NULL && strcmp(type, "text") != 0)
                tg_xlate_fail(c, 400, "a '%s' block in a tool result cannot be translated: OpenAI tool messages carry text only", type);
            if (type == NULL || strcmp(type, "text") != 0 || text_part(c, b, parts) < 0)
                return json_decref(parts), -1;
            tg_xlate_pop(c, block_mark);
        }
        tg_xlate_pop(c, mark);
    }
    if (json_is_true(f[3])) {
        json_t *first = json_array_get(parts, 0);
        json_t *text = error_text(json_object_get(first, "text"));
        int rc = first != NULL ? tg_xlate_set(c, first, "text", text)
                               : tg_xlate_append(c, parts, json_pack("{s:s,s:o}", "type", "text", "text", text));
        if (rc < 0)
            return json_decref(parts), -1;
    }
    json_t *content = collapse_parts(parts);
    return tg_xlate_append(c, out, json_pack("{s:s,s:O,s:o}", "role", "tool", "tool_call_id", f[1], "content",
                                             content != NULL ? content : json_string("")));
}

/* A tool_use block -> a tool call. */
static int tool_call(tg_xlate_ctx_t *c, json_t *block, json_t *calls)
{
    static const tg_xlate_field_t fields[] = {
        {"type", NULL, NULL}, {"id", NULL, NULL}, {"name", NULL, NULL}, {"input", NULL, NULL},
        {"cache_control", NULL, NULL}};
    json_t *f[5];
    if (tg_xlate_collect(c, block, fields, COUNT(fields), f) < 0 || tg_xlate_string(c, f[1], "id") == NULL ||
        tg_xlate_string(c, f[2], "name") == NULL || tg_xlate_object(c, f[3], "input") < 0)
        return -1;
    char *arguments = json_dumps(f[3], JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (arguments == NULL)
        return tg_xlate_oom(c);
    json_t *call = json_pack("{s:O,s:s,s:{s:O,s:s}}", "id", f[1], "type", "function", "function", "name", f[2],
                             "arguments", arguments);
    free(arguments);
    return tg_xlate_append(c, calls, call);
}

/* The blocks of one message: parts for its content, tool calls, and tool
 * messages (which go before the rest of a user turn: OpenAI wants them
 * right after the assistant's calls). */
static int message_blocks(tg_xlate_ctx_t *c, json_t *content, int user, json_t *parts, json_t *calls, json_t *out)
{
    size_t i, mark = tg_xlate_push_key(c, "content");
    json_t *b;

    json_array_foreach(content, i, b) {
        size_t block_mark = tg_xlate_push_index(c, i);
        if (tg_xlate_object(c, b, NULL) < 0)
            return -1;
        const char *type = tg_xlate_string(c, json_object_get(b, "type"), "type");
        if (type == NULL)
            return -1;
        int rc;
        if (strcmp(type, "text") == 0)
            rc = text_part(c, b, parts);
        else if (user && strcmp(type, "image") == 0)
            rc = image_block(c, b, parts);
        else if (user && strcmp(type, "document") == 0)
            rc = document_block(c, b, parts);
        else if (user && strcmp(type, "tool_result") == 0)
            rc = tool_message(c, b, out);
        else if (!user && strcmp(type, "tool_use") == 0)
            rc = tool_call(c, b, calls);
        else
            rc = tg_xlate_fail(c, 400, "a '%s' block in a%s message cannot be translated", type, user ? " user" : "n assistant");
        if (rc < 0)
            return -1;
        tg_xlate_pop(c, block_mark);
    }
    tg_xlate_pop(c, mark);
    return 0;
}

static int messages_message(tg_xlate_ctx_t *c, json_t *m, json_t *out)
{
    static const tg_xlate_field_t fields[] = {{"role", NULL, NULL}, {"content", NULL, NULL}};
    json_t *f[2];

    if (tg_xlate_object(c, m, NULL) < 0 || tg_xlate_collect(c, m, fields, COUNT(fields), f) < 0)
        return -1;
    const char *role = tg_xlate_string(c, f[0], "role");
    if (role == NULL)
        return -1;
    int user = strcmp(role, "user") == 0;
    if (!user && strcmp(role, "assistant") != 0) {
        tg_xlate_push_key(c, "role");
        return tg_xlate_fail(c, 400, "must be user or assistant");
    }
    if (json_is_string(f[1]))
        return tg_xlate_append(c, out, json_pack("{s:s,s:O}", "role", role, "content", f[1]));
    if (tg_xlate_array(c, f[1], "content") < 0)
        return -1;
    json_t *parts = json_array(), *calls = json_array();
    int rc = parts != NULL && calls != NULL ? message_blocks(c, f[1], user, parts, calls, out) : tg_xlate_oom(c);
    json_t *content = rc == 0 ? collapse_parts(parts) : (json_decref(parts), NULL);
    if (rc == 0 && (content != NULL || !user)) {
        json_t *msg = json_pack("{s:s,s:O}", "role", role, "content", content != NULL ? content : json_null());
        if (msg != NULL && json_array_size(calls) > 0 && json_object_set(msg, "tool_calls", calls) != 0)
            json_decref(msg), msg = NULL;
        rc = tg_xlate_append(c, out, msg);
    }
    json_decref(content);
    json_decref(calls);
    return rc;
}

static int messages_system(tg_xlate_ctx_t *c, json_t *system, json_t *out)
{
    size_t i, mark = tg_xlate_push_key(c, "system");
    json_t *b, *content;

    if (json_is_string(system)) {
        content = json_incref(system);
    } else {
        if (tg_xlate_array(c, system, NULL) < 0)
            return -1;
        json_t *parts = json_array();
        if (parts == NULL)
            return tg_xlate_oom(c);
        json_array_foreach(system, i, b) {
            size_t block_mark = tg_xlate_push_index(c, i);
            if (tg_xlate_object(c, b, NULL) < 0 || text_part(c, b, parts) < 0)
                return json_decref(parts), -1;
            tg_xlate_pop(c, block_mark);
        }
        content = collapse_parts(parts);
        if (content == NULL)
            return tg_xlate_pop(c, mark), 0;
    }
    tg_xlate_pop(c, mark);
    return tg_xlate_append(c, out, json_pack("{s:s,s:o}", "role", "system", "content", content));
}

static int messages_tools(tg_xlate_ctx_t *c, json_t *tools, json_t *out)
{
    static const tg_xlate_field_t fields[] = {
        {"name", NULL, NULL}, {"description", NULL, NULL}, {"input_schema", NULL, NULL}, {"type", NULL, NULL},
        {"cache_control", NULL, NULL}};
    size_t i, mark = tg_xlate_push_key(c, "tools");
    json_t *tool;

    if (tg_xlate_array(c, tools, NULL) < 0)
        return -1;
    json_t *list = json_array();
    if (tg_xlate_set(c, out, "tools", list) < 0)
        return -1;
    json_array_foreach(tools, i, tool) {
        json_t *f[5];
        size_t tool_mark = tg_xlate_push_index(c, i);
        if (tg_xlate_object(c, tool, NULL) < 0)
            return -1;
        /* Anthropic's own tools (bash, web search, ...) have a versioned type
         * and no schema: an OpenAI provider would not know them */
        const json_t *type = json_object_get(tool, "type");
        if (type != NULL && !json_is_null(type) && !(json_is_string(type) && strcmp(json_string_value(type), "custom") == 0)) {
            tg_xlate_push_key(c, "type");
            return tg_xlate_fail(c, 400, "Anthropic's %s tool has no OpenAI equivalent",
                                 json_is_string(type) ? json_string_value(type) : "typed");
        }
        if (tg_xlate_collect(c, tool, fields, COUNT(fields), f) < 0 || tg_xlate_string(c, f[0], "name") == NULL ||
            (f[1] != NULL && tg_xlate_string(c, f[1], "description") == NULL) ||
            tg_xlate_object(c, f[2], "input_schema") < 0)
            return -1;
        json_t *fn = json_pack("{s:O}", "name", f[0]);
        if (fn != NULL && f[1] != NULL && json_object_set(fn, "description", f[1]) != 0)
            json_decref(fn), fn = NULL;
        if (fn != NULL && json_object_set(fn, "parameters", f[2]) != 0)
            json_decref(fn), fn = NULL;
        if (tg_xlate_append(c, list, json_pack("{s:s,s:o}", "type", "function", "function", fn)) < 0)
            return -1;
        tg_xlate_pop(c, tool_mark);
    }
    tg_xlate_pop(c, mark);
    return 0;
}

static int messages_tool_choice(tg_xlate_ctx_t *c, json_t *choice, json_t *out)
{
    static const tg_xlate_field_t fields[] = {
        {"type", NULL, NULL}, {"name", NULL, NULL}, {"disable_parallel_tool_use", NULL, NULL}};
    json_t *f[3], *tc;
    size_t mark = tg_xlate_push_key(c, "tool_choice");

    if (tg_xlate_object(c, choice, NULL) < 0 || tg_xlate_collect(c, choice, fields, COUNT(fields), f) < 0)
        return -1;
    const char *type = tg_xlate_string(c, f[0], "type");
    if (type == NULL)
        return -1;
    if (strcmp(type, "tool") == 0) {
        if (tg_xlate_string(c, f[1], "name") == NULL)
            return -1;
        tc = json_pack("{s:s,s:{s:O}}", "type", "function", "function", "name", f[1]);
    } else {
        const char *s = strcmp(type, "auto") == 0 ? "auto" : strcmp(type, "any") == 0 ? "required"
                      : strcmp(type, "none") == 0 ? "none" : NULL;
        if (s == NULL) {
            tg_xlate_push_key(c, "type");
            return tg_xlate_fail(c, 400, "must be auto, any, tool or none");
        }
        if (f[1] != NULL) {
            tg_xlate_push_key(c, "name");
            return tg_xlate_fail(c, 400, "only a tool_choice of type tool has a name");
        }
        tc = json_string(s);
    }
    if (tg_xlate_set(c, out, "tool_choice", tc) < 0)
        return -1;
    if (f[2] != NULL) {
        if (!json_is_boolean(f[2])) {
            tg_xlate_push_key(c, "disable_parallel_tool_use");
            return tg_xlate_fail(c, 400, "must be a boolean");
        }
        if (json_is_true(f[2]) && tg_xlate_set(c, out, "parallel_tool_calls", json_false()) < 0)
            return -1;
    }
    tg_xlate_pop(c, mark);
    return 0;
}

static int messages_request(tg_xlate_ctx_t *c, json_t *in, const char *upstream_model, uint32_t unused,
                            json_t *out)
{
    static const tg_xlate_field_t metadata_fields[] = {{"user_id", NULL, NULL}};
    json_t *f[A_COUNT], *meta[1];
    double number;
    (void)unused;

    if (tg_xlate_collect(c, in, messages_fields, A_COUNT, f) < 0 || tg_xlate_string(c, f[A_MODEL], "model") == NULL)
        return -1;
    if (tg_xlate_set(c, out, "model", upstream_model ? json_string(upstream_model) : json_incref(f[A_MODEL])) < 0)
        return -1;
    json_t *messages = json_array();
    if (tg_xlate_set(c, out, "messages", messages) < 0)
        return -1;
    if (f[A_SYSTEM] != NULL && messages_system(c, f[A_SYSTEM], messages) < 0)
        return -1;
    size_t i, mark = tg_xlate_push_key(c, "messages");
    json_t *m;
    if (tg_xlate_array(c, f[A_MESSAGES] ? f[A_MESSAGES] : json_null(), NULL) < 0)
        return -1;
    json_array_foreach(f[A_MESSAGES], i, m) {
        size_t message_mark = tg_xlate_push_index(c, i);
        if (messages_message(c, m, messages) < 0)
            return -1;
        tg_xlate_pop(c, message_mark);
    }
    tg_xlate_pop(c, mark);

    if (positive_integer(c, f[A_MAX_TOKENS], "max_tokens") < 0 ||
        tg_xlate_set(c, out, "max_tokens", json_incref(f[A_MAX_TOKENS])) < 0)
        return -1;
    if (f[A_STOP_SEQUENCES] != NULL) {
        json_t *stops = json_is_array(f[A_STOP_SEQUENCES]) ? stop_list(c, f[A_STOP_SEQUENCES], "stop_sequences") : NULL;
        if (stops == NULL) {
            if (c->err->status == 0 && json_is_array(f[A_STOP_SEQUENCES]))
                return tg_xlate_oom(c);
            tg_xlate_push_key(c, "stop_sequences");
            return tg_xlate_fail(c, 400, "must be an array of strings");
        }
        if (json_array_size(stops) == 0)
            json_decref(stops);
        else if (tg_xlate_set(c, out, "stop", stops) < 0)
            return -1;
    }
    if (f[A_TEMPERATURE] != NULL && (number_in(c, f[A_TEMPERATURE], "temperature", 0, 1, &number) < 0 ||
                                     tg_xlate_set(c, out, "temperature", json_incref(f[A_TEMPERATURE])) < 0))
        return -1;
    if (f[A_TOP_P] != NULL && (number_in(c, f[A_TOP_P], "top_p", 0, 1, &number) < 0 ||
                               tg_xlate_set(c, out, "top_p", json_incref(f[A_TOP_P])) < 0))
        return -1;
    if (f[A_STREAM] != NULL) {
        if (!json_is_boolean(f[A_STREAM])) {
            tg_xlate_push_key(c, "stream");
            return tg_xlate_fail(c, 400, "must be a boolean");
        }
        if (tg_xlate_set(c, out, "stream", json_incref(f[A_STREAM])) < 0)
            return -1;
        /* the usage comes at the end of OpenAI streams only when asked for */
        if (json_is_true(f[A_STREAM]) &&
            tg_xlate_set(c, out, "stream_options", json_pack("{s:b}", "include_usage", 1)) < 0)
            return -1;
    }
    if (f[A_TOOLS] != NULL && messages_tools(c, f[A_TOOLS], out) < 0)
        return -1;
    if (f[A_TOOL_CHOICE] != NULL && messages_tool_choice(c, f[A_TOOL_CHOICE], out) < 0)
        return -1;
    if (f[A_METADATA] != NULL) {
        mark = tg_xlate_push_key(c, "metadata");
        if (tg_xlate_object(c, f[A_METADATA], NULL) < 0 || tg_xlate_collect(c, f[A_METADATA], metadata_fields, COUNT(metadata_fields), meta) < 0)
            return -1;
        if (meta[0] != NULL && (tg_xlate_string(c, meta[0], "user_id") == NULL ||
                                tg_xlate_set(c, out, "user", json_incref(meta[0])) < 0))
            return -1;
        tg_xlate_pop(c, mark);
    }
    if (f[A_SERVICE_TIER] != NULL && service_tier(c, f[A_SERVICE_TIER], "service_tier", anthropic_to_chat_tiers, out) < 0)
        return -1;
    return 0;
}

char *tg_anthropic_request_to_chat(const char *body, size_t len, const char *upstream_model, size_t *out_len,
                                   tg_xlate_error_t *err)
{
    return request(body, len, upstream_model, 0, messages_request, out_len, err);
}
