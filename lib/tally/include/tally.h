/*
 * tally.h - a lock-free Prometheus client library for C.
 *
 * tally keeps metrics in a registry and renders them in the Prometheus text
 * format 0.0.4 or OpenMetrics 1.0.0, or hands their values to callbacks
 * (tally_gather). It depends on libc, pthreads and zlib.
 *
 * Shape (after client_golang):
 *   registry  -> owns families and collectors, renders or gathers them.
 *   family    -> one metric name, type, help, unit, label names, category.
 *   child     -> one label-value set of a family; a stable handle the caller
 *                may keep for the life of the registry.
 *   collector -> a callback that emits families at scrape time.
 *
 * Ownership: every string passed in is copied; nothing returned needs to be
 * freed by the caller except what a function says it allocates. Handles
 * (tally_counter *, ...) are owned by their registry and stay valid until
 * tally_registry_free(), even after the child is removed (a removed child is
 * detached: updates to it are kept but not rendered until the same label set
 * is looked up again, at which point it restarts from zero).
 *
 * Threads: every function is thread-safe. Updates (inc, add, set, observe)
 * take no lock, allocate nothing and make no syscall. Counters, histograms
 * and summaries are striped: each of the first 7 threads that update any
 * metric gets a private stripe (given back when the thread exits) and
 * updates it without atomic read-modify-write; further threads share one
 * stripe with atomic RMW. Values are summed over stripes when read. (The
 * stripe index is an initial-exec TLS variable: link libtally into the
 * program or a library loaded at startup, not one opened with dlopen.)
 * Child lookups that hit take no lock and allocate nothing; creating a child
 * takes the family's mutex. Registration, rendering and gathering take the
 * registry's mutex.
 *
 * Errors: functions that can fail return a tally_err (0 on success) or NULL
 * with the reason in *err when err is not NULL. tally never aborts and never
 * prints.
 */
#ifndef TALLY_H
#define TALLY_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TALLY_VERSION "0.1.0"

/* ------------------------------------------------------------------ errors */

typedef enum tally_err {
    TALLY_OK = 0,
    TALLY_ERR_NOMEM = -1,          /* allocation failed */
    TALLY_ERR_INVALID_NAME = -2,   /* metric name not [a-zA-Z_:][a-zA-Z0-9_:]* */
    TALLY_ERR_INVALID_LABEL = -3,  /* label name not [a-zA-Z_][a-zA-Z0-9_]* */
    TALLY_ERR_RESERVED_LABEL = -4, /* "__*", "le" on histograms, "quantile" on summaries */
    TALLY_ERR_DUPLICATE = -5,      /* family name already registered */
    TALLY_ERR_SUFFIX_CLASH = -6,   /* e.g. gauge "x_count" beside histogram "x" */
    TALLY_ERR_RESERVED_SUFFIX = -7,/* non-counter named *_total, *_bucket, *_created... */
    TALLY_ERR_UNIT = -8,           /* unit invalid, or name does not end in _<unit> */
    TALLY_ERR_DUPLICATE_LABEL = -9,/* the same label name twice */
    TALLY_ERR_LABEL_COUNT = -10,   /* wrong number of label values, or more than 32 labels */
    TALLY_ERR_INVALID_VALUE = -11, /* negative counter add, NaN where not allowed... */
    TALLY_ERR_BUCKETS = -12,       /* buckets not strictly increasing, NaN, empty, > 1000 */
    TALLY_ERR_QUANTILES = -13,     /* quantile outside [0,1], over 1000 of them, or bad window */
    TALLY_ERR_EXEMPLAR = -14,      /* exemplar labels longer than 128 UTF-8 chars, more than
                                      8 labels, bad name, value not UTF-8 */
    TALLY_ERR_NOT_FOUND = -15,     /* removal of a child that does not exist */
    TALLY_ERR_FORMAT = -16,        /* unknown format or bad argument to render */
    TALLY_ERR_IO = -17,            /* compression failed */
    TALLY_ERR_UTF8 = -18           /* help or label value is not valid UTF-8 */
} tally_err;

