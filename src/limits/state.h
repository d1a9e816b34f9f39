/* state.h: the live state behind a key's or an org's limits: two token
 * buckets (requests and tokens per minute), the requests in flight, and
 * the month's spend against its budget. Shared by every worker through
 * atomics; one per key id and one per org name for the life of the
 * process, so that it survives a key index rebuild (a PATCH of the limits
 * keeps what was used).
 *
 * The registry that owns them is process-wide; the store thread looks the
 * states up when it builds a key index, and the index entries point at
 * them: the request path never searches. */
#ifndef TOLLGATE_LIMITS_STATE_H
#define TOLLGATE_LIMITS_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/* Spend in nano-dollars: exact integers, 9.2 billion dollars of room. */
#define TG_NANO_DOLLARS 1000000000.0

typedef struct tg_limit_state {
    char id[TG_STORE_NAME_MAX + 1];  /* the key's id or the org's name */
    bool is_org;
    _Atomic int64_t requests_tat;    /* gcra.h */
    _Atomic int64_t tokens_tat;
    _Atomic int64_t in_flight;
    _Atomic int64_t budget_month;    /* YYYYMM (UTC) the spend below belongs to */
    _Atomic int64_t budget_used;     /* nano-dollars: settled spend plus open reservations */
    _Atomic int64_t budget_settled;  /* nano-dollars settled this month (metrics) */
    pthread_mutex_t month_lock;      /* only to start a new month (once a month) */
    struct tg_limit_state *next;     /* the registry's chain */
} tg_limit_state_t;

typedef struct tg_limit_registry tg_limit_registry_t;

tg_limit_registry_t *tg_limit_registry_new(void);
void tg_limit_registry_free(tg_limit_registry_t *reg);

/* The state of a key (is_org false) or an org, made on first use. NULL on
 * ENOMEM. Any thread (a mutex: the store thread calls it per key when it
 * builds an index). */
tg_limit_state_t *tg_limit_state_get(tg_limit_registry_t *reg, bool is_org, const char *id);

#endif
