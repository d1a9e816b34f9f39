/* snapshot.h: a loaded configuration together with its pre-bound metric
 * view and its providers' health view, shared read-only by every worker
 * and reference counted so that a reload (SIGHUP) frees the old one only
 * after its last request ended. Workers hold one reference each (not one
 * per request). */
#ifndef TOLLGATE_SERVER_SNAPSHOT_H
#define TOLLGATE_SERVER_SNAPSHOT_H

#include <stdatomic.h>

#include "config.h"
#include "health/provider.h"
#include "obs/metrics.h"
#include "upstream/pool.h"

typedef struct tg_snapshot {
    tg_config_t *cfg;
    const tg_obs_view_t *view;     /* owned by tg_obs_t */
    const tg_health_view_t *health; /* owned by tg_health_t */
    tg_upstream_addr_t *addrs; /* per provider, resolved when loaded */
    atomic_uint refs;
} tg_snapshot_t;

/* Takes ownership of cfg and resolves the providers' addresses (blocking:
 * main thread only); one reference for the caller. NULL on ENOMEM. */
tg_snapshot_t *tg_snapshot_new(tg_config_t *cfg, const tg_obs_view_t *view, const tg_health_view_t *health);
void tg_snapshot_retain(tg_snapshot_t *snap);
void tg_snapshot_release(tg_snapshot_t *snap);

#endif
