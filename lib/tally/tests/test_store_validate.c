/*
 * test_store_validate.c - registration rules (names, labels, reserved names
 * and suffixes, units, UTF-8, duplicates and clashes, namespace and
 * subsystem), collectors and their emitters, category filtering, visiting
 * order and unregistering.
 */
#include <math.h>

#include "test_util.h"

static tally_err try_register(tally_registry *reg, tally_type type, const char *name,
                              const char *unit, const char *const *labels, size_t n)
{
    tally_opts o = {.name = name, .help = "h", .unit = unit, .label_names = labels,
                    .label_count = n};
    tally_err err = -99;
    tally_family *f = tally_family_new(reg, type, &o, NULL, NULL, &err);
    assert_true((f != NULL) == (err == TALLY_OK));
    return err;
}

static void test_names(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    assert_int_equal(try_register(reg, TALLY_GAUGE, "ok:name_1", NULL, NULL, 0), TALLY_OK);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "_x", NULL, NULL, 0), TALLY_OK);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "1abc", NULL, NULL, 0), TALLY_ERR_INVALID_NAME);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "a-b", NULL, NULL, 0), TALLY_ERR_INVALID_NAME);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "", NULL, NULL, 0), TALLY_ERR_INVALID_NAME);
    assert_int_equal(try_register(reg, TALLY_GAUGE, NULL, NULL, NULL, 0), TALLY_ERR_INVALID_NAME);
    assert_int_equal(try_register(reg, TALLY_COUNTER, "_total", NULL, NULL, 0), TALLY_ERR_INVALID_NAME);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "g_total", NULL, NULL, 0), TALLY_ERR_RESERVED_SUFFIX);
    assert_int_equal(try_register(reg, TALLY_HISTOGRAM, "h_bucket", NULL, NULL, 0), TALLY_ERR_RESERVED_SUFFIX);
    assert_int_equal(try_register(reg, TALLY_SUMMARY, "s_created", NULL, NULL, 0), TALLY_ERR_RESERVED_SUFFIX);
    assert_int_equal(try_register(reg, TALLY_UNTYPED, "u", NULL, NULL, 0), TALLY_ERR_FORMAT);
    tally_opts o = {.name = "bad_help", .help = "\xe2\x82"};
    tally_err err;
    assert_null(tally_family_new(reg, TALLY_GAUGE, &o, NULL, NULL, &err));
    assert_int_equal(err, TALLY_ERR_UTF8);
    o.help = "caf\xc3\xa9 \xe2\x82\xac";
    assert_non_null(tally_family_new(reg, TALLY_GAUGE, &o, NULL, NULL, &err));
    o.name = "neg_expiry";
    o.expire_after_seconds = -1;
    assert_null(tally_family_new(reg, TALLY_GAUGE, &o, NULL, NULL, &err));
    assert_int_equal(err, TALLY_ERR_INVALID_VALUE);
    tally_registry_free(reg);
}

static void test_labels(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    const char *good[] = {"a", "_b", "c9"};
    assert_int_equal(try_register(reg, TALLY_COUNTER, "c1", NULL, good, 3), TALLY_OK);
    const char *bad[] = {"a:b"};
    assert_int_equal(try_register(reg, TALLY_COUNTER, "c2", NULL, bad, 1), TALLY_ERR_INVALID_LABEL);
    const char *digit[] = {"9a"};
    assert_int_equal(try_register(reg, TALLY_COUNTER, "c2", NULL, digit, 1), TALLY_ERR_INVALID_LABEL);
    const char *reserved[] = {"__name"};
    assert_int_equal(try_register(reg, TALLY_COUNTER, "c2", NULL, reserved, 1), TALLY_ERR_RESERVED_LABEL);
    const char *le[] = {"le"}, *quantile[] = {"quantile"};
    assert_int_equal(try_register(reg, TALLY_HISTOGRAM, "h", NULL, le, 1), TALLY_ERR_RESERVED_LABEL);
    assert_int_equal(try_register(reg, TALLY_SUMMARY, "s", NULL, quantile, 1), TALLY_ERR_RESERVED_LABEL);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "g_le", NULL, le, 1), TALLY_OK);
    const char *dup[] = {"a", "b", "a"};
    assert_int_equal(try_register(reg, TALLY_COUNTER, "c3", NULL, dup, 3), TALLY_ERR_DUPLICATE_LABEL);
    const char *many[40];
    char names[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "l%d", i);
        many[i] = names[i];
    }
    assert_int_equal(try_register(reg, TALLY_COUNTER, "c4", NULL, many, 40), TALLY_ERR_LABEL_COUNT);
    tally_err err;
    assert_null(tally_counter_family(reg, "c5", "", NULL, &err, "ok", "bad-label", (char *)NULL));
    assert_int_equal(err, TALLY_ERR_INVALID_LABEL);
    tally_registry_free(reg);
}

