/* error.c: see error.h. */
#include "core/error.h"

#include <string.h>

#include "core/json.h"

#define MESSAGE_MAX 256

/* Appends s at buf[*n], bounded by cap. */
static void put(char *buf, size_t cap, size_t *n, const char *s, size_t len)
{
    if (len > cap - *n)
        len = cap - *n;
    memcpy(buf + *n, s, len);
    *n += len;
}

size_t tg_error_json(char *buf, size_t cap, const tg_error_t *e)
{
    size_t n = 0;
    size_t message_len = strlen(e->message);
    if (message_len > MESSAGE_MAX) {
        message_len = MESSAGE_MAX;
        while (message_len > 0 && ((unsigned char)e->message[message_len] & 0xC0) == 0x80)
            message_len--; /* not inside a UTF-8 character */
    }
    put(buf, cap, &n, "{\"error\":{\"message\":\"", 21);
    n += tg_json_escape(buf + n, cap - n, e->message, message_len);
    put(buf, cap, &n, "\",\"type\":\"", 10);
    const char *type = tg_error_type_name(e->type), *code = tg_error_code_name(e->code);
    put(buf, cap, &n, type, strlen(type));
    if (e->param != NULL) {
        put(buf, cap, &n, "\",\"param\":\"", 11);
        n += tg_json_escape(buf + n, cap - n, e->param, strlen(e->param));
        put(buf, cap, &n, "\",\"code\":\"", 10);
    } else {
        put(buf, cap, &n, "\",\"param\":null,\"code\":\"", 23);
    }
    put(buf, cap, &n, code, strlen(code));
    put(buf, cap, &n, "\"}}\n", 4);
    return n;
}
