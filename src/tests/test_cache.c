/*
 * test_cache.c - the response cache's parts without a server: keys
 * (normalisation, what makes a request cacheable, org scoping), the
 * answer payload and the plain <-> stream conversions, the memory tier
 * (LRU within its byte cap, TTL, replacing, coalescing fills and their
 * waiters), and the SQLite tier's methods (get, put, eviction by time
 * and by size).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "cache/answer.h"
#include "cache/key.h"
#include "cache/memory.h"
#include "store/store.h"

#define CHAT "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0}"

static bool key_of(const char *org, const char *body, tg_cache_directive_t d, uint8_t key[TG_CACHE_KEY_LEN])
{
    return tg_cache_key(org, TG_OP_CHAT, body, strlen(body), d, key);
}

/* ------------------------------------------------------------------ keys */

static void test_key_normalisation(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    assert_true(key_of("acme", CHAT, TG_CACHE_DEFAULT, a));
    /* key order, whitespace, string escapes and delivery members do not count */
    assert_true(key_of("acme",
                       " {\"temperature\" : 0,\n\"messages\":[ {\"content\":\"h\\u0069\", \"role\":\"user\"}],"
                       "\t\"model\":\"m\", \"stream\": true, \"stream_options\": {\"include_usage\": true},"
                       " \"user\": \"u-1\"}",
                       TG_CACHE_DEFAULT, b));
    assert_memory_equal(a, b, 32);
    /* every parameter that can change the answer does */
    static const char *const different[] = {
        "{\"model\":\"m2\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi!\"}],\"temperature\":0}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"hi\"}],\"temperature\":0}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0,\"max_tokens\":3}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0,\"top_p\":0.5}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0,\"tools\":[]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0,"
        "\"response_format\":{\"type\":\"json_object\"}}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0,\"stop\":[\"x\"]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0,\"seed\":1}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0,\"logit_bias\":{}}",
    };
    for (size_t i = 0; i < sizeof(different) / sizeof(different[0]); i++) {
        assert_true(key_of("acme", different[i], TG_CACHE_DEFAULT, b));
        if (memcmp(a, b, 32) == 0)
            fail_msg("same key as the base request: %s", different[i]);
    }
    /* one org never shares another's entry; nor chat an embedding's */
    assert_true(key_of("acme2", CHAT, TG_CACHE_DEFAULT, b));
    assert_memory_not_equal(a, b, 32);
    assert_true(tg_cache_key("acme", TG_OP_EMBEDDINGS, CHAT, strlen(CHAT), TG_CACHE_USE, b));
    assert_memory_not_equal(a, b, 32);
}

static void test_key_cacheability(void **state)
{
    (void)state;
    uint8_t k[32];
    const char *warm = "{\"model\":\"m\",\"messages\":[],\"temperature\":0.7}";
    const char *seeded = "{\"model\":\"m\",\"messages\":[],\"temperature\":0.7,\"seed\":7}";
    const char *null_seed = "{\"model\":\"m\",\"messages\":[],\"seed\":null}";
    const char *plain = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"temperature\"}]}";
    const char *zero_real = "{\"model\":\"m\",\"messages\":[],\"temperature\":0.0}";
    assert_false(key_of("o", warm, TG_CACHE_DEFAULT, k));
    assert_true(key_of("o", seeded, TG_CACHE_DEFAULT, k));
    assert_false(key_of("o", null_seed, TG_CACHE_DEFAULT, k));
    assert_false(key_of("o", plain, TG_CACHE_DEFAULT, k));
    assert_true(key_of("o", zero_real, TG_CACHE_DEFAULT, k));
    assert_true(key_of("o", warm, TG_CACHE_USE, k));
    assert_true(key_of("o", warm, TG_CACHE_REFRESH, k));
    assert_false(key_of("o", CHAT, TG_CACHE_BYPASS, k));
    const char *embed = "{\"model\":\"e\",\"input\":\"x\"}";
    assert_false(tg_cache_key("o", TG_OP_EMBEDDINGS, embed, strlen(embed), TG_CACHE_DEFAULT, k));
    assert_true(tg_cache_key("o", TG_OP_EMBEDDINGS, embed, strlen(embed), TG_CACHE_USE, k));
}

