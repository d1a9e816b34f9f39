/* budget.h: a monthly budget that cannot be overspent. Before the call the
 * request reserves its worst-case cost; the reservation is refused when
 * the month's settled spend plus the open reservations plus it would pass
 * the budget (one CAS: concurrent requests cannot all take the last
 * dollar). After the call the reservation becomes the real cost; a failed
 * call releases it. A new month (UTC) starts from zero, once, under the
 * state's month lock; a reservation made in the old month settles into
 * the new one as its real cost only, so that nothing is subtracted twice.
 * All amounts are nano-dollars (state.h). */
#ifndef TOLLGATE_LIMITS_BUDGET_H
#define TOLLGATE_LIMITS_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "limits/state.h"

/* YYYYMM of a Unix time, UTC. */
int64_t tg_budget_month(double unix_seconds);

/* true when `worst` was reserved within `budget`; *used gets the month's
 * use after it (or as it stands, when refused). */
bool tg_budget_reserve(tg_limit_state_t *s, int64_t month, int64_t budget, int64_t worst, int64_t *used);

/* The call of a reservation made in reserved_month ended costing actual
 * (0: it failed, the reservation is released). */
void tg_budget_settle(tg_limit_state_t *s, int64_t month, int64_t reserved_month, int64_t worst, int64_t actual);

/* At start: the month's spend so far, from the ledger. */
void tg_budget_seed(tg_limit_state_t *s, int64_t month, int64_t spent);

#endif
