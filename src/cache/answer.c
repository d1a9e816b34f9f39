/* answer.c: see answer.h. The payload is a fixed header (little-endian
 * integers, whatever the machine, so that a database moved between
 * machines still reads) followed by the five strings, each with a NUL:
 *
 *   "TGC1" | streamed u8 | operation u8 | status u16 | 5 x length u32
 *   | prompt, completion, cached, reasoning tokens i64 | usage present u8
 *   | content_type NUL | body NUL | usage_event NUL | provider NUL | model_used NUL
 *
 * Conversions parse with jansson: they run only when a hit's form differs
 * from its request's, and a few microseconds there beat a second copy of
 * every entry kept in the other form. */
#include "cache/answer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "TGC1"
#define STRINGS 5
#define HEADER (4 + 4 + 4 * STRINGS + 8 * 4 + 1)
/* Bounds of a conversion: a stream with more choices or tool calls than
 * this is not converted (it is a miss for the other form). */
#define MAX_CHOICES 128
#define MAX_TOOL_CALLS 128

/* ------------------------------------------------------------- payload */

static void put_le(char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (char)(v >> (8 * i));
}

static uint64_t get_le(const char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)(unsigned char)p[i] << (8 * i);
    return v;
}

static void strings_of(const tg_cache_answer_t *a, const tg_bytes_t **s)
{
    s[0] = &a->content_type;
    s[1] = &a->body;
    s[2] = &a->usage_event;
    s[3] = &a->provider;
    s[4] = &a->model_used;
}

size_t tg_cache_answer_encode(const tg_cache_answer_t *a, char *buf, size_t cap)
{
    const tg_bytes_t *s[STRINGS];
    strings_of(a, s);
    size_t need = HEADER;
    for (int i = 0; i < STRINGS; i++)
        need += s[i]->len + 1;
    if (need > cap)
        return need;
    memcpy(buf, MAGIC, 4);
    buf[4] = (char)a->streamed;
    buf[5] = (char)a->operation;
    put_le(buf + 6, (uint64_t)a->status, 2);
    char *p = buf + 8;
    for (int i = 0; i < STRINGS; i++, p += 4)
        put_le(p, s[i]->len, 4);
    const long tokens[4] = {a->usage.prompt_tokens, a->usage.completion_tokens, a->usage.cached_tokens,
                            a->usage.reasoning_tokens};
    for (int i = 0; i < 4; i++, p += 8)
        put_le(p, (uint64_t)(int64_t)tokens[i], 8);
    *p++ = (char)(a->usage.present != 0);
    for (int i = 0; i < STRINGS; i++) {
        if (s[i]->len > 0)
            memcpy(p, s[i]->base, s[i]->len);
        p += s[i]->len;
        *p++ = '\0';
    }
    return need;
}

int tg_cache_answer_decode(const char *p, size_t len, tg_cache_answer_t *a)
{
    memset(a, 0, sizeof(*a));
    if (len < HEADER || memcmp(p, MAGIC, 4) != 0 || (unsigned char)p[5] >= TG_OP_COUNT)
        return -1;
    a->streamed = p[4] != 0;
    a->operation = (tg_operation_t)(unsigned char)p[5];
    a->status = (int)get_le(p + 6, 2);
    tg_bytes_t *s[STRINGS] = {&a->content_type, &a->body, &a->usage_event, &a->provider, &a->model_used};
    size_t at = HEADER;
    for (int i = 0; i < STRINGS; i++) {
        size_t n = (size_t)get_le(p + 8 + 4 * i, 4);
        if (n >= len - at || p[at + n] != '\0')
            return -1;
        *s[i] = (tg_bytes_t){p + at, n};
        at += n + 1;
    }
    if (at != len)
        return -1;
    long *tokens[4] = {&a->usage.prompt_tokens, &a->usage.completion_tokens, &a->usage.cached_tokens,
                       &a->usage.reasoning_tokens};
    for (int i = 0; i < 4; i++)
        *tokens[i] = (long)(int64_t)get_le(p + 8 + 4 * STRINGS + 8 * i, 8);
    a->usage.present = p[HEADER - 1] != 0;
    return 0;
}

/* -------------------------------------------------------------- output */

