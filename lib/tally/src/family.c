/*
 * family.c - children of a family: the label-value hash table, lookup and
 * creation, removal, the max_children overflow child and expiry.
 *
 * Lookups that hit read an immutable table snapshot with acquire loads:
 * hash, probe, memcmp, no lock and no allocation. Everything that changes
 * the set of children (create, detach, re-attach, resize) holds the family
 * mutex. Nothing is ever freed before the family itself: a resized table
 * is chained on `retired`, a removed child stays in the table detached, so a
 * reader racing with a writer never touches freed memory.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "store.h"

static const char *const overflow_values[TALLY_MAX_LABELS] = {
#define O4 TALLY_OVERFLOW_VALUE, TALLY_OVERFLOW_VALUE, TALLY_OVERFLOW_VALUE, TALLY_OVERFLOW_VALUE
    O4, O4, O4, O4, O4, O4, O4, O4
#undef O4
};

/* ------------------------------------------------------------- hashing */

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t hash_bytes(uint64_t h, const char *p, size_t n)
{
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    h ^= n * k;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = rotl64((h ^ w) * k, 29);
        p += 8;
        n -= 8;
    }
    if (n) {
        /* Tail read as overlapping loads: copying it bytewise into a word
         * stalls store forwarding and was most of a lookup's time. */
        uint64_t w;
        if (n >= 4) {
            uint32_t lo, hi;
            memcpy(&lo, p, 4);
            memcpy(&hi, p + n - 4, 4);
            w = ((uint64_t)hi << 32) | lo;
        } else {
            w = (uint64_t)(unsigned char)p[0] | (uint64_t)(unsigned char)p[n / 2] << 8 |
                (uint64_t)(unsigned char)p[n - 1] << 16;
        }
        h = rotl64((h ^ w) * k, 29);
    }
    return h;
}

uint64_t tally__hash_values(const char *const *values, size_t n, size_t *lens)
{
    uint64_t h = 0x243F6A8885A308D3ull;
    for (size_t i = 0; i < n; i++) {
        lens[i] = strlen(values[i]);
        h = hash_bytes(h, values[i], lens[i]);
    }
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

static bool key_equal(const tally__child *c, const char *const *values, const size_t *lens,
                      size_t n)
{
    const char *p = c->key;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(p, values[i], lens[i] + 1) != 0)
            return false;
        p += lens[i] + 1;
    }
    return true;
}

static tally__child *probe(tally__table *t, uint64_t h, const char *const *values,
                           const size_t *lens, size_t n, size_t key_len)
{
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        tally__child *c = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (!c)
            return NULL;
        if (c->hash == h && c->key_len == key_len && key_equal(c, values, lens, n))
            return c;
    }
}

static tally__table *table_new(size_t slots)
{
    tally__table *t = calloc(1, sizeof *t + slots * sizeof t->slots[0]);
    if (t)
        t->mask = slots - 1;
    return t;
}

static void table_put(tally__table *t, tally__child *c)
{
    size_t i = c->hash & t->mask;
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed))
        i = (i + 1) & t->mask;
    atomic_store_explicit(&t->slots[i], c, memory_order_release);
    t->used++;
}

/* Family lock held. Keeps the load factor at or below 1/2. */
static bool table_insert(tally_family *fam, tally__child *c)
{
    tally__table *t = atomic_load_explicit(&fam->table, memory_order_relaxed);
    if ((t->used + 1) * 2 > t->mask + 1) {
        tally__table *bigger = table_new((t->mask + 1) * 2);
        if (!bigger)
            return false;
        for (size_t i = 0; i <= t->mask; i++) {
            tally__child *old = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
            if (old)
                table_put(bigger, old);
        }
        bigger->retired = t;
        atomic_store_explicit(&fam->table, bigger, memory_order_release);
        t = bigger;
    }
    table_put(t, c);
    return true;
}

/* ------------------------------------------------------------- children */

