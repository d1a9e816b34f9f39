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

/* Secrets are found by where they stand and by their shape (see log.h for
 * the list): the value of a parameter or header named like a secret, the
 * token after "Bearer "/"Basic ", a token with a provider's key prefix, a
 * JWT, a long hex word, a long random-looking base64 run, a URL's user
 * and password, and every registered value. Each rule looks at whole words or
 * runs and every byte is looked at a bounded number of times, so a scan
 * is linear in its input whatever the input. */

/* How a string is scanned. Request, trace and org ids are random or opaque
 * by design and logged on purpose in their own fields: there the rules
 * that judge by length and randomness (long hex, random runs) are off. */
typedef enum scan_mode {
    SCAN_TEXT,
    SCAN_ID
} scan_mode;

/* Byte classes: one table lookup per question asked of a byte. */
enum {
    CH_UPPER = 1 << 0,
    CH_LOWER = 1 << 1,
    CH_DIGIT = 1 << 2,
    CH_HEX = 1 << 3,   /* [0-9A-Fa-f] */
    CH_WORD = 1 << 4,  /* joins a word: [A-Za-z0-9_] */
    CH_RUN = 1 << 5,   /* base64 and base64url but '/' and '=': [A-Za-z0-9+_-] */
    CH_NAME = 1 << 6,  /* a parameter or header name: [A-Za-z0-9_.-] and the '%' of %XX */
    CH_END = 1 << 7,   /* ends an unquoted value: space, controls, & " ' , ; */
    CH_START = 1 << 8, /* may start a secret or a run, or separate a name from its value */
    CH_SLASH = 1 << 9, /* '/': in a run, between its segments */
};
#define CH_ALNUM (CH_UPPER | CH_LOWER | CH_DIGIT)
#define CH_KEY (CH_WORD | CH_RUN | CH_NAME | CH_START)  /* every class of a letter or digit */

static const uint16_t char_class[256] = {
    [0x00 ... 0x20] = CH_END, [0x7F] = CH_END,
    ['&'] = CH_END, ['"'] = CH_END, ['\''] = CH_END, [','] = CH_END, [';'] = CH_END,
    ['0' ... '9'] = CH_DIGIT | CH_HEX | CH_KEY,
    ['A' ... 'F'] = CH_UPPER | CH_HEX | CH_KEY,
    ['G' ... 'Z'] = CH_UPPER | CH_KEY,
    ['a' ... 'f'] = CH_LOWER | CH_HEX | CH_KEY,
    ['g' ... 'z'] = CH_LOWER | CH_KEY,
    ['_'] = CH_WORD | CH_RUN | CH_NAME | CH_START,
    ['-'] = CH_RUN | CH_NAME | CH_START,
    ['+'] = CH_RUN | CH_START,
    ['.'] = CH_NAME, ['%'] = CH_NAME | CH_START,
    ['/'] = CH_START | CH_SLASH, ['='] = CH_START, [':'] = CH_START,
};

static unsigned char_is(char c, unsigned classes)
{
    return char_class[(unsigned char)c] & classes;
}

static unsigned hex_value(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* Whether s[0..n) starts with a percent-encoded byte. */
static bool is_pct(const char *s, size_t n)
{
    return n >= 3 && s[0] == '%' && char_is(s[1], CH_HEX) && char_is(s[2], CH_HEX);
}

/* Characters of a key or token: [A-Za-z0-9] and -_.~+/= */
static const bool token_char[256] = {
    ['-'] = true, ['_'] = true, ['.'] = true, ['~'] = true, ['+'] = true, ['/'] = true, ['='] = true,
    ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
};

/* Length of the token at s, without trailing dots: a sentence's full stop
 * or the "..." of a cut copy (redacting that would undo the mark). */
static size_t token_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && token_char[(unsigned char)s[i]])
        i++;
    while (i > 0 && s[i - 1] == '.')
        i--;
    return i;
}

