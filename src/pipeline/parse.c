/* parse.c: the parse + validate stage (see parse.h). jansson is used here
 * because the body must be rewritten anyway (the model name changes per
 * route). It allocates its nodes with malloc: the one per-request heap use
 * of the request path, a few small blocks freed when the request ends. */
#include "pipeline/parse.h"

#include <string.h>

static int fail(tg_parse_out_t *out, int status, obs_error_code code, const char *message, const char *param)
{
    if (out->root != NULL)
        json_decref(out->root);
    out->root = NULL;
    tg_error_set(&out->error, status, OBS_ERR_INVALID_REQUEST, code, message, param);
    return -1;
}

int tg_parse_request(const tg_parse_in_t *in, tg_parse_out_t *out)
{
    memset(out, 0, sizeof(*out));
    if (in->body_len > in->max_body_bytes)
        return fail(out, 413, OBS_CODE_BODY_TOO_LARGE, "Request body is larger than the configured limit.", NULL);

    json_error_t jerr;
    out->root = json_loadb(in->body ? in->body : "", in->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (out->root == NULL || !json_is_object(out->root))
        return fail(out, 400, OBS_CODE_INVALID_JSON, "We could not parse the JSON body of your request.", NULL);

    json_t *model = json_object_get(out->root, "model");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return fail(out, 400, OBS_CODE_MISSING_MODEL, "You must provide a model parameter as a string.", "model");
    out->model = json_string_value(model);
    out->model_len = json_string_length(model);

    if (in->operation == OBS_OP_CHAT) {
        if (!json_is_array(json_object_get(out->root, "messages")))
            return fail(out, 400, OBS_CODE_INVALID_REQUEST, "'messages' is a required array.", "messages");
        out->stream = json_is_true(json_object_get(out->root, "stream"));
        json_t *options = json_object_get(out->root, "stream_options");
        out->usage_requested = json_is_object(options) && json_is_true(json_object_get(options, "include_usage"));
    } else {
        if (json_object_get(out->root, "input") == NULL)
            return fail(out, 400, OBS_CODE_INVALID_REQUEST, "'input' is a required property.", "input");
    }
    return 0;
}

size_t tg_parse_build_upstream_body(json_t *root, const char *upstream_model, bool add_usage_option, char *buf, size_t cap)
{
    if (json_object_set_new(root, "model", json_string(upstream_model)) != 0)
        return 0;
    if (add_usage_option) {
        json_t *options = json_object_get(root, "stream_options");
        if (!json_is_object(options)) {
            options = json_object();
            if (options == NULL || json_object_set_new(root, "stream_options", options) != 0)
                return 0;
        }
        if (json_object_set_new(options, "include_usage", json_true()) != 0)
            return 0;
    }
    return json_dumpb(root, buf, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
}
