/* server.c: process-level server lifecycle. The main thread binds one
 * SO_REUSEPORT listener per worker (so the kernel spreads connections and
 * workers share no accept lock), starts the workers, then turns signals
 * into messages to the workers' loops: reload (a new snapshot) or stop.
 *
 * Everything h2o owns per loop (the loop, the context, its message queue,
 * the listeners, h2o's configuration) is created on the worker's own
 * thread: h2o 2.2.5 gives every socket the buffer prototype of the thread
 * that created it, a thread-local recycling allocator with no lock, so a
 * loop built on the main thread would share the main thread's allocator
 * between workers (the reload crash of 2 workers). */
#include "server/server.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "obs/log.h"
#include "pipeline/runner.h"
#include "server/linger.h"
#include "server/worker.h"
#include "store/key_hash.h"
#include "upstream/call.h"

#define STOP_GRACE_MS 1000

/* How long a listener rests after accept(2) ran out of descriptors. */
#define ACCEPT_PAUSE_MS 100
/* The kernel receive buffer of client connections (accepted sockets take
 * the listener's). h2o 2.2.5 reads a socket until it is empty before it
 * checks the body limit, so with the kernel's autotuning (up to tcp_rmem's
 * maximum, 32 MB here) one fast uploader made it hold 14 times a 1 MB
 * limit for a moment; this caps a read. 256 KB still carries a 1 MB body
 * across a 100 ms round trip in under half a second. */
#define CLIENT_RCVBUF (256 * 1024)

typedef enum control_kind { CONTROL_RELOAD, CONTROL_STOP } control_kind_t;

typedef struct control_msg {
    h2o_multithread_message_t super;
    control_kind_t kind;
    tg_snapshot_t *snap; /* RELOAD: a reference for the worker */
} control_msg_t;

/* ------------------------------------------------------- worker snapshots */

static tg_worker_snap_t *worker_snap_new(tg_worker_t *w, tg_snapshot_t *snap)
{
    const tg_config_t *cfg = snap->cfg;
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

/* h2o's body limit, one past ours: h2o then refuses a declared
 * Content-Length over the limit before reading the body, and a chunked
 * body as soon as it passes it (its check is >=); a body of exactly the
 * limit reaches the handler. */
static void apply_body_limit(tg_worker_t *w, const tg_config_t *cfg)
{
    w->globalconf.max_request_entity_size = cfg->server.max_body_bytes + 1;
}

static void on_accept(h2o_socket_t *sock, const char *err);

static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    tg_listener_t *l = H2O_STRUCT_FROM_MEMBER(tg_listener_t, resume, entry);
    h2o_socket_read_start(l->sock, on_accept);
}

/* accept(2) failed for want of a descriptor. The connection stays in the
 * kernel's backlog and the listener stays readable, so reading on would
 * spin the loop at 100% CPU: rest the listener instead and retry after
 * ACCEPT_PAUSE_MS, when a closing connection may have freed one. */
static void pause_accepting(tg_listener_t *l, int error)
{
    tg_worker_t *w = l->worker;
    uint64_t now = h2o_now(w->ctx.loop);
    if (w->accept_pause_logged_ms == 0) {
        tg_log(TG_LOG_ERROR, "server",
               "worker %u: out of file descriptors (%s): accepting paused %d ms at a time until some free up",
               w->index, strerror(error), ACCEPT_PAUSE_MS);
        w->accept_pause_logged_ms = now;
    } else if (now - w->accept_pause_logged_ms >= 60000) {
        tg_log(TG_LOG_ERROR, "server", "worker %u: still out of file descriptors (%s): %llu pauses in the last minute",
               w->index, strerror(error), (unsigned long long)w->accept_pauses + 1);
        w->accept_pause_logged_ms = now;
        w->accept_pauses = 0;
    } else {
        w->accept_pauses++;
    }
    h2o_socket_read_stop(l->sock);
    h2o_timeout_link(w->ctx.loop, &w->accept_pause, &l->resume);
}