/* Prefixes that mark a provider API key (OpenAI, Anthropic, Groq, xAI,
 * Google, Stripe-style, GitHub, tollgate's own) or a JWT ("eyJ", base64 of
 * '{"'). A token with one of them and at least KEY_MIN_LEN characters is
 * treated as a secret. */
static const char *const key_prefixes[] = {
    "sk-", "sk_", "rk_", "pk_", "gsk_", "xai-", "AIza", "ghp_", "tg_", "tgk_", "eyJ",
};
#define KEY_MIN_LEN 12

/* First bytes of a key prefix or of "Bearer"/"Basic" (either case): the
 * scan tries the patterns only where one of these starts a word. */
static const bool pattern_start[256] = {
    ['s'] = true, ['r'] = true, ['p'] = true, ['g'] = true, ['x'] = true, ['A'] = true,
    ['t'] = true, ['e'] = true, ['b'] = true, ['B'] = true,
};

/* Length of an authorization scheme ("Bearer", "Basic", any case) and the
 * space after it (' ', or '+' or "%20" in a URL) at s, 0 if none. */
static size_t scheme_len(const char *s, size_t n)
{
    static const struct { const char *name; size_t len; } schemes[] = {{"bearer", 6}, {"basic", 5}};
    for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++) {
        size_t w = schemes[k].len;
        if (n <= w || strncasecmp(s, schemes[k].name, w) != 0)
            continue;
        if (s[w] == ' ' || s[w] == '+')
            return w + 1;
        if (n - w >= 3 && memcmp(s + w, "%20", 3) == 0)
            return w + 3;
    }
    return 0;
}

/* Length of a secret starting at s[0], a word start, that must be hidden,
 * 0 if none. For "Bearer x" only x is reported (after *skip bytes). */
