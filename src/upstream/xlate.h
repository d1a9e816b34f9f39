/* xlate.h: the machinery the anthropic_*.c translators share (not an API
 * for the rest of the gateway: that is upstream/anthropic.h). A context
 * that knows where in the input document it is, so that every refusal names
 * its field; field tables that refuse unknown members; building helpers
 * that turn jansson's allocation failures into a 500; the stop-reason and
 * usage mappings. */
#ifndef TOLLGATE_UPSTREAM_XLATE_H
#define TOLLGATE_UPSTREAM_XLATE_H

#include <stddef.h>

#include <jansson.h>

#include "upstream/anthropic.h"

typedef struct tg_xlate_ctx {
    tg_xlate_error_t *err;
    int status; /* of an error in the input: 400 for a request, 502 for a provider's answer */
    char path[sizeof(((tg_xlate_error_t *)0)->param)];
    size_t path_len;
} tg_xlate_ctx_t;

void tg_xlate_init(tg_xlate_ctx_t *c, tg_xlate_error_t *err, int status);

/* Descend into a member or an element (the path then names it); both
 * return a mark for tg_xlate_pop. A path too long for param is cut. */
size_t tg_xlate_push_key(tg_xlate_ctx_t *c, const char *key);
size_t tg_xlate_push_index(tg_xlate_ctx_t *c, size_t i);
void tg_xlate_pop(tg_xlate_ctx_t *c, size_t mark);

/* Sets the error (param: the current path) and returns -1. */
int tg_xlate_fail(tg_xlate_ctx_t *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int tg_xlate_oom(tg_xlate_ctx_t *c);

/* A member an object may have. A field with a refusal is one the target
 * API cannot express: accepted only with a neutral value (one that asks
 * for nothing, as the default does). null always reads as absent. */
typedef struct tg_xlate_field {
    const char *name;
    int (*neutral)(const json_t *v); /* NULL: no value is neutral */
    const char *refusal;             /* NULL: a field the translator reads */
} tg_xlate_field_t;

/* Fills slots[i] with obj's member fields[i].name (NULL when absent, null
 * or neutral). A member not in the table, or refused, is a 400 naming it. */
int tg_xlate_collect(tg_xlate_ctx_t *c, const json_t *obj, const tg_xlate_field_t *fields, size_t n,
                     json_t **slots);

/* Neutral values */
int tg_xlate_is_false(const json_t *v);
int tg_xlate_is_zero(const json_t *v);
int tg_xlate_is_one(const json_t *v);
int tg_xlate_is_empty(const json_t *v); /* "", [] or {} */

/* Typed reads of v at path + key (key NULL: at the path itself): an
 * error when v has another type. */
const char *tg_xlate_string(tg_xlate_ctx_t *c, const json_t *v, const char *key);
int tg_xlate_object(tg_xlate_ctx_t *c, const json_t *v, const char *key);
int tg_xlate_array(tg_xlate_ctx_t *c, const json_t *v, const char *key);

/* Parses a request or response body: must be a JSON object. */
json_t *tg_xlate_load(tg_xlate_ctx_t *c, const char *body, size_t len);

/* obj[key] = v, arr += v: steal v (also on failure), -1 and a 500 when out
 * of memory. v NULL (a failed json_* constructor) is out of memory too. */
int tg_xlate_set(tg_xlate_ctx_t *c, json_t *obj, const char *key, json_t *v);
int tg_xlate_append(tg_xlate_ctx_t *c, json_t *arr, json_t *v);

/* Sets members in order: key, value pairs ending with a NULL key; steals
 * every value, also those after a failure. */
int tg_xlate_set_all(tg_xlate_ctx_t *c, json_t *obj, ...);

/* The compact text of root (not freed), or NULL and a 500. */
char *tg_xlate_dump(tg_xlate_ctx_t *c, const json_t *root, size_t *out_len);

/* Why generation stopped: Anthropic's stop_reason and OpenAI's
 * finish_reason. Mapping looks for the first row with that name, so the
 * row listed first is the one a shared word maps back to. */
#define TG_XLATE_STOP_MAP(X)                                   \
    X("end_turn", "stop")                                      \
    X("stop_sequence", "stop")                                 \
    X("pause_turn", "stop")                                    \
    X("max_tokens", "length")                                  \
    X("model_context_window_exceeded", "length")               \
    X("tool_use", "tool_calls")                                \
    X("tool_use", "function_call")                             \
    X("refusal", "content_filter")

/* NULL for a word not in the map (the caller decides and counts it). */
const char *tg_xlate_finish_reason(const char *stop_reason);
const char *tg_xlate_stop_reason(const char *finish_reason);

/* Reads an Anthropic usage object (input_tokens, output_tokens,
 * cache_creation_input_tokens, cache_read_input_tokens), or an OpenAI one
 * (prompt_tokens, completion_tokens, prompt_tokens_details.cached_tokens),
 * over what *u holds: a member that is absent keeps its count (a stream's
 * usage comes in parts). A count that is not a non-negative integer makes
 * the whole object unusable (present = 0, *u unchanged). */
void tg_xlate_usage_from_anthropic(const json_t *usage, tg_xlate_usage_t *u);
void tg_xlate_usage_from_chat(const json_t *usage, tg_xlate_usage_t *u);

/* The usage objects to send: OpenAI's (prompt, completion, total, cached
 * details) and Anthropic's (input_tokens without cache reads and writes). */
json_t *tg_xlate_usage_chat(const tg_xlate_usage_t *u);
json_t *tg_xlate_usage_anthropic(const tg_xlate_usage_t *u);

/* Anthropic's error type for an HTTP status. */
const char *tg_xlate_anthropic_error_type(int status);

#endif
