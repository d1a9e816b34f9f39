/* worker.h: per-thread state of the server, shared by server.c (lifecycle,
 * reload) and handler.c (requests). Everything here is touched only by its
 * own worker thread, except `accepting` and the control receiver. */
#ifndef TOLLGATE_SERVER_WORKER_H
#define TOLLGATE_SERVER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <h2o.h>

#include "cache/memory.h"
#include "health/provider.h"
#include "obs/metrics.h"
#include "server/housekeeping.h"
#include "server/ids.h"
#include "server/snapshot.h"
#include "store/thread.h"
#include "upstream/pool.h"

/* One config snapshot as seen by one worker: its upstream pools and
 * timers. Retired after a reload once its last request has ended. */
typedef struct tg_worker_snap {
    tg_snapshot_t *snap;
    tg_upstream_pool_t *pools; /* one per cfg->providers */
    size_t pool_count;
    h2o_timeout_t deadline;    /* server.request_timeout_ms */
    size_t inflight;           /* requests of this worker using it */
    struct tg_worker_snap *next_retired;
} tg_worker_snap_t;

typedef struct tg_server tg_server_t;
typedef struct tg_worker tg_worker_t;

/* One listening socket of a worker. */
typedef struct tg_listener {
    tg_worker_t *worker;
    int fd;                        /* bound by the main thread; -1 when none */
    h2o_socket_t *sock;            /* NULL until opened, and after closing */
    h2o_accept_ctx_t accept_ctx;
    h2o_timeout_entry_t resume;    /* linked while accepting is paused (EMFILE) */
} tg_listener_t;

struct tg_worker {
    tg_server_t *server;
    unsigned index;
    pthread_t thread;
    /* h2o's configuration, context and loop: made on this worker's thread */
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *api_hosts[2];     /* NULL-terminated: the API listener's host */
    h2o_hostconf_t *metrics_hosts[2]; /* the metrics listener's host */
    h2o_context_t ctx;
    tg_listener_t api;
    tg_listener_t metrics; /* metrics.listen: only worker 0 serves it (scrapes are rare) */
    h2o_timeout_t accept_pause;
    uint64_t accept_pause_logged_ms; /* 0: never; the report is at most once a minute */
    uint64_t accept_pauses;          /* since the last report */
    h2o_multithread_receiver_t control;
    h2o_multithread_receiver_t answers; /* other threads' answers to waiting requests (pipeline/runner.h) */
    tg_store_client_t store;           /* this worker's key index; the store thread (store/thread.h) */
    tg_worker_snap_t *current;
    tg_worker_snap_t *retired;
    h2o_timeout_t immediate;
    h2o_timeout_t linger_timeout; /* TG_LINGER_MS */
    h2o_linklist_t lingering;     /* refused connections still draining (linger.c) */
    tg_rng_t rng;
    size_t inflight; /* all requests in progress on this worker */
    bool stopping;
    uint64_t stop_deadline_ms;
};

struct tg_server {
    const char *config_path;
    tg_obs_t *obs;
    tg_health_t *health;       /* provider state, for the process's life */
    tg_housekeeping_t *housekeeping; /* the tick: started before the workers, stopped after */
    tg_store_thread_t *store;  /* NULL with store.driver none; started before the workers, stopped after */
    tg_limit_registry_t *limits; /* every key's and org's limit state, for the process's life */
    tg_cache_t *cache;         /* the response cache's memory tier; freed after the workers stop */
    bool admin_key_set;        /* TOLLGATE_ADMIN_KEY was set at start: the admin API is on */
    uint8_t admin_key_hash[32];
    tg_worker_t *workers;
    unsigned worker_count;
    atomic_bool accepting;     /* /ready */
    pthread_mutex_t stop_lock; /* guards the counts below: used at start,
                                  shutdown and once per worker per reload */
    unsigned started;          /* workers whose loop runs */
    unsigned failed;           /* workers that could not set themselves up */
    pthread_cond_t stop_cond;
    unsigned stopped;          /* workers done draining */
    unsigned reloaded;         /* workers that took the latest reload message */
    tg_snapshot_t *current;    /* the signal thread's reference */
};

/* handler.c: registers the request handler on the host config; with
 * metrics_only, every path but the observability ones is 404. */
void tg_handler_register(h2o_hostconf_t *hostconf, bool metrics_only);

/* server.c: a request of this worker using ws has ended. */
void tg_worker_request_done(tg_worker_t *worker, tg_worker_snap_t *ws);

#endif
