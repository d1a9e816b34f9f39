/* state.c: see state.h. A chained hash table under one mutex: it is
 * searched when an index is built (store thread) and never on the
 * request path. States are never freed before the registry. */
#include "limits/state.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096

struct tg_limit_registry {
    pthread_mutex_t lock;
    tg_limit_state_t *buckets[BUCKETS];
};

tg_limit_registry_t *tg_limit_registry_new(void)
{
    tg_limit_registry_t *reg = calloc(1, sizeof(*reg));
    if (reg != NULL)
        pthread_mutex_init(&reg->lock, NULL);
    return reg;
}

void tg_limit_registry_free(tg_limit_registry_t *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        for (tg_limit_state_t *s = reg->buckets[i], *next; s != NULL; s = next) {
            next = s->next;
            pthread_mutex_destroy(&s->month_lock);
            free(s);
        }
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

static size_t bucket_of(bool is_org, const char *id)
{
    uint32_t h = is_org ? 2166136261u : 16777619u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % BUCKETS;
}

tg_limit_state_t *tg_limit_state_get(tg_limit_registry_t *reg, bool is_org, const char *id)
{
    size_t b = bucket_of(is_org, id);
    pthread_mutex_lock(&reg->lock);
    tg_limit_state_t *s = reg->buckets[b];
    while (s != NULL && (s->is_org != is_org || strcmp(s->id, id) != 0))
        s = s->next;
    if (s == NULL && (s = calloc(1, sizeof(*s))) != NULL) {
        strncpy(s->id, id, sizeof(s->id) - 1);
        s->is_org = is_org;
        pthread_mutex_init(&s->month_lock, NULL);
        s->next = reg->buckets[b];
        reg->buckets[b] = s;
    }
    pthread_mutex_unlock(&reg->lock);
    return s;
}

