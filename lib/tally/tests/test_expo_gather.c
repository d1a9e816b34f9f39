/*
 * test_expo_gather.c - tally_gather against the renderings. A registry
 * using every type and feature (labels needing escapes, exemplars, a
 * quantile summary, info, stateset, a collector of every emittable type,
 * an overflow child, removed and cleared children, families with nothing
 * to show) is rendered in text 0.0.4 and OpenMetrics, each rendering is
 * parsed back into records, and the records must equal, one by one, those
 * rebuilt from what tally_gather visits. Then: categories, what is not
 * visited, what a family description holds, expiry and bad arguments.
 */
#include <math.h>

#include "test_util.h"

/* ------------------------------------------------------------- records */

/* One family header or one sample, as a canonical line: values in %a (bit
 * exact), NaN as "NaN", label values raw. */
typedef struct records {
    char **lines;
    size_t n, cap;
} records;

static void add_line(records *r, const char *line)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->lines = realloc(r->lines, r->cap * sizeof *r->lines);
        assert_non_null(r->lines);
    }
    r->lines[r->n] = strdup(line);
    assert_non_null(r->lines[r->n]);
    r->n++;
}

static void records_free(records *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->lines[i]);
    free(r->lines);
}

static void put_num(char *out, size_t cap, double v)
{
    if (isnan(v))
        snprintf(out, cap, "NaN");
    else
        snprintf(out, cap, "%a", v);
}

static void append(char *line, size_t cap, const char *s)
{
    size_t len = strlen(line);
    snprintf(line + len, cap - len, "%s", s);
}

static void append_labels(char *line, size_t cap, const char *const *names,
                          const char *const *values, size_t n)
{
    append(line, cap, "{");
    for (size_t i = 0; i < n; i++) {
        append(line, cap, i ? "," : "");
        append(line, cap, names[i]);
        append(line, cap, "=");
        append(line, cap, values[i]);
    }
    append(line, cap, "}");
}

static void append_num(char *line, size_t cap, double v)
{
    char num[64];
    put_num(num, sizeof num, v);
    append(line, cap, " ");
    append(line, cap, num);
}

static void compare(const records *want, const records *got)
{
    for (size_t i = 0; i < want->n && i < got->n; i++)
        if (strcmp(want->lines[i], got->lines[i]) != 0)
            fail_msg("record %zu differs:\n rendered: %s\n gathered: %s", i, want->lines[i],
                     got->lines[i]);
    assert_int_equal(want->n, got->n);
}

/* ------------------------------------------------- renderings, parsed */

/* Unescapes \\, \" and \n from s up to an unescaped `stop` (or the end);
 * returns the end (at stop). */
static const char *unescape(const char *s, char stop, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && *s != stop; s++) {
        char c = *s;
        if (c == '\\' && s[1]) {
            s++;
            c = *s == 'n' ? '\n' : *s;
        }
        if (n + 1 < cap)
            out[n++] = c;
    }
    out[n] = '\0';
    return s;
}

/* Parses `{name="value",...}` at p into the line; returns past the '}'. */
static const char *parse_labels(const char *p, char *line, size_t cap)
{
    assert_int_equal(*p, '{');
    append(line, cap, "{");
    p++;
    for (bool first = true; *p != '}'; first = false) {
        if (*p == ',')
            p++;
        const char *eq = strchr(p, '=');
        assert_non_null(eq);
        assert_int_equal(eq[1], '"');
        char name[256], value[1024];
        snprintf(name, sizeof name, "%.*s", (int)(eq - p), p);
        p = unescape(eq + 2, '"', value, sizeof value);
        assert_int_equal(*p, '"');
        p++;
        append(line, cap, first ? "" : ",");
        append(line, cap, name);
        append(line, cap, "=");
        append(line, cap, value);
    }
    append(line, cap, "}");
    return p + 1;
}

static const char *parse_num(const char *p, char *line, size_t cap)
{
    char *end;
    double v = strtod(p, &end);
    assert_true(end > p);
    append_num(line, cap, v);
    return end;
}

