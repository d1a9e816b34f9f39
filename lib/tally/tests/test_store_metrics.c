/*
 * test_store_metrics.c - the store's metric types through the public API:
 * counter, gauge, histogram, summary (quantile error bound and ageing),
 * exemplars, info, stateset, bucket helpers and error strings.
 */
#include <math.h>
#include <pthread.h>

#include "test_util.h"

static void test_counter(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_err err = -99;
    tally_counter *c = tally_counter_new(reg, "jobs_total", "Jobs.", &err);
    assert_int_equal(err, TALLY_OK);
    assert_non_null(c);
    assert_true(tally_counter_value(c) == 0);
    tally_counter_inc(c);
    tally_counter_add_int(c, 41);
    assert_int_equal(tally_counter_add(c, 0.5), TALLY_OK);
    assert_int_equal(tally_counter_add(c, -1), TALLY_ERR_INVALID_VALUE);
    assert_int_equal(tally_counter_add(c, NAN), TALLY_ERR_INVALID_VALUE);
    assert_true(tally_counter_value(c) == 42.5);
    assert_true(rendering_has(reg, TALLY_FORMAT_TEXT, NULL,
                              "# TYPE jobs_total counter\njobs_total 42.5\n"));
    tally_registry_free(reg);
}

static void test_gauge(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_gauge *g = tally_gauge_new(reg, "queue_depth", "Depth.", NULL);
    assert_non_null(g);
    tally_gauge_set(g, 10);
    tally_gauge_inc(g);
    tally_gauge_dec(g);
    tally_gauge_dec(g);
    tally_gauge_add(g, -0.25);
    assert_true(tally_gauge_value(g) == 8.75);
    tally_gauge_set(g, -INFINITY);
    assert_true(tally_gauge_value(g) == -INFINITY);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tally_gauge_set_to_current_time(g);
    assert_true(fabs(tally_gauge_value(g) - (double)ts.tv_sec) < 5);
    tally_registry_free(reg);
}

static void test_histogram(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    static const double b[] = {1, 2, 5};
    tally_histogram *h = tally_histogram_new(reg, "latency_seconds", "L.", TALLY_BUCKETS(b), NULL);
    assert_non_null(h);
    double obs[] = {0.5, 1, 1.5, 2, 4.9, 5, 7, NAN};
    for (size_t i = 0; i < 7; i++)
        tally_histogram_observe(h, obs[i]);
    uint64_t counts[4], count;
    double sum;
    assert_int_equal(tally_histogram_snapshot(h, counts, 4, &sum, &count), TALLY_OK);
    assert_int_equal(counts[0], 2); /* 0.5, 1 (le is inclusive) */
    assert_int_equal(counts[1], 4);
    assert_int_equal(counts[2], 6);
    assert_int_equal(counts[3], 7);
    assert_int_equal(count, 7);
    assert_true(sum == 21.9);
    assert_int_equal(tally_histogram_snapshot(h, counts, 3, &sum, &count), TALLY_ERR_FORMAT);
    tally_histogram_observe(h, obs[7]); /* NaN lands in +Inf, as in client_golang */
    tally_histogram_snapshot(h, counts, 4, &sum, &count);
    assert_int_equal(counts[2], 6);
    assert_int_equal(counts[3], 8);
    assert_true(isnan(sum));
    tally_histogram_observe(h, INFINITY);  /* above every bound and the +Inf padding */
    tally_histogram_observe(h, -INFINITY); /* first bucket */
    tally_histogram_snapshot(h, counts, 4, &sum, &count);
    assert_int_equal(counts[0], 3);
    assert_int_equal(counts[2], 7);
    assert_int_equal(counts[3], 10);
    tally_registry_free(reg);
}

/* More than 16 buckets takes the binary search: same answers as a scan. */
static void test_histogram_many_buckets(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    double b[40];
    assert_int_equal(tally_buckets_linear(b, 1, 1, 40), TALLY_OK);
    tally_histogram *h = tally_histogram_new(reg, "h", "", b, 40, NULL);
    assert_non_null(h);
    for (int v = 0; v <= 84; v++)
        tally_histogram_observe(h, v / 2.0);
    uint64_t counts[41], count;
    tally_histogram_snapshot(h, counts, 41, NULL, &count);
    for (size_t i = 0; i < 40; i++)
        assert_int_equal(counts[i], 2 * (i + 1) + 1); /* values 0, .5, ..., i+1 */
    assert_int_equal(counts[40], 85);
    assert_int_equal(count, 85);
    tally_registry_free(reg);
}

