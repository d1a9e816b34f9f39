/* fuzz_json_body.c: libFuzzer target for the request-body validator, with
 * jansson as the oracle: both must agree on what is a JSON object (except
 * where the two are allowed to differ: \u escapes with lone surrogates or
 * NUL, numbers out of jansson's range, and raw NUL bytes, which jansson
 * sometimes skips), and a rebuilt upstream body of
 * an accepted input must itself be accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pipeline/parse.h"

static int may_differ(const uint8_t *data, size_t size)
{
    int run = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\0' || (data[i] == '\\' && i + 1 < size && data[i + 1] == 'u'))
            return 1;
        run = (data[i] >= '0' && data[i] <= '9') ? run + 1 : 0;
        if (run > 15)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_json_body_t members;
    int ours = tg_json_body_scan((const char *)data, size, &members) == 0;
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    int theirs = j != NULL && json_is_object(j);
    json_decref(j);
    if (ours != theirs && !may_differ(data, size))
        __builtin_trap();

    tg_parse_in_t in = {(const char *)data, size, size, TG_OP_CHAT};
    tg_parse_out_t out;
    if (tg_parse_request(&in, &out) != 0)
        return 0;
    size_t need = tg_parse_build_upstream_body(in.body, size, &out.members, "m", 1, NULL, 0);
    char *buf = malloc(need);
    tg_parse_build_upstream_body(in.body, size, &out.members, "m", 1, buf, need);
    tg_json_body_t rebuilt;
    if (tg_json_body_scan(buf, need, &rebuilt) != 0 || rebuilt.include_usage.len != 4)
        __builtin_trap();
    free(buf);
    return 0;
}
