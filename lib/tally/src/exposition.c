/*
 * exposition.c - the renderer: turns the store's family and sample views
 * into Prometheus text format 0.0.4 or OpenMetrics 1.0.0.
 *
 * Speed matters here (a scrape of 100,000 series must take a few ms), so
 * every token is written straight into the output buffer after one reserve:
 * no printf for integers or "decimal-looking" floats, no allocation per
 * sample. The first allocation failure is latched in e->err and every later
 * write becomes a no-op, so callers check once at the end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* 2^53: below it every integer is exact in a double. */
#define EXACT_INT_LIMIT 9007199254740992.0

static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* ------------------------------------------------------------ raw writes */

/* Makes room for n more bytes; 0 once an allocation has failed. The
 * common case (room left) stays inline: this runs several times a line. */
static inline int reserve(tally_emit *e, size_t n)
{
    if (e->err)
        return 0;
    if (n <= e->out->cap - e->out->len)
        return 1;
    int rc = tally__buf_reserve(e->out, n);
    if (rc != TALLY_OK) {
        e->err = rc;
        return 0;
    }
    return 1;
}

static inline void put(tally_emit *e, const char *s, size_t n)
{
    if (!reserve(e, n))
        return;
    memcpy(e->out->data + e->out->len, s, n);
    e->out->len += n;
}

static void put_str(tally_emit *e, const char *s)
{
    put(e, s, strlen(s));
}

/* Writes v in decimal to out (at least 20 bytes); returns the length. */
static size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    char *p = tmp + sizeof(tmp);
    while (v >= 100) {
        unsigned pair = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = digit_pairs[pair + 1];
        *--p = digit_pairs[pair];
    }
    if (v >= 10) {
        unsigned pair = (unsigned)v * 2;
        *--p = digit_pairs[pair + 1];
        *--p = digit_pairs[pair];
    } else {
        *--p = (char)('0' + v);
    }
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(out, p, n);
    return n;
}

/* Fixed-point rendering of v with the fewest fraction digits k that still
 * read back as v, in exact integer arithmetic (no printf, no strtod).
 * v = m / 2^s exactly; N = round(v * 10^k) is the candidate, and the
 * decimal N / 10^k reads back as v iff it lies within half a ulp of v:
 * |N * 2^s - m * 10^k| < 10^k / 2 (a quarter below a power of two, where
 * the gap to the next lower double halves). The fewest fraction digits is
 * the shortest string in fixed notation. Returns 0 when no k <= 17 works
 * or the compiler has no 128-bit integers (the caller then uses printf). */
static size_t fmt_fixed(char *out, double v)
{
#ifdef __SIZEOF_INT128__
    typedef unsigned __int128 u128;
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    int biased_exp = (int)((bits >> 52) & 0x7ff);
    uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
    int s = 1075 - biased_exp;
    if (biased_exp == 0 || s <= 0 || s > 120)
        return 0;
    u128 pow10 = 1;
    for (int k = 0; k <= 17; k++, pow10 *= 10) {
        u128 scaled = (u128)m * pow10;                 /* v * 10^k * 2^s */
        u128 n = (scaled + ((u128)1 << (s - 1))) >> s;
        if (n >> 63)
            return 0;
        u128 back = n << s;
        u128 diff = back > scaled ? back - scaled : scaled - back;
        bool lower_gap_halves = m == (UINT64_C(1) << 52) && back < scaled;
        if ((lower_gap_halves ? diff * 4 : diff * 2) >= pow10)
            continue;
        char digits[20];
        size_t nd = fmt_u64(digits, (uint64_t)n);
        char *p = out;
        if (v < 0)
            *p++ = '-';
        if (nd <= (size_t)k) {
            *p++ = '0';
            *p++ = '.';
            for (size_t z = nd; z < (size_t)k; z++)
                *p++ = '0';
            memcpy(p, digits, nd);
            p += nd;
        } else {
            size_t int_digits = nd - (size_t)k;
            memcpy(p, digits, int_digits);
            p += int_digits;
            if (k > 0) {
                *p++ = '.';
                memcpy(p, digits + int_digits, (size_t)k);
                p += k;
            }
        }
        return (size_t)(p - out);
    }
#else
    (void)out;
    (void)v;
#endif
    return 0;
}

