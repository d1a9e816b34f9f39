/*
 * validate.c - registration rules: metric and label name grammar, reserved
 * names and suffixes, units, UTF-8, and clashes between families' exposed
 * sample names. Everything returns an error code; nothing here aborts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "store.h"

char *tally__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static bool is_alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool tally__valid_metric_name(const char *s)
{
    if (!s || !*s || !(is_alpha_(*s) || *s == ':'))
        return false;
    for (s++; *s; s++)
        if (!(is_alpha_(*s) || is_digit(*s) || *s == ':'))
            return false;
    return true;
}

bool tally__valid_label_name(const char *s)
{
    if (!s || !*s || !is_alpha_(*s))
        return false;
    for (s++; *s; s++)
        if (!(is_alpha_(*s) || is_digit(*s)))
            return false;
    return true;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
bool tally__valid_utf8(const char *str, size_t len, size_t *chars)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, n = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t extra;
        unsigned cp;
        if (c < 0x80) {
            i++;
            n++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            extra = 1; cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2; cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3; cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += extra + 1;
        n++;
    }
    if (chars)
        *chars = n;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool valid_unit(const char *u)
{
    if (!*u)
        return false;
    for (; *u; u++)
        if (!((*u >= 'a' && *u <= 'z') || is_digit(*u) || *u == '_'))
            return false;
    return true;
}

void tally__view_free(tally__family_view *v)
{
    free((char *)v->name);
    free((char *)v->help);
    free((char *)v->unit);
    for (size_t i = 0; i < v->label_count; i++)
        free((char *)v->label_names[i]);
    free((void *)v->label_names);
    free((void *)v->buckets);
    free((void *)v->quantiles);
    for (size_t i = 0; i < v->state_count; i++)
        free((char *)v->states[i]);
    free((void *)v->states);
    memset(v, 0, sizeof *v);
}

/* names[0..n) are at most TALLY_MAX_LABELS, all present. */
static tally_err check_labels(tally_type type, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!tally__valid_label_name(names[i]))
            return TALLY_ERR_INVALID_LABEL;
        if (strncmp(names[i], "__", 2) == 0 ||
            (type == TALLY_HISTOGRAM && strcmp(names[i], "le") == 0) ||
            (type == TALLY_SUMMARY && strcmp(names[i], "quantile") == 0))
            return TALLY_ERR_RESERVED_LABEL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return TALLY_ERR_DUPLICATE_LABEL;
    }
    return TALLY_OK;
}

/* namespace_subsystem_name, leaving out empty parts as client_golang's
 * BuildFQName does; malloc'd. */
static char *full_name(const char *ns, const char *subsystem, const char *name)
{
    const char *parts[] = {ns, subsystem, name};
    size_t len = 0;
    for (size_t i = 0; i < 3; i++)
        if (parts[i] && *parts[i])
            len += strlen(parts[i]) + 1;
    char *full = malloc(len ? len : 1), *p = full;
    if (!full)
        return NULL;
    for (size_t i = 0; i < 3; i++) {
        if (!parts[i] || !*parts[i])
            continue;
        if (p != full)
            *p++ = '_';
        size_t n = strlen(parts[i]);
        memcpy(p, parts[i], n);
        p += n;
    }
    *p = '\0';
    return full;
}

/* A stateset's state label: the one named like the family's full name,
 * else the one named like the name it was registered with (without
 * namespace and subsystem); n if neither. */
static size_t state_label(const char *const *names, size_t n, const char *fname,
                          const char *given)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], fname) == 0)
            return i;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], given) == 0)
            return i;
    return n;
}

/* Copies n doubles into an array padded with one +Inf to an even length
 * when n is odd, so that histogram observe can compare bounds two at a time
 * (quantile lists share the copy; they never read the padding). The callers
 * bound n by TALLY_MAX_BUCKETS or TALLY_MAX_QUANTILES; the overflow check
 * states here that the sizes cannot wrap (without it, GCC's
 * -Wstringop-overflow follows n == SIZE_MAX, where len wraps to 0, to a
 * memcpy of 2^64 - 8 bytes). */
