/*
 * test_expo_format.c - the exposition writers on their own: views built by
 * hand go through tally__render_sample and the bytes must match exactly, for
 * text 0.0.4 and OpenMetrics 1.0.0 (escaping, suffixes, float formatting,
 * exemplars, _created, info, stateset).
 */
#include <math.h>

#include "internal.h"
#include "test_util.h"

/* Renders the given samples of one family in fmt; returns a malloc'd,
 * NUL-terminated copy for easy comparison. */
static char *render_family(tally_format fmt, const tally__family_view *f,
                           const tally__sample_view *samples, size_t n)
{
    tally_buf out = { 0 };
    tally_emit e = { .fmt = fmt, .out = &out };
    for (size_t i = 0; i < n; i++)
        tally__render_sample(&e, f, &samples[i]);
    assert_int_equal(e.err, 0);
    return buf_to_string(&out);
}

static void check_render(tally_format fmt, const tally__family_view *f,
                          const tally__sample_view *samples, size_t n, const char *want)
{
    char *got = render_family(fmt, f, samples, n);
    assert_string_equal(got, want);
    free(got);
}

/* The text of one gauge sample with value v, minus the name and newline. */
static void check_value(double v, const char *want)
{
    tally__family_view f = { .type = TALLY_GAUGE, .name = "g", .help = "" };
    tally__sample_view s = { .value = v };
    char *got = render_family(TALLY_FORMAT_TEXT, &f, &s, 1);
    const char *prefix = "# TYPE g gauge\ng ";
    assert_memory_equal(got, prefix, strlen(prefix));
    char *value = got + strlen(prefix);
    value[strlen(value) - 1] = '\0';
    assert_string_equal(value, want);
    if (isfinite(v))
        assert_true(strtod(value, NULL) == v);
    free(got);
}

static void test_float_formatting(void **state)
{
    (void)state;
    check_value(0, "0");
    check_value(42, "42");
    check_value(-7, "-7");
    check_value(9007199254740991.0, "9007199254740991");
    check_value(1e300, "1e+300");
    check_value(0.1, "0.1");
    check_value(0.005, "0.005");
    check_value(-2.5, "-2.5");
    check_value(0.1 + 0.2, "0.30000000000000004");
    check_value(1.0 / 3.0, "0.3333333333333333");
    check_value(123456.789, "123456.789");
    check_value(1e-5, "1e-05");
    check_value(1.5e-10, "1.5e-10");
    check_value(5e-324, "4.94065645841247e-324");   /* round-trips; not the 1-digit shortest */
    check_value(1.0 / 0.0, "+Inf");
    check_value(-1.0 / 0.0, "-Inf");
    check_value(nan(""), "NaN");
}

static void test_float_round_trip_many(void **state)
{
    (void)state;
    /* A spread of awkward values: each must come back bit-exact. */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 30000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        if (i % 3 == 1)
            v = (double)(x % 1000000007) / (double)(1 + (x >> 40) % 100000);
        else if (i % 3 == 2)
            v = 1.7e9 + (double)(x % 1000000) / 1e6;   /* _created timestamps */
        else
            memcpy(&v, &x, sizeof(v));
        if (!isfinite(v))
            continue;
        tally__family_view f = { .type = TALLY_GAUGE, .name = "g", .help = "" };
        tally__sample_view s = { .value = v };
        char *got = render_family(TALLY_FORMAT_TEXT, &f, &s, 1);
        const char *text = got + strlen("# TYPE g gauge\ng ");
        assert_true(strtod(text, NULL) == v);
        /* Never longer than the shortest printf rendering that round-trips. */
        char shortest[64];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(shortest, sizeof(shortest), "%.*g", prec, v);
            if (strtod(shortest, NULL) == v)
                break;
        }
        assert_true(strlen(text) - 1 <= strlen(shortest));
        free(got);
    }
}

static const char *const http_labels[] = { "method", "path" };

static void test_counter_text_and_om(void **state)
{
    (void)state;
    const char *values[] = { "GET", "/a\"b\\c\nd" };
    const char *ex_names[] = { "trace_id", "span_id" };
    const char *ex_values[] = { "abc123", "def" };
    tally__exemplar_view ex = { ex_names, ex_values, 2, 0.5, 1700000000.25 };
    tally__family_view f = { .type = TALLY_COUNTER, .name = "http_requests",
                             .help = "Requests \"served\"\\ by\npath.",
                             .label_names = http_labels, .label_count = 2 };
    tally__sample_view s[] = {
        { .label_values = values, .value = 3, .created = 1700000000.5, .exemplars = &ex },
    };
    check_render(TALLY_FORMAT_TEXT, &f, s, 1,
                  "# HELP http_requests_total Requests \"served\"\\\\ by\\npath.\n"
                  "# TYPE http_requests_total counter\n"
                  "http_requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 3\n");
    check_render(TALLY_FORMAT_OPENMETRICS, &f, s, 1,
                  "# HELP http_requests Requests \\\"served\\\"\\\\ by\\npath.\n"
                  "# TYPE http_requests counter\n"
                  "http_requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 3"
                  " # {trace_id=\"abc123\",span_id=\"def\"} 0.5 1700000000.25\n"
                  "http_requests_created{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 1700000000.5\n");
}