/* Canonical float: +Inf, -Inf, NaN, integers exactly, otherwise the
 * shortest decimal that strtod maps back to v. `om_canonical` renders
 * integral values as "1.0", as OpenMetrics wants for le and quantile.
 * The longest token is 24 bytes ("-1.2345678901234567e-308"); out must
 * hold TALLY_NUM_MAX. The gatherer writes le and quantile values with it. */
size_t tally__format_double(char *out, double v, bool om_canonical)
{
    if (isnan(v)) {
        memcpy(out, "NaN", 3);
        return 3;
    }
    if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 4);
        return 4;
    }
    if (fabs(v) < EXACT_INT_LIMIT && v == (double)(int64_t)v) {
        size_t n = 0;
        int64_t i = (int64_t)v;
        if (i < 0) {
            out[n++] = '-';
            n += fmt_u64(out + n, (uint64_t)0 - (uint64_t)i);
        } else {
            n += fmt_u64(out + n, (uint64_t)i);
        }
        if (om_canonical) {
            out[n++] = '.';
            out[n++] = '0';
        }
        return n;
    }
    /* Fixed notation from 1e-4 up, where %g would use it too; beyond
     * 1e15 (non-integers there are rare) printf is fine. */
    if (fabs(v) >= 1e-4 && fabs(v) < 1e15) {
        size_t n = fmt_fixed(out, v);
        if (n > 0)
            return n;
    }
    for (int prec = 15; prec <= 17; prec++) {
        int n = snprintf(out, TALLY_NUM_MAX, "%.*g", prec, v);
        if (prec == 17 || strtod(out, NULL) == v)
            return (size_t)n;
    }
    return 0; /* not reached: %.17g always round-trips */
}

static void put_double(tally_emit *e, double v, bool om_canonical)
{
    if (!reserve(e, TALLY_NUM_MAX))
        return;
    e->out->len += tally__format_double(e->out->data + e->out->len, v, om_canonical);
}

static void put_u64(tally_emit *e, uint64_t v)
{
    if (!reserve(e, 20))
        return;
    e->out->len += fmt_u64(e->out->data + e->out->len, v);
}

/* Which characters an escaped string must backslash-escape. */
enum escape_mode {
    ESCAPE_TEXT_HELP,   /* 0.0.4 HELP: backslash, newline */
    ESCAPE_QUOTED       /* label values, OpenMetrics HELP: also double quote */
};

/* Writes s[0..n) escaped at p, which has room for 2n bytes; returns the
 * new end. Unescaped runs are copied whole. */
static char *write_escaped(char *p, const char *s, size_t n, enum escape_mode mode)
{
    const char *run = s, *end = s + n;
    for (const char *c = s; c < end; c++) {
        if (*c != '\\' && *c != '\n' && (*c != '"' || mode == ESCAPE_TEXT_HELP))
            continue;
        memcpy(p, run, (size_t)(c - run));
        p += c - run;
        *p++ = '\\';
        *p++ = *c == '\n' ? 'n' : *c;
        run = c + 1;
    }
    memcpy(p, run, (size_t)(end - run));
    return p + (end - run);
}

static void put_escaped(tally_emit *e, const char *s, enum escape_mode mode)
{
    size_t n = strlen(s);
    if (!reserve(e, 2 * n))
        return;
    char *p = write_escaped(e->out->data + e->out->len, s, n, mode);
    e->out->len = (size_t)(p - e->out->data);
}

/* -------------------------------------------------------------- families */

static const char *text_suffix(tally_type t)
{
    switch (t) {
    case TALLY_COUNTER: return "_total";
    case TALLY_INFO:    return "_info";
    default:            return "";
    }
}

static const char *text_type_word(tally_type t)
{
    switch (t) {
    case TALLY_COUNTER:   return "counter";
    case TALLY_GAUGE:     return "gauge";
    case TALLY_HISTOGRAM: return "histogram";
    case TALLY_SUMMARY:   return "summary";
    case TALLY_INFO:      return "gauge";   /* 0.0.4 has no info type */
    case TALLY_STATESET:  return "gauge";   /* nor stateset */
    default:              return "untyped";
    }
}