static tally_err copy_doubles(const double *src, size_t n, const double **dst)
{
    size_t len = n + (n & 1);
    size_t bytes;
    if (len < n || __builtin_mul_overflow(len ? len : 1, sizeof(double), &bytes))
        return TALLY_ERR_NOMEM;
    double *d = malloc(bytes);
    if (!d)
        return TALLY_ERR_NOMEM;
    if (n)
        memcpy(d, src, n * sizeof *d);
    for (size_t i = n; i < len; i++)
        d[i] = INFINITY;
    *dst = d;
    return TALLY_OK;
}

static tally_err check_buckets(const double **buckets, size_t *count)
{
    const double *b = *buckets;
    size_t n = *count;
    if (!b) {
        b = tally_buckets_default;
        n = sizeof tally_buckets_default / sizeof tally_buckets_default[0];
    }
    if (n > 0 && isinf(b[n - 1]) && b[n - 1] > 0)
        n--; /* an explicit +Inf is implicit anyway */
    if (n == 0 || n > TALLY_MAX_BUCKETS)
        return TALLY_ERR_BUCKETS;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(b[i]) || (i > 0 && !(b[i] > b[i - 1])))
            return TALLY_ERR_BUCKETS;
    *buckets = b;
    *count = n;
    return TALLY_OK;
}

tally_err tally__view_build(tally__family_view *v, tally_type type, const char *ns,
                            const char *subsystem, const char *name,
                            const char *help, const char *unit,
                            const char *const *label_names, size_t label_count,
                            const double *buckets, size_t bucket_count,
                            const double *quantiles, size_t quantile_count)
{
    memset(v, 0, sizeof *v);
    v->type = type;
    if (type < TALLY_COUNTER || type > TALLY_UNTYPED)
        return TALLY_ERR_FORMAT;
    if (!name || !*name)
        return TALLY_ERR_INVALID_NAME; /* a namespace alone is no name */
    char *fname = full_name(ns, subsystem, name);
    if (!fname)
        return TALLY_ERR_NOMEM;
    v->name = fname;
    if (!tally__valid_metric_name(fname))
        return TALLY_ERR_INVALID_NAME;
    size_t name_len = strlen(fname);
    if (type == TALLY_COUNTER && ends_with(fname, "_total"))
        name_len -= 6;
    else if (type == TALLY_INFO && ends_with(fname, "_info"))
        name_len -= 5;
    if (name_len == 0)
        return TALLY_ERR_INVALID_NAME;
    fname[name_len] = '\0';

    tally_err err = TALLY_OK;
    if (type != TALLY_COUNTER &&
        (ends_with(fname, "_total") || ends_with(fname, "_created") || ends_with(fname, "_bucket")))
        return TALLY_ERR_RESERVED_SUFFIX;
    if (help && !tally__valid_utf8(help, strlen(help), NULL))
        return TALLY_ERR_UTF8;
    if (unit && *unit) {
        if (!valid_unit(unit))
            return TALLY_ERR_UNIT;
        size_t ul = strlen(unit);
        if (name_len < ul + 1 || fname[name_len - ul - 1] != '_' ||
            memcmp(fname + name_len - ul, unit, ul) != 0)
            return TALLY_ERR_UNIT;
    }
    if (label_count > TALLY_MAX_LABELS || (label_count && !label_names))
        return TALLY_ERR_LABEL_COUNT;
    /* The labels as exposed: a stateset's state label under the full name. */
    const char *exposed[TALLY_MAX_LABELS];
    for (size_t i = 0; i < label_count; i++)
        exposed[i] = label_names[i];
    size_t state = label_count;
    if (type == TALLY_STATESET) {
        for (size_t i = 0; i < label_count; i++)
            if (!label_names[i])
                return TALLY_ERR_INVALID_LABEL;
        if ((state = state_label(label_names, label_count, fname, name)) == label_count)
            return TALLY_ERR_INVALID_LABEL; /* a stateset needs its state label */
        exposed[state] = fname;
    }
    if ((err = check_labels(type, exposed, label_count)) != TALLY_OK)
        return err;

    v->help = tally__strdup(help ? help : "");
    v->unit = unit && *unit ? tally__strdup(unit) : NULL;
    if (!v->help || (unit && *unit && !v->unit))
        return TALLY_ERR_NOMEM;
    const char **names = calloc(label_count ? label_count : 1, sizeof *names);
    if (!names)
        return TALLY_ERR_NOMEM;
    v->label_names = names;
    /* A stateset's state label goes last: children are keyed by the others. */
    size_t out = 0;
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < label_count; i++) {
            if ((i == state) != (pass == 1))
                continue;
            if (!(names[out] = tally__strdup(exposed[i])))
                return TALLY_ERR_NOMEM;
            v->label_count = ++out;
        }

    if (type == TALLY_HISTOGRAM) {
        if ((err = check_buckets(&buckets, &bucket_count)) != TALLY_OK)
            return err;
        if ((err = copy_doubles(buckets, bucket_count, &v->buckets)) != TALLY_OK)
            return err;
        v->bucket_count = bucket_count;
    }
    if (type == TALLY_SUMMARY && quantile_count) {
        /* Bounded like buckets, and before the array is read: a garbage
         * count (a negative int passed as size_t) is an error, not a read
         * past the caller's array. */
        if (!quantiles || quantile_count > TALLY_MAX_QUANTILES)
            return TALLY_ERR_QUANTILES;
        for (size_t i = 0; i < quantile_count; i++)
            if (!(quantiles[i] >= 0 && quantiles[i] <= 1))
                return TALLY_ERR_QUANTILES;
        if ((err = copy_doubles(quantiles, quantile_count, &v->quantiles)) != TALLY_OK)
            return err;
        v->quantile_count = quantile_count;
    }
    return TALLY_OK;
}

