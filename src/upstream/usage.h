/* usage.h: a small scanner that pulls the OpenAI `usage` object (and the
 * bits of a chat chunk the gateway cares about) out of upstream JSON without
 * building a DOM. Responses can be large (long completions, embeddings), and
 * the gateway only needs a handful of integers from them. */
#ifndef TOLLGATE_UPSTREAM_USAGE_H
#define TOLLGATE_UPSTREAM_USAGE_H

#include <stddef.h>

typedef struct tg_usage {
    long prompt_tokens;
    long completion_tokens;
    long cached_tokens;    /* prompt_tokens_details.cached_tokens */
    long reasoning_tokens; /* completion_tokens_details.reasoning_tokens */
    long cache_write_tokens; /* written to a provider's prompt cache (Anthropic's cache_creation_input_tokens) */
    int present;           /* a `usage` object was found */
} tg_usage_t;

/* Finds a `"usage": {...}` object in json and fills *out from it: prompt
 * and completion tokens (chat, completions), else input and output tokens
 * (the Responses API), with their cached and reasoning details. Returns 1
 * when found, 0 when absent or `null`, -1 when the object is malformed. */
int tg_usage_scan(const char *json, size_t len, tg_usage_t *out);

/* Finds the value of key `name` (no quotes) anywhere in json; returns a
 * pointer to the first byte of the value (after the colon and whitespace)
 * or NULL. Used to classify stream chunks: "choices":[] and "content":"x". */
const char *tg_json_find_key(const char *json, size_t len, const char *name);

/* Copies the string value of key `name` (the first one in json, its bytes
 * as they are, escapes included) into out, cut to cap - 1 bytes and
 * NUL-terminated; returns its length, 0 when the key is absent, null or not
 * a string. Reads the response's "model" and "finish_reason" for traces. */
size_t tg_json_string_value(const char *json, size_t len, const char *name, char *out, size_t cap);

#endif