/* A static English description of an error code. */
const char *tally_strerror(int err);

/* ------------------------------------------------------------- registries */

typedef struct tally_registry tally_registry;

/* Creates an empty registry; NULL on allocation failure. */
tally_registry *tally_registry_new(void);

/* Frees the registry, every family, child and collector in it. Handles
 * obtained from it become invalid. Must not race with updates. NULL is a
 * no-op. */
void tally_registry_free(tally_registry *reg);

/* ---------------------------------------------------------------- families */

typedef enum tally_type {
    TALLY_COUNTER,
    TALLY_GAUGE,
    TALLY_HISTOGRAM,
    TALLY_SUMMARY,
    TALLY_INFO,
    TALLY_STATESET,
    TALLY_UNTYPED       /* only from collectors ("unknown" in OpenMetrics) */
} tally_type;

typedef struct tally_family tally_family;

/* Options common to every family. Zero-initialise and fill what you need.
 *
 * Names (after client_golang's Opts): the family's full name is
 * namespace_subsystem_name, each part and its "_" left out when NULL or
 * empty, so an empty namespace gives the bare name. The full name is what
 * is validated, exposed, checked for clashes and returned by
 * tally_family_name: namespace "app" with name "9lives" is fine
 * ("app_9lives"), namespace "1app" is not. The suffix rules below apply to
 * it as a whole too (namespace "app", counter "jobs_total" exposes
 * app_jobs_total). (`namespace_` has its underscore because namespace is
 * a C++ keyword.) */
typedef struct tally_opts {
    const char *namespace_;         /* optional first part of the full name */
    const char *subsystem;          /* optional second part */
    const char *name;               /* required. Counters: "x" or "x_total"; both expose x_total */
    const char *help;               /* may be NULL (rendered as empty) */
    const char *unit;               /* optional; name must then end in "_<unit>" */
    const char *category;           /* optional tag for filtered rendering; NULL = "default" */
    const char *const *label_names; /* label_count names, or NULL */
    size_t label_count;
    size_t max_children;            /* 0 = unlimited; past it new label sets fold into one
                                       child whose every label value is "__overflow__"
                                       (not counted against the cap); each fold counts in
                                       tally_series_overflow_total{family} */
    double expire_after_seconds;    /* 0 = never; else a child whose value has not changed
                                       for this long is removed (detached) at a render or
                                       sweep. Changes are noticed at renders/sweeps, so the
                                       clock starts at the first one that saw the last
                                       change. Info and stateset children never expire. */
} tally_opts;

/* Histogram-specific options. An observation of NaN counts in the +Inf
 * bucket (and makes the sum NaN), as in client_golang. */
typedef struct tally_histogram_opts {
    const double *buckets;          /* upper bounds, strictly increasing, finite, at most
                                       1000; +Inf is implicit (a trailing +Inf is dropped).
                                       NULL = tally_buckets_default */
    size_t bucket_count;
} tally_histogram_opts;

/* Summary-specific options. With quantile_count == 0 a summary exposes only
 * _sum and _count. With quantiles, it keeps a sliding window of
 * max_age_seconds split into age_buckets (default 600 s, 5), and estimates each
 * quantile with a relative error of at most `relative_error` (default 0.01) of
 * the true value at that rank, for positive observations (a log-bucketed
 * sketch; zero and negatives are tracked in their own bins the same way).
 * The bound holds for magnitudes in [1e-9, 1e9]; larger or smaller ones are
 * clamped to that range. Estimates are taken over the observations of the
 * last max_age_seconds (give or take one age bucket); sum and count never
 * age. Cost: each child keeps age_buckets arrays of about
 * 2 * ln(1e18) / ln((1 + e) / (1 - e)) 8-byte bins (~33 KB for e = 0.01), so
 * keep quantile summaries to low-cardinality families. Options: 0 = default;
 * relative_error in [1e-6, 1), max_age_seconds > 0, age_buckets <= 1000,
 * else TALLY_ERR_QUANTILES. */
