/* housekeeping.h: the process's housekeeping tick, Redis's serverCron on a
 * thread of its own. TG_HOUSEKEEPING_HZ times a second it runs the tasks of
 * its table (name, period, function) that are due, and times each task run
 * and each whole tick into housekeeping_duration_seconds{task} (task "tick"
 * for the whole). The periodic work of the gateway runs here, off the
 * workers: provider health evaluation, active health checks and anomaly
 * detection, the response cache's waits and expiry now; window rotation, ledger flushes and expiry with the
 * issues that bring them.
 *
 * A task runs on the tick's thread: it must not block (a slow task delays
 * the ones after it, and its histogram shows it; the health checks block
 * for at most one check's timeout a tick), and it shares state with the
 * workers only through atomics (or h2o's multithread messages). */
#ifndef TOLLGATE_SERVER_HOUSEKEEPING_H
#define TOLLGATE_SERVER_HOUSEKEEPING_H

#include "cache/memory.h"
#include "health/provider.h"
#include "obs/metrics.h"
#include "server/snapshot.h"

/* Ticks per second. 10, as Redis's default hz: fine enough for a 1 s task
 * to run within 100 ms of its time, and an idle tick costs microseconds. */
#define TG_HOUSEKEEPING_HZ 10

typedef struct tg_housekeeping tg_housekeeping_t;

/* What the tasks work on: process-wide objects of the server's, which
 * outlive the tick, and the configuration snapshot in force. */
typedef struct tg_housekeeping_ctx {
    tg_health_t *health;
    tg_cache_t *cache;    /* the response cache's memory tier */
    tg_obs_t *obs;
    tg_snapshot_t *snap;  /* NULL: the tasks that need one skip their run */
} tg_housekeeping_ctx_t;

/* Starts the tick's thread (taking a reference to ctx->snap); every task
 * runs at the first tick. NULL when the thread cannot be made. */
tg_housekeeping_t *tg_housekeeping_start(const tg_housekeeping_ctx_t *ctx);

/* The snapshot the tasks use from the next tick on (after a reload): takes
 * a reference to snap and drops the one to the previous snapshot. */
void tg_housekeeping_set_snapshot(tg_housekeeping_t *hk, tg_snapshot_t *snap);

/* Lets the tick in progress finish, stops the thread, joins it and frees
 * everything. NULL is a no-op. */
void tg_housekeeping_stop(tg_housekeeping_t *hk);

#endif