typedef struct out {
    char *p;
    size_t len, cap;
    bool failed;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *grown = realloc(o->p, cap);
        if (grown == NULL) {
            o->failed = true;
            return;
        }
        o->p = grown;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

/* `data: <json>\n\n`; takes the reference to obj. */
static void put_event(out_t *o, json_t *obj)
{
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text == NULL) {
        o->failed = true;
        return;
    }
    put(o, "data: ", 6);
    put(o, text, strlen(text));
    put(o, "\n\n", 2);
    free(text);
}

static char *finish(out_t *o, size_t *len)
{
    if (o->failed) {
        free(o->p);
        return NULL;
    }
    *len = o->len;
    return o->p;
}

/* ------------------------------------------------------- plain -> stream */

/* A chunk's frame: id, object, created, model (and system_fingerprint)
 * of the completion, then `choices`. */
static json_t *chunk_of(json_t *completion, json_t *choices)
{
    json_t *c = json_object();
    static const char *const copied[] = {"id", "created", "model", "system_fingerprint"};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(completion, copied[i]);
        if (v != NULL)
            json_object_set(c, copied[i], v);
        if (i == 0)
            json_object_set_new(c, "object", json_string("chat.completion.chunk"));
    }
    json_object_set_new(c, "choices", choices);
    return c;
}

/* A message as a delta: its members but the null ones, each tool call
 * with its index, as streams number them. */
static json_t *delta_of(json_t *message)
{
    json_t *delta = json_object();
    const char *name;
    json_t *v;
    json_object_foreach(message, name, v) {
        if (json_is_null(v))
            continue;
        if (strcmp(name, "tool_calls") == 0 && json_is_array(v)) {
            json_t *calls = json_array();
            for (size_t i = 0; i < json_array_size(v); i++) {
                json_t *call = json_deep_copy(json_array_get(v, i));
                if (json_is_object(call))
                    json_object_set_new(call, "index", json_integer((json_int_t)i));
                json_array_append_new(calls, call);
            }
            json_object_set_new(delta, name, calls);
        } else {
            json_object_set(delta, name, v);
        }
    }
    return delta;
}

static void plain_events(out_t *o, json_t *completion, bool include_usage)
{
    json_t *choices = json_object_get(completion, "choices");
    if (!json_is_array(choices)) {
        o->failed = true;
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < json_array_size(choices); i++) {
            json_t *choice = json_array_get(choices, i), *index = json_object_get(choice, "index");
            json_t *c = json_object();
            json_object_set_new(c, "index", index != NULL ? json_incref(index) : json_integer((json_int_t)i));
            if (pass == 0) {
                json_object_set_new(c, "delta", delta_of(json_object_get(choice, "message")));
                json_t *logprobs = json_object_get(choice, "logprobs");
                json_object_set_new(c, "logprobs", logprobs != NULL ? json_incref(logprobs) : json_null());
                json_object_set_new(c, "finish_reason", json_null());
            } else {
                json_object_set_new(c, "delta", json_object());
                json_object_set_new(c, "logprobs", json_null());
                json_t *reason = json_object_get(choice, "finish_reason");
                json_object_set_new(c, "finish_reason", reason != NULL ? json_incref(reason) : json_string("stop"));
            }
            json_t *list = json_array();
            json_array_append_new(list, c);
            put_event(o, chunk_of(completion, list));
        }
    }
    json_t *usage = json_object_get(completion, "usage");
    if (include_usage && json_is_object(usage)) {
        json_t *c = chunk_of(completion, json_array());
        json_object_set(c, "usage", usage);
        put_event(o, c);
    }
}

char *tg_cache_replay_stream(const tg_cache_answer_t *a, bool include_usage, size_t *len)
{
    out_t o = {0};
    if (a->streamed) {
        put(&o, a->body.base, a->body.len);
        if (include_usage)
            put(&o, a->usage_event.base, a->usage_event.len);
    } else {
        json_t *completion = a->operation == TG_OP_CHAT ? json_loadb(a->body.base, a->body.len, 0, NULL) : NULL;
        if (json_is_object(completion))
            plain_events(&o, completion, include_usage);
        else
            o.failed = true;
        json_decref(completion);
    }
    put(&o, "data: [DONE]\n\n", 14);
    return finish(&o, len);
}

/* ------------------------------------------------------- stream -> plain */

typedef struct text {
    out_t o;
    bool seen;
} text_t;

static void text_add(text_t *t, json_t *v)
{
    if (!json_is_string(v))
        return;
    t->seen = true;
    put(&t->o, json_string_value(v), json_string_length(v));
}