typedef struct tally_summary_opts {
    const double *quantiles;        /* each in [0,1], at most 1000 */
    size_t quantile_count;
    double max_age_seconds;
    unsigned age_buckets;
    double relative_error;
} tally_summary_opts;

/* Registers a family. Returns NULL and sets *err on a validation error.
 * hopts only for TALLY_HISTOGRAM, sopts only for TALLY_SUMMARY (may be NULL
 * for defaults). For TALLY_STATESET, one label must be named like the family
 * itself (OpenMetrics rule): like its full name, or like opts->name alone,
 * which is then exposed under the full name (so a namespace needs no
 * change to the label list); its values are the states (see
 * tally_stateset_set). For TALLY_INFO, name is without "_info" (exposed as
 * name_info with value 1; a trailing "_info" is dropped). At most 32 labels.
 * TALLY_UNTYPED is only for collectors (TALLY_ERR_FORMAT here). Families
 * without labels start with their one child (rendered as 0); info and
 * stateset children appear when set. */
tally_family *tally_family_new(tally_registry *reg, tally_type type,
                               const tally_opts *opts,
                               const tally_histogram_opts *hopts,
                               const tally_summary_opts *sopts,
                               tally_err *err);

/* Convenience registrations. label names: NULL-terminated list of char *. */
tally_family *tally_counter_family(tally_registry *reg, const char *name, const char *help,
                                   const char *category, tally_err *err, ...);
tally_family *tally_gauge_family(tally_registry *reg, const char *name, const char *help,
                                 const char *category, tally_err *err, ...);
tally_family *tally_histogram_family(tally_registry *reg, const char *name, const char *help,
                                     const char *category, const double *buckets,
                                     size_t bucket_count, tally_err *err, ...);

/* Unregisters and frees a family. Handles into it become invalid. The
 * registry's own tally_series_overflow family cannot be unregistered
 * (TALLY_ERR_FORMAT); a family not in reg gives TALLY_ERR_NOT_FOUND. */
tally_err tally_family_unregister(tally_registry *reg, tally_family *fam);

/* A family's type, its name as exposed in OpenMetrics (a counter's without
 * "_total", an info's without "_info"; NULL for a NULL family) and its
 * number of label names (the state label of a stateset included). */
tally_type  tally_family_type(const tally_family *fam);
const char *tally_family_name(const tally_family *fam);
size_t      tally_family_label_count(const tally_family *fam);
/* Number of live (rendered) children. */
size_t      tally_family_size(const tally_family *fam);

/* Lifecycle of children. Removing detaches a child (see Ownership above):
 * TALLY_ERR_NOT_FOUND if there is no live child with these values. */
tally_err tally_family_remove(tally_family *fam, const char *const *label_values);
/* Removes every child whose labels match all given (name, value) pairs;
 * returns the number removed (>= 0) or a negative tally_err
 * (TALLY_ERR_INVALID_LABEL for a name the family does not have). */
int       tally_family_remove_matching(tally_family *fam, const char *const *label_names,
                                       const char *const *label_values, size_t n);
/* Removes every child (an unlabelled family's child comes back, at zero,
 * at its next lookup). NULL is a no-op. */
void      tally_family_clear(tally_family *fam);
/* Applies expiry now (rendering does this too); returns children removed. */
size_t    tally_registry_sweep(tally_registry *reg);

/* ------------------------------------------------------ label value lookup
 * Every lookup returns the child for these label values, creating it on
 * first use; NULL only on allocation failure, a NULL family or value, a
 * family of another type, or a value that is not valid UTF-8. The
 * returned handle is stable: keep it and skip the lookup next time. Label
 * values may be any UTF-8 string (they are escaped on output). For a family
 * at its max_children cap, a new label set returns the overflow child. */

