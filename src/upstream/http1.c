/* http1.c: see http1.h. Response heads and chunked bodies are parsed with
 * the picohttpparser that libh2o-evloop carries and exports (its header is
 * not installed, hence the declarations below, which match h2o 2.2.5). */
#include "upstream/http1.h"

#include <string.h>
#include <sys/types.h>

#include "upstream/pool.h"
#include "upstream/tls.h"

struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers, size_t last_len);
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#define MAX_HEADERS 100
#define MAX_HEAD_BYTES 65536

typedef enum conn_state {
    CONN_CONNECTING,
    CONN_HANDSHAKING,
    CONN_WAITING_HEAD,
    CONN_BODY,
    CONN_IDLE,
} conn_state_t;

typedef enum body_framing { BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE } body_framing_t;

struct tg_http1_conn {
    h2o_socket_t *sock;
    tg_upstream_pool_t *pool;
    conn_state_t state;
    h2o_linklist_t idle_link;
    h2o_timeout_entry_t timeout; /* io timeout while busy, idle timeout while idle */

    /* the request in progress */
    h2o_iovec_t bufs[2];
    tg_http1_head_cb on_head;
    tg_http1_body_cb on_body;
    void *ctx;
    bool reused;       /* taken from the idle list: already connected */
    bool keepalive;
    body_framing_t framing;
    size_t bytes_left;
    struct phr_chunked_decoder chunked;
};

static void close_conn(tg_http1_conn_t *conn)
{
    if (h2o_timeout_is_linked(&conn->timeout))
        h2o_timeout_unlink(&conn->timeout);
    if (h2o_linklist_is_linked(&conn->idle_link)) {
        h2o_linklist_unlink(&conn->idle_link);
        conn->pool->idle_count--;
    }
    if (conn->sock != NULL)
        h2o_socket_close(conn->sock);
    free(conn);
}

static void arm_timeout(tg_http1_conn_t *conn, h2o_timeout_t *which)
{
    if (h2o_timeout_is_linked(&conn->timeout))
        h2o_timeout_unlink(&conn->timeout);
    h2o_timeout_link(conn->pool->loop, which, &conn->timeout);
}

/* The response is complete: keep the connection for the next request, or
 * close it. */
static void release(tg_http1_conn_t *conn)
{
    conn->on_head = NULL;
    conn->on_body = NULL;
    conn->ctx = NULL;
    tg_upstream_pool_t *pool = conn->pool;
    if (!conn->keepalive || conn->sock->input->size != 0 ||
        (pool->provider->max_connections != 0 && pool->idle_count >= pool->provider->max_connections)) {
        close_conn(conn);
        return;
    }
    conn->state = CONN_IDLE;
    h2o_linklist_insert(pool->idle.next, &conn->idle_link); /* at the front: most recent first */
    pool->idle_count++;
    arm_timeout(conn, &conn->pool->idle_timeout);
}

static void fail_head(tg_http1_conn_t *conn, const char *errstr, tg_http1_failure_t failure)
{
    tg_http1_head_cb cb = conn->on_head;
    void *ctx = conn->ctx;
    close_conn(conn);
    cb(ctx, errstr, failure, 0, h2o_iovec_init(NULL, 0), 0);
}

static void fail_body(tg_http1_conn_t *conn, const char *errstr, tg_http1_failure_t failure)
{
    tg_http1_body_cb cb = conn->on_body;
    void *ctx = conn->ctx;
    close_conn(conn);
    cb(ctx, NULL, 0, false, errstr, failure);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    tg_http1_conn_t *conn = H2O_STRUCT_FROM_MEMBER(tg_http1_conn_t, timeout, entry);
    if (conn->state == CONN_IDLE)
        close_conn(conn);
    else /* connecting, handshaking or waiting for the head */
        fail_head(conn, "I/O timeout", TG_HTTP1_TIMEOUT);
}

