/* error.h: the one way a pipeline stage reports a client-visible failure.
 * The server turns it into an OpenAI-style error body with `status`, and
 * counts it in api_errors_total (docs/gateway-behaviour.md, "Errors"). */
#ifndef TOLLGATE_PIPELINE_ERROR_H
#define TOLLGATE_PIPELINE_ERROR_H

#include "obs/metrics.h"

typedef struct tg_error {
    int status; /* 0 = no error */
    tg_error_type_t type;
    tg_error_code_t code;
    const char *message; /* static text */
    const char *param;   /* static, or NULL */
} tg_error_t;

static inline void tg_error_set(tg_error_t *e, int status, tg_error_type_t type, tg_error_code_t code, const char *message,
                                const char *param)
{
    e->status = status;
    e->type = type;
    e->code = code;
    e->message = message;
    e->param = param;
}

#endif
