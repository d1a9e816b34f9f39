/*
 * test_expo_negotiate.c - Accept and Accept-Encoding negotiation: q-values,
 * media-type parameters, wildcards, exclusions, malformed input, and the
 * exact Content-Type strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tally.h"

#define OM TALLY_FORMAT_OPENMETRICS
#define TEXT TALLY_FORMAT_TEXT

static void test_format_defaults(void **state)
{
    (void)state;
    assert_int_equal(tally_negotiate_format(NULL), TEXT);
    assert_int_equal(tally_negotiate_format(""), TEXT);
    assert_int_equal(tally_negotiate_format("   ,  "), TEXT);
    assert_int_equal(tally_negotiate_format("application/json"), TEXT);
    assert_int_equal(tally_negotiate_format("*/*"), TEXT);
    assert_int_equal(tally_negotiate_format("text/plain"), TEXT);
}

static void test_format_openmetrics(void **state)
{
    (void)state;
    assert_int_equal(tally_negotiate_format("application/openmetrics-text"), OM);
    assert_int_equal(tally_negotiate_format("Application/OpenMetrics-Text; Version=1.0.0"), OM);
    assert_int_equal(tally_negotiate_format("application/openmetrics-text; version=\"1.0.0\""), OM);
    /* What Prometheus 2.x sends. */
    assert_int_equal(tally_negotiate_format(
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"), OM);
    assert_int_equal(tally_negotiate_format(
        "application/openmetrics-text; version=1.0.0; q=0.9, text/plain;q=0.5, */*;q=0.1"), OM);
}

static void test_format_q_values(void **state)
{
    (void)state;
    /* Highest q wins, whatever the order. */
    assert_int_equal(tally_negotiate_format(
        "application/openmetrics-text;q=0.4, text/plain;q=0.5"), TEXT);
    assert_int_equal(tally_negotiate_format(
        "text/plain;q=0.2, application/openmetrics-text;q=0.3"), OM);
    /* Ties prefer OpenMetrics only when it is named. */
    assert_int_equal(tally_negotiate_format("text/plain, application/openmetrics-text"), OM);
    assert_int_equal(tally_negotiate_format("text/*;q=0.5, application/*;q=0.5"), TEXT);
    /* The wildcard stands in for what is not named: here the client likes
     * anything better than text. */
    assert_int_equal(tally_negotiate_format("text/plain;q=0.1, */*;q=0.8"), OM);
    assert_int_equal(tally_negotiate_format("text/plain;q=0, */*"), OM);
    /* q=0 excludes. */
    assert_int_equal(tally_negotiate_format("application/openmetrics-text;q=0, */*"), TEXT);
    assert_int_equal(tally_negotiate_format("application/openmetrics-text;q=0"), TEXT);
    /* Equally specific ranges: the higher q counts. */
    assert_int_equal(tally_negotiate_format(
        "application/openmetrics-text;q=0.1, application/openmetrics-text;q=0.9,"
        "text/plain;q=0.5"), OM);
    assert_int_equal(tally_negotiate_format(
        "application/openmetrics-text;q=0.001, text/plain;q=0"), OM);
}

static void test_format_versions_and_garbage(void **state)
{
    (void)state;
    /* An OpenMetrics version we do not speak falls back to text. */
    assert_int_equal(tally_negotiate_format("application/openmetrics-text;version=0.0.1"), TEXT);
    assert_int_equal(tally_negotiate_format("application/openmetrics-text;version=2.0.0"), TEXT);
    /* Malformed q: that range is ignored. */
    assert_int_equal(tally_negotiate_format("application/openmetrics-text;q=abc"), TEXT);
    assert_int_equal(tally_negotiate_format("application/openmetrics-text;q=1.5"), TEXT);
    assert_int_equal(tally_negotiate_format("application/openmetrics-text;q=0.0001"), TEXT);
    assert_int_equal(tally_negotiate_format("application/openmetrics-text;q="), TEXT);
    /* Quoted parameters may hold separators. */
    assert_int_equal(tally_negotiate_format(
        "application/openmetrics-text;foo=\"a,b;q=0\";q=1"), OM);
    assert_int_equal(tally_negotiate_format(";;;,,=\"\\"), TEXT);
    assert_int_equal(tally_negotiate_format("application/openmetrics-text;\"unterminated"), OM);
}

static void test_gzip(void **state)
{
    (void)state;
    assert_false(tally_negotiate_gzip(NULL));
    assert_false(tally_negotiate_gzip(""));
    assert_false(tally_negotiate_gzip("identity"));
    assert_false(tally_negotiate_gzip("deflate, br"));
    assert_true(tally_negotiate_gzip("gzip"));
    assert_true(tally_negotiate_gzip("GZip"));
    assert_true(tally_negotiate_gzip("deflate, gzip;q=0.5"));
    assert_true(tally_negotiate_gzip("x-gzip"));
    assert_true(tally_negotiate_gzip("*"));
    assert_true(tally_negotiate_gzip("br;q=1.0, *;q=0.1"));
    assert_false(tally_negotiate_gzip("gzip;q=0"));
    assert_false(tally_negotiate_gzip("gzip;q=0, *"));     /* the named coding wins */
    assert_true(tally_negotiate_gzip("*;q=0, gzip"));
    assert_false(tally_negotiate_gzip("*;q=0"));
    assert_false(tally_negotiate_gzip("gzip;q=bad"));
    assert_false(tally_negotiate_gzip("gzipx"));
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
