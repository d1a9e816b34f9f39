/* runner.h: runs a request's stages (pipeline/request.h) in order, pauses
 * on a stage that suspends, resumes through one entry point, and hands the
 * request to the server's `respond` once the last stage has run.
 *
 * An answer computed on another thread (the store thread, a health
 * check) comes back as a wait: the stage takes one with tg_wait_begin()
 * before it returns SUSPEND, passes it to the other thread, which fills in
 * its payload and posts it with tg_wait_post(); the worker's loop delivers
 * it (tg_wait_on_answers) and the request resumes there. A request whose
 * client leaves while it waits is finished at once; its wait is detached
 * and the late answer is freed unread. */
#ifndef TOLLGATE_PIPELINE_RUNNER_H
#define TOLLGATE_PIPELINE_RUNNER_H

#include "pipeline/request.h"

/* Runs r's stages from the first. r's arrival part and `respond` must be
 * set. */
void tg_pipeline_start(tg_request_t *r, const tg_stage_t *stages, size_t stage_count);

/* The suspended stage's answer is in the context: go on. `result` is
 * CONTINUE, or RESPOND when the answer decided the response. May be called
 * while the stage is still running (an answer that came at once). */
void tg_pipeline_resume(tg_request_t *r, tg_stage_result_t result);

/* The client is gone (the server calls it when the request is disposed):
 * a waiting request stops waiting and finishes with its `always` stages;
 * `respond` sees client_gone and sends nothing. */
void tg_pipeline_abandon(tg_request_t *r);

/* A pending answer from another thread; `size` bytes (at least
 * sizeof(tg_wait_t)), so that a stage can embed it at the head of its own
 * struct with the payload after it. */
struct tg_wait {
    h2o_multithread_message_t super;
    tg_request_t *request;       /* NULL once the request is gone */
    /* Runs on the worker when the answer arrives for a live request: reads
     * the payload into the context and returns how to resume. */
    tg_stage_result_t (*deliver)(tg_request_t *r, tg_wait_t *w);
    /* Optional: runs instead, when the request is gone, to free what the
     * answer holds beyond the wait itself. */
    void (*discard)(tg_wait_t *w);
};

/* Allocates a wait for r (NULL when out of memory: the stage then fails
 * the request). r must then return TG_STAGE_SUSPEND. */
tg_wait_t *tg_wait_begin(tg_request_t *r, size_t size, tg_stage_result_t (*deliver)(tg_request_t *r, tg_wait_t *w));

/* Any thread: hands the answered wait back to r's worker. */
void tg_wait_post(h2o_multithread_receiver_t *answers, tg_wait_t *w);

/* The receiver callback of a worker's `answers` (h2o_multithread_register_receiver). */
void tg_wait_on_answers(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

#endif
