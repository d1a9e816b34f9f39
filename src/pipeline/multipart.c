/* multipart.c: see multipart.h. Bodies come from clients: every search is
 * bounded by the body's length, and nothing is copied. */
#define _GNU_SOURCE /* memmem */
#include "pipeline/multipart.h"

#include <string.h>
#include <strings.h>

bool tg_multipart_boundary(const char *content_type, size_t len, const char **boundary, size_t *boundary_len)
{
    static const char type[] = "multipart/form-data";
    if (len < sizeof(type) - 1 || strncasecmp(content_type, type, sizeof(type) - 1) != 0)
        return false;
    const char *end = content_type + len;
    const char *p = memmem(content_type, len, "boundary=", 9);
    if (p == NULL)
        return false;
    p += 9;
    const char *b = p;
    if (p < end && *p == '"') {
        b = ++p;
        while (p < end && *p != '"')
            p++;
    } else {
        while (p < end && *p != ';' && *p != ' ' && *p != '\t')
            p++;
    }
    *boundary = b;
    *boundary_len = (size_t)(p - b);
    return *boundary_len > 0 && *boundary_len <= 70; /* RFC 2046's limit */
}

/* Whether the part headers [h, h_end) name the field `name` and no file. */
static bool names_field(const char *h, const char *h_end, const char *name)
{
    char want[80];
    size_t n = strlen(name);
    if (n + 8 > sizeof(want))
        return false;
    memcpy(want, "name=\"", 6);
    memcpy(want + 6, name, n);
    want[6 + n] = '"';
    const char *at = memmem(h, (size_t)(h_end - h), want, n + 7);
    /* "filename=" ends in "name=" too: the match must not be its tail */
    return at != NULL && (at == h || (at[-1] != 'e' && at[-1] != 'E')) &&
           memmem(h, (size_t)(h_end - h), "filename=", 9) == NULL;
}

bool tg_multipart_field(const char *body, size_t len, const char *boundary, size_t boundary_len, const char *name,
                        tg_span_t *value)
{
    char delim[80]; /* "\r\n--" boundary: what ends a part's value */
    if (boundary_len + 4 > sizeof(delim))
        return false;
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, boundary_len);
    size_t delim_len = boundary_len + 4;
    const char *end = body + len;
    /* p: at a "--boundary" that starts a line (the body's first may lack the CRLF) */
    const char *p = len >= delim_len - 2 && memcmp(body, delim + 2, delim_len - 2) == 0 ? body
                                                                                          : memmem(body, len, delim, delim_len);
    if (p != NULL && p != body)
        p += 2;
    while (p != NULL) {
        p += delim_len - 2;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return false; /* the closing delimiter */
        const char *line_end = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (line_end == NULL)
            return false;
        const char *headers = line_end + 2;
        const char *headers_end = memmem(headers, (size_t)(end - headers), "\r\n\r\n", 4);
        if (headers_end == NULL)
            return false;
        const char *v = headers_end + 4;
        const char *next = memmem(v, (size_t)(end - v), delim, delim_len);
        if (next == NULL)
            return false;
        if (names_field(headers, headers_end + 2, name)) {
            value->off = (size_t)(v - body);
            value->len = (size_t)(next - v);
            return true;
        }
        p = next + 2;
    }
    return false;
}