typedef struct tally_counter   tally_counter;
typedef struct tally_gauge     tally_gauge;
typedef struct tally_histogram tally_histogram;
typedef struct tally_summary   tally_summary;

tally_counter   *tally_counter_with(tally_family *fam, const char *const *label_values);
tally_gauge     *tally_gauge_with(tally_family *fam, const char *const *label_values);
tally_histogram *tally_histogram_with(tally_family *fam, const char *const *label_values);
tally_summary   *tally_summary_with(tally_family *fam, const char *const *label_values);

/* Variadic forms: exactly label_count const char * values follow (at most 32). */
tally_counter   *tally_counter_labels(tally_family *fam, ...);
tally_gauge     *tally_gauge_labels(tally_family *fam, ...);
tally_histogram *tally_histogram_labels(tally_family *fam, ...);
tally_summary   *tally_summary_labels(tally_family *fam, ...);

/* The unlabelled child of a family with no labels (the direct fast path:
 * never hashes). NULL if the family has labels. */
tally_counter   *tally_counter_get(tally_family *fam);
tally_gauge     *tally_gauge_get(tally_family *fam);
tally_histogram *tally_histogram_get(tally_family *fam);
tally_summary   *tally_summary_get(tally_family *fam);

/* Registration of an unlabelled family and its child in one call (category
 * "default"); NULL with *err set on failure. */
tally_counter   *tally_counter_new(tally_registry *reg, const char *name, const char *help, tally_err *err);
tally_gauge     *tally_gauge_new(tally_registry *reg, const char *name, const char *help, tally_err *err);
tally_histogram *tally_histogram_new(tally_registry *reg, const char *name, const char *help,
                                     const double *buckets, size_t bucket_count, tally_err *err);

/* ------------------------------------------------------------------ updates
 * No lock, no allocation, no syscall. */

/* Exemplar: a label set (e.g. trace_id, span_id) attached to a counter or a
 * histogram bucket; the latest one per series/bucket is rendered in
 * OpenMetrics. The label names and values together may not exceed 128 UTF-8
 * characters (at most 8 labels). timestamp: seconds since the epoch, 0 =
 * now. Recording an exemplar takes a per-child spinlock and, the first time
 * for a child, allocates its exemplar slots (exemplars are sampled, not the
 * per-call hot path). A refused exemplar records nothing: the value is not
 * added either. */
typedef struct tally_exemplar {
    const char *const *label_names;
    const char *const *label_values;
    size_t label_count;
    double timestamp;
} tally_exemplar;

/* Updates on a NULL handle (a refused lookup) do nothing; reads give 0 (or
 * NaN for quantiles), error-returning calls TALLY_ERR_FORMAT. */
/* Counters: add 1, an integer, or a float (v < 0 or NaN:
 * TALLY_ERR_INVALID_VALUE); add_exemplar adds v and records ex with it;
 * value reads the sum over all threads' stripes. */
void      tally_counter_inc(tally_counter *c);
void      tally_counter_add_int(tally_counter *c, uint64_t n);
tally_err tally_counter_add(tally_counter *c, double v);
tally_err tally_counter_add_exemplar(tally_counter *c, double v, const tally_exemplar *ex);
double    tally_counter_value(const tally_counter *c);

/* Gauges: set, +1, -1, add (v may be negative), set to the current Unix
 * time in seconds (reads the vDSO clock), read. */

void   tally_gauge_set(tally_gauge *g, double v);
void   tally_gauge_inc(tally_gauge *g);
void   tally_gauge_dec(tally_gauge *g);
void   tally_gauge_add(tally_gauge *g, double v);
void   tally_gauge_set_to_current_time(tally_gauge *g);
double tally_gauge_value(const tally_gauge *g);

/* Histograms: count v in its bucket (and +Inf) and add it to the sum;
 * observe_exemplar also records ex on that bucket. */
