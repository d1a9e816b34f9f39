/*
 * log.c - one line per event, JSON or text, built in a per-thread buffer and
 * written with one write(2), with secrets redacted from every string value.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Longest line written; longer content is cut (and the line still closed)
 * so that one line stays one write(2). */
#define LOG_LINE_MAX 8192
#define ACCESS_PATH_MAX 256
#define REDACTED "[REDACTED]"

static atomic_int log_fd = 2;
static atomic_int log_format = TG_LOG_TEXT;
static atomic_int log_level = TG_LOG_INFO;

/* The line under construction. Thread-local so that building a line needs
 * neither a lock nor a malloc; the single write(2) at the end is what keeps
 * concurrent lines whole (POSIX: writes to a pipe up to PIPE_BUF are atomic,
 * and to a regular file in O_APPEND mode each write lands contiguously). */
static _Thread_local char line_buf[LOG_LINE_MAX];

/* Bytes kept back while writing fields, so that the line can always be
 * closed with a valid ending (',"log_truncated":true}' and '\n'). */
#define LINE_RESERVE 32
/* Most bytes a log message may take inside a line, leaving room for fields. */
#define MESSAGE_MAX 4096

typedef struct line {
    char *p;
    size_t len;
    size_t cap;       /* bytes usable right now */
    bool overflow;    /* the last writes did not fit */
} line;

