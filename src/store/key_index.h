/* key_index.h: the in-memory index of API keys that the auth stage reads:
 * SHA-256 of a key -> its id, org, whether it is revoked, its own and its
 * org's limits and the models it may use.
 *
 * An index is immutable once built and reference counted. The store
 * thread builds a new one after every change it sees (its own admin
 * operations at once, another process's through data_version) and hands
 * each worker a reference by message; a worker swaps its pointer and
 * releases the old index, and reads its own without a lock or an atomic
 * beyond the refcount. Revoked keys stay in it, so that they are refused
 * without asking the store. */
#ifndef TOLLGATE_STORE_KEY_INDEX_H
#define TOLLGATE_STORE_KEY_INDEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limits/state.h"
#include "store/store.h"

/* The limits of a policy, without its model list; negative = not set. */
typedef struct tg_limits {
    int64_t rpm;
    int64_t tpm;
    int64_t max_concurrent;
    double budget_usd;
} tg_limits_t;

typedef struct tg_key_entry {
    uint8_t hash[32];
    char id[TG_STORE_KEY_ID_MAX + 1];
    char org[TG_STORE_NAME_MAX + 1];
    char plan[TG_STORE_NAME_MAX + 1]; /* the org's ("" when the org was not found) */
    bool revoked;
    tg_limits_t key_limits;
    tg_limits_t org_limits;
    tg_limit_state_t *key_state;  /* what the limits use, the registry's (NULL: none) */
    tg_limit_state_t *org_state;
    char **models;          /* the key's list, else its org's; NULL: every model */
    size_t model_count;
    _Atomic int64_t last_touch; /* when the worker last reported a use (last_used); seconds */
} tg_key_entry_t;

typedef struct tg_key_index tg_key_index_t;
typedef struct tg_key_index_builder tg_key_index_builder_t;

/* Building, on the store thread: begin with every org (any order; copied)
 * and the registry of limit states (NULL: none), add each key, end. NULL
 * on ENOMEM (a failed add makes end return NULL). */
tg_key_index_builder_t *tg_key_index_begin(const tg_org_t *orgs, size_t org_count, tg_limit_registry_t *limits);
void tg_key_index_add(tg_key_index_builder_t *b, const tg_key_t *key);
tg_key_index_t *tg_key_index_end(tg_key_index_builder_t *b); /* one reference for the caller; frees b */

/* NULL when absent. The entry lives as long as the caller's reference. */
const tg_key_entry_t *tg_key_index_find(const tg_key_index_t *idx, const uint8_t hash[32]);
/* Keys not revoked. */
size_t tg_key_index_active(const tg_key_index_t *idx);
/* An entry of a key that is not in the index yet (a lookup's answer),
 * with no org limits: the next index brings them. */
void tg_key_entry_from_key(tg_key_entry_t *e, const tg_key_t *key, const tg_org_t *org, tg_limit_registry_t *limits);
void tg_key_entry_clear(tg_key_entry_t *e);
/* Whether e may use the model named name[0..len). */
bool tg_key_entry_allows(const tg_key_entry_t *e, const char *name, size_t len);

void tg_key_index_retain(tg_key_index_t *idx);
void tg_key_index_release(tg_key_index_t *idx); /* NULL is fine */

#endif
