/* anthropic.h: translation between OpenAI Chat Completions and Anthropic
 * Messages, both ways: OpenAI clients routed to Anthropic, and Anthropic
 * clients routed to OpenAI-compatible providers. Requests, plain
 * responses, streams and error bodies.
 *
 * Pure functions of their input (no I/O, no globals); JSON through jansson.
 * Every result is a malloc'd, NUL-terminated string the caller frees with
 * free(). A request field the target API cannot express is refused with a
 * 400 that names it (tg_xlate_error_t.param): nothing is dropped silently.
 * An upstream answer that cannot be translated is a 502. Which request
 * fields are translated and which refused: the field tables at the top of
 * anthropic_request.c. */
#ifndef TOLLGATE_UPSTREAM_ANTHROPIC_H
#define TOLLGATE_UPSTREAM_ANTHROPIC_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Why a translation failed. */
typedef struct tg_xlate_error {
    int status;        /* 400: the client's request; 502: the provider's answer; 500: out of memory */
    char param[128];   /* the offending field as a path, "messages[2].content[0].image_url"; "" if none */
    char message[256]; /* for the client: says what cannot be translated and why */
} tg_xlate_error_t;

/* Fills e from x for the gateway's error paths: 400 is invalid_request_error
 * / invalid_request, 502 upstream_error / upstream_unavailable, 500
 * internal_error. e points into x (message, param): keep x alive. */
void tg_xlate_error_get(const tg_xlate_error_t *x, tg_error_t *e);

/* Token counts in the gateway's (and the ledger's) terms, whichever API
 * reported them. Anthropic's input_tokens excludes cache reads and writes;
 * here prompt_tokens includes both, as OpenAI counts. */
typedef struct tg_xlate_usage {
    long prompt_tokens;      /* all input: uncached + cache reads + cache writes */
    long cached_tokens;      /* read from the prompt cache (cache_read_input_tokens) */
    long cache_write_tokens; /* written to it (cache_creation_input_tokens) */
    long completion_tokens;
    int present; /* the answer carried a usable usage object */
} tg_xlate_usage_t;

/* ---- requests ---------------------------------------------------------- */

/* OpenAI chat completion request -> Anthropic messages request. model is
 * replaced by upstream_model (NULL: kept); max_tokens defaults to
 * default_max_tokens when the client sets neither max_tokens nor
 * max_completion_tokens (0: then it is a 400, Anthropic requires it).
 * Returns the body, or NULL with *err set. */
char *tg_anthropic_request_from_chat(const char *body, size_t len, const char *upstream_model,
                                     uint32_t default_max_tokens, size_t *out_len, tg_xlate_error_t *err);

/* Anthropic messages request -> OpenAI chat completion request (a streamed
 * one asks for stream_options.include_usage). */
char *tg_anthropic_request_to_chat(const char *body, size_t len, const char *upstream_model, size_t *out_len,
                                   tg_xlate_error_t *err);

/* ---- plain responses --------------------------------------------------- */

/* Anthropic message -> OpenAI chat.completion. model is the name the client
 * sees (NULL: the provider's); created is the Unix time to stamp (0: now).
 * *usage (may be NULL) gets the counts even when translation fails after
 * reading them. */
char *tg_anthropic_response_to_chat(const char *body, size_t len, const char *model, long created,
                                    tg_xlate_usage_t *usage, size_t *out_len, tg_xlate_error_t *err);

/* OpenAI chat.completion -> Anthropic message. */
char *tg_anthropic_response_from_chat(const char *body, size_t len, const char *model, tg_xlate_usage_t *usage,
                                      size_t *out_len, tg_xlate_error_t *err);

/* ---- error bodies ------------------------------------------------------ */

/* e in Anthropic's shape, {"type":"error","error":{"type","message"}},
 * the type chosen by e->status (400 invalid_request_error, 401
 * authentication_error, 403 permission_error, 404 not_found_error, 413
 * request_too_large, 429 rate_limit_error, 503 and 529 overloaded_error,
 * any other api_error). NULL only when out of memory. */
char *tg_anthropic_error_json(const tg_error_t *e, size_t *out_len);

/* A provider's error body (status, body) in the other API's shape: an
 * Anthropic error for an OpenAI client (_to_chat: OpenAI's
 * {"error":{"message","type","param","code"}}, the provider's error type
 * kept as type), an OpenAI error for an Anthropic client (_from_chat). A
 * body that is not the expected shape is still answered, with a message
 * that says so and quotes nothing of it. */
char *tg_anthropic_error_to_chat(int status, const char *body, size_t len, size_t *out_len);
char *tg_anthropic_error_from_chat(int status, const char *body, size_t len, size_t *out_len);

/* ---- streams ----------------------------------------------------------- */

typedef enum tg_anthropic_stream_dir {
    TG_ANTHROPIC_STREAM_TO_CHAT,   /* Anthropic SSE in, chat.completion.chunk events out */
    TG_ANTHROPIC_STREAM_FROM_CHAT, /* chat.completion.chunk events in, Anthropic SSE out */
} tg_anthropic_stream_dir_t;

/* Receives translated output, one whole SSE event per call. Returns 0 to
 * go on, non-zero to stop (tg_anthropic_stream_feed returns that value). */
typedef int (*tg_xlate_emit_fn)(void *ctx, const char *data, size_t len);

typedef struct tg_anthropic_stream tg_anthropic_stream_t;

typedef struct tg_anthropic_stream_info {
    tg_xlate_usage_t usage; /* as reported so far */
    int output_seen;        /* model output (text or a tool call) was emitted: time to first token */
    int done;               /* the whole message went out, with its final event */
    int failed;             /* an error event went out instead (see error) */
    unsigned ignored;       /* events, content blocks and deltas of types unknown here, skipped */
    tg_xlate_error_t error; /* why it failed: 502 for the provider's error event or garbage */
} tg_anthropic_stream_info_t;

/* A translator for one response. model: the name the client sees (NULL:
 * the provider's). include_usage (to chat only): end with the usage-only
 * chunk, as stream_options.include_usage asks; usage is counted either way.
 * created: as for the plain response. max_event_bytes bounds one upstream
 * event (0: 1 MiB). NULL when out of memory. */
tg_anthropic_stream_t *tg_anthropic_stream_new(tg_anthropic_stream_dir_t dir, const char *model, int include_usage,
                                               long created, size_t max_event_bytes);

/* Feeds upstream bytes, split anywhere. Returns 0, the emit function's
 * non-zero value, or -1 when the stream failed (the error event, in the
 * client's API's shape, has been emitted: end the response after it).
 * Bytes after the end or a failure are ignored. */
int tg_anthropic_stream_feed(tg_anthropic_stream_t *s, const char *data, size_t len, tg_xlate_emit_fn emit,
                             void *ctx);

/* The provider closed the stream. Returns 0 when the message was complete;
 * else emits the error event (once) and returns -1. */
int tg_anthropic_stream_finish(tg_anthropic_stream_t *s, tg_xlate_emit_fn emit, void *ctx);

const tg_anthropic_stream_info_t *tg_anthropic_stream_info(const tg_anthropic_stream_t *s);

void tg_anthropic_stream_free(tg_anthropic_stream_t *s);

#endif