static void put(line *l, const char *s, size_t n)
{
    if (n > l->cap - l->len) {
        n = l->cap - l->len;
        l->overflow = true;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void puts_(line *l, const char *s) { put(l, s, strlen(s)); }

static void putf(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->p + l->len, l->cap - l->len + 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > l->cap - l->len) {
        n = (int)(l->cap - l->len);
        l->overflow = true;
    }
    l->len += (size_t)n;
}

void tg_log_configure(int fd, tg_log_format format, tg_log_level level)
{
    const char *env = getenv("LOG_FORMAT");
    tg_log_format from_env;
    if (env && tg_log_format_parse(env, &from_env) == 0)
        format = from_env;
    atomic_store(&log_fd, fd);
    atomic_store(&log_format, format);
    atomic_store(&log_level, level);
}

int tg_log_level_parse(const char *s, tg_log_level *out)
{
    static const struct { const char *name; tg_log_level level; } names[] = {
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

int tg_log_format_parse(const char *s, tg_log_format *out)
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

bool tg_log_enabled(tg_log_level level)
{
    return (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

/* ------------------------------------------------------------- escaping */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

size_t tg_json_escape(char *dst, size_t cap, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t out = 0;
    size_t i = 0;
    while (i < n) {
        char esc[8];
        const char *piece = esc;
        size_t piece_len;
        size_t consumed = 1;
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            piece_len = 2;
        } else if (c == '\n') {
            piece = "\\n"; piece_len = 2;
        } else if (c == '\r') {
            piece = "\\r"; piece_len = 2;
        } else if (c == '\t') {
            piece = "\\t"; piece_len = 2;
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            piece_len = 6;
        } else if (c < 0x80) {
            piece = (const char *)u + i;
            piece_len = 1;
        } else {
            size_t len = utf8_seq_len(u + i, n - i);
            if (len == 0) {
                piece = "\\ufffd";
                piece_len = 6;
            } else {
                piece = (const char *)u + i;
                piece_len = len;
                consumed = len;
            }
        }
        if (piece_len > cap - out)
            break;
        memcpy(dst + out, piece, piece_len);
        out += piece_len;
        i += consumed;
    }
    return out;
}

static void put_escaped(line *l, const char *s, size_t n)
{
    l->len += tg_json_escape(l->p + l->len, l->cap - l->len, s, n);
    /* An escape is at most 6 bytes: with less room left it may have stopped
     * early (conservatively counted as overflow). */
    if (l->cap - l->len < 6 && n > 0)
        l->overflow = true;
}

/* ------------------------------------------------------------ redaction */

static bool is_token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

static size_t token_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_token_char(s[i]))
        i++;
    return i;
}

/* Prefixes that mark a provider API key (OpenAI, Anthropic, Groq, xAI,
 * Google, Stripe-style, GitHub). A token with one of them and at least
 * KEY_MIN_LEN characters is treated as a secret. Trace and request ids are
 * plain hex and carry no prefix, so they stay readable. */
static const char *const key_prefixes[] = {
    "sk-", "sk_", "rk_", "pk_", "gsk_", "xai-", "AIza", "ghp_", "tg_", "tgk_",
};
#define KEY_MIN_LEN 12

/* Length of a secret starting at s[0] that must be hidden, 0 if none. For
 * "Bearer x" only x is reported (after *skip bytes of "Bearer "). */
static size_t secret_at(const char *s, size_t n, size_t *skip)
{
    *skip = 0;
    if (n > 7 && strncasecmp(s, "bearer ", 7) == 0) {
        size_t t = token_len(s + 7, n - 7);
        if (t > 0) {
            *skip = 7;
            return t;
        }
    }
    if (n > 6 && strncasecmp(s, "basic ", 6) == 0) {
        size_t t = token_len(s + 6, n - 6);
        if (t > 0) {
            *skip = 6;
            return t;
        }
    }
    for (size_t k = 0; k < sizeof(key_prefixes) / sizeof(key_prefixes[0]); k++) {
        size_t plen = strlen(key_prefixes[k]);
        if (n >= plen && strncmp(s, key_prefixes[k], plen) == 0) {
            size_t t = token_len(s, n);
            if (t >= KEY_MIN_LEN)
                return t;
        }
    }
    return 0;
}

/* Appends s as JSON string content with every secret replaced. */
/* Registered secrets: append-only fixed storage, so readers need no lock
 * (an entry is complete before the count that publishes it is stored). */
#define SECRET_SLOTS 64
#define SECRET_MAX_LEN 512
#define SECRET_MIN_LEN 6
static char registered[SECRET_SLOTS][SECRET_MAX_LEN];
static size_t registered_len[SECRET_SLOTS];
static atomic_size_t registered_count;
static pthread_mutex_t registered_lock = PTHREAD_MUTEX_INITIALIZER;

void tg_log_add_secret(const char *secret)
{
    size_t len = secret ? strlen(secret) : 0;
    if (len < SECRET_MIN_LEN || len >= SECRET_MAX_LEN)
        return;
    pthread_mutex_lock(&registered_lock);
    size_t n = atomic_load_explicit(&registered_count, memory_order_relaxed);
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
        known = registered_len[i] == len && memcmp(registered[i], secret, len) == 0;
    if (!known && n < SECRET_SLOTS) {
        memcpy(registered[n], secret, len);
        registered_len[n] = len;
        atomic_store_explicit(&registered_count, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&registered_lock);
}

/* Length of a registered secret starting at s, 0 if none. */
static size_t registered_at(const char *s, size_t n)
{
    size_t count = atomic_load_explicit(&registered_count, memory_order_acquire);
    for (size_t i = 0; i < count; i++)
        if (registered[i][0] == s[0] && registered_len[i] <= n &&
            memcmp(registered[i], s, registered_len[i]) == 0)
            return registered_len[i];
    return 0;
}

static void put_redacted(line *l, const char *s, size_t n)
{
    size_t start = 0;
    size_t i = 0;
    while (i < n) {
        bool at_boundary = i == 0 || !is_token_char(s[i - 1]);
        size_t skip = 0;
        size_t secret = registered_at(s + i, n - i);
        if (secret == 0 && at_boundary)
            secret = secret_at(s + i, n - i, &skip);
        if (secret == 0) {
            i++;
            continue;
        }
        put_escaped(l, s + start, i + skip - start);
        puts_(l, REDACTED);
        i += skip + secret;
        start = i;
    }
    put_escaped(l, s + start, n - start);
}

static bool key_is_secret(const char *key)
{
    static const char *const secret_keys[] = {
        "authorization", "api_key", "apikey", "key", "token", "password", "secret",
        "bearer_token", "x-api-key",
    };
    for (size_t i = 0; i < sizeof(secret_keys) / sizeof(secret_keys[0]); i++)
        if (strcasecmp(key, secret_keys[i]) == 0)
            return true;
    return false;
}

/* --------------------------------------------------------- line framing */

static const char *level_name(tg_log_level level, bool upper)
{
    static const char *const lower_names[] = {"debug", "info", "warn", "error"};
    static const char *const upper_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if ((unsigned)level > TG_LOG_ERROR)
        level = TG_LOG_ERROR;
    return upper ? upper_names[level] : lower_names[level];
}

static void put_timestamp(line *l)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    putf(l, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void line_begin(line *l, bool json, tg_log_level level, const char *logger,
                       const char *message, size_t message_len)
{
    l->p = line_buf;
    l->len = 0;
    l->overflow = false;
    /* The logger name and message are cut to MESSAGE_MAX bytes so that the
     * closing quote and the fields still fit. */
    l->cap = MESSAGE_MAX;
    if (json) {
        puts_(l, "{\"timestamp\":\"");
        put_timestamp(l);
        putf(l, "\",\"level\":\"%s\",\"logger\":\"", level_name(level, false));
        put_redacted(l, logger, strlen(logger));
        puts_(l, "\",\"message\":\"");
        put_redacted(l, message, message_len);
        l->cap = sizeof(line_buf) - LINE_RESERVE;
        puts_(l, "\"");
    } else {
        put_timestamp(l);
        putf(l, " %s ", level_name(level, true));
        put_redacted(l, logger, strlen(logger));
        puts_(l, ": ");
        put_redacted(l, message, message_len);
        l->cap = sizeof(line_buf) - LINE_RESERVE;
    }
    l->overflow = false;
}

static void line_end(line *l, bool json, bool truncated)
{
    l->cap = sizeof(line_buf);
    if (truncated)
        puts_(l, json ? ",\"log_truncated\":true" : " log_truncated=true");
    if (json)
        puts_(l, "}");
    puts_(l, "\n");
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    const char *p = l->p;
    size_t left = l->len;
    /* One write(2) per line; the loop only continues after a short write
     * (a full pipe), where atomicity is lost anyway. */
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;  /* nowhere to report a logging failure */
        p += w;
        left -= (size_t)w;
    }
}

static void put_key(line *l, bool json, const char *key)
{
    if (json) {
        puts_(l, ",\"");
        put_escaped(l, key, strlen(key));
        puts_(l, "\":");
    } else {
        puts_(l, " ");
        put_escaped(l, key, strlen(key));
        puts_(l, "=");
    }
}

static void put_str_value(line *l, bool json, const char *key, const char *v)
{
    if (v == NULL) {
        puts_(l, "null");
        return;
    }
    bool quote = json || v[0] == '\0' || strpbrk(v, " \"=\\\n\t") != NULL;
    if (quote)
        puts_(l, "\"");
    if (key_is_secret(key))
        puts_(l, REDACTED);
    else
        put_redacted(l, v, strlen(v));
    if (quote)
        puts_(l, "\"");
}

static void put_double_value(line *l, double d)
{
    if (!isfinite(d))
        puts_(l, "null");
    else
        putf(l, "%.9g", d);
}

static void put_field(line *l, bool json, const tg_log_field *f)
{
    put_key(l, json, f->key);
    switch (f->type) {
    case TG_LF_STR: put_str_value(l, json, f->key, f->str); break;
    case TG_LF_INT: putf(l, "%lld", (long long)f->i); break;
    case TG_LF_DOUBLE: put_double_value(l, f->d); break;
    case TG_LF_BOOL: puts_(l, f->b ? "true" : "false"); break;
    }
}

/* ------------------------------------------------------------- entries */

void tg_log_fields(tg_log_level level, const char *logger, const char *message,
                   const tg_log_field *fields, size_t n)
{
    if (!tg_log_enabled(level))
        return;
    bool json = atomic_load_explicit(&log_format, memory_order_relaxed) == TG_LOG_JSON;
    line l;
    if (message == NULL)
        message = "";
    line_begin(&l, json, level, logger ? logger : "", message, strlen(message));
    /* A field that does not fit whole is left out (never cut mid-escape or
     * mid-string) and the line says so. */
    bool truncated = false;
    for (size_t i = 0; i < n; i++) {
        size_t start = l.len;
        put_field(&l, json, &fields[i]);
        if (l.overflow) {
            l.len = start;
            l.overflow = false;
            truncated = true;
        }
    }
    line_end(&l, json, truncated);
}

void tg_log(tg_log_level level, const char *logger, const char *fmt, ...)
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

void tg_log_access(const tg_access_record *r)
{
    tg_log_level level = r->status >= 500 ? TG_LOG_WARN : TG_LOG_INFO;
    if (!tg_log_enabled(level))
        return;
    char path[ACCESS_PATH_MAX + 1];
    const char *path_value = NULL;
    if (r->path) {
        size_t len = strnlen(r->path, ACCESS_PATH_MAX);
        memcpy(path, r->path, len);
        path[len] = '\0';
        path_value = path;
    }
    /* A negative token count is "not applicable": rendered as null through
     * a NULL string field. */
    tg_log_field f[] = {
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
    };
    tg_log_fields(level, "access", "request completed", f, sizeof(f) / sizeof(f[0]));
}
