/* memory.h: the response cache's memory tier, one per process and shared
 * by every worker: answers by key (cache/key.h), least recently used
 * first out, within a byte budget and each for a time to live; and the
 * fills in flight, so that identical misses that arrive together make one
 * upstream call (coalescing): the first claims the fill, the others wait
 * on it, and the filler's landing wakes them.
 *
 * Entries are reference counted: a hit takes a reference under the lock
 * and reads the answer after it, while the entry may leave the table.
 * Every function is safe from any thread. */
#ifndef TOLLGATE_CACHE_MEMORY_H
#define TOLLGATE_CACHE_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/answer.h"
#include "cache/key.h"

typedef struct tg_cache tg_cache_t;
typedef struct tg_cache_entry tg_cache_entry_t;
typedef struct tg_cache_flight tg_cache_flight_t;

/* At most this many requests wait on one fill; more go upstream. */
#define TG_CACHE_MAX_WAITERS 1024

tg_cache_t *tg_cache_new(void);
/* Frees every entry and fill. Call once no worker uses it any more. */
void tg_cache_free(tg_cache_t *c);

/* An entry of the payload (answer.h) len bytes at payload, which it takes
 * (malloc'd; freed with the entry). NULL, and payload freed, when it is
 * not a payload or out of memory. The caller holds the one reference. */
tg_cache_entry_t *tg_cache_entry_new(const uint8_t key[TG_CACHE_KEY_LEN], char *payload, size_t len);
const tg_cache_answer_t *tg_cache_entry_answer(const tg_cache_entry_t *e);
const char *tg_cache_entry_payload(const tg_cache_entry_t *e, size_t *len);
void tg_cache_entry_retain(tg_cache_entry_t *e);
void tg_cache_entry_release(tg_cache_entry_t *e);

/* The live entry of key, with a reference for the caller; NULL when there
 * is none (an expired one is dropped). `now`: tg_clock_seconds(). */
tg_cache_entry_t *tg_cache_get(tg_cache_t *c, const uint8_t key[TG_CACHE_KEY_LEN], double now);

/* Keeps e (the table takes its own reference) until now + ttl, replacing
 * an entry of the same key, then drops the least recently used entries
 * until the tier holds at most cap bytes. An entry bigger than a quarter
 * of cap is not kept: one answer would push out most of the others.
 * Returns whether e was kept. */
bool tg_cache_put(tg_cache_t *c, tg_cache_entry_t *e, double now, double ttl, size_t cap);

/* Drops up to `max` expired entries from the cold end of the list (the
 * tick's sweep; lookups drop the others as they meet them). */
void tg_cache_sweep(tg_cache_t *c, double now, size_t max);

/* What a waiting request learns. */
typedef enum tg_cache_wake {
    TG_CACHE_WAKE_FILLED,    /* the entry is in memory now: look again */
    TG_CACHE_WAKE_FAILED,    /* the fill failed: go upstream yourself */
    TG_CACHE_WAKE_TIMED_OUT  /* waited longer than allowed: go upstream */
} tg_cache_wake_t;

/* A request waiting on a fill; the caller's memory, embedded in its own
 * struct. `wake` is called exactly once, on the thread that lands the
 * fill or expires the wait, without the cache's lock held. */
typedef struct tg_cache_waiter {
    struct tg_cache_waiter *next;
    double since;
    void (*wake)(struct tg_cache_waiter *w, tg_cache_wake_t why);
} tg_cache_waiter_t;

typedef enum tg_cache_lookup {
    TG_CACHE_HIT,    /* *entry is set (a reference for the caller) */
    TG_CACHE_FILL,   /* a miss, and this request fills it: *flight is set */
    TG_CACHE_WAIT,   /* a fill is in flight: w waits on it */
    TG_CACHE_MISS    /* a fill is in flight but has waiters enough (or
                        w is NULL): go upstream without waiting */
} tg_cache_lookup_t;

/* One step, under one lock: the entry of key, else a claim on its fill,
 * else a place among the waiters of the fill in flight. */
tg_cache_lookup_t tg_cache_lookup(tg_cache_t *c, const uint8_t key[TG_CACHE_KEY_LEN], double now,
                                  tg_cache_waiter_t *w, tg_cache_entry_t **entry, tg_cache_flight_t **flight);

/* The filler is done (filled: its entry was put); wakes its waiters and
 * frees the flight. */
void tg_cache_land(tg_cache_t *c, tg_cache_flight_t *f, bool filled);

/* Wakes (TIMED_OUT) the waiters that have waited max_wait seconds. */
void tg_cache_expire_waiters(tg_cache_t *c, double now, double max_wait);

/* For tests and /health: entries and bytes held, fills in flight. */
typedef struct tg_cache_stats {
    size_t entries, bytes, flights, waiters;
} tg_cache_stats_t;
void tg_cache_stats(tg_cache_t *c, tg_cache_stats_t *out);

#endif
