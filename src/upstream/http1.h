/* http1.h: a minimal HTTP/1.1 client for upstream calls, with keep-alive
 * connections that stay registered in the worker's event loop while idle.
 *
 * Why not h2o's http1client + socketpool: that pool detaches a socket from
 * the loop when it is returned and re-attaches it on reuse, which costs two
 * epoll_ctl, two fcntl and a probing recv per request (measured: about 8%
 * of the gateway's CPU). Here an idle connection keeps reading; a close by
 * the server is noticed as it happens and the connection is dropped.
 *
 * One request at a time per connection; the response body is handed over
 * de-chunked, as it arrives. The pool's io timeout (the provider's
 * timeout_ms) covers connecting and waiting for the response head; the
 * body has no timeout here (the caller's request deadline covers it). */
#ifndef TOLLGATE_UPSTREAM_HTTP1_H
#define TOLLGATE_UPSTREAM_HTTP1_H

#include <stdbool.h>

#include <h2o.h>

struct tg_upstream_pool;
typedef struct tg_http1_conn tg_http1_conn_t;

/* Why an exchange with the provider failed (the caller decides what that
 * means for retries and health). */
typedef enum tg_http1_failure {
    TG_HTTP1_OK = 0,       /* no failure */
    TG_HTTP1_CONNECT,      /* no connection */
    TG_HTTP1_TLS,          /* the TLS handshake failed: errstr says why (OpenSSL's reason) */
    TG_HTTP1_RESET,        /* the connection closed or broke */
    TG_HTTP1_TIMEOUT,      /* nothing within the provider's timeout */
    TG_HTTP1_BAD_RESPONSE  /* a response that does not parse */
} tg_http1_failure_t;

/* Called once: the response head, or the failure that prevented it (errstr
 * set, failure its kind). retry_after: a Retry-After header's delay in
 * seconds (0 when absent or an HTTP date). Return false to abandon the
 * response (the connection is then closed). */
typedef bool (*tg_http1_head_cb)(void *ctx, const char *errstr, tg_http1_failure_t failure, int status,
                                 h2o_iovec_t content_type, unsigned retry_after);

/* Body bytes as they arrive (len may be 0 at the end). done: the response
 * is complete; errstr: it broke off (failure says how). After done or an
 * error no further call comes. Return false to abandon the response. */
typedef bool (*tg_http1_body_cb)(void *ctx, const char *data, size_t len, bool done, const char *errstr,
                                 tg_http1_failure_t failure);

/* Sends head+body (both must stay valid until the response head arrives)
 * on an idle connection of the pool or a new one. Never calls back before
 * returning. Returns the connection, to cancel with tg_http1_cancel(). */
tg_http1_conn_t *tg_http1_send(struct tg_upstream_pool *pool, h2o_iovec_t head, h2o_iovec_t body, tg_http1_head_cb on_head,
                               tg_http1_body_cb on_body, void *ctx);

/* Abandons the request in progress; no callback comes after this. */
void tg_http1_cancel(tg_http1_conn_t *conn);

/* Closes every idle connection of the pool (the pool is going away; no
 * request may be in progress). */
void tg_http1_close_idle(struct tg_upstream_pool *pool);

#endif
