/* test_http1.c: the upstream HTTP/1.1 client against a scripted server on
 * 127.0.0.1 (port picked by the OS): body framings split across writes,
 * keep-alive reuse, informational heads, and every failure it must report
 * with the right retry reason. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "upstream/http1.h"
#include "upstream/pool.h"

/* ------------------------------------------------------ scripted server */

#define MAX_PIECES 6

typedef struct script {
    const char *pieces[MAX_PIECES]; /* written one by one, 20 ms apart */
    int close_after;                /* close the connection after the pieces */
    int hang;                       /* never answer */
} script_t;

typedef struct server {
    int listen_fd;
    uint16_t port;
    const script_t *scripts;
    int script_count;
    int accepted;
    pthread_t thread;
} server_t;

static int read_request(int fd)
{
    char buf[4096];
    size_t len = 0;
    while (len < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end != NULL && (size_t)(end + 4 - buf) + 2 <= len) /* every test body is 2 bytes */
            return 0;
    }
    return -1;
}

static void *serve(void *arg)
{
    server_t *s = arg;
    int script = 0, fd = -1;
    while (script < s->script_count) {
        if (fd < 0) {
            fd = accept(s->listen_fd, NULL, NULL);
            if (fd < 0)
                return NULL;
            s->accepted++;
        }
        if (read_request(fd) != 0) {
            close(fd);
            fd = -1;
            continue;
        }
        const script_t *sc = &s->scripts[script++];
        if (sc->hang) {
            usleep(400 * 1000);
        } else {
            for (int i = 0; i < MAX_PIECES && sc->pieces[i] != NULL; i++) {
                if (write(fd, sc->pieces[i], strlen(sc->pieces[i])) < 0)
                    break;
                usleep(20 * 1000);
            }
        }
        if (sc->close_after || sc->hang) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void server_start(server_t *s, const script_t *scripts, int count)
{
    memset(s, 0, sizeof(*s));
    s->scripts = scripts;
    s->script_count = count;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(s->listen_fd, 8), 0);
    socklen_t len = sizeof(sin);
    getsockname(s->listen_fd, (struct sockaddr *)&sin, &len);
    s->port = ntohs(sin.sin_port);
    pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(server_t *s)
{
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

/* ------------------------------------------------------------ the client */

typedef struct outcome {
    int heads;
    int status;
    unsigned retry_after;
    const char *head_error;
    tg_http1_failure_t reason;
    char body[1024];
    size_t body_len;
    int done;
    const char *body_error;
    int finished;
} outcome_t;

static bool on_head(void *ctx, const char *errstr, tg_http1_failure_t reason, int status, h2o_iovec_t content_type,
                    unsigned retry_after)
{
    outcome_t *o = ctx;
    o->heads++;
    o->status = status;
    o->retry_after = retry_after;
    o->head_error = errstr;
    o->reason = reason;
    o->finished = errstr != NULL;
    return true;
}

static bool on_body(void *ctx, const char *data, size_t len, bool done, const char *errstr, tg_http1_failure_t reason)
{
    outcome_t *o = ctx;
    if (len != 0)
        memcpy(o->body + o->body_len, data, len);
    o->body_len += len;
    o->done = done;
    o->body_error = errstr;
    if (errstr != NULL)
        o->reason = reason;
    o->finished = done || errstr != NULL;
    return true;
}

typedef struct client {
    h2o_loop_t *loop;
    tg_provider_config_t provider;
    tg_upstream_pool_t pool;
} client_t;

static void client_init(client_t *c, uint16_t port, uint32_t timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->loop = h2o_evloop_create();
    c->provider.name = "test";
    c->provider.host = "127.0.0.1";
    c->provider.port = port;
    c->provider.path_prefix = "";
    c->provider.timeout_ms = timeout_ms;
    tg_upstream_addr_t addr;
    tg_upstream_resolve(&c->provider, &addr);
    assert_int_equal(tg_upstream_pool_init(&c->pool, c->loop, &c->provider, 0, &addr), 0);
}

static void client_free(client_t *c)
{
    tg_upstream_pool_dispose(&c->pool);
    for (int i = 0; i < 3; i++) /* closed sockets are freed by the loop */
        h2o_evloop_run(c->loop, 0);
    h2o_evloop_destroy(c->loop);
}

static void request(client_t *c, outcome_t *o)
{
    static char head[] = "POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n";
    memset(o, 0, sizeof(*o));
    assert_non_null(tg_http1_send(&c->pool, h2o_iovec_init(head, sizeof(head) - 1), h2o_iovec_init("{}", 2), on_head,
                                  on_body, o));
    assert_int_equal(o->heads, 0); /* never a callback before send returns */
    for (int i = 0; i < 200 && !o->finished; i++)
        h2o_evloop_run(c->loop, 10);
    assert_true(o->finished);
}

static void test_framings_and_keep_alive(void **state)
{
    static const script_t scripts[] = {
        {.pieces = {"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel", "lo\r\n", "6\r\n world\r\n0\r",
                    "\n\r\n"}},
        {.pieces = {"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello", " world"}},
        {.pieces = {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok"}},
        {.pieces = {"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil ", "close"}, .close_after = 1},
    };
    server_t s;
    server_start(&s, scripts, 4);
    client_t c;
    client_init(&c, s.port, 1000);
    outcome_t o;

    request(&c, &o);
    assert_int_equal(o.status, 200);
    assert_true(o.done);
    assert_int_equal(o.body_len, 11);
    assert_memory_equal(o.body, "hello world", 11);

    request(&c, &o);
    assert_true(o.done);
    assert_memory_equal(o.body, "hello world", 11);

    request(&c, &o);
    assert_int_equal(o.status, 201);
    assert_int_equal(o.body_len, 2);

    request(&c, &o);
    assert_true(o.done);
    assert_null(o.body_error);
    assert_int_equal(o.body_len, 11);
    assert_memory_equal(o.body, "until close", 11);

    server_stop(&s);
    assert_int_equal(s.accepted, 1); /* one connection carried all four */
    client_free(&c);
}

/* A 429's Retry-After reaches the caller in seconds; an HTTP date, or
 * garbage, is none; a huge delay is capped at a day. */
static void test_retry_after_is_passed_up(void **state)
{
    static const script_t scripts[] = {
        {.pieces = {"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\ncontent-length: 0\r\n\r\n"}},
        {.pieces = {"HTTP/1.1 429 Too Many Requests\r\nretry-after: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
                    "content-length: 0\r\n\r\n"}},
        {.pieces = {"HTTP/1.1 503 Busy\r\nRetry-After: 99999999\r\ncontent-length: 0\r\n\r\n"}},
        {.pieces = {"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"}},
    };
    static const struct { int status; unsigned retry_after; } want[] = {{429, 7}, {429, 0}, {503, 86400}, {200, 0}};
    server_t s;
    server_start(&s, scripts, 4);
    client_t c;
    client_init(&c, s.port, 1000);
    outcome_t o;
    for (size_t i = 0; i < 4; i++) {
        request(&c, &o);
        assert_int_equal(o.status, want[i].status);
        assert_int_equal(o.retry_after, want[i].retry_after);
    }
    server_stop(&s);
    client_free(&c);
}

static void test_failures_carry_their_reason(void **state)
{
    static const script_t scripts[] = {
        {.pieces = {"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf"}, .close_after = 1},
        {.pieces = {"NOT HTTP AT ALL\r\n\r\n"}, .close_after = 1},
        {.close_after = 1},
        {.pieces = {"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"}, .close_after = 1},
        {.hang = 1}, /* last: the server sleeps through it */
    };
    server_t s;
    server_start(&s, scripts, 5);
    client_t c;
    client_init(&c, s.port, 200);
    outcome_t o;

    request(&c, &o); /* body cut short */
    assert_non_null(o.body_error);
    assert_int_equal(o.reason, TG_HTTP1_RESET);

    request(&c, &o); /* garbage head */
    assert_non_null(o.head_error);
    assert_int_equal(o.reason, TG_HTTP1_BAD_RESPONSE);

    request(&c, &o); /* closed without a response */
    assert_non_null(o.head_error);
    assert_int_equal(o.reason, TG_HTTP1_RESET);

    request(&c, &o); /* broken chunk size */
    assert_non_null(o.body_error);
    assert_int_equal(o.reason, TG_HTTP1_BAD_RESPONSE);

    request(&c, &o); /* no answer within timeout_ms */
    assert_non_null(o.head_error);
    assert_int_equal(o.reason, TG_HTTP1_TIMEOUT);

    server_stop(&s);
    client_free(&c);

    /* nobody listening: a connect failure, reported through the loop */
    client_init(&c, s.port, 200);
    request(&c, &o);
    assert_int_equal(o.reason, TG_HTTP1_CONNECT);
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framings_and_keep_alive),
        cmocka_unit_test(test_retry_after_is_passed_up),
        cmocka_unit_test(test_failures_carry_their_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