static void child_free(tally_family *fam, tally__child *c)
{
    if (c->cells)
        tally__arena_free(&fam->reg->arena, c->cells, fam->cell_bytes);
    tally__sketch_free(c->sketch);
    free(atomic_load_explicit(&c->exemplars, memory_order_relaxed));
    free((void *)c->states);
    free(c);
}

/* Family lock held. Creates, inserts and attaches a child. */
static tally__child *child_create(tally_family *fam, const char *const *values,
                                  const size_t *lens, uint64_t h, size_t key_len)
{
    size_t n = fam->key_labels;
    tally__child *c = calloc(1, sizeof *c + n * sizeof(char *) + key_len);
    if (!c)
        return NULL;
    c->fam = fam;
    c->hash = h;
    c->key_len = key_len;
    c->values = (const char **)(c + 1);
    c->key = (char *)(c->values + n);
    char *p = c->key;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, values[i], lens[i] + 1);
        c->values[i] = p;
        p += lens[i] + 1;
    }
    atomic_flag_clear(&c->exemplar_lock);
    c->bounds = fam->view.buckets;
    c->bound_count = (uint32_t)fam->view.bucket_count;
    if (fam->cell_bytes && !(c->cells = tally__arena_alloc(&fam->reg->arena, fam->cell_bytes)))
        goto fail;
    if (fam->view.type == TALLY_SUMMARY && fam->view.quantile_count &&
        !(c->sketch = tally__sketch_new(fam->relative_error, fam->max_age, fam->age_buckets)))
        goto fail;
    if (fam->view.type == TALLY_STATESET &&
        !(c->states = calloc(fam->view.state_count ? fam->view.state_count : 1, 1)))
        goto fail;
    if (!table_insert(fam, c))
        goto fail;
    atomic_store_explicit(&c->created, tally__now_real(), memory_order_relaxed);
    c->seen_time = tally__now_mono();
    atomic_store_explicit(&c->live, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&fam->live, 1, memory_order_relaxed);
    /* release: a renderer following `next` sees the child fully built */
    if (fam->last)
        atomic_store_explicit(&fam->last->next, c, memory_order_release);
    else
        atomic_store_explicit(&fam->first, c, memory_order_release);
    fam->last = c;
    return c;
fail:
    child_free(fam, c);
    return NULL;
}

void tally__child_reset(tally_family *fam, tally__child *c)
{
    if (c->cells)
        tally__cells_zero(c->cells, fam->cell_bytes);
    atomic_store_explicit(&c->gauge, 0, memory_order_relaxed);
    if (c->sketch)
        tally__sketch_reset(c->sketch);
    tally__exemplar_slot *ex = atomic_load_explicit(&c->exemplars, memory_order_acquire);
    if (ex) {
        size_t slots = fam->view.type == TALLY_HISTOGRAM ? fam->view.bucket_count + 1 : 1;
        while (atomic_flag_test_and_set_explicit(&c->exemplar_lock, memory_order_acquire))
            ;
        for (size_t i = 0; i < slots; i++)
            ex[i].label_count = 0;
        atomic_flag_clear_explicit(&c->exemplar_lock, memory_order_release);
    }
    for (size_t i = 0; c->states && i < fam->view.state_count; i++)
        atomic_store_explicit(&c->states[i], 0, memory_order_relaxed);
    atomic_store_explicit(&c->created, tally__now_real(), memory_order_relaxed);
    c->seen_value = 0;
    c->seen_time = tally__now_mono();
}

/* Family lock held. */
void tally__child_detach(tally_family *fam, tally__child *c)
{
    if (atomic_load_explicit(&c->live, memory_order_relaxed)) {
        atomic_store_explicit(&c->live, 0, memory_order_relaxed);
        atomic_fetch_sub_explicit(&fam->live, 1, memory_order_relaxed);
    }
}

static void attach(tally_family *fam, tally__child *c)
{
    tally__child_reset(fam, c);
    /* release: a lock-free lookup that sees live == 1 (acquire) also sees
     * the zeroed cells and the new created time */
    atomic_store_explicit(&c->live, 1, memory_order_release);
    atomic_fetch_add_explicit(&fam->live, 1, memory_order_relaxed);
}

