/* snapshot.c: see snapshot.h. */
#include "server/snapshot.h"

#include <stdlib.h>

tg_snapshot_t *tg_snapshot_new(tg_config_t *cfg, const tg_obs_view_t *view, const tg_health_view_t *health)
{
    tg_snapshot_t *snap = malloc(sizeof(*snap));
    if (snap == NULL)
        return NULL;
    snap->addrs = calloc(cfg->provider_count ? cfg->provider_count : 1, sizeof(*snap->addrs));
    if (snap->addrs == NULL) {
        free(snap);
        return NULL;
    }
    for (size_t i = 0; i < cfg->provider_count; i++)
        tg_upstream_resolve(&cfg->providers[i], &snap->addrs[i]);
    snap->cfg = cfg;
    snap->view = view;
    snap->health = health;
    atomic_init(&snap->refs, 1);
    return snap;
}

void tg_snapshot_retain(tg_snapshot_t *snap)
{
    atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
}

void tg_snapshot_release(tg_snapshot_t *snap)
{
    if (snap == NULL)
        return;
    if (atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1) {
        tg_config_free(snap->cfg);
        free(snap->addrs);
        free(snap);
    }
}
