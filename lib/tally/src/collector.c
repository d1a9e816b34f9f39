/*
 * collector.c - families computed by a callback at scrape time: their
 * registration (validated like any family) and the tally_emit_* calls that
 * turn a collector's numbers into sample views for the renderer.
 */
#include <math.h>
#include <stdlib.h>

#include "store.h"

static void views_free(tally__family_view *views, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tally__view_free(&views[i]);
    free(views);
}

tally_err tally_collector_register(tally_registry *reg, const char *category,
                                   const tally_desc *descs, size_t n, tally_collect_fn fn,
                                   void *user, void (*free_fn)(void *user))
{
    if (!reg || !fn || (n && !descs))
        return TALLY_ERR_FORMAT;
    tally__collector *col = calloc(1, sizeof *col);
    tally__family_view *views = calloc(n ? n : 1, sizeof *views);
    char *cat = tally__strdup(category ? category : "default");
    tally_err err = col && views && cat ? TALLY_OK : TALLY_ERR_NOMEM;
    for (size_t i = 0; i < n && err == TALLY_OK; i++) {
        const tally_desc *d = &descs[i];
        if (d->type == TALLY_INFO || d->type == TALLY_STATESET) {
            err = TALLY_ERR_FORMAT; /* no emitter for these */
            break;
        }
        if (d->type == TALLY_HISTOGRAM && d->buckets && d->bucket_count == 0) {
            err = TALLY_ERR_BUCKETS;
            break;
        }
        err = tally__view_build(&views[i], d->type, d->namespace_, d->subsystem, d->name,
                                d->help, d->unit, d->label_names, d->label_count, d->buckets,
                                d->bucket_count, d->quantiles, d->quantile_count);
        for (size_t j = 0; j < i && err == TALLY_OK; j++)
            err = tally__views_clash(&views[i], &views[j]);
    }
    if (err == TALLY_OK) {
        col->category = cat;
        col->views = views;
        col->view_count = n;
        col->fn = fn;
        col->user = user;
        col->free_fn = free_fn;
        pthread_mutex_lock(&reg->lock);
        for (size_t i = 0; i < n && err == TALLY_OK; i++)
            err = tally__check_clash(reg, &views[i]);
        if (err == TALLY_OK)
            err = tally__registry_append_collector(reg, col);
        pthread_mutex_unlock(&reg->lock);
        if (err == TALLY_OK)
            return TALLY_OK;
    }
    /* On failure nothing is kept and `user` is left to the caller. */
    if (views)
        views_free(views, n);
    free(cat);
    free(col);
    return err;
}

/* The declared family an emit of `type` at `index` goes to, once the index,
 * the type (a gauge emit also serves untyped families) and the label values
 * check out; NULL with *err set otherwise. */
static const tally__family_view *declared(tally_emit *e, size_t index, tally_type type,
                                          const char *const *values, tally_err *err)
{
    if (!e || index >= e->view_count || index < e->min_index) {
        *err = TALLY_ERR_FORMAT;
        return NULL;
    }
    const tally__family_view *v = &e->views[index];
    if (v->type != type && !(type == TALLY_GAUGE && v->type == TALLY_UNTYPED)) {
        *err = TALLY_ERR_FORMAT;
        return NULL;
    }
    if (v->label_count && !values) {
        *err = TALLY_ERR_LABEL_COUNT;
        return NULL;
    }
    for (size_t i = 0; i < v->label_count; i++)
        if (!values[i] || !tally__valid_utf8(values[i], strlen(values[i]), NULL)) {
            *err = values[i] ? TALLY_ERR_UTF8 : TALLY_ERR_LABEL_COUNT;
            return NULL;
        }
    *err = TALLY_OK;
    e->min_index = index;
    return v;
}

/* Counters and gauges: one value per sample; a counter's may not be
 * negative (or NaN). */
static tally_err emit_value(tally_emit *e, size_t desc_index, tally_type type,
                            const char *const *label_values, double value)
{
    tally_err err;
    const tally__family_view *v = declared(e, desc_index, type, label_values, &err);
    if (!v)
        return err;
    if (type == TALLY_COUNTER && !(value >= 0))
        return TALLY_ERR_INVALID_VALUE;
    tally__sample_view s = {.label_values = label_values, .value = value};
    tally__emit_sample(e, v, &s);
    return TALLY_OK;
}

tally_err tally_emit_counter(tally_emit *e, size_t desc_index, const char *const *label_values,
                             double value)
{
    return emit_value(e, desc_index, TALLY_COUNTER, label_values, value);
}

tally_err tally_emit_gauge(tally_emit *e, size_t desc_index, const char *const *label_values,
                           double value)
{
    return emit_value(e, desc_index, TALLY_GAUGE, label_values, value);
}

tally_err tally_emit_histogram(tally_emit *e, size_t desc_index, const char *const *label_values,
                               const uint64_t *cumulative, double sum, uint64_t count)
{
    uint64_t with_inf[TALLY_MAX_BUCKETS + 1];
    tally_err err;
    const tally__family_view *v = declared(e, desc_index, TALLY_HISTOGRAM, label_values, &err);
    if (!v)
        return err;
    if (!cumulative)
        return TALLY_ERR_INVALID_VALUE;
    for (size_t i = 0; i < v->bucket_count; i++) {
        if ((i > 0 && cumulative[i] < cumulative[i - 1]) || cumulative[i] > count)
            return TALLY_ERR_INVALID_VALUE; /* would break the histogram's invariants */
        with_inf[i] = cumulative[i];
    }
    with_inf[v->bucket_count] = count;
    tally__sample_view s = {.label_values = label_values, .cumulative = with_inf,
                            .sum = sum, .count = count};
    tally__emit_sample(e, v, &s);
    return TALLY_OK;
}

tally_err tally_emit_summary(tally_emit *e, size_t desc_index, const char *const *label_values,
                             const double *quantile_values, double sum, uint64_t count)
{
    tally_err err;
    const tally__family_view *v = declared(e, desc_index, TALLY_SUMMARY, label_values, &err);
    if (!v)
        return err;
    if (v->quantile_count && !quantile_values)
        return TALLY_ERR_INVALID_VALUE;
    tally__sample_view s = {.label_values = label_values,
                            .quantile_values = v->quantile_count ? quantile_values : NULL,
                            .sum = sum, .count = count};
    tally__emit_sample(e, v, &s);
    return TALLY_OK;
}