/* One record per header (HELP, TYPE and UNIT folded into one "F" line, as
 * gather describes a family in one call) and per sample. */
static void parse_rendering(const char *text, records *out)
{
    char help[1024] = "";
    bool have_help = false;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        char raw[4096], line[8192] = "";
        snprintf(raw, sizeof raw, "%.*s", (int)(nl - p), p);
        p = nl + 1;
        if (strncmp(raw, "# HELP ", 7) == 0) {
            const char *sp = strchr(raw + 7, ' ');
            unescape(sp + 1, '\0', help, sizeof help);
            have_help = true;
        } else if (strncmp(raw, "# TYPE ", 7) == 0) {
            snprintf(line, sizeof line, "F %s help=%s", raw + 7, have_help ? help : "");
            add_line(out, line);
            have_help = false;
        } else if (strncmp(raw, "# UNIT ", 7) == 0) {
            /* belongs to the family record just added */
            char *last = out->lines[out->n - 1];
            snprintf(line, sizeof line, "%s unit=%s", last, strchr(raw + 7, ' ') + 1);
            free(last);
            out->lines[out->n - 1] = strdup(line);
        } else if (strcmp(raw, "# EOF") != 0) {
            const char *q = raw + strcspn(raw, "{ ");
            snprintf(line, sizeof line, "S %.*s", (int)(q - raw), raw);
            if (*q == '{')
                q = parse_labels(q, line, sizeof line);
            else
                append(line, sizeof line, "{}");
            assert_int_equal(*q, ' ');
            q = parse_num(q + 1, line, sizeof line);
            if (strncmp(q, " # ", 3) == 0) {
                append(line, sizeof line, " ex");
                q = parse_labels(q + 3, line, sizeof line);
                assert_int_equal(*q, ' ');
                q = parse_num(q + 1, line, sizeof line);
                if (*q == ' ')
                    q = parse_num(q + 1, line, sizeof line);
            }
            assert_int_equal(*q, '\0');
            add_line(out, line);
        }
    }
}

/* ------------------------------------------------- gathered, rebuilt */

typedef struct rebuild {
    records rec;
    tally_format fmt;
    int families, samples;
} rebuild;

static const char *type_word(tally_type t, bool om)
{
    static const char *const text[] = {"counter", "gauge", "histogram", "summary",
                                       "gauge", "gauge", "untyped"};
    static const char *const openmetrics[] = {"counter", "gauge", "histogram", "summary",
                                              "info", "stateset", "unknown"};
    return om ? openmetrics[t] : text[t];
}

static void on_family(const tally_desc *f, void *user)
{
    rebuild *rb = user;
    bool om = rb->fmt == TALLY_FORMAT_OPENMETRICS;
    const char *suffix = om ? "" : f->type == TALLY_COUNTER ? "_total"
                                 : f->type == TALLY_INFO    ? "_info"
                                                            : "";
    char line[4096];
    snprintf(line, sizeof line, "F %s%s %s help=%s", f->name, suffix, type_word(f->type, om),
             f->help);
    if (om && f->unit)
        append(line, sizeof line, " unit="), append(line, sizeof line, f->unit);
    add_line(&rb->rec, line);
    rb->families++;
}

/* OpenMetrics writes le and quantile integers as "1.0". */
static const char *om_bound(const char *v, char *buf, size_t cap)
{
    if (strspn(v, "-0123456789") != strlen(v))
        return v;
    snprintf(buf, cap, "%s.0", v);
    return buf;
}

