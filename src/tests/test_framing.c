/* test_framing.c: unit tests of the request-smuggling check on raw HTTP/1
 * request heads: which combinations of Content-Length and
 * Transfer-Encoding are ambiguous, with both line-end styles, and that
 * the body after the blank line is never read as headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/framing.h"

typedef struct framing_case {
    const char *head;
    int expected; /* 0 unambiguous, -1 refused */
} framing_case_t;

static const framing_case_t cases[] = {
    {"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello", 0},
    {"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0},
    {"POST / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\nhello", 0},
    {"POST / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length:  5 \r\n\r\nhello", 0},
    {"POST / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 40\r\n\r\nhello", -1},
    {"POST / HTTP/1.1\r\ncontent-length: 40\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello", -1},
    {"POST / HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n", -1},
    {"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n", -1},
    {"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n", -1},
    /* bare LF line ends, which h2o's parser accepts */
    {"POST / HTTP/1.1\ncontent-length: 5\ncontent-length: 6\n\nhello", -1},
    {"POST / HTTP/1.1\ncontent-length: 5\n\nhello", 0},
    /* header-like text in the body is the body */
    {"POST / HTTP/1.1\r\ncontent-length: 40\r\n\r\ncontent-length: 7\r\ntransfer-encoding: x\r\n", 0},
    /* names that only start like the framing headers */
    {"POST / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length-x: 9\r\n\r\nhello", 0},
    {"POST / HTTP/1.1\r\ncontent-lengthy: 9\r\ncontent-length: 5\r\n\r\nhello", 0},
    {"POST / HTTP/1.1\r\nx-content-length: 9\r\ncontent-length: 5\r\n\r\nhello", 0},
    /* the request line is not a header */
    {"POST /content-length:9 HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello", 0},
};

static void test_framing_table(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = tg_framing_check_head(cases[i].head, strlen(cases[i].head));
        if (got != cases[i].expected)
            fail_msg("case %zu: %d, want %d: %s", i, got, cases[i].expected, cases[i].head);
    }
}

/* A head cut anywhere (the check reads at most H2O_MAX_REQLEN bytes of the
 * buffer) never reads past what it was given. */
static void test_every_prefix_is_safe(void **state)
{
    const char *head = cases[4].head;
    for (size_t n = 0; n <= strlen(head); n++) {
        char *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
        memcpy(copy, head, n);
        tg_framing_check_head(copy, n);
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_table),
        cmocka_unit_test(test_every_prefix_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
