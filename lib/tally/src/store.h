/*
 * store.h - private structures of tally's metric store: thread stripes, the
 * cell arena, children, families and the registry. Only the store's own
 * files include this; the renderers see the store through internal.h.
 *
 * Memory model in one paragraph: every value that update paths write lives
 * in "cells". A child owns one cell per stripe, all at the same offset in
 * TALLY_STRIPES parallel regions of an arena chunk, so stripe s of a child is
 * at child->cells + s * TALLY_CHUNK_BYTES. A thread owns one stripe and is its
 * only writer, so it updates with a plain relaxed load and store; threads
 * without a stripe of their own share the last one and use atomic RMW.
 * Readers sum the stripes.
 */
#ifndef TALLY_STORE_H
#define TALLY_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

#ifndef TALLY_STRIPES
#define TALLY_STRIPES 8
#endif
#define TALLY_SHARED_STRIPE (TALLY_STRIPES - 1)
#define TALLY_CHUNK_BYTES 16384
#define TALLY_MAX_BUCKETS 1000
#define TALLY_MAX_QUANTILES 1000
#define TALLY_EXEMPLAR_MAX_CHARS 128
#define TALLY_EXEMPLAR_MAX_LABELS 8
#define TALLY_OVERFLOW_VALUE "__overflow__"

#define TALLY_LIKELY(x) __builtin_expect(!!(x), 1)
#define TALLY_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------ stripes */

/* The calling thread's stripe plus one; 0 until its first update. */
extern __thread unsigned tally__tls_stripe __attribute__((tls_model("initial-exec")));
unsigned tally__stripe_acquire(void);

static inline unsigned tally__stripe(void)
{
    unsigned s = tally__tls_stripe;
    if (TALLY_LIKELY(s != 0))
        return s - 1;
    return tally__stripe_acquire();
}

static inline _Atomic uint64_t *tally__cell(char *cells, unsigned stripe)
{
    return (_Atomic uint64_t *)(cells + (size_t)stripe * TALLY_CHUNK_BYTES);
}

static inline uint64_t tally__dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double tally__bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Adds to an integer cell of stripe `stripe`: the owner is the only writer,
 * so load+store is enough and avoids the locked instruction; the shared
 * stripe needs the real RMW. */
static inline void tally__cell_add_u64(_Atomic uint64_t *p, unsigned stripe, uint64_t n)
{
    if (TALLY_LIKELY(stripe != TALLY_SHARED_STRIPE))
        atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(p, n, memory_order_relaxed);
}