static void on_accept(h2o_socket_t *sock, const char *err)
{
    tg_listener_t *l = sock->data;
    h2o_socket_t *conn;

    if (err != NULL)
        return;
    if ((conn = h2o_evloop_socket_accept(sock)) != NULL) {
        h2o_accept(&l->accept_ctx, conn);
        return;
    }
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        pause_accepting(l, errno);
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
    apply_body_limit(w, snap->cfg);
    old->next_retired = w->retired;
    w->retired = old;
    retire_if_idle(w, old);
    ack_reload(w->server);
}

static void close_listener(tg_listener_t *l)
{
    if (l->sock == NULL)
        return;
    if (h2o_timeout_is_linked(&l->resume))
        h2o_timeout_unlink(&l->resume);
    h2o_socket_read_stop(l->sock);
    h2o_socket_close(l->sock);
    l->sock = NULL;
}

static void open_listener(tg_worker_t *w, tg_listener_t *l, h2o_hostconf_t **hosts)
{
    l->worker = w;
    l->accept_ctx.ctx = &w->ctx;
    l->accept_ctx.hosts = hosts;
    l->resume.cb = on_accept_resume;
    l->sock = h2o_evloop_socket_create(w->ctx.loop, l->fd, H2O_SOCKET_FLAG_DONT_READ);
    l->sock->data = l;
    h2o_socket_read_start(l->sock, on_accept);
}

static void begin_stop(tg_worker_t *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    /* a request cut at its own timeout still writes its ledger row (a store
     * round trip) before it answers: a second of grace beyond the timeout */
    w->stop_deadline_ms = h2o_now(w->ctx.loop) + w->current->snap->cfg->server.request_timeout_ms + STOP_GRACE_MS;
    close_listener(&w->api);
    close_listener(&w->metrics);
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

/* The worker's own h2o configuration: two hosts, each listener routed to
 * its own. One per worker so that a reload can change the body limit from
 * the worker's thread, the only one that reads it. */
static void configure_h2o(tg_worker_t *w, const tg_config_t *cfg)
{
    h2o_globalconf_t *gc = &w->globalconf;
    h2o_config_init(gc);
    gc->server_name = h2o_iovec_init(H2O_STRLIT("tollgate/" TOLLGATE_VERSION));
    gc->http1.req_timeout = cfg->server.header_timeout_ms;
    gc->http2.idle_timeout = cfg->server.header_timeout_ms;
    w->api_hosts[0] = h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("api")), 65535);
    w->metrics_hosts[0] = h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("metrics")), 65535);
    tg_handler_register(w->api_hosts[0], false);
    tg_handler_register(w->metrics_hosts[0], true);
    apply_body_limit(w, cfg);
}

