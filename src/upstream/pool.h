/* pool.h: what one worker thread needs to talk to one provider: its own
 * keep-alive socket pool, HTTP/1 client context with the per-attempt I/O
 * timeout, retry backoff timers and the pre-built fixed parts of every
 * upstream request. Owned and used by exactly one event loop. */
#ifndef TOLLGATE_UPSTREAM_POOL_H
#define TOLLGATE_UPSTREAM_POOL_H

#include <h2o.h>
#include <h2o/http1client.h>
#include <openssl/ssl.h>

#include "config.h"

/* Retry k waits retry_backoff_ms * 2^k; beyond this many steps the last
 * step's delay is reused (h2o timeouts have one fixed period each). */
#define TG_BACKOFF_STEPS 8

typedef struct tg_upstream_pool {
    const tg_provider_config *provider;
    size_t provider_index;
    h2o_loop_t *loop;
    h2o_socketpool_t sockets;
    h2o_http1client_ctx_t client_ctx;
    h2o_timeout_t io_timeout;
    h2o_timeout_t backoff[TG_BACKOFF_STEPS];
    unsigned backoff_steps;
    h2o_iovec_t fixed_headers; /* host, connection, content-type, authorization */
    h2o_iovec_t path_prefix;
} tg_upstream_pool_t;

/* getaddr_receiver: the h2o context's hostinfo receiver (name lookups run
 * on h2o's resolver threads). ssl_ctx: shared client TLS context, used for
 * https providers. Returns 0 or -1. */
int tg_upstream_pool_init(tg_upstream_pool_t *pool, h2o_loop_t *loop, const tg_provider_config *provider,
                          size_t provider_index, h2o_multithread_receiver_t *getaddr_receiver, SSL_CTX *ssl_ctx);

/* Only when no request uses the pool any more. */
void tg_upstream_pool_dispose(tg_upstream_pool_t *pool);

/* The backoff timer list for retry number k (0-based). */
h2o_timeout_t *tg_upstream_pool_backoff(tg_upstream_pool_t *pool, unsigned k);

#endif
