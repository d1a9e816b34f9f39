/* pool.c: see pool.h. */
#include "upstream/pool.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "upstream/http1.h"

/* Idle upstream connections are closed before typical servers' keep-alive
 * timeouts (h2o and nginx: 10 s or more) so that a pooled connection is
 * rarely found closed by the peer. */
#define IDLE_CONNECTION_TIMEOUT_MS 5000

int tg_upstream_resolve_addr(const char *host, uint16_t port, tg_upstream_addr_t *out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res;
    char port_text[8];

    memset(out, 0, sizeof(*out));
    snprintf(port_text, sizeof(port_text), "%u", port);
    int rc = getaddrinfo(host, port_text, &hints, &res);
    if (rc != 0)
        return rc;
    memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void tg_upstream_resolve(const tg_provider_config_t *provider, tg_upstream_addr_t *out)
{
    int rc = tg_upstream_resolve_addr(provider->host, provider->port, out);
    if (rc != 0)
        tg_log(TG_LOG_WARN, "upstream", "provider %s: cannot resolve %s: %s", provider->name, provider->host,
               gai_strerror(rc));
}

int tg_upstream_pool_init(tg_upstream_pool_t *pool, h2o_loop_t *loop, const tg_provider_config_t *provider,
                          size_t provider_index, const tg_upstream_addr_t *addr)
{
    memset(pool, 0, sizeof(*pool));
    pool->provider = provider;
    pool->provider_index = provider_index;
    pool->loop = loop;
    pool->addr = addr->addr;
    pool->addr_len = addr->len;

    char authority[300];
    int is_default_port = provider->port == (provider->tls ? 443 : 80);
    int alen = is_default_port ? snprintf(authority, sizeof(authority), "%s", provider->host)
                               : snprintf(authority, sizeof(authority), "%s:%u", provider->host, provider->port);
    if (alen < 0 || (size_t)alen >= sizeof(authority))
        return -1;

    /* built once per worker: the request path only appends length and trace headers */
    size_t cap = 200 + (size_t)alen + (provider->api_key ? strlen(provider->api_key) : 0);
    char *headers = malloc(cap);
    if (headers == NULL)
        return -1;
    /* the provider's credentials as its API wants them */
    bool anthropic = provider->type == TG_PROVIDER_ANTHROPIC;
    int hlen = snprintf(headers, cap, "host: %s\r\nconnection: keep-alive\r\n%s%s%s%s", authority,
                        anthropic ? "anthropic-version: 2023-06-01\r\n" : "",
                        provider->api_key ? (anthropic ? "x-api-key: " : "authorization: Bearer ") : "",
                        provider->api_key ? provider->api_key : "", provider->api_key ? "\r\n" : "");
    if (hlen < 0 || (size_t)hlen >= cap) {
        free(headers);
        return -1;
    }
    pool->fixed_headers = h2o_iovec_init(headers, (size_t)hlen);
    pool->path_prefix = h2o_iovec_init(provider->path_prefix, strlen(provider->path_prefix));

    size_t n = provider->forward_header_count;
    pool->forward_tokens = malloc((n ? n : 1) * sizeof(*pool->forward_tokens));
    pool->forward_names = malloc((n ? n : 1) * sizeof(*pool->forward_names));
    if (pool->forward_tokens == NULL || pool->forward_names == NULL) {
        free(pool->forward_tokens);
        free(pool->forward_names);
        free(headers);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = provider->forward_headers[i];
        const h2o_token_t *token = h2o_lookup_token(name, strlen(name));
        if (token != NULL)
            pool->forward_tokens[pool->forward_token_count++] = token;
        else
            pool->forward_names[pool->forward_name_count++] = h2o_iovec_init(name, strlen(name));
    }

    h2o_linklist_init_anchor(&pool->idle);
    h2o_timeout_init(loop, &pool->io_timeout, provider->timeout_ms);
    /* only when on: the loop visits every timeout list each iteration */
    if (provider->first_token_timeout_ms != 0)
        h2o_timeout_init(loop, &pool->first_token_timeout, provider->first_token_timeout_ms);
    h2o_timeout_init(loop, &pool->idle_timeout, IDLE_CONNECTION_TIMEOUT_MS);
    h2o_timeout_init(loop, &pool->immediate, 0);
    pool->backoff_steps = provider->max_retries < TG_BACKOFF_STEPS ? provider->max_retries : TG_BACKOFF_STEPS;
    for (unsigned k = 0; k < pool->backoff_steps; k++)
        h2o_timeout_init(loop, &pool->backoff[k], (uint64_t)provider->retry_backoff_ms << k);
    return 0;
}

void tg_upstream_pool_dispose(tg_upstream_pool_t *pool)
{
    tg_http1_close_idle(pool);
    for (unsigned k = 0; k < pool->backoff_steps; k++)
        h2o_timeout_dispose(pool->loop, &pool->backoff[k]);
    h2o_timeout_dispose(pool->loop, &pool->immediate);
    h2o_timeout_dispose(pool->loop, &pool->idle_timeout);
    h2o_timeout_dispose(pool->loop, &pool->io_timeout);
    if (pool->provider->first_token_timeout_ms != 0)
        h2o_timeout_dispose(pool->loop, &pool->first_token_timeout);
    free(pool->fixed_headers.base);
    free(pool->forward_tokens);
    free(pool->forward_names);
    memset(pool, 0, sizeof(*pool));
}

h2o_timeout_t *tg_upstream_pool_backoff(tg_upstream_pool_t *pool, unsigned k)
{
    if (pool->backoff_steps == 0)
        return NULL;
    return &pool->backoff[k < pool->backoff_steps ? k : pool->backoff_steps - 1];
}
