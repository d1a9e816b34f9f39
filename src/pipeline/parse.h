/* parse.h: first pipeline stage. Validates the client's JSON body for chat
 * completions and embeddings and locates the members routing needs; later
 * builds the upstream body from it with the model name replaced. */
#ifndef TOLLGATE_PIPELINE_PARSE_H
#define TOLLGATE_PIPELINE_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "pipeline/json_body.h"

#define TG_MODEL_NAME_MAX 256

typedef struct tg_parse_in {
    const char *body;
    size_t body_len;
    size_t max_body_bytes;
    tg_operation_t operation;
    const char *content_type;   /* the request's, for a multipart body; NULL when absent */
    size_t content_type_len;
} tg_parse_in_t;

typedef struct tg_parse_out {
    tg_json_body_t members; /* spans into the body */
    const char *model;      /* the requested name: into the body or model_buf */
    size_t model_len;
    bool stream;
    bool usage_requested;   /* stream_options.include_usage was true */
    long max_tokens;        /* max_completion_tokens, else max_tokens, when a whole number; -1 otherwise */
    tg_error_t error;
    char message[64];       /* error.message when it names a member */
    char model_buf[TG_MODEL_NAME_MAX]; /* the name when it had escapes */
} tg_parse_out_t;

/* Returns 0 on success, -1 with out->error set. */
int tg_parse_request(const tg_parse_in_t *in, tg_parse_out_t *out);

/* Writes the upstream body into buf: the client's bytes with the model
 * value replaced by upstream_model and, when add_usage_option,
 * stream_options.include_usage set to true. Returns the length needed; the
 * body was written only if that is <= cap. */
size_t tg_parse_build_upstream_body(const char *body, size_t body_len, const tg_json_body_t *members,
                                    const char *upstream_model, bool add_usage_option, char *buf, size_t cap);

#endif
