/*
 * fuzz_tally.c - libFuzzer target: arbitrary names, help strings, units,
 * label names and values, exemplars and values go through registration,
 * updates, rendering in both formats and gathering. The output must pass a
 * small strict line checker of the exposition grammar, may only name
 * families that registration accepted, must be valid UTF-8 and, for
 * OpenMetrics, end in "# EOF"; tally_gather must visit exactly the samples
 * of the text rendering, under accepted names. ASan/UBSan/LSan catch
 * crashes and leaks.
 *
 * Input: a sequence of operations. Each is one selector byte followed by
 * NUL-separated strings and raw 8-byte doubles, consumed as the operation
 * needs them (running out just yields empty strings and zeros). Selector
 * bits 0-2: counter, gauge, histogram, summary, info, stateset, collector
 * (7 = stateset too); 0x80: a unit follows; 0x40: one label; 0x20: cap of
 * two children; 0x10: the collector's family is a counter; 0x08: a
 * namespace follows (not for collectors).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

#define MAX_OPS 24
#define MAX_FAMILIES 32

typedef struct input {
    char *p;
    char *end;
} input;

static unsigned take_byte(input *in)
{
    return in->p < in->end ? (unsigned char)*in->p++ : 0;
}

/* The copy of the input ends in a NUL, so every string is terminated. */
static const char *take_str(input *in)
{
    const char *s = in->p;
    if (in->p >= in->end)
        return "";
    while (in->p < in->end && *in->p != '\0')
        in->p++;
    if (in->p < in->end)
        in->p++;
    return s;
}

static double take_double(input *in)
{
    double v = 0;
    if (in->end - in->p >= (long)sizeof(v)) {
        memcpy(&v, in->p, sizeof(v));
        in->p += sizeof(v);
    }
    return v;
}

/* ---------------------------------------------------------------- checker */

static const char *checked_doc;

static void fail(const char *why, const char *line, size_t len)
{
    fprintf(stderr, "fuzz_tally: %s in line: %.*s\n--- document ---\n%s\n", why, (int)len,
            line, checked_doc);
    abort();
}

typedef struct line {
    const char *s;
    size_t n;
    size_t i;
} line;

static bool at(const line *l, char c)
{
    return l->i < l->n && l->s[l->i] == c;
}

static bool expect_char(line *l, char c)
{
    if (!at(l, c))
        return false;
    l->i++;
    return true;
}

static bool name_char(char c, bool first, bool colon_ok)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (c == ':')
        return colon_ok;
    return !first && c >= '0' && c <= '9';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (metric) or without ':' (label); returns length. */
static size_t scan_name(line *l, bool metric)
{
    size_t start = l->i;
    while (l->i < l->n && name_char(l->s[l->i], l->i == start, metric))
        l->i++;
    return l->i - start;
}

/* An OpenMetrics unit: one or more metricname-char ([a-zA-Z0-9_:]), a
 * digit first included (the ABNF allows "1"); returns length. */
static size_t scan_unit(line *l)
{
    size_t start = l->i;
    while (l->i < l->n && name_char(l->s[l->i], false, true))
        l->i++;
    return l->i - start;
}

/* -?digits[.digits][e[+-]digits] | +Inf | -Inf | NaN, up to a space or
 * the end of the line. */
static bool scan_number(line *l)
{
    const char *s = l->s + l->i;
    size_t n = 0;
    while (l->i + n < l->n && s[n] != ' ')
        n++;
    l->i += n;
    if ((n == 4 && (memcmp(s, "+Inf", 4) == 0 || memcmp(s, "-Inf", 4) == 0)) ||
        (n == 3 && memcmp(s, "NaN", 3) == 0))
        return true;
    size_t i = 0, digits = 0;
    if (i < n && s[i] == '-')
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (digits == 0)
        return false;
    if (i < n && s[i] == '.') {
        size_t frac = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            frac++;
        if (frac == 0)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            exp++;
        if (exp == 0)
            return false;
    }
    return i == n;
}

/* Escaped text up to `stop` (a quote) or the end of the line; `escapes`
 * lists the characters allowed after a backslash. */
static bool scan_escaped(line *l, char stop, const char *escapes)
{
    while (l->i < l->n && l->s[l->i] != stop) {
        if (l->s[l->i] == '\\') {
            if (l->i + 1 >= l->n || strchr(escapes, l->s[l->i + 1]) == NULL ||
                l->s[l->i + 1] == '\0')
                return false;
            l->i++;
        } else if (stop == '\0' && l->s[l->i] == '"' && strchr(escapes, '"') != NULL) {
            return false;   /* OpenMetrics HELP escapes quotes */
        }
        l->i++;
    }
    return true;
}

