/* pool.h: what one worker thread needs to talk to one provider: its
 * keep-alive connections (http1.c), the per-attempt I/O timeout, retry
 * backoff timers and the pre-built fixed part of every upstream request.
 * Owned and used by exactly one event loop. */
#ifndef TOLLGATE_UPSTREAM_POOL_H
#define TOLLGATE_UPSTREAM_POOL_H

#include <sys/socket.h>

#include <h2o.h>

#include "config.h"

/* Retry k waits retry_backoff_ms * 2^k; beyond this many steps the last
 * step's delay is reused (h2o timeouts have one fixed period each). */
#define TG_BACKOFF_STEPS 8

/* A provider's address, resolved once per configuration snapshot. */
typedef struct tg_upstream_addr {
    struct sockaddr_storage addr;
    socklen_t len; /* 0: the name did not resolve */
} tg_upstream_addr_t;

typedef struct tg_upstream_pool {
    const tg_provider_config_t *provider;
    size_t provider_index;
    h2o_loop_t *loop;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    h2o_linklist_t idle;        /* idle keep-alive connections, most recent first */
    size_t idle_count;          /* kept up to provider->max_connections */
    h2o_timeout_t io_timeout;   /* provider timeout_ms */
    h2o_timeout_t first_token_timeout; /* provider first_token_timeout_ms, when not 0 */
    h2o_timeout_t idle_timeout; /* how long an unused connection is kept */
    h2o_timeout_t immediate;    /* 0 ms: failures reported through the loop */
    h2o_timeout_t backoff[TG_BACKOFF_STEPS];
    unsigned backoff_steps;
    h2o_iovec_t fixed_headers; /* host, connection, content-type, authorization */
    h2o_iovec_t path_prefix;
    /* The provider's forward_headers, split for a cheap match per client
     * header: names h2o knows are interned as tokens (compared by pointer),
     * the others are compared by name (pointing into the config). */
    const h2o_token_t **forward_tokens;
    size_t forward_token_count;
    h2o_iovec_t *forward_names;
    size_t forward_name_count;
} tg_upstream_pool_t;

/* Resolves a provider's host and port (blocking: call at configuration
 * load, never on an event loop); logs a name that does not resolve. */
void tg_upstream_resolve(const tg_provider_config_t *provider, tg_upstream_addr_t *out);

/* Resolves host and port, blocking: 0, or getaddrinfo's error (out->len 0). */
int tg_upstream_resolve_addr(const char *host, uint16_t port, tg_upstream_addr_t *out);

/* Returns 0 or -1. */
int tg_upstream_pool_init(tg_upstream_pool_t *pool, h2o_loop_t *loop, const tg_provider_config_t *provider,
                          size_t provider_index, const tg_upstream_addr_t *addr);

/* Only when no request uses the pool any more. */
void tg_upstream_pool_dispose(tg_upstream_pool_t *pool);

/* The backoff timer list for retry number k (0-based), or NULL when the
 * provider allows no retries. */
h2o_timeout_t *tg_upstream_pool_backoff(tg_upstream_pool_t *pool, unsigned k);

#endif