static void test_units(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    assert_int_equal(try_register(reg, TALLY_GAUGE, "temp_celsius", "celsius", NULL, 0), TALLY_OK);
    assert_int_equal(try_register(reg, TALLY_COUNTER, "io_bytes_total", "bytes", NULL, 0), TALLY_OK);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "size", "bytes", NULL, 0), TALLY_ERR_UNIT);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "xbytes", "bytes", NULL, 0), TALLY_ERR_UNIT);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "a_Bytes", "Bytes", NULL, 0), TALLY_ERR_UNIT);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "bytes", "bytes", NULL, 0), TALLY_ERR_UNIT);
    assert_true(rendering_has(reg, TALLY_FORMAT_OPENMETRICS, NULL, "# UNIT io_bytes bytes\n"));
    tally_registry_free(reg);
}

static void test_clashes(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    static const double b[] = {1};
    tally_histogram_opts ho = {b, 1};
    tally_opts o = {.name = "rpc", .help = ""};
    tally_err err;
    assert_non_null(tally_family_new(reg, TALLY_HISTOGRAM, &o, &ho, NULL, &err));
    assert_int_equal(try_register(reg, TALLY_GAUGE, "rpc", NULL, NULL, 0), TALLY_ERR_DUPLICATE);
    assert_int_equal(try_register(reg, TALLY_COUNTER, "rpc_total", NULL, NULL, 0), TALLY_ERR_DUPLICATE);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "rpc_count", NULL, NULL, 0), TALLY_ERR_SUFFIX_CLASH);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "rpc_sum", NULL, NULL, 0), TALLY_ERR_SUFFIX_CLASH);
    assert_int_equal(try_register(reg, TALLY_SUMMARY, "rpc_sum", NULL, NULL, 0), TALLY_ERR_SUFFIX_CLASH);
    assert_int_equal(try_register(reg, TALLY_COUNTER, "jobs", NULL, NULL, 0), TALLY_OK);
    assert_int_equal(try_register(reg, TALLY_COUNTER, "jobs_total", NULL, NULL, 0), TALLY_ERR_DUPLICATE);
    assert_int_equal(try_register(reg, TALLY_COUNTER, "jobs_created", NULL, NULL, 0), TALLY_ERR_SUFFIX_CLASH);
    assert_int_equal(try_register(reg, TALLY_INFO, "build", NULL, NULL, 0), TALLY_OK);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "build_info", NULL, NULL, 0), TALLY_ERR_SUFFIX_CLASH);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "tally_series_overflow", NULL, NULL, 0),
                     TALLY_ERR_DUPLICATE);
    /* summary "lat" exposes lat_count: a later histogram "lat_count" is fine
     * as a name but its family name "lat_count" collides with the sample */
    assert_int_equal(try_register(reg, TALLY_SUMMARY, "lat", NULL, NULL, 0), TALLY_OK);
    assert_int_equal(try_register(reg, TALLY_HISTOGRAM, "lat_count", NULL, NULL, 0), TALLY_ERR_SUFFIX_CLASH);
    tally_registry_free(reg);
}