static void test_directives(void **state)
{
    (void)state;
    assert_int_equal(tg_cache_directive_parse("use", 3), TG_CACHE_USE);
    assert_int_equal(tg_cache_directive_parse(" Bypass\t", 8), TG_CACHE_BYPASS);
    assert_int_equal(tg_cache_directive_parse("REFRESH", 7), TG_CACHE_REFRESH);
    assert_int_equal(tg_cache_directive_parse("", 0), -1);
    assert_int_equal(tg_cache_directive_parse("usex", 4), -1);
    assert_int_equal(tg_cache_directive_parse("no-store", 8), -1);
}

/* --------------------------------------------------------------- answers */

static char *encode(const tg_cache_answer_t *a, size_t *len)
{
    *len = tg_cache_answer_encode(a, NULL, 0);
    char *p = malloc(*len);
    assert_int_equal(tg_cache_answer_encode(a, p, *len), *len);
    return p;
}

#define B(s) ((tg_bytes_t){s, sizeof(s) - 1})

static void test_payload_round_trip(void **state)
{
    (void)state;
    tg_cache_answer_t a = {
        .streamed = true, .operation = TG_OP_CHAT, .status = 200, .body = B("data: {}\n\n"),
        .usage_event = B("data: {\"usage\":{}}\n\n"), .provider = B("openai"), .model_used = B("gpt-4o"),
        .usage = {.prompt_tokens = 12, .completion_tokens = 34, .cached_tokens = 5, .reasoning_tokens = 6,
                  .present = 1},
    };
    size_t len;
    char *p = encode(&a, &len);
    tg_cache_answer_t b;
    assert_int_equal(tg_cache_answer_decode(p, len, &b), 0);
    assert_true(b.streamed);
    assert_int_equal(b.operation, TG_OP_CHAT);
    assert_int_equal(b.status, 200);
    assert_int_equal(b.content_type.len, 0);
    assert_string_equal(b.body.base, "data: {}\n\n");
    assert_string_equal(b.usage_event.base, "data: {\"usage\":{}}\n\n");
    assert_string_equal(b.provider.base, "openai");
    assert_string_equal(b.model_used.base, "gpt-4o");
    assert_int_equal(b.usage.prompt_tokens, 12);
    assert_int_equal(b.usage.completion_tokens, 34);
    assert_int_equal(b.usage.cached_tokens, 5);
    assert_int_equal(b.usage.reasoning_tokens, 6);
    assert_true(b.usage.present);
    /* every truncation, and a foreign magic, is refused */
    for (size_t n = 0; n < len; n++)
        assert_int_equal(tg_cache_answer_decode(p, n, &b), -1);
    p[0] = 'X';
    assert_int_equal(tg_cache_answer_decode(p, len, &b), -1);
    free(p);
}

static const char stream_events[] =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"g\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"g\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"content\":\"lo\",\"tool_calls\":[{\"index\":0,\"id\":\"t1\",\"type\":\"function\","
    "\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\"\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"g\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},"
    "\"finish_reason\":\"tool_calls\"}]}\n\n";
static const char usage_event[] =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"g\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n";

