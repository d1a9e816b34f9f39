/*
 * test_expo_render.c - the public rendering entry points on a real
 * registry: plain, gzip and HTTP one-stop rendering, category filtering,
 * appending, bad arguments, and the process collector's values.
 */
#include <sys/resource.h>

#include "internal.h"
#include "test_util.h"

static tally_registry *sample_registry(void)
{
    tally_registry *reg = tally_registry_new();
    assert_non_null(reg);
    tally_err err = TALLY_OK;
    tally_family *requests = tally_counter_family(reg, "requests", "Requests.", "business",
                                                  &err, "code", (char *)NULL);
    assert_non_null(requests);
    tally_counter_add_int(tally_counter_labels(requests, "200"), 7);
    tally_gauge *temp = tally_gauge_new(reg, "temperature", "Temp.", &err);
    assert_non_null(temp);
    tally_gauge_set(temp, -1.5);
    return reg;
}

static void test_render_text_and_openmetrics(void **state)
{
    (void)state;
    tally_registry *reg = sample_registry();
    char *text = render_string(reg, TALLY_FORMAT_TEXT, NULL);
    assert_non_null(strstr(text, "# HELP requests_total Requests.\n"
                                 "# TYPE requests_total counter\n"
                                 "requests_total{code=\"200\"} 7\n"));
    assert_non_null(strstr(text, "temperature -1.5\n"));
    assert_null(strstr(text, "# EOF"));
    assert_null(strstr(text, "_created"));
    char *om = render_string(reg, TALLY_FORMAT_OPENMETRICS, NULL);
    assert_non_null(strstr(om, "# TYPE requests counter\nrequests_total{code=\"200\"} 7\n"
                               "requests_created{code=\"200\"} "));
    size_t n = strlen(om);
    assert_true(n > 6);
    assert_ptr_equal(strstr(om, "# EOF"), om + n - 6);
    assert_string_equal(om + n - 6, "# EOF\n");
    free(text);
    free(om);
    tally_registry_free(reg);
}

static void test_render_category_filter(void **state)
{
    (void)state;
    tally_registry *reg = sample_registry();
    char *business = render_string(reg, TALLY_FORMAT_TEXT, "business");
    assert_non_null(strstr(business, "requests_total{code=\"200\"} 7\n"));
    assert_null(strstr(business, "temperature"));
    char *none = render_string(reg, TALLY_FORMAT_OPENMETRICS, "no-such-category");
    assert_string_equal(none, "# EOF\n");
    free(business);
    free(none);
    tally_registry_free(reg);
}

static void test_render_appends_and_rejects(void **state)
{
    (void)state;
    tally_registry *reg = sample_registry();
    tally_buf out = { 0 };
    assert_int_equal(tally__buf_append(&out, "prefix\n", 7), TALLY_OK);
    assert_int_equal(tally_render(reg, TALLY_FORMAT_TEXT, NULL, &out), TALLY_OK);
    assert_memory_equal(out.data, "prefix\n# HELP ", 14);
    size_t len = out.len;
    assert_int_equal(tally_render(reg, (tally_format)7, NULL, &out), TALLY_ERR_FORMAT);
    assert_int_equal(tally_render(NULL, TALLY_FORMAT_TEXT, NULL, &out), TALLY_ERR_FORMAT);
    assert_int_equal(tally_render(reg, TALLY_FORMAT_TEXT, NULL, NULL), TALLY_ERR_FORMAT);
    assert_int_equal(tally_render_gzip(reg, TALLY_FORMAT_TEXT, NULL, NULL), TALLY_ERR_FORMAT);
    assert_int_equal(out.len, len);
    tally_buf_free(&out);
    tally_registry_free(reg);
}

static void test_render_gzip_round_trip(void **state)
{
    (void)state;
    tally_registry *reg = sample_registry();
    for (int fmt = TALLY_FORMAT_TEXT; fmt <= TALLY_FORMAT_OPENMETRICS; fmt++) {
        char *plain = render_string(reg, (tally_format)fmt, NULL);
        tally_buf gz = { 0 };
        assert_int_equal(tally_render_gzip(reg, (tally_format)fmt, NULL, &gz), TALLY_OK);
        assert_true(gz.len > 18);
        assert_int_equal((unsigned char)gz.data[0], 0x1f);
        assert_int_equal((unsigned char)gz.data[1], 0x8b);
        char *back = gunzip_string(gz.data, gz.len);
        assert_non_null(back);
        /* _created values are fixed per child, so the two renders agree. */
        assert_string_equal(back, plain);
        free(back);
        free(plain);
        tally_buf_free(&gz);
    }
    tally_registry_free(reg);
}

static void test_render_http(void **state)
{
    (void)state;
    tally_registry *reg = sample_registry();
    tally_buf out = { 0 };
    const char *ct = NULL, *ce = "unset";
    assert_int_equal(tally_render_http(reg, NULL, NULL, NULL, &out, &ct, &ce), TALLY_OK);
    assert_string_equal(ct, TALLY_CONTENT_TYPE_TEXT);
    assert_null(ce);
    assert_memory_equal(out.data, "# HELP requests_total", 21);
    tally_buf_free(&out);

    assert_int_equal(tally_render_http(reg, "application/openmetrics-text;version=1.0.0",
                                       "gzip", "business", &out, &ct, &ce), TALLY_OK);
    assert_string_equal(ct, TALLY_CONTENT_TYPE_OPENMETRICS);
    assert_string_equal(ce, "gzip");
    char *om = gunzip_string(out.data, out.len);
    assert_non_null(om);
    assert_memory_equal(om, "# HELP requests Requests.\n# TYPE requests counter\n", 50);
    assert_null(strstr(om, "temperature"));
    free(om);
    tally_buf_free(&out);
    tally_registry_free(reg);
}

static void test_process_collector(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    assert_int_equal(tally_process_collector_register(reg, NULL), TALLY_OK);
    /* Burn a little CPU so the counter is visibly positive. */
    volatile double x = 0;
    clock_t start = clock();
    while (clock() - start < CLOCKS_PER_SEC / 20)
        x += 1;
    char *text = render_string(reg, TALLY_FORMAT_TEXT, "system");
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    double cpu = sample_value(text, "process_cpu_seconds_total");
    assert_true(cpu > 0 && cpu < 3600);
    assert_true(sample_value(text, "process_resident_memory_bytes") > 1e5);
    assert_true(sample_value(text, "process_virtual_memory_bytes") >=
                sample_value(text, "process_resident_memory_bytes"));
    double fds = sample_value(text, "process_open_fds");
    assert_true(fds >= 3 && fds < 1e6);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_true(sample_value(text, "process_max_fds") == (double)rl.rlim_cur);
    double started = sample_value(text, "process_start_time_seconds");
    double now = (double)time(NULL);
    assert_true(started <= now + 1 && started > now - 3600);
    free(text);

    char *om = render_string(reg, TALLY_FORMAT_OPENMETRICS, NULL);
    assert_non_null(strstr(om, "# TYPE process_cpu_seconds counter\n"
                               "# UNIT process_cpu_seconds seconds\n"));
    free(om);
    tally_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_text_and_openmetrics),
        cmocka_unit_test(test_render_category_filter),
        cmocka_unit_test(test_render_appends_and_rejects),
        cmocka_unit_test(test_render_gzip_round_trip),
        cmocka_unit_test(test_render_http),
        cmocka_unit_test(test_process_collector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