static const char *om_type_word(tally_type t)
{
    switch (t) {
    case TALLY_COUNTER:   return "counter";
    case TALLY_GAUGE:     return "gauge";
    case TALLY_HISTOGRAM: return "histogram";
    case TALLY_SUMMARY:   return "summary";
    case TALLY_INFO:      return "info";
    case TALLY_STATESET:  return "stateset";
    default:              return "unknown";
    }
}

/* 0.0.4 names the family after its sample (x_total, x_info), as
 * client_golang does; OpenMetrics names the family without the suffix. An
 * empty help is left out: both formats make HELP optional. */
static void write_header(tally_emit *e, const tally__family_view *f)
{
    bool om = e->fmt == TALLY_FORMAT_OPENMETRICS;
    const char *suffix = om ? "" : text_suffix(f->type);
    if (f->help[0] != '\0') {
        put(e, "# HELP ", 7);
        put_str(e, f->name);
        put_str(e, suffix);
        put(e, " ", 1);
        put_escaped(e, f->help, om ? ESCAPE_QUOTED : ESCAPE_TEXT_HELP);
        put(e, "\n", 1);
    }
    put(e, "# TYPE ", 7);
    put_str(e, f->name);
    put_str(e, suffix);
    put(e, " ", 1);
    put_str(e, om ? om_type_word(f->type) : text_type_word(f->type));
    put(e, "\n", 1);
    if (om && f->unit != NULL && f->unit[0] != '\0') {
        put(e, "# UNIT ", 7);
        put_str(e, f->name);
        put(e, " ", 1);
        put_str(e, f->unit);
        put(e, "\n", 1);
    }
}

/* --------------------------------------------------------------- samples */

/* An extra label appended to (or, for statesets, placed among) a sample's
 * own labels: le, quantile or the state. */
typedef struct extra_label {
    const char *name;       /* NULL = none */
    const char *value;      /* escaped on output */
    size_t position;        /* index among the family's label names */
} extra_label;

/* One name="value" pair, comma-separated from the previous one; a single
 * reserve covers the worst case of the escaped value. */
static void put_label(tally_emit *e, bool *first, const char *name, const char *value)
{
    size_t name_len = strlen(name), value_len = strlen(value);
    if (!reserve(e, name_len + 2 * value_len + 4))
        return;
    char *p = e->out->data + e->out->len;
    if (!*first)
        *p++ = ',';
    *first = false;
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = '=';
    *p++ = '"';
    p = write_escaped(p, value, value_len, ESCAPE_QUOTED);
    *p++ = '"';
    e->out->len = (size_t)(p - e->out->data);
}

/* name + suffix + {labels} + " ". For statesets the family's label names
 * include the state label, which `extra` fills in at its position. */
static void put_series(tally_emit *e, const tally__family_view *f, const char *suffix,
                       const tally__sample_view *s, const extra_label *extra)
{
    put_str(e, f->name);
    put_str(e, suffix);
    size_t own = f->label_count;
    if (f->type == TALLY_STATESET && own > 0)
        own--;
    if (own == 0 && extra == NULL) {
        put(e, " ", 1);
        return;
    }
    put(e, "{", 1);
    bool first = true;
    size_t value_index = 0;
    for (size_t i = 0; i < f->label_count; i++) {
        if (extra != NULL && f->type == TALLY_STATESET && i == extra->position) {
            put_label(e, &first, extra->name, extra->value);
            continue;
        }
        if (value_index < own)
            put_label(e, &first, f->label_names[i], s->label_values[value_index++]);
    }
    if (extra != NULL && (f->type != TALLY_STATESET || extra->position >= f->label_count))
        put_label(e, &first, extra->name, extra->value);
    put(e, "} ", 2);
}

