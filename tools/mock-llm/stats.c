/*
 * mock-llm request statistics behind GET /mock/stats: what tests look at to
 * check what a gateway really sent upstream (how many calls, which headers).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "mock.h"

static _Atomic uint64_t requests, faults;
static _Atomic uint64_t per_endpoint[MOCK_ENDPOINT_COUNT];

static const char *const endpoint_paths[] = {
#define X(name, path, method, dialect, answer) path,
    MOCK_ENDPOINTS(X)
#undef X
};

/* The last API request's headers, as a JSON object. A mutex guards it because
 * a copy of a few hundred bytes cannot be published atomically; the JSON is
 * rendered before taking it, so the lock is held for one memcpy. */
#define LAST_HEADERS_MAX 8192
static pthread_mutex_t last_headers_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_headers[LAST_HEADERS_MAX] = "{}";
static size_t last_headers_len = 2;

/* Renders req's headers as a JSON object with lower-cased names; headers
 * that do not fit in the buffer are left out. */
static size_t render_headers(const h2o_req_t *req, char *out, size_t cap)
{
    char name[256];
    size_t len = 0;
    out[len++] = '{';
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (h->name->len > sizeof(name) ||
            len + 2 + MOCK_JSON_ESCAPED_MAX(h->name->len) + MOCK_JSON_ESCAPED_MAX(h->value.len) + 1 > cap)
            continue;
        for (size_t j = 0; j < h->name->len; j++)
            name[j] = h2o_tolower(h->name->base[j]);
        if (len > 1)
            out[len++] = ',';
        len += mock_json_escape(out + len, name, h->name->len);
        out[len++] = ':';
        len += mock_json_escape(out + len, h->value.base, h->value.len);
    }
    out[len++] = '}';
    return len;
}

void mock_stats_count_request(const h2o_req_t *req, enum mock_endpoint endpoint)
{
    static _Thread_local char rendered[LAST_HEADERS_MAX];

    atomic_fetch_add_explicit(&requests, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&per_endpoint[endpoint], 1, memory_order_relaxed);

    size_t len = render_headers(req, rendered, sizeof(rendered));
    pthread_mutex_lock(&last_headers_lock);
    memcpy(last_headers, rendered, len);
    last_headers_len = len;
    pthread_mutex_unlock(&last_headers_lock);
}

void mock_stats_count_fault(void)
{
    atomic_fetch_add_explicit(&faults, 1, memory_order_relaxed);
}

void mock_stats_reset(void)
{
    atomic_store_explicit(&requests, 0, memory_order_relaxed);
    for (size_t i = 0; i < MOCK_ENDPOINT_COUNT; i++)
        atomic_store_explicit(&per_endpoint[i], 0, memory_order_relaxed);
    atomic_store_explicit(&faults, 0, memory_order_relaxed);
    pthread_mutex_lock(&last_headers_lock);
    memcpy(last_headers, "{}", 2);
    last_headers_len = 2;
    pthread_mutex_unlock(&last_headers_lock);
}

static unsigned long long count_of(enum mock_endpoint endpoint)
{
    return (unsigned long long)atomic_load_explicit(&per_endpoint[endpoint], memory_order_relaxed);
}

/* "chat" and "embeddings" predate "paths" and stay for the tests using them. */
void mock_stats_render(struct mock_buf *buf)
{
    mock_buf_printf(buf, "{\"requests\":%llu,\"chat\":%llu,\"embeddings\":%llu,\"faults\":%llu,\"paths\":{",
                    (unsigned long long)atomic_load_explicit(&requests, memory_order_relaxed),
                    count_of(MOCK_ENDPOINT_CHAT), count_of(MOCK_ENDPOINT_EMBEDDINGS),
                    (unsigned long long)atomic_load_explicit(&faults, memory_order_relaxed));
    for (size_t i = 0; i < MOCK_ENDPOINT_COUNT; i++)
        mock_buf_printf(buf, "%s\"%s\":%llu", i == 0 ? "" : ",", endpoint_paths[i], count_of((enum mock_endpoint)i));
    mock_buf_append(buf, H2O_STRLIT("},\"last_headers\":"));
    pthread_mutex_lock(&last_headers_lock);
    mock_buf_append(buf, last_headers, last_headers_len);
    pthread_mutex_unlock(&last_headers_lock);
    mock_buf_append(buf, "}", 1);
}
