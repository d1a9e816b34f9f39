/*
 * tally_bench.c - tally's benchmarks. Every case is repeated 5 times for
 * about 0.6 s each and prints one line: the median ns per operation and the
 * range, so runs can be compared line by line. Targets (2-core machine) are
 * in the issue and bench/RESULTS.md.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tally.h"

#define REPS 5
#define SECONDS 0.6
/* Emits nothing; stops the compiler from merging or dropping loop bodies
 * (e.g. under LTO, where the update calls could be inlined). */
#define BARRIER() __asm__ volatile("" ::: "memory")

static const double buckets10[] = {.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, double ns[REPS])
{
    qsort(ns, REPS, sizeof ns[0], cmp_double);
    printf("%-34s %12.1f  (%.1f .. %.1f)\n", name, ns[REPS / 2], ns[0], ns[REPS - 1]);
    fflush(stdout);
}

/* A case runs `fn(arg, n)` doing n operations; the harness picks n so a
 * repetition lasts about SECONDS, and returns ns per operation. */
typedef void (*op_fn)(void *arg, long n);

static double measure(op_fn fn, void *arg)
{
    long n = 1;
    double t;
    for (;;) { /* calibrate */
        double t0 = now();
        fn(arg, n);
        t = now() - t0;
        if (t > 0.05)
            break;
        n *= 8;
    }
    n = (long)((double)n * SECONDS / t) + 1;
    double t0 = now();
    fn(arg, n);
    return (now() - t0) * 1e9 / (double)n;
}

static void run_case(const char *name, op_fn fn, void *arg)
{
    double ns[REPS];
    for (int r = 0; r < REPS; r++)
        ns[r] = measure(fn, arg);
    report(name, ns);
}

/* ----------------------------------------------------------------- cases */

static void counter_inc(void *arg, long n)
{
    tally_counter *c = arg;
    for (long i = 0; i < n; i++) {
        tally_counter_inc(c);
        BARRIER();
    }
}

static void gauge_set(void *arg, long n)
{
    tally_gauge *g = arg;
    for (long i = 0; i < n; i++) {
        tally_gauge_set(g, (double)i);
        BARRIER();
    }
}

static void histogram_observe(void *arg, long n)
{
    tally_histogram *h = arg;
    for (long i = 0; i < n; i++) {
        tally_histogram_observe(h, (double)(i & 2047) * 0.0006); /* spreads over all buckets */
        BARRIER();
    }
}

typedef struct two_threads {
    tally_counter *c;
    long n;
    atomic_int ready;
} two_threads;

static void *inc_thread(void *arg)
{
    two_threads *t = arg;
    atomic_fetch_add(&t->ready, 1);
    while (atomic_load(&t->ready) < 2)
        ;
    counter_inc(t->c, t->n);
    return NULL;
}

/* Both threads increment the same counter; ns per op per thread. */
static void counter_inc_2threads(void *arg, long n)
{
    two_threads t = {.c = arg, .n = n};
    pthread_t a, b;
    pthread_create(&a, NULL, inc_thread, &t);
    pthread_create(&b, NULL, inc_thread, &t);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}

typedef struct lookup_set {
    tally_family *fam;
    const char *values[1000][3];
    char text[1000][3][8];
} lookup_set;

static void lookup(void *arg, long n)
{
    lookup_set *s = arg;
    uintptr_t sink = 0;
    for (long i = 0, k = 0; i < n; i++, k = k == 999 ? 0 : k + 1)
        sink ^= (uintptr_t)tally_counter_with(s->fam, s->values[k]);
    *(volatile uintptr_t *)&sink = sink;
}

/* New children need fresh label sets: each repetition fills new registries
 * in batches and times only the creations. */
static double measure_create(void)
{
    const long batch = 100000;
    double spent = 0;
    long made = 0;
    char b[24];
    while (spent < SECONDS) {
        tally_registry *reg = tally_registry_new();
        tally_family *f = tally_counter_family(reg, "created", "", NULL, NULL, "a", "b", "c",
                                               (char *)NULL);
        double t0 = now();
        for (long i = 0; i < batch; i++) {
            snprintf(b, sizeof b, "%ld", i);
            tally_counter_inc(tally_counter_labels(f, "x", b, "y"));
        }
        spent += now() - t0;
        made += batch;
        tally_registry_free(reg);
    }
    return spent * 1e9 / (double)made;
}

static double snprintf_cost(void)
{
    char b[24];
    volatile char sink = 0;
    const long n = 2000000;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        snprintf(b, sizeof b, "%ld", i);
        sink ^= b[0];
    }
    return (now() - t0) * 1e9 / (double)n;
}

typedef struct render_case {
    tally_registry *reg;
    tally_format fmt;
    bool gzip;
} render_case;

