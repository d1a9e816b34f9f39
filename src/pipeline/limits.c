/* limits.c: see limits.h. */
#include "pipeline/limits.h"
#include "pipeline/stages.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/json.h"
#include "limits/budget.h"
#include "limits/gcra.h"

#define MINUTE_NS 60000000000LL

/* By hand: snprintf's %g cost 1,400 instructions a request for two headers. */
size_t tg_limits_format_reset(char *out, size_t cap, int64_t ns)
{
    char buf[48];
    size_t n = 0;
    int64_t ms = ns > 0 ? (ns + 999999) / 1000000 : 0;
    if (ms < 1000) {
        n = tg_format_decimal(buf, (size_t)ms);
        buf[n++] = 'm';
    } else {
        int64_t minutes = ms / 60000, rest = ms % 60000;
        if (minutes > 0) {
            n = tg_format_decimal(buf, (size_t)minutes);
            buf[n++] = 'm';
        }
        n += tg_format_decimal(buf + n, (size_t)(rest / 1000));
        int frac = (int)(rest % 1000);
        if (frac != 0) { /* up to three decimals, no trailing zeros: 1.5s, 23.988s */
            buf[n++] = '.';
            int digits[3] = {frac / 100, frac / 10 % 10, frac % 10}, last = 2;
            while (digits[last] == 0)
                last--;
            for (int i = 0; i <= last; i++)
                buf[n++] = (char)('0' + digits[i]);
        }
    }
    buf[n++] = 's';
    if (n >= cap)
        n = cap - 1;
    memcpy(out, buf, n);
    out[n] = '\0';
    return n;
}

/* The response shows the tighter of the key's and the org's bucket. */
static void show(bool *shown, int64_t *limit, int64_t *remaining, int64_t *reset, int64_t l, const tg_gcra_take_t *t)
{
    if (*shown && *remaining <= t->remaining)
        return;
    *shown = true;
    *limit = l;
    *remaining = t->remaining < 0 ? 0 : t->remaining;
    *reset = t->reset_ns;
}

/* Gives back whatever h holds (a refusal after part was taken, or the
 * request's end with nothing used: actual tokens and cost 0). */
static void give_back(tg_limit_hold_t *h, int64_t now_ns, int64_t month, int64_t actual_tokens, int64_t actual_cost)
{
    for (int i = 0; i < TG_HOLD_COUNT; i++) {
        tg_limit_state_t *s = h->state[i];
        if (s == NULL)
            continue;
        if (h->in_flight[i])
            atomic_fetch_sub_explicit(&s->in_flight, 1, memory_order_relaxed);
        if (h->requested[i])
            tg_gcra_adjust(&s->requests_tat, now_ns, MINUTE_NS, h->limits[i].rpm, 1);
        if (h->tokens[i] != 0 && h->limits[i].tpm > 0)
            tg_gcra_adjust(&s->tokens_tat, now_ns, MINUTE_NS, h->limits[i].tpm, h->tokens[i] - actual_tokens);
        if (h->reserved[i] != 0)
            tg_budget_settle(s, month, h->month, h->reserved[i], actual_cost);
        h->in_flight[i] = false;
        h->requested[i] = false;
        h->tokens[i] = 0;
        h->reserved[i] = 0;
    }
}

static tg_stage_result_t refuse(tg_request_t *r, tg_limit_reason_t reason, int64_t retry_after_ns, int64_t now_ns,
                                int64_t month)
{
    static const struct {
        tg_error_type_t type;
        tg_error_code_t code;
        const char *message;
    } why[TG_LIMIT_REASON_COUNT] = {
        [TG_LIMIT_RPM] = {TG_ERR_REQUESTS, TG_CODE_RATE_LIMIT_EXCEEDED,
                          "Rate limit reached for requests per minute (RPM); retry after the time in Retry-After."},
        [TG_LIMIT_TPM] = {TG_ERR_TOKENS, TG_CODE_RATE_LIMIT_EXCEEDED,
                          "Rate limit reached for tokens per minute (TPM); retry after the time in Retry-After."},
        [TG_LIMIT_CONCURRENCY] = {TG_ERR_REQUESTS, TG_CODE_RATE_LIMIT_EXCEEDED,
                                  "Too many concurrent requests for this key or organisation; retry when one ends."},
        [TG_LIMIT_BUDGET] = {TG_ERR_INSUFFICIENT_QUOTA, TG_CODE_INSUFFICIENT_QUOTA,
                             "You exceeded your current quota: the monthly budget is spent."},
    };
    give_back(&r->hold, now_ns, month, 0, 0);
    tg_error_set(&r->error, 429, why[reason].type, why[reason].code, why[reason].message, NULL);
    if (retry_after_ns > 0) {
        double seconds = ceil((double)retry_after_ns / 1e9);
        r->error.retry_after = seconds < 1 ? 1 : seconds > 86400 ? 86400 : (unsigned)seconds;
    }
    tg_obs_record_rate_limited(r->env.view, reason);
    return TG_STAGE_RESPOND;
}