static size_t secret_at(const char *s, size_t n, size_t *skip)
{
    *skip = 0;
    size_t scheme = scheme_len(s, n);
    if (scheme != 0) {
        size_t t = token_len(s + scheme, n - scheme);
        if (t > 0) {
            *skip = scheme;
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

/* Shortest hex word and random run taken for a key: 128 bits in hex, 24
 * bytes in base64. A trace id (32 hex digits) outside its own field is
 * hidden too: it cannot be told from a hex key (Azure OpenAI's are 32). */
#define HEX_MIN 32
#define RUN_MIN 32

/* Length of a word of at least HEX_MIN hex digits at s, 0 if none. Random
 * hex has both digits and letters (all of one kind: 1 in 3 million at 32
 * digits); "aaaa..." or a long decimal number is not a key. */
static size_t hex_at(const char *s, size_t n)
{
    size_t i = 0;
    unsigned seen = 0;
    for (; i < n && char_is(s[i], CH_HEX); i++)
        seen |= char_is(s[i], CH_ALNUM);
    return i >= HEX_MIN && (i == n || !char_is(s[i], CH_ALNUM)) && seen & CH_DIGIT && seen != CH_DIGIT ? i : 0;
}

/* End of the run of base64 characters from s[i] ('/' included when
 * `slash`; a %XX counts as one character, as URLs carry '+', '/' and '='
 * so). *chars receives its length in characters. */
static size_t run_end(const char *s, size_t n, size_t i, bool slash, size_t *chars)
{
    size_t count = 0;
    for (;; count++) {
        if (i < n && (char_is(s[i], CH_RUN) || (slash && s[i] == '/')))
            i++;
        else if (is_pct(s + i, n - i))
            i += 3;
        else
            break;
    }
    *chars = count;
    return i;
}

/* Whether the run s[0..n) looks like a random key rather than words: upper
 * and lower case letters and digits, and a change of class between at
 * least 40% of adjacent letters and digits. Random base64 changes class
 * at 62% of them; words, paths and model names far less
 * ("meta-llama/Meta-Llama-3-70B-Instruct": 19%). Of random 32-character
 * base64 strings about 1% pass unnoticed, of 44-character ones 0.3%. */
static bool looks_random(const char *s, size_t n)
{
    unsigned seen = 0, prev = 0;
    size_t pairs = 0, changes = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned cl = char_is(s[i], CH_ALNUM);
        if (s[i] == '%')
            i += 2;  /* an encoded '+', '/' or '=': not a letter of the key */
        if (cl != 0 && prev != 0) {
            pairs++;
            changes += cl != prev;
        }
        seen |= cl;
        prev = cl;
    }
    return seen == CH_ALNUM && changes * 5 >= pairs * 2;
}

/* Base64 padding after a run: up to two '=' (or %3D). */
static size_t padding_len(const char *s, size_t n)
{
    size_t i = 0;
    for (int k = 0; k < 2; k++) {
        if (i < n && s[i] == '=')
            i++;
        else if (is_pct(s + i, n - i) && strncasecmp(s + i, "%3D", 3) == 0)
            i += 3;
        else
            break;
    }
    return i;
}

/* Names of parameters, headers and fields whose value is a secret, matched
 * without regard to case as the whole name or as its last part after '_',
 * '-' or '.' (X-Api-Key, openai_api_key, access_token, client_secret,
 * db.password), percent-encoded or not (api%5Fkey). */
static const struct { const char *name; size_t len; } secret_names[] = {
#define SECRET_NAME(name) {name, sizeof(name) - 1}
    SECRET_NAME("key"), SECRET_NAME("apikey"), SECRET_NAME("token"), SECRET_NAME("secret"),
    SECRET_NAME("password"), SECRET_NAME("passwd"), SECRET_NAME("pwd"), SECRET_NAME("passphrase"),
    SECRET_NAME("auth"), SECRET_NAME("authorization"), SECRET_NAME("credential"),
    SECRET_NAME("credentials"), SECRET_NAME("signature"), SECRET_NAME("sig"),
#undef SECRET_NAME
};

/* Longest name tail compared: more is never needed to tell a secret's. */
#define NAME_MAX_LEN 64

/* Last letters of the secret names, either case: most names end otherwise
 * and are told apart with one lookup. */
static const bool secret_name_end[256] = {
    ['y'] = true, ['n'] = true, ['t'] = true, ['d'] = true, ['e'] = true, ['h'] = true,
    ['l'] = true, ['s'] = true, ['g'] = true, ['Y'] = true, ['N'] = true, ['T'] = true,
    ['D'] = true, ['E'] = true, ['H'] = true, ['L'] = true, ['S'] = true, ['G'] = true,
};

static bool is_secret_name(const char *name, size_t len)
{
    if (len > NAME_MAX_LEN) {
        name += len - NAME_MAX_LEN;
        len = NAME_MAX_LEN;
    }
    bool encoded_end = len >= 3 && name[len - 3] == '%';
    if (len == 0 || (!secret_name_end[(unsigned char)name[len - 1]] && !encoded_end))
        return false;
    char decoded[NAME_MAX_LEN];
    if (memchr(name, '%', len) != NULL) {
        size_t m = 0;
        for (size_t i = 0; i < len; i++) {
            decoded[m++] = is_pct(name + i, len - i)
                ? (char)(hex_value(name[i + 1]) << 4 | hex_value(name[i + 2])) : name[i];
            if (is_pct(name + i, len - i))
                i += 2;
        }
        name = decoded;
        len = m;
    }
    char last = (char)(name[len - 1] | 0x20);
    for (size_t k = 0; k < sizeof(secret_names) / sizeof(secret_names[0]); k++) {
        size_t w = secret_names[k].len;
        if (len >= w && last == secret_names[k].name[w - 1] &&
            strncasecmp(name + len - w, secret_names[k].name, w) == 0 &&
            (len == w || memchr("_-.", name[len - w - 1], 3) != NULL))
            return true;
    }
    return false;
}

/* The user info of a URL with a password (scheme://user:password@host),
 * the authority starting at s[i]: sets *at and returns its length, 0 if
 * none. The user goes too: it is often a key id, and hiding it leaves no
 * text between the "//" and the secret for other rules to miss. */
static size_t userinfo_at(const char *s, size_t n, size_t i, size_t *at)
{
    bool password = false;
    size_t start = i;
    for (; i < n && s[i] != '@'; i++) {
        if (s[i] == '/' || s[i] == '?' || s[i] == '#' || char_is(s[i], CH_END))
            return 0;
        password |= s[i] == ':';
    }
    if (i == n || !password)
        return 0;
    *at = start;
    return i - start;
}

/* At a separator s[i] ('=' or ':'): when the name before it is a secret's
 * (name=value in a query, "name": "value" in JSON, Name: value in a header
 * or a message), sets *at to its value and returns the value's length;
 * also a URL's user info. 0 if none. A quoted value runs to its closing
 * quote; an unquoted one to a space, '&', a quote, ',' or ';', without
 * trailing dots (as a token), and past an authorization scheme
 * ("token: Bearer x" hides x). */
static size_t value_secret_at(const char *s, size_t n, size_t i, size_t *at)
{
    if (s[i] == ':' && n - i > 2 && s[i + 1] == '/' && s[i + 2] == '/')
        return userinfo_at(s, n, i + 3, at);
    size_t end = i;
    while (end > 0 && s[end - 1] == ' ')
        end--;
    if (end > 0 && (s[end - 1] == '"' || s[end - 1] == '\''))
        end--;
    size_t begin = end;
    while (begin > 0 && end - begin < NAME_MAX_LEN && char_is(s[begin - 1], CH_NAME))
        begin--;
    if (begin == end || !is_secret_name(s + begin, end - begin))
        return 0;
    size_t v = i + 1;
    while (v < n && s[v] == ' ')
        v++;
    size_t e = v;
    if (v < n && (s[v] == '"' || s[v] == '\'')) {
        char quote = s[v++];
        for (e = v; e < n && s[e] != quote; e++)
            if (s[e] == '\\' && e + 1 < n)
                e++;
    } else {
        v += scheme_len(s + v, n - v);
        for (e = v; e < n && !char_is(s[e], CH_END); e++)
            ;
        while (e > v && s[e - 1] == '.')
            e--;
    }
    *at = v;
    return e - v;
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
static __attribute__((noinline)) size_t registered_at(const char *s, size_t n, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (registered[i][0] == s[0] && registered_len[i] <= n &&
            memcmp(registered[i], s, registered_len[i]) == 0)
            return registered_len[i];
    return 0;
}

/* A scan of s[0..n): what the rules that judge whole runs remember. Each
 * run of base64 characters ('/' included) and each of its '/'-segments is
 * judged once: a random run is hidden whole, and where a path is not random
 * as a whole, a key in one of its segments still is. */
typedef struct scan {
    const char *s;
    size_t n;
    scan_mode mode;
    size_t run_stop;      /* end of the run judged last */
    size_t segment_stop;  /* end of the segment judged last */
    bool run_has_slash;   /* that run is long enough and has segments */
} scan;

/* The rules for a secret starting at s[i], a byte that does not continue a
 * word (`before` is the class of the byte before it, 0 at the start of a
 * scan): sets *at and returns
 * the secret's length, 0 if none. Kept out of line, as is registered_at,
 * so that find_secret's loop over the bytes inside words stays in
 * registers (inlined, it cost twice the instructions per byte). */
static __attribute__((noinline)) size_t rules_at(scan *sc, size_t i, unsigned before, size_t *at)
{
    const char *s = sc->s;
    size_t n = sc->n;
    unsigned char c = (unsigned char)s[i];
    bool shapes = sc->mode == SCAN_TEXT;
    size_t len, skip, chars;
    if (shapes && i >= sc->run_stop && !(before & (CH_RUN | CH_SLASH)) &&
        (sc->run_stop = run_end(s, n, i, true, &chars)) > i) {
        if (chars >= RUN_MIN && looks_random(s + i, sc->run_stop - i)) {
            *at = i;
            return sc->run_stop - i + padding_len(s + sc->run_stop, n - sc->run_stop);
        }
        sc->run_has_slash = chars >= RUN_MIN && memchr(s + i, '/', sc->run_stop - i) != NULL;
    }
    if (sc->run_has_slash && i < sc->run_stop && i >= sc->segment_stop && c != '/') {
        sc->segment_stop = run_end(s, n, i, false, &chars);
        if (chars >= RUN_MIN && looks_random(s + i, sc->segment_stop - i)) {
            *at = i;
            return sc->segment_stop - i + padding_len(s + sc->segment_stop, n - sc->segment_stop);
        }
    }
    if (pattern_start[c] && !(before & CH_WORD) && (len = secret_at(s + i, n - i, &skip)) != 0) {
        *at = i + skip;
        return len;
    }
    if (shapes && char_class[c] & CH_HEX && !(before & CH_WORD) && (len = hex_at(s + i, n - i)) != 0) {
        *at = i;
        return len;
    }
    if (c == '=' || c == ':')
        return value_secret_at(s, n, i, at);
    return 0;
}

/* Length of a registered secret (among the first `count`) starting at
 * s[i], 0 if none; one lookup when none starts with this byte. */
static size_t registered_here(const char *s, size_t n, size_t i, size_t count)
{
    if (count == 0 || !atomic_load_explicit(&registered_start[(unsigned char)s[i]], memory_order_relaxed))
        return 0;
    return registered_at(s + i, n - i, count);
}

/* The secret a rule found at s[i] (*at, len), made safe against registered
 * secrets, which may hold any byte: one that starts among the bytes a rule
 * steps over before its span ("Bearer ", a quote) comes first; one that
 * starts inside the span and runs past it extends the span. */
static size_t settle(const char *s, size_t n, size_t i, size_t *at, size_t len, size_t count)
{
    for (size_t j = i + 1; j < *at; j++) {
        size_t r = registered_here(s, n, j, count);
        if (r != 0) {
            *at = j;
            len = r;
            break;
        }
    }
    for (size_t j = *at; j < *at + len; j++) {
        size_t r = registered_here(s, n, j, count);
        if (j + r > *at + len)
            len = j + r - *at;
    }
    return len;
}

/* The first secret of s[0..n) that starts at or after `from` and before
 * `stop`: sets *at and returns its length, or returns 0. The rules see the
 * whole of s, so a secret that runs past `stop` is found whole. `from`
 * starts words and runs: after a secret (which may end inside a run, its
 * padding taken) what follows is judged afresh. */
static size_t find_secret(const char *s, size_t n, size_t from, size_t stop, scan_mode mode, size_t *at)
{
    size_t count = atomic_load_explicit(&registered_count, memory_order_acquire);
    scan sc = {.s = s, .n = n, .mode = mode, .run_stop = from, .segment_stop = from};
    unsigned prev = 0;
    for (size_t i = from; i < stop; i++) {
        unsigned before = prev;
        size_t len;
        prev = char_class[(unsigned char)s[i]];
        if ((len = registered_here(s, n, i, count)) != 0) {
            *at = i;
            return settle(s, n, i, at, len, count);
        }
        /* Inside a word only a registered secret starts (most bytes). */
        if (prev & CH_START && !(before & prev & CH_WORD) && (len = rules_at(&sc, i, before, at)) != 0)
            return settle(s, n, i, at, len, count);
    }
    return 0;
}

/* Appends s as JSON string content with every secret replaced. */
static void put_redacted(line *l, const char *s, size_t n, scan_mode mode)
{
    size_t i = 0;
    size_t at;
    for (size_t len; (len = find_secret(s, n, i, n, mode, &at)) != 0; i = at + len) {
        put_escaped(l, s + i, at - i);
        puts_(l, REDACTED);
    }
    put_escaped(l, s + i, n - i);
}

size_t tg_log_redact_copy(char *dst, size_t cap, const char *src, size_t len)
{
    if (cap == 0)
        return 0;
    size_t room = cap - 1;
    size_t mark = room < 3 ? room : 3;  /* "..." ends a cut copy */
    size_t keep = room - mark;          /* what a cut copy keeps at most */
    /* safe: the longest prefix written that a cut copy may keep: it ends
     * neither inside a marker nor, if it can help it, inside a UTF-8
     * character (safe_from: where the clear text it ends in starts). */
    size_t out = 0, safe = 0, safe_from = 0;
    bool cut = false;
    size_t i = 0;
    for (;;) {
        size_t at = len;
        size_t secret = find_secret(src, len, i, i + room - out < len ? i + room - out : len,
                                    SCAN_TEXT, &at);
        size_t take = (secret != 0 ? at : len) - i;
        if (take > room - out) {
            take = room - out;
            cut = true;
        }
        memcpy(dst + out, src + i, take);
        if (out <= keep) {
            safe_from = out;
            safe = out + take < keep ? out + take : keep;
        }
        out += take;
        if (cut || secret == 0)
            break;
        if (sizeof(REDACTED) - 1 > room - out) {
            cut = true;
            break;
        }
        memcpy(dst + out, REDACTED, sizeof(REDACTED) - 1);
        out += sizeof(REDACTED) - 1;
        if (out <= keep)
            safe = safe_from = out;
        i = at + secret;
    }
    if (cut) {
        size_t written = out;
        out = safe;
        while (out > safe_from && out < written && ((unsigned char)dst[out] & 0xC0) == 0x80)
            out--;
        memcpy(dst + out, "...", mark);
        out += mark;
    }
    dst[out] = '\0';
    return out;
}

/* Secret-named fields are hidden whole, whatever their value. */
static bool key_is_secret(const char *key)
{
    return is_secret_name(key, strlen(key));
}

/* Fields of ids logged on purpose (see scan_mode). */
static bool key_is_id(const char *key)
{
    return strcmp(key, "request_id") == 0 || strcmp(key, "trace_id") == 0 || strcmp(key, "span_id") == 0 ||
           strcmp(key, "org_id") == 0;
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

/* A logger name or message: only escaped when `known` (see line_begin). */
static void put_text(line *l, const char *s, size_t n, bool known)
{
    if (known)
        put_escaped(l, s, n);
    else
        put_redacted(l, s, n, SCAN_TEXT);
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
    if (json) {
        puts_(l, "{\"timestamp\":\"");
        put_timestamp(l);
        puts_(l, "\",\"level\":\"");
        puts_(l, level_name(level, false));
        puts_(l, "\",\"logger\":\"");
        put_text(l, logger, strlen(logger), logger_known);
        puts_(l, "\",\"message\":\"");
        put_text(l, message, message_len, logger_known);
        l->cap = LOG_LINE_MAX - LINE_RESERVE;
        puts_(l, "\"");
    } else {
        put_timestamp(l);
        puts_(l, " ");
        puts_(l, level_name(level, true));
        puts_(l, " ");
        put_text(l, logger, strlen(logger), logger_known);
        puts_(l, ": ");
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
    else if (key_is_id(key))
        put_redacted(l, v, strlen(v), SCAN_ID);
    else if (key_is_secret(key))
        puts_(l, REDACTED);
    else
        put_redacted(l, v, strlen(v), SCAN_TEXT);
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
    /* The path is redacted whole, then cut (a cut first could leave a
     * key's first characters), and then only escaped. */
    char path[ACCESS_PATH_MAX + 1];
    const char *path_value = NULL;
    if (r->path) {
        tg_log_redact_copy(path, sizeof(path), r->path, strlen(r->path));
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
    /* Values that can carry client text (request id, trace id) or come
     * from outside the config (org id) are scanned for secrets (as ids, see
     * key_is_id); the path is already redacted; the method is one of the
     * labels tollgate parsed it into, model, model_used and provider are
     * configured names (an unknown model is "other"), and the cache tier
     * and the LLM status are labels, so those are only escaped. */
    uint32_t known = 1u << 3 | 1u << 4 | 1u << 7 | 1u << 8 | 1u << 9 | 1u << 16 | 1u << 18;
    write_line(level, "access", "request completed", f, sizeof(f) / sizeof(f[0]), known, true);
}
