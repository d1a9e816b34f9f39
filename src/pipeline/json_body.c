/* json_body.c: see json_body.h. A recursive-descent recogniser over a byte
 * range; it never reads past the end and never allocates. */
#include "pipeline/json_body.h"

#include <stdint.h>
#include <string.h>

#include "core/json.h"

#define MAX_DEPTH 256

typedef struct scanner {
    const char *s;
    size_t len;
    size_t pos;
    int depth;
    tg_json_body_t *out;
} scanner_t;

static int value(scanner_t *sc);

static void skip_space(scanner_t *sc)
{
    while (sc->pos < sc->len) {
        char c = sc->s[sc->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        sc->pos++;
    }
}

static int peek(const scanner_t *sc)
{
    return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}


/* One UTF-8 sequence starting at a byte >= 0x80 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static int utf8_sequence(scanner_t *sc)
{
    const unsigned char *p = (const unsigned char *)sc->s + sc->pos;
    size_t left = sc->len - sc->pos;
    unsigned char c = p[0];
    size_t n;
    uint32_t cp, min;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if (left < n)
        return -1;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    sc->pos += n;
    return 0;
}

/* A string; the scanner stands on its opening quote. */
static int string(scanner_t *sc)
{
    sc->pos++;
    while (sc->pos < sc->len) {
        unsigned char c = (unsigned char)sc->s[sc->pos];
        if (c == '"') {
            sc->pos++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (++sc->pos >= sc->len)
                return -1;
            c = (unsigned char)sc->s[sc->pos++];
            if (c == 'u') {
                if (sc->len - sc->pos < 4)
                    return -1;
                for (int i = 0; i < 4; i++) {
                    if (tg_hex_value(sc->s[sc->pos + i]) < 0)
                        return -1;
                }
                sc->pos += 4;
            } else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
                return -1;
            }
        } else if (c >= 0x80) {
            if (utf8_sequence(sc) != 0)
                return -1;
        } else {
            sc->pos++;
        }
    }
    return -1;
}

static size_t digits(scanner_t *sc)
{
    size_t start = sc->pos;
    while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
        sc->pos++;
    return sc->pos - start;
}

static int number(scanner_t *sc)
{
    if (peek(sc) == '-')
        sc->pos++;
    if (peek(sc) == '0')
        sc->pos++;
    else if (digits(sc) == 0)
        return -1;
    if (peek(sc) == '.') {
        sc->pos++;
        if (digits(sc) == 0)
            return -1;
    }
    if (peek(sc) == 'e' || peek(sc) == 'E') {
        sc->pos++;
        if (peek(sc) == '+' || peek(sc) == '-')
            sc->pos++;
        if (digits(sc) == 0)
            return -1;
    }
    return 0;
}

static int literal(scanner_t *sc, const char *word)
{
    size_t n = strlen(word);
    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
        return -1;
    sc->pos += n;
    return 0;
}

static bool key_is(const char *key, size_t key_len, const char *name)
{
    size_t n = strlen(name);
    return key_len == n && memcmp(key, name, n) == 0;
}

/* The span a member of interest is recorded in, or NULL. Only members of
 * the top-level object and of its stream_options object count. */
static tg_span_t *member_slot(scanner_t *sc, size_t key_start, size_t key_end, bool in_stream_options)
{
    tg_json_body_t *o = sc->out;
    if (!in_stream_options && sc->depth != 1)
        return NULL;
    const char *key = sc->s + key_start + 1;
    size_t key_len = key_end - key_start - 2;
    /* "mod\u0065l" is "model" to the provider's parser: compare decoded.
     * Escaped keys are rare, so the plain ones pay only the memchr. */
    char decoded[32];
    if (memchr(key, '\\', key_len) != NULL) {
        long n = tg_json_string_decode(sc->s, (tg_span_t){key_start, key_end - key_start}, decoded, sizeof(decoded));
        if (n < 0)
            return NULL; /* longer than any member of interest, or NUL-carrying */
        key = decoded;
        key_len = (size_t)n;
    }
    if (in_stream_options)
        return key_is(key, key_len, "include_usage") ? &o->include_usage : NULL;
    if (key_is(key, key_len, "model"))
        return &o->model;
    if (key_is(key, key_len, "stream"))
        return &o->stream;
    if (key_is(key, key_len, "stream_options"))
        return &o->stream_options;
    if (key_is(key, key_len, "messages"))
        return &o->messages;
    if (key_is(key, key_len, "input"))
        return &o->input;
    if (key_is(key, key_len, "prompt"))
        return &o->prompt;
    if (key_is(key, key_len, "max_tokens"))
        return &o->max_tokens;
    if (key_is(key, key_len, "max_completion_tokens"))
        return &o->max_completion_tokens;
    return NULL;
}

