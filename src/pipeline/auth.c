/* auth.c: see auth.h. */
#include "pipeline/auth.h"
#include "pipeline/stages.h"

#include <string.h>

int tg_auth_check(const tg_auth_in_t *in, tg_auth_out_t *out)
{
    memset(out, 0, sizeof(*out));
    if (in->cfg->auth.allow_anonymous) {
        out->org_id = "anonymous";
        return 0;
    }
    tg_error_set(&out->error, 401, TG_ERR_AUTHENTICATION, TG_CODE_INVALID_API_KEY,
                 in->authorization == NULL ? "You didn't provide an API key." : "Incorrect API key provided.", NULL);
    return -1;
}

tg_stage_result_t tg_stage_auth(tg_request_t *r)
{
    ssize_t i = h2o_find_header(&r->req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    tg_auth_in_t in = {r->env.cfg, i >= 0 ? r->req->headers.entries[i].value.base : NULL,
                       i >= 0 ? r->req->headers.entries[i].value.len : 0};
    tg_auth_out_t out;
    if (tg_auth_check(&in, &out) != 0) {
        r->error = out.error;
        return TG_STAGE_RESPOND;
    }
    r->org_id = out.org_id;
    return TG_STAGE_CONTINUE;
}