/* {name="value",...} with at least one pair. */
static bool scan_labels(line *l)
{
    if (!expect_char(l, '{'))
        return false;
    do {
        if (scan_name(l, false) == 0 || !expect_char(l, '=') || !expect_char(l, '"') ||
            !scan_escaped(l, '"', "\\\"n") || !expect_char(l, '"'))
            return false;
    } while (expect_char(l, ','));
    return expect_char(l, '}');
}

/* Base names of accepted families (not NUL-terminated: a collector's
 * counter "x_total" has base "x", a prefix of the name it was given). */
typedef struct allowed {
    const char *names[MAX_FAMILIES];
    size_t lengths[MAX_FAMILIES];
    size_t count;
} allowed;

static void allow(allowed *a, const char *name, size_t len)
{
    if (a->count < MAX_FAMILIES) {
        a->names[a->count] = name;
        a->lengths[a->count++] = len;
    }
}

static const char *const suffixes[] = { "", "_total", "_created", "_bucket", "_sum", "_count",
                                        "_info" };

/* A name in the output must be a registered family's plus a suffix, or
 * tally's own overflow counter. */
static bool name_allowed(const allowed *a, const char *name, size_t n)
{
    static const char self[] = "tally_series_overflow";
    for (size_t f = 0; f <= a->count; f++) {
        const char *base = f < a->count ? a->names[f] : self;
        size_t bn = f < a->count ? a->lengths[f] : strlen(self);
        if (n < bn || memcmp(name, base, bn) != 0)
            continue;
        for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++) {
            if (n - bn == strlen(suffixes[s]) && memcmp(name + bn, suffixes[s], n - bn) == 0)
                return true;
        }
    }
    return false;
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        }
        i += len;
    }
    return true;
}

static void check_line(line *l, bool om, const allowed *a)
{
    if (l->n >= 2 && l->s[0] == '#') {
        if (om && l->n == 5 && memcmp(l->s, "# EOF", 5) == 0)
            return;
        if (l->n < 7 || (memcmp(l->s, "# HELP ", 7) != 0 && memcmp(l->s, "# TYPE ", 7) != 0 &&
                         (!om || memcmp(l->s, "# UNIT ", 7) != 0)))
            fail("unknown comment", l->s, l->n);
        char kind = l->s[2];
        l->i = 7;
        size_t start = l->i;
        size_t n = scan_name(l, true);
        if (n == 0 || !name_allowed(a, l->s + start, n))
            fail("bad or unregistered family name", l->s, l->n);
        if (!expect_char(l, ' '))
            fail("no space after name", l->s, l->n);
        if (kind == 'H' && !scan_escaped(l, '\0', om ? "\\n\"" : "\\n"))
            fail("bad HELP escaping", l->s, l->n);
        if (kind == 'U' && scan_unit(l) == 0)
            fail("bad unit", l->s, l->n);
        if (kind == 'T') {
            static const char *const types[] = { "counter", "gauge", "histogram", "summary",
                                                 "untyped", "info", "stateset", "unknown" };
            bool known = false;
            for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
                size_t tn = strlen(types[t]);
                if (l->n - l->i == tn && memcmp(l->s + l->i, types[t], tn) == 0)
                    known = (t < 5) || om == (t != 4);
            }
            if (!known)
                fail("bad TYPE", l->s, l->n);
            l->i = l->n;
        }
        if (l->i != l->n)
            fail("trailing bytes", l->s, l->n);
        return;
    }
    size_t n = scan_name(l, true);
    if (n == 0 || !name_allowed(a, l->s, n))
        fail("bad or unregistered sample name", l->s, l->n);
    if (at(l, '{') && !scan_labels(l))
        fail("bad labels", l->s, l->n);
    if (!expect_char(l, ' ') || !scan_number(l))
        fail("bad value", l->s, l->n);
    if (l->i == l->n)
        return;
    if (!om || l->n - l->i < 4 || memcmp(l->s + l->i, " # ", 3) != 0)
        fail("trailing bytes after value", l->s, l->n);
    l->i += 3;
    if (!scan_labels(l) || !expect_char(l, ' ') || !scan_number(l))
        fail("bad exemplar", l->s, l->n);
    if (expect_char(l, ' ') && !scan_number(l))
        fail("bad exemplar timestamp", l->s, l->n);
    if (l->i != l->n)
        fail("trailing bytes after exemplar", l->s, l->n);
}

