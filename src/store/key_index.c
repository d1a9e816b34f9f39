/* key_index.c: see key_index.h. Open addressing on the hash's first eight
 * bytes (already uniform: they are SHA-256 output), at most half full. */
#include "store/key_index.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

struct tg_key_index {
    atomic_uint refs;
    size_t mask;               /* slots - 1 */
    tg_key_entry_t **slots;
    tg_key_entry_t *entries;
    size_t count;
    size_t active;
};

struct tg_key_index_builder {
    tg_limit_registry_t *limits;
    tg_org_t *orgs;            /* sorted by name */
    size_t org_count;
    tg_key_entry_t *entries;
    size_t count, cap;
    bool failed;
};

static int org_cmp(const void *a, const void *b)
{
    return strcmp(((const tg_org_t *)a)->name, ((const tg_org_t *)b)->name);
}

tg_key_index_builder_t *tg_key_index_begin(const tg_org_t *orgs, size_t org_count, tg_limit_registry_t *limits)
{
    tg_key_index_builder_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->limits = limits;
    if (org_count > 0) {
        if ((b->orgs = malloc(org_count * sizeof(*orgs))) == NULL) {
            free(b);
            return NULL;
        }
        memcpy(b->orgs, orgs, org_count * sizeof(*orgs));
        qsort(b->orgs, org_count, sizeof(*orgs), org_cmp);
    }
    b->org_count = org_count;
    return b;
}

static void limits_of(tg_limits_t *l, const tg_policy_t *p)
{
    *l = (tg_limits_t){p->rpm, p->tpm, p->max_concurrent, p->budget_usd};
}

/* The model list as one block: the pointers, then the names. */
static char **models_copy(const tg_policy_t *p)
{
    size_t bytes = p->model_count * sizeof(char *);
    for (size_t i = 0; i < p->model_count; i++)
        bytes += strlen(p->models[i]) + 1;
    char **out = malloc(bytes);
    if (out == NULL)
        return NULL;
    char *text = (char *)(out + p->model_count);
    for (size_t i = 0; i < p->model_count; i++) {
        size_t n = strlen(p->models[i]) + 1;
        memcpy(text, p->models[i], n);
        out[i] = text;
        text += n;
    }
    return out;
}

void tg_key_entry_from_key(tg_key_entry_t *e, const tg_key_t *key, const tg_org_t *org, tg_limit_registry_t *limits)
{
    memset(e, 0, sizeof(*e));
    memcpy(e->hash, key->hash, sizeof(e->hash));
    memcpy(e->id, key->id, sizeof(e->id));
    memcpy(e->org, key->org, sizeof(e->org));
    if (org != NULL)
        memcpy(e->plan, org->plan, sizeof(e->plan));
    e->revoked = key->revoked != 0;
    limits_of(&e->key_limits, &key->policy);
    tg_policy_t none;
    tg_policy_init(&none);
    limits_of(&e->org_limits, org != NULL ? &org->policy : &none);
    const tg_policy_t *models = key->policy.model_count > 0 ? &key->policy : org != NULL ? &org->policy : &none;
    if (models->model_count > 0 && (e->models = models_copy(models)) != NULL)
        e->model_count = models->model_count;
    if (limits != NULL) {
        e->key_state = tg_limit_state_get(limits, false, key->id);
        e->org_state = tg_limit_state_get(limits, true, key->org);
    }
}

void tg_key_entry_clear(tg_key_entry_t *e)
{
    free(e->models);
    e->models = NULL;
    e->model_count = 0;
}

void tg_key_index_add(tg_key_index_builder_t *b, const tg_key_t *key)
{
    if (b->failed)
        return;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        tg_key_entry_t *grown = realloc(b->entries, cap * sizeof(*grown));
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        b->entries = grown;
        b->cap = cap;
    }
    tg_org_t probe;
    memcpy(probe.name, key->org, sizeof(probe.name));
    const tg_org_t *org = b->org_count ? bsearch(&probe, b->orgs, b->org_count, sizeof(probe), org_cmp) : NULL;
    tg_key_entry_t *e = &b->entries[b->count++];
    tg_key_entry_from_key(e, key, org, b->limits);
    if ((key->policy.model_count > 0 || (org != NULL && org->policy.model_count > 0)) && e->models == NULL)
        b->failed = true;
}

static uint64_t slot_of(const uint8_t hash[32])
{
    uint64_t h;
    memcpy(&h, hash, sizeof(h));
    return h;
}

static void index_free(tg_key_index_t *idx, size_t entries)
{
    for (size_t i = 0; i < entries; i++)
        tg_key_entry_clear(&idx->entries[i]);
    free(idx->entries);
    free(idx->slots);
    free(idx);
}

tg_key_index_t *tg_key_index_end(tg_key_index_builder_t *b)
{
    tg_key_index_t *idx = b->failed ? NULL : calloc(1, sizeof(*idx));
    size_t slots = 16;
    while (slots < b->count * 2)
        slots *= 2;
    if (idx != NULL && (idx->slots = calloc(slots, sizeof(*idx->slots))) == NULL) {
        free(idx);
        idx = NULL;
    }
    if (idx == NULL) {
        for (size_t i = 0; i < b->count; i++)
            tg_key_entry_clear(&b->entries[i]);
        free(b->entries);
        free(b->orgs);
        free(b);
        return NULL;
    }
    atomic_init(&idx->refs, 1);
    idx->mask = slots - 1;
    idx->entries = b->entries;
    idx->count = b->count;
    for (size_t i = 0; i < b->count; i++) {
        tg_key_entry_t *e = &idx->entries[i];
        size_t s = slot_of(e->hash) & idx->mask;
        while (idx->slots[s] != NULL)
            s = (s + 1) & idx->mask;
        idx->slots[s] = e;
        idx->active += !e->revoked;
    }
    free(b->orgs);
    free(b);
    return idx;
}

const tg_key_entry_t *tg_key_index_find(const tg_key_index_t *idx, const uint8_t hash[32])
{
    if (idx == NULL)
        return NULL;
    for (size_t s = slot_of(hash) & idx->mask; idx->slots[s] != NULL; s = (s + 1) & idx->mask)
        if (CRYPTO_memcmp(idx->slots[s]->hash, hash, 32) == 0)
            return idx->slots[s];
    return NULL;
}

size_t tg_key_index_active(const tg_key_index_t *idx)
{
    return idx != NULL ? idx->active : 0;
}

bool tg_key_entry_allows(const tg_key_entry_t *e, const char *name, size_t len)
{
    if (e->models == NULL)
        return true;
    for (size_t i = 0; i < e->model_count; i++)
        if (strlen(e->models[i]) == len && memcmp(e->models[i], name, len) == 0)
            return true;
    return false;
}

void tg_key_index_retain(tg_key_index_t *idx)
{
    atomic_fetch_add_explicit(&idx->refs, 1, memory_order_relaxed);
}

void tg_key_index_release(tg_key_index_t *idx)
{
    if (idx != NULL && atomic_fetch_sub_explicit(&idx->refs, 1, memory_order_acq_rel) == 1)
        index_free(idx, idx->count);
}
