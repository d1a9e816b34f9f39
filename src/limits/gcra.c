/* gcra.c: see gcra.h. Times are nanoseconds of the monotonic clock. */
#include "limits/gcra.h"

/* At least a nanosecond: a limit above 60 billion a minute (a tpm no one
 * reaches) would otherwise have an interval of 0 and divide by it. */
static int64_t interval_of(int64_t period_ns, int64_t capacity)
{
    int64_t interval = capacity > 0 ? period_ns / capacity : period_ns;
    return interval > 0 ? interval : 1;
}

void tg_gcra_take(_Atomic int64_t *tat, int64_t now_ns, int64_t period_ns, int64_t capacity, int64_t n,
                  tg_gcra_take_t *out)
{
    int64_t interval = interval_of(period_ns, capacity), burst = interval * capacity;
    int64_t old = atomic_load_explicit(tat, memory_order_relaxed);
    for (;;) {
        int64_t base = old > now_ns ? old : now_ns;
        int64_t next = base + n * interval;
        if (next - now_ns > burst) { /* n tokens are not there: refuse, change nothing */
            out->allowed = false;
            out->remaining = (burst - (base - now_ns)) / interval;
            out->reset_ns = base - now_ns;
            out->retry_after_ns = next - burst - now_ns;
            return;
        }
        if (atomic_compare_exchange_weak_explicit(tat, &old, next, memory_order_acq_rel, memory_order_relaxed)) {
            out->allowed = true;
            out->remaining = (burst - (next - now_ns)) / interval;
            out->reset_ns = next - now_ns;
            out->retry_after_ns = 0;
            return;
        }
    }
}

void tg_gcra_adjust(_Atomic int64_t *tat, int64_t now_ns, int64_t period_ns, int64_t capacity, int64_t n)
{
    int64_t delta = n * interval_of(period_ns, capacity);
    int64_t old = atomic_load_explicit(tat, memory_order_relaxed), next;
    do {
        if (delta < 0) /* a charge counts from now: a bucket that refilled since must still pay it */
            next = (old > now_ns ? old : now_ns) - delta;
        else if ((next = old - delta) < now_ns)
            next = old > now_ns ? now_ns : old; /* a refund never fills the bucket beyond full */
    } while (!atomic_compare_exchange_weak_explicit(tat, &old, next, memory_order_acq_rel, memory_order_relaxed));
}
