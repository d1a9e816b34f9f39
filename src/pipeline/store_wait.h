/* store_wait.h: a request's round trip to the store thread: a wait
 * (pipeline/runner.h) with the store job (store/thread.h) inside it. The
 * store thread runs the job and posts the wait back to the request's
 * worker, where `deliver` reads the answer; one allocation carries the job
 * there and the answer back, and outlives the request if its client
 * leaves. Used by the auth (lookups), ledger and admin stages. */
#ifndef TOLLGATE_PIPELINE_STORE_WAIT_H
#define TOLLGATE_PIPELINE_STORE_WAIT_H

#include "pipeline/runner.h"
#include "store/thread.h"

typedef struct tg_store_wait {
    tg_wait_t wait;
    h2o_multithread_receiver_t *answers;
    tg_store_job_t job;
    char extra[]; /* `extra` bytes of the stage's own (copies of strings) */
} tg_store_wait_t;

/* A wait for r carrying a job of `kind`; NULL when out of memory. */
tg_store_wait_t *tg_store_wait_begin(tg_request_t *r, tg_store_job_kind_t kind, size_t extra,
                                     tg_stage_result_t (*deliver)(tg_request_t *r, tg_wait_t *w));

/* Hands the job to the store thread: 0, and the stage returns SUSPEND; or
 * -1 when its queue is full: the wait is gone (freed, r no longer waits). */
int tg_store_wait_submit(tg_request_t *r, tg_store_wait_t *sw);

#endif
