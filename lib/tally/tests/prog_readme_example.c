/*
 * prog_readme_example.c - the usage example of lib/tally/README.md, kept
 * compiling and running: the marked part below is the README's
 * first C block verbatim (tests/readme_example.sh checks that the two stay
 * the same and that the output is what the README promises).
 *
 * Usage: tally_prog_readme_example [ACCEPT [ACCEPT_ENCODING]]
 * Writes the rendering (maybe gzip) to stdout, the Content-Type and
 * Content-Encoding to stderr.
 */
/* README example begins */
#include <stdio.h>

#include "tally.h"

static void scrape_once(const char *accept_header, const char *accept_encoding_header)
{
    tally_registry *reg = tally_registry_new();
    tally_err err;

    /* A counter family with two labels; keep the child handle for hot paths. */
    tally_family *requests = tally_counter_family(reg, "http_requests", "HTTP requests.",
                                                  "system", &err, "method", "status",
                                                  (char *)NULL);
    tally_counter *ok = tally_counter_labels(requests, "GET", "200");
    tally_counter_inc(ok);

    /* A histogram with the seed-004 preset for operations under a second. */
    tally_histogram *latency = tally_histogram_new(reg, "http_request_duration_seconds",
                                                   "Request latency.",
                                                   TALLY_BUCKETS(tally_buckets_fast), &err);
    tally_histogram_observe(latency, 0.042);

    /* Process metrics (CPU, memory, fds, start time) from /proc. */
    tally_process_collector_register(reg, NULL);

    /* Render for an HTTP response: format from Accept, gzip from
     * Accept-Encoding (either header may be NULL). */
    tally_buf out = {0};
    const char *content_type, *content_encoding;
    if (tally_render_http(reg, accept_header, accept_encoding_header, NULL, &out,
                          &content_type, &content_encoding) == TALLY_OK) {
        /* Send out.data / out.len with these headers; here, to stdout. */
        fprintf(stderr, "Content-Type: %s\n", content_type);
        if (content_encoding)
            fprintf(stderr, "Content-Encoding: %s\n", content_encoding);
        fwrite(out.data, 1, out.len, stdout);
    }
    tally_buf_free(&out);
    tally_registry_free(reg);
}
/* README example ends */

int main(int argc, char **argv)
{
    scrape_once(argc > 1 ? argv[1] : NULL, argc > 2 ? argv[2] : NULL);
    return 0;
}
