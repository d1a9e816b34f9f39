/* log_line.c: building one log line, JSON or text: bytes, numbers by
 * hand, JSON escaping, redacted text, the timestamp, and typed fields.
 * Everything writes into the caller's buffer and stops at its capacity
 * (overflow says so); log.c frames the lines and writes them. */
#include "obs/log_line.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "obs/redact.h"

/* Numbers are formatted by hand: vsnprintf was a tenth of an access line's
 * cost. */
static void put_uint(tg_log_line_t *l, uint64_t u, bool negative)
{
    char digits[21];
    char *p = digits + sizeof(digits);
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (negative)
        *--p = '-';
    tg_line_put(l, p, (size_t)(digits + sizeof(digits) - p));
}

void tg_line_put_int(tg_log_line_t *l, int64_t v)
{
    put_uint(l, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
}

/* Zero-padded decimal of v in exactly `width` (at most 20) digits. */
static void put_padded(tg_log_line_t *l, uint64_t v, int width)
{
    char digits[20];
    for (int i = width - 1; i >= 0; i--) {
        digits[i] = (char)('0' + v % 10);
        v /= 10;
    }
    tg_line_put(l, digits, (size_t)width);
}

static void putf(tg_log_line_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(tg_log_line_t *l, const char *fmt, ...)
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

void tg_line_put_escaped(tg_log_line_t *l, const char *s, size_t n)
{
    l->len += tg_json_escape(l->p + l->len, l->cap - l->len, s, n);
    /* An escape is at most 6 bytes: with less room left it may have stopped
     * early (conservatively counted as overflow). */
    if (l->cap - l->len < 6 && n > 0)
        l->overflow = true;
}

/* Appends s as JSON string content with every secret replaced. */
void tg_line_put_redacted(tg_log_line_t *l, const char *s, size_t n, tg_redact_mode_t mode)
{
    size_t i = 0;
    size_t at;
    for (size_t len; (len = tg_redact_find(s, n, i, n, mode, &at)) != 0; i = at + len) {
        tg_line_put_escaped(l, s + i, at - i);
        tg_line_puts(l, TG_REDACTED);
    }
    tg_line_put_escaped(l, s + i, n - i);
}

/* The "YYYY-MM-DDTHH:MM:SS" part changes once a second: each thread keeps
 * the last one it formatted (gmtime_r and the formatting were a tenth of
 * an access line's cost). */
static _Thread_local time_t stamp_second = -1;
static _Thread_local char stamp_prefix[20];

void tg_line_put_timestamp(tg_log_line_t *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != stamp_second) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        tg_log_line_t prefix = {.p = stamp_prefix, .cap = sizeof(stamp_prefix) - 1};
        put_padded(&prefix, (unsigned)(tm.tm_year + 1900), 4);
        tg_line_puts(&prefix, "-");
        put_padded(&prefix, (unsigned)tm.tm_mon + 1, 2);
        tg_line_puts(&prefix, "-");
        put_padded(&prefix, (unsigned)tm.tm_mday, 2);
        tg_line_puts(&prefix, "T");
        put_padded(&prefix, (unsigned)tm.tm_hour, 2);
        tg_line_puts(&prefix, ":");
        put_padded(&prefix, (unsigned)tm.tm_min, 2);
        tg_line_puts(&prefix, ":");
        put_padded(&prefix, (unsigned)tm.tm_sec, 2);
        stamp_second = ts.tv_sec;
    }
    tg_line_put(l, stamp_prefix, sizeof(stamp_prefix) - 1);
    tg_line_puts(l, ".");
    put_padded(l, (unsigned)(ts.tv_nsec / 1000000), 3);
    tg_line_puts(l, "Z");
}

/* Secret-named fields are hidden whole, whatever their value. */
static bool key_is_secret(const char *key)
{
    return tg_redact_is_secret_name(key, strlen(key));
}

/* Fields of ids logged on purpose (see scan_mode). */
static bool key_is_id(const char *key)
{
    return strcmp(key, "request_id") == 0 || strcmp(key, "trace_id") == 0 || strcmp(key, "span_id") == 0 ||
           strcmp(key, "org_id") == 0;
}

/* --------------------------------------------------------------- fields */

static void put_key(tg_log_line_t *l, bool json, const char *key)
{
    if (json) {
        tg_line_puts(l, ",\"");
        tg_line_put_escaped(l, key, strlen(key));
        tg_line_puts(l, "\":");
    } else {
        tg_line_puts(l, " ");
        tg_line_put_escaped(l, key, strlen(key));
        tg_line_puts(l, "=");
    }
}

/* known: the value is a label or a configured name (method, model, provider)
 * that cannot hold a secret, under a key that is not a secret's: escaped,
 * not scanned. Everything else is scanned. */
static void put_str_value(tg_log_line_t *l, bool json, const char *key, const char *v, bool known)
{
    if (v == NULL) {
        tg_line_puts(l, "null");
        return;
    }
    bool quote = json || v[0] == '\0' || strpbrk(v, " \"=\\\n\t") != NULL;
    if (quote)
        tg_line_puts(l, "\"");
    if (known)
        tg_line_put_escaped(l, v, strlen(v));
    else if (key_is_id(key))
        tg_line_put_redacted(l, v, strlen(v), TG_REDACT_ID);
    else if (key_is_secret(key))
        tg_line_puts(l, TG_REDACTED);
    else
        tg_line_put_redacted(l, v, strlen(v), TG_REDACT_TEXT);
    if (quote)
        tg_line_puts(l, "\"");
}

static const double powers_of_ten[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
    1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
};

/* d with 9 significant digits, like "%.9g", in plain decimal notation for
 * the magnitudes log fields have (seconds, dollars: 1e-9 up to 1e8);
 * printf only outside that range. */
static void put_double_value(tg_log_line_t *l, double d)
{
    if (!isfinite(d)) {
        tg_line_puts(l, "null");
        return;
    }
    double magnitude = fabs(d);
    if (magnitude == 0) {
        tg_line_puts(l, "0");
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
        tg_line_puts(l, "-");
    put_uint(l, digits / scale, false);
    if (fraction != 0) {
        int width = decimals;
        for (; fraction % 10 == 0; fraction /= 10)
            width--;
        tg_line_puts(l, ".");
        put_padded(l, fraction, width);
    }
}

void tg_line_put_field(tg_log_line_t *l, bool json, const tg_log_field_t *f, bool known)
{
    put_key(l, json, f->key);
    switch (f->type) {
    case TG_LF_STR: put_str_value(l, json, f->key, f->str, known); break;
    case TG_LF_INT: tg_line_put_int(l, f->i); break;
    case TG_LF_DOUBLE: put_double_value(l, f->d); break;
    case TG_LF_BOOL: tg_line_puts(l, f->b ? "true" : "false"); break;
    }
}

