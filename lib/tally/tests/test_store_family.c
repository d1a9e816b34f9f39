/*
 * test_store_family.c - children of a family: stable handles, the array
 * and variadic lookups, table growth, concurrent creation, removal and
 * re-attachment, partial-match removal, clear, the max_children overflow
 * child with its self-metric, and expiry.
 */
#include <pthread.h>

#include "test_util.h"

static tally_family *three_labels(tally_registry *reg, size_t max_children, double expire)
{
    const char *labels[] = {"method", "path", "code"};
    tally_opts o = {.name = "http_requests_total", .help = "Requests.", .label_names = labels,
                    .label_count = 3, .max_children = max_children,
                    .expire_after_seconds = expire};
    tally_family *f = tally_family_new(reg, TALLY_COUNTER, &o, NULL, NULL, NULL);
    assert_non_null(f);
    return f;
}

static void test_lookup_is_stable(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_family *f = three_labels(reg, 0, 0);
    const char *v[] = {"GET", "/a", "200"};
    tally_counter *a = tally_counter_with(f, v);
    assert_non_null(a);
    assert_ptr_equal(tally_counter_labels(f, "GET", "/a", "200"), a);
    assert_ptr_not_equal(tally_counter_labels(f, "GET", "/a", "500"), a);
    /* value boundaries matter: ("ab","c") is not ("a","bc") */
    assert_ptr_not_equal(tally_counter_labels(f, "GE", "T/a", "200"), a);
    assert_int_equal(tally_family_size(f), 3);
    /* wrong handle type, missing values, invalid UTF-8 */
    assert_null(tally_gauge_with(f, v));
    assert_null(tally_counter_get(f));
    assert_null(tally_counter_with(f, NULL));
    assert_null(tally_counter_labels(f, "GET", "\xc3\x28", "200"));
    assert_int_equal(tally_family_size(f), 3);
    assert_int_equal(tally_family_label_count(f), 3);
    assert_int_equal(tally_family_type(f), TALLY_COUNTER);
    assert_string_equal(tally_family_name(f), "http_requests");
    tally_registry_free(reg);
}

static void test_many_children(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_family *f = three_labels(reg, 0, 0);
    tally_counter *handles[3000];
    char a[16], b[16];
    for (int i = 0; i < 3000; i++) {
        snprintf(a, sizeof a, "m%d", i % 7);
        snprintf(b, sizeof b, "/p%d", i);
        handles[i] = tally_counter_labels(f, a, b, "200");
        tally_counter_add_int(handles[i], (uint64_t)i);
    }
    assert_int_equal(tally_family_size(f), 3000);
    for (int i = 0; i < 3000; i++) {
        snprintf(a, sizeof a, "m%d", i % 7);
        snprintf(b, sizeof b, "/p%d", i);
        tally_counter *c = tally_counter_labels(f, a, b, "200");
        assert_ptr_equal(c, handles[i]);
        assert_true(tally_counter_value(c) == i);
    }
    tally_registry_free(reg);
}

typedef struct race {
    tally_family *fam;
    tally_counter *seen[200];
} race;

static void *create_same(void *arg)
{
    race *r = arg;
    char b[16];
    for (int i = 0; i < 200; i++) {
        snprintf(b, sizeof b, "/r%d", i);
        r->seen[i] = tally_counter_labels(r->fam, "GET", b, "200");
        tally_counter_inc(r->seen[i]);
    }
    return NULL;
}