/* Runs on the worker's thread, before its loop (see the top of the file). */
static int worker_init(tg_worker_t *w, tg_snapshot_t *snap)
{
    configure_h2o(w, snap->cfg);
    h2o_context_init(&w->ctx, h2o_evloop_create(), &w->globalconf);
    h2o_multithread_register_receiver(w->ctx.queue, &w->control, on_control);
    h2o_multithread_register_receiver(w->ctx.queue, &w->answers, tg_wait_on_answers);
    tg_store_client_open(&w->store, w->server->store, w->ctx.queue);
    h2o_timeout_init(w->ctx.loop, &w->immediate, 0);
    h2o_timeout_init(w->ctx.loop, &w->accept_pause, ACCEPT_PAUSE_MS);
    h2o_timeout_init(w->ctx.loop, &w->linger_timeout, TG_LINGER_MS);
    h2o_linklist_init_anchor(&w->lingering);
    tg_rng_seed(&w->rng);
    tg_snapshot_retain(snap);
    if ((w->current = worker_snap_new(w, snap)) == NULL) {
        tg_snapshot_release(snap);
        return -1;
    }
    open_listener(w, &w->api, w->api_hosts);
    if (w->metrics.fd >= 0)
        open_listener(w, &w->metrics, w->metrics_hosts);
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

/* Tells the main thread whether this worker could set itself up. */
static void report_started(tg_server_t *server, bool ok)
{
    pthread_mutex_lock(&server->stop_lock);
    if (ok)
        server->started++;
    else
        server->failed++;
    pthread_cond_broadcast(&server->stop_cond);
    pthread_mutex_unlock(&server->stop_lock);
}

static void *worker_main(void *arg)
{
    tg_worker_t *w = arg;
    tg_server_t *server = w->server;

    if (worker_init(w, server->current) != 0) {
        tg_log(TG_LOG_ERROR, "server", "cannot set up worker %u (upstream pools)", w->index);
        report_started(server, false);
        return NULL;
    }
    report_started(server, true);

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
    h2o_timeout_dispose(w->ctx.loop, &w->accept_pause);
    tg_linger_close_all(w);
    h2o_timeout_dispose(w->ctx.loop, &w->linger_timeout);
    tg_store_client_close(&w->store);
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
    int on = 1, rcvbuf = CLIENT_RCVBUF;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
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
    tg_config_t *cfg = tg_config_load(server->config_path, &err);
    if (cfg == NULL) {
        tg_log(TG_LOG_ERROR, "config", "reload failed, keeping the running configuration: %s", err ? err : "unknown error");
        free(err);
        return;
    }
    const tg_health_view_t *health = tg_health_bind(server->health, cfg);
    const tg_obs_view_t *view = health != NULL ? tg_obs_bind(server->obs, cfg, health) : NULL;
    tg_snapshot_t *snap = view != NULL ? tg_snapshot_new(cfg, view, health) : NULL;
    if (snap == NULL) {
        tg_log(TG_LOG_ERROR, "config", "reload failed: out of memory");
        tg_config_free(cfg);
        return;
    }
    tg_log_configure(2, cfg->logging.format, cfg->logging.level);
    tg_log_set_scrape_level(cfg->logging.metrics_scrapes);
    const tg_config_t *running = server->current->cfg;
    if (strcmp(cfg->store.driver, running->store.driver) != 0 || strcmp(cfg->store.path, running->store.path) != 0 ||
        cfg->store.synchronous_full != running->store.synchronous_full ||
        strcmp(cfg->ledger.spool_path, running->ledger.spool_path) != 0 ||
        strcmp(cfg->ledger.journal_path, running->ledger.journal_path) != 0 ||
        cfg->ledger.queue_size != running->ledger.queue_size || cfg->ledger.flush_ms != running->ledger.flush_ms ||
        cfg->ledger.batch_max != running->ledger.batch_max)
        tg_log(TG_LOG_WARN, "config", "store and ledger settings are read at start only: the running store is kept "
                                      "(restart to change it)");
    if (cfg->tracing.enabled != running->tracing.enabled || strcmp(cfg->tracing.endpoint, running->tracing.endpoint) != 0 ||
        strcmp(cfg->tracing.headers, running->tracing.headers) != 0)
        tg_log(TG_LOG_WARN, "config", "tracing settings are read at start only: the running exporter is kept "
                                      "(restart to change it)");
    pthread_mutex_lock(&server->stop_lock);
    server->reloaded = 0;
    pthread_mutex_unlock(&server->stop_lock);
    broadcast(server, CONTROL_RELOAD, snap);
    tg_snapshot_release(server->current);
    server->current = snap;
    tg_housekeeping_set_snapshot(server->housekeeping, snap);
    if (server->store != NULL)
        tg_store_thread_reconfigure(server->store, snap->cfg);
    bool all = wait_for_reload(server);
    tg_log(all ? TG_LOG_INFO : TG_LOG_WARN, "config", all ? "configuration reloaded from %s"
           : "configuration reloaded from %s, but not every worker confirmed within 5 s", server->config_path);
}

static void log_listening(const char *what, const char *host, uint16_t port)
{
    tg_log(TG_LOG_INFO, "server", strchr(host, ':') ? "%s on http://[%s]:%u" : "%s on http://%s:%u", what, host, port);
}

static int start_workers(tg_server_t *server, tg_config_t *cfg)
{
    uint16_t port = cfg->server.port, metrics_port = cfg->metrics.listen_port;
    for (unsigned i = 0; i < server->worker_count; i++) {
        tg_worker_t *w = &server->workers[i];
        w->server = server;
        w->index = i;
        w->metrics.fd = -1;
        if ((w->api.fd = bind_listener(cfg->server.host, &port)) < 0)
            return -1;
    }
    if (cfg->metrics.has_listen &&
        (server->workers[0].metrics.fd = bind_listener(cfg->metrics.listen_host, &metrics_port)) < 0)
        return -1;
    unsigned created = 0;
    for (; created < server->worker_count; created++) {
        if (pthread_create(&server->workers[created].thread, NULL, worker_main, &server->workers[created]) != 0) {
            tg_log(TG_LOG_ERROR, "server", "cannot start worker thread %u", created);
            break;
        }
    }
    pthread_mutex_lock(&server->stop_lock);
    while (server->started + server->failed < created)
        pthread_cond_wait(&server->stop_cond, &server->stop_lock);
    bool all = server->started == server->worker_count;
    pthread_mutex_unlock(&server->stop_lock);
    if (!all)
        return -1;
    log_listening("listening", cfg->server.host, port);
    if (cfg->metrics.has_listen)
        log_listening("metrics served", cfg->metrics.listen_host, metrics_port);
    return 0;
}

/* A gateway holds two descriptors per proxied request (client and
 * upstream) and more for idle keep-alive connections: the usual soft limit
 * of 1,024 is reached at a few hundred clients. Take the hard limit. */
static void raise_descriptor_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t was = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            tg_log(TG_LOG_WARN, "server", "cannot raise the descriptor limit from %llu to %llu: %s",
                   (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
            return;
        }
        tg_log(TG_LOG_INFO, "server", "descriptor limit raised from %llu to %llu (the hard limit)",
               (unsigned long long)was, (unsigned long long)rl.rlim_cur);
        return;
    }
    tg_log(TG_LOG_INFO, "server", "descriptor limit %llu (already the hard limit)", (unsigned long long)was);
}

