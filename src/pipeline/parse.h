/* parse.h: first pipeline stage. Parses and validates the client's JSON
 * body for chat completions and embeddings. */
#ifndef TOLLGATE_PIPELINE_PARSE_H
#define TOLLGATE_PIPELINE_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "pipeline/error.h"

typedef struct tg_parse_in {
    const char *body;
    size_t body_len;
    size_t max_body_bytes;
    obs_operation operation;
} tg_parse_in_t;

typedef struct tg_parse_out {
    json_t *root;        /* owned by the caller on success: json_decref() */
    const char *model;   /* points into root */
    size_t model_len;
    bool stream;
    bool usage_requested; /* stream_options.include_usage was true */
    tg_error_t error;
} tg_parse_out_t;

/* Returns 0 on success, -1 with out->error set (and out->root NULL). */
int tg_parse_request(const tg_parse_in_t *in, tg_parse_out_t *out);

/* Serialises root with `model` replaced by upstream_model and, when
 * add_usage_option, stream_options.include_usage set to true. Writes into
 * buf (capacity cap); returns the length needed, which may exceed cap (then
 * call again with a bigger buffer), or 0 on failure. Mutates root. */
size_t tg_parse_build_upstream_body(json_t *root, const char *upstream_model, bool add_usage_option, char *buf,
                                    size_t cap);

#endif
