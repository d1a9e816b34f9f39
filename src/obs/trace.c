/* trace.c: see trace.h. The queue is Dmitry Vyukov's bounded ring (each
 * cell carries a sequence number saying whose turn it is): producers
 * claim a position with one compare-and-swap on the head and publish the
 * cell with a release store; the one consumer reads cells whose sequence
 * says they are full and hands them back for the next lap. A full ring
 * shows as a cell still a lap behind: the span is dropped, not waited for,
 * since a worker must never block on tracing. */
#include "obs/trace.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "obs/registry_state.h"

/* ------------------------------------------------------------- context */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* n bytes from 2n hex digits; false (out zeroed) when they are not. */
static bool from_hex(uint8_t *out, const char *hex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(hex[2 * i]), lo = hi < 0 ? -1 : hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            memset(out, 0, n);
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

void tg_trace_hex(char *out, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void tg_trace_ctx_init(tg_trace_ctx_t *t, const char *traceparent, const char *parent_hex, double start_mono)
{
    memset(t, 0, sizeof(*t));
    /* "00-" trace(32) "-" span(16) "-" flags(2): ids.c made it, so it is well formed */
    from_hex(t->trace_id, traceparent + 3, 16);
    from_hex(t->span_id, traceparent + 36, 8);
    uint8_t flags = 0;
    from_hex(&flags, traceparent + 53, 1);
    t->sampled = flags & 1;
    if (parent_hex != NULL && strlen(parent_hex) == 16)
        from_hex(t->parent_id, parent_hex, 8);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double mono_now = tg_clock_seconds();
    t->start_mono = start_mono;
    t->start_unix_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - (int64_t)((mono_now - start_mono) * 1e9);
}

int64_t tg_trace_unix_ns(const tg_trace_ctx_t *t, double mono)
{
    return t->start_unix_ns + (int64_t)((mono - t->start_mono) * 1e9);
}

/* splitmix64's finaliser: a bijection of 64-bit values, so distinct
 * attempts of one request never share an id. */
static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void tg_trace_attempt_id(const tg_trace_ctx_t *t, int attempt, uint8_t out[8])
{
    uint64_t base = 0;
    for (int i = 0; i < 8; i++)
        base = base << 8 | t->span_id[i];
    uint64_t id = mix(base + (uint64_t)attempt);
    if (id == 0)
        id = 1; /* an all-zero span id is invalid */
    for (int i = 7; i >= 0; i--, id >>= 8)
        out[i] = (uint8_t)id;
}

void tg_span_init(tg_trace_span_t *s, const tg_trace_ctx_t *t, tg_span_kind_t kind, const uint8_t span_id[8],
                  double start_mono, double end_mono)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->trace_id, t->trace_id, 16);
    memcpy(s->span_id, span_id, 8);
    memcpy(s->parent_id, kind == TG_SPAN_CLIENT ? t->span_id : t->parent_id, 8);
    s->kind = kind;
    s->start_unix_ns = tg_trace_unix_ns(t, start_mono);
    s->end_unix_ns = tg_trace_unix_ns(t, end_mono);
    s->input_tokens = -1;
    s->output_tokens = -1;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 if
 * none starts there. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n || (len == 2 && s[0] < 0xC2))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

void tg_span_text(char dst[TG_SPAN_TEXT], const char *src, size_t n)
{
    /* Client bytes (a model name) may be anything: a byte that does not
     * start valid UTF-8 becomes '?', so the OTLP body is always JSON. */
    const unsigned char *p = (const unsigned char *)src;
    size_t out = 0;
    for (size_t i = 0; src != NULL && i < n;) {
        size_t len = utf8_len(p + i, n - i);
        if (out + (len ? len : 1) > TG_SPAN_TEXT - 1)
            break;
        if (len == 0 || p[i] < 0x20) {
            dst[out++] = '?';
            i++;
            continue;
        }
        memcpy(dst + out, p + i, len);
        out += len;
        i += len;
    }
    dst[out] = '\0';
}

/* --------------------------------------------------------------- queue */

