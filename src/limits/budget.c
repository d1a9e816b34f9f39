/* budget.c: see budget.h. */
#include "limits/budget.h"

#include <time.h>

/* gmtime_r once a month per thread, not twice a request: the month's
 * bounds are kept and a time inside them needs no calendar. */
int64_t tg_budget_month(double unix_seconds)
{
    static _Thread_local time_t from = 1, until = 0;
    static _Thread_local int64_t month;
    time_t t = (time_t)unix_seconds;
    if (t >= from && t < until)
        return month;
    struct tm tm;
    gmtime_r(&t, &tm);
    month = (int64_t)(tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    from = timegm(&tm);
    tm.tm_mon += 1; /* timegm normalises December + 1 into January */
    until = timegm(&tm);
    return month;
}

static void enter_month(tg_limit_state_t *s, int64_t month)
{
    if (atomic_load_explicit(&s->budget_month, memory_order_acquire) >= month)
        return;
    pthread_mutex_lock(&s->month_lock);
    if (atomic_load_explicit(&s->budget_month, memory_order_relaxed) < month) {
        atomic_store_explicit(&s->budget_used, 0, memory_order_relaxed);
        atomic_store_explicit(&s->budget_settled, 0, memory_order_relaxed);
        atomic_store_explicit(&s->budget_month, month, memory_order_release);
    }
    pthread_mutex_unlock(&s->month_lock);
}

bool tg_budget_reserve(tg_limit_state_t *s, int64_t month, int64_t budget, int64_t worst, int64_t *used)
{
    enter_month(s, month);
    int64_t old = atomic_load_explicit(&s->budget_used, memory_order_relaxed);
    do {
        if (old + worst > budget) {
            *used = old;
            return false;
        }
    } while (!atomic_compare_exchange_weak_explicit(&s->budget_used, &old, old + worst, memory_order_acq_rel,
                                                    memory_order_relaxed));
    *used = old + worst;
    return true;
}

void tg_budget_settle(tg_limit_state_t *s, int64_t month, int64_t reserved_month, int64_t worst, int64_t actual)
{
    enter_month(s, month);
    int64_t delta = reserved_month == atomic_load_explicit(&s->budget_month, memory_order_acquire) ? actual - worst
                                                                                                      : actual;
    atomic_fetch_add_explicit(&s->budget_used, delta, memory_order_acq_rel);
    atomic_fetch_add_explicit(&s->budget_settled, actual, memory_order_relaxed);
}

void tg_budget_seed(tg_limit_state_t *s, int64_t month, int64_t spent)
{
    enter_month(s, month);
    atomic_fetch_add_explicit(&s->budget_used, spent, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->budget_settled, spent, memory_order_relaxed);
}
