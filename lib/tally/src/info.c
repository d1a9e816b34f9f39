/*
 * info.c - info families (one child carrying descriptive labels, value 1)
 * and statesets (a set of named boolean states per child, OpenMetrics).
 */
#include <stdlib.h>

#include "store.h"

static bool values_utf8(const tally_family *fam, const char *const *values)
{
    if (fam->key_labels && !values)
        return false;
    for (size_t i = 0; i < fam->key_labels; i++)
        if (!values[i] || !tally__valid_utf8(values[i], strlen(values[i]), NULL))
            return false;
    return true;
}

tally_err tally_info_set(tally_family *fam, const char *const *label_values)
{
    if (!fam || fam->view.type != TALLY_INFO)
        return TALLY_ERR_FORMAT;
    if (!values_utf8(fam, label_values))
        return fam->key_labels && !label_values ? TALLY_ERR_LABEL_COUNT : TALLY_ERR_UTF8;
    /* The render lock makes the swap atomic for scrapes. */
    pthread_mutex_lock(&fam->reg->lock);
    tally__child *keep = tally__family_lookup(fam, label_values);
    if (keep) {
        pthread_mutex_lock(&fam->lock);
        for (tally__child *c = atomic_load_explicit(&fam->first, memory_order_relaxed); c;
             c = atomic_load_explicit(&c->next, memory_order_relaxed))
            if (c != keep)
                tally__child_detach(fam, c);
        pthread_mutex_unlock(&fam->lock);
    }
    pthread_mutex_unlock(&fam->reg->lock);
    return keep ? TALLY_OK : TALLY_ERR_NOMEM;
}

tally_err tally_stateset_declare(tally_family *fam, const char *const *states, size_t n)
{
    if (!fam || fam->view.type != TALLY_STATESET)
        return TALLY_ERR_FORMAT;
    if (n == 0 || !states)
        return TALLY_ERR_INVALID_VALUE;
    for (size_t i = 0; i < n; i++) {
        if (!states[i])
            return TALLY_ERR_INVALID_VALUE;
        if (!tally__valid_utf8(states[i], strlen(states[i]), NULL))
            return TALLY_ERR_UTF8;
        for (size_t j = 0; j < i; j++)
            if (strcmp(states[i], states[j]) == 0)
                return TALLY_ERR_INVALID_VALUE;
    }
    tally_err err = TALLY_OK;
    pthread_mutex_lock(&fam->reg->lock);
    if (fam->view.state_count) {
        /* children are sized for the declared states: only a repeat is fine */
        bool same = fam->view.state_count == n;
        for (size_t i = 0; same && i < n; i++)
            same = strcmp(fam->view.states[i], states[i]) == 0;
        err = same ? TALLY_OK : TALLY_ERR_DUPLICATE;
    } else {
        const char **copy = calloc(n, sizeof *copy);
        for (size_t i = 0; copy && i < n; i++)
            if (!(copy[i] = tally__strdup(states[i]))) {
                while (i--)
                    free((char *)copy[i]);
                free(copy);
                copy = NULL;
            }
        if (copy) {
            fam->view.states = copy;
            fam->view.state_count = n;
        } else {
            err = TALLY_ERR_NOMEM;
        }
    }
    pthread_mutex_unlock(&fam->reg->lock);
    return err;
}

static tally_err stateset_child(tally_family *fam, const char *const *label_values,
                                const char *state, tally__child **child, size_t *index)
{
    if (!fam || fam->view.type != TALLY_STATESET || !state)
        return TALLY_ERR_FORMAT;
    size_t i = 0;
    /* state_count is written once, under the render lock, before any child */
    while (i < fam->view.state_count && strcmp(fam->view.states[i], state) != 0)
        i++;
    if (i == fam->view.state_count)
        return TALLY_ERR_NOT_FOUND;
    if (!values_utf8(fam, label_values))
        return fam->key_labels && !label_values ? TALLY_ERR_LABEL_COUNT : TALLY_ERR_UTF8;
    if (!(*child = tally__family_lookup(fam, label_values)))
        return TALLY_ERR_NOMEM;
    *index = i;
    return TALLY_OK;
}

tally_err tally_stateset_set(tally_family *fam, const char *const *label_values, const char *state)
{
    tally__child *c;
    size_t idx;
    tally_err err = stateset_child(fam, label_values, state, &c, &idx);
    if (err != TALLY_OK)
        return err;
    for (size_t i = 0; i < fam->view.state_count; i++)
        atomic_store_explicit(&c->states[i], i == idx, memory_order_relaxed);
    return TALLY_OK;
}

tally_err tally_stateset_set_bool(tally_family *fam, const char *const *label_values,
                                  const char *state, bool value)
{
    tally__child *c;
    size_t idx;
    tally_err err = stateset_child(fam, label_values, state, &c, &idx);
    if (err == TALLY_OK)
        atomic_store_explicit(&c->states[idx], value, memory_order_relaxed);
    return err;
}
