/* cache_metrics.c: the response cache's families (docs/cache.md): hits,
 * misses and saved dollars by tier. Their children are made once, at
 * start (tg_obs_cache_bind), so every tier has its series from the first
 * scrape, and recording is an array index. */
#include "obs/registry_state.h"

int tg_obs_cache_bind(tg_obs_t *obs)
{
    for (int t = 0; t < TG_CACHE_TIER_COUNT; t++) {
        const char *labels[] = {tg_cache_tier_name((tg_cache_tier_t)t)};
        if ((obs->cache_hits[t] = tally_counter_with(obs->fam[F_CACHE_HITS], labels)) == NULL ||
            (obs->cache_misses[t] = tally_counter_with(obs->fam[F_CACHE_MISSES], labels)) == NULL ||
            (obs->cache_saved[t] = tally_counter_with(obs->fam[F_CACHE_SAVED], labels)) == NULL)
            return -1;
    }
    return 0;
}

void tg_obs_record_cache(const tg_obs_view_t *v, tg_cache_tier_t tier, bool hit, double saved)
{
    if (v == NULL || (unsigned)tier >= TG_CACHE_TIER_COUNT || v->obs->cache_hits[tier] == NULL)
        return;
    if (!hit) {
        tally_counter_add_int(v->obs->cache_misses[tier], 1);
        return;
    }
    tally_counter_add_int(v->obs->cache_hits[tier], 1);
    if (saved > 0)
        tally_counter_add(v->obs->cache_saved[tier], saved);
}
