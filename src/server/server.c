/* server.c: process-level server lifecycle. The main thread binds one
 * SO_REUSEPORT listener per worker (so the kernel spreads connections and
 * workers share no accept lock), starts the workers, then turns signals
 * into messages to the workers' loops: reload (a new snapshot) or stop. */
#include "server/server.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "obs/log.h"
#include "server/worker.h"
#include "upstream/call.h"

/* Bodies beyond this are refused by h2o itself (plain 413) before the
 * handler can send the OpenAI-shaped one; below it the handler decides. */
#define H2O_ENTITY_LIMIT_MIN (16u << 20)

typedef enum control_kind { CONTROL_RELOAD, CONTROL_STOP } control_kind_t;

typedef struct control_msg {
    h2o_multithread_message_t super;
    control_kind_t kind;
    tg_snapshot_t *snap; /* RELOAD: a reference for the worker */
} control_msg_t;

/* ------------------------------------------------------- worker snapshots */

static tg_worker_snap_t *worker_snap_new(tg_worker_t *w, tg_snapshot_t *snap)
{
    const tg_config *cfg = snap->cfg;
    tg_worker_snap_t *ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return NULL;
    ws->pools = calloc(cfg->provider_count ? cfg->provider_count : 1, sizeof(*ws->pools));
    if (ws->pools == NULL) {
        free(ws);
        return NULL;
    }
    for (; ws->pool_count < cfg->provider_count; ws->pool_count++) {
        if (tg_upstream_pool_init(&ws->pools[ws->pool_count], w->ctx.loop, &cfg->providers[ws->pool_count],
                                  ws->pool_count, &snap->addrs[ws->pool_count]) != 0) {
            while (ws->pool_count-- > 0)
                tg_upstream_pool_dispose(&ws->pools[ws->pool_count]);
            free(ws->pools);
            free(ws);
            return NULL;
        }
    }
    h2o_timeout_init(w->ctx.loop, &ws->deadline, cfg->server.request_timeout_ms);
    ws->snap = snap;
    return ws;
}

static void worker_snap_free(tg_worker_t *w, tg_worker_snap_t *ws)
{
    for (size_t i = 0; i < ws->pool_count; i++)
        tg_upstream_pool_dispose(&ws->pools[i]);
    h2o_timeout_dispose(w->ctx.loop, &ws->deadline);
    tg_snapshot_release(ws->snap);
    free(ws->pools);
    free(ws);
}

static void retire_if_idle(tg_worker_t *w, tg_worker_snap_t *ws)
{
    if (ws == w->current || ws->inflight != 0)
        return;
    for (tg_worker_snap_t **p = &w->retired; *p != NULL; p = &(*p)->next_retired) {
        if (*p == ws) {
            *p = ws->next_retired;
            break;
        }
    }
    worker_snap_free(w, ws);
}

void tg_worker_request_done(tg_worker_t *w, tg_worker_snap_t *ws)
{
    ws->inflight--;
    w->inflight--;
    retire_if_idle(w, ws);
}

/* ------------------------------------------------------------ the worker */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *accept_ctx = listener->data;
    h2o_socket_t *sock;

    if (err != NULL)
        return;
    if ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(accept_ctx, sock);
}

/* Tells the main thread this worker has handled a reload message, so that
 * "configuration reloaded" is only logged once every worker serves it. */
static void ack_reload(tg_server_t *server)
{
    pthread_mutex_lock(&server->stop_lock);
    server->reloaded++;
    pthread_cond_broadcast(&server->stop_cond);
    pthread_mutex_unlock(&server->stop_lock);
}

static void apply_reload(tg_worker_t *w, tg_snapshot_t *snap)
{
    tg_worker_snap_t *ws = worker_snap_new(w, snap);
    if (ws == NULL) {
        tg_log(TG_LOG_ERROR, "server", "worker %u: cannot set up upstream pools; keeping the previous configuration",
               w->index);
        tg_snapshot_release(snap);
        ack_reload(w->server);
        return;
    }
    tg_worker_snap_t *old = w->current;
    w->current = ws;
    old->next_retired = w->retired;
    w->retired = old;
    retire_if_idle(w, old);
    ack_reload(w->server);
}

