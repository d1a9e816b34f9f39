/*
 * gather.c - tally_gather: the second sink of the store's walk
 * (tally__registry_collect). Where the renderer writes a child's sample
 * view as text lines, the gatherer hands the same lines to callbacks as
 * values: the same samples in the same order, with the same label sets
 * (le and quantile included, formatted as the text renderer formats them),
 * and the exemplars and creation times OpenMetrics would show.
 *
 * Everything a callback sees lives on the stack or in the views: nothing
 * is allocated per sample.
 */
#include <string.h>

#include "internal.h"

typedef struct gatherer {
    tally_emit e;                    /* first member: the sink gets &g->e */
    tally_gather_family_fn on_family;
    tally_gather_sample_fn on_sample;
    void *user;
    tally_desc desc;                 /* the family of e.current */
    const char *names[TALLY_MAX_LABELS + 1]; /* its label names, then le or quantile */
} gatherer;

static void describe(gatherer *g, const tally__family_view *f)
{
    g->desc = (tally_desc){
        .type = f->type, .name = f->name, .help = f->help, .unit = f->unit,
        .label_names = f->label_names, .label_count = f->label_count,
        .buckets = f->buckets, .bucket_count = f->bucket_count,
        .quantiles = f->quantiles, .quantile_count = f->quantile_count,
    };
    if (f->label_count)
        memcpy(g->names, f->label_names, f->label_count * sizeof g->names[0]);
    g->names[f->label_count] = f->type == TALLY_HISTOGRAM ? "le" : "quantile";
}

/* The exemplar recorded for a sample, if any, into *out. */
static const tally_exemplar *exemplar_of(const tally__exemplar_view *x, tally_exemplar *out,
                                         double *value)
{
    if (!x || x->label_count == 0)
        return NULL;
    *out = (tally_exemplar){.label_names = x->label_names, .label_values = x->label_values,
                            .label_count = x->label_count, .timestamp = x->timestamp};
    *value = x->value;
    return out;
}

static void visit(gatherer *g, tally_sample *s, const char *suffix, double value)
{
    s->suffix = suffix;
    s->value = value;
    g->on_sample(&g->desc, s, g->user);
}

/* Histogram buckets or summary quantiles: the child's own labels plus le
 * or quantile (values[own], named by describe()), then _sum and _count. */
static void visit_distribution(gatherer *g, const tally__family_view *f,
                               const tally__sample_view *sv, tally_sample *s,
                               const char **values, size_t own)
{
    bool histogram = f->type == TALLY_HISTOGRAM;
    size_t n = histogram ? f->bucket_count + 1 : f->quantile_count;
    char bound[TALLY_NUM_MAX + 1];
    tally_exemplar ex;
    values[own] = bound;
    s->label_count = own + 1;
    for (size_t i = 0; i < n; i++) {
        if (histogram && i == f->bucket_count)
            memcpy(bound, "+Inf", 5);
        else
            bound[tally__format_double(bound, histogram ? f->buckets[i] : f->quantiles[i],
                                       false)] = '\0';
        if (histogram) {
            s->exemplar = exemplar_of(sv->exemplars ? &sv->exemplars[i] : NULL, &ex,
                                      &s->exemplar_value);
            visit(g, s, "_bucket", (double)sv->cumulative[i]);
        } else {
            visit(g, s, "", sv->quantile_values[i]);
        }
    }
    s->label_count = own;
    s->exemplar = NULL;
    s->exemplar_value = 0;
    visit(g, s, "_sum", sv->sum);
    visit(g, s, "_count", (double)sv->count);
}

static void gather_sample(tally_emit *e, const tally__family_view *f, const tally__sample_view *sv)
{
    gatherer *g = (gatherer *)e;
    if (f != e->current) {
        e->current = f;
        describe(g, f);
        if (g->on_family)
            g->on_family(&g->desc, g->user);
    }
    if (!g->on_sample)
        return;
    size_t own = f->label_count;
    if (f->type == TALLY_STATESET && own > 0)
        own--; /* the state label is ours to fill */
    const char *values[TALLY_MAX_LABELS + 1];
    if (own)
        memcpy(values, sv->label_values, own * sizeof values[0]);
    tally_sample s = {.label_names = g->names, .label_values = values, .label_count = own};
    tally_exemplar ex;
    switch (f->type) {
    case TALLY_COUNTER:
        s.created = sv->created;
        s.exemplar = exemplar_of(sv->exemplars, &ex, &s.exemplar_value);
        visit(g, &s, "_total", sv->value);
        break;
    case TALLY_HISTOGRAM:
    case TALLY_SUMMARY:
        s.created = sv->created;
        visit_distribution(g, f, sv, &s, values, own);
        break;
    case TALLY_INFO:
        visit(g, &s, "_info", 1);
        break;
    case TALLY_STATESET:
        s.label_count = f->label_count;
        for (size_t i = 0; i < f->state_count; i++) {
            values[own] = f->states[i];
            visit(g, &s, "", sv->state_values[i] ? 1 : 0);
        }
        break;
    default: /* gauge, untyped */
        visit(g, &s, "", sv->value);
        break;
    }
}

tally_err tally_gather(tally_registry *reg, const char *category,
                       tally_gather_family_fn on_family, tally_gather_sample_fn on_sample,
                       void *user)
{
    if (!reg || (!on_family && !on_sample))
        return TALLY_ERR_FORMAT;
    gatherer g = {.e = {.sink = gather_sample}, .on_family = on_family,
                  .on_sample = on_sample, .user = user};
    return tally__registry_collect(reg, category, &g.e);
}