void      tally_histogram_observe(tally_histogram *h, double v);
tally_err tally_histogram_observe_exemplar(tally_histogram *h, double v, const tally_exemplar *ex);
/* Snapshot for tests and collectors: cumulative counts per bucket (+Inf last,
 * so counts has bucket_count + 1 entries, else TALLY_ERR_FORMAT), sum and
 * count; any output pointer may be NULL. counts[bucket_count] == count. */
tally_err tally_histogram_snapshot(const tally_histogram *h, uint64_t *counts, size_t n,
                                   double *sum, uint64_t *count);

/* Summaries: add v to the sum, count and (if configured) quantile window. */
void   tally_summary_observe(tally_summary *s, double v);
/* The current estimate of quantile q (must be one of the configured ones or
 * any q in [0,1] if quantiles are configured); NaN if the window is empty. */
double tally_summary_quantile(tally_summary *s, double q);
/* Sum and count of every observation so far (they never age); either
 * pointer may be NULL. */
void   tally_summary_totals(const tally_summary *s, double *sum, uint64_t *count);

/* Info: sets the single child of an info family to these label values
 * (replacing the previous one atomically with respect to renders).
 * TALLY_ERR_UTF8 for a value that is not UTF-8. */
tally_err tally_info_set(tally_family *fam, const char *const *label_values);

/* Stateset: label_values are the non-state labels (label_count - 1 values, in
 * order, skipping the state label). tally_stateset_declare fixes the states
 * once, before any set (declaring the same list again is fine, a different
 * one is TALLY_ERR_DUPLICATE; states must be distinct UTF-8 strings);
 * tally_stateset_set marks `state` as the one active state of that child (all
 * others become 0); tally_stateset_set_bool sets one state independently.
 * An undeclared state is TALLY_ERR_NOT_FOUND. */
tally_err tally_stateset_declare(tally_family *fam, const char *const *states, size_t n);
tally_err tally_stateset_set(tally_family *fam, const char *const *label_values, const char *state);
tally_err tally_stateset_set_bool(tally_family *fam, const char *const *label_values,
                                  const char *state, bool value);

/* --------------------------------------------------------------- buckets */

extern const double tally_buckets_default[11]; /* .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 */
extern const double tally_buckets_fast[6];     /* .01 .05 .1 .25 .5 1   (seed 004: < 1 s) */
extern const double tally_buckets_medium[6];   /* .25 .5 1 2 5 10       (1-10 s) */
extern const double tally_buckets_slow[6];     /* 1 5 10 30 60 120      (10 s+) */
#define TALLY_BUCKETS(arr) (arr), (sizeof(arr) / sizeof((arr)[0]))

/* Fill out[0..count) with start, start+width, ... ; TALLY_ERR_BUCKETS if
 * count == 0 or width <= 0. */
tally_err tally_buckets_linear(double *out, double start, double width, size_t count);
/* start, start*factor, ...; requires start > 0, factor > 1. */
tally_err tally_buckets_exponential(double *out, double start, double factor, size_t count);

/* ------------------------------------------------------------- collectors
 * A collector emits families computed at scrape time. Its callback runs
 * under the registry's render lock, once per render, and must emit only the
 * families it declared, in declaration order (every sample of family 0,
 * then of family 1, ...; families may be skipped): the exposition formats
 * require a family's samples to be contiguous, so going back to an earlier
 * index is refused with TALLY_ERR_FORMAT. Because it runs under the render
 * lock, a callback must not render, sweep, register or unregister on its
 * own registry (that would deadlock); updating metrics is fine. */

typedef struct tally_emit tally_emit;

typedef struct tally_desc {
    tally_type type;
    const char *namespace_;         /* full name namespace_subsystem_name, as in tally_opts */
    const char *subsystem;
    const char *name;
    const char *help;
    const char *unit;
    const char *const *label_names;
    size_t label_count;
    const double *buckets;          /* histogram only: upper bounds without +Inf */
    size_t bucket_count;
    const double *quantiles;        /* summary only */
    size_t quantile_count;
} tally_desc;

