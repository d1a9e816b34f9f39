/*
 * test_expo_negotiate.c - Accept and Accept-Encoding negotiation: q-values,
 * media-type parameters, wildcards, exclusions, malformed input, and the
 * exact Content-Type strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tally.h"

#define OM TALLY_FORMAT_OPENMETRICS
#define TEXT TALLY_FORMAT_TEXT

typedef struct accept_case {
    const char *accept;
    tally_format want;
} accept_case;

typedef struct encoding_case {
    const char *accept_encoding;
    bool want_gzip;
} encoding_case;

/* Each case in turn; a failure names the header that went wrong. */
static void check_formats(const accept_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tally_format got = tally_negotiate_format(cases[i].accept);
        if (got != cases[i].want)
            fail_msg("Accept: %s -> %s, want %s", cases[i].accept ? cases[i].accept : "(none)",
                     got == OM ? "OpenMetrics" : "text",
                     cases[i].want == OM ? "OpenMetrics" : "text");
    }
}

static void check_gzip(const encoding_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tally_negotiate_gzip(cases[i].accept_encoding) != cases[i].want_gzip)
            fail_msg("Accept-Encoding: %s -> gzip %s, want %s",
                     cases[i].accept_encoding ? cases[i].accept_encoding : "(none)",
                     cases[i].want_gzip ? "refused" : "chosen",
                     cases[i].want_gzip ? "chosen" : "refused");
}

static void test_format_defaults(void **state)
{
    (void)state;
    static const accept_case cases[] = {
        { NULL, TEXT },
        { "", TEXT },
        { "   ,  ", TEXT },
        { "application/json", TEXT },
        { "*/*", TEXT },
        { "text/plain", TEXT },
    };
    check_formats(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_format_openmetrics(void **state)
{
    (void)state;
    static const accept_case cases[] = {
        { "application/openmetrics-text", OM },
        { "Application/OpenMetrics-Text; Version=1.0.0", OM },
        { "application/openmetrics-text; version=\"1.0.0\"", OM },
        /* What Prometheus 2.x sends. */
        { "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", OM },
        { "application/openmetrics-text; version=1.0.0; q=0.9, text/plain;q=0.5, */*;q=0.1",
          OM },
    };
    check_formats(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_format_q_values(void **state)
{
    (void)state;
    static const accept_case cases[] = {
        /* Highest q wins, whatever the order. */
        { "application/openmetrics-text;q=0.4, text/plain;q=0.5", TEXT },
        { "text/plain;q=0.2, application/openmetrics-text;q=0.3", OM },
        /* Ties prefer OpenMetrics only when it is named. */
        { "text/plain, application/openmetrics-text", OM },
        { "text/*;q=0.5, application/*;q=0.5", TEXT },
        /* The wildcard stands in for what is not named: here the client likes
         * anything better than text. */
        { "text/plain;q=0.1, */*;q=0.8", OM },
        { "text/plain;q=0, */*", OM },
        /* q=0 excludes. */
        { "application/openmetrics-text;q=0, */*", TEXT },
        { "application/openmetrics-text;q=0", TEXT },
        /* Equally specific ranges: the higher q counts. */
        { "application/openmetrics-text;q=0.1, application/openmetrics-text;q=0.9,"
          "text/plain;q=0.5", OM },
        { "application/openmetrics-text;q=0.001, text/plain;q=0", OM },
    };
    check_formats(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_format_versions_and_garbage(void **state)
{
    (void)state;
    static const accept_case cases[] = {
        /* An OpenMetrics version we do not speak falls back to text. */
        { "application/openmetrics-text;version=0.0.1", TEXT },
        { "application/openmetrics-text;version=2.0.0", TEXT },
        /* Malformed q: that range is ignored. */
        { "application/openmetrics-text;q=abc", TEXT },
        { "application/openmetrics-text;q=1.5", TEXT },
        { "application/openmetrics-text;q=0.0001", TEXT },
        { "application/openmetrics-text;q=", TEXT },
        /* Quoted parameters may hold separators. */
        { "application/openmetrics-text;foo=\"a,b;q=0\";q=1", OM },
        { ";;;,,=\"\\", TEXT },
        { "application/openmetrics-text;\"unterminated", OM },
    };
    check_formats(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_gzip(void **state)
{
    (void)state;
    static const encoding_case cases[] = {
        { NULL, false },
        { "", false },
        { "identity", false },
        { "deflate, br", false },
        { "gzip", true },
        { "GZip", true },
        { "deflate, gzip;q=0.5", true },
        { "x-gzip", true },
        { "*", true },
        { "br;q=1.0, *;q=0.1", true },
        { "gzip;q=0", false },
        { "gzip;q=0, *", false }, /* the named coding wins */
        { "*;q=0, gzip", true },
        { "*;q=0", false },
        { "gzip;q=bad", false },
        { "gzipx", false },
    };
    check_gzip(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_content_types(void **state)
{
    (void)state;
    assert_string_equal(tally_content_type(TEXT), "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(tally_content_type(OM),
                        "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_defaults),
        cmocka_unit_test(test_format_openmetrics),
        cmocka_unit_test(test_format_q_values),
        cmocka_unit_test(test_format_versions_and_garbage),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_content_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
