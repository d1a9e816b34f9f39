/* json.c: see json.h. */
#include "core/json.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *tg_json_container_end(const char *p, const char *end)
{
    int depth = 0;
    for (; p < end; p++) {
        char c = *p;
        if (c == '"') {
            /* Strings are most of a document: jump from quote to quote. A
             * quote ends the string unless an odd run of backslashes
             * escapes it. */
            for (;;) {
                const char *quote = memchr(p + 1, '"', (size_t)(end - p - 1));
                if (quote == NULL)
                    return NULL; /* unterminated string */
                size_t backslashes = 0;
                while (quote[-1 - (long)backslashes] == '\\')
                    backslashes++;
                p = quote;
                if (backslashes % 2 == 0)
                    break;
            }
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth < 0)
                return NULL;
            if (depth == 0)
                return p + 1;
        }
    }
    return NULL;
}

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

/* Bytes that JSON takes as they are: printable ASCII but quote (0x22) and
 * backslash (0x5C). A table: this test runs for every byte logged. */
static const bool json_plain_byte[256] = {
    [0x20 ... 0x21] = true, [0x23 ... 0x5B] = true, [0x5D ... 0x7E] = true,
};

static bool json_plain(unsigned char c)
{
    return json_plain_byte[c];
}

size_t tg_json_escape(char *dst, size_t cap, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t out = 0;
    size_t i = 0;
    while (i < n) {
        /* Runs of plain bytes (nearly everything logged) are copied at once. */
        size_t run = i;
        while (run < n && json_plain(u[run]))
            run++;
        if (run > i) {
            size_t len = run - i;
            if (len > cap - out)
                len = cap - out;
            memcpy(dst + out, s + i, len);
            out += len;
            i += len;
            if (i < run)
                break;  /* out of room */
            continue;
        }
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

/* Two digits a division: the ledger's blocks format a dozen numbers a row. */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                     "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

size_t tg_format_decimal(char *out, size_t v)
{
    char digits[20];
    size_t at = sizeof(digits);
    while (v >= 100) {
        size_t pair = v % 100 * 2;
        v /= 100;
        digits[--at] = digit_pairs[pair + 1];
        digits[--at] = digit_pairs[pair];
    }
    if (v >= 10) {
        digits[--at] = digit_pairs[v * 2 + 1];
        digits[--at] = digit_pairs[v * 2];
    } else {
        digits[--at] = (char)('0' + v);
    }
    size_t n = sizeof(digits) - at;
    memcpy(out, digits + at, n);
    return n;
}

int tg_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