static bool header_is(const struct phr_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

static bool value_has_token(const struct phr_header *h, const char *token)
{
    size_t n = strlen(token);
    for (size_t i = 0; i + n <= h->value_len; i++) {
        if (strncasecmp(h->value + i, token, n) == 0)
            return true;
    }
    return false;
}

/* Delivers what the body framing allows from the input buffer. */
static void read_body(tg_http1_conn_t *conn, const char *err)
{
    h2o_buffer_t **input = &conn->sock->input;
    size_t len = (*input)->size;
    bool done = false;

    switch (conn->framing) {
    case BODY_LENGTH:
        if (len > conn->bytes_left) {
            conn->keepalive = false; /* bytes after the body: never reuse */
            len = conn->bytes_left;
        }
        conn->bytes_left -= len;
        done = conn->bytes_left == 0;
        break;
    case BODY_CHUNKED: {
        ssize_t r = phr_decode_chunked(&conn->chunked, (*input)->bytes, &len);
        if (r == -1) {
            fail_body(conn, "malformed chunked encoding", TG_HTTP1_BAD_RESPONSE);
            return;
        }
        if (r >= 0) {
            done = true;
            conn->keepalive &= r == 0;
        }
        break;
    }
    case BODY_UNTIL_CLOSE:
        done = err != NULL;
        break;
    }
    if (!done && err != NULL) {
        fail_body(conn, "connection closed in the body", TG_HTTP1_RESET);
        return;
    }
    /* decoded data sits at the start of the buffer; anything left is dropped */
    tg_http1_body_cb cb = conn->on_body;
    void *ctx = conn->ctx;
    bool keep_going = cb(ctx, (*input)->bytes, len, done, NULL, TG_HTTP1_OK);
    h2o_buffer_consume(input, done ? (*input)->size : (conn->framing == BODY_CHUNKED ? (*input)->size : len));
    if (done) {
        if (!keep_going)
            conn->keepalive = false;
        release(conn);
    } else if (!keep_going) {
        close_conn(conn);
    }
}

static void read_head(tg_http1_conn_t *conn, const char *err)
{
    h2o_buffer_t **input = &conn->sock->input;
    struct phr_header headers[MAX_HEADERS];
    size_t num_headers = MAX_HEADERS;
    int minor, status;
    const char *msg;
    size_t msg_len;

    int head_len;

    /* Informational heads precede the real one; a loop, not recursion: one
     * read can hold hundreds of thousands of them. */
    for (;;) {
        num_headers = MAX_HEADERS;
        head_len = phr_parse_response((*input)->bytes, (*input)->size, &minor, &status, &msg, &msg_len, headers,
                                      &num_headers, 0);
        if (head_len == -2) {
            if (err != NULL)
                fail_head(conn, "connection closed in the response head", TG_HTTP1_RESET);
            else if ((*input)->size > MAX_HEAD_BYTES)
                fail_head(conn, "response head too large", TG_HTTP1_BAD_RESPONSE);
            return;
        }
        if (head_len < 0) {
            fail_head(conn, "failed to parse the response", TG_HTTP1_BAD_RESPONSE);
            return;
        }
        if (status < 100 || status > 199)
            break;
        h2o_buffer_consume(input, (size_t)head_len);
        if ((*input)->size == 0) {
            if (err != NULL)
                fail_head(conn, "connection closed before the response", TG_HTTP1_RESET);
            return;
        }
    }
    if (status < 100) { /* picohttpparser takes any three digits; 000-099 is no HTTP status */
        fail_head(conn, "invalid response status", TG_HTTP1_BAD_RESPONSE);
        return;
    }

    h2o_iovec_t content_type = h2o_iovec_init(NULL, 0);
    unsigned retry_after = 0;
    conn->keepalive = minor >= 1;
    conn->framing = BODY_UNTIL_CLOSE;
    for (size_t i = 0; i < num_headers; i++) {
        const struct phr_header *h = &headers[i];
        if (header_is(h, "content-type")) {
            content_type = h2o_iovec_init(h->value, h->value_len);
        } else if (header_is(h, "retry-after")) {
            /* delay-seconds only; a day caps it (the caller caps it further) */
            size_t n = h2o_strtosize(h->value, h->value_len);
            retry_after = n == SIZE_MAX ? 0 : n > 86400 ? 86400 : (unsigned)n;
        } else if (header_is(h, "content-length")) {
            size_t n = h2o_strtosize(h->value, h->value_len);
            if (n == SIZE_MAX) {
                fail_head(conn, "invalid content-length", TG_HTTP1_BAD_RESPONSE);
                return;
            }
            if (conn->framing != BODY_CHUNKED) {
                conn->framing = BODY_LENGTH;
                conn->bytes_left = n;
            }
        } else if (header_is(h, "transfer-encoding")) {
            if (!value_has_token(h, "chunked")) {
                fail_head(conn, "unexpected transfer-encoding", TG_HTTP1_BAD_RESPONSE);
                return;
            }
            conn->framing = BODY_CHUNKED;
            memset(&conn->chunked, 0, sizeof(conn->chunked));
            conn->chunked.consume_trailer = 1;
        } else if (header_is(h, "connection")) {
            if (value_has_token(h, "close"))
                conn->keepalive = false;
            else if (value_has_token(h, "keep-alive"))
                conn->keepalive = true;
        }
    }
    if (conn->framing == BODY_UNTIL_CLOSE)
        conn->keepalive = false;
    if (status == 204 || status == 304) {
        conn->framing = BODY_LENGTH;
        conn->bytes_left = 0;
    }

    /* timeout_ms bounds the wait for the head; a body (a slow token stream)
     * is bounded by the caller's whole-request deadline */
    if (h2o_timeout_is_linked(&conn->timeout))
        h2o_timeout_unlink(&conn->timeout);
    conn->state = CONN_BODY;
    bool keep_going = conn->on_head(conn->ctx, NULL, TG_HTTP1_OK, status, content_type, retry_after);
    h2o_buffer_consume(input, (size_t)head_len);
    if (!keep_going) {
        close_conn(conn);
        return;
    }
    if ((*input)->size != 0 || err != NULL || (conn->framing == BODY_LENGTH && conn->bytes_left == 0))
        read_body(conn, err);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    tg_http1_conn_t *conn = sock->data;

    switch (conn->state) {
    case CONN_IDLE: /* the server closed it, or sent bytes nobody asked for */
        close_conn(conn);
        return;
    case CONN_WAITING_HEAD:
        if (sock->input->size != 0) {
            arm_timeout(conn, &conn->pool->io_timeout);
            read_head(conn, err);
            return;
        }
        if (err != NULL)
            fail_head(conn, "connection closed before the response", TG_HTTP1_RESET);
        return;
    case CONN_BODY:
        read_body(conn, err);
        return;
    default: /* connecting or handshaking: their own callbacks report */
        return;
    }
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    tg_http1_conn_t *conn = sock->data;
    if (err == NULL || conn->state != CONN_WAITING_HEAD)
        return;
    fail_head(conn, "I/O error (send request)", TG_HTTP1_RESET);
}

static void send_request(tg_http1_conn_t *conn)
{
    conn->state = CONN_WAITING_HEAD;
    arm_timeout(conn, &conn->pool->io_timeout);
    h2o_socket_read_start(conn->sock, on_read);
    h2o_socket_write(conn->sock, conn->bufs, 2, on_written);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    tg_http1_conn_t *conn = sock->data;
    if (err != NULL) {
        char reason[256]; /* OpenSSL's, for the caller to log */
        tg_tls_failure_reason(err, reason, sizeof(reason));
        fail_head(conn, reason, TG_HTTP1_TLS);
        return;
    }
    send_request(conn);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    tg_http1_conn_t *conn = sock->data;
    if (err != NULL) {
        fail_head(conn, err, TG_HTTP1_CONNECT);
        return;
    }
    if (conn->pool->provider->tls) {
        conn->state = CONN_HANDSHAKING;
        /* the host is the SNI and the name to verify: see tls.h */
        h2o_socket_ssl_handshake(sock, conn->pool->provider->tls_ctx, conn->pool->provider->host, on_handshake);
        return;
    }
    send_request(conn);
}

static void on_connect_failed_now(h2o_timeout_entry_t *entry)
{
    tg_http1_conn_t *conn = H2O_STRUCT_FROM_MEMBER(tg_http1_conn_t, timeout, entry);
    fail_head(conn, "connection failed", TG_HTTP1_CONNECT);
}

static void start_request(tg_http1_conn_t *conn)
{
    tg_upstream_pool_t *pool = conn->pool;
    conn->state = CONN_CONNECTING;
    conn->timeout.cb = on_timeout;
    if (pool->addr_len != 0)
        conn->sock = h2o_socket_connect(pool->loop, (struct sockaddr *)&pool->addr, pool->addr_len, on_connect);
    if (conn->sock == NULL) {
        /* report through the loop: callers are promised no callback before tg_http1_send returns */
        conn->timeout.cb = on_connect_failed_now;
        arm_timeout(conn, &pool->immediate);
        return;
    }
    conn->sock->data = conn;
    arm_timeout(conn, &pool->io_timeout);
}

tg_http1_conn_t *tg_http1_send(tg_upstream_pool_t *pool, h2o_iovec_t head, h2o_iovec_t body, tg_http1_head_cb on_head,
                               tg_http1_body_cb on_body, void *ctx)
{
    tg_http1_conn_t *conn;

    if (!h2o_linklist_is_empty(&pool->idle)) {
        /* most recently used first: the one least likely to have been closed */
        conn = H2O_STRUCT_FROM_MEMBER(tg_http1_conn_t, idle_link, pool->idle.next);
        h2o_linklist_unlink(&conn->idle_link);
        pool->idle_count--;
        conn->reused = true;
    } else {
        /* one allocation per new upstream connection, not per request */
        conn = calloc(1, sizeof(*conn));
        if (conn == NULL)
            return NULL;
        conn->pool = pool;
        conn->timeout.cb = on_timeout;
    }
    conn->bufs[0] = head;
    conn->bufs[1] = body;
    conn->on_head = on_head;
    conn->on_body = on_body;
    conn->ctx = ctx;
    if (conn->reused) {
        conn->timeout.cb = on_timeout;
        send_request(conn);
    } else {
        start_request(conn);
    }
    return conn;
}

void tg_http1_cancel(tg_http1_conn_t *conn)
{
    close_conn(conn);
}

void tg_http1_close_idle(tg_upstream_pool_t *pool)
{
    while (!h2o_linklist_is_empty(&pool->idle))
        close_conn(H2O_STRUCT_FROM_MEMBER(tg_http1_conn_t, idle_link, pool->idle.next));
}
