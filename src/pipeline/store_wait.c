/* store_wait.c: see store_wait.h. */
#include "pipeline/store_wait.h"

#include <stdlib.h>

/* On the store thread, once the job ran. */
static void job_done(tg_store_job_t *job)
{
    tg_store_wait_t *sw = H2O_STRUCT_FROM_MEMBER(tg_store_wait_t, job, job);
    tg_wait_post(sw->answers, &sw->wait);
}

tg_store_wait_t *tg_store_wait_begin(tg_request_t *r, tg_store_job_kind_t kind, size_t extra,
                                     tg_stage_result_t (*deliver)(tg_request_t *r, tg_wait_t *w))
{
    tg_store_wait_t *sw = (tg_store_wait_t *)tg_wait_begin(r, sizeof(*sw) + extra, deliver);
    if (sw == NULL)
        return NULL;
    sw->answers = r->env.answers;
    sw->job.kind = kind;
    sw->job.done = job_done;
    return sw;
}

int tg_store_wait_submit(tg_request_t *r, tg_store_wait_t *sw)
{
    if (tg_store_submit(r->env.store->thread, &sw->job) == 0)
        return 0;
    r->wait = NULL;
    free(sw);
    return -1;
}
