/*
 * mock-llm: internal interfaces shared by its translation units.
 *
 * main.c parses flags and owns the process lifetime, server.c runs the h2o
 * event loops (one per thread) and their timers, handlers.c routes requests
 * and answers the /mock/ control endpoints, call.c carries one API request
 * from arrival to last byte (latency, faults, event streams), respond.c
 * writes whole responses and errors, faults.c holds the run-time settings,
 * stats.c the counters behind /mock/stats, json.c the output buffers and
 * JSON plumbing, usage.c the deterministic token accounting, text.c the
 * generated answers, schema.c example values of JSON schemas. One file per
 * API family answers its endpoints: chat.c, responses.c, anthropic.c,
 * completions.c, embeddings.c, models.c, images.c, audio.c.
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

/* Usage numbers a test may dictate, by /mock/config or per request headers.
 * Zero means "not set" (the answer follows from the request). */
struct mock_usage_knobs {
    uint32_t output_tokens;      /* the length the model "wants" to answer */
    uint32_t cached_tokens;      /* OpenAI: cached part of the prompt */
    uint32_t reasoning_tokens;   /* OpenAI: reasoning part of the output */
    uint32_t cache_read_tokens;  /* Anthropic: cache_read_input_tokens */
    uint32_t cache_write_tokens; /* Anthropic: cache_creation_input_tokens */
};

/* The process-wide settings, as given by flags or /mock/config.
 * fail_first == 0 means "apply the faults to every API request". */
struct mock_settings {
    uint32_t latency_ms;
    uint32_t token_delay_ms;
    int status;
    enum mock_fault fault;
    uint32_t fail_first;
    uint32_t retry_after;
    struct mock_usage_knobs knobs; /* not faults: never limited by fail_first */
};

