/* probe.c: see probe.h. A small state machine would let checks of several
 * providers overlap; one check at a time keeps the tick's worst case at one
 * timeout, which the task table promises (server/housekeeping.c). */
#include "upstream/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/clock.h"

/* A status line fits: "HTTP/1.1 503 Service Unavailable\r\n". */
#define STATUS_LINE_MAX 256

typedef struct probe {
    int fd;
    SSL *ssl;                 /* https only */
    double deadline;          /* tg_clock_seconds() */
    tg_probe_result_t *out;
} probe_t;

static int fail(probe_t *pr, tg_retry_reason_t reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(probe_t *pr, tg_retry_reason_t reason, const char *fmt, ...)
{
    pr->out->ok = false;
    pr->out->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pr->out->detail, sizeof(pr->out->detail), fmt, ap);
    va_end(ap);
    return -1;
}

/* Waits until fd is ready for `events` or the deadline passes: 0 ready,
 * -1 (the result filled) otherwise. */
static int wait_for(probe_t *pr, short events, const char *step)
{
    for (;;) {
        double left = pr->deadline - tg_clock_seconds();
        if (left <= 0)
            return fail(pr, TG_RETRY_TIMEOUT, "no answer within the timeout (%s)", step);
        struct pollfd pfd = {.fd = pr->fd, .events = events};
        int n = poll(&pfd, 1, (int)ceil(left * 1000));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return fail(pr, TG_RETRY_CONNECT, "poll: %s", strerror(errno));
    }
}

static int connect_to(probe_t *pr, const tg_upstream_addr_t *addr)
{
    if (addr->len == 0)
        return fail(pr, TG_RETRY_CONNECT, "the provider's host did not resolve");
    pr->fd = socket(addr->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (pr->fd < 0)
        return fail(pr, TG_RETRY_CONNECT, "socket: %s", strerror(errno));
    if (connect(pr->fd, (const struct sockaddr *)&addr->addr, addr->len) != 0) {
        if (errno != EINPROGRESS)
            return fail(pr, TG_RETRY_CONNECT, "connect: %s", strerror(errno));
        if (wait_for(pr, POLLOUT, "connect") != 0)
            return -1;
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0)
            return fail(pr, TG_RETRY_CONNECT, "connect: %s", strerror(err));
    }
    return 0;
}

/* After an OpenSSL call returned r: 1 to call again once the socket is
 * ready, 0 when the peer closed, -1 (the result filled) on failure. */
