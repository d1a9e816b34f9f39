/*
 * mock-llm server: h2o set-up, one event loop per worker thread, each with
 * its own SO_REUSEPORT listener so that the kernel spreads connections and
 * the threads share nothing but the atomics in faults.c and stats.c.
 *
 * It also owns what needs the loop: request timers (latency, token pacing),
 * held ("hang") requests, and the TCP reset used by the "reset" fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "mock.h"

/* h2o 2.2.5 timeouts have one fixed duration each, so a worker keeps one per
 * distinct delay it has seen. Tests and benchmarks use a handful; past this
 * many, a delay shares the closest existing duration. */
#define DELAYS_MAX 64

struct delay {
    uint32_t ms;
    h2o_timeout_t timeout;
};

struct worker {
    pthread_t thread;
    int listen_fd;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    struct delay delays[DELAYS_MAX];
    size_t delay_count;
    h2o_linklist_t held; /* of struct held */
};

struct mock_timer {
    h2o_timeout_entry_t entry;
    struct worker *worker;
    void (*cb)(void *arg);
    void *arg;
};

struct held {
    h2o_linklist_t link;
    h2o_req_t *req;
};

static h2o_globalconf_t config;
/* Global, so that the loops and everything they reference stay reachable
 * (for LeakSanitizer) when the process exits without tearing h2o down. */
static struct worker *workers;
static unsigned worker_count;
static atomic_int stopping;

/* How often an idle loop checks whether it must stop. */
#define STOP_POLL_MS 100

static struct worker *worker_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(struct worker, ctx, req->conn->ctx);
}

static uint32_t distance(uint32_t a, uint32_t b)
{
    return a > b ? a - b : b - a;
}

static h2o_timeout_t *delay_timeout(struct worker *w, uint32_t ms)
{
    size_t closest = 0;
    for (size_t i = 0; i < w->delay_count; i++) {
        if (w->delays[i].ms == ms)
            return &w->delays[i].timeout;
        if (distance(w->delays[i].ms, ms) < distance(w->delays[closest].ms, ms))
            closest = i;
    }
    if (w->delay_count == DELAYS_MAX)
        return &w->delays[closest].timeout;
    struct delay *d = &w->delays[w->delay_count++];
    d->ms = ms;
    h2o_timeout_init(w->loop, &d->timeout, ms);
    return &d->timeout;
}

static void on_timer(h2o_timeout_entry_t *entry)
{
    struct mock_timer *t = H2O_STRUCT_FROM_MEMBER(struct mock_timer, entry, entry);
    t->cb(t->arg);
}

static void dispose_timer(void *p)
{
    mock_timer_disarm(p);
}

/* Allocated outside the pool (h2o_mem_alloc_shared mallocs) because the
 * dispose hook is what keeps a request that goes away early from being
 * called back; only requests with a delay pay for it. */
struct mock_timer *mock_timer_create(h2o_req_t *req, void (*cb)(void *arg), void *arg)
{
    struct mock_timer *t = h2o_mem_alloc_shared(&req->pool, sizeof(*t), dispose_timer);
    memset(&t->entry, 0, sizeof(t->entry));
    t->entry.cb = on_timer;
    t->worker = worker_of(req);
    t->cb = cb;
    t->arg = arg;
    return t;
}

void mock_timer_arm(struct mock_timer *t, uint32_t delay_ms)
{
    mock_timer_disarm(t);
    h2o_timeout_link(t->worker->loop, delay_timeout(t->worker, delay_ms), &t->entry);
}

void mock_timer_disarm(struct mock_timer *t)
{
    if (h2o_timeout_is_linked(&t->entry))
        h2o_timeout_unlink(&t->entry);
}

static void dispose_held(void *p)
{
    struct held *h = p;
    if (h2o_linklist_is_linked(&h->link))
        h2o_linklist_unlink(&h->link);
}

void mock_server_hold(h2o_req_t *req)
{
    struct held *h = h2o_mem_alloc_shared(&req->pool, sizeof(*h), dispose_held);
    memset(&h->link, 0, sizeof(h->link));
    h->req = req;
    h2o_linklist_insert(&worker_of(req)->held, &h->link);
}

