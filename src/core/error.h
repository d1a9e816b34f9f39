/* error.h: a client-visible failure, whoever finds it (a pipeline stage,
 * the upstream call, an endpoint), and the one builder of its body: the
 * OpenAI error JSON (docs/gateway-behaviour.md, "Errors"). The server sends
 * it with `status` and counts it in api_errors_total. */
#ifndef TOLLGATE_CORE_ERROR_H
#define TOLLGATE_CORE_ERROR_H

#include <stddef.h>

#include "core/words.h"

typedef struct tg_error {
    int status; /* 0 = no error */
    tg_error_type_t type;
    tg_error_code_t code;
    const char *message; /* static text, or the caller's for as long as it builds the body */
    const char *param;   /* static, or NULL */
    unsigned retry_after; /* seconds: a Retry-After header; 0 = none */
} tg_error_t;

static inline void tg_error_set(tg_error_t *e, int status, tg_error_type_t type, tg_error_code_t code,
                                const char *message, const char *param)
{
    e->status = status;
    e->type = type;
    e->code = code;
    e->message = message;
    e->param = param;
    e->retry_after = 0;
}

/* Writes e's body, {"error":{"message","type","param","code"}} and a
 * newline, into buf (the message and param JSON-escaped); returns its
 * length. TG_ERROR_JSON_MAX bytes hold any body whose message is at most
 * 256 bytes; a longer message is cut (on a character boundary). */
#define TG_ERROR_JSON_MAX 2048
size_t tg_error_json(char *buf, size_t cap, const tg_error_t *e);

#endif
