/*
 * exemplar.c - the latest exemplar per counter and per histogram bucket.
 * Recording an exemplar is sampled by callers (one trace in many), not the
 * per-call hot path, so it may take a per-child spinlock and, once per
 * child, allocate the slots.
 */
#include <stdlib.h>

#include "store.h"

static tally_err check(const tally_exemplar *ex)
{
    size_t chars = 0;
    if (!ex || ex->label_count > TALLY_EXEMPLAR_MAX_LABELS ||
        (ex->label_count && (!ex->label_names || !ex->label_values)))
        return TALLY_ERR_EXEMPLAR;
    for (size_t i = 0; i < ex->label_count; i++) {
        size_t nc, vc;
        const char *name = ex->label_names[i], *value = ex->label_values[i];
        if (!tally__valid_label_name(name) || !value ||
            !tally__valid_utf8(name, strlen(name), &nc) ||
            !tally__valid_utf8(value, strlen(value), &vc))
            return TALLY_ERR_EXEMPLAR;
        chars += nc + vc;
    }
    return chars <= TALLY_EXEMPLAR_MAX_CHARS ? TALLY_OK : TALLY_ERR_EXEMPLAR;
}

static void lock(tally__child *c)
{
    while (atomic_flag_test_and_set_explicit(&c->exemplar_lock, memory_order_acquire))
        ;
}

static void unlock(tally__child *c)
{
    atomic_flag_clear_explicit(&c->exemplar_lock, memory_order_release);
}

tally_err tally__exemplar_store(tally__child *c, size_t index, size_t slot_count, double v,
                                const tally_exemplar *ex)
{
    tally_err err = check(ex);
    if (err != TALLY_OK)
        return err;
    tally__exemplar_slot *slots = atomic_load_explicit(&c->exemplars, memory_order_acquire);
    if (!slots) {
        tally__exemplar_slot *mine = calloc(slot_count, sizeof *mine);
        if (!mine)
            return TALLY_ERR_NOMEM;
        if (atomic_compare_exchange_strong_explicit(&c->exemplars, &slots, mine,
                                                    memory_order_acq_rel, memory_order_acquire))
            slots = mine;
        else
            free(mine); /* another thread published first */
    }
    double ts = ex->timestamp > 0 ? ex->timestamp : tally__now_real();
    lock(c);
    tally__exemplar_slot *slot = &slots[index];
    char *p = slot->text;
    for (size_t i = 0; i < ex->label_count; i++) {
        size_t nl = strlen(ex->label_names[i]), vl = strlen(ex->label_values[i]);
        memcpy(p, ex->label_names[i], nl + 1);
        p += nl + 1;
        memcpy(p, ex->label_values[i], vl + 1);
        p += vl + 1;
        slot->name_len[i] = (uint16_t)nl;
        slot->value_len[i] = (uint16_t)vl;
    }
    slot->label_count = (uint32_t)ex->label_count;
    slot->value = v;
    slot->timestamp = ts;
    unlock(c);
    return TALLY_OK;
}

void tally__exemplar_copy(tally__child *c, size_t index, tally__exemplar_view *out,
                          tally__exemplar_slot *copy, const char **names, const char **values)
{
    tally__exemplar_slot *slots = atomic_load_explicit(&c->exemplars, memory_order_acquire);
    memset(out, 0, sizeof *out);
    if (!slots)
        return;
    lock(c);
    *copy = slots[index];
    unlock(c);
    const char *p = copy->text;
    for (size_t i = 0; i < copy->label_count; i++) {
        names[i] = p;
        p += copy->name_len[i] + 1;
        values[i] = p;
        p += copy->value_len[i] + 1;
    }
    out->label_names = names;
    out->label_values = values;
    out->label_count = copy->label_count;
    out->value = copy->value;
    out->timestamp = copy->timestamp;
}