/* Nano-dollars a request can cost at most: every byte of its messages (or
 * input) a prompt token (a token is at least a byte, and the JSON around
 * each message is more than the tokens a chat format adds), plus its
 * max_tokens of output. An upper bound, not an estimate: the reservation
 * must hold the real cost. */
static int64_t worst_cost(const tg_request_t *r, long model, int64_t max_out)
{
    if (model < 0)
        return 0; /* an unknown model is refused by route before any call */
    const tg_pricing_t *p = &r->env.cfg->models[model].pricing;
    double prompt = (double)(r->parsed.members.messages.len + r->parsed.members.input.len);
    double dollars = (prompt * p->input + (double)max_out * p->output) / 1e6;
    return (int64_t)ceil(dollars * TG_NANO_DOLLARS);
}

/* Whether neither the key nor its org has a limit (or the request is
 * anonymous): the stages have nothing to take or give back, and skip the
 * clocks and the month. */
static bool unlimited(const tg_limit_hold_t *h)
{
    for (int i = 0; i < TG_HOLD_COUNT; i++) {
        const tg_limits_t *l = &h->limits[i];
        if (h->state[i] != NULL && (l->rpm >= 0 || l->tpm >= 0 || l->max_concurrent >= 0 || l->budget_usd >= 0))
            return false;
    }
    return true;
}

tg_stage_result_t tg_stage_limits(tg_request_t *r)
{
    tg_limit_hold_t *h = &r->hold;
    if (unlimited(h))
        return TG_STAGE_CONTINUE;
    int64_t now_ns = tg_clock_ns();
    int64_t month = tg_budget_month(tg_clock_wall_seconds());
    h->month = month;
    int64_t max_out = r->operation == TG_OP_CHAT
                          ? (r->parsed.max_tokens >= 0 ? r->parsed.max_tokens : (long)r->env.cfg->limits.default_max_tokens)
                          : 0;
    int64_t tokens = (int64_t)tg_account_prompt_estimate(&r->parsed.members) + max_out;
    long model = tg_config_find_model(r->env.cfg, r->parsed.model, r->parsed.model_len);

    for (int i = 0; i < TG_HOLD_COUNT; i++) {
        tg_limit_state_t *s = h->state[i];
        const tg_limits_t *l = &h->limits[i];
        if (s == NULL)
            continue;
        if (l->max_concurrent >= 0) {
            h->in_flight[i] = true;
            if (atomic_fetch_add_explicit(&s->in_flight, 1, memory_order_relaxed) >= l->max_concurrent)
                return refuse(r, TG_LIMIT_CONCURRENCY, 0, now_ns, month);
        }
        tg_gcra_take_t t;
        if (l->rpm >= 0) {
            tg_gcra_take(&s->requests_tat, now_ns, MINUTE_NS, l->rpm, 1, &t);
            show(&h->show_requests, &h->requests_limit, &h->requests_remaining, &h->requests_reset_ns, l->rpm, &t);
            if (!t.allowed)
                return refuse(r, TG_LIMIT_RPM, l->rpm > 0 ? t.retry_after_ns : 0, now_ns, month);
            h->requested[i] = true;
        }
        if (l->tpm >= 0) {
            tg_gcra_take(&s->tokens_tat, now_ns, MINUTE_NS, l->tpm, tokens, &t);
            show(&h->show_tokens, &h->tokens_limit, &h->tokens_remaining, &h->tokens_reset_ns, l->tpm, &t);
            if (!t.allowed) /* more than a whole minute's tokens can never pass: no Retry-After */
                return refuse(r, TG_LIMIT_TPM, tokens <= l->tpm ? t.retry_after_ns : 0, now_ns, month);
            h->tokens[i] = tokens;
        }
        if (l->budget_usd >= 0) {
            int64_t worst = worst_cost(r, model, max_out), used;
            int64_t budget = (int64_t)floor(l->budget_usd * TG_NANO_DOLLARS);
            if (!tg_budget_reserve(s, month, budget, worst, &used))
                return refuse(r, TG_LIMIT_BUDGET, 0, now_ns, month);
            h->reserved[i] = worst;
        }
    }
    h->requested[TG_HOLD_KEY] = h->requested[TG_HOLD_ORG] = false; /* admitted: the requests stay taken */
    return TG_STAGE_CONTINUE;
}

tg_stage_result_t tg_stage_settle(tg_request_t *r)
{
    tg_limit_hold_t *h = &r->hold;
    if (unlimited(h))
        return TG_STAGE_CONTINUE;
    int64_t tokens = (int64_t)(r->billed.prompt_tokens + r->billed.completion_tokens);
    int64_t cost = (int64_t)llround(r->billed.cost * TG_NANO_DOLLARS);
    give_back(h, tg_clock_ns(), tg_budget_month(tg_clock_wall_seconds()), tokens, cost);
    tg_limit_state_t *org = h->state[TG_HOLD_ORG];
    if (org != NULL && h->limits[TG_HOLD_ORG].budget_usd > 0)
        tg_obs_set_budget_use(r->env.view, org->id,
                              (double)atomic_load_explicit(&org->budget_settled, memory_order_relaxed) /
                                  (h->limits[TG_HOLD_ORG].budget_usd * TG_NANO_DOLLARS));
    return TG_STAGE_CONTINUE;
}
