/* auth.c: see auth.h. */
#include "pipeline/auth.h"

#include <string.h>

int tg_auth_check(const tg_auth_in_t *in, tg_auth_out_t *out)
{
    memset(out, 0, sizeof(*out));
    if (in->cfg->auth.allow_anonymous) {
        out->org_id = "anonymous";
        return 0;
    }
    tg_error_set(&out->error, 401, OBS_ERR_AUTHENTICATION, OBS_CODE_INVALID_API_KEY,
                 in->authorization == NULL ? "You didn't provide an API key." : "Incorrect API key provided.", NULL);
    return -1;
}