static void test_gauge_unit_no_help(void **state)
{
    (void)state;
    tally__family_view f = { .type = TALLY_GAUGE, .name = "queue_size_bytes", .help = "",
                             .unit = "bytes" };
    tally__sample_view s = { .value = 1.5 };
    check_render(TALLY_FORMAT_TEXT, &f, &s, 1,
                  "# TYPE queue_size_bytes gauge\nqueue_size_bytes 1.5\n");
    check_render(TALLY_FORMAT_OPENMETRICS, &f, &s, 1,
                  "# TYPE queue_size_bytes gauge\n# UNIT queue_size_bytes bytes\n"
                  "queue_size_bytes 1.5\n");
}

static void test_histogram(void **state)
{
    (void)state;
    const double buckets[] = { 0.25, 1, 2.5 };
    const uint64_t cumulative[] = { 1, 3, 3, 4 };
    const char *const names[] = { "model" };
    const char *values[] = { "m1" };
    const char *ex_names[] = { "trace_id" };
    const char *ex_values[] = { "t1" };
    tally__exemplar_view ex[4] = { { 0 } };
    ex[1] = (tally__exemplar_view){ ex_names, ex_values, 1, 0.7, 0 };
    tally__family_view f = { .type = TALLY_HISTOGRAM, .name = "lat_seconds", .help = "Latency.",
                             .unit = "seconds", .label_names = names, .label_count = 1,
                             .buckets = buckets, .bucket_count = 3 };
    tally__sample_view s = { .label_values = values, .cumulative = cumulative, .sum = 7.25,
                             .count = 4, .created = 12, .exemplars = ex };
    check_render(TALLY_FORMAT_TEXT, &f, &s, 1,
                  "# HELP lat_seconds Latency.\n"
                  "# TYPE lat_seconds histogram\n"
                  "lat_seconds_bucket{model=\"m1\",le=\"0.25\"} 1\n"
                  "lat_seconds_bucket{model=\"m1\",le=\"1\"} 3\n"
                  "lat_seconds_bucket{model=\"m1\",le=\"2.5\"} 3\n"
                  "lat_seconds_bucket{model=\"m1\",le=\"+Inf\"} 4\n"
                  "lat_seconds_sum{model=\"m1\"} 7.25\n"
                  "lat_seconds_count{model=\"m1\"} 4\n");
    check_render(TALLY_FORMAT_OPENMETRICS, &f, &s, 1,
                  "# HELP lat_seconds Latency.\n"
                  "# TYPE lat_seconds histogram\n"
                  "# UNIT lat_seconds seconds\n"
                  "lat_seconds_bucket{model=\"m1\",le=\"0.25\"} 1\n"
                  "lat_seconds_bucket{model=\"m1\",le=\"1.0\"} 3 # {trace_id=\"t1\"} 0.7\n"
                  "lat_seconds_bucket{model=\"m1\",le=\"2.5\"} 3\n"
                  "lat_seconds_bucket{model=\"m1\",le=\"+Inf\"} 4\n"
                  "lat_seconds_sum{model=\"m1\"} 7.25\n"
                  "lat_seconds_count{model=\"m1\"} 4\n"
                  "lat_seconds_created{model=\"m1\"} 12\n");
}

static void test_summary_unlabelled(void **state)
{
    (void)state;
    const double quantiles[] = { 0.5, 0.99, 1 };
    const double qv[] = { 2, 9.5, nan("") };
    tally__family_view f = { .type = TALLY_SUMMARY, .name = "rpc", .help = "h",
                             .quantiles = quantiles, .quantile_count = 3 };
    tally__sample_view s = { .quantile_values = qv, .sum = 30, .count = 5 };
    check_render(TALLY_FORMAT_TEXT, &f, &s, 1,
                  "# HELP rpc h\n# TYPE rpc summary\n"
                  "rpc{quantile=\"0.5\"} 2\nrpc{quantile=\"0.99\"} 9.5\nrpc{quantile=\"1\"} NaN\n"
                  "rpc_sum 30\nrpc_count 5\n");
    check_render(TALLY_FORMAT_OPENMETRICS, &f, &s, 1,
                  "# HELP rpc h\n# TYPE rpc summary\n"
                  "rpc{quantile=\"0.5\"} 2\nrpc{quantile=\"0.99\"} 9.5\nrpc{quantile=\"1.0\"} NaN\n"
                  "rpc_sum 30\nrpc_count 5\n");
}