/* The names a family puts in the exposition: its own name and its samples'. */
static size_t exposed_names(const tally__family_view *v, char out[5][512])
{
    static const char *const suffixes[][5] = {
        [TALLY_COUNTER] = {"", "_total", "_created", NULL},
        [TALLY_GAUGE] = {"", NULL},
        [TALLY_HISTOGRAM] = {"", "_bucket", "_count", "_sum", "_created"},
        [TALLY_SUMMARY] = {"", "_count", "_sum", "_created", NULL},
        [TALLY_INFO] = {"", "_info", NULL},
        [TALLY_STATESET] = {"", NULL},
        [TALLY_UNTYPED] = {"", NULL},
    };
    size_t n = 0;
    for (; n < 5 && suffixes[v->type][n]; n++)
        snprintf(out[n], 512, "%s%s", v->name, suffixes[v->type][n]);
    return n;
}

tally_err tally__views_clash(const tally__family_view *a, const tally__family_view *b)
{
    if (strcmp(a->name, b->name) == 0)
        return TALLY_ERR_DUPLICATE;
    char na[5][512], nb[5][512];
    size_t ca = exposed_names(a, na), cb = exposed_names(b, nb);
    for (size_t i = 0; i < ca; i++)
        for (size_t j = 0; j < cb; j++)
            if (strcmp(na[i], nb[j]) == 0)
                return TALLY_ERR_SUFFIX_CLASH;
    return TALLY_OK;
}

tally_err tally__check_clash(tally_registry *reg, const tally__family_view *v)
{
    if (strlen(v->name) > 400)
        return TALLY_ERR_INVALID_NAME; /* keeps exposed_names() exact */
    for (tally__entry *e = reg->first; e; e = e->next) {
        tally_err err;
        if (e->fam && (err = tally__views_clash(v, &e->fam->view)) != TALLY_OK)
            return err;
        if (e->col)
            for (size_t i = 0; i < e->col->view_count; i++)
                if ((err = tally__views_clash(v, &e->col->views[i])) != TALLY_OK)
                    return err;
    }
    return TALLY_OK;
}
