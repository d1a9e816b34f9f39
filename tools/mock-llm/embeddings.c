/*
 * mock-llm POST /v1/embeddings: one deterministic vector per input, of the
 * requested `dimensions` (8 by default), as floats or, with
 * "encoding_format": "base64" (what the OpenAI SDKs ask for), as the base64
 * of little-endian float32s.
 */
#include <string.h>
#include "mock.h"

#define DEFAULT_DIMENSIONS 8
#define MAX_DIMENSIONS 4096

/* Deterministic and distinct per input: ((index + 1) * (j + 1) mod 100) / 100. */
static float embedding_value(size_t index, size_t j)
{
    return (float)(((index + 1) * (j + 1)) % 100) / 100.0f;
}

static void append_base64(struct mock_buf *out, size_t index, size_t dimensions)
{
    unsigned char *raw = h2o_mem_alloc_pool(out->pool, dimensions * 4);
    for (size_t j = 0; j < dimensions; j++) {
        float f = embedding_value(index, j);
        uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        for (size_t b = 0; b < 4; b++)
            raw[j * 4 + b] = (unsigned char)(bits >> (8 * b));
    }
    mock_buf_append(out, "\"", 1);
    mock_buf_base64(out, raw, dimensions * 4);
    mock_buf_append(out, "\"", 1);
}

void mock_answer_embeddings(struct mock_call *call)
{
    h2o_req_t *req = call->req;
    json_t *model, *body = mock_call_body(call, 1, &model);
    const char *error = "'input' must be a string or an array of strings";
    size_t count, dimensions = DEFAULT_DIMENSIONS;
    uint64_t tokens;
    if (body == NULL)
        return;
    if (mock_input_tokens(json_object_get(body, "input"), &count, &tokens, &error) != 0) {
        mock_call_invalid(call, error);
        return;
    }
    json_t *dims = json_object_get(body, "dimensions");
    if (dims != NULL && !json_is_null(dims)) {
        if (!json_is_integer(dims) || json_integer_value(dims) < 1 || json_integer_value(dims) > MAX_DIMENSIONS) {
            mock_call_invalid(call, "dimensions must be an integer from 1 to 4096");
            return;
        }
        dimensions = (size_t)json_integer_value(dims);
    }
    const char *format = mock_json_string(body, "encoding_format");
    int base64 = format != NULL && strcmp(format, "base64") == 0;

    struct mock_buf out;
    mock_buf_init(&out, &req->pool, 256 + count * (64 + dimensions * 10) + MOCK_JSON_ESCAPED_MAX(json_string_length(model)));
    mock_buf_append(&out, H2O_STRLIT("{\"object\":\"list\",\"data\":["));
    for (size_t i = 0; i < count; i++) {
        mock_buf_printf(&out, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i == 0 ? "" : ",", i);
        if (base64) {
            append_base64(&out, i, dimensions);
        } else {
            for (size_t j = 0; j < dimensions; j++)
                mock_buf_printf(&out, "%c%g", j == 0 ? '[' : ',', (double)embedding_value(i, j));
            mock_buf_append(&out, "]", 1);
        }
        mock_buf_append(&out, "}", 1);
    }
    mock_buf_append(&out, H2O_STRLIT("],\"model\":"));
    mock_buf_json_string(&out, json_string_value(model), json_string_length(model));
    mock_buf_printf(&out, ",\"usage\":{\"prompt_tokens\":%llu,\"total_tokens\":%llu}}", (unsigned long long)tokens,
                    (unsigned long long)tokens);
    mock_call_send_json(call, &out);
}
