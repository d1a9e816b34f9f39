/*
 * negotiate.c - picks the exposition format from an HTTP Accept header and
 * gzip from Accept-Encoding (RFC 9110 section 12.5: q-values, media-type
 * parameters, wildcards, most specific range wins).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* One element of a comma-separated header: "token;param=value;q=0.5". */
typedef struct header_element {
    const char *token;       /* media range or coding, not NUL-terminated */
    size_t token_len;
    const char *version;     /* value of a version= parameter, or NULL */
    size_t version_len;
    double q;                /* 1 when absent; -1 when malformed */
} header_element;

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool span_equals(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* A qvalue: "0", "0.xxx", "1", "1.000" (at most three decimals). */
static double parse_q(const char *s, size_t n)
{
    if (n == 0 || n > 5 || (s[0] != '0' && s[0] != '1'))
        return -1;
    if (n > 1 && s[1] != '.')
        return -1;
    double q = s[0] - '0';
    double scale = 0.1;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1 ? -1 : q;
}

/* Parses the element starting at p into *el; returns where the next one
 * starts, or NULL at the end of the header. Quoted parameter values may
 * hold commas and semicolons. */
static const char *next_element(const char *p, header_element *el)
{
    while (is_space(*p) || *p == ',')
        p++;
    if (*p == '\0')
        return NULL;
    memset(el, 0, sizeof(*el));
    el->q = 1;
    el->token = p;
    while (*p && *p != ';' && *p != ',')
        p++;
    el->token_len = (size_t)(p - el->token);
    while (el->token_len > 0 && is_space(el->token[el->token_len - 1]))
        el->token_len--;
    while (*p == ';') {
        p++;
        while (is_space(*p))
            p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ';' && *p != ',' && !is_space(*p))
            p++;
        size_t name_len = (size_t)(p - name);
        while (is_space(*p))
            p++;
        const char *value = p;
        size_t value_len = 0;
        if (*p == '=') {
            p++;
            while (is_space(*p))
                p++;
            if (*p == '"') {
                value = ++p;
                while (*p && *p != '"') {
                    if (*p == '\\' && p[1] != '\0')
                        p++;
                    p++;
                }
                value_len = (size_t)(p - value);
                if (*p == '"')
                    p++;
            } else {
                value = p;
                while (*p && *p != ';' && *p != ',' && !is_space(*p))
                    p++;
                value_len = (size_t)(p - value);
            }
        }
        if (span_equals(name, name_len, "q"))
            el->q = parse_q(value, value_len);
        else if (span_equals(name, name_len, "version")) {
            el->version = value;
            el->version_len = value_len;
        }
        while (*p && *p != ';' && *p != ',')
            p++;
    }
    return p;
}

/* How specifically a range names a format: not at all, by the full
 * wildcard, by a type wildcard such as "text/" + "*", or exactly. */
enum { MATCH_NONE, MATCH_ANY, MATCH_TYPE, MATCH_EXACT };

static int match_openmetrics(const header_element *el)
{
    if (span_equals(el->token, el->token_len, "application/openmetrics-text")) {
        if (el->version == NULL || span_equals(el->version, el->version_len, "1.0.0"))
            return MATCH_EXACT;
        return MATCH_NONE;   /* a version we do not speak */
    }
    if (span_equals(el->token, el->token_len, "application/*"))
        return MATCH_TYPE;
    if (span_equals(el->token, el->token_len, "*/*"))
        return MATCH_ANY;
    return MATCH_NONE;
}

static int match_text(const header_element *el)
{
    if (span_equals(el->token, el->token_len, "text/plain")) {
        if (el->version == NULL || span_equals(el->version, el->version_len, "0.0.4"))
            return MATCH_EXACT;
        return MATCH_NONE;
    }
    if (span_equals(el->token, el->token_len, "text/*"))
        return MATCH_TYPE;
    if (span_equals(el->token, el->token_len, "*/*"))
        return MATCH_ANY;
    return MATCH_NONE;
}

/* The q a format gets: that of the most specific range matching it (the
 * highest q among equally specific ones); 0 when nothing matches. */
typedef struct format_score {
    int match;
    double q;
} format_score;

static void score(format_score *s, int match, double q)
{
    if (match == MATCH_NONE)
        return;
    if (match > s->match || (match == s->match && q > s->q)) {
        s->match = match;
        s->q = q;
    }
}

const char *tally_content_type(tally_format fmt)
{
    return fmt == TALLY_FORMAT_OPENMETRICS ? TALLY_CONTENT_TYPE_OPENMETRICS
                                           : TALLY_CONTENT_TYPE_TEXT;
}

tally_format tally_negotiate_format(const char *accept)
{
    if (accept == NULL)
        return TALLY_FORMAT_TEXT;
    format_score om = { MATCH_NONE, 0 }, text = { MATCH_NONE, 0 };
    header_element el;
    for (const char *p = next_element(accept, &el); p != NULL; p = next_element(p, &el)) {
        if (el.q < 0)
            continue;   /* malformed q: ignore the range */
        score(&om, match_openmetrics(&el), el.q);
        score(&text, match_text(&el), el.q);
    }
    if (om.q > text.q)
        return TALLY_FORMAT_OPENMETRICS;
    /* A tie goes to OpenMetrics only when the client named it: a bare
     * wildcard means "anything", and text is what every scraper reads. */
    if (om.q > 0 && om.q == text.q && om.match == MATCH_EXACT)
        return TALLY_FORMAT_OPENMETRICS;
    return TALLY_FORMAT_TEXT;
}

bool tally_negotiate_gzip(const char *accept_encoding)
{
    if (accept_encoding == NULL)
        return false;
    format_score gzip = { MATCH_NONE, 0 };
    header_element el;
    for (const char *p = next_element(accept_encoding, &el); p != NULL;
         p = next_element(p, &el)) {
        if (el.q < 0)
            continue;
        if (span_equals(el.token, el.token_len, "gzip") ||
            span_equals(el.token, el.token_len, "x-gzip"))
            score(&gzip, MATCH_EXACT, el.q);
        else if (span_equals(el.token, el.token_len, "*"))
            score(&gzip, MATCH_ANY, el.q);
    }
    return gzip.q > 0;
}
