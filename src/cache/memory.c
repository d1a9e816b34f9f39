/* memory.c: see memory.h.
 *
 * One mutex guards the table, the LRU list and the fills in flight. Why
 * not something finer: every hit moves its entry to the front of the
 * list, so even lookups write shared state, and a lock-free LRU costs more
 * than the few hundred nanoseconds the lock is held (a hash probe and some
 * pointer moves; answers are copied, converted and freed outside it). The
 * benchmark's cache-hit runs (bench/RESULTS.md) measure it under load.
 *
 * Entries and flights each live in a chained hash table keyed by the
 * first 8 bytes of the key (SHA-256: already uniform); the tables double
 * when they hold more nodes than buckets. */
#include "cache/memory.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* What a table chains: the head of an entry and of a flight. */
typedef struct hnode {
    struct hnode *hnext;
    uint8_t key[TG_CACHE_KEY_LEN];
} hnode_t;

typedef struct table {
    hnode_t **buckets;
    size_t mask;  /* buckets - 1 */
    size_t count;
} table_t;

struct tg_cache_entry {
    hnode_t node;               /* first: the table's */
    atomic_int refs;
    tg_cache_entry_t *prev, *next; /* LRU list: head most recent */
    bool in_table;
    double expires;
    size_t bytes;               /* what it counts against the cap */
    char *payload;
    size_t len;
    tg_cache_answer_t answer;   /* views into payload */
};

struct tg_cache_flight {
    hnode_t node;               /* first: the table's */
    tg_cache_waiter_t *waiters;
    size_t waiter_count;
};

struct tg_cache {
    pthread_mutex_t lock;
    table_t entries, flights;
    tg_cache_entry_t *head, *tail;
    size_t bytes;
    size_t waiters;
};

/* ---------------------------------------------------------------- tables */

static size_t bucket_of(const table_t *t, const uint8_t *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return (size_t)h & t->mask;
}

static int table_init(table_t *t)
{
    t->buckets = calloc(64, sizeof(*t->buckets));
    t->mask = 63;
    t->count = 0;
    return t->buckets != NULL ? 0 : -1;
}

static hnode_t *table_find(const table_t *t, const uint8_t *key)
{
    for (hnode_t *n = t->buckets[bucket_of(t, key)]; n != NULL; n = n->hnext)
        if (memcmp(n->key, key, TG_CACHE_KEY_LEN) == 0)
            return n;
    return NULL;
}

static void table_grow(table_t *t)
{
    size_t size = (t->mask + 1) * 2;
    hnode_t **buckets = calloc(size, sizeof(*buckets));
    if (buckets == NULL)
        return; /* longer chains, still correct */
    table_t grown = {buckets, size - 1, t->count};
    for (size_t i = 0; i <= t->mask; i++) {
        for (hnode_t *n = t->buckets[i], *next; n != NULL; n = next) {
            next = n->hnext;
            size_t b = bucket_of(&grown, n->key);
            n->hnext = buckets[b];
            buckets[b] = n;
        }
    }
    free(t->buckets);
    *t = grown;
}

static void table_add(table_t *t, hnode_t *n)
{
    if (t->count > t->mask)
        table_grow(t);
    size_t b = bucket_of(t, n->key);
    n->hnext = t->buckets[b];
    t->buckets[b] = n;
    t->count++;
}

static void table_remove(table_t *t, hnode_t *n)
{
    for (hnode_t **p = &t->buckets[bucket_of(t, n->key)]; *p != NULL; p = &(*p)->hnext)
        if (*p == n) {
            *p = n->hnext;
            t->count--;
            return;
        }
}

/* --------------------------------------------------------------- entries */

tg_cache_entry_t *tg_cache_entry_new(const uint8_t key[TG_CACHE_KEY_LEN], char *payload, size_t len)
{
    tg_cache_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL || tg_cache_answer_decode(payload, len, &e->answer) != 0) {
        free(e);
        free(payload);
        return NULL;
    }
    memcpy(e->node.key, key, TG_CACHE_KEY_LEN);
    atomic_init(&e->refs, 1);
    e->payload = payload;
    e->len = len;
    e->bytes = len + sizeof(*e);
    return e;
}

