/*
 * mock-llm POST /v1/images/generations: n images, each a valid 1x1 PNG, as
 * base64 (b64_json) or as a URL of the mock's own /mock/image.png. GPT image
 * models (gpt-image-*) answer b64_json with a usage object, as OpenAI's do;
 * DALL-E models default to URLs and carry no usage.
 */
#include <stdio.h>
#include <string.h>
#include "mock.h"

#define MAX_IMAGES 10

/* Made for mock-llm: 1x1 RGBA, one grey pixel. */
const unsigned char mock_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
    0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x68, 0x68, 0x68, 0xf8, 0x0f, 0x00, 0x05, 0x84, 0x02, 0x80,
    0x53, 0x93, 0x74, 0x36, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};
const size_t mock_png_len = sizeof(mock_png);

/* Output tokens per image of a GPT image model, by quality (OpenAI's
 * published numbers for 1024x1024); "auto" counts as medium. */
static const struct {
    const char *quality;
    uint32_t tokens;
} quality_tokens[] = {{"low", 272}, {"medium", 1056}, {"high", 4160}, {"auto", 1056}};

/* "auto", or WIDTHxHEIGHT with positive numbers. */
static int size_is_valid(const char *size)
{
    unsigned w, h;
    char end;
    return strcmp(size, "auto") == 0 || (sscanf(size, "%ux%u%c", &w, &h, &end) == 2 && w > 0 && h > 0);
}

void mock_answer_images(struct mock_call *call)
{
    h2o_req_t *req = call->req;
    json_t *model = NULL, *body = mock_call_body(call, 0, &model);
    if (body == NULL)
        return;
    const char *prompt = mock_json_string(body, "prompt"), *name = mock_json_string(body, "model");
    const char *size = mock_json_string(body, "size"), *format = mock_json_string(body, "response_format");
    const char *quality = mock_json_string(body, "quality");
    json_t *n = json_object_get(body, "n");
    int gpt_image = name != NULL && strncmp(name, "gpt-image", 9) == 0;
    uint32_t tokens_each = 0;
    for (size_t i = 0; gpt_image && i < sizeof(quality_tokens) / sizeof(quality_tokens[0]); i++) {
        if (strcmp(quality != NULL ? quality : "auto", quality_tokens[i].quality) == 0)
            tokens_each = quality_tokens[i].tokens;
    }
    const char *error = NULL;
    if (prompt == NULL)
        error = "prompt must be a string";
    else if (n != NULL && !json_is_null(n) &&
             (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > MAX_IMAGES))
        error = "n must be an integer from 1 to 10";
    else if (json_object_get(body, "size") != NULL && (size == NULL || !size_is_valid(size)))
        error = "size must be \"auto\" or WIDTHxHEIGHT, e.g. \"1024x1024\"";
    else if (format != NULL && strcmp(format, "url") != 0 && strcmp(format, "b64_json") != 0)
        error = "response_format must be \"url\" or \"b64_json\"";
    else if (gpt_image && tokens_each == 0)
        error = "quality must be \"low\", \"medium\", \"high\" or \"auto\"";
    if (error != NULL) {
        mock_call_invalid(call, error);
        return;
    }
    int b64 = gpt_image || (format != NULL && strcmp(format, "b64_json") == 0);
    json_int_t count = json_is_integer(n) ? json_integer_value(n) : 1;
    const h2o_iovec_t *host = &req->authority;

    struct mock_buf out;
    mock_buf_init(&out, &req->pool, 256 + (size_t)count * (mock_png_len * 2 + 64) + host->len);
    mock_buf_printf(&out, "{\"created\":%lld,\"data\":[", mock_call_now(call));
    for (json_int_t i = 0; i < count; i++) {
        if (b64) {
            mock_buf_printf(&out, "%s{\"b64_json\":\"", i ? "," : "");
            mock_buf_base64(&out, mock_png, mock_png_len);
            mock_buf_append(&out, H2O_STRLIT("\"}"));
        } else {
            struct mock_buf url;
            mock_buf_init(&url, &req->pool, 64 + host->len);
            mock_buf_printf(&url, "http://%.*s/mock/image.png?n=%lld", (int)host->len, host->base, (long long)i);
            mock_buf_printf(&out, "%s{\"url\":", i ? "," : "");
            mock_buf_json_string(&out, url.base, url.len);
            mock_buf_append(&out, "}", 1);
        }
    }
    mock_buf_append(&out, "]", 1);
    if (gpt_image) {
        json_t *p = json_object_get(body, "prompt");
        uint64_t text = mock_words(prompt, json_string_length(p)), output = (uint64_t)count * tokens_each;
        mock_buf_printf(&out,
                        ",\"usage\":{\"input_tokens\":%llu,\"input_tokens_details\":{\"text_tokens\":%llu,"
                        "\"image_tokens\":0},\"output_tokens\":%llu,\"total_tokens\":%llu}",
                        (unsigned long long)text, (unsigned long long)text, (unsigned long long)output,
                        (unsigned long long)(text + output));
    }
    mock_buf_append(&out, "}", 1);
    mock_call_send_json(call, &out);
}
