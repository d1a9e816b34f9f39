/* gcra.h: a token bucket as one atomic word, the generic cell rate
 * algorithm: the bucket is the "theoretical arrival time" (tat) at which it
 * would be full again. Taking n tokens moves tat n intervals later; it is
 * refused when that would leave tat more than a whole bucket ahead of now.
 * One CAS per take, no lock, exact under any number of threads: two
 * requests can never both take the last token.
 *
 * A bucket of `capacity` tokens refilling `capacity` per `period` (rpm: 60
 * s) has interval = period / capacity. */
#ifndef TOLLGATE_LIMITS_GCRA_H
#define TOLLGATE_LIMITS_GCRA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tg_gcra_take {
    bool allowed;
    int64_t remaining;     /* whole tokens left after this take (or now, when refused) */
    int64_t reset_ns;      /* until the bucket is full again */
    int64_t retry_after_ns; /* refused: until n tokens are free; 0 when allowed */
} tg_gcra_take_t;

/* Takes n tokens (n >= 1) at now_ns from the bucket whose state is *tat. */
void tg_gcra_take(_Atomic int64_t *tat, int64_t now_ns, int64_t period_ns, int64_t capacity, int64_t n,
                  tg_gcra_take_t *out);

/* Gives back n tokens taken before (n < 0 takes more, never refused): the
 * correction of an estimate once the real count is known. */
void tg_gcra_adjust(_Atomic int64_t *tat, int64_t now_ns, int64_t period_ns, int64_t capacity, int64_t n);

#endif
