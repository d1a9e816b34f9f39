/* account.h: the last pipeline stage. Turns what happened to one request
 * (usage reported upstream, or tokens seen so far when the client left)
 * into tokens, cost, the LLM metrics and the access log line. */
#ifndef TOLLGATE_PIPELINE_ACCOUNT_H
#define TOLLGATE_PIPELINE_ACCOUNT_H

#include <stdbool.h>

#include "config.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "pipeline/json_body.h"
#include "upstream/usage.h"

typedef struct tg_account_in {
    const tg_config_t *cfg;
    const tg_obs_view_t *view;
    bool llm_called;         /* an upstream was tried: record LLM metrics */
    long model_index;        /* -1 = other */
    size_t provider_index;   /* the provider that answered or was tried last */
    tg_operation_t operation; /* TG_OP_COUNT: not an LLM path (no model logged) */
    tg_stream_mode_t stream_mode;
    tg_llm_status_t llm_status;
    tg_usage_t usage;        /* usage.present = the provider reported it */
    long content_events;     /* streamed content deltas seen: the estimate */
    bool tokens_estimated;   /* the client disconnected mid-stream */
    uint64_t prompt_estimate; /* tokens_estimated: the prompt's tokens, estimated from the request */
    uint64_t images;          /* images generated (image) */
    double audio_seconds;     /* seconds of audio transcribed (audio_transcription) */
    uint64_t characters;      /* characters spoken (audio_speech) */
    double duration_seconds;
    double ttft_seconds;     /* < 0 = none */

    /* access line */
    const char *request_id;
    const char *org_id;
    const char *trace_id;
    const char *method;
    const char *path;
    int http_status;
    int attempts;
    const char *model_used;
    const char *upstream_failures; /* "provider:kind,..." or NULL (tg_access_record_t) */
} tg_account_in_t;

/* What a request is billed: the same numbers go to the metrics, the access
 * line and the ledger, so that their totals agree. */
typedef struct tg_account_out {
    uint64_t prompt_tokens;
    uint64_t cached_tokens;
    uint64_t completion_tokens;
    uint64_t reasoning_tokens;
    uint64_t cache_write_tokens;
    double cost;
} tg_account_out_t;

/* About four bytes per token of a request's prompt (chat's messages, the
 * Responses API's and embeddings' input, a completion's prompt): what a
 * client that left before the provider's usage came is billed, and what
 * the token limits reserve. */
uint64_t tg_account_prompt_estimate(const tg_json_body_t *members);

/* The units other than tokens an answer is priced by (docs/configuration.md,
 * `pricing`): images in an image answer's data, seconds of audio in a
 * transcription's answer (its usage, or verbose_json's duration; 0 when
 * the answer says neither), characters of a speech request's input. */
void tg_account_units(tg_operation_t op, const char *request, size_t request_len, const char *answer, size_t answer_len,
                      uint64_t *images, double *audio_seconds, uint64_t *characters);

/* Records the LLM metrics and fills *access with the access line, for the
 * caller to write (tg_log_access) when it suits it: the server writes it
 * once the response is on its way, off the response's critical path. The
 * record points into *in's strings. */
void tg_account_record(const tg_account_in_t *in, tg_account_out_t *out, tg_access_record_t *access);

/* tg_account_record, then the access line written at once. */
void tg_account_finish(const tg_account_in_t *in, tg_account_out_t *out);

#endif