typedef void (*tally_collect_fn)(tally_emit *e, void *user);

/* Registers a collector that declares `n` families (validated like
 * tally_family_new: names, labels, clashes, also among themselves; types
 * counter, gauge, histogram, summary or untyped, else TALLY_ERR_FORMAT).
 * `user` is passed to fn and, if free_fn is not NULL, freed with it when
 * the registry is freed; on failure nothing is kept and user stays the
 * caller's. */
tally_err tally_collector_register(tally_registry *reg, const char *category,
                                   const tally_desc *descs, size_t n,
                                   tally_collect_fn fn, void *user,
                                   void (*free_fn)(void *user));

/* Inside a collector callback: emit one sample set of declared family
 * `desc_index` (index into the descs array passed at registration).
 * label_values has desc.label_count entries. Values are rendered as given.
 * Errors: TALLY_ERR_FORMAT (bad index, an index below one already emitted
 * in this call, or the emitter does not match the
 * declared type; tally_emit_gauge also serves untyped), TALLY_ERR_UTF8,
 * TALLY_ERR_LABEL_COUNT (NULL value), TALLY_ERR_INVALID_VALUE (negative
 * counter, non-cumulative buckets or a bucket above count). Nothing is
 * emitted on error. */
tally_err tally_emit_counter(tally_emit *e, size_t desc_index, const char *const *label_values,
                             double value);
tally_err tally_emit_gauge(tally_emit *e, size_t desc_index, const char *const *label_values,
                           double value);
/* cumulative[i] for each declared bucket, then +Inf == count. */
tally_err tally_emit_histogram(tally_emit *e, size_t desc_index, const char *const *label_values,
                               const uint64_t *cumulative, double sum, uint64_t count);
/* quantile_values[i] for each declared quantile. */
tally_err tally_emit_summary(tally_emit *e, size_t desc_index, const char *const *label_values,
                             const double *quantile_values, double sum, uint64_t count);

/* The process collector: process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds (Linux
 * /proc). category NULL = "system". */
tally_err tally_process_collector_register(tally_registry *reg, const char *category);

/* ------------------------------------------------------------- rendering */

typedef enum tally_format {
    TALLY_FORMAT_TEXT = 0,      /* text/plain; version=0.0.4; charset=utf-8 */
    TALLY_FORMAT_OPENMETRICS    /* application/openmetrics-text; version=1.0.0; charset=utf-8 */
} tally_format;

#define TALLY_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define TALLY_CONTENT_TYPE_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Picks the format from an HTTP Accept header, honouring q-values (NULL or
 * empty = text). */
tally_format tally_negotiate_format(const char *accept);
/* true when an Accept-Encoding header allows gzip (q > 0). */
bool tally_negotiate_gzip(const char *accept_encoding);
/* TALLY_CONTENT_TYPE_OPENMETRICS for OpenMetrics, else TALLY_CONTENT_TYPE_TEXT. */
const char *tally_content_type(tally_format fmt);

/* A growable output buffer; tally_buf_free releases its memory. */
typedef struct tally_buf {
    char *data;
    size_t len;
    size_t cap;
} tally_buf;
void tally_buf_free(tally_buf *b);

/* Appends the rendering of every family (category == NULL) or only those
 * tagged `category` to out. OpenMetrics output ends with "# EOF". */
tally_err tally_render(tally_registry *reg, tally_format fmt, const char *category, tally_buf *out);
/* Same, gzip-compressed. */
tally_err tally_render_gzip(tally_registry *reg, tally_format fmt, const char *category,
                            tally_buf *out);

/* One-stop for HTTP servers: negotiates from the request headers (either may
 * be NULL), renders, and says the Content-Type and Content-Encoding (NULL if
 * none) to send. */
tally_err tally_render_http(tally_registry *reg, const char *accept, const char *accept_encoding,
                            const char *category, tally_buf *out,
                            const char **content_type, const char **content_encoding);

/* Calls fn for each registered family name with its type, help and
 * category, in registration order (for generated docs). */