static void on_sample(const tally_desc *f, const tally_sample *s, void *user)
{
    rebuild *rb = user;
    bool om = rb->fmt == TALLY_FORMAT_OPENMETRICS;
    char line[8192];
    const char *values[40];
    char bound[64];
    for (size_t i = 0; i < s->label_count; i++)
        values[i] = s->label_values[i];
    bool extra = (f->type == TALLY_HISTOGRAM && strcmp(s->suffix, "_bucket") == 0) ||
                 (f->type == TALLY_SUMMARY && s->suffix[0] == '\0');
    if (om && extra)
        values[s->label_count - 1] = om_bound(values[s->label_count - 1], bound, sizeof bound);
    snprintf(line, sizeof line, "S %s%s", f->name, s->suffix);
    append_labels(line, sizeof line, s->label_names, values, s->label_count);
    append_num(line, sizeof line, s->value);
    if (om && s->exemplar) {
        append(line, sizeof line, " ex");
        append_labels(line, sizeof line, s->exemplar->label_names, s->exemplar->label_values,
                      s->exemplar->label_count);
        append_num(line, sizeof line, s->exemplar_value);
        append_num(line, sizeof line, s->exemplar->timestamp);
    }
    add_line(&rb->rec, line);
    rb->samples++;
    /* _created follows a counter's sample and a distribution's _count */
    bool last = strcmp(s->suffix, "_total") == 0 || strcmp(s->suffix, "_count") == 0;
    if (om && last && s->created != 0) {
        snprintf(line, sizeof line, "S %s_created", f->name);
        append_labels(line, sizeof line, s->label_names, s->label_values, s->label_count);
        append_num(line, sizeof line, s->created);
        add_line(&rb->rec, line);
    }
}

/* Rendering of `category` in fmt, parsed, must equal the gathered records. */
static void check_agreement(tally_registry *reg, tally_format fmt, const char *category,
                            rebuild *rb)
{
    char *text = render_string(reg, fmt, category);
    records rendered = {0};
    parse_rendering(text, &rendered);
    memset(rb, 0, sizeof *rb);
    rb->fmt = fmt;
    assert_int_equal(tally_gather(reg, category, on_family, on_sample, rb), TALLY_OK);
    compare(&rendered, &rb->rec);
    records_free(&rendered);
    free(text);
}

/* --------------------------------------------------- the full registry */

static const double bounds[] = {0.1, 1, 2.5};
static const double quantiles[] = {0.5, 0.99, 1};

static void collect(tally_emit *e, void *user)
{
    (void)user;
    const char *k[] = {"a\"b"};
    const uint64_t cum[] = {1, 2, 4};
    const double qv[] = {3, 7.5, 9};
    tally_emit_counter(e, 0, k, 12.5);
    tally_emit_gauge(e, 1, NULL, -0.25);
    tally_emit_histogram(e, 2, k, cum, 6.5, 5);
    tally_emit_summary(e, 3, NULL, qv, 100, 8);
    /* family 4 (declared) is not emitted */
    tally_emit_gauge(e, 5, NULL, NAN);
}