static int tls_retry(probe_t *pr, int r, const char *step, tg_retry_reason_t reason)
{
    int e = SSL_get_error(pr->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return wait_for(pr, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, step) == 0 ? 1 : -1;
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    long verify = SSL_get_verify_result(pr->ssl);
    unsigned long queued = ERR_peek_last_error();
    const char *why = verify != X509_V_OK ? X509_verify_cert_error_string(verify)
                      : queued != 0       ? ERR_reason_error_string(queued)
                      : e == SSL_ERROR_SYSCALL && errno != 0 ? strerror(errno)
                                                              : "the connection closed";
    fail(pr, reason, "TLS %s: %s", step, why ? why : "unknown error");
    ERR_clear_error();
    return -1;
}

static int tls_start(probe_t *pr, SSL_CTX *ctx, const char *host)
{
    if ((pr->ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(pr->ssl, pr->fd))
        return fail(pr, TG_RETRY_CONNECT, "TLS: out of memory");
    /* The name to send; the context drops it again for an IP literal and
     * holds the name the certificate must carry (upstream/tls.h). */
    SSL_set_tlsext_host_name(pr->ssl, host);
    ERR_clear_error();
    for (;;) {
        int r = SSL_connect(pr->ssl);
        if (r == 1)
            return 0;
        int again = tls_retry(pr, r, "handshake", TG_RETRY_CONNECT);
        if (again <= 0)
            return again == 0 ? fail(pr, TG_RETRY_CONNECT, "TLS handshake: the connection closed") : -1;
    }
}

static int send_all(probe_t *pr, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n;
        if (pr->ssl != NULL) {
            int r = SSL_write(pr->ssl, buf, (int)len);
            if (r <= 0) {
                int again = tls_retry(pr, r, "sending", TG_RETRY_RESET);
                if (again <= 0)
                    return again == 0 ? fail(pr, TG_RETRY_RESET, "the connection closed") : -1;
                continue;
            }
            n = r;
        } else if ((n = send(pr->fd, buf, len, MSG_NOSIGNAL)) < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return fail(pr, TG_RETRY_RESET, "send: %s", strerror(errno));
            if (wait_for(pr, POLLOUT, "sending") != 0)
                return -1;
            continue;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads until the end of the first line: its length without CRLF, or -1. */
static int read_status_line(probe_t *pr, char *line, size_t size)
{
    size_t have = 0;
    while (have < size - 1) {
        ssize_t n;
        if (pr->ssl != NULL) {
            int r = SSL_read(pr->ssl, line + have, (int)(size - 1 - have));
            if (r <= 0) {
                int again = tls_retry(pr, r, "reading", TG_RETRY_RESET);
                if (again < 0)
                    return -1;
                if (again == 0)
                    break;
                continue;
            }
            n = r;
        } else if ((n = recv(pr->fd, line + have, size - 1 - have, 0)) < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return fail(pr, TG_RETRY_RESET, "recv: %s", strerror(errno));
            if (wait_for(pr, POLLIN, "reading") != 0)
                return -1;
            continue;
        } else if (n == 0) {
            break;
        }
        have += (size_t)n;
        line[have] = '\0';
        char *eol = strstr(line, "\r\n");
        if (eol != NULL)
            return (int)(eol - line);
    }
    if (have == 0)
        return fail(pr, TG_RETRY_RESET, "the connection closed before a response");
    return fail(pr, TG_RETRY_BAD_RESPONSE, "no complete status line");
}

/* "HTTP/1.x NNN ...": the status, or -1. */
static int parse_status(const char *line, int len)
{
    if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
        return -1;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        status = status * 10 + (line[i] - '0');
    }
    return (len == 12 || line[12] == ' ') && status >= 100 ? status : -1;
}

static int run(probe_t *pr, const tg_probe_target_t *t, const char *method, const char *path, const char *headers,
               const char *body, size_t body_len)
{
    if (connect_to(pr, t->addr) != 0 || (t->tls_ctx != NULL && tls_start(pr, t->tls_ctx, t->host) != 0))
        return -1;
    bool ipv6 = strchr(t->host, ':') != NULL;
    char authority[300];
    int alen = snprintf(authority, sizeof(authority), ipv6 ? "[%s]" : "%s", t->host);
    if (alen > 0 && (size_t)alen < sizeof(authority) && t->port != (t->tls_ctx != NULL ? 443 : 80))
        snprintf(authority + alen, sizeof(authority) - (size_t)alen, ":%u", t->port);
    /* The head may hold credentials (the headers): scrubbed once sent. */
    size_t cap = strlen(method) + strlen(path) + strlen(authority) + strlen(headers) + 128;
    char *head = malloc(cap);
    if (head == NULL)
        return fail(pr, TG_RETRY_CONNECT, "out of memory");
    char length[48] = "";
    if (body != NULL)
        snprintf(length, sizeof(length), "content-length: %zu\r\n", body_len);
    int len = snprintf(head, cap, "%s %s HTTP/1.1\r\nhost: %s\r\nconnection: close\r\n%s%s\r\n", method, path,
                       authority, headers, length);
    int sent = len > 0 && (size_t)len < cap ? send_all(pr, head, (size_t)len)
                                           : fail(pr, TG_RETRY_BAD_RESPONSE, "the request's head is too long");
    explicit_bzero(head, cap);
    free(head);
    if (sent != 0 || (body_len > 0 && send_all(pr, body, body_len) != 0))
        return -1;
    char line[STATUS_LINE_MAX];
    int line_len = read_status_line(pr, line, sizeof(line));
    if (line_len < 0)
        return -1;
    int status = parse_status(line, line_len);
    if (status < 0)
        return fail(pr, TG_RETRY_BAD_RESPONSE, "a malformed status line");
    pr->out->status = status;
    if (status >= 200 && status < 400) {
        pr->out->ok = true;
        return 0;
    }
    return fail(pr, status >= 500 ? TG_RETRY_STATUS_5XX : status == 429 ? TG_RETRY_STATUS_429 : TG_RETRY_BAD_RESPONSE,
                "status %d", status);
}

void tg_probe_request(const tg_probe_target_t *t, const char *method, const char *path, const char *headers,
                      const char *body, size_t body_len, tg_probe_result_t *out)
{
    double started = tg_clock_seconds();
    memset(out, 0, sizeof(*out));
    probe_t pr = {.fd = -1, .deadline = started + t->timeout_ms / 1000.0, .out = out};
    run(&pr, t, method, path, headers, body, body_len);
    SSL_free(pr.ssl); /* no close_notify: the exchange is over either way */
    if (pr.fd >= 0)
        close(pr.fd);
    out->seconds = tg_clock_seconds() - started;
}

void tg_upstream_probe(const tg_provider_config_t *p, const tg_upstream_addr_t *addr, tg_probe_result_t *out)
{
    char path[1024], headers[1024];
    int plen = snprintf(path, sizeof(path), "%s%s", p->path_prefix, p->health_check.path);
    int hlen = snprintf(headers, sizeof(headers), "user-agent: tollgate-health-check\r\naccept: application/json\r\n%s%s%s",
                        p->api_key ? "authorization: Bearer " : "", p->api_key ? p->api_key : "",
                        p->api_key ? "\r\n" : "");
    if (plen < 0 || (size_t)plen >= sizeof(path) || hlen < 0 || (size_t)hlen >= sizeof(headers)) {
        memset(out, 0, sizeof(*out));
        out->reason = TG_RETRY_BAD_RESPONSE;
        snprintf(out->detail, sizeof(out->detail), "the check's request is too long");
    } else {
        tg_probe_target_t t = {.host = p->host, .port = p->port, .tls_ctx = p->tls ? p->tls_ctx : NULL,
                               .addr = addr, .timeout_ms = p->health_check.timeout_ms};
        tg_probe_request(&t, "GET", path, headers, NULL, 0, out);
    }
    explicit_bzero(headers, sizeof(headers)); /* it held the key */
}