static json_t *text_json(text_t *t)
{
    return t->seen ? json_stringn(t->o.p != NULL ? t->o.p : "", t->o.len) : json_null();
}

typedef struct tool_call {
    json_t *id, *type;
    text_t name, arguments;
} tool_call_t;

typedef struct choice {
    bool seen;
    json_t *role, *finish_reason;
    text_t content, refusal;
    tool_call_t calls[MAX_TOOL_CALLS];
    size_t call_count;
} choice_t;

typedef struct sum {
    json_t *frame; /* the first chunk: id, created, model, system_fingerprint */
    choice_t *choices;
    size_t choice_count;
    bool failed;
} sum_t;

static void add_tool_calls(sum_t *s, choice_t *ch, json_t *calls)
{
    for (size_t i = 0; i < json_array_size(calls); i++) {
        json_t *call = json_array_get(calls, i);
        json_t *index = json_object_get(call, "index");
        json_int_t at = json_is_integer(index) ? json_integer_value(index) : (json_int_t)i;
        if (at < 0 || at >= MAX_TOOL_CALLS) {
            s->failed = true;
            return;
        }
        tool_call_t *tc = &ch->calls[at];
        if (ch->call_count <= (size_t)at)
            ch->call_count = (size_t)at + 1;
        json_t *v;
        if ((v = json_object_get(call, "id")) != NULL && !json_is_null(v))
            json_decref(tc->id), tc->id = json_incref(v);
        if ((v = json_object_get(call, "type")) != NULL && !json_is_null(v))
            json_decref(tc->type), tc->type = json_incref(v);
        json_t *function = json_object_get(call, "function");
        text_add(&tc->name, json_object_get(function, "name"));
        text_add(&tc->arguments, json_object_get(function, "arguments"));
    }
}

static void add_chunk(sum_t *s, json_t *chunk)
{
    json_t *choices = json_object_get(chunk, "choices");
    if (!json_is_object(chunk) || !json_is_array(choices)) {
        s->failed = true;
        return;
    }
    if (s->frame == NULL)
        s->frame = json_incref(chunk);
    for (size_t i = 0; i < json_array_size(choices) && !s->failed; i++) {
        json_t *c = json_array_get(choices, i), *index = json_object_get(c, "index");
        json_int_t at = json_is_integer(index) ? json_integer_value(index) : 0;
        if (at < 0 || at >= MAX_CHOICES) {
            s->failed = true;
            return;
        }
        if ((size_t)at >= s->choice_count) {
            choice_t *grown = realloc(s->choices, ((size_t)at + 1) * sizeof(*grown));
            if (grown == NULL) {
                s->failed = true;
                return;
            }
            memset(grown + s->choice_count, 0, ((size_t)at + 1 - s->choice_count) * sizeof(*grown));
            s->choices = grown;
            s->choice_count = (size_t)at + 1;
        }
        choice_t *ch = &s->choices[at];
        ch->seen = true;
        json_t *delta = json_object_get(c, "delta"), *v;
        if ((v = json_object_get(delta, "role")) != NULL && json_is_string(v))
            json_decref(ch->role), ch->role = json_incref(v);
        text_add(&ch->content, json_object_get(delta, "content"));
        text_add(&ch->refusal, json_object_get(delta, "refusal"));
        if (json_is_array(v = json_object_get(delta, "tool_calls")))
            add_tool_calls(s, ch, v);
        if ((v = json_object_get(c, "finish_reason")) != NULL && !json_is_null(v))
            json_decref(ch->finish_reason), ch->finish_reason = json_incref(v);
    }
}

/* Each `data:` line of the events (one per event, as providers send). */
static void add_events(sum_t *s, tg_bytes_t events)
{
    const char *p = events.base, *end = events.base + events.len;
    while (p < end && !s->failed) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if (eol - p > 5 && memcmp(p, "data:", 5) == 0) {
            const char *json = p + 5;
            json_t *chunk = json_loadb(json, (size_t)(eol - json), 0, NULL);
            if (chunk == NULL)
                s->failed = true;
            else
                add_chunk(s, chunk);
            json_decref(chunk);
        }
        p = eol + 1;
    }
}

static json_t *tool_calls_json(tool_call_t *calls, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *call = json_object(), *function = json_object();
        json_object_set(call, "id", calls[i].id != NULL ? calls[i].id : json_null());
        json_object_set(call, "type", calls[i].type != NULL ? calls[i].type : json_null());
        json_object_set_new(function, "name", text_json(&calls[i].name));
        json_object_set_new(function, "arguments", text_json(&calls[i].arguments));
        json_object_set_new(call, "function", function);
        json_array_append_new(list, call);
    }
    return list;
}