typedef void (*tally_family_visit_fn)(const char *name, tally_type type, const char *help,
                                      const char *unit, const char *category,
                                      const char *const *label_names, size_t label_count,
                                      void *user);
void tally_registry_visit(tally_registry *reg, tally_family_visit_fn fn, void *user);

/* -------------------------------------------------------------- gathering
 * The registry's samples as values rather than text, for a program that
 * wants numbers (a JSON summary, a push elsewhere, a test): the families
 * and samples a text 0.0.4 rendering would write, in the same order, read
 * the same way (under the render lock, expiry applied first, each child
 * read once: a histogram's buckets are cumulative and +Inf == _count as in
 * a rendering; collectors run), plus what only OpenMetrics shows
 * (exemplars, creation times) as fields of the samples. */

/* One sample: one line "<family name><suffix>{labels} value" of a text
 * rendering. */
typedef struct tally_sample {
    const char *suffix;              /* "_total" (counter), "_info" (info), "_bucket",
                                        "_sum", "_count" (histogram; summary: "_sum",
                                        "_count"), "" (gauge, stateset, untyped, summary
                                        quantile) */
    const char *const *label_names;  /* the family's labels, then "le" for a bucket or
                                        "quantile" for a quantile; a stateset's state
                                        label is last and its value is the state */
    const char *const *label_values; /* raw UTF-8 (not escaped); le and quantile as text
                                        0.0.4 writes them ("0.25", "1", "+Inf") */
    size_t label_count;
    double value;                    /* _bucket, _count: the count as a double (exact up
                                        to 2^53); info: 1; stateset: 1 or 0 */
    double created;                  /* counters, histograms, summaries: when the series
                                        was (re)created, seconds since the epoch
                                        (OpenMetrics' _created); 0 = none (other types,
                                        collectors' samples) */
    const tally_exemplar *exemplar;  /* counter _total, histogram _bucket: the latest
                                        exemplar (its timestamp always set); NULL = none */
    double exemplar_value;           /* the value recorded with it */
} tally_sample;

/* `family` describes the family being visited: type, name (the full name,
 * without a counter's "_total" or an info's "_info", as tally_family_name
 * gives it; namespace_ and subsystem are NULL), help ("" if none), unit
 * (NULL if none), label names (a stateset's state label last), buckets
 * (histograms, without +Inf) and quantiles (summaries). */
typedef void (*tally_gather_family_fn)(const tally_desc *family, void *user);
typedef void (*tally_gather_sample_fn)(const tally_desc *family, const tally_sample *sample,
                                       void *user);

/* Visits every family (category NULL) or only those tagged `category`, in
 * registration order: on_family once before the family's first sample, then
 * on_sample for each of its samples. Either callback may be NULL, not both
 * (TALLY_ERR_FORMAT, as for a NULL reg). As in a rendering, a family with no
 * sample (no live child, an info never set, a collector family not emitted)
 * is not visited, nor is a removed or expired child; an overflow child is.
 * What the callbacks receive is valid during the call only. They run under
 * the render lock, like a collector: they must not render, gather, sweep,
 * register or unregister on this registry (that would deadlock); updating
 * metrics is fine. Nothing is allocated per sample (the store's per-family
 * scratch is reused across renders and gathers): TALLY_ERR_NOMEM only when
 * that scratch must grow and cannot. */
tally_err tally_gather(tally_registry *reg, const char *category,
                       tally_gather_family_fn on_family, tally_gather_sample_fn on_sample,
                       void *user);

/* ------------------------------------------------------- self-observation
 * Every registry exposes tally_series_overflow_total{family} (category
 * "system"): label sets folded into an overflow child because a family hit
 * max_children: every lookup of a label set that did not fit counts once
 * (a set looked up three times past the cap counts three), and each such
 * lookup takes the family's mutex, so keep the handle it returns. */

#ifdef __cplusplus
}
#endif
#endif /* TALLY_H */
