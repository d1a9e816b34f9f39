/* runner.c: see runner.h.
 *
 * The request's runner state (tg_request_state_t) moves only so:
 *
 *   from        event                                   to
 *   NEW         tg_pipeline_start                       RUNNING
 *   RUNNING     a stage returns CONTINUE or RESPOND     RUNNING (next stage)
 *   RUNNING     a stage returns SUSPEND                 SUSPENDED
 *   RUNNING     a stage returns SUSPEND, the client is
 *               gone (disposing: nothing may wait)      RUNNING (next stage; its wait detached)
 *   RUNNING     a stage returns SUSPEND, but was
 *               resumed while it ran (answered_early)   RUNNING (next stage)
 *   RUNNING     no stage left                           FINISHED (respond)
 *   SUSPENDED   tg_pipeline_resume / a wait delivered   RUNNING
 *   SUSPENDED   tg_pipeline_abandon                     RUNNING (always stages only)
 *   FINISHED    anything                                FINISHED (ignored)
 *
 * Everything here runs on the request's worker thread but tg_wait_post. */
#include "pipeline/runner.h"

#include <stdlib.h>

static void run(tg_request_t *r)
{
    r->state = TG_REQ_RUNNING;
    while (r->next_stage < r->stage_count) {
        const tg_stage_t *stage = &r->stages[r->next_stage++];
        if ((r->responding || r->client_gone) && !stage->always)
            continue;
        r->answered_early = false;
        tg_stage_result_t result = stage->run(r);
        if (result == TG_STAGE_SUSPEND && !r->answered_early && r->client_gone) {
            /* the request is being disposed and cannot wait: its job (a
             * ledger row) still runs on the other thread, the answer is
             * freed unread */
            if (r->wait != NULL) {
                r->wait->request = NULL;
                r->wait = NULL;
            }
            continue;
        }
        if (result == TG_STAGE_SUSPEND) {
            if (!r->answered_early) {
                r->state = TG_REQ_SUSPENDED;
                return;
            }
            result = r->early_result;
        }
        if (result == TG_STAGE_RESPOND)
            r->responding = true;
    }
    r->state = TG_REQ_FINISHED;
    r->respond(r);
}

void tg_pipeline_start(tg_request_t *r, const tg_stage_t *stages, size_t stage_count)
{
    r->stages = stages;
    r->stage_count = stage_count;
    r->next_stage = 0;
    run(r);
}

void tg_pipeline_resume(tg_request_t *r, tg_stage_result_t result)
{
    switch (r->state) {
    case TG_REQ_RUNNING: /* the answer came before its stage returned */
        r->answered_early = true;
        r->early_result = result;
        return;
    case TG_REQ_SUSPENDED:
        if (result == TG_STAGE_RESPOND)
            r->responding = true;
        run(r);
        return;
    case TG_REQ_NEW:
    case TG_REQ_FINISHED:
        return;
    }
}

void tg_pipeline_abandon(tg_request_t *r)
{
    r->client_gone = true;
    if (r->wait != NULL) {
        r->wait->request = NULL; /* its answer is freed when it arrives */
        r->wait = NULL;
    }
    if (r->state == TG_REQ_SUSPENDED)
        run(r);
}

tg_wait_t *tg_wait_begin(tg_request_t *r, size_t size, tg_stage_result_t (*deliver)(tg_request_t *r, tg_wait_t *w))
{
    tg_wait_t *w = calloc(1, size);
    if (w == NULL)
        return NULL;
    w->request = r;
    w->deliver = deliver;
    r->wait = w;
    return w;
}

void tg_wait_post(h2o_multithread_receiver_t *answers, tg_wait_t *w)
{
    h2o_multithread_send_message(answers, &w->super);
}

void tg_wait_on_answers(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        tg_wait_t *w = H2O_STRUCT_FROM_MEMBER(tg_wait_t, super.link, messages->next);
        h2o_linklist_unlink(&w->super.link);
        tg_request_t *r = w->request;
        if (r != NULL) {
            r->wait = NULL;
            tg_pipeline_resume(r, w->deliver(r, w));
        } else if (w->discard != NULL) {
            w->discard(w);
        }
        free(w);
    }
}