static void close_listener(h2o_socket_t **listener)
{
    if (*listener == NULL)
        return;
    h2o_socket_read_stop(*listener);
    h2o_socket_close(*listener);
    *listener = NULL;
}

static h2o_socket_t *open_listener(tg_worker_t *w, int fd, h2o_accept_ctx_t *accept_ctx)
{
    h2o_socket_t *listener = h2o_evloop_socket_create(w->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    listener->data = accept_ctx;
    h2o_socket_read_start(listener, on_accept);
    return listener;
}

static void begin_stop(tg_worker_t *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    w->stop_deadline_ms = h2o_now(w->ctx.loop) + w->current->snap->cfg->server.request_timeout_ms;
    close_listener(&w->listener);
    close_listener(&w->metrics_listener);
    /* closes idle keep-alive connections; busy ones close after their response */
    h2o_context_request_shutdown(&w->ctx);
}

static void on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    tg_worker_t *w = H2O_STRUCT_FROM_MEMBER(tg_worker_t, control, receiver);

    while (!h2o_linklist_is_empty(messages)) {
        control_msg_t *msg = H2O_STRUCT_FROM_MEMBER(control_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&msg->super.link);
        if (msg->kind == CONTROL_RELOAD)
            apply_reload(w, msg->snap);
        else
            begin_stop(w);
        free(msg);
    }
}

/* Runs on the main thread before the worker's thread exists: anything that
 * can fail is set up here, where failing is simple. */
static int worker_init(tg_worker_t *w, tg_snapshot_t *snap)
{
    tg_server_t *server = w->server;

    h2o_context_init(&w->ctx, h2o_evloop_create(), &server->globalconf);
    h2o_multithread_register_receiver(w->ctx.queue, &w->control, on_control);
    h2o_timeout_init(w->ctx.loop, &w->immediate, 0);
    tg_rng_seed(&w->rng);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = server->api_hosts;
    w->metrics_accept_ctx.ctx = &w->ctx;
    w->metrics_accept_ctx.hosts = server->metrics_hosts;
    tg_snapshot_retain(snap);
    if ((w->current = worker_snap_new(w, snap)) == NULL) {
        tg_snapshot_release(snap);
        return -1;
    }
    w->listener = open_listener(w, w->listen_fd, &w->accept_ctx);
    if (w->metrics_fd >= 0)
        w->metrics_listener = open_listener(w, w->metrics_fd, &w->metrics_accept_ctx);
    return 0;
}

/* A drained worker reports to the main thread and then stays parked until
 * the process exits: h2o keeps recycled memory in thread-local free lists
 * that would be lost (and reported as leaks) if the thread ended. */
static void park_stopped_worker(tg_server_t *server)
{
    pthread_mutex_lock(&server->stop_lock);
    server->stopped++;
    pthread_cond_broadcast(&server->stop_cond);
    for (;;)
        pthread_cond_wait(&server->stop_cond, &server->stop_lock);
}

static void wait_for_workers(tg_server_t *server)
{
    pthread_mutex_lock(&server->stop_lock);
    while (server->stopped < server->worker_count)
        pthread_cond_wait(&server->stop_cond, &server->stop_lock);
    pthread_mutex_unlock(&server->stop_lock);
}

static void *worker_main(void *arg)
{
    tg_worker_t *w = arg;
    tg_server_t *server = w->server;

    atomic_fetch_add(&server->started, 1);

    /* The lines of one loop iteration (the access lines of every request
     * finished in it) go out in one write(2), after the iteration and before
     * the loop may block again: see tg_log_flush(). */
    tg_log_batch_start();
    while (!w->stopping || (w->inflight != 0 && h2o_now(w->ctx.loop) < w->stop_deadline_ms)) {
        h2o_evloop_run(w->ctx.loop, w->stopping ? 50 : INT32_MAX);
        tg_log_flush();
    }
    tg_log_batch_stop();

    if (w->inflight != 0) {
        tg_log(TG_LOG_WARN, "server", "worker %u: %zu requests still running at the shutdown deadline", w->index,
               w->inflight);
        park_stopped_worker(server); /* their state stays referenced from the loop */
    }
    while (w->retired != NULL)
        retire_if_idle(w, w->retired); /* all idle: inflight is 0 */
    tg_worker_snap_t *last = w->current;
    w->current = NULL;
    worker_snap_free(w, last);
    h2o_timeout_dispose(w->ctx.loop, &w->immediate);
    park_stopped_worker(server);
    return NULL;
}

