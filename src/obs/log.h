/*
 * log.h - tollgate's logger: one JSON object per line, or readable text.
 *
 * A process-wide logger (there is one stderr). Every line is built in a
 * per-thread buffer and written with a single write(2), so lines from
 * different worker threads never interleave and no line costs a malloc.
 *
 * An event-loop thread may batch instead: its lines then collect in a
 * per-thread buffer and go out with one write(2) per loop iteration
 * (tg_log_flush), still whole lines (see log.c for why that is safe).
 *
 * JSON line:  {"timestamp":"2026-11-22T18:00:00.123Z","level":"info",
 *              "logger":"access","message":"request completed",...fields}
 * Text line:  2026-11-22T18:00:00.123Z INFO access: request completed k=v ...
 *
 * Secrets never reach the output: every string value that can carry
 * client or upstream text is scanned (the access line's labels and
 * configured names are only escaped) and these are replaced by
 * "[REDACTED]":
 *  - by name: the value of a parameter, header or JSON member whose name,
 *    or its last part after '_', '-' or '.', is one of key, apikey, token,
 *    secret, password, passwd, pwd, passphrase, auth, authorization,
 *    credential(s), signature, sig (any case, percent-encoded or not):
 *    api_key=v, "client_secret": "v", X-Api-Key: v;
 *  - by shape: the token after "Bearer " or "Basic ", a token with a
 *    provider's key prefix (sk-, sk-proj-, gsk_, xai-, AIza, ghp_, tg_...),
 *    a JWT (eyJ...), a word of 32 or more hex digits (letters and digits
 *    both), a run of 32 or more
 *    base64 characters that looks random (mixed case and digits), the
 *    user:password in scheme://user:password@host;
 *  - every value registered with tg_log_add_secret().
 * A field whose key is a secret's name is redacted whole. Fields named
 * request_id, trace_id, span_id and org_id hold ids logged on purpose:
 * there long hex and random runs are left alone (the other rules apply).
 *
 * Levels and format may be changed at any time (config reload); the change
 * is an atomic store, seen by the next line on every thread.
 */
#ifndef TOLLGATE_OBS_LOG_H
#define TOLLGATE_OBS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum tg_log_format {
    TG_LOG_TEXT = 0,
    TG_LOG_JSON
} tg_log_format_t;

typedef enum tg_log_level {
    TG_LOG_DEBUG = 0,
    TG_LOG_INFO,
    TG_LOG_WARN,
    TG_LOG_ERROR
} tg_log_level_t;

/* Sets where and how lines are written. Defaults before any call: fd 2,
 * text, info. If the environment has LOG_FORMAT=json (or text), it overrides
 * `format`. */
void tg_log_configure(int fd, tg_log_format_t format, tg_log_level_t level);

/* The level of a scrape's access line (tg_access_record_t.scrape) when its
 * status is under 500: logging.metrics_scrapes, debug until set. */
void tg_log_set_scrape_level(tg_log_level_t level);

/* Parses "debug"/"info"/"warn"/"warning"/"error" and "text"/"json";
 * return 0 on success, -1 when unknown (out untouched). */
int tg_log_level_parse(const char *s, tg_log_level_t *out);
int tg_log_format_parse(const char *s, tg_log_format_t *out);

/* Registers a value that must never appear in a line (a provider key, the
 * metrics token): from then on it is replaced by "[REDACTED]" wherever it
 * occurs in a string. The config loader registers every key it reads.
 * Values shorter than 6 bytes are ignored (they would hide ordinary words);
 * up to 64 values of up to 511 bytes are kept for the life of the process. */
void tg_log_add_secret(const char *secret);

/* true when lines at `level` are currently written (skip building fields). */
bool tg_log_enabled(tg_log_level_t level);

/* One extra field of a log line. */
typedef enum tg_log_field_type {
    TG_LF_STR,      /* str; NULL renders as null */
    TG_LF_INT,      /* i */
    TG_LF_DOUBLE,   /* d; NaN/Inf render as null */
    TG_LF_BOOL      /* b */
} tg_log_field_type_t;

typedef struct tg_log_field {
    const char *key;
    tg_log_field_type_t type;
    const char *str;
    int64_t i;
    double d;
    bool b;
} tg_log_field_t;

/* Writes one line with a printf-formatted message and no extra fields.
 * `logger` names the subsystem ("server", "config", "upstream"...). */
void tg_log(tg_log_level_t level, const char *logger, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes one line with a fixed message and `n` extra fields. */
void tg_log_fields(tg_log_level_t level, const char *logger, const char *message,
                   const tg_log_field_t *fields, size_t n);

/* What the request path knows at the end of a request; written as the
 * access line (logger "access", message "request completed", level info,
 * or the scrape level for a scrape, or warn for 5xx). Strings may be NULL (rendered as null); numbers that do
 * not apply are negative (rendered as null). */
typedef struct tg_access_record {
    const char *request_id;
    const char *org_id;
    const char *trace_id;
    const char *method;
    const char *path;          /* raw path; redacted, then cut to 256 bytes on output */
    bool path_redacted;        /* path is already tg_log_redact_copy's output (at
                                  most 256 bytes): written as it is */
    int status;
    double latency_seconds;
    const char *model;         /* requested, bounded: configured name or "other" */
    const char *model_used;    /* upstream model name */
    const char *provider;
    int attempts;
    int64_t prompt_tokens;     /* -1 = not applicable */
    int64_t completion_tokens;
    double cost;               /* dollars; < 0 = not applicable */
    bool tokens_estimated;     /* a client disconnect cut the stream */
    double ttft_seconds;       /* streamed only; < 0 = not applicable */
    bool cache_hit;
    const char *cache_tier;    /* NULL until the cache exists */
    const char *llm_status;    /* the LLM call's outcome, llm_requests_total's
                                  status label; NULL = no upstream call */
    const char *upstream_failures; /* "provider:kind,..." per route whose
                                  attempts failed, its last failure's kind
                                  (llm_retries_total's reasons); NULL = none */
    bool scrape;               /* a metrics, health or status page request: its
                                  line is at the scrape level (tg_log_set_scrape_level) */
} tg_access_record_t;

/* Writes the access line for one request. */
void tg_log_access(const tg_access_record_t *r);

/* Batching for an event-loop thread: after tg_log_batch_start(), this
 * thread's lines are kept until tg_log_flush(), which the thread calls once
 * per loop iteration, before it may block (a full batch is flushed on its
 * own). tg_log_batch_stop() flushes and returns to one write per line. */
void tg_log_batch_start(void);
void tg_log_flush(void);
void tg_log_batch_stop(void);

/* Copies src (len bytes) into dst (cap bytes) with every secret replaced by
 * "[REDACTED]" as in a logged string, NUL-terminated. The whole of src is
 * redacted first, then the result is cut to fit: a cut copy ends in "..."
 * and never in part of a "[REDACTED]" (nor, where it can help it, inside a
 * UTF-8 character). For text kept past the life of its source, such as a
 * request's path written at the end of the request. Returns the length
 * written, without the NUL; cap 0 writes nothing. */
size_t tg_log_redact_copy(char *dst, size_t cap, const char *src, size_t len);

#endif /* TOLLGATE_OBS_LOG_H */
