/*
 * prog_conformance.c - builds a registry that uses every tally feature and
 * writes what third-party parsers must read back: the text 0.0.4 and
 * OpenMetrics renderings, plain and gzip, plus expected.json, the samples
 * (names, labels, values, exemplars) this program recorded.
 *
 * Usage: tally_prog_conformance OUTDIR   (conformance.sh drives it)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

#define MAX_LABELS 8
#define MAX_SAMPLES 256

/* One sample the parsers must find, with exactly these labels and value. */
typedef struct expected_sample {
    const char *name;
    const char *label_names[MAX_LABELS];
    const char *label_values[MAX_LABELS];
    size_t label_count;
    double value;
    const tally_exemplar *exemplar;   /* OpenMetrics only */
    double exemplar_value;
} expected_sample;

static expected_sample expected[MAX_SAMPLES];
static size_t expected_count;
static int failures;

static void check(tally_err rc, const char *what)
{
    if (rc != TALLY_OK) {
        fprintf(stderr, "%s: %s\n", what, tally_strerror(rc));
        failures++;
    }
}

static void *checked(void *p, const char *what)
{
    if (p == NULL) {
        fprintf(stderr, "%s failed\n", what);
        exit(1);
    }
    return p;
}

/* Records a sample: name, value, then label_count (name, value) pairs. */
static expected_sample *expect(const char *name, double value, size_t label_count, ...)
{
    if (expected_count == MAX_SAMPLES || label_count > MAX_LABELS) {
        fprintf(stderr, "too many expected samples\n");
        exit(1);
    }
    expected_sample *s = &expected[expected_count++];
    memset(s, 0, sizeof(*s));
    s->name = name;
    s->value = value;
    s->label_count = label_count;
    va_list ap;
    va_start(ap, label_count);
    for (size_t i = 0; i < label_count; i++) {
        s->label_names[i] = va_arg(ap, const char *);
        s->label_values[i] = va_arg(ap, const char *);
    }
    va_end(ap);
    return s;
}

/* Nasty but legal label values and help: quotes, backslashes, newlines,
 * UTF-8 (2-, 3- and 4-byte sequences). */
#define NASTY_PATH "/v1/\"chat\"\\completions\nnext line \xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80"
#define NASTY_HELP "Help with \"quotes\", a back\\slash,\na newline and UTF-8 \xc3\xa9\xe2\x9c\x93."

static const char *const ex_names[] = { "trace_id", "span_id" };
static const char *const ex_values[] = { "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7" };
static const tally_exemplar trace_exemplar = { ex_names, ex_values, 2, 1700000000.5 };

static void build_counters(tally_registry *reg)
{
    tally_err err = TALLY_OK;
    tally_family *requests = checked(tally_counter_family(reg, "conf_requests", NASTY_HELP,
                                                          "business", &err, "method", "path",
                                                          (char *)NULL), "counter family");
    tally_counter *get = checked(tally_counter_labels(requests, "GET", NASTY_PATH), "child");
    tally_counter_add_int(get, 3);
    check(tally_counter_add(get, 0.5), "counter add");
    check(tally_counter_add_exemplar(get, 1, &trace_exemplar), "counter exemplar");
    expected_sample *s = expect("conf_requests_total", 4.5, 2, "method", "GET", "path", NASTY_PATH);
    s->exemplar = &trace_exemplar;
    s->exemplar_value = 1;

    const char *post_values[] = { "POST", "" };
    tally_counter_inc(checked(tally_counter_with(requests, post_values), "child"));
    expect("conf_requests_total", 1, 2, "method", "POST", "path", "");

    /* Named with _total and a unit. */
    tally_opts opts = { .name = "conf_sent_bytes_total", .help = "Bytes sent.",
                        .unit = "bytes" };
    tally_family *sent = checked(tally_family_new(reg, TALLY_COUNTER, &opts, NULL, NULL, &err),
                                 "counter with unit");
    tally_counter_add_int(tally_counter_get(sent), 1234567890123ULL);
    expect("conf_sent_bytes_total", 1234567890123.0, 0);
}

