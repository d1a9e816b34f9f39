/* log.c: the logger: configuration, one line per event framed as JSON or
 * text in a per-thread buffer (built by log_line.c, with secrets redacted
 * by redact.c) and written with one write(2) (or, on an event-loop thread
 * that batches, with the rest of its loop iteration's lines). */
#define _GNU_SOURCE  /* memrchr */
#include "obs/log.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "obs/log_line.h"

/* Longest line written; longer content is cut (and the line still closed)
 * so that one line stays one write(2). */
#define LOG_LINE_MAX 8192
#define ACCESS_PATH_MAX 256

static atomic_int log_fd = 2;
static atomic_bool log_fd_is_file;  /* a regular file: any write lands whole */
static atomic_int log_format = TG_LOG_TEXT;
static atomic_int log_level = TG_LOG_INFO;
static atomic_int scrape_level = TG_LOG_DEBUG;

/* The line under construction. Thread-local so that building a line needs
 * neither a lock nor a malloc; the single write(2) at the end is what keeps
 * concurrent lines whole (POSIX: writes to a pipe up to PIPE_BUF are atomic,
 * and to a regular file in O_APPEND mode each write lands contiguously). */
static _Thread_local char line_buf[LOG_LINE_MAX];

/* A batching thread's lines of the current loop iteration, built in place
 * (no copy) one after the other. Room for several longest lines; an access
 * line is about 500 bytes, so one write(2) carries dozens of them. */
#define BATCH_MAX (4 * LOG_LINE_MAX)
static _Thread_local char batch_buf[BATCH_MAX];
static _Thread_local size_t batch_len;
static _Thread_local bool batching;

/* Bytes kept back while writing fields, so that the line can always be
 * closed with a valid ending (',"log_truncated":true}' and '\n'). */
#define LINE_RESERVE 32
/* Most bytes a log message may take inside a line, leaving room for fields. */
#define MESSAGE_MAX 4096

