/* json_body.h: one-pass validator for a client's JSON request body that
 * also records where the few members the gateway needs are. The body is
 * then forwarded byte for byte except for those spans (the model name,
 * stream_options), so no tree is built and nothing is allocated: jansson
 * cost more CPU per request than the rest of the pipeline together. */
#ifndef TOLLGATE_PIPELINE_JSON_BODY_H
#define TOLLGATE_PIPELINE_JSON_BODY_H

#include <stdbool.h>
#include <stddef.h>

/* Where a value sits in the body; len == 0 means the member is absent
 * (every JSON value is at least one byte long). */
typedef struct tg_span {
    size_t off;
    size_t len;
} tg_span_t;

typedef struct tg_json_body {
    size_t object_end;        /* offset of the top-level closing brace */
    tg_span_t model;          /* top-level members: value spans */
    tg_span_t stream;
    tg_span_t stream_options;
    tg_span_t messages;
    tg_span_t input;
    tg_span_t prompt;         /* completions, images */
    tg_span_t include_usage;  /* stream_options.include_usage when stream_options is an object */
    tg_span_t max_tokens;
    tg_span_t max_completion_tokens; /* max_tokens' newer name */
    bool duplicate;           /* one of the members above appears twice */
    bool model_raw;           /* model spans a form field's bytes (multipart), not a JSON string */
} tg_json_body_t;

/* Validates s as one JSON object (RFC 8259: strict grammar, UTF-8 strings,
 * nesting at most 256 deep) and fills out. Returns 0, or -1 when s is not
 * a valid JSON object. */
int tg_json_body_scan(const char *s, size_t len, tg_json_body_t *out);

/* Decodes the JSON string at span (quotes included) into dst (NUL
 * terminated); returns its length, or -1 if it does not fit in cap - 1
 * bytes or contains an escaped NUL. */
long tg_json_string_decode(const char *s, tg_span_t span, char *dst, size_t cap);

#endif