/* OpenMetrics exemplar: " # {labels} value [timestamp]". */
static void put_exemplar(tally_emit *e, const tally__exemplar_view *x)
{
    if (e->fmt != TALLY_FORMAT_OPENMETRICS || x == NULL || x->label_count == 0)
        return;
    put(e, " # {", 4);
    bool first = true;
    for (size_t i = 0; i < x->label_count; i++)
        put_label(e, &first, x->label_names[i], x->label_values[i]);
    put(e, "} ", 2);
    put_double(e, x->value, false);
    if (x->timestamp != 0) {
        put(e, " ", 1);
        put_double(e, x->timestamp, false);
    }
}

static void put_created(tally_emit *e, const tally__family_view *f, const tally__sample_view *s)
{
    if (e->fmt != TALLY_FORMAT_OPENMETRICS || s->created == 0)
        return;
    put_series(e, f, "_created", s, NULL);
    put_double(e, s->created, false);
    put(e, "\n", 1);
}

static void put_sum_count(tally_emit *e, const tally__family_view *f, const tally__sample_view *s)
{
    put_series(e, f, "_sum", s, NULL);
    put_double(e, s->sum, false);
    put(e, "\n", 1);
    put_series(e, f, "_count", s, NULL);
    put_u64(e, s->count);
    put(e, "\n", 1);
}

static void emit_histogram(tally_emit *e, const tally__family_view *f, const tally__sample_view *s)
{
    bool om = e->fmt == TALLY_FORMAT_OPENMETRICS;
    char le[TALLY_NUM_MAX + 1];
    extra_label extra = { "le", le, SIZE_MAX };
    for (size_t i = 0; i <= f->bucket_count; i++) {
        if (i < f->bucket_count)
            le[tally__format_double(le, f->buckets[i], om)] = '\0';
        else
            memcpy(le, "+Inf", 5);
        put_series(e, f, "_bucket", s, &extra);
        put_u64(e, s->cumulative[i]);
        put_exemplar(e, s->exemplars != NULL ? &s->exemplars[i] : NULL);
        put(e, "\n", 1);
    }
    put_sum_count(e, f, s);
    put_created(e, f, s);
}

static void emit_summary(tally_emit *e, const tally__family_view *f, const tally__sample_view *s)
{
    char q[TALLY_NUM_MAX + 1];
    extra_label extra = { "quantile", q, SIZE_MAX };
    for (size_t i = 0; i < f->quantile_count; i++) {
        q[tally__format_double(q, f->quantiles[i], e->fmt == TALLY_FORMAT_OPENMETRICS)] = '\0';
        put_series(e, f, "", s, &extra);
        put_double(e, s->quantile_values[i], false);
        put(e, "\n", 1);
    }
    put_sum_count(e, f, s);
    put_created(e, f, s);
}

static void emit_stateset(tally_emit *e, const tally__family_view *f, const tally__sample_view *s)
{
    /* The state label is the one named like the family (OpenMetrics rule). */
    size_t position = f->label_count;
    for (size_t i = 0; i < f->label_count; i++) {
        if (strcmp(f->label_names[i], f->name) == 0) {
            position = i;
            break;
        }
    }
    for (size_t i = 0; i < f->state_count; i++) {
        extra_label extra = { f->name, f->states[i], position };
        put_series(e, f, "", s, &extra);
        put(e, s->state_values[i] ? "1\n" : "0\n", 2);
    }
}

void tally__render_sample(tally_emit *e, const tally__family_view *f, const tally__sample_view *s)
{
    if (e->err)
        return;
    if (f != e->current) {
        write_header(e, f);
        e->current = f;
    }
    switch (f->type) {
    case TALLY_COUNTER:
        put_series(e, f, "_total", s, NULL);
        put_double(e, s->value, false);
        put_exemplar(e, s->exemplars);
        put(e, "\n", 1);
        put_created(e, f, s);
        break;
    case TALLY_HISTOGRAM:
        emit_histogram(e, f, s);
        break;
    case TALLY_SUMMARY:
        emit_summary(e, f, s);
        break;
    case TALLY_INFO:
        put_series(e, f, "_info", s, NULL);
        put(e, "1\n", 2);
        break;
    case TALLY_STATESET:
        emit_stateset(e, f, s);
        break;
    default: /* gauge, untyped */
        put_series(e, f, "", s, NULL);
        put_double(e, s->value, false);
        put(e, "\n", 1);
        break;
    }
}