static void test_info_and_stateset(void **state)
{
    (void)state;
    const char *const info_names[] = { "version" };
    const char *info_values[] = { "1.2" };
    tally__family_view info = { .type = TALLY_INFO, .name = "build", .help = "Build.",
                                .label_names = info_names, .label_count = 1 };
    tally__sample_view is = { .label_values = info_values };
    check_render(TALLY_FORMAT_TEXT, &info, &is, 1,
                  "# HELP build_info Build.\n# TYPE build_info gauge\n"
                  "build_info{version=\"1.2\"} 1\n");
    check_render(TALLY_FORMAT_OPENMETRICS, &info, &is, 1,
                  "# HELP build Build.\n# TYPE build info\nbuild_info{version=\"1.2\"} 1\n");

    /* The state label sits between the others, where it was declared. */
    const char *const ss_names[] = { "provider", "breaker", "zone" };
    const char *ss_values[] = { "p1", "z" };
    const char *const states[] = { "closed", "open" };
    const bool on[] = { false, true };
    tally__family_view ss = { .type = TALLY_STATESET, .name = "breaker", .help = "",
                              .label_names = ss_names, .label_count = 3,
                              .states = states, .state_count = 2 };
    tally__sample_view sv = { .label_values = ss_values, .state_values = on };
    check_render(TALLY_FORMAT_TEXT, &ss, &sv, 1,
                  "# TYPE breaker gauge\n"
                  "breaker{provider=\"p1\",breaker=\"closed\",zone=\"z\"} 0\n"
                  "breaker{provider=\"p1\",breaker=\"open\",zone=\"z\"} 1\n");
    check_render(TALLY_FORMAT_OPENMETRICS, &ss, &sv, 1,
                  "# TYPE breaker stateset\n"
                  "breaker{provider=\"p1\",breaker=\"closed\",zone=\"z\"} 0\n"
                  "breaker{provider=\"p1\",breaker=\"open\",zone=\"z\"} 1\n");
}

static void test_untyped_and_family_change(void **state)
{
    (void)state;
    tally__family_view a = { .type = TALLY_UNTYPED, .name = "a", .help = "" };
    tally__family_view b = { .type = TALLY_GAUGE, .name = "b", .help = "" };
    tally__sample_view s1 = { .value = 1 }, s2 = { .value = 2 };
    tally_buf out = { 0 };
    tally_emit e = { .fmt = TALLY_FORMAT_OPENMETRICS, .out = &out };
    tally__render_sample(&e, &a, &s1);
    tally__render_sample(&e, &a, &s2);
    tally__render_sample(&e, &b, &s2);
    const char *want = "# TYPE a unknown\na 1\na 2\n# TYPE b gauge\nb 2\n";
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    tally_buf_free(&out);

    e = (tally_emit){ .fmt = TALLY_FORMAT_TEXT, .out = &out };
    tally__render_sample(&e, &a, &s1);
    assert_int_equal(out.len, strlen("# TYPE a untyped\na 1\n"));
    assert_memory_equal(out.data, "# TYPE a untyped\na 1\n", out.len);
    tally_buf_free(&out);
}

static void test_buf_growth(void **state)
{
    (void)state;
    tally_buf b = { 0 };
    for (int i = 0; i < 10000; i++)
        assert_int_equal(tally__buf_append(&b, "0123456789", 10), TALLY_OK);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap >= b.len);
    assert_memory_equal(b.data + 99990, "0123456789", 10);
    assert_int_equal(tally__buf_reserve(&b, SIZE_MAX), TALLY_ERR_NOMEM);
    assert_int_equal(b.len, 100000);
    tally_buf_free(&b);
    assert_null(b.data);
    tally_buf_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_formatting),
        cmocka_unit_test(test_float_round_trip_many),
        cmocka_unit_test(test_counter_text_and_om),
        cmocka_unit_test(test_gauge_unit_no_help),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_summary_unlabelled),
        cmocka_unit_test(test_info_and_stateset),
        cmocka_unit_test(test_untyped_and_family_change),
        cmocka_unit_test(test_buf_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