static void test_stream_to_plain(void **state)
{
    (void)state;
    tg_cache_answer_t a = {.streamed = true, .operation = TG_OP_CHAT, .status = 200, .body = B(stream_events),
                           .usage_event = B(usage_event)};
    size_t len;
    char *text = tg_cache_replay_plain(&a, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    json_t *c = json_loads(text, 0, NULL);
    json_t *expected = json_loads(
        "{\"id\":\"c1\",\"object\":\"chat.completion\",\"created\":7,\"model\":\"g\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":\"Hello\",\"tool_calls\":[{\"id\":\"t1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\":1}\"}}]},\"logprobs\":null,"
        "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,"
        "\"total_tokens\":5}}",
        0, NULL);
    assert_true(json_equal(c, expected));
    json_decref(c);
    json_decref(expected);
    free(text);

    /* the stream itself: the same bytes, the usage chunk only when asked */
    text = tg_cache_replay_stream(&a, true, &len);
    assert_int_equal(len, strlen(stream_events) + strlen(usage_event) + 14);
    assert_memory_equal(text, stream_events, strlen(stream_events));
    assert_string_equal(text + strlen(stream_events), "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
                        "\"created\":7,\"model\":\"g\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
                        "\"completion_tokens\":2,\"total_tokens\":5}}\n\ndata: [DONE]\n\n");
    free(text);
    text = tg_cache_replay_stream(&a, false, &len);
    assert_int_equal(len, strlen(stream_events) + 14);
    free(text);

    /* events that are not chat chunks are not converted */
    tg_cache_answer_t bad = {.streamed = true, .operation = TG_OP_CHAT, .body = B("data: {\"x\":1}\n\n")};
    assert_null(tg_cache_replay_plain(&bad, &len));
    tg_cache_answer_t garbage = {.streamed = true, .operation = TG_OP_CHAT, .body = B("data: {broken\n\n")};
    assert_null(tg_cache_replay_plain(&garbage, &len));
}

static void test_plain_to_stream(void **state)
{
    (void)state;
    static const char completion[] =
        "{\"id\":\"c2\",\"object\":\"chat.completion\",\"created\":9,\"model\":\"g\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":\"Hi there\",\"refusal\":null,\"tool_calls\":"
        "[{\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
        "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2,"
        "\"total_tokens\":6}}";
    tg_cache_answer_t a = {.operation = TG_OP_CHAT, .status = 200, .content_type = B("application/json"),
                           .body = B(completion)};
    size_t len;
    char *text = tg_cache_replay_stream(&a, true, &len);
    assert_non_null(text);
    assert_string_equal(
        text,
        "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":9,\"model\":\"g\",\"choices\":"
        "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi there\",\"tool_calls\":[{\"id\":\"t\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"},\"index\":0}]},\"logprobs\":null,"
        "\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":9,\"model\":\"g\",\"choices\":"
        "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
        "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":9,\"model\":\"g\",\"choices\":[],"
        "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2,\"total_tokens\":6}}\n\n"
        "data: [DONE]\n\n");
    free(text);
    text = tg_cache_replay_stream(&a, false, &len);
    assert_null(strstr(text, "\"usage\""));
    free(text);
    /* a round trip: the stream made of it adds up to the same message */
    tg_cache_answer_t embeddings = {.operation = TG_OP_EMBEDDINGS, .body = B("{\"data\":[]}")};
    assert_null(tg_cache_replay_stream(&embeddings, false, &len));
    tg_cache_answer_t not_json = {.operation = TG_OP_CHAT, .body = B("nope")};
    assert_null(tg_cache_replay_stream(&not_json, false, &len));
}

/* ----------------------------------------------------------- memory tier */

/* An entry of key k (every byte k) whose payload is a plain answer of
 * `body_len` bytes. */
static tg_cache_entry_t *entry(uint8_t k, size_t body_len)
{
    char *body = malloc(body_len + 1);
    memset(body, 'x', body_len);
    body[body_len] = '\0';
    tg_cache_answer_t a = {.operation = TG_OP_CHAT, .status = 200, .body = {body, body_len}};
    size_t len;
    char *p = encode(&a, &len);
    free(body);
    uint8_t key[32];
    memset(key, k, sizeof(key));
    tg_cache_entry_t *e = tg_cache_entry_new(key, p, len);
    assert_non_null(e);
    return e;
}

static bool has(tg_cache_t *c, uint8_t k, double now)
{
    uint8_t key[32];
    memset(key, k, sizeof(key));
    tg_cache_entry_t *e = tg_cache_get(c, key, now);
    tg_cache_entry_release(e);
    return e != NULL;
}

static void put(tg_cache_t *c, uint8_t k, size_t body_len, double now, double ttl, size_t cap)
{
    tg_cache_entry_t *e = entry(k, body_len);
    assert_true(tg_cache_put(c, e, now, ttl, cap));
    tg_cache_entry_release(e);
}

static void test_memory_lru_and_cap(void **state)
{
    (void)state;
    tg_cache_t *c = tg_cache_new();
    tg_cache_stats_t st;
    size_t cap = 15000; /* four of the entries below, not five */
    for (uint8_t k = 1; k <= 3; k++)
        put(c, k, 3000, 0, 100, cap);
    tg_cache_stats(c, &st);
    assert_int_equal(st.entries, 3);
    size_t one = st.bytes / 3;
    assert_true(one > 3000);
    assert_true(has(c, 1, 1)); /* 1 is now the most recent: 2 is the coldest */
    for (uint8_t k = 4; k <= 6; k++)
        put(c, k, 3000, 2, 100, cap);
    tg_cache_stats(c, &st);
    assert_true(st.bytes <= cap);
    assert_int_equal(st.entries, cap / one);
    assert_false(has(c, 2, 3));
    assert_true(has(c, 1, 3));
    assert_true(has(c, 6, 3));
    /* an entry over a quarter of the cap is not kept */
    tg_cache_entry_t *big = entry(9, cap / 4);
    assert_false(tg_cache_put(c, big, 3, 100, cap));
    tg_cache_entry_release(big);
    assert_false(has(c, 9, 3));
    /* replacing a key keeps one entry */
    put(c, 6, 100, 4, 100, cap);
    tg_cache_stats(c, &st);
    assert_int_equal(st.entries, cap / one);
    /* a smaller cap (a reload) evicts at the next put */
    put(c, 10, 100, 5, 100, 4 * one);
    tg_cache_stats(c, &st);
    assert_true(st.bytes <= 4 * one);
    assert_true(has(c, 10, 5));
    tg_cache_free(c);
}

