/*
 * expo_test_util.h - helpers shared by the exposition tests: gunzip a
 * buffer, and copy bytes into a NUL-terminated string for comparisons.
 */
#ifndef EXPO_TEST_UTIL_H
#define EXPO_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A malloc'd NUL-terminated copy of data[0..len). */
static inline char *expo_strndup(const char *data, size_t len)
{
    char *s = malloc(len + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

/* Decompresses one gzip member into a malloc'd NUL-terminated string;
 * NULL if the data is not valid gzip. */
static inline char *expo_gunzip(const char *data, size_t len)
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

#endif /* EXPO_TEST_UTIL_H */
