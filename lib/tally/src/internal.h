/*
 * internal.h - the seam between tally's metric store and its sinks.
 *
 * The store (registry, families, children, collectors) walks what it holds
 * and describes each family and each child to a sink through the two view
 * structs below. Two sinks: the renderer (text 0.0.4 or OpenMetrics) turns
 * views into bytes, the gatherer (tally_gather) into callbacks with values.
 * Neither side sees the other's data structures: the store never formats a
 * byte, a sink never touches an atomic.
 */
#ifndef TALLY_INTERNAL_H
#define TALLY_INTERNAL_H

#include "tally.h"

#define TALLY_MAX_LABELS 32

/* One family, as the renderer needs it. Strings are NUL-terminated and
 * already validated (names) or arbitrary UTF-8 (help: the renderer escapes). */
typedef struct tally__family_view {
    tally_type type;
    const char *name;        /* family name: counters without "_total",
                                info without "_info" */
    const char *help;        /* never NULL ("" if none) */
    const char *unit;        /* NULL if none */
    const char *const *label_names;
    size_t label_count;      /* for stateset: includes the state label */
    const double *buckets;   /* histogram: upper bounds, without +Inf */
    size_t bucket_count;
    const double *quantiles; /* summary */
    size_t quantile_count;
    const char *const *states; /* stateset: state names */
    size_t state_count;
} tally__family_view;

typedef struct tally__exemplar_view {
    const char *const *label_names;
    const char *const *label_values;
    size_t label_count;      /* 0 = no exemplar */
    double value;
    double timestamp;        /* seconds since epoch; 0 = none */
} tally__exemplar_view;

/* One child (one label-value set) of a family. Fields by type:
 *   counter:   value, created, exemplars[0] (or NULL)
 *   gauge, untyped: value
 *   info:      (value is 1)
 *   histogram: cumulative[bucket_count + 1] (+Inf last, == count), sum,
 *              count, created, exemplars[bucket_count + 1] (or NULL)
 *   summary:   quantile_values[quantile_count], sum, count, created
 *   stateset:  label_values excludes the state label; state_values[state_count]
 */
typedef struct tally__sample_view {
    const char *const *label_values; /* label_count entries (stateset: one fewer) */
    double value;
    double created;          /* seconds since epoch; 0 = not rendered */
    const uint64_t *cumulative;
    double sum;
    uint64_t count;
    const double *quantile_values;
    const bool *state_values;
    const tally__exemplar_view *exemplars;
} tally__sample_view;

/* A sink's state. The store fills `views`/`view_count` while a collector
 * runs (so tally_emit_* can map a desc index to a view); the rest belongs
 * to the sink. */
struct tally_emit {
    const tally__family_view *views;
    size_t view_count;
    size_t min_index;        /* a collector emits its families in declaration
                                order: an index below this one would split a
                                family in two and is refused */
    /* sink-owned. Samples of one family arrive contiguously; a change of
     * `f` ends the previous family and starts the new one. A family with
     * no samples is never seen. */
    void (*sink)(tally_emit *e, const tally__family_view *f, const tally__sample_view *s);
    const tally__family_view *current; /* family whose samples came last */
    int err;
    /* renderer-owned */
    tally_format fmt;
    tally_buf *out;
};

/* The store hands every sample to the sink it was given. */
static inline void tally__emit_sample(tally_emit *e, const tally__family_view *f,
                                      const tally__sample_view *s)
{
    e->sink(e, f, s);
}

/* The renderer's sink (exposition.c): writes the header at a family change,
 * then the sample's lines in e->fmt. */
void tally__render_sample(tally_emit *e, const tally__family_view *f, const tally__sample_view *s);

/* Canonical float text as the renderer writes it: +Inf, -Inf, NaN,
 * integers exactly, else the shortest decimal that reads back as v;
 * `om_canonical` writes integral values as "1.0" (OpenMetrics le and
 * quantile). out holds TALLY_NUM_MAX bytes; returns the length (no NUL). */
#define TALLY_NUM_MAX 40
size_t tally__format_double(char *out, double v, bool om_canonical);

/* Store side: walks every family (category NULL = all) and collector, in
 * registration order, applying expiry first, and calls tally__emit_sample.
 * Takes the registry's render lock for the duration. */
tally_err tally__registry_collect(tally_registry *reg, const char *category, tally_emit *e);

/* Buffer helpers shared by the renderers (exposition/buf.c). */
int tally__buf_reserve(tally_buf *b, size_t extra);
int tally__buf_append(tally_buf *b, const char *s, size_t n);

#endif /* TALLY_INTERNAL_H */
