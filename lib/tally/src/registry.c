/*
 * registry.c - registries and family registration, the walk that feeds the
 * renderers (tally__registry_collect), sweeping and visiting.
 *
 * The registry mutex is the render lock: registration, unregistration,
 * rendering and sweeping serialise on it; updates and lookups never take it.
 * Lock order: registry, then family, then the arena.
 */
#include <math.h>
#include <stdlib.h>

#include "store.h"

static tally_family *register_family(tally_registry *reg, tally_type type, const tally_opts *opts,
                                     const tally_histogram_opts *hopts,
                                     const tally_summary_opts *sopts, tally_err *errp);

tally_registry *tally_registry_new(void)
{
    tally_registry *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    pthread_mutex_init(&reg->lock, NULL);
    tally__arena_init(&reg->arena);
    static const char *const labels[] = {"family"};
    tally_opts o = {
        .name = "tally_series_overflow_total",
        .help = "Lookups of a new label set folded into a family's overflow child "
                "because the family had reached its max_children.",
        .category = "system",
        .label_names = labels,
        .label_count = 1,
    };
    reg->overflow_family = register_family(reg, TALLY_COUNTER, &o, NULL, NULL, NULL);
    if (!reg->overflow_family) {
        tally_registry_free(reg);
        return NULL;
    }
    return reg;
}

static void collector_free(tally__collector *col)
{
    if (col->free_fn)
        col->free_fn(col->user);
    for (size_t i = 0; i < col->view_count; i++)
        tally__view_free(&col->views[i]);
    free(col->views);
    free(col->category);
    free(col);
}

