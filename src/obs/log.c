/*
 * log.c - one line per event, JSON or text, built in a per-thread buffer and
 * written with one write(2) (or, on an event-loop thread that batches, with
 * the rest of its loop iteration's lines), with secrets redacted from every
 * string value that can carry client or upstream text.
 */
#define _GNU_SOURCE  /* memrchr */
#include "obs/log.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"

/* Longest line written; longer content is cut (and the line still closed)
 * so that one line stays one write(2). */
#define LOG_LINE_MAX 8192
#define ACCESS_PATH_MAX 256
#define REDACTED "[REDACTED]"

static atomic_int log_fd = 2;
static atomic_bool log_fd_is_file;  /* a regular file: any write lands whole */
static atomic_int log_format = TG_LOG_TEXT;
static atomic_int log_level = TG_LOG_INFO;

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

/* Numbers are formatted by hand: vsnprintf was a tenth of an access line's
 * cost. */
static void put_uint(line *l, uint64_t u, bool negative)
{
    char digits[21];
    char *p = digits + sizeof(digits);
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (negative)
        *--p = '-';
    put(l, p, (size_t)(digits + sizeof(digits) - p));
}

static void put_int(line *l, int64_t v)
{
    put_uint(l, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
}

/* Zero-padded decimal of v in exactly `width` (at most 20) digits. */
static void put_padded(line *l, uint64_t v, int width)
{
    char digits[20];
    for (int i = width - 1; i >= 0; i--) {
        digits[i] = (char)('0' + v % 10);
        v /= 10;
    }
    put(l, digits, (size_t)width);
}

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
    struct stat st;
    atomic_store(&log_fd_is_file, fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
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

static void put_escaped(line *l, const char *s, size_t n)
{
    l->len += tg_json_escape(l->p + l->len, l->cap - l->len, s, n);
    /* An escape is at most 6 bytes: with less room left it may have stopped
     * early (conservatively counted as overflow). */
    if (l->cap - l->len < 6 && n > 0)
        l->overflow = true;
}

/* ------------------------------------------------------------ redaction */

/* Characters of a key or token: [A-Za-z0-9] and -_.~+/= */
static const bool token_char[256] = {
    ['-'] = true, ['_'] = true, ['.'] = true, ['~'] = true, ['+'] = true, ['/'] = true, ['='] = true,
    ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
};

static bool is_token_char(char c)
{
    return token_char[(unsigned char)c];
}

/* Characters that join a word: a key prefix right after one of them is part
 * of a longer word ("task-force" holds no "sk-" key), while after anything
 * else ('=', '/', '?', a space...) it starts a key, even inside a URL. */
static bool is_word_char(char c)
{
    return c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
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

/* First bytes of a key prefix or of "Bearer "/"Basic " (either case): the
 * scan tries the patterns only where one of these starts a token. */
static const bool pattern_start[256] = {
    ['s'] = true, ['r'] = true, ['p'] = true, ['g'] = true, ['x'] = true, ['A'] = true,
    ['t'] = true, ['b'] = true, ['B'] = true,
};

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

/* Registered secrets: append-only fixed storage, so readers need no lock
 * (an entry is complete before the count that publishes it is stored). */
#define SECRET_SLOTS 64
#define SECRET_MAX_LEN 512
#define SECRET_MIN_LEN 6
static char registered[SECRET_SLOTS][SECRET_MAX_LEN];
static size_t registered_len[SECRET_SLOTS];
static atomic_size_t registered_count;
/* First bytes of the registered secrets, set before the count publishing
 * the secret: a reader that sees the count sees the mark. */
static atomic_bool registered_start[256];
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
        atomic_store_explicit(&registered_start[(unsigned char)secret[0]], true, memory_order_relaxed);
        atomic_store_explicit(&registered_count, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&registered_lock);
}

/* Length of a registered secret (among the first `count`) starting at s,
 * 0 if none. */
static size_t registered_at(const char *s, size_t n, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (registered[i][0] == s[0] && registered_len[i] <= n &&
            memcmp(registered[i], s, registered_len[i]) == 0)
            return registered_len[i];
    return 0;
}

/* Appends s as JSON string content with every secret replaced. Most bytes
 * start neither a registered secret nor a pattern, which two table lookups
 * tell. */
static void put_redacted(line *l, const char *s, size_t n)
{
    size_t count = atomic_load_explicit(&registered_count, memory_order_acquire);
    size_t start = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (!pattern_start[c] && (count == 0 || !atomic_load_explicit(&registered_start[c], memory_order_relaxed))) {
            i++;
            continue;
        }
        size_t skip = 0;
        size_t secret = count != 0 ? registered_at(s + i, n - i, count) : 0;
        if (secret == 0 && pattern_start[c] && (i == 0 || !is_word_char(s[i - 1])))
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
    static const struct { const char *name; size_t len; } secret_keys[] = {
#define SECRET_KEY(name) {name, sizeof(name) - 1}
        SECRET_KEY("authorization"), SECRET_KEY("api_key"), SECRET_KEY("apikey"), SECRET_KEY("key"),
        SECRET_KEY("token"), SECRET_KEY("password"), SECRET_KEY("secret"), SECRET_KEY("bearer_token"),
        SECRET_KEY("x-api-key"),
#undef SECRET_KEY
    };
    size_t len = strlen(key);
    for (size_t i = 0; i < sizeof(secret_keys) / sizeof(secret_keys[0]); i++)
        if (secret_keys[i].len == len && strcasecmp(key, secret_keys[i].name) == 0)
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

/* The "YYYY-MM-DDTHH:MM:SS" part changes once a second: each thread keeps
 * the last one it formatted (gmtime_r and the formatting were a tenth of
 * an access line's cost). */
static _Thread_local time_t stamp_second = -1;
static _Thread_local char stamp_prefix[20];

static void put_timestamp(line *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != stamp_second) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        line prefix = {.p = stamp_prefix, .cap = sizeof(stamp_prefix) - 1};
        put_padded(&prefix, (unsigned)(tm.tm_year + 1900), 4);
        puts_(&prefix, "-");
        put_padded(&prefix, (unsigned)tm.tm_mon + 1, 2);
        puts_(&prefix, "-");
        put_padded(&prefix, (unsigned)tm.tm_mday, 2);
        puts_(&prefix, "T");
        put_padded(&prefix, (unsigned)tm.tm_hour, 2);
        puts_(&prefix, ":");
        put_padded(&prefix, (unsigned)tm.tm_min, 2);
        puts_(&prefix, ":");
        put_padded(&prefix, (unsigned)tm.tm_sec, 2);
        stamp_second = ts.tv_sec;
    }
    put(l, stamp_prefix, sizeof(stamp_prefix) - 1);
    puts_(l, ".");
    put_padded(l, (unsigned)(ts.tv_nsec / 1000000), 3);
    puts_(l, "Z");
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

/* logger_known: the logger and message are the caller's constants, which
 * carry no secret (the access line's), so they are only escaped. */
static void line_begin(line *l, bool json, tg_log_level level, const char *logger,
                       const char *message, size_t message_len, bool logger_known)
{
    l->p = line_start();
    l->len = 0;
    l->overflow = false;
    /* The logger name and message are cut to MESSAGE_MAX bytes so that the
     * closing quote and the fields still fit. */
    l->cap = MESSAGE_MAX;
    void (*put_text)(line *, const char *, size_t) = logger_known ? put_escaped : put_redacted;
    if (json) {
        puts_(l, "{\"timestamp\":\"");
        put_timestamp(l);
        puts_(l, "\",\"level\":\"");
        puts_(l, level_name(level, false));
        puts_(l, "\",\"logger\":\"");
        put_text(l, logger, strlen(logger));
        puts_(l, "\",\"message\":\"");
        put_text(l, message, message_len);
        l->cap = LOG_LINE_MAX - LINE_RESERVE;
        puts_(l, "\"");
    } else {
        put_timestamp(l);
        puts_(l, " ");
        puts_(l, level_name(level, true));
        puts_(l, " ");
        put_text(l, logger, strlen(logger));
        puts_(l, ": ");
        put_text(l, message, message_len);
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

static void line_end(line *l, bool json, bool truncated)
{
    l->cap = LOG_LINE_MAX;
    if (truncated)
        puts_(l, json ? ",\"log_truncated\":true" : " log_truncated=true");
    if (json)
        puts_(l, "}");
    puts_(l, "\n");
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

/* --------------------------------------------------------------- fields */

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

/* known: the value is a label or a configured name (method, model, provider)
 * that cannot hold a secret, under a key that is not a secret's: escaped,
 * not scanned. Everything else is scanned. */
static void put_str_value(line *l, bool json, const char *key, const char *v, bool known)
{
    if (v == NULL) {
        puts_(l, "null");
        return;
    }
    bool quote = json || v[0] == '\0' || strpbrk(v, " \"=\\\n\t") != NULL;
    if (quote)
        puts_(l, "\"");
    if (known)
        put_escaped(l, v, strlen(v));
    else if (key_is_secret(key))
        puts_(l, REDACTED);
    else
        put_redacted(l, v, strlen(v));
    if (quote)
        puts_(l, "\"");
}

static const double powers_of_ten[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
    1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
};

/* d with 9 significant digits, like "%.9g", in plain decimal notation for
 * the magnitudes log fields have (seconds, dollars: 1e-9 up to 1e8);
 * printf only outside that range. */
static void put_double_value(line *l, double d)
{
    if (!isfinite(d)) {
        puts_(l, "null");
        return;
    }
    double magnitude = fabs(d);
    if (magnitude == 0) {
        puts_(l, "0");
        return;
    }
    if (magnitude < 1e-9 || magnitude >= 1e8) {
        putf(l, "%.9g", d);
        return;
    }
    /* digits = magnitude * 10^decimals rounded, 9 digits: 10^8 <= digits < 10^9 */
    int decimals = 8 - (int)floor(log10(magnitude));
    uint64_t digits = (uint64_t)llround(magnitude * powers_of_ten[decimals]);
    if (digits >= 1000000000u) {  /* log10 rounded up, or 9.9999999995 -> 10 */
        decimals--;
        digits = (uint64_t)llround(magnitude * powers_of_ten[decimals]);
    } else if (digits < 100000000u && decimals < 17) {
        decimals++;
        digits = (uint64_t)llround(magnitude * powers_of_ten[decimals]);
    }
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    uint64_t fraction = digits % scale;
    if (d < 0)
        puts_(l, "-");
    put_uint(l, digits / scale, false);
    if (fraction != 0) {
        int width = decimals;
        for (; fraction % 10 == 0; fraction /= 10)
            width--;
        puts_(l, ".");
        put_padded(l, fraction, width);
    }
}

static void put_field(line *l, bool json, const tg_log_field *f, bool known)
{
    put_key(l, json, f->key);
    switch (f->type) {
    case TG_LF_STR: put_str_value(l, json, f->key, f->str, known); break;
    case TG_LF_INT: put_int(l, f->i); break;
    case TG_LF_DOUBLE: put_double_value(l, f->d); break;
    case TG_LF_BOOL: puts_(l, f->b ? "true" : "false"); break;
    }
}

/* ------------------------------------------------------------- entries */

/* known_fields: bit i set when fields[i] is a known value (see
 * put_str_value); logger_known as in line_begin. */
static void write_line(tg_log_level level, const char *logger, const char *message,
                       const tg_log_field *fields, size_t n, uint32_t known_fields, bool logger_known)
{
    bool json = atomic_load_explicit(&log_format, memory_order_relaxed) == TG_LOG_JSON;
    line l;
    line_begin(&l, json, level, logger, message, strlen(message), logger_known);
    /* A field that does not fit whole is left out (never cut mid-escape or
     * mid-string) and the line says so. */
    bool truncated = false;
    for (size_t i = 0; i < n; i++) {
        size_t start = l.len;
        put_field(&l, json, &fields[i], i < 32 && (known_fields >> i & 1));
        if (l.overflow) {
            l.len = start;
            l.overflow = false;
            truncated = true;
        }
    }
    line_end(&l, json, truncated);
}

void tg_log_fields(tg_log_level level, const char *logger, const char *message,
                   const tg_log_field *fields, size_t n)
{
    if (!tg_log_enabled(level))
        return;
    write_line(level, logger ? logger : "", message ? message : "", fields, n, 0, false);
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
        {.key = "llm_status", .type = TG_LF_STR, .str = r->llm_status},
    };
    /* Values that can carry client text (request id, trace id, path) or
     * come from outside the config (org id) are scanned for secrets; the
     * method is one of the labels tollgate parsed it into, model, model_used
     * and provider are configured names (an unknown model is "other"), and
     * the cache tier and LLM status labels, so those are only escaped. */
    uint32_t known = 1u << 3 | 1u << 7 | 1u << 8 | 1u << 9 | 1u << 16 | 1u << 18;
    write_line(level, "access", "request completed", f, sizeof(f) / sizeof(f[0]), known, true);
}