const tg_cache_answer_t *tg_cache_entry_answer(const tg_cache_entry_t *e)
{
    return &e->answer;
}

const char *tg_cache_entry_payload(const tg_cache_entry_t *e, size_t *len)
{
    *len = e->len;
    return e->payload;
}

void tg_cache_entry_retain(tg_cache_entry_t *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void tg_cache_entry_release(tg_cache_entry_t *e)
{
    if (e == NULL || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(e->payload);
    free(e);
}

static void lru_unlink(tg_cache_t *c, tg_cache_entry_t *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(tg_cache_t *c, tg_cache_entry_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head != NULL)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

/* Out of the table; the caller releases the table's reference once it
 * has let go of the lock. */
static tg_cache_entry_t *drop(tg_cache_t *c, tg_cache_entry_t *e)
{
    table_remove(&c->entries, &e->node);
    lru_unlink(c, e);
    e->in_table = false;
    c->bytes -= e->bytes;
    return e;
}

/* Under the lock: the live entry of key, moved to the front, with a
 * reference; an expired one goes to *dead. */
static tg_cache_entry_t *find_live(tg_cache_t *c, const uint8_t *key, double now, tg_cache_entry_t **dead)
{
    tg_cache_entry_t *e = (tg_cache_entry_t *)table_find(&c->entries, key);
    if (e == NULL)
        return NULL;
    if (e->expires <= now) {
        *dead = drop(c, e);
        return NULL;
    }
    lru_unlink(c, e);
    lru_push(c, e);
    tg_cache_entry_retain(e);
    return e;
}

tg_cache_entry_t *tg_cache_get(tg_cache_t *c, const uint8_t key[TG_CACHE_KEY_LEN], double now)
{
    tg_cache_entry_t *dead = NULL;
    pthread_mutex_lock(&c->lock);
    tg_cache_entry_t *e = find_live(c, key, now, &dead);
    pthread_mutex_unlock(&c->lock);
    tg_cache_entry_release(dead);
    return e;
}

/* A list of entries to release after the lock: the dropped ones. */
typedef struct released {
    tg_cache_entry_t *list[64];
    size_t n;
} released_t;

bool tg_cache_put(tg_cache_t *c, tg_cache_entry_t *e, double now, double ttl, size_t cap)
{
    if (e->bytes > cap / 4 || e->in_table)
        return false;
    tg_cache_entry_retain(e);
    e->expires = now + ttl;
    pthread_mutex_lock(&c->lock);
    tg_cache_entry_t *old = (tg_cache_entry_t *)table_find(&c->entries, e->node.key), *evicted = NULL;
    if (old != NULL)
        drop(c, old);
    table_add(&c->entries, &e->node);
    lru_push(c, e);
    e->in_table = true;
    c->bytes += e->bytes;
    /* the evicted entries are chained through their (now unused) prev */
    while (c->bytes > cap && c->tail != e) {
        tg_cache_entry_t *victim = drop(c, c->tail);
        victim->prev = evicted;
        evicted = victim;
    }
    pthread_mutex_unlock(&c->lock);
    tg_cache_entry_release(old);
    while (evicted != NULL) {
        tg_cache_entry_t *next = evicted->prev;
        tg_cache_entry_release(evicted);
        evicted = next;
    }
    return true;
}

void tg_cache_sweep(tg_cache_t *c, double now, size_t max)
{
    tg_cache_entry_t *dead = NULL;
    pthread_mutex_lock(&c->lock);
    tg_cache_entry_t *e = c->tail;
    for (size_t seen = 0; e != NULL && seen < max; seen++) {
        tg_cache_entry_t *prev = e->prev;
        if (e->expires <= now) {
            drop(c, e);
            e->prev = dead;
            dead = e;
        }
        e = prev;
    }
    pthread_mutex_unlock(&c->lock);
    while (dead != NULL) {
        tg_cache_entry_t *next = dead->prev;
        tg_cache_entry_release(dead);
        dead = next;
    }
}

/* --------------------------------------------------------------- flights */

tg_cache_lookup_t tg_cache_lookup(tg_cache_t *c, const uint8_t key[TG_CACHE_KEY_LEN], double now,
                                  tg_cache_waiter_t *w, tg_cache_entry_t **entry, tg_cache_flight_t **flight)
{
    tg_cache_entry_t *dead = NULL;
    tg_cache_lookup_t result = TG_CACHE_MISS;
    tg_cache_flight_t *fresh = NULL;
    pthread_mutex_lock(&c->lock);
    if ((*entry = find_live(c, key, now, &dead)) != NULL) {
        result = TG_CACHE_HIT;
    } else {
        tg_cache_flight_t *f = (tg_cache_flight_t *)table_find(&c->flights, key);
        if (f == NULL) {
            /* allocated under the lock: rare (a miss), and a claim made
             * after letting go of it could be a second one */
            if ((fresh = calloc(1, sizeof(*fresh))) != NULL) {
                memcpy(fresh->node.key, key, TG_CACHE_KEY_LEN);
                table_add(&c->flights, &fresh->node);
                *flight = fresh;
                result = TG_CACHE_FILL;
            }
        } else if (w != NULL && f->waiter_count < TG_CACHE_MAX_WAITERS) {
            w->since = now;
            w->next = f->waiters;
            f->waiters = w;
            f->waiter_count++;
            c->waiters++;
            result = TG_CACHE_WAIT;
        }
    }
    pthread_mutex_unlock(&c->lock);
    tg_cache_entry_release(dead);
    return result;
}

static void wake_all(tg_cache_waiter_t *w, tg_cache_wake_t why)
{
    while (w != NULL) {
        tg_cache_waiter_t *next = w->next; /* w is gone after its wake */
        w->wake(w, why);
        w = next;
    }
}

void tg_cache_land(tg_cache_t *c, tg_cache_flight_t *f, bool filled)
{
    pthread_mutex_lock(&c->lock);
    table_remove(&c->flights, &f->node);
    c->waiters -= f->waiter_count;
    pthread_mutex_unlock(&c->lock);
    wake_all(f->waiters, filled ? TG_CACHE_WAKE_FILLED : TG_CACHE_WAKE_FAILED);
    free(f);
}

void tg_cache_expire_waiters(tg_cache_t *c, double now, double max_wait)
{
    tg_cache_waiter_t *expired = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t b = 0; c->waiters > 0 && b <= c->flights.mask; b++) {
        for (hnode_t *n = c->flights.buckets[b]; n != NULL; n = n->hnext) {
            tg_cache_flight_t *f = (tg_cache_flight_t *)n;
            for (tg_cache_waiter_t **p = &f->waiters; *p != NULL;) {
                tg_cache_waiter_t *w = *p;
                if (now - w->since < max_wait) {
                    p = &w->next;
                    continue;
                }
                *p = w->next;
                f->waiter_count--;
                c->waiters--;
                w->next = expired;
                expired = w;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    wake_all(expired, TG_CACHE_WAKE_TIMED_OUT);
}

/* ------------------------------------------------------------- lifecycle */

tg_cache_t *tg_cache_new(void)
{
    tg_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (table_init(&c->entries) != 0 || table_init(&c->flights) != 0) {
        free(c->entries.buckets);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void tg_cache_free(tg_cache_t *c)
{
    if (c == NULL)
        return;
    for (tg_cache_entry_t *e = c->head, *next; e != NULL; e = next) {
        next = e->next;
        tg_cache_entry_release(e);
    }
    /* no worker runs: a flight left over (a request cut at the shutdown
     * deadline) has no one to wake */
    for (size_t b = 0; b <= c->flights.mask; b++)
        for (hnode_t *n = c->flights.buckets[b], *next; n != NULL; n = next) {
            next = n->hnext;
            free(n);
        }
    free(c->entries.buckets);
    free(c->flights.buckets);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void tg_cache_stats(tg_cache_t *c, tg_cache_stats_t *out)
{
    pthread_mutex_lock(&c->lock);
    *out = (tg_cache_stats_t){c->entries.count, c->bytes, c->flights.count, c->waiters};
    pthread_mutex_unlock(&c->lock);
}