/* Family lock held: a new label set past max_children. */
static tally__child *fold_into_overflow(tally_family *fam)
{
    if (!fam->overflow_count && fam->reg->overflow_family) {
        const char *name = fam->view.name;
        fam->overflow_count = tally__family_lookup(fam->reg->overflow_family, &name);
    }
    if (fam->overflow_count)
        tally_counter_inc((tally_counter *)fam->overflow_count);
    if (!fam->overflow) {
        size_t lens[TALLY_MAX_LABELS];
        size_t n = fam->key_labels, key_len = n * (sizeof TALLY_OVERFLOW_VALUE);
        uint64_t h = tally__hash_values(overflow_values, n, lens);
        tally__table *t = atomic_load_explicit(&fam->table, memory_order_relaxed);
        fam->overflow = probe(t, h, overflow_values, lens, n, key_len);
        if (!fam->overflow)
            fam->overflow = child_create(fam, overflow_values, lens, h, key_len);
    }
    if (fam->overflow && !atomic_load_explicit(&fam->overflow->live, memory_order_relaxed))
        attach(fam, fam->overflow);
    return fam->overflow;
}

/* Family lock held. The overflow child is in `live` (it is rendered and
 * sized like any other) but does not take a place under the cap. */
static bool at_cap(const tally_family *fam)
{
    if (!fam->max_children)
        return false;
    size_t live = atomic_load_explicit(&fam->live, memory_order_relaxed);
    if (fam->overflow && atomic_load_explicit(&fam->overflow->live, memory_order_relaxed))
        live--;
    return live >= fam->max_children;
}

static tally__child *lookup_slow(tally_family *fam, const char *const *values, const size_t *lens,
                                 uint64_t h, size_t key_len)
{
    size_t n = fam->key_labels;
    pthread_mutex_lock(&fam->lock);
    tally__table *t = atomic_load_explicit(&fam->table, memory_order_relaxed);
    tally__child *c = probe(t, h, values, lens, n, key_len);
    if (c && !atomic_load_explicit(&c->live, memory_order_relaxed)) {
        if (at_cap(fam) && c != fam->overflow)
            c = fold_into_overflow(fam);
        else
            attach(fam, c);
    } else if (!c) {
        /* Values that are not UTF-8 never enter the table, so hits skip this. */
        for (size_t i = 0; i < n; i++)
            if (!tally__valid_utf8(values[i], lens[i], NULL))
                goto out;
        c = at_cap(fam) ? fold_into_overflow(fam) : child_create(fam, values, lens, h, key_len);
    }
out:
    pthread_mutex_unlock(&fam->lock);
    return c;
}

/* Hashes a full set of label values and sizes their stored key (each value
 * with its NUL); false when values are missing. */
static bool hash_key(const tally_family *fam, const char *const *values, size_t *lens,
                     uint64_t *h, size_t *key_len)
{
    size_t n = fam->key_labels;
    if (n && !values)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!values[i])
            return false;
    *h = tally__hash_values(values, n, lens);
    *key_len = n;
    for (size_t i = 0; i < n; i++)
        *key_len += lens[i];
    return true;
}

tally__child *tally__family_lookup(tally_family *fam, const char *const *values)
{
    size_t lens[TALLY_MAX_LABELS], key_len;
    uint64_t h;
    if (!hash_key(fam, values, lens, &h, &key_len))
        return NULL;
    tally__table *t = atomic_load_explicit(&fam->table, memory_order_acquire);
    tally__child *c = probe(t, h, values, lens, fam->key_labels, key_len);
    if (TALLY_LIKELY(c && atomic_load_explicit(&c->live, memory_order_acquire)))
        return c;
    return lookup_slow(fam, values, lens, h, key_len);
}