static void test_memory_ttl(void **state)
{
    (void)state;
    tg_cache_t *c = tg_cache_new();
    put(c, 1, 10, 100, 5, 1 << 20);
    put(c, 2, 10, 100, 50, 1 << 20);
    assert_true(has(c, 1, 104.9));
    assert_false(has(c, 1, 105)); /* dropped when met */
    tg_cache_stats_t st;
    tg_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    put(c, 3, 10, 100, 5, 1 << 20);
    tg_cache_sweep(c, 200, 256); /* the tick's sweep: both are past */
    tg_cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    tg_cache_free(c);
}

typedef struct waiter {
    tg_cache_waiter_t w;
    int woken;
    tg_cache_wake_t why;
} waiter_t;

static void on_wake(tg_cache_waiter_t *w, tg_cache_wake_t why)
{
    waiter_t *me = (waiter_t *)w;
    me->woken++;
    me->why = why;
}

static void test_coalescing(void **state)
{
    (void)state;
    tg_cache_t *c = tg_cache_new();
    uint8_t key[32];
    memset(key, 7, sizeof(key));
    tg_cache_entry_t *e = NULL;
    tg_cache_flight_t *f = NULL, *f2 = NULL;
    assert_int_equal(tg_cache_lookup(c, key, 0, NULL, &e, &f), TG_CACHE_FILL);
    assert_non_null(f);
    waiter_t w[3] = {{.w.wake = on_wake}, {.w.wake = on_wake}, {.w.wake = on_wake}};
    assert_int_equal(tg_cache_lookup(c, key, 1, &w[0].w, &e, &f2), TG_CACHE_WAIT);
    assert_int_equal(tg_cache_lookup(c, key, 2, &w[1].w, &e, &f2), TG_CACHE_WAIT);
    assert_int_equal(tg_cache_lookup(c, key, 3, NULL, &e, &f2), TG_CACHE_MISS);
    tg_cache_stats_t st;
    tg_cache_stats(c, &st);
    assert_int_equal(st.flights, 1);
    assert_int_equal(st.waiters, 2);
    /* the first waiter waited too long */
    tg_cache_expire_waiters(c, 11.5, 10);
    assert_int_equal(w[0].woken, 1);
    assert_int_equal(w[0].why, TG_CACHE_WAKE_TIMED_OUT);
    assert_int_equal(w[1].woken, 0);
    /* the filler lands: the entry is there for the rest */
    put(c, 7, 10, 4, 100, 1 << 20);
    tg_cache_land(c, f, true);
    assert_int_equal(w[1].woken, 1);
    assert_int_equal(w[1].why, TG_CACHE_WAKE_FILLED);
    assert_int_equal(w[0].woken, 1);
    assert_int_equal(tg_cache_lookup(c, key, 5, &w[2].w, &e, &f2), TG_CACHE_HIT);
    tg_cache_entry_release(e);
    /* a failed fill sends its waiters upstream */
    uint8_t other[32];
    memset(other, 8, sizeof(other));
    assert_int_equal(tg_cache_lookup(c, other, 6, NULL, &e, &f), TG_CACHE_FILL);
    assert_int_equal(tg_cache_lookup(c, other, 6, &w[2].w, &e, &f2), TG_CACHE_WAIT);
    tg_cache_land(c, f, false);
    assert_int_equal(w[2].why, TG_CACHE_WAKE_FAILED);
    /* a waiter list has a bound */
    assert_int_equal(tg_cache_lookup(c, other, 7, NULL, &e, &f), TG_CACHE_FILL);
    waiter_t *many = calloc(TG_CACHE_MAX_WAITERS + 1, sizeof(*many));
    for (size_t i = 0; i < TG_CACHE_MAX_WAITERS; i++) {
        many[i].w.wake = on_wake;
        assert_int_equal(tg_cache_lookup(c, other, 7, &many[i].w, &e, &f2), TG_CACHE_WAIT);
    }
    many[TG_CACHE_MAX_WAITERS].w.wake = on_wake;
    assert_int_equal(tg_cache_lookup(c, other, 7, &many[TG_CACHE_MAX_WAITERS].w, &e, &f2), TG_CACHE_MISS);
    tg_cache_land(c, f, false);
    for (size_t i = 0; i < TG_CACHE_MAX_WAITERS; i++)
        assert_int_equal(many[i].woken, 1);
    free(many);
    tg_cache_stats(c, &st);
    assert_int_equal(st.flights, 0);
    assert_int_equal(st.waiters, 0);
    tg_cache_free(c);
}