static void render(void *arg, long n)
{
    render_case *rc = arg;
    for (long i = 0; i < n; i++) {
        tally_buf out = {0};
        tally_err err = rc->gzip ? tally_render_gzip(rc->reg, rc->fmt, NULL, &out)
                                 : tally_render(rc->reg, rc->fmt, NULL, &out);
        if (err != TALLY_OK) {
            fprintf(stderr, "render failed: %s\n", tally_strerror(err));
            exit(1);
        }
        tally_buf_free(&out);
    }
}

/* Visits every sample as a value; the sum keeps the visits from being
 * optimised away. */
static void add_value(const tally_desc *f, const tally_sample *s, void *user)
{
    (void)f;
    *(double *)user += s->value;
}

static void gather(void *arg, long n)
{
    render_case *rc = arg;
    for (long i = 0; i < n; i++) {
        double total = 0;
        tally_err err = tally_gather(rc->reg, NULL, NULL, add_value, &total);
        if (err != TALLY_OK) {
            fprintf(stderr, "gather failed: %s\n", tally_strerror(err));
            exit(1);
        }
        *(volatile double *)&total = total;
    }
}

/* 100,000 counter series (a0..a999 x b0..b99) plus 1,000 histograms of 10
 * buckets: about 100,000 + 13,000 sample lines. */
static tally_registry *render_registry(void)
{
    tally_registry *reg = tally_registry_new();
    tally_family *c = tally_counter_family(reg, "bench_requests", "Requests.", NULL, NULL, "a",
                                           "b", (char *)NULL);
    tally_family *h = tally_histogram_family(reg, "bench_latency_seconds", "Latency.", NULL,
                                             buckets10, 10, NULL, "h", (char *)NULL);
    char a[16], b[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(a, sizeof a, "a%d", i);
        for (int j = 0; j < 100; j++) {
            snprintf(b, sizeof b, "b%d", j);
            tally_counter_add_int(tally_counter_labels(c, a, b), (uint64_t)(i * 100 + j));
        }
        tally_histogram *hh = tally_histogram_labels(h, a);
        for (int k = 0; k < 20; k++)
            tally_histogram_observe(hh, k * 0.05);
    }
    return reg;
}

int main(void)
{
    tally_registry *reg = tally_registry_new();
    tally_counter *plain = tally_counter_new(reg, "plain", "", NULL);
    tally_family *three = tally_counter_family(reg, "three", "", NULL, NULL, "a", "b", "c",
                                               (char *)NULL);
    tally_counter *kept = tally_counter_labels(three, "GET", "/v1/chat/completions", "200");
    tally_counter *shared = tally_counter_new(reg, "shared", "", NULL);
    tally_gauge *g = tally_gauge_new(reg, "level", "", NULL);
    tally_histogram *h = tally_histogram_new(reg, "lat_seconds", "", buckets10, 10, NULL);

    run_case("counter_inc_unlabelled", counter_inc, plain);
    run_case("counter_inc_3label_handle", counter_inc, kept);
    run_case("counter_inc_2threads_per_thread", counter_inc_2threads, shared);
    run_case("gauge_set", gauge_set, g);
    run_case("histogram_observe_10_buckets", histogram_observe, h);

    lookup_set *ls = calloc(1, sizeof *ls);
    ls->fam = tally_counter_family(reg, "looked_up", "", NULL, NULL, "x", "y", "z", (char *)NULL);
    for (int i = 0; i < 1000; i++) {
        snprintf(ls->text[i][0], 8, "x%d", i % 10);
        snprintf(ls->text[i][1], 8, "y%d", (i / 10) % 50);
        snprintf(ls->text[i][2], 8, "z%d", i / 500);
        for (int k = 0; k < 3; k++)
            ls->values[i][k] = ls->text[i][k];
        tally_counter_inc(tally_counter_with(ls->fam, ls->values[i]));
    }
    run_case("lookup_3labels_1000_children", lookup, ls);
    free(ls);

    double ns[REPS], fmt_cost = snprintf_cost();
    for (int r = 0; r < REPS; r++)
        ns[r] = measure_create() - fmt_cost; /* not counting the label formatting */
    report("child_create", ns);
    tally_registry_free(reg);

    render_case rc = {render_registry(), TALLY_FORMAT_TEXT, false};
    run_case("render_100k_text", render, &rc);
    rc.fmt = TALLY_FORMAT_OPENMETRICS;
    run_case("render_100k_openmetrics", render, &rc);
    rc.fmt = TALLY_FORMAT_TEXT;
    rc.gzip = true;
    run_case("render_100k_text_gzip", render, &rc);
    run_case("gather_100k", gather, &rc);
    tally_registry_free(rc.reg);
    return 0;
}
