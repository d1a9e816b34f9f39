/*
 * tally_http.c - the libevent companion that serves a registry on /metrics
 * and /health from a background thread (see tally_http.h).
 *
 * The event loop belongs to the server's thread alone; tally_http_stop
 * reaches it through a pipe, so libevent needs no thread support compiled
 * in or switched on.
 */
#define _GNU_SOURCE   /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "tally_http.h"

struct tally_http {
    tally_registry *reg;
    struct event_base *base;
    struct evhttp *http;
    struct event *stop_event;
    int stop_pipe[2];
    uint16_t port;
    pthread_t thread;
};

static void free_rendered(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

/* Sends `body` (consumed; may be NULL). libevent 2.1 would send a body
 * even in reply to HEAD, and no Content-Length with it, so HEAD is done
 * here: the length of what GET would send, and no body. */
static void reply(struct evhttp_request *req, int code, const char *reason, struct evbuffer *body)
{
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        char length[32];
        snprintf(length, sizeof(length), "%zu", body != NULL ? evbuffer_get_length(body) : 0);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", length);
        evhttp_send_reply(req, code, reason, NULL);
    } else {
        evhttp_send_reply(req, code, reason, body);
    }
    if (body != NULL)
        evbuffer_free(body);
}

static void send_text(struct evhttp_request *req, int code, const char *reason, const char *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    struct evbuffer *out = evbuffer_new();
    if (out != NULL)
        evbuffer_add(out, body, strlen(body));
    reply(req, code, reason, out);
}

static void serve_metrics(tally_http *srv, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    tally_buf body = { 0 };
    const char *content_type = NULL, *content_encoding = NULL;
    tally_err rc = tally_render_http(srv->reg, evhttp_find_header(in, "Accept"),
                                     evhttp_find_header(in, "Accept-Encoding"), NULL, &body,
                                     &content_type, &content_encoding);
    if (rc != TALLY_OK) {
        tally_buf_free(&body);
        send_text(req, HTTP_INTERNAL, "Internal Server Error", tally_strerror(rc));
        return;
    }
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", content_type);
    if (content_encoding != NULL)
        evhttp_add_header(headers, "Content-Encoding", content_encoding);
    evhttp_add_header(headers, "Vary", "Accept, Accept-Encoding");
    struct evbuffer *out = evbuffer_new();
    /* Hand the rendered bytes to libevent instead of copying them. */
    if (out == NULL || evbuffer_add_reference(out, body.data, body.len, free_rendered, NULL) != 0) {
        tally_buf_free(&body);
        if (out != NULL)
            evbuffer_free(out);
        send_text(req, HTTP_INTERNAL, "Internal Server Error", "out of memory\n");
        return;
    }
    reply(req, HTTP_OK, "OK", out);
}

static void handle_request(struct evhttp_request *req, void *arg)
{
    tally_http *srv = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    bool metrics = path != NULL && strcmp(path, "/metrics") == 0;
    bool health = path != NULL && strcmp(path, "/health") == 0;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (!metrics && !health) {
        send_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
    } else if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        send_text(req, 405, "Method Not Allowed", "method not allowed\n");
    } else if (metrics) {
        serve_metrics(srv, req);
    } else {
        send_text(req, HTTP_OK, "OK", "OK\n");
    }
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void *serve(void *arg)
{
    tally_http *srv = arg;
    event_base_dispatch(srv->base);
    return NULL;
}

static void destroy(tally_http *srv)
{
    if (srv->http != NULL)
        evhttp_free(srv->http);
    if (srv->stop_event != NULL)
        event_free(srv->stop_event);
    if (srv->base != NULL)
        event_base_free(srv->base);
    for (int i = 0; i < 2; i++) {
        if (srv->stop_pipe[i] >= 0)
            close(srv->stop_pipe[i]);
    }
    free(srv);
}

static uint16_t bound_port(struct evhttp_bound_socket *bound)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

tally_http *tally_http_start(tally_registry *reg, const char *addr, uint16_t port,
                             tally_err *err)
{
    tally_err rc = TALLY_ERR_IO;
    tally_http *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        if (err != NULL)
            *err = TALLY_ERR_NOMEM;
        return NULL;
    }
    srv->reg = reg;
    srv->stop_pipe[0] = srv->stop_pipe[1] = -1;
    if (reg == NULL || addr == NULL || pipe2(srv->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail;
    rc = TALLY_ERR_NOMEM;
    srv->base = event_base_new();
    if (srv->base == NULL)
        goto fail;
    srv->http = evhttp_new(srv->base);
    srv->stop_event = event_new(srv->base, srv->stop_pipe[0], EV_READ, on_stop, srv->base);
    if (srv->http == NULL || srv->stop_event == NULL || event_add(srv->stop_event, NULL) != 0)
        goto fail;
    /* Every method reaches handle_request, which answers 405 itself:
     * libevent's own refusal would be a 501. */
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                          EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(srv->http, handle_request, srv);
    rc = TALLY_ERR_IO;
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(srv->http, addr, port);
    if (bound == NULL)
        goto fail;
    srv->port = bound_port(bound);
    if (srv->port == 0 || pthread_create(&srv->thread, NULL, serve, srv) != 0)
        goto fail;
    return srv;
fail:
    destroy(srv);
    if (err != NULL)
        *err = rc;
    return NULL;
}

uint16_t tally_http_port(const tally_http *srv)
{
    return srv->port;
}

void tally_http_stop(tally_http *srv)
{
    if (srv == NULL)
        return;
    ssize_t n;
    do {
        n = write(srv->stop_pipe[1], "x", 1);
    } while (n < 0 && errno == EINTR);
    pthread_join(srv->thread, NULL);
    destroy(srv);
}