static void build_gauges(tally_registry *reg)
{
    tally_err err = TALLY_OK;
    tally_family *g = checked(tally_gauge_family(reg, "conf_values", "Awkward floats.", NULL,
                                                 &err, "case", (char *)NULL), "gauge family");
    static const struct { const char *label; double value; } cases[] = {
        { "negative", -2.5 }, { "third", 1.0 / 3.0 }, { "sum", 0.1 + 0.2 },
        { "tiny", 1e-300 }, { "huge", 1.7976931348623157e308 }, { "zero", 0 },
        { "pos_inf", INFINITY }, { "neg_inf", -INFINITY }, { "nan", NAN },
        { "int", 9007199254740991.0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tally_gauge_set(checked(tally_gauge_labels(g, cases[i].label), "gauge child"),
                        cases[i].value);
        expect("conf_values", cases[i].value, 1, "case", cases[i].label);
    }
    tally_gauge *ops = checked(tally_gauge_new(reg, "conf_ops", "inc, dec, add.", &err), "gauge");
    tally_gauge_inc(ops);
    tally_gauge_inc(ops);
    tally_gauge_dec(ops);
    tally_gauge_add(ops, 40.25);
    expect("conf_ops", 41.25, 0);
}

static void build_histograms(tally_registry *reg)
{
    tally_err err = TALLY_OK;
    static const double buckets[] = { 0.25, 0.5, 1 };
    tally_opts opts = { .name = "conf_latency_seconds", .help = "Latency.", .unit = "seconds",
                        .label_names = (const char *const[]){ "model" }, .label_count = 1,
                        .category = "performance" };
    tally_histogram_opts hopts = { TALLY_BUCKETS(buckets) };
    tally_family *fam = checked(tally_family_new(reg, TALLY_HISTOGRAM, &opts, &hopts, NULL, &err),
                                "histogram family");
    tally_histogram *h = checked(tally_histogram_labels(fam, "m\"1\""), "histogram child");
    tally_histogram_observe(h, 0.125);
    tally_histogram_observe(h, 0.375);
    tally_histogram_observe(h, 0.375);
    check(tally_histogram_observe_exemplar(h, 0.75, &trace_exemplar), "histogram exemplar");
    tally_histogram_observe(h, 2);
    expect("conf_latency_seconds_bucket", 1, 2, "model", "m\"1\"", "le", "0.25");
    expect("conf_latency_seconds_bucket", 3, 2, "model", "m\"1\"", "le", "0.5");
    expected_sample *s = expect("conf_latency_seconds_bucket", 4, 2, "model", "m\"1\"", "le", "1");
    s->exemplar = &trace_exemplar;
    s->exemplar_value = 0.75;
    expect("conf_latency_seconds_bucket", 5, 2, "model", "m\"1\"", "le", "+Inf");
    expect("conf_latency_seconds_sum", 3.625, 1, "model", "m\"1\"");
    expect("conf_latency_seconds_count", 5, 1, "model", "m\"1\"");

    /* The presets and helpers, unlabelled. */
    tally_histogram *fast = checked(tally_histogram_new(reg, "conf_fast_seconds", "Fast ops.",
                                                        TALLY_BUCKETS(tally_buckets_fast), &err),
                                    "fast preset");
    tally_histogram_observe(fast, 0.02);
    expect("conf_fast_seconds_bucket", 0, 1, "le", "0.01");
    expect("conf_fast_seconds_bucket", 1, 1, "le", "0.05");
    expect("conf_fast_seconds_bucket", 1, 1, "le", "+Inf");
    expect("conf_fast_seconds_count", 1, 0);
    checked(tally_histogram_new(reg, "conf_medium_seconds", "Medium ops.",
                                TALLY_BUCKETS(tally_buckets_medium), &err), "medium preset");
    tally_histogram_observe(tally_histogram_new(reg, "conf_slow_seconds", "Slow ops.",
                                                TALLY_BUCKETS(tally_buckets_slow), &err), 45);
    expect("conf_slow_seconds_bucket", 0, 1, "le", "30");
    expect("conf_slow_seconds_bucket", 1, 1, "le", "60");
    expect("conf_slow_seconds_sum", 45, 0);

    double exp_buckets[4];
    check(tally_buckets_exponential(exp_buckets, 100, 10, 4), "exponential buckets");
    tally_histogram *sizes = checked(tally_histogram_new(reg, "conf_sizes_bytes", "Sizes.",
                                                         exp_buckets, 4, &err), "exp histogram");
    tally_histogram_observe(sizes, 5000);
    expect("conf_sizes_bytes_bucket", 0, 1, "le", "1000");
    expect("conf_sizes_bytes_bucket", 1, 1, "le", "10000");
    expect("conf_sizes_bytes_bucket", 1, 1, "le", "100000");

    double lin_buckets[5];
    check(tally_buckets_linear(lin_buckets, 0.5, 0.25, 5), "linear buckets");
    tally_histogram *ratio = checked(tally_histogram_new(reg, "conf_ratio", "Ratios.",
                                                         lin_buckets, 5, &err), "linear histogram");
    tally_histogram_observe(ratio, 0.8);
    tally_histogram_observe(ratio, 1.5);
    expect("conf_ratio_bucket", 0, 1, "le", "0.75");
    expect("conf_ratio_bucket", 1, 1, "le", "1");
    expect("conf_ratio_bucket", 1, 1, "le", "1.25");
    expect("conf_ratio_bucket", 2, 1, "le", "1.5");
    expect("conf_ratio_bucket", 2, 1, "le", "+Inf");
    expect("conf_ratio_sum", 2.3, 0);
}

static void build_summaries(tally_registry *reg)
{
    tally_err err = TALLY_OK;
    static const double quantiles[] = { 0.5, 0.9 };
    tally_opts opts = { .name = "conf_tokens", .help = "Tokens per request.",
                        .label_names = (const char *const[]){ "provider" }, .label_count = 1 };
    tally_summary_opts sopts = { .quantiles = quantiles, .quantile_count = 2 };
    tally_family *fam = checked(tally_family_new(reg, TALLY_SUMMARY, &opts, NULL, &sopts, &err),
                                "summary family");
    tally_summary *s = checked(tally_summary_labels(fam, "p\\1"), "summary child");
    for (int i = 1; i <= 100; i++)
        tally_summary_observe(s, i);
    expect("conf_tokens", tally_summary_quantile(s, 0.5), 2, "provider", "p\\1", "quantile", "0.5");
    expect("conf_tokens", tally_summary_quantile(s, 0.9), 2, "provider", "p\\1", "quantile", "0.9");
    expect("conf_tokens_sum", 5050, 1, "provider", "p\\1");
    expect("conf_tokens_count", 100, 1, "provider", "p\\1");

    tally_opts plain = { .name = "conf_cost_dollars", .help = "Cost.", .unit = "dollars" };
    tally_family *cost = checked(tally_family_new(reg, TALLY_SUMMARY, &plain, NULL, NULL, &err),
                                 "plain summary");
    tally_summary_observe(tally_summary_get(cost), 0.5);
    tally_summary_observe(tally_summary_get(cost), 0.25);
    expect("conf_cost_dollars_sum", 0.75, 0);
    expect("conf_cost_dollars_count", 2, 0);
}

static void build_info_stateset_capped(tally_registry *reg)
{
    tally_err err = TALLY_OK;
    tally_opts info = { .name = "conf_build", .help = "Build information.",
                        .label_names = (const char *const[]){ "version", "revision" },
                        .label_count = 2 };
    tally_family *build = checked(tally_family_new(reg, TALLY_INFO, &info, NULL, NULL, &err),
                                  "info family");
    check(tally_info_set(build, (const char *const[]){ "0.0.1", "old" }), "info set");
    check(tally_info_set(build, (const char *const[]){ "1.2.3", "abc\"def" }), "info set");
    expect("conf_build_info", 1, 2, "version", "1.2.3", "revision", "abc\"def");

    tally_opts ss = { .name = "conf_breaker", .help = "Circuit breaker state.",
                      .label_names = (const char *const[]){ "provider", "conf_breaker" },
                      .label_count = 2 };
    tally_family *breaker = checked(tally_family_new(reg, TALLY_STATESET, &ss, NULL, NULL, &err),
                                    "stateset family");
    const char *const states[] = { "closed", "open", "half_open" };
    check(tally_stateset_declare(breaker, states, 3), "stateset declare");
    check(tally_stateset_set(breaker, (const char *const[]){ "openai" }, "open"), "stateset set");
    expect("conf_breaker", 0, 2, "provider", "openai", "conf_breaker", "closed");
    expect("conf_breaker", 1, 2, "provider", "openai", "conf_breaker", "open");
    expect("conf_breaker", 0, 2, "provider", "openai", "conf_breaker", "half_open");

    /* Two children allowed: the third and fourth label sets fold into the
     * overflow child, and the self-metric counts them. */
    tally_opts capped = { .name = "conf_capped", .help = "Capped family.",
                          .label_names = (const char *const[]){ "user" }, .label_count = 1,
                          .max_children = 2 };
    tally_family *cap = checked(tally_family_new(reg, TALLY_COUNTER, &capped, NULL, NULL, &err),
                                "capped family");
    const char *users[] = { "u1", "u2", "u3", "u4" };
    for (size_t i = 0; i < 4; i++)
        tally_counter_inc(checked(tally_counter_labels(cap, users[i]), "capped child"));
    expect("conf_capped_total", 1, 1, "user", "u1");
    expect("conf_capped_total", 1, 1, "user", "u2");
    expect("conf_capped_total", 2, 1, "user", "__overflow__");
    expect("tally_series_overflow_total", 2, 1, "family", "conf_capped");
}

/* A collector: families computed at scrape time. */
static const tally_desc collected[] = {
    { .type = TALLY_COUNTER, .name = "conf_collected_events", .help = "Collected events.",
      .label_names = (const char *const[]){ "source" }, .label_count = 1 },
    { .type = TALLY_GAUGE, .name = "conf_collected_temp_celsius", .help = "Temperature.",
      .unit = "celsius" },
    { .type = TALLY_HISTOGRAM, .name = "conf_collected_latency_seconds", .help = "Latency.",
      .label_names = (const char *const[]){ "op" }, .label_count = 1,
      .buckets = (const double[]){ 0.1, 1 }, .bucket_count = 2 },
    { .type = TALLY_SUMMARY, .name = "conf_collected_size_bytes", .help = "Sizes.",
      .unit = "bytes", .quantiles = (const double[]){ 0.5 }, .quantile_count = 1 },
    { .type = TALLY_UNTYPED, .name = "conf_collected_legacy", .help = "An untyped value.",
      .label_names = (const char *const[]){ "kind" }, .label_count = 1 },
};
#define COLLECTED_COUNT (sizeof(collected) / sizeof(collected[0]))

static void collect(tally_emit *e, void *user)
{
    (void)user;
    check(tally_emit_counter(e, 0, (const char *const[]){ "a\"b" }, 12), "emit counter");
    check(tally_emit_gauge(e, 1, NULL, 21.5), "emit gauge");
    check(tally_emit_histogram(e, 2, (const char *const[]){ "read" },
                               (const uint64_t[]){ 2, 5, 7 }, 3.5, 7), "emit histogram");
    check(tally_emit_summary(e, 3, NULL, (const double[]){ 100 }, 1000, 8), "emit summary");
    check(tally_emit_gauge(e, 4, (const char *const[]){ "old\\style" }, -0.125), "emit untyped");
}

static void build_collectors(tally_registry *reg)
{
    check(tally_collector_register(reg, "system", collected, COLLECTED_COUNT, collect, NULL, NULL),
          "collector");
    expect("conf_collected_events_total", 12, 1, "source", "a\"b");
    expect("conf_collected_temp_celsius", 21.5, 0);
    expect("conf_collected_latency_seconds_bucket", 2, 2, "op", "read", "le", "0.1");
    expect("conf_collected_latency_seconds_bucket", 5, 2, "op", "read", "le", "1");
    expect("conf_collected_latency_seconds_bucket", 7, 2, "op", "read", "le", "+Inf");
    expect("conf_collected_latency_seconds_sum", 3.5, 1, "op", "read");
    expect("conf_collected_latency_seconds_count", 7, 1, "op", "read");
    expect("conf_collected_size_bytes", 100, 1, "quantile", "0.5");
    expect("conf_collected_size_bytes_sum", 1000, 0);
    expect("conf_collected_size_bytes_count", 8, 0);
    expect("conf_collected_legacy", -0.125, 1, "kind", "old\\style");
    check(tally_process_collector_register(reg, NULL), "process collector");
}

/* ------------------------------------------------------------- output */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Non-finite numbers go out as strings Python's float() understands. */
static void json_number(FILE *f, double v)
{
    if (isnan(v))
        fputs("\"nan\"", f);
    else if (isinf(v))
        fputs(v > 0 ? "\"inf\"" : "\"-inf\"", f);
    else
        fprintf(f, "%.17g", v);
}

static void json_labels(FILE *f, const char *const *names, const char *const *values, size_t n)
{
    fputc('{', f);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputc(',', f);
        json_string(f, names[i]);
        fputc(':', f);
        json_string(f, values[i]);
    }
    fputc('}', f);
}

