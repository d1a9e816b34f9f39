/*
 * mock-llm token accounting.
 *
 * The usage numbers are a pure function of the request and of the usage
 * knobs (see README.md, "Deterministic usage") so that tests can predict
 * them exactly: a prompt token is a word, an answer token a generated word
 * (or 4 bytes of generated JSON, see text.c).
 */
#include <string.h>
#include "mock.h"

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

size_t mock_words(const char *s, size_t len)
{
    size_t words = 0;
    int in_word = 0;
    for (size_t i = 0; i < len; i++) {
        int space = is_space((unsigned char)s[i]);
        if (!space && !in_word)
            words++;
        in_word = !space;
    }
    return words;
}

static uint64_t string_words(json_t *s)
{
    return mock_words(json_string_value(s), json_string_length(s));
}

/* words() of a content: a string, or an array of blocks whose `text`
 * members count, and, for a tool result, its own `content` or `output`;
 * null (an assistant message with tool calls) is empty. Depth-limited
 * because a body is untrusted. */
static int content_words(json_t *content, uint64_t *words, int depth)
{
    if (content == NULL || json_is_null(content))
        return 0;
    if (json_is_string(content)) {
        *words += string_words(content);
        return 0;
    }
    if (!json_is_array(content) || depth > 4)
        return -1;
    size_t i;
    json_t *block;
    json_array_foreach(content, i, block) {
        json_t *text = json_object_get(block, "text");
        json_t *inner = json_object_get(block, "content");
        if (json_is_string(text))
            *words += string_words(text);
        else if (inner != NULL && content_words(inner, words, depth + 1) != 0)
            return -1;
    }
    return 0;
}

int mock_prompt_tokens(json_t *items, json_t *system, uint64_t *tokens, const char **error)
{
    uint64_t total = 3, words = 0;
    if (system != NULL) {
        if (content_words(system, &words, 0) != 0) {
            *error = "the system prompt must be a string or an array of text blocks";
            return -1;
        }
        total += words + 3;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        json_t *content = json_object_get(item, "content");
        /* a Responses API function_call_output item carries `output` */
        if (content == NULL)
            content = json_object_get(item, "output");
        words = 0;
        if (!json_is_object(item) || content_words(content, &words, 0) != 0) {
            *error = "each message must be an object whose content is a string or an array of parts";
            return -1;
        }
        total += words + 3;
    }
    *tokens = total;
    return 0;
}

int mock_input_tokens(json_t *input, size_t *count, uint64_t *tokens, const char **error)
{
    if (json_is_string(input)) {
        *count = 1;
        *tokens = string_words(input) + 1;
        return 0;
    }
    if (!json_is_array(input) || json_array_size(input) == 0)
        return -1;
    uint64_t total = 0;
    size_t i;
    json_t *item;
    json_array_foreach(input, i, item) {
        if (!json_is_string(item))
            return -1;
        total += string_words(item) + 1;
    }
    *count = json_array_size(input);
    *tokens = total;
    return 0;
}

void mock_content_text(json_t *content, struct mock_buf *out)
{
    if (json_is_string(content)) {
        mock_buf_append(out, json_string_value(content), json_string_length(content));
        return;
    }
    size_t i;
    json_t *block;
    json_array_foreach(content, i, block) {
        json_t *text = json_object_get(block, "text");
        if (json_is_string(text)) {
            mock_buf_append(out, " ", 1);
            mock_buf_append(out, json_string_value(text), json_string_length(text));
        }
    }
}

void mock_answer_length(const struct mock_plan *plan, json_t *limit, int limit_sets_length, struct mock_length *out)
{
    uint32_t max = 0;
    if (json_is_integer(limit) && json_integer_value(limit) > 0)
        max = json_integer_value(limit) > MOCK_MAX_COMPLETION_TOKENS ? MOCK_MAX_COMPLETION_TOKENS
                                                                      : (uint32_t)json_integer_value(limit);
    uint32_t want = MOCK_DEFAULT_COMPLETION_TOKENS;
    if (plan->knobs.output_tokens != 0)
        want = plan->knobs.output_tokens;
    else if (limit_sets_length && max != 0)
        want = max;
    out->cut = max != 0 && max < want;
    out->tokens = out->cut ? max : want;
}