typedef struct cell {
    _Atomic size_t seq;
    tg_trace_span_t span;
} cell_t;

struct tg_tracer {
    cell_t *cells;
    size_t mask;
    _Atomic size_t head;      /* the next position to fill */
    size_t tail;              /* the next to read: the exporter's */
    _Atomic size_t taken;     /* tail, published for tg_tracer_depth */
    size_t wake_at;
    atomic_bool wake_sent;    /* the eventfd was written and not yet read */
    int wake_fd;
    tally_counter *exported, *queue_full, *export_failed;
};

tg_tracer_t *tg_tracer_new(tg_obs_t *obs, size_t capacity, size_t wake_at)
{
    size_t size = 2;
    while (size < capacity)
        size <<= 1;
    tg_tracer_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    t->cells = calloc(size, sizeof(*t->cells));
    static const char *const full[] = {"queue_full"}, *const failed[] = {"export_failed"};
    t->exported = tally_counter_get(obs->fam[F_SPANS_EXPORTED]);
    t->queue_full = tally_counter_with(obs->fam[F_SPANS_DROPPED], full);
    t->export_failed = tally_counter_with(obs->fam[F_SPANS_DROPPED], failed);
    if (t->wake_fd < 0 || t->cells == NULL || !t->exported || !t->queue_full || !t->export_failed) {
        tg_tracer_free(t);
        return NULL;
    }
    for (size_t i = 0; i < size; i++)
        atomic_init(&t->cells[i].seq, i);
    t->mask = size - 1;
    t->wake_at = wake_at ? wake_at : 1;
    return t;
}

void tg_tracer_free(tg_tracer_t *t)
{
    if (t == NULL)
        return;
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    free(t->cells);
    free(t);
}