static void test_summary_quantiles(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    static const double qs[] = {0.5, 0.9, 0.99};
    tally_summary_opts so = {.quantiles = qs, .quantile_count = 3, .relative_error = 0.01};
    tally_opts o = {.name = "rpc_seconds", .help = "RPC."};
    tally_family *f = tally_family_new(reg, TALLY_SUMMARY, &o, NULL, &so, NULL);
    assert_non_null(f);
    tally_summary *s = tally_summary_get(f);
    assert_true(isnan(tally_summary_quantile(s, 0.5)));
    /* 1..10000 scaled to ms, shuffled by a stride coprime to 10000 */
    double data[10000];
    for (int i = 0; i < 10000; i++)
        data[i] = (i + 1) / 1000.0;
    for (int i = 0; i < 10000; i++)
        tally_summary_observe(s, data[(i * 7919) % 10000]);
    double sum;
    uint64_t count;
    tally_summary_totals(s, &sum, &count);
    assert_int_equal(count, 10000);
    assert_true(fabs(sum - 50005.0) < 1e-6);
    double probe[] = {0, 0.01, 0.25, 0.5, 0.9, 0.99, 1};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        double exact = data[(size_t)(probe[i] * 9999)];
        double est = tally_summary_quantile(s, probe[i]);
        assert_true(fabs(est - exact) <= 0.01 * exact);
    }
    assert_true(isnan(tally_summary_quantile(s, 1.5)));
    /* negative and zero observations are ranked below the positives */
    tally_summary_observe(s, -3);
    tally_summary_observe(s, 0);
    assert_true(fabs(tally_summary_quantile(s, 0) + 3) <= 0.03);
    tally_registry_free(reg);
}

static void test_summary_ageing(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    static const double qs[] = {0.5};
    tally_summary_opts so = {.quantiles = qs, .quantile_count = 1, .max_age_seconds = 0.2,
                             .age_buckets = 2};
    tally_opts o = {.name = "aged", .help = ""};
    tally_summary *s = tally_summary_get(tally_family_new(reg, TALLY_SUMMARY, &o, NULL, &so, NULL));
    assert_non_null(s);
    tally_summary_observe(s, 100);
    assert_true(fabs(tally_summary_quantile(s, 0.5) - 100) <= 1);
    sleep_ms(320);
    assert_true(isnan(tally_summary_quantile(s, 0.5)));
    tally_summary_observe(s, 7);
    assert_true(fabs(tally_summary_quantile(s, 0.5) - 7) <= 0.07);
    uint64_t count;
    tally_summary_totals(s, NULL, &count);
    assert_int_equal(count, 2); /* sum and count never age */
    tally_registry_free(reg);
}

/* A max_age so small that now / (max_age / age_buckets) leaves int64 must
 * still pick a window inside the array (ASan catches the stray index). */
static void test_summary_tiny_max_age(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    static const double qs[] = {0.5};
    tally_summary_opts so = {.quantiles = qs, .quantile_count = 1, .max_age_seconds = 1e-300,
                             .age_buckets = 5};
    tally_opts o = {.name = "tiny_window", .help = ""};
    tally_summary *s = tally_summary_get(tally_family_new(reg, TALLY_SUMMARY, &o, NULL, &so, NULL));
    assert_non_null(s);
    for (int i = 0; i < 100; i++)
        tally_summary_observe(s, 5);
    double q = tally_summary_quantile(s, 0.5);
    assert_true(isnan(q) || fabs(q - 5) <= 0.05);
    uint64_t count;
    tally_summary_totals(s, NULL, &count);
    assert_int_equal(count, 100);
    tally_registry_free(reg);
}

