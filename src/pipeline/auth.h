/* auth.h: the authentication stage. API keys are a later issue; until the
 * key store exists, anonymous requests are accepted when the config allows
 * them and every request is refused when it does not. */
#ifndef TOLLGATE_PIPELINE_AUTH_H
#define TOLLGATE_PIPELINE_AUTH_H

#include "config.h"
#include "core/error.h"

typedef struct tg_auth_in {
    const tg_config_t *cfg;
    const char *authorization; /* header value or NULL; never logged */
    size_t authorization_len;
} tg_auth_in_t;

typedef struct tg_auth_out {
    const char *org_id; /* static or config-owned */
    tg_error_t error;
} tg_auth_out_t;

int tg_auth_check(const tg_auth_in_t *in, tg_auth_out_t *out);

#endif