/* The unlabelled child, re-attached if a clear/expiry detached it. */
static tally__child *unlabelled(tally_family *fam)
{
    tally__child *c = fam ? fam->unlabelled : NULL;
    if (TALLY_LIKELY(c && atomic_load_explicit(&c->live, memory_order_acquire)))
        return c;
    return c ? tally__family_lookup(fam, NULL) : NULL;
}

/* Lookups through the public handle types; a mismatched type gets NULL. */
static tally__child *typed_lookup(tally_family *fam, tally_type type, const char *const *values)
{
    if (!fam || fam->view.type != type)
        return NULL;
    return tally__family_lookup(fam, values);
}

static tally__child *typed_va(tally_family *fam, tally_type type, va_list ap)
{
    const char *values[TALLY_MAX_LABELS];
    if (!fam || fam->view.type != type)
        return NULL;
    for (size_t i = 0; i < fam->key_labels; i++)
        values[i] = va_arg(ap, const char *);
    return tally__family_lookup(fam, values);
}

#define TYPED_LOOKUPS(kind, TYPE)                                                        \
    tally_##kind *tally_##kind##_with(tally_family *fam, const char *const *values)      \
    {                                                                                    \
        return (tally_##kind *)typed_lookup(fam, TYPE, values);                          \
    }                                                                                    \
    tally_##kind *tally_##kind##_labels(tally_family *fam, ...)                          \
    {                                                                                    \
        va_list ap;                                                                      \
        va_start(ap, fam);                                                               \
        tally__child *c = typed_va(fam, TYPE, ap);                                       \
        va_end(ap);                                                                      \
        return (tally_##kind *)c;                                                        \
    }                                                                                    \
    tally_##kind *tally_##kind##_get(tally_family *fam)                                  \
    {                                                                                    \
        return fam && fam->view.type == TYPE ? (tally_##kind *)unlabelled(fam) : NULL;   \
    }

TYPED_LOOKUPS(counter, TALLY_COUNTER)
TYPED_LOOKUPS(gauge, TALLY_GAUGE)
TYPED_LOOKUPS(histogram, TALLY_HISTOGRAM)
TYPED_LOOKUPS(summary, TALLY_SUMMARY)

/* ------------------------------------------------------------ lifecycle */

tally_err tally_family_remove(tally_family *fam, const char *const *values)
{
    size_t lens[TALLY_MAX_LABELS], key_len;
    uint64_t h;
    if (!fam)
        return TALLY_ERR_FORMAT;
    if (!hash_key(fam, values, lens, &h, &key_len))
        return TALLY_ERR_LABEL_COUNT;
    tally_err err = TALLY_ERR_NOT_FOUND;
    pthread_mutex_lock(&fam->lock);
    tally__child *c = probe(atomic_load_explicit(&fam->table, memory_order_relaxed), h, values,
                            lens, fam->key_labels, key_len);
    if (c && atomic_load_explicit(&c->live, memory_order_relaxed)) {
        tally__child_detach(fam, c);
        err = TALLY_OK;
    }
    pthread_mutex_unlock(&fam->lock);
    return err;
}

int tally_family_remove_matching(tally_family *fam, const char *const *label_names,
                                 const char *const *label_values, size_t n)
{
    size_t index[TALLY_MAX_LABELS];
    if (!fam || n > fam->key_labels || (n && (!label_names || !label_values)))
        return TALLY_ERR_LABEL_COUNT;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < fam->key_labels && (!label_names[i] ||
                                       strcmp(fam->view.label_names[j], label_names[i]) != 0))
            j++;
        if (j == fam->key_labels)
            return TALLY_ERR_INVALID_LABEL;
        if (!label_values[i])
            return TALLY_ERR_INVALID_VALUE;
        index[i] = j;
    }
    int removed = 0;
    pthread_mutex_lock(&fam->lock);
    for (tally__child *c = atomic_load_explicit(&fam->first, memory_order_relaxed); c;
         c = atomic_load_explicit(&c->next, memory_order_relaxed)) {
        if (!atomic_load_explicit(&c->live, memory_order_relaxed))
            continue;
        size_t i = 0;
        while (i < n && strcmp(c->values[index[i]], label_values[i]) == 0)
            i++;
        if (i == n) {
            tally__child_detach(fam, c);
            removed++;
        }
    }
    pthread_mutex_unlock(&fam->lock);
    return removed;
}

void tally_family_clear(tally_family *fam)
{
    if (fam)
        tally_family_remove_matching(fam, NULL, NULL, 0);
}

size_t tally_family_size(const tally_family *fam)
{
    return fam ? atomic_load_explicit(&fam->live, memory_order_relaxed) : 0;
}

/* What expiry compares between sweeps: any update changes it. For
 * histograms and summaries that is the count alone: count + sum would stay
 * put under observations of -1. */
double tally__child_total(const tally_family *fam, const tally__child *c)
{
    switch (fam->view.type) {
    case TALLY_COUNTER:
        return (double)tally__sum_u64(c->cells, 0) + tally__sum_double(c->cells, 1);
    case TALLY_GAUGE:
        return tally__bitsd(atomic_load_explicit(&c->gauge, memory_order_relaxed));
    case TALLY_HISTOGRAM: {
        uint64_t count = 0;
        for (size_t b = 0; b <= c->bound_count; b++)
            count += tally__sum_u64(c->cells, b);
        return (double)count;
    }
    case TALLY_SUMMARY:
        return (double)tally__sum_u64(c->cells, 0);
    default:
        return 0;
    }
}

/* Render lock held. Info and stateset children describe state, not
 * activity, and never expire. */
size_t tally__family_sweep(tally_family *fam, double now)
{
    size_t removed = 0;
    tally_type t = fam->view.type;
    if (!(fam->expire_after > 0) || t == TALLY_INFO || t == TALLY_STATESET)
        return 0;
    pthread_mutex_lock(&fam->lock);
    for (tally__child *c = atomic_load_explicit(&fam->first, memory_order_relaxed); c;
         c = atomic_load_explicit(&c->next, memory_order_relaxed)) {
        if (!atomic_load_explicit(&c->live, memory_order_relaxed))
            continue;
        double v = tally__child_total(fam, c);
        if (tally__dbits(v) != tally__dbits(c->seen_value)) {
            c->seen_value = v;
            c->seen_time = now;
        } else if (now - c->seen_time >= fam->expire_after) {
            tally__child_detach(fam, c);
            removed++;
        }
    }
    pthread_mutex_unlock(&fam->lock);
    return removed;
}

/* ------------------------------------------------------------ creation */

/* Sets up the children side of a freshly validated family. */
tally_err tally__family_init_children(tally_family *fam)
{
    pthread_mutex_init(&fam->lock, NULL);
    tally__table *t = table_new(16);
    if (!t)
        return TALLY_ERR_NOMEM;
    atomic_store_explicit(&fam->table, t, memory_order_relaxed);
    tally_type type = fam->view.type;
    if (fam->key_labels == 0 && type != TALLY_INFO && type != TALLY_STATESET) {
        pthread_mutex_lock(&fam->lock);
        size_t lens[1];
        fam->unlabelled = child_create(fam, NULL, lens, tally__hash_values(NULL, 0, lens), 0);
        pthread_mutex_unlock(&fam->lock);
        if (!fam->unlabelled)
            return TALLY_ERR_NOMEM;
    }
    return TALLY_OK;
}

void tally__family_free(tally_family *fam)
{
    tally__child *c = atomic_load_explicit(&fam->first, memory_order_relaxed);
    while (c) {
        tally__child *next = atomic_load_explicit(&c->next, memory_order_relaxed);
        child_free(fam, c);
        c = next;
    }
    tally__table *t = atomic_load_explicit(&fam->table, memory_order_relaxed);
    while (t) {
        tally__table *older = t->retired;
        free(t);
        t = older;
    }
    if (fam->table)
        pthread_mutex_destroy(&fam->lock);
    tally__view_free(&fam->view);
    free(fam->category);
    free(fam);
}