static void test_buckets_validation(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_err err;
    static const double unsorted[] = {1, 0.5}, dup[] = {1, 1}, nan[] = {NAN}, inf[] = {1, INFINITY};
    assert_null(tally_histogram_new(reg, "h1", "", TALLY_BUCKETS(unsorted), &err));
    assert_int_equal(err, TALLY_ERR_BUCKETS);
    assert_null(tally_histogram_new(reg, "h1", "", TALLY_BUCKETS(dup), &err));
    assert_int_equal(err, TALLY_ERR_BUCKETS);
    assert_null(tally_histogram_new(reg, "h1", "", TALLY_BUCKETS(nan), &err));
    assert_int_equal(err, TALLY_ERR_BUCKETS);
    assert_null(tally_histogram_new(reg, "h1", "", inf, 0, &err));
    assert_int_equal(err, TALLY_ERR_BUCKETS);
    /* a trailing +Inf is accepted and implicit */
    tally_histogram *h = tally_histogram_new(reg, "h1", "", TALLY_BUCKETS(inf), &err);
    assert_non_null(h);
    uint64_t counts[2];
    assert_int_equal(tally_histogram_snapshot(h, counts, 2, NULL, NULL), TALLY_OK);
    /* NULL buckets = the default 11 */
    h = tally_histogram_new(reg, "h2", "", NULL, 0, &err);
    uint64_t twelve[12];
    assert_int_equal(tally_histogram_snapshot(h, twelve, 12, NULL, NULL), TALLY_OK);
    tally_registry_free(reg);
}

/* Registers namespace_subsystem_name; on success *full is its name. */
static tally_err try_full(tally_registry *reg, tally_type type, const char *ns,
                          const char *subsystem, const char *name, const char *unit,
                          const char *const *labels, size_t n, const char **full)
{
    tally_opts o = {.namespace_ = ns, .subsystem = subsystem, .name = name, .help = "h",
                    .unit = unit, .label_names = labels, .label_count = n};
    tally_err err = -99;
    tally_family *f = tally_family_new(reg, type, &o, NULL, NULL, &err);
    assert_true((f != NULL) == (err == TALLY_OK));
    if (full)
        *full = tally_family_name(f);
    return err;
}