static int object(scanner_t *sc, bool is_stream_options)
{
    if (++sc->depth > MAX_DEPTH)
        return -1;
    sc->pos++; /* { */
    skip_space(sc);
    if (peek(sc) == '}') {
        sc->pos++;
        sc->depth--;
        return 0;
    }
    for (;;) {
        if (peek(sc) != '"')
            return -1;
        size_t key_start = sc->pos;
        if (string(sc) != 0)
            return -1;
        tg_span_t *slot = member_slot(sc, key_start, sc->pos, is_stream_options);
        bool value_is_stream_options = sc->depth == 1 && slot == &sc->out->stream_options;
        skip_space(sc);
        if (peek(sc) != ':')
            return -1;
        sc->pos++;
        skip_space(sc);
        size_t value_start = sc->pos;
        int rc = value_is_stream_options && peek(sc) == '{' ? object(sc, true) : value(sc);
        if (rc != 0)
            return -1;
        if (slot != NULL) {
            if (slot->len != 0)
                sc->out->duplicate = true;
            slot->off = value_start;
            slot->len = sc->pos - value_start;
        }
        skip_space(sc);
        if (peek(sc) == ',') {
            sc->pos++;
            skip_space(sc);
            continue;
        }
        if (peek(sc) != '}')
            return -1;
        if (sc->depth == 1)
            sc->out->object_end = sc->pos;
        sc->pos++;
        sc->depth--;
        return 0;
    }
}

static int array(scanner_t *sc)
{
    if (++sc->depth > MAX_DEPTH)
        return -1;
    sc->pos++; /* [ */
    skip_space(sc);
    if (peek(sc) == ']') {
        sc->pos++;
        sc->depth--;
        return 0;
    }
    for (;;) {
        if (value(sc) != 0)
            return -1;
        skip_space(sc);
        if (peek(sc) == ',') {
            sc->pos++;
            skip_space(sc);
            continue;
        }
        if (peek(sc) != ']')
            return -1;
        sc->pos++;
        sc->depth--;
        return 0;
    }
}

static int value(scanner_t *sc)
{
    switch (peek(sc)) {
    case '{': return object(sc, false);
    case '[': return array(sc);
    case '"': return string(sc);
    case 't': return literal(sc, "true");
    case 'f': return literal(sc, "false");
    case 'n': return literal(sc, "null");
    default: return number(sc);
    }
}

int tg_json_body_scan(const char *s, size_t len, tg_json_body_t *out)
{
    scanner_t sc = {s, len, 0, 0, out};
    memset(out, 0, sizeof(*out));
    skip_space(&sc);
    if (peek(&sc) != '{' || object(&sc, false) != 0)
        return -1;
    skip_space(&sc);
    return sc.pos == len ? 0 : -1;
}

static size_t put_utf8(char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static uint32_t hex4(const char *p)
{
    return (uint32_t)(tg_hex_value(p[0]) << 12 | tg_hex_value(p[1]) << 8 | tg_hex_value(p[2]) << 4 | tg_hex_value(p[3]));
}

long tg_json_string_decode(const char *s, tg_span_t span, char *dst, size_t cap)
{
    /* the span was validated by tg_json_body_scan: escapes are well formed */
    const char *p = s + span.off + 1, *end = s + span.off + span.len - 1;
    size_t n = 0;

    while (p < end) {
        if (cap - n < 5)
            return -1;
        if (*p != '\\') {
            dst[n++] = *p++;
            continue;
        }
        char c = p[1];
        p += 2;
        if (c != 'u') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            dst[n++] = to[strchr(from, c) - from];
            continue;
        }
        uint32_t cp = hex4(p);
        p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            uint32_t low = hex4(p + 2);
            if (low >= 0xdc00 && low <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                p += 6;
            }
        }
        if (cp == 0)
            return -1;
        n += put_utf8(dst + n, cp);
    }
    dst[n] = '\0';
    return (long)n;
}
