/*
 * prog_stress.c - threaded stress of the store, run under ThreadSanitizer
 * by stress_tsan.sh (and usable as is).
 *
 * Writers in two waves (more threads than private stripes, so the shared
 * stripe and stripe reuse after thread exit are both exercised) update kept
 * handles, look up and create children, remove and re-attach children and
 * record exemplars, while a reader renders, gathers and snapshots without
 * pause and checks the histogram invariants on every pass: cumulative
 * buckets never decrease and +Inf equals _count, in the snapshot, in the
 * rendered text and in what tally_gather visits.
 * At the end every total must be exact. Exit status 0 = all good.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

#define WRITERS 10
#define ITERATIONS 20000
#define BUCKETS 10

static const double buckets[BUCKETS] = {.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1};

typedef struct shared {
    tally_registry *reg;
    tally_counter *hits;
    tally_histogram *latency;
    tally_gauge *level;
    tally_summary *sizes;
    tally_family *by_worker, *churn, *capped, *lat_family;
    atomic_int stop;
    atomic_int failures;
    atomic_long checks;
} shared;

static void fail(shared *s, const char *what)
{
    if (atomic_fetch_add(&s->failures, 1) < 10)
        fprintf(stderr, "prog_stress: %s\n", what);
}

typedef struct writer {
    shared *s;
    int id;
} writer;

static void *write_loop(void *arg)
{
    writer *w = arg;
    shared *s = w->s;
    char id[16], key[16];
    snprintf(id, sizeof id, "w%d", w->id);
    tally_histogram *mine = tally_histogram_labels(s->lat_family, id);
    const char *names[] = {"trace_id"}, *values[] = {id};
    tally_exemplar ex = {names, values, 1, 0};
    for (int i = 0; i < ITERATIONS; i++) {
        double v = (double)((i * 7 + w->id) % 1500) / 1000.0;
        tally_counter_inc(s->hits);
        tally_histogram_observe(s->latency, v);
        tally_histogram_observe(mine, v);
        tally_gauge_add(s->level, 1);
        tally_summary_observe(s->sizes, v);
        tally_counter_inc(tally_counter_labels(s->by_worker, id, i % 2 ? "odd" : "even"));
        snprintf(key, sizeof key, "k%d", i % 64);
        tally_counter *c = tally_counter_labels(s->churn, key);
        if (!c)
            fail(s, "lookup returned NULL");
        else
            tally_counter_inc(c);
        if (i % 97 == 0)
            tally_family_remove(s->churn, (const char *[]){key});
        if (i % 31 == 0) {
            snprintf(key, sizeof key, "c%d_%d", w->id, i);
            tally_counter_inc(tally_counter_labels(s->capped, key));
        }
        if (i % 500 == 0 && tally_histogram_observe_exemplar(mine, v, &ex) != TALLY_OK)
            fail(s, "exemplar refused");
    }
    return NULL;
}

/* Checks every "<name>_bucket" run in text: non-decreasing, +Inf == _count. */
static void check_text(shared *s, const char *text, const char *name, bool required)
{
    char bucket[64], count[64];
    snprintf(bucket, sizeof bucket, "\n%s_bucket", name);
    snprintf(count, sizeof count, "\n%s_count", name);
    const char *p = text;
    int runs = 0;
    while ((p = strstr(p, bucket)) != NULL) {
        runs++;
        double prev = -1, v = 0;
        while (strncmp(p, bucket, strlen(bucket)) == 0) {
            const char *sp = strchr(p + 1, '\n');
            const char *val = sp;
            while (val[-1] != ' ')
                val--;
            v = strtod(val, NULL);
            if (v < prev)
                fail(s, "rendered buckets not cumulative");
            prev = v;
            p = sp;
        }
        if (strncmp(p, count, strlen(count)) != 0) {
            const char *sum = strchr(p + 1, '\n'); /* text order is _bucket, _sum, _count */
            p = sum ? sum : p;
        }
        if (strncmp(p, count, strlen(count)) == 0) {
            const char *val = strchr(p + 1, '\n');
            while (val[-1] != ' ')
                val--;
            if (strtod(val, NULL) != v)
                fail(s, "rendered +Inf bucket != _count");
        } else {
            fail(s, "no _count after buckets");
        }
        atomic_fetch_add(&s->checks, 1);
    }
    if (runs == 0 && required)
        fail(s, "no histogram found in the rendering");
}

/* The same invariants on tally_gather's samples: per series, _bucket
 * values (+Inf last), then _sum, then _count. */
typedef struct gather_check {
    shared *s;
    double prev, inf;
    int series;
} gather_check;

static void check_gathered(const tally_desc *f, const tally_sample *smp, void *user)
{
    gather_check *g = user;
    if (f->type != TALLY_HISTOGRAM)
        return;
    if (strcmp(smp->suffix, "_bucket") == 0) {
        if (smp->value < g->prev)
            fail(g->s, "gathered buckets not cumulative");
        g->prev = g->inf = smp->value;
    } else if (strcmp(smp->suffix, "_count") == 0) {
        if (smp->value != g->inf)
            fail(g->s, "gathered +Inf bucket != _count");
        g->prev = -1;
        g->series++;
    }
}