/* ------------------------------------------------------------- listeners */

static int bind_listener(const char *host, uint16_t *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    char port_text[8];
    snprintf(port_text, sizeof(port_text), "%u", *port);
    int rc = getaddrinfo(host, port_text, &hints, &res);
    if (rc != 0) {
        tg_log(TG_LOG_ERROR, "server", "cannot resolve listen address %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        tg_log(TG_LOG_ERROR, "server", "cannot listen on %s:%u: %s", host, *port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    if (*port == 0) { /* the others must join the port the kernel picked */
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &len);
        *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}

/* --------------------------------------------------------------- control */

static void broadcast(tg_server_t *server, control_kind_t kind, tg_snapshot_t *snap)
{
    for (unsigned i = 0; i < server->worker_count; i++) {
        control_msg_t *msg = calloc(1, sizeof(*msg));
        if (msg == NULL) {
            tg_log(TG_LOG_ERROR, "server", "out of memory signalling worker %u", i);
            continue;
        }
        msg->kind = kind;
        if (snap != NULL) {
            tg_snapshot_retain(snap);
            msg->snap = snap;
        }
        h2o_multithread_send_message(&server->workers[i].control, &msg->super);
    }
}

/* Waits (at most 5 s: a worker's loop never blocks, so this is a safety
 * bound, not an expected wait) until every worker has taken the reload. */
static bool wait_for_reload(tg_server_t *server)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&server->stop_lock);
    while (server->reloaded < server->worker_count)
        if (pthread_cond_timedwait(&server->stop_cond, &server->stop_lock, &deadline) != 0)
            break;
    bool all = server->reloaded >= server->worker_count;
    pthread_mutex_unlock(&server->stop_lock);
    return all;
}

static void reload(tg_server_t *server)
{
    char *err = NULL;
    tg_config *cfg = tg_config_load(server->config_path, &err);
    if (cfg == NULL) {
        tg_log(TG_LOG_ERROR, "config", "reload failed, keeping the running configuration: %s", err ? err : "unknown error");
        free(err);
        return;
    }
    const obs_view *view = obs_bind(server->obs, cfg);
    tg_snapshot_t *snap = view != NULL ? tg_snapshot_new(cfg, view) : NULL;
    if (snap == NULL) {
        tg_log(TG_LOG_ERROR, "config", "reload failed: out of memory");
        tg_config_free(cfg);
        return;
    }
    tg_log_configure(2, cfg->logging.format, cfg->logging.level);
    pthread_mutex_lock(&server->stop_lock);
    server->reloaded = 0;
    pthread_mutex_unlock(&server->stop_lock);
    broadcast(server, CONTROL_RELOAD, snap);
    tg_snapshot_release(server->current);
    server->current = snap;
    bool all = wait_for_reload(server);
    tg_log(all ? TG_LOG_INFO : TG_LOG_WARN, "config", all ? "configuration reloaded from %s"
           : "configuration reloaded from %s, but not every worker confirmed within 5 s", server->config_path);
}

static void log_listening(const char *what, const char *host, uint16_t port)
{
    tg_log(TG_LOG_INFO, "server", strchr(host, ':') ? "%s on http://[%s]:%u" : "%s on http://%s:%u", what, host, port);
}

