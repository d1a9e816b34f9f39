/*
 * slots.c - thread stripes and the cell arena.
 *
 * A thread gets an exclusive stripe on its first update from a process-wide
 * bitmap and gives it back when it exits (pthread key destructor). Once the
 * private stripes are taken, late threads share the last stripe and pay for
 * atomic RMW. Cells are carved from chunks holding TALLY_STRIPES parallel
 * regions, so children sit densely next to each other inside a stripe: a
 * stripe is written by one thread only, so density costs no false sharing.
 */
#include <stdlib.h>
#include <time.h>

#include "store.h"

__thread unsigned tally__tls_stripe __attribute__((tls_model("initial-exec")));

static _Atomic unsigned stripe_bitmap;
static pthread_key_t stripe_key;
static pthread_once_t stripe_once = PTHREAD_ONCE_INIT;
static bool stripe_key_ok;

static void stripe_release(void *value)
{
    unsigned stripe = (unsigned)(uintptr_t)value - 1;
    tally__tls_stripe = 0;
    /* release: our last plain stores happen-before the next owner's loads */
    atomic_fetch_and_explicit(&stripe_bitmap, ~(1u << stripe), memory_order_release);
}

static void stripe_key_create(void)
{
    stripe_key_ok = pthread_key_create(&stripe_key, stripe_release) == 0;
}

/* The slow path of a thread's first update (once per thread): pthread_once
 * and pthread_setspecific cost a little once, never on later updates. */
unsigned tally__stripe_acquire(void)
{
    pthread_once(&stripe_once, stripe_key_create);
    if (stripe_key_ok) {
        unsigned bits = atomic_load_explicit(&stripe_bitmap, memory_order_relaxed);
        for (unsigned s = 0; s < TALLY_SHARED_STRIPE; s++) {
            if (bits & (1u << s))
                continue;
            if (atomic_compare_exchange_strong_explicit(&stripe_bitmap, &bits, bits | (1u << s),
                                                        memory_order_acquire,
                                                        memory_order_relaxed)) {
                if (pthread_setspecific(stripe_key, (void *)(uintptr_t)(s + 1)) != 0) {
                    atomic_fetch_and_explicit(&stripe_bitmap, ~(1u << s), memory_order_release);
                    break;
                }
                tally__tls_stripe = s + 1;
                return s;
            }
            s = (unsigned)-1; /* bitmap changed under us: rescan from the start */
        }
    }
    tally__tls_stripe = TALLY_SHARED_STRIPE + 1;
    return TALLY_SHARED_STRIPE;
}

uint64_t tally__sum_u64(const char *cells, size_t word)
{
    uint64_t total = 0;
    for (unsigned s = 0; s < TALLY_STRIPES; s++)
        total += atomic_load_explicit(tally__cell((char *)cells, s) + word, memory_order_relaxed);
    return total;
}

double tally__sum_double(const char *cells, size_t word)
{
    double total = 0;
    for (unsigned s = 0; s < TALLY_STRIPES; s++)
        total += tally__bitsd(
            atomic_load_explicit(tally__cell((char *)cells, s) + word, memory_order_relaxed));
    return total;
}

/* ---------------------------------------------------------------- arena */

void tally__arena_init(tally__arena *a)
{
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->lock, NULL);
    a->used = TALLY_CHUNK_BYTES; /* forces a chunk on first use */
}

void tally__arena_destroy(tally__arena *a)
{
    for (size_t i = 0; i < a->chunk_count; i++)
        free(a->chunks[i]);
    free(a->chunks);
    while (a->free) {
        tally__freelist *next = a->free->next;
        free(a->free);
        a->free = next;
    }
    pthread_mutex_destroy(&a->lock);
}

void tally__cells_zero(char *cells, size_t size)
{
    for (unsigned s = 0; s < TALLY_STRIPES; s++) {
        _Atomic uint64_t *p = tally__cell(cells, s);
        for (size_t w = 0; w < size / 8; w++)
            atomic_store_explicit(&p[w], 0, memory_order_relaxed);
    }
}

static tally__freelist *freelist_for(tally__arena *a, size_t size, bool create)
{
    for (tally__freelist *f = a->free; f; f = f->next)
        if (f->size == size)
            return f;
    if (!create)
        return NULL;
    tally__freelist *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->size = size;
    f->next = a->free;
    a->free = f;
    return f;
}

char *tally__arena_alloc(tally__arena *a, size_t size)
{
    char *cells = NULL;
    size = (size + 7) & ~(size_t)7;
    if (size == 0 || size > TALLY_CHUNK_BYTES)
        return NULL;
    pthread_mutex_lock(&a->lock);
    tally__freelist *f = freelist_for(a, size, false);
    if (f && f->head) {
        cells = f->head;
        memcpy(&f->head, cells, sizeof(char *));
        pthread_mutex_unlock(&a->lock);
        tally__cells_zero(cells, size);
        return cells;
    }
    if (a->used + size > TALLY_CHUNK_BYTES) {
        if (a->chunk_count == a->chunk_cap) {
            size_t cap = a->chunk_cap ? a->chunk_cap * 2 : 16;
            char **chunks = realloc(a->chunks, cap * sizeof *chunks);
            if (!chunks)
                goto out;
            a->chunks = chunks;
            a->chunk_cap = cap;
        }
        /* 64-byte aligned so a stripe region starts on a cache line */
        char *chunk = aligned_alloc(64, (size_t)TALLY_STRIPES * TALLY_CHUNK_BYTES);
        if (!chunk)
            goto out;
        memset(chunk, 0, (size_t)TALLY_STRIPES * TALLY_CHUNK_BYTES);
        a->chunks[a->chunk_count++] = chunk;
        a->used = 0;
    }
    cells = a->chunks[a->chunk_count - 1] + a->used;
    a->used += size;
out:
    pthread_mutex_unlock(&a->lock);
    return cells;
}

void tally__arena_free(tally__arena *a, char *cells, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    pthread_mutex_lock(&a->lock);
    tally__freelist *f = freelist_for(a, size, true);
    if (f) { /* if the list cannot be made, the cell just stays unused */
        memcpy(cells, &f->head, sizeof(char *));
        f->head = cells;
    }
    pthread_mutex_unlock(&a->lock);
}

/* ---------------------------------------------------------------- clocks */

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double tally__now_real(void) { return clock_seconds(CLOCK_REALTIME); }
double tally__now_mono(void) { return clock_seconds(CLOCK_MONOTONIC); }
/* vDSO, no syscall: fine on update paths (summary windows) */
double tally__now_coarse(void) { return clock_seconds(CLOCK_MONOTONIC_COARSE); }
