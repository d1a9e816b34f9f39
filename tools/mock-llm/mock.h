/*
 * mock-llm: internal interfaces shared by its translation units.
 *
 * main.c parses flags and owns the process lifetime, server.c runs the h2o
 * event loops (one per thread) and their timers, handlers.c answers HTTP
 * requests, faults.c holds the run-time fault settings, stats.c the counters
 * behind /mock/stats, usage.c the deterministic token accounting and the JSON
 * output helpers.
 */
#ifndef MOCK_LLM_H
#define MOCK_LLM_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>
#include <jansson.h>

/* ---- faults.c ---------------------------------------------------------- */

enum mock_fault {
    MOCK_FAULT_NONE,
    MOCK_FAULT_RESET,
    MOCK_FAULT_HANG,
    MOCK_FAULT_MALFORMED,
    MOCK_FAULT_TRUNCATE,
    MOCK_FAULT_ROLE_CHUNK,
};

/* The process-wide fault settings, as given by flags or /mock/config.
 * fail_first == 0 means "apply to every API request". */
struct mock_settings {
    uint32_t latency_ms;
    uint32_t token_delay_ms;
    int status;
    enum mock_fault fault;
    uint32_t fail_first;
    uint32_t retry_after;
};

/* What one API request will suffer, resolved once when it arrives. */
struct mock_plan {
    uint32_t latency_ms;
    uint32_t token_delay_ms;
    int status; /* 0: answer normally */
    enum mock_fault fault;
    uint32_t retry_after;
};

/* Upper bound for every delay, so that a typo cannot park a request for days. */
#define MOCK_MAX_DELAY_MS 600000u

void mock_faults_init(const struct mock_settings *settings);
/* Returns 0, or -1 if name is not a fault name ("" is MOCK_FAULT_NONE). */
int mock_fault_from_name(const char *name, size_t len, enum mock_fault *fault);
/* Returns 0 if status is one mock-llm can inject (0 or 400..599). */
int mock_status_is_valid(long status);
/* Reads a request header holding a decimal number, clamped to limit: returns
 * 1 and sets *out, or 0 if the header is absent or not a number. */
int mock_header_number(const h2o_req_t *req, const char *lc_name, uint64_t limit, uint64_t *out);
/* Decides the plan of one API request: process settings (while the
 * --fail-first budget lasts), overridden by the request's X-Mock-* headers. */
void mock_faults_plan(const h2o_req_t *req, struct mock_plan *plan);
/* Applies the members of a /mock/config object; on error returns -1 and sets
 * *error, leaving the settings unchanged. */
int mock_faults_configure(json_t *config, const char **error);
void mock_faults_snapshot(struct mock_settings *settings);
const char *mock_fault_name(enum mock_fault fault);

/* ---- usage.c ----------------------------------------------------------- */

/* A growable output buffer living in a request's memory pool. */
struct mock_buf {
    h2o_mem_pool_t *pool;
    char *base;
    size_t len;
    size_t cap;
};

void mock_buf_init(struct mock_buf *buf, h2o_mem_pool_t *pool, size_t cap);
void mock_buf_append(struct mock_buf *buf, const char *bytes, size_t len);
void mock_buf_printf(struct mock_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes s as a quoted JSON string into out, which must have room for
 * MOCK_JSON_ESCAPED_MAX(len) bytes; returns the bytes written. */
#define MOCK_JSON_ESCAPED_MAX(len) ((len)*6 + 2)
size_t mock_json_escape(char *out, const char *s, size_t len);
/* Appends s as a quoted JSON string. */
void mock_buf_json_string(struct mock_buf *buf, const char *s, size_t len);

struct mock_usage {
    uint64_t prompt_tokens;
    uint64_t completion_tokens;
    uint64_t cached_tokens;
    uint64_t reasoning_tokens;
};

#define MOCK_DEFAULT_COMPLETION_TOKENS 16
#define MOCK_MAX_COMPLETION_TOKENS 4096

size_t mock_words(const char *s, size_t len);
/* Fills prompt_tokens and completion_tokens from a chat request body.
 * Returns -1 with *error set if the body is not a valid chat request. */
int mock_usage_chat(json_t *body, struct mock_usage *usage, const char **error);
/* Counts the embeddings inputs and their tokens; -1 with *error if invalid. */
int mock_usage_embeddings(json_t *input, size_t *count, uint64_t *prompt_tokens, const char **error);
/* Appends the OpenAI "usage" object of a chat completion. */
void mock_buf_chat_usage(struct mock_buf *buf, const struct mock_usage *usage);

/* Parses a request body with jansson allocating from the request's pool, so
 * that parsing costs no malloc/free and the tree is released with the
 * request (never json_decref the result). NULL if the body is not JSON. */
json_t *mock_json_parse(h2o_req_t *req);
/* Routes jansson's allocations; call once before any thread starts. */
void mock_json_setup(void);

/* ---- stats.c ----------------------------------------------------------- */

enum mock_endpoint {
    MOCK_ENDPOINT_CHAT,
    MOCK_ENDPOINT_EMBEDDINGS,
    MOCK_ENDPOINT_MODELS,
};

void mock_stats_count_request(const h2o_req_t *req, enum mock_endpoint endpoint);
void mock_stats_count_fault(void);
void mock_stats_reset(void);
void mock_stats_render(struct mock_buf *buf);

/* ---- server.c ---------------------------------------------------------- */

/* A one-shot timer owned by a request: it can be re-armed, and it is
 * disarmed automatically when the request is disposed. */
struct mock_timer;

struct mock_timer *mock_timer_create(h2o_req_t *req, void (*cb)(void *arg), void *arg);
void mock_timer_arm(struct mock_timer *timer, uint32_t delay_ms);
void mock_timer_disarm(struct mock_timer *timer);

/* Answers nothing to req until shutdown (the "hang" fault). */
void mock_server_hold(h2o_req_t *req);
/* Drops req's connection with a TCP RST and no response. */
void mock_server_reset_connection(h2o_req_t *req);

struct mock_server_options {
    const char *host;
    uint16_t port;
    unsigned threads;
    const char *port_file;
};

/* Binds the listeners and runs the event loops until SIGTERM or SIGINT.
 * Returns 0 on a clean stop, -1 (after printing why) if it could not start. */
int mock_server_run(const struct mock_server_options *options);

/* ---- handlers.c -------------------------------------------------------- */

int mock_handle_request(h2o_handler_t *self, h2o_req_t *req);

#endif