static tally_registry *full_registry(void)
{
    tally_registry *reg = tally_registry_new();
    tally_err err;
    tally_family *req = tally_counter_family(reg, "req", "Requests \\ with\nnewline \"q\".",
                                             "web", &err, "code", "path", (char *)NULL);
    assert_non_null(req);
    tally_counter_add_int(tally_counter_labels(req, "200", "/a"), 7);
    tally_counter *odd = tally_counter_labels(req, "500", "/b\"q\n\\ {x} ");
    static const char *const ex_names[] = {"trace_id"};
    static const char *const ex_values[] = {"abc123"};
    tally_exemplar ex = {ex_names, ex_values, 1, 1700000000.25};
    assert_int_equal(tally_counter_add_exemplar(odd, 1.5, &ex), TALLY_OK);
    tally_counter_inc(tally_counter_labels(req, "404", "/gone"));
    assert_int_equal(tally_family_remove(req, (const char *[]){"404", "/gone"}), TALLY_OK);

    tally_counter_add_int(tally_counter_new(reg, "plain", "", &err), 3);
    tally_gauge_set(tally_gauge_new(reg, "level", "Level.", &err), -0.5);
    tally_family *odd_gauges = tally_gauge_family(reg, "odd_values", "", NULL, &err, "v",
                                                  (char *)NULL);
    tally_gauge_set(tally_gauge_labels(odd_gauges, "inf"), INFINITY);
    tally_gauge_set(tally_gauge_labels(odd_gauges, "nan"), NAN);
    tally_gauge_set(tally_gauge_labels(odd_gauges, "tiny"), 1.5e-10);

    tally_opts ho = {.namespace_ = "app", .name = "wait_seconds", .help = "Wait.",
                     .unit = "seconds", .label_names = (const char *[]){"h"}, .label_count = 1};
    tally_histogram_opts hb = {bounds, 3};
    tally_family *wait = tally_family_new(reg, TALLY_HISTOGRAM, &ho, &hb, NULL, &err);
    assert_non_null(wait);
    tally_histogram *w = tally_histogram_labels(wait, "x");
    tally_histogram_observe(w, 0.05);
    tally_histogram_observe(w, 2);
    assert_int_equal(tally_histogram_observe_exemplar(w, 0.7, &ex), TALLY_OK);
    tally_histogram_observe(tally_histogram_labels(wait, "nan"), NAN);

    tally_opts so = {.name = "cost", .help = "Cost.", .label_names = (const char *[]){"m"},
                     .label_count = 1};
    tally_summary_opts sq = {.quantiles = quantiles, .quantile_count = 3};
    tally_family *cost = tally_family_new(reg, TALLY_SUMMARY, &so, NULL, &sq, &err);
    assert_non_null(cost);
    for (int i = 1; i <= 10; i++)
        tally_summary_observe(tally_summary_labels(cost, "m1"), i * 0.5);
    tally_opts so2 = {.name = "bytes", .help = ""};
    tally_summary_observe(tally_summary_get(tally_family_new(reg, TALLY_SUMMARY, &so2, NULL, NULL,
                                                              &err)), 42);

    tally_opts io = {.name = "build_info", .help = "Build.",
                     .label_names = (const char *[]){"version", "rev"}, .label_count = 2};
    tally_family *info = tally_family_new(reg, TALLY_INFO, &io, NULL, NULL, &err);
    assert_int_equal(tally_info_set(info, (const char *[]){"1.0", "old"}), TALLY_OK);
    assert_int_equal(tally_info_set(info, (const char *[]){"1.1", "r\"2"}), TALLY_OK);
    io.name = "never_set";
    assert_non_null(tally_family_new(reg, TALLY_INFO, &io, NULL, NULL, &err));

    tally_opts sso = {.name = "breaker", .help = "Breaker.",
                      .label_names = (const char *[]){"breaker", "provider"}, .label_count = 2};
    tally_family *ss = tally_family_new(reg, TALLY_STATESET, &sso, NULL, NULL, &err);
    assert_int_equal(tally_stateset_declare(ss, (const char *[]){"closed", "open", "half"}, 3),
                     TALLY_OK);
    assert_int_equal(tally_stateset_set(ss, (const char *[]){"p1"}, "open"), TALLY_OK);
    assert_int_equal(tally_stateset_set(ss, (const char *[]){"p2"}, "closed"), TALLY_OK);

    const tally_desc descs[] = {
        {.type = TALLY_COUNTER, .name = "col_events", .help = "E.",
         .label_names = (const char *const[]){"k"}, .label_count = 1},
        {.type = TALLY_GAUGE, .namespace_ = "app", .name = "col_level", .help = "L."},
        {.type = TALLY_HISTOGRAM, .name = "col_wait", .help = "W.", .buckets = bounds,
         .bucket_count = 2, .label_names = (const char *const[]){"k"}, .label_count = 1},
        {.type = TALLY_SUMMARY, .name = "col_size", .help = "S.", .quantiles = quantiles,
         .quantile_count = 3},
        {.type = TALLY_GAUGE, .name = "col_silent", .help = "Never emitted."},
        {.type = TALLY_UNTYPED, .name = "col_raw", .help = ""},
    };
    assert_int_equal(tally_collector_register(reg, "web", descs, 6, collect, NULL, NULL),
                     TALLY_OK);

    tally_opts capped = {.name = "capped", .help = "", .label_names = (const char *[]){"who"},
                         .label_count = 1, .max_children = 1};
    tally_family *cap = tally_family_new(reg, TALLY_COUNTER, &capped, NULL, NULL, &err);
    tally_counter_inc(tally_counter_labels(cap, "first"));
    tally_counter_add_int(tally_counter_labels(cap, "second"), 2);

    tally_family *cleared = tally_counter_family(reg, "cleared", "", NULL, &err, "x", (char *)NULL);
    tally_counter_inc(tally_counter_labels(cleared, "gone"));
    tally_family_clear(cleared);
    tally_gauge_family(reg, "no_children", "", NULL, &err, "x", (char *)NULL);
    return reg;
}