void tg_log_configure(int fd, tg_log_format_t format, tg_log_level_t level)
{
    const char *env = getenv("LOG_FORMAT");
    tg_log_format_t from_env;
    if (env && tg_log_format_parse(env, &from_env) == 0)
        format = from_env;
    struct stat st;
    atomic_store(&log_fd_is_file, fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
    atomic_store(&log_fd, fd);
    atomic_store(&log_format, format);
    atomic_store(&log_level, level);
}

void tg_log_set_scrape_level(tg_log_level_t level)
{
    atomic_store(&scrape_level, level);
}

int tg_log_level_parse(const char *s, tg_log_level_t *out)
{
    static const struct { const char *name; tg_log_level_t level; } names[] = {
        {"debug", TG_LOG_DEBUG}, {"info", TG_LOG_INFO}, {"warn", TG_LOG_WARN},
        {"warning", TG_LOG_WARN}, {"error", TG_LOG_ERROR},
    };
    for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

int tg_log_format_parse(const char *s, tg_log_format_t *out)
{
    if (s && strcasecmp(s, "json") == 0) {
        *out = TG_LOG_JSON;
        return 0;
    }
    if (s && strcasecmp(s, "text") == 0) {
        *out = TG_LOG_TEXT;
        return 0;
    }
    return -1;
}

bool tg_log_enabled(tg_log_level_t level)
{
    return (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

static const char *level_name(tg_log_level_t level, bool upper)
{
    static const char *const lower_names[] = {"debug", "info", "warn", "error"};
    static const char *const upper_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if ((unsigned)level > TG_LOG_ERROR)
        level = TG_LOG_ERROR;
    return upper ? upper_names[level] : lower_names[level];
}

/* Where the next line is built: in place at the end of the batch when this
 * thread batches (flushing first when a longest line might not fit), else
 * in the line buffer. Either way LOG_LINE_MAX bytes are free at the start. */
static char *line_start(void)
{
    if (!batching)
        return line_buf;
    if (BATCH_MAX - batch_len < LOG_LINE_MAX)
        tg_log_flush();
    return batch_buf + batch_len;
}

/* A logger name or message: only escaped when `known` (see line_begin). */
static void put_text(tg_log_line_t *l, const char *s, size_t n, bool known)
{
    if (known)
        tg_line_put_escaped(l, s, n);
    else
        tg_line_put_redacted(l, s, n, TG_REDACT_TEXT);
}

/* logger_known: the logger and message are the caller's constants, which
 * carry no secret (the access line's), so they are only escaped. */
static void line_begin(tg_log_line_t *l, bool json, tg_log_level_t level, const char *logger,
                       const char *message, size_t message_len, bool logger_known)
{
    l->p = line_start();
    l->len = 0;
    l->overflow = false;
    /* The logger name and message are cut to MESSAGE_MAX bytes so that the
     * closing quote and the fields still fit. */
    l->cap = MESSAGE_MAX;
    if (json) {
        tg_line_puts(l, "{\"timestamp\":\"");
        tg_line_put_timestamp(l);
        tg_line_puts(l, "\",\"level\":\"");
        tg_line_puts(l, level_name(level, false));
        tg_line_puts(l, "\",\"logger\":\"");
        put_text(l, logger, strlen(logger), logger_known);
        tg_line_puts(l, "\",\"message\":\"");
        put_text(l, message, message_len, logger_known);
        l->cap = LOG_LINE_MAX - LINE_RESERVE;
        tg_line_puts(l, "\"");
    } else {
        tg_line_put_timestamp(l);
        tg_line_puts(l, " ");
        tg_line_puts(l, level_name(level, true));
        tg_line_puts(l, " ");
        put_text(l, logger, strlen(logger), logger_known);
        tg_line_puts(l, ": ");
        put_text(l, message, message_len, logger_known);
        l->cap = LOG_LINE_MAX - LINE_RESERVE;
    }
    l->overflow = false;
}

/* Writes all n bytes; continues only after a short write (a full pipe),
 * where atomicity is lost anyway. */
static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;  /* nowhere to report a logging failure */
        p += w;
        n -= (size_t)w;
    }
}

static void line_end(tg_log_line_t *l, bool json, bool truncated)
{
    l->cap = LOG_LINE_MAX;
    if (truncated)
        tg_line_puts(l, json ? ",\"log_truncated\":true" : " log_truncated=true");
    if (json)
        tg_line_puts(l, "}");
    tg_line_puts(l, "\n");
    if (batching)
        batch_len += l->len;  /* already in place; written by tg_log_flush() */
    else
        write_all(atomic_load_explicit(&log_fd, memory_order_relaxed), l->p, l->len);
}

/* ------------------------------------------------------------- batching */

void tg_log_batch_start(void)
{
    batching = true;
}

void tg_log_batch_stop(void)
{
    tg_log_flush();
    batching = false;
}

/* Why batching keeps every guarantee of one write(2) per line:
 * - lines stay whole: a batch holds whole lines only, and a regular file
 *   takes each write(2) contiguously whatever its size. Anything else (a
 *   pipe, a socket, a terminal) is written in pieces of whole lines of at
 *   most PIPE_BUF bytes, the size a pipe keeps atomic (a single longer
 *   line goes alone, as it would unbatched);
 * - no line is lost or held back: the worker flushes after every loop
 *   iteration, before it can block in epoll_wait, and when it stops; a
 *   full batch is flushed before the next line is built;
 * - order: one thread's lines keep their order; lines of different
 *   threads were never ordered. */
void tg_log_flush(void)
{
    if (batch_len == 0)
        return;
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    if (atomic_load_explicit(&log_fd_is_file, memory_order_relaxed)) {
        write_all(fd, batch_buf, batch_len);
    } else {
        size_t off = 0;
        while (off < batch_len) {
            size_t piece = batch_len - off;
            if (piece > PIPE_BUF) {
                const char *nl = memrchr(batch_buf + off, '\n', PIPE_BUF);
                if (nl == NULL)  /* one line longer than PIPE_BUF: it goes alone */
                    nl = memchr(batch_buf + off + PIPE_BUF, '\n', piece - PIPE_BUF);
                piece = (size_t)(nl - (batch_buf + off)) + 1;
            }
            write_all(fd, batch_buf + off, piece);
            off += piece;
        }
    }
    batch_len = 0;
}

/* ------------------------------------------------------------- entries */

/* known_fields: bit i set when fields[i] is a known value (see
 * put_str_value); logger_known as in line_begin. */
static void write_line(tg_log_level_t level, const char *logger, const char *message,
                       const tg_log_field_t *fields, size_t n, uint32_t known_fields, bool logger_known)
{
    bool json = atomic_load_explicit(&log_format, memory_order_relaxed) == TG_LOG_JSON;
    tg_log_line_t l;
    line_begin(&l, json, level, logger, message, strlen(message), logger_known);
    /* A field that does not fit whole is left out (never cut mid-escape or
     * mid-string) and the line says so. */
    bool truncated = false;
    for (size_t i = 0; i < n; i++) {
        size_t start = l.len;
        tg_line_put_field(&l, json, &fields[i], i < 32 && (known_fields >> i & 1));
        if (l.overflow) {
            l.len = start;
            l.overflow = false;
            truncated = true;
        }
    }
    line_end(&l, json, truncated);
}

void tg_log_fields(tg_log_level_t level, const char *logger, const char *message,
                   const tg_log_field_t *fields, size_t n)
{
    if (!tg_log_enabled(level))
        return;
    write_line(level, logger ? logger : "", message ? message : "", fields, n, 0, false);
}

void tg_log(tg_log_level_t level, const char *logger, const char *fmt, ...)
{
    if (!tg_log_enabled(level))
        return;
    /* The message is formatted on the stack, then escaped into the line. */
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    tg_log_fields(level, logger, message, NULL, 0);
}

void tg_log_access(const tg_access_record_t *r)
{
    /* A scrape every few seconds at info would bury the traffic's lines. */
    tg_log_level_t level = r->status >= 500 ? TG_LOG_WARN
                           : r->scrape      ? (tg_log_level_t)atomic_load_explicit(&scrape_level, memory_order_relaxed)
                                            : TG_LOG_INFO;
    if (!tg_log_enabled(level))
        return;
    /* The path is redacted whole, then cut (a cut first could leave a
     * key's first characters), and then only escaped. */
    char path[ACCESS_PATH_MAX + 1];
    const char *path_value = r->path;
    if (r->path && !r->path_redacted) {
        tg_log_redact_copy(path, sizeof(path), r->path, strlen(r->path));
        path_value = path;
    }
    /* A negative token count is "not applicable": rendered as null through
     * a NULL string field. */
    tg_log_field_t f[] = {
        {.key = "request_id", .type = TG_LF_STR, .str = r->request_id},
        {.key = "org_id", .type = TG_LF_STR, .str = r->org_id},
        {.key = "trace_id", .type = TG_LF_STR, .str = r->trace_id},
        {.key = "method", .type = TG_LF_STR, .str = r->method},
        {.key = "path", .type = TG_LF_STR, .str = path_value},
        {.key = "status", .type = TG_LF_INT, .i = r->status},
        {.key = "latency", .type = TG_LF_DOUBLE, .d = r->latency_seconds},
        {.key = "model", .type = TG_LF_STR, .str = r->model},
        {.key = "model_used", .type = TG_LF_STR, .str = r->model_used},
        {.key = "provider", .type = TG_LF_STR, .str = r->provider},
        {.key = "attempts", .type = TG_LF_INT, .i = r->attempts},
        {.key = "prompt_tokens", .type = r->prompt_tokens < 0 ? TG_LF_STR : TG_LF_INT,
         .i = r->prompt_tokens},
        {.key = "completion_tokens", .type = r->completion_tokens < 0 ? TG_LF_STR : TG_LF_INT,
         .i = r->completion_tokens},
        {.key = "cost", .type = TG_LF_DOUBLE, .d = r->cost < 0 ? NAN : r->cost},
        {.key = "tokens_estimated", .type = TG_LF_BOOL, .b = r->tokens_estimated},
        {.key = "cache_hit", .type = TG_LF_BOOL, .b = r->cache_hit},
        {.key = "cache_tier", .type = TG_LF_STR, .str = r->cache_tier},
        {.key = "ttft", .type = TG_LF_DOUBLE, .d = r->ttft_seconds < 0 ? NAN : r->ttft_seconds},
        {.key = "llm_status", .type = TG_LF_STR, .str = r->llm_status},
        {.key = "upstream_failures", .type = TG_LF_STR, .str = r->upstream_failures},
    };
    /* Values that can carry client text (request id, trace id) or come
     * from outside the config (org id) are scanned for secrets (as ids, see
     * key_is_id); the path is already redacted; the method is one of the
     * labels tollgate parsed it into, model, model_used and provider are
     * configured names (an unknown model is "other"), and the cache tier
     * and the LLM status are labels, and the upstream failures configured
     * names and labels, so those are only escaped. */
    uint32_t known = 1u << 3 | 1u << 4 | 1u << 7 | 1u << 8 | 1u << 9 | 1u << 16 | 1u << 18 | 1u << 19;
    write_line(level, "access", "request completed", f, sizeof(f) / sizeof(f[0]), known, true);
}
