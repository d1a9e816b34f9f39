/* tenancy_metrics.c: the families of tenancy (docs/tenancy.md, "Metrics";
 * docs/limits.md): what the store thread measures (statement durations,
 * busy connections, the key and org counts it reads after each change),
 * the ledger's queue, commits, failures and spool, and the limits'
 * refusals and each org's budget use. The store's children are made once,
 * when the store starts (tg_obs_store_bind): a gateway without a store
 * (driver "none") exports none of these series. */
#include "obs/registry_state.h"

#include <stdlib.h>

int tg_obs_store_bind(tg_obs_t *obs)
{
    for (int op = 0; op < TG_DB_OPERATION_COUNT; op++) {
        const char *labels[] = {tg_db_operation_name((tg_db_operation_t)op)};
        if ((obs->db_query[op] = tally_histogram_with(obs->fam[F_DB_QUERY], labels)) == NULL)
            return -1;
    }
    obs->db_busy = tally_gauge_get(obs->fam[F_DB_CONNECTIONS]);
    obs->active_keys = tally_gauge_get(obs->fam[F_ACTIVE_KEYS]);
    obs->ledger_queue = tally_gauge_get(obs->fam[F_LEDGER_QUEUE]);
    obs->ledger_rows = tally_counter_get(obs->fam[F_LEDGER_ROWS]);
    obs->ledger_errors = tally_counter_get(obs->fam[F_LEDGER_ERRORS]);
    obs->ledger_spooled = tally_counter_get(obs->fam[F_LEDGER_SPOOLED]);
    return obs->db_busy && obs->active_keys && obs->ledger_queue && obs->ledger_rows && obs->ledger_errors &&
                   obs->ledger_spooled
               ? 0
               : -1;
}

void tg_obs_record_db_query(tg_obs_t *obs, tg_db_operation_t op, double seconds)
{
    if ((unsigned)op < TG_DB_OPERATION_COUNT && obs->db_query[op] != NULL)
        tally_histogram_observe(obs->db_query[op], seconds);
}

void tg_obs_db_busy(tg_obs_t *obs, int delta)
{
    if (obs->db_busy != NULL)
        tally_gauge_add(obs->db_busy, delta);
}

void tg_obs_set_tenancy(tg_obs_t *obs, int64_t active_keys, const char *const *plans, const int64_t *orgs,
                        size_t plan_count)
{
    if (obs->active_keys != NULL)
        tally_gauge_set(obs->active_keys, (double)active_keys);
    for (size_t i = 0; i < plan_count; i++) {
        /* the plans are the config's: a bounded set, looked up by name after each change */
        const char *labels[] = {plans[i]};
        tally_gauge *g = tally_gauge_with(obs->fam[F_ORGS], labels);
        if (g != NULL)
            tally_gauge_set(g, (double)orgs[i]);
    }
}

void tg_obs_ledger_queue(tg_obs_t *obs, int64_t depth)
{
    if (obs->ledger_queue != NULL)
        tally_gauge_set(obs->ledger_queue, (double)depth);
}

void tg_obs_record_ledger(tg_obs_t *obs, uint64_t written, uint64_t failed_batches, uint64_t spooled)
{
    if (obs->ledger_rows == NULL)
        return;
    if (written)
        tally_counter_add_int(obs->ledger_rows, written);
    if (failed_batches)
        tally_counter_add_int(obs->ledger_errors, failed_batches);
    if (spooled)
        tally_counter_add_int(obs->ledger_spooled, spooled);
}

void tg_obs_record_rate_limited(const tg_obs_view_t *v, tg_limit_reason_t reason)
{
    tg_obs_t *obs = v->obs;
    if ((unsigned)reason >= TG_LIMIT_REASON_COUNT)
        return;
    tally_counter *c = atomic_load_explicit(&obs->rate_limited[reason], memory_order_acquire);
    if (c == NULL) {
        const char *labels[] = {tg_limit_reason_name(reason)};
        if ((c = tally_counter_with(obs->fam[F_RATE_LIMITED], labels)) == NULL)
            return;
        atomic_store_explicit(&obs->rate_limited[reason], c, memory_order_release);
    }
    tally_counter_inc(c);
}

void tg_obs_set_budget_use(const tg_obs_view_t *v, const char *org, double ratio)
{
    /* orgs are data: the family's max_children (limits.max_org_series)
     * folds those past the cap into its overflow series */
    const char *labels[] = {org};
    tally_gauge *g = tally_gauge_with(v->obs->fam[F_BUDGET_USE], labels);
    if (g != NULL)
        tally_gauge_set(g, ratio);
}

void tg_obs_record_plan_cost(const tg_obs_view_t *v, const char *plan, double dollars)
{
    if (!(dollars > 0))
        return;
    /* plans are the config's (an org's plan must be one), plus "anonymous":
     * a bounded set, looked up by name */
    const char *labels[] = {plan[0] != '\0' ? plan : "anonymous"};
    tally_counter *c = tally_counter_with(v->obs->fam[F_PLAN_COST], labels);
    if (c != NULL)
        tally_counter_add(c, dollars);
}

void tg_obs_record_audit_suppressed(const tg_obs_view_t *v)
{
    tally_counter *c = tally_counter_get(v->obs->fam[F_AUDIT_SUPPRESSED]);
    if (c != NULL)
        tally_counter_inc(c);
}