static void check_document(const tally_buf *b, bool om, const allowed *a)
{
    char *doc = malloc(b->len + 1);
    if (b->len > 0)
        memcpy(doc, b->data, b->len);
    doc[b->len] = '\0';
    checked_doc = doc;
    if (!valid_utf8((const unsigned char *)doc, b->len))
        fail("invalid UTF-8", "", 0);
    if (strlen(doc) != b->len)
        fail("NUL byte in output", "", 0);
    if (b->len > 0 && doc[b->len - 1] != '\n')
        fail("no final newline", "", 0);
    if (om && (b->len < 6 || strcmp(doc + b->len - 6, "# EOF\n") != 0))
        fail("no # EOF at the end", "", 0);
    for (char *p = doc; *p;) {
        char *nl = strchr(p, '\n');
        line l = { p, (size_t)(nl - p), 0 };
        if (om && l.n == 5 && memcmp(p, "# EOF", 5) == 0 && nl[1] != '\0')
            fail("# EOF before the end", p, l.n);
        check_line(&l, om, a);
        p = nl + 1;
    }
    free(doc);
    checked_doc = NULL;
}

/* -------------------------------------------------------------- driver */

/* What a fuzzed collector emits at scrape time. */
typedef struct collected {
    const char *label_value;
    double value;
    bool counter;
} collected;

static void collect(tally_emit *e, void *user)
{
    const collected *c = user;
    const char *values[] = { c->label_value };
    if (c->counter)
        tally_emit_counter(e, 0, values, c->value);
    else
        tally_emit_gauge(e, 0, values, c->value);
}

/* A collector declaring one family named from the input; returns whether
 * registration accepted it. */
static bool add_collector(tally_registry *reg, const tally_opts *opts, const char *value,
                          double v, bool counter)
{
    collected *c = malloc(sizeof(*c));
    if (c == NULL)
        return false;
    *c = (collected){ value, v, counter };
    tally_desc desc = { .type = counter ? TALLY_COUNTER : TALLY_GAUGE, .name = opts->name,
                        .help = opts->help, .unit = opts->unit,
                        .label_names = opts->label_names, .label_count = opts->label_count };
    if (tally_collector_register(reg, NULL, &desc, 1, collect, c, free) == TALLY_OK)
        return true;
    free(c);
    return false;
}

/* tally_family_name is the base name (a counter's without "_total"), to
 * which the output adds the suffixes name_allowed knows. */
static void remember(allowed *a, tally_family *fam)
{
    if (fam != NULL)
        allow(a, tally_family_name(fam), strlen(tally_family_name(fam)));
}

