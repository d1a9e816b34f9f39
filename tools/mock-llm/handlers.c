/*
 * mock-llm request routing: the API endpoints (see MOCK_ENDPOINTS in mock.h,
 * answered through call.c) and the /mock/ control endpoints, which never get
 * faults: stats, reset, config, and the image that image URLs point to.
 */
#include <string.h>
#include "mock.h"

/* ---- /mock/ control endpoints ----------------------------------------- */

static void send_json(h2o_req_t *req, const struct mock_buf *body)
{
    mock_send_body(req, 200, "application/json", body->base, body->len, 0);
}

static void send_config(h2o_req_t *req)
{
    struct mock_settings s;
    struct mock_buf out;
    mock_faults_snapshot(&s);
    mock_buf_init(&out, &req->pool, 512);
    mock_buf_printf(&out,
                    "{\"latency_ms\":%u,\"token_delay_ms\":%u,\"status\":%d,\"fault\":\"%s\",\"fail_first\":%u,"
                    "\"retry_after\":%u,\"output_tokens\":%u,\"cached_tokens\":%u,\"reasoning_tokens\":%u,"
                    "\"cache_read_tokens\":%u,\"cache_write_tokens\":%u}",
                    s.latency_ms, s.token_delay_ms, s.status, mock_fault_name(s.fault), s.fail_first, s.retry_after,
                    s.knobs.output_tokens, s.knobs.cached_tokens, s.knobs.reasoning_tokens, s.knobs.cache_read_tokens,
                    s.knobs.cache_write_tokens);
    send_json(req, &out);
}

static void handle_config(h2o_req_t *req)
{
    const char *error;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        send_config(req);
        return;
    }
    mock_json_scope(&req->pool);
    json_t *config = mock_json_parse(req);
    int rc = config == NULL ? -1 : mock_faults_configure(config, &error);
    mock_json_scope(NULL);
    if (config == NULL)
        mock_send_error(req, MOCK_DIALECT_OPENAI, 400, "invalid_request_error", NULL,
                        "We could not parse the JSON body of your request.");
    else if (rc != 0)
        mock_send_error(req, MOCK_DIALECT_OPENAI, 400, "invalid_request_error", NULL, error);
    else
        send_config(req);
}

static void send_stats(h2o_req_t *req)
{
    struct mock_buf out;
    mock_buf_init(&out, &req->pool, 2048);
    mock_stats_render(&out);
    send_json(req, &out);
}

static void handle_reset(h2o_req_t *req)
{
    mock_stats_reset();
    send_stats(req);
}

static void send_image(h2o_req_t *req)
{
    mock_send_body(req, 200, "image/png", (const char *)mock_png, mock_png_len, 0);
}

/* ---- routing ----------------------------------------------------------- */

struct route {
    const char *path; /* ending in "{id}": any non-empty rest */
    const char *methods[2];
    int is_api;
    enum mock_dialect dialect;      /* of its errors */
    enum mock_endpoint endpoint;    /* API routes */
    void (*handle)(h2o_req_t *req); /* control routes */
};

/* The API routes first, in enum order, so that routes[endpoint] is its own. */
static const struct route routes[] = {
#define X(name, path, method, dialect, answer) {path, {method}, 1, MOCK_DIALECT_##dialect, MOCK_ENDPOINT_##name, NULL},
    MOCK_ENDPOINTS(X)
#undef X
    {"/mock/stats", {"GET"}, 0, MOCK_DIALECT_OPENAI, 0, send_stats},
    {"/mock/reset", {"POST"}, 0, MOCK_DIALECT_OPENAI, 0, handle_reset},
    {"/mock/config", {"POST", "GET"}, 0, MOCK_DIALECT_OPENAI, 0, handle_config},
    {"/mock/image.png", {"GET"}, 0, MOCK_DIALECT_OPENAI, 0, send_image},
};

static const char id_suffix[] = "{id}";

/* The length of the route's fixed prefix if it has an "{id}", else 0. */
static size_t id_prefix_len(const char *path)
{
    size_t len = strlen(path), suffix = sizeof(id_suffix) - 1;
    return len > suffix && strcmp(path + len - suffix, id_suffix) == 0 ? len - suffix : 0;
}

static int route_matches(const struct route *r, const h2o_iovec_t *path)
{
    size_t prefix = id_prefix_len(r->path);
    if (prefix == 0)
        return h2o_memis(path->base, path->len, r->path, strlen(r->path));
    return path->len > prefix && memcmp(path->base, r->path, prefix) == 0;
}

h2o_iovec_t mock_route_id(const h2o_req_t *req, enum mock_endpoint endpoint)
{
    size_t prefix = id_prefix_len(routes[endpoint].path);
    return h2o_iovec_init(req->path_normalized.base + prefix, req->path_normalized.len - prefix);
}

static int method_allowed(const struct route *r, const h2o_iovec_t *method)
{
    for (size_t i = 0; i < sizeof(r->methods) / sizeof(r->methods[0]) && r->methods[i] != NULL; i++) {
        if (h2o_memis(method->base, method->len, r->methods[i], strlen(r->methods[i])))
            return 1;
    }
    return 0;
}

int mock_handle_request(h2o_handler_t *self, h2o_req_t *req)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        if (!route_matches(r, &req->path_normalized))
            continue;
        if (!method_allowed(r, &req->method))
            mock_send_error(req, r->dialect, 405, "invalid_request_error", "method_not_allowed",
                            "Method not allowed for this path.");
        else if (r->is_api)
            mock_call_start(req, r->endpoint);
        else
            r->handle(req);
        return 0;
    }
    mock_send_error(req, MOCK_DIALECT_OPENAI, 404, "invalid_request_error", "unknown_url", "Unknown request URL.");
    return 0;
}