/* What one API request will get, resolved once when it arrives. */
struct mock_plan {
    uint32_t latency_ms;
    uint32_t token_delay_ms;
    int status; /* 0: answer normally */
    enum mock_fault fault;
    uint32_t retry_after;
    struct mock_usage_knobs knobs;
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
/* Decides the plan of one API request: process settings (the faults while
 * the --fail-first budget lasts), overridden by the request's X-Mock-* headers. */
void mock_faults_plan(const h2o_req_t *req, struct mock_plan *plan);
/* Applies the members of a /mock/config object; on error returns -1 and sets
 * *error, leaving the settings unchanged. */
int mock_faults_configure(json_t *config, const char **error);
void mock_faults_snapshot(struct mock_settings *settings);
const char *mock_fault_name(enum mock_fault fault);

/* ---- json.c ------------------------------------------------------------ */

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
/* Appends a jansson value, compact. */
void mock_buf_json(struct mock_buf *buf, const json_t *value);
/* Appends the standard base64 of bytes (no quotes, no line breaks). */
void mock_buf_base64(struct mock_buf *buf, const void *bytes, size_t len);

/* While a pool is in scope, jansson allocates from it: parsing and building
 * cost no malloc/free, and every value is released with the request. Such
 * values must not outlive the scope's request (never json_decref them out
 * of scope). Scopes are per thread and do not nest. */
void mock_json_scope(h2o_mem_pool_t *pool);
/* Parses a request body (in a scope); NULL if the body is not JSON. */
json_t *mock_json_parse(h2o_req_t *req);
/* Routes jansson's allocations; call once before any thread starts. */
void mock_json_setup(void);
/* A string member's value, or NULL if absent or not a string. */
const char *mock_json_string(json_t *object, const char *key);

/* ---- usage.c ----------------------------------------------------------- */

#define MOCK_DEFAULT_COMPLETION_TOKENS 16
#define MOCK_MAX_COMPLETION_TOKENS 4096

size_t mock_words(const char *s, size_t len);
/* Prompt tokens of a conversation: over its items (messages), words of their
 * text + 3 each, plus 3; a non-NULL system (string or text blocks) counts
 * as one more item. -1 with *error if an item is not countable. */
int mock_prompt_tokens(json_t *items, json_t *system, uint64_t *tokens, const char **error);
/* words(s) + 1 for a string, or the sum of that over an array of strings
 * (embeddings inputs, completion prompts); -1 with *error if invalid. */
int mock_input_tokens(json_t *input, size_t *count, uint64_t *tokens, const char **error);
/* The text of a message's content (a string, or text blocks), appended to
 * out with single spaces between blocks; what tool triggers look at. */
void mock_content_text(json_t *content, struct mock_buf *out);

/* How long an answer is: the X-Mock-Output-Tokens knob if set, else the
 * request's limit when limit_sets_length (OpenAI's rule: max_tokens words),
 * else 16; cut to the limit (> 0) if longer. */
struct mock_length {
    uint32_t tokens;
    int cut; /* the limit stopped the answer */
};
void mock_answer_length(const struct mock_plan *plan, json_t *limit, int limit_sets_length, struct mock_length *out);

/* ---- text.c ------------------------------------------------------------ */

/* The text of an answer split into tokens: words ("tok1", " tok2", ...) for
 * prose, 4-byte pieces for generated JSON. Token i is [start(i), ends[i]). */
struct mock_text {
    const char *base;
    size_t len;
    uint32_t count;
    uint32_t *ends;
};

static inline size_t mock_text_start(const struct mock_text *t, uint32_t i)
{
    return i == 0 ? 0 : t->ends[i - 1];
}

void mock_text_words(struct mock_text *t, h2o_mem_pool_t *pool, uint32_t words);
/* Compact, ASCII-only JSON of value, so that pieces never split a character. */
void mock_text_json(struct mock_text *t, h2o_mem_pool_t *pool, const json_t *value);
/* Cuts the text before the earliest of the stop sequences (an array of
 * strings) it contains, keeping the tokens that began before it; returns
 * the sequence that matched, or NULL. */
json_t *mock_text_stop(struct mock_text *t, json_t *sequences);

/* ---- schema.c ---------------------------------------------------------- */

/* A minimal value valid against a JSON schema: required properties filled
 * by type, $ref into the root resolved, one item per array. Always an
 * object (what tool arguments and structured answers must be). */
json_t *mock_schema_example(json_t *schema);

/* ---- tools.c ----------------------------------------------------------- */

enum mock_tool_choice {
    MOCK_TOOLS_NONE,
    MOCK_TOOLS_AUTO,  /* a tool only if the last user message says "use tool" */
    MOCK_TOOLS_ANY,   /* some tool */
    MOCK_TOOLS_NAMED, /* that tool */
};

struct mock_tool {
    json_t *name;   /* a string */
    json_t *schema; /* of its arguments; may be NULL */
};

/* A request's callable tools and its tool choice, in any API's terms. */
struct mock_tools {
    struct mock_tool *list;
    size_t count;
    enum mock_tool_choice choice;
    const char *forced; /* MOCK_TOOLS_NAMED */
};

/* Room for as many tools as `array` has; choice "auto". */
void mock_tools_init(struct mock_tools *tools, h2o_mem_pool_t *pool, json_t *array);
/* -1 if name is not a string. */
int mock_tools_add(struct mock_tools *tools, json_t *name, json_t *schema);
/* Sets the choice from its name ("none", "auto", "required", "any", "tool",
 * "function"; the last two force forced_name): -1 if unknown or unnamed. */
int mock_tools_choose(struct mock_tools *tools, const char *mode, json_t *forced_name);
/* 1 with *picked when the answer is a call of that tool, 0 for prose, -1
 * with *error if the forced tool is not among the tools (see tools.c). */
int mock_tool_pick(const struct mock_tools *tools, const struct mock_buf *last_user, struct mock_tool *picked,
                   const char **error);
/* Where an API keeps its tools and tool_choice. */
struct mock_tools_shape {
    const char *nest;         /* "function": a tool's (and a forced choice's) name and schema are in it (chat) */
    const char *only_type;    /* tools of another "type" are skipped (Responses: "function"); NULL: none are */
    const char *schema;       /* "parameters" or "input_schema" */
    int mode_strings;         /* tool_choice may be a mode as a bare string, or null */
    const char *tools_error;  /* the 400's message for malformed tools */
    const char *choice_error; /* and for a malformed tool_choice */
};
/* Reads body's tools and tool_choice in shape's terms: -1 with *error if
 * either is malformed. */
int mock_tools_read(json_t *body, const struct mock_tools_shape *shape, struct mock_tools *tools,
                    h2o_mem_pool_t *pool, const char **error);
/* Appends the text of the last message whose role is "user". */
void mock_last_user_text(json_t *messages, struct mock_buf *out);

/* ---- stats.c ----------------------------------------------------------- */

/* The API endpoints: name, path ("{id}": the rest of the path), method,
 * error dialect, answering function. */
#define MOCK_ENDPOINTS(X)                                                                              \
    X(CHAT, "/v1/chat/completions", "POST", OPENAI, mock_answer_chat)                                  \
    X(EMBEDDINGS, "/v1/embeddings", "POST", OPENAI, mock_answer_embeddings)                            \
    X(MODELS, "/v1/models", "GET", OPENAI, mock_answer_models)                                         \
    X(MODEL, "/v1/models/{id}", "GET", OPENAI, mock_answer_model)                                      \
    X(MESSAGES, "/v1/messages", "POST", ANTHROPIC, mock_answer_messages)                               \
    X(RESPONSES, "/v1/responses", "POST", OPENAI, mock_answer_responses)                               \
    X(COMPLETIONS, "/v1/completions", "POST", OPENAI, mock_answer_completions)                         \
    X(IMAGES, "/v1/images/generations", "POST", OPENAI, mock_answer_images)                            \
    X(TRANSCRIPTIONS, "/v1/audio/transcriptions", "POST", OPENAI, mock_answer_transcriptions)          \
    X(TRANSLATIONS, "/v1/audio/translations", "POST", OPENAI, mock_answer_transcriptions)              \
    X(SPEECH, "/v1/audio/speech", "POST", OPENAI, mock_answer_speech)

enum mock_endpoint {
#define X(name, path, method, dialect, answer) MOCK_ENDPOINT_##name,
    MOCK_ENDPOINTS(X)
#undef X
        MOCK_ENDPOINT_COUNT
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

/* ---- respond.c --------------------------------------------------------- */

/* Whose error body shape a path answers with. */
enum mock_dialect {
    MOCK_DIALECT_OPENAI,    /* {"error":{"message","type","param","code"}} */
    MOCK_DIALECT_ANTHROPIC, /* {"type":"error","error":{"type","message"}} */
};

void mock_start_response(h2o_req_t *req, int status, const char *content_type, h2o_generator_t *generator);
/* Sends a whole body; `truncate` sends only its first half, announced with
 * the full Content-Length, then closes the connection. */
void mock_send_body(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len, int truncate);
/* type is the error type of the dialect; code (OpenAI only) may be NULL. */
void mock_send_error(h2o_req_t *req, enum mock_dialect dialect, int status, const char *type, const char *code,
                     const char *message);
/* An injected status (with Retry-After for 429) in the dialect's shape. */
void mock_send_injected_status(h2o_req_t *req, enum mock_dialect dialect, const struct mock_plan *plan);

/* ---- call.c ------------------------------------------------------------ */

/* The events of a stream, rendered up front into one buffer: event i is
 * [ends[i-1], ends[i]). A truncated stream sends the first `cut` of them. */
struct mock_events {
    struct mock_buf buf;
    size_t *ends;
    uint32_t count;
    uint32_t cap;
    uint32_t cut;
};

/* One API request, from arrival to its last byte. */
struct mock_call {
    h2o_generator_t generator; /* set while a stream is being sent */
    h2o_req_t *req;
    enum mock_endpoint endpoint;
    enum mock_dialect dialect;
    struct mock_plan plan;
    struct mock_timer *timer; /* created on first wait */
    struct mock_events events;
    uint32_t next_event;
};

void mock_call_start(h2o_req_t *req, enum mock_endpoint endpoint);
/* The JSON body of an API request; with want_model, its string `model` in
 * *model. NULL after answering 400. */
json_t *mock_call_body(struct mock_call *call, int want_model, json_t **model);
/* 400 invalid_request_error in the call's dialect. */
void mock_call_invalid(struct mock_call *call, const char *message);
/* Sends the answer of a call: 200, or the body of the malformed fault, or
 * half of it under the truncate fault. */
void mock_call_send(struct mock_call *call, const char *content_type, const char *body, size_t len);
void mock_call_send_json(struct mock_call *call, const struct mock_buf *body);
/* A unique number for ids, process-wide. */
unsigned long long mock_call_id(void);
/* The loop's clock in seconds: no syscall. */
long long mock_call_now(const struct mock_call *call);

void mock_events_init(struct mock_events *events, h2o_mem_pool_t *pool, size_t bytes, uint32_t count);
/* Marks the end of the event just appended to events->buf. */
void mock_events_end(struct mock_events *events);
/* Appends an event `[event: NAME\n]data: JSON\n\n` (name may be NULL). */
void mock_events_add(struct mock_events *events, const char *name, const json_t *data);
/* Sends call->events as text/event-stream, paced by the token delay (or the
 * malformed body, under that fault). */
void mock_call_stream(struct mock_call *call);

/* ---- the endpoints ----------------------------------------------------- */

#define X(name, path, method, dialect, answer) void answer(struct mock_call *call);
MOCK_ENDPOINTS(X)
#undef X

/* images.c: the 1x1 PNG that image answers carry, also at /mock/image.png. */
extern const unsigned char mock_png[];
extern const size_t mock_png_len;

/* ---- handlers.c -------------------------------------------------------- */

int mock_handle_request(h2o_handler_t *self, h2o_req_t *req);
/* The part of the path a "{id}" route matched. */
h2o_iovec_t mock_route_id(const h2o_req_t *req, enum mock_endpoint endpoint);

#endif