/* The store thread, the admin key, and the warnings a user must see. */
static int start_store(tg_server_t *server, const tg_config_t *cfg)
{
    if (cfg->auth.allow_anonymous)
        tg_log(TG_LOG_WARN, "auth", "anonymous access is on (auth.allow_anonymous): requests without an API key "
                                    "are served as org \"anonymous\"");
    const char *admin_key = getenv("TOLLGATE_ADMIN_KEY");
    if (!tg_config_has_store(cfg)) {
        tg_log(TG_LOG_WARN, "store", "store.driver is none: no API keys, no usage ledger, no admin API");
        return 0;
    }
    char *err = NULL;
    if ((server->limits = tg_limit_registry_new()) == NULL) {
        tg_log(TG_LOG_ERROR, "store", "out of memory at start");
        return -1;
    }
    server->store = tg_store_thread_start(cfg, server->obs, server->limits, &err);
    if (server->store == NULL) {
        tg_log(TG_LOG_ERROR, "store", "cannot open the store %s: %s", cfg->store.path, err ? err : "unknown error");
        free(err);
        return -1;
    }
    tg_log(TG_LOG_INFO, "store", "store: sqlite %s (synchronous %s); ledger journal %s (%u rows), spool %s",
           cfg->store.path, cfg->store.synchronous_full ? "full" : "normal", cfg->ledger.journal_path,
           cfg->ledger.queue_size, cfg->ledger.spool_path);
    if (admin_key == NULL || admin_key[0] == '\0') {
        tg_log(TG_LOG_INFO, "admin", "the admin API is off: TOLLGATE_ADMIN_KEY is not set");
    } else if (strlen(admin_key) < 16) {
        tg_log(TG_LOG_ERROR, "admin", "the admin API is off: TOLLGATE_ADMIN_KEY must be at least 16 characters");
    } else {
        tg_log_add_secret(admin_key);
        tg_key_hash(admin_key, strlen(admin_key), server->admin_key_hash);
        server->admin_key_set = true;
        tg_log(TG_LOG_INFO, "admin", "the admin API is on under /admin/v1/");
    }
    return 0;
}