static void test_concurrent_creation(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    race r[4];
    pthread_t t[4];
    tally_family *f = three_labels(reg, 0, 0);
    for (int i = 0; i < 4; i++) {
        r[i].fam = f;
        pthread_create(&t[i], NULL, create_same, &r[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(tally_family_size(f), 200);
    for (int i = 0; i < 200; i++) {
        for (int k = 1; k < 4; k++)
            assert_ptr_equal(r[k].seen[i], r[0].seen[i]);
        assert_true(tally_counter_value(r[0].seen[i]) == 4);
    }
    tally_registry_free(reg);
}

static void test_remove_and_reattach(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_family *f = three_labels(reg, 0, 0);
    const char *v[] = {"GET", "/a", "200"};
    tally_counter *c = tally_counter_with(f, v);
    tally_counter_add_int(c, 5);
    assert_int_equal(tally_family_remove(f, v), TALLY_OK);
    assert_int_equal(tally_family_remove(f, v), TALLY_ERR_NOT_FOUND);
    assert_int_equal(tally_family_size(f), 0);
    char *text = render_string(reg, TALLY_FORMAT_TEXT, NULL);
    assert_null(strstr(text, "/a"));
    free(text);
    tally_counter_inc(c); /* kept handle stays usable */
    assert_ptr_equal(tally_counter_with(f, v), c);
    assert_true(tally_counter_value(c) == 0); /* restarted from zero */
    tally_counter_inc(c);
    assert_true(rendering_has(reg, TALLY_FORMAT_TEXT, NULL,
                              "http_requests_total{method=\"GET\",path=\"/a\",code=\"200\"} 1\n"));
    tally_registry_free(reg);
}

static void test_remove_matching_and_clear(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_family *f = three_labels(reg, 0, 0);
    tally_counter_labels(f, "GET", "/a", "200");
    tally_counter_labels(f, "GET", "/b", "200");
    tally_counter_labels(f, "POST", "/a", "200");
    tally_counter_labels(f, "GET", "/a", "500");
    const char *n1[] = {"method", "code"}, *v1[] = {"GET", "200"};
    assert_int_equal(tally_family_remove_matching(f, n1, v1, 2), 2);
    assert_int_equal(tally_family_size(f), 2);
    const char *n2[] = {"nope"}, *v2[] = {"x"};
    assert_int_equal(tally_family_remove_matching(f, n2, v2, 1), TALLY_ERR_INVALID_LABEL);
    const char *n3[] = {"path"}, *v3[] = {"/zzz"};
    assert_int_equal(tally_family_remove_matching(f, n3, v3, 1), 0);
    tally_family_clear(f);
    assert_int_equal(tally_family_size(f), 0);
    /* unlabelled: cleared, then the direct handle re-attaches */
    tally_counter *u = tally_counter_new(reg, "plain", "", NULL);
    tally_counter_inc(u);
    tally_family *uf = NULL;
    tally_opts o = {.name = "plain2", .help = ""};
    uf = tally_family_new(reg, TALLY_GAUGE, &o, NULL, NULL, NULL);
    tally_gauge *g = tally_gauge_get(uf);
    tally_gauge_set(g, 3);
    tally_family_clear(uf);
    assert_int_equal(tally_family_size(uf), 0);
    assert_ptr_equal(tally_gauge_get(uf), g);
    assert_int_equal(tally_family_size(uf), 1);
    assert_true(tally_gauge_value(g) == 0);
    tally_registry_free(reg);
}

static void test_overflow(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_family *f = three_labels(reg, 2, 0);
    tally_counter *a = tally_counter_labels(f, "GET", "/a", "200");
    tally_counter *b = tally_counter_labels(f, "GET", "/b", "200");
    tally_counter *o1 = tally_counter_labels(f, "GET", "/c", "200");
    tally_counter *o2 = tally_counter_labels(f, "GET", "/d", "200");
    assert_non_null(o1);
    assert_ptr_equal(o1, o2);
    assert_ptr_not_equal(o1, a);
    assert_ptr_equal(tally_counter_labels(f, "GET", "/a", "200"), a); /* existing still hit */
    assert_ptr_equal(tally_counter_labels(f, "GET", "/b", "200"), b);
    tally_counter_inc(o1);
    tally_counter_inc(o2);
    assert_int_equal(tally_family_size(f), 3);
    char *text = render_string(reg, TALLY_FORMAT_TEXT, "system");
    assert_non_null(strstr(text, "tally_series_overflow_total{family=\"http_requests\"} 2\n"));
    assert_null(strstr(text, "http_requests_total{"));
    free(text);
    text = render_string(reg, TALLY_FORMAT_TEXT, NULL);
    assert_non_null(strstr(text, "http_requests_total{method=\"__overflow__\",path=\"__overflow__\","
                                 "code=\"__overflow__\"} 2\n"));
    assert_null(strstr(text, "/c"));
    free(text);
    /* room again after a removal */
    const char *v[] = {"GET", "/a", "200"};
    assert_int_equal(tally_family_remove(f, v), TALLY_OK);
    tally_family_remove(f, (const char *[]){"__overflow__", "__overflow__", "__overflow__"});
    assert_ptr_not_equal(tally_counter_labels(f, "GET", "/c", "200"), o1);
    tally_registry_free(reg);
}

/* The overflow child is not counted against the cap: with it live, one
 * removal still makes room for one new label set. */
static void test_overflow_child_not_counted_against_cap(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_family *f = three_labels(reg, 2, 0);
    tally_counter *a = tally_counter_labels(f, "GET", "/a", "200");
    tally_counter_labels(f, "GET", "/b", "200");
    tally_counter *o = tally_counter_labels(f, "GET", "/c", "200");
    assert_ptr_not_equal(o, a);
    assert_int_equal(tally_family_remove(f, (const char *[]){"GET", "/a", "200"}), TALLY_OK);
    tally_counter *d = tally_counter_labels(f, "GET", "/d", "200");
    assert_non_null(d);
    assert_ptr_not_equal(d, o);
    assert_int_equal(tally_family_size(f), 3); /* /b, /d and the overflow child */
    /* now full again: the next new set folds */
    assert_ptr_equal(tally_counter_labels(f, "GET", "/e", "200"), o);
    tally_registry_free(reg);
}

static void test_expiry(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_family *f = three_labels(reg, 0, 0.15);
    tally_counter *idle = tally_counter_labels(f, "GET", "/idle", "200");
    tally_counter *busy = tally_counter_labels(f, "GET", "/busy", "200");
    tally_counter_inc(idle);
    assert_int_equal(tally_registry_sweep(reg), 0);
    for (int i = 0; i < 5; i++) {
        sleep_ms(50);
        tally_counter_inc(busy);
        tally_registry_sweep(reg);
    }
    assert_int_equal(tally_family_size(f), 1);
    char *text = render_string(reg, TALLY_FORMAT_TEXT, NULL);
    assert_non_null(strstr(text, "path=\"/busy\""));
    assert_null(strstr(text, "path=\"/idle\""));
    free(text);
    /* never-expiring families are untouched */
    tally_counter *keep = tally_counter_new(reg, "forever", "", NULL);
    tally_counter_inc(keep);
    sleep_ms(200);
    tally_registry_sweep(reg);
    assert_int_equal(tally_family_size(f), 0);
    assert_true(rendering_has(reg, TALLY_FORMAT_TEXT, NULL, "forever_total 1\n"));
    tally_registry_free(reg);
}

/* Observations of -1 raise the count and lower the sum by one: a child
 * busy with them must still count as active. */
static void test_expiry_sees_negative_observations(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    const char *labels[] = {"sensor"};
    static const double qs[] = {0.5};
    tally_opts ho = {.name = "delta_celsius", .help = "", .label_names = labels,
                     .label_count = 1, .expire_after_seconds = 0.15};
    tally_opts so = ho;
    so.name = "drift_celsius";
    tally_summary_opts sopts = {.quantiles = qs, .quantile_count = 1};
    tally_family *hf = tally_family_new(reg, TALLY_HISTOGRAM, &ho, NULL, NULL, NULL);
    tally_family *sf = tally_family_new(reg, TALLY_SUMMARY, &so, NULL, &sopts, NULL);
    assert_non_null(hf);
    assert_non_null(sf);
    tally_histogram *h = tally_histogram_labels(hf, "a");
    tally_summary *s = tally_summary_labels(sf, "a");
    tally_histogram_observe(h, 1);
    tally_summary_observe(s, 1);
    tally_registry_sweep(reg);
    for (int i = 0; i < 6; i++) {
        sleep_ms(50);
        tally_histogram_observe(h, -1);
        tally_summary_observe(s, -1);
        tally_registry_sweep(reg);
    }
    assert_int_equal(tally_family_size(hf), 1);
    assert_int_equal(tally_family_size(sf), 1);
    tally_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_is_stable),
        cmocka_unit_test(test_many_children),
        cmocka_unit_test(test_concurrent_creation),
        cmocka_unit_test(test_remove_and_reattach),
        cmocka_unit_test(test_remove_matching_and_clear),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_overflow_child_not_counted_against_cap),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_expiry_sees_negative_observations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