static void test_summary_bad_options(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_opts o = {.name = "s", .help = ""};
    static const double bad_q[] = {0.5, 1.5};
    static const double good_q[] = {0.5};
    tally_summary_opts so = {.quantiles = bad_q, .quantile_count = 2};
    tally_err err;
    assert_null(tally_family_new(reg, TALLY_SUMMARY, &o, NULL, &so, &err));
    assert_int_equal(err, TALLY_ERR_QUANTILES);
    tally_summary_opts so2 = {.quantiles = good_q, .quantile_count = 1, .relative_error = 1};
    assert_null(tally_family_new(reg, TALLY_SUMMARY, &o, NULL, &so2, &err));
    assert_int_equal(err, TALLY_ERR_QUANTILES);
    tally_summary_opts so3 = {.quantiles = good_q, .quantile_count = 1, .max_age_seconds = -1};
    assert_null(tally_family_new(reg, TALLY_SUMMARY, &o, NULL, &so3, &err));
    assert_int_equal(err, TALLY_ERR_QUANTILES);
    /* so fine that gamma rounds to 1 (log_gamma 0: infinite bin keys) or that
     * the bins would need gigabytes per child */
    static const double too_fine[] = {1e-300, 1e-17, 1e-9, 9.9e-7};
    for (size_t i = 0; i < sizeof too_fine / sizeof too_fine[0]; i++) {
        tally_summary_opts so4 = {.quantiles = good_q, .quantile_count = 1,
                                  .relative_error = too_fine[i]};
        assert_null(tally_family_new(reg, TALLY_SUMMARY, &o, NULL, &so4, &err));
        assert_int_equal(err, TALLY_ERR_QUANTILES);
    }
    /* A garbage count (a negative int passed as size_t) is refused before
     * the array is read (ASan would see the read), as is one over 1000. */
    tally_summary_opts so5 = {.quantiles = good_q, .quantile_count = (size_t)-1};
    assert_null(tally_family_new(reg, TALLY_SUMMARY, &o, NULL, &so5, &err));
    assert_int_equal(err, TALLY_ERR_QUANTILES);
    static double many_q[1001];
    for (size_t i = 0; i < 1001; i++)
        many_q[i] = i / 1000.0;
    tally_summary_opts so6 = {.quantiles = many_q, .quantile_count = 1001};
    assert_null(tally_family_new(reg, TALLY_SUMMARY, &o, NULL, &so6, &err));
    assert_int_equal(err, TALLY_ERR_QUANTILES);
    so6.quantile_count = 1000;
    tally_opts o_many = {.name = "s_many", .help = ""};
    assert_non_null(tally_family_new(reg, TALLY_SUMMARY, &o_many, NULL, &so6, &err));
    /* without quantiles: sum and count only, quantile is NaN */
    tally_summary *s = tally_summary_get(tally_family_new(reg, TALLY_SUMMARY, &o, NULL, NULL, &err));
    assert_non_null(s);
    tally_summary_observe(s, 2);
    assert_true(isnan(tally_summary_quantile(s, 0.5)));
    tally_registry_free(reg);
}

static void test_exemplars(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_counter *c = tally_counter_new(reg, "req", "", NULL);
    static const double b[] = {1};
    tally_histogram *h = tally_histogram_new(reg, "dur_seconds", "", TALLY_BUCKETS(b), NULL);
    const char *names[] = {"trace_id", "span_id"};
    const char *values[] = {"abc123", "def"};
    tally_exemplar ex = {names, values, 2, 1700000000.5};
    assert_int_equal(tally_counter_add_exemplar(c, 2, &ex), TALLY_OK);
    assert_int_equal(tally_histogram_observe_exemplar(h, 0.5, &ex), TALLY_OK);
    char long_value[130];
    memset(long_value, 'x', 129);
    long_value[129] = '\0';
    const char *too_long[] = {"t", long_value};
    tally_exemplar bad = {names, too_long, 2, 0};
    assert_int_equal(tally_counter_add_exemplar(c, 1, &bad), TALLY_ERR_EXEMPLAR);
    const char *bad_name[] = {"0bad"};
    tally_exemplar bad2 = {bad_name, values, 1, 0};
    assert_int_equal(tally_histogram_observe_exemplar(h, 1, &bad2), TALLY_ERR_EXEMPLAR);
    assert_true(tally_counter_value(c) == 2); /* refused exemplars record nothing */
    char *om = render_string(reg, TALLY_FORMAT_OPENMETRICS, NULL);
    assert_non_null(strstr(om, "req_total 2 # {trace_id=\"abc123\",span_id=\"def\"} 2 1700000000.5\n"));
    assert_non_null(strstr(om, "dur_seconds_bucket{le=\"1.0\"} 1 # {trace_id=\"abc123\","
                               "span_id=\"def\"} 0.5 1700000000.5\n"));
    free(om);
    tally_registry_free(reg);
}

