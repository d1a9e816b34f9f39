/*
 * render.c - the public rendering entry points: plain, gzip and the
 * one-stop HTTP helper. They set up a renderer state, let the store walk
 * the registry into it (tally__registry_collect) and finish the document.
 */
#include <string.h>
#include <zlib.h>

#include "internal.h"

tally_err tally_render(tally_registry *reg, tally_format fmt, const char *category, tally_buf *out)
{
    if (reg == NULL || out == NULL ||
        (fmt != TALLY_FORMAT_TEXT && fmt != TALLY_FORMAT_OPENMETRICS))
        return TALLY_ERR_FORMAT;
    size_t start = out->len;
    tally_emit e = { .sink = tally__render_sample, .fmt = fmt, .out = out };
    tally_err rc = tally__registry_collect(reg, category, &e);
    if (rc == TALLY_OK && e.err != 0)
        rc = (tally_err)e.err;
    if (rc == TALLY_OK && fmt == TALLY_FORMAT_OPENMETRICS)
        rc = (tally_err)tally__buf_append(out, "# EOF\n", 6);
    if (rc != TALLY_OK)
        out->len = start;   /* never hand back half a document */
    return rc;
}

/* Level 1: a scrape is latency-bound, and repetitive metric text already
 * shrinks about tenfold at the fastest level; higher levels cost several
 * times the CPU for a few percent. */
#define TALLY_GZIP_LEVEL 1

static tally_err gzip_append(const tally_buf *in, tally_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* windowBits 15 + 16: a gzip wrapper rather than raw zlib. */
    if (deflateInit2(&zs, TALLY_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return TALLY_ERR_IO;
    size_t start = out->len;
    tally_err rc = TALLY_OK;
    uLong bound = deflateBound(&zs, (uLong)in->len);
    if (tally__buf_reserve(out, bound) != TALLY_OK) {
        rc = TALLY_ERR_NOMEM;
    } else {
        zs.next_in = (Bytef *)in->data;
        zs.avail_in = (uInt)in->len;
        zs.next_out = (Bytef *)(out->data + start);
        zs.avail_out = (uInt)bound;
        /* deflateBound guarantees one Z_FINISH call is enough. */
        if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
            rc = TALLY_ERR_IO;
        else
            out->len = start + zs.total_out;
    }
    deflateEnd(&zs);
    return rc;
}

tally_err tally_render_gzip(tally_registry *reg, tally_format fmt, const char *category,
                            tally_buf *out)
{
    if (out == NULL)
        return TALLY_ERR_FORMAT;
    tally_buf plain = { 0 };
    tally_err rc = tally_render(reg, fmt, category, &plain);
    if (rc == TALLY_OK && plain.len > UINT32_MAX)
        rc = TALLY_ERR_IO;   /* zlib counts in uInt */
    if (rc == TALLY_OK)
        rc = gzip_append(&plain, out);
    tally_buf_free(&plain);
    return rc;
}

tally_err tally_render_http(tally_registry *reg, const char *accept, const char *accept_encoding,
                            const char *category, tally_buf *out,
                            const char **content_type, const char **content_encoding)
{
    tally_format fmt = tally_negotiate_format(accept);
    bool gzip = tally_negotiate_gzip(accept_encoding);
    tally_err rc = gzip ? tally_render_gzip(reg, fmt, category, out)
                        : tally_render(reg, fmt, category, out);
    if (rc != TALLY_OK)
        return rc;
    if (content_type != NULL)
        *content_type = tally_content_type(fmt);
    if (content_encoding != NULL)
        *content_encoding = gzip ? "gzip" : NULL;
    return TALLY_OK;
}