bool tg_tracer_submit(tg_tracer_t *t, const tg_trace_span_t *s)
{
    size_t pos = atomic_load_explicit(&t->head, memory_order_relaxed);
    cell_t *c;
    for (;;) {
        c = &t->cells[pos & t->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t lap = (intptr_t)seq - (intptr_t)pos;
        if (lap == 0) {
            if (atomic_compare_exchange_weak_explicit(&t->head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (lap < 0) {
            tally_counter_inc(t->queue_full);
            return false;
        } else {
            pos = atomic_load_explicit(&t->head, memory_order_relaxed);
        }
    }
    c->span = *s;
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    /* One eventfd write per batch, not per span: the flag stays set until
     * the exporter has read it. */
    if (pos + 1 - atomic_load_explicit(&t->taken, memory_order_relaxed) >= t->wake_at &&
        !atomic_exchange(&t->wake_sent, true)) {
        uint64_t one = 1;
        ssize_t w = write(t->wake_fd, &one, sizeof(one));
        (void)w; /* a full counter is already readable */
    }
    return true;
}

size_t tg_tracer_take(tg_tracer_t *t, tg_trace_span_t *out, size_t max)
{
    /* Cleared before the read: a write racing with it leaves the fd
     * readable, which the next take reads (it always does, one system
     * call a round), so the exporter never spins on a stale wake-up. */
    atomic_store(&t->wake_sent, false);
    uint64_t ignored;
    ssize_t r = read(t->wake_fd, &ignored, sizeof(ignored));
    (void)r;
    size_t n = 0;
    while (n < max) {
        cell_t *c = &t->cells[t->tail & t->mask];
        if (atomic_load_explicit(&c->seq, memory_order_acquire) != t->tail + 1)
            break;
        out[n++] = c->span;
        atomic_store_explicit(&c->seq, t->tail + t->mask + 1, memory_order_release);
        t->tail++;
    }
    atomic_store_explicit(&t->taken, t->tail, memory_order_relaxed);
    return n;
}

size_t tg_tracer_depth(tg_tracer_t *t)
{
    return atomic_load_explicit(&t->head, memory_order_relaxed) - atomic_load_explicit(&t->taken, memory_order_relaxed);
}

int tg_tracer_wake_fd(const tg_tracer_t *t)
{
    return t->wake_fd;
}

void tg_tracer_count(tg_tracer_t *t, bool exported, size_t n)
{
    tally_counter_add_int(exported ? t->exported : t->export_failed, n);
}

/* ---------------------------------------------------------------- OTLP */

static json_t *any_value(const char *type, json_t *v)
{
    return json_pack("{s:o}", type, v);
}

static void add_attr(json_t *attrs, const char *key, json_t *value)
{
    if (value != NULL)
        json_array_append_new(attrs, json_pack("{s:s, s:o}", "key", key, "value", value));
}

static void add_string(json_t *attrs, const char *key, const char *s)
{
    if (s != NULL && s[0] != '\0')
        add_attr(attrs, key, any_value("stringValue", json_string(s)));
}

/* OTLP/JSON writes 64-bit integers as decimal strings. */
static json_t *int_string(int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return json_string(buf);
}

static void add_int(json_t *attrs, const char *key, int64_t v, bool present)
{
    if (present)
        add_attr(attrs, key, any_value("intValue", int_string(v)));
}

static json_t *span_json(const tg_trace_span_t *s)
{
    char trace[33], span[17], parent[17];
    tg_trace_hex(trace, s->trace_id, 16);
    tg_trace_hex(span, s->span_id, 8);
    static const uint8_t zero[8];
    bool root = memcmp(s->parent_id, zero, 8) == 0;
    tg_trace_hex(parent, s->parent_id, 8);

    json_t *attrs = json_array();
    add_string(attrs, "gen_ai.operation.name", s->genai_operation);
    add_string(attrs, "gen_ai.provider.name", s->genai_provider);
    add_string(attrs, "tollgate.operation", s->operation);
    add_string(attrs, "tollgate.provider", s->provider);
    add_string(attrs, "gen_ai.request.model", s->request_model);
    add_string(attrs, "gen_ai.response.model", s->response_model);
    if (s->finish_reason[0] != '\0')
        add_attr(attrs, "gen_ai.response.finish_reasons",
                 any_value("arrayValue", json_pack("{s:[{s:s}]}", "values", "stringValue", s->finish_reason)));
    add_int(attrs, "gen_ai.usage.input_tokens", s->input_tokens, s->input_tokens >= 0);
    add_int(attrs, "gen_ai.usage.output_tokens", s->output_tokens, s->output_tokens >= 0);
    add_string(attrs, "error.type", s->error_type);
    add_string(attrs, "http.request.method", s->http_method);
    add_string(attrs, "http.route", s->http_route);
    add_int(attrs, "http.response.status_code", s->http_status, s->http_status > 0);
    add_string(attrs, "server.address", s->server_address);
    add_int(attrs, "server.port", s->server_port, s->server_port > 0);
    add_int(attrs, "tollgate.attempt", s->attempt, s->attempt > 0);
    add_string(attrs, "tollgate.cache", s->cache);

    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:{s:i}}", "traceId", trace, "spanId", span, "name",
                          s->name, "kind", (int)s->kind, "startTimeUnixNano", int_string(s->start_unix_ns),
                          "endTimeUnixNano", int_string(s->end_unix_ns), "attributes", attrs, "status", "code",
                          s->error ? 2 : 0);
    if (o != NULL && !root)
        json_object_set_new(o, "parentSpanId", json_string(parent));
    return o;
}

char *tg_otlp_encode(const tg_trace_span_t *spans, size_t n, const char *service_name, const char *version, size_t *len)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        json_t *s = span_json(&spans[i]);
        if (s == NULL || json_array_append_new(list, s) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    json_t *resource = json_array();
    add_string(resource, "service.name", service_name);
    add_string(resource, "service.version", version);
    json_t *body = json_pack("{s:[{s:{s:o}, s:[{s:{s:s, s:s}, s:o}]}]}", "resourceSpans", "resource", "attributes",
                             resource, "scopeSpans", "scope", "name", "tollgate", "version", version, "spans", list);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text != NULL && len != NULL)
        *len = strlen(text);
    return text;
}
