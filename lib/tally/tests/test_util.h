/*
 * test_util.h - helpers every tally unit test shares: render a registry to
 * a string, look a sample or a line up in a rendering, gunzip a buffer,
 * sleep briefly. Static inline, so each test program takes what it uses.
 * Include after the system headers; it brings cmocka and tally.h itself.
 */
#ifndef TALLY_TEST_UTIL_H
#define TALLY_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <cmocka.h>

#include "tally.h"

/* A malloc'd NUL-terminated copy of data[0..len). */
static inline char *bytes_to_string(const char *data, size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    if (len)
        memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

/* The buffer's bytes as a malloc'd string; the buffer is freed. */
static inline char *buf_to_string(tally_buf *out)
{
    char *s = bytes_to_string(out->data, out->len);
    tally_buf_free(out);
    return s;
}

/* The registry rendered in fmt (only `category` unless NULL), as a malloc'd
 * string; rendering must succeed. */
static inline char *render_string(tally_registry *reg, tally_format fmt, const char *category)
{
    tally_buf out = { 0 };
    assert_int_equal(tally_render(reg, fmt, category, &out), TALLY_OK);
    return buf_to_string(&out);
}

/* Whether the rendering holds `needle`; when not, prints the rendering, so
 * that the failing assert_true(rendering_has(...)) shows what was there. */
static inline bool rendering_has(tally_registry *reg, tally_format fmt, const char *category,
                                 const char *needle)
{
    char *text = render_string(reg, fmt, category);
    bool found = strstr(text, needle) != NULL;
    if (!found)
        print_error("\"%s\" not in:\n%s\n", needle, text);
    free(text);
    return found;
}

/* The value of the unlabelled sample `name` in a rendering. */
static inline double sample_value(const char *text, const char *name)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "\n%s ", name);
    const char *p = strstr(text, needle);
    if (p == NULL)
        fail_msg("no sample %s in:\n%s", name, text);
    return strtod(p + strlen(needle), NULL);
}

/* Decompresses one gzip member into a malloc'd NUL-terminated string;
 * NULL if the data is not valid gzip. */
static inline char *gunzip_string(const char *data, size_t len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return NULL;
    size_t cap = len * 4 + 64, used = 0;
    char *out = malloc(cap + 1);
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    int rc = Z_OK;
    while (out != NULL && rc == Z_OK) {
        if (used == cap) {
            char *bigger = realloc(out, cap * 2 + 1);
            if (bigger == NULL) {
                free(out);
                out = NULL;
                break;
            }
            out = bigger;
            cap *= 2;
        }
        zs.next_out = (Bytef *)out + used;
        zs.avail_out = (uInt)(cap - used);
        rc = inflate(&zs, Z_NO_FLUSH);
        used = cap - zs.avail_out;
    }
    inflateEnd(&zs);
    if (out == NULL || rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    out[used] = '\0';
    return out;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

#endif /* TALLY_TEST_UTIL_H */