void tally_registry_free(tally_registry *reg)
{
    if (!reg)
        return;
    tally__entry *e = reg->first;
    while (e) {
        tally__entry *next = e->next;
        if (e->fam)
            tally__family_free(e->fam);
        if (e->col)
            collector_free(e->col);
        free(e);
        e = next;
    }
    tally__arena_destroy(&reg->arena);
    free(reg->scratch);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

/* Registry lock held. */
static tally_err append_entry(tally_registry *reg, tally_family *fam, tally__collector *col)
{
    tally__entry *e = calloc(1, sizeof *e);
    if (!e)
        return TALLY_ERR_NOMEM;
    e->fam = fam;
    e->col = col;
    if (reg->last)
        reg->last->next = e;
    else
        reg->first = e;
    reg->last = e;
    return TALLY_OK;
}

static tally_err summary_options(tally_family *fam, const tally_summary_opts *sopts)
{
    fam->max_age = 600;
    fam->age_buckets = 5;
    fam->relative_error = 0.01;
    if (!sopts)
        return TALLY_OK;
    if (sopts->max_age_seconds != 0)
        fam->max_age = sopts->max_age_seconds;
    if (sopts->age_buckets != 0)
        fam->age_buckets = sopts->age_buckets;
    if (sopts->relative_error != 0)
        fam->relative_error = sopts->relative_error;
    /* Below 1e-6 the sketch's bin keys overflow their integer types (and
     * gamma rounds to 1 near 1e-16); its bins already take 330 MB there. */
    if (!(fam->max_age > 0) || isinf(fam->max_age) || fam->age_buckets > 1000 ||
        !(fam->relative_error >= 1e-6 && fam->relative_error < 1))
        return TALLY_ERR_QUANTILES;
    return TALLY_OK;
}

static tally_family *register_family(tally_registry *reg, tally_type type, const tally_opts *opts,
                                     const tally_histogram_opts *hopts,
                                     const tally_summary_opts *sopts, tally_err *errp)
{
    tally_err err = TALLY_ERR_FORMAT;
    tally_family *fam = NULL;
    if (!reg || !opts || type == TALLY_UNTYPED)
        goto fail;
    if (!(fam = calloc(1, sizeof *fam))) {
        err = TALLY_ERR_NOMEM;
        goto fail;
    }
    fam->reg = reg;
    if (hopts && hopts->buckets && hopts->bucket_count == 0) {
        err = TALLY_ERR_BUCKETS;
        goto fail;
    }
    err = tally__view_build(&fam->view, type, opts->namespace_, opts->subsystem, opts->name,
                            opts->help, opts->unit,
                            opts->label_names, opts->label_count,
                            hopts ? hopts->buckets : NULL, hopts ? hopts->bucket_count : 0,
                            sopts ? sopts->quantiles : NULL, sopts ? sopts->quantile_count : 0);
    if (err != TALLY_OK)
        goto fail;
    if (type == TALLY_SUMMARY && (err = summary_options(fam, sopts)) != TALLY_OK)
        goto fail;
    if (!(opts->expire_after_seconds >= 0)) {
        err = TALLY_ERR_INVALID_VALUE;
        goto fail;
    }
    fam->expire_after = opts->expire_after_seconds;
    fam->max_children = opts->max_children;
    fam->key_labels = fam->view.label_count - (type == TALLY_STATESET);
    fam->cell_bytes = type == TALLY_COUNTER || type == TALLY_SUMMARY ? 16
                      : type == TALLY_HISTOGRAM ? (fam->view.bucket_count + 2) * 8
                                                : 0;
    if (!(fam->category = tally__strdup(opts->category ? opts->category : "default"))) {
        err = TALLY_ERR_NOMEM;
        goto fail;
    }
    if ((err = tally__family_init_children(fam)) != TALLY_OK)
        goto fail;
    pthread_mutex_lock(&reg->lock);
    err = tally__check_clash(reg, &fam->view);
    if (err == TALLY_OK)
        err = append_entry(reg, fam, NULL);
    pthread_mutex_unlock(&reg->lock);
    if (err != TALLY_OK)
        goto fail;
    if (errp)
        *errp = TALLY_OK;
    return fam;
fail:
    if (fam)
        tally__family_free(fam);
    if (errp)
        *errp = err;
    return NULL;
}

tally_family *tally_family_new(tally_registry *reg, tally_type type, const tally_opts *opts,
                               const tally_histogram_opts *hopts, const tally_summary_opts *sopts,
                               tally_err *err)
{
    return register_family(reg, type, opts, hopts, sopts, err);
}

/* The convenience forms: label names as a NULL-terminated variadic list. */
static tally_family *family_va(tally_registry *reg, tally_type type, const char *name,
                               const char *help, const char *category,
                               const tally_histogram_opts *hopts, tally_err *err, va_list ap)
{
    const char *labels[TALLY_MAX_LABELS];
    size_t n = 0;
    const char *l;
    while ((l = va_arg(ap, const char *)) != NULL) {
        if (n == TALLY_MAX_LABELS) {
            if (err)
                *err = TALLY_ERR_LABEL_COUNT;
            return NULL;
        }
        labels[n++] = l;
    }
    tally_opts o = {.name = name, .help = help, .category = category,
                    .label_names = labels, .label_count = n};
    return register_family(reg, type, &o, hopts, NULL, err);
}

tally_family *tally_counter_family(tally_registry *reg, const char *name, const char *help,
                                   const char *category, tally_err *err, ...)
{
    va_list ap;
    va_start(ap, err);
    tally_family *f = family_va(reg, TALLY_COUNTER, name, help, category, NULL, err, ap);
    va_end(ap);
    return f;
}

tally_family *tally_gauge_family(tally_registry *reg, const char *name, const char *help,
                                 const char *category, tally_err *err, ...)
{
    va_list ap;
    va_start(ap, err);
    tally_family *f = family_va(reg, TALLY_GAUGE, name, help, category, NULL, err, ap);
    va_end(ap);
    return f;
}

tally_family *tally_histogram_family(tally_registry *reg, const char *name, const char *help,
                                     const char *category, const double *buckets,
                                     size_t bucket_count, tally_err *err, ...)
{
    tally_histogram_opts h = {.buckets = buckets, .bucket_count = bucket_count};
    va_list ap;
    va_start(ap, err);
    tally_family *f = family_va(reg, TALLY_HISTOGRAM, name, help, category, &h, err, ap);
    va_end(ap);
    return f;
}

tally_counter *tally_counter_new(tally_registry *reg, const char *name, const char *help,
                                 tally_err *err)
{
    tally_opts o = {.name = name, .help = help};
    return tally_counter_get(register_family(reg, TALLY_COUNTER, &o, NULL, NULL, err));
}

tally_gauge *tally_gauge_new(tally_registry *reg, const char *name, const char *help,
                             tally_err *err)
{
    tally_opts o = {.name = name, .help = help};
    return tally_gauge_get(register_family(reg, TALLY_GAUGE, &o, NULL, NULL, err));
}

tally_histogram *tally_histogram_new(tally_registry *reg, const char *name, const char *help,
                                     const double *buckets, size_t bucket_count, tally_err *err)
{
    tally_opts o = {.name = name, .help = help};
    tally_histogram_opts h = {.buckets = buckets, .bucket_count = bucket_count};
    return tally_histogram_get(register_family(reg, TALLY_HISTOGRAM, &o, &h, NULL, err));
}

tally_err tally_family_unregister(tally_registry *reg, tally_family *fam)
{
    if (!reg || !fam || fam == reg->overflow_family)
        return TALLY_ERR_FORMAT; /* the self-metric is referenced by every family */
    pthread_mutex_lock(&reg->lock);
    tally__entry *prev = NULL, *e = reg->first;
    while (e && e->fam != fam) {
        prev = e;
        e = e->next;
    }
    if (e) {
        if (prev)
            prev->next = e->next;
        else
            reg->first = e->next;
        if (reg->last == e)
            reg->last = prev;
    }
    pthread_mutex_unlock(&reg->lock);
    if (!e)
        return TALLY_ERR_NOT_FOUND;
    free(e);
    tally__family_free(fam);
    return TALLY_OK;
}

tally_type tally_family_type(const tally_family *fam)
{
    return fam ? fam->view.type : TALLY_UNTYPED;
}

const char *tally_family_name(const tally_family *fam) { return fam ? fam->view.name : NULL; }

size_t tally_family_label_count(const tally_family *fam)
{
    return fam ? fam->view.label_count : 0;
}

/* Registry lock held. */
tally_err tally__registry_append_collector(tally_registry *reg, tally__collector *col)
{
    return append_entry(reg, NULL, col);
}

size_t tally_registry_sweep(tally_registry *reg)
{
    size_t removed = 0;
    if (!reg)
        return 0;
    double now = tally__now_mono();
    pthread_mutex_lock(&reg->lock);
    for (tally__entry *e = reg->first; e; e = e->next)
        if (e->fam)
            removed += tally__family_sweep(e->fam, now);
    pthread_mutex_unlock(&reg->lock);
    return removed;
}

void tally_registry_visit(tally_registry *reg, tally_family_visit_fn fn, void *user)
{
    if (!reg || !fn)
        return;
    pthread_mutex_lock(&reg->lock);
    for (tally__entry *e = reg->first; e; e = e->next) {
        if (e->fam) {
            const tally__family_view *v = &e->fam->view;
            fn(v->name, v->type, v->help, v->unit, e->fam->category, v->label_names,
               v->label_count, user);
        }
        for (size_t i = 0; e->col && i < e->col->view_count; i++) {
            const tally__family_view *v = &e->col->views[i];
            fn(v->name, v->type, v->help, v->unit, e->col->category, v->label_names,
               v->label_count, user);
        }
    }
    pthread_mutex_unlock(&reg->lock);
}

/* ------------------------------------------------------------- collect */

/* Per-family scratch, carved from one reusable buffer so that filling the
 * views of a family's children allocates nothing per child. */
typedef struct scratch {
    uint64_t *cumulative;
    double *quantiles;
    bool *states;
    tally__exemplar_view *exemplars;
    tally__exemplar_slot *copies;
    const char **names, **values;
} scratch;

static tally_err scratch_for(tally_registry *reg, const tally_family *fam, scratch *s)
{
    size_t ex = fam->view.type == TALLY_HISTOGRAM ? fam->view.bucket_count + 1
                : fam->view.type == TALLY_COUNTER ? 1
                                                  : 0;
    size_t sizes[] = {
        (fam->view.bucket_count + 1) * sizeof(uint64_t),
        fam->view.quantile_count * sizeof(double),
        ex * sizeof(tally__exemplar_view),
        ex * sizeof(tally__exemplar_slot),
        ex * TALLY_EXEMPLAR_MAX_LABELS * sizeof(char *),
        ex * TALLY_EXEMPLAR_MAX_LABELS * sizeof(char *),
        fam->view.state_count * sizeof(bool),
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += (sizes[i] + 15) & ~(size_t)15;
    if (total > reg->scratch_cap) {
        void *p = realloc(reg->scratch, total);
        if (!p)
            return TALLY_ERR_NOMEM;
        reg->scratch = p;
        reg->scratch_cap = total;
    }
    char *p = reg->scratch;
    void *parts[7];
    for (size_t i = 0; i < 7; i++) {
        parts[i] = p;
        p += (sizes[i] + 15) & ~(size_t)15;
    }
    s->cumulative = parts[0];
    s->quantiles = parts[1];
    s->exemplars = parts[2];
    s->copies = parts[3];
    s->names = parts[4];
    s->values = parts[5];
    s->states = parts[6];
    return TALLY_OK;
}

/* Exemplar views for a child, or NULL when it never recorded one. */
static const tally__exemplar_view *exemplars_of(tally__child *c, size_t n, scratch *s)
{
    if (!atomic_load_explicit(&c->exemplars, memory_order_acquire))
        return NULL;
    for (size_t i = 0; i < n; i++)
        tally__exemplar_copy(c, i, &s->exemplars[i], &s->copies[i],
                             s->names + i * TALLY_EXEMPLAR_MAX_LABELS,
                             s->values + i * TALLY_EXEMPLAR_MAX_LABELS);
    return s->exemplars;
}

static void fill_sample(const tally_family *fam, tally__child *c, scratch *s,
                        tally__sample_view *sv)
{
    const tally__family_view *v = &fam->view;
    memset(sv, 0, sizeof *sv);
    sv->label_values = c->values;
    sv->created = atomic_load_explicit(&c->created, memory_order_relaxed);
    switch (v->type) {
    case TALLY_COUNTER:
        sv->value = (double)tally__sum_u64(c->cells, 0) + tally__sum_double(c->cells, 1);
        sv->exemplars = exemplars_of(c, 1, s);
        break;
    case TALLY_GAUGE:
        sv->value = tally__bitsd(atomic_load_explicit(&c->gauge, memory_order_relaxed));
        break;
    case TALLY_HISTOGRAM: {
        /* count is the sum of the same bucket reads: +Inf == count always */
        uint64_t total = 0;
        for (size_t b = 0; b <= v->bucket_count; b++) {
            total += tally__sum_u64(c->cells, b);
            s->cumulative[b] = total;
        }
        sv->cumulative = s->cumulative;
        sv->count = total;
        sv->sum = tally__sum_double(c->cells, v->bucket_count + 1);
        sv->exemplars = exemplars_of(c, v->bucket_count + 1, s);
        break;
    }
    case TALLY_SUMMARY:
        sv->count = tally__sum_u64(c->cells, 0);
        sv->sum = tally__sum_double(c->cells, 1);
        if (c->sketch) {
            tally__sketch_quantiles(c->sketch, v->quantiles, v->quantile_count, s->quantiles);
            sv->quantile_values = s->quantiles;
        }
        break;
    case TALLY_INFO:
        sv->value = 1;
        sv->created = 0;
        break;
    case TALLY_STATESET:
        for (size_t i = 0; i < v->state_count; i++)
            s->states[i] = atomic_load_explicit(&c->states[i], memory_order_relaxed) != 0;
        sv->state_values = s->states;
        sv->created = 0;
        break;
    case TALLY_UNTYPED:
        break;
    }
}

static tally_err collect_family(tally_registry *reg, tally_family *fam, tally_emit *e)
{
    scratch s;
    tally_err err = scratch_for(reg, fam, &s);
    if (err != TALLY_OK)
        return err;
    for (tally__child *c = atomic_load_explicit(&fam->first, memory_order_acquire); c;
         c = atomic_load_explicit(&c->next, memory_order_acquire)) {
        if (!atomic_load_explicit(&c->live, memory_order_relaxed))
            continue;
        tally__sample_view sv;
        fill_sample(fam, c, &s, &sv);
        tally__emit_sample(e, &fam->view, &sv);
    }
    return TALLY_OK;
}

static bool in_category(const char *have, const char *want)
{
    return !want || strcmp(have, want) == 0;
}

tally_err tally__registry_collect(tally_registry *reg, const char *category, tally_emit *e)
{
    tally_err err = TALLY_OK;
    if (!reg || !e)
        return TALLY_ERR_FORMAT;
    double now = tally__now_mono();
    pthread_mutex_lock(&reg->lock);
    for (tally__entry *en = reg->first; en && err == TALLY_OK; en = en->next) {
        if (en->fam && in_category(en->fam->category, category)) {
            tally__family_sweep(en->fam, now);
            err = collect_family(reg, en->fam, e);
        } else if (en->col && in_category(en->col->category, category)) {
            e->views = en->col->views;
            e->view_count = en->col->view_count;
            e->min_index = 0;
            en->col->fn(e, en->col->user);
            e->views = NULL;
            e->view_count = 0;
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return err;
}