static bool has_line_with(const records *r, const char *needle)
{
    for (size_t i = 0; i < r->n; i++)
        if (strstr(r->lines[i], needle))
            return true;
    return false;
}

static void test_gather_agrees_with_renderings(void **state)
{
    (void)state;
    tally_registry *reg = full_registry();
    rebuild rb;
    check_agreement(reg, TALLY_FORMAT_TEXT, NULL, &rb);
    /* what must be there, and what must not (the renderings agree) */
    assert_true(has_line_with(&rb.rec, "S req_total{code=500,path=/b\"q\n\\ {x} } 0x1.8p+0"));
    assert_true(has_line_with(&rb.rec, "S app_wait_seconds_bucket{h=x,le=+Inf} 0x1.8p+1"));
    assert_true(has_line_with(&rb.rec, "S cost{m=m1,quantile=1}"));
    assert_true(has_line_with(&rb.rec, "S build_info{version=1.1,rev=r\"2} 0x1p+0"));
    assert_true(has_line_with(&rb.rec, "S breaker{provider=p1,breaker=open} 0x1p+0"));
    assert_true(has_line_with(&rb.rec, "S breaker{provider=p1,breaker=half} 0x0p+0"));
    assert_true(has_line_with(&rb.rec, "S capped_total{who=__overflow__} 0x1p+1"));
    assert_true(has_line_with(&rb.rec, "S tally_series_overflow_total{family=capped} 0x1p+0"));
    assert_true(has_line_with(&rb.rec, "S col_wait_bucket{k=a\"b,le=+Inf} 0x1.4p+2"));
    assert_true(has_line_with(&rb.rec, "S app_col_level{} -0x1p-2"));
    assert_true(has_line_with(&rb.rec, "S col_raw{} NaN"));
    assert_true(has_line_with(&rb.rec, "S odd_values{v=nan} NaN"));
    assert_false(has_line_with(&rb.rec, "/gone"));
    assert_false(has_line_with(&rb.rec, "version=1.0"));
    assert_false(has_line_with(&rb.rec, "never_set"));
    assert_false(has_line_with(&rb.rec, "cleared"));
    assert_false(has_line_with(&rb.rec, "no_children"));
    assert_false(has_line_with(&rb.rec, "col_silent"));
    int families = rb.families, samples = rb.samples;
    records_free(&rb.rec);

    check_agreement(reg, TALLY_FORMAT_OPENMETRICS, NULL, &rb);
    assert_int_equal(rb.families, families);
    assert_int_equal(rb.samples, samples);
    assert_true(has_line_with(&rb.rec, "S req_total{code=500,path=/b\"q\n\\ {x} } 0x1.8p+0 "
                                       "ex{trace_id=abc123} 0x1.8p+0 "));
    assert_true(has_line_with(&rb.rec, "S app_wait_seconds_bucket{h=x,le=1.0} 0x1p+1 "
                                       "ex{trace_id=abc123} 0x1.6666666666666p-1"));
    assert_true(has_line_with(&rb.rec, "S req_created{code=200,path=/a}"));
    assert_false(has_line_with(&rb.rec, "col_events_created"));
    records_free(&rb.rec);

    /* category filtering, as in rendering */
    check_agreement(reg, TALLY_FORMAT_TEXT, "web", &rb);
    assert_int_equal(rb.families, 6); /* req and the collector's but col_silent */
    records_free(&rb.rec);
    check_agreement(reg, TALLY_FORMAT_TEXT, "nothing-here", &rb);
    assert_int_equal(rb.rec.n, 0);
    records_free(&rb.rec);
    tally_registry_free(reg);
}

/* ------------------------------------------------ descriptions, fields */

