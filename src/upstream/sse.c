/* sse.c: see sse.h. Events are split on a blank line ("\n\n" or
 * "\r\n\r\n"). Complete events inside one network read are handed out
 * without copying; only the unterminated tail is copied into `partial`. */
#include "upstream/sse.h"

#include <string.h>

void tg_sse_init(tg_sse_parser_t *p, size_t max_event_bytes, tg_sse_alloc_fn alloc, void *alloc_ctx)
{
    memset(p, 0, sizeof(*p));
    p->max_event_bytes = max_event_bytes;
    p->alloc = alloc;
    p->alloc_ctx = alloc_ctx;
}

/* Offset just past the blank line that ends the first event in buf, or 0.
 * An event has few line breaks: memchr jumps from one to the next. */
static size_t event_end(const char *buf, size_t len, size_t from)
{
    size_t i = from;
    while (i + 1 < len) {
        const char *nl = memchr(buf + i, '\n', len - 1 - i);
        if (nl == NULL)
            return 0;
        i = (size_t)(nl - buf);
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
        i++;
    }
    return 0;
}

static int is_done(const char *data, size_t len)
{
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        len--;
    return len == 6 && memcmp(data, "[DONE]", 6) == 0;
}

/* The Responses API ends its stream with the response's last state, not
 * [DONE]: response.completed (or .incomplete, .failed) is its end, and
 * carries its usage. */
static int is_terminal_event(const char *data, size_t len)
{
    const char *type = tg_json_find_key(data, len, "type");
    static const char *const ends[] = {"\"response.completed\"", "\"response.incomplete\"", "\"response.failed\""};
    for (size_t i = 0; type != NULL && i < sizeof(ends) / sizeof(ends[0]); i++) {
        size_t n = strlen(ends[i]);
        if ((size_t)(data + len - type) >= n && memcmp(type, ends[i], n) == 0)
            return 1;
    }
    return 0;
}

void tg_sse_classify(const char *raw, size_t len, tg_sse_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->raw = raw;
    ev->raw_len = len;
    ev->kind = TG_SSE_OTHER;

    /* the payload is what follows the first "data:" line start */
    const char *data = NULL;
    for (size_t i = 0; i + 5 <= len; i++) {
        if ((i == 0 || raw[i - 1] == '\n') && memcmp(raw + i, "data:", 5) == 0) {
            data = raw + i + 5;
            break;
        }
    }
    if (data == NULL)
        return;
    size_t data_len = len - (size_t)(data - raw);
    while (data_len > 0 && *data == ' ') {
        data++;
        data_len--;
    }
    if (is_done(data, data_len)) {
        ev->kind = TG_SSE_DONE;
        return;
    }
    if (data_len == 0 || *data != '{')
        return; /* garbage: forwarded, but never counted */
    ev->kind = is_terminal_event(data, data_len) ? TG_SSE_DONE : TG_SSE_DATA;

    if (tg_usage_scan(data, data_len, &ev->usage) == 1) {
        const char *choices = tg_json_find_key(data, data_len, "choices");
        if (choices == NULL) {
            ev->usage_only = 1;
        } else if (*choices == '[') {
            const char *c = choices + 1, *end = data + data_len;
            while (c < end && (*c == ' ' || *c == '\n' || *c == '\r' || *c == '\t'))
                c++;
            ev->usage_only = c < end && *c == ']';
        }
    }
    /* text: a chat delta's content, a completion's text, a Responses delta */
    static const char *const texts[] = {"content", "text", "delta"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]) && !ev->has_content; i++) {
        const char *v = tg_json_find_key(data, data_len, texts[i]);
        ev->has_content = v != NULL && *v == '"' && v + 1 < data + data_len && v[1] != '"';
    }
}

/* A Responses API event: {"type":"response.…", ...}. */
static int is_responses_event(const tg_sse_event_t *ev)
{
    static const char prefix[] = "\"response.";
    const char *type = tg_json_find_key(ev->raw, ev->raw_len, "type");
    return type != NULL && (size_t)(ev->raw + ev->raw_len - type) >= sizeof(prefix) - 1 &&
           memcmp(type, prefix, sizeof(prefix) - 1) == 0;
}

int tg_sse_has_output(const tg_sse_event_t *ev)
{
    static const char *const members[] = {"tool_calls", "function_call", "refusal", "reasoning_content",
                                          "reasoning", "audio"};
    if (ev->has_content)
        return 1;
    /* A Responses event's output is a delta (text, a call's arguments, a
     * refusal, reasoning): the response object that response.created and
     * response.in_progress carry has a "reasoning" and "tools" of its own. */
    if (ev->kind != TG_SSE_DATA || is_responses_event(ev))
        return 0;
    const char *end = ev->raw + ev->raw_len;
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        const char *v = tg_json_find_key(ev->raw, ev->raw_len, members[i]);
        if (v != NULL && *v != 'n' && !(*v == '"' && v + 1 < end && v[1] == '"'))
            return 1;
    }
    return 0;
}

static int ensure_partial(tg_sse_parser_t *p, size_t need)
{
    if (need <= p->partial_cap)
        return 0;
    size_t cap = p->partial_cap ? p->partial_cap : 1024;
    while (cap < need)
        cap *= 2;
    /* pool memory is released with the request, so the old block is simply dropped */
    char *bigger = p->alloc(p->alloc_ctx, cap);
    if (bigger == NULL)
        return -1;
    if (p->partial_len != 0)
        memcpy(bigger, p->partial, p->partial_len);
    p->partial = bigger;
    p->partial_cap = cap;
    return 0;
}

static int emit(const char *raw, size_t len, tg_sse_event_cb cb, void *cb_ctx)
{
    tg_sse_event_t ev;
    tg_sse_classify(raw, len, &ev);
    return cb(cb_ctx, &ev);
}

int tg_sse_feed(tg_sse_parser_t *p, const char *data, size_t len, tg_sse_event_cb cb, void *cb_ctx)
{
    int rc;

    if (p->overflowed)
        return -1;

    /* finish the event left over from earlier reads first */
    while (p->partial_len != 0 && len != 0) {
        /* a terminator may straddle the boundary: rescan the last 2 old bytes */
        size_t rescan = p->partial_len > 2 ? p->partial_len - 2 : 0;
        size_t take = len;
        if (p->partial_len + take > p->max_event_bytes + 3)
            take = p->max_event_bytes + 3 - p->partial_len;
        if (ensure_partial(p, p->partial_len + take) != 0)
            return -1;
        memcpy(p->partial + p->partial_len, data, take);
        size_t total = p->partial_len + take;
        size_t end = event_end(p->partial, total, rescan);
        if (end == 0) {
            p->partial_len = total;
            if (total > p->max_event_bytes) {
                p->overflowed = 1;
                return -1;
            }
            data += take;
            len -= take;
            continue;
        }
        size_t used = end - p->partial_len; /* bytes of data consumed */
        p->partial_len = 0;
        if ((rc = emit(p->partial, end, cb, cb_ctx)) != 0)
            return rc;
        data += used;
        len -= used;
    }

    /* whole events straight from the caller's buffer */
    size_t end;
    while (len != 0 && (end = event_end(data, len, 0)) != 0) {
        if ((rc = emit(data, end, cb, cb_ctx)) != 0)
            return rc;
        data += end;
        len -= end;
    }
    if (len != 0) {
        if (len > p->max_event_bytes) {
            p->overflowed = 1;
            return -1;
        }
        if (ensure_partial(p, len) != 0)
            return -1;
        memcpy(p->partial, data, len);
        p->partial_len = len;
    }
    return 0;
}
