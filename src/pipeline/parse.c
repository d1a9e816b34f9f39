/* parse.c: the parse + validate stage (see parse.h). The body is checked
 * and searched in one pass without building a tree (json_body.c); the
 * upstream body is the client's bytes with at most two spans replaced. */
#include "pipeline/parse.h"
#include "pipeline/stages.h"

#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "pipeline/multipart.h"

static int fail(tg_parse_out_t *out, int status, tg_error_code_t code, const char *message, const char *param)
{
    tg_error_set(&out->error, status, TG_ERR_INVALID_REQUEST, code, message, param);
    return -1;
}

static bool is_true(const char *body, tg_span_t span)
{
    return span.len == 4 && memcmp(body + span.off, "true", 4) == 0;
}

/* A JSON whole number up to 10^9 at span, else -1 (the provider judges
 * other values; limits then assume their default). */
static long whole_number(const char *body, tg_span_t span)
{
    if (span.len == 0 || span.len > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < span.len; i++) {
        char c = body[span.off + i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

/* An audio transcription's multipart/form-data body: its model field is
 * all the gateway reads (and replaces); the file goes on as it came. */
static int parse_form(const tg_parse_in_t *in, const char *body, tg_parse_out_t *out)
{
    const char *boundary;
    size_t boundary_len;
    tg_span_t model;
    if (in->content_type == NULL ||
        !tg_multipart_boundary(in->content_type, in->content_type_len, &boundary, &boundary_len))
        return fail(out, 400, TG_CODE_INVALID_REQUEST, "The body must be multipart/form-data with a boundary.", NULL);
    if (!tg_multipart_field(body, in->body_len, boundary, boundary_len, "model", &model) || model.len == 0 ||
        model.len >= TG_MODEL_NAME_MAX)
        return fail(out, 400, TG_CODE_MISSING_MODEL, "You must provide a model parameter.", "model");
    out->members.model = model;
    out->members.model_raw = true;
    out->members.object_end = in->body_len;
    out->model = body + model.off;
    out->model_len = model.len;
    out->max_tokens = -1;
    return 0;
}

int tg_parse_request(const tg_parse_in_t *in, tg_parse_out_t *out)
{
    memset(out, 0, offsetof(tg_parse_out_t, model_buf));
    if (in->body_len > in->max_body_bytes)
        return fail(out, 413, TG_CODE_BODY_TOO_LARGE, "Request body is larger than the configured limit.", NULL);

    const char *body = in->body != NULL ? in->body : "";
    tg_json_body_t *m = &out->members;
    if (tg_operation_required_member(in->operation) == NULL) /* a form: the audio file and its fields */
        return parse_form(in, body, out);
    if (tg_json_body_scan(body, in->body_len, m) != 0 || m->duplicate)
        return fail(out, 400, TG_CODE_INVALID_JSON, "We could not parse the JSON body of your request.", NULL);

    if (m->model.len < 3 || body[m->model.off] != '"')
        return fail(out, 400, TG_CODE_MISSING_MODEL, "You must provide a model parameter as a string.", "model");
    if (memchr(body + m->model.off, '\\', m->model.len) == NULL) {
        out->model = body + m->model.off + 1;
        out->model_len = m->model.len - 2;
    } else {
        long n = tg_json_string_decode(body, m->model, out->model_buf, sizeof(out->model_buf));
        /* an over-long or NUL-carrying name can match no configured model */
        out->model = n > 0 ? out->model_buf : "";
        out->model_len = n > 0 ? (size_t)n : 0;
    }

    out->max_tokens = whole_number(body, m->max_completion_tokens.len ? m->max_completion_tokens : m->max_tokens);
    const char *required = tg_operation_required_member(in->operation);
    const tg_span_t *member = strcmp(required, "messages") == 0 ? &m->messages
                              : strcmp(required, "prompt") == 0 ? &m->prompt
                                                                 : &m->input;
    if (in->operation == TG_OP_CHAT && (m->messages.len == 0 || body[m->messages.off] != '['))
        return fail(out, 400, TG_CODE_INVALID_REQUEST, "'messages' is a required array.", "messages");
    if (member->len == 0) {
        snprintf(out->message, sizeof(out->message), "'%s' is a required property.", required);
        return fail(out, 400, TG_CODE_INVALID_REQUEST, out->message, required);
    }
    out->stream = is_true(body, m->stream) && tg_operation_streams(in->operation);
    out->usage_requested = is_true(body, m->include_usage);
    return 0;
}

/* Output that counts what it would write and writes only what fits. */
typedef struct writer {
    char *buf;
    size_t cap;
    size_t len;
} writer_t;

static void put(writer_t *w, const char *s, size_t n)
{
    if (w->len + n <= w->cap)
        memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void put_json_string(writer_t *w, const char *s)
{
    char escaped[TG_MODEL_NAME_MAX * 6]; /* model names: an escape is at most 6 bytes */
    put(w, "\"", 1);
    put(w, escaped, tg_json_escape(escaped, sizeof(escaped), s, strlen(s)));
    put(w, "\"", 1);
}

size_t tg_parse_build_upstream_body(const char *body, size_t body_len, const tg_json_body_t *m,
                                    const char *upstream_model, bool add_usage_option, char *buf, size_t cap)
{
    /* the stream_options edit: a span to replace (len 0 = pure insertion) */
    tg_span_t at = {0, 0};
    const char *text = NULL;
    if (add_usage_option) {
        if (m->stream_options.len == 0) {
            at.off = m->object_end;
            text = ",\"stream_options\":{\"include_usage\":true}";
        } else if (body[m->stream_options.off] != '{') {
            at = m->stream_options;
            text = "{\"include_usage\":true}";
        } else if (m->include_usage.len != 0) {
            at = m->include_usage;
            text = "true";
        } else {
            at.off = m->stream_options.off + 1;
            size_t first = at.off;
            while (body[first] == ' ' || body[first] == '\t' || body[first] == '\n' || body[first] == '\r')
                first++;
            text = body[first] == '}' ? "\"include_usage\":true" : "\"include_usage\":true,";
        }
    }

    writer_t w = {buf, cap, 0};
    bool edit_first = text != NULL && at.off < m->model.off;
    size_t pos = 0;
    if (edit_first) {
        put(&w, body, at.off);
        put(&w, text, strlen(text));
        pos = at.off + at.len;
    }
    put(&w, body + pos, m->model.off - pos);
    if (m->model_raw)
        put(&w, upstream_model, strlen(upstream_model));
    else
        put_json_string(&w, upstream_model);
    pos = m->model.off + m->model.len;
    if (text != NULL && !edit_first) {
        put(&w, body + pos, at.off - pos);
        put(&w, text, strlen(text));
        pos = at.off + at.len;
    }
    put(&w, body + pos, body_len - pos);
    return w.len;
}

tg_stage_result_t tg_stage_parse(tg_request_t *r)
{
    ssize_t ct = h2o_find_header(&r->req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    tg_parse_in_t in = {r->req->entity.base, r->req->entity.len, r->env.cfg->server.max_body_bytes, r->operation,
                        ct >= 0 ? r->req->headers.entries[ct].value.base : NULL,
                        ct >= 0 ? r->req->headers.entries[ct].value.len : 0};
    if (tg_parse_request(&in, &r->parsed) == 0)
        return TG_STAGE_CONTINUE;
    r->error = r->parsed.error;
    return TG_STAGE_RESPOND;
}