int tg_server_run(const char *config_path, tg_config_t *cfg)
{
    static tg_server_t server; /* one per process: signals are process-wide */
    int status = 1;

    tg_log_configure(2, cfg->logging.format, cfg->logging.level);
    tg_log_set_scrape_level(cfg->logging.metrics_scrapes);
    raise_descriptor_limit();
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
    tg_obs_opts_t opts = {.metric_namespace = cfg->metrics.metric_namespace, .version = TOLLGATE_VERSION,
                        .revision = TOLLGATE_REVISION, .max_org_series = cfg->limits.max_org_series};
    server.obs = tg_obs_new(&opts, &err);
    if (server.obs == NULL) {
        tg_log(TG_LOG_ERROR, "server", "cannot create the metric registry: %s", err ? err : "unknown error");
        free(err);
        tg_config_free(cfg);
        return 1;
    }
    server.health = tg_health_new();
    const tg_health_view_t *health = server.health != NULL ? tg_health_bind(server.health, cfg) : NULL;
    const tg_obs_view_t *view = health != NULL ? tg_obs_bind(server.obs, cfg, health) : NULL;
    server.current = view != NULL ? tg_snapshot_new(cfg, view, health) : NULL;
    if (server.current == NULL) {
        tg_log(TG_LOG_ERROR, "server", "out of memory at start");
        tg_config_free(cfg);
        goto Exit;
    }
    server.cache = tg_cache_new();
    if (server.cache == NULL || tg_obs_cache_bind(server.obs) != 0) {
        tg_log(TG_LOG_ERROR, "server", "out of memory at start");
        goto Exit;
    }
    server.housekeeping = tg_housekeeping_start(&(tg_housekeeping_ctx_t){
        .health = server.health, .cache = server.cache, .obs = server.obs, .snap = server.current});
    if (server.housekeeping == NULL) {
        tg_log(TG_LOG_ERROR, "server", "cannot start the housekeeping thread");
        goto Exit;
    }

    if (start_store(&server, cfg) != 0) {
        /* before Exit frees the state the housekeeping thread reads */
        tg_housekeeping_stop(server.housekeeping);
        goto Exit;
    }
    /* An exporter that cannot start (logged) leaves the gateway serving, untraced. */
    if (cfg->tracing.enabled && (server.traces = tg_trace_exporter_start(cfg, server.obs)) != NULL)
        server.traces_queue = tg_trace_exporter_tracer(server.traces);

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
        tg_store_thread_stop(server.store); /* every row of the journal is committed */
        tg_trace_exporter_stop(server.traces); /* the last requests' spans go out */
        tg_limit_registry_free(server.limits); /* no request and no index points into it any more */
        tg_housekeeping_stop(server.housekeeping);
        tg_log(TG_LOG_INFO, "server", "stopped");
        status = 0;
        break;
    }

Exit:
    /* workers are parked or were never started; their loops are left to exit() */
    tg_snapshot_release(server.current);
    tg_cache_free(server.cache); /* after the tick and the workers, its users */
    tg_obs_free(server.obs);
    tg_health_free(server.health); /* after obs: its collectors read health/ */
    return status;
}