static void test_info(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    const char *labels[] = {"version", "revision"};
    tally_opts o = {.name = "build_info", .help = "Build.", .label_names = labels, .label_count = 2};
    tally_family *f = tally_family_new(reg, TALLY_INFO, &o, NULL, NULL, NULL);
    assert_non_null(f);
    assert_string_equal(tally_family_name(f), "build");
    const char *v1[] = {"1.0", "abc"}, *v2[] = {"1.1", "def"}, *bad[] = {"\xff", "x"};
    assert_int_equal(tally_info_set(f, v1), TALLY_OK);
    assert_int_equal(tally_info_set(f, v2), TALLY_OK);
    assert_int_equal(tally_info_set(f, bad), TALLY_ERR_UTF8);
    assert_int_equal(tally_family_size(f), 1);
    char *om = render_string(reg, TALLY_FORMAT_OPENMETRICS, NULL);
    assert_non_null(strstr(om, "# TYPE build info\nbuild_info{version=\"1.1\",revision=\"def\"} 1\n"));
    assert_null(strstr(om, "abc"));
    free(om);
    tally_registry_free(reg);
}

static void test_stateset(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    const char *labels[] = {"breaker", "provider"};
    tally_opts o = {.name = "breaker", .help = "", .label_names = labels, .label_count = 2};
    tally_family *f = tally_family_new(reg, TALLY_STATESET, &o, NULL, NULL, NULL);
    assert_non_null(f);
    const char *p[] = {"openai"};
    assert_int_equal(tally_stateset_set(f, p, "open"), TALLY_ERR_NOT_FOUND);
    const char *states[] = {"closed", "open", "half_open"};
    assert_int_equal(tally_stateset_declare(f, states, 3), TALLY_OK);
    assert_int_equal(tally_stateset_declare(f, states, 3), TALLY_OK);
    assert_int_equal(tally_stateset_declare(f, states, 2), TALLY_ERR_DUPLICATE);
    assert_int_equal(tally_stateset_set(f, p, "open"), TALLY_OK);
    assert_int_equal(tally_stateset_set_bool(f, p, "half_open", true), TALLY_OK);
    assert_int_equal(tally_stateset_set(f, p, "nope"), TALLY_ERR_NOT_FOUND);
    assert_true(rendering_has(reg, TALLY_FORMAT_OPENMETRICS, NULL,
                              "breaker{provider=\"openai\",breaker=\"closed\"} 0\n"
                              "breaker{provider=\"openai\",breaker=\"open\"} 1\n"
                              "breaker{provider=\"openai\",breaker=\"half_open\"} 1\n"));
    assert_int_equal(tally_stateset_set(f, p, "closed"), TALLY_OK);
    char *om = render_string(reg, TALLY_FORMAT_OPENMETRICS, NULL);
    assert_non_null(strstr(om, "breaker=\"closed\"} 1\n"));
    assert_non_null(strstr(om, "breaker=\"half_open\"} 0\n"));
    free(om);
    /* the state label is required */
    const char *no_state[] = {"provider"};
    tally_opts o2 = {.name = "st", .help = "", .label_names = no_state, .label_count = 1};
    tally_err err;
    assert_null(tally_family_new(reg, TALLY_STATESET, &o2, NULL, NULL, &err));
    assert_int_equal(err, TALLY_ERR_INVALID_LABEL);
    tally_registry_free(reg);
}

static void test_buckets_and_errors(void **state)
{
    (void)state;
    double b[4];
    assert_int_equal(tally_buckets_linear(b, 0.5, 0.25, 4), TALLY_OK);
    assert_true(b[0] == 0.5 && b[3] == 1.25);
    assert_int_equal(tally_buckets_linear(b, 0, 0, 4), TALLY_ERR_BUCKETS);
    assert_int_equal(tally_buckets_linear(b, 0, 1, 0), TALLY_ERR_BUCKETS);
    assert_int_equal(tally_buckets_exponential(b, 0.001, 10, 4), TALLY_OK);
    assert_true(b[3] == 0.001 * 10 * 10 * 10);
    assert_int_equal(tally_buckets_exponential(b, 0, 2, 4), TALLY_ERR_BUCKETS);
    assert_int_equal(tally_buckets_exponential(b, 1, 1, 4), TALLY_ERR_BUCKETS);
    assert_true(tally_buckets_fast[0] == 0.01 && tally_buckets_slow[5] == 120);
    assert_true(tally_buckets_medium[3] == 2 && tally_buckets_default[10] == 10);
    for (int e = TALLY_OK; e >= TALLY_ERR_UTF8; e--)
        assert_string_not_equal(tally_strerror(e), "unknown error");
    assert_string_equal(tally_strerror(5), "unknown error");
}