/* The same for a cell holding a double's bits (CAS loop on the shared one). */
static inline void tally__cell_add_double(_Atomic uint64_t *p, unsigned stripe, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    if (TALLY_LIKELY(stripe != TALLY_SHARED_STRIPE)) {
        atomic_store_explicit(p, tally__dbits(tally__bitsd(old) + v), memory_order_relaxed);
        return;
    }
    while (!atomic_compare_exchange_weak_explicit(p, &old, tally__dbits(tally__bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Sum over stripes of the u64 at word `word` of a child's cells. */
uint64_t tally__sum_u64(const char *cells, size_t word);
double tally__sum_double(const char *cells, size_t word);

/* -------------------------------------------------------------- arena */

typedef struct tally__freelist {
    size_t size;
    char *head;                      /* next pointer kept in stripe 0 of the cell */
    struct tally__freelist *next;
} tally__freelist;

typedef struct tally__arena {
    pthread_mutex_t lock;            /* children are created concurrently in many families */
    char **chunks;
    size_t chunk_count, chunk_cap;
    size_t used;                     /* bytes used in the newest chunk's stripe region */
    tally__freelist *free;
} tally__arena;

void  tally__arena_init(tally__arena *a);
void  tally__arena_destroy(tally__arena *a);
/* Zeroed cells of `size` bytes (multiple of 8, <= TALLY_CHUNK_BYTES) in every
 * stripe; NULL on allocation failure. */
char *tally__arena_alloc(tally__arena *a, size_t size);
void  tally__arena_free(tally__arena *a, char *cells, size_t size);
void  tally__cells_zero(char *cells, size_t size);

/* ------------------------------------------------------------ children */

typedef struct tally__exemplar_slot {
    double value;
    double timestamp;
    uint32_t label_count;            /* 0 = empty */
    uint16_t name_len[TALLY_EXEMPLAR_MAX_LABELS];
    uint16_t value_len[TALLY_EXEMPLAR_MAX_LABELS];
    char text[TALLY_EXEMPLAR_MAX_CHARS * 4 + 2 * TALLY_EXEMPLAR_MAX_LABELS];
} tally__exemplar_slot;

typedef struct tally__sketch tally__sketch;

/* One child. The public handle types (tally_counter, tally_gauge, ...) are
 * all pointers to this. Hot fields first. */
typedef struct tally__child {
    char *cells;                     /* stripe 0; see tally__cell() */
    const double *bounds;            /* histogram upper bounds (the family's) */
    uint32_t bound_count;
    _Atomic uint64_t gauge;          /* gauge: double bits (one cell, CAS) */
    tally__sketch *sketch;           /* summary with quantiles */
    struct tally_family *fam;
    uint64_t hash;
    _Atomic(struct tally__child *) next; /* creation order, for rendering */
    _Atomic int live;                /* 0 once removed (detached) */
    _Atomic double created;          /* real time of (re)creation; re-attach races renders */
    double seen_value, seen_time;    /* expiry: value at the last sweep, monotonic time it changed */
    atomic_flag exemplar_lock;
    _Atomic(tally__exemplar_slot *) exemplars; /* counter: 1, histogram: buckets + 1 */
    _Atomic uint8_t *states;         /* stateset */
    size_t key_len;                  /* bytes of key, NULs included */
    const char **values;             /* key_labels pointers into key */
    char *key;                       /* label values, each NUL-terminated (same allocation) */
} tally__child;

/* ------------------------------------------------------------ families */

/* Open-addressing table of children. A slot, once set, never changes, so a
 * reader that found a table can probe it without a lock. */
typedef struct tally__table {
    size_t mask;
    size_t used;
    struct tally__table *retired;    /* older tables, freed with the family */
    _Atomic(tally__child *) slots[];
} tally__table;

typedef struct tally_family {
    struct tally_registry *reg;
    tally__family_view view;         /* names, help, unit, buckets... (owned) */
    char *category;
    size_t key_labels;               /* label values per lookup (stateset: minus the state) */
    size_t cell_bytes;               /* per stripe, 0 if the type has no striped cells */
    size_t max_children;
    double expire_after;
    pthread_mutex_t lock;            /* child creation, removal, resize */
    _Atomic(tally__table *) table;
    _Atomic(tally__child *) first;
    tally__child *last;
    _Atomic size_t live;
    tally__child *unlabelled;
    tally__child *overflow;
    tally__child *overflow_count;    /* our child of tally_series_overflow_total */
    /* summary */
    double max_age, relative_error;
    unsigned age_buckets;
} tally_family;

/* ------------------------------------------------------------ registry */

typedef struct tally__collector {
    char *category;
    tally__family_view *views;
    size_t view_count;
    tally_collect_fn fn;
    void *user;
    void (*free_fn)(void *user);
} tally__collector;

typedef struct tally__entry {
    struct tally__entry *next;
    tally_family *fam;               /* exactly one of fam, col */
    tally__collector *col;
} tally__entry;

struct tally_registry {
    pthread_mutex_t lock;            /* the render lock: registration, render, sweep */
    tally__entry *first, *last;
    tally__arena arena;
    tally_family *overflow_family;   /* tally_series_overflow_total{family} */
    void *scratch;                   /* per-render buffers, reused across renders */
    size_t scratch_cap;
};

/* Registry lock held: appends a validated collector in registration order. */
tally_err tally__registry_append_collector(tally_registry *reg, tally__collector *col);

/* ------------------------------------------------------------- helpers */

double tally__now_real(void);
double tally__now_mono(void);
double tally__now_coarse(void);

bool tally__valid_metric_name(const char *s);
bool tally__valid_label_name(const char *s);
bool tally__valid_utf8(const char *s, size_t len, size_t *chars);
char *tally__strdup(const char *s);
void tally__view_free(tally__family_view *v);
/* Fills a family view from the registration arguments (copying strings,
 * joining namespace, subsystem and name, normalising the result);
 * validates everything but clashes with other families. On error the
 * caller still releases v with tally__view_free. */
tally_err tally__view_build(tally__family_view *v, tally_type type, const char *ns,
                            const char *subsystem, const char *name,
                            const char *help, const char *unit,
                            const char *const *label_names, size_t label_count,
                            const double *buckets, size_t bucket_count,
                            const double *quantiles, size_t quantile_count);
/* TALLY_ERR_DUPLICATE or TALLY_ERR_SUFFIX_CLASH if a and b cannot coexist. */
tally_err tally__views_clash(const tally__family_view *a, const tally__family_view *b);
/* Duplicate and suffix clashes against everything in reg (lock held). */
tally_err tally__check_clash(tally_registry *reg, const tally__family_view *v);

uint64_t tally__hash_values(const char *const *values, size_t n, size_t *lens);
tally__child *tally__family_lookup(tally_family *fam, const char *const *values);
void tally__child_detach(tally_family *fam, tally__child *c);
tally_err tally__family_init_children(tally_family *fam);
void tally__family_free(tally_family *fam);
size_t tally__family_sweep(tally_family *fam, double now);
double tally__child_total(const tally_family *fam, const tally__child *c);
void tally__child_reset(tally_family *fam, tally__child *c);

tally__sketch *tally__sketch_new(double relative_error, double max_age, unsigned age_buckets);
void tally__sketch_free(tally__sketch *s);
void tally__sketch_reset(tally__sketch *s);
void tally__sketch_observe(tally__sketch *s, double v);
/* Estimates for qs[0..n); NaN when the window is empty. */
void tally__sketch_quantiles(tally__sketch *s, const double *qs, size_t n, double *out);

tally_err tally__exemplar_store(tally__child *c, size_t index, size_t slot_count, double v,
                                const tally_exemplar *ex);
/* Copies exemplar `index` into view + the caller's pointer arrays (under the spinlock). */
void tally__exemplar_copy(tally__child *c, size_t index, tally__exemplar_view *out,
                          tally__exemplar_slot *copy, const char **names, const char **values);

#endif /* TALLY_STORE_H */