static json_t *usage_json(const tg_cache_answer_t *a)
{
    json_t *event = NULL;
    if (a->usage_event.len > 5) {
        const char *json = memchr(a->usage_event.base, ':', a->usage_event.len);
        if (json != NULL)
            event = json_loadb(json + 1, a->usage_event.len - (size_t)(json + 1 - a->usage_event.base),
                               JSON_DISABLE_EOF_CHECK, NULL);
    }
    json_t *usage = json_object_get(event, "usage");
    if (json_is_object(usage)) {
        json_incref(usage);
        json_decref(event);
        return usage;
    }
    json_decref(event);
    if (!a->usage.present)
        return json_null();
    return json_pack("{sIsIsI}", "prompt_tokens", (json_int_t)a->usage.prompt_tokens, "completion_tokens",
                     (json_int_t)a->usage.completion_tokens, "total_tokens",
                     (json_int_t)(a->usage.prompt_tokens + a->usage.completion_tokens));
}

static json_t *completion_of(sum_t *s, const tg_cache_answer_t *a)
{
    json_t *c = json_object();
    json_object_set(c, "id", json_object_get(s->frame, "id"));
    json_object_set_new(c, "object", json_string("chat.completion"));
    json_object_set(c, "created", json_object_get(s->frame, "created"));
    json_object_set(c, "model", json_object_get(s->frame, "model"));
    json_t *choices = json_array();
    for (size_t i = 0; i < s->choice_count; i++) {
        choice_t *ch = &s->choices[i];
        if (!ch->seen)
            continue;
        json_t *message = json_object();
        json_object_set_new(message, "role", ch->role != NULL ? json_incref(ch->role) : json_string("assistant"));
        json_object_set_new(message, "content", text_json(&ch->content));
        if (ch->refusal.seen)
            json_object_set_new(message, "refusal", text_json(&ch->refusal));
        if (ch->call_count > 0)
            json_object_set_new(message, "tool_calls", tool_calls_json(ch->calls, ch->call_count));
        json_t *choice = json_object();
        json_object_set_new(choice, "index", json_integer((json_int_t)i));
        json_object_set_new(choice, "message", message);
        json_object_set_new(choice, "logprobs", json_null());
        json_object_set(choice, "finish_reason", ch->finish_reason != NULL ? ch->finish_reason : json_null());
        json_array_append_new(choices, choice);
    }
    json_object_set_new(c, "choices", choices);
    json_object_set_new(c, "usage", usage_json(a));
    json_t *fingerprint = json_object_get(s->frame, "system_fingerprint");
    if (fingerprint != NULL)
        json_object_set(c, "system_fingerprint", fingerprint);
    return c;
}

static void sum_free(sum_t *s)
{
    for (size_t i = 0; i < s->choice_count; i++) {
        choice_t *ch = &s->choices[i];
        json_decref(ch->role);
        json_decref(ch->finish_reason);
        free(ch->content.o.p);
        free(ch->refusal.o.p);
        for (size_t k = 0; k < ch->call_count; k++) {
            json_decref(ch->calls[k].id);
            json_decref(ch->calls[k].type);
            free(ch->calls[k].name.o.p);
            free(ch->calls[k].arguments.o.p);
        }
    }
    free(s->choices);
    json_decref(s->frame);
}

char *tg_cache_replay_plain(const tg_cache_answer_t *a, size_t *len)
{
    if (!a->streamed || a->operation != TG_OP_CHAT)
        return NULL;
    sum_t s = {0};
    add_events(&s, a->body);
    bool failed = s.failed || s.frame == NULL;
    for (size_t i = 0; !failed && i < s.choice_count; i++) {
        choice_t *ch = &s.choices[i];
        failed = ch->content.o.failed || ch->refusal.o.failed;
        for (size_t k = 0; !failed && k < ch->call_count; k++)
            failed = ch->calls[k].name.o.failed || ch->calls[k].arguments.o.failed;
    }
    char *text = NULL;
    if (!failed) {
        json_t *c = completion_of(&s, a);
        text = json_dumps(c, JSON_COMPACT);
        json_decref(c);
    }
    sum_free(&s);
    if (text != NULL)
        *len = strlen(text);
    return text;
}