/* ----------------------------------------------------------- SQLite tier */

static void test_sqlite_tier(void **state)
{
    (void)state;
    char dir[] = "/tmp/tg_cache_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/c.db", dir);
    const tg_store_methods_t *m = tg_store_backend("sqlite");
    tg_store_options_t options = {.path = path};
    tg_store_t *s = NULL;
    char *err = NULL;
    assert_int_equal(m->open(&options, &s, &err), TG_STORE_OK);
    assert_true(m->schema_version(s) >= 2); /* 2 made the cache table */
    uint8_t keys[4][32];
    char payload[1000];
    memset(payload, 'p', sizeof(payload));
    for (int i = 0; i < 4; i++) {
        memset(keys[i], i + 1, 32);
        /* created 10, 20, 30, 40; key 0 expires at 50, the others at 1000 */
        assert_int_equal(m->cache_put(s, keys[i], "acme", 10.0 * (i + 1), i == 0 ? 50 : 1000, payload, 100 * (i + 1)),
                         TG_STORE_OK);
    }
    char *got = NULL;
    size_t len = 0;
    double expires = 0;
    assert_int_equal(m->cache_get(s, keys[1], 60, &got, &len, &expires), TG_STORE_OK);
    assert_int_equal(len, 200);
    assert_memory_equal(got, payload, 200);
    assert_true(expires == 1000);
    free(got);
    assert_int_equal(m->cache_get(s, keys[0], 60, &got, &len, &expires), TG_STORE_NOT_FOUND);
    /* a put replaces */
    assert_int_equal(m->cache_put(s, keys[1], "acme", 25, 1000, "new", 3), TG_STORE_OK);
    assert_int_equal(m->cache_get(s, keys[1], 60, &got, &len, &expires), TG_STORE_OK);
    assert_int_equal(len, 3);
    free(got);
    /* eviction: the expired row, then the oldest until the cap holds (703 -> 700) */
    int64_t evicted = 0;
    assert_int_equal(m->cache_evict(s, 60, 700, &evicted), TG_STORE_OK);
    assert_int_equal(evicted, 2);
    assert_int_equal(m->cache_get(s, keys[1], 60, &got, &len, &expires), TG_STORE_NOT_FOUND);
    assert_int_equal(m->cache_get(s, keys[2], 60, &got, &len, &expires), TG_STORE_OK);
    free(got);
    assert_int_equal(m->cache_evict(s, 60, 500, &evicted), TG_STORE_OK);
    assert_int_equal(evicted, 1);
    assert_int_equal(m->cache_get(s, keys[2], 60, &got, &len, &expires), TG_STORE_NOT_FOUND);
    assert_int_equal(m->cache_get(s, keys[3], 60, &got, &len, &expires), TG_STORE_OK);
    free(got);
    assert_int_equal(m->cache_evict(s, 60, 500, &evicted), TG_STORE_OK);
    assert_int_equal(evicted, 0);
    m->close(s);
    unlink(path);
    char wal[80];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_normalisation),
        cmocka_unit_test(test_key_cacheability),
        cmocka_unit_test(test_directives),
        cmocka_unit_test(test_payload_round_trip),
        cmocka_unit_test(test_stream_to_plain),
        cmocka_unit_test(test_plain_to_stream),
        cmocka_unit_test(test_memory_lru_and_cap),
        cmocka_unit_test(test_memory_ttl),
        cmocka_unit_test(test_coalescing),
        cmocka_unit_test(test_sqlite_tier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