static void test_namespace(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    const char *full;
    assert_int_equal(try_full(reg, TALLY_COUNTER, "app", "http", "requests", NULL, NULL, 0, &full),
                     TALLY_OK);
    assert_string_equal(full, "app_http_requests");
    /* _total is stripped from the whole name, never doubled */
    assert_int_equal(try_full(reg, TALLY_COUNTER, "app", NULL, "jobs_total", NULL, NULL, 0, &full),
                     TALLY_OK);
    assert_string_equal(full, "app_jobs");
    assert_int_equal(try_full(reg, TALLY_GAUGE, NULL, "db", "open", NULL, NULL, 0, &full), TALLY_OK);
    assert_string_equal(full, "db_open");
    /* empty parts are left out with their "_": empty namespace = bare name */
    assert_int_equal(try_full(reg, TALLY_GAUGE, "", "", "bare", NULL, NULL, 0, &full), TALLY_OK);
    assert_string_equal(full, "bare");
    assert_int_equal(try_full(reg, TALLY_GAUGE, "", "sub", "g", NULL, NULL, 0, &full), TALLY_OK);
    assert_string_equal(full, "sub_g");
    assert_int_equal(try_full(reg, TALLY_INFO, "app", NULL, "build_info", NULL, NULL, 0, &full),
                     TALLY_OK);
    assert_string_equal(full, "app_build");
    /* validated as a whole: a part need not be a valid name on its own... */
    assert_int_equal(try_full(reg, TALLY_GAUGE, "app", NULL, "9lives", NULL, NULL, 0, &full),
                     TALLY_OK);
    assert_string_equal(full, "app_9lives");
    assert_int_equal(try_full(reg, TALLY_GAUGE, "ns:", NULL, "x", NULL, NULL, 0, &full), TALLY_OK);
    assert_string_equal(full, "ns:_x");
    assert_int_equal(try_full(reg, TALLY_GAUGE, "app", NULL, "seconds", "seconds", NULL, 0, &full),
                     TALLY_OK);
    /* ...but the whole must be */
    assert_int_equal(try_full(reg, TALLY_GAUGE, "1app", NULL, "x", NULL, NULL, 0, NULL),
                     TALLY_ERR_INVALID_NAME);
    assert_int_equal(try_full(reg, TALLY_GAUGE, "a-b", NULL, "x", NULL, NULL, 0, NULL),
                     TALLY_ERR_INVALID_NAME);
    assert_int_equal(try_full(reg, TALLY_GAUGE, "app", "s p", "x", NULL, NULL, 0, NULL),
                     TALLY_ERR_INVALID_NAME);
    assert_int_equal(try_full(reg, TALLY_GAUGE, "app", "db", "", NULL, NULL, 0, NULL),
                     TALLY_ERR_INVALID_NAME);
    assert_int_equal(try_full(reg, TALLY_GAUGE, "app", NULL, NULL, NULL, NULL, 0, NULL),
                     TALLY_ERR_INVALID_NAME);
    assert_int_equal(try_full(reg, TALLY_GAUGE, "app", NULL, "x_total", NULL, NULL, 0, NULL),
                     TALLY_ERR_RESERVED_SUFFIX);
    assert_int_equal(try_full(reg, TALLY_GAUGE, "app", NULL, "size", "bytes", NULL, 0, NULL),
                     TALLY_ERR_UNIT);
    char longer[300];
    memset(longer, 'n', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(try_full(reg, TALLY_GAUGE, longer, NULL, longer + 100, NULL, NULL, 0, NULL),
                     TALLY_ERR_INVALID_NAME); /* 499 characters as a whole */
    /* clashes are between whole names */
    assert_int_equal(try_full(reg, TALLY_GAUGE, NULL, NULL, "app_http_requests", NULL, NULL, 0,
                              NULL), TALLY_ERR_DUPLICATE);
    assert_int_equal(try_full(reg, TALLY_GAUGE, "app", NULL, "http_requests_created", NULL, NULL, 0,
                              NULL), TALLY_ERR_RESERVED_SUFFIX);
    assert_int_equal(try_full(reg, TALLY_GAUGE, "app_http", NULL, "requests", NULL, NULL, 0, NULL),
                     TALLY_ERR_DUPLICATE);
    assert_true(rendering_has(reg, TALLY_FORMAT_TEXT, NULL, "\napp_http_requests_total 0\n"));
    assert_true(rendering_has(reg, TALLY_FORMAT_TEXT, NULL, "\napp_jobs_total 0\n"));
    assert_true(rendering_has(reg, TALLY_FORMAT_OPENMETRICS, NULL, "# UNIT app_seconds seconds\n"));
    tally_registry_free(reg);
}

static void collect_namespaced(tally_emit *e, void *user)
{
    (void)user;
    tally_emit_gauge(e, 0, NULL, 3);
}

static void test_namespace_stateset_and_collector(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    /* the state label may be named like the short name: it is exposed
     * under the full one */
    const char *short_label[] = {"provider", "breaker"};
    const char *full;
    assert_int_equal(try_full(reg, TALLY_STATESET, "app", NULL, "breaker", NULL, short_label, 2,
                              &full), TALLY_OK);
    assert_string_equal(full, "app_breaker");
    const char *full_label[] = {"app_door", "room"};
    assert_int_equal(try_full(reg, TALLY_STATESET, "app", NULL, "door", NULL, full_label, 2, NULL),
                     TALLY_OK);
    const char *neither[] = {"provider"};
    assert_int_equal(try_full(reg, TALLY_STATESET, "app", NULL, "fan", NULL, neither, 1, NULL),
                     TALLY_ERR_INVALID_LABEL);
    /* a label name cannot hold ':', so neither can the state label */
    const char *colon[] = {"fan"};
    assert_int_equal(try_full(reg, TALLY_STATESET, "a:b", NULL, "fan", NULL, colon, 1, NULL),
                     TALLY_ERR_INVALID_LABEL);
    const char *null_label[] = {NULL};
    assert_int_equal(try_full(reg, TALLY_STATESET, "app", NULL, "fan", NULL, null_label, 1, NULL),
                     TALLY_ERR_INVALID_LABEL);
    static const char *const states[] = {"closed", "open"};
    const char *breaker2[] = {"breaker2", "provider"};
    tally_opts o = {.namespace_ = "app", .name = "breaker2", .label_names = breaker2,
                    .label_count = 2};
    tally_family *ss = tally_family_new(reg, TALLY_STATESET, &o, NULL, NULL, NULL);
    assert_non_null(ss);
    assert_int_equal(tally_family_label_count(ss), 2);
    assert_int_equal(tally_stateset_declare(ss, states, 2), TALLY_OK);
    const char *p1[] = {"p1"};
    assert_int_equal(tally_stateset_set(ss, p1, "open"), TALLY_OK);
    assert_true(rendering_has(reg, TALLY_FORMAT_TEXT, NULL,
                              "app_breaker2{provider=\"p1\",app_breaker2=\"open\"} 1\n"));
    /* the full name wins over the short one, which stays an ordinary label */
    const char *lamp_labels[] = {"lamp", "app_lamp"};
    o = (tally_opts){.namespace_ = "app", .name = "lamp", .label_names = lamp_labels,
                     .label_count = 2};
    tally_family *lamp = tally_family_new(reg, TALLY_STATESET, &o, NULL, NULL, NULL);
    assert_non_null(lamp);
    assert_int_equal(tally_stateset_declare(lamp, states, 2), TALLY_OK);
    const char *desk[] = {"desk"};
    assert_int_equal(tally_stateset_set(lamp, desk, "closed"), TALLY_OK);
    assert_true(rendering_has(reg, TALLY_FORMAT_TEXT, NULL,
                              "app_lamp{lamp=\"desk\",app_lamp=\"closed\"} 1\n"));

    /* collectors' descriptions take the same parts */
    tally_desc d[] = {{.type = TALLY_GAUGE, .namespace_ = "app", .subsystem = "pool",
                       .name = "size", .help = "S."},
                      {.type = TALLY_COUNTER, .namespace_ = "app", .name = "breaker"}};
    assert_int_equal(tally_collector_register(reg, NULL, d, 1, collect_namespaced, NULL, NULL),
                     TALLY_OK);
    assert_true(rendering_has(reg, TALLY_FORMAT_TEXT, NULL, "# TYPE app_pool_size gauge\n"
                                                            "app_pool_size 3\n"));
    assert_int_equal(tally_collector_register(reg, NULL, &d[1], 1, collect_namespaced, NULL, NULL),
                     TALLY_ERR_DUPLICATE);

    /* the overflow self-metric names a capped family by its full name */
    const char *who[] = {"who"};
    tally_opts capped = {.namespace_ = "app", .name = "capped", .label_names = who,
                         .label_count = 1, .max_children = 1};
    tally_family *c = tally_family_new(reg, TALLY_COUNTER, &capped, NULL, NULL, NULL);
    tally_counter_labels(c, "a");
    tally_counter_labels(c, "b");
    assert_true(rendering_has(reg, TALLY_FORMAT_TEXT, NULL,
                              "tally_series_overflow_total{family=\"app_capped\"} 1\n"));
    tally_registry_free(reg);
}

typedef struct fixture {
    int calls;
    double value;
    int last_err[8];
} fixture;

static void collect(tally_emit *e, void *user)
{
    fixture *fx = user;
    fx->calls++;
    const char *a[] = {"x"}, *bad[] = {"\xff"};
    uint64_t cum[2] = {1, 3}, backwards[2] = {3, 1};
    double qv[1] = {0.25};
    /* refused emits come first: each stays within declaration order */
    fx->last_err[4] = tally_emit_counter(e, 0, a, -1);
    int utf8_refused = tally_emit_counter(e, 0, bad, 1) == TALLY_ERR_UTF8;
    fx->last_err[0] = tally_emit_counter(e, 0, a, fx->value);
    fx->last_err[5] = tally_emit_gauge(e, 0, a, 1);
    fx->last_err[1] = tally_emit_gauge(e, 1, NULL, -2);
    int backwards_refused = tally_emit_histogram(e, 2, NULL, backwards, 1, 4) == TALLY_ERR_INVALID_VALUE;
    fx->last_err[2] = tally_emit_histogram(e, 2, NULL, cum, 9.5, 4);
    fx->last_err[3] = tally_emit_summary(e, 3, NULL, qv, 1.5, 2);
    fx->last_err[6] = utf8_refused && backwards_refused &&
                      tally_emit_counter(e, 9, a, 1) == TALLY_ERR_FORMAT;
    /* going back to family 0 would split it in two */
    fx->last_err[7] = tally_emit_counter(e, 0, a, 1);
}

static void test_collectors(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    static const char *const lab[] = {"k"};
    static const double b[] = {1, 2};
    static const double q[] = {0.5};
    tally_desc d[] = {
        {.type = TALLY_COUNTER, .name = "col_events_total", .help = "E.", .label_names = lab,
         .label_count = 1},
        {.type = TALLY_GAUGE, .name = "col_level", .help = "L."},
        {.type = TALLY_HISTOGRAM, .name = "col_wait_seconds", .help = "W.", .buckets = b,
         .bucket_count = 2},
        {.type = TALLY_SUMMARY, .name = "col_size", .help = "S.", .quantiles = q,
         .quantile_count = 1},
    };
    fixture *fx = calloc(1, sizeof *fx);
    fx->value = 12;
    assert_int_equal(tally_collector_register(reg, "business", d, 4, collect, fx, free), TALLY_OK);
    tally_counter_new(reg, "own", "", NULL);
    char *text = render_string(reg, TALLY_FORMAT_TEXT, "business");
    assert_int_equal(fx->calls, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(fx->last_err[i], TALLY_OK);
    assert_int_equal(fx->last_err[4], TALLY_ERR_INVALID_VALUE);
    assert_int_equal(fx->last_err[5], TALLY_ERR_FORMAT);
    assert_int_equal(fx->last_err[6], 1);
    assert_int_equal(fx->last_err[7], TALLY_ERR_FORMAT);
    assert_non_null(strstr(text, "col_events_total{k=\"x\"} 12\n"));
    assert_non_null(strstr(text, "col_level -2\n"));
    assert_non_null(strstr(text, "col_wait_seconds_bucket{le=\"2\"} 3\n"
                                 "col_wait_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text, "col_size{quantile=\"0.5\"} 0.25\n"));
    assert_null(strstr(text, "own_total"));
    free(text);
    text = render_string(reg, TALLY_FORMAT_TEXT, "default");
    assert_int_equal(fx->calls, 1);
    assert_non_null(strstr(text, "own_total 0\n"));
    free(text);

    /* declared names are checked against families and each other */
    tally_desc clash[] = {{.type = TALLY_GAUGE, .name = "col_size_count"}};
    assert_int_equal(tally_collector_register(reg, NULL, clash, 1, collect, NULL, NULL),
                     TALLY_ERR_SUFFIX_CLASH);
    tally_desc twice[] = {{.type = TALLY_GAUGE, .name = "g"}, {.type = TALLY_GAUGE, .name = "g"}};
    assert_int_equal(tally_collector_register(reg, NULL, twice, 2, collect, NULL, NULL),
                     TALLY_ERR_DUPLICATE);
    tally_desc info[] = {{.type = TALLY_INFO, .name = "i"}};
    assert_int_equal(tally_collector_register(reg, NULL, info, 1, collect, NULL, NULL),
                     TALLY_ERR_FORMAT);
    assert_int_equal(try_register(reg, TALLY_GAUGE, "col_level", NULL, NULL, 0), TALLY_ERR_DUPLICATE);
    tally_registry_free(reg); /* frees fx through free_fn */
}

typedef struct visit_log {
    char names[16][64];
    int n;
} visit_log;

static void visit(const char *name, tally_type type, const char *help, const char *unit,
                  const char *category, const char *const *labels, size_t n, void *user)
{
    visit_log *log = user;
    (void)help; (void)unit; (void)labels; (void)n; (void)type;
    snprintf(log->names[log->n++], 64, "%s/%s", name, category);
}

static void test_visit_and_unregister(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_family *a = tally_counter_family(reg, "a", "", "models", NULL, "m", (char *)NULL);
    tally_family *b = tally_gauge_family(reg, "b", "", NULL, NULL, (char *)NULL);
    tally_histogram_family(reg, "c", "", "performance", NULL, 0, NULL, (char *)NULL);
    assert_non_null(a);
    assert_non_null(b);
    visit_log log = {0};
    tally_registry_visit(reg, visit, &log);
    assert_int_equal(log.n, 4);
    assert_string_equal(log.names[0], "tally_series_overflow/system");
    assert_string_equal(log.names[1], "a/models");
    assert_string_equal(log.names[2], "b/default");
    assert_string_equal(log.names[3], "c/performance");
    assert_int_equal(tally_family_unregister(reg, b), TALLY_OK);
    assert_int_equal(try_register(reg, TALLY_COUNTER, "b", NULL, NULL, 0), TALLY_OK);
    memset(&log, 0, sizeof log);
    tally_registry_visit(reg, visit, &log);
    assert_string_equal(log.names[3], "b/default");
    tally_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_namespace),
        cmocka_unit_test(test_namespace_stateset_and_collector),
        cmocka_unit_test(test_clashes),
        cmocka_unit_test(test_buckets_validation),
        cmocka_unit_test(test_collectors),
        cmocka_unit_test(test_visit_and_unregister),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