/* Updates through a refused lookup must not crash the caller. */
static void test_null_handles(void **state)
{
    (void)state;
    tally_counter_inc(NULL);
    tally_counter_add_int(NULL, 3);
    assert_int_equal(tally_counter_add(NULL, 1), TALLY_ERR_FORMAT);
    tally_gauge_set(NULL, 1);
    tally_gauge_inc(NULL);
    tally_histogram_observe(NULL, 1);
    assert_int_equal(tally_histogram_observe_exemplar(NULL, 1, NULL), TALLY_ERR_FORMAT);
    tally_summary_observe(NULL, 1);
    assert_true(isnan(tally_summary_quantile(NULL, 0.5)));
    assert_true(tally_counter_value(NULL) == 0);
    assert_null(tally_family_name(NULL));
    assert_int_equal(tally_registry_sweep(NULL), 0);
    tally_registry_free(NULL);
}

/* Cells of an unregistered family are recycled, and must come back zeroed. */
static void test_cells_recycled_zeroed(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    static const double b[] = {1, 2};
    for (int round = 0; round < 3; round++) {
        tally_family *f = tally_histogram_family(reg, "recycled", "", NULL, b, 2, NULL, "k",
                                                 (char *)NULL);
        assert_non_null(f);
        char k[8];
        for (int i = 0; i < 50; i++) {
            snprintf(k, sizeof k, "%d", i);
            tally_histogram *h = tally_histogram_labels(f, k);
            uint64_t counts[3], count;
            double sum;
            tally_histogram_snapshot(h, counts, 3, &sum, &count);
            assert_int_equal(count, 0);
            assert_true(sum == 0);
            tally_histogram_observe(h, 1.5);
        }
        assert_int_equal(tally_family_unregister(reg, f), TALLY_OK);
    }
    assert_int_equal(tally_family_unregister(reg, NULL), TALLY_ERR_FORMAT);
    tally_registry_free(reg);
}

typedef struct adders {
    tally_counter *c;
    tally_histogram *h;
    tally_summary *s;
} adders;

static void *add_loop(void *arg)
{
    adders *a = arg;
    for (int i = 0; i < 20000; i++) {
        tally_counter_inc(a->c);
        tally_counter_add(a->c, 0.5);
        tally_histogram_observe(a->h, (i % 3) * 0.75);
        tally_summary_observe(a->s, 0.25);
    }
    return NULL;
}

/* 12 threads: more than the 7 private stripes, so the shared stripe's
 * atomic paths (fetch_add and the double CAS) must also be exact. */
static void test_threads_exact_totals(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    static const double b[] = {1};
    adders a = {tally_counter_new(reg, "t", "", NULL),
                tally_histogram_new(reg, "th", "", TALLY_BUCKETS(b), NULL), NULL};
    tally_opts o = {.name = "ts", .help = ""};
    a.s = tally_summary_get(tally_family_new(reg, TALLY_SUMMARY, &o, NULL, NULL, NULL));
    pthread_t t[12];
    for (int i = 0; i < 12; i++)
        pthread_create(&t[i], NULL, add_loop, &a);
    for (int i = 0; i < 12; i++)
        pthread_join(t[i], NULL);
    assert_true(tally_counter_value(a.c) == 12 * 20000 * 1.5);
    uint64_t counts[2], count;
    double sum;
    tally_histogram_snapshot(a.h, counts, 2, &sum, &count);
    assert_int_equal(count, 240000);
    assert_int_equal(counts[0], 12 * 13334); /* i % 3 in {0, 1}: 0 and 0.75 */
    assert_true(sum == 12 * (6667 * 0.75 + 6666 * 1.5));
    tally_summary_totals(a.s, &sum, &count);
    assert_int_equal(count, 240000);
    assert_true(sum == 60000);
    tally_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter),
        cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_histogram_many_buckets),
        cmocka_unit_test(test_summary_quantiles),
        cmocka_unit_test(test_summary_ageing),
        cmocka_unit_test(test_summary_tiny_max_age),
        cmocka_unit_test(test_summary_bad_options),
        cmocka_unit_test(test_exemplars),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_stateset),
        cmocka_unit_test(test_buckets_and_errors),
        cmocka_unit_test(test_null_handles),
        cmocka_unit_test(test_cells_recycled_zeroed),
        cmocka_unit_test(test_threads_exact_totals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
