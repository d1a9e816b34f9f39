/*
 * test_expo_http.c - tally_http end to end over real sockets on 127.0.0.1
 * (a port the OS picks): /metrics with negotiation and gzip, HEAD, /health,
 * 404, 405, a busy port, and clean shutdown (ASan checks for leaks).
 */
#define _GNU_SOURCE   /* strcasestr */
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tally.h"
#include "tally_http.h"
#include "test_util.h"

typedef struct response {
    int status;
    char *head;      /* status line and headers */
    char *body;
    size_t body_len;
} response;

static void response_free(response *r)
{
    free(r->head);
    free(r->body);
}

/* Sends `request` verbatim and reads the reply until the server closes. */
static response http(uint16_t port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    size_t cap = 1 << 16, len = 0;
    char *raw = malloc(cap);
    ssize_t n;
    while ((n = read(fd, raw + len, cap - len)) > 0) {
        len += (size_t)n;
        if (len == cap) {
            cap *= 2;
            raw = realloc(raw, cap);
        }
    }
    close(fd);
    response r = { 0 };
    char *split = memmem(raw, len, "\r\n\r\n", 4);
    assert_non_null(split);
    r.head = bytes_to_string(raw, (size_t)(split - raw));
    r.body_len = len - (size_t)(split + 4 - raw);
    r.body = bytes_to_string(split + 4, r.body_len);
    assert_int_equal(sscanf(r.head, "HTTP/1.1 %d", &r.status), 1);
    free(raw);
    return r;
}

/* A bodyless request with the usual headers. */
static response request(uint16_t port, const char *method, const char *target)
{
    char text[256];
    snprintf(text, sizeof(text), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
             method, target);
    return http(port, text);
}

/* The status of a bodyless request; for replies only the status matters. */
static int status_of(uint16_t port, const char *method, const char *target)
{
    response r = request(port, method, target);
    response_free(&r);
    return r.status;
}

static void assert_header(const response *r, const char *line)
{
    if (strcasestr(r->head, line) == NULL)
        fail_msg("header \"%s\" missing in:\n%s", line, r->head);
}

typedef struct fixture {
    tally_registry *reg;
    tally_http *srv;
    uint16_t port;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    fx->reg = tally_registry_new();
    tally_err err = TALLY_OK;
    tally_counter *c = tally_counter_new(fx->reg, "hits", "Hits.", &err);
    assert_non_null(c);
    tally_counter_add_int(c, 42);
    fx->srv = tally_http_start(fx->reg, "127.0.0.1", 0, &err);
    assert_non_null(fx->srv);
    fx->port = tally_http_port(fx->srv);
    assert_true(fx->port > 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    tally_http_stop(fx->srv);
    tally_registry_free(fx->reg);
    free(fx);
    return 0;
}

static void test_metrics_text(void **state)
{
    fixture *fx = *state;
    response r = request(fx->port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_header(&r, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8");
    assert_null(strcasestr(r.head, "Content-Encoding"));
    assert_non_null(strstr(r.body, "# TYPE hits_total counter\nhits_total 42\n"));
    response_free(&r);
}

static void test_metrics_openmetrics_gzip(void **state)
{
    fixture *fx = *state;
    response r = http(fx->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                "Accept: application/openmetrics-text; version=1.0.0; q=0.9, "
                                "text/plain;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n\r\n");
    assert_int_equal(r.status, 200);
    assert_header(&r, "\r\nContent-Type: application/openmetrics-text; version=1.0.0; "
                      "charset=utf-8");
    assert_header(&r, "\r\nContent-Encoding: gzip");
    char *om = gunzip_string(r.body, r.body_len);
    assert_non_null(om);
    assert_non_null(strstr(om, "# TYPE hits counter\nhits_total 42\nhits_created "));
    size_t n = strlen(om);
    assert_string_equal(om + n - 6, "# EOF\n");
    free(om);
    response_free(&r);
}

static void test_head_health_and_errors(void **state)
{
    fixture *fx = *state;
    response r = request(fx->port, "HEAD", "/metrics");
    assert_int_equal(r.status, 200);
    assert_header(&r, "\r\nContent-Type: text/plain; version=0.0.4");
    assert_int_equal(r.body_len, 0);
    response get = request(fx->port, "GET", "/metrics");
    char length[64];
    snprintf(length, sizeof(length), "\r\nContent-Length: %zu\r\n", get.body_len);
    assert_header(&r, length);
    assert_header(&get, length);
    response_free(&get);
    response_free(&r);

    r = request(fx->port, "GET", "/health");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "OK\n");
    response_free(&r);

    assert_int_equal(status_of(fx->port, "GET", "/metricsx"), 404);
    assert_int_equal(status_of(fx->port, "GET", "/metrics/../x?y"), 404);

    r = http(fx->port, "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "Content-Length: 0\r\n\r\n");
    assert_int_equal(r.status, 405);
    assert_header(&r, "\r\nAllow: GET, HEAD");
    response_free(&r);

    assert_int_equal(status_of(fx->port, "DELETE", "/health"), 405);

    r = request(fx->port, "HEAD", "/nope");
    assert_int_equal(r.status, 404);
    assert_int_equal(r.body_len, 0);
    response_free(&r);
}

static void test_query_string_ignored(void **state)
{
    fixture *fx = *state;
    response r = request(fx->port, "GET", "/metrics?x=1");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "hits_total 42\n"));
    response_free(&r);
}

static void test_busy_port_and_bad_args(void **state)
{
    fixture *fx = *state;
    tally_err err = TALLY_OK;
    assert_null(tally_http_start(fx->reg, "127.0.0.1", fx->port, &err));
    assert_int_equal(err, TALLY_ERR_IO);
    err = TALLY_OK;
    assert_null(tally_http_start(NULL, "127.0.0.1", 0, &err));
    assert_int_equal(err, TALLY_ERR_IO);
    assert_null(tally_http_start(fx->reg, "not an address", 0, NULL));
    tally_http_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_openmetrics_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_health_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_string_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_port_and_bad_args, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
