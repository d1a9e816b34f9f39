/*
 * mock-llm generated answers and their tokens.
 *
 * Prose is "tok1 tok2 ... tokN", one token per word (a stream sends "tok1",
 * " tok2", ...), so a test knows both the text and the count. Generated JSON
 * (structured output, tool arguments) is cut into 4-byte tokens, about what
 * real tokenizers give for JSON; it is dumped ASCII-only so that a token
 * never splits a UTF-8 character.
 */
#include <string.h>
#include "mock.h"

void mock_text_words(struct mock_text *t, h2o_mem_pool_t *pool, uint32_t words)
{
    struct mock_buf buf;
    mock_buf_init(&buf, pool, (size_t)words * 9 + 1);
    t->ends = h2o_mem_alloc_pool(pool, sizeof(*t->ends) * (words ? words : 1));
    for (uint32_t i = 0; i < words; i++) {
        mock_buf_printf(&buf, "%stok%u", i == 0 ? "" : " ", i + 1);
        t->ends[i] = (uint32_t)buf.len;
    }
    t->base = buf.base;
    t->len = buf.len;
    t->count = words;
}

void mock_text_json(struct mock_text *t, h2o_mem_pool_t *pool, const json_t *value)
{
    size_t len = json_dumpb(value, NULL, 0, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    char *text = h2o_mem_alloc_pool(pool, len + 1);
    json_dumpb(value, text, len, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    uint32_t count = (uint32_t)((len + 3) / 4);
    t->ends = h2o_mem_alloc_pool(pool, sizeof(*t->ends) * (count ? count : 1));
    for (uint32_t i = 0; i < count; i++)
        t->ends[i] = (uint32_t)((size_t)(i + 1) * 4 < len ? (size_t)(i + 1) * 4 : len);
    t->base = text;
    t->len = len;
    t->count = count;
}

json_t *mock_text_stop(struct mock_text *t, json_t *sequences)
{
    json_t *matched = NULL;
    size_t cut = t->len;
    size_t i;
    json_t *seq;
    json_array_foreach(sequences, i, seq) {
        size_t len = json_string_length(seq);
        if (!json_is_string(seq) || len == 0)
            continue;
        const char *at = memmem(t->base, t->len, json_string_value(seq), len);
        if (at != NULL && (size_t)(at - t->base) < cut) {
            cut = (size_t)(at - t->base);
            matched = seq;
        }
    }
    if (matched == NULL)
        return NULL;
    uint32_t kept = 0;
    while (kept < t->count && mock_text_start(t, kept) < cut)
        kept++;
    if (kept > 0)
        t->ends[kept - 1] = (uint32_t)cut;
    t->count = kept;
    t->len = cut;
    return matched;
}