void mock_server_reset_connection(h2o_req_t *req)
{
    static h2o_generator_t no_body = {NULL, NULL};
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock != NULL) {
        /* connect(AF_UNSPEC) makes Linux abort the connection: it sends an
         * RST at once and leaves the socket unconnected, so the response
         * h2o then tries to write fails and h2o closes the connection. */
        struct sockaddr unspec = {.sa_family = AF_UNSPEC};
        connect(h2o_socket_get_fd(sock), &unspec, sizeof(unspec));
    }
    req->res.status = 500;
    req->http1_is_persistent = 0;
    h2o_start_response(req, &no_body);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct worker *w = listener->data;
    if (err != NULL)
        return;
    /* Drain the backlog: a benchmark opens its connections in a burst. */
    h2o_socket_t *sock;
    while ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(&w->accept_ctx, sock);
}

/* Answers the requests still held, with a reset, so their clients are not
 * left waiting on a process that is gone. */
static void release_held(struct worker *w)
{
    while (!h2o_linklist_is_empty(&w->held)) {
        struct held *h = H2O_STRUCT_FROM_MEMBER(struct held, link, w->held.next);
        h2o_linklist_unlink(&h->link);
        mock_server_reset_connection(h->req);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load_explicit(&stopping, memory_order_relaxed))
        h2o_evloop_run(w->loop, STOP_POLL_MS);
    release_held(w);
    h2o_evloop_run(w->loop, 0);
    return NULL;
}

static int open_listener(const struct sockaddr *addr, socklen_t addrlen)
{
    int on = 1;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 || bind(fd, addr, addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Opens one listener per worker on the same address; with port 0 the first
 * one picks the port and the others join it. */
static int open_listeners(const struct mock_server_options *o, uint16_t *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)o->port);
    int rc = getaddrinfo(o->host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "mock-llm: cannot resolve %s: %s\n", o->host, gai_strerror(rc));
        return -1;
    }
    struct sockaddr_storage addr;
    socklen_t addrlen = ai->ai_addrlen;
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);

    for (unsigned i = 0; i < worker_count; i++) {
        if ((workers[i].listen_fd = open_listener((struct sockaddr *)&addr, addrlen)) == -1) {
            fprintf(stderr, "mock-llm: cannot listen on %s:%u: %s\n", o->host, (unsigned)o->port, strerror(errno));
            return -1;
        }
        if (i == 0) {
            getsockname(workers[0].listen_fd, (struct sockaddr *)&addr, &addrlen);
            *bound_port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                           : ((struct sockaddr_in *)&addr)->sin_port);
        }
    }
    return 0;
}

/* Written beside and renamed, so that a test polling for the file never
 * reads it half-written. */
static int write_port_file(const char *path, uint16_t port)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    int ok = fprintf(f, "%u\n", (unsigned)port) > 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

static void setup_config(void)
{
    h2o_config_init(&config);
    config.server_name = h2o_iovec_init(H2O_STRLIT("mock-llm"));
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = mock_handle_request;
}

static void setup_worker(struct worker *w)
{
    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &config);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = config.hosts;
    h2o_linklist_init_anchor(&w->held);
    w->listener = h2o_evloop_socket_create(w->loop, w->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    w->listener->data = w;
    h2o_socket_read_start(w->listener, on_accept);
}

int mock_server_run(const struct mock_server_options *o)
{
    worker_count = o->threads;
    workers = calloc(worker_count, sizeof(*workers));
    if (workers == NULL) {
        fprintf(stderr, "mock-llm: out of memory\n");
        return -1;
    }
    uint16_t port = o->port;
    if (open_listeners(o, &port) != 0)
        return -1;

    /* The workers inherit this mask: only the main thread takes SIGTERM and
     * SIGINT (in sigwait), and no thread dies of SIGPIPE on a reset peer. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    setup_config();
    for (unsigned i = 0; i < worker_count; i++) {
        setup_worker(&workers[i]);
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "mock-llm: cannot start thread %u\n", i);
            return -1;
        }
    }

    if (o->port_file != NULL && write_port_file(o->port_file, port) != 0) {
        fprintf(stderr, "mock-llm: cannot write %s: %s\n", o->port_file, strerror(errno));
        return -1;
    }
    int ipv6 = strchr(o->host, ':') != NULL;
    printf("mock-llm listening on %s%s%s:%u\n", ipv6 ? "[" : "", o->host, ipv6 ? "]" : "", (unsigned)port);
    fflush(stdout);

    int sig;
    sigwait(&stop_signals, &sig);
    atomic_store_explicit(&stopping, 1, memory_order_relaxed);
    for (unsigned i = 0; i < worker_count; i++)
        pthread_join(workers[i].thread, NULL);
    return 0;
}
