/*
 * tally_http.h - serve a tally registry over HTTP in three lines.
 *
 * The optional companion to tally for C programs that have no HTTP server
 * of their own (the "metrics server" of client libraries in other
 * languages). It runs libevent's evhttp on a background thread:
 *
 *     tally_registry *reg = tally_registry_new();
 *     tally_http *srv = tally_http_start(reg, "0.0.0.0", 9100, NULL);
 *     ...                                     (register and update metrics)
 *     tally_http_stop(srv);
 *
 * Routes:
 *   GET|HEAD /metrics  every family of the registry, in text 0.0.4 or
 *                      OpenMetrics 1.0.0 by the Accept header, gzip when
 *                      Accept-Encoding allows it (tally_render_http).
 *   GET|HEAD /health   200 "OK\n" while the server runs.
 *   other paths        404; other methods 405.
 *
 * Link with tally_http, tally and libevent (pkg-config libevent).
 */
#ifndef TALLY_HTTP_H
#define TALLY_HTTP_H

#include <stdint.h>

#include "tally.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tally_http tally_http;

/* Starts serving `reg` on addr:port (port 0 = a free port the OS picks;
 * read it with tally_http_port). The registry must outlive the server.
 * Returns NULL and sets *err (when not NULL): TALLY_ERR_NOMEM, or
 * TALLY_ERR_IO when reg or addr is NULL, the address cannot be bound or the
 * thread cannot be started. */
tally_http *tally_http_start(tally_registry *reg, const char *addr, uint16_t port,
                             tally_err *err);

/* The port the server listens on. */
uint16_t tally_http_port(const tally_http *srv);

/* Stops the server, waits for its thread and frees everything. NULL is a
 * no-op. Must not be called from a tally collector callback. */
void tally_http_stop(tally_http *srv);

#ifdef __cplusplus
}
#endif
#endif /* TALLY_HTTP_H */