static void *read_loop(void *arg)
{
    shared *s = arg;
    while (!atomic_load(&s->stop)) {
        uint64_t counts[BUCKETS + 1], count;
        double sum;
        tally_histogram_snapshot(s->latency, counts, BUCKETS + 1, &sum, &count);
        for (int b = 1; b <= BUCKETS; b++)
            if (counts[b] < counts[b - 1])
                fail(s, "snapshot buckets not cumulative");
        if (counts[BUCKETS] != count)
            fail(s, "snapshot +Inf != count");
        tally_buf out = {0};
        if (tally_render(s->reg, TALLY_FORMAT_TEXT, NULL, &out) != TALLY_OK || !out.data) {
            fail(s, "render failed");
        } else {
            char *text = malloc(out.len + 1); /* the buffer is not NUL-terminated */
            memcpy(text, out.data, out.len);
            text[out.len] = '\0';
            check_text(s, text, "stress_latency_seconds", true);
            check_text(s, text, "stress_worker_latency_seconds", false);
            free(text);
        }
        tally_buf_free(&out);
        gather_check g = {.s = s, .prev = -1};
        if (tally_gather(s->reg, NULL, NULL, check_gathered, &g) != TALLY_OK || g.series == 0)
            fail(s, "gather failed or found no histogram");
        atomic_fetch_add(&s->checks, 1);
        out = (tally_buf){0};
        if (tally_render(s->reg, TALLY_FORMAT_OPENMETRICS, NULL, &out) != TALLY_OK)
            fail(s, "openmetrics render failed");
        tally_buf_free(&out);
        tally_registry_sweep(s->reg);
        atomic_fetch_add(&s->checks, 1);
    }
    return NULL;
}

static void run_wave(shared *s, int first)
{
    pthread_t t[WRITERS];
    writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){s, first + i};
        pthread_create(&t[i], NULL, write_loop, &w[i]);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
}

int main(void)
{
    shared s = {0};
    tally_err err;
    s.reg = tally_registry_new();
    s.hits = tally_counter_new(s.reg, "stress_hits_total", "Hits.", &err);
    s.latency = tally_histogram_new(s.reg, "stress_latency_seconds", "L.", buckets, BUCKETS, &err);
    s.level = tally_gauge_new(s.reg, "stress_level", "Level.", &err);
    static const double qs[] = {0.5, 0.99};
    tally_summary_opts so = {.quantiles = qs, .quantile_count = 2};
    tally_opts so_opts = {.name = "stress_sizes", .help = "Sizes."};
    s.sizes = tally_summary_get(tally_family_new(s.reg, TALLY_SUMMARY, &so_opts, NULL, &so, &err));
    s.by_worker = tally_counter_family(s.reg, "stress_by_worker", "", NULL, &err, "worker",
                                       "parity", (char *)NULL);
    s.churn = tally_counter_family(s.reg, "stress_churn", "", NULL, &err, "key", (char *)NULL);
    s.lat_family = tally_histogram_family(s.reg, "stress_worker_latency_seconds", "", NULL,
                                          buckets, BUCKETS, &err, "worker", (char *)NULL);
    const char *capped_labels[] = {"key"};
    tally_opts capped = {.name = "stress_capped", .help = "", .label_names = capped_labels,
                         .label_count = 1, .max_children = 50, .expire_after_seconds = 0.05};
    s.capped = tally_family_new(s.reg, TALLY_COUNTER, &capped, NULL, NULL, &err);
    if (!s.hits || !s.latency || !s.level || !s.sizes || !s.by_worker || !s.churn ||
        !s.lat_family || !s.capped) {
        fprintf(stderr, "prog_stress: registration failed\n");
        return 1;
    }

    pthread_t reader;
    pthread_create(&reader, NULL, read_loop, &s);
    run_wave(&s, 0);
    run_wave(&s, WRITERS); /* new threads reuse the stripes the first wave freed */
    atomic_store(&s.stop, 1);
    pthread_join(reader, NULL);

    const double total = 2.0 * WRITERS * ITERATIONS;
    uint64_t count;
    double sum, ssum;
    uint64_t scount;
    tally_histogram_snapshot(s.latency, NULL, 0, &sum, &count);
    tally_summary_totals(s.sizes, &ssum, &scount);
    if (tally_counter_value(s.hits) != total)
        fail(&s, "counter total wrong");
    if ((double)count != total || (double)scount != total)
        fail(&s, "histogram/summary count wrong");
    if (tally_gauge_value(s.level) != total)
        fail(&s, "gauge total wrong");
    if (fabs(sum - ssum) > 1e-6 * fabs(sum))
        fail(&s, "histogram and summary sums differ");
    double parity = 0;
    for (int w = 0; w < 2 * WRITERS; w++) {
        char id[16];
        snprintf(id, sizeof id, "w%d", w);
        parity += tally_counter_value(tally_counter_labels(s.by_worker, id, "odd")) +
                  tally_counter_value(tally_counter_labels(s.by_worker, id, "even"));
    }
    if (parity != total)
        fail(&s, "labelled counter totals wrong");
    if (tally_family_size(s.capped) > 51)
        fail(&s, "max_children not enforced");
    printf("prog_stress: %ld checks, %d failures\n", (long)atomic_load(&s.checks),
           atomic_load(&s.failures));
    tally_registry_free(s.reg);
    return atomic_load(&s.failures) ? 1 : 0;
}