static void run_op(tally_registry *reg, input *in, allowed *a)
{
    unsigned op = take_byte(in);
    const char *name = take_str(in);
    const char *help = take_str(in);
    const char *label = take_str(in);
    const char *value = take_str(in);
    const char *unit = (op & 0x80) ? take_str(in) : NULL;
    const char *ns = (op & 0x08) ? take_str(in) : NULL;
    tally_opts opts = { .namespace_ = (op & 0x07) == 6 ? NULL : ns, .name = name, .help = help,
                        .unit = unit,
                        .label_names = &label, .label_count = (op & 0x40) ? 1 : 0,
                        .max_children = (op & 0x20) ? 2 : 0 };
    const char *values[] = { value };
    const char *ex_names[] = { take_str(in), take_str(in) };
    const char *ex_values[] = { take_str(in), take_str(in) };
    tally_exemplar ex = { ex_names, ex_values, take_byte(in) % 3, take_double(in) };
    double v = take_double(in);
    tally_err err = TALLY_OK;
    tally_family *fam = NULL;

    switch (op & 0x07) {   /* higher bits are flags */
    case 0:
        fam = tally_family_new(reg, TALLY_COUNTER, &opts, NULL, NULL, &err);
        if (fam != NULL) {
            tally_counter *c = tally_counter_with(fam, values);
            if (c != NULL) {
                tally_counter_add(c, v);
                tally_counter_add_exemplar(c, fabs(v), &ex);
            }
        }
        break;
    case 1:
        fam = tally_family_new(reg, TALLY_GAUGE, &opts, NULL, NULL, &err);
        if (fam != NULL && tally_gauge_with(fam, values) != NULL)
            tally_gauge_set(tally_gauge_with(fam, values), v);
        break;
    case 2: {
        double buckets[3] = { take_double(in), take_double(in), take_double(in) };
        tally_histogram_opts hopts = { buckets, 1 + take_byte(in) % 3 };
        fam = tally_family_new(reg, TALLY_HISTOGRAM, &opts, &hopts, NULL, &err);
        tally_histogram *h = fam != NULL ? tally_histogram_with(fam, values) : NULL;
        if (h != NULL) {
            tally_histogram_observe(h, v);
            tally_histogram_observe_exemplar(h, take_double(in), &ex);
        }
        break;
    }
    case 3: {
        double quantiles[2] = { 0.5, take_double(in) };
        tally_summary_opts sopts = { quantiles, take_byte(in) % 3, 0, 0, 0 };
        fam = tally_family_new(reg, TALLY_SUMMARY, &opts, NULL, &sopts, &err);
        tally_summary *s = fam != NULL ? tally_summary_with(fam, values) : NULL;
        if (s != NULL)
            tally_summary_observe(s, v);
        break;
    }
    case 4:
        fam = tally_family_new(reg, TALLY_INFO, &opts, NULL, NULL, &err);
        if (fam != NULL)
            tally_info_set(fam, values);
        break;
    case 6:
        /* A collector's family has no handle: its base is the name as
         * given, minus "_total" for a counter. */
        if (add_collector(reg, &opts, value, v, op & 0x10)) {
            size_t n = strlen(name);
            if ((op & 0x10) && n > 6 && strcmp(name + n - 6, "_total") == 0)
                n -= 6;
            allow(a, name, n);
        }
        break;
    default: {
        /* The state label must be named like the family (the name as given
         * stands for the full one under a namespace). */
        const char *names[] = { label, name };
        opts.label_names = names;
        opts.label_count = 1 + ((op & 0x40) ? 1 : 0);
        if (opts.label_count == 1)
            names[0] = name;
        fam = tally_family_new(reg, TALLY_STATESET, &opts, NULL, NULL, &err);
        const char *states[] = { take_str(in), take_str(in) };
        if (fam != NULL && tally_stateset_declare(fam, states, 2) == TALLY_OK)
            tally_stateset_set(fam, values, states[take_byte(in) % 2]);
        break;
    }
    }
    remember(a, fam);
}

/* What tally_gather visited. */
typedef struct gathered {
    const allowed *a;
    size_t samples;
} gathered;

static void gathered_sample(const tally_desc *f, const tally_sample *s, void *user)
{
    gathered *g = user;
    char name[1024];
    int n = snprintf(name, sizeof(name), "%s%s", f->name, s->suffix);
    if (n < 0 || (size_t)n >= sizeof(name) || !name_allowed(g->a, name, (size_t)n))
        fail("gathered a name registration did not accept", name, strlen(name));
    for (size_t i = 0; i < s->label_count; i++)
        if (!valid_utf8((const unsigned char *)s->label_values[i], strlen(s->label_values[i])))
            fail("gathered a label value that is not UTF-8", name, strlen(name));
    g->samples++;
}

/* The text rendering's sample lines: every line but comments. */
static size_t sample_lines(const tally_buf *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->len; i++)
        if ((i == 0 || b->data[i - 1] == '\n') && b->data[i] != '#')
            n++;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (size > 0)
        memcpy(copy, data, size);
    copy[size] = '\0';
    input in = { copy, copy + size };
    tally_registry *reg = tally_registry_new();
    allowed a = { .count = 0 };
    for (int i = 0; i < MAX_OPS && in.p < in.end; i++)
        run_op(reg, &in, &a);
    for (int fmt = TALLY_FORMAT_TEXT; fmt <= TALLY_FORMAT_OPENMETRICS; fmt++) {
        tally_buf out = { 0 };
        if (tally_render(reg, (tally_format)fmt, NULL, &out) != TALLY_OK)
            fail("render failed", "", 0);
        check_document(&out, fmt == TALLY_FORMAT_OPENMETRICS, &a);
        if (fmt == TALLY_FORMAT_TEXT) {
            gathered g = { &a, 0 };
            if (tally_gather(reg, NULL, NULL, gathered_sample, &g) != TALLY_OK)
                fail("gather failed", "", 0);
            if (g.samples != sample_lines(&out))
                fail("gather and the text rendering differ in samples", "", 0);
        }
        tally_buf_free(&out);
    }
    tally_registry_free(reg);
    free(copy);
    return 0;
}