static void write_expected(const char *path)
{
    FILE *f = checked(fopen(path, "w"), path);
    fputs("{\"samples\": [\n", f);
    for (size_t i = 0; i < expected_count; i++) {
        const expected_sample *s = &expected[i];
        fputs(i > 0 ? ",\n {\"name\": " : " {\"name\": ", f);
        json_string(f, s->name);
        fputs(", \"labels\": ", f);
        json_labels(f, s->label_names, s->label_values, s->label_count);
        fputs(", \"value\": ", f);
        json_number(f, s->value);
        if (s->exemplar != NULL) {
            fputs(", \"exemplar\": {\"labels\": ", f);
            json_labels(f, s->exemplar->label_names, s->exemplar->label_values,
                        s->exemplar->label_count);
            fputs(", \"value\": ", f);
            json_number(f, s->exemplar_value);
            fputs(", \"timestamp\": ", f);
            json_number(f, s->exemplar->timestamp);
            fputc('}', f);
        }
        fputc('}', f);
    }
    fputs("\n]}\n", f);
    fclose(f);
}

static void write_rendering(tally_registry *reg, tally_format fmt, bool gzip, const char *path)
{
    tally_buf out = { 0 };
    tally_err rc = gzip ? tally_render_gzip(reg, fmt, NULL, &out)
                        : tally_render(reg, fmt, NULL, &out);
    check(rc, path);
    FILE *f = checked(fopen(path, "wb"), path);
    if (out.len > 0 && fwrite(out.data, 1, out.len, f) != out.len)
        failures++;
    fclose(f);
    tally_buf_free(&out);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    tally_registry *reg = checked(tally_registry_new(), "registry");
    build_counters(reg);
    build_gauges(reg);
    build_histograms(reg);
    build_summaries(reg);
    build_info_stateset_capped(reg);
    build_collectors(reg);

    char path[4096];
    static const struct { tally_format fmt; bool gzip; const char *file; } outputs[] = {
        { TALLY_FORMAT_TEXT, false, "metrics.txt" },
        { TALLY_FORMAT_TEXT, true, "metrics.txt.gz" },
        { TALLY_FORMAT_OPENMETRICS, false, "metrics.om" },
        { TALLY_FORMAT_OPENMETRICS, true, "metrics.om.gz" },
    };
    for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", argv[1], outputs[i].file);
        write_rendering(reg, outputs[i].fmt, outputs[i].gzip, path);
    }
    snprintf(path, sizeof(path), "%s/expected.json", argv[1]);
    write_expected(path);
    tally_registry_free(reg);
    return failures == 0 ? 0 : 1;
}
