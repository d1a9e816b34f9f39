/* ledger.c: the ledger stage (always, after account): the usage row of a
 * request a provider or the response cache answered goes into the ledger's
 * journal (store/journal.h) before the response's last byte, so that no
 * client holds a whole response whose row could be lost (docs/tenancy.md,
 * "Usage ledger"). It is memory stores into a shared file mapping: no
 * system call, no lock, no wait for the store thread, which moves the
 * rows into the store on its own time.
 *
 * When the journal is full the row goes to the spool file at once, on this
 * thread, and the request goes on: a row is never dropped. */
#include "pipeline/stages.h"

#include <string.h>

#include "core/clock.h"
#include "store/thread.h"

/* A bounded copy; by hand, as snprintf cost half the stage. */
static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

static void fill_row(tg_request_t *r, tg_ledger_row_t *row)
{
    const tg_config_t *cfg = r->env.cfg;
    const tg_upstream_result_t *res = r->result;
    row->id = tg_store_thread_row_id(r->env.store->thread);
    row->ts = tg_clock_wall_seconds();
    copy(row->request_id, sizeof(row->request_id), r->request_id);
    copy(row->org, sizeof(row->org), r->org_id);
    copy(row->key_id, sizeof(row->key_id), r->key_id);
    copy(row->model_requested, sizeof(row->model_requested),
         r->model_index >= 0 ? cfg->models[r->model_index].name : "other");
    if (r->cache.hit) { /* the provider and model of the cached answer, at no cost */
        copy(row->model_used, sizeof(row->model_used), r->cache.answer->model_used.base);
        copy(row->provider, sizeof(row->provider), r->cache.answer->provider.base);
        row->cache_hit = true;
        copy(row->cache_tier, sizeof(row->cache_tier), tg_cache_tier_name(r->cache.tier));
    } else {
        copy(row->model_used, sizeof(row->model_used), res->model_used);
        copy(row->provider, sizeof(row->provider), cfg->providers[res->provider_index].name);
        row->cache_hit = false;
        copy(row->cache_tier, sizeof(row->cache_tier), "");
    }
    copy(row->operation, sizeof(row->operation), tg_operation_name(r->operation));
    row->prompt_tokens = (int64_t)r->billed.prompt_tokens;
    row->cached_tokens = (int64_t)r->billed.cached_tokens;
    row->cache_write_tokens = (int64_t)r->billed.cache_write_tokens;
    row->completion_tokens = (int64_t)r->billed.completion_tokens;
    row->reasoning_tokens = (int64_t)r->billed.reasoning_tokens;
    row->cost_usd = r->billed.cost;
    row->status = r->http_status;
    row->latency_seconds = r->access.latency_seconds;
    row->ttft_seconds = r->access.ttft_seconds;
    row->estimated = r->access.tokens_estimated;
}

tg_stage_result_t tg_stage_ledger(tg_request_t *r)
{
    tg_store_thread_t *t = r->env.store->thread;
    if (t == NULL || ((r->result == NULL || r->result->attempts == 0) && !r->cache.hit))
        return TG_STAGE_CONTINUE; /* no store, or neither a provider nor the cache answered */
    uint64_t ticket;
    tg_ledger_row_t spooled, *slot = tg_store_ledger_claim(t, &ticket);
    tg_ledger_row_t *row = slot != NULL ? slot : &spooled; /* the journal full: the spool */
    memset(row, 0, sizeof(*row)); /* nothing of a slot's last row stays behind this one's strings */
    fill_row(r, row);
    if (slot != NULL)
        tg_store_ledger_publish(t, ticket);
    else
        tg_store_spool(t, row);
    return TG_STAGE_CONTINUE;
}