typedef struct seen {
    char names[32][64];
    int families, samples;
    size_t bucket_count, quantile_count, label_count;
    char state_label[64];
    double created, gauge_created;
} seen;

static void note_family(const tally_desc *f, void *user)
{
    seen *s = user;
    snprintf(s->names[s->families++], 64, "%s", f->name);
    assert_null(f->namespace_);
    assert_null(f->subsystem);
    assert_non_null(f->help);
    if (strcmp(f->name, "app_wait_seconds") == 0) {
        s->bucket_count = f->bucket_count;
        assert_true(f->buckets[2] == 2.5);
        assert_string_equal(f->unit, "seconds");
        assert_string_equal(f->label_names[0], "h");
    }
    if (f->type == TALLY_SUMMARY)
        s->quantile_count = f->quantile_count;
    if (f->type == TALLY_STATESET) {
        s->label_count = f->label_count;
        snprintf(s->state_label, 64, "%s", f->label_names[f->label_count - 1]);
    }
}

static void note_sample(const tally_desc *f, const tally_sample *smp, void *user)
{
    seen *s = user;
    s->samples++;
    if (f->type == TALLY_COUNTER && strcmp(f->name, "req") == 0)
        s->created = smp->created;
    if (f->type == TALLY_GAUGE)
        s->gauge_created = smp->created;
}

static void count_sample(const tally_desc *f, const tally_sample *smp, void *user)
{
    (void)f;
    (void)smp;
    ((seen *)user)->samples++;
}

static void test_gather_descriptions_and_arguments(void **state)
{
    (void)state;
    tally_registry *reg = full_registry();
    seen s = {0};
    double before = (double)time(NULL);
    assert_int_equal(tally_gather(reg, NULL, note_family, note_sample, &s), TALLY_OK);
    assert_int_equal(s.families, 16);
    assert_string_equal(s.names[0], "tally_series_overflow");
    assert_string_equal(s.names[1], "req");
    assert_string_equal(s.names[5], "app_wait_seconds");
    assert_string_equal(s.names[8], "build");
    assert_int_equal(s.bucket_count, 3);
    assert_int_equal(s.quantile_count, 3);
    assert_int_equal(s.label_count, 2);
    assert_string_equal(s.state_label, "breaker");
    assert_true(s.created > before - 60 && s.created < before + 60);
    assert_true(s.gauge_created == 0);

    /* either callback alone */
    seen only = {0};
    assert_int_equal(tally_gather(reg, NULL, note_family, NULL, &only), TALLY_OK);
    assert_int_equal(only.families, 16);
    assert_int_equal(only.samples, 0);
    assert_int_equal(tally_gather(reg, NULL, NULL, count_sample, &only), TALLY_OK);
    assert_int_equal(only.samples, s.samples);

    assert_int_equal(tally_gather(NULL, NULL, note_family, note_sample, &s), TALLY_ERR_FORMAT);
    assert_int_equal(tally_gather(reg, NULL, NULL, NULL, &s), TALLY_ERR_FORMAT);
    tally_registry_free(reg);
}

static void test_gather_applies_expiry(void **state)
{
    (void)state;
    tally_registry *reg = tally_registry_new();
    tally_opts o = {.name = "idle", .label_names = (const char *[]){"k"}, .label_count = 1,
                    .expire_after_seconds = 0.05};
    tally_family *f = tally_family_new(reg, TALLY_COUNTER, &o, NULL, NULL, NULL);
    tally_counter_inc(tally_counter_labels(f, "a"));
    seen s = {0};
    assert_int_equal(tally_gather(reg, NULL, NULL, count_sample, &s), TALLY_OK);
    assert_int_equal(s.samples, 1);
    sleep_ms(80);
    s.samples = 0;
    /* the gather that comes first after the idle period removes it */
    assert_int_equal(tally_gather(reg, NULL, NULL, count_sample, &s), TALLY_OK);
    assert_int_equal(s.samples, 0);
    assert_int_equal(tally_family_size(f), 0);
    tally_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_agrees_with_renderings),
        cmocka_unit_test(test_gather_descriptions_and_arguments),
        cmocka_unit_test(test_gather_applies_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