static int start_workers(tg_server_t *server, tg_config *cfg)
{
    uint16_t port = cfg->server.port, metrics_port = cfg->metrics.listen_port;
    for (unsigned i = 0; i < server->worker_count; i++) {
        tg_worker_t *w = &server->workers[i];
        w->server = server;
        w->index = i;
        w->metrics_fd = -1;
        if ((w->listen_fd = bind_listener(cfg->server.host, &port)) < 0)
            return -1;
    }
    if (cfg->metrics.has_listen &&
        (server->workers[0].metrics_fd = bind_listener(cfg->metrics.listen_host, &metrics_port)) < 0)
        return -1;
    for (unsigned i = 0; i < server->worker_count; i++) {
        if (worker_init(&server->workers[i], server->current) != 0) {
            tg_log(TG_LOG_ERROR, "server", "cannot set up worker %u (upstream pools)", i);
            return -1;
        }
    }
    for (unsigned i = 0; i < server->worker_count; i++) {
        if (pthread_create(&server->workers[i].thread, NULL, worker_main, &server->workers[i]) != 0) {
            tg_log(TG_LOG_ERROR, "server", "cannot start worker thread %u", i);
            return -1;
        }
    }
    while (atomic_load(&server->started) < server->worker_count)
        usleep(1000);
    log_listening("listening", cfg->server.host, port);
    if (cfg->metrics.has_listen)
        log_listening("metrics served", cfg->metrics.listen_host, metrics_port);
    return 0;
}

int tg_server_run(const char *config_path, tg_config *cfg)
{
    static tg_server_t server; /* one per process: signals are process-wide */
    int status = 1;

    tg_log_configure(2, cfg->logging.format, cfg->logging.level);
    signal(SIGPIPE, SIG_IGN);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    /* blocked before any thread starts, so only sigwait() below sees them */
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    server.config_path = config_path;
    pthread_mutex_init(&server.stop_lock, NULL);
    pthread_cond_init(&server.stop_cond, NULL);
    char *err = NULL;
    tg_obs_opts opts = {.metric_namespace = cfg->metrics.metric_namespace, .version = TOLLGATE_VERSION,
                        .revision = TOLLGATE_REVISION};
    server.obs = tg_obs_new(&opts, &err);
    if (server.obs == NULL) {
        tg_log(TG_LOG_ERROR, "server", "cannot create the metric registry: %s", err ? err : "unknown error");
        free(err);
        tg_config_free(cfg);
        return 1;
    }
    const obs_view *view = obs_bind(server.obs, cfg);
    server.current = view != NULL ? tg_snapshot_new(cfg, view) : NULL;
    if (server.current == NULL) {
        tg_log(TG_LOG_ERROR, "server", "out of memory at start");
        tg_config_free(cfg);
        goto Exit;
    }

    h2o_config_init(&server.globalconf);
    server.globalconf.server_name = h2o_iovec_init(H2O_STRLIT("tollgate/" TOLLGATE_VERSION));
    server.globalconf.max_request_entity_size =
        cfg->server.max_body_bytes * 4 > H2O_ENTITY_LIMIT_MIN ? cfg->server.max_body_bytes * 4 : H2O_ENTITY_LIMIT_MIN;
    server.globalconf.http1.req_timeout = cfg->server.header_timeout_ms;
    server.globalconf.http2.idle_timeout = cfg->server.header_timeout_ms;
    /* two hosts of one global config, each listener routed to its own */
    server.api_hosts[0] = h2o_config_register_host(&server.globalconf, h2o_iovec_init(H2O_STRLIT("api")), 65535);
    server.metrics_hosts[0] = h2o_config_register_host(&server.globalconf, h2o_iovec_init(H2O_STRLIT("metrics")), 65535);
    tg_handler_register(server.api_hosts[0], false);
    tg_handler_register(server.metrics_hosts[0], true);

    server.worker_count = cfg->server.workers ? cfg->server.workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    server.workers = calloc(server.worker_count, sizeof(*server.workers));
    if (server.workers == NULL || start_workers(&server, cfg) != 0)
        return 1; /* threads may run: leave everything to exit() */
    atomic_store(&server.accepting, true);

    for (;;) {
        int sig;
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(&server);
            continue;
        }
        tg_log(TG_LOG_INFO, "server", "%s received: draining in-flight requests", sig == SIGINT ? "SIGINT" : "SIGTERM");
        atomic_store(&server.accepting, false);
        broadcast(&server, CONTROL_STOP, NULL);
        wait_for_workers(&server);
        tg_log(TG_LOG_INFO, "server", "stopped");
        status = 0;
        break;
    }

Exit:
    /* workers are parked or were never started; their loops are left to exit() */
    tg_snapshot_release(server.current);
    tg_obs_free(server.obs);
    return status;
}
