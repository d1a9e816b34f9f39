/* probe.h: a blocking HTTP/1.1 exchange off the workers, and the active
 * health check built on it: one HTTP/1.1
 * `GET {base_url path}{health_check.path}` to a provider on a connection
 * of its own (TLS for https, with the provider's SSL_CTX and so the same
 * trust and host-name checks as its traffic), reading only the status
 * line, all within health_check.timeout_ms.
 *
 * It blocks: it runs on the housekeeping thread, never on a worker's loop.
 * Each step waits in poll(2) for what is left of the timeout, so the whole
 * check never takes longer. The request carries the provider's API key
 * (a model list usually needs one); nothing of the key, the request or
 * the response body reaches the result. */
#ifndef TOLLGATE_UPSTREAM_PROBE_H
#define TOLLGATE_UPSTREAM_PROBE_H

#include <stdbool.h>

#include "config.h"
#include "core/words.h"
#include "upstream/pool.h"

typedef struct tg_probe_result {
    bool ok;                  /* a status from 200 to 399 */
    tg_retry_reason_t reason; /* when not ok: connect (TLS included), reset,
                                 timeout, status_5xx, status_429, or
                                 bad_response (a malformed status line or
                                 any other status) */
    int status;               /* the response's status; 0 when none came */
    double seconds;           /* how long the check took */
    char detail[200];         /* when not ok: what failed, for the log */
} tg_probe_result_t;

/* Where a blocking request goes. */
typedef struct tg_probe_target {
    const char *host;             /* the Host header and, with TLS, the name sent */
    uint16_t port;
    SSL_CTX *tls_ctx;             /* NULL: plain HTTP */
    const tg_upstream_addr_t *addr;
    uint32_t timeout_ms;          /* the whole exchange */
} tg_probe_target_t;

/* The blocking exchange itself, for any caller off the workers (the
 * health check below, the trace exporter's POST): `method path` with
 * host, `connection: close`, `headers` (whole lines, each ending in CRLF;
 * scrubbed from memory once sent, as they may hold credentials) and,
 * when body is not NULL, content-length and the body; reads the status line only. ok for a status
 * from 200 to 399. */
void tg_probe_request(const tg_probe_target_t *t, const char *method, const char *path, const char *headers,
                      const char *body, size_t body_len, tg_probe_result_t *out);

/* Checks provider p at addr (its address resolved with the snapshot). */
void tg_upstream_probe(const tg_provider_config_t *p, const tg_upstream_addr_t *addr, tg_probe_result_t *out);

#endif
